//! Recovery at start, before any shard serves: every shard of the log's current generation is
//! rebuilt from its checkpoint and the records after it (through `books`, the functions the
//! live shard used), the rebuilt states are merged for this run's shards (whatever their
//! number: old shard `i`'s books go to new shard `i % M`, whose tokens it then judges; each
//! frequency-capped user to its owner), each merged state is written as the first checkpoint
//! of a new generation, and only then does the directory's `CURRENT` switch to it. A crash
//! anywhere in between starts over from the old generation, so nothing is counted twice.
//!
//! Old shards are recovered on one thread each (plain std I/O; recovery reads, the shards
//! write).
//!
//! The events of an earlier run's tokens go where their windows went ([`EarlierWindows`]), not
//! to the shard the token names modulo the new count: after two changes of shard count the two
//! differ (old shard 1 of 2 went to shard 0 of 1, and from there to shard 0 of 2, where
//! `1 % 2` would send its events to shard 1).

use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use crate::books;
use crate::budget::LedgerSettings;
use crate::campaign::CampaignData;
use crate::catalog::Catalog;
use crate::config::{Config, EVENTS_DIR_DEMO};
use crate::currency::CurrencyTable;
use crate::delivery::{Delivery, DeliverySettings};
use crate::eventlog::layout::{
    encode_checkpoint, CheckpointHeader, Current, Layout, LayoutError, CHECKPOINT,
};
use crate::eventlog::read::{read_checkpoint, replay, ReadError, ReadSummary};
use crate::eventlog::{BidRecord, EventRecord, Lsn, Record};
use crate::pacing::PacingConfig;
use crate::state::ShardState;
use crate::stats::CampaignCounters;
use crate::tracking::{EventWindow, EventWindows, WindowSize};

/// Why the start stops: the log cannot be trusted or written.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("{dir}: {reason}")]
    State { dir: PathBuf, reason: String },
}

/// A shard's event log at start: its directory in the new generation and its recovered state.
#[derive(Debug)]
pub struct ShardEvents {
    pub shard_dir: PathBuf,
    pub generation: u64,
    /// The lsn of the first record the shard writes.
    pub first_lsn: Lsn,
    /// What recovery rebuilt for this shard; `None` on a first start.
    pub state: Option<ShardState>,
    /// The merged states of the other shards, for `ShardState::settle_budget`.
    pub peers: Vec<ShardState>,
    /// Which shard of this run holds each earlier run's window: where its tokens' events go.
    pub earlier_windows: EarlierWindows,
}

/// Where the event windows of earlier runs went at this start: per range of bid sequences,
/// the shard of this run that holds the window judging them, and with it the bids'
/// commitments (a window, the ledger and the counters of an old shard move together). Every
/// shard gets a copy; a tracking event whose sequence is in a range goes to its shard, any
/// other to the shard its token names. Sequences start at a random base per run and shard,
/// so ranges do not overlap (but for a chance of a window's capacity in 2^64 per pair, the
/// windows' own assumption). At most `2 x HISTORY_WINDOWS_MAX` ranges per shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarlierWindows {
    /// (first sequence, last sequence, shard), by first sequence; a window whose sequences
    /// wrap past `u64::MAX` gives two ranges.
    ranges: Vec<(u64, u64, u16)>,
}

impl EarlierWindows {
    /// The ranges of every window of `states[k]`, the state shard `k` of this run starts from.
    pub fn new(states: &[Option<ShardState>]) -> EarlierWindows {
        let mut ranges = Vec::new();
        for (shard, state) in states.iter().enumerate() {
            let Some(state) = state else { continue };
            let shard = u16::try_from(shard).unwrap_or(u16::MAX);
            for window in state.windows.iter().filter(|w| w.has_sequences()) {
                let first = window.base.wrapping_add(window.first_n);
                let last = window.base.wrapping_add(window.n_issued - 1);
                if first <= last {
                    ranges.push((first, last, shard));
                } else {
                    ranges.push((first, u64::MAX, shard));
                    ranges.push((0, last, shard));
                }
            }
        }
        ranges.sort_unstable();
        EarlierWindows { ranges }
    }

    /// The shard holding the earlier run's window that `sequence` belongs to, if any.
    pub fn shard_of(&self, sequence: u64) -> Option<usize> {
        let after = self
            .ranges
            .partition_point(|&(first, _, _)| first <= sequence);
        let &(_, last, shard) = self.ranges.get(after.checked_sub(1)?)?;
        (sequence <= last).then_some(usize::from(shard))
    }
}

/// What recovery found, for the start's log line.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub dir: PathBuf,
    pub previous: Option<Current>,
    pub generation: u64,
    pub per_shard: Vec<ReadSummary>,
}

/// The directory the log lives in: `events.dir`, or the demo's.
pub fn events_dir(config: &Config) -> PathBuf {
    if config.events.dir.as_os_str().is_empty() {
        PathBuf::from(EVENTS_DIR_DEMO)
    } else {
        config.events.dir.clone()
    }
}

/// The delivery state of a shard among `n_shards`.
pub fn delivery_settings(config: &Config, n_shards: usize) -> DeliverySettings {
    DeliverySettings {
        ledger: LedgerSettings {
            allowance_micros: config.delivery.budget_shard_allowance_micros,
            // A token is accepted until `ttl` after its issue time, judged by a clock that may
            // be up to the skew behind ours.
            hold_s: config.tracking.hold_s(),
            n_peers: n_shards - 1,
        },
        // Full throttle until the first update: a started shard knows no spend yet, the budget
        // ledger bounds that first interval, and spend at throttle 1 is the best measurement
        // for the controller's first step. A cautious start would also make a new server's
        // first bids a coin toss. (A recovered shard's controllers are restored instead.)
        pacing: PacingConfig {
            throttle_start: 1.0,
            ..PacingConfig::default()
        },
        freqcap_users_max: config.delivery.freqcap_users_per_shard_max,
    }
}

/// The dedupe window size the config asks for.
pub fn window_size(config: &Config) -> WindowSize {
    // Validation refused every config this fails for.
    WindowSize::for_rate(
        config.tracking.bids_per_shard_per_s_max,
        config.tracking.hold_s(),
    )
    .expect("tracking.bids_per_shard_per_s_max validated")
}

/// Recovers the event log for a run of `n_shards` shards: `None` when the log is off. The
/// returned layout holds the directory's lock; keep it for the server's life.
pub fn recover(
    config: &Config,
    data: &CampaignData,
    n_shards: usize,
    now_unix_s: i64,
) -> Result<Option<(Layout, Vec<ShardEvents>, RecoveryReport)>, RecoveryError> {
    if !config.events.enabled {
        return Ok(None);
    }
    let layout = Layout::open(&events_dir(config))?;
    let previous = layout.current()?;
    let mut report = RecoveryReport {
        dir: layout.dir().to_owned(),
        previous,
        ..RecoveryReport::default()
    };
    let states = match previous {
        Some(current) => {
            let dirs: Vec<PathBuf> = (0..current.n_shards)
                .map(|i| layout.shard_dir(current.generation, i))
                .collect();
            let recovered = recover_shards(config, data, &dirs, now_unix_s)?;
            let (states, summaries): (Vec<_>, Vec<_>) = recovered.into_iter().unzip();
            report.per_shard = summaries;
            states
        }
        None => Vec::new(),
    };
    let generation = previous.map_or(1, |current| current.generation + 1);
    layout.prepare(generation, n_shards)?;
    let merged: Vec<Option<ShardState>> = (0..n_shards)
        .map(|k| (!states.is_empty()).then(|| ShardState::merge(&states, k, n_shards)))
        .collect();
    for (k, state) in merged.iter().enumerate() {
        let dir = layout.shard_dir(generation, k);
        write_first_checkpoint(&dir, k, generation, state.as_ref())?;
    }
    layout.switch_to(Current {
        generation,
        n_shards,
    })?;
    report.generation = generation;
    let earlier_windows = EarlierWindows::new(&merged);
    let shards = (0..n_shards)
        .map(|k| ShardEvents {
            shard_dir: layout.shard_dir(generation, k),
            generation,
            first_lsn: 1,
            state: merged[k].clone(),
            peers: merged
                .iter()
                .enumerate()
                .filter(|&(other, _)| other != k)
                .filter_map(|(_, state)| state.clone())
                .collect(),
            earlier_windows: earlier_windows.clone(),
        })
        .collect();
    Ok(Some((layout, shards, report)))
}

/// The checkpoint a new generation's shard starts from (position 0: its log is empty).
fn write_first_checkpoint(
    dir: &Path,
    shard_idx: usize,
    generation: u64,
    state: Option<&ShardState>,
) -> Result<(), RecoveryError> {
    let Some(state) = state else {
        return Ok(());
    };
    let mut encoded = Vec::new();
    state.encode(&mut encoded);
    let header = CheckpointHeader {
        shard_idx: u16::try_from(shard_idx).unwrap_or(u16::MAX),
        generation,
        log_position: 0,
    };
    let mut bytes = Vec::with_capacity(encoded.len() + 64);
    encode_checkpoint(header, &encoded, &mut bytes);
    let path = dir.join(CHECKPOINT);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| RecoveryError::State {
        dir: dir.to_owned(),
        reason: format!("cannot write the first checkpoint: {e}"),
    })
}

/// Recovers every old shard directory, one thread each.
fn recover_shards(
    config: &Config,
    data: &CampaignData,
    dirs: &[PathBuf],
    now_unix_s: i64,
) -> Result<Vec<(ShardState, ReadSummary)>, RecoveryError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| scope.spawn(move || recover_shard(config, data, dir, i, now_unix_s)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(RecoveryError::State {
                        dir: PathBuf::new(),
                        reason: "recovery thread panicked".into(),
                    })
                })
            })
            .collect()
    })
}

/// One old shard's state: its checkpoint, with the records after it replayed.
fn recover_shard(
    config: &Config,
    data: &CampaignData,
    dir: &Path,
    shard_idx: usize,
    now_unix_s: i64,
) -> Result<(ShardState, ReadSummary), RecoveryError> {
    let state_error = |reason: String| RecoveryError::State {
        dir: dir.to_owned(),
        reason,
    };
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Catalog::build(data, &currencies);
    let ids: Vec<&str> = catalog.campaigns().iter().map(|c| c.id.as_str()).collect();
    let mut replica = Replica {
        campaigns: catalog.campaigns(),
        delivery: Delivery::new(
            delivery_settings(config, 1),
            catalog.campaigns(),
            shard_idx,
            now_unix_s,
        ),
        windows: None,
        counters: vec![CampaignCounters::default(); ids.len()],
        live: ids
            .iter()
            .enumerate()
            .map(|(idx, id)| (*id, idx as u32))
            .collect(),
        dictionary: Vec::new(),
        history: None,
        size: window_size(config),
        hold_s: config.tracking.hold_s(),
        unknown_campaign_records: 0,
    };
    let checkpoint = read_checkpoint(dir)?;
    let position = match &checkpoint {
        Some((header, bytes)) => {
            let state = ShardState::decode(bytes)
                .map_err(|e| state_error(format!("checkpoint state unreadable: {e}")))?;
            // A checkpoint of a running generation was taken with the run's catalog, whose
            // order is the log's campaign dictionary from then on (the dictionary record
            // itself may be in a segment retention deleted).
            if header.log_position > 0 {
                replica.dictionary = state
                    .campaign_ids
                    .iter()
                    .map(|id| replica.live.get(id.as_str()).copied())
                    .collect();
            }
            if state.windows.current.is_some() {
                let (windows, _) = state
                    .resume_into(
                        ids.iter().copied(),
                        &mut replica.delivery,
                        &mut replica.counters,
                        replica.size,
                        replica.hold_s,
                    )
                    .map_err(|e| state_error(e.to_string()))?;
                replica.windows = Some(windows);
            } else {
                // A generation's first checkpoint: its windows are all earlier runs'; the
                // run record opens the current one.
                let mut scratch =
                    EventWindows::new(EventWindow::new(replica.size, replica.hold_s, 0));
                state
                    .import_into(
                        ids.iter().copied(),
                        &mut replica.delivery,
                        &mut scratch,
                        &mut replica.counters,
                    )
                    .map_err(|e| state_error(e.to_string()))?;
                replica.history = Some(state);
            }
            header.log_position
        }
        None => 0,
    };
    let skip_damaged = config.events.skip_damaged_segments;
    let summary = replay(dir, position, skip_damaged, |_, record| {
        replica.apply(record)
    })?;
    if let Some(torn) = &summary.torn_tail {
        tracing::warn!(
            segment = %torn.0.display(),
            offset = torn.1,
            bytes = torn.2,
            "event log: torn tail cut (the last commit before the crash, never acknowledged)"
        );
    }
    for (segment, offset, reason) in &summary.skipped {
        tracing::error!(
            segment = %segment.display(),
            offset,
            reason,
            "EVENT LOG DAMAGED: the rest of this segment was SKIPPED on request \
             (--skip-damaged-segments); acknowledged events in it are lost"
        );
    }
    if replica.unknown_campaign_records > 0 {
        tracing::warn!(
            records = replica.unknown_campaign_records,
            "event log: records of campaigns no longer in the catalog were left out"
        );
    }
    let mut windows = replica
        .finish_windows()
        .map_err(|e| state_error(e.to_string()))?;
    extend_past_the_log(&mut windows, config, now_unix_s);
    let state = ShardState::from_live(
        ids.iter().copied(),
        &replica.delivery,
        &windows,
        &replica.counters,
        summary.last_lsn,
    );
    Ok((state, summary))
}

/// Extends the recovered run's window over the sequences it may have signed after its last
/// durable bid record: bids answered in the last commit interval before a crash. Their events
/// were never acknowledged (an event's record follows its bid's in the same log, so a durable
/// event means a durable bid), so counting them from now on counts each once, and their spend
/// reaches the books (as spend without a reservation) instead of going missing. One second of
/// bids at `tracking.bids_per_shard_per_s_max` covers a commit interval and a slow sync many
/// times over; a longer stall turns the log unhealthy, which stops budgeted bids.
fn extend_past_the_log(windows: &mut EventWindows, config: &Config, now_unix_s: i64) {
    let current = windows.current();
    let margin = config.tracking.bids_per_shard_per_s_max.max(1);
    let last = current
        .base()
        .wrapping_add(current.n_issued())
        .wrapping_add(margin - 1);
    // A window too small for the margin keeps its reach: those events stay out of reach.
    let _ = windows.issue_recovered(last, now_unix_s);
}

/// The live objects an old shard's records are replayed on.
struct Replica<'a> {
    campaigns: &'a [crate::campaign::Campaign],
    delivery: Delivery,
    /// `None` until the run record names the window base (or the checkpoint restored it).
    windows: Option<EventWindows>,
    counters: Vec<CampaignCounters>,
    /// This run's campaign ids and indices.
    live: HashMap<&'a str, u32>,
    /// The log's campaign dictionary: log index to this run's index.
    dictionary: Vec<Option<u32>>,
    /// A generation's first checkpoint, whose windows become earlier runs' once the current
    /// window is opened.
    history: Option<ShardState>,
    size: WindowSize,
    hold_s: i64,
    unknown_campaign_records: u64,
}

impl Replica<'_> {
    fn campaign(&mut self, log_idx: u32) -> Option<u32> {
        let found = self.dictionary.get(log_idx as usize).copied().flatten();
        if found.is_none() {
            self.unknown_campaign_records += 1;
        }
        found
    }

    fn windows(&mut self) -> &mut EventWindows {
        self.windows
            .get_or_insert_with(|| EventWindows::new(EventWindow::new(self.size, self.hold_s, 0)))
    }

    fn apply(&mut self, record: &Record<'_>) {
        match record {
            Record::Run(run) => {
                let mut windows =
                    EventWindows::new(EventWindow::new(self.size, self.hold_s, run.window_base));
                if let Some(history) = &self.history {
                    if let Err(error) = windows.import_history(&history.windows) {
                        tracing::error!(%error, "event log: earlier runs' windows not restored");
                    }
                }
                self.windows = Some(windows);
            }
            Record::Campaigns(ids) => {
                self.dictionary = ids.iter().map(|id| self.live.get(id).copied()).collect();
            }
            Record::Bid(bid) => {
                let campaign = self.campaign(bid.campaign);
                let Replica {
                    delivery, counters, ..
                } = self;
                let windows = self.windows.get_or_insert_with(|| {
                    EventWindows::new(EventWindow::new(self.size, self.hold_s, 0))
                });
                match campaign {
                    Some(campaign) => books::apply_bid(
                        windows,
                        delivery,
                        counters,
                        &BidRecord { campaign, ..*bid },
                    ),
                    None => {
                        let _ = windows.issue_recovered(bid.sequence, bid.at_unix_s);
                    }
                }
            }
            Record::Event(event) => {
                let Some(campaign) = self.campaign(event.campaign) else {
                    return;
                };
                self.windows();
                let Replica {
                    delivery,
                    counters,
                    windows,
                    campaigns,
                    ..
                } = self;
                let windows = windows.as_mut().expect("opened above");
                // The replica holds every cap this shard counted; the merge sends each user's
                // to its owner in the new run.
                books::apply_event(
                    windows,
                    delivery,
                    counters,
                    campaigns,
                    &EventRecord { campaign, ..*event },
                    true,
                );
            }
            Record::Traffic(traffic) => {
                self.delivery
                    .observe_requests(traffic.requests, traffic.at_unix_s);
            }
            Record::NoBid(_) => {}
        }
    }

    fn finish_windows(&mut self) -> Result<EventWindows, crate::state::ImportError> {
        match self.windows.take() {
            Some(windows) => Ok(windows),
            None => {
                let mut windows = EventWindows::new(EventWindow::new(self.size, self.hold_s, 0));
                if let Some(history) = &self.history {
                    windows.import_history(&history.windows)?;
                }
                Ok(windows)
            }
        }
    }
}

/// Whether the event-log directory could be used: it exists and takes a file, or the nearest
/// existing directory above it does (it would be created there). For `check-config`.
pub fn check_events_dir(config: &Config) -> Result<(), String> {
    if !config.events.enabled {
        return Ok(());
    }
    let dir = events_dir(config);
    let mut probe_dir = dir.as_path();
    while !probe_dir.exists() {
        match probe_dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => probe_dir = parent,
            _ => {
                probe_dir = Path::new(".");
                break;
            }
        }
    }
    if !probe_dir.is_dir() {
        return Err(format!(
            "events.dir: {} is not a directory",
            probe_dir.display()
        ));
    }
    let probe = probe_dir.join(format!(".adshard-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("events.dir: {} is not writable: {e}", probe_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::{WindowExport, WindowsExport};

    fn state_with_windows(windows: &[(u64, u64, u64)]) -> ShardState {
        let export = |&(base, first_n, n_issued): &(u64, u64, u64)| WindowExport {
            base,
            n_issued,
            first_n,
            granularity_s: 60,
            hold_s: 3660,
            now_unix_s: 0,
            marks: Vec::new(),
            words: Vec::new(),
        };
        let mut state = ShardState::merge(
            &[ShardState::from_live(
                std::iter::empty(),
                &Delivery::new(delivery_settings(&Config::default(), 1), &[], 0, 0),
                &EventWindows::new(EventWindow::new(window_size(&Config::default()), 3660, 0)),
                &[],
                0,
            )],
            0,
            1,
        );
        state.windows = WindowsExport {
            current: None,
            history: windows.iter().map(export).collect(),
        };
        state
    }

    #[test]
    fn earlier_windows_send_each_sequence_to_the_shard_holding_its_window() {
        let states = [
            Some(state_with_windows(&[(1000, 0, 100), (u64::MAX - 9, 0, 20)])),
            None,
            Some(state_with_windows(&[(5000, 10, 50), (9000, 7, 7)])),
        ];
        let routes = EarlierWindows::new(&states);
        for (sequence, shard) in [
            (999, None),
            (1000, Some(0)),
            (1099, Some(0)),
            (1100, None),
            (u64::MAX - 10, None),
            (u64::MAX - 9, Some(0)),
            (u64::MAX, Some(0)),
            (0, Some(0)),
            (9, Some(0)),
            (10, None),
            (5009, None),
            (5010, Some(2)),
            (5049, Some(2)),
            (5050, None),
            // A window whose sequences all left its reach holds none.
            (9006, None),
            (9007, None),
        ] {
            assert_eq!(routes.shard_of(sequence), shard, "sequence {sequence}");
        }
        assert_eq!(EarlierWindows::default().shard_of(1000), None);
    }
}
