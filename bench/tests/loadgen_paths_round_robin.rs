//! `--paths FILE` sends GET requests over the file's paths, round-robin, to the host of
//! `--url`: every path as often as the others, no body, the URL's own path unused. And it
//! refuses what it cannot honour (a POST, bodies beside it).

mod common;

use adshard_bench::loadgen::cli::{run_cli, Cli, Outcome};
use clap::Parser;
use common::{Behaviour, TestServer};

#[test]
fn loadgen_paths_round_robin() {
    let server = TestServer::start(Behaviour::default());
    let dir = adshard_testkit::temp_dir("bench-paths");
    let paths = dir.join("paths.txt");
    std::fs::write(
        &paths,
        "/billing?t=aaa\n/billing?t=bbb\n\n/click?t=ccc&r=1\n",
    )
    .unwrap();
    let url = server.url();
    let cli = Cli::parse_from([
        "adshard-bench",
        "--url",
        &url,
        "--rate",
        "600",
        "--duration",
        "1s",
        "--connections",
        "2",
        "--paths",
        paths.to_str().unwrap(),
        "--quiet",
    ]);
    let mut out = Vec::new();
    let Outcome::Single(report) = run_cli(&cli, &mut out).unwrap() else {
        panic!("a single run")
    };
    let text = String::from_utf8(out).unwrap();
    assert_eq!(report.scheduled, 600, "{text}");
    assert_eq!(report.responses, 600, "{text}");
    assert_eq!(report.errors_total(), 0, "{text}");
    let lines = server.request_lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 600);
    for (path, expected) in [
        ("/billing?t=aaa", 200),
        ("/billing?t=bbb", 200),
        ("/click?t=ccc&r=1", 200),
    ] {
        let line = format!("GET {path} HTTP/1.1");
        let n = lines.iter().filter(|l| **l == line).count();
        assert_eq!(n, expected, "{path}: {n} of {}", lines.len());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loadgen_paths_refuses_post_and_bodies() {
    let dir = adshard_testkit::temp_dir("bench-paths-refused");
    let paths = dir.join("paths.txt");
    std::fs::write(&paths, "/healthz\n").unwrap();
    let body = dir.join("body.json");
    std::fs::write(&body, "{}").unwrap();
    let base = [
        "adshard-bench",
        "--url",
        "http://127.0.0.1:9/x",
        "--paths",
        paths.to_str().unwrap(),
        "--quiet",
    ];
    let with_body: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--body", body.to_str().unwrap()])
        .collect();
    assert!(Cli::try_parse_from(with_body).is_err());
    for extra in [&["--method", "post"][..], &["--vary-users", "10"][..]] {
        let argv: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let cli = Cli::try_parse_from(argv).unwrap();
        let error = run_cli(&cli, &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("--paths"), "{error:#}");
    }
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let argv = [
        "adshard-bench",
        "--url",
        "http://127.0.0.1:9/x",
        "--paths",
        empty.to_str().unwrap(),
    ];
    let error = run_cli(&Cli::try_parse_from(argv).unwrap(), &mut Vec::new()).unwrap_err();
    assert!(format!("{error:#}").contains("no paths"), "{error:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}
