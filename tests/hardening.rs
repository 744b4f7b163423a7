//! The HTTP server under attack: oversized and dribbled request heads, refusals of every
//! kind in the one JSON error shape, the token scheme, duplicate keys, officers probing
//! other offices, amounts kept from the ingest role, formula cells in CSV and request logs
//! without queries. The real server on a loopback port, raw sockets where a client library
//! would not send what an attacker sends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use vasooli_domain::Policy;
use vasooli_server::tokens::{self, Role};
use vasooli_server::AppState;

struct Server {
    addr: std::net::SocketAddr,
    base: String,
    http: reqwest::Client,
    tokens: HashMap<&'static str, String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        // The seeded data runs into 2027: the server's clock is fixed after it.
        let mut engine = vasooli_engine::Engine::open(dir.path(), Policy::default()).unwrap();
        engine.set_clock(vasooli_engine::Clock::Fixed(
            chrono::NaiveDate::from_ymd_opt(2029, 12, 31).unwrap(),
        ));
        let state = AppState::from_engine(engine).unwrap();
        let mut tokens = HashMap::new();
        for (name, role, office) in [
            ("admin", Role::Admin, None),
            ("officer_s1", Role::Officer, Some("S1")),
            ("ingest", Role::Ingest, None),
        ] {
            let token =
                tokens::create(state.tokens(), role, office.map(str::to_string), name).unwrap();
            tokens.insert(name, token);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(vasooli_server::serve_listener(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            tokens,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        body: Option<String>,
    ) -> (StatusCode, String) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = authorization {
            request = request.header("Authorization", a);
        }
        if let Some(b) = body {
            request = request.body(b);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    async fn as_role(
        &self,
        role: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let auth = format!("Bearer {}", self.tokens[role]);
        self.call(method, path, Some(auth), body.map(|b| b.to_string()))
            .await
    }

    async fn post(&self, role: &str, path: &str, body: Value) -> (StatusCode, String) {
        self.as_role(role, Method::POST, path, Some(body)).await
    }

    async fn log_position(&self) -> u64 {
        let (_, text) = self.call(Method::GET, "/metrics", None, None).await;
        text.lines()
            .find_map(|l| l.strip_prefix("vasooli_log_position "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// Z1 > C1 > D1 > {S1, S2}; A1 in S1 and A2 in S2, each with an unpaid bill; camp K2 and
/// grievance G2 in S2; a nightly run.
async fn seeded() -> Server {
    let server = Server::start().await;
    let commands = json!([
        {"type":"register_office","code":"Z1","name":"Zone","level":"zone"},
        {"type":"register_office","code":"C1","name":"Circle","level":"circle","parent":"Z1"},
        {"type":"register_office","code":"D1","name":"Division","level":"division","parent":"C1"},
        {"type":"register_office","code":"S1","name":"Sub one","level":"subdivision","parent":"D1"},
        {"type":"register_office","code":"S2","name":"Sub two","level":"subdivision","parent":"D1"},
        {"type":"register_consumer","account_no":"A1","name":"=1+2","category":"domestic",
         "subdivision":"S1","load_kw":"2","connected_on":"2026-01-01"},
        {"type":"register_consumer","account_no":"A2","name":"Bhim","category":"domestic",
         "subdivision":"S2","load_kw":"2","connected_on":"2026-01-01"},
        {"type":"issue_bill","bill_no":"B1","account_no":"A1","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"1200.00"},
        {"type":"issue_bill","bill_no":"B3","account_no":"A2","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"3000.00"},
        {"type":"schedule_camp","camp_id":"K2","subdivision":"S2","on":"2026-09-10","venue":"School"},
        {"type":"register_grievance","grievance_id":"G2","subdivision":"S2","category":"billing",
         "registered_on":"2026-09-10"}
    ]);
    let (status, body) = server.post("admin", "/api/v1/commands", commands).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post("admin", "/api/v1/nightly", json!({"as_of":"2026-09-30"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
}

/// The error body's code, asserting the one documented shape.
fn error_code(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    assert!(v["error"]["message"].is_string(), "{text}");
    v["error"]["code"].as_str().unwrap().to_string()
}

/// Sends `head` on a raw connection while reading the answer, and returns what came back
/// (at most `limit` bytes) once the server closes or stops sending.
fn raw_exchange(addr: std::net::SocketAddr, head: Vec<u8>, limit: usize) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The server may answer and close before the head is all sent.
        let _ = writer.write_all(&head);
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 64 << 10];
    while answer.len() < limit {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    drop(stream);
    let _ = sender.join();
    answer
}

fn status_and_body(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_get_a_small_431() {
    let server = Server::start().await;
    let addr = server.addr;
    // Many fields of one repeated name, and one huge field: read, then refused in JSON.
    let many = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        "X-Repeat: aaaaaaaaaaaaaaaa\r\n".repeat(150)
    );
    let wide = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Wide: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(40 << 10)
    );
    for head in [many, wide] {
        let answer =
            tokio::task::spawn_blocking(move || raw_exchange(addr, head.into_bytes(), 1 << 20))
                .await
                .unwrap();
        let (status, body) = status_and_body(&answer);
        assert_eq!(status, 431, "{}", String::from_utf8_lossy(&answer));
        assert_eq!(error_code(&body), "headers_too_large");
        assert!(answer.len() < 2_000, "{} bytes", answer.len());
    }
    // 2 MB of repeated fields: the connection reads a bounded part of it and answers
    // briefly, whatever the rest holds.
    let huge = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: x\r\n{}\r\n",
        "Authorization: Bearer xxxxxxxxxxxxxxxx\r\n".repeat((2 << 20) / 40)
    );
    let answer =
        tokio::task::spawn_blocking(move || raw_exchange(addr, huge.into_bytes(), 100 << 20))
            .await
            .unwrap();
    assert!(answer.len() < 2_000, "{} bytes answered", answer.len());
    if !answer.is_empty() {
        assert_eq!(
            status_and_body(&answer).0,
            431,
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    // The server still answers.
    let (status, _) = server.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_byte_by_byte_is_cut_off() {
    let server = Server::start().await;
    let addr = server.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        // At most 30 s of dribbling: a bound on the loop, not a claim about speed.
        for _ in 0..150 {
            if stream.write_all(b"a").is_err() {
                return true;
            }
            let mut buffer = [0u8; 1024];
            match stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(_) => {} // an answer (408) before the close
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return true,
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(
        closed,
        "the connection was still open after 30 s of dribbling"
    );
    let (status, _) = server.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_the_json_error_body() {
    let server = seeded().await;
    let admin = Some(format!("Bearer {}", server.tokens["admin"]));
    let cases: Vec<(Method, &str, Option<String>, u16, &str)> = vec![
        // 401 comes before 405 under the API.
        (
            Method::DELETE,
            "/api/v1/commands",
            None,
            401,
            "unauthorized",
        ),
        (Method::PUT, "/api/v1/me", None, 401, "unauthorized"),
        (
            Method::DELETE,
            "/api/v1/commands",
            admin.clone(),
            405,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/api/v1/me",
            admin.clone(),
            405,
            "method_not_allowed",
        ),
        (Method::POST, "/health", None, 405, "method_not_allowed"),
        (
            Method::DELETE,
            "/api/openapi.json",
            None,
            405,
            "method_not_allowed",
        ),
        // Paths that do not decode.
        (
            Method::GET,
            "/api/v1/consumers/%FF%FE",
            admin.clone(),
            400,
            "malformed",
        ),
        (
            Method::GET,
            "/api/v1/offices/%C3%28/defaulters",
            admin.clone(),
            400,
            "malformed",
        ),
        (
            Method::GET,
            "/api/v1/offices/S1/worklists/%E0%A4",
            admin.clone(),
            400,
            "malformed",
        ),
        (Method::GET, "/api/v1/nowhere", None, 401, "unauthorized"),
        (Method::GET, "/nowhere", None, 404, "not_found"),
    ];
    for (method, path, auth, status, code) in cases {
        let (got, body) = server.call(method.clone(), path, auth.clone(), None).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {body}");
        assert_eq!(error_code(&body), code, "{method} {path}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let server = seeded().await;
    let token = server.tokens["admin"].clone();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, body) = server
            .call(
                Method::GET,
                "/api/v1/me",
                Some(format!("{scheme} {token}")),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
    }
    for auth in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        token.clone(),
    ] {
        let (status, body) = server
            .call(Method::GET, "/api/v1/me", Some(auth), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_naming_a_key_twice_is_refused() {
    let server = seeded().await;
    let before = server.log_position().await;
    let body = r#"{"type":"receive_payment","receipt_no":"R9","account_no":"A1","amount":"1.00","paid_on":"2026-09-01","channel":"upi","amount":"900.00"}"#;
    let auth = Some(format!("Bearer {}", server.tokens["admin"]));
    let (status, text) = server
        .call(
            Method::POST,
            "/api/v1/commands",
            auth.clone(),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(error_code(&text), "malformed");
    assert!(text.contains("`amount` is given twice"), "{text}");
    let nested = format!(
        "[{}]",
        body.replace("\"amount\":\"900.00\"", "\"x\":{\"a\":1,\"a\":2}")
    );
    let (status, text) = server
        .call(Method::POST, "/api/v1/commands", auth, Some(nested))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("`a` is given twice"), "{text}");
    assert_eq!(server.log_position().await, before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_cannot_tell_what_exists_outside_their_office() {
    let server = seeded().await;
    let before = server.log_position().await;
    let grievance = |id: &str, extra: Value| {
        let mut c = json!({"type":"register_grievance","grievance_id":id,"subdivision":"S1",
                           "category":"billing","registered_on":"2026-09-20"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // Each pair: something that exists in S2, and the same kind of thing that exists nowhere.
    let pairs = [
        (
            grievance("G10", json!({"account_no":"A2"})),
            grievance("G10", json!({"account_no":"NOPE"})),
        ),
        (
            grievance("G11", json!({"camp_id":"K2"})),
            grievance("G11", json!({"camp_id":"NOPE"})),
        ),
        (
            json!({"type":"disconnect","account_no":"A2","on":"2026-09-30","order_no":"O1"}),
            json!({"type":"disconnect","account_no":"NOPE","on":"2026-09-30","order_no":"O1"}),
        ),
        (
            json!({"type":"hold_camp","camp_id":"K2","held_on":"2026-09-10","officers_present":["SDO"]}),
            json!({"type":"hold_camp","camp_id":"NOPE","held_on":"2026-09-10","officers_present":["SDO"]}),
        ),
    ];
    for (elsewhere, nowhere) in pairs {
        let mut answers = Vec::new();
        for (name, command) in [("K2|A2", elsewhere), ("NOPE", nowhere)] {
            // Alone, and after a command of the officer's own that is fine.
            let batch = json!([
                {"type":"schedule_camp","camp_id":"K1","subdivision":"S1","on":"2026-10-10","venue":"Hall"},
                command
            ]);
            let (status, text) = server.post("officer_s1", "/api/v1/commands", batch).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
            let mut masked = text.clone();
            for id in name.split('|') {
                masked = masked.replace(id, "ID");
            }
            answers.push(masked);
        }
        assert_eq!(answers[0], answers[1], "the answers differ");
    }
    // A camp or grievance id already used in another office is refused as outside, not as a
    // conflict that would tell it exists.
    for command in [
        json!({"type":"schedule_camp","camp_id":"K2","subdivision":"S1","on":"2026-10-10","venue":"Hall"}),
        grievance("G2", json!({})),
    ] {
        let (status, text) = server.post("officer_s1", "/api/v1/commands", command).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    }
    assert_eq!(server.log_position().await, before);
    // Within the office, the same commands still work.
    let (status, text) = server
        .post(
            "officer_s1",
            "/api/v1/commands",
            grievance("G12", json!({"account_no":"A1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_sent_to_ingest_hold_no_amounts() {
    let server = seeded().await;
    let (status, text) = server
        .post(
            "ingest",
            "/api/v1/commands",
            json!({"type":"revise_bill","bill_no":"B1","revised_on":"2026-09-01",
                   "new_amount":"5000.00","reason":"probe"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(!text.contains("1200"), "{text}");
    assert!(!text.contains("5000"), "{text}");
    assert!(text.contains("[amount]"), "{text}");
    // Admins still see the figures.
    let (status, text) = server
        .post(
            "admin",
            "/api/v1/commands",
            json!({"type":"revise_bill","bill_no":"B1","revised_on":"2026-09-01",
                   "new_amount":"5000.00","reason":"probe"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("1200.00"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_lists_quote_formula_text() {
    let server = seeded().await;
    let (status, csv) = server
        .as_role(
            "admin",
            Method::GET,
            "/api/v1/offices/S1/defaulters?format=csv",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let name = headers.iter().position(|h| h == "name").unwrap();
    let arrears = headers.iter().position(|h| h == "overdue_arrears").unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[name], "'=1+2");
    assert!(row[arrears].starts_with("12"), "{}", &row[arrears]);
    let (_, json) = server
        .as_role("admin", Method::GET, "/api/v1/offices/S1/defaulters", None)
        .await;
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["name"], "=1+2");
    server.stop().await;
}

/// A log writer the test can read back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn request_logs_hold_the_path_but_never_the_query() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = seeded().await;
    let (status, _) = server
        .as_role(
            "admin",
            Method::GET,
            "/api/v1/offices/S1/defaulters?min_arrears=4321.09&format=csv",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(Method::GET, "/health?secret=hunter2", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("/api/v1/offices/S1/defaulters"), "{log}");
    assert!(!log.contains("4321.09"), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nightly_run_far_past_the_last_is_refused_over_http() {
    let server = seeded().await;
    let before = server.log_position().await;
    let (status, text) = server
        .post("admin", "/api/v1/nightly", json!({"as_of":"2028-01-01"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("366 days"), "{text}");
    assert_eq!(server.log_position().await, before);
    let (status, text) = server
        .post("admin", "/api/v1/nightly", json!({"as_of":"2027-09-30"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    server.stop().await;
}
