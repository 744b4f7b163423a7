//! Prometheus counters: requests by method, route template and status, and the log's
//! position. Routes are counted by their template (`/api/v1/consumers/{account_no}`), never
//! by the concrete path, so account numbers do not leak into metrics and the series stay few.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// More of the exposition, from whoever runs the server (a partition's owner: its partition).
pub type ExtraMetrics = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    extra: Mutex<Option<ExtraMetrics>>,
}

impl Metrics {
    pub fn count(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
    }

    /// Adds what `extra` renders to every exposition.
    pub fn set_extra(&self, extra: ExtraMetrics) {
        if let Ok(mut slot) = self.extra.lock() {
            *slot = Some(extra);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, log_position: u64) -> String {
        let mut out = String::new();
        out.push_str("# HELP vasooli_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE vasooli_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((method, route, status), count) in map.iter() {
                let _ = writeln!(
                    out,
                    "vasooli_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP vasooli_log_position The last position in the event log.\n");
        out.push_str("# TYPE vasooli_log_position gauge\n");
        let _ = writeln!(out, "vasooli_log_position {log_position}");
        let extra = self.extra.lock().ok().and_then(|slot| slot.clone());
        if let Some(extra) = extra {
            out.push_str(&extra());
        }
        out
    }
}

/// Middleware counting each matched request once its answer is known.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state
        .metrics
        .count(&method, &route, response.status().as_u16());
    response
}
