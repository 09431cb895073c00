//! How long recovery takes on a large event log, and what a checkpoint costs: the figures
//! issue 16 asks for ("recovery time for a 1 GB log, target <= 5 s, and checkpoint cost").
//!
//! 1. Writes a synthetic generation of the log into a temporary directory: real segment
//!    files (`SegmentHeader` + `record::encode` frames, rotated at `--segment-bytes`) for
//!    `--shards` shards, each a Run record, the campaign dictionary, then a second-by-second
//!    mix of Bid, Event (spend notices, impression pixels, clicks, loss notices) and Traffic
//!    records over the campaigns of `--campaigns`, with sequences and lsns as a live shard
//!    writes them, until the log holds `--bytes`.
//! 2. Times a bare read of every shard's log (`eventlog::read::replay` with a callback that
//!    does nothing: file reads, CRC32C and decoding), then `recovery::recover` (the same
//!    read, plus the replay into each old shard's books, the merge, and the new generation's
//!    first checkpoints), each after `echo 3 > /proc/sys/vm/drop_caches` when that is
//!    allowed (cold page cache; otherwise it says "warm").
//! 3. Checkpoint cost: one shard's live objects (delivery, event windows at the default
//!    window size, counters) after `--checkpoint-bids` bids and their events, then
//!    `ShardState::from_live` + `encode` + the checkpoint frame, and the durable file write
//!    (temp file, fdatasync, rename, directory fsync, as the shard does, here with std I/O
//!    instead of the shard's io_uring files).
//!
//! usage: events-recovery --campaigns FILE.json [--bytes 1G] [--shards 2] [--new-shards N]
//!        [--segment-bytes 64M] [--rate 2000] [--checkpoint-bids 1000000] [--seed 1]
//!        [--dir DIR] [--keep]

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use adshard::books;
use adshard::campaign::{data, Campaign, SpendOn};
use adshard::catalog::Catalog;
use adshard::config::Config;
use adshard::currency::CurrencyTable;
use adshard::delivery::Delivery;
use adshard::eventlog::layout::{encode_checkpoint, CheckpointHeader, Current, Layout};
use adshard::eventlog::read::replay;
use adshard::eventlog::record::encode;
use adshard::eventlog::segment::{file_name, SegmentHeader};
use adshard::eventlog::{BidRecord, EventRecord, Lsn, Record, RunRecord, TrafficRecord};
use adshard::recovery::{delivery_settings, recover, window_size};
use adshard::state::ShardState;
use adshard::stats::CampaignCounters;
use adshard::tracking::{EventKind, EventWindow, EventWindows, LossReason};
use adshard_bench::loadgen::requests::SplitMix64;

/// The synthetic log's clock starts here (2026-09-21 14:13 UTC): far from midnight, so an
/// hour of log stays within one day of the budget ledger.
const START_UNIX_S: i64 = 1_790_000_000;
/// Users the synthetic traffic spreads over (the default frequency-cap store's size).
const USERS: u64 = 1 << 20;
/// Largest log the tool writes.
const BYTES_MAX: u64 = 64 << 30;
/// Auction requests per bid, for the traffic records (a no-bid is the common answer).
const REQUESTS_PER_BID: u64 = 4;

struct Args {
    campaigns: PathBuf,
    bytes: u64,
    shards: usize,
    new_shards: usize,
    segment_bytes: u64,
    rate: u64,
    checkpoint_bids: u64,
    seed: u64,
    dir: Option<PathBuf>,
    keep: bool,
}

fn parse_size(text: &str) -> anyhow::Result<u64> {
    let (number, unit) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?}: not a size"))?;
    if !(value.is_finite() && value > 0.0) {
        bail!("{text:?}: not a size");
    }
    Ok((value * unit as f64) as u64)
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        campaigns: PathBuf::new(),
        bytes: 1 << 30,
        shards: 2,
        new_shards: 0,
        segment_bytes: 64 << 20,
        rate: 2000,
        checkpoint_bids: 1_000_000,
        seed: 1,
        dir: None,
        keep: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        if flag == "--keep" {
            args.keep = true;
            continue;
        }
        let value = argv
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .with_context(|| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--campaigns" => args.campaigns = PathBuf::from(&value),
            "--bytes" => args.bytes = parse_size(&value)?,
            "--shards" => args.shards = number()? as usize,
            "--new-shards" => args.new_shards = number()? as usize,
            "--segment-bytes" => args.segment_bytes = parse_size(&value)?,
            "--rate" => args.rate = number()?,
            "--checkpoint-bids" => args.checkpoint_bids = number()?,
            "--seed" => args.seed = number()?,
            "--dir" => args.dir = Some(PathBuf::from(&value)),
            other => bail!("unknown option {other}"),
        }
    }
    if args.campaigns.as_os_str().is_empty() {
        bail!("--campaigns FILE is required");
    }
    if args.bytes > BYTES_MAX || !(1..=64).contains(&args.shards) || args.rate == 0 {
        bail!("--bytes at most {BYTES_MAX}, --shards 1..=64, --rate above 0");
    }
    if args.new_shards == 0 {
        args.new_shards = args.shards;
    }
    Ok(args)
}

/// A bid whose events are still to come.
#[derive(Clone, Copy)]
struct Pending {
    sequence: u64,
    campaign: u32,
    committed_micros: i64,
    issued_unix_s: i64,
    user_key: u64,
}

/// One shard's synthetic traffic, second by second: `rate` bids a second on random
/// campaigns; two seconds after a bid, its notices: 70% a spend notice (the campaign's win or
/// billing notice, cleared at 80% of the bid), 85% of those an impression pixel too and 2% a
/// click; 20% a loss notice; 10% nothing (the token expires).
struct Synth<'a> {
    campaigns: &'a [Campaign],
    rng: SplitMix64,
    window_base: u64,
    n_bids: u64,
    rate: u64,
    now_unix_s: i64,
    pending: VecDeque<Pending>,
}

impl<'a> Synth<'a> {
    fn new(campaigns: &'a [Campaign], rate: u64, seed: u64) -> Synth<'a> {
        let mut rng = SplitMix64(seed);
        let window_base = rng.next_u64();
        Synth {
            campaigns,
            rng,
            window_base,
            n_bids: 0,
            rate,
            now_unix_s: START_UNIX_S,
            pending: VecDeque::new(),
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.next_f64() < p
    }

    /// One second of records, into `each`.
    fn second(&mut self, each: &mut impl FnMut(&Record<'_>)) {
        let now = self.now_unix_s;
        for _ in 0..self.rate {
            let campaign_idx = self.below(self.campaigns.len() as u64) as u32;
            let campaign = &self.campaigns[campaign_idx as usize];
            let budgeted =
                campaign.budget.total_micros.is_some() || campaign.budget.daily_micros.is_some();
            let price_micros = (campaign.bid_cpm_micros / 1000).max(1);
            let bid = Pending {
                sequence: self.window_base.wrapping_add(self.n_bids),
                campaign: campaign_idx,
                committed_micros: if budgeted { price_micros } else { 0 },
                issued_unix_s: now,
                user_key: 1 + self.below(USERS),
            };
            self.n_bids += 1;
            each(&Record::Bid(BidRecord {
                sequence: bid.sequence,
                campaign: bid.campaign,
                committed_micros: bid.committed_micros,
                at_unix_s: now,
            }));
            self.pending.push_back(bid);
        }
        while self
            .pending
            .front()
            .is_some_and(|bid| bid.issued_unix_s + 2 <= now)
        {
            let bid = self.pending.pop_front().expect("checked above");
            self.events_of(bid, each);
        }
        each(&Record::Traffic(TrafficRecord {
            at_unix_s: now,
            requests: self.rate * REQUESTS_PER_BID,
        }));
        self.now_unix_s += 1;
    }

    fn events_of(&mut self, bid: Pending, each: &mut impl FnMut(&Record<'_>)) {
        let spend_on = self.campaigns[bid.campaign as usize].budget.spend_on;
        let price_micros = (self.campaigns[bid.campaign as usize].bid_cpm_micros / 1000).max(1);
        let now_unix_s = self.now_unix_s;
        let event = |kind, spend_micros, loss_reason| EventRecord {
            kind,
            sequence: bid.sequence,
            campaign: bid.campaign,
            spend_micros,
            committed_micros: bid.committed_micros,
            issued_unix_s: bid.issued_unix_s,
            user_key: bid.user_key,
            spend_on,
            loss_reason,
            at_unix_s: now_unix_s,
        };
        let draw = self.rng.next_f64();
        if draw < 0.7 {
            let kind = match spend_on {
                SpendOn::Win => EventKind::Win,
                SpendOn::Impression => EventKind::Billing,
            };
            each(&Record::Event(event(
                kind,
                price_micros * 4 / 5,
                LossReason::Unknown,
            )));
            if self.chance(0.85) {
                each(&Record::Event(event(
                    EventKind::Impression,
                    0,
                    LossReason::Unknown,
                )));
            }
            if self.chance(0.02) {
                each(&Record::Event(event(
                    EventKind::Click,
                    0,
                    LossReason::Unknown,
                )));
            }
        } else if draw < 0.9 {
            each(&Record::Event(event(
                EventKind::Loss,
                0,
                LossReason::Outbid,
            )));
        }
    }
}

/// Writes one shard's segments of `bytes` bytes or more; returns (records, bytes, segments).
fn write_shard(
    shard_dir: &Path,
    shard_idx: usize,
    n_shards: usize,
    ids: &[&str],
    synth: &mut Synth<'_>,
    bytes: u64,
    segment_bytes: u64,
) -> anyhow::Result<(u64, u64, u64)> {
    let mut next_lsn: Lsn = 1;
    let mut segment = Vec::with_capacity(segment_bytes as usize + 4096);
    let (mut total, mut n_segments) = (0u64, 0u64);
    let mut first_lsn = 1;
    let header = |first_lsn| SegmentHeader {
        shard_idx: shard_idx as u16,
        first_lsn,
        created_unix_s: START_UNIX_S,
        generation: 1,
    };
    segment.extend_from_slice(&header(1).encode());
    let mut frame = Vec::with_capacity(1 << 20);
    let run = Record::Run(RunRecord {
        shard_idx: shard_idx as u16,
        n_shards: n_shards as u16,
        window_base: synth.window_base,
        at_unix_s: START_UNIX_S,
    });
    for record in [run, Record::Campaigns(ids.to_vec())] {
        encode(next_lsn, &record, &mut segment);
        next_lsn += 1;
    }
    while total + segment.len() as u64 <= bytes {
        let mut result = Ok(());
        synth.second(&mut |record| {
            frame.clear();
            encode(next_lsn, record, &mut frame);
            if (segment.len() + frame.len()) as u64 > segment_bytes && result.is_ok() {
                result = write_segment(shard_dir, first_lsn, &segment);
                total += segment.len() as u64;
                n_segments += 1;
                segment.clear();
                first_lsn = next_lsn;
                segment.extend_from_slice(&header(next_lsn).encode());
            }
            segment.extend_from_slice(&frame);
            next_lsn += 1;
        });
        result?;
    }
    write_segment(shard_dir, first_lsn, &segment)?;
    total += segment.len() as u64;
    n_segments += 1;
    Ok((next_lsn - 1, total, n_segments))
}

/// Writes and fsyncs one segment file.
fn write_segment(shard_dir: &Path, first_lsn: Lsn, segment: &[u8]) -> anyhow::Result<()> {
    let path = shard_dir.join(file_name(first_lsn));
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(segment)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Empties the page cache, when this process may (root): true when it did. Only clean pages
/// are dropped: every file this tool reads was fsynced when written.
fn drop_caches() -> bool {
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

fn cache_word(cold: bool) -> &'static str {
    if cold {
        "cold page cache"
    } else {
        "warm page cache (drop_caches not allowed)"
    }
}

/// CPU seconds this process has used (user + system, every thread, exited ones included), from
/// `/proc/self/stat` at the usual 100 ticks a second; 0 where it cannot be read. On a shared
/// 2-core host the wall clock of a multi-threaded phase varies with the others' load; its CPU
/// time much less.
fn cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the command name.
    let ticks = |idx: usize| {
        fields
            .get(idx)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn per_s(n: f64, elapsed: Duration) -> f64 {
    n / elapsed.as_secs_f64().max(1e-9)
}

fn main() {
    if let Err(error) = run() {
        eprintln!("events-recovery: {error:#}");
        std::process::exit(2);
    }
}

fn run() -> anyhow::Result<()> {
    let args = args()?;
    let campaign_data = data::load_files(std::slice::from_ref(&args.campaigns))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut config = Config::default();
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Catalog::build(&campaign_data, &currencies);
    if catalog.campaigns().is_empty() {
        bail!("{}: no campaigns", args.campaigns.display());
    }
    let ids: Vec<&str> = catalog.campaigns().iter().map(|c| c.id.as_str()).collect();
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("events-recovery-{}", std::process::id())),
    };
    if dir.exists() {
        bail!("{} exists: give a new directory", dir.display());
    }
    config.events.dir = dir.clone();
    let result = measure(&args, &config, &campaign_data, &catalog, &ids, &dir);
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn measure(
    args: &Args,
    config: &Config,
    campaign_data: &adshard::campaign::CampaignData,
    catalog: &Catalog,
    ids: &[&str],
    dir: &Path,
) -> anyhow::Result<()> {
    let end_unix_s = write_log(args, catalog, ids, dir)?;
    let (records, bytes) = time_bare_read(args, dir)?;
    let cold = drop_caches();
    let (started, cpu_started) = (Instant::now(), cpu_s());
    let recovered = recover(config, campaign_data, args.new_shards, end_unix_s + 1)?;
    let elapsed = started.elapsed();
    let cpu = cpu_s() - cpu_started;
    let Some((layout, shards, report)) = recovered else {
        bail!("the log is off in the config");
    };
    drop(layout);
    let replayed: u64 = report.per_shard.iter().map(|s| s.records).sum();
    if replayed != records {
        bail!("recover replayed {replayed} records, the bare read {records}");
    }
    println!(
        "recover ({}): {:.3} s for {} shards -> {} shards: {:.2} M records/s, {:.0} MB/s \
         (read, replay into the books, merge, write {} first checkpoints of {} bytes in all)",
        cache_word(cold),
        elapsed.as_secs_f64(),
        args.shards,
        args.new_shards,
        per_s(records as f64, elapsed) / 1e6,
        per_s(bytes as f64, elapsed) / 1e6,
        shards.len(),
        checkpoint_bytes(dir, report.generation, args.new_shards),
    );
    let gib = bytes as f64 / (1u64 << 30) as f64;
    println!(
        "recover, per GiB of log: {:.3} s wall, {:.2} s CPU (user + system, all threads)",
        elapsed.as_secs_f64() / gib,
        cpu / gib
    );
    time_checkpoint(args, config, catalog, ids, dir)
}

/// Writes the synthetic generation; returns the time its last record has.
fn write_log(args: &Args, catalog: &Catalog, ids: &[&str], dir: &Path) -> anyhow::Result<i64> {
    let started = Instant::now();
    let layout = Layout::open(dir)?;
    layout.prepare(1, args.shards)?;
    let mut end_unix_s = START_UNIX_S;
    let (mut all_records, mut all_bytes, mut all_segments) = (0, 0, 0);
    for shard_idx in 0..args.shards {
        let mut synth = Synth::new(
            catalog.campaigns(),
            args.rate,
            args.seed.wrapping_mul(1000) + shard_idx as u64,
        );
        let (records, bytes, segments) = write_shard(
            &layout.shard_dir(1, shard_idx),
            shard_idx,
            args.shards,
            ids,
            &mut synth,
            args.bytes / args.shards as u64,
            args.segment_bytes,
        )?;
        end_unix_s = end_unix_s.max(synth.now_unix_s);
        all_records += records;
        all_bytes += bytes;
        all_segments += segments;
    }
    layout.switch_to(Current {
        generation: 1,
        n_shards: args.shards,
    })?;
    println!(
        "wrote {} records, {} bytes ({:.1} MB) in {} segments over {} shards, {} campaigns, \
         {} s of traffic at {} bids/s per shard, in {:.1} s",
        all_records,
        all_bytes,
        all_bytes as f64 / 1e6,
        all_segments,
        args.shards,
        ids.len(),
        end_unix_s - START_UNIX_S,
        args.rate,
        started.elapsed().as_secs_f64()
    );
    Ok(end_unix_s)
}

/// Reads every shard's log with a callback that does nothing: returns (records, bytes).
fn time_bare_read(args: &Args, dir: &Path) -> anyhow::Result<(u64, u64)> {
    let layout = Layout::open(dir)?;
    let cold = drop_caches();
    let (started, cpu_started) = (Instant::now(), cpu_s());
    let (mut records, mut bytes) = (0, 0);
    for shard_idx in 0..args.shards {
        let summary = replay(&layout.shard_dir(1, shard_idx), 0, false, |_, _| {})?;
        if summary.torn_tail.is_some() || !summary.skipped.is_empty() {
            bail!("shard {shard_idx}: the synthetic log reads as damaged: {summary:?}");
        }
        records += summary.records;
        bytes += summary.bytes;
    }
    let elapsed = started.elapsed();
    println!(
        "bare read ({}, one thread, shards in turn): {:.3} s ({:.2} s CPU): {:.2} M records/s, \
         {:.0} MB/s",
        cache_word(cold),
        elapsed.as_secs_f64(),
        cpu_s() - cpu_started,
        per_s(records as f64, elapsed) / 1e6,
        per_s(bytes as f64, elapsed) / 1e6,
    );
    Ok((records, bytes))
}

fn checkpoint_bytes(dir: &Path, generation: u64, n_shards: usize) -> u64 {
    let Ok(layout) = Layout::open(dir) else {
        return 0;
    };
    (0..n_shards)
        .filter_map(|k| std::fs::metadata(layout.shard_dir(generation, k).join("checkpoint")).ok())
        .map(|meta| meta.len())
        .sum()
}

/// One shard's live objects after `--checkpoint-bids` bids and their events, then the
/// checkpoint the shard would write: built and encoded (median of 5), then written durably.
fn time_checkpoint(
    args: &Args,
    config: &Config,
    catalog: &Catalog,
    ids: &[&str],
    dir: &Path,
) -> anyhow::Result<()> {
    let campaigns = catalog.campaigns();
    let size = window_size(config);
    let hold_s = config.tracking.hold_s();
    let mut synth = Synth::new(campaigns, args.rate, args.seed ^ 0x5eed);
    let mut delivery = Delivery::new(delivery_settings(config, 1), campaigns, 0, START_UNIX_S);
    let mut windows = EventWindows::new(EventWindow::new(size, hold_s, synth.window_base));
    let mut counters = vec![CampaignCounters::default(); campaigns.len()];
    let mut n_records = 0u64;
    while synth.n_bids < args.checkpoint_bids {
        synth.second(&mut |record| {
            n_records += 1;
            match record {
                Record::Bid(bid) => {
                    books::apply_bid(&mut windows, &mut delivery, &mut counters, bid)
                }
                Record::Event(event) => {
                    books::apply_event(
                        &mut windows,
                        &mut delivery,
                        &mut counters,
                        campaigns,
                        event,
                        true,
                    );
                }
                Record::Traffic(t) => delivery.observe_requests(t.requests, t.at_unix_s),
                _ => {}
            }
        });
    }
    let mut encode_times = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let state = ShardState::from_live(
            ids.iter().copied(),
            &delivery,
            &windows,
            &counters,
            n_records,
        );
        let mut encoded = Vec::new();
        state.encode(&mut encoded);
        let header = CheckpointHeader {
            shard_idx: 0,
            generation: 1,
            log_position: n_records,
        };
        bytes.clear();
        encode_checkpoint(header, &encoded, &mut bytes);
        encode_times.push(started.elapsed());
    }
    encode_times.sort();
    let started = Instant::now();
    write_durably(dir, &bytes)?;
    let write = started.elapsed();
    println!(
        "checkpoint of one shard after {} bids ({} records, window of {} sequences, {} \
         campaigns): {} bytes; from_live + encode {:.1} ms (median of 5, min {:.1}), durable \
         write {:.1} ms (std I/O: write, fdatasync, rename, directory fsync)",
        synth.n_bids,
        n_records,
        size.capacity,
        campaigns.len(),
        bytes.len(),
        encode_times[2].as_secs_f64() * 1e3,
        encode_times[0].as_secs_f64() * 1e3,
        write.as_secs_f64() * 1e3,
    );
    Ok(())
}

/// The shard's checkpoint write, with std I/O: temp file, fdatasync, rename, directory fsync.
fn write_durably(dir: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join("bench-checkpoint.tmp");
    let path = dir.join("bench-checkpoint");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_data()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("0.5g").unwrap(), 1 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "G", "-1M", "lots", "nanM"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    /// The synthetic log reads back whole: consecutive lsns from 1, a Run record first, bid
    /// sequences from the window base, every event after its bid.
    #[test]
    fn a_synthetic_shard_log_reads_back_in_sequence() {
        let campaigns = vec![adshard::campaign::CampaignBuilder::new("c-1").build()];
        let ids = ["c-1"];
        let dir = std::env::temp_dir().join(format!("events-recovery-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut synth = Synth::new(&campaigns, 50, 3);
        let (records, bytes, segments) =
            write_shard(&dir, 0, 1, &ids, &mut synth, 200 * 1024, 64 * 1024).unwrap();
        assert!(segments >= 3, "{segments} segments");
        assert!(bytes >= 200 * 1024);
        let (mut n, mut bids, mut last_sequence) = (0u64, 0u64, None);
        let summary = replay(&dir, 0, false, |lsn, record| {
            n += 1;
            assert_eq!(lsn, n);
            match record {
                Record::Run(run) => assert_eq!(run.window_base, synth.window_base),
                Record::Bid(bid) => {
                    assert_eq!(bid.sequence, synth.window_base.wrapping_add(bids));
                    bids += 1;
                    last_sequence = Some(bid.sequence);
                }
                Record::Event(event) => {
                    let issued = event.sequence.wrapping_sub(synth.window_base);
                    assert!(last_sequence.is_some() && issued < bids);
                }
                _ => {}
            }
        })
        .unwrap();
        assert_eq!(summary.records, records);
        assert_eq!(summary.torn_tail, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
