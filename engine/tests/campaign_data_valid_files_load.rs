//! Valid data files load into exactly the model we expect: two files merged (advertisers in
//! one, campaigns in the other), defaults filled in, matched text normalised, lists
//! deduplicated, times converted to Unix seconds. If this drifts, targeting drifts with it.

use std::path::{Path, PathBuf};

use adshard::adrequest::CountryCode;
use adshard::campaign::data::{load_files, parse_str};
use adshard::campaign::{
    Advertiser, Budget, CampaignBuilder, CampaignData, CampaignStatus, CreativeBuilder, Daypart,
    IncludeExclude, Pacing, SpendOn, Targeting,
};
use adshard::currency::Currency;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/campaigns")
        .join(name)
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).expect("test country code")
}

fn expected() -> CampaignData {
    let spring = CampaignBuilder::new("cmp-spring")
        .advertiser_id("adv-1")
        .adomain("brand.example")
        .status(CampaignStatus::Active)
        .bid_cpm_micros(2_500_000)
        .currency(Currency::USD)
        .budget(Budget {
            total_micros: Some(1_000_000_000),
            daily_micros: Some(50_000_000),
            spend_on: SpendOn::Win,
        })
        // 2026-07-01T09:00:00+09:00 is midnight UTC.
        .flight_unix_s(Some(1_767_225_600), Some(1_782_864_000))
        .pacing(Pacing::Asap)
        .frequency_cap(3, 86_400)
        .targeting(Targeting {
            countries: vec![country("USA"), country("CAN")],
            regions: strings(&["CA", "NY"]),
            device_types: vec![4, 5],
            os: strings(&["ios", "android"]),
            domains: IncludeExclude {
                include: strings(&["news.example.com", "www.foobar.com"]),
                exclude: strings(&["bad.news.example.com"]),
            },
            bundles: IncludeExclude {
                include: vec![],
                exclude: strings(&["com.example.game"]),
            },
            categories: IncludeExclude {
                include: strings(&["IAB2", "IAB3-1"]),
                exclude: vec![],
            },
            segments: IncludeExclude {
                include: vec![],
                exclude: strings(&["churned-users"]),
            },
            // Monday (bit 0), Friday (bit 4), Sunday (bit 6).
            dayparts: vec![Daypart {
                days: 0b101_0001,
                start_hour: 6,
                end_hour: 22,
            }],
        })
        .creatives(vec![
            CreativeBuilder::banner("cr-banner", 300, 250)
                .markup("<a href=\"https://brand.example/\"><img src=\"https://cdn.brand.example/a.png\" width=\"300\" height=\"250\"></a>")
                .mimes(&[])
                .duration_s(0)
                .categories(&["IAB2-1"])
                .attributes(&[2])
                .landing_page("https://brand.example/spring")
                .secure(true)
                .build(),
            CreativeBuilder::video("cr-video", 640, 360)
                .markup("<VAST version=\"4.2\"></VAST>")
                .mimes(&["video/mp4"])
                .duration_s(15)
                .categories(&[])
                .attributes(&[])
                .landing_page("http://brand.example/video")
                .secure(false)
                .build(),
        ])
        .build();
    // Every optional field left out: the defaults an operator gets.
    let minimal = CampaignBuilder::new("cmp-minimal")
        .advertiser_id("adv-2")
        .adomain("other.example")
        .status(CampaignStatus::Active)
        .bid_cpm_micros(1)
        .currency(Currency::USD)
        .budget(Budget {
            total_micros: None,
            daily_micros: None,
            spend_on: SpendOn::Impression,
        })
        .flight_unix_s(None, None)
        .pacing(Pacing::Even)
        .targeting(Targeting::default())
        .creatives(vec![CreativeBuilder::native("n")
            .size(0, 0)
            .markup("{\"assets\": []}")
            .mimes(&[])
            .duration_s(0)
            .categories(&[])
            .attributes(&[])
            .landing_page("https://other.example")
            .secure(false)
            .build()])
        .build();
    CampaignData {
        advertisers: vec![
            Advertiser {
                id: "adv-1".into(),
                name: "Example Brand".into(),
            },
            Advertiser {
                id: "adv-2".into(),
                name: "Other Brand".into(),
            },
        ],
        campaigns: vec![spring, minimal],
    }
}

#[test]
fn two_files_merge_into_the_normalised_model() {
    let loaded = load_files(&[fixture("advertisers.json"), fixture("spring.json")]);
    assert_eq!(loaded, Ok(expected()));
}

#[test]
fn no_files_is_empty_data() {
    assert_eq!(load_files(&[]), Ok(CampaignData::default()));
}

#[test]
fn advertisers_and_campaigns_are_both_optional_in_a_file() {
    assert_eq!(
        parse_str("{}", Path::new("empty.json")),
        Ok(CampaignData::default())
    );
    assert_eq!(
        parse_str(
            r#"{"advertisers": [{"id": "a", "name": "A"}], "campaigns": []}"#,
            Path::new("a.json")
        )
        .map(|data| data.advertisers.len()),
        Ok(1)
    );
}

#[test]
fn a_campaign_without_its_advertiser_file_is_refused() {
    let error = load_files(&[fixture("spring.json")]).expect_err("advertisers missing");
    let fields: Vec<_> = error
        .issues
        .iter()
        .map(|issue| (issue.campaign_id.as_deref(), issue.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            (Some("cmp-spring"), "advertiser"),
            (Some("cmp-minimal"), "advertiser")
        ]
    );
}
