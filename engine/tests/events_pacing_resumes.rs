//! The pacer survives a restart (issue 16): an even-paced campaign with a daily budget,
//! overspending its plan, is throttled by the first run; the graceful stop writes a last
//! checkpoint; recovery gives back the traffic the first run counted (today's requests, per
//! hour), the curve, and the campaign's controller (its throttle and smoothed spend), not the
//! prior; and a second server on the same directory starts from them: it throttles the
//! campaign before its own first pacing update, and has the first run's spend.

// The test reads the wall clock for recovery's "now", as the server does.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use adshard::auction::PricingRule;
use adshard::campaign::{Budget, CampaignData, Pacing, SpendOn};
use adshard::config::Config;
use adshard::pacing::PacerExport;
use adshard::state::ShardState;
use adshard_testkit::delivery::{auction, billing_notice, campaign, data, request};
use adshard_testkit::server::TestServer;

/// 1.00 CPM: each billing notice charges 1000 micros.
const BID_CPM_MICROS: i64 = 1_000_000;
/// Far more than the test spends, far less than an even day's plan lets it spend in seconds:
/// the controller steps the throttle down at every measured update.
const DAILY_BUDGET_MICROS: i64 = 10_000_000;
/// The first run's traffic lasts until the pacer has throttled some bids, at most this long
/// (it measures in whole seconds: a few are needed).
const LEARNING_TIMEOUT: Duration = Duration::from_secs(20);
/// Auctions sent to the second server.
const SECOND_RUN_AUCTIONS: u64 = 40;
const THROTTLED: &str = "adshard_pacing_throttled_total";

fn campaigns() -> CampaignData {
    let mut paced = campaign("paced", BID_CPM_MICROS);
    paced.pacing = Pacing::Even;
    paced.budget = Budget {
        total_micros: None,
        daily_micros: Some(DAILY_BUDGET_MICROS),
        spend_on: SpendOn::Impression,
    };
    data(vec![paced])
}

fn configure(config: &mut Config, events_dir: &Path, pacing_update_interval_ms: u64) {
    // A bid's price is its campaign's bid: each billing notice charges what it says.
    config.auction.pricing = PricingRule::FirstPrice;
    config.events.dir = events_dir.to_owned();
    config.delivery.pacing_update_interval_ms = pacing_update_interval_ms;
}

/// What recovery rebuilds from the directory now: the one shard's state.
fn recovered(events_dir: &Path) -> ShardState {
    let mut config = Config::default();
    configure(&mut config, events_dir, 1000);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let (layout, mut shards, _) = adshard::recovery::recover(&config, &campaigns(), 1, now)
        .expect("recovery")
        .expect("the log is on");
    drop(layout);
    shards
        .pop()
        .and_then(|shard| shard.state)
        .expect("a recovered state")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The pacer's state, compared as recovery may change it: exactly, but floats to rounding.
fn assert_same_pacer(got: &PacerExport, want: &PacerExport, requests_since: u64) {
    assert_eq!(got.requests_today, want.requests_today + requests_since);
    assert_eq!(got.day, want.day);
    assert_eq!(got.days_learned, want.days_learned);
    assert!(got
        .curve_shares
        .iter()
        .zip(&want.curve_shares)
        .all(|(a, b)| close(*a, *b)));
    assert_eq!(got.campaigns.len(), want.campaigns.len());
    for (a, b) in got.campaigns.iter().zip(&want.campaigns) {
        assert!(
            close(a.throttle, b.throttle) && close(a.spend_ewma_micros, b.spend_ewma_micros),
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn a_restart_resumes_the_learned_pacing_and_spend() {
    let events_dir = adshard_testkit::temp_dir("pacing-resumes");

    // First run: traffic and spend until the pacer throttles the campaign.
    let server =
        TestServer::start_with_campaigns(|config| configure(config, &events_dir, 100), campaigns());
    let started = Instant::now();
    let (mut auctions, mut spent_micros) = (0u64, 0i64);
    while server.metric_sum(THROTTLED, &[]) == 0 {
        assert!(
            started.elapsed() < LEARNING_TIMEOUT,
            "the pacer throttled nothing in {LEARNING_TIMEOUT:?} ({auctions} auctions)"
        );
        for _ in 0..20 {
            auctions += 1;
            let body = request(&format!("r{auctions}"), Some("user-1"));
            if let Some(bid) = auction(&mut server.connect(), &body) {
                billing_notice(&mut server.connect(), &bid);
                spent_micros += BID_CPM_MICROS / 1000;
            }
        }
    }
    drop(server);

    let first = recovered(&events_dir);
    let pacer = &first.pacer;
    assert_eq!(pacer.requests_today, auctions, "every auction was counted");
    assert_eq!(pacer.hour_counts.iter().sum::<u64>(), auctions);
    assert!(
        pacer.day.is_some() && pacer.interval_s.is_some(),
        "{pacer:?}"
    );
    assert_eq!(pacer.campaigns.len(), 1, "{pacer:?}");
    let learned = pacer.campaigns[0];
    assert!(
        learned.throttle < 1.0 && learned.spend_ewma_micros > 0.0,
        "the controller's state is the first run's, not its start: {learned:?}"
    );
    assert_eq!(first.counters[0].spend_micros, spent_micros);
    assert_eq!(first.ledger.campaigns[0].day_spent_micros, spent_micros);

    // Second run, with no pacing update in its life: whatever throttles it was recovered.
    let server = TestServer::start_with_campaigns(
        |config| configure(config, &events_dir, 60_000),
        campaigns(),
    );
    let stats = server.stats();
    assert_eq!(stats["campaigns"][0]["spend_total_micros"], spent_micros);
    assert_eq!(stats["campaigns"][0]["spend_today_micros"], spent_micros);
    for i in 0..SECOND_RUN_AUCTIONS {
        let body = request(&format!("second-{i}"), Some("user-1"));
        let _ = auction(&mut server.connect(), &body);
    }
    let throttled = server.metric_sum(THROTTLED, &[]);
    assert!(
        throttled > 0,
        "the second run bid on all {SECOND_RUN_AUCTIONS} auctions: its pacer started over"
    );
    drop(server);

    let second = recovered(&events_dir);
    assert_same_pacer(&second.pacer, &first.pacer, SECOND_RUN_AUCTIONS);
    assert_eq!(second.counters[0].spend_micros, spent_micros);
    let _ = std::fs::remove_dir_all(events_dir);
}
