//! The frequency-cap store's behaviour through its public API: counts per aligned window, the
//! tightest of several caps, independence of campaigns and users, LRU eviction at capacity,
//! agreement with a naive model of every impression, and the spread of users over shards.

use adshard::campaign::model::FrequencyCap;
use adshard::freqcap::{owner_shard, user_key_hash, FreqCapStore};
use proptest::prelude::*;

const HOUR_S: u32 = 3600;
const DAY_S: u32 = 86_400;
/// 2024-01-01T00:00:00Z, aligned to hours and days.
const T0: i64 = 1_704_067_200;

fn cap(max: u32, window_s: u32) -> FrequencyCap {
    FrequencyCap { max, window_s }
}

#[test]
fn impression_beyond_max_is_not_allowed() {
    let mut store = FreqCapStore::with_capacity(16);
    let caps = [cap(3, HOUR_S)];
    for shown in 0..3 {
        assert!(
            store.allows(1, 0, &caps, T0 + shown),
            "impression {}",
            shown + 1
        );
        store.record_impression(1, 0, &caps, T0 + shown);
    }
    assert!(
        !store.allows(1, 0, &caps, T0 + 3),
        "the 4th impression of a 3/hour cap"
    );
    store.check_invariants();
}

#[test]
fn windows_roll_over_at_the_aligned_boundary() {
    let mut store = FreqCapStore::with_capacity(16);
    let caps = [cap(1, DAY_S)];
    // Shown one second before midnight UTC: capped for that second only, since windows are
    // aligned (tumbling), not 24 hours from the impression.
    let before_midnight = T0 + i64::from(DAY_S) - 1;
    store.record_impression(1, 0, &caps, before_midnight);
    assert!(!store.allows(1, 0, &caps, before_midnight));
    assert!(!store.allows(1, 0, &caps, T0));
    assert!(store.allows(1, 0, &caps, before_midnight + 1));
    // The new day counts from zero.
    store.record_impression(1, 0, &caps, before_midnight + 1);
    assert!(!store.allows(1, 0, &caps, before_midnight + 2));
    assert!(!store.allows(1, 0, &caps, T0 + 2 * i64::from(DAY_S) - 1));
    assert!(store.allows(1, 0, &caps, T0 + 2 * i64::from(DAY_S)));
}

#[test]
fn several_caps_per_campaign_tightest_wins() {
    let mut store = FreqCapStore::with_capacity(16);
    let caps = [cap(3, HOUR_S), cap(5, DAY_S)];
    let hour = i64::from(HOUR_S);
    for shown in 0..3 {
        store.record_impression(1, 0, &caps, T0 + shown);
    }
    assert!(!store.allows(1, 0, &caps, T0 + 10), "3/hour reached");
    store.record_impression(1, 0, &caps, T0 + hour);
    store.record_impression(1, 0, &caps, T0 + hour + 1);
    assert!(
        !store.allows(1, 0, &caps, T0 + hour + 2),
        "5/day reached before 3/hour"
    );
    assert!(
        !store.allows(1, 0, &caps, T0 + 5 * hour),
        "5/day holds all day"
    );
    assert!(store.allows(1, 0, &caps, T0 + i64::from(DAY_S)));
}

#[test]
fn campaigns_and_users_are_independent() {
    let mut store = FreqCapStore::with_capacity(16);
    let caps = [cap(1, HOUR_S)];
    store.record_impression(1, 0, &caps, T0);
    assert!(!store.allows(1, 0, &caps, T0));
    assert!(store.allows(1, 1, &caps, T0), "another campaign, same user");
    assert!(store.allows(2, 0, &caps, T0), "same campaign, another user");
    assert!(store.allows(1, 0, &[], T0), "a campaign without caps");
    store.record_impression(2, 1, &caps, T0);
    assert!(!store.allows(2, 1, &caps, T0));
    assert!(store.allows(2, 0, &caps, T0));
    assert!(store.allows(1, 1, &caps, T0));
    assert_eq!(store.len(), 2);
    store.check_invariants();
}

#[test]
fn lru_eviction_forgets_the_least_recently_seen_user() {
    let mut store = FreqCapStore::with_capacity(3);
    let caps = [cap(1, DAY_S)];
    for user_key in [1, 2, 3] {
        store.record_impression(user_key, 0, &caps, T0);
    }
    assert_eq!(store.len(), 3);
    assert_eq!(store.n_evicted(), 0);
    // User 1 is seen again (a question does not count as seen), so user 2 is now the oldest.
    store.record_impression(1, 1, &caps, T0 + 1);
    assert!(!store.allows(2, 0, &caps, T0 + 1));
    store.record_impression(4, 0, &caps, T0 + 2);
    assert_eq!(store.len(), 3);
    assert_eq!(store.capacity(), 3);
    assert_eq!(store.n_evicted(), 1);
    assert!(store.allows(2, 0, &caps, T0 + 2), "user 2 was forgotten");
    for user_key in [1, 3, 4] {
        assert!(
            !store.allows(user_key, 0, &caps, T0 + 2),
            "user {user_key} kept"
        );
    }
    store.check_invariants();
    // Then user 3 is the oldest.
    store.record_impression(5, 0, &caps, T0 + 3);
    assert_eq!(store.n_evicted(), 2);
    assert!(store.allows(3, 0, &caps, T0 + 3));
    assert!(!store.allows(1, 0, &caps, T0 + 3));
    store.check_invariants();

    store.clear();
    assert!(store.is_empty());
    assert!(store.allows(1, 0, &caps, T0 + 3));
    assert_eq!(store.capacity(), 3);
    store.check_invariants();
}

#[test]
fn owner_shard_spreads_users_evenly() {
    const N_USERS: usize = 100_000;
    const N_SHARDS: usize = 4;
    let mut per_shard = [0usize; N_SHARDS];
    for user_idx in 0..N_USERS {
        let key = user_key_hash(&format!("user-{user_idx}"));
        assert_ne!(key, 0);
        per_shard[owner_shard(key, N_SHARDS)] += 1;
    }
    let expected = N_USERS / N_SHARDS;
    for (shard_idx, &n_users) in per_shard.iter().enumerate() {
        let deviation = n_users.abs_diff(expected) as f64 / expected as f64;
        assert!(
            deviation <= 0.03,
            "shard {shard_idx} has {n_users} users, {:.2}% off uniform ({per_shard:?})",
            deviation * 100.0
        );
    }
}

/// What the test does at one instant.
#[derive(Debug, Clone, Copy)]
enum Action {
    Show,
    Ask,
}

const MODEL_USERS: u64 = 4;
const MODEL_CAMPAIGNS: u32 = 3;

fn caps_strategy() -> impl Strategy<Value = Vec<FrequencyCap>> {
    // Short windows so that the clock crosses many boundaries; repeated lengths on purpose.
    let window_s = prop::sample::select(vec![1u32, 2, 7, 60, 3600]);
    prop::collection::vec(
        (1u32..=4, window_s).prop_map(|(max, window_s)| cap(max, window_s)),
        0..=3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With room for every user and counter, the store answers exactly like a list of every
    /// impression counted per aligned window.
    #[test]
    fn store_matches_naive_model(
        campaign_caps in prop::collection::vec(caps_strategy(), MODEL_CAMPAIGNS as usize),
        start_unix_s in -100_000i64..2_000_000_000,
        steps in prop::collection::vec(
            (0i64..40, 0..MODEL_USERS, 0..MODEL_CAMPAIGNS, prop::bool::ANY),
            1..200,
        ),
    ) {
        let mut store = FreqCapStore::with_capacity(MODEL_USERS as usize);
        // (user, campaign, unix_s) of every impression recorded.
        let mut shown: Vec<(u64, u32, i64)> = Vec::new();
        let mut now_unix_s = start_unix_s;
        for (step_idx, &(advance_s, user_key, campaign_idx, is_show)) in steps.iter().enumerate() {
            now_unix_s += advance_s;
            let caps = &campaign_caps[campaign_idx as usize];
            let action = if is_show { Action::Show } else { Action::Ask };
            let expected = caps.iter().all(|cap| {
                let window_s = i64::from(cap.window_s);
                let window = now_unix_s.div_euclid(window_s);
                let count = shown
                    .iter()
                    .filter(|&&(u, c, t)| {
                        u == user_key && c == campaign_idx && t.div_euclid(window_s) == window
                    })
                    .count();
                (count as u64) < u64::from(cap.max)
            });
            prop_assert_eq!(
                store.allows(user_key, campaign_idx, caps, now_unix_s),
                expected,
                "step {} {:?} user {} campaign {} at {}",
                step_idx, action, user_key, campaign_idx, now_unix_s
            );
            if let Action::Show = action {
                store.record_impression(user_key, campaign_idx, caps, now_unix_s);
                shown.push((user_key, campaign_idx, now_unix_s));
            }
        }
        prop_assert_eq!(store.n_evicted(), 0);
        prop_assert_eq!(store.n_counter_overflows(), 0);
        store.check_invariants();
    }
}
