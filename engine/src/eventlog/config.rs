//! The event log's configuration (`[events]` in the config file). Owned by `eventlog`;
//! `config` gathers it with the other sections and resolves `dir` against the config file.

use std::path::PathBuf;

use serde::Deserialize;

/// Shortest group-commit interval accepted: below it fdatasync calls only queue up.
pub const COMMIT_INTERVAL_US_MIN: u64 = 50;
/// Longest: a tracking call waits up to this long for its commit.
pub const COMMIT_INTERVAL_US_CEILING: u64 = 100_000;
/// Largest `commit_bytes_max`: one commit's buffer is allocated from the shard's I/O memory.
pub const COMMIT_BYTES_CEILING: usize = 4 << 20;
/// Largest `segment_bytes`.
pub const SEGMENT_BYTES_CEILING: u64 = 1 << 30;
/// Most segments `retention_segments` may keep.
pub const RETENTION_SEGMENTS_CEILING: usize = 100_000;
/// Longest checkpoint interval: recovery replays at most this much log.
pub const CHECKPOINT_INTERVAL_S_CEILING: u64 = 86_400;

/// Which auctions without a bid of ours are logged: `"off"` or a sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum LogNoBids {
    /// `"off"`: none (the default: a no-bid changes no state).
    Word(NoBidsWord),
    /// A share in (0, 1]: that fraction of them, drawn at random.
    Sampled(f64),
}

impl Default for LogNoBids {
    fn default() -> Self {
        LogNoBids::Word(NoBidsWord::Off)
    }
}

/// The words `log_no_bids` takes besides a sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoBidsWord {
    Off,
}

impl LogNoBids {
    /// The share of no-bid auctions logged: 0 when off.
    pub fn rate(self) -> f64 {
        match self {
            LogNoBids::Word(NoBidsWord::Off) => 0.0,
            LogNoBids::Sampled(rate) => rate,
        }
    }
}

/// The durable event log (`eventlog`): where, how often it commits, how it rotates and keeps
/// segments, how often state is checkpointed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Keep the log. Off: nothing survives a restart (spend, caps, dedupe, pacing start over and
    /// the previous run's tokens are refused); for measurements and throwaway demos only.
    pub enabled: bool,
    /// Directory of the log and checkpoints. Empty: `data/` next to the config file, or
    /// `./adshard-data` for the embedded demo. Must be writable: a start error otherwise.
    pub dir: PathBuf,
    /// Group commit: the longest a tracking call waits before its record's commit starts.
    pub commit_interval_us: u64,
    /// Group commit: a commit starts as soon as this many bytes are waiting.
    pub commit_bytes_max: usize,
    /// A segment is closed and a new one started beyond this size.
    pub segment_bytes: u64,
    /// Closed segments kept once a checkpoint covers them (older ones are deleted). A segment
    /// holding records after the last checkpoint is never deleted.
    pub retention_segments: usize,
    /// Bytes of covered segments kept per shard beyond which the oldest are deleted, whatever
    /// `retention_segments` says; 0: no byte limit. (The segment being written and those after
    /// the last checkpoint are always kept.)
    pub retention_bytes: u64,
    /// How often each shard writes a checkpoint of its state.
    pub checkpoint_interval_s: u64,
    /// Auctions without a bid of ours to log: `"off"` or a sampling rate in (0, 1].
    pub log_no_bids: LogNoBids,
    /// Recover past a segment damaged before its tail, losing the rest of that segment (said
    /// loudly). Not a config key: only `serve --skip-damaged-segments` sets it, for the one
    /// start an operator chose it for.
    #[serde(skip)]
    pub skip_damaged_segments: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            dir: PathBuf::new(),
            // A tracking call waits about a commit interval plus one fdatasync; exchanges
            // allow their notices hundreds of milliseconds.
            commit_interval_us: 1_000,
            commit_bytes_max: 256 * 1024,
            segment_bytes: 64 << 20,
            retention_segments: 16,
            retention_bytes: 0,
            checkpoint_interval_s: 60,
            log_no_bids: LogNoBids::default(),
            skip_damaged_segments: false,
        }
    }
}

impl EventsConfig {
    /// Every problem with the section, as (field, reason).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(COMMIT_INTERVAL_US_MIN..=COMMIT_INTERVAL_US_CEILING).contains(&self.commit_interval_us)
        {
            problems.push((
                "events.commit_interval_us",
                format!("must be {COMMIT_INTERVAL_US_MIN}..={COMMIT_INTERVAL_US_CEILING}"),
            ));
        }
        if !(4096..=COMMIT_BYTES_CEILING).contains(&self.commit_bytes_max) {
            problems.push((
                "events.commit_bytes_max",
                format!("must be 4096..={COMMIT_BYTES_CEILING}"),
            ));
        }
        if !(64 * 1024..=SEGMENT_BYTES_CEILING).contains(&self.segment_bytes) {
            problems.push((
                "events.segment_bytes",
                format!("must be 65536..={SEGMENT_BYTES_CEILING}"),
            ));
        }
        if !(1..=RETENTION_SEGMENTS_CEILING).contains(&self.retention_segments) {
            problems.push((
                "events.retention_segments",
                format!("must be 1..={RETENTION_SEGMENTS_CEILING}"),
            ));
        }
        if !(1..=CHECKPOINT_INTERVAL_S_CEILING).contains(&self.checkpoint_interval_s) {
            problems.push((
                "events.checkpoint_interval_s",
                format!("must be 1..={CHECKPOINT_INTERVAL_S_CEILING}"),
            ));
        }
        let rate = self.log_no_bids.rate();
        if let LogNoBids::Sampled(_) = self.log_no_bids {
            if !(rate > 0.0 && rate <= 1.0) {
                problems.push((
                    "events.log_no_bids",
                    "must be \"off\" or a sampling rate in (0, 1]".to_string(),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EventsConfig, String> {
        #[derive(Deserialize)]
        struct Doc {
            events: EventsConfig,
        }
        toml_edit::de::from_str::<Doc>(text)
            .map(|doc| doc.events)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn log_no_bids_takes_off_or_a_rate() {
        assert_eq!(parse("[events]\n").unwrap().log_no_bids.rate(), 0.0);
        let off = parse("[events]\nlog_no_bids = \"off\"\n").unwrap();
        assert_eq!(off.log_no_bids.rate(), 0.0);
        assert!(off.problems().is_empty());
        let sampled = parse("[events]\nlog_no_bids = 0.01\n").unwrap();
        assert_eq!(sampled.log_no_bids.rate(), 0.01);
        assert!(sampled.problems().is_empty());
        assert!(parse("[events]\nlog_no_bids = \"sometimes\"\n").is_err());
        let too_much = parse("[events]\nlog_no_bids = 2.0\n").unwrap();
        assert_eq!(too_much.problems()[0].0, "events.log_no_bids");
    }

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        assert!(EventsConfig::default().problems().is_empty());
        let bad = EventsConfig {
            commit_interval_us: 0,
            commit_bytes_max: 1,
            segment_bytes: 1,
            retention_segments: 0,
            checkpoint_interval_s: 0,
            ..EventsConfig::default()
        };
        assert_eq!(bad.problems().len(), 5);
    }
}
