//! adshard's command-line tools, as a library so that their tests drive the same code as the
//! binaries. Tools use only the engine's public API (`adshard::...`), like any other client.
//!
//! - `campaigns` and `traffic`: the seeded generators behind `adshard-gen`.
//! - `pools`, `rng`, `zipf`: what both generators share, so generated campaigns target the
//!   values generated traffic carries.
//! - `events`: `adshard-events`, the event log's printer, verifier, summary and `/stats` check.

pub mod campaigns;
pub mod events;
pub mod pacing_sim;
pub mod pools;
pub mod replay;
pub mod replay_http;
pub mod requirements;
pub mod rng;
pub mod traffic;
pub mod zipf;
