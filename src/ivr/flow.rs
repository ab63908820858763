//! IVR flows: `ivr.toml` → typed, validated [`Flows`].
//!
//! # The TOML
//!
//! Each flow is a table `[ivr.<flow>]` with `language` (`"en"` or `"ru"`, default `"en"`),
//! `start` (the first node, required) and its nodes as `[ivr.<flow>.node.<name>]`. Flow and node
//! names are lower-case letters, digits, `_` and `-`. A node does one thing, chosen by which of
//! these keys it has:
//!
//! | key       | node        | other keys                                                      |
//! |-----------|-------------|-----------------------------------------------------------------|
//! | `play`    | play        | `next` (required)                                               |
//! | `menu`    | menu        | `options` (required), `timeout` (5s), `retries` (3), `invalid`, `no_input`, `after_retries` (`hangup`) |
//! | `collect` | collect     | `next` (required)                                               |
//! | `if`      | branch      | `then`, `else` (both required)                                  |
//! | none      | jump        | `next` (required)                                               |
//!
//! Any node may also have `set = { var = "value", ... }`, applied when the node is entered.
//!
//! **Sequences** (`play`, `menu`, `invalid`, `no_input`, `collect.prompt`) are lists whose items
//! are a prompt name (`"greeting"` → `sounds/<language>/greeting.wav`) or a table saying a value:
//! `{ prompt = "name" }`, `{ number = "${position}" }` (optionally `gender = "masculine" |
//! "feminine" | "neuter"`, for the Russian grammar), `{ duration = "${wait}" }` (seconds) and
//! `{ digits = "${account}" }`.
//!
//! **Targets** (`next`, `then`, `else`, `after_retries`, the values of `options`) are
//! `goto:<node>` or a bare node name, `hangup`, or a dial-plan action the engine performs:
//! `extension:<number>`, `group:<name>`, `queue:<name>`, `voicemail:<box>`, `ivr:<flow>`,
//! `dial:<number>` (through the dial plan). `hangup` is therefore not a node name.
//!
//! **Menus**: `options = { "1" = "goto:sales", "*" = "menu" }`, keys one of `0-9 * #`. The menu
//! prompts play while the caller may already press a key (barge-in); after they end, `timeout`
//! runs. An invalid key plays `invalid`, no key plays `no_input`; both count as a failure and
//! the menu starts over. After `retries` failures have been retried, the next failure plays its
//! prompts and continues at `after_retries` (so `retries = 3` offers the menu 4 times).
//!
//! **Collect**: `collect = { var = "account", prompt = [...], max_digits = 6, terminator = "#",
//! first_timeout = "5s", inter_timeout = "3s" }` stores the digits in `var` (defaults:
//! `max_digits` 20, `terminator` `"#"` — `""` for none —, `first_timeout` 5s, `inter_timeout`
//! 3s). The terminator is not stored; nothing entered stores `""`.
//!
//! **Conditions**: `if = { var = "account", equals = "123" }` or `matches = "_1XX"` (Asterisk
//! style: `_` then `X` any digit, `Z` 1–9, `N` 2–9, `[1-5]` a class, `.` one or more further
//! characters, `!` zero or more, anything else literal).
//!
//! **Variables**: `${name}` is replaced in exit targets, `set` values, `equals` and the say
//! items; an unset variable reads as `""`. The engine supplies `caller` and `dialed`.
//!
//! # Validation
//!
//! Every mistake is reported with file, line, column, key path and hint (the
//! [`crate::config`] conventions): unknown keys, a missing `start`, unknown node targets (hint:
//! the closest name), `ivr:` targets naming no flow, nodes nothing can reach from `start`, bad
//! durations, option keys other than `0-9*#`, unknown languages, malformed `${...}` and
//! patterns. Cross-checks that need other files (prompt files on disk, extensions, queues,
//! mailboxes) are left to the caller through [`Flows::prompt_refs`] and [`Flows::exits`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::config::error::{closest, edit_distance};
use crate::config::walk::{self, Ctx, Got, Section, Span, Value};
use crate::config::{ConfigError, ConfigErrors};

/// The language a flow speaks; prompts live in `sounds/<language>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    En,
    Ru,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::Ru];

    /// `"en"`, `"ru"`: the sounds subdirectory and the config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ru => "ru",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

pub use crate::ivr::say::Gender;

/// A string with `${var}` references, checked at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

impl Template {
    /// Checks the `${...}` syntax; the error is `(message, hint)`.
    pub fn parse(s: &str) -> Result<Template, (String, String)> {
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err((
                    format!("unclosed `${{` in `{s}`"),
                    "write variables as `${name}`".into(),
                ));
            };
            if !is_var_name(&after[..end]) {
                return Err((
                    format!("`{}` is not a variable name", &after[..end]),
                    "variable names are letters, digits and `_`, like `${caller}`".into(),
                ));
            }
            rest = &after[end + 1..];
        }
        Ok(Template(s.to_string()))
    }

    /// The text as written.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// Whether the text refers to a variable.
    pub fn is_dynamic(&self) -> bool {
        self.0.contains("${")
    }

    /// The text with every `${name}` replaced by its value (`""` when unset).
    pub fn expand(&self, vars: &Vars) -> String {
        let mut out = String::with_capacity(self.0.len());
        let mut rest = self.0.as_str();
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find('}') {
                Some(end) => {
                    if let Some(v) = vars.get(&after[..end]) {
                        out.push_str(v);
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Call variables: name → value. The engine supplies `caller` and `dialed`.
pub type Vars = BTreeMap<String, String>;

fn is_var_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn is_prompt_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// One item of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SayItem {
    /// A prompt file by name.
    Prompt(String),
    /// A whole number, said with the language's grammar.
    Number(Template, Gender),
    /// A number of seconds, said as minutes and seconds.
    Duration(Template),
    /// Digit by digit.
    Digits(Template),
}

/// The dial-plan actions a flow can end in; the engine performs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExitKind {
    Extension,
    Group,
    Queue,
    Voicemail,
    Ivr,
    Dial,
}

impl ExitKind {
    const ALL: [ExitKind; 6] = [
        ExitKind::Extension,
        ExitKind::Group,
        ExitKind::Queue,
        ExitKind::Voicemail,
        ExitKind::Ivr,
        ExitKind::Dial,
    ];

    /// The prefix as written before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitKind::Extension => "extension",
            ExitKind::Group => "group",
            ExitKind::Queue => "queue",
            ExitKind::Voicemail => "voicemail",
            ExitKind::Ivr => "ivr",
            ExitKind::Dial => "dial",
        }
    }
}

/// Where a node leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Another node of the same flow (validated to exist).
    Goto(String),
    Hangup,
    /// A dial-plan action; the argument may use `${var}`.
    Exit(ExitKind, Template),
}

/// A test on a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Equals { var: String, value: Template },
    Matches { var: String, pattern: Pattern },
}

impl Condition {
    pub fn eval(&self, vars: &Vars) -> bool {
        let get = |v: &str| vars.get(v).map_or("", String::as_str);
        match self {
            Condition::Equals { var, value } => get(var) == value.expand(vars),
            Condition::Matches { var, pattern } => pattern.matches(get(var)),
        }
    }
}

/// An Asterisk-style digit pattern (`_NXXX`, `_1[2-5]X.`); see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    raw: String,
    elems: Vec<PatElem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatElem {
    /// One character from the set.
    Class(Vec<(char, char)>),
    /// `.`: one or more of anything.
    OneOrMore,
    /// `!`: zero or more of anything.
    ZeroOrMore,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, (String, String)> {
        let hint = || {
            "a pattern starts with `_`, then X (0-9), Z (1-9), N (2-9), [1-5], `.` or `!` at the \
             end, and literal digits, like \"_1XX\""
                .to_string()
        };
        let Some(body) = s.strip_prefix('_') else {
            return Err((format!("`{s}` is not a pattern"), hint()));
        };
        let mut elems = Vec::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            let elem = match c.to_ascii_uppercase() {
                'X' => PatElem::Class(vec![('0', '9')]),
                'Z' => PatElem::Class(vec![('1', '9')]),
                'N' => PatElem::Class(vec![('2', '9')]),
                '.' | '!' if chars.peek().is_some() => {
                    return Err((format!("`{c}` must end the pattern `{s}`"), hint()));
                }
                '.' => PatElem::OneOrMore,
                '!' => PatElem::ZeroOrMore,
                '[' => {
                    let mut set = Vec::new();
                    let mut closed = false;
                    while let Some(a) = chars.next() {
                        if a == ']' {
                            closed = true;
                            break;
                        }
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(b) if b != ']' && a <= b => set.push((a, b)),
                                _ => return Err((format!("bad range in `{s}`"), hint())),
                            }
                        } else {
                            set.push((a, a));
                        }
                    }
                    if !closed || set.is_empty() {
                        return Err((format!("unclosed or empty `[` in `{s}`"), hint()));
                    }
                    PatElem::Class(set)
                }
                d if d.is_ascii_digit() || d == '*' || d == '#' || d == '+' => {
                    PatElem::Class(vec![(d, d)])
                }
                _ => return Err((format!("`{c}` is not allowed in the pattern `{s}`"), hint())),
            };
            elems.push(elem);
        }
        if elems.is_empty() {
            return Err((format!("`{s}` is an empty pattern"), hint()));
        }
        Ok(Pattern {
            raw: s.to_string(),
            elems,
        })
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        for (i, e) in self.elems.iter().enumerate() {
            match e {
                PatElem::Class(set) => match chars.get(i) {
                    Some(c) if set.iter().any(|(a, b)| (a..=b).contains(&c)) => {}
                    _ => return false,
                },
                PatElem::OneOrMore => return chars.len() > i,
                PatElem::ZeroOrMore => return true,
            }
        }
        chars.len() == self.elems.len()
    }
}

/// A menu node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub prompts: Vec<SayItem>,
    /// Key (`0-9*#`) → target, in key order.
    pub options: BTreeMap<char, Target>,
    pub timeout: Duration,
    pub retries: u32,
    pub invalid: Vec<SayItem>,
    pub no_input: Vec<SayItem>,
    pub after_retries: Target,
}

/// A collect node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collect {
    pub var: String,
    pub prompts: Vec<SayItem>,
    pub max_digits: usize,
    pub terminator: Option<char>,
    pub first_timeout: Duration,
    pub inter_timeout: Duration,
    pub next: Target,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Only `set` (if any), then `next`.
    Jump {
        next: Target,
    },
    Play {
        items: Vec<SayItem>,
        next: Target,
    },
    Menu(Menu),
    Collect(Collect),
    Branch {
        cond: Condition,
        then: Target,
        otherwise: Target,
    },
}

/// One node of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Applied in key order when the node is entered.
    pub set: Vec<(String, Template)>,
    pub kind: NodeKind,
}

/// One flow: `[ivr.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub name: String,
    pub language: Language,
    pub start: String,
    pub nodes: BTreeMap<String, Node>,
}

impl Flow {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }
}

/// A position in `ivr.toml` for errors found by later cross-checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub line: usize,
    pub column: usize,
    /// Key path, e.g. `ivr.main.node.menu.options.1`.
    pub key: String,
}

/// A prompt a flow plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    pub flow: String,
    pub language: Language,
    pub name: String,
    pub place: Place,
}

/// A dial-plan action a flow can end in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRef {
    pub flow: String,
    pub kind: ExitKind,
    /// As written (may contain `${var}`).
    pub value: String,
    /// `value` refers to a variable, so it can only be checked at run time.
    pub dynamic: bool,
    pub place: Place,
}

/// All flows of `ivr.toml`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flows {
    /// The file they came from (for cross-check errors).
    pub file: PathBuf,
    flows: BTreeMap<String, Arc<Flow>>,
    prompts: Vec<PromptRef>,
    exits: Vec<ExitRef>,
}

impl Flows {
    /// Parses and validates one `ivr.toml` text outside a whole config load (tests, tools).
    pub fn parse(file: &Path, text: &str) -> Result<Flows, ConfigErrors> {
        let mut errors = Vec::new();
        let mut ctx = Ctx {
            file,
            text,
            errors: &mut errors,
        };
        let flows = match DeTable::parse(text) {
            Ok(doc) => check(&mut ctx, &doc),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let msg = format!("TOML syntax error: {}", e.message().trim());
                ctx.error(span, "", msg, None);
                Flows::default()
            }
        };
        if errors.is_empty() {
            Ok(flows)
        } else {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(errors))
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Flow>> {
        self.flows.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flows.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Every prompt file name the flows in `lang` play (say items not included: their prompts
    /// come from [`crate::ivr::say`]).
    pub fn prompt_names(&self, lang: Language) -> BTreeSet<&str> {
        self.prompts
            .iter()
            .filter(|p| p.language == lang)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// Every prompt reference with its place, for "missing prompt file" errors.
    pub fn prompt_refs(&self) -> &[PromptRef] {
        &self.prompts
    }

    /// Every dial-plan action the flows can end in, for cross-checks against extensions,
    /// groups, queues and mailboxes. (`ivr:` targets are already checked here.)
    pub fn exits(&self) -> &[ExitRef] {
        &self.exits
    }

    /// A config error at `place` in this file.
    pub fn error_at(&self, place: &Place, message: String, hint: Option<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: place.line,
            column: place.column,
            key: place.key.clone(),
            message,
            hint,
        }
    }
}

/// The known name `word` is most likely a typo of: [`closest`], or for names of 4 or more
/// characters one at most two edits away (`salse` → `sales`, `mneu` → `menu`).
fn suggest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    closest(word, known).or_else(|| {
        known
            .iter()
            .filter(|k| k.len() >= 4)
            .map(|k| (edit_distance(word, k), *k))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
    })
}

// ---- the checker -------------------------------------------------------------------------

const ROOT_ELSEWHERE: &[(&str, &str)] = &[
    ("server", "server settings go in zvon.toml"),
    ("extension", "extensions go in extensions.toml"),
    ("node", "nodes go inside a flow: [ivr.<flow>.node.<name>]"),
];

/// Per-flow bookkeeping while checking.
struct Pending {
    /// `goto` targets: (node name, span, key path).
    gotos: Vec<(String, Span, String)>,
    /// `ivr:` targets.
    flows: Vec<(String, Span, String)>,
    /// Node → the nodes it leads to.
    edges: HashMap<String, Vec<String>>,
    /// Node → span of its table (for "unreachable").
    spans: HashMap<String, Span>,
}

/// Checks the document of `ivr.toml`. Errors go to `ctx`; the flows returned are complete
/// only when no error was recorded.
pub(crate) fn check(ctx: &mut Ctx<'_>, doc: &Spanned<DeTable<'_>>) -> Flows {
    let mut out = Flows {
        file: ctx.file.to_path_buf(),
        ..Flows::default()
    };
    let mut root = Section::new("", doc.get_ref(), doc.span()).with_elsewhere(ROOT_ELSEWHERE);
    let ivr = root.raw("ivr");
    root.finish(ctx);
    let Some(ivr) = ivr else {
        return out;
    };
    let Some(ivr_table) = walk::table(ctx, "ivr", ivr) else {
        return out;
    };
    let mut pendings = Vec::new();
    // Every flow written, even one with mistakes, so `ivr:` targets to it are not reported too.
    let declared: Vec<&str> = ivr_table
        .iter()
        .map(|(k, _)| k.get_ref().as_ref())
        .collect();
    for (name, v) in ivr_table.iter() {
        let name: &str = name.get_ref();
        let path = format!("ivr.{name}");
        if !is_node_name(name) {
            let hint = Some("flow names are lower-case letters, digits, `_` and `-`".into());
            ctx.error(
                v.span(),
                &path,
                format!("`{name}` is not a flow name"),
                hint,
            );
            continue;
        }
        let Some(t) = walk::table(ctx, &path, v) else {
            continue;
        };
        let mut pending = Pending {
            gotos: Vec::new(),
            flows: Vec::new(),
            edges: HashMap::new(),
            spans: HashMap::new(),
        };
        let sec = Section::new(path, t, v.span());
        if let Some(flow) = flow(ctx, sec, name, &mut pending, &mut out) {
            pendings.push((flow.name.clone(), pending));
            out.flows.insert(flow.name.clone(), Arc::new(flow));
        }
    }
    // Cross-checks within the file.
    for (name, p) in &pendings {
        let Some(flow) = out.flows.get(name) else {
            continue;
        };
        let node_names: Vec<&str> = flow.nodes.keys().map(String::as_str).collect();
        let mut bad_goto = false;
        for (target, span, key) in &p.gotos {
            if flow.nodes.contains_key(target) {
                continue;
            }
            bad_goto = true;
            let hint = match suggest(target, &node_names) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("the nodes of `{name}` are {}", node_names.join(", ")),
            };
            let msg = format!("no node `{target}` in flow `{name}`");
            ctx.error(span.clone(), key, msg, Some(hint));
        }
        for (target, span, key) in &p.flows {
            if declared.contains(&target.as_str()) {
                continue;
            }
            let hint = match suggest(target, &declared) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("the flows are {}", declared.join(", ")),
            };
            ctx.error(
                span.clone(),
                key,
                format!("no IVR flow `{target}`"),
                Some(hint),
            );
        }
        if bad_goto || !flow.nodes.contains_key(&flow.start) {
            continue;
        }
        // Reachability from start.
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![flow.start.as_str()];
        while let Some(n) = todo.pop() {
            if !seen.insert(n) {
                continue;
            }
            if let Some(next) = p.edges.get(n) {
                todo.extend(next.iter().map(String::as_str));
            }
        }
        for node in flow.nodes.keys() {
            if seen.contains(node.as_str()) {
                continue;
            }
            let span = p.spans.get(node).cloned().unwrap_or(0..0);
            let key = format!("ivr.{name}.node.{node}");
            let msg = format!("node `{node}` is unreachable: nothing leads to it from `start`");
            let hint = Some(format!(
                "lead to it with `goto:{node}` from a menu option or a `next`, or delete it"
            ));
            ctx.error(span, &key, msg, hint);
        }
    }
    out
}

fn flow(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    name: &str,
    pending: &mut Pending,
    out: &mut Flows,
) -> Option<Flow> {
    let language = sec
        .get(ctx, "language", |c, p, v| {
            let s = walk::string(c, p, v)?;
            let lang = Language::parse(s);
            if lang.is_none() {
                let hint = Some("the shipped languages are \"en\" and \"ru\"".into());
                c.error(v.span(), p, format!("unknown language `{s}`"), hint);
            }
            lang
        })
        .or(Language::En);
    let start_span = sec.raw("start").map(|v| v.span());
    let start = sec.require(ctx, "start", "\"welcome\"", |c, p, v| {
        let s = walk::nonempty(c, p, v)?;
        Some(s.trim().to_string())
    });
    let nodes_v = sec.raw("node");
    let node_path = sec.key_path("node");
    let flow_span = sec.span.clone();
    sec.finish(ctx);
    let language = language?;

    let mut nodes = BTreeMap::new();
    let mut ok = true;
    match nodes_v {
        None => {
            let hint = Some(format!("add a node: [ivr.{name}.node.welcome]"));
            ctx.error(
                flow_span,
                &node_path,
                format!("flow `{name}` has no nodes"),
                hint,
            );
            ok = false;
        }
        Some(v) => {
            let t = walk::table(ctx, &node_path, v)?;
            for (k, nv) in t.iter() {
                let nname: &str = k.get_ref();
                let path = format!("{node_path}.{nname}");
                if !is_node_name(nname) || nname == "hangup" {
                    let hint = Some(if nname == "hangup" {
                        "`hangup` is the action that ends the call; pick another name".to_string()
                    } else {
                        "node names are lower-case letters, digits, `_` and `-`".to_string()
                    });
                    ctx.error(
                        k.span(),
                        &path,
                        format!("`{nname}` is not a node name"),
                        hint,
                    );
                    ok = false;
                    continue;
                }
                let Some(nt) = walk::table(ctx, &path, nv) else {
                    ok = false;
                    continue;
                };
                pending.spans.insert(nname.to_string(), nv.span());
                let mut nc = NodeCtx {
                    flow: name,
                    language,
                    node: nname,
                    pending: &mut *pending,
                    out: &mut *out,
                };
                match node(ctx, Section::new(path, nt, nv.span()), nt, &mut nc) {
                    Some(n) => {
                        nodes.insert(nname.to_string(), n);
                    }
                    None => ok = false,
                }
            }
        }
    }
    let start = start?;
    if ok && !nodes.contains_key(&start) {
        let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
        let hint = match suggest(&start, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("the nodes are {}", names.join(", ")),
        };
        let key = format!("ivr.{name}.start");
        ctx.error(
            start_span.unwrap_or(0..0),
            &key,
            format!("`start` names no node: `{start}`"),
            Some(hint),
        );
        return None;
    }
    ok.then(|| Flow {
        name: name.to_string(),
        language,
        start,
        nodes,
    })
}

struct NodeCtx<'a> {
    flow: &'a str,
    language: Language,
    node: &'a str,
    pending: &'a mut Pending,
    out: &'a mut Flows,
}

impl NodeCtx<'_> {
    fn place(&self, ctx: &Ctx<'_>, span: &Span, key: &str) -> Place {
        let (line, column) = ctx.position(span);
        Place {
            line,
            column,
            key: key.to_string(),
        }
    }
}

fn node(
    ctx: &mut Ctx<'_>,
    mut sec: Section<'_, '_>,
    table: &DeTable<'_>,
    nc: &mut NodeCtx<'_>,
) -> Option<Node> {
    let kinds: Vec<&str> = ["play", "menu", "collect", "if"]
        .into_iter()
        .filter(|k| table.get(*k).is_some())
        .collect();
    if kinds.len() > 1 {
        let msg = format!(
            "a node does one thing, this one has {}",
            kinds
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        );
        let hint = Some("split it into nodes linked with `next`".into());
        ctx.error(sec.span.clone(), &sec.path, msg, hint);
        return None;
    }
    let set = sec.get(ctx, "set", set);
    let kind = match kinds.first().copied() {
        Some("play") => {
            sec = sec.with_elsewhere(PLAY_ELSEWHERE);
            let items = sec.require(ctx, "play", "[\"greeting\"]", |c, p, v| {
                sequence(c, p, v, nc, true)
            });
            let next = sec.require(ctx, "next", "\"hangup\"", |c, p, v| target(c, p, v, nc));
            items
                .zip(next)
                .map(|(items, next)| NodeKind::Play { items, next })
        }
        Some("menu") => {
            sec = sec.with_elsewhere(MENU_ELSEWHERE);
            menu(ctx, &mut sec, nc).map(NodeKind::Menu)
        }
        Some("collect") => {
            sec = sec.with_elsewhere(COLLECT_ELSEWHERE);
            let c = sec.require(ctx, "collect", "{ var = \"account\" }", |c, p, v| {
                collect_table(c, p, v, nc)
            });
            let next = sec.require(ctx, "next", "\"check\"", |c, p, v| target(c, p, v, nc));
            c.zip(next).map(
                |((var, prompts, max_digits, terminator, first, inter), next)| {
                    NodeKind::Collect(Collect {
                        var,
                        prompts,
                        max_digits,
                        terminator,
                        first_timeout: first,
                        inter_timeout: inter,
                        next,
                    })
                },
            )
        }
        Some(_) => {
            sec = sec.with_elsewhere(IF_ELSEWHERE);
            let cond = sec.require(
                ctx,
                "if",
                "{ var = \"account\", equals = \"123\" }",
                condition,
            );
            let then = sec.require(ctx, "then", "\"goto:vip\"", |c, p, v| target(c, p, v, nc));
            let otherwise =
                sec.require(ctx, "else", "\"goto:menu\"", |c, p, v| target(c, p, v, nc));
            match (cond, then, otherwise) {
                (Some(cond), Some(then), Some(otherwise)) => Some(NodeKind::Branch {
                    cond,
                    then,
                    otherwise,
                }),
                _ => None,
            }
        }
        None => {
            sec = sec.with_elsewhere(JUMP_ELSEWHERE);
            let next = sec.require(ctx, "next", "\"menu\"", |c, p, v| target(c, p, v, nc));
            next.map(|next| NodeKind::Jump { next })
        }
    };
    sec.finish(ctx);
    Some(Node {
        name: nc.node.to_string(),
        set: set.or(Vec::new())?,
        kind: kind?,
    })
}

const PLAY_ELSEWHERE: &[(&str, &str)] = &[
    ("then", "a play node continues with `next`"),
    ("options", "only a menu node (`menu = [...]`) has options"),
    (
        "say",
        "say values inside `play`: play = [{ number = \"${n}\" }]",
    ),
];
const COLLECT_ELSEWHERE: &[(&str, &str)] = &[
    ("then", "a collect node continues with `next`"),
    (
        "var",
        "write it inside the collect table: collect = { var = \"x\" }",
    ),
    (
        "prompt",
        "write it inside the collect table: collect = { prompt = [...] }",
    ),
    ("options", "only a menu node (`menu = [...]`) has options"),
];
const IF_ELSEWHERE: &[(&str, &str)] = &[
    ("next", "an `if` node continues with `then` or `else`"),
    (
        "equals",
        "write it inside the if table: if = { var = \"x\", equals = \"1\" }",
    ),
    (
        "matches",
        "write it inside the if table: if = { var = \"x\", matches = \"_1X\" }",
    ),
];
const JUMP_ELSEWHERE: &[(&str, &str)] = &[
    (
        "then",
        "a node continues with `next` (`then`/`else` belong to an `if` node)",
    ),
    (
        "options",
        "a menu node needs `menu = [prompts]` as well as options",
    ),
    (
        "say",
        "say values inside `play`: play = [{ number = \"${n}\" }]",
    ),
    ("prompt", "a play node has `play = [...]`"),
];
const MENU_ELSEWHERE: &[(&str, &str)] = &[
    (
        "next",
        "a menu continues through its `options` (and `after_retries`)",
    ),
    (
        "then",
        "a menu continues through its `options` (and `after_retries`)",
    ),
];

fn menu(ctx: &mut Ctx<'_>, sec: &mut Section<'_, '_>, nc: &mut NodeCtx<'_>) -> Option<Menu> {
    let prompts = sec.require(ctx, "menu", "[\"menu_main\"]", |c, p, v| {
        sequence(c, p, v, nc, false)
    });
    let options = sec.require(ctx, "options", "{ \"1\" = \"goto:sales\" }", |c, p, v| {
        options(c, p, v, nc)
    });
    let timeout = sec.get(ctx, "timeout", |c, p, v| {
        walk::duration(c, p, v, Duration::from_secs(1), Duration::from_secs(60))
    });
    let retries = sec.get(ctx, "retries", |c, p, v| {
        walk::uint(c, p, v, 0, 10).map(|n| n as u32)
    });
    let invalid = sec.get(ctx, "invalid", |c, p, v| sequence(c, p, v, nc, false));
    let no_input = sec.get(ctx, "no_input", |c, p, v| sequence(c, p, v, nc, false));
    let after = sec.get(ctx, "after_retries", |c, p, v| target(c, p, v, nc));
    Some(Menu {
        prompts: prompts?,
        options: options?,
        timeout: timeout.or(Duration::from_secs(5))?,
        retries: retries.or(3)?,
        invalid: invalid.or(Vec::new())?,
        no_input: no_input.or(Vec::new())?,
        after_retries: after.or(Target::Hangup)?,
    })
}

fn options(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    nc: &mut NodeCtx<'_>,
) -> Option<BTreeMap<char, Target>> {
    let t = walk::table(ctx, path, v)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, tv) in t.iter() {
        let key: &str = k.get_ref();
        let kpath = format!("{path}.{key}");
        let mut chars = key.chars();
        let digit = match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
            _ => {
                let hint = Some("option keys are one key of the phone: 0-9, * or #".into());
                ctx.error(
                    k.span(),
                    &kpath,
                    format!("`{key}` is not a phone key"),
                    hint,
                );
                ok = false;
                continue;
            }
        };
        match target(ctx, &kpath, tv, nc) {
            Some(t) => {
                out.insert(digit, t);
            }
            None => ok = false,
        }
    }
    if ok && out.is_empty() {
        let hint = Some("add options like { \"1\" = \"goto:sales\" }".into());
        ctx.error(v.span(), path, "a menu needs at least one option", hint);
        return None;
    }
    ok.then_some(out)
}

type CollectParts = (
    String,
    Vec<SayItem>,
    usize,
    Option<char>,
    Duration,
    Duration,
);

fn collect_table(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    nc: &mut NodeCtx<'_>,
) -> Option<CollectParts> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let var = sec.require(ctx, "var", "\"account\"", var_name);
    let prompts = sec.get(ctx, "prompt", |c, p, v| sequence(c, p, v, nc, false));
    let max_digits = sec.get(ctx, "max_digits", |c, p, v| {
        walk::uint(c, p, v, 1, 32).map(|n| n as usize)
    });
    let terminator = sec.get(ctx, "terminator", |c, p, v| {
        let s = walk::string(c, p, v)?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (None, _) => Some(None),
            (Some(ch @ ('*' | '#')), None) => Some(Some(ch)),
            _ => {
                let hint = Some("write \"#\", \"*\" or \"\" for none".into());
                c.error(v.span(), p, format!("`{s}` is not a terminator key"), hint);
                None
            }
        }
    });
    let dur = |c: &mut Ctx<'_>, p: &str, v: &Value<'_>| {
        walk::duration(c, p, v, Duration::from_secs(1), Duration::from_secs(60))
    };
    let first = sec.get(ctx, "first_timeout", dur);
    let inter = sec.get(ctx, "inter_timeout", dur);
    sec.finish(ctx);
    Some((
        var?,
        prompts.or(Vec::new())?,
        max_digits.or(20)?,
        terminator.or(Some('#'))?,
        first.or(Duration::from_secs(5))?,
        inter.or(Duration::from_secs(3))?,
    ))
}

fn var_name(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<String> {
    let s = walk::string(ctx, path, v)?;
    if !is_var_name(s) {
        let hint = Some("variable names are letters, digits and `_`".into());
        ctx.error(
            v.span(),
            path,
            format!("`{s}` is not a variable name"),
            hint,
        );
        return None;
    }
    Some(s.to_string())
}

fn template(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Template> {
    let s = match v.get_ref() {
        DeValue::Integer(i) => return Some(Template(i.to_string())),
        _ => walk::string(ctx, path, v)?,
    };
    match Template::parse(s) {
        Ok(t) => Some(t),
        Err((msg, hint)) => {
            ctx.error(v.span(), path, msg, Some(hint));
            None
        }
    }
}

fn set(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Vec<(String, Template)>> {
    let t = walk::table(ctx, path, v)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (k, tv) in t.iter() {
        let key: &str = k.get_ref();
        let kpath = format!("{path}.{key}");
        if !is_var_name(key) {
            let hint = Some("variable names are letters, digits and `_`".into());
            ctx.error(
                k.span(),
                &kpath,
                format!("`{key}` is not a variable name"),
                hint,
            );
            ok = false;
            continue;
        }
        match template(ctx, &kpath, tv) {
            Some(t) => out.push((key.to_string(), t)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn condition(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>) -> Option<Condition> {
    let t = walk::table(ctx, path, v)?;
    let mut sec = Section::new(path, t, v.span());
    let var = sec.require(ctx, "var", "\"account\"", var_name);
    let equals = sec.get(ctx, "equals", template);
    let matches = sec.get(ctx, "matches", |c, p, v| {
        let s = walk::string(c, p, v)?;
        match Pattern::parse(s) {
            Ok(pat) => Some(pat),
            Err((msg, hint)) => {
                c.error(v.span(), p, msg, Some(hint));
                None
            }
        }
    });
    let span = sec.span.clone();
    sec.finish(ctx);
    let var = var?;
    match (equals, matches) {
        (Got::Val(value, _), Got::Absent) => Some(Condition::Equals { var, value }),
        (Got::Absent, Got::Val(pattern, _)) => Some(Condition::Matches { var, pattern }),
        (Got::Absent, Got::Absent) => {
            let hint = Some("add `equals = \"123\"` or `matches = \"_1XX\"`".into());
            ctx.error(span, path, "the condition tests nothing", hint);
            None
        }
        (Got::Val(..), Got::Val(..)) => {
            let hint = Some("use two `if` nodes".into());
            ctx.error(span, path, "use `equals` or `matches`, not both", hint);
            None
        }
        _ => None,
    }
}

/// A list of prompts and say items. `required_nonempty`: an empty list is an error.
fn sequence(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    nc: &mut NodeCtx<'_>,
    required_nonempty: bool,
) -> Option<Vec<SayItem>> {
    let items = walk::list_of(ctx, path, v, "[\"greeting\"]", |c, p, item| {
        say_item(c, p, item, nc)
    })?;
    if required_nonempty && items.is_empty() {
        let hint =
            Some("name at least one prompt, or make this a jump node with only `next`".into());
        ctx.error(v.span(), path, "nothing to play", hint);
        return None;
    }
    Some(items)
}

fn prompt_name(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    nc: &mut NodeCtx<'_>,
) -> Option<SayItem> {
    let s = walk::string(ctx, path, v)?;
    let name = s.strip_suffix(".wav").unwrap_or(s);
    if !is_prompt_name(name) {
        let hint = Some(
            "a prompt is a file name in sounds/<language>/ without `.wav`: lower-case letters, \
             digits, `_` and `-`, like \"greeting\""
                .into(),
        );
        ctx.error(v.span(), path, format!("`{s}` is not a prompt name"), hint);
        return None;
    }
    if name != s {
        let hint = Some(format!("write \"{name}\""));
        ctx.error(v.span(), path, "prompt names have no `.wav`", hint);
        return None;
    }
    let place = nc.place(ctx, &v.span(), path);
    nc.out.prompts.push(PromptRef {
        flow: nc.flow.to_string(),
        language: nc.language,
        name: name.to_string(),
        place,
    });
    Some(SayItem::Prompt(name.to_string()))
}

fn say_item(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, nc: &mut NodeCtx<'_>) -> Option<SayItem> {
    match v.get_ref() {
        DeValue::String(_) => prompt_name(ctx, path, v, nc),
        DeValue::Table(t) => {
            let mut sec = Section::new(path, t, v.span());
            let prompt = sec.get(ctx, "prompt", |c, p, v| prompt_name(c, p, v, nc));
            let number = sec.get(ctx, "number", template);
            let duration = sec.get(ctx, "duration", template);
            let digits = sec.get(ctx, "digits", template);
            let has_gender = t.get("gender").is_some();
            let gender = sec.get(ctx, "gender", |c, p, v| {
                let s = walk::string(c, p, v)?;
                match s {
                    "masculine" => Some(Gender::Masculine),
                    "feminine" => Some(Gender::Feminine),
                    "neuter" => Some(Gender::Neuter),
                    _ => {
                        let hint = Some("masculine, feminine or neuter".into());
                        c.error(v.span(), p, format!("unknown gender `{s}`"), hint);
                        None
                    }
                }
            });
            let span = sec.span.clone();
            sec.finish(ctx);
            let mut found = Vec::new();
            let mut bad = false;
            let wrap = |got: Got<Template>, f: fn(Template) -> SayItem| match got {
                Got::Val(t, s) => Got::Val(f(t), s),
                Got::Bad => Got::Bad,
                Got::Absent => Got::Absent,
            };
            for (name, got) in [
                ("prompt", prompt),
                (
                    "number",
                    wrap(number, |t| SayItem::Number(t, Gender::Masculine)),
                ),
                ("duration", wrap(duration, SayItem::Duration)),
                ("digits", wrap(digits, SayItem::Digits)),
            ] {
                match got {
                    Got::Val(item, _) => found.push((name, item)),
                    Got::Bad => bad = true,
                    Got::Absent => {}
                }
            }
            if bad {
                return None;
            }
            let gender = gender.or(Gender::Masculine)?;
            match found.len() {
                1 => {
                    let (name, item) = found.remove(0);
                    if has_gender && name != "number" {
                        let hint = Some("only `number` items have a gender".into());
                        ctx.error(span, path, "`gender` without `number`", hint);
                        return None;
                    }
                    Some(match item {
                        SayItem::Number(t, _) => SayItem::Number(t, gender),
                        other => other,
                    })
                }
                0 => {
                    let hint = Some(
                        "write { prompt = \"name\" }, { number = \"${n}\" }, \
                         { duration = \"${secs}\" } or { digits = \"${x}\" }"
                            .into(),
                    );
                    ctx.error(span, path, "the item says nothing", hint);
                    None
                }
                _ => {
                    let hint = Some("one item per value: split it into list items".into());
                    ctx.error(span, path, "an item says one thing", hint);
                    None
                }
            }
        }
        other => {
            let msg = format!(
                "expected a prompt name or a say table, found {}",
                walk::describe(other)
            );
            let hint = Some("write \"greeting\" or { number = \"${position}\" }".into());
            ctx.error(v.span(), path, msg, hint);
            None
        }
    }
}

fn target(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, nc: &mut NodeCtx<'_>) -> Option<Target> {
    let s = walk::nonempty(ctx, path, v)?.trim();
    let hint_all = || {
        "write `goto:<node>` (or just the node name), `hangup`, or one of extension:, group:, \
         queue:, voicemail:, ivr:, dial: with a value"
            .to_string()
    };
    if s == "hangup" {
        return Some(Target::Hangup);
    }
    let (prefix, arg) = match s.split_once(':') {
        Some((p, a)) => (p.trim(), a.trim()),
        None => ("goto", s),
    };
    if prefix == "goto" {
        if !is_node_name(arg) {
            let msg = format!("`{arg}` is not a node name");
            let hint = if arg.contains("${") {
                "goto takes a fixed node name; branch with an `if` node instead".to_string()
            } else {
                hint_all()
            };
            ctx.error(v.span(), path, msg, Some(hint));
            return None;
        }
        nc.pending
            .gotos
            .push((arg.to_string(), v.span(), path.to_string()));
        nc.pending
            .edges
            .entry(nc.node.to_string())
            .or_default()
            .push(arg.to_string());
        return Some(Target::Goto(arg.to_string()));
    }
    let Some(kind) = ExitKind::ALL.into_iter().find(|k| k.as_str() == prefix) else {
        let mut names: Vec<&str> = ExitKind::ALL.iter().map(|k| k.as_str()).collect();
        names.push("goto");
        let hint = match closest(prefix, &names) {
            Some(best) => format!("did you mean `{best}:`?"),
            None => hint_all(),
        };
        ctx.error(
            v.span(),
            path,
            format!("unknown action `{prefix}:`"),
            Some(hint),
        );
        return None;
    };
    if arg.is_empty() || arg.contains(char::is_whitespace) {
        let msg = format!("`{s}` needs a value after `{prefix}:`");
        ctx.error(v.span(), path, msg, Some(hint_all()));
        return None;
    }
    let t = match Template::parse(arg) {
        Ok(t) => t,
        Err((msg, hint)) => {
            ctx.error(v.span(), path, msg, Some(hint));
            return None;
        }
    };
    if kind == ExitKind::Ivr {
        if t.is_dynamic() || !is_node_name(arg) {
            let hint = Some("`ivr:` takes the name of a flow in this file".into());
            ctx.error(v.span(), path, format!("`{arg}` is not a flow name"), hint);
            return None;
        }
        nc.pending
            .flows
            .push((arg.to_string(), v.span(), path.to_string()));
    }
    let place = nc.place(ctx, &v.span(), path);
    nc.out.exits.push(ExitRef {
        flow: nc.flow.to_string(),
        kind,
        value: arg.to_string(),
        dynamic: t.is_dynamic(),
        place,
    });
    Some(Target::Exit(kind, t))
}
