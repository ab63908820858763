//! `zvon`: thin CLI over the library — arguments → config → runtime.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Zvon — an IP-PBX and call center in one daemon.
///
/// Registers desk phones and softphones over SIP (UDP and TCP), with digest authentication,
/// NAT-friendly bindings and brute-force protection. Configuration is a directory of TOML
/// files (zvon.toml, extensions.toml).
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
        Command::Check { config } => {
            let dir = config_dir(config);
            match zvon::config::load_dir(&dir) {
                Ok(cfg) => {
                    println!(
                        "{}: OK ({} extensions, SIP on {} UDP / {} TCP addresses)",
                        dir.display(),
                        cfg.extensions.len(),
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

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
