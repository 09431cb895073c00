//! Counting allocations, for the tests that prove a path allocates nothing after warm-up: a
//! global allocator that forwards to the system allocator and counts, per thread, every
//! allocation (`alloc`, `alloc_zeroed` and `realloc`), so that parallel tests do not mix their
//! counts. A library cannot install a global allocator for its users, so each test crate still
//! declares it itself: `#[global_allocator] static GLOBAL: adshard_testkit::alloc::CountingAllocator
//! = adshard_testkit::alloc::CountingAllocator;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// The system allocator, counting this thread's allocations.
pub struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Whether this thread's allocations are being traced.
    static TRACING: Cell<bool> = const { Cell::new(false) };
    /// Set while a backtrace is captured, so the capture's own allocations are not traced.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static TRACES: RefCell<Vec<Backtrace>> = const { RefCell::new(Vec::new()) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
    if TRACING.try_with(Cell::get).unwrap_or(false) && !CAPTURING.with(Cell::get) {
        CAPTURING.with(|capturing| capturing.set(true));
        let trace = Backtrace::force_capture();
        let _ = TRACES.try_with(|traces| traces.borrow_mut().push(trace));
        CAPTURING.with(|capturing| capturing.set(false));
    }
}

/// Starts capturing a backtrace per allocation on this thread. The count goes on, but it
/// then includes the captures' own allocations: do not count and trace at the same time.
pub fn trace_sites_start() {
    TRACES.with(|traces| traces.borrow_mut().clear());
    TRACING.with(|tracing| tracing.set(true));
}

/// Stops tracing and returns the backtraces captured since [`trace_sites_start`].
pub fn trace_sites_stop() -> Vec<Backtrace> {
    TRACING.with(|tracing| tracing.set(false));
    TRACES.with(|traces| std::mem::take(&mut *traces.borrow_mut()))
}

/// Allocation sites, most frequent first: each backtrace named by its first `depth` frames
/// outside the allocator and the standard collections that called it.
pub fn sites(traces: &[Backtrace], depth: usize) -> Vec<(usize, String)> {
    // Frame names start with these (after any `<`); this module's own frames are matched
    // anywhere, as generic instances of them may be named after the calling crate.
    const PLUMBING: &[&str] = &[
        "std::backtrace",
        "__rust",
        "__rdl",
        "alloc::",
        "core::",
        "hashbrown::",
        "smallvec::",
        "GlobalAlloc",
    ];
    let mut counts: HashMap<String, usize> = HashMap::new();
    for trace in traces {
        let text = trace.to_string();
        let frames: Vec<&str> = text
            .lines()
            .filter_map(|line| {
                let (number, name) = line.trim_start().split_once(": ")?;
                number.parse::<usize>().ok().map(|_| name.trim())
            })
            .filter(|name| {
                let bare = name.trim_start_matches('<');
                !name.contains("adshard_testkit::alloc::")
                    && !PLUMBING.iter().any(|plumbing| bare.starts_with(plumbing))
            })
            .take(depth)
            .collect();
        *counts.entry(frames.join(" <- ")).or_default() += 1;
    }
    let mut sites: Vec<(usize, String)> = counts.into_iter().map(|(k, v)| (v, k)).collect();
    sites.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    sites
}

// SAFETY: forwards every call to the system allocator unchanged; only counts, in a
// const-initialized thread-local without destructor, so counting never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// This thread's allocations so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// This thread's allocations while `f` runs.
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = allocations();
    f();
    allocations() - before
}

/// One shard's request handler outside any server, built as `shard::run_shard` builds it,
/// for tests that count what handling a request allocates.
pub struct LoneShard {
    pub context: std::rc::Rc<adshard::http::ConnectionContext<adshard::stats::ShardStats>>,
    pub handler: adshard::shard::ShardHandler,
    /// The shard's own ends of its meshes, held so that the handler's senders stay open:
    /// destructure it into a binding that lives as long as the handler (`_receivers`, not `..`).
    pub _receivers: Box<dyn std::any::Any>,
}

/// Builds [`LoneShard`] for `config` and `campaigns`, signing with the demo secret. Must be
/// called on a glommio executor (the meshes are glommio channels).
pub async fn lone_shard(
    config: &adshard::config::Config,
    campaigns: &adshard::campaign::CampaignData,
) -> LoneShard {
    use std::rc::Rc;

    use adshard::catalog::Catalog;
    use adshard::currency::CurrencyTable;
    use adshard::http::{ConnectionContext, HttpLimits};
    use adshard::server::DEMO_TRACKING_SECRET;
    use adshard::shard::{MeshSenders, ShardHandler, ShardMeshes};
    use adshard::stats::ShardStats;
    use adshard::tracking::TokenSigner;

    let meshes = ShardMeshes::full(1);
    let (control, control_receivers) = meshes.control.join().await.expect("mesh");
    let (route, route_receivers) = meshes.route.join().await.expect("mesh");
    let (reply, reply_receivers) = meshes.reply.join().await.expect("mesh");
    let currencies = CurrencyTable::from_config(&config.currency);
    let catalog = Rc::new(Catalog::build(campaigns, &currencies));
    let signer = TokenSigner::new(DEMO_TRACKING_SECRET.as_bytes()).expect("signer");
    let context = Rc::new(ConnectionContext::new(
        HttpLimits::default(),
        Rc::new(ShardStats::new(0)),
    ));
    let handler = ShardHandler::new(
        context.clone(),
        config,
        catalog,
        currencies,
        signer,
        MeshSenders {
            control,
            route,
            reply,
        },
    );
    LoneShard {
        context,
        handler,
        _receivers: Box::new((control_receivers, route_receivers, reply_receivers)),
    }
}
