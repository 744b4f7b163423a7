//! Helpers shared by the engine's test files (each uses some of them).
#![allow(dead_code)]

use serde_json::{json, Value};
use vasooli_domain::Command;
use vasooli_engine::Input;

/// JSON commands as inputs located at `{file}:{line}`, the first on line 2 (after a header).
pub fn inputs_from(file: &str, commands: &[Value]) -> Vec<Input> {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| Input {
            location: format!("{file}:{}", i + 2),
            command: Command::from_json(c),
        })
        .collect()
}

/// The office tree Z1 → C1 → DV1 → SD1 and one domestic consumer in SD1 for each account.
pub fn offices_and_consumers(accounts: &[&str]) -> Vec<Value> {
    let mut commands = vec![
        json!({"type": "register_office", "code": "Z1", "name": "Zone", "level": "zone"}),
        json!({"type": "register_office", "code": "C1", "name": "Circle", "level": "circle", "parent": "Z1"}),
        json!({"type": "register_office", "code": "DV1", "name": "Division", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD1", "name": "Subdivision", "level": "subdivision", "parent": "DV1"}),
    ];
    for account in accounts {
        commands.push(json!({"type": "register_consumer", "account_no": account,
            "name": format!("Consumer {account}"), "category": "domestic", "subdivision": "SD1",
            "load_kw": "2.5", "connected_on": "2025-04-01"}));
    }
    commands
}

/// The log's events: stream, type and payload, in order.
pub fn log_events(engine: &vasooli_engine::Engine) -> Vec<(String, String, Vec<u8>)> {
    engine
        .store()
        .read_all(1)
        .map(|e| {
            let e = e.expect("the log reads");
            (e.stream, e.event_type, e.payload)
        })
        .collect()
}
