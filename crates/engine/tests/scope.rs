//! An engine limited to some divisions (a partition's owner) records consumers, camps and
//! grievances only in their subdivisions; everything else is as without the limit.

use serde_json::{json, Value};
use std::sync::Arc;
use vasooli_domain::Policy;
use vasooli_engine::{Engine, EngineError, Scope};

mod common;

/// Holds division DV1 only.
struct OnlyDv1;

impl Scope for OnlyDv1 {
    fn holds(&self, division: &str) -> Result<(), String> {
        match division {
            "DV1" => Ok(()),
            other => Err(format!("division {other} is in partition south, not north")),
        }
    }
}

fn consumer(account: &str, subdivision: &str) -> Value {
    json!({"type": "register_consumer", "account_no": account, "name": "N",
        "category": "domestic", "subdivision": subdivision, "load_kw": "2",
        "connected_on": "2025-04-01"})
}

fn second_division() -> Vec<Value> {
    vec![
        json!({"type": "register_office", "code": "DV2", "name": "Division 2", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD2", "name": "Subdivision 2", "level": "subdivision", "parent": "DV2"}),
    ]
}

fn rejected(result: Result<vasooli_engine::ExecuteReport, EngineError>) -> Vec<String> {
    match result {
        Err(EngineError::Rejected(errors)) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected a refusal, got {:?}", other.map(|r| r.appended)),
    }
}

#[test]
fn an_engine_limited_to_a_division_refuses_registrations_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    engine.set_scope(Arc::new(OnlyDv1));
    // Offices register anywhere; a consumer in a subdivision registered in the same request
    // has no recorded division yet, and is refused.
    let mut first = common::offices_and_consumers(&[]);
    first.push(consumer("A1", "SD1"));
    let errors = rejected(engine.execute(common::inputs_from("first", &first)));
    assert_eq!(
        errors,
        [
            "first:6: subdivision: office SD1 is registered in this same request: register \
          offices in a request of their own first"
        ]
    );
    let mut offices = common::offices_and_consumers(&[]);
    offices.extend(second_division());
    engine
        .execute(common::inputs_from("offices", &offices))
        .expect("offices register in any partition");
    let before = engine.store().last_position();

    // One consumer in each division: the whole request is refused, naming the other one.
    let both = [consumer("A1", "SD1"), consumer("A2", "SD2")];
    let errors = rejected(engine.execute(common::inputs_from("both", &both)));
    assert_eq!(
        errors,
        ["both:3: subdivision: division DV2 is in partition south, not north"]
    );
    let camp = json!({"type": "schedule_camp", "camp_id": "CAMP1", "subdivision": "SD2",
        "on": "2026-05-10", "venue": "school"});
    let grievance = json!({"type": "register_grievance", "grievance_id": "G1",
        "subdivision": "SD2", "category": "billing", "registered_on": "2026-05-10"});
    let errors = rejected(engine.execute(common::inputs_from("other", &[camp, grievance])));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors
        .iter()
        .all(|e| e.contains("division DV2 is in partition south")));
    assert_eq!(engine.store().last_position(), before, "nothing written");

    // Within its division, as without the limit; an unknown office is the rules' refusal.
    let report = engine
        .execute(common::inputs_from("north", &[consumer("A1", "SD1")]))
        .expect("a consumer of DV1");
    assert_eq!(report.appended, 1);
    let errors = rejected(engine.execute(common::inputs_from("x", &[consumer("A3", "SD9")])));
    assert_eq!(errors.len(), 1);
    assert!(!errors[0].contains("partition"), "{errors:?}");
}
