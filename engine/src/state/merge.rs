//! Old shards' states folded into one new shard's, when a server restarts with another shard
//! count (or the same: then each new shard gets its old state, its frequency-cap users and a
//! pacer averaged with the others').
//!
//! The rules: old shard `i`'s ledger, counters and event windows go to new shard `i % M`, so
//! each old commitment, spend and window lands on exactly one new shard (and the events of the
//! tokens a window judges must be sent there: `recovery::EarlierWindows`); each frequency-cap user goes to the new shard that
//! owns it (`freqcap::owner_shard(user_key, M)`), with the eviction order interleaved by rank
//! (a user at 30% of one old shard's order lands at about 30% of the merged order); the pacer
//! merges every old shard's (`pacing::recovery`: shapes averaged, volumes divided by `M`).
//! Campaigns are joined by id; the merged state lists every id of every old state.

use hashbrown::HashMap;

use super::ShardState;
use crate::budget::LedgerExport;
use crate::freqcap::{owner_shard, FreqCapEntry, FreqCapExport};
use crate::pacing::PacerExport;
use crate::stats::CampaignCounters;
use crate::tracking::WindowsExport;

impl ShardState {
    /// The state new shard `new_shard` of `new_count` starts from; `states[i]` is old shard
    /// `i`'s. Every window becomes an earlier run's (`windows.current` is `None`);
    /// `log_position` is 0.
    ///
    /// # Panics
    ///
    /// When `states` is empty or `new_shard >= new_count` (the caller's mistake, not input).
    pub fn merge(states: &[ShardState], new_shard: usize, new_count: usize) -> ShardState {
        assert!(
            !states.is_empty() && new_shard < new_count,
            "merge of {} states into shard {new_shard} of {new_count}",
            states.len()
        );
        let (campaign_ids, maps) = union_ids(states);
        let map_of = |old: usize| {
            let map = &maps[old];
            move |idx: u32| map.get(idx as usize).copied()
        };
        let routed: Vec<usize> = (0..states.len())
            .filter(|old| old % new_count == new_shard)
            .collect();

        // Today is the latest day any old shard saw (they ran on one clock).
        let day = states
            .iter()
            .map(|state| state.ledger.day)
            .max()
            .unwrap_or(0);
        let mut ledger = LedgerExport::new(day);
        let mut counters = vec![CampaignCounters::default(); campaign_ids.len()];
        let mut windows = WindowsExport::default();
        for &old in &routed {
            let state = &states[old];
            ledger.add(&state.ledger, map_of(old));
            for (idx, state_counters) in state.counters.iter().enumerate() {
                if let Some(merged) = maps[old].get(idx).map(|&at| &mut counters[at as usize]) {
                    merged.add(state_counters);
                }
            }
            // A window without a sequence to judge (an old run's that made no bid lately) is
            // left out: it would only count against the bound on windows.
            windows.history.extend(
                state
                    .windows
                    .iter()
                    .filter(|window| window.has_sequences())
                    .cloned(),
            );
        }
        let pacers: Vec<PacerExport> = states
            .iter()
            .enumerate()
            .map(|(old, state)| rekeyed_pacer(&state.pacer, map_of(old)))
            .collect();
        let Some(pacer) = PacerExport::merge(&pacers, new_count) else {
            unreachable!("states is not empty, so neither is pacers");
        };
        ShardState {
            campaign_ids,
            ledger,
            freqcaps: merged_freqcaps(states, &maps, new_shard, new_count),
            windows,
            pacer,
            counters,
            log_position: 0,
        }
    }
}

/// Every campaign id of the states, in order of first appearance, and per state the merged
/// index of each of its campaigns.
fn union_ids(states: &[ShardState]) -> (Vec<String>, Vec<Vec<u32>>) {
    let mut ids: Vec<String> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let maps = states
        .iter()
        .map(|state| {
            state
                .campaign_ids
                .iter()
                .map(|id| {
                    *index.entry(id.as_str()).or_insert_with(|| {
                        ids.push(id.clone());
                        (ids.len() - 1) as u32
                    })
                })
                .collect()
        })
        .collect();
    (ids, maps)
}

fn rekeyed_pacer(pacer: &PacerExport, map: impl Fn(u32) -> Option<u32>) -> PacerExport {
    let mut pacer = pacer.clone();
    pacer.campaigns.retain_mut(|campaign| {
        map(campaign.campaign_idx).is_some_and(|idx| {
            campaign.campaign_idx = idx;
            true
        })
    });
    pacer
}

/// The frequency-cap entries of every state whose user `new_shard` owns, renumbered, in an
/// eviction order that interleaves the states' by rank.
fn merged_freqcaps(
    states: &[ShardState],
    maps: &[Vec<u32>],
    new_shard: usize,
    new_count: usize,
) -> FreqCapExport {
    // (rank numerator, rank denominator, entry)
    let mut ranked: Vec<(u64, u64, FreqCapEntry)> = Vec::new();
    for (old, state) in states.iter().enumerate() {
        let len = state.freqcaps.entries.len() as u64;
        for (position, entry) in state.freqcaps.entries.iter().enumerate() {
            if owner_shard(entry.user_key, new_count) != new_shard {
                continue;
            }
            let Some(&campaign_idx) = maps[old].get(entry.campaign_idx as usize) else {
                continue;
            };
            ranked.push((
                position as u64,
                len,
                FreqCapEntry {
                    campaign_idx,
                    ..*entry
                },
            ));
        }
    }
    // Stable: one state's entries keep their order, ties go to the earlier state.
    ranked.sort_by(|(a_pos, a_len, _), (b_pos, b_len, _)| {
        (u128::from(*a_pos) * u128::from(*b_len)).cmp(&(u128::from(*b_pos) * u128::from(*a_len)))
    });
    FreqCapExport {
        entries: ranked.into_iter().map(|(_, _, entry)| entry).collect(),
    }
}
