//! The shard's side of the event log: opening it on the recovered state, the records the
//! shard writes outside the request path (the run, the campaign dictionary, traffic), the
//! answers to events other shards forwarded, the periodic checkpoint with segment retention,
//! and the last commit and checkpoint when the shard stops.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use glommio::sync::Semaphore;

use super::tickets::next_ack;
use super::{ShardHandler, ShardMessage};
use crate::clock;
use crate::config::Config;
use crate::eventlog::layout::{encode_checkpoint, CheckpointHeader, CHECKPOINT, CHECKPOINT_TMP};
use crate::eventlog::writer::{delete_covered_segments, replace_file_durably};
use crate::eventlog::{EventLog, LogSnapshot, Record, RunRecord, TrafficRecord};
use crate::recovery::ShardEvents;
use crate::state::ShardState;

/// The shard's checkpoints: one written at a time, and the last one's figures for `/metrics`.
#[derive(Debug)]
pub(super) struct CheckpointCounters {
    /// One permit: the periodic checkpoint and the shutdown's last one share a temporary file,
    /// and a newer checkpoint's retention must not run before an older one is replaced.
    writing: Semaphore,
    checkpoints: Cell<u64>,
    failures: Cell<u64>,
    bytes: Cell<u64>,
    encode_us: Cell<u64>,
    write_us: Cell<u64>,
}

impl Default for CheckpointCounters {
    fn default() -> Self {
        CheckpointCounters {
            writing: Semaphore::new(1),
            checkpoints: Cell::new(0),
            failures: Cell::new(0),
            bytes: Cell::new(0),
            encode_us: Cell::new(0),
            write_us: Cell::new(0),
        }
    }
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
        self.earlier_windows = events.earlier_windows;
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
    /// are io_uring operations the shard does not wait on. A checkpoint started while another
    /// is written waits for it, then takes the state as it is then.
    pub(super) async fn checkpoint(&self, keep: usize, keep_bytes: u64) {
        let Some(log) = self.log.clone() else {
            return;
        };
        // Never closed, so the permit always comes.
        let Ok(_writing) = self.checkpoints.writing.acquire_permit(1).await else {
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

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::campaign::CampaignData;
    use crate::catalog::Catalog;
    use crate::currency::CurrencyTable;
    use crate::eventlog::read::read_checkpoint;
    use crate::http::{ConnectionContext, HttpLimits};
    use crate::shard::{MeshSenders, ShardMeshes};
    use crate::stats::ShardStats;
    use crate::tracking::TokenSigner;

    /// The shutdown's last checkpoint can start while the periodic one is being written: both
    /// use the same temporary file, so they must not overlap (one's rename would fail, or
    /// publish a file the other was still writing, or an older state after the newer one's
    /// retention deleted segments).
    #[test]
    fn checkpoints_started_together_are_written_one_after_the_other() {
        let dir = std::env::temp_dir().join(format!("adshard-checkpoints-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let shard_dir = dir.clone();
        let (checkpoints, failures) = glommio::LocalExecutorBuilder::default()
            .make()
            .unwrap()
            .run(async move {
                let meshes = ShardMeshes::full(1);
                let (control, _control) = meshes.control.join().await.unwrap();
                let (route, _route) = meshes.route.join().await.unwrap();
                let (reply, _reply) = meshes.reply.join().await.unwrap();
                let config = Config::default();
                let currencies = CurrencyTable::from_config(&config.currency);
                let catalog = Rc::new(Catalog::build(&CampaignData::default(), &currencies));
                let context = Rc::new(ConnectionContext::new(
                    HttpLimits::default(),
                    Rc::new(ShardStats::new(0)),
                ));
                let mut handler = ShardHandler::new(
                    context,
                    &config,
                    catalog,
                    currencies,
                    TokenSigner::new(&[7; 32]).unwrap(),
                    MeshSenders {
                        control,
                        route,
                        reply,
                    },
                );
                let events = ShardEvents {
                    shard_dir,
                    generation: 1,
                    first_lsn: 1,
                    state: None,
                    peers: Vec::new(),
                    earlier_windows: Default::default(),
                };
                handler.open_log(0, &config, events).unwrap();
                let mut first = Box::pin(handler.checkpoint(usize::MAX, 0));
                assert!(futures_lite::future::poll_once(&mut first).await.is_none());
                // The second checkpoint covers one more record than the first.
                handler.requests_unlogged.set(7);
                handler.log_traffic();
                futures_lite::future::zip(first, handler.checkpoint(usize::MAX, 0)).await;
                let snapshot = handler.log_snapshot();
                (snapshot.checkpoints, snapshot.checkpoint_failures)
            });
        let (header, _) = read_checkpoint(&dir).unwrap().expect("a checkpoint");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((checkpoints, failures), (2, 0));
        // The run and campaign records, then the traffic record.
        assert_eq!(header.log_position, 3);
    }
}
