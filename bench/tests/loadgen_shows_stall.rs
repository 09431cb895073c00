//! The generator is open-loop: when the server stalls for 200 ms, every request due during the
//! stall waits for it, and their latency counts from their intended send time. A closed-loop
//! generator would record one slow request and hide the rest (coordinated omission); this test
//! asserts the stall reaches p99 and p99.9 while the sent rate holds the schedule.

mod common;

use std::time::Duration;

use adshard_bench::loadgen::cli::{run_cli, Cli, Outcome};
use clap::Parser;
use common::{Behaviour, TestServer};

#[test]
fn loadgen_shows_stall() {
    let stall = Duration::from_millis(200);
    // Request 1500 is about 0.75 s into the run: well after start-up, well before the end.
    let server = TestServer::start(Behaviour {
        delay: Duration::ZERO,
        stall: Some((1500, stall)),
    });
    let dir = adshard_testkit::temp_dir("bench-stall");
    let body = dir.join("body.json");
    std::fs::write(&body, br#"{"id":"stall-test","imp":[{"id":"1"}]}"#).unwrap();
    let url = server.url();
    let cli = Cli::parse_from([
        "adshard-bench",
        "--url",
        &url,
        "--rate",
        "2000",
        "--duration",
        "2500ms",
        "--connections",
        "4",
        "--body",
        body.to_str().unwrap(),
        "--quiet",
    ]);
    let mut out = Vec::new();
    let Outcome::Single(report) = run_cli(&cli, &mut out).unwrap() else {
        panic!("a single run")
    };
    let text = String::from_utf8(out).unwrap();
    println!("{text}");

    // Every scheduled request was sent and answered: the stall delays, it does not drop.
    assert_eq!(report.scheduled, 5000);
    assert_eq!(report.not_sent_on_time, 0, "{text}");
    assert_eq!(report.errors_total(), 0, "{text}");
    assert_eq!(report.sent, 5000);
    assert_eq!(report.responses, 5000);
    assert_eq!(report.status_counts.get("200"), Some(&5000));
    let within_2_percent = |rate: f64| (rate - 2000.0).abs() <= 0.02 * 2000.0;
    assert!(within_2_percent(report.sent_rate_per_s), "{text}");
    assert!(within_2_percent(report.achieved_rate_per_s), "{text}");

    // About 400 requests are due during the stall (4% of 5000), the first half of them at
    // least 100 ms before it ends: p99 must be >= 100 ms. The request that triggered the stall
    // waited all 200 ms itself, and the dozen due in the stall's first few ms waited almost as
    // long, so p99.9 (the 6th-highest latency) is above 150 ms.
    let latency = report.latency_ms;
    assert!(latency.max >= 200.0, "max {} ms\n{text}", latency.max);
    assert!(latency.p99_9 >= 150.0, "p99.9 {} ms\n{text}", latency.p99_9);
    assert!(latency.p99 >= 100.0, "p99 {} ms\n{text}", latency.p99);
    // ...while the median stays an ordinary loopback latency.
    assert!(latency.p50 < 50.0, "p50 {} ms\n{text}", latency.p50);

    // Measured from the actual send, as a closed-loop tool does, the stall is only the few
    // requests that were on the wire when it began: the tail shrinks, which is the point.
    let service = report.service_ms;
    assert!(
        service.max >= 200.0,
        "service max {} ms\n{text}",
        service.max
    );
    assert!(
        service.p99 < latency.p99,
        "service p99 {} ms\n{text}",
        service.p99
    );

    let last_line = text.lines().last().unwrap();
    assert!(last_line.starts_with("rate "), "{last_line}");
    assert!(
        last_line.contains(", p99.9 ") && last_line.contains(", errors 0"),
        "{last_line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
