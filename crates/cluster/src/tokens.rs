//! A partition's API tokens, kept in the cluster so that they work on whichever process owns
//! the partition. The owner copies its table of tokens (hashes and holders, never a token
//! itself) here every second; a standby copies it back into its own table, revocations
//! included, so that after a failover the same tokens work and revoked ones stay revoked.
//! The values are the caller's.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::lease::{bucket, keys_of, value_of};
use crate::{check_partition, ClusterError, ClusterLog};

/// The tokens of every partition: key `tok.<partition>.<hash in hex>`, and
/// `init.<partition>` once the partition's first owner copied its table.
#[derive(Clone)]
pub struct TokenBoard {
    kv: kv::Store,
    retry_for: Duration,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable {
        what: what.to_string(),
        waited: Duration::ZERO,
        reason: e.to_string(),
    }
}

impl TokenBoard {
    /// The board of the cluster `log` is connected to (its bucket created if missing).
    pub async fn open(log: &ClusterLog) -> Result<TokenBoard, ClusterError> {
        let kv = bucket(log, &log.config().token_bucket).await?;
        Ok(TokenBoard {
            kv,
            retry_for: log.config().retry_for,
        })
    }

    /// Whether `partition`'s tokens are kept here yet (its first owner copied them).
    pub async fn kept(&self, partition: &str) -> Result<bool, ClusterError> {
        check_partition(partition)?;
        let key = format!("init.{partition}");
        let found = value_of(&self.kv, &key, "read the tokens' mark", self.retry_for).await?;
        Ok(found.is_some())
    }

    /// `partition`'s tokens: hash (hex) -> value.
    pub async fn tokens(&self, partition: &str) -> Result<BTreeMap<String, Vec<u8>>, ClusterError> {
        check_partition(partition)?;
        let prefix = format!("tok.{partition}.");
        let mut out = BTreeMap::new();
        for key in keys_of(&self.kv, self.retry_for).await? {
            let Some(hash) = key.strip_prefix(&prefix) else {
                continue;
            };
            let found = value_of(&self.kv, &key, "read a token", self.retry_for).await?;
            if let Some(m) = found {
                out.insert(hash.to_string(), m.payload.to_vec());
            }
        }
        Ok(out)
    }

    /// The value kept for the token hashed to `hash` (hex) in `partition`, if it is kept.
    pub async fn token(
        &self,
        partition: &str,
        hash: &str,
    ) -> Result<Option<Vec<u8>>, ClusterError> {
        check_partition(partition)?;
        let key = format!("tok.{partition}.{hash}");
        let found = value_of(&self.kv, &key, "read a token", self.retry_for).await?;
        Ok(found.map(|m| m.payload.to_vec()))
    }

    /// Makes `partition`'s tokens here equal `local` (hash in hex -> value), and marks them
    /// kept.
    pub async fn copy_from(
        &self,
        partition: &str,
        local: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), ClusterError> {
        let kept = self.tokens(partition).await?;
        for (hash, value) in local {
            if kept.get(hash) != Some(value) {
                self.kv
                    .put(
                        format!("tok.{partition}.{hash}"),
                        Bytes::from(value.clone()),
                    )
                    .await
                    .map_err(|e| unavailable("copying a token", e))?;
            }
        }
        for hash in kept.keys().filter(|h| !local.contains_key(*h)) {
            self.kv
                .delete(format!("tok.{partition}.{hash}"))
                .await
                .map_err(|e| unavailable("removing a revoked token", e))?;
        }
        self.kv
            .put(format!("init.{partition}"), Bytes::from_static(b"1"))
            .await
            .map_err(|e| unavailable("marking the tokens kept", e))?;
        Ok(())
    }
}
