//! `adshard-replay`: replays a captured request log (JSON lines) against a server on loopback
//! at the captured pace, scaled by `--speed`, or at `--rate` for lines without timestamps, so
//! that a profile sees real traffic shapes. The work is in `adshard_tools::replay`; this file
//! is the command line.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use adshard_tools::replay::{
    parse_log, parse_target, replay, schedule, Pace, ReplayOptions, CONNECTIONS_MAX,
};
use anyhow::{ensure, Context};
use clap::Parser;

/// Replays a request log (JSON lines, see tools/README.md) against a loopback server.
#[derive(Parser)]
#[command(name = "adshard-replay", version, about)]
struct Cli {
    /// Server to replay against: http://HOST:PORT[/PATH]. Loopback only (127.0.0.0/8, ::1,
    /// localhost). PATH, when given, replaces /openrtb2/auction for lines without a path.
    #[arg(long)]
    url: String,
    /// Replay timestamped lines this many times faster than captured (0.5 = half speed).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Requests per second for lines without ts_us (e.g. `adshard-gen traffic` output).
    #[arg(long)]
    rate: Option<f64>,
    /// Keep-alive connections, one thread each; a request waits for a free connection.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Pass over the log this many times, each pass following the previous one.
    #[arg(long = "loop", default_value_t = 1)]
    loops: u32,
    /// Timeout of each connect, write and read, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// The log; `-` reads standard input.
    file: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The URL is checked first: a refused host must fail before anything else happens.
    let target = parse_target(&cli.url)?;
    ensure!(
        (1..=CONNECTIONS_MAX).contains(&cli.connections),
        "--connections must be 1..={CONNECTIONS_MAX}"
    );
    ensure!(cli.timeout_ms > 0, "--timeout-ms must be positive");
    let input: Box<dyn Read> = if cli.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            File::open(&cli.file).with_context(|| format!("cannot open {}", cli.file.display()))?,
        )
    };
    let entries = parse_log(BufReader::new(input))
        .with_context(|| format!("reading {}", cli.file.display()))?;
    let pace = Pace {
        speed: cli.speed,
        rate: cli.rate,
    };
    let schedule = schedule(&entries, pace, cli.loops)?;
    let options = ReplayOptions {
        connections: cli.connections,
        timeout: Duration::from_millis(cli.timeout_ms),
    };
    let report = replay(&target, &entries, &schedule, &options)?;
    print!("{}", report.render());
    Ok(())
}
