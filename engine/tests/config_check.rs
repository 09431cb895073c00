//! `adshard check-config`: the example config is valid and equals the defaults; a bad config
//! names the file, the field and the reason, and exits non-zero.

use std::path::Path;
use std::process::Command;

use adshard::config::Config;

fn example() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/adshard.toml")
}

#[test]
fn example_config_lists_the_defaults() {
    let loaded = Config::load(&example()).expect("example config is valid");
    let defaults = Config::default();
    assert_eq!(format!("{loaded:?}"), format!("{defaults:?}"));
}

#[test]
fn check_config_accepts_the_example() {
    let output = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .arg("check-config")
        .arg(example())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn check_config_reports_every_error_with_file_and_field() {
    let dir = adshard_testkit::temp_dir("config");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[server]\ncpus = \"3-1\"\n[http]\nbody_bytes_max = 10\nheader_timeout_ms = 0\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = path.display().to_string();
    for field in [
        "server.cpus",
        "http.body_bytes_max",
        "http.header_timeout_ms",
    ] {
        assert!(
            stderr.contains(&format!("{file}: {field}: ")),
            "{field} missing in:\n{stderr}"
        );
    }
    std::fs::write(&path, "[http]\nbody_bytes_max = \"lots\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{file}: http.body_bytes_max: ")),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
