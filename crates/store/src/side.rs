//! Key-value tables beside the log, for what other crates keep that is not an event: the
//! engine's checkpoints of its projections (a database of their own, so that writing tens
//! of MB never holds up a flush of the log) and the server's API tokens (a table in the
//! log's database). Only this crate names sled; the others see these small types.

use crate::StoreError;
use std::path::Path;

/// A sled database of its own in a directory beside the log (see [`SideDb::open`]).
#[derive(Clone)]
pub struct SideDb {
    db: sled::Db,
}

impl SideDb {
    /// Opens (creating if missing) the database in `path`, with a page cache of
    /// `cache_bytes`; waits like the store for a previous holder of its lock to let go.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<SideDb, StoreError> {
        Ok(SideDb {
            db: crate::open_sled(path, cache_bytes)?,
        })
    }

    /// Its default table.
    pub fn table(&self) -> SideTable {
        SideTable {
            tree: sled::Tree::clone(&self.db),
        }
    }

    /// A number never handed out before in this database (monotonic across restarts).
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One table of keys and values. Writes become durable with [`SideTable::flush`] (or, for a
/// table in the log's database, with the next append).
#[derive(Clone)]
pub struct SideTable {
    tree: sled::Tree,
}

impl SideTable {
    /// A named table in the log's database; names starting with `log_` are the store's.
    pub(crate) fn in_log_db(db: &sled::Db, name: &str) -> Result<SideTable, StoreError> {
        if name.starts_with("log_") {
            return Err(StoreError::Codec(format!(
                "table name `{name}` is reserved for the log"
            )));
        }
        Ok(SideTable {
            tree: db.open_tree(name)?,
        })
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.tree.insert(key, value)?;
        Ok(())
    }

    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key)?;
        Ok(())
    }

    /// Every key starting with `prefix`, in order.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .keys()
            .map(|k| Ok(k?.to_vec()))
            .collect()
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.tree
            .iter()
            .map(|item| {
                let (k, v) = item?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// Removes every entry.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.tree.clear()?;
        Ok(())
    }

    /// Makes every write to the table so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }
}
