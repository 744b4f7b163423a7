//! The data directory's own lock: one process at a time works on a data directory.
//!
//! sled locks its database file while it has it open, but that lock is sled's: it comes and
//! goes with sled's threads, and a process cannot hold it while it has no database open. A
//! command that replaces a directory's data (the demo deleting its old run, a restore) must
//! keep every other process out from the moment it checks the directory to the moment it is
//! done, including the moments no database is open. So the store takes an exclusive lock on
//! the file `lock` in the data directory for as long as it is open, and such a command takes
//! the same lock first and opens the store under it ([`crate::Store::open_locked`]).
//!
//! The lock is advisory (`flock` on Unix): every vasooli process takes it through the store.
//! It is released when the last handle drops, or when the process dies, however it dies.

use crate::StoreError;
use fs2::FileExt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lock file's name in the data directory. It holds nothing; only its lock matters.
pub const LOCK_FILE: &str = "lock";

/// How long taking the lock waits for a previous holder in this process or another to let
/// go (a store just dropped on another thread, a command finishing) before saying the
/// directory is in use.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The exclusive lock of a data directory, held until the last clone drops.
#[derive(Clone, Debug)]
pub struct DirLock {
    inner: Arc<Held>,
}

#[derive(Debug)]
struct Held {
    dir: PathBuf,
    // Closing the file releases the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir` (created if missing), waiting up to a few seconds for
    /// another holder; [`StoreError::InUse`] if it is still held then.
    pub fn take(dir: &Path) -> Result<DirLock, StoreError> {
        DirLock::take_within(dir, LOCK_WAIT)
    }

    /// Takes the lock of `dir` without waiting: [`StoreError::InUse`] at once if another
    /// process (or another handle of this one) holds it.
    pub fn try_take(dir: &Path) -> Result<DirLock, StoreError> {
        DirLock::take_within(dir, Duration::ZERO)
    }

    fn take_within(dir: &Path, wait: Duration) -> Result<DirLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e).in_dir(dir))?;
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Io(e).in_dir(dir))?;
        let started = Instant::now();
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => break,
                Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                    if started.elapsed() >= wait {
                        return Err(StoreError::InUse {
                            dir: dir.to_path_buf(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(StoreError::Io(e).in_dir(dir)),
            }
        }
        Ok(DirLock {
            inner: Arc::new(Held {
                dir: dir.to_path_buf(),
                _file: file,
            }),
        })
    }

    /// The directory this lock holds.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }
}

/// Waits until sled has let go of the database in `path` (its threads close the database
/// file a moment after the last handle drops), so that its files may be removed without a
/// late write of sled's landing in whatever replaces them.
pub fn wait_sled_closed(path: &Path) -> Result<(), StoreError> {
    let db_file = path.join("db");
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db_file)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Io(e).in_dir(path)),
    };
    let started = Instant::now();
    loop {
        match file.try_lock_exclusive() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::InUse {
                        dir: path.to_path_buf(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(StoreError::Io(e).in_dir(path)),
        }
    }
}
