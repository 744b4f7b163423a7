//! The demo's guard: a demo replaces only a directory it made, holding only what it wrote,
//! that no other process has open. The marker file it keeps there ([`MARKER`]) records the
//! events it wrote and their checksum; [`prepare`] checks it before anything is removed and
//! [`record`] brings it up to the log's end.

use std::io;
use std::path::{Path, PathBuf};
use vasooli_engine::log::LogDigest;
use vasooli_engine::EngineError;
use vasooli_store::{DirLock, Store, StoreError, LOCK_FILE};

/// The marker the demo keeps in the directory it makes: the events it wrote and their
/// checksum.
pub const MARKER: &str = "DEMO";
/// What the demo makes in its directory, and so may remove: the log, the projections
/// and its marker. Anything else (a policy file put there) is left alone.
const MADE: &[&str] = &["log", vasooli_engine::engine::PROJECTIONS_DIR, MARKER];

/// Why the guard stopped a demo.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The directory exists but does not list.
    #[error("{}: {source}", dir.display())]
    Unreadable { dir: PathBuf, source: io::Error },
    /// The directory is not the demo's to replace: `why` says what makes it so.
    #[error(
        "the demo leaves {} alone: {why}; give the demo a directory of its own with --data DIR",
        dir.display()
    )]
    Refused { dir: PathBuf, why: String },
    /// The directory's lock or its store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log's digest could not be read.
    #[error(transparent)]
    Digest(#[from] EngineError),
    /// A file the demo made could not be removed.
    #[error("removing {}: {source}", path.display())]
    Remove { path: PathBuf, source: io::Error },
    /// The marker could not be written.
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl GuardError {
    /// Whether the error is about the directory the user gave (a refusal, or a directory
    /// that does not list) rather than a failure of the machine.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            GuardError::Unreadable { .. } | GuardError::Refused { .. }
        )
    }
}

fn refuse(dir: &Path, why: impl Into<String>) -> GuardError {
    GuardError::Refused {
        dir: dir.to_path_buf(),
        why: why.into(),
    }
}

/// The directory's lock, with the directory empty of what an earlier demo made, or a
/// refusal naming the directory and why.
pub fn prepare(dir: &Path) -> Result<DirLock, GuardError> {
    let holds_data = holds_data(dir)?;
    let lock = DirLock::try_take(dir).map_err(|e| match e {
        StoreError::InUse { holder, .. } => refuse(
            dir,
            format!(
                "{} has it open",
                holder.as_deref().unwrap_or("another process")
            ),
        ),
        other => GuardError::Store(other),
    })?;
    if !holds_data {
        return Ok(lock);
    }
    check_marker(dir, &lock)?;
    remove_made(dir)?;
    Ok(lock)
}

/// Whether the directory holds anything but its lock file (a missing one holds nothing).
fn holds_data(dir: &Path) -> Result<bool, GuardError> {
    let entries: Vec<String> = match std::fs::read_dir(dir) {
        Ok(read) => read
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(GuardError::Unreadable {
                dir: dir.to_path_buf(),
                source,
            })
        }
    };
    Ok(entries.iter().any(|name| name != LOCK_FILE))
}

/// Checks that the directory's log holds exactly the events its marker records.
fn check_marker(dir: &Path, lock: &DirLock) -> Result<(), GuardError> {
    let text = match std::fs::read_to_string(dir.join(MARKER)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(refuse(
                dir,
                format!("it holds data the demo did not make (it has no {MARKER} file)"),
            ))
        }
        Err(e) => return Err(refuse(dir, format!("its {MARKER} file does not read: {e}"))),
    };
    let Some((events, checksum)) = parse(&text) else {
        return Err(refuse(dir, format!("its {MARKER} file is not the demo's")));
    };
    let store = Store::open_locked(lock)?;
    let digest = LogDigest::of(&store)?;
    drop(store);
    if digest.events() != events || digest.checksum() != checksum {
        return Err(refuse(
            dir,
            format!(
                "its log holds {} events, not the {events} the demo wrote (checksum {:08x}, \
                 the demo's {checksum:08x}): something else wrote to it",
                digest.events(),
                digest.checksum()
            ),
        ));
    }
    Ok(())
}

/// Removes what an earlier demo made, once sled has let go of its files.
fn remove_made(dir: &Path) -> Result<(), GuardError> {
    // sled lets go of its files a moment after the store closes; none of its writes may
    // land after the files are gone.
    for name in ["log", vasooli_engine::engine::PROJECTIONS_DIR] {
        vasooli_store::wait_sled_closed(&dir.join(name))?;
    }
    // The marker goes first: a removal cut off part-way leaves no marker claiming a log.
    for name in MADE.iter().rev() {
        let path = dir.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(GuardError::Remove { path, source }),
        }
    }
    Ok(())
}

/// Brings the marker up to the log's end: the events written so far and their checksum.
/// Written to a new file and renamed over the old, so it is always whole.
pub fn record(dir: &Path, store: &Store, digest: &mut LogDigest) -> Result<(), GuardError> {
    digest.update(store)?;
    let text = format!(
        "# Made by `vasooli demo`. A later demo replaces this directory only while its log \
         holds exactly these events\n# and no other process has the directory open.\n\
         events = {}\nchecksum = \"{:08x}\"\n",
        digest.events(),
        digest.checksum()
    );
    let temporary = dir.join(format!("{MARKER}.new"));
    let written = std::fs::write(&temporary, text)
        .and_then(|()| std::fs::File::open(&temporary)?.sync_all())
        .and_then(|()| std::fs::rename(&temporary, dir.join(MARKER)));
    written.map_err(|source| GuardError::Write {
        path: dir.join(MARKER),
        source,
    })
}

/// The events and checksum a marker records.
fn parse(text: &str) -> Option<(u64, u32)> {
    let mut events = None;
    let mut checksum = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim() {
            "events" => events = value.parse().ok(),
            "checksum" => checksum = u32::from_str_radix(value, 16).ok(),
            _ => {}
        }
    }
    Some((events?, checksum?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_its_events_and_checksum() {
        let text = "# comment\nevents = 42\nchecksum = \"00c0ffee\"\n";
        assert_eq!(parse(text), Some((42, 0x00c0_ffee)));
        assert_eq!(parse("events = 42\n"), None);
        assert_eq!(parse("events = x\nchecksum = \"00\"\n"), None);
    }

    #[test]
    fn a_directory_with_foreign_data_is_refused_and_left_as_it_was() {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("accounts.csv"), "x").unwrap();
        let err = prepare(&dir).expect_err("foreign data is refused");
        assert!(err.is_usage(), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the demo leaves {} alone: it holds data the demo did not make (it has no DEMO \
                 file); give the demo a directory of its own with --data DIR",
                dir.display()
            )
        );
        assert!(dir.join("accounts.csv").exists());
    }

    #[test]
    fn a_new_directory_is_taken_and_an_unreadable_marker_refused() {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = tmp.path().join("fresh");
        drop(prepare(&dir).expect("a missing directory is the demo's"));
        std::fs::write(dir.join(MARKER), "not a marker\n").unwrap();
        let err = prepare(&dir).expect_err("a marker without its fields is refused");
        assert!(
            matches!(&err, GuardError::Refused { why, .. } if why == "its DEMO file is not the demo's"),
            "{err:?}"
        );
        assert!(dir.join(MARKER).exists());
    }
}
