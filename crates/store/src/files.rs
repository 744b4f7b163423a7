//! The log's chunks and the key index's runs in files of the store's own, beside sled.
//!
//! Chunks and key-index blocks are written once and never changed, but sled 0.34 keeps a
//! value inside its leaf node, writes the whole leaf again as it fills and splits, and
//! cleans a segment of its log only once half of it or less is live: copied into a fresh
//! database in key order, the 41 MB of key-index blocks, chunk lists, head blocks and chunk
//! pointers of a log of 2.4 M events took 95 MB of sled's file. So the store keeps these
//! values in files and keeps in sled, under the value's key, only where it is: a
//! [`POINTER_LEN`]-byte value ([`pointer`]).
//!
//! - The chunks go to `log/chunks`, one after another. A group's chunks are appended and
//!   synced before the sled batch naming them is applied and flushed, so every chunk sled
//!   names is durable. What a crash leaves in the file after the last chunk sled names
//!   belongs to no commit: the next append overwrites it, and opening the store to write
//!   cuts it off ([`ChunkFile::trim`]).
//! - Each run of the key index goes to a file of its own, `log/keys/<run id>.run`, synced
//!   before the manifest lists the run, and removed once the manifest that stopped listing
//!   it is durable ([`RunFiles`]); files of runs the manifest does not list are removed by
//!   the next open for writing.
//!
//! Values written inside sled (by logs made before these files, or with
//! [`crate::StoreOptions::blocks_in_files`] off) are read as they always were: a pointer's
//! first byte is one no chunk or block format uses.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::fasthash::FastMap;

use crate::error::StorageFault;
use crate::{layout, StoreError};

/// Name of the file in the log's directory (`DIR/log`).
pub const CHUNKS_FILE: &str = "chunks";

/// Largest chunk a pointer may name: a chunk of one event of the largest payload, however
/// badly it compresses, with room to spare. A damaged pointer never allocates more.
const CHUNK_VALUE_MAX: usize = 2 * crate::PAYLOAD_BYTES_MAX + (1 << 20);
/// Largest key-index block a pointer may name (a block holds 256 entries of at most 20
/// bytes).
const BLOCK_VALUE_MAX: usize = 64 << 10;

/// Directory of the key index's run files in the log's directory.
pub const RUNS_DIR: &str = "keys";

/// First byte of a pointer value; no chunk format (1 to 4) nor key-block format (1, 2)
/// uses it.
const POINTER_TAG: u8 = 0xFC;
/// Length of a pointer value: the tag, the offset (u64 BE) and the length (u32 BE).
pub(crate) const POINTER_LEN: usize = 13;

/// The value kept in sled for a chunk of `len` bytes at `offset` of the file.
pub(crate) fn pointer(offset: u64, len: u32) -> [u8; POINTER_LEN] {
    let mut p = [0u8; POINTER_LEN];
    p[0] = POINTER_TAG;
    p[1..9].copy_from_slice(&offset.to_be_bytes());
    p[9..].copy_from_slice(&len.to_be_bytes());
    p
}

/// The offset and length a pointer value names, or `None` when `value` is a chunk itself.
pub(crate) fn pointer_parts(value: &[u8]) -> Option<(u64, u32)> {
    if value.len() != POINTER_LEN || value[0] != POINTER_TAG {
        return None;
    }
    let offset = u64::from_be_bytes(value[1..9].try_into().ok()?);
    let len = u32::from_be_bytes(value[9..].try_into().ok()?);
    Some((offset, len))
}

/// The open chunk file of a log.
pub(crate) struct ChunkFile {
    path: PathBuf,
    /// `None` when the log was opened to read and has no chunk file (one made before it):
    /// reading a chunk that names the file then fails.
    file: Option<File>,
    /// Where the next chunk goes: the end of the last chunk sled names, or, when sled's
    /// last chunk is inside sled, the file's length.
    end: AtomicU64,
}

/// Syncs directory `dir`, so that the names of files made in it are durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| storage(dir, e))
}

fn storage(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Storage {
        dir: path.to_path_buf(),
        fault: StorageFault::of(&source),
        source,
    }
}

impl ChunkFile {
    /// Opens the chunk file of the log whose sled database is in `log_dir` and whose tree
    /// is `tree`: to write it when `writable` (creating it if missing; a file that cannot
    /// be opened so is an error), else to read it (a missing file is none, and nothing is
    /// created).
    pub(crate) fn open(
        log_dir: &Path,
        tree: &sled::Tree,
        writable: bool,
    ) -> Result<ChunkFile, StoreError> {
        let path = log_dir.join(CHUNKS_FILE);
        let file = if writable {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| storage(&path, e))?;
            // The file's name is durable before any chunk in it is (synced on every open
            // for writing, so a crash right after a creation is covered by the next).
            sync_dir(log_dir)?;
            Some(file)
        } else {
            match File::open(&path) {
                Ok(file) => Some(file),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(storage(&path, e)),
            }
        };
        let len = match &file {
            Some(file) => file.metadata().map_err(|e| storage(&path, e))?.len(),
            None => 0,
        };
        let start = layout::chunk_key(0);
        let last = tree.range(&start[..]..&layout::CHUNK_END[..]).next_back();
        let end = match last {
            Some(item) => {
                let (key, value) = item?;
                match pointer_parts(&value) {
                    Some((offset, size)) => {
                        let end = offset.saturating_add(u64::from(size));
                        if end > len {
                            let position = layout::chunk_key_position(&key).unwrap_or(0);
                            return Err(StoreError::Corrupt {
                                position,
                                reason: format!(
                                    "{} holds {len} bytes; the log's last chunk ends at byte {end}",
                                    path.display()
                                ),
                            });
                        }
                        end
                    }
                    None => len,
                }
            }
            None => 0,
        };
        Ok(ChunkFile {
            path,
            file,
            end: AtomicU64::new(end),
        })
    }

    /// Cuts off what follows the last chunk sled names (left by a write that a crash or a
    /// failure stopped before sled named it), and syncs the cut.
    pub(crate) fn trim(&self) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let end = self.end.load(Ordering::Acquire);
        let len = file.metadata().map_err(|e| storage(&self.path, e))?.len();
        if len > end {
            tracing::info!(
                path = %self.path.display(),
                bytes = len - end,
                "cutting off chunk bytes no commit names"
            );
            file.set_len(end)
                .and_then(|()| file.sync_all())
                .map_err(|e| storage(&self.path, e))?;
        }
        Ok(())
    }

    /// The file, or why there is none.
    fn file(&self) -> Result<&File, StoreError> {
        self.file.as_ref().ok_or_else(|| {
            storage(
                &self.path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "the chunk file is missing"),
            )
        })
    }

    /// Where the next chunk goes.
    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Appends `bytes` (a group's chunks, one after another, whose pointers were made for
    /// offset `at`) at the end and syncs them; the end moves on only once they are durable.
    /// Only the store's writer appends.
    pub(crate) fn append(&self, at: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let file = self.file()?;
        let end = self.end();
        if end != at {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "{}: chunks made for byte {at} while the file ends at {end}",
                self.path.display()
            ))));
        }
        file.write_all_at(bytes, end)
            .and_then(|()| file.sync_data())
            .map_err(|e| storage(&self.path, e))?;
        self.end.store(end + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    /// The chunk stored under `position`: `value` itself when the chunk is inside sled,
    /// else its bytes read from the file into `buf`.
    pub(crate) fn resolve<'v>(
        &self,
        position: u64,
        value: &'v [u8],
        buf: &'v mut Vec<u8>,
    ) -> Result<&'v [u8], StoreError> {
        let Some((offset, len)) = pointer_parts(value) else {
            return Ok(value);
        };
        let end = self.end();
        if len as usize > CHUNK_VALUE_MAX || offset.saturating_add(u64::from(len)) > end {
            return Err(StoreError::Corrupt {
                position,
                reason: format!(
                    "a chunk of {len} bytes at byte {offset} of {}, which holds the log's chunks up to byte {end}",
                    self.path.display()
                ),
            });
        }
        read_at(self.file()?, &self.path, position, offset, len, buf)
    }
}

/// Reads `len` bytes at `offset` of `file` (named `path`) into `buf`; bytes past the file's
/// end are damage, reported at `position`.
fn read_at<'v>(
    file: &File,
    path: &Path,
    position: u64,
    offset: u64,
    len: u32,
    buf: &'v mut Vec<u8>,
) -> Result<&'v [u8], StoreError> {
    buf.clear();
    buf.resize(len as usize, 0);
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(&buf[..]),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(StoreError::Corrupt {
            position,
            reason: format!(
                "bytes {offset}..{} of {} are past the file's end",
                offset + u64::from(len),
                path.display()
            ),
        }),
        Err(e) => Err(storage(path, e)),
    }
}

/// The files of the key index's runs, one a run, opened when first read.
pub(crate) struct RunFiles {
    dir: PathBuf,
    open: Mutex<FastMap<u64, Arc<File>>>,
}

impl RunFiles {
    fn new(dir: PathBuf) -> RunFiles {
        RunFiles {
            dir,
            open: Mutex::new(FastMap::default()),
        }
    }

    fn path(&self, run: u64) -> PathBuf {
        self.dir.join(format!("{run:016x}.run"))
    }

    /// A new, empty file for `run` (replacing one a crash left).
    pub(crate) fn create(&self, run: u64) -> Result<RunWriter, StoreError> {
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir).map_err(|e| storage(&self.dir, e))?;
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
        }
        let path = self.path(run);
        let file = File::create(&path).map_err(|e| storage(&path, e))?;
        self.forget(run);
        Ok(RunWriter {
            out: std::io::BufWriter::with_capacity(64 << 10, file),
            path,
            dir: self.dir.clone(),
            written: 0,
        })
    }

    fn forget(&self, run: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run);
    }

    fn file(&self, run: u64) -> Result<Arc<File>, StoreError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = open.get(&run) {
            return Ok(Arc::clone(file));
        }
        let path = self.path(run);
        let file = match File::open(&path) {
            Ok(file) => Arc::new(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Corrupt {
                    position: 0,
                    reason: format!("key index run {run}: {} is missing", path.display()),
                })
            }
            Err(e) => return Err(storage(&path, e)),
        };
        open.insert(run, Arc::clone(&file));
        Ok(file)
    }

    /// The block of `run` stored as `value`: `value` itself when the block is inside sled,
    /// else its bytes read from the run's file into `buf`.
    pub(crate) fn resolve<'v>(
        &self,
        run: u64,
        value: &'v [u8],
        buf: &'v mut Vec<u8>,
    ) -> Result<&'v [u8], StoreError> {
        let Some((offset, len)) = pointer_parts(value) else {
            return Ok(value);
        };
        if len as usize > BLOCK_VALUE_MAX {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: format!("key index run {run}: a block of {len} bytes"),
            });
        }
        let file = self.file(run)?;
        read_at(&file, &self.path(run), 0, offset, len, buf).map_err(|e| match e {
            StoreError::Corrupt { reason, .. } => StoreError::Corrupt {
                position: 0,
                reason: format!("key index run {run}: {reason}"),
            },
            other => other,
        })
    }

    /// Removes the file of `run` (none is fine).
    pub(crate) fn remove(&self, run: u64) -> Result<(), StoreError> {
        let path = self.path(run);
        let removed = match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage(&path, e)),
        };
        // After the removal, so that no reader opens the file again meanwhile.
        self.forget(run);
        removed
    }

    /// The runs that have a file.
    pub(crate) fn on_disk(&self) -> Result<Vec<u64>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(storage(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| storage(&self.dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_suffix(".run")
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            {
                out.push(id);
            }
        }
        Ok(out)
    }
}

/// A run's file being written: its blocks one after another.
pub(crate) struct RunWriter {
    out: std::io::BufWriter<File>,
    path: PathBuf,
    dir: PathBuf,
    written: u64,
}

impl RunWriter {
    /// Appends `block`; returns the pointer sled keeps for it.
    pub(crate) fn push(&mut self, block: &[u8]) -> Result<[u8; POINTER_LEN], StoreError> {
        let len = u32::try_from(block.len()).expect("a block is under 4 GiB");
        self.out
            .write_all(block)
            .map_err(|e| storage(&self.path, e))?;
        let at = pointer(self.written, len);
        self.written += u64::from(len);
        Ok(at)
    }

    /// Writes what is buffered and syncs the file and its directory: the run is durable.
    pub(crate) fn finish(self) -> Result<(), StoreError> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| storage(&self.path, e.into_error()))?;
        file.sync_data().map_err(|e| storage(&self.path, e))?;
        sync_dir(&self.dir)
    }
}

/// The log's tree with its chunk file and run files: what reads a chunk or a key-index
/// block needs. It derefs to the tree.
#[derive(Clone)]
pub(crate) struct LogTree {
    tree: sled::Tree,
    chunks: Arc<ChunkFile>,
    runs: Arc<RunFiles>,
    /// Whether new chunks and blocks go to the files (else inside sled).
    in_files: bool,
}

impl LogTree {
    /// The tree `tree` of the database in `log_dir`, with its files, to write (new values
    /// going to the files when `in_files`) or, with `None`, to read only.
    pub(crate) fn open(
        log_dir: &Path,
        tree: sled::Tree,
        in_files: Option<bool>,
    ) -> Result<LogTree, StoreError> {
        let chunks = Arc::new(ChunkFile::open(log_dir, &tree, in_files.is_some())?);
        let runs = Arc::new(RunFiles::new(log_dir.join(RUNS_DIR)));
        Ok(LogTree {
            tree,
            chunks,
            runs,
            in_files: in_files.unwrap_or(true),
        })
    }

    /// The chunk file.
    pub(crate) fn chunks(&self) -> &ChunkFile {
        &self.chunks
    }

    /// The key index's run files.
    pub(crate) fn runs(&self) -> &Arc<RunFiles> {
        &self.runs
    }

    /// Whether new chunks and blocks go to the files.
    pub(crate) fn in_files(&self) -> bool {
        self.in_files
    }

    /// See [`ChunkFile::resolve`].
    pub(crate) fn chunk<'v>(
        &self,
        position: u64,
        value: &'v [u8],
        buf: &'v mut Vec<u8>,
    ) -> Result<&'v [u8], StoreError> {
        self.chunks.resolve(position, value, buf)
    }
}

impl std::ops::Deref for LogTree {
    type Target = sled::Tree;

    fn deref(&self) -> &sled::Tree {
        &self.tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_reads_back_and_no_chunk_reads_as_one() {
        let p = pointer(0x0102_0304_0506_0708, 4321);
        assert_eq!(pointer_parts(&p), Some((0x0102_0304_0506_0708, 4321)));
        // A chunk of any format starts with its format byte, 1 to 4.
        for format in 1..=4u8 {
            let mut value = p;
            value[0] = format;
            assert_eq!(pointer_parts(&value), None);
        }
        assert_eq!(pointer_parts(&p[..12]), None);
    }
}
