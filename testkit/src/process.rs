//! The real `adshard` binary as a child process, for the tests an in-process
//! [`TestServer`](crate::server::TestServer) cannot do: kill it with SIGKILL at any moment, stop
//! it with a signal, start it again on the same event-log directory with another shard count.
//! The binary's path comes from the test (`env!("CARGO_BIN_EXE_adshard")` exists only in the
//! engine's own test crates). Also here: a [`CampaignData`] written as a data file the binary
//! loads, and the free loopback ports it listens on.

use std::io::BufRead;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adshard::campaign::data::format::{
    AdvertiserJson, BudgetJson, CampaignJson, CreativeFormatJson, CreativeJson, DataFileJson,
    FrequencyCapJson, PacingJson, SpendOnJson, StatusJson,
};
use adshard::campaign::{
    Campaign, CampaignData, CampaignStatus, Creative, CreativeFormat, Pacing, SpendOn, Targeting,
};

use crate::server::{Client, Metrics};

/// How long a start may take (recovery included) before the test fails: far above what a
/// debug build on a busy 2-core host needs.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped or killed server may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Starts tried when the child cannot bind the ports picked for it (another test took one
/// between the pick and the bind).
const START_ATTEMPTS_MAX: usize = 3;

/// A free loopback port (nothing listens on it when this returns; another process may take it
/// before the caller binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Writes `data` as a campaign data file at `path`, in the format `campaign::data` loads.
/// Campaigns built with [`CampaignBuilder`](crate::CampaignBuilder) and changed in their
/// budget, pacing, caps, bids and banner creatives are supported; targeting and flights are
/// not (a test that needs them writes its JSON itself).
pub fn write_data_file(path: &Path, data: &CampaignData) {
    let file = DataFileJson {
        advertisers: data
            .advertisers
            .iter()
            .map(|a| AdvertiserJson {
                id: a.id.clone(),
                name: a.name.clone(),
            })
            .collect(),
        campaigns: data.campaigns.iter().map(campaign_json).collect(),
    };
    let text = serde_json::to_string_pretty(&file).expect("a data file serializes");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn campaign_json(c: &Campaign) -> CampaignJson {
    assert!(
        c.targeting == Targeting::default() && c.start_unix_s.is_none() && c.end_unix_s.is_none(),
        "write_data_file writes neither targeting nor flights ({})",
        c.id
    );
    let budgeted = c.budget.total_micros.is_some() || c.budget.daily_micros.is_some();
    CampaignJson {
        id: c.id.clone(),
        advertiser: c.advertiser_id.clone(),
        adomain: c.adomain.clone(),
        status: match c.status {
            CampaignStatus::Active => StatusJson::Active,
            CampaignStatus::Paused => StatusJson::Paused,
        },
        bid_cpm_micros: c.bid_cpm_micros,
        currency: c.currency.as_str().to_owned(),
        budget: budgeted.then_some(BudgetJson {
            total_micros: c.budget.total_micros,
            daily_micros: c.budget.daily_micros,
            spend_on: match c.budget.spend_on {
                SpendOn::Impression => SpendOnJson::Impression,
                SpendOn::Win => SpendOnJson::Win,
            },
        }),
        flight: None,
        pacing: match c.pacing {
            Pacing::Even => PacingJson::Even,
            Pacing::Asap => PacingJson::Asap,
        },
        frequency_caps: c
            .frequency_caps
            .iter()
            .map(|cap| FrequencyCapJson {
                max: i64::from(cap.max),
                window_s: i64::from(cap.window_s),
            })
            .collect(),
        targeting: Default::default(),
        creatives: c.creatives.iter().map(creative_json).collect(),
    }
}

fn creative_json(cr: &Creative) -> CreativeJson {
    assert_eq!(
        cr.format,
        CreativeFormat::Banner,
        "write_data_file writes banners only ({})",
        cr.id
    );
    CreativeJson {
        id: cr.id.clone(),
        format: CreativeFormatJson::Banner,
        w: i64::from(cr.w),
        h: i64::from(cr.h),
        markup: cr.markup.clone(),
        landing_page: cr.landing_page.clone(),
        secure: cr.secure,
        ..CreativeJson::default()
    }
}

/// What one `adshard serve` is started with; the ports are picked at each start.
#[derive(Debug, Clone)]
pub struct Serve {
    /// The `adshard` binary (`env!("CARGO_BIN_EXE_adshard")`).
    pub binary: PathBuf,
    pub config: PathBuf,
    pub events_dir: PathBuf,
    pub shards: usize,
    /// `--cpus`, e.g. `"0-1"`.
    pub cpus: String,
    /// Further arguments, e.g. `--skip-damaged-segments`.
    pub extra_args: Vec<String>,
}

/// What the child has logged so far (its stderr), gathered by a thread as it comes.
#[derive(Debug, Clone, Default)]
pub struct ProcessLog(Arc<Mutex<String>>);

impl ProcessLog {
    fn gather(child: &mut Child) -> ProcessLog {
        let log = ProcessLog::default();
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut text = lines.0.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        log
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A running `adshard serve`. Dropping it kills the child (SIGKILL) if it still runs.
pub struct Adshard {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub log: ProcessLog,
}

impl Adshard {
    /// Starts the server and waits until every shard is ready (`/readyz` answers 200, which it
    /// does only after recovery). Fails the test with the server's log if it exits or is not
    /// ready within [`START_TIMEOUT`].
    pub fn start(serve: &Serve) -> Adshard {
        for attempt in 1..=START_ATTEMPTS_MAX {
            let (port, admin_port) = (free_port(), free_port());
            let mut child = Command::new(&serve.binary)
                .arg("serve")
                .arg("--config")
                .arg(&serve.config)
                .arg("--events-dir")
                .arg(&serve.events_dir)
                .args(["--shards", &serve.shards.to_string()])
                .args(["--cpus", &serve.cpus])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
                .args(&serve.extra_args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", serve.binary.display()));
            let log = ProcessLog::gather(&mut child);
            let mut server = Adshard {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
                log,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(status) => {
                    let text = server.log.text();
                    let port_taken = text.contains("in use");
                    assert!(
                        port_taken && attempt < START_ATTEMPTS_MAX,
                        "adshard did not start ({status}):\n{text}"
                    );
                }
            }
        }
        unreachable!("the last attempt either returns or fails the test")
    }

    /// Polls `/readyz` until it answers 200; the reason when the child exits or time runs out.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("exited: {status}"));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("not ready after {START_TIMEOUT:?}"));
            }
            let ready = Client::try_connect(self.addr)
                .and_then(|mut client| {
                    client.try_exchange(b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
                })
                .is_ok_and(|response| response.status == 200);
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for the child to be gone: no last commit, no last checkpoint.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.wait_exit();
    }

    /// SIGTERM (graceful: drain, last commit, last checkpoint) and the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill takes a pid and a signal number; the pid is our own child's, not yet
        // waited for, so it cannot name another process.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM: {}", std::io::Error::last_os_error());
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "adshard did not exit within {EXIT_TIMEOUT:?}:\n{}",
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `GET /stats` from the admin port, parsed.
    pub fn stats(&self) -> serde_json::Value {
        let response = Client::connect(self.admin).get("/stats");
        assert_eq!(response.status, 200, "GET /stats");
        response.json()
    }

    /// `/metrics` from the admin port.
    pub fn metrics(&self) -> Metrics {
        let response = Client::connect(self.admin).get("/metrics");
        assert_eq!(response.status, 200, "GET /metrics");
        Metrics(String::from_utf8(response.body).expect("metrics are UTF-8"))
    }

    /// Polls `/metrics` until `name{labels}` sums to `want` (labels matched whole, as
    /// [`Metrics::sum`]); fails the test with the last scrape after `within`.
    pub fn wait_metric(&self, name: &str, labels: &[&str], want: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let metrics = self.metrics();
            if metrics.sum(name, labels) == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}{labels:?} is {}, want {want} (after {within:?}):\n{metrics}\nserver \
                 log:\n{}",
                metrics.sum(name, labels),
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Adshard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
