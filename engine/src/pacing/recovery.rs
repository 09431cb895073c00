//! A pacer across a restart: the learned traffic curve, today's traffic so far and each even
//! campaign's controller state as plain data, so that a restart does not send the pacer back
//! to its prior, and the merge of several shards' exports when the shard count changes.
//!
//! # Merging `N` old shards into `M` new ones
//!
//! Every shard sees a share of the same traffic, so quantities fall into two kinds:
//!
//! - Shapes and ratios are the same on every shard, and are averaged: the curve's hourly
//!   shares (weighted by the days each shard learnt, so a shard still on its prior does not
//!   dilute a learnt curve), the recent curve share per interval, a campaign's throttle (a
//!   share of requests) and its smoothed spend per interval (the ledger's view of every
//!   shard's spend, the same figure on each).
//! - Volumes are a shard's share of the total: today's requests per hour, the smoothed recent
//!   requests per interval and a campaign's smoothed exposure (throttle x requests). They are
//!   summed over the old shards (the whole traffic) and divided by `M`, since each new shard
//!   sees about `1/M` of it.
//!
//! Only today's traffic counts as today's (an export of an earlier day contributes its curve
//! only). The controllers' baselines are not exported: the first update after a restart takes
//! new ones, so an interval that spans the restart is never measured.

use super::{CampaignState, Pacer, PacingMode, TrafficCurve, HOURS_PER_DAY, SECONDS_PER_DAY};

/// One even campaign's controller state in a [`PacerExport`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CampaignPacingExport {
    pub campaign_idx: u32,
    /// Share of requests the campaign bids on.
    pub throttle: f64,
    /// Smoothed spend per interval (all shards, as the ledger sees it), micro-units.
    pub spend_ewma_micros: f64,
    /// Smoothed `throttle x requests` per interval on this shard.
    pub exposure_ewma: f64,
}

/// A pacer's state as plain data (campaign indices are the exporter's).
#[derive(Debug, Clone, PartialEq)]
pub struct PacerExport {
    /// The learned curve's hourly shares.
    pub curve_shares: [f64; HOURS_PER_DAY],
    /// Complete days blended into the curve.
    pub days_learned: u32,
    /// The UTC day being counted; `None` before the pacer saw a request.
    pub day: Option<i64>,
    /// Whether `day` is observed whole (only such days are learnt).
    pub day_complete: bool,
    /// Second of `day` from which requests were counted.
    pub observed_from_s: i64,
    pub hour_counts: [u64; HOURS_PER_DAY],
    pub requests_today: u64,
    /// Smoothed requests per interval and curve share per interval.
    pub recent_requests_ewma: f64,
    pub recent_share_ewma: f64,
    /// Length of the last measured update interval.
    pub interval_s: Option<i64>,
    /// The day the campaign states belong to.
    pub campaigns_day: Option<i64>,
    /// Even campaigns only.
    pub campaigns: Vec<CampaignPacingExport>,
}

impl Pacer {
    /// The pacer as plain data: the traffic it learnt and its even campaigns' controllers.
    pub fn export(&self) -> PacerExport {
        let traffic = &self.traffic;
        PacerExport {
            curve_shares: *traffic.curve.shares(),
            days_learned: traffic.days_learned,
            day: traffic.day,
            day_complete: traffic.day_complete,
            observed_from_s: traffic.observed_from_s,
            hour_counts: traffic.hour_counts,
            requests_today: traffic.requests_today,
            recent_requests_ewma: traffic.recent_requests_ewma,
            recent_share_ewma: traffic.recent_share_ewma,
            interval_s: self.interval_s,
            campaigns_day: self.campaigns_day,
            campaigns: self
                .campaigns
                .iter()
                .enumerate()
                .filter(|(_, campaign)| campaign.mode == PacingMode::Even)
                .map(|(idx, campaign)| CampaignPacingExport {
                    campaign_idx: idx as u32,
                    throttle: campaign.throttle,
                    spend_ewma_micros: campaign.spend_ewma_micros,
                    exposure_ewma: campaign.exposure_ewma,
                })
                .collect(),
        }
    }

    /// Takes the export's traffic state in place of this pacer's, and the controller state
    /// of each exported campaign `i` for campaign `map(i)` (`None`: gone) if that one is even
    /// here. Values a checkpoint cannot hold (non-finite, out of range) are replaced by sane
    /// ones. The next update takes new baselines.
    pub fn import(&mut self, export: &PacerExport, map: impl Fn(u32) -> Option<u32>) {
        let config = self.config;
        let traffic = &mut self.traffic;
        traffic.curve = TrafficCurve::from_shares(&export.curve_shares);
        traffic.days_learned = export.days_learned;
        traffic.day = export.day;
        traffic.day_complete = export.day_complete;
        traffic.observed_from_s = export.observed_from_s.clamp(0, SECONDS_PER_DAY - 1);
        traffic.hour_counts = export.hour_counts;
        traffic.requests_today = export.requests_today;
        traffic.recent_requests_ewma = non_negative(export.recent_requests_ewma);
        traffic.recent_share_ewma = non_negative(export.recent_share_ewma);
        self.interval_s = export
            .interval_s
            .map(|interval_s| interval_s.clamp(1, SECONDS_PER_DAY));
        self.campaigns_day = export.campaigns_day;
        self.last_update = None;
        for exported in &export.campaigns {
            let Some(campaign) = map(exported.campaign_idx)
                .and_then(|campaign_idx| self.campaigns.get_mut(campaign_idx as usize))
            else {
                continue;
            };
            if campaign.mode != PacingMode::Even {
                continue;
            }
            *campaign = CampaignState {
                mode: campaign.mode,
                throttle: if exported.throttle.is_finite() {
                    exported.throttle.clamp(config.throttle_min, 1.0)
                } else {
                    config.throttle_start
                },
                spent_baseline_micros: None,
                spend_ewma_micros: non_negative(exported.spend_ewma_micros),
                exposure_ewma: non_negative(exported.exposure_ewma),
            };
        }
    }
}

impl PacerExport {
    /// The state one of `new_count` new shards starts from when `parts` (every old shard's
    /// export, with campaign indices already in one common numbering) are taken over: see the
    /// module doc for what is averaged and what is divided.
    pub fn merge(parts: &[PacerExport], new_count: usize) -> Option<PacerExport> {
        let first = parts.first()?;
        let share_of_new = 1.0 / new_count.max(1) as f64;
        let day = parts.iter().filter_map(|part| part.day).max();
        let today: Vec<&PacerExport> = parts.iter().filter(|part| part.day == day).collect();
        let mut hour_counts = [0u64; HOURS_PER_DAY];
        for (hour, count) in hour_counts.iter_mut().enumerate() {
            let sum = today
                .iter()
                .fold(0u64, |sum, part| sum.saturating_add(part.hour_counts[hour]));
            *count = sum / new_count.max(1) as u64;
        }
        let shares: Vec<f64> = today
            .iter()
            .map(|part| part.recent_share_ewma)
            .filter(|share| share.is_finite() && *share > 0.0)
            .collect();
        Some(PacerExport {
            curve_shares: merged_curve(parts),
            days_learned: parts
                .iter()
                .map(|part| part.days_learned)
                .max()
                .unwrap_or(0),
            day,
            day_complete: !today.is_empty() && today.iter().all(|part| part.day_complete),
            observed_from_s: today
                .iter()
                .map(|part| part.observed_from_s)
                .max()
                .unwrap_or(first.observed_from_s),
            hour_counts,
            requests_today: hour_counts
                .iter()
                .fold(0u64, |sum, c| sum.saturating_add(*c)),
            recent_requests_ewma: today
                .iter()
                .map(|part| non_negative(part.recent_requests_ewma))
                .sum::<f64>()
                * share_of_new,
            recent_share_ewma: mean(&shares),
            interval_s: parts.iter().filter_map(|part| part.interval_s).max(),
            campaigns_day: parts.iter().filter_map(|part| part.campaigns_day).max(),
            campaigns: merged_campaigns(parts, share_of_new),
        })
    }
}

/// The old shards' curves averaged by shape, each weighted by the days it learnt (equally when
/// none learnt any).
fn merged_curve(parts: &[PacerExport]) -> [f64; HOURS_PER_DAY] {
    let learnt: f64 = parts.iter().map(|part| f64::from(part.days_learned)).sum();
    let mut weights = [0.0; HOURS_PER_DAY];
    for part in parts {
        let weight = if learnt > 0.0 {
            f64::from(part.days_learned)
        } else {
            1.0
        };
        let curve = TrafficCurve::from_shares(&part.curve_shares);
        for (sum, share) in weights.iter_mut().zip(curve.shares()) {
            *sum += weight * share;
        }
    }
    *TrafficCurve::from_weights(&weights).shares()
}

/// Per campaign (in the parts' common numbering): throttle and spend averaged over the parts
/// that have it, exposure summed and divided among the new shards.
fn merged_campaigns(parts: &[PacerExport], share_of_new: f64) -> Vec<CampaignPacingExport> {
    let mut by_campaign: Vec<(CampaignPacingExport, u32)> = Vec::new();
    let mut position = hashbrown::HashMap::new();
    for campaign in parts.iter().flat_map(|part| &part.campaigns) {
        let at = *position.entry(campaign.campaign_idx).or_insert_with(|| {
            by_campaign.push((
                CampaignPacingExport {
                    campaign_idx: campaign.campaign_idx,
                    throttle: 0.0,
                    spend_ewma_micros: 0.0,
                    exposure_ewma: 0.0,
                },
                0,
            ));
            by_campaign.len() - 1
        });
        let (sum, n) = &mut by_campaign[at];
        sum.throttle += finite_or(campaign.throttle, 1.0).clamp(0.0, 1.0);
        sum.spend_ewma_micros += non_negative(campaign.spend_ewma_micros);
        sum.exposure_ewma += non_negative(campaign.exposure_ewma);
        *n += 1;
    }
    by_campaign
        .into_iter()
        .map(|(sum, n)| CampaignPacingExport {
            throttle: sum.throttle / f64::from(n),
            spend_ewma_micros: sum.spend_ewma_micros / f64::from(n),
            exposure_ewma: sum.exposure_ewma * share_of_new,
            ..sum
        })
        .collect()
}

fn non_negative(value: f64) -> f64 {
    finite_or(value, 0.0).max(0.0)
}

fn finite_or(value: f64, fallback: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        fallback
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests;
