//! Nothing acknowledged is lost, and nothing is counted twice, across a crash or a restart of
//! the real binary. A two-shard `adshard serve` under concurrent auction and tracking traffic
//! (a few clients, each: auction, win notice and billing notice at a clearing price, pixel,
//! sometimes a click; some bids get a loss notice instead) is killed with SIGKILL at a seeded
//! random moment, then started again on the same event-log directory (once with one shard).
//! Per campaign, `/stats` holds at least what was acknowledged and at most that plus what was
//! in flight at the kill; every acknowledged tracking URL sent again is answered as before,
//! counted as a duplicate, and changes nothing. A second test stops the server gracefully and
//! restarts it several times in a row, with one, then two shards, then one again.
//!
//! The seed of each run is printed; `ADSHARD_SEED=<seed>` reruns a failure with its seed.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adshard::campaign::{Budget, SpendOn};
use adshard_testkit::delivery::data;
use adshard_testkit::process::{write_data_file, Adshard, Serve};
use adshard_testkit::tracked::{
    self, acknowledged, assert_replays_count_nothing, banner_request, expected, stats_problems,
    BidCalls, Fate, Notice,
};
use adshard_testkit::{CampaignBuilder, CreativeBuilder, Rng};

/// Client threads sending traffic at once.
const CLIENTS: usize = 3;
/// Acknowledged tracking calls before the kill may come: every run has something to lose.
const ACKNOWLEDGED_BEFORE_KILL_MIN: u64 = 30;
/// The kill comes up to this long after that.
const KILL_DELAY_MS_MAX: u64 = 1500;
/// Longest the traffic may take to reach [`ACKNOWLEDGED_BEFORE_KILL_MIN`].
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest the traffic may take to fill a shard's first segment (64 KiB: a few seconds).
const ROTATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One campaign per banner size, so a request's size picks the campaign: (id, size, bid CPM
/// micros, budget). Budgets on impressions and on wins, total and daily, one small enough to
/// run out, one campaign without.
fn campaigns() -> Vec<(&'static str, (u32, u32), i64, Budget)> {
    let budget = |total, daily, spend_on| Budget {
        total_micros: total,
        daily_micros: daily,
        spend_on,
    };
    vec![
        (
            "imp-total",
            (300, 250),
            2_000_000,
            budget(Some(1_000_000_000), None, SpendOn::Impression),
        ),
        (
            "win-daily",
            (728, 90),
            3_000_000,
            budget(None, Some(500_000_000), SpendOn::Win),
        ),
        (
            "imp-small",
            (160, 600),
            1_000_000,
            budget(Some(60_000), Some(50_000), SpendOn::Impression),
        ),
        (
            "unbudgeted",
            (320, 50),
            1_500_000,
            budget(None, None, SpendOn::Impression),
        ),
    ]
}

fn spend_on(campaign: &str) -> SpendOn {
    campaigns()
        .into_iter()
        .find(|(id, ..)| *id == campaign)
        .map(|(.., budget)| budget.spend_on)
        .unwrap_or_else(|| panic!("a bid of unknown campaign {campaign}"))
}

/// Writes the campaign file into `dir`. `reordered`: with a campaign added in front of the
/// others (the highest bid, on a size never requested) and `imp-small` bidding more, so the
/// catalog's order, which the log's campaign indices follow, changes between runs.
fn write_campaigns(dir: &Path, reordered: bool) {
    let mut built: Vec<_> = campaigns()
        .into_iter()
        .map(|(id, (w, h), bid, budget)| {
            let bid = if reordered && id == "imp-small" {
                5_000_000
            } else {
                bid
            };
            CampaignBuilder::new(id)
                .bid_cpm_micros(bid)
                .budget(budget)
                .creatives(vec![
                    CreativeBuilder::banner(&format!("{id}-cr"), w, h).build()
                ])
                .build()
        })
        .collect();
    if reordered {
        built.insert(
            0,
            CampaignBuilder::new("added")
                .bid_cpm_micros(9_000_000)
                .creatives(vec![CreativeBuilder::banner("added-cr", 970, 250).build()])
                .build(),
        );
    }
    write_data_file(&dir.join("campaigns.json"), &data(built));
}

/// A fresh directory with the config and the campaign file, and how to serve it.
fn setup(name: &str) -> (PathBuf, Serve) {
    let dir = adshard_testkit::temp_dir(name);
    write_campaigns(&dir, false);
    // First price: a bid's price is its campaign's bid, so a clearing price below it is
    // believed. A short TTL and bid rate keep the dedupe window (and each checkpoint) small;
    // small segments and a checkpoint every second make the kill land among rotations,
    // checkpoints and retention too.
    let config = r#"
[data]
campaign_files = ["campaigns.json"]

[auction]
pricing = "first_price"

[tracking]
secret = "events-crash-recovery-test-secret-0123456789"
token_ttl_s = 600
bids_per_shard_per_s_max = 1000

# The escape valve reacts to this host's load, not to the test: it would shed auctions.
[overload]
enabled = false

[events]
segment_bytes = 65536
retention_segments = 1
checkpoint_interval_s = 1
"#;
    std::fs::write(dir.join("adshard.toml"), config).expect("write the config");
    let serve = Serve {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_adshard")),
        config: dir.join("adshard.toml"),
        events_dir: dir.join("events"),
        shards: 2,
        cpus: "0-1".into(),
        extra_args: Vec::new(),
    };
    (dir, serve)
}

fn seed(default: u64) -> u64 {
    let seed = std::env::var("ADSHARD_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(default);
    println!("seed {seed} (rerun with ADSHARD_SEED={seed})");
    seed
}

/// What one client sent: its bids' calls, and its auctions that got no answer.
#[derive(Default)]
struct Sent {
    bids: Vec<BidCalls>,
    auctions_in_doubt: i64,
}

/// One client's traffic until `stop`, until the server is gone, or `bids_max` bids: per
/// auction, each bid gets (1 in 10) a loss notice, or its win notice and billing notice at a
/// clearing price at or below the bid, its pixel and (1 in 2) a click.
fn client(
    addr: std::net::SocketAddr,
    mut rng: Rng,
    stop: &AtomicBool,
    acknowledged: &AtomicU64,
    bids_max: usize,
) -> Sent {
    let sizes: Vec<((u32, u32), i64)> = campaigns()
        .into_iter()
        .map(|(_, size, bid, _)| (size, bid))
        .collect();
    let mut sent = Sent::default();
    let mut request_idx = 0u64;
    while !stop.load(Ordering::Relaxed) && sent.bids.len() < bids_max {
        let &((w, h), bid_cpm) = rng.pick(&sizes).expect("sizes");
        request_idx += 1;
        let user = format!("user-{}", rng.below(1000));
        let body = banner_request(&format!("r{}-{request_idx}", rng.next_u64()), w, h, &user);
        let (fate, bids) = tracked::auction(addr, &body);
        match fate {
            Fate::Acknowledged => {}
            Fate::NotSent => return sent,
            Fate::Unanswered | Fate::Refused(_) => {
                sent.auctions_in_doubt += 1;
                return sent;
            }
        }
        for bid in bids {
            let mut calls = BidCalls::new(&bid.campaign, spend_on(&bid.campaign));
            let mut plan = Vec::new();
            if rng.chance(0.1) {
                plan.push((Notice::Loss, bid.loss_for(2), 0));
            } else {
                // A clearing price of the whole bid, three quarters or half of it.
                let clearing = bid_cpm * rng.between(2, 4) as i64 / 4;
                plan.push((Notice::Win, bid.win_at(clearing), clearing));
                plan.push((Notice::Billing, bid.billing_at(clearing), clearing));
                plan.push((Notice::Pixel, bid.pixel.clone(), 0));
                if rng.chance(0.5) {
                    plan.push((Notice::Click, bid.click.clone(), 0));
                }
            }
            let mut gone = false;
            for (notice, path, clearing) in plan {
                match calls.fire(addr, notice, path, clearing) {
                    Fate::Acknowledged => {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    Fate::Refused(status) => {
                        assert_eq!(status, 503, "a tracking call refused");
                    }
                    Fate::Unanswered | Fate::NotSent => {
                        gone = true;
                        break;
                    }
                }
            }
            sent.bids.push(calls);
            if gone {
                return sent;
            }
        }
    }
    sent
}

/// Runs [`CLIENTS`] clients at once until `stop` (or each has made `bids_max` bids).
fn traffic(
    addr: std::net::SocketAddr,
    rng: &mut Rng,
    stop: &Arc<AtomicBool>,
    acknowledged: &Arc<AtomicU64>,
    bids_max: usize,
) -> Vec<std::thread::JoinHandle<Sent>> {
    (0..CLIENTS)
        .map(|_| {
            let client_rng = Rng::new(rng.next_u64());
            let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
            std::thread::spawn(move || client(addr, client_rng, &stop, &acknowledged, bids_max))
        })
        .collect()
}

fn join(handles: Vec<std::thread::JoinHandle<Sent>>, into: &mut Sent) {
    for handle in handles {
        let sent = handle.join().expect("a client thread");
        into.bids.extend(sent.bids);
        into.auctions_in_doubt += sent.auctions_in_doubt;
    }
}

/// `/stats` holds what `sent` promises; the failure shows the server's log.
fn assert_stats_hold(server: &Adshard, sent: &Sent, when: &str) -> serde_json::Value {
    let stats = server.stats();
    let want = expected(&sent.bids, sent.auctions_in_doubt);
    let problems = stats_problems(&stats, &want);
    assert!(
        problems.is_empty(),
        "{when}: /stats does not hold what was acknowledged:\n{}\n/stats: {stats}\nexpected: \
         {want:#?}\nserver log:\n{}",
        problems.join("\n"),
        server.log.text()
    );
    stats
}

/// The most segment files one shard directory under `events_dir` holds.
fn segments_per_shard_max(events_dir: &Path) -> usize {
    let dirs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default()
    };
    dirs(events_dir)
        .iter()
        .filter(|generation| generation.is_dir())
        .flat_map(|generation| dirs(generation))
        .map(|shard| {
            dirs(&shard)
                .iter()
                .filter(|file| file.extension().is_some_and(|ext| ext == "seg"))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// When the kill comes, after enough traffic that there is something to lose.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// At a random moment up to [`KILL_DELAY_MS_MAX`] later.
    Random,
    /// At a random moment after a shard's log moved to its second segment, so recovery reads
    /// across a rotation (and checkpoints taken around it).
    AfterRotation,
}

/// Runs traffic on a two-shard server, kills it at a seeded moment, restarts it with
/// `restart_shards` shards and checks what it recovered.
fn crash_and_recover(name: &str, default_seed: u64, kill_at: KillAt, restart_shards: usize) {
    let seed = seed(default_seed);
    let mut rng = Rng::new(seed);
    let (dir, mut serve) = setup(name);
    let mut server = Adshard::start(&serve);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged_calls = Arc::new(AtomicU64::new(0));
    let clients = traffic(
        server.addr,
        &mut rng,
        &stop,
        &acknowledged_calls,
        usize::MAX,
    );
    let started = Instant::now();
    while acknowledged_calls.load(Ordering::Relaxed) < ACKNOWLEDGED_BEFORE_KILL_MIN {
        assert!(
            started.elapsed() < WARM_UP_TIMEOUT,
            "the traffic got {} calls acknowledged in {WARM_UP_TIMEOUT:?}:\n{}",
            acknowledged_calls.load(Ordering::Relaxed),
            server.log.text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    if let KillAt::AfterRotation = kill_at {
        while segments_per_shard_max(&serve.events_dir) < 2 {
            assert!(
                started.elapsed() < ROTATION_TIMEOUT,
                "no segment rotated in {ROTATION_TIMEOUT:?}:\n{}",
                server.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(rng.below(KILL_DELAY_MS_MAX)));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut sent = Sent::default();
    join(clients, &mut sent);
    println!(
        "killed after {:?}: {} bids, {} calls acknowledged, {} auctions in doubt",
        started.elapsed(),
        sent.bids.len(),
        acknowledged(&sent.bids).len(),
        sent.auctions_in_doubt
    );

    serve.shards = restart_shards;
    serve.cpus = if restart_shards == 1 { "0" } else { "0-1" }.into();
    let server = Adshard::start(&serve);
    let stats = assert_stats_hold(&server, &sent, "after the kill");
    assert_replays_count_nothing(&server, &sent.bids, &stats);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn crash_at_a_random_moment_loses_nothing_acknowledged_seed_1() {
    crash_and_recover("crash-1", 1, KillAt::Random, 2);
}

/// The kill comes after a segment rotated: recovery reads across segments.
#[test]
fn crash_after_a_rotation_loses_nothing_acknowledged_seed_2() {
    crash_and_recover("crash-2", 2, KillAt::AfterRotation, 2);
}

/// The restart also halves the shard count: the old shard 1's tokens are judged on shard 0.
#[test]
fn crash_then_restart_on_fewer_shards_loses_nothing_acknowledged_seed_3() {
    crash_and_recover("crash-3", 3, KillAt::Random, 1);
}

/// Stops and restarts in a row, the shard count going 1 -> 2 -> 2 -> 1, with traffic between
/// them (graceful stops, then a campaign set whose order changes, then a kill once every call
/// was answered): after each, `/stats` is exactly what was acknowledged (nothing is in doubt),
/// and every acknowledged call of every earlier run is a duplicate.
#[test]
fn restarts_in_a_row_and_shard_count_changes_lose_nothing() {
    let seed = seed(4);
    let mut rng = Rng::new(seed);
    let (dir, mut serve) = setup("restarts");
    let mut sent = Sent::default();
    let run = |serve: &Serve, sent: &mut Sent, rng: &mut Rng, bids_per_client: usize| {
        let server = Adshard::start(serve);
        if !sent.bids.is_empty() {
            let stats = assert_exact(&server, sent);
            assert_replays_count_nothing(&server, &sent.bids, &stats);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU64::new(0));
        join(
            traffic(server.addr, rng, &stop, &counter, bids_per_client),
            sent,
        );
        server
    };
    serve.shards = 1;
    serve.cpus = "0".into();
    let mut server = run(&serve, &mut sent, &mut rng, 8);
    assert!(server.terminate().success(), "{}", server.log.text());
    assert_clean_stop(&server.log.text());

    serve.shards = 2;
    serve.cpus = "0-1".into();
    let mut server = run(&serve, &mut sent, &mut rng, 8);
    assert!(server.terminate().success(), "{}", server.log.text());
    assert_clean_stop(&server.log.text());

    // The campaign set changes: every campaign's index in the catalog moves.
    write_campaigns(&dir, true);
    let mut server = run(&serve, &mut sent, &mut rng, 8);
    // Every call was answered before the kill: nothing is in doubt.
    server.kill();

    serve.shards = 1;
    serve.cpus = "0".into();
    let server = Adshard::start(&serve);
    let stats = assert_exact(&server, &sent);
    assert_replays_count_nothing(&server, &sent.bids, &stats);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// With every call answered, `/stats` is exactly what was acknowledged.
fn assert_exact(server: &Adshard, sent: &Sent) -> serde_json::Value {
    assert_eq!(sent.auctions_in_doubt, 0);
    assert!(
        sent.bids
            .iter()
            .flat_map(|bid| &bid.calls)
            .all(|call| call.fate == Fate::Acknowledged),
        "a call was not acknowledged on a healthy server"
    );
    assert_stats_hold(server, sent, "after a restart")
}

fn assert_clean_stop(log: &str) {
    assert!(
        !log.contains("not durable"),
        "a graceful stop left records behind:\n{log}"
    );
}

/// Two shards, then one, then two again, within the tokens' lifetime: the first run's tokens
/// are still judged where their bids' windows went, whichever run they come back in. Some of
/// the first run's bids are shown only in the third run: they are counted there once; the
/// others' notices sent again are duplicates.
#[test]
fn shard_count_down_then_up_keeps_the_first_runs_tokens_judged() {
    let (dir, mut serve) = setup("down-then-up");
    let server = Adshard::start(&serve);
    // Users spread over both shards: each shard decides, and signs, some of the bids.
    let mut shown = Vec::new();
    let mut held = Vec::new();
    for i in 0..16 {
        let body = banner_request(&format!("r{i}"), 300, 250, &format!("user-{i}"));
        let (fate, mut bids) = tracked::auction(server.addr, &body);
        assert_eq!(fate, Fate::Acknowledged);
        let bid = bids.pop().expect("a bid");
        if i % 2 == 0 {
            let mut calls = BidCalls::new(&bid.campaign, SpendOn::Impression);
            for (notice, path, clearing) in [
                (Notice::Billing, bid.billing_at(2_000_000), 2_000_000),
                (Notice::Pixel, bid.pixel.clone(), 0),
            ] {
                assert_eq!(
                    calls.fire(server.addr, notice, path, clearing),
                    Fate::Acknowledged
                );
            }
            shown.push(calls);
        } else {
            held.push(bid);
        }
    }
    let mut server = server;
    assert!(server.terminate().success(), "{}", server.log.text());

    serve.shards = 1;
    serve.cpus = "0".into();
    let mut server = Adshard::start(&serve);
    assert!(server.terminate().success(), "{}", server.log.text());

    serve.shards = 2;
    serve.cpus = "0-1".into();
    let server = Adshard::start(&serve);
    for bid in &held {
        let mut calls = BidCalls::new(&bid.campaign, SpendOn::Impression);
        for (notice, path, clearing) in [
            (Notice::Billing, bid.billing_at(2_000_000), 2_000_000),
            (Notice::Pixel, bid.pixel.clone(), 0),
        ] {
            assert_eq!(
                calls.fire(server.addr, notice, path, clearing),
                Fate::Acknowledged
            );
        }
        shown.push(calls);
    }
    let sent = Sent {
        bids: shown,
        auctions_in_doubt: 0,
    };
    let metrics = server.metrics();
    assert_eq!(
        metrics.sum(
            "adshard_tracking_requests_total",
            &["outcome=\"out_of_reach\""]
        ),
        0,
        "the first run's tokens are out of reach:\n{metrics}"
    );
    assert_stats_hold(&server, &sent, "after 2 -> 1 -> 2 shards");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// Frequency caps survive a kill and changes of the shard count: a user who saw a capped
/// campaign's ad as often as the cap allows gets no more of its bids, one who saw it less
/// still gets the rest.
#[test]
fn frequency_caps_survive_a_crash_and_shard_count_changes() {
    let (dir, mut serve) = setup("caps");
    let capped = CampaignBuilder::new("capped")
        .bid_cpm_micros(1_000_000)
        .frequency_cap(2, 86_400)
        .build();
    write_data_file(&dir.join("campaigns.json"), &data(vec![capped]));
    // Users spread over the owner shards; each sees the ad up to `seen` times.
    let users: Vec<(String, usize)> = (0..8).map(|i| (format!("user-{i}"), i % 3)).collect();
    let bid_for = |server: &Adshard, user: &str, request: &str| {
        let body = banner_request(request, 300, 250, user);
        let (fate, mut bids) = tracked::auction(server.addr, &body);
        assert_eq!(fate, Fate::Acknowledged);
        bids.pop()
    };
    let mut server = Adshard::start(&serve);
    for (user, seen) in &users {
        for n in 0..*seen {
            let bid = bid_for(&server, user, &format!("{user}-{n}")).expect("under the cap");
            let (fate, _) = tracked::get(server.addr, &bid.pixel);
            assert_eq!(fate, Fate::Acknowledged);
        }
    }
    server.kill();
    for (shards, cpus) in [(1, "0"), (2, "0-1")] {
        serve.shards = shards;
        serve.cpus = cpus.into();
        let mut server = Adshard::start(&serve);
        for (user, seen) in &users {
            let bid = bid_for(&server, user, &format!("{user}-after-{shards}"));
            assert_eq!(
                bid.is_some(),
                *seen < 2,
                "{user} saw the ad {seen} times before, {shards} shards now"
            );
        }
        // Bids without impressions count nothing against the caps.
        assert!(server.terminate().success(), "{}", server.log.text());
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A budget spent before a crash stays spent: the restarted server (on more shards, each of
/// which must know what the others recovered) makes no bid the budget cannot pay for.
#[test]
fn a_spent_budget_stays_spent_after_a_crash() {
    let (dir, mut serve) = setup("spent");
    // Five billing notices at the full price spend it all.
    let small = CampaignBuilder::new("small")
        .bid_cpm_micros(2_000_000)
        .budget(Budget {
            total_micros: Some(10_000),
            daily_micros: None,
            spend_on: SpendOn::Impression,
        })
        .build();
    write_data_file(&dir.join("campaigns.json"), &data(vec![small]));
    serve.shards = 1;
    serve.cpus = "0".into();
    let mut server = Adshard::start(&serve);
    let mut bids = 0;
    for i in 0..50 {
        let body = banner_request(&format!("r{i}"), 300, 250, &format!("user-{i}"));
        let (fate, mut answer) = tracked::auction(server.addr, &body);
        assert_eq!(fate, Fate::Acknowledged);
        let Some(bid) = answer.pop() else { continue };
        bids += 1;
        let (fate, _) = tracked::get(server.addr, &bid.billing_at(2_000_000));
        assert_eq!(fate, Fate::Acknowledged);
    }
    assert_eq!(bids, 5, "the budget pays for five impressions");
    server.kill();

    serve.shards = 2;
    serve.cpus = "0-1".into();
    let server = Adshard::start(&serve);
    for i in 0..20 {
        let body = banner_request(&format!("after-{i}"), 300, 250, &format!("user-{i}"));
        let (fate, answer) = tracked::auction(server.addr, &body);
        assert_eq!(fate, Fate::Acknowledged);
        assert!(
            answer.is_empty(),
            "a bid on a spent budget after the restart"
        );
    }
    let stats = server.stats();
    assert_eq!(stats["campaigns"][0]["spend_total_micros"], 10_000);
    assert_eq!(stats["campaigns"][0]["budget_left_total_micros"], 0);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// Kills right after starts, before the new run logged anything but its first records: each
/// start still has everything the run before the crashes acknowledged.
#[test]
fn crashes_right_after_starts_lose_nothing() {
    let mut rng = Rng::new(seed(5));
    let (dir, serve) = setup("early-crashes");
    let mut sent = Sent::default();
    let mut server = Adshard::start(&serve);
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    join(
        traffic(server.addr, &mut rng, &stop, &counter, 6),
        &mut sent,
    );
    server.kill();
    for _ in 0..3 {
        let mut server = Adshard::start(&serve);
        assert_exact(&server, &sent);
        server.kill();
    }
    let server = Adshard::start(&serve);
    let stats = assert_exact(&server, &sent);
    assert_replays_count_nothing(&server, &sent.bids, &stats);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
