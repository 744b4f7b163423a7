//! Black-box conformance tests of the HTTP API (`vasooli serve`), written from
//! `docs/API.md` and `docs/RULES.md` alone. Each test starts the real binary on its own
//! loopback port over its own temporary data directory, seeds a small utility through the
//! documented interfaces (offices by `vasooli import`, tokens by `vasooli tokens create`,
//! everything else by `POST /api/v1/commands`), and checks routes, status codes, the error
//! body, content types, role scoping and figures computed by hand from docs/RULES.md.
//!
//! The seeded utility (policy defaults):
//!
//! ```text
//! Z1 zone ─┬─ C1 circle ── D1 division ─┬─ S1 subdivision: A1, A3, A4
//!          │                            └─ S2 subdivision: A2, A6
//!          └─ C2 circle ── D2 division ─── S3 subdivision: A5
//!
//! A1  B1 1200.00 issued 07-05 due 07-20; B2 1500.00 issued 08-05 due 08-20; P1 700.00 08-10 upi
//! A2  B3 3000.00 issued 07-05 due 07-20
//! A3  mobile at registration; B4 800.00 issued 07-25 due 08-05; P2 200.00 08-12 camp
//! A4  mobile registered at a camp 08-12; B5 400.00 issued 07-05 due 07-20
//! A5  B7 6000.00 issued 08-05 due 08-20
//! A6  mobile at registration; B6 1000.00 issued 08-05 due 08-20; P4 1000.00 08-18 counter_cash
//! S1 camps CAMP1 08-12 held with SDO and JE, CAMP2 08-26 held with JE only;
//!    grievances G1 billing 08-12 resolved 08-20, G3 supply 08-01 open, G4 other 08-25 open.
//! ```

use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `defaulters` columns of docs/CLI.md, in order.
const DEFAULTER_COLUMNS: [&str; 18] = [
    "account_no",
    "name",
    "category",
    "subdivision",
    "division",
    "circle",
    "mobile_registered",
    "overdue_arrears",
    "oldest_due_on",
    "days_overdue",
    "aging_bucket",
    "last_payment_on",
    "last_payment_amount",
    "stage",
    "notice_no",
    "notice_served_on",
    "disconnection_allowed_on",
    "hold",
];

const CAMPAIGN_COLUMNS: [&str; 6] = [
    "office_code",
    "office_name",
    "active_consumers",
    "with_mobile",
    "mobile_coverage_pct",
    "shared_mobiles",
];

const CAMPS_COLUMNS: [&str; 14] = [
    "office_code",
    "office_name",
    "camps_scheduled",
    "camps_held",
    "held_with_sdo_pct",
    "grievances",
    "grievances_new_connection",
    "grievances_metering",
    "grievances_billing",
    "grievances_supply",
    "grievances_other",
    "grievance_resolution_pct",
    "camp_collections",
    "mobiles_registered_at_camps",
];

const RANKING_COLUMNS: [&str; 15] = [
    "period",
    "level",
    "rank",
    "office_code",
    "office_name",
    "billed",
    "collected",
    "collection_efficiency_pct",
    "opening_arrears",
    "closing_arrears",
    "arrears_reduction_pct",
    "digital_share_pct",
    "mobile_coverage_pct",
    "grievance_resolution_pct",
    "score",
];

const AWARD_COLUMNS: [&str; 7] = [
    "period",
    "level",
    "award",
    "office_code",
    "office_name",
    "score",
    "score_change",
];

/// The offices of every test, imported through the CLI before the server starts.
const OFFICES_CSV: &str = "code,name,level,parent\n\
Z1,Zone One,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Rishikesh Division,division,C1\n\
S1,ऋषिकेश,subdivision,D1\n\
S2,Muni Ki Reti,subdivision,D1\n\
C2,Haldwani Circle,circle,Z1\n\
D2,Haldwani Division,division,C2\n\
S3,Kathgodam,subdivision,D2\n";

/// The tokens every test has: name, role, office.
const TOKENS: [(&str, &str, Option<&str>); 8] = [
    ("admin", "admin", None),
    ("finance", "finance", None),
    ("hq", "hq", None),
    ("ingest", "ingest", None),
    ("officer_s1", "officer", Some("S1")),
    ("officer_d1", "officer", Some("D1")),
    ("officer_c2", "officer", Some("C2")),
    ("revoked", "admin", None),
];

/// One HTTP answer.
struct Answer {
    status: u16,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text))
    }

    /// Asserts the answer is a success (2xx) and returns it.
    fn ok(self, what: &str) -> Answer {
        assert!(
            (200..300).contains(&self.status),
            "{what}: expected 2xx, got {}: {}",
            self.status,
            self.text
        );
        self
    }

    /// Asserts the status and the error body `{"error":{"code":"…","message":"…"}}`.
    fn error(&self, status: u16, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        assert_error_body(self, what);
    }

    /// Asserts one of the statuses (where the docs leave the choice open) and the error body.
    fn error_one_of(&self, statuses: &[u16], what: &str) {
        assert!(
            statuses.contains(&self.status),
            "{what}: {} {}",
            self.status,
            self.text
        );
        assert_error_body(self, what);
    }

    /// The rows of a JSON list answer (one array of objects).
    fn rows(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.text);
        assert!(
            self.content_type.starts_with("application/json"),
            "content type {}",
            self.content_type
        );
        match self.json() {
            Value::Array(rows) => rows,
            other => panic!("a JSON list is one array of objects: {other}"),
        }
    }
}

fn assert_error_body(answer: &Answer, what: &str) {
    assert!(
        answer.content_type.starts_with("application/json"),
        "{what}: error content type {:?}: {}",
        answer.content_type,
        answer.text
    );
    let body = answer.json();
    let object = body.as_object().expect("error body is an object");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        vec!["error"],
        "{what}: {body}"
    );
    let error = body["error"].as_object().expect("error is an object");
    assert!(
        error["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{what}: {body}"
    );
    assert!(error["message"].is_string(), "{what}: {body}");
}

/// The real server over its own data directory, killed when dropped.
struct Api {
    child: Child,
    base: String,
    addr: String,
    http: Client,
    tokens: HashMap<&'static str, String>,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vasooli(data: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "vasooli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Api {
    /// A data directory with the offices and the tokens, and the server on a free loopback
    /// port, answering `/health`.
    fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let offices = dir.path().join("offices.csv");
        std::fs::write(&offices, OFFICES_CSV).unwrap();
        vasooli(&data, &["import", "offices", offices.to_str().unwrap()]);
        let mut tokens = HashMap::new();
        for (name, role, office) in TOKENS {
            let mut args = vec!["tokens", "create", "--role", role, "--name", name];
            if let Some(office) = office {
                args.extend(["--office", office]);
            }
            let token = vasooli(&data, &args).trim().to_string();
            assert!(!token.is_empty() && !token.contains(char::is_whitespace));
            tokens.insert(name, token);
        }
        vasooli(&data, &["tokens", "revoke", "revoked"]);
        let http = Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = format!("127.0.0.1:{port}");
            let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
                .arg("--data")
                .arg(&data)
                .args(["serve", "--addr", &addr])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let base = format!("http://{addr}");
            for _ in 0..300 {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                let up = http
                    .get(format!("{base}/health"))
                    .send()
                    .is_ok_and(|r| r.status().as_u16() == 200);
                if up {
                    return Api {
                        child,
                        base,
                        addr,
                        http,
                        tokens,
                        data,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the server did not come up on loopback");
    }

    /// `start` plus the seeded ledger of the module comment.
    fn seeded() -> Api {
        let api = Api::start();
        api.post_json("admin", "/api/v1/commands", &seed_commands())
            .ok("seed commands");
        api
    }

    /// `seeded` plus a nightly run as of 2026-09-30.
    fn seeded_after_nightly() -> Api {
        let api = Api::seeded();
        api.nightly("2026-09-30");
        api
    }

    fn nightly(&self, as_of: &str) {
        self.post_json("finance", "/api/v1/nightly", &json!({ "as_of": as_of }))
            .ok(&format!("nightly {as_of}"));
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request.header("Content-Type", content_type).body(body);
        }
        let response = request.send().expect("the server answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Answer {
            status,
            content_type,
            text: response.text().unwrap(),
        }
    }

    fn token(&self, role: &str) -> &str {
        &self.tokens[role]
    }

    fn get(&self, role: &str, path: &str) -> Answer {
        self.request(reqwest::Method::GET, path, Some(self.token(role)), None)
    }

    fn get_open(&self, path: &str) -> Answer {
        self.request(reqwest::Method::GET, path, None, None)
    }

    fn post_json(&self, role: &str, path: &str, body: &Value) -> Answer {
        self.post_raw(role, path, "application/json", body.to_string())
    }

    fn post_raw(&self, role: &str, path: &str, content_type: &str, body: String) -> Answer {
        self.request(
            reqwest::Method::POST,
            path,
            Some(self.token(role)),
            Some((content_type, body)),
        )
    }

    fn command(&self, role: &str, command: Value) -> Answer {
        self.post_json(role, "/api/v1/commands", &command)
    }

    /// The `notice_no` of an account on the admin's defaulter list of Z1.
    fn notice_no(&self, account_no: &str) -> String {
        let rows = self.get("admin", "/api/v1/offices/Z1/defaulters").rows();
        let row = row_of(&rows, account_no);
        row["notice_no"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| panic!("{account_no} has a notice: {row}"))
            .to_string()
    }
}

fn consumer(account_no: &str, name: &str, subdivision: &str, mobile: Option<&str>) -> Value {
    let mut command = json!({
        "type": "register_consumer",
        "account_no": account_no,
        "name": name,
        "category": "domestic",
        "subdivision": subdivision,
        "load_kw": "2",
        "connected_on": "2026-01-01",
    });
    if let Some(mobile) = mobile {
        command["mobile"] = json!(mobile);
    }
    command
}

fn bill(
    bill_no: &str,
    account_no: &str,
    period: &str,
    issued: &str,
    due: &str,
    amount: &str,
) -> Value {
    json!({
        "type": "issue_bill", "bill_no": bill_no, "account_no": account_no, "period": period,
        "issued_on": issued, "due_on": due, "amount": amount,
    })
}

fn payment(
    receipt_no: &str,
    account_no: &str,
    amount: &str,
    paid_on: &str,
    channel: &str,
) -> Value {
    json!({
        "type": "receive_payment", "receipt_no": receipt_no, "account_no": account_no,
        "amount": amount, "paid_on": paid_on, "channel": channel,
    })
}

fn seed_commands() -> Value {
    json!([
        consumer("A1", "Asha Devi", "S1", None),
        consumer("A3", "Chandan", "S1", Some("+91 98765-43210")),
        consumer("A4", "Deepa", "S1", None),
        consumer("A2", "Bhim", "S2", None),
        consumer("A6", "Farhan", "S2", Some("9876500006")),
        consumer("A5", "Ganga", "S3", None),
        bill("B1", "A1", "2026-06", "2026-07-05", "2026-07-20", "1200.00"),
        bill("B2", "A1", "2026-07", "2026-08-05", "2026-08-20", "1500.00"),
        bill("B3", "A2", "2026-06", "2026-07-05", "2026-07-20", "3000.00"),
        bill("B4", "A3", "2026-07", "2026-07-25", "2026-08-05", "800.00"),
        bill("B5", "A4", "2026-06", "2026-07-05", "2026-07-20", "400.00"),
        bill("B6", "A6", "2026-07", "2026-08-05", "2026-08-20", "1000.00"),
        bill("B7", "A5", "2026-07", "2026-08-05", "2026-08-20", "6000.00"),
        payment("P1", "A1", "700.00", "2026-08-10", "upi"),
        payment("P2", "A3", "200.00", "2026-08-12", "camp"),
        payment("P4", "A6", "1000.00", "2026-08-18", "counter_cash"),
        {"type": "register_mobile", "account_no": "A4", "mobile": "9876500004",
         "registered_on": "2026-08-12", "source": "camp"},
        {"type": "schedule_camp", "camp_id": "CAMP1", "subdivision": "S1", "on": "2026-08-12",
         "venue": "Tehsil ground"},
        {"type": "hold_camp", "camp_id": "CAMP1", "held_on": "2026-08-12",
         "officers_present": ["SDO", "JE"]},
        {"type": "schedule_camp", "camp_id": "CAMP2", "subdivision": "S1", "on": "2026-08-26",
         "venue": "Panchayat bhawan"},
        {"type": "hold_camp", "camp_id": "CAMP2", "held_on": "2026-08-26",
         "officers_present": ["JE"]},
        {"type": "register_grievance", "grievance_id": "G1", "subdivision": "S1",
         "category": "billing", "registered_on": "2026-08-12", "account_no": "A3",
         "camp_id": "CAMP1"},
        {"type": "resolve_grievance", "grievance_id": "G1", "resolved_on": "2026-08-20",
         "note": "bill corrected"},
        {"type": "register_grievance", "grievance_id": "G3", "subdivision": "S1",
         "category": "supply", "registered_on": "2026-08-01"},
        {"type": "register_grievance", "grievance_id": "G4", "subdivision": "S1",
         "category": "other", "registered_on": "2026-08-25"},
    ])
}

/// The text of a JSON field as it would be in the CSV: strings as they are, numbers printed,
/// null as `None`.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn row_of<'a>(rows: &'a [Value], account_no: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["account_no"] == account_no)
        .unwrap_or_else(|| panic!("no row for {account_no} in {rows:?}"))
}

fn row_by<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key}={value} in {rows:?}"))
}

fn accounts(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["account_no"].as_str().unwrap().to_string())
        .collect()
}

fn keys(row: &Value) -> BTreeSet<String> {
    row.as_object().unwrap().keys().cloned().collect()
}

fn column_set(columns: &[&str]) -> BTreeSet<String> {
    columns.iter().map(|c| c.to_string()).collect()
}

/// Asserts every listed field of `row` has the expected CSV text (`None` for null).
fn assert_fields(row: &Value, expected: &[(&str, Option<&str>)]) {
    for (key, want) in expected {
        assert!(row.get(*key).is_some(), "missing key {key} in {row}");
        assert_eq!(text(&row[*key]).as_deref(), *want, "field {key} of {row}");
    }
}

/// Asserts an amount is a JSON string with exactly two decimals.
fn assert_amount_string(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: amount is a string: {value}"));
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = digits
        .split_once('.')
        .unwrap_or_else(|| panic!("{what}: {s} has 2 decimals"));
    assert!(
        !whole.is_empty()
            && whole.chars().all(|c| c.is_ascii_digit())
            && fraction.len() == 2
            && fraction.chars().all(|c| c.is_ascii_digit()),
        "{what}: {s} has exactly 2 decimals"
    );
}

fn csv_records(body: &str) -> Vec<Vec<String>> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn assert_csv(answer: &Answer, columns: &[&str]) -> Vec<HashMap<String, String>> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(
        answer.content_type.starts_with("text/csv"),
        "CSV content type: {:?}",
        answer.content_type
    );
    let records = csv_records(&answer.text);
    assert_eq!(records[0], columns, "CSV header");
    records[1..]
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| c.to_string())
                .zip(r.iter().cloned())
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Open routes
// ---------------------------------------------------------------------------------------

#[test]
fn open_routes_answer_without_a_token() {
    // `/health`, `/metrics`, `/api/openapi.json` and the page are open; metrics are
    // Prometheus text, the OpenAPI document is JSON and names the API's routes.
    let api = Api::start();
    assert_eq!(api.get_open("/health").status, 200);

    let metrics = api.get_open("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain"),
        "Prometheus text: {:?}",
        metrics.content_type
    );
    assert!(
        metrics
            .text
            .lines()
            .any(|l| !l.starts_with('#') && !l.trim().is_empty()),
        "at least one sample: {}",
        metrics.text
    );

    let openapi = api.get_open("/api/openapi.json");
    assert_eq!(openapi.status, 200);
    assert!(openapi.content_type.starts_with("application/json"));
    let document = openapi.json();
    assert!(document["openapi"].is_string(), "an OpenAPI document");
    let paths = document["paths"].as_object().expect("paths");
    for route in [
        "/api/v1/commands",
        "/api/v1/nightly",
        "/api/v1/rankings",
        "/api/v1/awards",
    ] {
        assert!(paths.contains_key(route), "{route} in the OpenAPI paths");
    }

    let page = api.get_open("/");
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
}

#[test]
fn unknown_routes_are_404_with_the_error_body() {
    let api = Api::start();
    api.get("admin", "/api/v1/no-such-route")
        .error(404, "unknown API route");
    let answer = api.get_open("/no-such-page");
    assert_eq!(answer.status, 404);
}

// ---------------------------------------------------------------------------------------
// Authentication and roles
// ---------------------------------------------------------------------------------------

#[test]
fn api_routes_need_a_known_bearer_token() {
    // 401 for no token, an unknown token, a revoked token and a non-bearer scheme, on every
    // route docs/API.md lists, reads and writes alike.
    let api = Api::seeded();
    let revoked = api.token("revoked").to_string();
    let gets = [
        "/api/v1/offices/S1/defaulters",
        "/api/v1/offices/S1/worklists/serve_notice",
        "/api/v1/consumers/A1",
        "/api/v1/rankings?period=2026-08&level=subdivision",
        "/api/v1/awards?period=2026-08",
        "/api/v1/offices/S1/campaign",
        "/api/v1/offices/S1/camps?period=2026-08",
    ];
    for path in gets {
        for token in [None, Some("not-a-token"), Some(revoked.as_str())] {
            let answer = api.request(reqwest::Method::GET, path, token, None);
            answer.error(401, &format!("GET {path} with {token:?}"));
        }
        let basic = api
            .http
            .get(format!("{}{path}", api.base))
            .header("Authorization", format!("Basic {}", api.token("admin")))
            .send()
            .unwrap();
        assert_eq!(basic.status().as_u16(), 401, "Basic scheme on {path}");
    }
    let posts = [
        (
            "/api/v1/commands",
            "application/json",
            payment("PX", "A1", "1.00", "2026-08-11", "upi").to_string(),
        ),
        (
            "/api/v1/import/payments",
            "text/csv",
            "receipt_no,account_no,amount,paid_on,channel\nPY,A1,1.00,2026-08-11,upi\n".to_string(),
        ),
        (
            "/api/v1/nightly",
            "application/json",
            json!({"as_of":"2026-09-30"}).to_string(),
        ),
    ];
    for (path, content_type, body) in posts {
        for token in [None, Some("not-a-token"), Some(revoked.as_str())] {
            let answer = api.request(
                reqwest::Method::POST,
                path,
                token,
                Some((content_type, body.clone())),
            );
            answer.error(401, &format!("POST {path} with {token:?}"));
        }
    }
    // None of those writes landed: receipt PX is free to be used with other content.
    api.command("admin", payment("PX", "A1", "2.00", "2026-08-11", "upi"))
        .ok("PX unused");
}

#[test]
fn hq_reads_everything_and_writes_nothing() {
    let api = Api::seeded_after_nightly();
    for path in [
        "/api/v1/offices/Z1/defaulters",
        "/api/v1/offices/S3/worklists/serve_notice",
        "/api/v1/consumers/A5",
        "/api/v1/rankings?period=2026-08&level=circle",
        "/api/v1/awards?period=2026-08",
        "/api/v1/offices/Z1/campaign",
        "/api/v1/offices/Z1/camps?period=2026-08",
    ] {
        api.get("hq", path).ok(path);
    }
    api.command("hq", payment("P9", "A1", "1.00", "2026-09-01", "upi"))
        .error(403, "hq command");
    api.post_raw(
        "hq",
        "/api/v1/import/payments",
        "text/csv",
        "receipt_no,account_no,amount,paid_on,channel\nP9,A1,1.00,2026-09-01,upi\n".into(),
    )
    .error(403, "hq import");
    api.post_json("hq", "/api/v1/nightly", &json!({"as_of":"2026-10-01"}))
        .error(403, "hq nightly");
}

#[test]
fn ingest_writes_its_commands_and_reads_nothing() {
    let api = Api::seeded_after_nightly();
    api.command("ingest", payment("P9", "A1", "1.00", "2026-09-01", "upi"))
        .ok("ingest receive_payment");
    api.command("ingest", consumer("A7", "Hari", "S1", None))
        .ok("ingest register_consumer");
    api.command(
        "ingest",
        bill("B9", "A7", "2026-09", "2026-09-05", "2026-09-20", "100.00"),
    )
    .ok("ingest issue_bill");
    api.post_raw(
        "ingest",
        "/api/v1/import/payments",
        "text/csv",
        "receipt_no,account_no,amount,paid_on,channel\nP10,A1,1.00,2026-09-02,upi\n".into(),
    )
    .ok("ingest payments import");

    for path in [
        "/api/v1/offices/S1/defaulters",
        "/api/v1/offices/S1/worklists/serve_notice",
        "/api/v1/consumers/A1",
        "/api/v1/rankings?period=2026-08&level=circle",
        "/api/v1/awards?period=2026-08",
        "/api/v1/offices/S1/campaign",
        "/api/v1/offices/S1/camps?period=2026-08",
    ] {
        api.get("ingest", path)
            .error(403, &format!("ingest GET {path}"));
    }
    let notice_no = api.notice_no("A1");
    api.command(
        "ingest",
        json!({"type":"serve_notice","notice_no":notice_no,"served_on":"2026-10-01","mode":"hand"}),
    )
    .error(403, "ingest serve_notice");
    api.command(
        "ingest",
        json!({"type":"register_office","code":"S9","name":"Nine","level":"subdivision","parent":"D1"}),
    )
    .error(403, "ingest register_office");
    api.post_raw(
        "ingest",
        "/api/v1/import/offices",
        "text/csv",
        "code,name,level,parent\nS9,Nine,subdivision,D1\n".into(),
    )
    .error(403, "ingest offices import");
    api.post_json("ingest", "/api/v1/nightly", &json!({"as_of":"2026-10-01"}))
        .error(403, "ingest nightly");
}

#[test]
fn finance_imports_commands_and_runs_the_nightly() {
    let api = Api::seeded();
    api.command("finance", payment("P9", "A1", "1.00", "2026-09-01", "upi"))
        .ok("finance command");
    api.post_json("finance", "/api/v1/nightly", &json!({"as_of":"2026-09-30"}))
        .ok("finance nightly");
    for path in [
        "/api/v1/offices/Z1/defaulters",
        "/api/v1/consumers/A5",
        "/api/v1/rankings?period=2026-08&level=division",
    ] {
        api.get("finance", path).ok(path);
    }
}

#[test]
fn an_officer_sees_its_office_and_those_below_and_nothing_else() {
    let api = Api::seeded_after_nightly();
    // (token, office, allowed)
    let offices = [
        ("officer_s1", "S1", true),
        ("officer_s1", "S2", false),
        ("officer_s1", "D1", false),
        ("officer_s1", "C1", false),
        ("officer_s1", "Z1", false),
        ("officer_s1", "S3", false),
        ("officer_d1", "D1", true),
        ("officer_d1", "S1", true),
        ("officer_d1", "S2", true),
        ("officer_d1", "C1", false),
        ("officer_d1", "Z1", false),
        ("officer_d1", "D2", false),
        ("officer_d1", "S3", false),
        ("officer_c2", "C2", true),
        ("officer_c2", "D2", true),
        ("officer_c2", "S3", true),
        ("officer_c2", "C1", false),
        ("officer_c2", "S1", false),
        ("officer_c2", "Z1", false),
    ];
    for (token, office, allowed) in offices {
        for route in [
            format!("/api/v1/offices/{office}/defaulters"),
            format!("/api/v1/offices/{office}/worklists/no_mobile"),
            format!("/api/v1/offices/{office}/campaign"),
            format!("/api/v1/offices/{office}/camps?period=2026-08"),
        ] {
            let answer = api.get(token, &route);
            if allowed {
                answer.ok(&format!("{token} {route}"));
            } else {
                answer.error(403, &format!("{token} {route}"));
            }
        }
    }
    // Consumers: (token, account, allowed).
    let consumers = [
        ("officer_s1", "A1", true),
        ("officer_s1", "A3", true),
        ("officer_s1", "A2", false),
        ("officer_s1", "A5", false),
        ("officer_d1", "A1", true),
        ("officer_d1", "A2", true),
        ("officer_d1", "A5", false),
        ("officer_c2", "A5", true),
        ("officer_c2", "A1", false),
    ];
    for (token, account, allowed) in consumers {
        let path = format!("/api/v1/consumers/{account}");
        let answer = api.get(token, &path);
        if allowed {
            answer.ok(&format!("{token} {path}"));
        } else {
            answer.error(403, &format!("{token} {path}"));
        }
    }
    // An officer's list holds only its own consumers.
    let rows = api
        .get("officer_d1", "/api/v1/offices/D1/defaulters")
        .rows();
    assert_eq!(accounts(&rows), ["A2", "A1", "A3"]);
    // An office the officer cannot see is 403 even when it does not exist: 403 is checked
    // before 404.
    api.get("officer_s1", "/api/v1/offices/NOPE/defaulters")
        .error(403, "officer, unknown office");
    api.get("officer_s1", "/api/v1/consumers/NOPE")
        .error(403, "officer, unknown account");
}

#[test]
fn an_officer_acts_only_on_its_own_consumers() {
    // Serving a notice is an officer's action: allowed for a consumer below the officer's
    // office, 403 for another's; registering offices and running the nightly are not an
    // officer's business.
    let api = Api::seeded_after_nightly();
    let a1 = api.notice_no("A1");
    let a2 = api.notice_no("A2");
    api.command(
        "officer_s1",
        json!({"type":"serve_notice","notice_no":a2,"served_on":"2026-10-01","mode":"hand"}),
    )
    .error(403, "officer S1 serving S2's notice");
    api.command(
        "officer_s1",
        json!({"type":"serve_notice","notice_no":a1,"served_on":"2026-10-01","mode":"hand"}),
    )
    .ok("officer S1 serving S1's notice");
    api.command(
        "officer_d1",
        json!({"type":"serve_notice","notice_no":a2,"served_on":"2026-10-01","mode":"post"}),
    )
    .ok("officer D1 serving S2's notice");
    api.command(
        "officer_s1",
        json!({"type":"register_office","code":"S9","name":"Nine","level":"subdivision","parent":"D1"}),
    )
    .error(403, "officer register_office");
    api.post_raw(
        "officer_s1",
        "/api/v1/import/offices",
        "text/csv",
        "code,name,level,parent\nS9,Nine,subdivision,D1\n".into(),
    )
    .error(403, "officer import");
    api.post_json(
        "officer_s1",
        "/api/v1/nightly",
        &json!({"as_of":"2026-10-01"}),
    )
    .error(403, "officer nightly");
    // The served notices show after the next nightly run.
    api.nightly("2026-10-01");
    let rows = api.get("admin", "/api/v1/offices/D1/defaulters").rows();
    assert_eq!(row_of(&rows, "A1")["stage"], "notice_served");
    assert_eq!(row_of(&rows, "A2")["stage"], "notice_served");
}

// ---------------------------------------------------------------------------------------
// Lists: columns, figures, sorting, pagination, formats
// ---------------------------------------------------------------------------------------

#[test]
fn defaulters_have_the_hand_computed_figures() {
    // As of one nightly run on 2026-09-30 (docs/RULES.md):
    // A1: B1 1200 + B2 1500 + LPS 6.25 (B1, 08-20) + 6.25 (B1, 09-20) + 18.75 (B2, 09-20)
    //     − 700 = 2031.25; oldest unpaid due 07-20, 72 days, 61-90; notice issued.
    // A2: 3000 + 37.50 + 37.50 = 3075.00; 72 days; notice issued.
    // A3: 800 − 200 = 600 unpaid on 09-05, LPS 7.50 → 607.50; due 08-05, 56 days, 31-60;
    //     below the domestic notice threshold 1000.00, so clear.
    // A4: 400 + 5.00 + 5.00 = 410.00 < 500.00: not a defaulter. A6 owes nothing.
    // A5: 6000 + 75.00 = 6075.00; due 08-20, 41 days, 31-60; notice issued.
    let api = Api::seeded_after_nightly();
    let rows = api.get("admin", "/api/v1/offices/Z1/defaulters").rows();
    assert_eq!(
        accounts(&rows),
        ["A5", "A2", "A1", "A3"],
        "sorted by arrears"
    );
    for row in &rows {
        assert_eq!(
            keys(row),
            column_set(&DEFAULTER_COLUMNS),
            "JSON keys = CSV columns"
        );
        assert_amount_string(&row["overdue_arrears"], "overdue_arrears");
        if !row["last_payment_amount"].is_null() {
            assert_amount_string(&row["last_payment_amount"], "last_payment_amount");
        }
        let hold = text(&row["hold"]).unwrap_or_default();
        assert_eq!(hold, "", "no holds in force: {row}");
        assert_eq!(row["notice_served_on"], Value::Null);
        assert_eq!(row["disconnection_allowed_on"], Value::Null);
    }
    assert_fields(
        row_of(&rows, "A1"),
        &[
            ("name", Some("Asha Devi")),
            ("category", Some("domestic")),
            ("subdivision", Some("S1")),
            ("division", Some("D1")),
            ("circle", Some("C1")),
            ("mobile_registered", Some("no")),
            ("overdue_arrears", Some("2031.25")),
            ("oldest_due_on", Some("2026-07-20")),
            ("days_overdue", Some("72")),
            ("aging_bucket", Some("61-90")),
            ("last_payment_on", Some("2026-08-10")),
            ("last_payment_amount", Some("700.00")),
            ("stage", Some("notice_issued")),
        ],
    );
    assert_fields(
        row_of(&rows, "A2"),
        &[
            ("subdivision", Some("S2")),
            ("division", Some("D1")),
            ("circle", Some("C1")),
            ("mobile_registered", Some("no")),
            ("overdue_arrears", Some("3075.00")),
            ("oldest_due_on", Some("2026-07-20")),
            ("days_overdue", Some("72")),
            ("aging_bucket", Some("61-90")),
            ("last_payment_on", None),
            ("last_payment_amount", None),
            ("stage", Some("notice_issued")),
        ],
    );
    assert_fields(
        row_of(&rows, "A3"),
        &[
            ("subdivision", Some("S1")),
            ("mobile_registered", Some("yes")),
            ("overdue_arrears", Some("607.50")),
            ("oldest_due_on", Some("2026-08-05")),
            ("days_overdue", Some("56")),
            ("aging_bucket", Some("31-60")),
            ("last_payment_on", Some("2026-08-12")),
            ("last_payment_amount", Some("200.00")),
            ("stage", Some("clear")),
            ("notice_no", None),
        ],
    );
    assert_fields(
        row_of(&rows, "A5"),
        &[
            ("subdivision", Some("S3")),
            ("division", Some("D2")),
            ("circle", Some("C2")),
            ("overdue_arrears", Some("6075.00")),
            ("oldest_due_on", Some("2026-08-20")),
            ("days_overdue", Some("41")),
            ("aging_bucket", Some("31-60")),
            ("stage", Some("notice_issued")),
        ],
    );
    // Notice numbers are distinct.
    let notices: BTreeSet<_> = ["A1", "A2", "A5"]
        .iter()
        .map(|a| api.notice_no(a))
        .collect();
    assert_eq!(notices.len(), 3);

    // A list for an office covers every consumer below it, and only those.
    let s1 = api.get("admin", "/api/v1/offices/S1/defaulters").rows();
    assert_eq!(accounts(&s1), ["A1", "A3"]);
    let c2 = api.get("admin", "/api/v1/offices/C2/defaulters").rows();
    assert_eq!(accounts(&c2), ["A5"]);
    let d1 = api.get("admin", "/api/v1/offices/D1/defaulters").rows();
    assert_eq!(accounts(&d1), ["A2", "A1", "A3"]);
}

#[test]
fn defaulters_as_csv_have_the_exact_columns_and_the_same_figures() {
    let api = Api::seeded_after_nightly();
    let answer = api.get("admin", "/api/v1/offices/S1/defaulters?format=csv");
    let rows = assert_csv(&answer, &DEFAULTER_COLUMNS);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["account_no"], "A1");
    assert_eq!(rows[0]["overdue_arrears"], "2031.25");
    assert_eq!(rows[0]["days_overdue"], "72");
    assert_eq!(rows[0]["aging_bucket"], "61-90");
    assert_eq!(rows[0]["last_payment_amount"], "700.00");
    assert_eq!(rows[0]["notice_served_on"], "");
    assert_eq!(rows[0]["hold"], "");
    assert_eq!(rows[1]["account_no"], "A3");
    assert_eq!(rows[1]["overdue_arrears"], "607.50");
    assert_eq!(rows[1]["mobile_registered"], "yes");
    assert_eq!(rows[1]["notice_no"], "", "a null is an empty CSV field");
    // The same figures as the JSON.
    let json_rows = api
        .get("admin", "/api/v1/offices/S1/defaulters?format=json")
        .rows();
    for (csv_row, json_row) in rows.iter().zip(&json_rows) {
        for column in DEFAULTER_COLUMNS {
            assert_eq!(
                text(&json_row[column]).unwrap_or_default(),
                csv_row[column],
                "column {column}"
            );
        }
    }
}

#[test]
fn defaulters_take_the_cli_filters() {
    // `--min-arrears AMT` and `--stage STAGE` of the CLI as `min_arrears` and `stage`.
    let api = Api::seeded_after_nightly();
    let rows = api
        .get("admin", "/api/v1/offices/Z1/defaulters?min_arrears=3000.00")
        .rows();
    assert_eq!(accounts(&rows), ["A5", "A2"]);
    let rows = api
        .get("admin", "/api/v1/offices/Z1/defaulters?stage=clear")
        .rows();
    assert_eq!(accounts(&rows), ["A3"]);
    let rows = api
        .get(
            "admin",
            "/api/v1/offices/Z1/defaulters?stage=notice_issued&min_arrears=5000",
        )
        .rows();
    assert_eq!(accounts(&rows), ["A5"]);
}

#[test]
fn lists_page_with_limit_and_offset() {
    let api = Api::seeded_after_nightly();
    let base = "/api/v1/offices/Z1/defaulters";
    let all = accounts(&api.get("admin", base).rows());
    assert_eq!(all, ["A5", "A2", "A1", "A3"]);
    for (query, want) in [
        ("?limit=1", vec!["A5"]),
        ("?limit=2", vec!["A5", "A2"]),
        ("?limit=2&offset=1", vec!["A2", "A1"]),
        ("?offset=3", vec!["A3"]),
        ("?limit=10&offset=2", vec!["A1", "A3"]),
        ("?offset=4", vec![]),
        ("?offset=100", vec![]),
    ] {
        let rows = api.get("admin", &format!("{base}{query}")).rows();
        assert_eq!(accounts(&rows), want, "{query}");
    }
    // CSV pages keep the header.
    let answer = api.get("admin", &format!("{base}?format=csv&limit=1&offset=1"));
    let rows = assert_csv(&answer, &DEFAULTER_COLUMNS);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["account_no"], "A2");
    // Worklists page the same way.
    let rows = api
        .get(
            "admin",
            "/api/v1/offices/Z1/worklists/serve_notice?limit=1&offset=1",
        )
        .rows();
    assert_eq!(accounts(&rows), ["A2"]);
}

#[test]
fn bad_pagination_and_format_values_are_refused_with_the_error_body() {
    // Not a number, negative: refused as a client error (400 or 422; either
    // will do) with the error body, never a server error or a silent default.
    let api = Api::seeded_after_nightly();
    for query in [
        "limit=abc",
        "offset=abc",
        "limit=-1",
        "offset=-1",
        "format=xml",
    ] {
        let answer = api.get("admin", &format!("/api/v1/offices/Z1/defaulters?{query}"));
        assert!(
            answer.status == 400 || answer.status == 422,
            "{query}: {} {}",
            answer.status,
            answer.text
        );
        assert_error_body(&answer, query);
    }
    // A very large limit is either capped or refused, never a server error.
    let answer = api.get("admin", "/api/v1/offices/Z1/defaulters?limit=1000000000");
    assert!(
        answer.status == 200 || answer.status == 400 || answer.status == 422,
        "huge limit: {} {}",
        answer.status,
        answer.text
    );
    if answer.status == 200 {
        assert_eq!(accounts(&answer.rows()), ["A5", "A2", "A1", "A3"]);
    } else {
        assert_error_body(&answer, "huge limit");
    }
}

#[test]
fn unknown_office_and_account_are_404() {
    let api = Api::seeded_after_nightly();
    for path in [
        "/api/v1/offices/NOPE/defaulters",
        "/api/v1/offices/NOPE/worklists/serve_notice",
        "/api/v1/offices/NOPE/campaign",
        "/api/v1/offices/NOPE/camps?period=2026-08",
        "/api/v1/consumers/NOPE",
    ] {
        api.get("admin", path).error(404, path);
    }
}

#[test]
fn worklists_hold_the_qualifying_consumers_with_a_kind_column() {
    // As of 2026-09-30: serve_notice = the notice_issued consumers (A5, A2, A1); no_mobile =
    // active consumers without a registered mobile (A1, A2, A5; A3 has one from
    // registration, A4 from its camp, A6 from registration), defaulter or not.
    let api = Api::seeded_after_nightly();
    let rows = api
        .get("admin", "/api/v1/offices/Z1/worklists/serve_notice")
        .rows();
    assert_eq!(accounts(&rows), ["A5", "A2", "A1"]);
    let mut columns = column_set(&DEFAULTER_COLUMNS);
    columns.insert("kind".into());
    for row in &rows {
        assert_eq!(keys(row), columns);
        assert_eq!(row["kind"], "serve_notice");
    }
    assert_eq!(row_of(&rows, "A1")["overdue_arrears"], "2031.25");

    let rows = api
        .get("admin", "/api/v1/offices/Z1/worklists/no_mobile")
        .rows();
    assert_eq!(accounts(&rows), ["A5", "A2", "A1"]);
    let rows = api
        .get("admin", "/api/v1/offices/S2/worklists/no_mobile")
        .rows();
    assert_eq!(accounts(&rows), ["A2"]);
    assert_eq!(rows[0]["kind"], "no_mobile");
    // A consumer owing less than the defaulter minimum is still on no_mobile when it
    // qualifies: A4 got a mobile, so S1's list is A1 alone.
    let rows = api
        .get("admin", "/api/v1/offices/S1/worklists/no_mobile")
        .rows();
    assert_eq!(accounts(&rows), ["A1"]);

    for kind in [
        "disconnection",
        "reconnection",
        "permanent_disconnection",
        "recovery_certificate",
        "hq_escalation",
    ] {
        let rows = api
            .get("admin", &format!("/api/v1/offices/Z1/worklists/{kind}"))
            .rows();
        assert!(rows.is_empty(), "{kind}: {rows:?}");
    }

    let mut csv_columns: Vec<&str> = DEFAULTER_COLUMNS.to_vec();
    csv_columns.push("kind");
    let answer = api.get(
        "admin",
        "/api/v1/offices/D1/worklists/serve_notice?format=csv",
    );
    let rows = assert_csv(&answer, &csv_columns);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["account_no"], "A2");
    assert_eq!(rows[0]["kind"], "serve_notice");
}

#[test]
fn an_unknown_worklist_kind_is_404() {
    // The kind is part of the route; an unknown one is an unknown route.
    let api = Api::seeded_after_nightly();
    api.get("admin", "/api/v1/offices/S1/worklists/nonsense")
        .error(404, "unknown worklist kind");
}

#[test]
fn the_recovery_ladder_moves_through_the_api() {
    // A1's notice served 2026-10-01: allowed to disconnect from 10-01 + 15 clear days + 1 =
    // 2026-10-17. Disconnecting earlier is 422; on 10-17 the nightly run puts A1 on the
    // disconnection worklist and the disconnection is accepted.
    let api = Api::seeded_after_nightly();
    let notice_no = api.notice_no("A1");
    let serve =
        json!({"type":"serve_notice","notice_no":notice_no,"served_on":"2026-10-01","mode":"hand"});
    api.command("officer_s1", serve.clone()).ok("serve notice");
    api.command("officer_s1", serve)
        .ok("the same notice served again, same content");
    api.command(
        "officer_s1",
        json!({"type":"serve_notice","notice_no":notice_no,"served_on":"2026-10-02","mode":"post"}),
    )
    .error_one_of(
        &[409, 422],
        "the same notice served again with other content",
    );
    api.nightly("2026-10-01");
    let rows = api
        .get("officer_s1", "/api/v1/offices/S1/defaulters")
        .rows();
    assert_fields(
        row_of(&rows, "A1"),
        &[
            ("stage", Some("notice_served")),
            ("notice_no", Some(notice_no.as_str())),
            ("notice_served_on", Some("2026-10-01")),
            ("disconnection_allowed_on", Some("2026-10-17")),
            ("overdue_arrears", Some("2031.25")),
            ("days_overdue", Some("73")),
        ],
    );
    api.command(
        "officer_s1",
        json!({"type":"disconnect","account_no":"A1","on":"2026-10-10","order_no":"ORD-1"}),
    )
    .error(422, "disconnection before the clear days");

    api.nightly("2026-10-17");
    let rows = api
        .get("officer_s1", "/api/v1/offices/S1/worklists/disconnection")
        .rows();
    assert_eq!(accounts(&rows), ["A1"]);
    assert_fields(
        &rows[0],
        &[
            ("stage", Some("disconnection_due")),
            ("days_overdue", Some("89")),
            ("aging_bucket", Some("61-90")),
            ("kind", Some("disconnection")),
        ],
    );
    api.command(
        "officer_s1",
        json!({"type":"disconnect","account_no":"A1","on":"2026-10-17","order_no":"ORD-1"}),
    )
    .ok("disconnection after the clear days");
    // A connected consumer cannot be reconnected.
    api.command(
        "officer_s1",
        json!({"type":"reconnect","account_no":"A3","on":"2026-10-17"}),
    )
    .error(422, "reconnecting a connected consumer");
}

#[test]
fn the_consumer_statement_is_a_json_object_with_the_figures() {
    // The statement's layout is the implementation's; it must be one JSON object naming the
    // account and carrying the overdue arrears, days overdue and bucket of §12.
    let api = Api::seeded_after_nightly();
    let answer = api.get("officer_s1", "/api/v1/consumers/A1");
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("application/json"));
    let statement = answer.json();
    assert!(statement.is_object(), "{statement}");
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    collect_scalars(&statement, &mut strings, &mut numbers);
    assert!(
        strings.iter().any(|s| s == "A1"),
        "account_no in {statement}"
    );
    for amount in ["2031.25", "1200.00", "1500.00", "700.00", "6.25", "18.75"] {
        assert!(
            strings.iter().any(|s| s == amount),
            "{amount} in {statement}"
        );
    }
    assert!(
        strings.iter().any(|s| s == "61-90"),
        "bucket in {statement}"
    );
    assert!(
        numbers.iter().any(|n| n == "72") || strings.iter().any(|s| s == "72"),
        "days overdue in {statement}"
    );
    assert!(
        strings.iter().any(|s| s == "notice_issued"),
        "stage in {statement}"
    );
}

fn collect_scalars(value: &Value, strings: &mut Vec<String>, numbers: &mut Vec<String>) {
    match value {
        Value::String(s) => strings.push(s.clone()),
        Value::Number(n) => numbers.push(n.to_string()),
        Value::Array(items) => items
            .iter()
            .for_each(|v| collect_scalars(v, strings, numbers)),
        Value::Object(map) => map
            .values()
            .for_each(|v| collect_scalars(v, strings, numbers)),
        _ => {}
    }
}

#[test]
fn campaign_counts_mobiles_per_subdivision() {
    // D1: S1 has A1, A3 (mobile), A4 (camp mobile) → 2 of 3 = 66.67 %; S2 has A2, A6
    // (mobile) → 1 of 2 = 50.00 %. No number is shared.
    let api = Api::seeded_after_nightly();
    let rows = api.get("officer_d1", "/api/v1/offices/D1/campaign").rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(keys(row), column_set(&CAMPAIGN_COLUMNS));
    }
    assert_fields(
        row_by(&rows, "office_code", "S1"),
        &[
            ("office_name", Some("ऋषिकेश")),
            ("active_consumers", Some("3")),
            ("with_mobile", Some("2")),
            ("mobile_coverage_pct", Some("66.67")),
            ("shared_mobiles", Some("0")),
        ],
    );
    assert_fields(
        row_by(&rows, "office_code", "S2"),
        &[
            ("active_consumers", Some("2")),
            ("with_mobile", Some("1")),
            ("mobile_coverage_pct", Some("50.00")),
            ("shared_mobiles", Some("0")),
        ],
    );
    let answer = api.get("admin", "/api/v1/offices/Z1/campaign?format=csv");
    let rows = assert_csv(&answer, &CAMPAIGN_COLUMNS);
    let codes: BTreeSet<_> = rows.iter().map(|r| r["office_code"].clone()).collect();
    assert_eq!(
        codes,
        ["S1", "S2", "S3"].iter().map(|s| s.to_string()).collect()
    );
    let s3 = rows.iter().find(|r| r["office_code"] == "S3").unwrap();
    assert_eq!(s3["mobile_coverage_pct"], "0.00");
}

#[test]
fn reads_before_any_nightly_run_are_not_a_conflict() {
    // Before the first nightly run there is no "last nightly run" to list as of. 409 is
    // reserved for "a natural key already used with different content", so it is not that:
    // the lists refuse with 422 (docs/DECISIONS.md), while the statement and the mobile
    // campaign, which need no run, answer as of today. The camp report, like the rankings,
    // answers 200.
    let api = Api::seeded();
    api.get("admin", "/api/v1/offices/S1/camps?period=2026-08")
        .ok("camps before a nightly run");
    for path in ["/api/v1/consumers/A1", "/api/v1/offices/S1/campaign"] {
        let answer = api.get("admin", path);
        assert_eq!(answer.status, 200, "{path}: {}", answer.text);
    }
    for path in [
        "/api/v1/offices/S1/defaulters",
        "/api/v1/offices/S1/worklists/no_mobile",
    ] {
        let answer = api.get("admin", path);
        assert_eq!(answer.status, 422, "{path}: {}", answer.text);
        assert!(answer.text.contains("nightly"), "{path}: {}", answer.text);
    }
}

#[test]
fn a_mobile_on_more_than_five_consumers_is_flagged_shared() {
    // Five consumers on one number are not flagged; the sixth makes it shared (still
    // accepted). The number is accepted in its +91 / 0 / dashed forms.
    let api = Api::start();
    let forms = [
        "9123456789",
        "+91 91234 56789",
        "091234-56789",
        "919123456789",
        "9123-456-789",
    ];
    let commands: Vec<Value> = forms
        .iter()
        .enumerate()
        .map(|(i, m)| consumer(&format!("M{i}"), "Shared", "S3", Some(m)))
        .collect();
    api.command("admin", Value::Array(commands))
        .ok("five on one number");
    api.nightly("2026-01-02");
    let rows = api.get("admin", "/api/v1/offices/D2/campaign").rows();
    assert_fields(
        row_by(&rows, "office_code", "S3"),
        &[
            ("active_consumers", Some("5")),
            ("with_mobile", Some("5")),
            ("mobile_coverage_pct", Some("100.00")),
            ("shared_mobiles", Some("0")),
        ],
    );
    api.command("admin", consumer("M5", "Shared", "S3", Some("9123456789")))
        .ok("a sixth on the same number is still accepted");
    api.nightly("2026-01-03");
    let rows = api.get("admin", "/api/v1/offices/D2/campaign").rows();
    let s3 = row_by(&rows, "office_code", "S3");
    assert_ne!(text(&s3["shared_mobiles"]).as_deref(), Some("0"), "{s3}");
    // A number that is not an Indian mobile is refused.
    api.command("admin", consumer("M9", "Bad", "S3", Some("5123456789")))
        .error(422, "mobile starting with 5");
    api.command("admin", consumer("M9", "Bad", "S3", Some("12345")))
        .error(422, "mobile too short");
}

#[test]
fn camps_report_has_the_hand_computed_figures() {
    // S1 in 2026-08: 2 camps scheduled and held, 1 with the SDO → 50.00 %; grievances G1
    // billing (resolved in 8 days), G3 supply (15 days ran out on 08-16 unresolved), G4 other
    // (still within its time on 08-31, left out) → 1 / 2 = 50.00 %; camp collections 200.00
    // (P2); one mobile registered at a camp (A4). S2 had nothing.
    let api = Api::seeded();
    let rows = api
        .get("officer_d1", "/api/v1/offices/D1/camps?period=2026-08")
        .rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(keys(row), column_set(&CAMPS_COLUMNS));
        assert_amount_string(&row["camp_collections"], "camp_collections");
    }
    assert_fields(
        row_by(&rows, "office_code", "S1"),
        &[
            ("office_name", Some("ऋषिकेश")),
            ("camps_scheduled", Some("2")),
            ("camps_held", Some("2")),
            ("held_with_sdo_pct", Some("50.00")),
            ("grievances", Some("3")),
            ("grievances_new_connection", Some("0")),
            ("grievances_metering", Some("0")),
            ("grievances_billing", Some("1")),
            ("grievances_supply", Some("1")),
            ("grievances_other", Some("1")),
            ("grievance_resolution_pct", Some("50.00")),
            ("camp_collections", Some("200.00")),
            ("mobiles_registered_at_camps", Some("1")),
        ],
    );
    assert_fields(
        row_by(&rows, "office_code", "S2"),
        &[
            ("camps_scheduled", Some("0")),
            ("camps_held", Some("0")),
            ("grievances", Some("0")),
            ("grievance_resolution_pct", None),
            ("camp_collections", Some("0.00")),
            ("mobiles_registered_at_camps", Some("0")),
        ],
    );
    let answer = api.get(
        "admin",
        "/api/v1/offices/D1/camps?period=2026-08&format=csv",
    );
    let rows = assert_csv(&answer, &CAMPS_COLUMNS);
    let s2 = rows.iter().find(|r| r["office_code"] == "S2").unwrap();
    assert_eq!(
        s2["grievance_resolution_pct"], "",
        "null is an empty CSV field"
    );
}

#[test]
fn rankings_have_the_hand_computed_figures_without_a_nightly_run() {
    // August 2026, no nightly run ever (docs/RULES.md):
    // S1: billed 1500 (B2), collected 900 (P1 700 upi + P2 200 camp) → 60 %; opening
    //     arrears (as of 07-31) 1200 + 400 = 1600, closing (08-31) 2000 + 600 + 400 = 3000 →
    //     −87.50 % (clamped to 0 in the score); digital 700/900 = 77.78 %; mobiles 2/3 =
    //     66.67 %; grievances 1/2 = 50 %. Score = 24 + 0 + 7.5 + 7.777… + 6.666… = 45.94.
    // S2: billed 1000 (B6), collected 1000 cash → 100 %; opening 3000 = closing → 0.00 %;
    //     digital 0.00 %; mobiles 1/2 = 50 %; no grievances (null).
    //     Score = 100 × (40 + 0 + 0 + 5) / 85 = 52.94.
    // S3: billed 6000, collected 0 → 0 %; opening 0 → null; digital null; mobiles 0 %.
    //     Score = 0.00.
    let api = Api::seeded();
    let answer = api.get("hq", "/api/v1/rankings?period=2026-08&level=subdivision");
    let rows = answer.rows();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in &rows {
        assert_eq!(keys(row), column_set(&RANKING_COLUMNS));
        assert_eq!(row["period"], "2026-08");
        assert_eq!(row["level"], "subdivision");
        for amount in ["billed", "collected", "opening_arrears", "closing_arrears"] {
            assert_amount_string(&row[amount], amount);
        }
    }
    let order: Vec<_> = rows.iter().map(|r| r["office_code"].clone()).collect();
    assert_eq!(
        order,
        [json!("S2"), json!("S1"), json!("S3")],
        "ranked by score"
    );
    assert_fields(
        row_by(&rows, "office_code", "S2"),
        &[
            ("rank", Some("1")),
            ("office_name", Some("Muni Ki Reti")),
            ("billed", Some("1000.00")),
            ("collected", Some("1000.00")),
            ("collection_efficiency_pct", Some("100.00")),
            ("opening_arrears", Some("3000.00")),
            ("closing_arrears", Some("3000.00")),
            ("arrears_reduction_pct", Some("0.00")),
            ("digital_share_pct", Some("0.00")),
            ("mobile_coverage_pct", Some("50.00")),
            ("grievance_resolution_pct", None),
            ("score", Some("52.94")),
        ],
    );
    assert_fields(
        row_by(&rows, "office_code", "S1"),
        &[
            ("rank", Some("2")),
            ("office_name", Some("ऋषिकेश")),
            ("billed", Some("1500.00")),
            ("collected", Some("900.00")),
            ("collection_efficiency_pct", Some("60.00")),
            ("opening_arrears", Some("1600.00")),
            ("closing_arrears", Some("3000.00")),
            ("arrears_reduction_pct", Some("-87.50")),
            ("digital_share_pct", Some("77.78")),
            ("mobile_coverage_pct", Some("66.67")),
            ("grievance_resolution_pct", Some("50.00")),
            ("score", Some("45.94")),
        ],
    );
    assert_fields(
        row_by(&rows, "office_code", "S3"),
        &[
            ("rank", Some("3")),
            ("billed", Some("6000.00")),
            ("collected", Some("0.00")),
            ("collection_efficiency_pct", Some("0.00")),
            ("opening_arrears", Some("0.00")),
            ("closing_arrears", Some("6000.00")),
            ("arrears_reduction_pct", None),
            ("digital_share_pct", None),
            ("mobile_coverage_pct", Some("0.00")),
            ("grievance_resolution_pct", None),
            ("score", Some("0.00")),
        ],
    );

    // Circles: C1 = S1 + S2: billed 2500, collected 1900 → 76 %; opening 4600, closing 6000
    // → −30.43 %; digital 700/1900 = 36.84 %; mobiles 3/5 = 60 %; grievances 50 %.
    // Score = 30.4 + 0 + 7.5 + 3.684… + 6 = 47.58. C2 = S3.
    let answer = api.get(
        "hq",
        "/api/v1/rankings?period=2026-08&level=circle&format=csv",
    );
    let rows = assert_csv(&answer, &RANKING_COLUMNS);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["office_code"], "C1");
    assert_eq!(rows[0]["rank"], "1");
    assert_eq!(rows[0]["billed"], "2500.00");
    assert_eq!(rows[0]["collected"], "1900.00");
    assert_eq!(rows[0]["collection_efficiency_pct"], "76.00");
    assert_eq!(rows[0]["opening_arrears"], "4600.00");
    assert_eq!(rows[0]["closing_arrears"], "6000.00");
    assert_eq!(rows[0]["arrears_reduction_pct"], "-30.43");
    assert_eq!(rows[0]["digital_share_pct"], "36.84");
    assert_eq!(rows[0]["mobile_coverage_pct"], "60.00");
    assert_eq!(rows[0]["grievance_resolution_pct"], "50.00");
    assert_eq!(rows[0]["score"], "47.58");
    assert_eq!(rows[1]["office_code"], "C2");
    assert_eq!(rows[1]["rank"], "2");
    assert_eq!(
        rows[1]["arrears_reduction_pct"], "",
        "null is an empty CSV field"
    );
    assert_eq!(rows[1]["score"], "0.00");

    // A nightly run changes nothing in the rankings.
    let before = api
        .get("hq", "/api/v1/rankings?period=2026-08&level=subdivision")
        .text;
    api.nightly("2026-09-30");
    let after = api
        .get("hq", "/api/v1/rankings?period=2026-08&level=subdivision")
        .text;
    assert_eq!(
        serde_json::from_str::<Value>(&before).unwrap(),
        serde_json::from_str::<Value>(&after).unwrap()
    );
}

#[test]
fn rankings_leave_out_offices_with_nothing_billed() {
    // July 2026: S3 billed nothing and is not ranked. S2 (billed 3000, nothing collected,
    // opening 0, mobiles 1/2) scores 100 × 5 / 50 = 10.00; S1 (billed 2400, mobiles 1/3)
    // scores 6.67.
    let api = Api::seeded();
    let rows = api
        .get("hq", "/api/v1/rankings?period=2026-07&level=subdivision")
        .rows();
    let order: Vec<_> = rows.iter().map(|r| r["office_code"].clone()).collect();
    assert_eq!(order, [json!("S2"), json!("S1")]);
    assert_fields(
        &rows[0],
        &[
            ("billed", Some("3000.00")),
            ("collection_efficiency_pct", Some("0.00")),
            ("arrears_reduction_pct", None),
            ("digital_share_pct", None),
            ("score", Some("10.00")),
        ],
    );
    assert_fields(
        &rows[1],
        &[
            ("billed", Some("2400.00")),
            ("mobile_coverage_pct", Some("33.33")),
            ("score", Some("6.67")),
        ],
    );
}

#[test]
fn awards_name_the_top_three_and_the_most_improved() {
    // August 2026 against July 2026 (scores from the rankings tests):
    // subdivision: gold S2 52.94 (+42.94 over 10.00), silver S1 45.94 (+39.28 over 6.67),
    //   bronze S3 0.00 (not ranked in July: no score_change), most_improved S2.
    // division: gold D1 47.58 (+39.58 over July's 8.00: mobiles 2/5), silver D2,
    //   most_improved D1. circle: the same with C1 and C2.
    let api = Api::seeded();
    let rows = api.get("hq", "/api/v1/awards?period=2026-08").rows();
    for row in &rows {
        assert_eq!(keys(row), column_set(&AWARD_COLUMNS));
        assert_eq!(row["period"], "2026-08");
    }
    let find = |level: &str, award: &str| -> Option<&Value> {
        rows.iter()
            .find(|r| r["level"] == level && r["award"] == award)
    };
    let expect = [
        ("subdivision", "gold", "S2", "52.94", Some("42.94")),
        ("subdivision", "silver", "S1", "45.94", Some("39.28")),
        ("subdivision", "bronze", "S3", "0.00", None),
        ("subdivision", "most_improved", "S2", "52.94", Some("42.94")),
        ("division", "gold", "D1", "47.58", Some("39.58")),
        ("division", "silver", "D2", "0.00", None),
        ("division", "most_improved", "D1", "47.58", Some("39.58")),
        ("circle", "gold", "C1", "47.58", Some("39.58")),
        ("circle", "silver", "C2", "0.00", None),
        ("circle", "most_improved", "C1", "47.58", Some("39.58")),
    ];
    for (level, award, office, score, change) in expect {
        let row = find(level, award).unwrap_or_else(|| panic!("{level} {award} in {rows:?}"));
        assert_fields(
            row,
            &[
                ("office_code", Some(office)),
                ("score", Some(score)),
                ("score_change", change),
            ],
        );
    }
    assert!(
        find("division", "bronze").is_none(),
        "only two divisions ranked"
    );
    assert!(
        find("circle", "bronze").is_none(),
        "only two circles ranked"
    );
    assert_eq!(rows.len(), expect.len(), "{rows:?}");

    let answer = api.get("hq", "/api/v1/awards?period=2026-08&format=csv");
    let csv_rows = assert_csv(&answer, &AWARD_COLUMNS);
    assert_eq!(csv_rows.len(), expect.len());
    let bronze = csv_rows
        .iter()
        .find(|r| r["level"] == "subdivision" && r["award"] == "bronze")
        .unwrap();
    assert_eq!(bronze["score_change"], "", "empty when not ranked in both");
}

#[test]
fn rankings_and_awards_refuse_bad_parameters() {
    // A missing or malformed period or level is a client error with the error body (whether
    // 400 or 422 is left open).
    let api = Api::seeded();
    for path in [
        "/api/v1/rankings?level=circle",
        "/api/v1/rankings?period=2026-13&level=circle",
        "/api/v1/rankings?period=2026-08&level=zone",
        "/api/v1/rankings?period=August&level=circle",
        "/api/v1/awards",
        "/api/v1/awards?period=FY26",
    ] {
        let answer = api.get("hq", path);
        assert!(
            answer.status == 400 || answer.status == 422,
            "{path}: {} {}",
            answer.status,
            answer.text
        );
        assert_error_body(&answer, path);
    }
    // Financial years and quarters are periods too.
    for path in [
        "/api/v1/rankings?period=FY2026-27&level=circle",
        "/api/v1/rankings?period=FY2026-27-Q2&level=subdivision",
        "/api/v1/awards?period=FY2026-27-Q2",
    ] {
        api.get("hq", path).ok(path);
    }
    // FY2026-27-Q2 (July to September) for S3: billed 6000, collected 0.
    let rows = api
        .get(
            "hq",
            "/api/v1/rankings?period=FY2026-27-Q2&level=subdivision",
        )
        .rows();
    let s3 = row_by(&rows, "office_code", "S3");
    assert_fields(
        s3,
        &[
            ("billed", Some("6000.00")),
            ("period", Some("FY2026-27-Q2")),
        ],
    );
    let s1 = row_by(&rows, "office_code", "S1");
    // S1 in Q2: billed 1200 + 1500 + 800 + 400 = 3900, collected 900.
    assert_fields(
        s1,
        &[("billed", Some("3900.00")), ("collected", Some("900.00"))],
    );
}

// ---------------------------------------------------------------------------------------
// Commands: bodies, validation, check order, idempotency, atomicity
// ---------------------------------------------------------------------------------------

#[test]
fn a_command_reposted_with_the_same_content_is_the_same_result() {
    // Re-posting the same natural key with the same content succeeds again and changes
    // nothing: the payment is counted once.
    let api = Api::seeded();
    let p5 = payment("P5", "A1", "31.25", "2026-08-15", "upi");
    let first = api.command("admin", p5.clone()).ok("first post");
    let second = api.command("admin", p5.clone()).ok("second post");
    assert_eq!(first.status, second.status);
    api.command("admin", json!([p5.clone(), p5]))
        .ok("in an array, twice");
    api.command("admin", seed_commands())
        .ok("the whole seed again");
    api.nightly("2026-09-30");
    // A1 paid 731.25 in all: B1's unpaid principal on 08-20 is 468.75 → LPS 5.86 (5.859375
    // rounds half away from zero); on 09-20 again 5.86; B2 1500 → 18.75.
    // Overdue = 2700 + 5.86 + 5.86 + 18.75 − 731.25 = 1999.22.
    let rows = api.get("admin", "/api/v1/offices/S1/defaulters").rows();
    assert_fields(
        row_of(&rows, "A1"),
        &[
            ("overdue_arrears", Some("1999.22")),
            ("last_payment_on", Some("2026-08-15")),
            ("last_payment_amount", Some("31.25")),
        ],
    );
}

#[test]
fn a_natural_key_with_other_content_is_409_and_writes_nothing() {
    let api = Api::seeded();
    api.command("admin", payment("P1", "A1", "701.00", "2026-08-10", "upi"))
        .error(409, "receipt P1 with another amount");
    api.command(
        "admin",
        bill("B1", "A1", "2026-06", "2026-07-05", "2026-07-20", "1300.00"),
    )
    .error(409, "bill B1 with another amount");
    api.command("admin", consumer("A1", "Someone Else", "S1", None))
        .error(409, "account A1 with another name");
    // Atomic: a valid new command before the conflicting one is not applied either.
    api.command(
        "admin",
        json!([
            consumer("A8", "Indu", "S1", None),
            payment("P1", "A1", "701.00", "2026-08-10", "upi"),
        ]),
    )
    .error(409, "array with a conflict");
    api.get("admin", "/api/v1/consumers/A8")
        .error(404, "A8 was not written");
    api.nightly("2026-09-30");
    let rows = api.get("admin", "/api/v1/offices/S1/defaulters").rows();
    assert_eq!(row_of(&rows, "A1")["overdue_arrears"], "2031.25");
}

#[test]
fn malformed_bodies_and_unknown_keys_are_400() {
    let api = Api::seeded();
    for (what, body) in [
        ("not JSON", "{\"type\":".to_string()),
        ("empty body", String::new()),
        ("a JSON string", "\"receive_payment\"".to_string()),
        ("no type", json!({"receipt_no":"P9"}).to_string()),
        ("unknown type", json!({"type":"pay_everything"}).to_string()),
        (
            "unknown key",
            json!({"type":"receive_payment","receipt_no":"P9","account_no":"A1",
                   "amount":"1.00","paid_on":"2026-08-11","channel":"upi","note":"x"})
            .to_string(),
        ),
        (
            "unknown key inside an array",
            json!([payment("P9", "A1", "1.00", "2026-08-11", "upi"),
                   {"type":"reconnect","account_no":"A1","on":"2026-08-11","by":"me"}])
            .to_string(),
        ),
    ] {
        api.post_raw("admin", "/api/v1/commands", "application/json", body)
            .error(400, what);
    }
    // A missing key: malformed (400) or a rule broken (422); either will do.
    api.command(
        "admin",
        json!({"type":"receive_payment","receipt_no":"P9","account_no":"A1",
               "amount":"1.00","channel":"upi"}),
    )
    .error_one_of(&[400, 422], "missing key");
    // None of it was written: P9 is free.
    api.command("admin", payment("P9", "A1", "5.00", "2026-08-11", "upi"))
        .ok("P9 unused");
    // The nightly body: unknown key, not JSON.
    api.post_json(
        "finance",
        "/api/v1/nightly",
        &json!({"as_of":"2026-09-30","dry_run":true}),
    )
    .error(400, "nightly unknown key");
    api.post_raw(
        "finance",
        "/api/v1/nightly",
        "application/json",
        "as_of=2026-09-30".into(),
    )
    .error(400, "nightly body not JSON");
    // A missing or impossible date: malformed or a rule broken; either will do.
    for body in [
        json!({}),
        json!({"as_of":"2026-02-30"}),
        json!({"as_of":"30/09/2026"}),
    ] {
        api.post_json("finance", "/api/v1/nightly", &body)
            .error_one_of(&[400, 422], &format!("nightly {body}"));
    }
}

#[test]
fn a_third_decimal_is_422_and_two_decimals_are_accepted_as_string_or_number() {
    let api = Api::seeded();
    api.command("admin", payment("P9", "A1", "1.005", "2026-08-11", "upi"))
        .error(422, "three decimals as a string");
    let mut as_number = payment("P9", "A1", "0", "2026-08-11", "upi");
    as_number["amount"] = json!(1.005);
    api.command("admin", as_number)
        .error(422, "three decimals as a number");
    api.command(
        "admin",
        bill("B9", "A4", "2026-09", "2026-09-05", "2026-09-20", "10.125"),
    )
    .error(422, "bill with three decimals");
    api.command(
        "admin",
        json!({"type":"register_consumer","account_no":"A9","name":"X","category":"domestic",
               "subdivision":"S1","load_kw":"1.2345","connected_on":"2026-01-01"}),
    )
    .error(422, "load_kw with four decimals");
    // Two decimals as a number, and a whole number, are accepted and written back with two
    // decimals.
    let mut p9 = payment("P9", "A4", "0", "2026-08-11", "upi");
    p9["amount"] = json!(100.5);
    api.command("admin", p9).ok("two decimals as a number");
    let mut p10 = payment("P10", "A4", "0", "2026-08-12", "upi");
    p10["amount"] = json!(9);
    api.command("admin", p10).ok("a whole number");
    api.nightly("2026-09-30");
    // A4: B5 400 − 109.50 = 290.50 unpaid on 08-20 and 09-20 → LPS 3.63 (3.63125) twice →
    // 297.76 overdue (below the defaulter minimum, so read from the statement).
    let statement = api.get("admin", "/api/v1/consumers/A4").json();
    let mut strings = Vec::new();
    collect_scalars(&statement, &mut strings, &mut Vec::new());
    for amount in ["100.50", "9.00", "3.63", "297.76"] {
        assert!(
            strings.iter().any(|s| s == amount),
            "{amount} in {statement}"
        );
    }
}

#[test]
fn state_rules_are_422_and_unknown_references_are_404() {
    let api = Api::seeded_after_nightly();
    // No reconnection of a connected consumer; no disconnection without a served notice.
    api.command(
        "admin",
        json!({"type":"reconnect","account_no":"A1","on":"2026-10-01"}),
    )
    .error(422, "reconnect a connected consumer");
    api.command(
        "admin",
        json!({"type":"disconnect","account_no":"A1","on":"2026-10-01","order_no":"O1"}),
    )
    .error(422, "disconnect without a served notice");
    // Unknown account and unknown office.
    api.command("admin", payment("P9", "NOPE1", "1.00", "2026-08-11", "upi"))
        .error(404, "payment for an unknown account");
    api.command("admin", consumer("A9", "X", "NOPE", None))
        .error(404, "consumer in an unknown subdivision");
    api.command(
        "admin",
        bill(
            "B9",
            "NOPE1",
            "2026-09",
            "2026-09-05",
            "2026-09-20",
            "10.00",
        ),
    )
    .error(404, "bill for an unknown account");
}

#[test]
fn checks_run_in_the_documented_order() {
    // 401, 403, 400, 422, 404, 409: the first that fails answers.
    let api = Api::seeded();
    let unknown_key = json!({"type":"receive_payment","receipt_no":"P1","account_no":"NOPE1",
        "amount":"1.005","paid_on":"2026-08-11","channel":"upi","extra":1});
    // No token beats everything.
    let answer = api.request(
        reqwest::Method::POST,
        "/api/v1/commands",
        None,
        Some(("application/json", unknown_key.to_string())),
    );
    answer.error(401, "401 first");
    // Outside the role beats a bad body.
    api.post_json("hq", "/api/v1/commands", &unknown_key)
        .error(403, "403 before 400");
    api.post_raw("hq", "/api/v1/commands", "application/json", "{oops".into())
        .error(403, "403 before a malformed body");
    // A bad body beats a rule broken.
    api.post_json("admin", "/api/v1/commands", &unknown_key)
        .error(400, "400 before 422");
    // A rule broken (third decimal) beats an unknown account and a reused receipt number.
    api.command(
        "admin",
        payment("P1", "NOPE1", "1.005", "2026-08-11", "upi"),
    )
    .error(422, "422 before 404 and 409");
    // Finally the conflict.
    api.command("admin", payment("P1", "A3", "1.00", "2026-08-11", "upi"))
        .error(409, "409 last");
    // Nightly: a date before the last run's is 422, after the role check.
    api.nightly("2026-09-30");
    api.post_json("hq", "/api/v1/nightly", &json!({"as_of":"2026-09-01"}))
        .error(403, "403 before 422 on nightly");
    api.post_json("finance", "/api/v1/nightly", &json!({"as_of":"2026-09-01"}))
        .error(422, "nightly before the last run");
}

#[test]
fn an_unknown_account_is_404_before_a_reused_natural_key_is_409() {
    // Receipt P1 is A1's; reposting P1 for an account that does not exist fails both the
    // 404 check (unknown account) and the 409 check (key with other content): 404 answers.
    let api = Api::seeded();
    api.command("admin", payment("P1", "NOPE1", "1.00", "2026-08-11", "upi"))
        .error(404, "404 before 409");
    api.command(
        "admin",
        bill(
            "B1",
            "NOPE1",
            "2026-06",
            "2026-07-05",
            "2026-07-20",
            "1200.00",
        ),
    )
    .error(404, "404 before 409 for a bill");
}

#[test]
fn nightly_is_idempotent_for_the_same_date() {
    // Rerunning the nightly for the same date appends nothing: the lists, including the
    // notice numbers, stay as they were.
    let api = Api::seeded_after_nightly();
    let before = api.get("admin", "/api/v1/offices/Z1/defaulters").json();
    api.nightly("2026-09-30");
    api.nightly("2026-09-30");
    let after = api.get("admin", "/api/v1/offices/Z1/defaulters").json();
    assert_eq!(before, after);
    let statement_before = api.get("admin", "/api/v1/consumers/A1").json();
    api.nightly("2026-09-30");
    assert_eq!(
        statement_before,
        api.get("admin", "/api/v1/consumers/A1").json()
    );
}

#[test]
fn imports_take_csv_bodies_validated_as_a_whole() {
    let api = Api::seeded();
    let header = "receipt_no,account_no,amount,paid_on,channel\n";
    // Columns in any order.
    let body = "paid_on,channel,amount,account_no,receipt_no\n2026-08-11,upi,10.00,A1,P20\n2026-08-12,bbps,20.00,A2,P21\n";
    api.post_raw(
        "finance",
        "/api/v1/import/payments",
        "text/csv",
        body.into(),
    )
    .ok("payments import");
    // The same file again: all duplicates, still a success.
    api.post_raw(
        "finance",
        "/api/v1/import/payments",
        "text/csv",
        body.into(),
    )
    .ok("the same import again");
    // The same receipt with other content: 409, and the good row beside it is not written.
    api.post_raw(
        "finance",
        "/api/v1/import/payments",
        "text/csv",
        format!("{header}P22,A1,5.00,2026-08-13,upi\nP20,A1,11.00,2026-08-11,upi\n"),
    )
    .error(409, "import with a changed receipt");
    // A third decimal anywhere rejects the whole file.
    api.post_raw(
        "finance",
        "/api/v1/import/payments",
        "text/csv",
        format!("{header}P22,A1,5.00,2026-08-13,upi\nP23,A1,5.005,2026-08-13,upi\n"),
    )
    .error(422, "import with a third decimal");
    // An unknown import kind is an unknown route.
    api.post_raw(
        "finance",
        "/api/v1/import/widgets",
        "text/csv",
        "a,b\n1,2\n".into(),
    )
    .error(404, "unknown import kind");
    // P22 was never written: posting it with any content now succeeds.
    api.command("admin", payment("P22", "A1", "6.00", "2026-08-13", "upi"))
        .ok("P22 unused");
    // Bills, consumers and mobiles import the same way.
    api.post_raw(
        "finance",
        "/api/v1/import/consumers",
        "text/csv",
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\nA9,राम सिंह,domestic,S2,1.5,2026-01-01,,en\n".into(),
    )
    .ok("consumers import");
    api.post_raw(
        "finance",
        "/api/v1/import/bills",
        "text/csv",
        "bill_no,account_no,period,issued_on,due_on,amount\nB9,A9,2026-07,2026-07-05,2026-07-20,900.00\n".into(),
    )
    .ok("bills import");
    api.post_raw(
        "finance",
        "/api/v1/import/mobiles",
        "text/csv",
        "account_no,mobile,registered_on,source\nA9,9812345678,2026-08-01,field\n".into(),
    )
    .ok("mobiles import");
    api.nightly("2026-09-30");
    // A9: 900 + LPS 11.25 (08-20) + 11.25 (09-20) = 922.50, 72 days; mobile registered.
    let rows = api.get("admin", "/api/v1/offices/S2/defaulters").rows();
    assert_fields(
        row_of(&rows, "A9"),
        &[
            ("name", Some("राम सिंह")),
            ("overdue_arrears", Some("922.50")),
            ("days_overdue", Some("72")),
            ("mobile_registered", Some("yes")),
            ("stage", Some("clear")),
        ],
    );
    // A1 paid 10.00 more on 08-11 (P20) and 6.00 on 08-13 (P22): 716.00 in all. B1 unpaid
    // 484.00 → 6.05 twice; B2 18.75. 2700 + 6.05 + 6.05 + 18.75 − 716 = 2014.85.
    // A2 paid 20.00 (P21) on 08-12: 2980 → 37.25 twice → 3054.50.
    let rows = api.get("admin", "/api/v1/offices/D1/defaulters").rows();
    assert_eq!(row_of(&rows, "A1")["overdue_arrears"], "2014.85");
    assert_eq!(row_of(&rows, "A2")["overdue_arrears"], "3054.50");
}

#[test]
fn an_oversized_body_is_refused_and_writes_nothing() {
    // A 64 MiB commands body (valid JSON: one command padded with spaces) is refused as a
    // client error before it is applied; the office it would register does not exist.
    let api = Api::start();
    let head = r#"[{"type":"register_office","code":"S9","name":"Nine","level":"subdivision","parent":"D1"}"#;
    let size = 64 * 1024 * 1024;
    let mut stream = TcpStream::connect(&api.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/commands HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        api.addr,
        api.token("admin"),
        size
    )
    .unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    let mut sent = head.len();
    while sent + chunk.len() < size {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    if sent + chunk.len() >= size {
        let _ = stream.write_all(&vec![b' '; size - sent - 1]);
        let _ = stream.write_all(b"]");
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status: u16 = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {response:?}"));
    assert!(
        status == 413 || status == 400,
        "oversized body: {status}: {response}"
    );
    let (headers, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let content_type = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    assert_error_body(
        &Answer {
            status,
            content_type,
            text: body.to_string(),
        },
        "oversized body",
    );
    api.get("admin", "/api/v1/offices/S9/defaulters")
        .error(404, "S9 was not registered");
}

#[test]
fn acknowledged_writes_are_on_disk_after_the_server_stops() {
    // A write returns only after it is durable: after the server is stopped, the data dir
    // holds what was acknowledged and `vasooli verify` finds the log sound.
    let mut api = Api::seeded();
    api.command("admin", payment("P9", "A1", "1.00", "2026-08-11", "upi"))
        .ok("payment");
    let _ = api.child.kill();
    let _ = api.child.wait();
    vasooli(&api.data, &["verify"]);
    vasooli(&api.data, &["nightly", "--as-of", "2026-09-30"]);
    let out = vasooli(
        &api.data,
        &["defaulters", "--office", "S1", "--format", "csv"],
    );
    let records = csv_records(&out);
    assert_eq!(records[0], DEFAULTER_COLUMNS);
    let a1 = records.iter().find(|r| r[0] == "A1").unwrap();
    // 701.00 paid: B1 unpaid 499.00 → 6.24 (6.2375) twice; B2 18.75.
    // 2700 + 6.24 + 6.24 + 18.75 − 701 = 2030.23.
    assert_eq!(a1[7], "2030.23");
}

#[test]
fn holds_keep_consumers_off_the_disconnection_worklist() {
    // Notices of A1, A2, A5 and of A7 (government: 20000.00 due 07-20) served 2026-10-01;
    // A2 raises a dispute on 10-05 with a 500.00 deposit; A5 is granted a plan on 10-02
    // (3000.00 due 10-10, 3075.00 due 11-10). Nightly 2026-10-17 (clear days passed):
    //   A7 20000 + 250 + 250 = 20500.00, hold essential_service → hq_escalation;
    //   A5 6075.00, hold installment_plan; A2 3075 − 500 = 2575.00, hold dispute;
    //   A1 2031.25, no hold → the disconnection worklist is A1 alone.
    // Nightly 2026-10-26: A5's plan is broken (nothing paid, 3000.00 due by 10-26 − 15 days),
    // the 10-20 anniversaries levy A1 6.25 + 18.75, A2 31.25 (2500 unpaid), A5 75.00,
    // A7 250.00 → disconnection worklist A5 6150.00, A1 2056.25.
    let api = Api::seeded();
    api.command(
        "admin",
        json!([
            {"type":"register_consumer","account_no":"A7","name":"Tehsil Office",
             "category":"government","subdivision":"S2","load_kw":"10",
             "connected_on":"2026-01-01","mobile":"9876500007","language":"en"},
            bill("B8", "A7", "2026-06", "2026-07-05", "2026-07-20", "20000.00"),
        ]),
    )
    .ok("government consumer");
    api.nightly("2026-09-30");
    for account in ["A1", "A2", "A5", "A7"] {
        let notice_no = api.notice_no(account);
        api.command(
            "admin",
            json!({"type":"serve_notice","notice_no":notice_no,"served_on":"2026-10-01","mode":"hand"}),
        )
        .ok(&format!("serve {account}"));
    }
    api.command(
        "admin",
        json!({"type":"grant_installment_plan","plan_id":"PLAN1","account_no":"A5",
               "granted_on":"2026-10-02","installments":[
                   {"due_on":"2026-10-10","amount":"3000.00"},
                   {"due_on":"2026-11-10","amount":"3075.00"}]}),
    )
    .ok("plan");
    api.command(
        "admin",
        json!({"type":"raise_dispute","account_no":"A2","on":"2026-10-05","deposit":"500.00",
               "bill_no":"B3"}),
    )
    .ok("dispute");
    api.nightly("2026-10-17");
    let rows = api.get("admin", "/api/v1/offices/Z1/defaulters").rows();
    assert_eq!(accounts(&rows), ["A7", "A5", "A2", "A1", "A3"]);
    for (account, arrears, days, bucket, hold) in [
        ("A7", "20500.00", "89", "61-90", "essential_service"),
        ("A5", "6075.00", "58", "31-60", "installment_plan"),
        ("A2", "2575.00", "89", "61-90", "dispute"),
        ("A1", "2031.25", "89", "61-90", ""),
    ] {
        let row = row_of(&rows, account);
        assert_fields(
            row,
            &[
                ("overdue_arrears", Some(arrears)),
                ("days_overdue", Some(days)),
                ("aging_bucket", Some(bucket)),
                ("stage", Some("disconnection_due")),
                ("notice_served_on", Some("2026-10-01")),
                ("disconnection_allowed_on", Some("2026-10-17")),
            ],
        );
        assert_eq!(text(&row["hold"]).unwrap_or_default(), hold, "{row}");
    }
    // A3: B4's second anniversary 10-05 levies 7.50 on 600 unpaid: 615.00, 73 days.
    assert_fields(
        row_of(&rows, "A3"),
        &[
            ("overdue_arrears", Some("615.00")),
            ("days_overdue", Some("73")),
            ("aging_bucket", Some("61-90")),
            ("stage", Some("clear")),
        ],
    );
    let disconnection = api
        .get("admin", "/api/v1/offices/Z1/worklists/disconnection")
        .rows();
    assert_eq!(accounts(&disconnection), ["A1"]);
    let escalation = api
        .get("admin", "/api/v1/offices/Z1/worklists/hq_escalation")
        .rows();
    assert_eq!(accounts(&escalation), ["A7"]);
    assert_eq!(escalation[0]["kind"], "hq_escalation");

    api.nightly("2026-10-26");
    let disconnection = api
        .get("admin", "/api/v1/offices/Z1/worklists/disconnection")
        .rows();
    assert_eq!(accounts(&disconnection), ["A5", "A1"]);
    assert_fields(
        &disconnection[0],
        &[
            ("overdue_arrears", Some("6150.00")),
            ("days_overdue", Some("67")),
            ("aging_bucket", Some("61-90")),
            ("hold", Some("")),
        ],
    );
    assert_fields(
        &disconnection[1],
        &[
            ("overdue_arrears", Some("2056.25")),
            ("days_overdue", Some("98")),
            ("aging_bucket", Some("91-180")),
        ],
    );
    let rows = api.get("admin", "/api/v1/offices/Z1/defaulters").rows();
    assert_eq!(row_of(&rows, "A2")["overdue_arrears"], "2606.25");
    assert_eq!(row_of(&rows, "A7")["overdue_arrears"], "20750.00");

    // A1 is disconnected, pays everything (2756.25 charged − 700.00 paid = 2056.25) and is
    // due for reconnection: on the reconnection worklist owing nothing.
    api.command(
        "officer_s1",
        json!({"type":"disconnect","account_no":"A1","on":"2026-10-26","order_no":"ORD-7"}),
    )
    .ok("disconnect A1");
    api.command(
        "admin",
        payment("P30", "A1", "2056.25", "2026-10-27", "upi"),
    )
    .ok("A1 pays in full");
    api.nightly("2026-10-28");
    let reconnection = api
        .get("officer_s1", "/api/v1/offices/S1/worklists/reconnection")
        .rows();
    assert_eq!(accounts(&reconnection), ["A1"]);
    assert_fields(
        &reconnection[0],
        &[
            ("overdue_arrears", Some("0.00")),
            ("days_overdue", Some("0")),
            ("aging_bucket", Some("0-30")),
            ("stage", Some("reconnection_due")),
            ("last_payment_on", Some("2026-10-27")),
            ("last_payment_amount", Some("2056.25")),
            ("kind", Some("reconnection")),
        ],
    );
    let rows = api.get("admin", "/api/v1/offices/S1/defaulters").rows();
    assert!(!accounts(&rows).contains(&"A1".to_string()));
    api.command(
        "officer_s1",
        json!({"type":"reconnect","account_no":"A1","on":"2026-10-29"}),
    )
    .ok("reconnect A1");
    api.command(
        "officer_s1",
        json!({"type":"reconnect","account_no":"A1","on":"2026-10-30"}),
    )
    .error(422, "reconnect a reconnected consumer");
}

#[test]
fn boundaries_of_due_dates_surcharge_rounding_and_thresholds() {
    // K1: 1234.00 due 2026-01-31. Its first anniversary clamps to 2026-02-28 and levies
    // 1234.00 × 1.25 % = 15.425 → 15.43 (half away from zero, not half to even), due that day
    // so not yet overdue. Days overdue reach 30 on 03-02: the notice is issued that night
    // (≥ 30), the bucket is still 0-30; on 03-03 it is 31-60.
    // K2 owes exactly 500.00 (a defaulter: ≥ the minimum), K3 499.99 (not), K4 paid on the
    // due date (on time: owes nothing).
    let api = Api::start();
    api.command(
        "admin",
        json!([
            consumer("K1", "Kamla", "S1", None),
            consumer("K2", "Kishan", "S1", None),
            consumer("K3", "Kusum", "S1", None),
            consumer("K4", "Kiran", "S1", None),
            bill(
                "KB1",
                "K1",
                "2025-12",
                "2026-01-10",
                "2026-01-31",
                "1234.00"
            ),
            bill("KB2", "K2", "2026-01", "2026-02-01", "2026-02-10", "500.00"),
            bill("KB3", "K3", "2026-01", "2026-02-01", "2026-02-10", "499.99"),
            bill("KB4", "K4", "2026-01", "2026-02-01", "2026-02-10", "600.00"),
            payment("KP4", "K4", "600.00", "2026-02-10", "bbps"),
        ]),
    )
    .ok("seed");
    let k1 = |api: &Api| -> Value {
        let rows = api.get("admin", "/api/v1/offices/S1/defaulters").rows();
        row_of(&rows, "K1").clone()
    };
    api.nightly("2026-02-27");
    let rows = api.get("admin", "/api/v1/offices/S1/defaulters").rows();
    assert_eq!(accounts(&rows), ["K1", "K2"]);
    assert_fields(
        &rows[1],
        &[
            ("overdue_arrears", Some("500.00")),
            ("days_overdue", Some("17")),
        ],
    );
    assert_fields(
        &rows[0],
        &[
            ("overdue_arrears", Some("1234.00")),
            ("days_overdue", Some("27")),
            ("stage", Some("clear")),
        ],
    );
    api.nightly("2026-02-28");
    assert_fields(
        &k1(&api),
        &[
            ("overdue_arrears", Some("1234.00")),
            ("days_overdue", Some("28")),
        ],
    );
    api.nightly("2026-03-01");
    assert_fields(
        &k1(&api),
        &[
            ("overdue_arrears", Some("1249.43")),
            ("days_overdue", Some("29")),
            ("aging_bucket", Some("0-30")),
            ("stage", Some("clear")),
        ],
    );
    api.nightly("2026-03-02");
    let row = k1(&api);
    assert_fields(
        &row,
        &[
            ("days_overdue", Some("30")),
            ("aging_bucket", Some("0-30")),
            ("stage", Some("notice_issued")),
        ],
    );
    assert!(row["notice_no"].as_str().is_some_and(|n| !n.is_empty()));
    api.nightly("2026-03-03");
    assert_fields(
        &k1(&api),
        &[
            ("days_overdue", Some("31")),
            ("aging_bucket", Some("31-60")),
        ],
    );
    let statement = api.get("admin", "/api/v1/consumers/K1").json();
    let mut strings = Vec::new();
    collect_scalars(&statement, &mut strings, &mut Vec::new());
    assert!(strings.iter().any(|s| s == "15.43"), "{statement}");
    assert!(!strings.iter().any(|s| s == "15.42"), "{statement}");
}

#[test]
fn a_revision_lowers_the_bill_from_its_date() {
    // B3 (3000.00, due 07-20) is revised to 2000.00 on 08-25. Its 08-20 surcharge was levied
    // on 3000 (37.50), its 09-20 one on 2000 (25.00): A2 owes 2062.50 on 09-30. In August S2
    // billed 1000.00 (B6) − 1000.00 (the revision) = 0: not ranked. A revision may only
    // lower a bill.
    let api = Api::seeded();
    api.command(
        "admin",
        json!({"type":"revise_bill","bill_no":"B3","revised_on":"2026-08-25",
               "new_amount":"3500.00","reason":"raise"}),
    )
    .error(422, "a revision that raises the bill");
    api.command(
        "ingest",
        json!({"type":"revise_bill","bill_no":"B3","revised_on":"2026-08-25",
               "new_amount":"2000.00","reason":"meter misread"}),
    )
    .ok("revision");
    api.nightly("2026-09-30");
    let rows = api.get("admin", "/api/v1/offices/S2/defaulters").rows();
    assert_fields(
        row_of(&rows, "A2"),
        &[
            ("overdue_arrears", Some("2062.50")),
            ("days_overdue", Some("72")),
        ],
    );
    let rows = api
        .get("hq", "/api/v1/rankings?period=2026-08&level=subdivision")
        .rows();
    let order: Vec<_> = rows.iter().map(|r| r["office_code"].clone()).collect();
    assert_eq!(order, [json!("S1"), json!("S3")]);
    assert_eq!(text(&rows[0]["rank"]).as_deref(), Some("1"));
}
