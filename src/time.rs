//! Time as an input: the runtime reads the clock once per input and passes a [`Now`] down.

use std::time::{Duration, Instant};

/// Seconds since the Unix epoch (wall-clock time, for CDRs, expiry stored on disk, logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// Whole seconds since the epoch.
    pub fn secs(self) -> u64 {
        self.0
    }
}

/// The current time as seen by the engine: `mono` drives timers, `wall` is for records.
/// Never derive one from the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic instant for timers and deadlines.
    pub mono: Instant,
    /// Wall-clock time for records and persisted expiry.
    pub wall: UnixTime,
}

impl Now {
    /// `self` advanced by `d` on both clocks (used by simulated clocks).
    pub fn advanced(self, d: Duration) -> Self {
        Now { mono: self.mono + d, wall: UnixTime(self.wall.0 + d.as_secs()) }
    }
}
