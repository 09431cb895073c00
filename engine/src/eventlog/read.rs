//! Reading a shard's log back at start (and in `adshard-events`): its checkpoint, then its
//! segments in order, every record after a given lsn handed to a callback. Plain std I/O:
//! recovery runs before the shards start, one segment in memory at a time (in one buffer
//! reused from segment to segment: a fresh allocation per segment cost a page fault and a
//! zeroed page per 4 KiB read, about a tenth of a bare read's time).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::layout::{decode_checkpoint, CheckpointHeader, CHECKPOINT, CHECKPOINT_BYTES_MAX};
use super::record::{Lsn, Record};
use super::segment::{parse_file_name, scan, Ending, SegmentHeader};

/// Why a shard's log cannot be recovered.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error(
        "{path}: damaged at offset {offset} ({reason}) with valid records after it, at offset \
         {valid_after}: records that were acknowledged are unreadable. Restore the file, or \
         start with --skip-damaged-segments to recover without what follows the damage in \
         this segment"
    )]
    Damaged {
        path: PathBuf,
        offset: usize,
        reason: &'static str,
        valid_after: usize,
    },
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
}

/// What reading a shard's log found, besides its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    /// The last lsn read (the checkpoint's position when no record follows it).
    pub last_lsn: Lsn,
    /// A torn tail cut off: (segment, offset, bytes dropped).
    pub torn_tail: Option<(PathBuf, usize, usize)>,
    /// Segments whose damage was skipped on request: (segment, offset, reason).
    pub skipped: Vec<(PathBuf, usize, &'static str)>,
}

/// The segment files of a shard directory, by first lsn.
pub fn segment_files(shard_dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, ReadError> {
    let entries = fs::read_dir(shard_dir).map_err(|e| io_error(shard_dir, e))?;
    let mut segments: Vec<(Lsn, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            parse_file_name(name.to_str()?).map(|lsn| (lsn, entry.path()))
        })
        .collect();
    segments.sort();
    Ok(segments)
}

fn io_error(path: &Path, error: impl std::fmt::Display) -> ReadError {
    ReadError::Io {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// The checkpoint of a shard directory (header and state bytes), `None` without one.
pub fn read_checkpoint(shard_dir: &Path) -> Result<Option<(CheckpointHeader, Vec<u8>)>, ReadError> {
    let path = shard_dir.join(CHECKPOINT);
    let bytes = match fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path, e)),
        Ok(meta) if meta.len() > CHECKPOINT_BYTES_MAX => {
            return Err(ReadError::BadFile {
                path,
                reason: format!("larger than {CHECKPOINT_BYTES_MAX} bytes"),
            })
        }
        Ok(_) => fs::read(&path).map_err(|e| io_error(&path, e))?,
    };
    let (header, state) = decode_checkpoint(&bytes).map_err(|reason| ReadError::BadFile {
        path: path.clone(),
        reason: format!("checkpoint unreadable: {reason}"),
    })?;
    Ok(Some((header, state.to_vec())))
}

/// Reads the whole file at `path` into `buffer` (emptied first; its memory is reused).
fn read_whole(path: &Path, buffer: &mut Vec<u8>) -> Result<(), ReadError> {
    buffer.clear();
    fs::File::open(path)
        .and_then(|mut file| file.read_to_end(buffer))
        .map(drop)
        .map_err(|e| io_error(path, e))
}

/// Reads every record of the shard's log with an lsn above `after`, in order, into `each`.
/// A torn tail (in the last segment) is cut and reported; damage before the tail is an error
/// unless `skip_damaged`, when the rest of that segment is skipped and reported. Records a
/// later segment starts over (a commit that failed and was written again in a new segment)
/// are read from the later segment.
pub fn replay(
    shard_dir: &Path,
    after: Lsn,
    skip_damaged: bool,
    mut each: impl FnMut(Lsn, &Record<'_>),
) -> Result<ReadSummary, ReadError> {
    let segments = segment_files(shard_dir)?;
    let mut summary = ReadSummary {
        last_lsn: after,
        ..ReadSummary::default()
    };
    let mut buffer = Vec::new();
    for (idx, (first_lsn, path)) in segments.iter().enumerate() {
        let next_first = segments.get(idx + 1).map(|(lsn, _)| *lsn);
        if next_first.is_some_and(|next| next <= after + 1) {
            continue;
        }
        read_whole(path, &mut buffer)?;
        let bytes = buffer.as_slice();
        let header = match SegmentHeader::decode(bytes) {
            Ok(header) => header,
            // The last segment's header never became durable: the crash came while the
            // segment was being created. It holds nothing acknowledged (its header and the
            // directory are synced before its first record is written): a torn tail.
            Err(_) if next_first.is_none() => {
                summary.torn_tail = Some((path.clone(), 0, bytes.len()));
                break;
            }
            Err(reason) => {
                return Err(ReadError::BadFile {
                    path: path.clone(),
                    reason: reason.to_string(),
                })
            }
        };
        if header.first_lsn != *first_lsn {
            return Err(ReadError::BadFile {
                path: path.clone(),
                reason: format!("header says first lsn {}", header.first_lsn),
            });
        }
        summary.segments += 1;
        let end_lsn = next_first.unwrap_or(Lsn::MAX);
        let ending = scan(bytes, *first_lsn, |lsn, record| {
            if lsn > after && lsn < end_lsn {
                summary.records += 1;
                summary.last_lsn = lsn;
                each(lsn, &record);
            }
        });
        summary.bytes += bytes.len() as u64;
        match ending {
            Ending::Clean { .. } => {}
            Ending::Torn { offset, .. } if next_first.is_none() => {
                summary.torn_tail = Some((path.clone(), offset, bytes.len() - offset));
            }
            // A commit that failed mid-segment; its records were written again in the next
            // segment, which starts where this one stopped being durable.
            Ending::Torn { .. } => {}
            Ending::Damaged {
                offset,
                reason,
                valid_after,
            } => {
                if !skip_damaged {
                    return Err(ReadError::Damaged {
                        path: path.clone(),
                        offset,
                        reason,
                        valid_after,
                    });
                }
                summary.skipped.push((path.clone(), offset, reason));
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::record::{encode, BidRecord};
    use crate::eventlog::segment::{file_name, HEADER_BYTES};

    fn segment(dir: &Path, first_lsn: Lsn, n: u64) {
        let header = SegmentHeader {
            shard_idx: 0,
            first_lsn,
            created_unix_s: 1_700_000_000,
            generation: 1,
        };
        let mut bytes = header.encode().to_vec();
        for lsn in first_lsn..first_lsn + n {
            let bid = BidRecord {
                sequence: lsn,
                campaign: 0,
                committed_micros: 1000,
                at_unix_s: 1_700_000_000,
            };
            encode(lsn, &Record::Bid(bid), &mut bytes);
        }
        fs::write(dir.join(file_name(first_lsn)), bytes).unwrap();
    }

    fn lsns(dir: &Path) -> Result<(Vec<Lsn>, ReadSummary), ReadError> {
        let mut lsns = Vec::new();
        let summary = replay(dir, 0, false, |lsn, _| lsns.push(lsn))?;
        Ok((lsns, summary))
    }

    /// A crash while the writer created its next segment leaves the file empty or its header
    /// torn: nothing in it was acknowledged, so the log reads as if it were not there. The
    /// same damage in a segment that has a successor is an error.
    #[test]
    fn a_last_segment_without_a_whole_header_is_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("adshard-read-{}", std::process::id()));
        for (bad_header, last) in [
            (Vec::new(), true),
            (vec![0u8; 512], true),
            (b"ADSHEVLG".to_vec(), true),
            (vec![0u8; 512], false),
        ] {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            segment(&dir, 1, 3);
            fs::write(dir.join(file_name(4)), &bad_header).unwrap();
            if !last {
                segment(&dir, 5, 2);
            }
            match lsns(&dir) {
                Ok((lsns, summary)) => {
                    assert!(last, "a damaged header before the last segment was skipped");
                    assert_eq!(lsns, vec![1, 2, 3]);
                    let torn = summary.torn_tail.expect("a torn tail");
                    assert_eq!((torn.1, torn.2), (0, bad_header.len()));
                    assert!(bad_header.len() < HEADER_BYTES || bad_header[0] != b'A');
                }
                Err(error) => assert!(!last, "{error}"),
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The buffer is reused from segment to segment: a shorter segment after a longer one
    /// must not read the longer one's leftover bytes as its own records.
    #[test]
    fn replay_reads_a_short_segment_after_a_long_one_alone() {
        let dir = std::env::temp_dir().join(format!("adshard-read-short-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        segment(&dir, 1, 100);
        segment(&dir, 101, 3);
        let mut lsns = Vec::new();
        let summary = replay(&dir, 0, false, |lsn, _| lsns.push(lsn)).unwrap();
        assert_eq!(lsns, (1..=103).collect::<Vec<_>>());
        assert_eq!(summary.segments, 2);
        assert_eq!(summary.last_lsn, 103);
        assert_eq!(summary.torn_tail, None);
        let mut after = Vec::new();
        replay(&dir, 101, false, |lsn, _| after.push(lsn)).unwrap();
        assert_eq!(after, vec![102, 103]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
