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
//! The holder writes its process id and command into the file, so that a process refused
//! the lock can say who has the directory.
//! It is released when the last handle drops, or when the process dies, however it dies.

use crate::StoreError;
use fs2::FileExt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lock file's name in the data directory. It names the holder (process id and command)
/// for others' error messages; only its lock guards anything.
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
                        return Err(StoreError::in_use(dir));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(StoreError::Io(e).in_dir(dir)),
            }
        }
        say_who_holds(&file);
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

/// Longest holder description kept from a lock file.
const HOLDER_MAX: usize = 200;

/// Writes who holds the lock into the lock file, for the error another process shows
/// ("in use by process 1234 (vasooli serve)"). Best effort: on a full or read-only disk the
/// lock still holds, and the error says "another process".
fn say_who_holds(file: &File) {
    use std::io::{Seek, Write};
    let command = HOLDER.get().cloned().unwrap_or_else(|| {
        std::env::args_os()
            .next()
            .and_then(|arg| {
                Path::new(&arg)
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_default()
    });
    let text = format!("{} {command}\n", std::process::id());
    let mut file = file;
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(std::io::SeekFrom::Start(0)))
        .and_then(|_| file.write_all(text.as_bytes()));
}

/// How this process describes itself in the lock files it holds (default: the program's
/// name).
static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets how this process describes itself to others refused a directory it holds, such as
/// `vasooli serve`; the first call wins.
pub fn describe_holder(description: impl Into<String>) {
    let _ = HOLDER.set(description.into());
}

/// The process a data directory's lock file names ("process 1234 (vasooli serve)"), if it
/// names one.
pub(crate) fn holder_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(LOCK_FILE)).ok()?;
    let line = text.lines().next()?.trim();
    let (pid, command) = line.split_once(' ').unwrap_or((line, ""));
    let pid: u32 = pid.parse().ok()?;
    let command: String = command
        .chars()
        .filter(|c| !c.is_control())
        .take(HOLDER_MAX)
        .collect();
    Some(match command.is_empty() {
        true => format!("process {pid}"),
        false => format!("process {pid} ({command})"),
    })
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
                    return Err(StoreError::in_use(path));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(StoreError::Io(e).in_dir(path)),
        }
    }
}
