//! The auction's rules, checked against campaigns built in the test and requests parsed from
//! JSON: first and second price, floors with currency conversion, bcat/badv/battr, secure,
//! multi-imp with the per-request win cap, ties, flight dates. Candidates come from a naive
//! in-test source in bid order, so these tests pin the auction alone; the targeting index has
//! its own tests.

use std::ops::ControlFlow;

use adshard::adrequest::{AdRequest, Imp, MediaKinds};
use adshard::auction::PricingRule;
use adshard::auction::{run_auction, AuctionScratch, AuctionSettings, CampaignSource, Winner};
use adshard::campaign::{Campaign, CampaignBuilder, Creative, CreativeBuilder};
use adshard::currency::Currency;
use adshard::currency::CurrencyConfig;
use adshard::currency::CurrencyTable;
use adshard::openrtb::parse_bid_request;

const NOW_UNIX_S: i64 = 1_790_000_000;

fn banner(id: &str, w: u32, h: u32) -> Creative {
    CreativeBuilder::banner(id, w, h).secure(true).build()
}

fn campaign(id: &str, bid_cpm_micros: i64, currency: &str) -> Campaign {
    CampaignBuilder::new(id)
        .bid_cpm_micros(bid_cpm_micros)
        .currency(Currency::parse(currency).unwrap())
        .creatives(vec![banner(&format!("{id}-cr"), 300, 250)])
        .build()
}

/// Candidates in bid order (base currency, then id), every campaign matching: the auction's
/// own checks are what these tests exercise.
struct InOrder {
    campaigns: Vec<Campaign>,
}

impl InOrder {
    fn new(mut campaigns: Vec<Campaign>, currencies: &CurrencyTable) -> InOrder {
        campaigns.sort_by_key(|c| {
            (
                std::cmp::Reverse(currencies.to_base(c.bid_cpm_micros, c.currency).unwrap()),
                c.id.clone(),
            )
        });
        InOrder { campaigns }
    }
}

impl CampaignSource for InOrder {
    fn campaign(&self, campaign_idx: u32) -> &Campaign {
        &self.campaigns[campaign_idx as usize]
    }

    fn for_each_candidate(
        &self,
        _: &AdRequest,
        _: &Imp,
        _: i64,
        visit: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) {
        for idx in 0..self.campaigns.len() as u32 {
            if visit(idx).is_break() {
                return;
            }
        }
    }

    fn creative_fits(&self, creative: &Creative, request: &AdRequest, imp: &Imp) -> bool {
        imp.media.contains(MediaKinds::BANNER)
            && request
                .sizes(imp.sizes)
                .iter()
                .any(|s| s.w == creative.w && s.h == creative.h)
    }
}

fn request(json: &str) -> AdRequest {
    let mut request = AdRequest::default();
    parse_bid_request(json.as_bytes(), &mut request).unwrap_or_else(|e| panic!("{e}"));
    request
}

fn one_imp(extra: &str) -> String {
    format!(
        r#"{{"id":"r1","site":{{"id":"s","domain":"pub.example"}},"imp":[{{"id":"i1","banner":{{"w":300,"h":250}}{extra}}}]}}"#
    )
}

struct Outcome {
    winners: Vec<(String, i64)>,
    currency: Currency,
}

fn auction(campaigns: Vec<Campaign>, json: &str, pricing: PricingRule, wins_max: u32) -> Outcome {
    let currencies = CurrencyTable::from_config(&CurrencyConfig::default());
    let source = InOrder::new(campaigns, &currencies);
    let request = request(json);
    let mut scratch = AuctionScratch::default();
    let settings = AuctionSettings {
        pricing,
        campaign_wins_per_request_max: wins_max,
    };
    run_auction(
        &source,
        &request,
        &currencies,
        settings,
        NOW_UNIX_S,
        &mut scratch,
    );
    let winners = scratch
        .winners
        .iter()
        .map(|w: &Winner| {
            let imp = request.text(request.imps()[w.imp_idx].id).to_string();
            (
                format!("{imp}:{}", source.campaign(w.campaign_idx).id),
                w.price_micros,
            )
        })
        .collect();
    Outcome {
        winners,
        currency: scratch.currency,
    }
}

fn second(campaigns: Vec<Campaign>, json: &str) -> Vec<(String, i64)> {
    auction(campaigns, json, PricingRule::SecondPrice, 1).winners
}

#[test]
fn first_price_pays_the_bid() {
    let campaigns = vec![
        campaign("a", 2_000_000, "USD"),
        campaign("b", 1_500_000, "USD"),
    ];
    let outcome = auction(campaigns, &one_imp(""), PricingRule::FirstPrice, 1);
    assert_eq!(outcome.winners, [("i1:a".to_string(), 2_000_000)]);
    assert_eq!(outcome.currency, Currency::USD);
}

#[test]
fn second_price_pays_runner_up_plus_a_cent() {
    let campaigns = vec![
        campaign("a", 2_000_000, "USD"),
        campaign("b", 1_500_000, "USD"),
    ];
    assert_eq!(
        second(campaigns, &one_imp("")),
        [("i1:a".to_string(), 1_510_000)]
    );
}

#[test]
fn second_price_is_capped_at_the_winning_bid() {
    let campaigns = vec![
        campaign("a", 1_505_000, "USD"),
        campaign("b", 1_500_000, "USD"),
    ];
    assert_eq!(
        second(campaigns, &one_imp("")),
        [("i1:a".to_string(), 1_505_000)]
    );
}

#[test]
fn second_price_alone_pays_the_floor_plus_a_cent() {
    let campaigns = vec![campaign("a", 2_000_000, "USD")];
    assert_eq!(
        second(campaigns, &one_imp(r#","bidfloor":0.5"#)),
        [("i1:a".to_string(), 510_000)]
    );
}

#[test]
fn floor_excludes_lower_bids_and_runner_up_below_floor_does_not_lower_price() {
    let campaigns = vec![
        campaign("a", 2_000_000, "USD"),
        campaign("b", 400_000, "USD"),
    ];
    assert_eq!(
        second(campaigns.clone(), &one_imp(r#","bidfloor":0.5"#)),
        [("i1:a".to_string(), 510_000)]
    );
    assert!(second(campaigns, &one_imp(r#","bidfloor":2.5"#)).is_empty());
}

#[test]
fn floor_in_another_currency_is_converted() {
    // 1.84 EUR = 2.00 USD at the default 0.92: the 2.00 USD bid clears it exactly.
    let campaigns = vec![campaign("a", 2_000_000, "USD")];
    assert_eq!(
        second(
            campaigns.clone(),
            &one_imp(r#","bidfloor":1.84,"bidfloorcur":"EUR""#)
        )
        .len(),
        1
    );
    assert!(second(
        campaigns,
        &one_imp(r#","bidfloor":1.85,"bidfloorcur":"EUR""#)
    )
    .is_empty());
}

#[test]
fn floor_in_a_currency_without_rate_gets_no_bid() {
    let campaigns = vec![campaign("a", 2_000_000, "USD")];
    assert!(second(
        campaigns,
        &one_imp(r#","bidfloor":0.1,"bidfloorcur":"XYZ""#)
    )
    .is_empty());
}

#[test]
fn campaign_bids_in_other_currencies_compete_in_the_base_currency() {
    // 2.00 EUR is 2.17 USD: it beats 2.10 USD.
    let campaigns = vec![
        campaign("eur", 2_000_000, "EUR"),
        campaign("usd", 2_100_000, "USD"),
    ];
    let outcome = auction(campaigns, &one_imp(""), PricingRule::FirstPrice, 1);
    assert_eq!(outcome.winners, [("i1:eur".to_string(), 2_173_913)]);
}

#[test]
fn response_currency_follows_request_cur() {
    let campaigns = vec![campaign("a", 2_000_000, "USD")];
    let json = r#"{"id":"r1","cur":["EUR"],"site":{"id":"s"},"imp":[{"id":"i1","banner":{"w":300,"h":250}}]}"#;
    let outcome = auction(campaigns.clone(), json, PricingRule::FirstPrice, 1);
    assert_eq!(outcome.currency, Currency::parse("EUR").unwrap());
    assert_eq!(outcome.winners, [("i1:a".to_string(), 1_840_000)]);
    let json = r#"{"id":"r1","cur":["XYZ"],"site":{"id":"s"},"imp":[{"id":"i1","banner":{"w":300,"h":250}}]}"#;
    assert!(auction(campaigns, json, PricingRule::FirstPrice, 1)
        .winners
        .is_empty());
}

#[test]
fn badv_blocks_the_advertiser_and_its_subdomains() {
    let mut shop = campaign("a", 3_000_000, "USD");
    shop.adomain = "shop.brand.example".into();
    let campaigns = vec![shop, campaign("b", 1_000_000, "USD")];
    let json = r#"{"id":"r1","badv":["BRAND.example"],"site":{"id":"s"},"imp":[{"id":"i1","banner":{"w":300,"h":250}}]}"#;
    assert_eq!(second(campaigns, json), [("i1:b".to_string(), 10_000)]);
}

#[test]
fn bcat_blocks_creative_categories_and_their_children() {
    let mut gambling = campaign("a", 3_000_000, "USD");
    gambling.creatives[0].categories = vec!["IAB9-7".into()];
    let campaigns = vec![gambling, campaign("b", 1_000_000, "USD")];
    let json = r#"{"id":"r1","bcat":["IAB9"],"site":{"id":"s"},"imp":[{"id":"i1","banner":{"w":300,"h":250}}]}"#;
    assert_eq!(
        second(campaigns.clone(), json),
        [("i1:b".to_string(), 10_000)]
    );
    let json = r#"{"id":"r1","bcat":["IAB9-1"],"site":{"id":"s"},"imp":[{"id":"i1","banner":{"w":300,"h":250}}]}"#;
    assert_eq!(second(campaigns, json)[0].0, "i1:a");
}

#[test]
fn battr_picks_another_creative_or_skips_the_campaign() {
    let mut flashy = campaign("a", 3_000_000, "USD");
    flashy.creatives[0].attributes = vec![1];
    let mut calm = banner("a-calm", 300, 250);
    calm.attributes = vec![];
    let mut two_creatives = flashy.clone();
    two_creatives.id = "c".into();
    two_creatives.creatives.push(calm);
    let campaigns = vec![flashy, two_creatives, campaign("b", 1_000_000, "USD")];
    let json = r#"{"id":"r1","site":{"id":"s"},"imp":[{"id":"i1","banner":{"w":300,"h":250,"battr":[1]}}]}"#;
    let currencies = CurrencyTable::from_config(&CurrencyConfig::default());
    let source = InOrder::new(campaigns, &currencies);
    let request = request(json);
    let mut scratch = AuctionScratch::default();
    let settings = AuctionSettings {
        pricing: PricingRule::SecondPrice,
        campaign_wins_per_request_max: 1,
    };
    run_auction(
        &source,
        &request,
        &currencies,
        settings,
        NOW_UNIX_S,
        &mut scratch,
    );
    let winner = scratch.winners[0];
    let campaign = source.campaign(winner.campaign_idx);
    assert_eq!(campaign.id, "c");
    assert_eq!(campaign.creatives[winner.creative_idx].id, "a-calm");
}

#[test]
fn secure_impressions_need_secure_creatives() {
    let mut insecure = campaign("a", 3_000_000, "USD");
    insecure.creatives[0].secure = false;
    let campaigns = vec![insecure, campaign("b", 1_000_000, "USD")];
    assert_eq!(
        second(campaigns.clone(), &one_imp(r#","secure":1"#))[0].0,
        "i1:b"
    );
    assert_eq!(second(campaigns, &one_imp(""))[0].0, "i1:a");
}

#[test]
fn multi_imp_each_gets_its_own_auction_and_a_campaign_wins_once() {
    let campaigns = vec![
        campaign("a", 3_000_000, "USD"),
        campaign("b", 2_000_000, "USD"),
        campaign("c", 1_000_000, "USD"),
    ];
    let json = r#"{"id":"r1","site":{"id":"s"},"imp":[
        {"id":"i1","banner":{"w":300,"h":250}},
        {"id":"i2","banner":{"w":300,"h":250}},
        {"id":"i3","banner":{"w":728,"h":90}}]}"#;
    let winners = second(campaigns.clone(), json);
    // i1: a wins, pays b + 0.01; i2: a is capped, b wins, pays c + 0.01; i3: nothing fits.
    assert_eq!(
        winners,
        [
            ("i1:a".to_string(), 2_010_000),
            ("i2:b".to_string(), 1_010_000)
        ]
    );
    let uncapped = auction(campaigns, json, PricingRule::SecondPrice, 2).winners;
    assert_eq!(
        uncapped,
        [
            ("i1:a".to_string(), 2_010_000),
            ("i2:a".to_string(), 2_010_000)
        ]
    );
}

#[test]
fn ties_are_broken_by_campaign_id() {
    let campaigns = vec![
        campaign("zeta", 2_000_000, "USD"),
        campaign("alpha", 2_000_000, "USD"),
    ];
    assert_eq!(
        second(campaigns, &one_imp("")),
        [("i1:alpha".to_string(), 2_000_000)]
    );
}

#[test]
fn flight_dates_bound_delivery() {
    let mut future = campaign("future", 3_000_000, "USD");
    future.start_unix_s = Some(NOW_UNIX_S + 1);
    let mut ended = campaign("ended", 2_500_000, "USD");
    ended.end_unix_s = Some(NOW_UNIX_S);
    let mut running = campaign("running", 2_000_000, "USD");
    running.start_unix_s = Some(NOW_UNIX_S);
    running.end_unix_s = Some(NOW_UNIX_S + 1);
    assert_eq!(
        second(vec![future, ended, running], &one_imp("")),
        [("i1:running".to_string(), 10_000)]
    );
}
