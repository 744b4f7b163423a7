//! Sending the outbox against a loopback gateway (axum on 127.0.0.1) that answers after a
//! set latency: messages a second with requests in flight together, beside the one-at-a-time
//! sender measured in the same run.
//!
//! `cargo bench -p vasooli-sms --bench sms_bench`; environment:
//! - `SMS_BENCH_LATENCY_MS`: the gateway's latencies to measure, comma-separated (`100,0`);
//! - `SMS_BENCH_IN_FLIGHT`: the in-flight bounds to measure, comma-separated (`64`);
//! - `SMS_BENCH_MESSAGES`: messages per concurrent run (`3000`);
//! - `SMS_BENCH_BASELINE_MESSAGES`: messages per one-at-a-time run (`50`).
//!
//! Every run starts from a fresh data directory whose nightly run queued one bill SMS per
//! consumer; the gateway counts posts and distinct idempotency keys, and the bench checks
//! that each message was posted exactly once and recorded as sent.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vasooli_domain::{Command, Policy};
use vasooli_engine::{Engine, Input};
use vasooli_sms::{send_outbox, send_outbox_one_at_a_time, SendOptions};

#[derive(Default)]
struct Seen {
    posts: usize,
    keys: HashSet<String>,
}

#[derive(Clone)]
struct Gateway {
    latency: Duration,
    seen: Arc<Mutex<Seen>>,
}

async fn accept(State(g): State<Gateway>, headers: HeaderMap) -> (StatusCode, &'static str) {
    if !g.latency.is_zero() {
        tokio::time::sleep(g.latency).await;
    }
    let key = headers
        .get("Idempotency-Key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut seen = g.seen.lock().unwrap();
    seen.posts += 1;
    seen.keys.insert(key);
    (StatusCode::OK, "{}")
}

/// Starts the gateway on its own runtime; its URL and what it saw.
fn start_gateway(latency: Duration) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = Gateway {
        latency,
        seen: seen.clone(),
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/v1/sms", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = Router::new()
                .route("/v1/sms", post(accept))
                .with_state(state);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (url, seen)
}

fn command(value: serde_json::Value) -> Command {
    Command::from_json(&value).expect("a well-formed command")
}

/// A data directory whose nightly run queued one bill SMS for each of `messages` consumers.
fn seeded(messages: usize) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    let mut commands = vec![
        command(
            serde_json::json!({"type": "register_office", "code": "Z1", "name": "Zone", "level": "zone"}),
        ),
        command(
            serde_json::json!({"type": "register_office", "code": "C1", "name": "Circle", "level": "circle", "parent": "Z1"}),
        ),
        command(
            serde_json::json!({"type": "register_office", "code": "D1", "name": "Division", "level": "division", "parent": "C1"}),
        ),
        command(
            serde_json::json!({"type": "register_office", "code": "S1", "name": "Subdivision", "level": "subdivision", "parent": "D1"}),
        ),
    ];
    for i in 0..messages {
        commands.push(command(serde_json::json!({
            "type": "register_consumer", "account_no": format!("A{i:07}"), "name": "Consumer",
            "category": "domestic", "subdivision": "S1", "load_kw": "2", "connected_on": "2020-01-01",
            "mobile": format!("98{i:08}"), "language": if i % 2 == 0 { "hi" } else { "en" }})));
        commands.push(command(serde_json::json!({
            "type": "issue_bill", "bill_no": format!("B{i:07}"), "account_no": format!("A{i:07}"),
            "period": "2026-07", "issued_on": "2026-07-05", "due_on": "2026-07-20",
            "amount": "1234.50"})));
    }
    engine
        .execute_with_progress(Input::all_at("bench", commands), &mut |_, _| {})
        .unwrap();
    engine
        .nightly(chrono::NaiveDate::from_ymd_opt(2026, 7, 5).unwrap())
        .unwrap();
    (dir, engine)
}

fn env_list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name}: `{v}`")))
        .collect()
}

/// One run: the sender's messages a second, after checking every message went once.
fn run(latency_ms: u64, messages: usize, in_flight: Option<usize>) -> f64 {
    let (_dir, mut engine) = seeded(messages);
    let (url, seen) = start_gateway(Duration::from_millis(latency_ms));
    let started = Instant::now();
    let report = match in_flight {
        Some(in_flight) => send_outbox(
            &mut engine,
            &url,
            &SendOptions {
                timeout_ms: 30_000,
                in_flight,
            },
        ),
        None => send_outbox_one_at_a_time(&mut engine, &url, 30_000),
    }
    .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let seen = seen.lock().unwrap();
    assert_eq!(report.sent, messages, "{report:?}");
    assert_eq!(seen.posts, messages, "each message posted once");
    assert_eq!(seen.keys.len(), messages);
    assert!(vasooli_sms::pending(&engine).is_empty());
    messages as f64 / elapsed
}

fn main() {
    let latencies = env_list("SMS_BENCH_LATENCY_MS", "100,0");
    let bounds = env_list("SMS_BENCH_IN_FLIGHT", "64");
    let messages = env_list("SMS_BENCH_MESSAGES", "3000")[0] as usize;
    let baseline_messages = env_list("SMS_BENCH_BASELINE_MESSAGES", "50")[0] as usize;
    println!(
        "{:>10} {:>10} {:>9} {:>12} {:>10}",
        "latency_ms", "in_flight", "messages", "messages/s", "x baseline"
    );
    for latency in latencies {
        let baseline = run(latency, baseline_messages, None);
        println!(
            "{:>10} {:>10} {:>9} {:>12.1} {:>10}",
            latency, "1 (old)", baseline_messages, baseline, "1.0"
        );
        for &bound in &bounds {
            let rate = run(latency, messages, Some(bound as usize));
            println!(
                "{:>10} {:>10} {:>9} {:>12.1} {:>10.1}",
                latency,
                bound,
                messages,
                rate,
                rate / baseline
            );
        }
    }
}
