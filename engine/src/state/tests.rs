//! A shard's state end to end: taken from live objects, encoded, decoded and imported it gives
//! the same answers; campaigns are matched by id; three old shards fold into two without
//! losing a campaign's spend or a user's caps; corrupt input is an error, never a panic.

use hashbrown::HashMap;
use proptest::prelude::*;

use super::*;
use crate::budget::{LedgerSettings, SECONDS_PER_DAY};
use crate::campaign::model::{Budget, Pacing, SpendOn};
use crate::campaign::{Campaign, CampaignBuilder};
use crate::delivery::DeliverySettings;
use crate::freqcap::owner_shard;
use crate::pacing::PacingConfig;
use crate::tracking::{EventWindow, Lane, Seen};

/// 10:00 UTC on some day.
const T0: i64 = 20_100 * SECONDS_PER_DAY + 10 * 3600;
const HOLD_S: i64 = 600;

fn budget(total_micros: Option<i64>, daily_micros: Option<i64>) -> Budget {
    Budget {
        total_micros,
        daily_micros,
        spend_on: SpendOn::Impression,
    }
}

/// Four campaigns: budgeted and even, unlimited and capped, budgeted asap, daily even capped.
fn catalog() -> Vec<Campaign> {
    vec![
        CampaignBuilder::new("alpha")
            .budget(budget(Some(50_000_000), Some(5_000_000)))
            .pacing(Pacing::Even)
            .build(),
        CampaignBuilder::new("bravo").frequency_cap(2, 3600).build(),
        CampaignBuilder::new("charlie")
            .budget(budget(Some(3_000_000), None))
            .build(),
        CampaignBuilder::new("delta")
            .budget(budget(None, Some(2_000_000)))
            .pacing(Pacing::Even)
            .frequency_cap(3, 86_400)
            .build(),
    ]
}

fn ids(campaigns: &[Campaign]) -> Vec<&str> {
    campaigns.iter().map(|c| c.id.as_str()).collect()
}

fn settings(n_peers: usize) -> DeliverySettings {
    DeliverySettings {
        ledger: LedgerSettings {
            allowance_micros: 1_000_000,
            hold_s: HOLD_S,
            n_peers,
        },
        pacing: PacingConfig::default(),
        freqcap_users_max: 1_000,
    }
}

fn window_size() -> WindowSize {
    WindowSize::for_rate(20, HOLD_S).expect("valid")
}

/// A shard's live objects.
struct Live {
    campaigns: Vec<Campaign>,
    delivery: Delivery,
    windows: EventWindows,
    counters: Vec<CampaignCounters>,
}

impl Live {
    fn new(campaigns: Vec<Campaign>, shard_idx: usize, n_peers: usize, base: u64) -> Live {
        let delivery = Delivery::new(settings(n_peers), &campaigns, shard_idx, T0);
        let counters = vec![CampaignCounters::default(); campaigns.len()];
        Live {
            campaigns,
            delivery,
            windows: EventWindows::new(EventWindow::new(window_size(), HOLD_S, base)),
            counters,
        }
    }

    fn state(&self, log_position: u64) -> ShardState {
        ShardState::from_live(
            ids(&self.campaigns),
            &self.delivery,
            &self.windows,
            &self.counters,
            log_position,
        )
    }

    /// `minutes` of traffic: requests, bids committed and signed, impressions of some of
    /// them (spend, caps, events), pacing updates. `salt` varies users and choices.
    fn serve(&mut self, from_s: i64, minutes: i64, salt: u64) {
        let mut signed: Vec<(u32, u64, i64, u64)> = Vec::new();
        for minute in 0..minutes {
            let now = from_s + minute * 60;
            self.delivery.update_pacing(now);
            for request in 0..6u64 {
                self.delivery.observe_request(now);
                let campaign_idx = ((request + salt + minute as u64) % 4) as u32;
                let user_key = 1 + (request * 7 + salt * 13 + minute as u64) % 40;
                let campaign = &self.campaigns[campaign_idx as usize];
                if self
                    .delivery
                    .admit(campaign_idx, campaign, user_key, true, now)
                    .is_err()
                {
                    continue;
                }
                let price = 1_000 + (request as i64) * 100;
                let ledger = self.delivery.ledger_mut();
                if ledger.is_limited(campaign_idx)
                    && ledger.commit(campaign_idx, price, now).is_err()
                {
                    continue;
                }
                let Some(sequence) = self.windows.issue(now) else {
                    continue;
                };
                self.counters[campaign_idx as usize].bids += 1;
                signed.push((campaign_idx, user_key, now, sequence));
            }
            // Half of the bids of two minutes ago show, once (a repeat is not counted).
            for &(campaign_idx, user_key, issued_s, sequence) in signed
                .iter()
                .filter(|(_, _, at, sequence)| *at == now - 120 && sequence % 2 == 0)
            {
                for _ in 0..2 {
                    if self.windows.first_seen(Lane::Impression, sequence) != Seen::First {
                        continue;
                    }
                    let caps = self.campaigns[campaign_idx as usize].frequency_caps.clone();
                    self.delivery
                        .record_impression(user_key, campaign_idx, &caps, now);
                    let price = 1_000 + (sequence as i64 % 6) * 100;
                    self.delivery
                        .realize(campaign_idx, issued_s, price, price / 2, now);
                    let counters = &mut self.counters[campaign_idx as usize];
                    counters.impressions += 1;
                    counters.spend_micros += price / 2;
                }
            }
            self.delivery.ledger_mut().expire(now);
        }
    }
}

fn busy(shard_idx: usize, base: u64, salt: u64) -> Live {
    let mut live = Live::new(catalog(), shard_idx, 0, base);
    live.serve(T0, 30, salt);
    live
}

fn encoded(state: &ShardState) -> Vec<u8> {
    let mut bytes = Vec::new();
    state.encode(&mut bytes);
    bytes
}

#[test]
fn a_state_survives_encoding_and_import() {
    let mut original = busy(0, 1_000, 1);
    let state = original.state(77);
    assert!(
        !state.ledger.outstanding.is_empty(),
        "commitments in flight"
    );
    assert!(!state.freqcaps.entries.is_empty(), "caps counted");
    assert!(state.counters.iter().any(|c| c.impressions > 0));
    let bytes = encoded(&state);
    let decoded = ShardState::decode(&bytes).expect("decodes");
    assert_eq!(decoded, state);
    assert_eq!(encoded(&decoded), bytes, "one encoding per state");

    let mut restored = Live::new(catalog(), 0, 0, 1 << 50);
    let report = decoded
        .import_into(
            ids(&catalog()),
            &mut restored.delivery,
            &mut restored.windows,
            &mut restored.counters,
        )
        .expect("imports");
    assert_eq!(report.campaigns_gone, 0);
    let again = restored.state(77);
    assert_eq!(again.ledger, state.ledger);
    assert_eq!(again.freqcaps, state.freqcaps);
    assert_eq!(again.pacer, state.pacer);
    assert_eq!(again.counters, state.counters);
    assert_eq!(
        again.windows.history,
        vec![state.windows.current.clone().unwrap()]
    );
    // The same answers: budgets, caps, pacing, and every event of the old run.
    let now = T0 + 30 * 60;
    for idx in 0..4u32 {
        let (a, b) = (&mut original.delivery, &mut restored.delivery);
        assert_eq!(b.ledger().view(idx), a.ledger().view(idx), "campaign {idx}");
        assert_eq!(b.pacer().throttle(idx), a.pacer().throttle(idx));
        for amount in [1, 100_000, 3_000_000] {
            assert_eq!(
                b.ledger_mut().check(idx, amount, now),
                a.ledger_mut().check(idx, amount, now)
            );
        }
        for user_key in 0..42 {
            let caps = &catalog()[idx as usize].frequency_caps;
            assert_eq!(
                b.freqcaps().allows(user_key, idx, caps, now),
                a.freqcaps().allows(user_key, idx, caps, now)
            );
        }
    }
    // Every sequence whose token may still be live (from the export's first on) is judged
    // alike; the older ones, whose tokens expired, are out of reach.
    let issued = original.windows.current().n_issued();
    let live_from = state.windows.current.as_ref().map_or(0, |w| w.first_n);
    assert!(
        live_from > 0 && live_from < issued,
        "a test of live and dead tokens"
    );
    for n in 0..issued + 10 {
        for lane in Lane::ALL {
            let before = original.windows.first_seen(lane, 1_000 + n);
            let after = restored.windows.first_seen(lane, 1_000 + n);
            if n >= live_from {
                assert_eq!(after, before, "+{n}");
            } else {
                assert_eq!(after, Seen::OutOfReach, "+{n}");
            }
        }
    }
}

#[test]
fn campaigns_are_matched_by_id() {
    let live = busy(0, 5, 2);
    let state = live.state(0);
    // The new catalog: charlie gone, the others reordered, echo new.
    let mut campaigns = catalog();
    campaigns.remove(2);
    campaigns.reverse();
    campaigns.insert(1, CampaignBuilder::new("echo").build());
    let mut restored = Live::new(campaigns, 0, 0, 1 << 40);
    let report = state
        .import_into(
            ids(&restored.campaigns),
            &mut restored.delivery,
            &mut restored.windows,
            &mut restored.counters,
        )
        .expect("imports");
    assert_eq!(report.campaigns_gone, 1);
    for (new_idx, campaign) in restored.campaigns.iter().enumerate() {
        let old_idx = catalog().iter().position(|c| c.id == campaign.id);
        let new_view = restored.delivery.ledger().view(new_idx as u32).unwrap();
        let new_counters = restored.counters[new_idx];
        match old_idx {
            Some(old_idx) => {
                let old_view = live.delivery.ledger().view(old_idx as u32).unwrap();
                assert_eq!(new_view.liability_micros, old_view.liability_micros);
                assert_eq!(new_counters, live.counters[old_idx], "{}", campaign.id);
                assert_eq!(
                    restored.delivery.pacer().throttle(new_idx as u32),
                    live.delivery.pacer().throttle(old_idx as u32)
                );
            }
            None => assert!(new_counters.is_zero() && new_view.liability_micros == 0),
        }
    }
}

#[test]
fn three_old_shards_fold_into_two_keeping_spend_and_caps() {
    let old: Vec<ShardState> = (0..3)
        .map(|k| busy(k, (k as u64 + 1) << 48, k as u64 * 5).state(k as u64))
        .collect();
    let merged: Vec<ShardState> = (0..2).map(|k| ShardState::merge(&old, k, 2)).collect();
    let by_id = |states: &[ShardState], id: &str| {
        let (mut spent, mut liability, mut spend_counted) = (0i64, 0i64, 0i64);
        for state in states {
            let Some(idx) = state.campaign_ids.iter().position(|c| c == id) else {
                continue;
            };
            if let Some(t) = state
                .ledger
                .campaigns
                .iter()
                .find(|t| t.campaign_idx == idx as u32)
            {
                spent += t.spent_micros;
                liability += t.committed_micros - t.released_micros;
            }
            spend_counted += state.counters[idx].spend_micros;
        }
        (spent, liability, spend_counted)
    };
    for id in ["alpha", "bravo", "charlie", "delta"] {
        assert_eq!(by_id(&merged, id), by_id(&old, id), "{id}");
    }
    assert!(by_id(&old, "alpha").0 > 0, "a test of spend");
    // Every cap counter, on its user's owner.
    for (k, state) in merged.iter().enumerate() {
        assert!(state
            .freqcaps
            .entries
            .iter()
            .all(|entry| owner_shard(entry.user_key, 2) == k));
    }
    let entries =
        |states: &[ShardState]| -> usize { states.iter().map(|s| s.freqcaps.entries.len()).sum() };
    assert_eq!(entries(&merged), entries(&old));
    // Old shards 0 and 2 go to new shard 0, old shard 1 to new shard 1.
    assert_eq!(merged[0].windows.history.len(), 2);
    assert_eq!(merged[1].windows.history.len(), 1);
    assert!(merged.iter().all(|s| s.windows.current.is_none()));
    // The pacers share the traffic: two new shards see what three old ones saw.
    let requests =
        |states: &[ShardState]| -> u64 { states.iter().map(|s| s.pacer.requests_today).sum() };
    assert!((requests(&merged) as i64 - requests(&old) as i64).abs() <= 48);
    // And each new shard takes its state.
    for (k, state) in merged.iter().enumerate() {
        let mut shard = Live::new(catalog(), k, 1, (k as u64 + 7) << 56);
        let bytes = encoded(state);
        ShardState::decode(&bytes)
            .expect("decodes")
            .import_into(
                ids(&catalog()),
                &mut shard.delivery,
                &mut shard.windows,
                &mut shard.counters,
            )
            .expect("imports");
        assert_eq!(shard.windows.history().len(), state.windows.history.len());
        // Old shards that counted one user (this test routes no user) add their counts.
        let caps = &catalog()[1].frequency_caps;
        let mut counts: HashMap<u64, u32> = HashMap::new();
        for entry in state
            .freqcaps
            .entries
            .iter()
            .filter(|e| e.campaign_idx == 1)
        {
            *counts.entry(entry.user_key).or_insert(0) += entry.count;
        }
        for (user_key, count) in counts {
            let allowed = shard
                .delivery
                .freqcaps()
                .allows(user_key, 1, caps, T0 + 30 * 60);
            assert_eq!(allowed, count < 2, "user {user_key}");
        }
    }
}

#[test]
fn a_replayed_run_resumes_its_window_and_settled_shards_see_each_other() {
    let state = busy(0, 300, 3).state(5);
    let mut replay = Live::new(catalog(), 0, 0, 1 << 33);
    let (windows, _) = state
        .resume_into(
            ids(&catalog()),
            &mut replay.delivery,
            &mut replay.counters,
            window_size(),
            HOLD_S,
        )
        .expect("resumes");
    replay.windows = windows;
    let next = 300 + replay.windows.current().n_issued();
    assert_eq!(replay.windows.issue_recovered(next, T0 + 1_801), Ok(()));
    assert_eq!(replay.windows.first_seen(Lane::Win, next), Seen::First);
    let merged = ShardState::merge(&[state], 0, 1);
    assert_eq!(
        merged
            .resume_into(
                ids(&catalog()),
                &mut replay.delivery,
                &mut replay.counters,
                window_size(),
                HOLD_S
            )
            .err(),
        Some(ImportError::Windows(WindowsImportError::NoCurrent))
    );

    // Two new shards, each with its recovered state, told of the other's.
    let old: Vec<ShardState> = (0..2)
        .map(|k| busy(k, k as u64, k as u64).state(0))
        .collect();
    let merged: Vec<ShardState> = (0..2).map(|k| ShardState::merge(&old, k, 2)).collect();
    let mut shards: Vec<Live> = (0..2)
        .map(|k| Live::new(catalog(), k, 1, (k as u64 + 3) << 56))
        .collect();
    for (k, shard) in shards.iter_mut().enumerate() {
        merged[k]
            .import_into(
                ids(&catalog()),
                &mut shard.delivery,
                &mut shard.windows,
                &mut shard.counters,
            )
            .expect("imports");
        ShardState::settle_budget(ids(&catalog()), &mut shard.delivery, &[&merged[1 - k]]);
    }
    let total = |idx: u32| -> i64 {
        old.iter()
            .flat_map(|s| s.ledger.campaigns.iter())
            .filter(|t| t.campaign_idx == idx)
            .map(|t| t.committed_micros - t.released_micros)
            .sum()
    };
    for shard in &mut shards {
        let view = shard.delivery.ledger().view(0).unwrap();
        assert_eq!(view.liability_micros, total(0));
        // Nothing left to tell the peers: the recovered part counts as exchanged.
        let mut deltas = Vec::new();
        assert_eq!(shard.delivery.ledger_mut().next_round(&mut deltas), None);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = encoded(&busy(1, 9, 4).state(3));
    for cut in 0..bytes.len() {
        assert!(ShardState::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(ShardState::decode(&longer).is_err(), "trailing byte");
    let mut other_version = bytes.clone();
    other_version[STATE_MAGIC.len()] = STATE_VERSION + 1;
    assert!(ShardState::decode(&other_version).is_err());
}

#[test]
fn byte_flips_never_panic() {
    let bytes = encoded(&busy(1, 9, 4).state(3));
    let mut n_errors = 0;
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= flip;
            if ShardState::decode(&corrupt).is_err() {
                n_errors += 1;
            }
        }
    }
    // Most flips land in counters and decode (integrity is the file's checksum); the rest
    // are caught.
    assert!(n_errors > 0);
}

proptest! {
    #[test]
    fn random_input_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ShardState::decode(&tail);
        let mut input = STATE_MAGIC.to_vec();
        input.push(STATE_VERSION);
        input.extend_from_slice(&tail);
        let _ = ShardState::decode(&input);
    }

    #[test]
    fn corrupt_states_import_without_panic(at in 0usize..4096, flip in 1u8..=255) {
        let live = busy(0, 11, 6);
        let mut bytes = encoded(&live.state(1));
        let at = at % bytes.len();
        bytes[at] ^= flip;
        if let Ok(state) = ShardState::decode(&bytes) {
            let mut shard = Live::new(catalog(), 0, 1, 1 << 60);
            let _ = state.import_into(
                ids(&catalog()),
                &mut shard.delivery,
                &mut shard.windows,
                &mut shard.counters,
            );
            shard.serve(T0 + 1_800, 3, 1);
        }
    }
}
