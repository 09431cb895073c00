//! Starting and stopping the whole server: bind the sockets, spawn one pinned executor per
//! shard and one small admin executor, and join them on shutdown.
//!
//! Sockets are bound here, on the main thread, before any shard starts, so a port in use is a
//! clear startup error instead of a shard dying later; each shard then owns its own
//! SO_REUSEPORT socket and the kernel spreads connections across them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use glommio::channels::shared_channel;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};

use crate::admin::{self, AdminSetup};
use crate::campaign::{data, CampaignData};
use crate::clock;
use crate::config::{parse_cpu_list, Config};
use crate::currency::CurrencyTable;
use crate::error::StartError;
use crate::shard::{self, ShardMeshes, ShardSetup};

/// The tracking secret of the embedded demo. Public, so anyone can forge events signed with
/// it: `serve` warns loudly when it runs on it.
pub const DEMO_TRACKING_SECRET: &str = "adshard-demo-tracking-secret-do-not-use-in-production";

/// Where the tracking secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Config,
    Environment,
    Demo,
}

/// The tracking secret: the config's, else `ADSHARD_TRACKING_SECRET`, else the demo secret.
pub fn tracking_secret(config: &Config) -> (Vec<u8>, SecretSource) {
    if !config.tracking.secret.is_empty() {
        return (
            config.tracking.secret.as_bytes().to_vec(),
            SecretSource::Config,
        );
    }
    match std::env::var("ADSHARD_TRACKING_SECRET") {
        Ok(secret) if !secret.is_empty() => (secret.into_bytes(), SecretSource::Environment),
        _ => (DEMO_TRACKING_SECRET.as_bytes().to_vec(), SecretSource::Demo),
    }
}

/// The campaigns to serve: the configured files, else the embedded demo set; checked against
/// the config too (every campaign's currency has a rate).
pub fn load_campaigns(config: &Config) -> Result<CampaignData, StartError> {
    let currencies = CurrencyTable::from_config(&config.currency);
    let rules = data::LoadRules {
        currencies: Some(&currencies),
    };
    if config.data.campaign_files.is_empty() {
        return Ok(data::parse_str_under(
            data::DEMO_JSON,
            Path::new(data::DEMO_FILE_NAME),
            &rules,
        )?);
    }
    Ok(data::load_files_under(&config.data.campaign_files, &rules)?)
}

/// Statistics requests in flight per shard: one scrape at a time is the norm; a few
/// concurrent scrapers wait rather than pile up.
const STATS_CHANNEL_CAPACITY: usize = 4;
/// The admin executor only renders metrics; it needs little io_uring memory.
const ADMIN_IO_MEMORY_BYTES: usize = 128 * 1024;

/// A running server. Dropping it does not stop it; call `shutdown` and `join`.
#[derive(Debug)]
pub struct ServerHandle {
    listen_addr: SocketAddr,
    admin_addr: SocketAddr,
    shard_cpus: Vec<usize>,
    shutdown: Arc<AtomicBool>,
    executors: Vec<ExecutorJoinHandle<()>>,
    /// The event-log directory's lock, held until the shards have stopped.
    _events: Option<crate::eventlog::layout::Layout>,
}

impl ServerHandle {
    /// The public address actually bound (useful with port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The CPU each shard is pinned to, by shard index.
    pub fn shard_cpus(&self) -> &[usize] {
        &self.shard_cpus
    }

    /// The flag that stops the server; signal handlers set it too.
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }

    /// Starts a graceful shutdown: stop accepting, drain in-flight requests, exit.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    /// Waits for every executor to finish. True when all ended cleanly.
    pub fn join(self) -> bool {
        let mut clean = true;
        for executor in self.executors {
            if executor.join().is_err() {
                clean = false;
            }
        }
        clean
    }
}

/// The CPUs shards run on: the configured list, or every online core.
pub fn shard_cpus(config: &Config) -> Result<Vec<usize>, StartError> {
    let mut cpus = parse_cpu_list(&config.server.cpus).map_err(StartError::Cpus)?;
    let online: Vec<usize> = core_affinity::get_core_ids()
        .ok_or_else(|| StartError::Cpus("cannot list the online cores".into()))?
        .into_iter()
        .map(|core| core.id)
        .collect();
    if cpus.is_empty() {
        cpus = online;
    } else if let Some(cpu) = cpus.iter().find(|cpu| !online.contains(cpu)) {
        return Err(StartError::Cpus(format!(
            "CPU {cpu} is not online (online: {online:?})"
        )));
    }
    if cpus.is_empty() {
        return Err(StartError::Cpus("no CPU to run on".into()));
    }
    let shards = if config.server.shards == 0 {
        cpus.len()
    } else {
        config.server.shards
    };
    if shards > cpus.len() {
        return Err(StartError::Cpus(format!(
            "{shards} shards need {shards} CPUs, but only {} are selected ({cpus:?}); one shard per core",
            cpus.len()
        )));
    }
    cpus.truncate(shards);
    Ok(cpus)
}

/// Binds a listening socket. `reuse_port` for the shards' shared public port.
fn bind(
    addr: SocketAddr,
    reuse_port: bool,
    backlog: u32,
) -> Result<std::net::TcpListener, StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_error)?;
    socket.set_reuse_address(true).map_err(bind_error)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(bind_error)?;
    }
    socket.bind(&addr.into()).map_err(bind_error)?;
    socket
        .listen(i32::try_from(backlog).unwrap_or(i32::MAX))
        .map_err(bind_error)?;
    Ok(socket.into())
}

/// How long `start_with` waits for every shard to accept connections: building the catalog of
/// a large campaign set takes seconds, warming bidder pools up to a connect timeout each.
pub const SHARDS_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Starts the server and returns once every shard accepts connections (or
/// [`SHARDS_READY_TIMEOUT`] passed).
pub fn start(config: Config) -> Result<ServerHandle, StartError> {
    start_with_shutdown(config, Arc::new(AtomicBool::new(false)))
}

/// Like [`start`], stopped by `shutdown`, a flag the caller made first: the binary points
/// its signal handlers at it before any shard accepts, so a signal that arrives as soon as
/// the server answers finds them installed rather than the default action (which kills).
pub fn start_with_shutdown(
    config: Config,
    shutdown: Arc<AtomicBool>,
) -> Result<ServerHandle, StartError> {
    let campaigns = load_campaigns(&config)?;
    start_on(config, campaigns, shutdown)
}

/// Starts the server on campaigns already loaded (tests and tools build their own).
pub fn start_with(config: Config, campaigns: CampaignData) -> Result<ServerHandle, StartError> {
    start_on(config, campaigns, Arc::new(AtomicBool::new(false)))
}

fn start_on(
    config: Config,
    campaigns: CampaignData,
    shutdown: Arc<AtomicBool>,
) -> Result<ServerHandle, StartError> {
    let cpus = shard_cpus(&config)?;
    let (secret, _) = tracking_secret(&config);
    if secret.len() < crate::tracking::SECRET_BYTES_MIN {
        return Err(StartError::Secret(format!(
            "the tracking secret is {} bytes; at least {} are needed",
            secret.len(),
            crate::tracking::SECRET_BYTES_MIN
        )));
    }
    let secret = Arc::new(secret);
    let campaigns = Arc::new(campaigns);
    let meshes = ShardMeshes::full(cpus.len());
    let backlog = config.server.listen_backlog;
    // SO_REUSEPORT lets another process bind the same port silently and take part of the
    // traffic. Probing with a plain bind first turns that into a startup error.
    let requested = config.server.listen;
    if requested.port() != 0 {
        // Bind without listening: a listening probe could accept a client's connection in the
        // instant before it is closed, and reset it.
        let bind_error = |source| StartError::Bind {
            addr: requested,
            source,
        };
        let probe = Socket::new(
            Domain::for_address(requested),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .map_err(bind_error)?;
        probe.set_reuse_address(true).map_err(bind_error)?;
        probe.bind(&requested.into()).map_err(bind_error)?;
    }
    let first = bind(requested, true, backlog)?;
    let listen_addr = first.local_addr().map_err(|source| StartError::Bind {
        addr: requested,
        source,
    })?;
    let mut listeners = vec![first];
    for _ in 1..cpus.len() {
        listeners.push(bind(listen_addr, true, backlog)?);
    }
    let admin_listener = bind(config.server.admin_listen, false, 128)?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: config.server.admin_listen,
            source,
        })?;

    let (events_layout, mut shard_events) = recover_events(&config, &campaigns, cpus.len())?;
    let (ready_sender, ready_receiver) = std::sync::mpsc::sync_channel(cpus.len());
    let mut executors = Vec::with_capacity(cpus.len() + 1);
    let mut admin_channels = Vec::with_capacity(cpus.len());
    for (shard_idx, (cpu, listener)) in cpus.iter().copied().zip(listeners).enumerate() {
        let (request_sender, request_receiver) =
            shared_channel::new_bounded(STATS_CHANNEL_CAPACITY);
        let (reply_sender, reply_receiver) = shared_channel::new_bounded(STATS_CHANNEL_CAPACITY);
        admin_channels.push((request_sender, reply_receiver));
        let setup = ShardSetup {
            shard_idx,
            config: config.clone(),
            listener,
            shutdown: shutdown.clone(),
            stats_requests: request_receiver,
            stats_replies: reply_sender,
            data: campaigns.clone(),
            meshes: meshes.clone(),
            tracking_secret: secret.clone(),
            ready: ready_sender.clone(),
            events: shard_events.next(),
        };
        let mut builder = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("adshard-shard-{shard_idx}"))
            .io_memory(config.server.io_memory_bytes)
            .ring_depth(config.server.ring_depth);
        if config.server.spin_before_park_us > 0 {
            builder = builder.spin_before_park(std::time::Duration::from_micros(
                config.server.spin_before_park_us,
            ));
        }
        let spawned = builder.spawn(move || shard::run(setup));
        match spawned {
            Ok(executor) => executors.push(executor),
            Err(error) => {
                shutdown.store(true, Ordering::Release);
                return Err(StartError::Shard {
                    shard_idx,
                    cpu,
                    reason: error.to_string(),
                });
            }
        }
    }
    let setup = AdminSetup {
        config: config.clone(),
        listener: admin_listener,
        shutdown: shutdown.clone(),
        shards: admin_channels,
    };
    let spawned = LocalExecutorBuilder::new(Placement::Unbound)
        .name("adshard-admin")
        .io_memory(ADMIN_IO_MEMORY_BYTES)
        .ring_depth(64)
        .spawn(move || admin::run(setup));
    match spawned {
        Ok(executor) => executors.push(executor),
        Err(error) => {
            shutdown.store(true, Ordering::Release);
            return Err(StartError::Admin(error.to_string()));
        }
    }
    // A request accepted by the kernel before its shard reads the socket would start its
    // deadline late: wait until every shard serves. A shard that failed to start drops its
    // sender without a message; once every shard has, the wait ends at once.
    drop(ready_sender);
    let waited_from = crate::clock::now();
    let mut n_ready = 0;
    while n_ready < cpus.len() {
        let remaining = SHARDS_READY_TIMEOUT.saturating_sub(clock::elapsed_since(waited_from));
        match ready_receiver.recv_timeout(remaining) {
            Ok(_) => n_ready += 1,
            Err(_) => break,
        }
    }
    if n_ready < cpus.len() {
        tracing::warn!(
            n_ready,
            n_shards = cpus.len(),
            "not every shard reported ready"
        );
    }
    Ok(ServerHandle {
        listen_addr,
        admin_addr,
        shard_cpus: cpus,
        shutdown,
        executors,
        _events: events_layout,
    })
}

/// Recovers the event log for `n_shards` shards (see `recovery`) and logs what it found; the
/// layout (the directory's lock) and each shard's part, in shard order.
fn recover_events(
    config: &Config,
    campaigns: &CampaignData,
    n_shards: usize,
) -> Result<
    (
        Option<crate::eventlog::layout::Layout>,
        std::vec::IntoIter<crate::recovery::ShardEvents>,
    ),
    StartError,
> {
    let started = clock::now();
    let recovered = crate::recovery::recover(config, campaigns, n_shards, clock::unix_s())
        .map_err(|error| StartError::Events(error.to_string()))?;
    let elapsed_ms = clock::elapsed_since(started).as_millis() as u64;
    let Some((layout, shards, report)) = recovered else {
        tracing::warn!("event log off (events.enabled = false): nothing survives a restart");
        return Ok((None, Vec::new().into_iter()));
    };
    let records: u64 = report.per_shard.iter().map(|s| s.records).sum();
    tracing::info!(
        dir = %report.dir.display(),
        previous_generation = report.previous.map(|c| c.generation),
        previous_shards = report.previous.map(|c| c.n_shards),
        generation = report.generation,
        records_replayed = records,
        elapsed_ms,
        "event log recovered"
    );
    Ok((Some(layout), shards.into_iter()))
}
