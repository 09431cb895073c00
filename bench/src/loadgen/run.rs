//! Runs a plan: one glommio executor per `--threads`, each driving its share of every
//! target's connections through the open-loop schedule, while the calling thread prints a
//! progress line each second. The threads share nothing but the prepared requests (read
//! only) and their own progress counters; their statistics are merged once they finish.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use glommio::timer::Timer;
use glommio::{LocalExecutorBuilder, Placement};

use crate::loadgen::client::Connection;
use crate::loadgen::requests::RequestPool;
use crate::loadgen::schedule::{ConnectionShare, Schedule, Slicing};
use crate::loadgen::stats::{ErrorKind, Progress, TargetStats};
use crate::loadgen::target::Target;

/// glommio's registered I/O memory per generator thread. The generator does no file I/O, so
/// this stays small: `ulimit -l` on the benchmark machines is 8 MiB for all threads together.
pub const IO_MEMORY_BYTES: usize = 256 * 1024;
/// io_uring depth per thread: one socket operation per connection in flight plus timers.
pub const RING_DEPTH: usize = 256;
/// Generator threads; more than the cores of any machine we measure on, and
/// `THREADS_MAX * IO_MEMORY_BYTES` stays under the 8 MiB lock limit.
pub const THREADS_MAX: usize = 16;
/// Connections per target; each holds a read buffer of `client::READ_BUFFER_BYTES`.
pub const CONNECTIONS_MAX: usize = 4096;
/// Time between spawning the threads and the first intended send: threads start and open
/// their connections before the schedule begins, so connecting is not measured.
pub const START_DELAY: Duration = Duration::from_millis(250);

const _: () = assert!(THREADS_MAX * IO_MEMORY_BYTES <= 8 * 1024 * 1024 / 2);

/// One target of a run and the requests prepared for it.
#[derive(Clone, Debug)]
pub struct TargetPlan {
    pub target: Target,
    pub requests: Arc<RequestPool>,
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// One target, or two taking turns in slices (`--compare`).
    pub targets: Vec<TargetPlan>,
    /// Requests per second sent to each target while it is active.
    pub rate_per_s: f64,
    /// Active time of each target; with two targets the run takes twice as long.
    pub active: Duration,
    /// Length of each target's turn when there are several targets.
    pub slice: Duration,
    /// Connections per target.
    pub connections: usize,
    pub threads: usize,
    /// CPUs to pin the threads to, round-robin; `None` leaves them unbound.
    pub cpus: Option<Vec<usize>>,
    /// A request without a complete response after this long is a timeout.
    pub timeout: Duration,
    /// A request that cannot be sent within this long of its intended time is not sent and
    /// is counted as not sent on time.
    pub late_after: Duration,
    /// Print a progress line each second on stderr.
    pub progress: bool,
}

/// What a run measured for one target.
#[derive(Clone, Debug)]
pub struct TargetResult {
    pub target: Target,
    pub schedule: Schedule,
    pub stats: TargetStats,
}

impl RunPlan {
    fn schedules(&self) -> Vec<Schedule> {
        let n_targets = self.targets.len() as u32;
        (0..n_targets)
            .map(|phase| {
                let slicing = (n_targets > 1).then_some(Slicing {
                    slice_ns: self.slice.as_nanos() as u64,
                    n_targets,
                    phase,
                });
                Schedule::new(self.rate_per_s, self.active.as_nanos() as u64, slicing)
            })
            .collect()
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.targets.is_empty() {
            bail!("no target");
        }
        if !(self.rate_per_s.is_finite() && self.rate_per_s > 0.0) {
            bail!("--rate must be positive");
        }
        if self.active.is_zero() {
            bail!("--duration must be positive");
        }
        if self.targets.len() > 1 && self.slice.is_zero() {
            bail!("--slice must be positive");
        }
        if !(1..=THREADS_MAX).contains(&self.threads) {
            bail!("--threads must be 1..={THREADS_MAX}");
        }
        if !(self.threads..=CONNECTIONS_MAX).contains(&self.connections) {
            bail!("--connections must be at least --threads and at most {CONNECTIONS_MAX}");
        }
        if self.timeout.is_zero() || self.late_after.is_zero() {
            bail!("--timeout and --late-after must be positive");
        }
        if let Some(cpus) = &self.cpus {
            if cpus.is_empty() {
                bail!("--cpus is empty");
            }
        }
        Ok(())
    }
}

/// Runs the plan to the end of its schedule and returns each target's merged results.
pub fn run(plan: &RunPlan) -> anyhow::Result<Vec<TargetResult>> {
    plan.validate()?;
    let schedules = plan.schedules();
    let start = Instant::now() + START_DELAY;
    let finished = Arc::new(AtomicUsize::new(0));
    let mut progress = Vec::with_capacity(plan.threads);
    let mut executors = Vec::with_capacity(plan.threads);
    for thread_idx in 0..plan.threads {
        let placement = match &plan.cpus {
            Some(cpus) => Placement::Fixed(cpus[thread_idx % cpus.len()]),
            None => Placement::Unbound,
        };
        let thread_progress: Arc<[Progress]> = (0..plan.targets.len())
            .map(|_| Progress::default())
            .collect();
        progress.push(thread_progress.clone());
        let thread = ThreadPlan {
            thread_idx,
            plan: plan.clone(),
            schedules: schedules.clone(),
            start,
            progress: thread_progress,
        };
        let finished = finished.clone();
        let executor = LocalExecutorBuilder::new(placement)
            .name(&format!("adshard-bench-{thread_idx}"))
            .io_memory(IO_MEMORY_BYTES)
            .ring_depth(RING_DEPTH)
            .spawn(move || async move {
                let stats = thread.run().await;
                finished.fetch_add(1, Ordering::Release);
                stats
            })
            .map_err(|error| anyhow::anyhow!("starting generator thread {thread_idx}: {error}"))?;
        executors.push(executor);
    }
    report_progress(plan, &schedules, start, &finished, &progress);
    let mut merged: Vec<TargetStats> = plan.targets.iter().map(|_| TargetStats::new()).collect();
    for (thread_idx, executor) in executors.into_iter().enumerate() {
        let stats = executor
            .join()
            .map_err(|error| anyhow::anyhow!("generator thread {thread_idx} failed: {error}"))?;
        for (total, thread_stats) in merged.iter_mut().zip(&stats) {
            total.merge(thread_stats);
        }
    }
    Ok(plan
        .targets
        .iter()
        .zip(schedules)
        .zip(merged)
        .map(|((target, schedule), stats)| TargetResult {
            target: target.target.clone(),
            schedule,
            stats,
        })
        .collect())
}

/// Prints a line per second until every thread is done.
fn report_progress(
    plan: &RunPlan,
    schedules: &[Schedule],
    start: Instant,
    finished: &AtomicUsize,
    progress: &[Arc<[Progress]>],
) {
    let poll = Duration::from_millis(10);
    let mut next_line = start + Duration::from_secs(1);
    let mut last_responses = vec![0u64; plan.targets.len()];
    let mut stderr = std::io::stderr();
    while finished.load(Ordering::Acquire) < plan.threads {
        std::thread::sleep(poll);
        let now = Instant::now();
        if !plan.progress || now < next_line {
            continue;
        }
        let elapsed_s = (next_line - start).as_secs();
        next_line += Duration::from_secs(1);
        let mut line = format!("[{elapsed_s:>4}s]");
        for (target_idx, schedule) in schedules.iter().enumerate() {
            let sum = |pick: fn(&Progress) -> &std::sync::atomic::AtomicU64| -> u64 {
                progress
                    .iter()
                    .map(|thread| pick(&thread[target_idx]).load(Ordering::Relaxed))
                    .sum()
            };
            let responses = sum(|p| &p.responses);
            let failures = sum(|p| &p.failures);
            let not_sent = sum(|p| &p.not_sent_on_time);
            let name = if schedules.len() > 1 {
                format!(" {}:", (b'A' + target_idx as u8) as char)
            } else {
                String::new()
            };
            line.push_str(&format!(
                "{name} {} resp/s, {responses} responses, {failures} errors, {not_sent} not sent on time (of {})",
                responses - last_responses[target_idx],
                schedule.n_requests()
            ));
            last_responses[target_idx] = responses;
        }
        let _ = writeln!(stderr, "{line}");
    }
}

/// What one generator thread runs.
struct ThreadPlan {
    thread_idx: usize,
    plan: RunPlan,
    schedules: Vec<Schedule>,
    start: Instant,
    progress: Arc<[Progress]>,
}

/// What the connection tasks of one thread and one target share.
struct TargetContext {
    requests: Arc<RequestPool>,
    schedule: Schedule,
    start: Instant,
    timeout: Duration,
    late_after: Duration,
    stats: RefCell<TargetStats>,
    progress: Arc<[Progress]>,
    target_idx: usize,
}

impl ThreadPlan {
    async fn run(self) -> Vec<TargetStats> {
        let mut contexts = Vec::with_capacity(self.plan.targets.len());
        let mut tasks = Vec::new();
        for (target_idx, (target, schedule)) in
            self.plan.targets.iter().zip(&self.schedules).enumerate()
        {
            let context = Rc::new(TargetContext {
                requests: target.requests.clone(),
                schedule: *schedule,
                start: self.start,
                timeout: self.plan.timeout,
                late_after: self.plan.late_after,
                stats: RefCell::new(TargetStats::new()),
                progress: self.progress.clone(),
                target_idx,
            });
            for connection_idx in
                (self.thread_idx..self.plan.connections).step_by(self.plan.threads)
            {
                let share = ConnectionShare {
                    connection_idx: connection_idx as u64,
                    n_connections: self.plan.connections as u64,
                    n_requests: schedule.n_requests(),
                };
                let connection = Connection::new(target.target.addr);
                tasks.push(glommio::spawn_local(run_connection(
                    context.clone(),
                    share,
                    connection,
                )));
            }
            contexts.push(context);
        }
        for task in tasks {
            task.await;
        }
        contexts
            .into_iter()
            .map(|context| context.stats.borrow().clone())
            .collect()
    }
}

/// Sends one connection's share of the schedule, each request at its intended time or as
/// soon as the previous response is in, and records latency from the intended time.
async fn run_connection(
    context: Rc<TargetContext>,
    share: ConnectionShare,
    mut connection: Connection,
) {
    let progress = &context.progress[context.target_idx];
    // Connect before the schedule starts; a failure here is retried (and counted) at the
    // first send.
    let _ = futures_lite::future::or(async { connection.connect().await.is_ok() }, async {
        glommio::timer::sleep(context.timeout).await;
        false
    })
    .await;
    // Two timers per connection, re-armed for every request rather than created: a glommio
    // timer allocates when it is created.
    let mut send_timer = Timer::new(Duration::ZERO);
    let mut timeout_timer = Timer::new(context.timeout);
    for request_idx in share.requests() {
        let intended =
            context.start + Duration::from_nanos(context.schedule.wall_offset_ns(request_idx));
        let now = Instant::now();
        if now < intended {
            send_timer.reset(intended - now);
            (&mut send_timer).await;
        } else if now - intended > context.late_after {
            context.stats.borrow_mut().not_sent_on_time += 1;
            Progress::add(&progress.not_sent_on_time, 1);
            continue;
        }
        context.stats.borrow_mut().sent += 1;
        let request = context.requests.get(request_idx);
        let sent_at = Instant::now();
        timeout_timer.reset(context.timeout);
        let outcome =
            futures_lite::future::or(async { Some(connection.exchange(request).await) }, async {
                (&mut timeout_timer).await;
                None
            })
            .await;
        let done = Instant::now();
        let mut stats = context.stats.borrow_mut();
        match outcome {
            Some(Ok(response)) => {
                let latency_us = done.saturating_duration_since(intended).as_micros() as u64;
                let service_us = done.saturating_duration_since(sent_at).as_micros() as u64;
                let offset_ns = done.saturating_duration_since(context.start).as_nanos() as u64;
                stats.record_response(response.status, latency_us, service_us, offset_ns);
                Progress::add(&progress.responses, 1);
            }
            Some(Err(kind)) => {
                stats.record_error(kind);
                Progress::add(&progress.failures, 1);
            }
            None => {
                connection.reset();
                stats.record_error(ErrorKind::Timeout);
                Progress::add(&progress.failures, 1);
            }
        }
    }
}
