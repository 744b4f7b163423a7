//! Key-value tables beside the log, for what other crates keep that is not an event: the
//! engine's checkpoints of its projections (a database of their own, so that writing tens
//! of MB never holds up a flush of the log) and the server's API tokens (a table in the
//! log's database). Only this crate names sled; the others see these small types.

use crate::{Shared, StoreError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A sled database of its own in a directory beside the log (see [`SideDb::open`]).
#[derive(Clone)]
pub struct SideDb {
    inner: Arc<SideInner>,
}

/// The database of a [`SideDb`] and what it takes to open it again: sled refuses every
/// write after one failed (a full disk) until the database is opened again.
struct SideInner {
    path: PathBuf,
    cache_bytes: u64,
    db: RwLock<Option<sled::Db>>,
    /// A write failed: reopen before the next use.
    broken: AtomicBool,
}

impl SideInner {
    /// Runs `f` on the database, reopening it first after a failed write; a storage fault
    /// of `f` marks it for reopening. Errors name the directory.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&sled::Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let run = || {
            if self.broken.load(Ordering::Acquire) {
                let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
                if self.broken.load(Ordering::Acquire) {
                    drop(slot.take());
                    *slot = Some(crate::open_sled(&self.path, self.cache_bytes)?);
                    self.broken.store(false, Ordering::Release);
                }
            }
            let db = self
                .db
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .ok_or_else(|| {
                    StoreError::Io(std::io::Error::other("the database could not be reopened"))
                })?;
            let out = f(&db);
            if let Err(e) = &out {
                if e.storage_fault().is_some() {
                    self.broken.store(true, Ordering::Release);
                }
            }
            out
        };
        run().map_err(|e| e.in_dir(&self.path))
    }
}

impl SideDb {
    /// Opens (creating if missing) the database in `path`, with a page cache of
    /// `cache_bytes`; waits like the store for a previous holder of its lock to let go.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<SideDb, StoreError> {
        let db = crate::open_sled(path, cache_bytes)?;
        Ok(SideDb {
            inner: Arc::new(SideInner {
                path: path.to_path_buf(),
                cache_bytes,
                db: RwLock::new(Some(db)),
                broken: AtomicBool::new(false),
            }),
        })
    }

    /// Its default table.
    pub fn table(&self) -> SideTable {
        SideTable {
            source: Source::Own(Arc::clone(&self.inner)),
        }
    }

    /// A number never handed out before in this database (monotonic across restarts).
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        self.inner.with_db(|db| Ok(db.generate_id()?))
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.with_db(|db| {
            db.flush()?;
            Ok(())
        })
    }

    /// The directory of the files [`SideDb::write_parts`] writes.
    fn parts_dir(&self) -> PathBuf {
        self.inner.path.join(PARTS_DIR)
    }

    /// The file of the parts `name` wrote under `generation`.
    fn parts_path(&self, name: &str, generation: u64) -> PathBuf {
        self.parts_dir().join(format!("{name}.{generation:016x}"))
    }

    /// Writes `parts` one after another to a file of their own, named by `name` and
    /// `generation`, in the database's `parts/` directory, and makes it durable (the file,
    /// then the directory) before returning where each part ends in it. For values of
    /// megabytes that are written and read whole: in sled such a value goes to a blob file
    /// whose page its cache keeps until the database closes, where a file's pages are the
    /// kernel's to keep or drop. The caller marks the writer kept ([`PartsWriter::keep`]) as
    /// it names the generation in the database, then removes the files of the others with
    /// [`SideDb::remove_parts`]; a write that fails, or a writer dropped before it is kept,
    /// removes its file. ([`SideDb::begin_parts`] is the same in steps.)
    pub fn write_parts<E: From<StoreError>>(
        &self,
        name: &str,
        generation: u64,
        parts: impl Iterator<Item = Result<Vec<u8>, E>>,
    ) -> Result<PartsWriter, E> {
        let mut writer = self.begin_parts(name, generation)?;
        for part in parts {
            writer.push(&part?)?;
        }
        writer.finish()?;
        Ok(writer)
    }

    /// Starts the file of parts of `name` and `generation` ([`SideDb::write_parts`]), to be
    /// given its parts one at a time with [`PartsWriter::push`] and made durable with
    /// [`PartsWriter::finish`]. Until the writer is dropped, [`SideDb::remove_parts`] in
    /// this process leaves its file alone; dropped before [`PartsWriter::keep`], it removes
    /// its file.
    pub fn begin_parts(&self, name: &str, generation: u64) -> Result<PartsWriter, StoreError> {
        let dir = self.parts_dir();
        let fault = |e: std::io::Error| StoreError::Io(e).in_dir(&dir);
        // The directory's entry is synced every time, in case a crash came between its
        // making and its sync.
        std::fs::create_dir_all(&dir).map_err(fault)?;
        sync_dir(&self.inner.path).map_err(fault)?;
        let path = self.parts_path(name, generation);
        writing().push(path.clone());
        let mut writer = PartsWriter {
            out: None,
            path,
            dir: dir.clone(),
            ends: Vec::new(),
            kept: false,
        };
        let file = std::fs::File::create(&writer.path).map_err(fault)?;
        writer.out = Some(std::io::BufWriter::with_capacity(1 << 20, file));
        Ok(writer)
    }

    /// The parts `name` wrote under `generation`, to read one at a time.
    pub fn read_parts(&self, name: &str, generation: u64) -> Result<PartsFile, StoreError> {
        let path = self.parts_path(name, generation);
        let fault = |e: std::io::Error| StoreError::Io(e).in_dir(&path);
        let file = std::fs::File::open(&path).map_err(fault)?;
        let len = file.metadata().map_err(fault)?.len();
        Ok(PartsFile { file, path, len })
    }

    /// Removes the files of parts of `name` but that of generation `keep`, if given: the
    /// generations before, and any a failed or interrupted write left.
    pub fn remove_parts(&self, name: &str, keep: Option<u64>) -> Result<(), StoreError> {
        let keep = keep.map(|generation| self.parts_path(name, generation));
        let prefix = format!("{name}.");
        self.remove_files_of_parts(|file_name, path| {
            let is_other = file_name
                .strip_prefix(&prefix)
                .is_some_and(|g| g.len() == 16 && u64::from_str_radix(g, 16).is_ok());
            is_other && keep.as_deref() != Some(path)
        })
    }

    /// Removes every file of parts but those being written: after the database was
    /// cleared, none is named.
    pub fn clear_parts(&self) -> Result<(), StoreError> {
        self.remove_files_of_parts(|_, _| true)
    }

    /// Removes the files of the `parts/` directory that `remove` picks (by name and path),
    /// but those being written.
    fn remove_files_of_parts(
        &self,
        remove: impl Fn(&str, &Path) -> bool,
    ) -> Result<(), StoreError> {
        let dir = self.parts_dir();
        let fault = |e: std::io::Error| StoreError::Io(e).in_dir(&dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(fault(e)),
        };
        let in_progress = writing().clone();
        for entry in entries {
            let entry = entry.map_err(fault)?;
            let path = entry.path();
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if remove(&file_name, &path) && !in_progress.contains(&path) {
                std::fs::remove_file(&path).map_err(fault)?;
            }
        }
        Ok(())
    }
}

/// The directory, inside a side database's, of the files of parts ([`SideDb::write_parts`]).
pub const PARTS_DIR: &str = "parts";

/// The files of parts this process is writing ([`SideDb::begin_parts`]), which
/// [`SideDb::remove_parts`] leaves alone. (Only one process opens a database.)
fn writing() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    static WRITING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    WRITING.lock().unwrap_or_else(|p| p.into_inner())
}

/// A file of parts being written ([`SideDb::begin_parts`]).
#[derive(Debug)]
pub struct PartsWriter {
    out: Option<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    dir: PathBuf,
    ends: Vec<u64>,
    /// Named by its caller: the file stays when the writer is dropped.
    kept: bool,
}

impl PartsWriter {
    fn fault(&self, e: std::io::Error) -> StoreError {
        StoreError::Io(e).in_dir(&self.dir)
    }

    /// Appends the next part.
    pub fn push(&mut self, part: &[u8]) -> Result<(), StoreError> {
        use std::io::Write;
        let out = self.out.as_mut().ok_or(StoreError::Closed)?;
        if let Err(e) = out.write_all(part) {
            return Err(self.fault(e));
        }
        self.ends
            .push(self.ends.last().copied().unwrap_or(0) + part.len() as u64);
        Ok(())
    }

    /// Parts pushed so far.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes pushed so far.
    pub fn bytes(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Where each part pushed ends in the file.
    pub fn ends(&self) -> &[u64] {
        &self.ends
    }

    /// Makes the file durable (the file, then its directory) and returns where each part
    /// ends.
    pub fn finish(&mut self) -> Result<Vec<u64>, StoreError> {
        let out = self.out.take().ok_or(StoreError::Closed)?;
        let file = out.into_inner().map_err(|e| self.fault(e.into_error()))?;
        file.sync_all().map_err(|e| self.fault(e))?;
        sync_dir(&self.dir).map_err(|e| self.fault(e))?;
        Ok(self.ends.clone())
    }

    /// The caller is naming the file (its head is being written): it stays when the writer
    /// is dropped. Until then a dropped writer removes it, so that a write given up on a
    /// full disk does not leave a file the size of what it wrote.
    pub fn keep(&mut self) {
        self.kept = true;
    }
}

impl Drop for PartsWriter {
    fn drop(&mut self) {
        if !self.kept {
            drop(self.out.take());
            let _ = std::fs::remove_file(&self.path);
        }
        let mut writing = writing();
        if let Some(at) = writing.iter().position(|p| p == &self.path) {
            writing.swap_remove(at);
        }
    }
}

/// Makes a directory's entries durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A file of parts written by [`SideDb::write_parts`], open for reading.
pub struct PartsFile {
    file: std::fs::File,
    path: PathBuf,
    /// The file's length when opened.
    len: u64,
}

impl PartsFile {
    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Part `index`, given where each part ends ([`PartsWriter::finish`]'s answer).
    pub fn part(&self, ends: &[u64], index: usize) -> Result<Vec<u8>, StoreError> {
        use std::os::unix::fs::FileExt;
        let end = *ends.get(index).ok_or_else(|| StoreError::Corrupt {
            position: 0,
            reason: format!("{}: no part {index} of {}", self.path.display(), ends.len()),
        })?;
        let start = index.checked_sub(1).map_or(0, |i| ends[i]);
        if start > end || end > self.len {
            return Err(StoreError::Corrupt {
                position: 0,
                reason: format!(
                    "{}: part {index} is bytes {start}..{end} of {}",
                    self.path.display(),
                    self.len
                ),
            });
        }
        let mut bytes = vec![0; (end - start) as usize];
        self.file
            .read_exact_at(&mut bytes, start)
            .map_err(|e| StoreError::Io(e).in_dir(&self.path))?;
        Ok(bytes)
    }
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One table of keys and values. Writes become durable with [`SideTable::flush`] (or, for a
/// table in the log's database, with the next append).
#[derive(Clone)]
pub struct SideTable {
    source: Source,
}

/// Where a table lives.
#[derive(Clone)]
enum Source {
    /// The default tree of a database of its own, looked up at each use.
    Own(Arc<SideInner>),
    /// A named tree of the log's database, looked up at each use: the store reopens that
    /// database after a failed write.
    Log(Arc<Shared>, String),
}

impl SideTable {
    /// A named table in the log's database; names starting with `log_` are the store's.
    pub(crate) fn in_log_db(shared: &Arc<Shared>, name: &str) -> Result<SideTable, StoreError> {
        if name.starts_with("log_") {
            return Err(StoreError::ReservedTable(name.to_string()));
        }
        let table = SideTable {
            source: Source::Log(Arc::clone(shared), name.to_string()),
        };
        table.with_tree(|_| Ok(()))?;
        Ok(table)
    }

    /// Runs `f` on the table's tree; I/O failures name the directory.
    fn with_tree<T>(
        &self,
        f: impl FnOnce(&sled::Tree) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.source {
            Source::Own(inner) => inner.with_db(|db| f(db)),
            Source::Log(shared, name) => {
                let run = || {
                    let tree = shared.db()?.open_tree(name)?;
                    f(&tree)
                };
                run().map_err(|e| e.in_dir(&shared.dir))
            }
        }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_tree(|t| Ok(t.get(key)?.map(|v| v.to_vec())))
    }

    pub fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.with_tree(|t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.with_tree(|t| {
            t.remove(key)?;
            Ok(())
        })
    }

    /// Every key starting with `prefix`, in order.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with_tree(|t| {
            t.scan_prefix(prefix)
                .keys()
                .map(|k| Ok(k?.to_vec()))
                .collect()
        })
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.with_tree(|t| {
            t.iter()
                .map(|item| {
                    let (k, v) = item?;
                    Ok((k.to_vec(), v.to_vec()))
                })
                .collect()
        })
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.with_tree(|t| {
            t.clear()?;
            Ok(())
        })
    }

    /// Makes every write to the table so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.with_tree(|t| {
            t.flush()?;
            Ok(())
        })
    }
}
