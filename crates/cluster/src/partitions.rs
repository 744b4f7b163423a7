//! Which partition each division belongs to, kept in the cluster, and the nightly runs
//! partitions' owners have started and not yet finished.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;

use crate::lease::{bucket, is_removal, keys_of, last_of, value_of};
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

/// The key of `partition`'s log generation.
fn generation_key(partition: &str) -> Result<String, ClusterError> {
    check_partition(partition)?;
    Ok(format!("generation.{partition}"))
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
        self.put(
            key,
            Some(partition.to_string()),
            &format!("assign division {division}"),
        )
        .await
    }

    /// The partition `division` belongs to, if it was assigned one.
    pub async fn partition_of(&self, division: &str) -> Result<Option<String>, ClusterError> {
        let key = key_of(division)?;
        let what = format!("look up division {division}");
        match value_of(&self.kv, &key, &what, self.retry_for).await? {
            Some(m) => String::from_utf8(m.payload.to_vec())
                .map(Some)
                .map_err(|_| ClusterError::Corrupt {
                    partition: key.clone(),
                    seq: m.sequence,
                    reason: "the partition name is not UTF-8".to_string(),
                }),
            _ => Ok(None),
        }
    }

    /// Records that `partition`'s owner started the nightly run of `as_of` (a date as
    /// `YYYY-MM-DD`), or, with `None`, that the run it started has ended. A run that is
    /// still marked when a new owner takes the partition over was left unfinished.
    pub async fn mark_nightly(
        &self,
        partition: &str,
        as_of: Option<&str>,
    ) -> Result<(), ClusterError> {
        check_partition(partition)?;
        self.put(
            format!("nightly.{partition}"),
            as_of.map(str::to_string),
            &format!("mark the nightly run of partition {partition}"),
        )
        .await
    }

    /// The date of the nightly run `partition`'s owner started and did not finish, if any.
    pub async fn unfinished_nightly(
        &self,
        partition: &str,
    ) -> Result<Option<String>, ClusterError> {
        check_partition(partition)?;
        let key = format!("nightly.{partition}");
        let what = format!("read the nightly mark of partition {partition}");
        let found = value_of(&self.kv, &key, &what, self.retry_for).await?;
        Ok(found.map(|m| String::from_utf8_lossy(&m.payload).into_owned()))
    }

    /// The generation of `partition`'s log (0 until a move of a division rebuilt it): its
    /// owner and standbys follow the log [`crate::log_name`] names for it.
    pub async fn generation(&self, partition: &str) -> Result<u64, ClusterError> {
        Ok(self.generation_revision(partition).await?.0)
    }

    /// The generation of `partition`'s log and the revision of its key (`None`: never
    /// written), for [`PartitionMap::set_generation_if`].
    pub async fn generation_revision(
        &self,
        partition: &str,
    ) -> Result<(u64, Option<u64>), ClusterError> {
        let key = generation_key(partition)?;
        let what = format!("read the generation of partition {partition}");
        match value_of(&self.kv, &key, &what, self.retry_for).await? {
            Some(m) => std::str::from_utf8(&m.payload)
                .ok()
                .and_then(|s| s.parse().ok())
                .map(|generation| (generation, Some(m.sequence)))
                .ok_or_else(|| ClusterError::Corrupt {
                    partition: key.clone(),
                    seq: m.sequence,
                    reason: "the generation is not a number".to_string(),
                }),
            None => Ok((0, None)),
        }
    }

    /// Records that `partition`'s log is now that of `generation`, on condition that its key
    /// is still at `revision` (as [`PartitionMap::generation_revision`] read it): whether it
    /// was recorded. A write whose answer was lost, found made when tried again, counts.
    pub async fn set_generation_if(
        &self,
        partition: &str,
        generation: u64,
        revision: Option<u64>,
    ) -> Result<bool, ClusterError> {
        let key = generation_key(partition)?;
        let value = Bytes::from(generation.to_string());
        let what = format!("record the generation of partition {partition}");
        retrying(&what, self.retry_for, || async {
            let written = match revision {
                Some(revision) => self
                    .kv
                    .update(&key, value.clone(), revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::UpdateErrorKind::WrongLastRevision),
                None => self
                    .kv
                    .create(&key, value.clone())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::CreateErrorKind::AlreadyExists),
            };
            match written {
                Ok(()) => Ok(true),
                Err(true) => match last_of(&self.kv, &key).await? {
                    Some(m) => Ok(m.payload == value),
                    None => Ok(false),
                },
                Err(false) => Err(Attempt::Retry(format!("{what}: not acknowledged"))),
            }
        })
        .await
    }

    /// Writes `partition`'s generation again as it is, so that a write conditional on the
    /// revision read before fails (a move given up: a run of it paused meanwhile must not
    /// switch over).
    pub async fn touch_generation(&self, partition: &str) -> Result<(), ClusterError> {
        let (generation, _) = self.generation_revision(partition).await?;
        self.put(
            generation_key(partition)?,
            Some(generation.to_string()),
            &format!("record the generation of partition {partition}"),
        )
        .await
    }

    /// Every partition whose log a move rebuilt (it may hold no division now), by name.
    pub async fn rebuilt(&self) -> Result<Vec<String>, ClusterError> {
        let mut out: Vec<String> = keys_of(&self.kv, self.retry_for)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix("generation.").map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The move of a division under way (as its mover wrote it), if one is: key `move`.
    /// While it stands, neither partition it names is taken over.
    pub async fn move_under_way(&self) -> Result<Option<String>, ClusterError> {
        let found = value_of(&self.kv, "move", "read the move under way", self.retry_for).await?;
        Ok(found.map(|m| String::from_utf8_lossy(&m.payload).into_owned()))
    }

    /// Records `what` as the move under way, unless one is recorded already: whether it
    /// was recorded (false: another move is under way).
    pub async fn begin_move(&self, what: &str) -> Result<bool, ClusterError> {
        let value = Bytes::copy_from_slice(what.as_bytes());
        retrying("record the move under way", self.retry_for, || async {
            match self.kv.create("move", value.clone()).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(Attempt::Retry(e.to_string())),
            }
        })
        .await
    }

    /// Removes the record of the move `what`, if it is the one recorded: on condition that
    /// the record is still at the revision where it was found to be `what`, so that a record
    /// written since stays.
    pub async fn end_move(&self, what: &str) -> Result<(), ClusterError> {
        retrying("remove the record of the move", self.retry_for, || async {
            match last_of(&self.kv, "move").await? {
                Some(m) if !is_removal(&m) && m.payload == what.as_bytes() => self
                    .kv
                    .delete_expect_revision("move", Some(m.sequence))
                    .await
                    .map_err(|e| Attempt::Retry(e.to_string())),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Writes `value` at `key`, or deletes the key with `None`.
    async fn put(
        &self,
        key: String,
        value: Option<String>,
        what: &str,
    ) -> Result<(), ClusterError> {
        retrying(what, self.retry_for, || async {
            match &value {
                Some(value) => self
                    .kv
                    .put(&key, Bytes::copy_from_slice(value.as_bytes()))
                    .await
                    .map(|_| ())
                    .map_err(|e| Attempt::Retry(e.to_string())),
                None => self
                    .kv
                    .delete(&key)
                    .await
                    .map_err(|e| Attempt::Retry(e.to_string())),
            }
        })
        .await
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
