//! The Via header (RFC 3261 §20.42, §18.2.1 `received`, RFC 3581 `rport`).
//!
//! `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`, with LWS allowed around the
//! `/` of `sent-protocol` and the `:` of `sent-by` (RFC 3261 §25.1 `SLASH`, `COLON`; RFC 4475
//! §3.1.1.1 `wsinv`). One header value may hold several comma-separated via-parms. IPv6
//! sent-by hosts are bracketed on the wire and stored without brackets.

use std::fmt;

use super::ParseError;
use super::syntax::{
    find_param, is_token_char, parse_params, set_param, split_outside, trim_lws, write_params,
};
use super::uri::{parse_hostport, write_host};

/// One via-parm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Uppercase transport: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS` or any token.
    pub transport: String,
    /// Host or address; IPv6 without brackets.
    pub host: String,
    pub port: Option<u16>,
    /// `;branch=...;received=...;rport...`, raw.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Parses a single via-parm (no commas).
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let err = ParseError::BadVia;
        let s = trim_lws(s);
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport
        let mut rest = s;
        let name = take_token(&mut rest);
        rest = slash(rest).ok_or(err)?;
        let version = take_token(&mut rest);
        rest = slash(rest).ok_or(err)?;
        let transport = take_token(&mut rest);
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
            return Err(err);
        }
        // LWS between sent-protocol and sent-by is mandatory.
        if !rest.starts_with([' ', '\t']) {
            return Err(err);
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (sent_by, params) = match rest.find(';') {
            Some(sc) => (&rest[..sc], Some(&rest[sc + 1..])),
            None => (rest, None),
        };
        // COLON = SWS ":" SWS — drop LWS around the port colon.
        let sent_by: String = trim_lws(sent_by)
            .split(':')
            .map(trim_lws)
            .collect::<Vec<_>>()
            .join(":");
        let (host, port) = parse_hostport(&sent_by).ok_or(err)?;
        let params = match params {
            Some(p) => parse_params(p, err)?,
            None => Vec::new(),
        };
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// `;branch=` (RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// `;received=` (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// `;rport` (RFC 3581): `Some(None)` = flag without value, `Some(Some(p))` = filled in.
    /// A value that is not a port reads as `Some(None)`.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// Case-insensitive parameter lookup: `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// Sets (replacing) or adds a parameter, e.g. `received` and `rport` on the server side.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        set_param(&mut self.params, name, value);
    }

    /// `host[:port]` as it appears in the Via (IPv6 bracketed).
    pub fn sent_by(&self) -> String {
        let mut s = String::new();
        write_host(&mut s, &self.host).ok();
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} ", self.transport)?;
        write_host(f, &self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// Parses one Via header value, which may hold several comma-separated via-parms.
pub fn parse_via_list(value: &str) -> Result<Vec<Via>, ParseError> {
    split_outside(value, b',', false)
        .map_err(|_| ParseError::BadVia)?
        .into_iter()
        .map(Via::parse)
        .collect()
}

fn take_token<'a>(s: &mut &'a str) -> &'a str {
    let end = s.bytes().position(|b| !is_token_char(b)).unwrap_or(s.len());
    let (tok, rest) = s.split_at(end);
    *s = rest;
    tok
}

/// `SLASH = SWS "/" SWS`
fn slash(s: &str) -> Option<&str> {
    Some(
        s.trim_start_matches([' ', '\t'])
            .strip_prefix('/')?
            .trim_start_matches([' ', '\t']),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(s: &str) -> Via {
        let v = Via::parse(s).unwrap();
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v, "{s} reprints equal");
        v
    }

    #[test]
    fn plain_via_with_rport_flag() {
        let v = rt("SIP/2.0/udp 192.0.2.1:5060;branch=z9hG4bK776;rport");
        assert_eq!(v.transport, "UDP");
        assert_eq!((v.host.as_str(), v.port), ("192.0.2.1", Some(5060)));
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), None);
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport"
        );
    }

    #[test]
    fn server_fills_in_received_and_rport() {
        let mut v = rt("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKx");
        v.set_param("received", Some("203.0.113.9".into()));
        v.set_param("RPORT", Some("40112".into()));
        assert_eq!(v.received(), Some("203.0.113.9"));
        assert_eq!(v.rport(), Some(Some(40112)));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 10.0.0.5:5060;rport=40112;branch=z9hG4bKx;received=203.0.113.9"
        );
    }

    #[test]
    fn ipv6_sent_by() {
        let v = rt("SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKa");
        assert_eq!((v.host.as_str(), v.port), ("2001:db8::9", Some(5070)));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKa"
        );
        let v = rt("SIP/2.0/TLS [::1];branch=z9hG4bKb");
        assert_eq!((v.host.as_str(), v.port), ("::1", None));
    }

    #[test]
    fn lws_everywhere_in_sent_protocol() {
        let v = rt("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw");
        assert_eq!(v.host, "192.0.2.2");
        let list = parse_via_list(
            "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].transport, "TCP");
        assert_eq!(list[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(list[1].host, "192.168.255.111");
        assert_eq!(list[1].branch(), Some("z9hG4bK30239"));
        let v = rt("SIP/2.0/UDP host : 5060 ;branch=z");
        assert_eq!(v.port, Some(5060));
    }

    #[test]
    fn malformed_vias_are_rejected() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
            "SIP/2.0 host",
            "SIP/2.0/UDP",
            "SIP/2.0/UDPhost",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host;branch=a b",
            "",
        ] {
            assert!(parse_via_list(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
