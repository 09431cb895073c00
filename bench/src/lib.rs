//! Benchmarks live in `benches/`; this library is empty until `adshard-bench` lands (issue 6).
