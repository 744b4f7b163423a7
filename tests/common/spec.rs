//! What the spec tests share: the office tree most of them use, the output columns, and
//! builders of the commands they append.

#![allow(dead_code)]

use super::env::Env;
use super::{parse_csv, Row};
use serde_json::{json, Value};

pub const RANKING_COLUMNS: &str = "period,level,rank,office_code,office_name,billed,collected,\
collection_efficiency_pct,opening_arrears,closing_arrears,arrears_reduction_pct,\
digital_share_pct,mobile_coverage_pct,grievance_resolution_pct,score";

pub const AWARD_COLUMNS: &str = "period,level,award,office_code,office_name,score,score_change";

pub const CAMPAIGN_COLUMNS: &str =
    "office_code,office_name,active_consumers,with_mobile,mobile_coverage_pct,shared_mobiles";

pub const CAMPS_COLUMNS: &str = "office_code,office_name,camps_scheduled,camps_held,\
held_with_sdo_pct,grievances,grievances_new_connection,grievances_metering,grievances_billing,\
grievances_supply,grievances_other,grievance_resolution_pct,camp_collections,\
mobiles_registered_at_camps";

/// The office tree used by most tests: Z1 → C1 → {D1 → {S1, S2}, D2 → {S3}}.
pub const OFFICES_CSV: &str = "code,name,level,parent\n\
Z1,Garhwal Zone,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Dehradun Division,division,C1\n\
D2,Rishikesh Division,division,C1\n\
S1,Raipur,subdivision,D1\n\
S2,प्रेमनगर,subdivision,D1\n\
S3,Rishikesh Nagar,subdivision,D2\n";

pub fn cols(spec: &str) -> Vec<String> {
    spec.split(',').map(String::from).collect()
}

pub fn by_office<'a>(rows: &'a [Row], code: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["office_code"] == code)
        .unwrap_or_else(|| panic!("office {code} not listed in {rows:#?}"))
}

/// A JSON value as text: strings as they are, numbers printed, null as "".
pub fn jtext(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
        None => panic!("key `{key}` missing in {v:#}"),
    }
}

/// The integers printed by `import`: read, appended, duplicates skipped.
pub fn counts(out: &str) -> Vec<u64> {
    let mut nums = Vec::new();
    let mut cur = String::new();
    for ch in out.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            cur.push(ch);
        } else if !cur.is_empty() {
            nums.push(cur.parse().unwrap());
            cur.clear();
        }
    }
    nums
}

pub fn consumer(account: &str, category: &str, sub: &str, mobile: Option<&str>) -> Value {
    let mut v = json!({
        "type": "register_consumer", "account_no": account, "name": format!("Consumer {account}"),
        "category": category, "subdivision": sub, "load_kw": "2.5", "connected_on": "2025-01-01",
    });
    if let Some(m) = mobile {
        v["mobile"] = json!(m);
    }
    v
}

pub fn bill(no: &str, account: &str, issued: &str, due: &str, amount: &str) -> Value {
    json!({"type": "issue_bill", "bill_no": no, "account_no": account, "period": &issued[..7],
           "issued_on": issued, "due_on": due, "amount": amount})
}

pub fn payment(no: &str, account: &str, amount: &str, on: &str, channel: &str) -> Value {
    json!({"type": "receive_payment", "receipt_no": no, "account_no": account, "amount": amount,
           "paid_on": on, "channel": channel})
}

pub fn serve(notice: &str, on: &str, mode: &str) -> Value {
    json!({"type": "serve_notice", "notice_no": notice, "served_on": on, "mode": mode})
}

pub fn disconnect(account: &str, on: &str, order: &str) -> Value {
    json!({"type": "disconnect", "account_no": account, "on": on, "order_no": order})
}

pub fn csv_rows(header: &str, lines: &[&str]) -> Vec<Row> {
    let mut text = header.to_string();
    text.push('\n');
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    parse_csv(&text).1
}

impl Env {
    /// Imports the office tree of [`OFFICES_CSV`].
    pub fn offices(&self) {
        let out = self.import_ok("offices", OFFICES_CSV);
        assert_eq!(counts(&out), vec![7, 7, 0], "offices import counts: {out}");
    }
}
