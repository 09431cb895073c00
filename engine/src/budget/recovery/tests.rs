//! A ledger across a restart: exported and imported it answers and behaves as before, several
//! exports add up, days and buckets are handled, the first round carries the recovered
//! liability, and settling the peers keeps the overspend bound from the first commit.

use super::super::{BudgetLedger, Delta, LedgerSettings, Limits, Refusal, BUCKET_S};
use super::*;

/// 01:00 UTC on some day: far from midnight.
const T0: i64 = 1_790_000_000 - 1_790_000_000 % SECONDS_PER_DAY + 3600;
const HOLD_S: i64 = 600;

fn settings(n_peers: usize) -> LedgerSettings {
    LedgerSettings {
        allowance_micros: 10_000,
        hold_s: HOLD_S,
        n_peers,
    }
}

fn limits() -> Vec<Limits> {
    vec![
        Limits {
            total_micros: Some(1_000_000),
            daily_micros: Some(200_000),
        },
        Limits::default(),
        Limits {
            total_micros: Some(50_000),
            daily_micros: None,
        },
    ]
}

fn same(idx: u32) -> Option<u32> {
    Some(idx)
}

/// A ledger that committed, realised and expired over a few minutes, with commitments still
/// outstanding in several buckets.
fn busy_ledger(n_peers: usize) -> BudgetLedger {
    let mut ledger = BudgetLedger::new(settings(n_peers), &limits(), T0);
    for step in 0..40i64 {
        let now = T0 + step * 20;
        let campaign = (step % 3) as u32;
        let amount = 500 + step * 37;
        if ledger.commit(campaign, amount, now).is_ok() && step % 4 == 0 {
            ledger.realize(campaign, now, amount, amount / 2, now + 5);
        }
    }
    ledger.expire(T0 + 700);
    ledger
}

fn views(ledger: &BudgetLedger) -> Vec<CampaignView> {
    (0..ledger.len() as u32)
        .map(|idx| ledger.view(idx).unwrap())
        .collect()
}

use super::super::CampaignView;

#[test]
fn an_imported_ledger_answers_and_behaves_like_the_exported_one() {
    let mut original = busy_ledger(0);
    let export = original.export_own();
    assert!(
        !export.outstanding.is_empty(),
        "a test with commitments in flight"
    );
    let mut restored = BudgetLedger::new(settings(0), &limits(), T0 + 700);
    restored.import_own(&export, same);
    assert_eq!(views(&restored), views(&original));
    assert_eq!(restored.export_own(), export);
    // The same questions get the same answers, the same later events the same ledger.
    for amount in [1, 1_000, 49_000, 200_000, 2_000_000] {
        for campaign in 0..3 {
            assert_eq!(
                restored.check(campaign, amount, T0 + 701),
                original.check(campaign, amount, T0 + 701),
                "campaign {campaign} amount {amount}"
            );
        }
    }
    for ledger in [&mut original, &mut restored] {
        ledger.realize(0, T0 + 780, 500 + 39 * 37, 100, T0 + 790);
        ledger.realize(2, T0 + 740, 500 + 37 * 37, 500 + 37 * 37, T0 + 795);
        let _ = ledger.commit(2, 3_000, T0 + 800);
        ledger.expire(T0 + 1_000);
    }
    assert_eq!(views(&restored), views(&original));
    for ledger in [&mut original, &mut restored] {
        ledger.expire(T0 + 2_000);
    }
    assert_eq!(views(&restored), views(&original));
    assert_eq!(restored.export_own(), original.export_own());
}

#[test]
fn several_exports_add_up_and_gone_campaigns_are_skipped() {
    let a = busy_ledger(0).export_own();
    let mut b_ledger = BudgetLedger::new(settings(0), &limits(), T0 + 690);
    // Within the busy ledger's live buckets (an older bucket would share a ring slot with its
    // newest and be released at once, as expired).
    b_ledger.commit(0, 7_000, T0 + 690).unwrap();
    b_ledger.commit(2, 3_000, T0 + 690).unwrap();
    let b = b_ledger.export_own();
    let mut both = BudgetLedger::new(settings(0), &limits(), T0);
    both.import_own(&a, same);
    both.import_own(&b, same);
    let expected = |idx: u32| {
        let (va, vb) = (
            busy_ledger(0).view(idx).unwrap(),
            b_ledger.view(idx).unwrap(),
        );
        (
            va.liability_micros + vb.liability_micros,
            va.day_spent_micros + vb.day_spent_micros,
        )
    };
    for idx in 0..3 {
        let view = both.view(idx).unwrap();
        assert_eq!(
            (view.liability_micros, view.day_spent_micros),
            expected(idx)
        );
    }
    // Merging the exports first gives the same ledger.
    let mut merged = LedgerExport::new(a.day);
    merged.add(&a, same);
    merged.add(&b, same);
    let mut from_merged = BudgetLedger::new(settings(0), &limits(), T0);
    from_merged.import_own(&merged, same);
    assert_eq!(views(&from_merged), views(&both));
    // Campaign 2 gone, campaign 0 now at index 1.
    let mut renumbered = BudgetLedger::new(settings(0), &[Limits::default(), limits()[0]], T0);
    renumbered.import_own(&b, |idx| (idx == 0).then_some(1));
    assert_eq!(renumbered.view(1).unwrap().liability_micros, 7_000);
    assert_eq!(renumbered.view(0).unwrap().liability_micros, 0);
}

#[test]
fn daily_counters_of_another_day_are_not_todays() {
    let day_s = SECONDS_PER_DAY;
    let mut yesterday = BudgetLedger::new(settings(0), &limits(), T0 - day_s);
    yesterday.commit(0, 150_000, T0 - day_s).unwrap();
    let export = yesterday.export_own();
    // Imported today: the total counts, today's budget is untouched.
    let mut today = BudgetLedger::new(settings(0), &limits(), T0);
    today.import_own(&export, same);
    let view = today.view(0).unwrap();
    assert_eq!(view.liability_micros, 150_000);
    assert_eq!(view.day_liability_micros, 0);
    assert_eq!(today.check(0, 200_000, T0), Ok(()));
    // A ledger still on yesterday follows an export of today.
    let mut late = BudgetLedger::new(settings(0), &limits(), T0 - day_s);
    late.commit(0, 100_000, T0 - day_s).unwrap();
    let mut todays = BudgetLedger::new(settings(0), &limits(), T0);
    todays.commit(0, 120_000, T0).unwrap();
    late.import_own(&todays.export_own(), same);
    let view = late.view(0).unwrap();
    assert_eq!(view.liability_micros, 220_000);
    assert_eq!(view.day_liability_micros, 120_000);
    assert_eq!(late.check(0, 80_001, T0), Err(Refusal::Daily));
}

#[test]
fn recovered_commitments_expire_and_realise_like_commits() {
    let mut live = BudgetLedger::new(settings(0), &limits(), T0);
    let mut replayed = BudgetLedger::new(settings(0), &limits(), T0);
    for (idx, at) in [(0u32, T0), (2, T0 + 61), (0, T0 + 200), (1, T0 + 300)] {
        live.commit(idx, 4_000, at).unwrap();
        replayed.commit_recovered(idx, 4_000, at);
    }
    assert_eq!(replayed.export_own(), live.export_own());
    // Over the budget: a replayed commit is not refused (it was allowed when it was made).
    replayed.commit_recovered(2, 60_000, T0 + 301);
    assert_eq!(replayed.view(2).unwrap().liability_micros, 64_000);
    replayed.realize(0, T0, 4_000, 1_000, T0 + 310);
    replayed.expire(T0 + 61 + HOLD_S + BUCKET_S);
    let view = replayed.view(0).unwrap();
    assert_eq!(view.liability_micros, 1_000 + 4_000);
    assert_eq!(view.own_spent_micros, 1_000);
    assert_eq!(replayed.view(2).unwrap().liability_micros, 60_000);
}

#[test]
fn buckets_beyond_the_ring_release_the_older_commitment() {
    // Exported under a long hold, imported under a short one: two buckets share a slot.
    let long = LedgerSettings {
        hold_s: 3_600,
        ..settings(0)
    };
    let mut old = BudgetLedger::new(long, &limits(), T0);
    old.commit(0, 1_000, T0).unwrap();
    let ring_s = (HOLD_S / BUCKET_S + 3) * BUCKET_S;
    old.commit(0, 2_000, T0 + ring_s).unwrap();
    let mut new = BudgetLedger::new(settings(0), &limits(), T0);
    new.import_own(&old.export_own(), same);
    assert_eq!(
        new.view(0).unwrap().liability_micros,
        2_000,
        "older released"
    );
    assert_eq!(new.counters().released_on_expiry_micros, 1_000);
    // The newer one is still held, and realised against its reservation.
    new.realize(0, T0 + ring_s, 2_000, 2_000, T0 + ring_s + 1);
    assert_eq!(new.counters().unreserved_spend, 0);
}

#[test]
fn the_first_round_carries_the_recovered_liability() {
    let export = busy_ledger(0).export_own();
    let mut ledger = BudgetLedger::new(settings(1), &limits(), T0 + 700);
    ledger.import_own(&export, same);
    let mut deltas = Vec::new();
    let (round, _) = ledger.next_round(&mut deltas).expect("a round");
    let mut peer = BudgetLedger::new(settings(1), &limits(), T0 + 700);
    peer.apply(export.day, &deltas, T0 + 700);
    for idx in 0..3u32 {
        let delta = deltas
            .iter()
            .find(|delta| delta.campaign_idx == idx)
            .copied()
            .unwrap_or(Delta {
                campaign_idx: idx,
                ..Delta::default()
            });
        let own = ledger.view(idx).unwrap();
        assert_eq!(
            delta.committed_micros - delta.released_micros,
            own.liability_micros
        );
        assert_eq!(
            peer.view(idx).unwrap().liability_micros,
            own.liability_micros
        );
        assert_eq!(
            peer.view(idx).unwrap().day_spent_micros,
            own.day_spent_micros
        );
    }
    // Rule 2: recovered commitments are not acknowledged yet, so nothing more until they are.
    let committed_0 = export.campaigns[0].committed_micros;
    assert!(committed_0 > 10_000);
    assert_eq!(ledger.commit(0, 1, T0 + 701), Err(Refusal::Allowance));
    ledger.acknowledge(round);
    assert_eq!(ledger.commit(0, 1, T0 + 701), Ok(()));
    // Without peers rule 2 does not apply.
    let mut alone = BudgetLedger::new(settings(0), &limits(), T0 + 700);
    alone.import_own(&export, same);
    assert_eq!(alone.commit(0, 1, T0 + 701), Ok(()));
}

/// Two shards after a restart: shard 1 recovered nearly the whole budget, shard 0 nothing.
/// Round by round, shard 0 commits an allowance each time its own round is acknowledged while
/// shard 1's first round is still on its way: past `budget + allowance`. Settled, shard 0 sees
/// shard 1's liability from the start.
#[test]
fn settling_the_peers_keeps_the_bound_from_the_first_commit() {
    let budget = 100_000;
    let limits = [Limits {
        total_micros: Some(budget),
        daily_micros: None,
    }];
    let mut old = BudgetLedger::new(settings(0), &limits, T0);
    old.commit(0, 95_000, T0).unwrap();
    let recovered = [LedgerExport::new(old.export_own().day), old.export_own()];
    let bound = budget + settings(1).allowance_micros;
    let run = |settle: bool| {
        let mut shards: Vec<BudgetLedger> = (0..2)
            .map(|k| {
                let mut ledger = BudgetLedger::new(settings(1), &limits, T0 + 10);
                ledger.import_own(&recovered[k], same);
                ledger
            })
            .collect();
        if settle {
            for k in 0..2 {
                shards[k].import_peer(&recovered[1 - k], same);
                shards[k].settle_recovered();
            }
        }
        // Shard 1's first round is slow; shard 0's rounds are acknowledged at once.
        let mut deltas = Vec::new();
        for step in 0..5 {
            while shards[0].commit(0, 1_000, T0 + 10 + step).is_ok() {}
            if let Some((round, day)) = shards[0].next_round(&mut deltas) {
                shards[1].apply(day, &deltas, T0 + 10 + step);
                shards[0].acknowledge(round);
            }
        }
        shards
            .iter()
            .map(|s| s.campaigns[0].liability())
            .sum::<i64>()
    };
    assert!(run(false) > bound, "the hole this guards against");
    assert!(run(true) <= budget, "settled: {}", run(true));
}
