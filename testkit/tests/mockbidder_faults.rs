//! The mock bidder does what its specs say, seen from the client side: specs parse or explain
//! why not, every imp gets a bid at or above its floor, the bid rate and latency hold, every
//! fault kind is observable by a client (and counted in the stats), keep-alive serves several
//! requests per connection, `--responses` answers a corpus in turn, bad input gets 4xx rather
//! than a panic, and dropping the handle ends even a held connection. The engine's own tests
//! rely on all of this when they point its bidder client at a mock bidder.
//!
//! Everything runs on ephemeral loopback ports. Fault tests give the fault a share of 1, so
//! the outcome does not depend on the seed; the seed (printed, `MOCKBIDDER_SEED` to override)
//! only moves prices and the mix of the determinism test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use adshard_testkit::fixtures;
use adshard_testkit::mockbidder::{
    parse_duration, spawn, FaultKind, FaultShare, LatencySpec, MockBidderConfig, MockBidderHandle,
    MockBidderStats, PriceSpec, ResponseCorpus,
};
use serde_json::{json, Value};

/// How long a test client waits for an answer that should come; generous, since only a
/// broken bidder makes it matter.
const ANSWER_WAIT_MAX: Duration = Duration::from_secs(5);

fn seed() -> u64 {
    let seed = std::env::var("MOCKBIDDER_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5EED_0001);
    println!("seed {seed} (set MOCKBIDDER_SEED to replay another)");
    seed
}

fn start(config: MockBidderConfig) -> MockBidderHandle {
    let handle = spawn(MockBidderConfig {
        seed: seed(),
        ..config
    })
    .expect("start a mock bidder");
    assert!(handle.addr().ip().is_loopback());
    handle
}

fn with_fault(kind: FaultKind) -> MockBidderHandle {
    start(MockBidderConfig::default().with_fault(kind, 1.0))
}

/// One HTTP answer as the client saw it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// From the request's write to the answer's last byte.
    elapsed: Duration,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A minimal keep-alive HTTP/1.1 client: one request at a time, Content-Length bodies.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the mock bidder");
        stream
            .set_read_timeout(Some(ANSWER_WAIT_MAX))
            .expect("set a read timeout");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send a request");
    }

    /// Writes one request without waiting for its answer.
    fn send(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<()> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        // One write: a head and a body written separately would meet Nagle and delayed ACKs
        // and add ~40 ms to every exchange.
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.write_all(&request)
    }

    fn exchange(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<Answer> {
        let start = Instant::now();
        self.send(method, path, body)?;
        let mut answer = self.read_answer()?;
        answer.elapsed = start.elapsed();
        Ok(answer)
    }

    fn bid(&mut self, request: &Value) -> io::Result<Answer> {
        let body = serde_json::to_vec(request).expect("serialize a request");
        self.exchange("POST", "/openrtb2/bid", &body)
    }

    fn read_more(&mut self) -> io::Result<()> {
        let mut chunk = [0_u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn read_answer(&mut self) -> io::Result<Answer> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&self.buffer)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            if let httparse::Status::Complete(head_len) = parsed {
                let status = response.code.unwrap_or(0);
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, value)| value.parse::<usize>().expect("a length"));
                while self.buffer.len() < head_len + length {
                    self.read_more()?;
                }
                let body = self.buffer[head_len..head_len + length].to_vec();
                self.buffer.drain(..head_len + length);
                return Ok(Answer {
                    status,
                    headers,
                    body,
                    elapsed: Duration::ZERO,
                });
            }
            self.read_more()?;
        }
    }
}

/// A two-imp banner request allowing USD and EUR, with a floor on the first imp.
fn two_imp_request(id: &str) -> Value {
    json!({
        "id": id,
        "cur": ["USD", "EUR"],
        "imp": [
            {"id": "1", "bidfloor": 2.0, "banner": {"w": 300, "h": 250}},
            {"id": "2", "banner": {"format": [{"w": 728, "h": 90}]}}
        ]
    })
}

fn bids_of(response: &Value) -> Vec<Value> {
    response["seatbid"]
        .as_array()
        .expect("seatbid")
        .iter()
        .flat_map(|seatbid| seatbid["bid"].as_array().expect("bid").clone())
        .collect()
}

/// Waits until the stats satisfy `done`: a condition, not a guess at a duration.
fn wait_for_stats(handle: &MockBidderHandle, done: impl Fn(&MockBidderStats) -> bool) {
    let deadline = Instant::now() + ANSWER_WAIT_MAX;
    while !done(&handle.stats()) {
        assert!(
            Instant::now() < deadline,
            "stats never got there: {:?}",
            handle.stats()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn specs_parse_and_bad_specs_explain_themselves() {
    assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
    assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    let good_latencies = [
        ("fixed:20ms", LatencySpec::Fixed(Duration::from_millis(20))),
        (
            "uniform:10ms:30ms",
            LatencySpec::Uniform {
                low: Duration::from_millis(10),
                high: Duration::from_millis(30),
            },
        ),
        (
            "lognormal:20ms:0.5",
            LatencySpec::LogNormal {
                median: Duration::from_millis(20),
                sigma: 0.5,
            },
        ),
    ];
    for (text, spec) in good_latencies {
        assert_eq!(text.parse::<LatencySpec>(), Ok(spec), "{text}");
        assert_eq!(
            spec.to_string().parse::<LatencySpec>(),
            Ok(spec),
            "{text} round trip"
        );
    }
    let good_prices = [
        ("fixed:1.5", PriceSpec::Fixed(1.5)),
        (
            "uniform:0.5:3.0",
            PriceSpec::Uniform {
                low: 0.5,
                high: 3.0,
            },
        ),
        (
            "lognormal:2:0.4",
            PriceSpec::LogNormal {
                median: 2.0,
                sigma: 0.4,
            },
        ),
    ];
    for (text, spec) in good_prices {
        assert_eq!(text.parse::<PriceSpec>(), Ok(spec), "{text}");
        assert_eq!(
            spec.to_string().parse::<PriceSpec>(),
            Ok(spec),
            "{text} round trip"
        );
    }
    assert_eq!(
        "500:0.25".parse::<FaultShare>(),
        Ok(FaultShare {
            kind: FaultKind::ServerError,
            share: 0.25
        })
    );
    for kind in FaultKind::ALL {
        assert_eq!(kind.name().parse::<FaultKind>(), Ok(kind));
    }

    // Each bad spec's error names the input and says what was expected.
    let bad_latencies = [
        ("fixed:20", "needs a unit"),
        ("fixed:-1ms", "non-negative"),
        ("fixed:61s", "limit"),
        ("fixed:1h", "needs a unit"),
        ("fixed:xms", "not a number"),
        ("uniform:30ms:10ms", "LOW must not be above HIGH"),
        ("lognormal:20ms", "takes 2 argument"),
        ("lognormal:20ms:-1", "sigma"),
        ("lognormal:0ms:0.5", "MEDIAN must be positive"),
        ("gamma:1ms", "unknown kind `gamma`"),
        ("", "unknown kind"),
    ];
    for (text, expected) in bad_latencies {
        let error = text.parse::<LatencySpec>().expect_err(text).to_string();
        assert!(error.contains(expected), "{text}: {error}");
        assert!(error.contains(&format!("`{text}`")), "{text}: {error}");
    }
    let bad_prices = [
        ("fixed:abc", "must be a CPM"),
        ("fixed:-1", "must be a CPM"),
        ("uniform:3:1", "LOW must not be above HIGH"),
        ("fixed:1:2", "takes 1 argument"),
    ];
    for (text, expected) in bad_prices {
        let error = text.parse::<PriceSpec>().expect_err(text).to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
    let bad_faults = [
        ("timeout", "expected KIND:SHARE"),
        ("nope:0.1", "unknown fault `nope`"),
        ("reset:1.5", "must be a number in [0, 1]"),
        ("reset:x", "must be a number in [0, 1]"),
    ];
    for (text, expected) in bad_faults {
        let error = text.parse::<FaultShare>().expect_err(text).to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }

    // What only the whole config can tell.
    let too_much = MockBidderConfig::default()
        .with_fault(FaultKind::Reset, 0.7)
        .with_fault(FaultKind::ServerError, 0.7);
    let error = too_much.validate().expect_err("shares above 1").to_string();
    assert!(error.contains("sum to 1.4"), "{error}");
    let twice = MockBidderConfig::default()
        .with_fault(FaultKind::Reset, 0.1)
        .with_fault(FaultKind::Reset, 0.1);
    assert!(twice
        .validate()
        .expect_err("twice")
        .to_string()
        .contains("twice"));
    let tenths = (0..9).fold(MockBidderConfig::default(), |config, n| {
        config.with_fault(FaultKind::ALL[n], 1.0 / 9.0)
    });
    assert_eq!(
        tenths.validate(),
        Ok(()),
        "shares summing to 1 in floating point"
    );
    let bid_rate = MockBidderConfig {
        bid_rate: 1.5,
        ..MockBidderConfig::default()
    };
    assert!(bid_rate.validate().is_err());
    let threads = MockBidderConfig {
        threads: 0,
        ..MockBidderConfig::default()
    };
    assert!(threads.validate().is_err());
    let error = spawn(bid_rate).err().expect("spawn refuses a bad config");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn latency_samples_stay_in_their_distribution() {
    let mut rng = adshard_tools::rng::Rng::new(seed());
    let uniform: LatencySpec = "uniform:10ms:30ms".parse().expect("spec");
    for _ in 0..1000 {
        let latency = uniform.sample(&mut rng);
        assert!((Duration::from_millis(10)..=Duration::from_millis(30)).contains(&latency));
    }
    let lognormal: LatencySpec = "lognormal:20ms:0.5".parse().expect("spec");
    let mut samples: Vec<Duration> = (0..1001).map(|_| lognormal.sample(&mut rng)).collect();
    samples.sort();
    let median = samples[500];
    assert!(
        (Duration::from_millis(17)..=Duration::from_millis(23)).contains(&median),
        "median {median:?}"
    );
    // A long tail: the largest of a thousand is well above twice the median.
    assert!(samples[1000] > median * 2, "max {:?}", samples[1000]);
}

#[test]
fn every_imp_gets_a_bid_at_or_above_its_floor() {
    let handle = start(MockBidderConfig {
        price: "uniform:0.5:3.0".parse().expect("spec"),
        ..MockBidderConfig::default()
    });
    let mut client = Client::connect(handle.addr());
    for n in 0..20 {
        let request = json!({
            "id": format!("req-{n}"),
            "cur": ["EUR", "USD"],
            "imp": [
                {"id": "a", "banner": {"w": 300, "h": 250}},
                {"id": "b", "bidfloor": 2.5, "banner": {"format": [{"w": 728, "h": 90}, {"w": 320, "h": 50}]}},
                {"id": "c", "bidfloor": 50.0, "video": {"w": 640, "h": 480, "mimes": ["video/mp4"]}},
                {"id": "d", "native": {"request": "{}"}}
            ]
        });
        let answer = client.bid(&request).expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        let response = answer.json();
        assert_eq!(response["id"], format!("req-{n}"));
        assert_eq!(
            response["cur"], "EUR",
            "the first currency the request allows"
        );
        assert_eq!(
            response["seatbid"][0]["seat"],
            format!("mock-{}", handle.addr().port())
        );
        let bids = bids_of(&response);
        let impids: Vec<&str> = bids
            .iter()
            .map(|bid| bid["impid"].as_str().unwrap())
            .collect();
        assert_eq!(impids, ["a", "b", "c", "d"], "one bid per imp, in order");
        let price = |n: usize| bids[n]["price"].as_f64().expect("a price");
        assert!((0.5..=3.0).contains(&price(0)), "unfloored {}", price(0));
        assert!(price(1) >= 2.5, "floor 2.5, price {}", price(1));
        assert_eq!(price(2), 50.01, "raised to the floor + 0.01");
        assert_eq!(
            (bids[0]["w"].as_u64(), bids[0]["h"].as_u64()),
            (Some(300), Some(250))
        );
        assert_eq!(
            (bids[1]["w"].as_u64(), bids[1]["h"].as_u64()),
            (Some(728), Some(90))
        );
        assert_eq!(
            (bids[2]["w"].as_u64(), bids[2]["h"].as_u64()),
            (Some(640), Some(480))
        );
        assert!(bids[0]["adm"]
            .as_str()
            .unwrap()
            .contains("${AUCTION_PRICE}"));
        assert!(bids[2]["adm"].as_str().unwrap().starts_with("<VAST"));
        for bid in &bids {
            assert_eq!(bid["crid"], "mock-creative-1");
            assert_eq!(bid["adomain"], json!(["mock-advertiser.example"]));
            assert!(bid["nurl"].as_str().unwrap().contains("${AUCTION_PRICE}"));
        }
    }
    let stats = handle.stats();
    assert_eq!((stats.requests, stats.bids, stats.no_bids), (20, 20, 0));
}

#[test]
fn bid_rate_zero_answers_no_content() {
    let handle = start(MockBidderConfig {
        bid_rate: 0.0,
        ..MockBidderConfig::default()
    });
    let mut client = Client::connect(handle.addr());
    for n in 0..3 {
        let answer = client
            .bid(&two_imp_request(&format!("r{n}")))
            .expect("an answer");
        assert_eq!(answer.status, 204);
        assert!(answer.body.is_empty());
    }
    let stats = handle.stats();
    assert_eq!((stats.requests, stats.bids, stats.no_bids), (3, 0, 3));
}

#[test]
fn fault_timeout_never_answers() {
    let handle = with_fault(FaultKind::Timeout);
    let mut client = Client::connect(handle.addr());
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("set a read timeout");
    let error = client.bid(&two_imp_request("t")).expect_err("no answer");
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{error}"
    );
    assert!(client.buffer.is_empty(), "not a single byte came back");
    assert_eq!(handle.stats().fault(FaultKind::Timeout), 1);
}

#[test]
fn fault_reset_closes_without_an_answer() {
    let handle = with_fault(FaultKind::Reset);
    let mut client = Client::connect(handle.addr());
    let error = client.bid(&two_imp_request("r")).expect_err("no answer");
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
        ),
        "{error}"
    );
    assert!(client.buffer.is_empty(), "not a single byte came back");
    assert_eq!(handle.stats().fault(FaultKind::Reset), 1);
}

#[test]
fn fault_garbage_is_a_200_that_is_not_json() {
    let handle = with_fault(FaultKind::Garbage);
    let mut client = Client::connect(handle.addr());
    let answer = client.bid(&two_imp_request("g")).expect("an answer");
    assert_eq!(answer.status, 200);
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    assert_eq!(handle.stats().fault(FaultKind::Garbage), 1);
}

#[test]
fn fault_500_is_an_internal_server_error() {
    let handle = with_fault(FaultKind::ServerError);
    let mut client = Client::connect(handle.addr());
    let answer = client.bid(&two_imp_request("e")).expect("an answer");
    assert_eq!(answer.status, 500);
    assert_eq!(handle.stats().fault(FaultKind::ServerError), 1);
    assert_eq!(handle.stats().bids, 0);
}

#[test]
fn fault_trickle_arrives_complete_but_slowly() {
    let handle = with_fault(FaultKind::Trickle);
    let mut client = Client::connect(handle.addr());
    let answer = client.bid(&two_imp_request("slow")).expect("an answer");
    assert_eq!(answer.status, 200);
    assert!(
        answer.elapsed > Duration::from_millis(100),
        "{:?}",
        answer.elapsed
    );
    let response = answer.json();
    assert_eq!(response["id"], "slow");
    assert_eq!(bids_of(&response).len(), 2);
    assert_eq!(handle.stats().fault(FaultKind::Trickle), 1);
}

#[test]
fn fault_oversized_is_a_valid_body_over_a_mebibyte() {
    let handle = with_fault(FaultKind::Oversized);
    let mut client = Client::connect(handle.addr());
    let answer = client.bid(&two_imp_request("big")).expect("an answer");
    assert_eq!(answer.status, 200);
    let length: usize = answer.header("content-length").unwrap().parse().unwrap();
    assert!(length > 1024 * 1024, "{length}");
    assert_eq!(answer.body.len(), length);
    assert_eq!(answer.json()["id"], "big", "valid-looking: real JSON");
    assert_eq!(handle.stats().fault(FaultKind::Oversized), 1);
}

#[test]
fn fault_unknown_imp_bids_on_an_imp_not_in_the_request() {
    let handle = with_fault(FaultKind::UnknownImp);
    let mut client = Client::connect(handle.addr());
    let answer = client.bid(&two_imp_request("u")).expect("an answer");
    assert_eq!(answer.status, 200);
    let bids = bids_of(&answer.json());
    let first = bids[0]["impid"].as_str().unwrap();
    assert!(first != "1" && first != "2", "{first}");
    assert_eq!(bids[1]["impid"], "2", "only the first bid is wrong");
    assert_eq!(handle.stats().fault(FaultKind::UnknownImp), 1);
}

#[test]
fn fault_wrong_currency_answers_in_a_currency_the_request_did_not_allow() {
    let handle = with_fault(FaultKind::WrongCurrency);
    let mut client = Client::connect(handle.addr());
    let mut no_cur = two_imp_request("none");
    no_cur.as_object_mut().unwrap().remove("cur");
    let mut jpy = two_imp_request("jpy");
    jpy["cur"] = json!(["JPY"]);
    for (request, allowed) in [
        (two_imp_request("usd-eur"), vec!["USD", "EUR"]),
        (no_cur, vec!["USD"]),
        (jpy, vec!["JPY"]),
    ] {
        let answer = client.bid(&request).expect("an answer");
        assert_eq!(answer.status, 200);
        let response = answer.json();
        let cur = response["cur"].as_str().expect("a cur");
        assert!(!allowed.contains(&cur), "{cur} is allowed by {allowed:?}");
        assert_eq!(bids_of(&response).len(), 2);
    }
    assert_eq!(handle.stats().fault(FaultKind::WrongCurrency), 3);
}

#[test]
fn fault_below_floor_prices_floored_imps_under_their_floor() {
    let handle = start(MockBidderConfig {
        price: PriceSpec::Fixed(5.0),
        ..MockBidderConfig::default().with_fault(FaultKind::BelowFloor, 1.0)
    });
    let mut client = Client::connect(handle.addr());
    let bids = bids_of(&client.bid(&two_imp_request("b")).expect("an answer").json());
    assert!(bids[0]["price"].as_f64().unwrap() < 2.0, "{}", bids[0]);
    assert_eq!(
        bids[1]["price"], 5.0,
        "an imp without a floor bids normally"
    );
    assert_eq!(handle.stats().fault(FaultKind::BelowFloor), 1);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let handle = start(MockBidderConfig::default());
    let mut client = Client::connect(handle.addr());
    for n in 0..5 {
        let answer = client
            .bid(&two_imp_request(&format!("k{n}")))
            .expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("connection"), None, "kept alive");
        assert_eq!(answer.json()["id"], format!("k{n}"));
    }
    let health = client.exchange("GET", "/healthz", b"").expect("healthz");
    assert_eq!(health.status, 200);
    let stats = client.exchange("GET", "/stats", b"").expect("stats");
    assert_eq!(stats.status, 200);
    let stats: MockBidderStats = serde_json::from_slice(&stats.body).expect("stats JSON");
    assert_eq!(
        stats,
        handle.stats(),
        "GET /stats serves the handle's stats"
    );
    assert_eq!((stats.connections, stats.requests, stats.bids), (1, 5, 5));
    assert_eq!(
        stats.faults.len(),
        FaultKind::ALL.len(),
        "every kind listed"
    );

    // A request asking to close gets its answer, then the close.
    let answer = client
        .exchange("GET", "/healthz", b"")
        .and_then(|_| {
            client.send_raw(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
            client.read_answer()
        })
        .expect("an answer before the close");
    assert_eq!(answer.header("connection"), Some("close"));
    let mut rest = Vec::new();
    client.stream.read_to_end(&mut rest).expect("a clean close");
    assert!(rest.is_empty());
}

#[test]
fn latency_fixed_30ms_delays_every_answer() {
    let handle = start(MockBidderConfig {
        latency: "fixed:30ms".parse().expect("spec"),
        ..MockBidderConfig::default()
    });
    let mut client = Client::connect(handle.addr());
    for n in 0..3 {
        let answer = client
            .bid(&two_imp_request(&format!("l{n}")))
            .expect("an answer");
        assert_eq!(answer.status, 200);
        assert!(
            answer.elapsed >= Duration::from_millis(30),
            "{:?}",
            answer.elapsed
        );
    }
    // Control endpoints are not delayed (only checked not to be, not timed).
    assert_eq!(client.exchange("GET", "/healthz", b"").unwrap().status, 200);
}

#[test]
fn same_seed_same_answers_and_every_request_counted_once() {
    let config = MockBidderConfig {
        bid_rate: 0.5,
        price: "lognormal:2:0.5".parse().expect("spec"),
        faults: vec![
            "500:0.3".parse().expect("spec"),
            "garbage:0.2".parse().expect("spec"),
        ],
        ..MockBidderConfig::default()
    };
    let run = || {
        let handle = start(config.clone());
        let mut client = Client::connect(handle.addr());
        let answers: Vec<(u16, Vec<u8>)> = (0..60)
            .map(|n| {
                let answer = client
                    .bid(&two_imp_request(&format!("d{n}")))
                    .expect("an answer");
                (answer.status, answer.body)
            })
            .collect();
        (answers, handle.shutdown())
    };
    let (first, stats) = run();
    let (second, _) = run();
    // Bodies are compared as text with the seat (`mock-PORT`, different per run) blanked.
    let comparable = |answers: &[(u16, Vec<u8>)]| -> Vec<(u16, String)> {
        answers
            .iter()
            .map(|(status, body)| {
                let text = String::from_utf8_lossy(body);
                let text = match text.find("\"seat\":\"mock-") {
                    Some(at) => {
                        let end = text[at + 8..].find('"').map_or(text.len(), |n| at + 8 + n);
                        format!("{}SEAT{}", &text[..at], &text[end + 1..])
                    }
                    None => text.into_owned(),
                };
                (*status, text)
            })
            .collect()
    };
    let (first_text, second_text) = (comparable(&first), comparable(&second));
    for (n, (a, b)) in first_text.iter().zip(&second_text).enumerate() {
        assert_eq!(a, b, "request {n}: same seed, same requests, same answers");
    }

    let count = |wanted: u16, json: Option<bool>| {
        first
            .iter()
            .filter(|(status, body)| {
                *status == wanted
                    && json.is_none_or(|json| serde_json::from_slice::<Value>(body).is_ok() == json)
            })
            .count() as u64
    };
    assert_eq!(stats.requests, 60);
    assert_eq!(stats.fault(FaultKind::ServerError), count(500, None));
    assert_eq!(stats.fault(FaultKind::Garbage), count(200, Some(false)));
    assert_eq!(stats.bids, count(200, Some(true)));
    assert_eq!(stats.no_bids, count(204, None));
    let faults: u64 = stats.faults.values().sum();
    assert_eq!(
        stats.requests,
        stats.bids + stats.no_bids + stats.bad_requests + faults
    );
    for outcome in [
        stats.bids,
        stats.no_bids,
        stats.fault(FaultKind::ServerError),
    ] {
        assert!(outcome > 0, "with this seed every outcome shows: {stats:?}");
    }
}

/// Directories of bid responses to answer in turn: the project's OpenRTB 2.6 response
/// fixtures; the IAB's examples too when `ADSHARD_CORPUS_DIR` names the shared corpus (as
/// `scripts/acceptance` does); and `MOCKBIDDER_CORPUS_DIR` when set.
fn corpus_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![fixtures::dir().join("bid-responses/2.6")];
    match fixtures::corpus_dir() {
        Some(corpus) => dirs.push(corpus.join("iab-examples/bid-response/2.6")),
        None => println!(
            "{} is not set: answering the project's fixtures only",
            fixtures::CORPUS_DIR_VAR
        ),
    }
    dirs.extend(std::env::var_os("MOCKBIDDER_CORPUS_DIR").map(PathBuf::from));
    dirs
}

fn json_files(dir: &Path) -> Vec<Value> {
    fixtures::json_files_in(dir)
        .iter()
        .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
        .collect()
}

#[test]
fn responses_mode_answers_the_corpus_in_turn_with_ids_rewritten() {
    for dir in corpus_dirs() {
        println!("answering {}", dir.display());
        answers_in_turn_with_ids_rewritten(&dir);
    }
}

fn answers_in_turn_with_ids_rewritten(dir: &Path) {
    assert!(dir.is_dir(), "no responses at {}", dir.display());
    let files = json_files(dir);
    assert!(files.len() >= 2, "too few responses in {}", dir.display());
    let corpus = ResponseCorpus::load(dir).expect("load the corpus");
    assert_eq!(corpus.len(), files.len());
    let handle = start(MockBidderConfig {
        responses: Some(corpus),
        ..MockBidderConfig::default()
    });
    let mut client = Client::connect(handle.addr());
    for n in 0..files.len() + 2 {
        let request = json!({"id": format!("c{n}"), "imp": [{"id": "imp-7"}, {"id": "imp-8"}]});
        let answer = client.bid(&request).expect("an answer");
        assert_eq!(answer.status, 200);
        let response = answer.json();
        let file = &files[n % files.len()];
        assert_eq!(response["id"], format!("c{n}"));
        assert_eq!(
            response["seatbid"].as_array().map(Vec::len),
            file["seatbid"].as_array().map(Vec::len)
        );
        let (bids, file_bids) = (bids_of(&response), bids_of(file));
        assert_eq!(bids.len(), file_bids.len());
        for (bid, file_bid) in bids.iter().zip(&file_bids) {
            assert_eq!(bid["impid"], "imp-7", "rewritten to the first imp");
            assert_eq!(bid["id"], file_bid["id"]);
            assert_eq!(
                bid["price"].as_f64(),
                file_bid["price"].as_f64(),
                "no floor, as is"
            );
        }
    }
}

#[test]
fn responses_mode_from_a_directory_raises_prices_to_the_floor() {
    let dir = adshard_testkit::temp_dir("mockbidder-responses");
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    write(
        "a.json",
        r#"{"id":"x","cur":"USD","seatbid":[{"bid":[{"id":"A","impid":"0","price":1}]}]}"#,
    );
    write(
        "b.json",
        r#"{"id":"x","seatbid":[{"bid":[{"id":"B","impid":"0","price":30}]}]}"#,
    );
    write("notes.txt", "not a response, ignored");
    let corpus = ResponseCorpus::load(&dir);
    std::fs::remove_dir_all(&dir).expect("remove the temp dir");
    let handle = start(MockBidderConfig {
        responses: Some(corpus.expect("load two responses")),
        ..MockBidderConfig::default()
    });
    let mut client = Client::connect(handle.addr());
    let request = json!({"id": "q", "imp": [{"id": "i1", "bidfloor": 10.0}]});
    let expected = [("A", 10.01), ("B", 30.0), ("A", 10.01)];
    for (id, price) in expected {
        let response = client.bid(&request).expect("an answer").json();
        let bid = &bids_of(&response)[0];
        assert_eq!(
            (bid["id"].as_str(), bid["impid"].as_str()),
            (Some(id), Some("i1"))
        );
        assert_eq!(bid["price"].as_f64(), Some(price));
        assert_eq!(response["id"], "q");
    }

    let empty = adshard_testkit::temp_dir("mockbidder-empty");
    let error = ResponseCorpus::load(&empty).expect_err("no files");
    std::fs::write(empty.join("bad.json"), "{not json").expect("write");
    let bad = ResponseCorpus::load(&empty).expect_err("bad JSON");
    std::fs::remove_dir_all(&empty).expect("remove the temp dir");
    assert!(error.to_string().contains("no .json file"), "{error}");
    assert!(bad.to_string().contains("bad.json"), "{bad}");
    assert!(ResponseCorpus::from_responses(vec![json!([1])]).is_err());
}

#[test]
fn bad_input_gets_an_error_status_not_a_panic() {
    let handle = start(MockBidderConfig::default());
    let cases: [(&[u8], u16); 7] = [
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", 400),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n{{{{{", 400),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 8\r\n\r\n{\"id\":1}",
            400,
        ),
        (b"PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
    ];
    for (request, status) in cases {
        let mut client = Client::connect(handle.addr());
        client.send_raw(request);
        let answer = client.read_answer().expect("an answer");
        assert_eq!(
            answer.status,
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    let mut client = Client::connect(handle.addr());
    assert_eq!(client.exchange("GET", "/nope", b"").unwrap().status, 404);
    let mut huge_head = b"GET /healthz HTTP/1.1\r\nX-Big: ".to_vec();
    huge_head.resize(huge_head.len() + 20_000, b'a');
    client.send_raw(&huge_head);
    assert_eq!(client.read_answer().expect("an answer").status, 431);
    let stats = handle.stats();
    assert_eq!((stats.requests, stats.bad_requests), (2, 2));
    // Still serving.
    let mut client = Client::connect(handle.addr());
    assert_eq!(client.bid(&two_imp_request("ok")).unwrap().status, 200);
}

#[test]
fn connections_over_the_thread_cap_get_503() {
    let handle = start(MockBidderConfig {
        threads: 1,
        ..MockBidderConfig::default()
    });
    let mut first = Client::connect(handle.addr());
    assert_eq!(first.bid(&two_imp_request("1")).unwrap().status, 200);
    // The first connection holds the only thread; the second is refused without a request.
    let mut second = Client::connect(handle.addr());
    assert_eq!(second.read_answer().expect("a refusal").status, 503);
    assert_eq!(handle.stats().connections_rejected, 1);
    drop(first);
    wait_for_stats(&handle, |stats| stats.connections_open == 0);
    let mut third = Client::connect(handle.addr());
    assert_eq!(third.bid(&two_imp_request("3")).unwrap().status, 200);
}

#[test]
fn dropping_the_handle_ends_a_held_connection_at_once() {
    let handle = with_fault(FaultKind::Timeout);
    let mut client = Client::connect(handle.addr());
    let request = serde_json::to_vec(&two_imp_request("held")).expect("serialize");
    client.send("POST", "/", &request).expect("send a request");
    wait_for_stats(&handle, |stats| stats.fault(FaultKind::Timeout) == 1);
    let start = Instant::now();
    drop(handle);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // The server side is gone: the client sees the close, not a timeout.
    let mut rest = Vec::new();
    match client.stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}"),
    }
}

#[test]
fn binary_prints_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_adshard-mockbidder"))
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--fault", "500:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start adshard-mockbidder");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("a line");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert_ne!(addr.port(), 0, "the actual port");
    let mut client = Client::connect(addr);
    let health = client.exchange("GET", "/healthz", b"");
    let bid = client.bid(&two_imp_request("bin"));
    child.kill().expect("stop the child");
    child.wait().expect("reap the child");
    assert_eq!(health.expect("healthz").status, 200);
    assert_eq!(bid.expect("an answer").status, 500);

    let refused = Command::new(env!("CARGO_BIN_EXE_adshard-mockbidder"))
        .args(["--listen", "127.0.0.1:0", "--fault", "nope:1"])
        .output()
        .expect("run adshard-mockbidder");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("unknown fault `nope`"), "{stderr}");
}
