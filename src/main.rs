//! `zvon`: thin CLI over the library — arguments → config → runtime.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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

fn init_logging(level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
