//! `adshard-events` on logs written the way the server writes them (`eventlog::record::encode`,
//! `SegmentHeader::encode`, the generation layout with `CURRENT`): `print` gives a JSON line per
//! record with campaign ids resolved, `verify` reports a torn tail as torn (exit 0) and a
//! flipped byte or a missing segment as damage (exit 1) with offsets, `summary` sums spend
//! and counts per campaign and UTC day over the shards, and `check` compares it with a
//! `/stats` served on loopback.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use adshard::eventlog::layout::{encode_checkpoint, shard_dir_in, CheckpointHeader, CHECKPOINT};
use adshard::eventlog::record::encode;
use adshard::eventlog::segment::{file_name, SegmentHeader};
use adshard::eventlog::{BidRecord, EventRecord, Lsn, Record, RunRecord, TrafficRecord};
use adshard::tracking::EventKind;
use adshard_tools::events::summary::{summarize_with, Totals};
use adshard_tools::events::target::resolve;
use serde_json::Value;

const GENERATION: u64 = 4;
/// 2026-01-01T00:00:00Z.
const DAY0: i64 = 1_767_225_600;

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adshard-events-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// One written segment: its path and the offset where each of its frames starts, plus the end.
struct Written {
    path: PathBuf,
    frame_starts: Vec<usize>,
}

/// Writes a shard's segments (lsns from 1, consecutive across them) with 512 zero bytes of
/// padding after the last, as the DMA writer leaves them.
fn write_shard(dir: &Path, shard_idx: u16, segments: &[Vec<Record<'_>>]) -> Vec<Written> {
    fs::create_dir_all(dir).unwrap();
    let mut lsn: Lsn = 1;
    let mut written = Vec::new();
    for records in segments {
        let header = SegmentHeader {
            shard_idx,
            first_lsn: lsn,
            created_unix_s: DAY0,
            generation: GENERATION,
        };
        let mut bytes = header.encode().to_vec();
        let mut frame_starts = Vec::new();
        for record in records {
            frame_starts.push(bytes.len());
            encode(lsn, record, &mut bytes);
            lsn += 1;
        }
        frame_starts.push(bytes.len());
        bytes.resize(bytes.len() + 512, 0);
        let path = dir.join(file_name(header.first_lsn));
        fs::write(&path, &bytes).unwrap();
        written.push(Written { path, frame_starts });
    }
    written
}

/// Writes `CURRENT` and each shard's segments; returns what was written, per shard.
fn write_log(dir: &Path, shards: &[Vec<Vec<Record<'_>>>]) -> Vec<Vec<Written>> {
    fs::write(
        dir.join("CURRENT"),
        format!(
            "adshard-events generation {GENERATION} shards {}\n",
            shards.len()
        ),
    )
    .unwrap();
    shards
        .iter()
        .enumerate()
        .map(|(idx, segments)| {
            write_shard(&shard_dir_in(dir, GENERATION, idx), idx as u16, segments)
        })
        .collect()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adshard-events"))
        .args(args)
        .output()
        .expect("run adshard-events")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn bid(sequence: u64, campaign: u32, at: i64) -> Record<'static> {
    Record::Bid(BidRecord {
        sequence,
        campaign,
        committed_micros: 4_000,
        at_unix_s: at,
    })
}

fn event(kind: EventKind, sequence: u64, campaign: u32, spend: i64, at: i64) -> Record<'static> {
    Record::Event(EventRecord {
        kind,
        sequence,
        campaign,
        spend_micros: spend,
        committed_micros: 4_000,
        issued_unix_s: at - 1,
        user_key: 7,
        spend_on: adshard::campaign::SpendOn::Impression,
        loss_reason: adshard::tracking::LossReason::Unknown,
        at_unix_s: at,
    })
}

fn run_record(shard_idx: u16) -> Record<'static> {
    Record::Run(RunRecord {
        shard_idx,
        n_shards: 2,
        window_base: 1_000,
        at_unix_s: DAY0 - 10,
    })
}

/// Shard 0: two segments; campaign "alpha" bids and spends on two days, "beta" once.
fn shard0() -> Vec<Vec<Record<'static>>> {
    vec![
        vec![
            run_record(0),
            Record::Campaigns(vec!["alpha", "beta"]),
            bid(1_000, 0, DAY0 - 5),
            event(EventKind::Win, 1_000, 0, 2_000, DAY0 - 4),
            event(EventKind::Impression, 1_000, 0, 0, DAY0 - 3),
        ],
        vec![
            event(EventKind::Billing, 1_000, 0, 0, DAY0 + 1),
            bid(1_001, 1, DAY0 + 2),
            event(EventKind::Billing, 1_001, 1, 3_000, DAY0 + 3),
            event(EventKind::Click, 1_001, 1, 0, DAY0 + 4),
            Record::Traffic(TrafficRecord {
                at_unix_s: DAY0 + 5,
                requests: 40,
            }),
        ],
    ]
}

/// Shard 1: its own dictionary, in another order.
fn shard1() -> Vec<Vec<Record<'static>>> {
    vec![vec![
        run_record(1),
        Record::Campaigns(vec!["beta", "alpha"]),
        bid(9_000, 1, DAY0 + 10),
        event(EventKind::Win, 9_000, 1, 1_500, DAY0 + 11),
        bid(9_001, 0, DAY0 + 12),
        event(EventKind::Impression, 9_001, 0, 0, DAY0 + 13),
    ]]
}

#[test]
fn print_gives_a_json_line_per_record_with_campaign_ids() {
    let dir = temp_dir("print");
    let written = write_log(&dir, &[shard0(), shard1()]);
    let shard_dir = shard_dir_in(&dir, GENERATION, 0);

    let output = run(&["print", path_arg(&shard_dir)]);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "run",
            "campaigns",
            "bid",
            "event",
            "event",
            "event",
            "bid",
            "event",
            "event",
            "traffic"
        ]
    );
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["lsn"], i as u64 + 1);
    }
    assert_eq!(lines[3]["kind"], "win");
    assert_eq!(lines[3]["campaign"], "alpha");
    assert_eq!(lines[3]["spend_micros"], 2_000);
    assert_eq!(lines[7]["campaign"], "beta");
    assert_eq!(lines[1]["ids"], serde_json::json!(["alpha", "beta"]));

    // --from-lsn, and one segment alone: its dictionary comes from the segment before it.
    let second = path_arg(&written[0][1].path);
    let output = run(&["print", second, "--from-lsn", "8"]);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["lsn"], 8);
    assert_eq!(lines[0]["kind"], "billing");
    assert_eq!(lines[0]["campaign"], "beta");

    // The log directory: every shard, each line saying which.
    let output = run(&["print", path_arg(&dir)]);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 16);
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with(r#"{"shard":1,"lsn":6,"#));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_passes_a_whole_log_and_a_torn_tail() {
    let dir = temp_dir("verify-torn");
    let written = write_log(&dir, &[shard0(), shard1()]);
    let output = run(&["verify", path_arg(&dir)]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("3 files, 16 records, 0 torn tails, 0 problems: ok"),
        "{text}"
    );
    assert!(text.contains("ok, 5 records (lsn 1..=5)"), "{text}");

    // Cut shard 1's segment inside its last frame: the crash case.
    let segment = &written[1][0];
    let last_frame = segment.frame_starts[segment.frame_starts.len() - 2];
    let bytes = fs::read(&segment.path).unwrap();
    fs::write(&segment.path, &bytes[..last_frame + 11]).unwrap();
    let output = run(&["verify", path_arg(&dir)]);
    let text = stdout(&output);
    assert!(output.status.success(), "a torn tail is fine: {text}");
    assert!(
        text.contains(&format!(
            "torn tail at offset {last_frame} (truncated frame), 11 bytes cut"
        )),
        "{text}"
    );
    assert!(text.contains("1 torn tails, 0 problems: ok"), "{text}");
    // Print reads up to the tear and says so on standard error.
    let output = run(&["print", path_arg(&segment.path)]);
    assert!(output.status.success());
    assert_eq!(stdout(&output).lines().count(), 5);
    assert!(String::from_utf8_lossy(&output.stderr).contains("torn tail"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_reports_a_flipped_byte_mid_file_as_damage() {
    let dir = temp_dir("verify-damage");
    let written = write_log(&dir, &[shard0(), shard1()]);
    let segment = &written[0][0];
    let (start, next) = (segment.frame_starts[2], segment.frame_starts[3]);
    let mut bytes = fs::read(&segment.path).unwrap();
    bytes[start + 20] ^= 0x40;
    fs::write(&segment.path, &bytes).unwrap();

    let output = run(&["verify", path_arg(&dir)]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "DAMAGED at offset {start} (checksum mismatch), a valid frame follows at offset {next}; \
             2 records (lsn 1..=2) before the damage"
        )),
        "{text}"
    );
    assert!(text.contains("1 problems: DAMAGED"), "{text}");
    // The segment alone, and the summary, refuse it too.
    assert_eq!(
        run(&["verify", path_arg(&segment.path)]).status.code(),
        Some(1)
    );
    let summary = run(&["summary", path_arg(&dir)]);
    assert_eq!(summary.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&summary.stderr).contains("damaged at offset"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn verify_reports_a_missing_segment_or_a_bad_header() {
    let dir = temp_dir("verify-gap");
    let mut segments = shard0();
    segments.push(vec![bid(1_002, 0, DAY0 + 20)]);
    let written = write_log(&dir, &[segments]);
    fs::remove_file(&written[0][1].path).unwrap();
    let output = run(&["verify", path_arg(&dir)]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("GAP: records 6..=10 are in no segment"),
        "{text}"
    );

    // A header that names another shard.
    write_shard(&shard_dir_in(&dir, GENERATION, 0), 3, &shard1());
    let output = run(&["verify", path_arg(&dir)]);
    assert!(stdout(&output).contains("the header says shard 3, the directory is shard 0"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn summary_sums_per_campaign_and_day_over_the_shards() {
    let dir = temp_dir("summary");
    write_log(&dir, &[shard0(), shard1()]);
    let output = run(&["summary", path_arg(&dir), "--json"]);
    assert!(output.status.success(), "{output:?}");
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["generation"], GENERATION);
    assert_eq!(summary["shards"][0]["source"], "log");
    assert_eq!(summary["shards"][0]["describe"], "log only, 7 records");
    assert_eq!(summary["shards"][1]["describe"], "log only, 4 records");

    let campaigns = summary["campaigns"].as_array().unwrap();
    let alpha = &campaigns[0];
    assert_eq!(alpha["id"], "alpha");
    // Shard 0: bid, win 2000, pixel (all on 2025-12-31), billing after the pixel (2026-01-01,
    // not an impression); shard 1: bid, win 1500.
    assert_eq!(
        alpha["total"],
        serde_json::json!({"bids": 2, "wins": 2, "impressions": 1, "billings": 1, "clicks": 0,
                           "losses": 0, "spend_micros": 3500})
    );
    assert_eq!(alpha["days"][0]["day"], "2025-12-31");
    assert_eq!(alpha["days"][0]["impressions"], 1);
    assert_eq!(alpha["days"][1]["day"], "2026-01-01");
    assert_eq!(alpha["days"][1]["billings"], 1);
    assert_eq!(alpha["checkpoint"], Value::Null);
    let beta = &campaigns[1];
    assert_eq!(
        beta["total"],
        serde_json::json!({"bids": 2, "wins": 0, "impressions": 2, "billings": 1, "clicks": 1,
                           "losses": 0, "spend_micros": 3000})
    );

    let text = stdout(&run(&["summary", path_arg(&dir)]));
    assert!(text.contains("shard 0: log only, 7 records"), "{text}");
    let total_row = text
        .lines()
        .find(|line| line.starts_with("beta") && line.contains("total"))
        .unwrap();
    assert_eq!(
        total_row.split_whitespace().collect::<Vec<_>>(),
        ["beta", "total", "2", "0", "2", "1", "1", "0", "3000"]
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Until `state::ShardState` is wired into `summary::checkpoint_totals`, a shard with a
/// checkpoint is refused, never summed from its log alone as if it had none.
#[test]
fn summary_never_ignores_a_checkpoint() {
    let dir = temp_dir("summary-checkpoint");
    write_log(&dir, &[shard0()]);
    let shard_dir = shard_dir_in(&dir, GENERATION, 0);
    let mut bytes = Vec::new();
    let header = CheckpointHeader {
        shard_idx: 0,
        generation: GENERATION,
        log_position: 5,
    };
    encode_checkpoint(header, b"state", &mut bytes);
    fs::write(shard_dir.join(CHECKPOINT), &bytes).unwrap();

    let verify = stdout(&run(&["verify", path_arg(&dir)]));
    assert!(verify.contains("checkpoint ok: 5 bytes of state, includes the log up to lsn 5"));
    let output = run(&["summary", path_arg(&dir)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("checkpoint"));
    fs::remove_dir_all(&dir).unwrap();
}

/// With a checkpoint, its counters are the base and only the records after its position add
/// to them; the records before it (kept by retention) still give the dictionary and the pixels
/// in force. The state here is decoded by the test, as `state::ShardState` is not wired yet.
#[test]
fn summary_adds_the_records_after_a_checkpoint_to_it() {
    let dir = temp_dir("summary-from-checkpoint");
    write_log(&dir, &[shard0()]);
    let shard_dir = shard_dir_in(&dir, GENERATION, 0);
    let mut bytes = Vec::new();
    let header = CheckpointHeader {
        shard_idx: 0,
        generation: GENERATION,
        log_position: 5,
    };
    encode_checkpoint(header, b"test state", &mut bytes);
    fs::write(shard_dir.join(CHECKPOINT), &bytes).unwrap();
    let decode = |state: &[u8]| -> anyhow::Result<Vec<(String, Totals)>> {
        assert_eq!(state, b"test state");
        let alpha = Totals {
            bids: 10,
            wins: 10,
            impressions: 9,
            spend_micros: 20_000,
            ..Totals::default()
        };
        Ok(vec![
            ("alpha".to_owned(), alpha),
            ("beta".to_owned(), Totals::default()),
        ])
    };
    let summary = summarize_with(&resolve(&dir).unwrap(), &decode).unwrap();
    assert_eq!(
        summary.shards[0].describe(),
        "from checkpoint at lsn 5 + 4 records"
    );
    let alpha = &summary.campaigns["alpha"];
    assert_eq!(alpha.checkpoint.unwrap().bids, 10);
    // After lsn 5: alpha's billing notice, whose pixel (lsn 5) the checkpoint holds: a billing,
    // not an impression, named through the dictionary at lsn 2.
    let total = alpha.total();
    assert_eq!(
        (
            total.bids,
            total.impressions,
            total.billings,
            total.spend_micros
        ),
        (10, 9, 1, 20_000)
    );
    let beta = summary.campaigns["beta"].total();
    assert_eq!(
        (beta.bids, beta.impressions, beta.clicks, beta.spend_micros),
        (1, 1, 1, 3_000)
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Serves `body` as the answer to every request on a loopback port, for `requests` requests.
fn serve_stats(body: String, requests: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"GET /stats HTTP/1.1\r\n"));
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    port
}

#[test]
fn check_compares_the_log_with_stats() {
    let dir = temp_dir("check");
    write_log(&dir, &[shard0(), shard1()]);
    let matching = r#"{"day":20454,"campaigns":[
        {"id":"alpha","spend_total_micros":3500,"spend_today_micros":1500,"bids":2,"wins":2,
         "impressions":1,"billings":1,"clicks":0},
        {"id":"beta","spend_total_micros":3000,"spend_today_micros":3000,"bids":2,"wins":0,
         "impressions":2,"billings":1,"clicks":1}]}"#;
    let port = serve_stats(matching.to_owned(), 1);
    let url = format!("http://127.0.0.1:{port}/stats");
    let output = run(&["check", path_arg(&dir), "--stats", &url]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("2 campaigns in the log, 0 mismatches"));

    let off = matching.replace(r#""clicks":1}"#, r#""clicks":2}"#);
    let port = serve_stats(off, 1);
    let url = format!("http://127.0.0.1:{port}/stats");
    let output = run(&["check", path_arg(&dir), "--stats", &url]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("MISMATCH beta: clicks log 1 /stats 2 (log - /stats = -1)"),
        "{text}"
    );

    let refused = run(&[
        "check",
        path_arg(&dir),
        "--stats",
        "http://10.1.2.3:9090/stats",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refusing"));
    fs::remove_dir_all(&dir).unwrap();
}
