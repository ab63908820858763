//! `zvon`: thin CLI over the library — arguments → config → runtime.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use zvon::api::Request;
use zvon::report::facts::Context;
use zvon::report::metrics::{Filter, Options};
use zvon::report::period::{Bound, Period};
use zvon::report::tables::Kind;

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
  zvon report queues --yesterday      yesterday's queue KPIs (offered, SL, ASA, AHT, ...)
  zvon forecast --target 80/20        agents needed per half-hour of a typical week
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
    /// Staffing forecast with Erlang C: agents needed per half-hour of a typical week.
    #[command(
        long_about = zvon::report::help::FORECAST,
        after_long_help = FORECAST_AFTER_HELP
    )]
    Forecast(ForecastArgs),
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
  zvon status trunks                            registration, health and channels per trunk
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
    /// Trunks: registration to the provider, health, channels in use
    Trunks,
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
Every column of every report is defined in `zvon report <name> --help` and in the README
(Reports). Dates, days, hours and weekdays are local to --tz: by default the time zone of
the dial plan's default context (`timezone` in dialplan.toml), UTC without one.

Examples:
  zvon report summary --today
  zvon report queues --from 2024-05-01 --to 2024-05-31 --format csv --output may.csv
  zvon report agents --week --queue support
  zvon report abandoned --yesterday
  zvon report calls --number +4930123456 --format json
  zvon report queue-log --state-dir /var/lib/zvon > queue_log";

#[derive(Subcommand, Debug)]
enum Report {
    /// Calls inbound, outbound and internal, answered, missed, talk time.
    #[command(long_about = zvon::report::help::SUMMARY, after_long_help = zvon::report::help::COMMON)]
    Summary {
        #[command(flatten)]
        common: ReportCommon,
        #[command(flatten)]
        filters: CallFilters,
    },
    /// Per queue: offered, answered, abandoned, overflowed, service level, ASA, AHT, waits.
    #[command(long_about = zvon::report::help::QUEUES, after_long_help = zvon::report::help::COMMON)]
    Queues {
        #[command(flatten)]
        common: ReportCommon,
        #[command(flatten)]
        queue: QueueFilter,
        #[command(flatten)]
        short: ShortAbandon,
    },
    /// Per agent: offers, answers, talk, AHT, wrap-up, pauses, logged-in time, occupancy.
    #[command(long_about = zvon::report::help::AGENTS, after_long_help = zvon::report::help::COMMON)]
    Agents {
        #[command(flatten)]
        common: ReportCommon,
        #[command(flatten)]
        queue: QueueFilter,
        /// Only this agent (id)
        #[arg(long, value_name = "ID")]
        agent: Option<String>,
    },
    /// Offered, answered, abandon rate and service level by hour of day and by weekday.
    #[command(long_about = zvon::report::help::HOURLY, after_long_help = zvon::report::help::COMMON)]
    Hourly {
        #[command(flatten)]
        common: ReportCommon,
        #[command(flatten)]
        queue: QueueFilter,
        #[command(flatten)]
        short: ShortAbandon,
    },
    /// The call list: every CDR field, filterable.
    #[command(long_about = zvon::report::help::CALLS, after_long_help = zvon::report::help::COMMON)]
    Calls {
        #[command(flatten)]
        common: ReportCommon,
        #[command(flatten)]
        filters: CallFilters,
    },
    /// Callers who abandoned a queue and have not been reached since: who to call back.
    #[command(long_about = zvon::report::help::ABANDONED, after_long_help = zvon::report::help::COMMON)]
    Abandoned {
        #[command(flatten)]
        common: ReportCommon,
        #[command(flatten)]
        queue: QueueFilter,
        /// Only this caller number (exact)
        #[arg(long, value_name = "NUMBER")]
        number: Option<String>,
    },
    /// Where callers go and drop out in each IVR menu.
    #[command(long_about = zvon::report::help::IVR, after_long_help = zvon::report::help::COMMON)]
    Ivr {
        #[command(flatten)]
        common: ReportCommon,
        /// Only calls from or to this number (exact)
        #[arg(long, value_name = "NUMBER")]
        number: Option<String>,
    },
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

    /// The database and what the reports take from the configuration. The configuration is
    /// read if it loads; with --state-dir a configuration that does not load only costs
    /// the queues' service levels and the extension list (a warning says so), unless it was
    /// named explicitly.
    /// The third value is the time zone of the dial plan's default context (UTC when the
    /// configuration is not read).
    fn open(self) -> Result<(PathBuf, Context, jiff::tz::TimeZone), ExitCode> {
        let named = self.config.is_some();
        let dir = config_dir(self.config);
        match (zvon::config::load_dir(&dir), self.state_dir) {
            (Ok(cfg), state) => {
                let state = state.unwrap_or_else(|| cfg.server.state_dir.clone());
                let tz = cfg
                    .dialplan
                    .context(&cfg.dialplan.default_context)
                    .map_or(jiff::tz::TimeZone::UTC, |c| c.timezone.clone());
                Ok((
                    zvon::runtime::database_path(&state),
                    Context::from_config(&cfg),
                    tz,
                ))
            }
            (Err(_), Some(state)) if !named => {
                eprintln!(
                    "zvon: warning: no configuration read from {} (give --config): service \
                     levels are 20 s, extensions are guessed from the calls and the time \
                     zone is UTC unless --tz names one",
                    dir.display()
                );
                Ok((
                    zvon::runtime::database_path(&state),
                    Context::default(),
                    jiff::tz::TimeZone::UTC,
                ))
            }
            (Err(errs), _) => {
                eprint!("{errs}");
                eprintln!(
                    "zvon: cannot read the configuration in {}: fix it or give --state-dir",
                    dir.display()
                );
                Err(ExitCode::FAILURE)
            }
        }
    }
}

/// What every report takes: the database, the period, the format and where to write.
#[derive(Args, Debug)]
struct ReportCommon {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    period: PeriodArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Write to FILE (replacing it) instead of standard output
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The period of a report and the time zone it is read in.
#[derive(Args, Debug)]
struct PeriodArgs {
    /// From this time: YYYY-MM-DD (local midnight in --tz) or unix seconds
    #[arg(long, value_name = "DATE", value_parser = zvon::report::period::parse_bound)]
    from: Option<Bound>,
    /// To this time: YYYY-MM-DD (that whole local day included) or unix seconds (exclusive)
    #[arg(long, value_name = "DATE", value_parser = zvon::report::period::parse_bound)]
    to: Option<Bound>,
    /// Today (local)
    #[arg(long, conflicts_with_all = ["from", "to", "yesterday", "week", "month"])]
    today: bool,
    /// Yesterday (local)
    #[arg(long, conflicts_with_all = ["from", "to", "week", "month"])]
    yesterday: bool,
    /// This ISO week, Monday to Sunday (local)
    #[arg(long, conflicts_with_all = ["from", "to", "month"])]
    week: bool,
    /// This calendar month (local)
    #[arg(long, conflicts_with_all = ["from", "to"])]
    month: bool,
    /// Time zone (IANA name, e.g. Europe/Berlin, or UTC) of the dates, days, hours and
    /// weekdays [default: the `timezone` of the dial plan's default context in the
    /// configuration; UTC without one]
    #[arg(long, value_name = "ZONE", value_parser = zvon::report::period::parse_tz)]
    tz: Option<jiff::tz::TimeZone>,
}

impl PeriodArgs {
    /// The period in `tz`, relative ones around `now` (unix seconds); `None` when none was
    /// given.
    fn resolve(&self, now: i64, tz: &jiff::tz::TimeZone) -> Result<Option<Period>, String> {
        use zvon::report::period::Relative;
        let rel = [
            (self.today, Relative::Today),
            (self.yesterday, Relative::Yesterday),
            (self.week, Relative::Week),
            (self.month, Relative::Month),
        ]
        .into_iter()
        .find_map(|(on, r)| on.then_some(r));
        match rel {
            Some(r) => Ok(Some(Period::relative(r, now, tz))),
            None if self.from.is_none() && self.to.is_none() => Ok(None),
            None => Period::new_in(
                self.from.map(|b| b.start(tz)),
                self.to.map(|b| b.end(tz)),
                tz,
            )
            .map(Some),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    /// Aligned columns for people
    Table,
    /// RFC 4180 CSV with a header row
    Csv,
    /// One JSON object: {report, from, to, parameters, rows}
    Json,
    /// One self-contained HTML page (inline CSS and SVG, no scripts); summary: the dashboard
    Html,
}

impl FormatArg {
    fn format(self) -> zvon::report::render::Format {
        use zvon::report::render::Format;
        match self {
            FormatArg::Table => Format::Table,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Html => Format::Html,
        }
    }
}

/// `--queue`.
#[derive(Args, Debug)]
struct QueueFilter {
    /// Only this queue
    #[arg(long, value_name = "QUEUE")]
    queue: Option<String>,
}

/// `--short-abandon`.
#[derive(Args, Debug)]
struct ShortAbandon {
    /// An abandon after less than SECS of waiting is a short abandon, counted apart
    #[arg(long, value_name = "SECS", default_value_t = zvon::report::metrics::DEFAULT_SHORT_ABANDON)]
    short_abandon: u64,
}

/// The filters of the call reports (exact matches).
#[derive(Args, Debug)]
struct CallFilters {
    /// Only calls that went through this queue
    #[arg(long, value_name = "QUEUE")]
    queue: Option<String>,
    /// Only queue calls this agent (id) answered
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
    /// Only calls from, to or answered by this extension
    #[arg(long, value_name = "EXT")]
    extension: Option<String>,
    /// Only calls from or to this number
    #[arg(long, value_name = "NUMBER")]
    number: Option<String>,
}

impl CallFilters {
    fn filter(self) -> Filter {
        Filter {
            queue: self.queue,
            agent: self.agent,
            extension: self.extension,
            number: self.number,
        }
    }
}

/// `zvon forecast`.
#[derive(Args, Debug)]
struct ForecastArgs {
    #[command(flatten)]
    db: DbArgs,
    /// History period [default: the 28 days before today]
    #[command(flatten)]
    period: PeriodArgs,
    /// Only this queue's calls
    #[arg(long, value_name = "QUEUE")]
    queue: Option<String>,
    /// Target service level PERCENT/SECONDS: P % of calls answered within T seconds
    #[arg(long, value_name = "P/T", default_value = "80/20", value_parser = zvon::report::period::parse_target)]
    target: (f64, f64),
    /// Instead of the agents needed: what N agents achieve (service level at T, ASA)
    #[arg(long, value_name = "N")]
    agents: Option<u32>,
    /// Average handle time, seconds [default: from the history]
    #[arg(long, value_name = "SECS", value_parser = positive)]
    aht: Option<f64>,
    /// Forecast one interval with N calls instead of the history (needs --aht)
    #[arg(long, value_name = "N", requires = "aht", value_parser = non_negative)]
    calls: Option<f64>,
    /// The length of the --calls interval, seconds
    #[arg(long, value_name = "SECS", default_value_t = 1800.0, value_parser = positive)]
    interval: f64,
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Write to FILE (replacing it) instead of standard output
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

const FORECAST_AFTER_HELP: &str = "\
Examples:
  zvon forecast                              last 28 days, 80 % within 20 s
  zvon forecast --queue support --target 90/15 --format csv
  zvon forecast --agents 12                  what 12 agents achieve in each half-hour
  zvon forecast --calls 100 --aht 180        100 calls in 30 minutes: 14 agents for 80/20";

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?}: expected a number above 0")),
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?}: expected a number, 0 or more")),
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
                Some(StatusWhat::Trunks) => Request::StatusTrunks,
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
                        "{}: OK ({} extensions, {} queue(s), {} agent(s), {} trunk(s), {} outbound route(s), SIP on {} UDP / {} TCP addresses)",
                        dir.display(),
                        cfg.extensions.len(),
                        cfg.acd.queues.len(),
                        cfg.acd.agents.len(),
                        cfg.trunks.trunks.len(),
                        cfg.trunks.routes.len(),
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
        Command::Forecast(args) => forecast(args),
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
    // Only warnings (e.g. an unreadable row skipped); RUST_LOG overrides.
    init_logging("warn");
    let none = Filter::default;
    let short = zvon::report::metrics::DEFAULT_SHORT_ABANDON;
    let queue_only = |q: QueueFilter| Filter {
        queue: q.queue,
        ..Filter::default()
    };
    let (kind, common, filter, short) = match report {
        Report::QueueLog {
            db,
            since,
            until,
            output,
        } => return queue_log(db, since, until, output),
        Report::Summary { common, filters } => (Kind::Summary, common, filters.filter(), short),
        Report::Queues {
            common,
            queue,
            short,
        } => (Kind::Queues, common, queue_only(queue), short.short_abandon),
        Report::Agents {
            common,
            queue,
            agent,
        } => {
            let f = Filter {
                agent,
                ..queue_only(queue)
            };
            (Kind::Agents, common, f, short)
        }
        Report::Hourly {
            common,
            queue,
            short,
        } => (Kind::Hourly, common, queue_only(queue), short.short_abandon),
        Report::Calls { common, filters } => (Kind::Calls, common, filters.filter(), short),
        Report::Abandoned {
            common,
            queue,
            number,
        } => {
            let f = Filter {
                number,
                ..queue_only(queue)
            };
            (Kind::Abandoned, common, f, short)
        }
        Report::Ivr { common, number } => {
            let f = Filter { number, ..none() };
            (Kind::Ivr, common, f, short)
        }
    };
    let (db, ctx, plan_tz) = match common.db.open() {
        Ok(v) => v,
        Err(code) => return code,
    };
    let tz = common.period.tz.clone().unwrap_or(plan_tz);
    let now = zvon::runtime::clock::now().wall.secs() as i64;
    let period = match common.period.resolve(now, &tz) {
        Ok(p) => p.unwrap_or(Period::ALL),
        Err(e) => {
            eprintln!("zvon: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opt = Options {
        period,
        filter,
        short_abandon_s: short,
        now_ms: now.saturating_mul(1000),
        tz,
    };
    let format = common.format.format();
    if kind == Kind::Calls
        && matches!(
            format,
            zvon::report::render::Format::Csv | zvon::report::render::Format::Json
        )
    {
        return stream_calls(&db, &ctx, &opt, format, common.output.as_deref());
    }
    let needs = zvon::report::Needs::of(kind, common.format.format());
    let data = match zvon::report::load(&db, needs, &ctx, &opt) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("zvon: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = zvon::report::tables::render(kind, &data, &ctx, &opt, common.format.format());
    // The process ends next: freeing a year of visits one by one would only cost time.
    std::mem::forget(data);
    write_output(common.output.as_deref(), &text)
}

fn forecast(a: ForecastArgs) -> ExitCode {
    init_logging("warn");
    let req = zvon::report::forecast::Request {
        target: a.target,
        agents: a.agents,
        aht_s: a.aht,
        calls: a.calls.map(|c| (c, a.interval)),
    };
    if let Some(table) = req.single() {
        return write_output(a.output.as_deref(), &table.render(a.format.format()));
    }
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("zvon: {e}");
        ExitCode::FAILURE
    };
    let (db, ctx, plan_tz) = match a.db.open() {
        Ok(v) => v,
        Err(code) => return code,
    };
    let tz = a.period.tz.clone().unwrap_or(plan_tz);
    let now = zvon::runtime::clock::now().wall.secs() as i64;
    let period = match a.period.resolve(now, &tz) {
        Ok(Some(p)) => p,
        Ok(None) => Period::days_before_today(28, now, &tz),
        Err(e) => return fail(&e),
    };
    let mut opt = Options::new(period, now.saturating_mul(1000));
    opt.filter.queue = a.queue;
    opt.tz = tz;
    let data = match zvon::report::load(&db, zvon::report::Needs::EVENTS, &ctx, &opt) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let week = req.typical_week(&data.queue_facts(&opt), &opt);
    // The process ends next: freeing a year of visits one by one would only cost time.
    std::mem::forget(data);
    match week {
        Ok(table) => write_output(a.output.as_deref(), &table.render(a.format.format())),
        Err(e) => fail(&e),
    }
}

fn queue_log(
    db: DbArgs,
    since: Option<i64>,
    until: Option<i64>,
    output: Option<PathBuf>,
) -> ExitCode {
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
/// `zvon report calls` in CSV or JSON, written as it is read. The output file is created at
/// the first write (nothing is left behind when the database cannot be read).
fn stream_calls(
    db: &std::path::Path,
    ctx: &Context,
    opt: &Options,
    format: zvon::report::render::Format,
    path: Option<&std::path::Path>,
) -> ExitCode {
    use std::io::Write;
    struct Lazy<'a> {
        path: &'a std::path::Path,
        file: Option<std::io::BufWriter<std::fs::File>>,
    }
    impl Write for Lazy<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.file.is_none() {
                self.file = Some(std::io::BufWriter::new(std::fs::File::create(self.path)?));
            }
            self.file.as_mut().map_or(Ok(0), |f| f.write(b))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.file.as_mut().map_or(Ok(()), |f| f.flush())
        }
    }
    let result = match path {
        Some(p) => {
            let mut w = Lazy {
                path: p,
                file: None,
            };
            zvon::report::write_calls(db, ctx, opt, format, &mut w).map_err(|e| match e {
                zvon::report::ReportError::Write(e) => {
                    format!("cannot write {}: {e}", p.display())
                }
                e => e.to_string(),
            })
        }
        None => {
            let mut out = std::io::stdout().lock();
            match zvon::report::write_calls(db, ctx, opt, format, &mut out) {
                // `zvon report ... | head`: the reader has what it wanted.
                Err(zvon::report::ReportError::Write(e))
                    if e.kind() == std::io::ErrorKind::BrokenPipe =>
                {
                    Ok(())
                }
                Err(zvon::report::ReportError::Write(e)) => {
                    Err(format!("cannot write to standard output: {e}"))
                }
                r => r.map_err(|e| e.to_string()),
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
