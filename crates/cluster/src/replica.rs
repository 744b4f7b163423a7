//! A partition's local store, fed from the replicated log exactly once.

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use vasooli_store::{CommitReceipt, NewCommit, Store, StoreError};

use crate::envelope::{self, CommitId};
use crate::{check_partition, ClusterError, ClusterLog};

/// A commit appended by [`Replica::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence in the log.
    pub seq: u64,
    /// What the local store made of it.
    pub receipt: CommitReceipt,
}

/// What [`Replica::catch_up`] applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Log entries applied (refused ones included).
    pub commits: u64,
    /// Events appended to the local store.
    pub appended: u64,
    /// Events skipped because the store's natural-key index already held them.
    pub duplicates: u64,
    /// Entries the store refused (a key conflict, a stream version not as expected);
    /// every replica refuses them alike, and their sequences count as covered.
    pub refused: u64,
    /// The sequence covered afterwards.
    pub covered: u64,
}

/// One partition's replica: its log subject applied to a local store, each entry once.
///
/// The store records the sequence each commit covers in the same batch as the commit, so
/// after a crash it restarts exactly where it stopped. The partition's owner appends
/// through [`Replica::append`] (conditional on what it has applied being the partition's
/// last entry); a standby calls [`Replica::catch_up`].
pub struct Replica {
    log: ClusterLog,
    partition: String,
    store: Store,
    /// Serializes applying (appends and catch-ups of this replica).
    apply: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("partition", &self.partition)
            .field("store", &self.store.dir())
            .finish()
    }
}

/// Whether the store refuses `e` for the commit itself, so that every replica refuses it
/// the same way (as opposed to a failure of the disk, after which applying is retried).
fn refused_by_store(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::KeyConflict { .. }
            | StoreError::WrongExpectedVersion { .. }
            | StoreError::LimitExceeded { .. }
    )
}

impl Replica {
    /// The replica of `partition` in store directory `dir` (created if missing).
    pub fn open(log: ClusterLog, partition: &str, dir: &Path) -> Result<Replica, ClusterError> {
        check_partition(partition)?;
        let store = Store::open(dir)?;
        Ok(Replica::with_store(log, partition, store))
    }

    /// The replica of `partition` in an open store.
    pub fn with_store(log: ClusterLog, partition: &str, store: Store) -> Replica {
        Replica {
            log,
            partition: partition.to_string(),
            store,
            apply: tokio::sync::Mutex::new(()),
        }
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn log(&self) -> &ClusterLog {
        &self.log
    }

    /// The last log sequence applied to the local store.
    pub fn covered(&self) -> Result<u64, ClusterError> {
        Ok(self.store.covered_sequence()?)
    }

    /// Appends `commit` to the partition's log under a new commit id, then applies it
    /// locally. See [`Replica::append_as`].
    pub async fn append(&self, commit: NewCommit) -> Result<Appended, ClusterError> {
        self.append_as(&envelope::new_commit_id(), commit).await
    }

    /// Appends `commit` as commit `id`, on condition that the last entry of the partition
    /// is the last this replica applied; once the log acknowledged it, applies it to the
    /// local store with its sequence. A replica behind the log (another owner appended)
    /// gets [`ClusterError::StaleWriter`] and applies nothing.
    pub async fn append_as(
        &self,
        id: &CommitId,
        commit: NewCommit,
    ) -> Result<Appended, ClusterError> {
        let _applying = self.apply.lock().await;
        let entry = envelope::encode(id, &commit).map_err(|e| ClusterError::Refused {
            what: format!("append to partition {}", self.partition),
            reason: e.to_string(),
        })?;
        let covered = self.covered()?;
        let seq = self
            .log
            .append(&self.partition, id, Bytes::from(entry), covered)
            .await?;
        if seq <= covered {
            // The log answered with an entry this replica already applied: the same
            // commit id within the duplicate window.
            return Err(ClusterError::Refused {
                what: format!("append to partition {}", self.partition),
                reason: format!("commit id already stored at sequence {seq}"),
            });
        }
        let receipt = self.apply_one(seq, commit).await?;
        Ok(Appended { seq, receipt })
    }

    /// Applies every entry of the partition after the one last applied, up to the
    /// partition's last entry when it starts.
    pub async fn catch_up(&self) -> Result<CatchUp, ClusterError> {
        let _applying = self.apply.lock().await;
        let mut covered = self.covered()?;
        let mut done = CatchUp {
            covered,
            ..CatchUp::default()
        };
        let entries = self.log.read_from(&self.partition, covered + 1);
        futures_util::pin_mut!(entries);
        while let Some(entry) = entries.next().await {
            let (seq, bytes) = entry?;
            if seq <= covered {
                continue;
            }
            let (_, commit) = envelope::decode(&bytes).map_err(|e| ClusterError::Corrupt {
                partition: self.partition.clone(),
                seq,
                reason: e.to_string(),
            })?;
            done.commits += 1;
            match self.apply_one(seq, commit).await {
                Ok(receipt) => {
                    done.appended += receipt.appended as u64;
                    done.duplicates += receipt.duplicates as u64;
                }
                Err(ClusterError::CommitRefused { .. }) => done.refused += 1,
                Err(e) => return Err(e),
            }
            covered = seq;
            done.covered = seq;
        }
        Ok(done)
    }

    /// Applies `commit` as log entry `seq`. A commit the store refuses is recorded as
    /// covered by an empty commit and reported as [`ClusterError::CommitRefused`].
    async fn apply_one(&self, seq: u64, commit: NewCommit) -> Result<CommitReceipt, ClusterError> {
        let store = self.store.clone();
        let outcome = blocking(move || store.append(commit.covering(seq))).await?;
        match outcome {
            Ok(receipt) => Ok(receipt),
            Err(e) if refused_by_store(&e) => {
                let store = self.store.clone();
                blocking(move || store.append(NewCommit::new(Vec::new()).covering(seq))).await??;
                Err(ClusterError::CommitRefused {
                    partition: self.partition.clone(),
                    seq,
                    source: e,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ClusterError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClusterError::Store(StoreError::Io(std::io::Error::other(e.to_string()))))
}
