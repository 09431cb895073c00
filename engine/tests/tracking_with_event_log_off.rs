//! With the event log off (`events.enabled = false`, for measurements), tracking still works
//! across shards: a call that lands on a shard other than its bid's owner is answered once
//! the owner has counted it. (The owner's answers to such calls were sent by a task started
//! only with the log, so every such call waited 5 s and got a 503, although counted.)

use adshard_testkit::delivery::{auction, campaign, data, impression, request};
use adshard_testkit::server::TestServer;

/// Pixels fired, each on a new connection: the kernel spreads them over both shards, so about
/// half reach the shard that does not own their bid (all on the owner: 1 in 2^20).
const PIXELS: u64 = 20;

#[test]
fn tracking_calls_on_another_shard_are_answered_and_counted() {
    let server = TestServer::start_with_campaigns(
        |config| {
            config.server.shards = 2;
            config.events.enabled = false;
        },
        data(vec![campaign("cmp", 1_000_000)]),
    );
    for i in 0..PIXELS {
        let bid = auction(
            &mut server.connect(),
            &request(&format!("r{i}"), Some(&format!("user-{i}"))),
        )
        .expect("a bid");
        impression(&mut server.connect(), &bid);
    }
    let metrics = server.metrics();
    let tracking = "adshard_tracking_requests_total";
    assert_eq!(
        (
            metrics.sum(tracking, &["event=\"imp\"", "outcome=\"counted\""]),
            metrics.sum(tracking, &["event=\"imp\""]),
        ),
        (PIXELS, PIXELS),
        "{metrics}"
    );
}
