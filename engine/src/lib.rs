//! adshard: a thread-per-core, shared-nothing OpenRTB ad server.
//!
//! The library holds everything the `adshard` binary runs, so that `bench/`, `tools/` and the
//! integration tests drive the same code through its public API. See ARCHITECTURE.md for the
//! codemap and the life of a request.

// A `pub` item is either part of the engine's API (reachable from here) or `pub(crate)`.
#![deny(unreachable_pub)]

pub mod admin;
pub mod adrequest;
pub mod auction;
pub mod bidders;
pub mod binary;
pub mod budget;
pub mod campaign;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod currency;
pub mod delivery;
pub mod error;
pub mod eventlog;
pub mod freqcap;
pub mod http;
pub mod json;
pub mod openrtb;
pub mod overload;
pub mod pacing;
pub mod server;
pub mod shard;
pub mod stats;
pub mod targeting;
pub mod tracking;
