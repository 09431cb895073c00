//! What the targeting index matches, dimension by dimension, as a table: each row is a bid
//! request (JSON, parsed by `openrtb::parse_bid_request` as a shard parses it), the campaigns
//! in bid order, the hour of the week, and the ids the index must yield, in order. The rows
//! pin the semantics documented on `campaign::Targeting` and `targeting`: absent request
//! fields fail include lists and pass exclude lists, parent domains and parent categories
//! match, dayparts, paused campaigns, and creative fit (sizes, flexible sizes, MIME types,
//! durations, formats).

use std::ops::ControlFlow;

use adshard::adrequest::CountryCode;
use adshard::campaign::{Campaign, CampaignStatus, CreativeFormat, Daypart};
use adshard::targeting::{creative_fits, HourOfWeek, IndexScratch, TargetingIndex};
use adshard_testkit::targeting::{
    banner, base_request, campaign, edit, matching_ids, native, native_request_string, parse,
    strings, targeted, timed,
};
use serde_json::{json, Value};

struct Row {
    name: &'static str,
    request: Value,
    hour: HourOfWeek,
    campaigns: Vec<Campaign>,
    expected: Vec<&'static str>,
}

fn monday_at(hour: u8) -> HourOfWeek {
    HourOfWeek::new(0, hour).unwrap()
}

fn row(
    name: &'static str,
    request: Value,
    campaigns: Vec<Campaign>,
    expected: &[&'static str],
) -> Row {
    Row {
        name,
        request,
        hour: monday_at(10),
        campaigns,
        expected: expected.to_vec(),
    }
}

fn country(code: &str) -> CountryCode {
    CountryCode::parse(code).unwrap()
}

fn with_creatives(id: &str, creatives: Vec<adshard::campaign::Creative>) -> Campaign {
    let mut campaign = campaign(id);
    campaign.creatives = creatives;
    campaign
}

fn daypart(days: u8, start_hour: u8, end_hour: u8) -> Daypart {
    Daypart {
        days,
        start_hour,
        end_hour,
    }
}

fn geo_rows() -> Vec<Row> {
    let base = base_request();
    let country_campaigns = || {
        vec![
            targeted("usa", |t| t.countries = vec![country("USA")]),
            targeted("can", |t| t.countries = vec![country("CAN")]),
            targeted("can-or-usa", |t| {
                t.countries = vec![country("CAN"), country("USA")]
            }),
            campaign("anywhere"),
        ]
    };
    let region_campaigns = || {
        vec![
            targeted("ca", |t| t.regions = strings(&["CA"])),
            targeted("ny", |t| t.regions = strings(&["NY"])),
            campaign("anywhere"),
        ]
    };
    vec![
        row(
            "country include",
            base.clone(),
            country_campaigns(),
            &["usa", "can-or-usa", "anywhere"],
        ),
        row(
            "country absent fails includes",
            edit(&base, &[("/device/geo/country", None)]),
            country_campaigns(),
            &["anywhere"],
        ),
        row(
            "alpha-2 country counts as absent",
            edit(&base, &[("/device/geo/country", Some(json!("US")))]),
            country_campaigns(),
            &["anywhere"],
        ),
        row(
            "country from user.geo without device.geo",
            edit(
                &base,
                &[
                    ("/device/geo", None),
                    ("/user/geo", Some(json!({"country": "can"}))),
                ],
            ),
            country_campaigns(),
            &["can", "can-or-usa", "anywhere"],
        ),
        row(
            "region include, any case",
            edit(&base, &[("/device/geo/region", Some(json!("ca")))]),
            region_campaigns(),
            &["ca", "anywhere"],
        ),
        row(
            "region absent fails includes",
            edit(&base, &[("/device/geo/region", None)]),
            region_campaigns(),
            &["anywhere"],
        ),
    ]
}

fn device_rows() -> Vec<Row> {
    let base = base_request();
    let device_campaigns = || {
        vec![
            targeted("phone", |t| t.device_types = vec![4]),
            targeted("pc-or-tv", |t| t.device_types = vec![2, 3]),
            campaign("any-device"),
        ]
    };
    let os_campaigns = || {
        vec![
            targeted("ios", |t| t.os = strings(&["ios"])),
            targeted("android", |t| t.os = strings(&["android"])),
            targeted("both", |t| t.os = strings(&["android", "ios"])),
            campaign("any-os"),
        ]
    };
    vec![
        row(
            "device type include",
            base.clone(),
            device_campaigns(),
            &["phone", "any-device"],
        ),
        row(
            "device type absent fails includes",
            edit(&base, &[("/device/devicetype", None)]),
            device_campaigns(),
            &["any-device"],
        ),
        row(
            "device type 0 counts as absent",
            edit(&base, &[("/device/devicetype", Some(json!(0)))]),
            device_campaigns(),
            &["any-device"],
        ),
        row(
            "os include, any case",
            base.clone(),
            os_campaigns(),
            &["ios", "both", "any-os"],
        ),
        row(
            "os absent fails includes",
            edit(&base, &[("/device/os", None)]),
            os_campaigns(),
            &["any-os"],
        ),
        row(
            "no device at all",
            edit(&base, &[("/device", None)]),
            device_campaigns(),
            &["any-device"],
        ),
    ]
}

fn domain_rows() -> Vec<Row> {
    let base = base_request();
    let include =
        |id: &str, domains: &[&str]| targeted(id, |t| t.domains.include = strings(domains));
    let exclude =
        |id: &str, domains: &[&str]| targeted(id, |t| t.domains.exclude = strings(domains));
    let app = json!({"id": "app-1", "bundle": "com.game.app", "name": "Game"});
    let bundle_campaigns = || {
        vec![
            targeted("game", |t| t.bundles.include = strings(&["com.game.app"])),
            targeted("game-prefix", |t| {
                t.bundles.include = strings(&["com.game"])
            }),
            targeted("not-game", |t| {
                t.bundles.exclude = strings(&["com.game.app"])
            }),
            targeted("not-other", |t| t.bundles.exclude = strings(&["com.other"])),
            campaign("any-bundle"),
        ]
    };
    vec![
        row(
            "domain include: the domain and its parents, at dots only",
            base.clone(),
            vec![
                include("exact", &["news.example.com"]),
                include("parent", &["example.com"]),
                include("tld", &["com"]),
                include("sibling", &["sports.example.com"]),
                include("not-at-dot", &["ample.com"]),
                include("child", &["www.news.example.com"]),
                include("one-of-many", &["other.org", "example.com"]),
                campaign("any-domain"),
            ],
            &["exact", "parent", "tld", "one-of-many", "any-domain"],
        ),
        row(
            "domain include, any case",
            edit(&base, &[("/site/domain", Some(json!("News.EXAMPLE.com")))]),
            vec![include("parent", &["example.com"])],
            &["parent"],
        ),
        row(
            "domain exclude: the domain and its parents",
            base.clone(),
            vec![
                exclude("not-parent", &["example.com"]),
                exclude("not-exact", &["news.example.com"]),
                exclude("not-other", &["other.com"]),
                exclude("not-child", &["www.news.example.com"]),
                targeted("in-but-not", |t| {
                    t.domains.include = strings(&["example.com"]);
                    t.domains.exclude = strings(&["news.example.com"]);
                }),
            ],
            &["not-other", "not-child"],
        ),
        row(
            "domain from the page's host when site.domain is absent",
            edit(
                &base,
                &[
                    ("/site/domain", None),
                    (
                        "/site/page",
                        Some(json!("https://Shop.Example.com:8443/cart?x=1")),
                    ),
                ],
            ),
            vec![
                include("parent", &["example.com"]),
                exclude("not-shop", &["shop.example.com"]),
            ],
            &["parent"],
        ),
        row(
            "domain absent: includes fail, excludes pass",
            edit(&base, &[("/site", None), ("/app", Some(app.clone()))]),
            vec![
                include("parent", &["example.com"]),
                exclude("not-parent", &["example.com"]),
                campaign("any-domain"),
            ],
            &["not-parent", "any-domain"],
        ),
        row(
            "bundle include and exclude match exactly",
            edit(&base, &[("/site", None), ("/app", Some(app.clone()))]),
            bundle_campaigns(),
            &["game", "not-other", "any-bundle"],
        ),
        row(
            "bundle, any case",
            edit(
                &base,
                &[
                    ("/site", None),
                    ("/app", Some(json!({"id": "a", "bundle": "COM.Game.App"}))),
                ],
            ),
            bundle_campaigns(),
            &["game", "not-other", "any-bundle"],
        ),
        row(
            "bundle absent on a site: includes fail, excludes pass",
            base.clone(),
            bundle_campaigns(),
            &["not-game", "not-other", "any-bundle"],
        ),
        row(
            "app domain matches domain targeting",
            edit(
                &base,
                &[
                    ("/site", None),
                    (
                        "/app",
                        Some(json!({"id": "a", "bundle": "b", "domain": "game.example.com"})),
                    ),
                ],
            ),
            vec![
                include("parent", &["example.com"]),
                exclude("not-parent", &["example.com"]),
            ],
            &["parent"],
        ),
    ]
}

fn category_and_segment_rows() -> Vec<Row> {
    let base = base_request();
    let category_campaigns = || {
        vec![
            targeted("parent", |t| t.categories.include = strings(&["iab3"])),
            targeted("exact", |t| t.categories.include = strings(&["iab3-1"])),
            targeted("sibling", |t| t.categories.include = strings(&["iab3-2"])),
            targeted("other", |t| t.categories.include = strings(&["iab1"])),
            targeted("not-parent", |t| t.categories.exclude = strings(&["iab3"])),
            targeted("not-other", |t| t.categories.exclude = strings(&["iab1"])),
            campaign("any-category"),
        ]
    };
    let segment_campaigns = || {
        vec![
            targeted("b", |t| t.segments.include = strings(&["seg-b"])),
            targeted("c", |t| t.segments.include = strings(&["seg-c"])),
            targeted("c-or-a", |t| {
                t.segments.include = strings(&["seg-c", "seg-a"])
            }),
            targeted("not-a", |t| t.segments.exclude = strings(&["seg-a"])),
            targeted("not-c", |t| t.segments.exclude = strings(&["seg-c"])),
            campaign("any-segment"),
        ]
    };
    vec![
        row(
            "category include matches the category and its parent",
            base.clone(),
            category_campaigns(),
            &["parent", "exact", "not-other", "any-category"],
        ),
        row(
            "a parent category does not match its children",
            edit(&base, &[("/site/cat", Some(json!(["IAB3"])))]),
            category_campaigns(),
            &["parent", "not-other", "any-category"],
        ),
        row(
            "sectioncat and pagecat count as context categories",
            edit(
                &base,
                &[
                    ("/site/cat", None),
                    ("/site/sectioncat", Some(json!(["IAB1-5"]))),
                    ("/site/pagecat", Some(json!(["IAB3-1"]))),
                ],
            ),
            category_campaigns(),
            &["parent", "exact", "other", "any-category"],
        ),
        row(
            "categories absent: includes fail, excludes pass",
            edit(&base, &[("/site/cat", None)]),
            category_campaigns(),
            &["not-parent", "not-other", "any-category"],
        ),
        row(
            "segments: any of the user's segments",
            edit(
                &base,
                &[(
                    "/user/data",
                    Some(json!([
                        {"id": "dp1", "segment": [{"id": "seg-a"}]},
                        {"id": "dp2", "segment": [{"id": "SEG-B"}]}
                    ])),
                )],
            ),
            segment_campaigns(),
            &["b", "c-or-a", "not-c", "any-segment"],
        ),
        row(
            "segments absent: includes fail, excludes pass",
            edit(&base, &[("/user", None)]),
            segment_campaigns(),
            &["not-a", "not-c", "any-segment"],
        ),
    ]
}

fn daypart_rows() -> Vec<Row> {
    const MONDAY: u8 = 1;
    const TUESDAY: u8 = 1 << 1;
    const WEEKEND: u8 = 1 << 5 | 1 << 6;
    const SUNDAY: u8 = 1 << 6;
    let campaigns = || {
        vec![
            targeted("mon-9-11", |t| t.dayparts = vec![daypart(MONDAY, 9, 11)]),
            targeted("mon-11-12", |t| t.dayparts = vec![daypart(MONDAY, 11, 12)]),
            targeted("tue-9-11", |t| t.dayparts = vec![daypart(TUESDAY, 9, 11)]),
            targeted("weekend", |t| t.dayparts = vec![daypart(WEEKEND, 0, 24)]),
            targeted("sun-evening-or-mon-10", |t| {
                t.dayparts = vec![daypart(SUNDAY, 18, 24), daypart(MONDAY, 10, 11)]
            }),
            targeted("empty-window", |t| t.dayparts = vec![daypart(0x7f, 10, 10)]),
            campaign("always"),
        ]
    };
    let at = |name, hour, expected: &[&'static str]| Row {
        hour,
        ..row(name, base_request(), campaigns(), expected)
    };
    vec![
        at(
            "daypart, monday 10:00",
            monday_at(10),
            &["mon-9-11", "sun-evening-or-mon-10", "always"],
        ),
        at(
            "daypart end is exclusive, monday 11:00",
            monday_at(11),
            &["mon-11-12", "always"],
        ),
        at(
            "daypart to 24 covers the last hour, sunday 23:00",
            HourOfWeek::new(6, 23).unwrap(),
            &["weekend", "sun-evening-or-mon-10", "always"],
        ),
        at(
            "daypart from the clock, 2024-01-02 (a tuesday) 09:59:59 UTC",
            HourOfWeek::from_unix_s(1_704_189_599),
            &["tue-9-11", "always"],
        ),
    ]
}

fn status_and_order_rows() -> Vec<Row> {
    let mut paused = campaign("paused");
    paused.status = CampaignStatus::Paused;
    vec![
        row(
            "paused campaigns never match",
            base_request(),
            vec![campaign("first"), paused, campaign("last")],
            &["first", "last"],
        ),
        row(
            "matches come in the order of the slice (bid order)",
            base_request(),
            (0..150).map(|i| campaign(&format!("c{i:03}"))).collect(),
            &(0..150)
                .map(|i| &*format!("c{i:03}").leak())
                .collect::<Vec<&'static str>>(),
        ),
        row("no campaigns", base_request(), Vec::new(), &[]),
        row(
            "every dimension at once",
            edit(
                &base_request(),
                &[("/site/domain", Some(json!("www.example.com")))],
            ),
            vec![
                targeted("all-match", |t| {
                    t.countries = vec![country("USA")];
                    t.regions = strings(&["CA"]);
                    t.device_types = vec![4];
                    t.os = strings(&["ios"]);
                    t.domains.include = strings(&["example.com"]);
                    t.domains.exclude = strings(&["ads.example.com"]);
                    t.bundles.exclude = strings(&["com.game"]);
                    t.categories.include = strings(&["iab3"]);
                    t.segments.include = strings(&["seg-a"]);
                    t.dayparts = vec![daypart(1, 0, 24)];
                }),
                targeted("one-off", |t| {
                    t.countries = vec![country("USA")];
                    t.regions = strings(&["CA"]);
                    t.device_types = vec![4];
                    t.os = strings(&["ios"]);
                    t.domains.include = strings(&["example.com"]);
                    t.categories.include = strings(&["iab3"]);
                    t.segments.include = strings(&["seg-a"]);
                    t.dayparts = vec![daypart(2, 0, 24)];
                }),
            ],
            &["all-match"],
        ),
    ]
}

fn creative_rows() -> Vec<Row> {
    let base = base_request();
    let sizes = || {
        vec![
            with_creatives("728x90", vec![banner(728, 90)]),
            with_creatives("300x250", vec![banner(300, 250)]),
            with_creatives("320x50", vec![banner(320, 50)]),
            with_creatives("none", Vec::new()),
            with_creatives("320x50-and-728x90", vec![banner(320, 50), banner(728, 90)]),
            with_creatives(
                "video",
                vec![timed(CreativeFormat::Video, &["video/mp4"], 15)],
            ),
            with_creatives("native", vec![native()]),
        ]
    };
    let flex = || {
        vec![
            with_creatives("600x500", vec![banner(600, 500)]),
            with_creatives("300x250", vec![banner(300, 250)]),
            with_creatives("240x200", vec![banner(240, 200)]),
            with_creatives("300x251", vec![banner(300, 251)]),
            with_creatives("728x90", vec![banner(728, 90)]),
        ]
    };
    let videos = || {
        vec![
            with_creatives(
                "mp4-15s",
                vec![timed(CreativeFormat::Video, &["video/mp4"], 15)],
            ),
            with_creatives(
                "MP4-15s",
                vec![timed(CreativeFormat::Video, &["VIDEO/MP4"], 15)],
            ),
            with_creatives(
                "webm-15s",
                vec![timed(CreativeFormat::Video, &["video/webm"], 15)],
            ),
            with_creatives(
                "webm-or-mp4-30s",
                vec![timed(
                    CreativeFormat::Video,
                    &["video/webm", "video/mp4"],
                    30,
                )],
            ),
            with_creatives(
                "mp4-60s",
                vec![timed(CreativeFormat::Video, &["video/mp4"], 60)],
            ),
            with_creatives(
                "mp4-3s",
                vec![timed(CreativeFormat::Video, &["video/mp4"], 3)],
            ),
            with_creatives(
                "audio-mp4",
                vec![timed(CreativeFormat::Audio, &["video/mp4"], 15)],
            ),
            with_creatives("300x250", vec![banner(300, 250)]),
        ]
    };
    let video_imp = json!([{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30}}]);
    vec![
        row(
            "banner sizes: w x h and each format",
            edit(
                &base,
                &[("/imp/0/banner/format", Some(json!([{"w": 728, "h": 90}])))],
            ),
            sizes(),
            &["728x90", "300x250", "320x50-and-728x90"],
        ),
        row(
            "flexible size: minimum width and aspect ratio",
            edit(
                &base,
                &[(
                    "/imp/0/banner",
                    Some(json!({"format": [{"wmin": 300, "wratio": 6, "hratio": 5}]})),
                )],
            ),
            flex(),
            &["600x500", "300x250"],
        ),
        row(
            "fixed and flexible sizes together",
            edit(
                &base,
                &[(
                    "/imp/0/banner",
                    Some(
                        json!({"format": [{"w": 728, "h": 90}, {"wmin": 300, "wratio": 6, "hratio": 5}]}),
                    ),
                )],
            ),
            flex(),
            &["600x500", "300x250", "728x90"],
        ),
        row(
            "video: MIME type in any case, duration within bounds",
            edit(&base, &[("/imp", Some(video_imp.clone()))]),
            videos(),
            &["mp4-15s", "MP4-15s", "webm-or-mp4-30s"],
        ),
        row(
            "video: request MIME type in any case",
            edit(
                &base,
                &[(
                    "/imp",
                    Some(json!([{"id": "1", "video": {"mimes": ["Video/MP4"]}}])),
                )],
            ),
            videos(),
            &["mp4-15s", "MP4-15s", "webm-or-mp4-30s", "mp4-60s", "mp4-3s"],
        ),
        row(
            "video: zero max duration means no bound",
            edit(
                &base,
                &[(
                    "/imp",
                    Some(
                        json!([{"id": "1", "video": {"mimes": ["video/mp4"], "minduration": 10, "maxduration": 0}}]),
                    ),
                )],
            ),
            videos(),
            &["mp4-15s", "MP4-15s", "webm-or-mp4-30s", "mp4-60s"],
        ),
        row(
            "audio: audio creatives only",
            edit(
                &base,
                &[(
                    "/imp",
                    Some(
                        json!([{"id": "1", "audio": {"mimes": ["video/mp4"], "maxduration": 20}}]),
                    ),
                )],
            ),
            videos(),
            &["audio-mp4"],
        ),
        row(
            "native: native creatives only",
            edit(
                &base,
                &[(
                    "/imp",
                    Some(json!([{"id": "1", "native": {"request": native_request_string()}}])),
                )],
            ),
            sizes(),
            &["native"],
        ),
        row(
            "banner and video in one impression",
            edit(
                &base,
                &[("/imp/0/video", Some(json!({"mimes": ["video/mp4"]})))],
            ),
            sizes(),
            &["300x250", "video"],
        ),
    ]
}

#[test]
fn index_matches_the_table() {
    let rows: Vec<Row> = [
        geo_rows(),
        device_rows(),
        domain_rows(),
        category_and_segment_rows(),
        daypart_rows(),
        status_and_order_rows(),
        creative_rows(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut failures = Vec::new();
    for row in &rows {
        let request = parse(&row.request);
        let index = TargetingIndex::build(&row.campaigns);
        let found = matching_ids(&index, &row.campaigns, &request, 0, row.hour);
        if found != row.expected {
            failures.push(format!(
                "{}:\n  expected {:?}\n  found    {:?}",
                row.name, row.expected, found
            ));
        }
        // The auction chooses creatives with `creative_fits`: every match has one that fits.
        let imp = request.imps()[0];
        for id in &found {
            let campaign = row.campaigns.iter().find(|c| &c.id == id).unwrap();
            assert!(
                campaign
                    .creatives
                    .iter()
                    .any(|creative| creative_fits(creative, &request, &imp)),
                "{}: {id} matched without a fitting creative",
                row.name
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn creative_fits_follows_the_rules() {
    let request = parse(&edit(
        &base_request(),
        &[(
            "/imp",
            Some(json!([
                {"id": "1", "banner": {"w": 300, "h": 250, "format": [{"wmin": 320, "wratio": 32, "hratio": 5}]}},
                {"id": "2", "video": {"mimes": ["video/mp4"], "minduration": 5, "maxduration": 30}},
                {"id": "3", "audio": {"mimes": ["audio/mpeg"]}},
                {"id": "4", "native": {"request": native_request_string()}}
            ])),
        )],
    ));
    let imps = request.imps();
    let cases = [
        (banner(300, 250), [true, false, false, false]),
        (banner(640, 100), [true, false, false, false]),
        (banner(300, 50), [false, false, false, false]), // narrower than wmin
        (banner(0, 0), [false, false, false, false]),
        (
            timed(CreativeFormat::Video, &["video/MP4"], 30),
            [false, true, false, false],
        ),
        (
            timed(CreativeFormat::Video, &["video/mp4"], 31),
            [false, false, false, false],
        ),
        (
            timed(CreativeFormat::Video, &[], 10),
            [false, false, false, false],
        ),
        (
            timed(CreativeFormat::Audio, &["audio/mpeg"], 300),
            [false, false, true, false],
        ),
        (native(), [false, false, false, true]),
    ];
    for (creative, expected) in cases {
        for (imp, expected) in imps.iter().zip(expected) {
            assert_eq!(
                creative_fits(&creative, &request, imp),
                expected,
                "{} on imp {}",
                creative.id,
                request.text(imp.id)
            );
        }
    }
}

#[test]
fn one_lookup_serves_every_impression() {
    let request = parse(&edit(
        &base_request(),
        &[(
            "/imp",
            Some(json!([
                {"id": "1", "banner": {"w": 728, "h": 90}},
                {"id": "2", "banner": {"w": 300, "h": 250}},
                {"id": "3", "video": {"mimes": ["video/mp4"]}}
            ])),
        )],
    ));
    let campaigns = vec![
        with_creatives("leaderboard", vec![banner(728, 90)]),
        targeted("usa-rectangle", |t| t.countries = vec![country("USA")]),
        targeted("can-rectangle", |t| t.countries = vec![country("CAN")]),
        with_creatives(
            "video",
            vec![timed(CreativeFormat::Video, &["video/mp4"], 15)],
        ),
    ];
    let index = TargetingIndex::build(&campaigns);
    let mut scratch = IndexScratch::new();
    let mut lookup = index.lookup(&request, monday_at(10), &mut scratch);
    let per_imp: Vec<Vec<u32>> = request
        .imps()
        .iter()
        .map(|imp| {
            let mut found = Vec::new();
            let _ = lookup.visit_matches(imp, usize::MAX, |campaign_idx| {
                found.push(campaign_idx);
                ControlFlow::<()>::Continue(())
            });
            found
        })
        .collect();
    assert_eq!(per_imp, vec![vec![0], vec![1], vec![3]]);
}

#[test]
fn visitor_break_and_rank_end_stop_the_sweep() {
    let campaigns: Vec<Campaign> = (0..500).map(|i| campaign(&format!("c{i}"))).collect();
    let index = TargetingIndex::build(&campaigns);
    let request = parse(&base_request());
    let imp = request.imps()[0];
    let mut scratch = IndexScratch::new();
    let mut lookup = index.lookup(&request, monday_at(10), &mut scratch);

    let mut seen = Vec::new();
    let stopped = lookup.visit_matches(&imp, usize::MAX, |campaign_idx| {
        seen.push(campaign_idx);
        if seen.len() == 2 {
            ControlFlow::Break(campaign_idx)
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(stopped, ControlFlow::Break(1));
    assert_eq!(seen, vec![0, 1]);

    let mut below_floor = 0;
    let _ = lookup.visit_matches(&imp, 130, |campaign_idx| {
        assert!(campaign_idx < 130);
        below_floor += 1;
        ControlFlow::<()>::Continue(())
    });
    assert_eq!(below_floor, 130);
}

#[test]
fn paused_campaigns_can_be_paused_and_resumed_without_a_rebuild() {
    let mut paused = campaign("b");
    paused.status = CampaignStatus::Paused;
    let campaigns = vec![campaign("a"), paused, campaign("c")];
    let mut index = TargetingIndex::build(&campaigns);
    let request = parse(&base_request());
    let ids = |index: &TargetingIndex| matching_ids(index, &campaigns, &request, 0, monday_at(10));
    assert_eq!(index.n_paused(), 1);
    assert_eq!(ids(&index), ["a", "c"]);
    assert!(index.set_paused(1, false));
    assert!(index.set_paused(0, true));
    assert_eq!(ids(&index), ["b", "c"]);
    assert!(index.set_paused(0, false));
    assert_eq!(index.n_paused(), 0);
    assert_eq!(ids(&index), ["a", "b", "c"]);
    assert!(!index.set_paused(3, true));
}

#[test]
fn for_each_match_reads_the_hour_from_unix_time() {
    let campaigns = vec![
        targeted("tuesday-9", |t| t.dayparts = vec![daypart(1 << 1, 9, 10)]),
        campaign("always"),
    ];
    let index = TargetingIndex::build(&campaigns);
    let request = parse(&base_request());
    let imp = request.imps()[0];
    let mut scratch = IndexScratch::new();
    let tuesday_9_30 = 1_704_187_800; // 2024-01-02T09:30:00Z
    for (now_unix_s, expected) in [(tuesday_9_30, vec![0, 1]), (tuesday_9_30 + 3600, vec![1])] {
        let mut found = Vec::new();
        index.for_each_match(&request, &imp, now_unix_s, &mut scratch, |campaign_idx| {
            found.push(campaign_idx);
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(found, expected, "at {now_unix_s}");
    }
}
