//! The gate and the commit, checked case by case with a fixed clock and seeded draws: every
//! reason the gate refuses a campaign, what the ledger holds after a commit, what a loss
//! notice releases, and what one event costs in the campaign's currency. Each case names what
//! it shows, so a failure reads as the rule that broke. The shared fixtures are here; `gate`,
//! `commit`, `loss` and `prices` hold the cases.

use std::path::Path;

use super::*;
use crate::budget::SECONDS_PER_DAY;
use crate::campaign::data::parse_str;
use crate::currency::CurrencyConfig;
use crate::openrtb::parse_bid_request;
use crate::pacing::THROTTLE_MIN;

mod commit;
mod gate;
mod loss;
mod prices;

/// Noon (UTC) of a fixed day: the injected clock of every case.
const NOW: i64 = 19_700 * SECONDS_PER_DAY + 12 * 3600;
/// Any shard index works; a fixed one fixes the pacing draws.
const SHARD_IDX: usize = 3;
/// The base campaign's bid: 2.00 per thousand, so one event is 2_000 micros.
const BID_CPM_MICROS: i64 = 2_000_000;
const EVENT_MICROS: i64 = BID_CPM_MICROS / 1000;
/// A user key hash, and a cap of one impression an hour.
const USER: u64 = 42;
const ONE_AN_HOUR: FrequencyCap = FrequencyCap {
    max: 1,
    window_s: 3600,
};

/// One active, unlimited, unpaced, uncapped banner campaign in USD, as the data files write it.
const CAMPAIGN_JSON: &str = r#"{
  "advertisers": [{"id": "adv", "name": "Advertiser"}],
  "campaigns": [{
    "id": "cmp",
    "advertiser": "adv",
    "adomain": "brand.example",
    "status": "active",
    "bid_cpm_micros": 2000000,
    "currency": "USD",
    "pacing": "asap",
    "creatives": [{
      "id": "cmp-banner",
      "format": "banner",
      "w": 300,
      "h": 250,
      "markup": "<b>ad</b>",
      "landing_page": "https://brand.example/"
    }]
  }]
}"#;

fn campaign(edit: impl FnOnce(&mut Campaign)) -> Campaign {
    let data = parse_str(CAMPAIGN_JSON, Path::new("delivery-tests.json")).expect("valid");
    let mut campaign = data.campaigns.into_iter().next().expect("one campaign");
    assert_eq!(campaign.bid_cpm_micros, BID_CPM_MICROS);
    edit(&mut campaign);
    campaign
}

fn total(total_micros: i64) -> impl FnOnce(&mut Campaign) {
    move |c| c.budget.total_micros = Some(total_micros)
}

fn currencies() -> CurrencyTable {
    CurrencyTable::from_config(&CurrencyConfig::default())
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("a currency code")
}

/// How the ledger and the pacer of a case are set up. The allowance only binds with peers.
#[derive(Clone, Copy)]
struct Setup {
    n_peers: usize,
    allowance_micros: i64,
    throttle_start: f64,
    /// When the delivery state was created (its first budget day).
    created_unix_s: i64,
}

const ALONE: Setup = Setup {
    n_peers: 0,
    allowance_micros: 1_000_000_000,
    throttle_start: 1.0,
    created_unix_s: NOW,
};

impl Setup {
    fn delivery(self, campaigns: &[Campaign]) -> Delivery {
        let settings = DeliverySettings {
            ledger: LedgerSettings {
                allowance_micros: self.allowance_micros,
                hold_s: 3600 + 300,
                n_peers: self.n_peers,
            },
            pacing: PacingConfig {
                throttle_start: self.throttle_start,
                ..PacingConfig::default()
            },
            freqcap_users_max: 64,
        };
        Delivery::new(settings, campaigns, SHARD_IDX, self.created_unix_s)
    }
}

/// The refusal counters a delivery keeps: (total, today, allowance, pacing).
fn refusals_counted(delivery: &Delivery) -> (u64, u64, u64, u64) {
    let ledger = delivery.ledger().counters();
    (
        ledger.refused_total,
        ledger.refused_daily,
        ledger.refused_allowance,
        delivery.pacer().requests_throttled(),
    )
}

/// One gate decision: a campaign, the state before, who asks, and the answer.
struct GateCase {
    name: &'static str,
    campaign: Campaign,
    setup: Setup,
    /// What happened before the request (commits, impressions, rounds).
    before: fn(&mut Delivery),
    user_key: u64,
    caps_here: bool,
    expect: Result<(), Refusal>,
}

fn check_gate(case: GateCase) {
    let mut delivery = case.setup.delivery(std::slice::from_ref(&case.campaign));
    (case.before)(&mut delivery);
    let before = refusals_counted(&delivery);
    let got = delivery.admit(0, &case.campaign, case.user_key, case.caps_here, NOW);
    assert_eq!(got, case.expect, "{}", case.name);
    // Each refusal is counted once, where it is decided; an admission counts nothing.
    let counted = refusals_counted(&delivery);
    let delta = (
        counted.0 - before.0,
        counted.1 - before.1,
        counted.2 - before.2,
        counted.3 - before.3,
    );
    let expect_delta = match case.expect {
        Err(Refusal::Budget(budget::Refusal::Total)) => (1, 0, 0, 0),
        Err(Refusal::Budget(budget::Refusal::Daily)) => (0, 1, 0, 0),
        Err(Refusal::Budget(budget::Refusal::Allowance)) => (0, 0, 1, 0),
        Err(Refusal::Pacing) => (0, 0, 0, 1),
        _ => (0, 0, 0, 0),
    };
    assert_eq!(delta, expect_delta, "{}: refusals counted", case.name);
}

fn commit_event(delivery: &mut Delivery, at_unix_s: i64) {
    delivery
        .ledger
        .commit(0, EVENT_MICROS, at_unix_s)
        .expect("room for the earlier bid");
}

fn nothing(_: &mut Delivery) {}
