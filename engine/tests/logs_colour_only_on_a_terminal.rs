//! Logs written to a file or a pipe (journald, `2> log`, a log shipper) carry no ANSI colour
//! codes: escape bytes in a log file break grep, parsers and alerting. Colour is for a person
//! at a terminal only.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Starts `adshard serve` with stderr to a pipe and returns what it logged up to "serving".
fn serve_logs(envs: &[(&str, &str)]) -> String {
    // Its own event-log directory: the tests run at once, and a directory has one writer.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let events_dir = std::env::temp_dir().join(format!(
        "adshard-colour-events-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut serve = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--shards", "1"])
        .arg("--events-dir")
        .arg(&events_dir)
        .env_remove("NO_COLOR")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = String::new();
    let mut stderr = BufReader::new(serve.stderr.take().unwrap());
    // Until the server says it serves, or ends (then the assertion below shows why).
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        logs.push_str(&line);
        if line.contains("adshard serving") {
            break;
        }
    }
    let _ = serve.kill();
    serve.wait().unwrap();
    let _ = std::fs::remove_dir_all(&events_dir);
    assert!(
        logs.contains("adshard serving"),
        "server did not start:\n{logs}"
    );
    logs
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let logs = serve_logs(&[]);
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escape in piped logs:\n{logs:?}"
    );
}
