//! The `adshard` binary: `serve` runs the server, `check-config` validates a config file.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use adshard::config::{Config, ConfigError};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "adshard", version, about = "Thread-per-core OpenRTB ad server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (without --config: the embedded demo defaults).
    Serve {
        /// TOML config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Public listen address, overrides server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Admin listen address, overrides server.admin_listen.
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Number of shards (one per core), overrides server.shards.
        #[arg(long)]
        shards: Option<usize>,
        /// CPUs to pin shards to, e.g. "1" or "2-5", overrides server.cpus.
        #[arg(long)]
        cpus: Option<String>,
        /// Recover past event-log segments damaged before their tail, losing the rest of each
        /// such segment (logged loudly). Without it such damage stops the start.
        #[arg(long)]
        skip_damaged_segments: bool,
        /// Event-log directory, overrides events.dir.
        #[arg(long)]
        events_dir: Option<PathBuf>,
    },
    /// Validate a config file and print every problem with its file and field.
    CheckConfig {
        /// TOML config file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    init_logging();
    match Cli::parse().command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Serve {
            config,
            listen,
            admin_listen,
            shards,
            cpus,
            skip_damaged_segments,
            events_dir,
        } => {
            let (mut loaded, source) = match &config {
                Some(path) => match Config::load(path) {
                    Ok(loaded) => (loaded, path.clone()),
                    Err(error) => return config_failure(&error),
                },
                None => (Config::default(), PathBuf::from("<embedded defaults>")),
            };
            if let Some(listen) = listen {
                loaded.server.listen = listen;
            }
            if let Some(admin_listen) = admin_listen {
                loaded.server.admin_listen = admin_listen;
            }
            if let Some(shards) = shards {
                loaded.server.shards = shards;
            }
            if let Some(cpus) = cpus {
                loaded.server.cpus = cpus;
            }
            loaded.events.skip_damaged_segments = skip_damaged_segments;
            if let Some(dir) = events_dir {
                loaded.events.dir = dir;
            }
            let issues = loaded.validate(&PathBuf::from("command line"));
            if !issues.is_empty() {
                return config_failure(&ConfigError { issues });
            }
            serve(loaded, &source)
        }
    }
}

/// Logs go to stderr, filtered by `ADSHARD_LOG` (default `info`), in colour only for a person
/// at a terminal: escape codes in a log file or a pipe (journald, a shipper) break grep and
/// parsers.
fn init_logging() {
    let colour = log_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ADSHARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

/// Colour when stderr is a terminal, unless `NO_COLOR` is set to anything but the empty string
/// (<https://no-color.org>).
fn log_colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.map_or(true, OsStr::is_empty)
}

/// Validates the config and every data file it names; prints every problem, then how many.
/// The campaign files are checked even when the config has problems (with what of it could be
/// read), so one run shows everything to fix.
fn check_config(file: &std::path::Path) -> ExitCode {
    let check = Config::check_file(file);
    for issue in &check.issues {
        eprintln!("{issue}");
    }
    let mut n_problems = check.issues.len();
    let Some(config) = check.config else {
        return problems_found(file, n_problems);
    };
    if let Err(reason) = adshard::recovery::check_events_dir(&config) {
        eprintln!("{}: {reason}", file.display());
        n_problems += 1;
    }
    match adshard::server::load_campaigns(&config) {
        Ok(data) if n_problems == 0 => {
            println!(
                "{}: ok ({} campaigns, {} advertisers{})",
                file.display(),
                data.campaigns.len(),
                data.advertisers.len(),
                if config.data.campaign_files.is_empty() {
                    ", embedded demo"
                } else {
                    ""
                }
            );
            return ExitCode::SUCCESS;
        }
        Ok(_) => {}
        Err(adshard::error::StartError::Data(error)) => {
            eprintln!("{error}");
            n_problems += error.issues.len() + error.issues_omitted;
        }
        Err(error) => {
            eprintln!("{}: {error}", file.display());
            n_problems += 1;
        }
    }
    problems_found(file, n_problems)
}

/// The last line of a failed check: `file: N problems`.
fn problems_found(file: &std::path::Path, n_problems: usize) -> ExitCode {
    debug_assert!(n_problems > 0);
    let noun = if n_problems == 1 {
        "problem"
    } else {
        "problems"
    };
    eprintln!("{}: {n_problems} {noun}", file.display());
    ExitCode::FAILURE
}

fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(2)
}

fn serve(config: Config, source: &std::path::Path) -> ExitCode {
    if adshard::server::tracking_secret(&config).1 == adshard::server::SecretSource::Demo {
        tracing::warn!(
            "RUNNING ON THE DEMO TRACKING SECRET: anyone can forge win, impression and click \
             events. Set tracking.secret or ADSHARD_TRACKING_SECRET (32+ random bytes) in production."
        );
    }
    // The handlers go in before the server starts: shards answer as soon as they are ready,
    // and a signal sent then must drain, not kill with the default action.
    let shutdown = Arc::new(AtomicBool::new(false));
    if let Err(error) = install_signal_handlers(&shutdown) {
        eprintln!("adshard: cannot install signal handler: {error}");
        return ExitCode::FAILURE;
    }
    let handle = match adshard::server::start_with_shutdown(config, shutdown) {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("adshard: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        config = %source.display(),
        listen = %handle.listen_addr(),
        admin = %handle.admin_addr(),
        shards = handle.shard_cpus().len(),
        cpus = ?handle.shard_cpus(),
        "adshard serving"
    );
    if handle.join() {
        tracing::info!("adshard stopped");
        ExitCode::SUCCESS
    } else {
        eprintln!("adshard: a shard failed");
        ExitCode::FAILURE
    }
}

/// SIGINT and SIGTERM set `shutdown` (a graceful drain). SIGHUP, whose default action kills
/// the process without a drain, is caught and logged as ignored until config reload gives it
/// its meaning; a thread of its own logs it, as a signal handler may not.
fn install_signal_handlers(shutdown: &Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone())?;
    }
    let mut hangups = signal_hook::iterator::Signals::new([SIGHUP])?;
    std::thread::Builder::new()
        .name("adshard-signals".into())
        .spawn(move || {
            for _ in hangups.forever() {
                tracing::warn!("SIGHUP received and ignored: config reload is not supported yet");
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        let cases: &[(bool, Option<&str>, bool)] = &[
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (true, Some("0"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for &(terminal, no_color, colour) in cases {
            assert_eq!(
                log_colour(terminal, no_color.map(OsStr::new)),
                colour,
                "terminal {terminal}, NO_COLOR {no_color:?}"
            );
        }
    }
}
