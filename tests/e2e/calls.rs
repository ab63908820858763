//! Calls through the real binary: SIPp and baresip as phones, RTP and CDRs checked.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{Daemon, TestConfig, free_udp_port, inf, require, sipp_dir};

/// Fills a scenario template into the test's directory.
pub(crate) fn scenario(dir: &Path, name: &str, subst: &[(&str, &str)], info: bool) -> PathBuf {
    let mut text = std::fs::read_to_string(sipp_dir().join(format!("{name}.xml.in"))).unwrap();
    let part = if info {
        std::fs::read_to_string(sipp_dir().join("info_dtmf.xml.part")).unwrap()
    } else {
        String::new()
    };
    text = text.replace("@INFO@", &part);
    for (k, v) in subst {
        text = text.replace(k, v);
    }
    text = text.replace("@PREPAUSE@", "10");
    let out = dir.join(format!("{name}.xml"));
    std::fs::write(&out, text).unwrap();
    out
}

pub(crate) fn sipp(args: &[String], cwd: &Path) -> Child {
    require("sipp");
    Command::new("sipp")
        .args(args)
        .args(["-nostdin", "-timeout", "40s", "-timeout_error"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A SIPp caller running `scenario` against the daemon: `calls` calls, a media port of its
/// own, and `extra` arguments.
pub(crate) fn sipp_uac(
    d: &Daemon,
    scenario: &Path,
    calls: u32,
    extra: &[&str],
    cwd: &Path,
) -> Child {
    let mut args = vec![
        d.udp.to_string(),
        "-sf".into(),
        scenario.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-m".into(),
        calls.to_string(),
        "-mp".into(),
        free_udp_port().to_string(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    sipp(&args, cwd)
}

pub(crate) fn wait_ok(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// RTP packets arriving on a socket for `secs`: (payload type, marker, payload).
fn collect_rtp(sock: UdpSocket, secs: u64) -> mpsc::Receiver<Vec<(u8, bool, Vec<u8>)>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let end = Instant::now() + Duration::from_secs(secs);
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                if n >= 12 {
                    got.push((buf[1] & 0x7f, buf[1] & 0x80 != 0, buf[12..n].to_vec()));
                }
            }
        }
        let _ = tx.send(got);
    });
    rx
}

/// The RTP payloads of a pcap file (Ethernet/IPv4/UDP/RTP, no options).
fn pcap_payloads(path: &str) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).unwrap();
    let mut off = 24;
    let mut out = Vec::new();
    while off + 16 <= d.len() {
        let il = u32::from_le_bytes(d[off + 8..off + 12].try_into().unwrap()) as usize;
        let p = &d[off + 16..off + 16 + il];
        out.push(p[42 + 12..].to_vec());
        off += 16 + il;
    }
    out
}

/// Registers a SIPp instance as `user` on `port`, so a UAS started on that port is reachable.
pub(crate) fn register_sipp(d: &Daemon, user: &str, port: u16) {
    let f = inf(
        d.dir.path(),
        &format!("reg{user}.csv"),
        &[(user, &format!("demo{user}"), 300, "")],
    );
    let mut s = crate::common::Sipp::new("reg_ok.xml", d.udp, &f);
    s.local_port = Some(port);
    s.expect_ok();
}

struct CallRun {
    rtp: Vec<(u8, bool, Vec<u8>)>,
}

/// SIPp 1001 calls SIPp 1002 through Zvon; 1002's media goes to a socket of the test.
fn sipp_call(d: &Daemon, pcap: &str, pause_ms: u64, info: bool) -> CallRun {
    let dir = d.dir.path();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port().to_string();
    let uas_port = free_udp_port();
    register_sipp(d, "1002", uas_port);
    let uas = scenario(dir, "uas_answer", &[("@RTP@", &rtp_port)], false);
    let callee = sipp(
        &[
            "-sf".into(),
            uas.display().to_string(),
            "-p".into(),
            uas_port.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "1".into(),
        ],
        dir,
    );
    std::thread::sleep(Duration::from_millis(300));
    let collected = collect_rtp(rtp, 3 + pause_ms / 1000 + 2);
    let uac = scenario(
        dir,
        "uac_call",
        &[
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", "1002"),
            ("@PCAP@", pcap),
            ("@PAUSE@", &pause_ms.to_string()),
        ],
        info,
    );
    let caller = sipp_uac(d, &uac, 1, &[], dir);
    wait_ok(caller, "SIPp caller");
    wait_ok(callee, "SIPp callee");
    CallRun {
        rtp: collected.recv_timeout(Duration::from_secs(30)).unwrap(),
    }
}

fn stop_and_cdrs(d: &mut Daemon) -> Vec<zvon::store::CdrRecord> {
    assert_eq!(d.stop(), Some(0), "{}", d.log());
    zvon::store::cdrs(&d.db()).unwrap()
}

#[test]
fn sipp_call_relays_the_callers_rtp_to_the_callee_and_leaves_an_answered_cdr() {
    let mut d = Daemon::start(&TestConfig::default());
    let pcap = "/usr/share/sip-tester/g711a.pcap";
    // The pcap lasts 7.05 s (30 ms packets); the call 1.5 + 6.5 s.
    let run = sipp_call(&d, pcap, 6500, false);
    let want = pcap_payloads(pcap);
    let audio: Vec<&Vec<u8>> = run.rtp.iter().filter(|p| p.0 == 8).map(|p| &p.2).collect();
    // Same codec on both legs: relayed without decoding, payloads unchanged and in order.
    let start = want
        .iter()
        .position(|w| w == audio[0])
        .expect("first payload is one of the pcap's");
    for (i, p) in audio.iter().enumerate() {
        assert_eq!(
            *p,
            &want[start + i],
            "payload {i} of {} changed or missing in the relay",
            audio.len()
        );
    }
    assert!(
        audio.len() >= want.len() * 9 / 10,
        "{} of {} packets arrived (first is pcap packet {start})",
        audio.len(),
        want.len()
    );
    for (i, p) in audio.iter().enumerate().take(200) {
        assert_eq!(*p, &want[start + i], "payload {i} changed in the relay");
    }
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    let c = &cdrs[0];
    assert_eq!(c.disposition, zvon::store::Disposition::Answered);
    assert_eq!(
        (
            c.caller.as_str(),
            c.dialed.as_str(),
            c.answered_by.as_deref()
        ),
        ("1001", "1002", Some("1002"))
    );
    assert!(
        (8..=9).contains(&c.billsec),
        "billsec {} for a ~8 s call",
        c.billsec
    );
    assert_eq!(
        (c.codec_a.as_deref(), c.codec_b.as_deref()),
        (Some("PCMA"), Some("PCMA"))
    );
    assert_eq!(c.hangup_by, "caller");
    assert!(
        c.legs[0].packets > 0,
        "caller leg stats recorded: {:?}",
        c.legs[0]
    );
}

#[test]
fn dtmf_as_rfc4733_and_as_sip_info_arrives_as_rfc4733() {
    let mut d = Daemon::start(&TestConfig::default());
    let run = sipp_call(&d, "/usr/share/sip-tester/dtmf_2833_1.pcap", 1000, true);
    // RFC 4733 events (PT 101 on the callee's leg): digit 1 from the pcap, 5 from SIP INFO.
    let digits: Vec<u8> = run
        .rtp
        .iter()
        .filter(|p| p.0 == 101 && p.2.len() >= 4 && p.2[1] & 0x80 != 0)
        .map(|p| p.2[0])
        .collect();
    let mut uniq = digits.clone();
    uniq.dedup();
    assert_eq!(uniq, vec![1, 5], "end packets seen: {digits:?}");
    stop_and_cdrs(&mut d);
}

#[test]
fn sigterm_during_a_call_still_writes_its_cdr() {
    let mut d = Daemon::start(&TestConfig::default());
    let dir = d.dir.path().to_owned();
    let uas_port = free_udp_port();
    register_sipp(&d, "1002", uas_port);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uas = scenario(
        &dir,
        "uas_answer",
        &[("@RTP@", &rtp.local_addr().unwrap().port().to_string())],
        false,
    );
    let mut callee = sipp(
        &[
            "-sf".into(),
            uas.display().to_string(),
            "-p".into(),
            uas_port.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "1".into(),
        ],
        &dir,
    );
    std::thread::sleep(Duration::from_millis(300));
    let uac = scenario(
        &dir,
        "uac_call",
        &[
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", "1002"),
            ("@PCAP@", "/usr/share/sip-tester/g711a.pcap"),
            ("@PAUSE@", "20000"),
        ],
        false,
    );
    let mut caller = sipp_uac(&d, &uac, 1, &[], &dir);
    assert!(
        d.wait_log("answered", Duration::from_secs(10)),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_millis(1200));
    let cdrs = stop_and_cdrs(&mut d);
    let _ = caller.kill();
    let _ = callee.kill();
    let _ = caller.wait();
    let _ = callee.wait();
    assert_eq!(cdrs.len(), 1, "{}", d.log());
    assert_eq!(cdrs[0].disposition, zvon::store::Disposition::Answered);
    assert_eq!(
        (cdrs[0].hangup_cause.as_str(), cdrs[0].hangup_by.as_str()),
        ("shutdown", "system")
    );
    assert!(cdrs[0].billsec >= 1);
}

/// A baresip phone with a sine source at `freq`, recording what it hears (sndfile).
struct Phone {
    dir: PathBuf,
    child: Option<Child>,
}

impl Phone {
    #[allow(clippy::too_many_arguments)]
    fn start(
        base: &Path,
        user: &str,
        sip_port: u16,
        zvon: std::net::SocketAddr,
        freq: u32,
        codecs: &str,
        dial: Option<&str>,
        secs: u32,
    ) -> Phone {
        require("baresip");
        let dir = base.join(format!("phone{user}"));
        std::fs::create_dir_all(dir.join("snd")).unwrap();
        std::fs::write(
            dir.join("config"),
            format!(
                "sip_listen 127.0.0.1:{sip_port}\naudio_player aubridge,x{user}\naudio_source ausine,{freq}\n\
                 ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\n\
                 audio_alert aubridge,y{user}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n\
                 module g722.so\nmodule opus.so\nmodule ausine.so\nmodule aubridge.so\nmodule sndfile.so\n\
                 module account.so\nmodule menu.so\nsnd_path {}\n",
                dir.join("snd").display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:{user}@{zvon};transport=udp>;auth_pass=demo{user};regint=60;answermode=auto;audio_codecs={codecs}\n"),
        )
        .unwrap();
        let mut cmd = Command::new("baresip");
        cmd.args([
            "-n",
            "127.0.0.1",
            "-f",
            dir.to_str().unwrap(),
            "-t",
            &secs.to_string(),
        ]);
        if let Some(to) = dial {
            cmd.args(["-e", &format!("/dial sip:{to}@{zvon}")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Phone {
            dir,
            child: Some(child),
        }
    }

    fn finish(&mut self) -> String {
        let child = self.child.take().unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Goertzel power of `freq` and of the other test tone in what the phone heard.
    fn heard(&self, freq: f64, other: f64) -> (f64, f64) {
        let dec = std::fs::read_dir(self.dir.join("snd"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .expect("a recording of the received audio");
        let pcm = zvon::runtime::wav::read(&dec).unwrap();
        let n = pcm.samples.len();
        assert!(
            n > pcm.rate as usize,
            "recording shorter than a second: {n} samples"
        );
        // Skip the first half second (jitter buffers starting).
        let mid = &pcm.samples[pcm.rate as usize / 2..n.min(pcm.rate as usize * 3)];
        (
            goertzel(mid, pcm.rate, freq),
            goertzel(mid, pcm.rate, other),
        )
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn goertzel(x: &[i16], rate: u32, f: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * f / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - k * s1 * s2).max(0.0).sqrt() / x.len() as f64
}

/// Two baresip phones call each other through Zvon with the given codec preferences; each
/// must hear the other's tone (and not its own).
fn baresip_call(codecs_a: &str, codecs_b: &str, want_a: &str, want_b: &str) {
    let mut d = Daemon::start(&TestConfig::default());
    let base = d.dir.path().to_owned();
    let (pa, pb) = (free_udp_port() / 2 * 2 + 20, free_udp_port() / 2 * 2 + 40);
    let mut b = Phone::start(&base, "1002", pb, d.udp, 1000, codecs_b, None, 11);
    assert!(
        d.wait_log("ext=1002", Duration::from_secs(5)),
        "{}",
        d.log()
    );
    let mut a = Phone::start(&base, "1001", pa, d.udp, 440, codecs_a, Some("1002"), 7);
    let la = a.finish();
    let lb = b.finish();
    assert!(
        la.contains("Call established"),
        "caller:\n{la}\ncallee:\n{lb}\nzvon:\n{}",
        d.log()
    );
    let (a_hears_b, a_hears_self) = a.heard(1000.0, 440.0);
    let (b_hears_a, b_hears_self) = b.heard(440.0, 1000.0);
    assert!(
        a_hears_b > 500.0 && a_hears_b > 20.0 * a_hears_self,
        "caller heard 1000 Hz at {a_hears_b:.0}, 440 Hz at {a_hears_self:.0}"
    );
    assert!(
        b_hears_a > 500.0 && b_hears_a > 20.0 * b_hears_self,
        "callee heard 440 Hz at {b_hears_a:.0}, 1000 Hz at {b_hears_self:.0}"
    );
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1);
    assert_eq!(
        (cdrs[0].codec_a.as_deref(), cdrs[0].codec_b.as_deref()),
        (Some(want_a), Some(want_b))
    );
    assert_eq!(cdrs[0].disposition, zvon::store::Disposition::Answered);
}

#[test]
fn baresip_call_pcmu_both_sides_each_hears_the_other() {
    baresip_call("PCMU", "PCMU", "PCMU", "PCMU");
}

#[test]
fn baresip_call_pcmu_to_pcma_is_transcoded() {
    baresip_call("PCMU", "PCMA", "PCMU", "PCMA");
}

#[test]
fn baresip_call_opus_to_pcmu_is_transcoded() {
    baresip_call("opus/48000/2", "PCMU", "opus", "PCMU");
}

#[test]
fn baresip_call_g722_to_pcma_is_transcoded() {
    baresip_call("G722/16000/1", "PCMA", "G722", "PCMA");
}

#[test]
fn voicemail_is_left_and_the_subscribed_phone_gets_mwi() {
    let mut d = Daemon::start(&TestConfig {
        voicemail_1004: true,
        ..TestConfig::default()
    });
    let dir = d.dir.path().to_owned();
    let f = inf(&dir, "sub.csv", &[("1004", "demo1004", 600, "")]);
    let subscriber = sipp(
        &[
            d.udp.to_string(),
            "-sf".into(),
            sipp_dir().join("mwi_subscribe.xml").display().to_string(),
            "-inf".into(),
            f.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "1".into(),
        ],
        &dir,
    );
    assert!(
        d.wait_log("MWI subscription", Duration::from_secs(10)),
        "{}",
        d.log()
    );
    // 1004 has no phone registered: the call goes to its mailbox. The greeting and beep take
    // ~6.5 s; the caller starts talking (the pcap) at 7.5 s and hangs up at 14 s.
    let caller = leave_message_for_1004(&d);
    wait_ok(caller, "SIPp caller");
    wait_ok(subscriber, "SIPp MWI subscriber");
    assert_eq!(d.stop(), Some(0));
    let vms = zvon::store::voicemails(&d.db()).unwrap();
    assert_eq!(vms.len(), 1, "{}", d.log());
    assert_eq!(
        (vms[0].mailbox.as_str(), vms[0].caller.as_str()),
        ("1004", "1001")
    );
    let pcm = zvon::runtime::wav::read(&vms[0].path).unwrap();
    let secs = pcm.samples.len() as f64 / f64::from(pcm.rate);
    assert!((4.0..8.0).contains(&secs), "message is {secs:.1} s");
    let loud = pcm
        .samples
        .iter()
        .filter(|s| s.unsigned_abs() > 1000)
        .count();
    assert!(
        loud > pcm.samples.len() / 20,
        "the caller's audio is in the message"
    );
    let cdrs = zvon::store::cdrs(&d.db()).unwrap();
    assert!(cdrs[0].history.contains("voicemail:1004"), "{:?}", cdrs[0]);
}

/// Writes RTP packets (every 20 ms) as a pcap file SIPp can play (Ethernet/IPv4/UDP).
fn write_pcap(path: &Path, rtp: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in rtp.iter().enumerate() {
        let udp_len = 8 + p.len();
        let ip_len = 20 + udp_len;
        let frame_len = 14 + ip_len;
        let us = i as u32 * 20_000;
        out.extend_from_slice(&(us / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(us % 1_000_000).to_le_bytes());
        out.extend_from_slice(&(frame_len as u32).to_le_bytes());
        out.extend_from_slice(&(frame_len as u32).to_le_bytes());
        out.extend_from_slice(&[0u8; 12]);
        out.extend_from_slice(&[0x08, 0x00]);
        out.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ]);
        out.extend_from_slice(&[
            0x1f,
            0x40,
            0x1f,
            0x42,
            (udp_len >> 8) as u8,
            udp_len as u8,
            0,
            0,
        ]);
        out.extend_from_slice(p);
    }
    std::fs::write(path, out).unwrap();
}

/// An in-band DTMF digit (PCMA, 8 kHz): 200 ms tone, then 2 s of silence.
fn inband_pcap(path: &Path, low: f64, high: f64) {
    let mut pkts = Vec::new();
    for k in 0..110u32 {
        let mut p = vec![0x80, 8];
        p.extend_from_slice(&(k as u16).to_be_bytes());
        p.extend_from_slice(&(k * 160).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        for n in 0..160u32 {
            let t = f64::from(k * 160 + n) / 8000.0;
            let v = if k < 10 {
                6000.0
                    * ((2.0 * std::f64::consts::PI * low * t).sin()
                        + (2.0 * std::f64::consts::PI * high * t).sin())
            } else {
                0.0
            };
            p.push(zvon::media::codec::g711::encode_alaw(v as i16));
        }
        pkts.push(p);
    }
    write_pcap(path, &pkts);
}

/// Calls 500 (the IVR), sends a key the given way once the menu plays, and returns the CDR.
fn ivr_call(pcap: Option<&str>, info: bool) -> zvon::store::CdrRecord {
    let mut d = Daemon::start(&TestConfig {
        ivr: true,
        ..TestConfig::default()
    });
    let dir = d.dir.path().to_owned();
    let uas_port = free_udp_port();
    register_sipp(&d, "1002", uas_port);
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uas = scenario(
        &dir,
        "uas_answer",
        &[("@RTP@", &rtp.local_addr().unwrap().port().to_string())],
        false,
    );
    let callee = sipp(
        &[
            "-sf".into(),
            uas.display().to_string(),
            "-p".into(),
            uas_port.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "1".into(),
        ],
        &dir,
    );
    std::thread::sleep(Duration::from_millis(300));
    // The welcome prompt lasts ~2.7 s; the key comes 1 s into the menu (barge-in).
    let silence = dir.join("silence.pcap");
    write_pcap(&silence, &[]);
    let pcap = pcap
        .map(str::to_owned)
        .unwrap_or_else(|| silence.display().to_string());
    let uac = scenario(
        &dir,
        "uac_call",
        &[
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", "500"),
            ("@PCAP@", &pcap),
            ("@PAUSE@", "3000"),
            ("@PREPAUSE@", if info { "2300" } else { "3800" }),
        ],
        info,
    );
    let caller = sipp_uac(&d, &uac, 1, &[], &dir);
    wait_ok(caller, "SIPp caller");
    wait_ok(callee, "SIPp callee (1002)");
    let cdrs = stop_and_cdrs(&mut d);
    assert_eq!(cdrs.len(), 1, "{}", d.log());
    cdrs[0].clone()
}

#[test]
fn ivr_key_as_rfc4733_reaches_the_extension() {
    let cdr = ivr_call(Some("/usr/share/sip-tester/dtmf_2833_1.pcap"), false);
    assert!(
        cdr.history
            .contains("ivr:front:hello>menu[1]>extension:1002"),
        "{}",
        cdr.history
    );
    assert_eq!(cdr.answered_by.as_deref(), Some("1002"));
}

#[test]
fn ivr_key_as_sip_info_reaches_the_extension() {
    let cdr = ivr_call(None, true);
    assert!(
        cdr.history
            .contains("ivr:front:hello>menu[5]>extension:1002"),
        "{}",
        cdr.history
    );
    assert_eq!(cdr.answered_by.as_deref(), Some("1002"));
}

#[test]
fn ivr_key_as_inband_tone_reaches_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("dtmf7.pcap");
    // "7": 852 Hz + 1209 Hz.
    inband_pcap(&pcap, 852.0, 1209.0);
    let cdr = ivr_call(Some(pcap.to_str().unwrap()), false);
    assert!(
        cdr.history
            .contains("ivr:front:hello>menu[7]>extension:1002"),
        "{}",
        cdr.history
    );
    assert_eq!(cdr.answered_by.as_deref(), Some("1002"));
}

/// SIP INFO key presses for uac_keys.xml.in: (key, pause before it in ms).
pub(crate) fn info_keys(keys: &[(char, u32)]) -> String {
    let part = std::fs::read_to_string(sipp_dir().join("info_dtmf.xml.part")).unwrap();
    let mut out = String::new();
    for (i, (k, pause)) in keys.iter().enumerate() {
        out.push_str(&format!("  <pause milliseconds=\"{pause}\"/>\n"));
        out.push_str(
            &part
                .replace("Signal=5", &format!("Signal={k}"))
                .replace("CSeq: 3 INFO", &format!("CSeq: {} INFO", 10 + i)),
        );
    }
    out
}

#[test]
fn mailbox_menu_plays_the_message_back_to_the_phone() {
    let mut d = Daemon::start(&TestConfig {
        voicemail_1004: true,
        ivr: true,
        ..TestConfig::default()
    });
    // 1. Leave a message for 1004 (the pcap's speech-like audio).
    let c = leave_message_for_1004(&d);
    wait_ok(c, "SIPp caller leaving a message");
    assert!(
        d.wait_log("voicemail left", Duration::from_secs(5)),
        "{}",
        d.log()
    );
    // 2. 1004 dials *97, enters the PIN and presses 1; its audio goes to our socket.
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let collected = collect_rtp(rtp, 27);
    let keys = [
        ('4', 1500),
        ('7', 200),
        ('1', 200),
        ('1', 200),
        ('#', 200),
        ('1', 6000),
    ];
    let c = mailbox_keys_call(&d, "1004", "*97", port, &keys, 14000);
    wait_ok(c, "SIPp checking the mailbox");
    assert_eq!(d.stop(), Some(0));
    let heard: Vec<i16> = collected
        .recv_timeout(Duration::from_secs(40))
        .unwrap()
        .iter()
        .filter(|p| p.0 == 8)
        .flat_map(|p| {
            p.2.iter()
                .map(|b| zvon::media::codec::g711::decode_alaw(*b))
                .collect::<Vec<_>>()
        })
        .collect();
    // The stored message must appear in what the phone heard: find one second of it by
    // normalised cross-correlation.
    let vms = zvon::store::voicemails(&d.db()).unwrap();
    assert_eq!(vms.len(), 1, "{}", d.log());
    assert!(vms[0].heard, "listening marks the message heard");
    let msg = zvon::runtime::wav::read(&vms[0].path).unwrap();
    assert_eq!(msg.rate, 8000);
    let best = best_correlation(&heard, &msg.samples[8000..16_000]);
    assert!(
        best > 0.8,
        "message not found in the played audio (best correlation {best:.2}, {} samples heard)",
        heard.len()
    );
}

/// The best normalised cross-correlation of `probe` against any stretch of `heard` (step 4).
fn best_correlation(heard: &[i16], probe: &[i16]) -> f64 {
    let probe: Vec<f64> = probe.iter().map(|v| f64::from(*v)).collect();
    let pe: f64 = probe.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut best = 0.0f64;
    let mut k = 0;
    while k + probe.len() <= heard.len() {
        let w = &heard[k..k + probe.len()];
        let we: f64 = w
            .iter()
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum::<f64>()
            .sqrt();
        if we > 0.0 && pe > 0.0 {
            let dot: f64 = w.iter().zip(&probe).map(|(a, b)| f64::from(*a) * b).sum();
            best = best.max(dot / (we * pe));
        }
        k += 4;
    }
    best
}

/// A SIPp phone on `*97` whose media is our socket: `keys` as SIP INFO, then BYE after `pause`.
fn mailbox_keys_call(
    d: &Daemon,
    user: &str,
    to: &str,
    rtp_port: u16,
    keys: &[(char, u32)],
    pause_ms: u32,
) -> Child {
    let dir = d.dir.path();
    let text = std::fs::read_to_string(sipp_dir().join("uac_keys.xml.in"))
        .unwrap()
        .replace("@KEYS@", &info_keys(keys))
        .replace("@RTP@", &rtp_port.to_string())
        .replace("@USER@", user)
        .replace("@PASS@", &format!("demo{user}"))
        .replace("@TO@", to)
        .replace("@PAUSE@", &pause_ms.to_string());
    let sf = dir.join(format!("uac_keys_{user}_{rtp_port}.xml"));
    std::fs::write(&sf, text).unwrap();
    sipp(
        &[
            d.udp.to_string(),
            "-sf".into(),
            sf.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-m".into(),
            "1".into(),
        ],
        dir,
    )
}

/// A 440 Hz tone whose loudness rises and falls every 100 ms (so it correlates in one place
/// only), as PCMA payloads of 20 ms.
fn tone_payloads(secs: u32) -> (Vec<i16>, Vec<Vec<u8>>) {
    let n = 8000 * secs as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let env = 0.55 + 0.45 * (2.0 * std::f64::consts::PI * 1.7 * t).sin();
            (9000.0 * env * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect();
    let payloads = pcm
        .chunks(160)
        .map(|c| {
            c.iter()
                .map(|s| zvon::media::codec::g711::encode_alaw(*s))
                .collect()
        })
        .collect();
    (pcm, payloads)
}

#[test]
fn a_greeting_recorded_from_the_phone_is_what_the_next_caller_hears() {
    let mut d = Daemon::start(&TestConfig {
        voicemail_1004: true,
        ivr: true,
        ..TestConfig::default()
    });
    // 1. 1004 dials *97: PIN, then 2 (record greeting) during the menu; after the
    //    instructions and the beep (~4.2 s) our socket sends 3 s of tone, then #.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let started = Instant::now();
    let (_tone, payloads) = tone_payloads(3);
    let sender = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 2048];
        // Zvon's media address: where its prompts come from (symmetric RTP).
        let (_, zvon) = sock.recv_from(&mut buf).expect("prompt audio from Zvon");
        let start = started + Duration::from_millis(8000);
        let mut sent = 0;
        for (i, p) in payloads.iter().enumerate() {
            let at = start + Duration::from_millis(20 * i as u64);
            if let Some(w) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            let mut pkt = vec![0x80, 8];
            pkt.extend_from_slice(&(i as u16).to_be_bytes());
            pkt.extend_from_slice(&((i as u32) * 160).to_be_bytes());
            pkt.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
            pkt.extend_from_slice(p);
            sock.send_to(&pkt, zvon).unwrap();
            sent += 1;
        }
        sent
    });
    let c = mailbox_keys_call(
        &d,
        "1004",
        "*97",
        port,
        &[
            ('4', 1500),
            ('7', 200),
            ('1', 200),
            ('1', 200),
            ('#', 200),
            ('2', 600),
            ('#', 8700),
        ],
        3000,
    );
    wait_ok(c, "SIPp recording a greeting");
    assert_eq!(sender.join().unwrap(), 150);
    assert!(
        d.wait_log("greeting recorded", Duration::from_secs(5)),
        "{}",
        d.log()
    );
    let file = d.db().parent().unwrap().join("voicemail/1004/greeting.wav");
    let greeting = zvon::runtime::wav::read(&file).expect("greeting.wav written");
    let secs = greeting.samples.len() as f64 / f64::from(greeting.rate);
    assert!((2.0..8.0).contains(&secs), "greeting is {secs:.1} s");
    let rate = greeting.rate;
    let loud: Vec<i16> = greeting
        .samples
        .iter()
        .copied()
        .skip_while(|s| s.unsigned_abs() < 2000)
        .collect();
    assert!(
        loud.len() >= rate as usize * 2,
        "the phone's tone is in the greeting ({} loud samples)",
        loud.len()
    );
    assert!(
        goertzel(&loud[..rate as usize], rate, 440.0) > 1000.0,
        "440 Hz in the greeting"
    );
    // 2. 1001 calls 1004 (no phone registered): the mailbox answers with that greeting.
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rtp.local_addr().unwrap().port();
    let collected = collect_rtp(rtp, 14);
    let c = mailbox_keys_call(&d, "1001", "1004", port, &[], 8000);
    wait_ok(c, "SIPp calling the mailbox");
    assert_eq!(d.stop(), Some(0));
    let heard: Vec<i16> = collected
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .iter()
        .filter(|p| p.0 == 8)
        .flat_map(|p| {
            p.2.iter()
                .map(|b| zvon::media::codec::g711::decode_alaw(*b))
                .collect::<Vec<_>>()
        })
        .collect();
    // One second of the recorded greeting (resampled to 8 kHz if stored wider).
    assert_eq!(rate, 8000, "greetings are stored at the call's rate");
    let best = best_correlation(&heard, &loud[2000..10_000]);
    assert!(
        best > 0.8,
        "the greeting is not what the caller heard (best correlation {best:.2}, {} samples)",
        heard.len()
    );
}

#[test]
fn a_phone_set_up_for_unsolicited_mwi_gets_a_notify_without_subscribing() {
    let mut d = Daemon::start(&TestConfig {
        voicemail_1004: true,
        mwi_unsolicited_1004: true,
        ..TestConfig::default()
    });
    let dir = d.dir.path().to_owned();
    let phone_port = free_udp_port();
    register_sipp(&d, "1004", phone_port);
    let uas = |file: &str| {
        sipp(
            &[
                "-sf".into(),
                sipp_dir().join(file).display().to_string(),
                "-p".into(),
                phone_port.to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-m".into(),
                "1".into(),
            ],
            &dir,
        )
    };
    let busy = uas("uas_busy.xml");
    std::thread::sleep(Duration::from_millis(300));
    // The phone says busy: the caller leaves a message (pcap from 7.5 s, BYE at 14 s).
    let caller = leave_message_for_1004(&d);
    // The phone refused the call; now it only listens for the NOTIFY (a new SIPp on the
    // same port: SIPp cannot match an out-of-dialog request to the call it ended).
    wait_ok(busy, "SIPp phone answering busy");
    let phone = uas("mwi_unsolicited.xml");
    wait_ok(caller, "SIPp caller");
    wait_ok(phone, "SIPp phone waiting for the unsolicited NOTIFY");
    assert_eq!(d.stop(), Some(0));
    assert_eq!(zvon::store::voicemails(&d.db()).unwrap().len(), 1);
}

/// SIPp 1001 calls 1004's mailbox and talks (the pcap's speech-like audio from 7.5 s, after
/// the greeting and beep), hanging up at 14 s.
fn leave_message_for_1004(d: &Daemon) -> Child {
    let dir = d.dir.path();
    let uac = scenario(
        dir,
        "uac_call",
        &[
            ("@USER@", "1001"),
            ("@PASS@", "demo1001"),
            ("@TO@", "1004"),
            ("@PCAP@", "/usr/share/sip-tester/g711a.pcap"),
            ("@PAUSE@", "5000"),
            ("@PREPAUSE@", "7500"),
        ],
        false,
    );
    sipp_uac(d, &uac, 1, &[], dir)
}
