//! The property every fuzz target and the corpus-replay test checks (always compiled; tiny).
//!
//! For any input: [`frame`] and [`parse`] do not panic; if `parse` succeeds, printing with
//! [`Message::to_bytes`] and parsing again succeeds and gives the same start line (method and
//! URI, or code and reason), the same headers (ignoring Content-Length, which printing
//! recomputes) and the same body; the printed form frames as exactly one message and is a
//! fixed point of print∘parse. Typed accessors are exercised for panics only.

use super::{
    Credentials, Frame, HeaderName, Limits, Message, StartLine, frame, parse, parse_contact,
    validate_request, validate_response,
};

/// Panics if the property fails for `data`.
pub fn fuzz_check(data: &[u8]) {
    let limits = Limits::default();
    let _ = frame(data, &limits);
    let Ok(msg) = parse(data, &limits) else {
        return;
    };
    exercise(&msg);
    let printed = msg.to_bytes();
    // Printing may grow the message (compact names → full names, an added Content-Length).
    let relaxed = Limits {
        max_size: limits.max_size * 2 + 64,
        max_headers: limits.max_headers + 1,
    };
    let again = match parse(&printed, &relaxed) {
        Ok(m) => m,
        Err(e) => panic!(
            "printed message does not parse ({e}): {:?}",
            String::from_utf8_lossy(&printed)
        ),
    };
    assert!(
        same_start(&msg.start, &again.start),
        "start line changed: {:?} vs {:?}",
        msg.start,
        again.start
    );
    let strip = |m: &Message| {
        m.headers
            .0
            .iter()
            .filter(|h| h.name != HeaderName::ContentLength)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&msg), strip(&again), "headers changed");
    assert_eq!(msg.body, again.body, "body changed");
    assert_eq!(again.to_bytes(), printed, "print is not a fixed point");
    assert_eq!(
        frame(&printed, &relaxed),
        Frame::Message(printed.len()),
        "printed form must frame"
    );
}

fn same_start(a: &StartLine, b: &StartLine) -> bool {
    match (a, b) {
        (
            StartLine::Request {
                method: m1,
                uri: u1,
                ..
            },
            StartLine::Request {
                method: m2,
                uri: u2,
                ..
            },
        ) => m1 == m2 && u1 == u2,
        (a, b) => a == b,
    }
}

fn exercise(msg: &Message) {
    let _ = validate_request(msg);
    let _ = validate_response(msg);
    let _ = msg.cseq();
    let _ = msg.from().map(|a| a.to_string());
    let _ = msg.to().map(|a| a.to_string());
    let _ = msg.top_via().map(|v| v.to_string());
    let _ = msg.vias();
    for c in msg.headers.get_all(&HeaderName::Contact) {
        let _ = parse_contact(c);
    }
    for n in [
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
    ] {
        for v in msg.headers.get_all(&n) {
            let _ = Credentials::parse(v);
        }
    }
}
