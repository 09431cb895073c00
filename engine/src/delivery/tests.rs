//! The gate and the commit, checked case by case with a fixed clock and seeded draws: every
//! reason the gate refuses a campaign, what the ledger holds after a commit, and what one
//! event costs in the campaign's currency. Each case names what it shows, so a failure reads
//! as the rule that broke.

use std::path::Path;

use super::*;
use crate::budget::SECONDS_PER_DAY;
use crate::campaign::data::parse_str;
use crate::currency::CurrencyConfig;
use crate::openrtb::parse_bid_request;
use crate::pacing::THROTTLE_MIN;

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

#[test]
fn gate_refuses_for_every_reason_and_admits_otherwise() {
    let capped = |c: &mut Campaign| c.frequency_caps = vec![ONE_AN_HOUR];
    let even_daily = |c: &mut Campaign| {
        c.pacing = crate::campaign::Pacing::Even;
        c.budget.daily_micros = Some(1_000_000_000);
    };
    let cases = [
        GateCase {
            name: "an unlimited, uncapped, unpaced campaign is admitted",
            campaign: campaign(|_| {}),
            setup: ALONE,
            before: nothing,
            user_key: 0,
            caps_here: false,
            expect: Ok(()),
        },
        GateCase {
            name: "room for exactly one more event is room",
            campaign: campaign(total(2 * EVENT_MICROS)),
            setup: ALONE,
            before: |d| commit_event(d, NOW),
            user_key: 0,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "the total budget has no room for one more event",
            campaign: campaign(total(2 * EVENT_MICROS - 1)),
            setup: ALONE,
            before: |d| commit_event(d, NOW),
            user_key: 0,
            caps_here: true,
            expect: Err(Refusal::Budget(budget::Refusal::Total)),
        },
        GateCase {
            name: "today's budget has no room although the total has",
            campaign: campaign(|c| {
                c.budget.total_micros = Some(1_000_000);
                c.budget.daily_micros = Some(3_000);
            }),
            setup: ALONE,
            before: |d| commit_event(d, NOW),
            user_key: 0,
            caps_here: true,
            expect: Err(Refusal::Budget(budget::Refusal::Daily)),
        },
        GateCase {
            name: "yesterday's commitments do not count against today's budget",
            campaign: campaign(|c| c.budget.daily_micros = Some(3_000)),
            setup: Setup {
                created_unix_s: NOW - SECONDS_PER_DAY,
                ..ALONE
            },
            before: |d| commit_event(d, NOW - SECONDS_PER_DAY),
            user_key: 0,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "this shard used its allowance beyond what its peer acknowledged",
            campaign: campaign(total(1_000_000)),
            setup: Setup {
                n_peers: 1,
                allowance_micros: 3_000,
                ..ALONE
            },
            before: |d| commit_event(d, NOW),
            user_key: 0,
            caps_here: true,
            expect: Err(Refusal::Budget(budget::Refusal::Allowance)),
        },
        GateCase {
            name: "an acknowledged round gives the allowance back",
            campaign: campaign(total(1_000_000)),
            setup: Setup {
                n_peers: 1,
                allowance_micros: 3_000,
                ..ALONE
            },
            before: |d| {
                commit_event(d, NOW);
                let mut deltas = Vec::new();
                let (round, _) = d.next_round(&mut deltas, NOW).expect("a round to send");
                assert_eq!(deltas.len(), 1);
                assert_eq!(deltas[0].committed_micros, EVENT_MICROS);
                d.acknowledge_round(round);
            },
            user_key: 0,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "the budget is checked first: an exhausted capped campaign is a budget refusal",
            campaign: campaign(|c| {
                c.budget.total_micros = Some(EVENT_MICROS - 1);
                c.frequency_caps = vec![ONE_AN_HOUR];
            }),
            setup: ALONE,
            before: nothing,
            user_key: 0,
            caps_here: false,
            expect: Err(Refusal::Budget(budget::Refusal::Total)),
        },
        GateCase {
            name: "a capped campaign does not bid without a user to count",
            campaign: campaign(capped),
            setup: ALONE,
            before: nothing,
            user_key: 0,
            caps_here: true,
            expect: Err(Refusal::CappedWithoutUser),
        },
        GateCase {
            name: "no user is the reason even off the owner shard",
            campaign: campaign(capped),
            setup: ALONE,
            before: nothing,
            user_key: 0,
            caps_here: false,
            expect: Err(Refusal::CappedWithoutUser),
        },
        GateCase {
            name: "a capped campaign does not bid on a shard that does not own the user",
            campaign: campaign(capped),
            setup: ALONE,
            before: nothing,
            user_key: USER,
            caps_here: false,
            expect: Err(Refusal::CapsOnAnotherShard),
        },
        GateCase {
            name: "a capped campaign bids for a user it has not shown to",
            campaign: campaign(capped),
            setup: ALONE,
            before: nothing,
            user_key: USER,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "a user at the cap within its window is refused",
            campaign: campaign(capped),
            setup: ALONE,
            before: |d| d.record_impression(USER, 0, &[ONE_AN_HOUR], NOW),
            user_key: USER,
            caps_here: true,
            expect: Err(Refusal::FrequencyCap),
        },
        GateCase {
            // Windows are fixed hours of the clock, not sliding: NOW starts one.
            name: "an impression in the previous window does not count, a minute ago or not",
            campaign: campaign(capped),
            setup: ALONE,
            before: |d| d.record_impression(USER, 0, &[ONE_AN_HOUR], NOW - 60),
            user_key: USER,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "another user's impressions do not count",
            campaign: campaign(capped),
            setup: ALONE,
            before: |d| d.record_impression(USER + 1, 0, &[ONE_AN_HOUR], NOW),
            user_key: USER,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "an even campaign at the lowest throttle loses the draw",
            campaign: campaign(even_daily),
            setup: Setup {
                throttle_start: THROTTLE_MIN,
                ..ALONE
            },
            before: nothing,
            user_key: 0,
            caps_here: true,
            expect: Err(Refusal::Pacing),
        },
        GateCase {
            name: "an even campaign at full throttle (the shard's start) always bids",
            campaign: campaign(even_daily),
            setup: ALONE,
            before: nothing,
            user_key: 0,
            caps_here: true,
            expect: Ok(()),
        },
        GateCase {
            name: "an asap campaign is never throttled",
            campaign: campaign(|c| c.budget.daily_micros = Some(1_000_000_000)),
            setup: Setup {
                throttle_start: THROTTLE_MIN,
                ..ALONE
            },
            before: nothing,
            user_key: 0,
            caps_here: true,
            expect: Ok(()),
        },
    ];
    for case in cases {
        check_gate(case);
    }
}

#[test]
fn gate_draws_for_pacing_only_when_the_other_checks_pass() {
    // Two shards with the same seed see the same paced campaign; one of them also sees a
    // campaign refused for budget before each request. If a refusal used a draw, their
    // pacing decisions would part.
    let paced = campaign(|c| {
        c.pacing = crate::campaign::Pacing::Even;
        c.budget.daily_micros = Some(1_000_000_000);
    });
    let broke = campaign(|c| c.budget.total_micros = Some(0));
    let setup = Setup {
        throttle_start: 0.5,
        ..ALONE
    };
    let campaigns = [paced.clone(), broke.clone()];
    let mut plain = setup.delivery(&campaigns);
    let mut busy = setup.delivery(&campaigns);
    let mut n_admitted = 0;
    for _ in 0..1000 {
        let refused = busy.admit(1, &broke, 0, true, NOW);
        assert_eq!(refused, Err(Refusal::Budget(budget::Refusal::Total)));
        let a = plain.admit(0, &paced, 0, true, NOW);
        let b = busy.admit(0, &paced, 0, true, NOW);
        assert_eq!(a, b);
        n_admitted += u64::from(a.is_ok());
    }
    // Half of a thousand draws, give or take the seed's luck, and every loss counted.
    assert!((430..=570).contains(&n_admitted), "{n_admitted} admitted");
    assert_eq!(plain.pacer().requests_throttled(), 1000 - n_admitted);
    assert_eq!(busy.ledger().counters().refused_total, 1000);
}

/// A request with `imp_ids.len()` banner impressions.
fn request(request_id: &str, imp_ids: &[&str]) -> AdRequest {
    let imps: Vec<String> = imp_ids
        .iter()
        .map(|id| format!(r#"{{"id":"{id}","banner":{{"w":300,"h":250}}}}"#))
        .collect();
    let body = format!(
        r#"{{"id":"{request_id}","imp":[{}],"site":{{"id":"s1","domain":"news.example.com"}}}}"#,
        imps.join(",")
    );
    let mut request = AdRequest::default();
    parse_bid_request(body.as_bytes(), &mut request).expect("a valid request");
    request
}

fn winner(imp_idx: usize, campaign_idx: u32, price_cpm_micros: i64) -> Winner {
    Winner {
        imp_idx,
        campaign_idx,
        creative_idx: 0,
        bid_micros: price_cpm_micros,
        price_micros: price_cpm_micros,
        runner_up_micros: 0,
        external_idx: None,
    }
}

/// One commit: the catalog, the request and its winners (prices in USD), and what is left.
struct CommitCase {
    name: &'static str,
    campaigns: Vec<Campaign>,
    setup: Setup,
    request: AdRequest,
    winners: Vec<Winner>,
    /// The winners that leave, by their position in `winners`.
    expect_kept: &'static [usize],
    /// Each campaign's liability in the ledger afterwards, in its own currency.
    expect_liability_micros: &'static [i64],
}

fn check_commit(case: CommitCase) {
    let mut delivery = case.setup.delivery(&case.campaigns);
    let mut winners = case.winners.clone();
    delivery.commit_winners(
        &mut winners,
        &case.request,
        &case.campaigns,
        &currencies(),
        Currency::USD,
        NOW,
    );
    let expect_winners: Vec<Winner> = case.expect_kept.iter().map(|&k| case.winners[k]).collect();
    assert_eq!(winners, expect_winners, "{}: winners kept", case.name);
    let liability: Vec<i64> = (0..case.campaigns.len() as u32)
        .map(|idx| {
            delivery
                .ledger()
                .view(idx)
                .map_or(0, |v| v.liability_micros)
        })
        .collect();
    assert_eq!(
        liability, case.expect_liability_micros,
        "{}: liability",
        case.name
    );
    // A commit is a reservation for today, not a spend.
    for idx in 0..case.campaigns.len() as u32 {
        let view = delivery.ledger().view(idx).expect("a campaign");
        assert_eq!(
            view.day_liability_micros, view.liability_micros,
            "{}",
            case.name
        );
        assert_eq!(view.day_spent_micros, 0, "{}", case.name);
    }
}

#[test]
fn commit_reserves_one_event_per_winner_and_drops_what_cannot_leave() {
    let one_imp = || request("req-1", &["1"]);
    let cases = [
        CommitCase {
            name: "a winner reserves a thousandth of its CPM price",
            campaigns: vec![campaign(total(10_000))],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[0],
            expect_liability_micros: &[3_000],
        },
        CommitCase {
            name: "the price, not the bid, is reserved, and sub-micro thousandths are cut",
            campaigns: vec![campaign(total(10_000))],
            setup: ALONE,
            request: one_imp(),
            winners: vec![Winner {
                bid_micros: 2_000_000,
                ..winner(0, 0, 1_234_999)
            }],
            expect_kept: &[0],
            expect_liability_micros: &[1_234],
        },
        CommitCase {
            name: "a EUR campaign reserves the USD price converted at 0.92",
            campaigns: vec![campaign(|c| {
                c.currency = currency("EUR");
                c.budget.total_micros = Some(10_000);
            })],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[0],
            expect_liability_micros: &[2_760],
        },
        CommitCase {
            name: "a JPY campaign reserves the USD price converted at 150",
            campaigns: vec![campaign(|c| {
                c.currency = currency("JPY");
                c.budget.total_micros = Some(1_000_000);
            })],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 2_999_999)],
            expect_kept: &[0],
            expect_liability_micros: &[449_850],
        },
        CommitCase {
            name: "the second winner of a campaign over its total is dropped, the first kept",
            campaigns: vec![campaign(total(5_000))],
            setup: ALONE,
            request: request("req-1", &["1", "2"]),
            winners: vec![winner(0, 0, 3_000_000), winner(1, 0, 3_000_000)],
            expect_kept: &[0],
            expect_liability_micros: &[3_000],
        },
        CommitCase {
            name: "a winner beyond the shard's allowance is dropped",
            campaigns: vec![campaign(total(1_000_000))],
            setup: Setup {
                n_peers: 2,
                allowance_micros: 5_000,
                ..ALONE
            },
            request: request("req-1", &["1", "2"]),
            winners: vec![winner(0, 0, 3_000_000), winner(1, 0, 3_000_000)],
            expect_kept: &[0],
            expect_liability_micros: &[3_000],
        },
        CommitCase {
            name: "a refused winner does not stop a later one of another campaign",
            campaigns: vec![campaign(total(1_000)), campaign(total(10_000))],
            setup: ALONE,
            request: request("req-1", &["1", "2"]),
            winners: vec![winner(0, 0, 3_000_000), winner(1, 1, 4_000_000)],
            expect_kept: &[1],
            expect_liability_micros: &[0, 4_000],
        },
        CommitCase {
            name: "an unlimited campaign leaves and reserves nothing",
            campaigns: vec![campaign(|_| {})],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[0],
            expect_liability_micros: &[0],
        },
        CommitCase {
            name: "an external bid leaves and spends no budget of ours",
            campaigns: vec![campaign(total(1))],
            setup: ALONE,
            request: one_imp(),
            winners: vec![Winner {
                external_idx: Some(0),
                ..winner(0, 0, 3_000_000)
            }],
            expect_kept: &[0],
            expect_liability_micros: &[0],
        },
        CommitCase {
            name: "a limited campaign in a currency without a rate cannot be charged: dropped",
            campaigns: vec![campaign(|c| {
                c.currency = currency("XYZ");
                c.budget.total_micros = Some(1_000_000);
            })],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[],
            expect_liability_micros: &[0],
        },
        CommitCase {
            name: "a request id at the token's limit is trackable",
            campaigns: vec![campaign(total(10_000))],
            setup: ALONE,
            request: request(&"r".repeat(ID_BYTES_MAX), &["1"]),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[0],
            expect_liability_micros: &[3_000],
        },
        CommitCase {
            name: "a request id over the token's limit drops the winner before its commit",
            campaigns: vec![campaign(total(10_000))],
            setup: ALONE,
            request: request(&"r".repeat(ID_BYTES_MAX + 1), &["1"]),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[],
            expect_liability_micros: &[0],
        },
        CommitCase {
            name: "an imp id over the token's limit drops only that imp's winner",
            campaigns: vec![campaign(total(10_000))],
            setup: ALONE,
            request: request("req-1", &[&"i".repeat(ID_BYTES_MAX + 1), "2"]),
            winners: vec![winner(0, 0, 3_000_000), winner(1, 0, 4_000_000)],
            expect_kept: &[1],
            expect_liability_micros: &[4_000],
        },
        CommitCase {
            name: "a campaign id over the token's limit is dropped, even unlimited",
            campaigns: vec![campaign(|c| c.id = "c".repeat(ID_BYTES_MAX + 1))],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[],
            expect_liability_micros: &[0],
        },
        CommitCase {
            name: "an empty creative id is dropped",
            campaigns: vec![campaign(|c| c.creatives[0].id.clear())],
            setup: ALONE,
            request: one_imp(),
            winners: vec![winner(0, 0, 3_000_000)],
            expect_kept: &[],
            expect_liability_micros: &[0],
        },
        CommitCase {
            name: "a creative index the campaign does not have is dropped",
            campaigns: vec![campaign(total(10_000))],
            setup: ALONE,
            request: one_imp(),
            winners: vec![Winner {
                creative_idx: 1,
                ..winner(0, 0, 3_000_000)
            }],
            expect_kept: &[],
            expect_liability_micros: &[0],
        },
    ];
    for case in cases {
        check_commit(case);
    }
}

#[test]
fn realized_spend_stays_and_the_rest_of_the_commitment_is_released() {
    let campaigns = [campaign(|c| {
        c.budget.total_micros = Some(10_000);
        c.budget.daily_micros = Some(8_000);
    })];
    let mut delivery = ALONE.delivery(&campaigns);
    let mut winners = vec![winner(0, 0, 3_000_000)];
    let request = request("req-1", &["1"]);
    let currencies = currencies();
    delivery.commit_winners(
        &mut winners,
        &request,
        &campaigns,
        &currencies,
        Currency::USD,
        NOW,
    );
    assert_eq!(winners.len(), 1);
    // The exchange cleared at 2.50: 2_500 of the 3_000 reserved is spent, 500 comes back.
    let spent = spend_micros(
        &currencies,
        3_000_000,
        2_500_000,
        Currency::USD,
        Currency::USD,
    );
    assert_eq!(spent, 2_500);
    delivery.realize(0, NOW, 3_000, spent, NOW + 5);
    let view = delivery.ledger().view(0).expect("a campaign");
    assert_eq!(view.liability_micros, 2_500);
    assert_eq!(view.day_liability_micros, 2_500);
    assert_eq!(view.day_spent_micros, 2_500);
    assert_eq!(view.own_spent_micros, 2_500);
    // An event that neither spends nor was committed leaves the ledger as it was.
    delivery.realize(0, NOW, 0, 0, NOW + 6);
    assert_eq!(delivery.ledger().view(0), Some(view));
    assert_eq!(delivery.ledger().counters().unreserved_spend, 0);
}

#[test]
fn one_event_costs_a_thousandth_of_the_cpm_in_the_campaign_currency() {
    let currencies = currencies();
    let usd = Currency::USD;
    let eur = currency("EUR");
    let xyz = currency("XYZ");
    let cases = [
        ("same currency", 2_500_000, usd, usd, Some(2_500)),
        (
            "a thousandth is cut, not rounded",
            2_500_999,
            usd,
            usd,
            Some(2_500),
        ),
        (
            "under a thousand micros costs nothing",
            999,
            usd,
            usd,
            Some(0),
        ),
        ("USD into EUR at 0.92", 1_000_000, usd, eur, Some(920)),
        (
            "EUR into USD rounds half away",
            1_000_000,
            eur,
            usd,
            Some(1_087),
        ),
        ("a bid currency without a rate", 1_000_000, xyz, usd, None),
        (
            "a campaign currency without a rate",
            1_000_000,
            usd,
            xyz,
            None,
        ),
    ];
    for (name, price_cpm_micros, from, to, expect) in cases {
        assert_eq!(
            per_event_micros(&currencies, price_cpm_micros, from, to),
            expect,
            "{name}"
        );
    }
}

#[test]
fn spend_is_the_reported_price_only_when_it_is_no_higher_than_the_signed_one() {
    let currencies = currencies();
    let usd = Currency::USD;
    let eur = currency("EUR");
    let xyz = currency("XYZ");
    let signed = 2_000_000;
    let cases = [
        ("a lower clearing price", 1_500_000, usd, 1_500),
        ("the clearing price equal to ours", 2_000_000, usd, 2_000),
        ("a clearing price of zero is not believed", 0, usd, 2_000),
        ("a price over ours is not believed", 2_000_001, usd, 2_000),
        ("a negative price is not believed", -1, usd, 2_000),
        (
            "converted into the campaign's currency",
            1_500_000,
            eur,
            1_380,
        ),
        ("no rate: nothing can be charged", 1_500_000, xyz, 0),
    ];
    for (name, clearing, campaign_currency, expect) in cases {
        assert_eq!(
            spend_micros(&currencies, signed, clearing, usd, campaign_currency),
            expect,
            "{name}"
        );
    }
}

#[test]
fn one_shard_never_commits_past_a_total_budget() {
    // Random prices and imp counts for a thousand seconds of requests against a small budget,
    // from a printed seed: whatever the order, the reservations stop at the budget.
    let seed = 0x0dd5_eed5_u64;
    println!("seed {seed:#x}");
    let mut rng = PacingRng::new(seed);
    let budget_micros = 1_000_000;
    let campaigns = [campaign(total(budget_micros))];
    let mut delivery = ALONE.delivery(&campaigns);
    let currencies = currencies();
    let request = request("req-1", &["1", "2", "3"]);
    let mut committed_micros = 0;
    // Ten requests a second, all within one hold, so no reservation expires meanwhile.
    for step in 0..10_000_i64 {
        let now = NOW + step / 10;
        let n_imps = 1 + (rng.next_u64() % 3) as usize;
        let mut winners: Vec<Winner> = (0..n_imps)
            .map(|imp_idx| winner(imp_idx, 0, 1_000 + (rng.next_u64() % 9_000_000) as i64))
            .collect();
        let offered: Vec<Winner> = winners.clone();
        delivery.commit_winners(
            &mut winners,
            &request,
            &campaigns,
            &currencies,
            Currency::USD,
            now,
        );
        committed_micros += winners.iter().map(|w| w.price_micros / 1000).sum::<i64>();
        // The commit only drops winners; it never changes one.
        assert!(
            winners.iter().all(|w| offered.contains(w)),
            "seed {seed:#x}"
        );
    }
    let view = delivery.ledger().view(0).expect("a campaign");
    assert_eq!(view.liability_micros, committed_micros, "seed {seed:#x}");
    assert!(committed_micros <= budget_micros, "seed {seed:#x}");
    // Prices of at most 9_001 micros an event against 1_000_000: the budget ends up nearly
    // full, not refused early.
    assert!(committed_micros > budget_micros - 9_001, "seed {seed:#x}");
}
