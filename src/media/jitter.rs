//! Adaptive jitter buffer for the decoding side of a transcoded leg.
//!
//! Contract: [`JitterBuffer::push`] takes every RTP payload as it arrives (any order, any
//! duplicates); [`JitterBuffer::pop`] is called once per frame the decoder needs (about every
//! `ptime`) and returns the next frame in sequence-number order, `Missing` when the decoder
//! must conceal one frame, or `Empty` before playout has started. Frames come out in strictly
//! increasing (wrapping) sequence order, so the timestamps handed to the decoder never go
//! backwards within a stream. No allocation per packet once the slots have grown.
//!
//! Algorithm:
//! - **Slots.** 64 slots indexed by `seq mod 64`; a packet more than 63 ahead of the playout
//!   point, or more than 1000 behind it, is a new stream (sender restart, SSRC change) and
//!   **resyncs** the buffer; one 1–1000 behind it is **too late** (already concealed) and is
//!   dropped, as is a **duplicate** of a buffered sequence number.
//! - **Jitter.** The RFC 3550 §A.8 estimator `J += (|D| − J)/16` on arrival time vs RTP
//!   timestamp, plus a **peak** tracker `peak = max(peak·0.995, |D|)` that reacts to spikes at
//!   once and forgets them over ~3 s. A timestamp step more than 1 s away from what the
//!   arrival time predicts (marker/talk-spurt restart, DTX) resets the reference instead of
//!   counting as jitter.
//! - **Target delay** `= clamp(max(40 ms, 2·J, peak), 20 ms, 200 ms)`, rounded up to frames.
//! - **Start / rebuffer.** Playout starts (and restarts after an underrun) once the oldest
//!   buffered packet has waited the target delay, or enough frames for it are buffered;
//!   meanwhile `pop` returns `Empty` (never started) or `Missing` (underrun).
//! - **Gaps.** If the next frame is missing but later ones are buffered, the buffer waits
//!   (conceals without advancing, growing the delay by a frame) while it holds fewer frames
//!   than the target, and otherwise declares the frame lost and skips it.
//! - **Shrink.** If over the last 50 pops (~1 s) the buffer never held fewer than
//!   target + 2 frames, one frame is dropped to cut the delay.

use std::time::{Duration, Instant};

const SLOTS: usize = 64;
const WINDOW: u32 = 50;

/// What the decoder should do for the next frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The next frame's payload.
    Frame(&'a [u8]),
    /// The frame is lost or late: conceal one ptime.
    Missing,
    /// Playout has not started yet (nothing to decode, nothing to conceal).
    Empty,
}

#[derive(Debug, Default, Clone)]
struct Slot {
    used: bool,
    seq: u16,
    ts: u32,
    arrival: Option<Instant>,
    payload: Vec<u8>,
}

/// Counters for tests and statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JitterCounters {
    /// Frames played.
    pub played: u64,
    /// Frames declared lost (concealed and skipped).
    pub lost: u64,
    /// Packets dropped because their frame had already been played or skipped.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicate: u64,
    /// Frames dropped to shrink the delay.
    pub shrunk: u64,
    /// Concealed frames while waiting (underrun or waiting for a gap).
    pub waited: u64,
    /// Resynchronisations on a new stream.
    pub resyncs: u64,
}

/// The adaptive jitter buffer. See the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    clock_rate: u32,
    ptime: Duration,
    slots: Vec<Slot>,
    /// Playout has begun at least once.
    started: bool,
    /// Currently playing (false while buffering after start-up or underrun).
    playing: bool,
    /// The next sequence number to play (valid once something was pushed).
    next_seq: u16,
    have_next: bool,
    /// Buffered packets.
    count: usize,
    /// Highest buffered seq (valid if count > 0).
    newest: u16,
    // jitter estimation (RFC 3550 §A.8), in timestamp units
    origin: Option<Instant>,
    last_transit: Option<i64>,
    jitter: f64,
    peak: f64,
    // shrink window
    window_pops: u32,
    window_min: usize,
    counters: JitterCounters,
}

/// `a − b` in wrapping sequence space.
fn seq_diff(a: u16, b: u16) -> i32 {
    i32::from(a.wrapping_sub(b) as i16)
}

impl JitterBuffer {
    /// A buffer for a stream with RTP clock `clock_rate` and frames of `ptime`.
    pub fn new(clock_rate: u32, ptime: Duration) -> Self {
        let ptime = if ptime.is_zero() {
            Duration::from_millis(20)
        } else {
            ptime
        };
        Self {
            clock_rate: clock_rate.max(1),
            ptime,
            slots: vec![Slot::default(); SLOTS],
            started: false,
            playing: false,
            next_seq: 0,
            have_next: false,
            count: 0,
            newest: 0,
            origin: None,
            last_transit: None,
            jitter: 0.0,
            peak: 0.0,
            window_pops: 0,
            window_min: usize::MAX,
            counters: JitterCounters::default(),
        }
    }

    /// Forgets everything buffered; the next packet starts a new stream (e.g. on SSRC change).
    pub fn reset(&mut self) {
        for s in &mut self.slots {
            s.used = false;
        }
        self.count = 0;
        self.have_next = false;
        self.playing = false;
        self.last_transit = None;
        self.window_pops = 0;
        self.window_min = usize::MAX;
    }

    /// Interarrival jitter estimate (RFC 3550 §A.8).
    pub fn jitter(&self) -> Duration {
        Duration::from_secs_f64(self.jitter / f64::from(self.clock_rate))
    }

    /// The delay the buffer currently aims for.
    pub fn target_delay(&self) -> Duration {
        let j = self.jitter / f64::from(self.clock_rate);
        let p = self.peak / f64::from(self.clock_rate);
        let t = 0.040f64.max(2.0 * j).max(p).clamp(0.020, 0.200);
        Duration::from_secs_f64(t)
    }

    /// Frames currently buffered ahead of the playout point (span up to the newest).
    pub fn depth_frames(&self) -> usize {
        if self.count == 0 || !self.have_next {
            0
        } else {
            (seq_diff(self.newest, self.next_seq) + 1).max(0) as usize
        }
    }

    /// Counters since creation.
    pub fn counters(&self) -> JitterCounters {
        self.counters
    }

    fn target_frames(&self) -> usize {
        let t = self.target_delay().as_secs_f64();
        let p = self.ptime.as_secs_f64();
        ((t / p) - 1e-9).ceil().max(1.0) as usize
    }

    fn estimate_jitter(&mut self, now: Instant, ts: u32) {
        let origin = *self.origin.get_or_insert(now);
        let arrival = (now.saturating_duration_since(origin).as_secs_f64()
            * f64::from(self.clock_rate)) as i64;
        // transit = arrival − ts (RFC 3550 §A.8); ts unwrapped against the last transit
        let mut transit = arrival - i64::from(ts);
        if let Some(last) = self.last_transit {
            // bring ts into the 2^32 window nearest to the previous transit
            let span = 1i64 << 32;
            while transit - last > span / 2 {
                transit -= span;
            }
            while last - transit > span / 2 {
                transit += span;
            }
            let d = (transit - last).abs() as f64;
            if d > f64::from(self.clock_rate) {
                // > 1 s: a timestamp jump (new talk spurt, DTX, restart), not jitter
                self.last_transit = Some(transit);
                return;
            }
            self.jitter += (d - self.jitter) / 16.0;
            self.peak = (self.peak * 0.995).max(d);
        }
        self.last_transit = Some(transit);
    }

    /// A packet arrived.
    pub fn push(&mut self, now: Instant, seq: u16, ts: u32, payload: &[u8]) {
        if self.have_next {
            let d = seq_diff(seq, self.next_seq);
            let early_start = !self.started
                && d < 0
                && (self.count == 0 || seq_diff(self.newest, seq) < SLOTS as i32);
            if early_start {
                // Before playout began, an earlier packet simply moves the start back.
                self.next_seq = seq;
            } else if !(-1000..SLOTS as i32).contains(&d) {
                self.counters.resyncs += 1;
                self.reset();
            } else if d < 0 {
                self.counters.late += 1;
                self.estimate_jitter(now, ts);
                return;
            }
        }
        self.estimate_jitter(now, ts);
        if !self.have_next {
            self.have_next = true;
            self.next_seq = seq;
        }
        let slot = &mut self.slots[usize::from(seq) % SLOTS];
        if slot.used {
            if slot.seq == seq {
                self.counters.duplicate += 1;
                return;
            }
            // a stale entry from a previous lap (cannot normally happen): overwrite
            self.count -= 1;
        }
        slot.used = true;
        slot.seq = seq;
        slot.ts = ts;
        slot.arrival = Some(now);
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        if self.count == 0 || seq_diff(seq, self.newest) > 0 {
            self.newest = seq;
        }
        self.count += 1;
    }

    fn oldest_arrival(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| s.used)
            .filter_map(|s| s.arrival)
            .min()
    }

    /// The next frame to decode (see the module docs).
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        if !self.playing {
            let ready = self.count > 0
                && (self.depth_frames() >= self.target_frames()
                    || self
                        .oldest_arrival()
                        .is_some_and(|a| now.saturating_duration_since(a) >= self.target_delay()));
            if !ready {
                if self.started {
                    self.counters.waited += 1;
                    return Playout::Missing;
                }
                return Playout::Empty;
            }
            // (Re)start at the oldest buffered frame.
            if let Some(first) = self.oldest_buffered() {
                self.next_seq = first;
            }
            self.playing = true;
            self.started = true;
            self.window_pops = 0;
            self.window_min = usize::MAX;
        }

        // Shrink: the buffer has been deeper than needed for a whole window.
        let depth = self.depth_frames();
        self.window_min = self.window_min.min(depth);
        self.window_pops += 1;
        if self.window_pops >= WINDOW {
            if self.window_min != usize::MAX && self.window_min >= self.target_frames() + 2 {
                let idx = usize::from(self.next_seq) % SLOTS;
                if self.slots[idx].used && self.slots[idx].seq == self.next_seq {
                    self.slots[idx].used = false;
                    self.count -= 1;
                }
                self.next_seq = self.next_seq.wrapping_add(1);
                self.counters.shrunk += 1;
            }
            self.window_pops = 0;
            self.window_min = usize::MAX;
        }

        if self.count == 0 {
            // Underrun: conceal and rebuffer; do not advance (the frame may still come).
            self.playing = false;
            self.counters.waited += 1;
            return Playout::Missing;
        }
        let idx = usize::from(self.next_seq) % SLOTS;
        if self.slots[idx].used && self.slots[idx].seq == self.next_seq {
            self.slots[idx].used = false;
            self.count -= 1;
            self.next_seq = self.next_seq.wrapping_add(1);
            self.counters.played += 1;
            return Playout::Frame(&self.slots[idx].payload);
        }
        // A gap with later frames buffered: wait while shallow, else skip it as lost.
        if self.depth_frames() <= self.target_frames() {
            self.counters.waited += 1;
        } else {
            self.next_seq = self.next_seq.wrapping_add(1);
            self.counters.lost += 1;
        }
        Playout::Missing
    }

    /// The payload of the next frame to play, if it is already buffered (after a `Missing`
    /// that skipped a lost frame this is the packet following it: its FEC can recover it).
    pub fn peek_next(&self) -> Option<&[u8]> {
        let s = &self.slots[usize::from(self.next_seq) % SLOTS];
        (self.playing && s.used && s.seq == self.next_seq).then_some(&s.payload[..])
    }

    fn oldest_buffered(&self) -> Option<u16> {
        let mut best: Option<u16> = None;
        for s in self.slots.iter().filter(|s| s.used) {
            best = match best {
                Some(b) if seq_diff(s.seq, b) >= 0 => Some(b),
                _ => Some(s.seq),
            };
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::testsig::origin;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const P: Duration = Duration::from_millis(20);

    fn payload(seq: u16) -> [u8; 2] {
        seq.to_be_bytes()
    }

    fn seq_of(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[0], p[1]])
    }

    /// Simulates a 20 ms stream over `n` frames with per-packet extra delay from `delay`,
    /// dropping those for which `lose` says so; pops every 20 ms. Returns the played seqs
    /// (None = Missing) after start.
    struct Sim {
        played: Vec<Option<u16>>,
        jb: JitterBuffer,
    }

    fn simulate(
        n: usize,
        seq0: u16,
        mut delay: impl FnMut(usize) -> Duration,
        mut lose: impl FnMut(usize) -> bool,
    ) -> Sim {
        let t0 = origin();
        let mut jb = JitterBuffer::new(8000, P);
        let mut arrivals: Vec<(Instant, u16, u32)> = (0..n)
            .filter(|&i| !lose(i))
            .map(|i| {
                let sent = t0 + P * i as u32;
                (
                    sent + delay(i),
                    seq0.wrapping_add(i as u16),
                    (i as u32) * 160,
                )
            })
            .collect();
        arrivals.sort_by_key(|a| a.0);
        let mut played = Vec::new();
        let mut k = 0;
        for tick in 0..n + 20 {
            let now = t0 + P * tick as u32 + Duration::from_millis(1);
            while k < arrivals.len() && arrivals[k].0 <= now {
                let (at, seq, ts) = arrivals[k];
                jb.push(at, seq, ts, &payload(seq));
                k += 1;
            }
            match jb.pop(now) {
                Playout::Frame(p) => played.push(Some(seq_of(p))),
                Playout::Missing => played.push(None),
                Playout::Empty => assert!(played.is_empty(), "Empty after start"),
            }
        }
        Sim { played, jb }
    }

    fn assert_in_order(played: &[Option<u16>]) {
        let seqs: Vec<u16> = played.iter().flatten().copied().collect();
        for w in seqs.windows(2) {
            assert!(
                seq_diff(w[1], w[0]) > 0,
                "out of order: {} then {}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn a_clean_stream_plays_every_frame_in_order_after_the_minimum_delay() {
        let sim = simulate(200, 65_500, |_| Duration::from_millis(5), |_| false);
        let frames: Vec<u16> = sim.played.iter().flatten().copied().collect();
        assert_eq!(frames.len(), 200);
        assert_in_order(&sim.played);
        assert_eq!(sim.jb.target_delay(), Duration::from_millis(40));
        assert!(sim.jb.counters().lost == 0 && sim.jb.counters().late == 0);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order() {
        let mut rng = StdRng::seed_from_u64(7);
        // each packet delayed 0–30 ms: neighbours swap often
        let sim = simulate(
            500,
            100,
            |_| Duration::from_millis(rng.random_range(0..30)),
            |_| false,
        );
        assert_in_order(&sim.played);
        let c = sim.jb.counters();
        assert_eq!(
            c.played + c.lost + c.shrunk,
            500 - sim.jb.count as u64,
            "{c:?}"
        );
        assert!(c.lost + c.late <= 5, "{c:?}");
    }

    #[test]
    fn losses_are_reported_as_missing_and_playout_continues() {
        let mut rng = StdRng::seed_from_u64(11);
        let lost: Vec<bool> = (0..1000).map(|_| rng.random_bool(0.05)).collect();
        let sim = simulate(1000, 0, |_| Duration::from_millis(2), |i| lost[i]);
        assert_in_order(&sim.played);
        let played: Vec<u16> = sim.played.iter().flatten().copied().collect();
        let n_lost = lost.iter().filter(|&&l| l).count();
        // every packet that was sent and not lost is played (none arrive late)
        assert_eq!(
            played.len(),
            1000 - n_lost - sim.jb.counters().shrunk as usize
        );
        for s in &played {
            assert!(!lost[*s as usize]);
        }
        assert!(sim.played.iter().filter(|p| p.is_none()).count() >= n_lost);
    }

    #[test]
    fn duplicates_and_too_late_packets_are_dropped() {
        let t0 = origin();
        let mut jb = JitterBuffer::new(8000, P);
        jb.push(t0, 10, 0, b"a");
        jb.push(t0, 10, 0, b"a");
        assert_eq!(jb.counters().duplicate, 1);
        assert_eq!(jb.pop(t0), Playout::Empty);
        jb.push(t0 + P, 11, 160, b"b");
        let t = t0 + Duration::from_millis(45);
        assert_eq!(jb.pop(t), Playout::Frame(b"a"));
        assert_eq!(jb.pop(t), Playout::Frame(b"b"));
        jb.push(t, 10, 0, b"a"); // already played
        assert_eq!(jb.counters().late, 1);
        assert_eq!(jb.pop(t), Playout::Missing); // underrun
    }

    #[test]
    fn delay_adapts_up_under_jitter_and_back_down_when_it_calms() {
        let mut rng = StdRng::seed_from_u64(3);
        let calm_after = 1500;
        let sim = simulate(
            3000,
            0,
            |i| {
                if i < calm_after {
                    Duration::from_millis(rng.random_range(0..80))
                } else {
                    Duration::from_millis(1)
                }
            },
            |_| false,
        );
        assert_in_order(&sim.played);
        let c = sim.jb.counters();
        // 0–80 ms jitter needs ~80 ms: late losses stay rare once adapted
        assert!(c.late + c.lost < 60, "{c:?}");
        assert!(c.shrunk > 0, "never shrank after the jitter stopped: {c:?}");
        assert!(sim.jb.target_delay() <= Duration::from_millis(60));
        assert!(
            sim.jb.depth_frames() <= 4,
            "depth {}",
            sim.jb.depth_frames()
        );
    }

    #[test]
    fn target_grows_with_jitter_and_is_bounded() {
        let mut rng = StdRng::seed_from_u64(5);
        let sim = simulate(
            1000,
            0,
            |_| Duration::from_millis(rng.random_range(0..400)),
            |_| false,
        );
        assert!(sim.jb.target_delay() > Duration::from_millis(100));
        assert!(sim.jb.target_delay() <= Duration::from_millis(200));
        assert_in_order(&sim.played);
    }

    #[test]
    fn a_sequence_jump_resyncs_to_the_new_stream() {
        let t0 = origin();
        let mut jb = JitterBuffer::new(8000, P);
        let mut played = Vec::new();
        for i in 0..100u32 {
            let now = t0 + P * i;
            let (seq, ts) = if i < 50 {
                (1000 + i as u16, i * 160)
            } else {
                (40_000 + i as u16, 9_999_999 + i * 160) // sender restarted
            };
            jb.push(now, seq, ts, &payload(seq));
            if let Playout::Frame(p) = jb.pop(now) {
                played.push(seq_of(p));
            }
        }
        assert_eq!(jb.counters().resyncs, 1);
        assert!(played.iter().any(|&s| s >= 40_050));
        // the jitter estimate was not blown up by the timestamp jump
        assert!(jb.jitter() < Duration::from_millis(5));
    }

    #[test]
    fn underrun_rebuffers_then_resumes_without_losing_the_next_frame() {
        let t0 = origin();
        let mut jb = JitterBuffer::new(8000, P);
        for i in 0..5u16 {
            jb.push(t0 + P * u32::from(i), i, u32::from(i) * 160, &payload(i));
        }
        let mut now = t0 + P * 5;
        let mut got = Vec::new();
        for _ in 0..8 {
            if let Playout::Frame(p) = jb.pop(now) {
                got.push(seq_of(p));
            }
            now += P;
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // the sender pauses (DTX) then continues with seq 5
        assert_eq!(jb.pop(now), Playout::Missing);
        jb.push(now, 5, 50_000, &payload(5));
        jb.push(now, 6, 50_160, &payload(6));
        jb.push(now, 7, 50_320, &payload(7));
        now += Duration::from_millis(41);
        assert_eq!(jb.pop(now), Playout::Frame(&payload(5)[..]));
    }
}
