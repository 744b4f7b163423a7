//! Sending the SMS outbox to an HTTP gateway.
//!
//! Each message is POSTed as JSON with its id (also as the `Idempotency-Key` header, so the
//! gateway can drop a repeat). Every attempt's result is recorded as a durable event before
//! the next, so a sender killed midway and started again neither loses track nor sends a
//! message that was acknowledged; retries back off exponentially.

use std::time::Duration;
use vasooli_domain::event::{Event, SmsAttempted};
use vasooli_domain::sms::encoding_and_parts;
use vasooli_domain::state::SmsMessage;
use vasooli_domain::types::SmsOutcome;
use vasooli_engine::engine::now_ms;
use vasooli_engine::{Engine, EngineError};
use vasooli_projections::lists::SMS_ATTEMPTS_MAX;

/// First wait between attempts; it doubles each time.
const BACKOFF_FIRST_MS: u64 = 100;
/// Longest wait between attempts.
const BACKOFF_MAX_MS: u64 = 2_000;
/// Most messages one send handles.
const SEND_MESSAGES_MAX: usize = 1_000_000;

/// Why sending stopped.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("--gateway: `{0}` is not an http(s) URL")]
    NotHttp(String),
    #[error("the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Text(String),
}

/// What a send did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub failed: usize,
}

/// Messages still to send: not yet acknowledged, with attempts left.
fn pending(engine: &Engine) -> Vec<(String, SmsMessage)> {
    engine
        .world()
        .consumers
        .iter()
        .flat_map(|stored| {
            let c = stored.consumer();
            let account_no = c.account_no.to_string();
            c.sms.into_iter().map(move |m| (account_no.clone(), m))
        })
        .filter(|(_, m)| m.last_outcome != Some(SmsOutcome::Sent) && m.attempts < SMS_ATTEMPTS_MAX)
        .take(SEND_MESSAGES_MAX)
        .collect()
}

/// One POST to the gateway and what came of it.
fn attempt(
    client: &reqwest::blocking::Client,
    gateway: &str,
    message: &SmsMessage,
    body: &serde_json::Value,
) -> (SmsOutcome, String) {
    let result = client
        .post(gateway)
        .header("Idempotency-Key", message.message_id.as_str())
        .json(body)
        .send();
    match result {
        Ok(response) if response.status().is_success() => {
            (SmsOutcome::Sent, response.status().to_string())
        }
        Ok(response) => (SmsOutcome::Failed, response.status().to_string()),
        Err(e) if e.is_timeout() => (SmsOutcome::TimedOut, "timed out".to_string()),
        Err(e) => (SmsOutcome::Failed, e.to_string()),
    }
}

/// Sends every pending message of the outbox to `gateway`, each attempt timing out after
/// `timeout_ms`, recording every attempt durably before the next.
pub fn send_outbox(
    engine: &mut Engine,
    gateway: &str,
    timeout_ms: u64,
) -> Result<SendReport, SendError> {
    if !(gateway.starts_with("http://") || gateway.starts_with("https://")) {
        return Err(SendError::NotHttp(gateway.to_string()));
    }
    engine.defer_checkpoints(true);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .build()?;
    let policy = engine.policy().clone();
    let mut report = SendReport::default();
    for (account_no, message) in pending(engine) {
        let text = engine.sms_text(&message).map_err(SendError::Text)?;
        let (encoding, parts) = encoding_and_parts(&text);
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
        let mut delivered = false;
        for number in message.attempts + 1..=SMS_ATTEMPTS_MAX {
            let (outcome, detail) = attempt(&client, gateway, &message, &body);
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
                let wait = (BACKOFF_FIRST_MS << (number - 1).min(10)).min(BACKOFF_MAX_MS);
                std::thread::sleep(Duration::from_millis(wait));
            }
        }
        if delivered {
            report.sent += 1;
        } else {
            report.failed += 1;
        }
    }
    engine.save_checkpoint()?;
    Ok(report)
}
