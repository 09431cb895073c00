//! The store's state as plain data, for checkpoints and recovery (`state`): every user's
//! live counters in eviction order, and their import into a store (counts of one window add
//! up, a later window replaces an earlier one, users beyond the capacity are evicted).

use super::{is_before, Counter, FreqCapStore, COUNTERS_PER_USER_MAX, NIL};

/// One counter of one user in a [`FreqCapExport`]: `count` impressions of campaign
/// `campaign_idx` in window number `window` of `window_s` seconds (`unix_s / window_s`,
/// truncated to 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreqCapEntry {
    pub user_key: u64,
    pub campaign_idx: u32,
    pub window_s: u32,
    pub window: u32,
    pub count: u32,
}

/// Every counter of a store as plain data, users from the least recently seen to the most
/// recently seen (a user's counters next to each other), so importing in order rebuilds the
/// eviction order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreqCapExport {
    pub entries: Vec<FreqCapEntry>,
}

/// What [`FreqCapStore::import`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreqCapImport {
    /// Counters imported (added to a user's counter of the same window, or stored).
    pub counters: u64,
    /// Entries skipped: campaign gone, no user, empty or zero-length window.
    pub skipped: u64,
    /// Users forgotten to make room (the store was full): also in `n_evicted`.
    pub users_evicted: u64,
}

impl FreqCapStore {
    /// Every user's live counters, least recently seen user first.
    pub fn export(&self) -> FreqCapExport {
        let mut entries = Vec::new();
        let mut idx = self.tail;
        while idx != NIL {
            let slot = &self.slots[idx as usize];
            entries.extend(
                slot.counters
                    .iter()
                    .filter(|c| !c.is_free())
                    .map(|c| FreqCapEntry {
                        user_key: slot.user_key,
                        campaign_idx: c.campaign_idx,
                        window_s: c.window_s,
                        window: c.window,
                        count: c.count,
                    }),
            );
            idx = slot.prev;
        }
        FreqCapExport { entries }
    }

    /// Adds an export's counters, in its order (each user becomes the most recently seen, so
    /// an export in eviction order keeps that order; beyond the capacity the least recently
    /// seen users are evicted, counted). Campaign `i` of the export becomes `map(i)` (`None`:
    /// skipped). A counter meets the user's counter of the same campaign and window length:
    /// same window, the counts add; a later window replaces an earlier one. With all of a
    /// user's counters taken, the one whose window ends first gives way (an overflow, counted).
    pub fn import(
        &mut self,
        export: &FreqCapExport,
        map: impl Fn(u32) -> Option<u32>,
    ) -> FreqCapImport {
        let mut report = FreqCapImport::default();
        let evicted_before = self.n_evicted;
        for entry in &export.entries {
            let campaign_idx = map(entry.campaign_idx);
            let (Some(campaign_idx), true) = (
                campaign_idx,
                entry.user_key != 0 && entry.window_s > 0 && entry.count > 0,
            ) else {
                report.skipped += 1;
                continue;
            };
            let slot_idx = self.find_or_insert(entry.user_key);
            let counter = Counter {
                campaign_idx,
                window_s: entry.window_s,
                window: entry.window,
                count: entry.count,
            };
            if merge_counter(&mut self.slots[slot_idx as usize].counters, counter) {
                self.n_counter_overflows += 1;
            }
            report.counters += 1;
        }
        report.users_evicted = self.n_evicted - evicted_before;
        self.debug_assert_consistent();
        report
    }
}

/// Adds an imported `counter` to a user's `counters`; returns whether a live counter had to
/// give way (or the imported one was dropped) for lack of room.
fn merge_counter(counters: &mut [Counter; COUNTERS_PER_USER_MAX], counter: Counter) -> bool {
    if let Some(held) = counters
        .iter_mut()
        .find(|held| held.counts(counter.campaign_idx, counter.window_s))
    {
        if held.window == counter.window {
            held.count = held.count.saturating_add(counter.count);
        } else if is_before(held.window, counter.window) {
            *held = counter;
        }
        return false;
    }
    if let Some(free) = counters.iter_mut().find(|held| held.is_free()) {
        *free = counter;
        return false;
    }
    // No clock here: the counter whose window ends first (by its own window number) gives
    // way, as in `count_impression`; the imported one if it ends first itself.
    let window_end = |c: &Counter| (u64::from(c.window) + 1) * u64::from(c.window_s);
    let victim = counters.iter_mut().min_by_key(|held| window_end(held));
    if let Some(held) = victim {
        if window_end(held) < window_end(&counter) {
            *held = counter;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cap, DAY_S, HOUR_S, T0};
    use super::*;

    /// Users 1..=n, each shown campaigns under hourly and daily caps at different times, so
    /// that counters, windows and the eviction order all differ.
    fn busy_store(users_max: usize, n_users: u64) -> FreqCapStore {
        let mut store = FreqCapStore::with_capacity(users_max);
        let caps = [cap(3, HOUR_S), cap(5, DAY_S)];
        for user_key in 1..=n_users {
            for step in 0..(user_key % 4 + 1) {
                let campaign_idx = ((user_key + step) % 3) as u32;
                let at = T0 + (user_key as i64 * 97 + step as i64 * 1_800) % (2 * DAY_S as i64);
                store.record_impression(user_key, campaign_idx, &caps, at);
            }
        }
        // Seen again: the eviction order is no longer the insertion order.
        store.record_impression(2, 0, &caps, T0 + 2 * DAY_S as i64);
        store
    }

    #[test]
    fn an_imported_store_answers_like_the_exported_one() {
        let original = busy_store(64, 40);
        let export = original.export();
        let mut restored = FreqCapStore::with_capacity(64);
        let report = restored.import(&export, Some);
        assert_eq!(report.counters as usize, export.entries.len());
        assert_eq!(report.users_evicted, 0);
        restored.check_invariants();
        assert_eq!(restored.len(), original.len());
        assert_eq!(
            restored.export(),
            export,
            "same counters, same eviction order"
        );
        let caps = [cap(3, HOUR_S), cap(5, DAY_S)];
        for user_key in 0..=41 {
            for campaign_idx in 0..4 {
                for at in (0..3 * DAY_S as i64).step_by(1_800) {
                    assert_eq!(
                        restored.allows(user_key, campaign_idx, &caps, T0 + at),
                        original.allows(user_key, campaign_idx, &caps, T0 + at),
                        "user {user_key} campaign {campaign_idx} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn imports_add_counts_renumber_and_keep_the_most_recent_users() {
        let caps = [cap(2, HOUR_S)];
        let mut one = FreqCapStore::with_capacity(4);
        one.record_impression(9, 1, &caps, T0);
        let export = one.export();
        // Two old shards that both counted the user (routing was off): the counts add.
        let mut both = FreqCapStore::with_capacity(4);
        both.import(&export, Some);
        assert!(both.allows(9, 1, &caps, T0));
        both.import(&export, Some);
        assert!(!both.allows(9, 1, &caps, T0));
        // A counter of a later window replaces an earlier one, an earlier one is ignored.
        let later = FreqCapExport {
            entries: vec![FreqCapEntry {
                window: export.entries[0].window + 1,
                ..export.entries[0]
            }],
        };
        both.import(&later, Some);
        assert!(both.allows(9, 1, &caps, T0 + HOUR_S as i64));
        both.import(&export, Some);
        assert!(both.allows(9, 1, &caps, T0 + HOUR_S as i64));
        // Renumbered: campaign 1 is now 7; a campaign that is gone is skipped.
        let mut renumbered = FreqCapStore::with_capacity(4);
        for _ in 0..2 {
            let report = renumbered.import(&export, |idx| (idx == 1).then_some(7));
            assert_eq!(report.counters, 1);
        }
        assert!(!renumbered.allows(9, 7, &caps, T0), "7 got the counts");
        assert!(renumbered.allows(9, 1, &caps, T0));
        let report = FreqCapStore::with_capacity(4).import(&export, |_| None);
        assert_eq!((report.counters, report.skipped), (0, 1));
        // A smaller store keeps the most recently seen users, and says how many it dropped.
        let big = busy_store(64, 40);
        let mut small = FreqCapStore::with_capacity(10);
        let report = small.import(&big.export(), Some);
        assert_eq!(report.users_evicted, 30);
        small.check_invariants();
        let newest: Vec<u64> = big.export().entries.iter().map(|e| e.user_key).collect();
        let mut kept: Vec<u64> = small.export().entries.iter().map(|e| e.user_key).collect();
        kept.dedup();
        let mut expected = newest.clone();
        expected.dedup();
        assert_eq!(kept, expected[expected.len() - 10..]);
    }

    #[test]
    fn imported_counters_beyond_a_users_room_overflow_counted() {
        let hour = [cap(1, HOUR_S)];
        let mut full = FreqCapStore::with_capacity(1);
        for campaign_idx in 0..COUNTERS_PER_USER_MAX as u32 {
            full.record_impression(1, campaign_idx, &hour, T0);
        }
        let mut other = FreqCapStore::with_capacity(1);
        other.record_impression(1, 100, &[cap(1, DAY_S)], T0);
        full.import(&other.export(), Some);
        assert_eq!(full.n_counter_overflows(), 1);
        assert!(
            !full.allows(1, 100, &[cap(1, DAY_S)], T0),
            "the daily one outlives an hourly"
        );
        full.check_invariants();
    }
}
