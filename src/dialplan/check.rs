//! `dialplan.toml` → [`Plan`]: the checked walk (every mistake with file:line:column, key path
//! and hint), the in-file cross-checks (names, `goto` loops, shadowed rules, time zones), and
//! [`cross_check`] against the extensions once all files are read.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::pattern::{CallerPattern, Pattern};
use super::{
    Action, Callers, Context, Feature, Group, Holiday, Plan, Rule, Spot, Step, Strategy, Target,
    Vars, When,
};
use crate::config::ConfigError;
use crate::config::error::closest;
use crate::config::walk::{self, Ctx, Got, Section, Span, Value};

const ACTIONS: &[&str] = &[
    "extension",
    "group",
    "ivr",
    "queue",
    "voicemail",
    "prompt",
    "reject",
    "goto",
    "hangup",
    "feature",
    "outbound",
];

const ELSEWHERE: &[(&str, &str)] = &[
    ("extension", "phones go in extensions.toml"),
    ("features", "feature codes go in zvon.toml [features]"),
    (
        "rule",
        "rules belong to a context: write `[[context.rule]]` after a `[[context]]`",
    ),
    ("group", "ring groups are written `[groups.NAME]`"),
];

/// A name another part of the plan must define.
enum RefKind {
    Context,
    Group,
    Holiday,
}

struct Ref {
    kind: RefKind,
    name: String,
    span: Span,
    key: String,
}

/// A `goto` from a context (index) to a context (name).
struct Edge {
    from: usize,
    to: String,
    span: Span,
    key: String,
}

/// What the walk found besides the plan itself.
#[derive(Default)]
struct Found {
    refs: Vec<Ref>,
    edges: Vec<Edge>,
}

/// Per rule of a context: its 1-based number in the file and the span of its `when`.
type RuleMeta = Vec<(usize, Option<Span>)>;

fn spot(ctx: &Ctx<'_>, key: String, span: &Span) -> Spot {
    let (line, column) = ctx.position(span);
    Spot { key, line, column }
}

/// Checks a parsed `dialplan.toml`. `None` when it had any error (all are recorded in `ctx`).
pub(crate) fn check(ctx: &mut Ctx<'_>, doc: &Spanned<DeTable<'_>>) -> Option<Plan> {
    let before = ctx.errors.len();
    let mut found = Found::default();
    let mut root = Section::new("", doc.get_ref(), doc.span()).with_elsewhere(ELSEWHERE);
    let tz_given = root.raw("timezone").is_some();
    let tz = root.get(ctx, "timezone", timezone).val();
    let default_context = root.get(ctx, "default_context", name);
    let holidays = root
        .get(ctx, "holidays", holiday_lists)
        .val()
        .unwrap_or_default();
    let groups = root
        .get(ctx, "groups", |c, p, v| groups(c, p, v, &mut found))
        .val()
        .unwrap_or_default();
    let callers = root
        .get(ctx, "callers", |c, p, v| callers(c, p, v, &mut found))
        .val()
        .unwrap_or_default();
    let mut contexts = Vec::new();
    // per context: span of its name, whether it has a time zone
    let mut meta: Vec<(Span, bool)> = Vec::new();
    // per context and rule: its 1-based number in the file, the span of its `when`
    let mut rule_meta: Vec<RuleMeta> = Vec::new();
    match root.raw("context") {
        None => ctx.error(
            doc.span().start..doc.span().start,
            "context",
            "no [[context]] in the dial plan",
            Some("add `[[context]]` with `name = \"internal\"` and its `[[context.rule]]`s".into()),
        ),
        Some(v) => match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("context[{}]", i + 1);
                    let Some(t) = walk::table(ctx, &path, item) else {
                        continue;
                    };
                    let sec = Section::new(path, t, item.span());
                    if let Some((c, name_span, has_tz, when_spans)) = context(
                        ctx,
                        sec,
                        (tz.as_ref(), tz_given),
                        contexts.len(),
                        &mut found,
                    ) {
                        contexts.push(c);
                        meta.push((name_span, has_tz));
                        rule_meta.push(when_spans);
                    }
                }
            }
            other => ctx.error(
                v.span(),
                "context",
                format!(
                    "expected `[[context]]` tables, found {}",
                    walk::describe(other)
                ),
                Some("write each context as `[[context]]` with double brackets".into()),
            ),
        },
    }
    root.finish(ctx);

    // Unique context names.
    for i in 0..contexts.len() {
        if let Some(j) = (0..i).find(|&j| contexts[j].name == contexts[i].name) {
            let (line, _) = ctx.position(&meta[j].0);
            ctx.error(
                meta[i].0.clone(),
                &format!("context[{}].name", i + 1),
                format!("a second context named `{}`", contexts[i].name),
                Some(format!(
                    "context names are unique; the first is at line {line}"
                )),
            );
        }
    }
    let names: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
    let default_context = match default_context {
        Got::Val(n, span) => {
            if !names.contains(&n.as_str()) {
                unknown(ctx, span, "default_context", "context", &n, &names);
            }
            n
        }
        _ => names.first().map_or_else(String::new, |n| n.to_string()),
    };

    // Names used must be defined.
    let group_names: Vec<&str> = groups.keys().map(String::as_str).collect();
    let holiday_names: Vec<&str> = holidays.keys().map(String::as_str).collect();
    for r in &found.refs {
        let (what, known) = match r.kind {
            RefKind::Context => ("context", &names),
            RefKind::Group => ("group", &group_names),
            RefKind::Holiday => ("holiday list", &holiday_names),
        };
        if !known.contains(&r.name.as_str()) {
            unknown(ctx, r.span.clone(), &r.key, what, &r.name, known);
        }
    }

    goto_loops(ctx, &contexts, &found.edges);

    // Rules no call can reach, and time conditions without a time zone.
    for (ci, c) in contexts.iter().enumerate() {
        for (j, rule) in c.rules.iter().enumerate() {
            let earlier = c.rules[..j].iter().position(|r| {
                r.step.is_some() && r.when.is_empty() && r.pattern.covers(&rule.pattern)
            });
            let number = |k: usize| rule_meta[ci][k].0;
            if let Some(k) = earlier {
                let n = number(k);
                let hint = format!(
                    "rule {n} (`{}`) has no condition; move this rule above it or give rule {n} a `when`",
                    c.rules[k].pattern,
                );
                push(
                    ctx,
                    &rule.at,
                    format!(
                        "never reached: rule {n} already matches every number this rule matches"
                    ),
                    Some(hint),
                );
            }
            if rule.when.uses_time()
                && !meta[ci].1
                && let Some(span) = &rule_meta[ci][j].1
            {
                ctx.error(
                    span.clone(),
                    &format!("context[{}].rule[{}].when", ci + 1, number(j)),
                    format!(
                        "a time condition, but context `{}` has no time zone",
                        c.name
                    ),
                    Some(
                        "add `timezone = \"Europe/Berlin\"` to the [[context]] or at the top of dialplan.toml"
                            .into(),
                    ),
                );
            }
        }
    }

    (ctx.errors.len() == before).then_some(Plan {
        contexts,
        default_context,
        groups,
        holidays,
        callers,
    })
}

/// Checks the plan against the extension numbers (after every extension file is read).
pub(crate) fn cross_check(ctx: &mut Ctx<'_>, plan: &Plan, numbers: &[&str]) {
    let hint = |n: &str| match closest(n, numbers) {
        Some(best) => format!("did you mean {best}? Extensions are defined in extensions.toml"),
        None => "extensions are defined in extensions.toml".into(),
    };
    for c in &plan.contexts {
        for rule in &c.rules {
            if let Some(Step {
                action: Action::Extension(Target::Dialed { skip }),
                ..
            }) = &rule.step
                && let Some(exact) = rule.pattern.exact()
            {
                let n: String = exact.chars().skip(*skip).collect();
                if !numbers.contains(&n.as_str()) {
                    let msg = format!("`{exact}` rings extension {n}, which is not defined");
                    push(ctx, &rule.at, msg, Some(hint(&n)));
                }
            }
        }
    }
    for step in plan.steps() {
        if let Action::Extension(Target::Literal(n)) = &step.action
            && !numbers.contains(&n.as_str())
        {
            let msg = format!("extension {n} is not defined");
            push(ctx, &step.at, msg, Some(hint(n)));
        }
    }
    for g in plan.groups.values() {
        for (m, at) in g.members.iter().zip(&g.member_at) {
            if !numbers.contains(&m.as_str()) {
                push(
                    ctx,
                    at,
                    format!("group member {m} is not an extension"),
                    Some(hint(m)),
                );
            }
        }
    }
}

fn push(ctx: &mut Ctx<'_>, at: &Spot, message: String, hint: Option<String>) {
    ctx.errors.push(ConfigError {
        file: ctx.file.to_path_buf(),
        line: at.line,
        column: at.column,
        key: at.key.clone(),
        message,
        hint,
    });
}

fn unknown(ctx: &mut Ctx<'_>, span: Span, key: &str, what: &str, name: &str, known: &[&str]) {
    let hint = match closest(name, known) {
        Some(best) => format!("did you mean `{best}`?"),
        None if known.is_empty() => format!("no {what} is defined"),
        None => format!("the known names are {}", known.join(", ")),
    };
    ctx.error(span, key, format!("unknown {what} `{name}`"), Some(hint));
}

fn goto_loops(ctx: &mut Ctx<'_>, contexts: &[Context], edges: &[Edge]) {
    // Depth-first search; an edge back into the current path closes a loop.
    fn visit(
        at: usize,
        contexts: &[Context],
        edges: &[Edge],
        state: &mut [u8],
        path: &mut Vec<usize>,
        loops: &mut Vec<(usize, Vec<usize>)>,
    ) {
        state[at] = 1;
        path.push(at);
        for (e, edge) in edges.iter().enumerate().filter(|(_, e)| e.from == at) {
            let Some(to) = contexts.iter().position(|c| c.name == edge.to) else {
                continue;
            };
            match state[to] {
                0 => visit(to, contexts, edges, state, path, loops),
                1 => {
                    let from = path.iter().position(|&p| p == to).unwrap_or(0);
                    loops.push((e, path[from..].to_vec()));
                }
                _ => {}
            }
        }
        path.pop();
        state[at] = 2;
    }
    let mut state = vec![0u8; contexts.len()];
    let mut loops = Vec::new();
    for start in 0..contexts.len() {
        if state[start] == 0 {
            visit(
                start,
                contexts,
                edges,
                &mut state,
                &mut Vec::new(),
                &mut loops,
            );
        }
    }
    for (e, cycle) in loops {
        let mut names: Vec<&str> = cycle.iter().map(|&c| contexts[c].name.as_str()).collect();
        names.push(names[0]);
        let edge = &edges[e];
        ctx.error(
            edge.span.clone(),
            &edge.key,
            format!("goto loop: {}", names.join(" → ")),
            Some(
                "a call would go round forever; end one of these contexts with another action"
                    .into(),
            ),
        );
    }
}

/// One `[[context]]`: the context, the span of its name, whether it has a time zone, and per
/// rule its 1-based number and the span of its `when` (if any). `default_tz`: the top-level
/// time zone and whether one was written (even if invalid). Rules with errors are left out
/// (their errors are recorded), so the other checks still see the rest.
fn context(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    default_tz: (Option<&TimeZone>, bool),
    index: usize,
    found: &mut Found,
) -> Option<(Context, Span, bool, RuleMeta)> {
    let name_span = sec.raw("name").map(|v| v.span());
    let name = sec.require(ctx, "name", "\"internal\"", name);
    let tz = sec.get(ctx, "timezone", timezone);
    let language = sec.get(ctx, "language", language);
    let mut rules = Vec::new();
    let mut whens = Vec::new();
    if let Some(v) = sec.raw("rule") {
        let path = sec.key_path("rule");
        match v.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let rpath = format!("{path}[{}]", i + 1);
                    let Some(t) = walk::table(ctx, &rpath, item) else {
                        continue;
                    };
                    let rsec = Section::new(rpath, t, item.span());
                    if let Some((r, when_span)) = rule(ctx, rsec, index, found) {
                        rules.push(r);
                        whens.push((i + 1, when_span));
                    }
                }
            }
            other => {
                ctx.error(
                    v.span(),
                    &path,
                    format!(
                        "expected `[[context.rule]]` tables, found {}",
                        walk::describe(other)
                    ),
                    Some("write each rule as `[[context.rule]]` after its `[[context]]`".into()),
                );
            }
        }
    }
    sec.finish(ctx);
    let (timezone, has_tz) = match tz {
        Got::Val(t, _) => (t, true),
        Got::Bad => (TimeZone::UTC, true),
        Got::Absent => match default_tz {
            (Some(t), _) => (t.clone(), true),
            (None, given) => (TimeZone::UTC, given),
        },
    };
    let language = language.val();
    let c = Context {
        name: name?,
        timezone,
        language,
        rules,
    };
    Some((c, name_span?, has_tz, whens))
}

fn rule(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    context: usize,
    found: &mut Found,
) -> Option<(Rule, Option<Span>)> {
    let match_span = sec.raw("match").map(|v| v.span());
    let pattern = sec.require(ctx, "match", "\"_1XXX\"", |c, p, v| {
        let s = match v.get_ref() {
            DeValue::Integer(i) => {
                let hint = Some(format!("write it in quotes: match = \"{i}\""));
                c.error(v.span(), p, "expected the number as a string", hint);
                return None;
            }
            _ => walk::string(c, p, v)?,
        };
        match Pattern::parse(s) {
            Ok(pat) => Some(pat),
            Err(e) => {
                c.error(v.span(), p, e.message, Some(e.hint));
                None
            }
        }
    });
    let when_span = sec.raw("when").map(|v| v.span());
    let when = sec.get(ctx, "when", |c, p, v| when(c, p, v, found));
    let set = sec.get(ctx, "set", vars);
    let step = step(ctx, &mut sec, found, Some(context));
    if let (Got::Absent, Got::Absent) = (&step, &set) {
        let hint = format!("add `action = ...`, one of {}", ACTIONS.join(", "));
        ctx.error(
            sec.span.clone(),
            &sec.key_path("action"),
            "a rule needs an `action` (or `set` to only set variables)",
            Some(hint),
        );
    }
    let at = spot(
        ctx,
        sec.key_path("match"),
        &match_span.clone().unwrap_or(sec.span.clone()),
    );
    sec.finish(ctx);
    let step = match step {
        Got::Bad => return None,
        got => got.val(),
    };
    let r = Rule {
        pattern: pattern?,
        when: when.or(When::default())?,
        set: set.or(Vars::new())?,
        step,
        at,
    };
    match_span?;
    Some((r, when_span))
}

/// The action keys of a rule, a `block_action` or a `fallback`: `action`, `target`, `code`,
/// `hangup`. `context`: the context index of a rule (for `goto` loop detection).
fn step(
    ctx: &mut Ctx<'_>,
    sec: &mut Section<'_, '_>,
    found: &mut Found,
    context: Option<usize>,
) -> Got<Step> {
    let action = sec.get(ctx, "action", |c, p, v| {
        let s = walk::string(c, p, v)?.trim();
        if let Some(a) = ACTIONS.iter().find(|a| **a == s) {
            return Some(*a);
        }
        let hint = match closest(s, ACTIONS) {
            Some(best) => format!(
                "did you mean `{best}`? The actions are {}",
                ACTIONS.join(", ")
            ),
            None => format!("the actions are {}", ACTIONS.join(", ")),
        };
        c.error(v.span(), p, format!("unknown action `{s}`"), Some(hint));
        None
    });
    let target = sec.raw("target");
    let code = sec.raw("code");
    let hangup = sec.raw("hangup");
    let (name, action_span) = match action {
        Got::Val(n, s) => (n, s),
        Got::Bad => return Got::Bad,
        Got::Absent => {
            for (key, v) in [("target", target), ("code", code), ("hangup", hangup)] {
                if let Some(v) = v {
                    ctx.error(
                        v.span(),
                        &sec.key_path(key),
                        format!("`{key}` without an `action`"),
                        Some(format!("add `action = ...`, one of {}", ACTIONS.join(", "))),
                    );
                    return Got::Bad;
                }
            }
            return Got::Absent;
        }
    };
    let takes_target = !matches!(name, "reject" | "hangup");
    let mut bad = false;
    for (key, v, takes) in [
        ("target", target, takes_target),
        ("code", code, name == "reject"),
        ("hangup", hangup, name == "prompt"),
    ] {
        if let Some(v) = v
            && !takes
        {
            let hint = match name {
                "reject" => "`reject` takes a SIP `code` (400-699), e.g. `code = 486`".to_string(),
                "hangup" => "`hangup` takes nothing else".to_string(),
                "prompt" => "`prompt` takes `target` (the prompt) and `hangup`".to_string(),
                _ => format!("`{name}` takes `target`"),
            };
            ctx.error(
                v.span(),
                &sec.key_path(key),
                format!("`{name}` does not take `{key}`"),
                Some(hint),
            );
            bad = true;
        }
    }
    if bad {
        return Got::Bad;
    }
    let tpath = sec.key_path("target");
    let at_span = target.map_or(action_span.clone(), |v| v.span());
    let at_key = if target.is_some() {
        tpath.clone()
    } else {
        sec.key_path("action")
    };
    let at = spot(ctx, at_key, &at_span);
    // A required name as `target`, with its span.
    let named = |ctx: &mut Ctx<'_>, example: &str| -> Option<(String, Span)> {
        match target {
            None => {
                ctx.error(
                    action_span.clone(),
                    &tpath,
                    format!("`{name}` needs a `target`"),
                    Some(format!("add `target = {example}`")),
                );
                None
            }
            Some(v) => self::name(ctx, &tpath, v).map(|n| (n, v.span())),
        }
    };
    let action = match name {
        "extension" => match target {
            None => Some(Action::Extension(Target::Dialed { skip: 0 })),
            Some(v) => template(ctx, &tpath, v, true).map(Action::Extension),
        },
        "voicemail" => match target {
            None => Some(Action::Voicemail(Target::Dialed { skip: 0 })),
            Some(v) => template(ctx, &tpath, v, false).map(Action::Voicemail),
        },
        "group" => named(ctx, "\"sales\"").map(|(n, span)| {
            found.refs.push(Ref {
                kind: RefKind::Group,
                name: n.clone(),
                span,
                key: tpath.clone(),
            });
            Action::Group(n)
        }),
        "goto" => named(ctx, "\"night\"").map(|(n, span)| {
            found.refs.push(Ref {
                kind: RefKind::Context,
                name: n.clone(),
                span: span.clone(),
                key: tpath.clone(),
            });
            if let Some(from) = context {
                found.edges.push(Edge {
                    from,
                    to: n.clone(),
                    span,
                    key: tpath.clone(),
                });
            }
            Action::Goto(n)
        }),
        "ivr" => named(ctx, "\"main\"").map(|(n, _)| Action::Ivr(n)),
        "queue" => named(ctx, "\"support\"").map(|(n, _)| Action::Queue(n)),
        "prompt" => {
            let p = named(ctx, "\"closed\"");
            let then_hangup = match hangup {
                None => Some(true),
                Some(v) => boolean(ctx, &sec.key_path("hangup"), v),
            };
            p.zip(then_hangup)
                .map(|((name, _), then_hangup)| Action::Prompt { name, then_hangup })
        }
        "reject" => match code {
            None => Some(Action::Reject(603)),
            Some(v) => walk::uint(ctx, &sec.key_path("code"), v, 400, 699)
                .map(|c| Action::Reject(c as u16)),
        },
        "hangup" => Some(Action::Hangup),
        "outbound" if context.is_none() => {
            ctx.error(
                action_span.clone(),
                &sec.key_path("action"),
                "`outbound` only works in a dial-plan rule",
                Some(
                    "it sends the dialled number out over a trunk, and here there is no dialled number; use a rule `action = \"outbound\"` in dialplan.toml"
                        .into(),
                ),
            );
            None
        }
        "outbound" => match target {
            None => Some(Action::Outbound(None)),
            Some(v) => self::name(ctx, &tpath, v).map(|n| Action::Outbound(Some(n))),
        },
        "feature" => named(ctx, "\"dnd_on\"").and_then(|(n, span)| {
            let names: Vec<&str> = Feature::ALL.iter().map(|(n, _)| *n).collect();
            match Feature::ALL.iter().find(|(f, _)| *f == n) {
                Some((_, f)) => Some(Action::Feature(*f)),
                None => {
                    let hint = match closest(&n, &names) {
                        Some(b) => format!("did you mean `{b}`?"),
                        None => format!("the features are {}", names.join(", ")),
                    };
                    ctx.error(span, &tpath, format!("unknown feature `{n}`"), Some(hint));
                    None
                }
            }
        }),
        _ => None,
    };
    match action {
        Some(action) => Got::Val(Step { action, at }, at_span),
        None => Got::Bad,
    }
}

/// `${number}`, `${number:N}` or a literal (an extension number when `extension`).
fn template(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, extension: bool) -> Option<Target> {
    let s = walk::nonempty(ctx, path, v)?.trim();
    let hint = "write `${number}` for the dialled number, `${number:1}` to drop its first digit";
    if let Some(inner) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        return match inner.split_once(':') {
            None if inner == "number" => Some(Target::Dialed { skip: 0 }),
            Some(("number", n)) if n.parse::<u8>().is_ok() => Some(Target::Dialed {
                skip: n.parse::<usize>().unwrap_or(0),
            }),
            _ => {
                ctx.error(
                    v.span(),
                    path,
                    format!("unknown substitution `{s}`"),
                    Some(hint.into()),
                );
                None
            }
        };
    }
    if s.contains('$') {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not a valid target"),
            Some(hint.into()),
        );
        return None;
    }
    if extension && !(s.len() >= 2 && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit())) {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not an extension number"),
            Some(format!("an extension like \"1001\", or {hint}")),
        );
        return None;
    }
    Some(Target::Literal(s.to_string()))
}

/// A name of a context, IVR, queue, group, prompt or holiday list (trunks.toml's `context`
/// is checked with it too).
pub(crate) fn name(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = walk::nonempty(ctx, path, v)?.trim();
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not a valid name"),
            Some("use letters, digits, `-`, `_`, `.` and `/`".into()),
        );
        return None;
    }
    Some(s.to_string())
}

fn language(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = walk::string(ctx, path, v)?.trim();
    if (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase()) {
        return Some(s.to_string());
    }
    ctx.error(
        v.span(),
        path,
        format!("`{s}` is not a language code"),
        Some("a two-letter code like \"en\" or \"ru\" (the directory under sounds/)".into()),
    );
    None
}

fn boolean(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        other => {
            let msg = format!("expected true or false, found {}", walk::describe(other));
            ctx.error(
                v.span(),
                path,
                msg,
                Some("write true or false without quotes".into()),
            );
            None
        }
    }
}

fn timezone(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<TimeZone> {
    let s = walk::nonempty(ctx, path, v)?.trim();
    if let Ok(tz) = TimeZone::get(s) {
        return Some(tz);
    }
    let names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let hint = match closest(s, &refs) {
        Some(best) => format!("did you mean \"{best}\"?"),
        None => "use an IANA time zone name like \"Europe/Berlin\" or \"UTC\"".into(),
    };
    ctx.error(
        v.span(),
        path,
        format!("unknown time zone `{s}`"),
        Some(hint),
    );
    None
}

fn when(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, found: &mut Found) -> Option<When> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let days = sec.get(ctx, "days", days);
    let time = sec.get(ctx, "time", times);
    let mut list = |sec: &mut Section<'_, '_>, ctx: &mut Ctx<'_>, key: &'static str| {
        let got = sec.get(ctx, key, name);
        if let Got::Val(n, span) = &got {
            found.refs.push(Ref {
                kind: RefKind::Holiday,
                name: n.clone(),
                span: span.clone(),
                key: sec.key_path(key),
            });
        }
        got
    };
    let holidays = list(&mut sec, ctx, "holidays");
    let except = list(&mut sec, ctx, "except_holidays");
    let caller = sec.get(ctx, "caller", caller_list);
    let var = sec.get(ctx, "var", vars);
    sec.finish(ctx);
    let opt = |g: Got<String>| match g {
        Got::Bad => None,
        g => Some(g.val()),
    };
    Some(When {
        days: match days {
            Got::Bad => return None,
            g => g.val(),
        },
        time: time.or(Vec::new())?,
        holidays: opt(holidays)?,
        except_holidays: opt(except)?,
        caller: caller.or(Vec::new())?,
        vars: var.or(Vars::new())?,
    })
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `"mon-fri,sun"` → bit mask (bit 0 = Monday); ranges may wrap (`"fri-mon"`).
fn days(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<u8> {
    let s = walk::nonempty(ctx, path, v)?;
    let day = |d: &str| {
        let d = d.trim().to_ascii_lowercase();
        (0..7).find(|&i| DAYS[i] == d || FULL_DAYS[i] == d)
    };
    let mut mask = 0u8;
    for part in s.split(',') {
        let ok = match part.split_once('-') {
            Some((a, b)) => day(a).zip(day(b)).map(|(a, b)| {
                let mut i = a;
                loop {
                    mask |= 1 << i;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }),
            None => day(part).map(|d| mask |= 1 << d),
        };
        if ok.is_none() {
            ctx.error(
                v.span(),
                path,
                format!("`{}` is not a day or a range of days", part.trim()),
                Some("write days as mon, tue, wed, thu, fri, sat, sun, with ranges and commas: \"mon-fri,sun\"".into()),
            );
            return None;
        }
    }
    Some(mask)
}

/// `"09:00-12:00,13:00-18:00"` → minute ranges.
fn times(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Vec<(u16, u16)>> {
    let s = walk::nonempty(ctx, path, v)?;
    let hint = "write a local time range like \"09:00-18:00\" (end exclusive; \"22:00-06:00\" runs over midnight), several separated by commas";
    let clock = |t: &str, end: bool| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        match (h, m) {
            (24, 0) if end => Some(24 * 60),
            (0..=23, 0..=59) => Some(h * 60 + m),
            _ => None,
        }
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        let range = part
            .split_once('-')
            .and_then(|(a, b)| clock(a, false).zip(clock(b, true)));
        match range {
            Some((a, b)) if a == b => {
                ctx.error(
                    v.span(),
                    path,
                    format!("`{}` is an empty time range", part.trim()),
                    Some("for the whole day leave `time` out".into()),
                );
                return None;
            }
            Some(r) => out.push(r),
            None => {
                ctx.error(
                    v.span(),
                    path,
                    format!("`{}` is not a time range", part.trim()),
                    Some(hint.into()),
                );
                return None;
            }
        }
    }
    Some(out)
}

/// A string or a list of caller patterns.
fn caller_list(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Vec<CallerPattern>> {
    let one = |ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>| {
        let s = walk::nonempty(ctx, path, v)?;
        match CallerPattern::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                ctx.error(v.span(), path, e.message, Some(e.hint));
                None
            }
        }
    };
    match v.get_ref() {
        DeValue::String(_) => one(ctx, path, v).map(|p| vec![p]),
        _ => walk::list_of(ctx, path, v, "[\"+7900*\", \"0049123\"]", one),
    }
}

/// `{ name = "value", ... }`: variable names are letters, digits and `_`; values strings or
/// numbers.
fn vars(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Vars> {
    let t = walk::table(ctx, path, v)?;
    let mut out = Vars::new();
    let mut ok = true;
    for (k, val) in t.iter() {
        let key: &str = k.get_ref();
        let kpath = format!("{path}.{key}");
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            ctx.error(
                k.span(),
                &kpath,
                format!("`{key}` is not a variable name"),
                Some("use letters, digits and `_`".into()),
            );
            ok = false;
            continue;
        }
        let value = match val.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.as_str().to_string(),
            DeValue::Boolean(b) => b.to_string(),
            other => {
                ctx.error(
                    val.span(),
                    &kpath,
                    format!("expected a string, found {}", walk::describe(other)),
                    Some(format!("write `{key} = \"value\"`")),
                );
                ok = false;
                continue;
            }
        };
        out.insert(key.to_string(), value);
    }
    ok.then_some(out)
}

/// `[holidays.NAME]` tables (`dates = [...]`) or `NAME = [...]` lists.
fn holiday_lists(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
) -> Option<BTreeMap<String, Vec<Holiday>>> {
    let t = walk::table(ctx, path, v)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, val) in t.iter() {
        let lpath = format!("{path}.{}", k.get_ref());
        let dates = match val.get_ref() {
            DeValue::Table(lt) => {
                let mut sec = Section::new(lpath.clone(), lt, val.span());
                let d = sec.require(ctx, "dates", "[\"2026-12-25\"]", |c, p, v| {
                    walk::list_of(c, p, v, "[\"2026-12-25\", \"01-01\"]", date)
                });
                sec.finish(ctx);
                d
            }
            _ => walk::list_of(ctx, &lpath, val, "[\"2026-12-25\", \"01-01\"]", date),
        };
        match dates {
            Some(d) => {
                out.insert(k.get_ref().to_string(), d);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `"2026-12-25"`, a TOML date `2026-12-25`, or `"12-25"` (every year).
fn date(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Holiday> {
    let text = match v.get_ref() {
        DeValue::Datetime(d) => d.to_string(),
        _ => walk::string(ctx, path, v)?.trim().to_string(),
    };
    let num = |s: &str, len: usize| -> Option<i16> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let parts: Vec<&str> = text.split('-').collect();
    let parsed = match parts.as_slice() {
        [y, m, d] => num(y, 4)
            .zip(num(m, 2))
            .zip(num(d, 2))
            .map(|((y, m), d)| Date::new(y, m as i8, d as i8).map(Holiday::Date)),
        [m, d] => num(m, 2).zip(num(d, 2)).map(|(m, d)| {
            Date::new(2000, m as i8, d as i8).map(|_| Holiday::Yearly {
                month: m as i8,
                day: d as i8,
            })
        }),
        _ => None,
    };
    match parsed {
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => {
            ctx.error(
                v.span(),
                path,
                format!("`{text}` is not a date in the calendar"),
                Some("check the month (01-12) and the day of that month".into()),
            );
            None
        }
        None => {
            ctx.error(
                v.span(),
                path,
                format!("`{text}` is not a date"),
                Some("write \"YYYY-MM-DD\" for one day (\"2026-12-25\") or \"MM-DD\" for every year (\"01-01\")".into()),
            );
            None
        }
    }
}

fn groups(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    found: &mut Found,
) -> Option<BTreeMap<String, Group>> {
    let t = walk::table(ctx, path, v)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, val) in t.iter() {
        let gpath = format!("{path}.{}", k.get_ref());
        let Some(gt) = walk::table(ctx, &gpath, val) else {
            ok = false;
            continue;
        };
        match group(ctx, Section::new(gpath, gt, val.span()), found) {
            Some(g) => {
                out.insert(k.get_ref().to_string(), g);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn group(ctx: &mut Ctx<'_>, mut sec: Section<'_, '_>, found: &mut Found) -> Option<Group> {
    let mut member_at = Vec::new();
    let members = sec.require(ctx, "members", "[\"1002\", \"1003\"]", |c, p, v| {
        let list = walk::list_of(c, p, v, "[\"1002\", \"1003\"]", |c, p, item| {
            let s = walk::string(c, p, item)?.trim();
            if !(2..=15).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
                c.error(
                    item.span(),
                    p,
                    format!("`{s}` is not an extension number"),
                    Some("members are extensions like \"1002\"".into()),
                );
                return None;
            }
            member_at.push(spot(c, p.to_string(), &item.span()));
            Some(s.to_string())
        })?;
        if list.is_empty() {
            c.error(
                v.span(),
                p,
                "a group with no members",
                Some("list at least one extension".into()),
            );
            return None;
        }
        Some(list)
    });
    let strategy = sec.get(ctx, "strategy", |c, p, v| {
        match walk::string(c, p, v)?.trim() {
            "simultaneous" => Some(Strategy::Simultaneous),
            "sequential" => Some(Strategy::Sequential),
            other => {
                let hint = match closest(other, &["simultaneous", "sequential"]) {
                    Some(b) => format!("did you mean `{b}`?"),
                    None => "`simultaneous` (all ring at once) or `sequential` (in turn)".into(),
                };
                c.error(
                    v.span(),
                    p,
                    format!("unknown strategy `{other}`"),
                    Some(hint),
                );
                None
            }
        }
    });
    let secs = Duration::from_secs;
    let timeout = sec.get(ctx, "timeout", |c, p, v| {
        walk::duration(c, p, v, secs(1), secs(3600))
    });
    let member_timeout = sec.get(ctx, "member_timeout", |c, p, v| {
        walk::duration(c, p, v, secs(1), secs(3600))
    });
    let fallback = sec.get(ctx, "fallback", |c, p, v| {
        let t = walk::table(c, p, v)?;
        let mut fsec = Section::new(p, t, v.span());
        let step = step(c, &mut fsec, found, None);
        if let Got::Absent = step {
            c.error(
                v.span(),
                &fsec.key_path("action"),
                "a fallback needs an `action`",
                Some("e.g. `fallback = { action = \"voicemail\", target = \"1002\" }`".into()),
            );
        }
        fsec.finish(c);
        let step = step.val()?;
        if let Action::Group(_) = step.action {
            c.error(
                v.span(),
                p,
                "a group's fallback cannot be another group",
                Some("use `goto` to a context whose rule rings the other group".into()),
            );
            return None;
        }
        Some(step)
    });
    sec.finish(ctx);
    let fallback = match fallback {
        Got::Bad => return None,
        g => g.val(),
    };
    Some(Group {
        members: members?,
        strategy: strategy.or(Strategy::Simultaneous)?,
        timeout: timeout.or(secs(30))?,
        member_timeout: member_timeout.or(secs(15))?,
        fallback,
        member_at,
    })
}

fn callers(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, found: &mut Found) -> Option<Callers> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let block = sec.get(ctx, "block", caller_list);
    let vip = sec.get(ctx, "vip", caller_list);
    let block_action = sec.get(ctx, "block_action", |c, p, v| {
        let t = walk::table(c, p, v)?;
        let mut asec = Section::new(p, t, v.span());
        let step = step(c, &mut asec, found, None);
        if let Got::Absent = step {
            c.error(
                v.span(),
                &asec.key_path("action"),
                "`block_action` needs an `action`",
                Some("e.g. `{ action = \"reject\", code = 603 }` or `{ action = \"prompt\", target = \"blocked\" }`".into()),
            );
        }
        asec.finish(c);
        step.val()
    });
    sec.finish(ctx);
    Some(Callers {
        block: block.or(Vec::new())?,
        block_action: block_action.or(Callers::default().block_action)?,
        vip: vip.or(Vec::new())?,
    })
}

/// A destination outside the dial plan (`queues.toml`: `on_timeout = { action = "voicemail",
/// target = "1000" }`): the same action keys as a rule, without `goto` and `feature`. Names it
/// refers to are cross-checked by the caller once all files are read.
pub(crate) fn destination(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Step> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let mut found = Found::default();
    let got = step(ctx, &mut sec, &mut found, None);
    if let Got::Absent = got {
        ctx.error(
            v.span(),
            &sec.key_path("action"),
            "a destination needs an `action`",
            Some("e.g. `{ action = \"voicemail\", target = \"1000\" }`".into()),
        );
    }
    sec.finish(ctx);
    let s = got.val()?;
    if matches!(s.action, Action::Goto(_) | Action::Feature(_)) {
        ctx.error(
            v.span(),
            path,
            "a queue destination cannot be `goto` or `feature`",
            Some("send the caller to an extension, group, ivr, queue, voicemail or prompt".into()),
        );
        return None;
    }
    Some(s)
}
