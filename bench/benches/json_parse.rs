//! Which JSON parser should `openrtb::parse_bid_request` use? This benchmark deserializes the
//! same bid request bodies into the same borrowed wire types (`adshard::openrtb::wire`) with
//! serde_json, sonic-rs and simd-json, and also times the whole `parse_bid_request` (serde_json,
//! validation and conversion) for scale. Criterion's time per iteration is the time per request.
//!
//! The bodies are the realistic fixtures of the engine's tests (banner, video, native,
//! multi-impression), minified as exchanges send them. Set `ADSHARD_CORPUS` to a directory to
//! add every `*.json` bid request below it (for example the IAB examples).
//!
//! simd-json parses in place, so it needs a mutable copy of the immutable body: the copy is
//! timed (into a reused buffer, as a shard would keep one), and so are its reused scratch
//! buffers' upkeep.
//!
//! Result and decision (see `engine/src/openrtb/mod.rs`): sonic-rs and simd-json are faster but
//! do not bound the nesting depth of skipped values, so hostile bodies overflow the stack;
//! `parse_bid_request` stayed on serde_json. Since 2026-11-23 it runs the engine's own JSON fast
//! path first (`openrtb::fastjson`) and serde_json only for the bodies that path hands back; the
//! `parse_wire` row times that path on the same wire types as the `serde_json` row.
//!
//! Run: `cargo bench -p adshard-bench --bench json_parse -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;

use adshard::adrequest::AdRequest;
use adshard::openrtb::wire::BidRequest;
use adshard::openrtb::{parse_bid_request, parse_wire};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const FIXTURES: [(&str, &str); 4] = [
    (
        "banner",
        include_str!("../../engine/tests/fixtures/openrtb/banner-site.json"),
    ),
    (
        "video",
        include_str!("../../engine/tests/fixtures/openrtb/video-app.json"),
    ),
    (
        "native",
        include_str!("../../engine/tests/fixtures/openrtb/native-site.json"),
    ),
    (
        "multi_imp",
        include_str!("../../engine/tests/fixtures/openrtb/multi-imp-site.json"),
    ),
];

/// Removes whitespace outside strings.
fn minify(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for byte in json.bytes() {
        if in_string {
            out.push(byte);
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !byte.is_ascii_whitespace() {
            in_string = byte == b'"';
            out.push(byte);
        }
    }
    out
}

fn corpus_bodies(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            corpus_bodies(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let body = minify(&text);
            // Only bid requests: other corpus files (responses) would just measure errors.
            if serde_json::from_slice::<BidRequest>(&body).is_ok_and(|r| !r.imp.is_empty()) {
                let name = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((name.replace(['/', '\\'], "_"), body));
            }
        }
    }
}

fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut bodies: Vec<(String, Vec<u8>)> = FIXTURES
        .iter()
        .map(|(name, json)| (name.to_string(), minify(json)))
        .collect();
    if let Some(dir) = std::env::var_os("ADSHARD_CORPUS") {
        corpus_bodies(Path::new(&dir), &mut bodies);
    }
    bodies
}

/// The three parsers must read the same request, or the comparison is meaningless.
fn assert_same_parse(name: &str, body: &[u8]) {
    let reference = format!(
        "{:?}",
        serde_json::from_slice::<BidRequest>(body).expect("serde_json")
    );
    let sonic = format!(
        "{:?}",
        sonic_rs::from_slice::<BidRequest>(body).expect("sonic-rs")
    );
    let mut copy = body.to_vec();
    let simd = format!(
        "{:?}",
        simd_json::serde::from_slice::<BidRequest>(&mut copy).expect("simd-json")
    );
    assert_eq!(
        reference, sonic,
        "{name}: sonic-rs reads a different request"
    );
    assert_eq!(
        reference, simd,
        "{name}: simd-json reads a different request"
    );
}

fn json_parse(c: &mut Criterion) {
    for (name, body) in bodies() {
        assert_same_parse(&name, &body);
        let mut group = c.benchmark_group(format!("json_parse/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));

        group.bench_function(BenchmarkId::from_parameter("serde_json"), |b| {
            b.iter(|| black_box(serde_json::from_slice::<BidRequest>(black_box(&body)).is_ok()))
        });

        group.bench_function(BenchmarkId::from_parameter("sonic_rs"), |b| {
            b.iter(|| black_box(sonic_rs::from_slice::<BidRequest>(black_box(&body)).is_ok()))
        });

        let mut copy: Vec<u8> = Vec::with_capacity(body.len());
        let mut buffers = simd_json::Buffers::new(body.len());
        group.bench_function(BenchmarkId::from_parameter("simd_json_copy"), |b| {
            b.iter(|| {
                copy.clear();
                copy.extend_from_slice(black_box(&body));
                let parsed = simd_json::serde::from_slice_with_buffers::<BidRequest>(
                    &mut copy,
                    &mut buffers,
                );
                black_box(parsed.is_ok())
            })
        });

        // The engine's own path: its JSON fast path, serde_json only for what that hands back.
        group.bench_function(BenchmarkId::from_parameter("parse_wire"), |b| {
            b.iter(|| black_box(parse_wire(black_box(&body)).is_ok()))
        });

        let mut out = AdRequest::default();
        group.bench_function(BenchmarkId::from_parameter("parse_bid_request"), |b| {
            b.iter(|| black_box(parse_bid_request(black_box(&body), &mut out).is_ok()))
        });
        group.finish();
    }
}

criterion_group!(benches, json_parse);
criterion_main!(benches);
