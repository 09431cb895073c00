//! The cost of deciding a batch of bid requests against a campaign set, without the network:
//! parse, validate, target, auction, and write the signed bid response, as a shard does.
//!
//! Run natively it prints ns per request; under `valgrind --tool=callgrind
//! --toggle-collect=auction_cost::run_batch` it gives a stable instruction count for exactly
//! the batch (loading the campaigns is not counted). Name the function exactly: callgrind
//! toggles collection on entering *and* on leaving each matching function, so a pattern such
//! as `*run_batch*` also matches the signing closure inside and leaves signing uncounted. It also prints the targeting index's memory per
//! campaign.
//!
//! With `--log`, every signed bid is also appended to an event log's buffer as the shard does
//! (`EventLog::append` of a `Record::Bid` with the commitment of a budgeted campaign, and the
//! per-request health check): the log's cost on the request path. Nothing is written to disk
//! (the shard's committer does that on its own task, off the request path); the buffer is
//! sized up front (`commit_bytes_max` at its ceiling) so that it does not grow while
//! measured, as the shard's swapped buffers do not.
//!
//! usage: auction-cost --campaigns FILE.json --requests FILE.jsonl [--repeat N] [--log]

use std::path::PathBuf;
use std::time::Instant;

use adshard::adrequest::AdRequest;
use adshard::auction::response::{write_bid_response, ResponseContext};
use adshard::auction::{run_auction, AuctionScratch, AuctionSettings, CampaignSource};
use adshard::campaign::data;
use adshard::catalog::Catalog;
use adshard::config::Config;
use adshard::currency::CurrencyTable;
use adshard::eventlog::{EventLog, EventsConfig, Record};
use adshard::openrtb::parse_bid_request;
use adshard::tracking::{
    BidTokens, BuyerKind, EventWindow, TokenSigner, TrackingClaims, WindowSize,
};

struct Args {
    campaigns: PathBuf,
    requests: PathBuf,
    repeat: usize,
    log: bool,
}

fn args() -> Result<Args, String> {
    let mut campaigns = None;
    let mut requests = None;
    let mut repeat = 1;
    let mut log = false;
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        if flag == "--log" {
            log = true;
            continue;
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--campaigns" => campaigns = Some(PathBuf::from(value)),
            "--requests" => requests = Some(PathBuf::from(value)),
            "--repeat" => {
                repeat = value
                    .parse()
                    .map_err(|_| "--repeat takes a number".to_string())?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        campaigns: campaigns.ok_or("--campaigns FILE is required")?,
        requests: requests.ok_or("--requests FILE is required")?,
        repeat,
        log,
    })
}

struct Outcome {
    bids: usize,
    rejected: usize,
    response_bytes: usize,
}

/// The measured part: everything a shard does per bid request between reading the body and
/// writing the response bytes.
#[inline(never)]
fn run_batch(
    catalog: &Catalog,
    currencies: &CurrencyTable,
    signer: &TokenSigner,
    events: &mut EventWindow,
    log: Option<&EventLog>,
    bodies: &[Vec<u8>],
    repeat: usize,
) -> Outcome {
    let config = Config::default();
    let settings = AuctionSettings {
        pricing: config.auction.pricing,
        campaign_wins_per_request_max: config.auction.campaign_wins_per_request_max,
    };
    let mut request = AdRequest::default();
    let mut scratch = AuctionScratch::default();
    let (mut out, mut tokens, mut adm, mut url) =
        (Vec::new(), BidTokens::new(), String::new(), String::new());
    let mut outcome = Outcome {
        bids: 0,
        rejected: 0,
        response_bytes: 0,
    };
    let now_unix_s = 1_790_000_000;
    for _ in 0..repeat {
        for body in bodies {
            if parse_bid_request(body, &mut request).is_err() {
                outcome.rejected += 1;
                continue;
            }
            // As the shard does before each decision: whether commitments can be logged.
            if let Some(log) = log {
                std::hint::black_box(log.accepts_acknowledged());
            }
            run_auction(
                catalog,
                &request,
                currencies,
                settings,
                now_unix_s,
                &mut scratch,
            );
            if scratch.winners.is_empty() {
                continue;
            }
            // As the shard does: room in the dedupe window for every winner before signing,
            // then one sequence number per signed bid.
            let room = events.room(now_unix_s);
            if room < scratch.winners.len() as u64 {
                scratch.winners.truncate(room as usize);
                if scratch.winners.is_empty() {
                    continue;
                }
            }
            let currency = scratch.currency;
            let mut sign = |winner: &adshard::auction::Winner, tokens: &mut BidTokens| {
                let Some(sequence) = events.issue(now_unix_s) else {
                    return;
                };
                let campaign = catalog.campaign(winner.campaign_idx);
                if let Some(log) = log {
                    log_bid(
                        log, currencies, campaign, winner, currency, sequence, now_unix_s,
                    );
                }
                let imp = request.imps()[winner.imp_idx];
                let claims = TrackingClaims {
                    request_id: &request.id,
                    imp_id: request.text(imp.id),
                    buyer_kind: BuyerKind::Campaign,
                    buyer_id: &campaign.id,
                    creative_id: &campaign.creatives[winner.creative_idx].id,
                    price_micros: winner.price_micros,
                    currency,
                    issued_unix_s: now_unix_s,
                    shard_idx: 0,
                    user_key: 0,
                    sequence,
                };
                let _ = signer.sign(&claims, tokens);
            };
            let context = ResponseContext {
                public_url: "http://127.0.0.1:8080",
                currency,
                external: &[],
                currencies,
            };
            write_bid_response(
                &mut out,
                &request,
                &scratch.winners,
                catalog,
                &context,
                &mut sign,
                &mut tokens,
                &mut adm,
                &mut url,
            );
            outcome.bids += scratch.winners.len();
            outcome.response_bytes += out.len();
        }
    }
    outcome
}

/// The shard's `log_bid`: the bid's record, with what a budgeted campaign committed.
fn log_bid(
    log: &EventLog,
    currencies: &CurrencyTable,
    campaign: &adshard::campaign::Campaign,
    winner: &adshard::auction::Winner,
    currency: adshard::currency::Currency,
    sequence: u64,
    now_unix_s: i64,
) {
    let record =
        adshard::books::bid_record(winner, campaign, currencies, currency, sequence, now_unix_s);
    let _ = log.append(&Record::Bid(record));
}

fn main() {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("auction-cost: {message}");
            std::process::exit(2);
        }
    };
    let data = match data::load_files(std::slice::from_ref(&args.campaigns)) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let text = std::fs::read_to_string(&args.requests).unwrap_or_else(|e| {
        eprintln!("auction-cost: {}: {e}", args.requests.display());
        std::process::exit(1);
    });
    let bodies: Vec<Vec<u8>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let config = Config::default();
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Catalog::build(&data, &currencies);
    let signer = TokenSigner::new(adshard::server::DEMO_TRACKING_SECRET.as_bytes())
        .expect("demo secret is long enough");
    // The shard's dedupe window at the default rate and TTL (its memory is allocated here, not
    // in the measured batch). All bids are signed at one instant, so a batch of more than its
    // capacity (36.6 million bids) would see bids refused.
    let hold_s = config.tracking.hold_s();
    let size = WindowSize::for_rate(config.tracking.bids_per_shard_per_s_max, hold_s)
        .expect("the default tracking config is valid");
    let mut events = EventWindow::new(size, hold_s, 0);
    // Never written: only its in-memory buffer is used (see the module doc).
    let log = args.log.then(|| {
        let config = EventsConfig {
            commit_bytes_max: adshard::eventlog::config::COMMIT_BYTES_CEILING,
            ..EventsConfig::default()
        };
        EventLog::new(std::env::temp_dir(), 0, 1, 1, &config)
    });
    // Warm the buffers, then measure.
    let _ = run_batch(
        &catalog,
        &currencies,
        &signer,
        &mut events,
        log.as_ref(),
        &bodies,
        1,
    );
    let started = Instant::now();
    let outcome = run_batch(
        &catalog,
        &currencies,
        &signer,
        &mut events,
        log.as_ref(),
        &bodies,
        args.repeat,
    );
    let elapsed = started.elapsed();
    let n_requests = bodies.len() * args.repeat;
    if let Some(log) = &log {
        let counters = log.counters();
        println!(
            "event log: {} records, {} bytes appended (dropped {})",
            counters.records, counters.bytes, counters.records_dropped
        );
    }
    println!(
        "campaigns {} requests {} bids {} rejected {} ns/request {:.0} index bytes/campaign {:.0} response bytes {}",
        catalog.len(),
        n_requests,
        outcome.bids,
        outcome.rejected,
        elapsed.as_nanos() as f64 / n_requests.max(1) as f64,
        catalog.index_memory_bytes() as f64 / catalog.len().max(1) as f64,
        outcome.response_bytes
    );
}
