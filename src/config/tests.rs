//! Tests of the whole config layer: the shipped `config/` directory, error positions, hints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const MIN_ZVON: &str = "[server]\nudp = [\"127.0.0.1:5060\"]\ndomain = \"pbx.test\"\n";

fn dir() -> PathBuf {
    PathBuf::from("cfg")
}

fn sources(files: &[(&str, &str)]) -> Vec<Source> {
    files
        .iter()
        .map(|(name, text)| Source {
            path: dir().join(name),
            text: (*text).to_string(),
        })
        .collect()
}

fn parse(files: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    parse_sources(&dir(), &sources(files))
}

fn errors(files: &[(&str, &str)]) -> Vec<ConfigError> {
    match parse(files) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e.0,
    }
}

/// The single error with this key path.
fn error_at<'e>(errs: &'e [ConfigError], key: &str) -> &'e ConfigError {
    let found: Vec<_> = errs.iter().filter(|e| e.key == key).collect();
    assert_eq!(
        found.len(),
        1,
        "want one error at {key}, got: {}",
        ConfigErrors(errs.to_vec())
    );
    found[0]
}

fn hint(e: &ConfigError) -> &str {
    e.hint.as_deref().unwrap_or_default()
}

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn ext_file(body: &str) -> String {
    format!("[[extension]]\nnumber = \"1001\"\npassword = \"pw\"\n{body}")
}

// ---- the shipped demo --------------------------------------------------------------------

#[test]
fn shipped_config_loads_with_the_values_as_written() {
    let c = load_dir(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    let lo: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    assert_eq!(c.server.udp, vec![lo]);
    assert_eq!(c.server.tcp, vec![lo]);
    assert!(
        c.server
            .udp
            .iter()
            .chain(&c.server.tcp)
            .all(|a| a.ip().is_loopback())
    );
    assert_eq!(c.server.domain, "zvon.local");
    assert_eq!(c.server.state_dir, PathBuf::from("/var/lib/zvon"));
    assert_eq!(c.server.log_level, LogLevel::Info);
    assert_eq!(
        c.server.user_agent,
        format!("Zvon {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(c.sip, Sip::default());
    assert_eq!(
        c.rtp,
        Rtp {
            address: None,
            port_min: 10000,
            port_max: 20000
        }
    );
    assert_eq!(
        c.registrar,
        Registrar {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 600,
            qualify: None,
            qualify_failures: 3
        }
    );
    assert_eq!(c.security.nonce_ttl, Duration::from_secs(300));
    assert_eq!(c.security.ban_failures, 10);
    assert_eq!(c.security.ban_window, Duration::from_secs(60));
    assert_eq!(c.security.ban_time, Duration::from_secs(600));
    assert_eq!(
        c.security.trusted,
        vec![IpNet::parse("127.0.0.0/8").unwrap()]
    );
    let numbers: Vec<&str> = c.extensions.iter().map(|e| e.number.as_str()).collect();
    assert_eq!(numbers, ["1001", "1002", "1003", "1004"]);
    for e in &c.extensions {
        assert_eq!(e.password.expose(), format!("demo{}", e.number));
        assert_eq!(e.max_contacts, 3);
        assert!(e.allow.is_empty());
    }
    assert_eq!(
        c.extension("1001").and_then(|e| e.name.as_deref()),
        Some("Alice (demo)")
    );
    assert_eq!(c.dir, shipped_dir());
}

#[test]
fn shipped_defaults_match_the_default_impls() {
    // The commented-out keys in zvon.toml document the defaults; uncommenting them must not
    // change anything.
    let dir = shipped_dir();
    let mut srcs = read_sources(&dir).unwrap();
    let zvon = srcs
        .iter_mut()
        .find(|s| s.path.ends_with("zvon.toml"))
        .unwrap();
    zvon.text = zvon
        .text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(k, _)| {
                    k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                }) && !rest.starts_with("user_agent") =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let uncommented = zvon
        .text
        .lines()
        .filter(|l| {
            ["max_message_size =", "max_headers =", "t1 ="]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .count();
    assert_eq!(uncommented, 3, "{}", zvon.text);
    let c = parse_sources(&dir, &srcs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sip, Sip::default());
    assert_eq!(c, load_dir(&dir).unwrap());
}

#[test]
fn unknown_key_in_every_shipped_table_is_reported_at_the_injected_line() {
    let dir = shipped_dir();
    let original = read_sources(&dir).unwrap();
    let mut checked = 0;
    for (f, source) in original.iter().enumerate() {
        let lines: Vec<&str> = source.text.lines().collect();
        // (index of the line to insert before, expected key path)
        let mut spots = vec![(0, "zvon_bogus".to_string())];
        let mut ext = 0;
        let (mut context, mut rule, mut route) = (0, 0, 0);
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if t == "[[route]]" {
                route += 1;
                spots.push((i + 1, format!("route[{route}].zvon_bogus")));
            } else if t == "[[extension]]" {
                ext += 1;
                spots.push((i + 1, format!("extension[{ext}].zvon_bogus")));
            } else if t == "[[context]]" {
                (context, rule) = (context + 1, 0);
                spots.push((i + 1, format!("context[{context}].zvon_bogus")));
            } else if t == "[[context.rule]]" {
                rule += 1;
                spots.push((i + 1, format!("context[{context}].rule[{rule}].zvon_bogus")));
            } else if let Some(name) = t.strip_prefix('[').and_then(|t| t.split(']').next()) {
                spots.push((i + 1, format!("{name}.zvon_bogus")));
            }
        }
        assert!(spots.len() > 1, "{} has no tables?", source.path.display());
        for (at, key) in spots {
            let mut l = lines.clone();
            l.insert(at, "zvon_bogus = 1");
            let mut srcs = original.clone();
            srcs[f].text = l.join("\n");
            let errs = parse_sources(&dir, &srcs).expect_err(&key).0;
            let e = error_at(&errs, &key);
            assert_eq!(e.line, at + 1, "{e}");
            assert_eq!(e.column, 1, "{e}");
            assert_eq!(e.file, source.path);
            assert_eq!(e.message, "unknown key");
            assert_eq!(errs.len(), 1, "{}", ConfigErrors(errs.clone()));
            checked += 1;
        }
    }
    // top level of 6 files + 7 tables + 4 extensions + ivr.toml: 2 flows and 4 nodes;
    // dialplan.toml: 2 contexts, 10 + 5 rules, 3 tables; queues.toml: 1 queue, 2 agents;
    // trunks.toml: 4 tables, 1 trunk, 3 routes
    assert_eq!(checked, 54);
}

// ---- hints -------------------------------------------------------------------------------

#[test]
fn misspelt_password_suggests_password() {
    let ext = "[[extension]]\nnumber = \"1001\"\npassword = \"a\"\n\n[[extension]]\nnumber = \"1002\"\npasword = \"b\"\n";
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("extensions.toml", ext)]);
    let e = error_at(&errs, "extension[2].pasword");
    assert_eq!((e.line, e.column), (7, 1));
    assert_eq!(hint(e), "did you mean `password`?");
    let missing = error_at(&errs, "extension[2].password");
    assert!(
        missing.message.contains("missing required key `password`"),
        "{missing}"
    );
    assert_eq!(missing.line, 5, "points at the [[extension]] header");
    assert_eq!(
        e.to_string(),
        "cfg/extensions.toml:7:1: extension[2].pasword: unknown key (hint: did you mean `password`?)"
    );
}

#[test]
fn udp_listen_suggests_udp() {
    let zvon =
        "[server]\nudp_listen = [\"127.0.0.1:5060\"]\ntcp = [\"127.0.0.1:5060\"]\ndomain = \"d\"\n";
    let errs = errors(&[("zvon.toml", zvon)]);
    assert_eq!(
        hint(error_at(&errs, "server.udp_listen")),
        "did you mean `udp`?"
    );
}

#[test]
fn unrelated_unknown_key_lists_the_known_keys() {
    let zvon = format!("{MIN_ZVON}[sip]\nwhatever = 1\n");
    let errs = errors(&[("zvon.toml", &zvon)]);
    let h = hint(error_at(&errs, "sip.whatever"));
    assert!(h.contains("known keys in [sip]"), "{h}");
    assert!(h.contains("max_headers") && h.contains("t1"), "{h}");
}

#[test]
fn misspelt_table_suggests_the_table() {
    let zvon = format!("{MIN_ZVON}[registar]\nmin_expires = 60\n");
    let errs = errors(&[("zvon.toml", &zvon)]);
    let e = error_at(&errs, "registar");
    assert_eq!(e.message, "unknown table");
    assert_eq!(hint(e), "did you mean `registrar`?");
    assert_eq!(e.line, 4);
}

#[test]
fn bad_log_level_lists_the_levels() {
    let zvon = format!("{MIN_ZVON}log_level = \"verbose\"\n");
    let errs = errors(&[("zvon.toml", &zvon)]);
    let e = error_at(&errs, "server.log_level");
    assert_eq!(hint(e), "use one of: error, warn, info, debug, trace");
    assert_eq!((e.line, e.column), (4, 13));
}

#[test]
fn tables_in_the_wrong_file_say_where_they_belong() {
    let zvon = format!("{MIN_ZVON}[[extension]]\nnumber = \"1001\"\npassword = \"x\"\n");
    let errs = errors(&[
        ("zvon.toml", &zvon),
        ("extensions.toml", "[server]\ndomain = \"x\"\n"),
    ]);
    assert!(hint(error_at(&errs, "extension")).contains("extensions.toml"));
    assert!(hint(error_at(&errs, "server")).contains("zvon.toml"));
}

#[test]
fn single_bracket_extension_asks_for_double_brackets() {
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        ("extensions.toml", "[extension]\nnumber = \"1001\"\n"),
    ]);
    assert!(hint(error_at(&errs, "extension")).contains("[[extension]]"));
}

// ---- values ------------------------------------------------------------------------------

#[test]
fn bad_durations_say_what_is_expected() {
    let zvon = format!(
        "{MIN_ZVON}[sip]\nt1 = \"30\"\n[security]\nnonce_ttl = \"5min\"\nban_time = -1\nban_window = 1.5\n"
    );
    let errs = errors(&[("zvon.toml", &zvon)]);
    assert_eq!(errs.len(), 4, "{}", ConfigErrors(errs.clone()));
    for key in [
        "sip.t1",
        "security.nonce_ttl",
        "security.ban_time",
        "security.ban_window",
    ] {
        let e = error_at(&errs, key);
        assert!(
            e.message
                .contains("expected a duration like \"30s\" or a number of seconds"),
            "{e}"
        );
    }
    assert!(hint(error_at(&errs, "sip.t1")).contains("\"30s\""));
    assert!(hint(error_at(&errs, "security.nonce_ttl")).contains("ms, s, m and h"));
    assert!(hint(error_at(&errs, "security.ban_window")).contains("1500ms"));
}

#[test]
fn durations_accept_seconds_and_units_and_qualify_zero_is_off() {
    let zvon = format!(
        "{MIN_ZVON}[sip]\nt1 = \"250ms\"\n[registrar]\nqualify = 30\n[security]\nban_time = \"1h30m\"\n"
    );
    let c = parse(&[("zvon.toml", &zvon)]).unwrap();
    assert_eq!(c.sip.t1, Duration::from_millis(250));
    assert_eq!(c.registrar.qualify, Some(Duration::from_secs(30)));
    assert_eq!(c.security.ban_time, Duration::from_secs(5400));
    let off = format!("{MIN_ZVON}[registrar]\nqualify = \"0s\"\n");
    assert_eq!(
        parse(&[("zvon.toml", &off)]).unwrap().registrar.qualify,
        None
    );
}

#[test]
fn out_of_range_durations_show_the_range() {
    let zvon = format!("{MIN_ZVON}[sip]\nt1 = \"1h\"\n");
    let errs = errors(&[("zvon.toml", &zvon)]);
    assert_eq!(
        error_at(&errs, "sip.t1").message,
        "1h is out of range: must be 100ms to 10s"
    );
}

#[test]
fn bad_networks_are_reported_with_the_network_form() {
    let zvon =
        format!("{MIN_ZVON}[security]\ntrusted = [\"127.0.0.0/8\", \"10.0.0.1/8\", \"lan\"]\n");
    let errs = errors(&[
        ("zvon.toml", &zvon),
        (
            "extensions.toml",
            &ext_file("allow = [\"192.168.1.0/33\"]\n"),
        ),
    ]);
    let host_bits = error_at(&errs, "security.trusted[2]");
    assert!(host_bits.message.contains("host bits"));
    assert!(hint(host_bits).contains("`10.0.0.0/8`"), "{host_bits}");
    assert_eq!((host_bits.line, host_bits.column), (5, 27));
    error_at(&errs, "security.trusted[3]");
    error_at(&errs, "extension[1].allow[1]");
    assert_eq!(errs.len(), 3);
}

#[test]
fn networks_parse_into_allow_and_trusted() {
    let zvon = format!("{MIN_ZVON}[security]\ntrusted = [\"10.0.0.0/8\", \"::1\"]\n");
    let c = parse(&[
        ("zvon.toml", &zvon),
        (
            "extensions.toml",
            &ext_file("allow = [\"192.168.1.0/24\"]\n"),
        ),
    ])
    .unwrap();
    assert_eq!(c.security.trusted.len(), 2);
    assert!(c.extensions[0].allow[0].contains(&"192.168.1.9".parse().unwrap()));
}

#[test]
fn empty_allow_list_is_rejected() {
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        ("extensions.toml", &ext_file("allow = []\n")),
    ]);
    assert!(hint(error_at(&errs, "extension[1].allow")).contains("remove"));
}

#[test]
fn wrong_types_say_what_was_expected() {
    let zvon =
        "[server]\nudp = \"127.0.0.1:5060\"\ndomain = 5\n[registrar]\nmin_expires = \"60\"\n";
    let errs = errors(&[("zvon.toml", zvon)]);
    let udp = error_at(&errs, "server.udp");
    assert_eq!(udp.message, "expected a list, found a string");
    assert_eq!(hint(udp), "write `udp = [\"127.0.0.1:5060\"]`");
    assert_eq!(
        error_at(&errs, "server.domain").message,
        "expected a string, found a number"
    );
    assert_eq!(
        hint(error_at(&errs, "registrar.min_expires")),
        "remove the quotes: 60"
    );
}

#[test]
fn listen_addresses_must_be_ip_and_port() {
    let zvon = "[server]\nudp = [\"localhost:5060\", \"10.0.0.1\", \"::1\"]\ndomain = \"d\"\n";
    let errs = errors(&[("zvon.toml", zvon)]);
    assert!(hint(error_at(&errs, "server.udp[1]")).contains("host names are not allowed"));
    assert_eq!(
        hint(error_at(&errs, "server.udp[2]")),
        "add the port: \"10.0.0.1:5060\""
    );
    assert_eq!(
        hint(error_at(&errs, "server.udp[3]")),
        "add the port: \"[::1]:5060\""
    );
    assert_eq!(errs.len(), 3);
    let twice = "[server]\ntcp = [\"0.0.0.0:5060\", \"0.0.0.0:5060\"]\ndomain = \"d\"\n";
    let errs = errors(&[("zvon.toml", twice)]);
    assert!(
        error_at(&errs, "server.tcp[2]")
            .message
            .contains("listed twice")
    );
}

#[test]
fn port_zero_listen_address_is_allowed_for_ephemeral_binding() {
    let zvon = "[server]\ntcp = [\"127.0.0.1:0\", \"[::1]:0\"]\ndomain = \"d\"\n";
    let c = parse(&[("zvon.toml", zvon)]).unwrap();
    assert!(c.server.udp.is_empty());
    assert_eq!(c.server.tcp.len(), 2);
}

#[test]
fn no_listen_address_is_an_error() {
    let errs = errors(&[("zvon.toml", "[server]\nudp = []\ndomain = \"d\"\n")]);
    let e = error_at(&errs, "server");
    assert!(e.message.contains("no listen address"));
    assert_eq!(e.line, 2);
    let errs = errors(&[("zvon.toml", "[server]\ndomain = \"d\"\n")]);
    assert_eq!(error_at(&errs, "server").line, 1);
}

#[test]
fn rtp_port_range_is_checked() {
    let odd = format!("{MIN_ZVON}[rtp]\nport_min = 10001\n");
    assert_eq!(
        hint(error_at(&errors(&[("zvon.toml", &odd)]), "rtp.port_min")),
        "use 10000"
    );
    let inverted = format!("{MIN_ZVON}[rtp]\nport_min = 20000\nport_max = 10000\n");
    let e = error_at(&errors(&[("zvon.toml", &inverted)]), "rtp.port_max").clone();
    assert_eq!(e.message, "port_max (10000) must be above port_min (20000)");
    assert_eq!(e.line, 6);
    let too_big = format!("{MIN_ZVON}[rtp]\nport_max = 70000\n");
    let e = error_at(&errors(&[("zvon.toml", &too_big)]), "rtp.port_max").clone();
    assert_eq!(e.message, "70000 is out of range: must be 1025 to 65535");
    let low_default_max = format!("{MIN_ZVON}[rtp]\nport_min = 30000\n");
    error_at(&errors(&[("zvon.toml", &low_default_max)]), "rtp.port_max");
}

#[test]
fn expires_must_be_ordered() {
    let bad_default = format!(
        "{MIN_ZVON}[registrar]\nmin_expires = 60\nmax_expires = 3600\ndefault_expires = 30\n"
    );
    let e = error_at(
        &errors(&[("zvon.toml", &bad_default)]),
        "registrar.default_expires",
    )
    .clone();
    assert_eq!(
        e.message,
        "default_expires (30) must be between min_expires (60) and max_expires (3600)"
    );
    assert_eq!(e.line, 7);
    let inverted = format!("{MIN_ZVON}[registrar]\nmin_expires = 600\nmax_expires = 300\n");
    error_at(
        &errors(&[("zvon.toml", &inverted)]),
        "registrar.max_expires",
    );
}

#[test]
fn extension_numbers_are_two_to_fifteen_digits_in_quotes() {
    let ext = "[[extension]]\nnumber = \"*97\"\npassword = \"a\"\n\
               [[extension]]\nnumber = \"1\"\npassword = \"a\"\n\
               [[extension]]\nnumber = 1003\npassword = \"a\"\n\
               [[extension]]\nnumber = \"10a4\"\npassword = \"a\"\n\
               [[extension]]\nnumber = \"1234567890123456\"\npassword = \"a\"\n\
               [[extension]]\nnumber = \"1006\"\npassword = \"\"\n";
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("extensions.toml", ext)]);
    assert!(hint(error_at(&errs, "extension[1].number")).contains("feature codes"));
    assert!(
        error_at(&errs, "extension[2].number")
            .message
            .contains("2 to 15")
    );
    assert_eq!(
        hint(error_at(&errs, "extension[3].number")),
        "write it in quotes: number = \"1003\""
    );
    error_at(&errs, "extension[4].number");
    error_at(&errs, "extension[5].number");
    assert_eq!(
        error_at(&errs, "extension[6].password").message,
        "must not be empty"
    );
    assert_eq!(errs.len(), 6);
}

#[test]
fn extension_optional_keys_have_defaults() {
    let c = parse(&[
        ("zvon.toml", MIN_ZVON),
        ("extensions.toml", &ext_file("max_contacts = 1\n")),
    ])
    .unwrap();
    assert_eq!(c.extensions[0].max_contacts, 1);
    assert_eq!(c.extensions[0].name, None);
    let c = parse(&[("zvon.toml", MIN_ZVON), ("extensions.toml", &ext_file(""))]).unwrap();
    assert_eq!(c.extensions[0].max_contacts, 3);
}

// ---- files and cross-checks --------------------------------------------------------------

#[test]
fn duplicate_numbers_across_files_name_both_places() {
    let main = "[[extension]]\nnumber = \"1001\"\npassword = \"a\"\n";
    let sales = "# sales\n[[extension]]\nnumber = \"2001\"\npassword = \"b\"\n\n[[extension]]\nnumber = \"1001\"\npassword = \"c\"\n";
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        ("extensions.toml", main),
        ("extensions/sales.toml", sales),
    ]);
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert_eq!(e.file, dir().join("extensions/sales.toml"));
    assert_eq!(
        (e.line, e.column, e.key.as_str()),
        (7, 10, "extension[2].number")
    );
    assert_eq!(e.message, "duplicate extension number 1001");
    assert_eq!(
        hint(e),
        "1001 is already defined at cfg/extensions.toml:2:10"
    );
}

#[test]
fn extensions_from_all_files_are_kept_in_file_order() {
    let c = parse(&[
        ("zvon.toml", MIN_ZVON),
        (
            "extensions.toml",
            "[[extension]]\nnumber = \"1001\"\npassword = \"a\"\n",
        ),
        (
            "extensions/sales.toml",
            "[[extension]]\nnumber = \"2001\"\npassword = \"b\"\n",
        ),
    ])
    .unwrap();
    let numbers: Vec<&str> = c.extensions.iter().map(|e| e.number.as_str()).collect();
    assert_eq!(numbers, ["1001", "2001"]);
}

#[test]
fn several_errors_in_several_files_are_all_reported_in_order() {
    let zvon = "[server]\nudp = [\"127.0.0.1:5060\"]\ndomian = \"d\"\nlog_level = \"loud\"\n[rtp]\nport_min = 7\n";
    let ext = "[[extension]]\nnumber = \"1001\"\npasword = \"x\"\n";
    let errs = errors(&[("zvon.toml", zvon), ("extensions.toml", ext)]);
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.domain",
            "server.domian",
            "server.log_level",
            "rtp.port_min",
            "extension[1].password",
            "extension[1].pasword",
        ],
        "{}",
        ConfigErrors(errs.clone())
    );
    assert_eq!(hint(&errs[1]), "did you mean `domain`?");
    let shown = ConfigErrors(errs).to_string();
    assert_eq!(shown.lines().count(), 7);
    assert!(shown.ends_with("6 errors in the configuration"));
}

#[test]
fn a_bad_value_does_not_hide_an_unknown_key_in_the_same_table() {
    let cases = [
        ("server", "log_level = \"x\""),
        ("sip", "t1 = \"x\""),
        ("rtp", "port_min = 7"),
        ("registrar", "min_expires = 0"),
        ("security", "trusted = [\"x\"]"),
    ];
    for (table, bad) in cases {
        let zvon = if table == "server" {
            format!("{MIN_ZVON}{bad}\nbogus = 1\n")
        } else {
            format!("{MIN_ZVON}[{table}]\n{bad}\nbogus = 1\n")
        };
        let errs = errors(&[("zvon.toml", &zvon)]);
        assert_eq!(errs.len(), 2, "{}", ConfigErrors(errs.clone()));
        error_at(&errs, &format!("{table}.bogus"));
    }
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        (
            "extensions.toml",
            &ext_file("max_contacts = 0\nbogus = 1\n"),
        ),
    ]);
    assert_eq!(errs.len(), 2, "{}", ConfigErrors(errs.clone()));
    error_at(&errs, "extension[1].bogus");
}

#[test]
fn missing_required_keys_name_the_table_and_the_key() {
    let errs = errors(&[(
        "zvon.toml",
        "# comment\n[server]\nudp = [\"127.0.0.1:5060\"]\n",
    )]);
    let e = error_at(&errs, "server.domain");
    assert_eq!(e.message, "missing required key `domain` in [server]");
    assert_eq!(hint(e), "add `domain = \"pbx.example.com\"`");
    assert_eq!((e.line, e.column), (2, 1));

    let errs = errors(&[("zvon.toml", "[sip]\n")]);
    let e = error_at(&errs, "server");
    assert_eq!(e.message, "missing table [server]");
    assert_eq!(errs.len(), 1, "no cascade of missing server keys");
}

#[test]
fn missing_zvon_toml_names_the_directory() {
    let errs = errors(&[("extensions.toml", &ext_file(""))]);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, dir());
    assert_eq!(errs[0].line, 0);
    assert_eq!(errs[0].to_string().split(':').next(), Some("cfg"));
    assert!(errs[0].message.contains("no zvon.toml"));
}

#[test]
fn unknown_top_level_file_lists_the_known_names() {
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("routes.toml", "")]);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, dir().join("routes.toml"));
    assert!(
        errs[0]
            .message
            .contains("unknown config file `routes.toml`")
    );
    assert_eq!(
        hint(&errs[0]),
        "the known files are zvon.toml, extensions.toml, dialplan.toml, ivr.toml, queues.toml, trunks.toml, extensions/*.toml"
    );
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("extension.toml", "")]);
    assert!(
        hint(&errs[0]).starts_with("did you mean `extensions.toml`?"),
        "{}",
        errs[0]
    );
}

#[test]
fn syntax_errors_have_positions_and_other_files_are_still_checked() {
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        (
            "extensions.toml",
            "[[extension]]\nnumber = \"1001\npassword = \"x\"\n",
        ),
        ("extensions/b.toml", &ext_file("bogus = 1\n")),
    ]);
    assert_eq!(errs.len(), 2, "{}", ConfigErrors(errs.clone()));
    assert_eq!(errs[0].file, dir().join("extensions.toml"));
    assert!(
        errs[0].message.starts_with("TOML syntax error"),
        "{}",
        errs[0]
    );
    assert_eq!(errs[0].line, 2);
    assert!(errs[0].column > 1);
    assert_eq!(errs[1].key, "extension[1].bogus");
}

#[test]
fn relative_state_dir_is_relative_to_the_config_dir() {
    let zvon = format!("{MIN_ZVON}state_dir = \"state\"\n");
    assert_eq!(
        parse(&[("zvon.toml", &zvon)]).unwrap().server.state_dir,
        dir().join("state")
    );
}

#[test]
fn control_socket_defaults_to_the_state_dir_and_may_be_set() {
    let c = parse(&[("zvon.toml", MIN_ZVON)]).unwrap();
    assert_eq!(c.server.control_socket, None);
    assert_eq!(
        c.server.control_socket_path(Path::new("/srv/state")),
        PathBuf::from("/srv/state/zvon.ctl")
    );
    let zvon = format!("{MIN_ZVON}control_socket = \"/run/zvon/ctl.sock\"\n");
    let c = parse(&[("zvon.toml", &zvon)]).unwrap();
    assert_eq!(
        c.server.control_socket_path(Path::new("/srv/state")),
        PathBuf::from("/run/zvon/ctl.sock"),
        "the key wins over the state dir"
    );
    let zvon = format!("{MIN_ZVON}control_socket = \"run/ctl\"\n");
    assert_eq!(
        parse(&[("zvon.toml", &zvon)])
            .unwrap()
            .server
            .control_socket,
        Some(dir().join("run/ctl")),
        "relative to the config dir"
    );
}

#[test]
fn control_socket_errors_have_a_position_and_a_hint() {
    for (value, message) in [
        ("\"\"", "empty"),
        ("\"/run/zvon/\"", "not a directory"),
        (&format!("\"/{}\"", "x".repeat(120)), "too long"),
        ("5", "string"),
    ] {
        let zvon = format!("{MIN_ZVON}control_socket = {value}\n");
        let errs = errors(&[("zvon.toml", &zvon)]);
        let e = error_at(&errs, "server.control_socket");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().contains(message), "{value}: {e}");
    }
}

#[test]
fn optional_tables_default_when_absent() {
    let c = parse(&[("zvon.toml", MIN_ZVON)]).unwrap();
    assert_eq!(c.sip, Sip::default());
    assert_eq!(c.rtp, Rtp::default());
    assert_eq!(c.registrar, Registrar::default());
    assert_eq!(c.security, Security::default());
    assert!(c.extensions.is_empty());
    assert_eq!(c.server.log_level, LogLevel::Info);
    assert_eq!(c.server.domain, "pbx.test");
}

#[test]
fn passwords_do_not_appear_in_debug_output() {
    let c = parse(&[("zvon.toml", MIN_ZVON), ("extensions.toml", &ext_file(""))]).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("\"pw\""), "{dbg}");
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn load_dir_reads_subdirectory_and_ignores_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("zvon.toml"), MIN_ZVON).unwrap();
    std::fs::write(d.join("extensions.toml"), ext_file("")).unwrap();
    std::fs::write(d.join("README.md"), "notes").unwrap();
    std::fs::write(d.join(".zvon.toml.swp.toml"), "garbage = [").unwrap();
    std::fs::create_dir(d.join("extensions")).unwrap();
    std::fs::write(
        d.join("extensions/sales.toml"),
        "[[extension]]\nnumber = \"2001\"\npassword = \"s\"\n",
    )
    .unwrap();
    std::fs::write(d.join("extensions/notes.txt"), "x").unwrap();
    let c = load_dir(d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.extensions.len(), 2);
    assert_eq!(c.dir, d);

    std::fs::write(
        d.join("extensions/dup.toml"),
        "[[extension]]\nnumber = \"2001\"\npassword = \"s\"\n",
    )
    .unwrap();
    let errs = load_dir(d).unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].file,
        d.join("extensions/sales.toml"),
        "dup.toml sorts first: sales.toml is the duplicate"
    );
}

#[test]
fn load_dir_of_a_missing_directory_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let errs = load_dir(&missing).unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, missing);
    assert!(errs[0].message.contains("cannot read the config directory"));
}

// ---- trunks.toml and its cross-checks ----------------------------------------------------

const TRUNKS: &str = "[trunk.provider]\nhost = \"127.0.0.1\"\ncontext = \"from-provider\"\n\n[[route]]\nname = \"national\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\n";
const PLAN_OUT: &str = "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"_0.\"\naction = \"outbound\"\n[[context]]\nname = \"from-provider\"\n[[context.rule]]\nmatch = \"_X.\"\naction = \"hangup\"\n";

#[test]
fn trunks_toml_is_read_and_cross_checked() {
    let c = parse(&[
        ("zvon.toml", MIN_ZVON),
        ("dialplan.toml", PLAN_OUT),
        ("trunks.toml", TRUNKS),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.trunks.trunks["provider"].context, "from-provider");
    assert_eq!(c.trunks.routes[0].name, "national");
    // Without the file: no trunks.
    let c = parse(&[("zvon.toml", MIN_ZVON)]).unwrap();
    assert_eq!(c.trunks, crate::trunk::TrunksConfig::default());
}

#[test]
fn a_trunk_context_must_exist_in_the_dial_plan() {
    let plan = PLAN_OUT.replace("from-provider", "from-provder");
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        ("dialplan.toml", &plan),
        ("trunks.toml", TRUNKS),
    ]);
    let e = error_at(&errs, "trunk.provider.context");
    assert_eq!(e.file, dir().join("trunks.toml"));
    assert_eq!((e.line, e.column), (3, 11));
    assert_eq!(
        e.message,
        "dial-plan context `from-provider` does not exist"
    );
    assert_eq!(
        hint(e),
        "did you mean `from-provder`? (contexts are defined in dialplan.toml)"
    );
    // Without dialplan.toml there is only `internal`.
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("trunks.toml", TRUNKS)]);
    let e = error_at(&errs, "trunk.provider.context");
    assert!(hint(e).starts_with("there is no dialplan.toml"));
}

#[test]
fn an_emergency_number_must_not_be_an_extension() {
    let trunks = format!("{TRUNKS}\n[emergency]\nnumbers = [\"112\", \"1001\"]\n");
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        ("extensions.toml", &ext_file("")),
        ("dialplan.toml", PLAN_OUT),
        ("trunks.toml", &trunks),
    ]);
    let e = error_at(&errs, "emergency.numbers[2]");
    assert_eq!(e.line, 11);
    assert_eq!(e.message, "emergency number 1001 is also an extension");
    assert!(hint(e).starts_with("1001 is defined at cfg/extensions.toml:2:10"));
}

#[test]
fn outbound_actions_need_outbound_routes() {
    let plan = PLAN_OUT.replace(
        "action = \"outbound\"\n",
        "action = \"outbound\"\ntarget = \"natonal\"\n",
    );
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        ("dialplan.toml", &plan),
        ("trunks.toml", TRUNKS),
    ]);
    let e = error_at(&errs, "context[1].rule[1].target");
    assert_eq!(e.file, dir().join("dialplan.toml"));
    assert_eq!(e.line, 6);
    assert_eq!(e.message, "outbound route `natonal` does not exist");
    assert_eq!(
        hint(e),
        "did you mean `national`? (routes are defined in trunks.toml)"
    );
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("dialplan.toml", PLAN_OUT)]);
    let e = error_at(&errs, "context[1].rule[1].action");
    assert_eq!(e.message, "`outbound`, but there are no outbound routes");
    assert!(hint(e).starts_with("define outbound routes in trunks.toml"));
}

#[test]
fn a_queue_destination_cannot_be_outbound() {
    let queues = "[queues.q]\non_timeout = { action = \"outbound\", target = \"national\" }\n";
    let errs = errors(&[("zvon.toml", MIN_ZVON), ("queues.toml", queues)]);
    let e = error_at(&errs, "queues.q.on_timeout.action");
    assert_eq!(e.message, "`outbound` only works in a dial-plan rule");
}

#[test]
fn extensions_take_a_class_and_a_caller_id() {
    let c = parse(&[
        ("zvon.toml", MIN_ZVON),
        (
            "extensions.toml",
            &ext_file("class = \"internal\"\ncaller_id = \"+4930123451\"\n"),
        ),
    ])
    .unwrap();
    assert_eq!(c.extensions[0].class, Some(crate::trunk::Class::Internal));
    assert_eq!(c.extensions[0].caller_id.as_deref(), Some("+4930123451"));
    let c = parse(&[("zvon.toml", MIN_ZVON), ("extensions.toml", &ext_file(""))]).unwrap();
    assert_eq!(
        (c.extensions[0].class, c.extensions[0].caller_id.as_deref()),
        (None, None)
    );
    let errs = errors(&[
        ("zvon.toml", MIN_ZVON),
        (
            "extensions.toml",
            &ext_file("class = \"internationl\"\ncaller_id = \"030 1\"\n"),
        ),
    ]);
    let e = error_at(&errs, "extension[1].class");
    assert_eq!(e.line, 4);
    assert_eq!(hint(e), "did you mean `international`?");
    let e = error_at(&errs, "extension[1].caller_id");
    assert_eq!(e.line, 5);
    assert_eq!(e.message, "`030 1` is not a phone number");
}

#[test]
fn shipped_trunks_and_outbound_rules() {
    use crate::dialplan::{Route, Vars};
    use crate::trunk::{CallerIdPolicy, Class};
    let c = load_dir(&shipped_dir()).unwrap_or_else(|e| panic!("{e}"));
    let t = &c.trunks;
    assert_eq!(t.numbering.country, "49");
    assert_eq!(t.numbering.area.as_deref(), Some("30"));
    assert_eq!(t.default_class, Class::National);
    assert_eq!((t.limits.per_extension, t.limits.total), (2, 10));
    assert_eq!(t.emergency.numbers, ["112", "110"]);
    assert_eq!(t.emergency.trunks, ["provider"]);
    let p = &t.trunks["provider"];
    // Loopback only, and no registration anywhere.
    assert_eq!(p.literal_addr(), Some("127.0.0.1:5070".parse().unwrap()));
    assert!(!p.register);
    assert_eq!(p.password.as_ref().map(|s| s.expose()), Some("demo-trunk"));
    assert_eq!(p.context, "from-provider");
    assert_eq!(p.caller_id.as_deref(), Some("+4930123450"));
    assert_eq!(p.max_channels, 10);
    let names: Vec<(&str, Class)> = t
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.class))
        .collect();
    assert_eq!(
        names,
        [
            ("premium", Class::Premium),
            ("national", Class::National),
            ("international", Class::International)
        ]
    );
    assert!(t.routes.iter().all(|r| r.e164 && r.trunks == ["provider"]));
    assert_eq!(t.routes[1].caller_id, CallerIdPolicy::Extension);
    // Extensions: 1001 has a DID, 1004 makes no outside calls.
    assert_eq!(
        c.extension("1001").unwrap().caller_id.as_deref(),
        Some("+4930123451")
    );
    assert_eq!(c.extension("1004").unwrap().class, Some(Class::Internal));
    // The dial plan sends outside numbers out and the provider's DIDs in.
    let route = |ctx: &str, n: &str| {
        c.dialplan
            .route(ctx, n, "1001", &Vars::new(), crate::time::UnixTime(0))
            .route
    };
    for n in [
        "03012345678",
        "00442071234567",
        "+442071234567",
        "112",
        "110",
    ] {
        assert_eq!(route("internal", n), Route::Outbound(None), "{n}");
    }
    assert_eq!(route("internal", "1002"), Route::Extension("1002".into()));
    assert_eq!(route("internal", "111"), Route::Extension("111".into()));
    assert_eq!(
        route("from-provider", "4930123451"),
        Route::Extension("1001".into())
    );
    assert_eq!(
        route("from-provider", "4930123457"),
        Route::Queue("support".into())
    );
    assert_eq!(route("from-provider", "4930123459"), Route::Reject(404));
    // 1970-01-01 was a Thursday; 00:00 UTC is outside business hours.
    assert_eq!(
        route("from-provider", "4930123450"),
        Route::Ivr("closed".into())
    );
}
