//! `adshard-events`: the operator's view of a server's durable event log (`adshard::eventlog`),
//! which is binary and checksummed, so neither `cat` nor `grep` can read it. One module per
//! command:
//!
//! - `print`: records as JSON lines, campaign ids resolved through the log's dictionary;
//! - `verify`: every segment's header, frames, checksums and sequence, with torn tails (fine
//!   after a crash) told apart from damage before the tail;
//! - `summary`: spend and counts per campaign and UTC day, from the checkpoints and the log;
//! - `check`: that summary against a running server's `/stats` (`stats_http` fetches it).
//!
//! Frames and segments are read only through `eventlog::segment::scan` and
//! `eventlog::read::replay`, the engine's own reader: the tool cannot disagree with recovery
//! about what a log holds. `target` resolves what a command was pointed at.

pub mod check;
pub mod print;
pub mod stats_http;
pub mod summary;
pub mod target;
pub mod verify;

use std::fs;
use std::path::Path;

use adshard::eventlog::config::SEGMENT_BYTES_CEILING;
use adshard::eventlog::Record;
use adshard::tracking::EventKind;
use anyhow::{ensure, Context};

/// Largest segment file read: a segment is rotated once past `segment_bytes` (at most
/// [`SEGMENT_BYTES_CEILING`]), so one commit beyond it at most; a file twice that size is not
/// a segment the server wrote.
pub const SEGMENT_FILE_BYTES_MAX: u64 = 2 * SEGMENT_BYTES_CEILING;

/// A shard's campaign dictionary as its log defines it: the last `Campaigns` record read.
/// Records name campaigns by an index into it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dictionary {
    ids: Vec<String>,
}

impl Dictionary {
    /// A dictionary of `ids` in index order (a checkpoint's campaign ids: the catalog order
    /// the shard's records use from then on).
    pub fn from_ids(ids: Vec<String>) -> Dictionary {
        Dictionary { ids }
    }

    /// Takes a `Campaigns` record as the dictionary from here on; other records change nothing.
    pub fn observe(&mut self, record: &Record<'_>) {
        if let Record::Campaigns(ids) = record {
            self.ids = ids.iter().map(|id| (*id).to_owned()).collect();
        }
    }

    /// The id of campaign index `campaign_idx`, if the dictionary read so far has it.
    pub fn resolve(&self, campaign_idx: u32) -> Option<&str> {
        self.ids.get(campaign_idx as usize).map(String::as_str)
    }
}

/// The name `print` and `summary` give an event kind.
pub fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Win => "win",
        EventKind::Billing => "billing",
        EventKind::Impression => "impression",
        EventKind::Click => "click",
        EventKind::Loss => "loss",
    }
}

/// The UTC day of a Unix time, in days since 1970-01-01.
pub fn utc_day(unix_s: i64) -> i64 {
    unix_s.div_euclid(86_400)
}

/// A UTC day as `YYYY-MM-DD` (`day N` outside the years RFC 3339 can write).
pub fn format_day(day: i64) -> String {
    day.checked_mul(86_400)
        .and_then(adshard::campaign::data::rfc3339::format_unix_s)
        .and_then(|text| text.get(..10).map(str::to_owned))
        .unwrap_or_else(|| format!("day {day}"))
}

/// A segment file's bytes, refused beyond [`SEGMENT_FILE_BYTES_MAX`].
pub fn read_segment_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    ensure!(
        len <= SEGMENT_FILE_BYTES_MAX,
        "{}: {len} bytes, larger than any segment the server writes ({SEGMENT_FILE_BYTES_MAX})",
        path.display()
    );
    fs::read(path).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_format_as_utc_dates() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(-1), -1);
        assert_eq!(format_day(utc_day(1_767_225_600)), "2026-01-01");
        assert_eq!(format_day(utc_day(1_767_225_599)), "2025-12-31");
        assert_eq!(
            format_day(i64::MAX / 86_400),
            format!("day {}", i64::MAX / 86_400)
        );
    }

    #[test]
    fn the_last_dictionary_names_the_campaigns() {
        let mut dictionary = Dictionary::default();
        assert_eq!(dictionary.resolve(0), None);
        dictionary.observe(&Record::Campaigns(vec!["a", "b"]));
        assert_eq!(dictionary.resolve(1), Some("b"));
        dictionary.observe(&Record::Campaigns(vec!["c"]));
        assert_eq!(dictionary.resolve(0), Some("c"));
        assert_eq!(dictionary.resolve(1), None);
    }
}
