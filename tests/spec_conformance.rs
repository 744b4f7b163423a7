//! Black-box conformance tests for `vasooli`, derived from `docs/RULES.md` and `docs/CLI.md` alone.
//!
//! Every expected figure below is computed by hand from the docs; the arithmetic is written in the
//! comments next to the assertion. Each test drives the real binary over its own data directory.

mod common;
use common::env::{Env, BIN};
use common::spec::*;
use common::{accounts, find, parse_csv, row, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::process::Command;

use serde_json::{json, Value};

/// The `defaulters` columns of docs/CLI.md.
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

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

impl Env {
    /// The consumer's stage as the statement reports it (docs/CLI.md: the statement shows the
    /// stage; its key is named like the defaulters column).
    fn stage(&self, account: &str) -> String {
        jtext(&self.statement(account), "stage")
    }

    /// Overdue arrears of a consumer from the defaulter list of Z1.
    fn arrears(&self, account: &str) -> String {
        row(&self.defaulters("Z1"), account)["overdue_arrears"].clone()
    }
}

fn defaulter_cols() -> Vec<String> {
    DEFAULTER_COLUMNS.iter().map(|s| s.to_string()).collect()
}

fn holds(r: &Row) -> Vec<String> {
    r["hold"]
        .split(';')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A distinct valid mobile per index.
fn mobile(i: usize) -> String {
    format!("98{i:08}")
}

/// Ladder scenario shared by the recovery-ladder tests: the standard offices, and for each
/// `(account, category, amount)` a consumer in S1 with its own mobile and one bill `BL-<account>`
/// issued 2026-01-05, due 2026-01-20. The nightly run of 2026-02-19 finds them 30 days overdue
/// (2026-02-19 − 2026-01-20 = 30 ≥ notice.min_days_overdue) with arrears ≥ the category threshold,
/// so each gets a notice. Returns the environment and each account's notice number.
fn ladder_env(policy: Option<&str>, who: &[(&str, &str, &str)]) -> (Env, BTreeMap<String, String>) {
    let env = match policy {
        Some(p) => Env::with_policy(p),
        None => Env::new(),
    };
    env.offices();
    let mut cmds = Vec::new();
    for (i, (acc, cat, amount)) in who.iter().enumerate() {
        cmds.push(consumer(acc, cat, "S1", Some(&mobile(i + 1))));
        cmds.push(bill(
            &format!("BL-{acc}"),
            acc,
            "2026-01-05",
            "2026-01-20",
            amount,
        ));
    }
    env.append_ok(&cmds);
    env.nightly("2026-02-19");
    let list = env.defaulters("Z1");
    let mut notices = BTreeMap::new();
    for (acc, _, _) in who {
        let r = row(&list, acc);
        assert_eq!(r["stage"], "notice_issued", "{acc} after 2026-02-19: {r:?}");
        assert!(!r["notice_no"].is_empty(), "{acc} has no notice number");
        notices.insert(acc.to_string(), r["notice_no"].clone());
    }
    (env, notices)
}

// ---------------------------------------------------------------------------------------------
// Imports
// ---------------------------------------------------------------------------------------------

/// All five KINDs import with their columns in an order other than the one listed in
/// docs/FORMATS.md; counts are printed; the imported facts show up in the lists.
#[test]
fn import_accepts_all_five_kinds_with_columns_in_any_order() {
    let env = Env::new();
    let out = env.import_ok(
        "offices",
        "parent,level,name,code\n,zone,Garhwal Zone,Z1\nZ1,circle,Dehradun Circle,C1\n\
         C1,division,Dehradun Division,D1\nD1,subdivision,रायपुर,S1\nD1,subdivision,Premnagar,S2\n",
    );
    assert_eq!(counts(&out), vec![5, 5, 0], "{out}");
    let out = env.import_ok(
        "consumers",
        "language,mobile,connected_on,load_kw,subdivision,category,name,account_no\n\
         hi,+91 98765-43210,2025-01-01,2.5,S1,domestic,राम कुमार,A1\n\
         en,,2025-01-01,1.25,S2,non_domestic,Shyam Traders,A2\n",
    );
    assert_eq!(counts(&out), vec![2, 2, 0], "{out}");
    let out = env.import_ok(
        "bills",
        "amount,due_on,issued_on,period,account_no,bill_no\n\
         1200.00,2026-07-20,2026-07-05,2026-07,A1,B1\n900.00,2026-08-20,2026-08-05,2026-08,A2,B2\n",
    );
    assert_eq!(counts(&out), vec![2, 2, 0], "{out}");
    let out = env.import_ok(
        "payments",
        "channel,paid_on,amount,account_no,receipt_no\nupi,2026-08-10,700.00,A1,P1\n",
    );
    assert_eq!(counts(&out), vec![1, 1, 0], "{out}");
    // A mobile with a `0` prefix for A2, registered at a camp.
    let out = env.import_ok(
        "mobiles",
        "source,registered_on,mobile,account_no\ncamp,2026-08-01,07000000002,A2\n",
    );
    assert_eq!(counts(&out), vec![1, 1, 0], "{out}");

    env.nightly("2026-08-21");
    let (header, rows) = env.csv(&["defaulters", "--office", "Z1"]);
    assert_eq!(header, defaulter_cols());
    // A2: B2 900.00 due 2026-08-20 < 2026-08-21 → overdue 900.00, 1 day, bucket 0-30;
    //     non_domestic threshold 5000.00 → stage clear.
    // A1: B1 1200.00 − P1 700.00 = 500.00 unpaid; surcharge on 2026-08-20 (first anniversary)
    //     = 500.00 × 1.25% = 6.25, due 2026-08-20, overdue on 2026-08-21 → 506.25;
    //     days = 2026-08-21 − 2026-07-20 = 32 → 31-60; 506.25 < 1000.00 → clear.
    // Sorted by arrears descending: A2 (900.00), A1 (506.25).
    assert_eq!(accounts(&rows), vec!["A2", "A1"]);
    let a2 = row(&rows, "A2");
    assert_eq!(a2["category"], "non_domestic");
    assert_eq!(a2["subdivision"], "S2");
    assert_eq!(a2["mobile_registered"], "yes");
    assert_eq!(a2["overdue_arrears"], "900.00");
    assert_eq!(a2["days_overdue"], "1");
    assert_eq!(a2["aging_bucket"], "0-30");
    assert_eq!(a2["last_payment_on"], "");
    let a1 = row(&rows, "A1");
    assert_eq!(a1["name"], "राम कुमार");
    assert_eq!(
        (
            a1["subdivision"].as_str(),
            a1["division"].as_str(),
            a1["circle"].as_str()
        ),
        ("S1", "D1", "C1")
    );
    assert_eq!(a1["overdue_arrears"], "506.25");
    assert_eq!(a1["oldest_due_on"], "2026-07-20");
    assert_eq!(a1["days_overdue"], "32");
    assert_eq!(a1["aging_bucket"], "31-60");
    assert_eq!(a1["last_payment_on"], "2026-08-10");
    assert_eq!(a1["last_payment_amount"], "700.00");
    assert_eq!(a1["stage"], "clear");
    assert_eq!(a1["mobile_registered"], "yes");
}

/// A bad row in any KIND rejects the whole file: exit 3, each bad row reported as FILE:LINE
/// (header = line 1) with the column named, and nothing written (export byte-identical).
#[test]
fn import_rejects_bad_rows_of_every_kind_and_writes_nothing() {
    let env = Env::new();
    env.offices();
    env.import_ok(
        "consumers",
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
         A1,Ram,domestic,S1,2.5,2025-01-01,9876543210,hi\nA2,Sita,domestic,S2,1,2025-01-01,,en\n",
    );
    env.import_ok(
        "bills",
        "bill_no,account_no,period,issued_on,due_on,amount\n\
         B1,A1,2026-07,2026-07-05,2026-07-20,1200.00\n",
    );
    env.import_ok(
        "payments",
        "receipt_no,account_no,amount,paid_on,channel\nP1,A1,700.00,2026-08-10,upi\n",
    );
    let before = env.export();
    // (kind, file with good rows on lines 2 and 4, bad rows on lines 3 and 5, columns of lines 3 and 5)
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "offices",
            "code,name,level,parent\nS7,Good,subdivision,D1\nS8,Bad level,state,D1\n\
             S9,Good,subdivision,D1\ns 10,Bad code,subdivision,D1\n",
            "level",
            "code",
        ),
        (
            "consumers",
            "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
             A3,Good,domestic,S1,2,2025-01-01,,hi\nA4,Bad,residential,S1,2,2025-01-01,,hi\n\
             A5,Good,domestic,S1,2,2025-01-01,,en\nA6,Bad,domestic,S1,0,2025-01-01,,hi\n",
            "category",
            "load_kw",
        ),
        (
            "bills",
            "bill_no,account_no,period,issued_on,due_on,amount\n\
             B2,A1,2026-08,2026-08-05,2026-08-20,100.00\nB3,A1,2026-08,2026-08-05,2026-08-20,100.005\n\
             B4,A2,2026-08,2026-08-05,2026-08-20,50.00\nB5,A2,2026-08,2026-08-05,2026-13-01,50.00\n",
            "amount",
            "due_on",
        ),
        (
            "payments",
            "receipt_no,account_no,amount,paid_on,channel\nP2,A1,10.00,2026-08-11,upi\n\
             P3,A1,10.00,2026-08-11,paytm\nP4,A2,10.00,2026-08-11,bbps\nP5,A2,-5.00,2026-08-11,upi\n",
            "channel",
            "amount",
        ),
        (
            "mobiles",
            "account_no,mobile,registered_on,source\nA2,9123456789,2026-08-01,camp\n\
             A2,5876543210,2026-08-02,camp\nA1,8123456789,2026-08-03,field\n\
             A1,8123456780,2026-08-04,whatsapp\n",
            "mobile",
            "source",
        ),
    ];
    for (kind, content, col3, col5) in cases {
        let (path, out) = env.import(kind, content);
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(3), "{kind}: {stderr}");
        let line3 = stderr
            .lines()
            .find(|l| l.contains(&format!("{name}:3")))
            .unwrap_or_else(|| panic!("{kind}: no `{name}:3` in stderr: {stderr}"));
        assert!(
            line3.contains(col3),
            "{kind}: line 3 error names no `{col3}`: {line3}"
        );
        let line5 = stderr
            .lines()
            .find(|l| l.contains(&format!("{name}:5")))
            .unwrap_or_else(|| panic!("{kind}: no `{name}:5` in stderr: {stderr}"));
        assert!(
            line5.contains(col5),
            "{kind}: line 5 error names no `{col5}`: {line5}"
        );
        assert!(
            !stderr.contains(&format!("{name}:2")) && !stderr.contains(&format!("{name}:4")),
            "{kind}: good rows reported: {stderr}"
        );
        assert!(
            env.export() == before,
            "{kind}: a rejected import wrote events"
        );
    }
}

/// Re-importing skips rows whose natural key already exists with the same content and counts
/// them; a row whose key exists with different content is an error (exit 3, nothing written).
#[test]
fn reimport_counts_duplicates_and_rejects_changed_rows() {
    let env = Env::new();
    env.offices();
    let consumers = "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
                     A1,Ram,domestic,S1,2.5,2025-01-01,9876543210,hi\n\
                     A2,Sita,domestic,S2,1,2025-01-01,,\n";
    assert_eq!(
        counts(&env.import_ok("consumers", consumers)),
        vec![2, 2, 0]
    );
    assert_eq!(
        counts(&env.import_ok("consumers", consumers)),
        vec![2, 0, 2]
    );
    assert_eq!(
        counts(&env.import_ok("offices", OFFICES_CSV)),
        vec![7, 0, 7]
    );
    let bills = "bill_no,account_no,period,issued_on,due_on,amount\n\
                 B1,A1,2026-07,2026-07-05,2026-07-20,1200.00\n\
                 B2,A2,2026-07,2026-07-05,2026-07-20,800.00\n";
    assert_eq!(counts(&env.import_ok("bills", bills)), vec![2, 2, 0]);
    // An import cut off after B1..B2 and run again with one more row: 3 read, 1 new, 2 skipped.
    let more = format!("{bills}B3,A1,2026-08,2026-08-05,2026-08-20,1500.00\n");
    assert_eq!(counts(&env.import_ok("bills", &more)), vec![3, 1, 2]);
    let payments = "receipt_no,account_no,amount,paid_on,channel\nP1,A1,700.00,2026-08-10,upi\n";
    assert_eq!(counts(&env.import_ok("payments", payments)), vec![1, 1, 0]);
    assert_eq!(counts(&env.import_ok("payments", payments)), vec![1, 0, 1]);
    let mobiles = "account_no,mobile,registered_on,source\nA2,9123456789,2026-08-01,camp\n";
    assert_eq!(counts(&env.import_ok("mobiles", mobiles)), vec![1, 1, 0]);
    assert_eq!(counts(&env.import_ok("mobiles", mobiles)), vec![1, 0, 1]);

    // Same bill_no, different amount: an error, and nothing of the file is written.
    let before = env.export();
    let (_, out) = env.import(
        "bills",
        "bill_no,account_no,period,issued_on,due_on,amount\n\
         B4,A2,2026-08,2026-08-05,2026-08-20,10.00\nB1,A1,2026-07,2026-07-05,2026-07-20,1300.00\n",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(env.export() == before);
    // Same receipt_no, different amount.
    let (_, out) = env.import(
        "payments",
        "receipt_no,account_no,amount,paid_on,channel\nP1,A1,701.00,2026-08-10,upi\n",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(env.export() == before);
}

/// Mobile numbers: +91 / 91 / 0 prefixes, spaces and dashes are accepted and the 10 digits are
/// stored; a number starting with 5, a 9-digit and an 11-digit number are rejected naming `mobile`.
#[test]
fn mobile_numbers_are_normalised_and_bad_ones_rejected() {
    let env = Env::new();
    env.offices();
    let out = env.import_ok(
        "consumers",
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
         M1,A,domestic,S1,1,2025-01-01,+919876543210,hi\n\
         M2,B,domestic,S1,1,2025-01-01,+91 98765 43210,hi\n\
         M3,C,domestic,S1,1,2025-01-01,919876543210,hi\n\
         M4,D,domestic,S1,1,2025-01-01,09876543210,hi\n\
         M5,E,domestic,S1,1,2025-01-01,98765-43210,hi\n\
         M6,F,domestic,S1,1,2025-01-01,+91-98765-43210,en\n\
         M7,G,domestic,S2,1,2025-01-01,,en\n",
    );
    assert_eq!(counts(&out), vec![7, 7, 0]);
    env.import_ok(
        "mobiles",
        "account_no,mobile,registered_on,source\nM7,0 70000 00007,2026-01-01,field\n",
    );
    // What is stored is the 10 digits, never the text as typed.
    let export = String::from_utf8(env.export()).unwrap();
    assert!(export.contains("9876543210"), "stored digits missing");
    assert!(export.contains("7000000007"), "stored digits missing");
    for raw in [
        "+91",
        "98765 43210",
        "98765-43210",
        "09876543210",
        "919876543210",
        "0 70000",
    ] {
        assert!(!export.contains(raw), "raw form `{raw}` stored in the log");
    }
    // Six active consumers now share one number, so they all count as having a mobile.
    env.nightly("2026-02-01");
    let camp = env.rows(&["campaign", "--office", "D1"]);
    assert_eq!(by_office(&camp, "S1")["with_mobile"], "6");
    assert_eq!(by_office(&camp, "S2")["with_mobile"], "1");

    for bad in ["5876543210", "987654321", "98765432101", "+91 5876543210"] {
        let before = env.export();
        let (_, out) = env.import(
            "consumers",
            &format!(
                "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
                 X1,Bad,domestic,S1,1,2025-01-01,{bad},hi\n"
            ),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "consumer mobile {bad}: {stderr}"
        );
        assert!(
            stderr.contains("mobile"),
            "no column named for {bad}: {stderr}"
        );
        let (_, out) = env.import(
            "mobiles",
            &format!("account_no,mobile,registered_on,source\nM7,{bad},2026-02-01,sms\n"),
        );
        assert_eq!(out.status.code(), Some(3), "mobiles import {bad}");
        let stderr = env.append_rejected(&[json!({"type": "register_mobile", "account_no": "M7",
            "mobile": bad, "registered_on": "2026-02-01", "source": "online"})]);
        assert!(stderr.contains("mobile"), "{stderr}");
        assert!(env.export() == before);
    }
}

// ---------------------------------------------------------------------------------------------
// append
// ---------------------------------------------------------------------------------------------

/// Every command type of docs/FORMATS.md's JSON table is accepted when valid, walking one consumer
/// through the whole ladder (notice → disconnection → reconnection) and another to a recovery
/// certificate.
#[test]
fn append_accepts_every_command_type() {
    let env = Env::new();
    let mut used = BTreeSet::new();
    let mut ok = |cmd: Value| {
        used.insert(cmd["type"].as_str().unwrap().to_string());
        env.append_ok(&[cmd]);
    };
    for (code, name, level, parent) in [
        ("Z1", "Garhwal Zone", "zone", None),
        ("C1", "Dehradun Circle", "circle", Some("Z1")),
        ("D1", "Dehradun Division", "division", Some("C1")),
        ("S1", "रायपुर", "subdivision", Some("D1")),
    ] {
        let mut c = json!({"type": "register_office", "code": code, "name": name, "level": level});
        if let Some(p) = parent {
            c["parent"] = json!(p);
        }
        ok(c);
    }
    ok(
        json!({"type": "register_consumer", "account_no": "E1", "name": "Ram", "category": "domestic",
              "subdivision": "S1", "load_kw": "2.5", "connected_on": "2025-01-01",
              "mobile": "9876543210", "language": "en"}),
    );
    ok(consumer("E2", "non_domestic", "S1", None));
    ok(consumer("E3", "domestic", "S1", Some("9876543211")));
    ok(
        json!({"type": "register_mobile", "account_no": "E2", "mobile": "+91 91234 56789",
              "registered_on": "2025-06-01", "source": "field"}),
    );
    ok(bill("BE1", "E1", "2026-01-05", "2026-01-20", "2000.00"));
    ok(bill("BE2", "E2", "2026-01-05", "2026-01-20", "800.00"));
    ok(bill("BE3", "E3", "2026-01-05", "2026-01-20", "20000.00"));
    ok(
        json!({"type": "revise_bill", "bill_no": "BE2", "revised_on": "2026-01-10",
              "new_amount": "700.00", "reason": "meter reading corrected"}),
    );
    ok(payment(
        "RE2",
        "E2",
        "700.00",
        "2026-01-15",
        "counter_cheque",
    ));
    ok(
        json!({"type": "reverse_payment", "receipt_no": "RE2", "reversed_on": "2026-01-18",
              "reason": "cheque bounced"}),
    );
    ok(
        json!({"type": "post_adjustment", "adjustment_no": "ADJ1", "account_no": "E2",
              "posted_on": "2026-01-20", "amount": "50.00", "reason": "meter rent"}),
    );
    ok(
        json!({"type": "post_adjustment", "adjustment_no": "ADJ2", "account_no": "E2",
              "posted_on": "2026-01-21", "amount": "-50.00", "reason": "meter rent waived"}),
    );
    ok(
        json!({"type": "raise_dispute", "account_no": "E2", "on": "2026-01-25",
              "deposit": "100.00", "bill_no": "BE2"}),
    );
    ok(json!({"type": "resolve_dispute", "account_no": "E2", "on": "2026-01-30"}));
    ok(
        json!({"type": "grant_installment_plan", "plan_id": "PL1", "account_no": "E2",
              "granted_on": "2026-02-01",
              "installments": [{"due_on": "2026-03-01", "amount": "300.00"},
                               {"due_on": "2026-04-01", "amount": "300.00"}]}),
    );
    ok(
        json!({"type": "schedule_camp", "camp_id": "CP1", "subdivision": "S1", "on": "2026-02-10",
              "venue": "पंचायत भवन, रायपुर"}),
    );
    ok(
        json!({"type": "hold_camp", "camp_id": "CP1", "held_on": "2026-02-10",
              "officers_present": ["SDO", "JE"]}),
    );
    ok(
        json!({"type": "register_grievance", "grievance_id": "G1", "subdivision": "S1",
              "category": "metering", "registered_on": "2026-02-10", "account_no": "E2",
              "camp_id": "CP1"}),
    );
    ok(
        json!({"type": "register_grievance", "grievance_id": "G2", "subdivision": "S1",
              "category": "new_connection", "registered_on": "2026-02-10"}),
    );
    ok(
        json!({"type": "resolve_grievance", "grievance_id": "G1", "resolved_on": "2026-02-12",
              "note": "meter replaced"}),
    );

    // 2026-02-19: E1 (2000.00) and E3 (20000.00) are 30 days overdue → notices.
    env.nightly("2026-02-19");
    let list = env.defaulters("Z1");
    let n1 = row(&list, "E1")["notice_no"].clone();
    let n3 = row(&list, "E3")["notice_no"].clone();
    assert!(!n1.is_empty() && !n3.is_empty() && n1 != n3);
    ok(serve(&n1, "2026-02-20", "post"));
    ok(serve(&n3, "2026-02-20", "affixed"));
    // Served 2026-02-20: disconnection allowed from 2026-02-20 + 16 = 2026-03-08.
    env.nightly("2026-03-08");
    ok(disconnect("E1", "2026-03-08", "DO-1"));
    ok(disconnect("E3", "2026-03-08", "DO-3"));
    // E1 owes 2000.00 + first surcharge (2026-02-20) 25.00 = 2025.00; paid in full.
    ok(payment("RE1", "E1", "2025.00", "2026-03-10", "upi"));
    env.nightly("2026-03-11");
    ok(json!({"type": "reconnect", "account_no": "E1", "on": "2026-03-12"}));
    // 2026-03-08 + 180 days = 2026-09-04.
    env.nightly("2026-09-04");
    ok(json!({"type": "permanently_disconnect", "account_no": "E3", "on": "2026-09-05"}));
    env.nightly("2026-09-06");
    ok(
        json!({"type": "issue_recovery_certificate", "account_no": "E3", "rc_no": "RC-1",
              "on": "2026-09-07"}),
    );
    env.nightly("2026-09-08");
    assert_eq!(env.stage("E3"), "rc_issued");
    assert_eq!(env.stage("E1"), "clear");

    let all: BTreeSet<String> = [
        "register_office",
        "register_consumer",
        "register_mobile",
        "issue_bill",
        "revise_bill",
        "receive_payment",
        "reverse_payment",
        "post_adjustment",
        "serve_notice",
        "disconnect",
        "reconnect",
        "permanently_disconnect",
        "issue_recovery_certificate",
        "raise_dispute",
        "resolve_dispute",
        "grant_installment_plan",
        "schedule_camp",
        "hold_camp",
        "register_grievance",
        "resolve_grievance",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(used, all);
}

/// Commands are checked against the state they would change, keys and amounts are validated,
/// and a file with any bad line writes nothing; `append -` reads stdin.
#[test]
fn append_rejects_rule_violations_and_reads_stdin() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("V1", "domestic", "S1", Some("9876543210")),
        bill("VB1", "V1", "2026-07-05", "2026-07-20", "1000.00"),
        payment("VP1", "V1", "200.00", "2026-07-25", "upi"),
    ]);
    // Reconnection of a connected consumer.
    env.append_rejected(&[json!({"type": "reconnect", "account_no": "V1", "on": "2026-08-01"})]);
    // Disconnection without any served notice.
    env.append_rejected(&[disconnect("V1", "2026-08-01", "DO-9")]);
    // Permanent disconnection needs a recorded disconnection.
    env.append_rejected(&[
        json!({"type": "permanently_disconnect", "account_no": "V1", "on": "2026-08-01"}),
    ]);
    // Payment for an unknown account.
    env.append_rejected(&[payment("VP2", "NOSUCH", "10.00", "2026-08-01", "upi")]);
    // Revisions only lower a bill: upward and equal are rejected.
    for amt in ["1200.00", "1000.00"] {
        env.append_rejected(&[json!({"type": "revise_bill", "bill_no": "VB1",
            "revised_on": "2026-08-01", "new_amount": amt, "reason": "x"})]);
    }
    // Bill due before it is issued.
    env.append_rejected(&[bill("VB2", "V1", "2026-08-05", "2026-08-01", "10.00")]);
    // Reversal of an unknown receipt.
    env.append_rejected(&[json!({"type": "reverse_payment", "receipt_no": "NOPE",
        "reversed_on": "2026-08-01", "reason": "bounced"})]);
    // Unknown key, named in the error.
    let mut extra = payment("VP3", "V1", "10.00", "2026-08-01", "upi");
    extra["remarks"] = json!("paid at counter");
    let err = env.append_rejected(&[extra]);
    assert!(err.contains("remarks"), "unknown key not named: {err}");
    // A third decimal, as a JSON number and as a string.
    let mut num = payment("VP4", "V1", "0", "2026-08-01", "upi");
    num["amount"] = json!(100.125);
    let err = env.append_rejected(&[num]);
    assert!(err.contains("amount"), "{err}");
    env.append_rejected(&[payment("VP5", "V1", "100.125", "2026-08-01", "upi")]);
    // Line 1 valid, line 2 bad: the error names FILE:2 and line 1 is not written either.
    let before = env.export();
    let (path, out) = env.append(&[
        payment("VP6", "V1", "10.00", "2026-08-01", "upi"),
        payment("VP7", "NOSUCH", "10.00", "2026-08-01", "upi"),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let name = path.file_name().unwrap().to_str().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{name}:2")), "{err}");
    assert!(!err.contains(&format!("{name}:1")), "{err}");
    assert!(env.export() == before);

    // A JSON number with 2 decimals is accepted.
    let mut num = payment("VP8", "V1", "0", "2026-08-01", "upi");
    num["amount"] = json!(100.5);
    env.append_ok(&[num]);
    // `append -` reads JSON Lines from stdin.
    let line = payment("VP9", "V1", "99.50", "2026-08-02", "card").to_string() + "\n";
    let out = env.run_full(&["append", "-"], Some(&line));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 1000.00 − 200.00 − 100.50 − 99.50 = 600.00 overdue on 2026-08-03 (bill due 2026-07-20);
    // first surcharge falls on 2026-08-20, later than this run.
    env.nightly("2026-08-03");
    assert_eq!(env.arrears("V1"), "600.00");
    assert_eq!(
        row(&env.defaulters("Z1"), "V1")["last_payment_on"],
        "2026-08-02"
    );
    assert_eq!(
        row(&env.defaulters("Z1"), "V1")["last_payment_amount"],
        "99.50"
    );
}

// ---------------------------------------------------------------------------------------------
// Late payment surcharge (docs/RULES.md)
// ---------------------------------------------------------------------------------------------

/// A policy that lists every consumer owing at least 0.01, so small surcharges are visible in the
/// defaulter list.
const LIST_ALL: &str = "[defaulters]\nmin_overdue_arrears = \"0.01\"\n";

/// Due 2027-01-31 → anniversaries 2027-02-28 (clamped) and 2027-03-31 (due_on + 2 months, not
/// 2027-02-28 + 1 month). A surcharge is due on its levy day, overdue the day after.
#[test]
fn lps_anniversaries_clamp_to_month_end() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    env.append_ok(&[
        consumer("ME1", "domestic", "S1", None),
        bill("BME1", "ME1", "2027-01-10", "2027-01-31", "1000.00"),
    ]);
    // 2027-02-27: no anniversary yet → 1000.00.
    env.nightly("2027-02-27");
    assert_eq!(env.arrears("ME1"), "1000.00");
    // 2027-02-28: levy 1000.00 × 1.25% = 12.50, due today, not overdue → 1000.00.
    env.nightly("2027-02-28");
    assert_eq!(env.arrears("ME1"), "1000.00");
    // 2027-03-01: the 2027-02-28 levy is overdue → 1012.50.
    env.nightly("2027-03-01");
    assert_eq!(env.arrears("ME1"), "1012.50");
    // 2027-03-30: no second levy on 2027-03-28 → still 1012.50.
    env.nightly("2027-03-30");
    assert_eq!(env.arrears("ME1"), "1012.50");
    // 2027-03-31: second levy 12.50 (principal only), due today → 1012.50.
    env.nightly("2027-03-31");
    assert_eq!(env.arrears("ME1"), "1012.50");
    // 2027-04-01: 1000.00 + 12.50 + 12.50 = 1025.00.
    env.nightly("2027-04-01");
    assert_eq!(env.arrears("ME1"), "1025.00");
}

/// Surcharge rounds half away from zero: 1000.40 × 1.25% = 12.505 → 12.51 (half-even would give
/// 12.50); 2.00 × 1.25% = 0.025 → 0.03 (half-even 0.02); 1.00 × 1.25% = 0.0125 → 0.01;
/// 0.20 × 1.25% = 0.0025 → 0.00, which is not levied.
#[test]
fn lps_rounds_half_away_from_zero() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    let mut cmds = Vec::new();
    for (acc, amt) in [
        ("RN1", "1000.40"),
        ("RN2", "2.00"),
        ("RN3", "1.00"),
        ("RN4", "0.20"),
    ] {
        cmds.push(consumer(acc, "domestic", "S1", None));
        cmds.push(bill(
            &format!("B{acc}"),
            acc,
            "2027-01-01",
            "2027-01-15",
            amt,
        ));
    }
    env.append_ok(&cmds);
    // First anniversary 2027-02-15; on 2027-02-16 the levy is overdue.
    env.nightly("2027-02-16");
    assert_eq!(env.arrears("RN1"), "1012.91"); // 1000.40 + 12.51
    assert_eq!(env.arrears("RN2"), "2.03"); // 2.00 + 0.03
    assert_eq!(env.arrears("RN3"), "1.01"); // 1.00 + 0.01
    assert_eq!(env.arrears("RN4"), "0.20"); // 0.20 + nothing
}

/// Surcharge is on the bill's unpaid principal only: never on earlier surcharge, reduced by part
/// payments and by a revision dated before the anniversary; a revision after a levy leaves that
/// levy as it is.
#[test]
fn lps_is_on_unpaid_principal_only() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    let mut cmds = Vec::new();
    for acc in ["SS1", "PP1", "RV1", "RV2"] {
        cmds.push(consumer(acc, "domestic", "S1", None));
        cmds.push(bill(
            &format!("B{acc}"),
            acc,
            "2027-01-01",
            "2027-01-15",
            "1000.00",
        ));
    }
    cmds.push(payment("PPP1", "PP1", "600.00", "2027-02-10", "upi"));
    cmds.push(
        json!({"type": "revise_bill", "bill_no": "BRV1", "revised_on": "2027-02-01",
                     "new_amount": "800.00", "reason": "assessment corrected"}),
    );
    cmds.push(
        json!({"type": "revise_bill", "bill_no": "BRV2", "revised_on": "2027-02-20",
                     "new_amount": "500.00", "reason": "assessment corrected"}),
    );
    env.append_ok(&cmds);
    // Anniversaries 2027-02-15 and 2027-03-15.
    env.nightly("2027-02-16");
    assert_eq!(env.arrears("SS1"), "1012.50"); // 1000 + 12.50
    assert_eq!(env.arrears("PP1"), "405.00"); // 400 unpaid principal + 400 × 1.25% = 5.00
    assert_eq!(env.arrears("RV1"), "810.00"); // 800 (revised 02-01) + 10.00
    assert_eq!(env.arrears("RV2"), "1012.50"); // revision dated later: 1000 + 12.50
    env.nightly("2027-03-16");
    // SS1: second levy on principal 1000 only → 12.50 (not 1012.50 × 1.25% = 12.66): 1025.00.
    assert_eq!(env.arrears("SS1"), "1025.00");
    assert_eq!(env.arrears("PP1"), "410.00"); // 400 + 5.00 + 5.00
    assert_eq!(env.arrears("RV1"), "820.00"); // 800 + 10.00 + 10.00
                                              // RV2: 500 after 02-20; first levy 12.50 stays; second 500 × 1.25% = 6.25 → 518.75.
    assert_eq!(env.arrears("RV2"), "518.75");
}

/// A payment recorded after a levy but dated before its anniversary does not change the levy;
/// the same payment recorded before the levy run prevents it. Rerunning a date appends nothing.
#[test]
fn lps_levy_is_not_changed_by_a_later_backdated_payment() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    env.append_ok(&[
        consumer("BK1", "domestic", "S1", None),
        consumer("BK2", "domestic", "S1", None),
        bill("BBK1", "BK1", "2027-01-01", "2027-01-15", "1000.00"),
        bill("BBK2", "BK2", "2027-01-01", "2027-01-15", "1000.00"),
        // BK2 pays in full on 2027-02-10, recorded before the levy run.
        payment("PBK2", "BK2", "1000.00", "2027-02-10", "upi"),
    ]);
    // 2027-02-16: BK1 levy on 2027-02-15 = 12.50 → 1012.50; BK2 principal 0 → no levy, owes 0.
    env.nightly("2027-02-16");
    assert_eq!(env.arrears("BK1"), "1012.50");
    assert!(find(&env.defaulters("Z1"), "BK2").is_none());
    // BK1's identical payment, dated 2027-02-10, arrives after the levy.
    env.append_ok(&[payment("PBK1", "BK1", "1000.00", "2027-02-10", "upi")]);
    env.nightly("2027-02-17");
    // Credits 1000 cover the bill (due 01-15) first; the 12.50 levy stays unpaid.
    assert_eq!(env.arrears("BK1"), "12.50");
    // 2027-03-15: principal 0 → no second levy.
    env.nightly("2027-03-16");
    assert_eq!(env.arrears("BK1"), "12.50");
    assert!(find(&env.defaulters("Z1"), "BK2").is_none());
    // Idempotent: rerunning the same date appends nothing.
    let before = env.export();
    env.nightly("2027-03-16");
    assert!(
        env.export() == before,
        "rerun of 2027-03-16 appended events"
    );
}

/// The ledger's worked example of docs/RULES.md, with the nightly run on the dates that matter (state as of D is a pure function
/// of the events dated ≤ D, so skipped days change nothing).
#[test]
fn worked_example_of_section_12() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        json!({"type": "register_consumer", "account_no": "A1", "name": "Ram Prasad",
               "category": "domestic", "subdivision": "S1", "load_kw": "2.5",
               "connected_on": "2025-01-01", "mobile": "9876543210"}),
        bill("B1", "A1", "2026-07-05", "2026-07-20", "1200.00"),
        bill("B2", "A1", "2026-08-05", "2026-08-20", "1500.00"),
        payment("P1", "A1", "700.00", "2026-08-10", "upi"),
    ]);
    // 2026-08-20: overdue = 1200 − 700 = 500.00 (B2 and the 6.25 surcharge are due today);
    // 500.00 < 1000.00 → no notice; 500.00 ≥ 500.00 → a defaulter; 31 days.
    env.nightly("2026-08-20");
    let a1 = row(&env.defaulters("Z1"), "A1").clone();
    assert_eq!(a1["overdue_arrears"], "500.00");
    assert_eq!(a1["days_overdue"], "31");
    assert_eq!(a1["aging_bucket"], "31-60");
    assert_eq!(a1["stage"], "clear");
    assert_eq!(a1["notice_no"], "");
    // 2026-08-21: 500.00 + 6.25 + 1500.00 = 2006.25; 32 days → notice issued.
    env.nightly("2026-08-21");
    let a1 = row(&env.defaulters("Z1"), "A1").clone();
    assert_eq!(a1["overdue_arrears"], "2006.25");
    assert_eq!(a1["days_overdue"], "32");
    assert_eq!(a1["stage"], "notice_issued");
    let notice = a1["notice_no"].clone();
    assert!(!notice.is_empty());
    assert_eq!(accounts(&env.worklist("S1", "serve_notice")), vec!["A1"]);
    // Served 2026-08-24 → disconnection allowed from 2026-09-09.
    env.append_ok(&[serve(&notice, "2026-08-24", "hand")]);
    env.nightly("2026-09-08");
    let a1 = row(&env.defaulters("Z1"), "A1").clone();
    assert_eq!(a1["stage"], "notice_served");
    assert_eq!(a1["notice_served_on"], "2026-08-24");
    assert_eq!(a1["disconnection_allowed_on"], "2026-09-09");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    assert!(env.worklist("Z1", "serve_notice").is_empty());
    env.nightly("2026-09-09");
    assert_eq!(
        row(&env.defaulters("Z1"), "A1")["stage"],
        "disconnection_due"
    );
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["A1"]);
    // 2026-09-20: B1 second levy 6.25, B2 first 18.75. As of 2026-09-30: charges
    // 1200 + 1500 + 6.25 + 6.25 + 18.75 = 2731.25, credits 700.00, overdue 2031.25,
    // 72 days (2026-09-30 − 2026-07-20), bucket 61-90.
    env.nightly("2026-09-30");
    let (header, rows) = env.csv(&["defaulters", "--office", "Z1"]);
    assert_eq!(header, defaulter_cols());
    let expected: Row = [
        ("account_no", "A1"),
        ("name", "Ram Prasad"),
        ("category", "domestic"),
        ("subdivision", "S1"),
        ("division", "D1"),
        ("circle", "C1"),
        ("mobile_registered", "yes"),
        ("overdue_arrears", "2031.25"),
        ("oldest_due_on", "2026-07-20"),
        ("days_overdue", "72"),
        ("aging_bucket", "61-90"),
        ("last_payment_on", "2026-08-10"),
        ("last_payment_amount", "700.00"),
        ("stage", "disconnection_due"),
        ("notice_no", notice.as_str()),
        ("notice_served_on", "2026-08-24"),
        ("disconnection_allowed_on", "2026-09-09"),
        ("hold", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(rows, vec![expected]);
    // The statement agrees with the defaulter list.
    let st = env.statement("A1");
    assert_eq!(jtext(&st, "overdue_arrears"), "2031.25");
    assert_eq!(jtext(&st, "days_overdue"), "72");
    assert_eq!(jtext(&st, "aging_bucket"), "61-90");
    assert_eq!(jtext(&st, "stage"), "disconnection_due");
    let text = st.to_string();
    assert!(text.contains("2731.25") || text.contains("6.25"), "{st:#}");
    let table = env.ok(&["--format", "table", "statement", "--account", "A1"]);
    assert!(table.contains("2031.25"), "{table}");
}

// ---------------------------------------------------------------------------------------------
// The recovery ladder and worklists (docs/RULES.md)
// ---------------------------------------------------------------------------------------------

/// notice_issued → notice_served → disconnection_due → disconnected → reconnection_due → clear,
/// with each worklist, the 15 clear days, no skipped step, and a new notice for new arrears.
#[test]
fn ladder_notice_service_disconnection_and_reconnection() {
    // L1 owes 2000.00, L4 owes 5000.00 whose notice is never served.
    let (env, notices) = ladder_env(
        None,
        &[("L1", "domestic", "2000.00"), ("L4", "domestic", "5000.00")],
    );
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "L1")["overdue_arrears"], "2000.00");
    assert_eq!(row(&list, "L1")["days_overdue"], "30");
    assert_eq!(row(&list, "L1")["notice_served_on"], "");
    let (header, wl) = env.csv(&["worklist", "--office", "Z1", "--kind", "serve_notice"]);
    let mut wcols = defaulter_cols();
    wcols.push("kind".into());
    assert_eq!(header, wcols);
    assert_eq!(accounts(&wl), vec!["L4", "L1"]); // 5000.00 before 2000.00
    assert!(wl.iter().all(|r| r["kind"] == "serve_notice"));
    assert_eq!(row(&wl, "L1")["notice_no"], notices["L1"]);
    // Rerunning the same date appends nothing and keeps the notice numbers.
    let before = env.export();
    env.nightly("2026-02-19");
    assert!(env.export() == before);

    env.append_ok(&[serve(&notices["L1"], "2026-02-21", "hand")]);
    // 2026-03-08 < 2026-02-21 + 15 + 1 = 2026-03-09 → notice_served.
    env.nightly("2026-03-08");
    let l1 = row(&env.defaulters("Z1"), "L1").clone();
    assert_eq!(l1["stage"], "notice_served");
    assert_eq!(l1["notice_served_on"], "2026-02-21");
    assert_eq!(l1["disconnection_allowed_on"], "2026-03-09");
    // Surcharge 2000 × 1.25% = 25.00 on 2026-02-20 → 2025.00.
    assert_eq!(l1["overdue_arrears"], "2025.00");
    assert!(find(&env.worklist("Z1", "serve_notice"), "L1").is_none());
    assert!(env.worklist("Z1", "disconnection").is_empty());
    // Disconnection before the clear days have passed is rejected.
    env.append_rejected(&[disconnect("L1", "2026-03-08", "DO-1")]);

    env.nightly("2026-03-09");
    assert_eq!(
        row(&env.defaulters("Z1"), "L1")["stage"],
        "disconnection_due"
    );
    let dl = env.worklist("Z1", "disconnection");
    assert_eq!(accounts(&dl), vec!["L1"]);
    assert_eq!(dl[0]["kind"], "disconnection");
    // No step is skipped: L4, never served, is still at notice_issued and cannot be disconnected.
    assert_eq!(row(&env.defaulters("Z1"), "L4")["stage"], "notice_issued");
    env.append_rejected(&[disconnect("L4", "2026-03-09", "DO-4")]);

    env.append_ok(&[disconnect("L1", "2026-03-09", "DO-1")]);
    env.nightly("2026-03-10");
    assert_eq!(row(&env.defaulters("Z1"), "L1")["stage"], "disconnected");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    // Paid in full (2025.00) → reconnection_due; the worklist lists L1 although it owes nothing.
    env.append_ok(&[payment("PL1", "L1", "2025.00", "2026-03-12", "upi")]);
    env.nightly("2026-03-13");
    let rl = env.worklist("Z1", "reconnection");
    assert_eq!(accounts(&rl), vec!["L1"]);
    assert_eq!(rl[0]["stage"], "reconnection_due");
    assert_eq!(rl[0]["overdue_arrears"], "0.00");
    assert_eq!(rl[0]["kind"], "reconnection");
    assert!(find(&env.defaulters("Z1"), "L1").is_none());
    env.append_ok(&[json!({"type": "reconnect", "account_no": "L1", "on": "2026-03-14"})]);
    env.nightly("2026-03-15");
    assert_eq!(env.stage("L1"), "clear");
    assert!(env.worklist("Z1", "reconnection").is_empty());
    // Reconnecting a connected consumer is rejected.
    env.append_rejected(&[json!({"type": "reconnect", "account_no": "L1", "on": "2026-03-16"})]);

    // New arrears open a new case with a new notice number: 1500.00 due 2026-04-10, 30 days on
    // 2026-05-10 (its own levy that day is not yet overdue) → 1500.00 ≥ 1000.00.
    env.append_ok(&[bill("BL-L1-2", "L1", "2026-03-25", "2026-04-10", "1500.00")]);
    env.nightly("2026-05-10");
    let l1 = row(&env.defaulters("Z1"), "L1").clone();
    assert_eq!(l1["overdue_arrears"], "1500.00");
    assert_eq!(l1["stage"], "notice_issued");
    assert!(!l1["notice_no"].is_empty());
    assert_ne!(l1["notice_no"], notices["L1"]);
    // L4 still waits at notice_issued with its first notice number.
    let l4 = row(&env.defaulters("Z1"), "L4").clone();
    assert_eq!(l4["stage"], "notice_issued");
    assert_eq!(l4["notice_no"], notices["L4"]);
}

/// disconnected → pd_due after 180 days → permanently_disconnected / rc_due by arrears ≥
/// 10000.00 → rc_issued, with the permanent_disconnection and recovery_certificate worklists.
#[test]
fn ladder_permanent_disconnection_and_recovery_certificate() {
    let (env, notices) = ladder_env(
        None,
        &[
            ("L2", "domestic", "20000.00"),
            ("L3", "domestic", "3000.00"),
        ],
    );
    env.append_ok(&[
        serve(&notices["L2"], "2026-02-21", "hand"),
        serve(&notices["L3"], "2026-02-21", "post"),
    ]);
    env.nightly("2026-03-09");
    env.append_ok(&[
        disconnect("L2", "2026-03-09", "DO-2"),
        disconnect("L3", "2026-03-09", "DO-3"),
    ]);
    env.nightly("2026-03-10");
    assert_eq!(row(&env.defaulters("Z1"), "L2")["stage"], "disconnected");
    // 2026-03-09 + 179 days = 2026-09-04 → still disconnected.
    env.nightly("2026-09-04");
    assert_eq!(row(&env.defaulters("Z1"), "L2")["stage"], "disconnected");
    assert!(env.worklist("Z1", "permanent_disconnection").is_empty());
    // 2026-09-05 = 2026-03-09 + 180 days → pd_due.
    env.nightly("2026-09-05");
    let list = env.defaulters("Z1");
    // L2: 20000 + 7 levies (2026-02-20 … 2026-08-20) × 250.00 = 21750.00.
    // L3: 3000 + 7 × 37.50 = 3262.50.
    assert_eq!(row(&list, "L2")["overdue_arrears"], "21750.00");
    assert_eq!(row(&list, "L3")["overdue_arrears"], "3262.50");
    assert_eq!(row(&list, "L2")["stage"], "pd_due");
    assert_eq!(row(&list, "L3")["stage"], "pd_due");
    let pl = env.worklist("Z1", "permanent_disconnection");
    assert_eq!(accounts(&pl), vec!["L2", "L3"]);
    assert!(pl.iter().all(|r| r["kind"] == "permanent_disconnection"));
    env.append_ok(&[
        json!({"type": "permanently_disconnect", "account_no": "L2", "on": "2026-09-06"}),
        json!({"type": "permanently_disconnect", "account_no": "L3", "on": "2026-09-06"}),
    ]);
    env.nightly("2026-09-07");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "L2")["stage"], "rc_due"); // 21750.00 ≥ 10000.00
    assert_eq!(row(&list, "L3")["stage"], "permanently_disconnected"); // 3262.50 < 10000.00
    assert!(env.worklist("Z1", "permanent_disconnection").is_empty());
    let rc = env.worklist("Z1", "recovery_certificate");
    assert_eq!(accounts(&rc), vec!["L2"]);
    assert_eq!(rc[0]["kind"], "recovery_certificate");
    env.append_ok(&[
        json!({"type": "issue_recovery_certificate", "account_no": "L2",
                           "rc_no": "RC-1", "on": "2026-09-08"}),
    ]);
    env.nightly("2026-09-09");
    assert_eq!(row(&env.defaulters("Z1"), "L2")["stage"], "rc_issued");
    assert!(env.worklist("Z1", "recovery_certificate").is_empty());
}

/// A dispute's deposit is a credit dated `on`; while the dispute lasts the consumer stays
/// disconnection_due but off the disconnection worklist, with `dispute` in `hold`.
#[test]
fn hold_dispute_with_deposit_counted_as_credit() {
    let (env, notices) = ladder_env(
        None,
        &[("H1", "domestic", "2000.00"), ("HX", "domestic", "2000.00")],
    );
    env.append_ok(&[
        serve(&notices["H1"], "2026-02-21", "hand"),
        serve(&notices["HX"], "2026-02-21", "hand"),
        json!({"type": "raise_dispute", "account_no": "H1", "on": "2026-03-01",
               "deposit": "300.00", "bill_no": "BL-H1"}),
    ]);
    env.nightly("2026-03-09");
    let list = env.defaulters("Z1");
    let h1 = row(&list, "H1");
    // Charges 2000 + 25.00 (2026-02-20); credit 300.00 → 1725.00, still ≥ 1000.00.
    assert_eq!(h1["overdue_arrears"], "1725.00");
    assert_eq!(row(&list, "HX")["overdue_arrears"], "2025.00");
    assert_eq!(h1["stage"], "disconnection_due");
    assert_eq!(holds(h1), vec!["dispute"]);
    assert_eq!(holds(row(&list, "HX")), Vec::<String>::new());
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["HX"]);
    env.append_ok(&[json!({"type": "resolve_dispute", "account_no": "H1", "on": "2026-03-10"})]);
    env.nightly("2026-03-11");
    let h1 = row(&env.defaulters("Z1"), "H1").clone();
    assert_eq!(h1["overdue_arrears"], "1725.00");
    assert!(holds(&h1).is_empty(), "{h1:?}");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        vec!["HX", "H1"]
    ); // 2025.00 before 1725.00
}

/// An instalment plan holds disconnection until broken (payments since the grant < instalments
/// due on or before D − 15 days, recorded as an event), and lets a disconnected consumer be
/// reconnected.
#[test]
fn hold_installment_plan_until_broken_and_reconnection_under_plan() {
    let (env, notices) = ladder_env(
        None,
        &[("H2", "domestic", "3000.00"), ("H4", "domestic", "2000.00")],
    );
    env.append_ok(&[
        serve(&notices["H2"], "2026-02-21", "hand"),
        serve(&notices["H4"], "2026-02-21", "hand"),
        json!({"type": "grant_installment_plan", "plan_id": "PL-H2", "account_no": "H2",
               "granted_on": "2026-03-01",
               "installments": [{"due_on": "2026-03-15", "amount": "1000.00"},
                                {"due_on": "2026-04-15", "amount": "2037.50"}]}),
    ]);
    env.nightly("2026-03-09");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "H2")["stage"], "disconnection_due");
    assert_eq!(holds(row(&list, "H2")), vec!["installment_plan"]);
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["H4"]);
    env.append_ok(&[disconnect("H4", "2026-03-09", "DO-4")]);
    env.nightly("2026-03-10");
    assert_eq!(row(&env.defaulters("Z1"), "H4")["stage"], "disconnected");
    // A plan in force for a disconnected consumer → reconnection_due.
    env.append_ok(
        &[json!({"type": "grant_installment_plan", "plan_id": "PL-H4",
        "account_no": "H4", "granted_on": "2026-03-11",
        "installments": [{"due_on": "2026-04-15", "amount": "2025.00"}]})],
    );
    env.nightly("2026-03-12");
    assert_eq!(accounts(&env.worklist("Z1", "reconnection")), vec!["H4"]);
    assert_eq!(env.stage("H4"), "reconnection_due");
    // 2026-03-29: D − 15 = 2026-03-14, nothing due yet → plan in force.
    env.nightly("2026-03-29");
    assert_eq!(
        holds(row(&env.defaulters("Z1"), "H2")),
        vec!["installment_plan"]
    );
    assert!(env.worklist("Z1", "disconnection").is_empty());
    let before = String::from_utf8(env.export())
        .unwrap()
        .to_lowercase()
        .replace('_', "");
    // 2026-03-30: D − 15 = 2026-03-15; 1000.00 due, 0.00 paid since the grant → broken.
    env.nightly("2026-03-30");
    let h2 = row(&env.defaulters("Z1"), "H2").clone();
    assert!(holds(&h2).is_empty(), "{h2:?}");
    assert_eq!(h2["stage"], "disconnection_due");
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["H2"]);
    let after = String::from_utf8(env.export())
        .unwrap()
        .to_lowercase()
        .replace('_', "");
    assert!(
        after.matches("installmentplanbroken").count()
            > before.matches("installmentplanbroken").count(),
        "no InstallmentPlanBroken event was appended"
    );
    // H4's plan (2025.00 due 2026-04-15) is still in force.
    assert_eq!(env.stage("H4"), "reconnection_due");
}

/// Government consumers (threshold 10000.00) at disconnection_due go to hq_escalation, never to
/// the disconnection worklist.
#[test]
fn government_consumer_goes_to_hq_escalation() {
    let (env, notices) = ladder_env(
        None,
        &[
            ("G1", "government", "15000.00"),
            ("GX", "domestic", "2000.00"),
        ],
    );
    env.append_ok(&[
        serve(&notices["G1"], "2026-02-21", "hand"),
        serve(&notices["GX"], "2026-02-21", "hand"),
    ]);
    env.nightly("2026-03-09");
    let list = env.defaulters("Z1");
    let g1 = row(&list, "G1");
    assert_eq!(g1["overdue_arrears"], "15187.50"); // 15000 + 187.50
    assert_eq!(g1["stage"], "disconnection_due");
    assert_eq!(holds(g1), vec!["essential_service"]);
    let hq = env.worklist("Z1", "hq_escalation");
    assert_eq!(accounts(&hq), vec!["G1"]);
    assert_eq!(hq[0]["kind"], "hq_escalation");
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["GX"]);
}

/// A moratorium range in the policy file keeps everyone off the disconnection worklist on the
/// days it covers (both ends included).
#[test]
fn moratorium_from_policy_file() {
    let (env, notices) = ladder_env(
        Some("[moratorium]\nranges = [[\"2026-03-09\", \"2026-03-12\"]]\n"),
        &[("MO1", "domestic", "2000.00")],
    );
    assert!(env.ok(&["policy", "show"]).contains("2026-03-12"));
    env.append_ok(&[serve(&notices["MO1"], "2026-02-21", "hand")]);
    env.nightly("2026-03-09");
    let r = row(&env.defaulters("Z1"), "MO1").clone();
    assert_eq!(r["stage"], "disconnection_due");
    assert_eq!(holds(&r), vec!["moratorium"]);
    assert!(env.worklist("Z1", "disconnection").is_empty());
    env.nightly("2026-03-12");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    env.nightly("2026-03-13");
    let r = row(&env.defaulters("Z1"), "MO1").clone();
    assert!(holds(&r).is_empty());
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["MO1"]);
}

// ---------------------------------------------------------------------------------------------
// Defaulter list, filters, offices, worklists, formats
// ---------------------------------------------------------------------------------------------

/// Scenario for the list tests. Bills issued 2026-01-05 due 2026-01-20 unless noted; one nightly
/// run on 2026-02-19 (no anniversary reached yet, so no surcharges):
///   S1 (D1): K1 900.00 due 2026-01-18 (32 days, no mobile) plus its first surcharge levied
///            2026-02-18 (900.00 × 1.25% = 11.25, overdue on 2026-02-19) = 911.25 → clear;
///            K2 1500.00 − 100.00 paid 2026-02-01 = 1400.00 → notice_issued;
///            K3 1500.00 − 100.00 paid 2026-02-05 = 1400.00 → notice_issued;
///            K8 5000.00 due 2026-01-21 (29 days) → clear.
///   S2 (D1): K4 3000.00 due 2026-02-01 (18 days) → clear; K5 400.00 (no mobile) < 500.00.
///   S3 (D2): K6 2500.00 → notice_issued; K7 no bills, no mobile.
fn list_env() -> Env {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("K1", "domestic", "S1", None),
        consumer("K2", "domestic", "S1", Some("9000000002")),
        consumer("K3", "domestic", "S1", Some("9000000003")),
        consumer("K4", "domestic", "S2", Some("9000000004")),
        consumer("K5", "domestic", "S2", None),
        consumer("K6", "domestic", "S3", Some("9000000006")),
        consumer("K7", "domestic", "S3", None),
        consumer("K8", "domestic", "S1", Some("9000000008")),
        bill("BK1", "K1", "2026-01-03", "2026-01-18", "900.00"),
        bill("BK2", "K2", "2026-01-05", "2026-01-20", "1500.00"),
        bill("BK3", "K3", "2026-01-05", "2026-01-20", "1500.00"),
        bill("BK4", "K4", "2026-01-15", "2026-02-01", "3000.00"),
        bill("BK5", "K5", "2026-01-05", "2026-01-20", "400.00"),
        bill("BK6", "K6", "2026-01-05", "2026-01-20", "2500.00"),
        bill("BK8", "K8", "2026-01-06", "2026-01-21", "5000.00"),
        payment("PK2", "K2", "100.00", "2026-02-01", "upi"),
        payment("PK3", "K3", "100.00", "2026-02-05", "counter_cash"),
    ]);
    env.nightly("2026-02-19");
    env
}

/// Sorting by arrears descending then account_no; office lists cover every subdivision below;
/// `--stage`, `--min-arrears`, `--limit`; notices need 30 days overdue.
#[test]
fn defaulters_sorting_filters_and_office_scope() {
    let env = list_env();
    let (header, z1) = env.csv(&["defaulters", "--office", "Z1"]);
    assert_eq!(header, defaulter_cols());
    // K8 5000.00, K4 3000.00, K6 2500.00, K2 1400.00 = K3 1400.00 (by account_no), K1 911.25.
    assert_eq!(accounts(&z1), vec!["K8", "K4", "K6", "K2", "K3", "K1"]);
    assert_eq!(
        accounts(&env.defaulters("C1")),
        accounts(&z1),
        "circle covers all"
    );
    assert_eq!(
        accounts(&env.defaulters("D1")),
        vec!["K8", "K4", "K2", "K3", "K1"]
    );
    assert_eq!(
        accounts(&env.defaulters("S1")),
        vec!["K8", "K2", "K3", "K1"]
    );
    assert_eq!(accounts(&env.defaulters("D2")), vec!["K6"]);
    assert_eq!(accounts(&env.defaulters("S2")), vec!["K4"]);

    let k8 = row(&z1, "K8");
    assert_eq!(k8["days_overdue"], "29");
    assert_eq!(k8["stage"], "clear"); // 29 < 30 days
    assert_eq!(k8["notice_no"], "");
    let k2 = row(&z1, "K2");
    assert_eq!(k2["days_overdue"], "30");
    assert_eq!(k2["aging_bucket"], "0-30");
    assert_eq!(k2["stage"], "notice_issued");
    assert_eq!(k2["last_payment_on"], "2026-02-01");
    assert_eq!(k2["last_payment_amount"], "100.00");
    let k1 = row(&z1, "K1");
    assert_eq!(k1["mobile_registered"], "no");
    assert_eq!(k1["oldest_due_on"], "2026-01-18");
    assert_eq!(k1["days_overdue"], "32");
    assert_eq!(k1["aging_bucket"], "31-60");
    assert_eq!(k1["overdue_arrears"], "911.25");
    assert_eq!(k1["stage"], "clear"); // 911.25 < 1000.00
    assert_eq!(k1["last_payment_on"], "");
    assert_eq!(k1["last_payment_amount"], "");
    assert_eq!(k1["subdivision"], "S1");
    assert_eq!(row(&z1, "K6")["division"], "D2");
    assert_eq!(row(&z1, "K6")["circle"], "C1");

    let stage = |s: &str| accounts(&env.rows(&["defaulters", "--office", "Z1", "--stage", s]));
    assert_eq!(stage("notice_issued"), vec!["K6", "K2", "K3"]);
    assert_eq!(stage("clear"), vec!["K8", "K4", "K1"]);
    assert!(stage("disconnection_due").is_empty());
    assert_eq!(
        accounts(&env.rows(&["defaulters", "--office", "Z1", "--min-arrears", "1000.00"])),
        vec!["K8", "K4", "K6", "K2", "K3"]
    );
    assert_eq!(
        accounts(&env.rows(&["defaulters", "--office", "Z1", "--limit", "2"])),
        vec!["K8", "K4"]
    );
    assert_eq!(
        accounts(&env.rows(&[
            "defaulters",
            "--office",
            "Z1",
            "--stage",
            "notice_issued",
            "--limit",
            "1"
        ])),
        vec!["K6"]
    );
}

/// Worklists of every kind have the defaulter columns plus `kind`; `no_mobile` lists every active
/// consumer without a mobile, defaulter or not, sorted by arrears then account_no.
#[test]
fn worklists_of_every_kind_and_no_mobile() {
    let env = list_env();
    let mut wcols = defaulter_cols();
    wcols.push("kind".into());
    for kind in [
        "serve_notice",
        "disconnection",
        "reconnection",
        "permanent_disconnection",
        "recovery_certificate",
        "hq_escalation",
        "no_mobile",
    ] {
        let (header, rows) = env.csv(&["worklist", "--office", "Z1", "--kind", kind]);
        assert_eq!(header, wcols, "{kind}");
        assert!(rows.iter().all(|r| r["kind"] == kind), "{kind}: {rows:?}");
        match kind {
            "serve_notice" => assert_eq!(accounts(&rows), vec!["K6", "K2", "K3"]),
            // K1 911.25, K5 400.00, K7 0.00.
            "no_mobile" => {
                assert_eq!(accounts(&rows), vec!["K1", "K5", "K7"]);
                assert_eq!(row(&rows, "K5")["overdue_arrears"], "400.00");
                assert_eq!(row(&rows, "K7")["overdue_arrears"], "0.00");
                assert!(rows.iter().all(|r| r["mobile_registered"] == "no"));
            }
            _ => assert!(rows.is_empty(), "{kind}: {rows:?}"),
        }
    }
    assert_eq!(
        accounts(&env.worklist("D1", "serve_notice")),
        vec!["K2", "K3"]
    );
    assert_eq!(accounts(&env.worklist("S2", "no_mobile")), vec!["K5"]);
    // A later register_mobile takes K1 off the no_mobile worklist after the next run.
    env.append_ok(&[json!({"type": "register_mobile", "account_no": "K1",
        "mobile": "9000000001", "registered_on": "2026-02-20", "source": "sms"})]);
    env.nightly("2026-02-20");
    assert_eq!(accounts(&env.worklist("Z1", "no_mobile")), vec!["K5", "K7"]);
}

/// `--format json` gives an array of objects with exactly the CSV columns; amounts are strings
/// with the CSV text, empty values are null; `--format table` prints the same records for people.
#[test]
fn output_formats_csv_json_and_table() {
    let env = list_env();
    for args in [
        vec!["defaulters", "--office", "Z1"],
        vec!["worklist", "--office", "Z1", "--kind", "no_mobile"],
    ] {
        let (header, rows) = env.csv(&args);
        let js = env.json(&args);
        let arr = js.as_array().expect("JSON array");
        assert_eq!(arr.len(), rows.len());
        for (obj, r) in arr.iter().zip(&rows) {
            let keys: BTreeSet<String> = obj.as_object().unwrap().keys().cloned().collect();
            let want: BTreeSet<String> = header.iter().cloned().collect();
            assert_eq!(keys, want);
            for col in &header {
                let v = &obj[col.as_str()];
                let text = &r[col];
                if text.is_empty() {
                    if col == "hold" {
                        assert!(v.is_null() || v == "", "hold: {v}");
                    } else {
                        assert!(v.is_null(), "{col} empty in CSV but {v} in JSON");
                    }
                } else if col == "days_overdue" {
                    assert_eq!(jtext(obj, col), *text);
                } else {
                    assert_eq!(v, &Value::String(text.clone()), "{col}");
                }
            }
        }
    }
    let js = env.json(&["defaulters", "--office", "Z1"]);
    let k1 = js
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["account_no"] == "K1")
        .unwrap();
    assert_eq!(k1["overdue_arrears"], json!("911.25"));
    assert!(k1["last_payment_on"].is_null() && k1["last_payment_amount"].is_null());
    assert!(k1["notice_no"].is_null() && k1["notice_served_on"].is_null());
    assert!(k1["disconnection_allowed_on"].is_null());
    let table = env.ok(&["--format", "table", "defaulters", "--office", "Z1"]);
    assert!(table.contains("account_no") && table.contains("K8") && table.contains("5000.00"));
    // --excel adds a UTF-8 BOM to CSV.
    let excel = env.run(&["--format", "csv", "--excel", "defaulters", "--office", "Z1"]);
    assert!(excel.stdout.starts_with(b"\xEF\xBB\xBF"));
}

// ---------------------------------------------------------------------------------------------
// Rankings and awards (docs/RULES.md)
// ---------------------------------------------------------------------------------------------

/// Rankings scenario (all consumers connected 2025-01-01 unless noted):
///   S1: R1 (mobile) bills R1-JUL 1000.00 (issued 07-01, due 07-15), R1-AUG 1200.00 (08-01, due
///       08-15), paid 1500.00 upi 08-10. R2 (no mobile; one registered 2026-09-02) bills R2-JUL
///       500.00, R2-AUG 800.00 revised to 600.00 on 08-12, paid 500.00 counter_cash 08-20.
///       R3 connected 2026-09-05 with a mobile. Grievances: GJ billing registered 07-20 resolved
///       07-25; GA supply 08-05 resolved 08-15; GB metering 08-01 unresolved; GC other 08-25
///       unresolved.
///   S2: T1 (mobile) bill T1-AUG 2000.00 (08-03, due 08-18); 1000.00 counter_cheque 08-19
///       reversed 08-25; 500.00 bbps 08-28.
///   S3 (D2): U1 (no mobile) bill U1-JUL 400.00 (07-01, due 07-15).
fn rankings_env() -> Env {
    let env = Env::new();
    env.offices();
    let mut r3 = consumer("R3", "domestic", "S1", Some("9000000013"));
    r3["connected_on"] = json!("2026-09-05");
    let g = |id: &str, cat: &str, on: &str| {
        json!({"type": "register_grievance", "grievance_id": id, "subdivision": "S1",
               "category": cat, "registered_on": on})
    };
    let gr = |id: &str, on: &str| json!({"type": "resolve_grievance", "grievance_id": id, "resolved_on": on, "note": "done"});
    env.append_ok(&[
        consumer("R1", "domestic", "S1", Some("9000000011")),
        consumer("R2", "domestic", "S1", None),
        r3,
        consumer("T1", "non_domestic", "S2", Some("9000000021")),
        consumer("U1", "domestic", "S3", None),
        bill("R1-JUL", "R1", "2026-07-01", "2026-07-15", "1000.00"),
        bill("R2-JUL", "R2", "2026-07-01", "2026-07-15", "500.00"),
        bill("U1-JUL", "U1", "2026-07-01", "2026-07-15", "400.00"),
        bill("R1-AUG", "R1", "2026-08-01", "2026-08-15", "1200.00"),
        bill("R2-AUG", "R2", "2026-08-01", "2026-08-15", "800.00"),
        json!({"type": "revise_bill", "bill_no": "R2-AUG", "revised_on": "2026-08-12",
               "new_amount": "600.00", "reason": "wrong reading"}),
        bill("T1-AUG", "T1", "2026-08-03", "2026-08-18", "2000.00"),
        payment("P-R1", "R1", "1500.00", "2026-08-10", "upi"),
        payment("P-R2", "R2", "500.00", "2026-08-20", "counter_cash"),
        payment("P-T1A", "T1", "1000.00", "2026-08-19", "counter_cheque"),
        json!({"type": "reverse_payment", "receipt_no": "P-T1A", "reversed_on": "2026-08-25",
               "reason": "cheque bounced"}),
        payment("P-T1B", "T1", "500.00", "2026-08-28", "bbps"),
        json!({"type": "register_mobile", "account_no": "R2", "mobile": "9000000012",
               "registered_on": "2026-09-02", "source": "field"}),
        g("GJ", "billing", "2026-07-20"),
        gr("GJ", "2026-07-25"),
        g("GA", "supply", "2026-08-05"),
        gr("GA", "2026-08-15"),
        g("GB", "metering", "2026-08-01"),
        g("GC", "other", "2026-08-25"),
    ]);
    env
}

/// Rankings for 2026-08 at every level, computed by hand; null metrics drop out of the score's
/// weights; an office with billed = 0 is left out; the same figures whether or not nightly ran.
#[test]
fn rankings_for_a_month_computed_by_hand() {
    let env = rankings_env();
    // S1: billed 1200 + 800 + (600 − 800) = 1800.00; collected 1500 + 500 = 2000.00;
    //     efficiency 2000/1800 = 111.11 (not capped); opening (as of 07-31) 1000 + 500 = 1500.00;
    //     closing (08-31) R1 2200 − 1500 = 700 + R2 1100 − 500 = 600 → 1300.00;
    //     reduction 200/1500 = 13.33; digital 1500/2000 = 75.00; mobiles R1 of R1, R2 = 50.00
    //     (R3 connected after P, R2's mobile after P); grievances GA within, GB ran out 08-16,
    //     GC still in time → 1/2 = 50.00.
    //     score = 40×1 + 25×0.13333 + 15×0.5 + 10×0.75 + 10×0.5 = 63.3333 → 63.33.
    // S2: billed 2000.00; collected 1000 + 500 − 1000 = 500.00; efficiency 25.00; opening 0.00 →
    //     reduction null; closing 2000 − 500 = 1500.00; digital 500/500 = 100.00; mobiles 100.00;
    //     grievances null. score = (40×0.25 + 10×1 + 10×1) / 60 × 100 = 50.00.
    // S3: billed 0 → not ranked.
    let (header, rows) = env.csv(&["rankings", "--period", "2026-08", "--level", "subdivision"]);
    assert_eq!(header, cols(RANKING_COLUMNS));
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &[
                "2026-08,subdivision,1,S1,Raipur,1800.00,2000.00,111.11,1500.00,1300.00,13.33,75.00,50.00,50.00,63.33",
                "2026-08,subdivision,2,S2,प्रेमनगर,2000.00,500.00,25.00,0.00,1500.00,,100.00,100.00,,50.00",
            ]
        )
    );
    // D1 = S1 + S2: billed 3800.00, collected 2500.00, efficiency 65.79; opening 1500.00, closing
    //     2800.00, reduction −1300/1500 = −86.67 (clamped to 0 in the score); digital 2000/2500 =
    //     80.00; mobiles R1, T1 of R1, R2, T1 = 66.67; grievances 50.00.
    //     score = 40×0.657895 + 0 + 7.5 + 8 + 6.6667 = 48.4825 → 48.48. D2: billed 0, left out.
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "division"]);
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &["2026-08,division,1,D1,Dehradun Division,3800.00,2500.00,65.79,1500.00,2800.00,-86.67,80.00,66.67,50.00,48.48"]
        )
    );
    // C1 adds U1: opening 1900.00, closing 3200.00, reduction −68.42; mobiles 2 of 4 = 50.00;
    //     score = 26.3158 + 0 + 7.5 + 8 + 5 = 46.8158 → 46.82.
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "circle"]);
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &["2026-08,circle,1,C1,Dehradun Circle,3800.00,2500.00,65.79,1900.00,3200.00,-68.42,80.00,50.00,50.00,46.82"]
        )
    );
    // July: S1 billed 1500.00, collected 0 → efficiency 0.00; opening 0 → null; digital null;
    //     mobiles 50.00; grievances GJ within → 100.00; score (0 + 15 + 5) / 65 = 30.77.
    //     S3 billed 400.00, mobiles 0.00, score 0.00.
    let rows = env.rows(&["rankings", "--period", "2026-07", "--level", "subdivision"]);
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &[
                "2026-07,subdivision,1,S1,Raipur,1500.00,0.00,0.00,0.00,1500.00,,,50.00,100.00,30.77",
                "2026-07,subdivision,2,S3,Rishikesh Nagar,400.00,0.00,0.00,0.00,400.00,,,0.00,,0.00",
            ]
        )
    );
    // FY2026-27-Q2 (July–September) for S1: billed 1500 + 1800 = 3300.00, collected 2000.00,
    // efficiency 60.61.
    let rows = env.rows(&[
        "rankings",
        "--period",
        "FY2026-27-Q2",
        "--level",
        "subdivision",
    ]);
    let s1 = by_office(&rows, "S1");
    assert_eq!(
        (
            s1["billed"].as_str(),
            s1["collected"].as_str(),
            s1["collection_efficiency_pct"].as_str()
        ),
        ("3300.00", "2000.00", "60.61")
    );
    // JSON: same keys, strings for figures, null for the empty fields.
    let js = env.json(&["rankings", "--period", "2026-08", "--level", "subdivision"]);
    let s2 = &js.as_array().unwrap()[1];
    assert_eq!(s2["office_code"], "S2");
    assert!(s2["arrears_reduction_pct"].is_null() && s2["grievance_resolution_pct"].is_null());
    assert_eq!(s2["score"], json!("50.00"));
    assert_eq!(s2["billed"], json!("2000.00"));

    // Independent of the nightly run.
    let levels = ["subdivision", "division", "circle"];
    let before: Vec<String> = levels
        .iter()
        .map(|l| {
            env.ok(&[
                "--format", "csv", "rankings", "--period", "2026-08", "--level", l,
            ])
        })
        .collect();
    env.nightly("2026-09-30");
    let after: Vec<String> = levels
        .iter()
        .map(|l| {
            env.ok(&[
                "--format", "csv", "rankings", "--period", "2026-08", "--level", l,
            ])
        })
        .collect();
    assert_eq!(before, after);
}

/// Awards: gold/silver/bronze per level and most_improved over the previous month, with
/// score_change only for offices ranked in both months; independent of the nightly run.
#[test]
fn awards_for_a_month_computed_by_hand() {
    let env = rankings_env();
    // Scores (see rankings test): August S1 63.33, S2 50.00, D1 48.48, C1 46.82;
    // July S1 30.7692, D1 (0 + 15 + 10×2/3) / 65 = 33.33, C1 (0 + 15 + 5) / 65 = 30.77.
    // S1: 63.3333 − 30.7692 = 32.56; D1: 48.4825 − 33.3333 = 15.15; C1: 46.8158 − 30.7692 = 16.05.
    // S2 was not ranked in July → empty score_change. Only two subdivisions → no bronze.
    let out = env.tmp.path().join("awards.csv");
    env.ok(&[
        "--format",
        "csv",
        "awards",
        "--period",
        "2026-08",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (header, rows) = parse_csv(&fs::read_to_string(&out).unwrap());
    assert_eq!(header, cols(AWARD_COLUMNS));
    let got: BTreeSet<Vec<String>> = rows.iter().map(|r| r.values().cloned().collect()).collect();
    let want: BTreeSet<Vec<String>> = csv_rows(
        AWARD_COLUMNS,
        &[
            "2026-08,circle,gold,C1,Dehradun Circle,46.82,16.05",
            "2026-08,circle,most_improved,C1,Dehradun Circle,46.82,16.05",
            "2026-08,division,gold,D1,Dehradun Division,48.48,15.15",
            "2026-08,division,most_improved,D1,Dehradun Division,48.48,15.15",
            "2026-08,subdivision,gold,S1,Raipur,63.33,32.56",
            "2026-08,subdivision,silver,S2,प्रेमनगर,50.00,",
            "2026-08,subdivision,most_improved,S1,Raipur,63.33,32.56",
        ],
    )
    .iter()
    .map(|r| r.values().cloned().collect())
    .collect();
    assert_eq!(got, want);
    // JSON: score as a string, an empty score_change as null.
    let js = env.json(&["awards", "--period", "2026-08"]);
    let silver = js
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["award"] == "silver")
        .expect("silver award");
    assert_eq!(silver["score"], json!("50.00"));
    assert!(silver["score_change"].is_null());
    // HTML: one self-contained UTF-8 file with Hindi names as text.
    let html = env.tmp.path().join("awards.html");
    env.ok(&[
        "--format",
        "html",
        "awards",
        "--period",
        "2026-08",
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = fs::read_to_string(&html).unwrap();
    assert!(page.contains("प्रेमनगर"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    // Independent of the nightly run.
    env.nightly("2026-09-30");
    let again = env.tmp.path().join("awards2.csv");
    env.ok(&[
        "--format",
        "csv",
        "awards",
        "--period",
        "2026-08",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&out).unwrap(), fs::read(&again).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Campaign, camps
// ---------------------------------------------------------------------------------------------

/// Campaign: a row per subdivision below the office with coverage; a number registered for more
/// than 5 active consumers (written in different forms) is flagged, 5 is not; a later
/// register_mobile replaces the earlier number.
#[test]
fn campaign_coverage_and_shared_mobiles() {
    let env = Env::new();
    env.offices();
    let mut cmds = Vec::new();
    for (i, m) in [
        "9876543210",
        "+91 98765 43210",
        "09876543210",
        "98765-43210",
        "919876543210",
        "+919876543210",
    ]
    .iter()
    .enumerate()
    {
        cmds.push(consumer(&format!("M{}", i + 1), "domestic", "S1", Some(m)));
    }
    cmds.push(consumer("M7", "domestic", "S1", None));
    cmds.push(consumer("M8", "domestic", "S1", Some("7000000008")));
    cmds.push(
        json!({"type": "register_mobile", "account_no": "M8", "mobile": "7000000009",
                     "registered_on": "2026-01-15", "source": "online"}),
    );
    for i in 1..=5 {
        cmds.push(consumer(
            &format!("N{i}"),
            "domestic",
            "S2",
            Some("8765432109"),
        ));
    }
    cmds.push(consumer("P1", "domestic", "S3", Some("6000000001")));
    env.append_ok(&cmds);
    env.nightly("2026-02-01");
    let (header, rows) = env.csv(&["campaign", "--office", "Z1"]);
    assert_eq!(header, cols(CAMPAIGN_COLUMNS));
    let codes: Vec<&str> = rows.iter().map(|r| r["office_code"].as_str()).collect();
    assert_eq!(
        codes.iter().collect::<BTreeSet<_>>(),
        ["S1", "S2", "S3"].iter().collect()
    );
    // S1: 8 active, 7 with a mobile (M8 counted once) → 87.50; one number on 6 consumers.
    let s1 = by_office(&rows, "S1");
    assert_eq!(s1["office_name"], "Raipur");
    assert_eq!(
        (
            s1["active_consumers"].as_str(),
            s1["with_mobile"].as_str(),
            s1["mobile_coverage_pct"].as_str()
        ),
        ("8", "7", "87.50")
    );
    assert!(
        !["", "0"].contains(&s1["shared_mobiles"].as_str()),
        "six consumers share one number: {s1:?}"
    );
    // S2: 5 of 5 → 100.00; five consumers on one number is not over the limit.
    let s2 = by_office(&rows, "S2");
    assert_eq!(s2["office_name"], "प्रेमनगर");
    assert_eq!(
        (
            s2["active_consumers"].as_str(),
            s2["with_mobile"].as_str(),
            s2["mobile_coverage_pct"].as_str()
        ),
        ("5", "5", "100.00")
    );
    assert!(["", "0"].contains(&s2["shared_mobiles"].as_str()), "{s2:?}");
    let s3 = by_office(&rows, "S3");
    assert_eq!(s3["mobile_coverage_pct"], "100.00");
    // An office's campaign covers only the subdivisions below it.
    let d1: Vec<String> = env
        .rows(&["campaign", "--office", "D1"])
        .iter()
        .map(|r| r["office_code"].clone())
        .collect();
    assert_eq!(
        d1.iter().cloned().collect::<BTreeSet<_>>(),
        ["S1".to_string(), "S2".to_string()].into_iter().collect()
    );
}

/// Camp report for 2026-08 per subdivision: camps scheduled and held, share held with the SDO,
/// grievances by category, resolution within 15 days, camp collections, mobiles registered at
/// camps; events outside the period are not counted.
#[test]
fn camps_report_for_a_period() {
    let env = Env::new();
    env.offices();
    let camp = |id: &str, on: &str| {
        json!({"type": "schedule_camp", "camp_id": id, "subdivision": "S1", "on": on,
               "venue": "Panchayat Bhawan"})
    };
    let held = |id: &str, on: &str, officers: &[&str]| json!({"type": "hold_camp", "camp_id": id, "held_on": on, "officers_present": officers});
    let g = |id: &str, cat: &str, on: &str| {
        json!({"type": "register_grievance", "grievance_id": id, "subdivision": "S1",
               "category": cat, "registered_on": on})
    };
    let gr = |id: &str, on: &str| json!({"type": "resolve_grievance", "grievance_id": id, "resolved_on": on, "note": "ok"});
    let mut ga = g("GA", "new_connection", "2026-08-01");
    ga["account_no"] = json!("W1");
    ga["camp_id"] = json!("CP1");
    env.append_ok(&[
        consumer("W1", "domestic", "S1", None),
        consumer("W2", "domestic", "S2", None),
        consumer("W3", "domestic", "S1", None),
        camp("CP0", "2026-07-10"),
        held("CP0", "2026-07-10", &["SDO"]),
        camp("CP1", "2026-08-05"),
        camp("CP2", "2026-08-12"),
        camp("CP3", "2026-08-20"),
        held("CP1", "2026-08-05", &["SDO", "JE"]),
        held("CP2", "2026-08-12", &["EE", "JE"]),
        ga,
        gr("GA", "2026-08-05"),
        g("GB", "metering", "2026-08-02"),
        gr("GB", "2026-08-10"),
        g("GC", "metering", "2026-08-03"),
        g("GD", "billing", "2026-08-25"),
        g("GE", "other", "2026-08-26"),
        gr("GE", "2026-08-28"),
        g("GF", "supply", "2026-07-15"),
        payment("CW1", "W1", "300.00", "2026-08-05", "camp"),
        payment("CW2", "W1", "200.00", "2026-08-12", "camp"),
        payment("CW3", "W1", "100.00", "2026-07-10", "camp"),
        payment("CW4", "W1", "50.00", "2026-08-06", "counter_cash"),
        payment("CW5", "W2", "150.00", "2026-08-20", "camp"),
        json!({"type": "register_mobile", "account_no": "W1", "mobile": "9111111111",
               "registered_on": "2026-08-05", "source": "camp"}),
        json!({"type": "register_mobile", "account_no": "W3", "mobile": "9111111113",
               "registered_on": "2026-08-12", "source": "camp"}),
        json!({"type": "register_mobile", "account_no": "W1", "mobile": "9111111112",
               "registered_on": "2026-08-07", "source": "field"}),
        json!({"type": "register_mobile", "account_no": "W2", "mobile": "9111111114",
               "registered_on": "2026-07-10", "source": "camp"}),
    ]);
    env.nightly("2026-09-30");
    let (header, rows) = env.csv(&["camps", "--office", "D1", "--period", "2026-08"]);
    assert_eq!(header, cols(CAMPS_COLUMNS));
    // S1: scheduled CP1..CP3 = 3, held CP1, CP2 = 2, with SDO 1 of 2 = 50.00;
    //     grievances GA..GE = 5 (new_connection 1, metering 2, billing 1, supply 0, other 1);
    //     within 15 days GA, GB, GE; GC ran out 2026-08-18 unresolved; GD still in time →
    //     3 / 4 = 75.00; camp collections 300 + 200 = 500.00; mobiles at camps 2 (W1, W3).
    // S2: nothing in the period except a camp payment of 150.00.
    let want = csv_rows(
        CAMPS_COLUMNS,
        &[
            "S1,Raipur,3,2,50.00,5,1,2,1,0,1,75.00,500.00,2",
            "S2,प्रेमनगर,0,0,,0,0,0,0,0,0,,150.00,0",
        ],
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(by_office(&rows, "S1"), &want[0]);
    assert_eq!(by_office(&rows, "S2"), &want[1]);
    let js = env.json(&["camps", "--office", "D1", "--period", "2026-08"]);
    let s2 = js
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["office_code"] == "S2")
        .unwrap();
    assert!(s2["held_with_sdo_pct"].is_null() && s2["grievance_resolution_pct"].is_null());
    assert_eq!(s2["camp_collections"], json!("150.00"));
    // FY2026-27 adds July: S1 scheduled 4, held 3 (2 with SDO → 66.67); grievances 6 with GF
    // (supply); within 15 days GA, GB, GE; ran out unresolved by 2027-03-31: GF (07-30),
    // GC (08-18) and now GD (09-09) → 3 / 6 = 50.00; collections 600.00; S2 counts W2's camp
    // mobile of 2026-07-10.
    let rows = env.rows(&["camps", "--office", "D1", "--period", "FY2026-27"]);
    let want = csv_rows(
        CAMPS_COLUMNS,
        &[
            "S1,Raipur,4,3,66.67,6,1,2,1,1,1,50.00,600.00,2",
            "S2,प्रेमनगर,0,0,,0,0,0,0,0,0,,150.00,1",
        ],
    );
    assert_eq!(by_office(&rows, "S1"), &want[0]);
    assert_eq!(by_office(&rows, "S2"), &want[1]);
}

// ---------------------------------------------------------------------------------------------
// Store, policy, nightly dates, SMS
// ---------------------------------------------------------------------------------------------

/// verify exits 0 on a sound log; export → restore → export is byte-identical; restore needs an
/// empty data directory; the same log and date give the same notice numbers.
#[test]
fn verify_export_restore_round_trip() {
    let env = list_env();
    env.append_ok(&[serve(
        &row(&env.defaulters("Z1"), "K2")["notice_no"],
        "2026-02-21",
        "hand",
    )]);
    env.nightly("2026-03-01");
    assert_eq!(env.run(&["verify"]).status.code(), Some(0));
    let first = env.export();
    assert!(!first.is_empty());
    let file = env.write(
        "full-export",
        "jsonl",
        &String::from_utf8(first.clone()).unwrap(),
    );
    let copy = Env::new();
    copy.ok(&["restore", file.to_str().unwrap()]);
    assert_eq!(copy.run(&["verify"]).status.code(), Some(0));
    assert!(copy.export() == first, "export after restore differs");
    // Restore into a directory that already holds a log is refused and changes nothing.
    let out = env.run(&["restore", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(env.export() == first);

    // Notice numbers are deterministic: two restores of the same pre-nightly log, run to the same
    // date, list the same notice numbers.
    let base = Env::new();
    base.offices();
    base.append_ok(&[
        consumer("Q1", "domestic", "S1", None),
        consumer("Q2", "domestic", "S2", None),
        bill("BQ1", "Q1", "2026-01-05", "2026-01-20", "2000.00"),
        bill("BQ2", "Q2", "2026-01-05", "2026-01-20", "3000.00"),
    ]);
    let f = base.write("pre", "jsonl", &String::from_utf8(base.export()).unwrap());
    let a = Env::new();
    let b = Env::new();
    a.ok(&["restore", f.to_str().unwrap()]);
    b.ok(&["restore", f.to_str().unwrap()]);
    a.nightly("2026-02-19");
    b.nightly("2026-02-19");
    let na = a.defaulters("Z1");
    assert_eq!(na, b.defaulters("Z1"));
    assert!(na.iter().all(|r| !r["notice_no"].is_empty()));
}

/// `policy show` prints every key of docs/FORMATS.md's policy block with its default; a partial
/// file keeps the other defaults; DIR/policy.toml is used when present; an unknown key is exit 2.
#[test]
fn policy_show_partial_files_and_unknown_keys() {
    fn keys(toml: &str) -> BTreeMap<String, String> {
        let mut table = String::new();
        let mut out = BTreeMap::new();
        for line in toml.lines() {
            let l = line.split(" #").next().unwrap().trim();
            if l.starts_with('[') {
                table = l.trim_matches(|c| c == '[' || c == ']').to_string();
            } else if let Some((k, v)) = l.split_once('=') {
                out.insert(format!("{table}.{}", k.trim()), v.trim().to_string());
            }
        }
        out
    }
    let env = Env::new();
    let shown = keys(&env.ok(&["policy", "show"]));
    let defaults = [
        ("defaulters.min_overdue_arrears", "\"500.00\""),
        ("lps.monthly_rate_percent", "\"1.25\""),
        ("notice.min_days_overdue", "30"),
        ("notice.clear_days", "15"),
        ("notice.threshold.domestic", "\"1000.00\""),
        ("notice.threshold.non_domestic", "\"5000.00\""),
        ("notice.threshold.government", "\"10000.00\""),
        ("notice.threshold.agriculture", "\"5000.00\""),
        ("notice.threshold.industrial", "\"25000.00\""),
        ("notice.threshold.other", "\"5000.00\""),
        ("permanent_disconnection.after_days", "180"),
        ("recovery_certificate.min_arrears", "\"10000.00\""),
        ("moratorium.ranges", "[]"),
        ("grievances.resolution_days", "15"),
        ("ranking.weights.collection_efficiency", "40"),
        ("ranking.weights.arrears_reduction", "25"),
        ("ranking.weights.grievance_resolution", "15"),
        ("ranking.weights.digital_share", "10"),
        ("ranking.weights.mobile_coverage", "10"),
        ("sms.reminder_days_before_due", "3"),
        ("sms.camp_notice_days_before", "3"),
        ("sms.entity_id", "\"\""),
        ("sms.sender", "\"UPCLTD\""),
    ];
    for (k, v) in defaults {
        assert_eq!(shown.get(k).map(String::as_str), Some(v), "policy key {k}");
    }
    // A partial file: only the rate changes.
    let partial = Env::with_policy("[lps]\nmonthly_rate_percent = \"2.00\"\n");
    let shown = keys(&partial.ok(&["policy", "show"]));
    assert_eq!(shown["lps.monthly_rate_percent"], "\"2.00\"");
    assert_eq!(shown["notice.clear_days"], "15");
    assert_eq!(shown["defaulters.min_overdue_arrears"], "\"500.00\"");
    // DIR/policy.toml is used when no --policy is given.
    let dir = Env::new();
    fs::create_dir_all(dir.data()).unwrap();
    fs::write(
        dir.data().join("policy.toml"),
        "[notice]\nclear_days = 20\n",
    )
    .unwrap();
    assert_eq!(
        keys(&dir.ok(&["policy", "show"]))["notice.clear_days"],
        "20"
    );
    // Unknown keys and tables are usage errors.
    for bad in [
        "[lps]\nmonthly_rate = \"2.00\"\n",
        "[nonsense]\nx = 1\n",
        "[ranking.weights]\nspeed = 5\n",
    ] {
        let env = Env::with_policy(bad);
        assert_eq!(env.run(&["policy", "show"]).status.code(), Some(2), "{bad}");
        assert_eq!(
            env.run(&["nightly", "--as-of", "2026-01-01"]).status.code(),
            Some(2),
            "{bad}"
        );
    }
}

/// A nightly date before the last run's is a usage error (exit 2) and writes nothing; the same
/// date again is idempotent.
#[test]
fn nightly_date_before_the_last_is_exit_2() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("A1", "domestic", "S1", Some("9876543210")),
        bill("B1", "A1", "2026-07-05", "2026-07-20", "1200.00"),
    ]);
    let out = env.run(&["nightly", "--as-of", "2026-08-21"]);
    assert!(out.status.success());
    // Progress bars only when stderr is a terminal: here it is a pipe.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
    // The summary names events appended and per-stage counts: A1 (1200.00 + 15.00 levied
    // 2026-08-20, 32 days) is at notice_issued.
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("appended") && summary.contains("notice_issued"),
        "{summary}"
    );
    let before = env.export();
    let out = env.run(&["nightly", "--as-of", "2026-08-20"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(env.export() == before);
    env.nightly("2026-08-21");
    assert!(env.export() == before);
}

/// After a nightly run the outbox lists queued messages for a consumer with a mobile and none
/// for a consumer without one; rerunning the date queues no duplicate.
#[test]
fn sms_outbox_lists_queued_messages() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("SMSYES1", "domestic", "S1", Some("9876543210")),
        consumer("SMSNOT1", "domestic", "S1", None),
        bill("BY1", "SMSYES1", "2026-07-05", "2026-07-20", "1200.00"),
        bill("BN1", "SMSNOT1", "2026-07-05", "2026-07-20", "1200.00"),
        payment("RY1", "SMSYES1", "100.00", "2026-07-10", "upi"),
        payment("RN1", "SMSNOT1", "100.00", "2026-07-10", "upi"),
    ]);
    // Runs on the bill's issue date, the payment date, the reminder date and after the notice.
    for d in ["2026-07-05", "2026-07-10", "2026-07-17", "2026-08-20"] {
        env.nightly(d);
    }
    let queued = env.ok(&["--format", "csv", "sms", "outbox", "--status", "queued"]);
    assert!(queued.contains("SMSYES1"), "{queued}");
    assert!(!queued.contains("SMSNOT1"), "{queued}");
    let (_, rows) = parse_csv(&queued);
    assert!(
        rows.len() >= 3,
        "bill, receipt, reminder, notice expected: {queued}"
    );
    let sent = env.ok(&["--format", "csv", "sms", "outbox", "--status", "sent"]);
    assert!(!sent.contains("SMSYES1"));
    env.nightly("2026-08-20");
    let again = env.ok(&["--format", "csv", "sms", "outbox", "--status", "queued"]);
    assert_eq!(queued, again);
}

// ---------------------------------------------------------------------------------------------
// More of docs/RULES.md: allocation, adjustments, reversals, buckets, thresholds, policy
// ---------------------------------------------------------------------------------------------

/// Allocation puts a surcharge before a bill with the same due date, so credits reach the older
/// surcharge first; adjustments are charges/credits of their own, due from the day posted and
/// never surcharged; a reversed payment stops counting from its reversed_on; an advance covers
/// later bills; a revision below what was paid leaves an advance.
#[test]
fn allocation_adjustments_reversals_and_advances() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    let mut cmds = Vec::new();
    for acc in ["AL1", "AD1", "CR1", "RP1", "AV1", "RB1"] {
        cmds.push(consumer(acc, "domestic", "S1", None));
    }
    cmds.extend([
        // AL1: X1 due 01-15, X2 due 02-15, 1062.50 paid 02-16.
        bill("AL1-X1", "AL1", "2027-01-01", "2027-01-15", "1000.00"),
        bill("AL1-X2", "AL1", "2027-02-01", "2027-02-15", "1000.00"),
        payment("AL1-P", "AL1", "1062.50", "2027-02-16", "upi"),
        // AD1: a debit adjustment only.
        json!({"type": "post_adjustment", "adjustment_no": "AD1-1", "account_no": "AD1",
               "posted_on": "2027-01-15", "amount": "1000.00", "reason": "theft assessment"}),
        // CR1: a credit adjustment lowers the principal the surcharge is computed on.
        bill("CR1-B", "CR1", "2027-01-01", "2027-01-15", "1000.00"),
        json!({"type": "post_adjustment", "adjustment_no": "CR1-1", "account_no": "CR1",
               "posted_on": "2027-02-01", "amount": "-400.00", "reason": "excess billing"}),
        // RP1: paid by cheque 01-10, bounced 02-20.
        bill("RP1-B", "RP1", "2027-01-01", "2027-01-15", "1000.00"),
        payment("RP1-P", "RP1", "1000.00", "2027-01-10", "counter_cheque"),
        json!({"type": "reverse_payment", "receipt_no": "RP1-P", "reversed_on": "2027-02-20",
               "reason": "cheque bounced"}),
        // AV1: 500.00 advance before an 800.00 bill.
        payment("AV1-P", "AV1", "500.00", "2027-01-01", "upi"),
        bill("AV1-B", "AV1", "2027-01-02", "2027-01-15", "800.00"),
        // RB1: 1000.00 paid, bill revised to 700.00 → 300.00 advance against a 500.00 bill.
        bill("RB1-B1", "RB1", "2027-01-01", "2027-01-15", "1000.00"),
        payment("RB1-P", "RB1", "1000.00", "2027-01-10", "upi"),
        json!({"type": "revise_bill", "bill_no": "RB1-B1", "revised_on": "2027-01-20",
               "new_amount": "700.00", "reason": "wrong tariff"}),
        bill("RB1-B2", "RB1", "2027-01-25", "2027-02-10", "500.00"),
    ]);
    env.append_ok(&cmds);
    env.nightly("2027-02-16");
    let list = env.defaulters("Z1");
    // AL1 as of 02-16: X1 1000 + levy 12.50 (02-15) + X2 1000 − 1062.50 = 950.00.
    assert_eq!(row(&list, "AL1")["overdue_arrears"], "950.00");
    // AD1: 1000.00 and no surcharge on an adjustment.
    assert_eq!(row(&list, "AD1")["overdue_arrears"], "1000.00");
    // CR1: (1000 − 400) × 1.25% = 7.50 → 607.50.
    assert_eq!(row(&list, "CR1")["overdue_arrears"], "607.50");
    // RP1: the cheque still counts on 02-15 → no levy, owes nothing.
    assert!(find(&list, "RP1").is_none());
    // AV1: 800 − 500 = 300 unpaid principal; levy 3.75 → 303.75.
    assert_eq!(row(&list, "AV1")["overdue_arrears"], "303.75");
    // RB1: 700 + 500 − 1000 = 200.00 (B2 due 02-10).
    assert_eq!(row(&list, "RB1")["overdue_arrears"], "200.00");
    assert_eq!(row(&list, "RB1")["oldest_due_on"], "2027-02-10");

    // A debit adjustment posted today is not yet overdue.
    env.append_ok(
        &[json!({"type": "post_adjustment", "adjustment_no": "AD1-2",
        "account_no": "AD1", "posted_on": "2027-03-16", "amount": "200.00", "reason": "fee"})],
    );
    env.nightly("2027-03-16");
    let list = env.defaulters("Z1");
    // AL1 on 03-15: order X1 (01-15), levy (02-15), X2 (02-15); 1062.50 covers X1 and the levy
    // first, so X2's unpaid principal is 950.00 → 11.875 → 11.88 (X1 is paid: no second levy).
    // 2000 + 12.50 + 11.88 − 1062.50 = 961.88.
    assert_eq!(row(&list, "AL1")["overdue_arrears"], "961.88");
    assert_eq!(row(&list, "AD1")["overdue_arrears"], "1000.00");
    // RP1: reversed 02-20 → on 03-15 unpaid principal 1000 → 12.50; 1012.50, 60 days → 31-60.
    let rp1 = row(&list, "RP1");
    assert_eq!(rp1["overdue_arrears"], "1012.50");
    assert_eq!(rp1["days_overdue"], "60");
    assert_eq!(rp1["aging_bucket"], "31-60");
    // RB1: B2's anniversary 03-10 on 200.00 unpaid → 2.50 → 202.50.
    assert_eq!(row(&list, "RB1")["overdue_arrears"], "202.50");
    env.nightly("2027-03-17");
    assert_eq!(env.arrears("AD1"), "1200.00");
}

/// Aging buckets 0-30, 31-60, 61-90, 91-180, 181-365, 366+ by days overdue, counted from the
/// oldest charge still unpaid (a fully paid older bill does not count).
#[test]
fn aging_buckets_and_days_overdue() {
    use chrono::{Duration, NaiveDate};
    let env = Env::new();
    env.offices();
    let d = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    let cases = [
        (30, "0-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91-180"),
        (180, "91-180"),
        (181, "181-365"),
        (365, "181-365"),
        (366, "366+"),
        (400, "366+"),
    ];
    let mut cmds = Vec::new();
    for (days, _) in cases {
        let acc = format!("AG{days}");
        let due = d - Duration::days(days);
        let issued = due - Duration::days(10);
        cmds.push(consumer(&acc, "domestic", "S1", None));
        cmds.push(bill(
            &format!("B{acc}"),
            &acc,
            &issued.to_string(),
            &due.to_string(),
            "1000.00",
        ));
    }
    // PO1: bill due 2026-10-01 fully paid, bill due 2026-11-15 unpaid → 47 days.
    cmds.extend([
        consumer("PO1", "domestic", "S1", None),
        bill("PO1-1", "PO1", "2026-09-15", "2026-10-01", "700.00"),
        payment("PO1-P", "PO1", "700.00", "2026-09-30", "upi"),
        bill("PO1-2", "PO1", "2026-11-01", "2026-11-15", "900.00"),
    ]);
    env.append_ok(&cmds);
    env.nightly(&d.to_string());
    let list = env.defaulters("Z1");
    for (days, bucket) in cases {
        let r = row(&list, &format!("AG{days}"));
        assert_eq!(r["days_overdue"], days.to_string(), "AG{days}");
        assert_eq!(r["aging_bucket"], bucket, "AG{days}");
        assert_eq!(r["oldest_due_on"], (d - Duration::days(days)).to_string());
    }
    let po1 = row(&list, "PO1");
    assert_eq!(po1["days_overdue"], "47");
    assert_eq!(po1["oldest_due_on"], "2026-11-15");
    assert_eq!(po1["aging_bucket"], "31-60");
}

/// Notice thresholds per category are inclusive (arrears ≥ threshold), as is the defaulter
/// minimum (500.00 listed, 499.99 not).
#[test]
fn notice_thresholds_by_category_are_inclusive() {
    let env = Env::new();
    env.offices();
    let cats = [
        ("domestic", "1000.00", "999.99"),
        ("non_domestic", "5000.00", "4999.99"),
        ("government", "10000.00", "9999.99"),
        ("agriculture", "5000.00", "4999.99"),
        ("industrial", "25000.00", "24999.99"),
        ("other", "5000.00", "4999.99"),
    ];
    let mut cmds = Vec::new();
    for (i, (cat, at, below)) in cats.iter().enumerate() {
        for (suffix, amt) in [("A", at), ("B", below)] {
            let acc = format!("T{i}{suffix}");
            cmds.push(consumer(&acc, cat, "S1", None));
            cmds.push(bill(
                &format!("B{acc}"),
                &acc,
                "2026-01-05",
                "2026-01-20",
                amt,
            ));
        }
    }
    cmds.extend([
        consumer("MIN1", "domestic", "S2", None),
        consumer("MIN2", "domestic", "S2", None),
        bill("BMIN1", "MIN1", "2026-01-05", "2026-01-20", "500.00"),
        bill("BMIN2", "MIN2", "2026-01-05", "2026-01-20", "499.99"),
    ]);
    env.append_ok(&cmds);
    // 2026-02-19: 30 days overdue, first anniversary (02-20) not reached.
    env.nightly("2026-02-19");
    let list = env.defaulters("Z1");
    for (i, (cat, at, below)) in cats.iter().enumerate() {
        let a = row(&list, &format!("T{i}A"));
        assert_eq!(a["overdue_arrears"], *at);
        assert_eq!(a["stage"], "notice_issued", "{cat} at {at}");
        let b = row(&list, &format!("T{i}B"));
        assert_eq!(b["overdue_arrears"], *below);
        assert_eq!(b["stage"], "clear", "{cat} at {below}");
        assert_eq!(b["notice_no"], "");
    }
    assert!(find(&list, "MIN1").is_some());
    assert!(find(&list, "MIN2").is_none());
    // Notice numbers are distinct.
    let ns: BTreeSet<String> = list
        .iter()
        .filter(|r| !r["notice_no"].is_empty())
        .map(|r| r["notice_no"].clone())
        .collect();
    assert_eq!(ns.len(), 6);
}

/// The policy file's values drive the engine: surcharge rate, notice days, clear days, threshold,
/// defaulter minimum, permanent-disconnection days and recovery-certificate minimum.
#[test]
fn policy_values_drive_the_engine() {
    let env = Env::with_policy(
        "[lps]\nmonthly_rate_percent = \"2.00\"\n\
         [defaulters]\nmin_overdue_arrears = \"100.00\"\n\
         [notice]\nmin_days_overdue = 10\nclear_days = 5\n\
         [notice.threshold]\ndomestic = \"300.00\"\n\
         [permanent_disconnection]\nafter_days = 30\n\
         [recovery_certificate]\nmin_arrears = \"400.00\"\n",
    );
    env.offices();
    env.append_ok(&[
        consumer("PX", "domestic", "S1", Some("9876543210")),
        consumer("PY", "non_domestic", "S1", Some("9876543211")),
        bill("BPX", "PX", "2026-01-05", "2026-01-20", "450.00"),
        bill("BPY", "PY", "2026-01-05", "2026-01-20", "450.00"),
    ]);
    // 2026-01-30: 10 days, 450.00 ≥ 300.00 → notice; PY (non_domestic keeps 5000.00) → clear.
    env.nightly("2026-01-30");
    let list = env.defaulters("Z1");
    let px = row(&list, "PX").clone();
    assert_eq!(px["stage"], "notice_issued");
    assert_eq!(row(&list, "PY")["stage"], "clear");
    // Served 01-31 → allowed from 01-31 + 5 + 1 = 2026-02-06.
    env.append_ok(&[serve(&px["notice_no"], "2026-01-31", "hand")]);
    env.nightly("2026-02-05");
    let px = row(&env.defaulters("Z1"), "PX").clone();
    assert_eq!(px["stage"], "notice_served");
    assert_eq!(px["disconnection_allowed_on"], "2026-02-06");
    env.nightly("2026-02-06");
    assert_eq!(
        row(&env.defaulters("Z1"), "PX")["stage"],
        "disconnection_due"
    );
    env.append_ok(&[disconnect("PX", "2026-02-06", "DO-PX")]);
    // 2026-02-20: levy 450 × 2% = 9.00. 2026-03-07 = 02-06 + 29 days → disconnected.
    env.nightly("2026-03-07");
    let px = row(&env.defaulters("Z1"), "PX").clone();
    assert_eq!(px["overdue_arrears"], "459.00");
    assert_eq!(px["stage"], "disconnected");
    // 2026-03-08 = 02-06 + 30 days → pd_due.
    env.nightly("2026-03-08");
    assert_eq!(row(&env.defaulters("Z1"), "PX")["stage"], "pd_due");
    env.append_ok(
        &[json!({"type": "permanently_disconnect", "account_no": "PX",
                           "on": "2026-03-09"})],
    );
    env.nightly("2026-03-10");
    // 459.00 ≥ 400.00 → rc_due.
    assert_eq!(row(&env.defaulters("Z1"), "PX")["stage"], "rc_due");
}

/// A case closes when arrears fall below the threshold (an unserved notice lapses, a served
/// case leaves the disconnection path), and arrears that build up again open a new case with a
/// new notice number.
#[test]
fn case_closes_below_threshold_and_new_arrears_get_a_new_notice() {
    let (env, notices) = ladder_env(
        None,
        &[
            ("CL1", "domestic", "2000.00"),
            ("CL2", "domestic", "2000.00"),
        ],
    );
    env.append_ok(&[
        serve(&notices["CL2"], "2026-02-21", "hand"),
        payment("CL1-P", "CL1", "1500.00", "2026-02-20", "upi"),
        payment("CL2-P", "CL2", "1500.00", "2026-02-25", "upi"),
    ]);
    // CL1 on 02-21: 2000 − 1500 = 500 unpaid on 02-20 → levy 6.25 → 506.25 < 1000 → clear.
    env.nightly("2026-02-21");
    let cl1 = row(&env.defaulters("Z1"), "CL1").clone();
    assert_eq!(cl1["overdue_arrears"], "506.25");
    assert_eq!(cl1["stage"], "clear");
    assert!(find(&env.worklist("Z1", "serve_notice"), "CL1").is_none());
    // CL2 on 03-09: 2000 + 25.00 − 1500 = 525.00 < 1000 → clear, not on the disconnection list.
    env.nightly("2026-03-09");
    let cl2 = row(&env.defaulters("Z1"), "CL2").clone();
    assert_eq!(cl2["overdue_arrears"], "525.00");
    assert_eq!(cl2["stage"], "clear");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    // A disconnection on a closed case is refused.
    env.append_rejected(&[disconnect("CL2", "2026-03-09", "DO-CL2")]);
    // New bill: 1500.00 due 2026-03-25 → on 2026-04-25 arrears ≥ 1000 and > 30 days → new case.
    env.append_ok(&[bill("CL1-2", "CL1", "2026-03-10", "2026-03-25", "1500.00")]);
    env.nightly("2026-04-25");
    let cl1 = row(&env.defaulters("Z1"), "CL1").clone();
    assert_eq!(cl1["stage"], "notice_issued");
    assert!(!cl1["notice_no"].is_empty());
    assert_ne!(cl1["notice_no"], notices["CL1"]);
}

/// Holds combine in the `hold` column (separated by `;`); a plan paid off (payments since the
/// grant ≥ its total) and a resolved dispute release the consumer to the disconnection worklist.
#[test]
fn holds_combine_and_end_when_plan_paid_off() {
    let (env, notices) = ladder_env(None, &[("HC1", "domestic", "3000.00")]);
    env.append_ok(&[
        serve(&notices["HC1"], "2026-02-21", "hand"),
        json!({"type": "grant_installment_plan", "plan_id": "PL-HC1", "account_no": "HC1",
               "granted_on": "2026-03-01",
               "installments": [{"due_on": "2026-03-20", "amount": "500.00"}]}),
        json!({"type": "raise_dispute", "account_no": "HC1", "on": "2026-03-01",
               "deposit": "100.00"}),
    ]);
    env.nightly("2026-03-09");
    let r = row(&env.defaulters("Z1"), "HC1").clone();
    assert_eq!(r["stage"], "disconnection_due");
    let hs: BTreeSet<String> = holds(&r).into_iter().collect();
    assert_eq!(
        hs,
        ["dispute", "installment_plan"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert!(env.worklist("Z1", "disconnection").is_empty());
    env.append_ok(&[
        payment("HC1-P", "HC1", "500.00", "2026-03-10", "upi"),
        json!({"type": "resolve_dispute", "account_no": "HC1", "on": "2026-03-10"}),
    ]);
    env.nightly("2026-03-11");
    // 3000 + 37.50 − 100 − 500 = 2437.50 ≥ 1000; no hold left.
    let r = row(&env.defaulters("Z1"), "HC1").clone();
    assert_eq!(r["overdue_arrears"], "2437.50");
    assert!(holds(&r).is_empty(), "{r:?}");
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["HC1"]);
}

/// Rank ties: equal scores are ordered by collection efficiency descending, then office code;
/// ranks 1-3 get gold, silver, bronze; no most_improved when nobody was ranked before.
#[test]
fn rankings_tie_breaks_and_bronze() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("TB1", "domestic", "S1", None),
        consumer("TB2", "domestic", "S2", None),
        consumer("TB3", "domestic", "S3", None),
        bill("TB1-B", "TB1", "2026-08-01", "2026-08-15", "1000.00"),
        bill("TB2-B", "TB2", "2026-08-01", "2026-08-15", "1000.00"),
        bill("TB3-B", "TB3", "2026-08-01", "2026-08-15", "1000.00"),
        payment("TB1-P", "TB1", "750.00", "2026-08-10", "upi"),
        payment("TB2-P", "TB2", "1000.00", "2026-08-10", "counter_cash"),
        payment("TB3-P", "TB3", "1000.00", "2026-08-10", "agent"),
    ]);
    // S1: efficiency 75, digital 100, mobiles 0 → (30 + 10 + 0) / 60 = 66.67.
    // S2, S3: efficiency 100, digital 0, mobiles 0 → 40 / 60 = 66.67.
    // Arrears reduction null (opening 0) and grievances null for all.
    // Order: S2 (efficiency 100, code S2), S3 (efficiency 100, code S3), S1 (efficiency 75).
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "subdivision"]);
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &[
                "2026-08,subdivision,1,S2,प्रेमनगर,1000.00,1000.00,100.00,0.00,0.00,,0.00,0.00,,66.67",
                "2026-08,subdivision,2,S3,Rishikesh Nagar,1000.00,1000.00,100.00,0.00,0.00,,0.00,0.00,,66.67",
                "2026-08,subdivision,3,S1,Raipur,1000.00,750.00,75.00,0.00,250.00,,100.00,0.00,,66.67",
            ]
        )
    );
    // D1 = S1 + S2: efficiency 1750/2000 = 87.50, digital 750/1750 = 42.857 →
    // (35 + 4.2857 + 0) / 60 = 65.476 → 65.48; D2 = S3: 66.67 → D2 first.
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "division"]);
    let order: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["rank"].as_str(),
                r["office_code"].as_str(),
                r["score"].as_str(),
            )
        })
        .collect();
    assert_eq!(order, vec![("1", "D2", "66.67"), ("2", "D1", "65.48")]);
    let awards = env.rows(&["awards", "--period", "2026-08"]);
    let sub: Vec<(String, String, String)> = awards
        .iter()
        .filter(|r| r["level"] == "subdivision")
        .map(|r| {
            (
                r["award"].clone(),
                r["office_code"].clone(),
                r["score_change"].clone(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> =
        [("gold", "S2"), ("silver", "S3"), ("bronze", "S1")]
            .iter()
            .map(|(a, o)| (a.to_string(), o.to_string(), String::new()))
            .collect();
    assert_eq!(sub.into_iter().collect::<BTreeSet<_>>(), want);
}

/// s.56(2): the statement marks charges more than two years past their due date `over_two_years`
/// and keeps carrying them as arrears.
#[test]
fn statement_marks_charges_over_two_years() {
    fn objects<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(m) => {
                if m.contains_key("over_two_years") {
                    out.push(v);
                }
                m.values().for_each(|x| objects(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| objects(x, out)),
            _ => {}
        }
    }
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("OT1", "domestic", "S1", None),
        bill("OTOLD", "OT1", "2024-05-01", "2024-05-15", "1000.00"),
        bill("OTNEW", "OT1", "2025-05-01", "2025-05-15", "1000.00"),
    ]);
    env.nightly("2026-07-01");
    let st = env.statement("OT1");
    let mut objs = Vec::new();
    objects(&st, &mut objs);
    let flag = |needle: &str| {
        objs.iter()
            .find(|o| {
                o.as_object().unwrap().values().any(|v| {
                    v.as_str().is_some_and(|s| s.contains(needle))
                        && !o.to_string().contains("surcharge")
                })
            })
            .unwrap_or_else(|| panic!("no charge for {needle} in {st:#}"))["over_two_years"]
            .clone()
    };
    // 2024-05-15 + 2 years = 2026-05-15 < 2026-07-01 → over two years; 2025-05-15 is not.
    assert_eq!(flag("OTOLD"), json!(true));
    assert_eq!(flag("OTNEW"), json!(false));
    // Both bills are still carried as arrears.
    let oldest = row(&env.defaulters("Z1"), "OT1")["oldest_due_on"].clone();
    assert_eq!(oldest, "2024-05-15");
}

/// SMS: each outbox message reports its encoding (GSM-7 unless a character is outside it, then
/// UCS-2) and parts (160 / 153 per part for GSM-7; 70 / 67 for UCS-2); English consumers get
/// English text, the default language is Hindi; camp announcements go 3 days before a camp to
/// consumers of that subdivision only.
#[test]
fn sms_encoding_parts_language_and_camp_notices() {
    const GSM: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡\
ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const GSM_EXT: &str = "^{}\\[~]|€\u{c}";
    fn expected(text: &str) -> (&'static str, usize) {
        if text.chars().all(|c| GSM.contains(c) || GSM_EXT.contains(c)) {
            let n: usize = text
                .chars()
                .map(|c| if GSM_EXT.contains(c) { 2 } else { 1 })
                .sum();
            ("gsm7", if n <= 160 { 1 } else { n.div_ceil(153) })
        } else {
            let n = text.encode_utf16().count();
            ("ucs2", if n <= 70 { 1 } else { n.div_ceil(67) })
        }
    }
    let env = Env::new();
    env.offices();
    let mut en = consumer("SE1", "domestic", "S1", Some("9876543210"));
    en["language"] = json!("en");
    env.append_ok(&[
        en,
        consumer("SH1", "domestic", "S1", Some("9876543211")),
        consumer("SX1", "domestic", "S2", Some("9876543212")),
        bill("BSE1", "SE1", "2026-08-01", "2026-08-15", "1200.00"),
        bill("BSH1", "SH1", "2026-08-01", "2026-08-15", "1300.00"),
        payment("RSE1", "SE1", "200.00", "2026-08-05", "upi"),
        json!({"type": "schedule_camp", "camp_id": "CPX", "subdivision": "S1",
               "on": "2026-08-20", "venue": "Gandhi Park Hall"}),
    ]);
    for d in ["2026-08-01", "2026-08-05", "2026-08-12", "2026-08-17"] {
        env.nightly(d);
    }
    let (header, rows) = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox"]));
    for col in ["encoding", "parts"] {
        assert!(
            header.contains(&col.to_string()),
            "outbox has no {col}: {header:?}"
        );
    }
    let text_col = header
        .iter()
        .find(|h| ["text", "body", "message"].contains(&h.as_str()))
        .expect("outbox shows the message text")
        .clone();
    assert!(!rows.is_empty());
    for r in &rows {
        let (enc, parts) = expected(&r[&text_col]);
        let got = r["encoding"].to_lowercase().replace(['-', '_'], "");
        assert_eq!(got, enc, "{r:?}");
        assert_eq!(r["parts"], parts.to_string(), "{r:?}");
    }
    let of = |acc: &str| -> Vec<&Row> {
        rows.iter()
            .filter(|r| r.values().any(|v| v == acc) || r[&text_col].contains(acc))
            .collect()
    };
    assert!(!of("SE1").is_empty() && !of("SH1").is_empty());
    assert!(of("SE1")
        .iter()
        .all(|r| r["encoding"].to_lowercase().starts_with("gsm")));
    assert!(of("SH1")
        .iter()
        .all(|r| r["encoding"].to_lowercase().starts_with("ucs")));
    // The camp on 2026-08-20 is announced on 2026-08-17 to SE1 and SH1 (S1), not to SX1 (S2).
    let camp_msgs = rows
        .iter()
        .filter(|r| r[&text_col].contains("Gandhi Park Hall"))
        .count();
    assert_eq!(camp_msgs, 2, "{rows:#?}");
}

/// Appending a command whose natural key is already in the log with the same content changes
/// nothing; with different content it is rejected. References to things that do not exist and
/// malformed codes are rejected.
#[test]
fn append_natural_keys_and_references() {
    let env = Env::new();
    env.offices();
    let p = payment("NK-P1", "NK1", "100.00", "2026-08-01", "upi");
    env.append_ok(&[
        consumer("NK1", "domestic", "S1", None),
        bill("NK-B1", "NK1", "2026-07-05", "2026-07-20", "1000.00"),
        p.clone(),
    ]);
    let before = env.export();
    env.append_ok(std::slice::from_ref(&p));
    assert!(
        env.export() == before,
        "re-appending the same payment wrote events"
    );
    env.append_rejected(&[payment("NK-P1", "NK1", "150.00", "2026-08-01", "upi")]);
    env.append_rejected(&[bill("NK-B1", "NK1", "2026-07-05", "2026-07-20", "1100.00")]);
    // A consumer must belong to a subdivision, and codes follow §1/§2.
    env.append_rejected(&[consumer("NK2", "domestic", "D1", None)]);
    env.append_rejected(&[consumer("NK3", "domestic", "S9", None)]);
    env.append_rejected(&[consumer("nk4", "domestic", "S1", None)]);
    env.append_rejected(&[consumer("NK-5", "domestic", "S1", None)]);
    env.append_rejected(&[consumer("N123456789012345678901", "domestic", "S1", None)]);
    let mut c = consumer("NK6", "domestic", "S1", None);
    c["load_kw"] = json!("1.2345");
    env.append_rejected(&[c]);
    let mut c = consumer("NK7", "domestic", "S1", None);
    c["language"] = json!("fr");
    env.append_rejected(&[c]);
    let mut c = consumer("NK8", "residential", "S1", None);
    c["category"] = json!("residential");
    env.append_rejected(&[c]);
    // Offices: a subdivision's parent must be a division; a zone has none; code ≤ 16 chars.
    env.append_rejected(
        &[json!({"type": "register_office", "code": "S8", "name": "x",
                                 "level": "subdivision", "parent": "C1"})],
    );
    env.append_rejected(
        &[json!({"type": "register_office", "code": "Z2", "name": "x",
                                 "level": "zone", "parent": "Z1"})],
    );
    env.append_rejected(&[
        json!({"type": "register_office", "code": "ABCDEFGHIJKLMNOPQ",
                                 "name": "x", "level": "zone"}),
    ]);
    // Serving a notice that does not exist; amounts must be > 0.
    env.append_rejected(&[serve("NO-SUCH-NOTICE", "2026-08-01", "hand")]);
    env.append_rejected(&[serve("NO-SUCH-NOTICE", "2026-08-01", "email")]);
    env.append_rejected(&[payment("NK-P2", "NK1", "0.00", "2026-08-01", "upi")]);
    env.append_rejected(&[bill("NK-B2", "NK1", "2026-08-05", "2026-08-20", "0.00")]);
    env.append_rejected(&[json!({"type": "raise_dispute", "account_no": "NK1",
                                 "on": "2026-08-01", "deposit": "0.00"})]);
    // Unknown command type and a missing required key.
    env.append_rejected(&[json!({"type": "pay_bill", "account_no": "NK1"})]);
    env.append_rejected(&[json!({"type": "receive_payment", "receipt_no": "NK-P3",
        "account_no": "NK1", "amount": "10.00", "paid_on": "2026-08-01"})]);
}

/// Bad flag values are usage errors (exit 2); every export line is one JSON object.
#[test]
fn usage_errors_and_export_shape() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("UE1", "domestic", "S1", None),
        bill("UE-B1", "UE1", "2026-07-05", "2026-07-20", "1000.00"),
    ]);
    env.nightly("2026-08-01");
    for args in [
        vec!["rankings", "--period", "2026-08", "--level", "zone"],
        vec!["rankings", "--period", "2026-13", "--level", "circle"],
        vec!["rankings", "--period", "FY2026", "--level", "circle"],
        vec!["worklist", "--office", "Z1", "--kind", "bogus"],
        vec!["nightly", "--as-of", "2026-02-30"],
        vec!["defaulters", "--office", "Z1", "--stage", "bogus"],
    ] {
        assert_eq!(env.run(&args).status.code(), Some(2), "{args:?}");
    }
    let f = env.write("x", "csv", "code,name,level,parent\n");
    assert_eq!(
        env.run(&["import", "widgets", f.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    assert!(!env
        .run(&["defaulters", "--office", "NOPE"])
        .status
        .success());
    assert!(!env
        .run(&["statement", "--account", "NOPE"])
        .status
        .success());
    let export = String::from_utf8(env.export()).unwrap();
    let lines: Vec<&str> = export.lines().collect();
    assert!(lines.len() >= 9, "7 offices, a consumer and a bill");
    for l in lines {
        let v: Value = serde_json::from_str(l).expect("export line is JSON");
        assert!(v.is_object());
    }
}

// ---------------------------------------------------------------------------------------------
// Line numbers, as-of semantics, catch-up, officer actions
// ---------------------------------------------------------------------------------------------

/// Error lines are physical lines: a quoted field spanning two lines moves later rows down.
#[test]
fn import_error_lines_count_quoted_newlines() {
    let env = Env::new();
    env.offices();
    // Physical lines: 1 header, 2–3 the quoted multi-line name of A1, 4 A2 (bad), 5 A3 (bad).
    let (path, out) = env.import(
        "consumers",
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
         A1,\"Ram\nPrasad\",domestic,S1,1,2025-01-01,,hi\n\
         A2,Sita,residential,S1,1,2025-01-01,,hi\n\
         A3,Gita,domestic,S1,1,2025-01-01,,xx\n",
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        err.lines()
            .any(|l| l.contains(&format!("{name}:4")) && l.contains("category")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains(&format!("{name}:5")) && l.contains("language")),
        "{err}"
    );
}

/// Error lines are physical lines also in a file with CRLF line endings (as Excel on Windows
/// writes CSV): the bad row on physical line 3 is reported as FILE:3.
#[test]
fn import_error_lines_with_crlf_line_endings() {
    let env = Env::new();
    let (path, out) = env.import(
        "offices",
        "code,name,level,parent\r\nZ1,Zone,zone,\r\nZ2,Bad zone,state,\r\nZ3,Bad zone,state,\r\n",
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(err.contains(&format!("{name}:3: level")), "{err}");
    assert!(err.contains(&format!("{name}:4: level")), "{err}");
    assert!(!err.contains(&format!("{name}:2")), "{err}");
}

/// Error lines are physical lines also when the file has an empty line between rows.
#[test]
fn import_error_lines_after_an_empty_line() {
    let env = Env::new();
    let (path, out) = env.import(
        "offices",
        "code,name,level,parent\nZ1,Zone,zone,\n\nZ2,Bad zone,state,\n",
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(err.contains(&format!("{name}:4: level")), "{err}");
}

/// Lists are as of the last nightly run's date: an event dated later does not count until a
/// run reaches its date; an event dated earlier counts.
#[test]
fn lists_count_only_events_dated_up_to_the_run() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("AS1", "domestic", "S1", None),
        bill("AS-B1", "AS1", "2026-07-05", "2026-07-20", "1000.00"),
    ]);
    env.nightly("2026-08-01");
    env.append_ok(&[payment("AS-P1", "AS1", "300.00", "2026-08-10", "upi")]);
    env.nightly("2026-08-05");
    // 2026-08-10 > 2026-08-05: not counted, and not the last payment yet.
    let r = row(&env.defaulters("Z1"), "AS1").clone();
    assert_eq!(r["overdue_arrears"], "1000.00");
    assert_eq!(r["last_payment_on"], "");
    env.append_ok(&[payment("AS-P0", "AS1", "100.00", "2026-08-03", "upi")]);
    env.nightly("2026-08-06");
    let r = row(&env.defaulters("Z1"), "AS1").clone();
    assert_eq!(r["overdue_arrears"], "900.00");
    assert_eq!(r["last_payment_on"], "2026-08-03");
    env.nightly("2026-08-10");
    let r = row(&env.defaulters("Z1"), "AS1").clone();
    assert_eq!(r["overdue_arrears"], "600.00");
    assert_eq!(r["last_payment_on"], "2026-08-10");
    assert_eq!(r["last_payment_amount"], "300.00");
}

/// The state as of D is a pure function of the events dated ≤ D: running nightly every day or
/// only on a few days gives the same defaulter list (notice numbers included), and `rebuild`
/// changes nothing.
#[test]
fn daily_and_sparse_nightly_runs_agree_and_rebuild_changes_nothing() {
    let build = || {
        let env = Env::new();
        env.offices();
        env.append_ok(&[
            consumer("A1", "domestic", "S1", Some("9876543210")),
            consumer("A2", "domestic", "S2", None),
            bill("B1", "A1", "2026-07-05", "2026-07-20", "1200.00"),
            bill("B2", "A1", "2026-08-05", "2026-08-20", "1500.00"),
            payment("P1", "A1", "700.00", "2026-08-10", "upi"),
            bill("B3", "A2", "2026-07-10", "2026-07-25", "3000.00"),
            payment("P2", "A2", "500.00", "2026-09-05", "bbps"),
        ]);
        env
    };
    // Notice numbers depend on the date a notice was issued, which differs between the two
    // histories for A2; every other column must agree.
    let strip = |rows: Vec<Row>| -> Vec<Row> {
        rows.into_iter()
            .map(|mut r| {
                r.remove("notice_no");
                r
            })
            .collect()
    };
    let days = |from: &str, to: &str| -> Vec<String> {
        let a = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap();
        let b = chrono::NaiveDate::parse_from_str(to, "%Y-%m-%d").unwrap();
        a.iter_days()
            .take_while(|d| *d <= b)
            .map(|d| d.to_string())
            .collect()
    };
    let daily = build();
    let sparse = build();
    for d in days("2026-08-15", "2026-08-23") {
        daily.nightly(&d);
    }
    sparse.nightly("2026-08-21");
    let notice = row(&sparse.defaulters("Z1"), "A1")["notice_no"].clone();
    assert_eq!(row(&daily.defaulters("Z1"), "A1")["notice_no"], notice);
    for env in [&daily, &sparse] {
        env.append_ok(&[serve(&notice, "2026-08-24", "hand")]);
    }
    for d in days("2026-08-24", "2026-09-30") {
        daily.nightly(&d);
    }
    sparse.nightly("2026-09-30");
    let d = daily.csv(&["defaulters", "--office", "Z1"]);
    assert_eq!(
        strip(d.1.clone()),
        strip(sparse.defaulters("Z1")),
        "daily and sparse runs disagree"
    );
    // Worked example figures for A1 as of 2026-09-30.
    assert_eq!(row(&d.1, "A1")["overdue_arrears"], "2031.25");
    assert_eq!(row(&d.1, "A1")["stage"], "disconnection_due");
    // A2: 3000 due 07-25; levies 08-25 37.50 and 09-25 (3000 − 500) × 1.25% = 31.25 →
    // 3000 + 37.50 + 31.25 − 500 = 2568.75.
    assert_eq!(row(&d.1, "A2")["overdue_arrears"], "2568.75");
    assert_eq!(row(&d.1, "A2")["stage"], "notice_issued");
    daily.ok(&["rebuild"]);
    assert_eq!(daily.csv(&["defaulters", "--office", "Z1"]), d);
    assert_eq!(
        daily.worklist("Z1", "disconnection"),
        sparse.worklist("Z1", "disconnection")
    );
}

/// Officer actions are checked against the consumer's state: reconnection while arrears are
/// unpaid (s.56(1)), a recovery certificate without permanent disconnection, serving before the
/// notice was issued, a second disconnection, a second dispute, and references to unknown bills,
/// receipts, camps and grievances are all rejected.
#[test]
fn officer_actions_are_checked_against_state() {
    let (env, notices) = ladder_env(
        None,
        &[
            ("OA1", "domestic", "2000.00"),
            ("OA2", "domestic", "2000.00"),
        ],
    );
    env.append_rejected(&[serve(&notices["OA1"], "2026-02-18", "hand")]);
    env.append_rejected(&[
        json!({"type": "issue_recovery_certificate", "account_no": "OA2",
                                 "rc_no": "RC-X", "on": "2026-02-20"}),
    ]);
    env.append_rejected(&[json!({"type": "resolve_dispute", "account_no": "OA2",
                                 "on": "2026-02-20"})]);
    env.append_rejected(
        &[json!({"type": "resolve_grievance", "grievance_id": "NOPE",
                                 "resolved_on": "2026-02-20", "note": "x"})],
    );
    env.append_rejected(&[json!({"type": "hold_camp", "camp_id": "NOPE",
                                 "held_on": "2026-02-20", "officers_present": ["SDO"]})]);
    env.append_rejected(&[json!({"type": "revise_bill", "bill_no": "NOPE",
        "revised_on": "2026-02-20", "new_amount": "1.00", "reason": "x"})]);
    env.append_rejected(&[json!({"type": "register_grievance", "grievance_id": "GX",
        "subdivision": "S1", "category": "noise", "registered_on": "2026-02-20"})]);
    env.append_ok(&[
        serve(&notices["OA1"], "2026-02-21", "hand"),
        serve(&notices["OA2"], "2026-02-21", "hand"),
    ]);
    env.nightly("2026-03-09");
    env.append_ok(&[
        disconnect("OA1", "2026-03-09", "DO-1"),
        disconnect("OA2", "2026-03-09", "DO-2"),
    ]);
    // OA1 still owes 2025.00: supply stays off until paid.
    env.append_rejected(&[json!({"type": "reconnect", "account_no": "OA1", "on": "2026-03-10"})]);
    // A partial payment is not enough either.
    env.append_ok(&[payment("OA1-P", "OA1", "1000.00", "2026-03-10", "upi")]);
    env.append_rejected(&[json!({"type": "reconnect", "account_no": "OA1", "on": "2026-03-11"})]);
    // Disconnecting a disconnected consumer.
    env.append_rejected(&[disconnect("OA2", "2026-03-10", "DO-3")]);
    // One dispute at a time.
    env.append_ok(&[
        json!({"type": "raise_dispute", "account_no": "OA2", "on": "2026-03-10",
                           "deposit": "10.00"}),
    ]);
    env.append_rejected(&[json!({"type": "raise_dispute", "account_no": "OA2",
                                 "on": "2026-03-11", "deposit": "10.00"})]);
    // A receipt reversed once cannot be reversed again on another date.
    env.append_ok(&[json!({"type": "reverse_payment", "receipt_no": "OA1-P",
                           "reversed_on": "2026-03-12", "reason": "chargeback"})]);
    env.append_rejected(&[json!({"type": "reverse_payment", "receipt_no": "OA1-P",
                                 "reversed_on": "2026-03-13", "reason": "again"})]);
    // Recovery certificate still needs permanent disconnection.
    env.append_rejected(&[
        json!({"type": "issue_recovery_certificate", "account_no": "OA2",
                                 "rc_no": "RC-Y", "on": "2026-03-12"}),
    ]);
}

/// Permanently disconnected consumers are not active: they leave the campaign counts, the
/// no_mobile worklist and the mobile-coverage denominator of the rankings.
#[test]
fn permanently_disconnected_consumers_leave_coverage() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("PD1", "domestic", "S1", None),
        consumer("OK1", "domestic", "S1", Some("9876543210")),
        consumer("NM1", "domestic", "S2", None),
        bill("PD1-B", "PD1", "2025-01-05", "2025-01-20", "20000.00"),
    ]);
    env.nightly("2025-02-19");
    let n = row(&env.defaulters("Z1"), "PD1")["notice_no"].clone();
    env.append_ok(&[serve(&n, "2025-02-21", "hand")]);
    env.nightly("2025-03-09");
    env.append_ok(&[disconnect("PD1", "2025-03-09", "DO-1")]);
    // 2025-03-09 + 180 days = 2025-09-05.
    env.nightly("2025-09-05");
    env.append_ok(&[
        json!({"type": "permanently_disconnect", "account_no": "PD1",
                           "on": "2025-09-06"}),
    ]);
    env.append_ok(&[
        bill("OK1-B", "OK1", "2026-08-01", "2026-08-15", "100.00"),
        payment("OK1-P", "OK1", "100.00", "2026-08-10", "upi"),
    ]);
    env.nightly("2026-09-01");
    let camp = env.rows(&["campaign", "--office", "Z1"]);
    let s1 = by_office(&camp, "S1");
    assert_eq!(
        (
            s1["active_consumers"].as_str(),
            s1["with_mobile"].as_str(),
            s1["mobile_coverage_pct"].as_str()
        ),
        ("1", "1", "100.00")
    );
    assert_eq!(
        accounts(&env.worklist("Z1", "no_mobile")),
        vec!["NM1"],
        "PD1 is not active"
    );
    // S1 for 2026-08: billed 100.00, collected 100.00 (upi); mobiles OK1 of OK1 = 100.00.
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "subdivision"]);
    let s1 = by_office(&rows, "S1");
    assert_eq!(s1["mobile_coverage_pct"], "100.00");
}

/// Ranking details: debit adjustments are not billed but are principal arrears from the day
/// posted; credit adjustments are not collected but lower arrears; a reversal dated in P of an
/// earlier payment lowers collected; a revision in P of an earlier bill lowers billed; a bill due
/// on P's eve is not yet in the opening arrears. Quarters (Q1 = April–June) and financial years
/// work, and most_improved compares with the previous quarter.
#[test]
fn rankings_adjustments_boundaries_and_quarters() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("AJ1", "domestic", "S1", Some("9876543210")),
        consumer("QB1", "domestic", "S2", Some("9876543211")),
        bill("JB1", "AJ1", "2026-07-20", "2026-07-31", "1000.00"),
        payment("JP0", "AJ1", "100.00", "2026-07-25", "counter_cash"),
        json!({"type": "reverse_payment", "receipt_no": "JP0", "reversed_on": "2026-08-05",
               "reason": "cheque bounced"}),
        json!({"type": "post_adjustment", "adjustment_no": "JA1", "account_no": "AJ1",
               "posted_on": "2026-08-10", "amount": "300.00", "reason": "meter tampering"}),
        json!({"type": "post_adjustment", "adjustment_no": "JA2", "account_no": "AJ1",
               "posted_on": "2026-08-12", "amount": "-200.00", "reason": "waiver"}),
        bill("JB2", "AJ1", "2026-08-01", "2026-08-16", "500.00"),
        payment("JP1", "AJ1", "400.00", "2026-08-20", "counter_cash"),
        json!({"type": "revise_bill", "bill_no": "JB1", "revised_on": "2026-08-25",
               "new_amount": "900.00", "reason": "reading corrected"}),
        bill("QB-1", "QB1", "2026-05-01", "2026-05-15", "1000.00"),
        payment("QP-1", "QB1", "500.00", "2026-05-10", "upi"),
        bill("QB-2", "QB1", "2026-08-01", "2026-08-15", "1000.00"),
        payment("QP-2", "QB1", "1000.00", "2026-08-10", "upi"),
    ]);
    // July, S1: billed 1000.00; collected 100.00 → 10.00; opening (06-30) 0 → null; closing as
    // of 07-31: JB1 is due 07-31, not overdue; the 100.00 credit → 0.00; digital 0.00;
    // mobiles 100.00. Score (40×0.10 + 10×0 + 10×1) / 60 = 23.33. S2 billed 0 → not ranked.
    let rows = env.rows(&["rankings", "--period", "2026-07", "--level", "subdivision"]);
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &["2026-07,subdivision,1,S1,Raipur,1000.00,100.00,10.00,0.00,0.00,,0.00,100.00,,23.33"]
        )
    );
    // August, S1: billed 500 + (900 − 1000) = 400.00; collected 400 − 100 = 300.00 → 75.00;
    // opening as of 07-31: JB1 not overdue → 0.00 → reduction null; closing as of 08-31:
    // 900 + 300 + 500 − 200 − 400 = 1100.00; digital 0.00; mobiles 100.00;
    // score (30 + 0 + 10) / 60 = 66.67.
    // August, S2: billed 1000, collected 1000 → 100.00; opening 500.00, closing 500.00 →
    // reduction 0.00; digital 100.00; mobiles 100.00; score (40 + 0 + 10 + 10) / 85 = 70.59.
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "subdivision"]);
    assert_eq!(
        rows,
        csv_rows(
            RANKING_COLUMNS,
            &[
                "2026-08,subdivision,1,S2,प्रेमनगर,1000.00,1000.00,100.00,500.00,500.00,0.00,100.00,100.00,,70.59",
                "2026-08,subdivision,2,S1,Raipur,400.00,300.00,75.00,0.00,1100.00,,0.00,100.00,,66.67",
            ]
        )
    );
    // FY2026-27-Q2 (July–September), S1: billed 1000 + 400 = 1400.00, collected 100 + 300 =
    // 400.00. FY2026-27, S2: billed 2000.00, collected 1500.00.
    let q2 = env.rows(&[
        "rankings",
        "--period",
        "FY2026-27-Q2",
        "--level",
        "subdivision",
    ]);
    let s1 = by_office(&q2, "S1");
    assert_eq!(
        (s1["billed"].as_str(), s1["collected"].as_str()),
        ("1400.00", "400.00")
    );
    let fy = env.rows(&[
        "rankings",
        "--period",
        "FY2026-27",
        "--level",
        "subdivision",
    ]);
    let s2 = by_office(&fy, "S2");
    assert_eq!(
        (s2["billed"].as_str(), s2["collected"].as_str()),
        ("2000.00", "1500.00")
    );
    // Q1 (April–June), S2: billed 1000, collected 500 → 50.00; opening (03-31) 0 → null; digital
    // 100; mobiles 100 → (20 + 10 + 10) / 60 = 66.67. Q2, S2: billed 1000, collected 1000;
    // opening (06-30) 500.00, closing (09-30) 500.00 → 0.00; → (40 + 0 + 10 + 10) / 85 = 70.59.
    let q1 = env.rows(&[
        "rankings",
        "--period",
        "FY2026-27-Q1",
        "--level",
        "subdivision",
    ]);
    assert_eq!(
        q1.iter()
            .map(|r| (r["office_code"].as_str(), r["score"].as_str()))
            .collect::<Vec<_>>(),
        vec![("S2", "66.67")]
    );
    assert_eq!(by_office(&q2, "S2")["score"], "70.59");
    // Awards for Q2 at subdivision level: S2 gold, +3.92 (70.588 − 66.667); S1 silver, not ranked
    // in Q1; most_improved S2.
    let aw = env.rows(&["awards", "--period", "FY2026-27-Q2"]);
    let sub: BTreeSet<(String, String, String)> = aw
        .iter()
        .filter(|r| r["level"] == "subdivision")
        .map(|r| {
            (
                r["award"].clone(),
                r["office_code"].clone(),
                r["score_change"].clone(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("gold", "S2", "3.92"),
        ("silver", "S1", ""),
        ("most_improved", "S2", "3.92"),
    ]
    .iter()
    .map(|(a, o, c)| (a.to_string(), o.to_string(), c.to_string()))
    .collect();
    assert_eq!(sub, want);
}

/// An instalment plan counts only payments since its grant, and is checked against every
/// instalment due on or before D − 15 days.
#[test]
fn installment_plan_counts_payments_since_grant() {
    let (env, notices) = ladder_env(
        None,
        &[
            ("IP5", "domestic", "3000.00"),
            ("IP6", "domestic", "3000.00"),
        ],
    );
    env.append_ok(&[
        serve(&notices["IP5"], "2026-02-21", "hand"),
        serve(&notices["IP6"], "2026-02-21", "hand"),
        payment("IP6-P", "IP6", "500.00", "2026-02-28", "upi"),
        json!({"type": "grant_installment_plan", "plan_id": "PL5", "account_no": "IP5",
               "granted_on": "2026-03-01",
               "installments": [{"due_on": "2026-03-15", "amount": "1000.00"},
                                {"due_on": "2026-04-15", "amount": "1000.00"}]}),
        json!({"type": "grant_installment_plan", "plan_id": "PL6", "account_no": "IP6",
               "granted_on": "2026-03-01",
               "installments": [{"due_on": "2026-03-15", "amount": "500.00"}]}),
        payment("IP5-P", "IP5", "1000.00", "2026-03-14", "upi"),
    ]);
    // 2026-03-30: D − 15 = 03-15. IP5 paid 1000 since the grant ≥ 1000 due → in force.
    // IP6 paid 500 before the grant, 0 since → broken.
    env.nightly("2026-03-30");
    let list = env.defaulters("Z1");
    assert_eq!(holds(row(&list, "IP5")), vec!["installment_plan"]);
    assert!(holds(row(&list, "IP6")).is_empty());
    assert_eq!(accounts(&env.worklist("Z1", "disconnection")), vec!["IP6"]);
    // IP5 as of 03-30: 3000 + 37.50 (02-20) + 25.00 (03-20 on 2000 unpaid) − 1000 = 2062.50.
    assert_eq!(row(&list, "IP5")["overdue_arrears"], "2062.50");
    // 2026-04-29: D − 15 = 04-14 → still only 1000 due → in force.
    env.nightly("2026-04-29");
    assert_eq!(
        holds(row(&env.defaulters("Z1"), "IP5")),
        vec!["installment_plan"]
    );
    // 2026-04-30: D − 15 = 04-15 → 2000 due, 1000 paid → broken.
    env.nightly("2026-04-30");
    assert!(holds(row(&env.defaulters("Z1"), "IP5")).is_empty());
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        vec!["IP6", "IP5"]
    );
}

// ---------------------------------------------------------------------------------------------
// SMS sending, tokens
// ---------------------------------------------------------------------------------------------

/// A local HTTP gateway answering every request with `status`; returns its URL and a request
/// counter.
fn gateway(status: u16) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
        }
    });
    (url, hits)
}

/// Notices, disconnections, payments and reconnections each queue a message for a consumer with
/// a mobile; `sms send` delivers queued messages to the gateway, records the attempts as events
/// and marks them sent; a failing gateway leaves them failed.
#[test]
fn sms_follow_the_ladder_and_are_sent() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("SM1", "domestic", "S1", Some("9876543210")),
        bill("SM-B1", "SM1", "2026-01-05", "2026-01-20", "2000.00"),
    ]);
    let count = |env: &Env| {
        let (header, rows) = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox"]));
        let _ = header;
        rows.iter()
            .filter(|r| r.values().any(|v| v == "SM1" || v.contains("SM1")))
            .count()
    };
    env.nightly("2026-01-05");
    let c0 = count(&env);
    assert!(c0 >= 1, "bill message on its issue date");
    env.nightly("2026-02-19");
    let c1 = count(&env);
    assert!(c1 > c0, "notice message");
    let n = row(&env.defaulters("Z1"), "SM1")["notice_no"].clone();
    env.append_ok(&[serve(&n, "2026-02-21", "hand")]);
    env.nightly("2026-03-09");
    // Each event below is dated after the last run, so the next run is the first to see it.
    env.append_ok(&[disconnect("SM1", "2026-03-10", "DO-1")]);
    let c2 = count(&env);
    env.nightly("2026-03-10");
    let c3 = count(&env);
    assert!(c3 > c2, "disconnection message");
    env.append_ok(&[payment("SM-P1", "SM1", "2025.00", "2026-03-11", "upi")]);
    env.nightly("2026-03-11");
    let c4 = count(&env);
    assert!(c4 > c3, "payment receipt");
    env.append_ok(&[json!({"type": "reconnect", "account_no": "SM1", "on": "2026-03-12"})]);
    env.nightly("2026-03-12");
    let c5 = count(&env);
    assert!(c5 > c4, "reconnection message");

    let (url, hits) = gateway(200);
    let before = env.export().iter().filter(|b| **b == b'\n').count();
    env.ok(&["sms", "send", "--gateway", &url]);
    let after = env.export().iter().filter(|b| **b == b'\n').count();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), c5);
    assert!(after >= before + c5, "each attempt is recorded as an event");
    let (_, queued) =
        parse_csv(&env.ok(&["--format", "csv", "sms", "outbox", "--status", "queued"]));
    assert!(queued.is_empty());
    let (_, sent) = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox", "--status", "sent"]));
    assert_eq!(sent.len(), c5);

    // A gateway that always fails: the message ends up failed after retries.
    env.append_ok(&[bill("SM-B2", "SM1", "2026-03-20", "2026-04-05", "100.00")]);
    env.nightly("2026-03-20");
    let (url, hits) = gateway(500);
    let _ = env.run(&["sms", "send", "--gateway", &url]);
    assert!(
        hits.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "retried"
    );
    let (_, failed) =
        parse_csv(&env.ok(&["--format", "csv", "sms", "outbox", "--status", "failed"]));
    assert_eq!(failed.len(), 1);
}

/// `tokens create` prints the new token alone on one line of stdout, once; `tokens list` never
/// shows it; `tokens revoke` removes it from the list.
#[test]
fn tokens_are_printed_once() {
    let env = Env::new();
    env.offices();
    let out = env.ok(&["tokens", "create", "--role", "hq", "--name", "hq-desk"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let token = lines[0].trim();
    assert!(token.len() >= 16 && !token.contains(' '));
    let out = env.ok(&[
        "tokens",
        "create",
        "--role",
        "officer",
        "--office",
        "S1",
        "--name",
        "sdo-raipur",
    ]);
    assert_eq!(out.lines().count(), 1);
    let list = env.ok(&["tokens", "list"]);
    assert!(list.contains("hq-desk") && list.contains("sdo-raipur"));
    assert!(!list.contains(token));
    env.ok(&["tokens", "revoke", "hq-desk"]);
    assert!(!env.ok(&["tokens", "list"]).contains("hq-desk"));
}

/// §11: the nightly run queues a message for each disconnection and each payment receipt, with
/// deterministic ids so that nothing is queued twice. A disconnection recorded on the day of the
/// run that listed it (dated that day, appended after the run) and a payment dated before the
/// last run but recorded after it still get their messages at the next run.
#[test]
fn sms_for_events_recorded_after_their_days_run() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("SL1", "domestic", "S1", Some("9876543210")),
        bill("SL-B1", "SL1", "2026-01-05", "2026-01-20", "2000.00"),
    ]);
    let count = |env: &Env| {
        let (_, rows) = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox"]));
        rows.iter()
            .filter(|r| r.values().any(|v| v.contains("SL1")))
            .count()
    };
    env.nightly("2026-02-19");
    let n = row(&env.defaulters("Z1"), "SL1")["notice_no"].clone();
    env.append_ok(&[serve(&n, "2026-02-21", "hand")]);
    // The 2026-03-09 run lists SL1 for disconnection; the lineman disconnects that day.
    env.nightly("2026-03-09");
    env.append_ok(&[disconnect("SL1", "2026-03-09", "DO-1")]);
    let before = count(&env);
    env.nightly("2026-03-10");
    let disconnection_queued = count(&env) > before;
    // A payment taken at the counter on 2026-03-15 and posted after that night's run.
    env.nightly("2026-03-15");
    env.append_ok(&[payment(
        "SL-P1",
        "SL1",
        "10.00",
        "2026-03-15",
        "counter_cash",
    )]);
    let before = count(&env);
    env.nightly("2026-03-16");
    let receipt_queued = count(&env) > before;
    assert!(
        disconnection_queued && receipt_queued,
        "disconnection message queued: {disconnection_queued}; receipt queued: {receipt_queued}"
    );
}

/// `verify` exits 1 and names a bad position when stored event bytes are damaged.
#[test]
fn verify_detects_damaged_bytes() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[consumer("VD1", "domestic", "S1", None)]);
    assert_eq!(env.run(&["verify"]).status.code(), Some(0));
    // The store is a sled database somewhere under the data directory, with the log's events
    // in a file beside it (`chunks`) or, in logs made before that file, in its largest stored
    // values. Damage one byte in the middle of them.
    let db_dir = fs::read_dir(env.data())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("conf").exists())
        .unwrap_or_else(|| env.data());
    let chunks = db_dir.join("chunks");
    if fs::metadata(&chunks).is_ok_and(|m| m.len() > 100) {
        let mut bytes = fs::read(&chunks).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        fs::write(&chunks, bytes).unwrap();
    } else {
        let db = sled::open(&db_dir).expect("open sled");
        let mut largest: Option<(sled::Tree, sled::IVec, Vec<u8>)> = None;
        for name in db.tree_names() {
            let tree = db.open_tree(&name).unwrap();
            for kv in tree.iter() {
                let (k, v) = kv.unwrap();
                if largest.as_ref().is_none_or(|(_, _, b)| v.len() > b.len()) {
                    largest = Some((tree.clone(), k, v.to_vec()));
                }
            }
        }
        let (tree, key, mut bytes) = largest.expect("a stored value");
        assert!(bytes.len() > 100);
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        tree.insert(key, bytes).unwrap();
        db.flush().unwrap();
    }
    let out = env.run(&["verify"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.chars().any(|c| c.is_ascii_digit()),
        "no position named: {err}"
    );
}

/// A missing column is reported on line 1 with its name; a row with too few fields is reported on
/// its line; `VASOOLI_DATA` stands in for `--data`.
#[test]
fn import_header_problems_and_data_env_var() {
    let env = Env::new();
    env.offices();
    let (path, out) = env.import(
        "bills",
        "bill_no,account_no,period,issued_on,amount\nB1,A1,2026-03,2026-03-01,100.00\n",
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        err.contains(&format!("{name}:1")) && err.contains("due_on"),
        "{err}"
    );
    let (path, out) = env.import(
        "payments",
        "receipt_no,account_no,amount,paid_on,channel\nP1,A1,10.00,2026-03-01\n",
    );
    let name = path.file_name().unwrap().to_str().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{name}:2")));
    // The same data directory through the environment variable.
    let out = Command::new(BIN)
        .env("VASOOLI_DATA", env.data())
        .current_dir(env.tmp.path())
        .args(["--format", "csv", "campaign", "--office", "Z1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows.len(), 3, "S1, S2, S3");
}

/// §3: at most 2 decimal places on input; a third decimal is a validation error. `100.000` has
/// three decimal places as written.
#[test]
fn amounts_with_trailing_zero_decimals_are_rejected() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[consumer("TZ1", "domestic", "S1", None)]);
    let before = env.export();
    let (_, out) = env.import(
        "bills",
        "bill_no,account_no,period,issued_on,due_on,amount\nTZ-B1,TZ1,2026-03,2026-03-01,2026-03-15,100.000\n",
    );
    let import_rejected = out.status.code() == Some(3) && env.export() == before;
    let (_, out) = env.append(&[bill("TZ-B2", "TZ1", "2026-03-01", "2026-03-15", "10.10000")]);
    let append_rejected = out.status.code() == Some(3);
    assert!(
        import_rejected && append_rejected,
        "import rejected: {import_rejected}; append rejected: {append_rejected}"
    );
}

/// An unknown policy key is a usage error reported like other input files: FILE:LINE and the key.
#[test]
fn unknown_policy_key_error_names_file_line_and_key() {
    let env = Env::with_policy("[lps]\nmonthly_rate_percent = \"1.25\"\nmonthly_rate = \"2\"\n");
    let out = env.run(&["policy", "show"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy-file.toml:3"), "{err}");
    assert!(err.contains("monthly_rate"), "{err}");
}

/// Ranks compare unrounded scores: 66.6733 beats 66.6667 although both print as 66.67 and the
/// lower one has the higher collection efficiency and the lower code. most_improved compares a
/// first quarter with the last quarter of the previous financial year.
#[test]
fn rankings_compare_unrounded_scores_and_quarters_across_years() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("UR1", "domestic", "S1", None),
        consumer("UR2", "domestic", "S2", None),
        consumer("UR3", "domestic", "S3", None),
        // S1: efficiency 100, digital 0, no mobiles → 40 / 60 = 66.6667.
        bill("UR1-B", "UR1", "2026-08-01", "2026-08-15", "1000.00"),
        payment("UR1-P", "UR1", "1000.00", "2026-08-10", "counter_cash"),
        // S2: efficiency 7501 / 10000 = 75.01, digital 100 → (30.004 + 10) / 60 = 66.6733.
        bill("UR2-B", "UR2", "2026-08-01", "2026-08-15", "10000.00"),
        payment("UR2-P", "UR2", "7501.00", "2026-08-10", "upi"),
        // S3: FY2025-26-Q4 bill 1000.00, 500.00 cash → 50.00 → 20 / 60 = 33.33;
        //     FY2026-27-Q1 bill 1000.00, 1000.00 cash → 100.00; opening (2026-03-31) 500.00,
        //     closing (2026-06-30) 500.00 → reduction 0.00 → 40 / 85 = 47.06; gain 13.73.
        bill("UR3-B1", "UR3", "2026-02-01", "2026-02-15", "1000.00"),
        payment("UR3-P1", "UR3", "500.00", "2026-02-10", "counter_cash"),
        bill("UR3-B2", "UR3", "2026-05-01", "2026-05-15", "1000.00"),
        payment("UR3-P2", "UR3", "1000.00", "2026-05-10", "counter_cash"),
    ]);
    let rows = env.rows(&["rankings", "--period", "2026-08", "--level", "subdivision"]);
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["rank"].as_str(),
                r["office_code"].as_str(),
                r["score"].as_str(),
            )
        })
        .collect();
    assert_eq!(got, vec![("1", "S2", "66.67"), ("2", "S1", "66.67")]);
    assert_eq!(by_office(&rows, "S2")["collection_efficiency_pct"], "75.01");

    let q4 = env.rows(&[
        "rankings",
        "--period",
        "FY2025-26-Q4",
        "--level",
        "subdivision",
    ]);
    assert_eq!(by_office(&q4, "S3")["score"], "33.33");
    let q1 = env.rows(&[
        "rankings",
        "--period",
        "FY2026-27-Q1",
        "--level",
        "subdivision",
    ]);
    let s3 = by_office(&q1, "S3");
    assert_eq!(
        (
            s3["opening_arrears"].as_str(),
            s3["closing_arrears"].as_str(),
            s3["arrears_reduction_pct"].as_str(),
            s3["score"].as_str()
        ),
        ("500.00", "500.00", "0.00", "47.06")
    );
    let aw = env.rows(&["awards", "--period", "FY2026-27-Q1"]);
    let sub: BTreeSet<(String, String, String)> = aw
        .iter()
        .filter(|r| r["level"] == "subdivision")
        .map(|r| {
            (
                r["award"].clone(),
                r["office_code"].clone(),
                r["score_change"].clone(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [("gold", "S3"), ("most_improved", "S3")]
        .iter()
        .map(|(a, o)| (a.to_string(), o.to_string(), "13.73".to_string()))
        .collect();
    assert_eq!(sub, want);
}
