//! Sending the SMS outbox to an HTTP gateway.
//!
//! Each message is POSTed as JSON with its id (also as the `Idempotency-Key` header, so the
//! gateway can drop a repeat). Many requests are in flight at once (a bounded number, see
//! [`SendOptions::in_flight`]); their results are recorded as durable events in batches, one
//! commit for every result that came in while the previous batch was being written, and a
//! message counts as sent only once the batch holding its success is durable.
//!
//! So a sender killed midway and started again neither loses track nor posts a message whose
//! success it recorded; it posts again only messages whose outcome it never recorded, with
//! the same idempotency key and the same attempt number. Failed attempts are retried with an
//! exponential back-off per message. A gateway that answers 429 or 503 is asking the sender
//! to slow down: those answers are not attempts, and they halve the number of requests in
//! flight and pause the whole sender (see [`limiter`]).

pub mod dlt;
pub mod limiter;

use limiter::Limiter;
use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vasooli_domain::event::{Event, SmsAttempted, SmsRejected};
use vasooli_domain::sms::encoding_and_parts;
use vasooli_domain::state::SmsMessage;
use vasooli_domain::types::SmsOutcome;
use vasooli_domain::Policy;
use vasooli_engine::engine::{now_ms, SmsTextCursor};
use vasooli_engine::{Engine, EngineError, SharedEngine};
use vasooli_projections::lists::SMS_ATTEMPTS_MAX;

/// First wait between attempts; it doubles each time.
const BACKOFF_FIRST_MS: u64 = 100;
/// Longest wait between attempts.
const BACKOFF_MS_MAX: u64 = 2_000;
/// Most messages one send handles.
const SEND_MESSAGES_MAX: usize = 1_000_000;
/// Most results recorded in one commit.
const RECORD_BATCH_MAX: usize = 4_096;
/// Throttling answers (429, 503) one message may get in one send before such an answer is
/// recorded as an ordinary failed attempt: a gateway that never stops throttling does not
/// keep the sender going for ever.
const THROTTLED_PER_MESSAGE_MAX: u32 = 50;

/// Why sending stopped.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("--gateway: `{0}` is not an http(s) URL")]
    NotHttp(String),
    #[error("--in-flight: {0} is not from 1 to {max}", max = vasooli_domain::policy::SMS_IN_FLIGHT_MAX)]
    InFlight(usize),
    /// The policy breaks the DLT rules for every message (sender header, entity id).
    #[error("{0}")]
    Policy(String),
    #[error("the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the sender's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Text(#[from] vasooli_engine::engine::SmsTextError),
}

/// What a send did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub failed: usize,
    /// Failed before any attempt, for breaking the DLT rules (counted in `failed` too).
    pub rejected: usize,
    /// Answers 429 or 503 that slowed the sender down.
    pub throttled: usize,
}

/// How to send.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// Time-out of one attempt.
    pub timeout_ms: u64,
    /// Most requests waiting on the gateway at once.
    pub in_flight: usize,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            timeout_ms: 5_000,
            in_flight: 64,
        }
    }
}

/// Messages still to send: not yet acknowledged nor refused, with attempts left.
pub fn pending(engine: &Engine) -> Vec<(String, SmsMessage)> {
    engine
        .world()
        .consumers
        .iter()
        .flat_map(|stored| {
            let c = stored.consumer();
            let account_no = c.account_no.to_string();
            c.sms.into_iter().map(move |m| (account_no.clone(), m))
        })
        .filter(|(_, m)| {
            m.last_outcome != Some(SmsOutcome::Sent) && !m.rejected && m.attempts < SMS_ATTEMPTS_MAX
        })
        .take(SEND_MESSAGES_MAX)
        .collect()
}

/// Where a send takes its messages from and records what came of them: the engine itself
/// (`vasooli sms send`), or the server's shared engine, locked only for each step so that
/// the API goes on answering while messages are in flight.
pub trait Outbox {
    fn policy(&self) -> Result<Policy, SendError>;
    fn pending(&self) -> Result<Vec<(String, SmsMessage)>, SendError>;
    /// A queued message's text, read with `cursor` (see [`SmsTextCursor`]).
    fn text(&self, cursor: &mut SmsTextCursor, message: &SmsMessage) -> Result<String, SendError>;
    /// Appends events durably.
    fn record(&mut self, events: Vec<Event>) -> Result<(), SendError>;
}

impl Outbox for Engine {
    fn policy(&self) -> Result<Policy, SendError> {
        Ok(Engine::policy(self).clone())
    }
    fn pending(&self) -> Result<Vec<(String, SmsMessage)>, SendError> {
        Ok(pending(self))
    }
    fn text(&self, cursor: &mut SmsTextCursor, message: &SmsMessage) -> Result<String, SendError> {
        cursor.text(self, message).map_err(SendError::Text)
    }
    fn record(&mut self, events: Vec<Event>) -> Result<(), SendError> {
        Engine::record(self, events)?;
        Ok(())
    }
}

impl Outbox for SharedEngine {
    fn policy(&self) -> Result<Policy, SendError> {
        Ok(self.read(|engine| engine.policy().clone())?)
    }
    fn pending(&self) -> Result<Vec<(String, SmsMessage)>, SendError> {
        Ok(self.read(pending)?)
    }
    fn text(&self, cursor: &mut SmsTextCursor, message: &SmsMessage) -> Result<String, SendError> {
        self.read(|engine| cursor.text(engine, message))?
            .map_err(SendError::Text)
    }
    fn record(&mut self, events: Vec<Event>) -> Result<(), SendError> {
        self.write(|engine| engine.record(events))??;
        Ok(())
    }
}

fn check_gateway(gateway: &str) -> Result<(), SendError> {
    if gateway.starts_with("http://") || gateway.starts_with("https://") {
        Ok(())
    } else {
        Err(SendError::NotHttp(gateway.to_string()))
    }
}

/// The JSON body posted for a message.
fn body(policy: &Policy, message: &SmsMessage, text: &str) -> Vec<u8> {
    let (encoding, parts) = encoding_and_parts(text);
    let body = serde_json::json!({
        "message_id": message.message_id,
        "to": message.mobile,
        "sender": policy.sms.sender,
        "entity_id": policy.sms.entity_id,
        "dlt_template_id": message.dlt_template_id,
        "text": text,
        "encoding": encoding.as_str(),
        "parts": parts,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The wait before attempt `next` (2, 3, ...) after a failed one.
fn backoff(next: u32) -> Duration {
    let failed = next.saturating_sub(1).max(1);
    Duration::from_millis((BACKOFF_FIRST_MS << (failed - 1).min(10)).min(BACKOFF_MS_MAX))
}

/// What one POST came to.
#[derive(Debug)]
enum Answer {
    /// An attempt's outcome, to be recorded.
    Attempt(SmsOutcome, String),
    /// 429 or 503: not an attempt; the message goes again, after the sender slowed down.
    Throttled(String),
}

/// One message's turn at the gateway.
struct Job {
    /// Index into the pending messages.
    index: usize,
    /// The attempt's number, counted over every send of the message.
    attempt: u32,
    /// Throttling answers so far in this send.
    throttled: u32,
    /// What is posted, kept for the message's later attempts.
    body: Arc<[u8]>,
}

struct Done {
    job: Job,
    answer: Answer,
}

/// A message waiting for its back-off to pass.
struct Waiting {
    ready: Instant,
    job: Job,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.ready == other.ready
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.ready.cmp(&self.ready)
    }
}

async fn post(
    client: reqwest::Client,
    limiter: Arc<Limiter>,
    gateway: Arc<str>,
    key: String,
    body: Arc<[u8]>,
) -> Answer {
    let permit = limiter.acquire().await;
    let result = client
        .post(&*gateway)
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .body(body.to_vec())
        .send()
        .await;
    let answer = match result {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // Read the (small) body so the connection can carry the next request.
            let read = response.bytes().await;
            if status.as_u16() == 429 || status.as_u16() == 503 {
                permit.throttled(retry_after);
                return Answer::Throttled(status.to_string());
            }
            match read {
                Err(e) if e.is_timeout() => {
                    Answer::Attempt(SmsOutcome::TimedOut, "timed out".to_string())
                }
                _ if status.is_success() => Answer::Attempt(SmsOutcome::Sent, status.to_string()),
                _ => Answer::Attempt(SmsOutcome::Failed, status.to_string()),
            }
        }
        Err(e) if e.is_timeout() => Answer::Attempt(SmsOutcome::TimedOut, "timed out".to_string()),
        Err(e) => Answer::Attempt(SmsOutcome::Failed, one_line(&e)),
    };
    permit.answered();
    answer
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line
}

fn check_options(options: &SendOptions) -> Result<(), SendError> {
    if options.in_flight == 0 || options.in_flight > vasooli_domain::policy::SMS_IN_FLIGHT_MAX {
        return Err(SendError::InFlight(options.in_flight));
    }
    Ok(())
}

/// The runtime the requests run on, and the HTTP client.
fn runtime_and_client(
    options: &SendOptions,
) -> Result<(tokio::runtime::Runtime, reqwest::Client), SendError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = {
        let _guard = runtime.enter();
        reqwest::Client::builder()
            .timeout(Duration::from_millis(options.timeout_ms))
            .pool_max_idle_per_host(options.in_flight)
            .build()?
    };
    Ok((runtime, client))
}

/// Sends every pending message of the outbox to `gateway` with up to `options.in_flight`
/// requests in flight, recording every attempt durably (see the crate's documentation).
pub fn send_outbox(
    engine: &mut Engine,
    gateway: &str,
    options: &SendOptions,
) -> Result<SendReport, SendError> {
    check_gateway(gateway)?;
    check_options(options)?;
    dlt::check_policy(engine.policy()).map_err(SendError::Policy)?;
    let (runtime, client) = runtime_and_client(options)?;
    engine.defer_checkpoints(true);
    let result = send_with(engine, &runtime, &client, gateway, options);
    engine.defer_checkpoints(false);
    runtime.shutdown_background();
    let report = result?;
    engine.save_checkpoint()?;
    Ok(report)
}

/// [`send_outbox`] for the server's shared engine: the engine is locked only to read the
/// outbox and a text and to record a batch of answers, never while a request is in flight.
pub fn send_outbox_shared(
    engine: &SharedEngine,
    gateway: &str,
    options: &SendOptions,
) -> Result<SendReport, SendError> {
    check_gateway(gateway)?;
    check_options(options)?;
    let mut engine = engine.clone();
    dlt::check_policy(&Outbox::policy(&engine)?).map_err(SendError::Policy)?;
    let (runtime, client) = runtime_and_client(options)?;
    let result = send_with(&mut engine, &runtime, &client, gateway, options);
    runtime.shutdown_background();
    result
}

fn send_with(
    engine: &mut impl Outbox,
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    gateway: &str,
    options: &SendOptions,
) -> Result<SendReport, SendError> {
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let mut sender = Sender::new(engine, runtime, client, gateway, options, done_tx)?;
    loop {
        // Hand over messages whose back-off has passed, then new ones.
        let now = Instant::now();
        sender.hand_over_waiting(now);
        sender.hand_over_fresh()?;
        sender.record_rejections()?;
        if sender.outstanding == 0 {
            match sender.waiting.peek() {
                None if sender.next_fresh >= sender.messages.len() => break,
                None => continue,
                Some(w) => {
                    std::thread::sleep(w.ready.saturating_duration_since(Instant::now()));
                    continue;
                }
            }
        }
        // Wait for an answer (or the next back-off to pass), then take every answer in.
        let Some(batch) = sender.receive(&done_rx, now) else {
            continue;
        };
        sender.take_answers(batch)?;
    }
    Ok(sender.report)
}

/// What [`send_with`] carries through its loop.
struct Sender<'a, O: Outbox> {
    engine: &'a mut O,
    runtime: &'a tokio::runtime::Runtime,
    client: &'a reqwest::Client,
    gateway: Arc<str>,
    limiter: Arc<Limiter>,
    done_tx: mpsc::Sender<Done>,
    policy: Policy,
    /// The pending messages, in the order they were queued, which is also the order their
    /// texts are in the log.
    messages: Vec<(String, SmsMessage)>,
    texts: SmsTextCursor,
    /// Messages handed to the runtime and not yet answered; new ones are handed over while
    /// fewer than `window` are, so the runtime always has the next request ready.
    window: usize,
    outstanding: usize,
    /// Index of the first message not yet handed over.
    next_fresh: usize,
    waiting: BinaryHeap<Waiting>,
    rejections: Vec<Event>,
    report: SendReport,
}

impl<'a, O: Outbox> Sender<'a, O> {
    fn new(
        engine: &'a mut O,
        runtime: &'a tokio::runtime::Runtime,
        client: &'a reqwest::Client,
        gateway: &str,
        options: &SendOptions,
        done_tx: mpsc::Sender<Done>,
    ) -> Result<Self, SendError> {
        let policy = engine.policy()?;
        let mut messages = engine.pending()?;
        messages.sort_by_key(|(_, m)| m.position);
        Ok(Sender {
            engine,
            runtime,
            client,
            gateway: Arc::from(gateway),
            limiter: Arc::new(Limiter::new(options.in_flight)),
            done_tx,
            policy,
            messages,
            texts: SmsTextCursor::default(),
            window: options.in_flight * 2,
            outstanding: 0,
            next_fresh: 0,
            waiting: BinaryHeap::new(),
            rejections: Vec::new(),
            report: SendReport::default(),
        })
    }

    /// Hands a job to the runtime; its answer comes back on the done channel.
    fn submit(&mut self, job: Job) {
        let (_, message) = &self.messages[job.index];
        let tx = self.done_tx.clone();
        let client = self.client.clone();
        let (limiter, gateway) = (self.limiter.clone(), self.gateway.clone());
        let key = message.message_id.to_string();
        let body = job.body.clone();
        self.runtime.spawn(async move {
            let answer = post(client, limiter, gateway, key, body).await;
            let _ = tx.send(Done { job, answer });
        });
        self.outstanding += 1;
    }

    /// Hands over the messages whose back-off has passed by `now`.
    fn hand_over_waiting(&mut self, now: Instant) {
        while self.waiting.peek().is_some_and(|w| w.ready <= now) {
            let Waiting { job, .. } = self.waiting.pop().expect("peeked");
            self.submit(job);
        }
    }

    /// Hands over new messages while the window has room; a message its DLT check refuses
    /// is set aside as a rejection instead.
    fn hand_over_fresh(&mut self) -> Result<(), SendError> {
        while self.outstanding < self.window && self.next_fresh < self.messages.len() {
            let index = self.next_fresh;
            self.next_fresh += 1;
            let (account_no, message) = &self.messages[index];
            let text = self.engine.text(&mut self.texts, message)?;
            if let Err(reason) = dlt::check_message(&self.policy, message, &text) {
                self.rejections.push(Event::SmsRejected(SmsRejected {
                    message_id: message.message_id.to_string(),
                    account_no: account_no.clone(),
                    reason,
                    at_ms: now_ms(),
                }));
                continue;
            }
            let job = Job {
                index,
                attempt: message.attempts + 1,
                throttled: 0,
                body: body(&self.policy, message, &text).into(),
            };
            self.submit(job);
        }
        Ok(())
    }

    /// Records the rejections set aside, counting them.
    fn record_rejections(&mut self) -> Result<(), SendError> {
        if !self.rejections.is_empty() {
            self.report.rejected += self.rejections.len();
            self.report.failed += self.rejections.len();
            self.engine.record(std::mem::take(&mut self.rejections))?;
        }
        Ok(())
    }

    /// Waits for an answer, or until the next back-off passes (then `None`), and takes every
    /// answer already there with it.
    fn receive(&mut self, done_rx: &mpsc::Receiver<Done>, now: Instant) -> Option<Vec<Done>> {
        let first = match self.waiting.peek() {
            Some(w) => match done_rx.recv_timeout(w.ready.saturating_duration_since(now)) {
                Ok(done) => done,
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("a sender is held"),
            },
            None => done_rx.recv().expect("a sender is held"),
        };
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH_MAX {
            match done_rx.try_recv() {
                Ok(done) => batch.push(done),
                Err(_) => break,
            }
        }
        self.outstanding -= batch.len();
        Some(batch)
    }

    /// Records the attempts; only once they are durable is anything counted or retried.
    fn take_answers(&mut self, batch: Vec<Done>) -> Result<(), SendError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut decided = Vec::with_capacity(batch.len());
        for Done { mut job, answer } in batch {
            let (outcome, detail) = match answer {
                Answer::Throttled(detail) => {
                    self.report.throttled += 1;
                    job.throttled += 1;
                    if job.throttled < THROTTLED_PER_MESSAGE_MAX {
                        // Not an attempt: the message goes again once the limiter lets it.
                        self.submit(job);
                        continue;
                    }
                    (SmsOutcome::Failed, detail)
                }
                Answer::Attempt(outcome, detail) => (outcome, detail),
            };
            let (account_no, message) = &self.messages[job.index];
            events.push(Event::SmsAttempted(SmsAttempted {
                message_id: message.message_id.to_string(),
                account_no: account_no.clone(),
                attempt: job.attempt,
                outcome,
                detail,
                at_ms: now_ms(),
            }));
            decided.push((job, outcome));
        }
        if !events.is_empty() {
            self.engine.record(events)?;
        }
        for (job, outcome) in decided {
            self.decided(job, outcome);
        }
        Ok(())
    }

    /// Counts a recorded attempt, or schedules the message's next one after its back-off.
    fn decided(&mut self, job: Job, outcome: SmsOutcome) {
        if outcome == SmsOutcome::Sent {
            self.report.sent += 1;
        } else if job.attempt < SMS_ATTEMPTS_MAX {
            let next = job.attempt + 1;
            self.waiting.push(Waiting {
                ready: Instant::now() + backoff(next),
                job: Job {
                    attempt: next,
                    ..job
                },
            });
        } else {
            self.report.failed += 1;
        }
    }
}

/// The sender as it was before requests went in flight together: one message at a time,
/// each attempt recorded in a commit of its own before the next. Kept as the baseline the
/// bench measures the concurrent sender against.
pub fn send_outbox_one_at_a_time(
    engine: &mut Engine,
    gateway: &str,
    timeout_ms: u64,
) -> Result<SendReport, SendError> {
    check_gateway(gateway)?;
    engine.defer_checkpoints(true);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .build()?;
    let mut report = SendReport::default();
    for (account_no, message) in pending(engine) {
        let text = engine.sms_text(&message).map_err(SendError::Text)?;
        let body = body(engine.policy(), &message, &text);
        let mut delivered = false;
        for number in message.attempts + 1..=SMS_ATTEMPTS_MAX {
            let result = client
                .post(gateway)
                .header("Idempotency-Key", message.message_id.as_str())
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send();
            let (outcome, detail) = match result {
                Ok(r) if r.status().is_success() => (SmsOutcome::Sent, r.status().to_string()),
                Ok(r) => (SmsOutcome::Failed, r.status().to_string()),
                Err(e) if e.is_timeout() => (SmsOutcome::TimedOut, "timed out".to_string()),
                Err(e) => (SmsOutcome::Failed, e.to_string()),
            };
            engine.record(vec![Event::SmsAttempted(SmsAttempted {
                message_id: message.message_id.to_string(),
                account_no: account_no.clone(),
                attempt: number,
                outcome,
                detail,
                at_ms: now_ms(),
            })])?;
            if outcome == SmsOutcome::Sent {
                delivered = true;
                break;
            }
            if number < SMS_ATTEMPTS_MAX {
                std::thread::sleep(backoff(number + 1));
            }
        }
        if delivered {
            report.sent += 1;
        } else {
            report.failed += 1;
        }
    }
    engine.defer_checkpoints(false);
    engine.save_checkpoint()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(400));
        assert_eq!(backoff(20), Duration::from_millis(2_000));
    }

    #[test]
    fn waiting_messages_come_out_earliest_first() {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        for (ms, index) in [(300, 0), (100, 1), (200, 2)] {
            heap.push(Waiting {
                ready: now + Duration::from_millis(ms),
                job: Job {
                    index,
                    attempt: 2,
                    throttled: 0,
                    body: Arc::from(&b"{}"[..]),
                },
            });
        }
        let order: Vec<usize> = std::iter::from_fn(|| heap.pop().map(|w| w.job.index)).collect();
        assert_eq!(order, vec![1, 2, 0]);
    }
}
