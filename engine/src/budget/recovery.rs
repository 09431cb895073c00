//! A ledger's state across a restart: what one shard owns (its counters and outstanding
//! commitments) as plain data keyed by campaign index, and the ways back into a live ledger
//! (a checkpoint imported, a commit replayed from the event log, the peers' recovered
//! liabilities). No I/O and no clock: the shard's recovery code moves the data.
//!
//! # Why the peers' view and the rounds are not exported
//!
//! They are other shards' state, and after a restart the shard count may differ. What one
//! shard owns is enough: a fresh ledger's `sent_*` are zero, so its first round carries its
//! whole recovered liability to the peers, and its `acked_*` are zero, so rule 2 refuses its
//! commits beyond the allowance until a round is acknowledged.
//!
//! That alone does not keep the bound of the module doc across a restart: rule 2 bounds what
//! a peer can hold beyond this shard's view only from the peer's next commit on, and a peer
//! that recovered a liability over the allowance and has not committed since holds more than
//! the allowance that this shard cannot see until the peer's first round arrives. Meanwhile
//! this shard can commit an allowance per acknowledged round of its own. When every shard
//! recovers at once (one process), [`BudgetLedger::import_peer`] on every shard with every
//! other shard's recovered export, then [`BudgetLedger::settle_recovered`], start them as if
//! all had exchanged and acknowledged one round: the bound holds from the first commit.

use hashbrown::HashMap;

use super::{mark_dirty, BudgetLedger, BUCKET_S, SECONDS_PER_DAY};

/// One campaign's own counters in a [`LedgerExport`], in micro-units of its currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnTotals {
    pub campaign_idx: u32,
    pub committed_micros: i64,
    pub released_micros: i64,
    pub spent_micros: i64,
    /// The same for bids issued on the export's `day`.
    pub day_committed_micros: i64,
    pub day_released_micros: i64,
    pub day_spent_micros: i64,
}

impl OwnTotals {
    fn is_zero(&self) -> bool {
        OwnTotals {
            campaign_idx: 0,
            ..*self
        } == OwnTotals::default()
    }

    fn add_totals(&mut self, other: &OwnTotals) {
        self.committed_micros = self.committed_micros.saturating_add(other.committed_micros);
        self.released_micros = self.released_micros.saturating_add(other.released_micros);
        self.spent_micros = self.spent_micros.saturating_add(other.spent_micros);
    }

    fn add_day(&mut self, other: &OwnTotals) {
        self.day_committed_micros = self
            .day_committed_micros
            .saturating_add(other.day_committed_micros);
        self.day_released_micros = self
            .day_released_micros
            .saturating_add(other.day_released_micros);
        self.day_spent_micros = self.day_spent_micros.saturating_add(other.day_spent_micros);
    }

    fn clear_day(&mut self) {
        self.day_committed_micros = 0;
        self.day_released_micros = 0;
        self.day_spent_micros = 0;
    }
}

/// A commitment still waiting for its spend event or its expiry: the amount of one campaign
/// in the reservation bucket that starts at `bucket_start_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutstandingExport {
    pub bucket_start_s: i64,
    pub campaign_idx: u32,
    pub amount_micros: i64,
}

/// What one shard's ledger owns, as plain data: per campaign (only those with a non-zero
/// counter) the totals and today's, the UTC day "today" is, and every outstanding commitment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerExport {
    /// The UTC day (`unix_s / 86400`) the `day_*` counters are for.
    pub day: i64,
    pub campaigns: Vec<OwnTotals>,
    pub outstanding: Vec<OutstandingExport>,
}

impl LedgerExport {
    /// An empty export whose daily counters are for `day`.
    pub fn new(day: i64) -> LedgerExport {
        LedgerExport {
            day,
            campaigns: Vec::new(),
            outstanding: Vec::new(),
        }
    }

    /// Adds `other` into this export, campaign `i` of `other` as `map(i)` (`None`: dropped),
    /// with the day rule of [`BudgetLedger::import_own`]: the later day wins, and the daily
    /// counters of an earlier day are not today's. Merging old shards' exports this way and
    /// importing the result gives the ledger that importing each would give.
    pub fn add(&mut self, other: &LedgerExport, map: impl Fn(u32) -> Option<u32>) {
        if other.day > self.day {
            self.day = other.day;
            self.campaigns.iter_mut().for_each(OwnTotals::clear_day);
        }
        let today = other.day == self.day;
        let mut position: HashMap<u32, usize> = self
            .campaigns
            .iter()
            .enumerate()
            .map(|(position, totals)| (totals.campaign_idx, position))
            .collect();
        for totals in &other.campaigns {
            let Some(campaign_idx) = map(totals.campaign_idx) else {
                continue;
            };
            let position = *position.entry(campaign_idx).or_insert_with(|| {
                self.campaigns.push(OwnTotals {
                    campaign_idx,
                    ..OwnTotals::default()
                });
                self.campaigns.len() - 1
            });
            let entry = &mut self.campaigns[position];
            entry.add_totals(totals);
            if today {
                entry.add_day(totals);
            }
        }
        self.outstanding
            .extend(other.outstanding.iter().filter_map(|outstanding| {
                Some(OutstandingExport {
                    campaign_idx: map(outstanding.campaign_idx)?,
                    ..*outstanding
                })
            }));
    }
}

impl BudgetLedger {
    /// This shard's own part of the ledger: per campaign its counters (total and today's),
    /// the day, and every outstanding commitment. Not the peers' view, not the rounds.
    pub fn export_own(&self) -> LedgerExport {
        let campaigns = self
            .campaigns
            .iter()
            .enumerate()
            .map(|(idx, entry)| OwnTotals {
                campaign_idx: idx as u32,
                committed_micros: entry.committed,
                released_micros: entry.released,
                spent_micros: entry.spent,
                day_committed_micros: entry.day_committed,
                day_released_micros: entry.day_released,
                day_spent_micros: entry.day_spent,
            })
            .filter(|totals| !totals.is_zero())
            .collect();
        let mut outstanding: Vec<OutstandingExport> = self
            .buckets
            .iter()
            .filter(|bucket| bucket.start_s != i64::MIN)
            .flat_map(|bucket| {
                bucket
                    .outstanding
                    .iter()
                    .filter(|(_, &amount)| amount > 0)
                    .map(|(&campaign_idx, &amount_micros)| OutstandingExport {
                        bucket_start_s: bucket.start_s,
                        campaign_idx,
                        amount_micros,
                    })
            })
            .collect();
        // A stable order: the same ledger always encodes to the same bytes.
        outstanding.sort_unstable_by_key(|o| (o.bucket_start_s, o.campaign_idx));
        LedgerExport {
            day: self.day,
            campaigns,
            outstanding,
        }
    }

    /// Adds an export into this ledger's own counters (so several old shards' exports can be
    /// imported into one ledger), campaign `i` of the export as `map(i)` (`None`: the campaign
    /// is gone, skipped). An export of a later day moves the ledger to that day first; the
    /// daily counters of an earlier day are not added to today's. Outstanding commitments go
    /// back into their buckets (the next [`BudgetLedger::expire`] releases the expired ones).
    /// Every campaign touched is marked changed, so the next round carries it to the peers.
    pub fn import_own(&mut self, export: &LedgerExport, map: impl Fn(u32) -> Option<u32>) {
        if export.day > self.day {
            self.roll_day(export.day.saturating_mul(SECONDS_PER_DAY));
        }
        let today = export.day == self.day;
        for totals in &export.campaigns {
            let Some(campaign_idx) = map(totals.campaign_idx) else {
                continue;
            };
            let Some(entry) = self.campaigns.get_mut(campaign_idx as usize) else {
                continue;
            };
            entry.committed = entry.committed.saturating_add(totals.committed_micros);
            entry.released = entry.released.saturating_add(totals.released_micros);
            entry.spent = entry.spent.saturating_add(totals.spent_micros);
            if today {
                entry.day_committed = entry
                    .day_committed
                    .saturating_add(totals.day_committed_micros);
                entry.day_released = entry
                    .day_released
                    .saturating_add(totals.day_released_micros);
                entry.day_spent = entry.day_spent.saturating_add(totals.day_spent_micros);
            }
            mark_dirty(entry, campaign_idx, &mut self.dirty);
        }
        for outstanding in &export.outstanding {
            let Some(campaign_idx) = map(outstanding.campaign_idx) else {
                continue;
            };
            self.hold_outstanding(
                campaign_idx,
                outstanding.bucket_start_s,
                outstanding.amount_micros,
            );
        }
    }

    /// A commit replayed from the event log: the bid was allowed when it was made, so no rule
    /// is checked. Moves the ledger to the bid's day if it is a later one.
    pub fn commit_recovered(&mut self, campaign_idx: u32, amount_micros: i64, issued_unix_s: i64) {
        self.roll_day(issued_unix_s);
        if !self.is_limited(campaign_idx) {
            return;
        }
        let amount_micros = amount_micros.max(0);
        let today = issued_unix_s.div_euclid(SECONDS_PER_DAY) == self.day;
        let entry = &mut self.campaigns[campaign_idx as usize];
        entry.committed = entry.committed.saturating_add(amount_micros);
        if today {
            entry.day_committed = entry.day_committed.saturating_add(amount_micros);
        }
        mark_dirty(entry, campaign_idx, &mut self.dirty);
        self.hold_outstanding(campaign_idx, issued_unix_s, amount_micros);
    }

    /// Adds a peer's recovered own counters to this shard's view of the others, as if the
    /// peer's round carrying them had been applied. Call it with every other shard's recovered
    /// export, then [`BudgetLedger::settle_recovered`], on every shard (see the module doc).
    pub fn import_peer(&mut self, export: &LedgerExport, map: impl Fn(u32) -> Option<u32>) {
        if export.day > self.day {
            self.roll_day(export.day.saturating_mul(SECONDS_PER_DAY));
        }
        let today = export.day == self.day;
        for totals in &export.campaigns {
            let Some(entry) = map(totals.campaign_idx)
                .and_then(|campaign_idx| self.campaigns.get_mut(campaign_idx as usize))
            else {
                continue;
            };
            entry.others_liability = entry.others_liability.saturating_add(
                totals
                    .committed_micros
                    .saturating_sub(totals.released_micros),
            );
            if today {
                entry.others_day_liability = entry.others_day_liability.saturating_add(
                    totals
                        .day_committed_micros
                        .saturating_sub(totals.day_released_micros),
                );
                entry.others_day_spent = entry
                    .others_day_spent
                    .saturating_add(totals.day_spent_micros);
            }
        }
    }

    /// Counts everything this ledger owns as sent to every peer and acknowledged by all, as
    /// if one round had carried it: the peers learnt it by [`BudgetLedger::import_peer`]. Only
    /// on a ledger that has sent no round yet.
    pub fn settle_recovered(&mut self) {
        debug_assert!(
            self.round == 0 && self.acks_pending == 0,
            "rounds already sent"
        );
        for entry in &mut self.campaigns {
            entry.sent_committed = entry.committed;
            entry.sent_released = entry.released;
            entry.sent_day_committed = entry.day_committed;
            entry.sent_day_released = entry.day_released;
            entry.sent_day_spent = entry.day_spent;
            entry.acked_committed = entry.committed;
            entry.acked_day_committed = entry.day_committed;
            entry.dirty = false;
        }
        self.dirty.clear();
    }

    /// Holds `amount_micros` of the campaign in the bucket of `issued_unix_s`. Where the ring
    /// slot holds an older bucket, that one is released (as a commit does); where it holds a
    /// newer one, the recovered commitment is the one that expired first and is released now.
    fn hold_outstanding(&mut self, campaign_idx: u32, issued_unix_s: i64, amount_micros: i64) {
        if amount_micros <= 0 || campaign_idx as usize >= self.campaigns.len() {
            return;
        }
        let (slot, start_s) = self.bucket_slot(issued_unix_s);
        let held_s = self.buckets[slot].start_s;
        if held_s != i64::MIN && held_s > start_s {
            let today = start_s.div_euclid(SECONDS_PER_DAY) == self.day;
            let entry = &mut self.campaigns[campaign_idx as usize];
            entry.released = entry.released.saturating_add(amount_micros);
            if today {
                entry.day_released = entry.day_released.saturating_add(amount_micros);
            }
            mark_dirty(entry, campaign_idx, &mut self.dirty);
            self.counters.released_on_expiry_micros = self
                .counters
                .released_on_expiry_micros
                .saturating_add(amount_micros);
            return;
        }
        debug_assert_eq!(start_s.rem_euclid(BUCKET_S), 0);
        let outstanding = self
            .bucket_mut(issued_unix_s)
            .outstanding
            .entry(campaign_idx);
        let held = outstanding.or_insert(0);
        *held = held.saturating_add(amount_micros);
    }
}

#[cfg(test)]
mod tests;
