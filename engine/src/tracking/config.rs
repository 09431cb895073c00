//! The tracking configuration (`[tracking]` in the config file): the secret, the public URL
//! links point to, the token lifetime and the dedupe window's size. Owned by `tracking`;
//! `config` gathers this section with the others and checks it.

use serde::Deserialize;

/// Signed tracking URLs (`/win`, `/imp`, `/click`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// Secret the tracking tokens' MAC key is derived from. Empty: the environment variable `ADSHARD_TRACKING_SECRET`, else the demo
    /// secret, which `serve` warns about loudly: anyone can forge events with it.
    pub secret: String,
    /// Base URL that tracking links in responses point to (this server's public address as
    /// clients reach it).
    pub public_url: String,
    /// Tokens older than this are refused (403).
    pub token_ttl_s: u64,
    /// Tokens remembered per shard to count a repeated event once. Bounded: the oldest are
    /// forgotten first; a token older than `token_ttl_s` is refused anyway.
    pub dedupe_entries_max: usize,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            secret: String::new(),
            public_url: "http://127.0.0.1:8080".into(),
            token_ttl_s: 3600,
            dedupe_entries_max: 1 << 20,
        }
    }
}
