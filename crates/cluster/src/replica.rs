//! A partition's local store, fed from the replicated log exactly once.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use futures_util::StreamExt;
use vasooli_store::{AppendThrough, CommitReceipt, NewCommit, Store, StoreError};

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
    /// The partition's log this replica reads and appends to: its generation's
    /// ([`crate::log_name`]).
    log_name: String,
    generation: u64,
    store: Store,
    /// Serializes applying (appends and catch-ups of this replica).
    apply: tokio::sync::Mutex<()>,
    /// Why this replica may append no more (another owner appended, the lease was lost),
    /// once that happened.
    stopped: Mutex<Option<String>>,
    /// Told when `stopped` is set.
    stop_tx: tokio::sync::watch::Sender<bool>,
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
            log_name: partition.to_string(),
            generation: 0,
            store,
            apply: tokio::sync::Mutex::new(()),
            stopped: Mutex::new(None),
            stop_tx: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// This replica, on the partition's log of `generation` (0, the first, unless a move of
    /// a division rebuilt the partition's log).
    pub fn with_generation(mut self, generation: u64) -> Replica {
        self.log_name = crate::log_name(&self.partition, generation);
        self.generation = generation;
        self
    }

    /// The generation of the partition's log this replica follows.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The name of the partition's log this replica follows ([`crate::log_name`]).
    pub fn log_name(&self) -> &str {
        &self.log_name
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

    /// The sequence this replica covers and its store's last position, read together: while
    /// no commit is being applied, so that the position is the one the sequence left (a
    /// snapshot's events and sequence).
    pub async fn covered_with_position(&self) -> Result<(u64, u64), ClusterError> {
        let _applying = self.apply.lock().await;
        Ok((self.covered()?, self.store.last_position()))
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
        if let Some(reason) = self.stopped() {
            return Err(ClusterError::Refused {
                what: format!("append to partition {}", self.partition),
                reason,
            });
        }
        let entry = envelope::encode(id, &commit).map_err(|e| ClusterError::Refused {
            what: format!("append to partition {}", self.partition),
            reason: e.to_string(),
        })?;
        let covered = self.covered()?;
        let seq = match self
            .log
            .append(&self.log_name, id, Bytes::from(entry), covered)
            .await
        {
            Ok(seq) => seq,
            Err(e @ ClusterError::StaleWriter { .. }) => {
                self.stop(e.to_string());
                return Err(e);
            }
            Err(e) => return Err(e),
        };
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
        let entries = self.log.read_from(&self.log_name, covered + 1);
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

    /// Makes this replica the partition's writer once its owner took the lease: catches up
    /// to the partition's last entry, then appends a fencing entry (an empty commit)
    /// conditional on that entry. From then on a former owner's append, conditional on an
    /// older last sequence, is refused ([`ClusterError::StaleWriter`]). Returns the fencing
    /// entry's sequence. Tried again (a few times) when another writer appended between
    /// the catch-up and the fencing entry.
    pub async fn fence(&self) -> Result<u64, ClusterError> {
        let mut tries = 0;
        loop {
            self.catch_up().await?;
            match self.append(NewCommit::new(Vec::new())).await {
                Ok(appended) => return Ok(appended.seq),
                Err(ClusterError::StaleWriter { .. }) if tries < 10 => {
                    self.resume();
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Stops this replica's appends for `reason` (a lost lease, a refused append): every
    /// later [`Replica::append`], and every store append handed to it, is refused.
    pub fn stop(&self, reason: String) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        if stopped.is_none() {
            *stopped = Some(reason);
            self.stop_tx.send_replace(true);
        }
    }

    /// Why this replica stopped appending, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until this replica stops appending; returns why.
    pub async fn wait_stopped(&self) -> String {
        let mut rx = self.stop_tx.subscribe();
        loop {
            if let Some(reason) = self.stopped() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "the replica closed".to_string();
            }
        }
    }

    fn resume(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.stop_tx.send_replace(false);
    }

    /// Hands the local store's appends ([`Store::append`], [`Store::submit`]) to this
    /// replica: each is appended to the partition's log (conditional on what this replica
    /// applied), then applied locally. An engine on the store keeps calling the store and
    /// writes through the log without knowing it. The appends run on `runtime`; the
    /// thread that appends waits for them, so it must not be one of the runtime's async
    /// workers (engine writes run on blocking threads).
    pub fn route_store_appends(self: &Arc<Replica>, runtime: tokio::runtime::Handle) {
        let through = Arc::new(ThroughLog {
            replica: Arc::downgrade(self),
            partition: self.partition.clone(),
            runtime,
        });
        self.store.append_through(through);
    }

    /// Applies `commit` as log entry `seq`. A commit the store refuses is recorded as
    /// covered by an empty commit and reported as [`ClusterError::CommitRefused`].
    async fn apply_one(&self, seq: u64, commit: NewCommit) -> Result<CommitReceipt, ClusterError> {
        let store = self.store.clone();
        let outcome = blocking(move || store.append_local(commit.covering(seq))).await?;
        match outcome {
            Ok(receipt) => Ok(receipt),
            Err(e) if refused_by_store(&e) => {
                let store = self.store.clone();
                blocking(move || store.append_local(NewCommit::new(Vec::new()).covering(seq)))
                    .await??;
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

/// The store hook of [`Replica::route_store_appends`].
struct ThroughLog {
    /// Weak: the replica holds the store, which holds this.
    replica: Weak<Replica>,
    partition: String,
    runtime: tokio::runtime::Handle,
}

impl AppendThrough for ThroughLog {
    fn append(&self, commit: NewCommit) -> Result<CommitReceipt, StoreError> {
        let replication = |cause: String, stale: bool| StoreError::Replication {
            partition: self.partition.clone(),
            cause,
            stale,
        };
        let Some(replica) = self.replica.upgrade() else {
            return Err(StoreError::Closed);
        };
        if let Some(reason) = replica.stopped() {
            return Err(replication(reason, true));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(replica.append(commit).await);
        });
        match rx.recv() {
            Ok(Ok(appended)) => Ok(appended.receipt),
            // The log took it and every replica refuses it alike: the store's own answer.
            Ok(Err(ClusterError::CommitRefused { source, .. })) => Err(source),
            Ok(Err(ClusterError::Store(e))) => Err(e),
            Ok(Err(e @ ClusterError::StaleWriter { .. })) => Err(replication(e.to_string(), true)),
            Ok(Err(e)) => Err(replication(e.to_string(), false)),
            Err(_) => Err(replication("the runtime stopped".to_string(), false)),
        }
    }
}
