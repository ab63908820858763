//! `extensions.toml` and `extensions/*.toml`: `[[extension]]` tables, one per number.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Extension;
use super::server::net;
use super::types::Secret;
use super::walk::{self, Ctx, Got, Section, Span, Value};

const ELSEWHERE: &[(&str, &str)] = &[
    ("server", "server settings go in zvon.toml"),
    ("sip", "SIP settings go in zvon.toml"),
    ("rtp", "RTP settings go in zvon.toml"),
    ("registrar", "registrar settings go in zvon.toml"),
    ("security", "security settings go in zvon.toml"),
];

/// The valid extensions of one file with their 1-based index in the file and the span of
/// their `number` value (for duplicate reports). Invalid ones are reported and left out.
pub(crate) fn check(
    ctx: &mut Ctx<'_>,
    doc: &Spanned<DeTable<'_>>,
) -> Vec<(usize, Extension, Span)> {
    let mut root = Section::new("", doc.get_ref(), doc.span()).with_elsewhere(ELSEWHERE);
    let mut out = Vec::new();
    if let Some(v) = root.raw("extension") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("extension[{}]", i + 1);
                    if let Some(t) = walk::table(ctx, &path, item)
                        && let Some((ext, span)) =
                            extension(ctx, Section::new(path, t, item.span()))
                    {
                        out.push((i + 1, ext, span));
                    }
                }
            }
            DeValue::Table(_) => ctx.error(
                v.span(),
                "extension",
                "`extension` must be a list of tables",
                Some("write each phone as `[[extension]]` with double brackets".into()),
            ),
            other => ctx.error(
                v.span(),
                "extension",
                format!(
                    "expected `[[extension]]` tables, found {}",
                    walk::describe(other)
                ),
                Some("write each phone as `[[extension]]` with double brackets".into()),
            ),
        }
    }
    root.finish(ctx);
    out
}

fn number(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = match v.get_ref() {
        DeValue::Integer(i) => {
            let hint = Some(format!("write it in quotes: number = \"{i}\""));
            ctx.error(v.span(), path, "expected the number as a string", hint);
            return None;
        }
        _ => walk::string(ctx, path, v)?,
    };
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        let hint = if s.starts_with('*') || s.starts_with('#') {
            "codes starting with * or # are feature codes (dial plan), not extensions"
        } else {
            "an extension number is 2 to 15 digits, like \"1001\""
        };
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not an extension number"),
            Some(hint.into()),
        );
        return None;
    }
    if !(2..=15).contains(&s.len()) {
        let msg = format!(
            "`{s}` has {} digits; extension numbers have 2 to 15",
            s.len()
        );
        ctx.error(v.span(), path, msg, None);
        return None;
    }
    Some(s.to_string())
}

fn extension(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>) -> Option<(Extension, Span)> {
    let number_span = sec.raw("number").map(|v| v.span());
    let number = sec.require(ctx, "number", "\"1001\"", number);
    let name = sec.get(ctx, "name", |c, p, v| {
        walk::nonempty(c, p, v).map(str::to_string)
    });
    let password = sec.require(ctx, "password", "\"a-long-secret\"", |c, p, v| {
        walk::nonempty(c, p, v).map(Secret::new)
    });
    let max_contacts = sec.get(ctx, "max_contacts", |c, p, v| {
        walk::uint(c, p, v, 1, 100).map(|n| n as u32)
    });
    let allow = sec.get(ctx, "allow", |c, p, v| {
        let nets = walk::list_of(c, p, v, "[\"192.168.1.0/24\"]", net)?;
        if nets.is_empty() {
            let hint = Some("remove the `allow` line to allow registration from anywhere".into());
            c.error(
                v.span(),
                p,
                "an empty list would let no phone register",
                hint,
            );
            return None;
        }
        Some(nets)
    });
    let fwd = |key: &'static str, sec: &mut Section<'_, '_>, ctx: &mut Ctx<'_>| {
        sec.get(ctx, key, |c, p, v| target(c, p, v).map(Some))
    };
    let forward_always = fwd("forward_always", &mut sec, ctx);
    let forward_busy = fwd("forward_busy", &mut sec, ctx);
    let forward_noanswer = fwd("forward_noanswer", &mut sec, ctx);
    let dnd = sec.get(ctx, "dnd", boolean);
    let call_waiting = sec.get(ctx, "call_waiting", boolean);
    let mwi_unsolicited = sec.get(ctx, "mwi_unsolicited", boolean);
    let voicemail_pin = sec.get(ctx, "voicemail_pin", |c, p, v| {
        let s = walk::string(c, p, v)?.trim();
        if !(4..=10).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            c.error(
                v.span(),
                p,
                format!("`{s}` is not a PIN"),
                Some("4 to 10 digits, like \"4711\"".into()),
            );
            return None;
        }
        Some(Some(s.to_string()))
    });
    let pickup_group = sec.get(ctx, "pickup_group", |c, p, v| {
        walk::nonempty(c, p, v).map(|s| Some(s.trim().to_string()))
    });
    let class = sec.get(ctx, "class", |c, p, v| {
        use crate::trunk::Class;
        let s = walk::string(c, p, v)?.trim();
        if let Some(class) = Class::parse(s) {
            return Some(Some(class));
        }
        let names: Vec<&str> = Class::ALL.iter().map(|(n, _)| *n).collect();
        let hint = match super::error::closest(s, &names) {
            Some(b) => format!("did you mean `{b}`?"),
            None => format!(
                "one of {} (what the extension may dial out; default: trunks.toml [defaults] class)",
                names.join(", ")
            ),
        };
        c.error(
            v.span(),
            p,
            format!("unknown class of service `{s}`"),
            Some(hint),
        );
        None
    });
    let caller_id = sec.get(ctx, "caller_id", |c, p, v| {
        crate::trunk::config::phone_number(c, p, v).map(Some)
    });
    sec.finish(ctx);
    let name = match name {
        Got::Bad => return None,
        got => got.val(),
    };
    let ext = Extension {
        number: number?,
        name,
        password: password?,
        max_contacts: max_contacts.or(3)?,
        allow: allow.or(Vec::new())?,
        forward_always: forward_always.or(None)?,
        forward_busy: forward_busy.or(None)?,
        forward_noanswer: forward_noanswer.or(None)?,
        dnd: dnd.or(false)?,
        call_waiting: call_waiting.or(true)?,
        pickup_group: pickup_group.or(None)?,
        voicemail_pin: voicemail_pin.or(None)?,
        mwi_unsolicited: mwi_unsolicited.or(false)?,
        class: class.or(None)?,
        caller_id: caller_id.or(None)?,
    };
    Some((ext, number_span?))
}

/// `true` or `false`.
pub(crate) fn boolean(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<bool> {
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

/// A number calls can be forwarded to: an extension, or later any number the dial plan can
/// reach (digits, optionally with a leading `+`).
fn target(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = walk::string(ctx, path, v)?.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 20 {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not a number to forward to"),
            Some("an extension like \"1002\" or a number like \"+4930123456\"".into()),
        );
        return None;
    }
    Some(s.to_string())
}
