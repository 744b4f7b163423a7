//! Black-box tests of the engine's edges with the outside world, derived from `docs/RULES.md` and
//! `docs/CLI.md` alone: which events queue an SMS and when, encodings and part counts at their
//! boundaries, sending to an HTTP gateway; CSV import quirks (column order, BOM, quoting, empty
//! fields, re-imports, line numbers); the policy file; export and restore; `--excel` and JSON.
//!
//! Each test drives the real binary over its own temporary data directory.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::env::Env;
use common::{Row, Run};
use serde_json::{json, Value};

/// Z1 → C1 → D1 → {S1, S2}; S2's name is Hindi.
const OFFICES_CSV: &str = "code,name,level,parent\n\
Z1,Garhwal Zone,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Dehradun Division,division,C1\n\
S1,Raipur,subdivision,D1\n\
S2,प्रेमनगर,subdivision,D1\n";

const CONSUMER_HEADER: &str =
    "account_no,name,category,subdivision,load_kw,connected_on,mobile,language";

/// The message kinds of docs/RULES.md, under the template names `policy show` prints.
const KINDS: [&str; 7] = [
    "bill",
    "reminder",
    "receipt",
    "notice",
    "disconnection",
    "reconnection",
    "camp",
];

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The shared environment (`tests/common/env.rs`) with the helpers only these tests use.
impl Env {
    /// Writes `bytes` to a fresh file in the temp dir (outside the data directory).
    fn file(&self, stem: &str, ext: &str, bytes: &[u8]) -> PathBuf {
        let path = self.next_path(stem, ext);
        fs::write(&path, bytes).unwrap();
        path
    }

    fn import_bytes(&self, kind: &str, bytes: &[u8]) -> (String, Run) {
        let path = self.file(kind, "csv", bytes);
        let run = self.go(&["import", kind, path.to_str().unwrap()]);
        (path.file_name().unwrap().to_str().unwrap().to_string(), run)
    }

    /// Imports `text`; returns the file's name and the run.
    fn import_named(&self, kind: &str, text: &str) -> (String, Run) {
        self.import_bytes(kind, text.as_bytes())
    }

    /// Imports and returns the counts printed: read, appended, duplicates skipped.
    fn import_counts(&self, kind: &str, text: &str) -> Vec<u64> {
        let (_, run) = self.import_named(kind, text);
        assert_eq!(run.code, 0, "import {kind}: {}", run.stderr);
        counts(&run.stdout)
    }

    fn import_offices(&self) {
        assert_eq!(self.import_counts("offices", OFFICES_CSV), vec![5, 5, 0]);
    }

    fn outbox(&self) -> Vec<Row> {
        self.csv(&["sms", "outbox"]).1
    }
}

/// The integers printed by `import`: read, appended, duplicates skipped.
fn counts(out: &str) -> Vec<u64> {
    out.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

fn consumer(account: &str, sub: &str, mobile: Option<&str>, language: Option<&str>) -> Value {
    let mut v = json!({
        "type": "register_consumer", "account_no": account, "name": format!("Consumer {account}"),
        "category": "domestic", "subdivision": sub, "load_kw": "2", "connected_on": "2025-01-01",
    });
    if let Some(m) = mobile {
        v["mobile"] = json!(m);
    }
    if let Some(l) = language {
        v["language"] = json!(l);
    }
    v
}

fn bill(no: &str, account: &str, issued: &str, due: &str, amount: &str) -> Value {
    json!({"type": "issue_bill", "bill_no": no, "account_no": account, "period": &issued[..7],
           "issued_on": issued, "due_on": due, "amount": amount})
}

fn payment(no: &str, account: &str, amount: &str, on: &str) -> Value {
    json!({"type": "receive_payment", "receipt_no": no, "account_no": account, "amount": amount,
           "paid_on": on, "channel": "upi"})
}

fn register_mobile(account: &str, mobile: &str, on: &str) -> Value {
    json!({"type": "register_mobile", "account_no": account, "mobile": mobile,
           "registered_on": on, "source": "field"})
}

/// Every day from `from` to `to`, both included, as `YYYY-MM-DD`.
fn days(from: &str, to: &str) -> Vec<String> {
    let parse = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let (mut d, end) = (parse(from), parse(to));
    let mut out = Vec::new();
    while d <= end {
        out.push(d.format("%Y-%m-%d").to_string());
        d = d.succ_opt().unwrap();
    }
    out
}

/// The message's text column (the outbox shows the text).
fn text_of(r: &Row) -> &str {
    ["text", "body", "message"]
        .iter()
        .find_map(|k| r.get(*k))
        .unwrap_or_else(|| panic!("outbox row shows no text: {r:?}"))
}

/// The message's id column.
fn id_of(r: &Row) -> &str {
    if let Some(id) = r.get("message_id").or_else(|| r.get("id")) {
        return id;
    }
    r.iter()
        .find(|(k, _)| k.ends_with("id") && !k.contains("dlt"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("outbox row has no id: {r:?}"))
}

fn is_devanagari(text: &str) -> bool {
    text.chars().any(|c| ('\u{0900}'..='\u{097f}').contains(&c))
}

/// `gsm7` or `ucs2` whatever the spelling (`GSM-7`, `UCS_2`, …).
fn encoding_of(r: &Row) -> String {
    r["encoding"].to_lowercase().replace(['-', '_', ' '], "")
}

/// A policy whose templates carry a marker per kind (`BILL`, `REMINDER`, …) and a language
/// marker: English texts in plain ASCII, Hindi texts starting with Devanagari.
fn marker_templates() -> String {
    let mut toml = String::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let upper = kind.to_uppercase();
        toml.push_str(&format!(
            "\n[sms.templates.{kind}]\nhi = \"सूचना {upper}\"\nen = \"Notice {upper}\"\n\
             dlt_template_id = \"11070000000000001{i}\"\n"
        ));
    }
    toml
}

/// The kind marker in a text written from `marker_templates`.
fn kind_of(text: &str) -> String {
    KINDS
        .iter()
        .find(|k| text.contains(&k.to_uppercase()))
        .map(|k| k.to_string())
        .unwrap_or_else(|| format!("?{text}"))
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP gateway on loopback
// ---------------------------------------------------------------------------------------------

/// One request as the gateway saw it.
#[derive(Clone, Debug)]
struct Request {
    head: String,
    body: String,
}

impl Request {
    /// Every string in the JSON body (or the raw body when it is not JSON), plus the headers.
    fn strings(&self) -> Vec<String> {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) => out.push(n.to_string()),
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                Value::Object(m) => m.values().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        match serde_json::from_str::<Value>(&self.body) {
            Ok(v) => walk(&v, &mut out),
            Err(_) => out.push(self.body.clone()),
        }
        out.push(self.head.clone());
        out
    }

    fn mentions(&self, needle: &str) -> bool {
        self.strings().iter().any(|s| s.contains(needle))
    }

    fn carries(&self, value: &str) -> bool {
        match serde_json::from_str::<Value>(&self.body) {
            Ok(_) => self.strings().iter().any(|s| s == value),
            Err(_) => self.body.contains(value),
        }
    }
}

/// Reads one HTTP/1.1 request with a `Content-Length` body; `None` when it cannot.
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && buf.len() < 1 << 20 {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let lower = l.to_ascii_lowercase();
                    lower
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                return Some(Request { head, body });
            }
        }
    }
    None
}

/// Starts a gateway on 127.0.0.1 that answers every request `200 OK` and records it. It serves
/// at most 200 connections and stops accepting after two minutes.
fn start_gateway() -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut served = 0;
        while served < 200 && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    served += 1;
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    if let Some(req) = read_request(&mut stream) {
                        log.lock().unwrap().push(req);
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                          Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (url, seen)
}

// ---------------------------------------------------------------------------------------------
// SMS (docs/RULES.md)
// ---------------------------------------------------------------------------------------------

/// Every trigger of §11 queues its message on its own day, only for consumers with a registered
/// mobile as of that day, in the consumer's language, and nothing else is queued:
///
/// Policy: `reminder_days_before_due = 4`, `camp_notice_days_before = 2`. All bills issued
/// 2026-07-05, due 2026-07-20, 2000.00.
/// - E1 (S1, mobile, en), H1 (S1, mobile, language empty → hi), X2 (S2, mobile, en): bill on
///   07-05; reminder on 07-16 (07-20 − 4), all unpaid.
/// - N1 (S1, never a mobile): nothing at all.
/// - L1 (S1, hi, mobile registered 07-12): no bill (07-05) nor receipt (payment 07-08); receipt of
///   the payment on 07-13; reminder on 07-16.
/// - P1 (S2, mobile, en) pays 2000.00 on 07-10: bill, receipt on 07-10, no reminder, no notice.
/// - Camp in S1 on 07-25 → announced on 07-23 to E1, H1, L1 (not N1, not X2/P1 in S2).
/// - Notices: overdue ≥ 1000.00 and days overdue ≥ 30 → first on 2026-08-19 (08-19 − 07-20 =
///   30) for E1, H1, L1, X2.
/// - E1's notice served 08-20; disconnected 09-05 (message that day); pays everything 09-06
///   (receipt); reconnected 09-07 (message).
#[test]
fn sms_triggers_queue_on_their_day_for_mobiles_registered_then() {
    let env = Env::with_policy(&format!(
        "[sms]\nreminder_days_before_due = 4\ncamp_notice_days_before = 2\n{}",
        marker_templates()
    ));
    env.import_offices();
    // H1 gives no language: Hindi by default.
    let h1 = consumer("H1", "S1", Some("9876500002"), None);
    env.append_ok(&[
        consumer("E1", "S1", Some("9876500001"), Some("en")),
        h1,
        consumer("X2", "S2", Some("9876500003"), Some("en")),
        consumer("N1", "S1", None, Some("en")),
        consumer("L1", "S1", None, Some("hi")),
        consumer("P1", "S2", Some("9876500005"), Some("en")),
        bill("B-E1", "E1", "2026-07-05", "2026-07-20", "2000.00"),
        bill("B-H1", "H1", "2026-07-05", "2026-07-20", "2000.00"),
        bill("B-X2", "X2", "2026-07-05", "2026-07-20", "2000.00"),
        bill("B-N1", "N1", "2026-07-05", "2026-07-20", "2000.00"),
        bill("B-L1", "L1", "2026-07-05", "2026-07-20", "2000.00"),
        bill("B-P1", "P1", "2026-07-05", "2026-07-20", "2000.00"),
        payment("R-L1A", "L1", "100.00", "2026-07-08"),
        payment("R-P1", "P1", "2000.00", "2026-07-10"),
        register_mobile("L1", "9876500004", "2026-07-12"),
        payment("R-L1B", "L1", "100.00", "2026-07-13"),
        json!({"type": "schedule_camp", "camp_id": "CAMP1", "subdivision": "S1",
               "on": "2026-07-25", "venue": "Raipur Hall"}),
    ]);

    // (date, account, kind, language) of each message as it first appears in the outbox.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut got: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    let mut step = |env: &Env, day: &str| {
        env.nightly(day);
        for r in env.outbox() {
            if seen.insert(id_of(&r).to_string()) {
                let text = text_of(&r);
                let lang = if is_devanagari(text) { "hi" } else { "en" };
                got.insert((
                    day.to_string(),
                    r["account_no"].clone(),
                    kind_of(text),
                    lang.to_string(),
                ));
            }
        }
    };
    for day in days("2026-07-04", "2026-08-19") {
        step(&env, &day);
    }
    let notice = env
        .defaulters("Z1")
        .into_iter()
        .find(|r| r["account_no"] == "E1")
        .expect("E1 is a defaulter")["notice_no"]
        .clone();
    assert!(!notice.is_empty());
    env.append_ok(&[json!({"type": "serve_notice", "notice_no": notice,
                           "served_on": "2026-08-20", "mode": "hand"})]);
    for day in days("2026-08-20", "2026-09-04") {
        step(&env, &day);
    }
    env.append_ok(&[
        json!({"type": "disconnect", "account_no": "E1", "on": "2026-09-05",
                           "order_no": "DO-1"}),
    ]);
    step(&env, "2026-09-05");
    // E1 owes 2000.00 + the surcharge of 2026-08-20 (1.25% of 2000.00 = 25.00) = 2025.00.
    env.append_ok(&[payment("R-E1", "E1", "2025.00", "2026-09-06")]);
    step(&env, "2026-09-06");
    env.append_ok(&[json!({"type": "reconnect", "account_no": "E1", "on": "2026-09-07"})]);
    step(&env, "2026-09-07");
    step(&env, "2026-09-08");

    let expected: BTreeSet<(String, String, String, String)> = [
        ("2026-07-05", "E1", "bill", "en"),
        ("2026-07-05", "H1", "bill", "hi"),
        ("2026-07-05", "X2", "bill", "en"),
        ("2026-07-05", "P1", "bill", "en"),
        ("2026-07-10", "P1", "receipt", "en"),
        ("2026-07-13", "L1", "receipt", "hi"),
        ("2026-07-16", "E1", "reminder", "en"),
        ("2026-07-16", "H1", "reminder", "hi"),
        ("2026-07-16", "X2", "reminder", "en"),
        ("2026-07-16", "L1", "reminder", "hi"),
        ("2026-07-23", "E1", "camp", "en"),
        ("2026-07-23", "H1", "camp", "hi"),
        ("2026-07-23", "L1", "camp", "hi"),
        ("2026-08-19", "E1", "notice", "en"),
        ("2026-08-19", "H1", "notice", "hi"),
        ("2026-08-19", "X2", "notice", "en"),
        ("2026-08-19", "L1", "notice", "hi"),
        ("2026-09-05", "E1", "disconnection", "en"),
        ("2026-09-06", "E1", "receipt", "en"),
        ("2026-09-07", "E1", "reconnection", "en"),
    ]
    .iter()
    .map(|(d, a, k, l)| (d.to_string(), a.to_string(), k.to_string(), l.to_string()))
    .collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:#?}\nextra: {extra:#?}"
    );
}

/// Message ids are deterministic: rerunning the same date queues nothing new and writes nothing;
/// the same log restored elsewhere and run to the same date queues the same ids.
#[test]
fn sms_ids_are_deterministic_across_reruns_and_restores() {
    let env = Env::new();
    env.import_offices();
    env.append_ok(&[
        consumer("D1A", "S1", Some("9876500011"), Some("en")),
        consumer("D1B", "S2", Some("9876500012"), None),
        bill("DB-1", "D1A", "2026-07-05", "2026-07-20", "1500.00"),
        bill("DB-2", "D1B", "2026-07-05", "2026-07-20", "1500.00"),
        payment("DR-1", "D1A", "100.00", "2026-07-05"),
    ]);
    let pre = env.export();
    env.nightly("2026-07-05");
    let first = env.outbox();
    // D1A: bill and receipt; D1B: bill.
    assert_eq!(first.len(), 3, "{first:#?}");
    let log = env.export();
    env.nightly("2026-07-05");
    assert_eq!(env.outbox(), first);
    assert!(env.export() == log, "a rerun of the same date wrote events");

    let copy = Env::new();
    let file = copy.file("pre", "jsonl", &pre);
    copy.ok(&["restore", file.to_str().unwrap()]);
    copy.nightly("2026-07-05");
    let ids =
        |rows: &[Row]| -> BTreeSet<String> { rows.iter().map(|r| id_of(r).to_string()).collect() };
    assert_eq!(ids(&copy.outbox()), ids(&first));
}

/// Encodings and parts at the boundaries: GSM-7 is 160 characters in one part and 153 per part
/// beyond; UCS-2 is 70 in one part and 67 per part beyond. The bill template is set to texts of
/// exact lengths without variables; E (en) gets the English text, H (hi) the Hindi one.
#[test]
fn sms_encoding_and_parts_at_the_boundaries() {
    // (en text, expected parts, hi text, expected parts)
    let gsm = |n: usize| "a".repeat(n);
    let ucs = |n: usize| "क".repeat(n);
    let cases: Vec<(String, &str, usize, String, &str, usize)> = vec![
        (gsm(160), "gsm7", 1, ucs(70), "ucs2", 1),
        (gsm(161), "gsm7", 2, ucs(71), "ucs2", 2),
        (gsm(306), "gsm7", 2, ucs(134), "ucs2", 2),
        (gsm(307), "gsm7", 3, ucs(135), "ucs2", 3),
        (gsm(459), "gsm7", 3, ucs(201), "ucs2", 3),
        (gsm(460), "gsm7", 4, ucs(202), "ucs2", 4),
        (gsm(1), "gsm7", 1, ucs(1), "ucs2", 1),
        // One character outside GSM-7 makes the whole text UCS-2: 159 ASCII + ₹ = 160 UTF-16
        // units → ceil(160 / 67) = 3 parts. `£` and `é` are in the GSM-7 alphabet.
        (
            format!("{}₹", gsm(159)),
            "ucs2",
            3,
            format!("£{}é", gsm(158)),
            "gsm7",
            1,
        ),
        // 70 characters mixing Devanagari and ASCII: still one UCS-2 part; 71: two.
        (
            format!("{}{}", ucs(35), gsm(35)),
            "ucs2",
            1,
            format!("{}{}", ucs(36), gsm(35)),
            "ucs2",
            2,
        ),
    ];
    for (en, en_enc, en_parts, hi, hi_enc, hi_parts) in cases {
        let env = Env::with_policy(&format!(
            "[sms.templates.bill]\nhi = \"{hi}\"\nen = \"{en}\"\n\
             dlt_template_id = \"1107000000000000001\"\n"
        ));
        env.import_offices();
        env.append_ok(&[
            consumer("E", "S1", Some("9876500021"), Some("en")),
            consumer("H", "S1", Some("9876500022"), Some("hi")),
            bill("BE", "E", "2026-07-05", "2026-07-20", "1200.00"),
            bill("BH", "H", "2026-07-05", "2026-07-20", "1200.00"),
        ]);
        env.nightly("2026-07-05");
        let rows = env.outbox();
        assert_eq!(rows.len(), 2, "{rows:#?}");
        for (account, text, enc, parts) in
            [("E", &en, en_enc, en_parts), ("H", &hi, hi_enc, hi_parts)]
        {
            let r = rows
                .iter()
                .find(|r| r["account_no"] == account)
                .unwrap_or_else(|| panic!("no message for {account}: {rows:#?}"));
            let len = text.chars().count();
            assert_eq!(text_of(r), text.as_str(), "{account} text of {len} chars");
            assert_eq!(encoding_of(r), enc, "{account}: {len} chars");
            assert_eq!(
                r["parts"],
                parts.to_string(),
                "{account}: {len} chars, {enc}"
            );
        }
    }
}

/// `{#var#}` variables are substituted, and parts are counted on the text after substitution:
/// a template of 158 `a`s followed by `{#account#}` (169 characters as written) gives 160
/// characters for account `A1` (1 part) and 161 for `A12` (2 parts). The default templates
/// leave no `{#` in any text.
#[test]
fn sms_variables_are_substituted_before_counting_parts() {
    let env = Env::with_policy(&format!(
        "[sms.templates.bill]\nhi = \"बिल {{#account#}}\"\nen = \"{}{{#account#}}\"\n\
         dlt_template_id = \"1107000000000000001\"\n",
        "a".repeat(158)
    ));
    env.import_offices();
    env.append_ok(&[
        consumer("A1", "S1", Some("9876500031"), Some("en")),
        consumer("A12", "S1", Some("9876500032"), Some("en")),
        consumer("A123", "S1", Some("9876500033"), Some("hi")),
        bill("B1", "A1", "2026-07-05", "2026-07-20", "1200.00"),
        bill("B12", "A12", "2026-07-05", "2026-07-20", "1200.00"),
        bill("B123", "A123", "2026-07-05", "2026-07-20", "1200.00"),
    ]);
    env.nightly("2026-07-05");
    let rows = env.outbox();
    let of = |acc: &str| {
        rows.iter()
            .find(|r| r["account_no"] == acc)
            .unwrap_or_else(|| panic!("no message for {acc}: {rows:#?}"))
    };
    assert_eq!(text_of(of("A1")), format!("{}A1", "a".repeat(158)));
    assert_eq!(of("A1")["parts"], "1");
    assert_eq!(text_of(of("A12")), format!("{}A12", "a".repeat(158)));
    assert_eq!(of("A12")["parts"], "2");
    assert_eq!(text_of(of("A123")), "बिल A123");
    assert_eq!(encoding_of(of("A123")), "ucs2");
    assert_eq!(of("A123")["parts"], "1");

    // Default templates: every kind that this scenario reaches has its variables filled in.
    let plain = Env::new();
    plain.import_offices();
    plain.append_ok(&[
        consumer("V1", "S1", Some("9876500034"), Some("en")),
        consumer("V2", "S1", Some("9876500035"), Some("hi")),
        bill("BV1", "V1", "2026-07-05", "2026-07-20", "1200.00"),
        bill("BV2", "V2", "2026-07-05", "2026-07-20", "1200.00"),
        payment("RV1", "V1", "100.00", "2026-07-06"),
        json!({"type": "schedule_camp", "camp_id": "CV", "subdivision": "S1",
               "on": "2026-07-20", "venue": "Town Hall"}),
    ]);
    for day in days("2026-07-05", "2026-08-20") {
        plain.nightly(&day);
    }
    let rows = plain.outbox();
    assert!(rows.len() >= 8, "{rows:#?}");
    for r in &rows {
        let text = text_of(r);
        assert!(
            !text.contains("{#") && !text.contains("#}"),
            "unsubstituted: {r:?}"
        );
    }
}

/// `sms outbox` lists every message with its encoding and parts and filters by `--status`;
/// `sms send --gateway URL` delivers each queued message once: the gateway sees every message
/// id exactly once with the full mobile number and the text, messages end `sent`, a second send
/// sends nothing, and the attempts are events in the log.
#[test]
fn sms_send_delivers_each_message_once_and_marks_it_sent() {
    let env = Env::new();
    env.import_offices();
    env.append_ok(&[
        consumer("G1", "S1", Some("+91 98765-00041"), Some("en")),
        consumer("G2", "S2", Some("09876500042"), Some("hi")),
        consumer("G3", "S1", None, Some("en")),
        bill("GB-1", "G1", "2026-07-05", "2026-07-20", "1200.00"),
        bill("GB-2", "G2", "2026-07-05", "2026-07-20", "800.00"),
        bill("GB-3", "G3", "2026-07-05", "2026-07-20", "800.00"),
        payment("GR-1", "G1", "200.00", "2026-07-06"),
    ]);
    env.nightly("2026-07-05");
    env.nightly("2026-07-06");
    let (header, rows) = env.csv(&["sms", "outbox"]);
    for col in ["encoding", "parts", "status"] {
        assert!(header.iter().any(|h| h == col), "no {col}: {header:?}");
    }
    // G1: bill + receipt; G2: bill; G3 has no mobile.
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows.iter().all(|r| r["status"] == "queued"));
    assert_eq!(env.csv(&["sms", "outbox", "--status", "queued"]).1, rows);
    assert!(env.csv(&["sms", "outbox", "--status", "sent"]).1.is_empty());
    assert!(env
        .csv(&["sms", "outbox", "--status", "failed"])
        .1
        .is_empty());

    let before = env.export().iter().filter(|b| **b == b'\n').count();
    let (url, seen) = start_gateway();
    env.ok(&["sms", "send", "--gateway", &url]);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    for r in &rows {
        let id = id_of(r);
        let hits: Vec<&Request> = requests.iter().filter(|q| q.carries(id)).collect();
        assert_eq!(hits.len(), 1, "gateway saw {id} {} times", hits.len());
        let mobile = if r["account_no"] == "G1" {
            "9876500041"
        } else {
            "9876500042"
        };
        assert!(
            hits[0].mentions(mobile),
            "{id}: no {mobile} in {:?}",
            hits[0]
        );
        assert!(
            hits[0].mentions(text_of(r)),
            "{id}: text not sent: {:?}",
            hits[0]
        );
    }
    let after = env.export().iter().filter(|b| **b == b'\n').count();
    assert!(
        after >= before + 3,
        "each attempt is an event: {before} → {after}"
    );

    let sent = env.csv(&["sms", "outbox", "--status", "sent"]).1;
    assert_eq!(sent.len(), 3);
    assert!(env
        .csv(&["sms", "outbox", "--status", "queued"])
        .1
        .is_empty());
    assert!(env
        .csv(&["sms", "outbox", "--status", "failed"])
        .1
        .is_empty());
    let all = env.outbox();
    assert!(all.iter().all(|r| r["status"] == "sent"), "{all:#?}");

    // Nothing left to send: the gateway sees nothing new.
    env.ok(&["sms", "send", "--gateway", &url]);
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(env.go(&["verify"]).code, 0);
}

/// TRAI's rules (§11) need a registered entity id, a 6-letter sender header and a DLT template
/// id for every message: the request to the gateway carries the policy's values.
#[test]
fn sms_send_carries_sender_entity_and_dlt_template_id() {
    let env = Env::with_policy(
        "[sms]\nentity_id = \"1201160000000077777\"\nsender = \"VASOOL\"\n\
         [sms.templates.bill]\nhi = \"बिल\"\nen = \"Bill\"\ndlt_template_id = \"1107000000000099999\"\n",
    );
    env.import_offices();
    env.append_ok(&[
        consumer("T1", "S1", Some("9876500051"), Some("en")),
        bill("TB-1", "T1", "2026-07-05", "2026-07-20", "1200.00"),
    ]);
    env.nightly("2026-07-05");
    assert_eq!(env.outbox().len(), 1);
    let (url, seen) = start_gateway();
    env.ok(&["sms", "send", "--gateway", &url]);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    for value in [
        "1201160000000077777",
        "VASOOL",
        "1107000000000099999",
        "Bill",
    ] {
        assert!(
            requests[0].mentions(value),
            "no {value} in {:?}",
            requests[0]
        );
    }
}

/// A later `register_mobile` replaces the number from its `registered_on` (docs/RULES.md): the
/// bill of 07-05 goes to the first number, the bill of 08-05 to the one registered 08-01. A bill
/// whose reminder day (due − 3) is its issue day gets both messages that day.
#[test]
fn sms_follow_a_replaced_mobile_and_a_reminder_on_the_issue_day() {
    let env = Env::with_policy(&marker_templates());
    env.import_offices();
    env.append_ok(&[
        consumer("MR1", "S1", Some("9876500141"), Some("en")),
        bill("MRB-1", "MR1", "2026-07-05", "2026-07-20", "300.00"),
        payment("MRP-1", "MR1", "300.00", "2026-07-06"),
        register_mobile("MR1", "9876500142", "2026-08-01"),
        bill("MRB-2", "MR1", "2026-08-05", "2026-08-08", "300.00"),
    ]);
    let mut by_day: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut run_days = |from: &str, to: &str| {
        for day in days(from, to) {
            env.nightly(&day);
            for r in env.outbox() {
                if seen.insert(id_of(&r).to_string()) {
                    by_day
                        .entry(day.clone())
                        .or_default()
                        .push(kind_of(text_of(&r)));
                }
            }
        }
    };
    // July's messages are sent before August's are queued, so each send shows one number.
    run_days("2026-07-04", "2026-07-31");
    let (url, july) = start_gateway();
    env.ok(&["sms", "send", "--gateway", &url]);
    run_days("2026-08-01", "2026-08-09");
    let (url, august) = start_gateway();
    env.ok(&["sms", "send", "--gateway", &url]);

    for v in by_day.values_mut() {
        v.sort();
    }
    let expected: BTreeMap<String, Vec<String>> = [
        ("2026-07-05", vec!["bill"]),
        ("2026-07-06", vec!["receipt"]),
        // MRB-2: issued 08-05, due 08-08 → reminder 08-05, unpaid.
        ("2026-08-05", vec!["bill", "reminder"]),
    ]
    .iter()
    .map(|(d, k)| (d.to_string(), k.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(by_day, expected);
    for (requests, want, not) in [
        (july.lock().unwrap().clone(), "9876500141", "9876500142"),
        (august.lock().unwrap().clone(), "9876500142", "9876500141"),
    ] {
        assert_eq!(requests.len(), 2, "{requests:#?}");
        for q in &requests {
            assert!(q.mentions(want) && !q.mentions(not), "to {want}: {q:?}");
        }
    }
}

/// "Each notice" gets a message: a case that closes (arrears below the threshold) and opens again
/// issues a second notice with a new number, and a second notice message. A camp announcement
/// reaches a mobile registered on the announcement day itself, not one registered the day after.
///
/// NC1: B1 2000.00 issued 01-05 due 01-20 → bill 01-05, reminder 01-17, notice 02-19 (30 days).
/// Pays 1500.00 on 02-25 (receipt): 2000.00 + 25.00 surcharge (02-20) − 1500.00 = 525.00 overdue
/// < 1000.00 → the case closes. B2 1000.00 issued 03-05 due 03-20 → bill 03-05, reminder 03-17;
/// on 03-21 overdue = 500.00 + 6.25 (03-20 levy on B1's 500.00) + 1000.00 ≥ 1000.00 and days
/// overdue = 03-21 − 01-20 = 60 → a second notice.
/// Camp in S2 on 03-10 (announced 03-07): NC2 registered 03-07 gets it, NC3 registered 03-08 not.
#[test]
fn sms_each_notice_and_camp_mobiles_as_of_the_day() {
    let env = Env::with_policy(&marker_templates());
    env.import_offices();
    env.append_ok(&[
        consumer("NC1", "S1", Some("9876500151"), Some("en")),
        consumer("NC2", "S2", None, Some("en")),
        consumer("NC3", "S2", None, Some("en")),
        bill("NCB-1", "NC1", "2026-01-05", "2026-01-20", "2000.00"),
        payment("NCP-1", "NC1", "1500.00", "2026-02-25"),
        bill("NCB-2", "NC1", "2026-03-05", "2026-03-20", "1000.00"),
        register_mobile("NC2", "9876500152", "2026-03-07"),
        register_mobile("NC3", "9876500153", "2026-03-08"),
        json!({"type": "schedule_camp", "camp_id": "NCAMP", "subdivision": "S2",
               "on": "2026-03-10", "venue": "Premnagar School"}),
    ]);
    let mut got: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut notices = BTreeSet::new();
    for day in days("2026-01-04", "2026-03-22") {
        env.nightly(&day);
        for r in env.outbox() {
            if seen.insert(id_of(&r).to_string()) {
                got.insert((day.clone(), r["account_no"].clone(), kind_of(text_of(&r))));
            }
        }
        if let Some(r) = env
            .defaulters("Z1")
            .iter()
            .find(|r| r["account_no"] == "NC1")
        {
            if !r["notice_no"].is_empty() {
                notices.insert(r["notice_no"].clone());
            }
        }
    }
    assert_eq!(notices.len(), 2, "two notice numbers: {notices:?}");
    let expected: BTreeSet<(String, String, String)> = [
        ("2026-01-05", "NC1", "bill"),
        ("2026-01-17", "NC1", "reminder"),
        ("2026-02-19", "NC1", "notice"),
        ("2026-02-25", "NC1", "receipt"),
        ("2026-03-05", "NC1", "bill"),
        ("2026-03-07", "NC2", "camp"),
        ("2026-03-17", "NC1", "reminder"),
        ("2026-03-21", "NC1", "notice"),
    ]
    .iter()
    .map(|(d, a, k)| (d.to_string(), a.to_string(), k.to_string()))
    .collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:#?}\nextra: {extra:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

/// Every KIND with its columns in yet another order, quoted fields holding commas, doubled
/// quotes and Hindi text, and empty optional fields (`parent` of a zone, `mobile` and `language`
/// of a consumer). The names read back intact; an empty language means Hindi SMS.
#[test]
fn import_every_kind_with_shuffled_columns_quotes_and_hindi() {
    let env = Env::new();
    assert_eq!(
        env.import_counts(
            "offices",
            "name,parent,code,level\n\"Zone, Garhwal\",,Z1,zone\n\"वृत्त, देहरादून\",Z1,C1,circle\n\
             \"Div \"\"East\"\"\",C1,D1,division\n\"रायपुर, उप\",D1,S1,subdivision\n",
        ),
        vec![4, 4, 0]
    );
    assert_eq!(
        env.import_counts(
            "consumers",
            "subdivision,language,account_no,mobile,load_kw,name,connected_on,category\n\
             S1,,Q1,,2.125,\"शर्मा, राम \"\"बिट्टू\"\"\",2025-01-01,domestic\n\
             S1,en,Q2,\"+91 98765 00061\",1,\"Traders, Ltd\",2025-01-01,non_domestic\n\
             S1,,Q3,9876500063,1,सीता देवी,2025-01-01,domestic\n",
        ),
        vec![3, 3, 0]
    );
    assert_eq!(
        env.import_counts(
            "bills",
            "due_on,bill_no,amount,account_no,issued_on,period\n\
             2026-07-20,QB-1,1200.00,Q1,2026-07-05,2026-07\n\
             2026-07-20,QB-2,900.5,Q2,2026-07-05,2026-07\n\
             2026-07-20,QB-3,700,Q3,2026-07-05,2026-07\n",
        ),
        vec![3, 3, 0]
    );
    assert_eq!(
        env.import_counts(
            "payments",
            "paid_on,channel,receipt_no,account_no,amount\n2026-07-10,counter_cash,QR-1,Q1,200.00\n",
        ),
        vec![1, 1, 0]
    );
    assert_eq!(
        env.import_counts(
            "mobiles",
            "source,account_no,registered_on,mobile\nonline,Q1,2026-07-01,\"98765-00062\"\n",
        ),
        vec![1, 1, 0]
    );
    env.nightly("2026-07-21");
    let rows = env.defaulters("Z1");
    let by = |acc: &str| {
        rows.iter()
            .find(|r| r["account_no"] == acc)
            .unwrap()
            .clone()
    };
    // Q1: 1200.00 − 200.00 = 1000.00; Q2: 900.50; Q3: 700.00; all due 07-20, overdue on 07-21.
    assert_eq!(
        rows.iter()
            .map(|r| r["account_no"].as_str())
            .collect::<Vec<_>>(),
        vec!["Q1", "Q2", "Q3"]
    );
    assert_eq!(by("Q1")["name"], "शर्मा, राम \"बिट्टू\"");
    assert_eq!(by("Q1")["overdue_arrears"], "1000.00");
    assert_eq!(by("Q1")["mobile_registered"], "yes");
    assert_eq!(by("Q2")["name"], "Traders, Ltd");
    assert_eq!(by("Q2")["overdue_arrears"], "900.50");
    assert_eq!(by("Q3")["name"], "सीता देवी");
    assert_eq!(by("Q3")["overdue_arrears"], "700.00");
    let campaign = env.csv(&["campaign", "--office", "Z1"]).1;
    assert_eq!(campaign.len(), 1, "{campaign:#?}");
    assert_eq!(campaign[0]["office_name"], "रायपुर, उप");
    // The bill SMS of 07-05 was not queued (the run started 07-21); the receipt of 07-10 may be.
    // Q3's language was empty: its messages are Hindi. Q2's are English.
    for r in env.outbox() {
        let hindi = is_devanagari(text_of(&r));
        match r["account_no"].as_str() {
            "Q3" | "Q1" => assert!(hindi, "{r:?}"),
            "Q2" => assert!(!hindi, "{r:?}"),
            other => panic!("unexpected {other}"),
        }
    }
}

/// A UTF-8 byte order mark before the header (as Excel writes "CSV UTF-8") does not hide the
/// first column, for every KIND.
#[test]
fn import_accepts_a_bom_before_the_header() {
    let env = Env::new();
    let files: [(&str, String); 5] = [
        ("offices", OFFICES_CSV.to_string()),
        (
            "consumers",
            format!("{CONSUMER_HEADER}\nBM1,बीओएम,domestic,S1,1,2025-01-01,9876500071,hi\n"),
        ),
        (
            "bills",
            "bill_no,account_no,period,issued_on,due_on,amount\nBMB,BM1,2026-07,2026-07-05,2026-07-20,1200.00\n"
                .to_string(),
        ),
        (
            "payments",
            "receipt_no,account_no,amount,paid_on,channel\nBMR,BM1,100.00,2026-07-06,upi\n"
                .to_string(),
        ),
        (
            "mobiles",
            "account_no,mobile,registered_on,source\nBM1,9876500072,2026-07-07,camp\n".to_string(),
        ),
    ];
    for (kind, text) in files {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let (_, run) = env.import_bytes(kind, &bytes);
        assert_eq!(run.code, 0, "{kind} with a BOM: {}", run.stderr);
        let c = counts(&run.stdout);
        assert_eq!(c[1], c[0], "{kind}: {}", run.stdout);
    }
    env.nightly("2026-07-21");
    let rows = env.defaulters("Z1");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["account_no"], "BM1");
    assert_eq!(rows[0]["overdue_arrears"], "1100.00");
}

/// Each KIND has its columns, and nothing is promised of extra ones. Whatever the engine
/// does with an unknown extra column must be whole: either the file is imported as if the column
/// were absent (exit 0), or it is rejected (exit 3) naming the column, with nothing written.
#[test]
fn import_with_an_extra_unknown_column_is_all_or_nothing() {
    let env = Env::new();
    env.import_offices();
    let before = env.export();
    let (name, run) = env.import_named(
        "consumers",
        &format!("{CONSUMER_HEADER},remarks\nXC1,Ram,domestic,S1,1,2025-01-01,,hi,old meter\n"),
    );
    match run.code {
        0 => {
            assert_eq!(counts(&run.stdout), vec![1, 1, 0], "{}", run.stdout);
            let log = String::from_utf8(env.export()).unwrap();
            assert!(!log.contains("old meter"), "the extra column was stored");
        }
        3 => {
            assert!(
                run.stderr.contains(&format!("{name}:1")) && run.stderr.contains("remarks"),
                "{}",
                run.stderr
            );
            assert!(env.export() == before);
        }
        other => panic!("exit {other}: {}", run.stderr),
    }
}

/// Empty required fields are rejected naming line and column; an empty `parent` is only right
/// for a zone and a zone may not have one; empty `mobile` and `language` are fine.
#[test]
fn import_empty_required_fields_are_rejected_and_optional_ones_accepted() {
    let env = Env::new();
    env.import_offices();
    let before = env.export();
    let cases: [(&str, String, &str); 7] = [
        (
            "consumers",
            format!("{CONSUMER_HEADER}\nEF1,,domestic,S1,1,2025-01-01,,\n"),
            "name",
        ),
        (
            "consumers",
            format!("{CONSUMER_HEADER}\nEF1,Ram,domestic,S1,,2025-01-01,,\n"),
            "load_kw",
        ),
        (
            "consumers",
            format!("{CONSUMER_HEADER}\nEF1,Ram,domestic,,1,2025-01-01,,\n"),
            "subdivision",
        ),
        (
            "offices",
            "code,name,level,parent\nS9,Nine,subdivision,\n".to_string(),
            "parent",
        ),
        (
            "offices",
            "code,name,level,parent\nZ9,Nine,zone,C1\n".to_string(),
            "parent",
        ),
        (
            "bills",
            "bill_no,account_no,period,issued_on,due_on,amount\nEB,EF0,2026-07,2026-07-05,2026-07-20,\n"
                .to_string(),
            "amount",
        ),
        (
            "mobiles",
            "account_no,mobile,registered_on,source\nEF0,9876500081,2026-07-05,\n".to_string(),
            "source",
        ),
    ];
    env.append_ok(&[consumer("EF0", "S1", None, None)]);
    let before_cases = env.export();
    assert!(before_cases.len() > before.len());
    for (kind, text, col) in cases {
        let (name, run) = env.import_named(kind, &text);
        assert_eq!(run.code, 3, "{kind} empty {col}: {}", run.stderr);
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(&format!("{name}:2")) && l.contains(col)),
            "{kind}: no `{name}:2` naming {col}: {}",
            run.stderr
        );
        assert!(
            env.export() == before_cases,
            "{kind}: rejected import wrote"
        );
    }
    assert_eq!(
        env.import_counts(
            "consumers",
            &format!("{CONSUMER_HEADER}\nEF2,Ram,domestic,S1,1,2025-01-01,,\n")
        ),
        vec![1, 1, 0]
    );
}

/// Re-imports count read / appended / duplicates for every KIND; the mobiles natural key is
/// account_no + mobile + registered_on: the same key with another source is a conflict, the
/// same number written another way is the same key (the 10 digits are stored), another date or
/// another number is a new row.
#[test]
fn reimport_counts_and_the_mobiles_natural_key() {
    let env = Env::new();
    assert_eq!(env.import_counts("offices", OFFICES_CSV), vec![5, 5, 0]);
    // Cut off after 3 rows, then run again in full.
    let partial: String = OFFICES_CSV
        .lines()
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    let env2 = Env::new();
    assert_eq!(env2.import_counts("offices", &partial), vec![3, 3, 0]);
    assert_eq!(env2.import_counts("offices", OFFICES_CSV), vec![5, 2, 3]);

    let consumers = format!(
        "{CONSUMER_HEADER}\nRK1,राम,domestic,S1,1,2025-01-01,9876500091,\n\
         RK2,\"Shah, M\",domestic,S2,1,2025-01-01,,en\n"
    );
    assert_eq!(env.import_counts("consumers", &consumers), vec![2, 2, 0]);
    assert_eq!(env.import_counts("consumers", &consumers), vec![2, 0, 2]);
    let payments = "receipt_no,account_no,amount,paid_on,channel\n\
                    RP1,RK1,10.00,2026-07-01,upi\nRP2,RK2,20.00,2026-07-01,camp\n";
    assert_eq!(env.import_counts("payments", payments), vec![2, 2, 0]);
    let more = format!("{payments}RP3,RK2,30.00,2026-07-02,bbps\n");
    assert_eq!(env.import_counts("payments", &more), vec![3, 1, 2]);

    let mobiles = "account_no,mobile,registered_on,source\nRK2,9876500092,2026-07-01,camp\n";
    assert_eq!(env.import_counts("mobiles", mobiles), vec![1, 1, 0]);
    assert_eq!(env.import_counts("mobiles", mobiles), vec![1, 0, 1]);
    // The same number as typed differently: the same stored 10 digits, so a duplicate.
    assert_eq!(
        env.import_counts(
            "mobiles",
            "account_no,mobile,registered_on,source\nRK2,+91 98765-00092,2026-07-01,camp\n"
        ),
        vec![1, 0, 1]
    );
    // Another registered_on or another number: new rows.
    assert_eq!(
        env.import_counts(
            "mobiles",
            "account_no,mobile,registered_on,source\nRK2,9876500092,2026-07-01,camp\n\
             RK2,9876500092,2026-07-05,sms\nRK2,9876500093,2026-07-01,field\n"
        ),
        vec![3, 2, 1]
    );
    // The same key with another source: a conflict, nothing written.
    let before = env.export();
    let (name, run) = env.import_named(
        "mobiles",
        "account_no,mobile,registered_on,source\nRK1,9876500094,2026-07-09,field\n\
         RK2,9876500092,2026-07-01,online\n",
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("{name}:3")), "{}", run.stderr);
    assert!(env.export() == before);
}

/// A bad row on the last line of a file that has no trailing newline is reported on its
/// physical line, with LF and CRLF endings, and after a quoted field spanning two lines.
#[test]
fn bad_last_line_without_trailing_newline_reports_its_physical_line() {
    let env = Env::new();
    env.import_offices();
    env.append_ok(&[consumer("LL1", "S1", None, None)]);
    let before = env.export();
    let cases: [(&str, String, usize, &str); 6] = [
        (
            "bills",
            "bill_no,account_no,period,issued_on,due_on,amount\n\
             LB1,LL1,2026-07,2026-07-05,2026-07-20,100.00\nLB2,LL1,2026-07,2026-07-05,2026-07-20,1.005"
                .to_string(),
            3,
            "amount",
        ),
        (
            "payments",
            "receipt_no,account_no,amount,paid_on,channel\r\nLP1,LL1,1.00,2026-07-05,upi\r\n\
             LP2,LL1,1.00,2026-07-05,upi\r\nLP3,LL1,1.00,2026-07-05,paytm"
                .to_string(),
            4,
            "channel",
        ),
        (
            "consumers",
            format!(
                "{CONSUMER_HEADER}\nLL2,\"Ram\nPrasad, Jr\",domestic,S1,1,2025-01-01,,\n\
                 LL3,Sita,domestic,S1,1,2025-01-01,,fr"
            ),
            4,
            "language",
        ),
        (
            "mobiles",
            "account_no,mobile,registered_on,source\nLL1,5876500101,2026-07-05,camp".to_string(),
            2,
            "mobile",
        ),
        (
            "offices",
            "code,name,level,parent\nS7,\"सात, उप\",subdivision,D1\nS8,Eight,subdivision,ZZ"
                .to_string(),
            3,
            "parent",
        ),
        (
            "consumers",
            format!("{CONSUMER_HEADER}\r\nLL4,\"Ram\r\nSingh\",domestic,S1,1,2025-01-01,,\r\nLL5,Sita,domestic,S1,1,2025-02-30,,"),
            4,
            "connected_on",
        ),
    ];
    for (kind, text, line, col) in cases {
        let (name, run) = env.import_named(kind, &text);
        assert_eq!(run.code, 3, "{kind}: {}", run.stderr);
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(
            errors
                .iter()
                .any(|l| l.contains(&format!("{name}:{line}")) && l.contains(col)),
            "{kind}: expected `{name}:{line}` naming {col}: {}",
            run.stderr
        );
        // A control character in a name is refused, so a row whose quoted name
        // spans two lines may be rejected too; only single-line files are checked for it.
        let multi_line_field = text.matches('"').count() > 0 && text.contains("\"Ram");
        for other in (1..line).filter(|_| !multi_line_field) {
            assert!(
                !run.stderr.contains(&format!("{name}:{other}:"))
                    && !run.stderr.contains(&format!("{name}:{other} ")),
                "{kind}: line {other} reported: {}",
                run.stderr
            );
        }
        assert!(env.export() == before, "{kind}: rejected import wrote");
    }
    // A BOM and a quoted header change nothing: the bad row is still on line 3.
    let mut bytes = b"\xEF\xBB\xBF\"bill_no\",\"account_no\",period,issued_on,due_on,\"amount\"\n\
        LB1,LL1,2026-07,2026-07-05,2026-07-20,100.00\nLB2,LL1,2026-07,2026-07-05,2026-07-20,-1"
        .to_vec();
    let (name, run) = env.import_bytes("bills", &bytes);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(&format!("{name}:3")) && l.contains("amount")),
        "{}",
        run.stderr
    );
    bytes.truncate(bytes.len() - 2);
    bytes.extend_from_slice(b"10.00");
    let (_, run) = env.import_bytes("bills", &bytes);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run.stdout), vec![2, 2, 0], "{}", run.stdout);
}

/// Exit codes of `import`: an unknown KIND is a usage error (2); an empty file has no header
/// row (3); a header-only file reads nothing and succeeds; a header missing a column is 3.
#[test]
fn import_exit_codes() {
    let env = Env::new();
    env.import_offices();
    let before = env.export();
    let path = env.file("x", "csv", OFFICES_CSV.as_bytes());
    assert_eq!(
        env.go(&["import", "office", path.to_str().unwrap()]).code,
        2
    );
    let (_, run) = env.import_named("payments", "");
    assert_eq!(run.code, 3, "empty file: {}", run.stderr);
    assert!(!run.stderr.trim().is_empty());
    let (_, run) = env.import_named("payments", "receipt_no,account_no,amount,paid_on,channel\n");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run.stdout), vec![0, 0, 0], "{}", run.stdout);
    let (name, run) = env.import_named("mobiles", "account_no,mobile,source\nX,9876500111,camp\n");
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains(&format!("{name}:1")) && run.stderr.contains("registered_on"),
        "{}",
        run.stderr
    );
    assert!(env.export() == before);
}

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

/// The `table.key` → value pairs of a simple TOML text (what `policy show` prints).
fn toml_keys(toml: &str) -> BTreeMap<String, String> {
    let mut table = String::new();
    let mut out = BTreeMap::new();
    for line in toml.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        } else if let Some((k, v)) = l.split_once('=') {
            let key = if table.is_empty() {
                k.trim().to_string()
            } else {
                format!("{table}.{}", k.trim())
            };
            out.insert(key, v.trim().to_string());
        } else {
            panic!("not a TOML line: {line}");
        }
    }
    out
}

/// `policy show` prints TOML that reads back as a policy file and shows the same again, for the
/// defaults and for a policy that changes a key in every table; every template has `hi`, `en`
/// and `dlt_template_id`.
#[test]
fn policy_show_round_trips_as_a_policy_file() {
    let env = Env::new();
    let shown = env.ok(&["policy", "show"]);
    let keys = toml_keys(&shown);
    for k in [
        "defaulters.min_overdue_arrears",
        "lps.monthly_rate_percent",
        "notice.min_days_overdue",
        "notice.clear_days",
        "notice.threshold.other",
        "permanent_disconnection.after_days",
        "recovery_certificate.min_arrears",
        "moratorium.ranges",
        "grievances.resolution_days",
        "ranking.weights.mobile_coverage",
        "sms.reminder_days_before_due",
        "sms.camp_notice_days_before",
        "sms.entity_id",
        "sms.sender",
    ] {
        assert!(keys.contains_key(k), "{k} missing: {shown}");
    }
    let templates: BTreeSet<String> = keys
        .keys()
        .filter_map(|k| k.strip_prefix("sms.templates."))
        .filter_map(|k| k.split_once('.').map(|(name, _)| name.to_string()))
        .collect();
    assert!(!templates.is_empty(), "no templates shown: {shown}");
    for t in &templates {
        for field in ["hi", "en", "dlt_template_id"] {
            assert!(
                keys.contains_key(&format!("sms.templates.{t}.{field}")),
                "template {t} has no {field}"
            );
        }
    }
    let again = Env::with_policy(&shown);
    assert_eq!(again.ok(&["policy", "show"]), shown);

    let custom = "[defaulters]\nmin_overdue_arrears = \"750.50\"\n[lps]\nmonthly_rate_percent = \"1.5\"\n\
                  [notice]\nmin_days_overdue = 45\n[notice.threshold]\nindustrial = \"30000.00\"\n\
                  [permanent_disconnection]\nafter_days = 90\n[recovery_certificate]\nmin_arrears = \"5000.00\"\n\
                  [moratorium]\nranges = [[\"2026-10-20\", \"2026-10-25\"], [\"2027-03-01\", \"2027-03-01\"]]\n\
                  [grievances]\nresolution_days = 7\n[ranking.weights]\ndigital_share = 0\n\
                  [sms]\nsender = \"VASOOL\"\nentity_id = \"1201\"\n\
                  [sms.templates.receipt]\nhi = \"रसीद \\\"{#receipt#}\\\"\"\nen = \"Receipt {#receipt#}\"\n\
                  dlt_template_id = \"42\"\n";
    let env = Env::with_policy(custom);
    let shown = env.ok(&["policy", "show"]);
    let keys = toml_keys(&shown);
    assert_eq!(keys["notice.min_days_overdue"], "45");
    assert_eq!(keys["notice.clear_days"], "15");
    assert_eq!(keys["ranking.weights.digital_share"], "0");
    assert_eq!(keys["sms.sender"], "\"VASOOL\"");
    assert_eq!(keys["sms.templates.receipt.dlt_template_id"], "\"42\"");
    assert!(keys["moratorium.ranges"].contains("2027-03-01"), "{shown}");
    let again = Env::with_policy(&shown);
    assert_eq!(again.ok(&["policy", "show"]), shown);
}

/// `DIR/policy.toml` is used when there is no `--policy`, and it drives the engine; `--policy`
/// wins over it. A partial file keeps every other default, templates included.
#[test]
fn policy_from_the_data_dir_partial_files_and_the_flag() {
    let env = Env::new();
    let defaults = toml_keys(&env.ok(&["policy", "show"]));
    fs::create_dir_all(env.data()).unwrap();
    fs::write(
        env.data().join("policy.toml"),
        "[defaulters]\nmin_overdue_arrears = \"2000.00\"\n",
    )
    .unwrap();
    let shown = toml_keys(&env.ok(&["policy", "show"]));
    assert_eq!(shown["defaulters.min_overdue_arrears"], "\"2000.00\"");
    for (k, v) in &defaults {
        if k != "defaulters.min_overdue_arrears" {
            assert_eq!(shown.get(k), Some(v), "{k}");
        }
    }
    env.import_offices();
    env.append_ok(&[
        consumer("PD1", "S1", None, None),
        consumer("PD2", "S1", None, None),
        bill("PB1", "PD1", "2026-07-05", "2026-07-20", "1500.00"),
        bill("PB2", "PD2", "2026-07-05", "2026-07-20", "2000.00"),
    ]);
    env.nightly("2026-07-21");
    // 1500.00 < 2000.00: only PD2 is a defaulter.
    let rows = env.defaulters("Z1");
    assert_eq!(
        rows.iter()
            .map(|r| r["account_no"].as_str())
            .collect::<Vec<_>>(),
        vec!["PD2"]
    );
    // --policy wins over DIR/policy.toml.
    let flag = env.file(
        "flag",
        "toml",
        b"[defaulters]\nmin_overdue_arrears = \"100.00\"\n",
    );
    let shown = toml_keys(&env.ok(&["--policy", flag.to_str().unwrap(), "policy", "show"]));
    assert_eq!(shown["defaulters.min_overdue_arrears"], "\"100.00\"");

    // A template table with only some of its fields: either it is refused, or its other
    // fields keep their defaults (docs/FORMATS.md); the outcome must be one of them.
    let partial = Env::with_policy("[sms.templates.bill]\nen = \"Your bill\"\n");
    let run = partial.go(&["policy", "show"]);
    if run.code == 0 {
        let shown = toml_keys(&run.stdout);
        assert_eq!(shown["sms.templates.bill.en"], "\"Your bill\"");
        assert_eq!(
            shown["sms.templates.bill.hi"],
            defaults["sms.templates.bill.hi"]
        );
        assert_eq!(
            shown["sms.templates.bill.dlt_template_id"],
            defaults["sms.templates.bill.dlt_template_id"]
        );
    } else {
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("hi"), "{}", run.stderr);
    }
    // A partial [sms] table keeps the templates.
    let partial = Env::with_policy("[sms]\nsender = \"VASOOL\"\n");
    let shown = toml_keys(&partial.ok(&["policy", "show"]));
    assert_eq!(shown["sms.sender"], "\"VASOOL\"");
    for (k, v) in &defaults {
        if k != "sms.sender" {
            assert_eq!(shown.get(k), Some(v), "{k}");
        }
    }
}

/// Unknown keys anywhere are usage errors (exit 2): in a template table, in the threshold
/// table, at the top level; also from `DIR/policy.toml`.
#[test]
fn policy_unknown_keys_anywhere_are_exit_2() {
    for bad in [
        "[sms.templates.bill]\nfr = \"Facture\"\n",
        "[notice.threshold]\nresidential = \"100.00\"\n",
        "speed = 5\n",
        "[sms]\nsender_id = \"UPCLTD\"\n",
        "[moratorium]\nranges = []\ndays = 3\n",
    ] {
        let env = Env::with_policy(bad);
        let run = env.go(&["policy", "show"]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(!run.stderr.trim().is_empty());
    }
    let env = Env::new();
    fs::create_dir_all(env.data()).unwrap();
    fs::write(env.data().join("policy.toml"), "[lps]\nrate = \"1\"\n").unwrap();
    let run = env.go(&["policy", "show"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("rate"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Export and restore
// ---------------------------------------------------------------------------------------------

/// A log with Hindi text, quotes, SMS attempts and nightly output restores into an empty
/// directory and exports byte for byte the same; the restored engine shows the same lists, and
/// a nightly run of the last date there appends nothing.
#[test]
fn restore_then_export_is_byte_identical() {
    let env = Env::new();
    env.import_offices();
    let mut odd = consumer("RS1", "S2", Some("9876500121"), Some("hi"));
    odd["name"] = json!("\"गुप्ता\", \\ रमेश");
    env.append_ok(&[
        odd,
        consumer("RS2", "S1", Some("9876500122"), Some("en")),
        bill("RSB-1", "RS1", "2026-07-05", "2026-07-20", "1500.00"),
        bill("RSB-2", "RS2", "2026-07-05", "2026-07-20", "2500.00"),
        payment("RSR-1", "RS1", "0.01", "2026-07-06"),
    ]);
    for d in ["2026-07-05", "2026-07-06", "2026-08-20"] {
        env.nightly(d);
    }
    let (url, _seen) = start_gateway();
    env.ok(&["sms", "send", "--gateway", &url]);
    let first = env.export();
    assert!(first.ends_with(b"\n"));
    let copy = Env::new();
    let file = copy.file("full", "jsonl", &first);
    copy.ok(&["restore", file.to_str().unwrap()]);
    assert_eq!(copy.go(&["verify"]).code, 0);
    assert!(copy.export() == first, "export after restore differs");
    copy.nightly("2026-08-20");
    assert!(
        copy.export() == first,
        "rerun of the last date after restore appended"
    );
    assert_eq!(copy.outbox(), env.outbox());
    assert_eq!(copy.defaulters("Z1"), env.defaulters("Z1"));
    let st = |e: &Env| e.json(&["statement", "--account", "RS1"]);
    assert_eq!(st(&copy), st(&env));
}

/// `restore` loads into an empty data directory only: into a directory holding a log it is
/// refused (non-zero) and the log is untouched; restoring the same file twice is refused the
/// second time.
#[test]
fn restore_into_a_non_empty_directory_is_refused() {
    let source = Env::new();
    source.import_offices();
    source.append_ok(&[consumer("RN1", "S1", None, None)]);
    let file = source.file("src", "jsonl", &source.export());

    let target = Env::new();
    target.import_counts("offices", "code,name,level,parent\nZ9,Other Zone,zone,\n");
    let before = target.export();
    let run = target.go(&["restore", file.to_str().unwrap()]);
    assert_ne!(run.code, 0, "restore into a non-empty dir was accepted");
    assert!(!run.stderr.trim().is_empty());
    assert!(target.export() == before);

    let fresh = Env::new();
    fresh.ok(&["restore", file.to_str().unwrap()]);
    let restored = fresh.export();
    let run = fresh.go(&["restore", file.to_str().unwrap()]);
    assert_ne!(run.code, 0, "a second restore was accepted");
    assert!(fresh.export() == restored);
}

// ---------------------------------------------------------------------------------------------
// Output formats
// ---------------------------------------------------------------------------------------------

/// `--excel` puts a UTF-8 BOM before the CSV of the SMS outbox and of a worklist, and nowhere
/// else; JSON has the CSV's keys, amounts as strings with 2 decimals, and nulls where the CSV
/// field is empty.
#[test]
fn excel_bom_and_json_types() {
    let env = Env::new();
    env.import_offices();
    let mut hindi = consumer("FX1", "S2", Some("9876500131"), None);
    hindi["name"] = json!("राम, सिंह");
    env.append_ok(&[
        hindi,
        consumer("FX2", "S1", None, Some("en")),
        bill("FXB-1", "FX1", "2026-07-05", "2026-07-20", "1200.5"),
        bill("FXB-2", "FX2", "2026-07-05", "2026-07-20", "600"),
        payment("FXR-1", "FX1", "0.5", "2026-07-10"),
    ]);
    env.nightly("2026-07-05");
    env.nightly("2026-07-25");

    for args in [
        vec!["sms", "outbox"],
        vec!["worklist", "--office", "Z1", "--kind", "no_mobile"],
        vec!["defaulters", "--office", "S2"],
    ] {
        let mut excel = vec!["--format", "csv", "--excel"];
        excel.extend_from_slice(&args);
        let run = env.go(&excel);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert!(run.stdout.starts_with('\u{feff}'), "{args:?}: no BOM");
        assert_eq!(run.stdout.matches('\u{feff}').count(), 1, "{args:?}");
        let plain = env.ok(&{
            let mut v = vec!["--format", "csv"];
            v.extend_from_slice(&args);
            v
        });
        assert!(
            !plain.starts_with('\u{feff}'),
            "{args:?}: BOM without --excel"
        );
        assert_eq!(run.stdout.trim_start_matches('\u{feff}'), plain, "{args:?}");
    }

    // Defaulters as JSON: FX1 owes 1200.50 − 0.50 = 1200.00, FX2 600.00.
    let (header, rows) = env.csv(&["defaulters", "--office", "Z1"]);
    let js = env.json(&["defaulters", "--office", "Z1"]);
    let arr = js.as_array().expect("a JSON array");
    assert_eq!(arr.len(), rows.len());
    assert_eq!(arr.len(), 2);
    for (obj, row) in arr.iter().zip(&rows) {
        let obj = obj.as_object().expect("objects");
        assert_eq!(
            obj.keys().collect::<BTreeSet<_>>(),
            header.iter().collect::<BTreeSet<_>>()
        );
        for col in &header {
            let v = &obj[col];
            if row[col].is_empty() && col != "hold" {
                assert!(v.is_null(), "{col}: empty CSV but JSON {v}");
            }
        }
        for col in ["overdue_arrears", "last_payment_amount"] {
            if !row[col].is_empty() {
                assert_eq!(obj[col], Value::String(row[col].clone()), "{col}");
            }
        }
    }
    let fx1 = arr.iter().find(|o| o["account_no"] == "FX1").unwrap();
    assert_eq!(fx1["name"], "राम, सिंह");
    assert_eq!(fx1["overdue_arrears"], "1200.00");
    assert_eq!(fx1["last_payment_amount"], "0.50");
    assert_eq!(fx1["last_payment_on"], "2026-07-10");
    let fx2 = arr.iter().find(|o| o["account_no"] == "FX2").unwrap();
    assert_eq!(fx2["overdue_arrears"], "600.00");
    assert!(fx2["last_payment_amount"].is_null(), "{fx2}");
    assert!(fx2["last_payment_on"].is_null(), "{fx2}");
    assert!(fx2["notice_no"].is_null(), "{fx2}");

    // The outbox as JSON: the CSV's keys, the same texts.
    let (header, rows) = env.csv(&["sms", "outbox"]);
    let js = env.json(&["sms", "outbox"]);
    let arr = js.as_array().expect("a JSON array");
    assert_eq!(arr.len(), rows.len());
    assert!(!rows.is_empty());
    for (obj, row) in arr.iter().zip(&rows) {
        let obj = obj.as_object().unwrap();
        assert_eq!(
            obj.keys().collect::<BTreeSet<_>>(),
            header.iter().collect::<BTreeSet<_>>()
        );
        for col in &header {
            match &obj[col] {
                Value::Null => assert!(row[col].is_empty(), "{col}"),
                Value::String(s) => assert_eq!(s, &row[col], "{col}"),
                other => assert_eq!(other.to_string(), row[col], "{col}"),
            }
        }
    }
}
