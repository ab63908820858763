//! The SDP data model, its parser and its printer (RFC 8866 §5 / RFC 4566 §5, grammar §9).
//!
//! Parsing is liberal in what it accepts and strict on structure:
//! * LF or CRLF line ends; trailing spaces, tabs and CRs on a line are dropped; blank lines are
//!   skipped; bytes that are not UTF-8 are replaced (U+FFFD), never a panic.
//! * `v=0` must be the first line and `o=` must be present and well formed; `m=` needs a
//!   media type, a numeric port (`port[/count]`) and a protocol; `c=` must carry an IP literal.
//! * Unknown line types and attributes are kept in order (`extra`, `attrs`) and printed back;
//!   a missing `t=` reads as `t=0 0` so the printed form is always valid.
//!
//! Printing ([`std::fmt::Display`]) uses CRLF and the field order of RFC 8866 §5:
//! session `v o s i u e p c b t r z k a`, then per media `m i c b k a`. The printed form parses
//! back to an equal [`Sdp`] and is a fixed point of print∘parse.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::media::Direction;

/// Why an SDP body was refused. Line numbers count from 1 and include blank lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// No non-blank line at all.
    #[error("empty SDP body")]
    Empty,
    /// The first line is not `v=` (RFC 8866 §5: the session description starts with `v=`).
    #[error("SDP must start with v=")]
    MissingVersion,
    /// `v=` is not `0`.
    #[error("unsupported SDP version at line {line}")]
    BadVersion {
        /// Line number.
        line: usize,
    },
    /// A line that is not `<lowercase letter>=<text>`.
    #[error("malformed SDP line {line}")]
    BadLine {
        /// Line number.
        line: usize,
    },
    /// A second `v=`, `o=` or `s=`, or an `o=`/`s=` inside a media section.
    #[error("misplaced or duplicate {kind}= at line {line}")]
    Misplaced {
        /// The line type.
        kind: char,
        /// Line number.
        line: usize,
    },
    /// No `o=` line.
    #[error("SDP has no o= line")]
    MissingOrigin,
    /// `o=` does not have six fields with numeric session id and version.
    #[error("malformed o= at line {line}")]
    BadOrigin {
        /// Line number.
        line: usize,
    },
    /// `c=` is not `IN IP4|IP6 <IP literal>[/ttl[/n]]`.
    #[error("malformed c= at line {line}")]
    BadConnection {
        /// Line number.
        line: usize,
    },
    /// `m=` lacks a media type, port or protocol.
    #[error("malformed m= at line {line}")]
    BadMedia {
        /// Line number.
        line: usize,
    },
    /// The `m=` port (or port count) is not a decimal number in 0–65535.
    #[error("bad m= port at line {line}")]
    BadPort {
        /// Line number.
        line: usize,
    },
}

/// A session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    /// `o=` (RFC 8866 §5.2).
    pub origin: Origin,
    /// `s=` (RFC 8866 §5.3); empty prints as `s= `.
    pub session_name: String,
    /// Session-level `c=` address (RFC 8866 §5.7); TTL and address count are dropped.
    pub connection: Option<IpAddr>,
    /// Session-level `b=` values, e.g. `AS:84` (RFC 8866 §5.8).
    pub bandwidth: Vec<String>,
    /// Session-level `a=` lines in order.
    pub attrs: Vec<Attr>,
    /// Every other session-level line (`i u e p t r z k` and unknown letters), as
    /// `(letter, value)`, kept in RFC 8866 §5 order (stable within a letter group).
    pub extra: Vec<(char, String)>,
    /// Media descriptions in order.
    pub media: Vec<MediaDesc>,
}

/// `o=<username> <sess-id> <sess-version> IN <IP4|IP6> <address>` (RFC 8866 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none). Several whitespace-separated words are joined by one space.
    pub username: String,
    /// Session id.
    pub session_id: u64,
    /// Session version: increases whenever the session description changes.
    pub version: u64,
    /// Address of the originating host; a host name reads as the unspecified address.
    pub addr: IpAddr,
}

impl Origin {
    /// A fresh origin for Zvon's own descriptions: user `zvon`, version = `session_id`
    /// (RFC 8866 §5.2 suggests NTP timestamps for both; pick `session_id` below 2^63 so peers
    /// that parse it as a signed 64-bit number accept it).
    pub fn new(session_id: u64, addr: IpAddr) -> Self {
        Self {
            username: "zvon".into(),
            session_id,
            version: session_id,
            addr,
        }
    }

    /// Call before sending a changed description (re-INVITE, UPDATE): RFC 8866 §5.2 says the
    /// version increases on every modification. Saturates instead of wrapping.
    pub fn bump(&mut self) {
        self.version = self.version.saturating_add(1);
    }
}

/// `a=<name>` or `a=<name>:<value>` (RFC 8866 §5.13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// Attribute name (surrounding whitespace removed).
    pub name: String,
    /// Value after the first `:`, verbatim; `None` for a property attribute.
    pub value: Option<String>,
}

impl Attr {
    /// A property attribute (`a=sendrecv`).
    pub fn flag(name: &str) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute (`a=ptime:20`).
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// One `m=` section (RFC 8866 §5.14) with its media-level lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDesc {
    /// `audio`, `video`, `application`, ...
    pub kind: String,
    /// Transport port; 0 means the stream is disabled or rejected (RFC 3264 §5.1, §6).
    pub port: u16,
    /// The `/<number of ports>` suffix, if present.
    pub port_count: Option<u16>,
    /// `RTP/AVP`, `RTP/SAVP`, `RTP/AVPF`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`, ...
    pub proto: String,
    /// Media formats (RTP payload type numbers for RTP profiles).
    pub fmts: Vec<String>,
    /// Media-level `c=` address (overrides the session's).
    pub connection: Option<IpAddr>,
    /// Media-level `b=` values.
    pub bandwidth: Vec<String>,
    /// Media-level `a=` lines in order.
    pub attrs: Vec<Attr>,
    /// Other media-level lines (`i`, `k`, unknown letters), in RFC 8866 §5 order.
    pub extra: Vec<(char, String)>,
}

/// `a=rtpmap:<pt> <name>/<clock>[/<channels>]` (RFC 8866 §6.6), or a static payload type of
/// RFC 3551 §6 listed without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type, 0–127.
    pub pt: u8,
    /// Encoding name as written (compare case-insensitively, RFC 4855 §3).
    pub name: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Audio channels (1 when absent).
    pub channels: u8,
}

impl fmt::Display for RtpMap {
    /// The `a=rtpmap` value: `<pt> <name>/<clock>[/<channels>]` (channels only when not 1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.pt, self.name, self.clock_rate)?;
        if self.channels != 1 {
            write!(f, "/{}", self.channels)?;
        }
        Ok(())
    }
}

/// RFC 3551 §6 Tables 4 and 5: static payload types (the ones a phone may list without an
/// `a=rtpmap`).
fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (name, clock_rate, channels) = match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16_000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        9 => ("G722", 8000, 1),
        10 => ("L16", 44_100, 2),
        11 => ("L16", 44_100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90_000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11_025, 1),
        17 => ("DVI4", 22_050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90_000, 1),
        26 => ("JPEG", 90_000, 1),
        28 => ("nv", 90_000, 1),
        31 => ("H261", 90_000, 1),
        32 => ("MPV", 90_000, 1),
        33 => ("MP2T", 90_000, 1),
        34 => ("H263", 90_000, 1),
        _ => return None,
    };
    Some(RtpMap {
        pt,
        name: name.into(),
        clock_rate,
        channels,
    })
}

/// A decimal number made of ASCII digits only (no sign, no spaces).
pub(crate) fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A payload type number 0–127 (RFC 3550 §5.1: 7 bits).
fn payload_type(s: &str) -> Option<u8> {
    digits::<u8>(s).filter(|&pt| pt < 128)
}

/// Parses an `a=rtpmap` value.
fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let mut it = value.split_ascii_whitespace();
    let pt = payload_type(it.next()?)?;
    let enc = it.next()?;
    let mut parts = enc.split('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let clock_rate = digits::<u32>(parts.next()?.trim()).filter(|&c| c > 0)?;
    let channels = match parts.next() {
        None => 1,
        Some(c) => digits::<u8>(c.trim()).filter(|&c| c > 0)?,
    };
    Some(RtpMap {
        pt,
        name: name.into(),
        clock_rate,
        channels,
    })
}

/// The direction attribute named `name`, if it is one (RFC 3264 §5.1).
fn direction_of(name: &str) -> Option<Direction> {
    if name.eq_ignore_ascii_case("sendrecv") {
        Some(Direction::SendRecv)
    } else if name.eq_ignore_ascii_case("sendonly") {
        Some(Direction::SendOnly)
    } else if name.eq_ignore_ascii_case("recvonly") {
        Some(Direction::RecvOnly)
    } else if name.eq_ignore_ascii_case("inactive") {
        Some(Direction::Inactive)
    } else {
        None
    }
}

/// The attribute name for a direction.
pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
        Direction::Inactive => "inactive",
    }
}

fn find_attr<'a>(attrs: &'a [Attr], name: &str) -> Option<Option<&'a str>> {
    attrs
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_deref())
}

fn first_direction(attrs: &[Attr]) -> Option<Direction> {
    attrs
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| direction_of(&a.name))
}

/// `a=ptime:` / `a=maxptime:` in milliseconds: the leading integer part (`20`, `20.0`), > 0.
fn millis(v: Option<Option<&str>>) -> Option<u32> {
    let v = v??.trim();
    let int = v.split('.').next().unwrap_or(v);
    digits::<u32>(int).filter(|&ms| ms > 0)
}

impl MediaDesc {
    /// The first attribute called `name` (case-insensitive): `Some(None)` for a property
    /// attribute, `Some(Some(value))` for a value attribute.
    pub fn attr(&self, name: &str) -> Option<Option<&str>> {
        find_attr(&self.attrs, name)
    }

    /// Values of every attribute called `name` (case-insensitive).
    pub fn attr_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attrs
            .iter()
            .filter(move |a| a.name.eq_ignore_ascii_case(name))
            .filter_map(|a| a.value.as_deref())
    }

    /// The payload types this line lists, in `m=` order, each described by its first valid
    /// `a=rtpmap` or, for static payload types listed without one (0, 3, 4, 8, 9, 18, ...), by
    /// RFC 3551 §6. Dynamic types without an `a=rtpmap` and duplicate entries are skipped.
    /// Linear in the number of formats and attributes.
    pub fn rtpmaps(&self) -> Vec<RtpMap> {
        let mut table: [Option<RtpMap>; 128] = [const { None }; 128];
        for map in self.attr_values("rtpmap").filter_map(parse_rtpmap) {
            let slot = &mut table[usize::from(map.pt)];
            if slot.is_none() {
                *slot = Some(map);
            }
        }
        let mut seen = [false; 128];
        let mut out = Vec::new();
        for pt in self.fmts.iter().filter_map(|f| payload_type(f)) {
            let i = usize::from(pt);
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            if let Some(map) = table[i].take().or_else(|| static_rtpmap(pt)) {
                out.push(map);
            }
        }
        out
    }

    /// Parameters of the first `a=fmtp:<pt> <params>` for `pt` (RFC 8866 §6.15), trimmed;
    /// `Some("")` when the line has no parameters.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attr_values("fmtp").find_map(|v| {
            let v = v.trim_start();
            let end = v.find(|c: char| c.is_ascii_whitespace()).unwrap_or(v.len());
            let (num, rest) = v.split_at(end);
            (payload_type(num) == Some(pt)).then(|| rest.trim())
        })
    }

    /// The media-level direction attribute, if any (RFC 3264 §5.1).
    pub fn direction(&self) -> Option<Direction> {
        first_direction(&self.attrs)
    }

    /// `a=ptime` in milliseconds (RFC 8866 §6.4), if present and positive.
    pub fn ptime(&self) -> Option<u32> {
        millis(self.attr("ptime"))
    }

    /// `a=maxptime` in milliseconds (RFC 8866 §6.5), if present and positive.
    pub fn maxptime(&self) -> Option<u32> {
        millis(self.attr("maxptime"))
    }

    /// Whether the profile is secure RTP (`RTP/SAVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`).
    pub fn is_savp(&self) -> bool {
        self.proto.to_ascii_uppercase().contains("SAVP")
    }

    /// Whether the profile is plain RTP (`RTP/AVP` or `RTP/AVPF`).
    pub fn is_plain_rtp(&self) -> bool {
        let p = self.proto.to_ascii_uppercase();
        p == "RTP/AVP" || p == "RTP/AVPF"
    }

    /// Whether the line carries ICE attributes (RFC 8839 §5): its address then comes from the
    /// candidates and `c=0.0.0.0` is not a hold.
    pub fn has_ice(&self) -> bool {
        self.attr("candidate").is_some() || self.attr("ice-ufrag").is_some()
    }
}

impl Sdp {
    /// The first session-level attribute called `name` (see [`MediaDesc::attr`]).
    pub fn attr(&self, name: &str) -> Option<Option<&str>> {
        find_attr(&self.attrs, name)
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        first_direction(&self.attrs)
    }

    /// Session-level `a=ptime` (some phones put it there).
    pub fn ptime(&self) -> Option<u32> {
        millis(self.attr("ptime"))
    }

    /// The printed form as bytes (a SIP body).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

/// RFC 8866 §5 order of the session-level lines we keep as text. `c` and `b` print between
/// ranks 3 and 4.
fn session_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'u' => 1,
        'e' => 2,
        'p' => 3,
        't' | 'r' => 4,
        'z' => 5,
        'k' => 6,
        _ => 7,
    }
}

/// RFC 8866 §5 order of the media-level lines kept as text. `c` and `b` print after rank 0.
fn media_rank(kind: char) -> u8 {
    match kind {
        'i' => 0,
        'k' => 1,
        _ => 2,
    }
}

fn trim_line(mut l: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = l {
        l = rest;
    }
    l
}

/// `<type>=<value>` (RFC 8866 §5: type is one lowercase letter, no spaces around `=`).
fn split_line(raw: &[u8], line: usize) -> Result<(char, String), SdpError> {
    match raw {
        [k, b'=', rest @ ..] if k.is_ascii_lowercase() => {
            Ok((char::from(*k), String::from_utf8_lossy(rest).into_owned()))
        }
        _ => Err(SdpError::BadLine { line }),
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// RFC 8866 §5.2.
fn parse_origin(v: &str, line: usize) -> Result<Origin, SdpError> {
    let bad = SdpError::BadOrigin { line };
    let tok: Vec<&str> = v.split_ascii_whitespace().collect();
    let n = tok.len();
    if n < 6 {
        return Err(bad);
    }
    let session_id = digits::<u64>(tok[n - 5]).ok_or(bad)?;
    let version = digits::<u64>(tok[n - 4]).ok_or(bad)?;
    let addr = parse_ip(tok[n - 1]).unwrap_or(if tok[n - 2].eq_ignore_ascii_case("IP6") {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    Ok(Origin {
        username: tok[..n - 5].join(" "),
        session_id,
        version,
        addr,
    })
}

/// RFC 8866 §5.7: `IN IP4|IP6 <address>[/<ttl>][/<count>]`; only IP literals.
fn parse_connection(v: &str, line: usize) -> Result<IpAddr, SdpError> {
    let bad = SdpError::BadConnection { line };
    let mut it = v.split_ascii_whitespace();
    let (Some(net), Some(_kind), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(bad);
    };
    if !net.eq_ignore_ascii_case("IN") {
        return Err(bad);
    }
    let addr = addr.split('/').next().unwrap_or(addr);
    parse_ip(addr).ok_or(bad)
}

/// RFC 8866 §5.14: `<media> <port>[/<count>] <proto> <fmt> ...`.
fn parse_media(v: &str, line: usize) -> Result<MediaDesc, SdpError> {
    let bad = SdpError::BadMedia { line };
    let mut it = v.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
        return Err(bad);
    };
    let bad_port = SdpError::BadPort { line };
    let (port, port_count) = match port.split_once('/') {
        None => (digits::<u16>(port).ok_or(bad_port)?, None),
        Some((p, c)) => (
            digits::<u16>(p).ok_or(bad_port)?,
            Some(digits::<u16>(c).ok_or(bad_port)?),
        ),
    };
    Ok(MediaDesc {
        kind: kind.into(),
        port,
        port_count,
        proto: proto.into(),
        fmts: it.map(String::from).collect(),
        connection: None,
        bandwidth: Vec::new(),
        attrs: Vec::new(),
        extra: Vec::new(),
    })
}

fn parse_attr(v: &str) -> Attr {
    match v.split_once(':') {
        Some((name, value)) => Attr {
            name: name.trim().into(),
            value: Some(value.into()),
        },
        None => Attr {
            name: v.trim().into(),
            value: None,
        },
    }
}

/// Parses an SDP body (see the module docs for what is accepted). Never panics.
pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, trim_line(l)))
        .filter(|(_, l)| !l.is_empty());
    let (n, first) = lines.next().ok_or(SdpError::Empty)?;
    let (kind, version) = split_line(first, n).map_err(|_| SdpError::MissingVersion)?;
    if kind != 'v' {
        return Err(SdpError::MissingVersion);
    }
    if version.trim() != "0" {
        return Err(SdpError::BadVersion { line: n });
    }

    let mut origin = None;
    let mut session_name = None;
    let mut connection = None;
    let mut bandwidth = Vec::new();
    let mut attrs = Vec::new();
    let mut extra = Vec::new();
    let mut media: Vec<MediaDesc> = Vec::new();

    for (line, raw) in lines {
        let (kind, value) = split_line(raw, line)?;
        let misplaced = SdpError::Misplaced { kind, line };
        match (kind, media.last_mut()) {
            ('v', _) | ('o' | 's', Some(_)) => return Err(misplaced),
            ('m', _) => media.push(parse_media(&value, line)?),
            ('o', None) => {
                if origin.is_some() {
                    return Err(misplaced);
                }
                origin = Some(parse_origin(&value, line)?);
            }
            ('s', None) => {
                if session_name.is_some() {
                    return Err(misplaced);
                }
                session_name = Some(value);
            }
            ('c', m) => {
                let addr = parse_connection(&value, line)?;
                // Several c= (layered multicast, RFC 8866 §5.7): the first one is used.
                let slot = match m {
                    Some(m) => &mut m.connection,
                    None => &mut connection,
                };
                slot.get_or_insert(addr);
            }
            ('b', Some(m)) => m.bandwidth.push(value),
            ('b', None) => bandwidth.push(value),
            ('a', Some(m)) => m.attrs.push(parse_attr(&value)),
            ('a', None) => attrs.push(parse_attr(&value)),
            (k, Some(m)) => m.extra.push((k, value)),
            (k, None) => extra.push((k, value)),
        }
    }

    let origin = origin.ok_or(SdpError::MissingOrigin)?;
    if !extra.iter().any(|(k, _)| *k == 't') {
        extra.push(('t', "0 0".into()));
    }
    extra.sort_by_key(|(k, _)| session_rank(*k));
    for m in &mut media {
        m.extra.sort_by_key(|(k, _)| media_rank(*k));
    }
    Ok(Sdp {
        origin,
        session_name: session_name.unwrap_or_default(),
        connection,
        bandwidth,
        attrs,
        extra,
        media,
    })
}

fn addr_type(a: &IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

fn write_lines<'a>(
    f: &mut fmt::Formatter<'_>,
    mut lines: impl Iterator<Item = &'a (char, String)>,
) -> fmt::Result {
    lines.try_for_each(|(k, v)| write!(f, "{k}={v}\r\n"))
}

impl fmt::Display for Attr {
    /// The text after `a=`: `name` or `name:value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}:{v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn write_attrs(f: &mut fmt::Formatter<'_>, attrs: &[Attr]) -> fmt::Result {
    attrs.iter().try_for_each(|a| write!(f, "a={a}\r\n"))
}

impl fmt::Display for MediaDesc {
    /// The media section: `m i c b k a` (RFC 8866 §5), CRLF line ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(c) = self.port_count {
            write!(f, "/{c}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt in &self.fmts {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        write_lines(f, self.extra.iter().filter(|(k, _)| media_rank(*k) == 0))?;
        if let Some(c) = &self.connection {
            write!(f, "c=IN {} {c}\r\n", addr_type(c))?;
        }
        for b in &self.bandwidth {
            write!(f, "b={b}\r\n")?;
        }
        write_lines(f, self.extra.iter().filter(|(k, _)| media_rank(*k) > 0))?;
        write_attrs(f, &self.attrs)
    }
}

impl fmt::Display for Sdp {
    /// The whole description: `v o s i u e p c b t r z k a`, then each media section
    /// (RFC 8866 §5), CRLF line ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        let user = if o.username.is_empty() {
            "-"
        } else {
            &o.username
        };
        f.write_str("v=0\r\n")?;
        write!(
            f,
            "o={user} {} {} IN {} {}\r\n",
            o.session_id,
            o.version,
            addr_type(&o.addr),
            o.addr
        )?;
        // RFC 8866 §5.3: "s= " when there is no meaningful name.
        if self.session_name.is_empty() {
            f.write_str("s= \r\n")?;
        } else {
            write!(f, "s={}\r\n", self.session_name)?;
        }
        write_lines(f, self.extra.iter().filter(|(k, _)| session_rank(*k) < 4))?;
        if let Some(c) = &self.connection {
            write!(f, "c=IN {} {c}\r\n", addr_type(c))?;
        }
        for b in &self.bandwidth {
            write!(f, "b={b}\r\n")?;
        }
        write_lines(f, self.extra.iter().filter(|(k, _)| session_rank(*k) >= 4))?;
        write_attrs(f, &self.attrs)?;
        self.media.iter().try_for_each(|m| m.fmt(f))
    }
}
