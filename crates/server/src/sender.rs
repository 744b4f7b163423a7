//! The SMS sender run by the server itself (policy `sms.send.serve = true`): every
//! `sms.send.interval_seconds` it sends whatever the outbox holds to `sms.send.gateway`,
//! outside the quiet hours, so messages queued by the nightly run leave without anyone
//! running `vasooli sms send`. It locks the engine only to read the outbox and to record each
//! batch of answers (see `vasooli_sms::send_outbox_shared`).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use vasooli_domain::policy::SmsSendPolicy;
use vasooli_engine::SharedEngine;
use vasooli_sms::{send_outbox_shared, SendOptions};

/// A running sender; [`SmsSender::stop`] ends it after the send in progress.
pub struct SmsSender {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// The minute of the day in India (UTC+05:30), where quiet hours are counted.
fn india_minute_now() -> u32 {
    use chrono::Timelike;
    let now = chrono::Utc::now() + chrono::Duration::minutes(330);
    now.hour() * 60 + now.minute()
}

impl SmsSender {
    /// Starts the sender on a thread of its own.
    pub fn start(engine: SharedEngine, policy: SmsSendPolicy) -> SmsSender {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vasooli-sms-sender".into())
            .spawn(move || run(engine, policy, stopping))
            .expect("the sender thread starts");
        SmsSender {
            stop,
            thread: Some(thread),
        }
    }

    /// Asks the sender to stop and waits for it.
    pub fn stop(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn signal(&self) {
        let (stopped, changed) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        changed.notify_all();
    }
}

impl Drop for SmsSender {
    fn drop(&mut self) {
        self.signal();
    }
}

fn run(engine: SharedEngine, policy: SmsSendPolicy, stop: Arc<(Mutex<bool>, Condvar)>) {
    let options = SendOptions {
        timeout_ms: policy.timeout_ms,
        in_flight: policy.in_flight,
    };
    let interval = Duration::from_secs(policy.interval_seconds.max(1));
    tracing::info!(
        "the SMS sender posts to {} every {}s, {} in flight",
        policy.gateway,
        interval.as_secs(),
        policy.in_flight
    );
    loop {
        if *stop.0.lock().unwrap_or_else(|e| e.into_inner()) {
            return;
        }
        if policy.is_quiet(india_minute_now()) {
            tracing::debug!("quiet hours: the SMS sender waits");
        } else {
            match send_outbox_shared(&engine, &policy.gateway, &options) {
                Ok(report) if report.sent + report.failed > 0 => tracing::info!(
                    "SMS sent {}, failed {} ({} refused under the DLT rules, {} throttled)",
                    report.sent,
                    report.failed,
                    report.rejected,
                    report.throttled
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!("sending SMS failed: {e}"),
            }
        }
        let (stopped, changed) = &*stop;
        let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = changed
            .wait_timeout_while(guard, interval, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        if *guard {
            return;
        }
    }
}
