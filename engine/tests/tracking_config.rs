//! The `[tracking]` bid rate the dedupe window is sized from is checked when the config is
//! loaded, with the TTL it multiplies, in the `file: field: reason` shape; the key it replaced
//! is refused by name.

use std::path::Path;

use adshard::config::Config;

fn issues(tracking: &str) -> Vec<String> {
    match Config::parse(
        &format!("[tracking]\n{tracking}\n"),
        Path::new("adshard.toml"),
    ) {
        Ok(_) => Vec::new(),
        Err(error) => error.issues.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn bid_rate_is_bounded_with_the_ttl() {
    let refused = "adshard.toml: tracking.bids_per_shard_per_s_max: must be between 1 and 1000000, and times token_ttl_s (+60 s) at most 2147483648 bids (1 GiB of dedupe window per shard)";
    for (tracking, ok) in [
        ("", true),
        ("bids_per_shard_per_s_max = 1", true),
        ("bids_per_shard_per_s_max = 0", false),
        ("bids_per_shard_per_s_max = 1000001", false),
        // 500k bids/s over an hour and a minute: 1.83 billion bids, 0.9 GiB per shard.
        ("bids_per_shard_per_s_max = 500000", true),
        ("bids_per_shard_per_s_max = 1000000", false),
        ("bids_per_shard_per_s_max = 1000000\ntoken_ttl_s = 60", true),
        (
            "bids_per_shard_per_s_max = 1000\ntoken_ttl_s = 2592000",
            false,
        ),
    ] {
        let found = issues(tracking);
        if ok {
            assert!(found.is_empty(), "{tracking}: {found:?}");
        } else {
            // check-config names the line of the offending key after the reason.
            assert_eq!(found.len(), 1, "{tracking}: {found:?}");
            let reason_and_line = found[0].strip_prefix(refused);
            assert!(
                reason_and_line.is_some_and(|line| line.starts_with(" (line ")),
                "{tracking}: {found:?}"
            );
        }
    }
}

#[test]
fn dedupe_entries_max_is_refused_by_name() {
    let found = issues("dedupe_entries_max = 1048576");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("dedupe_entries_max"), "{found:?}");
}
