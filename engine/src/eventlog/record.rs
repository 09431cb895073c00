//! The event log's records and their frames. A frame is
//!
//! ```text
//! len: u32 | crc: u32 | lsn: u64 | type: u8 | payload
//! ```
//!
//! little-endian, where `len` counts the bytes after `crc` (`lsn`, `type` and the payload) and
//! `crc` is the CRC32C of the `len` field followed by those bytes. `lsn` is the record's log
//! sequence number: consecutive within a shard's log, across its segments. A zero `len` is
//! never written, so the zeroed padding after the last record reads as the end of the log;
//! a length, checksum or sequence that does not fit is a damaged frame (see `segment`).
//!
//! Records carry a campaign's index in the log's campaign dictionary (the last
//! [`Record::Campaigns`] before them), not its id: a bid record is ~40 bytes.

use crate::binary::{DecodeError, Reader, Writer};
use crate::campaign::SpendOn;
use crate::tracking::{EventKind, LossReason};

/// A record's log sequence number.
pub type Lsn = u64;

/// Bytes of a frame before its payload: `len`, `crc`, `lsn`, `type`.
pub const FRAME_HEADER_BYTES: usize = 4 + 4 + 8 + 1;
/// Longest frame `len` accepted: a campaign dictionary of 100 000 ids of 128 bytes fits.
pub const FRAME_LEN_MAX: usize = 16 << 20;
/// Longest campaign id a dictionary record holds (tokens refuse longer ids too).
const CAMPAIGN_ID_BYTES_MAX: usize = 1024;

/// Record type codes (the frame's `type` byte). Never reuse a retired code.
mod code {
    pub(super) const RUN: u8 = 1;
    pub(super) const CAMPAIGNS: u8 = 2;
    pub(super) const BID: u8 = 3;
    pub(super) const EVENT: u8 = 4;
    pub(super) const TRAFFIC: u8 = 5;
    pub(super) const NO_BID: u8 = 6;
}

/// The start of a run of the server on this log: which shard wrote it and the first sequence
/// number of the bids it signs (the dedupe window's random base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRecord {
    pub shard_idx: u16,
    pub n_shards: u16,
    pub window_base: u64,
    pub at_unix_s: i64,
}

/// A campaign won an impression: its bid left with a commitment of `committed_micros` (in the
/// campaign's currency; 0 for a campaign without a budget) under the bid sequence `sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BidRecord {
    pub sequence: u64,
    pub campaign: u32,
    pub committed_micros: i64,
    pub at_unix_s: i64,
}

/// A tracking event this shard counted (a repeat is not logged): what the event window, the
/// ledger, the caps and the counters were given, so a replay gives them the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: EventKind,
    pub sequence: u64,
    pub campaign: u32,
    pub spend_micros: i64,
    pub committed_micros: i64,
    pub issued_unix_s: i64,
    pub user_key: u64,
    /// The event the campaign paid for when the bid was made: a loss is judged on its lane.
    pub spend_on: SpendOn,
    /// A loss notice's reason (`Unknown` for the other kinds).
    pub loss_reason: LossReason,
    pub at_unix_s: i64,
}

/// Auction requests the shard saw since the previous traffic record: what the pacer's traffic
/// curve learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficRecord {
    pub at_unix_s: i64,
    pub requests: u64,
}

/// A sampled auction that ended without a bid from our campaigns (`events.log_no_bids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoBidRecord {
    pub at_unix_s: i64,
    pub imps: u32,
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    Run(RunRecord),
    /// The campaign dictionary from here on: index `i` of later records is `ids[i]`.
    Campaigns(Vec<&'a str>),
    Bid(BidRecord),
    Event(EventRecord),
    Traffic(TrafficRecord),
    NoBid(NoBidRecord),
}

impl Record<'_> {
    /// The record type's name, for the tools.
    pub fn type_name(&self) -> &'static str {
        match self {
            Record::Run(_) => "run",
            Record::Campaigns(_) => "campaigns",
            Record::Bid(_) => "bid",
            Record::Event(_) => "event",
            Record::Traffic(_) => "traffic",
            Record::NoBid(_) => "no_bid",
        }
    }

    fn code(&self) -> u8 {
        match self {
            Record::Run(_) => code::RUN,
            Record::Campaigns(_) => code::CAMPAIGNS,
            Record::Bid(_) => code::BID,
            Record::Event(_) => code::EVENT,
            Record::Traffic(_) => code::TRAFFIC,
            Record::NoBid(_) => code::NO_BID,
        }
    }

    fn encode_payload(&self, w: &mut Writer<'_>) {
        match self {
            Record::Run(r) => {
                w.u16(r.shard_idx)
                    .u16(r.n_shards)
                    .u64(r.window_base)
                    .i64(r.at_unix_s);
            }
            Record::Campaigns(ids) => {
                w.count(ids.len());
                for id in ids {
                    w.str(id);
                }
            }
            Record::Bid(r) => {
                w.u64(r.sequence)
                    .u32(r.campaign)
                    .i64(r.committed_micros)
                    .i64(r.at_unix_s);
            }
            Record::Event(r) => {
                w.u8(r.kind.idx() as u8)
                    .u64(r.sequence)
                    .u32(r.campaign)
                    .i64(r.spend_micros)
                    .i64(r.committed_micros)
                    .i64(r.issued_unix_s)
                    .u64(r.user_key)
                    .u8(match r.spend_on {
                        SpendOn::Win => 0,
                        SpendOn::Impression => 1,
                    })
                    .u8(r.loss_reason.idx() as u8)
                    .i64(r.at_unix_s);
            }
            Record::Traffic(r) => {
                w.i64(r.at_unix_s).u64(r.requests);
            }
            Record::NoBid(r) => {
                w.i64(r.at_unix_s).u32(r.imps);
            }
        }
    }
}

/// Appends the frame of `record` with sequence number `lsn` to `out`. Allocates only when `out`
/// has to grow.
pub fn encode(lsn: Lsn, record: &Record<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    let mut w = Writer::new(out);
    w.u64(lsn).u8(record.code());
    record.encode_payload(&mut w);
    let len = out.len() - start - 8;
    assert!(len <= FRAME_LEN_MAX, "event-log record of {len} bytes");
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    let crc = frame_crc(&out[start..start + 4], &out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn frame_crc(len_bytes: &[u8], body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_bytes), body)
}

/// What is at one offset of a segment's record area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, checked record, and the offset of the next frame.
    Record {
        lsn: Lsn,
        record: Record<'a>,
        next: usize,
    },
    /// The end of the records: the input ends here, or a zero length (padding) starts.
    End,
    /// Not a valid frame: why.
    Damaged(&'static str),
}

/// Reads the frame at `offset` of `bytes`.
pub fn read_frame(bytes: &[u8], offset: usize) -> Frame<'_> {
    let rest = &bytes[offset.min(bytes.len())..];
    if rest.is_empty() {
        return Frame::End;
    }
    if rest.len() < 4 {
        return if rest.iter().all(|&b| b == 0) {
            Frame::End
        } else {
            Frame::Damaged("truncated frame header")
        };
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if len == 0 {
        return Frame::End;
    }
    if !(FRAME_HEADER_BYTES - 8..=FRAME_LEN_MAX).contains(&len) {
        return Frame::Damaged("frame length out of range");
    }
    if rest.len() < 8 + len {
        return Frame::Damaged("truncated frame");
    }
    let stored_crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    let body = &rest[8..8 + len];
    if frame_crc(&rest[..4], body) != stored_crc {
        return Frame::Damaged("checksum mismatch");
    }
    match decode_body(body) {
        Ok((lsn, record)) => Frame::Record {
            lsn,
            record,
            next: offset + 8 + len,
        },
        Err(_) => Frame::Damaged("malformed record"),
    }
}

/// Decodes a frame's checked body: `lsn`, `type`, payload.
fn decode_body(body: &[u8]) -> Result<(Lsn, Record<'_>), DecodeError> {
    let mut r = Reader::new(body);
    let lsn = r.u64()?;
    let type_code = r.u8()?;
    let record = match type_code {
        code::RUN => Record::Run(RunRecord {
            shard_idx: r.u16()?,
            n_shards: r.u16()?,
            window_base: r.u64()?,
            at_unix_s: r.i64()?,
        }),
        code::CAMPAIGNS => {
            let n = r.count(4)?;
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(r.str(CAMPAIGN_ID_BYTES_MAX)?);
            }
            Record::Campaigns(ids)
        }
        code::BID => Record::Bid(BidRecord {
            sequence: r.u64()?,
            campaign: r.u32()?,
            committed_micros: r.i64()?,
            at_unix_s: r.i64()?,
        }),
        code::EVENT => {
            let kind = *EventKind::ALL
                .get(r.u8()? as usize)
                .ok_or_else(|| r.invalid("event kind"))?;
            Record::Event(EventRecord {
                kind,
                sequence: r.u64()?,
                campaign: r.u32()?,
                spend_micros: r.i64()?,
                committed_micros: r.i64()?,
                issued_unix_s: r.i64()?,
                user_key: r.u64()?,
                spend_on: match r.u8()? {
                    0 => SpendOn::Win,
                    1 => SpendOn::Impression,
                    _ => return Err(r.invalid("spend_on")),
                },
                loss_reason: *LossReason::ALL
                    .get(r.u8()? as usize)
                    .ok_or_else(|| r.invalid("loss reason"))?,
                at_unix_s: r.i64()?,
            })
        }
        code::TRAFFIC => Record::Traffic(TrafficRecord {
            at_unix_s: r.i64()?,
            requests: r.u64()?,
        }),
        code::NO_BID => Record::NoBid(NoBidRecord {
            at_unix_s: r.i64()?,
            imps: r.u32()?,
        }),
        _ => return Err(r.invalid("record type")),
    };
    r.finish()?;
    Ok((lsn, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn samples() -> Vec<Record<'static>> {
        vec![
            Record::Run(RunRecord {
                shard_idx: 1,
                n_shards: 2,
                window_base: u64::MAX - 3,
                at_unix_s: 1_700_000_000,
            }),
            Record::Campaigns(vec!["c-1", "c-2", "ünïcode"]),
            Record::Bid(BidRecord {
                sequence: 42,
                campaign: 1,
                committed_micros: 2_500,
                at_unix_s: 1_700_000_001,
            }),
            Record::Event(EventRecord {
                kind: EventKind::Billing,
                sequence: 42,
                campaign: 1,
                spend_micros: 2_000,
                committed_micros: 2_500,
                issued_unix_s: 1_700_000_001,
                user_key: 99,
                spend_on: SpendOn::Impression,
                loss_reason: LossReason::Unknown,
                at_unix_s: 1_700_000_005,
            }),
            Record::Traffic(TrafficRecord {
                at_unix_s: 1_700_000_010,
                requests: 12_345,
            }),
            Record::NoBid(NoBidRecord {
                at_unix_s: 1_700_000_011,
                imps: 2,
            }),
        ]
    }

    #[test]
    fn every_record_type_round_trips() {
        let mut out = Vec::new();
        for (i, record) in samples().iter().enumerate() {
            encode(i as u64 + 7, record, &mut out);
        }
        let mut offset = 0;
        for (i, record) in samples().iter().enumerate() {
            match read_frame(&out, offset) {
                Frame::Record {
                    lsn,
                    record: read,
                    next,
                } => {
                    assert_eq!(lsn, i as u64 + 7);
                    assert_eq!(&read, record);
                    offset = next;
                }
                other => panic!("record {i}: {other:?}"),
            }
        }
        assert_eq!(read_frame(&out, offset), Frame::End);
    }

    #[test]
    fn zero_padding_is_the_end_and_any_flipped_bit_is_damage() {
        let mut out = Vec::new();
        encode(1, &samples()[3], &mut out);
        let frame_len = out.len();
        out.extend_from_slice(&[0; 100]);
        assert!(matches!(read_frame(&out, 0), Frame::Record { .. }));
        assert_eq!(read_frame(&out, frame_len), Frame::End);
        for byte in 0..frame_len {
            for bit in 0..8 {
                let mut flipped = out.clone();
                flipped[byte] ^= 1 << bit;
                let frame = read_frame(&flipped, 0);
                assert!(
                    matches!(frame, Frame::Damaged(_) | Frame::End),
                    "flip of bit {bit} of byte {byte} read as {frame:?}"
                );
            }
        }
    }

    #[test]
    fn every_cut_of_a_frame_is_damaged_not_a_record() {
        let mut out = Vec::new();
        encode(1, &samples()[1], &mut out);
        for cut in 1..out.len() {
            assert!(
                matches!(read_frame(&out[..cut], 0), Frame::Damaged(_)),
                "cut at {cut}"
            );
        }
    }
}
