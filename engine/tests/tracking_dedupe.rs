//! A repeated tracking event is counted once, distinct events of one bid each count, and a full
//! window forgets its oldest first sightings first. A seeded randomized run checks the window
//! against a naive model (a `HashSet` and a FIFO queue) with the same eviction rule.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashSet, VecDeque};

use adshard::tracking::dedupe::{DedupeKey, DedupeWindow};
use adshard::tracking::token::{CLOCK_SKEW_S_MAX, TAG_BYTES};
use adshard::tracking::{EventKind, TokenTag};

const NOW_UNIX_S: i64 = 1_700_000_000;

fn key(n: u64) -> DedupeKey {
    DedupeKey::from_digest(n)
}

fn tag(fill: u8) -> TokenTag {
    TokenTag([fill; TAG_BYTES])
}

#[test]
fn duplicate_counted_once() {
    let mut window = DedupeWindow::with_capacity(16);
    let win = DedupeKey::new(EventKind::Win, &tag(7));
    assert!(window.first_seen(win, NOW_UNIX_S));
    for later_s in 0..5 {
        assert!(!window.first_seen(win, NOW_UNIX_S + later_s));
    }
    assert_eq!(window.len(), 1);
}

#[test]
fn distinct_kinds_of_one_token_each_count() {
    let mut window = DedupeWindow::with_capacity(16);
    let kinds = [EventKind::Win, EventKind::Impression, EventKind::Click];
    for kind in kinds {
        assert!(
            window.first_seen(DedupeKey::new(kind, &tag(7)), NOW_UNIX_S),
            "{kind:?}"
        );
    }
    for kind in kinds {
        assert!(!window.first_seen(DedupeKey::new(kind, &tag(7)), NOW_UNIX_S));
    }
    // Another bid's token is another event.
    assert!(window.first_seen(DedupeKey::new(EventKind::Win, &tag(8)), NOW_UNIX_S));
    assert_eq!(window.len(), 4);
}

#[test]
fn full_window_forgets_oldest_first_sighting_first() {
    let mut window = DedupeWindow::with_capacity(3);
    for n in 1..=3 {
        assert!(window.first_seen(key(n), NOW_UNIX_S + n as i64));
    }
    // A repeat does not refresh key 1: it stays the oldest.
    assert!(!window.first_seen(key(1), NOW_UNIX_S + 10));
    assert_eq!(window.n_forgotten(), 0);

    assert!(window.first_seen(key(4), NOW_UNIX_S + 11), "forgets 1");
    assert_eq!(window.len(), 3);
    assert_eq!(window.n_forgotten(), 1);
    assert!(!window.first_seen(key(2), NOW_UNIX_S + 12));
    assert!(!window.first_seen(key(3), NOW_UNIX_S + 12));
    assert!(!window.first_seen(key(4), NOW_UNIX_S + 12));

    assert!(
        window.first_seen(key(1), NOW_UNIX_S + 13),
        "1 was forgotten; forgets 2"
    );
    assert!(
        window.first_seen(key(2), NOW_UNIX_S + 14),
        "2 was forgotten; forgets 3"
    );
    assert!(!window.first_seen(key(4), NOW_UNIX_S + 15));
    assert!(!window.first_seen(key(1), NOW_UNIX_S + 15));
    assert!(
        window.first_seen(key(3), NOW_UNIX_S + 15),
        "3 was forgotten; forgets 4"
    );
    assert_eq!(window.n_forgotten(), 4);

    window.clear();
    assert!(window.is_empty());
    assert!(window.first_seen(key(1), NOW_UNIX_S + 16));
}

#[test]
fn capacity_of_one() {
    let mut window = DedupeWindow::with_capacity(1);
    assert_eq!(window.capacity(), 1);
    assert!(window.first_seen(key(5), NOW_UNIX_S));
    assert!(!window.first_seen(key(5), NOW_UNIX_S));
    assert!(window.first_seen(key(6), NOW_UNIX_S));
    assert!(window.first_seen(key(5), NOW_UNIX_S));
}

#[test]
fn covers_reports_whether_forgotten_entries_are_older_than_a_ttl() {
    let ttl_s: u64 = 100;
    let mut window = DedupeWindow::with_capacity(2);
    assert!(window.covers(NOW_UNIX_S, ttl_s));
    window.first_seen(key(1), NOW_UNIX_S);
    window.first_seen(key(2), NOW_UNIX_S + 1);
    assert!(window.covers(NOW_UNIX_S + 1, ttl_s), "nothing forgotten");

    // Forgets key 1, first seen at NOW: a token seen then may still verify until
    // NOW + ttl + skew, so the window does not cover the TTL until after that.
    let later_s = NOW_UNIX_S + 50;
    window.first_seen(key(3), later_s);
    assert!(!window.covers(later_s, ttl_s));
    let horizon_s = NOW_UNIX_S + ttl_s as i64 + CLOCK_SKEW_S_MAX;
    assert!(!window.covers(horizon_s, ttl_s));
    assert!(window.covers(horizon_s + 1, ttl_s));
    // Extreme clocks and TTLs must not overflow: a TTL longer than all time never covers.
    assert!(!window.covers(i64::MAX, u64::MAX));
    assert!(!window.covers(i64::MIN, 0));
}

#[test]
fn zero_digest_is_a_valid_key() {
    let mut window = DedupeWindow::with_capacity(4);
    assert!(window.first_seen(key(0), NOW_UNIX_S));
    assert!(!window.first_seen(key(0), NOW_UNIX_S));
    assert_eq!(key(0).digest(), 1, "zero is reserved for empty slots");
}

#[test]
fn owner_shard_is_in_range_and_spreads() {
    for n_shards in [0usize, 1, 2, 3, 8, 64] {
        let mut hits = vec![0u32; n_shards.max(1)];
        for n in 0..4_096u64 {
            let key = DedupeKey::new(EventKind::Impression, &tag_from(n));
            let shard = key.owner_shard(n_shards);
            assert!(shard < n_shards.max(1));
            hits[shard] += 1;
        }
        let expected = 4_096 / n_shards.max(1) as u32;
        assert!(
            hits.iter().all(|&h| h > expected / 2),
            "{n_shards}: {hits:?}"
        );
    }
}

/// A tag whose bytes look random, as MAC output does.
fn tag_from(n: u64) -> TokenTag {
    let mut rng = SplitMix64(n);
    let mut bytes = [0u8; TAG_BYTES];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
    }
    TokenTag(bytes)
}

/// Deterministic generator for the randomized test: the seed alone replays a failure.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The eviction rule stated plainly: FIFO by first sighting, repeats change nothing.
struct NaiveWindow {
    capacity: usize,
    order: VecDeque<u64>,
    members: HashSet<u64>,
}

impl NaiveWindow {
    fn first_seen(&mut self, digest: u64) -> bool {
        if self.members.contains(&digest) {
            return false;
        }
        if self.order.len() == self.capacity {
            let oldest = self.order.pop_front().expect("full");
            self.members.remove(&oldest);
        }
        self.order.push_back(digest);
        self.members.insert(digest);
        true
    }
}

#[test]
fn randomized_against_naive_model() {
    let seed = std::env::var("TRACKING_DEDUPE_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(0)
        });
    println!("randomized_against_naive_model seed: {seed} (TRACKING_DEDUPE_SEED={seed} replays)");
    let mut rng = SplitMix64(seed);
    for round in 0..40 {
        let capacity = 1 + rng.below(200) as usize;
        // Key spaces around the capacity give a mix of repeats, evictions and re-admissions;
        // a few rounds use clustered digests to stress probe chains and backward shifts.
        let key_space = 1 + rng.below(capacity as u64 * 3);
        let clustered = rng.below(4) == 0;
        let mut window = DedupeWindow::with_capacity(capacity);
        let mut model = NaiveWindow {
            capacity,
            order: VecDeque::new(),
            members: HashSet::new(),
        };
        let mut n_first = 0;
        for step in 0..5_000 {
            let n = rng.below(key_space) + 1;
            let digest = if clustered {
                n << 40
            } else {
                n.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1
            };
            let expected = model.first_seen(digest);
            let actual = window.first_seen(key(digest), NOW_UNIX_S + step);
            assert_eq!(
                actual, expected,
                "seed {seed} round {round} step {step}: capacity {capacity}, digest {digest:#x}"
            );
            n_first += u64::from(actual);
            assert_eq!(window.len(), model.order.len(), "seed {seed} round {round}");
        }
        assert_eq!(
            window.n_forgotten(),
            n_first.saturating_sub(capacity as u64),
            "seed {seed} round {round}"
        );
    }
}
