//! Preparing a sled directory before sled opens it: taking its lock to learn whether another
//! process has it, and setting aside snapshot files sled would choke on.
//!
//! sled 0.34.7 writes a snapshot of its page table as `snap.<lsn>.generating`, syncs it and
//! only then renames it to `snap.<lsn>`. When the disk is full the write fails after the file
//! was created, leaving an empty (or short) `.generating` file, and sled's next open reads
//! the newest `snap.*` file whatever its suffix and refuses the whole database ("Read
//! corrupted data") when it is empty or its CRC does not match. A snapshot is only a
//! shortcut: without one sled starts from an empty page table and replays every log segment
//! (the same path it takes for a database that never wrote a snapshot), so such files can be
//! set aside safely. `docs/STORE.md` ("Storage faults") gives the reasoning in full.

use crate::error::StorageFault;
use crate::StoreError;
use fs2::FileExt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What [`prepare`] found.
pub(crate) enum Prepared {
    /// The directory is ready for sled.
    Ready,
    /// Another process holds the lock of the database.
    Locked,
}

fn storage(dir: &Path, source: std::io::Error) -> StoreError {
    StoreError::Storage {
        dir: dir.to_path_buf(),
        fault: StorageFault::of(&source),
        source,
    }
}

/// Creates `path` if missing; if it holds a database, takes its lock for the time of the
/// check and removes interrupted (`.generating`) snapshots and sets aside damaged ones, so
/// that sled opens with the newest whole snapshot or none.
pub(crate) fn prepare(path: &Path) -> Result<Prepared, StoreError> {
    std::fs::create_dir_all(path).map_err(|e| storage(path, e))?;
    let db_file = path.join("db");
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&db_file)
    {
        Ok(file) => file,
        // A new database: sled creates it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Prepared::Ready),
        Err(e) => return Err(storage(path, e)),
    };
    if let Err(e) = file.try_lock_exclusive() {
        if e.kind() == fs2::lock_contended_error().kind() {
            return Ok(Prepared::Locked);
        }
        return Err(storage(path, e));
    }
    let cleaned = clean_snapshots(path);
    // Closing the file releases the lock (sled takes it again on its own descriptor).
    drop(file);
    cleaned?;
    Ok(Prepared::Ready)
}

/// Removes every `snap.*.generating` file of the database in `path` and renames aside
/// (`damaged-snap.*`, which sled does not read) each newest `snap.*` file that sled would
/// refuse, until the newest left is whole or none is left.
pub(crate) fn clean_snapshots(path: &Path) -> Result<(), StoreError> {
    let mut finished: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| storage(path, e))? {
        let entry = entry.map_err(|e| storage(path, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("snap.") || name.ends_with(".in___motion") {
            continue;
        }
        if name.ends_with(".generating") {
            tracing::info!(file = %entry.path().display(), "removing an interrupted sled snapshot");
            std::fs::remove_file(entry.path()).map_err(|e| storage(path, e))?;
        } else {
            finished.push(entry.path());
        }
    }
    // sled reads the newest (last in name order) only.
    finished.sort();
    while let Some(newest) = finished.pop() {
        if snapshot_is_whole(&newest).map_err(|e| storage(path, e))? {
            break;
        }
        let name = newest
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("snap");
        let aside = path.join(format!("damaged-{name}"));
        tracing::warn!(file = %newest.display(), "setting aside a damaged sled snapshot");
        std::fs::rename(&newest, &aside).map_err(|e| storage(path, e))?;
    }
    Ok(())
}

/// Whether sled 0.34.7 would accept the snapshot file: longer than its 12-byte trailer
/// (length u64, CRC-32 u32 of the body, little-endian), with a matching CRC.
fn snapshot_is_whole(file: &Path) -> std::io::Result<bool> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)?.read_to_end(&mut bytes)?;
    let len = bytes.len();
    if len <= 12 {
        return Ok(false);
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[len - 4..]);
    Ok(u32::from_le_bytes(crc) == crc32fast::hash(&bytes[..len - 12]))
}
