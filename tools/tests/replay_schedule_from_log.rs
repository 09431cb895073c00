//! How `adshard-replay` reads a log and turns it into send times, checked as data (no server,
//! no clock): envelopes and bare requests, timestamps scaled by speed, `--rate` for lines
//! without one, out-of-order lines, loops, and the errors a bad log gets.

use adshard_tools::replay::{parse_log, schedule, Entry, Pace, PATH_DEFAULT};

/// Parses `log`, schedules it, and returns the send times in microseconds.
fn times(log: &str, speed: f64, rate: Option<f64>, loops: u32) -> Result<Vec<u64>, String> {
    let entries = parse_log(log.as_bytes()).map_err(|error| format!("{error:#}"))?;
    let schedule = schedule(&entries, Pace { speed, rate }, loops).map_err(|e| format!("{e:#}"))?;
    Ok(schedule.iter().map(|item| item.at_us).collect())
}

#[test]
fn replay_log_lines_parse_as_envelopes_or_bare_requests() {
    let log = concat!(
        "{\"ts_us\": 10, \"path\": \"/win?t=x\", \"body\": null}\n",
        "\n",
        "{\"ts_us\": 20, \"body\": {\"id\": \"a\",  \"tmax\": 100}}\n",
        "{\"body\": \"not json {\"}\n",
        "{\"id\": \"bare\", \"imp\": []}\n",
    );
    let entries = parse_log(log.as_bytes()).unwrap();
    let expected = vec![
        Entry {
            ts_us: Some(10),
            path: "/win?t=x".to_owned(),
            body: None,
        },
        Entry {
            ts_us: Some(20),
            path: PATH_DEFAULT.to_owned(),
            // Byte for byte, inner spacing included.
            body: Some(b"{\"id\": \"a\",  \"tmax\": 100}".to_vec()),
        },
        Entry {
            ts_us: None,
            path: PATH_DEFAULT.to_owned(),
            body: Some(b"not json {".to_vec()),
        },
        Entry {
            ts_us: None,
            path: PATH_DEFAULT.to_owned(),
            body: Some(b"{\"id\": \"bare\", \"imp\": []}".to_vec()),
        },
    ];
    assert_eq!(entries, expected);
}

#[test]
fn replay_log_errors_name_the_line() {
    let check = |log: &str, expected: &str| {
        let error = format!("{:#}", parse_log(log.as_bytes()).unwrap_err());
        assert!(error.contains(expected), "{log:?}: {error}");
    };
    check("{\"id\":\"a\"}\n[1,2]\n", "line 2: not a JSON object");
    check("{\"ts_us\": -5, \"body\": {}}\n", "line 1: ts_us must be");
    check("{\"ts_us\": 1.5, \"body\": {}}\n", "ts_us must be");
    check("{\"path\": \"auction\"}\n", "path must start with /");
    check("{\"path\": 3}\n", "path must be a string");
}

#[test]
fn replay_schedule_follows_timestamps_speed_and_rate() {
    let timed = "{\"ts_us\":1000,\"body\":{}}\n{\"ts_us\":3000,\"body\":{}}\n{\"ts_us\":11000,\"body\":{}}\n";
    // Relative to the first timestamp.
    assert_eq!(times(timed, 1.0, None, 1).unwrap(), [0, 2000, 10000]);
    // Twice as fast, and half as fast.
    assert_eq!(times(timed, 2.0, None, 1).unwrap(), [0, 1000, 5000]);
    assert_eq!(times(timed, 0.5, None, 1).unwrap(), [0, 4000, 20000]);
    // Loops: each pass starts one mean gap (5 ms) after the previous pass's last line.
    assert_eq!(
        times(timed, 1.0, None, 2).unwrap(),
        [0, 2000, 10000, 15000, 17000, 25000]
    );

    // Untimestamped lines (`adshard-gen traffic`) at --rate.
    let bare = "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n";
    assert_eq!(times(bare, 1.0, Some(1000.0), 1).unwrap(), [0, 1000, 2000]);
    assert_eq!(
        times(bare, 1.0, Some(1000.0), 2).unwrap(),
        [0, 1000, 2000, 3000, 4000, 5000]
    );
    // A single line loops at the rate.
    assert_eq!(
        times("{\"id\":\"a\"}\n", 1.0, Some(10.0), 3).unwrap(),
        [0, 100_000, 200_000]
    );

    // Mixed: an untimestamped line goes 1/rate after the line before it.
    let mixed = "{\"ts_us\":0,\"body\":{}}\n{\"id\":\"x\"}\n{\"ts_us\":5000,\"body\":{}}\n";
    assert_eq!(times(mixed, 1.0, Some(500.0), 1).unwrap(), [0, 2000, 5000]);

    // Out of order (logs merged from several shards): never earlier than the line before.
    let shuffled = "{\"ts_us\":0,\"body\":{}}\n{\"ts_us\":4000,\"body\":{}}\n{\"ts_us\":3000,\"body\":{}}\n{\"ts_us\":6000,\"body\":{}}\n";
    assert_eq!(
        times(shuffled, 1.0, None, 1).unwrap(),
        [0, 4000, 4000, 6000]
    );
}

#[test]
fn replay_schedule_rejects_what_it_cannot_pace() {
    let check = |result: Result<Vec<u64>, String>, expected: &str| {
        let error = result.unwrap_err();
        assert!(error.contains(expected), "{error}");
    };
    check(
        times("{\"id\":\"a\"}\n", 1.0, None, 1),
        "line 1 of the log has no ts_us; pass --rate",
    );
    check(
        times("{\"ts_us\":1,\"body\":{}}\n", 0.0, None, 1),
        "--speed",
    );
    check(
        times("{\"ts_us\":1,\"body\":{}}\n", f64::NAN, None, 1),
        "--speed",
    );
    check(times("{\"id\":\"a\"}\n", 1.0, Some(-1.0), 1), "--rate");
    check(times("{\"ts_us\":1,\"body\":{}}\n", 1.0, None, 0), "--loop");
    check(times("\n\n", 1.0, Some(1.0), 1), "no requests");
}
