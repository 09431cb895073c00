//! `adshard-gen`: seeded, reproducible campaign data files and bid-request traffic for load
//! tests, benchmarks and demos. The same command with the same seed writes the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use adshard_tools::campaigns::{write_campaigns, CampaignsOptions};
use adshard_tools::requirements::{write_requirements, RequirementsOptions};
use adshard_tools::traffic::{write_traffic, TrafficOptions, USERS_DEFAULT};
use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "adshard-gen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A campaign data file (JSON, the format `adshard` loads), one campaign per line.
    Campaigns {
        /// Number of campaigns (advertisers: one per ten campaigns).
        #[arg(long)]
        count: usize,
        /// Seed of the generator: the same seed writes the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// OpenRTB 2.6 bid requests, one JSON object per line.
    Traffic {
        /// Number of requests.
        #[arg(long)]
        count: usize,
        /// Seed of the generator: the same seed writes the same requests.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Distinct users (Zipf-distributed: a few recur often).
        #[arg(long, default_value_t = USERS_DEFAULT)]
        users: usize,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Advertiser block lists (domains, app bundles, page URL prefixes), one advertiser per
    /// JSON line.
    Requirements {
        /// Advertisers of the matching campaign file (its `--count` / 10, rounded up).
        #[arg(long)]
        advertisers: usize,
        /// Entries over all lists.
        #[arg(long)]
        entries: usize,
        /// Seed of the generator: the same seed writes the same lists.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn output(path: Option<&PathBuf>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

/// Whether `error` is the reader of standard output going away (`adshard-gen traffic | head`):
/// the generator has nothing more to do then, as any Unix filter.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> anyhow::Result<()> {
    match run(Cli::parse().command) {
        Err(error) if is_broken_pipe(&error) => Ok(()),
        result => result,
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Campaigns { count, seed, out } => write_campaigns(
            &CampaignsOptions { count, seed },
            &mut output(out.as_ref())?,
        ),
        Command::Traffic {
            count,
            seed,
            users,
            out,
        } => write_traffic(
            &TrafficOptions { count, seed, users },
            &mut output(out.as_ref())?,
        ),
        Command::Requirements {
            advertisers,
            entries,
            seed,
            out,
        } => write_requirements(
            &RequirementsOptions {
                advertisers,
                entries,
                seed,
            },
            &mut output(out.as_ref())?,
        ),
    }
}
