//! The tracking configuration (`[tracking]` in the config file): the secret, the public URL
//! links point to, the token lifetime and the bid rate the dedupe window is sized for. Owned
//! by `tracking`; `config` gathers this section with the others and checks it.

use serde::Deserialize;

/// Signed tracking URLs (`/win`, `/imp`, `/click`, `/loss`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// Secret the tracking tokens' MAC key is derived from. Empty: the environment variable `ADSHARD_TRACKING_SECRET`, else the demo
    /// secret, which `serve` warns about loudly: anyone can forge events with it.
    pub secret: String,
    /// Base URL that tracking links in responses point to (this server's public address as
    /// clients reach it).
    pub public_url: String,
    /// Tokens older than this are refused (403), but for a late click, which still redirects.
    pub token_ttl_s: u64,
    /// The most bids one shard signs per second, sustained over a token's lifetime. Each
    /// shard's dedupe window keeps 4 bits per bid for `token_ttl_s` plus the clock skew, so it
    /// can judge every event of every live token exactly: about 1.8 MB per 1000 bids/s at a 1 h
    /// TTL. Beyond it a shard stops bidding (counted) until older tokens expire, rather than
    /// risk counting an event twice. Replaces `dedupe_entries_max`, which bounded a window that
    /// forgot silently.
    pub bids_per_shard_per_s_max: u64,
}

impl TrackingConfig {
    /// How long a bid's events may still arrive after it is signed: the TTL plus the clock
    /// skew a verifier allows. Saturates on a TTL no config accepts.
    pub fn hold_s(&self) -> i64 {
        i64::try_from(self.token_ttl_s)
            .unwrap_or(i64::MAX)
            .saturating_add(super::CLOCK_SKEW_S_MAX)
    }
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            secret: String::new(),
            public_url: "http://127.0.0.1:8080".into(),
            token_ttl_s: 3600,
            // A shard decides tens of thousands of requests a second at most on the reference
            // host (docs/measurements.md), and real traffic bids on a fraction of them.
            bids_per_shard_per_s_max: 10_000,
        }
    }
}
