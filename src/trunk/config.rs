//! `trunks.toml` → [`TrunksConfig`]: every mistake with file:line:column, key path and a hint
//! (the conventions of [`crate::config`]); the syntax is in the [module docs](super).
//!
//! In-file checks: names, hosts, numbers, durations, networks and patterns; `register = true`
//! without credentials; routes naming trunks that do not exist, routes no number can reach
//! (an earlier route's pattern matches every number one of theirs matches), `caller_id =
//! "company"` on a trunk without a company number, `e164 = true` without `[numbering]
//! country`. What needs other files (trunk contexts in the dial plan, emergency numbers that
//! are extensions) is returned as [`Refs`] and checked by [`crate::config`].

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    CallerIdPolicy, Class, DidSource, Emergency, Limits, NumberFormat, Numbering, OutRoute, Trunk,
    TrunksConfig,
};
use crate::config::error::closest;
use crate::config::walk::{self, Ctx, Got, Section, Span, Value};
use crate::config::{ConfigErrors, Secret};
use crate::dialplan::{Pattern, Spot};
use crate::sip::Transport;

/// A name `trunks.toml` refers to that another file must define (or must not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// A trunk's `context`: a dial-plan context.
    Context(String),
    /// An `[emergency]` number (must not be an extension).
    EmergencyNumber(String),
}

/// What [`check`] found besides the config: references with where they are written.
pub type Refs = Vec<(Ref, Spot)>;

const ELSEWHERE: &[(&str, &str)] = &[
    ("trunks", "trunks are written `[trunk.NAME]`"),
    ("routes", "outbound routes are written `[[route]]`"),
    ("extension", "phones go in extensions.toml"),
    ("context", "dial-plan contexts go in dialplan.toml"),
];

fn spot(ctx: &Ctx<'_>, key: &str, span: &Span) -> Spot {
    let (line, column) = ctx.position(span);
    Spot {
        key: key.to_owned(),
        line,
        column,
    }
}

/// Parses a `trunks.toml` text on its own (no cross-checks with other files); for tests and
/// tools. Errors name the file `trunks.toml`.
pub fn parse(text: &str) -> Result<TrunksConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let file = std::path::Path::new("trunks.toml");
    let mut ctx = Ctx {
        file,
        text,
        errors: &mut errors,
    };
    let cfg = match DeTable::parse(text) {
        Ok(doc) => check(&mut ctx, &doc),
        Err(e) => {
            let msg = format!("TOML syntax error: {}", e.message().trim());
            ctx.error(e.span().unwrap_or(0..0), "", msg, None);
            None
        }
    };
    match cfg {
        Some((c, _)) if errors.is_empty() => Ok(c),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Checks `trunks.toml`; `None` when anything was wrong (all errors are in `ctx`).
pub(crate) fn check(ctx: &mut Ctx<'_>, doc: &Spanned<DeTable<'_>>) -> Option<(TrunksConfig, Refs)> {
    let before = ctx.errors.len();
    let mut root = Section::new("", doc.get_ref(), doc.span()).with_elsewhere(ELSEWHERE);
    let mut refs = Refs::new();
    let numbering = root.get(ctx, "numbering", numbering);
    let default_class = root.get(ctx, "defaults", |c, p, v| {
        let t = walk::table(c, p, v)?;
        let mut sec = Section::new(p, t, v.span());
        let class = sec.get(c, "class", |c, p, v| choice(c, p, v, Class::ALL));
        sec.finish(c);
        class.or(Class::default())
    });
    let limits = root.get(ctx, "limits", limits);

    // Trunks first: routes and [emergency] name them.
    let mut trunks = BTreeMap::new();
    // Trunks with mistakes of their own: routes naming them get no second error.
    let mut broken: Vec<String> = Vec::new();
    if let Some(v) = root.raw("trunk")
        && let Some(t) = walk::table(ctx, "trunk", v)
    {
        for (k, tv) in t.iter() {
            let name = k.get_ref().to_string();
            let path = format!("trunk.{name}");
            if !valid_name(&name) {
                ctx.error(
                    k.span(),
                    &path,
                    format!("`{name}` is not a valid trunk name"),
                    Some("use lowercase letters, digits, `-` and `_`, like `provider`".into()),
                );
                broken.push(name);
                continue;
            }
            let Some(tt) = walk::table(ctx, &path, tv) else {
                broken.push(name);
                continue;
            };
            let at = spot(ctx, &path, &k.span());
            match trunk(ctx, Section::new(path, tt, tv.span()), name.clone(), at) {
                Some((tr, r)) => {
                    refs.extend(r);
                    trunks.insert(name, tr);
                }
                None => broken.push(name),
            }
        }
    }
    let numbering = match numbering {
        Got::Val(n, _) => Some(n),
        Got::Absent => Some(Numbering::default()),
        Got::Bad => None,
    };
    let known = Known {
        trunks: &trunks,
        broken: &broken,
        country: numbering.as_ref().is_none_or(|n| !n.country.is_empty()),
    };
    let emergency = root.get(ctx, "emergency", |c, p, v| {
        emergency(c, p, v, &known, &mut refs)
    });
    let mut routes: Vec<(OutRoute, Vec<Spot>)> = Vec::new();
    if let Some(v) = root.raw("route") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("route[{}]", i + 1);
                    let Some(t) = walk::table(ctx, &path, item) else {
                        continue;
                    };
                    if let Some(r) = route(ctx, Section::new(path, t, item.span()), &known) {
                        routes.push(r);
                    }
                }
            }
            other => ctx.error(
                v.span(),
                "route",
                format!(
                    "expected `[[route]]` tables, found {}",
                    walk::describe(other)
                ),
                Some("write each outbound route as `[[route]]` with double brackets".into()),
            ),
        }
    }
    root.finish(ctx);

    // Unique route names, and routes an earlier route shadows.
    for j in 0..routes.len() {
        let (r, pattern_at) = &routes[j];
        if let Some((first, _)) = routes[..j].iter().find(|(f, _)| f.name == r.name) {
            push(
                ctx,
                &r.at,
                format!("a second route named `{}`", r.name),
                Some(format!(
                    "route names are unique; the first is at line {}",
                    first.at.line
                )),
            );
            continue;
        }
        for (p, at) in r.patterns.iter().zip(pattern_at) {
            let earlier = routes[..j]
                .iter()
                .find_map(|(e, _)| e.patterns.iter().find(|q| q.covers(p)).map(|q| (e, q)));
            if let Some((e, q)) = earlier {
                push(
                    ctx,
                    at,
                    format!(
                        "never reached: route `{}` (`{q}`) already matches every number `{p}` matches",
                        e.name
                    ),
                    Some(format!(
                        "routes are tried in order; move this route above route `{}`",
                        e.name
                    )),
                );
            }
        }
    }

    let ok = ctx.errors.len() == before;
    let cfg = TrunksConfig {
        trunks,
        routes: routes.into_iter().map(|(r, _)| r).collect(),
        numbering: numbering?,
        default_class: default_class.or(Class::default())?,
        limits: limits.or(Limits::default())?,
        emergency: emergency.or(Emergency::default())?,
    };
    ok.then_some((cfg, refs))
}

/// What routes and `[emergency]` are checked against.
struct Known<'a> {
    trunks: &'a BTreeMap<String, Trunk>,
    broken: &'a [String],
    /// `[numbering] country` is set (or `[numbering]` had errors of its own).
    country: bool,
}

fn push(ctx: &mut Ctx<'_>, at: &Spot, message: String, hint: Option<String>) {
    ctx.errors.push(crate::config::ConfigError {
        file: ctx.file.to_path_buf(),
        line: at.line,
        column: at.column,
        key: at.key.clone(),
        message,
        hint,
    });
}

/// Trunk and route names: `[a-z0-9_-]+`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn boolean(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        other => {
            let msg = format!("expected true or false, found {}", walk::describe(other));
            ctx.error(
                v.span(),
                path,
                msg,
                Some("write true or false without quotes".into()),
            );
            None
        }
    }
}

fn choice<T: Copy>(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    options: &[(&str, T)],
) -> Option<T> {
    let s = walk::string(ctx, path, v)?.trim();
    if let Some((_, t)) = options.iter().find(|(n, _)| *n == s) {
        return Some(*t);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let hint = match closest(s, &names) {
        Some(b) => format!("did you mean `{b}`?"),
        None => format!("one of {}", names.join(", ")),
    };
    ctx.error(v.span(), path, format!("unknown value `{s}`"), Some(hint));
    None
}

/// Digits only, `min..=max` of them (`what` names the thing in the message).
fn digits(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    (min, max): (usize, usize),
    what: &str,
    example: &str,
) -> Option<String> {
    let s = match v.get_ref() {
        DeValue::Integer(i) => {
            let key = path.rsplit('.').next().unwrap_or(path);
            let hint = Some(format!("write it in quotes: {key} = \"{i}\""));
            ctx.error(v.span(), path, "expected the digits as a string", hint);
            return None;
        }
        _ => walk::string(ctx, path, v)?.trim(),
    };
    if !(min..=max).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        let count = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not {what}"),
            Some(format!("{count} digits, like \"{example}\"")),
        );
        return None;
    }
    Some(s.to_string())
}

/// A phone number: an optional `+`, then 2 to 20 digits.
pub(crate) fn phone_number(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = match v.get_ref() {
        DeValue::Integer(i) => {
            let key = path.rsplit('.').next().unwrap_or(path);
            let hint = Some(format!("write it in quotes: {key} = \"+{i}\""));
            ctx.error(v.span(), path, "expected the number as a string", hint);
            return None;
        }
        _ => walk::string(ctx, path, v)?.trim(),
    };
    if !is_phone_number(s) {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not a phone number"),
            Some("2 to 20 digits with an optional leading `+`, like \"+4930123450\"".into()),
        );
        return None;
    }
    Some(s.to_string())
}

/// `+`? then 2 to 20 digits (caller IDs, DIDs).
pub(crate) fn is_phone_number(s: &str) -> bool {
    let d = s.strip_prefix('+').unwrap_or(s);
    (2..=20).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
}

/// A user part (`username`, `auth_username`): no spaces, `@` or `:`.
fn user(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = match v.get_ref() {
        DeValue::Integer(i) => {
            let key = path.rsplit('.').next().unwrap_or(path);
            let hint = Some(format!("write it in quotes: {key} = \"{i}\""));
            ctx.error(v.span(), path, "expected a string", hint);
            return None;
        }
        _ => walk::nonempty(ctx, path, v)?.trim(),
    };
    if s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c == '@' || c == ':') {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not a SIP user name"),
            Some(
                "the account name alone, like \"4930123450\" (the domain goes in `domain`)".into(),
            ),
        );
        return None;
    }
    Some(s.to_string())
}

/// `host`: an IP literal or a host name, without a port.
fn host(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = walk::nonempty(ctx, path, v)?.trim();
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Some(bare.to_string());
    }
    let port_hint = |h: &str, p: &str| {
        format!("the port is a key of its own: write `host = \"{h}\"` and `port = {p}`")
    };
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        let h = sa.ip().to_string();
        ctx.error(
            v.span(),
            path,
            format!("`{s}` has a port in it"),
            Some(port_hint(&h, &sa.port().to_string())),
        );
        return None;
    }
    if let Some((h, p)) = s.rsplit_once(':')
        && !p.is_empty()
        && p.bytes().all(|b| b.is_ascii_digit())
        && !h.contains(':')
    {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` has a port in it"),
            Some(port_hint(h, p)),
        );
        return None;
    }
    if let Some(rest) = s.strip_prefix("sip:").or_else(|| s.strip_prefix("sips:")) {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is a URI, not a host"),
            Some(format!("write the host alone: `host = \"{rest}\"`")),
        );
        return None;
    }
    if !valid_host_name(s) {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not an IP address or a host name"),
            Some(
                "a host name has letters, digits, `-` and `.`, like \"sip.provider.example\""
                    .into(),
            ),
        );
        return None;
    }
    Some(s.to_ascii_lowercase())
}

fn valid_host_name(s: &str) -> bool {
    s.len() <= 253
        && !s.starts_with('.')
        && !s.ends_with('-')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn numbering(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Numbering> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let d = Numbering::default();
    let country = sec.require(ctx, "country", "\"49\"", |c, p, v| {
        digits(c, p, v, (1, 3), "a country code", "49")
    });
    let area = sec.get(ctx, "area", |c, p, v| {
        digits(c, p, v, (1, 6), "an area code", "30")
    });
    let national = sec.get(ctx, "national_prefix", |c, p, v| {
        digits(c, p, v, (0, 4), "a national prefix", "0")
    });
    let international = sec.get(ctx, "international_prefix", |c, p, v| {
        digits(c, p, v, (1, 4), "an international prefix", "00")
    });
    let area_span = area.span();
    sec.finish(ctx);
    let n = Numbering {
        country: country?,
        area: match area {
            Got::Bad => return None,
            g => g.val(),
        },
        national_prefix: national.or(d.national_prefix)?,
        international_prefix: international.or(d.international_prefix)?,
    };
    if let (Some(a), Some(span)) = (&n.area, area_span)
        && !n.national_prefix.is_empty()
        && a.len() > n.national_prefix.len()
        && a.starts_with(&n.national_prefix)
    {
        let without = &a[n.national_prefix.len()..];
        ctx.error(
            span,
            &format!("{path}.area"),
            format!(
                "area code `{a}` starts with the national prefix `{}`",
                n.national_prefix
            ),
            Some(format!(
                "write the area code without it: `area = \"{without}\"`"
            )),
        );
        return None;
    }
    Some(n)
}

fn limits(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Limits> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let d = Limits::default();
    let per = sec.get(ctx, "per_extension", |c, p, v| walk::uint(c, p, v, 0, 1000));
    let total = sec.get(ctx, "total", |c, p, v| walk::uint(c, p, v, 0, 100_000));
    sec.finish(ctx);
    Some(Limits {
        per_extension: per.or(u64::from(d.per_extension))? as u32,
        total: total.or(u64::from(d.total))? as u32,
    })
}

/// A list of existing trunk names; `None` if any is unknown (each reported once).
fn trunk_list(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    known: &Known<'_>,
) -> Option<Vec<String>> {
    // Broken trunks count for the hint: a typo of a trunk with errors is still a typo.
    let mut names: Vec<&str> = known.trunks.keys().map(String::as_str).collect();
    names.extend(known.broken.iter().map(String::as_str));
    let mut broken = false;
    let list = walk::list_of(ctx, path, v, "[\"provider\"]", |c, p, item| {
        let s = walk::nonempty(c, p, item)?.trim().to_string();
        if known.broken.contains(&s) {
            broken = true;
            return Some(s);
        }
        if !known.trunks.contains_key(&s) {
            let hint = match closest(&s, &names) {
                Some(b) => format!("did you mean `{b}`?"),
                None if names.is_empty() => "define it as [trunk.NAME] in this file".into(),
                None => format!("the trunks are {}", names.join(", ")),
            };
            c.error(
                item.span(),
                p,
                format!("trunk `{s}` does not exist"),
                Some(hint),
            );
            return None;
        }
        Some(s)
    })?;
    if let Some(i) = (1..list.len()).find(|&i| list[..i].contains(&list[i])) {
        ctx.error(
            v.span(),
            path,
            format!("trunk `{}` is listed twice", list[i]),
            Some("each trunk is tried once; list it once".into()),
        );
        return None;
    }
    (!broken).then_some(list)
}

fn emergency(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    known: &Known<'_>,
    refs: &mut Refs,
) -> Option<Emergency> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let numbers = sec.get(ctx, "numbers", |c, p, v| {
        walk::list_of(c, p, v, "[\"112\", \"110\"]", |c, p, item| {
            let n = digits(c, p, item, (2, 15), "an emergency number", "112")?;
            refs.push((Ref::EmergencyNumber(n.clone()), spot(c, p, &item.span())));
            Some(n)
        })
    });
    let trunks = sec.get(ctx, "trunks", |c, p, v| trunk_list(c, p, v, known));
    let numbers_span = numbers.span();
    sec.finish(ctx);
    let e = Emergency {
        numbers: numbers.or(Vec::new())?,
        trunks: trunks.or(Vec::new())?,
    };
    if let Some(span) = numbers_span
        && !e.numbers.is_empty()
        && known.trunks.is_empty()
        && known.broken.is_empty()
    {
        ctx.error(
            span,
            &format!("{path}.numbers"),
            "emergency numbers, but no trunk to call them over",
            Some(
                "define a [trunk.NAME] (emergency calls go out over every trunk by default)".into(),
            ),
        );
        return None;
    }
    Some(e)
}

/// One `[trunk.NAME]`, and its references.
fn trunk(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    name: String,
    at: Spot,
) -> Option<(Trunk, Refs)> {
    let s = Duration::from_secs;
    let mut refs = Refs::new();
    let host = sec.require(ctx, "host", "\"sip.provider.example\"", host);
    let port = sec.get(ctx, "port", |c, p, v| walk::uint(c, p, v, 1, 65535));
    let transport = sec.get(ctx, "transport", |c, p, v| {
        let t = walk::string(c, p, v)?.trim();
        match t {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => {
                c.error(
                    v.span(),
                    p,
                    "trunks over TLS are not supported yet; use udp or tcp",
                    Some("write `transport = \"udp\"` or `\"tcp\"`".into()),
                );
                None
            }
            other => {
                let hint = match closest(other, &["udp", "tcp", "tls"]) {
                    Some(n @ ("udp" | "tcp")) => format!("did you mean `{n}`?"),
                    _ => "trunks use \"udp\" or \"tcp\"".to_string(),
                };
                c.error(
                    v.span(),
                    p,
                    format!("unknown transport `{other}`"),
                    Some(hint),
                );
                None
            }
        }
    });
    let domain = sec.get(ctx, "domain", |c, p, v| {
        let d = self::host(c, p, v)?;
        Some(d)
    });
    let username = sec.get(ctx, "username", user);
    let auth_username = sec.get(ctx, "auth_username", user);
    let password = sec.get(ctx, "password", |c, p, v| {
        walk::nonempty(c, p, v).map(Secret::new)
    });
    let register = sec.get(ctx, "register", boolean);
    let expires = sec.get(ctx, "expires", |c, p, v| {
        walk::duration(c, p, v, s(60), s(86_400))
    });
    let retry = sec.get(ctx, "retry", |c, p, v| {
        walk::duration(c, p, v, s(1), s(3600))
    });
    let retry_max = sec.get(ctx, "retry_max", |c, p, v| {
        walk::duration(c, p, v, s(1), s(86_400))
    });
    let inbound_from = sec.get(ctx, "inbound_from", |c, p, v| {
        let nets = walk::list_of(c, p, v, "[\"192.0.2.0/24\"]", crate::config::net)?;
        if nets.is_empty() {
            c.error(
                v.span(),
                p,
                "an empty list would accept calls from nobody",
                Some("remove the line to accept calls from the provider's own address".into()),
            );
            return None;
        }
        Some(nets)
    });
    let context = sec.require(ctx, "context", "\"from-provider\"", |c, p, v| {
        let n = crate::dialplan::check_name(c, p, v)?;
        refs.push((Ref::Context(n.clone()), spot(c, p, &v.span())));
        Some(n)
    });
    let did = sec.get(ctx, "did", |c, p, v| {
        choice(
            c,
            p,
            v,
            &[
                ("request-uri", DidSource::RequestUri),
                ("to", DidSource::To),
            ],
        )
    });
    let max_channels = sec.get(ctx, "max_channels", |c, p, v| {
        walk::uint(c, p, v, 0, 100_000)
    });
    let caller_id = sec.get(ctx, "caller_id", phone_number);
    let from_user = sec.get(ctx, "from_user", user);
    let pai = sec.get(ctx, "pai", boolean);
    let number_format = sec.get(ctx, "number_format", |c, p, v| {
        choice(
            c,
            p,
            v,
            &[
                ("e164", NumberFormat::E164),
                ("no-plus", NumberFormat::NoPlus),
                ("national", NumberFormat::National),
            ],
        )
    });
    let qualify = sec.get(ctx, "qualify", |c, p, v| {
        walk::duration(c, p, v, s(0), s(3600))
    });
    let qualify_failures = sec.get(ctx, "qualify_failures", |c, p, v| {
        walk::uint(c, p, v, 1, 100)
    });

    // `register = true` needs credentials.
    let mut ok = true;
    if let Got::Val(true, span) = &register {
        let missing: Vec<&str> = [
            ("username", matches!(username, Got::Absent)),
            ("password", matches!(password, Got::Absent)),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(k, _)| *k)
        .collect();
        if !missing.is_empty() {
            let example = |k: &str| match k {
                "username" => "`username = \"4930123450\"`",
                _ => "`password = \"...\"`",
            };
            let adds: Vec<&str> = missing.iter().map(|k| example(k)).collect();
            ctx.error(
                span.clone(),
                &sec.key_path("register"),
                format!(
                    "`register = true` needs {}",
                    missing
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                Some(format!(
                    "add {} (the account of the provider), or `register = false` for a trunk that authenticates by IP",
                    adds.join(" and ")
                )),
            );
            ok = false;
        }
    }
    let retry_val = match &retry {
        Got::Val(d, _) => Some(*d),
        Got::Absent => Some(s(30)),
        Got::Bad => None,
    };
    if let (Some(r), Got::Val(m, span)) = (retry_val, &retry_max)
        && *m < r
    {
        ctx.error(
            span.clone(),
            &sec.key_path("retry_max"),
            format!(
                "`retry_max` ({}) is shorter than `retry` ({})",
                crate::config::fmt_duration(*m),
                crate::config::fmt_duration(r)
            ),
            Some(
                "retries double from `retry` up to `retry_max`; make retry_max at least retry"
                    .into(),
            ),
        );
        ok = false;
    }
    sec.finish(ctx);
    let opt = |g: Got<String>| match g {
        Got::Bad => None,
        g => Some(g.val()),
    };
    let host = host?;
    let domain = match domain {
        Got::Bad => return None,
        Got::Absent => host.clone(),
        Got::Val(d, _) => d,
    };
    let t = Trunk {
        name,
        port: port.or(5060)? as u16,
        transport: transport.or(Transport::Udp)?,
        domain,
        host,
        username: opt(username)?,
        auth_username: opt(auth_username)?,
        password: match password {
            Got::Bad => return None,
            g => g.val(),
        },
        register: register.or(false)?,
        expires: expires.or(s(600))?,
        retry: retry.or(s(30))?,
        retry_max: retry_max.or(s(600).max(retry_val.unwrap_or_default()))?,
        inbound_from: inbound_from.or(Vec::new())?,
        context: context?,
        did: did.or(DidSource::default())?,
        max_channels: max_channels.or(0)? as u32,
        caller_id: opt(caller_id)?,
        from_user: opt(from_user)?,
        pai: pai.or(false)?,
        number_format: number_format.or(NumberFormat::default())?,
        qualify: qualify.or(Duration::ZERO)?,
        qualify_failures: qualify_failures.or(3)? as u32,
        at,
    };
    ok.then_some((t, refs))
}

/// One `[[route]]`, with where each of its patterns is written.
fn route(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    known: &Known<'_>,
) -> Option<(OutRoute, Vec<Spot>)> {
    let mut at = spot(ctx, &sec.key_path("name"), &sec.span.clone());
    let name = sec.require(ctx, "name", "\"national\"", |c, p, v| {
        let n = walk::nonempty(c, p, v)?.trim();
        if !valid_name(n) {
            c.error(
                v.span(),
                p,
                format!("`{n}` is not a valid route name"),
                Some("use lowercase letters, digits, `-` and `_`, like \"national\"".into()),
            );
            return None;
        }
        at = spot(c, p, &v.span());
        Some(n.to_string())
    });
    let mut pattern_at = Vec::new();
    let patterns = sec.require(ctx, "match", "[\"_0Z.\"]", |c, p, v| {
        let mut one = |c: &mut Ctx<'_>, p: &str, v: &Value<'_>| {
            let s = match v.get_ref() {
                DeValue::Integer(i) => {
                    let hint = Some(format!("write it in quotes: \"{i}\""));
                    c.error(v.span(), p, "expected the number as a string", hint);
                    return None;
                }
                _ => walk::string(c, p, v)?,
            };
            match Pattern::parse(s) {
                Ok(pat) => {
                    pattern_at.push(spot(c, p, &v.span()));
                    Some(pat)
                }
                Err(e) => {
                    c.error(v.span(), p, e.message, Some(e.hint));
                    None
                }
            }
        };
        let list = match v.get_ref() {
            DeValue::String(_) | DeValue::Integer(_) => one(c, p, v).map(|x| vec![x])?,
            _ => walk::list_of(c, p, v, "[\"_0Z.\", \"_00Z.\"]", one)?,
        };
        if list.is_empty() {
            c.error(
                v.span(),
                p,
                "a route that matches no number",
                Some("list at least one pattern, like \"_0Z.\"".into()),
            );
            return None;
        }
        Some(list)
    });
    let strip = sec.get(ctx, "strip", |c, p, v| walk::uint(c, p, v, 0, 20));
    let prepend = sec.get(ctx, "prepend", |c, p, v| {
        let s = walk::string(c, p, v)?.trim();
        let body = s.strip_prefix('+').unwrap_or(s);
        if s.len() > 20 || !body.bytes().all(|b| b.is_ascii_digit()) {
            c.error(
                v.span(),
                p,
                format!("`{s}` cannot be put in front of a number"),
                Some("digits with an optional leading `+`, like \"0\" or \"+49\"".into()),
            );
            return None;
        }
        Some(s.to_string())
    });
    let e164 = sec.get(ctx, "e164", boolean);
    let trunks = sec.require(ctx, "trunks", "[\"provider\"]", |c, p, v| {
        let list = trunk_list(c, p, v, known)?;
        if list.is_empty() {
            c.error(
                v.span(),
                p,
                "a route with no trunk",
                Some("list the trunks to try in order, like [\"provider\"]".into()),
            );
            return None;
        }
        Some(list)
    });
    let class = sec.get(ctx, "class", |c, p, v| {
        if let DeValue::String(s) = v.get_ref()
            && s.trim() == "internal"
        {
            c.error(
                v.span(),
                p,
                "a route cannot have class `internal`",
                Some("`internal` is for extensions that make no outside calls; a route is local, national, international or premium".into()),
            );
            return None;
        }
        let outside: Vec<(&str, Class)> = Class::ALL
            .iter()
            .copied()
            .filter(|(_, c)| *c != Class::Internal)
            .collect();
        choice(c, p, v, &outside)
    });
    let caller_id = sec.get(ctx, "caller_id", |c, p, v| {
        let s = walk::string(c, p, v)?.trim();
        match s {
            "extension" => Some(CallerIdPolicy::Extension),
            "company" => Some(CallerIdPolicy::Company),
            n if is_phone_number(n) => Some(CallerIdPolicy::Number(n.to_string())),
            other => {
                let hint = match closest(other, &["extension", "company"]) {
                    Some(b) => format!("did you mean `{b}`?"),
                    None => "\"extension\" (the extension's `caller_id`, else the trunk's), \"company\" (the trunk's `caller_id`) or a number like \"+4930123459\"".into(),
                };
                c.error(
                    v.span(),
                    p,
                    format!("`{other}` is not a caller ID"),
                    Some(hint),
                );
                None
            }
        }
    });
    let e164_span = e164.span();
    let cid_span = caller_id.span();
    let e164_path = sec.key_path("e164");
    let cid_path = sec.key_path("caller_id");
    sec.finish(ctx);
    let r = OutRoute {
        name: name?,
        patterns: patterns?,
        strip: strip.or(0)? as usize,
        prepend: prepend.or(String::new())?,
        e164: e164.or(false)?,
        trunks: trunks?,
        class: class.or(Class::National)?,
        caller_id: caller_id.or(CallerIdPolicy::default())?,
        at,
    };
    let mut ok = true;
    if r.e164
        && !known.country
        && let Some(span) = e164_span
    {
        ctx.error(
            span,
            &e164_path,
            "`e164 = true` needs the country code",
            Some("add `[numbering]` with `country = \"49\"` (and `area` for local numbers)".into()),
        );
        ok = false;
    }
    if r.caller_id == CallerIdPolicy::Company
        && let Some(span) = cid_span
    {
        for t in &r.trunks {
            if known.trunks.get(t).is_some_and(|t| t.caller_id.is_none()) {
                ctx.error(
                    span.clone(),
                    &cid_path,
                    format!(
                        "route `{}` presents the company number, but trunk `{t}` has no `caller_id`",
                        r.name
                    ),
                    Some(format!(
                        "give [trunk.{t}] a `caller_id = \"+4930123450\"`, or write the number here"
                    )),
                );
                ok = false;
            }
        }
    }
    ok.then_some((r, pattern_at))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
