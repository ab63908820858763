//! DTMF: RFC 4733 telephone-event payloads (parse, write, and the packet schedule of one
//! digit) and an in-band Goertzel detector for phones that send tones as audio.
//!
//! Contract: pure functions and small state machines; hostile payloads give `None`.
//!
//! RFC 4733 implemented: §2.3 payload format (event, E, R, volume, duration), §3.2 event codes
//! 0–15 (`0`–`9`, `*`, `#`, `A`–`D`), §2.5.1.2 start packet with the marker bit and updates
//! carrying the duration so far, §2.5.1.4 the end packet sent three times. Events longer than
//! the 16-bit duration field (§2.5.1.3 segments) are not generated: durations are capped at
//! 65535 timestamp units (8.19 s at 8 kHz, 1.36 s at 48 kHz).
//!
//! Goertzel detector: 25.6 ms windows every 6.4 ms; a window detects a digit when one row and
//! one column frequency (ITU-T Q.23) each stand ≥ 6 dB above the other frequencies of their
//! group, each tone's amplitude is ≥ 100 (≈ −50 dBFS), the twist is within ±8 dB, and the two
//! tones carry ≥ 75 % of the window's energy (rejects speech, music and noise). A digit is
//! reported once, after at least 4 consecutive detecting windows (a tone of ≥ 40 ms; 20 ms
//! tones are rejected, ITU-T Q.24) and then two windows without it (it ended).

use std::time::Duration;

/// One RFC 4733 telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// E bit: this is (one of the three copies of) the end packet.
    pub end: bool,
    /// Power level, 0 to 63 meaning 0 to −63 dBm0 (§2.3.4).
    pub volume: u8,
    /// Duration so far, in RTP timestamp units (§2.3.5).
    pub duration: u16,
}

/// RFC 4733 §3.2 event code of a digit.
pub fn event_code(digit: char) -> Option<u8> {
    Some(match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        'a'..='d' => digit as u8 - b'a' + 12,
        _ => return None,
    })
}

/// The digit of an RFC 4733 §3.2 event code (0–15).
pub fn event_digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        _ => return None,
    })
}

/// Parses a telephone-event payload (§2.3). `None` if shorter than 4 octets or not a DTMF
/// event (codes above 15, e.g. flash, are not digits).
pub fn parse_event(payload: &[u8]) -> Option<DtmfEvent> {
    let p = payload.get(..4)?;
    Some(DtmfEvent {
        digit: event_digit(p[0])?,
        end: p[1] & 0x80 != 0,
        volume: p[1] & 0x3F,
        duration: u16::from_be_bytes([p[2], p[3]]),
    })
}

/// Writes the 4-octet payload of `ev` into `out`, which is cleared first (R bit zero; an
/// invalid digit is written as event 0 — callers validate digits with [`event_code`]).
pub fn write_event(out: &mut Vec<u8>, ev: &DtmfEvent) {
    out.clear();
    out.push(event_code(ev.digit).unwrap_or(0));
    out.push((u8::from(ev.end) << 7) | (ev.volume & 0x3F));
    out.extend_from_slice(&ev.duration.to_be_bytes());
}

/// The packet schedule of one digit (RFC 4733 §2.5.1): a start packet with the marker bit,
/// an update every ptime with the duration so far, then three identical end packets. All
/// packets of the event carry the same RTP timestamp (the caller's), §2.5.1.2.
#[derive(Clone, Debug)]
pub struct DtmfSender {
    /// The digit being sent.
    pub digit: char,
    total: u16,
    step: u32,
    ticks: u32,
    ends_sent: u8,
}

impl DtmfSender {
    /// Schedules `digit` lasting `duration` (at least one ptime, at most 65535 timestamp units)
    /// on a stream with RTP clock `clock_rate` and packets every `ptime`. `None` for a digit
    /// that is not a DTMF event or a zero clock or ptime.
    pub fn new(digit: char, duration: Duration, clock_rate: u32, ptime: Duration) -> Option<Self> {
        event_code(digit)?;
        let units = |d: Duration| u128::from(clock_rate) * d.as_micros() / 1_000_000;
        let step = units(ptime);
        if step == 0 {
            return None;
        }
        let step = u32::try_from(step.min(65_535)).ok()?;
        let total = units(duration).clamp(u128::from(step), 65_535) as u16;
        Some(Self {
            digit: digit.to_ascii_uppercase(),
            total,
            step,
            ticks: 0,
            ends_sent: 0,
        })
    }

    /// The next packet, one call per ptime tick: `(marker, duration, end)`, `None` when done.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<(bool, u16, bool)> {
        if self.ends_sent > 0 {
            if self.ends_sent >= 3 {
                return None;
            }
            // §2.5.1.4: the end packet is retransmitted (same duration, same timestamp)
            self.ends_sent += 1;
            return Some((false, self.total, true));
        }
        let marker = self.ticks == 0;
        self.ticks += 1;
        let elapsed = u64::from(self.ticks) * u64::from(self.step);
        if elapsed >= u64::from(self.total) {
            self.ends_sent = 1;
            Some((marker, self.total, true))
        } else {
            Some((marker, elapsed as u16, false))
        }
    }

    /// The event's total duration in timestamp units.
    pub fn total(&self) -> u16 {
        self.total
    }
}

/// ITU-T Q.23 row (low group) and column (high group) frequencies.
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
const MIN_WINDOWS: u32 = 4;
const END_WINDOWS: u32 = 2;

/// In-band DTMF detector over 8 Goertzel filters. See the module docs.
#[derive(Clone, Debug)]
pub struct Goertzel {
    n: usize,
    hop: usize,
    coeffs: [f32; 8],
    buf: Vec<f32>,
    cur: Option<char>,
    run: u32,
    miss: u32,
}

impl Goertzel {
    /// A detector for PCM at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let rate = rate.clamp(4000, 96_000);
        let n = (f64::from(rate) * 0.0256).round() as usize;
        let mut coeffs = [0.0; 8];
        for (c, f) in coeffs.iter_mut().zip(ROWS.iter().chain(COLS.iter())) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / rate as f32).cos();
        }
        Self {
            n,
            hop: (n / 4).max(1),
            coeffs,
            buf: Vec::with_capacity(2 * n),
            cur: None,
            run: 0,
            miss: 0,
        }
    }

    /// Feeds PCM; returns a digit once, when a tone has lasted ≥ 40 ms and ended.
    pub fn push(&mut self, pcm: &[i16]) -> Option<char> {
        let mut found = None;
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (self.n - self.buf.len().min(self.n)).max(1).min(rest.len());
            self.buf.extend(rest[..take].iter().map(|&s| f32::from(s)));
            rest = &rest[take..];
            while self.buf.len() >= self.n {
                let d = self.window();
                if let Some(c) = self.step(d) {
                    found = Some(c);
                }
                self.buf.drain(..self.hop);
            }
        }
        found
    }

    /// Classifies the current window.
    fn window(&self) -> Option<char> {
        let x = &self.buf[..self.n];
        let mut p = [0.0f32; 8];
        for (k, &c) in self.coeffs.iter().enumerate() {
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &v in x {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            p[k] = s1 * s1 + s2 * s2 - c * s1 * s2;
        }
        let energy: f32 = x.iter().map(|v| v * v).sum();
        let n = self.n as f32;
        // |X|² of a sine of amplitude A is (A·n/2)²; as energy that is 2|X|²/n.
        let as_energy = |pk: f32| 2.0 * pk / n;
        let amp2 = |pk: f32| 4.0 * pk / (n * n);
        let best = |g: &[f32]| {
            let (i, &m) = g
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap_or((0, &0.0));
            let dominant = g.iter().enumerate().all(|(j, &v)| j == i || v * 4.0 <= m);
            (i, m, dominant)
        };
        let (r, pr, dr) = best(&p[..4]);
        let (c, pc, dc) = best(&p[4..]);
        let level = amp2(pr) >= 100.0 * 100.0 && amp2(pc) >= 100.0 * 100.0;
        let twist = pr <= pc * 6.31 && pc <= pr * 6.31; // ±8 dB
        let purity = (as_energy(pr) + as_energy(pc)) >= 0.75 * energy;
        (dr && dc && level && twist && purity).then(|| KEYS[r][c])
    }

    /// Advances the tone state machine by one window result.
    fn step(&mut self, d: Option<char>) -> Option<char> {
        match (self.cur, d) {
            (Some(c), Some(x)) if c == x => {
                self.run += 1;
                self.miss = 0;
                None
            }
            (Some(c), other) => {
                self.miss += 1;
                if self.miss < END_WINDOWS && other.is_none() {
                    return None;
                }
                let out = (self.run >= MIN_WINDOWS).then_some(c);
                self.cur = other;
                self.run = u32::from(other.is_some());
                self.miss = 0;
                out
            }
            (None, Some(x)) => {
                self.cur = Some(x);
                self.run = 1;
                self.miss = 0;
                None
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn event_payloads_round_trip() {
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            let ev = DtmfEvent {
                digit: d,
                end: i % 2 == 0,
                volume: 10,
                duration: 160 * i as u16,
            };
            let mut out = vec![1, 2, 3];
            write_event(&mut out, &ev);
            assert_eq!(out.len(), 4);
            assert_eq!(out[0], i as u8);
            assert_eq!(parse_event(&out), Some(ev));
        }
        // RFC 4733 §2.3: '5', E=1, volume 10, duration 800
        assert_eq!(
            parse_event(&[5, 0x8A, 0x03, 0x20]),
            Some(DtmfEvent {
                digit: '5',
                end: true,
                volume: 10,
                duration: 800
            })
        );
        assert_eq!(event_code('b'), Some(13));
    }

    #[test]
    fn short_and_non_dtmf_payloads_are_rejected() {
        assert_eq!(parse_event(&[]), None);
        assert_eq!(parse_event(&[1, 2, 3]), None);
        assert_eq!(parse_event(&[16, 0, 0, 0]), None); // flash
        assert_eq!(parse_event(&[255, 0, 0, 0]), None);
        // the R bit and trailing bytes are ignored
        assert_eq!(parse_event(&[1, 0x40, 0, 1, 9]).map(|e| e.volume), Some(0));
    }

    #[test]
    fn sender_emits_start_updates_and_three_identical_ends() {
        let mut s = DtmfSender::new(
            '7',
            Duration::from_millis(100),
            8000,
            Duration::from_millis(20),
        )
        .unwrap();
        let mut pkts = Vec::new();
        while let Some(p) = s.next() {
            pkts.push(p);
        }
        assert_eq!(
            pkts,
            vec![
                (true, 160, false),
                (false, 320, false),
                (false, 480, false),
                (false, 640, false),
                (false, 800, true),
                (false, 800, true),
                (false, 800, true),
            ]
        );
        assert_eq!(s.next(), None);
    }

    #[test]
    fn sender_limits_and_rejects() {
        assert!(
            DtmfSender::new(
                'x',
                Duration::from_millis(100),
                8000,
                Duration::from_millis(20)
            )
            .is_none()
        );
        assert!(DtmfSender::new('1', Duration::from_millis(100), 8000, Duration::ZERO).is_none());
        // shorter than a ptime: a single start+end packet, then two more ends
        let mut s = DtmfSender::new(
            '1',
            Duration::from_millis(5),
            8000,
            Duration::from_millis(20),
        )
        .unwrap();
        assert_eq!(s.next(), Some((true, 160, true)));
        assert_eq!(s.next(), Some((false, 160, true)));
        assert_eq!(s.next(), Some((false, 160, true)));
        assert_eq!(s.next(), None);
        // 10 s at 48 kHz is capped at the 16-bit field
        let s = DtmfSender::new(
            '#',
            Duration::from_secs(10),
            48_000,
            Duration::from_millis(20),
        )
        .unwrap();
        assert_eq!(s.total(), 65_535);
        let mut s = s;
        let last = std::iter::from_fn(|| s.next()).last();
        assert_eq!(last, Some((false, 65_535, true)));
    }

    fn dual_tone(rate: u32, digit: char, ms: u32, amp: f64) -> Vec<f64> {
        let (r, c) = KEYS
            .iter()
            .enumerate()
            .find_map(|(r, row)| row.iter().position(|&k| k == digit).map(|c| (r, c)))
            .unwrap();
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let w = 2.0 * std::f64::consts::PI;
                amp * ((w * f64::from(ROWS[r]) * t).sin() + (w * f64::from(COLS[c]) * t).sin())
            })
            .collect()
    }

    fn silence(rate: u32, ms: u32) -> Vec<f64> {
        vec![0.0; (rate * ms / 1000) as usize]
    }

    /// Adds white noise at `snr_db` below the signal's power and converts to i16.
    fn with_noise(x: &[f64], snr_db: f64, rng: &mut StdRng) -> Vec<i16> {
        let p = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let sigma = (p / 10f64.powf(snr_db / 10.0)).sqrt();
        x.iter()
            .map(|&v| {
                // uniform noise with variance sigma²: ±sigma·√3
                let nz = rng.random_range(-1.0..1.0) * sigma * 3f64.sqrt();
                (v + nz).round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    fn detect(rate: u32, pcm: &[i16], chunk: usize) -> Vec<char> {
        let mut g = Goertzel::new(rate);
        pcm.chunks(chunk).filter_map(|c| g.push(c)).collect()
    }

    #[test]
    fn all_16_digits_are_detected_once_in_noise() {
        let mut rng = StdRng::seed_from_u64(42);
        for rate in [8000, 16_000, 48_000] {
            let mut sig = silence(rate, 30);
            for d in "0123456789*#ABCD".chars() {
                sig.extend(dual_tone(rate, d, 80, 4000.0));
                sig.extend(silence(rate, 60));
            }
            let tone_power = 4000.0f64 * 4000.0; // two tones of A²/2
            let sigma = (tone_power / 100.0).sqrt(); // 20 dB SNR relative to the tones
            let pcm: Vec<i16> = sig
                .iter()
                .map(|&v| (v + rng.random_range(-1.0..1.0) * sigma * 3f64.sqrt()).round() as i16)
                .collect();
            let got: String = detect(rate, &pcm, rate as usize / 50).into_iter().collect();
            assert_eq!(got, "0123456789*#ABCD", "at {rate} Hz");
        }
    }

    #[test]
    fn a_40ms_tone_is_detected_and_a_20ms_tone_is_not() {
        let mut rng = StdRng::seed_from_u64(1);
        for offset in [0, 13, 27, 41] {
            let mut sig = silence(8000, 20);
            sig.extend(silence(8000, 1).into_iter().cycle().take(offset));
            sig.extend(dual_tone(8000, '5', 40, 3000.0));
            sig.extend(silence(8000, 60));
            let pcm = with_noise(&sig, 30.0, &mut rng);
            assert_eq!(detect(8000, &pcm, 160), vec!['5'], "offset {offset}");

            let mut sig = silence(8000, 20);
            sig.extend(silence(8000, 1).into_iter().cycle().take(offset));
            sig.extend(dual_tone(8000, '5', 20, 3000.0));
            sig.extend(silence(8000, 60));
            let pcm = with_noise(&sig, 30.0, &mut rng);
            assert!(detect(8000, &pcm, 160).is_empty(), "offset {offset}");
        }
    }

    #[test]
    fn a_long_tone_and_back_to_back_digits_are_reported_once_each() {
        let mut rng = StdRng::seed_from_u64(9);
        let mut sig = dual_tone(8000, '9', 2000, 3000.0);
        sig.extend(silence(8000, 50));
        sig.extend(dual_tone(8000, '9', 60, 3000.0));
        sig.extend(dual_tone(8000, '1', 60, 3000.0)); // no gap between 9 and 1
        sig.extend(silence(8000, 50));
        let pcm = with_noise(&sig, 20.0, &mut rng);
        assert_eq!(detect(8000, &pcm, 160), vec!['9', '9', '1']);
        // any chunking gives the same result
        assert_eq!(detect(8000, &pcm, 7), vec!['9', '9', '1']);
    }

    #[test]
    fn single_tones_speech_like_sound_and_noise_are_rejected() {
        let mut rng = StdRng::seed_from_u64(5);
        let rate = 8000;
        let n = rate as usize; // 1 s each
        let w = 2.0 * std::f64::consts::PI;
        let mut signals: Vec<Vec<f64>> = Vec::new();
        for f in ROWS.iter().chain(COLS.iter()) {
            signals.push(
                (0..n)
                    .map(|i| 6000.0 * (w * f64::from(*f) * i as f64 / 8000.0).sin())
                    .collect(),
            );
        }
        // a vowel-like harmonic series: f0 110–150 Hz gliding, formants near 700 and 1200 Hz
        for f0 in [110.0, 125.0, 140.0, 150.0] {
            signals.push(
                (0..n)
                    .map(|i| {
                        let t = i as f64 / 8000.0;
                        (1..30)
                            .map(|h| {
                                let fh = f0 * f64::from(h);
                                let env = 1.0 / (1.0 + ((fh - 700.0) / 150.0).powi(2))
                                    + 0.7 / (1.0 + ((fh - 1220.0) / 150.0).powi(2))
                                    + 0.05;
                                2000.0
                                    * env
                                    * (w * f0 * f64::from(h) * t
                                        + 0.03 * f64::from(h) * f0 / 3.0 * -(w * 3.0 * t).cos())
                                    .sin()
                            })
                            .sum::<f64>()
                    })
                    .collect(),
            );
        }
        // white noise
        signals.push((0..n).map(|_| rng.random_range(-8000.0..8000.0)).collect());
        // a low-level digit (−60 dBFS) is below the level threshold
        signals.push(dual_tone(8000, '3', 200, 20.0));
        for (i, s) in signals.iter().enumerate() {
            let pcm: Vec<i16> = s
                .iter()
                .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
                .collect();
            let mut tail = pcm.clone();
            tail.extend(vec![0; 800]);
            assert!(detect(8000, &tail, 160).is_empty(), "signal {i} detected");
        }
    }
}
