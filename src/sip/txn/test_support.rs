//! Test support: a virtual clock origin and a driver that runs a machine on that clock.
//!
//! The driver never sleeps: it jumps straight to the machine's next deadline, exactly as the
//! runtime does after draining outputs.

use std::time::{Duration, Instant};

use super::{ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TxnOutput};

/// The origin of the virtual clock. `std` cannot build an `Instant` without reading the clock,
/// so this is the one read in the transaction tests; no result depends on its value.
pub(crate) fn origin() -> Instant {
    crate::testkit::origin()
}

/// The common sans-IO surface, so one driver serves all four machines.
pub(crate) trait Machine {
    fn poll_output(&mut self) -> Option<TxnOutput>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
}

macro_rules! impl_machine {
    ($($t:ty),*) => {$(
        impl Machine for $t {
            fn poll_output(&mut self) -> Option<TxnOutput> { <$t>::poll_output(self) }
            fn poll_timeout(&self) -> Option<Instant> { <$t>::poll_timeout(self) }
            fn handle_timeout(&mut self, now: Instant) { <$t>::handle_timeout(self, now) }
        }
    )*};
}
impl_machine!(ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite);

/// A virtual clock plus the log of every output with its offset from the origin.
pub(crate) struct Sim {
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    pub(crate) log: Vec<(Duration, TxnOutput)>,
}

impl Sim {
    pub(crate) fn new() -> Self {
        let t0 = origin();
        Self {
            t0,
            now: t0,
            log: Vec::new(),
        }
    }

    /// The instant `secs` seconds after the origin.
    pub(crate) fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    /// Move the clock forward to `secs` (no timers are fired).
    pub(crate) fn set(&mut self, secs: f64) -> Instant {
        self.now = self.at(secs);
        self.now
    }

    /// At `secs`: drain what is pending (stamped with the old time), move the clock, apply
    /// `input`, and drain its outputs (stamped with the new time). No timers are fired.
    pub(crate) fn input<M: Machine>(
        &mut self,
        m: &mut M,
        secs: f64,
        input: impl FnOnce(&mut M, Instant),
    ) {
        self.drain(m);
        let now = self.set(secs);
        input(m, now);
        self.drain(m);
    }

    /// Pop every queued output into the log, stamped with the current time.
    pub(crate) fn drain(&mut self, m: &mut impl Machine) {
        while let Some(o) = m.poll_output() {
            self.log.push((self.now - self.t0, o));
        }
    }

    /// Drain, then jump to each deadline and fire it, until none is armed or the next one is
    /// after `limit` seconds.
    pub(crate) fn run_until(&mut self, m: &mut impl Machine, limit: f64) {
        let limit = self.at(limit);
        loop {
            self.drain(m);
            let Some(t) = m.poll_timeout() else { break };
            if t > limit {
                break;
            }
            assert!(t >= self.now, "deadline in the past");
            self.now = t;
            m.handle_timeout(t);
        }
    }

    /// Run until no timer is armed.
    pub(crate) fn run(&mut self, m: &mut impl Machine) {
        self.run_until(m, 1.0e6);
    }

    /// Take the log, leaving it empty.
    pub(crate) fn take(&mut self) -> Vec<(Duration, TxnOutput)> {
        std::mem::take(&mut self.log)
    }
}

/// Offsets (in ms) of every `Transmit` in `log`.
pub(crate) fn transmit_ms(log: &[(Duration, TxnOutput)]) -> Vec<u128> {
    log.iter()
        .filter(|(_, o)| matches!(o, TxnOutput::Transmit(_)))
        .map(|(t, _)| t.as_millis())
        .collect()
}

/// The outputs in `log` without their times.
pub(crate) fn outputs(log: &[(Duration, TxnOutput)]) -> Vec<TxnOutput> {
    log.iter().map(|(_, o)| o.clone()).collect()
}

/// `from`, `from + step`, … while `< end` (all in ms).
pub(crate) fn every(from: u128, step: u128, end: u128) -> Vec<u128> {
    (0..)
        .map(|i| from + i * step)
        .take_while(|t| *t < end)
        .collect()
}
