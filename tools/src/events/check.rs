//! `adshard-events check`: the log's summary against a running server's `/stats`, per
//! campaign: impressions, clicks, wins and total spend. The server's numbers are its recovered
//! state plus what it counted since, and every counted event is logged before it is
//! acknowledged, so on an idle server (nothing between counting and logging) the two agree;
//! any difference is a bug in recovery, in the log, or in the counters.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde_json::Value;

use super::summary::Totals;

/// The fields compared, as `/stats` names them.
pub const FIELDS: [&str; 4] = ["impressions", "clicks", "wins", "spend_total_micros"];

/// One campaign's compared numbers, in the order of [`FIELDS`].
pub type Compared = [i128; FIELDS.len()];

/// The compared numbers of a summary's totals.
pub fn compared_of_totals(totals: &Totals) -> Compared {
    [
        i128::from(totals.impressions),
        i128::from(totals.clicks),
        i128::from(totals.wins),
        i128::from(totals.spend_micros),
    ]
}

/// The compared numbers per campaign id of a `/stats` body
/// (`{"day":D,"campaigns":[{"id":..,"spend_total_micros":..,"wins":..,...}]}`).
pub fn parse_stats(body: &[u8]) -> anyhow::Result<BTreeMap<String, Compared>> {
    let document: Value = serde_json::from_slice(body).context("/stats is not JSON")?;
    let Some(campaigns) = document.get("campaigns").and_then(Value::as_array) else {
        bail!("/stats has no \"campaigns\" array");
    };
    let mut stats = BTreeMap::new();
    for (i, campaign) in campaigns.iter().enumerate() {
        let Some(id) = campaign.get("id").and_then(Value::as_str) else {
            bail!("/stats campaigns[{i}] has no string \"id\"");
        };
        let mut compared = [0; FIELDS.len()];
        for (value, field) in compared.iter_mut().zip(FIELDS) {
            let number = campaign.get(field).and_then(|v| {
                v.as_i64()
                    .map(i128::from)
                    .or_else(|| v.as_u64().map(i128::from))
            });
            *value = number
                .with_context(|| format!("/stats campaign {id:?} has no integer \"{field}\""))?;
        }
        if stats.insert(id.to_owned(), compared).is_some() {
            bail!("/stats lists campaign {id:?} twice");
        }
    }
    Ok(stats)
}

/// One number on which the log and `/stats` disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub id: String,
    pub field: &'static str,
    pub log: i128,
    pub stats: i128,
    /// The campaign is missing from one side (counted as zeros there): which.
    pub absent_from: Option<&'static str>,
}

impl Mismatch {
    pub fn describe(&self) -> String {
        let absent = self
            .absent_from
            .map_or(String::new(), |side| format!(" (not in {side})"));
        format!(
            "{}: {} log {} /stats {} (log - /stats = {}){absent}",
            self.id,
            self.field,
            self.log,
            self.stats,
            self.log - self.stats
        )
    }
}

/// Every compared number that differs, campaign by campaign (ids of either side; a campaign
/// missing from one side is zeros there).
pub fn compare(log: &BTreeMap<&str, Totals>, stats: &BTreeMap<String, Compared>) -> Vec<Mismatch> {
    let mut ids: Vec<&str> = log.keys().copied().collect();
    ids.extend(stats.keys().map(String::as_str));
    ids.sort_unstable();
    ids.dedup();
    let mut mismatches = Vec::new();
    for id in ids {
        let from_log = log.get(id).map(compared_of_totals);
        let from_stats = stats.get(id).copied();
        let absent_from = match (from_log, from_stats) {
            (None, _) => Some("the log"),
            (_, None) => Some("/stats"),
            _ => None,
        };
        let from_log = from_log.unwrap_or_default();
        let from_stats = from_stats.unwrap_or_default();
        for (field_idx, field) in FIELDS.iter().enumerate() {
            if from_log[field_idx] != from_stats[field_idx] {
                mismatches.push(Mismatch {
                    id: id.to_owned(),
                    field,
                    log: from_log[field_idx],
                    stats: from_stats[field_idx],
                    absent_from,
                });
            }
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_and_absences_are_mismatches_and_zeros_are_not() {
        let body = br#"{"day":20454,"campaigns":[
            {"id":"a","spend_total_micros":5000,"spend_today_micros":5000,"bids":9,"wins":2,
             "impressions":3,"billings":2,"clicks":1},
            {"id":"b","spend_total_micros":0,"wins":0,"impressions":0,"clicks":0},
            {"id":"c","spend_total_micros":1,"wins":0,"impressions":0,"clicks":0}]}"#;
        let stats = parse_stats(body).unwrap();
        let a = Totals {
            wins: 2,
            impressions: 3,
            clicks: 1,
            spend_micros: 4000,
            ..Totals::default()
        };
        let d = Totals {
            clicks: 1,
            ..Totals::default()
        };
        let log = BTreeMap::from([("a", a), ("d", d)]);
        let mismatches = compare(&log, &stats);
        let described: Vec<String> = mismatches.iter().map(Mismatch::describe).collect();
        assert_eq!(
            described,
            [
                "a: spend_total_micros log 4000 /stats 5000 (log - /stats = -1000)",
                "c: spend_total_micros log 0 /stats 1 (log - /stats = -1) (not in the log)",
                "d: clicks log 1 /stats 0 (log - /stats = 1) (not in /stats)",
            ]
        );
    }

    #[test]
    fn malformed_stats_are_refused() {
        for bad in [
            &b"nope"[..],
            br#"{"campaigns":{}}"#,
            br#"{"campaigns":[{"spend_total_micros":1}]}"#,
            br#"{"campaigns":[{"id":"a","spend_total_micros":1.5,"wins":0,"impressions":0,"clicks":0}]}"#,
            br#"{"campaigns":[{"id":"a","spend_total_micros":1,"wins":0,"impressions":0}]}"#,
            br#"{"campaigns":[{"id":"a","spend_total_micros":0,"wins":0,"impressions":0,"clicks":0},
                              {"id":"a","spend_total_micros":0,"wins":0,"impressions":0,"clicks":0}]}"#,
        ] {
            assert!(parse_stats(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
