//! End-to-end tests of the HTTP API: the real server on a loopback port, a fresh data
//! directory seeded through the API itself, and every answer checked by status and body.
//! The role matrix pins down who may do what; the error cases pin down the check order and
//! that a refused write leaves the log exactly as it was.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use vasooli_domain::Policy;
use vasooli_server::tokens::{self, Role};
use vasooli_server::AppState;

struct Server {
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
        let state = AppState::open(dir.path(), Policy::default()).unwrap();
        let mut tokens = HashMap::new();
        for (name, role, office) in [
            ("admin", Role::Admin, None),
            ("finance", Role::Finance, None),
            ("hq", Role::Hq, None),
            ("officer_s1", Role::Officer, Some("S1")),
            ("officer_d1", Role::Officer, Some("D1")),
            ("ingest", Role::Ingest, None),
        ] {
            let token =
                tokens::create(state.tokens(), role, office.map(str::to_string), name).unwrap();
            tokens.insert(name, token);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(vasooli_server::serve_listener(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            base,
            // No idle connections kept: the server closes a connection after answering an
            // oversized body without reading it, and a kept connection could be reused
            // while it closes.
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
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, String) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
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
        let token = self.tokens[role].clone();
        self.call(method, path, Some(&token), body.map(|b| b.to_string()))
            .await
    }

    async fn admin_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, text) = self.as_role("admin", Method::POST, path, Some(body)).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn log_position(&self) -> u64 {
        let (status, text) = self.call(Method::GET, "/metrics", None, None).await;
        assert_eq!(status, StatusCode::OK);
        text.lines()
            .find_map(|l| l.strip_prefix("vasooli_log_position "))
            .expect("the gauge is exported")
            .trim()
            .parse()
            .unwrap()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// The offices Z1 > C1 > D1 > {S1, S2}, consumer A1 in S1 with the bills and payment of
/// the ledger's worked example in docs/RULES.md, consumer A2 in S2 with one large unpaid bill, and a nightly run.
async fn seeded() -> Server {
    let server = Server::start().await;
    let commands = json!([
        {"type":"register_office","code":"Z1","name":"Zone","level":"zone"},
        {"type":"register_office","code":"C1","name":"Circle","level":"circle","parent":"Z1"},
        {"type":"register_office","code":"D1","name":"Division","level":"division","parent":"C1"},
        {"type":"register_office","code":"S1","name":"Sub one","level":"subdivision","parent":"D1"},
        {"type":"register_office","code":"S2","name":"Sub two","level":"subdivision","parent":"D1"},
        {"type":"register_consumer","account_no":"A1","name":"Asha","category":"domestic",
         "subdivision":"S1","load_kw":"2","connected_on":"2026-01-01"},
        {"type":"register_consumer","account_no":"A2","name":"Bhim","category":"domestic",
         "subdivision":"S2","load_kw":"2","connected_on":"2026-01-01"},
        {"type":"issue_bill","bill_no":"B1","account_no":"A1","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"1200.00"},
        {"type":"issue_bill","bill_no":"B2","account_no":"A1","period":"2026-07",
         "issued_on":"2026-08-05","due_on":"2026-08-20","amount":"1500.00"},
        {"type":"issue_bill","bill_no":"B3","account_no":"A2","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"3000.00"},
        {"type":"receive_payment","receipt_no":"P1","account_no":"A1","amount":"700.00",
         "paid_on":"2026-08-10","channel":"upi"}
    ]);
    let (status, body) = server.admin_post("/api/v1/commands", commands).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["read"], 11);
    assert_eq!(body["appended"], 11);
    let (status, body) = server
        .admin_post("/api/v1/nightly", json!({"as_of":"2026-09-30"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
}

fn error_code(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert!(v["error"]["message"].is_string(), "{text}");
    v["error"]["code"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_exactly_its_routes() {
    let server = seeded().await;
    let roles = [
        "admin",
        "finance",
        "hq",
        "officer_s1",
        "officer_d1",
        "ingest",
    ];
    // Expected statuses in the order of `roles`.
    let reads: &[(&str, [u16; 6])] = &[
        (
            "/api/v1/offices/S1/defaulters",
            [200, 200, 200, 200, 200, 403],
        ),
        (
            "/api/v1/offices/S2/defaulters",
            [200, 200, 200, 403, 200, 403],
        ),
        ("/api/v1/consumers/A1", [200, 200, 200, 200, 200, 403]),
        ("/api/v1/consumers/A2", [200, 200, 200, 403, 200, 403]),
        (
            "/api/v1/offices/D1/worklists/serve_notice",
            [200, 200, 200, 403, 200, 403],
        ),
        (
            "/api/v1/rankings?period=2026-08&level=subdivision",
            [200, 200, 200, 403, 403, 403],
        ),
        (
            "/api/v1/awards?period=2026-08",
            [200, 200, 200, 403, 403, 403],
        ),
        (
            "/api/v1/offices/S1/campaign",
            [200, 200, 200, 200, 200, 403],
        ),
        (
            "/api/v1/offices/D1/camps?period=2026-08",
            [200, 200, 200, 403, 200, 403],
        ),
    ];
    for (path, expected) in reads {
        for (role, want) in roles.iter().zip(expected) {
            let (status, text) = server.as_role(role, Method::GET, path, None).await;
            assert_eq!(status.as_u16(), *want, "{role} GET {path}: {text}");
            if *want == 403 {
                assert_eq!(error_code(&text), "forbidden");
            }
        }
    }
    let writes: [u16; 6] = [200, 200, 403, 403, 403, 200];
    for (role, want) in roles.iter().zip(writes) {
        let before = server.log_position().await;
        let payment = json!({"type":"receive_payment","receipt_no":format!("R-{role}"),
            "account_no":"A1","amount":"10.00","paid_on":"2026-09-15","channel":"counter_cash"});
        let (status, text) = server
            .as_role(role, Method::POST, "/api/v1/commands", Some(payment))
            .await;
        assert_eq!(status.as_u16(), want, "{role} POST payment: {text}");
        let after = server.log_position().await;
        assert_eq!(after, before + u64::from(want == 200), "{role}");
    }
    let nightly: [u16; 6] = [200, 200, 403, 403, 403, 403];
    for (role, want) in roles.iter().zip(nightly) {
        let (status, text) = server
            .as_role(
                role,
                Method::POST,
                "/api/v1/nightly",
                Some(json!({"as_of":"2026-09-30"})),
            )
            .await;
        assert_eq!(status.as_u16(), want, "{role} POST nightly: {text}");
    }
    // Officer actions: outside the office is 403 before the state is even looked at;
    // inside it, a disconnection with no served notice breaks a rule (422).
    let disconnect =
        json!({"type":"disconnect","account_no":"A2","on":"2026-09-30","order_no":"O-1"});
    let (status, text) = server
        .as_role(
            "officer_s1",
            Method::POST,
            "/api/v1/commands",
            Some(disconnect.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, text) = server
        .as_role(
            "officer_d1",
            Method::POST,
            "/api/v1/commands",
            Some(disconnect),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    // Ingest may send bills but not offices; officers may not import at all.
    let (status, _) = server
        .as_role(
            "ingest",
            Method::POST,
            "/api/v1/commands",
            Some(json!({"type":"register_office","code":"S9","name":"x","level":"subdivision","parent":"D1"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/import/payments",
            Some(&server.tokens["officer_s1"]),
            Some("receipt_no,account_no,amount,paid_on,channel\n".into()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_in_the_documented_order_and_write_nothing() {
    let server = seeded().await;
    let path = "/api/v1/offices/S1/defaulters";
    let (status, text) = server.call(Method::GET, path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&text), "unauthorized");
    let (status, _) = server
        .call(Method::GET, path, Some("vso_0123456789abcdef"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .call(Method::GET, "/api/v1/no/such/route", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = server.tokens["admin"].clone();
    let (status, _) = server
        .call(Method::GET, "/api/v1/no/such/route", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            "{\"type\":".to_string(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "unknown key",
            json!({"type":"receive_payment","receipt_no":"R-9","account_no":"A1","amount":"1.00",
                   "paid_on":"2026-09-01","channel":"upi","colour":"red"})
            .to_string(),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "three decimals",
            json!({"type":"receive_payment","receipt_no":"R-9","account_no":"A1","amount":"1.005",
                   "paid_on":"2026-09-01","channel":"upi"})
            .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "unknown account",
            json!({"type":"receive_payment","receipt_no":"R-9","account_no":"NOPE","amount":"1.00",
                   "paid_on":"2026-09-01","channel":"upi"})
            .to_string(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "conflicting receipt",
            json!({"type":"receive_payment","receipt_no":"P1","account_no":"A1","amount":"701.00",
                   "paid_on":"2026-08-10","channel":"upi"})
            .to_string(),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "a good command with a bad one",
            json!([{"type":"receive_payment","receipt_no":"R-10","account_no":"A1","amount":"1.00",
                    "paid_on":"2026-09-01","channel":"upi"},
                   {"type":"receive_payment","receipt_no":"R-11","account_no":"A1","amount":"1.001",
                    "paid_on":"2026-09-01","channel":"upi"}])
            .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "oversized body",
            format!("[{}]", " ".repeat(2 << 20)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (what, body, want, code) in cases {
        let before = server.log_position().await;
        let (status, text) = server
            .call(Method::POST, "/api/v1/commands", Some(&admin), Some(body))
            .await;
        assert_eq!(status, want, "{what}: {text}");
        assert_eq!(error_code(&text), code, "{what}");
        assert_eq!(
            server.log_position().await,
            before,
            "{what} wrote something"
        );
    }

    // A nightly date before the last run's breaks a rule.
    let before = server.log_position().await;
    let (status, _) = server
        .admin_post("/api/v1/nightly", json!({"as_of":"2026-09-01"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server
        .admin_post("/api/v1/nightly", json!({"as_of":"2026-10-01","x":1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.log_position().await, before);

    // Unknown offices: 404 for those who may read everything, 403 for an officer.
    let (status, text) = server
        .as_role("admin", Method::GET, "/api/v1/offices/XX/defaulters", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    let (status, _) = server
        .as_role(
            "officer_d1",
            Method::GET,
            "/api/v1/offices/XX/defaulters",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .as_role("admin", Method::GET, "/api/v1/consumers/NOPE", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bad query parameters are malformed; an oversized page breaks a rule.
    let (status, _) = server
        .as_role(
            "admin",
            Method::GET,
            "/api/v1/offices/S1/defaulters?colour=red",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .as_role(
            "admin",
            Method::GET,
            "/api/v1/offices/S1/defaulters?limit=10001",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_payment_twice_is_one_event() {
    let server = seeded().await;
    let payment = json!({"type":"receive_payment","receipt_no":"R-77","account_no":"A2",
        "amount":"100.00","paid_on":"2026-09-20","channel":"upi"});
    let (status, first) = server.admin_post("/api/v1/commands", payment.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["appended"], 1);
    let position = server.log_position().await;
    assert_eq!(first["last_position"], position);
    let (status, second) = server.admin_post("/api/v1/commands", payment).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["appended"], 0);
    assert_eq!(second["duplicates"], 1);
    assert_eq!(server.log_position().await, position);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_come_as_json_or_csv_with_the_documented_columns() {
    let server = seeded().await;
    let (status, text) = server
        .as_role("hq", Method::GET, "/api/v1/offices/D1/defaulters", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
    let accounts: Vec<&str> = rows
        .iter()
        .map(|r| r["account_no"].as_str().unwrap())
        .collect();
    // A2 owes more, so it comes first.
    assert_eq!(accounts, ["A2", "A1"], "{text}");
    let a1 = &rows[1];
    // The worked example of docs/RULES.md as of 2026-09-30.
    assert_eq!(a1["overdue_arrears"], "2031.25");
    assert_eq!(a1["days_overdue"], "72");
    assert_eq!(a1["aging_bucket"], "61-90");
    assert_eq!(a1["mobile_registered"], "no");
    assert!(a1.as_object().unwrap().contains_key("notice_served_on"));

    let response = server
        .http
        .get(format!(
            "{}/api/v1/offices/D1/defaulters?format=csv&limit=1",
            server.base
        ))
        .bearer_auth(&server.tokens["finance"])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("account_no,name,category,subdivision,division,circle,"));
    assert!(lines[0].ends_with(",hold"));
    assert!(lines[1].starts_with("A2,"));

    let (status, text) = server
        .as_role("officer_s1", Method::GET, "/api/v1/consumers/A1", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let statement: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(statement["account_no"], "A1");
    assert_eq!(statement["total_charges"], "2731.25");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_open_routes_and_metrics() {
    let server = seeded().await;
    let csv = "receipt_no,account_no,amount,paid_on,channel\nR-I1,A1,50.00,2026-09-21,upi\nR-I2,A2,60.00,2026-09-21,counter_cash\n";
    let before = server.log_position().await;
    let (status, text) = server
        .call(
            Method::POST,
            "/api/v1/import/payments",
            Some(&server.tokens["ingest"]),
            Some(csv.into()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["appended"], 2);
    assert_eq!(server.log_position().await, before + 2);
    // A bad column is malformed and writes nothing.
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/import/payments",
            Some(&server.tokens["ingest"]),
            Some("receipt_no,account_no,amount,paid_on,channel,colour\n".into()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/import/offices",
            Some(&server.tokens["ingest"]),
            Some("code,name,level,parent\n".into()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/import/widgets",
            Some(&server.tokens["admin"]),
            Some("a\n".into()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(server.log_position().await, before + 2);

    let (status, text) = server.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"status":"ok"})
    );
    let (status, text) = server
        .call(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["paths"]["/api/v1/offices/{code}/defaulters"]["get"].is_object());
    let (_, metrics) = server.call(Method::GET, "/metrics", None, None).await;
    assert!(
        metrics.contains(
            "vasooli_http_requests_total{method=\"POST\",route=\"/api/v1/import/{kind}\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    // Tokens never reach the metrics.
    assert!(!metrics.contains("vso_"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_before_the_first_nightly_run_are_unprocessable() {
    let server = Server::start().await;
    let (status, body) = server
        .admin_post(
            "/api/v1/commands",
            json!({"type":"register_office","code":"Z1","name":"Zone","level":"zone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, text) = server
        .as_role("admin", Method::GET, "/api/v1/offices/Z1/defaulters", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("no nightly run yet"), "{text}");
    server.stop().await;
}

/// A list answer is served again while the log stays where it was, and made afresh after a
/// write: a payment dated on the list's date takes the consumer off the defaulter list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_follow_every_write() {
    let server = seeded().await;
    let path = "/api/v1/offices/D1/defaulters?format=csv";
    let (status, first) = server.as_role("admin", Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first.lines().any(|l| l.starts_with("A1,")), "{first}");
    assert!(first.lines().any(|l| l.starts_with("A2,")), "{first}");
    let (_, again) = server.as_role("admin", Method::GET, path, None).await;
    assert_eq!(again, first);
    // A kept answer is kept for the role and office that passed the scope check: an officer
    // of a subdivision below D1 still may not see D1's list.
    let (status, text) = server.as_role("officer_s1", Method::GET, path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, text) = server.as_role("officer_d1", Method::GET, path, None).await;
    assert_eq!((status, text), (StatusCode::OK, first.clone()));
    // A2 pays the 3000.00 bill in full, dated on the list's date (the last nightly run's).
    let (status, body) = server
        .admin_post(
            "/api/v1/commands",
            json!({"type":"receive_payment","receipt_no":"P-CACHE","account_no":"A2",
                   "amount":"3000.00","paid_on":"2026-09-30","channel":"upi"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, after) = server.as_role("admin", Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert!(after.lines().any(|l| l.starts_with("A1,")), "{after}");
    assert!(!after.lines().any(|l| l.starts_with("A2,")), "{after}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_dates_are_unprocessable_naming_the_field_and_write_nothing() {
    let server = seeded().await;
    let admin = server.tokens["admin"].clone();
    let payment = |paid_on: &str| {
        json!({"type":"receive_payment","receipt_no":"R-D","account_no":"A1","amount":"1.00",
               "paid_on":paid_on,"channel":"upi"})
        .to_string()
    };
    let cases: Vec<(&str, &str, String, &str)> = vec![
        ("a payment in year 9999", "/api/v1/commands", payment("9999-12-31"), "paid_on"),
        ("a payment in year 0", "/api/v1/commands", payment("0000-01-01"), "paid_on"),
        (
            "a bill for period 0001-01",
            "/api/v1/commands",
            json!({"type":"issue_bill","bill_no":"B-D","account_no":"A1","period":"0001-01",
                   "issued_on":"2026-09-05","due_on":"2026-09-20","amount":"1000.00"})
            .to_string(),
            "period",
        ),
        (
            "an imported bill issued in 2062",
            "/api/v1/import/bills",
            "bill_no,account_no,period,issued_on,due_on,amount\nB-E,A1,2026-09,2062-10-05,2062-10-20,10.00\n"
                .to_string(),
            "issued_on",
        ),
        (
            "a nightly run in year 9999",
            "/api/v1/nightly",
            json!({"as_of":"9999-12-31"}).to_string(),
            "as_of",
        ),
    ];
    for (what, path, body, field) in cases {
        let before = server.log_position().await;
        let (status, text) = server
            .call(Method::POST, path, Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {text}");
        assert_eq!(error_code(&text), "unprocessable", "{what}");
        assert!(text.contains(field), "{what}: {text}");
        assert_eq!(
            server.log_position().await,
            before,
            "{what} wrote something"
        );
    }
    // The same payment dated inside the window is taken.
    let (status, text) = server
        .call(
            Method::POST,
            "/api/v1/commands",
            Some(&admin),
            Some(payment("2026-09-01")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    server.stop().await;
}

/// S1's worklist of notices to serve, as its officer reads it.
async fn notices_to_serve(server: &Server) -> Value {
    let (_, text) = server
        .as_role(
            "officer_s1",
            Method::GET,
            "/api/v1/offices/S1/worklists/serve_notice",
            None,
        )
        .await;
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_void_their_own_mistakes_and_nobody_elses() {
    let server = seeded().await;
    let listed = notices_to_serve(&server).await;
    let notice_no = listed[0]["notice_no"].as_str().unwrap().to_string();
    let serve =
        json!({"type":"serve_notice","notice_no":notice_no,"served_on":"2026-09-30","mode":"hand"});
    let void = |account: &str| {
        json!({"type":"void_action","account_no":account,"action":"serve_notice",
               "action_on":"2026-09-30","voided_on":"2026-10-01","reason":"wrong consumer"})
    };
    let (status, text) = server
        .as_role("officer_s1", Method::POST, "/api/v1/commands", Some(serve))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // Outside the officer's office, and from a feed: refused before anything is looked up.
    for (role, account) in [("officer_s1", "A2"), ("ingest", "A1")] {
        let before = server.log_position().await;
        let (status, text) = server
            .as_role(role, Method::POST, "/api/v1/commands", Some(void(account)))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {text}");
        assert_eq!(server.log_position().await, before);
    }
    // A void naming nothing in force breaks a rule.
    let (status, text) = server
        .as_role(
            "officer_s1",
            Method::POST,
            "/api/v1/commands",
            Some(
                json!({"type":"void_action","account_no":"A1","action":"disconnect",
                        "action_on":"2026-09-30","voided_on":"2026-10-01","reason":"x"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    // The officer's own service, voided: the consumer is back on the list of notices to serve.
    let (status, text) = server
        .as_role(
            "officer_s1",
            Method::POST,
            "/api/v1/commands",
            Some(void("A1")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let listed = notices_to_serve(&server).await;
    assert_eq!(listed[0]["account_no"], "A1", "{listed}");
    assert_eq!(listed[0]["notice_served_on"], Value::Null, "{listed}");
    server.stop().await;
}
