//! The report fixture: Monday 2024-05-06 (UTC) of a small call center, as CDRs and queue
//! events the way the engine writes them, built so that every KPI can be worked out by
//! hand (the derivations are in `report::kpi_tests`).
//!
//! Shared by the unit tests (`src/report/kpi_tests.rs`) and the black-box test
//! (`tests/e2e/report.rs`, through `#[path]`): it only needs the parent module to bring
//! `store` (zvon's store types) into scope.
//!
//! Queues: `support` (T = 20 s), `sales` (T = 30 s), `vip` (T = 10 s, no calls), and
//! `billing`, which is not in the configuration (T falls back to 20 s).
//! Agents: alice 1001, bob 1002, carol 1003 (support; alice and bob also billing), dave 1006
//! (sales, a static member: no ADDMEMBER), and erin 1005, who is not configured and only
//! appears in the log (logged in the evening before, paused, logged out at 01:00).
//!
//! The day, in queue visits (times UTC):
//! - support "block A": 120 answered calls, call i (0..120) enters at 09:00 + 180 s·i,
//!   hold [2, 8, 16, 24, 32, 40][i % 6] s, talk [60, 90, 120, 150][i % 4] s, wrap-up 10 s,
//!   agent [alice, bob, carol][i % 3]; when i % 6 = 5 alice is offered the call first at
//!   +10 s and does not answer (RINGNOANSWER at +25 s).
//! - support: 10 short abandons (k = 0..10 at 09:01:30 + 180 s·k, waits k % 5 s; k = 0 and
//!   k = 5 are the same number), 15 abandons (k = 0..15 at 10:31 + 300 s·k, waits 30 + 10·k s),
//!   5 EXITWITHTIMEOUT (11:00 + 600 s·k, 300 s), 3 EXITWITHKEY (13:10, 13:20, 13:30; waits
//!   12, 45, 61 s), 1 EXITEMPTY (17:29:53, 7 s, when the last agent logs out at 17:30), 2 FULL
//!   (10:00:05, 10:00:07), 2 JOINEMPTY (07:00, 07:30), 1 caller still waiting at the end
//!   (23:59:55), and 1 answered across midnight (enters 23:59:50, bob answers at 00:00:05
//!   the next day after logging in again at 23:59).
//! - sales: 30 answered by dave (k = 0..30 at 10:00 + 300 s·k, hold 3·k s, talk 100 s,
//!   wrap-up 5 s), 5 abandons (10:02:30 + 300 s·k, waits 10, 20, 40, 50, 60 s).
//! - billing: answered by bob at 17:00 (hold 5 s, talk 200 s, wrap-up 10 s) and at 17:10
//!   (hold 25 s, blind transfer to 1003 after 300 s, wrap-up 10 s measured to WRAPUPEND), a
//!   short abandon (17:20, 3 s) and an abandon (17:25, 50 s).
//! - billing callbacks, alice kept for every attempt (30 s each): bv-0 enters 15:00, asks at
//!   +40 s, the attempt at 15:10 is answered (hold 615 s, talk 180 s, wrap-up 10 s; the
//!   caller is support abandon k = 4's number); bv-1 enters 15:20, attempt 1 at 15:30 not
//!   answered, attempt 2 at 15:35:30 answered (hold 945 s, talk 240 s, wrap-up 10 s); bv-2
//!   enters 15:40, attempts at 15:45, 15:50:30 and 15:56 not answered, CALLBACKFAILED at
//!   15:56:30 (990 s); bv-3 enters 16:00, the customer answers the attempt at 16:05 and
//!   hangs up while alice rings (ABANDON at 16:05:25, 325 s); bv-4 enters 17:26, asks at
//!   +30 s, EXITEMPTY at 17:30 (240 s).
//! - Pauses: alice reason 2 12:04–12:08, bob no reason 13:01–13:05, carol autopause
//!   15:30–15:45, erin reason 3 from 23:30 the day before to her logout at 01:00.
//! - Outside the day: an abandon at 23:50 the day before and one at 00:10 the day after.
//!
//! Other calls: 40 internal (1001 → 1002 from 08:00, one a minute: 30 answered with talk
//! 30 + k s, 5 NO ANSWER, 3 BUSY, 2 CANCELLED), 10 outbound FAILED (404), call-backs to the
//! abandoned numbers of k = 0 (answered at 16:00), k = 1 (they called again at 16:10 and
//! 1002 answered), k = 2 (answered, but at 10:00, before the abandon) and k = 3 (not
//! answered), 32 IVR calls with paths, and 2 feature-code calls.

use super::store::{CdrLeg, CdrRecord, Disposition, QueueEventRecord};

/// 2024-05-06 00:00:00 UTC, a Monday.
pub const DAY0: i64 = 1_714_953_600;
/// Seconds in a day.
pub const DAY_S: i64 = 86_400;

/// Unix seconds of `h:m:s` on the fixture day (h may be negative or ≥ 24).
pub fn t(h: i64, m: i64, s: i64) -> i64 {
    DAY0 + h * 3600 + m * 60 + s
}

/// (queue, service-level threshold s) as configured.
pub const SERVICE_LEVELS: &[(&str, u64)] = &[("sales", 30), ("support", 20), ("vip", 10)];
/// (id, name, extension, queues) of the configured agents.
pub const AGENTS: &[(&str, &str, &str, &[&str])] = &[
    ("alice", "Alice Archer", "1001", &["support", "billing"]),
    ("bob", "Bob Baker", "1002", &["support", "billing"]),
    ("carol", "Carol Cruz", "1003", &["support"]),
    ("dave", "Dave Dunn", "1006", &["sales"]),
];
/// The configured extensions.
pub const EXTENSIONS: &[&str] = &["1000", "1001", "1002", "1003", "1004", "1006"];

/// The records.
pub struct Fixture {
    pub cdrs: Vec<CdrRecord>,
    /// In log order.
    pub events: Vec<QueueEventRecord>,
}

struct B {
    cdrs: Vec<CdrRecord>,
    events: Vec<QueueEventRecord>,
}

/// A CDR in a few words.
struct Cdr<'a> {
    uid: String,
    start: i64,
    caller: &'a str,
    dialed: &'a str,
    /// When Zvon answered (queue, IVR, voicemail).
    zvon_answer: Option<i64>,
    /// Who answered and when.
    person: Option<(&'a str, i64)>,
    end: i64,
    disposition: Disposition,
    sip_code: Option<u16>,
    history: String,
    /// A later callee leg (a transfer target) answered at this time.
    transfer: Option<(&'a str, i64)>,
    /// The call this one belongs to (a callback's first call); `None`: itself.
    linkedid: Option<&'a str>,
    caller_name: Option<&'a str>,
}

impl B {
    fn ev(&mut self, at: i64, call: &str, queue: &str, agent: &str, event: &str, data: &[&str]) {
        self.events.push(QueueEventRecord {
            at_ms: at * 1000,
            call_id: call.into(),
            queue: queue.into(),
            agent: agent.into(),
            event: event.into(),
            data: data.iter().map(|d| d.to_string()).collect(),
        });
    }

    fn cdr(&mut self, c: Cdr<'_>) {
        let answer = c.zvon_answer.or(c.person.map(|p| p.1));
        let leg = |leg: u32, side: &str, peer: &str, answer: Option<i64>| CdrLeg {
            leg,
            side: side.into(),
            peer: peer.into(),
            start: c.start as u64,
            answer: answer.map(|a| a as u64),
            end: c.end as u64,
            disposition: if answer.is_some() {
                Disposition::Answered
            } else {
                c.disposition
            },
            sip_code: None,
            codec: None,
            packets: 0,
            lost: 0,
            jitter_ms: 0.0,
            mos: 0.0,
        };
        let mut legs = vec![leg(0, "caller", c.caller, answer)];
        let callee = c.person.map_or(c.dialed, |p| p.0);
        legs.push(leg(1, "callee", callee, c.person.map(|p| p.1)));
        if let Some((peer, at)) = c.transfer {
            legs.push(leg(2, "callee", peer, Some(at)));
        }
        self.cdrs.push(CdrRecord {
            linkedid: c.linkedid.map_or_else(|| c.uid.clone(), str::to_owned),
            uniqueid: c.uid,
            start: c.start as u64,
            answer: answer.map(|a| a as u64),
            end: c.end as u64,
            caller: c.caller.into(),
            caller_name: c.caller_name.map(str::to_owned),
            dialed: c.dialed.into(),
            answered_by: c.person.map(|p| p.0.to_owned()),
            disposition: c.disposition,
            duration: (c.end - c.start) as u64,
            billsec: answer.map_or(0, |a| (c.end - a) as u64),
            hangup_cause: "normal".into(),
            hangup_by: "caller".into(),
            sip_code: c.sip_code,
            codec_a: Some("PCMU".into()),
            codec_b: c.person.map(|_| "PCMU".into()),
            history: c.history,
            legs,
        });
    }

    /// A queue call an agent answers; `missed`: another agent is offered it first and does
    /// not answer.
    #[allow(clippy::too_many_arguments)]
    fn answered(
        &mut self,
        queue: &str,
        uid: &str,
        caller: &str,
        enter: i64,
        hold: i64,
        (agent, ext): (&str, &str),
        talk: i64,
        wrap: i64,
        complete: &str,
        missed: Option<(&str, &str)>,
    ) {
        let mut history = format!("queue:{queue}");
        self.ev(enter, uid, queue, "NONE", "ENTERQUEUE", &["", caller, "1"]);
        if let Some((m, mext)) = missed {
            self.ev(enter + 10, uid, queue, m, "OFFER", &[mext]);
            self.ev(enter + 25, uid, queue, m, "RINGNOANSWER", &["15000"]);
            history.push_str(&format!(";offer:{m}"));
        }
        let connect = enter + hold;
        let ring = hold.min(2);
        self.ev(connect - ring, uid, queue, agent, "OFFER", &[ext]);
        let (h, r) = (hold.to_string(), ring.to_string());
        self.ev(connect, uid, queue, agent, "CONNECT", &[&h, uid, &r]);
        let end = connect + talk;
        self.ev(
            end,
            uid,
            queue,
            agent,
            complete,
            &[&h, &talk.to_string(), "1"],
        );
        if wrap > 0 {
            self.ev(end, uid, queue, agent, "WRAPUPSTART", &[&wrap.to_string()]);
            self.ev(end + wrap, "NONE", "NONE", agent, "WRAPUPEND", &[]);
        }
        history.push_str(&format!(";offer:{agent};agent:{agent}"));
        self.cdr(Cdr {
            uid: uid.into(),
            start: enter,
            caller,
            dialed: "700",
            zvon_answer: Some(enter),
            person: Some((ext, connect)),
            end,
            disposition: Disposition::Answered,
            sip_code: None,
            history,
            transfer: None,
            linkedid: None,
            caller_name: None,
        });
    }

    /// A queue call that ends without an agent: `event` with `data` after `wait` seconds;
    /// the CDR ends `after` seconds later, with `history` after the queue step.
    #[allow(clippy::too_many_arguments)]
    fn unanswered(
        &mut self,
        queue: &str,
        uid: &str,
        caller: &str,
        enter: i64,
        wait: i64,
        event: &str,
        data: &[&str],
        after: i64,
        more_history: &str,
    ) {
        self.ev(enter, uid, queue, "NONE", "ENTERQUEUE", &["", caller, "1"]);
        self.ev(enter + wait, uid, queue, "NONE", event, data);
        self.queue_cdr(
            queue,
            uid,
            caller,
            enter,
            enter + wait + after,
            more_history,
        );
    }

    fn queue_cdr(
        &mut self,
        queue: &str,
        uid: &str,
        caller: &str,
        start: i64,
        end: i64,
        more: &str,
    ) {
        self.cdr(Cdr {
            uid: uid.into(),
            start,
            caller,
            dialed: "700",
            zvon_answer: Some(start),
            person: None,
            end,
            disposition: Disposition::Answered,
            sip_code: None,
            history: format!("queue:{queue}{more}"),
            transfer: None,
            linkedid: None,
            caller_name: None,
        });
    }

    fn abandon(&mut self, queue: &str, uid: &str, caller: &str, enter: i64, wait: i64) {
        let w = wait.to_string();
        self.unanswered(
            queue,
            uid,
            caller,
            enter,
            wait,
            "ABANDON",
            &["1", "1", &w],
            0,
            "",
        );
    }

    /// A call that is not a queue call.
    #[allow(clippy::too_many_arguments)]
    fn plain(
        &mut self,
        uid: String,
        start: i64,
        caller: &str,
        dialed: &str,
        person: Option<(&str, i64)>,
        end: i64,
        disposition: Disposition,
        sip_code: Option<u16>,
        history: &str,
        zvon_answer: Option<i64>,
    ) {
        self.cdr(Cdr {
            uid,
            start,
            caller,
            dialed,
            zvon_answer,
            person,
            end,
            disposition,
            sip_code,
            history: history.into(),
            transfer: None,
            linkedid: None,
            caller_name: None,
        });
    }
}

/// The callback calls' CDRs, as the engine writes them: caller and dialled are the
/// customer's number, the caller name says which queue calls, the history starts
/// `callback:QUEUE` (then `queue:QUEUE;offer:…;agent:…` once the customer answered), and
/// the linkedid is the customer's first call.
impl B {
    /// A caller enters `queue` at `enter` and `after` s later asks to be called back on their
    /// own number: ENTERQUEUE, CALLBACKREQUEST and the first call's CDR (Zvon thanks them and
    /// hangs up 5 s later).
    fn callback_request(&mut self, queue: &str, uid: &str, caller: &str, enter: i64, after: i64) {
        self.ev(enter, uid, queue, "NONE", "ENTERQUEUE", &["", caller, "1"]);
        let w = after.to_string();
        let at = enter + after;
        self.ev(
            at,
            uid,
            queue,
            "NONE",
            "CALLBACKREQUEST",
            &[caller, "1", &w],
        );
        let more = format!(";callback-request:{caller}");
        self.queue_cdr(queue, uid, caller, enter, at + 5, &more);
    }

    /// Attempt `n` at `at` with `agent` kept for it; the customer does not answer in 30 s
    /// (CALLBACKNOANSWER, and the attempt's CDR).
    fn callback_unanswered(
        &mut self,
        queue: &str,
        uid: &str,
        number: &str,
        at: i64,
        n: u32,
        agent: &str,
    ) {
        let n = n.to_string();
        self.ev(at, uid, queue, agent, "CALLBACKATTEMPT", &[number, &n]);
        self.ev(
            at + 30,
            uid,
            queue,
            "NONE",
            "CALLBACKNOANSWER",
            &[number, &n],
        );
        self.cdr(Cdr {
            uid: format!("{uid}.cb{n}"),
            start: at,
            caller: number,
            dialed: number,
            zvon_answer: None,
            person: None,
            end: at + 30,
            disposition: Disposition::NoAnswer,
            sip_code: Some(480),
            history: format!("callback:{queue}"),
            transfer: None,
            linkedid: Some(uid),
            caller_name: Some(&format!("Callback {queue}")),
        });
    }

    /// Attempt `n` at `at` with `agent` kept for it; the customer answers 10 s later, the
    /// agent is offered the call at once and answers after 5 s, they talk `talk` s (the
    /// customer hangs up) and the agent has 10 s of wrap-up. The hold is from `enter`.
    #[allow(clippy::too_many_arguments)]
    fn callback_answered(
        &mut self,
        queue: &str,
        uid: &str,
        number: &str,
        enter: i64,
        at: i64,
        n: u32,
        (agent, ext): (&str, &str),
        talk: i64,
    ) {
        let ns = n.to_string();
        self.ev(at, uid, queue, agent, "CALLBACKATTEMPT", &[number, &ns]);
        let answer = at + 10;
        self.ev(answer, uid, queue, "NONE", "CALLBACKANSWER", &[number]);
        self.ev(answer, uid, queue, agent, "OFFER", &[ext]);
        let connect = answer + 5;
        let h = (connect - enter).to_string();
        self.ev(connect, uid, queue, agent, "CONNECT", &[&h, uid, "5"]);
        let end = connect + talk;
        let tk = talk.to_string();
        self.ev(end, uid, queue, agent, "COMPLETECALLER", &[&h, &tk, "1"]);
        self.ev(end, uid, queue, agent, "WRAPUPSTART", &["10"]);
        self.ev(end + 10, "NONE", "NONE", agent, "WRAPUPEND", &[]);
        self.cdr(Cdr {
            uid: format!("{uid}.cb{n}"),
            start: at,
            caller: number,
            dialed: number,
            zvon_answer: Some(answer),
            person: Some((ext, connect)),
            end,
            disposition: Disposition::Answered,
            sip_code: None,
            history: format!("callback:{queue};queue:{queue};offer:{agent};agent:{agent}"),
            transfer: None,
            linkedid: Some(uid),
            caller_name: Some(&format!("Callback {queue}")),
        });
    }
}

/// An IVR path, how many calls took it, and (how many of them 1002 answered, talk s).
type IvrCase = (&'static str, i64, Option<(i64, i64)>);

/// Builds the fixture.
pub fn build() -> Fixture {
    let mut b = B {
        cdrs: Vec::new(),
        events: Vec::new(),
    };
    let agents = [("alice", "1001"), ("bob", "1002"), ("carol", "1003")];

    // Logins (erin the evening before).
    b.ev(
        t(-2, 0, 0),
        "NONE",
        "support",
        "erin",
        "ADDMEMBER",
        &["1005"],
    );
    b.ev(t(-1, 30, 0), "NONE", "NONE", "erin", "PAUSEALL", &["3"]);
    b.ev(t(1, 0, 0), "NONE", "support", "erin", "REMOVEMEMBER", &[]);
    b.ev(
        t(8, 30, 0),
        "NONE",
        "support",
        "alice",
        "ADDMEMBER",
        &["1001"],
    );
    b.ev(
        t(8, 30, 0),
        "NONE",
        "billing",
        "alice",
        "ADDMEMBER",
        &["1001"],
    );
    b.ev(
        t(8, 30, 0),
        "NONE",
        "support",
        "bob",
        "ADDMEMBER",
        &["1002"],
    );
    b.ev(
        t(8, 30, 0),
        "NONE",
        "support",
        "carol",
        "ADDMEMBER",
        &["1003"],
    );

    // Support block A.
    for i in 0..120i64 {
        let enter = t(9, 0, 0) + 180 * i;
        let hold = [2, 8, 16, 24, 32, 40][(i % 6) as usize];
        let talk = [60, 90, 120, 150][(i % 4) as usize];
        let agent = agents[(i % 3) as usize];
        let complete = if i % 2 == 0 {
            "COMPLETECALLER"
        } else {
            "COMPLETEAGENT"
        };
        let missed = (i % 6 == 5).then_some(agents[0]);
        let caller = format!("+4930555{i:04}");
        let uid = format!("sa-{i}");
        b.answered(
            "support", &uid, &caller, enter, hold, agent, talk, 10, complete, missed,
        );
    }
    // Short abandons; k = 5 calls from k = 0's number.
    for k in 0..10i64 {
        let caller = format!("+4930666{:04}", if k == 5 { 0 } else { k });
        b.abandon(
            "support",
            &format!("ss-{k}"),
            &caller,
            t(9, 1, 30) + 180 * k,
            k % 5,
        );
    }
    // Abandons.
    for k in 0..15i64 {
        let caller = format!("+4930777{k:04}");
        b.abandon(
            "support",
            &format!("sl-{k}"),
            &caller,
            t(10, 31, 0) + 300 * k,
            30 + 10 * k,
        );
    }
    // Timeouts to voicemail.
    for k in 0..5i64 {
        let caller = format!("+4930888{k:04}");
        let uid = format!("st-{k}");
        let data = ["1", "1", "300"];
        let more = ";queue-timeout;voicemail:1004";
        b.unanswered(
            "support",
            &uid,
            &caller,
            t(11, 0, 0) + 600 * k,
            300,
            "EXITWITHTIMEOUT",
            &data,
            30,
            more,
        );
    }
    // Exit keys.
    for (k, wait) in [12i64, 45, 61].into_iter().enumerate() {
        let caller = format!("+4930889{k:04}");
        let uid = format!("sk-{k}");
        let w = wait.to_string();
        let data = ["0", "1", "1", w.as_str()];
        let enter = t(13, 10, 0) + 600 * k as i64;
        b.unanswered(
            "support",
            &uid,
            &caller,
            enter,
            wait,
            "EXITWITHKEY",
            &data,
            20,
            ";queue-key:0",
        );
    }
    // Refused at the door.
    for (k, at) in [t(10, 0, 5), t(10, 0, 7)].into_iter().enumerate() {
        let uid = format!("sf-{k}");
        b.ev(at, &uid, "support", "NONE", "FULL", &["2"]);
        b.queue_cdr("support", &uid, &format!("+4930890{k:04}"), at, at + 5, "");
    }
    for (k, at) in [t(7, 0, 0), t(7, 30, 0)].into_iter().enumerate() {
        let uid = format!("sj-{k}");
        b.ev(at, &uid, "support", "NONE", "JOINEMPTY", &[]);
        b.queue_cdr("support", &uid, &format!("+4930891{k:04}"), at, at + 5, "");
    }

    // Pauses.
    b.ev(t(12, 4, 0), "NONE", "NONE", "alice", "PAUSEALL", &["2"]);
    b.ev(t(12, 8, 0), "NONE", "NONE", "alice", "UNPAUSEALL", &[]);
    b.ev(t(13, 1, 0), "NONE", "NONE", "bob", "PAUSEALL", &[""]);
    b.ev(t(13, 5, 0), "NONE", "NONE", "bob", "UNPAUSEALL", &[]);
    b.ev(
        t(15, 30, 0),
        "NONE",
        "NONE",
        "carol",
        "PAUSEALL",
        &["autopause"],
    );
    b.ev(t(15, 45, 0), "NONE", "NONE", "carol", "UNPAUSEALL", &[]);

    // Sales.
    for k in 0..30i64 {
        let caller = format!("+4940100{k:04}");
        let uid = format!("ya-{k}");
        let enter = t(10, 0, 0) + 300 * k;
        b.answered(
            "sales",
            &uid,
            &caller,
            enter,
            3 * k,
            ("dave", "1006"),
            100,
            5,
            "COMPLETECALLER",
            None,
        );
    }
    for (k, wait) in [10i64, 20, 40, 50, 60].into_iter().enumerate() {
        let caller = format!("+4940200{k:04}");
        b.abandon(
            "sales",
            &format!("yb-{k}"),
            &caller,
            t(10, 2, 30) + 300 * k as i64,
            wait,
        );
    }
    b.ev(t(12, 45, 0), "NONE", "sales", "dave", "REMOVEMEMBER", &[]);

    // Billing.
    b.ev(
        t(16, 50, 0),
        "NONE",
        "billing",
        "bob",
        "ADDMEMBER",
        &["1002"],
    );
    b.answered(
        "billing",
        "b-1",
        "+4950000001",
        t(17, 0, 0),
        5,
        agents[1],
        200,
        10,
        "COMPLETEAGENT",
        None,
    );
    let (enter, uid) = (t(17, 10, 0), "b-2");
    b.ev(
        enter,
        uid,
        "billing",
        "NONE",
        "ENTERQUEUE",
        &["", "+4950000002", "1"],
    );
    b.ev(enter + 23, uid, "billing", "bob", "OFFER", &["1002"]);
    b.ev(
        enter + 25,
        uid,
        "billing",
        "bob",
        "CONNECT",
        &["25", uid, "2"],
    );
    b.ev(
        enter + 325,
        uid,
        "billing",
        "bob",
        "BLINDTRANSFER",
        &["1003", "", "25", "300"],
    );
    b.ev(enter + 335, "NONE", "NONE", "bob", "WRAPUPEND", &[]);
    b.cdr(Cdr {
        uid: uid.into(),
        start: enter,
        caller: "+4950000002",
        dialed: "700",
        zvon_answer: Some(enter),
        person: Some(("1002", enter + 25)),
        end: enter + 385,
        disposition: Disposition::Answered,
        sip_code: None,
        history: "queue:billing;offer:bob;agent:bob;transfer:blind:1003".into(),
        transfer: Some(("1003", enter + 330)),
        linkedid: None,
        caller_name: None,
    });
    b.abandon("billing", "b-3", "+4950000003", t(17, 20, 0), 3);
    b.abandon("billing", "b-4", "+4950000004", t(17, 25, 0), 50);

    // Billing callbacks (callback_ring 30 s, callback_retry 300 s, callback_attempts 3); alice
    // is kept for every attempt. bv-0: the support caller who abandoned at 10:52:10 (sl-4)
    // calls billing, asks for a callback, and answers the first attempt.
    let alice = agents[0];
    let (enter, uid, num) = (t(15, 0, 0), "bv-0", "+49307770004");
    b.callback_request("billing", uid, num, enter, 40);
    b.callback_answered("billing", uid, num, enter, t(15, 10, 0), 1, alice, 180);
    // bv-1: the first attempt is not answered, the second is.
    let (enter, uid, num) = (t(15, 20, 0), "bv-1", "+4950000011");
    b.callback_request("billing", uid, num, enter, 30);
    b.callback_unanswered("billing", uid, num, t(15, 30, 0), 1, "alice");
    b.callback_answered("billing", uid, num, enter, t(15, 35, 30), 2, alice, 240);
    // bv-2: three attempts, none answered: given up.
    let (enter, uid, num) = (t(15, 40, 0), "bv-2", "+4950000012");
    b.callback_request("billing", uid, num, enter, 20);
    for (n, at) in [(1, t(15, 45, 0)), (2, t(15, 50, 30)), (3, t(15, 56, 0))] {
        b.callback_unanswered("billing", uid, num, at, n, "alice");
    }
    b.ev(
        t(15, 56, 30),
        uid,
        "billing",
        "NONE",
        "CALLBACKFAILED",
        &[num, "3", "990"],
    );
    // bv-3: the customer answers, alice is offered the call, and the customer hangs up
    // 15 s later, before she answers (the offer is withdrawn; no RINGNOANSWER).
    let (enter, uid, num) = (t(16, 0, 0), "bv-3", "+4950000013");
    b.callback_request("billing", uid, num, enter, 50);
    b.ev(
        t(16, 5, 0),
        uid,
        "billing",
        "alice",
        "CALLBACKATTEMPT",
        &[num, "1"],
    );
    b.ev(
        t(16, 5, 10),
        uid,
        "billing",
        "NONE",
        "CALLBACKANSWER",
        &[num],
    );
    b.ev(t(16, 5, 10), uid, "billing", "alice", "OFFER", &["1001"]);
    b.ev(
        t(16, 5, 25),
        uid,
        "billing",
        "NONE",
        "ABANDON",
        &["1", "1", "325"],
    );
    b.cdr(Cdr {
        uid: format!("{uid}.cb1"),
        start: t(16, 5, 0),
        caller: num,
        dialed: num,
        zvon_answer: Some(t(16, 5, 10)),
        person: None,
        end: t(16, 5, 25),
        disposition: Disposition::Answered,
        sip_code: None,
        history: "callback:billing;queue:billing;offer:alice".into(),
        transfer: None,
        linkedid: Some(uid),
        caller_name: Some("Callback billing"),
    });
    // bv-4: asks for a callback at 17:26:30 and is still waiting for it when the queue
    // empties at 17:30 (below).
    b.callback_request("billing", "bv-4", "+4950000014", t(17, 26, 0), 30);

    // The last caller of the day waits when everybody logs out.
    b.ev(
        t(17, 29, 53),
        "se-0",
        "support",
        "NONE",
        "ENTERQUEUE",
        &["", "+49308920000", "1"],
    );
    for (a, q) in [
        ("alice", "support"),
        ("alice", "billing"),
        ("bob", "support"),
        ("bob", "billing"),
        ("carol", "support"),
    ] {
        b.ev(t(17, 30, 0), "NONE", q, a, "REMOVEMEMBER", &[]);
    }
    b.ev(
        t(17, 30, 0),
        "se-0",
        "support",
        "NONE",
        "EXITEMPTY",
        &["1", "1", "7"],
    );
    b.queue_cdr(
        "support",
        "se-0",
        "+49308920000",
        t(17, 29, 53),
        t(17, 30, 5),
        ";queue-empty",
    );
    b.ev(
        t(17, 30, 0),
        "bv-4",
        "billing",
        "NONE",
        "EXITEMPTY",
        &["1", "1", "240"],
    );

    // Bob logs in again; a call across midnight; one still waiting at the end.
    b.ev(
        t(23, 59, 0),
        "NONE",
        "support",
        "bob",
        "ADDMEMBER",
        &["1002"],
    );
    b.answered(
        "support",
        "sm-0",
        "+49309990001",
        t(23, 59, 50),
        15,
        agents[1],
        60,
        10,
        "COMPLETECALLER",
        None,
    );
    b.ev(
        t(23, 59, 55),
        "sw-0",
        "support",
        "NONE",
        "ENTERQUEUE",
        &["", "+49309990000", "1"],
    );

    // Outside the day.
    b.abandon("support", "prev-0", "+49301110000", t(-1, 50, 0), 20);
    b.abandon("support", "next-0", "+49301110001", t(24, 10, 0), 30);

    // Internal calls.
    for k in 0..40i64 {
        let start = t(8, 0, 0) + 60 * k;
        let uid = format!("in-{k}");
        let (person, end, disp, code) = match k {
            0..30 => (
                Some(("1002", start + 5)),
                start + 5 + 30 + k,
                Disposition::Answered,
                None,
            ),
            30..35 => (None, start + 20, Disposition::NoAnswer, Some(480)),
            35..38 => (None, start + 2, Disposition::Busy, Some(486)),
            _ => (None, start + 8, Disposition::Cancelled, Some(487)),
        };
        b.plain(
            uid, start, "1001", "1002", person, end, disp, code, "", None,
        );
    }
    // Outbound, failed: no trunk.
    for k in 0..10i64 {
        let start = t(16, 30, 0) + 60 * k;
        let dialed = format!("0049301111{k}");
        b.plain(
            format!("out-{k}"),
            start,
            "1002",
            &dialed,
            None,
            start + 1,
            Disposition::Failed,
            Some(404),
            "",
            None,
        );
    }
    // Call-backs.
    let s = t(16, 0, 0);
    b.plain(
        "cb-0".into(),
        s,
        "1001",
        "+49307770000",
        Some(("+49307770000", s + 10)),
        s + 130,
        Disposition::Answered,
        None,
        "",
        None,
    );
    let s = t(16, 10, 0);
    b.plain(
        "cb-1".into(),
        s,
        "+49307770001",
        "1002",
        Some(("1002", s + 5)),
        s + 95,
        Disposition::Answered,
        None,
        "",
        None,
    );
    let s = t(10, 0, 0);
    b.plain(
        "cb-2".into(),
        s,
        "1001",
        "+49307770002",
        Some(("+49307770002", s + 10)),
        s + 40,
        Disposition::Answered,
        None,
        "",
        None,
    );
    let s = t(16, 20, 0);
    b.plain(
        "cb-3".into(),
        s,
        "1001",
        "+49307770003",
        None,
        s + 30,
        Disposition::NoAnswer,
        Some(480),
        "",
        None,
    );

    // IVR calls: (path, calls, answered by 1002 with this talk).
    let paths: [IvrCase; 7] = [
        ("ivr:main:welcome>menu[1]>extension:1002", 10, Some((8, 45))),
        (
            "ivr:main:welcome>menu[3]>billing_menu[9]>voicemail:1004",
            6,
            None,
        ),
        (
            "ivr:main:welcome>menu[timeout][timeout][timeout]>hangup",
            5,
            None,
        ),
        (
            "ivr:main:welcome>menu[timeout][1]>extension:1002",
            4,
            Some((4, 50)),
        ),
        ("ivr:main:welcome>menu", 3, None),
        ("ivr:main:welcome", 2, None),
        (
            "ivr:main:welcome>menu[4]>ivr:after_hours;ivr:after_hours:closed>hangup",
            2,
            None,
        ),
    ];
    let mut k = 0i64;
    for (path, n, answered) in paths {
        for j in 0..n {
            let start = t(18, 0, 0) + 60 * k;
            let caller = format!("+4960000{k:03}");
            let (person, end) = match answered {
                Some((m, talk)) if j < m => (Some(("1002", start + 20)), start + 20 + talk),
                _ => (None, start + 30),
            };
            b.plain(
                format!("ivr-{k}"),
                start,
                &caller,
                "500",
                person,
                end,
                Disposition::Answered,
                None,
                path,
                Some(start),
            );
            k += 1;
        }
    }
    // Feature codes.
    for (k, at) in [t(8, 50, 0), t(8, 51, 0)].into_iter().enumerate() {
        b.plain(
            format!("f-{k}"),
            at,
            "1001",
            "*78",
            None,
            at + 3,
            Disposition::Answered,
            None,
            "feature:*78",
            Some(at),
        );
    }

    // The store returns events by time, then by the order they were written.
    b.events.sort_by_key(|e| e.at_ms);
    b.cdrs.sort_by_key(|c| c.start);
    Fixture {
        cdrs: b.cdrs,
        events: b.events,
    }
}
