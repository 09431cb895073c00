//! Two shards hammer one tiny budget through the real HTTP path, with every bid's billing
//! notice (the event that charges a campaign spending on impressions) fired at once from
//! several threads: the campaign's spend never exceeds its budget plus the
//! proven bound `(shards - 1) x allowance` (see `budget`), on every seeded run, and the
//! campaign stops bidding once the budget is gone.

use std::sync::Arc;

use adshard::auction::PricingRule;
use adshard_testkit::delivery::{auction, billing_notice, campaign, data, request, wait_counted};
use adshard_testkit::server::{metric_sum, TestServer};

const SHARDS: usize = 2;
/// 5 USD CPM under first price: 5000 micros per impression.
const BID_CPM_MICROS: i64 = 5_000_000;
const PER_IMPRESSION_MICROS: i64 = BID_CPM_MICROS / 1000;
/// Ten impressions' worth.
const BUDGET_MICROS: i64 = 10 * PER_IMPRESSION_MICROS;
/// One bid per shard beyond what the other shard acknowledged.
const ALLOWANCE_MICROS: i64 = PER_IMPRESSION_MICROS;
const BOUND_MICROS: i64 = (SHARDS as i64 - 1) * ALLOWANCE_MICROS;
const THREADS: usize = 4;
const REQUESTS_PER_THREAD: usize = 60;

/// splitmix64: the user ids of a run come from its seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn run(seed: u64) {
    let mut tiny = campaign("tiny", BID_CPM_MICROS);
    tiny.budget.total_micros = Some(BUDGET_MICROS);
    let server = Arc::new(TestServer::start_with_campaigns(
        |config| {
            config.server.shards = SHARDS;
            config.auction.pricing = PricingRule::FirstPrice;
            config.delivery.budget_shard_allowance_micros = ALLOWANCE_MICROS;
            config.delivery.budget_exchange_interval_ms = 2;
        },
        data(vec![tiny]),
    ));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let server = server.clone();
            std::thread::spawn(move || {
                let mut fired = 0u64;
                for n in 0..REQUESTS_PER_THREAD {
                    // A new connection now and then, so both shards accept some.
                    let mut client = server.connect();
                    let user = format!("u{}", mix(seed * 1_000_003 + (thread * 1000 + n) as u64));
                    let body = request(&format!("r-{seed}-{thread}-{n}"), Some(&user));
                    if let Some(bid) = auction(&mut client, &body) {
                        assert_eq!(bid.campaign, "tiny");
                        billing_notice(&mut server.connect(), &bid);
                        fired += 1;
                    }
                }
                fired
            })
        })
        .collect();
    let fired: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let metrics = wait_counted(&server, "bill", fired);
    let spent = metric_sum(
        &metrics,
        "adshard_campaign_spend_micros_total",
        &["campaign=\"tiny\""],
    ) as i64;
    println!(
        "seed {seed}: {fired} impressions, spent {spent} of {BUDGET_MICROS} (bound {BOUND_MICROS})"
    );
    assert_eq!(spent, fired as i64 * PER_IMPRESSION_MICROS);
    assert!(
        spent <= BUDGET_MICROS + BOUND_MICROS,
        "seed {seed}: spent {spent} > budget {BUDGET_MICROS} + bound {BOUND_MICROS}"
    );
    // The budget was really contended, not left mostly unspent.
    assert!(
        spent >= BUDGET_MICROS - BOUND_MICROS,
        "seed {seed}: spent only {spent}"
    );
    // Spent out: no shard bids any more.
    for n in 0..10 {
        let body = request(&format!("after-{n}"), Some(&format!("late-{n}")));
        assert!(auction(&mut server.connect(), &body).is_none());
    }
    let refused = metric_sum(&metrics, "adshard_budget_refused_total_budget_total", &[]);
    assert!(refused > 0, "seed {seed}: no refusal counted");
}

#[test]
fn spend_stays_within_budget_plus_bound_across_shards() {
    for seed in 1..=5 {
        run(seed);
    }
}
