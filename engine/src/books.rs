//! A shard's books: what its bids and their tracking events change (the event window, the
//! budget ledger and caps in `Delivery`, the per-campaign counters), applied by one function
//! per record type. The shard calls them as events arrive; recovery calls the same functions
//! on the records of the log, so a replay gives exactly the state the live shard had.
//!
//! Who charges: a campaign that spends on wins is charged by the win notice (`nurl`), one that
//! spends on impressions by the billing notice (`burl`), each at the clearing price the
//! exchange reports in it (within the signed price) and once per bid. The impression pixel
//! counts the impression and the user's caps but never charges: the browser fires it, and it
//! knows no price. An impression reported by both the pixel and the billing notice is counted
//! once, by whichever arrives first, and charged once, by the billing notice.

use crate::auction::Winner;
use crate::campaign::{Campaign, SpendOn};
use crate::currency::{Currency, CurrencyTable};
use crate::delivery::{per_event_micros, Delivery};
use crate::eventlog::{BidRecord, EventRecord};
use crate::stats::{CampaignCounters, TrackingOutcome};
use crate::tracking::{EventKind, EventWindows, Lane, Seen};

/// The lane of the event a campaign spending on `spend_on` pays for: where its bids' loss
/// notices are judged.
pub fn spend_lane(spend_on: SpendOn) -> Lane {
    match spend_on {
        SpendOn::Win => Lane::Win,
        SpendOn::Impression => Lane::Billing,
    }
}

/// Counts an event the shard owns, once: the window remembers, per bid, whether its win, its
/// impression (from the pixel or the billing notice), its billing notice and its click were
/// seen. A billing notice counts the impression unless the pixel already did, and charges
/// unless an earlier billing notice did. A loss notice is judged on the lane of the campaign's
/// spend event: the first of the two resolves the bid (a first loss releases the commitment
/// at once; a spend event after it is a repeat, not charged). An event the window cannot
/// vouch for is out of reach and changes nothing else. Returns the outcome to count (only
/// `Counted` changed the books) and whether it counted an impression.
///
/// `caps_here`: this shard owns the user's frequency caps, so a counted impression is
/// recorded against them here; otherwise the caller sends it to the owner (after a change of
/// shard count, an earlier run's token can name a shard that no longer owns its user).
pub fn apply_event(
    windows: &mut EventWindows,
    delivery: &mut Delivery,
    counters: &mut [CampaignCounters],
    campaigns: &[Campaign],
    event: &EventRecord,
    caps_here: bool,
) -> (TrackingOutcome, bool) {
    let verdict = windows.judge(event.kind, spend_lane(event.spend_on), event.sequence);
    let outcome = match (verdict.own, verdict.impression) {
        (Seen::OutOfReach, _) => TrackingOutcome::OutOfReach,
        (Seen::First, _) | (_, Seen::First) => TrackingOutcome::Counted,
        _ => TrackingOutcome::Duplicate,
    };
    if outcome != TrackingOutcome::Counted {
        return (outcome, false);
    }
    let counter = counters.get_mut(event.campaign as usize);
    if event.kind == EventKind::Loss {
        if let Some(c) = counter {
            c.losses += 1;
        }
        delivery.release_lost(
            event.campaign,
            event.issued_unix_s,
            event.committed_micros,
            event.at_unix_s,
        );
        return (outcome, false);
    }
    let counts = verdict.own == Seen::First && event.kind != EventKind::Impression;
    let impression = verdict.impression == Seen::First;
    if let Some(c) = counter {
        c.impressions += u64::from(impression);
        if counts {
            match event.kind {
                EventKind::Win => c.wins += 1,
                EventKind::Billing => c.billings += 1,
                EventKind::Click => c.clicks += 1,
                EventKind::Impression | EventKind::Loss => {}
            }
            c.add_spend(event.spend_micros, event.at_unix_s);
        }
    }
    if counts {
        delivery.realize(
            event.campaign,
            event.issued_unix_s,
            event.committed_micros,
            event.spend_micros,
            event.at_unix_s,
        );
    }
    if impression && event.user_key != 0 && caps_here {
        if let Some(campaign) = campaigns.get(event.campaign as usize) {
            delivery.record_impression(
                event.user_key,
                event.campaign,
                &campaign.frequency_caps,
                event.at_unix_s,
            );
        }
    }
    (outcome, impression)
}

/// The log record of a campaign's winning bid under sequence `sequence`: what its commit
/// reserved (`Delivery::commit_winners`: one event at its price, in the campaign's currency;
/// 0 for a campaign without a budget). `currency` is the response's.
pub fn bid_record(
    winner: &Winner,
    campaign: &Campaign,
    currencies: &CurrencyTable,
    currency: Currency,
    sequence: u64,
    now_unix_s: i64,
) -> BidRecord {
    let budgeted = campaign.budget.total_micros.is_some() || campaign.budget.daily_micros.is_some();
    let committed_micros = if budgeted {
        per_event_micros(currencies, winner.price_micros, currency, campaign.currency).unwrap_or(0)
    } else {
        0
    };
    BidRecord {
        sequence,
        campaign: winner.campaign_idx,
        committed_micros,
        at_unix_s: now_unix_s,
    }
}

/// Replays a logged bid: its sequence taken in the window, its commitment held in the ledger
/// (without the gate's checks: it passed them when it was made), its campaign's bid counted.
pub fn apply_bid(
    windows: &mut EventWindows,
    delivery: &mut Delivery,
    counters: &mut [CampaignCounters],
    bid: &BidRecord,
) {
    // A sequence the window cannot take (another run's, or one already issued) changes no
    // bit; the bid's commitment and count still stand.
    let _ = windows.issue_recovered(bid.sequence, bid.at_unix_s);
    if bid.committed_micros > 0 {
        delivery.commit_recovered(bid.campaign, bid.committed_micros, bid.at_unix_s);
    }
    if let Some(c) = counters.get_mut(bid.campaign as usize) {
        c.bids += 1;
    }
}
