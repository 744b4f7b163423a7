//! Error type of the store.

use crate::ExpectedVersion;
use std::path::{Path, PathBuf};

/// What kind of storage fault stopped a read or write of a data directory. Classified from
/// the operating system's error code (never from message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// No space left on the disk (or the user's quota is used up).
    Full,
    /// The file system is mounted read-only.
    ReadOnly,
    /// The process may not write (or read) the files.
    Denied,
    /// Any other failure of the device or file system (I/O error, device gone...).
    Unavailable,
}

impl StorageFault {
    /// The fault an I/O error stands for.
    pub fn of(e: &std::io::Error) -> StorageFault {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StorageFault::Full,
            ErrorKind::ReadOnlyFilesystem => StorageFault::ReadOnly,
            ErrorKind::PermissionDenied => StorageFault::Denied,
            _ => StorageFault::Unavailable,
        }
    }
}

impl std::fmt::Display for StorageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StorageFault::Full => "no space left on the disk",
            StorageFault::ReadOnly => "the file system is read-only",
            StorageFault::Denied => "permission denied",
            StorageFault::Unavailable => "the storage failed",
        })
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An expectation of the commit did not hold; nothing was written.
    #[error(
        "wrong expected version for stream {stream:?}: expected {expected:?}, actual {actual:?}"
    )]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        /// The stream's version before the commit; `None` when the stream has no events.
        actual: Option<u64>,
    },
    /// A natural key already exists (or appears twice in the commit) with a different
    /// content hash; nothing was written.
    #[error("natural key conflict: {namespace}/{key} already recorded with different content")]
    KeyConflict { namespace: String, key: String },
    /// Stored bytes are damaged; `position` is the first position of the damaged value
    /// (or the position the damaged record refers to).
    #[error("corrupt store at position {position}: {reason}")]
    Corrupt { position: u64, reason: String },
    /// A size bound of the store was exceeded; nothing was written.
    #[error("{what} exceeds limit: {actual} > {limit}")]
    LimitExceeded {
        what: &'static str,
        limit: u64,
        actual: u64,
    },
    /// The disk refused a read or write of the data directory `dir`. Whatever was being
    /// committed was not acknowledged; the log holds whole commits only.
    #[error("{fault} in {}: {source}", dir.display())]
    Storage {
        dir: PathBuf,
        fault: StorageFault,
        source: std::io::Error,
    },
    /// Another process has the data directory open; `holder` names it when it said who it
    /// is in the directory's lock file ("process 1234 (vasooli serve)").
    #[error("{} is in use by {} (only one may open a data directory at a time)", dir.display(), holder.as_deref().unwrap_or("another process"))]
    InUse {
        dir: PathBuf,
        holder: Option<String>,
    },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("codec: {0}")]
    Codec(#[from] crate::codec::CodecError),
    /// A side table was asked for under a name the log keeps for itself.
    #[error("table name `{0}` is reserved for the log")]
    ReservedTable(String),
    /// The writer thread is gone (the store is shutting down or a write failed earlier).
    #[error("store is closed")]
    Closed,
    /// In cluster mode, the partition's replicated log refused the commit or could not be
    /// reached (see [`crate::AppendThrough`]); nothing was recorded.
    #[error("partition {partition}: the replicated log did not take the commit: {cause}")]
    Replication {
        partition: String,
        /// Why, in one line.
        cause: String,
        /// Whether another owner appended since: this process may write no more.
        stale: bool,
    },
}

impl StoreError {
    /// [`StoreError::InUse`] for `dir`, naming the process that holds it when its lock file
    /// (in `dir` or, for a database inside a data directory, in its parent) says.
    pub fn in_use(dir: &Path) -> StoreError {
        let holder = std::iter::once(dir)
            .chain(dir.parent())
            .find_map(crate::dirlock::holder_of);
        StoreError::InUse {
            dir: dir.to_path_buf(),
            holder,
        }
    }

    /// This error with any I/O failure turned into [`StoreError::Storage`] naming `dir`.
    pub fn in_dir(self, dir: &Path) -> StoreError {
        match self {
            StoreError::Io(source) | StoreError::Sled(sled::Error::Io(source)) => {
                let fault = StorageFault::of(&source);
                // sled hands errors it cloned over with their debug text as the message
                // (`Os { code: 28, .. }`); the kind says the same in words.
                let source = if source.raw_os_error().is_none()
                    && fault != StorageFault::Unavailable
                    && source.get_ref().is_some()
                {
                    std::io::Error::from(source.kind())
                } else {
                    source
                };
                StoreError::Storage {
                    dir: dir.to_path_buf(),
                    fault,
                    source,
                }
            }
            other => other,
        }
    }

    /// The storage fault, when this is one. A replicated log that did not take a commit
    /// counts as storage unavailable.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            StoreError::Storage { fault, .. } => Some(*fault),
            StoreError::Replication { .. } => Some(StorageFault::Unavailable),
            StoreError::Io(e) | StoreError::Sled(sled::Error::Io(e)) => Some(StorageFault::of(e)),
            _ => None,
        }
    }

    /// A copy for fanning one failure out to every caller of a group commit.
    /// Foreign error types are not `Clone`, so they are carried over as text.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected: *expected,
                actual: *actual,
            },
            StoreError::KeyConflict { namespace, key } => StoreError::KeyConflict {
                namespace: namespace.clone(),
                key: key.clone(),
            },
            StoreError::Corrupt { position, reason } => StoreError::Corrupt {
                position: *position,
                reason: reason.clone(),
            },
            StoreError::LimitExceeded {
                what,
                limit,
                actual,
            } => StoreError::LimitExceeded {
                what,
                limit: *limit,
                actual: *actual,
            },
            StoreError::Storage { dir, fault, source } => StoreError::Storage {
                dir: dir.clone(),
                fault: *fault,
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            StoreError::InUse { dir, holder } => StoreError::InUse {
                dir: dir.clone(),
                holder: holder.clone(),
            },
            StoreError::Sled(sled::Error::Io(e)) => {
                StoreError::Io(std::io::Error::new(e.kind(), e.to_string()))
            }
            StoreError::Sled(e) => StoreError::Io(std::io::Error::other(e.to_string())),
            StoreError::Io(e) => StoreError::Io(std::io::Error::new(e.kind(), e.to_string())),
            StoreError::Codec(e) => StoreError::Codec(e.clone()),
            StoreError::ReservedTable(name) => StoreError::ReservedTable(name.clone()),
            StoreError::Closed => StoreError::Closed,
            StoreError::Replication {
                partition,
                cause,
                stale,
            } => StoreError::Replication {
                partition: partition.clone(),
                cause: cause.clone(),
                stale: *stale,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_classified_from_the_os_error_code() {
        let fault = |code| StorageFault::of(&std::io::Error::from_raw_os_error(code));
        assert_eq!(fault(28), StorageFault::Full); // ENOSPC
        assert_eq!(fault(122), StorageFault::Full); // EDQUOT
        assert_eq!(fault(30), StorageFault::ReadOnly); // EROFS
        assert_eq!(fault(13), StorageFault::Denied); // EACCES
        assert_eq!(fault(1), StorageFault::Denied); // EPERM
        assert_eq!(fault(5), StorageFault::Unavailable); // EIO
                                                         // The message plays no part.
        let other = std::io::Error::other("No space left on device");
        assert_eq!(StorageFault::of(&other), StorageFault::Unavailable);
    }

    #[test]
    fn a_storage_error_is_one_line_naming_the_directory_and_the_cause() {
        let sled_clone = std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!("{:?}", std::io::Error::from_raw_os_error(28)),
        );
        let e = StoreError::Sled(sled::Error::Io(sled_clone)).in_dir(Path::new("/srv/data"));
        assert_eq!(e.storage_fault(), Some(StorageFault::Full));
        let text = e.to_string();
        assert!(
            text.starts_with("no space left on the disk in /srv/data: "),
            "{text}"
        );
        assert!(!text.contains("Os {") && !text.contains('\n'), "{text}");
        let e =
            StoreError::Io(std::io::Error::from_raw_os_error(30)).in_dir(Path::new("/srv/data"));
        assert!(e.to_string().contains("read-only in /srv/data"), "{e}");
    }
}
