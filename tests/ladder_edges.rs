//! Edge cases of the recovery ladder and its worklists, derived from the documented rules
//! (docs/RULES.md) alone and driven through the `vasooli` CLI exactly as docs/CLI.md names it.
//!
//! Most tests run under a small policy (`SMALL`) so that every step of the ladder happens within a
//! few weeks and the figures stay easy to check by hand:
//!
//! - `lps.monthly_rate_percent = 0`: every levy would be 0.00, and "a levy of 0.00 is not
//!   appended" (§5), so the arrears are the bills less the credits and nothing else;
//! - `notice.min_days_overdue = 10`, `notice.clear_days = 3`;
//! - `notice.threshold`: domestic 100.00, government 200.00;
//! - `permanent_disconnection.after_days = 20`, `recovery_certificate.min_arrears = 500.00`;
//! - `defaulters.min_overdue_arrears = 0.01`, so that anyone owing anything is listed.
//!
//! The common timeline: a bill issued 2026-03-01 and due 2026-03-10.
//!
//! - 2026-03-19: days overdue = 03-19 − 03-10 = 9 < 10 → no notice.
//! - 2026-03-20: days overdue = 10 ≥ 10 → a notice (`notice_issued` after the run).
//! - Served 2026-03-21 → disconnection allowed from 03-21 + 3 + 1 = 2026-03-25; on 03-24 the
//!   consumer stands at `notice_served`.
//! - Disconnected 2026-03-25 → `pd_due` from 03-25 + 20 days = 2026-04-14 (6 days to 03-31, then
//!   14 more); on 2026-04-13 (19 days) still `disconnected`.
//!
//! Each test has its own temporary data directory.

mod common;
use common::env::Env;
use common::{accounts, find, row, Row};

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// The office tree: Z1 → C1 → {D1 → {S1, S2}, D2 → {S3}}.
const OFFICES_CSV: &str = "code,name,level,parent\n\
Z1,Garhwal Zone,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Dehradun Division,division,C1\n\
D2,Rishikesh Division,division,C1\n\
S1,Raipur,subdivision,D1\n\
S2,Premnagar,subdivision,D1\n\
S3,Rishikesh Nagar,subdivision,D2\n";

/// The small policy described at the top of the file.
const SMALL: &str = r#"
[defaulters]
min_overdue_arrears = "0.01"

[lps]
monthly_rate_percent = "0"

[notice]
min_days_overdue = 10
clear_days = 3

[notice.threshold]
domestic = "100.00"
government = "200.00"

[permanent_disconnection]
after_days = 20

[recovery_certificate]
min_arrears = "500.00"
"#;

/// The `defaulters` columns of docs/CLI.md.
const DEFAULTER_COLUMNS: &str = "account_no,name,category,subdivision,division,circle,\
mobile_registered,overdue_arrears,oldest_due_on,days_overdue,aging_bucket,last_payment_on,\
last_payment_amount,stage,notice_no,notice_served_on,disconnection_allowed_on,hold";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The shared environment (`tests/common/env.rs`) with the helpers only these tests use.
impl Env {
    /// A fresh data directory with the given policy file and the standard offices.
    fn ladder(policy: &str) -> Env {
        let env = Env::with_policy(policy);
        let offices = env.write("offices", "csv", OFFICES_CSV);
        env.ok(&["import", "offices", offices.to_str().unwrap()]);
        env
    }

    /// The defaulter-list row of one consumer (it must be listed).
    fn listed(&self, account: &str) -> Row {
        row(&self.defaulters("Z1"), account).clone()
    }

    fn stage_listed(&self, account: &str) -> String {
        self.listed(account)["stage"].clone()
    }

    /// The stage from the consumer statement (docs/CLI.md: the statement shows the stage), for
    /// consumers who owe nothing and so are not on the defaulter list.
    fn statement_stage(&self, account: &str) -> String {
        let text = self.ok(&["--format", "json", "statement", "--account", account]);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        match v.get("stage") {
            Some(Value::String(s)) => s.clone(),
            other => panic!("no top-level `stage` in the statement of {account}: {other:?}"),
        }
    }

    /// How many times the (case- and underscore-insensitive) text occurs in the exported log.
    fn log_mentions(&self, needle: &str) -> usize {
        let norm = |s: &str| s.to_lowercase().replace('_', "");
        norm(&String::from_utf8(self.export()).expect("the export is UTF-8"))
            .matches(&norm(needle))
            .count()
    }
}

fn listed_on(rows: &[Row], account: &str) -> bool {
    find(rows, account).is_some()
}

/// The `hold` column split on `;` exactly as docs/CLI.md says (no trimming), as a set: the
/// docs do not fix the order of the names.
fn hold_set(r: &Row) -> BTreeSet<String> {
    if r["hold"].is_empty() {
        return BTreeSet::new();
    }
    r["hold"].split(';').map(String::from).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn consumer(account: &str, category: &str, sub: &str, i: usize) -> Value {
    json!({
        "type": "register_consumer", "account_no": account, "name": format!("Consumer {account}"),
        "category": category, "subdivision": sub, "load_kw": "2.5", "connected_on": "2025-01-01",
        "mobile": format!("98765{i:05}"),
    })
}

fn bill(no: &str, account: &str, issued: &str, due: &str, amount: &str) -> Value {
    json!({"type": "issue_bill", "bill_no": no, "account_no": account, "period": &issued[..7],
           "issued_on": issued, "due_on": due, "amount": amount})
}

fn payment(no: &str, account: &str, amount: &str, on: &str) -> Value {
    json!({"type": "receive_payment", "receipt_no": no, "account_no": account, "amount": amount,
           "paid_on": on, "channel": "upi"})
}

fn serve(notice: &str, on: &str) -> Value {
    json!({"type": "serve_notice", "notice_no": notice, "served_on": on, "mode": "hand"})
}

fn disconnect(account: &str, on: &str) -> Value {
    json!({"type": "disconnect", "account_no": account, "on": on,
           "order_no": format!("DO-{account}-{on}")})
}

fn reconnect(account: &str, on: &str) -> Value {
    json!({"type": "reconnect", "account_no": account, "on": on})
}

fn permanently_disconnect(account: &str, on: &str) -> Value {
    json!({"type": "permanently_disconnect", "account_no": account, "on": on})
}

fn issue_rc(account: &str, on: &str) -> Value {
    json!({"type": "issue_recovery_certificate", "account_no": account,
           "rc_no": format!("RC-{account}"), "on": on})
}

fn dispute(account: &str, on: &str, deposit: &str) -> Value {
    json!({"type": "raise_dispute", "account_no": account, "on": on, "deposit": deposit})
}

fn plan(id: &str, account: &str, granted_on: &str, installments: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = installments
        .iter()
        .map(|(due, amount)| json!({"due_on": due, "amount": amount}))
        .collect();
    json!({"type": "grant_installment_plan", "plan_id": id, "account_no": account,
           "granted_on": granted_on, "installments": list})
}

/// Registers each `(account, category, subdivision, amount)` with one bill `BL-<account>` issued
/// 2026-03-01, due 2026-03-10 (the common timeline).
fn consumers_with_bills(env: &Env, who: &[(&str, &str, &str, &str)]) {
    let mut cmds = Vec::new();
    for (i, (acc, cat, sub, amount)) in who.iter().enumerate() {
        cmds.push(consumer(acc, cat, sub, i + 1));
        cmds.push(bill(
            &format!("BL-{acc}"),
            acc,
            "2026-03-01",
            "2026-03-10",
            amount,
        ));
    }
    env.append_ok(&cmds);
}

/// Runs the nightly of 2026-03-20 (10 days overdue: notice criteria met when the amount reaches
/// the threshold) and returns each listed consumer's notice number.
fn notices_on_0320(env: &Env, who: &[&str]) -> BTreeMap<String, String> {
    env.nightly("2026-03-20");
    let list = env.defaulters("Z1");
    who.iter()
        .map(|acc| {
            let r = row(&list, acc);
            assert_eq!(r["stage"], "notice_issued", "{acc} on 2026-03-20: {r:?}");
            assert!(!r["notice_no"].is_empty(), "{acc} has no notice number");
            (acc.to_string(), r["notice_no"].clone())
        })
        .collect()
}

/// No consumer is ever left at the momentary `notice_due` after a run (§6).
fn no_notice_due(env: &Env) {
    let list = env.defaulters("Z1");
    assert!(
        list.iter().all(|r| r["stage"] != "notice_due"),
        "notice_due is momentary: {list:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rule 11: the case opens on exactly min_days_overdue and exactly the threshold
// ---------------------------------------------------------------------------------------------

/// Notice criteria: overdue arrears ≥ threshold and days overdue ≥ notice.min_days_overdue, both
/// inclusive, with the days counted from the oldest unpaid overdue charge.
#[test]
fn notice_opens_on_exactly_min_days_overdue_and_exactly_the_threshold() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("N1", "domestic", "S1", "150.00"),
            ("N2", "domestic", "S1", "100.00"), // exactly the threshold
            ("N3", "domestic", "S1", "99.99"),  // 0.01 below it
            ("N4", "domestic", "S2", "180.00"),
        ],
    );
    // N4 pays 80.01 before the due date: 180.00 − 80.01 = 99.99 < 100.00.
    env.append_ok(&[payment("N4-P", "N4", "80.01", "2026-03-05")]);

    // 2026-03-19: 03-19 − 03-10 = 9 days < 10 → no case for anyone.
    env.nightly("2026-03-19");
    let list = env.defaulters("Z1");
    for acc in ["N1", "N2", "N3", "N4"] {
        let r = row(&list, acc);
        assert_eq!(r["days_overdue"], "9", "{acc}");
        assert_eq!(r["stage"], "clear", "{acc} at 9 days: {r:?}");
        assert_eq!(r["notice_no"], "", "{acc} has a notice at 9 days");
    }
    assert!(env.worklist("Z1", "serve_notice").is_empty());

    // 2026-03-20: 10 days ≥ 10. N1 150.00 ≥ 100.00 and N2 100.00 ≥ 100.00 → notices;
    // N3 99.99 and N4 99.99 < 100.00 → clear.
    env.nightly("2026-03-20");
    no_notice_due(&env);
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "N1")["days_overdue"], "10");
    assert_eq!(row(&list, "N1")["stage"], "notice_issued");
    assert_eq!(row(&list, "N2")["stage"], "notice_issued");
    assert_eq!(row(&list, "N3")["stage"], "clear");
    assert_eq!(row(&list, "N4")["overdue_arrears"], "99.99");
    assert_eq!(row(&list, "N4")["stage"], "clear");
    assert_eq!(row(&list, "N3")["notice_no"], "");
    assert_eq!(row(&list, "N4")["notice_no"], "");
    let n1 = row(&list, "N1")["notice_no"].clone();
    let n2 = row(&list, "N2")["notice_no"].clone();
    assert!(!n1.is_empty() && !n2.is_empty());
    assert_ne!(n1, n2, "two cases share one notice number");
    // serve_notice: 150.00 before 100.00.
    let wl = env.worklist("Z1", "serve_notice");
    assert_eq!(accounts(&wl), strs(&["N1", "N2"]));
    assert!(wl.iter().all(|r| r["kind"] == "serve_notice"));
    assert_eq!(row(&wl, "N1")["notice_no"], n1);
}

// ---------------------------------------------------------------------------------------------
// Rules 9 and 10: served_on + clear_days + 1
// ---------------------------------------------------------------------------------------------

/// With clear_days = 3, a notice served 2026-03-21 allows disconnection from
/// 03-21 + 3 + 1 = 2026-03-25: on 03-24 the stage is notice_served, on 03-25 disconnection_due.
/// A disconnection dated 03-24 is refused, even when appended after the run of 03-25.
#[test]
fn disconnection_allowed_on_served_on_plus_clear_days_plus_one() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("D1", "domestic", "S1", "150.00"),
            ("D2", "domestic", "S1", "150.00"),
        ],
    );
    let n = notices_on_0320(&env, &["D1", "D2"]);
    // D2 is served on the day its notice was issued: 03-20 + 3 + 1 = 2026-03-24.
    env.append_ok(&[serve(&n["D1"], "2026-03-21"), serve(&n["D2"], "2026-03-20")]);

    env.nightly("2026-03-23");
    let d2 = env.listed("D2");
    assert_eq!(d2["stage"], "notice_served");
    assert_eq!(d2["notice_served_on"], "2026-03-20");
    assert_eq!(d2["disconnection_allowed_on"], "2026-03-24");
    assert!(env.worklist("Z1", "serve_notice").is_empty());

    env.nightly("2026-03-24");
    let d1 = env.listed("D1");
    assert_eq!(d1["stage"], "notice_served");
    assert_eq!(d1["notice_no"], n["D1"]);
    assert_eq!(d1["notice_served_on"], "2026-03-21");
    assert_eq!(d1["disconnection_allowed_on"], "2026-03-25");
    assert_eq!(env.stage_listed("D2"), "disconnection_due");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["D2"])
    );
    // 03-24 < 03-25: the clear days have not passed.
    env.append_rejected(&[disconnect("D1", "2026-03-24")]);

    env.nightly("2026-03-25");
    let d1 = env.listed("D1");
    assert_eq!(d1["stage"], "disconnection_due");
    assert_eq!(d1["disconnection_allowed_on"], "2026-03-25");
    // Both at 150.00 → account_no order.
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["D1", "D2"])
    );
    // The check is on the command's own date: a disconnection dated 03-24 is still refused.
    env.append_rejected(&[disconnect("D1", "2026-03-24")]);
    env.append_ok(&[disconnect("D1", "2026-03-25")]);
    env.nightly("2026-03-26");
    assert_eq!(env.stage_listed("D1"), "disconnected");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["D2"])
    );
}

// ---------------------------------------------------------------------------------------------
// Rules 4, 5, 6: disconnected, pd_due, reconnection_due
// ---------------------------------------------------------------------------------------------

/// Disconnected 2026-03-25 with after_days = 20: disconnected on 04-13 (19 days), pd_due on 04-14
/// (20 days). Rule 4 comes before rule 5: once the arrears are 0.00 (or a plan is in force), the
/// consumer is reconnection_due even though 20 days have passed. Arrears below the notice
/// threshold but above 0.00 keep a disconnected consumer disconnected (rule 7 is for connected
/// consumers only).
#[test]
fn disconnected_pd_due_at_after_days_and_reconnection_due_takes_precedence() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("R1", "domestic", "S1", "150.00"),
            ("R2", "domestic", "S1", "150.00"),
            ("R3", "domestic", "S1", "150.00"),
            ("R4", "domestic", "S1", "150.00"),
        ],
    );
    let n = notices_on_0320(&env, &["R1", "R2", "R3", "R4"]);
    env.append_ok(&[
        serve(&n["R1"], "2026-03-21"),
        serve(&n["R2"], "2026-03-21"),
        serve(&n["R3"], "2026-03-21"),
        serve(&n["R4"], "2026-03-21"),
    ]);
    env.nightly("2026-03-25");
    env.append_ok(&[
        disconnect("R1", "2026-03-25"),
        disconnect("R2", "2026-03-25"),
        disconnect("R3", "2026-03-25"),
        disconnect("R4", "2026-03-25"),
    ]);
    // R4 pays 100.00 on 03-30: 150.00 − 100.00 = 50.00 < 100.00 threshold, but > 0.00.
    env.append_ok(&[payment("R4-P", "R4", "100.00", "2026-03-30")]);

    env.nightly("2026-04-13");
    let list = env.defaulters("Z1");
    for acc in ["R1", "R2", "R3"] {
        assert_eq!(
            row(&list, acc)["stage"],
            "disconnected",
            "{acc} after 19 days"
        );
    }
    assert_eq!(row(&list, "R4")["overdue_arrears"], "50.00");
    assert_eq!(row(&list, "R4")["stage"], "disconnected");
    assert!(env.worklist("Z1", "permanent_disconnection").is_empty());
    assert!(env.worklist("Z1", "reconnection").is_empty());
    // 50.00 still owed: supply stays off until the sum is paid (s.56(1)).
    env.append_rejected(&[reconnect("R4", "2026-04-13")]);
    // Permanent disconnection needs after_days of disconnection: 19 days are not enough.
    env.append_rejected(&[permanently_disconnect("R1", "2026-04-13")]);

    // 2026-04-14 = 03-25 + 20 → pd_due for all four (R4 too: arrears 50.00 > 0.00).
    env.nightly("2026-04-14");
    let list = env.defaulters("Z1");
    for acc in ["R1", "R2", "R3", "R4"] {
        assert_eq!(row(&list, acc)["stage"], "pd_due", "{acc} after 20 days");
    }
    let pl = env.worklist("Z1", "permanent_disconnection");
    // 150.00 × 3 then 50.00; ties by account_no.
    assert_eq!(accounts(&pl), strs(&["R1", "R2", "R3", "R4"]));
    assert!(pl.iter().all(|r| r["kind"] == "permanent_disconnection"));

    // R1 pays 150.00 in full on 04-15, R2 gets a plan on 04-15, R3 pays 149.99.
    env.append_ok(&[
        payment("R1-P", "R1", "150.00", "2026-04-15"),
        plan("PL-R2", "R2", "2026-04-15", &[("2026-05-15", "150.00")]),
        payment("R3-P", "R3", "149.99", "2026-04-15"),
    ]);
    env.nightly("2026-04-15");
    // R1: 150.00 − 150.00 = 0.00 → rule 4 before rule 5 → reconnection_due.
    // R2: plan in force → reconnection_due (arrears 150.00 still owed).
    // R3: 0.01 left → still pd_due.
    let rl = env.worklist("Z1", "reconnection");
    assert_eq!(accounts(&rl), strs(&["R2", "R1"])); // 150.00 before 0.00
    assert_eq!(row(&rl, "R1")["overdue_arrears"], "0.00");
    assert_eq!(row(&rl, "R1")["stage"], "reconnection_due");
    assert_eq!(row(&rl, "R2")["overdue_arrears"], "150.00");
    assert_eq!(row(&rl, "R2")["stage"], "reconnection_due");
    assert!(rl.iter().all(|r| r["kind"] == "reconnection"));
    // R1 owes nothing: not a defaulter, but on the reconnection worklist.
    assert!(!listed_on(&env.defaulters("Z1"), "R1"));
    assert_eq!(env.statement_stage("R1"), "reconnection_due");
    assert_eq!(env.stage_listed("R3"), "pd_due");
    assert_eq!(env.listed("R3")["overdue_arrears"], "0.01");
    assert_eq!(
        accounts(&env.worklist("Z1", "permanent_disconnection")),
        strs(&["R4", "R3"]) // 50.00 before 0.01
    );

    // Reconnection with the arrears paid (R1) or a plan in force (R2) is allowed.
    env.append_ok(&[reconnect("R1", "2026-04-16"), reconnect("R2", "2026-04-16")]);
    env.nightly("2026-04-16");
    assert_eq!(env.statement_stage("R1"), "clear");
    assert!(env.worklist("Z1", "reconnection").is_empty());
    // Reconnecting a connected consumer is refused.
    env.append_rejected(&[reconnect("R1", "2026-04-17")]);
}

// ---------------------------------------------------------------------------------------------
// Rules 1, 2, 3: permanent disconnection and the recovery certificate
// ---------------------------------------------------------------------------------------------

/// rc_due needs arrears ≥ recovery_certificate.min_arrears (500.00 here, inclusive), re-decided
/// every night; rule 1 keeps rc_issued whatever the arrears; rule 3 comes before rule 4, so a
/// permanently disconnected consumer owing nothing is not reconnection_due.
#[test]
fn permanent_disconnection_rc_threshold_inclusive_and_rule_order() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("P1", "domestic", "S1", "500.00"), // exactly min_arrears
            ("P2", "domestic", "S1", "499.99"), // 0.01 below
            ("P3", "domestic", "S1", "800.00"),
        ],
    );
    let n = notices_on_0320(&env, &["P1", "P2", "P3"]);
    env.append_ok(&[
        serve(&n["P1"], "2026-03-21"),
        serve(&n["P2"], "2026-03-21"),
        serve(&n["P3"], "2026-03-21"),
    ]);
    env.nightly("2026-03-25");
    env.append_ok(&[
        disconnect("P1", "2026-03-25"),
        disconnect("P2", "2026-03-25"),
        disconnect("P3", "2026-03-25"),
    ]);
    env.nightly("2026-04-14"); // 03-25 + 20 → pd_due
    assert_eq!(env.stage_listed("P3"), "pd_due");
    // A recovery certificate needs a permanent disconnection first.
    env.append_rejected(&[issue_rc("P3", "2026-04-14")]);
    env.append_ok(&[
        permanently_disconnect("P1", "2026-04-14"),
        permanently_disconnect("P2", "2026-04-14"),
        permanently_disconnect("P3", "2026-04-14"),
    ]);

    env.nightly("2026-04-15");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "P1")["stage"], "rc_due"); // 500.00 ≥ 500.00
    assert_eq!(row(&list, "P2")["stage"], "permanently_disconnected"); // 499.99 < 500.00
    assert_eq!(row(&list, "P3")["stage"], "rc_due"); // 800.00 ≥ 500.00
    let rc = env.worklist("Z1", "recovery_certificate");
    assert_eq!(accounts(&rc), strs(&["P3", "P1"])); // 800.00 before 500.00
    assert!(rc.iter().all(|r| r["kind"] == "recovery_certificate"));
    assert!(env.worklist("Z1", "permanent_disconnection").is_empty());

    env.append_ok(&[issue_rc("P3", "2026-04-16")]);
    // P1 pays 0.01 → 499.99 < 500.00; P2 pays its 499.99 in full → 0.00;
    // P3 (RC recorded) pays 700.00 → 100.00.
    env.append_ok(&[
        payment("P1-P", "P1", "0.01", "2026-04-16"),
        payment("P2-P", "P2", "499.99", "2026-04-16"),
        payment("P3-P", "P3", "700.00", "2026-04-16"),
    ]);
    env.nightly("2026-04-16");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "P1")["overdue_arrears"], "499.99");
    assert_eq!(row(&list, "P1")["stage"], "permanently_disconnected");
    // Rule 1 before rule 2/3: RC recorded → rc_issued, although 100.00 < 500.00.
    assert_eq!(row(&list, "P3")["overdue_arrears"], "100.00");
    assert_eq!(row(&list, "P3")["stage"], "rc_issued");
    assert!(env.worklist("Z1", "recovery_certificate").is_empty());
    // Rule 3 before rule 4: P2 owes 0.00 but stays permanently_disconnected.
    assert!(!listed_on(&list, "P2"));
    assert_eq!(env.statement_stage("P2"), "permanently_disconnected");
    assert!(env.worklist("Z1", "reconnection").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Rule 7: cases close below the threshold; new cases get new notice numbers
// ---------------------------------------------------------------------------------------------

/// Builds the scenario of `case_closes_below_threshold_*` up to the nightly of 2026-04-06 and
/// returns the environment and the notice numbers seen along the way.
fn closing_scenario() -> (Env, BTreeMap<String, String>) {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("C1", "domestic", "S1", "150.00"),
            ("C2", "domestic", "S1", "150.00"),
            ("C3", "domestic", "S1", "150.00"),
        ],
    );
    let mut seen = notices_on_0320(&env, &["C1", "C2", "C3"]);
    env.append_ok(&[
        serve(&seen["C2"], "2026-03-21"),
        // C1: 150.00 − 60.00 = 90.00 < 100.00 from 03-22.
        payment("C1-P", "C1", "60.00", "2026-03-22"),
        // C2: 90.00 from 03-26, after reaching disconnection_due on 03-25.
        payment("C2-P", "C2", "60.00", "2026-03-26"),
        // C3: 150.00 − 50.00 = 100.00, exactly the threshold: not below it.
        payment("C3-P", "C3", "50.00", "2026-03-22"),
    ]);

    env.nightly("2026-03-22");
    let list = env.defaulters("Z1");
    // Rule 7: connected, case open, 90.00 < 100.00 → clear; the unserved notice lapses.
    assert_eq!(row(&list, "C1")["overdue_arrears"], "90.00");
    assert_eq!(row(&list, "C1")["stage"], "clear");
    // 100.00 is not < 100.00: the case stays open at notice_issued.
    assert_eq!(row(&list, "C3")["overdue_arrears"], "100.00");
    assert_eq!(row(&list, "C3")["stage"], "notice_issued");
    assert_eq!(row(&list, "C3")["notice_no"], seen["C3"]);
    assert_eq!(accounts(&env.worklist("Z1", "serve_notice")), strs(&["C3"]));
    // The lapsed notice cannot be served any more; an unknown notice number neither.
    env.append_rejected(&[serve(&seen["C1"], "2026-03-23")]);
    env.append_rejected(&[serve("NO-SUCH-NOTICE-1", "2026-03-23")]);

    env.nightly("2026-03-25");
    assert_eq!(env.stage_listed("C2"), "disconnection_due");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["C2"])
    );

    // Rule 7 comes before rule 10: 90.00 < 100.00 → clear, off the disconnection worklist.
    env.nightly("2026-03-26");
    let c2 = env.listed("C2");
    assert_eq!(c2["overdue_arrears"], "90.00");
    assert_eq!(c2["stage"], "clear");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    env.append_rejected(&[disconnect("C2", "2026-03-26")]);

    // New bills of 20.00 due 2026-04-05 for C1 and C2.
    env.append_ok(&[
        bill("BL-C1-2", "C1", "2026-03-28", "2026-04-05", "20.00"),
        bill("BL-C2-2", "C2", "2026-03-28", "2026-04-05", "20.00"),
    ]);
    // 04-05: the new bills are due that day, not overdue → 90.00 → still clear.
    env.nightly("2026-04-05");
    assert_eq!(env.stage_listed("C1"), "clear");
    assert_eq!(env.listed("C1")["overdue_arrears"], "90.00");
    // 04-06: 90.00 + 20.00 = 110.00 ≥ 100.00; days overdue from the oldest unpaid charge,
    // BL-C1 due 03-10: 04-06 − 03-10 = 27 ≥ 10 → a new case with a new notice.
    env.nightly("2026-04-06");
    no_notice_due(&env);
    let list = env.defaulters("Z1");
    for acc in ["C1", "C2"] {
        let r = row(&list, acc);
        assert_eq!(r["overdue_arrears"], "110.00", "{acc}");
        assert_eq!(r["days_overdue"], "27", "{acc}");
        assert_eq!(r["oldest_due_on"], "2026-03-10", "{acc}");
        // C2's old served notice does not carry over: the new notice is not served yet.
        assert_eq!(r["stage"], "notice_issued", "{acc}: {r:?}");
        assert_eq!(r["notice_served_on"], "", "{acc}");
        assert!(!r["notice_no"].is_empty(), "{acc}");
        assert_ne!(
            r["notice_no"], seen[acc],
            "{acc} reuses its old notice number"
        );
        seen.insert(format!("{acc}-new"), r["notice_no"].clone());
    }
    assert_ne!(seen["C1-new"], seen["C2-new"]);
    for old in ["C1", "C2", "C3"] {
        assert_ne!(seen["C1-new"], seen[old]);
        assert_ne!(seen["C2-new"], seen[old]);
    }
    (env, seen)
}

/// Cases close below the threshold (rule 7): an unserved notice lapses and can no longer be
/// served; a served one no longer allows disconnection. Arrears that build up again open a new
/// case with a new notice number; the old one stays dead.
#[test]
fn case_closes_below_threshold_and_a_new_case_gets_a_new_notice() {
    let (env, seen) = closing_scenario();
    // Old notices of closed cases cannot be served; C2 cannot be disconnected on its new case.
    env.append_rejected(&[serve(&seen["C1"], "2026-04-07")]);
    env.append_rejected(&[serve(&seen["C2"], "2026-04-07")]);
    env.append_rejected(&[disconnect("C2", "2026-04-07")]);
    env.append_ok(&[serve(&seen["C1-new"], "2026-04-07")]);
    // 04-07 + 3 + 1 = 04-11.
    env.nightly("2026-04-10");
    let c1 = env.listed("C1");
    assert_eq!(c1["stage"], "notice_served");
    assert_eq!(c1["notice_no"], seen["C1-new"]);
    assert_eq!(c1["notice_served_on"], "2026-04-07");
    assert_eq!(c1["disconnection_allowed_on"], "2026-04-11");
    env.nightly("2026-04-11");
    assert_eq!(env.stage_listed("C1"), "disconnection_due");
}

/// Notice numbers are deterministic: rerunning the same date appends nothing, `rebuild` gives
/// the same lists, and the same log with the same run dates in another data directory gives the
/// same numbers.
#[test]
fn notice_numbers_are_deterministic_across_rerun_rebuild_and_replay() {
    let (a, seen_a) = closing_scenario();
    let (b, seen_b) = closing_scenario();
    assert_eq!(
        seen_a, seen_b,
        "the same log and dates gave other notice numbers"
    );

    let before = a.export();
    let list = a.defaulters("Z1");
    let serve_wl = a.worklist("Z1", "serve_notice");
    a.nightly("2026-04-06");
    assert!(a.export() == before, "rerunning 2026-04-06 appended events");
    assert_eq!(a.defaulters("Z1"), list);
    a.ok(&["rebuild"]);
    assert_eq!(
        a.defaulters("Z1"),
        list,
        "rebuild changed the defaulter list"
    );
    assert_eq!(a.worklist("Z1", "serve_notice"), serve_wl);
    a.nightly("2026-04-06");
    assert!(a.export() == before, "rerun after rebuild appended events");
    assert_eq!(b.defaulters("Z1"), list);
}

// ---------------------------------------------------------------------------------------------
// Holds
// ---------------------------------------------------------------------------------------------

/// Holds at disconnection_due: dispute, installment_plan, essential_service (government →
/// hq_escalation, not disconnection), and a moratorium range whose both ends are included. The
/// `hold` column lists every hold in force separated by `;`; the stage stays disconnection_due.
#[test]
fn holds_combine_and_moratorium_includes_both_ends() {
    let policy = format!("{SMALL}\n[moratorium]\nranges = [[\"2026-03-26\", \"2026-03-28\"]]\n");
    let env = Env::ladder(&policy);
    consumers_with_bills(
        &env,
        &[
            ("HM", "domestic", "S1", "150.00"),
            ("HG", "government", "S1", "300.00"),
            ("HD", "domestic", "S1", "150.00"),
            ("HP", "domestic", "S1", "1000.00"),
            ("HQ", "government", "S2", "300.00"),
        ],
    );
    let n = notices_on_0320(&env, &["HM", "HG", "HD", "HP", "HQ"]);
    env.append_ok(&[
        serve(&n["HM"], "2026-03-21"),
        serve(&n["HG"], "2026-03-21"),
        serve(&n["HD"], "2026-03-21"),
        serve(&n["HP"], "2026-03-21"),
        serve(&n["HQ"], "2026-03-21"),
        // Deposits are credits dated `on`: HD 150 − 10 = 140.00; HP 1000 − 10 = 990.00;
        // HQ 300 − 10 = 290.00 (≥ 200.00 government threshold).
        dispute("HD", "2026-03-22", "10.00"),
        dispute("HP", "2026-03-22", "10.00"),
        plan("PL-HP", "HP", "2026-03-22", &[("2026-05-01", "100.00")]),
        dispute("HQ", "2026-03-22", "10.00"),
    ]);

    // 03-24: everyone notice_served; the government consumers are not escalated before their
    // disconnection would be due.
    env.nightly("2026-03-24");
    let list = env.defaulters("Z1");
    for acc in ["HM", "HG", "HD", "HP", "HQ"] {
        assert_eq!(row(&list, acc)["stage"], "notice_served", "{acc}");
    }
    assert!(env.worklist("Z1", "hq_escalation").is_empty());
    assert!(env.worklist("Z1", "disconnection").is_empty());

    // 03-25 (the day before the moratorium): all disconnection_due.
    env.nightly("2026-03-25");
    let list = env.defaulters("Z1");
    for acc in ["HM", "HG", "HD", "HP", "HQ"] {
        assert_eq!(row(&list, acc)["stage"], "disconnection_due", "{acc}");
    }
    assert_eq!(row(&list, "HD")["overdue_arrears"], "140.00");
    assert_eq!(row(&list, "HP")["overdue_arrears"], "990.00");
    assert_eq!(row(&list, "HQ")["overdue_arrears"], "290.00");
    assert_eq!(row(&list, "HM")["hold"], "");
    assert_eq!(hold_set(row(&list, "HG")), set(&["essential_service"]));
    assert_eq!(hold_set(row(&list, "HD")), set(&["dispute"]));
    let hp = row(&list, "HP");
    assert_eq!(
        hold_set(hp),
        set(&["dispute", "installment_plan"]),
        "hold text {:?}",
        hp["hold"]
    );
    assert_eq!(hp["hold"].matches(';').count(), 1, "{:?}", hp["hold"]);
    assert_eq!(
        hold_set(row(&list, "HQ")),
        set(&["essential_service", "dispute"])
    );
    // Only HM is on the disconnection worklist; the government consumer without another hold
    // is on hq_escalation instead.
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["HM"])
    );
    let hq = env.worklist("Z1", "hq_escalation");
    assert!(listed_on(&hq, "HG"), "{hq:#?}");
    assert!(hq.iter().all(|r| r["kind"] == "hq_escalation"));
    assert!(!listed_on(&env.worklist("S2", "disconnection"), "HQ"));

    // 03-26 (first day of the moratorium, included): nobody on the disconnection worklist.
    env.nightly("2026-03-26");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "HM")["stage"], "disconnection_due");
    assert_eq!(hold_set(row(&list, "HM")), set(&["moratorium"]));
    assert_eq!(hold_set(row(&list, "HD")), set(&["dispute", "moratorium"]));
    assert_eq!(
        hold_set(row(&list, "HP")),
        set(&["dispute", "installment_plan", "moratorium"])
    );
    // 03-28 (last day, included).
    env.nightly("2026-03-28");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    assert_eq!(hold_set(&env.listed("HM")), set(&["moratorium"]));
    // 03-29: the moratorium is over.
    env.nightly("2026-03-29");
    assert_eq!(env.listed("HM")["hold"], "");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["HM"])
    );
}

/// A plan is broken on D when payments since the grant < the instalments due on or before
/// D − 15 days; equal is not broken. The nightly run appends `InstallmentPlanBroken` once.
/// A disconnected consumer's plan makes it reconnection_due; when that plan breaks it falls back
/// to pd_due (disconnected ≥ after_days).
#[test]
fn installment_plan_broken_exactly_at_d_minus_15() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("IA", "domestic", "S1", "1000.00"),
            ("IB", "domestic", "S1", "1000.00"),
            ("IC", "domestic", "S1", "150.00"),
        ],
    );
    let n = notices_on_0320(&env, &["IA", "IB", "IC"]);
    env.append_ok(&[
        serve(&n["IA"], "2026-03-21"),
        serve(&n["IB"], "2026-03-21"),
        serve(&n["IC"], "2026-03-21"),
        plan(
            "PL-IA",
            "IA",
            "2026-03-24",
            &[("2026-04-01", "60.00"), ("2026-05-01", "140.00")],
        ),
        plan(
            "PL-IB",
            "IB",
            "2026-03-24",
            &[("2026-04-01", "60.00"), ("2026-05-01", "140.00")],
        ),
        payment("IA-P1", "IA", "59.99", "2026-03-28"),
        payment("IB-P1", "IB", "60.00", "2026-03-28"),
    ]);
    env.nightly("2026-03-25");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "IA")["stage"], "disconnection_due");
    assert_eq!(hold_set(row(&list, "IA")), set(&["installment_plan"]));
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["IC"])
    );
    // IC is disconnected on 03-25 and granted a plan on 03-26 → reconnection_due.
    env.append_ok(&[
        disconnect("IC", "2026-03-25"),
        plan("PL-IC", "IC", "2026-03-26", &[("2026-04-01", "50.00")]),
    ]);
    env.nightly("2026-03-26");
    assert_eq!(env.stage_listed("IC"), "reconnection_due");
    let broken0 = env.log_mentions("InstallmentPlanBroken");

    // 04-14 and 04-15: IC disconnected ≥ 20 days but its plan is in force → rule 4 first.
    // 04-15: D − 15 = 03-31: nothing due yet → every plan in force.
    env.nightly("2026-04-15");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "IA")["overdue_arrears"], "940.01"); // 1000 − 59.99
    assert_eq!(hold_set(row(&list, "IA")), set(&["installment_plan"]));
    assert_eq!(hold_set(row(&list, "IB")), set(&["installment_plan"]));
    assert_eq!(row(&list, "IC")["stage"], "reconnection_due");
    assert!(env.worklist("Z1", "disconnection").is_empty());
    assert!(env.worklist("Z1", "permanent_disconnection").is_empty());
    assert_eq!(env.log_mentions("InstallmentPlanBroken"), broken0);

    // 04-16: D − 15 = 04-01 → 60.00 due. IA paid 59.99 < 60.00 → broken; IB paid 60.00 →
    // in force. IC paid 0.00 < 50.00 → broken → disconnected since 03-25 (22 days) → pd_due.
    env.nightly("2026-04-16");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "IA")["stage"], "disconnection_due");
    assert_eq!(row(&list, "IA")["hold"], "");
    assert_eq!(hold_set(row(&list, "IB")), set(&["installment_plan"]));
    assert_eq!(row(&list, "IC")["stage"], "pd_due");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["IA"])
    );
    assert_eq!(
        accounts(&env.worklist("Z1", "permanent_disconnection")),
        strs(&["IC"])
    );
    assert!(env.worklist("Z1", "reconnection").is_empty());
    assert_eq!(env.log_mentions("InstallmentPlanBroken"), broken0 + 2);
    // Rerunning the date appends nothing; the next day does not break the plans again.
    let before = env.export();
    env.nightly("2026-04-16");
    assert!(env.export() == before);
    env.nightly("2026-04-17");
    assert_eq!(env.log_mentions("InstallmentPlanBroken"), broken0 + 2);

    // IB: 139.99 more on 05-01 → 199.99 since the grant. 05-15: D − 15 = 04-30 → 60.00 due →
    // in force. 05-16: D − 15 = 05-01 → 200.00 due > 199.99 → broken.
    // Arrears 1000 − 60 − 139.99 = 800.01 ≥ 100.00, so the case stays open.
    env.append_ok(&[payment("IB-P2", "IB", "139.99", "2026-05-01")]);
    env.nightly("2026-05-15");
    assert_eq!(
        hold_set(&env.listed("IB")),
        set(&["installment_plan"]),
        "IB on 05-15"
    );
    env.nightly("2026-05-16");
    let ib = env.listed("IB");
    assert_eq!(ib["overdue_arrears"], "800.01");
    assert_eq!(ib["stage"], "disconnection_due");
    assert_eq!(ib["hold"], "");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["IA", "IB"]) // 940.01 before 800.01
    );
    assert_eq!(env.log_mentions("InstallmentPlanBroken"), broken0 + 3);
}

// ---------------------------------------------------------------------------------------------
// A long gap between runs
// ---------------------------------------------------------------------------------------------

/// After a gap of 200 days (2026-03-25 → 2026-10-11), each consumer moves at most to the next
/// legal step its recorded events allow.
#[test]
fn a_long_gap_moves_only_one_legal_step() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("G1", "domestic", "S1", "150.00"),
            ("G2", "domestic", "S1", "150.00"),
            ("G3", "domestic", "S1", "150.00"),
            ("G6", "domestic", "S1", "150.00"),
        ],
    );
    // G4 is billed later: 150.00 due 2026-04-01, never seen overdue before the gap.
    env.append_ok(&[
        consumer("G4", "domestic", "S1", 4),
        bill("BL-G4", "G4", "2026-03-20", "2026-04-01", "150.00"),
    ]);
    let n = notices_on_0320(&env, &["G1", "G2", "G3", "G6"]);
    env.append_ok(&[serve(&n["G3"], "2026-03-21"), serve(&n["G6"], "2026-03-21")]);
    env.nightly("2026-03-25");
    env.append_ok(&[
        disconnect("G3", "2026-03-25"),
        disconnect("G6", "2026-03-25"),
        // G2's notice is served after the last run, on 03-26 → allowed from 03-30.
        serve(&n["G2"], "2026-03-26"),
        // G6 pays in full during the gap.
        payment("G6-P", "G6", "150.00", "2026-06-01"),
    ]);
    // G4's bill is not yet due on 03-25: overdue arrears 0.00, not a defaulter.
    assert!(!listed_on(&env.defaulters("Z1"), "G4"));

    // 2026-10-11 = 2026-03-25 + 200 days.
    env.nightly("2026-10-11");
    no_notice_due(&env);
    let list = env.defaulters("Z1");
    // Never served → stays notice_issued with its notice.
    assert_eq!(row(&list, "G1")["stage"], "notice_issued");
    assert_eq!(row(&list, "G1")["notice_no"], n["G1"]);
    // Served, never disconnected → disconnection_due (not disconnected).
    assert_eq!(row(&list, "G2")["stage"], "disconnection_due");
    assert_eq!(row(&list, "G2")["disconnection_allowed_on"], "2026-03-30");
    // Disconnected 200 days ≥ 20 → pd_due (not permanently_disconnected).
    assert_eq!(row(&list, "G3")["stage"], "pd_due");
    // A first notice only: 10-11 − 04-01 = 193 days, 150.00 ≥ 100.00.
    let g4 = row(&list, "G4");
    assert_eq!(g4["days_overdue"], "193");
    assert_eq!(g4["stage"], "notice_issued");
    assert!(!g4["notice_no"].is_empty());
    // Paid in full while disconnected → reconnection_due, not clear and not pd_due.
    assert!(!listed_on(&list, "G6"));
    assert_eq!(accounts(&env.worklist("Z1", "reconnection")), strs(&["G6"]));
    assert_eq!(
        accounts(&env.worklist("Z1", "serve_notice")),
        strs(&["G1", "G4"])
    );
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["G2"])
    );
    assert_eq!(
        accounts(&env.worklist("Z1", "permanent_disconnection")),
        strs(&["G3"])
    );
    let before = env.export();
    env.nightly("2026-10-11");
    assert!(
        env.export() == before,
        "rerun of 2026-10-11 appended events"
    );
}

// ---------------------------------------------------------------------------------------------
// Officer actions refused
// ---------------------------------------------------------------------------------------------

/// Officer actions the consumer's state does not allow are rejected with exit 3 and write
/// nothing.
#[test]
fn officer_actions_refused_when_the_state_does_not_allow_them() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("X1", "domestic", "S1", "150.00"),
            ("X2", "domestic", "S1", "50.00"), // below the threshold: never a case
        ],
    );
    let n = notices_on_0320(&env, &["X1"]);
    assert_eq!(env.stage_listed("X2"), "clear");
    // Serving an unknown notice number.
    env.append_rejected(&[serve("UNKNOWN-NOTICE-42", "2026-03-21")]);
    // Disconnecting before the notice is served, or a consumer without a case.
    env.append_rejected(&[disconnect("X1", "2026-03-21")]);
    env.append_rejected(&[disconnect("X2", "2026-03-21")]);
    env.append_ok(&[serve(&n["X1"], "2026-03-21")]);
    env.nightly("2026-03-24");
    // Reconnecting connected consumers.
    env.append_rejected(&[reconnect("X1", "2026-03-24")]);
    env.append_rejected(&[reconnect("X2", "2026-03-24")]);
    // Permanent disconnection and a recovery certificate for connected consumers.
    env.append_rejected(&[permanently_disconnect("X1", "2026-03-24")]);
    env.append_rejected(&[issue_rc("X1", "2026-03-24")]);
    // Disconnection on 03-24 < 03-21 + 3 + 1.
    env.append_rejected(&[disconnect("X1", "2026-03-24")]);
    env.nightly("2026-03-25");
    env.append_ok(&[disconnect("X1", "2026-03-25")]);
    // A disconnected consumer still owing 150.00 cannot be reconnected, nor disconnected again;
    // permanent disconnection on day 0 … 19 is too early; no RC without it.
    env.append_rejected(&[reconnect("X1", "2026-03-26")]);
    env.append_rejected(&[disconnect("X1", "2026-03-26")]);
    env.append_rejected(&[permanently_disconnect("X1", "2026-03-26")]);
    env.nightly("2026-04-13");
    env.append_rejected(&[permanently_disconnect("X1", "2026-04-13")]);
    env.append_rejected(&[issue_rc("X1", "2026-04-13")]);
    env.nightly("2026-04-14");
    assert_eq!(env.stage_listed("X1"), "pd_due");
    env.append_rejected(&[issue_rc("X1", "2026-04-14")]);
    // Serving the notice a second time.
    env.append_rejected(&[serve(&n["X1"], "2026-04-14")]);
    env.append_ok(&[permanently_disconnect("X1", "2026-04-14")]);
    // Twice is refused too.
    env.append_rejected(&[permanently_disconnect("X1", "2026-04-15")]);
}

// ---------------------------------------------------------------------------------------------
// Worklists: sort order, office scope, reconnection while owing nothing
// ---------------------------------------------------------------------------------------------

/// Worklists and the defaulter list sort by overdue arrears descending as numbers (10000.00 >
/// 1000.00 > 999.99 > 150.00), then account_no ascending, whatever the log order; a subdivision's
/// worklist holds only its own consumers.
#[test]
fn worklists_sort_by_arrears_desc_then_account_no() {
    let env = Env::ladder(SMALL);
    // Registered in an order that is neither the arrears nor the account order.
    consumers_with_bills(
        &env,
        &[
            ("WD", "domestic", "S1", "150.00"),
            ("WB", "domestic", "S1", "999.99"),
            ("WC", "domestic", "S1", "150.00"),
            ("WE", "domestic", "S3", "10000.00"),
            ("WA", "domestic", "S1", "1000.00"),
        ],
    );
    notices_on_0320(&env, &["WA", "WB", "WC", "WD", "WE"]);
    let expected = strs(&["WE", "WA", "WB", "WC", "WD"]);
    assert_eq!(accounts(&env.worklist("Z1", "serve_notice")), expected);
    assert_eq!(accounts(&env.defaulters("Z1")), expected);
    assert_eq!(
        accounts(&env.worklist("S1", "serve_notice")),
        strs(&["WA", "WB", "WC", "WD"])
    );
    assert_eq!(accounts(&env.worklist("D2", "serve_notice")), strs(&["WE"]));
    assert!(env.worklist("S2", "serve_notice").is_empty());
}

/// A disconnected consumer whose overdue arrears are 0.00 — paid in full, paid beyond the
/// charges (an advance), or paid up with a new bill not yet due — is reconnection_due and on the
/// reconnection worklist while owing nothing (not a defaulter); one under a plan is listed with
/// its arrears first. All sorted by arrears descending, then account_no.
#[test]
fn reconnection_worklist_lists_consumers_owing_nothing() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("RZ", "domestic", "S1", "150.00"),
            ("RM", "domestic", "S1", "150.00"),
            ("RA", "domestic", "S2", "150.00"),
        ],
    );
    let n = notices_on_0320(&env, &["RZ", "RM", "RA"]);
    env.append_ok(&[
        serve(&n["RZ"], "2026-03-21"),
        serve(&n["RM"], "2026-03-21"),
        serve(&n["RA"], "2026-03-21"),
    ]);
    env.nightly("2026-03-25");
    env.append_ok(&[
        disconnect("RZ", "2026-03-25"),
        disconnect("RM", "2026-03-25"),
        disconnect("RA", "2026-03-25"),
    ]);
    env.nightly("2026-03-26");
    assert!(env.worklist("Z1", "reconnection").is_empty());
    env.append_ok(&[
        // RZ pays 200.00 for 150.00 owed: overdue arrears clamp to 0.00 (50.00 advance).
        payment("RZ-P", "RZ", "200.00", "2026-03-27"),
        // RA pays 150.00, then gets a bill of 500.00 due 2026-04-30: not overdue on 03-28.
        payment("RA-P", "RA", "150.00", "2026-03-27"),
        bill("BL-RA-2", "RA", "2026-03-28", "2026-04-30", "500.00"),
        // RM pays nothing but gets a plan.
        plan("PL-RM", "RM", "2026-03-27", &[("2026-04-20", "150.00")]),
    ]);
    env.nightly("2026-03-28");
    let rl = env.worklist("Z1", "reconnection");
    // RM 150.00 first, then RA and RZ at 0.00 by account_no.
    assert_eq!(accounts(&rl), strs(&["RM", "RA", "RZ"]));
    assert_eq!(row(&rl, "RA")["overdue_arrears"], "0.00");
    assert_eq!(row(&rl, "RZ")["overdue_arrears"], "0.00");
    assert_eq!(row(&rl, "RM")["overdue_arrears"], "150.00");
    assert!(rl.iter().all(|r| r["stage"] == "reconnection_due"));
    assert!(rl.iter().all(|r| r["kind"] == "reconnection"));
    let list = env.defaulters("Z1");
    assert!(!listed_on(&list, "RZ") && !listed_on(&list, "RA"));
    assert_eq!(row(&list, "RM")["stage"], "reconnection_due");
    // Office scope: S2 has RA only.
    assert_eq!(accounts(&env.worklist("S2", "reconnection")), strs(&["RA"]));
    assert_eq!(
        accounts(&env.defaulters_stage("Z1", "reconnection_due")),
        strs(&["RM"])
    );
}

impl Env {
    fn defaulters_stage(&self, office: &str, stage: &str) -> Vec<Row> {
        self.csv(&["defaulters", "--office", office, "--stage", stage])
            .1
    }
}

// ---------------------------------------------------------------------------------------------
// The defaulter list's ladder columns
// ---------------------------------------------------------------------------------------------

/// `stage`, `notice_no`, `notice_served_on`, `disconnection_allowed_on` and `hold` in the
/// defaulter list, the same in the worklists (which are the defaulter columns plus `kind`), and
/// the `--stage` filter.
#[test]
fn defaulters_ladder_columns_and_stage_filter() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(
        &env,
        &[
            ("LA", "domestic", "S1", "400.00"),
            ("LB", "domestic", "S1", "300.00"),
            ("LC", "domestic", "S1", "200.00"),
            ("LD", "domestic", "S1", "150.00"),
            ("LE", "domestic", "S1", "50.00"),
        ],
    );
    let n = notices_on_0320(&env, &["LA", "LB", "LC", "LD"]);
    env.append_ok(&[
        serve(&n["LA"], "2026-03-20"), // allowed from 03-24
        serve(&n["LB"], "2026-03-21"), // allowed from 03-25
        serve(&n["LC"], "2026-03-22"), // allowed from 03-26
        dispute("LC", "2026-03-22", "1.00"),
    ]);
    env.nightly("2026-03-24");
    env.append_ok(&[disconnect("LA", "2026-03-24")]);
    env.nightly("2026-03-25");
    let (header, list) = env.csv(&["defaulters", "--office", "Z1"]);
    assert_eq!(header.join(","), DEFAULTER_COLUMNS);
    // LC: 200.00 − 1.00 deposit = 199.00.
    assert_eq!(accounts(&list), strs(&["LA", "LB", "LC", "LD", "LE"]));
    let la = row(&list, "LA");
    assert_eq!(la["stage"], "disconnected");
    let lb = row(&list, "LB");
    assert_eq!(lb["stage"], "disconnection_due");
    assert_eq!(lb["notice_no"], n["LB"]);
    assert_eq!(lb["notice_served_on"], "2026-03-21");
    assert_eq!(lb["disconnection_allowed_on"], "2026-03-25");
    assert_eq!(lb["hold"], "");
    let lc = row(&list, "LC");
    assert_eq!(lc["overdue_arrears"], "199.00");
    assert_eq!(lc["stage"], "notice_served");
    assert_eq!(lc["notice_no"], n["LC"]);
    assert_eq!(lc["notice_served_on"], "2026-03-22");
    assert_eq!(lc["disconnection_allowed_on"], "2026-03-26");
    let ld = row(&list, "LD");
    assert_eq!(ld["stage"], "notice_issued");
    assert_eq!(ld["notice_no"], n["LD"]);
    assert_eq!(ld["notice_served_on"], "");
    assert_eq!(ld["hold"], "");
    let le = row(&list, "LE");
    assert_eq!(le["stage"], "clear");
    assert_eq!(le["notice_no"], "");
    assert_eq!(le["notice_served_on"], "");
    assert_eq!(le["disconnection_allowed_on"], "");
    assert_eq!(le["hold"], "");

    // The worklists carry the same columns plus `kind`.
    let (wh, wl) = env.csv(&["worklist", "--office", "Z1", "--kind", "disconnection"]);
    assert_eq!(wh.join(","), format!("{DEFAULTER_COLUMNS},kind"));
    assert_eq!(accounts(&wl), strs(&["LB"]));
    let mut w = wl[0].clone();
    assert_eq!(w.remove("kind").as_deref(), Some("disconnection"));
    assert_eq!(&w, lb);
    let sn = env.worklist("Z1", "serve_notice");
    assert_eq!(accounts(&sn), strs(&["LD"]));

    // The stage filter.
    for (stage, expect) in [
        ("disconnected", vec!["LA"]),
        ("disconnection_due", vec!["LB"]),
        ("notice_served", vec!["LC"]),
        ("notice_issued", vec!["LD"]),
        ("clear", vec!["LE"]),
    ] {
        assert_eq!(
            accounts(&env.defaulters_stage("Z1", stage)),
            strs(&expect),
            "--stage {stage}"
        );
    }
    assert!(env.defaulters_stage("Z1", "pd_due").is_empty());

    // 03-26: LC reaches disconnection_due with its dispute hold; still off the worklist.
    env.nightly("2026-03-26");
    let lc = env.listed("LC");
    assert_eq!(lc["stage"], "disconnection_due");
    assert_eq!(lc["hold"], "dispute");
    assert_eq!(
        accounts(&env.worklist("Z1", "disconnection")),
        strs(&["LB"])
    );
}

// ---------------------------------------------------------------------------------------------
// Default policy: surcharges and reversals count towards "arrears = 0.00"
// ---------------------------------------------------------------------------------------------

/// Under the default policy, reconnection needs the overdue arrears at 0.00 including the
/// surcharge; a reversed payment stops counting from its `reversed_on` and puts the consumer back
/// to disconnected.
#[test]
fn reconnection_due_needs_surcharge_paid_and_a_reversal_undoes_it() {
    let env = Env::ladder("[defaulters]\nmin_overdue_arrears = \"0.01\"\n");
    env.append_ok(&[
        consumer("LP1", "domestic", "S1", 1),
        bill("BL-LP1", "LP1", "2026-01-05", "2026-01-20", "2000.00"),
    ]);
    // 2026-02-19 − 2026-01-20 = 30 days ≥ 30, 2000.00 ≥ 1000.00 → notice.
    env.nightly("2026-02-19");
    let lp1 = env.listed("LP1");
    assert_eq!(lp1["days_overdue"], "30");
    assert_eq!(lp1["stage"], "notice_issued");
    env.append_ok(&[serve(&lp1["notice_no"], "2026-02-21")]);
    // 02-21 + 15 + 1 = 03-09. Levy on 02-20: 2000.00 × 1.25% = 25.00 → 2025.00.
    env.nightly("2026-03-08");
    let lp1 = env.listed("LP1");
    assert_eq!(lp1["stage"], "notice_served");
    assert_eq!(lp1["disconnection_allowed_on"], "2026-03-09");
    env.nightly("2026-03-09");
    assert_eq!(env.listed("LP1")["overdue_arrears"], "2025.00");
    assert_eq!(env.stage_listed("LP1"), "disconnection_due");
    env.append_ok(&[
        disconnect("LP1", "2026-03-09"),
        // The bill's 2000.00 only: allocation oldest first covers BL-LP1 (due 01-20) and leaves
        // the surcharge (due 02-20) unpaid.
        payment("LP1-P1", "LP1", "2000.00", "2026-03-10"),
    ]);
    env.nightly("2026-03-11");
    let lp1 = env.listed("LP1");
    assert_eq!(lp1["overdue_arrears"], "25.00");
    assert_eq!(lp1["oldest_due_on"], "2026-02-20");
    // Below the 1000.00 threshold but not 0.00: still disconnected (rule 6), not reconnectable.
    assert_eq!(lp1["stage"], "disconnected");
    assert!(env.worklist("Z1", "reconnection").is_empty());
    env.append_rejected(&[reconnect("LP1", "2026-03-11")]);

    env.append_ok(&[json!({"type": "receive_payment", "receipt_no": "LP1-P2",
        "account_no": "LP1", "amount": "25.00", "paid_on": "2026-03-12",
        "channel": "counter_cheque"})]);
    env.nightly("2026-03-12");
    assert_eq!(
        accounts(&env.worklist("Z1", "reconnection")),
        strs(&["LP1"])
    );
    assert_eq!(env.statement_stage("LP1"), "reconnection_due");

    // The cheque bounces on 03-13: 25.00 owed again from that day.
    env.append_ok(&[json!({"type": "reverse_payment", "receipt_no": "LP1-P2",
        "reversed_on": "2026-03-13", "reason": "cheque bounced"})]);
    env.nightly("2026-03-13");
    let lp1 = env.listed("LP1");
    assert_eq!(lp1["overdue_arrears"], "25.00");
    assert_eq!(lp1["stage"], "disconnected");
    assert!(env.worklist("Z1", "reconnection").is_empty());
    env.append_rejected(&[reconnect("LP1", "2026-03-13")]);
    env.append_ok(&[payment("LP1-P3", "LP1", "25.00", "2026-03-14")]);
    env.nightly("2026-03-14");
    assert_eq!(
        accounts(&env.worklist("Z1", "reconnection")),
        strs(&["LP1"])
    );
    env.append_ok(&[reconnect("LP1", "2026-03-14")]);
    env.nightly("2026-03-15");
    assert_eq!(env.statement_stage("LP1"), "clear");
}

// ---------------------------------------------------------------------------------------------
// A second disconnection: after_days counts from the one in force
// ---------------------------------------------------------------------------------------------

/// Disconnected 03-25, paid and reconnected 03-31 (closing the case), billed again, a new
/// notice on 04-15, served 04-16, disconnected again 04-20: pd_due comes 20 days after the second
/// disconnection (05-10), not after the first.
#[test]
fn after_days_count_from_the_latest_disconnection() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(&env, &[("RD", "domestic", "S1", "150.00")]);
    let n = notices_on_0320(&env, &["RD"]);
    env.append_ok(&[serve(&n["RD"], "2026-03-21")]);
    env.nightly("2026-03-25");
    env.append_ok(&[
        disconnect("RD", "2026-03-25"),
        payment("RD-P", "RD", "150.00", "2026-03-30"),
    ]);
    env.nightly("2026-03-30");
    assert_eq!(env.statement_stage("RD"), "reconnection_due");
    env.append_ok(&[reconnect("RD", "2026-03-31")]);
    env.nightly("2026-03-31");
    assert_eq!(env.statement_stage("RD"), "clear");
    // New bill 150.00 due 04-05: 04-15 − 04-05 = 10 days → new notice.
    env.append_ok(&[bill("BL-RD-2", "RD", "2026-04-01", "2026-04-05", "150.00")]);
    env.nightly("2026-04-14");
    assert_eq!(env.stage_listed("RD"), "clear"); // 9 days
    env.nightly("2026-04-15");
    let rd = env.listed("RD");
    assert_eq!(rd["stage"], "notice_issued");
    assert_ne!(rd["notice_no"], n["RD"]);
    // 04-16 + 3 + 1 = 04-20.
    env.append_ok(&[serve(&rd["notice_no"], "2026-04-16")]);
    env.nightly("2026-04-20");
    assert_eq!(env.stage_listed("RD"), "disconnection_due");
    env.append_ok(&[disconnect("RD", "2026-04-20")]);
    // 05-09 − 04-20 = 19 days (it would be 45 from 03-25).
    env.nightly("2026-05-09");
    assert_eq!(env.stage_listed("RD"), "disconnected");
    env.append_rejected(&[permanently_disconnect("RD", "2026-05-09")]);
    // 05-10 − 04-20 = 20 days.
    env.nightly("2026-05-10");
    assert_eq!(env.stage_listed("RD"), "pd_due");
}

// ---------------------------------------------------------------------------------------------
// A plan paid off ends; a disconnection recorded late counts from its own date
// ---------------------------------------------------------------------------------------------

/// A plan is in force only until it is paid off (payments since the grant ≥ the schedule's
/// total). A disconnected consumer whose plan was the reason for reconnection_due, and who still
/// owes something after paying the plan off, is back to disconnected (rule 4 needs arrears 0.00
/// or a plan in force).
#[test]
fn plan_paid_off_with_arrears_left_ends_reconnection_due() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(&env, &[("PO", "domestic", "S1", "150.00")]);
    let n = notices_on_0320(&env, &["PO"]);
    env.append_ok(&[serve(&n["PO"], "2026-03-21")]);
    env.nightly("2026-03-25");
    env.append_ok(&[
        disconnect("PO", "2026-03-25"),
        plan("PL-PO", "PO", "2026-03-26", &[("2026-04-10", "100.00")]),
    ]);
    env.nightly("2026-03-26");
    assert_eq!(env.stage_listed("PO"), "reconnection_due");
    // 100.00 paid on 03-28 ≥ the schedule's 100.00 → paid off; 150.00 − 100.00 = 50.00 left.
    env.append_ok(&[payment("PO-P", "PO", "100.00", "2026-03-28")]);
    env.nightly("2026-03-28");
    let po = env.listed("PO");
    assert_eq!(po["overdue_arrears"], "50.00");
    assert_eq!(po["stage"], "disconnected");
    assert!(env.worklist("Z1", "reconnection").is_empty());
    env.append_rejected(&[reconnect("PO", "2026-03-28")]);
}

/// A disconnection recorded after the runs that would have seen it, dated 2026-03-25 (clear
/// days passed), counts from its own date: the next run, 2026-04-15, finds it disconnected for
/// 04-15 − 03-25 = 21 ≥ 20 days → pd_due.
#[test]
fn a_disconnection_recorded_late_counts_from_its_own_date() {
    let env = Env::ladder(SMALL);
    consumers_with_bills(&env, &[("BD", "domestic", "S1", "150.00")]);
    let n = notices_on_0320(&env, &["BD"]);
    env.append_ok(&[serve(&n["BD"], "2026-03-21")]);
    env.nightly("2026-03-25");
    env.nightly("2026-04-14");
    assert_eq!(env.stage_listed("BD"), "disconnection_due");
    env.append_ok(&[disconnect("BD", "2026-03-25")]);
    env.nightly("2026-04-15");
    assert_eq!(env.stage_listed("BD"), "pd_due");
    assert_eq!(
        accounts(&env.worklist("Z1", "permanent_disconnection")),
        strs(&["BD"])
    );
    assert!(env.worklist("Z1", "disconnection").is_empty());
}
