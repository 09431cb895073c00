//! Advertiser requirements: the block lists an advertiser registers (publisher domains, app
//! bundles, page URL prefixes) so its ads never run there (design §5). The engine does not
//! load them yet; this generator fixes their shape and gives the loader and its index
//! realistic data at scale when they come: a few advertisers with lists of hundreds of
//! thousands of entries, most with a handful, and entries drawn partly from the same pools as
//! generated traffic (so requests do hit blocks) and partly from a long synthetic tail (so a
//! list of millions is millions of distinct values).
//!
//! Output: JSON lines, one advertiser with requirements per line:
//! `{"advertiser":"adv-000012","bundles":[...],"domains":[...],"page_url_prefixes":[...]}`.
//! Advertiser ids are the ones `campaigns` writes (`adv-` and six digits, one advertiser per
//! ten campaigns). Lists hold no duplicates; the same seed writes the same bytes.

use std::collections::HashSet;
use std::io::Write;

use crate::campaigns::advertiser_id;
use crate::pools::{bundle, domain, BUNDLES, DOMAINS};
use crate::rng::Rng;
use crate::zipf::Zipf;

/// Most entries one run writes: lists of millions are the design's scale, and every list is
/// held in memory (as a set) while it is drawn.
pub const ENTRIES_MAX: usize = 50_000_000;
/// Share of advertisers that register any block list: most rely on the exchange's own
/// brand-safety settings.
const ADVERTISERS_WITH_LISTS_SHARE: f64 = 0.3;
/// Kinds of entries, in permille of an advertiser's entries: domains dominate real lists.
const DOMAIN_PERMILLE: usize = 700;
const BUNDLE_PERMILLE: usize = 200;
/// Share of pool values (the ones generated traffic carries) among drawn entries; the rest
/// is the synthetic long tail.
const POOL_SHARE: f64 = 0.3;
/// Sections of a site a page-URL prefix blocks.
const SECTIONS: [&str; 8] = [
    "news/crime",
    "politics",
    "gossip",
    "forum",
    "comments",
    "user",
    "dating",
    "casino",
];

#[derive(Debug, Clone, Copy)]
pub struct RequirementsOptions {
    /// Advertisers of the matching campaign file (`campaigns --count` / 10, rounded up).
    pub advertisers: usize,
    /// Entries over all lists.
    pub entries: usize,
    pub seed: u64,
}

/// Writes the requirements of `options.advertisers` advertisers, `options.entries` entries in
/// all, as JSON lines.
pub fn write_requirements(
    options: &RequirementsOptions,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    anyhow::ensure!(options.advertisers > 0, "--advertisers must be at least 1");
    anyhow::ensure!(
        options.entries <= ENTRIES_MAX,
        "--entries must be at most {ENTRIES_MAX}"
    );
    let mut rng = Rng::new(options.seed ^ 0x7265_7175_6972_6573);
    let listed: Vec<usize> = (0..options.advertisers)
        .filter(|_| rng.chance(ADVERTISERS_WITH_LISTS_SHARE))
        .collect();
    let listed = if listed.is_empty() { vec![0] } else { listed };
    // List sizes: a Zipf share per advertiser (rank by position after a seeded shuffle), so
    // the biggest list holds a large part of all entries.
    let mut order: Vec<usize> = (0..listed.len()).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let weights: Vec<f64> = order
        .iter()
        .map(|&rank| 1.0 / (rank as f64 + 1.0))
        .collect();
    let total_weight: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| (w / total_weight * options.entries as f64).floor() as usize)
        .collect();
    // The rounding remainder goes to the largest list, so the total is exact.
    let assigned: usize = sizes.iter().sum();
    if let Some(largest) = order.iter().position(|&rank| rank == 0) {
        sizes[largest] += options.entries - assigned;
    }
    let domains = Zipf::new(DOMAINS);
    let bundles = Zipf::new(BUNDLES);
    let mut synthetic = 0usize;
    for (&advertiser_idx, &size) in listed.iter().zip(&sizes) {
        let n_domains = size * DOMAIN_PERMILLE / 1000;
        let n_bundles = size * BUNDLE_PERMILLE / 1000;
        let n_prefixes = size - n_domains - n_bundles;
        let mut draw =
            |n: usize, pool: &dyn Fn(&mut Rng) -> String, tail: &dyn Fn(usize) -> String| {
                let mut seen = HashSet::with_capacity(n);
                let mut list = Vec::with_capacity(n);
                while list.len() < n {
                    let value = if rng.chance(POOL_SHARE) {
                        pool(&mut rng)
                    } else {
                        synthetic += 1;
                        tail(synthetic)
                    };
                    if seen.insert(value.clone()) {
                        list.push(value);
                    }
                }
                list
            };
        let domain_list = draw(n_domains, &|rng| domain(domains.sample(rng)), &|k| {
            format!("site{k}.blocked.example")
        });
        let bundle_list = draw(n_bundles, &|rng| bundle(bundles.sample(rng)), &|k| {
            format!("com.blocked.app{k}")
        });
        let prefix_list = draw(
            n_prefixes,
            &|rng| {
                let section = SECTIONS[rng.below(SECTIONS.len() as u64) as usize];
                format!("https://{}/{section}/", domain(domains.sample(rng)))
            },
            &|k| format!("https://pages{k}.blocked.example/"),
        );
        let requirements = serde_json::json!({
            "advertiser": advertiser_id(advertiser_idx),
            "domains": domain_list,
            "bundles": bundle_list,
            "page_url_prefixes": prefix_list,
        });
        serde_json::to_writer(&mut *out, &requirements)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
