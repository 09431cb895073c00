//! Errors of the control plane: starting the server. Request-path errors are values of their
//! own modules (`openrtb::RequestError`, `http::HeadError`) and never leave a shard.

use std::net::SocketAddr;

use crate::campaign::data::DataError;
use crate::config::ConfigError;

/// Why the server could not start. Each names what the operator must fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("CPU selection: {0}")]
    Cpus(String),
    #[error("cannot start shard {shard_idx} on CPU {cpu}: {reason}")]
    Shard {
        shard_idx: usize,
        cpu: usize,
        reason: String,
    },
    #[error("cannot start the admin executor: {0}")]
    Admin(String),
    /// Every problem of the campaign files, one per line.
    #[error("campaign data:\n{0}")]
    Data(#[from] DataError),
    #[error("tracking: {0}")]
    Secret(String),
    /// The event log cannot be recovered or written: the message names the file and what to do.
    #[error("event log: {0}")]
    Events(String),
}
