//! Frequency caps: how many times each user has seen each capped campaign lately, so that the
//! auction can skip a campaign the user has already seen `max` times in a window.
//!
//! The state of a user lives on one shard only, the user's owner shard ([`owner_shard`] of
//! [`user_key_hash`] of the request's user key), so that no lock or atomic is shared between
//! shards: a request for a user owned elsewhere is handed to the owner. Each shard holds one
//! [`FreqCapStore`]: a plain, synchronous, memory-bounded table that allocates only at
//! construction.
//!
//! # Semantics
//!
//! - A campaign's [`FrequencyCap`] `{ max, window_s }` allows at most `max` impressions per
//!   user in each window of `window_s` seconds. Windows are fixed (tumbling) and aligned to the
//!   Unix epoch: the window of an instant is `now_unix_s.div_euclid(window_s)`. A count belongs
//!   to the window it was recorded in and starts again at zero when the window number changes
//!   (a daily cap rolls over at 00:00 UTC, not 24 hours after the first impression).
//! - Impressions are counted per (user, campaign, window length): two caps of one campaign with
//!   the same `window_s` see the same count, and every cap must allow (the tightest wins).
//!   With `count` impressions recorded in the current window, a cap allows while
//!   `count < max`: the `(max + 1)`th impression is not allowed.
//! - An unknown user, or a campaign without caps, is always allowed.
//! - Time is expected to move forward per user. An impression recorded for a window older than
//!   the one already counted is ignored (it can no longer change a decision), and a question
//!   about an older window sees zero.
//! - Caps that campaign validation refuses (`window_s` of zero) are skipped; a `max` of zero
//!   (also refused by validation) allows nothing.
//!
//! # Bounds and what they cost in correctness
//!
//! - At most `users_max` users per shard. Beyond it the least recently seen user (the one
//!   whose last impression is the oldest) is forgotten and counted in
//!   [`FreqCapStore::n_evicted`]; a forgotten user starts again from zero, so it may see a
//!   capped campaign more often than its cap allows. Size `users_max` over the number of
//!   distinct capped users per shard in the longest window, and alert on evictions.
//! - At most [`COUNTERS_PER_USER_MAX`] (campaign, window length) counters per user. When a
//!   user's counters are full, a counter whose window has already ended is reused; if none
//!   has, the counter whose window ends soonest is overwritten and counted in
//!   [`FreqCapStore::n_counter_overflows`]. That campaign's count restarts from zero, so the
//!   user may see it again within that window (at most `max` more times).
//! - The window number is kept in 32 bits: with `window_s >= 1` it is exact until 2106, after
//!   which two windows 2^32 windows apart would alias.
//! - `campaign_idx` is the caller's index; if a reload renumbers campaigns, the counts stay
//!   with the old numbers. Call [`FreqCapStore::clear`] when indices change meaning.
//! - Across a restart the counters travel as plain data ([`FreqCapStore::export`], least
//!   recently seen user first, and [`FreqCapStore::import`], which renumbers campaigns and adds
//!   to what is there): importing into a smaller store forgets the least recently seen users.

mod store;

pub use store::{
    FreqCapEntry, FreqCapExport, FreqCapImport, FreqCapStore, COUNTERS_PER_USER_MAX,
    USERS_MAX_CEILING,
};

#[cfg(doc)]
use crate::campaign::model::FrequencyCap;

/// FxHash's multiplier (from Firefox, used by rustc): an odd constant with well spread bits,
/// which makes the rotate-xor-multiply step a cheap mixer of eight bytes at a time.
const FX_MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

/// The starting state of [`user_key_hash`]. Fixed, not random: every shard and every process
/// (and every host, once there are several) must route one user to the same place.
const USER_KEY_SEED: u64 = 0x2d35_8dcc_aa6c_78a5;

#[inline]
fn fx_step(state: u64, word: u64) -> u64 {
    (state.rotate_left(5) ^ word).wrapping_mul(FX_MULTIPLIER)
}

/// The splitmix64 finalizer: a bijection in which every input bit flips every output bit with
/// probability about one half. FxHash alone leaves the high bits poorly mixed by the last word,
/// and [`owner_shard`] uses exactly the high bits.
#[inline]
fn splitmix64_finalize(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 64-bit key for a user's text id (`user.id`, `user.buyeruid` or `device.ifa`): fast,
/// fixed-seed and the same in every process, on every shard and every platform (bytes are
/// read little-endian). Never zero, so zero can stand for "no user".
///
/// Not collision-resistant against someone who chooses ids on purpose: two such ids can share
/// a key and then share their counts (which only caps them sooner), and such keys can be
/// aimed at one shard. It is a routing and counting key, not a security boundary.
pub fn user_key_hash(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut state = USER_KEY_SEED;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        state = fx_step(state, u64::from_le_bytes(word));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        state = fx_step(state, u64::from_le_bytes(word));
    }
    // The length keeps "a" and "a\0" apart (the tail is zero-padded).
    state = fx_step(state, bytes.len() as u64);
    match splitmix64_finalize(state) {
        0 => 1,
        key => key,
    }
}

/// The shard that owns the frequency-cap state of `user_key`, in `0..n_shards` (0 when
/// `n_shards` is 0). Lemire's multiply-high reduction: uniform when the key's high bits are
/// (as [`user_key_hash`]'s are), no division and no modulo bias worth the name.
#[inline]
pub fn owner_shard(user_key: u64, n_shards: usize) -> usize {
    ((u128::from(user_key) * n_shards as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_key_hash_is_stable() {
        // Fixed values: a change here reroutes every user of a running fleet and strands its
        // counts on the old owner shards.
        let table = [
            ("", 0x9b62_bda7_7974_779d),
            ("a", 0x2d02_ccb0_0a46_a764),
            ("user-abc-123", 0x45a5_c144_ae8d_e20b),
            ("0123456789abcdefXYZ", 0x67a1_9dfb_be90_14b5),
        ];
        for (text, expected) in table {
            assert_eq!(user_key_hash(text), expected, "{text:?}");
        }
    }

    #[test]
    fn user_key_hash_tells_near_texts_apart() {
        let texts = [
            "a",
            "a\0",
            "b",
            "A",
            "user-abc-123",
            "user-abc-124",
            "User-abc-123",
        ];
        let mut keys: Vec<u64> = texts.iter().map(|text| user_key_hash(text)).collect();
        assert!(keys.iter().all(|&key| key != 0));
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), texts.len());
    }

    #[test]
    fn owner_shard_is_in_range() {
        for key in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            assert_eq!(owner_shard(key, 0), 0);
            assert_eq!(owner_shard(key, 1), 0);
            for n_shards in [2, 3, 7, 64, 1000] {
                assert!(owner_shard(key, n_shards) < n_shards);
            }
        }
        assert_eq!(owner_shard(u64::MAX, 4), 3);
        assert_eq!(owner_shard(0, 4), 0);
    }
}
