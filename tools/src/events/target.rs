//! What an `adshard-events` command was pointed at: the event-log directory (the one in
//! `[events] dir`, whose `CURRENT` names the generation to read), one shard's directory, or one
//! segment file. The layout's names come from `eventlog::layout`, so the tool and the server
//! agree on them; reading `CURRENT` takes no lock, as the server may be running.

use std::path::{Path, PathBuf};

use adshard::eventlog::layout::{read_current, shard_dir_in, CHECKPOINT};
use adshard::eventlog::read::segment_files;
use anyhow::{bail, Context};

/// One shard's directory, with its index when `CURRENT` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDir {
    pub path: PathBuf,
    pub shard_idx: Option<usize>,
    /// The generation the shard belongs to, when `CURRENT` gave it.
    pub generation: Option<u64>,
}

/// What a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// An event-log directory: every shard of its current generation.
    Log {
        dir: PathBuf,
        generation: u64,
        shards: Vec<ShardDir>,
    },
    /// One shard's directory.
    Shard(ShardDir),
    /// One segment file.
    Segment(PathBuf),
}

impl LogTarget {
    /// The shard directories a whole-log command reads (none for a segment file).
    pub fn shard_dirs(&self) -> Vec<ShardDir> {
        match self {
            LogTarget::Log { shards, .. } => shards.clone(),
            LogTarget::Shard(shard) => vec![shard.clone()],
            LogTarget::Segment(_) => Vec::new(),
        }
    }

    /// The generation `CURRENT` names, when the target is the log directory.
    pub fn generation(&self) -> Option<u64> {
        match self {
            LogTarget::Log { generation, .. } => Some(*generation),
            _ => None,
        }
    }
}

/// Resolves `path`: a file is a segment; a directory with `CURRENT` is the log directory; a
/// directory with segments or a checkpoint is a shard's.
pub fn resolve(path: &Path) -> anyhow::Result<LogTarget> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_file() {
        return Ok(LogTarget::Segment(path.to_owned()));
    }
    if let Some(current) = read_current(path)? {
        let shards = (0..current.n_shards)
            .map(|shard_idx| ShardDir {
                path: shard_dir_in(path, current.generation, shard_idx),
                shard_idx: Some(shard_idx),
                generation: Some(current.generation),
            })
            .collect();
        return Ok(LogTarget::Log {
            dir: path.to_owned(),
            generation: current.generation,
            shards,
        });
    }
    let has_segments = !segment_files(path)?.is_empty();
    if has_segments || path.join(CHECKPOINT).is_file() {
        return Ok(LogTarget::Shard(ShardDir {
            path: path.to_owned(),
            shard_idx: None,
            generation: None,
        }));
    }
    bail!(
        "{}: not an event-log directory (no CURRENT), a shard directory (no segments, no \
         checkpoint) or a segment file",
        path.display()
    )
}
