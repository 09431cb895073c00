//! What the end-to-end bidder tests share: mock bidders (`crate::mockbidder`) on loopback
//! with a printed seed, bidder entries for the config, a server started with them, and the
//! requests, prices and campaign these tests reason about. They moved here from the tools'
//! tests, where they lived only because the mock bidder did; they use only the engine's public
//! API.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use adshard::auction::PricingRule;
use adshard::bidders::BidderConfig;
use adshard::campaign::{Advertiser, CampaignBuilder, CampaignData};
use adshard::config::Config;

use crate::mockbidder::{spawn, MockBidderConfig, MockBidderHandle};
use crate::server::TestServer;

/// How late past the request's `tmax` a client may see the end of its answer. The server's
/// own deadline is `tmax - response_reserve_ms` (2 ms) after it has read the request; on top of
/// that come a glommio timer firing on the reactor's next turn, the auction and the write
/// (tens of microseconds), and two loopback hops plus thread wake-ups. On an idle machine 5 ms
/// covers that with room; it is doubled because the 2-core reference machine runs builds next
/// to the tests, and with two compilers busy we measured answers up to 4.8 ms past `tmax`
/// (6.8 ms past the server's deadline; the median stays ~1.3 ms before `tmax`). 10 ms is still
/// far below what a missed deadline costs here: the slow bidder answers 30 ms after `tmax`.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(10);

/// Tests of one file run one at a time: each measures answer times against deadlines of tens
/// of milliseconds, and two servers plus their mock bidders on 2 cores would measure each
/// other. Hold the guard for the whole test.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The seed of the mock bidders (prices and faults are fixed or have a share of 1 in these
/// tests, so it only decides their internal draws); printed so that a failure can be replayed
/// with `BIDDER_E2E_SEED`.
pub fn seed() -> u64 {
    let seed = std::env::var("BIDDER_E2E_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0xB1DD_E2E0);
    println!("mock bidder seed {seed} (set BIDDER_E2E_SEED to replay another)");
    seed
}

/// Starts a mock bidder on an ephemeral loopback port.
pub fn mock(config: MockBidderConfig) -> MockBidderHandle {
    let handle = spawn(MockBidderConfig {
        seed: seed(),
        ..config
    })
    .expect("start a mock bidder");
    assert!(handle.addr().ip().is_loopback());
    handle
}

/// A bidder entry for `url` (a mock's `url()` or a scripted bidder's), with a small pool.
pub fn bidder(name: &str, url: &str) -> BidderConfig {
    BidderConfig {
        name: name.into(),
        endpoint: format!("{url}/openrtb2/bid"),
        connections_per_shard_max: 4,
        connections_warm: 2,
        ..BidderConfig::default()
    }
}

impl TestServer {
    /// One shard on free loopback ports with `bidders`, `pricing` and the default fan-out
    /// settings, adjusted by `configure`, serving `campaigns`; health throttling and traffic
    /// shaping off, so that every request asks every bidder. Returns once the shard serves.
    pub fn with_bidders(
        bidders: Vec<BidderConfig>,
        pricing: PricingRule,
        campaigns: CampaignData,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        let server = TestServer::start_with_campaigns(
            |config| {
                config.auction.pricing = pricing;
                config.bidders = bidders;
                // The escape valve (off in every test server) would skip the fan-out these
                // tests are about whenever the machine is busy enough to delay the shard's
                // probe by 2 ms (a build next to the tests does); the spike test turns it back
                // on with its own thresholds. Likewise health throttling would stop asking a
                // failing bidder, which the fault tests count exchange by exchange; it has its
                // own tests on a simulated clock.
                config.fanout.health_throttling = false;
                config.fanout.traffic_shaping = false;
                configure(config);
                let issues = config.validate(std::path::Path::new("test.toml"));
                assert!(issues.is_empty(), "test config is invalid: {issues:?}");
            },
            campaigns,
        );
        assert!(server.addr.ip().is_loopback() && server.admin.ip().is_loopback());
        // `start_with` returns once the shard accepts (catalog built, bidder pools warm); a
        // request sent before would wait in the socket with its deadline not yet started. The
        // single shard answering /healthz confirms it is serving.
        assert_eq!(server.healthz(), 200, "the shard serves");
        server
    }
}

/// A one-imp 300x250 banner request (OpenRTB 2.6) with id `id`, `tmax` when given, a floor in
/// USD and a user, allowing USD only.
pub fn banner_request(id: &str, tmax_ms: Option<u32>, floor: f64) -> String {
    let tmax = tmax_ms.map_or(String::new(), |tmax| format!(r#""tmax":{tmax},"#));
    format!(
        r#"{{"id":"{id}",{tmax}"cur":["USD"],
"imp":[{{"id":"imp-1","bidfloor":{floor},"bidfloorcur":"USD","banner":{{"w":300,"h":250}}}}],
"site":{{"id":"s1","domain":"news.example.com","page":"https://news.example.com/a"}},
"user":{{"id":"user-{id}"}}}}"#
    )
}

/// The bid's `price` in micro-units (prices are written as exact decimals by the server).
pub fn price_micros(bid: &serde_json::Value) -> i64 {
    let price = bid["price"]
        .as_f64()
        .unwrap_or_else(|| panic!("no price: {bid}"));
    (price * 1e6).round() as i64
}

/// One campaign of ours bidding `bid_cpm_micros` USD on any 300x250 banner, with neither
/// pacing, budget nor frequency cap in the way, so that it bids on every request. (The demo
/// set's banner campaign paces evenly and caps users, which would make whether it bids
/// depend on the clock.)
pub fn campaign_data(id: &str, bid_cpm_micros: i64) -> CampaignData {
    CampaignData {
        advertisers: vec![Advertiser {
            id: "adv".into(),
            name: "Advertiser".into(),
        }],
        campaigns: vec![CampaignBuilder::new(id)
            .bid_cpm_micros(bid_cpm_micros)
            .build()],
    }
}

/// Polls `condition` until it holds or `within` passes; for state that settles on another
/// thread (a mock bidder's connection threads ending). Returns whether it held.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
