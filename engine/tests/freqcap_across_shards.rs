//! Frequency caps on a two-shard server: however connections are spread over the shards, a
//! user's (max+1)th impression opportunity for a capped campaign is not served while other
//! users still are, and the user is served again when the window rolls over. A capped campaign
//! does not bid on a request without a user key.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adshard_testkit::delivery::{
    auction, campaign, capped, data, impression, request, wait_impressions_counted,
};
use adshard_testkit::server::TestServer;

const MAX: u32 = 3;
/// Short enough to see a roll-over in a test, long enough for the capped phase to fit in one
/// window after aligning to its start.
const WINDOW_S: u32 = 4;

/// Sleeps until 100 ms after the next aligned `WINDOW_S` boundary (windows are aligned on the
/// Unix epoch, like the server's).
fn sleep_to_window_start() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let window = Duration::from_secs(u64::from(WINDOW_S));
    let into = Duration::from_nanos((now.as_nanos() % window.as_nanos()) as u64);
    std::thread::sleep(window - into + Duration::from_millis(100));
}

#[test]
fn the_max_plus_first_opportunity_is_not_served_across_shards_and_connections() {
    let server = TestServer::start_with_campaigns(
        |config| config.server.shards = 2,
        data(vec![capped(campaign("capped", 1_000_000), MAX, WINDOW_S)]),
    );
    // No user key: a capped campaign does not bid.
    assert!(auction(&mut server.connect(), &request("anon", None)).is_none());

    sleep_to_window_start();
    for n in 0..MAX {
        // A fresh connection per request and per pixel: each may land on either shard.
        let bid = auction(
            &mut server.connect(),
            &request(&format!("a-{n}"), Some("alice")),
        )
        .unwrap_or_else(|| panic!("opportunity {n} of {MAX} not served"));
        impression(&mut server.connect(), &bid);
        wait_impressions_counted(&server, u64::from(n) + 1);
    }
    for n in 0..4 {
        let body = request(&format!("a-over-{n}"), Some("alice"));
        assert!(
            auction(&mut server.connect(), &body).is_none(),
            "the capped user was served again"
        );
    }
    // Another user is not affected.
    assert!(auction(&mut server.connect(), &request("b-0", Some("bob"))).is_some());

    // The window rolls over: alice is served again.
    sleep_to_window_start();
    assert!(auction(&mut server.connect(), &request("a-next", Some("alice"))).is_some());
}
