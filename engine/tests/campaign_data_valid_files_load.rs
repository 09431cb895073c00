//! Valid data files load into exactly the model we expect: two files merged (advertisers in
//! one, campaigns in the other), defaults filled in, matched text normalised, lists
//! deduplicated, times converted to Unix seconds. If this drifts, targeting drifts with it.

use std::path::{Path, PathBuf};

use adshard::adrequest::CountryCode;
use adshard::campaign::data::{load_files, parse_str};
use adshard::campaign::{
    Advertiser, Budget, Campaign, CampaignData, CampaignStatus, Creative, CreativeFormat, Daypart,
    FrequencyCap, IncludeExclude, Pacing, SpendOn, Targeting,
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
    let spring = Campaign {
        id: "cmp-spring".into(),
        advertiser_id: "adv-1".into(),
        adomain: "brand.example".into(),
        status: CampaignStatus::Active,
        bid_cpm_micros: 2_500_000,
        currency: Currency::USD,
        budget: Budget {
            total_micros: Some(1_000_000_000),
            daily_micros: Some(50_000_000),
            spend_on: SpendOn::Win,
        },
        start_unix_s: Some(1_767_225_600),
        // 2026-07-01T09:00:00+09:00 is midnight UTC.
        end_unix_s: Some(1_782_864_000),
        pacing: Pacing::Asap,
        frequency_caps: vec![FrequencyCap {
            max: 3,
            window_s: 86_400,
        }],
        targeting: Targeting {
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
        },
        creatives: vec![
            Creative {
                id: "cr-banner".into(),
                format: CreativeFormat::Banner,
                w: 300,
                h: 250,
                markup: "<a href=\"https://brand.example/\"><img src=\"https://cdn.brand.example/a.png\" width=\"300\" height=\"250\"></a>".into(),
                mimes: vec![],
                duration_s: 0,
                categories: strings(&["IAB2-1"]),
                attributes: vec![2],
                landing_page: "https://brand.example/spring".into(),
                secure: true,
            },
            Creative {
                id: "cr-video".into(),
                format: CreativeFormat::Video,
                w: 640,
                h: 360,
                markup: "<VAST version=\"4.2\"></VAST>".into(),
                mimes: strings(&["video/mp4"]),
                duration_s: 15,
                categories: vec![],
                attributes: vec![],
                landing_page: "http://brand.example/video".into(),
                secure: false,
            },
        ],
    };
    // Every optional field left out: the defaults an operator gets.
    let minimal = Campaign {
        id: "cmp-minimal".into(),
        advertiser_id: "adv-2".into(),
        adomain: "other.example".into(),
        status: CampaignStatus::Active,
        bid_cpm_micros: 1,
        currency: Currency::USD,
        budget: Budget {
            total_micros: None,
            daily_micros: None,
            spend_on: SpendOn::Impression,
        },
        start_unix_s: None,
        end_unix_s: None,
        pacing: Pacing::Even,
        frequency_caps: vec![],
        targeting: Targeting::default(),
        creatives: vec![Creative {
            id: "n".into(),
            format: CreativeFormat::Native,
            w: 0,
            h: 0,
            markup: "{\"assets\": []}".into(),
            mimes: vec![],
            duration_s: 0,
            categories: vec![],
            attributes: vec![],
            landing_page: "https://other.example".into(),
            secure: false,
        }],
    };
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
