//! URIs: `sip:`/`sips:` (RFC 3261 §19.1, §25.1), `tel:` (RFC 3966) and any other scheme as an
//! opaque value (RFC 3261 §19.1: "absoluteURI"; RFC 4475 §3.3.2–§3.3.4).
//!
//! The user part, password, parameters and headers are kept exactly as sent (still
//! %-escaped, RFC 3261 §19.1.2); comparison rules (§19.1.4) belong to the caller. Printing a
//! parsed URI and parsing the result gives the same [`Uri`].
//!
//! Field use by scheme:
//! * `sip`/`sips`: `user`, `password`, `host` (IPv6 without brackets), `port`, `params`, `headers`.
//! * `tel`: `user` holds the number (`+1-201-555-0123`), `host` is empty, `params` as sent.
//! * other: `host` holds everything after `scheme:` verbatim; the other fields are empty.

use std::fmt;

use super::ParseError;
use super::syntax::find_param;

/// A parsed URI. See the module documentation for how each scheme uses the fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri {
    /// Lowercase scheme: `"sip"`, `"sips"`, `"tel"` or any other.
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Host name or address; an IPv6 reference without its brackets.
    pub host: String,
    pub port: Option<u16>,
    /// `;name[=value]` uri-parameters, raw.
    pub params: Vec<(String, Option<String>)>,
    /// The text after `?`, raw.
    pub headers: Option<String>,
}

impl Uri {
    /// Parses a URI. No surrounding whitespace or angle brackets are allowed.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        // Only visible ASCII in a URI (RFC 3261 §25.1: everything else is %-escaped).
        if s.is_empty() || !s.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(ParseError::BadUri);
        }
        let colon = s.find(':').ok_or(ParseError::BadUri)?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        let mut sb = scheme.bytes();
        if !sb.next().is_some_and(|b| b.is_ascii_alphabetic())
            || !sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(ParseError::BadUri);
        }
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "sip" | "sips" => parse_sip(scheme, rest),
            "tel" => parse_tel(scheme, rest),
            _ => {
                if rest.is_empty() || rest.bytes().any(|b| matches!(b, b'<' | b'>' | b'"')) {
                    return Err(ParseError::BadUri);
                }
                Ok(Uri {
                    scheme,
                    user: None,
                    password: None,
                    host: rest.to_owned(),
                    port: None,
                    params: Vec::new(),
                    headers: None,
                })
            }
        }
    }

    /// Case-insensitive uri-parameter lookup: `Some(None)` for a flag such as `;lr`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// True for `sip:` and `sips:` URIs.
    pub fn is_sip(&self) -> bool {
        self.scheme == "sip" || self.scheme == "sips"
    }

    /// `host` or `host:port` as printed in a URI (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        let mut s = String::new();
        write_host(&mut s, &self.host).ok();
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

/// Parses `userinfo@hostport;params?headers` (after `sip:`).
fn parse_sip(scheme: String, rest: &str) -> Result<Uri, ParseError> {
    // `@` cannot appear unescaped in user, password, params or headers (RFC 3261 §25.1), so the
    // first one ends the userinfo; user-unreserved allows `;` and `?` before it (RFC 4475
    // §3.1.1.9 `semiuri`, §3.1.1.2 `intmeth`).
    let (user, password, hostpart) = match rest.find('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.find(':') {
                Some(c) => (&userinfo[..c], Some(userinfo[c + 1..].to_owned())),
                None => (userinfo, None),
            };
            if user.is_empty() {
                return Err(ParseError::BadUri);
            }
            (Some(user.to_owned()), password, &rest[at + 1..])
        }
        None => (None, None, rest),
    };
    let (hostpart, headers) = match hostpart.find('?') {
        Some(q) => (&hostpart[..q], Some(hostpart[q + 1..].to_owned())),
        None => (hostpart, None),
    };
    let (hostport, params_str) = match hostpart.find(';') {
        Some(sc) => (&hostpart[..sc], Some(&hostpart[sc + 1..])),
        None => (hostpart, None),
    };
    let (host, port) = parse_hostport(hostport).ok_or(ParseError::BadUri)?;
    let mut params = Vec::new();
    if let Some(ps) = params_str {
        for p in ps.split(';') {
            params.push(parse_uri_param(p)?);
        }
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// `tel:` number with `;params` (RFC 3966 §3). The number is kept as sent.
fn parse_tel(scheme: String, rest: &str) -> Result<Uri, ParseError> {
    let mut parts = rest.split(';');
    let number = parts.next().unwrap_or("");
    if number.is_empty()
        || number
            .bytes()
            .any(|b| matches!(b, b'@' | b'?' | b'<' | b'>' | b'"'))
    {
        return Err(ParseError::BadUri);
    }
    let mut params = Vec::new();
    for p in parts {
        params.push(parse_uri_param(p)?);
    }
    Ok(Uri {
        scheme,
        user: Some(number.to_owned()),
        password: None,
        host: String::new(),
        port: None,
        params,
        headers: None,
    })
}

/// `pname[=pvalue]`: non-empty name; value may be empty. Both raw (paramchar incl. escapes);
/// the caller already checked for visible ASCII.
fn parse_uri_param(p: &str) -> Result<(String, Option<String>), ParseError> {
    if p.bytes().any(|b| b == b'"') {
        return Err(ParseError::BadUri);
    }
    match p.find('=') {
        Some(0) => Err(ParseError::BadUri),
        Some(eq) => Ok((p[..eq].to_owned(), Some(p[eq + 1..].to_owned()))),
        None if p.is_empty() => Err(ParseError::BadUri),
        None => Ok((p.to_owned(), None)),
    }
}

/// `host [ ":" port ]`, `host` = hostname / IPv4address / `[` IPv6reference `]`.
pub(crate) fn parse_hostport(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port_str) = if let Some(v6) = s.strip_prefix('[') {
        let end = v6.find(']')?;
        let addr = &v6[..end];
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
            || !addr.contains(':')
        {
            return None;
        }
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (addr, port)
    } else {
        let (h, p) = match s.find(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        };
        // hostname / IPv4address; `_` is not in the grammar but is seen in the wild.
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return None;
        }
        (h, p)
    };
    let port = match port_str {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(p.parse::<u16>().ok()?)
        }
    };
    Some((host.to_owned(), port))
}

/// Writes a host, bracketing IPv6 addresses.
pub(crate) fn write_host(f: &mut impl fmt::Write, host: &str) -> fmt::Result {
    if host.contains(':') {
        write!(f, "[{host}]")
    } else {
        f.write_str(host)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        f.write_str(":")?;
        match self.scheme.as_str() {
            "sip" | "sips" => {
                if let Some(u) = &self.user {
                    f.write_str(u)?;
                    if let Some(p) = &self.password {
                        write!(f, ":{p}")?;
                    }
                    f.write_str("@")?;
                }
                write_host(f, &self.host)?;
                if let Some(p) = self.port {
                    write!(f, ":{p}")?;
                }
            }
            "tel" => f.write_str(self.user.as_deref().unwrap_or(""))?,
            _ => return f.write_str(&self.host),
        }
        for (n, v) in &self.params {
            write!(f, ";{n}")?;
            if let Some(v) = v {
                write!(f, "={v}")?;
            }
        }
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> Uri {
        let u = Uri::parse(s).unwrap();
        assert_eq!(
            Uri::parse(&u.to_string()).unwrap(),
            u,
            "{s} reprints to an equal URI"
        );
        u
    }

    #[test]
    fn sip_uri_with_everything() {
        let u = rt("SIP:alice:secret@Example.COM:5070;transport=tcp;lr?subject=hi");
        assert_eq!(u.scheme, "sip");
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, "Example.COM");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.param("TRANSPORT"), Some(Some("tcp")));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.param("maddr"), None);
        assert_eq!(u.headers.as_deref(), Some("subject=hi"));
        assert_eq!(
            u.to_string(),
            "sip:alice:secret@Example.COM:5070;transport=tcp;lr?subject=hi"
        );
    }

    #[test]
    fn ipv6_host_is_stored_without_brackets_and_printed_with_them() {
        let u = rt("sips:bob@[2001:db8::10]:5061;transport=tls");
        assert_eq!(u.host, "2001:db8::10");
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.to_string(), "sips:bob@[2001:db8::10]:5061;transport=tls");
        let u = rt("sip:[::1]");
        assert_eq!((u.host.as_str(), u.port), ("::1", None));
        assert!(Uri::parse("sip:[::1").is_err());
        assert!(Uri::parse("sip:[zz::1]").is_err());
        assert!(Uri::parse("sip:[::1]5060").is_err());
    }

    #[test]
    fn tel_uri_keeps_number_in_user() {
        let u = rt("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(u.scheme, "tel");
        assert_eq!(u.user.as_deref(), Some("+1-201-555-0123"));
        assert_eq!(u.host, "");
        assert_eq!(u.param("phone-context"), Some(Some("example.com")));
        assert!(Uri::parse("tel:").is_err());
    }

    #[test]
    fn unknown_schemes_are_opaque() {
        let u = rt("nobodyKnowsThisScheme:totallyopaquecontent");
        assert_eq!(u.scheme, "nobodyknowsthisscheme");
        assert_eq!(u.host, "totallyopaquecontent");
        let u = rt("soap.beep://192.0.2.103:3002");
        assert_eq!(u.host, "//192.0.2.103:3002");
        assert!(Uri::parse("1abc:x").is_err());
        assert!(Uri::parse(":x").is_err());
    }

    #[test]
    fn user_part_may_hold_semicolons_and_question_marks() {
        let u = rt("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        let u = rt(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
    }

    #[test]
    fn malformed_uris_are_rejected() {
        for bad in [
            "",
            "sip:",
            "sip:@host",
            "sip:host:",
            "sip:host:99999",
            "sip:host:12a",
            "sip:ho st",
            "sip:host;",
            "sip:host;;lr",
            "sip:host;=x",
            "<sip:host>",
            " sip:host",
            "sip:host ",
            "sip:h\u{e9}st",
            "sip:a@",
            "sip:a@b;x=\"y\"",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn escaped_bytes_stay_escaped() {
        let u = rt("sip:null-%00-null@example.com");
        assert_eq!(u.user.as_deref(), Some("null-%00-null"));
        let u = rt("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        assert_eq!(u.params[0], ("%6C%72".into(), None));
        assert_eq!(
            u.params[1],
            ("n%61me".into(), Some("v%61lue%25%34%31".into()))
        );
    }
}
