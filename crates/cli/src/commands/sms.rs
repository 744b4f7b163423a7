//! `vasooli sms send`: the outbox to an HTTP gateway (the sending itself is `vasooli-sms`'s).

use super::{engine_failure, open, usage, Outcome};
use crate::{Cli, Failure};
use vasooli_sms::{send_outbox, SendError};

pub fn send(cli: &Cli, gateway: &str, timeout_ms: u64) -> Outcome {
    let mut engine = open(cli)?;
    let report = send_outbox(&mut engine, gateway, timeout_ms).map_err(|e| match e {
        SendError::NotHttp(_) => usage(e.to_string()),
        SendError::Engine(e) => engine_failure(e),
        other => Failure::Runtime(other.into()),
    })?;
    println!("sent {}, failed {}", report.sent, report.failed);
    Ok(())
}
