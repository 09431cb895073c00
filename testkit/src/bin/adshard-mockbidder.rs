//! `adshard-mockbidder`: a mock DSP answering OpenRTB bid requests over keep-alive HTTP/1.1
//! with a chosen latency, bid rate, price and injected faults, for testing and benchmarking
//! the engine against misbehaving bidders. The work is in `adshard_testkit::mockbidder`; this
//! file is the command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use adshard_testkit::mockbidder::{
    spawn, FaultShare, LatencySpec, MockBidderConfig, PriceSpec, ResponseCorpus, CONNECTIONS_MAX,
};
use anyhow::Context;
use clap::Parser;

/// A mock OpenRTB bidder (DSP) with chosen latency, bid rate and price, and injected faults.
///
/// Answers OpenRTB 2.5/2.6 bid requests POSTed to any path over keep-alive HTTP/1.1, to test
/// and benchmark adshard's bidder client against slow and misbehaving bidders. `GET /healthz`
/// answers 200, `GET /stats` the counts as JSON. Once bound it prints `listening on ADDR` on
/// stdout and the seed on stderr, and serves until killed. More in testkit/README.md.
// The help text comes from this doc comment: a bare `about` would print the crate's
// description (what the testkit holds), which is not what this binary is.
#[derive(Parser)]
#[command(name = "adshard-mockbidder", version)]
struct Cli {
    /// Address to listen on, e.g. 127.0.0.1:9001; port 0 picks a free port (printed).
    #[arg(long)]
    listen: SocketAddr,
    /// Answer latency: fixed:20ms, uniform:10ms:30ms or lognormal:MEDIAN:SIGMA (us, ms, s).
    #[arg(long, default_value = "fixed:0ms")]
    latency: LatencySpec,
    /// Probability in [0, 1] that a request without a fault gets a bid (otherwise 204).
    #[arg(long, default_value_t = 1.0)]
    bid_rate: f64,
    /// CPM price: fixed:1.5, uniform:0.5:3.0 or lognormal:MEDIAN:SIGMA; raised to the floor.
    #[arg(long, default_value = "fixed:1.0")]
    price: PriceSpec,
    /// KIND:SHARE, repeatable; KIND is timeout, reset, garbage, 500, trickle, oversized,
    /// unknown-imp, wrong-currency or below-floor; shares sum to at most 1.
    #[arg(long = "fault", value_name = "KIND:SHARE")]
    faults: Vec<FaultShare>,
    /// Answer the *.json bid responses of this directory in turn instead of generated bids.
    #[arg(long)]
    responses: Option<PathBuf>,
    /// Seed of the random draws; without it one is taken from the clock and printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Most concurrent connections, one thread each; more are answered 503.
    #[arg(long, default_value_t = CONNECTIONS_MAX)]
    threads: usize,
    /// Send bid responses with Transfer-Encoding: chunked instead of a Content-Length.
    #[arg(long)]
    chunked: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let responses = cli
        .responses
        .as_deref()
        .map(ResponseCorpus::load)
        .transpose()?;
    let seed = cli.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64)
    });
    let config = MockBidderConfig {
        listen: cli.listen,
        latency: cli.latency,
        bid_rate: cli.bid_rate,
        price: cli.price,
        faults: cli.faults,
        responses,
        seed,
        threads: cli.threads,
        chunked: cli.chunked,
    };
    // Validated here too, so that a bad value reads as a usage error rather than an I/O one.
    config.validate()?;
    let handle = spawn(config).with_context(|| format!("cannot listen on {}", cli.listen))?;
    // The seed goes to stderr: stdout's first line is what scripts wait for and parse.
    eprintln!("seed {seed}");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", handle.addr())?;
    stdout.flush()?;
    drop(stdout);
    // Serves until the process is killed; the handle is never dropped, so neither is the
    // listener. `park` may wake spuriously, hence the loop.
    loop {
        std::thread::park();
    }
}
