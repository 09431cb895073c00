//! Recovery from a log whose last commit was torn: a shard's segment cut at every byte offset
//! of its last records recovers exactly the records wholly before the cut (spend, counts and
//! commitments in the recovered state), and damage before the tail stops the start unless
//! damaged segments are skipped on request.

use std::fs;
use std::path::Path;

use adshard::campaign::{Budget, CampaignBuilder, SpendOn};
use adshard::config::Config;
use adshard::eventlog::layout::{Current, Layout};
use adshard::eventlog::record::encode;
use adshard::eventlog::segment::{file_name, SegmentHeader};
use adshard::eventlog::{BidRecord, EventRecord, Record, RunRecord};
use adshard::recovery::recover;
use adshard::tracking::{EventKind, LossReason};
use adshard_testkit::delivery::data;
use adshard_testkit::temp_dir;

const NOW: i64 = 1_767_000_000;
const PRICE_MICROS: i64 = 2_000;

fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.events.dir = dir.to_owned();
    // A small dedupe window: recovery allocates one per replica, and this test recovers
    // hundreds of times.
    config.tracking.bids_per_shard_per_s_max = 10;
    config
}

fn campaigns() -> adshard::campaign::CampaignData {
    let budget = Budget {
        total_micros: Some(1_000_000_000),
        daily_micros: None,
        spend_on: SpendOn::Impression,
    };
    data(vec![
        CampaignBuilder::new("c-a")
            .bid_cpm_micros(2_000_000)
            .budget(budget)
            .build(),
        CampaignBuilder::new("c-b")
            .bid_cpm_micros(1_000_000)
            .budget(budget)
            .build(),
    ])
}

/// Generation 1 of a one-shard log: a run, the dictionary, then `n` bids each followed by its
/// billing notice. Returns the segment's bytes and where each record ends.
fn segment(n: u64) -> (Vec<u8>, Vec<usize>) {
    let header = SegmentHeader {
        shard_idx: 0,
        first_lsn: 1,
        created_unix_s: NOW,
        generation: 1,
    };
    let mut out = header.encode().to_vec();
    let mut ends = Vec::new();
    let mut lsn = 1;
    let mut push = |record: Record<'_>, out: &mut Vec<u8>| {
        encode(lsn, &record, out);
        lsn += 1;
        ends.push(out.len());
    };
    let base = 1_000;
    push(
        Record::Run(RunRecord {
            shard_idx: 0,
            n_shards: 1,
            window_base: base,
            at_unix_s: NOW,
        }),
        &mut out,
    );
    push(Record::Campaigns(vec!["c-a", "c-b"]), &mut out);
    for i in 0..n {
        let campaign = (i % 2) as u32;
        push(
            Record::Bid(BidRecord {
                sequence: base + i,
                campaign,
                committed_micros: PRICE_MICROS,
                at_unix_s: NOW + i as i64,
            }),
            &mut out,
        );
        push(
            Record::Event(EventRecord {
                kind: EventKind::Billing,
                sequence: base + i,
                campaign,
                spend_micros: PRICE_MICROS - 500,
                committed_micros: PRICE_MICROS,
                issued_unix_s: NOW + i as i64,
                user_key: 0,
                spend_on: SpendOn::Impression,
                loss_reason: LossReason::Unknown,
                at_unix_s: NOW + i as i64 + 1,
            }),
            &mut out,
        );
    }
    (out, ends)
}

/// Writes generation 1 (one shard, `bytes` as its only segment) into `dir`.
fn write_generation(dir: &Path, bytes: &[u8]) {
    let _ = fs::remove_dir_all(dir);
    let layout = Layout::open(dir).unwrap();
    layout.prepare(1, 1).unwrap();
    fs::write(layout.shard_dir(1, 0).join(file_name(1)), bytes).unwrap();
    layout
        .switch_to(Current {
            generation: 1,
            n_shards: 1,
        })
        .unwrap();
}

/// (bids, billings, spend) per campaign id after recovering `config.events.dir`.
fn recovered(config: &Config) -> Vec<(String, u64, u64, i64)> {
    let (_layout, shards, _) = recover(config, &campaigns(), 1, NOW + 100)
        .expect("recovers")
        .expect("log on");
    let state = shards[0].state.as_ref().expect("a state");
    state
        .campaign_ids
        .iter()
        .zip(&state.counters)
        .map(|(id, c)| (id.clone(), c.bids, c.billings, c.spend_micros))
        .collect()
}

/// What the records before `cut` amount to: a bid counts when its record is whole, a billing
/// notice when its record is.
fn expected(ends: &[usize], cut: usize) -> Vec<(String, u64, u64, i64)> {
    let whole = ends.iter().filter(|&&end| end <= cut).count();
    // Records 0 and 1 are the run and the dictionary; then bid, billing, bid, billing...
    let mut totals = vec![("c-a".to_string(), 0, 0, 0), ("c-b".to_string(), 0, 0, 0)];
    for record in 2..whole {
        let i = (record - 2) / 2;
        let t = &mut totals[i % 2];
        if (record - 2) % 2 == 0 {
            t.1 += 1;
        } else {
            t.2 += 1;
            t.3 += PRICE_MICROS - 500;
        }
    }
    totals
}

#[test]
fn a_log_cut_at_every_offset_of_its_last_records_recovers_what_came_before() {
    let dir = temp_dir("events-torn-tail");
    let log_dir = dir.join("log");
    let config = config(&log_dir);
    let (bytes, ends) = segment(4);
    // Every byte of the last three records, and the boundaries around them.
    let tail_start = ends[ends.len() - 4];
    for cut in tail_start..=bytes.len() {
        write_generation(&log_dir, &bytes[..cut]);
        assert_eq!(recovered(&config), expected(&ends, cut), "cut at {cut}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_before_the_tail_stops_the_start_unless_skipped() {
    let dir = temp_dir("events-damage");
    let log_dir = dir.join("log");
    let mut config = config(&log_dir);
    let (mut bytes, ends) = segment(4);
    // A flipped bit in the third bid's record, with whole records after it.
    bytes[ends[5] + 12] ^= 0x40;
    write_generation(&log_dir, &bytes);
    let error = recover(&config, &campaigns(), 1, NOW + 100)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("damaged at offset") && error.contains("--skip-damaged-segments"),
        "{error}"
    );
    // The refused start changed nothing: the same generation is still current.
    assert_eq!(
        adshard::eventlog::layout::read_current(&log_dir).unwrap(),
        Some(Current {
            generation: 1,
            n_shards: 1
        })
    );
    config.events.skip_damaged_segments = true;
    assert_eq!(
        recovered(&config),
        expected(&ends, ends[5]),
        "what came before the damage"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Bids answered just before a crash may have no durable record; their events were never
/// acknowledged, so the recovered window reaches one second of bids (at
/// `tracking.bids_per_shard_per_s_max`) past the last logged one, and those events count once
/// instead of being refused as out of reach.
#[test]
fn the_recovered_window_reaches_past_the_last_logged_bid() {
    let dir = temp_dir("events-margin");
    let log_dir = dir.join("log");
    let config = config(&log_dir);
    let (bytes, _) = segment(4);
    write_generation(&log_dir, &bytes);
    let (_layout, shards, _) = recover(&config, &campaigns(), 1, NOW + 100)
        .expect("recovers")
        .expect("log on");
    let windows = &shards[0].state.as_ref().expect("a state").windows;
    let window = windows
        .iter()
        .find(|w| w.base == 1_000)
        .expect("the crashed run's window");
    // Four bids logged, then ten more sequences (10 bids/s configured).
    assert_eq!(window.n_issued, 4 + 10);
    fs::remove_dir_all(&dir).unwrap();
}
