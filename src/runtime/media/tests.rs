//! Media workers on real loopback sockets. Every wait is bounded by a socket read timeout or a
//! channel `recv_timeout`; nothing sleeps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use super::{MediaRuntime, MediaRuntimeConfig};
use crate::media::rtp;
use crate::media::session::SessionConfig;
use crate::media::{
    Codec, Direction, Format, LegMedia, MediaCommand, MediaEvent, OpusParams, SessionId,
};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn start(workers: usize) -> (MediaRuntime, mpsc::Receiver<MediaEvent>) {
    let (tx, rx) = mpsc::channel();
    let cfg = MediaRuntimeConfig {
        bind_ip: LOOPBACK,
        workers,
        session: SessionConfig::default(),
    };
    let rt = MediaRuntime::start(cfg, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    (rt, rx)
}

/// An even port whose neighbour is free too (RTP + RTCP). Taken below the kernel's ephemeral
/// range so that the phones' sockets (port 0) never grab a port a session is about to bind.
fn free_pair() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 200) as u16 * 40,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let p = NEXT.fetch_add(2, Ordering::Relaxed);
        assert!(p < 32_000, "no free media ports");
        if UdpSocket::bind((LOOPBACK, p)).is_ok() && UdpSocket::bind((LOOPBACK, p + 1)).is_ok() {
            return p;
        }
    }
}

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

fn fmt(codec: Codec, pt: u8) -> Format {
    Format {
        codec,
        pt,
        ptime: Duration::from_millis(20),
        opus: OpusParams::default(),
        dtmf_pt: Some(101),
    }
}

fn leg(port: u16, remote: SocketAddr, format: Format) -> LegMedia {
    LegMedia {
        port,
        remote: Some(remote),
        format,
        direction: Direction::SendRecv,
    }
}

fn rtp_pkt(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    rtp::write_rtp(
        &mut v,
        false,
        pt,
        seq,
        u32::from(seq) * 160,
        0xabcd,
        payload,
    );
    v
}

/// Sends from `from` to `to` every ~20 ms until `at` receives a datagram matching `want`
/// (at most 2 s).
fn exchange(
    from: &UdpSocket,
    to: SocketAddr,
    mut pkt: impl FnMut(u16) -> Vec<u8>,
    at: &UdpSocket,
    mut want: impl FnMut(&[u8]) -> bool,
) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    for seq in 0..100u16 {
        from.send_to(&pkt(seq), to).unwrap();
        while let Ok((n, _)) = at.recv_from(&mut buf) {
            if want(&buf[..n]) {
                return buf[..n].to_vec();
            }
        }
    }
    panic!("nothing arrived");
}

fn closed(rx: &mpsc::Receiver<MediaEvent>, id: SessionId) -> [crate::media::LegStats; 2] {
    loop {
        match rx
            .recv_timeout(Duration::from_secs(2))
            .expect("no Closed event")
        {
            MediaEvent::Closed { session, stats } if session == id => return stats,
            _ => {}
        }
    }
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
fn relays_between_two_phones_with_rewritten_pt_and_reports_counts_on_close() {
    let (rt, events) = start(2);
    let (pa, pb) = (phone(), phone());
    let (port_a, port_b) = (free_pair(), free_pair());
    let id = SessionId(1);
    rt.send(MediaCommand::Open {
        session: id,
        a: leg(port_a, pa.local_addr().unwrap(), fmt(Codec::Opus, 111)),
        b: Some(leg(port_b, pb.local_addr().unwrap(), fmt(Codec::Opus, 96))),
    });
    let got = exchange(
        &pa,
        (LOOPBACK, port_a).into(),
        |seq| rtp_pkt(111, seq, b"opus payload"),
        &pb,
        |_| true,
    );
    let h = rtp::parse_rtp(&got).unwrap();
    assert_eq!((h.pt, h.ssrc), (96, 0xabcd));
    assert_eq!(&got[h.payload_offset..], b"opus payload");
    // And back, B → A.
    let got = exchange(
        &pb,
        (LOOPBACK, port_b).into(),
        |seq| rtp_pkt(96, seq, b"back"),
        &pa,
        |_| true,
    );
    assert_eq!(rtp::parse_rtp(&got).unwrap().pt, 111);
    rt.send(MediaCommand::Close { session: id });
    let stats = closed(&events, id);
    assert!(stats[0].packets >= 1 && stats[1].sent >= 1, "{stats:?}");
    assert!(stats[1].packets >= 1 && stats[0].sent >= 1, "{stats:?}");
    // The ports are free again.
    UdpSocket::bind((LOOPBACK, port_a)).unwrap();
    rt.shutdown();
}

#[test]
fn latches_to_the_real_source_port_of_a_phone() {
    let (rt, _events) = start(1);
    let (pa, pb) = (phone(), phone());
    let (port_a, port_b) = (free_pair(), free_pair());
    // A's SDP names a port nobody listens on (a NAT rewrote the real one).
    let wrong: SocketAddr = (LOOPBACK, free_pair()).into();
    rt.send(MediaCommand::Open {
        session: SessionId(2),
        a: leg(port_a, wrong, fmt(Codec::Pcmu, 0)),
        b: Some(leg(port_b, pb.local_addr().unwrap(), fmt(Codec::Pcmu, 0))),
    });
    let mut buf = [0u8; 2048];
    let mut got = None;
    for seq in 0..100u16 {
        pa.send_to(&rtp_pkt(0, seq, &[0xff; 160]), (LOOPBACK, port_a))
            .unwrap();
        pb.send_to(&rtp_pkt(0, seq, b"to a"), (LOOPBACK, port_b))
            .unwrap();
        if let Ok((n, _)) = pa.recv_from(&mut buf) {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    let got = got.expect("A never received B's audio at its real address");
    assert_eq!(&got[12..], b"to a");
    rt.shutdown();
}

#[test]
fn transcodes_pcmu_to_pcma_through_the_pipeline() {
    let (rt, events) = start(1);
    let (pa, pb) = (phone(), phone());
    let (port_a, port_b) = (free_pair(), free_pair());
    let id = SessionId(3);
    rt.send(MediaCommand::Open {
        session: id,
        a: leg(port_a, pa.local_addr().unwrap(), fmt(Codec::Pcmu, 0)),
        b: Some(leg(port_b, pb.local_addr().unwrap(), fmt(Codec::Pcma, 8))),
    });
    let samples: Vec<i16> = (0..160)
        .map(|i| if i % 20 < 10 { 6000 } else { -6000 })
        .collect();
    let ulaw = ulaw(&samples);
    // The pipeline conceals with silence between our packets: wait for a loud frame.
    let got = exchange(
        &pa,
        (LOOPBACK, port_a).into(),
        |seq| rtp_pkt(0, seq, &ulaw),
        &pb,
        |b| b.len() == 172 && alaw_pcm(&b[12..]).iter().any(|x| x.abs() > 3000),
    );
    let h = rtp::parse_rtp(&got).unwrap();
    assert_eq!(h.pt, 8);
    assert_ne!(h.ssrc, 0xabcd, "our own stream");
    for (want, &v) in samples.iter().zip(&alaw_pcm(&got[12..])) {
        assert!(
            (i32::from(*want) - i32::from(v)).abs() <= 400,
            "{want} vs {v}"
        );
    }
    rt.send(MediaCommand::Close { session: id });
    let stats = closed(&events, id);
    assert!(stats[1].sent >= 1);
    rt.shutdown();
}

#[test]
fn a_port_in_use_fails_the_open_and_shutdown_closes_the_rest() {
    let (rt, events) = start(1);
    let busy = free_pair();
    let _hold = UdpSocket::bind((LOOPBACK, busy)).unwrap();
    let remote: SocketAddr = (LOOPBACK, 9).into();
    rt.send(MediaCommand::Open {
        session: SessionId(4),
        a: leg(busy, remote, fmt(Codec::Pcmu, 0)),
        b: None,
    });
    match events.recv_timeout(Duration::from_secs(2)).unwrap() {
        MediaEvent::OpenFailed { session, reason } => {
            assert_eq!(session, SessionId(4));
            assert!(reason.contains(&busy.to_string()), "{reason}");
        }
        e => panic!("{e:?}"),
    }
    rt.send(MediaCommand::Open {
        session: SessionId(5),
        a: leg(free_pair(), remote, fmt(Codec::Pcmu, 0)),
        b: None,
    });
    rt.shutdown();
    assert!(matches!(
        events.recv_timeout(Duration::from_secs(2)).unwrap(),
        MediaEvent::Closed {
            session: SessionId(5),
            ..
        }
    ));
}

/// Thread CPU time of the first thread named `zvon-media-0`, from procfs (ns).
fn media_thread_cpu_ns() -> u64 {
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == "zvon-media-0" {
            let s = std::fs::read_to_string(dir.join("schedstat")).unwrap();
            return s.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    panic!("no media thread");
}

/// `cargo test --release --lib -- --ignored relay_cost --nocapture`
#[test]
#[ignore = "micro-benchmark"]
fn relay_cost() {
    const STREAMS: usize = 50;
    const PACKETS: usize = 2000;
    let (rt, _events) = start(1);
    let mut phones = Vec::new();
    for i in 0..STREAMS {
        let (pa, pb) = (phone(), phone());
        let (port_a, port_b) = (free_pair(), free_pair());
        rt.send(MediaCommand::Open {
            session: SessionId(100 + i as u64),
            a: leg(port_a, pa.local_addr().unwrap(), fmt(Codec::Pcmu, 0)),
            b: Some(leg(port_b, pb.local_addr().unwrap(), fmt(Codec::Pcmu, 8))),
        });
        // Wait until the session relays.
        exchange(
            &pa,
            (LOOPBACK, port_a).into(),
            |s| rtp_pkt(0, s, &[0; 160]),
            &pb,
            |_| true,
        );
        pb.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        phones.push((pa, pb, port_a));
    }
    // Drain what the session setup left behind.
    let mut buf = [0u8; 2048];
    for (_, pb, _) in &phones {
        pb.set_nonblocking(true).unwrap();
        while pb.recv_from(&mut buf).is_ok() {}
        pb.set_nonblocking(false).unwrap();
    }
    // One packet per stream per round (a 20 ms frame on every call at once), then collect the
    // round: the worker sees batches like a loaded PBX, and nothing overflows a socket buffer.
    let cpu0 = media_thread_cpu_ns();
    let mut received = 0usize;
    for round in 0..PACKETS {
        for (pa, _, port) in &phones {
            pa.send_to(&rtp_pkt(0, round as u16, &[0x55; 160]), (LOOPBACK, *port))
                .unwrap();
        }
        for (_, pb, _) in &phones {
            if let Ok((n, _)) = pb.recv_from(&mut buf) {
                assert_eq!(n, 172);
                received += 1;
            }
        }
    }
    let cpu = media_thread_cpu_ns() - cpu0;
    let sent = STREAMS * PACKETS;
    println!(
        "relay_cost: {STREAMS} streams, {sent} packets sent, {received} relayed, {:.2} µs CPU per relayed packet (worker thread)",
        cpu as f64 / 1000.0 / received.max(1) as f64
    );
    assert!(
        received > sent * 99 / 100,
        "lost too many: {received}/{sent}"
    );
    rt.shutdown();
}
