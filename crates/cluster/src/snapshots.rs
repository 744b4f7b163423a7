//! Snapshots of a partition in the cluster's object store, so that a standby on a machine
//! with an empty directory starts from the latest snapshot and replays only the partition's
//! log after it, not the whole subject.
//!
//! A snapshot is one object per partition (named after it, each upload replacing the one
//! before) holding the partition's events as `vasooli export` writes them, with two numbers
//! in its metadata: the log sequence the events reflect (`covered`) and how many events
//! there are (`position`). What the file holds is the caller's.

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::object_store::{self, ObjectMetadata, ObjectStore};
use async_nats::jetstream::stream::StorageType;

use crate::log::{retrying, Attempt};
use crate::{check_partition, ClusterError, ClusterLog};

/// What a snapshot reflects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The last sequence of the partition's log its events include.
    pub covered: u64,
    /// How many events it holds (the store's last position at the time).
    pub position: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// The generation of the partition's log it was taken from (0 when its metadata does not
    /// say: taken before any move of a division); a snapshot of another generation than the
    /// partition's is not loaded.
    pub generation: u64,
}

/// The cluster's snapshots, one object per partition.
#[derive(Clone)]
pub struct Snapshots {
    store: ObjectStore,
    retry_for: Duration,
}

fn number(info: &object_store::ObjectInfo, key: &str) -> Option<u64> {
    info.metadata.get(key).and_then(|v| v.parse().ok())
}

fn info_of(info: &object_store::ObjectInfo) -> Option<SnapshotInfo> {
    Some(SnapshotInfo {
        covered: number(info, "covered")?,
        position: number(info, "position")?,
        bytes: info.size as u64,
        generation: number(info, "generation").unwrap_or(0),
    })
}

impl Snapshots {
    /// The snapshot bucket of the cluster `log` is connected to (created if missing).
    pub async fn open(log: &ClusterLog) -> Result<Snapshots, ClusterError> {
        let config = log.config().clone();
        let js = log.jetstream().clone();
        let store = retrying("open the snapshot bucket", config.retry_for, || {
            let js = js.clone();
            let bucket = config.snapshot_bucket.clone();
            let replicas = config.replicas;
            async move {
                match js.get_object_store(&bucket).await {
                    Ok(store) => Ok(store),
                    Err(_) => js
                        .create_object_store(object_store::Config {
                            bucket,
                            num_replicas: replicas,
                            storage: StorageType::File,
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| Attempt::Retry(e.to_string())),
                }
            }
        })
        .await?;
        Ok(Snapshots {
            store,
            retry_for: config.retry_for,
        })
    }

    /// Uploads `file` as `partition`'s snapshot, reflecting sequence `covered` of its log of
    /// `generation` and holding `position` events; it replaces the one before once stored whole.
    pub async fn upload(
        &self,
        partition: &str,
        generation: u64,
        covered: u64,
        position: u64,
        file: &Path,
    ) -> Result<SnapshotInfo, ClusterError> {
        check_partition(partition)?;
        let what = format!("upload the snapshot of partition {partition}");
        let info = retrying(&what, self.retry_for, || async {
            let mut reader = tokio::fs::File::open(file).await.map_err(|e| {
                Attempt::Fail(ClusterError::Refused {
                    what: what.clone(),
                    reason: format!("{}: {e}", file.display()),
                })
            })?;
            let meta = ObjectMetadata {
                name: partition.to_string(),
                description: Some(format!(
                    "partition {partition}: {position} events, log sequence {covered}"
                )),
                metadata: [
                    ("covered".to_string(), covered.to_string()),
                    ("position".to_string(), position.to_string()),
                    ("generation".to_string(), generation.to_string()),
                ]
                .into(),
                ..Default::default()
            };
            self.store
                .put(meta, &mut reader)
                .await
                .map_err(|e| Attempt::Retry(e.to_string()))
        })
        .await?;
        info_of(&info).ok_or_else(|| ClusterError::Refused {
            what,
            reason: "the stored snapshot lost its metadata".to_string(),
        })
    }

    /// What `partition`'s latest snapshot reflects, if it has one.
    pub async fn latest(&self, partition: &str) -> Result<Option<SnapshotInfo>, ClusterError> {
        check_partition(partition)?;
        retrying(
            &format!("look up the snapshot of partition {partition}"),
            self.retry_for,
            || async {
                match self.store.info(partition).await {
                    Ok(info) if info.deleted => Ok(None),
                    Ok(info) => Ok(info_of(&info)),
                    Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Attempt::Retry(e.to_string())),
                }
            },
        )
        .await
    }

    /// Downloads `partition`'s latest snapshot into `to` (created or replaced): what it
    /// reflects, or `None` when the partition has none.
    pub async fn download(
        &self,
        partition: &str,
        to: &Path,
    ) -> Result<Option<SnapshotInfo>, ClusterError> {
        check_partition(partition)?;
        let what = format!("download the snapshot of partition {partition}");
        retrying(&what, self.retry_for, || async {
            let mut object = match self.store.get(partition).await {
                Ok(object) => object,
                Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Attempt::Retry(e.to_string())),
            };
            let Some(info) = info_of(&object.info) else {
                return Ok(None);
            };
            let mut file = tokio::fs::File::create(to).await.map_err(|e| {
                Attempt::Fail(ClusterError::Refused {
                    what: what.clone(),
                    reason: format!("{}: {e}", to.display()),
                })
            })?;
            // The object's digest is checked as it is read: a damaged copy fails here.
            tokio::io::copy(&mut object, &mut file)
                .await
                .map_err(|e| Attempt::Retry(e.to_string()))?;
            file.sync_all()
                .await
                .map_err(|e| Attempt::Retry(e.to_string()))?;
            Ok(Some(info))
        })
        .await
    }
}
