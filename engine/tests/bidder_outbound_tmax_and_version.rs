//! What a bidder receives, end to end, captured by scripted bidders that record every request
//! and answer one fixed bid: its `tmax` is its share of the deadline (the request's `tmax`
//! capped by `fanout.tmax_max_ms`, minus `response_reserve_ms` and `network_buffer_ms`, or its
//! own `timeout_ms` minus `network_buffer_ms` when that is shorter), written once; a 2.5
//! bidder gets `regs.ext.gdpr` (and the other fields 2.6 promoted out of `ext`) where 2.5 puts
//! them, without the 2.6 locations or 2.6 additions, and a 2.6 bidder gets them promoted even
//! when the exchange sent the 2.5 locations; the exchange's own `ext` never leaves.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use adshard::auction::PricingRule;
use adshard::bidders::BidderConfig;
use adshard::bidders::OpenRtbVersion;
use adshard::campaign::CampaignData;
use adshard_testkit::bidders::{bidder, price_micros, serial};
use adshard_testkit::server::TestServer;
use serde_json::{json, Value};

/// How long a test waits for a request the bidder must have received already (the auction's
/// answer came back): only a broken server makes it matter.
const RECEIVED_WAIT: Duration = Duration::from_secs(5);

/// One bid request as the bidder received it.
#[derive(Debug)]
struct Received {
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the bid request is JSON")
    }
}

/// A bidder on 127.0.0.1 that records each request and answers a bid of `price` on the
/// request's first imp. One thread per connection; dropping it stops accepting and joins the
/// accept thread (connection threads end when the server closes its pool).
struct ScriptedBidder {
    addr: SocketAddr,
    received: Receiver<Received>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl ScriptedBidder {
    fn start(price: f64) -> ScriptedBidder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let (sender, received) = channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let sender = sender.clone();
                thread::spawn(move || serve(stream, &sender, price));
            }
        });
        ScriptedBidder {
            addr,
            received,
            stopping,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn next(&self) -> Received {
        self.received
            .recv_timeout(RECEIVED_WAIT)
            .expect("the bidder received a request")
    }
}

impl Drop for ScriptedBidder {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // Wakes the accept loop to see the flag.
        if TcpStream::connect(self.addr).is_ok() {
            if let Some(accept) = self.accept.take() {
                let _ = accept.join();
            }
        }
    }
}

/// Serves keep-alive requests on one connection until the peer closes it.
fn serve(mut stream: TcpStream, sender: &Sender<Received>, price: f64) {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let (head_len, headers) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut slots);
            if let Ok(httparse::Status::Complete(head_len)) = request.parse(&buffer) {
                let headers: Vec<(String, String)> = request
                    .headers
                    .iter()
                    .map(|header| {
                        (
                            header.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(header.value).into_owned(),
                        )
                    })
                    .collect();
                break (head_len, headers);
            }
            if !read_more(&mut stream, &mut buffer) {
                return;
            }
        };
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_len + length {
            if !read_more(&mut stream, &mut buffer) {
                return;
            }
        }
        let body = String::from_utf8_lossy(&buffer[head_len..head_len + length]).into_owned();
        buffer.drain(..head_len + length);
        let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let answer = json!({
            "id": request["id"],
            "seatbid": [{"seat": "scripted", "bid": [{
                "id": "scripted-bid", "impid": request["imp"][0]["id"], "price": price,
                "adm": "<div>scripted</div>", "w": 300, "h": 250, "mtype": 1,
            }]}],
        })
        .to_string();
        // The test may have finished with this bidder; a closed channel is fine.
        let _ = sender.send(Received { headers, body });
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn versioned(name: &str, bidder_at: &ScriptedBidder, version: OpenRtbVersion) -> BidderConfig {
    BidderConfig {
        openrtb_version: version,
        ..bidder(name, &bidder_at.url())
    }
}

/// A 2.6 request with every promoted field at its 2.6 location, 2.6 additions, and `ext`
/// members meant for us alone.
fn request_2_6(id: &str, tmax_ms: Option<u32>) -> String {
    let mut request = json!({
        "id": id,
        "cur": ["USD"],
        "imp": [{"id": "imp-1", "bidfloor": 0.5, "rwdd": 1,
                 "banner": {"w": 300, "h": 250}, "ext": {"exchange_imp_secret": 1}}],
        "site": {"id": "s1", "domain": "news.example.com"},
        "user": {"id": "u1", "consent": "CONSENT-1", "ext": {"exchange_user_secret": 1}},
        "regs": {"gdpr": 1, "us_privacy": "1YNN", "gpp": "DBAA", "gpp_sid": [2],
                 "ext": {"exchange_regs_secret": 1}},
        "source": {"tid": "t-1", "schain": {"complete": 1, "ver": "1.0", "nodes": []}},
        "ext": {"prebid": {"floors": {"enabled": true}}},
    });
    if let Some(tmax) = tmax_ms {
        request["tmax"] = json!(tmax);
    }
    request.to_string()
}

/// A request as a 2.5 exchange sends it: the promoted fields in `ext`.
fn request_2_5(id: &str) -> String {
    json!({
        "id": id,
        "tmax": 50,
        "cur": ["USD"],
        "imp": [{"id": "imp-1", "bidfloor": 0.5, "banner": {"w": 300, "h": 250},
                 "ext": {"prebid": {"is_rewarded_inventory": 1}}}],
        "site": {"id": "s1", "domain": "news.example.com"},
        "user": {"id": "u1", "ext": {"consent": "CONSENT-1", "exchange_user_secret": 1}},
        "regs": {"ext": {"gdpr": 1, "us_privacy": "1YNN", "exchange_regs_secret": 1}},
        "source": {"tid": "t-1", "ext": {"schain": {"complete": 1, "ver": "1.0", "nodes": []}}},
    })
    .to_string()
}

/// The `tmax` a bidder received, checked to be written exactly once.
fn tmax_of(received: &Received) -> u64 {
    assert_eq!(
        received.body.matches("\"tmax\"").count(),
        1,
        "tmax once: {}",
        received.body
    );
    received.json()["tmax"]
        .as_u64()
        .unwrap_or_else(|| panic!("no tmax: {}", received.body))
}

#[test]
fn bidder_gets_its_share_of_the_deadline_as_tmax() {
    let _serial = serial();
    let generous = ScriptedBidder::start(1.0);
    let hurried = ScriptedBidder::start(0.9);
    let mut hurried_config = versioned("hurried", &hurried, OpenRtbVersion::V2_5);
    hurried_config.timeout_ms = 30;
    let server = TestServer::with_bidders(
        vec![
            versioned("generous", &generous, OpenRtbVersion::V2_5),
            hurried_config,
        ],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |_| {},
    );
    let mut client = server.connect();

    // tmax 50: the deadline is 48 ms after arrival (2 ms reserve); the generous bidder (100 ms
    // timeout) is told what remains of it at sending time minus the 5 ms network buffer: at
    // most 42 ms (43 less the time the server took to get there, rounded down); the hurried
    // one its own 30 ms minus the buffer, exactly.
    let answer = client.auction(&request_2_6("share-1", Some(50)));
    assert_eq!(price_micros(&answer.only_bid()), 1_000_000);
    let generous_tmax = tmax_of(&generous.next());
    println!("tmax 50 -> generous bidder told {generous_tmax} ms");
    assert!((40..=42).contains(&generous_tmax), "{generous_tmax}");
    assert_eq!(tmax_of(&hurried.next()), 25);

    // No tmax: the configured cap, 100 ms, less 2 ms and 5 ms.
    let answer = client.auction(&request_2_6("share-2", None));
    assert_eq!(answer.status, 200);
    let generous_tmax = tmax_of(&generous.next());
    println!("no tmax -> generous bidder told {generous_tmax} ms");
    assert!((90..=92).contains(&generous_tmax), "{generous_tmax}");
    assert_eq!(tmax_of(&hurried.next()), 25);

    // A tmax above the cap is capped the same way.
    let answer = client.auction(&request_2_6("share-3", Some(5_000)));
    assert_eq!(answer.status, 200);
    let generous_tmax = tmax_of(&generous.next());
    assert!((90..=92).contains(&generous_tmax), "{generous_tmax}");
    assert_eq!(tmax_of(&hurried.next()), 25);
}

#[test]
fn bidder_2_5_gets_regs_ext_gdpr_and_bidder_2_6_gets_regs_gdpr() {
    let _serial = serial();
    let old = ScriptedBidder::start(1.0);
    let new = ScriptedBidder::start(0.9);
    let server = TestServer::with_bidders(
        vec![
            versioned("old", &old, OpenRtbVersion::V2_5),
            versioned("new", &new, OpenRtbVersion::V2_6),
        ],
        PricingRule::FirstPrice,
        CampaignData::default(),
        |_| {},
    );
    let mut client = server.connect();
    let schain = json!({"complete": 1, "ver": "1.0", "nodes": []});

    // Whichever location the exchange used, each bidder gets its version's.
    for (tag, body) in [
        ("from 2.6", request_2_6("regs-26", Some(50))),
        ("from 2.5", request_2_5("regs-25")),
    ] {
        let answer = client.auction(&body);
        assert_eq!(price_micros(&answer.only_bid()), 1_000_000, "{tag}");

        let received = old.next();
        assert_eq!(received.header("x-openrtb-version"), Some("2.5"), "{tag}");
        let request = received.json();
        assert_eq!(
            request["regs"],
            json!({"ext": {"gdpr": 1, "us_privacy": "1YNN"}}),
            "{tag}: 2.5 locations only, no gpp (a 2.6 addition), no exchange ext"
        );
        assert_eq!(
            request["user"],
            json!({"id": "u1", "ext": {"consent": "CONSENT-1"}}),
            "{tag}"
        );
        assert_eq!(
            request["source"],
            json!({"tid": "t-1", "ext": {"schain": schain}}),
            "{tag}"
        );
        let imp = &request["imp"][0];
        assert!(imp.get("rwdd").is_none(), "{tag}: {imp}");
        assert_eq!(
            imp["ext"],
            json!({"prebid": {"is_rewarded_inventory": 1}}),
            "{tag}"
        );
        assert!(request.get("ext").is_none(), "{tag}: {request}");
        assert!((1..=42).contains(&tmax_of(&received)), "{tag}");

        let received = new.next();
        assert_eq!(received.header("x-openrtb-version"), Some("2.6"), "{tag}");
        let request = received.json();
        let mut regs = json!({"gdpr": 1, "us_privacy": "1YNN"});
        if tag == "from 2.6" {
            regs["gpp"] = json!("DBAA");
            regs["gpp_sid"] = json!([2]);
        }
        assert_eq!(request["regs"], regs, "{tag}");
        assert_eq!(
            request["user"],
            json!({"id": "u1", "consent": "CONSENT-1"}),
            "{tag}"
        );
        assert_eq!(
            request["source"],
            json!({"tid": "t-1", "schain": schain}),
            "{tag}"
        );
        let imp = &request["imp"][0];
        assert_eq!(imp["rwdd"], 1, "{tag}: {imp}");
        assert!(imp.get("ext").is_none(), "{tag}: {imp}");
        assert!(request.get("ext").is_none(), "{tag}: {request}");
    }
}
