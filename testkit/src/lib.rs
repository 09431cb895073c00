//! What adshard's tests and benchmarks share, in one place instead of a `*_common` module per
//! test directory: the mock bidder (`mockbidder`, also the `adshard-mockbidder` binary). It is
//! a dev-dependency only: the engine's integration tests, the tools' and the bench's tests use
//! it, and nothing that ships does. The engine's own unit tests cannot (this crate depends on
//! the engine), which is why the campaign builder lives in `adshard::campaign::builder`.

pub mod mockbidder;
