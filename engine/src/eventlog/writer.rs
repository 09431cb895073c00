//! A shard's log writer: the request path appends encoded records to an in-memory buffer and
//! gets their sequence numbers; one committer task (in the shard's events queue) writes what
//! has gathered through glommio's io_uring DMA file API and `fdatasync`s it, then wakes the
//! calls waiting for their records to be durable. Group commit: a commit starts
//! `commit_interval_us` after the first record waiting for it, or at once when
//! `commit_bytes_max` bytes wait; one commit is in flight at a time, and what arrives meanwhile
//! goes into the next, which starts as soon as the one in flight ends (those records have
//! waited a sync already).
//!
//! Writes are whole aligned blocks: the block holding the end of the log is written again,
//! with the same bytes in front, by the next commit (a torn rewrite leaves the durable prefix
//! as it was, since both versions hold it). The padding after the last record is zeros, which
//! a reader takes for the end.
//!
//! When a write or a sync fails (ENOSPC, EIO), the batch stays in the buffer to be written
//! again, the log turns unhealthy (waiters get an error: their call answers 503, nothing is
//! acknowledged that is not durable), and the committer retries with a backoff until a write
//! succeeds. While unhealthy the log refuses records that would be acknowledged, and keeps
//! at most [`PENDING_BYTES_MAX`] of the others.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use glommio::io::{DmaFile, OpenOptions};

use super::record::{encode, Lsn, Record};
use super::segment::{file_name, SegmentHeader, HEADER_BYTES, SEGMENT_AGE_MAX_S};
use super::EventsConfig;
use crate::clock;

/// Most bytes the buffer holds while the disk does not take them: then records of bids are
/// dropped (counted) and the campaigns that need them do not bid.
pub const PENDING_BYTES_MAX: usize = 64 << 20;
/// How long records nobody waits for (bids, traffic) may gather before a commit of their own:
/// they ride along with the next commit a tracking call waits for, or go at this interval
/// (or at `commit_bytes_max`). Committing them every `commit_interval_us` cost the auction
/// path a third of the log's CPU for nothing (docs/measurements.md); 20 ms of bids is the
/// window a crash can lose (see ARCHITECTURE.md, overspend across a crash).
pub const UNACKNOWLEDGED_COMMIT_INTERVAL: Duration = Duration::from_millis(20);
/// A commit in flight longer than this is a stalled device: the log turns unhealthy (tracking
/// 503, no budgeted bids) until the commit completes, rather than let unacknowledged
/// commitments pile up behind it.
pub const COMMIT_STALL_MAX: Duration = Duration::from_secs(1);
/// First wait before a failed commit is tried again; doubles up to [`RETRY_BACKOFF_MAX`].
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(10);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why a record was not taken, or a wait for durability ended without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The log cannot write (disk full, I/O error, stalled): answer 503.
    Unhealthy,
    /// The buffer is full.
    Full,
}

/// Counters of one shard's log, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    pub records: u64,
    pub bytes: u64,
    pub commits: u64,
    pub commit_failures: u64,
    /// Commits that took longer than [`COMMIT_STALL_MAX`].
    pub commit_stalls: u64,
    /// Records not kept because the buffer was full while the disk failed.
    pub records_dropped: u64,
    pub segments_opened: u64,
    pub segments_deleted: u64,
    /// Total microseconds spent in commits (write + fdatasync), and the longest.
    pub commit_us_total: u64,
    pub commit_us_max: u64,
}

/// The log's state for `/metrics`: its counters, whether it can write, what waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSnapshot {
    pub enabled: bool,
    pub healthy: bool,
    pub counters: LogCounters,
    pub pending_bytes: u64,
    pub last_lsn: Lsn,
    pub durable_lsn: Lsn,
    pub checkpoints: u64,
    pub checkpoint_failures: u64,
    /// The last checkpoint: bytes, and microseconds to build and encode it on the shard,
    /// then to write it.
    pub checkpoint_bytes: u64,
    pub checkpoint_encode_us: u64,
    pub checkpoint_write_us: u64,
}

/// What the log knows of its records: appended (`next_lsn - 1`) and durable.
#[derive(Debug)]
struct Buffered {
    /// Frames appended and not yet handed to a commit.
    pending: Vec<u8>,
    /// The other buffer, swapped in while a commit writes.
    spare: Vec<u8>,
    /// The lsn the next record gets.
    next_lsn: Lsn,
    counters: LogCounters,
}

/// One shard's event log. Shard-local (`!Send`): the shard and its committer task share it
/// through an `Rc`.
#[derive(Debug)]
pub struct EventLog {
    shard_dir: PathBuf,
    shard_idx: u16,
    generation: u64,
    commit_interval: Duration,
    commit_bytes_max: usize,
    segment_bytes: u64,
    buffered: RefCell<Buffered>,
    /// Every record up to this lsn is on disk and synced.
    durable_lsn: Cell<Lsn>,
    /// A record someone waits for (a tracking event) is in `pending`.
    acknowledged_waiting: Cell<bool>,
    /// Commits that failed since start; a waiter that sees it grow gives up.
    failures: Cell<u64>,
    healthy: Cell<bool>,
    /// Calls waiting for durability, woken after every commit attempt.
    waiters: RefCell<Vec<Waker>>,
    /// The committer, asleep until a record arrives or enough bytes wait.
    committer: RefCell<Option<Waker>>,
}

impl EventLog {
    /// A log writing into `shard_dir` (created by recovery), whose first record gets
    /// `first_lsn`.
    pub fn new(
        shard_dir: PathBuf,
        shard_idx: u16,
        generation: u64,
        first_lsn: Lsn,
        config: &EventsConfig,
    ) -> EventLog {
        EventLog {
            shard_dir,
            shard_idx,
            generation,
            commit_interval: Duration::from_micros(config.commit_interval_us),
            commit_bytes_max: config.commit_bytes_max,
            segment_bytes: config.segment_bytes,
            buffered: RefCell::new(Buffered {
                pending: Vec::with_capacity(config.commit_bytes_max * 2),
                spare: Vec::with_capacity(config.commit_bytes_max * 2),
                next_lsn: first_lsn,
                counters: LogCounters::default(),
            }),
            durable_lsn: Cell::new(first_lsn.saturating_sub(1)),
            acknowledged_waiting: Cell::new(false),
            failures: Cell::new(0),
            healthy: Cell::new(true),
            waiters: RefCell::new(Vec::new()),
            committer: RefCell::new(None),
        }
    }

    pub fn shard_dir(&self) -> &Path {
        &self.shard_dir
    }

    /// Whether the last commit succeeded: while not, nothing may be acknowledged and no
    /// commitment made that the log must keep.
    pub fn is_healthy(&self) -> bool {
        self.healthy.get()
    }

    pub fn counters(&self) -> LogCounters {
        self.buffered.borrow().counters
    }

    /// The lsn of the last record appended (0 before the first).
    pub fn last_lsn(&self) -> Lsn {
        self.buffered.borrow().next_lsn - 1
    }

    pub fn durable_lsn(&self) -> Lsn {
        self.durable_lsn.get()
    }

    /// The log's part of a statistics snapshot (the checkpoint fields are the shard's).
    pub fn snapshot(&self) -> LogSnapshot {
        LogSnapshot {
            enabled: true,
            healthy: self.is_healthy(),
            counters: self.counters(),
            pending_bytes: self.pending_bytes() as u64,
            last_lsn: self.last_lsn(),
            durable_lsn: self.durable_lsn(),
            ..LogSnapshot::default()
        }
    }

    /// Bytes appended and not yet durable.
    pub fn pending_bytes(&self) -> usize {
        let buffered = self.buffered.borrow();
        buffered.pending.len()
    }

    /// Counts segments deleted by retention.
    pub fn count_deleted(&self, n: u64) {
        self.buffered.borrow_mut().counters.segments_deleted += n;
    }

    /// Whether a record to be acknowledged would be taken now: the caller checks before it
    /// changes the state the record describes.
    pub fn accepts_acknowledged(&self) -> bool {
        self.is_healthy() && self.buffered.borrow().pending.len() < PENDING_BYTES_MAX
    }

    /// Appends a record that will be acknowledged once durable (a tracking event): refused
    /// while the log is unhealthy, so a caller answers 503 before changing any state.
    pub fn append_acknowledged(&self, record: &Record<'_>) -> Result<Lsn, Unavailable> {
        if !self.is_healthy() {
            return Err(Unavailable::Unhealthy);
        }
        let lsn = self.append(record)?;
        if !self.acknowledged_waiting.replace(true) {
            // The committer may be in its long wait for records nobody waits for.
            if let Some(waker) = self.committer.borrow_mut().take() {
                waker.wake();
            }
        }
        Ok(lsn)
    }

    /// Appends a record that nobody waits for (a bid, traffic): kept unless the buffer is
    /// full.
    pub fn append(&self, record: &Record<'_>) -> Result<Lsn, Unavailable> {
        let mut buffered = self.buffered.borrow_mut();
        if buffered.pending.len() >= PENDING_BYTES_MAX {
            buffered.counters.records_dropped += 1;
            return Err(Unavailable::Full);
        }
        let lsn = buffered.next_lsn;
        let before = buffered.pending.len();
        encode(lsn, record, &mut buffered.pending);
        buffered.next_lsn += 1;
        buffered.counters.records += 1;
        buffered.counters.bytes += (buffered.pending.len() - before) as u64;
        let first = before == 0;
        let full = buffered.pending.len() >= self.commit_bytes_max;
        drop(buffered);
        if first || full {
            if let Some(waker) = self.committer.borrow_mut().take() {
                waker.wake();
            }
        }
        Ok(lsn)
    }

    /// Waits until record `lsn` is durable; an error if a commit fails first (the record
    /// stays buffered and will be written when the disk takes it, but this call cannot wait
    /// that long).
    pub async fn durable(&self, lsn: Lsn) -> Result<(), Unavailable> {
        let failures_at_start = self.failures.get();
        poll_fn(|cx| {
            if self.durable_lsn.get() >= lsn {
                Poll::Ready(Ok(()))
            } else if self.failures.get() != failures_at_start || !self.is_healthy() {
                Poll::Ready(Err(Unavailable::Unhealthy))
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Waits until everything appended so far is durable: what a repeat of an event waits for,
    /// since its first sighting may still be in the buffer.
    pub async fn durable_all(&self) -> Result<(), Unavailable> {
        self.durable(self.last_lsn()).await
    }

    fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }

    /// Sleeps until a record waits for a commit.
    async fn wait_for_records(&self) {
        poll_fn(|cx| {
            if self.buffered.borrow().pending.is_empty() {
                *self.committer.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }

    /// Sleeps until `commit_bytes_max` bytes wait, or (when `acknowledged` says a tracking
    /// event waits) one of them does, or `interval` has passed.
    async fn wait_until_full(&self, interval: Duration, acknowledged: bool) {
        let ready = poll_fn(|cx| {
            let full = self.buffered.borrow().pending.len() >= self.commit_bytes_max;
            if full || (acknowledged && self.acknowledged_waiting.get()) {
                Poll::Ready(())
            } else {
                *self.committer.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        futures_lite::future::or(ready, glommio::timer::sleep(interval)).await;
    }

    /// Sleeps until the waiting records should be committed: `commit_interval_us` once a
    /// tracking event waits, [`UNACKNOWLEDGED_COMMIT_INTERVAL`] while only bids and traffic
    /// do, at once past `commit_bytes_max`.
    async fn wait_for_batch(&self) {
        if !self.acknowledged_waiting.get() {
            let long = UNACKNOWLEDGED_COMMIT_INTERVAL.max(self.commit_interval);
            self.wait_until_full(long, true).await;
            if !self.acknowledged_waiting.get() {
                return;
            }
        }
        self.wait_until_full(self.commit_interval, false).await;
    }

    /// The committer: runs until the shard stops. Opens the first segment, then commits what
    /// gathers, rotating segments by size and age.
    pub async fn run_committer(self: Rc<Self>) {
        let mut backoff = RETRY_BACKOFF_MIN;
        let mut segment: Option<OpenSegment> = None;
        // Records that arrived while the last commit was in flight have waited a sync
        // already: they go in the next commit at once. At high rates commits then run back to
        // back, each taking what gathered during the one before.
        let mut waited = false;
        loop {
            self.wait_for_records().await;
            if !waited {
                self.wait_for_batch().await;
            }
            let (batch, last_lsn) = {
                self.acknowledged_waiting.set(false);
                let mut buffered = self.buffered.borrow_mut();
                let Buffered { pending, spare, .. } = &mut *buffered;
                std::mem::swap(pending, spare);
                (std::mem::take(spare), buffered.next_lsn - 1)
            };
            let first_lsn = self.durable_lsn.get() + 1;
            let started = clock::now();
            let result = self.commit_watched(&mut segment, first_lsn, &batch).await;
            let elapsed_us = clock::elapsed_since(started).as_micros() as u64;
            self.settle_commit(result, batch, last_lsn, elapsed_us, &mut segment);
            if self.is_healthy() {
                backoff = RETRY_BACKOFF_MIN;
            }
            self.wake_waiters();
            // Tracking events that arrived during the commit have waited a sync already.
            waited = self.acknowledged_waiting.get();
            if !self.is_healthy() {
                glommio::timer::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            }
        }
    }

    /// Records the outcome of a commit: the durable lsn and counters after a success; after a
    /// failure, the batch back in front of the buffer, the log unhealthy (logged once) and the
    /// segment to be reopened.
    fn settle_commit(
        &self,
        result: std::io::Result<()>,
        mut batch: Vec<u8>,
        last_lsn: Lsn,
        elapsed_us: u64,
        segment: &mut Option<OpenSegment>,
    ) {
        let mut buffered = self.buffered.borrow_mut();
        match result {
            Ok(()) => {
                self.durable_lsn.set(last_lsn);
                self.healthy.set(true);
                let counters = &mut buffered.counters;
                counters.commits += 1;
                counters.commit_us_total += elapsed_us;
                counters.commit_us_max = counters.commit_us_max.max(elapsed_us);
                batch.clear();
                buffered.spare = batch;
            }
            Err(error) => {
                batch.extend_from_slice(&buffered.pending);
                buffered.pending = batch;
                buffered.counters.commit_failures += 1;
                self.failures.set(self.failures.get() + 1);
                if self.healthy.replace(false) {
                    tracing::error!(
                        shard = self.shard_idx,
                        dir = %self.shard_dir.display(),
                        %error,
                        "event log cannot write: tracking answers 503 and budgeted campaigns \
                         stop bidding until it can"
                    );
                }
                *segment = None;
            }
        }
    }

    /// [`EventLog::commit`], marking the log unhealthy (waiters get an error) if it takes
    /// longer than [`COMMIT_STALL_MAX`]; the commit itself goes on, and its success makes the
    /// log healthy again.
    async fn commit_watched(
        &self,
        segment: &mut Option<OpenSegment>,
        first_lsn: Lsn,
        batch: &[u8],
    ) -> std::io::Result<()> {
        let commit = self.commit(segment, first_lsn, batch);
        futures_lite::pin!(commit);
        let watched = futures_lite::future::or(async { Some(commit.as_mut().await) }, async {
            glommio::timer::sleep(COMMIT_STALL_MAX).await;
            None
        })
        .await;
        if let Some(result) = watched {
            return result;
        }
        self.failures.set(self.failures.get() + 1);
        self.buffered.borrow_mut().counters.commit_stalls += 1;
        if self.healthy.replace(false) {
            tracing::error!(
                shard = self.shard_idx,
                dir = %self.shard_dir.display(),
                stalled_ms = COMMIT_STALL_MAX.as_millis() as u64,
                "event log stalled: tracking answers 503 and budgeted campaigns stop bidding \
                 until the commit completes"
            );
        }
        self.wake_waiters();
        commit.await
    }

    /// Writes and syncs `batch` (records from `first_lsn` on) at the end of the current
    /// segment, opening or rotating segments as needed.
    async fn commit(
        &self,
        segment: &mut Option<OpenSegment>,
        first_lsn: Lsn,
        batch: &[u8],
    ) -> std::io::Result<()> {
        let rotate = segment.as_ref().is_some_and(|open| {
            open.logical_len >= self.segment_bytes
                || clock::unix_s() - open.header.created_unix_s >= SEGMENT_AGE_MAX_S
        });
        if rotate {
            if let Some(open) = segment.take() {
                open.close().await;
            }
        }
        if segment.is_none() {
            let header = SegmentHeader {
                shard_idx: self.shard_idx,
                first_lsn,
                created_unix_s: clock::unix_s(),
                generation: self.generation,
            };
            *segment = Some(OpenSegment::create(&self.shard_dir, header).await?);
            self.buffered.borrow_mut().counters.segments_opened += 1;
        }
        let open = segment.as_mut().expect("opened above");
        open.append_durable(batch).await
    }
}

/// The segment being written.
struct OpenSegment {
    file: DmaFile,
    header: SegmentHeader,
    /// Bytes of header and whole records on disk.
    logical_len: u64,
    /// The bytes of the last, partly filled block (from the block's start to `logical_len`):
    /// written again in front of the next records.
    tail: Vec<u8>,
}

impl OpenSegment {
    /// Creates the segment's file with its header, synced, and syncs the directory so that
    /// the file's name is durable before any record in it is acknowledged.
    async fn create(dir: &Path, header: SegmentHeader) -> std::io::Result<OpenSegment> {
        let path = dir.join(file_name(header.first_lsn));
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            // A file of this name holds nothing acknowledged: it is left from a commit that
            // failed before its first record was durable.
            .create(true)
            .truncate(true)
            .dma_open(&path)
            .await?;
        let mut open = OpenSegment {
            file,
            header,
            logical_len: 0,
            tail: Vec::new(),
        };
        open.append_durable(&header.encode()).await?;
        sync_dir(dir).await?;
        debug_assert_eq!(open.logical_len, HEADER_BYTES as u64);
        Ok(open)
    }

    /// Writes `bytes` after the durable end, in whole aligned blocks, and syncs them.
    async fn append_durable(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let align = self.file.alignment().max(512) as usize;
        let start = self.logical_len - self.tail.len() as u64;
        let total = self.tail.len() + bytes.len();
        let size = total.div_ceil(align) * align;
        let mut buffer = self.file.alloc_dma_buffer(size);
        let out = buffer.as_bytes_mut();
        out[..self.tail.len()].copy_from_slice(&self.tail);
        out[self.tail.len()..total].copy_from_slice(bytes);
        out[total..].fill(0);
        let whole_blocks = total / align * align;
        let new_tail = out[whole_blocks..total].to_vec();
        let written = self.file.write_at(buffer, start).await?;
        if written < size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("short write: {written} of {size} bytes"),
            ));
        }
        self.file.fdatasync().await?;
        self.logical_len += bytes.len() as u64;
        self.tail = new_tail;
        Ok(())
    }

    /// Cuts the padding after the last record and closes the file (best effort: a segment
    /// left padded reads the same).
    async fn close(self) {
        let _ = self.file.truncate(self.logical_len).await;
        let _ = self.file.fdatasync().await;
        let _ = self.file.close().await;
    }
}

/// `fsync` of a directory: makes a created, renamed or removed name in it durable.
pub async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let directory = glommio::io::Directory::open(dir).await?;
    directory.sync().await?;
    directory.close().await?;
    Ok(())
}

/// Writes `bytes` as the file `name` in `dir` atomically and durably: into `tmp_name` through
/// a DMA file, `fdatasync`, rename over `name`, then `fsync` of the directory. A crash leaves
/// either the old file or the new one, never a part.
pub async fn replace_file_durably(
    dir: &Path,
    name: &str,
    tmp_name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let tmp = dir.join(tmp_name);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .dma_open(&tmp)
        .await?;
    let align = file.alignment().max(512) as usize;
    let size = bytes.len().div_ceil(align).max(1) * align;
    let mut buffer = file.alloc_dma_buffer(size);
    let out = buffer.as_bytes_mut();
    out[..bytes.len()].copy_from_slice(bytes);
    out[bytes.len()..].fill(0);
    let written = file.write_at(buffer, 0).await?;
    if written < size {
        let _ = file.close().await;
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write: {written} of {size} bytes"),
        ));
    }
    file.truncate(bytes.len() as u64).await?;
    file.fdatasync().await?;
    file.rename(dir.join(name)).await?;
    file.close().await?;
    sync_dir(dir).await
}

/// Deletes the shard's segments that a checkpoint at `position` covers (every record in them
/// is at or before it), keeping the newest `keep` of those and, when `keep_bytes` is not 0, no
/// more of them than fit in `keep_bytes`. Returns how many were deleted.
pub async fn delete_covered_segments(
    shard_dir: &Path,
    position: Lsn,
    keep: usize,
    keep_bytes: u64,
) -> std::io::Result<u64> {
    let segments =
        super::read::segment_files(shard_dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    // Segment i is covered when the next one starts at or before `position + 1`.
    let covered = segments
        .windows(2)
        .take_while(|pair| pair[1].0 <= position + 1)
        .count();
    // Newest covered first: kept while within both limits.
    let mut kept = 0usize;
    let mut kept_bytes = 0u64;
    let mut delete_before = 0;
    for idx in (0..covered).rev() {
        let bytes = std::fs::metadata(&segments[idx].1).map_or(0, |m| m.len());
        let within_bytes = keep_bytes == 0 || kept_bytes + bytes <= keep_bytes;
        if kept < keep && within_bytes {
            kept += 1;
            kept_bytes += bytes;
        } else {
            delete_before = idx + 1;
            break;
        }
    }
    let mut deleted = 0;
    for (_, path) in segments.iter().take(delete_before) {
        glommio::io::remove(path).await?;
        deleted += 1;
    }
    if deleted > 0 {
        sync_dir(shard_dir).await?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::segment::file_name;

    fn run<T, F, G>(make: G) -> T
    where
        G: FnOnce() -> F + Send + 'static,
        F: std::future::Future<Output = T> + 'static,
        T: Send + 'static,
    {
        glommio::LocalExecutorBuilder::default()
            .io_memory(64 * 1024)
            .spawn(make)
            .expect("executor")
            .join()
            .expect("joined")
    }

    fn segments_in(dir: &Path) -> Vec<Lsn> {
        crate::eventlog::read::segment_files(dir)
            .unwrap()
            .into_iter()
            .map(|(lsn, _)| lsn)
            .collect()
    }

    #[test]
    fn retention_deletes_only_covered_segments_beyond_the_limits() {
        let dir = std::env::temp_dir().join(format!("adshard-retention-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let write_all = |dir: &Path| {
            for lsn in [1u64, 11, 21, 31] {
                std::fs::write(dir.join(file_name(lsn)), vec![0u8; 1000]).unwrap();
            }
        };
        write_all(&dir);
        // A checkpoint at 25 covers the segments starting at 1 and 11 (the next ones start at
        // or before 26); the one starting at 21 still holds records after it.
        let d = dir.clone();
        assert_eq!(
            run(move || async move { delete_covered_segments(&d, 25, 1, 0).await.unwrap() }),
            1
        );
        assert_eq!(segments_in(&dir), vec![11, 21, 31]);
        write_all(&dir);
        let d = dir.clone();
        assert_eq!(
            run(move || async move { delete_covered_segments(&d, 25, 16, 500).await.unwrap() }),
            2
        );
        assert_eq!(segments_in(&dir), vec![21, 31]);
        write_all(&dir);
        let d = dir.clone();
        assert_eq!(
            run(move || async move { delete_covered_segments(&d, 5, 0, 0).await.unwrap() }),
            0
        );
        assert_eq!(segments_in(&dir), vec![1, 11, 21, 31]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The writer end to end on a real file: records appended, committed in groups, read back
    /// whole by the reader, with the padding after the last record read as the end.
    #[test]
    fn committed_records_read_back_in_order() {
        let dir = std::env::temp_dir().join(format!("adshard-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.clone();
        let durable = run(move || async move {
            let config = EventsConfig {
                commit_interval_us: 200,
                ..EventsConfig::default()
            };
            let log = Rc::new(EventLog::new(d, 0, 1, 1, &config));
            let committer = glommio::spawn_local(log.clone().run_committer());
            let mut last = 0;
            for round in 0..5u64 {
                for i in 0..100u64 {
                    let record = Record::Traffic(crate::eventlog::TrafficRecord {
                        at_unix_s: 1_700_000_000 + i as i64,
                        requests: round * 100 + i,
                    });
                    last = log.append(&record).unwrap();
                }
                log.durable(last).await.unwrap();
            }
            drop(committer);
            log.durable_lsn()
        });
        assert_eq!(durable, 500);
        let mut requests = Vec::new();
        let summary = crate::eventlog::read::replay(&dir, 0, false, |_, record| {
            if let Record::Traffic(t) = record {
                requests.push(t.requests);
            }
        })
        .unwrap();
        assert_eq!(requests, (0..500).collect::<Vec<u64>>());
        assert_eq!(summary.last_lsn, 500);
        assert_eq!(summary.torn_tail, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
