//! Edge-case conformance tests for `vasooli`, derived from `docs/RULES.md` and `docs/CLI.md` alone.
//!
//! A second, independent suite next to `spec_conformance.rs`: it covers the corners a tester
//! computing figures by hand would pick (dates just before, on and after an event, month ends and
//! leap days, financial-year periods, later-dated events, exit codes and output shapes). Every
//! expected figure is worked out in the comment beside its assertion. Each test drives the real
//! binary over its own temporary data directory.

mod common;
use common::env::{Env, BIN};
use common::spec::*;
use common::{accounts, find, parse_csv, row, Row};
use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use serde_json::{json, Value};

/// The output columns of docs/CLI.md.
const DEFAULTER_COLUMNS: &str = "account_no,name,category,subdivision,division,circle,\
mobile_registered,overdue_arrears,oldest_due_on,days_overdue,aging_bucket,last_payment_on,\
last_payment_amount,stage,notice_no,notice_served_on,disconnection_allowed_on,hold";

/// A policy that lists every consumer owing at least 0.01, so that small figures stay visible.
const LIST_ALL: &str = "[defaulters]\nmin_overdue_arrears = \"0.01\"\n";

// ---------------------------------------------------------------------------------------------
// Harness (adapted from spec_conformance.rs)
// ---------------------------------------------------------------------------------------------

impl Env {
    /// Overdue arrears of a consumer as the Z1 defaulter list shows it; "-" when not listed.
    fn arrears(&self, account: &str) -> String {
        find(&self.defaulters("Z1"), account)
            .map(|r| r["overdue_arrears"].clone())
            .unwrap_or_else(|| "-".to_string())
    }

    fn rankings(&self, period: &str, level: &str) -> Vec<Row> {
        self.rows(&["rankings", "--period", period, "--level", level])
    }
}

fn office_codes(rows: &[Row]) -> BTreeSet<String> {
    rows.iter().map(|r| r["office_code"].clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The unpaid part the statement shows for a bill: the statement's layout is the engine's own
/// (docs/CLI.md), so this looks for the object that names the bill, is not a surcharge, and has
/// a key containing `unpaid`.
fn statement_unpaid(st: &Value, bill_no: &str) -> String {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
        match v {
            Value::Object(m) => {
                out.push(m);
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut objs = Vec::new();
    walk(st, &mut objs);
    let hit = objs
        .into_iter()
        .find(|m| {
            let names_bill = m.values().any(|v| {
                v.as_str()
                    .is_some_and(|s| s == bill_no || s.starts_with(&format!("{bill_no} ")))
            });
            let text = Value::Object((*m).clone()).to_string().to_lowercase();
            names_bill && !text.contains("surcharge") && m.keys().any(|k| k.contains("unpaid"))
        })
        .unwrap_or_else(|| panic!("no charge for {bill_no} with an unpaid part in {st:#}"));
    let key = hit.keys().find(|k| k.contains("unpaid")).unwrap();
    match &hit[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn revise(bill_no: &str, on: &str, new_amount: &str) -> Value {
    json!({"type": "revise_bill", "bill_no": bill_no, "revised_on": on,
           "new_amount": new_amount, "reason": "reading corrected"})
}

fn reverse(receipt_no: &str, on: &str) -> Value {
    json!({"type": "reverse_payment", "receipt_no": receipt_no, "reversed_on": on,
           "reason": "cheque bounced"})
}

fn adjustment(no: &str, account: &str, on: &str, amount: &str) -> Value {
    json!({"type": "post_adjustment", "adjustment_no": no, "account_no": account,
           "posted_on": on, "amount": amount, "reason": "officer adjustment"})
}

fn register_mobile(account: &str, mobile: &str, on: &str, source: &str) -> Value {
    json!({"type": "register_mobile", "account_no": account, "mobile": mobile,
           "registered_on": on, "source": source})
}

fn grievance(id: &str, sub: &str, category: &str, on: &str) -> Value {
    json!({"type": "register_grievance", "grievance_id": id, "subdivision": sub,
           "category": category, "registered_on": on})
}

fn resolve_grievance(id: &str, on: &str) -> Value {
    json!({"type": "resolve_grievance", "grievance_id": id, "resolved_on": on, "note": "done"})
}

/// The (award, office_code, score, score_change) rows of one level.
fn award_rows(rows: &[Row], level: &str) -> BTreeSet<(String, String, String, String)> {
    rows.iter()
        .filter(|r| r["level"] == level)
        .map(|r| {
            (
                r["award"].clone(),
                r["office_code"].clone(),
                r["score"].clone(),
                r["score_change"].clone(),
            )
        })
        .collect()
}

fn award_set(items: &[(&str, &str, &str, &str)]) -> BTreeSet<(String, String, String, String)> {
    items
        .iter()
        .map(|(a, o, s, c)| (a.to_string(), o.to_string(), s.to_string(), c.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// As of D: events dated later do not count (docs/RULES.md)
// ---------------------------------------------------------------------------------------------

/// "As of date D counts only events whose business date is ≤ D." A revision, a reversal, a
/// credit and a debit adjustment and a dispute deposit that are already in the log but dated the
/// day after the nightly run's date change nothing; the same events dated on D count (a debit
/// adjustment posted on D is due on D, so it is not yet overdue).
#[test]
fn later_dated_revisions_reversals_adjustments_and_deposits_do_not_count() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    let mut cmds = Vec::new();
    for acc in [
        "RVL", "RVD", "RPL", "RPD", "CAL", "CAD", "DAL", "DAD", "DPL", "DPD",
    ] {
        cmds.push(consumer(acc, "domestic", "S1", None));
        // Every consumer: one bill of 1000.00 issued 2027-01-01, due 2027-01-15.
        cmds.push(bill(
            &format!("B-{acc}"),
            acc,
            "2027-01-01",
            "2027-01-15",
            "1000.00",
        ));
    }
    // "L" = dated 2027-02-02 (the day after the first run), "D" = dated 2027-02-01 (the run's day).
    cmds.extend([
        revise("B-RVL", "2027-02-02", "600.00"),
        revise("B-RVD", "2027-02-01", "600.00"),
        payment("P-RPL", "RPL", "300.00", "2027-01-10", "counter_cheque"),
        payment("P-RPD", "RPD", "300.00", "2027-01-10", "counter_cheque"),
        reverse("P-RPL", "2027-02-02"),
        reverse("P-RPD", "2027-02-01"),
        adjustment("A-CAL", "CAL", "2027-02-02", "-200.00"),
        adjustment("A-CAD", "CAD", "2027-02-01", "-200.00"),
        adjustment("A-DAL", "DAL", "2027-02-02", "200.00"),
        adjustment("A-DAD", "DAD", "2027-02-01", "200.00"),
        json!({"type": "raise_dispute", "account_no": "DPL", "on": "2027-02-02",
               "deposit": "100.00"}),
        json!({"type": "raise_dispute", "account_no": "DPD", "on": "2027-02-01",
               "deposit": "100.00"}),
    ]);
    env.append_ok(&cmds);

    // 2027-02-01 (first anniversary 2027-02-15 not reached, so no surcharge anywhere):
    env.nightly("2027-02-01");
    let list = env.defaulters("Z1");
    let got = |acc: &str| row(&list, acc)["overdue_arrears"].clone();
    assert_eq!(
        got("RVL"),
        "1000.00",
        "revision dated 02-02 not yet in force"
    );
    assert_eq!(got("RVD"), "600.00", "revision dated 02-01 in force");
    assert_eq!(
        got("RPL"),
        "700.00",
        "1000 − 300; reversal dated 02-02 not yet"
    );
    assert_eq!(got("RPD"), "1000.00", "reversed on 02-01: stops counting");
    assert_eq!(
        got("CAL"),
        "1000.00",
        "credit adjustment dated 02-02 not yet"
    );
    assert_eq!(got("CAD"), "800.00", "1000 − 200");
    assert_eq!(
        got("DAL"),
        "1000.00",
        "debit adjustment dated 02-02 not yet"
    );
    assert_eq!(
        got("DAD"),
        "1000.00",
        "debit adjustment due 02-01 = D: not overdue"
    );
    assert_eq!(got("DPL"), "1000.00", "deposit dated 02-02 not yet");
    assert_eq!(got("DPD"), "900.00", "1000 − deposit 100");
    // Days overdue: 2027-02-01 − 2027-01-15 = 17 → bucket 0-30, for every one of them.
    assert!(list.iter().all(|r| r["days_overdue"] == "17"), "{list:#?}");
    assert!(list.iter().all(|r| r["aging_bucket"] == "0-30"));
    // The reversed payment is still the last payment of RPL as of 02-01.
    assert_eq!(row(&list, "RPL")["last_payment_on"], "2027-01-10");
    // The statement is as of the same date.
    assert_eq!(jtext(&env.statement("RVL"), "overdue_arrears"), "1000.00");
    assert_eq!(jtext(&env.statement("DPL"), "overdue_arrears"), "1000.00");

    // 2027-02-02: the later-dated events now count; DAL's adjustment is due today.
    env.nightly("2027-02-02");
    let list = env.defaulters("Z1");
    let got = |acc: &str| row(&list, acc)["overdue_arrears"].clone();
    assert_eq!(got("RVL"), "600.00");
    assert_eq!(got("RPL"), "1000.00");
    assert_eq!(got("CAL"), "800.00");
    assert_eq!(got("DAL"), "1000.00");
    assert_eq!(got("DAD"), "1200.00", "1000 + 200 due 02-01 < 02-02");
    assert_eq!(got("DPL"), "900.00");
    // 2027-02-03: DAL's adjustment (due 02-02) is overdue; the oldest unpaid charge is still the
    // bill (due 01-15) → 2027-02-03 − 2027-01-15 = 19 days.
    env.nightly("2027-02-03");
    let list = env.defaulters("Z1");
    assert_eq!(row(&list, "DAL")["overdue_arrears"], "1200.00");
    assert_eq!(row(&list, "DAL")["days_overdue"], "19");
}

/// §5: the unpaid principal on an anniversary counts the events dated ≤ the anniversary that are
/// in the log: a payment, a revision, a credit adjustment or a reversal dated on the anniversary
/// itself count for that levy; the same dated the day after do not.
#[test]
fn lps_counts_events_dated_on_the_anniversary_itself() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    let mut cmds = Vec::new();
    for acc in ["PA", "PB", "RA", "CA", "XA", "XB"] {
        cmds.push(consumer(acc, "domestic", "S1", None));
        // 1000.00 due 2027-01-15 → first anniversary 2027-02-15, second 2027-03-15.
        cmds.push(bill(
            &format!("B-{acc}"),
            acc,
            "2027-01-01",
            "2027-01-15",
            "1000.00",
        ));
    }
    cmds.extend([
        payment("P-PA", "PA", "400.00", "2027-02-15", "upi"),
        payment("P-PB", "PB", "400.00", "2027-02-16", "upi"),
        revise("B-RA", "2027-02-15", "800.00"),
        adjustment("A-CA", "CA", "2027-02-15", "-400.00"),
        payment("P-XA", "XA", "1000.00", "2027-01-10", "counter_cheque"),
        payment("P-XB", "XB", "1000.00", "2027-01-10", "counter_cheque"),
        reverse("P-XA", "2027-02-15"),
        reverse("P-XB", "2027-02-16"),
    ]);
    env.append_ok(&cmds);
    env.nightly("2027-02-16");
    // PA: unpaid principal on 02-15 = 1000 − 400 = 600 → 600 × 1.25% = 7.50 → 600 + 7.50.
    assert_eq!(env.arrears("PA"), "607.50");
    // PB: the payment is dated 02-16 → levy on 1000 = 12.50; as of 02-16: 1012.50 − 400.
    assert_eq!(env.arrears("PB"), "612.50");
    // RA: revised to 800 on 02-15 → 10.00 → 810.00.
    assert_eq!(env.arrears("RA"), "810.00");
    // CA: credit 400 on 02-15 → unpaid principal 600 → 7.50 → 607.50.
    assert_eq!(env.arrears("CA"), "607.50");
    // XA: reversed on 02-15, so the payment no longer counts on the anniversary → 12.50.
    assert_eq!(env.arrears("XA"), "1012.50");
    // XB: on 02-15 the cheque still counts → principal 0 → no levy; reversed 02-16 → 1000.00.
    assert_eq!(env.arrears("XB"), "1000.00");
    // 2027-03-15: XB's second anniversary on 1000.00 unpaid → 12.50 → 1012.50 as of 03-16.
    env.nightly("2027-03-16");
    assert_eq!(env.arrears("XB"), "1012.50");
}

// ---------------------------------------------------------------------------------------------
// LPS anniversaries at month ends and leap days; days overdue around the due date (§4, §5)
// ---------------------------------------------------------------------------------------------

/// Anniversaries are `due_on + k months`, clamped to the month's end, each computed from due_on
/// (never from the previous anniversary). Bills due on the 28th, 29th, 30th and 31st of January
/// 2027 all have their first anniversary on 2027-02-28; their second on 03-28, 03-29, 03-30 and
/// 03-31; their third on 04-28, 04-29, 04-30 and 04-30. In the leap year 2028, the 29th, 30th and
/// 31st of January all give 2028-02-29. A bill due on 2028-02-29 has anniversaries on the 29th of
/// each month up to 2029-02-28 (k = 12). A surcharge is due on its levy day and overdue after it;
/// each levy is 1000.00 × 1.25% = 12.50.
#[test]
fn lps_anniversaries_on_feb_28_29_30_31_and_leap_days() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    let mut cmds = Vec::new();
    for (acc, issued, due) in [
        ("F28", "2027-01-10", "2027-01-28"),
        ("F29", "2027-01-10", "2027-01-29"),
        ("F30", "2027-01-10", "2027-01-30"),
        ("F31", "2027-01-10", "2027-01-31"),
        ("L29", "2028-01-10", "2028-01-29"),
        ("L30", "2028-01-10", "2028-01-30"),
        ("L31", "2028-01-10", "2028-01-31"),
        ("LD", "2028-02-10", "2028-02-29"),
    ] {
        cmds.push(consumer(acc, "domestic", "S1", None));
        cmds.push(bill(&format!("B-{acc}"), acc, issued, due, "1000.00"));
    }
    env.append_ok(&cmds);
    let check = |date: &str, want: &[(&str, &str)]| {
        env.nightly(date);
        let list = env.defaulters("Z1");
        for (acc, amount) in want {
            assert_eq!(
                row(&list, acc)["overdue_arrears"],
                *amount,
                "{acc} as of {date}"
            );
        }
    };
    // 2027-02-27: no anniversary yet anywhere.
    check(
        "2027-02-27",
        &[
            ("F28", "1000.00"),
            ("F29", "1000.00"),
            ("F30", "1000.00"),
            ("F31", "1000.00"),
        ],
    );
    // 2027-02-28: all four levied today, due today, not overdue.
    check(
        "2027-02-28",
        &[
            ("F28", "1000.00"),
            ("F29", "1000.00"),
            ("F30", "1000.00"),
            ("F31", "1000.00"),
        ],
    );
    // 2027-03-01: 1000 + 12.50 each.
    check(
        "2027-03-01",
        &[
            ("F28", "1012.50"),
            ("F29", "1012.50"),
            ("F30", "1012.50"),
            ("F31", "1012.50"),
        ],
    );
    // 2027-03-30: second levies of F28 (03-28) and F29 (03-29) are overdue; F30's is due today;
    // F31's (03-31) not levied yet.
    check(
        "2027-03-30",
        &[
            ("F28", "1025.00"),
            ("F29", "1025.00"),
            ("F30", "1012.50"),
            ("F31", "1012.50"),
        ],
    );
    check(
        "2027-03-31",
        &[
            ("F28", "1025.00"),
            ("F29", "1025.00"),
            ("F30", "1025.00"),
            ("F31", "1012.50"),
        ],
    );
    check("2027-04-01", &[("F31", "1025.00")]);
    // 2027-04-30: third levies 04-28 (F28) and 04-29 (F29) overdue; F30 and F31 (clamped to
    // 04-30) due today.
    check(
        "2027-04-30",
        &[
            ("F28", "1037.50"),
            ("F29", "1037.50"),
            ("F30", "1025.00"),
            ("F31", "1025.00"),
        ],
    );
    check(
        "2027-05-01",
        &[
            ("F28", "1037.50"),
            ("F29", "1037.50"),
            ("F30", "1037.50"),
            ("F31", "1037.50"),
        ],
    );
    // Leap year: nothing levied for L29..L31 on 2028-02-28; all three on 2028-02-29.
    check(
        "2028-02-28",
        &[("L29", "1000.00"), ("L30", "1000.00"), ("L31", "1000.00")],
    );
    check(
        "2028-02-29",
        &[("L29", "1000.00"), ("L30", "1000.00"), ("L31", "1000.00")],
    );
    check(
        "2028-03-01",
        &[("L29", "1012.50"), ("L30", "1012.50"), ("L31", "1012.50")],
    );
    // LD (due 2028-02-29): k = 1..11 on 2028-03-29 … 2029-01-29, k = 12 on 2029-02-28 (clamped).
    // As of 2029-02-28: 11 levies overdue = 1000 + 11 × 12.50 = 1137.50; the 12th is due today.
    // Days overdue: 2029-02-28 − 2028-02-29 = 365 → 181-365.
    check("2029-02-28", &[("LD", "1137.50")]);
    let ld = row(&env.defaulters("Z1"), "LD").clone();
    assert_eq!(ld["days_overdue"], "365");
    assert_eq!(ld["aging_bucket"], "181-365");
    assert_eq!(ld["oldest_due_on"], "2028-02-29");
    // 2029-03-01: 1000 + 12 × 12.50 = 1150.00; 366 days → 366+.
    check("2029-03-01", &[("LD", "1150.00")]);
    let ld = row(&env.defaulters("Z1"), "LD").clone();
    assert_eq!(ld["days_overdue"], "366");
    assert_eq!(ld["aging_bucket"], "366+");
}

/// "Overdue arrears as of D = the unpaid part of charges with due_on < D (paying on the due date
/// is on time)". On the due date nothing is overdue (0 days); the day after, 1 day. A bill paid
/// on its due date is never overdue and never surcharged. Day counts cross the leap day.
#[test]
fn days_overdue_on_the_due_date_the_day_after_and_across_leap_days() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    env.append_ok(&[
        consumer("DU1", "domestic", "S1", None),
        consumer("DU2", "domestic", "S1", None),
        consumer("LP1", "domestic", "S2", None),
        consumer("LY1", "domestic", "S2", None),
        bill("B-DU1", "DU1", "2027-03-01", "2027-03-10", "1000.00"),
        bill("B-DU2", "DU2", "2027-03-01", "2027-03-10", "1000.00"),
        payment("P-DU2", "DU2", "1000.00", "2027-03-10", "upi"),
        bill("B-LP1", "LP1", "2028-02-10", "2028-02-28", "1000.00"),
        bill("B-LY1", "LY1", "2027-12-15", "2027-12-31", "1000.00"),
    ]);
    // 2027-03-10 = DU1's due date: not overdue, not a defaulter, 0 days.
    env.nightly("2027-03-10");
    assert!(find(&env.defaulters("Z1"), "DU1").is_none());
    let st = env.statement("DU1");
    assert_eq!(jtext(&st, "overdue_arrears"), "0.00");
    assert_eq!(jtext(&st, "days_overdue"), "0");
    // 2027-03-11: 1 day, 0-30, oldest due 2027-03-10.
    env.nightly("2027-03-11");
    let du1 = row(&env.defaulters("Z1"), "DU1").clone();
    assert_eq!(du1["overdue_arrears"], "1000.00");
    assert_eq!(du1["days_overdue"], "1");
    assert_eq!(du1["aging_bucket"], "0-30");
    assert_eq!(du1["oldest_due_on"], "2027-03-10");
    assert!(find(&env.defaulters("Z1"), "DU2").is_none());
    // 2027-04-11: DU2 paid on the due date → no levy on 2027-04-10; owes nothing.
    env.nightly("2027-04-11");
    assert!(find(&env.defaulters("Z1"), "DU2").is_none());
    assert_eq!(jtext(&env.statement("DU2"), "overdue_arrears"), "0.00");
    // DU1: levy 12.50 on 04-10 → 1012.50, 2027-04-11 − 2027-03-10 = 32 days → 31-60.
    let du1 = row(&env.defaulters("Z1"), "DU1").clone();
    assert_eq!(du1["overdue_arrears"], "1012.50");
    assert_eq!(du1["days_overdue"], "32");
    assert_eq!(du1["aging_bucket"], "31-60");
    // 2028-03-01 − 2028-02-28 = 2 days (2028-02-29 lies between).
    env.nightly("2028-03-01");
    assert_eq!(row(&env.defaulters("Z1"), "LP1")["days_overdue"], "2");
    // LY1 due 2027-12-31: 2028-12-30 is 365 days later (2028 has 366 days) → 181-365;
    // 2028-12-31 is 366 days → 366+.
    env.nightly("2028-12-30");
    let ly1 = row(&env.defaulters("Z1"), "LY1").clone();
    assert_eq!(
        (ly1["days_overdue"].as_str(), ly1["aging_bucket"].as_str()),
        ("365", "181-365")
    );
    env.nightly("2028-12-31");
    let ly1 = row(&env.defaulters("Z1"), "LY1").clone();
    assert_eq!(
        (ly1["days_overdue"].as_str(), ly1["aging_bucket"].as_str()),
        ("366", "366+")
    );
}

// ---------------------------------------------------------------------------------------------
// Allocation and the statement (§4)
// ---------------------------------------------------------------------------------------------

/// Allocation is by due date, not issue date: a supplementary bill issued later but due earlier
/// is paid first. Charges with the same due date are covered in log order, so the statement's
/// unpaid parts differ per bill, and each bill's surcharge is on its own unpaid principal (a levy
/// of 0.00 is not made). A bill revised to 0.00 turns what was paid into an advance that covers
/// later bills.
#[test]
fn allocation_by_due_date_then_log_order_with_statement_unpaid_parts() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    env.append_ok(&[
        consumer("AO1", "domestic", "S1", None),
        consumer("AO2", "domestic", "S1", None),
        consumer("RZ1", "domestic", "S1", None),
        // AO1: B-LATE issued 01-01 due 02-20; B-SUPP issued 01-10 due 01-25; 1000.00 on 01-20.
        bill("B-LATE", "AO1", "2027-01-01", "2027-02-20", "1000.00"),
        bill("B-SUPP", "AO1", "2027-01-10", "2027-01-25", "1000.00"),
        payment("P-AO1", "AO1", "1000.00", "2027-01-20", "upi"),
        // AO2: two bills due the same day, BX1 (600.00) logged before BX2 (1000.00); 700.00 paid.
        bill("BX1", "AO2", "2027-01-01", "2027-01-15", "600.00"),
        bill("BX2", "AO2", "2027-01-01", "2027-01-15", "1000.00"),
        payment("P-AO2", "AO2", "700.00", "2027-01-10", "upi"),
        // RZ1: 1000.00 paid, the bill revised to 0.00 → 1000.00 advance for RZ-2 and RZ-3.
        bill("RZ-1", "RZ1", "2027-01-01", "2027-01-15", "1000.00"),
        payment("P-RZ1", "RZ1", "1000.00", "2027-01-10", "upi"),
        revise("RZ-1", "2027-01-20", "0.00"),
        bill("RZ-2", "RZ1", "2027-01-25", "2027-02-10", "800.00"),
        bill("RZ-3", "RZ1", "2027-02-01", "2027-02-18", "500.00"),
    ]);
    // 2027-02-21.
    env.nightly("2027-02-21");
    let list = env.defaulters("Z1");
    // AO1: order B-SUPP (01-25), B-LATE (02-20); 1000 covers B-SUPP → B-LATE unpaid 1000,
    // overdue since 02-20 < 02-21 → 1 day. (B-SUPP's anniversary 02-25 is later, and it is paid.)
    let ao1 = row(&list, "AO1");
    assert_eq!(ao1["overdue_arrears"], "1000.00");
    assert_eq!(ao1["oldest_due_on"], "2027-02-20");
    assert_eq!(ao1["days_overdue"], "1");
    let st = env.statement("AO1");
    assert_eq!(statement_unpaid(&st, "B-SUPP"), "0.00");
    assert_eq!(statement_unpaid(&st, "B-LATE"), "1000.00");
    // AO2: BX1 first (log order): 700 covers BX1 600 → BX1 unpaid 0.00, BX2 unpaid 1000 − 100 =
    // 900.00. 02-15: BX1 levy 0.00 → not made; BX2 levy 900 × 1.25% = 11.25. 900 + 11.25.
    assert_eq!(row(&list, "AO2")["overdue_arrears"], "911.25");
    let st = env.statement("AO2");
    assert_eq!(statement_unpaid(&st, "BX1"), "0.00");
    assert_eq!(statement_unpaid(&st, "BX2"), "900.00");
    let surcharges = st.to_string().matches("surcharge").count();
    assert!(surcharges >= 1, "{st:#}");
    assert!(
        !st.to_string().contains("BX1 #"),
        "a 0.00 levy for BX1 was made: {st:#}"
    );
    // RZ1: charges 0 + 800 + 500 = 1300, credits 1000 → RZ-2 (02-10) covered, RZ-3 (02-18)
    // unpaid 300.00, 3 days. RZ-1 is 0.00 and was never overdue after 01-20: no levy on 02-15.
    let rz1 = row(&list, "RZ1");
    assert_eq!(rz1["overdue_arrears"], "300.00");
    assert_eq!(rz1["oldest_due_on"], "2027-02-18");
    assert_eq!(rz1["days_overdue"], "3");
    let st = env.statement("RZ1");
    assert_eq!(statement_unpaid(&st, "RZ-1"), "0.00");
    assert_eq!(statement_unpaid(&st, "RZ-2"), "0.00");
    assert_eq!(statement_unpaid(&st, "RZ-3"), "300.00");
}

/// "BillRevised (new_amount ≥ 0 and below the bill's current amount)": each revision must be
/// below the amount left by the previous one; 0.00 is allowed, a negative amount or a third
/// decimal is not.
#[test]
fn revisions_must_go_below_the_current_amount() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("RC1", "domestic", "S1", None),
        bill("RC-B", "RC1", "2027-01-01", "2027-01-15", "1000.00"),
        revise("RC-B", "2027-01-05", "800.00"),
    ]);
    env.append_rejected(&[revise("RC-B", "2027-01-06", "900.00")]); // above 800 now
    env.append_rejected(&[revise("RC-B", "2027-01-06", "800.00")]); // equal
    env.append_rejected(&[revise("RC-B", "2027-01-06", "-1.00")]);
    env.append_rejected(&[revise("RC-B", "2027-01-06", "700.005")]);
    env.append_ok(&[revise("RC-B", "2027-01-06", "0.00")]);
    env.append_rejected(&[revise("RC-B", "2027-01-07", "0.00")]);
    env.nightly("2027-01-20");
    assert_eq!(jtext(&env.statement("RC1"), "overdue_arrears"), "0.00");
}

/// A notice may be served on the day it is issued; disconnection is then allowed from
/// served_on + 15 + 1, which crosses February: 2026-02-19 + 16 = 2026-03-07, and in the leap year
/// 2028-02-19 + 16 = 2028-03-06. A disconnection dated the day before is rejected.
#[test]
fn clear_days_across_february_in_common_and_leap_years() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("N26", "domestic", "S1", Some("9876500026")),
        consumer("N28", "domestic", "S1", Some("9876500028")),
        bill("B-N26", "N26", "2026-01-05", "2026-01-20", "2000.00"),
        bill("B-N28", "N28", "2028-01-05", "2028-01-20", "2000.00"),
    ]);
    // 2026-02-19 − 2026-01-20 = 30 days, 2000.00 ≥ 1000.00 → notice.
    env.nightly("2026-02-19");
    let n26 = row(&env.defaulters("Z1"), "N26").clone();
    assert_eq!(n26["stage"], "notice_issued");
    env.append_ok(&[serve(&n26["notice_no"], "2026-02-19", "hand")]);
    env.nightly("2026-03-06");
    let n26 = row(&env.defaulters("Z1"), "N26").clone();
    assert_eq!(n26["stage"], "notice_served");
    assert_eq!(n26["notice_served_on"], "2026-02-19");
    assert_eq!(n26["disconnection_allowed_on"], "2026-03-07");
    env.append_rejected(&[disconnect("N26", "2026-03-06", "DO-26")]);
    env.nightly("2026-03-07");
    assert_eq!(
        row(&env.defaulters("Z1"), "N26")["stage"],
        "disconnection_due"
    );
    env.append_ok(&[disconnect("N26", "2026-03-07", "DO-26")]);

    // 2028-02-19 − 2028-01-20 = 30 days → notice; served the same day.
    env.nightly("2028-02-19");
    let n28 = row(&env.defaulters("Z1"), "N28").clone();
    assert_eq!(n28["stage"], "notice_issued");
    env.append_ok(&[serve(&n28["notice_no"], "2028-02-19", "affixed")]);
    env.nightly("2028-03-05");
    let n28 = row(&env.defaulters("Z1"), "N28").clone();
    assert_eq!(n28["stage"], "notice_served");
    assert_eq!(n28["disconnection_allowed_on"], "2028-03-06");
    env.append_rejected(&[disconnect("N28", "2028-03-05", "DO-28")]);
    env.nightly("2028-03-06");
    assert_eq!(
        row(&env.defaulters("Z1"), "N28")["stage"],
        "disconnection_due"
    );
    assert_eq!(accounts(&env.worklist("S1", "disconnection")), vec!["N28"]);
}

// ---------------------------------------------------------------------------------------------
// Rankings and awards: periods, revisions, most_improved, weights, grievances (§10)
// ---------------------------------------------------------------------------------------------

/// Financial years run April to March and quarters are Q1 April–June … Q4 January–March, so Q4
/// of FY2026-27 is January–March 2027. Bills issued on 2026-03-31 / 2027-04-01 fall outside
/// FY2026-27, on 2026-04-01 / 2027-03-31 inside. A quarter with nothing billed has no row.
///
/// One consumer F1 in S1 (mobile from 2025-01-01):
///   FB0 1000 issued 2026-03-31 due 2026-04-15; FB1 2000 issued 2026-04-01 due 2026-04-16;
///   FB2 3000 issued 2026-12-31 due 2027-01-15; FB3 4000 issued 2027-01-01 due 2027-01-16;
///   FB4 5000 issued 2027-03-31 due 2027-04-10; FB5 6000 issued 2027-04-01 due 2027-04-15.
///   Payments: 1000 upi 2026-03-31, 500 counter_cash 2026-04-01, 700 upi 2027-03-31,
///   900 upi 2027-04-01.
#[test]
fn financial_years_and_quarters_april_to_march() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("F1", "domestic", "S1", Some("9876500001")),
        bill("FB0", "F1", "2026-03-31", "2026-04-15", "1000.00"),
        bill("FB1", "F1", "2026-04-01", "2026-04-16", "2000.00"),
        bill("FB2", "F1", "2026-12-31", "2027-01-15", "3000.00"),
        bill("FB3", "F1", "2027-01-01", "2027-01-16", "4000.00"),
        bill("FB4", "F1", "2027-03-31", "2027-04-10", "5000.00"),
        bill("FB5", "F1", "2027-04-01", "2027-04-15", "6000.00"),
        payment("FP0", "F1", "1000.00", "2026-03-31", "upi"),
        payment("FP1", "F1", "500.00", "2026-04-01", "counter_cash"),
        payment("FP2", "F1", "700.00", "2027-03-31", "upi"),
        payment("FP3", "F1", "900.00", "2027-04-01", "upi"),
    ]);
    let s1 = |period: &str| by_office(&env.rankings(period, "subdivision"), "S1").clone();
    let figures = |r: &Row| -> Vec<String> {
        [
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
        ]
        .iter()
        .map(|k| r[*k].clone())
        .collect()
    };
    let v = |xs: &[&str]| -> Vec<String> { xs.iter().map(|s| s.to_string()).collect() };

    // FY2025-26 (2025-04-01 … 2026-03-31): billed FB0 1000, collected 1000 upi → 100.00;
    // opening (2025-03-31) 0 → null; closing (2026-03-31): FB0 due 04-15 not overdue → 0.00;
    // digital 100; mobiles 100; score (40 + 10 + 10) / 60 = 100.00.
    let r = s1("FY2025-26");
    assert_eq!(r["period"], "FY2025-26");
    assert_eq!(r["level"], "subdivision");
    assert_eq!(
        figures(&r),
        v(
            &[
                "1000.00", "1000.00", "100.00", "0.00", "0.00", "", "100.00", "100.00", "",
                "100.00"
            ]
        )
    );
    // FY2026-27: billed 2000 + 3000 + 4000 + 5000 = 14000.00; collected 500 + 700 = 1200.00 →
    // 8.5714 → 8.57; opening (2026-03-31) 0.00 → null; closing (2027-03-31): overdue FB0..FB3 =
    // 10000, credits 1000 + 500 + 700 = 2200 → 7800.00 (FB4 due 04-10 not overdue);
    // digital 700 / 1200 = 58.33; mobiles 100;
    // score (40 × 0.085714 + 10 × 0.583333 + 10) / 60 = 19.2619 / 60 = 32.1032 → 32.10.
    assert_eq!(
        figures(&s1("FY2026-27")),
        v(
            &[
                "14000.00", "1200.00", "8.57", "0.00", "7800.00", "", "58.33", "100.00", "",
                "32.10"
            ]
        )
    );
    // FY2026-27-Q1 (April–June 2026): billed FB1 2000; collected 500 cash → 25.00; opening 0 →
    // null; closing (06-30): FB0 + FB1 3000 − 1500 = 1500.00; digital 0.00; mobiles 100;
    // score (10 + 0 + 10) / 60 = 33.33.
    assert_eq!(
        figures(&s1("FY2026-27-Q1")),
        v(&["2000.00", "500.00", "25.00", "0.00", "1500.00", "", "0.00", "100.00", "", "33.33"])
    );
    // Q2 (July–September 2026): nothing billed → S1 not ranked, no row at all.
    assert!(env
        .rankings("FY2026-27-Q2", "subdivision")
        .iter()
        .all(|r| r["office_code"] != "S1"));
    // Q3 (October–December 2026): billed FB2 3000 (issued 12-31); collected 0 → 0.00; opening
    // (09-30) 1500.00; closing (12-31) 1500.00 (FB2 due 2027-01-15) → 0.00; digital null;
    // mobiles 100 → (0 + 0 + 10) / 75 = 13.33.
    assert_eq!(
        figures(&s1("FY2026-27-Q3")),
        v(&["3000.00", "0.00", "0.00", "1500.00", "1500.00", "0.00", "", "100.00", "", "13.33"])
    );
    // Q4 (January–March 2027): billed FB3 + FB4 = 9000.00; collected 700 → 7.7778 → 7.78;
    // opening 1500.00; closing 7800.00 → (1500 − 7800) / 1500 = −420.00 (0 in the score);
    // digital 100; mobiles 100 → (40 × 0.077778 + 0 + 10 + 10) / 85 = 23.1111 / 85 = 27.19.
    let q4 = s1("FY2026-27-Q4");
    assert_eq!(q4["period"], "FY2026-27-Q4");
    assert_eq!(
        figures(&q4),
        v(&[
            "9000.00", "700.00", "7.78", "1500.00", "7800.00", "-420.00", "100.00", "100.00", "",
            "27.19"
        ])
    );
    // Months at both ends of FY2026-27.
    assert_eq!(s1("2026-03")["billed"], "1000.00");
    assert_eq!(s1("2026-04")["billed"], "2000.00");
    assert_eq!(s1("2027-03")["billed"], "5000.00");
    assert_eq!(s1("2027-03")["collected"], "700.00");
    assert_eq!(s1("FY2027-28")["billed"], "6000.00");
    assert_eq!(s1("FY2027-28-Q1")["collected"], "900.00");

    // Awards for Q4 compare with Q3 of the same year: 27.1895 − 13.3333 = 13.86.
    let (header, aw) = env.csv(&["awards", "--period", "FY2026-27-Q4"]);
    assert_eq!(header, cols(AWARD_COLUMNS));
    assert_eq!(
        award_rows(&aw, "subdivision"),
        award_set(&[
            ("gold", "S1", "27.19", "13.86"),
            ("most_improved", "S1", "27.19", "13.86"),
        ])
    );
    assert!(aw.iter().all(|r| r["period"] == "FY2026-27-Q4"));
    // Q3 compares with Q2, where S1 was not ranked: no score_change, no most_improved.
    let aw = env.rows(&["awards", "--period", "FY2026-27-Q3"]);
    assert_eq!(
        award_rows(&aw, "subdivision"),
        award_set(&[("gold", "S1", "13.33", "")])
    );
    // FY2026-27 compares with FY2025-26: 32.1032 − 100 = −67.90 on the gold row.
    let aw = env.rows(&["awards", "--period", "FY2026-27"]);
    let gold: Vec<&Row> = aw
        .iter()
        .filter(|r| r["level"] == "subdivision" && r["award"] == "gold")
        .collect();
    assert_eq!(gold.len(), 1, "{aw:#?}");
    assert_eq!(
        (gold[0]["office_code"].as_str(), gold[0]["score"].as_str()),
        ("S1", "32.10")
    );
    assert_eq!(gold[0]["score_change"], "-67.90");
}

/// "billed … plus (new − previous amount) of revisions with revised_on in P": a bill revised
/// twice lowers each period by that revision's own step; two revisions in one month add up;
/// opening and closing arrears take the amount in force on each date.
///
/// One consumer RR1 in S1 without a mobile, nothing paid:
///   J 1000 issued 2026-07-01 due 07-15, revised to 800 on 08-10 and to 500 on 09-10;
///   A 500 issued 08-01 due 08-15; S 600 issued 09-01 due 09-15;
///   O 700 issued 10-01 due 10-15, revised to 600 on 10-05 and to 550 on 10-20.
#[test]
fn rankings_billed_follows_each_revision_step() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("RR1", "domestic", "S1", None),
        bill("RR-J", "RR1", "2026-07-01", "2026-07-15", "1000.00"),
        bill("RR-A", "RR1", "2026-08-01", "2026-08-15", "500.00"),
        bill("RR-S", "RR1", "2026-09-01", "2026-09-15", "600.00"),
        bill("RR-O", "RR1", "2026-10-01", "2026-10-15", "700.00"),
        revise("RR-J", "2026-08-10", "800.00"),
        revise("RR-J", "2026-09-10", "500.00"),
        revise("RR-O", "2026-10-05", "600.00"),
        revise("RR-O", "2026-10-20", "550.00"),
    ]);
    let s1 = |period: &str| by_office(&env.rankings(period, "subdivision"), "S1").clone();
    // August: billed 500 + (800 − 1000) = 300.00; opening (07-31) J 1000.00; closing (08-31)
    // 800 + 500 = 1300.00 → (1000 − 1300) / 1000 = −30.00. Collected 0 → 0.00, digital null,
    // mobiles 0.00 → score 0.00.
    let aug = s1("2026-08");
    assert_eq!(
        (
            aug["billed"].as_str(),
            aug["opening_arrears"].as_str(),
            aug["closing_arrears"].as_str(),
            aug["arrears_reduction_pct"].as_str(),
            aug["digital_share_pct"].as_str(),
            aug["mobile_coverage_pct"].as_str(),
            aug["score"].as_str()
        ),
        ("300.00", "1000.00", "1300.00", "-30.00", "", "0.00", "0.00")
    );
    // September: billed 600 + (500 − 800) = 300.00; opening 1300.00; closing 500 + 500 + 600 =
    // 1600.00 → −300 / 1300 = −23.08.
    let sep = s1("2026-09");
    assert_eq!(
        (
            sep["billed"].as_str(),
            sep["opening_arrears"].as_str(),
            sep["closing_arrears"].as_str(),
            sep["arrears_reduction_pct"].as_str()
        ),
        ("300.00", "1300.00", "1600.00", "-23.08")
    );
    // October: billed 700 + (600 − 700) + (550 − 600) = 550.00; closing 1600 + 550 = 2150.00.
    let oct = s1("2026-10");
    assert_eq!(
        (oct["billed"].as_str(), oct["closing_arrears"].as_str()),
        ("550.00", "2150.00")
    );
    // July: billed 1000.00 (the later revisions are not in July); closing (07-31) 1000.00.
    let jul = s1("2026-07");
    assert_eq!(
        (jul["billed"].as_str(), jul["closing_arrears"].as_str()),
        ("1000.00", "1000.00")
    );
    // FY2026-27-Q2 (July–September): 1000 + 500 + 600 − 200 − 300 = 1600.00; opening (06-30)
    // 0.00 → reduction null.
    let q2 = s1("FY2026-27-Q2");
    assert_eq!(
        (
            q2["billed"].as_str(),
            q2["opening_arrears"].as_str(),
            q2["closing_arrears"].as_str(),
            q2["arrears_reduction_pct"].as_str()
        ),
        ("1600.00", "0.00", "1600.00", "")
    );
}

/// Scenario for most_improved across a calendar-year boundary (January's previous period is
/// December of the year before). Everyone has a mobile; no grievances.
///   S1: X1 1000 issued 2026-12-01 due 12-15 paid 1000 upi 12-10; XJ 1000 issued 2027-01-01 due
///       01-15 paid 1000 upi 01-10.
///   S2: Y1 1000 issued 2026-12-01 due 12-15 paid 200 counter_cash 12-10; YJ 1000 issued
///       2027-01-01 due 01-15 paid 1000 upi 01-10.
///   S3: W1 (nothing in December) WJ 1000 issued 2027-01-01 due 01-15 paid 900 upi 01-10.
fn improvement_env() -> Env {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("X1", "domestic", "S1", Some("9876500011")),
        consumer("Y1", "domestic", "S2", Some("9876500012")),
        consumer("W1", "domestic", "S3", Some("9876500013")),
        bill("XD", "X1", "2026-12-01", "2026-12-15", "1000.00"),
        bill("YD", "Y1", "2026-12-01", "2026-12-15", "1000.00"),
        payment("PXD", "X1", "1000.00", "2026-12-10", "upi"),
        payment("PYD", "Y1", "200.00", "2026-12-10", "counter_cash"),
        bill("XJ", "X1", "2027-01-01", "2027-01-15", "1000.00"),
        bill("YJ", "Y1", "2027-01-01", "2027-01-15", "1000.00"),
        bill("WJ", "W1", "2027-01-01", "2027-01-15", "1000.00"),
        payment("PXJ", "X1", "1000.00", "2027-01-10", "upi"),
        payment("PYJ", "Y1", "1000.00", "2027-01-10", "upi"),
        payment("PWJ", "W1", "900.00", "2027-01-10", "upi"),
    ]);
    env
}

/// most_improved goes to the largest gain, which need not be the gold medallist; an office ranked
/// only now (S3) has no score_change and cannot be most improved.
#[test]
fn most_improved_is_the_largest_gain_across_a_year_boundary() {
    let env = improvement_env();
    // December, subdivisions: S1 (40 + 10 + 10) / 60 = 100.00; S2 efficiency 20, digital 0,
    // mobiles 100, opening null → (8 + 0 + 10) / 60 = 30.00; S3 billed 0 → not ranked.
    assert_eq!(
        env.rankings("2026-12", "subdivision"),
        csv_rows(
            RANKING_COLUMNS,
            &[
                "2026-12,subdivision,1,S1,Raipur,1000.00,1000.00,100.00,0.00,0.00,,100.00,100.00,,100.00",
                "2026-12,subdivision,2,S2,प्रेमनगर,1000.00,200.00,20.00,0.00,800.00,,0.00,100.00,,30.00",
            ]
        )
    );
    // January: S1 100.00 (opening 0 → null). S2: opening (12-31) 800.00, closing (01-31)
    // 2000 − 1200 = 800.00 → 0.00; efficiency 100; digital 100; mobiles 100 →
    // (40 + 0 + 10 + 10) / 85 = 70.588 → 70.59. S3: efficiency 90, digital 100, mobiles 100,
    // opening null → (36 + 10 + 10) / 60 = 93.33; closing 100.00.
    assert_eq!(
        env.rankings("2027-01", "subdivision"),
        csv_rows(
            RANKING_COLUMNS,
            &[
                "2027-01,subdivision,1,S1,Raipur,1000.00,1000.00,100.00,0.00,0.00,,100.00,100.00,,100.00",
                "2027-01,subdivision,2,S3,Rishikesh Nagar,1000.00,900.00,90.00,0.00,100.00,,100.00,100.00,,93.33",
                "2027-01,subdivision,3,S2,प्रेमनगर,1000.00,1000.00,100.00,800.00,800.00,0.00,100.00,100.00,,70.59",
            ]
        )
    );
    // Divisions. December: D1 billed 2000, collected 1200 → 60; digital 1000 / 1200 = 83.33;
    // mobiles 2 / 2; opening null → (24 + 8.3333 + 10) / 60 = 70.5556 → 70.56. D2 not ranked.
    // January: D1 billed 2000, collected 2000 → 100; opening 800, closing 800 → 0.00; digital 100;
    // mobiles 100 → 60 / 85 = 70.59. D2 = S3 = 93.33.
    let div = env.rankings("2027-01", "division");
    let order: Vec<(&str, &str, &str)> = div
        .iter()
        .map(|r| {
            (
                r["rank"].as_str(),
                r["office_code"].as_str(),
                r["score"].as_str(),
            )
        })
        .collect();
    assert_eq!(order, vec![("1", "D2", "93.33"), ("2", "D1", "70.59")]);
    // Circle, January: billed 3000, collected 2900 → 96.67; opening 800, closing 800 + 100 = 900
    // → −12.50 (0 in the score); digital 100; mobiles 3 / 3 →
    // (38.6667 + 0 + 10 + 10) / 85 = 69.0196 → 69.02.
    assert_eq!(
        env.rankings("2027-01", "circle"),
        csv_rows(
            RANKING_COLUMNS,
            &["2027-01,circle,1,C1,Dehradun Circle,3000.00,2900.00,96.67,800.00,900.00,-12.50,100.00,100.00,,69.02"]
        )
    );

    let aw = env.rows(&["awards", "--period", "2027-01"]);
    // Subdivisions: gold S1 (100 − 100 = 0.00), silver S3 (not ranked in December), bronze S2
    // (70.5882 − 30 = 40.59); most_improved S2, the largest gain.
    assert_eq!(
        award_rows(&aw, "subdivision"),
        award_set(&[
            ("gold", "S1", "100.00", "0.00"),
            ("silver", "S3", "93.33", ""),
            ("bronze", "S2", "70.59", "40.59"),
            ("most_improved", "S2", "70.59", "40.59"),
        ])
    );
    // Divisions: gold D2 (new), silver D1 70.5882 − 70.5556 = 0.0327 → 0.03; most_improved D1.
    assert_eq!(
        award_rows(&aw, "division"),
        award_set(&[
            ("gold", "D2", "93.33", ""),
            ("silver", "D1", "70.59", "0.03"),
            ("most_improved", "D1", "70.59", "0.03"),
        ])
    );
    // Circle: December C1 = 70.56 (as D1; W1 counts in mobiles: 3 / 3); gold C1 with
    // 69.0196 − 70.5556 = −1.5359 → −1.54.
    let circle_gold: Vec<&Row> = aw
        .iter()
        .filter(|r| r["level"] == "circle" && r["award"] == "gold")
        .collect();
    assert_eq!(circle_gold.len(), 1);
    assert_eq!(
        (
            circle_gold[0]["office_code"].as_str(),
            circle_gold[0]["score"].as_str(),
            circle_gold[0]["score_change"].as_str()
        ),
        ("C1", "69.02", "-1.54")
    );
    // Awards for a financial year with nothing ranked the year before: no score_change, no
    // most_improved. FY2026-27 S1: billed 2000, collected 2000, opening null → 100.00.
    let fy = env.rows(&["awards", "--period", "FY2026-27"]);
    assert!(fy.iter().all(|r| r["award"] != "most_improved"), "{fy:#?}");
    assert!(fy.iter().all(|r| r["score_change"].is_empty()), "{fy:#?}");
    assert!(fy
        .iter()
        .any(|r| r["level"] == "subdivision" && r["award"] == "gold" && r["office_code"] == "S1"));
}

/// The policy's ranking weights replace the defaults, and null metrics still drop out of the
/// denominator. Weights 1, 1, 1, 1, 1 make the score the plain mean of the non-null clamped
/// metrics.
#[test]
fn ranking_weights_from_the_policy_file() {
    let env = Env::with_policy(
        "[ranking.weights]\ncollection_efficiency = 1\narrears_reduction = 1\n\
         grievance_resolution = 1\ndigital_share = 1\nmobile_coverage = 1\n",
    );
    env.offices();
    env.append_ok(&[
        consumer("WT1", "domestic", "S1", Some("9876500021")),
        consumer("WT2", "domestic", "S1", None),
        bill("WT-B1", "WT1", "2026-08-01", "2026-08-15", "1000.00"),
        bill("WT-B2", "WT2", "2026-08-01", "2026-08-15", "1000.00"),
        payment("WT-P1", "WT1", "500.00", "2026-08-10", "upi"),
        payment("WT-P2", "WT2", "300.00", "2026-08-10", "counter_cash"),
    ]);
    // S1, August: billed 2000, collected 800 → 40.00; opening null; digital 500 / 800 = 62.50;
    // mobiles 1 / 2 = 50.00; grievances null → (0.40 + 0.625 + 0.50) / 3 × 100 = 50.8333 → 50.83.
    // (Default weights would give (16 + 6.25 + 5) / 60 = 45.42.)
    let s1 = by_office(&env.rankings("2026-08", "subdivision"), "S1").clone();
    assert_eq!(
        (
            s1["collection_efficiency_pct"].as_str(),
            s1["digital_share_pct"].as_str(),
            s1["mobile_coverage_pct"].as_str(),
            s1["score"].as_str()
        ),
        ("40.00", "62.50", "50.00", "50.83")
    );
    let shown = env.ok(&["policy", "show"]);
    assert!(shown.contains("mobile_coverage = 1"), "{shown}");
}

/// Grievance resolution for a period is a pure function of events dated ≤ the period's last day:
/// a grievance resolved after the period counts as unresolved then; if its 15 days had run out
/// by the period's end it counts against, otherwise it is left out. Resolving on the 15th day is
/// within time. A grievance registered before the period is not counted.
///
/// S1 has one consumer G1 (mobile) billed 1000 on 2026-08-01 due 08-15 and paid 1000 upi 08-10.
///   GA registered 08-01 resolved 08-16 (15 days) → within.
///   GF registered 08-20 resolved 08-31 → within.
///   GC registered 08-10 resolved 09-01 → at 08-31 unresolved, time ran out 08-25 → against.
///   GD registered 08-25 resolved 09-02 → at 08-31 still in time → left out.
///   GE registered 07-31 resolved 08-05 → registered before August → not counted.
#[test]
fn grievance_resolution_counts_only_what_is_known_at_period_end() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("G1", "domestic", "S1", Some("9876500031")),
        bill("G1-B", "G1", "2026-08-01", "2026-08-15", "1000.00"),
        payment("G1-P", "G1", "1000.00", "2026-08-10", "upi"),
        grievance("GA", "S1", "billing", "2026-08-01"),
        resolve_grievance("GA", "2026-08-16"),
        grievance("GF", "S1", "supply", "2026-08-20"),
        resolve_grievance("GF", "2026-08-31"),
        grievance("GC", "S1", "metering", "2026-08-10"),
        resolve_grievance("GC", "2026-09-01"),
        grievance("GD", "S1", "other", "2026-08-25"),
        resolve_grievance("GD", "2026-09-02"),
        grievance("GE", "S1", "new_connection", "2026-07-31"),
        resolve_grievance("GE", "2026-08-05"),
    ]);
    // within GA, GF = 2; against GC = 1 → 2 / 3 = 66.67.
    // score = (40 × 1 + 15 × 0.66667 + 10 × 1 + 10 × 1) / (40 + 15 + 10 + 10) = 70 / 75 = 93.33.
    let before = env.rankings("2026-08", "subdivision");
    let s1 = by_office(&before, "S1");
    assert_eq!(s1["grievance_resolution_pct"], "66.67");
    assert_eq!(s1["score"], "93.33");
    // The same after nightly runs past the resolutions.
    env.nightly("2026-09-30");
    assert_eq!(env.rankings("2026-08", "subdivision"), before);
}

/// The 15-day boundary of grievances.resolution_days for one still open at the period's end, and
/// a grievance resolved late inside the period. Registered 08-16 and open on 08-31: 15 days have
/// passed, it can still be resolved within time → left out. Registered 08-15 and open on 08-31:
/// 16 days → its time ran out unresolved → against. GB registered 08-01, resolved 08-17 (16
/// days): its time ran out on 08-16 while unresolved → against. GA registered 08-01 resolved
/// 08-16 → within. → 1 / (1 + 2) = 33.33; score (40 + 15 × 0.33333 + 10 + 10) / 75 = 86.67.
#[test]
fn grievance_resolution_boundary_and_late_resolution() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("G1", "domestic", "S1", Some("9876500031")),
        bill("G1-B", "G1", "2026-08-01", "2026-08-15", "1000.00"),
        payment("G1-P", "G1", "1000.00", "2026-08-10", "upi"),
        grievance("GA", "S1", "billing", "2026-08-01"),
        resolve_grievance("GA", "2026-08-16"),
        grievance("GB", "S1", "billing", "2026-08-01"),
        resolve_grievance("GB", "2026-08-17"),
        grievance("GH", "S1", "supply", "2026-08-16"),
        grievance("GI", "S1", "supply", "2026-08-15"),
    ]);
    let s1 = by_office(&env.rankings("2026-08", "subdivision"), "S1").clone();
    assert_eq!(s1["grievance_resolution_pct"], "33.33");
    assert_eq!(s1["score"], "86.67");
}

// ---------------------------------------------------------------------------------------------
// Campaign coverage and camps (§2, §7, §8, §10)
// ---------------------------------------------------------------------------------------------

/// Campaign coverage is as of the last nightly run: a mobile registered after that date does not
/// count yet, a consumer connected after it is not active yet; a consumer connected on the run's
/// date is. In the rankings, a mobile registered on the period's last day counts and one
/// registered the day after does not; a consumer connected on the last day is in the denominator.
///
///   S1: CA1 mobile from 2025-01-01; CA2 no mobile until register_mobile dated 2026-02-05;
///       CA4 connected 2026-01-31 without a mobile; CA3 connected 2026-03-01 with a mobile.
///   S2: CB1 register_mobile dated 2026-01-31.
///   Bills (so that S1 and S2 are ranked): CA1 in January and February, CB1 in January.
#[test]
fn campaign_and_mobile_coverage_respect_dates() {
    let env = Env::new();
    env.offices();
    let mut ca3 = consumer("CA3", "domestic", "S1", Some("9876500043"));
    ca3["connected_on"] = json!("2026-03-01");
    let mut ca4 = consumer("CA4", "domestic", "S1", None);
    ca4["connected_on"] = json!("2026-01-31");
    env.append_ok(&[
        consumer("CA1", "domestic", "S1", Some("9876500041")),
        consumer("CA2", "domestic", "S1", None),
        ca3,
        ca4,
        consumer("CB1", "domestic", "S2", None),
        register_mobile("CA2", "9876500042", "2026-02-05", "field"),
        register_mobile("CB1", "9876500051", "2026-01-31", "sms"),
        bill("CA1-J", "CA1", "2026-01-10", "2026-01-25", "100.00"),
        bill("CA1-F", "CA1", "2026-02-10", "2026-02-25", "100.00"),
        bill("CB1-J", "CB1", "2026-01-10", "2026-01-25", "100.00"),
    ]);
    // Rankings need no nightly run. January: S1 has CA1 (yes), CA2 (mobile only from 02-05),
    // CA4 (connected 01-31, no mobile) → 1 / 3 = 33.33; CA3 connected later is left out.
    // S2: CB1 registered on 01-31 = the last day → 1 / 1 = 100.00.
    let jan = env.rankings("2026-01", "subdivision");
    assert_eq!(by_office(&jan, "S1")["mobile_coverage_pct"], "33.33");
    assert_eq!(by_office(&jan, "S2")["mobile_coverage_pct"], "100.00");
    // February: CA1, CA2 of CA1, CA2, CA4 → 66.67.
    let feb = env.rankings("2026-02", "subdivision");
    assert_eq!(by_office(&feb, "S1")["mobile_coverage_pct"], "66.67");

    let cov = |office: &str| -> Vec<(String, String, String, String)> {
        let (header, rows) = env.csv(&["campaign", "--office", office]);
        assert_eq!(header, cols(CAMPAIGN_COLUMNS));
        let mut v: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r["office_code"].clone(),
                    r["active_consumers"].clone(),
                    r["with_mobile"].clone(),
                    r["mobile_coverage_pct"].clone(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let t = |o: &str, a: &str, w: &str, p: &str| {
        (o.to_string(), a.to_string(), w.to_string(), p.to_string())
    };
    // 2026-02-01: S1 active CA1, CA2, CA4 (CA3 from 03-01) with CA1 → 33.33; S2 1 / 1.
    env.nightly("2026-02-01");
    assert_eq!(
        cov("D1"),
        vec![t("S1", "3", "1", "33.33"), t("S2", "1", "1", "100.00")]
    );
    assert_eq!(
        accounts(&env.worklist("Z1", "no_mobile")),
        vec!["CA2", "CA4"]
    );
    // 2026-02-05: CA2's mobile counts → 2 / 3 = 66.67.
    env.nightly("2026-02-05");
    assert_eq!(cov("S1"), vec![t("S1", "3", "2", "66.67")]);
    assert_eq!(accounts(&env.worklist("Z1", "no_mobile")), vec!["CA4"]);
    // 2026-03-01: CA3 connected today with a mobile → 3 / 4 = 75.00.
    env.nightly("2026-03-01");
    assert_eq!(cov("S1"), vec![t("S1", "4", "3", "75.00")]);
}

/// A number on more than 5 active consumers is flagged even when they sit in different
/// subdivisions; once one of them registers another number, 5 remain and nothing is flagged.
#[test]
fn shared_mobile_counts_across_subdivisions_and_follows_replacement() {
    let env = Env::new();
    env.offices();
    let mut cmds = Vec::new();
    for (acc, sub) in [
        ("SH1", "S1"),
        ("SH2", "S1"),
        ("SH3", "S1"),
        ("SH4", "S2"),
        ("SH5", "S2"),
        ("SH6", "S2"),
    ] {
        cmds.push(consumer(acc, "domestic", sub, Some("9999900000")));
    }
    cmds.push(register_mobile("SH6", "9999900006", "2026-01-10", "online"));
    env.append_ok(&cmds);
    let flagged = |rows: &[Row]| {
        rows.iter()
            .filter(|r| !["", "0"].contains(&r["shared_mobiles"].as_str()))
            .count()
    };
    // 2026-01-01: six active consumers on 9999900000 → flagged (in S1, S2 or both).
    env.nightly("2026-01-01");
    let rows = env.rows(&["campaign", "--office", "D1"]);
    assert!(
        flagged(&rows) >= 1,
        "six consumers share one number: {rows:#?}"
    );
    // 2026-01-10: SH6 moved to its own number → five → not flagged.
    env.nightly("2026-01-10");
    let rows = env.rows(&["campaign", "--office", "Z1"]);
    assert_eq!(flagged(&rows), 0, "{rows:#?}");
    assert_eq!(by_office(&rows, "S2")["with_mobile"], "3");
}

/// The camp report has one row per subdivision below the asked office, at every level, and
/// counts camps, camp payments and camp mobiles by their dates within quarters of the financial
/// year (Q2 = July–September).
#[test]
fn camps_report_rows_per_office_level_and_quarter_edges() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("CM1", "domestic", "S3", None),
        consumer("CM2", "domestic", "S3", None),
        json!({"type": "schedule_camp", "camp_id": "CQ1", "subdivision": "S3",
               "on": "2026-09-30", "venue": "Triveni Ghat"}),
        json!({"type": "hold_camp", "camp_id": "CQ1", "held_on": "2026-09-30",
               "officers_present": ["SDO", "JE"]}),
        json!({"type": "schedule_camp", "camp_id": "CQ0", "subdivision": "S3",
               "on": "2026-06-30", "venue": "Triveni Ghat"}),
        payment("CQ-P1", "CM1", "250.00", "2026-07-01", "camp"),
        payment("CQ-P2", "CM1", "100.00", "2026-06-30", "camp"),
        payment("CQ-P3", "CM2", "75.50", "2026-10-01", "camp"),
        payment("CQ-P4", "CM2", "40.00", "2026-08-01", "agent"),
        register_mobile("CM1", "9876500061", "2026-07-01", "camp"),
        register_mobile("CM2", "9876500062", "2026-06-30", "camp"),
        grievance("GQ1", "S3", "supply", "2026-07-01"),
        resolve_grievance("GQ1", "2026-07-10"),
    ]);
    env.nightly("2026-10-31");
    // Z1 and C1: S1, S2 and S3; D1: S1, S2; D2 and S3: S3 only.
    for (office, want) in [
        ("Z1", set(&["S1", "S2", "S3"])),
        ("C1", set(&["S1", "S2", "S3"])),
        ("D1", set(&["S1", "S2"])),
        ("D2", set(&["S3"])),
        ("S3", set(&["S3"])),
    ] {
        let (header, rows) = env.csv(&["camps", "--office", office, "--period", "FY2026-27-Q2"]);
        assert_eq!(header, cols(CAMPS_COLUMNS));
        assert_eq!(office_codes(&rows), want, "camps --office {office}");
    }
    // Q2 for S3: CQ1 scheduled and held 09-30 with the SDO → 1, 1, 100.00; GQ1 supply resolved
    // in 9 days → 100.00; camp collections CQ-P1 250.00 (07-01; 06-30 and 10-01 are outside,
    // CQ-P4 is not channel camp); camp mobiles CM1 (07-01) = 1.
    let rows = env.rows(&["camps", "--office", "Z1", "--period", "FY2026-27-Q2"]);
    assert_eq!(
        by_office(&rows, "S3"),
        &csv_rows(
            CAMPS_COLUMNS,
            &["S3,Rishikesh Nagar,1,1,100.00,1,0,0,0,1,0,100.00,250.00,1"]
        )[0]
    );
    assert_eq!(
        by_office(&rows, "S1"),
        &csv_rows(CAMPS_COLUMNS, &["S1,Raipur,0,0,,0,0,0,0,0,0,,0.00,0"])[0]
    );
    // Q1 (April–June): CQ0 scheduled 06-30, not held; collections 100.00; mobiles CM2 = 1.
    let rows = env.rows(&["camps", "--office", "S3", "--period", "FY2026-27-Q1"]);
    assert_eq!(
        rows,
        csv_rows(
            CAMPS_COLUMNS,
            &["S3,Rishikesh Nagar,1,0,,0,0,0,0,0,0,,100.00,1"]
        )
    );
    // October 2026: only CQ-P3 75.50.
    let rows = env.rows(&["camps", "--office", "D2", "--period", "2026-10"]);
    assert_eq!(
        rows,
        csv_rows(
            CAMPS_COLUMNS,
            &["S3,Rishikesh Nagar,0,0,,0,0,0,0,0,0,,75.50,0"]
        )
    );
    // FY2026-27: scheduled 2, held 1 (with SDO → 100.00), collections 250 + 100 + 75.50 = 425.50,
    // camp mobiles 2.
    let fy = env.rows(&["camps", "--office", "S3", "--period", "FY2026-27"]);
    assert_eq!(
        fy,
        csv_rows(
            CAMPS_COLUMNS,
            &["S3,Rishikesh Nagar,2,1,100.00,1,0,0,0,1,0,100.00,425.50,2"]
        )
    );
}

/// Every list command covers exactly the subdivisions below the asked office, at every level.
#[test]
fn list_commands_cover_the_offices_below_at_every_level() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("OL1", "domestic", "S1", None),
        consumer("OL2", "domestic", "S2", None),
        consumer("OL3", "domestic", "S3", None),
        bill("OL-B1", "OL1", "2026-01-05", "2026-01-20", "3000.00"),
        bill("OL-B2", "OL2", "2026-01-05", "2026-01-20", "2000.00"),
        bill("OL-B3", "OL3", "2026-01-05", "2026-01-20", "1500.00"),
    ]);
    // 2026-02-19: 30 days, all ≥ 1000.00 → notices; first anniversary 02-20 not reached.
    env.nightly("2026-02-19");
    for (office, want) in [
        ("Z1", vec!["OL1", "OL2", "OL3"]),
        ("C1", vec!["OL1", "OL2", "OL3"]),
        ("D1", vec!["OL1", "OL2"]),
        ("D2", vec!["OL3"]),
        ("S1", vec!["OL1"]),
        ("S2", vec!["OL2"]),
        ("S3", vec!["OL3"]),
    ] {
        assert_eq!(
            accounts(&env.defaulters(office)),
            want,
            "defaulters {office}"
        );
        assert_eq!(
            accounts(&env.worklist(office, "serve_notice")),
            want,
            "serve_notice {office}"
        );
        assert_eq!(
            accounts(&env.worklist(office, "no_mobile")),
            want,
            "no_mobile {office}"
        );
    }
    for (office, want) in [
        ("Z1", set(&["S1", "S2", "S3"])),
        ("C1", set(&["S1", "S2", "S3"])),
        ("D1", set(&["S1", "S2"])),
        ("D2", set(&["S3"])),
        ("S2", set(&["S2"])),
    ] {
        assert_eq!(
            office_codes(&env.rows(&["campaign", "--office", office])),
            want,
            "campaign {office}"
        );
    }
    // Division rows: D1 = OL1 + OL2, D2 = OL3; circle C1 all three; a row names its division
    // and circle.
    let list = env.defaulters("Z1");
    assert_eq!(
        (
            row(&list, "OL2")["subdivision"].as_str(),
            row(&list, "OL2")["division"].as_str(),
            row(&list, "OL2")["circle"].as_str()
        ),
        ("S2", "D1", "C1")
    );
    // Unknown offices are refused by every list command.
    for args in [
        vec!["defaulters", "--office", "NOPE"],
        vec!["worklist", "--office", "NOPE", "--kind", "no_mobile"],
        vec!["campaign", "--office", "NOPE"],
        vec!["camps", "--office", "NOPE", "--period", "2026-01"],
    ] {
        assert!(!env.run(&args).status.success(), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Exit codes, error shapes, defaults and formats (docs/CLI.md)
// ---------------------------------------------------------------------------------------------

/// Exit 2 for usage errors: an unknown command, a missing required flag, a bad flag value, a
/// malformed period or date; nothing is written.
#[test]
fn usage_errors_are_exit_2() {
    let env = Env::new();
    env.offices();
    let before = env.export();
    for args in [
        vec!["frobnicate"],
        vec!["defaulters"],
        vec!["worklist", "--office", "Z1"],
        vec!["nightly"],
        vec!["nightly", "--as-of", "2026-13-01"],
        vec!["nightly", "--as-of", "20260101"],
        vec!["nightly", "--as-of", "2027-02-29"],
        vec!["--format", "xml", "defaulters", "--office", "Z1"],
        vec!["defaulters", "--office", "Z1", "--limit", "abc"],
        vec!["defaulters", "--office", "Z1", "--limit", "-1"],
        vec!["defaulters", "--office", "Z1", "--min-arrears", "lots"],
        vec!["rankings", "--period", "2026-08"],
        vec!["rankings", "--period", "2026-00", "--level", "circle"],
        vec!["rankings", "--period", "2026-8", "--level", "circle"],
        vec!["rankings", "--period", "FY2026-28", "--level", "circle"],
        vec!["rankings", "--period", "FY2026-27-Q5", "--level", "circle"],
        vec!["rankings", "--period", "FY2026-27-Q0", "--level", "circle"],
        vec!["rankings", "--period", "2026-08", "--level", "office"],
        vec!["awards", "--period", "2026-13"],
        vec!["awards", "--period", "FY2026"],
        vec!["camps", "--office", "Z1", "--period", "August"],
        vec!["camps", "--office", "Z1"],
        vec!["sms", "outbox", "--status", "bogus"],
        vec!["import", "offices"],
        vec!["tokens", "create", "--role", "emperor", "--name", "x"],
    ] {
        let out = env.run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no message on stderr");
    }
    assert!(env.export() == before, "a usage error wrote events");
}

/// Exit 1 for runtime failures (I/O): the export file cannot be created, the data directory is a
/// plain file.
#[test]
fn io_failures_are_exit_1() {
    let env = Env::new();
    env.offices();
    let missing_dir = env.tmp.path().join("no-such-dir").join("out.jsonl");
    let out = env.run(&["export", "--out", missing_dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = env.write("not-a-dir", "txt", "hello");
    let out = Command::new(BIN)
        .env_remove("VASOOLI_DATA")
        .arg("--data")
        .arg(&file)
        .args(["--format", "csv", "campaign", "--office", "Z1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reading an input file that does not exist fails without writing anything (exit 1 as an
    // I/O failure; 2 is accepted as a bad argument, see the report).
    let before = env.export();
    let gone = env.tmp.path().join("missing.csv");
    let code = env.code(&["import", "consumers", gone.to_str().unwrap()]);
    assert!(matches!(code, Some(1) | Some(2)), "{code:?}");
    let code = env.code(&["append", gone.to_str().unwrap()]);
    assert!(matches!(code, Some(1) | Some(2)), "{code:?}");
    assert!(env.export() == before);
}

/// Exit 3 for rejected input, every bad line reported on its own stderr line as FILE:LINE with
/// the key or column, nothing written: a bad amount, an unknown key, an unknown account, a
/// conflicting natural key within one file; and for CSV: unknown references, due before issue,
/// a malformed period; and for mobiles, a changed row under the same natural key.
#[test]
fn rejected_input_reports_every_bad_line_with_file_line_and_key() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[consumer("EL1", "domestic", "S1", None)]);
    let before = env.export();
    let (path, out) = env.append(&[
        payment("EL-P1", "EL1", "10.00", "2026-08-01", "upi"),
        payment("EL-P2", "EL1", "10.123", "2026-08-01", "upi"),
        payment("EL-P3", "EL1", "10.00", "2026-08-01", "upi"),
        json!({"type": "receive_payment", "receipt_no": "EL-P4", "account_no": "EL1",
               "amount": "5.00", "paid_on": "2026-08-01", "channel": "upi", "cashier": "x"}),
        payment("EL-P5", "NOSUCH", "10.00", "2026-08-01", "upi"),
    ]);
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{err}");
    let line_of = |n: usize| {
        err.lines()
            .find(|l| l.contains(&format!("{name}:{n}")))
            .unwrap_or_else(|| panic!("no `{name}:{n}` in stderr: {err}"))
            .to_string()
    };
    assert!(line_of(2).contains("amount"), "{err}");
    assert!(line_of(4).contains("cashier"), "{err}");
    assert!(line_of(5).contains("account_no"), "{err}");
    assert!(!err.contains(&format!("{name}:1")), "{err}");
    assert!(!err.contains(&format!("{name}:3")), "{err}");
    assert!(env.export() == before);

    // The same receipt twice in one file with different amounts.
    let (_, out) = env.append(&[
        payment("EL-P9", "EL1", "10.00", "2026-08-01", "upi"),
        payment("EL-P9", "EL1", "20.00", "2026-08-01", "upi"),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(env.export() == before);

    // Bills: unknown account (line 2), due before issue (line 3), bad period (line 4); line 5 good.
    let (path, out) = env.import(
        "bills",
        "bill_no,account_no,period,issued_on,due_on,amount\n\
         EB1,NOSUCH,2026-08,2026-08-01,2026-08-15,10.00\n\
         EB2,EL1,2026-08,2026-08-10,2026-08-09,10.00\n\
         EB3,EL1,2026-8,2026-08-01,2026-08-15,10.00\n\
         EB4,EL1,2026-08,2026-08-01,2026-08-15,10.00\n",
    );
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{err}");
    for (n, col) in [(2, "account_no"), (3, "due_on"), (4, "period")] {
        let l = err
            .lines()
            .find(|l| l.contains(&format!("{name}:{n}")))
            .unwrap_or_else(|| panic!("no `{name}:{n}`: {err}"));
        assert!(l.contains(col), "line {n} names no `{col}`: {l}");
    }
    assert!(!err.contains(&format!("{name}:5")), "{err}");
    assert!(env.export() == before);

    // Mobiles: the natural key (account_no, mobile, registered_on) with another source is a
    // conflict; the same number on another date is a new registration.
    env.import_ok(
        "mobiles",
        "account_no,mobile,registered_on,source\nEL1,9876500071,2026-08-01,camp\n",
    );
    let (_, out) = env.import(
        "mobiles",
        "account_no,mobile,registered_on,source\nEL1,9876500071,2026-08-01,field\n",
    );
    assert_eq!(out.status.code(), Some(3));
    let out = env.import_ok(
        "mobiles",
        "account_no,mobile,registered_on,source\nEL1,9876500071,2026-08-01,camp\n\
         EL1,9876500071,2026-08-02,camp\n",
    );
    assert_eq!(counts(&out), vec![2, 1, 1], "{out}");
}

/// docs/CLI.md: `append` is "validated as a whole like import", and import reports "every bad
/// row". A line that is not JSON must not hide the bad lines after it.
#[test]
fn a_line_that_is_not_json_does_not_hide_other_bad_lines() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[consumer("EJ1", "domestic", "S1", None)]);
    let before = env.export();
    let text = [
        payment("EJ-P1", "EJ1", "10.00", "2026-08-01", "upi").to_string(),
        "{not json".to_string(),
        payment("EJ-P2", "EJ1", "10.123", "2026-08-01", "upi").to_string(),
    ]
    .join("\n")
        + "\n";
    let (path, out) = env.append_text(&text);
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("{name}:2")), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains(&format!("{name}:3")) && l.contains("amount")),
        "line 3 (a third decimal) not reported: {err}"
    );
    assert!(env.export() == before);
}

/// Defaults: `--data` is ./vasooli-data in the working directory; `--format` is table (neither
/// JSON nor the CSV header line); `sms outbox` without `--status` lists every status; `--format
/// html` is only for `awards` (exit 2 elsewhere).
#[test]
fn flag_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let offices = tmp.path().join("offices.csv");
    fs::write(&offices, OFFICES_CSV).unwrap();
    let out = Command::new(BIN)
        .env_remove("VASOOLI_DATA")
        .current_dir(tmp.path())
        .args(["import", "offices", offices.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(tmp.path().join("vasooli-data").is_dir());
    let out = Command::new(BIN)
        .env_remove("VASOOLI_DATA")
        .arg("--data")
        .arg(tmp.path().join("vasooli-data"))
        .args(["--format", "csv", "campaign", "--office", "Z1"])
        .output()
        .unwrap();
    let (_, rows) = parse_csv(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(office_codes(&rows), set(&["S1", "S2", "S3"]));

    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("FD1", "domestic", "S1", Some("9876500081")),
        bill("FD-B", "FD1", "2026-01-05", "2026-01-20", "1234.50"),
    ]);
    // A run on the bill's issue date queues its message.
    env.nightly("2026-01-05");
    env.nightly("2026-02-01");
    let table = env.ok(&["defaulters", "--office", "Z1"]);
    assert!(
        table.contains("FD1") && table.contains("1234.50"),
        "{table}"
    );
    assert!(serde_json::from_str::<Value>(&table).is_err());
    assert!(
        !table.lines().any(|l| l.trim() == DEFAULTER_COLUMNS),
        "table output looks like CSV: {table}"
    );
    let all = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox"])).1;
    let queued = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox", "--status", "queued"])).1;
    assert!(!all.is_empty());
    assert_eq!(all.len(), queued.len(), "nothing sent yet: all are queued");
    assert_eq!(
        env.code(&["--format", "html", "defaulters", "--office", "Z1"]),
        Some(2)
    );
}

/// Output shapes: an empty list is a header-only CSV and an empty JSON array; RFC 4180 quoting of
/// a name with a comma and quotes; `--excel` adds a BOM to every CSV list; JSON of the campaign,
/// camps, rankings and awards has exactly the CSV columns, with figures as the same strings and
/// empty fields as null.
#[test]
fn output_shapes_for_every_list() {
    let env = Env::new();
    env.offices();
    let mut odd = consumer("QT1", "domestic", "S1", Some("9876500091"));
    odd["name"] = json!("Sharma, \"Bittu\" ठेकेदार");
    env.append_ok(&[
        odd,
        consumer("QT2", "domestic", "S2", None),
        bill("QT-B1", "QT1", "2026-08-01", "2026-08-15", "1000.00"),
        bill("QT-B2", "QT2", "2026-08-01", "2026-08-15", "600.00"),
        payment("QT-P1", "QT1", "250.00", "2026-08-10", "camp"),
        grievance("QG1", "S1", "billing", "2026-08-02"),
    ]);
    env.nightly("2026-08-31");

    // S3 has nobody: header-only CSV, empty JSON array.
    let text = env.ok(&["--format", "csv", "defaulters", "--office", "S3"]);
    assert_eq!(text.trim_end(), DEFAULTER_COLUMNS);
    assert_eq!(
        env.json(&["defaulters", "--office", "S3"]),
        Value::Array(vec![])
    );
    let text = env.ok(&[
        "--format",
        "csv",
        "worklist",
        "--office",
        "S3",
        "--kind",
        "disconnection",
    ]);
    assert_eq!(text.trim_end(), format!("{DEFAULTER_COLUMNS},kind"));

    // RFC 4180: the field is quoted and inner quotes doubled; the name reads back intact.
    let text = env.ok(&["--format", "csv", "defaulters", "--office", "Z1"]);
    assert!(text.contains("\"Sharma, \"\"Bittu\"\" ठेकेदार\""), "{text}");
    let (_, rows) = parse_csv(&text);
    assert_eq!(row(&rows, "QT1")["name"], "Sharma, \"Bittu\" ठेकेदार");
    // QT1: 1000 − 250 = 750.00 overdue (due 08-15), 16 days; QT2 600.00.
    assert_eq!(accounts(&rows), vec!["QT1", "QT2"]);

    for args in [
        vec!["defaulters", "--office", "Z1"],
        vec!["campaign", "--office", "Z1"],
        vec!["camps", "--office", "Z1", "--period", "2026-08"],
        vec!["rankings", "--period", "2026-08", "--level", "subdivision"],
        vec!["awards", "--period", "2026-08"],
    ] {
        let mut excel = vec!["--format", "csv", "--excel"];
        excel.extend_from_slice(&args);
        let raw = env.run(&excel);
        assert!(raw.status.success(), "{args:?}");
        assert!(raw.stdout.starts_with(b"\xEF\xBB\xBF"), "{args:?}: no BOM");
        let plain = env.ok(&{
            let mut v = vec!["--format", "csv"];
            v.extend_from_slice(&args);
            v
        });
        assert!(
            !plain.starts_with('\u{feff}'),
            "{args:?}: BOM without --excel"
        );

        let (header, rows) = parse_csv(&plain);
        let js = env.json(&args);
        let arr = js.as_array().unwrap_or_else(|| panic!("{args:?}: {js}"));
        assert_eq!(arr.len(), rows.len(), "{args:?}");
        assert!(!rows.is_empty(), "{args:?}");
        for (obj, r) in arr.iter().zip(&rows) {
            let keys: Vec<String> = obj.as_object().unwrap().keys().cloned().collect();
            assert_eq!(
                keys.iter().collect::<BTreeSet<_>>(),
                header.iter().collect::<BTreeSet<_>>(),
                "{args:?}"
            );
            for col in &header {
                let text = &r[col];
                let v = &obj[col.as_str()];
                let figure = col.ends_with("_pct")
                    || [
                        "score",
                        "score_change",
                        "billed",
                        "collected",
                        "opening_arrears",
                        "closing_arrears",
                        "overdue_arrears",
                        "camp_collections",
                    ]
                    .contains(&col.as_str());
                if text.is_empty() {
                    if col != "hold" {
                        assert!(v.is_null(), "{args:?} {col}: empty in CSV, {v} in JSON");
                    }
                } else if figure {
                    assert_eq!(v, &Value::String(text.clone()), "{args:?} {col}");
                } else {
                    assert_eq!(jtext(obj, col), *text, "{args:?} {col}");
                }
            }
        }
    }
    // Camps for S1 in August: one billing grievance registered 08-02 and still open on 08-31,
    // 29 days > 15 → its time ran out → 0 / 1 = 0.00; camp collections 250.00.
    let camps = env.rows(&["camps", "--office", "S1", "--period", "2026-08"]);
    assert_eq!(
        camps,
        csv_rows(CAMPS_COLUMNS, &["S1,Raipur,0,0,,1,0,0,1,0,0,0.00,250.00,0"])
    );
}

/// `--min-arrears` is inclusive (≥, like the defaulter rule) and `--limit` cuts after sorting.
#[test]
fn min_arrears_is_inclusive_and_limit_applies_after_sorting() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("MA1", "domestic", "S1", None),
        consumer("MA2", "domestic", "S1", None),
        consumer("MA3", "domestic", "S2", None),
        bill("MA-B1", "MA1", "2026-01-05", "2026-01-20", "1400.00"),
        bill("MA-B2", "MA2", "2026-01-05", "2026-01-20", "1399.99"),
        bill("MA-B3", "MA3", "2026-01-05", "2026-01-20", "1400.00"),
    ]);
    env.nightly("2026-02-01");
    let list = |extra: &[&str]| {
        let mut args = vec!["defaulters", "--office", "Z1"];
        args.extend_from_slice(extra);
        accounts(&env.rows(&args))
    };
    // Sorted by arrears descending then account_no: MA1 1400.00, MA3 1400.00, MA2 1399.99.
    assert_eq!(list(&[]), vec!["MA1", "MA3", "MA2"]);
    assert_eq!(list(&["--min-arrears", "1400.00"]), vec!["MA1", "MA3"]);
    assert_eq!(list(&["--min-arrears", "1400.01"]), Vec::<String>::new());
    assert_eq!(list(&["--limit", "1"]), vec!["MA1"]);
    assert_eq!(list(&["--limit", "0"]), Vec::<String>::new());
    assert_eq!(list(&["--limit", "10"]), vec!["MA1", "MA3", "MA2"]);
}

// ---------------------------------------------------------------------------------------------
// Surcharge-only arrears, SMS reminders (§4, §11)
// ---------------------------------------------------------------------------------------------

/// "Days overdue as of D = D − the due_on of the oldest charge that is overdue and unpaid": when
/// a late, backdated payment clears the bill but not the surcharge already levied, the oldest
/// unpaid charge is the surcharge, due on its levy day.
#[test]
fn days_overdue_count_from_an_unpaid_surcharge_when_the_bill_is_paid() {
    let env = Env::with_policy(LIST_ALL);
    env.offices();
    env.append_ok(&[
        consumer("SO1", "domestic", "S1", None),
        bill("SO-B", "SO1", "2027-01-01", "2027-01-15", "1000.00"),
    ]);
    // Levy on 2027-02-15: 1000 × 1.25% = 12.50.
    env.nightly("2027-02-16");
    assert_eq!(env.arrears("SO1"), "1012.50");
    // A payment dated 02-10 arrives after the levy: the levy stays (§5).
    env.append_ok(&[payment(
        "SO-P",
        "SO1",
        "1000.00",
        "2027-02-10",
        "counter_cash",
    )]);
    env.nightly("2027-03-01");
    let r = row(&env.defaulters("Z1"), "SO1").clone();
    // Credits 1000 cover the bill (due 01-15); the surcharge (due 02-15) is unpaid:
    // 12.50, 2027-03-01 − 2027-02-15 = 14 days, 0-30.
    assert_eq!(r["overdue_arrears"], "12.50");
    assert_eq!(r["oldest_due_on"], "2027-02-15");
    assert_eq!(r["days_overdue"], "14");
    assert_eq!(r["aging_bucket"], "0-30");
    assert_eq!(r["last_payment_on"], "2027-02-10");
}

/// §11: a reminder goes `sms.reminder_days_before_due` (3) days before the due date only if the
/// bill is unpaid. RM1's bill is covered by an advance paid before it was issued, so RM1 gets the
/// receipt and the bill only; RM2, with 100.00 paid, gets the bill, the receipt and a reminder on
/// 2026-07-17 (2026-07-20 − 3).
#[test]
fn reminder_only_for_an_unpaid_bill() {
    let env = Env::new();
    env.offices();
    env.append_ok(&[
        consumer("RM1", "domestic", "S1", Some("9876500101")),
        consumer("RM2", "domestic", "S1", Some("9876500102")),
        payment("RM-P1", "RM1", "1000.00", "2026-07-01", "upi"),
        bill("RM-B1", "RM1", "2026-07-05", "2026-07-20", "1000.00"),
        bill("RM-B2", "RM2", "2026-07-05", "2026-07-20", "1000.00"),
        payment("RM-P2", "RM2", "100.00", "2026-07-06", "upi"),
    ]);
    let count = |acc: &str| {
        let (_, rows) = parse_csv(&env.ok(&["--format", "csv", "sms", "outbox"]));
        rows.iter()
            .filter(|r| r.values().any(|v| v.contains(acc)))
            .count()
    };
    for day in 1..=16 {
        env.nightly(&format!("2026-07-{day:02}"));
    }
    let (rm1, rm2) = (count("RM1"), count("RM2"));
    assert!(rm1 >= 2, "receipt and bill for RM1: {rm1}");
    assert_eq!(
        rm2, rm1,
        "before the reminder day both have a receipt and a bill"
    );
    env.nightly("2026-07-17");
    assert_eq!(count("RM1"), rm1, "no reminder for a bill already paid");
    assert_eq!(count("RM2"), rm2 + 1, "a reminder for the unpaid bill");
    env.nightly("2026-07-18");
    assert_eq!(count("RM2"), rm2 + 1, "one reminder only");
}
