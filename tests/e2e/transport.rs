//! SIP transports seen from a raw socket: TCP framing and keep-alives, UDP limits.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use crate::common::{Daemon, TestConfig};

fn options(branch: &str, via_host: &str) -> String {
    format!(
        "OPTIONS sip:zvon.test SIP/2.0\r\nVia: SIP/2.0/TCP {via_host};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@zvon.test>;tag=t{branch}\r\nTo: <sip:zvon.test>\r\n\
         Call-ID: {branch}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Reads until `n` complete responses (each ends with an empty line and no body) arrived.
fn read_responses(s: &mut TcpStream, n: usize) -> String {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while got.matches("SIP/2.0 200").count() < n {
        let k = s.read(&mut buf).expect("response within 3 s");
        assert!(k > 0, "connection closed; got so far:\n{got}");
        got.push_str(&String::from_utf8_lossy(&buf[..k]));
    }
    got
}

#[test]
fn tcp_frames_by_content_length_and_answers_crlf_keepalives() {
    let d = Daemon::start(&TestConfig::default());
    let mut s = TcpStream::connect(d.tcp).unwrap();
    let me = s.local_addr().unwrap().to_string();
    // RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong.
    s.write_all(b"\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut pong = [0u8; 2];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    // Two requests in one segment, then one split across three writes.
    let two = format!("{}{}", options("a1", &me), options("a2", &me));
    s.write_all(two.as_bytes()).unwrap();
    let got = read_responses(&mut s, 2);
    assert!(
        got.contains("branch=z9hG4bKa1") && got.contains("branch=z9hG4bKa2"),
        "{got}"
    );
    let third = options("a3", &me);
    let (x, rest) = third.as_bytes().split_at(17);
    let (y, z) = rest.split_at(60);
    for part in [x, y, z] {
        s.write_all(part).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let got = read_responses(&mut s, 1);
    assert!(
        got.contains("branch=z9hG4bKa3") && got.contains("Allow: "),
        "{got}"
    );
}

#[test]
fn oversized_udp_datagram_is_dropped_and_the_server_keeps_answering() {
    let d = Daemon::start(&TestConfig {
        max_message_size: 4096,
        ..TestConfig::default()
    });
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let me = s.local_addr().unwrap().to_string();
    let mut big = options("big", &me).replace("TCP", "UDP");
    big.insert_str(big.len() - 4, &format!("\r\nX-Pad: {}", "x".repeat(5_000)));
    s.send_to(big.as_bytes(), d.udp).unwrap();
    let mut buf = [0u8; 65_536];
    assert!(
        s.recv_from(&mut buf).is_err(),
        "an over-limit message must not be answered"
    );
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(options("ok", &me).replace("TCP", "UDP").as_bytes(), d.udp)
        .unwrap();
    let (n, _) = s.recv_from(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200 OK"));
}
