//! The value pools both generators draw from, so generated campaigns target the values that
//! generated traffic carries: the same countries, domains, bundles, categories and segments,
//! ranked the same way (rank 0 is the most popular in both).
//!
//! Names are built from an index by fixed word lists, so a pool needs no storage and every
//! index has one name, stable across runs and versions of the data.

/// Countries by rough share of programmatic traffic, ISO-3166-1 alpha-3 as OpenRTB sends.
pub const COUNTRIES: [&str; 50] = [
    "USA", "GBR", "DEU", "FRA", "CAN", "JPN", "BRA", "IND", "AUS", "ITA", "ESP", "MEX", "NLD",
    "KOR", "RUS", "TUR", "POL", "IDN", "SWE", "BEL", "CHE", "ARG", "THA", "PHL", "VNM", "ZAF",
    "AUT", "NOR", "DNK", "IRL", "SGP", "MYS", "COL", "CHL", "FIN", "PRT", "NZL", "ISR", "ARE",
    "SAU", "EGY", "NGA", "PER", "CZE", "ROU", "HUN", "GRC", "UKR", "PAK", "TWN",
];

/// US states for region targeting (ISO-3166-2 subdivision codes without the country).
pub const US_REGIONS: [&str; 10] = ["CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI"];

/// Publisher domains in the pool.
pub const DOMAINS: usize = 10_000;

/// App bundles in the pool.
pub const BUNDLES: usize = 2_000;

/// Audience segments in the pool.
pub const SEGMENTS: usize = 1_000;

const DOMAIN_PREFIXES: [&str; 40] = [
    "daily", "city", "metro", "tech", "home", "auto", "travel", "food", "sport", "game", "money",
    "health", "style", "movie", "music", "science", "garden", "pet", "family", "weather", "local",
    "global", "smart", "green", "urban", "coast", "mountain", "river", "sun", "star", "blue",
    "red", "open", "true", "quick", "prime", "next", "bright", "good", "free",
];

const DOMAIN_SUFFIXES: [&str; 40] = [
    "news",
    "times",
    "post",
    "journal",
    "herald",
    "gazette",
    "review",
    "digest",
    "hub",
    "zone",
    "world",
    "today",
    "report",
    "insider",
    "guide",
    "tips",
    "wire",
    "daily",
    "weekly",
    "mag",
    "blog",
    "central",
    "planet",
    "corner",
    "spot",
    "lab",
    "club",
    "base",
    "point",
    "line",
    "feed",
    "stream",
    "view",
    "scope",
    "press",
    "tribune",
    "chronicle",
    "ledger",
    "bulletin",
    "beat",
];

const TLDS: [&str; 7] = ["com", "net", "org", "co.uk", "de", "io", "news"];

/// The publisher domain of a rank: unique for every rank below 40 * 40 * 7 = 11 200, and
/// numbered past that.
pub fn domain(rank: usize) -> String {
    let prefix = DOMAIN_PREFIXES[rank % DOMAIN_PREFIXES.len()];
    let suffix = DOMAIN_SUFFIXES[rank / DOMAIN_PREFIXES.len() % DOMAIN_SUFFIXES.len()];
    let combos = DOMAIN_PREFIXES.len() * DOMAIN_SUFFIXES.len();
    let tld = TLDS[rank / combos % TLDS.len()];
    let lap = rank / (combos * TLDS.len());
    if lap == 0 {
        format!("{prefix}{suffix}.{tld}")
    } else {
        format!("{prefix}{suffix}{lap}.{tld}")
    }
}

/// The app bundle of a rank: Android-style reverse domains, with every fourth an iOS store id
/// as exchanges send them.
pub fn bundle(rank: usize) -> String {
    if rank % 4 == 3 {
        format!(
            "{}",
            300_000_000 + crate::rng::mix64(rank as u64) % 1_500_000_000
        )
    } else {
        let name = domain(rank);
        let host = name.split('.').next().unwrap_or("app");
        format!("com.{host}.app{}", rank / 1600)
    }
}

/// The advertiser (brand) domain of an index: a separate namespace from publishers.
pub fn brand_domain(index: usize) -> String {
    const BRANDS: [&str; 25] = [
        "acme",
        "northwind",
        "bluebird",
        "contoso",
        "fabrikam",
        "globex",
        "initech",
        "umbrella",
        "stark",
        "wayne",
        "wonka",
        "tyrell",
        "soylent",
        "hooli",
        "vandelay",
        "aperture",
        "cyberdyne",
        "gringotts",
        "oscorp",
        "pied",
        "monarch",
        "zenith",
        "orbit",
        "nimbus",
        "vertex",
    ];
    const KINDS: [&str; 8] = [
        "motors", "travel", "outdoor", "foods", "bank", "games", "fashion", "telecom",
    ];
    let brand = BRANDS[index % BRANDS.len()];
    let kind = KINDS[index / BRANDS.len() % KINDS.len()];
    let lap = index / (BRANDS.len() * KINDS.len());
    if lap == 0 {
        format!("{brand}-{kind}.example")
    } else {
        format!("{brand}-{kind}{lap}.example")
    }
}

/// The segment id of a rank.
pub fn segment(rank: usize) -> String {
    format!("seg-{rank:04}")
}

/// IAB content categories (taxonomy 1.0): tier 1 IAB1..IAB26, each with a few tier-2 children.
/// Rank order interleaves them so popular ranks include both tiers.
pub fn category(rank: usize) -> String {
    const TIER1: usize = 26;
    const CHILDREN: usize = 6;
    let parent = rank % TIER1 + 1;
    match rank / TIER1 % (CHILDREN + 1) {
        0 => format!("IAB{parent}"),
        child => format!("IAB{parent}-{child}"),
    }
}

/// Categories in the pool: every tier-1 category with its children.
pub const CATEGORIES: usize = 26 * 7;

/// The common IAB display sizes, with a rough share of impressions.
pub const BANNER_SIZES: [(u32, u32); 5] =
    [(300, 250), (728, 90), (320, 50), (160, 600), (300, 600)];
pub const BANNER_SIZE_WEIGHTS: [u32; 5] = [40, 20, 25, 5, 10];

/// Video player sizes and the durations ads come in.
pub const VIDEO_SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
pub const VIDEO_DURATIONS_S: [u32; 3] = [6, 15, 30];

/// Operating systems as devices report them, with their device user agents.
pub const OS_NAMES: [&str; 5] = ["Android", "iOS", "Windows", "macOS", "Linux"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn pools_have_unique_names() {
        let domains: HashSet<String> = (0..DOMAINS).map(domain).collect();
        assert_eq!(domains.len(), DOMAINS);
        let bundles: HashSet<String> = (0..BUNDLES).map(bundle).collect();
        assert_eq!(bundles.len(), BUNDLES);
        let categories: HashSet<String> = (0..CATEGORIES).map(category).collect();
        assert_eq!(categories.len(), CATEGORIES);
        let brands: HashSet<String> = (0..1000).map(brand_domain).collect();
        assert_eq!(brands.len(), 1000);
    }
}
