//! The replicated log: one JetStream stream, one subject per partition.

use std::future::Future;
use std::time::{Duration, Instant};

use async_nats::header::{NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{DirectGetErrorKind, LastRawMessageErrorKind, StorageType};
use async_nats::jetstream::{self, Context, ContextBuilder};
use async_nats::{Client, ConnectOptions, ServerAddr};
use bytes::Bytes;
use futures_util::Stream;

use crate::envelope::{commit_id_hex, CommitId};
use crate::ClusterError;

/// Where the cluster is and how the log is laid out in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Server URLs (`nats://host:port`); the client reconnects to whichever answers.
    pub servers: Vec<String>,
    /// Name of the JetStream stream holding every partition's subject.
    pub stream: String,
    /// Partition `p` appends to subject `<subject_prefix>.<p>`.
    pub subject_prefix: String,
    /// Copies of every entry; an append is acknowledged once a majority stored it.
    pub replicas: usize,
    /// How long JetStream remembers a commit id to drop a second append of it. Beyond it,
    /// the store's permanent natural-key index skips what a commit repeats.
    pub duplicate_window: Duration,
    /// Key-value bucket of the partitions' leases.
    pub lease_bucket: String,
    /// Key-value bucket mapping divisions to partitions.
    pub partition_bucket: String,
    /// Key-value bucket of the figures partitions publish for headquarters.
    pub figures_bucket: String,
    /// Key-value bucket of the owners' and standbys' progress reports.
    pub progress_bucket: String,
    /// Object store bucket of the partitions' snapshots.
    pub snapshot_bucket: String,
    /// Key-value bucket of the partitions' API tokens (hashes and holders).
    pub token_bucket: String,
    /// How long an operation is retried while the cluster elects a leader or a server is
    /// down, before it fails as [`ClusterError::Unavailable`].
    pub retry_for: Duration,
    /// How long one request waits for its answer.
    pub request_timeout: Duration,
}

impl ClusterConfig {
    /// The defaults, for the cluster at `servers`.
    pub fn new<S: Into<String>>(servers: impl IntoIterator<Item = S>) -> ClusterConfig {
        ClusterConfig {
            servers: servers.into_iter().map(Into::into).collect(),
            stream: "VASOOLI_LOG".to_string(),
            subject_prefix: "vasooli.log".to_string(),
            replicas: 3,
            duplicate_window: Duration::from_secs(120),
            lease_bucket: "vasooli_leases".to_string(),
            partition_bucket: "vasooli_partitions".to_string(),
            figures_bucket: "vasooli_figures".to_string(),
            progress_bucket: "vasooli_replicas".to_string(),
            snapshot_bucket: "vasooli_snapshots".to_string(),
            token_bucket: "vasooli_tokens".to_string(),
            retry_for: Duration::from_secs(30),
            request_timeout: Duration::from_secs(3),
        }
    }
}

/// One member of a stream's replica group as the stream's leader reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    pub server: String,
    pub leader: bool,
    /// Up to date with the leader.
    pub current: bool,
    /// Operations behind the leader, when known.
    pub lag: Option<u64>,
}

/// A connection to the cluster and its log stream. Cheap to clone.
#[derive(Clone)]
pub struct ClusterLog {
    config: ClusterConfig,
    client: Client,
    js: Context,
    stream: jetstream::stream::Stream,
}

impl std::fmt::Debug for ClusterLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLog")
            .field("servers", &self.config.servers)
            .field("stream", &self.config.stream)
            .finish()
    }
}

/// One attempt's outcome in [`retrying`]: try again, or fail now.
pub(crate) enum Attempt {
    Retry(String),
    Fail(ClusterError),
}

impl From<ClusterError> for Attempt {
    fn from(e: ClusterError) -> Attempt {
        Attempt::Fail(e)
    }
}

/// Runs `op` until it succeeds, fails for good, or `limit` has passed (then
/// [`ClusterError::Unavailable`] with the last reason). Waits 50 ms after the first
/// failure, doubling up to 1 s.
pub(crate) async fn retrying<T, F, Fut>(
    what: &str,
    limit: Duration,
    mut op: F,
) -> Result<T, ClusterError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry(reason)) => {
                let waited = started.elapsed();
                if waited >= limit {
                    return Err(ClusterError::Unavailable {
                        what: what.to_string(),
                        waited,
                        reason,
                    });
                }
                tracing::debug!(what, reason, "retrying");
                tokio::time::sleep(pause.min(limit - waited)).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Connects a client to `servers`, retrying for up to `limit`.
pub(crate) async fn connect_client(
    servers: &[String],
    request_timeout: Duration,
    limit: Duration,
) -> Result<Client, ClusterError> {
    let addrs = servers
        .iter()
        .map(|s| {
            s.parse::<ServerAddr>()
                .map_err(|e| ClusterError::InvalidName {
                    what: "server",
                    name: format!("{s} ({e})"),
                    why: "expected nats://host:port",
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    retrying("connect", limit, || {
        let addrs = addrs.clone();
        async move {
            ConnectOptions::new()
                .connection_timeout(request_timeout)
                .request_timeout(Some(request_timeout))
                .connect(addrs)
                .await
                .map_err(|e| Attempt::Retry(e.to_string()))
        }
    })
    .await
}

impl ClusterLog {
    /// Connects to the cluster and makes sure the log stream exists (replicated
    /// `config.replicas` times on file storage, deduplicating within
    /// `config.duplicate_window`).
    pub async fn connect(config: ClusterConfig) -> Result<ClusterLog, ClusterError> {
        let client =
            connect_client(&config.servers, config.request_timeout, config.retry_for).await?;
        let js = ContextBuilder::new()
            .timeout(config.request_timeout)
            .build(client.clone());
        let stream_config = jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.*", config.subject_prefix)],
            num_replicas: config.replicas,
            storage: StorageType::File,
            duplicate_window: config.duplicate_window,
            allow_direct: true,
            ..Default::default()
        };
        let stream = retrying("create the log stream", config.retry_for, || {
            let js = js.clone();
            let stream_config = stream_config.clone();
            async move {
                js.get_or_create_stream(stream_config)
                    .await
                    .map_err(|e| Attempt::Retry(e.to_string()))
            }
        })
        .await?;
        Ok(ClusterLog {
            config,
            client,
            js,
            stream,
        })
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The JetStream context, for the cluster's key-value buckets.
    pub(crate) fn jetstream(&self) -> &Context {
        &self.js
    }

    /// The underlying client (its server info says which server it is connected to).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The subject of `partition`'s log, named as [`crate::log_name`] names it (the
    /// partition's name for its first generation). Every method taking a partition takes
    /// such a name.
    pub fn subject(&self, partition: &str) -> Result<String, ClusterError> {
        crate::check_log_name(partition)?;
        Ok(format!("{}.{partition}", self.config.subject_prefix))
    }

    /// Appends `entry` (commit `id`) to `partition`, on condition that the partition's last
    /// sequence is `expected_last` (0: the partition is empty). Returns the entry's
    /// sequence once JetStream acknowledged it, that is once a majority of the replicas
    /// stored it. Retried with the same commit id while the cluster elects a leader, so a
    /// retry does not store the commit twice.
    ///
    /// Another writer's append since `expected_last` makes this one fail with
    /// [`ClusterError::StaleWriter`].
    pub async fn append(
        &self,
        partition: &str,
        id: &CommitId,
        entry: Bytes,
        expected_last: u64,
    ) -> Result<u64, ClusterError> {
        let subject = self.subject(partition)?;
        let msg_id = commit_id_hex(id);
        let what = format!("append to partition {partition}");
        retrying(&what, self.config.retry_for, || {
            self.try_append(partition, &subject, &msg_id, entry.clone(), expected_last)
        })
        .await
    }

    async fn try_append(
        &self,
        partition: &str,
        subject: &str,
        msg_id: &str,
        entry: Bytes,
        expected_last: u64,
    ) -> Result<u64, Attempt> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, msg_id);
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            expected_last.to_string().as_str(),
        );
        let ack = self
            .js
            .publish_with_headers(subject.to_string(), headers, entry)
            .await
            .map_err(|e| match e.kind() {
                // The connection knows the servers' limit: no retry changes it.
                PublishErrorKind::MaxPayloadExceeded => Attempt::Fail(ClusterError::Refused {
                    what: format!("append to partition {partition}"),
                    reason: format!("{e} (raise the servers' max_payload)"),
                }),
                _ => Attempt::Retry(e.to_string()),
            })?;
        match ack.await {
            Ok(ack) if ack.stream == self.config.stream => Ok(ack.sequence),
            Ok(ack) => Err(Attempt::Fail(ClusterError::Refused {
                what: format!("append to partition {partition}"),
                reason: format!(
                    "stored by stream {}, not {}",
                    ack.stream, self.config.stream
                ),
            })),
            Err(e) => match e.kind() {
                PublishErrorKind::WrongLastSequence => {
                    // An earlier try of this very append may have been stored with its
                    // acknowledgement lost: it would be the next entry after
                    // `expected_last`, carrying this commit id.
                    if let Some(next) = self.entry_after(subject, expected_last).await? {
                        if header_is(&next, NATS_MESSAGE_ID.as_ref(), msg_id) {
                            return Ok(next.sequence);
                        }
                    }
                    let actual = self.try_last_seq(subject).await.ok();
                    Err(Attempt::Fail(ClusterError::StaleWriter {
                        partition: partition.to_string(),
                        expected: expected_last,
                        actual,
                    }))
                }
                PublishErrorKind::MaxPayloadExceeded => Err(Attempt::Fail(ClusterError::Refused {
                    what: format!("append to partition {partition}"),
                    reason: e.to_string(),
                })),
                _ => Err(Attempt::Retry(e.to_string())),
            },
        }
    }

    /// The first entry of `subject` after sequence `after`, as the stream's leader has it.
    async fn entry_after(
        &self,
        subject: &str,
        after: u64,
    ) -> Result<Option<StreamMessage>, Attempt> {
        match self
            .stream
            .raw_message_builder()
            .sequence(after + 1)
            .next_by_subject(subject.to_string())
            .send()
            .await
        {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(Attempt::Retry(e.to_string())),
        }
    }

    async fn try_last_seq(&self, subject: &str) -> Result<u64, Attempt> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(m) => Ok(m.sequence),
            Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(0),
            Err(e) => Err(Attempt::Retry(e.to_string())),
        }
    }

    /// The sequence of `partition`'s last entry (0: none), as the stream's leader has it.
    pub async fn last_seq(&self, partition: &str) -> Result<u64, ClusterError> {
        let subject = self.subject(partition)?;
        retrying(
            &format!("last sequence of partition {partition}"),
            self.config.retry_for,
            || self.try_last_seq(&subject),
        )
        .await
    }

    /// The entries of `partition` from sequence `from` on, in order, up to the partition's
    /// last entry when the reading starts; each read from the stream's leader (retried
    /// through elections).
    pub fn read_from<'a>(
        &'a self,
        partition: &'a str,
        from: u64,
    ) -> impl Stream<Item = Result<(u64, Bytes), ClusterError>> + 'a {
        struct State {
            next: u64,
            end: Option<u64>,
        }
        futures_util::stream::try_unfold(
            State {
                next: from.max(1),
                end: None,
            },
            move |mut st| async move {
                let subject = self.subject(partition)?;
                let end = match st.end {
                    Some(end) => end,
                    None => {
                        let end = self.last_seq(partition).await?;
                        st.end = Some(end);
                        end
                    }
                };
                if st.next > end {
                    return Ok(None);
                }
                let what = format!("read partition {partition} at {}", st.next);
                let found = retrying(&what, self.config.retry_for, || {
                    self.entry_after(&subject, st.next - 1)
                })
                .await?;
                match found {
                    Some(m) if m.sequence <= end => {
                        st.next = m.sequence + 1;
                        Ok(Some(((m.sequence, m.payload), st)))
                    }
                    _ => Ok(None),
                }
            },
        )
    }

    /// Every entry of `partition` as the server this connection reaches serves it from its
    /// own copy (a direct get, which any replica answers and the nearest one does): with a
    /// connection to one server alone, that server's copy.
    pub async fn read_served_copy(
        &self,
        partition: &str,
    ) -> Result<Vec<(u64, Bytes)>, ClusterError> {
        let subject = self.subject(partition)?;
        let mut out = Vec::new();
        let mut next = 1u64;
        loop {
            let what = format!("direct read of partition {partition} at {next}");
            let found = retrying(&what, self.config.retry_for, || async {
                match self
                    .stream
                    .direct_get_builder()
                    .sequence(next)
                    .next_by_subject(subject.clone())
                    .send()
                    .await
                {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Attempt::Retry(e.to_string())),
                }
            })
            .await?;
            match found {
                Some(m) => {
                    next = m.sequence + 1;
                    out.push((m.sequence, m.payload));
                }
                None => return Ok(out),
            }
        }
    }

    /// The stream's replica group: who leads, who is current.
    pub async fn replica_states(&self) -> Result<Vec<ReplicaState>, ClusterError> {
        let info = retrying("stream info", self.config.retry_for, || async {
            let info = self
                .stream
                .get_info()
                .await
                .map_err(|e| Attempt::Retry(e.to_string()))?;
            match info.cluster {
                Some(c) if c.leader.is_some() => Ok(c),
                _ => Err(Attempt::Retry("the stream has no leader".to_string())),
            }
        })
        .await?;
        let leader = info.leader.clone().unwrap_or_default();
        let mut out = vec![ReplicaState {
            server: leader,
            leader: true,
            current: true,
            lag: Some(0),
        }];
        out.extend(info.replicas.iter().map(|p| ReplicaState {
            server: p.name.clone(),
            leader: false,
            current: p.current && !p.offline,
            lag: p.lag,
        }));
        Ok(out)
    }

    /// The name of the server leading the log stream.
    pub async fn leader(&self) -> Result<String, ClusterError> {
        let states = self.replica_states().await?;
        Ok(states
            .into_iter()
            .find(|s| s.leader)
            .map(|s| s.server)
            .unwrap_or_default())
    }
}

/// Whether message `m` carries header `name` with value `value`.
fn header_is(m: &StreamMessage, name: &str, value: &str) -> bool {
    m.headers.get(name).is_some_and(|v| v.as_str() == value)
}
