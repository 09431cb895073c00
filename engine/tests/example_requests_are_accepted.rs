//! The sample requests in `examples/requests/` (the README's `curl` walkthroughs use them) are
//! valid OpenRTB 2.6 that the server accepts, and the embedded demo campaigns bid on each one
//! with one bid per impression: a sample that a new user sends and gets a 204 or a 400 for
//! teaches the wrong thing.

use std::path::{Path, PathBuf};

use adshard::adrequest::AdRequest;
use adshard::campaign::data;
use adshard::openrtb::parse_bid_request;
use adshard_testkit::server::TestServer;

/// The samples the README promises, with the bids the demo campaigns make on each.
const SAMPLES: [(&str, usize); 5] = [
    ("banner.json", 1),
    ("video.json", 1),
    ("native.json", 1),
    ("app.json", 1),
    ("multi-imp.json", 3),
];

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/requests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("")
}

#[test]
fn every_example_request_is_accepted_and_the_demo_bids() {
    let files = samples();
    for (name, _) in SAMPLES {
        assert!(
            files.iter().any(|path| file_name(path) == name),
            "examples/requests/{name} is missing"
        );
    }
    let server = TestServer::start_with_campaigns(|_| {}, data::demo());
    let mut client = server.connect();
    let mut parsed = AdRequest::default();
    for path in &files {
        let name = file_name(path);
        assert!(name.ends_with(".json"), "{name}: only JSON requests here");
        let body = std::fs::read_to_string(path).unwrap();
        if let Err(error) = parse_bid_request(body.as_bytes(), &mut parsed) {
            panic!("{name}: rejected by the parser: {error}");
        }
        let response = client.auction(&body);
        let n_bids_expected = SAMPLES
            .iter()
            .find(|(sample, _)| *sample == name)
            .map_or(0, |(_, n_bids)| *n_bids);
        if n_bids_expected == 0 {
            // A sample nobody promised a bid for must still be accepted.
            assert!(
                matches!(response.status, 200 | 204),
                "{name}: {} {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            );
            continue;
        }
        assert_eq!(
            response.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let answer = response.json();
        let imp_ids: Vec<&str> = answer["seatbid"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|seat| seat["bid"].as_array().into_iter().flatten())
            .map(|bid| bid["impid"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(imp_ids.len(), n_bids_expected, "{name}: {answer}");
        assert_eq!(
            imp_ids.len(),
            parsed.imps().len(),
            "{name}: one bid per impression: {answer}"
        );
    }
}
