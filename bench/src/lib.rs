//! Measurement tools for adshard. The criterion micro-benchmarks live in `benches/` and the
//! `auction-cost` binary in `src/bin/`; this library holds `adshard-bench`, the open-loop HTTP
//! load generator (`loadgen`), so its binary stays thin and its tests drive the same code.

pub mod loadgen;
