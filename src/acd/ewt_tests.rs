//! How good is the wait-time estimate? A busy office day on the virtual clock, driven through
//! the real [`Acd`]: Poisson arrivals at a rate that changes by the hour, exponential talk
//! times, wrap-up, 5–8 agents on a shift plan with lunch breaks, agents who answer after a short
//! random ring time (and now and then not at all), callers who give up after a random patience.
//! For every caller the estimate announced on joining is compared with the wait until an agent
//! answered.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Pres;
use crate::acd::*;
use crate::testkit::SimClock;

type CallId = u64;

/// Calls per hour, hour by hour from 09:00.
const RATE: [f64; 8] = [60.0, 110.0, 140.0, 120.0, 100.0, 130.0, 90.0, 50.0];
const TALK_MEAN: f64 = 180.0;
const WRAPUP: u64 = 10;
const PATIENCE_MEAN: f64 = 360.0;
/// The share of offers an agent lets ring out.
const MISS: f64 = 0.03;
const AGENTS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive,
    Answer(CallId, usize),
    Hangup(CallId),
    Abandon(CallId),
    /// Index into the shift plan.
    Shift(usize),
}

#[derive(Clone, Copy, Debug)]
enum Shift {
    Login(usize),
    Logout(usize),
    Pause(usize),
    Unpause(usize),
}

/// The shift plan: 5 agents from 09:00, 8 from 10:00, two at a time at lunch from 12:00 to
/// 14:00, 6 from 15:00.
fn shifts() -> Vec<(u64, Shift)> {
    let h = |x: f64| (x * 3600.0) as u64;
    let mut v: Vec<(u64, Shift)> = (0..5).map(|a| (0, Shift::Login(a))).collect();
    v.extend((5..8).map(|a| (h(1.0), Shift::Login(a))));
    v.extend([
        (h(3.0), Shift::Pause(0)),
        (h(3.0), Shift::Pause(1)),
        (h(4.0), Shift::Unpause(0)),
        (h(4.0), Shift::Unpause(1)),
        (h(4.0), Shift::Pause(2)),
        (h(4.0), Shift::Pause(3)),
        (h(5.0), Shift::Unpause(2)),
        (h(5.0), Shift::Unpause(3)),
        (h(6.0), Shift::Logout(6)),
        (h(6.0), Shift::Logout(7)),
    ]);
    v
}

fn config() -> AcdConfig {
    let q = QueueConfig {
        strategy: Strategy::LongestIdle,
        ring_timeout: Duration::from_secs(20),
        retry: Duration::from_secs(5),
        wrapup: Duration::from_secs(WRAPUP),
        announce_position: Some(Duration::from_secs(60)),
        auto_pause: None,
        expected_handle_time: Duration::from_secs(190),
        ..QueueConfig::default()
    };
    AcdConfig {
        queues: [("support".to_string(), q)].into(),
        agents: (0..AGENTS)
            .map(|i| {
                (
                    format!("a{i}"),
                    AgentConfig {
                        name: format!("Agent {i}"),
                        extension: format!("20{i:02}"),
                        queues: vec![("support".into(), 0)],
                        skills: Skills::new(),
                        wrapup: None,
                        logged_in: false,
                    },
                )
            })
            .collect(),
    }
}

fn exp(rng: &mut StdRng, mean: f64) -> f64 {
    -(1.0 - rng.random::<f64>()).ln() * mean
}

/// One caller's estimates and fate.
#[derive(Debug, Default, Clone)]
struct Caller {
    joined: Option<Instant>,
    /// What the caller heard on joining (`announced_estimate`).
    announced: Duration,
    /// `estimate()` read right after `join` returned (the caller may already be ringing an agent).
    after_join: Duration,
    /// The same formula, counting callers who already ring an agent as served (computed here
    /// from the public views just before joining).
    alt: Duration,
    /// Until an agent answered.
    waited: Option<Duration>,
}

/// Error statistics of one estimator over the answered callers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Errors {
    pub(super) mae: f64,
    pub(super) bias: f64,
    pub(super) mean_wait: f64,
    pub(super) rel: f64,
}

fn errors(callers: &[&Caller], est: impl Fn(&Caller) -> Duration) -> Errors {
    let n = callers.len() as f64;
    let (mut abs, mut sum, mut wait) = (0.0, 0.0, 0.0);
    for c in callers {
        let w = c.waited.unwrap_or_default().as_secs_f64();
        let e = est(c).as_secs_f64() - w;
        abs += e.abs();
        sum += e;
        wait += w;
    }
    Errors {
        mae: abs / n,
        bias: sum / n,
        mean_wait: wait / n,
        rel: abs / wait,
    }
}

pub(super) struct Day {
    pub(super) answered: usize,
    pub(super) abandoned: usize,
    pub(super) announced: Errors,
    pub(super) after_join: Errors,
    pub(super) alt: Errors,
    /// Answered callers who waited longer than 60 s: their errors.
    pub(super) long_waits: Errors,
}

/// Simulates the day with `seed`.
pub(super) fn simulate_day(seed: u64) -> Day {
    let mut rng = StdRng::seed_from_u64(seed);
    let clock = SimClock::new();
    let t0 = clock.now().mono;
    let mut acd = Acd::new(&config(), clock.now(), seed);
    let p = Pres::default();
    let mut events: BinaryHeap<Reverse<(Instant, u64, Ev)>> = BinaryHeap::new();
    let mut n = 0u64;
    let mut push = |ev: &mut BinaryHeap<Reverse<(Instant, u64, Ev)>>, at: Instant, e: Ev| {
        n += 1;
        ev.push(Reverse((at, n, e)));
    };
    // Arrivals: a Poisson process per hour (memoryless, so restarting each hour is exact).
    for (h, rate) in RATE.iter().enumerate() {
        let (start, end) = (h as f64 * 3600.0, (h + 1) as f64 * 3600.0);
        let mut t = start;
        loop {
            t += exp(&mut rng, 3600.0 / rate);
            if t >= end {
                break;
            }
            push(&mut events, t0 + Duration::from_secs_f64(t), Ev::Arrive);
        }
    }
    let plan = shifts();
    for (i, (at, _)) in plan.iter().enumerate() {
        push(&mut events, t0 + Duration::from_secs(*at), Ev::Shift(i));
    }
    let ids: Vec<String> = (0..AGENTS).map(|i| format!("a{i}")).collect();
    let ix: HashMap<String, usize> = ids.iter().cloned().zip(0..).collect();
    let mut callers: HashMap<CallId, Caller> = HashMap::new();
    let mut live: HashSet<(CallId, usize)> = HashSet::new();
    let mut next_call = 1;
    let mut abandoned = 0;

    loop {
        let mine = events.peek().map(|Reverse((t, _, _))| *t);
        let theirs = acd.poll_timeout();
        let t = match (mine, theirs) {
            (None, _) if acd.waiting_count() == 0 && acd.connected_count() == 0 => break,
            (None, None) => break,
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(t0),
        };
        clock.advance_to(t);
        let now = clock.now();
        if theirs.is_some_and(|x| x <= now.mono) {
            acd.handle_timeout(now, &p);
        }
        let mut due = Vec::new();
        while let Some(Reverse((at, _, e))) = events.peek().copied() {
            if at > now.mono {
                break;
            }
            events.pop();
            due.push(e);
        }
        // Outputs of the timers first, then each event in turn with its outputs.
        let mut todo: Vec<Option<Ev>> = vec![None];
        todo.extend(due.into_iter().map(Some));
        for e in todo {
            match e {
                None => {}
                Some(Ev::Arrive) => {
                    let call = next_call;
                    next_call += 1;
                    let alt = alt_estimate(&acd, now, &p);
                    let r = acd.join(
                        now,
                        call,
                        &format!("u{call}"),
                        "5550",
                        "support",
                        0,
                        "en",
                        &p,
                    );
                    assert!(matches!(r, JoinResult::Queued(_)), "{r:?}");
                    let c = Caller {
                        joined: Some(now.mono),
                        announced: acd.announced_estimate(call).expect("announced"),
                        after_join: acd.estimate(call, &p).unwrap_or_default(),
                        alt,
                        waited: None,
                    };
                    callers.insert(call, c);
                    let patience = Duration::from_secs_f64(exp(&mut rng, PATIENCE_MEAN));
                    push(&mut events, now.mono + patience, Ev::Abandon(call));
                }
                Some(Ev::Answer(call, a)) => {
                    // A withdrawn offer is not answered any more.
                    let answered =
                        live.remove(&(call, a)) && acd.offer_answered(now, call, &ids[a], &p);
                    if answered {
                        let c = callers.get_mut(&call).expect("caller");
                        c.waited = c.joined.map(|j| now.mono - j);
                        let talk = Duration::from_secs_f64(exp(&mut rng, TALK_MEAN));
                        push(&mut events, now.mono + talk, Ev::Hangup(call));
                    }
                }
                Some(Ev::Hangup(call)) => {
                    let by_agent = rng.random::<bool>();
                    acd.call_ended(now, call, by_agent, &p);
                }
                Some(Ev::Abandon(call)) => {
                    // Callers already answered do not abandon.
                    let waiting = acd.is_waiting(call);
                    if waiting {
                        abandoned += 1;
                        acd.call_ended(now, call, false, &p);
                    }
                }
                Some(Ev::Shift(i)) => {
                    let r = match plan[i].1 {
                        Shift::Login(a) => acd.login(now, &ids[a], &[], &p).map(|_| ()),
                        Shift::Logout(a) => acd.logout(now, &ids[a], &p),
                        Shift::Pause(a) => acd.pause(now, &ids[a], Some(1), &p),
                        Shift::Unpause(a) => acd.unpause(now, &ids[a], &p),
                    };
                    r.expect("shift");
                }
            }
            while let Some(o) = acd.poll_output() {
                match o {
                    AcdOutput::Offer { call, agent, .. } => {
                        let a = ix[&agent];
                        live.insert((call, a));
                        if rng.random::<f64>() >= MISS {
                            let ring = Duration::from_secs_f64(rng.random_range(2.0..8.0));
                            push(&mut events, now.mono + ring, Ev::Answer(call, a));
                        }
                    }
                    AcdOutput::Withdraw { call, agent } => {
                        live.remove(&(call, ix[&agent]));
                    }
                    _ => {}
                }
            }
        }
        acd.check_invariants().expect("invariants");
    }
    let answered: Vec<&Caller> = callers.values().filter(|c| c.waited.is_some()).collect();
    let long: Vec<&Caller> = answered
        .iter()
        .copied()
        .filter(|c| c.waited.is_some_and(|w| w > Duration::from_secs(60)))
        .collect();
    Day {
        answered: answered.len(),
        abandoned,
        announced: errors(&answered, |c| c.announced),
        after_join: errors(&answered, |c| c.after_join),
        alt: errors(&answered, |c| c.alt),
        long_waits: errors(&long, |c| c.announced),
    }
}

/// The documented formula, but counting callers ahead who already ring an agent as served:
/// `max(0, p − ringing ahead − free) × AHT / N`, from the public views before joining.
fn alt_estimate(acd: &Acd, now: crate::time::Now, p: &Pres) -> Duration {
    let q = &acd.queues(now, p)[0];
    let position = q.waiting.len() + 1;
    let ringing = q.waiting.iter().filter(|w| !w.ringing.is_empty()).count();
    let serving = q
        .agents
        .iter()
        .filter(|a| !matches!(a.status, AgentStatus::LoggedOut | AgentStatus::Paused))
        .count() as u32;
    let free = q
        .agents
        .iter()
        .filter(|a| a.status == AgentStatus::Available)
        .count();
    let ahead = position.saturating_sub(ringing + free) as u32;
    if serving == 0 {
        return q.aht * ahead;
    }
    q.aht * ahead / serving
}

fn show(name: &str, e: &Errors) {
    println!(
        "  {name:<34} MAE {:6.1} s   bias {:+7.1} s   mean wait {:6.1} s   MAE/mean wait {:5.1} %",
        e.mae,
        e.bias,
        e.mean_wait,
        e.rel * 100.0
    );
}

/// The estimate announced on joining, over a simulated day (seed 1).
///
/// Measured (the simulation is deterministic): 710 answered, 87 abandoned; announced estimate
/// MAE 17.6 s, bias +2.1 s, mean wait 27.9 s, so MAE = 62.9 % of the mean wait (43.7 % for
/// the callers who waited over a minute). Over seeds 1–8 (`ewt_error_over_several_days`) the
/// ratio is 62–74 %. Much of it cannot be estimated away: with handle times exponential, the
/// wait for the next free agent is itself exponential, whose mean absolute deviation is
/// 2/e ≈ 74 % of its mean; the wait to be answered also includes the agent's ring time, which
/// the estimate (0 when an agent is free) leaves out. The bound leaves 12 points of margin.
#[test]
fn ewt_error_on_a_simulated_day() {
    let d = simulate_day(1);
    println!(
        "simulated day: {} answered, {} abandoned",
        d.answered, d.abandoned
    );
    show("announced on joining", &d.announced);
    show("estimate() right after join", &d.after_join);
    show("ringing callers counted as served", &d.alt);
    show("announced, callers waiting > 60 s", &d.long_waits);
    assert!(d.answered > 600, "not a busy day: {} answered", d.answered);
    assert!(d.announced.mean_wait > 20.0, "nobody waited");
    assert!(
        d.announced.rel < 0.75,
        "announced MAE {:.1} s is {:.0} % of the mean wait {:.1} s",
        d.announced.mae,
        d.announced.rel * 100.0,
        d.announced.mean_wait
    );
    assert!(
        d.announced.bias.abs() < 15.0,
        "bias {:.1} s",
        d.announced.bias
    );
    assert!(d.long_waits.rel < 0.60, "long waits: {:?}", d.long_waits);
}

/// The same over several seeds (ignored: a measurement, not a check).
#[test]
#[ignore = "measurement: run with --ignored --nocapture"]
fn ewt_error_over_several_days() {
    for seed in 1..=8 {
        let d = simulate_day(seed);
        println!(
            "seed {seed}: {} answered, {} abandoned",
            d.answered, d.abandoned
        );
        show("announced on joining", &d.announced);
        show("estimate() right after join", &d.after_join);
        show("ringing callers counted as served", &d.alt);
    }
}
