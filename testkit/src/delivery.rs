//! Budgets, caps and routing on a real multi-shard server: the campaigns these tests serve, an
//! auction call that returns the bid's tracking URLs, and firing the impression pixel (as the
//! browser does) or the billing notice (as the exchange does).

use adshard::campaign::{Advertiser, Campaign, CampaignBuilder, CampaignData, FrequencyCap};

use crate::server::{metric_sum, Client, Metrics, TestServer};

/// An active USD campaign bidding `bid_cpm_micros` on any 300x250 banner, with neither
/// pacing, budget nor frequency cap in the way.
pub fn campaign(id: &str, bid_cpm_micros: i64) -> Campaign {
    CampaignBuilder::new(id)
        .bid_cpm_micros(bid_cpm_micros)
        .build()
}

pub fn capped(mut campaign: Campaign, max: u32, window_s: u32) -> Campaign {
    campaign.frequency_caps = vec![FrequencyCap { max, window_s }];
    campaign
}

pub fn data(campaigns: Vec<Campaign>) -> CampaignData {
    CampaignData {
        advertisers: vec![Advertiser {
            id: "adv".into(),
            name: "Advertiser".into(),
        }],
        campaigns,
    }
}

/// A one-banner request from `user` (no user object when `None`).
pub fn request(request_id: &str, user: Option<&str>) -> String {
    let user = user.map_or(String::new(), |u| format!(r#","user":{{"id":"{u}"}}"#));
    format!(
        r#"{{"id":"{request_id}","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],"site":{{"id":"s1","domain":"news.example.com"}}{user}}}"#
    )
}

/// One bid: the campaign that won and its tracking URLs.
#[derive(Debug, Clone)]
pub struct Bid {
    pub campaign: String,
    /// The win notice's token; like every token of the bid, it names the shard that decided.
    pub token: String,
    /// The impression pixel of the markup, from its path on.
    pub pixel: String,
    /// The billing notice (`burl`) from its path on, with the bid's price as the clearing
    /// price, as a first-price exchange would fill it in.
    pub billing: String,
}

/// The part of `url` from `path` up to the end or a closing quote.
pub fn from_path(url: &str, path: &str) -> String {
    let start = url.find(path).unwrap_or_else(|| panic!("{path} in {url}"));
    let rest = &url[start..];
    rest[..rest.find('"').unwrap_or(rest.len())].to_string()
}

/// Posts an auction on `client`; `None` for a no-bid (204).
pub fn auction(client: &mut Client, body: &str) -> Option<Bid> {
    let response = client.post("/openrtb2/auction", body.as_bytes());
    match response.status {
        204 => None,
        200 => {
            let json = response.json();
            let bid = &json["seatbid"][0]["bid"][0];
            let nurl = bid["nurl"].as_str().expect("nurl");
            let token = nurl
                .split("t=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .expect("token in nurl")
                .to_string();
            let price = bid["price"].to_string();
            let burl = bid["burl"].as_str().expect("burl");
            Some(Bid {
                campaign: bid["cid"].as_str().expect("cid").to_string(),
                token,
                pixel: from_path(bid["adm"].as_str().expect("adm"), "/imp?"),
                billing: from_path(burl, "/imp?").replace("${AUCTION_PRICE}", &price),
            })
        }
        status => panic!(
            "auction answered {status}: {}",
            String::from_utf8_lossy(&response.body)
        ),
    }
}

/// Fires the impression pixel of `bid` (the browser's request), expecting 200. It counts the
/// impression and the user's caps; it charges nothing.
pub fn impression(client: &mut Client, bid: &Bid) {
    fire(client, &bid.pixel);
}

/// Fires the billing notice of `bid` (the exchange's request), expecting 200. It counts the
/// impression if the pixel has not, and charges a campaign that spends on impressions.
pub fn billing_notice(client: &mut Client, bid: &Bid) {
    fire(client, &bid.billing);
}

fn fire(client: &mut Client, url: &str) {
    let response = client.get(url);
    assert_eq!(
        response.status,
        200,
        "{url}: {}",
        String::from_utf8_lossy(&response.body)
    );
}

/// Waits until the server has counted `want` impression pixels (events cross shards
/// asynchronously), then returns the metrics text.
pub fn wait_impressions_counted(server: &TestServer, want: u64) -> Metrics {
    wait_counted(server, "imp", want)
}

/// Waits until the server has counted `want` tracking calls of `event` (`imp`, `bill`, `win`,
/// `click`), then returns the metrics text.
pub fn wait_counted(server: &TestServer, event: &str, want: u64) -> Metrics {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let event_label = format!("event=\"{event}\"");
    loop {
        let metrics = server.metrics();
        let counted = metric_sum(
            &metrics,
            "adshard_tracking_requests_total",
            &[&event_label, "outcome=\"counted\""],
        );
        if counted >= want {
            return metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{counted} {event} counted, want {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
