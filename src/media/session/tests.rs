//! MediaSession on virtual time: every `now` is an offset from one origin; nothing sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{MediaSession, SessionConfig};
use crate::media::dtmf::{self, DtmfEvent};
use crate::media::rtp;
use crate::media::{Codec, Direction, Format, LegMedia, MediaEvent, OpusParams, SessionId, Side};

type Sent = Vec<(Side, SocketAddr, Vec<u8>)>;

fn origin() -> Instant {
    crate::testkit::origin()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn fmt(codec: Codec, pt: u8, dtmf_pt: Option<u8>) -> Format {
    Format {
        codec,
        pt,
        ptime: ms(20),
        opus: OpusParams::default(),
        dtmf_pt,
    }
}

fn leg(port: u16, remote: &str, format: Format) -> LegMedia {
    LegMedia {
        port,
        remote: Some(addr(remote)),
        format,
        direction: Direction::SendRecv,
    }
}

const A_SDP: &str = "192.0.2.10:4000";
const B_SDP: &str = "192.0.2.20:5000";
const A_NAT: &str = "198.51.100.7:31000";
const B_NAT: &str = "198.51.100.8:32000";

fn session(t: Instant, a: Format, b: Format) -> MediaSession {
    MediaSession::new(
        t,
        SessionId(7),
        leg(20_000, A_SDP, a),
        Some(leg(20_002, B_SDP, b)),
        SessionConfig::default(),
    )
}

fn pkt(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    rtp::write_rtp(&mut v, false, pt, seq, ts, 0x1111, payload);
    v
}

fn dtmf_pkt(pt: u8, seq: u16, ts: u32, marker: bool, end: bool, duration: u16) -> Vec<u8> {
    let mut p = Vec::new();
    dtmf::write_event(
        &mut p,
        &DtmfEvent {
            digit: '5',
            end,
            volume: 10,
            duration,
        },
    );
    let mut v = Vec::new();
    rtp::write_rtp(&mut v, marker, pt, seq, ts, 0x2222, &p);
    v
}

fn rx(s: &mut MediaSession, now: Instant, side: Side, src: &str, p: &[u8]) -> Sent {
    let mut out = Sent::new();
    let mut p = p.to_vec();
    s.handle_rtp(now, side, addr(src), &mut p, &mut |side, dst, b| {
        out.push((side, dst, b.to_vec()))
    });
    out
}

fn rtcp(s: &mut MediaSession, now: Instant, side: Side, src: &str, p: &[u8]) -> Sent {
    let mut out = Sent::new();
    s.handle_rtcp(now, side, addr(src), p, &mut |side, dst, b| {
        out.push((side, dst, b.to_vec()))
    });
    out
}

fn tick(s: &mut MediaSession, now: Instant) -> Sent {
    let mut out = Sent::new();
    s.handle_tick(now, &mut |side, dst, b| out.push((side, dst, b.to_vec())));
    out
}

fn events(s: &mut MediaSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn opus_pair() -> (Format, Format) {
    (
        fmt(Codec::Opus, 111, Some(101)),
        fmt(Codec::Opus, 96, Some(100)),
    )
}

/// µ-law bytes for `pcm`, through the codec contract (`codec::encoder`).
fn ulaw(pcm: &[i16]) -> Vec<u8> {
    let f = fmt_g711(Codec::Pcmu, 0);
    let mut enc = crate::media::codec::encoder(&f, &SessionConfig::default().encoder).unwrap();
    let mut out = Vec::new();
    enc.encode(pcm, &mut out).unwrap();
    out
}

/// Samples of an A-law payload, through the codec contract (`codec::decoder`).
fn alaw_pcm(payload: &[u8]) -> Vec<i16> {
    let f = fmt_g711(Codec::Pcma, 8);
    let mut dec = crate::media::codec::decoder(&f).unwrap();
    let mut out = Vec::new();
    dec.decode(payload, &mut out).unwrap();
    out
}

fn fmt_g711(codec: Codec, pt: u8) -> Format {
    Format {
        codec,
        pt,
        ptime: Duration::from_millis(20),
        opus: OpusParams::default(),
        dtmf_pt: None,
    }
}

#[test]
fn relay_rewrites_payload_type_and_keeps_the_rest() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    assert!(!s.needs_tick(), "a plain relay needs no 20 ms tick");
    let p = pkt(111, 1, 960, b"opus-frame");
    let out = rx(&mut s, t, Side::A, A_SDP, &p);
    assert_eq!(out.len(), 1);
    let (side, dst, bytes) = &out[0];
    assert_eq!((*side, *dst), (Side::B, addr(B_SDP)));
    let h = rtp::parse_rtp(bytes).unwrap();
    assert_eq!((h.pt, h.seq, h.ts, h.ssrc), (96, 1, 960, 0x1111));
    assert_eq!(&bytes[h.payload_offset..], b"opus-frame");
    // and back
    let out = rx(&mut s, t, Side::B, B_SDP, &pkt(96, 9, 0, b"x"));
    assert_eq!(rtp::parse_rtp(&out[0].2).unwrap().pt, 111);
    assert_eq!(out[0].1, addr(A_SDP));
    let st = s.stats();
    assert_eq!((st[0].packets, st[0].sent), (1, 1));
    assert_eq!((st[1].packets, st[1].sent), (1, 1));
}

#[test]
fn latches_to_the_nated_source_of_the_first_packets() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    // Before A sends, B's audio goes to A's SDP address.
    let out = rx(&mut s, t, Side::B, B_SDP, &pkt(96, 1, 0, b"b"));
    assert_eq!(out[0].1, addr(A_SDP));
    rx(&mut s, t + ms(20), Side::A, A_NAT, &pkt(111, 1, 0, b"a"));
    let out = rx(&mut s, t + ms(40), Side::B, B_SDP, &pkt(96, 2, 960, b"b"));
    assert_eq!(out[0].1, addr(A_NAT));
    assert_eq!(s.rtp_dst(Side::A), Some(addr(A_NAT)));
}

#[test]
fn a_second_source_is_refused_until_the_first_is_silent_for_a_second() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    let intruder = "203.0.113.66:40000";
    rx(&mut s, t, Side::A, A_NAT, &pkt(111, 1, 0, b"a"));
    let out = rx(
        &mut s,
        t + ms(500),
        Side::A,
        intruder,
        &pkt(111, 2, 960, b"evil"),
    );
    assert!(out.is_empty(), "hijack attempt relayed");
    assert_eq!(s.dropped(), 1);
    assert_eq!(s.rtp_dst(Side::A), Some(addr(A_NAT)));
    // The latched source keeps talking at 900 ms; the intruder at 1.5 s is still refused.
    rx(&mut s, t + ms(900), Side::A, A_NAT, &pkt(111, 3, 960, b"a"));
    assert!(
        rx(
            &mut s,
            t + ms(1500),
            Side::A,
            intruder,
            &pkt(111, 4, 0, b"x")
        )
        .is_empty()
    );
    // After a full second of silence from A_NAT the new source takes over.
    let out = rx(
        &mut s,
        t + ms(1900),
        Side::A,
        intruder,
        &pkt(111, 5, 0, b"y"),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(s.rtp_dst(Side::A), Some(addr(intruder)));
    // An explicit update (same SDP address) keeps sending to the latched source but lets the
    // next packets re-latch at once.
    s.update(t + ms(2000), Side::A, leg(20_000, A_SDP, fa));
    assert_eq!(s.rtp_dst(Side::A), Some(addr(intruder)));
    assert_eq!(
        rx(&mut s, t + ms(2010), Side::A, A_NAT, &pkt(111, 6, 0, b"z")).len(),
        1
    );
    assert!(
        rx(
            &mut s,
            t + ms(2020),
            Side::A,
            intruder,
            &pkt(111, 7, 0, b"z")
        )
        .is_empty()
    );
    assert_eq!(s.rtp_dst(Side::A), Some(addr(A_NAT)));
    // A new SDP address replaces the latched one.
    s.update(t + ms(3000), Side::A, leg(20_000, "192.0.2.11:4002", fa));
    assert_eq!(s.rtp_dst(Side::A), Some(addr("192.0.2.11:4002")));
}

#[test]
fn rtcp_relays_to_rtp_port_plus_one_unless_rtcp_came_from_elsewhere() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    let sr = [0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0];
    rx(&mut s, t, Side::B, B_NAT, &pkt(96, 1, 0, b"b"));
    let out = rtcp(&mut s, t, Side::A, "198.51.100.7:31001", &sr);
    assert_eq!(
        out,
        vec![(Side::B, addr("198.51.100.8:32001"), sr.to_vec())]
    );
    rtcp(&mut s, t, Side::B, "198.51.100.8:40111", &sr);
    let out = rtcp(&mut s, t + ms(10), Side::A, "198.51.100.7:31001", &sr);
    assert_eq!(out[0].1, addr("198.51.100.8:40111"));
    // Garbage on the RTCP port is dropped.
    assert!(rtcp(&mut s, t, Side::A, "198.51.100.7:31001", &[0x80, 96, 0]).is_empty());
}

#[test]
fn dtmf_relays_with_renumbered_pt_and_is_reported_once() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    let mut out = rx(
        &mut s,
        t,
        Side::A,
        A_NAT,
        &dtmf_pkt(101, 1, 4800, true, false, 960),
    );
    for i in 0..3 {
        out.extend(rx(
            &mut s,
            t + ms(20 + i),
            Side::A,
            A_NAT,
            &dtmf_pkt(101, 2 + i as u16, 4800, false, true, 1920),
        ));
    }
    assert_eq!(out.len(), 4);
    for (_, _, b) in &out {
        let h = rtp::parse_rtp(b).unwrap();
        assert_eq!((h.pt, h.ts), (100, 4800));
    }
    assert_eq!(
        events(&mut s),
        vec![MediaEvent::Dtmf {
            session: SessionId(7),
            side: Side::A,
            digit: '5'
        }]
    );
}

#[test]
fn dtmf_is_dropped_but_reported_when_the_other_leg_has_no_telephone_event() {
    let t = origin();
    let mut s = session(t, fmt(Codec::Pcmu, 0, Some(101)), fmt(Codec::Pcmu, 0, None));
    assert!(
        rx(
            &mut s,
            t,
            Side::A,
            A_NAT,
            &dtmf_pkt(101, 1, 0, true, false, 160)
        )
        .is_empty()
    );
    assert!(
        rx(
            &mut s,
            t,
            Side::A,
            A_NAT,
            &dtmf_pkt(101, 2, 0, false, true, 800)
        )
        .is_empty()
    );
    assert_eq!(events(&mut s).len(), 1);
    // B never negotiated telephone-event: a stray PT 101 from B is an unknown PT, dropped.
    assert!(
        rx(
            &mut s,
            t,
            Side::B,
            B_NAT,
            &dtmf_pkt(101, 1, 0, true, true, 800)
        )
        .is_empty()
    );
    assert!(events(&mut s).is_empty());
}

#[test]
fn send_dtmf_emits_the_rfc4733_packet_sequence() {
    let t = origin();
    let mut s = session(
        t,
        fmt(Codec::Pcmu, 0, Some(101)),
        fmt(Codec::Pcmu, 0, Some(101)),
    );
    s.send_dtmf(t, Side::B, '#', ms(100));
    assert!(s.needs_tick());
    let mut pkts = Vec::new();
    for i in 0..20 {
        pkts.extend(tick(&mut s, t + ms(20 * i)));
    }
    assert!(!s.needs_tick(), "done after the three end packets");
    let hs: Vec<_> = pkts
        .iter()
        .map(|(side, dst, b)| {
            assert_eq!((*side, *dst), (Side::B, addr(B_SDP)));
            let h = rtp::parse_rtp(b).unwrap();
            (h, dtmf::parse_event(&b[h.payload_offset..]).unwrap())
        })
        .collect();
    assert!(hs.len() >= 5, "{} packets", hs.len());
    assert!(hs[0].0.marker && !hs[0].1.end);
    assert!(hs[1..].iter().all(|(h, _)| !h.marker));
    let ends: Vec<_> = hs.iter().filter(|(_, e)| e.end).collect();
    assert_eq!(ends.len(), 3, "RFC 4733 §2.5.1.4: three end packets");
    assert!(
        hs.iter()
            .all(|(h, e)| h.pt == 101 && h.ts == hs[0].0.ts && e.digit == '#')
    );
    assert!(
        hs.windows(2)
            .all(|w| w[1].0.seq == w[0].0.seq.wrapping_add(1))
    );
    assert!(hs.windows(2).all(|w| w[1].1.duration >= w[0].1.duration));
    assert_eq!(ends[0].1.duration, 800);
    // A leg without telephone-event ignores send_dtmf.
    let mut s = session(t, fmt(Codec::Pcmu, 0, None), fmt(Codec::Pcmu, 0, None));
    s.send_dtmf(t, Side::A, '1', ms(100));
    assert!(!s.needs_tick());
}

#[test]
fn hold_directions_gate_what_is_sent_and_accepted() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    let mut a = leg(20_000, A_SDP, fa);
    // A put the call on hold: A only sends, so nothing may go to A.
    a.direction = Direction::SendOnly;
    s.update(t, Side::A, a.clone());
    assert!(rx(&mut s, t, Side::B, B_SDP, &pkt(96, 1, 0, b"b")).is_empty());
    assert_eq!(
        rx(&mut s, t, Side::A, A_SDP, &pkt(111, 1, 0, b"a")).len(),
        1
    );
    // recvonly: what A sends is dropped, B's audio reaches A.
    a.direction = Direction::RecvOnly;
    s.update(t, Side::A, a.clone());
    assert!(rx(&mut s, t, Side::A, A_SDP, &pkt(111, 2, 0, b"a")).is_empty());
    assert_eq!(rx(&mut s, t, Side::B, B_SDP, &pkt(96, 2, 0, b"b")).len(), 1);
    a.direction = Direction::Inactive;
    s.update(t, Side::A, a);
    assert!(rx(&mut s, t, Side::A, A_SDP, &pkt(111, 3, 0, b"a")).is_empty());
    assert!(rx(&mut s, t, Side::B, B_SDP, &pkt(96, 3, 0, b"b")).is_empty());
}

#[test]
fn moh_replaces_relay_and_keeps_our_sequence_continuous() {
    let t = origin();
    let f = fmt(Codec::Pcmu, 0, Some(101));
    let mut s = session(t, f, f);
    s.start_moh(Side::A);
    assert!(s.needs_tick());
    // B's audio is not relayed to A while MOH plays.
    assert!(rx(&mut s, t, Side::B, B_SDP, &pkt(0, 1, 0, &[0xff; 160])).is_empty());
    let first: Vec<_> = (0..5).flat_map(|i| tick(&mut s, t + ms(20 * i))).collect();
    assert_eq!(first.len(), 5);
    let h: Vec<_> = first
        .iter()
        .map(|p| rtp::parse_rtp(&p.2).unwrap())
        .collect();
    assert!(h[0].marker);
    assert!(
        h.windows(2)
            .all(|w| w[1].seq == w[0].seq.wrapping_add(1) && w[1].ts == w[0].ts + 160)
    );
    assert!(
        first
            .iter()
            .all(|p| p.0 == Side::A && p.2.len() == 12 + 160)
    );
    s.stop_moh(Side::A);
    assert!(!s.needs_tick());
    // Relay resumes with B's own stream.
    let out = rx(
        &mut s,
        t + ms(200),
        Side::B,
        B_SDP,
        &pkt(0, 2, 160, &[0xff; 160]),
    );
    assert_eq!(rtp::parse_rtp(&out[0].2).unwrap().ssrc, 0x1111);
    assert!(tick(&mut s, t + ms(220)).is_empty());
    // MOH again one second later: seq continues, ts advanced by the idle time.
    s.start_moh(Side::A);
    let again = tick(&mut s, t + ms(1080));
    let h2 = rtp::parse_rtp(&again[0].2).unwrap();
    assert_eq!(h2.seq, h[4].seq.wrapping_add(1));
    assert_eq!(h2.ssrc, h[4].ssrc);
    assert_eq!(
        h2.ts,
        h[4].ts + 160 * 50,
        "1000 ms after the last frame, at 8 kHz"
    );
}

#[test]
fn rtp_timeout_fires_once_per_silence_and_not_for_held_legs() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    rx(&mut s, t, Side::A, A_NAT, &pkt(111, 1, 0, b"a"));
    rx(
        &mut s,
        t + ms(20_000),
        Side::A,
        A_NAT,
        &pkt(111, 2, 0, b"a"),
    );
    tick(&mut s, t + ms(30_500));
    // B never sent: expected to, times out 30 s after the session started.
    assert_eq!(
        events(&mut s),
        vec![MediaEvent::RtpTimeout {
            session: SessionId(7),
            side: Side::B
        }]
    );
    tick(&mut s, t + ms(40_000));
    assert!(events(&mut s).is_empty(), "once per silence");
    tick(&mut s, t + ms(50_000));
    assert_eq!(events(&mut s).len(), 1, "A silent since 20 s");
    // B speaks again, then goes on hold (sendonly is not expected to keep sending).
    rx(&mut s, t + ms(50_000), Side::B, B_NAT, &pkt(96, 1, 0, b"b"));
    let mut b = leg(20_002, B_SDP, fb);
    b.direction = Direction::SendOnly;
    s.update(t + ms(50_000), Side::B, b);
    tick(&mut s, t + ms(200_000));
    assert_eq!(
        events(&mut s)
            .iter()
            .filter(|e| matches!(e, MediaEvent::RtpTimeout { side: Side::B, .. }))
            .count(),
        0
    );
}

#[test]
fn garbage_and_rtcp_on_the_rtp_port_are_dropped_and_counted() {
    let t = origin();
    let (fa, fb) = opus_pair();
    let mut s = session(t, fa, fb);
    let sr = [0x80, 200, 0, 6, 1, 2, 3, 4];
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x80],
        vec![0x40; 12],
        sr.to_vec(),
        vec![0x8f, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
        vec![0xa0, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 200],
    ];
    // A pseudo-random spray on top.
    let mut x: u32 = 12345;
    for n in 0..2000 {
        let v: Vec<u8> = (0..(n % 40))
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        junk.push(v);
    }
    let mut relayed = 0;
    for (i, j) in junk.iter().enumerate() {
        relayed += rx(&mut s, t + ms(i as u64), Side::A, A_NAT, j).len();
        rtcp(&mut s, t, Side::B, B_NAT, j);
    }
    assert!(s.dropped() >= 7);
    // Whatever parsed as RTP with our PT may be relayed; nothing panicked.
    assert!(relayed <= junk.len());
    tick(&mut s, t + ms(5000));
}

#[test]
fn transcodes_pcmu_to_pcma_on_our_own_stream() {
    let t = origin();
    let mut s = session(
        t,
        fmt(Codec::Pcmu, 0, Some(101)),
        fmt(Codec::Pcma, 8, Some(96)),
    );
    assert!(s.needs_tick());
    let samples: Vec<i16> = (0..160).map(|i| ((i * 200) % 8000 - 4000) as i16).collect();
    let ulaw = ulaw(&samples);
    let mut sent = Vec::new();
    for i in 0..5u16 {
        let now = t + ms(20 * u64::from(i));
        assert!(
            rx(
                &mut s,
                now,
                Side::A,
                A_NAT,
                &pkt(0, i, u32::from(i) * 160, &ulaw)
            )
            .is_empty()
        );
        sent.extend(tick(&mut s, now).into_iter().filter(|p| p.0 == Side::B));
    }
    // The jitter buffer holds back its first frame(s) before playout starts.
    assert!((3..=5).contains(&sent.len()), "{} frames", sent.len());
    let hs: Vec<_> = sent.iter().map(|p| rtp::parse_rtp(&p.2).unwrap()).collect();
    assert!(hs.iter().all(|h| h.pt == 8 && h.ssrc != 0x1111));
    assert!(
        hs.windows(2)
            .all(|w| w[1].seq == w[0].seq.wrapping_add(1) && w[1].ts == w[0].ts + 160)
    );
    let pcm = alaw_pcm(&sent[0].2[12..]);
    for (a, b) in samples.iter().zip(&pcm) {
        assert!((i32::from(*a) - i32::from(*b)).abs() <= 300, "{a} vs {b}");
    }
    // DTMF bypasses the pipeline, renumbered and on B's stream and clock.
    let out = rx(
        &mut s,
        t + ms(100),
        Side::A,
        A_NAT,
        &dtmf_pkt(101, 9, 4242, true, false, 160),
    );
    let h = rtp::parse_rtp(&out[0].2).unwrap();
    assert_eq!((out[0].0, h.pt, h.ssrc), (Side::B, 96, hs[0].ssrc));
    let last = hs.last().unwrap();
    assert_eq!(h.seq, last.seq.wrapping_add(1));
    assert_eq!(h.ts, last.ts + 160, "the next slot of B's clock");
}

/// An IVR-style session: leg A only, media ends at Zvon.
fn local_session(t: Instant) -> MediaSession {
    let mut lib = crate::media::play::PromptLibrary {
        rate: 16_000,
        prompts: Default::default(),
    };
    let tone = crate::media::codec::testsig::tone(16_000, 700.0, 8000.0, 8000);
    lib.prompts
        .insert("en/hello".into(), std::sync::Arc::from(tone));
    let cfg = SessionConfig {
        prompts: std::sync::Arc::new(lib),
        ..SessionConfig::default()
    };
    MediaSession::new(
        t,
        SessionId(9),
        leg(4000, A_SDP, fmt(Codec::Pcmu, 0, Some(101))),
        None,
        cfg,
    )
}

#[test]
fn prompts_play_to_a_lone_leg_and_report_done() {
    let t = origin();
    let mut s = local_session(t);
    s.play(
        t,
        Side::A,
        7,
        "ru",
        &["hello".to_owned(), "missing".to_owned()],
    );
    assert!(s.needs_tick());
    let mut sent = 0;
    let mut done = None;
    for i in 0..60u64 {
        let mut n = 0;
        s.handle_tick(t + ms(20 * i), &mut |side, dst, p| {
            assert_eq!((side, dst), (Side::A, addr(A_SDP)));
            assert_eq!(rtp::parse_rtp(p).unwrap().pt, 0);
            n += 1;
        });
        sent += n;
        while let Some(ev) = s.poll_event() {
            if let MediaEvent::PlayDone { id, .. } = ev {
                done.get_or_insert((id, i));
            }
        }
    }
    let (id, at) = done.expect("PlayDone");
    assert_eq!(id, 7);
    // 0.5 s of prompt (English fallback) = 25 frames, plus the tail.
    assert!(
        (25..=28).contains(&sent) && (25..=28).contains(&(at as usize)),
        "{sent} frames, done at {at}"
    );
    assert!(!s.needs_tick());
}

#[test]
fn inband_dtmf_is_detected_and_audio_recorded_on_a_lone_leg() {
    let t = origin();
    let mut s = local_session(t);
    s.record(Side::A, Duration::from_secs(10), Duration::ZERO);
    // DTMF "5" = 770 Hz + 1336 Hz, 100 ms, then 100 ms of silence.
    let tone: Vec<i16> = (0..1600)
        .map(|i| {
            let x = i as f64 / 8000.0;
            (6000.0
                * ((2.0 * std::f64::consts::PI * 770.0 * x).sin()
                    + (2.0 * std::f64::consts::PI * 1336.0 * x).sin())) as i16
        })
        .chain(std::iter::repeat_n(0, 1600))
        .collect();
    let mut digits = Vec::new();
    for (k, frame) in tone.chunks(160).enumerate() {
        let payload: Vec<u8> = frame
            .iter()
            .map(|v| crate::media::codec::g711::encode_ulaw(*v))
            .collect();
        let p = pkt(0, k as u16, k as u32 * 160, &payload);
        rx(&mut s, t + ms(20 * k as u64), Side::A, A_NAT, &p);
        while let Some(ev) = s.poll_event() {
            if let MediaEvent::Dtmf { digit, .. } = ev {
                digits.push(digit);
            }
        }
    }
    assert_eq!(digits, vec!['5']);
    s.stop_record(Side::A);
    let rec = std::iter::from_fn(|| s.poll_event()).find_map(|ev| match ev {
        MediaEvent::Recorded { pcm, rate, end, .. } => Some((pcm.len(), rate, end)),
        _ => None,
    });
    assert_eq!(
        rec,
        Some((3200, 8000, crate::media::play::RecordEnd::Stopped))
    );
}
