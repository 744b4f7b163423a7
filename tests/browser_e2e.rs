//! End-to-end tests of the officers' web page: the real server on a loopback port with a
//! small utility seeded through the API, the page's own routes checked over HTTP, and the
//! page itself run in headless Chromium, which must sign in from the link, fetch the
//! defaulter list and render its rows.
//!
//! Chromium is looked for at `VASOOLI_CHROMIUM` or `/usr/bin/chromium`. Without it the
//! browser test fails when `CI` is set, since CI installs it, and is skipped with a note
//! otherwise, so that the suite still runs on a machine without a browser.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vasooli_domain::Policy;
use vasooli_server::tokens::{self, Role};
use vasooli_server::AppState;

/// How long one Chromium run may take before it is killed and the test fails.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

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
        Server::start_with(Policy::default()).await
    }

    async fn start_with(policy: Policy) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(dir.path(), policy).unwrap();
        let mut tokens = HashMap::new();
        for (name, role, office) in [
            ("admin", Role::Admin, None),
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
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            tokens,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Status, content type and body of a GET, as `role` (or with no token).
    async fn get(&self, path: &str, role: Option<&str>) -> (StatusCode, String, String) {
        let mut request = self
            .http
            .request(Method::GET, format!("{}{path}", self.base));
        if let Some(role) = role {
            request = request.bearer_auth(&self.tokens[role]);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, content_type, response.text().await.unwrap())
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.tokens["admin"])
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
        body
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// The offices Z1 > C1 > D1 > {S1, S2}; A1 in S1 with the bills and payment of the
/// ledger's worked example in docs/RULES.md and a Hindi name and language, A2 in S2 with one large unpaid bill; a nightly run.
async fn seeded() -> Server {
    let server = Server::start().await;
    let commands = json!([
        {"type":"register_office","code":"Z1","name":"गढ़वाल क्षेत्र","level":"zone"},
        {"type":"register_office","code":"C1","name":"देहरादून वृत्त","level":"circle","parent":"Z1"},
        {"type":"register_office","code":"D1","name":"Dehradun North","level":"division","parent":"C1"},
        {"type":"register_office","code":"S1","name":"Rajpur","level":"subdivision","parent":"D1"},
        {"type":"register_office","code":"S2","name":"Mussoorie","level":"subdivision","parent":"D1"},
        {"type":"register_consumer","account_no":"A1","name":"आशा देवी","category":"domestic",
         "subdivision":"S1","load_kw":"2","connected_on":"2026-01-01","language":"hi"},
        {"type":"register_consumer","account_no":"A2","name":"Bhim Singh","category":"domestic",
         "subdivision":"S2","load_kw":"2","connected_on":"2026-01-01","language":"en"},
        {"type":"issue_bill","bill_no":"B1","account_no":"A1","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"1200.00"},
        {"type":"issue_bill","bill_no":"B2","account_no":"A1","period":"2026-07",
         "issued_on":"2026-08-05","due_on":"2026-08-20","amount":"1500.00"},
        {"type":"issue_bill","bill_no":"B3","account_no":"A2","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"3000.00"},
        {"type":"receive_payment","receipt_no":"P1","account_no":"A1","amount":"700.00",
         "paid_on":"2026-08-10","channel":"upi"}
    ]);
    server.admin_post("/api/v1/commands", commands).await;
    server
        .admin_post("/api/v1/nightly", json!({"as_of":"2026-09-30"}))
        .await;
    server
}

fn office_codes(me: &Value) -> Vec<&str> {
    me["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_its_files_and_its_api_routes_answer() {
    let server = seeded().await;

    // The page and its files are open, UTF-8, and refer to nothing on another host.
    for (path, kind) in [
        ("/", "text/html"),
        ("/page.js", "text/javascript"),
        ("/page.css", "text/css"),
    ] {
        let (status, content_type, body) = server.get(path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(content_type.contains("charset=utf-8"), "{path}");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
    }
    let (_, _, page) = server.get("/", None).await;
    assert!(page.contains("/page.js") && page.contains("/page.css"));

    // Who the token is and which offices it may pick, top down.
    let (status, _, text) = server.get("/api/v1/me", Some("officer_s1")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me["name"], "officer_s1");
    assert_eq!(me["role"], "officer");
    assert_eq!(me["office"], "S1");
    assert_eq!(me["as_of"], "2026-09-30");
    assert_eq!(office_codes(&me), ["S1"]);
    assert_eq!(me["offices"][0]["name"], "Rajpur");
    assert_eq!(me["offices"][0]["level"], "subdivision");
    assert!(me["worklists"]
        .as_array()
        .unwrap()
        .contains(&json!("serve_notice")));
    let (_, _, text) = server.get("/api/v1/me", Some("officer_d1")).await;
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(office_codes(&me), ["D1", "S1", "S2"]);
    for role in ["admin", "hq"] {
        let (_, _, text) = server.get("/api/v1/me", Some(role)).await;
        let me: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(office_codes(&me), ["Z1", "C1", "D1", "S1", "S2"], "{role}");
        assert_eq!(me["office"], Value::Null);
        assert_eq!(me["offices"][0]["name"], "गढ़वाल क्षेत्र");
    }
    let (status, _, text) = server.get("/api/v1/me", Some("ingest")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let me: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me["role"], "ingest");
    assert!(office_codes(&me).is_empty());
    let (status, _, _) = server.get("/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The worklist behind the notices: A1 is due a notice.
    let (status, _, text) = server
        .get(
            "/api/v1/offices/S1/worklists/serve_notice",
            Some("officer_s1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let rows: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(rows[0]["account_no"], "A1", "{text}");

    // Notices: HTML, one page per consumer, in the consumer's language.
    let path = "/api/v1/offices/D1/worklists/serve_notice/notices";
    let (status, content_type, html) = server.get(path, Some("officer_d1")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        html.contains("आशा देवी") && html.contains("धारा 56(1)"),
        "{html}"
    );
    assert!(html.contains("2031.25"), "{html}");
    let pages = html.matches("class=\"page\"").count();
    let (_, _, list) = server
        .get(
            "/api/v1/offices/D1/worklists/serve_notice",
            Some("officer_d1"),
        )
        .await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(pages, list.as_array().unwrap().len());
    if list
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["account_no"] == "A2")
    {
        assert!(html.contains("Section 56(1)"), "{html}");
    }

    // The same checks as the worklist itself, in the same order.
    for (path, role, want) in [
        (path, None, 401),
        (path, Some("officer_s1"), 403),
        (path, Some("ingest"), 403),
        (
            "/api/v1/offices/S1/worklists/serve_notice/notices",
            Some("officer_s1"),
            200,
        ),
        (
            "/api/v1/offices/S1/worklists/serve_notice/notices?format=csv",
            Some("officer_s1"),
            400,
        ),
        (
            "/api/v1/offices/S1/worklists/serve_notice/notices?limit=1",
            Some("officer_s1"),
            200,
        ),
        (
            "/api/v1/offices/S1/worklists/nothing/notices",
            Some("officer_s1"),
            404,
        ),
        (
            "/api/v1/offices/ZZ/worklists/serve_notice/notices",
            Some("admin"),
            404,
        ),
        (
            "/api/v1/offices/ZZ/worklists/serve_notice/notices",
            Some("officer_s1"),
            403,
        ),
        // Lists without papers are refused.
        (
            "/api/v1/offices/S1/worklists/no_mobile/notices",
            Some("officer_s1"),
            422,
        ),
        (
            "/api/v1/offices/S1/worklists/hq_escalation/notices",
            Some("officer_s1"),
            422,
        ),
    ] {
        let (status, _, text) = server.get(path, role).await;
        assert_eq!(status.as_u16(), want, "{role:?} GET {path}: {text}");
    }
    server.stop().await;
}

/// The browser to drive, or `None` (after a note) when there is none and CI is not set.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("VASOOLI_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: CI must install Chromium (apt-get install chromium) for the \
             browser test of the officers' page",
            path.display()
        );
    }
    eprintln!(
        "note: skipping the browser test of the officers' page: {} is missing \
         (install chromium, or point VASOOLI_CHROMIUM at a Chromium binary)",
        path.display()
    );
    None
}

/// Loads `url` in headless Chromium and returns the DOM once the page's scripts and
/// fetches have settled.
fn dump_dom(browser: &PathBuf, url: &str) -> String {
    let args = ["--virtual-time-budget=5000", "--dump-dom"].map(String::from);
    let (dom, errors) = run_chromium(browser, &args, url);
    assert!(
        dom.contains("</html>"),
        "no DOM was dumped; stderr:\n{errors}"
    );
    dom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_an_officers_defaulters_in_a_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let server = seeded().await;

    let url = format!(
        "{}/#token={}&office=S1",
        server.base, server.tokens["officer_s1"]
    );
    let dom = tokio::task::spawn_blocking({
        let browser = browser.clone();
        move || dump_dom(&browser, &url)
    })
    .await
    .unwrap();
    // Signed in, lists shown, the defaulter row rendered with its arrears and Hindi name.
    assert!(dom.contains("<section id=\"lists\">"), "{dom}");
    assert!(
        dom.contains("<section id=\"sign-in\" hidden=\"\">"),
        "{dom}"
    );
    assert!(dom.contains("<td data-label=\"Account\">A1</td>"), "{dom}");
    // Arrears in rupees with Indian grouping.
    assert!(
        dom.contains("<td data-label=\"Arrears\" class=\"num\">₹ 2,031.25</td>"),
        "{dom}"
    );
    assert!(dom.contains("आशा देवी"), "{dom}");
    assert!(dom.contains("officer_s1 · officer · office S1"), "{dom}");
    // A2 belongs to S2, outside this officer's office.
    assert!(!dom.contains(">A2</td>"), "{dom}");
    assert!(!dom.contains(&server.tokens["officer_s1"]), "{dom}");

    // An ingest token is told why it sees no lists.
    let url = format!("{}/#token={}", server.base, server.tokens["ingest"]);
    let dom = tokio::task::spawn_blocking(move || dump_dom(&browser, &url))
        .await
        .unwrap();
    assert!(dom.contains("<section id=\"no-reads\">"), "{dom}");
    assert!(dom.contains("<section id=\"lists\" hidden=\"\">"), "{dom}");
    assert!(!dom.contains(">A1</td>"), "{dom}");
    server.stop().await;
}

/// The programs that turn a printed PDF back into payment codes: `pdftoppm` (poppler-utils)
/// and `zbarimg` (zbar-tools). `None` (after a note) when one is missing and CI is not set;
/// in CI a missing one fails the test, since CI installs both.
fn qr_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    };
    match (find("pdftoppm"), find("zbarimg")) {
        (Some(pdftoppm), Some(zbarimg)) => Some((pdftoppm, zbarimg)),
        _ if std::env::var_os("CI").is_some() => panic!(
            "pdftoppm or zbarimg is missing: CI must install poppler-utils and zbar-tools \
             for the test that scans the printed UPI codes"
        ),
        _ => {
            eprintln!(
                "note: skipping the scan of printed UPI codes: pdftoppm or zbarimg is missing \
                 (apt-get install poppler-utils zbar-tools)"
            );
            None
        }
    }
}

/// How every test runs Chromium: headless, sandbox off (CI runs as root), nothing fetched from
/// the network on its own.
const CHROMIUM_FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Runs headless Chromium with `args` and `url`, within the deadline; returns its stdout and
/// stderr.
fn run_chromium(browser: &PathBuf, args: &[String], url: &str) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args(CHROMIUM_FLAGS)
        .args(args)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    // Both pipes are drained on their own threads, so a chatty browser cannot block on a
    // full pipe while it is being waited for.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {BROWSER_DEADLINE:?}; stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = stdout.join().unwrap();
    let errors = stderr.join().unwrap();
    assert!(status.success(), "chromium exited with {status}:\n{errors}");
    (out, errors)
}

/// The UPI links read back from every page of a PDF, a page at a time, in page order.
fn scan_pdf(pdftoppm: &PathBuf, zbarimg: &PathBuf, pdf: &std::path::Path) -> Vec<Vec<String>> {
    let dir = pdf.parent().unwrap();
    let prefix = dir.join("page");
    let status = Command::new(pdftoppm)
        .args(["-r", "150", "-png"])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(status.success(), "pdftoppm: {status}");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("page-"))
        })
        .collect();
    // pdftoppm pads page numbers to the same width, so names sort in page order.
    pages.sort();
    pages
        .iter()
        .map(|page| {
            let output = Command::new(zbarimg)
                .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
                .arg(page)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            // zbarimg exits 4 when a page has no code; that page then reads as empty.
            String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// The query of a `upi://pay` link as (key, decoded value) pairs.
fn upi_params(link: &str) -> BTreeMap<String, String> {
    let query = link
        .strip_prefix("upi://pay?")
        .unwrap_or_else(|| panic!("not a UPI link: {link}"));
    query
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            let mut bytes = Vec::new();
            let raw = value.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'%' {
                    let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
                    bytes.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    bytes.push(raw[i]);
                    i += 1;
                }
            }
            (key.to_string(), String::from_utf8(bytes).unwrap())
        })
        .collect()
}

/// A worklist's notices, printed to PDF by headless Chromium as an officer would print them,
/// one page per notice; every page's QR code, read back from the printed page with zbarimg,
/// pays the licensee's UPI address the notice's exact sum, noted with the consumer's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_notices_carry_upi_codes_that_scan_to_the_sum_due() {
    let Some(browser) = chromium() else {
        return;
    };
    let Some((pdftoppm, zbarimg)) = qr_tools() else {
        return;
    };
    let policy = Policy::from_toml(
        "[utility]\nname = \"Uttarakhand Power Corporation Ltd.\"\nupi_vpa = \"upcl.bill@sbi\"\n",
    )
    .unwrap();
    let server = Server::start_with(policy).await;
    let commands = json!([
        {"type":"register_office","code":"Z1","name":"गढ़वाल क्षेत्र","level":"zone"},
        {"type":"register_office","code":"C1","name":"देहरादून वृत्त","level":"circle","parent":"Z1"},
        {"type":"register_office","code":"D1","name":"Dehradun North","level":"division","parent":"C1"},
        {"type":"register_office","code":"S1","name":"Rajpur","level":"subdivision","parent":"D1"},
        {"type":"register_consumer","account_no":"A1","name":"आशा देवी","category":"domestic",
         "subdivision":"S1","load_kw":"2","connected_on":"2026-01-01","language":"hi"},
        {"type":"register_consumer","account_no":"A2","name":"Bhim Singh","category":"domestic",
         "subdivision":"S1","load_kw":"2","connected_on":"2026-01-01","language":"en"},
        {"type":"register_consumer","account_no":"HOTEL7","name":"Hotel Doon & Sons",
         "category":"non_domestic","subdivision":"S1","load_kw":"40",
         "connected_on":"2026-01-01","language":"en"},
        {"type":"issue_bill","bill_no":"B1","account_no":"A1","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"1200.00"},
        {"type":"issue_bill","bill_no":"B2","account_no":"A1","period":"2026-07",
         "issued_on":"2026-08-05","due_on":"2026-08-20","amount":"1500.00"},
        {"type":"issue_bill","bill_no":"B3","account_no":"A2","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"3000.00"},
        {"type":"issue_bill","bill_no":"B4","account_no":"HOTEL7","period":"2026-06",
         "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"166814.00"},
        {"type":"receive_payment","receipt_no":"P1","account_no":"A1","amount":"700.00",
         "paid_on":"2026-08-10","channel":"upi"}
    ]);
    server.admin_post("/api/v1/commands", commands).await;
    server
        .admin_post("/api/v1/nightly", json!({"as_of":"2026-08-21"}))
        .await;

    // The notices as the page fetches them, printed as the officer's browser prints them.
    let (status, _, html) = server
        .get(
            "/api/v1/offices/S1/worklists/serve_notice/notices",
            Some("officer_s1"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("notices.html");
    std::fs::write(&file, &html).unwrap();
    let pdf = work.path().join("notices.pdf");
    let url = format!("file://{}", file.display());
    let args = vec![
        "--no-pdf-header-footer".to_string(),
        format!("--print-to-pdf={}", pdf.display()),
    ];
    tokio::task::spawn_blocking({
        let browser = browser.clone();
        move || run_chromium(&browser, &args, &url)
    })
    .await
    .unwrap();
    let pages = scan_pdf(&pdftoppm, &zbarimg, &pdf);

    // Sorted by arrears: HOTEL7 (166814.00 + 2085.18 surcharge), A2, A1 (DOMAIN's example).
    let want = [
        ("HOTEL7", "168899.18"),
        ("A2", "3037.50"),
        ("A1", "2006.25"),
    ];
    assert_eq!(
        pages.len(),
        want.len(),
        "one printed page per notice: {pages:?}"
    );
    for (page, (account, amount)) in pages.iter().zip(want) {
        assert_eq!(page.len(), 1, "one code on {account}'s page: {page:?}");
        let params = upi_params(&page[0]);
        assert_eq!(params["pa"], "upcl.bill@sbi", "{page:?}");
        assert_eq!(
            params["pn"], "Uttarakhand Power Corporation Ltd.",
            "{page:?}"
        );
        assert_eq!(params["am"], amount, "{page:?}");
        assert_eq!(params["cu"], "INR", "{page:?}");
        assert_eq!(params["tn"], account, "{page:?}");
        assert!(html.contains(&format!("value=\"{amount}\"")), "{account}");
    }
    assert!(html.contains("₹ 1,68,899.18"), "{html}");
    assert!(
        html.contains(
            "Rupees One Lakh Sixty-Eight Thousand Eight Hundred Ninety-Nine and Eighteen \
             Paise Only"
        ),
        "{html}"
    );

    // On the page, the print button names the list's papers, and is off for a list
    // without any.
    for (list, want) in [
        ("serve_notice", "<button id=\"print\" type=\"button\" title=\"Open this worklist's documents for printing, one page per consumer\">Print notices</button>"),
        ("disconnection", ">Print disconnection orders</button>"),
        ("no_mobile", "title=\"This list has no printable documents\" disabled=\"\">Print documents</button>"),
    ] {
        let url = format!(
            "{}/#token={}&office=S1&list={list}",
            server.base, server.tokens["officer_s1"]
        );
        let dom = tokio::task::spawn_blocking({
            let browser = browser.clone();
            move || dump_dom(&browser, &url)
        })
        .await
        .unwrap();
        assert!(dom.contains(want), "{list}: {dom}");
    }
    server.stop().await;
}

/// Headless Chromium on a page, driven over the DevTools protocol: scripts run in the page as
/// an officer's clicks and keystrokes would.
struct Driven {
    child: std::process::Child,
    socket: tungstenite::WebSocket<std::net::TcpStream>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Driven {
    fn open(browser: &PathBuf, url: &str, width: u32, height: u32) -> Driven {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(browser)
            .args(CHROMIUM_FLAGS)
            .args([
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
        // Chromium names its DevTools port on stderr; the rest of stderr is drained.
        let stderr = child.stderr.take().unwrap();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = port_tx.send(port);
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium names its DevTools port");
        let started = Instant::now();
        let page = loop {
            let targets: Value = serde_json::from_str(
                &plain_get(&format!("127.0.0.1:{port}"), "/json/list").unwrap_or_default(),
            )
            .unwrap_or(Value::Null);
            let page = targets.as_array().and_then(|all| {
                all.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from))
            });
            if let Some(page) = page {
                break page;
            }
            assert!(started.elapsed() < BROWSER_DEADLINE, "no page target");
            std::thread::sleep(Duration::from_millis(100));
        };
        let stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (socket, _) = tungstenite::client::client(page.as_str(), stream).unwrap();
        Driven {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        }
    }

    /// The value of a JavaScript expression evaluated in the page (promises awaited).
    fn eval(&mut self, expression: &str) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": "Runtime.evaluate",
            "params": {"expression": expression, "returnByValue": true, "awaitPromise": true}});
        self.socket
            .send(tungstenite::Message::text(request.to_string()))
            .unwrap();
        loop {
            let message = self.socket.read().unwrap();
            let Ok(text) = message.to_text() else {
                continue;
            };
            let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if answer["id"] == id {
                assert!(
                    answer["result"]["exceptionDetails"].is_null(),
                    "{expression}: {answer}"
                );
                return answer["result"]["result"]["value"].clone();
            }
        }
    }

    /// Fills the page's *Record…* form (opened from `account`'s row, or already open) with the
    /// `kind` of work and the given field values, and submits it, as an officer would.
    fn record(&mut self, account: Option<&str>, kind: &str, fields: &[(&str, &str)]) {
        let mut script = String::new();
        if let Some(account) = account {
            script += &format!(
                "document.querySelector('tr[data-account=\"{account}\"] button.act').click();"
            );
        }
        script += &format!(
            "document.getElementById('act-kind').value = '{kind}';
             document.getElementById('act-kind').dispatchEvent(new Event('change'));"
        );
        for (id, value) in fields {
            script += &format!("document.getElementById('{id}').value = '{value}';");
        }
        script += "document.getElementById('act-form').requestSubmit(); true";
        self.eval(&script);
    }

    /// Waits until the expression is true in the page.
    fn wait_for(&mut self, expression: &str) {
        let started = Instant::now();
        while self.eval(&format!("Boolean({expression})")) != Value::Bool(true) {
            assert!(
                started.elapsed() < BROWSER_DEADLINE,
                "the page never showed {expression}; body: {}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a plain HTTP GET on loopback, read as far as its `Content-Length` says (the
/// DevTools server keeps connections open).
fn plain_get(addr: &str, path: &str) -> Option<String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            });
            if length.is_some_and(|length| body.len() >= length) {
                return Some(body.to_string());
            }
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_records_a_served_notice_from_the_page_and_the_consumer_moves_on() {
    let Some(browser) = chromium() else {
        return;
    };
    let server = seeded().await;
    // A1 is on S1's list of notices to serve.
    let (_, _, text) = server
        .get(
            "/api/v1/offices/S1/worklists/serve_notice",
            Some("officer_s1"),
        )
        .await;
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed[0]["account_no"], "A1", "{listed}");
    let notice_no = listed[0]["notice_no"].as_str().unwrap().to_string();

    let url = format!(
        "{}/#token={}&office=S1&list=serve_notice",
        server.base, server.tokens["officer_s1"]
    );
    let seen = tokio::task::spawn_blocking(move || {
        let mut page = Driven::open(&browser, &url, 1280, 900);
        page.wait_for("document.querySelector('tr[data-account=\"A1\"] button.act')");
        // Stage names in words, arrears in rupees with Indian grouping, a total by stage.
        let row = page.eval("document.querySelector('tr[data-account=\"A1\"]').innerText");
        let totals = page.eval("document.getElementById('totals').innerText");
        // The officer records the notice as served by hand on the day of the run (lists are
        // as of the last nightly run, so a later date shows after the next one).
        page.record(
            Some("A1"),
            "serve_notice",
            &[("act-date", "2026-09-30"), ("act-mode", "hand")],
        );
        page.wait_for("document.getElementById('notice').textContent.startsWith('Recorded')");
        let recorded = page.eval("document.getElementById('notice').textContent");
        // Served, A1 has left the list of notices to serve.
        page.wait_for("!document.querySelector('tr[data-account=\"A1\"]')");
        // On the defaulter list A1 now stands at "notice served", served on 30-09-2026.
        page.eval(
            "document.getElementById('list').value = 'defaulters';
             document.getElementById('list').dispatchEvent(new Event('change')); true",
        );
        page.wait_for("document.querySelector('tr[data-account=\"A1\"] td.stage')");
        let after = page.eval("document.querySelector('tr[data-account=\"A1\"]').innerText");
        // Cutting the connection the next day is refused, with the API's reason shown.
        page.record(
            Some("A1"),
            "disconnect",
            &[("act-date", "2026-10-01"), ("act-order", "DO-S1-01")],
        );
        page.wait_for("!document.getElementById('act-error').hidden");
        let refused = page.eval("document.getElementById('act-error').textContent");
        // The service was a mistake after all: the officer voids it from the same form, and
        // A1 is back to a notice issued and not served.
        page.record(
            None,
            "void_action",
            &[
                ("act-void", "serve_notice"),
                ("act-date", "2026-09-30"),
                ("act-reason", "served on the wrong consumer"),
            ],
        );
        page.wait_for("document.getElementById('notice').textContent.startsWith('Recorded: Void')");
        page.wait_for(
            "(document.querySelector('tr[data-account=\"A1\"] td.stage') || {}).textContent === 'Notice issued · नोटिस जारी'",
        );
        (row, totals, recorded, after, refused)
    })
    .await
    .unwrap();
    let (row, totals, recorded, after, refused) = seen;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    assert!(text(&row).contains("Notice issued · नोटिस जारी"), "{row}");
    assert!(text(&row).contains("₹ 2,031.25"), "{row}");
    assert!(text(&totals).contains("₹ 2,031.25"), "{totals}");
    assert!(
        text(&recorded).starts_with("Recorded: Notice served"),
        "{recorded}"
    );
    assert!(
        text(&after).contains("Notice served · नोटिस तामील"),
        "{after}"
    );
    assert!(text(&after).contains("30-09-2026"), "{after}");
    assert!(text(&refused).starts_with("Refused: "), "{refused}");
    assert!(text(&refused).contains("s.56(1)"), "{refused}");
    // The log holds the service and its voiding; the statement follows the correction.
    let (_, _, statement) = server.get("/api/v1/consumers/A1", Some("admin")).await;
    let statement: Value = serde_json::from_str(&statement).unwrap();
    let notice = statement["notices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["notice_no"] == notice_no.as_str())
        .unwrap();
    // Voided from the page: the statement no longer shows the service.
    assert_eq!(notice["served_on"], Value::Null);
    server.stop().await;
}
