//! Requests to a partition's owner through the cluster: the way a routed import reaches the
//! process that may write a partition, wherever it runs.
//!
//! The owner subscribes to `<prefix>-owner.<partition>` in a queue group while it holds the
//! lease, so each request reaches one owner; a request names no address and carries no
//! token of the owner's API, since whoever may publish to the cluster may append to its log
//! anyway (the cluster's servers are the trust boundary of cluster mode). The body is opaque
//! here: its meaning is the caller's.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{RequestErrorKind, Subscriber};
use futures_util::StreamExt;

use crate::log::{retrying, Attempt};
use crate::{check_partition, ClusterError, ClusterLog};

/// The queue group every owner of a partition subscribes in.
const QUEUE: &str = "owner";

/// What part of a server's `max_payload` a request or answer may take: the rest is left for
/// the message's subject and headers.
const PAYLOAD_MARGIN: usize = 4 << 10;

/// Answers requests while it lives: dropping it unsubscribes.
pub struct Answering {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ClusterLog {
    /// The subject requests to `partition`'s owner are sent to.
    pub fn owner_subject(&self, partition: &str) -> Result<String, ClusterError> {
        check_partition(partition)?;
        Ok(format!(
            "{}-owner.{partition}",
            self.config().subject_prefix
        ))
    }

    /// The largest request or answer body the cluster's servers carry.
    pub fn request_bytes_max(&self) -> usize {
        self.client()
            .server_info()
            .max_payload
            .saturating_sub(PAYLOAD_MARGIN)
    }

    /// Sends `body` to `partition`'s owner and waits up to `timeout` for its answer. While no
    /// owner listens (a failover in progress) or no answer comes in time (a server carrying
    /// the request went down), the request is sent again, for as long as `patience` lasts:
    /// callers send only requests that may be repeated.
    pub async fn ask_owner(
        &self,
        partition: &str,
        body: Vec<u8>,
        timeout: Duration,
        patience: Duration,
    ) -> Result<Vec<u8>, ClusterError> {
        let subject = self.owner_subject(partition)?;
        let max = self.request_bytes_max();
        if body.len() > max {
            return Err(ClusterError::Refused {
                what: format!("a request to the owner of partition {partition}"),
                reason: format!(
                    "{} bytes, the cluster's servers carry at most {max}",
                    body.len()
                ),
            });
        }
        let body = bytes::Bytes::from(body);
        let what = format!("asking the owner of partition {partition}");
        retrying(&what, patience, || {
            let (client, subject, body) = (self.client().clone(), subject.clone(), body.clone());
            async move {
                let request = async_nats::Request::new()
                    .payload(body)
                    .timeout(Some(timeout));
                match client.send_request(subject, request).await {
                    Ok(message) => Ok(message.payload.to_vec()),
                    Err(e) => Err(Attempt::Retry(match e.kind() {
                        RequestErrorKind::NoResponders => {
                            format!("partition {partition} has no owner")
                        }
                        RequestErrorKind::TimedOut => {
                            format!("the owner of partition {partition} did not answer in {timeout:?}")
                        }
                        _ => e.to_string(),
                    })),
                }
            }
        })
        .await
    }

    /// Answers the requests sent to `partition`'s owner with `answer`, each request in a
    /// task of its own, until the returned [`Answering`] is dropped. Call it once this
    /// process holds the partition's lease.
    pub async fn answer_as_owner<F, Fut>(
        &self,
        partition: &str,
        answer: F,
    ) -> Result<Answering, ClusterError>
    where
        F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<u8>> + Send + 'static,
    {
        let subject = self.owner_subject(partition)?;
        let client = self.client().clone();
        let subscriber: Subscriber = retrying(
            &format!("listening as the owner of partition {partition}"),
            self.config().retry_for,
            || {
                let (client, subject) = (client.clone(), subject.clone());
                async move {
                    client
                        .queue_subscribe(subject, QUEUE.to_string())
                        .await
                        .map_err(|e| Attempt::Retry(e.to_string()))
                }
            },
        )
        .await?;
        // Subscribed once the server has the subscription: a request sent after this
        // returns reaches this owner.
        retrying("flushing the subscription", self.config().retry_for, || {
            let client = client.clone();
            async move {
                client
                    .flush()
                    .await
                    .map_err(|e| Attempt::Retry(e.to_string()))
            }
        })
        .await?;
        let answer = Arc::new(answer);
        let max = self.request_bytes_max();
        let task = tokio::spawn(async move {
            let mut subscriber = subscriber;
            while let Some(message) = subscriber.next().await {
                let Some(reply) = message.reply else { continue };
                let (client, answer) = (client.clone(), Arc::clone(&answer));
                tokio::spawn(async move {
                    let mut body = answer(message.payload.to_vec()).await;
                    if body.len() > max {
                        // An empty answer, at once, rather than none: the asker fails now
                        // instead of waiting out its patience.
                        tracing::error!(
                            "an answer of {} bytes is larger than the cluster carries",
                            body.len()
                        );
                        body.clear();
                    }
                    if let Err(e) = client.publish(reply, body.into()).await {
                        tracing::warn!("answering a request failed: {e}");
                    }
                });
            }
        });
        Ok(Answering { task })
    }
}
