//! ACD engine tests on a virtual clock: strategies, timers, overflow, announcements, agents.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::*;
use crate::dialplan::{Action, Spot, Step, Target};
use crate::testkit::SimClock;

#[derive(Default)]
struct P {
    unreachable: HashSet<String>,
    direct: HashMap<String, usize>,
}

impl Presence for P {
    fn reachable(&self, ext: &str) -> bool {
        !self.unreachable.contains(ext)
    }
    fn direct_calls(&self, ext: &str) -> usize {
        self.direct.get(ext).copied().unwrap_or(0)
    }
}

fn agent(ext: &str, queues: &[(&str, u32)]) -> AgentConfig {
    AgentConfig {
        name: format!("Agent {ext}"),
        extension: ext.into(),
        queues: queues.iter().map(|(q, p)| ((*q).into(), *p)).collect(),
        skills: Skills::new(),
        wrapup: None,
        logged_in: true,
    }
}

fn queue(strategy: Strategy) -> QueueConfig {
    QueueConfig {
        strategy,
        wrapup: Duration::ZERO,
        retry: Duration::ZERO,
        announce_position: None,
        auto_pause: None,
        ..QueueConfig::default()
    }
}

fn vm(target: &str) -> Step {
    Step {
        action: Action::Voicemail(Target::Literal(target.into())),
        at: Spot::default(),
    }
}

/// A queue `q` with agents a1..aN on extensions 1001.. (penalty 0).
fn config(q: QueueConfig, n: usize) -> AcdConfig {
    let mut queues = BTreeMap::new();
    queues.insert("q".to_string(), q);
    AcdConfig {
        queues,
        agents: (1..=n)
            .map(|i| (format!("a{i}"), agent(&format!("100{i}"), &[("q", 0)])))
            .collect(),
    }
}

struct H {
    acd: Acd,
    clock: SimClock,
    p: P,
    out: Vec<AcdOutput>,
}

impl H {
    fn new(cfg: AcdConfig) -> H {
        let clock = SimClock::new();
        let acd = Acd::new(&cfg, clock.now(), 7);
        H {
            acd,
            clock,
            p: P::default(),
            out: Vec::new(),
        }
    }
    fn now(&self) -> crate::time::Now {
        self.clock.now()
    }
    fn drain(&mut self) -> Vec<AcdOutput> {
        let mut v = Vec::new();
        while let Some(o) = self.acd.poll_output() {
            v.push(o.clone());
            self.out.push(o);
        }
        self.acd.check_invariants().expect("invariants");
        v
    }
    fn join(&mut self, call: u64) -> JoinResult {
        self.join_prio(call, 0)
    }
    fn join_prio(&mut self, call: u64, prio: u8) -> JoinResult {
        let now = self.now();
        let r = self.acd.join(
            now,
            call,
            &format!("u{call}"),
            "5550",
            "q",
            prio,
            "en",
            &self.p,
        );
        self.drain();
        r
    }
    /// Advances the clock through every deadline up to `d` from now.
    fn wait(&mut self, d: Duration) {
        let end = self.now().mono + d;
        while let Some(t) = self.acd.poll_timeout() {
            if t > end {
                break;
            }
            self.clock.advance_to(t);
            let now = self.now();
            self.acd.handle_timeout(now, &self.p);
            self.drain();
        }
        self.clock.advance_to(end);
        let now = self.now();
        self.acd.handle_timeout(now, &self.p);
        self.drain();
    }
    fn answer(&mut self, call: u64, agent: &str) -> bool {
        let now = self.now();
        let ok = self.acd.offer_answered(now, call, agent, &self.p);
        self.drain();
        ok
    }
    fn end(&mut self, call: u64, by_agent: bool) {
        let now = self.now();
        self.acd.call_ended(now, call, by_agent, &self.p);
        self.drain();
    }
    fn fail(&mut self, call: u64, agent: &str) {
        let now = self.now();
        self.acd.offer_failed(now, call, agent, &self.p);
        self.drain();
    }
    /// Offers made so far (call, agent), in order.
    fn offers(&self) -> Vec<(u64, String)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                AcdOutput::Offer { call, agent, .. } => Some((*call, agent.clone())),
                _ => None,
            })
            .collect()
    }
    fn events(&self, name: &str) -> Vec<AcdEvent> {
        self.out
            .iter()
            .filter_map(|o| match o {
                AcdOutput::Event(e) if e.event == name => Some(e.clone()),
                _ => None,
            })
            .collect()
    }
    /// Serves one call completely: join, answer by whoever is offered, talk, hang up.
    fn serve(&mut self, call: u64, talk: Duration) -> String {
        self.join(call);
        let (_, agent) = self
            .offers()
            .into_iter()
            .rfind(|(c, _)| *c == call)
            .expect("offered");
        assert!(self.answer(call, &agent));
        self.wait(talk);
        self.end(call, false);
        agent
    }
}

fn offered(h: &H) -> Vec<String> {
    h.offers().into_iter().map(|(_, a)| a).collect()
}

#[test]
fn ring_all_rings_every_free_agent_and_the_first_answer_withdraws_the_rest() {
    let mut h = H::new(config(queue(Strategy::RingAll), 3));
    assert_eq!(h.join(1), JoinResult::Queued(1));
    assert_eq!(offered(&h), ["a1", "a2", "a3"]);
    assert!(h.answer(1, "a2"));
    let withdrawn: Vec<String> = h
        .out
        .iter()
        .filter_map(|o| match o {
            AcdOutput::Withdraw { agent, .. } => Some(agent.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(withdrawn, ["a1", "a3"]);
    // A late answer from a withdrawn agent is refused.
    assert!(!h.answer(1, "a3"));
    let c = h.events("CONNECT");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].agent, "a2");
    assert_eq!(h.acd.connected_agent(1), Some("a2"));
    // The next caller rings the two who are still free.
    h.join(2);
    assert_eq!(&offered(&h)[3..], ["a1", "a3"]);
}

#[test]
fn longest_idle_offers_the_agent_whose_last_call_ended_longest_ago() {
    let mut h = H::new(config(queue(Strategy::LongestIdle), 3));
    // All idle since start: ties go to configuration order.
    assert_eq!(h.serve(1, Duration::from_secs(30)), "a1");
    h.wait(Duration::from_secs(5));
    assert_eq!(h.serve(2, Duration::from_secs(30)), "a2");
    assert_eq!(h.serve(3, Duration::from_secs(30)), "a3");
    // a1 finished first, so a1 is the longest idle now.
    assert_eq!(h.serve(4, Duration::from_secs(30)), "a1");
}

#[test]
fn round_robin_remembers_where_it_stopped() {
    let mut h = H::new(config(queue(Strategy::RoundRobin), 3));
    let got: Vec<String> = (1..=5)
        .map(|c| h.serve(c, Duration::from_secs(1)))
        .collect();
    assert_eq!(got, ["a1", "a2", "a3", "a1", "a2"]);
}

#[test]
fn linear_always_offers_the_first_free_agent_in_order() {
    let mut h = H::new(config(queue(Strategy::Linear), 3));
    let got: Vec<String> = (1..=3)
        .map(|c| h.serve(c, Duration::from_secs(1)))
        .collect();
    assert_eq!(got, ["a1", "a1", "a1"]);
    // a1 busy: the next caller goes to a2.
    h.join(10);
    assert!(h.answer(10, "a1"));
    h.join(11);
    assert_eq!(h.offers().last().unwrap().1, "a2");
}

#[test]
fn fewest_calls_and_least_talk_time_balance_the_load() {
    let mut h = H::new(config(queue(Strategy::FewestCalls), 2));
    assert_eq!(h.serve(1, Duration::from_secs(100)), "a1");
    assert_eq!(h.serve(2, Duration::from_secs(1)), "a2");
    // Equal counts: longest idle (a1 ended before a2).
    assert_eq!(h.serve(3, Duration::from_secs(1)), "a1");
    assert_eq!(h.serve(4, Duration::from_secs(1)), "a2");

    let mut h = H::new(config(queue(Strategy::LeastTalkTime), 2));
    assert_eq!(h.serve(1, Duration::from_secs(100)), "a1");
    assert_eq!(h.serve(2, Duration::from_secs(10)), "a2");
    // a2 talked 10 s, a1 100 s: a2 again, until it has talked more than a1.
    assert_eq!(h.serve(3, Duration::from_secs(10)), "a2");
    assert_eq!(h.serve(4, Duration::from_secs(100)), "a2");
    assert_eq!(h.serve(5, Duration::from_secs(1)), "a1");
}

#[test]
fn random_picks_only_free_agents_and_spreads_over_them() {
    let mut h = H::new(config(queue(Strategy::Random), 4));
    h.p.unreachable.insert("1004".into());
    let mut seen = BTreeMap::new();
    for c in 1..=60 {
        *seen.entry(h.serve(c, Duration::from_secs(1))).or_insert(0) += 1;
    }
    assert!(
        !seen.contains_key("a4"),
        "unregistered agent offered: {seen:?}"
    );
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|&n| n >= 8), "{seen:?}");
}

#[test]
fn penalties_offer_higher_tiers_only_when_the_lower_tier_is_busy() {
    let mut cfg = config(queue(Strategy::RingAll), 0);
    cfg.agents = vec![
        ("low".into(), agent("1001", &[("q", 0)])),
        ("high".into(), agent("1002", &[("q", 5)])),
    ];
    let mut h = H::new(cfg);
    h.join(1);
    assert_eq!(offered(&h), ["low"]);
    assert!(h.answer(1, "low"));
    h.join(2);
    assert_eq!(offered(&h), ["low", "high"]);
}

#[test]
fn skills_pick_the_best_match_and_relax_after_waiting() {
    let mut q = queue(Strategy::Skills);
    q.skills = [("german".to_string(), 3)].into();
    q.relax = vec![(Duration::from_secs(30), Skills::new())];
    let mut cfg = config(q, 0);
    let mut a = agent("1001", &[("q", 0)]);
    a.skills = [("german".to_string(), 3)].into();
    let mut b = agent("1002", &[("q", 0)]);
    b.skills = [("german".to_string(), 5)].into();
    let c = agent("1003", &[("q", 0)]);
    cfg.agents = vec![("de3".into(), a), ("de5".into(), b), ("none".into(), c)];
    let mut h = H::new(cfg);
    h.join(1);
    assert_eq!(offered(&h), ["de5"], "best level first");
    assert!(h.answer(1, "de5"));
    h.join(2);
    assert_eq!(offered(&h), ["de5", "de3"]);
    assert!(h.answer(2, "de3"));
    // Both German speakers busy: caller 3 waits until the requirement relaxes at 30 s.
    h.join(3);
    assert_eq!(h.offers().len(), 2);
    h.wait(Duration::from_secs(29));
    assert_eq!(h.offers().len(), 2);
    h.wait(Duration::from_secs(1));
    assert_eq!(h.offers().last().unwrap(), &(3, "none".to_string()));
}

#[test]
fn unanswered_offers_move_on_after_the_ring_timeout_and_the_retry_delay() {
    let mut q = queue(Strategy::Linear);
    q.ring_timeout = Duration::from_secs(15);
    q.retry = Duration::from_secs(5);
    let mut h = H::new(config(q, 2));
    h.join(1);
    assert_eq!(offered(&h), ["a1"]);
    h.wait(Duration::from_millis(14_999));
    assert_eq!(offered(&h), ["a1"]);
    h.wait(Duration::from_millis(1));
    // a1 rang out: withdrawn, and after the retry delay the caller rings a2 (a1 was tried).
    assert!(h.out.contains(&AcdOutput::Withdraw {
        call: 1,
        agent: "a1".into()
    }));
    let rna = h.events("RINGNOANSWER");
    assert_eq!(rna.len(), 1);
    assert_eq!(rna[0].data, ["15000"]);
    h.wait(Duration::from_millis(4_999));
    assert_eq!(offered(&h), ["a1"]);
    h.wait(Duration::from_millis(1));
    assert_eq!(offered(&h), ["a1", "a2"]);
    // A busy answer from a2's phone: back to a1 (everyone tried, so the list starts over).
    h.fail(1, "a2");
    h.wait(Duration::from_secs(5));
    assert_eq!(offered(&h), ["a1", "a2", "a1"]);
}

#[test]
fn an_agent_who_misses_offers_in_a_row_is_paused() {
    let mut q = queue(Strategy::Linear);
    q.auto_pause = Some(2);
    let mut h = H::new(config(q, 1));
    h.join(1);
    h.wait(Duration::from_secs(15));
    assert!(h.events("PAUSEALL").is_empty());
    h.wait(Duration::from_secs(15));
    let p = h.events("PAUSEALL");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].data, ["autopause"]);
    let now = h.now();
    assert_eq!(h.acd.agents(now, &h.p)[0].status, AgentStatus::Paused);
    // Paused: no more offers, however long the caller waits.
    let n = h.offers().len();
    h.wait(Duration::from_secs(120));
    assert_eq!(h.offers().len(), n);
    let now = h.now();
    h.acd.unpause(now, "a1", &h.p).unwrap();
    h.drain();
    assert_eq!(h.offers().len(), n + 1);
}

#[test]
fn wrap_up_keeps_offers_away_until_it_ends() {
    let mut q = queue(Strategy::Linear);
    q.wrapup = Duration::from_secs(10);
    let mut h = H::new(config(q, 1));
    h.serve(1, Duration::from_secs(60));
    assert_eq!(h.events("WRAPUPSTART").len(), 1);
    h.join(2);
    assert_eq!(h.offers().len(), 1);
    let now = h.now();
    assert_eq!(h.acd.agents(now, &h.p)[0].status, AgentStatus::WrapUp);
    h.wait(Duration::from_millis(9_999));
    assert_eq!(h.offers().len(), 1);
    h.wait(Duration::from_millis(1));
    assert_eq!(h.offers().len(), 2);
    assert_eq!(h.events("WRAPUPEND").len(), 1);
    // The agent's own wrap-up time wins over the queue's.
    let mut q = queue(Strategy::Linear);
    q.wrapup = Duration::from_secs(10);
    let mut cfg = config(q, 1);
    cfg.agents[0].1.wrapup = Some(Duration::from_secs(2));
    let mut h = H::new(cfg);
    h.serve(1, Duration::from_secs(5));
    h.join(2);
    h.wait(Duration::from_secs(2));
    assert_eq!(h.offers().len(), 2);
}

#[test]
fn callers_who_wait_too_long_overflow_to_the_configured_destination() {
    let mut q = queue(Strategy::Linear);
    q.max_wait = Some(Duration::from_secs(60));
    q.on_timeout = Some(vm("1000"));
    let mut h = H::new(config(q, 1));
    h.p.unreachable.insert("1001".into());
    h.join(1);
    h.wait(Duration::from_secs(59));
    assert!(h.events("EXITWITHTIMEOUT").is_empty());
    h.wait(Duration::from_secs(1));
    let e = h.events("EXITWITHTIMEOUT");
    assert_eq!(e[0].data, ["1", "1", "60"]);
    assert!(h.out.contains(&AcdOutput::Leave {
        call: 1,
        to: Some(vm("1000")),
        reason: LeaveReason::Timeout
    }));
    assert!(!h.acd.is_waiting(1));
}

#[test]
fn a_full_queue_and_an_empty_queue_send_callers_elsewhere() {
    let mut q = queue(Strategy::Linear);
    q.max_callers = Some(2);
    q.on_full = Some(vm("1000"));
    q.on_empty = Some(vm("2000"));
    let mut h = H::new(config(q, 1));
    h.p.direct.insert("1001".into(), 1);
    assert_eq!(h.join(1), JoinResult::Queued(1));
    assert_eq!(h.join(2), JoinResult::Queued(2));
    assert_eq!(h.join(3), JoinResult::Full(Some(vm("1000"))));
    assert_eq!(h.events("FULL").len(), 1);
    // Nobody logged in: callers cannot join (join_when = logged-in, the default).
    let now = h.now();
    h.acd.logout(now, "a1", &h.p).unwrap();
    h.drain();
    assert_eq!(h.events("REMOVEMEMBER").len(), 1);
    h.end(1, false);
    h.end(2, false);
    assert_eq!(h.join(4), JoinResult::Empty(Some(vm("2000"))));
    assert_eq!(h.events("JOINEMPTY").len(), 1);
}

#[test]
fn callers_leave_a_queue_whose_last_agent_logs_out_when_configured() {
    let mut q = queue(Strategy::Linear);
    q.leave_when = LeaveWhen::NoneLoggedIn;
    q.on_empty = Some(vm("1000"));
    let mut h = H::new(config(q, 1));
    h.p.direct.insert("1001".into(), 1);
    h.join(1);
    h.join(2);
    let now = h.now();
    h.acd.logout(now, "a1", &h.p).unwrap();
    h.drain();
    let e = h.events("EXITEMPTY");
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].data[..2], ["1".to_string(), "1".to_string()]);
    assert_eq!(h.acd.waiting_count(), 0);
}

#[test]
fn higher_priority_goes_first_and_fifo_holds_within_a_priority() {
    let mut h = H::new(config(queue(Strategy::Linear), 1));
    h.p.direct.insert("1001".into(), 1);
    h.join_prio(1, 0);
    h.join_prio(2, 0);
    assert_eq!(h.join_prio(3, 10), JoinResult::Queued(1));
    h.join_prio(4, 10);
    h.join_prio(5, 0);
    let mut order = Vec::new();
    h.p.direct.clear();
    for _ in 0..5 {
        let now = h.now();
        h.acd.presence_changed(now, "1001", &h.p);
        h.drain();
        let (call, agent) = h.offers().last().unwrap().clone();
        order.push(call);
        assert!(h.answer(call, &agent));
        h.end(call, true);
    }
    assert_eq!(order, [3, 4, 1, 2, 5]);
    assert_eq!(h.events("COMPLETEAGENT").len(), 5);
}

#[test]
fn agents_on_a_direct_call_are_not_offered_unless_the_queue_allows_it() {
    let mut h = H::new(config(queue(Strategy::Linear), 1));
    h.p.direct.insert("1001".into(), 1);
    h.join(1);
    assert!(h.offers().is_empty());
    let now = h.now();
    assert_eq!(h.acd.agents(now, &h.p)[0].status, AgentStatus::OnDirectCall);
    h.p.direct.clear();
    let now = h.now();
    h.acd.presence_changed(now, "1001", &h.p);
    h.drain();
    assert_eq!(offered(&h), ["a1"]);

    let mut q = queue(Strategy::Linear);
    q.offer_busy_agents = true;
    let mut h = H::new(config(q, 1));
    h.p.direct.insert("1001".into(), 1);
    h.join(1);
    assert_eq!(offered(&h), ["a1"]);
}

#[test]
fn position_and_wait_are_announced_on_joining_and_then_periodically() {
    let mut q = queue(Strategy::Linear);
    q.announce_position = Some(Duration::from_secs(30));
    q.greeting = vec!["thank-you-for-waiting".into()];
    q.expected_handle_time = Duration::from_secs(240);
    let mut h = H::new(config(q, 2));
    h.p.direct.insert("1001".into(), 1);
    h.p.direct.insert("1002".into(), 1);
    h.join(1);
    h.join(2);
    h.join(3);
    let ann: Vec<(u64, Vec<String>)> = h
        .out
        .iter()
        .filter_map(|o| match o {
            AcdOutput::Announce { call, prompts } => Some((*call, prompts.clone())),
            _ => None,
        })
        .collect();
    // Caller 3: position 3, two agents serving, AHT 4 min: 3 × 240 / 2 = 6 minutes.
    assert_eq!(
        ann[2],
        (
            3,
            [
                "thank-you-for-waiting",
                "you-are-caller-number",
                "num-3",
                "expected-wait-time",
                "num-6",
                "minute-many"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    // Caller 1 leaves: at 30 s caller 3 hears position 2, 4 minutes.
    h.end(1, false);
    let before = h.out.len();
    h.wait(Duration::from_secs(30));
    let later: Vec<(u64, Vec<String>)> = h.out[before..]
        .iter()
        .filter_map(|o| match o {
            AcdOutput::Announce { call, prompts } => Some((*call, prompts.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(later.len(), 2);
    assert_eq!(
        later.iter().find(|(c, _)| *c == 3).unwrap().1,
        [
            "you-are-caller-number",
            "num-2",
            "expected-wait-time",
            "num-4",
            "minute-many"
        ]
        .map(String::from)
        .to_vec()
    );
}

#[test]
fn an_exit_key_takes_the_caller_out_with_the_key_and_position() {
    let mut q = queue(Strategy::Linear);
    q.exit_keys.insert('1', ExitKey::Go(vm("1000")));
    let mut h = H::new(config(q, 1));
    h.p.unreachable.insert("1001".into());
    h.join(1);
    h.wait(Duration::from_secs(42));
    let now = h.now();
    h.acd.digit(now, 1, '5', &h.p);
    h.drain();
    assert!(h.acd.is_waiting(1), "not an exit key");
    h.acd.digit(now, 1, '1', &h.p);
    h.drain();
    assert_eq!(h.events("EXITWITHKEY")[0].data, ["1", "1", "1", "42"]);
    assert!(!h.acd.is_waiting(1));
}

#[test]
fn an_abandoned_caller_is_logged_with_position_and_wait_and_its_offer_withdrawn() {
    let mut h = H::new(config(queue(Strategy::Linear), 1));
    h.p.direct.insert("1001".into(), 1);
    h.join(1);
    h.join(2);
    h.p.direct.clear();
    let now = h.now();
    h.acd.presence_changed(now, "1001", &h.p);
    h.drain();
    assert_eq!(h.offers(), [(1, "a1".to_string())]);
    h.wait(Duration::from_secs(7));
    h.end(1, false);
    assert!(h.out.contains(&AcdOutput::Withdraw {
        call: 1,
        agent: "a1".into()
    }));
    assert_eq!(h.events("ABANDON")[0].data, ["1", "1", "7"]);
    // The agent rings for the next caller at once.
    assert_eq!(h.offers().last().unwrap(), &(2, "a1".to_string()));
}

#[test]
fn pause_logout_and_login_change_who_is_offered() {
    let mut cfg = config(queue(Strategy::Linear), 2);
    cfg.agents[1].1.logged_in = false;
    let mut h = H::new(cfg);
    let now = h.now();
    h.acd.pause(now, "a1", Some(3), &h.p).unwrap();
    h.drain();
    assert_eq!(h.events("PAUSEALL")[0].data, ["3"]);
    h.join(1);
    assert!(
        h.offers().is_empty(),
        "paused and logged-out agents get nothing"
    );
    let now = h.now();
    let added = h.acd.login(now, "a2", &[], &h.p).unwrap();
    assert_eq!(added, ["q"]);
    h.drain();
    assert_eq!(offered(&h), ["a2"]);
    assert_eq!(h.events("ADDMEMBER").len(), 1);
    assert_eq!(
        h.acd.login(now, "nobody", &[], &h.p),
        Err(AcdError::UnknownAgent("nobody".into()))
    );
    assert_eq!(
        h.acd.login(now, "a1", &["sales".into()], &h.p),
        Err(AcdError::UnknownQueue("sales".into()))
    );
    // Logging out while ringing withdraws the offer.
    h.acd.logout(now, "a2", &h.p).unwrap();
    h.drain();
    assert!(h.out.contains(&AcdOutput::Withdraw {
        call: 1,
        agent: "a2".into()
    }));
    assert_eq!(
        h.acd.pause(now, "a2", None, &h.p),
        Err(AcdError::NotLoggedIn("a2".into()))
    );
}

#[test]
fn repair_frees_agents_whose_queue_call_vanished() {
    let mut h = H::new(config(queue(Strategy::Linear), 1));
    h.join(1);
    assert!(h.answer(1, "a1"));
    h.join(2);
    assert_eq!(h.offers().len(), 1);
    // Call 1 disappeared without the ACD hearing of it.
    let now = h.now();
    let fixed = h.acd.repair(now, |c| c != 1, &h.p);
    h.drain();
    assert_eq!(fixed, 1);
    assert_eq!(h.offers().last().unwrap(), &(2, "a1".to_string()));
    assert_eq!(h.acd.repair(now, |_| true, &h.p), 0);
}

#[test]
fn at_most_one_offer_per_agent_across_queues() {
    let mut queues = BTreeMap::new();
    queues.insert("q".to_string(), queue(Strategy::RingAll));
    queues.insert("r".to_string(), queue(Strategy::RingAll));
    let cfg = AcdConfig {
        queues,
        agents: vec![("a1".into(), agent("1001", &[("q", 0), ("r", 0)]))],
    };
    let mut h = H::new(cfg);
    let now = h.now();
    h.acd.join(now, 1, "u1", "1", "q", 0, "en", &h.p);
    h.acd.join(now, 2, "u2", "2", "r", 0, "en", &h.p);
    h.drain();
    assert_eq!(h.offers(), [(1, "a1".to_string())]);
    h.end(1, false);
    assert_eq!(h.offers().last().unwrap(), &(2, "a1".to_string()));
}

#[test]
fn a_saved_login_and_pause_state_is_restored() {
    let mut queues = BTreeMap::new();
    queues.insert("q".to_string(), queue(Strategy::Linear));
    queues.insert("r".to_string(), queue(Strategy::Linear));
    let cfg = AcdConfig {
        queues,
        agents: vec![
            ("a1".into(), agent("1001", &[("q", 0), ("r", 0)])),
            ("a2".into(), agent("1002", &[("q", 0)])),
        ],
    };
    let mut h = H::new(cfg.clone());
    let now = h.now();
    h.acd.logout(now, "a1", &h.p).unwrap();
    h.acd.login(now, "a1", &["r".into()], &h.p).unwrap();
    h.acd.pause(now, "a2", Some(7), &h.p).unwrap();
    let changed: Vec<String> = h
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            AcdOutput::AgentChanged(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(changed, ["a1", "a1", "a2"]);
    let s1 = h.acd.snapshot("a1").unwrap();
    let s2 = h.acd.snapshot("a2").unwrap();
    assert_eq!(s1, (true, vec!["r".to_string()], None));
    assert_eq!(s2, (true, vec!["q".to_string()], Some(7)));
    // A new engine (restart) gets the same state back, and behaves by it.
    let mut h2 = H::new(cfg);
    assert!(h2.acd.restore("a1", s1.0, &s1.1, s1.2));
    assert!(h2.acd.restore("a2", s2.0, &s2.1, s2.2));
    assert!(!h2.acd.restore("gone", true, &[], None));
    assert_eq!(h2.acd.snapshot("a1").unwrap(), s1);
    h2.join(1);
    assert!(h2.offers().is_empty(), "a1 is not in q, a2 is paused");
}

#[test]
fn callback_keeps_the_place_reserves_an_agent_and_retries_then_gives_up() {
    let mut q = queue(Strategy::Linear);
    q.exit_keys.insert('2', ExitKey::Callback);
    q.callback_attempts = 2;
    q.callback_retry = Duration::from_secs(60);
    q.callback_ring = Duration::from_secs(30);
    let mut h = H::new(config(q, 1));
    h.p.direct.insert("1001".into(), 1);
    h.join(1);
    h.join(2);
    let now = h.now();
    h.acd.digit(now, 1, '2', &h.p);
    assert_eq!(h.drain(), [AcdOutput::CallbackMenu { call: 1 }]);
    assert!(h.acd.callback_request(now, 1, "5551234", &h.p));
    h.drain();
    assert_eq!(h.events("CALLBACKREQUEST")[0].data, ["5551234", "1", "0"]);
    // The caller hangs up: not an abandon, the place is kept (caller 2 is still behind).
    h.end(1, false);
    assert!(h.events("ABANDON").is_empty());
    assert_eq!(h.acd.waiting_count(), 2);
    // The agent frees up: reserved for caller 1, and the engine is asked to call back.
    h.p.direct.clear();
    let now = h.now();
    h.acd.presence_changed(now, "1001", &h.p);
    let out = h.drain();
    assert!(out.contains(&AcdOutput::Callback {
        call: 1,
        agent: "a1".into(),
        number: "5551234".into(),
        queue: "q".into(),
        linkedid: "u1".into(),
    }));
    assert!(
        h.offers().is_empty(),
        "nobody rings while the customer is called"
    );
    let now = h.now();
    let st = h.acd.agents(now, &h.p);
    assert_eq!(st[0].status, AgentStatus::Ringing);
    h.acd.callback_started(1, 101);
    // Nobody answers within callback_ring: the attempt is cancelled and retried later.
    h.wait(Duration::from_secs(30));
    assert!(h.out.contains(&AcdOutput::CallbackCancel { call: 101 }));
    assert_eq!(h.events("CALLBACKNOANSWER")[0].data, ["5551234", "1"]);
    // Meanwhile the agent takes caller 2 (caller 1 waits for its retry).
    assert_eq!(h.offers(), [(2, "a1".to_string())]);
    assert!(h.answer(2, "a1"));
    h.wait(Duration::from_secs(60));
    h.end(2, true);
    // Second attempt: the customer answers, the reserved agent is offered and connected.
    let cb: Vec<u64> = h
        .drain()
        .into_iter()
        .chain(h.out.clone())
        .filter_map(|o| match o {
            AcdOutput::Callback { call, .. } => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(cb.len(), 2, "a second attempt");
    h.acd.callback_started(101, 102);
    let now = h.now();
    h.acd.callback_answered(now, 102, &h.p);
    h.drain();
    assert_eq!(h.offers().last().unwrap(), &(102, "a1".to_string()));
    assert!(h.answer(102, "a1"));
    let c = h.events("CONNECT");
    assert_eq!(
        c.last().unwrap().call_id,
        "u1",
        "events keep the caller's original id"
    );
    assert_eq!(h.events("CALLBACKANSWER").len(), 1);
    h.end(102, false);
    assert_eq!(h.acd.waiting_count(), 0);
}

#[test]
fn a_callback_that_is_never_answered_is_given_up_after_the_last_attempt() {
    let mut q = queue(Strategy::Linear);
    q.exit_keys.insert('2', ExitKey::Callback);
    q.callback_attempts = 2;
    let mut h = H::new(config(q, 1));
    h.p.direct.insert("1001".into(), 1);
    h.join(1);
    let now = h.now();
    h.acd.callback_request(now, 1, "5551234", &h.p);
    h.end(1, false);
    h.p.direct.clear();
    let now = h.now();
    h.acd.presence_changed(now, "1001", &h.p);
    h.drain();
    h.acd.callback_started(1, 7);
    let now = h.now();
    h.acd.callback_failed(now, 7, &h.p);
    h.drain();
    h.wait(Duration::from_secs(120));
    h.acd.callback_started(7, 8);
    let now = h.now();
    h.acd.callback_failed(now, 8, &h.p);
    h.drain();
    let f = h.events("CALLBACKFAILED");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].data[..2], ["5551234".to_string(), "2".to_string()]);
    assert_eq!(h.acd.waiting_count(), 0);
    let now = h.now();
    assert_eq!(h.acd.agents(now, &h.p)[0].status, AgentStatus::Available);
}

#[test]
fn queues_toml_mistakes_name_the_file_line_and_key() {
    use crate::config::{Source, parse_sources};
    let dir = std::path::PathBuf::from("cfg");
    let zvon = "[server]\nudp = [\"127.0.0.1:5060\"]\ndomain = \"pbx.test\"\n";
    let ext = "[[extension]]\nnumber = \"1001\"\npassword = \"x\"\n";
    let parse = |queues: &str| {
        parse_sources(
            &dir,
            &[
                Source {
                    path: dir.join("zvon.toml"),
                    text: zvon.into(),
                },
                Source {
                    path: dir.join("extensions.toml"),
                    text: ext.into(),
                },
                Source {
                    path: dir.join("queues.toml"),
                    text: queues.into(),
                },
            ],
        )
    };
    let good = "[queues.q]\nexit_keys = { \"2\" = \"callback\" }\ncallback_attempts = 2\n\
                [agents.a]\nextension = \"1001\"\nqueues = { q = 0 }\n";
    let c = parse(good).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.acd.queues["q"].exit_keys[&'2'], ExitKey::Callback);
    assert_eq!(c.acd.queues["q"].callback_attempts, 2);
    assert_eq!(c.acd.agents[0].1.name, "a", "the name defaults to the id");
    let errs = parse(
        "[queues.q]\nexit_keys = { \"2\" = \"callbak\", \"x\" = \"callback\" }\n\
         strategy = \"round-robbin\"\n[agents.a]\nextension = \"1002\"\nqueues = { r = 0 }\n",
    )
    .unwrap_err()
    .to_string();
    for want in [
        "cfg/queues.toml:2:21: queues.q.exit_keys.\"2\": unknown exit `callbak`",
        "cfg/queues.toml:2:32: queues.q.exit_keys.\"x\": `x` is not a phone key",
        "cfg/queues.toml:3:12: queues.q.strategy: unknown value `round-robbin` (hint: did you mean `round-robin`?)",
        "cfg/queues.toml:6:12: agents.a.queues.r: queue `r` does not exist",
    ] {
        assert!(errs.contains(want), "missing {want:?} in\n{errs}");
    }
}

/// `zvon status queues` and `zvon report queues` give the same numbers for the same calls:
/// both use `acd::kpi`'s definitions, the live counters on the events as they are written,
/// the report on the same events read back.
#[test]
fn live_status_and_the_queue_report_agree_on_sl_abandon_rate_and_asa() {
    use crate::report::facts::{Context, Dataset};
    use crate::report::metrics::{self, Options};
    use crate::report::period::Period;
    let mut q = queue(Strategy::Linear);
    q.service_level = Duration::from_secs(20);
    q.max_callers = Some(2);
    let mut h = H::new(config(q, 1));
    let answer_after = |h: &mut H, call: u64, wait_s: u64| {
        h.join(call);
        h.wait(Duration::from_secs(wait_s));
        assert!(h.answer(call, "a1"));
        h.wait(Duration::from_secs(60));
        h.end(call, false);
    };
    answer_after(&mut h, 1, 5); // in SL
    answer_after(&mut h, 2, 20); // in SL: hold = T
    answer_after(&mut h, 3, 31); // not in SL
    // The agent busy on call 4: callers 5 and 6 abandon (short, then long), 7 and 8 wait
    // and the queue is full for 9.
    h.join(4);
    assert!(h.answer(4, "a1"));
    h.join(5);
    h.wait(Duration::from_secs(3));
    h.end(5, false);
    h.join(6);
    h.wait(Duration::from_secs(45));
    h.end(6, false);
    h.join(7);
    h.join(8);
    h.join(9);
    h.wait(Duration::from_secs(2));
    let now = h.now();
    let live = h.acd.queues(now, &h.p)[0].kpis;
    let events = h
        .out
        .iter()
        .filter_map(|o| match o {
            AcdOutput::Event(e) => Some(crate::store::QueueEventRecord {
                at_ms: e.at_ms,
                call_id: e.call_id.clone(),
                queue: e.queue.clone(),
                agent: e.agent.clone(),
                event: e.event.to_owned(),
                data: e.data.clone(),
            }),
            _ => None,
        })
        .collect();
    let ctx = Context {
        service_level: [("q".to_owned(), 20)].into(),
        ..Context::default()
    };
    let opt = Options::new(Period::ALL, now.wall.secs() as i64 * 1000);
    let rows = metrics::queues(&Dataset::from_records(Vec::new(), events), &ctx, &opt);
    let report = &rows[0].stats;
    assert_eq!(
        (live.offered, live.answered, live.answered_in_sl),
        (9, 4, 3),
        "{live:?}"
    );
    assert_eq!((live.abandoned, live.short_abandoned), (1, 1));
    assert_eq!(
        (report.offered, report.answered, report.answered_in_sl),
        (live.offered, live.answered, live.answered_in_sl)
    );
    assert_eq!(
        (report.abandoned, report.short_abandoned, report.hold_s),
        (live.abandoned, live.short_abandoned, live.hold_s)
    );
    assert_eq!(live.service_level(), Some(3.0 / 9.0));
    assert_eq!(live.service_level(), report.service_level());
    assert_eq!(live.abandon_rate(), Some(1.0 / 9.0));
    assert_eq!(live.abandon_rate(), report.abandon_rate());
    assert_eq!(live.asa_s(), Some((5.0 + 20.0 + 31.0 + 0.0) / 4.0));
    assert_eq!(live.asa_s(), report.asa_s());
}
