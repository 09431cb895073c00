//! `adshard-gen requirements`: the same seed writes the same bytes; the entries add up to what
//! was asked; every advertiser is one the campaign generator writes; no list repeats a value;
//! a few advertisers hold most entries; and some entries are values generated traffic carries,
//! so requests do meet blocks.

use std::collections::HashSet;

use adshard_tools::pools::{domain, DOMAINS};
use adshard_tools::requirements::{write_requirements, RequirementsOptions};

fn generate(advertisers: usize, entries: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_requirements(
        &RequirementsOptions {
            advertisers,
            entries,
            seed,
        },
        &mut out,
    )
    .expect("generates");
    out
}

#[test]
fn same_seed_same_bytes_and_entries_add_up() {
    let first = generate(1000, 200_000, 7);
    assert_eq!(first, generate(1000, 200_000, 7));
    assert_ne!(first, generate(1000, 200_000, 8));

    let pool: HashSet<String> = (0..DOMAINS).map(domain).collect();
    let mut total = 0;
    let mut sizes = Vec::new();
    let mut pool_hits = 0;
    for line in std::str::from_utf8(&first).unwrap().lines() {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        let advertiser = json["advertiser"].as_str().unwrap();
        let idx: usize = advertiser.strip_prefix("adv-").unwrap().parse().unwrap();
        assert!(idx < 1000, "{advertiser}");
        assert_eq!(advertiser.len(), "adv-000000".len());
        let mut size = 0;
        for list in ["domains", "bundles", "page_url_prefixes"] {
            let values: Vec<&str> = json[list]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let distinct: HashSet<&str> = values.iter().copied().collect();
            assert_eq!(distinct.len(), values.len(), "{advertiser} {list} repeats");
            if list == "domains" {
                pool_hits += values.iter().filter(|d| pool.contains(**d)).count();
            }
            size += values.len();
        }
        sizes.push(size);
        total += size;
    }
    assert_eq!(total, 200_000);
    // About 30% of advertisers have lists.
    assert!(
        (200..=400).contains(&sizes.len()),
        "{} advertisers",
        sizes.len()
    );
    // Zipf sizes: the biggest list holds a large share, the median one is small.
    sizes.sort_unstable();
    assert!(*sizes.last().unwrap() > total / 10, "{sizes:?}");
    assert!(sizes[sizes.len() / 2] < total / 200, "{sizes:?}");
    assert!(
        pool_hits > 1000,
        "only {pool_hits} blocked domains are traffic's"
    );
}

#[test]
fn refuses_nonsense() {
    let mut out = Vec::new();
    assert!(write_requirements(
        &RequirementsOptions {
            advertisers: 0,
            entries: 10,
            seed: 1
        },
        &mut out
    )
    .is_err());
    assert!(write_requirements(
        &RequirementsOptions {
            advertisers: 10,
            entries: adshard_tools::requirements::ENTRIES_MAX + 1,
            seed: 1
        },
        &mut out
    )
    .is_err());
}
