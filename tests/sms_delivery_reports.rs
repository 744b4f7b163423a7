//! Delivery reports from SMS gateways on the real server (loopback): a gateway's secret is
//! checked, reports are recorded as events and shown in the statement, the outbox and the
//! campaign report, where a number with 3 undelivered reports in a row is flagged.

use reqwest::StatusCode;
use serde_json::{json, Value};
use vasooli_domain::{Command, Policy};
use vasooli_engine::{Engine, Input};
use vasooli_server::dlr::DlrSecrets;
use vasooli_server::tokens::{self, Role};
use vasooli_server::AppState;

const SECRET: &str = "primary-secret-0123456789";
const OTHER_SECRET: &str = "backup-secret-9876543210";

fn command(value: Value) -> Command {
    Command::from_json(&value).expect("a well-formed command")
}

/// R1 (one number, three bills) and R2 (one bill): four bill SMS queued on 2026-07-05.
fn seed(dir: &std::path::Path) {
    let mut engine = Engine::open(dir, Policy::default()).unwrap();
    let mut commands = vec![
        command(json!({"type": "register_office", "code": "Z1", "name": "Zone", "level": "zone"})),
        command(
            json!({"type": "register_office", "code": "C1", "name": "Circle", "level": "circle", "parent": "Z1"}),
        ),
        command(
            json!({"type": "register_office", "code": "D1", "name": "Division", "level": "division", "parent": "C1"}),
        ),
        command(
            json!({"type": "register_office", "code": "S1", "name": "Subdivision", "level": "subdivision", "parent": "D1"}),
        ),
    ];
    for (account, mobile) in [("R1", "9876500001"), ("R2", "9876500002")] {
        commands.push(command(json!({
            "type": "register_consumer", "account_no": account, "name": "Consumer",
            "category": "domestic", "subdivision": "S1", "load_kw": "2",
            "connected_on": "2020-01-01", "mobile": mobile, "language": "en"})));
    }
    for (bill, account) in [("B1", "R1"), ("B2", "R1"), ("B3", "R1"), ("B4", "R2")] {
        commands.push(command(json!({
            "type": "issue_bill", "bill_no": bill, "account_no": account, "period": "2026-07",
            "issued_on": "2026-07-05", "due_on": "2026-07-20", "amount": "500.00"})));
    }
    engine.execute(Input::all_at("seed", commands)).unwrap();
    engine
        .nightly(chrono::NaiveDate::from_ymd_opt(2026, 7, 5).unwrap())
        .unwrap();
    assert_eq!(vasooli_sms::pending(&engine).len(), 4);
}

fn message_ids(statement: &Value) -> Vec<String> {
    statement["sms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_are_checked_recorded_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let secrets = DlrSecrets::parse(&format!("primary={SECRET},backup={OTHER_SECRET}")).unwrap();
    let state = AppState::open(dir.path(), Policy::default())
        .unwrap()
        .with_dlr_secrets(secrets);
    let admin = tokens::create(state.tokens(), Role::Admin, None, "admin").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(vasooli_server::serve_listener(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let statement = |account: &'static str| {
        let (http, base, admin) = (http.clone(), base.clone(), admin.clone());
        async move {
            let response = http
                .get(format!("{base}/api/v1/consumers/{account}"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let r1 = message_ids(&statement("R1").await);
    let r2 = message_ids(&statement("R2").await);
    assert_eq!((r1.len(), r2.len()), (3, 1));
    let report = |gateway: &'static str, secret: Option<&'static str>, body: Value| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut request = http.post(format!("{base}/sms/dlr/{gateway}")).json(&body);
            if let Some(secret) = secret {
                request = request.header("X-Dlr-Secret", secret);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let undelivered = |id: &str| json!({"message_id": id, "status": "undelivered", "reason": "ABSENT_SUBSCRIBER"});

    // Refused: no secret, a wrong one, another gateway's, an unknown gateway; an API token
    // is no secret either.
    for (gateway, secret) in [
        ("primary", None),
        ("primary", Some("primary-secret-012345678X")),
        ("primary", Some(OTHER_SECRET)),
        ("nobody", Some(SECRET)),
    ] {
        let (status, body) = report(gateway, secret, undelivered(&r1[0])).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{gateway} {secret:?}: {body}"
        );
    }
    let response = http
        .post(format!("{base}/sms/dlr/primary"))
        .bearer_auth(&admin)
        .json(&undelivered(&r1[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Nothing was recorded by the refused reports.
    assert!(statement("R1").await["sms"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["delivery"] == ""));
    // A bad body, an unknown message.
    let (status, _) = report("primary", Some(SECRET), json!({"message_id": r1[0]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = report("primary", Some(SECRET), undelivered("R1-bill-NOPE")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Two undelivered reports for R1's number: not yet flagged.
    for id in &r1[..2] {
        let (status, body) = report("primary", Some(SECRET), undelivered(id)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["recorded"], true);
        assert_eq!(body["account_no"], "R1");
    }
    // The campaign report's numbers to verify again, as `vasooli campaign --reverify` and the
    // campaign route's `reverify=true` list them.
    let campaign = |office: &'static str| {
        let (http, base, admin) = (http.clone(), base.clone(), admin.clone());
        async move {
            let response = http
                .get(format!(
                    "{base}/api/v1/offices/{office}/campaign?reverify=true"
                ))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let rows: Value = response.json().await.unwrap();
            let rows = rows.as_array().unwrap().clone();
            for row in &rows {
                assert_eq!(row["account_no"], "R1", "{row}");
                assert_eq!(row["mobile"], "xxxxxxxx01", "{row}");
                assert_eq!(row["last_reason"], "ABSENT_SUBSCRIBER", "{row}");
            }
            rows.len() as u64
        }
    };
    assert_eq!(campaign("S1").await, 0);
    // The third in a row flags it; R2's delivered report flags nothing.
    let (status, _) = report("backup", Some(OTHER_SECRET), undelivered(&r1[2])).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = report(
        "primary",
        Some(SECRET),
        json!({"message_id": r2[0], "status": "delivered", "reason": "DELIVRD"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(campaign("S1").await, 1);
    assert_eq!(campaign("Z1").await, 1);

    // The same report again records nothing new.
    let (status, body) = report("primary", Some(SECRET), undelivered(&r1[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["recorded"], false);

    // The statement shows each message's delivery and the operator's reason.
    let s1 = statement("R1").await;
    for m in s1["sms"].as_array().unwrap() {
        assert_eq!(m["delivery"], "undelivered", "{m}");
        assert_eq!(m["delivery_reason"], "ABSENT_SUBSCRIBER", "{m}");
    }
    let s2 = statement("R2").await;
    assert_eq!(s2["sms"][0]["delivery"], "delivered");
    assert_eq!(s2["sms"][0]["delivery_reason"], "DELIVRD");

    // A delivered report after the undelivered ones clears the flag.
    let (status, _) = report(
        "primary",
        Some(SECRET),
        json!({"message_id": r1[2], "status": "delivered"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(campaign("S1").await, 0);

    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // The reports are events in the log: 3 for R1's first two and last, 2 more, 1 for R2.
    let engine = Engine::open(dir.path(), Policy::default()).unwrap();
    let reports = engine
        .store()
        .read_all(1)
        .filter_map(Result::ok)
        .filter(|r| r.event_type == "sms_delivery_reported")
        .count();
    assert_eq!(reports, 5);
}
