//! Test support: a simulated clock (and, as the engine grows, a simulated world).
//!
//! Time in tests only moves when a test moves it: nothing here sleeps.

pub mod world;

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::time::{Now, UnixTime};

/// 2026-01-05T09:00:00Z, a Monday: the wall time every simulation starts at.
pub const T0_WALL: u64 = 1_767_603_600;

/// A virtual clock: starts at an arbitrary monotonic instant and [`T0_WALL`].
#[derive(Debug)]
pub struct SimClock {
    now: Cell<Now>,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock {
    /// A clock at the start of the simulation.
    #[allow(clippy::disallowed_methods)] // the simulation's arbitrary origin; never read again
    pub fn new() -> Self {
        Self {
            now: Cell::new(Now {
                mono: Instant::now(),
                wall: UnixTime(T0_WALL),
            }),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Now {
        self.now.get()
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.now.set(self.now.get().advanced(d));
    }

    /// Moves time forward to `at` (no-op if `at` is in the past).
    pub fn advance_to(&self, at: Instant) {
        let now = self.now.get();
        if at > now.mono {
            self.advance(at - now.mono);
        }
    }
}

/// An arbitrary origin for virtual time in tests of sans-IO modules (std cannot build an
/// `Instant` without reading the clock); no test result depends on its value.
pub fn origin() -> Instant {
    SimClock::new().now().mono
}

/// Wall-clock time for micro-benchmarks run as ignored tests (never for logic).
#[allow(clippy::disallowed_methods)]
pub fn bench_clock() -> Instant {
    Instant::now()
}
