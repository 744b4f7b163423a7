//! Error type of the store.

use crate::ExpectedVersion;

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
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("codec: {0}")]
    Codec(String),
    /// The writer thread is gone (the store is shutting down or a write failed earlier).
    #[error("store is closed")]
    Closed,
}

impl StoreError {
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
            StoreError::Sled(e) => StoreError::Io(std::io::Error::other(e.to_string())),
            StoreError::Io(e) => StoreError::Io(std::io::Error::new(e.kind(), e.to_string())),
            StoreError::Codec(s) => StoreError::Codec(s.clone()),
            StoreError::Closed => StoreError::Closed,
        }
    }
}
