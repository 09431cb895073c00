//! The frequency-cap store allocates only at construction: questions and impressions, with
//! new users, evictions at capacity and counter overflows, allocate nothing afterwards.
//! Counted with a counting global allocator, per thread so that parallel tests do not mix.

use adshard::campaign::model::FrequencyCap;
use adshard::freqcap::{user_key_hash, FreqCapStore, COUNTERS_PER_USER_MAX};
use adshard_testkit::alloc::allocations;

#[global_allocator]
static GLOBAL: adshard_testkit::alloc::CountingAllocator =
    adshard_testkit::alloc::CountingAllocator;

/// Users the store holds; the run below cycles through many more.
const USERS_MAX: usize = 1000;
/// Impressions recorded: 200 times the capacity. The evictions leave enough tombstones in the
/// table that one reserved for only `USERS_MAX` entries grows during this run (checked by
/// setting the store's `TABLE_ENTRIES_PER_USER` to 1: one allocation).
const N_IMPRESSIONS: u64 = 200_000;

#[test]
fn allows_and_record_impression_allocate_nothing_after_construction() {
    let caps = [
        FrequencyCap {
            max: 3,
            window_s: 3600,
        },
        FrequencyCap {
            max: 10,
            window_s: 86_400,
        },
    ];
    // Keys computed before counting: hashing a text does not allocate either, but `format!`
    // would.
    let hot_keys: Vec<u64> = (0..USERS_MAX as u64 / 2)
        .map(|user_idx| user_key_hash(&format!("hot-{user_idx}")))
        .collect();
    let mut store = FreqCapStore::with_capacity(USERS_MAX);

    let before = allocations();
    let mut now_unix_s = 1_704_067_200i64;
    let mut n_allowed = 0u64;
    for impression_idx in 0..N_IMPRESSIONS {
        // Half the traffic from a hot set that stays, half from users seen once (evictions).
        let user_key = if impression_idx % 2 == 0 {
            hot_keys[(impression_idx / 2) as usize % hot_keys.len()]
        } else {
            impression_idx.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
        };
        // Each hot user meets a new campaign on each visit, more than it has counters per day,
        // so counters overflow too.
        let campaign_idx =
            ((impression_idx / USERS_MAX as u64) % (3 * COUNTERS_PER_USER_MAX as u64)) as u32;
        if store.allows(user_key, campaign_idx, &caps, now_unix_s) {
            n_allowed += 1;
            store.record_impression(user_key, campaign_idx, &caps, now_unix_s);
        }
        now_unix_s += (impression_idx % 3) as i64;
    }
    let n_allocations = allocations() - before;

    println!(
        "{N_IMPRESSIONS} questions, {n_allowed} impressions, {} evictions, {} counter overflows: \
         {n_allocations} allocations",
        store.n_evicted(),
        store.n_counter_overflows()
    );
    assert!(store.n_evicted() > 50_000, "the run evicts");
    assert!(
        store.n_counter_overflows() > 0,
        "the run overflows counters"
    );
    assert_eq!(n_allocations, 0);
    store.check_invariants();
}
