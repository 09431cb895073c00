//! A full disk under the event log, on the real binary: the log is on a 4 MiB tmpfs, and a
//! filler file takes the rest of it. Once a commit fails, the log is unhealthy
//! (`adshard_event_log_healthy` 0): tracking calls get 503 with `Retry-After` and count
//! nothing, a budgeted campaign does not bid (a commitment could be lost) while an unbudgeted
//! one still does. When the filler goes, the log writes again on its own: tracking is
//! acknowledged and counted, the budgeted campaign bids. Killed with SIGKILL and started again
//! on the same tmpfs, the server has everything it acknowledged, and nothing it refused.
//!
//! Mounting needs root (CI runs as root). Without it the test fails and says so: a skipped
//! disk-full test would look like a passing one.

// The test times the server from outside; the clock rule (engine/clippy.toml) is for engine code.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use adshard::campaign::{Budget, SpendOn};
use adshard_testkit::delivery::data;
use adshard_testkit::process::{write_data_file, Adshard, Serve};
use adshard_testkit::tracked::{
    self, assert_replays_count_nothing, banner_request, expected, stats_problems, BidCalls, Fate,
    Notice, TrackedBid,
};
use adshard_testkit::{CampaignBuilder, CreativeBuilder};

/// The tmpfs the log lives on.
const TMPFS_SIZE: &str = "4m";
/// The budgeted campaign bids on this size, the unbudgeted one on the other.
const BUDGETED: (u32, u32) = (300, 250);
const UNBUDGETED: (u32, u32) = (728, 90);
/// Bids of the unbudgeted campaign sent to make the log commit into a full disk: a commit
/// that still fits the tmpfs page it rewrites succeeds, so it takes a page's worth of records.
const AUCTIONS_TO_FAIL_MAX: usize = 5000;
/// The log retries a failed commit with a backoff of at most a second.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(20);
const HEALTHY: &str = "adshard_event_log_healthy";

/// A tmpfs mounted for the test, unmounted (and its mount point removed) when dropped, also
/// when the test panics.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path) -> Tmpfs {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "events_disk_full mounts a tmpfs and must run as root (CI does); this run has uid \
             {euid}"
        );
        std::fs::create_dir_all(dir).expect("the mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("running mount");
        assert!(
            output.status.success(),
            "events_disk_full cannot mount a tmpfs on {} ({}): {}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Tmpfs {
            dir: dir.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Still busy (a child not yet reaped): detach it now, it goes when freed.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Fills the file system under `path` with one file until a write fails with ENOSPC.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("the filler file");
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = file.sync_all();
}

fn setup(dir: &Path, events_dir: &Path) -> Serve {
    let campaign = |id: &str, (w, h): (u32, u32), total_micros| {
        CampaignBuilder::new(id)
            .bid_cpm_micros(2_000_000)
            .budget(Budget {
                total_micros,
                daily_micros: None,
                spend_on: SpendOn::Impression,
            })
            .creatives(vec![
                CreativeBuilder::banner(&format!("{id}-cr"), w, h).build()
            ])
            .build()
    };
    let campaigns = vec![
        campaign("budgeted", BUDGETED, Some(1_000_000_000)),
        campaign("unbudgeted", UNBUDGETED, None),
    ];
    write_data_file(&dir.join("campaigns.json"), &data(campaigns));
    // No periodic checkpoint in the way: the test decides what is written when.
    let config = r#"
[data]
campaign_files = ["campaigns.json"]

[auction]
pricing = "first_price"

[tracking]
secret = "events-disk-full-test-secret-0123456789abcdef"
token_ttl_s = 600
bids_per_shard_per_s_max = 100

[overload]
enabled = false

[events]
segment_bytes = 65536
checkpoint_interval_s = 3600
"#;
    std::fs::write(dir.join("adshard.toml"), config).expect("write the config");
    Serve {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_adshard")),
        config: dir.join("adshard.toml"),
        events_dir: events_dir.to_owned(),
        shards: 1,
        cpus: "0".into(),
        extra_args: Vec::new(),
    }
}

/// Waits for the log's first commit (its start records) and fails, saying why, if it failed:
/// the log writes with direct I/O, which tmpfs takes only from Linux 6.6 on.
fn assert_log_writes_on_tmpfs(server: &Adshard) {
    let deadline = std::time::Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let metrics = server.metrics();
        let failures = metrics.sum("adshard_event_log_commit_failures_total", &[]);
        let commits = metrics.sum("adshard_event_log_commits_total", &[]);
        if failures > 0 {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
            panic!(
                "the event log cannot write on an empty tmpfs: direct I/O on tmpfs needs Linux \
                 6.6 or later (this kernel: {}):\n{}",
                release.trim(),
                server.log.text()
            );
        }
        if commits > 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log committed nothing:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the test sent: every bid made, with the tracking calls acknowledged for it.
#[derive(Default)]
struct Ledger {
    bids: Vec<BidCalls>,
    requests: usize,
}

impl Ledger {
    /// One auction for `size`: its bid (recorded), if any.
    fn auction(&mut self, server: &Adshard, (w, h): (u32, u32)) -> Option<(usize, TrackedBid)> {
        self.requests += 1;
        let body = banner_request(&format!("r{}", self.requests), w, h, "user-1");
        let (fate, mut bids) = tracked::auction(server.addr, &body);
        assert_eq!(fate, Fate::Acknowledged, "auction {}", self.requests);
        assert!(bids.len() <= 1);
        let bid = bids.pop()?;
        self.bids
            .push(BidCalls::new(&bid.campaign, SpendOn::Impression));
        Some((self.bids.len() - 1, bid))
    }

    /// Fires the billing notice (at the bid's price) and the pixel of bid `idx`, each to be
    /// acknowledged.
    fn show(&mut self, server: &Adshard, (idx, bid): &(usize, TrackedBid)) {
        for (notice, path, clearing) in [
            (Notice::Billing, bid.billing_at(2_000_000), 2_000_000),
            (Notice::Pixel, bid.pixel.clone(), 0),
        ] {
            let fate = self.bids[*idx].fire(server.addr, notice, path, clearing);
            assert_eq!(
                fate,
                Fate::Acknowledged,
                "{notice:?} of {}:\n{}",
                bid.campaign,
                server.log.text()
            );
        }
    }

    /// `/stats` is exactly what was acknowledged, and has every bid made.
    fn assert_exact(&self, stats: &serde_json::Value) {
        let want = expected(&self.bids, 0);
        let mut problems = stats_problems(stats, &want);
        for (id, e) in &want {
            let bids = stats["campaigns"]
                .as_array()
                .and_then(|all| all.iter().find(|c| c["id"] == id.as_str()))
                .and_then(|c| c["bids"].as_i64());
            if bids != Some(e.bids.most) {
                problems.push(format!("{id}: bids {bids:?}, want {}", e.bids.most));
            }
        }
        assert!(
            problems.is_empty(),
            "{}\n/stats: {stats}",
            problems.join("\n")
        );
    }
}

#[test]
fn a_full_disk_refuses_tracking_and_budgeted_bids_then_recovers_losing_nothing() {
    let dir = adshard_testkit::temp_dir("disk-full");
    let tmpfs = Tmpfs::mount(&dir.join("tmpfs"));
    let serve = setup(&dir, &tmpfs.dir.join("events"));
    let mut server = Adshard::start(&serve);
    assert_log_writes_on_tmpfs(&server);
    let mut ledger = Ledger::default();

    // Healthy: a bid of each campaign shown and acknowledged; one of each kept for later.
    let mut held = Vec::new();
    for size in [BUDGETED, UNBUDGETED] {
        let shown = ledger.auction(&server, size).expect("a bid while healthy");
        ledger.show(&server, &shown);
        held.push(ledger.auction(&server, size).expect("a bid while healthy"));
    }

    // The disk fills; the log fails at its first commit that needs a new page.
    let filler = tmpfs.dir.join("filler");
    fill(&filler);
    let mut unhealthy = false;
    for n in 1..=AUCTIONS_TO_FAIL_MAX {
        assert!(ledger.auction(&server, UNBUDGETED).is_some());
        if server.metrics().sum(HEALTHY, &[]) == 0 {
            println!("the log failed after {n} bids on the full disk");
            unhealthy = true;
            break;
        }
    }
    assert!(
        unhealthy,
        "the log stayed healthy on a full disk after {AUCTIONS_TO_FAIL_MAX} bids:\n{}",
        server.log.text()
    );
    let metrics = server.metrics();
    assert!(
        metrics.sum("adshard_event_log_commit_failures_total", &[]) > 0,
        "{metrics}"
    );
    assert!(
        server.log.text().contains("event log cannot write"),
        "the alarm is logged:\n{}",
        server.log.text()
    );

    // Unhealthy: tracking is refused with 503 and counts nothing; only unbudgeted demand bids.
    let stats_before = server.stats();
    for (_, bid) in &held {
        for path in [
            bid.billing_at(2_000_000),
            bid.pixel.clone(),
            bid.click.clone(),
        ] {
            let (fate, response) = tracked::get(server.addr, &path);
            assert_eq!(fate, Fate::Refused(503), "{path} while the disk is full");
            let response = response.expect("an answer");
            assert_eq!(response.header("retry-after"), Some("1"));
        }
    }
    assert_eq!(
        server.stats()["campaigns"],
        stats_before["campaigns"],
        "a refused call was counted"
    );
    let unavailable = server.metrics().sum(
        "adshard_tracking_requests_total",
        &["outcome=\"unavailable\""],
    );
    assert_eq!(unavailable, 3 * held.len() as u64);
    for _ in 0..5 {
        assert!(
            ledger.auction(&server, BUDGETED).is_none(),
            "a budgeted campaign bid while its commitment could not be logged"
        );
        assert!(
            ledger.auction(&server, UNBUDGETED).is_some(),
            "unbudgeted demand stopped on a full disk"
        );
    }

    // Space returns: the log writes again by itself, and everything resumes.
    std::fs::remove_file(&filler).expect("remove the filler");
    server.wait_metric(HEALTHY, &[], 1, RECOVERY_TIMEOUT);
    for bid in &held {
        ledger.show(&server, bid);
    }
    let resumed = ledger
        .auction(&server, BUDGETED)
        .expect("the budgeted campaign bids again");
    ledger.show(&server, &resumed);
    let stats_healthy = server.stats();
    ledger.assert_exact(&stats_healthy);

    // A crash now loses nothing that was acknowledged, and counts nothing refused.
    server.kill();
    let server = Adshard::start(&serve);
    let stats = server.stats();
    ledger.assert_exact(&stats);
    assert_eq!(stats["campaigns"], stats_healthy["campaigns"]);
    assert_replays_count_nothing(&server, &ledger.bids, &stats);
    drop(server);
    drop(tmpfs);
    let _ = std::fs::remove_dir_all(dir);
}
