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
