//! Writes closed on a real server on a loopback port (`AppState::close_writes`, as a
//! cluster standby serving reads does): every authenticated write answers 503 with the
//! reason and appends nothing, an unknown caller still gets 401, reads go on; opened again,
//! the same write is taken.

use reqwest::StatusCode;
use serde_json::Value;
use vasooli_domain::Policy;
use vasooli_server::tokens::{self, Role};
use vasooli_server::AppState;

const OFFICES: &str = "code,name,level,parent\nZ-1,Zone One,zone,\n";

#[tokio::test(flavor = "multi_thread")]
async fn closed_writes_answer_503_and_append_nothing_until_opened() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(dir.path(), Policy::default()).unwrap();
    let token = tokens::create(state.tokens(), Role::Admin, None, "admin").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = state.clone();
    let task = tokio::spawn(vasooli_server::serve_listener(listener, served, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: &str, body: &str, token: Option<&str>| {
        let mut request = http.post(format!("{base}{path}")).body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    state.close_writes("this process stands by; partition north is owned elsewhere");
    for (path, body) in [
        ("/api/v1/import/offices", OFFICES),
        (
            "/api/v1/commands",
            r#"{"type":"register_office","code":"Z-1","name":"Zone One","level":"zone"}"#,
        ),
        ("/api/v1/nightly", r#"{"as_of":"2026-04-01"}"#),
    ] {
        let response = post(path, body, Some(&token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "storage_unavailable", "{path}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("partition north"),
            "{answer}"
        );
        let unknown = post(path, body, Some("not-a-token")).await.unwrap();
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(state.store().last_position(), 0, "nothing appended");
    let me = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "reads go on");

    state.open_writes();
    let response = post("/api/v1/import/offices", OFFICES, Some(&token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state.store().last_position(), 1);

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
