//! The conversion from wire types into `AdRequest`: money in micro-units, sizes, per-impression
//! lists, context, device, the routing key, and reuse of one `AdRequest` across requests.

use adshard::openrtb::{micros_from_f64, parse_bid_request};

use adshard::adrequest::{
    AdRequest, AuctionType, ContextKind, FlexSize, MediaKinds, Size, UserKeySource,
};

use adshard::currency::Currency;
use adshard_testkit::openrtb::{banner_request, edited, fixture, FIXTURES};
use serde_json::{json, Value};

fn parsed(body: &[u8]) -> AdRequest {
    let mut out = AdRequest::default();
    if let Err(error) = parse_bid_request(body, &mut out) {
        panic!("rejected: {error}");
    }
    out
}

fn with(edits: &[(&str, Option<Value>)]) -> AdRequest {
    parsed(&edited(&banner_request(), edits))
}

fn set(pointer: &str, value: Value) -> (&str, Option<Value>) {
    (pointer, Some(value))
}

#[test]
fn micros_round_half_away_from_zero_on_the_decimal_sent() {
    let rows: [(f64, Option<i64>); 18] = [
        (0.0, Some(0)),
        (0.03, Some(30_000)),
        (0.85, Some(850_000)),
        (2.0, Some(2_000_000)),
        (2.5, Some(2_500_000)),
        (0.000_000_4, Some(0)),
        (0.000_000_5, Some(1)),
        (1e-9, Some(0)),
        // Stored as 1.00000049999999998..., yet the client wrote a half micro.
        (1.000_000_5, Some(1_000_001)),
        (1.000_000_499, Some(1_000_000)),
        (0.1 + 0.2, Some(300_000)),
        (1_234.567_891_5, Some(1_234_567_892)),
        (-1.000_000_5, Some(-1_000_001)),
        (-0.000_000_5, Some(-1)),
        (999_999.999_999_5, Some(1_000_000_000_000)),
        (f64::NAN, None),
        (f64::INFINITY, None),
        (1e13, None),
    ];
    for (amount, expected) in rows {
        assert_eq!(micros_from_f64(amount), expected, "{amount}");
    }
}

#[test]
fn bidfloor_is_converted_to_micros_with_its_currency() {
    let request = with(&[
        set("/imp/0/bidfloor", json!(1.000_000_5)),
        set("/imp/0/bidfloorcur", json!("eur")),
    ]);
    let imp = request.imps()[0];
    assert_eq!(imp.bidfloor_micros, 1_000_001);
    assert_eq!(imp.bidfloor_currency.as_str(), "EUR");

    let default = with(&[]).imps()[0];
    assert_eq!(
        (default.bidfloor_micros, default.bidfloor_currency),
        (0, Currency::USD)
    );
    let integer = with(&[set("/imp/0/bidfloor", json!(3))]).imps()[0];
    assert_eq!(integer.bidfloor_micros, 3_000_000);
}

#[test]
fn sizes_come_from_w_h_then_fixed_formats_without_repeats() {
    let request = with(&[set(
        "/imp/0/banner",
        json!({"w": 728, "h": 90, "format": [
            {"w": 728, "h": 90}, {"w": 970, "h": 250}, {"wmin": 300, "wratio": 16, "hratio": 9}, {"w": 970, "h": 250}
        ]}),
    )]);
    let imp = request.imps()[0];
    assert_eq!(
        request.sizes(imp.sizes),
        [Size { w: 728, h: 90 }, Size { w: 970, h: 250 }]
    );
    assert_eq!(
        request.flex_sizes(imp.flex_sizes),
        [FlexSize {
            wmin: 300,
            wratio: 16,
            hratio: 9
        }]
    );

    let interstitial = with(&[
        set("/imp/0/instl", json!(1)),
        set("/imp/0/banner", json!({"w": 0, "h": 0})),
    ]);
    let imp = interstitial.imps()[0];
    assert!(imp.interstitial && imp.sizes.is_empty() && imp.media.contains(MediaKinds::BANNER));
}

#[test]
fn impressions_keep_their_own_lists() {
    let request = parsed(&fixture("multi-imp-site.json"));
    let imps = request.imps();
    assert_eq!(imps.len(), 5);
    let ids: Vec<&str> = imps.iter().map(|imp| request.text(imp.id)).collect();
    assert_eq!(ids, ["top", "sidebar", "inline", "outstream", "footer"]);
    assert_eq!(request.sizes(imps[1].sizes).len(), 3);
    assert_eq!(request.sizes(imps[2].sizes), [Size { w: 300, h: 250 }]);
    assert_eq!(request.flex_sizes(imps[2].flex_sizes).len(), 1);
    assert_eq!(request.codes(imps[0].battr), [1, 3]);
    assert_eq!(request.codes(imps[3].battr), [14]);
    assert_eq!(imps[3].media, MediaKinds::VIDEO);
    let video = imps[3].video.expect("video spec");
    assert_eq!(
        (video.minduration_s, video.maxduration_s, video.w, video.h),
        (6, 30, 640, 360)
    );
    assert_eq!(request.codes(video.protocols), [2, 3, 5, 6]);
    assert_eq!(
        request.texts(video.mimes).collect::<Vec<_>>(),
        ["video/mp4"]
    );
    assert_eq!(imps[3].bidfloor_micros, 3_000_000);
    let footer = imps[4];
    assert!(footer.private_auction);
    assert_eq!(
        request.texts(footer.deal_ids).collect::<Vec<_>>(),
        ["PG-2024-001", "PMP-open-17"]
    );
    assert_eq!(
        request.sizes(footer.sizes),
        [Size { w: 320, h: 50 }, Size { w: 320, h: 100 }]
    );
}

/// Lists keep their first entries inline and move to the heap when longer: every length on both
/// sides of that boundary converts whole and in order.
#[test]
fn long_lists_convert_whole_and_in_order() {
    for n in [0_usize, 1, 2, 3, 4, 5, 8, 9, 17, 40] {
        let texts =
            |prefix: &str| -> Vec<String> { (0..n).map(|i| format!("{prefix}{i}")).collect() };
        let formats: Vec<Value> = (0..n).map(|i| json!({"w": 100 + i, "h": 50})).collect();
        let deals: Vec<Value> = (0..n).map(|i| json!({"id": format!("deal-{i}")})).collect();
        let segments: Vec<Value> = (0..n).map(|i| json!({"id": format!("seg-{i}")})).collect();
        let imps: Vec<Value> = (0..n.max(1))
            .map(|i| {
                json!({
                    "id": format!("imp-{i}"),
                    "banner": {"w": 300, "h": 250, "format": formats},
                    "pmp": {"deals": deals},
                })
            })
            .collect();
        // A video needs a MIME type; with none it is left out.
        let video = match n {
            0 => json!(null),
            _ => json!({"mimes": texts("video/"), "protocols": (1..=n).collect::<Vec<_>>()}),
        };
        let request = with(&[
            set("/imp", Value::Array(imps)),
            set("/bcat", json!(texts("IAB"))),
            set("/badv", json!(texts("adv-"))),
            set("/bapp", json!(texts("com.app"))),
            set("/cur", json!(vec!["USD"; n])),
            set("/site/cat", json!(texts("c"))),
            set("/site/pagecat", json!(texts("p"))),
            set(
                "/user",
                json!({"data": vec![json!({"segment": segments}); 3]}),
            ),
            set("/imp/0/video", video),
        ]);
        let name = format!("{n} entries");
        assert_eq!(request.imps().len(), n.max(1), "{name}");
        for (imp_idx, imp) in request.imps().iter().enumerate() {
            assert_eq!(request.text(imp.id), format!("imp-{imp_idx}"), "{name}");
            let mut sizes = vec![Size { w: 300, h: 250 }];
            sizes.extend((0..n).map(|i| Size {
                w: 100 + i as u32,
                h: 50,
            }));
            assert_eq!(request.sizes(imp.sizes), sizes, "{name}");
            let deal_ids: Vec<&str> = request.texts(imp.deal_ids).collect();
            assert_eq!(deal_ids, texts("deal-"), "{name}");
        }
        if let Some(video) = request.imps()[0].video {
            let mimes: Vec<&str> = request.texts(video.mimes).collect();
            assert_eq!(mimes, texts("video/"), "{name}");
            let protocols: Vec<u16> = (1..=n as u16).collect();
            assert_eq!(request.codes(video.protocols), protocols, "{name}");
        }
        assert_eq!(request.imps()[0].video.is_some(), n > 0, "{name}");
        assert_eq!(
            request.texts(request.bcat).collect::<Vec<_>>(),
            texts("IAB"),
            "{name}"
        );
        assert_eq!(
            request.texts(request.badv).collect::<Vec<_>>(),
            texts("adv-"),
            "{name}"
        );
        assert_eq!(
            request.texts(request.bapp).collect::<Vec<_>>(),
            texts("com.app"),
            "{name}"
        );
        assert_eq!(request.currencies(), vec![Currency::USD; n], "{name}");
        let categories: Vec<String> = texts("c").into_iter().chain(texts("p")).collect();
        assert_eq!(
            request
                .texts(request.context.categories)
                .collect::<Vec<_>>(),
            categories,
            "{name}"
        );
        let segments: Vec<String> = (0..3).flat_map(|_| texts("seg-")).collect();
        assert_eq!(
            request.texts(request.user.segment_ids).collect::<Vec<_>>(),
            segments,
            "{name}"
        );
    }
}

#[test]
fn battr_is_the_sorted_union_over_the_impression_media() {
    let request = with(&[
        set("/imp/0/banner/battr", json!([8, 3, 3])),
        set(
            "/imp/0/video",
            json!({"mimes": ["video/mp4"], "battr": [14, 3], "protocol": 3}),
        ),
        set(
            "/imp/0/native",
            json!({"request": "{\"assets\":[{\"title\":{\"len\":9}}]}", "battr": [1]}),
        ),
    ]);
    let imp = request.imps()[0];
    assert_eq!(request.codes(imp.battr), [1, 3, 8, 14]);
    let video = imp.video.expect("video");
    assert_eq!(
        request.codes(video.protocols),
        [3],
        "deprecated protocol used when protocols absent"
    );
    let all = MediaKinds::BANNER;
    assert!(
        imp.media.contains(all)
            && imp.media.contains(MediaKinds::VIDEO)
            && imp.media.contains(MediaKinds::NATIVE)
    );
    assert!(!imp.media.contains(MediaKinds::AUDIO));
}

#[test]
fn request_level_fields() {
    let request = parsed(&fixture("video-app.json"));
    assert_eq!(request.id, "c0ffee00-1111-2222-3333-444455556666");
    assert_eq!(request.tmax_ms, Some(250));
    assert_eq!(request.auction_type, AuctionType::SecondPrice);
    assert_eq!(
        request.currencies(),
        [Currency::parse("EUR").unwrap(), Currency::USD]
    );
    assert_eq!(
        request.texts(request.bcat).collect::<Vec<_>>(),
        ["IAB25-3", "IAB26"]
    );
    assert_eq!(
        request.texts(request.bapp).collect::<Vec<_>>(),
        ["com.competitor.app"]
    );
    assert!(request.badv.is_empty());
    assert!(request.gdpr && !request.coppa && !request.test);

    let context = request.context;
    assert_eq!(context.kind, ContextKind::App);
    assert_eq!(request.text(context.bundle), "com.example.streamer");
    assert_eq!(request.text(context.publisher_id), "pub-streamer");
    assert_eq!(
        request.texts(context.categories).collect::<Vec<_>>(),
        ["IAB1", "IAB1-5"]
    );

    let device = request.device;
    assert_eq!(device.device_type, Some(4));
    assert_eq!(request.text(device.os), "Android");
    assert!(device.has_user_agent && !device.limit_ad_tracking && !device.do_not_track);
    assert_eq!(device.ip, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(
        device.country.map(|c| c.as_str().to_owned()).as_deref(),
        Some("DEU")
    );
    assert_eq!(request.text(device.region), "BE");

    let first = with(&[
        set("/at", json!(1)),
        set("/test", json!(1)),
        set("/tmax", json!(0)),
    ]);
    assert_eq!(
        (first.auction_type, first.test, first.tmax_ms),
        (AuctionType::FirstPrice, true, None)
    );
    let exchange = with(&[set("/at", json!(777))]);
    assert_eq!(exchange.auction_type, AuctionType::ExchangeSpecific(777));
}

#[test]
fn site_context_and_domain_from_page() {
    let request = parsed(&fixture("multi-imp-site.json"));
    let context = request.context;
    assert_eq!(context.kind, ContextKind::Site);
    assert_eq!(request.text(context.domain), "magazine.example");
    assert_eq!(
        request.texts(context.categories).collect::<Vec<_>>(),
        ["IAB20", "IAB20-3", "IAB20-3"]
    );
    assert_eq!(
        request.device.ip,
        Some("2001:db8::1".parse().unwrap()),
        "ipv6 when ip is absent"
    );
    assert!(request.device.do_not_track);

    let pages = [
        (
            "https://news.example.com:8080/a/b?c=d#e",
            "news.example.com",
        ),
        ("http://user:pw@shop.example/cart", "shop.example"),
        ("blog.example/post/1", "blog.example"),
        ("https://x.example?q=1", "x.example"),
        ("", ""),
    ];
    for (page, domain) in pages {
        let request = with(&[set("/site", json!({"id": "s", "page": page}))]);
        assert_eq!(request.text(request.context.domain), domain, "{page}");
        assert_eq!(request.text(request.context.page), page);
    }
    let dooh = with(&[
        ("/site", None),
        set("/dooh", json!({"id": "screen-9", "publisher": {"id": "p"}})),
    ]);
    assert_eq!(dooh.context.kind, ContextKind::Dooh);
    assert_eq!(dooh.text(dooh.context.id), "screen-9");
}

#[test]
fn geo_prefers_device_over_user_and_wants_alpha3() {
    let both = with(&[
        set(
            "/device",
            json!({"geo": {"country": "usa", "region": "CA"}}),
        ),
        set("/user", json!({"geo": {"country": "FRA"}})),
    ]);
    assert_eq!(
        both.device
            .country
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("USA")
    );
    let user_only = with(&[set(
        "/user",
        json!({"geo": {"country": "FRA", "region": "IDF"}}),
    )]);
    assert_eq!(
        user_only
            .device
            .country
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("FRA")
    );
    assert_eq!(user_only.text(user_only.device.region), "IDF");
    let alpha2 = with(&[set("/device", json!({"geo": {"country": "US"}}))]);
    assert_eq!(alpha2.device.country, None);
    let bad_ip = with(&[set("/device", json!({"ip": "203.0.113.xxx"}))]);
    assert_eq!(bad_ip.device.ip, None);
}

#[test]
fn user_key_precedence() {
    let zero_ifa = "00000000-0000-0000-0000-000000000000";
    type Row<'a> = (Value, Value, Option<(UserKeySource, &'a str)>);
    let rows: [Row; 7] = [
        (
            json!({"id": "u", "buyeruid": "b"}),
            json!({"ifa": "i"}),
            Some((UserKeySource::UserId, "u")),
        ),
        (
            json!({"buyeruid": "b"}),
            json!({"ifa": "i"}),
            Some((UserKeySource::BuyerUid, "b")),
        ),
        (
            json!({"id": "", "buyeruid": "b"}),
            json!({"ifa": "i"}),
            Some((UserKeySource::BuyerUid, "b")),
        ),
        (
            json!({"id": " "}),
            json!({"ifa": "i"}),
            Some((UserKeySource::Ifa, "i")),
        ),
        (
            json!({}),
            json!({"ifa": "i"}),
            Some((UserKeySource::Ifa, "i")),
        ),
        (json!({}), json!({"ifa": zero_ifa}), None),
        (json!({"id": ""}), json!({}), None),
    ];
    for (user, device, expected) in rows {
        let request = with(&[set("/user", user.clone()), set("/device", device.clone())]);
        let key = request
            .user_key
            .map(|key| (key.source, request.text(key.text)));
        assert_eq!(key, expected, "user {user} device {device}");
        assert_eq!(request.user_key_text(), expected.map(|(_, text)| text));
    }
    let fixture_request = parsed(&fixture("multi-imp-site.json"));
    assert_eq!(
        fixture_request.user_key, None,
        "empty user.id and buyeruid, no ifa"
    );
    let segments = fixture_request
        .texts(fixture_request.user.segment_ids)
        .collect::<Vec<_>>();
    assert_eq!(segments, ["travel-lovers", "beach-2024"]);
}

#[test]
fn escaped_strings_are_unescaped() {
    let request = with(&[
        set("/id", json!("a\"b\\c\u{e9}")),
        set("/imp/0/tagid", json!("slot\n1")),
    ]);
    assert_eq!(request.id, "a\"b\\c\u{e9}");
    assert_eq!(request.text(request.imps()[0].tagid), "slot\n1");
}

#[test]
fn clear_keeps_capacity_and_reuse_matches_a_fresh_parse() {
    let mut reused = AdRequest::default();
    let bodies: Vec<Vec<u8>> = FIXTURES.iter().map(|name| fixture(name)).collect();
    for body in &bodies {
        parse_bid_request(body, &mut reused).expect("fixture accepted");
    }
    let warmed_bytes = reused.capacity_bytes();
    assert!(warmed_bytes > 0);

    for _ in 0..3 {
        for body in &bodies {
            parse_bid_request(body, &mut reused).expect("fixture accepted");
            let fresh = parsed(body);
            assert_eq!(
                format!("{reused:?}"),
                format!("{fresh:?}"),
                "reused differs from fresh"
            );
        }
    }
    assert_eq!(
        reused.capacity_bytes(),
        warmed_bytes,
        "buffers grew after warm-up"
    );

    reused.clear();
    assert!(reused.id.is_empty() && reused.imps().is_empty() && reused.user_key.is_none());
    assert_eq!(
        reused.capacity_bytes(),
        warmed_bytes,
        "clear released capacity"
    );

    parse_bid_request(&bodies[0], &mut reused).expect("accepted");
    assert!(parse_bid_request(b"{\"id\":\"x\"}", &mut reused).is_err());
    assert!(
        reused.imps().is_empty() && reused.id.is_empty(),
        "a rejected request leaves it cleared"
    );
}
