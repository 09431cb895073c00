//! Loss notices (`lurl`, `/loss`) on a real server: a lost bid's budget commitment comes back at
//! once, so a campaign whose budget holds one outstanding bid bids again after the loss;
//! replaying the loss changes nothing; a bid is resolved once, by its spend event or its loss,
//! whichever comes first; a forged or misplaced token gets 403, a HEAD 405; and losses are
//! counted once per bid, by reason, wherever (which shard) they come back.

use adshard::auction::PricingRule;
use adshard_testkit::delivery::{campaign, data, from_path, request};
use adshard_testkit::server::TestServer;

/// First price at 2.00 CPM: every bid commits one event of 2_000 micros.
const BID_CPM_MICROS: i64 = 2_000_000;
const EVENT_MICROS: i64 = BID_CPM_MICROS / 1000;

const EVENTS: &str = "adshard_campaign_events_total";
const REASONS: &str = "adshard_tracking_loss_reasons_total";
const TRACKING: &str = "adshard_tracking_requests_total";
const SPEND: &str = "adshard_campaign_spend_micros_total";
const CAMPAIGN: &str = "campaign=\"cmp\"";

/// A server with one campaign `cmp` of `total_micros` (none: unlimited) on `shards` shards.
fn server(total_micros: Option<i64>, shards: usize) -> TestServer {
    let mut cmp = campaign("cmp", BID_CPM_MICROS);
    cmp.budget.total_micros = total_micros;
    TestServer::start_with_campaigns(
        |config| {
            config.server.shards = shards;
            config.auction.pricing = PricingRule::FirstPrice;
        },
        data(vec![cmp]),
    )
}

/// The tracking URLs of one bid, from their paths on, as the exchange would call them.
struct Bid {
    /// `lurl` with `${AUCTION_LOSS}` still in it.
    loss: String,
    /// `burl` with the bid's price as the clearing price.
    billing: String,
    /// `nurl` as sent.
    win: String,
}

/// Posts an auction for `user`; `None` for a no-bid (204).
fn auction(server: &TestServer, request_id: &str, user: &str) -> Option<Bid> {
    let response = server.connect().post(
        "/openrtb2/auction",
        request(request_id, Some(user)).as_bytes(),
    );
    if response.status == 204 {
        return None;
    }
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let json = response.json();
    let bid = &json["seatbid"][0]["bid"][0];
    let lurl = bid["lurl"].as_str().expect("our bids carry an lurl");
    assert!(
        lurl.starts_with("http://") && lurl.contains("/loss?t=l"),
        "{lurl}"
    );
    assert!(lurl.ends_with("&reason=${AUCTION_LOSS}"), "{lurl}");
    Some(Bid {
        loss: from_path(lurl, "/loss?"),
        billing: from_path(bid["burl"].as_str().expect("burl"), "/imp?")
            .replace("${AUCTION_PRICE}", "2"),
        win: from_path(bid["nurl"].as_str().expect("nurl"), "/win?"),
    })
}

/// What an exchange calls: the loss URL with its reason code in place of the macro.
fn with_reason(loss: &str, reason: &str) -> String {
    loss.replace("${AUCTION_LOSS}", reason)
}

/// The token (`t`) of a URL.
fn token(url: &str) -> &str {
    url.split("t=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("a token")
}

fn get(server: &TestServer, url: &str) -> u16 {
    server.connect().get(url).status
}

fn loss_outcome(outcome: &str) -> [String; 2] {
    ["event=\"loss\"".into(), format!("outcome=\"{outcome}\"")]
}

fn wait_loss_outcome(server: &TestServer, outcome: &str, want: u64) {
    let labels = loss_outcome(outcome);
    server.wait_metric(TRACKING, &[&labels[0], &labels[1]], want);
}

#[test]
fn loss_releases_the_commitment_and_a_replay_changes_nothing() {
    // The budget holds one outstanding bid.
    let server = server(Some(EVENT_MICROS), 1);
    let first = auction(&server, "r-1", "u1").expect("a bid");
    assert!(
        auction(&server, "r-2", "u2").is_none(),
        "the first bid's commitment fills the budget"
    );
    assert_eq!(get(&server, &with_reason(&first.loss, "102")), 204);
    wait_loss_outcome(&server, "counted", 1);
    server.wait_metric(EVENTS, &[CAMPAIGN, "event=\"loss\""], 1);
    server.wait_metric(REASONS, &["reason=\"outbid\""], 1);
    let third = auction(&server, "r-3", "u3").expect("the loss freed the budget");

    // Replays of the first bid's loss, with any reason, release nothing more: the third bid's
    // commitment still fills the budget.
    for reason in ["102", "100", "${AUCTION_LOSS}"] {
        assert_eq!(get(&server, &with_reason(&first.loss, reason)), 204);
    }
    wait_loss_outcome(&server, "duplicate", 3);
    assert!(
        auction(&server, "r-4", "u4").is_none(),
        "a replay freed budget"
    );
    assert_eq!(server.metric_sum(EVENTS, &[CAMPAIGN, "event=\"loss\""]), 1);
    assert_eq!(server.metric_sum(REASONS, &[]), 1);

    // The first bid's billing notice after its loss is a repeat: not charged.
    assert_eq!(get(&server, &first.billing), 200);
    server.wait_metric(TRACKING, &["event=\"bill\"", "outcome=\"duplicate\""], 1);
    assert_eq!(server.metric_sum(SPEND, &[CAMPAIGN]), 0);

    // The third bid is billed first: its loss then changes nothing, and the budget is spent.
    assert_eq!(get(&server, &third.billing), 200);
    server.wait_metric(SPEND, &[CAMPAIGN], EVENT_MICROS as u64);
    assert_eq!(get(&server, &with_reason(&third.loss, "102")), 204);
    wait_loss_outcome(&server, "duplicate", 4);
    assert_eq!(server.metric_sum(EVENTS, &[CAMPAIGN, "event=\"loss\""]), 1);
    assert!(
        auction(&server, "r-5", "u5").is_none(),
        "the budget is spent"
    );
}

#[test]
fn forged_and_misplaced_loss_tokens_are_refused() {
    let server = server(Some(EVENT_MICROS), 1);
    let bid = auction(&server, "r-1", "u1").expect("a bid");
    let loss_token = token(&bid.loss).to_string();

    // One character of the tag changed: forged. Not the last one, whose low bits are padding
    // (a change there can make the text non-canonical base64: malformed, not forged).
    let mut forged = loss_token.clone().into_bytes();
    let in_tag = forged.len() - 5;
    forged[in_tag] = if forged[in_tag] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert_eq!(get(&server, &format!("/loss?t={forged}&reason=102")), 403);
    wait_loss_outcome(&server, "forged", 1);
    // The win notice's token at /loss, and the loss's at /win and /imp: the wrong kind.
    assert_eq!(
        get(&server, &format!("/loss?t={}&reason=102", token(&bid.win))),
        403
    );
    wait_loss_outcome(&server, "wrong_kind", 1);
    assert_eq!(get(&server, &format!("/win?t={loss_token}&p=2")), 403);
    assert_eq!(get(&server, &format!("/imp?t={loss_token}&p=2")), 403);
    server.wait_metric(TRACKING, &["outcome=\"wrong_kind\""], 3);
    // No token at all.
    assert_eq!(get(&server, "/loss?reason=102"), 403);
    // A HEAD (a link prefetcher) counts nothing.
    let mut client = server.connect();
    client.send(format!("HEAD {} HTTP/1.1\r\nHost: t\r\n\r\n", bid.loss).as_bytes());
    assert_eq!(client.read_head_response().expect("an answer").status, 405);

    // None of them released the bid's commitment.
    assert!(auction(&server, "r-2", "u2").is_none());
    assert_eq!(server.metric_sum(EVENTS, &[CAMPAIGN, "event=\"loss\""]), 0);
    // The real loss still works.
    assert_eq!(get(&server, &bid.loss), 204);
    server.wait_metric(REASONS, &["reason=\"unknown\""], 1);
    assert!(auction(&server, "r-3", "u3").is_some());
}

#[test]
fn losses_are_counted_once_per_bid_across_shards_by_reason() {
    let server = server(None, 2);
    let reasons = [
        ("102", "outbid"),
        ("101", "below_floor"),
        ("202", "creative_filtered"),
        ("7", "invalid_bid"),
        ("1", "other"),
        ("${AUCTION_LOSS}", "unknown"),
    ];
    let bids: Vec<Bid> = (0..reasons.len())
        .map(|n| auction(&server, &format!("r-{n}"), &format!("user-{n}")).expect("a bid"))
        .collect();
    // Each loss three times, on fresh connections (spread over both shards); the reason of
    // the first one counts.
    for _ in 0..3 {
        for (bid, (code, _)) in bids.iter().zip(reasons) {
            assert_eq!(get(&server, &with_reason(&bid.loss, code)), 204);
        }
    }
    let n_bids = reasons.len() as u64;
    wait_loss_outcome(&server, "counted", n_bids);
    wait_loss_outcome(&server, "duplicate", 2 * n_bids);
    server.wait_metric(EVENTS, &[CAMPAIGN, "event=\"loss\""], n_bids);
    for (_, label) in reasons {
        assert_eq!(
            server.metric_sum(REASONS, &[&format!("reason=\"{label}\"")]),
            1,
            "{label}"
        );
    }
    // An unlimited campaign releases nothing, and a win notice after a loss is still a win:
    // the campaign spends on impressions, so the win notice is not its spend event.
    assert_eq!(
        get(&server, &bids[0].win.replace("${AUCTION_PRICE}", "2")),
        204
    );
    server.wait_metric(EVENTS, &[CAMPAIGN, "event=\"win\""], 1);
}
