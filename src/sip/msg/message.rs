//! Whole messages: parsing a datagram or frame, stream framing, printing, the request checks a
//! server makes before processing, and building responses.
//!
//! * [`parse`] — RFC 3261 §7 (start line §7.1/§7.2, headers §7.3, body §7.4), leading CRLFs
//!   ignored (§7.5), folding (§7.3.1), LF-only line ends tolerated; Content-Length on
//!   datagrams per §18.3 (longer body truncated, shorter is an error, absent = rest).
//! * [`frame`] — stream framing by Content-Length, which is mandatory on streams (§18.3), and
//!   RFC 5626 §4.4.1 CRLF keep-alives.
//! * [`validate_request`] — the checks of §8.2 / §16.3 that make a request processable.
//! * [`Message::to_bytes`] — canonical printing (full header names, CRLF, Content-Length).
//! * [`response_for`] — §8.2.6 response construction.
//!
//! Limits are enforced before any allocation proportional to the input: the size first, then
//! the header count while scanning.

use std::borrow::Cow;

use bytes::Bytes;

use super::ParseError;
use super::addr::{NameAddr, parse_contact};
use super::header::{Header, HeaderName, Headers};
use super::method::{CSeq, Method};
use super::syntax::{is_token, trim_lws};
use super::uri::Uri;
use super::via::{Via, parse_via_list};

/// Size caps applied before parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest datagram or frame accepted, in bytes.
    pub max_size: usize,
    /// Most header fields accepted (folded continuation lines do not count).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 65_535,
            max_headers: 256,
        }
    }
}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP/2.0`. `raw_uri` is the Request-URI as received
    /// (informational, e.g. for digest `uri=` checks); printing uses `uri`.
    Request {
        method: Method,
        uri: Uri,
        raw_uri: String,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
    Response { code: u16, reason: String },
}

/// A parsed (or built) SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Headers,
    pub body: Bytes,
}

impl Message {
    /// A request with no headers and an empty body; `raw_uri` is set from `uri`.
    pub fn request(method: Method, uri: Uri) -> Message {
        let raw_uri = uri.to_string();
        Message {
            start: StartLine::Request {
                method,
                uri,
                raw_uri,
            },
            headers: Headers::default(),
            body: Bytes::new(),
        }
    }

    /// A response with no headers and an empty body.
    pub fn response(code: u16, reason: impl Into<String>) -> Message {
        Message {
            start: StartLine::Response {
                code,
                reason: reason.into(),
            },
            headers: Headers::default(),
            body: Bytes::new(),
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method (None for responses).
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI (None for responses).
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code (None for requests).
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The first Call-ID value.
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get(&HeaderName::CallId)
    }

    /// The first CSeq, parsed.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(
            self.headers
                .get(&HeaderName::CSeq)
                .ok_or(ParseError::MissingHeader("CSeq"))?,
        )
    }

    /// The first From, parsed.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        let v = self
            .headers
            .get(&HeaderName::From)
            .ok_or(ParseError::MissingHeader("From"))?;
        NameAddr::parse(v).map_err(|_| ParseError::BadHeader("From"))
    }

    /// The first To, parsed.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        let v = self
            .headers
            .get(&HeaderName::To)
            .ok_or(ParseError::MissingHeader("To"))?;
        NameAddr::parse(v).map_err(|_| ParseError::BadHeader("To"))
    }

    /// The topmost via-parm.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let v = self
            .headers
            .get(&HeaderName::Via)
            .ok_or(ParseError::MissingHeader("Via"))?;
        let first = v.split(',').next().unwrap_or(v);
        // A quoted comma inside the first via-parm is vanishingly rare; fall back to the list.
        match Via::parse(first) {
            Ok(via) => Ok(via),
            Err(_) => parse_via_list(v)?
                .into_iter()
                .next()
                .ok_or(ParseError::BadVia),
        }
    }

    /// Every via-parm across all Via headers, in order.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let mut out = Vec::new();
        for v in self.headers.get_all(&HeaderName::Via) {
            out.extend(parse_via_list(v)?);
        }
        Ok(out)
    }

    /// Prints the message: canonical full header names, CRLF line ends, and one
    /// `Content-Length` equal to the body length (at the first Content-Length's position, else
    /// last). CR and LF inside values are printed as SP so no value can inject a line.
    pub fn to_bytes(&self) -> Bytes {
        let mut len = 64 + self.body.len();
        for h in &self.headers.0 {
            len += h.name.as_str().len() + h.value.len() + 4;
        }
        let mut out: Vec<u8> = Vec::with_capacity(len);
        match &self.start {
            StartLine::Request { method, uri, .. } => {
                out.extend_from_slice(method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(uri.to_string().as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(b"SIP/2.0 ");
                out.extend_from_slice(format!("{code:03}").as_bytes());
                out.push(b' ');
                push_sanitized(&mut out, reason);
                out.extend_from_slice(b"\r\n");
            }
        }
        let mut cl_done = false;
        for h in &self.headers.0 {
            if h.name == HeaderName::ContentLength {
                if !cl_done {
                    push_content_length(&mut out, self.body.len());
                    cl_done = true;
                }
                continue;
            }
            out.extend_from_slice(h.name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            push_sanitized(&mut out, &h.value);
            out.extend_from_slice(b"\r\n");
        }
        if !cl_done {
            push_content_length(&mut out, self.body.len());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }
}

fn push_content_length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_sanitized(out: &mut Vec<u8>, s: &str) {
    let start = out.len();
    out.extend_from_slice(s.as_bytes());
    if memchr::memchr2(b'\r', b'\n', s.as_bytes()).is_some() {
        for b in &mut out[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scanning the head (shared by `parse` and `frame`)

/// Where the head ended.
struct Head {
    /// Offset of the first body byte.
    body_start: usize,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ws_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) || *first == b'\r' {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) || *last == b'\r' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// The line starting at `pos`: (content without CR LF, offset after the LF), or None if no
/// LF follows yet.
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let lf = pos + memchr::memchr(b'\n', &buf[pos..])?;
    let mut line = &buf[pos..lf];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    Some((line, lf + 1))
}

/// Scans start line and headers, calling `on_header(name, value)` for each logical header
/// (value trimmed, folds joined with one SP). Ok(None) when the head is not complete yet.
fn scan_head<'a>(
    buf: &'a [u8],
    max_headers: usize,
    mut on_header: impl FnMut(&'a [u8], Cow<'a, [u8]>) -> Result<(), ParseError>,
) -> Result<Option<Head>, ParseError> {
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut pos = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::Empty)?;
    let Some((_, next)) = line_at(buf, pos) else {
        return Ok(None);
    };
    pos = next;
    let mut count = 0usize;
    let mut pending: Option<(&'a [u8], Cow<'a, [u8]>)> = None;
    loop {
        let Some((line, next)) = line_at(buf, pos) else {
            return Ok(None);
        };
        if line.is_empty() {
            if let Some((n, v)) = pending.take() {
                on_header(n, trim_cow(v))?;
            }
            return Ok(Some(Head { body_start: next }));
        }
        if is_ws(line[0]) {
            // RFC 3261 §7.3.1: a line starting with LWS continues the previous header.
            let (_, value) = pending.as_mut().ok_or(ParseError::BadHeaderLine)?;
            let v = value.to_mut();
            while v.last().is_some_and(|&b| is_ws(b)) {
                v.pop();
            }
            v.push(b' ');
            v.extend_from_slice(trim_ws_bytes(line));
        } else {
            if let Some((n, v)) = pending.take() {
                on_header(n, trim_cow(v))?;
            }
            count += 1;
            if count > max_headers {
                return Err(ParseError::TooManyHeaders);
            }
            let colon = memchr::memchr(b':', line).ok_or(ParseError::BadHeaderLine)?;
            let mut name = &line[..colon];
            while let [rest @ .., last] = name {
                if is_ws(*last) {
                    name = rest;
                } else {
                    break;
                }
            }
            if name.is_empty() || !name.iter().all(|&b| super::syntax::is_token_char(b)) {
                return Err(ParseError::BadHeaderLine);
            }
            pending = Some((name, Cow::Borrowed(&line[colon + 1..])));
        }
        pos = next;
    }
}

fn trim_cow(v: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    match v {
        Cow::Borrowed(b) => Cow::Borrowed(trim_ws_bytes(b)),
        Cow::Owned(o) => Cow::Owned(trim_ws_bytes(&o).to_vec()),
    }
}

/// Header bytes to text: invalid UTF-8 is replaced (U+FFFD), stray CRs become SP.
fn value_string(v: Cow<'_, [u8]>) -> String {
    let mut s = match v {
        Cow::Borrowed(b) => String::from_utf8_lossy(b).into_owned(),
        Cow::Owned(o) => match String::from_utf8(o) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        },
    };
    if s.contains('\r') {
        s = s.replace('\r', " ");
    }
    s
}

/// `Content-Length = 1*DIGIT` (RFC 3261 §20.14).
fn parse_content_length(v: &[u8]) -> Result<usize, ParseError> {
    let v = trim_ws_bytes(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadContentLength);
    }
    v.iter()
        .try_fold(0usize, |acc, &d| {
            acc.checked_mul(10)?.checked_add(usize::from(d - b'0'))
        })
        .ok_or(ParseError::BadContentLength)
}

fn is_content_length(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
}

fn merge_content_length(slot: &mut Option<usize>, v: &[u8]) -> Result<(), ParseError> {
    let n = parse_content_length(v)?;
    match *slot {
        // RFC 4475 §3.3.9 `mcl01`: conflicting values make the body length unknowable.
        Some(prev) if prev != n => Err(ParseError::BadContentLength),
        _ => {
            *slot = Some(n);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// parse

/// Parses one complete message: a UDP datagram, or a frame cut by [`frame`].
///
/// Content-Length (RFC 3261 §18.3): a longer body is truncated to it, a shorter one is
/// [`ParseError::BodyTruncated`], and without it the body is the rest of the buffer.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    if buf.len() > limits.max_size {
        return Err(ParseError::TooLarge);
    }
    // The start line first, so that its errors win over header errors.
    let first = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::Empty)?;
    let (line, _) = line_at(buf, first).ok_or(ParseError::NoHeaderEnd)?;
    let start = parse_start_line(line)?;
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    let mut content_length = None;
    let head = scan_head(buf, limits.max_headers, |name, value| {
        if is_content_length(name) {
            merge_content_length(&mut content_length, &value)?;
        }
        // `name` is all token characters, hence ASCII.
        let name = HeaderName::parse(std::str::from_utf8(name).unwrap_or_default());
        headers.push(Header {
            name,
            value: value_string(value),
        });
        Ok(())
    })?
    .ok_or(ParseError::NoHeaderEnd)?;
    let rest = &buf[head.body_start..];
    let body = match content_length {
        Some(n) if n > rest.len() => return Err(ParseError::BodyTruncated),
        Some(n) => &rest[..n],
        None => rest,
    };
    Ok(Message {
        start,
        headers: Headers(headers),
        body: Bytes::copy_from_slice(body),
    })
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(line);
    }
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly one SP each
    // (RFC 4475 §3.1.2.8–§3.1.2.10 reject embedded, doubled and trailing SP).
    let line = std::str::from_utf8(line).map_err(|_| ParseError::BadStartLine)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(raw_uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadStartLine);
    };
    if !is_token(method) {
        return Err(ParseError::BadStartLine);
    }
    check_version(version)?;
    let uri = Uri::parse(raw_uri)?;
    Ok(StartLine::Request {
        method: Method::parse(method),
        uri,
        raw_uri: raw_uri.to_owned(),
    })
}

/// RFC 3261 §7.1: `SIP/2.0`, case-insensitive. Another `SIP/x.y` is [`ParseError::BadVersion`].
fn check_version(v: &str) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else if v.len() > 4 && v.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        Err(ParseError::BadVersion)
    } else {
        Err(ParseError::BadStartLine)
    }
}

/// `Status-Line = SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261 §7.2, §25.1). A
/// missing reason (even without its SP) is tolerated; the code must be 3 digits, 100–699.
fn parse_status_line(line: &[u8]) -> Result<StartLine, ParseError> {
    let sp = memchr::memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    check_version(std::str::from_utf8(&line[..sp]).map_err(|_| ParseError::BadStartLine)?)?;
    let rest = &line[sp + 1..];
    let code_bytes = rest.get(..3).ok_or(ParseError::BadStartLine)?;
    if !code_bytes.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadStartLine);
    }
    let code = code_bytes
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&code) {
        return Err(ParseError::BadStartLine);
    }
    let reason = match &rest[3..] {
        [] => String::new(),
        [b' ', reason @ ..] => value_string(Cow::Borrowed(reason)),
        // RFC 4475 §3.1.2.19 `bigcode`: more digits (or anything else) after three.
        _ => return Err(ParseError::BadStartLine),
    };
    Ok(StartLine::Response { code, reason })
}

// ---------------------------------------------------------------------------------------------
// frame

/// The outcome of looking for one message at the front of a stream buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed.
    Incomplete,
    /// Consume this many leading keep-alive bytes. `KeepAlive(4)` is a `CRLFCRLF` ping the
    /// caller answers with a single `CRLF` pong (RFC 5626 §4.4.1); smaller counts (a pong, a
    /// stray CRLF or LF) need no answer. A buffer holding only `CRLF` is `Incomplete`, not a
    /// pong, so that a ping split across reads is still recognised; the pong is consumed as
    /// `KeepAlive(2)` once the next byte arrives.
    KeepAlive(usize),
    /// One message of this total length (head and body) is at the front of the buffer.
    Message(usize),
    /// The stream cannot be framed any more; the caller should close it.
    Invalid(ParseError),
}

/// Stream (TCP/TLS) framing by Content-Length. Content-Length is mandatory on streams
/// (RFC 3261 §18.3); a head longer than `max_size` is [`Frame::Invalid`].
pub fn frame(buf: &[u8], limits: &Limits) -> Frame {
    match buf {
        // A lone CRLF may be the first half of a ping: wait for the next byte.
        [] | [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Frame::Incomplete,
        [b'\r', b'\n', b'\r', b'\n', ..] => return Frame::KeepAlive(4),
        [b'\r', b'\n', ..] => return Frame::KeepAlive(2),
        [b'\r' | b'\n', ..] => return Frame::KeepAlive(1),
        _ => {}
    }
    let window = &buf[..buf.len().min(limits.max_size)];
    let Some(body_start) = find_head_end(window) else {
        return if buf.len() >= limits.max_size {
            Frame::Invalid(ParseError::TooLarge)
        } else {
            Frame::Incomplete
        };
    };
    let mut content_length = None;
    let scanned = scan_head(&buf[..body_start], limits.max_headers, |name, value| {
        if is_content_length(name) {
            merge_content_length(&mut content_length, &value)?;
        }
        Ok(())
    });
    match scanned {
        Err(e) => return Frame::Invalid(e),
        Ok(None) => return Frame::Incomplete, // unreachable: find_head_end found the end
        Ok(Some(_)) => {}
    }
    let Some(cl) = content_length else {
        return Frame::Invalid(ParseError::MissingHeader("Content-Length"));
    };
    let Some(total) = body_start.checked_add(cl).filter(|&t| t <= limits.max_size) else {
        return Frame::Invalid(ParseError::TooLarge);
    };
    if buf.len() < total {
        Frame::Incomplete
    } else {
        Frame::Message(total)
    }
}

/// Offset just after the empty line ending the head (`LF CRLF` or `LF LF`), if present.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    for lf in memchr::memchr_iter(b'\n', buf) {
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// validation

fn exactly_one<'a>(
    msg: &'a Message,
    n: &HeaderName,
    name: &'static str,
) -> Result<&'a str, ParseError> {
    let mut it = msg
        .headers
        .0
        .iter()
        .filter(|h| h.name == *n)
        .map(|h| h.value.as_str());
    let first = it.next().ok_or(ParseError::MissingHeader(name))?;
    if it.next().is_some() {
        return Err(ParseError::DuplicateHeader(name));
    }
    Ok(first)
}

/// The checks a server makes on a parsed request before processing it (RFC 3261 §8.2, §16.3):
/// Request-URI without `?headers`, at least one Via and all parse, exactly one From and To that
/// parse, exactly one non-empty Call-ID, exactly one CSeq whose method is the request method,
/// Max-Forwards (at most one) `0..=255`, every Contact parses, Date (if any) in GMT
/// (RFC 3261 §20.17). The error's [`ParseError::reason`] is the 400 reason phrase.
pub fn validate_request(msg: &Message) -> Result<(), ParseError> {
    let StartLine::Request { method, uri, .. } = &msg.start else {
        return Err(ParseError::NotARequest);
    };
    // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
    if uri.is_sip() && uri.headers.is_some() {
        return Err(ParseError::RequestUriHeaders);
    }
    check_common(msg)?;
    let cseq = msg.cseq()?;
    // RFC 3261 §8.1.1.5 / §8.2: CSeq method equals the request method (RFC 4475 §3.1.2.17).
    if cseq.method != *method {
        return Err(ParseError::CSeqMethodMismatch);
    }
    // RFC 3261 §20.22: Max-Forwards = 1*DIGIT, 0–255 (RFC 4475 §3.1.2.4 sends 300).
    let mut mf = msg.headers.get_all(&HeaderName::MaxForwards);
    if let Some(v) = mf.next() {
        if mf.next().is_some() {
            return Err(ParseError::DuplicateHeader("Max-Forwards"));
        }
        let v = trim_lws(v);
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.parse::<u8>().is_err() {
            return Err(ParseError::BadHeader("Max-Forwards"));
        }
    }
    for c in msg.headers.get_all(&HeaderName::Contact) {
        parse_contact(c)?;
    }
    // RFC 3261 §20.17: "the Date header field MUST be in GMT" (RFC 4475 §3.1.2.12).
    for d in msg.headers.get_all(&HeaderName::Date) {
        if !trim_lws(d).ends_with("GMT") {
            return Err(ParseError::BadHeader("Date"));
        }
    }
    Ok(())
}

/// The checks a UAC/proxy makes on a parsed response before matching it to a transaction:
/// Via present and parsing, From, To, Call-ID and CSeq exactly once and parsing.
pub fn validate_response(msg: &Message) -> Result<(), ParseError> {
    if msg.is_request() {
        return Err(ParseError::NotAResponse);
    }
    check_common(msg)?;
    msg.cseq().map(|_| ())
}

fn check_common(msg: &Message) -> Result<(), ParseError> {
    let vias = msg.vias()?;
    if vias.is_empty() {
        return Err(ParseError::MissingHeader("Via"));
    }
    let from = exactly_one(msg, &HeaderName::From, "From")?;
    NameAddr::parse(from).map_err(|_| ParseError::BadHeader("From"))?;
    let to = exactly_one(msg, &HeaderName::To, "To")?;
    NameAddr::parse(to).map_err(|_| ParseError::BadHeader("To"))?;
    let call_id = exactly_one(msg, &HeaderName::CallId, "Call-ID")?;
    if call_id.is_empty() || call_id.bytes().any(|b| b == b' ' || b == b'\t') {
        return Err(ParseError::BadHeader("Call-ID"));
    }
    exactly_one(msg, &HeaderName::CSeq, "CSeq")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// responses

/// Builds a response to `req` (RFC 3261 §8.2.6): all Via (in order), From, To (plus
/// `;tag=<to_tag>` when given and To has no tag), Call-ID and CSeq copied; `Content-Length: 0`.
pub fn response_for(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
    let mut headers = Vec::with_capacity(8);
    for h in &req.headers.0 {
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                headers.push(h.clone());
            }
            HeaderName::To => {
                let mut value = h.value.clone();
                if let Some(tag) = to_tag {
                    let has_tag = match NameAddr::parse(&h.value) {
                        Ok(a) => a.tag().is_some(),
                        Err(_) => h.value.to_ascii_lowercase().contains(";tag="),
                    };
                    if !has_tag {
                        value.push_str(";tag=");
                        value.push_str(tag);
                    }
                }
                headers.push(Header {
                    name: HeaderName::To,
                    value,
                });
            }
            _ => {}
        }
    }
    headers.push(Header {
        name: HeaderName::ContentLength,
        value: "0".into(),
    });
    Message {
        start: StartLine::Response {
            code,
            reason: reason.to_owned(),
        },
        headers: Headers(headers),
        body: Bytes::new(),
    }
}

/// The default reason phrase of a status code (RFC 3261 §21, plus common extensions: RFC 3262,
/// 3265, 3329, 3903, 4028, 4412, 5079, 6665). Unknown codes get their class name.
pub fn default_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        c if c < 200 => "Provisional",
        c if c < 300 => "Success",
        c if c < 400 => "Redirection",
        c if c < 500 => "Client Error",
        c if c < 600 => "Server Error",
        _ => "Global Failure",
    }
}
