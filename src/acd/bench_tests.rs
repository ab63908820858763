//! ACD engine throughput at call-center scale: 10,000 waiting callers, 1,000 agents in 50
//! queues (each agent in 1–3 of them). Ignored: run with
//! `cargo test --release --lib acd::prop_tests::bench -- --ignored --nocapture`.
//!
//! Measured on the 2-core dev machine (release, other builds running, three runs):
//! (a) 3.9–6.3 µs per decision with 50 queues of ~200 callers (goal: < 10 µs); answer
//! 0.6–1.0 µs, join 2.7–4.7 µs. With the same 10,000 callers in 5 queues 9.8–15 µs, in one
//! queue 23 µs per decision and 41 µs per join: `distribute_queue` copies the whole waiting
//! set of the queue into a Vec each time (`order`), and `join` and every announcement find
//! the caller's position by a linear walk of that set. `mark_agent_queues` (a scan of every
//! queue's members on each agent change) is the other quarter of a decision.
//! (b) 150–165 k events/s (6.1–6.7 µs per event) at 10,000 ± 1,000 waiting; half of it in
//! timers: position announcements (linear `position`, prompt strings) and popping the timer
//! heap, which keeps every stale timer until it comes due.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Pres;
use crate::acd::*;
use crate::testkit::{SimClock, bench_clock};

type CallId = u64;

const QUEUES: usize = 50;
const AGENTS: usize = 1_000;
const WAITING: usize = 10_000;

fn config(rng: &mut StdRng, nq: usize) -> AcdConfig {
    let queues = (0..nq)
        .map(|i| {
            let q = QueueConfig {
                strategy: Strategy::ALL[i % Strategy::ALL.len()].1,
                wrapup: Duration::ZERO,
                retry: Duration::from_secs(5),
                // Agents of the benchmark never come back from a pause.
                auto_pause: None,
                ..QueueConfig::default()
            };
            (format!("q{i:02}"), q)
        })
        .collect();
    let agents = (0..AGENTS)
        .map(|i| {
            let n = rng.random_range(1..=3).min(nq);
            let mut qs: Vec<(String, u32)> = Vec::new();
            while qs.len() < n {
                let q = format!("q{:02}", rng.random_range(0..nq));
                if !qs.iter().any(|(x, _)| *x == q) {
                    qs.push((q, rng.random_range(0..2)));
                }
            }
            let a = AgentConfig {
                name: format!("Agent {i}"),
                extension: format!("{}", 10_000 + i),
                queues: qs,
                skills: Skills::new(),
                wrapup: None,
                logged_in: true,
            };
            (format!("a{i}"), a)
        })
        .collect();
    AcdConfig { queues, agents }
}

/// The engine with every agent on a queue call and `WAITING` callers waiting.
struct Loaded {
    acd: Acd,
    clock: SimClock,
    p: Pres,
    rng: StdRng,
    connected: Vec<CallId>,
    waiting: Vec<CallId>,
    offers: Vec<(CallId, String)>,
    next: CallId,
    nq: usize,
}

impl Loaded {
    /// `nq` queues (agents in 1–3 of them).
    fn new(nq: usize) -> Loaded {
        let mut rng = StdRng::seed_from_u64(42);
        let cfg = config(&mut rng, nq);
        let clock = SimClock::new();
        let acd = Acd::new(&cfg, clock.now(), 42);
        let mut l = Loaded {
            acd,
            clock,
            p: Pres::default(),
            rng,
            connected: Vec::new(),
            waiting: Vec::new(),
            offers: Vec::new(),
            next: 1,
            nq,
        };
        while l.acd.connected_count() < AGENTS || l.acd.waiting_count() < WAITING {
            l.join();
            l.answer_all();
        }
        l
    }

    fn join(&mut self) {
        let call = self.next;
        self.next += 1;
        let q = format!("q{:02}", self.rng.random_range(0..self.nq));
        let now = self.clock.now();
        let u = format!("u{call}");
        let r = self.acd.join(now, call, &u, "5550", &q, 0, "en", &self.p);
        assert!(matches!(r, JoinResult::Queued(_)), "{r:?}");
        self.waiting.push(call);
        self.drain();
    }

    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(o) = self.acd.poll_output() {
            n += 1;
            match o {
                AcdOutput::Offer { call, agent, .. } => self.offers.push((call, agent)),
                AcdOutput::Withdraw { call, agent } => {
                    self.offers.retain(|(c, a)| !(*c == call && *a == agent));
                }
                _ => {}
            }
        }
        n
    }

    /// Answers one offer (the `k`th); false when there is none.
    fn answer(&mut self, k: usize) -> bool {
        if self.offers.is_empty() {
            return false;
        }
        let (call, agent) = self.offers.swap_remove(k % self.offers.len());
        let now = self.clock.now();
        if self.acd.offer_answered(now, call, &agent, &self.p) {
            self.connected.push(call);
        }
        self.drain();
        true
    }

    /// A caller still waiting (forgetting those answered or gone meanwhile).
    fn pick_waiting(&mut self, k: usize) -> Option<CallId> {
        while !self.waiting.is_empty() {
            let i = k % self.waiting.len();
            if self.acd.is_waiting(self.waiting[i]) {
                return Some(self.waiting[i]);
            }
            self.waiting.swap_remove(i);
        }
        None
    }

    fn answer_all(&mut self) {
        while self.answer(0) {}
    }

    /// Ends the `k`th connected call; returns the time the engine took.
    fn hang_up(&mut self, k: usize) -> Duration {
        let call = self.connected.swap_remove(k % self.connected.len());
        let now = self.clock.now();
        let by_agent = k % 2 == 0;
        let t0 = bench_clock();
        self.acd.call_ended(now, call, by_agent, &self.p);
        let dt = bench_clock() - t0;
        self.drain();
        dt
    }
}

fn us(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// What one round of freeings costs: (µs per decision, µs per answer, µs per join).
fn decisions(l: &mut Loaded, n: u64) -> (f64, f64, f64) {
    let (mut hang, mut answer, mut join) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let d0 = l.acd.decisions;
    for i in 0..n {
        l.clock.advance(Duration::from_millis(1));
        let k = l.rng.random_range(0..usize::MAX);
        // An agent frees up: the engine offers it the head of one of its queues.
        hang += l.hang_up(k);
        assert_eq!(
            l.offers.len(),
            1,
            "iteration {i}: one offer per freed agent"
        );
        let t0 = bench_clock();
        l.answer(0);
        answer += bench_clock() - t0;
        // A new caller keeps the queues at 10,000.
        let t0 = bench_clock();
        l.join();
        join += bench_clock() - t0;
    }
    let decisions = l.acd.decisions - d0;
    assert_eq!(decisions, n, "each freeing is one decision");
    (us(hang, decisions), us(answer, n), us(join, n))
}

/// (a) Time per distribution decision: with every agent busy and 10,000 callers waiting, one
/// agent at a time ends a call (`call_ended`: the engine frees the agent and offers it the
/// head of one of its queues, one decision); the offer is answered and a new caller joins
/// (timed apart). Then the same with the callers in fewer, longer queues, to show how the
/// cost grows with the length of one queue.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn decision_time_with_10k_waiting_and_1k_agents() {
    let t = bench_clock();
    let mut l = Loaded::new(QUEUES);
    println!(
        "built: {} waiting, {} connected, {} queues, {} agents in {:.2} s",
        l.acd.waiting_count(),
        l.acd.connected_count(),
        QUEUES,
        AGENTS,
        (bench_clock() - t).as_secs_f64()
    );
    const N: u64 = 5_000;
    let (d, a, j) = decisions(&mut l, N);
    println!(
        "(a) {N} freeings, queues at {} waiting:",
        l.acd.waiting_count()
    );
    println!("    call_ended + decision + offer   {d:8.2} µs per decision (goal: < 10 µs)");
    println!("    offer_answered                  {a:8.2} µs");
    println!("    join (position + announcement)  {j:8.2} µs");
    for nq in [5, 1] {
        let mut l = Loaded::new(nq);
        let (d, a, j) = decisions(&mut l, N);
        println!(
            "    {nq:2} queue(s), {:5} waiting each: {d:8.2} µs per decision, answer {a:.2} µs, \
             join {j:.2} µs",
            WAITING / nq
        );
    }
}

/// (b) Events per second for a mixed workload at the same scale (10,000 ± 1,000 waiting):
/// joins, answers, hang-ups, abandons and timers (announcements every 60 s to every caller,
/// ring-outs, retries). Each engine input counts as one event; draining its outputs is
/// included in the time.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn mixed_workload_events_per_second() {
    let mut l = Loaded::new(QUEUES);
    const EVENTS: u64 = 200_000;
    let (mut timers, mut outputs) = (0u64, 0usize);
    let t0 = bench_clock();
    for _ in 0..EVENTS {
        let r: f64 = l.rng.random();
        let k = l.rng.random_range(0..usize::MAX);
        let now = l.clock.now();
        let waiting = l.acd.waiting_count();
        if r < 0.25 && !l.offers.is_empty() {
            l.answer(k);
        } else if r < 0.50 && !l.connected.is_empty() {
            l.hang_up(k);
        } else if r < 0.85 && waiting < WAITING + 1_000 || r < 0.90 && waiting < WAITING - 1_000 {
            l.join();
        } else if r < 0.90 {
            // A waiting caller gives up.
            if let Some(call) = l.pick_waiting(k) {
                l.acd.call_ended(now, call, false, &l.p);
            }
        } else {
            // 100 ms of virtual time: due timers fire.
            l.clock.advance(Duration::from_millis(100));
            l.acd.handle_timeout(l.clock.now(), &l.p);
            timers += 1;
        }
        outputs += l.drain();
    }
    let dt = bench_clock() - t0;
    println!(
        "(b) {EVENTS} events ({timers} timer wake-ups, {outputs} outputs) in {:.3} s: \
         {:.0} events/s, {:.2} µs per event; at the end {} waiting, {} connected, {} decisions",
        dt.as_secs_f64(),
        EVENTS as f64 / dt.as_secs_f64(),
        us(dt, EVENTS),
        l.acd.waiting_count(),
        l.acd.connected_count(),
        l.acd.decisions
    );
}
