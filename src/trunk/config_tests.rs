//! `trunks.toml` checker: the documented example parses to the values written, and every
//! mistake has its key, line and hint.

use std::time::Duration;

use super::*;
use crate::config::{ConfigError, IpNet};

/// The ```toml block of a doc text whose lines start with `prefix` (`//! ` for module docs).
fn toml_block(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let l = line.strip_prefix(prefix.trim_end()).unwrap_or(line);
        let l = l.strip_prefix(' ').unwrap_or(l);
        if inside {
            if l.trim_start().starts_with("```") {
                return out;
            }
            out.push_str(l);
            out.push('\n');
        } else if l.trim_start().starts_with("```toml") {
            inside = true;
        }
    }
    panic!("no ```toml block")
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e.0,
    }
}

/// The single error at `key`, with its line.
fn error_at(text: &str, key: &str) -> ConfigError {
    let errs = errors(text);
    let found: Vec<_> = errs.iter().filter(|e| e.key == key).collect();
    assert_eq!(
        found.len(),
        1,
        "want one error at {key}, got: {}",
        crate::config::ConfigErrors(errs.clone())
    );
    found[0].clone()
}

fn hint(e: &ConfigError) -> &str {
    e.hint.as_deref().unwrap_or_default()
}

/// The line (1-based) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}`"))
        + 1
}

const TRUNK: &str =
    "[trunk.provider]\nhost = \"sip.provider.example\"\ncontext = \"from-provider\"\n";

#[test]
fn the_module_doc_example_parses_to_the_values_written() {
    let text = toml_block(include_str!("mod.rs"), "//! ");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        c.numbering,
        Numbering {
            country: "49".into(),
            area: Some("30".into()),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    );
    assert_eq!(c.default_class, Class::National);
    assert_eq!(
        c.limits,
        Limits {
            per_extension: 2,
            total: 10
        }
    );
    assert_eq!(c.emergency.numbers, ["112", "110"]);
    assert_eq!(c.emergency.trunks, ["provider"]);
    let p = &c.trunks["provider"];
    assert_eq!(p.name, "provider");
    assert_eq!(p.host, "sip.provider.example");
    assert_eq!(p.port, 5060);
    assert_eq!(p.transport, crate::sip::Transport::Udp);
    assert_eq!(p.domain, "sip.provider.example");
    assert_eq!(p.username.as_deref(), Some("4930123450"));
    assert_eq!(p.auth_username, None);
    assert_eq!(p.auth_user(), Some("4930123450"));
    assert_eq!(p.password.as_ref().map(|s| s.expose()), Some("secret"));
    assert!(p.register);
    assert_eq!(p.expires, Duration::from_secs(600));
    assert_eq!(p.retry, Duration::from_secs(30));
    assert_eq!(p.retry_max, Duration::from_secs(600));
    assert!(p.inbound_from.is_empty());
    assert_eq!(p.context, "from-provider");
    assert_eq!(p.did, DidSource::RequestUri);
    assert_eq!(p.max_channels, 30);
    assert_eq!(p.caller_id.as_deref(), Some("+4930123450"));
    assert_eq!(p.from_user, None);
    assert!(!p.pai);
    assert_eq!(p.number_format, NumberFormat::E164);
    assert_eq!(p.qualify, Duration::ZERO);
    assert_eq!(p.qualify_failures, 3);
    assert_eq!(p.at.key, "trunk.provider");
    assert_eq!(p.at.line, line_of(&text, "[trunk.provider]"));
    assert_eq!(p.literal_addr(), None);
    let b = &c.trunks["backup"];
    assert!(!b.register);
    assert_eq!(b.inbound_from, vec![IpNet::parse("192.0.2.0/24").unwrap()]);
    assert_eq!(b.literal_addr(), Some("192.0.2.10:5060".parse().unwrap()));
    assert_eq!(c.routes.len(), 1);
    let r = &c.routes[0];
    assert_eq!(r.name, "national");
    assert_eq!(
        r.patterns,
        vec![crate::dialplan::Pattern::parse("_0Z.").unwrap()]
    );
    assert_eq!(r.strip, 0);
    assert_eq!(r.prepend, "");
    assert!(r.e164);
    assert_eq!(r.trunks, ["provider", "backup"]);
    assert_eq!(r.class, Class::National);
    assert_eq!(r.caller_id, CallerIdPolicy::Extension);
    assert_eq!(r.at.key, "route[1].name");
    assert_eq!(r.at.line, line_of(&text, "name = \"national\""));
}

#[test]
fn every_commented_key_of_the_doc_example_parses_when_uncommented() {
    let text = toml_block(include_str!("mod.rs"), "//! ");
    // `# key = value   # comment` → `key = value   # comment`
    let on: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") => format!("{rest}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    let c = parse(&on).unwrap_or_else(|e| panic!("{e}\n{on}"));
    let p = &c.trunks["provider"];
    assert_eq!(p.domain, "provider.example");
    assert_eq!(p.auth_username.as_deref(), Some("..."));
    assert!(p.pai);
    assert_eq!(p.qualify, Duration::from_secs(30));
    assert_eq!(p.inbound_from, vec![IpNet::parse("192.0.2.0/24").unwrap()]);
}

#[test]
fn an_empty_file_is_no_trunks_and_the_defaults() {
    assert_eq!(parse("").unwrap(), TrunksConfig::default());
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let t = format!("{TRUNK}regster = true\n");
    let e = error_at(&t, "trunk.provider.regster");
    assert_eq!(e.line, 4);
    assert_eq!(hint(&e), "did you mean `register`?");
    let e = error_at(
        "[[route]]\nname = \"x\"\nmatch = \"_0.\"\ntrunk = [\"a\"]\n",
        "route[1].trunk",
    );
    assert_eq!(hint(&e), "did you mean `trunks`?");
    let e = error_at("[trunks.provider]\nhost = \"a\"\n", "trunks");
    assert_eq!(hint(&e), "trunks are written `[trunk.NAME]`");
    let e = error_at("[limits]\ntotl = 3\n", "limits.totl");
    assert_eq!(hint(&e), "did you mean `total`?");
}

#[test]
fn trunk_names_hosts_and_ports() {
    let e = error_at(
        "[trunk.Provider]\nhost = \"a\"\ncontext = \"c\"\n",
        "trunk.Provider",
    );
    assert_eq!(e.line, 1);
    assert!(hint(&e).contains("lowercase"));

    let e = error_at("[trunk.p]\ncontext = \"c\"\n", "trunk.p.host");
    assert_eq!(e.message, "missing required key `host` in [trunk.p]");
    assert_eq!(hint(&e), "add `host = \"sip.provider.example\"`");

    let e = error_at(
        "[trunk.p]\ncontext = \"c\"\nhost = \"sip.example:5070\"\n",
        "trunk.p.host",
    );
    assert_eq!(e.line, 3);
    assert_eq!(e.message, "`sip.example:5070` has a port in it");
    assert_eq!(
        hint(&e),
        "the port is a key of its own: write `host = \"sip.example\"` and `port = 5070`"
    );
    let e = error_at(
        "[trunk.p]\ncontext = \"c\"\nhost = \"[::1]:5070\"\n",
        "trunk.p.host",
    );
    assert!(hint(&e).contains("`host = \"::1\"` and `port = 5070`"));
    let e = error_at(
        "[trunk.p]\ncontext = \"c\"\nhost = \"sip:a.example\"\n",
        "trunk.p.host",
    );
    assert_eq!(hint(&e), "write the host alone: `host = \"a.example\"`");
    let e = error_at(
        "[trunk.p]\ncontext = \"c\"\nhost = \"a b\"\n",
        "trunk.p.host",
    );
    assert!(e.message.contains("not an IP address or a host name"));

    let c = parse("[trunk.p]\ncontext = \"c\"\nhost = \"::1\"\nport = 5070\n").unwrap();
    assert_eq!(
        c.trunks["p"].literal_addr(),
        Some("[::1]:5070".parse().unwrap())
    );
    let e = error_at(
        "[trunk.p]\ncontext = \"c\"\nhost = \"a\"\nport = 70000\n",
        "trunk.p.port",
    );
    assert!(e.message.contains("out of range"));
}

#[test]
fn tls_trunks_are_not_supported_yet() {
    let t = format!("{TRUNK}transport = \"tls\"\n");
    let e = error_at(&t, "trunk.provider.transport");
    assert_eq!(e.line, 4);
    assert_eq!(
        e.message,
        "trunks over TLS are not supported yet; use udp or tcp"
    );
    let c = crate::trunk::config::parse(&format!("{TRUNK}transport = \"tcp\"\n")).unwrap();
    assert_eq!(c.trunks["provider"].transport, crate::sip::Transport::Tcp);
    let e = error_at(
        &format!("{TRUNK}transport = \"UDP\"\n"),
        "trunk.provider.transport",
    );
    assert_eq!(hint(&e), "did you mean `udp`?");
}

#[test]
fn registration_needs_credentials_and_sane_timers() {
    let t = format!("{TRUNK}register = true\nusername = \"u\"\n");
    let e = error_at(&t, "trunk.provider.register");
    assert_eq!(e.line, 4);
    assert_eq!(e.message, "`register = true` needs `password`");
    assert!(hint(&e).starts_with("add `password = \"...\"`"));
    let t = format!("{TRUNK}register = true\n");
    let e = error_at(&t, "trunk.provider.register");
    assert_eq!(
        e.message,
        "`register = true` needs `username` and `password`"
    );

    let e = error_at(
        &format!("{TRUNK}expires = \"30s\"\n"),
        "trunk.provider.expires",
    );
    assert_eq!(e.message, "30s is out of range: must be 1m to 24h");
    let e = error_at(
        &format!("{TRUNK}retry = \"5m\"\nretry_max = \"1m\"\n"),
        "trunk.provider.retry_max",
    );
    assert_eq!(e.line, 5);
    assert_eq!(e.message, "`retry_max` (1m) is shorter than `retry` (5m)");
    let c = parse(&format!("{TRUNK}retry = \"20m\"\n")).unwrap();
    assert_eq!(c.trunks["provider"].retry_max, Duration::from_secs(1200));
}

#[test]
fn trunk_values_are_checked() {
    let e = error_at(
        &format!("{TRUNK}caller_id = \"+49 30 1\"\n"),
        "trunk.provider.caller_id",
    );
    assert_eq!(e.message, "`+49 30 1` is not a phone number");
    let e = error_at(
        &format!("{TRUNK}caller_id = 4930\n"),
        "trunk.provider.caller_id",
    );
    assert_eq!(hint(&e), "write it in quotes: caller_id = \"+4930\"");
    let e = error_at(&format!("{TRUNK}did = \"from\"\n"), "trunk.provider.did");
    assert_eq!(hint(&e), "one of request-uri, to");
    let e = error_at(
        &format!("{TRUNK}number_format = \"noplus\"\n"),
        "trunk.provider.number_format",
    );
    assert_eq!(hint(&e), "did you mean `no-plus`?");
    let e = error_at(
        &format!("{TRUNK}qualify_failures = 0\n"),
        "trunk.provider.qualify_failures",
    );
    assert!(e.message.contains("must be 1 to 100"));
    let e = error_at(
        &format!("{TRUNK}inbound_from = [\"192.0.2.1/24\"]\n"),
        "trunk.provider.inbound_from[1]",
    );
    assert_eq!(e.line, 4);
    let e = error_at(
        &format!("{TRUNK}inbound_from = []\n"),
        "trunk.provider.inbound_from",
    );
    assert!(hint(&e).contains("remove the line"));
    let e = error_at(
        &format!("{TRUNK}username = \"u@example\"\n"),
        "trunk.provider.username",
    );
    assert!(hint(&e).contains("`domain`"));
    let e = error_at("[trunk.p]\nhost = \"a\"\n", "trunk.p.context");
    assert_eq!(hint(&e), "add `context = \"from-provider\"`");
    let c = parse(&format!(
        "{TRUNK}qualify = \"30s\"\nmax_channels = 4\ndid = \"to\"\nnumber_format = \"national\"\npai = true\nfrom_user = \"4930\"\n"
    ))
    .unwrap();
    let p = &c.trunks["provider"];
    assert_eq!(p.qualify, Duration::from_secs(30));
    assert_eq!(p.max_channels, 4);
    assert_eq!(p.did, DidSource::To);
    assert_eq!(p.number_format, NumberFormat::National);
    assert!(p.pai);
    assert_eq!(p.from_user.as_deref(), Some("4930"));
}

fn with_route(route: &str) -> String {
    format!(
        "[numbering]\ncountry = \"49\"\n\n{TRUNK}caller_id = \"+4930\"\n\n[trunk.nocid]\nhost = \"192.0.2.1\"\ncontext = \"c\"\n\n[[route]]\n{route}"
    )
}

#[test]
fn routes_parse_with_defaults_and_lists() {
    let c = parse(&with_route(
        "name = \"intl\"\nmatch = [\"_00Z.\", \"_+.\"]\nstrip = 2\nprepend = \"+\"\ntrunks = [\"provider\", \"nocid\"]\nclass = \"international\"\ncaller_id = \"+4930123459\"\n",
    ))
    .unwrap();
    let r = &c.routes[0];
    assert_eq!(r.patterns.len(), 2);
    assert_eq!(r.strip, 2);
    assert_eq!(r.prepend, "+");
    assert!(!r.e164);
    assert_eq!(r.class, Class::International);
    assert_eq!(r.caller_id, CallerIdPolicy::Number("+4930123459".into()));
    let c = parse(&with_route(
        "name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\n",
    ))
    .unwrap();
    assert_eq!(c.routes[0].class, Class::National);
    assert_eq!(c.routes[0].caller_id, CallerIdPolicy::Extension);
}

#[test]
fn route_mistakes_have_key_line_and_hint() {
    let t = with_route("name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provder\"]\n");
    let e = error_at(&t, "route[1].trunks[1]");
    assert_eq!(e.line, line_of(&t, "provder"));
    assert_eq!(e.message, "trunk `provder` does not exist");
    assert_eq!(hint(&e), "did you mean `provider`?");

    let t = with_route("name = \"n\"\nmatch = \"_0Z.\"\ntrunks = []\n");
    assert_eq!(
        error_at(&t, "route[1].trunks").message,
        "a route with no trunk"
    );

    let t = with_route("name = \"n\"\nmatch = \"_0Y.\"\ntrunks = [\"provider\"]\n");
    let e = error_at(&t, "route[1].match");
    assert_eq!(e.hint.as_deref(), Some(crate::dialplan::pattern::SYNTAX));
    let t = with_route("name = \"n\"\nmatch = [\"_0Z.\", \"0X.\"]\ntrunks = [\"provider\"]\n");
    let e = error_at(&t, "route[1].match[2]");
    assert_eq!(hint(&e), "patterns start with `_`: write \"_0X.\"");
    let t = with_route("name = \"n\"\nmatch = []\ntrunks = [\"provider\"]\n");
    assert_eq!(
        error_at(&t, "route[1].match").message,
        "a route that matches no number"
    );
    let t = with_route("name = \"n\"\ntrunks = [\"provider\"]\n");
    assert_eq!(
        hint(&error_at(&t, "route[1].match")),
        "add `match = [\"_0Z.\"]`"
    );

    let t = with_route(
        "name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\nclass = \"internal\"\n",
    );
    let e = error_at(&t, "route[1].class");
    assert_eq!(e.line, line_of(&t, "internal"));
    assert_eq!(e.message, "a route cannot have class `internal`");
    let t = with_route(
        "name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\nclass = \"nationl\"\n",
    );
    assert_eq!(
        hint(&error_at(&t, "route[1].class")),
        "did you mean `national`?"
    );

    let t = with_route(
        "name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\ncaller_id = \"compnay\"\n",
    );
    assert_eq!(
        hint(&error_at(&t, "route[1].caller_id")),
        "did you mean `company`?"
    );
    let t =
        with_route("name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\nprepend = \"0-\"\n");
    assert!(
        error_at(&t, "route[1].prepend")
            .message
            .contains("cannot be put in front")
    );
    let t = with_route("name = \"N 1\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\n");
    assert!(hint(&error_at(&t, "route[1].name")).contains("lowercase"));
}

#[test]
fn company_caller_id_needs_the_trunks_number() {
    let t = with_route(
        "name = \"n\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\", \"nocid\"]\ncaller_id = \"company\"\n",
    );
    let e = error_at(&t, "route[1].caller_id");
    assert_eq!(e.line, line_of(&t, "\"company\""));
    assert_eq!(
        e.message,
        "route `n` presents the company number, but trunk `nocid` has no `caller_id`"
    );
    assert!(hint(&e).starts_with("give [trunk.nocid] a `caller_id"));
}

#[test]
fn e164_needs_a_country_code() {
    let t = format!(
        "{TRUNK}\n[[route]]\nname = \"n\"\nmatch = \"_0Z.\"\ne164 = true\ntrunks = [\"provider\"]\n"
    );
    let e = error_at(&t, "route[1].e164");
    assert_eq!(e.line, line_of(&t, "e164"));
    assert_eq!(e.message, "`e164 = true` needs the country code");
    assert!(hint(&e).contains("[numbering]"));
}

#[test]
fn a_route_behind_a_wider_one_is_never_reached() {
    let t = with_route(
        "name = \"national\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\n\n[[route]]\nname = \"premium\"\nmatch = [\"_0900.\", \"_00Z.\"]\ntrunks = [\"provider\"]\n",
    );
    let e = error_at(&t, "route[2].match[1]");
    assert_eq!(e.line, line_of(&t, "_0900."));
    assert_eq!(
        e.message,
        "never reached: route `national` (`_0Z.`) already matches every number `_0900.` matches"
    );
    assert_eq!(
        hint(&e),
        "routes are tried in order; move this route above route `national`"
    );
    // `_00Z.` is not covered by `_0Z.` and gets no error.
    assert!(errors(&t).iter().all(|e| e.key != "route[2].match[2]"));
    // In the other order both are reachable.
    let t = with_route(
        "name = \"premium\"\nmatch = \"_0900.\"\ntrunks = [\"provider\"]\n\n[[route]]\nname = \"national\"\nmatch = \"_0Z.\"\ntrunks = [\"provider\"]\n",
    );
    assert_eq!(parse(&t).unwrap().routes.len(), 2);
}

#[test]
fn route_names_are_unique() {
    let t = with_route(
        "name = \"a\"\nmatch = \"_01.\"\ntrunks = [\"provider\"]\n\n[[route]]\nname = \"a\"\nmatch = \"_02.\"\ntrunks = [\"provider\"]\n",
    );
    let errs = errors(&t);
    let e = errs.iter().find(|e| e.key == "route[2].name").unwrap();
    assert_eq!(e.message, "a second route named `a`");
    assert_eq!(
        hint(e),
        format!(
            "route names are unique; the first is at line {}",
            line_of(&t, "name = \"a\"")
        )
    );
}

#[test]
fn numbering_defaults_limits_and_emergency() {
    let e = error_at("[numbering]\narea = \"30\"\n", "numbering.country");
    assert_eq!(hint(&e), "add `country = \"49\"`");
    let e = error_at("[numbering]\ncountry = \"+49\"\n", "numbering.country");
    assert_eq!(e.message, "`+49` is not a country code");
    assert_eq!(hint(&e), "1 to 3 digits, like \"49\"");
    let e = error_at("[numbering]\ncountry = 49\n", "numbering.country");
    assert_eq!(hint(&e), "write it in quotes: country = \"49\"");
    let e = error_at(
        "[numbering]\ncountry = \"49\"\narea = \"030\"\n",
        "numbering.area",
    );
    assert_eq!(e.line, 3);
    assert_eq!(hint(&e), "write the area code without it: `area = \"30\"`");

    let c = parse("[defaults]\nclass = \"internal\"\n[limits]\nper_extension = 0\n").unwrap();
    assert_eq!(c.default_class, Class::Internal);
    assert_eq!(
        c.limits,
        Limits {
            per_extension: 0,
            total: 0
        }
    );
    let e = error_at("[defaults]\nclass = \"intl\"\n", "defaults.class");
    assert!(hint(&e).starts_with("one of internal, local"));

    let t = format!("{TRUNK}[emergency]\nnumbers = [\"112\", \"11 0\"]\ntrunks = [\"backup\"]\n");
    let errs = errors(&t);
    assert_eq!(errs.len(), 2, "{errs:?}");
    let e = errs
        .iter()
        .find(|e| e.key == "emergency.numbers[2]")
        .unwrap();
    assert_eq!(e.line, line_of(&t, "numbers"));
    let e = errs
        .iter()
        .find(|e| e.key == "emergency.trunks[1]")
        .unwrap();
    assert_eq!(e.message, "trunk `backup` does not exist");
    let e = error_at("[emergency]\nnumbers = [\"112\"]\n", "emergency.numbers");
    assert_eq!(
        e.message,
        "emergency numbers, but no trunk to call them over"
    );
}

#[test]
fn a_broken_trunk_gives_routes_naming_it_no_second_error() {
    let t = "[trunk.p]\ncontext = \"c\"\n\n[[route]]\nname = \"n\"\nmatch = \"_0.\"\ntrunks = [\"p\"]\n";
    let errs = errors(t);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].key, "trunk.p.host");
    // ... and a typo of its name still gets the suggestion.
    let t = t.replace("trunks = [\"p\"]", "trunks = [\"pp\"]");
    let e = error_at(&t, "route[1].trunks[1]");
    assert_eq!(hint(&e), "did you mean `p`?");
}

#[test]
fn refs_name_contexts_and_emergency_numbers_where_written() {
    let text = format!("{TRUNK}[emergency]\nnumbers = [\"112\"]\n");
    let mut errs = Vec::new();
    let mut ctx = crate::config::walk::Ctx {
        file: std::path::Path::new("trunks.toml"),
        text: &text,
        errors: &mut errs,
    };
    let doc = toml::de::DeTable::parse(&text).unwrap();
    let (_, refs) = check(&mut ctx, &doc).unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0].0, Ref::Context("from-provider".into()));
    assert_eq!(
        (refs[0].1.key.as_str(), refs[0].1.line),
        ("trunk.provider.context", 3)
    );
    assert_eq!(refs[1].0, Ref::EmergencyNumber("112".into()));
    assert_eq!(
        (refs[1].1.key.as_str(), refs[1].1.line),
        ("emergency.numbers[1]", 5)
    );
}

#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../README.md");
    let begin = readme
        .find("<!-- trunks.toml example: begin")
        .expect("README has the trunks.toml example markers");
    let end = readme[begin..]
        .find("<!-- trunks.toml example: end")
        .map(|i| begin + i)
        .expect("README has the end marker");
    let text = toml_block(&readme[begin..end], "");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let p = &c.trunks["provider"];
    assert!(p.register);
    assert_eq!(p.domain, "provider.example");
    assert_eq!(p.auth_user(), Some("4930123450"));
    let names: Vec<&str> = c.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["premium", "national", "international"]);
    assert_eq!(c.limits.total, 8);
}
