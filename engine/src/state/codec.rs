//! The binary form of a [`ShardState`]: a magic and a version, then each piece in turn, all
//! little-endian through `crate::binary`. A checkpoint is outside input: every count is
//! checked against what the rest of the input can hold before anything is allocated, every
//! index against the campaign list, every window against what a restore relies on, so a
//! corrupt file is a [`DecodeError`], never a panic or a huge allocation. (Integrity, a
//! checksum over the file, is the checkpoint writer's: a flipped bit in a counter still
//! decodes.)

use std::collections::HashSet;

use super::ShardState;
use crate::binary::{DecodeError, Reader, Writer};
use crate::budget::{LedgerExport, OutstandingExport, OwnTotals};
use crate::campaign::data::{CAMPAIGNS_PER_LOAD_MAX, ID_BYTES_MAX};
use crate::freqcap::{FreqCapEntry, FreqCapExport};
use crate::pacing::{CampaignPacingExport, PacerExport, HOURS_PER_DAY};
use crate::stats::CampaignCounters;
use crate::tracking::{WindowExport, WindowMark, WindowsExport, HISTORY_WINDOWS_MAX};

/// The first bytes of an encoded state.
pub const STATE_MAGIC: [u8; 8] = *b"ADSHSTAT";
/// The encoding's version; a decoder refuses any other.
pub const STATE_VERSION: u8 = 1;

/// Bytes of the smallest encoded item of each list, for [`Reader::count`].
const ID_BYTES_MIN: usize = 4;
const OWN_TOTALS_BYTES: usize = 4 + 6 * 8;
const OUTSTANDING_BYTES: usize = 8 + 4 + 8;
const FREQCAP_ENTRY_BYTES: usize = 8 + 4 * 4;
const WINDOW_BYTES_MIN: usize = 6 * 8 + 4 + 4;
const MARK_BYTES: usize = 16;
const PACING_CAMPAIGN_BYTES: usize = 4 + 3 * 8;
const COUNTERS_BYTES: usize = 9 * 8;

impl ShardState {
    /// Appends the encoded state to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len_estimate());
        let mut w = Writer::new(out);
        w.raw(&STATE_MAGIC).u8(STATE_VERSION).u64(self.log_position);
        w.count(self.campaign_ids.len());
        for id in &self.campaign_ids {
            w.str(id);
        }
        encode_ledger(&mut w, &self.ledger);
        w.count(self.freqcaps.entries.len());
        for entry in &self.freqcaps.entries {
            w.u64(entry.user_key)
                .u32(entry.campaign_idx)
                .u32(entry.window_s)
                .u32(entry.window)
                .u32(entry.count);
        }
        match &self.windows.current {
            Some(window) => encode_window(w.u8(1), window),
            None => {
                w.u8(0);
            }
        }
        w.count(self.windows.history.len());
        for window in &self.windows.history {
            encode_window(&mut w, window);
        }
        encode_pacer(&mut w, &self.pacer);
        w.count(self.counters.len());
        for c in &self.counters {
            w.u64(c.bids)
                .u64(c.wins)
                .u64(c.impressions)
                .u64(c.billings)
                .u64(c.clicks)
                .u64(c.losses)
                .i64(c.spend_micros)
                .i64(c.spend_today_micros)
                .i64(c.spend_day);
        }
    }

    /// Reads a state [`ShardState::encode`] wrote; any other input is an error.
    pub fn decode(input: &[u8]) -> Result<ShardState, DecodeError> {
        let mut r = Reader::new(input);
        if r.take(STATE_MAGIC.len())? != STATE_MAGIC {
            return Err(DecodeError::Invalid {
                offset: 0,
                what: "magic",
            });
        }
        if r.u8()? != STATE_VERSION {
            return Err(r.invalid("version"));
        }
        let log_position = r.u64()?;
        let campaign_ids = decode_ids(&mut r)?;
        let n_campaigns = campaign_ids.len();
        let ledger = decode_ledger(&mut r, n_campaigns)?;
        let freqcaps = decode_freqcaps(&mut r, n_campaigns)?;
        let current = match r.u8()? {
            0 => None,
            1 => Some(decode_window(&mut r)?),
            _ => return Err(r.invalid("current window flag")),
        };
        let n_history = r.count(WINDOW_BYTES_MIN)?;
        if n_history > HISTORY_WINDOWS_MAX {
            return Err(r.invalid("history window count"));
        }
        let history = (0..n_history)
            .map(|_| decode_window(&mut r))
            .collect::<Result<_, _>>()?;
        let pacer = decode_pacer(&mut r, n_campaigns)?;
        let n_counters = r.count(COUNTERS_BYTES)?;
        if n_counters != n_campaigns {
            return Err(r.invalid("counter count"));
        }
        let counters = (0..n_counters)
            .map(|_| {
                Ok(CampaignCounters {
                    bids: r.u64()?,
                    wins: r.u64()?,
                    impressions: r.u64()?,
                    billings: r.u64()?,
                    clicks: r.u64()?,
                    losses: r.u64()?,
                    spend_micros: r.i64()?,
                    spend_today_micros: r.i64()?,
                    spend_day: r.i64()?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        r.finish()?;
        Ok(ShardState {
            campaign_ids,
            ledger,
            freqcaps,
            windows: WindowsExport { current, history },
            pacer,
            counters,
            log_position,
        })
    }

    /// Roughly the encoded size, to reserve once (the window words dominate).
    fn encoded_len_estimate(&self) -> usize {
        let words: usize = self.windows.iter().map(|w| w.words.len() * 8).sum();
        words
            + self.freqcaps.entries.len() * FREQCAP_ENTRY_BYTES
            + self.campaign_ids.len() * (64 + COUNTERS_BYTES + OWN_TOTALS_BYTES)
            + self.ledger.outstanding.len() * OUTSTANDING_BYTES
            + 1024
    }
}

fn encode_ledger(w: &mut Writer<'_>, ledger: &LedgerExport) {
    w.i64(ledger.day).count(ledger.campaigns.len());
    for t in &ledger.campaigns {
        w.u32(t.campaign_idx)
            .i64(t.committed_micros)
            .i64(t.released_micros)
            .i64(t.spent_micros)
            .i64(t.day_committed_micros)
            .i64(t.day_released_micros)
            .i64(t.day_spent_micros);
    }
    w.count(ledger.outstanding.len());
    for o in &ledger.outstanding {
        w.i64(o.bucket_start_s)
            .u32(o.campaign_idx)
            .i64(o.amount_micros);
    }
}

fn encode_window(w: &mut Writer<'_>, window: &WindowExport) {
    w.u64(window.base)
        .u64(window.n_issued)
        .u64(window.first_n)
        .i64(window.granularity_s)
        .i64(window.hold_s)
        .i64(window.now_unix_s)
        .count(window.marks.len());
    for mark in &window.marks {
        w.i64(mark.interval).u64(mark.first_n);
    }
    w.count(window.words.len());
    for word in &window.words {
        w.u64(*word);
    }
}

fn encode_pacer(w: &mut Writer<'_>, pacer: &PacerExport) {
    for share in pacer.curve_shares {
        w.f64(share);
    }
    w.u32(pacer.days_learned);
    encode_option(w, pacer.day);
    w.u8(u8::from(pacer.day_complete))
        .i64(pacer.observed_from_s);
    for count in pacer.hour_counts {
        w.u64(count);
    }
    w.u64(pacer.requests_today)
        .f64(pacer.recent_requests_ewma)
        .f64(pacer.recent_share_ewma);
    encode_option(w, pacer.interval_s);
    encode_option(w, pacer.campaigns_day);
    w.count(pacer.campaigns.len());
    for c in &pacer.campaigns {
        w.u32(c.campaign_idx)
            .f64(c.throttle)
            .f64(c.spend_ewma_micros)
            .f64(c.exposure_ewma);
    }
}

fn encode_option(w: &mut Writer<'_>, value: Option<i64>) {
    match value {
        Some(value) => w.u8(1).i64(value),
        None => w.u8(0),
    };
}

fn decode_ids(r: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
    let n = r.count(ID_BYTES_MIN)?;
    if n > CAMPAIGNS_PER_LOAD_MAX {
        return Err(r.invalid("campaign count"));
    }
    let mut ids = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for _ in 0..n {
        let id = r.str(ID_BYTES_MAX)?;
        if id.is_empty() || !seen.insert(id) {
            return Err(r.invalid("campaign id"));
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// A campaign index, which must name one of the state's `n_campaigns`.
fn campaign_idx(r: &mut Reader<'_>, n_campaigns: usize) -> Result<u32, DecodeError> {
    let idx = r.u32()?;
    if (idx as usize) < n_campaigns {
        Ok(idx)
    } else {
        Err(r.invalid("campaign index"))
    }
}

fn decode_ledger(r: &mut Reader<'_>, n_campaigns: usize) -> Result<LedgerExport, DecodeError> {
    let day = r.i64()?;
    let n = r.count(OWN_TOTALS_BYTES)?;
    let campaigns = (0..n)
        .map(|_| {
            Ok(OwnTotals {
                campaign_idx: campaign_idx(r, n_campaigns)?,
                committed_micros: r.i64()?,
                released_micros: r.i64()?,
                spent_micros: r.i64()?,
                day_committed_micros: r.i64()?,
                day_released_micros: r.i64()?,
                day_spent_micros: r.i64()?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    let n = r.count(OUTSTANDING_BYTES)?;
    let outstanding = (0..n)
        .map(|_| {
            Ok(OutstandingExport {
                bucket_start_s: r.i64()?,
                campaign_idx: campaign_idx(r, n_campaigns)?,
                amount_micros: r.i64()?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(LedgerExport {
        day,
        campaigns,
        outstanding,
    })
}

fn decode_freqcaps(r: &mut Reader<'_>, n_campaigns: usize) -> Result<FreqCapExport, DecodeError> {
    let n = r.count(FREQCAP_ENTRY_BYTES)?;
    let entries = (0..n)
        .map(|_| {
            Ok(FreqCapEntry {
                user_key: r.u64()?,
                campaign_idx: campaign_idx(r, n_campaigns)?,
                window_s: r.u32()?,
                window: r.u32()?,
                count: r.u32()?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(FreqCapExport { entries })
}

fn decode_window(r: &mut Reader<'_>) -> Result<WindowExport, DecodeError> {
    let start = r.offset();
    let mut window = WindowExport {
        base: r.u64()?,
        n_issued: r.u64()?,
        first_n: r.u64()?,
        granularity_s: r.i64()?,
        hold_s: r.i64()?,
        now_unix_s: r.i64()?,
        marks: Vec::new(),
        words: Vec::new(),
    };
    let n_marks = r.count(MARK_BYTES)?;
    window.marks = (0..n_marks)
        .map(|_| {
            Ok(WindowMark {
                interval: r.i64()?,
                first_n: r.u64()?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    let n_words = r.count(8)?;
    window.words = r
        .take(n_words * 8)?
        .chunks_exact(8)
        .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
        .collect();
    match window.validate() {
        Ok(()) => Ok(window),
        Err(crate::tracking::RestoreError::Invalid(what)) => Err(DecodeError::Invalid {
            offset: start,
            what,
        }),
    }
}

fn decode_pacer(r: &mut Reader<'_>, n_campaigns: usize) -> Result<PacerExport, DecodeError> {
    let mut curve_shares = [0.0; HOURS_PER_DAY];
    for share in &mut curve_shares {
        *share = r.f64()?;
    }
    let days_learned = r.u32()?;
    let day = decode_option(r)?;
    let day_complete = decode_bool(r)?;
    let observed_from_s = r.i64()?;
    let mut hour_counts = [0u64; HOURS_PER_DAY];
    for count in &mut hour_counts {
        *count = r.u64()?;
    }
    let requests_today = r.u64()?;
    let recent_requests_ewma = r.f64()?;
    let recent_share_ewma = r.f64()?;
    let interval_s = decode_option(r)?;
    let campaigns_day = decode_option(r)?;
    let n = r.count(PACING_CAMPAIGN_BYTES)?;
    let campaigns = (0..n)
        .map(|_| {
            Ok(CampaignPacingExport {
                campaign_idx: campaign_idx(r, n_campaigns)?,
                throttle: r.f64()?,
                spend_ewma_micros: r.f64()?,
                exposure_ewma: r.f64()?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(PacerExport {
        curve_shares,
        days_learned,
        day,
        day_complete,
        observed_from_s,
        hour_counts,
        requests_today,
        recent_requests_ewma,
        recent_share_ewma,
        interval_s,
        campaigns_day,
        campaigns,
    })
}

fn decode_option(r: &mut Reader<'_>) -> Result<Option<i64>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.i64()?)),
        _ => Err(r.invalid("option flag")),
    }
}

fn decode_bool(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(r.invalid("flag")),
    }
}
