//! Sending the SMS outbox to an HTTP gateway.
//!
//! Each message is POSTed as JSON with its id (also as the `Idempotency-Key` header, so the
//! gateway can drop a repeat). Every attempt's result is recorded as a durable event before
//! the next, so a sender killed midway and started again neither loses track nor sends a
//! message that was acknowledged; retries back off exponentially.

use super::{engine_failure, open, usage, Outcome};
use crate::{Cli, Failure};
use std::time::Duration;
use vasooli_domain::event::{Event, SmsAttempted};
use vasooli_domain::sms::encoding_and_parts;
use vasooli_domain::types::SmsOutcome;
use vasooli_projections::engine::now_ms;
use vasooli_projections::lists::{self, SMS_ATTEMPTS_MAX};

/// First wait between attempts; it doubles each time.
const BACKOFF_FIRST_MS: u64 = 100;
/// Longest wait between attempts.
const BACKOFF_MAX_MS: u64 = 2_000;
/// Most messages one `send` handles.
const SEND_MESSAGES_MAX: usize = 1_000_000;

pub fn send(cli: &Cli, gateway: &str, timeout_ms: u64) -> Outcome {
    if !(gateway.starts_with("http://") || gateway.starts_with("https://")) {
        return Err(usage(format!(
            "--gateway: `{gateway}` is not an http(s) URL"
        )));
    }
    let mut engine = open(cli)?;
    engine.defer_checkpoints(true);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let policy = engine.policy().clone();
    let pending: Vec<(String, vasooli_domain::state::SmsMessage)> = engine
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
        .collect();
    let (mut sent, mut failed) = (0usize, 0usize);
    for (account_no, message) in pending {
        let text = lists::sms_text(engine.store(), &message)
            .map_err(|e| Failure::Runtime(anyhow::anyhow!(e)))?;
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
        for attempt in message.attempts + 1..=SMS_ATTEMPTS_MAX {
            let result = client
                .post(gateway)
                .header("Idempotency-Key", message.message_id.as_str())
                .json(&body)
                .send();
            let (outcome, detail) = match result {
                Ok(response) if response.status().is_success() => {
                    (SmsOutcome::Sent, response.status().to_string())
                }
                Ok(response) => (SmsOutcome::Failed, response.status().to_string()),
                Err(e) if e.is_timeout() => (SmsOutcome::TimedOut, "timed out".to_string()),
                Err(e) => (SmsOutcome::Failed, e.to_string()),
            };
            let event = Event::SmsAttempted(SmsAttempted {
                message_id: message.message_id.to_string(),
                account_no: account_no.clone(),
                attempt,
                outcome,
                detail,
                at_ms: now_ms(),
            });
            engine.record(vec![event]).map_err(engine_failure)?;
            if outcome == SmsOutcome::Sent {
                delivered = true;
                break;
            }
            if attempt < SMS_ATTEMPTS_MAX {
                let wait = (BACKOFF_FIRST_MS << (attempt - 1).min(10)).min(BACKOFF_MAX_MS);
                std::thread::sleep(Duration::from_millis(wait));
            }
        }
        if delivered {
            sent += 1;
        } else {
            failed += 1;
        }
    }
    engine.save_checkpoint().map_err(engine_failure)?;
    println!("sent {sent}, failed {failed}");
    Ok(())
}
