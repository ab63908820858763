//! Lexical helpers shared by the header parsers: tokens, LWS, quoted strings and
//! `;name=value` parameter lists (RFC 3261 §25.1).
//!
//! Header values reach these helpers already unfolded (one SP per fold, RFC 3261 §7.3.1), so
//! "LWS" here is just SP and HTAB.

use std::fmt;

use super::ParseError;

/// `token` characters: `alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"`
/// (RFC 3261 §25.1).
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// A non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

pub(crate) fn is_lws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP and HTAB on both ends.
pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Splits `s` at every `sep` that is outside a quoted string (and, if `angles`, outside `<...>`).
/// Quoted-pairs (`\x`) inside quotes are skipped. An unterminated quote or `<` is an error.
pub(crate) fn split_outside(s: &str, sep: u8, angles: bool) -> Result<Vec<&str>, ParseError> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quote {
            match b {
                b'\\' => i += 1,
                b'"' => in_quote = false,
                _ => {}
            }
        } else if in_angle {
            if b == b'>' {
                in_angle = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if angles && b == b'<' {
            in_angle = true;
        } else if b == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    if in_quote || in_angle {
        return Err(ParseError::BadNameAddr);
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// Parses a quoted string starting at `s[0] == '"'`; returns the unescaped content and the
/// number of bytes consumed (RFC 3261 §25.1 `quoted-string`, `quoted-pair`).
pub(crate) fn parse_quoted(s: &str) -> Result<(String, usize), ParseError> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return Err(ParseError::BadNameAddr);
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 1;
    let mut run = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                out.push_str(&s[run..i]);
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                let next = *bytes.get(i + 1).ok_or(ParseError::BadNameAddr)?;
                if next == b'\r' || next == b'\n' || next >= 0x80 {
                    return Err(ParseError::BadNameAddr);
                }
                out.push(next as char);
                i += 2;
                run = i;
            }
            b'"' => {
                out.push_str(&s[run..i]);
                return Ok((out, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(ParseError::BadNameAddr)
}

/// Writes `s` as a quoted string, escaping `"`, `\` and control characters with quoted-pairs.
/// CR and LF cannot be escaped (RFC 3261 §25.1) and are written as SP.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '\r' | '\n' => f.write_char(' ')?,
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A parameter list `name[=value]` pairs, values raw (quotes kept).
pub type Params = Vec<(String, Option<String>)>;

/// Parses `*( SEMI generic-param )` — `s` is the text after the first `;` of the list, or
/// empty. LWS is allowed around `;` and `=` (RFC 3261 §25.1 `SEMI`, `EQUAL`). Names must be
/// tokens; values are a token/host (no LWS, quotes or commas) or one quoted string, kept raw.
pub(crate) fn parse_params(s: &str, err: ParseError) -> Result<Params, ParseError> {
    let mut out = Vec::new();
    if trim_lws(s).is_empty() {
        return Ok(out);
    }
    for part in split_outside(s, b';', false).map_err(|_| err)? {
        out.push(parse_param(part, err)?);
    }
    Ok(out)
}

pub(crate) fn parse_param(
    part: &str,
    err: ParseError,
) -> Result<(String, Option<String>), ParseError> {
    let part = trim_lws(part);
    let (name, value) = match part.find('=') {
        Some(eq) => (trim_lws(&part[..eq]), Some(trim_lws(&part[eq + 1..]))),
        None => (part, None),
    };
    if !is_token(name) {
        return Err(err);
    }
    let value = match value {
        None => None,
        Some(v) if v.starts_with('"') => {
            let (_, used) = parse_quoted(v).map_err(|_| err)?;
            if used != v.len() {
                return Err(err);
            }
            Some(v.to_owned())
        }
        Some(v) => {
            if v.bytes()
                .any(|b| b <= b' ' || b == b'"' || b == b',' || b == 0x7f)
            {
                return Err(err);
            }
            Some(v.to_owned())
        }
    };
    Ok((name.to_owned(), value))
}

/// Case-insensitive parameter lookup: `Some(None)` for a flag, `Some(Some(v))` with a value.
pub(crate) fn find_param<'a>(params: &'a Params, name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// Replaces (or appends) a parameter, matching the name case-insensitively.
pub(crate) fn set_param(params: &mut Params, name: &str, value: Option<String>) {
    match params
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(slot) => slot.1 = value,
        None => params.push((name.to_owned(), value)),
    }
}

/// Writes `;name[=value]` for each parameter.
pub(crate) fn write_params(f: &mut impl fmt::Write, params: &Params) -> fmt::Result {
    for (n, v) in params {
        f.write_char(';')?;
        f.write_str(n)?;
        if let Some(v) = v {
            f.write_char('=')?;
            f.write_str(v)?;
        }
    }
    Ok(())
}

/// Removes one level of quotes (and quoted-pairs) from a raw parameter value.
pub(crate) fn unquote(v: &str) -> std::borrow::Cow<'_, str> {
    if v.starts_with('"') {
        if let Ok((s, used)) = parse_quoted(v) {
            if used == v.len() {
                return std::borrow::Cow::Owned(s);
            }
        }
    }
    std::borrow::Cow::Borrowed(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ignores_separators_inside_quotes_and_angles() {
        let parts = split_outside(r#""a,b" <sip:x;y,z>, c"#, b',', true).unwrap();
        assert_eq!(parts, vec![r#""a,b" <sip:x;y,z>"#, " c"]);
        assert!(split_outside(r#""open"#, b',', true).is_err());
    }

    #[test]
    fn quoted_string_resolves_quoted_pairs() {
        let (s, used) = parse_quoted(r#""J Rosenberg \\\"" rest"#).unwrap();
        assert_eq!(s, r#"J Rosenberg \""#);
        assert_eq!(used, 18);
        let mut out = String::new();
        write_quoted(&mut out, &s).unwrap();
        assert_eq!(out, r#""J Rosenberg \\\"""#);
    }

    #[test]
    fn params_allow_lws_around_separators() {
        let p = parse_params(" tag    = 1918181833n ;  lr", ParseError::BadNameAddr).unwrap();
        assert_eq!(p[0], ("tag".into(), Some("1918181833n".into())));
        assert_eq!(p[1], ("lr".into(), None));
        assert!(parse_params(";;", ParseError::BadNameAddr).is_err());
        assert!(parse_params("a=b c", ParseError::BadNameAddr).is_err());
    }
}
