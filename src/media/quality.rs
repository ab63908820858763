//! Receive statistics of one RTP stream (RFC 3550 Appendix A.1, A.3, A.8) and an E-model MOS
//! estimate (ITU-T G.107 simplified, impairment values after ITU-T G.113 Appendix I).
//!
//! Contract: [`RxStats::on_packet`] is O(1), allocation-free and total over any sequence of
//! (arrival, seq, ts); [`RxStats::snapshot`] turns the counters into [`LegStats`].
//!
//! E-model as used here (G.107 §7 with default values, the "simplified" form of Cole &
//! Rosenbluth 2001):
//! - `R = 93.2 − Id − Ie,eff` (R0 − Is = 93.2, A = 0),
//! - `Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)`, `d` = one-way mouth-to-ear delay in ms:
//!   network delay + jitter buffer (`max(40 ms, 2·jitter)`, the [`crate::media::jitter`]
//!   target) + 20 ms packetisation,
//! - `Ie,eff = Ie + (95 − Ie)·Ppl/(Ppl + Bpl)` (G.107 §7.4, random loss, BurstR = 1),
//! - `MOS = 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R)`, 1 for R < 0, 4.5 for R > 100.
//!
//! Codec values: G.711 Ie = 0, Bpl = 25.1 (G.113 App. I, with G.711 App. I PLC, which phones
//! use; 4.3 would be without PLC). G.722 at 64 kbit/s: G.113 rates it only on the wideband
//! scale (Ie,wb = 13 against R,wb max 129, i.e. better than G.711); on this narrowband scale
//! we use Ie = 0 and the G.711-with-PLC Bpl = 25.1, so G.722 never scores below G.711 but its
//! wideband advantage is not shown. Opus has no G.113 entry; **our choice**: Ie = 6 (a
//! conservative value between G.711 and G.729A's Ie = 11 for speech at VoIP bit rates) and
//! Bpl = 20 (its PLC/FEC is at least as robust as G.729A's Bpl = 19).

use std::time::Instant;

use super::{Codec, LegStats};

/// RFC 3550 A.1 constants.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u64 = 1 << 16;

/// Receive statistics of one RTP source. See the module docs.
#[derive(Clone, Debug)]
pub struct RxStats {
    clock_rate: u32,
    started: bool,
    max_seq: u16,
    /// Shifted count of sequence number cycles (RFC 3550 A.1 `cycles`).
    cycles: u64,
    base_seq: u64,
    bad_seq: u64,
    /// Packets counted toward loss (RFC 3550 A.1 `received`).
    received: u64,
    /// Every packet that arrived, including duplicates and those before a resync.
    packets: u64,
    // RFC 3550 A.8
    origin: Option<Instant>,
    transit: i64,
    jitter: f64,
}

impl RxStats {
    /// Statistics for a stream with RTP clock `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            started: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            packets: 0,
            origin: None,
            transit: 0,
            jitter: 0.0,
        }
    }

    /// RFC 3550 A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u64::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
    }

    /// RFC 3550 A.1 `update_seq` (without the probation of new sources: the session has
    /// already accepted this source). Returns false for a packet that is not counted.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if udelta < MAX_DROPOUT {
            // in order, with permissible gap
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD; // sequence number wrapped
            }
            self.max_seq = seq;
        } else if u64::from(udelta) <= RTP_SEQ_MOD - u64::from(MAX_MISORDER) {
            // the sequence number made a very large jump
            if u64::from(seq) == self.bad_seq {
                // two sequential packets: the source restarted; resync (RFC 3550 A.1)
                self.init_seq(seq);
            } else {
                self.bad_seq = (u64::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        } else {
            // duplicate or reordered packet
        }
        self.received += 1;
        true
    }

    /// A packet with `seq` and `ts` arrived at `arrival`.
    pub fn on_packet(&mut self, arrival: Instant, seq: u16, ts: u32) {
        self.packets += 1;
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            self.received = 1;
        } else if !self.update_seq(seq) {
            return;
        }
        // RFC 3550 A.8: transit = arrival (in timestamp units) − ts; J += (|D| − J)/16
        let origin = *self.origin.get_or_insert(arrival);
        let arr = (arrival.saturating_duration_since(origin).as_secs_f64()
            * f64::from(self.clock_rate)) as u64 as u32;
        let transit = i64::from(arr.wrapping_sub(ts) as i32);
        if self.packets > 1 && self.received > 1 {
            let d = (transit - self.transit).unsigned_abs() as f64;
            // Timestamp jumps of more than 10 s are a source restart, not jitter.
            if d < 10.0 * f64::from(self.clock_rate) {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.transit = transit;
    }

    /// RFC 3550 A.3: extended highest sequence number received.
    pub fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// RFC 3550 A.3: packets expected.
    pub fn expected(&self) -> u64 {
        if !self.started {
            0
        } else {
            self.extended_max() + 1 - self.base_seq
        }
    }

    /// RFC 3550 A.3: packets lost (never negative here: duplicates do not make a gain).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Interarrival jitter in ms (RFC 3550 A.8, converted from timestamp units).
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate)
    }

    /// The statistics for a CDR or a report; `sent` is the count of packets sent to the phone.
    pub fn snapshot(&self, codec: Codec, sent: u64) -> LegStats {
        let expected = self.expected();
        let lost = self.lost();
        let jitter_ms = self.jitter_ms();
        let mos = if self.packets == 0 {
            0.0
        } else {
            let loss = if expected == 0 {
                0.0
            } else {
                lost as f64 / expected as f64
            };
            mos(codec, loss, jitter_ms, 0.0)
        };
        LegStats {
            packets: self.packets,
            lost,
            jitter_ms,
            mos,
            sent,
        }
    }
}

/// G.113 Appendix I style equipment impairment `Ie` and packet-loss robustness `Bpl` (see the
/// module docs for where each value comes from).
pub fn impairment(codec: Codec) -> (f64, f64) {
    match codec {
        Codec::Pcmu | Codec::Pcma => (0.0, 25.1),
        Codec::G722 => (0.0, 25.1),
        Codec::Opus => (6.0, 20.0),
    }
}

/// The delay the jitter buffer adds for a stream with `jitter_ms` of jitter (its target).
fn jitter_buffer_ms(jitter_ms: f64) -> f64 {
    (2.0 * jitter_ms).clamp(40.0, 200.0)
}

/// E-model MOS for `codec` at `loss_fraction` (0–1) packet loss, `jitter_ms` interarrival
/// jitter and `one_way_delay_ms` network delay. See the module docs.
pub fn mos(codec: Codec, loss_fraction: f64, jitter_ms: f64, one_way_delay_ms: f64) -> f64 {
    let clean = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
    let ppl = clean(loss_fraction).min(1.0) * 100.0;
    let d = clean(one_way_delay_ms) + jitter_buffer_ms(clean(jitter_ms)) + 20.0;
    // G.107 simplified delay impairment
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let (ie, bpl) = impairment(codec);
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    let r = 93.2 - id - ie_eff;
    if r < 0.0 {
        1.0
    } else if r > 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)).clamp(1.0, 4.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::testsig::origin;
    use std::time::Duration;

    #[test]
    fn mos_without_loss_is_about_4_4_for_g711() {
        let m = mos(Codec::Pcmu, 0.0, 0.0, 0.0);
        assert!((4.3..=4.45).contains(&m), "{m}");
        assert_eq!(m, mos(Codec::Pcma, 0.0, 0.0, 0.0));
        assert!(mos(Codec::G722, 0.0, 0.0, 0.0) >= m);
        assert!(mos(Codec::Opus, 0.0, 0.0, 0.0) < m);
        assert!(mos(Codec::Opus, 0.0, 0.0, 0.0) > 4.0);
    }

    #[test]
    fn loss_jitter_and_delay_lower_the_mos() {
        let clean = mos(Codec::Pcmu, 0.0, 0.0, 0.0);
        let lossy = mos(Codec::Pcmu, 0.05, 0.0, 0.0);
        assert!(lossy < clean - 0.3, "{lossy}");
        assert!(lossy > 3.0, "{lossy}"); // 5 % random loss with PLC is still fair
        assert!(mos(Codec::Pcmu, 0.0, 50.0, 0.0) < clean);
        assert!(mos(Codec::Pcmu, 0.0, 0.0, 300.0) < mos(Codec::Pcmu, 0.0, 0.0, 100.0));
        assert!(mos(Codec::Opus, 0.05, 0.0, 0.0) < mos(Codec::Opus, 0.0, 0.0, 0.0));
    }

    #[test]
    fn mos_clamps_at_the_ends_and_tolerates_garbage() {
        assert_eq!(mos(Codec::Pcmu, 1.0, 500.0, 2000.0), 1.0);
        assert_eq!(
            mos(Codec::Pcmu, 7.0, 0.0, 0.0),
            mos(Codec::Pcmu, 1.0, 0.0, 0.0)
        );
        let m = mos(Codec::Pcmu, f64::NAN, f64::INFINITY, -5.0);
        assert!((1.0..=4.5).contains(&m));
    }

    #[test]
    fn sequence_wrap_and_loss_are_counted_per_rfc3550_a1_a3() {
        let t0 = origin();
        let mut s = RxStats::new(8000);
        let mut n = 0u32;
        let mut seq: u16 = 65_000;
        for i in 0..2000u32 {
            if i % 20 != 7 {
                s.on_packet(t0 + Duration::from_millis(20 * u64::from(i)), seq, i * 160);
                n += 1;
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.extended_max(), 65_000 + 1999);
        assert_eq!(s.expected(), 2000);
        assert_eq!(s.lost(), 100);
        let st = s.snapshot(Codec::Pcmu, 42);
        assert_eq!(st.packets, u64::from(n));
        assert_eq!(st.lost, 100);
        assert_eq!(st.sent, 42);
        assert!(st.jitter_ms < 0.01);
        assert!(st.mos < mos(Codec::Pcmu, 0.0, 0.0, 0.0));
    }

    #[test]
    fn duplicates_and_reordering_do_not_count_as_loss_or_gain() {
        let t0 = origin();
        let mut s = RxStats::new(8000);
        for (i, seq) in [0u16, 1, 3, 2, 2, 4, 5].into_iter().enumerate() {
            s.on_packet(
                t0 + Duration::from_millis(20 * i as u64),
                seq,
                u32::from(seq) * 160,
            );
        }
        assert_eq!(s.expected(), 6);
        assert_eq!(s.lost(), 0); // 7 received (one duplicate) ≥ 6 expected: clamped at 0
        assert_eq!(s.snapshot(Codec::Pcmu, 0).packets, 7);
    }

    #[test]
    fn a_source_restart_resyncs_after_two_sequential_packets() {
        let t0 = origin();
        let mut s = RxStats::new(8000);
        for i in 0..10u16 {
            s.on_packet(t0 + Duration::from_millis(20 * u64::from(i)), 100 + i, 0);
        }
        s.on_packet(t0, 30_000, 0);
        assert_eq!(s.expected(), 10); // a lone jump is ignored
        s.on_packet(t0, 30_001, 0);
        s.on_packet(t0, 30_002, 0);
        assert_eq!(s.expected(), 2);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn jitter_follows_rfc3550_a8_and_converts_to_ms() {
        let t0 = origin();
        let mut s = RxStats::new(8000);
        // arrivals alternate 0 and 10 ms late: |D| = 10 ms each time, so J → 10 ms
        for i in 0..400u32 {
            let late = if i % 2 == 0 { 0 } else { 10 };
            s.on_packet(
                t0 + Duration::from_millis(u64::from(20 * i + late)),
                i as u16,
                i * 160,
            );
        }
        assert!((s.jitter_ms() - 10.0).abs() < 0.2, "{}", s.jitter_ms());
        let st = s.snapshot(Codec::Opus, 0);
        assert!((st.jitter_ms - 10.0).abs() < 0.2);
        assert_eq!(RxStats::new(8000).snapshot(Codec::Pcmu, 0).mos, 0.0);
    }
}
