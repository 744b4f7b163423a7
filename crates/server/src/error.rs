//! The API's error answers: a status and `{"error":{"code","message"}}`, with the rejected
//! rows under `details` when a batch is refused, so a client can fix every row in one pass.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use vasooli_engine::{EngineError, ErrorKind, RowError};
use vasooli_store::{StorageFault, StoreError};

/// Most rejected rows one answer lists; the count says how many there were.
const DETAILS_MAX: usize = 100;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "forbidden", "message": "a hq token may not write"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `malformed` (400), `unauthorized` (401), `forbidden` (403), `not_found` (404),
    /// `method_not_allowed` (405), `request_timeout` (408), `conflict` (409),
    /// `payload_too_large` (413), `unprocessable` (422), `headers_too_large` (431),
    /// `internal` (500), `storage_unavailable` (503: the data directory cannot be written) or
    /// `insufficient_storage` (507: its disk is full).
    #[schema(value_type = String)]
    pub code: &'static str,
    /// One line saying what, where and why.
    pub message: String,
    /// Every rejected row of a refused batch (at most 100); absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub details: Vec<Detail>,
}

/// One entry of an error's `details`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// A record of a batch or import that failed its checks.
    Row(RejectedRow),
    /// A fault in a CSV body itself: a missing or unknown column, a row that is not CSV.
    Text(String),
}

/// A record of a batch or import that failed its checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedRow {
    /// `commands[INDEX]` for a command batch, `line N` for a CSV import.
    pub location: String,
    /// The key or column at fault; empty when the record as a whole is.
    pub field: String,
    pub reason: String,
    /// The status this row alone would answer with.
    pub status: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed", message)
    }
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

fn rank(kind: ErrorKind) -> u8 {
    // The order in which checks answer (docs/API.md, "Status codes").
    match kind {
        ErrorKind::Malformed => 0,
        ErrorKind::Unprocessable => 1,
        ErrorKind::NotFound => 2,
        ErrorKind::Conflict => 3,
    }
}

/// The answer for a refused batch: the status of the first check in the documented order
/// that any row fails.
pub fn rejected(errors: &[RowError]) -> ApiError {
    let Some(worst) = errors.iter().min_by_key(|e| rank(e.kind)) else {
        return ApiError::unprocessable("the batch was rejected");
    };
    let mut error = match worst.kind {
        ErrorKind::Malformed => ApiError::malformed(worst.to_string()),
        ErrorKind::Unprocessable => ApiError::unprocessable(worst.to_string()),
        ErrorKind::NotFound => ApiError::not_found(worst.to_string()),
        ErrorKind::Conflict => ApiError::conflict(worst.to_string()),
    };
    if errors.len() > 1 {
        error.message = format!(
            "{} records rejected; first: {}",
            errors.len(),
            error.message
        );
    }
    error.details = errors
        .iter()
        .take(DETAILS_MAX)
        .map(|e| {
            Detail::Row(RejectedRow {
                location: e.location.clone(),
                field: e.field.clone(),
                reason: e.reason.clone(),
                status: match e.kind {
                    ErrorKind::Malformed => 400,
                    ErrorKind::Unprocessable => 422,
                    ErrorKind::NotFound => 404,
                    ErrorKind::Conflict => 409,
                },
            })
        })
        .collect();
    error
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Rejected(errors) => rejected(&errors),
            EngineError::Usage(message) => ApiError::unprocessable(message),
            EngineError::Store(e) => storage(&e).unwrap_or_else(|| {
                tracing::error!("engine failure: store: {e}");
                ApiError::internal("the engine failed; see the server log")
            }),
            other => {
                tracing::error!("engine failure: {other}");
                ApiError::internal("the engine failed; see the server log")
            }
        }
    }
}

/// The answer to a storage fault: 507 when the disk is full, 503 for any other fault of the
/// data directory (read-only, denied, failing, or open in another process). The message
/// names the directory and the cause; nothing of the request was recorded.
pub fn storage(e: &StoreError) -> Option<ApiError> {
    let status = match e {
        StoreError::InUse { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => match e.storage_fault()? {
            StorageFault::Full => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        },
    };
    tracing::error!("storage fault: {e}");
    let code = if status == StatusCode::INSUFFICIENT_STORAGE {
        "insufficient_storage"
    } else {
        "storage_unavailable"
    };
    Some(ApiError::new(
        status,
        code,
        format!("nothing was recorded: {e}"),
    ))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}
