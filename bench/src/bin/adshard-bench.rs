//! `adshard-bench`: the open-loop load generator's entry point. Everything but argument
//! parsing and the exit status lives in `adshard_bench::loadgen` so tests run the same code.
//!
//! usage: adshard-bench --url URL --rate R --duration S --connections C
//!        (--body FILE | --corpus DIR | --requests FILE.jsonl) [--hgrm FILE] [--json FILE]
//!        [--svg FILE] [--compare URL2] [--sweep]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use adshard_bench::loadgen::cli::{run_cli, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match run_cli(&cli, &mut stdout) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = stdout.flush();
            // The cause chain on one line; a backtrace would bury a usage error.
            eprintln!("adshard-bench: {error:#}");
            ExitCode::from(2)
        }
    }
}
