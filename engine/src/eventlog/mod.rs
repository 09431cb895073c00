//! The durable event log: per shard, an append-only log of what changes money and counts
//! (bids with their commitments, tracking events, traffic), written through glommio's io_uring
//! DMA files off the request path, so that a restart, a crash or a deploy loses nothing that
//! was acknowledged.
//!
//! - `record`: the records and their CRC32C frames;
//! - `segment`: segment files (header, naming) and how a segment's records end (a torn tail
//!   is cut, damage before it is an error);
//! - `writer`: the shard's buffer and its group-commit task;
//! - `layout`: the directory (lock, current generation, shard directories, checkpoint files);
//! - `read`: reading a shard's checkpoint and log back at start and in the tools;
//! - `config`: the `[events]` section.
//!
//! What the records mean to the shard's state (replay, checkpoints, merging shards) is
//! `recovery`'s; this module knows bytes, files and durability only.

pub mod config;
pub mod layout;
pub mod read;
pub mod record;
pub mod segment;
pub mod writer;

pub use config::{EventsConfig, LogNoBids, NoBidsWord};
pub use record::{BidRecord, EventRecord, Lsn, NoBidRecord, Record, RunRecord, TrafficRecord};
pub use writer::{EventLog, LogCounters, LogSnapshot, Unavailable};
