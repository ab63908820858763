//! The control protocol codec, including garbage.

use super::*;

fn all_requests() -> Vec<Request> {
    vec![
        Request::Status,
        Request::StatusQueues,
        Request::AgentList,
        Request::AgentLogin {
            agent: "alice".into(),
            queues: vec![],
        },
        Request::AgentLogin {
            agent: "1001".into(),
            queues: vec!["sales".into(), "support-en".into(), "Очередь".into()],
        },
        Request::AgentLogout {
            agent: "alice".into(),
        },
        Request::AgentPause {
            agent: "alice".into(),
            reason: None,
        },
        Request::AgentPause {
            agent: "alice".into(),
            reason: Some(0),
        },
        Request::AgentPause {
            agent: "alice".into(),
            reason: Some(65535),
        },
        Request::AgentUnpause {
            agent: "bob@example".into(),
        },
    ]
}

#[test]
fn every_request_round_trips() {
    for req in all_requests() {
        let line = encode_request(&req).unwrap();
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        assert!(line.starts_with("zvon-ctl 1 "), "{line:?}");
        assert_eq!(decode_request(line.as_bytes()), Ok(req.clone()), "{line:?}");
        // without the newline and with CRLF
        let bare = line.trim_end_matches('\n');
        assert_eq!(decode_request(bare.as_bytes()), Ok(req.clone()));
        assert_eq!(
            decode_request(format!("{bare}\r\n").as_bytes()),
            Ok(req.clone())
        );
    }
}

#[test]
fn the_wire_format_is_the_documented_one() {
    let pause = Request::AgentPause {
        agent: "alice".into(),
        reason: Some(3),
    };
    assert_eq!(
        encode_request(&pause).unwrap(),
        "zvon-ctl 1 agent-pause alice 3\n"
    );
    let login = Request::AgentLogin {
        agent: "alice".into(),
        queues: vec!["sales".into(), "support".into()],
    };
    assert_eq!(
        encode_request(&login).unwrap(),
        "zvon-ctl 1 agent-login alice sales support\n"
    );
    assert_eq!(
        encode_request(&Request::Status).unwrap(),
        "zvon-ctl 1 status\n"
    );
    assert_eq!(
        decode_request(b"zvon-ctl  1\tagent-list  "),
        Ok(Request::AgentList),
        "runs of blanks separate tokens"
    );
}

#[test]
fn encode_refuses_bad_names() {
    for bad in ["", "al ice", "al\nice", "a\tb", "a\u{7}b", &"x".repeat(65)] {
        let r = encode_request(&Request::AgentLogout { agent: bad.into() });
        assert!(
            matches!(r, Err(ProtocolError::BadName { what: "agent", .. })),
            "{bad:?}: {r:?}"
        );
        let r = encode_request(&Request::AgentLogin {
            agent: "alice".into(),
            queues: vec!["sales".into(), bad.into()],
        });
        assert!(
            matches!(r, Err(ProtocolError::BadName { what: "queue", .. })),
            "{bad:?}: {r:?}"
        );
    }
    assert!(check_name(&"x".repeat(MAX_NAME)).is_ok());
    assert_eq!(check_name("a\u{a0}b"), Err(NameError::Whitespace));
    assert_eq!(check_name("a\u{0}b"), Err(NameError::Control));
}

#[test]
fn encode_refuses_a_line_over_the_limit() {
    let req = Request::AgentLogin {
        agent: "alice".into(),
        queues: (0..100).map(|i| format!("{i:0>60}")).collect(),
    };
    assert_eq!(encode_request(&req), Err(ProtocolError::TooLong));
}

/// A line and a check of the error it must give.
type BadLine = (&'static [u8], fn(&ProtocolError) -> bool);

#[test]
fn bad_lines_get_a_reason() {
    use ProtocolError as E;
    let cases: &[BadLine] = &[
        (b"", |e| *e == E::Empty),
        (b"   \n", |e| *e == E::Empty),
        (b"\n", |e| *e == E::Empty),
        (b"hello", |e| *e == E::NoMagic),
        (b"GET / HTTP/1.1\r\n", |e| *e == E::NoMagic),
        (b"zvon-ctl", |e| matches!(e, E::Version(v) if v.is_empty())),
        (
            b"zvon-ctl 2 status",
            |e| matches!(e, E::Version(v) if v == "2"),
        ),
        (b"zvon-ctl 01 status", |e| matches!(e, E::Version(_))),
        (b"zvon-ctl 1", |e| {
            matches!(
                e,
                E::Missing {
                    what: "command",
                    ..
                }
            )
        }),
        (
            b"zvon-ctl 1 reboot",
            |e| matches!(e, E::UnknownCommand(c) if c == "reboot"),
        ),
        (b"zvon-ctl 1 STATUS", |e| matches!(e, E::UnknownCommand(_))),
        (
            b"zvon-ctl 1 status now",
            |e| matches!(e, E::Extra { command: "status", extra } if extra == "now"),
        ),
        (b"zvon-ctl 1 agent-list x", |e| {
            matches!(
                e,
                E::Extra {
                    command: "agent-list",
                    ..
                }
            )
        }),
        (b"zvon-ctl 1 agent-logout", |e| {
            matches!(
                e,
                E::Missing {
                    command: "agent-logout",
                    what: "agent name"
                }
            )
        }),
        (b"zvon-ctl 1 agent-logout alice bob", |e| {
            matches!(
                e,
                E::Extra {
                    command: "agent-logout",
                    ..
                }
            )
        }),
        (b"zvon-ctl 1 agent-unpause", |e| {
            matches!(e, E::Missing { .. })
        }),
        (b"zvon-ctl 1 agent-login", |e| {
            matches!(e, E::Missing { .. })
        }),
        (
            b"zvon-ctl 1 agent-pause alice lunch",
            |e| matches!(e, E::BadReason(r) if r == "lunch"),
        ),
        (b"zvon-ctl 1 agent-pause alice 65536", |e| {
            matches!(e, E::BadReason(_))
        }),
        (b"zvon-ctl 1 agent-pause alice -1", |e| {
            matches!(e, E::BadReason(_))
        }),
        (b"zvon-ctl 1 agent-pause alice +3", |e| {
            matches!(e, E::BadReason(_))
        }),
        (b"zvon-ctl 1 agent-pause alice 3 4", |e| {
            matches!(
                e,
                E::Extra {
                    command: "agent-pause",
                    ..
                }
            )
        }),
        (b"zvon-ctl 1 agent-pause al\x01ce", |e| {
            matches!(
                e,
                E::BadName {
                    why: NameError::Control,
                    ..
                }
            )
        }),
        (b"zvon-ctl 1 agent-login alice sa\x7fles", |e| {
            matches!(e, E::BadName { what: "queue", .. })
        }),
        (b"zvon-ctl 1 status\nzvon-ctl 1 status", |e| {
            *e == E::ExtraLine
        }),
        (b"zvon-ctl 1 st\ratus", |e| *e == E::ExtraLine),
        (b"zvon-ctl 1 agent-logout \xff\xfe", |e| *e == E::NotUtf8),
        (b"\0\0\0\0", |e| *e == E::NoMagic),
    ];
    for (line, want) in cases {
        match decode_request(line) {
            Ok(r) => panic!("{:?} decoded as {r:?}", String::from_utf8_lossy(line)),
            Err(e) => {
                assert!(want(&e), "{:?}: {e:?}", String::from_utf8_lossy(line));
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn a_trailing_cr_alone_is_stripped_once() {
    // "status\r" without "\n": the CR is stripped as a line ending.
    assert_eq!(decode_request(b"zvon-ctl 1 status\r"), Ok(Request::Status));
    // Two CRs leave one inside the line.
    assert_eq!(
        decode_request(b"zvon-ctl 1 status\r\r\n"),
        Err(ProtocolError::ExtraLine)
    );
}

#[test]
fn long_lines_and_long_names_are_refused_with_short_messages() {
    let long = format!("zvon-ctl 1 agent-logout {}", "a".repeat(MAX_REQUEST_LINE));
    assert_eq!(decode_request(long.as_bytes()), Err(ProtocolError::TooLong));
    let name = "b".repeat(200);
    let e = decode_request(format!("zvon-ctl 1 agent-logout {name}").as_bytes()).unwrap_err();
    assert!(matches!(
        e,
        ProtocolError::BadName {
            why: NameError::TooLong,
            ..
        }
    ));
    assert!(e.to_string().len() < 200, "{e}");
    let e = decode_request(format!("zvon-ctl 1 {}", "ж".repeat(500)).as_bytes()).unwrap_err();
    assert!(e.to_string().chars().count() < 250, "{e}");
}

#[test]
fn random_garbage_never_panics() {
    // A small xorshift over bytes biased towards the protocol's alphabet.
    let alphabet: &[u8] = b"zvon-ctl 1 2 status-queues agent-login pause \n\r\t\0\xff\xc3\xa9";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 90) as usize;
        let mut line = Vec::with_capacity(len);
        let mut y = x;
        for _ in 0..len {
            y = y.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let b = if y >> 63 == 0 {
                alphabet[(y >> 32) as usize % alphabet.len()]
            } else {
                (y >> 40) as u8
            };
            line.push(b);
        }
        if let Ok(req) = decode_request(&line) {
            // Whatever decodes re-encodes to a line that decodes to the same request.
            let again = encode_request(&req).unwrap();
            assert_eq!(decode_request(again.as_bytes()), Ok(req));
        }
        let _ = decode_response(&line);
    }
}

#[test]
fn responses_round_trip_and_garbage_is_an_error() {
    for rsp in [
        Response::ok(""),
        Response::ok("zvon 0.1.0\nregistrations: 1\n"),
        Response::error("no agent `alice`"),
        Response::error("line one\nline two\n\nok\nerror\n"),
    ] {
        let bytes = encode_response(&rsp);
        assert_eq!(decode_response(&bytes), Ok(rsp));
    }
    assert_eq!(encode_response(&Response::ok("hi")), b"ok\nhi");
    assert_eq!(encode_response(&Response::error("no")), b"error\nno");
    assert_eq!(decode_response(b"ok"), Ok(Response::ok("")));
    assert_eq!(decode_response(b"error\r\nx"), Ok(Response::error("x")));
    assert_eq!(decode_response(b"ok\n\xffx"), Ok(Response::ok("\u{fffd}x")));
    for bad in [&b""[..], b"OK\n", b"yes\nfine", b"ok \n", b"\xff\n"] {
        assert!(
            matches!(decode_response(bad), Err(ProtocolError::BadStatus(_))),
            "{bad:?}"
        );
    }
}
