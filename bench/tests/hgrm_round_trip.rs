//! The `.hgrm` file must say what the report says: parsed back, its table gives the same
//! percentiles, count, mean and max as the histogram it was written from, both for a known
//! synthetic distribution and for a real run's `--hgrm` next to its `--json`.

mod common;

use adshard_bench::loadgen::cli::{run_cli, Cli, Outcome};
use adshard_bench::loadgen::hgrm::{parse_hgrm, write_hgrm, Hgrm};
use adshard_bench::loadgen::report::REPORT_QUANTILES;
use adshard_bench::loadgen::stats::TargetStats;
use clap::Parser;
use common::{Behaviour, TestServer};
use hdrhistogram::Histogram;

/// Quantiles are printed with six decimals, so a row's quantile is known to within this.
const QUANTILE_PRINT_ERROR: f64 = 5e-7;

/// Checks every row against the histogram and the report's percentiles against the table.
fn check_round_trip(latency_us: &Histogram<u64>, hgrm: &Hgrm) {
    let ms = |us: u64| us as f64 / 1000.0;
    assert_eq!(hgrm.total_count, latency_us.len());
    assert_eq!(hgrm.rows.last().unwrap().total_count, latency_us.len());
    assert_eq!(hgrm.rows.last().unwrap().quantile, 1.0);
    assert_eq!(
        hgrm.max_ms,
        ms(latency_us.highest_equivalent(latency_us.max()))
    );
    assert!((hgrm.mean_ms - latency_us.mean() / 1000.0).abs() < 0.0005);
    assert!((hgrm.stdev_ms - latency_us.stdev() / 1000.0).abs() < 0.0005);
    let mut previous_count = 0;
    for row in &hgrm.rows {
        // Each row is the histogram's value at the row's quantile (known to six decimals).
        let low = ms(latency_us.value_at_quantile((row.quantile - QUANTILE_PRINT_ERROR).max(0.0)));
        let high = ms(latency_us.value_at_quantile((row.quantile + QUANTILE_PRINT_ERROR).min(1.0)));
        assert!(
            low <= row.value_ms && row.value_ms <= high,
            "{row:?} not in [{low}, {high}]"
        );
        assert!(row.total_count >= previous_count);
        previous_count = row.total_count;
    }
    // The report's percentiles read back from the table exactly: the table has a row at each.
    for quantile in REPORT_QUANTILES {
        let reported = ms(latency_us.value_at_quantile(quantile));
        assert_eq!(
            hgrm.value_at_quantile(quantile),
            Some(reported),
            "q {quantile}"
        );
    }
}

#[test]
fn hgrm_round_trip_synthetic() {
    let mut stats = TargetStats::new();
    // A deterministic lopsided distribution: a bulk around 1 ms, a tail out to 250 ms.
    let mut state = 12345u64;
    for _ in 0..20_000 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let uniform = (state >> 11) as f64 / (1u64 << 53) as f64;
        let latency_us = (800.0 + 400.0 * uniform) as u64
            + if uniform > 0.995 {
                (uniform * 250_000.0) as u64
            } else {
                0
            };
        stats.record_response(200, latency_us, latency_us, 0);
    }
    // One outlier a second out, so every report percentile is below the max and has a row.
    stats.record_response(200, 1_000_000, 1_000_000, 0);
    let mut text = Vec::new();
    write_hgrm(&stats.latency_us, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.starts_with("       Value   Percentile   TotalCount 1/(1-Percentile)\n\n"),
        "{text}"
    );
    assert!(text.contains("#[Mean    = "), "{text}");
    assert!(text.contains("#[Buckets = "), "{text}");
    let hgrm = parse_hgrm(&text).unwrap();
    assert!(hgrm.rows.len() > 50);
    assert_eq!(hgrm.rows[0].quantile, 0.0);
    check_round_trip(&stats.latency_us, &hgrm);
    for quantile in ["0.500000", "0.900000", "0.990000", "0.999000", "0.999900"] {
        assert_eq!(
            text.matches(&format!(" {quantile} ")).count(),
            1,
            "{quantile}\n{text}"
        );
    }
    // Writing the same histogram again gives the same text.
    let mut again = Vec::new();
    write_hgrm(&stats.latency_us, &mut again).unwrap();
    assert_eq!(text.as_bytes(), again);
}

#[test]
fn hgrm_round_trip_of_a_run() {
    let server = TestServer::start(Behaviour::default());
    let dir = adshard_testkit::temp_dir("bench-hgrm");
    let (hgrm_path, json_path, svg_path) = (
        dir.join("run.hgrm"),
        dir.join("run.json"),
        dir.join("run.svg"),
    );
    let url = server.url();
    let cli = Cli::parse_from([
        "adshard-bench",
        "--url",
        &url,
        "--rate",
        "500",
        "--duration",
        "1s",
        "--connections",
        "2",
        "--method",
        "get",
        "--quiet",
        "--hgrm",
        hgrm_path.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
        "--svg",
        svg_path.to_str().unwrap(),
    ]);
    let mut out = Vec::new();
    let Outcome::Single(report) = run_cli(&cli, &mut out).unwrap() else {
        panic!("a single run")
    };
    assert_eq!(report.responses, 500, "{}", String::from_utf8_lossy(&out));
    let hgrm = parse_hgrm(&std::fs::read_to_string(&hgrm_path).unwrap()).unwrap();
    check_round_trip(&report.stats.latency_us, &hgrm);
    let latency = report.latency_ms;
    for (quantile, reported) in [
        (0.5, latency.p50),
        (0.9, latency.p90),
        (0.99, latency.p99),
        (0.999, latency.p99_9),
        (0.9999, latency.p99_99),
        (1.0, latency.max),
    ] {
        assert_eq!(
            hgrm.value_at_quantile(quantile),
            Some(reported),
            "q {quantile}"
        );
    }

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["responses"], 500);
    assert_eq!(json["latency_ms"]["max"].as_f64().unwrap(), hgrm.max_ms);
    assert_eq!(
        json["latency_ms"]["p50"].as_f64().unwrap(),
        report.latency_ms.p50
    );
    assert_eq!(json["errors"]["timeout"], 0);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("99.99%") && svg.contains("<polyline"));
    let _ = std::fs::remove_dir_all(&dir);
}
