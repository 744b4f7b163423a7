//! Which partition each division belongs to, kept in the cluster.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::lease::{bucket, is_removal, keys_of, last_of};
use crate::log::{retrying, Attempt};
use crate::{check_partition, ClusterError, ClusterLog};

/// The division -> partition map, a key per division in a replicated key-value bucket.
#[derive(Clone)]
pub struct PartitionMap {
    kv: kv::Store,
    retry_for: Duration,
}

/// The key of `division`: its code must be 1 to 64 ASCII letters, digits, `-` or `_`.
fn key_of(division: &str) -> Result<String, ClusterError> {
    if crate::valid_partition_name(division) {
        Ok(format!("division.{division}"))
    } else {
        Err(ClusterError::InvalidName {
            what: "division",
            name: division.to_string(),
            why: "use 1 to 64 ASCII letters, digits, '-' or '_'",
        })
    }
}

impl PartitionMap {
    /// The map of the cluster `log` is connected to (its bucket created if missing).
    pub async fn open(log: &ClusterLog) -> Result<PartitionMap, ClusterError> {
        let kv = bucket(log, &log.config().partition_bucket).await?;
        Ok(PartitionMap {
            kv,
            retry_for: log.config().retry_for,
        })
    }

    /// Records that `division` belongs to `partition` (replacing what it belonged to).
    pub async fn assign(&self, division: &str, partition: &str) -> Result<(), ClusterError> {
        let key = key_of(division)?;
        check_partition(partition)?;
        retrying(
            &format!("assign division {division}"),
            self.retry_for,
            || async {
                self.kv
                    .put(&key, Bytes::copy_from_slice(partition.as_bytes()))
                    .await
                    .map(|_| ())
                    .map_err(|e| Attempt::Retry(e.to_string()))
            },
        )
        .await
    }

    /// The partition `division` belongs to, if it was assigned one.
    pub async fn partition_of(&self, division: &str) -> Result<Option<String>, ClusterError> {
        let key = key_of(division)?;
        let found = retrying(
            &format!("look up division {division}"),
            self.retry_for,
            || last_of(&self.kv, &key),
        )
        .await?;
        match found {
            Some(m) if !is_removal(&m) => {
                String::from_utf8(m.payload.to_vec())
                    .map(Some)
                    .map_err(|_| ClusterError::Corrupt {
                        partition: key.clone(),
                        seq: m.sequence,
                        reason: "the partition name is not UTF-8".to_string(),
                    })
            }
            _ => Ok(None),
        }
    }

    /// Every division assigned, with its partition, by division code.
    pub async fn assignments(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let mut out = Vec::new();
        for key in keys_of(&self.kv, self.retry_for).await? {
            let Some(division) = key.strip_prefix("division.") else {
                continue;
            };
            if let Some(partition) = self.partition_of(division).await? {
                out.push((division.to_string(), partition));
            }
        }
        out.sort();
        Ok(out)
    }
}
