//! STAND-IN: replaced by the codecs helper's module at merge.
//!
//! RFC 4733 §2.3 telephone-event payloads and the sender's packet sequence (§2.5.1).

use std::time::Duration;

/// One RFC 4733 event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// `E` bit.
    pub end: bool,
    /// Volume (−dBm0, 0–63).
    pub volume: u8,
    /// Duration in timestamp units.
    pub duration: u16,
}

const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

/// Parses a 4-byte event payload (RFC 4733 §2.3); `None` for non-DTMF events.
pub fn parse_event(payload: &[u8]) -> Option<DtmfEvent> {
    let p = payload.get(..4)?;
    let digit = char::from(*DIGITS.get(usize::from(p[0]))?);
    Some(DtmfEvent {
        digit,
        end: p[1] & 0x80 != 0,
        volume: p[1] & 0x3f,
        duration: u16::from_be_bytes([p[2], p[3]]),
    })
}

/// Appends the 4-byte payload for `ev`.
pub fn write_event(out: &mut Vec<u8>, ev: &DtmfEvent) {
    let code = DIGITS
        .iter()
        .position(|&d| char::from(d) == ev.digit.to_ascii_uppercase())
        .unwrap_or(0) as u8;
    out.push(code);
    out.push(if ev.end { 0x80 } else { 0 } | (ev.volume & 0x3f));
    out.extend_from_slice(&ev.duration.to_be_bytes());
}

/// The packet sequence for one digit.
#[derive(Debug)]
pub struct DtmfSender {
    step: u16,
    total: u16,
    elapsed: u16,
    ends_left: u8,
    started: bool,
}

impl DtmfSender {
    /// `None` for a character that is not a DTMF digit.
    pub fn new(digit: char, duration: Duration, clock_rate: u32, ptime: Duration) -> Option<Self> {
        DIGITS
            .iter()
            .position(|&d| char::from(d) == digit.to_ascii_uppercase())?;
        let step =
            (u64::from(clock_rate) * ptime.as_millis() as u64 / 1000).clamp(1, 0xffff) as u16;
        let total = (u64::from(clock_rate) * duration.as_millis() as u64 / 1000)
            .clamp(u64::from(step), 0xffff) as u16;
        Some(Self {
            step,
            total,
            elapsed: 0,
            ends_left: 3,
            started: false,
        })
    }

    /// The next packet: (marker, duration, end).
    #[allow(clippy::should_implement_trait)] // the contract names it `next`
    pub fn next(&mut self) -> Option<(bool, u16, bool)> {
        if self.elapsed < self.total {
            self.elapsed = self.elapsed.saturating_add(self.step).min(self.total);
            let marker = !self.started;
            self.started = true;
            if self.elapsed < self.total {
                return Some((marker, self.elapsed, false));
            }
        }
        if self.ends_left == 0 {
            return None;
        }
        self.ends_left -= 1;
        Some((false, self.total, true))
    }
}

/// In-band detector (stand-in: detects nothing).
#[derive(Debug)]
pub struct Goertzel;

impl Goertzel {
    /// A detector for PCM at `rate`.
    pub fn new(_rate: u32) -> Self {
        Self
    }
    /// Feeds samples.
    pub fn push(&mut self, _pcm: &[i16]) -> Option<char> {
        None
    }
}
