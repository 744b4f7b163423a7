//! How far each process holding a partition's replica has read the log: every owner and
//! standby reports its progress every second or so, and `vasooli cluster status` lists it. A
//! report not renewed for [`PROGRESS_KEPT`] is dropped, so a process that died leaves the
//! list.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::lease::{bucket_keeping, keys_of, value_of};
use crate::{check_partition, ClusterError, ClusterLog};

/// How long a report is kept unless renewed.
pub const PROGRESS_KEPT: Duration = Duration::from_secs(30);

/// One process's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaProgress {
    pub partition: String,
    /// The process, as it names itself when it asks for the lease.
    pub holder: String,
    /// `owner` or `standby`.
    pub role: String,
    /// The last sequence of the partition's log applied to its directory.
    pub covered: u64,
    /// Its data directory.
    pub directory: String,
}

/// The reports, a key per process (`replica.<partition>.<holder>`).
#[derive(Clone)]
pub struct ProgressBoard {
    kv: kv::Store,
    retry_for: Duration,
}

impl ProgressBoard {
    /// The board of the cluster `log` is connected to (its bucket created if missing).
    pub async fn open(log: &ClusterLog) -> Result<ProgressBoard, ClusterError> {
        let kv = bucket_keeping(log, &log.config().progress_bucket, PROGRESS_KEPT).await?;
        Ok(ProgressBoard {
            kv,
            retry_for: log.config().retry_for,
        })
    }

    fn key_of(partition: &str, holder: &str) -> Result<String, ClusterError> {
        check_partition(partition)?;
        crate::check_name("holder", holder)?;
        Ok(format!("replica.{partition}.{holder}"))
    }

    /// Reports `progress` (tried once: the next report follows soon).
    pub async fn report(&self, progress: &ReplicaProgress) -> Result<(), ClusterError> {
        let key = Self::key_of(&progress.partition, &progress.holder)?;
        let value = serde_json::to_vec(progress).map_err(|e| ClusterError::Refused {
            what: "a progress report".to_string(),
            reason: e.to_string(),
        })?;
        self.kv
            .put(&key, Bytes::from(value))
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Unavailable {
                what: "reporting progress".to_string(),
                waited: Duration::ZERO,
                reason: e.to_string(),
            })
    }

    /// Withdraws a process's report (it stops holding the replica).
    pub async fn withdraw(&self, partition: &str, holder: &str) -> Result<(), ClusterError> {
        let key = Self::key_of(partition, holder)?;
        self.kv
            .delete(&key)
            .await
            .map_err(|e| ClusterError::Unavailable {
                what: "withdrawing a progress report".to_string(),
                waited: Duration::ZERO,
                reason: e.to_string(),
            })
    }

    /// Every report kept, by partition and holder.
    pub async fn list(&self) -> Result<Vec<ReplicaProgress>, ClusterError> {
        let mut out = Vec::new();
        for key in keys_of(&self.kv, self.retry_for).await? {
            let found = value_of(&self.kv, &key, "read a progress report", self.retry_for);
            let Some(m) = found.await? else {
                continue;
            };
            match serde_json::from_slice::<ReplicaProgress>(&m.payload) {
                Ok(progress) => out.push(progress),
                Err(e) => tracing::warn!("progress report {key} does not read: {e}"),
            }
        }
        out.sort_by(|a, b| (&a.partition, &a.holder).cmp(&(&b.partition, &b.holder)));
        Ok(out)
    }
}
