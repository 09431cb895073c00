//! `adshard-events`: reads a server's durable event log: prints records as JSON lines,
//! verifies checksums and sequence (torn tails vs damage), summarises spend and counts per
//! campaign and UTC day, and checks that summary against a running server's `/stats`. The
//! work is in `adshard_tools::events`; this file is the command line and the exit status.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use adshard::eventlog::Lsn;
use adshard_tools::events::check::{compare, parse_stats};
use adshard_tools::events::stats_http::{get, parse_stats_url};
use adshard_tools::events::summary::summarize;
use adshard_tools::events::target::resolve;
use adshard_tools::events::{print, verify};
use clap::{Parser, Subcommand};

/// Reads adshard's event log (the `[events] dir` directory, one shard's directory in it, or a
/// segment file). Exit status 1: damage (verify, print), a mismatch (check), or an error.
#[derive(Parser)]
#[command(name = "adshard-events", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Records as JSON lines: lsn, type, fields, campaign ids resolved where the log's
    /// dictionary names them.
    Print {
        /// A segment file, a shard directory, or the log directory (every shard, with "shard").
        path: PathBuf,
        /// Skip records below this log sequence number.
        #[arg(long, default_value_t = 0)]
        from_lsn: Lsn,
    },
    /// Checks every segment's header, frames, checksums and sequence, and every checkpoint.
    /// Torn tails are fine after a crash; damage before a tail or missing records exit 1.
    Verify {
        /// The log directory (its current generation), a shard directory or a segment file.
        path: PathBuf,
    },
    /// Spend and counts per campaign and UTC day over every shard of the current generation.
    Summary {
        /// The log directory or a shard directory.
        path: PathBuf,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Compares the summary with a running server's /stats (impressions, clicks, wins, total
    /// spend per campaign); exit 1 on any mismatch. Meaningful only while the server is idle.
    Check {
        /// The log directory or a shard directory.
        path: PathBuf,
        /// The admin port's stats URL, on 127.0.0.0/8, e.g. http://127.0.0.1:9090/stats.
        #[arg(long)]
        stats: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("adshard-events: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` is the reader of standard output going away (`adshard-events print | head`).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn status(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    match command {
        Command::Print { path, from_lsn } => {
            let report = print::print(&resolve(&path)?, from_lsn, &mut out)?;
            out.flush()?;
            for problem in &report.problems {
                eprintln!("{problem}");
            }
            Ok(status(report.damaged))
        }
        Command::Verify { path } => {
            let report = verify::verify(&resolve(&path)?);
            for line in &report.lines {
                writeln!(out, "{line}")?;
            }
            writeln!(out, "{}", report.conclusion())?;
            out.flush()?;
            Ok(status(report.damaged > 0))
        }
        Command::Summary { path, json } => {
            let summary = summarize(&resolve(&path)?)?;
            if json {
                writeln!(out, "{}", summary.to_json())?;
            } else {
                write!(out, "{}", summary.to_text())?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { path, stats } => {
            let url = parse_stats_url(&stats)?;
            let summary = summarize(&resolve(&path)?)?;
            let body = get(&url)?;
            let mismatches = compare(&summary.totals(), &parse_stats(&body)?);
            for shard in &summary.shards {
                writeln!(out, "{}: {}", shard.dir.display(), shard.describe())?;
            }
            for mismatch in &mismatches {
                writeln!(out, "MISMATCH {}", mismatch.describe())?;
            }
            writeln!(
                out,
                "{} campaigns in the log, {} mismatches",
                summary.campaigns.len(),
                mismatches.len()
            )?;
            out.flush()?;
            Ok(status(!mismatches.is_empty()))
        }
    }
}
