//! What adshard's tests and benchmarks share, in one place instead of a `*_common` module
//! copied into each test directory. A dev-dependency only: the engine's integration tests and
//! the bench's and tools' tests use it, and nothing that ships does. The engine's own unit tests
//! cannot (this crate depends on the engine), which is why the campaign builder lives in
//! `adshard::campaign::builder`; it is re-exported here with the rest.
//!
//! - `mockbidder`: a mock DSP with latency, bid-rate, price and fault injection, in-process
//!   or as the `adshard-mockbidder` binary;
//! - `server`: an in-process server on loopback and a blocking HTTP/1.1 client;
//! - `process`: the real `adshard` binary as a child process (killed, stopped, restarted on
//!   its event log) and campaign data files for it;
//! - `tracked`: bids' tracking calls and their fates, and what `/stats` must show for them
//!   after a crash;
//! - `bidders`: mock bidders and a server asking them, for the end-to-end bidder tests;
//! - `delivery`: campaigns, auctions and impressions for budget, cap and routing tests;
//! - `alloc`: the counting allocator and a lone shard handler to count a request's allocations;
//! - `openrtb`, `targeting`: requests, JSON-pointer edits and targeting helpers;
//! - `fixtures`: where the project's fixtures are, and the shared corpus when asked for;
//!   [`temp_dir`] for the files a test writes.

pub mod alloc;
pub mod bidders;
pub mod delivery;
pub mod fixtures;
pub mod mockbidder;
pub mod openrtb;
pub mod process;
pub mod server;
pub mod targeting;
pub mod tracked;

use std::path::PathBuf;

pub use adshard::campaign::{CampaignBuilder, CreativeBuilder};
/// The tools' seeded generator, for tests that draw their traffic from a printed seed.
pub use adshard_tools::rng::Rng;

/// A fresh, empty directory under the system temp dir for one test's files, named after the
/// test and the process so that test binaries running at once never share one. The test
/// removes it when done.
pub fn temp_dir(test_name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adshard-{test_name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("making {}: {error}", dir.display()));
    dir
}
