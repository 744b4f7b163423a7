//! A partition's owner: a lease held as a key of a replicated key-value bucket.
//!
//! The value names the holder and how long a write of it lasts; the lease expires that
//! long after the server stamped the write (the cluster's clock, not the holder's). Taking
//! or renewing it is a compare-and-swap on the key's revision, so of two contenders one
//! wins. The lease alone does not fence a former owner that has not noticed losing it:
//! the log's condition on the partition's last sequence does (see [`crate::ClusterLog::append`]).

use std::time::Duration;

use async_nats::jetstream::kv::{self, UpdateErrorKind};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{LastRawMessageErrorKind, StorageType};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::log::{retrying, Attempt};
use crate::{check_partition, ClusterError, ClusterLog};

/// Key of the bucket whose writes tell the cluster's current time.
const CLOCK_KEY: &str = "clock";

/// A lease as written in its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LeaseValue {
    holder: String,
    ttl_ms: u64,
}

/// A lease held: valid until `expires_at` (cluster time) unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// The key's revision this holder wrote; the next renewal swaps on it.
    pub revision: u64,
    pub ttl: Duration,
    /// When the server stamped this holder's last write, plus `ttl`.
    pub expires_at: OffsetDateTime,
}

/// The leases of a cluster's partitions.
#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
    retry_for: Duration,
}

/// What the key holds now, as the bucket's leader has it.
enum Current {
    Absent,
    /// Deleted (released) at this revision.
    Released(u64),
    Held {
        revision: u64,
        written: OffsetDateTime,
        value: LeaseValue,
    },
}

fn key_of(name: &str) -> Result<String, ClusterError> {
    check_partition(name)?;
    Ok(format!("lease.{name}"))
}

fn expires(written: OffsetDateTime, ttl_ms: u64) -> OffsetDateTime {
    written + Duration::from_millis(ttl_ms)
}

/// Opens (creating if missing) a key-value bucket of the cluster, replicated like the log.
pub(crate) async fn bucket(log: &ClusterLog, name: &str) -> Result<kv::Store, ClusterError> {
    bucket_keeping(log, name, Duration::ZERO).await
}

/// [`bucket`] whose values are dropped `max_age` after they were written (zero: kept).
pub(crate) async fn bucket_keeping(
    log: &ClusterLog,
    name: &str,
    max_age: Duration,
) -> Result<kv::Store, ClusterError> {
    let config = log.config().clone();
    let js = log.jetstream().clone();
    retrying(&format!("open bucket {name}"), config.retry_for, || {
        let js = js.clone();
        let kv_config = kv::Config {
            bucket: name.to_string(),
            history: 1,
            num_replicas: config.replicas,
            storage: StorageType::File,
            max_age,
            ..Default::default()
        };
        async move {
            match js.get_key_value(name).await {
                Ok(kv) => Ok(kv),
                Err(_) => js
                    .create_key_value(kv_config)
                    .await
                    .map_err(|e| Attempt::Retry(e.to_string())),
            }
        }
    })
    .await
}

/// The last message of `key`'s subject in `kv`, from the bucket's leader.
pub(crate) async fn last_of(kv: &kv::Store, key: &str) -> Result<Option<StreamMessage>, Attempt> {
    let subject = format!("{}{key}", kv.prefix);
    match kv.stream.get_last_raw_message_by_subject(&subject).await {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(Attempt::Retry(e.to_string())),
    }
}

/// The message holding `key`'s value in `kv`, unless the key is absent or removed: read
/// from the bucket's leader, retried through elections for up to `retry_for`.
pub(crate) async fn value_of(
    kv: &kv::Store,
    key: &str,
    what: &str,
    retry_for: Duration,
) -> Result<Option<StreamMessage>, ClusterError> {
    let found = retrying(what, retry_for, || last_of(kv, key)).await?;
    Ok(found.filter(|m| !is_removal(m)))
}

/// The keys of `kv` that hold a value.
pub(crate) async fn keys_of(
    kv: &kv::Store,
    retry_for: Duration,
) -> Result<Vec<String>, ClusterError> {
    use futures_util::TryStreamExt;
    retrying("list keys", retry_for, || async {
        let keys = kv.keys().await.map_err(|e| Attempt::Retry(e.to_string()))?;
        keys.try_collect::<Vec<String>>()
            .await
            .map_err(|e| Attempt::Retry(e.to_string()))
    })
    .await
}

/// Whether a key-value message is a delete or purge marker.
pub(crate) fn is_removal(m: &StreamMessage) -> bool {
    m.headers
        .get("KV-Operation")
        .is_some_and(|op| op.as_str() == "DEL" || op.as_str() == "PURGE")
}

impl Leases {
    /// The lease bucket of the cluster `log` is connected to (created if missing).
    pub async fn open(log: &ClusterLog) -> Result<Leases, ClusterError> {
        let kv = bucket(log, &log.config().lease_bucket).await?;
        Ok(Leases {
            kv,
            retry_for: log.config().retry_for,
        })
    }

    /// What `key` holds, read once from the bucket's leader.
    async fn read(&self, key: &str) -> Result<Current, Attempt> {
        let Some(m) = last_of(&self.kv, key).await? else {
            return Ok(Current::Absent);
        };
        if is_removal(&m) {
            return Ok(Current::Released(m.sequence));
        }
        let value: LeaseValue = serde_json::from_slice(&m.payload).map_err(|e| {
            Attempt::Fail(ClusterError::Corrupt {
                partition: key.to_string(),
                seq: m.sequence,
                reason: format!("lease value: {e}"),
            })
        })?;
        Ok(Current::Held {
            revision: m.sequence,
            written: m.time,
            value,
        })
    }

    /// What `key` holds, retried through elections.
    async fn current(&self, key: &str) -> Result<Current, ClusterError> {
        retrying(&format!("read {key}"), self.retry_for, || self.read(key)).await
    }

    /// The cluster's current time: the server's stamp on a write made now.
    pub async fn cluster_now(&self) -> Result<OffsetDateTime, ClusterError> {
        retrying("read the cluster's clock", self.retry_for, || async {
            let revision = self
                .kv
                .put(CLOCK_KEY, Bytes::new())
                .await
                .map_err(|e| Attempt::Retry(e.to_string()))?;
            self.stamp(revision).await
        })
        .await
    }

    /// When the server stamped revision `revision` of the bucket.
    async fn stamp(&self, revision: u64) -> Result<OffsetDateTime, Attempt> {
        self.kv
            .stream
            .get_raw_message(revision)
            .await
            .map(|m| m.time)
            .map_err(|e| Attempt::Retry(e.to_string()))
    }

    /// The holder the lease of `name` names, expired or not (`None` when it was never taken
    /// or was released): a change of it is a change of owner. Cheaper than [`Leases::holder`],
    /// which also reads the cluster's time.
    pub async fn recorded_holder(&self, name: &str) -> Result<Option<String>, ClusterError> {
        let key = key_of(name)?;
        Ok(match self.current(&key).await? {
            Current::Held { value, .. } => Some(value.holder),
            Current::Absent | Current::Released(_) => None,
        })
    }

    /// The holder of lease `name` and until when, if it is held and not expired.
    pub async fn holder(
        &self,
        name: &str,
    ) -> Result<Option<(String, OffsetDateTime)>, ClusterError> {
        let key = key_of(name)?;
        match self.current(&key).await? {
            Current::Held { written, value, .. } => {
                let until = expires(written, value.ttl_ms);
                if self.cluster_now().await? < until {
                    Ok(Some((value.holder, until)))
                } else {
                    Ok(None)
                }
            }
            _ => Ok(None),
        }
    }

    /// Takes lease `name` for `holder` for `ttl`: when it is free (never taken, released or
    /// expired by the cluster's clock) or already `holder`'s. Refused with
    /// [`ClusterError::LeaseHeld`] while another holder's lease runs. Retried through
    /// elections; a write whose answer was lost is recognised as this holder's.
    pub async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease, ClusterError> {
        let key = key_of(name)?;
        let value = LeaseValue {
            holder: holder.to_string(),
            ttl_ms: ttl.as_millis().max(1) as u64,
        };
        let bytes = Bytes::from(serde_json::to_vec(&value).expect("a lease value serializes"));
        retrying(&format!("acquire lease {name}"), self.retry_for, || {
            self.try_acquire(name, &key, &value, bytes.clone(), ttl)
        })
        .await
    }

    async fn try_acquire(
        &self,
        name: &str,
        key: &str,
        value: &LeaseValue,
        bytes: Bytes,
        ttl: Duration,
    ) -> Result<Lease, Attempt> {
        let swap_on = match self.read(key).await? {
            Current::Absent => None,
            Current::Released(revision) => Some(revision),
            Current::Held {
                revision,
                written,
                value: held,
            } => {
                let until = expires(written, held.ttl_ms);
                if held.holder != value.holder && self.cluster_now().await? < until {
                    return Err(Attempt::Fail(ClusterError::LeaseHeld {
                        name: name.to_string(),
                        holder: held.holder,
                        expires_at: until,
                    }));
                }
                Some(revision)
            }
        };
        // Err(None): another write came first; Err(Some(reason)): no answer.
        let written = match swap_on {
            None => self.kv.create(key, bytes).await.map_err(|e| {
                (e.kind() != kv::CreateErrorKind::AlreadyExists).then(|| e.to_string())
            }),
            Some(revision) => self.kv.update(key, bytes, revision).await.map_err(|e| {
                (e.kind() != UpdateErrorKind::WrongLastRevision).then(|| e.to_string())
            }),
        };
        let failed = match written {
            Ok(revision) => return self.lease_at(name, &value.holder, ttl, revision).await,
            Err(failed) => failed,
        };
        // See who holds it now: this holder's own write whose answer was lost, or another's.
        match self.read(key).await? {
            Current::Held {
                revision,
                written,
                value: held,
            } => {
                if held == *value && Some(revision) != swap_on {
                    return self.lease_at(name, &value.holder, ttl, revision).await;
                }
                match failed {
                    Some(reason) => Err(Attempt::Retry(reason)),
                    None => Err(Attempt::Fail(ClusterError::LeaseHeld {
                        name: name.to_string(),
                        holder: held.holder,
                        expires_at: expires(written, held.ttl_ms),
                    })),
                }
            }
            _ => Err(Attempt::Retry(failed.unwrap_or_else(|| {
                "the lease changed while it was taken".to_string()
            }))),
        }
    }

    /// The lease `holder` holds at `revision`, expiring `ttl` after the server's stamp on it.
    async fn lease_at(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        revision: u64,
    ) -> Result<Lease, Attempt> {
        let written = self.stamp(revision).await?;
        Ok(Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            revision,
            ttl,
            expires_at: written + ttl,
        })
    }

    /// Extends `lease` by its ttl from now (cluster time). Fails with
    /// [`ClusterError::LeaseLost`] when someone else took it (or it was released) since.
    pub async fn renew(&self, lease: &mut Lease) -> Result<(), ClusterError> {
        let key = key_of(&lease.name)?;
        let value = LeaseValue {
            holder: lease.holder.clone(),
            ttl_ms: lease.ttl.as_millis().max(1) as u64,
        };
        let bytes = Bytes::from(serde_json::to_vec(&value).expect("a lease value serializes"));
        let current: &Lease = lease;
        let renewed = retrying(
            &format!("renew lease {}", lease.name),
            self.retry_for,
            || self.try_renew(current, &key, &value, bytes.clone()),
        )
        .await?;
        *lease = renewed;
        Ok(())
    }

    async fn try_renew(
        &self,
        lease: &Lease,
        key: &str,
        value: &LeaseValue,
        bytes: Bytes,
    ) -> Result<Lease, Attempt> {
        let failed = match self.kv.update(key, bytes, lease.revision).await {
            Ok(revision) => {
                return self
                    .lease_at(&lease.name, &lease.holder, lease.ttl, revision)
                    .await
            }
            Err(e) => (e.kind() != UpdateErrorKind::WrongLastRevision).then(|| e.to_string()),
        };
        match self.read(key).await? {
            // This renewal, its answer lost.
            Current::Held {
                revision,
                value: held,
                ..
            } if held == *value && revision > lease.revision => {
                self.lease_at(&lease.name, &lease.holder, lease.ttl, revision)
                    .await
            }
            // Not written, nothing else either: try again.
            Current::Held { revision, .. } if revision == lease.revision && failed.is_some() => {
                Err(Attempt::Retry(failed.unwrap_or_default()))
            }
            _ => Err(Attempt::Fail(ClusterError::LeaseLost {
                name: lease.name.clone(),
                holder: lease.holder.clone(),
            })),
        }
    }

    /// The names of the leases ever taken (held, expired or released).
    pub async fn names(&self) -> Result<Vec<String>, ClusterError> {
        let keys = keys_of(&self.kv, self.retry_for).await?;
        let mut names: Vec<String> = keys
            .into_iter()
            .filter_map(|k| k.strip_prefix("lease.").map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Gives `lease` up, so another may take it at once. Fails with
    /// [`ClusterError::LeaseLost`] when it was no longer this holder's.
    pub async fn release(&self, lease: Lease) -> Result<(), ClusterError> {
        let key = key_of(&lease.name)?;
        retrying(
            &format!("release lease {}", lease.name),
            self.retry_for,
            || self.try_release(&lease, &key),
        )
        .await
    }

    async fn try_release(&self, lease: &Lease, key: &str) -> Result<(), Attempt> {
        let failed = match self
            .kv
            .delete_expect_revision(key, Some(lease.revision))
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => e.to_string(),
        };
        match self.read(key).await? {
            Current::Released(_) | Current::Absent => Ok(()),
            Current::Held { revision, .. } if revision == lease.revision => {
                Err(Attempt::Retry(failed))
            }
            Current::Held { .. } => Err(Attempt::Fail(ClusterError::LeaseLost {
                name: lease.name.clone(),
                holder: lease.holder.clone(),
            })),
        }
    }
}
