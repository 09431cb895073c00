//! `adshard-events summary`: spend and counts per campaign and UTC day, over every shard of
//! the current generation, from what the log says was counted.
//!
//! The log holds only counted events (a repeat is never logged), so summing its records gives
//! the counts: wins, billing notices, clicks, losses and their spend one for one; bids from the
//! bid records. An impression is the pixel or the billing notice, whichever came first for its
//! bid: every pixel record is one (a pixel after the billing notice is a repeat, never logged),
//! and a billing record is one unless a pixel record of the same bid (shard and sequence) came
//! before it.
//!
//! A shard with a checkpoint: the checkpoint's counters are the totals up to its log position
//! and the records after it add to them ("from checkpoint + N records"), read as strictly as
//! recovery reads them; the records up to the position that retention kept are read only to
//! learn the dictionary in force and which bids already had their pixel. (A billing notice
//! after the checkpoint whose pixel is only in a segment retention deleted counts one
//! impression too many: the log alone cannot tell; the checkpoint's event windows could.) A
//! shard without a checkpoint is summed from its log alone ("log only"). Days are those of the
//! records' `at_unix_s` (when the event was counted, when the bid left), in UTC; the
//! checkpoint's part has no day and is shown on its own row.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use adshard::eventlog::read::{read_checkpoint, replay};
use adshard::eventlog::{EventRecord, Lsn, Record};
use adshard::stats::CampaignCounters;
use adshard::tracking::EventKind;
use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::target::{LogTarget, ShardDir};
use super::{format_day, utc_day, Dictionary};

/// Most bids per shard whose pixel was logged and whose billing notice has not been (yet): the
/// memory of which billing notices are not impressions. Far beyond the bids of a shard's
/// dedupe window (`tracking.bids_per_shard_per_s_max` x TTL); a log that needs more is refused
/// rather than summed wrong.
pub const PIXELS_PENDING_MAX: usize = 1 << 26;

/// Counts and spend of one campaign over some records (or a checkpoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub bids: u64,
    pub wins: u64,
    /// Pixel or billing notice, the first per bid.
    pub impressions: u64,
    pub billings: u64,
    pub clicks: u64,
    pub losses: u64,
    /// In micro-units of the campaign's currency.
    pub spend_micros: i64,
}

impl Totals {
    /// Adds `other` (saturating: a checkpoint is outside input).
    pub fn add(&mut self, other: &Totals) {
        self.bids = self.bids.saturating_add(other.bids);
        self.wins = self.wins.saturating_add(other.wins);
        self.impressions = self.impressions.saturating_add(other.impressions);
        self.billings = self.billings.saturating_add(other.billings);
        self.clicks = self.clicks.saturating_add(other.clicks);
        self.losses = self.losses.saturating_add(other.losses);
        self.spend_micros = self.spend_micros.saturating_add(other.spend_micros);
    }

    /// Counts an event record; `impression` says whether it is its bid's first impression.
    fn count_event(&mut self, event: &EventRecord, impression: bool) {
        match event.kind {
            EventKind::Win => self.wins += 1,
            EventKind::Billing => self.billings += 1,
            EventKind::Click => self.clicks += 1,
            EventKind::Loss => self.losses += 1,
            EventKind::Impression => {}
        }
        self.impressions += u64::from(impression);
        self.spend_micros = self.spend_micros.saturating_add(event.spend_micros);
    }

    /// As a JSON object.
    pub fn to_json(self) -> Value {
        json!({
            "bids": self.bids,
            "wins": self.wins,
            "impressions": self.impressions,
            "billings": self.billings,
            "clicks": self.clicks,
            "losses": self.losses,
            "spend_micros": self.spend_micros,
        })
    }
}

impl From<&CampaignCounters> for Totals {
    fn from(counters: &CampaignCounters) -> Totals {
        Totals {
            bids: counters.bids,
            wins: counters.wins,
            impressions: counters.impressions,
            billings: counters.billings,
            clicks: counters.clicks,
            losses: counters.losses,
            spend_micros: counters.spend_micros,
        }
    }
}

/// One campaign's summary: its checkpointed part and its records by UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignSummary {
    /// The sum of the shards' checkpoints, `None` when no shard had one with this campaign.
    pub checkpoint: Option<Totals>,
    /// By UTC day (days since the epoch), from the records after the checkpoints.
    pub days: BTreeMap<i64, Totals>,
}

impl CampaignSummary {
    /// Checkpoint plus every day.
    pub fn total(&self) -> Totals {
        let mut total = self.checkpoint.unwrap_or_default();
        for day in self.days.values() {
            total.add(day);
        }
        total
    }
}

/// Where one shard's numbers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSource {
    pub dir: PathBuf,
    pub shard_idx: Option<usize>,
    /// The checkpoint's log position, when the shard has one.
    pub checkpoint_lsn: Option<Lsn>,
    /// Records summed (after the checkpoint, if any).
    pub records: u64,
    pub last_lsn: Lsn,
    /// Records naming a campaign index no dictionary before them defines.
    pub unresolved: u64,
    /// A torn tail cut off: (segment, offset, bytes).
    pub torn_tail: Option<(PathBuf, usize, usize)>,
}

impl ShardSource {
    /// "from checkpoint at lsn P + N records" or "log only, N records".
    pub fn describe(&self) -> String {
        let mut text = match self.checkpoint_lsn {
            Some(lsn) => format!("from checkpoint at lsn {lsn} + {} records", self.records),
            None => format!("log only, {} records", self.records),
        };
        if let Some((path, offset, bytes)) = &self.torn_tail {
            text.push_str(&format!(
                "; torn tail cut at offset {offset} of {} ({bytes} bytes)",
                path.display()
            ));
        }
        if self.unresolved > 0 {
            text.push_str(&format!(
                "; {} records name a campaign no dictionary defines",
                self.unresolved
            ));
        }
        text
    }
}

/// The summary of a log: where each shard's numbers come from, and per campaign id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub generation: Option<u64>,
    pub shards: Vec<ShardSource>,
    pub campaigns: BTreeMap<String, CampaignSummary>,
}

/// How a checkpoint's encoded state gives its counters per campaign id.
pub type CheckpointDecoder<'a> = &'a dyn Fn(&[u8]) -> anyhow::Result<Vec<(String, Totals)>>;

/// Summarises every shard `target` names (a segment file alone cannot be summed: its shard's
/// checkpoint and other segments are needed).
pub fn summarize(target: &LogTarget) -> anyhow::Result<Summary> {
    summarize_with(target, &checkpoint_totals)
}

/// [`summarize`] with checkpoints decoded by `decode` (tests give their own states).
pub fn summarize_with(
    target: &LogTarget,
    decode: CheckpointDecoder<'_>,
) -> anyhow::Result<Summary> {
    if let LogTarget::Segment(path) = target {
        bail!(
            "{}: summary reads a shard directory or the log directory, not one segment",
            path.display()
        );
    }
    let mut summary = Summary {
        generation: target.generation(),
        ..Summary::default()
    };
    for shard in target.shard_dirs() {
        let source = summarize_shard(&shard, decode, &mut summary.campaigns)
            .with_context(|| format!("summing {}", shard.path.display()))?;
        summary.shards.push(source);
    }
    Ok(summary)
}

fn summarize_shard(
    shard: &ShardDir,
    decode: CheckpointDecoder<'_>,
    campaigns: &mut BTreeMap<String, CampaignSummary>,
) -> anyhow::Result<ShardSource> {
    let checkpoint = read_checkpoint(&shard.path)?;
    let checkpoint_lsn = checkpoint.as_ref().map(|(header, _)| header.log_position);
    let mut checkpoint_ids = Vec::new();
    if let Some((_, state)) = &checkpoint {
        for (id, totals) in decode(state)? {
            checkpoint_ids.push(id.clone());
            let base = campaigns
                .entry(id)
                .or_default()
                .checkpoint
                .get_or_insert_with(Totals::default);
            base.add(&totals);
        }
    }
    let counted_after = checkpoint_lsn.unwrap_or(0);
    let mut tally = ShardTally::new(shard.shard_idx, counted_after);
    if counted_after > 0 {
        // A checkpoint taken during a run lists the campaigns in the order the run's records
        // index them, even when retention deleted the segment with the dictionary record
        // (recovery reads it the same way).
        tally.dictionary = Dictionary::from_ids(checkpoint_ids);
    }
    let mut failure = None;
    if counted_after > 0 {
        // The records the checkpoint holds that retention kept: read only for the dictionary
        // and the pixels in force at the checkpoint, and, as recovery does not read them,
        // best effort (damage there is `verify`'s to report).
        let _ = replay(&shard.path, 0, true, |lsn, record| {
            if lsn <= counted_after && failure.is_none() {
                failure = tally.record(lsn, record, campaigns).err();
            }
        });
    }
    // From the checkpoint on, as strictly as recovery reads it.
    let read = replay(&shard.path, counted_after, false, |lsn, record| {
        if failure.is_none() {
            failure = tally.record(lsn, record, campaigns).err();
        }
    })?;
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(ShardSource {
        dir: shard.path.clone(),
        shard_idx: shard.shard_idx,
        checkpoint_lsn,
        records: tally.records,
        last_lsn: read.last_lsn,
        unresolved: tally.unresolved,
        torn_tail: read.torn_tail,
    })
}

/// The per-campaign counters of a checkpoint's encoded shard state.
fn checkpoint_totals(state: &[u8]) -> anyhow::Result<Vec<(String, Totals)>> {
    let state = adshard::state::ShardState::decode(state)
        .map_err(|e| anyhow::anyhow!("checkpoint state unreadable: {e}"))?;
    Ok(totals_from_counters(&state.campaign_ids, &state.counters))
}

/// Pairs a checkpoint's campaign ids with their counters.
pub fn totals_from_counters(
    campaign_ids: &[String],
    counters: &[CampaignCounters],
) -> Vec<(String, Totals)> {
    campaign_ids
        .iter()
        .zip(counters)
        .map(|(id, counters)| (id.clone(), Totals::from(counters)))
        .collect()
}

/// One shard's reading state: its dictionary, which bids had their pixel, what was summed.
#[derive(Debug)]
pub struct ShardTally {
    shard_idx: Option<usize>,
    /// Records up to this lsn are in the checkpoint: read, not summed.
    counted_after: Lsn,
    dictionary: Dictionary,
    /// Sequences of bids whose pixel record was read and billing record not yet.
    pixels: HashSet<u64>,
    pub records: u64,
    pub unresolved: u64,
}

impl ShardTally {
    /// A shard's tally that sums the records after `counted_after` (0: all).
    pub fn new(shard_idx: Option<usize>, counted_after: Lsn) -> ShardTally {
        ShardTally {
            shard_idx,
            counted_after,
            dictionary: Dictionary::default(),
            pixels: HashSet::new(),
            records: 0,
            unresolved: 0,
        }
    }

    /// Reads the next record of the shard's log into `campaigns`.
    pub fn record(
        &mut self,
        lsn: Lsn,
        record: &Record<'_>,
        campaigns: &mut BTreeMap<String, CampaignSummary>,
    ) -> anyhow::Result<()> {
        self.dictionary.observe(record);
        let counted = lsn > self.counted_after;
        let (campaign_idx, at_unix_s, totals) = match record {
            Record::Bid(bid) => (
                bid.campaign,
                bid.at_unix_s,
                Totals {
                    bids: 1,
                    ..Totals::default()
                },
            ),
            Record::Event(event) => {
                let mut totals = Totals::default();
                let impression = self.first_impression(event)?;
                totals.count_event(event, impression);
                (event.campaign, event.at_unix_s, totals)
            }
            _ => return Ok(()),
        };
        if !counted {
            return Ok(());
        }
        self.records += 1;
        let id = match self.dictionary.resolve(campaign_idx) {
            Some(id) => id.to_owned(),
            None => {
                self.unresolved += 1;
                let shard = self.shard_idx.map_or("?".to_owned(), |idx| idx.to_string());
                format!("?shard-{shard}/campaign-{campaign_idx}")
            }
        };
        let campaign = campaigns.entry(id).or_default();
        campaign
            .days
            .entry(utc_day(at_unix_s))
            .or_default()
            .add(&totals);
        Ok(())
    }

    /// Whether the event is its bid's first impression, remembering pixels for the billing
    /// notices that follow them.
    fn first_impression(&mut self, event: &EventRecord) -> anyhow::Result<bool> {
        Ok(match event.kind {
            EventKind::Impression => {
                if self.pixels.len() >= PIXELS_PENDING_MAX {
                    bail!(
                        "more than {PIXELS_PENDING_MAX} bids with a pixel and no billing notice \
                         yet: too many to tell billing notices from impressions"
                    );
                }
                self.pixels.insert(event.sequence);
                true
            }
            EventKind::Billing => !self.pixels.remove(&event.sequence),
            _ => false,
        })
    }
}

impl Summary {
    /// Per campaign, checkpoint plus records.
    pub fn totals(&self) -> BTreeMap<&str, Totals> {
        self.campaigns
            .iter()
            .map(|(id, campaign)| (id.as_str(), campaign.total()))
            .collect()
    }

    /// The summary as one JSON document (`--json`).
    pub fn to_json(&self) -> Value {
        let shards: Vec<Value> = self
            .shards
            .iter()
            .map(|shard| {
                json!({
                    "shard": shard.shard_idx,
                    "dir": shard.dir.display().to_string(),
                    "source": if shard.checkpoint_lsn.is_some() { "checkpoint" } else { "log" },
                    "checkpoint_lsn": shard.checkpoint_lsn,
                    "records": shard.records,
                    "last_lsn": shard.last_lsn,
                    "unresolved_records": shard.unresolved,
                    "describe": shard.describe(),
                    "torn_tail": shard.torn_tail.as_ref().map(|(path, offset, bytes)| json!({
                        "file": path.display().to_string(), "offset": offset, "bytes": bytes,
                    })),
                })
            })
            .collect();
        let campaigns: Vec<Value> = self
            .campaigns
            .iter()
            .map(|(id, campaign)| {
                let days: Vec<Value> = campaign
                    .days
                    .iter()
                    .map(|(day, totals)| {
                        let mut value = totals.to_json();
                        value["day"] = json!(format_day(*day));
                        value
                    })
                    .collect();
                json!({
                    "id": id,
                    "total": campaign.total().to_json(),
                    "checkpoint": campaign.checkpoint.map(Totals::to_json),
                    "days": days,
                })
            })
            .collect();
        json!({ "generation": self.generation, "shards": shards, "campaigns": campaigns })
    }

    /// The summary as text: a line per shard, then a table with a row per campaign and day,
    /// its checkpoint row and its total.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        if let Some(generation) = self.generation {
            text.push_str(&format!("generation {generation}\n"));
        }
        for shard in &self.shards {
            let name = shard.shard_idx.map_or_else(
                || shard.dir.display().to_string(),
                |idx| format!("shard {idx}"),
            );
            text.push_str(&format!("{name}: {}\n", shard.describe()));
        }
        text.push_str(&format!(
            "{:<24} {:<10} {:>10} {:>10} {:>11} {:>10} {:>10} {:>10} {:>16}\n",
            "campaign",
            "day",
            "bids",
            "wins",
            "impressions",
            "billings",
            "clicks",
            "losses",
            "spend_micros"
        ));
        for (id, campaign) in &self.campaigns {
            if let Some(checkpoint) = &campaign.checkpoint {
                text.push_str(&table_row(id, "checkpoint", checkpoint));
            }
            for (day, totals) in &campaign.days {
                text.push_str(&table_row(id, &format_day(*day), totals));
            }
            text.push_str(&table_row(id, "total", &campaign.total()));
        }
        text
    }
}

fn table_row(id: &str, day: &str, t: &Totals) -> String {
    format!(
        "{id:<24} {day:<10} {:>10} {:>10} {:>11} {:>10} {:>10} {:>10} {:>16}\n",
        t.bids, t.wins, t.impressions, t.billings, t.clicks, t.losses, t.spend_micros
    )
}

#[cfg(test)]
mod tests {
    use adshard::eventlog::BidRecord;

    use super::*;

    const DAY0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn event(
        kind: EventKind,
        sequence: u64,
        campaign: u32,
        spend_micros: i64,
        at: i64,
    ) -> Record<'static> {
        Record::Event(EventRecord {
            kind,
            sequence,
            campaign,
            spend_micros,
            committed_micros: 5_000,
            issued_unix_s: at - 1,
            user_key: 1,
            spend_on: adshard::campaign::SpendOn::Impression,
            loss_reason: adshard::tracking::LossReason::Unknown,
            at_unix_s: at,
        })
    }

    fn bid(sequence: u64, campaign: u32, at: i64) -> Record<'static> {
        Record::Bid(BidRecord {
            sequence,
            campaign,
            committed_micros: 5_000,
            at_unix_s: at,
        })
    }

    fn sum(records: &[Record<'_>], counted_after: Lsn) -> BTreeMap<String, CampaignSummary> {
        let mut campaigns = BTreeMap::new();
        let mut tally = ShardTally::new(Some(0), counted_after);
        for (i, record) in records.iter().enumerate() {
            tally.record(i as Lsn + 1, record, &mut campaigns).unwrap();
        }
        campaigns
    }

    #[test]
    fn an_impression_is_the_pixel_or_the_billing_notice_whichever_came_first() {
        let records = [
            Record::Campaigns(vec!["a"]),
            bid(1, 0, DAY0),
            bid(2, 0, DAY0),
            bid(3, 0, DAY0),
            // Bid 1: pixel, then billing: one impression, one billing, billed once.
            event(EventKind::Impression, 1, 0, 0, DAY0 + 1),
            event(EventKind::Billing, 1, 0, 2_000, DAY0 + 2),
            // Bid 2: billing alone (its pixel would be a repeat, never logged).
            event(EventKind::Billing, 2, 0, 3_000, DAY0 + 3),
            // Bid 3: pixel only, plus a win and a click.
            event(EventKind::Impression, 3, 0, 0, DAY0 + 4),
            event(EventKind::Win, 3, 0, 0, DAY0 + 5),
            event(EventKind::Click, 3, 0, 0, DAY0 + 6),
        ];
        let campaigns = sum(&records, 0);
        assert_eq!(
            campaigns["a"].total(),
            Totals {
                bids: 3,
                wins: 1,
                impressions: 3,
                billings: 2,
                clicks: 1,
                losses: 0,
                spend_micros: 5_000,
            }
        );
    }

    #[test]
    fn days_are_utc_and_dictionaries_follow_the_log() {
        let records = [
            Record::Campaigns(vec!["a", "b"]),
            event(EventKind::Win, 1, 1, 1_000, DAY0 - 1),
            event(EventKind::Win, 2, 1, 1_000, DAY0),
            Record::Campaigns(vec!["b", "a"]),
            event(EventKind::Win, 3, 0, 1_000, DAY0 + 86_399),
            event(EventKind::Win, 4, 5, 1_000, DAY0),
        ];
        let campaigns = sum(&records, 0);
        let b = &campaigns["b"];
        assert_eq!(b.days.len(), 2);
        assert_eq!(b.days[&(utc_day(DAY0) - 1)].wins, 1);
        assert_eq!(b.days[&utc_day(DAY0)].wins, 2);
        assert_eq!(b.total().spend_micros, 3_000);
        assert!(!campaigns.contains_key("a"));
        assert_eq!(campaigns["?shard-0/campaign-5"].total().wins, 1);
    }

    #[test]
    fn records_the_checkpoint_holds_are_not_summed_but_their_pixels_are_remembered() {
        let records = [
            Record::Campaigns(vec!["a"]),
            event(EventKind::Impression, 1, 0, 0, DAY0),
            // The checkpoint is at lsn 2: only what follows is summed.
            event(EventKind::Billing, 1, 0, 2_000, DAY0 + 1),
            event(EventKind::Billing, 2, 0, 2_000, DAY0 + 1),
        ];
        let total = sum(&records, 2)["a"].total();
        assert_eq!(
            (total.impressions, total.billings, total.spend_micros),
            (1, 2, 4_000)
        );
    }

    #[test]
    fn checkpoint_counters_pair_with_their_ids() {
        let counters = CampaignCounters {
            bids: 4,
            wins: 3,
            impressions: 2,
            billings: 1,
            spend_micros: 77,
            ..CampaignCounters::default()
        };
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let totals = totals_from_counters(&ids, &[counters, CampaignCounters::default()]);
        assert_eq!(totals[0].0, "a");
        assert_eq!(totals[0].1.spend_micros, 77);
        assert_eq!(totals[1].1, Totals::default());
    }
}
