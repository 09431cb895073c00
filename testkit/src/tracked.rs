//! Tracked traffic for the event-log tests: the tracking URLs of each bid as an exchange and a
//! browser call them, the fate of every call (acknowledged, sent and never answered, refused),
//! and what the server's `/stats` must show for them after a crash: at least everything
//! acknowledged, at most that plus what was in doubt. An acknowledged call promises its event
//! is durable; a call that got no answer, or an error, may or may not have been counted.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use adshard::campaign::SpendOn;

use crate::delivery::from_path;
use crate::process::Adshard;
use crate::server::{Client, HttpResponse};

/// What became of one HTTP call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Answered 200, 204 or 302: the server promised the event is durable.
    Acknowledged,
    /// Sent, with no whole answer (the server died, or the connection broke): in doubt.
    Unanswered,
    /// Answered with another status (503 while the log cannot write): in doubt too, since a
    /// call that timed out waiting for its commit was counted and may yet become durable.
    Refused(u16),
    /// The connection could not be opened: the server never saw it.
    NotSent,
}

impl Fate {
    /// Whether the event may have been counted without an acknowledgement.
    pub fn in_doubt(self) -> bool {
        matches!(self, Fate::Unanswered | Fate::Refused(_))
    }
}

/// Sends `bytes` on a new connection to `addr` and says what became of the call.
pub fn call(addr: SocketAddr, bytes: &[u8]) -> (Fate, Option<HttpResponse>) {
    let Ok(mut client) = Client::try_connect(addr) else {
        return (Fate::NotSent, None);
    };
    match client.try_exchange(bytes) {
        Ok(response) => {
            let fate = match response.status {
                200 | 204 | 302 => Fate::Acknowledged,
                status => Fate::Refused(status),
            };
            (fate, Some(response))
        }
        Err(_) => (Fate::Unanswered, None),
    }
}

/// `GET path` on a new connection to `addr`.
pub fn get(addr: SocketAddr, path: &str) -> (Fate, Option<HttpResponse>) {
    call(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// A one-banner OpenRTB 2.6 request of size `w` x `h` from user `user`.
pub fn banner_request(request_id: &str, w: u32, h: u32, user: &str) -> String {
    format!(
        r#"{{"id":"{request_id}","imp":[{{"id":"1","banner":{{"w":{w},"h":{h}}}}}],"site":{{"id":"s1","domain":"news.example.com"}},"user":{{"id":"{user}"}}}}"#
    )
}

/// Posts `body` as an auction on a new connection: what became of the call, and the bids of
/// a 200 (none for a 204 or a failed call).
pub fn auction(addr: SocketAddr, body: &str) -> (Fate, Vec<TrackedBid>) {
    let mut bytes = format!(
        "POST /openrtb2/auction HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         x-openrtb-version: 2.6\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    match call(addr, &bytes) {
        (Fate::Acknowledged, Some(response)) if response.status == 200 => {
            (Fate::Acknowledged, TrackedBid::all_in(&response.json()))
        }
        (fate, _) => (fate, Vec::new()),
    }
}

/// One of our bids and its tracking URLs, from their paths on.
#[derive(Debug, Clone)]
pub struct TrackedBid {
    pub campaign: String,
    /// `nurl` and `burl` with `${AUCTION_PRICE}` still in them.
    win: String,
    billing: String,
    /// `lurl` with `${AUCTION_LOSS}` still in it.
    loss: String,
    /// The markup's impression pixel and click redirect.
    pub pixel: String,
    pub click: String,
}

impl TrackedBid {
    /// Every bid of an auction's answer.
    pub fn all_in(response: &serde_json::Value) -> Vec<TrackedBid> {
        let seats = response["seatbid"].as_array().cloned().unwrap_or_default();
        seats
            .iter()
            .flat_map(|seat| seat["bid"].as_array().cloned().unwrap_or_default())
            .map(|bid| {
                let text = |key: &str| {
                    bid[key]
                        .as_str()
                        .unwrap_or_else(|| panic!("{key} in {bid}"))
                        .to_string()
                };
                let adm = text("adm");
                TrackedBid {
                    campaign: text("cid"),
                    win: from_path(&text("nurl"), "/win?"),
                    billing: from_path(&text("burl"), "/imp?"),
                    loss: from_path(&text("lurl"), "/loss?"),
                    pixel: from_path(&adm, "/imp?"),
                    click: from_path(&adm, "/click?"),
                }
            })
            .collect()
    }

    /// The win notice with clearing price `cpm_micros`.
    pub fn win_at(&self, cpm_micros: i64) -> String {
        self.win.replace("${AUCTION_PRICE}", &decimal(cpm_micros))
    }

    /// The billing notice with clearing price `cpm_micros`.
    pub fn billing_at(&self, cpm_micros: i64) -> String {
        self.billing
            .replace("${AUCTION_PRICE}", &decimal(cpm_micros))
    }

    /// The loss notice with OpenRTB loss reason `reason`.
    pub fn loss_for(&self, reason: u32) -> String {
        self.loss.replace("${AUCTION_LOSS}", &reason.to_string())
    }
}

/// Micro-units as the decimal an exchange writes (`1.5`).
fn decimal(micros: i64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// The kinds of tracking call a bid gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Notice {
    Win,
    Billing,
    Pixel,
    Click,
    Loss,
}

impl Notice {
    /// Its `event` label in `adshard_tracking_requests_total`.
    pub fn label(self) -> &'static str {
        match self {
            Notice::Win => "win",
            Notice::Billing => "bill",
            Notice::Pixel => "imp",
            Notice::Click => "click",
            Notice::Loss => "loss",
        }
    }
}

/// One tracking call made, and what became of it.
#[derive(Debug, Clone)]
pub struct Called {
    pub notice: Notice,
    pub path: String,
    pub fate: Fate,
    /// What it charges the campaign if counted (a win or billing notice of a campaign spending
    /// on that event), micro-units.
    pub spend_micros: i64,
}

/// A bid and the tracking calls made for it, in order.
#[derive(Debug, Clone)]
pub struct BidCalls {
    pub campaign: String,
    pub spend_on: SpendOn,
    pub calls: Vec<Called>,
}

impl BidCalls {
    pub fn new(campaign: &str, spend_on: SpendOn) -> BidCalls {
        BidCalls {
            campaign: campaign.to_string(),
            spend_on,
            calls: Vec::new(),
        }
    }

    /// Makes the call `path` of kind `notice` on a new connection to `addr`, records it and
    /// returns its fate. `clearing_cpm_micros` is the price in the URL of a win or billing
    /// notice (0 for the others).
    pub fn fire(
        &mut self,
        addr: SocketAddr,
        notice: Notice,
        path: String,
        clearing_cpm_micros: i64,
    ) -> Fate {
        let (fate, _) = get(addr, &path);
        self.record(notice, path, fate, clearing_cpm_micros);
        fate
    }

    /// Records a call made elsewhere.
    pub fn record(&mut self, notice: Notice, path: String, fate: Fate, clearing_cpm_micros: i64) {
        let charges = matches!(
            (notice, self.spend_on),
            (Notice::Win, SpendOn::Win) | (Notice::Billing, SpendOn::Impression)
        );
        self.calls.push(Called {
            notice,
            path,
            fate,
            spend_micros: if charges {
                clearing_cpm_micros / 1000
            } else {
                0
            },
        });
    }

    fn fates(&self, notices: &[Notice]) -> impl Iterator<Item = Fate> + '_ {
        let notices = notices.to_vec();
        self.calls
            .iter()
            .filter(move |c| notices.contains(&c.notice))
            .map(|c| c.fate)
    }
}

/// The least and the most a count may be: acknowledged, and acknowledged plus in doubt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    pub least: i64,
    pub most: i64,
}

impl Bounds {
    fn add(&mut self, fate: Fate, amount: i64) {
        if fate == Fate::Acknowledged {
            self.least += amount;
            self.most += amount;
        } else if fate.in_doubt() {
            self.most += amount;
        }
    }

    pub fn holds(&self, value: i64) -> bool {
        (self.least..=self.most).contains(&value)
    }
}

/// What `/stats` must show for one campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub impressions: Bounds,
    pub spend_micros: Bounds,
    pub wins: Bounds,
    pub billings: Bounds,
    pub clicks: Bounds,
    /// At least the bids with an acknowledged event (their bid records are durable before
    /// it), at most every bid made.
    pub bids: Bounds,
}

/// Per campaign id, what the calls of `bids` promise. A bid's impression is counted once,
/// by its billing notice or its pixel, whichever came first. Bids that got a loss notice are
/// expected to get no other call (a spend event after a loss is not charged).
/// `auctions_in_doubt` auctions got no answer: each may have made a bid of any campaign.
pub fn expected(bids: &[BidCalls], auctions_in_doubt: i64) -> BTreeMap<String, Expected> {
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    for bid in bids {
        let e = out.entry(bid.campaign.clone()).or_default();
        assert!(
            bid.fates(&[Notice::Loss]).next().is_none() || bid.calls.len() == 1,
            "a lost bid gets its loss notice alone"
        );
        for call in &bid.calls {
            match call.notice {
                Notice::Win => e.wins.add(call.fate, 1),
                Notice::Billing => e.billings.add(call.fate, 1),
                Notice::Click => e.clicks.add(call.fate, 1),
                Notice::Pixel | Notice::Loss => {}
            }
            e.spend_micros.add(call.fate, call.spend_micros);
        }
        let shown: Vec<Fate> = bid.fates(&[Notice::Billing, Notice::Pixel]).collect();
        if shown.contains(&Fate::Acknowledged) {
            e.impressions.add(Fate::Acknowledged, 1);
        } else if shown.iter().any(|fate| fate.in_doubt()) {
            e.impressions.add(Fate::Unanswered, 1);
        }
        e.bids.most += 1;
        if bid.calls.iter().any(|c| c.fate == Fate::Acknowledged) {
            e.bids.least += 1;
        }
    }
    for e in out.values_mut() {
        e.bids.most += auctions_in_doubt;
    }
    out
}

/// Every problem with `stats` (a `/stats` document) against `expected`, one line each.
pub fn stats_problems(
    stats: &serde_json::Value,
    expected: &BTreeMap<String, Expected>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, e) in expected {
        let Some(c) = stats["campaigns"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["id"] == id.as_str()))
        else {
            problems.push(format!("{id}: not in /stats"));
            continue;
        };
        let value = |key: &str| c[key].as_i64().unwrap_or(i64::MIN);
        for (key, bounds) in [
            ("impressions", e.impressions),
            ("spend_total_micros", e.spend_micros),
            ("wins", e.wins),
            ("billings", e.billings),
            ("clicks", e.clicks),
            ("bids", e.bids),
        ] {
            if !bounds.holds(value(key)) {
                problems.push(format!(
                    "{id}: {key} is {}, want {}..={}",
                    value(key),
                    bounds.least,
                    bounds.most
                ));
            }
        }
    }
    problems
}

/// The acknowledged calls of `bids`: what an exchange or a browser might send again.
pub fn acknowledged(bids: &[BidCalls]) -> Vec<&Called> {
    bids.iter()
        .flat_map(|bid| &bid.calls)
        .filter(|call| call.fate == Fate::Acknowledged)
        .collect()
}

/// Sends every acknowledged call of `bids` again to `server`: each is answered as before (2xx
/// or 302), counted as a duplicate, and `/stats` stays `stats_before`. The server must have
/// seen no other tracking call since it started (its counters are compared whole).
pub fn assert_replays_count_nothing(
    server: &Adshard,
    bids: &[BidCalls],
    stats_before: &serde_json::Value,
) {
    let calls = acknowledged(bids);
    assert!(!calls.is_empty(), "nothing was acknowledged");
    for call in &calls {
        let (fate, response) = get(server.addr, &call.path);
        assert_eq!(
            fate,
            Fate::Acknowledged,
            "{:?} {} sent again: {:?}",
            call.notice,
            call.path,
            response.map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
        );
    }
    let stats_after = server.stats();
    assert_eq!(
        stats_after["campaigns"], stats_before["campaigns"],
        "sending acknowledged calls again changed /stats"
    );
    let metrics = server.metrics();
    let tracking = "adshard_tracking_requests_total";
    for notice in [
        Notice::Win,
        Notice::Billing,
        Notice::Pixel,
        Notice::Click,
        Notice::Loss,
    ] {
        let event = format!("event=\"{}\"", notice.label());
        let sent_again = calls.iter().filter(|c| c.notice == notice).count() as u64;
        let duplicates = metrics.sum(tracking, &[&event, "outcome=\"duplicate\""]);
        let all = metrics.sum(tracking, &[&event]);
        assert_eq!(
            (duplicates, all),
            (sent_again, sent_again),
            "{event}: every call sent again is a duplicate, and nothing else was seen:\n{}",
            metrics
                .lines()
                .filter(|l| l.starts_with(tracking))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
