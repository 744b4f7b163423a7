//! Corrections, as an officer makes them: a notice served "30 September" that was served on
//! 3 September is voided with a reason and recorded again with its right date; the lists then
//! read exactly as if the mistake had never been made, the log keeps all three records, and
//! sending the same file again changes nothing. Only the latest action may be voided.

mod common;

use common::env::Env;
use common::{row, Row};
use serde_json::{json, Value};

const OFFICES: &[(&str, &str, &str)] = &[
    ("Z1", "zone", ""),
    ("C1", "circle", "Z1"),
    ("D1", "division", "C1"),
    ("S1", "subdivision", "D1"),
];

/// Offices, consumer A1 in S1 with one bill overdue since 20 July, and the nightly run of
/// 31 August that issues its notice.
fn seeded() -> Env {
    let env = Env::new();
    let mut commands: Vec<Value> = OFFICES
        .iter()
        .map(|(code, level, parent)| {
            let mut office =
                json!({"type":"register_office","code":code,"name":code,"level":level});
            if !parent.is_empty() {
                office["parent"] = json!(parent);
            }
            office
        })
        .collect();
    commands.push(
        json!({"type":"register_consumer","account_no":"A1","name":"Asha","category":"domestic",
        "subdivision":"S1","load_kw":"2","connected_on":"2025-01-01"}),
    );
    commands.push(
        json!({"type":"issue_bill","bill_no":"B1","account_no":"A1","period":"2026-07",
        "issued_on":"2026-07-05","due_on":"2026-07-20","amount":"12000.00"}),
    );
    env.append_ok(&commands);
    env.nightly("2026-08-31");
    env
}

fn serve(on: &str) -> Value {
    json!({"type":"serve_notice","notice_no":"N-A1-001","served_on":on,"mode":"hand"})
}

fn void(action: &str, action_on: &str, voided_on: &str) -> Value {
    json!({"type":"void_action","account_no":"A1","action":action,"action_on":action_on,
           "voided_on":voided_on,"reason":"the date was typed wrongly"})
}

/// What the defaulter list says of A1's place on the ladder.
fn ladder(env: &Env) -> Vec<String> {
    let listed: Row = row(&env.defaulters("Z1"), "A1").clone();
    [
        "stage",
        "notice_no",
        "notice_served_on",
        "disconnection_allowed_on",
        "overdue_arrears",
    ]
    .iter()
    .map(|k| listed[*k].clone())
    .collect()
}

fn events_of_type(env: &Env, kind: &str) -> Vec<Value> {
    String::from_utf8(env.export())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter_map(|v| v["event"].get(kind).cloned())
        .collect()
}

#[test]
fn a_notice_served_with_a_wrong_date_is_voided_and_served_again() {
    // As it should have been: served on 3 September.
    let right = seeded();
    right.append_ok(&[serve("2026-09-03")]);
    right.nightly("2026-09-30");

    // As it happened: typed as 30 September, then corrected.
    let corrected = seeded();
    corrected.append_ok(&[serve("2026-09-30")]);
    corrected.nightly("2026-09-30");
    let wrong = ladder(&corrected);
    assert_eq!(wrong[0], "notice_served");
    assert_eq!(wrong[2], "2026-09-30");
    // Serving again with the right date is refused while the wrong one stands.
    let stderr = corrected.append_rejected(&[serve("2026-09-03")]);
    assert!(stderr.contains("already served"), "{stderr}");
    let fix = [
        void("serve_notice", "2026-09-30", "2026-10-01"),
        serve("2026-09-03"),
    ];
    corrected.append_ok(&fix);

    // The lists read as if the mistake had never been made.
    assert_eq!(ladder(&corrected), ladder(&right));
    assert_eq!(ladder(&corrected)[2], "2026-09-03");
    assert_eq!(
        corrected.worklist("Z1", "disconnection"),
        right.worklist("Z1", "disconnection")
    );
    let statement = corrected.statement("A1");
    assert_eq!(statement["notices"][0]["served_on"], "2026-09-03");

    // The log keeps all three records, the mistake included.
    let served = events_of_type(&corrected, "notice_served");
    assert_eq!(served.len(), 2);
    assert_eq!(served[0]["served_on"], "2026-09-30");
    assert_eq!(served[1]["served_on"], "2026-09-03");
    let voided = events_of_type(&corrected, "action_voided");
    assert_eq!(voided.len(), 1);
    assert_eq!(voided[0]["action"], "serve_notice");
    assert_eq!(voided[0]["reason"], "the date was typed wrongly");

    // Sending every record again (an import run twice) changes nothing.
    let before = corrected.export();
    let (_, out) = corrected.append(&[
        serve("2026-09-30"),
        void("serve_notice", "2026-09-30", "2026-10-01"),
        serve("2026-09-03"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(corrected.export(), before);
}

#[test]
fn only_the_latest_action_in_force_may_be_voided() {
    let env = seeded();
    env.append_ok(&[serve("2026-09-03")]);
    env.nightly("2026-09-30");
    let allowed = ladder(&env)[3].clone();
    env.append_ok(&[json!({"type":"disconnect","account_no":"A1","on":allowed,"order_no":"DO-1"})]);

    // The service came before the disconnection: the disconnection is voided first.
    let stderr = env.append_rejected(&[void("serve_notice", "2026-09-03", "2026-10-20")]);
    assert!(
        stderr.contains("only the latest action may be voided"),
        "{stderr}"
    );
    // Nothing of that kind on that day; a correction dated before the action.
    let stderr = env.append_rejected(&[void("reconnect", "2026-09-03", "2026-10-20")]);
    assert!(stderr.contains("no reconnect on 2026-09-03"), "{stderr}");
    let stderr = env.append_rejected(&[void("disconnect", &allowed, "2026-09-01")]);
    assert!(stderr.contains("voided_on"), "{stderr}");
    // An unknown action is malformed.
    let stderr = env.append_rejected(&[void("pay", &allowed, "2026-10-20")]);
    assert!(stderr.contains("action"), "{stderr}");

    // Voiding the disconnection reconnects nobody by hand: the consumer is simply connected,
    // due for disconnection again; then the service may be voided too.
    env.nightly("2026-10-31");
    assert_eq!(ladder(&env)[0], "disconnected");
    env.append_ok(&[void("disconnect", &allowed, "2026-11-01")]);
    assert_eq!(ladder(&env)[0], "disconnection_due");
    env.append_ok(&[void("serve_notice", "2026-09-03", "2026-11-01")]);
    let after = ladder(&env);
    assert_eq!(after[0], "notice_issued");
    assert_eq!(after[2], "");
    // A voided action cannot be voided twice: that correction is already recorded.
    let stderr = env.append_rejected(&[void("serve_notice", "2026-09-03", "2026-11-02")]);
    assert!(stderr.contains("already recorded"), "{stderr}");
}
