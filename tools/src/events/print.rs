//! `adshard-events print`: a segment, a shard's log or every shard of the current generation
//! as JSON lines, one per record: `lsn`, `type`, then the record's fields, with the campaign's
//! id next to its index wherever the log's dictionary names it. Keys keep a fixed order (`lsn`
//! and `type` first) so the lines read well and `grep`/`jq` alike.

use std::io::Write;
use std::path::Path;

use adshard::eventlog::read::{replay, segment_files};
use adshard::eventlog::segment::{parse_file_name, scan, Ending, SegmentHeader};
use adshard::eventlog::{Lsn, Record};
use anyhow::Context;
use serde_json::{json, Value};

use super::target::{LogTarget, ShardDir};
use super::{kind_name, read_segment_file, Dictionary};

/// What printing met besides records, for standard error.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PrintReport {
    pub records: u64,
    /// Torn tails and damage, one sentence each.
    pub problems: Vec<String>,
    /// Damage before a tail was met: records after it were not printed.
    pub damaged: bool,
}

/// Prints every record of `target` with an lsn at or above `from_lsn` to `out`.
pub fn print(
    target: &LogTarget,
    from_lsn: Lsn,
    out: &mut dyn Write,
) -> anyhow::Result<PrintReport> {
    let mut report = PrintReport::default();
    match target {
        LogTarget::Segment(path) => print_segment(path, from_lsn, out, &mut report)?,
        LogTarget::Log { shards, .. } => {
            for shard in shards {
                print_shard(shard, true, from_lsn, out, &mut report)?;
            }
        }
        LogTarget::Shard(shard) => print_shard(shard, false, from_lsn, out, &mut report)?,
    }
    Ok(report)
}

fn print_shard(
    shard: &ShardDir,
    with_shard: bool,
    from_lsn: Lsn,
    out: &mut dyn Write,
    report: &mut PrintReport,
) -> anyhow::Result<()> {
    let shard_idx = shard.shard_idx.filter(|_| with_shard);
    let mut dictionary = Dictionary::default();
    let mut written: std::io::Result<()> = Ok(());
    let summary = replay(&shard.path, 0, true, |lsn, record| {
        dictionary.observe(record);
        if lsn >= from_lsn && written.is_ok() {
            written = writeln!(out, "{}", record_line(shard_idx, lsn, record, &dictionary));
            report.records += 1;
        }
    })?;
    written?;
    if let Some((path, offset, bytes)) = summary.torn_tail {
        report.problems.push(format!(
            "{}: torn tail at offset {offset} ({bytes} bytes cut): fine after a crash",
            path.display()
        ));
    }
    for (path, offset, reason) in summary.skipped {
        report.damaged = true;
        report.problems.push(format!(
            "{}: DAMAGED at offset {offset} ({reason}): the rest of this segment was not printed",
            path.display()
        ));
    }
    Ok(())
}

fn print_segment(
    path: &Path,
    from_lsn: Lsn,
    out: &mut dyn Write,
    report: &mut PrintReport,
) -> anyhow::Result<()> {
    let bytes = read_segment_file(path)?;
    let header = SegmentHeader::decode(&bytes)
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
    let mut dictionary = earlier_dictionary(path, header.first_lsn);
    let mut written: std::io::Result<()> = Ok(());
    let ending = scan(&bytes, header.first_lsn, |lsn, record| {
        dictionary.observe(&record);
        if lsn >= from_lsn && written.is_ok() {
            written = writeln!(out, "{}", record_line(None, lsn, &record, &dictionary));
            report.records += 1;
        }
    });
    written.with_context(|| "writing the records")?;
    match ending {
        Ending::Clean { .. } => {}
        Ending::Torn { offset, reason } => report.problems.push(format!(
            "{}: torn tail at offset {offset} ({reason}, {} bytes cut): fine after a crash",
            path.display(),
            bytes.len() - offset
        )),
        Ending::Damaged {
            offset,
            reason,
            valid_after,
        } => {
            report.damaged = true;
            report.problems.push(format!(
                "{}: DAMAGED at offset {offset} ({reason}), valid frame at offset {valid_after}: \
                 the rest of this segment was not printed",
                path.display()
            ));
        }
    }
    Ok(())
}

/// The dictionary in force where the segment at `path` starts: the last one its shard's earlier
/// segments define. Best effort: a segment copied out of its directory, or earlier segments
/// that cannot be read, leave indexes unresolved rather than fail the print.
fn earlier_dictionary(path: &Path, first_lsn: Lsn) -> Dictionary {
    let mut dictionary = Dictionary::default();
    let named = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(parse_file_name);
    let (Some(_), Some(dir)) = (named, path.parent()) else {
        return dictionary;
    };
    let Ok(segments) = segment_files(dir) else {
        return dictionary;
    };
    for (earlier_lsn, earlier) in segments.iter().filter(|(lsn, _)| *lsn < first_lsn) {
        let Ok(bytes) = read_segment_file(earlier) else {
            continue;
        };
        if SegmentHeader::decode(&bytes).is_ok() {
            scan(&bytes, *earlier_lsn, |_, record| {
                dictionary.observe(&record)
            });
        }
    }
    dictionary
}

/// One record as a JSON line: `lsn`, `type`, then its fields (and `shard` first when given).
pub fn record_line(
    shard_idx: Option<usize>,
    lsn: Lsn,
    record: &Record<'_>,
    dictionary: &Dictionary,
) -> String {
    let mut fields: Vec<(&str, Value)> = Vec::with_capacity(12);
    if let Some(shard_idx) = shard_idx {
        fields.push(("shard", json!(shard_idx)));
    }
    fields.push(("lsn", json!(lsn)));
    fields.push(("type", json!(record.type_name())));
    let campaign = |idx: u32| json!(dictionary.resolve(idx));
    match record {
        Record::Run(r) => fields.extend([
            ("shard_idx", json!(r.shard_idx)),
            ("n_shards", json!(r.n_shards)),
            ("window_base", json!(r.window_base)),
            ("at_unix_s", json!(r.at_unix_s)),
        ]),
        Record::Campaigns(ids) => fields.push(("ids", json!(ids))),
        Record::Bid(r) => fields.extend([
            ("sequence", json!(r.sequence)),
            ("campaign", campaign(r.campaign)),
            ("campaign_idx", json!(r.campaign)),
            ("committed_micros", json!(r.committed_micros)),
            ("at_unix_s", json!(r.at_unix_s)),
        ]),
        Record::Event(r) => fields.extend([
            ("kind", json!(kind_name(r.kind))),
            ("sequence", json!(r.sequence)),
            ("campaign", campaign(r.campaign)),
            ("campaign_idx", json!(r.campaign)),
            ("spend_micros", json!(r.spend_micros)),
            ("committed_micros", json!(r.committed_micros)),
            ("issued_unix_s", json!(r.issued_unix_s)),
            ("user_key", json!(r.user_key)),
            (
                "spend_on",
                json!(match r.spend_on {
                    adshard::campaign::SpendOn::Win => "win",
                    adshard::campaign::SpendOn::Impression => "impression",
                }),
            ),
            ("loss_reason", json!(r.loss_reason.label())),
            ("at_unix_s", json!(r.at_unix_s)),
        ]),
        Record::Traffic(r) => fields.extend([
            ("at_unix_s", json!(r.at_unix_s)),
            ("requests", json!(r.requests)),
        ]),
        Record::NoBid(r) => {
            fields.extend([("at_unix_s", json!(r.at_unix_s)), ("imps", json!(r.imps))])
        }
    }
    ordered_object(&fields)
}

/// A JSON object with its keys in the given order (serde_json's map would sort them).
fn ordered_object(fields: &[(&str, Value)]) -> String {
    let mut line = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(*key).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use adshard::eventlog::{BidRecord, EventRecord};
    use adshard::tracking::EventKind;

    use super::*;

    #[test]
    fn lines_lead_with_lsn_and_type_and_resolve_campaigns() {
        let mut dictionary = Dictionary::default();
        dictionary.observe(&Record::Campaigns(vec!["c-\"1\"", "c-2"]));
        let bid = Record::Bid(BidRecord {
            sequence: 9,
            campaign: 0,
            committed_micros: 1500,
            at_unix_s: 100,
        });
        assert_eq!(
            record_line(Some(2), 5, &bid, &dictionary),
            r#"{"shard":2,"lsn":5,"type":"bid","sequence":9,"campaign":"c-\"1\"","campaign_idx":0,"committed_micros":1500,"at_unix_s":100}"#
        );
        let event = Record::Event(EventRecord {
            kind: EventKind::Billing,
            sequence: 9,
            campaign: 7,
            spend_micros: 1200,
            committed_micros: 1500,
            issued_unix_s: 100,
            user_key: 3,
            spend_on: adshard::campaign::SpendOn::Impression,
            loss_reason: adshard::tracking::LossReason::Unknown,
            at_unix_s: 101,
        });
        let line = record_line(None, 6, &event, &dictionary);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert!(line.starts_with(r#"{"lsn":6,"type":"event","kind":"billing""#));
        assert_eq!(
            value["campaign"],
            Value::Null,
            "index 7 is not in the dictionary"
        );
        assert_eq!(value["spend_micros"], 1200);
    }
}
