//! The dial plan: `dialplan.toml` → a typed, cross-checked [`Plan`], and a pure matcher
//! [`Plan::route`] that turns (context, dialled number, caller, call variables, wall clock)
//! into a [`Decision`].
//!
//! # Contract
//!
//! - No IO and no clock: the wall-clock time comes in as [`UnixTime`]; local time is computed
//!   with the tz database bundled into the binary (`jiff`, feature `tzdb-bundle-always`), so
//!   business hours are DST-correct and do not depend on the host's `/usr/share/zoneinfo`.
//! - Without `dialplan.toml` the plan is [`Plan::default`]: one context `internal` whose only
//!   rule `_X.` rings the extension dialled (the behaviour before dial plans existed).
//! - Feature codes: the engine keeps answering the `[features]` codes of `zvon.toml` before
//!   it consults the dial plan. A dial-plan rule with `action = "feature"` adds a code for a
//!   feature in a context (e.g. `*97` → the caller's voicemail); the matcher returns
//!   [`Route::Feature`] with the digits matched by the pattern's `.`/`!` tail as argument.
//! - [`Plan::route`] never panics and never loops: `goto` cycles are config errors, and a
//!   depth limit guards plans built by other means.
//!
//! # Syntax (`dialplan.toml`)
//!
//! ```toml
//! timezone = "Europe/Berlin"       # default for contexts; IANA name (rules with `when` times need one)
//! default_context = "internal"     # where calls from extensions start (default: the first context)
//!
//! [[context]]
//! name = "internal"
//! # timezone = "Europe/Moscow"     # overrides the top-level one for this context
//! # language = "ru"                # sets the call variable `lang` unless already set
//!
//! [[context.rule]]                 # rules are tried in order; the first that matches wins
//! match = "500"                    # exact "500", range "2000-2099", or pattern "_1XXX"
//! when = { days = "mon-fri", time = "09:00-18:00", except_holidays = "office" }
//! action = "ivr"
//! target = "main"
//! ```
//!
//! Patterns: `X` = 0–9, `Z` = 1–9, `N` = 2–9, `[1-5]`/`[125]` = one of, `.` = one or more,
//! `!` = zero or more (both only at the end), anything else literal (see [`pattern`]).
//!
//! Actions (`action`, with `target`/`code`/`hangup` where they apply):
//! `extension` (target: a number or `${number}` = the dialled number, default; `${number:1}`
//! drops the first digit), `group` (a `[groups.NAME]`), `ivr`, `queue`, `voicemail` (a mailbox,
//! default `${number}`), `prompt` (a prompt name; `hangup = false` repeats it until the caller
//! hangs up), `reject` (`code` 400–699, default 603), `goto` (another context; matching starts
//! again there with the same number), `hangup`, `feature` (a feature name as in zvon.toml
//! `[features]`, or `voicemail`), `outbound` (out over a trunk with the dialled number;
//! `target` = a `[[route]]` name of `trunks.toml`, default: the first route whose `match`
//! fits the number; only in rules, not in fallbacks, `block_action` or queue destinations).
//! A rule with `set` and no `action` only sets variables and matching goes on with the next
//! rule.
//!
//! Conditions (`when`, all given must hold): `days = "mon-fri,sun"`, `time = "09:00-12:00,
//! 13:00-18:00"` (end exclusive; `"22:00-06:00"` runs over midnight; days and time are checked
//! on the same local date), `holidays = "NAME"` (only on those dates), `except_holidays =
//! "NAME"` (not on those dates), `caller = ["+49*", "_0XXX."]`, `var = { lang = "ru" }` (an
//! unset variable reads as `""`). `set = { lang = "ru" }` sets call variables.
//!
//! `[groups.NAME]`: `members` (extensions), `strategy` = `simultaneous` | `sequential`,
//! `timeout` (whole group, default 30s), `member_timeout` (sequential, default 15s),
//! `fallback = { action = "voicemail", target = "1002" }`.
//! `[holidays.NAME]`: `dates = ["2026-12-25", "01-01"]` (`MM-DD` = every year).
//! `[callers]`: `block` (caller patterns: `+7900*` prefix, exact, or `_` pattern),
//! `block_action` (default `{ action = "reject", code = 603 }`), `vip` (sets `vip = "1"`).
//!
//! # Checks (`zvon check`)
//!
//! Unknown keys and actions (closest suggested), bad patterns (with the syntax), invalid
//! time zones and dates, unknown contexts / groups / holiday lists, `goto` loops, rules never
//! reached because an earlier rule without conditions matches every number they match, time
//! conditions in a context without a time zone, and (after all files are read) extension
//! targets and group members that are not extensions. IVRs, queues, mailboxes and prompts are
//! cross-checked by their owners through [`Plan::referenced_ivrs`] and friends (outbound
//! routes through [`Plan::referenced_routes`]).

mod check;
pub mod pattern;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;

pub(crate) use check::{check, cross_check, destination, name as check_name};
pub use pattern::{CallerPattern, Pattern};

use crate::time::UnixTime;

/// Call variables: name → value.
pub type Vars = BTreeMap<String, String>;

/// Where something is written in `dialplan.toml`: key path and 1-based position (`line == 0`
/// for built-in values).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spot {
    pub key: String,
    pub line: usize,
    pub column: usize,
}

/// The whole dial plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// In file order; names are unique.
    pub contexts: Vec<Context>,
    /// The context calls from extensions start in.
    pub default_context: String,
    pub groups: BTreeMap<String, Group>,
    pub holidays: BTreeMap<String, Vec<Holiday>>,
    pub callers: Callers,
}

/// `[[context]]`: an ordered rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub name: String,
    /// Local time for `when` conditions; UTC when none was configured.
    pub timezone: TimeZone,
    /// Sets the call variable `lang` on entry unless it is already set.
    pub language: Option<String>,
    pub rules: Vec<Rule>,
}

/// `[[context.rule]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub pattern: Pattern,
    pub when: When,
    /// Variables set when the rule matches (before its action).
    pub set: Vars,
    /// `None`: the rule only sets variables; matching goes on.
    pub step: Option<Step>,
    /// The `match` key.
    pub at: Spot,
}

/// Conditions of a rule; the empty default always holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct When {
    /// Bit 0 = Monday … bit 6 = Sunday; `None` = any day.
    pub days: Option<u8>,
    /// Minutes after local midnight, `[start, end)`; `start > end` runs over midnight. Any of
    /// them may hold; empty = any time.
    pub time: Vec<(u16, u16)>,
    /// Holds only on a date of this list.
    pub holidays: Option<String>,
    /// Holds only on a date not in this list.
    pub except_holidays: Option<String>,
    /// Any of them may match the caller; empty = any caller.
    pub caller: Vec<CallerPattern>,
    /// Each variable must have this value (unset = `""`).
    pub vars: Vars,
}

impl When {
    /// Whether the condition depends on the local time.
    pub fn uses_time(&self) -> bool {
        self.days.is_some()
            || !self.time.is_empty()
            || self.holidays.is_some()
            || self.except_holidays.is_some()
    }

    pub fn is_empty(&self) -> bool {
        *self == When::default()
    }
}

/// An action and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    /// The `target` key if there is one, else the `action` key.
    pub at: Spot,
}

/// What a rule does, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Extension(Target),
    /// A `[groups.NAME]`.
    Group(String),
    Ivr(String),
    Queue(String),
    Voicemail(Target),
    Prompt {
        name: String,
        then_hangup: bool,
    },
    Reject(u16),
    /// Another context.
    Goto(String),
    Hangup,
    Feature(Feature),
    /// Out over a trunk: `Some(route)` = that `[[route]]` of `trunks.toml`; `None` = the
    /// first route whose `match` fits the dialled number.
    Outbound(Option<String>),
}

/// A number an action acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `${number}` (skip 0) or `${number:N}`: the dialled number without its first N characters.
    Dialed {
        skip: usize,
    },
    Literal(String),
}

impl Target {
    fn resolve(&self, dialed: &str) -> String {
        match self {
            Target::Dialed { skip } => dialed.chars().skip(*skip).collect(),
            Target::Literal(s) => s.clone(),
        }
    }
}

/// Features a dial-plan rule can start; names as the keys of zvon.toml `[features]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    DndOn,
    DndOff,
    ForwardAlwaysOn,
    ForwardAlwaysOff,
    ForwardBusyOn,
    ForwardBusyOff,
    ForwardNoanswerOn,
    ForwardNoanswerOff,
    Pickup,
    PickupDirected,
    /// The caller's own voicemail box.
    Voicemail,
}

impl Feature {
    pub const ALL: &'static [(&'static str, Feature)] = &[
        ("dnd_on", Feature::DndOn),
        ("dnd_off", Feature::DndOff),
        ("forward_always_on", Feature::ForwardAlwaysOn),
        ("forward_always_off", Feature::ForwardAlwaysOff),
        ("forward_busy_on", Feature::ForwardBusyOn),
        ("forward_busy_off", Feature::ForwardBusyOff),
        ("forward_noanswer_on", Feature::ForwardNoanswerOn),
        ("forward_noanswer_off", Feature::ForwardNoanswerOff),
        ("pickup", Feature::Pickup),
        ("pickup_directed", Feature::PickupDirected),
        ("voicemail", Feature::Voicemail),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }
}

/// `[groups.NAME]`: extensions rung together or in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub members: Vec<String>,
    pub strategy: Strategy,
    /// The whole group rings at most this long.
    pub timeout: Duration,
    /// Sequential: each member rings this long.
    pub member_timeout: Duration,
    /// After `timeout` (or when nobody can ring); `None` = the call ends with 480.
    pub fallback: Option<Step>,
    /// Each member's place in `members`.
    pub member_at: Vec<Spot>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Simultaneous,
    Sequential,
}

/// One entry of a `[holidays.NAME]` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holiday {
    Date(Date),
    /// `MM-DD`: every year.
    Yearly {
        month: i8,
        day: i8,
    },
}

impl Holiday {
    fn is(&self, d: Date) -> bool {
        match *self {
            Holiday::Date(h) => h == d,
            Holiday::Yearly { month, day } => d.month() == month && d.day() == day,
        }
    }
}

/// `[callers]`: lists applied to every call before any context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callers {
    pub block: Vec<CallerPattern>,
    /// What a blocked caller gets.
    pub block_action: Step,
    /// Sets the call variable `vip = "1"`.
    pub vip: Vec<CallerPattern>,
}

impl Default for Callers {
    fn default() -> Self {
        Callers {
            block: Vec::new(),
            block_action: Step {
                action: Action::Reject(603),
                at: Spot::default(),
            },
            vip: Vec::new(),
        }
    }
}

/// What to do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Extension(String),
    Group(GroupCall),
    Ivr(String),
    Queue(String),
    Voicemail(String),
    /// Play the prompt, then hang up (or repeat it until the caller hangs up).
    Prompt {
        name: String,
        then_hangup: bool,
    },
    /// Refuse with this SIP status.
    Reject(u16),
    Hangup,
    /// `arg`: what the pattern's `.`/`!` tail matched (`*721003` on `_*72.` → `1003`).
    Feature {
        feature: Feature,
        arg: String,
    },
    /// Out over a trunk, with the dialled number: `Some(route)` = that `[[route]]` of
    /// `trunks.toml`, `None` = the outbound routes decide by the number.
    Outbound(Option<String>),
    /// No rule matched (the engine answers 404).
    NoMatch,
}

/// A ring group, resolved for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCall {
    pub name: String,
    pub members: Vec<String>,
    pub strategy: Strategy,
    pub timeout: Duration,
    pub member_timeout: Duration,
    /// Resolved when the call enters the group, with the same number and time.
    pub fallback: Option<Box<Route>>,
}

/// The result of [`Plan::route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub route: Route,
    /// Variables set while routing (rules' `set`, `vip`, the context's `lang`); the caller
    /// merges them into the call's variables.
    pub vars: Vars,
    /// The context the decision was taken in (after any `goto`).
    pub context: String,
    /// 1-based rule of that context; `None` for no match and for `[callers]` blocks.
    pub rule: Option<usize>,
}

/// `goto` chains longer than this end in [`Route::NoMatch`] (checked plans have no loops).
const MAX_DEPTH: usize = 16;

impl Default for Plan {
    /// One context `internal`: `_X.` → the extension dialled.
    fn default() -> Self {
        let rule = Rule {
            pattern: Pattern::parse("_X.").unwrap_or_else(|_| unreachable!("valid pattern")),
            when: When::default(),
            set: Vars::new(),
            step: Some(Step {
                action: Action::Extension(Target::Dialed { skip: 0 }),
                at: Spot::default(),
            }),
            at: Spot::default(),
        };
        Plan {
            contexts: vec![Context {
                name: "internal".into(),
                timezone: TimeZone::UTC,
                language: None,
                rules: vec![rule],
            }],
            default_context: "internal".into(),
            groups: BTreeMap::new(),
            holidays: BTreeMap::new(),
            callers: Callers::default(),
        }
    }
}

/// The inputs of one routing.
struct Call<'a> {
    dialed: &'a str,
    caller: &'a str,
    vars: &'a Vars,
    now: UnixTime,
}

impl Plan {
    /// Parses a `dialplan.toml` text on its own (no extension cross-check); for tests and
    /// tools. Errors name the file `dialplan.toml`.
    pub fn parse(text: &str) -> Result<Plan, crate::config::ConfigErrors> {
        let mut errors = Vec::new();
        let file = std::path::Path::new("dialplan.toml");
        let mut ctx = crate::config::walk::Ctx {
            file,
            text,
            errors: &mut errors,
        };
        let plan = match toml::de::DeTable::parse(text) {
            Ok(doc) => check(&mut ctx, &doc),
            Err(e) => {
                let msg = format!("TOML syntax error: {}", e.message().trim());
                ctx.error(e.span().unwrap_or(0..0), "", msg, None);
                None
            }
        };
        match plan {
            Some(p) if errors.is_empty() => Ok(p),
            _ => Err(crate::config::ConfigErrors(errors)),
        }
    }

    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// Decides what a call to `dialed` from `caller` starting in `context` gets. `vars` are
    /// the call's variables so far; `now` is the wall clock (for `when` conditions). Pure.
    pub fn route(
        &self,
        context: &str,
        dialed: &str,
        caller: &str,
        vars: &Vars,
        now: UnixTime,
    ) -> Decision {
        let call = Call {
            dialed,
            caller,
            vars,
            now,
        };
        let mut set = Vars::new();
        if self.callers.block.iter().any(|p| p.matches(caller)) {
            let (route, context, rule) = self.perform(
                &call,
                &self.callers.block_action,
                "",
                &mut set,
                0,
                context,
                None,
            );
            return Decision {
                route,
                vars: set,
                context,
                rule,
            };
        }
        if self.callers.vip.iter().any(|p| p.matches(caller)) {
            set.insert("vip".into(), "1".into());
        }
        let (route, context, rule) = self.run(&call, context, &mut set, 0);
        Decision {
            route,
            vars: set,
            context,
            rule,
        }
    }

    fn run(
        &self,
        call: &Call<'_>,
        name: &str,
        set: &mut Vars,
        depth: usize,
    ) -> (Route, String, Option<usize>) {
        let Some(ctx) = self.context(name).filter(|_| depth <= MAX_DEPTH) else {
            return (Route::NoMatch, name.to_string(), None);
        };
        if let Some(lang) = &ctx.language
            && var(call, set, "lang").is_empty()
        {
            set.insert("lang".into(), lang.clone());
        }
        for (i, rule) in ctx.rules.iter().enumerate() {
            let Some(tail) = rule.pattern.matches(call.dialed) else {
                continue;
            };
            if !self.holds(&rule.when, ctx, call, set) {
                continue;
            }
            set.extend(rule.set.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Some(step) = &rule.step {
                return self.perform(call, step, tail, set, depth, &ctx.name, Some(i + 1));
            }
        }
        (Route::NoMatch, ctx.name.clone(), None)
    }

    #[allow(clippy::too_many_arguments)]
    fn perform(
        &self,
        call: &Call<'_>,
        step: &Step,
        tail: &str,
        set: &mut Vars,
        depth: usize,
        context: &str,
        rule: Option<usize>,
    ) -> (Route, String, Option<usize>) {
        let route = match &step.action {
            Action::Goto(next) => return self.run(call, next, set, depth + 1),
            Action::Extension(t) => Route::Extension(t.resolve(call.dialed)),
            Action::Voicemail(t) => Route::Voicemail(t.resolve(call.dialed)),
            Action::Ivr(n) => Route::Ivr(n.clone()),
            Action::Queue(n) => Route::Queue(n.clone()),
            Action::Prompt { name, then_hangup } => Route::Prompt {
                name: name.clone(),
                then_hangup: *then_hangup,
            },
            Action::Reject(code) => Route::Reject(*code),
            Action::Hangup => Route::Hangup,
            Action::Outbound(r) => Route::Outbound(r.clone()),
            Action::Feature(feature) => Route::Feature {
                feature: *feature,
                arg: tail.to_string(),
            },
            Action::Group(name) => match self.groups.get(name) {
                None => Route::NoMatch,
                Some(g) => {
                    let fallback = match &g.fallback {
                        Some(f) if depth < MAX_DEPTH => Some(Box::new(
                            self.perform(call, f, tail, set, depth + 1, context, rule).0,
                        )),
                        _ => None,
                    };
                    Route::Group(GroupCall {
                        name: name.clone(),
                        members: g.members.clone(),
                        strategy: g.strategy,
                        timeout: g.timeout,
                        member_timeout: g.member_timeout,
                        fallback,
                    })
                }
            },
        };
        (route, context.to_string(), rule)
    }

    fn holds(&self, when: &When, ctx: &Context, call: &Call<'_>, set: &Vars) -> bool {
        if !when.caller.is_empty() && !when.caller.iter().any(|p| p.matches(call.caller)) {
            return false;
        }
        if when.vars.iter().any(|(k, v)| var(call, set, k) != v) {
            return false;
        }
        if !when.uses_time() {
            return true;
        }
        let Ok(ts) = jiff::Timestamp::from_second(i64::try_from(call.now.0).unwrap_or(i64::MAX))
        else {
            return false;
        };
        let local = ctx.timezone.to_datetime(ts);
        if let Some(days) = when.days {
            let bit = 1u8 << local.weekday().to_monday_zero_offset();
            if days & bit == 0 {
                return false;
            }
        }
        if !when.time.is_empty() {
            let m = local.hour() as u16 * 60 + local.minute() as u16;
            let inside = |&(start, end): &(u16, u16)| {
                if start <= end {
                    start <= m && m < end
                } else {
                    m >= start || m < end
                }
            };
            if !when.time.iter().any(inside) {
                return false;
            }
        }
        let date = local.date();
        let on = |list: &str| {
            self.holidays
                .get(list)
                .is_some_and(|days| days.iter().any(|h| h.is(date)))
        };
        if when.holidays.as_deref().is_some_and(|l| !on(l)) {
            return false;
        }
        if when.except_holidays.as_deref().is_some_and(on) {
            return false;
        }
        true
    }

    /// Every step of the plan: rules, group fallbacks, the block action.
    fn steps(&self) -> impl Iterator<Item = &Step> {
        self.contexts
            .iter()
            .flat_map(|c| c.rules.iter().filter_map(|r| r.step.as_ref()))
            .chain(self.groups.values().filter_map(|g| g.fallback.as_ref()))
            .chain(std::iter::once(&self.callers.block_action))
    }

    fn referenced(&self, pick: impl Fn(&Action) -> Option<&str>) -> Vec<(&str, &Spot)> {
        self.steps()
            .filter_map(|s| pick(&s.action).map(|n| (n, &s.at)))
            .collect()
    }

    /// IVR names the plan sends calls to, with where each is written.
    pub fn referenced_ivrs(&self) -> Vec<(&str, &Spot)> {
        self.referenced(|a| match a {
            Action::Ivr(n) => Some(n),
            _ => None,
        })
    }

    /// Queue names the plan sends calls to.
    pub fn referenced_queues(&self) -> Vec<(&str, &Spot)> {
        self.referenced(|a| match a {
            Action::Queue(n) => Some(n),
            _ => None,
        })
    }

    /// Every `outbound` action: the route it names (`None`: the routes decide by the
    /// number), with where it is written.
    pub fn referenced_routes(&self) -> Vec<(Option<&str>, &Spot)> {
        self.steps()
            .filter_map(|s| match &s.action {
                Action::Outbound(r) => Some((r.as_deref(), &s.at)),
                _ => None,
            })
            .collect()
    }

    /// Voicemail boxes named literally (a `${number}` target is the dialled number, known
    /// only at call time).
    pub fn referenced_mailboxes(&self) -> Vec<(&str, &Spot)> {
        self.referenced(|a| match a {
            Action::Voicemail(Target::Literal(n)) => Some(n),
            _ => None,
        })
    }

    /// Prompt names the plan plays.
    pub fn referenced_prompts(&self) -> Vec<(&str, &Spot)> {
        self.referenced(|a| match a {
            Action::Prompt { name, .. } => Some(name),
            _ => None,
        })
    }
}

/// A variable as the rules see it: set during this routing, else the call's, else `""`.
fn var<'a>(call: &'a Call<'_>, set: &'a Vars, name: &str) -> &'a str {
    set.get(name)
        .or_else(|| call.vars.get(name))
        .map_or("", String::as_str)
}
