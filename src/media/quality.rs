//! STAND-IN: replaced by the codecs helper's module at merge.
//!
//! Receive statistics (RFC 3550 A.1, A.3, A.8) and a crude MOS.

use std::time::Instant;

use super::{Codec, LegStats};

/// Receive statistics of one RTP stream.
#[derive(Debug)]
pub struct RxStats {
    clock_rate: u32,
    packets: u64,
    base_seq: u32,
    max_ext: u32,
    started: bool,
    jitter: f64,
    last: Option<(Instant, u32)>,
}

impl RxStats {
    /// A new, empty counter for a stream with this RTP clock.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            packets: 0,
            base_seq: 0,
            max_ext: 0,
            started: false,
            jitter: 0.0,
            last: None,
        }
    }

    /// One packet arrived.
    pub fn on_packet(&mut self, arrival: Instant, seq: u16, ts: u32) {
        self.packets += 1;
        let seq = u32::from(seq);
        if !self.started {
            self.started = true;
            self.base_seq = seq;
            self.max_ext = seq;
        } else {
            let cycles = self.max_ext & !0xffff;
            let cand = [cycles + seq, cycles.wrapping_add(0x1_0000) + seq];
            for c in cand {
                if c > self.max_ext && c - self.max_ext < 3000 {
                    self.max_ext = c;
                }
            }
        }
        if let Some((t0, ts0)) = self.last {
            // RFC 3550 A.8
            let arr =
                arrival.saturating_duration_since(t0).as_secs_f64() * f64::from(self.clock_rate);
            let d = (arr - f64::from(ts.wrapping_sub(ts0) as i32)).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last = Some((arrival, ts));
    }

    /// Current figures.
    pub fn snapshot(&self, codec: Codec, sent: u64) -> LegStats {
        let expected = if self.started {
            u64::from(self.max_ext - self.base_seq) + 1
        } else {
            0
        };
        let lost = expected.saturating_sub(self.packets);
        let jitter_ms = self.jitter * 1000.0 / f64::from(self.clock_rate);
        let loss = if expected == 0 {
            0.0
        } else {
            lost as f64 / expected as f64
        };
        LegStats {
            packets: self.packets,
            lost,
            jitter_ms,
            mos: if self.packets == 0 {
                0.0
            } else {
                mos(codec, loss, jitter_ms, 0.0)
            },
            sent,
        }
    }
}

/// A crude MOS estimate.
pub fn mos(_codec: Codec, loss_fraction: f64, jitter_ms: f64, _one_way_delay_ms: f64) -> f64 {
    (4.4 - 20.0 * loss_fraction - jitter_ms / 100.0).clamp(1.0, 4.5)
}
