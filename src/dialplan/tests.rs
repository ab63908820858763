//! Dial-plan tests: patterns, routing at fixed instants (DST days included), validation errors
//! with their positions and hints, and the shipped `config/dialplan.toml`.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::{ConfigError, Source, parse_sources};

/// A UTC instant written as RFC 3339 (`2026-03-29T07:00:00Z`), independent of any tz logic.
fn utc(s: &str) -> UnixTime {
    let ts: jiff::Timestamp = s.parse().unwrap();
    UnixTime(ts.as_second() as u64)
}

fn plan(text: &str) -> Plan {
    Plan::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match Plan::parse(text) {
        Ok(p) => panic!("expected errors, got {p:#?}"),
        Err(e) => e.0,
    }
}

/// The single error with this key path.
fn error_at<'e>(errs: &'e [ConfigError], key: &str) -> &'e ConfigError {
    let found: Vec<_> = errs.iter().filter(|e| e.key == key).collect();
    assert_eq!(found.len(), 1, "errors at {key}: {errs:#?}");
    found[0]
}

fn route(p: &Plan, dialed: &str, caller: &str, now: UnixTime) -> Route {
    p.route("internal", dialed, caller, &Vars::new(), now).route
}

fn ext(n: &str) -> Route {
    Route::Extension(n.into())
}

fn ivr(n: &str) -> Route {
    Route::Ivr(n.into())
}

const T0: UnixTime = UnixTime(1_780_000_000);

// ---- patterns ------------------------------------------------------------------------------

#[test]
fn pattern_table() {
    let table: &[(&str, &str, bool)] = &[
        ("500", "500", true),
        ("500", "5000", false),
        ("500", "50", false),
        ("*97", "*97", true),
        ("+4930", "+4930", true),
        ("_1XXX", "1000", true),
        ("_1XXX", "1999", true),
        ("_1XXX", "2000", false),
        ("_1XXX", "100", false),
        ("_1XXX", "10000", false),
        ("_1xxx", "1234", true),
        ("_ZXX", "100", true),
        ("_ZXX", "099", false),
        ("_NXX", "200", true),
        ("_NXX", "199", false),
        ("_[1-5]X", "59", true),
        ("_[1-5]X", "69", false),
        ("_[137]X", "35", true),
        ("_[137]X", "25", false),
        ("_[1-35]X", "50", true),
        ("_[1-35]X", "40", false),
        ("_0.", "0", false),
        ("_0.", "01", true),
        ("_0.", "0123456789", true),
        ("_0!", "0", true),
        ("_0!", "0abc", true),
        ("_0!", "1", false),
        ("_X.", "1002", true),
        ("_X.", "1", false),
        ("_X.", "*78", false),
        ("_*72.", "*721003", true),
        ("_*72.", "*72", false),
        ("_#X", "#5", true),
        ("2000-2099", "2000", true),
        ("2000-2099", "2099", true),
        ("2000-2099", "2100", false),
        ("2000-2099", "1999", false),
        ("2000-2099", "200", false),
        ("0100-0150", "0125", true),
        ("0100-0150", "0151", false),
    ];
    for &(pat, number, expect) in table {
        let p = Pattern::parse(pat).unwrap_or_else(|e| panic!("{pat}: {e:?}"));
        assert_eq!(p.matches(number).is_some(), expect, "{pat} on {number}");
    }
}

#[test]
fn wildcard_tail_is_returned() {
    let p = Pattern::parse("_*72.").unwrap();
    assert_eq!(p.matches("*721003"), Some("1003"));
    assert_eq!(Pattern::parse("500").unwrap().matches("500"), Some(""));
    assert_eq!(Pattern::parse("_0!").unwrap().matches("0"), Some(""));
}

#[test]
fn ranges_match_exactly_their_numbers() {
    for (lo, hi) in [
        (0, 999),
        (123, 456),
        (100, 199),
        (199, 200),
        (5, 5),
        (0, 0),
        (990, 999),
        (7, 993),
    ] {
        let p = Pattern::parse(&format!("{lo:03}-{hi:03}")).unwrap();
        for n in 0..1000 {
            assert_eq!(
                p.matches(&format!("{n:03}")).is_some(),
                (lo..=hi).contains(&n),
                "{lo:03}-{hi:03} on {n:03}"
            );
        }
    }
    let p = Pattern::parse("2000-2149").unwrap();
    for n in 1990..2200 {
        assert_eq!(
            p.matches(&n.to_string()).is_some(),
            (2000..=2149).contains(&n)
        );
    }
}

#[test]
fn bad_patterns_are_explained() {
    for (pat, msg) in [
        ("", "empty"),
        ("_", "alone"),
        ("_1.X", "last character"),
        ("_1Q", "`Q` is not a pattern character"),
        ("_[1-", "a digit on both sides"),
        ("_[12", "no closing"),
        ("_[]", "matches nothing"),
        ("_[9-1]", "lower to a higher"),
        ("2000-199", "different lengths"),
        ("2099-2000", "empty range"),
        ("20a0-2099", "both ends must be digits"),
        ("abc", "not a number"),
    ] {
        let e = Pattern::parse(pat).expect_err(pat);
        assert!(e.message.contains(msg), "{pat}: {}", e.message);
        assert!(!e.hint.is_empty());
    }
    assert_eq!(
        Pattern::parse("1XXX").unwrap_err().hint,
        "patterns start with `_`: write \"_1XXX\""
    );
}

#[test]
fn covers_is_language_inclusion() {
    let c = |a: &str, b: &str| {
        Pattern::parse(a)
            .unwrap()
            .covers(&Pattern::parse(b).unwrap())
    };
    assert!(c("_X.", "500"));
    assert!(c("_X.", "_1XXX"));
    assert!(c("_1XXX", "1000-1999"));
    assert!(c("1000-1999", "_1XXX"));
    assert!(c("_X!", "_X."));
    assert!(!c("_X.", "_X!"));
    assert!(!c("2000-2149", "_2XXX"));
    assert!(c("_2XXX", "2000-2149"));
    assert!(c("_.", "*97"));
    assert!(!c("_X.", "*97"));
    assert!(!c("500", "_5XX"));
    assert!(c("_[0-4]X", "00-49"));
    assert!(!c("00-14", "_[01]X"));
    assert!(c("00-19", "_[01]X"));
    assert!(c("_N.", "_[2-9]XX"));
    assert!(!c("_N.", "_ZXX"));
    assert!(c("_!", "_X."));
    assert!(c("500", "500"));
}

#[test]
fn exact_patterns_know_their_number() {
    assert_eq!(
        Pattern::parse("500").unwrap().exact().as_deref(),
        Some("500")
    );
    assert_eq!(
        Pattern::parse("_*97").unwrap().exact().as_deref(),
        Some("*97")
    );
    assert_eq!(
        Pattern::parse("600-600").unwrap().exact().as_deref(),
        Some("600")
    );
    assert_eq!(Pattern::parse("_6X").unwrap().exact(), None);
    assert_eq!(Pattern::parse("_6.").unwrap().exact(), None);
}

#[test]
fn caller_patterns() {
    let m = |p: &str, c: &str| CallerPattern::parse(p).unwrap().matches(c);
    assert!(m("+7900*", "+79001234567"));
    assert!(!m("+7900*", "+7901234567"));
    assert!(m("0049123", "0049123"));
    assert!(!m("0049123", "00491234"));
    assert!(m("anonymous", "anonymous"));
    assert!(m("_+49XXX.", "+4930123"));
    assert!(CallerPattern::parse("*").is_err());
    assert!(CallerPattern::parse("+7*00*").is_err());
    assert!(CallerPattern::parse("+7*00").is_err());
    assert!(CallerPattern::parse(" ").is_err());
}

// ---- routing -------------------------------------------------------------------------------

#[test]
fn default_plan_rings_the_dialled_extension() {
    let p = Plan::default();
    assert_eq!(p.default_context, "internal");
    let d = p.route("internal", "1002", "1001", &Vars::new(), T0);
    assert_eq!(d.route, ext("1002"));
    assert_eq!((d.context.as_str(), d.rule), ("internal", Some(1)));
    assert_eq!(route(&p, "*78", "1001", T0), Route::NoMatch);
    assert_eq!(route(&p, "1", "1001", T0), Route::NoMatch);
    assert_eq!(
        p.route("nowhere", "1002", "1001", &Vars::new(), T0).route,
        Route::NoMatch
    );
}

#[test]
fn the_first_matching_rule_wins_and_set_only_rules_go_on() {
    let p = plan(
        r#"
[[context]]
name = "internal"
[[context.rule]]
match = "_7X"
set = { seen = "7x" }
[[context.rule]]
match = "_7[0-4]"
action = "ivr"
target = "low"
[[context.rule]]
match = "_7X"
action = "ivr"
target = "high"
[[context.rule]]
match = "_X."
action = "reject"
code = 404
"#,
    );
    let d = p.route("internal", "72", "1001", &Vars::new(), T0);
    assert_eq!(d.route, ivr("low"));
    assert_eq!(d.rule, Some(2));
    assert_eq!(d.vars.get("seen").map(String::as_str), Some("7x"));
    assert_eq!(route(&p, "77", "1", T0), ivr("high"));
    let d = p.route("internal", "123", "1001", &Vars::new(), T0);
    assert_eq!((d.route, d.rule), (Route::Reject(404), Some(4)));
    assert!(d.vars.is_empty());
}

const HOURS: &str = r#"
[[context]]
name = "internal"
timezone = "Europe/Berlin"
[[context.rule]]
match = "500"
when = { time = "09:00-18:00" }
action = "ivr"
target = "open"
[[context.rule]]
match = "500"
action = "ivr"
target = "closed"
"#;

#[test]
fn business_hours_follow_summer_time_on_2026_03_29() {
    // Berlin switches from CET (UTC+1) to CEST (UTC+2) at 01:00 UTC.
    let p = plan(HOURS);
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-29T06:59:00Z")),
        ivr("closed")
    ); // 08:59
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-29T07:00:00Z")),
        ivr("open")
    ); // 09:00
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-29T15:59:59Z")),
        ivr("open")
    ); // 17:59:59
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-29T16:00:00Z")),
        ivr("closed")
    ); // 18:00
    // The day before, still CET.
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-28T07:59:00Z")),
        ivr("closed")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-28T08:00:00Z")),
        ivr("open")
    );
}

#[test]
fn business_hours_follow_winter_time_on_2026_10_25() {
    // Berlin switches from CEST back to CET at 01:00 UTC.
    let p = plan(HOURS);
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T07:59:00Z")),
        ivr("closed")
    ); // 08:59
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T08:00:00Z")),
        ivr("open")
    ); // 09:00
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T16:59:00Z")),
        ivr("open")
    ); // 17:59
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T17:00:00Z")),
        ivr("closed")
    ); // 18:00
    // The day before, still CEST.
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-24T06:59:00Z")),
        ivr("closed")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-24T07:00:00Z")),
        ivr("open")
    );
}

#[test]
fn the_repeated_hour_on_the_autumn_change_day_is_inside_both_times() {
    // 02:00-03:00 local happens twice on 2026-10-25: 00:00-01:00 UTC (CEST) and 01:00-02:00 UTC
    // (CET). A range "02:00-03:00" holds during both.
    let p = plan(&HOURS.replace("09:00-18:00", "02:00-03:00"));
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-24T23:59:00Z")),
        ivr("closed")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T00:30:00Z")),
        ivr("open")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T01:30:00Z")),
        ivr("open")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-10-25T02:00:00Z")),
        ivr("closed")
    );
    // In spring 02:00-03:00 does not exist: 01:59:59 CET is followed by 03:00 CEST.
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-29T00:59:59Z")),
        ivr("closed")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-03-29T01:00:00Z")),
        ivr("closed")
    ); // 03:00
}

#[test]
fn time_ranges_over_midnight_and_several_ranges() {
    let night = plan(&HOURS.replace("09:00-18:00", "22:00-06:00"));
    // Berlin in January is UTC+1.
    for (t, r) in [
        ("2026-01-14T20:59:00Z", "closed"), // 21:59
        ("2026-01-14T21:00:00Z", "open"),   // 22:00
        ("2026-01-14T22:59:00Z", "open"),   // 23:59
        ("2026-01-14T23:00:00Z", "open"),   // 00:00
        ("2026-01-15T04:59:00Z", "open"),   // 05:59
        ("2026-01-15T05:00:00Z", "closed"), // 06:00
    ] {
        assert_eq!(route(&night, "500", "x", utc(t)), ivr(r), "{t}");
    }
    let split = plan(&HOURS.replace("09:00-18:00", "08:00-12:00, 13:00-24:00"));
    for (t, r) in [
        ("2026-01-14T07:00:00Z", "open"),   // 08:00
        ("2026-01-14T11:30:00Z", "closed"), // 12:30
        ("2026-01-14T12:00:00Z", "open"),   // 13:00
        ("2026-01-14T22:59:59Z", "open"),   // 23:59:59
        ("2026-01-14T23:00:00Z", "closed"), // 00:00
    ] {
        assert_eq!(route(&split, "500", "x", utc(t)), ivr(r), "{t}");
    }
}

#[test]
fn weekdays_and_wrapping_day_ranges() {
    // 2026-01-16 is a Friday.
    let p = plan(&HOURS.replace("time = \"09:00-18:00\"", "days = \"fri-mon\""));
    for (day, r) in [
        ("2026-01-15", "closed"), // Thu
        ("2026-01-16", "open"),   // Fri
        ("2026-01-17", "open"),   // Sat
        ("2026-01-18", "open"),   // Sun
        ("2026-01-19", "open"),   // Mon
        ("2026-01-20", "closed"), // Tue
    ] {
        let t = utc(&format!("{day}T12:00:00Z"));
        assert_eq!(route(&p, "500", "x", t), ivr(r), "{day}");
    }
    // The weekday is the local one: Friday 23:30 UTC is Saturday 00:30 in Berlin.
    let p = plan(&HOURS.replace("time = \"09:00-18:00\"", "days = \"mon-fri\""));
    assert_eq!(
        route(&p, "500", "x", utc("2026-01-16T22:59:00Z")),
        ivr("open")
    );
    assert_eq!(
        route(&p, "500", "x", utc("2026-01-16T23:30:00Z")),
        ivr("closed")
    );
}

#[test]
fn holiday_lists_with_dates_and_yearly_days() {
    let text = r#"
timezone = "Europe/Berlin"
[holidays.office]
dates = ["2026-04-03", "12-25", 2027-01-06]
[holidays]
short = ["05-01"]
[[context]]
name = "internal"
[[context.rule]]
match = "500"
when = { holidays = "office" }
action = "prompt"
target = "holiday"
[[context.rule]]
match = "500"
when = { except_holidays = "short" }
action = "ivr"
target = "open"
[[context.rule]]
match = "500"
action = "ivr"
target = "closed"
"#;
    // Both forms: `[holidays.NAME]` with `dates`, and `NAME = [...]` under `[holidays]`.
    let p = plan(text);
    let holiday = Route::Prompt {
        name: "holiday".into(),
        then_hangup: true,
    };
    for (t, r) in [
        ("2026-04-03T10:00:00Z", holiday.clone()),
        ("2026-04-02T22:30:00Z", holiday.clone()), // 00:30 on 04-03 in Berlin
        ("2026-04-02T21:59:00Z", ivr("open")),     // 23:59 on 04-02
        ("2026-12-25T10:00:00Z", holiday.clone()),
        ("2031-12-25T10:00:00Z", holiday.clone()),
        ("2027-01-06T10:00:00Z", holiday.clone()),
        ("2028-01-06T10:00:00Z", ivr("open")),
        ("2026-05-01T10:00:00Z", ivr("closed")),
        ("2027-05-01T10:00:00Z", ivr("closed")),
    ] {
        assert_eq!(route(&p, "500", "x", utc(t)), r, "{t}");
    }
}

#[test]
fn blocked_callers_get_the_block_action_and_vips_a_variable() {
    let text = r#"
[callers]
block = ["+7900*", "0049123"]
vip = ["+49301234*", "_+44XXX."]
[[context]]
name = "internal"
[[context.rule]]
match = "500"
when = { var = { vip = "1" } }
action = "queue"
target = "priority"
[[context.rule]]
match = "500"
action = "queue"
target = "support"
"#;
    let p = plan(text);
    let d = p.route("internal", "500", "+79001112233", &Vars::new(), T0);
    assert_eq!((d.route, d.rule), (Route::Reject(603), None));
    assert_eq!(route(&p, "500", "0049123", T0), Route::Reject(603));
    assert_eq!(
        route(&p, "500", "00491234", T0),
        Route::Queue("support".into())
    );
    let d = p.route("internal", "500", "+493012345", &Vars::new(), T0);
    assert_eq!(d.route, Route::Queue("priority".into()));
    assert_eq!(d.vars.get("vip").map(String::as_str), Some("1"));
    assert_eq!(
        route(&p, "500", "+4420123", T0),
        Route::Queue("priority".into())
    );
    assert_eq!(route(&p, "500", "1001", T0), Route::Queue("support".into()));

    let p = plan(&text.replacen(
        "vip =",
        "block_action = { action = \"prompt\", target = \"blocked\" }\nvip =",
        1,
    ));
    assert_eq!(
        route(&p, "500", "+79001112233", T0),
        Route::Prompt {
            name: "blocked".into(),
            then_hangup: true
        }
    );
}

#[test]
fn caller_conditions_and_variables() {
    let p = plan(
        r#"
[[context]]
name = "internal"
[[context.rule]]
match = "500"
when = { caller = "_+7X." }
set = { lang = "ru" }
[[context.rule]]
match = "500"
when = { var = { lang = "ru" } }
action = "ivr"
target = "main-ru"
[[context.rule]]
match = "500"
when = { var = { lang = "" }, caller = ["+49*", "1001"] }
action = "ivr"
target = "main-de"
[[context.rule]]
match = "500"
action = "ivr"
target = "main"
"#,
    );
    let d = p.route("internal", "500", "+74951234567", &Vars::new(), T0);
    assert_eq!(d.route, ivr("main-ru"));
    assert_eq!(d.vars.get("lang").map(String::as_str), Some("ru"));
    assert_eq!(route(&p, "500", "+4930", T0), ivr("main-de"));
    assert_eq!(route(&p, "500", "1001", T0), ivr("main-de"));
    assert_eq!(route(&p, "500", "1002", T0), ivr("main"));
    // A variable set earlier in the call counts.
    let vars = Vars::from([("lang".to_string(), "ru".to_string())]);
    let d = p.route("internal", "500", "1001", &vars, T0);
    assert_eq!(d.route, ivr("main-ru"));
    assert!(d.vars.is_empty(), "nothing new was set");
    let vars = Vars::from([("lang".to_string(), "en".to_string())]);
    assert_eq!(
        p.route("internal", "500", "1001", &vars, T0).route,
        ivr("main")
    );
}

#[test]
fn goto_continues_in_another_context_with_its_language() {
    let p = plan(
        r#"
[[context]]
name = "internal"
[[context.rule]]
match = "_9X."
action = "goto"
target = "outside"
[[context.rule]]
match = "_X."
action = "extension"
[[context]]
name = "outside"
language = "ru"
[[context.rule]]
match = "_9X."
action = "extension"
target = "${number:1}"
"#,
    );
    let d = p.route("internal", "91002", "1001", &Vars::new(), T0);
    assert_eq!(d.route, ext("1002"));
    assert_eq!((d.context.as_str(), d.rule), ("outside", Some(1)));
    assert_eq!(d.vars.get("lang").map(String::as_str), Some("ru"));
    assert_eq!(route(&p, "1002", "1001", T0), ext("1002"));
}

#[test]
fn groups_features_voicemail_prompts_and_hangup() {
    let p = plan(
        r#"
[groups.sales]
members = ["1002", "1003"]
strategy = "sequential"
timeout = "40s"
member_timeout = "10s"
fallback = { action = "voicemail", target = "1002" }
[groups.support]
members = ["1004"]
fallback = { action = "goto", target = "night" }
[[context]]
name = "internal"
[[context.rule]]
match = "600"
action = "group"
target = "sales"
[[context.rule]]
match = "601"
action = "group"
target = "support"
[[context.rule]]
match = "_*72."
action = "feature"
target = "forward_always_on"
[[context.rule]]
match = "_8XXXX"
action = "voicemail"
target = "${number:1}"
[[context.rule]]
match = "999"
action = "prompt"
target = "closed"
hangup = false
[[context.rule]]
match = "0"
action = "hangup"
[[context]]
name = "night"
[[context.rule]]
match = "_X!"
action = "voicemail"
target = "1001"
"#,
    );
    assert_eq!(
        route(&p, "600", "1001", T0),
        Route::Group(GroupCall {
            name: "sales".into(),
            members: vec!["1002".into(), "1003".into()],
            strategy: Strategy::Sequential,
            timeout: Duration::from_secs(40),
            member_timeout: Duration::from_secs(10),
            fallback: Some(Box::new(Route::Voicemail("1002".into()))),
        })
    );
    let Route::Group(g) = route(&p, "601", "1001", T0) else {
        panic!()
    };
    assert_eq!(g.strategy, Strategy::Simultaneous);
    assert_eq!(g.timeout, Duration::from_secs(30));
    assert_eq!(g.fallback, Some(Box::new(Route::Voicemail("1001".into()))));
    assert_eq!(
        route(&p, "*721003", "1001", T0),
        Route::Feature {
            feature: Feature::ForwardAlwaysOn,
            arg: "1003".into()
        }
    );
    assert_eq!(
        route(&p, "81002", "1001", T0),
        Route::Voicemail("1002".into())
    );
    assert_eq!(
        route(&p, "999", "1001", T0),
        Route::Prompt {
            name: "closed".into(),
            then_hangup: false
        }
    );
    assert_eq!(route(&p, "0", "1001", T0), Route::Hangup);
    assert_eq!(route(&p, "5", "1001", T0), Route::NoMatch);
}

#[test]
fn a_goto_loop_built_by_hand_ends_in_no_match() {
    let mut p = Plan::default();
    p.contexts[0].rules[0].step = Some(Step {
        action: Action::Goto("internal".into()),
        at: Spot::default(),
    });
    assert_eq!(route(&p, "1002", "1001", T0), Route::NoMatch);
}

#[test]
fn referenced_names_for_the_other_checkers() {
    let p = plan(
        r#"
[callers]
block = ["+7900*"]
block_action = { action = "prompt", target = "blocked" }
[groups.sales]
members = ["1002"]
fallback = { action = "voicemail", target = "sales-box" }
[[context]]
name = "internal"
[[context.rule]]
match = "500"
action = "ivr"
target = "main"
[[context.rule]]
match = "501"
action = "queue"
target = "support"
[[context.rule]]
match = "_8XXX"
action = "voicemail"
[[context.rule]]
match = "502"
action = "voicemail"
target = "general"
"#,
    );
    let names = |v: Vec<(&str, &Spot)>| {
        v.into_iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(p.referenced_ivrs()), ["main"]);
    assert_eq!(names(p.referenced_queues()), ["support"]);
    assert_eq!(names(p.referenced_mailboxes()), ["general", "sales-box"]);
    assert_eq!(names(p.referenced_prompts()), ["blocked"]);
    let (_, at) = p.referenced_ivrs()[0];
    assert_eq!(
        (at.key.as_str(), at.line, at.column),
        ("context[1].rule[1].target", 13, 10)
    );
}

// ---- validation ----------------------------------------------------------------------------

/// A one-context plan with these rule lines; the first rule line is line 5.
fn rules(body: &str) -> String {
    format!(
        "timezone = \"Europe/Berlin\"\n[[context]]\nname = \"internal\"\n[[context.rule]]\n{body}"
    )
}

#[test]
fn unknown_action_suggests_the_closest() {
    let errs = errors(&rules("match = \"500\"\naction = \"extention\""));
    let e = error_at(&errs, "context[1].rule[1].action");
    assert_eq!((e.line, e.column), (6, 10));
    assert_eq!(e.message, "unknown action `extention`");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `extension`?"),
        "{e}"
    );
}

#[test]
fn bad_pattern_has_the_syntax_as_hint() {
    let errs = errors(&rules("match = \"_1Q.\"\naction = \"extension\""));
    let e = error_at(&errs, "context[1].rule[1].match");
    assert_eq!((e.line, e.column), (5, 9));
    assert!(e.message.contains("`Q` is not a pattern character"), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("X = 0-9"), "{e}");
    let errs = errors(&rules("match = 500\naction = \"ivr\"\ntarget = \"main\""));
    let e = error_at(&errs, "context[1].rule[1].match");
    assert_eq!(
        e.hint.as_deref(),
        Some("write it in quotes: match = \"500\"")
    );
}

#[test]
fn invalid_time_zone_suggests_a_name() {
    let errs = errors("timezone = \"Europe/Berlim\"\n[[context]]\nname = \"a\"\n");
    let e = error_at(&errs, "timezone");
    assert_eq!((e.line, e.column), (1, 12));
    assert_eq!(e.message, "unknown time zone `Europe/Berlim`");
    assert_eq!(e.hint.as_deref(), Some("did you mean \"Europe/Berlin\"?"));
    let errs = errors("[[context]]\nname = \"a\"\ntimezone = \"Mars/Olympus_Mons_Base\"\n");
    let e = error_at(&errs, "context[1].timezone");
    assert_eq!(e.line, 3);
    assert!(
        e.hint.as_deref().unwrap().contains("\"Europe/Berlin\""),
        "{e}"
    );
}

#[test]
fn invalid_dates_are_reported() {
    let errs = errors(
        "[holidays.office]\ndates = [\"2026-02-30\", \"2026-13-01\", \"25.12.2026\", \"02-29\"]\n[[context]]\nname = \"a\"\n",
    );
    let e = error_at(&errs, "holidays.office.dates[1]");
    assert_eq!((e.line, e.column), (2, 10));
    assert_eq!(e.message, "`2026-02-30` is not a date in the calendar");
    let e = error_at(&errs, "holidays.office.dates[2]");
    assert!(e.hint.as_deref().unwrap().contains("month"), "{e}");
    let e = error_at(&errs, "holidays.office.dates[3]");
    assert_eq!(e.message, "`25.12.2026` is not a date");
    assert!(e.hint.as_deref().unwrap().contains("YYYY-MM-DD"), "{e}");
    assert_eq!(errs.len(), 3, "02-29 is a valid yearly date: {errs:#?}");
}

#[test]
fn unknown_holiday_list_group_and_context() {
    let text = "timezone = \"UTC\"\n\
        [holidays.office]\ndates = [\"12-25\"]\n\
        [groups.sales]\nmembers = [\"1002\"]\n\
        [[context]]\nname = \"internal\"\n\
        [[context.rule]]\nmatch = \"500\"\nwhen = { holidays = \"ofice\" }\naction = \"ivr\"\ntarget = \"x\"\n\
        [[context.rule]]\nmatch = \"600\"\naction = \"group\"\ntarget = \"sale\"\n\
        [[context.rule]]\nmatch = \"700\"\naction = \"goto\"\ntarget = \"nigt\"\n\
        [[context]]\nname = \"night\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    let e = error_at(&errs, "context[1].rule[1].when.holidays");
    assert_eq!(
        (e.line, e.message.as_str()),
        (10, "unknown holiday list `ofice`")
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `office`?"));
    let e = error_at(&errs, "context[1].rule[2].target");
    assert_eq!((e.line, e.message.as_str()), (16, "unknown group `sale`"));
    assert_eq!(e.hint.as_deref(), Some("did you mean `sales`?"));
    let e = error_at(&errs, "context[1].rule[3].target");
    assert_eq!((e.line, e.message.as_str()), (20, "unknown context `nigt`"));
    assert_eq!(e.hint.as_deref(), Some("did you mean `night`?"));
}

#[test]
fn goto_loops_are_errors() {
    let text = "[[context]]\nname = \"a\"\n\
        [[context.rule]]\nmatch = \"_X.\"\nwhen = { caller = \"1001\" }\naction = \"goto\"\ntarget = \"b\"\n\
        [[context]]\nname = \"b\"\n\
        [[context.rule]]\nmatch = \"_X.\"\naction = \"goto\"\ntarget = \"a\"\n\
        [[context]]\nname = \"c\"\n\
        [[context.rule]]\nmatch = \"_X.\"\naction = \"goto\"\ntarget = \"c\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let e = error_at(&errs, "context[2].rule[1].target");
    assert_eq!((e.line, e.message.as_str()), (13, "goto loop: a → b → a"));
    assert!(e.hint.as_deref().unwrap().contains("round forever"));
    let e = error_at(&errs, "context[3].rule[1].target");
    assert_eq!(e.message, "goto loop: c → c");
}

#[test]
fn shadowed_rules_are_never_reached() {
    let text = rules(
        "match = \"_X.\"\naction = \"extension\"\n\
         [[context.rule]]\nmatch = \"500\"\naction = \"ivr\"\ntarget = \"main\"\n\
         [[context.rule]]\nmatch = \"_*X\"\naction = \"hangup\"\n",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = error_at(&errs, "context[1].rule[2].match");
    assert_eq!((e.line, e.column), (8, 9));
    assert_eq!(
        e.message,
        "never reached: rule 1 already matches every number this rule matches"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("move this rule above it"),
        "{e}"
    );
    // A condition on the earlier rule, or a set-only earlier rule, shadows nothing.
    let ok = rules(
        "match = \"_X.\"\nset = { x = \"1\" }\n\
         [[context.rule]]\nmatch = \"_X.\"\nwhen = { days = \"sat\" }\naction = \"hangup\"\n\
         [[context.rule]]\nmatch = \"500\"\naction = \"hangup\"\n",
    );
    plan(&ok);
    // A broken rule keeps its number, and the others are still checked.
    let errs = errors(&rules(
        "match = \"_Q\"\naction = \"hangup\"\n[[context.rule]]\nmatch = \"_X.\"\naction = \"hangup\"\n\
         [[context.rule]]\nmatch = \"500\"\naction = \"hangup\"\n",
    ));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    error_at(&errs, "context[1].rule[1].match");
    let e = error_at(&errs, "context[1].rule[3].match");
    assert!(e.message.starts_with("never reached: rule 2 "), "{e}");
    // Ranges are compared exactly.
    let errs = errors(&rules(
        "match = \"2000-2099\"\naction = \"hangup\"\n[[context.rule]]\nmatch = \"_20XX\"\naction = \"hangup\"\n",
    ));
    assert_eq!(error_at(&errs, "context[1].rule[2].match").line, 8);
    plan(&rules(
        "match = \"2000-2098\"\naction = \"hangup\"\n[[context.rule]]\nmatch = \"_20XX\"\naction = \"hangup\"\n",
    ));
}

#[test]
fn time_conditions_need_a_time_zone() {
    let errs = errors(
        "[[context]]\nname = \"a\"\n[[context.rule]]\nmatch = \"500\"\nwhen = { time = \"09:00-18:00\" }\naction = \"hangup\"\n",
    );
    let e = error_at(&errs, "context[1].rule[1].when");
    assert_eq!((e.line, e.column), (5, 8));
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("timezone = \"Europe/Berlin\""),
        "{e}"
    );
    // A caller condition needs none.
    plan(
        "[[context]]\nname = \"a\"\n[[context.rule]]\nmatch = \"500\"\nwhen = { caller = \"1001\" }\naction = \"hangup\"\n",
    );
}

#[test]
fn bad_condition_values() {
    let errs = errors(&rules(
        "match = \"500\"\nwhen = { days = \"mon-fry\", time = \"9-18\", caller = \"*\", var = { \"a b\" = \"1\" }, dayz = 1 }\naction = \"hangup\"\n",
    ));
    let days = error_at(&errs, "context[1].rule[1].when.days");
    assert_eq!(days.message, "`mon-fry` is not a day or a range of days");
    assert_eq!(days.line, 6);
    let time = error_at(&errs, "context[1].rule[1].when.time");
    assert!(
        time.hint.as_deref().unwrap().contains("\"09:00-18:00\""),
        "{time}"
    );
    error_at(&errs, "context[1].rule[1].when.caller");
    error_at(&errs, "context[1].rule[1].when.var.a b");
    let unknown = error_at(&errs, "context[1].rule[1].when.dayz");
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `days`?"));
    let errs = errors(&rules(
        "match = \"500\"\nwhen = { time = \"10:00-10:00\" }\naction = \"hangup\"",
    ));
    let e = error_at(&errs, "context[1].rule[1].when.time");
    assert_eq!(
        e.hint.as_deref(),
        Some("for the whole day leave `time` out")
    );
}

#[test]
fn action_argument_mistakes() {
    let e = errors(&rules("match = \"500\"\naction = \"reject\"\ncode = 200"));
    assert!(
        error_at(&e, "context[1].rule[1].code")
            .message
            .contains("400 to 699")
    );
    let e = errors(&rules(
        "match = \"500\"\naction = \"reject\"\ntarget = \"x\"",
    ));
    let e = error_at(&e, "context[1].rule[1].target");
    assert_eq!(e.message, "`reject` does not take `target`");
    let e = errors(&rules("match = \"500\"\naction = \"ivr\""));
    let e = error_at(&e, "context[1].rule[1].target");
    assert_eq!(e.message, "`ivr` needs a `target`");
    assert_eq!(e.line, 6);
    let e = errors(&rules(
        "match = \"500\"\naction = \"extension\"\ntarget = \"${numbr}\"",
    ));
    assert!(
        error_at(&e, "context[1].rule[1].target")
            .message
            .contains("substitution")
    );
    let e = errors(&rules(
        "match = \"500\"\naction = \"extension\"\ntarget = \"sales\"",
    ));
    assert_eq!(
        error_at(&e, "context[1].rule[1].target").message,
        "`sales` is not an extension number"
    );
    let e = errors(&rules(
        "match = \"500\"\naction = \"feature\"\ntarget = \"pikup\"",
    ));
    let e = error_at(&e, "context[1].rule[1].target");
    assert_eq!(e.hint.as_deref(), Some("did you mean `pickup`?"));
    let e = errors(&rules("match = \"500\""));
    let e = error_at(&e, "context[1].rule[1].action");
    assert!(e.message.contains("needs an `action`"), "{e}");
    let e = errors(&rules("match = \"500\"\ntarget = \"1001\""));
    assert!(
        error_at(&e, "context[1].rule[1].target")
            .message
            .contains("without an `action`")
    );
    let e = errors(
        "[groups.sales]\nmembers = []\nstrategy = \"roundrobin\"\nfallback = { action = \"group\", target = \"sales\" }\n[[context]]\nname = \"a\"\n",
    );
    assert_eq!(
        error_at(&e, "groups.sales.members").message,
        "a group with no members"
    );
    error_at(&e, "groups.sales.strategy");
    assert!(
        error_at(&e, "groups.sales.fallback")
            .message
            .contains("cannot be another group")
    );
}

#[test]
fn structure_mistakes() {
    let e = errors("timezone = \"UTC\"\n");
    assert_eq!(
        error_at(&e, "context").message,
        "no [[context]] in the dial plan"
    );
    let e = errors("[[context]]\nname = \"a\"\n[[context]]\nname = \"a\"\n");
    let e = error_at(&e, "context[2].name");
    assert_eq!(
        (e.line, e.message.as_str()),
        (4, "a second context named `a`")
    );
    assert!(e.hint.as_deref().unwrap().contains("line 2"));
    let e = errors("default_context = \"internl\"\n[[context]]\nname = \"internal\"\n");
    assert_eq!(
        error_at(&e, "default_context").hint.as_deref(),
        Some("did you mean `internal`?")
    );
    let e = errors("[[context]]\nname = \"a\"\n[[rule]]\nmatch = \"1\"\n");
    assert!(
        error_at(&e, "rule")
            .hint
            .as_deref()
            .unwrap()
            .contains("[[context.rule]]")
    );
    let e = errors("[[context]]\nname = \"a\"\nlanguage = \"Russian\"\n");
    error_at(&e, "context[1].language");
}

// ---- with the rest of the configuration -----------------------------------------------------

const ZVON: &str = "[server]\nudp = [\"127.0.0.1:5060\"]\ndomain = \"pbx.test\"\n";
const EXTS: &str = "[[extension]]\nnumber = \"1001\"\npassword = \"x\"\n[[extension]]\nnumber = \"1002\"\npassword = \"y\"\n";

fn load(files: &[(&str, &str)]) -> Result<crate::config::Config, crate::config::ConfigErrors> {
    let dir = Path::new("cfg");
    let sources: Vec<Source> = files
        .iter()
        .map(|(n, t)| Source {
            path: dir.join(n),
            text: t.to_string(),
        })
        .collect();
    parse_sources(dir, &sources)
}

#[test]
fn no_dialplan_file_means_the_default_plan() {
    let c = load(&[("zvon.toml", ZVON), ("extensions.toml", EXTS)]).unwrap();
    assert_eq!(c.dialplan, Plan::default());
}

#[test]
fn extension_targets_and_group_members_must_be_extensions() {
    let plan = "[groups.sales]\nmembers = [\"1002\", \"1009\"]\n\
        [[context]]\nname = \"internal\"\n\
        [[context.rule]]\nmatch = \"0\"\naction = \"extension\"\ntarget = \"1003\"\n\
        [[context.rule]]\nmatch = \"1005\"\naction = \"extension\"\n\
        [[context.rule]]\nmatch = \"81002\"\naction = \"extension\"\ntarget = \"${number:1}\"\n\
        [[context.rule]]\nmatch = \"1001\"\naction = \"extension\"\n";
    let errs = load(&[
        ("zvon.toml", ZVON),
        ("extensions.toml", EXTS),
        ("dialplan.toml", plan),
    ])
    .unwrap_err()
    .0;
    assert_eq!(errs.len(), 3, "{errs:#?}");
    let e = error_at(&errs, "groups.sales.members[2]");
    assert_eq!(e.file, Path::new("cfg/dialplan.toml"));
    assert_eq!((e.line, e.column), (2, 20));
    assert_eq!(e.message, "group member 1009 is not an extension");
    assert!(
        e.hint.as_deref().unwrap().contains("did you mean 1001?"),
        "{e}"
    );
    let e = error_at(&errs, "context[1].rule[1].target");
    assert_eq!(
        (e.line, e.message.as_str()),
        (8, "extension 1003 is not defined")
    );
    let e = error_at(&errs, "context[1].rule[2].match");
    assert_eq!(
        (e.line, e.message.as_str()),
        (10, "`1005` rings extension 1005, which is not defined")
    );
    // Extensions from extensions/*.toml (read after dialplan.toml) count too.
    let more = "[[extension]]\nnumber = \"1003\"\npassword = \"z\"\n[[extension]]\nnumber = \"1005\"\npassword = \"z\"\n[[extension]]\nnumber = \"1009\"\npassword = \"z\"\n";
    let c = load(&[
        ("zvon.toml", ZVON),
        ("extensions.toml", EXTS),
        ("dialplan.toml", plan),
        ("extensions/more.toml", more),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.dialplan.contexts[0].rules.len(), 4);
}

fn shipped() -> crate::config::Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    crate::config::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_shipped_dial_plan_routes_the_demo_numbers() {
    let c = shipped();
    let p = &c.dialplan;
    assert_eq!(p.default_context, "internal");
    let r = |dialed: &str, caller: &str, t: &str| {
        p.route(&p.default_context, dialed, caller, &Vars::new(), utc(t))
            .route
    };
    // Wednesday 2026-01-14, Berlin = UTC+1.
    assert_eq!(r("500", "1001", "2026-01-14T07:59:00Z"), ivr("closed")); // 08:59
    assert_eq!(r("500", "1001", "2026-01-14T08:00:00Z"), ivr("main")); // 09:00
    assert_eq!(r("500", "1001", "2026-01-14T16:59:00Z"), ivr("main")); // 17:59
    assert_eq!(r("500", "1001", "2026-01-14T17:00:00Z"), ivr("closed")); // 18:00
    assert_eq!(r("500", "1001", "2026-01-14T23:30:00Z"), ivr("closed")); // night
    // Monday after the spring change: 09:00 CEST = 07:00 UTC.
    assert_eq!(r("500", "1001", "2026-03-30T06:59:00Z"), ivr("closed"));
    assert_eq!(r("500", "1001", "2026-03-30T07:00:00Z"), ivr("main"));
    // Monday after the autumn change: 09:00 CET = 08:00 UTC.
    assert_eq!(r("500", "1001", "2026-10-26T07:59:00Z"), ivr("closed"));
    assert_eq!(r("500", "1001", "2026-10-26T08:00:00Z"), ivr("main"));
    // Weekend and holidays.
    assert_eq!(r("500", "1001", "2026-01-17T10:00:00Z"), ivr("closed")); // Saturday
    assert_eq!(r("500", "1001", "2026-12-25T10:00:00Z"), ivr("closed")); // Friday, Christmas
    assert_eq!(r("500", "1001", "2026-04-03T10:00:00Z"), ivr("closed")); // Good Friday
    assert_eq!(r("500", "1001", "2027-01-01T10:00:00Z"), ivr("closed")); // yearly
    // 501: the same menu with Russian prompts.
    let d = p.route(
        "internal",
        "501",
        "1001",
        &Vars::new(),
        utc("2026-01-14T10:00:00Z"),
    );
    assert_eq!(d.route, ivr("main"));
    assert_eq!(d.vars.get("lang").map(String::as_str), Some("ru"));
    // Extensions.
    for n in ["1001", "1002", "1003", "1004"] {
        assert_eq!(r(n, "1001", "2026-01-14T10:00:00Z"), ext(n));
    }
    // The sales group with its voicemail fallback.
    let Route::Group(g) = r("600", "1001", "2026-01-14T10:00:00Z") else {
        panic!("600 is the sales group")
    };
    assert_eq!(g.members, ["1002", "1003"]);
    assert_eq!(g.timeout, Duration::from_secs(20));
    assert_eq!(g.fallback, Some(Box::new(Route::Voicemail("1002".into()))));
    assert_eq!(
        r("*97", "1001", "2026-01-14T10:00:00Z"),
        Route::Feature {
            feature: Feature::Voicemail,
            arg: String::new()
        }
    );
    // Blocked callers are rejected, whatever they dial.
    assert_eq!(
        r("500", "+79001234567", "2026-01-14T10:00:00Z"),
        Route::Reject(603)
    );
    assert_eq!(
        r("1001", "0049123456", "2026-01-14T10:00:00Z"),
        Route::Reject(603)
    );
    // VIPs get the variable.
    let d = p.route(
        "internal",
        "500",
        "+4930123456",
        &Vars::new(),
        utc("2026-01-14T10:00:00Z"),
    );
    assert_eq!(d.vars.get("vip").map(String::as_str), Some("1"));
    // The feature codes of zvon.toml are not taken by the dial plan.
    for code in [
        &c.features.dnd_on,
        &c.features.pickup,
        &c.features.forward_always_on,
    ] {
        assert_eq!(
            r(code, "1001", "2026-01-14T10:00:00Z"),
            Route::NoMatch,
            "{code}"
        );
    }
    assert_eq!(
        names(p.referenced_ivrs()),
        ["main", "closed", "main", "closed"]
    );
    assert_eq!(names(p.referenced_mailboxes()), ["1002"]);
}

fn names(v: Vec<(&str, &Spot)>) -> Vec<String> {
    v.into_iter().map(|(n, _)| n.to_string()).collect()
}

// ---- outbound ------------------------------------------------------------------------------

#[test]
fn outbound_routes_with_or_without_a_named_route() {
    let p = plan(
        "[[context]]\nname = \"internal\"\n\
         [[context.rule]]\nmatch = \"_00Z.\"\naction = \"outbound\"\ntarget = \"international\"\n\
         [[context.rule]]\nmatch = \"_0.\"\naction = \"outbound\"\n",
    );
    assert_eq!(
        route(&p, "0044207", "1001", T0),
        Route::Outbound(Some("international".into()))
    );
    assert_eq!(route(&p, "030123", "1001", T0), Route::Outbound(None));
    let refs: Vec<(Option<&str>, usize)> = p
        .referenced_routes()
        .into_iter()
        .map(|(r, s)| (r, s.line))
        .collect();
    assert_eq!(refs, [(Some("international"), 6), (None, 9)]);
}

#[test]
fn outbound_is_refused_where_there_is_no_dialled_number() {
    let errs = errors(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"600\"\naction = \"group\"\ntarget = \"g\"\n\
         [groups.g]\nmembers = [\"1001\"]\nfallback = { action = \"outbound\" }\n",
    );
    let e = error_at(&errs, "groups.g.fallback.action");
    assert_eq!(e.line, 9);
    assert_eq!(e.message, "`outbound` only works in a dial-plan rule");
    let errs = errors(
        "[[context]]\nname = \"internal\"\n[[context.rule]]\nmatch = \"0\"\naction = \"outbnd\"\n",
    );
    assert!(
        error_at(&errs, "context[1].rule[1].action")
            .hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `outbound`?")
    );
}
