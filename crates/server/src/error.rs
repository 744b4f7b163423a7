//! The API's error answers: a status and `{"error":{"code","message"}}`, with the rejected
//! rows under `details` when a batch is refused, so a client can fix every row in one pass.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use vasooli_projections::{EngineError, ErrorKind, RowError};

/// Most rejected rows one answer lists; the count says how many there were.
const DETAILS_MAX: usize = 100;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
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
    // The order in which INTERFACES.md says checks answer.
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
            json!({
                "location": e.location,
                "field": e.field,
                "reason": e.reason,
                "status": match e.kind {
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
            other => {
                tracing::error!("engine failure: {other}");
                ApiError::internal("the engine failed; see the server log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details);
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}
