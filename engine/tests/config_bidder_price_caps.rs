//! `fanout.price_cpm_max` and each bidder's `price_cpm_max` are checked like every other
//! limit: above 0, at most `bidders::PRICE_CPM_CEILING`, reported as `file: field: reason`;
//! a bidder without its own cap takes the fan-out's.

use std::path::Path;

use adshard::config::Config;

/// `field: reason` of every issue `check-config` reports for `toml`; none when it loads.
fn issues(toml: &str) -> Vec<String> {
    match Config::parse(toml, Path::new("a.toml")) {
        Ok(_) => Vec::new(),
        Err(error) => error
            .issues
            .iter()
            .map(|issue| format!("{}: {}", issue.field, issue.reason))
            .collect(),
    }
}

const BIDDER: &str = "[[bidders]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:7001/b\"\n";

#[test]
fn price_caps_out_of_range_are_reported() {
    let reason = "must be above 0 and at most 1000000 (CPM in currency.base)";
    for (toml, expected) in [
        ("[fanout]\nprice_cpm_max = 2.5\n".to_owned(), vec![]),
        ("[fanout]\nprice_cpm_max = 20\n".to_owned(), vec![]),
        ("[fanout]\nprice_cpm_max = 1000000\n".to_owned(), vec![]),
        (
            "[fanout]\nprice_cpm_max = 0.0\n".to_owned(),
            vec![format!("fanout.price_cpm_max: {reason}")],
        ),
        (
            "[fanout]\nprice_cpm_max = nan\n".to_owned(),
            vec![format!("fanout.price_cpm_max: {reason}")],
        ),
        (
            "[fanout]\nprice_cpm_max = 1000000.5\n".to_owned(),
            vec![format!("fanout.price_cpm_max: {reason}")],
        ),
        (format!("{BIDDER}price_cpm_max = 40.0\n"), vec![]),
        (
            format!("{BIDDER}price_cpm_max = -1.0\n"),
            vec![format!("bidders[0].price_cpm_max: {reason}")],
        ),
    ] {
        assert_eq!(issues(&toml), expected, "{toml}");
    }
}

#[test]
fn a_bidder_without_a_cap_takes_the_fanout_one() {
    let toml = format!(
        "[fanout]\nprice_cpm_max = 300.0\n{BIDDER}[[bidders]]\nname = \"b\"\n\
         endpoint = \"http://127.0.0.1:7002/b\"\nprice_cpm_max = 5.0\n"
    );
    let config = Config::parse(&toml, Path::new("a.toml")).expect("valid");
    let caps: Vec<f64> = config
        .bidders
        .iter()
        .map(|bidder| bidder.price_cpm_max(&config.fanout))
        .collect();
    assert_eq!(caps, [300.0, 5.0]);
    assert_eq!(
        Config::default().fanout.price_cpm_max,
        adshard::bidders::PRICE_CPM_MAX_DEFAULT
    );
}
