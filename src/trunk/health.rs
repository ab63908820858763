//! Trunk health, sans-IO: OPTIONS pings every `qualify`, and what calls through the trunk
//! teach us.
//!
//! A trunk is *down* after `qualify_failures` unanswered pings in a row; any final response to
//! a ping (even 4xx/5xx, RFC 3261 §11) proves it is alive. A trunk that is down is skipped by
//! outbound routing while another trunk of the route is up (when all are down, they are tried
//! anyway: the health check may be wrong, and a failed call costs little). A trunk whose host
//! name did not resolve is down. Without `qualify` a trunk is up unless its host is unknown.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Pings every this long; zero = none.
    interval: Duration,
    /// Misses before down.
    max_misses: u32,
    misses: u32,
    /// A ping is out.
    pending: bool,
    next: Option<Instant>,
    pub up: bool,
    /// Round trip of the last answered ping.
    pub rtt: Option<Duration>,
    sent_at: Option<Instant>,
}

/// A change worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Up,
    Down,
}

impl Health {
    pub fn new(interval: Duration, max_misses: u32, now: Instant) -> Health {
        Health {
            interval,
            max_misses: max_misses.max(1),
            misses: 0,
            pending: false,
            next: (!interval.is_zero()).then_some(now),
            up: true,
            rtt: None,
            sent_at: None,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.pending { None } else { self.next }
    }

    /// True when a ping is due now: the engine sends an OPTIONS and reports back.
    pub fn ping_due(&mut self, now: Instant) -> bool {
        if self.pending || self.next.is_none_or(|at| at > now) {
            return false;
        }
        self.pending = true;
        self.sent_at = Some(now);
        self.next = Some(now + self.interval);
        true
    }

    /// The ping was answered (`true`, any final response) or timed out.
    pub fn on_ping_result(&mut self, now: Instant, answered: bool) -> Option<Change> {
        self.pending = false;
        if answered {
            self.misses = 0;
            self.rtt = self.sent_at.map(|s| now.saturating_duration_since(s));
            if !self.up {
                self.up = true;
                return Some(Change::Up);
            }
            return None;
        }
        self.misses += 1;
        if self.up && self.misses >= self.max_misses {
            self.up = false;
            return Some(Change::Down);
        }
        None
    }

    /// A call through the trunk got a response: the trunk is alive.
    pub fn on_traffic(&mut self) -> Option<Change> {
        self.misses = 0;
        if !self.up {
            self.up = true;
            return Some(Change::Up);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_misses_up_after_an_answer() {
        let t0 = crate::testkit::origin();
        let s = Duration::from_secs;
        let mut h = Health::new(s(30), 2, t0);
        assert!(h.ping_due(t0));
        assert!(!h.ping_due(t0), "one ping at a time");
        assert_eq!(h.poll_timeout(), None);
        assert_eq!(h.on_ping_result(t0 + s(1), true), None);
        assert_eq!(h.rtt, Some(s(1)));
        assert_eq!(h.poll_timeout(), Some(t0 + s(30)));
        assert!(!h.ping_due(t0 + s(29)));
        assert!(h.ping_due(t0 + s(30)));
        assert_eq!(h.on_ping_result(t0 + s(62), false), None);
        assert!(h.up);
        assert!(h.ping_due(t0 + s(62)));
        assert_eq!(h.on_ping_result(t0 + s(94), false), Some(Change::Down));
        assert!(!h.up);
        assert!(h.ping_due(t0 + s(94)));
        assert_eq!(h.on_ping_result(t0 + s(95), true), Some(Change::Up));
        assert_eq!(h.on_traffic(), None);
        let off = Health::new(Duration::ZERO, 3, t0);
        assert_eq!(off.poll_timeout(), None);
        assert!(off.up);
    }
}
