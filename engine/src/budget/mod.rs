//! Budgets across shards: a shard may bid only with money it has reserved, and the shards tell
//! each other what they reserved in batched deltas, so a campaign's total and daily budgets hold
//! across every shard within a configured, proven bound, with no lock or shared memory.
//!
//! # The model
//!
//! Each shard keeps a [`BudgetLedger`] for every campaign of its catalog (same indices on every
//! shard, since every shard builds its catalog from the same load). A bid *commits* the most its
//! event can cost (the clearing price per impression, converted to the campaign's currency)
//! before the response leaves. The commitment is held in a per-second bucket until either
//!
//! - the spend event (impression or win, per campaign) arrives: it is *realised*, the spend
//!   (never above the commitment: the exchange's reported price is capped at what we signed)
//!   stays, the difference is released; or
//! - the exchange's loss notice arrives first: nothing can be spent on a lost bid, so the
//!   commitment is released whole at once ([`BudgetLedger::release`]); the shard's event
//!   window lets only the first of the two resolve a bid; or
//! - the bid's tracking token can no longer be accepted (`token_ttl_s` plus the clock skew the
//!   verifier allows): nothing can be spent on it any more, so it is released whole.
//!
//! The spend event of a bid always reaches the shard that committed it: the token names that
//! shard and events are routed to it. A shard's *liability* for a campaign is
//! `committed - released`: everything it spent plus everything it may still spend.
//!
//! # The exchange
//!
//! Every `exchange_interval_ms` a shard sends the campaigns that changed since its last round
//! to every peer as deltas (`committed`, `released`, and the same for today), and waits for all
//! peers to acknowledge the round before it sends the next one. A peer applies a round to its
//! view of the others before it acknowledges it. A shard may commit `p` for a campaign only if
//!
//! 1. `own liability + p + view of the others' liability <= budget` (total, and today's), and
//! 2. `committed + p - acknowledged <= allowance`, where `acknowledged` is its `committed` as
//!    of the last round every peer acknowledged (total, and today's).
//!
//! # The bound
//!
//! Claim: the spend of a campaign over all `n` shards never exceeds `budget + (n - 1) *
//! allowance`.
//!
//! Proof. Spend is part of liability and is never released, so spend <= the sum of the shards'
//! liabilities, and liabilities grow only by commits. Take the last commit of the campaign
//! anywhere, by shard `i` at time `t`; after `t` every liability can only fall, so it is enough
//! to bound `L(t) = sum over j of L_j(t)`. Rule 1 at `t` gives `L_i(t) + sum over j != i of
//! V_i(j) <= budget`, where `V_i(j)` is `i`'s view of `j`: the committed and released totals of
//! the rounds of `j` that `i` has applied. Peer `j`'s releases only lower `L_j`, and its
//! commits that `i` has not applied are commits of rounds `i` has not acknowledged, so
//! `L_j(t) - V_i(j) <= committed_j(t) - acknowledged_j(t) <= allowance` by rule 2 (which `j`
//! keeps at every commit, and `acknowledged_j` never falls). Summing over the `n - 1` peers:
//! `L(t) <= budget + (n - 1) * allowance`. The same argument holds within a day for the
//! daily budget, with the daily counters (which every shard resets at the same UTC midnight
//! and which only count bids issued that day). With one shard the bound is the budget itself.
//!
//! What the bound assumes, and is counted when it fails: a spend event is counted once (the
//! shard's event window judges every live token's events exactly, and a shard refuses to bid
//! rather than let it slide over one, see `tracking::dedupe`); a loss notice releases a
//! commitment only if its bid's spend event has not been and will not be charged (the window
//! judges the loss on the spend event's bit, so only the first of the two moves money); and a
//! spend event that arrives after its commitment expired (impossible unless the clock jumps)
//! is counted as spend without a reservation (`budget_unreserved_spend`).
//!
//! A campaign out of budget stops bidding on every shard within one exchange round: its spend
//! reaches the others' views in the next round.
//!
//! Days are UTC days (`unix_s / 86400`); a commitment belongs to the day its bid was issued.
//!
//! Across a restart a shard's own part of the ledger (counters and outstanding commitments)
//! is exported and imported as plain data (`recovery`), and log records replay as
//! [`BudgetLedger::commit_recovered`]; `recovery`'s doc says what keeps the bound then.

use hashbrown::HashMap;

mod recovery;

pub use recovery::{LedgerExport, OutstandingExport, OwnTotals};

/// Seconds in a (UTC) day; daily budgets reset when `unix_s / SECONDS_PER_DAY` changes.
pub const SECONDS_PER_DAY: i64 = 86_400;
/// Width of a reservation bucket. Reservations are released a bucket at a time, so a bid's
/// commitment is held up to this much longer than its token lives; a minute keeps the number
/// of buckets small (ttl / 60) at a cost of at most a minute of held budget. Divides a day, so
/// no bucket straddles midnight.
pub const BUCKET_S: i64 = 60;
const _: () = assert!(SECONDS_PER_DAY % BUCKET_S == 0);
/// Longest hold accepted (a token TTL of 30 days, the config's limit, plus skew): bounds the
/// number of buckets.
pub const HOLD_S_MAX: i64 = 30 * SECONDS_PER_DAY + 3600;

/// The budget of one campaign, in micro-units of its currency. `None`: no limit of that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub total_micros: Option<i64>,
    pub daily_micros: Option<i64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        self.total_micros.is_none() && self.daily_micros.is_none()
    }
}

/// How the ledger behaves; from the `[budget]` config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerSettings {
    /// What one shard may commit per campaign beyond what every peer has acknowledged: the
    /// overspend bound is `(shards - 1) *` this.
    pub allowance_micros: i64,
    /// How long a commitment is held when no spend event comes: the token TTL plus the clock
    /// skew the verifier accepts.
    pub hold_s: i64,
    /// Peers (shards other than this one). 0: nothing to wait for.
    pub n_peers: usize,
}

/// One campaign's changes since the last round, in a round message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delta {
    pub campaign_idx: u32,
    pub committed_micros: i64,
    pub released_micros: i64,
    /// The same for bids issued on the round's day.
    pub day_committed_micros: i64,
    pub day_released_micros: i64,
    /// Spend realised today (part of the liability already; for pacing and statistics).
    pub day_spent_micros: i64,
}

/// A round of deltas from one shard, for every peer.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub round: u64,
    /// The sender's UTC day when it built the round.
    pub day: i64,
    pub deltas: Vec<Delta>,
}

/// Why a commit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The total budget (as far as this shard can see) has no room.
    Total,
    /// Today's budget has no room.
    Daily,
    /// This shard has used its allowance; more after the peers acknowledge the next round.
    Allowance,
}

#[derive(Debug, Clone, Copy, Default)]
struct CampaignEntry {
    limits: Limits,
    committed: i64,
    released: i64,
    spent: i64,
    day_committed: i64,
    day_released: i64,
    day_spent: i64,
    /// Values in the last round sent (deltas are computed against them).
    sent_committed: i64,
    sent_released: i64,
    sent_day_committed: i64,
    sent_day_released: i64,
    sent_day_spent: i64,
    /// `committed` and `day_committed` as of the last round every peer acknowledged.
    acked_committed: i64,
    acked_day_committed: i64,
    /// The peers' liabilities as applied from their rounds.
    others_liability: i64,
    others_day_liability: i64,
    others_day_spent: i64,
    dirty: bool,
}

impl CampaignEntry {
    fn liability(&self) -> i64 {
        self.committed - self.released
    }
    fn day_liability(&self) -> i64 {
        self.day_committed - self.day_released
    }
}

/// Commitments of bids issued within one [`BUCKET_S`], waiting for their spend or expiry.
#[derive(Debug, Default)]
struct Bucket {
    /// First second of the bucket; `i64::MIN` when unused.
    start_s: i64,
    outstanding: HashMap<u32, i64>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerCounters {
    pub refused_total: u64,
    pub refused_daily: u64,
    pub refused_allowance: u64,
    pub rounds_sent: u64,
    pub rounds_applied: u64,
    /// Spend events whose commitment had already been released.
    pub unreserved_spend: u64,
    pub released_on_expiry_micros: i64,
    /// Released at once by loss notices.
    pub released_on_loss_micros: i64,
}

/// One shard's view of every campaign's budget. Synchronous and owned by one shard; the shard
/// moves rounds between ledgers over its channels.
#[derive(Debug)]
pub struct BudgetLedger {
    settings: LedgerSettings,
    campaigns: Vec<CampaignEntry>,
    buckets: Vec<Bucket>,
    /// UTC day the daily counters are for.
    day: i64,
    dirty: Vec<u32>,
    /// The round waiting for acknowledgements: its number, the peers still to answer, and the
    /// campaigns it carried.
    round: u64,
    acks_pending: usize,
    round_campaigns: Vec<u32>,
    round_day: i64,
    counters: LedgerCounters,
}

impl BudgetLedger {
    /// A ledger for campaigns `0..limits.len()`, starting on the day of `now_unix_s`.
    pub fn new(settings: LedgerSettings, limits: &[Limits], now_unix_s: i64) -> BudgetLedger {
        assert!(settings.allowance_micros > 0, "allowance must be positive");
        assert!(
            (0..=HOLD_S_MAX).contains(&settings.hold_s),
            "hold out of range"
        );
        let n_buckets = usize::try_from(settings.hold_s / BUCKET_S + 3).unwrap_or(3);
        BudgetLedger {
            settings,
            campaigns: limits
                .iter()
                .map(|&limits| CampaignEntry {
                    limits,
                    ..CampaignEntry::default()
                })
                .collect(),
            buckets: (0..n_buckets)
                .map(|_| Bucket {
                    start_s: i64::MIN,
                    outstanding: HashMap::new(),
                })
                .collect(),
            day: now_unix_s.div_euclid(SECONDS_PER_DAY),
            dirty: Vec::with_capacity(limits.len()),
            round: 0,
            acks_pending: 0,
            round_campaigns: Vec::new(),
            round_day: 0,
            counters: LedgerCounters::default(),
        }
    }

    pub fn settings(&self) -> LedgerSettings {
        self.settings
    }

    pub fn counters(&self) -> LedgerCounters {
        self.counters
    }

    /// Whether the campaign has any budget to keep (else the auction need not ask).
    pub fn is_limited(&self, campaign_idx: u32) -> bool {
        self.campaigns
            .get(campaign_idx as usize)
            .is_some_and(|c| !c.limits.is_unlimited())
    }

    /// Moves to the day of `now_unix_s` if it is a new one: today's counters start at zero.
    pub fn roll_day(&mut self, now_unix_s: i64) {
        let day = now_unix_s.div_euclid(SECONDS_PER_DAY);
        if day <= self.day {
            return;
        }
        self.day = day;
        for entry in &mut self.campaigns {
            entry.day_committed = 0;
            entry.day_released = 0;
            entry.day_spent = 0;
            entry.sent_day_committed = 0;
            entry.sent_day_released = 0;
            entry.sent_day_spent = 0;
            entry.acked_day_committed = 0;
            entry.others_day_liability = 0;
            entry.others_day_spent = 0;
        }
    }

    /// Whether `amount_micros` could be committed for the campaign now (rules 1 and 2 of the
    /// module doc), without committing it.
    pub fn check(
        &mut self,
        campaign_idx: u32,
        amount_micros: i64,
        now_unix_s: i64,
    ) -> Result<(), Refusal> {
        self.roll_day(now_unix_s);
        let Some(entry) = self.campaigns.get(campaign_idx as usize) else {
            return Err(Refusal::Total);
        };
        let result = check_entry(entry, amount_micros, self.settings);
        match result {
            Err(Refusal::Total) => self.counters.refused_total += 1,
            Err(Refusal::Daily) => self.counters.refused_daily += 1,
            Err(Refusal::Allowance) => self.counters.refused_allowance += 1,
            Ok(()) => {}
        }
        result
    }

    /// Commits `amount_micros` for a bid issued at `now_unix_s` if the rules allow it. Does not
    /// allocate once each bucket's map has grown to the campaigns that bid within a bucket.
    pub fn commit(
        &mut self,
        campaign_idx: u32,
        amount_micros: i64,
        now_unix_s: i64,
    ) -> Result<(), Refusal> {
        self.check(campaign_idx, amount_micros, now_unix_s)?;
        if !self.is_limited(campaign_idx) {
            return Ok(());
        }
        let amount_micros = amount_micros.max(0);
        let idx = campaign_idx as usize;
        let entry = &mut self.campaigns[idx];
        entry.committed = entry.committed.saturating_add(amount_micros);
        entry.day_committed = entry.day_committed.saturating_add(amount_micros);
        mark_dirty(entry, campaign_idx, &mut self.dirty);
        let bucket = self.bucket_mut(now_unix_s);
        *bucket.outstanding.entry(campaign_idx).or_insert(0) += amount_micros;
        Ok(())
    }

    /// The spend event of a bid committed at `issued_unix_s` for `committed_micros` arrived
    /// and costs `spend_micros` (at most the commitment; more is capped there).
    pub fn realize(
        &mut self,
        campaign_idx: u32,
        issued_unix_s: i64,
        committed_micros: i64,
        spend_micros: i64,
        now_unix_s: i64,
    ) {
        self.roll_day(now_unix_s);
        let idx = campaign_idx as usize;
        if !self.is_limited(campaign_idx) {
            return;
        }
        let committed_micros = committed_micros.max(0);
        let spend_micros = spend_micros.clamp(0, committed_micros);
        let today = issued_unix_s.div_euclid(SECONDS_PER_DAY) == self.day;
        let reserved = self.take_reservation(campaign_idx, issued_unix_s, committed_micros);
        let entry = &mut self.campaigns[idx];
        if reserved {
            let release = committed_micros - spend_micros;
            entry.released = entry.released.saturating_add(release);
            if today {
                entry.day_released = entry.day_released.saturating_add(release);
            }
        } else {
            // Spent without a reservation: it still counts, as a commitment of its own.
            self.counters.unreserved_spend += 1;
            entry.committed = entry.committed.saturating_add(spend_micros);
            if today {
                entry.day_committed = entry.day_committed.saturating_add(spend_micros);
            }
        }
        entry.spent = entry.spent.saturating_add(spend_micros);
        if today {
            entry.day_spent = entry.day_spent.saturating_add(spend_micros);
        }
        mark_dirty(entry, campaign_idx, &mut self.dirty);
    }

    /// A bid committed at `issued_unix_s` for `committed_micros` lost (its loss notice came
    /// before any spend event): its commitment is taken from its bucket and released whole.
    /// Returns whether anything was released: nothing is when the campaign has no budget, or
    /// when the bucket no longer holds the amount (already released on expiry; a spend event
    /// that comes later is then spend without a reservation, as after an expiry).
    pub fn release(
        &mut self,
        campaign_idx: u32,
        issued_unix_s: i64,
        committed_micros: i64,
        now_unix_s: i64,
    ) -> bool {
        self.roll_day(now_unix_s);
        if !self.is_limited(campaign_idx) || committed_micros <= 0 {
            return false;
        }
        if !self.take_reservation(campaign_idx, issued_unix_s, committed_micros) {
            return false;
        }
        let today = issued_unix_s.div_euclid(SECONDS_PER_DAY) == self.day;
        let entry = &mut self.campaigns[campaign_idx as usize];
        entry.released = entry.released.saturating_add(committed_micros);
        if today {
            entry.day_released = entry.day_released.saturating_add(committed_micros);
        }
        self.counters.released_on_loss_micros = self
            .counters
            .released_on_loss_micros
            .saturating_add(committed_micros);
        mark_dirty(entry, campaign_idx, &mut self.dirty);
        true
    }

    /// Releases the commitments no spend event can claim any more (older than the hold).
    pub fn expire(&mut self, now_unix_s: i64) {
        self.roll_day(now_unix_s);
        let hold_s = self.settings.hold_s;
        for slot in 0..self.buckets.len() {
            let start_s = self.buckets[slot].start_s;
            if start_s != i64::MIN && start_s + BUCKET_S + hold_s <= now_unix_s {
                self.release_bucket(slot);
            }
        }
    }

    /// Releases everything still outstanding in bucket `slot` and marks it unused.
    fn release_bucket(&mut self, slot: usize) {
        let BudgetLedger {
            buckets,
            campaigns,
            dirty,
            counters,
            day,
            ..
        } = self;
        let bucket = &mut buckets[slot];
        let today = bucket.start_s.div_euclid(SECONDS_PER_DAY) == *day;
        for (&campaign_idx, &amount) in &bucket.outstanding {
            let Some(entry) = campaigns.get_mut(campaign_idx as usize) else {
                continue;
            };
            entry.released = entry.released.saturating_add(amount);
            if today {
                entry.day_released = entry.day_released.saturating_add(amount);
            }
            counters.released_on_expiry_micros =
                counters.released_on_expiry_micros.saturating_add(amount);
            mark_dirty(entry, campaign_idx, dirty);
        }
        bucket.outstanding.clear();
        bucket.start_s = i64::MIN;
    }

    /// The next round to send to every peer, if the last one was acknowledged by all and
    /// something changed; `deltas` is reused (cleared, then filled). The ledger then waits for
    /// `n_peers` calls of [`BudgetLedger::acknowledge`].
    pub fn next_round(&mut self, deltas: &mut Vec<Delta>) -> Option<(u64, i64)> {
        if self.settings.n_peers == 0 {
            self.dirty_reset_without_peers();
            return None;
        }
        if self.acks_pending > 0 || self.dirty.is_empty() {
            return None;
        }
        deltas.clear();
        self.round_campaigns.clear();
        for &campaign_idx in &self.dirty {
            let entry = &mut self.campaigns[campaign_idx as usize];
            entry.dirty = false;
            deltas.push(Delta {
                campaign_idx,
                committed_micros: entry.committed - entry.sent_committed,
                released_micros: entry.released - entry.sent_released,
                day_committed_micros: entry.day_committed - entry.sent_day_committed,
                day_released_micros: entry.day_released - entry.sent_day_released,
                day_spent_micros: entry.day_spent - entry.sent_day_spent,
            });
            entry.sent_committed = entry.committed;
            entry.sent_released = entry.released;
            entry.sent_day_committed = entry.day_committed;
            entry.sent_day_released = entry.day_released;
            entry.sent_day_spent = entry.day_spent;
            self.round_campaigns.push(campaign_idx);
        }
        self.dirty.clear();
        self.round += 1;
        self.round_day = self.day;
        self.acks_pending = self.settings.n_peers;
        self.counters.rounds_sent += 1;
        Some((self.round, self.day))
    }

    fn dirty_reset_without_peers(&mut self) {
        for &campaign_idx in &self.dirty {
            self.campaigns[campaign_idx as usize].dirty = false;
        }
        self.dirty.clear();
    }

    /// A peer acknowledged round `round`. When every peer has, the round's commitments count as
    /// acknowledged (rule 2).
    pub fn acknowledge(&mut self, round: u64) {
        if round != self.round || self.acks_pending == 0 {
            debug_assert!(
                false,
                "acknowledgement of round {round}, waiting for {}",
                self.round
            );
            return;
        }
        self.acks_pending -= 1;
        if self.acks_pending > 0 {
            return;
        }
        let same_day = self.round_day == self.day;
        for &campaign_idx in &self.round_campaigns {
            let entry = &mut self.campaigns[campaign_idx as usize];
            entry.acked_committed = entry.sent_committed;
            if same_day {
                entry.acked_day_committed = entry.sent_day_committed;
            }
        }
    }

    /// Applies a peer's round to this shard's view of the others (before acknowledging it).
    pub fn apply(&mut self, day: i64, deltas: &[Delta], now_unix_s: i64) {
        self.roll_day(now_unix_s);
        // A peer that already passed midnight: this shard follows it there.
        if day > self.day {
            self.roll_day(day * SECONDS_PER_DAY);
        }
        let today = day == self.day;
        for delta in deltas {
            let Some(entry) = self.campaigns.get_mut(delta.campaign_idx as usize) else {
                continue;
            };
            entry.others_liability = entry
                .others_liability
                .saturating_add(delta.committed_micros - delta.released_micros);
            if today {
                entry.others_day_liability = entry
                    .others_day_liability
                    .saturating_add(delta.day_committed_micros - delta.day_released_micros);
                entry.others_day_spent = entry
                    .others_day_spent
                    .saturating_add(delta.day_spent_micros);
            }
        }
        self.counters.rounds_applied += 1;
    }

    /// What this shard knows of the campaign: (total liability, today's liability, today's
    /// spend), all shards.
    pub fn view(&self, campaign_idx: u32) -> Option<CampaignView> {
        let entry = self.campaigns.get(campaign_idx as usize)?;
        Some(CampaignView {
            limits: entry.limits,
            liability_micros: entry.liability() + entry.others_liability,
            day_liability_micros: entry.day_liability() + entry.others_day_liability,
            day_spent_micros: entry.day_spent + entry.others_day_spent,
            own_spent_micros: entry.spent,
        })
    }

    pub fn len(&self) -> usize {
        self.campaigns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty()
    }

    /// The ring slot of the bucket holding bids issued at `issued_unix_s`, and that bucket's
    /// first second.
    fn bucket_slot(&self, issued_unix_s: i64) -> (usize, i64) {
        let start_s = issued_unix_s - issued_unix_s.rem_euclid(BUCKET_S);
        let n = self.buckets.len() as i64;
        let slot = usize::try_from(start_s.div_euclid(BUCKET_S).rem_euclid(n)).unwrap_or(0);
        (slot, start_s)
    }

    fn bucket_mut(&mut self, issued_unix_s: i64) -> &mut Bucket {
        let (slot, start_s) = self.bucket_slot(issued_unix_s);
        if self.buckets[slot].start_s != start_s {
            // The slot still holds an older bucket only if `expire` has not run for a whole
            // hold; release it now rather than mix two buckets.
            if self.buckets[slot].start_s != i64::MIN {
                self.release_bucket(slot);
            }
            self.buckets[slot].start_s = start_s;
        }
        &mut self.buckets[slot]
    }

    /// Takes `amount` of the campaign's reservation in the bucket of `issued_unix_s`; false if
    /// that bucket was already released.
    fn take_reservation(&mut self, campaign_idx: u32, issued_unix_s: i64, amount: i64) -> bool {
        let (slot, start_s) = self.bucket_slot(issued_unix_s);
        let bucket = &mut self.buckets[slot];
        if bucket.start_s != start_s {
            return false;
        }
        match bucket.outstanding.get_mut(&campaign_idx) {
            Some(outstanding) if *outstanding >= amount => {
                *outstanding -= amount;
                true
            }
            _ => false,
        }
    }
}

/// A campaign's budget as one shard sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignView {
    pub limits: Limits,
    /// Spend plus outstanding commitments, all shards (as far as this shard has heard).
    pub liability_micros: i64,
    pub day_liability_micros: i64,
    pub day_spent_micros: i64,
    /// What this shard has seen spent in all (statistics).
    pub own_spent_micros: i64,
}

fn check_entry(
    entry: &CampaignEntry,
    amount: i64,
    settings: LedgerSettings,
) -> Result<(), Refusal> {
    if entry.limits.is_unlimited() {
        return Ok(());
    }
    let amount = amount.max(0);
    if let Some(total) = entry.limits.total_micros {
        let after = entry
            .liability()
            .saturating_add(entry.others_liability)
            .saturating_add(amount);
        if after > total {
            return Err(Refusal::Total);
        }
    }
    if let Some(daily) = entry.limits.daily_micros {
        let after = entry
            .day_liability()
            .saturating_add(entry.others_day_liability)
            .saturating_add(amount);
        if after > daily {
            return Err(Refusal::Daily);
        }
    }
    if settings.n_peers > 0 {
        let unacked = entry.committed.saturating_add(amount) - entry.acked_committed;
        let day_unacked = entry.day_committed.saturating_add(amount) - entry.acked_day_committed;
        if unacked > settings.allowance_micros || day_unacked > settings.allowance_micros {
            return Err(Refusal::Allowance);
        }
    }
    Ok(())
}

fn mark_dirty(entry: &mut CampaignEntry, campaign_idx: u32, dirty: &mut Vec<u32>) {
    if !entry.dirty {
        entry.dirty = true;
        dirty.push(campaign_idx);
    }
}

#[cfg(test)]
mod tests;
