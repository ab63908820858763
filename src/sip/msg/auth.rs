//! Authorization / Proxy-Authorization credentials and WWW-/Proxy-Authenticate challenges
//! (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 2617 §3.2; RFC 7616).
//!
//! `credentials = auth-scheme LWS auth-param *(COMMA auth-param)`: parameter names are
//! lowercased; quoted values are unquoted with quoted-pairs resolved; token values are kept as
//! sent. The digest arithmetic lives elsewhere (`sip::auth`).

use super::ParseError;
use super::syntax::{is_token, parse_quoted, split_outside, trim_lws};

/// An auth-scheme and its parameters. The same shape serves challenges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// As sent (`Digest`); compare case-insensitively.
    pub scheme: String,
    /// `(lowercase name, unquoted value)` in order.
    pub params: Vec<(String, String)>,
}

/// A WWW-Authenticate / Proxy-Authenticate challenge has the same syntax.
pub type Challenge = Credentials;

impl Credentials {
    /// Parses `Digest username="..", realm="..", ...` (or any other scheme's auth-params).
    pub fn parse(value: &str) -> Result<Credentials, ParseError> {
        let err = ParseError::BadCredentials;
        let v = trim_lws(value);
        let sp = v.find([' ', '\t']).unwrap_or(v.len());
        let scheme = &v[..sp];
        if !is_token(scheme) {
            return Err(err);
        }
        let rest = trim_lws(&v[sp..]);
        let mut params = Vec::new();
        if rest.is_empty() {
            return Ok(Credentials {
                scheme: scheme.to_owned(),
                params,
            });
        }
        for part in split_outside(rest, b',', false).map_err(|_| err)? {
            let part = trim_lws(part);
            let eq = part.find('=').ok_or(err)?;
            let name = trim_lws(&part[..eq]);
            let raw = trim_lws(&part[eq + 1..]);
            if !is_token(name) {
                return Err(err);
            }
            let value = if raw.starts_with('"') {
                let (s, used) = parse_quoted(raw).map_err(|_| err)?;
                if used != raw.len() {
                    return Err(err);
                }
                s
            } else {
                // token (nc=00000001, algorithm=MD5, qop=auth); RFC 2617 §3.2.2 tolerance: any
                // run of visible characters without quotes.
                if raw.is_empty() || raw.bytes().any(|b| b <= b' ' || b == b'"' || b == 0x7f) {
                    return Err(err);
                }
                raw.to_owned()
            };
            params.push((name.to_ascii_lowercase(), value));
        }
        Ok(Credentials {
            scheme: scheme.to_owned(),
            params,
        })
    }

    /// The first parameter with this (case-insensitive) name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the scheme is `Digest` (any case).
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("digest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_authorization_with_all_fields() {
        let c = Credentials::parse(
            r#"Digest username="1001", realm="pbx.example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:pbx.example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert!(c.is_digest());
        assert_eq!(c.get("username"), Some("1001"));
        assert_eq!(c.get("URI"), Some("sip:pbx.example.com"));
        assert_eq!(c.get("algorithm"), Some("MD5"));
        assert_eq!(c.get("qop"), Some("auth"));
        assert_eq!(c.get("nc"), Some("00000001"));
        assert_eq!(c.get("opaque"), Some("5ccc069c403ebaf9f0171e9517f40e41"));
        assert_eq!(c.get("stale"), None);
    }

    #[test]
    fn escaped_quotes_and_commas_inside_values() {
        let c = Credentials::parse(
            "Digest  username = \"a\\\"b\\\\c, d\" ,realm=\"r\",Nonce=\"n\",uri=\"sip:x;a=b,c\"",
        )
        .unwrap();
        assert_eq!(c.get("username"), Some("a\"b\\c, d"));
        assert_eq!(c.get("nonce"), Some("n"));
        assert_eq!(c.params[2].0, "nonce");
        assert_eq!(c.get("uri"), Some("sip:x;a=b,c"));
    }

    #[test]
    fn unknown_scheme_and_challenges() {
        let c = Credentials::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(c.scheme, "NoOneKnowsThisScheme");
        assert!(!c.is_digest());
        assert_eq!(c.get("opaque-data"), Some("here"));
        let ch: Challenge = Credentials::parse(
            r#"Digest realm="test21.djangopbx.com",nonce="ab84b282",algorithm=MD5,qop="auth""#,
        )
        .unwrap();
        assert_eq!(ch.get("qop"), Some("auth"));
    }

    #[test]
    fn malformed_credentials_are_rejected() {
        for bad in [
            "",
            "Digest username",
            "Digest username=\"x",
            "Digest a=\"x\"y",
            "Di@gest a=b",
            "Digest =x",
            "Digest a=b,,c=d",
        ] {
            assert!(Credentials::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
