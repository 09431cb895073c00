//! The event-log directory: who owns it, which generation is current, where each shard's
//! segments and checkpoint live, and the checkpoint file format.
//!
//! ```text
//! <dir>/LOCK                      held (flock) by the running server: one writer per directory
//! <dir>/CURRENT                   "adshard-events generation G shards N", replaced atomically
//! <dir>/gen-G/shard-I/checkpoint  shard I's state as of an lsn of its log
//! <dir>/gen-G/shard-I/*.seg       shard I's log segments
//! ```
//!
//! Every start is a new generation: the server recovers every shard of the current generation
//! (whatever their number), gives each of its own shards the merged state, has each write it
//! as the first checkpoint of generation `G + 1`, and only then points `CURRENT` at `G + 1`
//! and deletes generation `G`. A crash at any point leaves `CURRENT` naming a complete
//! generation, so the shard count can change between runs and nothing is counted twice.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::binary::{Reader, Writer};

const CURRENT: &str = "CURRENT";
const LOCK: &str = "LOCK";
/// The checkpoint's file name in a shard directory, and its temporary name while written.
pub const CHECKPOINT: &str = "checkpoint";
pub const CHECKPOINT_TMP: &str = "checkpoint.tmp";
const CHECKPOINT_MAGIC: &[u8; 8] = b"ADSHCKPT";
const CHECKPOINT_VERSION: u16 = 1;
/// Bytes of a checkpoint file's header, before the state.
pub const CHECKPOINT_HEADER_BYTES: usize = 48;
/// Largest checkpoint read back: the state of a shard with the largest window and cap store
/// the config allows fits.
pub const CHECKPOINT_BYTES_MAX: u64 = 4 << 30;

/// A problem with the event-log directory, fatal at start.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("event log directory {dir}: {reason}")]
    Directory { dir: PathBuf, reason: String },
    #[error("event log directory {dir} is in use by another adshard process (LOCK is held)")]
    Locked { dir: PathBuf },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> LayoutError {
    LayoutError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The generation `CURRENT` names, and its shard count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub generation: u64,
    pub n_shards: usize,
}

/// An event-log directory this process owns (its lock is held while this lives).
#[derive(Debug)]
pub struct Layout {
    dir: PathBuf,
    _lock: File,
}

impl Layout {
    /// Creates `dir` if needed, checks it is writable and takes its lock.
    pub fn open(dir: &Path) -> Result<Layout, LayoutError> {
        let directory_error = |reason: String| LayoutError::Directory {
            dir: dir.to_owned(),
            reason,
        };
        fs::create_dir_all(dir).map_err(|e| directory_error(format!("cannot create: {e}")))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| directory_error(format!("cannot resolve: {e}")))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
            .map_err(|e| directory_error(format!("not writable: {e}")))?;
        if !try_lock(&lock).map_err(|e| directory_error(format!("cannot lock: {e}")))? {
            return Err(LayoutError::Locked { dir });
        }
        Ok(Layout { dir, _lock: lock })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current generation, `None` for a directory never used.
    pub fn current(&self) -> Result<Option<Current>, LayoutError> {
        read_current(&self.dir)
    }

    pub fn generation_dir(&self, generation: u64) -> PathBuf {
        generation_dir_in(&self.dir, generation)
    }

    pub fn shard_dir(&self, generation: u64, shard_idx: usize) -> PathBuf {
        shard_dir_in(&self.dir, generation, shard_idx)
    }

    /// Creates generation `generation`'s shard directories, empty (a leftover of a start that
    /// crashed before switching to it is removed first).
    pub fn prepare(&self, generation: u64, n_shards: usize) -> Result<(), LayoutError> {
        let gen_dir = self.generation_dir(generation);
        if gen_dir.exists() {
            fs::remove_dir_all(&gen_dir).map_err(|e| file_error(&gen_dir, e))?;
        }
        for shard_idx in 0..n_shards {
            let dir = self.shard_dir(generation, shard_idx);
            fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
        }
        sync_dir_std(&gen_dir)?;
        sync_dir_std(&self.dir)
    }

    /// Points `CURRENT` at `current` (temp file, fsync, rename, directory fsync), then deletes
    /// every other generation.
    pub fn switch_to(&self, current: Current) -> Result<(), LayoutError> {
        let tmp = self.dir.join("CURRENT.tmp");
        let text = format!(
            "adshard-events generation {} shards {}\n",
            current.generation, current.n_shards
        );
        write_durably(&tmp, text.as_bytes())?;
        let path = self.dir.join(CURRENT);
        fs::rename(&tmp, &path).map_err(|e| file_error(&path, e))?;
        sync_dir_std(&self.dir)?;
        let keep = self.generation_dir(current.generation);
        let entries = fs::read_dir(&self.dir).map_err(|e| file_error(&self.dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let is_generation = entry.file_name().to_string_lossy().starts_with("gen-");
            if is_generation && path != keep {
                fs::remove_dir_all(&path).map_err(|e| file_error(&path, e))?;
            }
        }
        sync_dir_std(&self.dir)
    }
}

/// The generation `CURRENT` in `dir` names, `None` for a directory never used. Takes no lock:
/// `adshard-events` reads a log the server may be writing.
pub fn read_current(dir: &Path) -> Result<Option<Current>, LayoutError> {
    let path = dir.join(CURRENT);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(&path, e)),
    };
    parse_current(&text)
        .map(Some)
        .ok_or_else(|| file_error(&path, "not an adshard CURRENT file"))
}

/// Generation `generation`'s directory in the event-log directory `dir`.
pub fn generation_dir_in(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("gen-{generation:010}"))
}

/// Shard `shard_idx`'s directory of generation `generation` in the event-log directory `dir`.
pub fn shard_dir_in(dir: &Path, generation: u64, shard_idx: usize) -> PathBuf {
    generation_dir_in(dir, generation).join(format!("shard-{shard_idx:03}"))
}

/// Takes an exclusive `flock` on `file` without waiting: `Ok(false)` when another open file
/// (this process's or another's) holds it. The lock goes with the file's descriptor.
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes a descriptor and flags; the descriptor is `file`'s, open for the
    // whole call.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(error)
    }
}

fn parse_current(text: &str) -> Option<Current> {
    let mut words = text.split_whitespace();
    if words.next()? != "adshard-events" || words.next()? != "generation" {
        return None;
    }
    let generation = words.next()?.parse().ok()?;
    if words.next()? != "shards" {
        return None;
    }
    let n_shards = words.next()?.parse().ok().filter(|&n| n > 0)?;
    words.next().is_none().then_some(Current {
        generation,
        n_shards,
    })
}

/// Writes a whole file and fsyncs it (std I/O: for the start, off any shard).
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let mut file = File::create(path).map_err(|e| file_error(path, e))?;
    file.write_all(bytes).map_err(|e| file_error(path, e))?;
    file.sync_all().map_err(|e| file_error(path, e))
}

fn sync_dir_std(dir: &Path) -> Result<(), LayoutError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_error(dir, e))
}

/// The header of a checkpoint file, before the encoded state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointHeader {
    pub shard_idx: u16,
    pub generation: u64,
    /// The state includes every record of the shard's log up to this lsn.
    pub log_position: u64,
}

/// A checkpoint file's bytes: header (magic, version, shard, generation, position, state
/// length, state CRC32C, header CRC32C), then `state`.
pub fn encode_checkpoint(header: CheckpointHeader, state: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut w = Writer::new(out);
    w.raw(CHECKPOINT_MAGIC)
        .u16(CHECKPOINT_VERSION)
        .u16(header.shard_idx)
        .u32(0)
        .u64(header.generation)
        .u64(header.log_position)
        .u64(state.len() as u64)
        .u32(crc32c::crc32c(state));
    let crc = crc32c::crc32c(&out[start..]);
    Writer::new(out).u32(crc).raw(state);
    debug_assert_eq!(out.len() - start, CHECKPOINT_HEADER_BYTES + state.len());
}

/// Reads a checkpoint file's bytes: its header and state, or why they cannot be trusted.
pub fn decode_checkpoint(bytes: &[u8]) -> Result<(CheckpointHeader, &[u8]), &'static str> {
    let mut r = Reader::new(bytes);
    let head = r
        .take(CHECKPOINT_HEADER_BYTES)
        .map_err(|_| "truncated header")?;
    let mut h = Reader::new(head);
    let magic = h.take(8).map_err(|_| "truncated header")?;
    if magic != CHECKPOINT_MAGIC {
        return Err("not an adshard checkpoint (bad magic)");
    }
    let crc = u32::from_le_bytes(head[44..48].try_into().expect("4 bytes"));
    if crc32c::crc32c(&head[..44]) != crc {
        return Err("header checksum mismatch");
    }
    let read = |h: &mut Reader<'_>| -> Result<_, crate::binary::DecodeError> {
        let version = h.u16()?;
        let shard_idx = h.u16()?;
        h.u32()?;
        Ok((version, shard_idx, h.u64()?, h.u64()?, h.u64()?, h.u32()?))
    };
    let (version, shard_idx, generation, log_position, len, state_crc) =
        read(&mut h).map_err(|_| "truncated header")?;
    if version != CHECKPOINT_VERSION {
        return Err("checkpoint format version not supported by this build");
    }
    let state = usize::try_from(len)
        .ok()
        .and_then(|len| r.take(len).ok())
        .ok_or("truncated state")?;
    if crc32c::crc32c(state) != state_crc {
        return Err("state checksum mismatch");
    }
    Ok((
        CheckpointHeader {
            shard_idx,
            generation,
            log_position,
        },
        state,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_file_round_trips_and_refuses_garbage() {
        let current = Current {
            generation: 12,
            n_shards: 3,
        };
        let text = format!(
            "adshard-events generation {} shards {}\n",
            current.generation, current.n_shards
        );
        assert_eq!(parse_current(&text), Some(current));
        for bad in [
            "",
            "adshard-events generation x shards 1",
            "adshard-events generation 1 shards 0",
            "adshard-events generation 1 shards 2 extra",
            "other generation 1 shards 2",
        ] {
            assert_eq!(parse_current(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn checkpoint_round_trips_and_any_damage_is_refused() {
        let header = CheckpointHeader {
            shard_idx: 2,
            generation: 5,
            log_position: 1234,
        };
        let mut bytes = Vec::new();
        encode_checkpoint(header, b"some state", &mut bytes);
        assert_eq!(decode_checkpoint(&bytes), Ok((header, &b"some state"[..])));
        for byte in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[byte] ^= 0x04;
            assert!(decode_checkpoint(&bad).is_err(), "byte {byte}");
        }
        for cut in 0..bytes.len() {
            assert!(decode_checkpoint(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn a_directory_has_one_owner_and_switches_generations() {
        let dir = std::env::temp_dir().join(format!("adshard-layout-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let layout = Layout::open(&dir).unwrap();
        assert!(matches!(
            Layout::open(&dir),
            Err(LayoutError::Locked { .. })
        ));
        assert_eq!(layout.current().unwrap(), None);
        layout.prepare(1, 2).unwrap();
        assert!(layout.shard_dir(1, 1).is_dir());
        layout
            .switch_to(Current {
                generation: 1,
                n_shards: 2,
            })
            .unwrap();
        layout.prepare(2, 1).unwrap();
        let next = Current {
            generation: 2,
            n_shards: 1,
        };
        layout.switch_to(next).unwrap();
        assert_eq!(layout.current().unwrap(), Some(next));
        assert!(!layout.generation_dir(1).exists());
        drop(layout);
        assert!(Layout::open(&dir).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
