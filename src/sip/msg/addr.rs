//! Addresses: `name-addr` / `addr-spec` with header parameters (From, To, Contact, Route,
//! Record-Route, Refer-To, ... — RFC 3261 §20.10, §20.20, §20.39, §25.1) and the Contact list
//! (RFC 3261 §20.10, §10.2.2 `*`; RFC 5626 §4.2 `reg-id`, `+sip.instance`).
//!
//! Accepted forms: `"quoted" <uri>;p`, `token display <uri>;p`, `<uri>;p`, and the bare
//! `addr-spec;p` form, where (RFC 3261 §20.10) everything after the first `;` is a header
//! parameter and the URI may not contain `,` or `?` — such URIs must be in `<>` (RFC 4475
//! §3.1.2.13 `regbadct`). Display names that are neither tokens nor quoted are rejected
//! (§3.1.2.15 `baddn`), as is LWS inside `<...>` (§3.1.2.14 `badaspec`).

use std::fmt;

use super::ParseError;
use super::syntax::{
    find_param, is_lws, is_token_char, parse_params, parse_quoted, split_outside, trim_lws,
    unquote, write_params, write_quoted,
};
use super::uri::Uri;

/// A name-addr or addr-spec with its header parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and with quoted-pairs resolved.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (`;tag=...`, `;expires=...`), values raw (quotes kept).
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// Parses one address (not a comma-separated list).
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = trim_lws(s);
        let err = ParseError::BadNameAddr;
        let (display, uri_str, rest) = if s.starts_with('"') {
            let (display, used) = parse_quoted(s)?;
            let after = s[used..].trim_start_matches([' ', '\t']);
            let inner = after.strip_prefix('<').ok_or(err)?;
            let end = inner.find('>').ok_or(err)?;
            (Some(display), &inner[..end], &inner[end + 1..])
        } else if let Some(lt) = s
            .find('<')
            .filter(|&lt| s.find(';').is_none_or(|sc| lt < sc))
        {
            let display = trim_lws(&s[..lt]);
            // display-name = *(token LWS): tokens separated by LWS.
            if !display.bytes().all(|b| is_token_char(b) || is_lws(b)) {
                return Err(err);
            }
            let inner = &s[lt + 1..];
            let end = inner.find('>').ok_or(err)?;
            let display = (!display.is_empty()).then(|| display.to_owned());
            (display, &inner[..end], &inner[end + 1..])
        } else {
            // addr-spec form: the URI ends at the first `;` (RFC 3261 §20.10).
            let (uri, rest) = match s.find(';') {
                Some(sc) => (trim_lws(&s[..sc]), &s[sc..]),
                None => (s, ""),
            };
            if uri.bytes().any(|b| b == b',' || b == b'?') {
                return Err(err);
            }
            (None, uri, rest)
        };
        let uri = Uri::parse(uri_str).map_err(|_| err)?;
        let rest = trim_lws(rest);
        let params = match rest.strip_prefix(';') {
            Some(p) => parse_params(p, err)?,
            None if rest.is_empty() => Vec::new(),
            None => return Err(err),
        };
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Case-insensitive header-parameter lookup: `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }
}

impl fmt::Display for NameAddr {
    /// Always `"display" <uri>;params` (or `<uri>;params`): angle brackets keep URI
    /// parameters apart from header parameters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write_quoted(f, d)?;
            f.write_str(" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// A Contact header value: `*` or a list of addresses (RFC 3261 §20.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *` (remove all bindings, RFC 3261 §10.2.2).
    Star,
    Addrs(Vec<ContactAddr>),
}

/// One contact address. Its parameters (`expires`, `q`, `+sip.instance`, `reg-id`, ...) are in
/// `addr.params`, raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactAddr {
    pub addr: NameAddr,
}

impl ContactAddr {
    /// `;expires=` as a number of seconds (RFC 3261 §20.10); values over 2**32-1 saturate.
    pub fn expires(&self) -> Option<u32> {
        let v = self.addr.param("expires").flatten()?;
        parse_delta_seconds(v)
    }

    /// `;q=` as sent (`"0.5"`).
    pub fn q(&self) -> Option<&str> {
        self.addr.param("q").flatten()
    }

    /// `;+sip.instance=` raw, with its quotes (RFC 5626 §4.1: `"<urn:uuid:...>"`).
    pub fn instance(&self) -> Option<&str> {
        self.addr.param("+sip.instance").flatten()
    }

    /// `;+sip.instance=` without quotes and angle brackets (`urn:uuid:...`).
    pub fn instance_urn(&self) -> Option<String> {
        let raw = self.instance()?;
        let v = unquote(raw);
        let v = v
            .strip_prefix('<')
            .and_then(|v| v.strip_suffix('>'))
            .unwrap_or(&v);
        Some(v.to_owned())
    }

    /// `;reg-id=` (RFC 5626 §4.2).
    pub fn reg_id(&self) -> Option<u32> {
        self.addr.param("reg-id").flatten()?.parse().ok()
    }
}

/// `delta-seconds`: digits; values larger than 2**32-1 are taken as 2**32-1 (RFC 3261 §20.19
/// semantics applied to all delta-seconds).
pub fn parse_delta_seconds(v: &str) -> Option<u32> {
    let v = trim_lws(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

/// Parses a Contact header value: `*`, or a comma-separated list of addresses. Commas inside
/// quotes and `<...>` do not split.
pub fn parse_contact(value: &str) -> Result<Contact, ParseError> {
    let v = trim_lws(value);
    if let Some(rest) = v.strip_prefix('*') {
        // `*` alone; tolerate trailing params (`*;expires=0`, seen in the wild) but nothing else.
        let rest = trim_lws(rest);
        return if rest.is_empty() || rest.starts_with(';') {
            Ok(Contact::Star)
        } else {
            Err(ParseError::BadContact)
        };
    }
    let mut addrs = Vec::new();
    for part in split_outside(v, b',', true).map_err(|_| ParseError::BadContact)? {
        let addr = NameAddr::parse(part).map_err(|_| ParseError::BadContact)?;
        addrs.push(ContactAddr { addr });
    }
    Ok(Contact::Addrs(addrs))
}

/// Parses a comma-separated list of name-addrs (Route, Record-Route, Path, ...).
pub fn parse_name_addr_list(value: &str) -> Result<Vec<NameAddr>, ParseError> {
    split_outside(value, b',', true)?
        .into_iter()
        .map(NameAddr::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> NameAddr {
        let a = NameAddr::parse(s).unwrap();
        assert_eq!(
            NameAddr::parse(&a.to_string()).unwrap(),
            a,
            "{s} reprints equal"
        );
        a
    }

    #[test]
    fn quoted_display_with_escapes() {
        let a = rt(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#);
        assert_eq!(a.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(a.uri.user.as_deref(), Some("jdrosen"));
        assert_eq!(a.tag(), Some("98asjd8"));
        assert_eq!(
            a.to_string(),
            r#""J Rosenberg \\\"" <sip:jdrosen@example.com>;tag=98asjd8"#
        );
    }

    #[test]
    fn token_display_and_no_lws_before_angle() {
        let a = rt("caller<sip:caller@example.com>;tag=323");
        assert_eq!(a.display.as_deref(), Some("caller"));
        let a = rt("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=x");
        assert_eq!(a.display.as_deref(), Some("token1~` token2'+_ token3*%!.-"));
        assert_eq!(
            a.to_string(),
            "\"token1~` token2'+_ token3*%!.-\" <sip:mundane@example.com>;tag=x"
        );
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let a = rt("sip:+19725552222@gw1.example.net;unknownparam");
        assert!(a.uri.params.is_empty());
        assert_eq!(a.param("unknownparam"), Some(None));
        let a = rt("<sip:+19725552222@gw1.example.net;unknownparam>");
        assert_eq!(a.uri.param("unknownparam"), Some(None));
        assert!(a.params.is_empty());
        let a = rt("sip:a@b;+sip.instance=\"<urn:uuid:1>\"");
        assert_eq!(a.param("+SIP.INSTANCE"), Some(Some("\"<urn:uuid:1>\"")));
        let a = rt("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n");
        assert_eq!(a.tag(), Some("1918181833n"));
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "<sip:joe@example.org>;;;;",
            "<sip:joe@example.org> junk",
            "<sip:joe@example.org",
            "sip:a@b;+sip.instance=\"<urn:x>",
            "",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn contact_star_and_lists_with_quoted_commas() {
        assert_eq!(parse_contact(" * ").unwrap(), Contact::Star);
        let Contact::Addrs(list) = parse_contact(
            r#""Doe, John" <sip:a@h1;x=1,2>;q=0.7;expires=60, <sip:b@h2>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1, sip:c@h3"#,
        )
        .unwrap() else {
            panic!("a list");
        };
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].addr.display.as_deref(), Some("Doe, John"));
        assert_eq!(list[0].q(), Some("0.7"));
        assert_eq!(list[0].expires(), Some(60));
        assert_eq!(
            list[1].instance(),
            Some("\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"")
        );
        assert_eq!(
            list[1].instance_urn().as_deref(),
            Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
        );
        assert_eq!(list[1].reg_id(), Some(1));
        assert_eq!(list[2].addr.uri.host, "h3");
        assert!(parse_contact("<sip:a@b>,,<sip:c@d>").is_err());
        assert!(parse_contact("*x").is_err());
    }

    #[test]
    fn expires_saturates() {
        let Contact::Addrs(l) = parse_contact("<sip:u@h>;expires=280297596632815").unwrap() else {
            panic!()
        };
        assert_eq!(l[0].expires(), Some(u32::MAX));
    }
}
