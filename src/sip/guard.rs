//! Failed-authentication tracking and temporary bans per source IP (a built-in fail2ban).
//!
//! Contract: no IO, no clock. After `failures` failed authentications from one IP within
//! `window`, that IP is ignored for `ban_time`; trusted networks are never banned. Each ban and
//! each unban is reported once through [`AuthGuard::poll_event`], so the engine logs it once.
//!
//! Memory is bounded: at most `MAX_TRACKED` source IPs are tracked; when full, the entries
//! with the oldest activity are dropped first (bans are kept).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::IpNet;

const MAX_TRACKED: usize = 100_000;

/// Ban policy from the config.
#[derive(Clone, Debug)]
pub struct GuardPolicy {
    /// Failures that trigger a ban (0 disables banning).
    pub failures: u32,
    /// Window the failures must fall in.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_time: Duration,
    /// Never banned.
    pub trusted: Vec<IpNet>,
}

/// A ban or unban, reported once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardEvent {
    /// `ip` is ignored until `until`.
    Banned {
        /// The source.
        ip: IpAddr,
        /// Failures counted in the window.
        failures: u32,
        /// Ban length.
        ban_time: Duration,
    },
    /// The ban on `ip` ended.
    Unbanned {
        /// The source.
        ip: IpAddr,
        /// Datagrams dropped during the ban.
        dropped: u64,
    },
}

#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
    dropped: u64,
    last: Option<Instant>,
}

/// Counters for `zvon status` and the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Failed authentications seen.
    pub failures: u64,
    /// Bans imposed.
    pub bans: u64,
    /// Messages ignored from banned sources.
    pub dropped: u64,
}

/// The tracker.
#[derive(Debug)]
pub struct AuthGuard {
    policy: GuardPolicy,
    entries: HashMap<IpAddr, Entry>,
    unban_at: BTreeMap<(Instant, IpAddr), ()>,
    events: VecDeque<GuardEvent>,
    stats: GuardStats,
}

impl AuthGuard {
    /// A tracker with `policy`.
    pub fn new(policy: GuardPolicy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
            unban_at: BTreeMap::new(),
            events: VecDeque::new(),
            stats: GuardStats::default(),
        }
    }

    /// Replaces the policy (config reload); existing bans run their course.
    pub fn set_policy(&mut self, policy: GuardPolicy) {
        self.policy = policy;
    }

    fn trusted(&self, ip: &IpAddr) -> bool {
        self.policy.trusted.iter().any(|n| n.contains(ip))
    }

    /// True if messages from `ip` must be ignored now. Counts the drop.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> bool {
        match self.entries.get_mut(&ip) {
            Some(e) if e.banned_until.is_some_and(|t| t > now) => {
                e.dropped += 1;
                self.stats.dropped += 1;
                true
            }
            _ => false,
        }
    }

    /// Records a failed authentication from `ip`. Returns true if this failure banned it.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.stats.failures += 1;
        if self.policy.failures == 0 || self.trusted(&ip) {
            return false;
        }
        if !self.entries.contains_key(&ip) && self.entries.len() >= MAX_TRACKED {
            self.evict(now);
        }
        let window = self.policy.window;
        let e = self.entries.entry(ip).or_default();
        e.last = Some(now);
        if e.banned_until.is_some() {
            return false;
        }
        while e
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            e.failures.pop_front();
        }
        e.failures.push_back(now);
        let n = e.failures.len() as u32;
        if n < self.policy.failures {
            return false;
        }
        e.failures.clear();
        let until = now + self.policy.ban_time;
        e.banned_until = Some(until);
        e.dropped = 0;
        self.unban_at.insert((until, ip), ());
        self.stats.bans += 1;
        self.events.push_back(GuardEvent::Banned {
            ip,
            failures: n,
            ban_time: self.policy.ban_time,
        });
        true
    }

    fn evict(&mut self, now: Instant) {
        // Drop idle, unbanned entries; if that frees nothing, drop the oldest unbanned one.
        let window = self.policy.window;
        self.entries.retain(|_, e| {
            e.banned_until.is_some()
                || e.last
                    .is_some_and(|t| now.saturating_duration_since(t) <= window)
        });
        if self.entries.len() >= MAX_TRACKED {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| e.banned_until.is_none())
                .min_by_key(|(_, e)| e.last)
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                self.entries.remove(&ip);
            }
        }
    }

    /// Earliest unban.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.unban_at.keys().next().map(|(t, _)| *t)
    }

    /// Lifts every ban due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.unban_at.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, ip), ()) = entry.remove_entry();
            if let Some(e) = self.entries.remove(&ip) {
                self.events.push_back(GuardEvent::Unbanned {
                    ip,
                    dropped: e.dropped,
                });
            }
        }
    }

    /// Pops the next ban/unban event.
    pub fn poll_event(&mut self) -> Option<GuardEvent> {
        self.events.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> GuardStats {
        self.stats
    }

    /// IPs banned now.
    pub fn banned(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.unban_at.keys().map(|(_, ip)| *ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SimClock;

    fn guard(trusted: &[&str]) -> AuthGuard {
        AuthGuard::new(GuardPolicy {
            failures: 3,
            window: Duration::from_secs(60),
            ban_time: Duration::from_secs(600),
            trusted: trusted.iter().map(|s| s.parse().unwrap()).collect(),
        })
    }

    #[test]
    fn bans_after_n_failures_in_window_and_unbans_once() {
        let c = SimClock::new();
        let mut g = guard(&[]);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert!(!g.record_failure(ip, c.now().mono));
        c.advance(Duration::from_secs(10));
        assert!(!g.record_failure(ip, c.now().mono));
        assert!(!g.check(ip, c.now().mono));
        assert!(g.record_failure(ip, c.now().mono));
        assert!(matches!(
            g.poll_event(),
            Some(GuardEvent::Banned { failures: 3, .. })
        ));
        assert_eq!(g.poll_event(), None);
        assert!(g.check(ip, c.now().mono));
        assert!(g.check(ip, c.now().mono));
        assert!(
            !g.record_failure(ip, c.now().mono),
            "no second ban while banned"
        );
        assert_eq!(
            g.poll_timeout(),
            Some(c.now().mono + Duration::from_secs(600))
        );
        c.advance(Duration::from_secs(600));
        g.handle_timeout(c.now().mono);
        assert_eq!(
            g.poll_event(),
            Some(GuardEvent::Unbanned { ip, dropped: 2 })
        );
        assert_eq!(g.poll_event(), None);
        assert!(!g.check(ip, c.now().mono));
        assert_eq!(
            g.stats(),
            GuardStats {
                failures: 4,
                bans: 1,
                dropped: 2
            }
        );
    }

    #[test]
    fn failures_outside_window_do_not_add_up() {
        let c = SimClock::new();
        let mut g = guard(&[]);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..10 {
            assert!(!g.record_failure(ip, c.now().mono));
            c.advance(Duration::from_secs(31));
        }
    }

    #[test]
    fn trusted_networks_are_never_banned() {
        let c = SimClock::new();
        let mut g = guard(&["127.0.0.0/8", "2001:db8::/32"]);
        for ip in ["127.0.0.3", "2001:db8::5", "::ffff:127.0.0.9"] {
            let ip: IpAddr = ip.parse().unwrap();
            for _ in 0..10 {
                assert!(!g.record_failure(ip, c.now().mono));
            }
            assert!(!g.check(ip, c.now().mono));
        }
        assert_eq!(g.poll_event(), None);
    }
}
