//! Segment files: a versioned header, then frames (`record`). A shard's log is a sequence of
//! segments named after the sequence number of their first record, so that a directory
//! listing sorts them; the writer starts a new one past `events.segment_bytes` or
//! `SEGMENT_AGE_MAX_S`.
//!
//! Reading a segment tells apart the two ways its records can end early:
//! - a torn tail: the last commit before a crash reached the disk only in part. Nothing in it
//!   was acknowledged (a commit is acknowledged after its `fdatasync`), so the damaged frame
//!   and whatever follows it are cut off, and recovery goes on;
//! - damage before the tail: a frame that fails its checks with a valid frame after it (a
//!   flipped bit, a lost block). Records that were acknowledged are gone, and recovery stops
//!   with an error naming the file and offset, unless the operator asked to skip damaged
//!   segments.

use super::record::{read_frame, Frame, Lsn, Record};

/// Bytes of a segment's header; records start here.
pub const HEADER_BYTES: usize = 64;
const MAGIC: &[u8; 8] = b"ADSHEVLG";
/// The segment format this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// A segment is rotated once it has been open this long, even when small, so that retention
/// and the tools see closed files within minutes.
pub const SEGMENT_AGE_MAX_S: i64 = 3600;

/// What a segment's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub shard_idx: u16,
    /// The sequence number of the segment's first record.
    pub first_lsn: Lsn,
    pub created_unix_s: i64,
    /// The log generation (see `recover`) the segment belongs to.
    pub generation: u64,
}

impl SegmentHeader {
    /// The header's bytes: magic, version, shard, first lsn, creation time, generation, then
    /// zeros, and a CRC32C of the first 60 bytes in the last 4.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[..8].copy_from_slice(MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[10..12].copy_from_slice(&self.shard_idx.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_lsn.to_le_bytes());
        out[24..32].copy_from_slice(&self.created_unix_s.to_le_bytes());
        out[32..40].copy_from_slice(&self.generation.to_le_bytes());
        let crc = crc32c::crc32c(&out[..HEADER_BYTES - 4]);
        out[HEADER_BYTES - 4..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a header; the reason when it is not one this build can read.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, &'static str> {
        let Some(head) = bytes.get(..HEADER_BYTES) else {
            return Err("shorter than a segment header");
        };
        if &head[..8] != MAGIC {
            return Err("not an adshard event-log segment (bad magic)");
        }
        let u64_at = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&head[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let crc = u32::from_le_bytes([head[60], head[61], head[62], head[63]]);
        if crc32c::crc32c(&head[..HEADER_BYTES - 4]) != crc {
            return Err("segment header checksum mismatch");
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        if version != FORMAT_VERSION {
            return Err("segment format version not supported by this build");
        }
        Ok(SegmentHeader {
            shard_idx: u16::from_le_bytes([head[10], head[11]]),
            first_lsn: u64_at(16),
            created_unix_s: u64_at(24) as i64,
            generation: u64_at(32),
        })
    }
}

/// The file name of the segment whose first record is `first_lsn`.
pub fn file_name(first_lsn: Lsn) -> String {
    format!("{first_lsn:020}.seg")
}

/// The first lsn a segment file name gives, if it is one.
pub fn parse_file_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// How a segment's records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// At the end of the data or at zero padding: every record is whole.
    Clean { end: usize },
    /// A damaged frame at `offset` with nothing valid after it: a torn tail, cut there.
    Torn { offset: usize, reason: &'static str },
    /// A damaged frame at `offset` followed by a valid frame at `valid_after`: damage before
    /// the tail.
    Damaged {
        offset: usize,
        reason: &'static str,
        valid_after: usize,
    },
}

/// Reads the records of a segment's bytes (header included) in order, calling `each` with
/// every whole one, and says how they end. `expected_lsn` is the lsn the first record must
/// have (the header's `first_lsn`); a record out of sequence is damage like a bad checksum.
pub fn scan<'a>(
    bytes: &'a [u8],
    expected_lsn: Lsn,
    mut each: impl FnMut(Lsn, Record<'a>),
) -> Ending {
    let mut offset = HEADER_BYTES.min(bytes.len());
    let mut next_lsn = expected_lsn;
    loop {
        let reason = match read_frame(bytes, offset) {
            Frame::End => return Ending::Clean { end: offset },
            Frame::Record { lsn, record, next } if lsn == next_lsn => {
                each(lsn, record);
                next_lsn += 1;
                offset = next;
                continue;
            }
            Frame::Record { .. } => "record out of sequence",
            Frame::Damaged(reason) => reason,
        };
        return match valid_frame_after(bytes, offset, next_lsn) {
            Some(valid_after) => Ending::Damaged {
                offset,
                reason,
                valid_after,
            },
            None => Ending::Torn { offset, reason },
        };
    }
}

/// The first offset after `offset` where a whole frame with an lsn at or after `lsn_min`
/// starts, if any: evidence that the damage at `offset` is not a torn tail.
fn valid_frame_after(bytes: &[u8], offset: usize, lsn_min: Lsn) -> Option<usize> {
    (offset + 1..bytes.len())
        .find(|&at| matches!(read_frame(bytes, at), Frame::Record { lsn, .. } if lsn >= lsn_min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::record::{encode, BidRecord};

    fn bid(sequence: u64) -> Record<'static> {
        Record::Bid(BidRecord {
            sequence,
            campaign: (sequence % 3) as u32,
            committed_micros: 1000 + sequence as i64,
            at_unix_s: 1_700_000_000 + sequence as i64,
        })
    }

    fn segment(first_lsn: Lsn, n: u64) -> (Vec<u8>, Vec<usize>) {
        let header = SegmentHeader {
            shard_idx: 3,
            first_lsn,
            created_unix_s: 1_700_000_000,
            generation: 9,
        };
        let mut out = header.encode().to_vec();
        let mut ends = Vec::new();
        for i in 0..n {
            encode(first_lsn + i, &bid(i), &mut out);
            ends.push(out.len());
        }
        (out, ends)
    }

    fn records(bytes: &[u8], first_lsn: Lsn) -> (Vec<Lsn>, Ending) {
        let mut lsns = Vec::new();
        let ending = scan(bytes, first_lsn, |lsn, _| lsns.push(lsn));
        (lsns, ending)
    }

    #[test]
    fn header_round_trips_and_refuses_damage() {
        let header = SegmentHeader {
            shard_idx: 2,
            first_lsn: 77,
            created_unix_s: -5,
            generation: 3,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for byte in 0..HEADER_BYTES {
            let mut bad = bytes;
            bad[byte] ^= 0x10;
            assert!(SegmentHeader::decode(&bad).is_err(), "byte {byte}");
        }
        assert!(SegmentHeader::decode(&bytes[..10]).is_err());
    }

    #[test]
    fn file_names_sort_and_parse() {
        assert_eq!(file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("42.seg"), None);
        assert_eq!(parse_file_name("0000000000000000004x.seg"), None);
        assert!(file_name(9) < file_name(10));
    }

    /// The torn-tail property: a segment cut at any byte offset of its last records recovers
    /// exactly the records wholly before the cut.
    #[test]
    fn a_cut_at_every_offset_keeps_exactly_the_whole_records() {
        let (bytes, ends) = segment(100, 6);
        let tail_start = ends[2];
        for cut in tail_start..=bytes.len() {
            let whole = ends.iter().filter(|&&end| end <= cut).count() as u64;
            let (lsns, ending) = records(&bytes[..cut], 100);
            assert_eq!(lsns, (100..100 + whole).collect::<Vec<_>>(), "cut at {cut}");
            let boundary = cut == HEADER_BYTES || ends.contains(&cut);
            match ending {
                Ending::Clean { end } => assert!(boundary && end == cut, "cut at {cut}"),
                Ending::Torn { offset, .. } => {
                    assert!(!boundary, "cut at {cut}");
                    assert_eq!(offset, ends[whole as usize - 1]);
                }
                Ending::Damaged { .. } => panic!("cut at {cut} read as damage"),
            }
        }
    }

    /// The same cut followed by the zero padding a DMA write leaves, or by leftovers of an
    /// older write: still a torn tail, never a record.
    #[test]
    fn a_cut_followed_by_padding_or_garbage_is_torn() {
        let (bytes, ends) = segment(1, 4);
        for cut in ends[1] + 1..ends[2] {
            for fill in [0u8, 0xa5] {
                let mut torn = bytes[..cut].to_vec();
                torn.resize(bytes.len() + 512, fill);
                let (lsns, ending) = records(&torn, 1);
                // Zeros that fill a cut exactly where the record had zeros give the record
                // back whole: then it is one.
                if torn[..ends[2]] == bytes[..ends[2]] {
                    assert_eq!(lsns, vec![1, 2, 3], "cut at {cut}, fill {fill}");
                    continue;
                }
                assert_eq!(lsns, vec![1, 2], "cut at {cut}, fill {fill}");
                assert!(matches!(ending, Ending::Torn { .. }), "cut at {cut}");
            }
        }
    }

    #[test]
    fn damage_before_the_tail_is_not_taken_for_a_torn_tail() {
        let (mut bytes, ends) = segment(1, 5);
        bytes[ends[1] + 10] ^= 0x01;
        let (lsns, ending) = records(&bytes, 1);
        assert_eq!(lsns, vec![1, 2]);
        assert_eq!(
            ending,
            Ending::Damaged {
                offset: ends[1],
                reason: "checksum mismatch",
                valid_after: ends[2],
            }
        );
    }

    #[test]
    fn a_record_out_of_sequence_is_damage() {
        let (bytes, _) = segment(1, 3);
        let (lsns, ending) = records(&bytes, 2);
        assert!(lsns.is_empty());
        assert!(matches!(
            ending,
            Ending::Damaged { .. } | Ending::Torn { .. }
        ));
    }
}
