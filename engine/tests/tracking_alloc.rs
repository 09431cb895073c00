//! Issuing a bid's sequence number, signing its tokens, verifying one, and asking the event
//! window about its events allocate nothing after warm-up: they run on every auction and every
//! tracking call. A
//! counting global allocator measures this thread's allocations.
//!
//! This file holds a single test so that no other test shares the measurement (the counter is
//! per thread anyway).

use adshard::currency::Currency;
use adshard::tracking::dedupe::{EventWindow, WindowSize};
use adshard::tracking::token::{
    token_from_query, BidTokens, BuyerKind, TokenScratch, TokenSigner, TrackingClaims,
    TOKEN_CHARS_MAX,
};
use adshard::tracking::{EventKind, Lane};
use adshard_testkit::alloc::allocations_during;

#[global_allocator]
static GLOBAL: adshard_testkit::alloc::CountingAllocator =
    adshard_testkit::alloc::CountingAllocator;

const ISSUED_UNIX_S: i64 = 1_700_000_000;
const TTL_S: u64 = 3_600;
const MEASURED_EVENTS: i64 = 1_000;

#[test]
fn sign_verify_and_dedupe_allocate_nothing_after_warm_up() {
    let signer = TokenSigner::new(b"adshard tracking test secret 32b").expect("secret");
    let request_ids: Vec<String> = (0..MEASURED_EVENTS)
        .map(|n| format!("9f8e7d6c-5b4a-4392-8170-{n:012}"))
        .collect();
    let mut url = String::with_capacity(64 + TOKEN_CHARS_MAX);
    let mut scratch = TokenScratch::new();
    let mut tokens = BidTokens::new();
    // Smaller than the bids measured (a bid a second over a minute: 128), so the window slides
    // and recycles its groups while measured.
    let size = WindowSize::for_rate(1, 60).expect("valid");
    let mut window = EventWindow::new(size, 60, 0);

    // The counter works: a measurement that allocates is seen.
    assert_eq!(allocations_during(|| drop(String::with_capacity(1))), 1);

    let allocations = allocations_during(|| {
        for (n, request_id) in (0..MEASURED_EVENTS).zip(&request_ids) {
            let sequence = window.issue(ISSUED_UNIX_S + n).expect("a bid a second");
            let claims = TrackingClaims {
                request_id,
                imp_id: "1",
                buyer_kind: BuyerKind::Campaign,
                buyer_id: "cmp-42",
                creative_id: "cr-7",
                price_micros: 2_500_000 + n,
                currency: Currency::USD,
                issued_unix_s: ISSUED_UNIX_S + n,
                shard_idx: 0,
                user_key: 0,
                sequence,
            };
            signer.sign(&claims, &mut tokens).expect("valid claims");
            url.clear();
            url.push_str("t=");
            tokens.push(EventKind::Billing, &mut url);
            url.push_str("&p=1.25");

            let token = token_from_query(&url).expect("has t");
            let verified = signer
                .verify(token, ISSUED_UNIX_S + n, TTL_S, &mut scratch)
                .expect("verifies");
            assert_eq!(verified.claims.request_id, request_id.as_str());
            for lane in [Lane::Win, Lane::Impression, Lane::Win] {
                window.first_seen(lane, verified.claims.sequence);
            }
            window.judge(EventKind::Loss, Lane::Billing, verified.claims.sequence);
        }
    });
    println!(
        "{allocations} allocations for {MEASURED_EVENTS} issue + sign + verify + 4 window lookups"
    );
    assert_eq!(allocations, 0, "tracking path allocated after warm-up");
}
