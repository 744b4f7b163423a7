//! A hand-written OpenAPI 3 description of the routes, served at `/api/openapi.json`. It is
//! built from one table so that a route added to the router has one obvious place to be
//! described as well.

use serde_json::{json, Map, Value};

struct Route {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    params: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    open: bool,
}

const LIST: &[(&str, &str)] = &[("format", "query"), ("limit", "query"), ("offset", "query")];

const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/health",
        summary: "Liveness",
        params: &[],
        body: None,
        open: true,
    },
    Route {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        params: &[],
        body: None,
        open: true,
    },
    Route {
        method: "get",
        path: "/api/openapi.json",
        summary: "This document",
        params: &[],
        body: None,
        open: true,
    },
    Route {
        method: "post",
        path: "/api/v1/commands",
        summary: "Apply one command or an array of commands atomically",
        params: &[],
        body: Some("application/json"),
        open: false,
    },
    Route {
        method: "post",
        path: "/api/v1/import/{kind}",
        summary: "Import a CSV file (offices, consumers, bills, payments, mobiles)",
        params: &[("kind", "path")],
        body: Some("text/csv"),
        open: false,
    },
    Route {
        method: "post",
        path: "/api/v1/nightly",
        summary: "Run the nightly finance run as of a date",
        params: &[],
        body: Some("application/json"),
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/offices/{code}/defaulters",
        summary: "Defaulter list below an office",
        params: &[
            ("code", "path"),
            ("min_arrears", "query"),
            ("stage", "query"),
        ],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/offices/{code}/worklists/{kind}",
        summary: "A worklist below an office",
        params: &[("code", "path"), ("kind", "path")],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/offices/{code}/worklists/{kind}/notices",
        summary: "Printable notices for a worklist (HTML, one page per consumer)",
        params: &[
            ("code", "path"),
            ("kind", "path"),
            ("limit", "query"),
            ("offset", "query"),
        ],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/me",
        summary: "The token's name, role, office and the offices it may read",
        params: &[],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/",
        summary: "The officers' web page",
        params: &[],
        body: None,
        open: true,
    },
    Route {
        method: "get",
        path: "/api/v1/consumers/{account_no}",
        summary: "A consumer's statement",
        params: &[("account_no", "path")],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/rankings",
        summary: "Office rankings for a period",
        params: &[("period", "query"), ("level", "query")],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/awards",
        summary: "Awards for a period",
        params: &[("period", "query")],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/offices/{code}/campaign",
        summary: "Mobile coverage per subdivision",
        params: &[("code", "path")],
        body: None,
        open: false,
    },
    Route {
        method: "get",
        path: "/api/v1/offices/{code}/camps",
        summary: "Camps and grievances per subdivision",
        params: &[("code", "path"), ("period", "query")],
        body: None,
        open: false,
    },
];

fn operation(route: &Route) -> Value {
    let mut params: Vec<Value> = route
        .params
        .iter()
        .map(|(name, place)| {
            json!({"name": name, "in": place, "required": *place == "path" || *name == "period",
                   "schema": {"type": "string"}})
        })
        .collect();
    let is_list = route.method == "get"
        && !route.open
        && !route.path.contains("consumers")
        && !route.path.ends_with("/notices")
        && route.path != "/api/v1/me";
    if is_list {
        params.extend(LIST.iter().map(|(name, place)| {
            json!({"name": name, "in": place, "required": false, "schema": {"type": "string"}})
        }));
    }
    let error = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut responses = Map::new();
    responses.insert("200".into(), json!({"description": "OK"}));
    if !route.open {
        for code in ["400", "401", "403", "404", "409", "422"] {
            responses.insert(code.into(), error.clone());
        }
        if route.body.is_some() {
            responses.insert("413".into(), error.clone());
        }
    }
    let mut op = json!({"summary": route.summary, "parameters": params, "responses": responses});
    if let Some(media) = route.body {
        op["requestBody"] = json!({"required": true, "content": {media: {"schema": {}}}});
    }
    if !route.open {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method] = operation(route);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "vasooli", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}}
        }
    })
}
