//! `--compare` runs two targets interleaved in slices of one run; the target that answers
//! 2 ms later must come out slower, with a p50 ratio to match.

mod common;

use std::time::Duration;

use adshard_bench::loadgen::cli::{run_cli, Cli, Outcome};
use adshard_bench::loadgen::report::Faster;
use clap::Parser;
use common::{Behaviour, TestServer};

fn compare(fast: &TestServer, slow: &TestServer, fast_first: bool) -> (Faster, f64, String) {
    let (a, b) = if fast_first {
        (fast, slow)
    } else {
        (slow, fast)
    };
    let (url_a, url_b) = (a.url(), b.url());
    // 400 req/s over 4 connections is one request per connection every 10 ms, so the slow
    // server's 2 ms never queues requests: the difference is its delay alone.
    let cli = Cli::parse_from([
        "adshard-bench",
        "--url",
        &url_a,
        "--compare",
        &url_b,
        "--rate",
        "400",
        "--duration",
        "1s",
        "--slice",
        "250ms",
        "--connections",
        "4",
        "--method",
        "get",
        "--quiet",
    ]);
    let mut out = Vec::new();
    let Outcome::Compare(comparison) = run_cli(&cli, &mut out).unwrap() else {
        panic!("a comparison")
    };
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    for report in [&comparison.a, &comparison.b] {
        assert_eq!(report.failures(), 0, "{text}");
        assert_eq!(report.responses, 400, "{text}");
    }
    assert!((0.95..1.05).contains(&comparison.rate_ratio), "{text}");
    (comparison.faster, comparison.p50_ratio, text)
}

#[test]
fn compare_picks_faster() {
    let fast = TestServer::start(Behaviour::default());
    let slow = TestServer::start(Behaviour {
        delay: Duration::from_millis(2),
        stall: None,
    });

    let (faster, p50_ratio, text) = compare(&fast, &slow, true);
    assert_eq!(faster, Faster::A, "{text}");
    assert!(p50_ratio > 1.5, "B/A p50 {p50_ratio}\n{text}");
    let last_line = text.lines().last().unwrap();
    assert!(
        last_line.starts_with("compare B/A:") && last_line.contains("faster A"),
        "{last_line}"
    );

    // The same servers the other way round: the answer follows the server, not the slot.
    let (faster, p50_ratio, text) = compare(&fast, &slow, false);
    assert_eq!(faster, Faster::B, "{text}");
    assert!(p50_ratio < 1.0 / 1.5, "B/A p50 {p50_ratio}\n{text}");
}
