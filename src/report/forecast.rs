//! Staffing with Erlang C (M/M/N: Poisson arrivals, exponential handle times, no abandons).
//!
//! For traffic `A = λ · AHT` Erlangs (λ calls per second) and `N` agents:
//!
//! ```text
//! B(0) = 1,  B(k) = A·B(k−1) / (k + A·B(k−1))          Erlang B, the recursion
//! C    = N·B(N) / (N − A·(1 − B(N)))       (N > A)      probability that a call waits
//! SL(t) = 1 − C · e^(−(N − A)·t / AHT)                  answered within t seconds
//! ASA  = C · AHT / (N − A)                              average speed of answer
//! occupancy = A / N
//! ```
//!
//! The recursion needs no factorials or powers (A^N / N! overflows an f64 from N ≈ 170) and
//! every step stays in (0, 1], so it is exact to rounding for thousands of agents. With
//! `N ≤ A` the queue grows without bound: C = 1, SL = 0, ASA unbounded (`None`).
//!
//! The forecast: arrivals per half-hour of each weekday, averaged over the weeks of the
//! history period, and the AHT of the period (or `--aht`), give `A` for each half-hour of a
//! typical week; [`required`] is the fewest agents reaching the target service level,
//! [`evaluate`] what `N` agents would achieve.

use super::facts::QueueFacts;
use super::metrics::{self, Options};
use super::period::{self, Period};
use super::render::{Cell, Table};

/// Erlang B blocking probability of `a` Erlangs offered to `n` servers.
pub fn erlang_b(a: f64, n: u32) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C: the probability that a call waits, for `a` Erlangs and `n` agents (1 when
/// `n ≤ a`).
pub fn erlang_c(a: f64, n: u32) -> f64 {
    if f64::from(n) <= a {
        return 1.0;
    }
    from_b(a, n, erlang_b(a, n))
}

fn from_b(a: f64, n: u32, b: f64) -> f64 {
    let n = f64::from(n);
    n * b / (n - a * (1.0 - b))
}

/// What `agents` agents achieve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Staffing {
    pub agents: u32,
    /// Offered traffic A, Erlangs.
    pub erlangs: f64,
    /// C: the probability that a call waits.
    pub wait_probability: f64,
    /// SL(t) for the target time t.
    pub service_level: f64,
    /// ASA, seconds; `None` when N ≤ A (unbounded).
    pub asa_s: Option<f64>,
    /// A / N (1 when N ≤ A; 0 without agents or calls).
    pub occupancy: f64,
}

fn staffing(a: f64, aht_s: f64, n: u32, b: f64, t: f64) -> Staffing {
    if a <= 0.0 {
        return Staffing {
            agents: n,
            erlangs: 0.0,
            wait_probability: 0.0,
            service_level: 1.0,
            asa_s: Some(0.0),
            occupancy: 0.0,
        };
    }
    let nf = f64::from(n);
    if nf <= a {
        return Staffing {
            agents: n,
            erlangs: a,
            wait_probability: 1.0,
            service_level: 0.0,
            asa_s: None,
            occupancy: if n == 0 { 0.0 } else { 1.0 },
        };
    }
    let c = from_b(a, n, b);
    Staffing {
        agents: n,
        erlangs: a,
        wait_probability: c,
        service_level: 1.0 - c * (-(nf - a) * t / aht_s).exp(),
        asa_s: Some(c * aht_s / (nf - a)),
        occupancy: a / nf,
    }
}

/// What `n` agents achieve for `a` Erlangs of calls of `aht_s` seconds, with service level
/// measured at `t_s` seconds.
pub fn evaluate(a: f64, aht_s: f64, n: u32, t_s: f64) -> Staffing {
    staffing(a, aht_s, n, erlang_b(a, n), t_s)
}

/// The fewest agents with SL(`t_s`) ≥ `target` (a fraction below 1).
pub fn required(a: f64, aht_s: f64, target: f64, t_s: f64) -> Staffing {
    if a <= 0.0 {
        return staffing(0.0, aht_s, 0, 1.0, t_s);
    }
    // Start at the first stable N and walk up, carrying B(N) along.
    let mut n = (a.floor() as u32).saturating_add(1);
    let mut b = erlang_b(a, n);
    loop {
        let s = staffing(a, aht_s, n, b, t_s);
        // A bound that is never reached for sane inputs (SL → 1 as N grows), so NaN input
        // cannot loop forever.
        if s.service_level >= target || !s.service_level.is_finite() || n == u32::MAX {
            return s;
        }
        n += 1;
        b = a * b / (f64::from(n) + a * b);
    }
}

/// Half-hours in a day.
pub const SLOTS: usize = 48;
/// Seconds in a slot.
pub const SLOT_S: f64 = 1800.0;

/// What the history says about a typical week.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Offered queue visits per local weekday (Mon = 0) and local half-hour of the
    /// options' time zone, by the wall clock: on the day clocks go forward the skipped
    /// half-hours get no calls, on the day they go back the repeated ones get the calls of
    /// both passes.
    pub arrivals: [[u64; SLOTS]; 7],
    /// How many of each local weekday the period holds (a day partly inside counts).
    pub days: [u32; 7],
    /// AHT of the answered calls that ended (talk + wrap-up), seconds.
    pub aht_s: Option<f64>,
}

/// The history of the (bounded) period in `opt` (filters: `--queue`).
pub fn history(qf: &QueueFacts, opt: &Options) -> Result<History, String> {
    let (Some(from), Some(to)) = (opt.period.from, opt.period.to) else {
        return Err("the forecast needs a bounded history period (--from and --to)".into());
    };
    let mut h = History {
        arrivals: [[0; SLOTS]; 7],
        days: [0; 7],
        aht_s: None,
    };
    for wd in period::local_weekdays(from, to, &opt.tz) {
        h.days[wd] += 1;
    }
    let mut stats = metrics::VisitStats::default();
    for v in metrics::visits_in(qf, opt) {
        let t = v.entered_ms.div_euclid(1000);
        h.arrivals[period::weekday(t, &opt.tz)][period::half_hour(t, &opt.tz)] += 1;
        if let (Some(talk), true) = (v.talk_s, v.outcome == super::facts::Outcome::Answered) {
            stats.handled += 1;
            stats.handle_ms += talk as i64 * 1000 + v.wrap_ms;
        }
    }
    h.aht_s = stats.aht_s();
    Ok(h)
}

/// `--target P/T` (staff for it) or `--agents N` (what N achieves, SL measured at T).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Target { service_level: f64, t_s: f64 },
    Agents { agents: u32, t_s: f64 },
}

impl Mode {
    fn run(self, a: f64, aht_s: f64) -> Staffing {
        match self {
            Mode::Target { service_level, t_s } => required(a, aht_s, service_level, t_s),
            Mode::Agents { agents, t_s } => evaluate(a, aht_s, agents, t_s),
        }
    }
}

/// One half-hour of the typical week (or the one interval of `--calls`).
#[derive(Clone, Debug, PartialEq)]
pub struct SlotForecast {
    /// Monday = 0; `None` for `--calls`.
    pub weekday: Option<usize>,
    /// Half-hour index 0..48; `None` for `--calls`.
    pub slot: Option<usize>,
    /// Average calls in the interval.
    pub calls: f64,
    pub aht_s: f64,
    pub staffing: Staffing,
}

/// The half-hours of a typical week that had calls, Monday 00:00 first.
pub fn typical_week(h: &History, aht_s: f64, mode: Mode) -> Vec<SlotForecast> {
    let mut out = Vec::new();
    for (wd, slots) in h.arrivals.iter().enumerate() {
        if h.days[wd] == 0 {
            continue;
        }
        for (slot, &n) in slots.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let calls = n as f64 / f64::from(h.days[wd]);
            out.push(SlotForecast {
                weekday: Some(wd),
                slot: Some(slot),
                calls,
                aht_s,
                staffing: mode.run(calls * aht_s / SLOT_S, aht_s),
            });
        }
    }
    out
}

/// `calls` calls in `interval_s` seconds.
pub fn single(calls: f64, interval_s: f64, aht_s: f64, mode: Mode) -> SlotForecast {
    SlotForecast {
        weekday: None,
        slot: None,
        calls,
        aht_s,
        staffing: mode.run(calls * aht_s / interval_s, aht_s),
    }
}

pub const FORECAST_COLUMNS: &[&str] = &[
    "weekday",
    "time",
    "calls",
    "aht_s",
    "erlangs",
    "agents",
    "wait_probability",
    "service_level",
    "asa_s",
    "occupancy",
];

/// The forecast as a table; `period` is the history (none for `--calls`), `parameters`
/// describe how it was made.
pub fn table(
    rows: &[SlotForecast],
    period: Option<Period>,
    tz: Option<jiff::tz::TimeZone>,
    parameters: Vec<(&'static str, Cell)>,
) -> Table {
    Table {
        report: "forecast",
        period,
        tz,
        parameters,
        columns: FORECAST_COLUMNS.to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                let s = &r.staffing;
                vec![
                    r.weekday
                        .map_or(Cell::Null, |w| Cell::Text(period::WEEKDAYS[w].into())),
                    r.slot.map_or(Cell::Null, |s| {
                        Cell::Text(format!("{:02}:{:02}", s / 2, s % 2 * 30))
                    }),
                    Cell::Num(r.calls, 2),
                    Cell::Avg(Some(r.aht_s)),
                    Cell::Num(s.erlangs, 3),
                    Cell::Int(i64::from(s.agents)),
                    Cell::Rate(Some(s.wait_probability)),
                    Cell::Rate(Some(s.service_level)),
                    Cell::Avg(s.asa_s),
                    Cell::Rate(Some(s.occupancy)),
                ]
            })
            .collect(),
    }
}

/// The target `zvon forecast` staffs for without `--target`, and the HTML dashboard's:
/// 80 % of the calls answered within 20 s.
pub const DEFAULT_TARGET: (f64, f64) = (0.8, 20.0);

/// What `zvon forecast` was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// `--target P/T` as (fraction, seconds).
    pub target: (f64, f64),
    /// `--agents N`.
    pub agents: Option<u32>,
    /// `--aht SECS`.
    pub aht_s: Option<f64>,
    /// `--calls N` in `--interval SECS`: no history.
    pub calls: Option<(f64, f64)>,
}

impl Request {
    fn mode(&self) -> Mode {
        let (service_level, t_s) = self.target;
        match self.agents {
            Some(agents) => Mode::Agents { agents, t_s },
            None => Mode::Target { service_level, t_s },
        }
    }

    fn parameters(&self) -> Vec<(&'static str, Cell)> {
        let mut p = match self.agents {
            Some(n) => vec![("agents", Cell::Int(i64::from(n)))],
            None => vec![("target_service_level", Cell::Rate(Some(self.target.0)))],
        };
        p.push(("answer_time_s", Cell::Avg(Some(self.target.1))));
        p
    }

    /// `--calls`: one interval, no history.
    pub fn single(&self) -> Option<Table> {
        let (calls, interval) = self.calls?;
        let aht = self.aht_s.unwrap_or(0.0);
        let mut params = self.parameters();
        params.push(("interval_s", Cell::Avg(Some(interval))));
        Some(table(
            &[single(calls, interval, aht, self.mode())],
            None,
            None,
            params,
        ))
    }

    /// The typical week from the queue facts of the history period in `opt` (`--queue` in its
    /// filter). Fails without a bounded period, or without an AHT (none given, no answered
    /// calls in the history).
    pub fn typical_week(&self, qf: &QueueFacts, opt: &Options) -> Result<Table, String> {
        let h = history(qf, opt)?;
        let Some(aht) = self.aht_s.or(h.aht_s) else {
            return Err(
                "no answered queue calls in the history period to take the AHT from: \
                        give --aht SECS or another period"
                    .into(),
            );
        };
        let mut params = self.parameters();
        params.push(("aht_s", Cell::Avg(Some(aht))));
        if let Some(q) = &opt.filter.queue {
            params.push(("queue", Cell::Text(q.clone())));
        }
        let rows = typical_week(&h, aht, self.mode());
        Ok(table(&rows, Some(opt.period), Some(opt.tz.clone()), params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four significant figures.
    fn sig4(x: f64) -> String {
        format!("{:.3e}", x)
    }

    fn close(got: f64, want: f64) {
        assert_eq!(sig4(got), sig4(want), "got {got}, want {want}");
        assert!(((got - want) / want).abs() < 1e-9, "got {got}, want {want}");
    }

    // Reference values: the textbook factorial form of Erlang C evaluated in exact rational
    // arithmetic (Python `fractions`), e^x in 60-digit `decimal`, printed to 12 digits.
    // The first case is the worked example of callcentrehelper.com ("Erlang C formula —
    // example", 100 calls in 30 minutes, AHT 180 s, 80/20) that pyworkforce's tests
    // reproduce: 14 agents, P(wait) 0.174, occupancy 0.714.

    #[test]
    fn erlang_c_matches_the_worked_example_100_calls_per_half_hour() {
        let a = 100.0 * 180.0 / 1800.0;
        assert_eq!(a, 10.0);
        let want = [
            // N, P(wait), SL(20 s), ASA s
            (11, 0.682118204689, 0.389613811729, 122.781276844),
            (12, 0.449388224298, 0.640158040374, 40.4449401868),
            (13, 0.285270453036, 0.795594788418, 17.1162271822),
            (14, 0.174131933595, 0.888350019179, 7.83593701178),
            (15, 0.102042367008, 0.941452842869, 3.67352521229),
            (16, 0.0573403309034, 0.970560492503, 1.72020992710),
        ];
        for (n, pw, sl, asa) in want {
            let s = evaluate(a, 180.0, n, 20.0);
            close(s.wait_probability, pw);
            close(s.service_level, sl);
            close(s.asa_s.unwrap(), asa);
            close(s.occupancy, 10.0 / f64::from(n));
            close(erlang_c(a, n), pw);
        }
        // 13 agents give 79.56 %: 80/20 needs 14.
        let s = required(a, 180.0, 0.80, 20.0);
        assert_eq!(s.agents, 14);
        assert_eq!(sig4(s.service_level), "8.884e-1");
        assert_eq!(format!("{:.3}", s.occupancy), "0.714");
        assert_eq!(format!("{:.3}", s.wait_probability), "0.174");
    }

    #[test]
    fn erlang_c_with_hundreds_and_a_thousand_agents() {
        // 2000 calls per half hour, AHT 240 s: A = 266.67 Erlangs.
        let a = 2000.0 * 240.0 / 1800.0;
        let want = [
            (275, 0.503835399519, 0.748408892090, 14.5104595062),
            (276, 0.460317131993, 0.788518422316, 11.8367262512),
            (277, 0.419777856074, 0.822563189893, 9.74967923786),
            (280, 0.314710898935, 0.896399378884, 5.66479618083),
            (284, 0.208383768967, 0.950847044435, 2.88531372416),
        ];
        for (n, pw, sl, asa) in want {
            let s = evaluate(a, 240.0, n, 20.0);
            close(s.wait_probability, pw);
            close(s.service_level, sl);
            close(s.asa_s.unwrap(), asa);
        }
        assert_eq!(required(a, 240.0, 0.80, 20.0).agents, 277);
        // A = 1000 Erlangs (A^N/N! would overflow an f64 long before this).
        for (n, pw, sl, asa) in [
            (1030, 0.248908785844, 0.991120429630, 1.49345271506),
            (1040, 0.140453894955, 0.998350561642, 0.632042527295),
            (1050, 0.0744017740374, 0.999712368683, 0.267846386535),
        ] {
            let s = evaluate(1000.0, 180.0, n, 20.0);
            close(s.wait_probability, pw);
            close(s.service_level, sl);
            close(s.asa_s.unwrap(), asa);
        }
        // 360 calls per half hour, 4 minute calls, 55 agents, 15 s target.
        let s = evaluate(48.0, 240.0, 55, 15.0);
        close(s.wait_probability, 0.238700936378);
        close(s.service_level, 0.845883092171);
        close(s.asa_s.unwrap(), 8.18403210439);
    }

    #[test]
    fn overload_no_calls_and_erlang_b() {
        // Erlang B textbook values: B(1, 1) = 1/2, B(2, 2) = 2/5.
        assert_eq!(erlang_b(1.0, 1), 0.5);
        assert!((erlang_b(2.0, 2) - 0.4).abs() < 1e-15);
        let s = evaluate(10.0, 180.0, 10, 20.0);
        assert_eq!(
            (s.wait_probability, s.service_level, s.asa_s, s.occupancy),
            (1.0, 0.0, None, 1.0)
        );
        let s = required(0.0, 180.0, 0.8, 20.0);
        assert_eq!((s.agents, s.service_level, s.asa_s), (0, 1.0, Some(0.0)));
        // Half an Erlang: one agent (SL 1 − 0.5·e^(−0.5·20/180) = 0.527) misses 80/20.
        let s = required(0.5, 180.0, 0.8, 20.0);
        assert_eq!(s.agents, 2);
        assert!(evaluate(0.5, 180.0, 1, 20.0).service_level < 0.8);
    }
}
