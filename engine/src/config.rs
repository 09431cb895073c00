//! The operator's configuration: a TOML file, every field with a default, every limit named.
//!
//! `adshard check-config` and `adshard serve` share this loader, so an error seen by one is the
//! error seen by the other. Errors name the file, the field and the reason; semantic checks
//! collect every problem instead of stopping at the first, and so does reading the file
//! (`document`: every unknown field and wrong type, each with its line).

mod document;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use document::FieldPath;

use crate::auction::AuctionConfig;
use crate::bidders::{
    BidderConfig, FanoutConfig, BIDDERS_MAX, BIDDER_CONNECTIONS_CEILING, PRICE_CPM_CEILING,
};
use crate::currency::{Currency, CurrencyConfig};
use crate::eventlog::EventsConfig;
use crate::http::{
    HttpLimits, BODY_BYTES_CEILING, CONNECTIONS_PER_SHARD_CEILING, HEADERS_COUNT_CEILING,
    HEADER_BYTES_CEILING,
};
use crate::overload::OverloadConfig;
use crate::tracking::{TrackingConfig, WindowSize, BIDS_PER_S_CEILING, WINDOW_SEQUENCES_CEILING};

/// The whole configuration. Unknown keys are rejected: a typo in a limit must not silently
/// leave the default in force.
///
/// Each section's type belongs to the module it configures (`http::HttpLimits`,
/// `bidders::BidderConfig`, `auction::AuctionConfig`...): this module only gathers them, checks
/// what spans sections, and loads the file, so it sits above every module it configures and none
/// of them imports it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub http: HttpLimits,
    pub data: DataConfig,
    pub auction: AuctionConfig,
    pub currency: CurrencyConfig,
    pub tracking: TrackingConfig,
    pub delivery: DeliveryConfig,
    /// The external bidders (`[[bidders]]`), asked on every request they take; none by default.
    pub bidders: Vec<BidderConfig>,
    /// Deadline arithmetic of the fan-out to `bidders`.
    pub fanout: FanoutConfig,
    /// The escape valve: when a shard degrades its answers under overload.
    pub overload: OverloadConfig,
    /// The durable event log: where it lives, group commit, rotation, checkpoints.
    pub events: EventsConfig,
}

/// Budgets, pacing, frequency caps and the routing of requests to the shard that owns the
/// user (see `budget`, `pacing`, `freqcap`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How often a shard sends the spend it committed to the other shards. Shorter: an
    /// exhausted campaign stops sooner everywhere; each round costs one message per peer.
    pub budget_exchange_interval_ms: u64,
    /// What one shard may commit per campaign beyond what every other shard has acknowledged,
    /// in micro-units of the campaign's currency. The proven overspend bound of a campaign is
    /// `(shards - 1) x` this; it must cover one bid, and a shard bids at most this much per
    /// campaign per exchange round trip.
    pub budget_shard_allowance_micros: i64,
    /// How often each shard's pacing controller recomputes its throttles.
    pub pacing_update_interval_ms: u64,
    /// Users whose frequency-cap counts one shard remembers; the least recently seen are
    /// evicted (and counted) beyond it.
    pub freqcap_users_per_shard_max: usize,
    /// Serve a request with a user key on the shard that owns that user's frequency caps,
    /// handing it over when another shard accepted it. Off: every request is served where it
    /// landed, and caps only hold per shard.
    pub route_by_user: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            budget_exchange_interval_ms: 5,
            budget_shard_allowance_micros: 100_000,
            pacing_update_interval_ms: 1000,
            freqcap_users_per_shard_max: 1 << 20,
            route_by_user: true,
        }
    }
}

/// Where campaigns come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// JSON campaign data files, relative to the config file's directory. Empty: the embedded
    /// demo set (a few campaigns, so a new user sees a bid at once).
    pub campaign_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Public listener for OpenRTB and tracking.
    pub listen: SocketAddr,
    /// Admin listener (metrics, later the admin API). Loopback by default: it is not for the
    /// internet.
    pub admin_listen: SocketAddr,
    /// Number of shards; 0 means one per CPU in `cpus` (or per online core).
    pub shards: usize,
    /// CPUs the shards are pinned to, e.g. "1" or "2-5" or "0,2,4"; empty means all online.
    pub cpus: String,
    /// How long shutdown waits for in-flight requests before exiting anyway.
    pub drain_timeout_ms: u64,
    /// Memory glommio registers per shard for io_uring buffers. Kept small: all shards share
    /// the process's RLIMIT_MEMLOCK (8 MiB on the reference host).
    pub io_memory_bytes: usize,
    /// io_uring submission depth per ring.
    pub ring_depth: usize,
    /// Listen backlog per shard socket (the kernel caps it at net.core.somaxconn).
    pub listen_backlog: u32,
    /// How long an idle shard spins before it sleeps in the kernel, in microseconds. A
    /// request handed over from another shard then finds its owner awake instead of paying a
    /// wakeup; the price is a core that stays busy this long after each burst. Worth it only
    /// on cores the shards have to themselves: on the 2-core reference host, where the load
    /// generator shares the shards' cores, 50 us made the routed p99 worse (1.15 ms against
    /// 0.28 ms at 0), so the default sleeps at once.
    pub spin_before_park_us: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            shards: 0,
            cpus: String::new(),
            drain_timeout_ms: 5_000,
            io_memory_bytes: 512 * 1024,
            ring_depth: 256,
            listen_backlog: 4096,
            spin_before_park_us: 0,
        }
    }
}

/// Tracking secrets shorter than this are guessable; matches `tracking::SECRET_BYTES_MIN`.
pub const TRACKING_SECRET_BYTES_MIN: usize = 32;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub file: PathBuf,
    pub field: String,
    pub reason: String,
    /// The line (from 1) of the field in the file, when the file has it (a semantic problem of
    /// a default value, or of a command-line override, has none).
    pub line: Option<usize>,
}

impl fmt::Display for ConfigIssue {
    /// `file: [field: ]reason[ (line N)]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.reason)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Every problem found in a config file; the config is usable only when this is empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (issue_idx, issue) in self.issues.iter().enumerate() {
            if issue_idx > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// What checking a config file found: every problem, and the config with defaults where the
/// problems were, so that what depends on it (the campaign files it names) can be checked in
/// the same run. `config` is `None` only when the file is not TOML at all.
#[derive(Debug)]
pub struct ConfigCheck {
    pub config: Option<Config>,
    pub issues: Vec<ConfigIssue>,
}

impl ConfigCheck {
    /// The config when it has no problem, else every problem.
    pub fn into_result(self) -> Result<Config, ConfigError> {
        match self.config {
            Some(config) if self.issues.is_empty() => Ok(config),
            _ => {
                debug_assert!(!self.issues.is_empty(), "no config and no problem");
                Err(ConfigError {
                    issues: self.issues,
                })
            }
        }
    }
}

/// The event log's directory next to a config file that names none.
pub const EVENTS_DIR_NEXT_TO_CONFIG: &str = "data";
/// The event log's directory of a server run without a config file (the embedded demo),
/// relative to the working directory.
pub const EVENTS_DIR_DEMO: &str = "adshard-data";

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::check_file(path).into_result()
    }

    /// Reads and validates a config file, keeping what could be read despite the problems.
    pub fn check_file(path: &Path) -> ConfigCheck {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                return ConfigCheck {
                    config: None,
                    issues: vec![ConfigIssue {
                        file: path.to_owned(),
                        field: String::new(),
                        reason: format!("cannot read: {e}"),
                        line: None,
                    }],
                }
            }
        };
        let mut check = Config::check_text(&text, path);
        if let Some(config) = &mut check.config {
            // Data files are named relative to the config file, so a config and its data move
            // together.
            let base = path.parent().unwrap_or_else(|| Path::new("."));
            for file in &mut config.data.campaign_files {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
            // The event log lives next to the config unless told otherwise.
            if config.events.dir.as_os_str().is_empty() {
                config.events.dir = base.join(EVENTS_DIR_NEXT_TO_CONFIG);
            } else if config.events.dir.is_relative() {
                config.events.dir = base.join(&config.events.dir);
            }
        }
        check
    }

    /// Parses and validates config text; `path` is only used to name the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        Config::check_text(text, path).into_result()
    }

    /// Parses and validates config text, reporting every problem with its line: what serde
    /// refuses (`document`: unknown fields, wrong types, one after the other), then what
    /// `validate` finds in the rest.
    pub fn check_text(text: &str, path: &Path) -> ConfigCheck {
        let lenient = document::deserialize_leniently::<Config>(text);
        let mut issues: Vec<ConfigIssue> = lenient
            .problems
            .iter()
            .map(|problem| ConfigIssue {
                file: path.to_owned(),
                field: problem.field.to_string(),
                reason: problem.reason.clone(),
                line: problem.line,
            })
            .collect();
        if let Some(config) = &lenient.value {
            for mut issue in config.validate(path) {
                let field = lenient.path_in_file(&FieldPath::parse(&issue.field));
                // A field serde refused holds its default now: a check of it would report a
                // value the operator did not write.
                if lenient
                    .problems
                    .iter()
                    .any(|problem| field.starts_with(&problem.field))
                {
                    continue;
                }
                issue.line = lenient.line_in_file(&field);
                issue.field = field.to_string();
                issues.push(issue);
            }
        }
        // In file order, as an operator reads the file; problems without a line last.
        issues.sort_by_key(|issue| issue.line.unwrap_or(usize::MAX));
        ConfigCheck {
            config: lenient.value,
            issues,
        }
    }

    /// Semantic checks serde cannot express. Returns every problem, not just the first.
    pub fn validate(&self, path: &Path) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |field: &str, reason: String| {
            issues.push(ConfigIssue {
                file: path.to_owned(),
                field: field.to_string(),
                reason,
                line: None,
            })
        };
        if let Err(reason) = parse_cpu_list(&self.server.cpus) {
            issue("server.cpus", reason);
        }
        for (field, reason) in self.events.problems() {
            issue(field, reason);
        }
        if self.server.listen == self.server.admin_listen && self.server.listen.port() != 0 {
            issue(
                "server.admin_listen",
                "must differ from server.listen".into(),
            );
        }
        if self.server.drain_timeout_ms == 0 || self.server.drain_timeout_ms > 600_000 {
            issue(
                "server.drain_timeout_ms",
                "must be between 1 and 600000".into(),
            );
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.server.io_memory_bytes) {
            issue(
                "server.io_memory_bytes",
                "must be between 65536 and 67108864".into(),
            );
        }
        if self.server.spin_before_park_us > 10_000 {
            issue(
                "server.spin_before_park_us",
                "must be at most 10000 (10 ms)".into(),
            );
        }
        if !self.server.ring_depth.is_power_of_two()
            || !(16..=4096).contains(&self.server.ring_depth)
        {
            issue(
                "server.ring_depth",
                "must be a power of two between 16 and 4096".into(),
            );
        }
        if self.server.listen_backlog == 0 || self.server.listen_backlog > 65_535 {
            issue(
                "server.listen_backlog",
                "must be between 1 and 65535".into(),
            );
        }
        let http = &self.http;
        if !(256..=HEADER_BYTES_CEILING).contains(&http.header_bytes_max) {
            issue(
                "http.header_bytes_max",
                format!("must be between 256 and {HEADER_BYTES_CEILING}"),
            );
        }
        if !(8..=HEADERS_COUNT_CEILING).contains(&http.headers_count_max) {
            issue(
                "http.headers_count_max",
                format!("must be between 8 and {HEADERS_COUNT_CEILING}"),
            );
        }
        if !(1024..=BODY_BYTES_CEILING).contains(&http.body_bytes_max) {
            issue(
                "http.body_bytes_max",
                format!("must be between 1024 and {BODY_BYTES_CEILING}"),
            );
        }
        for (field, value_ms) in [
            ("http.idle_timeout_ms", http.idle_timeout_ms),
            ("http.header_timeout_ms", http.header_timeout_ms),
            ("http.body_timeout_ms", http.body_timeout_ms),
            ("http.write_timeout_ms", http.write_timeout_ms),
        ] {
            if value_ms == 0 || value_ms > 3_600_000 {
                issue(field, "must be between 1 and 3600000".into());
            }
        }
        for (code, rate) in &self.currency.rates {
            if Currency::parse(code).is_none() {
                issue(
                    &format!("currency.rates.{code}"),
                    "is not a three-letter currency code".into(),
                );
            } else if !(rate.is_finite() && *rate > 0.0 && *rate < 1e9) {
                issue(
                    &format!("currency.rates.{code}"),
                    "must be a positive number below 1e9".into(),
                );
            }
        }
        if Currency::parse(&self.currency.base).is_none() {
            issue(
                "currency.base",
                "is not a three-letter currency code".into(),
            );
        }
        if self.auction.campaign_wins_per_request_max == 0 {
            issue(
                "auction.campaign_wins_per_request_max",
                "must be at least 1".into(),
            );
        }
        if !(self.tracking.public_url.starts_with("http://")
            || self.tracking.public_url.starts_with("https://"))
        {
            issue(
                "tracking.public_url",
                "must start with http:// or https://".into(),
            );
        }
        if self.tracking.token_ttl_s == 0 || self.tracking.token_ttl_s > 30 * 86_400 {
            issue(
                "tracking.token_ttl_s",
                "must be between 1 and 2592000 (30 days)".into(),
            );
        }
        if !(1..=1000).contains(&self.delivery.budget_exchange_interval_ms) {
            issue(
                "delivery.budget_exchange_interval_ms",
                "must be between 1 and 1000".into(),
            );
        }
        if !(1..=1_000_000_000_000).contains(&self.delivery.budget_shard_allowance_micros) {
            issue(
                "delivery.budget_shard_allowance_micros",
                "must be between 1 and 1e12".into(),
            );
        }
        if !(10..=60_000).contains(&self.delivery.pacing_update_interval_ms) {
            issue(
                "delivery.pacing_update_interval_ms",
                "must be between 10 and 60000".into(),
            );
        }
        if !(1..=(1 << 26)).contains(&self.delivery.freqcap_users_per_shard_max) {
            issue(
                "delivery.freqcap_users_per_shard_max",
                "must be between 1 and 67108864".into(),
            );
        }
        if WindowSize::for_rate(
            self.tracking.bids_per_shard_per_s_max,
            self.tracking.hold_s(),
        )
        .is_none()
        {
            issue(
                "tracking.bids_per_shard_per_s_max",
                format!("must be between 1 and {BIDS_PER_S_CEILING}, and times token_ttl_s (+60 s) at most {WINDOW_SEQUENCES_CEILING} bids (1 GiB of dedupe window per shard)"),
            );
        }
        if !self.tracking.secret.is_empty()
            && self.tracking.secret.len() < TRACKING_SECRET_BYTES_MIN
        {
            issue(
                "tracking.secret",
                format!("must be at least {TRACKING_SECRET_BYTES_MIN} random bytes; empty uses $ADSHARD_TRACKING_SECRET"),
            );
        }
        if !(1..=CONNECTIONS_PER_SHARD_CEILING).contains(&http.connections_per_shard_max) {
            issue(
                "http.connections_per_shard_max",
                format!("must be between 1 and {CONNECTIONS_PER_SHARD_CEILING}"),
            );
        }
        for (field, reason) in http.problems() {
            issue(field, reason);
        }
        self.validate_fanout(&mut issue);
        for (field, reason) in self.overload.problems() {
            issue(field, reason);
        }
        issues
    }

    fn validate_fanout(&self, issue: &mut dyn FnMut(&str, String)) {
        let fanout = &self.fanout;
        if !(1..=10_000).contains(&fanout.tmax_max_ms) {
            issue("fanout.tmax_max_ms", "must be between 1 and 10000".into());
        }
        if fanout.response_reserve_ms >= fanout.tmax_max_ms {
            issue(
                "fanout.response_reserve_ms",
                "must be below fanout.tmax_max_ms".into(),
            );
        }
        if fanout.network_buffer_ms >= fanout.tmax_max_ms {
            issue(
                "fanout.network_buffer_ms",
                "must be below fanout.tmax_max_ms".into(),
            );
        }
        if !(1..=fanout.tmax_max_ms.max(1)).contains(&fanout.bidder_time_min_ms) {
            issue(
                "fanout.bidder_time_min_ms",
                "must be between 1 and fanout.tmax_max_ms".into(),
            );
        }
        if !(1024..=16 * 1024 * 1024).contains(&fanout.response_bytes_max) {
            issue(
                "fanout.response_bytes_max",
                "must be between 1024 and 16777216".into(),
            );
        }
        if let Some(reason) = price_cpm_max_problem(fanout.price_cpm_max) {
            issue("fanout.price_cpm_max", reason);
        }
        if self.bidders.len() > BIDDERS_MAX {
            issue(
                "bidders",
                format!(
                    "at most {BIDDERS_MAX} bidders, found {}",
                    self.bidders.len()
                ),
            );
        }
        for (idx, bidder) in self.bidders.iter().enumerate() {
            let field = |name: &str| format!("bidders[{idx}].{name}");
            if bidder.name.is_empty()
                || bidder.name.len() > 64
                || !bidder
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                issue(
                    &field("name"),
                    "must be 1-64 characters of letters, digits, '-' and '_'".into(),
                );
            }
            if self.bidders[..idx].iter().any(|b| b.name == bidder.name) {
                issue(&field("name"), format!("`{}` is used twice", bidder.name));
            }
            if let Err(error) = crate::bidders::client::BidderEndpoint::parse(&bidder.endpoint) {
                issue(&field("endpoint"), error.to_string());
            }
            if !(1..=10_000).contains(&bidder.timeout_ms) {
                issue(&field("timeout_ms"), "must be between 1 and 10000".into());
            }
            if !(1..=BIDDER_CONNECTIONS_CEILING).contains(&bidder.connections_per_shard_max) {
                issue(
                    &field("connections_per_shard_max"),
                    format!("must be between 1 and {BIDDER_CONNECTIONS_CEILING}"),
                );
            }
            if bidder.connections_warm > bidder.connections_per_shard_max {
                issue(
                    &field("connections_warm"),
                    "must be at most connections_per_shard_max".into(),
                );
            }
            if bidder.media.is_empty() {
                issue(&field("media"), "must name at least one media kind".into());
            }
            for kind in &bidder.media {
                if crate::bidders::media_kind(kind).is_none() {
                    issue(
                        &field("media"),
                        format!("`{kind}` is not one of banner, video, audio, native"),
                    );
                }
            }
            if let Some(reason) = bidder.price_cpm_max.and_then(price_cpm_max_problem) {
                issue(&field("price_cpm_max"), reason);
            }
        }
    }
}

/// Why a bidder price cap (CPM in the base currency) cannot be used, if it cannot.
fn price_cpm_max_problem(price_cpm_max: f64) -> Option<String> {
    // NaN fails the range check too.
    if (price_cpm_max > 0.0) && price_cpm_max <= PRICE_CPM_CEILING {
        return None;
    }
    Some(format!(
        "must be above 0 and at most {PRICE_CPM_CEILING} (CPM in currency.base)"
    ))
}

/// Parses a CPU list as the kernel writes them: "3", "2-5", "0,2-3". Empty means "all online".
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    /// A CPU id beyond this is a typo, not a machine.
    const CPU_ID_MAX: usize = 4095;
    let mut cpus = Vec::new();
    let text = text.trim();
    if text.is_empty() {
        return Ok(cpus);
    }
    for part in text.split(',') {
        let part = part.trim();
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let first: usize = first
            .parse()
            .map_err(|_| format!("{part:?} is not a CPU number or range"))?;
        let last: usize = last
            .parse()
            .map_err(|_| format!("{part:?} is not a CPU number or range"))?;
        if first > last {
            return Err(format!("range {part:?} runs backwards"));
        }
        if last > CPU_ID_MAX {
            return Err(format!("CPU {last} is beyond {CPU_ID_MAX}"));
        }
        for cpu in first..=last {
            if cpus.contains(&cpu) {
                return Err(format!("CPU {cpu} is listed twice"));
            }
            cpus.push(cpu);
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list(""), Ok(vec![]));
        assert_eq!(parse_cpu_list("1"), Ok(vec![1]));
        assert_eq!(parse_cpu_list("2-5"), Ok(vec![2, 3, 4, 5]));
        assert_eq!(parse_cpu_list("0, 2-3"), Ok(vec![0, 2, 3]));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("1,1").is_err());
    }

    #[test]
    fn empty_file_is_the_default() {
        let config = Config::parse("", Path::new("a.toml")).unwrap();
        assert_eq!(config.http.body_bytes_max, 64 * 1024);
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let err = Config::parse("[http]\nbody_bytes_maxx = 3\n", Path::new("a.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("a.toml: http"), "{text}");
        assert!(text.contains("body_bytes_maxx"), "{text}");
    }

    #[test]
    fn wrong_type_names_field() {
        let err =
            Config::parse("[http]\nbody_bytes_max = \"big\"\n", Path::new("a.toml")).unwrap_err();
        assert_eq!(err.issues[0].field, "http.body_bytes_max");
    }

    #[test]
    fn every_semantic_issue_is_reported() {
        let err = Config::parse(
            "[server]\ncpus = \"9-2\"\n[http]\nbody_bytes_max = 1\nidle_timeout_ms = 0\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            ["server.cpus", "http.body_bytes_max", "http.idle_timeout_ms"]
        );
    }
}
