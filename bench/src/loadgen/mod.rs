//! `adshard-bench`: an open-loop, constant-rate HTTP/1.1 load generator (design §10). Every
//! request has an intended send time and its latency counts from it, so a server that stalls
//! cannot slow the generator down and hide in the tail (no coordinated omission).
//!
//! Modules, in the order a run uses them: `cli` (command line and modes), `target` (the
//! loopback-only URL), `requests` (bodies framed into wire bytes at start-up), `schedule`
//! (intended send times), `run` (threads, connections), `client` (the HTTP/1.1 exchange),
//! `stats` (per-thread counts and histograms), `report`, `hgrm` and `svg` (output).

pub mod cli;
pub mod client;
pub mod hgrm;
pub mod report;
pub mod requests;
pub mod run;
pub mod schedule;
pub mod stats;
pub mod svg;
pub mod target;
