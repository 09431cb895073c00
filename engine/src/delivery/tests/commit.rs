//! What the ledger holds after a commit, what a realised event leaves, and that one shard never
//! commits past a total budget.

use super::*;

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
