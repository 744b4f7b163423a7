//! The figures partitions publish for headquarters, kept in the cluster: after each nightly
//! run a partition's owner publishes its figures for the periods the run falls in, and
//! headquarters reads every partition's figures of a period from here.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::lease::{bucket, keys_of, value_of};
use crate::log::{retrying, Attempt};
use crate::{check_partition, ClusterError, ClusterLog};

/// The published figures, a key per partition and period (`figures.<partition>.<period>`)
/// in a replicated key-value bucket; each publication replaces the one before.
#[derive(Clone)]
pub struct FiguresBoard {
    kv: kv::Store,
    retry_for: Duration,
}

/// The key of `partition`'s figures of `period` (as written: `2026-05`, `FY2026-27`,
/// `FY2026-27-Q1`).
fn key_of(partition: &str, period: &str) -> Result<String, ClusterError> {
    check_partition(partition)?;
    if period.is_empty()
        || period.len() > 32
        || !period
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ClusterError::InvalidName {
            what: "period",
            name: period.to_string(),
            why: "a month, quarter or financial year as written, e.g. 2026-05",
        });
    }
    Ok(format!("figures.{partition}.{period}"))
}

impl FiguresBoard {
    /// The board of the cluster `log` is connected to (its bucket created if missing).
    pub async fn open(log: &ClusterLog) -> Result<FiguresBoard, ClusterError> {
        let kv = bucket(log, &log.config().figures_bucket).await?;
        Ok(FiguresBoard {
            kv,
            retry_for: log.config().retry_for,
        })
    }

    /// Publishes `partition`'s figures of `period` (the document is the caller's).
    pub async fn publish(
        &self,
        partition: &str,
        period: &str,
        document: Vec<u8>,
    ) -> Result<(), ClusterError> {
        let key = key_of(partition, period)?;
        let document = Bytes::from(document);
        retrying(
            &format!("publish the figures of partition {partition} for {period}"),
            self.retry_for,
            || async {
                self.kv
                    .put(&key, document.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| Attempt::Retry(e.to_string()))
            },
        )
        .await
    }

    /// Every period `partition` has published figures for, as written.
    pub async fn published(&self, partition: &str) -> Result<Vec<String>, ClusterError> {
        check_partition(partition)?;
        let prefix = format!("figures.{partition}.");
        let mut periods: Vec<String> = keys_of(&self.kv, self.retry_for)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        periods.sort();
        Ok(periods)
    }

    /// The figures `partition` last published for `period`, if any.
    pub async fn read(
        &self,
        partition: &str,
        period: &str,
    ) -> Result<Option<Vec<u8>>, ClusterError> {
        let key = key_of(partition, period)?;
        let what = format!("read the figures of partition {partition} for {period}");
        let found = value_of(&self.kv, &key, &what, self.retry_for).await?;
        Ok(found.map(|m| m.payload.to_vec()))
    }
}
