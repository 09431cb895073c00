//! `GET /stats` on the admin port: per campaign, its counts and spend summed over the shards,
//! and what is left of today's budget, as JSON. The numbers are the shards' books, which the
//! event log rebuilds after a restart, so they survive one.

use std::collections::BTreeMap;

use super::{CampaignBook, CampaignCounters, StatsSnapshot};
use crate::json::write_json_string;

/// Writes the `/stats` document of every shard's books, for UTC day `today`:
/// `{"day":D,"campaigns":[{"id",...},...]}` in id order.
pub fn render_stats_json(snapshots: &[StatsSnapshot], today: i64, out: &mut Vec<u8>) {
    let mut campaigns: BTreeMap<&str, (CampaignCounters, i64, &CampaignBook)> = BTreeMap::new();
    for book in snapshots.iter().flat_map(|s| &s.books) {
        let entry =
            campaigns
                .entry(book.id.as_str())
                .or_insert((CampaignCounters::default(), 0, book));
        let today_spend = book.counters.spend_on(today);
        entry.0.add(&book.counters);
        entry.1 = entry.1.saturating_add(today_spend);
    }
    out.extend_from_slice(format!("{{\"day\":{today},\"campaigns\":[").as_bytes());
    for (i, (id, (counters, spend_today, book))) in campaigns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        write_json_string(out, id);
        let left = |budget: Option<i64>, spent: i64| {
            budget.map_or("null".to_string(), |b| {
                b.saturating_sub(spent).max(0).to_string()
            })
        };
        let optional = |value: Option<i64>| value.map_or("null".to_string(), |v| v.to_string());
        out.extend_from_slice(
            format!(
                ",\"spend_total_micros\":{},\"spend_today_micros\":{spend_today},\
                 \"bids\":{},\"wins\":{},\"impressions\":{},\"billings\":{},\"clicks\":{},\
                 \"daily_budget_micros\":{},\"total_budget_micros\":{},\
                 \"budget_left_today_micros\":{},\"budget_left_total_micros\":{}}}",
                counters.spend_micros,
                counters.bids,
                counters.wins,
                counters.impressions,
                counters.billings,
                counters.clicks,
                optional(book.daily_budget_micros),
                optional(book.total_budget_micros),
                left(book.daily_budget_micros, *spend_today),
                left(book.total_budget_micros, counters.spend_micros),
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"]}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(books: Vec<CampaignBook>) -> StatsSnapshot {
        StatsSnapshot {
            books,
            ..crate::stats::ShardStats::new(0).snapshot()
        }
    }

    #[test]
    fn books_are_summed_over_shards_by_id() {
        let book = |spend: i64, day: i64| CampaignBook {
            id: "c\"1".into(),
            counters: CampaignCounters {
                impressions: 2,
                spend_micros: spend,
                spend_today_micros: spend,
                spend_day: day,
                ..CampaignCounters::default()
            },
            daily_budget_micros: Some(10_000),
            total_budget_micros: None,
        };
        let mut out = Vec::new();
        render_stats_json(
            &[shard(vec![book(3_000, 7)]), shard(vec![book(4_000, 6)])],
            7,
            &mut out,
        );
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let c = &doc["campaigns"][0];
        assert_eq!(c["id"], "c\"1");
        assert_eq!(c["spend_total_micros"], 7_000);
        assert_eq!(c["spend_today_micros"], 3_000);
        assert_eq!(c["impressions"], 4);
        assert_eq!(c["budget_left_today_micros"], 7_000);
        assert_eq!(c["budget_left_total_micros"], serde_json::Value::Null);
    }
}
