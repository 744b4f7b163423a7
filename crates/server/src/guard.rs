//! What every request passes before and after its route: caps on the request head, the
//! connection's timeouts, one JSON error body for every refusal, and log spans that hold
//! the path only.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Most header fields a request may carry.
pub const HEADERS_MAX: usize = 100;
/// Most bytes the header fields of a request may hold, names and values together.
pub const HEADER_BYTES_MAX: usize = 32 << 10;
/// The most the connection reads of a request head before it answers 431 and closes; above
/// the two caps above, so that a head over them is still read and answered with the JSON
/// error, and small, so that a huge head costs the server little.
pub const HEAD_BUFFER_MAX: usize = 128 << 10;
/// Most header fields the connection parses; above `HEADERS_MAX` for the same reason.
pub const HEAD_FIELDS_MAX: usize = 2 * HEADERS_MAX;
/// Time a client has to send a request's whole head; a connection that dribbles it is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client may leave a request body without sending more of it.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a read may take before it answers 408. Writes have none: their answer says the
/// events are durable, and a write that was started is finished whatever the client does.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest piece of a framework's plain-text refusal kept in the JSON error message.
const FRAMEWORK_TEXT_MAX: usize = 200;

/// Refuses a request whose header fields are too many or too large with 431, before any
/// route or token is looked at.
pub async fn header_limits(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > HEADERS_MAX || bytes > HEADER_BYTES_MAX {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request's header fields are too many or too large (at most \
                 {HEADERS_MAX} fields and {HEADER_BYTES_MAX} bytes)"
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// The error code of a status.
pub fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "malformed",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "refused",
    }
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Turns a refusal made by the framework rather than a handler (a path that does not
/// decode, a method a route does not take, a timeout) into the same JSON error body as
/// every other: `{"error":{"code","message"}}`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = match one_line(text.trim(), FRAMEWORK_TEXT_MAX) {
        m if m.is_empty() => status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_string(),
        m => m,
    };
    let mut answer = ApiError::new(status, code_of(status), message).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

/// `text` on one line: control characters escaped, cut after `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The log span of a request: its method and path, never its query (which may hold
/// account numbers or other filters) nor its headers (which hold tokens).
pub fn span(request: &Request) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// The HTTP/1 settings of every connection: capped request heads and a deadline for them.
pub fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(HEAD_BUFFER_MAX)
        .max_headers(HEAD_FIELDS_MAX);
    builder
}
