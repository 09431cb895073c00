//! Budgets, caps and routing on a real multi-shard server: the campaigns these tests serve, an
//! auction call that returns the bid's token, and firing the impression pixel.

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

/// One bid: the campaign that won and the token of its tracking URLs.
#[derive(Debug, Clone)]
pub struct Bid {
    pub campaign: String,
    pub token: String,
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
            Some(Bid {
                campaign: bid["cid"].as_str().expect("cid").to_string(),
                token,
            })
        }
        status => panic!(
            "auction answered {status}: {}",
            String::from_utf8_lossy(&response.body)
        ),
    }
}

/// Fires the impression pixel of `bid` (the browser's request), expecting 200.
pub fn impression(client: &mut Client, bid: &Bid) {
    let response = client.get(&format!("/imp?t={}", bid.token));
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
}

/// Waits until the server has counted `want` impressions (events cross shards
/// asynchronously), then returns the metrics text.
pub fn wait_impressions_counted(server: &TestServer, want: u64) -> Metrics {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = server.metrics();
        let counted = metric_sum(
            &metrics,
            "adshard_tracking_requests_total",
            &["event=\"imp\"", "outcome=\"counted\""],
        );
        if counted >= want {
            return metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{counted} impressions counted, want {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
