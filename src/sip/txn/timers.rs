//! Timer values (RFC 3261 §17.1.1.1, Table 4) and the fixed-size timer table every transaction
//! machine keeps (one `Option<Instant>` per RFC timer; `poll_timeout` is the minimum).
//!
//! No clock is read here: every deadline is `now + duration`, with `now` passed in.

use std::time::{Duration, Instant};

/// RFC 3261 §17.1.1.1 and Table 4 (Appendix A) timer base values.
///
/// Timer D (client INVITE wait in Completed) is configured separately because the RFC only
/// requires "at least 32 s" on unreliable transports (§17.1.1.2). The derived timers are
/// B = F = H = J = L = M = 64*T1 and I = K = T4; on reliable transports D, I, J and K are zero
/// (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2). Nothing here checks that `timer_d` ≥ 32 s or that
/// T1 ≤ T2: the config layer validates the values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerValues {
    /// RTT estimate; RFC 3261 default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses; default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network; default 5 s.
    pub t4: Duration,
    /// Timer D for unreliable transports; must be ≥ 32 s to comply with §17.1.1.2.
    pub timer_d: Duration,
}

impl Default for TimerValues {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl TimerValues {
    /// 64*T1: Timers B, F, H, J (unreliable), and RFC 6026 Timers L and M.
    #[must_use]
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// Whether the transport toward the peer is reliable (§17, §18).
///
/// `Unreliable` is UDP. `Reliable` (TCP, TLS, SCTP) disables the retransmission timers A, E and
/// G and zeroes the wait timers D, I, J and K; B, F, H, L and M still run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reliability {
    Unreliable,
    Reliable,
}

impl Reliability {
    #[must_use]
    pub fn is_reliable(self) -> bool {
        matches!(self, Reliability::Reliable)
    }
}

/// Longest duration a timer is ever armed for. Keeps `now + d` from overflowing (and thus
/// panicking) with an absurd configuration; the config layer is expected to reject such values.
const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);

/// `now + d`, clamped so that it never panics.
pub(crate) fn deadline(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(MAX_TIMER)).unwrap_or(now)
}

/// A fixed-size table of deadlines, indexed by a machine's own timer enum (quinn `TimerTable`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerTable<const N: usize> {
    at: [Option<Instant>; N],
}

impl<const N: usize> Default for TimerTable<N> {
    fn default() -> Self {
        Self { at: [None; N] }
    }
}

impl<const N: usize> TimerTable<N> {
    pub(crate) fn set(&mut self, timer: usize, at: Instant) {
        if let Some(slot) = self.at.get_mut(timer) {
            *slot = Some(at);
        }
    }

    pub(crate) fn stop(&mut self, timer: usize) {
        if let Some(slot) = self.at.get_mut(timer) {
            *slot = None;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.at = [None; N];
    }

    #[cfg(test)]
    pub(crate) fn get(&self, timer: usize) -> Option<Instant> {
        self.at.get(timer).copied().flatten()
    }

    /// If `timer` is armed and due at `now`, disarm it and return true.
    pub(crate) fn take_expired(&mut self, timer: usize, now: Instant) -> bool {
        match self.at.get_mut(timer) {
            Some(slot @ Some(_)) if slot.is_some_and(|at| at <= now) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_the_earliest_armed_deadline_and_expiry_disarms() {
        let t0 = crate::sip::txn::test_support::origin();
        let mut t = TimerTable::<3>::default();
        assert_eq!(t.next(), None);
        t.set(0, t0 + Duration::from_secs(5));
        t.set(2, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert!(!t.take_expired(0, t0 + Duration::from_secs(1)));
        assert!(t.take_expired(2, t0 + Duration::from_secs(1)));
        assert_eq!(t.get(2), None);
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
        t.stop(0);
        assert_eq!(t.next(), None);
        // out-of-range indices are ignored, never a panic
        t.set(7, t0);
        assert!(!t.take_expired(7, t0));
    }

    #[test]
    fn absurd_durations_do_not_overflow() {
        let t0 = crate::sip::txn::test_support::origin();
        assert_eq!(deadline(t0, Duration::MAX), t0 + MAX_TIMER);
        let tv = TimerValues {
            t1: Duration::MAX,
            ..TimerValues::default()
        };
        assert_eq!(tv.t1_x64(), Duration::MAX);
    }
}
