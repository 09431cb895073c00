//! What do the other per-request hot functions cost on their own? The request path runs, per
//! bid request, an HTTP head parse, an auction and a token signature (and per tracking call a
//! token verification); `json_parse` and `targeting` cover the parser and the index, and this
//! bench covers the rest, through the `adshard` library's public API only, so a regression in
//! one of them shows here before it is lost in the noise of an end-to-end run.
//!
//! - `http_head_parse`: `http::parse_head` on a typical exchange POST head (8 headers) under
//!   the default `HttpLimits`;
//! - `auction_demo_banner`: `auction::run_auction` for `examples/requests/banner.json` (parsed
//!   once, outside the timing) against the embedded demo catalog, with a reused
//!   `AuctionScratch` as a shard keeps one; it must find a winner, checked before timing;
//! - `token_sign`: `TokenSigner::sign` of realistic claims into a reused `String`;
//! - `token_verify`: `TokenSigner::verify` of that token with a reused `TokenScratch`.
//!
//! Criterion's time per iteration is the time per call. Every input is fixed (no clock, no
//! random data), so runs on the same machine compare.
//!
//! Run: `cargo bench -p adshard-bench --bench hot_paths -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;

use adshard::adrequest::AdRequest;
use adshard::auction::{run_auction, AuctionScratch, AuctionSettings};
use adshard::campaign::data::demo;
use adshard::catalog::Catalog;
use adshard::config::Config;
use adshard::currency::{Currency, CurrencyTable};
use adshard::http::HttpLimits;
use adshard::http::{parse_head, HeadParse};
use adshard::openrtb::parse_bid_request;
use adshard::server::DEMO_TRACKING_SECRET;
use adshard::tracking::{
    BidTokens, BuyerKind, EventKind, TokenScratch, TokenSigner, TrackingClaims,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// An exchange's bid request head as it arrives: the headers exchanges commonly send, in a
/// common order, with a realistic User-Agent length (the parse cost grows with bytes).
const EXCHANGE_HEAD: &[u8] = b"POST /openrtb2/auction HTTP/1.1\r\n\
Host: bidder.adshard.example\r\n\
Content-Type: application/json\r\n\
Content-Length: 1864\r\n\
User-Agent: Mozilla/5.0 (compatible; ExampleExchange-RTB/3.2; +https://exchange.example/bot)\r\n\
Accept-Encoding: gzip, deflate\r\n\
X-Openrtb-Version: 2.6\r\n\
Connection: keep-alive\r\n\
X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n\
\r\n";

const BANNER_REQUEST: &[u8] = include_bytes!("../../examples/requests/banner.json");

/// A fixed clock: the demo campaigns have no flight dates or dayparts that it would miss (the
/// winner check below would say so), and a fixed value keeps runs comparable.
const NOW_UNIX_S: i64 = 1_700_000_000;

fn http_head_parse(c: &mut Criterion) {
    let limits = HttpLimits::default();
    // `'static`: a closure cannot tie its result's lifetime to its argument's.
    let parse = |buf: &'static [u8]| {
        parse_head(
            buf,
            limits.header_bytes_max,
            limits.headers_count_max,
            limits.body_bytes_max,
        )
    };
    // A head that stopped parsing (Partial, or an error) would time a different path.
    match parse(EXCHANGE_HEAD) {
        Ok(HeadParse::Complete { head, .. }) => {
            assert_eq!(head.content_length, 1864);
            assert!(head.keep_alive);
        }
        other => panic!("the exchange head does not parse: {other:?}"),
    }
    c.bench_function("http_head_parse", |b| {
        b.iter(|| black_box(parse(black_box(EXCHANGE_HEAD)).is_ok()))
    });
}

fn auction_demo_banner(c: &mut Criterion) {
    let config = Config::default();
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Catalog::build(&demo(), &currencies);
    let settings = AuctionSettings {
        pricing: config.auction.pricing,
        campaign_wins_per_request_max: config.auction.campaign_wins_per_request_max,
    };
    let mut request = AdRequest::default();
    if let Err(error) = parse_bid_request(BANNER_REQUEST, &mut request) {
        panic!("examples/requests/banner.json rejected: {error}");
    }
    let mut scratch = AuctionScratch::default();
    // A no-bid auction stops early and would flatter the figure: time the auction that wins.
    run_auction(
        &catalog,
        &request,
        &currencies,
        settings,
        NOW_UNIX_S,
        &mut scratch,
    );
    assert!(
        !scratch.winners.is_empty(),
        "the demo catalog has no winner for the banner request"
    );
    c.bench_function("auction_demo_banner", |b| {
        b.iter(|| {
            run_auction(
                &catalog,
                black_box(&request),
                &currencies,
                settings,
                black_box(NOW_UNIX_S),
                &mut scratch,
            );
            black_box(scratch.winners.len())
        })
    });
}

/// Claims as a campaign win produces them: a UUID request id, short imp, campaign and
/// creative ids, and a user key.
fn claims() -> TrackingClaims<'static> {
    TrackingClaims {
        request_id: "7f3c9a2e-5b1d-4c8e-9a6f-1e2d3c4b5a69",
        imp_id: "1",
        buyer_kind: BuyerKind::Campaign,
        buyer_id: "cmp-42",
        creative_id: "cr-7",
        price_micros: 2_500_000,
        currency: Currency::USD,
        issued_unix_s: NOW_UNIX_S,
        shard_idx: 1,
        user_key: 0x1234_5678_9abc_def0,
        sequence: 0,
    }
}

fn tokens(c: &mut Criterion) {
    let signer = TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes()).expect("demo secret");
    let ttl_s = Config::default().tracking.token_ttl_s;
    let claims = claims();
    // Reused as a shard reuses its tokens buffer: one signing fills the bid's four tokens.
    let mut tokens = BidTokens::new();
    c.bench_function("token_sign", |b| {
        b.iter(|| {
            let signed = signer.sign(black_box(&claims), &mut tokens);
            black_box(signed.is_ok())
        })
    });

    signer.sign(&claims, &mut tokens).expect("valid claims");
    let mut token = String::new();
    tokens.push(EventKind::Billing, &mut token);
    let mut scratch = TokenScratch::new();
    // A refused token returns early and would time the wrong path.
    let verified = signer
        .verify(&token, NOW_UNIX_S + 10, ttl_s, &mut scratch)
        .expect("the fresh token verifies");
    assert_eq!(verified.claims, claims);
    c.bench_function("token_verify", |b| {
        b.iter(|| {
            let verified = signer.verify(
                black_box(&token),
                black_box(NOW_UNIX_S + 10),
                ttl_s,
                &mut scratch,
            );
            black_box(verified.is_ok())
        })
    });
}

criterion_group!(benches, http_head_parse, auction_demo_banner, tokens);
criterion_main!(benches);
