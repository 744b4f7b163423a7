//! The OpenAPI document served by the real server on a loopback port: it names every route
//! of the router and of docs/API.md with exactly its methods, and every (path, method) it
//! names is one the server routes, while the other methods of those paths answer 405.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use vasooli_domain::Policy;
use vasooli_server::tokens::{self, Role};
use vasooli_server::AppState;

/// Every route `vasooli_server::router` serves, with its methods: those docs/API.md lists,
/// then `/api/v1/me`, the notices and the web page's files.
const ROUTES: &[(&str, &[&str])] = &[
    ("/health", &["get"]),
    ("/metrics", &["get"]),
    ("/api/openapi.json", &["get"]),
    ("/api/v1/commands", &["post"]),
    ("/api/v1/import/{kind}", &["post"]),
    ("/api/v1/nightly", &["post"]),
    ("/sms/dlr/{gateway}", &["post"]),
    ("/api/v1/offices/{code}/defaulters", &["get"]),
    ("/api/v1/offices/{code}/worklists/{kind}", &["get"]),
    ("/api/v1/consumers/{account_no}", &["get"]),
    ("/api/v1/rankings", &["get"]),
    ("/api/v1/awards", &["get"]),
    ("/api/v1/offices/{code}/campaign", &["get"]),
    ("/api/v1/offices/{code}/camps", &["get"]),
    ("/api/v1/me", &["get"]),
    ("/api/v1/offices/{code}/worklists/{kind}/notices", &["get"]),
    ("/", &["get"]),
    ("/page.js", &["get"]),
    ("/page.css", &["get"]),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// A concrete path for a route template. Nothing it names exists, so no request writes.
fn concrete(template: &str) -> String {
    let kind = if template.starts_with("/api/v1/import/") {
        "offices"
    } else {
        "serve_notice"
    };
    template
        .replace("{code}", "NOPE")
        .replace("{account_no}", "NOPE")
        .replace("{kind}", kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_names_every_route_with_its_methods() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(dir.path(), Policy::default()).unwrap();
    let token = tokens::create(state.tokens(), Role::Admin, None, "admin").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(vasooli_server::serve_listener(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let response = http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["title"], "vasooli");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let documented: BTreeMap<&str, BTreeSet<&str>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|k| METHODS.contains(k))
                .collect();
            (path.as_str(), methods)
        })
        .collect();
    let expected: BTreeMap<&str, BTreeSet<&str>> = ROUTES
        .iter()
        .map(|(path, methods)| (*path, methods.iter().copied().collect()))
        .collect();
    assert_eq!(documented, expected);

    // Each documented operation is routed; the path's other methods are not.
    for (template, methods) in &documented {
        let url = format!("{base}{}", concrete(template));
        for method in METHODS {
            let response = http
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &url,
                )
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            if methods.contains(method) {
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template}"
                );
                assert!(
                    !body.contains("no route for"),
                    "{method} {template}: {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {template}"
                );
            }
        }
    }

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
