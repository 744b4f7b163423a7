//! What can go wrong in cluster mode.

use std::time::Duration;

use vasooli_store::StoreError;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The append expected another last sequence of the partition than the log has: another
    /// writer appended since this writer last read the partition.
    #[error(
        "partition {partition}: append refused, it expected sequence {expected} to be the \
         partition's last but the log's last is {}",
        actual.map_or_else(|| "unknown".to_string(), |a| a.to_string())
    )]
    StaleWriter {
        partition: String,
        expected: u64,
        actual: Option<u64>,
    },
    /// The lease is held, and not expired, by another holder.
    #[error("lease {name}: held by {holder} until {expires_at} (cluster time)")]
    LeaseHeld {
        name: String,
        holder: String,
        expires_at: time::OffsetDateTime,
    },
    /// The lease was taken over (or released) since this holder last wrote it.
    #[error("lease {name}: no longer held by {holder}")]
    LeaseLost { name: String, holder: String },
    /// The cluster did not answer in time (no quorum, no leader, servers down).
    #[error("cluster unavailable: {what} failed for {waited:?}: {reason}")]
    Unavailable {
        what: String,
        waited: Duration,
        reason: String,
    },
    /// The cluster refused the request for a reason retrying does not change.
    #[error("{what}: {reason}")]
    Refused { what: String, reason: String },
    /// A name that cannot be used in the cluster's subjects or keys.
    #[error("invalid {what} name {name:?}: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: &'static str,
    },
    /// A log entry that does not decode.
    #[error("partition {partition}, sequence {seq}: {reason}")]
    Corrupt {
        partition: String,
        seq: u64,
        reason: String,
    },
    /// The local store refused a commit the log holds (every replica refuses it alike);
    /// its sequence is recorded as covered.
    #[error("partition {partition}, sequence {seq}: the store refused the commit: {source}")]
    CommitRefused {
        partition: String,
        seq: u64,
        source: StoreError,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
