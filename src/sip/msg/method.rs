//! SIP methods (RFC 3261 §7.1, §27.4 registry) and the CSeq header (RFC 3261 §20.16).
//!
//! Methods are case-sensitive tokens: `INVITE` is [`Method::Invite`], `invite` is
//! `Method::Other("invite")`. Any token is a valid method (RFC 4475 §3.1.1.2).

use std::fmt;

use super::ParseError;
use super::syntax::{is_token, trim_lws};

/// A request method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Prack,
    Update,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// Any other token, kept as sent.
    Other(String),
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }

    /// Maps a method token; case-sensitive as RFC 3261 §7.1 requires. Does not check that `s`
    /// is a token (the message parser does).
    pub fn parse(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `CSeq: 1*DIGIT LWS Method` (RFC 3261 §20.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value. The number must fit in 32 bits (RFC 3261 §8.1.1.5: "MUST be
    /// expressible as a 32-bit unsigned integer"); RFC 4475 §3.1.2.4 sends 2**65.
    pub fn parse(value: &str) -> Result<CSeq, ParseError> {
        let value = trim_lws(value);
        let digits_end = value
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(value.len());
        if digits_end == 0 {
            return Err(ParseError::BadCSeq);
        }
        let seq = value[..digits_end]
            .parse::<u32>()
            .map_err(|_| ParseError::BadCSeq)?;
        let rest = &value[digits_end..];
        let method = trim_lws(rest);
        // LWS between number and method is mandatory.
        if method.is_empty() || method.len() == rest.len() || !is_token(method) {
            return Err(ParseError::BadCSeq);
        }
        Ok(CSeq {
            seq,
            method: Method::parse(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}
