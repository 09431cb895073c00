//! The ledger's rules on scripted and randomised schedules: one shard keeps its budget exactly,
//! expiry and realisation release what no spend can claim, days reset at UTC midnight, and
//! shards exchanging rounds over arbitrarily slow links never exceed the proven bound.

use super::*;

const T0: i64 = 1_790_000_000 - 1_790_000_000 % SECONDS_PER_DAY + 3600;

fn settings(n_peers: usize) -> LedgerSettings {
    LedgerSettings {
        allowance_micros: 10_000,
        hold_s: 600,
        n_peers,
    }
}

fn total(micros: i64) -> Limits {
    Limits {
        total_micros: Some(micros),
        daily_micros: None,
    }
}

#[test]
fn one_shard_commits_up_to_the_budget_and_no_further() {
    let mut ledger = BudgetLedger::new(settings(0), &[total(10_000)], T0);
    for _ in 0..4 {
        assert_eq!(ledger.commit(0, 2_500, T0), Ok(()));
    }
    assert_eq!(ledger.commit(0, 1, T0), Err(Refusal::Total));
    // The impression costs less than committed: the difference comes back.
    ledger.realize(0, T0, 2_500, 1_500, T0 + 1);
    assert_eq!(ledger.commit(0, 1_000, T0 + 1), Ok(()));
    assert_eq!(ledger.commit(0, 1, T0 + 1), Err(Refusal::Total));
    assert_eq!(ledger.view(0).unwrap().liability_micros, 10_000);
    assert_eq!(ledger.counters().refused_total, 2);
}

#[test]
fn unlimited_campaigns_are_not_tracked() {
    let mut ledger = BudgetLedger::new(settings(1), &[Limits::default()], T0);
    for _ in 0..1000 {
        assert_eq!(ledger.commit(0, 1_000_000, T0), Ok(()));
    }
    assert!(!ledger.is_limited(0));
    assert_eq!(ledger.view(0).unwrap().liability_micros, 0);
}

#[test]
fn commitments_without_spend_are_released_after_the_hold() {
    let mut ledger = BudgetLedger::new(settings(0), &[total(5_000)], T0);
    assert_eq!(ledger.commit(0, 5_000, T0), Ok(()));
    ledger.expire(T0 + 600);
    assert_eq!(ledger.commit(0, 1, T0 + 600), Err(Refusal::Total));
    // Released once the whole bucket is older than the hold.
    ledger.expire(T0 + BUCKET_S + 600);
    assert_eq!(ledger.commit(0, 5_000, T0 + BUCKET_S + 600), Ok(()));
    assert_eq!(ledger.counters().released_on_expiry_micros, 5_000);
    // A spend event after the release still counts, flagged.
    ledger.realize(0, T0, 5_000, 5_000, T0 + BUCKET_S + 601);
    assert_eq!(ledger.counters().unreserved_spend, 1);
    assert_eq!(ledger.view(0).unwrap().liability_micros, 10_000);
}

#[test]
fn a_lost_bid_releases_its_commitment_at_once() {
    let mut ledger = BudgetLedger::new(settings(0), &[total(5_000)], T0);
    assert_eq!(ledger.commit(0, 2_500, T0), Ok(()));
    assert_eq!(ledger.commit(0, 2_500, T0 + 1), Ok(()));
    assert_eq!(ledger.commit(0, 1, T0 + 2), Err(Refusal::Total));
    // The first bid lost: its room comes back now, not after the hold.
    assert!(ledger.release(0, T0, 2_500, T0 + 3));
    assert_eq!(ledger.view(0).unwrap().liability_micros, 2_500);
    assert_eq!(ledger.counters().released_on_loss_micros, 2_500);
    assert_eq!(ledger.commit(0, 2_500, T0 + 3), Ok(()));
    assert_eq!(ledger.commit(0, 1, T0 + 3), Err(Refusal::Total));
    // The bucket holds 5_000 (two bids); releasing more than it holds releases nothing.
    assert!(!ledger.release(0, T0, 5_001, T0 + 4));
    assert_eq!(ledger.view(0).unwrap().liability_micros, 5_000);
    // Nothing is released for an amount of zero, an unknown campaign or one without budget.
    assert!(!ledger.release(0, T0, 0, T0 + 4));
    assert!(!ledger.release(7, T0, 2_500, T0 + 4));
    let mut unlimited = BudgetLedger::new(settings(0), &[Limits::default()], T0);
    assert_eq!(unlimited.commit(0, 2_500, T0), Ok(()));
    assert!(!unlimited.release(0, T0, 2_500, T0 + 1));
}

#[test]
fn a_loss_after_expiry_releases_nothing_twice() {
    let mut ledger = BudgetLedger::new(settings(0), &[total(5_000)], T0);
    assert_eq!(ledger.commit(0, 5_000, T0), Ok(()));
    ledger.expire(T0 + BUCKET_S + 600);
    assert_eq!(ledger.view(0).unwrap().liability_micros, 0);
    // The bucket is gone: the loss finds nothing to release.
    assert!(!ledger.release(0, T0, 5_000, T0 + BUCKET_S + 601));
    assert_eq!(ledger.view(0).unwrap().liability_micros, 0);
    assert_eq!(ledger.counters().released_on_loss_micros, 0);
    assert_eq!(ledger.counters().released_on_expiry_micros, 5_000);
}

#[test]
fn a_released_commitment_reaches_the_peers() {
    let limits = Limits {
        total_micros: Some(1_000_000),
        daily_micros: Some(1_000_000),
    };
    let midnight = T0 - T0 % SECONDS_PER_DAY + SECONDS_PER_DAY;
    let mut a = BudgetLedger::new(settings(1), &[limits], midnight - 10);
    let mut b = BudgetLedger::new(settings(1), &[limits], midnight - 10);
    assert_eq!(a.commit(0, 4_000, midnight - 10), Ok(()));
    assert_eq!(a.commit(0, 3_000, midnight + 1), Ok(()));
    let mut deltas = Vec::new();
    let (round, day) = a.next_round(&mut deltas).unwrap();
    b.apply(day, &deltas, midnight + 1);
    a.acknowledge(round);
    assert_eq!(b.view(0).unwrap().liability_micros, 7_000);
    // Yesterday's bid lost: the total is freed, today's budget was never charged for it.
    assert!(a.release(0, midnight - 10, 4_000, midnight + 2));
    let (_, day) = a.next_round(&mut deltas).unwrap();
    assert_eq!(deltas[0].released_micros, 4_000);
    assert_eq!(deltas[0].day_released_micros, 0);
    b.apply(day, &deltas, midnight + 2);
    let view = b.view(0).unwrap();
    assert_eq!(view.liability_micros, 3_000);
    assert_eq!(view.day_liability_micros, 3_000);
}

#[test]
fn daily_budget_resets_at_utc_midnight() {
    let limits = Limits {
        total_micros: Some(30_000),
        daily_micros: Some(10_000),
    };
    let midnight = T0 - T0 % SECONDS_PER_DAY + SECONDS_PER_DAY;
    let mut ledger = BudgetLedger::new(settings(0), &[limits], midnight - 10);
    assert_eq!(ledger.commit(0, 10_000, midnight - 10), Ok(()));
    assert_eq!(ledger.commit(0, 1, midnight - 1), Err(Refusal::Daily));
    ledger.realize(0, midnight - 10, 10_000, 10_000, midnight - 1);
    // Midnight: a new day's budget; the total keeps yesterday's spend.
    assert_eq!(ledger.commit(0, 10_000, midnight), Ok(()));
    assert_eq!(ledger.commit(0, 1, midnight + 1), Err(Refusal::Daily));
    let view = ledger.view(0).unwrap();
    assert_eq!(view.liability_micros, 20_000);
    assert_eq!(view.day_liability_micros, 10_000);
    // A bid of yesterday realised today frees yesterday's budget only.
    let mut ledger = BudgetLedger::new(settings(0), &[limits], midnight - 10);
    assert_eq!(ledger.commit(0, 10_000, midnight - 10), Ok(()));
    ledger.realize(0, midnight - 10, 10_000, 4_000, midnight + 5);
    let view = ledger.view(0).unwrap();
    assert_eq!(view.liability_micros, 4_000);
    assert_eq!(view.day_liability_micros, 0);
    assert_eq!(view.day_spent_micros, 0);
}

#[test]
fn allowance_waits_for_every_peer() {
    let mut a = BudgetLedger::new(settings(2), &[total(1_000_000)], T0);
    assert_eq!(a.commit(0, 10_000, T0), Ok(()));
    assert_eq!(a.commit(0, 1, T0), Err(Refusal::Allowance));
    let mut deltas = Vec::new();
    let (round, _) = a.next_round(&mut deltas).unwrap();
    assert_eq!(deltas.len(), 1);
    assert_eq!(
        a.next_round(&mut deltas),
        None,
        "one round in flight at a time"
    );
    a.acknowledge(round);
    assert_eq!(a.commit(0, 1, T0), Err(Refusal::Allowance));
    a.acknowledge(round);
    assert_eq!(a.commit(0, 10_000, T0), Ok(()));
}

/// A tiny deterministic generator for the schedules below (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Message {
    Round {
        from: usize,
        round: u64,
        day: i64,
        deltas: Vec<Delta>,
    },
    Ack {
        to: usize,
        round: u64,
    },
}

/// `n` ledgers; every step one of them bids, realises, rounds, or one message in flight is
/// delivered, in a random order (messages on one link stay in order, as glommio's channels
/// keep them). The sum of liabilities never exceeds the bound, and spend never exceeds it.
#[test]
fn shards_never_exceed_budget_plus_bound_on_any_schedule() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed);
        let n = 2 + (seed as usize % 3);
        let budget = 50_000 + rng.below(50_000) as i64;
        let allowance = 1_000 + rng.below(9_000) as i64;
        let limits = [Limits {
            total_micros: Some(budget),
            daily_micros: None,
        }];
        let mut shards: Vec<BudgetLedger> = (0..n)
            .map(|_| {
                BudgetLedger::new(
                    LedgerSettings {
                        allowance_micros: allowance,
                        hold_s: 600,
                        n_peers: n - 1,
                    },
                    &limits,
                    T0,
                )
            })
            .collect();
        // links[from][to]: in-order queues.
        let mut links: Vec<Vec<std::collections::VecDeque<Message>>> = (0..n)
            .map(|_| (0..n).map(|_| std::collections::VecDeque::new()).collect())
            .collect();
        let mut outstanding: Vec<Vec<i64>> = vec![Vec::new(); n];
        let mut spent = 0i64;
        for _ in 0..20_000 {
            let shard = rng.below(n as u64) as usize;
            match rng.below(10) {
                0..=4 => {
                    let price = 100 + rng.below(900) as i64;
                    if shards[shard].commit(0, price, T0).is_ok() {
                        outstanding[shard].push(price);
                    }
                }
                5 => {
                    if let Some(price) = outstanding[shard].pop() {
                        let spend = price - rng.below(price as u64 / 2) as i64;
                        shards[shard].realize(0, T0, price, spend, T0);
                        spent += spend;
                    }
                }
                6 => {
                    let mut deltas = Vec::new();
                    if let Some((round, day)) = shards[shard].next_round(&mut deltas) {
                        for to in (0..n).filter(|&to| to != shard) {
                            links[shard][to].push_back(Message::Round {
                                from: shard,
                                round,
                                day,
                                deltas: deltas.clone(),
                            });
                        }
                    }
                }
                _ => {
                    let from = rng.below(n as u64) as usize;
                    if let Some(message) = links[from][shard].pop_front() {
                        match message {
                            Message::Round {
                                from,
                                round,
                                day,
                                deltas,
                            } => {
                                shards[shard].apply(day, &deltas, T0);
                                links[shard][from].push_back(Message::Ack { to: from, round });
                            }
                            Message::Ack { to, round } => {
                                assert_eq!(to, shard);
                                shards[shard].acknowledge(round);
                            }
                        }
                    }
                }
            }
            let liability: i64 = shards.iter().map(|s| s.campaigns[0].liability()).sum();
            let bound = budget + (n as i64 - 1) * allowance;
            assert!(
                liability <= bound,
                "seed {seed}: liability {liability} > {bound}"
            );
            assert!(spent <= bound, "seed {seed}: spent {spent} > {bound}");
        }
    }
}
