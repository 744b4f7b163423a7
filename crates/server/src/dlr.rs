//! Delivery reports from SMS gateways: `POST /sms/dlr/{gateway}` (outside `/api/v1/`, whose
//! routes take API tokens).
//!
//! A gateway that accepted a message later reports whether it reached the handset. Each
//! gateway has a shared secret of its own (given to `vasooli serve` in the environment, see
//! [`DlrSecrets::parse`]); the report carries it in the `X-Dlr-Secret` header, and the server
//! compares digests of the two in constant time, so neither the secret nor whether the
//! gateway's name is known leaks through timing. A report is recorded as a
//! `sms_delivery_reported` event; a report that says what the message's last one said is
//! answered without recording it again.

use crate::error::ApiError;
use crate::openapi as doc;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use vasooli_domain::event::{Event, SmsDeliveryReported};
use vasooli_domain::World;
use vasooli_engine::engine::now_ms;

/// The header a gateway puts its secret in.
pub const SECRET_HEADER: &str = "X-Dlr-Secret";
/// The environment variable `vasooli serve` reads the gateways' secrets from.
pub const SECRETS_ENV: &str = "VASOOLI_SMS_DLR_SECRETS";
/// Largest delivery report body.
pub const DLR_BODY_MAX: usize = 4 << 10;
/// Shortest secret accepted.
pub const SECRET_CHARS_MIN: usize = 16;
/// Longest operator reason kept.
pub const REASON_CHARS_MAX: usize = 200;
/// Longest message id read.
const MESSAGE_ID_CHARS_MAX: usize = 200;

/// The gateways' shared secrets, kept as SHA-256 digests.
#[derive(Clone, Default)]
pub struct DlrSecrets {
    digests: BTreeMap<String, [u8; 32]>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl DlrSecrets {
    /// Reads `NAME=SECRET[,NAME=SECRET...]`: names of letters, digits, `-` and `_`, secrets of
    /// at least [`SECRET_CHARS_MIN`] characters without commas. Empty text: no gateway may
    /// report.
    pub fn parse(text: &str) -> Result<DlrSecrets, String> {
        let mut digests = BTreeMap::new();
        for (i, entry) in text.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let Some((name, secret)) = entry.split_once('=') else {
                return Err(format!("{SECRETS_ENV}: entry {} is not NAME=SECRET", i + 1));
            };
            let name = name.trim();
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "{SECRETS_ENV}: entry {}: `{name}` is not a gateway name (letters, digits, \
                     '-', '_', at most 64)",
                    i + 1
                ));
            }
            if secret.chars().count() < SECRET_CHARS_MIN {
                return Err(format!(
                    "{SECRETS_ENV}: the secret of gateway `{name}` is shorter than \
                     {SECRET_CHARS_MIN} characters"
                ));
            }
            if digests
                .insert(name.to_string(), digest(secret.as_bytes()))
                .is_some()
            {
                return Err(format!("{SECRETS_ENV}: gateway `{name}` is named twice"));
            }
        }
        Ok(DlrSecrets { digests })
    }

    /// Whether `given` is `gateway`'s secret. The comparison takes the same time whether the
    /// gateway is unknown, the secret is wrong in its first byte or in its last.
    pub fn check(&self, gateway: &str, given: &[u8]) -> bool {
        let given = digest(given);
        let unknown = [0u8; 32];
        let (expected, known) = match self.digests.get(gateway) {
            Some(d) => (d, true),
            None => (&unknown, false),
        };
        bool::from(given.ct_eq(expected)) && known
    }

    /// The gateways that may report.
    pub fn gateways(&self) -> impl Iterator<Item = &str> {
        self.digests.keys().map(String::as_str)
    }
}

/// What a message came to, as the gateway says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DeliveryStatus {
    /// It reached the handset.
    Delivered,
    /// It did not (switched off, unknown number, blocked, expired...).
    Undelivered,
}

/// The body of a delivery report.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryReport {
    /// The id the message was posted with (also its `Idempotency-Key`).
    #[schema(max_length = 200)]
    message_id: String,
    status: DeliveryStatus,
    /// The operator's status or reason, as the gateway gives it.
    #[serde(default)]
    #[schema(max_length = 200, required = false)]
    reason: String,
}

/// What became of a delivery report.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryReportAnswer {
    message_id: String,
    account_no: String,
    /// `delivered` or `undelivered`.
    status: &'static str,
    /// False when the report said what the message's last report said, so nothing new was
    /// recorded.
    recorded: bool,
}

/// The account a message belongs to: its id is `ACCOUNT-KIND-REFERENCE`, and an account
/// number may itself hold `-`, so each prefix before a `-` is tried.
fn account_of_message(world: &World, message_id: &str) -> Option<String> {
    message_id.match_indices('-').find_map(|(at, _)| {
        let consumer = world.consumer(&message_id[..at])?;
        consumer
            .sms
            .iter()
            .any(|m| m.message_id.as_str() == message_id)
            .then(|| consumer.account_no.to_string())
    })
}

/// `POST /sms/dlr/{gateway}`: a gateway's delivery report.
#[utoipa::path(
    post,
    path = "/sms/dlr/{gateway}",
    tag = "gateways",
    summary = "Record an SMS gateway's delivery report",
    description = "A gateway reports whether a message it accepted reached the handset. It is \
                   authenticated by its own shared secret in the `X-Dlr-Secret` header (not by \
                   an API token); an unknown gateway or a wrong secret answers 401. The report \
                   is recorded as an event; one that says what the message's last report said \
                   is answered with `recorded: false`. An unknown message answers 404.",
    params(
        ("gateway" = String, Path, description = "The gateway's name, as its secret was given to the server"),
        ("X-Dlr-Secret" = String, Header, description = "The gateway's shared secret"),
    ),
    request_body = DeliveryReport,
    responses(
        (status = 200, description = "The report is recorded (or was already)", body = DeliveryReportAnswer),
        doc::Malformed,
        doc::DlrUnauthorized,
        doc::NotFound,
        doc::PayloadTooLarge,
        doc::Unprocessable,
    ),
)]
pub(crate) async fn delivery_report(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<DeliveryReportAnswer>, ApiError> {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !state.dlr_secrets.check(&gateway, given) {
        return Err(ApiError::unauthorized(format!(
            "an unknown gateway, or no or a wrong {SECRET_HEADER} header"
        )));
    }
    let bytes = Bytes::from_request(request, &())
        .await
        .map_err(crate::api::body_error)?;
    let report = read_report(&bytes)?;
    state
        .write(move |engine| record_report(engine, gateway, report))
        .await
}

/// The report in a request's body, its fields within their bounds.
fn read_report(bytes: &[u8]) -> Result<DeliveryReport, ApiError> {
    let report: DeliveryReport = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::malformed(format!(
            "expected {{\"message_id\":\"…\",\"status\":\"delivered|undelivered\",\"reason\":\"…\"}}: {e}"
        ))
    })?;
    if report.message_id.is_empty() || report.message_id.chars().count() > MESSAGE_ID_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "message_id: must be 1 to {MESSAGE_ID_CHARS_MAX} characters"
        )));
    }
    if report.reason.chars().count() > REASON_CHARS_MAX {
        return Err(ApiError::unprocessable(format!(
            "reason: longer than {REASON_CHARS_MAX} characters"
        )));
    }
    Ok(report)
}

/// Records `gateway`'s report unless it says what the message's last report said.
fn record_report(
    engine: &mut vasooli_engine::Engine,
    gateway: String,
    report: DeliveryReport,
) -> Result<Json<DeliveryReportAnswer>, ApiError> {
    let delivered = report.status == DeliveryStatus::Delivered;
    let status = if delivered {
        "delivered"
    } else {
        "undelivered"
    };
    let message_id = report.message_id;
    let reason = report.reason;
    let Some(account_no) = account_of_message(engine.world(), &message_id) else {
        return Err(ApiError::not_found(format!(
            "no message `{message_id}` in the outbox"
        )));
    };
    let consumer = engine.world().consumer(&account_no).expect("found above");
    let last = consumer
        .sms
        .iter()
        .find(|m| m.message_id.as_str() == message_id)
        .and_then(|m| m.delivery.clone());
    let repeat = last.is_some_and(|d| d.delivered == delivered && d.reason == reason);
    if !repeat {
        engine.record(vec![Event::SmsDeliveryReported(SmsDeliveryReported {
            message_id: message_id.clone(),
            account_no: account_no.clone(),
            gateway,
            delivered,
            reason,
            at_ms: now_ms(),
        })])?;
    }
    Ok(Json(DeliveryReportAnswer {
        message_id,
        account_no,
        status,
        recorded: !repeat,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_read_and_check() {
        let secrets =
            DlrSecrets::parse("primary=0123456789abcdef, backup=fedcba9876543210xx").unwrap();
        assert!(secrets.check("primary", b"0123456789abcdef"));
        assert!(secrets.check("backup", b"fedcba9876543210xx"));
        assert!(!secrets.check("primary", b"0123456789abcdeF"));
        assert!(!secrets.check("primary", b""));
        assert!(!secrets.check("backup", b"0123456789abcdef"));
        assert!(!secrets.check("other", b"0123456789abcdef"));
        assert_eq!(
            secrets.gateways().collect::<Vec<_>>(),
            vec!["backup", "primary"]
        );
        assert!(DlrSecrets::parse("primary=short").is_err());
        assert!(DlrSecrets::parse("pri mary=0123456789abcdef").is_err());
        assert!(DlrSecrets::parse("primary").is_err());
        assert!(DlrSecrets::parse("a=0123456789abcdef,a=0123456789abcdef").is_err());
        let none = DlrSecrets::parse("").unwrap();
        assert!(!none.check("primary", b"0123456789abcdef"));
        // An unknown gateway is refused even with the all-zero digest's preimage unknown.
        assert!(!none.check("", b""));
    }
}
