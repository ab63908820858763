//! The IVR interpreter: one sans-IO state machine per call walking a [`Flow`].
//!
//! # Contract
//!
//! - No IO, no clock: every input carries `now`; the session asks for a wake-up through
//!   [`IvrSession::poll_timeout`] and is told with [`IvrSession::handle_timeout`] (early or
//!   repeated calls are harmless). Outputs are drained with [`IvrSession::poll_output`].
//! - The media side plays [`IvrOutput::Play`] sequences (prompt names, numbers already turned
//!   into prompts) and reports the end with [`IvrSession::handle_play_done`] carrying the play
//!   id; a report for any other id (a stopped or superseded play) is ignored. After
//!   [`IvrOutput::StopPlay`] no done report is expected.
//! - Digits (RFC 4733, SIP INFO or in-band, the engine does not care) arrive through
//!   [`IvrSession::handle_digit`]. During a menu or collect prompt a key stops the prompt
//!   (barge-in: `StopPlay`) and counts as input; during a plain `play` node keys are ignored.
//! - The session ends with exactly one [`IvrOutput::Done`]; then every input is ignored. The
//!   engine performs the [`Exit`] (a dial-plan action, another flow, or hanging up).
//! - Loop guard: more than [`MAX_HOPS`] node transitions without playing anything or waiting
//!   for input end the session with [`Exit::Hangup`] and an error log: it never spins.
//! - [`IvrSession::path`] records the nodes visited, keys pressed, timeouts and the exit, for
//!   the CDR; [`IvrSession::path_string`] renders it as `main:welcome>menu[2]>queue:support`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::flow::{
    Collect, ExitKind, Flow, Flows, Language, Menu, NodeKind, SayItem, Target, Vars,
};
use super::say;

/// Node transitions allowed without a prompt or an input wait in between.
pub const MAX_HOPS: u32 = 100;

/// What a flow ends in; the engine carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Hangup,
    Extension(String),
    Group(String),
    Queue(String),
    Voicemail(String),
    /// Another flow of the same `ivr.toml`.
    Ivr(String),
    /// A number dialled through the dial plan.
    Dial(String),
}

impl Exit {
    fn new(kind: ExitKind, value: String) -> Exit {
        match kind {
            ExitKind::Extension => Exit::Extension(value),
            ExitKind::Group => Exit::Group(value),
            ExitKind::Queue => Exit::Queue(value),
            ExitKind::Voicemail => Exit::Voicemail(value),
            ExitKind::Ivr => Exit::Ivr(value),
            ExitKind::Dial => Exit::Dial(value),
        }
    }

    fn render(&self) -> String {
        match self {
            Exit::Hangup => "hangup".into(),
            Exit::Extension(v) => format!("extension:{v}"),
            Exit::Group(v) => format!("group:{v}"),
            Exit::Queue(v) => format!("queue:{v}"),
            Exit::Voicemail(v) => format!("voicemail:{v}"),
            Exit::Ivr(v) => format!("ivr:{v}"),
            Exit::Dial(v) => format!("dial:{v}"),
        }
    }
}

/// What the session asks of the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrOutput {
    /// Play these prompts (`sounds/<language>/<name>.wav`) in order, then report
    /// `handle_play_done(id)`.
    Play {
        id: u64,
        prompts: Vec<String>,
        language: String,
    },
    /// Stop the current play now (barge-in); no done report is expected for it.
    StopPlay,
    /// The session is over.
    Done(Exit),
}

/// One step of a call's path through the IVR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A node was entered.
    Node(String),
    /// Keys entered at the current node (one menu key, or a collect's digits with its
    /// terminator).
    Digits(String),
    /// A menu or collect timed out with no input.
    NoInput,
    /// How the session ended (`hangup`, `queue:support`, ...).
    Exit(String),
}

/// Why a session could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IvrError {
    #[error("no IVR flow `{0}`")]
    UnknownFlow(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MenuPhase {
    /// The menu prompts play; keys barge in.
    Prompt,
    /// Prompts done; the timeout runs.
    Wait,
    /// `invalid` / `no_input` play; then retry, or `after_retries` when `give_up`.
    Feedback { give_up: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// A `play` node's sequence.
    Play,
    Menu {
        failures: u32,
        phase: MenuPhase,
    },
    /// Digits so far; a play in progress is the prompt.
    Collect {
        digits: String,
    },
    Done,
}

/// One call's walk through one flow.
#[derive(Debug)]
pub struct IvrSession {
    flow: Arc<Flow>,
    vars: Vars,
    node: String,
    mode: Mode,
    /// Id of the play in progress.
    playing: Option<u64>,
    last_play: u64,
    deadline: Option<Instant>,
    out: VecDeque<IvrOutput>,
    path: Vec<PathStep>,
    hops: u32,
}

impl IvrSession {
    /// Starts `flow` at its `start` node; the first outputs are ready at once.
    pub fn new(now: Instant, flows: &Flows, flow: &str, vars: Vars) -> Result<Self, IvrError> {
        let flow = flows
            .get(flow)
            .cloned()
            .ok_or_else(|| IvrError::UnknownFlow(flow.to_string()))?;
        let start = flow.start.clone();
        let mut s = IvrSession {
            flow,
            vars,
            node: String::new(),
            mode: Mode::Done,
            playing: None,
            last_play: 0,
            deadline: None,
            out: VecDeque::new(),
            path: Vec::new(),
            hops: 0,
        };
        s.go(now, Target::Goto(start));
        Ok(s)
    }

    /// A key from the caller: `0-9`, `*`, `#` (others count as an invalid menu key and are
    /// ignored by collect).
    pub fn handle_digit(&mut self, now: Instant, digit: char) {
        match self.mode.clone() {
            Mode::Play | Mode::Done => {}
            Mode::Menu { .. } => {
                self.stop_play();
                self.deadline = None;
                self.path.push(PathStep::Digits(digit.to_string()));
                let Some(menu) = self.menu() else { return };
                match menu.options.get(&digit).cloned() {
                    Some(t) => self.go(now, t),
                    None => self.menu_failure(now, true),
                }
            }
            Mode::Collect { mut digits } => {
                if !(digit.is_ascii_digit() || digit == '*' || digit == '#') {
                    return;
                }
                let Some(c) = self.collect().cloned() else {
                    return;
                };
                self.stop_play();
                if c.terminator == Some(digit) {
                    let mut entered = digits.clone();
                    entered.push(digit);
                    return self.finish_collect(now, &c, digits, entered);
                }
                digits.push(digit);
                if digits.len() >= c.max_digits {
                    return self.finish_collect(now, &c, digits.clone(), digits);
                }
                self.mode = Mode::Collect { digits };
                self.wait_until(now + c.inter_timeout);
            }
        }
    }

    /// The media side finished play `play_id`.
    pub fn handle_play_done(&mut self, now: Instant, play_id: u64) {
        if self.playing != Some(play_id) {
            return;
        }
        self.playing = None;
        match self.mode.clone() {
            Mode::Play => {
                if let Some(NodeKind::Play { next, .. }) = self.kind().cloned() {
                    self.go(now, next);
                }
            }
            Mode::Menu { failures, phase } => match phase {
                MenuPhase::Prompt => self.menu_wait(now, failures),
                MenuPhase::Feedback { give_up } => self.menu_after_feedback(now, give_up),
                MenuPhase::Wait => {}
            },
            Mode::Collect { .. } => {
                let Some(c) = self.collect() else { return };
                let at = now + c.first_timeout;
                self.wait_until(at);
            }
            Mode::Done => {}
        }
    }

    /// The instant from [`IvrSession::poll_timeout`] has come (or passed).
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(d) if now >= d => self.deadline = None,
            _ => return,
        }
        match self.mode.clone() {
            Mode::Menu { .. } => {
                self.path.push(PathStep::NoInput);
                self.menu_failure(now, false);
            }
            Mode::Collect { digits } => {
                let Some(c) = self.collect().cloned() else {
                    return;
                };
                if digits.is_empty() {
                    self.path.push(PathStep::NoInput);
                }
                self.finish_collect(now, &c, digits.clone(), digits);
            }
            Mode::Play | Mode::Done => {}
        }
    }

    /// When to call [`IvrSession::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn poll_output(&mut self) -> Option<IvrOutput> {
        self.out.pop_front()
    }

    /// Nodes visited, keys entered, timeouts and the exit, in order.
    pub fn path(&self) -> &[PathStep] {
        &self.path
    }

    /// The path for the CDR: `main:welcome>menu[9][timeout][2]>queue:support`; a collect's
    /// digits show as `account[123#]`.
    pub fn path_string(&self) -> String {
        let mut s = format!("{}:", self.flow.name);
        let mut first = true;
        for step in &self.path {
            match step {
                PathStep::Node(n) | PathStep::Exit(n) => {
                    if !first {
                        s.push('>');
                    }
                    s.push_str(n);
                }
                PathStep::Digits(d) => {
                    s.push('[');
                    s.push_str(d);
                    s.push(']');
                }
                PathStep::NoInput => s.push_str("[timeout]"),
            }
            first = false;
        }
        s
    }

    /// The call variables, including those set and collected by the flow.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The flow being walked.
    pub fn flow(&self) -> &str {
        &self.flow.name
    }

    /// The node the call is at.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn is_done(&self) -> bool {
        self.mode == Mode::Done
    }

    // ---- internals ------------------------------------------------------------------------

    fn kind(&self) -> Option<&NodeKind> {
        self.flow.node(&self.node).map(|n| &n.kind)
    }

    fn menu(&self) -> Option<&Menu> {
        match self.kind() {
            Some(NodeKind::Menu(m)) => Some(m),
            _ => None,
        }
    }

    fn collect(&self) -> Option<&Collect> {
        match self.kind() {
            Some(NodeKind::Collect(c)) => Some(c),
            _ => None,
        }
    }

    fn stop_play(&mut self) {
        if self.playing.take().is_some() {
            self.out.push_back(IvrOutput::StopPlay);
        }
    }

    fn wait_until(&mut self, at: Instant) {
        self.deadline = Some(at);
        self.hops = 0;
    }

    /// Expands a sequence and starts playing it; `false` (nothing started) if it is empty.
    fn play(&mut self, items: &[SayItem]) -> bool {
        // The call variable `lang` (set by the dial plan, e.g. a Russian number) wins over the
        // flow's language when it names a shipped one.
        let lang = self
            .vars
            .get("lang")
            .and_then(|l| crate::ivr::flow::Language::parse(l))
            .unwrap_or(self.flow.language);
        let prompts = expand(items, lang, &self.vars);
        if prompts.is_empty() {
            return false;
        }
        self.stop_play();
        self.last_play += 1;
        self.playing = Some(self.last_play);
        self.hops = 0;
        self.out.push_back(IvrOutput::Play {
            id: self.last_play,
            prompts,
            language: lang.as_str().to_string(),
        });
        true
    }

    fn finish(&mut self, exit: Exit) {
        self.stop_play();
        self.deadline = None;
        self.mode = Mode::Done;
        self.path.push(PathStep::Exit(exit.render()));
        self.out.push_back(IvrOutput::Done(exit));
    }

    /// Follows `target` until the session waits for something (a play, a key) or ends.
    fn go(&mut self, now: Instant, mut target: Target) {
        loop {
            let name = match target {
                Target::Hangup => return self.finish(Exit::Hangup),
                Target::Exit(kind, t) => {
                    let value = t.expand(&self.vars);
                    return self.finish(Exit::new(kind, value));
                }
                Target::Goto(name) => name,
            };
            self.hops += 1;
            if self.hops > MAX_HOPS {
                tracing::error!(
                    flow = %self.flow.name,
                    node = %name,
                    "IVR loop: {MAX_HOPS} node transitions without a prompt or input; hanging up"
                );
                return self.finish(Exit::Hangup);
            }
            let flow = Arc::clone(&self.flow);
            let Some(node) = flow.node(&name) else {
                // Validation makes this unreachable; never panic on it.
                tracing::error!(flow = %flow.name, node = %name, "IVR: no such node; hanging up");
                return self.finish(Exit::Hangup);
            };
            self.node = name.clone();
            self.deadline = None;
            self.path.push(PathStep::Node(name));
            for (var, value) in &node.set {
                let v = value.expand(&self.vars);
                self.vars.insert(var.clone(), v);
            }
            match &node.kind {
                NodeKind::Jump { next } => target = next.clone(),
                NodeKind::Branch {
                    cond,
                    then,
                    otherwise,
                } => {
                    target = if cond.eval(&self.vars) {
                        then.clone()
                    } else {
                        otherwise.clone()
                    };
                }
                NodeKind::Play { items, next } => {
                    self.mode = Mode::Play;
                    if self.play(items) {
                        return;
                    }
                    target = next.clone();
                }
                NodeKind::Menu(_) => return self.menu_prompt(now, 0),
                NodeKind::Collect(c) => {
                    self.mode = Mode::Collect {
                        digits: String::new(),
                    };
                    if !self.play(&c.prompts) {
                        self.wait_until(now + c.first_timeout);
                    }
                    return;
                }
            }
        }
    }

    fn menu_prompt(&mut self, now: Instant, failures: u32) {
        let Some(menu) = self.menu().cloned() else {
            return;
        };
        self.mode = Mode::Menu {
            failures,
            phase: MenuPhase::Prompt,
        };
        if !self.play(&menu.prompts) {
            self.menu_wait(now, failures);
        }
    }

    fn menu_wait(&mut self, now: Instant, failures: u32) {
        let Some(timeout) = self.menu().map(|m| m.timeout) else {
            return;
        };
        self.mode = Mode::Menu {
            failures,
            phase: MenuPhase::Wait,
        };
        self.wait_until(now + timeout);
    }

    /// An invalid key (`invalid`) or a timeout.
    fn menu_failure(&mut self, now: Instant, invalid: bool) {
        let Mode::Menu { failures, .. } = self.mode else {
            return;
        };
        let Some(menu) = self.menu().cloned() else {
            return;
        };
        let failures = failures + 1;
        let give_up = failures > menu.retries;
        self.mode = Mode::Menu {
            failures,
            phase: MenuPhase::Feedback { give_up },
        };
        let prompts = if invalid {
            &menu.invalid
        } else {
            &menu.no_input
        };
        if !self.play(prompts) {
            self.menu_after_feedback(now, give_up);
        }
    }

    fn menu_after_feedback(&mut self, now: Instant, give_up: bool) {
        let Mode::Menu { failures, .. } = self.mode else {
            return;
        };
        let Some(menu) = self.menu().cloned() else {
            return;
        };
        if give_up {
            self.go(now, menu.after_retries);
        } else {
            self.menu_prompt(now, failures);
        }
    }

    fn finish_collect(&mut self, now: Instant, c: &Collect, value: String, entered: String) {
        self.deadline = None;
        if !entered.is_empty() {
            self.path.push(PathStep::Digits(entered));
        }
        self.vars.insert(c.var.clone(), value);
        self.go(now, c.next.clone());
    }
}

/// A sequence as prompt names, say items expanded through [`say`].
fn expand(items: &[SayItem], lang: Language, vars: &Vars) -> Vec<String> {
    let l = lang.as_str();
    let mut out = Vec::new();
    let number = |what: &str, raw: &str| -> Option<u64> {
        let v = raw.trim();
        match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                tracing::warn!(value = %v, "IVR: cannot say `{v}` as a {what}; skipped");
                None
            }
        }
    };
    for item in items {
        match item {
            SayItem::Prompt(p) => out.push(p.clone()),
            SayItem::Number(t, g) => {
                if let Some(n) = number("number", &t.expand(vars)) {
                    out.extend(
                        say::say_number(l, u32::try_from(n).unwrap_or(u32::MAX), *g)
                            .into_iter()
                            .map(String::from),
                    );
                }
            }
            SayItem::Duration(t) => {
                if let Some(n) = number("duration", &t.expand(vars)) {
                    out.extend(say::say_duration(l, n).into_iter().map(String::from));
                }
            }
            SayItem::Digits(t) => {
                out.extend(
                    say::say_digits(l, &t.expand(vars))
                        .into_iter()
                        .map(String::from),
                );
            }
        }
    }
    out
}
