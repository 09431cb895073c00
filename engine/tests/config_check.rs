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
    let mut loaded = Config::load(&example()).expect("example config is valid");
    // An empty `events.dir` is resolved against the config file's directory.
    assert_eq!(
        loaded.events.dir,
        example().parent().unwrap().join("data"),
        "events.dir"
    );
    loaded.events.dir = std::path::PathBuf::new();
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

/// Runs `adshard check-config` on `text` written to `dir/name`; returns (success, stderr).
fn check_config_text(dir: &Path, name: &str, text: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The stderr line reporting `field` of `file`, which must be there exactly once.
fn problem_line<'a>(stderr: &'a str, file: &Path, field: &str) -> &'a str {
    let prefix = format!("{}: {field}: ", file.display());
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .collect();
    assert_eq!(lines.len(), 1, "one line for {field} in:\n{stderr}");
    lines[0]
}

#[test]
fn check_config_reports_every_problem_with_its_line() {
    let dir = adshard_testkit::temp_dir("config-every-problem");
    // An unknown field, a type error, an unknown table and a value out of range, in four
    // tables: each used to hide the ones after it.
    let text = "\
[server]
listen = \"0.0.0.0:8080\"
shardz = 2

[http]
body_bytes_max = \"big\"

[trackin]
public_url = \"http://x\"

[delivery]
pacing_update_interval_ms = 1
";
    let (ok, stderr) = check_config_text(&dir, "bad.toml", text);
    assert!(!ok, "{stderr}");
    let file = dir.join("bad.toml");
    for (field, line) in [
        ("server.shardz", 3),
        ("http.body_bytes_max", 6),
        ("trackin", 8),
        ("delivery.pacing_update_interval_ms", 12),
    ] {
        let reported = problem_line(&stderr, &file, field);
        assert!(
            reported.ends_with(&format!("(line {line})")),
            "{field} should be on line {line}: {reported}"
        );
    }
    assert_eq!(
        stderr.lines().last(),
        Some(format!("{}: 4 problems", file.display()).as_str()),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_field_is_reported_on_its_line() {
    let dir = adshard_testkit::temp_dir("config-unknown-line");
    let file = dir.join("typo.toml");
    for (text, field, line) in [
        ("[http]\nbody_bytes_maxx = 3\n", "http.body_bytes_maxx", 2),
        (
            "\n\n[fanout]\n\ntmax_max_ms = 50\nhealth = true\n",
            "fanout.health",
            6,
        ),
        ("listen = 1\n", "listen", 1),
        (
            "[[bidders]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:1/\"\nmediaa = []\n",
            "bidders[0].mediaa",
            4,
        ),
    ] {
        let (ok, stderr) = check_config_text(&dir, "typo.toml", text);
        assert!(!ok, "{text}");
        let reported = problem_line(&stderr, &file, field);
        assert!(
            reported.ends_with(&format!("(line {line})")),
            "{text:?}: {field} should be on line {line}: {reported}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_config_reports_a_syntax_error_with_its_line() {
    let dir = adshard_testkit::temp_dir("config-syntax");
    let (ok, stderr) = check_config_text(
        &dir,
        "syntax.toml",
        "[http]\nbody_bytes_max = 65536\nidle_timeout_ms = [\n",
    );
    assert!(!ok);
    let file = dir.join("syntax.toml").display().to_string();
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{file}: ")) && first.ends_with("(line 3)"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some(format!("{file}: 1 problem").as_str()),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_config_reports_campaign_problems_with_a_count() {
    let dir = adshard_testkit::temp_dir("config-campaigns");
    std::fs::write(
        dir.join("campaigns.json"),
        r#"{
  "advertisers": [{"id": "adv-1", "name": "Example"}],
  "campaigns": [
    {"id": "c-1", "advertiser": "adv-1", "adomain": "brand.example", "bid_cpm_micros": -5,
     "creatives": [{"id": "n", "format": "native", "markup": "{}", "landing_page": "https://brand.example"}]},
    {"id": "c-2", "advertiser": "adv-9", "adomain": "brand.example", "bid_cpm_micros": 5,
     "creatives": [{"id": "n", "format": "native", "markup": "{}", "landing_page": "https://brand.example"}]}
  ]
}"#,
    )
    .unwrap();
    // One problem in the config itself: the campaign files are still checked.
    let (ok, stderr) = check_config_text(
        &dir,
        "adshard.toml",
        "[server]\ndrain_timeout_ms = 0\n\n[data]\ncampaign_files = [\"campaigns.json\"]\n",
    );
    assert!(!ok, "{stderr}");
    let config = dir.join("adshard.toml");
    let data = dir.join("campaigns.json").display().to_string();
    problem_line(&stderr, &config, "server.drain_timeout_ms");
    for (campaign, field) in [("c-1", "bid_cpm_micros"), ("c-2", "advertiser")] {
        let prefix = format!("{data}: campaign {campaign}: {field}: ");
        assert!(
            stderr.lines().any(|line| line.starts_with(&prefix)),
            "{prefix} missing in:\n{stderr}"
        );
    }
    assert_eq!(
        stderr.lines().last(),
        Some(format!("{}: 3 problems", config.display()).as_str()),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A campaign with no exchange rate for its currency could never bid (its bid cannot be
/// compared with the others): `check-config` and `serve` refuse it with the same line.
#[test]
fn campaign_currency_without_rate_is_an_error() {
    let dir = adshard_testkit::temp_dir("config-currency-rate");
    let campaign = |id: &str, currency: &str| {
        format!(
            r#"{{"id": "{id}", "advertiser": "adv-1", "adomain": "brand.example",
                "bid_cpm_micros": 1000000, "currency": "{currency}",
                "creatives": [{{"id": "n", "format": "native", "markup": "{{}}",
                                "landing_page": "https://brand.example"}}]}}"#
        )
    };
    std::fs::write(
        dir.join("campaigns.json"),
        format!(
            r#"{{"advertisers": [{{"id": "adv-1", "name": "Example"}}],
                "campaigns": [{}, {}, {}]}}"#,
            campaign("c-base", "CHF"),
            campaign("c-rated", "eur"),
            campaign("c-unrated", "GBP"),
        ),
    )
    .unwrap();
    let (ok, stderr) = check_config_text(
        &dir,
        "adshard.toml",
        "[currency]\nbase = \"CHF\"\nrates = { EUR = 1.05 }\n\n[data]\ncampaign_files = [\"campaigns.json\"]\n",
    );
    assert!(!ok, "{stderr}");
    let config = dir.join("adshard.toml");
    let prefix = format!(
        "{}: campaign c-unrated: currency: ",
        dir.join("campaigns.json").display()
    );
    let reported: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with(&prefix))
        .collect();
    assert_eq!(reported.len(), 1, "{prefix} once in:\n{stderr}");
    assert!(reported[0].contains("GBP"), "{}", reported[0]);
    assert_eq!(
        stderr.lines().last(),
        Some(format!("{}: 1 problem", config.display()).as_str()),
        "{stderr}"
    );

    // `serve` refuses to start, with the same message.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_adshard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--shards", "1", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Refusing takes milliseconds; a server that started is stopped after 30 s of polls.
    let mut status = None;
    for _ in 0..1_500 {
        status = serve.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if status.is_none() {
        serve.kill().unwrap();
        serve.wait().unwrap();
    }
    let mut serve_stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut serve_stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("serve started anyway:\n{serve_stderr}"));
    assert!(!status.success(), "{serve_stderr}");
    assert!(
        serve_stderr.lines().any(|line| line == reported[0]),
        "serve should say {:?}:\n{serve_stderr}",
        reported[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
