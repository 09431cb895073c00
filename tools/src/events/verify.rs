//! `adshard-events verify`: checks a log file by file, the way recovery will read it, and says
//! before a restart whether it will succeed. Per segment: the header (magic, version, CRC,
//! the shard and generation it belongs to, the first lsn its name promises), then every
//! frame's length, CRC32C and sequence, through `eventlog::segment::scan`. Per shard: the
//! checkpoint, and that the segments continue each other and the checkpoint without a gap.
//!
//! A torn tail (the last commit before a crash reached the disk only in part; nothing in it was
//! acknowledged) is reported and is fine: recovery cuts it. Damage before the tail, an
//! unreadable header or checkpoint, or missing records are not: they make the exit status 1.

use std::path::{Path, PathBuf};

use adshard::eventlog::read::{read_checkpoint, segment_files};
use adshard::eventlog::segment::{parse_file_name, scan, Ending, SegmentHeader};
use adshard::eventlog::Lsn;

use super::read_segment_file;
use super::target::{LogTarget, ShardDir};

/// How one segment file reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every frame whole, up to the end of the data or the zero padding.
    Clean,
    /// A damaged frame at `offset` with nothing valid after it: cut at recovery.
    Torn {
        offset: usize,
        reason: &'static str,
        bytes_cut: usize,
    },
    /// A damaged frame at `offset` with a valid frame after it, at `valid_after`.
    Damaged {
        offset: usize,
        reason: &'static str,
        valid_after: usize,
    },
    /// The file cannot be read as a segment of this shard: why.
    Unreadable(String),
}

/// What one segment file holds and how it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCheck {
    pub path: PathBuf,
    /// The header's shard and first lsn (`None` and 0 when the header is unreadable).
    pub shard_idx: Option<u16>,
    pub first_lsn: Lsn,
    pub records: u64,
    /// The lsn of the last whole record, if any.
    pub last_lsn: Option<Lsn>,
    pub bytes: usize,
    pub verdict: Verdict,
}

impl SegmentCheck {
    /// The lsn a following segment should start at, when this one was read to its end.
    fn next_lsn(&self) -> Option<Lsn> {
        match self.verdict {
            Verdict::Clean | Verdict::Torn { .. } => Some(
                self.last_lsn
                    .map_or(self.first_lsn, |lsn| lsn.saturating_add(1)),
            ),
            Verdict::Damaged { .. } | Verdict::Unreadable(_) => None,
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let path = self.path.display();
        let records = match self.last_lsn {
            Some(last) => format!("{} records (lsn {}..={last})", self.records, self.first_lsn),
            None => "no records".to_owned(),
        };
        match &self.verdict {
            Verdict::Clean => format!("{path}: ok, {records}, {} bytes", self.bytes),
            Verdict::Torn {
                offset,
                reason,
                bytes_cut,
            } => format!(
                "{path}: torn tail at offset {offset} ({reason}), {bytes_cut} bytes cut at \
                 recovery; {records} before it: fine after a crash"
            ),
            Verdict::Damaged {
                offset,
                reason,
                valid_after,
            } => format!(
                "{path}: DAMAGED at offset {offset} ({reason}), a valid frame follows at offset \
                 {valid_after}; {records} before the damage"
            ),
            Verdict::Unreadable(reason) => format!("{path}: UNREADABLE: {reason}"),
        }
    }
}

/// What the header of a segment must say: its shard and generation, when known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub shard_idx: Option<u16>,
    pub generation: Option<u64>,
}

/// Reads and checks one segment file.
pub fn check_segment(path: &Path, expected: Expected) -> SegmentCheck {
    let mut check = SegmentCheck {
        path: path.to_owned(),
        shard_idx: None,
        first_lsn: 0,
        records: 0,
        last_lsn: None,
        bytes: 0,
        verdict: Verdict::Clean,
    };
    let bytes = match read_segment_file(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            check.verdict = Verdict::Unreadable(format!("{error:#}"));
            return check;
        }
    };
    check.bytes = bytes.len();
    let header = match SegmentHeader::decode(&bytes) {
        Ok(header) => header,
        Err(reason) => {
            check.verdict = Verdict::Unreadable(reason.to_owned());
            return check;
        }
    };
    check.first_lsn = header.first_lsn;
    check.shard_idx = Some(header.shard_idx);
    if let Some(problem) = header_problem(path, &header, expected) {
        check.verdict = Verdict::Unreadable(problem);
        return check;
    }
    let ending = scan(&bytes, header.first_lsn, |lsn, _| {
        check.records += 1;
        check.last_lsn = Some(lsn);
    });
    check.verdict = match ending {
        Ending::Clean { .. } => Verdict::Clean,
        Ending::Torn { offset, reason } => Verdict::Torn {
            offset,
            reason,
            bytes_cut: bytes.len() - offset,
        },
        Ending::Damaged {
            offset,
            reason,
            valid_after,
        } => Verdict::Damaged {
            offset,
            reason,
            valid_after,
        },
    };
    check
}

fn header_problem(path: &Path, header: &SegmentHeader, expected: Expected) -> Option<String> {
    let named = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(parse_file_name);
    if let Some(named) = named.filter(|&lsn| lsn != header.first_lsn) {
        return Some(format!(
            "named for lsn {named}, the header says its first lsn is {}",
            header.first_lsn
        ));
    }
    if let Some(shard_idx) = expected.shard_idx.filter(|&idx| idx != header.shard_idx) {
        return Some(format!(
            "the header says shard {}, the directory is shard {shard_idx}",
            header.shard_idx
        ));
    }
    if let Some(generation) = expected.generation.filter(|&g| g != header.generation) {
        return Some(format!(
            "the header says generation {}, CURRENT names generation {generation}",
            header.generation
        ));
    }
    None
}

/// What verifying found: a line per file and per problem, and the counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub lines: Vec<String>,
    pub files: usize,
    pub records: u64,
    pub torn_tails: usize,
    /// Damage before a tail, unreadable files, missing records: each makes the log unfit to
    /// recover from as it is.
    pub damaged: usize,
}

impl VerifyReport {
    fn add_segment(&mut self, check: &SegmentCheck) {
        self.files += 1;
        self.records += check.records;
        match check.verdict {
            Verdict::Clean => {}
            Verdict::Torn { .. } => self.torn_tails += 1,
            Verdict::Damaged { .. } | Verdict::Unreadable(_) => self.damaged += 1,
        }
        self.lines.push(check.describe());
    }

    fn problem(&mut self, line: String) {
        self.damaged += 1;
        self.lines.push(line);
    }

    /// The closing line.
    pub fn conclusion(&self) -> String {
        let verdict = if self.damaged > 0 {
            "DAMAGED: recovery will stop at the damage (see above)"
        } else if self.torn_tails > 0 {
            "ok: torn tails only, cut at recovery"
        } else {
            "ok"
        };
        format!(
            "{} files, {} records, {} torn tails, {} problems: {verdict}",
            self.files, self.records, self.torn_tails, self.damaged
        )
    }
}

/// Verifies every file `target` names.
pub fn verify(target: &LogTarget) -> VerifyReport {
    let mut report = VerifyReport::default();
    match target {
        LogTarget::Segment(path) => report.add_segment(&check_segment(path, Expected::default())),
        LogTarget::Log { shards, .. } => {
            for shard in shards {
                verify_shard(shard, &mut report);
            }
        }
        LogTarget::Shard(shard) => verify_shard(shard, &mut report),
    }
    report
}

fn verify_shard(shard: &ShardDir, report: &mut VerifyReport) {
    let dir = shard.path.display();
    if !shard.path.is_dir() {
        report.problem(format!(
            "{dir}: MISSING: the shard directory CURRENT promises"
        ));
        return;
    }
    let mut expected = Expected {
        shard_idx: shard.shard_idx.and_then(|idx| u16::try_from(idx).ok()),
        generation: shard.generation,
    };
    let checkpoint_lsn = verify_checkpoint(shard, &mut expected, report);
    let segments = match segment_files(&shard.path) {
        Ok(segments) => segments,
        Err(error) => return report.problem(format!("{dir}: UNREADABLE: {error}")),
    };
    // The lsn the next segment should start at: after the checkpoint, then after each segment
    // (unknown after a damaged one).
    let after_checkpoint = checkpoint_lsn.map(|lsn| lsn.saturating_add(1));
    let mut next_lsn = after_checkpoint;
    for (_, path) in &segments {
        let check = check_segment(path, expected);
        let readable = matches!(check.verdict, Verdict::Clean | Verdict::Torn { .. });
        match next_lsn {
            Some(next) if readable && check.first_lsn > next => report.problem(format!(
                "{}: GAP: records {next}..={} are in no segment (the segment before, or the \
                 checkpoint, ends at lsn {})",
                path.display(),
                check.first_lsn - 1,
                next.saturating_sub(1)
            )),
            // Segments the checkpoint already covers start before it: that is retention.
            Some(next) if readable && check.first_lsn < next && next_lsn != after_checkpoint => {
                report.lines.push(format!(
                    "{}: starts at lsn {}, inside the segment before (a commit that failed and \
                     was written again): that segment's copies from lsn {} on are ignored",
                    path.display(),
                    check.first_lsn,
                    check.first_lsn
                ))
            }
            _ => {}
        }
        expected.shard_idx = expected.shard_idx.or(check.shard_idx);
        report.add_segment(&check);
        next_lsn = check.next_lsn();
    }
}

/// Checks the shard's checkpoint and returns the lsn it includes the log up to.
fn verify_checkpoint(
    shard: &ShardDir,
    expected: &mut Expected,
    report: &mut VerifyReport,
) -> Option<Lsn> {
    let dir = shard.path.display();
    match read_checkpoint(&shard.path) {
        Ok(None) => {
            report.lines.push(format!("{dir}: no checkpoint"));
            None
        }
        Ok(Some((header, state))) => {
            if expected
                .shard_idx
                .is_some_and(|idx| idx != header.shard_idx)
                || expected.generation.is_some_and(|g| g != header.generation)
            {
                report.problem(format!(
                    "{dir}: checkpoint UNREADABLE: it says shard {} of generation {}, not this \
                     directory's",
                    header.shard_idx, header.generation
                ));
                return None;
            }
            expected.shard_idx = Some(header.shard_idx);
            report.lines.push(format!(
                "{dir}: checkpoint ok: {} bytes of state, includes the log up to lsn {}",
                state.len(),
                header.log_position
            ));
            Some(header.log_position)
        }
        Err(error) => {
            report.problem(format!("{dir}: checkpoint UNREADABLE: {error}"));
            None
        }
    }
}
