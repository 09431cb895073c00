//! The shard's side of the event log: opening it on the recovered state, the records the
//! shard writes outside the request path (the run, the campaign dictionary, traffic), the
//! answers to events other shards forwarded, the periodic checkpoint with segment retention,
//! and the last commit and checkpoint when the shard stops.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use super::tickets::next_ack;
use super::{ShardHandler, ShardMessage};
use crate::clock;
use crate::config::Config;
use crate::eventlog::layout::{encode_checkpoint, CheckpointHeader, CHECKPOINT, CHECKPOINT_TMP};
use crate::eventlog::writer::{delete_covered_segments, replace_file_durably};
use crate::eventlog::{EventLog, LogSnapshot, Record, RunRecord, TrafficRecord};
use crate::recovery::ShardEvents;
use crate::state::ShardState;

/// The shard's last checkpoint, for `/metrics`.
#[derive(Debug, Default)]
pub(super) struct CheckpointCounters {
    checkpoints: Cell<u64>,
    failures: Cell<u64>,
    bytes: Cell<u64>,
    encode_us: Cell<u64>,
    write_us: Cell<u64>,
}

impl ShardHandler {
    /// Restores the state recovery gave this shard and opens its log in the new generation:
    /// the run record (this run's bid sequences start at the window's new random base) and
    /// the campaign dictionary go first.
    pub(super) fn open_log(
        &mut self,
        shard_idx: usize,
        config: &Config,
        events: ShardEvents,
    ) -> Result<(), String> {
        if let Some(state) = &events.state {
            let catalog = self.catalog.borrow().clone();
            let mut delivery = self.delivery.borrow_mut();
            let mut windows = self.events.borrow_mut();
            let mut counters = self.context.stats.campaigns.borrow_mut();
            state
                .import_into(
                    catalog.campaigns().iter().map(|c| c.id.as_str()),
                    &mut delivery,
                    &mut windows,
                    &mut counters,
                )
                .map_err(|error| error.to_string())?;
            if !events.peers.is_empty() {
                let peers: Vec<&ShardState> = events.peers.iter().collect();
                ShardState::settle_budget(
                    catalog.campaigns().iter().map(|c| c.id.as_str()),
                    &mut delivery,
                    &peers,
                );
            }
        }
        let log = EventLog::new(
            events.shard_dir,
            u16::try_from(shard_idx).unwrap_or(u16::MAX),
            events.generation,
            events.first_lsn,
            &config.events,
        );
        let run = Record::Run(RunRecord {
            shard_idx: u16::try_from(shard_idx).unwrap_or(u16::MAX),
            n_shards: u16::try_from(self.n_shards()).unwrap_or(u16::MAX),
            window_base: self.events.borrow().current().base(),
            at_unix_s: clock::unix_s(),
        });
        let catalog = self.catalog.borrow().clone();
        let ids: Vec<&str> = catalog.campaigns().iter().map(|c| c.id.as_str()).collect();
        for record in [run, Record::Campaigns(ids)] {
            log.append(&record)
                .map_err(|_| "the event log refused its first records".to_string())?;
        }
        self.generation = events.generation;
        self.log = Some(Rc::new(log));
        Ok(())
    }

    /// Appends the auction requests seen since the last traffic record (pacing timer): what
    /// the pacer's curve learns from, for its replay.
    pub(super) fn log_traffic(&self) {
        let Some(log) = &self.log else {
            return;
        };
        let requests = self.requests_unlogged.replace(0);
        if requests > 0 {
            let record = Record::Traffic(TrafficRecord {
                at_unix_s: clock::unix_s(),
                requests,
            });
            if log.append(&record).is_err() {
                self.requests_unlogged.set(requests);
            }
        }
    }

    /// Answers the tickets of events other shards forwarded, each once its record is durable
    /// (events queue; the control receiver never waits, this task does).
    pub(super) async fn answer_forwarded_events(&self) {
        loop {
            let (peer, ticket, applied) = next_ack(&self.acks).await;
            let durable = self.wait_applied(applied).await;
            let answer = ShardMessage::TrackingDone { ticket, durable };
            // A closed channel: the peer is stopping and no longer waits.
            let _ = self.senders.control.send_to(peer, answer).await;
        }
    }

    /// Writes a checkpoint of the shard's state (atomically: temp file, fdatasync, rename,
    /// directory fsync), then deletes the segments it covers beyond the `keep` newest. Building
    /// and encoding the state runs on the shard (measured, `checkpoint_encode_us`); the writes
    /// are io_uring operations the shard does not wait on.
    pub(super) async fn checkpoint(&self, keep: usize, keep_bytes: u64) {
        let Some(log) = self.log.clone() else {
            return;
        };
        let started = clock::now();
        let position = log.last_lsn();
        let mut bytes = Vec::new();
        {
            let catalog = self.catalog.borrow().clone();
            let delivery = self.delivery.borrow();
            let windows = self.events.borrow();
            let counters = self.context.stats.campaigns.borrow();
            let state = ShardState::from_live(
                catalog.campaigns().iter().map(|c| c.id.as_str()),
                &delivery,
                &windows,
                &counters,
                position,
            );
            let mut encoded = Vec::new();
            state.encode(&mut encoded);
            let header = CheckpointHeader {
                shard_idx: u16::try_from(self.peer_id()).unwrap_or(u16::MAX),
                generation: self.generation,
                log_position: position,
            };
            encode_checkpoint(header, &encoded, &mut bytes);
        }
        let encode_us = clock::elapsed_since(started).as_micros() as u64;
        let written = clock::now();
        let dir = log.shard_dir().to_owned();
        let result = replace_file_durably(&dir, CHECKPOINT, CHECKPOINT_TMP, &bytes).await;
        let counters = &self.checkpoints;
        match result {
            Ok(()) => {
                counters.checkpoints.set(counters.checkpoints.get() + 1);
                counters.bytes.set(bytes.len() as u64);
                counters.encode_us.set(encode_us);
                counters
                    .write_us
                    .set(clock::elapsed_since(written).as_micros() as u64);
                match delete_covered_segments(&dir, position, keep, keep_bytes).await {
                    Ok(deleted) => log.count_deleted(deleted),
                    Err(error) => tracing::warn!(%error, "cannot delete old log segments"),
                }
            }
            Err(error) => {
                counters.failures.set(counters.failures.get() + 1);
                tracing::warn!(dir = %dir.display(), %error, "cannot write a checkpoint");
            }
        }
    }

    /// When the shard stops: waits (at most `wait_max`) for the last records to be durable,
    /// then writes a last checkpoint so the next start replays nothing.
    pub(super) async fn close_log(&self, wait_max: Duration) {
        let Some(log) = &self.log else {
            return;
        };
        self.log_traffic();
        let durable = async { log.durable_all().await.is_ok() };
        let timeout = async {
            glommio::timer::sleep(wait_max).await;
            false
        };
        if futures_lite::future::or(durable, timeout).await {
            self.checkpoint(usize::MAX, 0).await;
        } else {
            tracing::warn!(
                shard = self.peer_id(),
                pending_bytes = log.pending_bytes(),
                "stopping with event-log records not durable (nothing among them was \
                 acknowledged)"
            );
        }
    }

    /// The log's part of the shard's statistics.
    pub(super) fn log_snapshot(&self) -> LogSnapshot {
        let Some(log) = &self.log else {
            return LogSnapshot::default();
        };
        let c = &self.checkpoints;
        LogSnapshot {
            checkpoints: c.checkpoints.get(),
            checkpoint_failures: c.failures.get(),
            checkpoint_bytes: c.bytes.get(),
            checkpoint_encode_us: c.encode_us.get(),
            checkpoint_write_us: c.write_us.get(),
            ..log.snapshot()
        }
    }
}
