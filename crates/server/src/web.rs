//! The officers' web page at `GET /`: plain HTML, CSS and a little JavaScript, compiled into
//! the binary so that the server needs no files beside its data directory and the page loads
//! nothing from another host. The page talks to the same `/api/v1/` routes as any other
//! client, with the token the officer types in; the files themselves are open.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("web/index.html");
const PAGE_JS: &str = include_str!("web/page.js");
const PAGE_CSS: &str = include_str!("web/page.css");

/// Only this server's own script and styles may run. Inline styles stay allowed because a
/// printable notices document, opened from the page, inherits the page's policy and carries
/// its style inline.
const PAGE_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // A new binary brings a new page; revalidating keeps officers off a stale script.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    summary = "The officers' web page",
    responses((
        status = 200,
        description = "The page",
        body = String,
        content_type = "text/html",
    )),
)]
pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /page.js`.
#[utoipa::path(
    get,
    path = "/page.js",
    tag = "page",
    summary = "The web page's script",
    responses((
        status = 200,
        description = "The script",
        body = String,
        content_type = "text/javascript",
    )),
)]
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

/// `GET /page.css`.
#[utoipa::path(
    get,
    path = "/page.css",
    tag = "page",
    summary = "The web page's style sheet",
    responses((
        status = 200,
        description = "The style sheet",
        body = String,
        content_type = "text/css",
    )),
)]
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}
