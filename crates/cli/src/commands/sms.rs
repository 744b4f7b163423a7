//! `vasooli sms send`: the outbox to an HTTP gateway (the sending itself is `vasooli-sms`'s).

use super::{engine_failure, open, usage, Outcome};
use crate::{Cli, Failure};
use vasooli_sms::{send_outbox, SendError, SendOptions};

pub fn send(cli: &Cli, gateway: &str, timeout_ms: u64, in_flight: Option<usize>) -> Outcome {
    let mut engine = open(cli)?;
    let options = SendOptions {
        timeout_ms,
        in_flight: in_flight.unwrap_or(engine.policy().sms.send.in_flight),
    };
    let report = send_outbox(&mut engine, gateway, &options).map_err(|e| match e {
        SendError::NotHttp(_) | SendError::InFlight(_) => usage(e.to_string()),
        SendError::Policy(reason) => Failure::Rejected(vec![reason]),
        SendError::Engine(e) => engine_failure(e),
        other => Failure::Runtime(other.into()),
    })?;
    if report.throttled > 0 {
        errln!(
            "the gateway asked to slow down {} times (429/503)",
            report.throttled
        );
    }
    if report.rejected > 0 {
        errln!(
            "{} refused under the DLT rules (see `vasooli sms outbox --status failed`)",
            report.rejected
        );
    }
    outln!("sent {}, failed {}", report.sent, report.failed);
    Ok(())
}
