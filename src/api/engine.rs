//! The engine's side of the control socket: [`Pbx::control`] answers a [`Request`] from the
//! state the engine owns. Runs inside `handle_input`, so it reads state and never blocks.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Request, Response};
use crate::call::b2bua::{BranchState, Call, CallState};
use crate::call::voicemail::LocalApp;
use crate::core::Pbx;
use crate::time::Now;

/// Contacts and calls listed by `status` at most (the rest are counted): the text is built
/// on the engine thread, so it stays small.
const MAX_LISTED: usize = 200;

impl Pbx {
    /// Answers one control request.
    pub(crate) fn control(&mut self, now: Now, req: Request) -> Response {
        match req {
            Request::Status => Response::ok(self.status_text(now)),
            Request::StatusQueues => Response::ok(self.queues_text(now)),
            Request::StatusTrunks => Response::ok(self.trunks_text(now)),
            Request::AgentList => Response::ok(self.agents_text(now)),
            Request::AgentLogin { agent, queues } => {
                let view = crate::call::queue::View::new(&self.registrar, &self.calls);
                let r = self.acd.login(now, &agent, &queues, &view);
                self.pump_acd(now);
                match r {
                    Ok(added) if added.is_empty() => {
                        Response::ok(format!("{agent} was logged in to those queues already"))
                    }
                    Ok(added) => Response::ok(format!("{agent} logged in to {}", added.join(", "))),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::AgentLogout { agent } => {
                let view = crate::call::queue::View::new(&self.registrar, &self.calls);
                let r = self.acd.logout(now, &agent, &view);
                self.pump_acd(now);
                match r {
                    Ok(()) => Response::ok(format!("{agent} logged out")),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::AgentPause { agent, reason } => {
                let view = crate::call::queue::View::new(&self.registrar, &self.calls);
                let r = self.acd.pause(now, &agent, reason, &view);
                self.pump_acd(now);
                match r {
                    Ok(()) => Response::ok(match reason {
                        Some(n) => format!("{agent} paused (reason {n})"),
                        None => format!("{agent} paused"),
                    }),
                    Err(e) => Response::error(e.to_string()),
                }
            }
            Request::AgentUnpause { agent } => {
                let view = crate::call::queue::View::new(&self.registrar, &self.calls);
                let r = self.acd.unpause(now, &agent, &view);
                self.pump_acd(now);
                match r {
                    Ok(()) => Response::ok(format!("{agent} is taking calls again")),
                    Err(e) => Response::error(e.to_string()),
                }
            }
        }
    }

    /// `zvon status trunks`.
    fn trunks_text(&self, now: Now) -> String {
        use crate::call::trunk::RegStatus;
        let list = self.trunk_status(now);
        if list.is_empty() {
            return "No trunks (define them in trunks.toml).\n".into();
        }
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<14} {:<24} {:<38} {:<6} {:>9}",
            "TRUNK", "HOST", "REGISTRATION", "HEALTH", "CHANNELS"
        );
        for s in list {
            let reg = match &s.registration {
                None => "-".to_string(),
                Some(RegStatus::Waiting) => "waiting for the address".into(),
                Some(RegStatus::Registering) => "registering".into(),
                Some(RegStatus::Registered { expires_in }) => {
                    format!("registered, expires in {expires_in}s")
                }
                Some(RegStatus::Failed {
                    code,
                    reason,
                    retry_in,
                }) => {
                    let code = code.map_or_else(|| "no answer".to_string(), |c| c.to_string());
                    format!("FAILED {code} ({reason}), retry in {retry_in}s")
                }
            };
            let health = match (s.up, s.rtt_ms) {
                (true, Some(ms)) => format!("up {ms}ms"),
                (true, None) => "up".into(),
                (false, _) => "DOWN".into(),
            };
            let chans = if s.max_channels == 0 {
                format!("{}", s.channels)
            } else {
                format!("{}/{}", s.channels, s.max_channels)
            };
            let host = match s.address {
                Some(a) if a.to_string() != s.host => format!("{} ({a})", s.host),
                _ => s.host.clone(),
            };
            let _ = writeln!(
                t,
                "{:<14} {:<24} {:<38} {:<6} {:>9}",
                s.name,
                host,
                printable(&reg),
                health,
                chans
            );
        }
        let (alarms, denied) = self.trunk_counters();
        let _ = writeln!(
            t,
            "Outbound calls refused since start: {alarms} by toll-fraud limits, {denied} by class of service."
        );
        t
    }

    fn agent_line(t: &mut String, a: &crate::acd::AgentView) {
        let state = match a.pause_reason {
            Some(r) if a.status == crate::acd::AgentStatus::Paused && r > 0 => {
                format!("paused (reason {r})")
            }
            _ => a.status.as_str().to_owned(),
        };
        let name = if a.name.is_empty() || a.name == a.id {
            String::new()
        } else {
            format!(" ({})", printable(&a.name))
        };
        let _ = writeln!(
            t,
            "  {:<12} {:<6} {:<22} {:>6}  {:>4} calls  {}{}",
            a.id,
            a.extension,
            state,
            short(a.since),
            a.calls_answered,
            a.queues.join(","),
            name
        );
    }

    fn agents_text(&self, now: Now) -> String {
        let view = crate::call::queue::View::new(&self.registrar, &self.calls);
        let agents = self.acd.agents(now, &view);
        if agents.is_empty() {
            return "no agents are configured (queues.toml)".into();
        }
        let mut t = String::new();
        let _ = writeln!(
            t,
            "  {:<12} {:<6} {:<22} {:>6}  {:>10}  queues",
            "agent", "ext", "state", "since", "answered"
        );
        for a in &agents {
            Self::agent_line(&mut t, a);
        }
        t
    }

    fn queues_text(&self, now: Now) -> String {
        let view = crate::call::queue::View::new(&self.registrar, &self.calls);
        let queues = self.acd.queues(now, &view);
        if queues.is_empty() {
            return "no queues are configured (queues.toml)".into();
        }
        let mut t = String::new();
        for q in &queues {
            // The reports' definitions (`acd::kpi`): SL = answered in T / offered, abandon
            // rate = abandons after S or more / offered, ASA = sum of hold / answered.
            let pct =
                |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0));
            let (sl, ar) = (pct(q.kpis.service_level()), pct(q.kpis.abandon_rate()));
            let asa = q
                .kpis
                .asa_s()
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.0}s"));
            let _ = writeln!(
                t,
                "queue {} ({}): {} waiting; today {} answered, {} abandoned, {} overflowed \
                 of {} offered, service level {sl}, abandon rate {ar}, ASA {asa}, \
                 average handle time {}",
                q.name,
                q.strategy,
                q.waiting.len(),
                q.answered,
                q.abandoned,
                q.overflowed,
                q.kpis.offered,
                short(q.aht)
            );
            for (i, w) in q.waiting.iter().take(MAX_LISTED).enumerate() {
                let ringing = match (&w.callback, w.ringing.is_empty()) {
                    (Some(n), true) => format!(", callback to {}", printable(n)),
                    (Some(n), false) => format!(
                        ", calling back {} for {}",
                        printable(n),
                        w.ringing.join(", ")
                    ),
                    (None, true) => String::new(),
                    (None, false) => format!(", ringing {}", w.ringing.join(", ")),
                };
                let prio = if w.priority > 0 {
                    format!(", priority {}", w.priority)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    t,
                    "  {:>3}. {} waiting {}{prio}{ringing}",
                    i + 1,
                    printable(&w.caller),
                    short(w.waited)
                );
            }
            for a in &q.agents {
                Self::agent_line(&mut t, a);
            }
        }
        t
    }

    fn status_text(&self, now: Now) -> String {
        let mut t = String::new();
        let up = now.mono.saturating_duration_since(self.started);
        let _ = writeln!(
            t,
            "zvon {}, up {} (domain {})",
            env!("CARGO_PKG_VERSION"),
            words(up),
            self.s.domain
        );

        // Registrations.
        let mut aors: Vec<_> = self
            .registrar
            .all()
            .filter(|(_, b)| !b.is_empty())
            .collect();
        aors.sort_unstable_by_key(|(aor, _)| *aor);
        let contacts: usize = aors.iter().map(|(_, b)| b.len()).sum();
        let _ = writeln!(
            t,
            "\nregistrations: {contacts} {} on {} of {} extensions",
            plural(contacts, "contact", "contacts"),
            aors.len(),
            self.s.extensions.len()
        );
        let mut listed = 0;
        for (aor, bindings) in &aors {
            for b in *bindings {
                if listed == MAX_LISTED {
                    break;
                }
                listed += 1;
                let left = b.expires_at.saturating_duration_since(now.mono);
                let _ = write!(
                    t,
                    "  {:<6} {}  via {} {}  expires in {}",
                    printable(aor),
                    printable(&b.uri),
                    b.flow.transport.as_str(),
                    b.flow.remote,
                    words(left)
                );
                if !b.reachable {
                    t.push_str("  UNREACHABLE");
                }
                if let Some(ua) = &b.user_agent {
                    let _ = write!(t, "  \"{}\"", printable(ua));
                }
                t.push('\n');
            }
        }
        if contacts > listed {
            let _ = writeln!(t, "  … and {} more", contacts - listed);
        }

        // Trunks, one line each (details: `zvon status trunks`).
        let trunks = self.trunk_status(now);
        if !trunks.is_empty() {
            let _ = writeln!(
                t,
                "\ntrunks: {} (zvon status trunks for details)",
                trunks.len()
            );
            for s in &trunks {
                let reg = match &s.registration {
                    None => String::new(),
                    Some(crate::call::trunk::RegStatus::Registered { .. }) => ", registered".into(),
                    Some(crate::call::trunk::RegStatus::Failed { .. }) => {
                        ", REGISTRATION FAILED".into()
                    }
                    Some(_) => ", registering".into(),
                };
                let _ = writeln!(
                    t,
                    "  {:<14} {}{reg}, {} channels in use",
                    s.name,
                    if s.up { "up" } else { "DOWN" },
                    s.channels
                );
            }
        }

        // Calls.
        let mut calls: Vec<&Call> = self.calls.calls.values().collect();
        calls.sort_unstable_by_key(|c| (c.start_mono, c.id));
        let _ = writeln!(t, "\ncalls: {} active", calls.len());
        for c in calls.iter().take(MAX_LISTED) {
            let callee = if c.callee.is_empty() {
                &c.dialed
            } else {
                &c.callee
            };
            let _ = write!(
                t,
                "  {} → {}  {}  {}",
                printable(&c.caller),
                printable(callee),
                call_state(c),
                clock(now.mono.saturating_duration_since(c.start_mono)),
            );
            if let Some(at) = c.answer_mono {
                let _ = write!(
                    t,
                    " (talking {})",
                    clock(now.mono.saturating_duration_since(at))
                );
            }
            t.push('\n');
        }
        if calls.len() > MAX_LISTED {
            let _ = writeln!(t, "  … and {} more", calls.len() - MAX_LISTED);
        }
        let _ = writeln!(t, "SIP transactions: {}", self.txns.len());

        // Counters.
        let st = self.stats();
        let _ = writeln!(t, "\ncounters since start:");
        for (label, n) in [
            ("messages received", st.received),
            ("REGISTERs accepted", st.registrations),
            ("auth failures", st.auth_failures),
            ("dropped from banned IPs", st.banned_drops),
            ("unparseable messages", st.parse_errors),
            ("answered 400 Bad Request", st.bad_requests),
            ("retransmissions absorbed", st.retransmissions),
            ("stray responses", st.stray_responses),
        ] {
            let _ = writeln!(t, "  {label:<26}{n:>10}");
        }
        t
    }
}

fn call_state(c: &Call) -> String {
    let s = match (&c.local, c.state) {
        (_, CallState::Ending) => "ending",
        (Some(LocalApp::Voicemail { .. }), _) => "voicemail",
        (Some(LocalApp::Ivr(_)), _) => "ivr",
        (Some(LocalApp::Mailbox(_)), _) => "mailbox menu",
        (Some(LocalApp::Bye(_)), _) => "announcement",
        (Some(LocalApp::Queue), _) => "waiting in a queue",
        (Some(LocalApp::Callback(_)), _) => "confirming a callback",
        (None, CallState::Proceeding) => {
            if c.branches.iter().any(|b| b.state == BranchState::Ringing) {
                "ringing"
            } else {
                "dialing"
            }
        }
        (None, CallState::Answered | CallState::Confirmed) => "up",
    };
    match &c.transfer {
        Some(tr) => format!("{s}, transferring to {}", printable(&tr.target)),
        None => s.to_owned(),
    }
}

/// Network-supplied text (User-Agent, URIs, caller ids) with control characters escaped, so
/// that a phone cannot send escape sequences to the admin's terminal.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `3d 04h 05m`, `1h 02m 03s`, `4m 05s`, `12s`.
pub(crate) fn words(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

/// `0:42`, `12:05`, `1:02:03`.
pub(crate) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `4m05s`, `12s`, `1h02m`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let s = Duration::from_secs;
        assert_eq!(words(s(0)), "0s");
        assert_eq!(words(s(59)), "59s");
        assert_eq!(words(s(245)), "4m 05s");
        assert_eq!(words(s(3723)), "1h 02m 03s");
        assert_eq!(words(s(3 * 86_400 + 4 * 3600 + 5 * 60 + 6)), "3d 04h 05m");
        assert_eq!(clock(s(42)), "0:42");
        assert_eq!(clock(s(725)), "12:05");
        assert_eq!(clock(s(3723)), "1:02:03");
    }

    #[test]
    fn control_characters_from_the_network_are_escaped() {
        assert_eq!(printable("Yealink T46"), "Yealink T46");
        assert_eq!(printable("evil\u{1b}[2J"), "evil\\u{1b}[2J");
        assert_eq!(printable("a\nb"), "a\\u{a}b");
    }
}
