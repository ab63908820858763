//! `zvon`: thin CLI over the library — arguments → config → runtime.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use zvon::api::Request;

/// Zvon — an IP-PBX and call center in one daemon.
///
/// Registers desk phones and softphones over SIP (UDP and TCP) and connects their calls with
/// relayed or transcoded media; runs a TOML dial plan and IVR menus with voice prompts,
/// voicemail with message waiting, and call-center queues with agents, announcements,
/// overflow and callback. Configuration is a directory of TOML files (zvon.toml,
/// extensions.toml, dialplan.toml, ivr.toml, queues.toml); calls and queue events are kept in
/// SQLite.
#[derive(Parser, Debug)]
#[command(name = "zvon", version, about, long_about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "\
Examples:
  zvon check --config ./config        validate a configuration directory
  zvon run --config ./config --state-dir ./state
                                      run in the foreground on the demo config
  zvon report queue-log --state-dir ./state --since 2024-05-01
                                      export the queue event log (Asterisk queue_log)
  zvon status --config ./config --state-dir ./state
                                      ask that daemon what it is doing
  zvon agent pause alice --reason 2   stop offering queue calls to agent alice

Logging: the level comes from `server.log_level`; RUST_LOG overrides it
(e.g. RUST_LOG=debug, RUST_LOG=zvon::core=trace).";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon in the foreground (logs to stderr).
    Run {
        /// Configuration directory [default: ./config if it exists, else /etc/zvon]
        #[arg(long, short, value_name = "DIR", env = "ZVON_CONFIG")]
        config: Option<PathBuf>,
        /// State directory for the database (overrides `server.state_dir`)
        #[arg(long, value_name = "DIR", env = "ZVON_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Validate the configuration and print every error; exit status 1 if any.
    Check {
        /// Configuration directory [default: ./config if it exists, else /etc/zvon]
        #[arg(long, short, value_name = "DIR", env = "ZVON_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Reports from the database of a running or stopped daemon.
    #[command(
        long_about = "Reports from the database of a running or stopped daemon.\n\n\
            Each report reads the database `zvon run` writes (zvon.db in the state directory, \
            found like `zvon run` finds it: --state-dir, else `server.state_dir` of the \
            configuration). It is safe to run beside the daemon, and it never creates a \
            database: a missing one is an error.",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = REPORT_AFTER_HELP
    )]
    Report {
        #[command(subcommand)]
        report: Report,
    },
    /// Ask the running daemon what it is doing: registrations, calls, counters.
    #[command(after_help = STATUS_HELP)]
    Status {
        /// `queues`: the call-center view (queues, waiting callers, agents) instead of the
        /// overview
        #[arg(value_name = "queues", hide_possible_values = true)]
        what: Option<StatusWhat>,
        #[command(flatten)]
        target: Target,
    },
    /// Log call-center agents in and out of their queues, pause them, list them.
    #[command(after_help = AGENT_HELP)]
    Agent {
        #[command(subcommand)]
        action: AgentAction,
    },
}

/// The part of `zvon status --help` and `zvon agent --help` about finding the daemon.
macro_rules! control_help {
    () => {
        "
Finding the daemon: the control socket is `server.control_socket` from the configuration, or
zvon.ctl in the state directory (--state-dir, else `server.state_dir`): the same rule as
`zvon run`, so give the same --config and --state-dir as the daemon got, or name the socket
with --socket. The socket has mode 0600: run as the daemon's user, or as root.

Exit status: 0 done; 1 the daemon refused (the reason is printed); 2 the daemon could not be
asked (not running, permission denied, bad arguments)."
    };
}

const STATUS_HELP: &str = concat!(
    "\
Examples:
  zvon status                                   the daemon of ./config (or /etc/zvon)
  zvon status --config ./config --state-dir ./state
  zvon status queues --socket /run/zvon/zvon.ctl
",
    control_help!()
);

const AGENT_HELP: &str = concat!(
    "\
Examples:
  zvon agent login alice                        to alice's configured queues
  zvon agent login alice --queue sales --queue support
  zvon agent pause alice --reason 2             reason codes are site-defined (2 = lunch, ...)
  zvon agent unpause alice
  zvon agent logout alice
  zvon agent list --state-dir ./state
",
    control_help!()
);

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StatusWhat {
    /// ACD queues, waiting callers and agents
    Queues,
}

#[derive(Subcommand, Debug)]
enum AgentAction {
    /// Log an agent in: to its configured queues, or only to the --queue ones.
    Login {
        /// The agent
        #[arg(value_parser = name)]
        agent: String,
        /// A queue to log in to (repeat for several) [default: the agent's configured queues]
        #[arg(long = "queue", short, value_name = "QUEUE", value_parser = name)]
        queues: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Log an agent out of every queue.
    Logout {
        /// The agent
        #[arg(value_parser = name)]
        agent: String,
        #[command(flatten)]
        target: Target,
    },
    /// Stop offering calls to an agent (it stays logged in).
    Pause {
        /// The agent
        #[arg(value_parser = name)]
        agent: String,
        /// Pause reason code, 0-65535, passed to the ACD (its meaning is site-defined)
        #[arg(long, value_name = "N")]
        reason: Option<u16>,
        #[command(flatten)]
        target: Target,
    },
    /// Offer calls to a paused agent again.
    Unpause {
        /// The agent
        #[arg(value_parser = name)]
        agent: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the agents, their queues and state.
    List {
        #[command(flatten)]
        target: Target,
    },
}

/// Which daemon to ask.
#[derive(Args, Debug)]
struct Target {
    /// The daemon's control socket (wins over --state-dir and --config)
    #[arg(long, value_name = "PATH", env = "ZVON_SOCKET")]
    socket: Option<PathBuf>,
    /// The daemon's state directory, as given to `zvon run --state-dir`
    #[arg(long, value_name = "DIR", env = "ZVON_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// The daemon's configuration directory [default: ./config if it exists, else /etc/zvon]
    #[arg(long, short, value_name = "DIR", env = "ZVON_CONFIG")]
    config: Option<PathBuf>,
}

const REPORT_AFTER_HELP: &str = "\
Examples:
  zvon report queue-log --state-dir /var/lib/zvon > queue_log
  zvon report queue-log --since 2024-05-01 --until 2024-05-02 --output may1.log";

#[derive(Subcommand, Debug)]
enum Report {
    /// Export the queue event log in Asterisk's queue_log format.
    #[command(
        name = "queue-log",
        long_about = "Export the queue event log in Asterisk's queue_log format.\n\n\
            One line per event, oldest first:\n\n  \
            unixseconds|callid|queue|agent|EVENT|data1|data2|...\n\n\
            as app_queue writes it (whole seconds; trailing empty data fields left off down \
            to the event's documented layout), so tools that read queue_log files can read \
            it. A '|' or line break inside a field is written as a space.",
        after_help = QUEUE_LOG_AFTER_HELP
    )]
    QueueLog {
        #[command(flatten)]
        db: DbArgs,
        /// Only events at or after this time: YYYY-MM-DD (00:00 UTC) or unix seconds
        #[arg(long, value_name = "DATE", value_parser = zvon::report::parse_time_bound)]
        since: Option<i64>,
        /// Only events before this time (exclusive): YYYY-MM-DD (00:00 UTC) or unix seconds
        #[arg(long, value_name = "DATE", value_parser = zvon::report::parse_time_bound)]
        until: Option<i64>,
        /// Write to FILE (replacing it) instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

const QUEUE_LOG_AFTER_HELP: &str = "\
Dates are UTC days (local midnight is ambiguous around DST changes): --since 2024-05-01
--until 2024-05-02 is the day from 2024-05-01 00:00 UTC to 2024-05-02 00:00 UTC. For other
boundaries give unix seconds, e.g. --since $(date -d 'today 00:00' +%s).

Examples:
  zvon report queue-log --state-dir /var/lib/zvon
  zvon report queue-log --since 2024-05-01 --until 2024-05-02 --output may1.log
  zvon report queue-log --since 1714521600";

/// Where a report finds the database.
#[derive(Args, Debug)]
struct DbArgs {
    /// State directory holding zvon.db [default: `server.state_dir` of the configuration]
    #[arg(long, value_name = "DIR", env = "ZVON_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Configuration directory, read for `server.state_dir` when --state-dir is not given
    /// [default: ./config if it exists, else /etc/zvon]
    #[arg(long, short, value_name = "DIR", env = "ZVON_CONFIG")]
    config: Option<PathBuf>,
}

impl DbArgs {
    /// The database file, as `zvon run` with the same arguments would open it.
    fn database(self) -> Result<PathBuf, ExitCode> {
        if let Some(state) = self.state_dir {
            return Ok(zvon::runtime::database_path(&state));
        }
        let dir = config_dir(self.config);
        match zvon::config::load_dir(&dir) {
            Ok(cfg) => Ok(zvon::runtime::database_path(&cfg.server.state_dir)),
            Err(errs) => {
                eprint!("{errs}");
                eprintln!(
                    "zvon: cannot find the state directory: fix the configuration in {} \
                     or give --state-dir",
                    dir.display()
                );
                Err(ExitCode::FAILURE)
            }
        }
    }
}

/// An agent or queue name as the control protocol accepts it.
fn name(s: &str) -> Result<String, String> {
    zvon::api::check_name(s)
        .map(|()| s.to_owned())
        .map_err(|e| e.to_string())
}

fn config_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        let local = PathBuf::from("config");
        if local.is_dir() {
            local
        } else {
            PathBuf::from("/etc/zvon")
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Status { what, target } => {
            let req = match what {
                None => Request::Status,
                Some(StatusWhat::Queues) => Request::StatusQueues,
            };
            control(&target, &req)
        }
        Command::Agent { action } => {
            let (target, req) = match action {
                AgentAction::Login {
                    agent,
                    queues,
                    target,
                } => (target, Request::AgentLogin { agent, queues }),
                AgentAction::Logout { agent, target } => (target, Request::AgentLogout { agent }),
                AgentAction::Pause {
                    agent,
                    reason,
                    target,
                } => (target, Request::AgentPause { agent, reason }),
                AgentAction::Unpause { agent, target } => (target, Request::AgentUnpause { agent }),
                AgentAction::List { target } => (target, Request::AgentList),
            };
            control(&target, &req)
        }
        Command::Check { config } => {
            let dir = config_dir(config);
            match zvon::config::load_dir(&dir) {
                Ok(cfg) => {
                    println!(
                        "{}: OK ({} extensions, {} queue(s), {} agent(s), SIP on {} UDP / {} TCP addresses)",
                        dir.display(),
                        cfg.extensions.len(),
                        cfg.acd.queues.len(),
                        cfg.acd.agents.len(),
                        cfg.server.udp.len(),
                        cfg.server.tcp.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(errs) => {
                    eprint!("{errs}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report { report: r } => report(r),
        Command::Run { config, state_dir } => {
            let dir = config_dir(config);
            let cfg = match zvon::config::load_dir(&dir) {
                Ok(c) => c,
                Err(errs) => {
                    eprint!("{errs}");
                    eprintln!(
                        "zvon: not started: fix the configuration in {}",
                        dir.display()
                    );
                    return ExitCode::FAILURE;
                }
            };
            init_logging(cfg.server.log_level.as_str());
            let state = state_dir.unwrap_or_else(|| cfg.server.state_dir.clone());
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                config = %dir.display(),
                state = %state.display(),
                "starting zvon"
            );
            match zvon::runtime::run(cfg, &state) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("zvon: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn report(report: Report) -> ExitCode {
    let Report::QueueLog {
        db,
        since,
        until,
        output,
    } = report;
    // Only warnings (e.g. an unreadable row skipped); RUST_LOG overrides.
    init_logging("warn");
    let db = match db.database() {
        Ok(db) => db,
        Err(code) => return code,
    };
    let text = match zvon::report::queue_log(&db, since, until) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("zvon: {e}");
            return ExitCode::FAILURE;
        }
    };
    write_output(output.as_deref(), &text)
}

/// Writes a report to `path`, or to standard output.
fn write_output(path: Option<&std::path::Path>, text: &str) -> ExitCode {
    use std::io::Write as _;
    let result = match path {
        Some(p) => {
            std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                // `zvon report ... | head`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.map_err(|e| format!("cannot write to standard output: {e}")),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zvon: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit status when the daemon could not be asked at all.
const UNREACHABLE: u8 = 2;

/// Sends `req` to the daemon `target` names and prints the answer.
fn control(target: &Target, req: &Request) -> ExitCode {
    let path = match control_socket(target) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("zvon: {msg}");
            return ExitCode::from(UNREACHABLE);
        }
    };
    match zvon::runtime::control::request(&path, req) {
        Ok(rsp) => {
            let text = rsp.text.trim_end_matches('\n');
            if rsp.ok {
                if !text.is_empty() {
                    println!("{text}");
                }
                ExitCode::SUCCESS
            } else {
                eprintln!("zvon: {text}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("zvon: {e}");
            ExitCode::from(UNREACHABLE)
        }
    }
}

/// The daemon's control socket, found as `zvon run` places it: `--socket`; else
/// `server.control_socket`; else `zvon.ctl` in `--state-dir` or `server.state_dir`.
fn control_socket(t: &Target) -> Result<PathBuf, String> {
    if let Some(s) = &t.socket {
        return Ok(s.clone());
    }
    let dir = config_dir(t.config.clone());
    match zvon::config::load_dir(&dir) {
        Ok(cfg) => {
            let state = t
                .state_dir
                .clone()
                .unwrap_or_else(|| cfg.server.state_dir.clone());
            Ok(cfg.server.control_socket_path(&state))
        }
        Err(errs) => match &t.state_dir {
            // Without a readable config, --state-dir alone still says where the default is.
            Some(d) => Ok(d.join(zvon::config::CONTROL_SOCKET_NAME)),
            None => Err(format!(
                "cannot tell where the control socket is: the configuration in {} does not \
                 load ({}; `zvon check` lists every problem); give --socket PATH or --state-dir DIR",
                dir.display(),
                errs.0
                    .first()
                    .map_or_else(|| "no details".to_owned(), ToString::to_string)
            )),
        },
    }
}

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
