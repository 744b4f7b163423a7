//! End-to-end tests that drive the real `vasooli` binary over a data directory, as finance
//! and officers would: imports, appends, nightly runs, lists, verify, export and restore.

use std::fs;
use std::path::Path;
use std::process::Command;

mod common;
use common::{ok, vasooli, write};

/// Offices, one consumer and the two bills and payment of docs/RULES.md's worked example.
fn seed(dir: &Path, data: &Path) {
    let offices = write(dir, "offices.csv", "code,name,level,parent\nZ1,गढ़वाल,zone,\nC1,देहरादून वृत्त,circle,Z1\nD1,Dehradun,division,C1\nS1,Rishikesh,subdivision,D1\nS2,Doiwala,subdivision,D1\n");
    let consumers = write(dir, "consumers.csv", "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\nA1,राम सिंह,domestic,S1,2.5,2020-01-01,+91 98765 43210,hi\nA2,Sita Devi,domestic,S2,1,2020-01-01,,en\n");
    let bills = write(dir, "bills.csv", "bill_no,account_no,period,issued_on,due_on,amount\nB1,A1,2026-07,2026-07-05,2026-07-20,1200.00\nB2,A1,2026-08,2026-08-05,2026-08-20,1500.00\n");
    let payments = write(
        dir,
        "payments.csv",
        "receipt_no,account_no,amount,paid_on,channel\nP1,A1,700.00,2026-08-10,upi\n",
    );
    for (kind, file) in [
        ("offices", &offices),
        ("consumers", &consumers),
        ("bills", &bills),
        ("payments", &payments),
    ] {
        let out = ok(data, &["import", kind, file.to_str().unwrap()]);
        assert!(out.contains("appended"), "{out}");
    }
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn column<'a>(rows: &'a [Vec<String>], row: usize, name: &str) -> &'a str {
    let index = rows[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    &rows[row][index]
}

#[test]
fn worked_example_through_the_binary() {
    // The worked example of docs/RULES.md with the nightly run every day, on the lists.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 7, 20).unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
    while day <= end {
        ok(&data, &["nightly", "--as-of", &day.to_string()]);
        if day.to_string() == "2026-08-20" {
            let rows = csv_rows(&ok(
                &data,
                &["defaulters", "--office", "Z1", "--format", "csv"],
            ));
            assert_eq!(column(&rows, 1, "overdue_arrears"), "500.00");
            assert_eq!(column(&rows, 1, "stage"), "clear");
        }
        if day.to_string() == "2026-08-21" {
            let rows = csv_rows(&ok(
                &data,
                &["defaulters", "--office", "D1", "--format", "csv"],
            ));
            assert_eq!(rows.len(), 2, "one defaulter: {rows:?}");
            assert_eq!(column(&rows, 1, "overdue_arrears"), "2006.25");
            assert_eq!(column(&rows, 1, "days_overdue"), "32");
            assert_eq!(column(&rows, 1, "stage"), "notice_issued");
            let notice = column(&rows, 1, "notice_no").to_string();
            assert!(!notice.is_empty());
            let actions = write(dir.path(), "serve.jsonl", &format!("{{\"type\":\"serve_notice\",\"notice_no\":\"{notice}\",\"served_on\":\"2026-08-24\",\"mode\":\"hand\"}}\n"));
            // Serving ahead of its date is recorded now and counts from 2026-08-24.
            ok(&data, &["append", actions.to_str().unwrap()]);
        }
        if day.to_string() == "2026-09-08" {
            let rows = csv_rows(&ok(
                &data,
                &["defaulters", "--office", "S1", "--format", "csv"],
            ));
            assert_eq!(column(&rows, 1, "stage"), "notice_served");
            assert_eq!(column(&rows, 1, "disconnection_allowed_on"), "2026-09-09");
        }
        if day.to_string() == "2026-09-09" {
            let rows = csv_rows(&ok(
                &data,
                &[
                    "worklist",
                    "--office",
                    "C1",
                    "--kind",
                    "disconnection",
                    "--format",
                    "csv",
                ],
            ));
            assert_eq!(column(&rows, 1, "account_no"), "A1");
            assert_eq!(column(&rows, 1, "kind"), "disconnection");
        }
        day = day.succ_opt().unwrap();
    }
    let rows = csv_rows(&ok(
        &data,
        &["defaulters", "--office", "Z1", "--format", "csv"],
    ));
    assert_eq!(rows.len(), 2);
    assert_eq!(column(&rows, 1, "overdue_arrears"), "2031.25");
    assert_eq!(column(&rows, 1, "days_overdue"), "72");
    assert_eq!(column(&rows, 1, "aging_bucket"), "61-90");
    assert_eq!(column(&rows, 1, "oldest_due_on"), "2026-07-20");
    assert_eq!(column(&rows, 1, "last_payment_amount"), "700.00");
    assert_eq!(column(&rows, 1, "mobile_registered"), "yes");
    let statement: serde_json::Value = serde_json::from_str(&ok(
        &data,
        &["statement", "--account", "A1", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(statement["total_charges"], "2731.25");
    assert_eq!(statement["total_credits"], "700.00");
    let surcharges: Vec<&str> = statement["charges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "surcharge")
        .map(|c| c["amount"].as_str().unwrap())
        .collect();
    assert_eq!(surcharges, ["6.25", "6.25", "18.75"]);
    // The consumer without arrears is not a defaulter, but is on the no_mobile worklist.
    let rows = csv_rows(&ok(
        &data,
        &[
            "worklist",
            "--office",
            "Z1",
            "--kind",
            "no_mobile",
            "--format",
            "csv",
        ],
    ));
    assert_eq!(rows.len(), 2);
    assert_eq!(column(&rows, 1, "account_no"), "A2");
    assert!(ok(&data, &["verify"]).starts_with("ok"));
}

#[test]
fn a_file_with_bad_rows_is_rejected_whole_with_every_row_named() {
    // Each bad row is reported with file:line and column; nothing is written; exit 3.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let before = ok(&data, &["verify"]);
    let bad = write(
        dir.path(),
        "bad.csv",
        "receipt_no,account_no,amount,paid_on,channel\nP2,A1,10.00,2026-08-11,upi\nP3,A1,700.125,2026-08-11,upi\nP4,NOPE,5.00,2026-08-11,upi\nP5,A1,5.00,2026-02-30,upi\nP6,A1,5.00,2026-08-11,cash\n",
    );
    let run = vasooli(&data, &["import", "payments", bad.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let name = bad.display().to_string();
    assert!(
        run.stderr.contains(&format!("{name}:3: amount:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("more than 2 decimal"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{name}:4: account_no:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{name}:5: paid_on:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{name}:6: channel:")),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&format!("{name}:2:")),
        "{}",
        run.stderr
    );
    assert_eq!(ok(&data, &["verify"]), before, "the log is unchanged");
    // A missing column is named on line 1.
    let bad = write(
        dir.path(),
        "cols.csv",
        "receipt_no,account_no,amount,channel\nP2,A1,10.00,upi\n",
    );
    let run = vasooli(&data, &["import", "payments", bad.to_str().unwrap()]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains(":1: paid_on:"), "{}", run.stderr);
}

#[test]
fn duplicates_are_skipped_and_conflicts_rejected() {
    // Re-running an import skips what is there; the same receipt with other content is an error.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let again = ok(
        &data,
        &[
            "import",
            "payments",
            dir.path().join("payments.csv").to_str().unwrap(),
        ],
    );
    assert!(
        again.contains("appended 0, duplicates skipped 1"),
        "{again}"
    );
    let other = write(
        dir.path(),
        "other.csv",
        "receipt_no,account_no,amount,paid_on,channel\nP1,A1,701.00,2026-08-10,upi\n",
    );
    let run = vasooli(&data, &["import", "payments", other.to_str().unwrap()]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("receipt_no") && run.stderr.contains("different content"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_column_named_twice_in_the_header_is_refused() {
    // Which of the two `amount` fields would count is anyone's guess: the file is refused.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let twice = write(
        dir.path(),
        "twice.csv",
        "receipt_no,account_no,amount,paid_on,channel,amount\nP9,A1,10.00,2026-08-11,upi,20.00\n",
    );
    let run = vasooli(&data, &["import", "payments", twice.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("twice.csv:1: amount:") && run.stderr.contains("more than once"),
        "{}",
        run.stderr
    );
    let statement = ok(&data, &["statement", "--account", "A1", "--format", "json"]);
    assert!(
        !statement.contains("P9"),
        "nothing was written: {statement}"
    );
}

#[test]
fn append_rejects_unknown_keys_and_bad_json_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let file = write(
        dir.path(),
        "cmds.jsonl",
        "{\"type\":\"receive_payment\",\"receipt_no\":\"R9\",\"account_no\":\"A1\",\"amount\":\"5.00\",\"paid_on\":\"2026-08-12\",\"channel\":\"upi\",\"colour\":\"red\"}\n{not json\n",
    );
    let run = vasooli(&data, &["append", file.to_str().unwrap()]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("cmds.jsonl:2: column"),
        "{}",
        run.stderr
    );
    let file = write(dir.path(), "cmds2.jsonl", "{\"type\":\"receive_payment\",\"receipt_no\":\"R9\",\"account_no\":\"A1\",\"amount\":\"5.00\",\"paid_on\":\"2026-08-12\",\"channel\":\"upi\",\"colour\":\"red\"}\n");
    let run = vasooli(&data, &["append", file.to_str().unwrap()]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("cmds2.jsonl:1: colour:"),
        "{}",
        run.stderr
    );
    // A disconnection without a served notice is refused.
    let file = write(dir.path(), "cmds3.jsonl", "{\"type\":\"disconnect\",\"account_no\":\"A1\",\"on\":\"2026-09-01\",\"order_no\":\"O1\"}\n");
    let run = vasooli(&data, &["append", file.to_str().unwrap()]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("no open notice"), "{}", run.stderr);
}

#[test]
fn nightly_dates_are_checked_and_reruns_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let first = ok(&data, &["nightly", "--as-of", "2026-09-30"]);
    assert!(first.contains("events appended"), "{first}");
    // The first run has no agenda to follow: it decides both consumers.
    assert!(first.contains("\nconsumers decided: 2\n"), "{first}");
    let before = ok(&data, &["verify"]);
    let again = ok(&data, &["nightly", "--as-of", "2026-09-30"]);
    assert!(again.contains("events appended: 0"), "{again}");
    assert_eq!(ok(&data, &["verify"]), before);
    let earlier = vasooli(&data, &["nightly", "--as-of", "2026-09-29"]);
    assert_eq!(earlier.code, 2, "{}", earlier.stderr);
    let bad = vasooli(&data, &["nightly", "--as-of", "2026-09-31"]);
    assert_eq!(bad.code, 2);
    // One run after the gap levied the same three surcharges as daily runs.
    let statement: serde_json::Value = serde_json::from_str(&ok(
        &data,
        &["statement", "--account", "A1", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(statement["total_charges"], "2731.25");
    assert_eq!(statement["overdue_arrears"], "2031.25");
}

#[test]
fn export_restore_export_is_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    ok(&data, &["nightly", "--as-of", "2026-09-30"]);
    let first = dir.path().join("one.jsonl");
    ok(&data, &["export", "--out", first.to_str().unwrap()]);
    let copy = dir.path().join("copy");
    ok(&copy, &["restore", first.to_str().unwrap()]);
    let second = dir.path().join("two.jsonl");
    ok(&copy, &["export", "--out", second.to_str().unwrap()]);
    assert_eq!(fs::read(&first).unwrap(), fs::read(&second).unwrap());
    assert_eq!(
        ok(&copy, &["defaulters", "--office", "Z1", "--format", "csv"]),
        ok(&data, &["defaulters", "--office", "Z1", "--format", "csv"])
    );
    // Restoring into a directory that holds a log is refused.
    let run = vasooli(&copy, &["restore", first.to_str().unwrap()]);
    assert_eq!(run.code, 2);
}

#[test]
fn policy_show_and_bad_policies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let shown = ok(&data, &["policy", "show"]);
    for key in [
        "min_overdue_arrears = \"500.00\"",
        "monthly_rate_percent = \"1.25\"",
        "clear_days = 15",
        "after_days = 180",
        "sender = \"UPCLTD\"",
    ] {
        assert!(shown.contains(key), "{key} missing from {shown}");
    }
    let policy = write(dir.path(), "p.toml", "[notice]\nclear_days = 7\n");
    assert!(ok(
        &data,
        &["--policy", policy.to_str().unwrap(), "policy", "show"]
    )
    .contains("clear_days = 7"));
    let policy = write(dir.path(), "bad.toml", "[notice]\nclear_dayz = 7\n");
    let run = vasooli(
        &data,
        &["--policy", policy.to_str().unwrap(), "policy", "show"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("clear_dayz"), "{}", run.stderr);
}

#[test]
fn csv_excel_and_json_formats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    ok(&data, &["nightly", "--as-of", "2026-09-30"]);
    let excel = ok(
        &data,
        &["defaulters", "--office", "Z1", "--format", "csv", "--excel"],
    );
    assert!(excel.starts_with('\u{feff}'));
    assert!(excel.contains("राम सिंह"));
    let json: serde_json::Value = serde_json::from_str(&ok(
        &data,
        &["defaulters", "--office", "Z1", "--format", "json"],
    ))
    .unwrap();
    let row = &json.as_array().unwrap()[0];
    assert_eq!(row["overdue_arrears"], "2031.25");
    assert_eq!(row["hold"], "");
    assert_eq!(row["notice_served_on"], serde_json::Value::Null);
    let unknown = vasooli(&data, &["defaulters", "--office", "NOPE"]);
    assert_ne!(unknown.code, 0);
}

#[test]
fn flipped_bytes_in_a_commit_make_verify_name_its_position() {
    // Corruption inside a stored commit: `verify` exits 1 naming that commit's position, and
    // nothing panics.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let position = {
        let db = sled::open(data.join("log")).unwrap();
        let tree = db.open_tree("log_v1").unwrap();
        let chunks: Vec<(sled::IVec, sled::IVec)> =
            tree.scan_prefix(b"C").map(|r| r.unwrap()).collect();
        assert!(chunks.len() >= 2, "the seed writes several commits");
        let (key, value) = &chunks[1];
        let position = u64::from_be_bytes(key[1..9].try_into().unwrap());
        let mut bytes = value.to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        tree.insert(key, bytes).unwrap();
        db.flush().unwrap();
        position
    };
    let run = vasooli(&data, &["verify"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("position {position}")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn tokens_and_the_server_on_loopback() {
    // `tokens create` prints a token once; `serve` answers on a loopback port with it, and
    // refuses a request without it.
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    ok(&data, &["nightly", "--as-of", "2026-09-30"]);
    let token = ok(
        &data,
        &[
            "tokens",
            "create",
            "--role",
            "officer",
            "--office",
            "S1",
            "--name",
            "sdo-rishikesh",
        ],
    );
    let token = token.trim().to_string();
    assert!(!token.is_empty() && !token.contains(' '));
    let listed = ok(&data, &["tokens", "list", "--format", "csv"]);
    assert!(listed.contains("sdo-rishikesh,officer,S1"), "{listed}");
    assert!(!listed.contains(&token), "a token is never shown again");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server prints where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.trim().to_string();
        }
    };
    let get = |path: &str, token: Option<&str>| -> String {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    assert!(get("/health", None).starts_with("HTTP/1.1 200"));
    assert!(get("/api/v1/offices/S1/defaulters", None).starts_with("HTTP/1.1 401"));
    let mine = get("/api/v1/offices/S1/defaulters?format=csv", Some(&token));
    assert!(mine.starts_with("HTTP/1.1 200"), "{mine}");
    assert!(mine.contains("A1,"), "{mine}");
    assert!(get("/api/v1/offices/S2/defaulters", Some(&token)).starts_with("HTTP/1.1 403"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sms_go_to_a_gateway_once_each_despite_failures() {
    // A gateway on loopback refuses every other request; every queued message still ends
    // `sent` exactly once, and a second send has nothing left to send.
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    ok(&data, &["nightly", "--as-of", "2026-07-01"]);
    ok(&data, &["nightly", "--as-of", "2026-08-22"]);
    let outbox = csv_rows(&ok(&data, &["sms", "outbox", "--format", "csv"]));
    assert!(
        outbox.len() > 2,
        "bill, receipt and notice messages are queued: {outbox:?}"
    );
    assert!(outbox[1..].iter().all(|r| r[7] == "queued"));
    assert!(
        outbox[1..].iter().all(|r| r[9] == "ucs2"),
        "Hindi texts go as UCS-2"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = accepted.clone();
    std::thread::spawn(move || {
        for (count, stream) in listener.incoming().enumerate().take(200) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut id = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if lower.starts_with("idempotency-key:") {
                    id = line["idempotency-key:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = if count % 2 == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            if count % 2 == 1 {
                *seen.lock().unwrap().entry(id).or_default() += 1;
            }
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
        }
    });
    let out = ok(
        &data,
        &["sms", "send", "--gateway", &format!("http://{addr}/send")],
    );
    assert!(out.contains("failed 0"), "{out}");
    let outbox = csv_rows(&ok(&data, &["sms", "outbox", "--format", "csv"]));
    assert!(outbox[1..].iter().all(|r| r[7] == "sent"), "{outbox:?}");
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), outbox.len() - 1);
    assert!(
        accepted.values().all(|n| *n == 1),
        "each message accepted once: {accepted:?}"
    );
    assert!(ok(
        &data,
        &["sms", "send", "--gateway", &format!("http://{addr}/send")]
    )
    .contains("sent 0, failed 0"));
}

#[test]
fn awards_as_one_self_contained_html_file() {
    // The awards export for headquarters: a winner per level, a chart, Hindi names as text,
    // nothing loaded from another host; CSV and JSON carry the same rows.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);
    let out = dir.path().join("awards.html");
    ok(
        &data,
        &[
            "awards",
            "--period",
            "2026-08",
            "--format",
            "html",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains("<svg"), "a chart");
    assert!(html.contains("देहरादून वृत्त"), "Hindi names as UTF-8 text");
    assert!(!html.contains("&#"), "no character references");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing from another host"
    );
    let rows = csv_rows(&ok(
        &data,
        &["awards", "--period", "2026-08", "--format", "csv"],
    ));
    assert_eq!(
        rows[0],
        [
            "period",
            "level",
            "award",
            "office_code",
            "office_name",
            "score",
            "score_change"
        ]
    );
    assert_eq!(column(&rows, 1, "level"), "circle");
    assert_eq!(column(&rows, 1, "award"), "gold");
    assert_eq!(column(&rows, 1, "office_code"), "C1");
    assert!(html.contains("gold"));
    // What the figures reflect, how the score is made, labels in both languages; August 2026
    // is over, so the report is final.
    assert!(html.contains("Figures as of 31-08-2026"), "{html}");
    assert!(html.contains("स्वर्ण / Gold") && html.contains("वृत्त / Circle"));
    assert!(html.contains("Weights: collection efficiency 40, arrears reduction 25"));
    assert!(!html.contains("Provisional"));
    // A period still open on the day the report is made is marked provisional, as of that day.
    let open = dir.path().join("open.html");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .env("VASOOLI_TODAY", "2026-08-20")
        .args([
            "--data",
            data.to_str().unwrap(),
            "awards",
            "--period",
            "2026-08",
        ])
        .args(["--format", "html", "--out", open.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = fs::read_to_string(&open).unwrap();
    assert!(
        html.contains("Provisional: the period 2026-08 is not over"),
        "{html}"
    );
    assert!(html.contains("Figures as of 20-08-2026"), "{html}");
    // The gold bars are drawn in gold.
    assert!(
        html.contains("#D4A017") || html.contains("#d4a017"),
        "a gold bar"
    );
    // A period with no bills is a clear message and a non-zero exit, not an empty report.
    let run = vasooli(&data, &["awards", "--period", "2031-01", "--format", "csv"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("no office was billed in 2031-01"),
        "{}",
        run.stderr
    );
    // Only awards print HTML.
    assert_eq!(
        vasooli(
            &data,
            &["rankings", "--period", "2026-08", "--level", "circle", "--format", "html"]
        )
        .code,
        2
    );
}
