//! Every KPI of the fixture day (see `fixture.rs` for the day), worked out by hand in the
//! comments and compared exactly.

use std::collections::BTreeMap;

use crate::store;

#[path = "fixture.rs"]
mod fixture;

use fixture::{DAY_S, DAY0, t};

use super::facts::{Context, Dataset};
use super::metrics::{self, Filter, Options};
use super::period::Period;

fn ctx() -> Context {
    Context {
        service_level: fixture::SERVICE_LEVELS
            .iter()
            .map(|(q, s)| ((*q).to_owned(), *s))
            .collect(),
        extensions: fixture::EXTENSIONS
            .iter()
            .map(|e| (*e).to_owned())
            .collect(),
        agents: fixture::AGENTS
            .iter()
            .map(|(id, name, ext, _)| ((*id).to_owned(), ((*name).to_owned(), (*ext).to_owned())))
            .collect(),
    }
}

/// The fixture's queue events (for tests elsewhere in `report`).
pub(super) fn fixture_events() -> Vec<store::QueueEventRecord> {
    fixture::build().events
}

fn data() -> Dataset {
    let f = fixture::build();
    Dataset::from_records(f.cdrs, f.events)
}

/// The fixture day; "now" is noon the day after.
fn day() -> Options {
    Options::new(
        Period {
            from: Some(DAY0),
            to: Some(DAY0 + DAY_S),
        },
        (DAY0 + DAY_S + 12 * 3600) * 1000,
    )
}

fn with(f: Filter) -> Options {
    Options { filter: f, ..day() }
}

#[test]
fn summary_counts_directions_answers_and_talk() {
    let s = metrics::summary(&data(), &ctx(), &day());
    // Queue calls with a CDR that started on the day: support 120 + 10 + 15 + 5 + 3 + 2 + 2
    // + 1 (EXITEMPTY) + 1 (across midnight) = 159 (the one still waiting has no CDR yet),
    // sales 35, billing 4: 198, and the 5 first calls of the billing callbacks: all inbound.
    // Internal 40, outbound 10 + 3 call-backs from 1001 + the 7 callback calls Zvon placed
    // (bv-0 1, bv-1 2, bv-2 3, bv-3 1), 1 call-back from the caller (inbound), 32 IVR calls
    // (inbound). Feature codes: out.
    assert_eq!(s.calls, 198 + 5 + 40 + 10 + 3 + 7 + 1 + 32);
    assert_eq!(s.inbound, 198 + 5 + 1 + 32);
    assert_eq!(s.outbound, 10 + 3 + 7);
    assert_eq!(s.internal, 40);
    // Answered by a person: queue 120 + 1 + 30 + 2, internal 30, call-backs 3 (not the NO
    // ANSWER one), IVR 8 + 4, the callback calls alice answered (bv-0, bv-1's second).
    assert_eq!(s.answered, 153 + 30 + 3 + 12 + 2);
    assert_eq!(s.failed, 10);
    // The rest: queue 45, the callbacks' first calls 5 (Zvon answered them, nobody else),
    // internal 5 + 3 + 2, call-back 1, IVR 20, callback calls 5 (4 not answered, and bv-3's
    // that the customer answered and hung up before alice did).
    assert_eq!(s.missed, 45 + 5 + 10 + 1 + 20 + 5);
    assert_eq!(s.calls, s.answered + s.missed + s.failed);
    // Talk: block A 30·(60 + 90 + 120 + 150) = 12600, across midnight 60, sales 30·100, billing
    // 200 and 360 (the transferred call goes on with 1003 for 60 s after bob's 300), internal
    // Σ(30 + k, k < 30) = 1335, call-backs 120 + 90 + 30, IVR 8·45 + 4·50, callbacks 180 + 240.
    let talk = 12600 + 60 + 3000 + 200 + 360 + 1335 + 120 + 90 + 30 + 360 + 200 + 180 + 240;
    assert_eq!(talk, 18775);
    assert_eq!(s.talk_s, talk);
    assert_eq!(s.avg_talk_s, Some(18775.0 / 200.0));
}

#[test]
fn summary_and_calls_filters() {
    let d = data();
    let q = |f: Filter| metrics::summary(&d, &ctx(), &with(f));
    // billing: 4 calls, 2 answered (talk 200 + 360), 2 abandoned; the callbacks' 5 first calls
    // (queue:billing) and 7 callback calls (callback:billing, the unanswered ones without a
    // queue step), 2 of them answered (talk 180 + 240).
    let s = q(Filter {
        queue: Some("billing".into()),
        ..Filter::default()
    });
    assert_eq!(
        (s.calls, s.answered, s.missed, s.talk_s),
        (4 + 5 + 7, 2 + 2, 2 + 5 + 5, 560 + 420)
    );
    // bob answered 40 block-A calls, the one across midnight and 2 billing calls.
    let s = q(Filter {
        agent: Some("bob".into()),
        ..Filter::default()
    });
    assert_eq!((s.calls, s.answered), (43, 43));
    // 1006 (dave) answered the 30 sales calls.
    let s = q(Filter {
        extension: Some("1006".into()),
        ..Filter::default()
    });
    assert_eq!((s.calls, s.answered, s.talk_s), (30, 30, 3000));
    // +49307770000: the abandon and the call-back.
    let opt = with(Filter {
        number: Some("+49307770000".into()),
        ..Filter::default()
    });
    let calls = metrics::calls(&d, &ctx(), &opt);
    let ids: Vec<&str> = calls.iter().map(|c| c.cdr.uniqueid.as_str()).collect();
    assert_eq!(ids, ["sl-0", "cb-0"]);
    assert_eq!(calls[1].direction, super::facts::Direction::Outbound);
    assert_eq!(calls[1].talk_s, 120);
    // The whole day: every CDR that started on it, feature codes included.
    let opt = day();
    assert_eq!(metrics::calls(&d, &ctx(), &opt).len(), 296 + 2);
    // A callback call: outbound, linked to the first call, with the queue in its history.
    let opt = with(Filter {
        number: Some("+4950000011".into()),
        ..Filter::default()
    });
    let calls = metrics::calls(&d, &ctx(), &opt);
    let ids: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c.cdr.uniqueid.as_str(), c.cdr.linkedid.as_str()))
        .collect();
    assert_eq!(
        ids,
        [("bv-1", "bv-1"), ("bv-1.cb1", "bv-1"), ("bv-1.cb2", "bv-1")]
    );
    let dirs: Vec<_> = calls.iter().map(|c| (c.direction, c.talk_s)).collect();
    use super::facts::Direction::{Inbound, Outbound};
    assert_eq!(dirs, [(Inbound, 0), (Outbound, 0), (Outbound, 240)]);
}

#[test]
fn queues_offered_answered_abandoned_overflowed_sl_asa_aht_and_waits() {
    let rows = metrics::queues(&data(), &ctx(), &day());
    let names: Vec<&str> = rows.iter().map(|r| r.queue.as_str()).collect();
    // Configured queues are listed without calls; billing is not configured but had calls.
    assert_eq!(names, ["billing", "sales", "support", "vip"]);
    let q: BTreeMap<&str, &metrics::QueueRow> =
        rows.iter().map(|r| (r.queue.as_str(), r)).collect();

    // support, T = 20 s, S = 5 s.
    let s = &q["support"].stats;
    assert_eq!(q["support"].sl_threshold_s, 20);
    // 120 + 10 + 15 + 5 + 3 + 1 (EXITEMPTY) + 2 FULL + 2 JOINEMPTY + 1 waiting + 1 midnight.
    assert_eq!(s.offered, 160);
    assert_eq!(s.answered, 121);
    assert_eq!(s.abandoned, 15);
    assert_eq!(s.short_abandoned, 10);
    assert_eq!(s.overflowed, 5 + 3 + 1 + 2 + 2);
    // Holds ≤ 20: block A's 2, 8 and 16 s (i % 6 < 3: 60 calls) and the midnight call (15 s).
    assert_eq!(s.answered_in_sl, 61);
    assert_eq!(s.service_level(), Some(61.0 / 160.0));
    assert_eq!(s.abandon_rate(), Some(15.0 / 160.0));
    // Σ hold = 20·(2 + 8 + 16 + 24 + 32 + 40) + 15 = 2455.
    assert_eq!(s.asa_s(), Some(2455.0 / 121.0));
    // Σ (talk + wrap) = 12600 + 120·10 + 60 + 10 = 13870 over 121 calls that ended.
    assert_eq!(s.aht_s(), Some(13870.0 / 121.0));
    // Waits of the 155 visits that entered and ended (not FULL, JOINEMPTY, the waiting one):
    // 2×0 2×1 22×2 2×3 2×4 1×7 20×8 1×12 1×15 20×16 20×24 1×30 20×32 21×40 1×45 1×50 1×60
    // 1×61 1×70 … 1×170 (every 10) 5×300. Cumulative: ≤16 73, ≤24 93, ≤32 114, ≤40 135,
    // ≤61 139, ≤70 140, ≤140 147, ≤150 148.
    assert_eq!(s.waits.len(), 155);
    assert_eq!(s.longest_wait_s(), Some(300));
    // Nearest rank ⌈p·155/100⌉: p50 78th → 24, p80 124th → 40, p90 140th → 70,
    // p95 148th → 150.
    assert_eq!(s.wait_percentile(50), Some(24));
    assert_eq!(s.wait_percentile(80), Some(40));
    assert_eq!(s.wait_percentile(90), Some(70));
    assert_eq!(s.wait_percentile(95), Some(150));
    assert_eq!(s.wait_percentile(100), Some(300));
    assert_eq!(s.wait_percentile(0), Some(0));

    // sales, T = 30 s: holds 3k for k < 30, 5 abandons.
    let s = &q["sales"].stats;
    assert_eq!(
        (
            s.offered,
            s.answered,
            s.abandoned,
            s.short_abandoned,
            s.overflowed
        ),
        (35, 30, 5, 0, 0)
    );
    // 3k ≤ 30 for k = 0..=10.
    assert_eq!(s.answered_in_sl, 11);
    assert_eq!(s.service_level(), Some(11.0 / 35.0));
    assert_eq!(s.abandon_rate(), Some(5.0 / 35.0));
    // Σ 3k = 3·435.
    assert_eq!(s.asa_s(), Some(1305.0 / 30.0));
    assert_eq!(s.aht_s(), Some(105.0));
    // Sorted: 0 3 6 9 10 12 15 18 20 21 24 27 30 33 36 39 40 42 45 48 50 51 54 57 60 60 63 66
    // 69 72 75 78 81 84 87; ranks 18, 28, 32, 34.
    assert_eq!(s.longest_wait_s(), Some(87));
    let p: Vec<Option<u64>> = metrics::WAIT_PERCENTILES
        .iter()
        .map(|&p| s.wait_percentile(p))
        .collect();
    assert_eq!(p, [Some(42), Some(66), Some(78), Some(84)]);

    // billing: not configured, so T = 20 s. b-1..b-4 and the five callbacks bv-0..bv-4:
    // answered b-1, b-2 and by callback bv-0, bv-1; abandoned b-4 (50 s) and bv-3 (the
    // customer hung up after answering the callback; 325 s ≥ S), short b-3; overflowed bv-2
    // (CALLBACKFAILED) and bv-4 (EXITEMPTY).
    let s = &q["billing"].stats;
    assert_eq!(q["billing"].sl_threshold_s, 20);
    assert_eq!(
        (
            s.offered,
            s.answered,
            s.abandoned,
            s.short_abandoned,
            s.overflowed
        ),
        (4 + 5, 2 + 2, 1 + 1, 1, 2)
    );
    assert_eq!(
        (s.callbacks, s.callbacks_answered, s.callbacks_failed),
        (5, 2, 1)
    );
    // Holds 5, 25, 615 and 945 s: only b-1's is within T (a callback's hold is its whole wait).
    assert_eq!(s.answered_in_sl, 1);
    assert_eq!(s.service_level(), Some(1.0 / 9.0));
    assert_eq!(s.abandon_rate(), Some(2.0 / 9.0));
    assert_eq!(s.asa_s(), Some((5.0 + 25.0 + 615.0 + 945.0) / 4.0));
    // (200 + 10), (300 + 10: the wrap-up after the transfer, to WRAPUPEND), and the callbacks
    // (180 + 10), (240 + 10).
    assert_eq!(s.aht_s(), Some(960.0 / 4.0));
    // b-3 3, b-1 5, b-2 25, b-4 50, bv-4 240, bv-3 325, bv-0 615, bv-1 945, bv-2 990; ranks
    // ⌈p·9/100⌉ = 5, 8, 9, 9.
    assert_eq!(s.waits, [3, 5, 25, 50, 240, 325, 615, 945, 990]);
    assert_eq!(s.longest_wait_s(), Some(990));
    let p: Vec<Option<u64>> = metrics::WAIT_PERCENTILES
        .iter()
        .map(|&p| s.wait_percentile(p))
        .collect();
    assert_eq!(p, [Some(240), Some(945), Some(990), Some(990)]);
    // Support and sales had no callbacks.
    for q in [&q["support"].stats, &q["sales"].stats] {
        assert_eq!(
            (q.callbacks, q.callbacks_answered, q.callbacks_failed),
            (0, 0, 0)
        );
    }
    // offered = answered + abandoned + short_abandoned + overflowed + still waiting (support's
    // one).
    for (name, r) in &q {
        let s = &r.stats;
        let waiting = u64::from(*name == "support");
        assert_eq!(
            s.offered,
            s.answered + s.abandoned + s.short_abandoned + s.overflowed + waiting,
            "{name}"
        );
    }

    // vip: nothing happened; every rate is undefined.
    let s = &q["vip"].stats;
    assert_eq!((q["vip"].sl_threshold_s, s.offered), (10, 0));
    assert_eq!(
        (s.service_level(), s.asa_s(), s.aht_s()),
        (None, None, None)
    );
    assert_eq!((s.longest_wait_s(), s.wait_percentile(50)), (None, None));
}

#[test]
fn a_callback_is_one_visit_from_entering_to_its_end() {
    use super::facts::{Outcome, Overflow};
    let qf = super::facts::queue_facts(&data().events, day().now_ms);
    let v = |id: &str| qf.visits.iter().find(|v| v.call_id == id).unwrap();
    // (outcome, wait, attempts, answered by the customer at, agent)
    let want = [
        (
            "bv-0",
            Outcome::Answered,
            615,
            1,
            Some(t(15, 10, 10)),
            Some("alice"),
        ),
        (
            "bv-1",
            Outcome::Answered,
            945,
            2,
            Some(t(15, 35, 40)),
            Some("alice"),
        ),
        (
            "bv-2",
            Outcome::Overflowed(Overflow::CallbackFailed),
            990,
            3,
            None,
            None,
        ),
        ("bv-3", Outcome::Abandoned, 325, 1, Some(t(16, 5, 10)), None),
        (
            "bv-4",
            Outcome::Overflowed(Overflow::Empty),
            240,
            0,
            None,
            None,
        ),
    ];
    for (id, outcome, wait, attempts, answered, agent) in want {
        let v = v(id);
        assert_eq!(qf.visits.iter().filter(|w| w.call_id == id).count(), 1);
        assert_eq!((v.outcome, v.wait_s), (outcome, Some(wait)), "{id}");
        let cb = v.callback.as_ref().unwrap();
        assert_eq!(cb.number, v.caller, "{id}");
        assert_eq!(
            (cb.attempts, cb.answered_ms),
            (attempts, answered.map(|a| a * 1000)),
            "{id}"
        );
        assert_eq!(v.agent.as_deref(), agent, "{id}");
    }
    assert_eq!(
        v("bv-0").callback.as_ref().unwrap().requested_ms,
        t(15, 0, 40) * 1000
    );
    assert_eq!((v("bv-1").talk_s, v("bv-1").wrap_ms), (Some(240), 10_000));
    assert!(
        qf.visits
            .iter()
            .filter(|v| !v.call_id.starts_with("bv-"))
            .all(|v| v.callback.is_none())
    );
}

#[test]
fn the_short_abandon_threshold_moves_abandons_between_the_columns() {
    let opt = Options {
        short_abandon_s: 31,
        ..day()
    };
    let rows = metrics::queues(&data(), &ctx(), &opt);
    let s = &rows.iter().find(|r| r.queue == "support").unwrap().stats;
    // The 30 s abandon becomes short; 0 s is short even with S = 1.
    assert_eq!((s.abandoned, s.short_abandoned), (14, 11));
    let opt = Options {
        short_abandon_s: 0,
        ..day()
    };
    let rows = metrics::queues(&data(), &ctx(), &opt);
    let s = &rows.iter().find(|r| r.queue == "support").unwrap().stats;
    assert_eq!((s.abandoned, s.short_abandoned), (25, 0));
}

#[test]
fn a_day_without_its_neighbours_and_a_queue_filter() {
    // The day before holds one support abandon (23:50, 20 s) and erin's login.
    let opt = Options::new(
        Period {
            from: Some(DAY0 - DAY_S),
            to: Some(DAY0),
        },
        (DAY0 + DAY_S) * 1000,
    );
    let rows = metrics::queues(&data(), &ctx(), &opt);
    let s = &rows.iter().find(|r| r.queue == "support").unwrap().stats;
    assert_eq!((s.offered, s.abandoned), (1, 1));
    let rows = metrics::queues(
        &data(),
        &ctx(),
        &with(Filter {
            queue: Some("sales".into()),
            ..Filter::default()
        }),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].stats.offered, 35);
}

/// (offered, answered, abandoned, short abandoned, overflowed, answered in SL).
type Counts = (u64, u64, u64, u64, u64, u64);

#[test]
fn hourly_by_hour_of_day_and_weekday() {
    let rows = metrics::hourly(&data(), &ctx(), &day());
    assert_eq!(rows.len(), 24 + 7);
    let h = |hour: usize| &rows[hour].stats;
    // (offered, answered, abandoned, short, overflowed, answered in SL) per hour, from the
    // fixture's times. Block A: 20 calls an hour from 09 to 14, in SL 11 10 9 11 10 9 (i % 6
    // < 3 in each run of 20 starting at i % 6 = 0, 2, 4, 0, 2, 4).
    let want: [(usize, Counts); 11] = [
        (7, (2, 0, 0, 0, 2, 0)),      // JOINEMPTY ×2
        (9, (30, 20, 0, 10, 0, 11)),  // block A, 10 short abandons
        (10, (45, 32, 11, 0, 2, 21)), // + sales 12 (11 in SL) and 5 abandons, 6 abandons, FULL ×2
        (11, (46, 32, 9, 0, 5, 9)),   // + sales 12, 9 abandons, 5 timeouts
        (12, (26, 26, 0, 0, 0, 11)),  // + sales 6
        (13, (23, 20, 0, 0, 3, 10)),  // + 3 exit keys
        (14, (20, 20, 0, 0, 0, 9)),
        (15, (3, 2, 0, 0, 1, 0)), // callbacks bv-0, bv-1 answered, bv-2 failed
        (16, (1, 0, 1, 0, 0, 0)), // callback bv-3 abandoned after answering
        (17, (6, 2, 1, 1, 2, 1)), // billing 4, EXITEMPTY, callback bv-4 (EXITEMPTY)
        (23, (2, 1, 0, 0, 0, 1)), // across midnight, still waiting
    ];
    for (hour, (o, a, ab, sh, ov, sl)) in want {
        let s = h(hour);
        assert_eq!(
            (
                s.offered,
                s.answered,
                s.abandoned,
                s.short_abandoned,
                s.overflowed,
                s.answered_in_sl
            ),
            (o, a, ab, sh, ov, sl),
            "hour {hour}"
        );
    }
    for hour in [0, 1, 2, 3, 4, 5, 6, 8, 18, 19, 20, 21, 22] {
        assert_eq!(h(hour).offered, 0, "hour {hour}");
        assert_eq!(h(hour).service_level(), None);
    }
    assert_eq!(h(10).service_level(), Some(21.0 / 45.0));
    assert_eq!(h(10).abandon_rate(), Some(11.0 / 45.0));
    // Callbacks requested / answered by the hour the visit entered: bv-0..bv-2 at 15 (two
    // answered), bv-3 at 16 (abandoned after answering), bv-4 at 17 (EXITEMPTY); none else.
    for hour in 0..24 {
        let want = match hour {
            15 => (3, 2),
            16 | 17 => (1, 0),
            _ => (0, 0),
        };
        let s = h(hour);
        assert_eq!((s.callbacks, s.callbacks_answered), want, "hour {hour}");
    }
    assert_eq!(rows[9].slot, "09");
    // Monday has everything: 160 + 35 + 9 visits; answered 121 + 30 + 4; in SL 61 + 11 + 1.
    let mon = &rows[24];
    assert_eq!((mon.by, mon.slot.as_str()), ("weekday", "Mon"));
    assert_eq!(
        (
            mon.stats.offered,
            mon.stats.answered,
            mon.stats.answered_in_sl
        ),
        (204, 155, 73)
    );
    assert_eq!(
        (
            mon.stats.abandoned,
            mon.stats.short_abandoned,
            mon.stats.overflowed
        ),
        (22, 11, 15)
    );
    assert_eq!(
        (
            mon.stats.callbacks,
            mon.stats.callbacks_answered,
            mon.stats.callbacks_failed
        ),
        (5, 2, 1)
    );
    assert!(rows[25..].iter().all(|r| r.stats.offered == 0));
    let g = metrics::arrivals_grid(&super::facts::queue_facts(&data().events, 0), &day());
    assert_eq!(g[0][10], 45);
    assert_eq!(g.iter().flatten().sum::<u64>(), 204);
}

#[test]
fn agents_offers_answers_times_pauses_and_occupancy() {
    let rows = metrics::agents(&data(), &ctx(), &day());
    let names: Vec<&str> = rows.iter().map(|r| r.agent.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave", "erin"]);
    let a: BTreeMap<&str, &metrics::AgentRow> =
        rows.iter().map(|r| (r.agent.as_str(), r)).collect();
    const H: i64 = 3_600_000;
    const S: i64 = 1000;

    // alice: block A calls i ≡ 0 (mod 3), 40 of them; i = 3j runs through i % 4 = 0, 3, 2, 1,
    // so each talk time 10 times: 10·420 = 4200 s; wrap-up 400 s. Offered 40 + the 20 calls
    // with i % 6 = 5 (all carol's), which she missed. Logged in 08:30–17:30, paused 4 min.
    // The billing callbacks: kept for 1 + 2 + 3 + 1 attempts; offered bv-0, bv-1 and bv-3
    // (withdrawn when the customer hung up: not missed), answered bv-0 (180 s + 10 s wrap-up)
    // and bv-1 (240 s + 10 s). The time kept for an attempt is not busy.
    let r = a["alice"];
    assert_eq!(
        (r.name.as_str(), r.extension.as_str()),
        ("Alice Archer", "1001")
    );
    assert_eq!((r.offers, r.answered, r.missed), (60 + 3, 40 + 2, 20));
    assert_eq!(r.callback_attempts, 7);
    assert_eq!((r.talk_ms, r.wrap_ms), (4620 * S, 420 * S));
    assert_eq!(r.aht_s(), Some(5040.0 / 42.0));
    assert_eq!(r.paused_ms, BTreeMap::from([("2".to_owned(), 240 * S)]));
    assert_eq!(r.logged_in_ms, 9 * H);
    assert_eq!(r.occupancy(), Some(5040.0 / (32400.0 - 240.0)));
    assert!(
        rows.iter()
            .all(|r| r.agent == "alice" || r.callback_attempts == 0)
    );

    // bob: block A i ≡ 1 (mod 3), 40 calls, 4200 s + 400 s; billing 200 + 10 and 300 + 10.
    // The call across midnight is answered the next day: not his today. Logged in
    // 08:30–17:30 (billing 16:50–17:30 inside it) and 23:59–24:00.
    let r = a["bob"];
    assert_eq!((r.offers, r.answered, r.missed), (42, 42, 0));
    assert_eq!((r.talk_ms, r.wrap_ms), (4700 * S, 420 * S));
    assert_eq!(r.aht_s(), Some(5120.0 / 42.0));
    assert_eq!(r.paused_ms, BTreeMap::from([(String::new(), 240 * S)]));
    assert_eq!(r.logged_in_ms, 9 * H + 60 * S);
    assert_eq!(r.occupancy(), Some(5120.0 / (32460.0 - 240.0)));

    // carol: i ≡ 2 (mod 3), 40 calls, autopaused 15 min after her last call.
    let r = a["carol"];
    assert_eq!((r.offers, r.answered, r.missed), (40, 40, 0));
    assert_eq!((r.talk_ms, r.wrap_ms), (4200 * S, 400 * S));
    assert_eq!(
        r.paused_ms,
        BTreeMap::from([("autopause".to_owned(), 900 * S)])
    );
    assert_eq!(r.occupancy(), Some(4600.0 / (32400.0 - 900.0)));

    // dave: a static member, logged in from his first event (the offer at 10:00:00) to his
    // logout at 12:45: 9900 s. 30 calls of 100 s, wrap-up 5 s.
    let r = a["dave"];
    assert_eq!((r.offers, r.answered, r.missed), (30, 30, 0));
    assert_eq!((r.talk_ms, r.wrap_ms), (3000 * S, 150 * S));
    assert_eq!(r.aht_s(), Some(105.0));
    assert!(r.paused_ms.is_empty());
    assert_eq!(r.logged_in_ms, 9900 * S);
    assert_eq!(r.occupancy(), Some(3150.0 / 9900.0));

    // erin: not configured (extension from ADDMEMBER); logged in and paused from before the
    // day to 01:00: an hour of each inside the day, never staffed.
    let r = a["erin"];
    assert_eq!((r.name.as_str(), r.extension.as_str()), ("", "1005"));
    assert_eq!((r.offers, r.answered, r.talk_ms), (0, 0, 0));
    assert_eq!(r.paused_ms, BTreeMap::from([("3".to_owned(), H)]));
    assert_eq!(r.logged_in_ms, H);
    assert_eq!((r.aht_s(), r.occupancy()), (None, None));
}

#[test]
fn agents_of_one_queue_and_one_agent() {
    let d = data();
    let rows = metrics::agents(
        &d,
        &ctx(),
        &with(Filter {
            queue: Some("billing".into()),
            ..Filter::default()
        }),
    );
    let bob = rows.iter().find(|r| r.agent == "bob").unwrap();
    // Logged in to billing 16:50–17:30; the two billing calls.
    assert_eq!(
        (bob.offers, bob.answered, bob.logged_in_ms),
        (2, 2, 2400 * 1000)
    );
    assert_eq!((bob.talk_ms, bob.wrap_ms), (500_000, 20_000));
    // alice: the billing callbacks only.
    let alice = rows.iter().find(|r| r.agent == "alice").unwrap();
    assert_eq!(
        (alice.offers, alice.answered, alice.callback_attempts),
        (3, 2, 7)
    );
    assert_eq!((alice.talk_ms, alice.wrap_ms), (420_000, 20_000));
    assert_eq!(alice.logged_in_ms, 9 * 3_600_000);
    let rows = metrics::agents(
        &d,
        &ctx(),
        &with(Filter {
            agent: Some("carol".into()),
            ..Filter::default()
        }),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].answered, 40);
    // Noon to 13:00: carol's calls entering 12:00–12:57 (i = 60..80, i ≡ 2 mod 3: 62 … 77,
    // 6 calls) are hers; her time is cut at the period's edges.
    let opt = Options::new(
        Period {
            from: Some(t(12, 0, 0)),
            to: Some(t(13, 0, 0)),
        },
        0,
    );
    let rows = metrics::agents(&d, &ctx(), &opt);
    let carol = rows.iter().find(|r| r.agent == "carol").unwrap();
    assert_eq!((carol.answered, carol.logged_in_ms), (6, 3_600_000));
}

#[test]
fn abandoned_lists_who_to_call_back() {
    let rows = metrics::abandoned(&data(), &day());
    let numbers: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
    // Short abandons 1–4, then k = 0's number again (its second abandon at 09:16:30), 6–9;
    // sales 0–4; support abandons 2, 3 and 5–14 (0 was called back at 16:00, 1 called again
    // and was answered at 16:10; 2's call-back was before the abandon, 3's was not answered;
    // 4 asked billing for a callback and answered it at 15:10:10); billing bv-3 (the customer
    // answered the callback, then hung up at 16:05:25 before alice answered), 3 and 4. The
    // callers who asked for a callback and hung up did not abandon.
    let mut want: Vec<String> = Vec::new();
    want.extend((1..5).map(|k| format!("+4930666{k:04}")));
    want.push("+49306660000".into());
    want.extend((6..10).map(|k| format!("+4930666{k:04}")));
    want.extend((0..5).map(|k| format!("+4940200{k:04}")));
    want.extend(
        (2..15)
            .filter(|&k| k != 4)
            .map(|k| format!("+4930777{k:04}")),
    );
    want.extend(["+4950000013", "+4950000003", "+4950000004"].map(str::to_owned));
    assert_eq!(numbers, want);
    let bv3 = rows.iter().find(|r| r.number == "+4950000013").unwrap();
    assert_eq!(
        (bv3.queue.as_str(), bv3.waited_s, bv3.last_ms),
        ("billing", 325, t(16, 5, 25) * 1000)
    );
    let twice = &rows[4];
    assert_eq!((twice.abandons, twice.last_ms), (2, t(9, 16, 30) * 1000));
    assert_eq!((twice.queue.as_str(), twice.waited_s), ("support", 0));
    let last = rows.last().unwrap();
    assert_eq!(
        (last.queue.as_str(), last.waited_s, last.last_ms),
        ("billing", 50, t(17, 25, 50) * 1000)
    );
    // Without the later CDRs (a period that ends before the call-backs), 0 and 1 are listed;
    // 4 is not: the queue log has the CALLBACKANSWER.
    let mut d = data();
    d.answered.retain(|a| (a.2 as i64) < t(12, 0, 0));
    let rows = metrics::abandoned(&d, &day());
    assert_eq!(rows.len(), 29 + 2);
    assert!(rows.iter().all(|r| r.number != "+49307770004"));
    // Without that either, 4 is listed too.
    d.events.retain(|e| e.event != "CALLBACKANSWER");
    let rows = metrics::abandoned(&d, &day());
    assert_eq!(rows.len(), 29 + 3);
    assert!(rows.iter().any(|r| r.number == "+49307770004"));
    let only = metrics::abandoned(
        &data(),
        &with(Filter {
            number: Some("+49306660000".into()),
            ..Filter::default()
        }),
    );
    assert_eq!(only.len(), 1);
}

#[test]
fn ivr_nodes_inputs_next_steps_and_drop_outs() {
    let rows = metrics::ivr(&data(), &day());
    let key = |r: &metrics::IvrRow| (r.flow.clone(), r.node.clone());
    let keys: Vec<(String, String)> = rows.iter().map(key).collect();
    let k = |f: &str, n: &str| (f.to_owned(), n.to_owned());
    assert_eq!(
        keys,
        [
            k("after_hours", "closed"),
            k("main", "billing_menu"),
            k("main", "menu"),
            k("main", "welcome")
        ]
    );
    let m = |v: &[(&str, u64)]| -> BTreeMap<String, u64> {
        v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    assert_eq!(
        (rows[0].visits, &rows[0].next, rows[0].dropped),
        (2, &m(&[("hangup", 2)]), 0)
    );
    assert_eq!((rows[1].visits, &rows[1].inputs), (6, &m(&[("9", 6)])));
    assert_eq!(rows[1].next, m(&[("voicemail:1004", 6)]));
    // menu: reached by 10 + 6 + 5 + 4 + 3 + 2 = 30 calls; keys 1 (10 + 4), 3 (6), 4 (2),
    // timeouts 5·3 + 4; 3 callers hung up there.
    let menu = &rows[2];
    assert_eq!(menu.visits, 30);
    assert_eq!(
        menu.inputs,
        m(&[("1", 14), ("3", 6), ("4", 2), ("timeout", 19)])
    );
    assert_eq!(
        menu.next,
        m(&[
            ("billing_menu", 6),
            ("extension:1002", 14),
            ("hangup", 5),
            ("ivr:after_hours", 2)
        ])
    );
    assert_eq!(menu.dropped, 3);
    let welcome = &rows[3];
    assert_eq!((welcome.visits, welcome.dropped), (32, 2));
    assert_eq!(welcome.next, m(&[("menu", 30)]));
    assert!(welcome.inputs.is_empty());
}

#[test]
fn forecast_from_the_fixture_day() {
    use super::forecast::{self, Mode};
    let qf = super::facts::queue_facts(&data().events, 0);
    let h = forecast::history(&qf, &day()).unwrap();
    // One Monday.
    assert_eq!(h.days, [1, 0, 0, 0, 0, 0, 0]);
    // 09:00–09:30: block A i = 0..10 and 10 short abandons.
    assert_eq!(h.arrivals[0][18], 20);
    assert_eq!(h.arrivals.iter().flatten().sum::<u64>(), 204);
    // (13870 + 3150 + 520 + 440) / 155 answered calls that ended (440: the two callbacks).
    assert_eq!(h.aht_s, Some(17980.0 / 155.0));
    let mode = Mode::Target {
        service_level: 0.8,
        t_s: 20.0,
    };
    let week = forecast::typical_week(&h, 180.0, mode);
    let nine = week.iter().find(|s| s.slot == Some(18)).unwrap();
    // 20 calls × 180 s / 1800 s = 2 Erlangs: 3 agents give SL 1 − 4/9·e^(−1/9) = 0.6023
    // (C = 4/9), 4 give 1 − 4/23·e^(−2/9) = 0.8607 with ASA (4/23)·180/2 = 15.7 s.
    assert_eq!(
        (nine.calls, nine.staffing.erlangs, nine.staffing.agents),
        (20.0, 2.0, 4)
    );
    let three = forecast::evaluate(2.0, 180.0, 3, 20.0);
    assert!((three.wait_probability - 4.0 / 9.0).abs() < 1e-15);
    assert!((three.service_level - (1.0 - 4.0 / 9.0 * (-1.0f64 / 9.0).exp())).abs() < 1e-15);
    // Only the half-hours with calls: 07:00, 07:30, 09:00 … 16:00, 17:00, 23:30.
    let slots: Vec<usize> = week.iter().map(|s| s.slot.unwrap()).collect();
    assert_eq!(
        slots,
        [
            14, 15, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 47
        ]
    );
    assert!(forecast::history(&qf, &Options::new(Period::ALL, 0)).is_err());
}

#[test]
fn without_a_configuration_the_numbers_that_answered_stand_in_for_extensions() {
    let d = data();
    let s = metrics::summary(&d, &Context::default(), &day());
    // 1001 and 1002 answered calls, so the internal calls stay internal. The limit: the far
    // ends that answered the two call-backs (+49307770000, +49307770002) count as ours, so
    // the call-backs and those two callers' abandoned queue calls look internal too. The
    // callback calls Zvon placed stay outbound.
    assert_eq!(
        (s.inbound, s.outbound, s.internal),
        (236 - 2, 11 + 7, 40 + 2 + 2)
    );
    // Without configured queues only those with calls are listed, all at T = 20 s.
    let rows = metrics::queues(&d, &Context::default(), &day());
    let t: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| (r.queue.as_str(), r.sl_threshold_s))
        .collect();
    assert_eq!(t, [("billing", 20), ("sales", 20), ("support", 20)]);
}

/// Every report of the fixture day in every format, exactly, against the files in
/// `tests/data/report/` (reviewed against the hand-worked numbers above when written). After
/// a deliberate change, `ZVON_BLESS=1 cargo test --lib report::kpi_tests::golden` rewrites
/// them; review the diff.
#[test]
fn golden_outputs_of_every_report_in_every_format() {
    use super::forecast;
    use super::render::Format;
    use super::tables::{self, Kind};
    let d = data();
    let billing = Filter {
        queue: Some("billing".into()),
        ..Filter::default()
    };
    let qf = super::facts::queue_facts(&d.events, day().now_ms);
    let req = forecast::Request {
        target: (0.8, 20.0),
        agents: None,
        aht_s: Some(180.0),
        calls: None,
    };
    let tables = [
        ("summary", tables::build(Kind::Summary, &d, &ctx(), &day())),
        ("queues", tables::build(Kind::Queues, &d, &ctx(), &day())),
        ("agents", tables::build(Kind::Agents, &d, &ctx(), &day())),
        ("hourly", tables::build(Kind::Hourly, &d, &ctx(), &day())),
        (
            "calls-billing",
            tables::build(Kind::Calls, &d, &ctx(), &with(billing)),
        ),
        (
            "abandoned",
            tables::build(Kind::Abandoned, &d, &ctx(), &day()),
        ),
        ("ivr", tables::build(Kind::Ivr, &d, &ctx(), &day())),
        ("forecast", req.typical_week(&qf, &day()).unwrap()),
    ];
    let kinds = [
        Some(Kind::Summary),
        Some(Kind::Queues),
        Some(Kind::Agents),
        Some(Kind::Hourly),
        Some(Kind::Calls),
        Some(Kind::Abandoned),
        Some(Kind::Ivr),
        None,
    ];
    let bless = std::env::var_os("ZVON_BLESS").is_some();
    for ((name, table), kind) in tables.into_iter().zip(kinds) {
        let formats = [
            ("txt", Format::Table),
            ("csv", Format::Csv),
            ("json", Format::Json),
            ("html", Format::Html),
        ];
        for (ext, format) in formats {
            let file = format!("data/report/{name}.{ext}");
            let got = match (format, kind) {
                // The dashboard and the hourly charts come from the records, not the table.
                (Format::Html, Some(k)) => {
                    let opt = if name == "calls-billing" {
                        with(Filter {
                            queue: Some("billing".into()),
                            ..Filter::default()
                        })
                    } else {
                        day()
                    };
                    let got = tables::render(k, &d, &ctx(), &opt, format);
                    let own = matches!(k, Kind::Summary | Kind::Hourly);
                    assert_eq!(got == table.render(format), !own, "{name}");
                    got
                }
                _ => table.render(format),
            };
            if format == Format::Html {
                super::html::tests::assert_self_contained(&got);
            }
            if bless {
                std::fs::write(crate::testkit::data::path(&file), &got).unwrap();
                continue;
            }
            let want = String::from_utf8(crate::testkit::data::read(&file)).unwrap();
            assert!(
                got == want,
                "{file} differs:\n--- got\n{got}\n--- want\n{want}"
            );
        }
    }
}

/// The fixture written to a database, then every report read back both ways: streamed by
/// [`super::load`] (events and CDRs folded as they are read) and from the records kept whole
/// (the reference). The two must render byte for byte the same.
#[test]
fn streamed_reports_equal_the_reports_of_the_kept_records() {
    use super::render::Format;
    use super::tables::Kind;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("zvon.db");
    let f = fixture::build();
    let st = store::Store::open(&db).unwrap();
    for c in &f.cdrs {
        st.sender()
            .send(store::StoreCommand::Cdr(Box::new(c.clone())))
            .unwrap();
    }
    for e in &f.events {
        st.sender()
            .send(store::StoreCommand::QueueEvent(e.clone()))
            .unwrap();
    }
    st.close().unwrap();
    let periods = [
        day().period,
        Period::ALL,
        Period {
            from: Some(DAY0 + 9 * 3600),
            to: Some(DAY0 + 13 * 3600),
        },
    ];
    let filters = [
        Filter::default(),
        Filter {
            queue: Some("support".into()),
            ..Filter::default()
        },
        Filter {
            agent: Some(fixture::AGENTS[0].0.into()),
            number: Some("+49305550003".into()),
            ..Filter::default()
        },
    ];
    let kinds = [
        Kind::Summary,
        Kind::Queues,
        Kind::Agents,
        Kind::Hourly,
        Kind::Calls,
        Kind::Abandoned,
        Kind::Ivr,
    ];
    for cx in [ctx(), Context::default()] {
        for period in periods {
            for filter in &filters {
                let opt = Options {
                    period,
                    filter: filter.clone(),
                    ..day()
                };
                let (lo, hi) = (period.from, period.to);
                let kept = Dataset {
                    answered: store::answered_calls_since(&db, lo).unwrap(),
                    ..Dataset::from_records(
                        store::cdrs_between(&db, lo, hi, store::CdrLegs::FirstAnswered).unwrap(),
                        store::queue_events(
                            &db,
                            lo.map(|f| (f - super::LOOKBACK_S) * 1000),
                            hi.map(|t| (t + super::LOOKAHEAD_S) * 1000),
                        )
                        .unwrap(),
                    )
                };
                for format in [Format::Csv, Format::Json] {
                    let mut out = Vec::new();
                    super::write_calls(&db, &cx, &opt, format, &mut out).unwrap();
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        super::tables::render(Kind::Calls, &kept, &cx, &opt, format),
                        "write_calls {format:?} {period:?} {filter:?}"
                    );
                }
                for kind in kinds {
                    for format in [Format::Csv, Format::Json, Format::Html] {
                        let needs = super::Needs::of(kind, format);
                        let streamed = super::load(&db, needs, &cx, &opt).unwrap();
                        assert_eq!(
                            super::tables::render(kind, &streamed, &cx, &opt, format),
                            super::tables::render(kind, &kept, &cx, &opt, format),
                            "{kind:?} {format:?} {period:?} {filter:?}"
                        );
                    }
                }
            }
        }
    }
}
