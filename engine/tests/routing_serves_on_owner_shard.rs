//! Requests with a user key are decided on the shard that owns the user (hash of the key),
//! whichever shard accepted the connection: the shard that signed the bid's token is always
//! the owner. Requests without a key are served where they land.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use adshard::freqcap::{owner_shard, user_key_hash};
use adshard::server::DEMO_TRACKING_SECRET;
use adshard::tracking::{TokenScratch, TokenSigner};
use adshard_testkit::delivery::{auction, campaign, data, request};
use adshard_testkit::server::{metric_sum, TestServer};

const SHARDS: usize = 2;

fn signing_shard(token: &str) -> usize {
    let signer = TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes()).unwrap();
    let mut scratch = TokenScratch::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let verified = signer
        .verify(token, now, 3600, &mut scratch)
        .expect("our token");
    usize::from(verified.claims.shard_idx)
}

#[test]
fn every_request_is_decided_by_its_users_owner_shard() {
    let server = TestServer::start_with_campaigns(
        |config| config.server.shards = SHARDS,
        data(vec![campaign("any", 1_000_000)]),
    );
    let mut landed_elsewhere = false;
    for user_n in 0..24 {
        let user = format!("user-{user_n}");
        let owner = owner_shard(user_key_hash(&user), SHARDS);
        for n in 0..4 {
            // New connections: the kernel spreads them over both shards' sockets.
            let mut client = server.connect();
            let bid = auction(&mut client, &request(&format!("{user}-{n}"), Some(&user)))
                .expect("the uncapped campaign bids");
            assert_eq!(signing_shard(&bid.token), owner, "{user}");
        }
        landed_elsewhere |= owner == 1;
    }
    assert!(landed_elsewhere, "some user is owned by shard 1");
    let metrics = server.metrics();
    let routed_out = metric_sum(&metrics, "adshard_routed_out_total", &[]);
    let routed_in = metric_sum(&metrics, "adshard_routed_in_total", &[]);
    assert!(
        routed_out > 0,
        "no request crossed shards in 96 connections"
    );
    assert_eq!(routed_out, routed_in);
}
