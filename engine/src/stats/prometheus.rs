//! The Prometheus text exposition (version 0.0.4) of every shard's [`StatsSnapshot`], one
//! section per concern; the admin listener calls [`render_prometheus`] on a scrape. Kept apart
//! from the counters: the request path only ever touches those.

use std::fmt::Write as _;

use super::{
    CampaignCounters, DecideHistogram, StatsSnapshot, TrackingOutcome, LATENCY_BUCKETS_US, STATUSES,
};
use crate::http::Endpoint;
use crate::tracking::{EventKind, LossReason, PriceRefusal};

/// Renders snapshots of every shard in the Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(snapshots: &[StatsSnapshot], out: &mut String) {
    render_http(snapshots, out);
    render_gauges(snapshots, out);
    render_decide(snapshots, out);
    render_bidders(snapshots, out);
    render_overload(snapshots, out);
    render_tracking(snapshots, out);
    render_campaigns(snapshots, out);
    render_events(snapshots, out);
}

/// Requests by endpoint and status, and their latency histogram, per shard.
fn render_http(snapshots: &[StatsSnapshot], out: &mut String) {
    out.push_str(
        "# HELP adshard_http_requests_total HTTP requests answered, by endpoint and status.\n",
    );
    out.push_str("# TYPE adshard_http_requests_total counter\n");
    for snapshot in snapshots {
        for endpoint in Endpoint::ALL {
            for (slot_idx, count) in snapshot.requests[endpoint.idx()].iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(slot_idx)
                    .map_or_else(|| "other".to_string(), u16::to_string);
                let _ = writeln!(
                    out,
                    "adshard_http_requests_total{{shard=\"{}\",endpoint=\"{}\",status=\"{}\"}} {}",
                    snapshot.shard_idx,
                    endpoint.label(),
                    status,
                    count
                );
            }
        }
    }
    out.push_str(
        "# HELP adshard_http_request_duration_seconds Time from a request fully read to its response queued.\n",
    );
    out.push_str("# TYPE adshard_http_request_duration_seconds histogram\n");
    for snapshot in snapshots {
        for endpoint in Endpoint::ALL {
            let buckets = &snapshot.latency_buckets[endpoint.idx()];
            let total: u64 = buckets.iter().sum();
            if total == 0 {
                continue;
            }
            let labels = format!(
                "shard=\"{}\",endpoint=\"{}\"",
                snapshot.shard_idx,
                endpoint.label()
            );
            let mut cumulative = 0;
            for (bucket_idx, count) in buckets.iter().enumerate() {
                cumulative += count;
                let le = LATENCY_BUCKETS_US
                    .get(bucket_idx)
                    .map_or_else(|| "+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(
                    out,
                    "adshard_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "adshard_http_request_duration_seconds_sum{{{labels}}} {}",
                snapshot.latency_sum_us[endpoint.idx()] as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "adshard_http_request_duration_seconds_count{{{labels}}} {total}"
            );
        }
    }
}

/// The per-shard gauges and counters that are one number each.
fn render_gauges(snapshots: &[StatsSnapshot], out: &mut String) {
    type Sample = fn(&StatsSnapshot) -> u64;
    let gauges: [(&str, &str, &str, Sample); 23] = [
        (
            "adshard_connections_accepted_total",
            "counter",
            "Connections accepted.",
            |s| s.connections_accepted,
        ),
        (
            "adshard_connections_rejected_total",
            "counter",
            "Connections refused (503, close) at the connection limit, none idle to make way.",
            |s| s.connections_rejected_at_limit,
        ),
        (
            "adshard_connections_open",
            "gauge",
            "Connections open now.",
            |s| s.connections_open,
        ),
        (
            "adshard_connection_read_timeouts_total",
            "counter",
            "Connections closed because the client was too slow sending a request.",
            |s| s.connection_read_timeouts,
        ),
        (
            "adshard_connection_io_errors_total",
            "counter",
            "Connections that failed mid-request (reset, broken pipe).",
            |s| s.connection_io_errors,
        ),
        (
            "adshard_connections_busy",
            "gauge",
            "Connections with a request in progress now (the rest of the open ones are idle).",
            |s| s.connections_busy,
        ),
        (
            "adshard_connections_evicted_total",
            "counter",
            "Idle connections closed at the connection limit to admit a new one.",
            |s| s.connections_evicted,
        ),
        (
            "adshard_connection_first_byte_timeouts_total",
            "counter",
            "New connections closed for sending nothing within first_byte_timeout_ms.",
            |s| s.connection_first_byte_timeouts,
        ),
        (
            "adshard_budget_refused_total_budget_total",
            "counter",
            "Candidate bids refused because the campaign's total budget had no room.",
            |s| s.delivery.budget_refused_total,
        ),
        (
            "adshard_budget_refused_daily_budget_total",
            "counter",
            "Candidate bids refused because today's budget had no room.",
            |s| s.delivery.budget_refused_daily,
        ),
        (
            "adshard_budget_refused_allowance_total",
            "counter",
            "Candidate bids refused until the other shards acknowledge this shard's spend.",
            |s| s.delivery.budget_refused_allowance,
        ),
        (
            "adshard_budget_rounds_sent_total",
            "counter",
            "Budget delta rounds sent to the other shards.",
            |s| s.delivery.budget_rounds_sent,
        ),
        (
            "adshard_budget_rounds_applied_total",
            "counter",
            "Budget delta rounds received from other shards and applied.",
            |s| s.delivery.budget_rounds_applied,
        ),
        (
            "adshard_budget_unreserved_spend_total",
            "counter",
            "Spend events whose budget commitment had already been released (outside the bound).",
            |s| s.delivery.budget_unreserved_spend,
        ),
        (
            "adshard_pacing_throttled_total",
            "counter",
            "Candidate bids skipped by even pacing.",
            |s| s.delivery.pacing_throttled,
        ),
        (
            "adshard_freqcap_users",
            "gauge",
            "Users with frequency-cap counts on this shard.",
            |s| s.delivery.freqcap_users,
        ),
        (
            "adshard_freqcap_evicted_total",
            "counter",
            "Users evicted from the frequency-cap store (least recently seen first).",
            |s| s.delivery.freqcap_evicted,
        ),
        (
            "adshard_routed_out_total",
            "counter",
            "Auctions handed to the shard owning their user.",
            |s| s.delivery.routed_out,
        ),
        (
            "adshard_routed_in_total",
            "counter",
            "Auctions decided here for the shard that accepted them.",
            |s| s.delivery.routed_in,
        ),
        (
            "adshard_overload_queue_delay_us",
            "gauge",
            "Smoothed queueing delay of the shard's request queue, in microseconds.",
            |s| s.overload.delay_us,
        ),
        (
            "adshard_overload_in_flight",
            "gauge",
            "Auctions accepted and not yet answered.",
            |s| s.overload.in_flight,
        ),
        (
            "adshard_overload_level",
            "gauge",
            "0 normal, 1 no external fan-out, 2 local campaigns only, 3 shedding.",
            |s| u64::from(s.overload.level),
        ),
        (
            "adshard_route_slots_exhausted_total",
            "counter",
            "Auctions served where they landed because every routing slot was taken.",
            |s| s.delivery.route_slots_exhausted,
        ),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for snapshot in snapshots {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\"}} {}",
                snapshot.shard_idx,
                value(snapshot)
            );
        }
    }
}

/// The decide-time summary of local and routed auctions, merged over shards.
fn render_decide(snapshots: &[StatsSnapshot], out: &mut String) {
    let mut local = DecideHistogram::default();
    let mut routed = DecideHistogram::default();
    for snapshot in snapshots {
        local.add(&snapshot.decide.local);
        routed.add(&snapshot.decide.routed);
    }
    out.push_str("# HELP adshard_auction_decide_seconds Time from an auction's body read to its response ready: decided on the shard that accepted it (local), or handed to the user's owner shard and back (routed). All shards, 1 us resolution.\n");
    out.push_str("# TYPE adshard_auction_decide_seconds summary\n");
    for (route, histogram) in [("local", &local), ("routed", &routed)] {
        for quantile in [0.5, 0.9, 0.99, 0.999] {
            if let Some(us) = histogram.quantile_us(quantile) {
                let _ = writeln!(
                    out,
                    "adshard_auction_decide_seconds{{route=\"{route}\",quantile=\"{quantile}\"}} {}",
                    us as f64 / 1e6
                );
            }
        }
        let _ = writeln!(
            out,
            "adshard_auction_decide_seconds_count{{route=\"{route}\"}} {}",
            histogram.total()
        );
    }
}

/// Campaign counters are summed over shards: which shard counted an event is an accident of
/// routing, and one series per campaign keeps the cardinality at the campaign count.
fn render_campaigns(snapshots: &[StatsSnapshot], out: &mut String) {
    let mut campaigns: std::collections::BTreeMap<&str, CampaignCounters> = Default::default();
    for snapshot in snapshots {
        for (id, counters) in &snapshot.campaigns {
            campaigns.entry(id.as_str()).or_default().add(counters);
        }
    }
    out.push_str(
        "# HELP adshard_campaign_events_total Bids, wins, impressions, billing notices, clicks and losses per campaign.\n",
    );
    out.push_str("# TYPE adshard_campaign_events_total counter\n");
    for (id, counters) in &campaigns {
        for (event, count) in [
            ("bid", counters.bids),
            ("win", counters.wins),
            ("impression", counters.impressions),
            ("billing", counters.billings),
            ("click", counters.clicks),
            ("loss", counters.losses),
        ] {
            let _ = writeln!(
                out,
                "adshard_campaign_events_total{{campaign=\"{}\",event=\"{event}\"}} {count}",
                LabelValue(id)
            );
        }
    }
    out.push_str(
        "# HELP adshard_campaign_spend_micros_total Spend per campaign, in micro-units of its currency.\n",
    );
    out.push_str("# TYPE adshard_campaign_spend_micros_total counter\n");
    for (id, counters) in &campaigns {
        let _ = writeln!(
            out,
            "adshard_campaign_spend_micros_total{{campaign=\"{}\"}} {}",
            LabelValue(id),
            counters.spend_micros
        );
    }
}

/// The tracking calls per event and outcome, and the clearing prices not believed.
fn render_tracking(snapshots: &[StatsSnapshot], out: &mut String) {
    let event_label =
        |event_idx: usize| EventKind::ALL.get(event_idx).map_or("other", |k| k.label());
    out.push_str(
        "# HELP adshard_tracking_requests_total Tracking requests by event and outcome.\n",
    );
    out.push_str("# TYPE adshard_tracking_requests_total counter\n");
    for snapshot in snapshots {
        for (event_idx, row) in snapshot.tracking.iter().enumerate() {
            for (outcome_idx, count) in row.iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "adshard_tracking_requests_total{{shard=\"{}\",event=\"{}\",outcome=\"{}\"}} {}",
                    snapshot.shard_idx,
                    event_label(event_idx),
                    TrackingOutcome::ALL.get(outcome_idx).map_or("other", |o| o.label()),
                    count
                );
            }
        }
    }
    out.push_str("# HELP adshard_tracking_prices_refused_total Clearing prices (p) on win and billing notices not believed, by reason (per request: a first such notice is charged at the signed price).\n");
    out.push_str("# TYPE adshard_tracking_prices_refused_total counter\n");
    for snapshot in snapshots {
        for (event_idx, row) in snapshot.prices_refused.iter().enumerate() {
            for (refusal_idx, count) in row.iter().enumerate() {
                if *count == 0 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "adshard_tracking_prices_refused_total{{shard=\"{}\",event=\"{}\",reason=\"{}\"}} {}",
                    snapshot.shard_idx,
                    event_label(event_idx),
                    PriceRefusal::ALL.get(refusal_idx).map_or("other", |r| r.label()),
                    count
                );
            }
        }
    }
    out.push_str("# HELP adshard_tracking_loss_reasons_total Loss notices that resolved their bid (its first, before any spend event: its commitment is released), by the class of the exchange's OpenRTB loss reason code (unknown: none given or not a number).\n");
    out.push_str("# TYPE adshard_tracking_loss_reasons_total counter\n");
    for snapshot in snapshots {
        for (reason_idx, count) in snapshot.loss_reasons.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "adshard_tracking_loss_reasons_total{{shard=\"{}\",reason=\"{}\"}} {}",
                snapshot.shard_idx,
                LossReason::ALL
                    .get(reason_idx)
                    .map_or("other", |r| r.label()),
                count
            );
        }
    }
    out.push_str("# HELP adshard_tracking_bids_refused_total Winning bids not made because the shard's dedupe window was full: it could not judge more live tokens' events exactly (tracking.bids_per_shard_per_s_max).\n");
    out.push_str("# TYPE adshard_tracking_bids_refused_total counter\n");
    for snapshot in snapshots {
        let _ = writeln!(
            out,
            "adshard_tracking_bids_refused_total{{shard=\"{}\"}} {}",
            snapshot.shard_idx, snapshot.tracking_bids_refused
        );
    }
    out.push_str("# HELP adshard_tracking_dedupe_bytes Memory of the shard's dedupe window (4 bits per bid over the token TTL).\n");
    out.push_str("# TYPE adshard_tracking_dedupe_bytes gauge\n");
    for snapshot in snapshots {
        let _ = writeln!(
            out,
            "adshard_tracking_dedupe_bytes{{shard=\"{}\"}} {}",
            snapshot.shard_idx, snapshot.tracking_window_bytes
        );
    }
}

/// A Prometheus label value, escaped as the text format requires (backslash, quote, newline).
struct LabelValue<'a>(&'a str);

impl std::fmt::Display for LabelValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => std::fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Auctions answered per escape-valve level, per shard (its signals are among the shard gauges).
fn render_overload(snapshots: &[StatsSnapshot], out: &mut String) {
    use crate::overload::Level;
    let name = "adshard_overload_auctions_total";
    let _ = writeln!(
        out,
        "# HELP {name} Auctions by the level they were answered at (shed: 204 before parsing).\n# TYPE {name} counter"
    );
    for snapshot in snapshots {
        for (level, count) in Level::ALL.iter().zip(snapshot.overload.answered) {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",level=\"{}\"}} {count}",
                snapshot.shard_idx,
                level.label()
            );
        }
    }
}

/// Per-bidder series, summed over shards (one series per bidder and label keeps the
/// cardinality at the bidder count), except the connection gauge, which is per shard.
fn render_bidders(snapshots: &[StatsSnapshot], out: &mut String) {
    use crate::bidders::fanout::{BidderCounters, ERROR_LABELS};
    let mut totals: Vec<(&str, BidderCounters)> = Vec::new();
    for snapshot in snapshots {
        for bidder in &snapshot.bidders {
            match totals.iter_mut().find(|(name, _)| *name == bidder.name) {
                Some((_, total)) => total.add(&bidder.counters),
                None => totals.push((&bidder.name, bidder.counters.clone())),
            }
        }
    }
    if totals.is_empty() {
        return;
    }
    type Counter = (&'static str, &'static str, fn(&BidderCounters) -> u64);
    let counters: [Counter; 12] = [
        (
            "adshard_bidder_requests_total",
            "Bid requests sent to the bidder.",
            |c| c.requests,
        ),
        (
            "adshard_bidder_skipped_health_total",
            "Requests not sent: health throttling after errors and timeouts.",
            |c| c.skipped_health,
        ),
        (
            "adshard_bidder_skipped_shaping_total",
            "Requests not sent: traffic shaping (low learned bid rate in the context).",
            |c| c.skipped_shaping,
        ),
        (
            "adshard_bidder_explored_total",
            "Requests sent although shaping predicted no bid (exploration).",
            |c| c.explored,
        ),
        (
            "adshard_bidder_skipped_no_imps_total",
            "Requests not sent: no imp of a media kind the bidder buys.",
            |c| c.skipped_no_imps,
        ),
        (
            "adshard_bidder_skipped_no_time_total",
            "Requests not sent: too little time left before the deadline.",
            |c| c.skipped_no_time,
        ),
        (
            "adshard_bidder_no_bids_total",
            "Answers without a bid (204 or an empty seatbid).",
            |c| c.no_bids,
        ),
        (
            "adshard_bidder_bids_total",
            "Valid bids received before the deadline.",
            |c| c.bids,
        ),
        (
            "adshard_bidder_wins_total",
            "Bids that won their impression.",
            |c| c.wins,
        ),
        (
            "adshard_bidder_invalid_responses_total",
            "Answers that were not a usable bid response.",
            |c| c.invalid_responses,
        ),
        (
            "adshard_bidder_timeouts_total",
            "Exchanges with no full answer by the deadline (late bids dropped).",
            |c| c.timeouts(),
        ),
        (
            "adshard_bidder_chunked_responses_total",
            "Answers framed with Transfer-Encoding: chunked and decoded whole.",
            |c| c.chunked_responses,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (bidder, total) in &totals {
            let _ = writeln!(out, "{name}{{bidder=\"{bidder}\"}} {}", value(total));
        }
    }
    let name = "adshard_bidder_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Failed exchanges with the bidder, by kind.\n# TYPE {name} counter"
    );
    for (bidder, total) in &totals {
        for (label, count) in ERROR_LABELS.iter().zip(total.errors) {
            let _ = writeln!(
                out,
                "{name}{{bidder=\"{bidder}\",error=\"{label}\"}} {count}"
            );
        }
    }
    let name = "adshard_bidder_bids_rejected_total";
    let _ = writeln!(
        out,
        "# HELP {name} Bids dropped by validation, by reason.\n# TYPE {name} counter"
    );
    for (bidder, total) in &totals {
        for (reason, count) in total.rejected.iter() {
            if count > 0 {
                let _ = writeln!(
                    out,
                    "{name}{{bidder=\"{bidder}\",reason=\"{}\"}} {count}",
                    reason.as_str()
                );
            }
        }
    }
    let name = "adshard_bidder_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from sending a bid request to its full answer.\n# TYPE {name} summary"
    );
    for (bidder, total) in &totals {
        let _ = writeln!(
            out,
            "{name}_sum{{bidder=\"{bidder}\"}} {}",
            total.latency_us_sum as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "{name}_count{{bidder=\"{bidder}\"}} {}",
            total.latency_count
        );
    }
    let name = "adshard_bidder_connections_open";
    let _ = writeln!(
        out,
        "# HELP {name} Connections open to the bidder (idle and in use).\n# TYPE {name} gauge"
    );
    for snapshot in snapshots {
        for bidder in &snapshot.bidders {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",bidder=\"{}\"}} {}",
                snapshot.shard_idx, bidder.name, bidder.connections_open
            );
        }
    }
}

/// The event log per shard: whether it can write (the alarm), what it wrote, its commits and
/// checkpoints.
fn render_events(snapshots: &[StatsSnapshot], out: &mut String) {
    let logs: Vec<_> = snapshots
        .iter()
        .filter(|s| s.log.enabled)
        .map(|s| (s.shard_idx, s.log))
        .collect();
    if logs.is_empty() {
        return;
    }
    type Read = fn(&crate::eventlog::LogSnapshot) -> f64;
    let series: [(&str, &str, &str, Read); 16] = [
        ("adshard_event_log_healthy", "gauge", "1 while the shard's event log writes; 0 is the alarm: tracking answers 503 and budgeted campaigns do not bid.", |l| f64::from(u8::from(l.healthy))),
        ("adshard_event_log_records_total", "counter", "Records appended to the event log.", |l| l.counters.records as f64),
        ("adshard_event_log_bytes_total", "counter", "Bytes of records appended to the event log.", |l| l.counters.bytes as f64),
        ("adshard_event_log_commits_total", "counter", "Group commits (write and fdatasync) that succeeded.", |l| l.counters.commits as f64),
        ("adshard_event_log_commit_failures_total", "counter", "Group commits that failed (the batch is kept and written again).", |l| l.counters.commit_failures as f64),
        ("adshard_event_log_commit_stalls_total", "counter", "Group commits that took over a second (the log is unhealthy until they complete).", |l| l.counters.commit_stalls as f64),
        ("adshard_event_log_commit_seconds_total", "counter", "Time spent in group commits.", |l| l.counters.commit_us_total as f64 / 1e6),
        ("adshard_event_log_commit_seconds_max", "gauge", "Longest group commit since start.", |l| l.counters.commit_us_max as f64 / 1e6),
        ("adshard_event_log_records_dropped_total", "counter", "Bid records dropped because the buffer was full while the disk failed.", |l| l.counters.records_dropped as f64),
        ("adshard_event_log_pending_bytes", "gauge", "Bytes appended and not yet durable.", |l| l.pending_bytes as f64),
        ("adshard_event_log_segments_opened_total", "counter", "Segment files opened (rotation, and reopening after a failed commit).", |l| l.counters.segments_opened as f64),
        ("adshard_event_log_segments_deleted_total", "counter", "Segments deleted by retention.", |l| l.counters.segments_deleted as f64),
        ("adshard_event_log_checkpoints_total", "counter", "Checkpoints written.", |l| l.checkpoints as f64),
        ("adshard_event_log_checkpoint_failures_total", "counter", "Checkpoints that could not be written.", |l| l.checkpoint_failures as f64),
        ("adshard_event_log_checkpoint_bytes", "gauge", "Size of the last checkpoint.", |l| l.checkpoint_bytes as f64),
        ("adshard_event_log_checkpoint_encode_seconds", "gauge", "Time the last checkpoint took to build and encode on the shard (its write is off the shard's CPU).", |l| l.checkpoint_encode_us as f64 / 1e6),
    ];
    for (name, kind, help, read) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (shard_idx, log) in &logs {
            let _ = writeln!(out, "{name}{{shard=\"{shard_idx}\"}} {}", read(log));
        }
    }
}
