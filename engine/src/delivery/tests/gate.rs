//! Every reason the gate refuses a campaign, and when it draws for pacing.

use super::*;

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
            name: "a budgeted campaign does not bid while the event log cannot write",
            campaign: campaign(total(2 * EVENT_MICROS)),
            setup: ALONE,
            before: |d| d.set_commitments_durable(false),
            user_key: 0,
            caps_here: true,
            expect: Err(Refusal::LogUnavailable),
        },
        GateCase {
            name: "an unbudgeted campaign bids while the event log cannot write",
            campaign: campaign(|_| {}),
            setup: ALONE,
            before: |d| d.set_commitments_durable(false),
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
