//! Configuration: a directory of TOML files → one typed, cross-checked [`Config`].
//!
//! # Contract
//!
//! - A config directory holds `zvon.toml` (server settings, required), `dialplan.toml` (the
//!   dial plan, optional, see [`crate::dialplan`]), `extensions.toml` (the
//!   phones, optional) and optionally `extensions/*.toml` (same format as `extensions.toml`,
//!   for offices split by department), `ivr.toml` (IVR flows, optional; see
//!   [`crate::ivr::flow`]), `queues.toml` (queues and agents, optional; see
//!   [`crate::acd::config`]), `trunks.toml` (trunks and outbound routes, optional; see
//!   [`crate::trunk`]). Any other `*.toml` at the top level is an error whose
//!   hint lists the known names; other files (README, backups without `.toml`) are ignored, and
//!   so are hidden files.
//! - Parsing is pure: [`parse_sources`] works on strings; only [`load_dir`] /
//!   [`read_sources`] touch the file system.
//! - Every mistake is reported, not just the first: each file is parsed into a spanned
//!   document and every table is checked, collecting [`ConfigError`]s with file, 1-based line
//!   and column, key path (`registrar.min_expires`, `extension[2].password`, list indices from
//!   1), message and hint. Unknown keys are errors (suggesting the closest known key). A TOML
//!   syntax error stops the checks of that file only.
//! - Cross-checks: at least one listen address, RTP port range, `min_expires ≤ default_expires
//!   ≤ max_expires`, networks in CIDR form with no host bits, extension numbers unique across
//!   all extension files (the error names both places), trunk contexts that exist in the dial
//!   plan, emergency numbers that are not extensions, `outbound` dial-plan actions naming
//!   routes of `trunks.toml` (and none without outbound routes).
//! - Defaults are written next to each key in the shipped `config/zvon.toml`, which is the
//!   reference; keep the two in step (a test loads the shipped files).
//!
//! # Adding a file kind
//!
//! Add a variant to `FileKind`, its name to `FileKind::TOP_LEVEL`, a checker module, and a
//! field to [`Config`]; the unknown-file hint picks up the new name by itself.

pub(crate) mod error;
mod extensions;
mod server;
mod types;
pub(crate) mod walk;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigErrors};
pub(crate) use server::net;
pub(crate) use types::fmt_duration;
pub use types::{IpNet, LogLevel, Secret};

use walk::Ctx;

/// The whole configuration, parsed and cross-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: Server,
    pub sip: Sip,
    pub rtp: Rtp,
    pub registrar: Registrar,
    pub security: Security,
    pub calls: Calls,
    pub features: Features,
    /// In file order: `extensions.toml`, then `extensions/*.toml` by file name.
    pub extensions: Vec<Extension>,
    /// `dialplan.toml`; [`crate::dialplan::Plan::default`] without one.
    pub dialplan: crate::dialplan::Plan,
    /// IVR flows from `ivr.toml` (empty without the file).
    pub ivr: crate::ivr::flow::Flows,
    /// Queues and agents from `queues.toml` (none without the file).
    pub acd: crate::acd::AcdConfig,
    /// Trunks and outbound routes from `trunks.toml` (none without the file).
    pub trunks: crate::trunk::TrunksConfig,
    /// The directory the configuration was loaded from.
    pub dir: PathBuf,
}

impl Config {
    /// The extension with this number.
    pub fn extension(&self, number: &str) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.number == number)
    }
}

/// `[server]` in `zvon.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// SIP over UDP listen addresses. Port 0 means an ephemeral port (for tests).
    pub udp: Vec<SocketAddr>,
    /// SIP over TCP listen addresses. Port 0 means an ephemeral port (for tests).
    pub tcp: Vec<SocketAddr>,
    /// SIP domain, also the digest realm.
    pub domain: String,
    /// Relative paths are resolved against the config directory.
    pub state_dir: PathBuf,
    /// Prompts and music on hold; relative paths are resolved against the config directory.
    pub sounds_dir: PathBuf,
    pub log_level: LogLevel,
    /// Server / User-Agent header value; default `Zvon <version>`.
    pub user_agent: String,
    /// `control_socket`: the local socket `zvon status` and `zvon agent` talk to; `None` =
    /// `zvon.ctl` in the state directory. Relative paths are resolved against the config
    /// directory.
    pub control_socket: Option<PathBuf>,
}

/// The control socket's file name in the state directory when `control_socket` is not set.
pub const CONTROL_SOCKET_NAME: &str = "zvon.ctl";

impl Server {
    /// Where the control socket is for a daemon using `state_dir` (which `zvon run
    /// --state-dir` may have overridden): `control_socket` if set, else
    /// `<state_dir>/zvon.ctl`.
    pub fn control_socket_path(&self, state_dir: &Path) -> PathBuf {
        self.control_socket
            .clone()
            .unwrap_or_else(|| state_dir.join(CONTROL_SOCKET_NAME))
    }
}

/// `[sip]`: message limits and timers.
#[derive(Debug, Clone, PartialEq)]
pub struct Sip {
    /// Bytes; larger messages are dropped and counted.
    pub max_message_size: usize,
    pub max_headers: usize,
    /// RFC 3261 §17.1.1.1 T1, the RTT estimate (default 500 ms).
    pub t1: Duration,
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            max_message_size: 65535,
            max_headers: 256,
            t1: Duration::from_millis(500),
        }
    }
}

/// `[rtp]`: the media port range; `port_min` is even (RTP even, RTCP odd, RFC 3550 §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtp {
    pub port_min: u16,
    pub port_max: u16,
    /// IP put in SDP and bound by the media workers; `None` = the address the call's SIP
    /// message arrived on.
    pub address: Option<std::net::IpAddr>,
}

impl Default for Rtp {
    fn default() -> Self {
        Rtp {
            address: None,
            port_min: 10000,
            port_max: 20000,
        }
    }
}

/// `[registrar]`: REGISTER handling (RFC 3261 §10.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    /// Shorter requests get 423 Interval Too Brief (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longer requests are capped.
    pub max_expires: u32,
    /// When the phone sends no expiry.
    pub default_expires: u32,
    /// OPTIONS ping interval for registered contacts; `None` = off (written `"0s"`).
    pub qualify: Option<Duration>,
    /// Missed pings before a contact is marked unreachable.
    pub qualify_failures: u32,
}

impl Default for Registrar {
    fn default() -> Self {
        Registrar {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 600,
            qualify: None,
            qualify_failures: 3,
        }
    }
}

/// `[features]`: the codes phones dial to switch features (Asterisk's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub dnd_on: String,
    pub dnd_off: String,
    /// Followed by the target number, e.g. `*721003`.
    pub forward_always_on: String,
    pub forward_always_off: String,
    pub forward_busy_on: String,
    pub forward_busy_off: String,
    pub forward_noanswer_on: String,
    pub forward_noanswer_off: String,
    /// Picks up a call ringing in the caller's pickup group.
    pub pickup: String,
    /// Followed by the ringing extension, e.g. `**1002`.
    pub pickup_directed: String,
    /// Queue agents: log in to / out of the agent's queues.
    pub agent_login: String,
    pub agent_logout: String,
    /// Optionally followed by a numeric reason code, e.g. `*532` (lunch).
    pub agent_pause: String,
    pub agent_unpause: String,
}

impl Default for Features {
    fn default() -> Self {
        let s = |x: &str| x.to_string();
        Features {
            dnd_on: s("*78"),
            dnd_off: s("*79"),
            forward_always_on: s("*72"),
            forward_always_off: s("*73"),
            forward_busy_on: s("*90"),
            forward_busy_off: s("*91"),
            forward_noanswer_on: s("*92"),
            forward_noanswer_off: s("*93"),
            pickup: s("*8"),
            pickup_directed: s("**"),
            agent_login: s("*51"),
            agent_logout: s("*52"),
            agent_pause: s("*53"),
            agent_unpause: s("*54"),
        }
    }
}

/// `[calls]`: call handling between phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calls {
    /// Ring time before an unanswered call ends with 480 (or follows no-answer forwarding).
    pub no_answer: Duration,
    /// A call whose phone sends no RTP for this long is hung up; zero = never.
    pub rtp_timeout: Duration,
    /// Codecs Zvon offers and accepts, in preference order.
    pub codecs: Vec<crate::media::Codec>,
    /// libopus encoder complexity (0–10) when transcoding to Opus.
    pub opus_complexity: u8,
}

impl Default for Calls {
    fn default() -> Self {
        use crate::media::Codec;
        Calls {
            no_answer: Duration::from_secs(30),
            rtp_timeout: Duration::from_secs(60),
            codecs: vec![Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus],
            // Measured (release, this machine): a PCMU↔Opus call costs 96 µs per 20 ms at
            // complexity 5 (208 calls per core) and 64 µs at 1 (310 per core). The G.711
            // side is narrowband anyway, so the higher complexity buys little.
            opus_complexity: 1,
        }
    }
}

/// `[security]`: digest nonces and brute-force banning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// Digest nonce lifetime; older nonces get `stale=true` (RFC 2617 §3.2.1).
    pub nonce_ttl: Duration,
    /// Failed authentications from one IP within `ban_window` that trigger a ban; 0 = never ban.
    pub ban_failures: u32,
    pub ban_window: Duration,
    pub ban_time: Duration,
    /// Networks never banned.
    pub trusted: Vec<IpNet>,
    /// Digest algorithms offered in challenges, in order, and accepted in responses.
    pub digest: Vec<crate::sip::auth::Algorithm>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            nonce_ttl: Duration::from_secs(300),
            ban_failures: 10,
            ban_window: Duration::from_secs(60),
            ban_time: Duration::from_secs(600),
            trusted: server::default_trusted(),
            // MD5 only by default: some phones (baresip 1.0's libre among them) fail the whole
            // registration on a SHA-256 challenge instead of skipping it.
            digest: vec![crate::sip::auth::Algorithm::Md5],
        }
    }
}

/// One `[[extension]]`: a number phones register on.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// 2–15 digits.
    pub number: String,
    pub name: Option<String>,
    pub password: Secret,
    /// Phones that may be registered on this number at once.
    pub max_contacts: u32,
    /// Networks allowed to register; empty = anywhere.
    pub allow: Vec<IpNet>,
    /// Forward every call to this number (feature codes can change it at run time).
    pub forward_always: Option<String>,
    /// Forward when busy (or in do-not-disturb).
    pub forward_busy: Option<String>,
    /// Forward when unanswered or not registered.
    pub forward_noanswer: Option<String>,
    /// Do-not-disturb at start (toggled by feature codes).
    pub dnd: bool,
    /// Allow a second call while on a call; false = treat as busy.
    pub call_waiting: bool,
    /// Members of the same group can pick up each other's ringing calls.
    pub pickup_group: Option<String>,
    /// The extension has a voicemail box (unanswered and busy calls go there) with this PIN.
    pub voicemail_pin: Option<String>,
    /// Send message-waiting NOTIFYs to the registered phones without a SUBSCRIBE.
    pub mwi_unsolicited: bool,
    /// Class of service for outside calls; `None` = `trunks.toml` `[defaults] class`.
    pub class: Option<crate::trunk::Class>,
    /// The outbound caller ID (the extension's DID), e.g. `+4930123451`.
    pub caller_id: Option<String>,
}

/// One config file's path and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// What `queues.toml` refers to must exist: agents' extensions, destinations (extensions,
/// groups, IVRs, queues, mailboxes, prompts) and announcement prompts.
fn acd_cross_check(
    source: &Source,
    acd: &crate::acd::AcdConfig,
    refs: &crate::acd::config::Refs,
    extensions: &[Extension],
    plan: Option<&crate::dialplan::Plan>,
    ivr: &crate::ivr::flow::Flows,
    sounds_dir: Option<&Path>,
) -> Vec<ConfigError> {
    use crate::acd::config::Ref;
    use crate::dialplan::{Action, Target};
    let mut out = Vec::new();
    let mut at = |spot: &crate::dialplan::Spot, message: String, hint: Option<String>| {
        out.push(ConfigError {
            file: source.path.clone(),
            line: spot.line,
            column: spot.column,
            key: spot.key.clone(),
            message,
            hint,
        })
    };
    let prompt_ok = |name: &str| {
        crate::ivr::prompts::contains(name)
            || sounds_dir.is_some_and(|d| {
                ["en", "ru"]
                    .iter()
                    .any(|l| d.join(l).join(format!("{name}.wav")).exists())
            })
    };
    let ext = |n: &str| extensions.iter().find(|x| x.number == n);
    for (r, spot) in refs {
        match r {
            Ref::Extension(n) if ext(n).is_none() => at(
                spot,
                format!("extension {n} does not exist"),
                Some("an agent's extension must be defined in extensions.toml".into()),
            ),
            Ref::Prompt(p) if !prompt_ok(p) => {
                let known: Vec<&str> = crate::ivr::prompts::names().collect();
                let hint = error::closest(p, &known).map(|n| format!("did you mean `{n}`?"));
                at(spot, format!("prompt `{p}` does not exist"), hint)
            }
            Ref::Destination(step) => match &step.action {
                Action::Extension(Target::Literal(n)) if ext(n).is_none() => at(
                    spot,
                    format!("extension {n} does not exist"),
                    Some("define it in extensions.toml".into()),
                ),
                Action::Extension(Target::Dialed { .. })
                | Action::Voicemail(Target::Dialed { .. }) => at(
                    spot,
                    "`${number}` means nothing in a queue".into(),
                    Some("name the extension or mailbox".into()),
                ),
                Action::Voicemail(Target::Literal(n))
                    if ext(n).is_none_or(|x| x.voicemail_pin.is_none()) =>
                {
                    at(
                        spot,
                        format!("extension {n} has no voicemail box"),
                        Some(format!("give extension {n} a `voicemail_pin`")),
                    )
                }
                Action::Group(g) if plan.is_none_or(|p| !p.groups.contains_key(g)) => at(
                    spot,
                    format!("ring group `{g}` does not exist"),
                    Some("define it as [groups.NAME] in dialplan.toml".into()),
                ),
                Action::Ivr(f) if ivr.get(f).is_none() => at(
                    spot,
                    format!("IVR `{f}` does not exist"),
                    Some("define it as [ivr.NAME] in ivr.toml".into()),
                ),
                Action::Queue(q) if !acd.queues.contains_key(q) => at(
                    spot,
                    format!("queue `{q}` does not exist"),
                    Some("define it as [queues.NAME]".into()),
                ),
                Action::Prompt { name, .. } if !prompt_ok(name) => {
                    at(spot, format!("prompt `{name}` does not exist"), None)
                }
                _ => {}
            },
            _ => {}
        }
    }
    out
}

/// The kinds of file a config directory may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// `zvon.toml`
    Server,
    /// `extensions.toml`, `extensions/*.toml`
    Extensions,
    /// `dialplan.toml`
    Dialplan,
    /// `ivr.toml`
    Ivr,
    /// `queues.toml`
    Queues,
    /// `trunks.toml`
    Trunks,
}

impl FileKind {
    /// Top-level file names, with whether the file is required.
    const TOP_LEVEL: &'static [(&'static str, FileKind, bool)] = &[
        ("zvon.toml", FileKind::Server, true),
        ("extensions.toml", FileKind::Extensions, false),
        ("dialplan.toml", FileKind::Dialplan, false),
        ("ivr.toml", FileKind::Ivr, false),
        ("queues.toml", FileKind::Queues, false),
        ("trunks.toml", FileKind::Trunks, false),
    ];
    /// Subdirectories whose `*.toml` files are of one kind.
    const SUBDIRS: &'static [(&'static str, FileKind)] = &[("extensions", FileKind::Extensions)];

    fn known_names() -> String {
        let mut names: Vec<String> = Self::TOP_LEVEL
            .iter()
            .map(|(n, _, _)| (*n).to_string())
            .collect();
        names.extend(Self::SUBDIRS.iter().map(|(d, _)| format!("{d}/*.toml")));
        names.join(", ")
    }

    /// Classifies a path relative to the config directory.
    fn of(rel: &Path) -> Result<FileKind, ConfigError> {
        let parts: Vec<&str> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        let unknown = |message: String| ConfigError {
            file: rel.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
            hint: Some(format!("the known files are {}", Self::known_names())),
        };
        match parts.as_slice() {
            [name] => Self::TOP_LEVEL
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, k, _)| *k)
                .ok_or_else(|| {
                    let mut e = unknown(format!("unknown config file `{name}`"));
                    let names: Vec<&str> = Self::TOP_LEVEL.iter().map(|(n, _, _)| *n).collect();
                    if let Some(best) = error::closest(name, &names) {
                        e.hint = Some(format!(
                            "did you mean `{best}`? The known files are {}",
                            Self::known_names()
                        ));
                    }
                    e
                }),
            [dir, file] if file.ends_with(".toml") => Self::SUBDIRS
                .iter()
                .find(|(d, _)| d == dir)
                .map(|(_, k)| *k)
                .ok_or_else(|| unknown(format!("unexpected config file in `{dir}/`"))),
            _ => Err(unknown("unexpected config file".into())),
        }
    }
}

/// Reads the config directory and checks it. See the module docs for the layout.
pub fn load_dir(dir: &Path) -> Result<Config, ConfigErrors> {
    let sources = read_sources(dir)?;
    parse_sources(dir, &sources)
}

/// Reads the `*.toml` files of a config directory (top level and the known subdirectories),
/// without interpreting them. Paths are `dir.join(name)`.
pub fn read_sources(dir: &Path) -> Result<Vec<Source>, ConfigErrors> {
    let dir_error = |path: &Path, message: String, hint: Option<String>| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
            hint,
        }])
    };
    let mut paths = toml_files(dir).map_err(|e| {
        dir_error(
            dir,
            format!("cannot read the config directory: {e}"),
            Some("pass the directory holding zvon.toml".into()),
        )
    })?;
    paths.sort_by_key(|p| {
        (
            FileKind::TOP_LEVEL
                .iter()
                .position(|(n, _, _)| p.file_name() == Some(n.as_ref()))
                .unwrap_or(usize::MAX),
            p.clone(),
        )
    });
    for (sub, _) in FileKind::SUBDIRS {
        let subdir = dir.join(sub);
        if subdir.is_dir() {
            let mut more = toml_files(&subdir)
                .map_err(|e| dir_error(&subdir, format!("cannot read the directory: {e}"), None))?;
            more.sort();
            paths.extend(more);
        }
    }
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push(Source { path, text }),
            Err(e) => errors.push(ConfigError {
                file: path,
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the file: {e}"),
                hint: (e.kind() == std::io::ErrorKind::InvalidData)
                    .then(|| "save the file as UTF-8".to_string()),
            }),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Regular, non-hidden `*.toml` files directly in `dir`.
fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(".toml") {
            continue;
        }
        if entry.file_type()?.is_file() || entry.path().is_file() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Parses and checks config files given as text. `dir` is the config directory: source paths
/// are classified relative to it (a path outside it is taken as already relative) and it
/// becomes [`Config::dir`]. Pure: reads no files.
pub fn parse_sources(dir: &Path, sources: &[Source]) -> Result<Config, ConfigErrors> {
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut settings = None;
    let mut server_seen: Option<&Path> = None;
    let mut extensions = Vec::new();
    let mut dialplan: Option<(&Source, Option<crate::dialplan::Plan>)> = None;
    let mut ivr = crate::ivr::flow::Flows::default();
    let mut acd: Option<(
        &Source,
        Option<(crate::acd::AcdConfig, crate::acd::config::Refs)>,
    )> = None;
    let mut trunks: Option<(
        &Source,
        Option<(crate::trunk::TrunksConfig, crate::trunk::config::Refs)>,
    )> = None;
    // number → (file, line, column) of its first definition
    // Where each number was defined: its file's text and span. Line and column are computed
    // only for a duplicate (computing them for every extension is quadratic in file size).
    let mut numbers: HashMap<String, (&Source, walk::Span)> = HashMap::new();

    for source in sources {
        let rel = source.path.strip_prefix(dir).unwrap_or(&source.path);
        let kind = match FileKind::of(rel) {
            Ok(k) => k,
            Err(mut e) => {
                e.file = source.path.clone();
                errors.push(e);
                continue;
            }
        };
        let mut ctx = Ctx {
            file: &source.path,
            text: &source.text,
            errors: &mut errors,
        };
        let doc = match toml::de::DeTable::parse(&source.text) {
            Ok(doc) => doc,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                ctx.error(
                    span,
                    "",
                    format!("TOML syntax error: {}", e.message().trim()),
                    None,
                );
                if kind == FileKind::Server {
                    server_seen = Some(&source.path);
                }
                continue;
            }
        };
        match kind {
            FileKind::Server => {
                if let Some(first) = server_seen {
                    let hint = Some(format!("merge it into {}", first.display()));
                    ctx.error(0..0, "", "a second zvon.toml", hint);
                    continue;
                }
                server_seen = Some(&source.path);
                settings = server::check(&mut ctx, &doc, dir);
            }
            FileKind::Extensions => {
                for (index, ext, span) in extensions::check(&mut ctx, &doc) {
                    if let Some((first, first_span)) = numbers.get(&ext.number) {
                        let (l, c) = error::line_col(&first.text, first_span.start);
                        let file = &first.path;
                        let key = format!("extension[{index}].number");
                        let msg = format!("duplicate extension number {}", ext.number);
                        let hint = Some(format!(
                            "{} is already defined at {}:{l}:{c}",
                            ext.number,
                            file.display()
                        ));
                        ctx.error(span.clone(), &key, msg, hint);
                        continue;
                    }
                    numbers.insert(ext.number.clone(), (source, span.clone()));
                    extensions.push(ext);
                }
            }
            FileKind::Dialplan => dialplan = Some((source, crate::dialplan::check(&mut ctx, &doc))),
            FileKind::Ivr => ivr = crate::ivr::flow::check(&mut ctx, &doc),
            FileKind::Queues => acd = Some((source, crate::acd::config::check(&mut ctx, &doc))),
            FileKind::Trunks => {
                trunks = Some((source, crate::trunk::config::check(&mut ctx, &doc)));
            }
        }
    }
    // The dial plan is checked against the extensions once every extension file is read.
    if let Some((source, Some(plan))) = &dialplan {
        let mut ctx = Ctx {
            file: &source.path,
            text: &source.text,
            errors: &mut errors,
        };
        let mut known: Vec<&str> = numbers.keys().map(String::as_str).collect();
        known.sort_unstable();
        crate::dialplan::cross_check(&mut ctx, plan, &known);
        // What the dial plan sends calls to must exist in the other files.
        let at =
            |spot: &crate::dialplan::Spot, message: String, hint: Option<String>| ConfigError {
                file: source.path.clone(),
                line: spot.line,
                column: spot.column,
                key: spot.key.clone(),
                message,
                hint,
            };
        for (name, spot) in plan.referenced_ivrs() {
            if ivr.get(name).is_none() {
                let names: Vec<&str> = ivr.names().collect();
                let hint = match error::closest(name, &names) {
                    Some(n) => format!("did you mean `{n}`? (flows are defined in ivr.toml)"),
                    None => "define it as [ivr.NAME] in ivr.toml".into(),
                };
                errors.push(at(spot, format!("IVR `{name}` does not exist"), Some(hint)));
            }
        }
        for (name, spot) in plan.referenced_queues() {
            let queues: Vec<&str> = match &acd {
                Some((_, Some((a, _)))) => a.queues.keys().map(String::as_str).collect(),
                Some((_, None)) => continue,
                None => Vec::new(),
            };
            if !queues.contains(&name) {
                let hint = match error::closest(name, &queues) {
                    Some(n) => format!("did you mean `{n}`? (queues are defined in queues.toml)"),
                    None => "define it as [queues.NAME] in queues.toml".into(),
                };
                errors.push(at(
                    spot,
                    format!("queue `{name}` does not exist"),
                    Some(hint),
                ));
            }
        }
        for (mb, spot) in plan.referenced_mailboxes() {
            if !extensions
                .iter()
                .any(|e| e.number == mb && e.voicemail_pin.is_some())
            {
                errors.push(at(
                    spot,
                    format!("extension {mb} has no voicemail box"),
                    Some(format!("give extension {mb} a `voicemail_pin`")),
                ));
            }
        }
        for (name, spot) in plan.referenced_prompts() {
            if !crate::ivr::prompts::contains(name) {
                let known: Vec<&str> = crate::ivr::prompts::names().collect();
                let hint = error::closest(name, &known).map(|n| format!("did you mean `{n}`?"));
                errors.push(at(
                    spot,
                    format!("prompt `{name}` is not in the shipped prompt set"),
                    hint,
                ));
            }
        }
    }
    // IVR exits to ring groups need the group in the dial plan.
    if let Some((_, Some(plan))) = &dialplan {
        for e in ivr.exits() {
            if e.kind == crate::ivr::flow::ExitKind::Group
                && !e.dynamic
                && !plan.groups.contains_key(&e.value)
            {
                errors.push(ivr.error_at(
                    &e.place,
                    format!("ring group `{}` does not exist", e.value),
                    Some("define it as [groups.NAME] in dialplan.toml".into()),
                ));
            }
        }
    }
    // IVR exits to queues need the queue.
    if !matches!(acd, Some((_, None))) {
        let queues: Vec<&str> = match &acd {
            Some((_, Some((a, _)))) => a.queues.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        for e in ivr.exits() {
            if e.kind == crate::ivr::flow::ExitKind::Queue
                && !e.dynamic
                && !queues.contains(&e.value.as_str())
            {
                let hint = match error::closest(&e.value, &queues) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "define it as [queues.NAME] in queues.toml".into(),
                };
                errors.push(ivr.error_at(
                    &e.place,
                    format!("queue `{}` does not exist", e.value),
                    Some(hint),
                ));
            }
        }
    }
    if let Some((source, Some((a, refs)))) = &acd {
        let plan = dialplan.as_ref().and_then(|(_, p)| p.as_ref());
        let sounds = settings.as_ref().map(|s| s.server.sounds_dir.clone());
        errors.extend(acd_cross_check(
            source,
            a,
            refs,
            &extensions,
            plan,
            &ivr,
            sounds.as_deref(),
        ));
    }
    errors.extend(trunks_cross_check(
        trunks.as_ref().map(|(s, t)| (*s, t.as_ref())),
        dialplan.as_ref().map(|(s, p)| (*s, p.as_ref())),
        &numbers,
    ));
    if server_seen.is_none() {
        errors.insert(
            0,
            ConfigError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                key: String::new(),
                message: "no zvon.toml in the config directory".into(),
                hint: Some(
                    "every config directory needs zvon.toml with at least a [server] table".into(),
                ),
            },
        );
    }

    // Cross-checks between files: what the IVR flows refer to must exist.
    if let Some(st) = settings.as_ref() {
        errors.extend(ivr_cross_check(&ivr, &extensions, &st.server.sounds_dir));
    }

    // Stable order: file order as given, then line, then column.
    let rank = |file: &Path| {
        sources
            .iter()
            .position(|s| s.path == file)
            .map_or(0, |i| i + 1)
    };
    errors.sort_by_key(|e| (rank(&e.file), e.line, e.column));

    match settings {
        Some(s) if errors.is_empty() => Ok(Config {
            server: s.server,
            sip: s.sip,
            rtp: s.rtp,
            registrar: s.registrar,
            security: s.security,
            calls: s.calls,
            features: s.features,
            extensions,
            dialplan: dialplan.and_then(|(_, p)| p).unwrap_or_default(),
            ivr,
            acd: acd.and_then(|(_, a)| a).map(|(a, _)| a).unwrap_or_default(),
            trunks: trunks
                .and_then(|(_, t)| t)
                .map(|(t, _)| t)
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
        }),
        _ => {
            if errors.is_empty() {
                // zvon.toml was present but yielded nothing without an error: a bug here.
                errors.push(ConfigError {
                    file: dir.to_path_buf(),
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: "internal error: configuration incomplete".into(),
                    hint: None,
                });
            }
            Err(ConfigErrors(errors))
        }
    }
}

/// A trunks file and what its check found (`None`: it had errors).
type TrunksFound<'s> = (
    &'s Source,
    Option<&'s (crate::trunk::TrunksConfig, crate::trunk::config::Refs)>,
);

/// Between `trunks.toml`, the dial plan and the extensions: trunk contexts exist, emergency
/// numbers are not extensions, `outbound` actions name routes that exist. A file with errors
/// of its own is not cross-checked (its mistakes are reported already).
fn trunks_cross_check(
    trunks: Option<TrunksFound<'_>>,
    dialplan: Option<(&Source, Option<&crate::dialplan::Plan>)>,
    numbers: &HashMap<String, (&Source, walk::Span)>,
) -> Vec<ConfigError> {
    use crate::trunk::config::Ref;
    let mut out = Vec::new();
    let at = |file: &Path, spot: &crate::dialplan::Spot, message: String, hint: Option<String>| {
        ConfigError {
            file: file.to_path_buf(),
            line: spot.line,
            column: spot.column,
            key: spot.key.clone(),
            message,
            hint,
        }
    };
    let default_plan;
    let plan = match dialplan {
        Some((_, None)) => None,
        Some((_, Some(p))) => Some(p),
        None => {
            default_plan = crate::dialplan::Plan::default();
            Some(&default_plan)
        }
    };
    if let Some((source, Some((_, refs)))) = trunks {
        for (r, spot) in refs {
            match r {
                Ref::Context(c) => {
                    let Some(plan) = plan else { continue };
                    if plan.context(c).is_some() {
                        continue;
                    }
                    let names: Vec<&str> = plan.contexts.iter().map(|c| c.name.as_str()).collect();
                    let hint = match error::closest(c, &names) {
                        Some(n) => {
                            format!("did you mean `{n}`? (contexts are defined in dialplan.toml)")
                        }
                        None if dialplan.is_none() => format!(
                            "there is no dialplan.toml; create one with a [[context]] named `{c}` for the calls from this trunk"
                        ),
                        None => format!(
                            "add a [[context]] with `name = \"{c}\"` to dialplan.toml for the calls from this trunk"
                        ),
                    };
                    out.push(at(
                        &source.path,
                        spot,
                        format!("dial-plan context `{c}` does not exist"),
                        Some(hint),
                    ));
                }
                Ref::EmergencyNumber(n) => {
                    if let Some((ext, span)) = numbers.get(n) {
                        let (l, col) = error::line_col(&ext.text, span.start);
                        out.push(at(
                            &source.path,
                            spot,
                            format!("emergency number {n} is also an extension"),
                            Some(format!(
                                "{n} is defined at {}:{l}:{col}; give that phone another number so {n} always reaches the emergency services",
                                ext.path.display()
                            )),
                        ));
                    }
                }
            }
        }
    }
    let routes: Option<Vec<&str>> = match trunks {
        Some((_, None)) => None,
        Some((_, Some((t, _)))) => Some(t.routes.iter().map(|r| r.name.as_str()).collect()),
        None => Some(Vec::new()),
    };
    if let (Some((source, Some(plan))), Some(routes)) = (dialplan, routes) {
        for (route, spot) in plan.referenced_routes() {
            if routes.is_empty() {
                out.push(at(
                    &source.path,
                    spot,
                    "`outbound`, but there are no outbound routes".into(),
                    Some("define outbound routes in trunks.toml (`[[route]]` with `match` and `trunks`)".into()),
                ));
                continue;
            }
            if let Some(r) = route
                && !routes.contains(&r)
            {
                let hint = match error::closest(r, &routes) {
                    Some(n) => format!("did you mean `{n}`? (routes are defined in trunks.toml)"),
                    None => format!("the routes of trunks.toml are {}", routes.join(", ")),
                };
                out.push(at(
                    &source.path,
                    spot,
                    format!("outbound route `{r}` does not exist"),
                    Some(hint),
                ));
            }
        }
    }
    out
}

/// IVR references to prompts (catalogue or a file in `sounds_dir/<lang>/`), extensions and
/// mailboxes. Groups and queues are checked once the dial plan and queues define them.
fn ivr_cross_check(
    ivr: &crate::ivr::flow::Flows,
    extensions: &[Extension],
    sounds_dir: &Path,
) -> Vec<ConfigError> {
    use crate::ivr::flow::ExitKind;
    let mut out = Vec::new();
    for r in ivr.prompt_refs() {
        let lang = r.language.as_str();
        let file = sounds_dir.join(lang).join(format!("{}.wav", r.name));
        if !crate::ivr::prompts::contains(&r.name) && !file.exists() {
            let known: Vec<&str> = crate::ivr::prompts::names().collect();
            let near = Some(match error::closest(&r.name, &known) {
                Some(n) => format!("did you mean `{n}`? (or add {})", file.display()),
                None => format!(
                    "use a shipped prompt (sounds/prompts.tsv) or add {}",
                    file.display()
                ),
            });
            out.push(ivr.error_at(
                &r.place,
                format!("prompt `{}` does not exist for language `{lang}`", r.name),
                near,
            ));
        }
    }
    for e in ivr.exits() {
        if e.dynamic {
            continue;
        }
        let ext = extensions.iter().find(|x| x.number == e.value);
        match e.kind {
            ExitKind::Extension if ext.is_none() => out.push(ivr.error_at(
                &e.place,
                format!("extension {} does not exist", e.value),
                Some("define it in extensions.toml".into()),
            )),
            ExitKind::Voicemail if ext.is_none_or(|x| x.voicemail_pin.is_none()) => {
                out.push(ivr.error_at(
                    &e.place,
                    format!("extension {} has no voicemail box", e.value),
                    Some(format!("give extension {} a `voicemail_pin`", e.value)),
                ))
            }
            _ => {}
        }
    }
    out
}
