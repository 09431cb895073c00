//! `adshard-gen` writes the same bytes for the same seed, and what it writes is what the
//! engine accepts: campaign files load without a single issue, and every generated request
//! passes `parse_bid_request`. Also checks the spread the generators promise, loosely, so a
//! change that silently drops a kind of targeting or traffic is caught.

use std::path::Path;

use adshard::adrequest::{AdRequest, ContextKind, MediaKinds};
use adshard::campaign::data::parse_str;
use adshard::campaign::{CampaignStatus, CreativeFormat};
use adshard::openrtb::parse_bid_request;
use adshard_tools::campaigns::{write_campaigns, CampaignsOptions};
use adshard_tools::traffic::{write_traffic, TrafficOptions};

fn campaigns(count: usize, seed: u64) -> String {
    let mut out = Vec::new();
    if let Err(error) = write_campaigns(&CampaignsOptions { count, seed }, &mut out) {
        panic!("generating campaigns: {error:#}");
    }
    String::from_utf8(out).expect("generated JSON is UTF-8")
}

fn traffic(count: usize, seed: u64) -> String {
    let mut out = Vec::new();
    let options = TrafficOptions {
        count,
        seed,
        users: 10_000,
    };
    if let Err(error) = write_traffic(&options, &mut out) {
        panic!("generating traffic: {error:#}");
    }
    String::from_utf8(out).expect("generated JSON is UTF-8")
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole.max(1) as f64
}

#[test]
fn same_seed_same_output_other_seed_other_output() {
    assert_eq!(campaigns(300, 42), campaigns(300, 42));
    assert_ne!(campaigns(300, 42), campaigns(300, 43));
    assert_eq!(traffic(300, 42), traffic(300, 42));
    assert_ne!(traffic(300, 42), traffic(300, 43));
}

#[test]
fn generated_campaigns_load_with_the_promised_spread() {
    const COUNT: usize = 4_000;
    let text = campaigns(COUNT, 7);
    let data = match parse_str(&text, Path::new("generated.json")) {
        Ok(data) => data,
        Err(error) => panic!("generated campaigns do not load:\n{error}"),
    };
    assert_eq!(data.campaigns.len(), COUNT);
    assert_eq!(data.advertisers.len(), COUNT / 10);
    // One campaign per line: line numbers in load errors point at a campaign.
    assert_eq!(text.lines().count(), COUNT + data.advertisers.len() + 6);

    let n = data.campaigns.len();
    let count = |predicate: &dyn Fn(&adshard::campaign::Campaign) -> bool| {
        share(data.campaigns.iter().filter(|c| predicate(c)).count(), n)
    };
    let near = |value: f64, target: f64| (value - target).abs() < 0.04;
    assert!(near(count(&|c| !c.targeting.countries.is_empty()), 0.60));
    assert!(near(count(&|c| !c.targeting.device_types.is_empty()), 0.30));
    assert!(near(count(&|c| !c.targeting.os.is_empty()), 0.20));
    assert!(near(
        count(&|c| !c.targeting.domains.include.is_empty()),
        0.10
    ));
    assert!(near(
        count(&|c| !c.targeting.domains.exclude.is_empty()),
        0.20
    ));
    assert!(near(
        count(&|c| !c.targeting.segments.include.is_empty()),
        0.10
    ));
    assert!(near(count(&|c| !c.targeting.dayparts.is_empty()), 0.10));
    let categories = count(&|c| {
        !c.targeting.categories.include.is_empty() || !c.targeting.categories.exclude.is_empty()
    });
    assert!(near(categories, 0.15));
    assert!(near(
        count(&|c| c
            .creatives
            .iter()
            .any(|cr| cr.format == CreativeFormat::Video)),
        0.15
    ));
    assert!(count(&|c| c.status == CampaignStatus::Active) > 0.9);

    // Bids: log-normal around 2 USD for display, most within 1 to 4 USD.
    let mut display_bids: Vec<i64> = data
        .campaigns
        .iter()
        .filter(|c| {
            c.creatives
                .iter()
                .all(|cr| cr.format == CreativeFormat::Banner)
        })
        .map(|c| c.bid_cpm_micros)
        .collect();
    display_bids.sort_unstable();
    let median = display_bids
        .get(display_bids.len() / 2)
        .copied()
        .unwrap_or(0);
    assert!((1_700_000..=2_300_000).contains(&median), "median {median}");
    let within = share(
        display_bids
            .iter()
            .filter(|&&bid| (1_000_000..=4_000_000).contains(&bid))
            .count(),
        display_bids.len(),
    );
    assert!(within > 0.8, "{within}");
}

#[test]
fn generated_traffic_parses_with_the_promised_mix() {
    const COUNT: usize = 4_000;
    let text = traffic(COUNT, 11);
    let mut request = AdRequest::default();
    let (mut n_app, mut n_video, mut n_users) = (0, 0, 0);
    let mut user_counts = std::collections::HashMap::new();
    for (line_idx, line) in text.lines().enumerate() {
        if let Err(error) = parse_bid_request(line.as_bytes(), &mut request) {
            panic!("request {line_idx} does not parse: {error}\n{line}");
        }
        n_app += usize::from(request.context.kind == ContextKind::App);
        n_video += usize::from(
            request
                .imps()
                .iter()
                .any(|imp| imp.media.contains(MediaKinds::VIDEO)),
        );
        if let Some(user) = request.user_key_text() {
            n_users += 1;
            *user_counts.entry(user.to_owned()).or_insert(0u32) += 1;
        }
    }
    assert_eq!(text.lines().count(), COUNT);
    assert!((0.26..0.34).contains(&share(n_app, COUNT)));
    assert!((0.12..0.22).contains(&share(n_video, COUNT)));
    assert!(share(n_users, COUNT) > 0.85);
    // Zipf users: the most frequent user comes back far more often than the median one.
    let max_visits = user_counts.values().copied().max().unwrap_or(0);
    assert!(max_visits > 100, "{max_visits}");
}

#[test]
fn the_binary_writes_what_the_library_writes() {
    let dir = std::env::temp_dir().join(format!("adshard-gen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("campaigns.json");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_adshard-gen"))
        .args(["campaigns", "--count", "50", "--seed", "5", "--out"])
        .arg(&out)
        .status()
        .expect("run adshard-gen");
    assert!(status.success());
    let written = std::fs::read_to_string(&out).expect("output file");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(written, campaigns(50, 5));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_adshard-gen"))
        .args([
            "traffic", "--count", "20", "--seed", "5", "--users", "10000",
        ])
        .output()
        .expect("run adshard-gen");
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), traffic(20, 5));

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_adshard-gen"))
        .args(["campaigns", "--count", "2000000"])
        .output()
        .expect("run adshard-gen");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("1000000"));
}

#[test]
fn a_closed_pipe_ends_the_generator_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    // `adshard-gen traffic | head -1`: the reader goes away long before the last request.
    let mut child = Command::new(env!("CARGO_BIN_EXE_adshard-gen"))
        .args(["traffic", "--count", "1000000", "--seed", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run adshard-gen");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with('{'), "{first}");
    // The reader is dropped here: the generator's next write meets a closed pipe.
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
