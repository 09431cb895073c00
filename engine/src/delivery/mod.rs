//! Delivery: the gate that decides whether a campaign that matched a request may spend on it,
//! and the commit that reserves the money of each winner before its bid leaves. It is the only
//! code that moves a campaign's money, so it is plain synchronous code with no clock, no
//! channel and no shard of its own: the caller passes the time (`now_unix_s`, read once per
//! request by the shard) and the shard index (which seeds the pacing draws), and a test can
//! run a day of decisions against it in a few lines.
//!
//! One [`Delivery`] per shard holds the four pieces of state a decision reads and changes: the
//! budget ledger (`budget`), the pacer (`pacing`), the frequency-cap store (`freqcap`) and the
//! pacing RNG. The shard owns it in a `RefCell`, borrows it once per decision, and moves budget
//! rounds between the ledgers of the shards (`shard::exchange`).
//!
//! Signing the tracking token stays in the shard's auction flow: a token is what the response
//! writer puts in the URLs it writes, it needs the shard's signing key and the response's
//! buffers, and it moves no money. What delivery owns is the rule that makes signing safe: a
//! winner whose ids cannot go into a token is dropped here, before its budget is committed,
//! because a bid that cannot be tracked can never be billed.

use crate::adrequest::AdRequest;
use crate::auction::Winner;
use crate::budget::{self, BudgetLedger, Delta, LedgerSettings, Limits};
use crate::campaign::{Campaign, FrequencyCap};
use crate::currency::{Currency, CurrencyTable};
use crate::freqcap::FreqCapStore;
use crate::pacing::{DailySpend, Pacer, PacingConfig, PacingRng};
use crate::tracking::ID_BYTES_MAX;

#[cfg(test)]
mod tests;

/// XORed with the shard index into the pacing RNG's seed, so that shards draw unrelated
/// streams and a shard draws the same stream on every start.
const PACING_SEED: u64 = 0x5eed;

/// What a [`Delivery`] is built with; the shard derives it from its config.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    pub ledger: LedgerSettings,
    pub pacing: PacingConfig,
    /// Users whose frequency-cap counts one shard keeps.
    pub freqcap_users_max: usize,
}

/// Why the gate refused a campaign on one request. The shard only needs yes or no; the reasons
/// are what the gate's tests check, and each one is counted where it is decided (the ledger's
/// refusals in its counters, the pacer's in `requests_throttled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The budget ledger has no room for one event at the campaign's bid: its total budget, its
    /// budget today, or this shard's allowance beyond what its peers acknowledged.
    Budget(budget::Refusal),
    /// The campaign has frequency caps and the request names no user to count them for.
    CappedWithoutUser,
    /// The campaign has frequency caps and this shard does not own the user's counts.
    CapsOnAnotherShard,
    /// The user has already seen the campaign as often as one of its caps allows.
    FrequencyCap,
    /// The pacer's draw fell above the campaign's throttle.
    Pacing,
    /// The campaign has a budget and the event log cannot write: a commitment made now could
    /// be lost in a crash, so none is made until the log recovers.
    LogUnavailable,
}

/// What decides whether a campaign may deliver beyond its targeting: its budget (across
/// shards), its pacing, and the user's frequency caps. One per shard.
#[derive(Debug)]
pub struct Delivery {
    ledger: BudgetLedger,
    pacer: Pacer,
    freqcaps: FreqCapStore,
    rng: PacingRng,
    /// Whether commitments may be made: false while the shard's event log cannot write.
    commitments_durable: bool,
}

impl Delivery {
    /// Delivery state for `campaigns` (in catalog order) on shard `shard_idx`, starting on the
    /// day of `now_unix_s`.
    pub fn new(
        settings: DeliverySettings,
        campaigns: &[Campaign],
        shard_idx: usize,
        now_unix_s: i64,
    ) -> Delivery {
        let limits: Vec<Limits> = campaigns.iter().map(budget_limits).collect();
        Delivery {
            ledger: BudgetLedger::new(settings.ledger, &limits, now_unix_s),
            pacer: Pacer::for_campaigns(settings.pacing, campaigns),
            freqcaps: FreqCapStore::with_capacity(settings.freqcap_users_max),
            rng: PacingRng::new(PACING_SEED ^ shard_idx as u64),
            commitments_durable: true,
        }
    }

    pub fn ledger(&self) -> &BudgetLedger {
        &self.ledger
    }

    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    pub fn freqcaps(&self) -> &FreqCapStore {
        &self.freqcaps
    }

    /// The ledger, for recovery (importing a checkpoint, replaying the log).
    pub fn ledger_mut(&mut self) -> &mut BudgetLedger {
        &mut self.ledger
    }

    /// The pacer, for recovery.
    pub fn pacer_mut(&mut self) -> &mut Pacer {
        &mut self.pacer
    }

    /// The frequency-cap store, for recovery (importing a checkpoint, replaying impressions).
    pub fn freqcaps_mut(&mut self) -> &mut FreqCapStore {
        &mut self.freqcaps
    }

    /// Tells the gate whether the event log can keep commitments now (the shard sets it before
    /// each decision): while it cannot, budgeted campaigns do not bid.
    pub fn set_commitments_durable(&mut self, durable: bool) {
        self.commitments_durable = durable;
    }

    /// Counts one auction request into today's traffic, which even pacing follows.
    #[inline]
    pub fn observe_request(&mut self, now_unix_s: i64) {
        self.pacer.observe_requests(1, now_unix_s);
    }

    /// Counts `n` auction requests seen at `now_unix_s` (a traffic record's replay).
    pub fn observe_requests(&mut self, n: u64, now_unix_s: i64) {
        self.pacer.observe_requests(n, now_unix_s);
    }

    /// The gate: whether campaign `campaign_idx`, which matched the request, may bid on it.
    /// `user_key` is the hash of the request's user key (0 for none); `caps_here` says this
    /// shard owns that user's frequency caps. The checks run in a fixed order (budget, caps,
    /// pacing) because each counts its refusals and the pacing check draws from the RNG: a
    /// campaign refused for budget must not use up a draw.
    #[inline]
    pub fn admit(
        &mut self,
        campaign_idx: u32,
        campaign: &Campaign,
        user_key: u64,
        caps_here: bool,
        now_unix_s: i64,
    ) -> Result<(), Refusal> {
        if self.ledger.is_limited(campaign_idx) {
            if !self.commitments_durable {
                return Err(Refusal::LogUnavailable);
            }
            // Prices are CPM: the ledger is asked about one event at the campaign's bid.
            self.ledger
                .check(campaign_idx, campaign.bid_cpm_micros / 1000, now_unix_s)
                .map_err(Refusal::Budget)?;
        }
        if !campaign.frequency_caps.is_empty() {
            // A capped campaign needs a user to count for, on the shard that counts them;
            // otherwise it does not bid (we prefer a missed delivery to one over the cap).
            if user_key == 0 {
                return Err(Refusal::CappedWithoutUser);
            }
            if !caps_here {
                return Err(Refusal::CapsOnAnotherShard);
            }
            if !self
                .freqcaps
                .allows(user_key, campaign_idx, &campaign.frequency_caps, now_unix_s)
            {
                return Err(Refusal::FrequencyCap);
            }
        }
        if self.pacer.allows(campaign_idx, &mut self.rng) {
            Ok(())
        } else {
            Err(Refusal::Pacing)
        }
    }

    /// The commit: reserves each winner's price for one event in its campaign's budget, and
    /// drops the winners that cannot leave. A winner is dropped when one of its ids cannot go
    /// into a tracking token (an exchange's id over the token's limit: it could not be tracked,
    /// so it could not be billed), when its price has no conversion into the campaign's
    /// currency, or when the ledger refuses the amount. The commit of a winner comes after its
    /// checks, so nothing is committed for a bid that does not leave. External winners spend no
    /// budget of ours (their bids were checked when their responses were parsed) and stay.
    ///
    /// `campaigns` is the catalog the auction ran over, `currency` the response's currency
    /// (the winners' prices are in it).
    pub fn commit_winners(
        &mut self,
        winners: &mut Vec<Winner>,
        request: &AdRequest,
        campaigns: &[Campaign],
        currencies: &CurrencyTable,
        currency: Currency,
        now_unix_s: i64,
    ) {
        let trackable = |text: &str| (1..=ID_BYTES_MAX).contains(&text.len());
        let ledger = &mut self.ledger;
        winners.retain(|winner| {
            if winner.is_external() {
                return true;
            }
            let campaign = &campaigns[winner.campaign_idx as usize];
            let imp_ok = request
                .imps()
                .get(winner.imp_idx)
                .is_some_and(|imp| trackable(request.text(imp.id)));
            let creative_ok = campaign
                .creatives
                .get(winner.creative_idx)
                .is_some_and(|c| trackable(&c.id));
            if !(imp_ok && creative_ok && trackable(&request.id) && trackable(&campaign.id)) {
                return false;
            }
            if !ledger.is_limited(winner.campaign_idx) {
                return true;
            }
            let Some(amount_micros) =
                per_event_micros(currencies, winner.price_micros, currency, campaign.currency)
            else {
                return false;
            };
            ledger
                .commit(winner.campaign_idx, amount_micros, now_unix_s)
                .is_ok()
        });
    }

    /// A spend event of a bid issued at `issued_unix_s` arrived on the shard that committed
    /// it: the ledger keeps `spend_micros` of the `committed_micros` and releases the rest.
    /// Events that neither spend nor release anything leave the ledger alone.
    pub fn realize(
        &mut self,
        campaign_idx: u32,
        issued_unix_s: i64,
        committed_micros: i64,
        spend_micros: i64,
        now_unix_s: i64,
    ) {
        if committed_micros > 0 || spend_micros > 0 {
            self.ledger.realize(
                campaign_idx,
                issued_unix_s,
                committed_micros,
                spend_micros,
                now_unix_s,
            );
        }
    }

    /// The loss notice of a bid issued at `issued_unix_s` arrived on the shard that committed
    /// it, before any spend event (the shard's event window resolves each bid once): the
    /// `committed_micros` the bid reserved are released whole at once, instead of when its
    /// token expires. Returns whether anything was released (nothing for a campaign without
    /// budget, or a commitment already released on expiry).
    pub fn release_lost(
        &mut self,
        campaign_idx: u32,
        issued_unix_s: i64,
        committed_micros: i64,
        now_unix_s: i64,
    ) -> bool {
        self.ledger
            .release(campaign_idx, issued_unix_s, committed_micros, now_unix_s)
    }

    /// A commitment replayed from the event log at start: held again, without the gate's
    /// checks (it passed them when it was made).
    pub fn commit_recovered(&mut self, campaign_idx: u32, amount_micros: i64, issued_unix_s: i64) {
        self.ledger
            .commit_recovered(campaign_idx, amount_micros, issued_unix_s);
    }

    /// Counts an impression of a campaign to a user against the campaign's `caps`; a campaign
    /// without caps stores nothing.
    pub fn record_impression(
        &mut self,
        user_key: u64,
        campaign_idx: u32,
        caps: &[FrequencyCap],
        now_unix_s: i64,
    ) {
        if !caps.is_empty() {
            self.freqcaps
                .record_impression(user_key, campaign_idx, caps, now_unix_s);
        }
    }

    /// Applies a peer's budget round (its UTC `day` and its changes since its last round).
    pub fn apply_round(&mut self, day: i64, deltas: &[Delta], now_unix_s: i64) {
        self.ledger.apply(day, deltas, now_unix_s);
    }

    /// Every peer acknowledged `round`: this shard's allowance counts from it now.
    pub fn acknowledge_round(&mut self, round: u64) {
        self.ledger.acknowledge(round);
    }

    /// Releases the commitments whose tokens can no longer be used, then fills `deltas` with
    /// this shard's next round if the previous one is acknowledged: `Some((round, day))`.
    pub fn next_round(&mut self, deltas: &mut Vec<Delta>, now_unix_s: i64) -> Option<(u64, i64)> {
        self.ledger.expire(now_unix_s);
        self.ledger.next_round(deltas)
    }

    /// Re-plans pacing from the ledger's view of today's spend on every shard.
    pub fn update_pacing(&mut self, now_unix_s: i64) {
        let Delivery { ledger, pacer, .. } = self;
        ledger.roll_day(now_unix_s);
        pacer.update(now_unix_s, |campaign_idx| {
            let view = ledger.view(campaign_idx);
            DailySpend {
                spent_micros: view.map_or(0, |v| v.day_spent_micros),
                budget_micros: view.and_then(|v| v.limits.daily_micros).unwrap_or(0),
            }
        });
    }
}

fn budget_limits(campaign: &Campaign) -> Limits {
    Limits {
        total_micros: campaign.budget.total_micros,
        daily_micros: campaign.budget.daily_micros,
    }
}

/// What one event of a bid priced `price_cpm_micros` (CPM, in `currency`) costs a campaign
/// paying in `campaign_currency`: a thousandth, converted. The budget commitment and the spend
/// are both computed here, so a spend never exceeds its commitment by rounding. `None` when a
/// currency has no rate.
pub fn per_event_micros(
    currencies: &CurrencyTable,
    price_cpm_micros: i64,
    currency: Currency,
    campaign_currency: Currency,
) -> Option<i64> {
    currencies.convert(price_cpm_micros / 1000, currency, campaign_currency)
}

/// What a spend event costs, in the campaign's currency: the clearing price the exchange
/// reported (`clearing_cpm_micros`, unsigned, so trusted only when it is a positive amount no
/// higher than what we bid; `tracking::clearing_price_micros` has already checked that, and
/// this check keeps the ledger safe on its own), else the price we signed. 0 when a currency
/// has no rate: the event is still counted, but no spend can be charged in a currency we
/// cannot convert.
pub fn spend_micros(
    currencies: &CurrencyTable,
    signed_cpm_micros: i64,
    clearing_cpm_micros: i64,
    currency: Currency,
    campaign_currency: Currency,
) -> i64 {
    let cpm_micros = if (1..=signed_cpm_micros).contains(&clearing_cpm_micros) {
        clearing_cpm_micros
    } else {
        signed_cpm_micros
    };
    per_event_micros(currencies, cpm_micros, currency, campaign_currency).unwrap_or(0)
}
