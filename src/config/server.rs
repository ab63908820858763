//! `zvon.toml`: `[server]`, `[sip]`, `[rtp]`, `[registrar]`, `[security]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::DeTable;

use super::types::{IpNet, LogLevel};
use super::walk::{self, Ctx, Got, Section, Value};
use super::{Calls, Features, Registrar, Rtp, Security, Server, Sip};
use crate::media::Codec;
use crate::sip::auth::Algorithm;

pub(crate) struct Settings {
    pub server: Server,
    pub sip: Sip,
    pub rtp: Rtp,
    pub registrar: Registrar,
    pub security: Security,
    pub calls: Calls,
    pub features: Features,
}

/// `[security] trusted` when the key is absent: loopback.
pub(crate) fn default_trusted() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|s| IpNet::parse(s).ok())
        .collect()
}

const ELSEWHERE: &[(&str, &str)] = &[
    (
        "extension",
        "phones go in extensions.toml (or extensions/*.toml) as [[extension]] tables",
    ),
    (
        "extensions",
        "phones go in extensions.toml (or extensions/*.toml) as [[extension]] tables",
    ),
];

/// Checks a parsed `zvon.toml`; `None` if anything was wrong (all errors recorded).
pub(crate) fn check(ctx: &mut Ctx<'_>, doc: &Spanned<DeTable<'_>>, dir: &Path) -> Option<Settings> {
    let empty = DeTable::new();
    let mut root = Section::new("", doc.get_ref(), doc.span()).with_elsewhere(ELSEWHERE);
    let server_sec = sub(&mut root, ctx, "server", true, &empty);
    let sip_sec = sub(&mut root, ctx, "sip", false, &empty);
    let rtp_sec = sub(&mut root, ctx, "rtp", false, &empty);
    let reg_sec = sub(&mut root, ctx, "registrar", false, &empty);
    let sec_sec = sub(&mut root, ctx, "security", false, &empty);
    let calls_sec = sub(&mut root, ctx, "calls", false, &empty);
    let features_sec = sub(&mut root, ctx, "features", false, &empty);
    root.finish(ctx);

    let server_missing = doc.get_ref().get("server").is_none();
    let server = server_sec.and_then(|s| server(ctx, s, dir, server_missing));
    let sip = sip_sec.and_then(|s| sip(ctx, s));
    let rtp = rtp_sec.and_then(|s| rtp(ctx, s));
    let registrar = reg_sec.and_then(|s| registrar(ctx, s));
    let security = sec_sec.and_then(|s| security(ctx, s));
    let calls = calls_sec.and_then(|s| calls(ctx, s));
    let features = features_sec.and_then(|s| features(ctx, s));
    Some(Settings {
        server: server?,
        sip: sip?,
        rtp: rtp?,
        registrar: registrar?,
        security: security?,
        calls: calls?,
        features: features?,
    })
}

fn features(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<Features> {
    let d = Features::default();
    let code = |c: &mut Ctx<'_>, p: &str, v: &Value<'_>| -> Option<String> {
        let s = walk::nonempty(c, p, v)?.trim().to_string();
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        {
            c.error(
                v.span(),
                p,
                format!("`{s}` is not a dialable code"),
                Some("use digits, * and #, like \"*78\"".into()),
            );
            return None;
        }
        Some(s)
    };
    let get = |key: &'static str, dflt: &str, sec: &mut Section<'_, '_>, ctx: &mut Ctx<'_>| {
        sec.get(ctx, key, code).or(dflt.to_string())
    };
    let f = Features {
        dnd_on: get("dnd_on", &d.dnd_on, &mut sec, ctx)?,
        dnd_off: get("dnd_off", &d.dnd_off, &mut sec, ctx)?,
        forward_always_on: get("forward_always_on", &d.forward_always_on, &mut sec, ctx)?,
        forward_always_off: get("forward_always_off", &d.forward_always_off, &mut sec, ctx)?,
        forward_busy_on: get("forward_busy_on", &d.forward_busy_on, &mut sec, ctx)?,
        forward_busy_off: get("forward_busy_off", &d.forward_busy_off, &mut sec, ctx)?,
        forward_noanswer_on: get("forward_noanswer_on", &d.forward_noanswer_on, &mut sec, ctx)?,
        forward_noanswer_off: get(
            "forward_noanswer_off",
            &d.forward_noanswer_off,
            &mut sec,
            ctx,
        )?,
        pickup: get("pickup", &d.pickup, &mut sec, ctx)?,
        pickup_directed: get("pickup_directed", &d.pickup_directed, &mut sec, ctx)?,
        agent_login: get("agent_login", &d.agent_login, &mut sec, ctx)?,
        agent_logout: get("agent_logout", &d.agent_logout, &mut sec, ctx)?,
        agent_pause: get("agent_pause", &d.agent_pause, &mut sec, ctx)?,
        agent_unpause: get("agent_unpause", &d.agent_unpause, &mut sec, ctx)?,
    };
    let span = sec.span.clone();
    sec.finish(ctx);
    let all = [
        &f.dnd_on,
        &f.dnd_off,
        &f.forward_always_on,
        &f.forward_always_off,
        &f.forward_busy_on,
        &f.forward_busy_off,
        &f.forward_noanswer_on,
        &f.forward_noanswer_off,
        &f.pickup,
        &f.pickup_directed,
        &f.agent_login,
        &f.agent_logout,
        &f.agent_pause,
        &f.agent_unpause,
    ];
    for (i, a) in all.iter().enumerate() {
        if all[..i].contains(a) {
            ctx.error(
                span.clone(),
                "features",
                format!("the code {a} is used twice"),
                Some("give every feature its own code".into()),
            );
            return None;
        }
    }
    Some(f)
}

fn calls(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<Calls> {
    let d = Calls::default();
    let secs = Duration::from_secs;
    let no_answer = sec.get(ctx, "no_answer", |c, p, v| {
        walk::duration(c, p, v, secs(5), secs(600))
    });
    let opus_complexity = sec.get(ctx, "opus_complexity", |c, p, v| {
        walk::uint(c, p, v, 0, 10).map(|n| n as u8)
    });
    let rtp_timeout = sec.get(ctx, "rtp_timeout", |c, p, v| {
        walk::duration(c, p, v, Duration::ZERO, secs(3600))
    });
    let codecs = sec.get(ctx, "codecs", |c, p, v| {
        let list = walk::list_of(c, p, v, "[\"PCMU\", \"PCMA\", \"G722\", \"opus\"]", codec)?;
        if list.is_empty() {
            c.error(
                v.span(),
                p,
                "at least one codec is needed",
                Some("e.g. [\"PCMU\", \"PCMA\"]".into()),
            );
            return None;
        }
        Some(list)
    });
    sec.finish(ctx);
    Some(Calls {
        no_answer: no_answer.or(d.no_answer)?,
        rtp_timeout: rtp_timeout.or(d.rtp_timeout)?,
        opus_complexity: opus_complexity.or(d.opus_complexity)?,
        codecs: codecs.or(d.codecs)?,
    })
}

fn codec(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Codec> {
    let s = walk::string(ctx, path, v)?;
    let c = match s.trim().to_ascii_lowercase().as_str() {
        "pcmu" | "g711u" | "ulaw" => Codec::Pcmu,
        "pcma" | "g711a" | "alaw" => Codec::Pcma,
        "g722" => Codec::G722,
        "opus" => Codec::Opus,
        _ => {
            ctx.error(
                v.span(),
                path,
                format!("unknown codec \"{s}\""),
                Some("one of \"PCMU\", \"PCMA\", \"G722\", \"opus\"".into()),
            );
            return None;
        }
    };
    Some(c)
}

/// The section `name` of the root; `None` when the value is not a table (already reported).
/// An absent optional table reads as an empty one.
fn sub<'t, 'i>(
    root: &mut Section<'t, 'i>,
    ctx: &mut Ctx<'_>,
    name: &'static str,
    required: bool,
    empty: &'t DeTable<'i>,
) -> Option<Section<'t, 'i>> {
    match root.raw(name) {
        Some(v) => walk::table(ctx, name, v).map(|t| Section::new(name, t, v.span())),
        None => {
            if required {
                let msg = format!("missing table [{name}]");
                ctx.error(0..0, name, msg, Some(format!("add a `[{name}]` section")));
            }
            Some(Section::new(name, empty, 0..0))
        }
    }
}

fn socket_addr(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<SocketAddr> {
    let s = walk::string(ctx, path, v)?;
    match s.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            let hint = if let Ok(ip) = s.parse::<std::net::IpAddr>() {
                format!("add the port: \"{}\"", SocketAddr::new(ip, 5060))
            } else {
                "write an IP address and a port, like \"0.0.0.0:5060\" or \"[::]:5060\"; host names are not allowed".into()
            };
            ctx.error(
                v.span(),
                path,
                format!("`{s}` is not a listen address"),
                Some(hint),
            );
            None
        }
    }
}

fn listen_list(
    sec: &mut Section<'_, '_>,
    ctx: &mut Ctx<'_>,
    key: &'static str,
) -> Got<Vec<SocketAddr>> {
    sec.get(ctx, key, |ctx, path, v| {
        let addrs = walk::list_of(ctx, path, v, "[\"127.0.0.1:5060\"]", socket_addr)?;
        let items = walk::list(ctx, path, v, "")?;
        let mut ok = true;
        for (i, a) in addrs.iter().enumerate() {
            if addrs[..i].contains(a) {
                ctx.error(
                    items[i].span(),
                    &format!("{path}[{}]", i + 1),
                    format!("{a} is listed twice"),
                    None,
                );
                ok = false;
            }
        }
        ok.then_some(addrs)
    })
}

fn domain(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = walk::nonempty(ctx, path, v)?;
    let is_ip = s.parse::<std::net::IpAddr>().is_ok();
    let is_host = s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !(is_ip || is_host) {
        let hint = Some(
            "a host name like \"pbx.example.com\" or \"zvon.local\", without sip: or a port".into(),
        );
        ctx.error(v.span(), path, format!("`{s}` is not a domain name"), hint);
        return None;
    }
    Some(s.to_ascii_lowercase())
}

fn server(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    dir: &Path,
    table_missing: bool,
) -> Option<Server> {
    let udp = listen_list(&mut sec, ctx, "udp");
    let tcp = listen_list(&mut sec, ctx, "tcp");
    let domain = if table_missing {
        None
    } else {
        sec.require(ctx, "domain", "\"pbx.example.com\"", domain)
    };
    let state_dir = sec
        .get(ctx, "state_dir", walk::nonempty)
        .or("/var/lib/zvon");
    let sounds_dir = sec
        .get(ctx, "sounds_dir", walk::nonempty)
        .or("/usr/share/zvon/sounds");
    let control_socket = sec.get(ctx, "control_socket", control_socket).or(None);
    let log_level = sec
        .get(ctx, "log_level", |ctx, path, v| {
            let s = walk::string(ctx, path, v)?;
            match s.parse::<LogLevel>() {
                Ok(l) => Some(l),
                Err(msg) => {
                    let all: Vec<&str> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
                    ctx.error(
                        v.span(),
                        path,
                        msg,
                        Some(format!("use one of: {}", all.join(", "))),
                    );
                    None
                }
            }
        })
        .or(LogLevel::Info);
    let user_agent = sec
        .get(ctx, "user_agent", |ctx, path, v| {
            let s = walk::nonempty(ctx, path, v)?;
            if s.chars().any(|c| c.is_control()) {
                ctx.error(v.span(), path, "must be one line of printable text", None);
                return None;
            }
            Some(s.to_string())
        })
        .or(concat!("Zvon ", env!("CARGO_PKG_VERSION")).to_string());

    // Cross-check: something to listen on.
    let bad = matches!(udp, Got::Bad) || matches!(tcp, Got::Bad);
    let no_listen = !bad && udp.value_len() == 0 && tcp.value_len() == 0;
    if no_listen && !table_missing {
        let span = udp.span().or(tcp.span()).unwrap_or(sec.span.clone());
        ctx.error(
            span,
            "server",
            "no listen address: both `udp` and `tcp` are empty",
            Some("add one, like udp = [\"0.0.0.0:5060\"]".into()),
        );
    }
    sec.finish(ctx);
    let state_dir = PathBuf::from(state_dir?);
    let state_dir = if state_dir.is_relative() {
        dir.join(state_dir)
    } else {
        state_dir
    };
    let sounds_dir = PathBuf::from(sounds_dir?);
    let sounds_dir = if sounds_dir.is_relative() {
        dir.join(sounds_dir)
    } else {
        sounds_dir
    };
    if no_listen {
        return None;
    }
    Some(Server {
        sounds_dir,
        udp: udp.or(Vec::new())?,
        tcp: tcp.or(Vec::new())?,
        domain: domain?,
        state_dir,
        log_level: log_level?,
        user_agent: user_agent?,
        control_socket: control_socket?.map(|p| if p.is_relative() { dir.join(p) } else { p }),
    })
}

/// Longest socket path Linux accepts (`sun_path` is 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

fn control_socket(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Option<PathBuf>> {
    let s = walk::nonempty(ctx, path, v)?;
    if s.ends_with('/') {
        ctx.error(
            v.span(),
            path,
            "the control socket is a file, not a directory",
            Some("e.g. \"/run/zvon/zvon.ctl\"".into()),
        );
        return None;
    }
    if s.len() > MAX_SOCKET_PATH {
        ctx.error(
            v.span(),
            path,
            format!(
                "{} bytes is too long for a unix socket path (at most {MAX_SOCKET_PATH})",
                s.len()
            ),
            Some("use a shorter path, e.g. \"/run/zvon/zvon.ctl\"".into()),
        );
        return None;
    }
    Some(Some(PathBuf::from(s)))
}

impl<T> Got<Vec<T>> {
    fn value_len(&self) -> usize {
        match self {
            Got::Val(v, _) => v.len(),
            _ => 0,
        }
    }
}

fn sip(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<Sip> {
    let d = Sip::default();
    let max_message_size = sec.get(ctx, "max_message_size", |c, p, v| {
        walk::uint(c, p, v, 1024, 1 << 20)
    });
    let max_headers = sec.get(ctx, "max_headers", |c, p, v| walk::uint(c, p, v, 16, 4096));
    let t1 = sec.get(ctx, "t1", |c, p, v| {
        walk::duration(c, p, v, Duration::from_millis(100), Duration::from_secs(10))
    });
    sec.finish(ctx);
    Some(Sip {
        max_message_size: max_message_size.or(d.max_message_size as u64)? as usize,
        max_headers: max_headers.or(d.max_headers as u64)? as usize,
        t1: t1.or(d.t1)?,
    })
}

fn rtp(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<Rtp> {
    let d = Rtp::default();
    let port_min = sec.get(ctx, "port_min", |c, p, v| {
        let n = walk::uint(c, p, v, 1024, 65534)?;
        if n % 2 != 0 {
            // RFC 3550 §11: RTP on an even port, RTCP on the next odd one.
            c.error(
                v.span(),
                p,
                format!("{n} is odd: RTP uses even ports"),
                Some(format!("use {}", n - 1)),
            );
            return None;
        }
        Some(n as u16)
    });
    let port_max = sec.get(ctx, "port_max", |c, p, v| {
        walk::uint(c, p, v, 1025, 65535).map(|n| n as u16)
    });
    let address = sec.get(ctx, "address", |c, p, v| {
        let s = walk::string(c, p, v)?;
        match s.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(Some(ip)),
            Ok(_) => {
                c.error(
                    v.span(),
                    p,
                    "the media address must be a concrete IP that phones can reach",
                    Some("e.g. \"192.168.1.10\"".into()),
                );
                None
            }
            Err(_) => {
                c.error(
                    v.span(),
                    p,
                    format!("\"{s}\" is not an IP address"),
                    Some("e.g. \"192.168.1.10\"".into()),
                );
                None
            }
        }
    });
    let span_max = port_max
        .span()
        .or(port_min.span())
        .unwrap_or(sec.span.clone());
    sec.finish(ctx);
    let (min, max) = (port_min.or(d.port_min)?, port_max.or(d.port_max)?);
    if min >= max {
        let msg = format!("port_max ({max}) must be above port_min ({min})");
        ctx.error(span_max, "rtp.port_max", msg, None);
        return None;
    }
    Some(Rtp {
        port_min: min,
        port_max: max,
        address: address.or(None)?,
    })
}

fn registrar(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<Registrar> {
    const DAY: u64 = 86_400;
    let d = Registrar::default();
    let min = sec.get(ctx, "min_expires", |c, p, v| {
        walk::uint(c, p, v, 1, DAY).map(|n| n as u32)
    });
    let max = sec.get(ctx, "max_expires", |c, p, v| {
        walk::uint(c, p, v, 1, 7 * DAY).map(|n| n as u32)
    });
    let def = sec.get(ctx, "default_expires", |c, p, v| {
        walk::uint(c, p, v, 1, 7 * DAY).map(|n| n as u32)
    });
    let qualify = sec.get(ctx, "qualify", |c, p, v| {
        walk::duration(c, p, v, Duration::ZERO, Duration::from_secs(DAY))
    });
    let qualify_failures = sec.get(ctx, "qualify_failures", |c, p, v| {
        walk::uint(c, p, v, 1, 100).map(|n| n as u32)
    });
    let fallback = sec.span.clone();
    sec.finish(ctx);
    let (min_span, max_span, def_span) = (min.span(), max.span(), def.span());
    let (min, max, def) = (
        min.or(d.min_expires),
        max.or(d.max_expires),
        def.or(d.default_expires),
    );
    let mut ok = true;
    if let (Some(min), Some(max), Some(def)) = (min, max, def) {
        if min > max {
            let span = max_span
                .clone()
                .or(min_span.clone())
                .unwrap_or(fallback.clone());
            ctx.error(
                span,
                "registrar.max_expires",
                format!("max_expires ({max}) is below min_expires ({min})"),
                None,
            );
            ok = false;
        } else if def < min || def > max {
            let span = def_span
                .or(if def < min { min_span } else { max_span })
                .unwrap_or(fallback);
            let msg = format!(
                "default_expires ({def}) must be between min_expires ({min}) and max_expires ({max})"
            );
            ctx.error(span, "registrar.default_expires", msg, None);
            ok = false;
        }
    }
    let registrar = Registrar {
        min_expires: min?,
        max_expires: max?,
        default_expires: def?,
        qualify: Some(qualify.or(Duration::ZERO)?).filter(|q| !q.is_zero()),
        qualify_failures: qualify_failures.or(d.qualify_failures)?,
    };
    ok.then_some(registrar)
}

fn security(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<Security> {
    let d = Security::default();
    let secs = Duration::from_secs;
    let nonce_ttl = sec.get(ctx, "nonce_ttl", |c, p, v| {
        walk::duration(c, p, v, secs(10), secs(86_400))
    });
    let ban_failures = sec.get(ctx, "ban_failures", |c, p, v| {
        walk::uint(c, p, v, 0, 1_000_000).map(|n| n as u32)
    });
    let ban_window = sec.get(ctx, "ban_window", |c, p, v| {
        walk::duration(c, p, v, secs(1), secs(86_400))
    });
    let ban_time = sec.get(ctx, "ban_time", |c, p, v| {
        walk::duration(c, p, v, secs(1), secs(30 * 86_400))
    });
    let trusted = sec.get(ctx, "trusted", |c, p, v| {
        walk::list_of(c, p, v, "[\"192.168.1.0/24\"]", net)
    });
    let digest = sec.get(ctx, "digest", |c, p, v| {
        let list = walk::list_of(c, p, v, "[\"MD5\", \"SHA-256\"]", digest_algorithm)?;
        if list.is_empty() {
            c.error(
                v.span(),
                p,
                "at least one digest algorithm is needed",
                Some("use [\"MD5\"] for the widest phone support".into()),
            );
            return None;
        }
        Some(list)
    });
    sec.finish(ctx);
    Some(Security {
        nonce_ttl: nonce_ttl.or(d.nonce_ttl)?,
        ban_failures: ban_failures.or(d.ban_failures)?,
        ban_window: ban_window.or(d.ban_window)?,
        ban_time: ban_time.or(d.ban_time)?,
        trusted: trusted.or(d.trusted)?,
        digest: digest.or(d.digest)?,
    })
}

/// One of the digest algorithms of RFC 8760, without `-sess`.
fn digest_algorithm(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Algorithm> {
    let s = walk::string(ctx, path, v)?;
    match Algorithm::parse(s.trim()) {
        Some((a, false)) => Some(a),
        _ => {
            ctx.error(
                v.span(),
                path,
                format!("unknown digest algorithm \"{s}\""),
                Some("one of \"MD5\", \"SHA-256\", \"SHA-512-256\"".into()),
            );
            None
        }
    }
}

/// A network in CIDR form; shared with `extensions.toml`.
pub(crate) fn net(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<IpNet> {
    let s = walk::string(ctx, path, v)?;
    match IpNet::parse_detailed(s.trim()) {
        Ok(n) => Some(n),
        Err(e) => {
            ctx.error(v.span(), path, e.message, e.hint);
            None
        }
    }
}
