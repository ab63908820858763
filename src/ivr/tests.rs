//! IVR tests on a virtual clock: instants are an origin plus offsets the test chooses; nothing
//! sleeps.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::flow::{ExitKind, Flows, Language, Pattern, Template, Vars};
use super::interp::{Exit, IvrError, IvrOutput, IvrSession, MAX_HOPS, PathStep};
use crate::config::{ConfigError, ConfigErrors};

fn origin() -> Instant {
    crate::testkit::origin()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ivr.toml")
}

fn demo() -> Flows {
    let text = crate::testkit::data::read_text(&shipped());
    Flows::parse(&shipped(), &text).unwrap_or_else(|e| panic!("{e}"))
}

fn flows(text: &str) -> Flows {
    Flows::parse(Path::new("ivr.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match Flows::parse(Path::new("ivr.toml"), text) {
        Ok(f) => panic!("expected errors, got {f:#?}"),
        Err(e) => e.0,
    }
}

fn error_at<'e>(errs: &'e [ConfigError], key: &str) -> &'e ConfigError {
    let found: Vec<_> = errs.iter().filter(|e| e.key == key).collect();
    assert_eq!(
        found.len(),
        1,
        "want one error at {key}, got: {}",
        ConfigErrors(errs.to_vec())
    );
    found[0]
}

fn hint(e: &ConfigError) -> &str {
    e.hint.as_deref().unwrap_or_default()
}

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A session with a virtual clock.
struct Call {
    s: IvrSession,
    t0: Instant,
    now: Instant,
}

impl Call {
    fn new(flows: &Flows, flow: &str, v: Vars) -> Call {
        let t0 = origin();
        let s = IvrSession::new(t0, flows, flow, v).unwrap();
        Call { s, t0, now: t0 }
    }

    fn at(&mut self, offset: Duration) -> Instant {
        self.now = self.t0 + offset;
        self.now
    }

    fn outputs(&mut self) -> Vec<IvrOutput> {
        std::iter::from_fn(|| self.s.poll_output()).collect()
    }

    /// The single pending output is a play of exactly `prompts`; returns its id.
    fn expect_play(&mut self, prompts: &[&str]) -> u64 {
        let out = self.outputs();
        match out.as_slice() {
            [IvrOutput::Play { id, prompts: p, .. }] => {
                assert_eq!(p, prompts, "outputs: {out:?}");
                *id
            }
            _ => panic!("want one Play {prompts:?}, got {out:?}"),
        }
    }

    fn expect_done(&mut self, exit: Exit) {
        assert_eq!(self.outputs(), vec![IvrOutput::Done(exit)]);
        assert!(self.s.is_done());
        assert_eq!(self.s.poll_timeout(), None);
    }

    fn expect_nothing(&mut self) {
        assert_eq!(self.outputs(), vec![]);
    }

    fn done(&mut self, id: u64) {
        self.s.handle_play_done(self.now, id);
    }

    fn key(&mut self, d: char) {
        self.s.handle_digit(self.now, d);
    }

    fn keys(&mut self, ds: &str) {
        for d in ds.chars() {
            self.key(d);
        }
    }

    fn timeout(&mut self) {
        self.s.handle_timeout(self.now);
    }
}

// ---- the demo flows ------------------------------------------------------------------------

#[test]
fn demo_walk_welcome_menu_1_rings_the_sales_group() {
    let f = demo();
    let mut c = Call::new(&f, "main", vars(&[("caller", "1002"), ("dialed", "500")]));
    let id = c.expect_play(&["welcome"]);
    assert_eq!(c.s.poll_timeout(), None, "no timer while a prompt plays");
    c.at(secs(2));
    c.done(id);
    let id = c.expect_play(&["main-menu"]);
    c.at(secs(8));
    c.done(id);
    assert_eq!(c.s.poll_timeout(), Some(c.t0 + secs(13)));
    c.at(secs(9));
    c.key('1');
    c.expect_done(Exit::Group("sales".into()));
    assert_eq!(c.s.path_string(), "main:welcome>menu[1]>group:sales");
    assert_eq!(
        c.s.path(),
        &[
            PathStep::Node("welcome".into()),
            PathStep::Node("menu".into()),
            PathStep::Digits("1".into()),
            PathStep::Exit("group:sales".into()),
        ]
    );
    // After Done every input is ignored.
    c.key('2');
    c.timeout();
    c.done(id);
    c.expect_nothing();
}

#[test]
fn demo_operator_and_support_and_star_repeats_the_menu() {
    let f = demo();
    let mut c = Call::new(&f, "main", Vars::new());
    let id = c.expect_play(&["welcome"]);
    c.done(id);
    let id = c.expect_play(&["main-menu"]);
    c.done(id);
    c.key('*');
    let id = c.expect_play(&["main-menu"]);
    c.done(id);
    c.key('0');
    c.expect_done(Exit::Extension("1001".into()));
    assert_eq!(
        c.s.path_string(),
        "main:welcome>menu[*]>menu[0]>extension:1001"
    );
}

#[test]
fn demo_closed_flow_ends_in_voicemail() {
    let f = demo();
    let mut c = Call::new(&f, "closed", Vars::new());
    let id = c.expect_play(&["office-closed"]);
    c.key('1'); // a plain play node ignores keys
    c.expect_nothing();
    c.done(id);
    c.expect_done(Exit::Voicemail("1001".into()));
    assert_eq!(c.s.path_string(), "closed:closed>voicemail:1001");
}

#[test]
fn demo_prompt_names_and_exits_for_cross_checks() {
    let f = demo();
    let names: Vec<&str> = f.prompt_names(Language::En).into_iter().collect();
    assert_eq!(
        names,
        [
            "goodbye",
            "invalid-option",
            "main-menu",
            "no-input",
            "office-closed",
            "welcome"
        ]
    );
    assert!(f.prompt_names(Language::Ru).is_empty());
    let exits: Vec<(ExitKind, &str)> = f
        .exits()
        .iter()
        .map(|e| (e.kind, e.value.as_str()))
        .collect();
    for want in [
        (ExitKind::Group, "sales"),
        (ExitKind::Queue, "support"),
        (ExitKind::Extension, "1001"),
        (ExitKind::Voicemail, "1001"),
    ] {
        assert!(exits.contains(&want), "{exits:?}");
    }
    // Places point into the file, usable for "missing prompt" errors.
    let r = f
        .prompt_refs()
        .iter()
        .find(|p| p.name == "main-menu")
        .unwrap();
    let text = crate::testkit::data::read_text(&shipped());
    let line = text.lines().nth(r.place.line - 1).unwrap();
    assert!(line.contains("main-menu"), "{line}");
    assert_eq!(r.place.key, "ivr.main.node.menu.menu[1]");
    let e = f.error_at(&r.place, "no sound file".into(), None);
    assert_eq!(e.file, shipped());
    assert_eq!(e.line, r.place.line);
}

#[test]
fn unknown_flow_is_an_error() {
    let f = demo();
    let err = IvrSession::new(origin(), &f, "mian", Vars::new()).unwrap_err();
    assert_eq!(err, IvrError::UnknownFlow("mian".into()));
}

// ---- menus: barge-in, timeouts, retries ------------------------------------------------------

#[test]
fn barge_in_stops_the_menu_prompt_and_counts_as_the_choice() {
    let f = demo();
    let mut c = Call::new(&f, "main", Vars::new());
    let id = c.expect_play(&["welcome"]);
    c.done(id);
    let menu_id = c.expect_play(&["main-menu"]);
    c.at(ms(1500));
    c.key('2');
    assert_eq!(
        c.outputs(),
        vec![
            IvrOutput::StopPlay,
            IvrOutput::Done(Exit::Queue("support".into()))
        ]
    );
    // The media side may still report the stopped play: ignored.
    c.done(menu_id);
    c.expect_nothing();
}

#[test]
fn barge_in_with_an_invalid_key_plays_invalid_then_the_menu_again() {
    let f = demo();
    let mut c = Call::new(&f, "main", Vars::new());
    let id = c.expect_play(&["welcome"]);
    c.done(id);
    let menu_id = c.expect_play(&["main-menu"]);
    c.key('9');
    let out = c.outputs();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], IvrOutput::StopPlay);
    let IvrOutput::Play { id, prompts, .. } = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(prompts, &["invalid-option"]);
    assert_ne!(*id, menu_id);
    c.done(menu_id); // stale
    c.expect_nothing();
    c.done(*id);
    let id = c.expect_play(&["main-menu"]);
    c.done(id);
    c.key('1');
    c.expect_done(Exit::Group("sales".into()));
    assert_eq!(c.s.path_string(), "main:welcome>menu[9][1]>group:sales");
}

#[test]
fn no_input_timeout_runs_from_the_end_of_the_prompt_and_retries_are_counted() {
    let f = demo();
    let mut c = Call::new(&f, "main", Vars::new());
    let id = c.expect_play(&["welcome"]);
    c.at(secs(3));
    c.done(id);
    let mut id = c.expect_play(&["main-menu"]);
    let mut t = secs(10);
    // retries = 2: the menu is offered 3 times, each no-input plays `no_input`.
    for attempt in 1..=3 {
        c.at(t);
        c.done(id);
        let deadline = c.t0 + t + secs(5);
        assert_eq!(c.s.poll_timeout(), Some(deadline), "attempt {attempt}");
        c.at(t + secs(5) - ms(1));
        c.timeout(); // early: nothing happens
        c.expect_nothing();
        assert_eq!(c.s.poll_timeout(), Some(deadline));
        c.at(t + secs(5));
        c.timeout();
        let nid = c.expect_play(&["no-input"]);
        assert_eq!(c.s.poll_timeout(), None);
        c.at(t + secs(7));
        c.done(nid);
        if attempt < 3 {
            id = c.expect_play(&["main-menu"]);
            t += secs(15);
        }
    }
    let id = c.expect_play(&["goodbye"]);
    c.done(id);
    c.expect_done(Exit::Hangup);
    assert_eq!(
        c.s.path_string(),
        "main:welcome>menu[timeout][timeout][timeout]>goodbye>hangup"
    );
}

#[test]
fn a_key_during_the_no_input_prompt_barges_in_too() {
    let f = demo();
    let mut c = Call::new(&f, "main", Vars::new());
    let id = c.expect_play(&["welcome"]);
    c.done(id);
    let id = c.expect_play(&["main-menu"]);
    c.done(id);
    c.at(secs(5));
    c.timeout();
    c.expect_play(&["no-input"]);
    c.key('0');
    assert_eq!(
        c.outputs(),
        vec![
            IvrOutput::StopPlay,
            IvrOutput::Done(Exit::Extension("1001".into()))
        ]
    );
}

#[test]
fn mixed_failures_share_one_retry_count() {
    let f = flows(
        r##"
[ivr.m]
start = "menu"
[ivr.m.node.menu]
menu = ["main-menu"]
options = { "1" = "hangup" }
retries = 1
timeout = "2s"
invalid = ["invalid-option"]
after_retries = "extension:1001"
"##,
    );
    let mut c = Call::new(&f, "m", Vars::new());
    let id = c.expect_play(&["main-menu"]);
    c.done(id);
    c.key('5');
    let id = c.expect_play(&["invalid-option"]);
    c.done(id);
    let id = c.expect_play(&["main-menu"]);
    c.done(id);
    // No no_input prompts: the timeout goes straight on.
    c.at(secs(2));
    c.timeout();
    c.expect_done(Exit::Extension("1001".into()));
    assert_eq!(c.s.path_string(), "m:menu[5][timeout]>extension:1001");
}

#[test]
fn a_menu_without_prompts_starts_its_timer_at_once() {
    let f = flows(
        r##"
[ivr.m]
start = "menu"
[ivr.m.node.menu]
menu = []
options = { "#" = "dial:${caller}" }
timeout = "3s"
retries = 0
"##,
    );
    let mut c = Call::new(&f, "m", vars(&[("caller", "+4930123")]));
    c.expect_nothing();
    assert_eq!(c.s.poll_timeout(), Some(c.t0 + secs(3)));
    c.key('#');
    c.expect_done(Exit::Dial("+4930123".into()));
}

// ---- collect ----------------------------------------------------------------------------------

const COLLECT: &str = r##"
[ivr.c]
start = "account"
[ivr.c.node.account]
collect = { var = "account", prompt = ["enter_account"], max_digits = 4, terminator = "#", first_timeout = "5s", inter_timeout = "3s" }
next = "check"
[ivr.c.node.check]
if = { var = "account", equals = "123" }
then = "goto:vip"
else = "goto:other"
[ivr.c.node.vip]
next = "extension:1001"
[ivr.c.node.other]
if = { var = "account", matches = "_1XX." }
then = "queue:long${account}"
else = "voicemail:x${account}"
"##;

fn collect_call() -> (Call, u64) {
    let f = flows(COLLECT);
    let mut c = Call::new(&f, "c", Vars::new());
    let id = c.expect_play(&["enter_account"]);
    (c, id)
}

#[test]
fn collect_ends_on_the_terminator_which_is_not_stored() {
    let (mut c, id) = collect_call();
    c.at(secs(1));
    c.done(id);
    assert_eq!(
        c.s.poll_timeout(),
        Some(c.t0 + secs(6)),
        "first-digit timeout"
    );
    c.at(secs(2));
    c.key('1');
    assert_eq!(
        c.s.poll_timeout(),
        Some(c.t0 + secs(5)),
        "inter-digit timeout"
    );
    c.keys("23#");
    c.expect_done(Exit::Extension("1001".into()));
    assert_eq!(c.s.vars().get("account").map(String::as_str), Some("123"));
    assert_eq!(
        c.s.path_string(),
        "c:account[123#]>check>vip>extension:1001"
    );
}

#[test]
fn collect_ends_at_max_digits() {
    let (mut c, id) = collect_call();
    c.done(id);
    c.keys("1234");
    c.expect_done(Exit::Queue("long1234".into()));
    assert_eq!(
        c.s.path_string(),
        "c:account[1234]>check>other>queue:long1234"
    );
}

#[test]
fn collect_ends_on_the_inter_digit_timeout_exactly() {
    let (mut c, id) = collect_call();
    c.done(id);
    c.at(secs(1));
    c.keys("12");
    c.at(secs(4) - ms(1));
    c.timeout();
    c.expect_nothing();
    c.at(secs(4));
    c.timeout();
    c.expect_done(Exit::Voicemail("x12".into()));
    assert_eq!(c.s.path_string(), "c:account[12]>check>other>voicemail:x12");
}

#[test]
fn collect_barge_in_counts_as_the_first_digit() {
    let (mut c, id) = collect_call();
    c.at(ms(500));
    c.key('1');
    assert_eq!(c.outputs(), vec![IvrOutput::StopPlay]);
    assert_eq!(c.s.poll_timeout(), Some(c.t0 + ms(3500)));
    c.done(id); // stale: must not restart the first-digit timer
    assert_eq!(c.s.poll_timeout(), Some(c.t0 + ms(3500)));
    c.keys("23");
    c.key('A'); // not a digit: ignored
    c.key('#');
    c.expect_done(Exit::Extension("1001".into()));
}

#[test]
fn collect_with_nothing_entered_stores_empty() {
    let (mut c, id) = collect_call();
    c.done(id);
    c.at(secs(5));
    c.timeout();
    c.expect_done(Exit::Voicemail("x".into()));
    assert_eq!(c.s.vars().get("account").map(String::as_str), Some(""));
    assert_eq!(
        c.s.path_string(),
        "c:account[timeout]>check>other>voicemail:x"
    );
}

#[test]
fn collect_without_terminator_treats_hash_as_a_digit() {
    let f = flows(
        r##"
[ivr.c]
start = "a"
[ivr.c.node.a]
collect = { var = "code", terminator = "", max_digits = 3 }
next = "dial:${code}"
"##,
    );
    let mut c = Call::new(&f, "c", Vars::new());
    assert_eq!(
        c.s.poll_timeout(),
        Some(c.t0 + secs(5)),
        "no prompt: timer at once"
    );
    c.keys("*1#");
    c.expect_done(Exit::Dial("*1#".into()));
}

// ---- variables, set, say -------------------------------------------------------------------

#[test]
fn set_and_substitution_and_builtins() {
    let f = flows(
        r##"
[ivr.v]
start = "a"
[ivr.v.node.a]
set = { who = "${caller}", greeting = "hi ${caller} via ${dialed}${nothing}" }
next = "b"
[ivr.v.node.b]
if = { var = "who", equals = "${caller}" }
then = "extension:${who}"
else = "hangup"
"##,
    );
    let mut c = Call::new(&f, "v", vars(&[("caller", "1002"), ("dialed", "500")]));
    c.expect_done(Exit::Extension("1002".into()));
    assert_eq!(c.s.vars()["greeting"], "hi 1002 via 500");
    assert_eq!(c.s.path_string(), "v:a>b>extension:1002");
}

#[test]
fn say_items_are_expanded_into_prompt_names() {
    let f = flows(
        r##"
[ivr.q]
language = "ru"
start = "position"
[ivr.q.node.position]
play = [{ prompt = "you_are_caller" }, { number = "${position}" }, { prompt = "expected_wait" }, { duration = "${wait}" }, "your_account_is", { digits = "${acct}" }, { number = "${bad}", gender = "feminine" }]
next = "hangup"
"##,
    );
    let mut c = Call::new(
        &f,
        "q",
        vars(&[("position", "3"), ("wait", "240"), ("acct", "907")]),
    );
    let out = c.outputs();
    let [
        IvrOutput::Play {
            prompts, language, ..
        },
    ] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(language, "ru");
    let mut want = vec!["you_are_caller".to_string()];
    let s = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
    want.extend(s(super::say::say_number(
        "ru",
        3,
        super::say::Gender::Masculine,
    )));
    want.push("expected_wait".into());
    want.extend(s(super::say::say_duration("ru", 240)));
    want.push("your_account_is".into());
    want.extend(s(super::say::say_digits("ru", "907")));
    // `${bad}` is unset: not a number, skipped.
    assert_eq!(prompts, &want);
    assert_eq!(f.prompt_names(Language::Ru).len(), 3);
}

#[test]
fn a_play_that_expands_to_nothing_goes_straight_on() {
    let f = flows(
        r##"
[ivr.q]
start = "a"
[ivr.q.node.a]
play = [{ number = "${unset}" }]
next = "queue:x"
"##,
    );
    let mut c = Call::new(&f, "q", Vars::new());
    c.expect_done(Exit::Queue("x".into()));
}

#[test]
fn ivr_exit_names_another_flow() {
    let f = flows(
        r##"
[ivr.a]
start = "x"
[ivr.a.node.x]
next = "ivr:b"
[ivr.b]
start = "y"
[ivr.b.node.y]
next = "hangup"
"##,
    );
    let mut c = Call::new(&f, "a", Vars::new());
    c.expect_done(Exit::Ivr("b".into()));
}

// ---- loop guard -----------------------------------------------------------------------------

#[test]
fn a_loop_without_prompts_hangs_up_instead_of_spinning() {
    let f = flows(
        r##"
[ivr.l]
start = "a"
[ivr.l.node.a]
set = { n = "x${n}" }
next = "b"
[ivr.l.node.b]
if = { var = "n", equals = "never" }
then = "hangup"
else = "a"
"##,
    );
    let mut c = Call::new(&f, "l", Vars::new());
    c.expect_done(Exit::Hangup);
    let nodes =
        c.s.path()
            .iter()
            .filter(|s| matches!(s, PathStep::Node(_)))
            .count();
    assert_eq!(nodes, MAX_HOPS as usize);
}

#[test]
fn prompts_reset_the_loop_guard() {
    // A menu that loops on itself through a jump node keeps working past MAX_HOPS.
    let f = flows(
        r##"
[ivr.l]
start = "menu"
[ivr.l.node.menu]
menu = ["main-menu"]
options = { "1" = "again", "2" = "hangup" }
[ivr.l.node.again]
next = "menu"
"##,
    );
    let mut c = Call::new(&f, "l", Vars::new());
    for _ in 0..(MAX_HOPS + 10) {
        let id = c.expect_play(&["main-menu"]);
        c.done(id);
        c.key('1');
    }
    c.expect_play(&["main-menu"]);
    c.key('2');
    assert_eq!(
        c.outputs(),
        vec![IvrOutput::StopPlay, IvrOutput::Done(Exit::Hangup)]
    );
}

// ---- patterns and templates -------------------------------------------------------------------

#[test]
fn patterns_match_asterisk_style() {
    let p = |s: &str| Pattern::parse(s).unwrap();
    assert!(p("_1XX").matches("123"));
    assert!(!p("_1XX").matches("12"));
    assert!(!p("_1XX").matches("1234"));
    assert!(!p("_1XX").matches("223"));
    assert!(p("_NXXX").matches("2000"));
    assert!(!p("_NXXX").matches("1000"));
    assert!(p("_Z.").matches("10"));
    assert!(!p("_Z.").matches("1"));
    assert!(p("_9!").matches("9"));
    assert!(p("_[1-3]5").matches("25"));
    assert!(!p("_[1-3]5").matches("45"));
    assert!(p("_[137]").matches("7"));
    assert!(p("_*X#").matches("*1#"));
    for bad in ["1XX", "_", "_1.X", "_[1-", "_[]", "_Q"] {
        assert!(Pattern::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn templates_expand_and_reject_bad_syntax() {
    let v = vars(&[("a", "1")]);
    assert_eq!(Template::parse("x${a}y$z${b}").unwrap().expand(&v), "x1y$z");
    assert!(Template::parse("${a").is_err());
    assert!(Template::parse("${a-b}").is_err());
    assert!(Template::parse("${}").is_err());
}

// ---- validation -----------------------------------------------------------------------------

const GOOD: &str = r##"
[ivr.main]
start = "menu"
[ivr.main.node.menu]
menu = ["main-menu"]
options = { "1" = "goto:sales", "2" = "queue:support" }
[ivr.main.node.sales]
next = "group:sales"
"##;

#[test]
fn a_good_file_passes() {
    let f = flows(GOOD);
    assert_eq!(f.names().collect::<Vec<_>>(), ["main"]);
    assert_eq!(f.get("main").unwrap().language, Language::En);
}

#[test]
fn unknown_node_target_suggests_the_closest_name() {
    let errs = errors(&GOOD.replace("goto:sales", "goto:salse"));
    let e = error_at(&errs, "ivr.main.node.menu.options.1");
    assert!(e.message.contains("no node `salse`"), "{e}");
    assert_eq!(hint(e), "did you mean `sales`?");
    assert_eq!(e.line, 6);
    // `sales` is then unreachable, but that is not reported over the real mistake.
    assert_eq!(errs.len(), 1, "{}", ConfigErrors(errs.clone()));
}

#[test]
fn unreachable_node_is_an_error_at_its_table() {
    let text = format!("{GOOD}[ivr.main.node.orphan]\nplay = [\"x\"]\nnext = \"hangup\"\n");
    let errs = errors(&text);
    let e = error_at(&errs, "ivr.main.node.orphan");
    assert!(e.message.contains("unreachable"), "{e}");
    assert!(hint(e).contains("goto:orphan"), "{e}");
    assert_eq!(e.line, 9);
}

#[test]
fn unknown_keys_get_hints() {
    let errs = errors(&GOOD.replace("options", "optons"));
    let e = error_at(&errs, "ivr.main.node.menu.optons");
    assert_eq!(hint(e), "did you mean `options`?");
    // and the then-missing options
    let e = error_at(&errs, "ivr.main.node.menu.options");
    assert!(e.message.contains("missing required key"), "{e}");

    let errs = errors(&GOOD.replace("next = \"group:sales\"", "then = \"group:sales\""));
    let e = error_at(&errs, "ivr.main.node.sales.then");
    assert!(hint(e).contains("`next`"), "{e}");

    let errs = errors(&GOOD.replace("start = \"menu\"", "start = \"menu\"\nlanguag = \"en\""));
    assert_eq!(
        hint(error_at(&errs, "ivr.main.languag")),
        "did you mean `language`?"
    );

    let errs = errors(&format!("{GOOD}\n[server]\nudp = []\n"));
    assert!(hint(error_at(&errs, "server")).contains("zvon.toml"));
}

#[test]
fn missing_start_and_bad_start() {
    let errs = errors(&GOOD.replace("start = \"menu\"\n", ""));
    let e = error_at(&errs, "ivr.main.start");
    assert!(e.message.contains("missing required key `start`"), "{e}");
    assert_eq!(e.line, 2);

    let errs = errors(&GOOD.replace("start = \"menu\"", "start = \"mneu\""));
    let e = error_at(&errs, "ivr.main.start");
    assert_eq!(hint(e), "did you mean `menu`?");
    assert_eq!(e.line, 3);
}

#[test]
fn invalid_durations_and_numbers() {
    let errs = errors(&GOOD.replace("menu = [", "timeout = \"5 s\"\nmenu = ["));
    let e = error_at(&errs, "ivr.main.node.menu.timeout");
    assert!(e.message.contains("not a duration"), "{e}");
    let errs = errors(&GOOD.replace("menu = [", "timeout = \"10m\"\nmenu = ["));
    assert!(
        error_at(&errs, "ivr.main.node.menu.timeout")
            .message
            .contains("out of range")
    );
    let errs = errors(&GOOD.replace("menu = [", "retries = \"3\"\nmenu = ["));
    assert!(hint(error_at(&errs, "ivr.main.node.menu.retries")).contains("remove the quotes"));
    let errs = errors(
        r##"
[ivr.c]
start = "a"
[ivr.c.node.a]
collect = { var = "x", inter_timeout = "soon", max_digits = 0, terminator = "5" }
next = "hangup"
"##,
    );
    error_at(&errs, "ivr.c.node.a.collect.inter_timeout");
    error_at(&errs, "ivr.c.node.a.collect.max_digits");
    assert!(hint(error_at(&errs, "ivr.c.node.a.collect.terminator")).contains("\"#\""));
}

#[test]
fn option_keys_must_be_phone_keys() {
    let errs = errors(&GOOD.replace("\"2\" = ", "\"12\" = "));
    let e = error_at(&errs, "ivr.main.node.menu.options.12");
    assert!(hint(e).contains("0-9, * or #"), "{e}");
    let errs = errors(&GOOD.replace("\"2\" = ", "\"a\" = "));
    error_at(&errs, "ivr.main.node.menu.options.a");
    let errs = errors(&GOOD.replace(
        "{ \"1\" = \"goto:sales\", \"2\" = \"queue:support\" }",
        "{}",
    ));
    assert!(
        error_at(&errs, "ivr.main.node.menu.options")
            .message
            .contains("at least one")
    );
}

#[test]
fn unknown_language() {
    let errs = errors(&GOOD.replace("start = \"menu\"", "language = \"de\"\nstart = \"menu\""));
    let e = error_at(&errs, "ivr.main.language");
    assert!(e.message.contains("unknown language `de`"), "{e}");
    assert!(hint(e).contains("\"en\" and \"ru\""));
}

#[test]
fn target_mistakes() {
    let errs = errors(&GOOD.replace("queue:support", "queu:support"));
    assert_eq!(
        hint(error_at(&errs, "ivr.main.node.menu.options.2")),
        "did you mean `queue:`?"
    );
    let errs = errors(&GOOD.replace("queue:support", "queue:"));
    assert!(
        error_at(&errs, "ivr.main.node.menu.options.2")
            .message
            .contains("needs a value")
    );
    let errs = errors(&GOOD.replace("queue:support", "ivr:mian"));
    let e = error_at(&errs, "ivr.main.node.menu.options.2");
    assert!(e.message.contains("no IVR flow `mian`"), "{e}");
    assert_eq!(hint(e), "did you mean `main`?");
    let errs = errors(&GOOD.replace("goto:sales", "goto:${x}"));
    assert!(hint(error_at(&errs, "ivr.main.node.menu.options.1")).contains("`if` node"));
    let errs = errors(&GOOD.replace("queue:support", "queue:${x"));
    assert!(
        error_at(&errs, "ivr.main.node.menu.options.2")
            .message
            .contains("unclosed")
    );
}

#[test]
fn node_shape_mistakes() {
    let errs = errors(&GOOD.replace("next = \"group:sales\"", "play = [\"a\"]\nmenu = [\"b\"]"));
    let e = error_at(&errs, "ivr.main.node.sales");
    assert!(e.message.contains("`play` and `menu`"), "{e}");

    let errs = errors(&GOOD.replace("next = \"group:sales\"", "play = []\nnext = \"hangup\""));
    assert!(
        error_at(&errs, "ivr.main.node.sales.play")
            .message
            .contains("nothing to play")
    );

    let errs = errors(&GOOD.replace(
        "next = \"group:sales\"",
        "play = [\"a.wav\"]\nnext = \"hangup\"",
    ));
    assert_eq!(
        hint(error_at(&errs, "ivr.main.node.sales.play[1]")),
        "write \"a\""
    );

    let errs = errors(&GOOD.replace(
        "next = \"group:sales\"",
        "play = [{ number = \"1\", digits = \"2\" }, { gender = \"feminine\", prompt = \"x\" }, {}]\nnext = \"hangup\"",
    ));
    assert!(
        error_at(&errs, "ivr.main.node.sales.play[1]")
            .message
            .contains("one thing")
    );
    assert!(
        error_at(&errs, "ivr.main.node.sales.play[2]")
            .message
            .contains("gender")
    );
    assert!(
        error_at(&errs, "ivr.main.node.sales.play[3]")
            .message
            .contains("says nothing")
    );

    let errs = errors(&GOOD.replace(
        "next = \"group:sales\"",
        "if = { var = \"x\" }\nthen = \"hangup\"\nelse = \"hangup\"",
    ));
    assert!(
        error_at(&errs, "ivr.main.node.sales.if")
            .message
            .contains("tests nothing")
    );

    let errs = errors(&GOOD.replace(
        "next = \"group:sales\"",
        "if = { var = \"x\", matches = \"1XX\" }\nthen = \"hangup\"\nelse = \"hangup\"",
    ));
    assert!(
        error_at(&errs, "ivr.main.node.sales.if.matches")
            .message
            .contains("not a pattern")
    );

    let errs = errors(&GOOD.replace("[ivr.main.node.sales]", "[ivr.main.node.hangup]"));
    assert!(hint(error_at(&errs, "ivr.main.node.hangup")).contains("ends the call"));

    let errs = errors("[ivr.empty]\nstart = \"a\"\n");
    assert!(
        error_at(&errs, "ivr.empty.node")
            .message
            .contains("no nodes")
    );

    let errs = errors(
        "[ivr.main]\nstart = \"a\"\n[ivr.main.node.a]\nset = { \"bad name\" = \"1\" }\nnext = \"hangup\"\n",
    );
    error_at(&errs, "ivr.main.node.a.set.bad name");
}

#[test]
fn syntax_errors_have_a_position() {
    let errs = errors("[ivr.main\nstart = 1\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("TOML syntax error"));
    assert_eq!(errs[0].line, 1);
}

#[test]
fn every_error_names_the_file_and_a_line() {
    let errs = errors(&GOOD.replace("goto:sales", "goto:nowhere"));
    for e in &errs {
        assert_eq!(e.file, Path::new("ivr.toml"));
        assert!(e.line > 0, "{e}");
    }
}

// ---- through the config loader ----------------------------------------------------------------

#[test]
fn config_dir_loads_ivr_toml_and_reports_its_errors_with_the_file() {
    use crate::config::{Source, parse_sources};
    let dir = PathBuf::from("cfg");
    let zvon = "[server]\nudp = [\"127.0.0.1:5060\"]\ndomain = \"pbx.test\"\n";
    let src = |ivr: &str| {
        vec![
            Source {
                path: dir.join("zvon.toml"),
                text: zvon.into(),
            },
            Source {
                path: dir.join("ivr.toml"),
                text: ivr.into(),
            },
            Source {
                path: dir.join("queues.toml"),
                text: "[queues.support]\n".into(),
            },
        ]
    };
    let c = parse_sources(&dir, &src(GOOD)).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.ivr.get("main").is_some());
    let errs = parse_sources(&dir, &src(&GOOD.replace("goto:sales", "goto:x")))
        .unwrap_err()
        .0;
    assert!(
        errs.iter()
            .any(|e| e.file == dir.join("ivr.toml") && e.line == 6)
    );
}

#[test]
fn shipped_config_dir_has_the_demo_flows() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let c = crate::config::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.ivr.get("main").is_some() && c.ivr.get("closed").is_some());
    // Every extension exit of the demo exists.
    for e in c.ivr.exits() {
        if e.kind == ExitKind::Extension || e.kind == ExitKind::Voicemail {
            assert!(c.extension(&e.value).is_some(), "{e:?}");
        }
    }
}
