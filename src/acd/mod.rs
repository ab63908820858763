//! The ACD: call-center queues, the agents who answer them, and the engine that distributes
//! waiting callers to agents.
//!
//! # Contract
//!
//! - Sans-IO, one owner: [`Acd`] lives inside the engine ([`crate::core::Pbx`]) and is driven
//!   by method calls that all take `now`; it answers with [`AcdOutput`]s (offer a caller to an
//!   agent, withdraw an offer, play an announcement, send a caller elsewhere, log an event) and
//!   asks to be woken at [`Acd::poll_timeout`]. Randomness (the `random` strategy) comes from a
//!   seeded RNG.
//! - What the ACD cannot know by itself — whether an agent's phone is registered, and whether
//!   the agent is on a direct call — it reads through [`Presence`] at decision time, so an
//!   agent's state is derived from the engine's own view of the agent's dialogs and can never
//!   stay "on call" after the call ended. [`Acd::repair`] (run periodically by the engine)
//!   compares the ACD's connected calls with the live calls and repairs any mismatch.
//! - Invariants (checked by the property tests): at most one live offer per agent across all
//!   queues; no offer to a logged-out, paused or wrapping-up agent; FIFO within a priority;
//!   every caller ends answered, overflowed, exited or abandoned — none stranded.
//!
//! # Configuration (`queues.toml`)
//!
//! See [`config`] for the syntax and its checks. Agents are defined once, with the queues they
//! serve (and a penalty per queue) and their skills; a queue names its strategy, timers,
//! announcements and where callers go when it is full, empty, or they waited too long.
//!
//! # Strategies
//!
//! Among the agents eligible for a caller (logged in to the queue, available, registered, not
//! on another call unless the queue allows it, with the skills the caller needs), only those
//! with the lowest penalty are considered; of these the strategy picks:
//! `ring-all` (all of them at once; the first to answer takes the call and the other offers
//! are withdrawn in the same step), `longest-idle` (the agent whose last call ended longest
//! ago), `round-robin` (the next after the last one offered, in member order, remembered per
//! queue), `fewest-calls` (fewest calls answered from this queue), `least-talk-time` (least
//! talk time on this queue), `random`, `linear` (always in member order: the first available),
//! and `skills` (the best sum of levels in the required skills). Ties go to the longest idle.
//! An agent who did not answer a caller is not offered the same caller again while another
//! eligible agent has not been tried.
//!
//! # Wait-time estimate
//!
//! The estimate announced to a caller at position `p` (1 = next) is
//! `max(0, p − ringing − free) × AHT / N`, where `N` is the number of agents logged in to the
//! queue and not paused, `free` the number of those available now, `ringing` the callers ahead
//! who already ring an agent (they are being served), and `AHT` the queue's average handle
//! time (talk + wrap-up), an exponentially weighted mean (α = 0.2) of its completed calls,
//! starting from the configured `expected_handle_time`. With `N` agents busy and handle
//! times roughly exponential, the next agent frees up after `AHT / N` on average, so the
//! caller at position `p` waits about `p` such intervals. Its error on a simulated day is
//! measured by `acd::prop_tests::ewt::ewt_error_on_a_simulated_day`.

pub mod config;
mod engine;
pub mod kpi;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

pub use engine::{
    Acd, AcdError, AcdEvent, AcdOutput, AgentStatus, AgentView, JoinResult, LeaveReason, Presence,
    QueueView, WaitingView,
};

use crate::dialplan::Step;

/// How a queue picks among eligible agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    RingAll,
    LongestIdle,
    RoundRobin,
    FewestCalls,
    LeastTalkTime,
    Random,
    Linear,
    Skills,
}

impl Strategy {
    /// Names as written in `queues.toml`.
    pub const ALL: &'static [(&'static str, Strategy)] = &[
        ("ring-all", Strategy::RingAll),
        ("longest-idle", Strategy::LongestIdle),
        ("round-robin", Strategy::RoundRobin),
        ("fewest-calls", Strategy::FewestCalls),
        ("least-talk-time", Strategy::LeastTalkTime),
        ("random", Strategy::Random),
        ("linear", Strategy::Linear),
        ("skills", Strategy::Skills),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("", |(n, _)| n)
    }
}

/// When a caller may join a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinWhen {
    /// Always (callers wait even with nobody logged in).
    Always,
    /// When at least one agent is logged in (paused or busy counts).
    LoggedIn,
    /// When at least one agent is logged in and not paused.
    Unpaused,
}

/// When waiting callers are taken out of a queue because it emptied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveWhen {
    Never,
    /// When the last agent logged out.
    NoneLoggedIn,
    /// When no agent is logged in and unpaused.
    NonePaused,
}

/// A key a waiting caller may press.
#[derive(Clone, Debug, PartialEq)]
pub enum ExitKey {
    /// Leave the queue for this destination.
    Go(Step),
    /// Ask to be called back, keeping one's place (virtual hold).
    Callback,
}

/// A skill requirement: skill → minimum level.
pub type Skills = BTreeMap<String, u8>;

/// `[queues.NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    pub strategy: Strategy,
    /// How long one offer rings an agent.
    pub ring_timeout: Duration,
    /// Pause between an unanswered offer and the next offer of the same caller.
    pub retry: Duration,
    /// After a queue call the agent gets no offers this long (per-agent override).
    pub wrapup: Duration,
    /// Callers wait at most this long, then go to `on_timeout`.
    pub max_wait: Option<Duration>,
    pub on_timeout: Option<Step>,
    /// At most this many callers wait; the next goes to `on_full`.
    pub max_callers: Option<usize>,
    pub on_full: Option<Step>,
    pub join_when: JoinWhen,
    pub leave_when: LeaveWhen,
    /// Where callers go when they cannot join or are taken out because nobody serves the queue.
    pub on_empty: Option<Step>,
    /// Prompts played once when a caller joins (music follows).
    pub greeting: Vec<String>,
    /// Announce position and estimated wait this often (and once on joining).
    pub announce_position: Option<Duration>,
    /// Custom prompts announced periodically.
    pub announce: Vec<String>,
    pub announce_every: Option<Duration>,
    /// Keys a waiting caller may press.
    pub exit_keys: BTreeMap<char, ExitKey>,
    /// Skills every caller of this queue needs, then relaxed after waiting.
    pub skills: Skills,
    /// `(after waiting, requirement)` steps, by increasing wait.
    pub relax: Vec<(Duration, Skills)>,
    /// Offer calls to agents on a direct call (call waiting at the agent's phone).
    pub offer_busy_agents: bool,
    /// Pause an agent after this many unanswered offers in a row.
    pub auto_pause: Option<u32>,
    /// Starting value of the average handle time (wait-time estimate).
    pub expected_handle_time: Duration,
    /// Answer within this long counts toward the service level.
    pub service_level: Duration,
    /// Callback: how long Zvon rings the customer per attempt.
    pub callback_ring: Duration,
    /// Callback: attempts before giving up.
    pub callback_attempts: u32,
    /// Callback: pause between attempts (the customer keeps the place meanwhile).
    pub callback_retry: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            strategy: Strategy::LongestIdle,
            ring_timeout: Duration::from_secs(15),
            retry: Duration::from_secs(5),
            wrapup: Duration::from_secs(10),
            max_wait: None,
            on_timeout: None,
            max_callers: None,
            on_full: None,
            join_when: JoinWhen::LoggedIn,
            leave_when: LeaveWhen::Never,
            on_empty: None,
            greeting: Vec::new(),
            announce_position: Some(Duration::from_secs(60)),
            announce: Vec::new(),
            announce_every: None,
            exit_keys: BTreeMap::new(),
            skills: Skills::new(),
            relax: Vec::new(),
            offer_busy_agents: false,
            auto_pause: Some(3),
            expected_handle_time: Duration::from_secs(180),
            service_level: Duration::from_secs(20),
            callback_ring: Duration::from_secs(30),
            callback_attempts: 3,
            callback_retry: Duration::from_secs(120),
        }
    }
}

/// `[agents.ID]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// Display name.
    pub name: String,
    /// The extension whose phones ring for this agent.
    pub extension: String,
    /// Queue → penalty (lower is offered first), in file order.
    pub queues: Vec<(String, u32)>,
    pub skills: Skills,
    /// Overrides the queues' wrap-up time.
    pub wrapup: Option<Duration>,
    /// Logged in when the daemon starts (static member); otherwise the agent logs in.
    pub logged_in: bool,
}

/// Everything in `queues.toml`: queues and agents, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AcdConfig {
    pub queues: BTreeMap<String, QueueConfig>,
    pub agents: Vec<(String, AgentConfig)>,
}

impl AcdConfig {
    /// The agent whose phone is `ext`.
    pub fn agent_of_extension(&self, ext: &str) -> Option<&str> {
        self.agents
            .iter()
            .find(|(_, a)| a.extension == ext)
            .map(|(id, _)| id.as_str())
    }
}
