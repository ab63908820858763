//! Commands to the running daemon as plain data, and their wire format on the control socket.
//!
//! No IO here: the runtime owns the socket (`runtime::control`), the engine answers requests
//! in `api/engine.rs` (`Pbx::control`), the CLI (`zvon status`, `zvon agent …`) encodes and
//! decodes with the functions below.
//!
//! # The control protocol, version 1
//!
//! A local stream socket (`<state_dir>/zvon.ctl` by default, `server.control_socket` in
//! `zvon.toml`; mode 0600). One request per connection:
//!
//! 1. The client sends **one line**, UTF-8, ending in `\n` (a `\r\n` ending and a missing
//!    final newline before EOF are accepted too), at most [`MAX_REQUEST_LINE`] bytes:
//!
//!    ```text
//!    zvon-ctl 1 <command> [<argument> ...]
//!    ```
//!
//!    Tokens are separated by spaces. `zvon-ctl` is the magic word, `1` the protocol
//!    version. The commands:
//!
//!    | line                                    | [`Request`]                         |
//!    |-----------------------------------------|-------------------------------------|
//!    | `zvon-ctl 1 status`                     | [`Request::Status`]                 |
//!    | `zvon-ctl 1 status-queues`              | [`Request::StatusQueues`]           |
//!    | `zvon-ctl 1 status-trunks`              | [`Request::StatusTrunks`]           |
//!    | `zvon-ctl 1 agent-list`                 | [`Request::AgentList`]              |
//!    | `zvon-ctl 1 agent-login alice [q ...]`  | [`Request::AgentLogin`] (no queues = the agent's configured ones) |
//!    | `zvon-ctl 1 agent-logout alice`         | [`Request::AgentLogout`]            |
//!    | `zvon-ctl 1 agent-pause alice [3]`      | [`Request::AgentPause`] (reason code 0–65535) |
//!    | `zvon-ctl 1 agent-unpause alice`        | [`Request::AgentUnpause`]           |
//!
//!    Agent and queue names are 1 to [`MAX_NAME`] bytes without whitespace or control
//!    characters ([`check_name`]).
//!
//! 2. The daemon answers with a status line, `ok` or `error`, then the human-readable text
//!    (possibly several lines, ready to print), and closes the connection:
//!
//!    ```text
//!    ok\n
//!    zvon 0.1.0, up 2h 03m 10s\n
//!    ...
//!    ```
//!
//!    A line that does not decode (garbage, a name with a space, an unknown command, another
//!    protocol version) gets an `error` answer saying why; it never reaches the engine.
//!
//! A later version bumps the number; a daemon answers a version it does not speak with
//! `error` and `unsupported control protocol version …`, so old daemons fail clearly.
//! Test by hand with `printf 'zvon-ctl 1 status\n' | socat - UNIX-CONNECT:/var/lib/zvon/zvon.ctl`.

pub(crate) mod engine;

use std::fmt;

/// The magic first token of every request line.
pub const MAGIC: &str = "zvon-ctl";
/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Longest request line accepted, in bytes (without the newline).
pub const MAX_REQUEST_LINE: usize = 4096;
/// Longest agent or queue name, in bytes.
pub const MAX_NAME: usize = 64;

/// A command to the running daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Daemon overview: registrations, calls, counters.
    Status,
    /// ACD live view: queues, waiting callers, agents.
    StatusQueues,
    /// Trunks: registration, health, channels; outbound refusals.
    StatusTrunks,
    /// The ACD agents and their state.
    AgentList,
    /// Log an agent in to queues; an empty list means the agent's configured queues.
    AgentLogin {
        /// The agent.
        agent: String,
        /// Queues to log in to.
        queues: Vec<String>,
    },
    /// Log an agent out of every queue.
    AgentLogout {
        /// The agent.
        agent: String,
    },
    /// Stop offering calls to an agent, with an optional reason code.
    AgentPause {
        /// The agent.
        agent: String,
        /// Pause reason code (site-defined: lunch, training, …).
        reason: Option<u16>,
    },
    /// Offer calls to a paused agent again.
    AgentUnpause {
        /// The agent.
        agent: String,
    },
}

/// The daemon's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The request was carried out (`zvon` exits 0) or refused (`zvon` exits 1).
    pub ok: bool,
    /// Human-readable, ready to print.
    pub text: String,
}

impl Response {
    /// A successful answer.
    pub fn ok(text: impl Into<String>) -> Self {
        Response {
            ok: true,
            text: text.into(),
        }
    }

    /// A refusal or failure.
    pub fn error(text: impl Into<String>) -> Self {
        Response {
            ok: false,
            text: text.into(),
        }
    }
}

/// Why a request line or a response did not decode (or a request cannot be encoded).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Nothing but whitespace.
    #[error("empty request")]
    Empty,
    /// Longer than [`MAX_REQUEST_LINE`].
    #[error("request line longer than {MAX_REQUEST_LINE} bytes")]
    TooLong,
    /// Not UTF-8.
    #[error("request is not UTF-8 text")]
    NotUtf8,
    /// A second line after the request.
    #[error("more than one line in the request")]
    ExtraLine,
    /// The line does not start with [`MAGIC`].
    #[error("not a zvon control request (expected \"{MAGIC} {VERSION} <command> ...\")")]
    NoMagic,
    /// A version this build does not speak.
    #[error("unsupported control protocol version {0:?} (this zvon speaks version {VERSION})")]
    Version(String),
    /// The command word is unknown.
    #[error(
        "unknown command {0:?} (known: status, status-queues, agent-list, agent-login, agent-logout, agent-pause, agent-unpause)"
    )]
    UnknownCommand(String),
    /// A required argument is absent.
    #[error("{command}: missing {what}")]
    Missing {
        /// The command.
        command: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// More arguments than the command takes.
    #[error("{command}: unexpected argument {extra:?}")]
    Extra {
        /// The command.
        command: &'static str,
        /// The first extra argument.
        extra: String,
    },
    /// An agent or queue name that is not allowed.
    #[error("bad {what} name {name:?}: {why}")]
    BadName {
        /// `agent` or `queue`.
        what: &'static str,
        /// The name as given (truncated when long).
        name: String,
        /// Why.
        why: NameError,
    },
    /// A pause reason that is not a number 0–65535.
    #[error("bad pause reason {0:?}: expected a number from 0 to 65535")]
    BadReason(String),
    /// The response's first line is neither `ok` nor `error`.
    #[error("unexpected answer from the daemon: {0:?}")]
    BadStatus(String),
}

/// Why a name was refused by [`check_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty.
    #[error("empty")]
    Empty,
    /// Longer than [`MAX_NAME`] bytes.
    #[error("longer than {MAX_NAME} bytes")]
    TooLong,
    /// Contains a space, tab, newline or other whitespace.
    #[error("contains whitespace")]
    Whitespace,
    /// Contains a control character.
    #[error("contains a control character")]
    Control,
}

/// An agent or queue name: 1 to [`MAX_NAME`] bytes, no whitespace, no control characters.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_whitespace) {
        return Err(NameError::Whitespace);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(())
}

fn name(what: &'static str, s: &str) -> Result<String, ProtocolError> {
    check_name(s).map_err(|why| ProtocolError::BadName {
        what,
        name: truncated(s),
        why,
    })?;
    Ok(s.to_owned())
}

/// At most 80 characters of `s`, for error messages.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl Request {
    /// The command word on the wire.
    pub fn command(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::StatusQueues => "status-queues",
            Request::StatusTrunks => "status-trunks",
            Request::AgentList => "agent-list",
            Request::AgentLogin { .. } => "agent-login",
            Request::AgentLogout { .. } => "agent-logout",
            Request::AgentPause { .. } => "agent-pause",
            Request::AgentUnpause { .. } => "agent-unpause",
        }
    }
}

impl fmt::Display for Request {
    /// The request as it goes on the wire, without the newline (names are not checked: use
    /// [`encode_request`] to send).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{MAGIC} {VERSION} {}", self.command())?;
        match self {
            Request::Status
            | Request::StatusQueues
            | Request::StatusTrunks
            | Request::AgentList => Ok(()),
            Request::AgentLogin { agent, queues } => {
                write!(f, " {agent}")?;
                queues.iter().try_for_each(|q| write!(f, " {q}"))
            }
            Request::AgentPause { agent, reason } => {
                write!(f, " {agent}")?;
                match reason {
                    Some(r) => write!(f, " {r}"),
                    None => Ok(()),
                }
            }
            Request::AgentLogout { agent } | Request::AgentUnpause { agent } => {
                write!(f, " {agent}")
            }
        }
    }
}

/// The request line to send, with its newline; fails on a name [`check_name`] refuses or a
/// line longer than [`MAX_REQUEST_LINE`].
pub fn encode_request(req: &Request) -> Result<String, ProtocolError> {
    let (agent, queues): (Option<&str>, &[String]) = match req {
        Request::Status | Request::StatusQueues | Request::StatusTrunks | Request::AgentList => {
            (None, &[])
        }
        Request::AgentLogin { agent, queues } => (Some(agent), queues),
        Request::AgentLogout { agent }
        | Request::AgentPause { agent, .. }
        | Request::AgentUnpause { agent } => (Some(agent), &[]),
    };
    if let Some(a) = agent {
        name("agent", a)?;
    }
    for q in queues {
        name("queue", q)?;
    }
    let line = req.to_string();
    if line.len() > MAX_REQUEST_LINE {
        return Err(ProtocolError::TooLong);
    }
    Ok(line + "\n")
}

/// Decodes one request line (with or without its `\n` / `\r\n`).
pub fn decode_request(line: &[u8]) -> Result<Request, ProtocolError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_REQUEST_LINE {
        return Err(ProtocolError::TooLong);
    }
    let line = std::str::from_utf8(line).map_err(|_| ProtocolError::NotUtf8)?;
    if line.contains(['\n', '\r']) {
        return Err(ProtocolError::ExtraLine);
    }
    let mut words = line.split_whitespace();
    match words.next() {
        None => return Err(ProtocolError::Empty),
        Some(MAGIC) => {}
        Some(_) => return Err(ProtocolError::NoMagic),
    }
    match words.next() {
        None => return Err(ProtocolError::Version(String::new())),
        Some(v) if v == VERSION.to_string() => {}
        Some(v) => return Err(ProtocolError::Version(truncated(v))),
    }
    let Some(cmd) = words.next() else {
        return Err(ProtocolError::Missing {
            command: MAGIC,
            what: "command",
        });
    };
    let mut args = Args {
        words,
        command: MAGIC,
    };
    let req = match cmd {
        "status" => Request::Status,
        "status-queues" => Request::StatusQueues,
        "status-trunks" => Request::StatusTrunks,
        "agent-list" => Request::AgentList,
        "agent-login" => {
            args.command = "agent-login";
            let agent = args.agent()?;
            let queues = args
                .words
                .by_ref()
                .map(|q| name("queue", q))
                .collect::<Result<_, _>>()?;
            Request::AgentLogin { agent, queues }
        }
        "agent-logout" => {
            args.command = "agent-logout";
            Request::AgentLogout {
                agent: args.agent()?,
            }
        }
        "agent-pause" => {
            args.command = "agent-pause";
            let agent = args.agent()?;
            let reason = args.words.next().map(reason).transpose()?;
            Request::AgentPause { agent, reason }
        }
        "agent-unpause" => {
            args.command = "agent-unpause";
            Request::AgentUnpause {
                agent: args.agent()?,
            }
        }
        other => return Err(ProtocolError::UnknownCommand(truncated(other))),
    };
    args.command = req.command();
    args.end()?;
    Ok(req)
}

struct Args<I> {
    words: I,
    command: &'static str,
}

impl<'a, I: Iterator<Item = &'a str>> Args<I> {
    fn agent(&mut self) -> Result<String, ProtocolError> {
        match self.words.next() {
            Some(a) => name("agent", a),
            None => Err(ProtocolError::Missing {
                command: self.command,
                what: "agent name",
            }),
        }
    }

    fn end(&mut self) -> Result<(), ProtocolError> {
        match self.words.next() {
            None => Ok(()),
            Some(x) => Err(ProtocolError::Extra {
                command: self.command,
                extra: truncated(x),
            }),
        }
    }
}

fn reason(s: &str) -> Result<u16, ProtocolError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProtocolError::BadReason(truncated(s)));
    }
    s.parse()
        .map_err(|_| ProtocolError::BadReason(s.to_owned()))
}

/// The response bytes: `ok` or `error`, a newline, then the text.
pub fn encode_response(rsp: &Response) -> Vec<u8> {
    let status = if rsp.ok { "ok" } else { "error" };
    let mut out = Vec::with_capacity(status.len() + 1 + rsp.text.len());
    out.extend_from_slice(status.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(rsp.text.as_bytes());
    out
}

/// Decodes everything the daemon sent before closing the connection. Text that is not
/// UTF-8 is decoded lossily (it is only printed).
pub fn decode_response(data: &[u8]) -> Result<Response, ProtocolError> {
    let (status, text) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let status = status.strip_suffix(b"\r").unwrap_or(status);
    let ok = match status {
        b"ok" => true,
        b"error" => false,
        other => {
            return Err(ProtocolError::BadStatus(truncated(
                &String::from_utf8_lossy(other),
            )));
        }
    };
    Ok(Response {
        ok,
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

#[cfg(test)]
mod tests;
