//! Cluster mode: a utility's partitions over a replicated NATS JetStream log.
//!
//! This crate holds the foundation of cluster mode (see `docs/CLUSTER.md`):
//!
//! - [`ClusterLog`]: the replicated log, one subject per partition
//!   (`<prefix>.<partition>`) in one stream of three replicas on file storage. An append
//!   names its commit (`Nats-Msg-Id`) and the partition's last sequence as its writer knows
//!   it (`Nats-Expected-Last-Subject-Sequence`); it is acknowledged once JetStream has
//!   stored it on a quorum, and refused with [`ClusterError::StaleWriter`] when another
//!   writer appended since.
//! - [`envelope`]: how a commit is encoded in the log.
//! - [`Leases`]: one owner per partition, as a key of a replicated key-value bucket taken
//!   and renewed by compare-and-swap, expiring by the cluster's clock.
//! - [`PartitionMap`]: which partition each division belongs to, kept in the cluster.
//! - [`ProgressBoard`]: how far each owner and standby has read its partition's log.
//! - [`TokenBoard`]: each partition's API tokens, so that they work on whichever process
//!   owns it.
//! - [`Snapshots`]: each partition's latest snapshot in the cluster's object store.
//! - [`FiguresBoard`]: the figures each partition publishes after its nightly runs, for
//!   headquarters.
//! - [`Replica`]: a partition's local store, applying the partition's log exactly once
//!   (the sequence a commit covers is written in the same store batch as the commit).
//! - [`ClusterLog::ask_owner`] and [`ClusterLog::answer_as_owner`]: requests to whichever
//!   process owns a partition, through the cluster (how a routed import reaches it).

pub mod envelope;
mod error;
mod figures;
mod lease;
mod log;
mod owner;
mod partitions;
mod progress;
mod replica;
mod snapshots;
#[doc(hidden)]
pub mod testing;
mod tokens;

pub use error::ClusterError;
pub use figures::FiguresBoard;
pub use lease::{Lease, Leases};
pub use log::{ClusterConfig, ClusterLog, ReplicaState};
pub use owner::Answering;
pub use partitions::PartitionMap;
pub use progress::{ProgressBoard, ReplicaProgress, PROGRESS_KEPT};
pub use replica::{Appended, CatchUp, Replica};
pub use snapshots::{SnapshotInfo, Snapshots};
pub use tokens::TokenBoard;

/// Whether `name` may be a partition name (it becomes the last token of a subject and
/// part of a key): 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn valid_partition_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The name of `partition`'s log of `generation`, the last token of its subject: the
/// partition's name for the first generation, `<partition>~<generation>` after a move of a
/// division rebuilt it (no partition name holds a `~`).
pub fn log_name(partition: &str, generation: u64) -> String {
    if generation == 0 {
        partition.to_string()
    } else {
        format!("{partition}~{generation}")
    }
}

/// A log's name ([`log_name`]), or why it is not one.
pub(crate) fn check_log_name(name: &str) -> Result<(), ClusterError> {
    let (partition, generation) = match name.split_once('~') {
        Some((partition, generation)) => (partition, Some(generation)),
        None => (name, None),
    };
    check_partition(partition)?;
    match generation {
        Some(g) if g.is_empty() || g.starts_with('0') || !g.bytes().all(|b| b.is_ascii_digit()) => {
            Err(ClusterError::InvalidName {
                what: "log",
                name: name.to_string(),
                why: "a partition's name, then `~` and a generation from 1",
            })
        }
        _ => Ok(()),
    }
}

/// A partition name, or why it is not one.
pub(crate) fn check_partition(name: &str) -> Result<(), ClusterError> {
    check_name("partition", name)
}

/// A name that becomes one token of a subject or key (a partition, a lease holder), or why
/// it cannot.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), ClusterError> {
    if valid_partition_name(name) {
        Ok(())
    } else {
        Err(ClusterError::InvalidName {
            what,
            name: name.to_string(),
            why: "use 1 to 64 ASCII letters, digits, '-' or '_'",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_named_by_its_partition_and_generation() {
        assert_eq!(log_name("north", 0), "north");
        assert_eq!(log_name("north", 12), "north~12");
        for name in ["north", "north~1", "north~12", "a-b_c~3"] {
            assert!(check_log_name(name).is_ok(), "{name}");
        }
        for name in [
            "", "~1", "north~", "north~0", "north~01", "north~x", "no.rth~1", "n~1~2",
        ] {
            assert!(check_log_name(name).is_err(), "{name}");
        }
    }
}
