//! A shard's state as one piece of plain data, so that the event log's checkpoints can save it
//! and recovery can bring it back, onto the same number of shards or another. Each piece (the
//! budget ledger's own part, the frequency caps, the event windows, the pacer, the campaign
//! counters) is exported by its own module keyed by campaign index; [`ShardState`] ties them
//! to campaign ids, the join key between runs whose catalogs differ, encodes them
//! (`codec`), merges old shards' states for new shards (`merge`) and imports them into a
//! shard's live objects. No I/O, no clock: the shard's recovery code reads and writes the
//! files, replays the log and says what time it is.
//!
//! # Recovery, as this module expects it to be driven
//!
//! 1. Per old shard `i`: decode its checkpoint, [`ShardState::resume_into`] fresh live objects
//!    built with the catalog (so the old run's window is the current one again), replay the
//!    log after `log_position` on them, and [`ShardState::from_live`] the result.
//! 2. Per new shard `k` of `M`: [`ShardState::merge`] of all old states (old shard `i`'s
//!    ledger, counters and windows go to `i % M`; every frequency-cap user to its owner
//!    shard; the pacer's traffic is shared out), then [`ShardState::import_into`] the shard's
//!    live objects (every old window becomes an earlier run's).
//! 3. Optionally, [`ShardState::settle_budget`] on every new shard with the merged states of
//!    all the others, before any serves: the budget bound then holds from the first commit
//!    (see `budget::recovery`).
//!
//! Old shard `i`'s tokens name shard `i`, but their events must go where its windows went:
//! shard `i % M` after one change of shard count, and after another not necessarily
//! `i % M'` (the windows of shard 1 of 2 go to shard 0 of 1, then to shard 0 of 2).
//! `recovery::EarlierWindows` tells the shards where each window is.

mod codec;
mod merge;

#[cfg(test)]
mod tests;

use hashbrown::HashMap;

use crate::budget::LedgerExport;
use crate::delivery::Delivery;
use crate::freqcap::{FreqCapExport, FreqCapImport};
use crate::pacing::PacerExport;
use crate::stats::CampaignCounters;
use crate::tracking::{EventWindows, WindowSize, WindowsExport, WindowsImportError};

pub use codec::{STATE_MAGIC, STATE_VERSION};

/// One shard's state. Every campaign index in it (ledger, frequency caps, pacer) is an index
/// into `campaign_ids`; `counters` has one entry per id.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardState {
    pub campaign_ids: Vec<String>,
    pub ledger: LedgerExport,
    pub freqcaps: FreqCapExport,
    pub windows: WindowsExport,
    pub pacer: PacerExport,
    pub counters: Vec<CampaignCounters>,
    /// The log sequence number the state includes (opaque here; 0 in a merged state).
    pub log_position: u64,
}

/// Why a state cannot be imported: the start stops with this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("event windows: {0}")]
    Windows(#[from] WindowsImportError),
}

/// What an import did, for the start's log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Campaigns of the state no longer in the catalog: their state was left out.
    pub campaigns_gone: usize,
    pub freqcaps: FreqCapImport,
}

impl ShardState {
    /// The state of a shard's live objects; `campaign_ids` in catalog order (the index of each
    /// is its campaign index in `delivery` and `counters`).
    pub fn from_live<'a>(
        campaign_ids: impl IntoIterator<Item = &'a str>,
        delivery: &Delivery,
        windows: &EventWindows,
        counters: &[CampaignCounters],
        log_position: u64,
    ) -> ShardState {
        let campaign_ids: Vec<String> = campaign_ids.into_iter().map(str::to_owned).collect();
        let n_campaigns = campaign_ids.len();
        let known = |idx: u32| (idx as usize) < n_campaigns;
        debug_assert_eq!(delivery.ledger().len(), n_campaigns);
        let mut ledger = delivery.ledger().export_own();
        ledger.campaigns.retain(|totals| known(totals.campaign_idx));
        ledger.outstanding.retain(|held| known(held.campaign_idx));
        let mut freqcaps = delivery.freqcaps().export();
        freqcaps.entries.retain(|entry| known(entry.campaign_idx));
        let mut pacer = delivery.pacer().export();
        pacer
            .campaigns
            .retain(|campaign| known(campaign.campaign_idx));
        let mut counters = counters.to_vec();
        counters.resize(n_campaigns, CampaignCounters::default());
        ShardState {
            campaign_ids,
            ledger,
            freqcaps,
            windows: windows.export(),
            pacer,
            counters,
            log_position,
        }
    }

    /// Adds the state into a new run's live objects: the ledger's own part, the frequency
    /// caps, the pacer's traffic and controllers, the counters (added), and every window as an
    /// earlier run's. Campaigns are matched by id with `campaign_ids` (catalog order); a
    /// campaign no longer there is left out. Nothing is changed on an error.
    pub fn import_into<'a>(
        &self,
        campaign_ids: impl IntoIterator<Item = &'a str>,
        delivery: &mut Delivery,
        windows: &mut EventWindows,
        counters: &mut [CampaignCounters],
    ) -> Result<ImportReport, ImportError> {
        windows.import_history(&self.windows)?;
        Ok(self.import_rest(campaign_ids, delivery, counters))
    }

    /// Like [`ShardState::import_into`], for replaying the log of the run that wrote the state:
    /// its current window is restored as the current one (at `size`, with the config's
    /// `hold_s`), so the log's bids can be issued into it.
    pub fn resume_into<'a>(
        &self,
        campaign_ids: impl IntoIterator<Item = &'a str>,
        delivery: &mut Delivery,
        counters: &mut [CampaignCounters],
        size: WindowSize,
        hold_s: i64,
    ) -> Result<(EventWindows, ImportReport), ImportError> {
        let windows = EventWindows::resume(size, hold_s, &self.windows)?;
        let report = self.import_rest(campaign_ids, delivery, counters);
        Ok((windows, report))
    }

    /// Tells a new shard's ledger what its peers recovered (their merged states, after every
    /// shard imported its own), and counts its own recovered part as already exchanged: see
    /// `budget::recovery` for why. Call it on every shard with all the others, or on none.
    /// A commitment a peer's import released at once (its bucket shared a ring slot with a
    /// newer one, after a shorter hold) stays in this shard's view until the next restart:
    /// an over-estimate, which only refuses sooner.
    pub fn settle_budget<'a>(
        campaign_ids: impl IntoIterator<Item = &'a str>,
        delivery: &mut Delivery,
        peers: &[&ShardState],
    ) {
        let live = live_index(campaign_ids);
        let ledger = delivery.ledger_mut();
        for peer in peers {
            let map = peer.index_map(&live);
            ledger.import_peer(&peer.ledger, |idx| lookup(&map, idx));
        }
        ledger.settle_recovered();
    }

    fn import_rest<'a>(
        &self,
        campaign_ids: impl IntoIterator<Item = &'a str>,
        delivery: &mut Delivery,
        counters: &mut [CampaignCounters],
    ) -> ImportReport {
        let live = live_index(campaign_ids);
        let map = self.index_map(&live);
        let map_fn = |idx: u32| lookup(&map, idx);
        delivery.ledger_mut().import_own(&self.ledger, map_fn);
        let freqcaps = delivery.freqcaps_mut().import(&self.freqcaps, map_fn);
        delivery.pacer_mut().import(&self.pacer, map_fn);
        for (idx, imported) in self.counters.iter().enumerate() {
            if let Some(live) = map_fn(idx as u32).and_then(|idx| counters.get_mut(idx as usize)) {
                live.add(imported);
            }
        }
        ImportReport {
            campaigns_gone: map.iter().filter(|idx| idx.is_none()).count(),
            freqcaps,
        }
    }

    /// For each of this state's campaigns, its index among the live ones.
    fn index_map(&self, live: &HashMap<&str, u32>) -> Vec<Option<u32>> {
        self.campaign_ids
            .iter()
            .map(|id| live.get(id.as_str()).copied())
            .collect()
    }
}

fn live_index<'a>(campaign_ids: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, u32> {
    campaign_ids
        .into_iter()
        .enumerate()
        .map(|(idx, id)| (id, idx as u32))
        .collect()
}

fn lookup(map: &[Option<u32>], idx: u32) -> Option<u32> {
    map.get(idx as usize).copied().flatten()
}
