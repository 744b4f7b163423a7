//! Cold reads (`ColdView`: the checkpoint's offices, the parts of consumers its directories
//! name for an account or an office, then the log after the checkpoint) against the whole
//! world, on a generated utility whose checkpoint has several parts and whose log goes on
//! after it.

use serde_json::{json, Value};
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::types::{Level, WorklistKind};
use vasooli_domain::{Command, Policy};
use vasooli_engine::engine::{CHECKPOINT_ACCOUNT_BUCKETS, CHECKPOINT_PART_CONSUMERS};
use vasooli_engine::{ColdView, Engine, Input};
use vasooli_projections::lists::{self, DefaulterFilter};
use vasooli_projections::statement::statement;

fn load_generated(engine: &mut Engine, generator: &Generator) {
    generator
        .for_each_batch(20_000, &mut |commands| {
            engine
                .execute(Input::all_at("generated", commands))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("the generated utility loads");
}

fn warm(engine: &Engine, account: &str) -> Result<Value, String> {
    statement(
        engine.world(),
        &|m| engine.sms_text(m),
        engine.policy(),
        account,
        engine.report_date(),
    )
    .map(|s| serde_json::to_value(s).expect("serializes"))
    .map_err(|e| e.to_string())
}

fn cold(view: &ColdView, account: &str) -> Result<Value, String> {
    statement(
        view.world(),
        &|m| view.sms_text(m),
        view.policy(),
        account,
        view.report_date(),
    )
    .map(|s| serde_json::to_value(s).expect("serializes"))
    .map_err(|e| e.to_string())
}

#[test]
fn cold_statements_and_office_lists_read_their_parts_and_equal_the_warm_ones() {
    let consumers = 2 * CHECKPOINT_PART_CONSUMERS + 300;
    let generator = Generator::new(GeneratorConfig {
        consumers,
        months: 4,
        ..GeneratorConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open_deferring_checkpoints(dir.path(), Policy::default()).unwrap();
    load_generated(&mut engine, &generator);
    let end = generator.end_date();
    engine.nightly(end).expect("nightly");
    engine.save_checkpoint().unwrap();

    // After the checkpoint: a consumer registered and billed, a payment on one the checkpoint
    // holds, and another nightly run (levies, notices, SMS): the tail a cold read replays.
    let world = engine.world();
    let first = world.consumers[0].account_no.to_string();
    let subdivision = world.consumers[0].subdivision.to_string();
    let commands = [
        json!({"type": "register_consumer", "account_no": "UKNEW0000001", "name": "New Consumer",
               "category": "domestic", "subdivision": subdivision, "load_kw": "2",
               "connected_on": end.to_string(), "mobile": "9876543210"}),
        json!({"type": "issue_bill", "account_no": "UKNEW0000001", "bill_no": "BNEW1",
               "period": end.format("%Y-%m").to_string(), "issued_on": end.to_string(),
               "due_on": end.to_string(), "amount": "1234.50"}),
        json!({"type": "receive_payment", "account_no": first, "receipt_no": "RNEW1",
               "paid_on": end.to_string(), "amount": "100.00", "channel": "upi"}),
    ];
    let inputs = commands
        .iter()
        .map(|c| Input {
            location: "after".into(),
            command: Command::from_json(c),
        })
        .collect();
    engine
        .execute(inputs)
        .expect("the commands after the checkpoint");
    engine.nightly(end.succ_opt().unwrap()).expect("nightly");
    assert!(
        engine.checkpoint_lag() > 0,
        "the log goes on after the checkpoint"
    );

    // The first and last consumer of each part, some between, the new one and nobody.
    let world = engine.world();
    let mut accounts: Vec<String> = Vec::new();
    for part in world.consumers.chunks(CHECKPOINT_PART_CONSUMERS) {
        accounts.push(part[0].account_no.to_string());
        accounts.push(part[part.len() - 1].account_no.to_string());
        accounts.extend(part.iter().step_by(97).map(|c| c.account_no.to_string()));
    }
    accounts.extend(["UKNEW0000001".to_string(), "UKNOBODY".to_string()]);
    let expected: Vec<Result<Value, String>> = accounts.iter().map(|a| warm(&engine, a)).collect();
    assert!(expected[..expected.len() - 1].iter().all(Result::is_ok));
    assert!(expected.last().unwrap().is_err(), "nobody has no statement");
    let with_sms = expected
        .iter()
        .flatten()
        .filter(|s| s["sms"].as_array().is_some_and(|m| !m.is_empty()))
        .count();
    assert!(with_sms > 0, "some statements show their SMS texts");
    // The lists of a subdivision, a division and a zone (every kind of worklist too).
    let level_of = |level: Level| {
        world
            .ancestor_at(&subdivision, level)
            .map(|o| o.code.clone())
            .expect("the office above")
    };
    let offices = [
        subdivision.clone(),
        level_of(Level::Division),
        level_of(Level::Zone),
    ];
    let as_of = world.last_nightly.unwrap();
    let lists_of = |world: &vasooli_domain::World, office: &str| {
        let mut out = vec![lists::defaulters(
            world,
            &Policy::default(),
            office,
            as_of,
            &DefaulterFilter::default(),
        )];
        for kind in WorklistKind::ALL {
            out.push(lists::worklist(
                world,
                &Policy::default(),
                office,
                *kind,
                as_of,
                None,
                0,
            ));
        }
        out
    };
    let expected_lists: Vec<_> = offices.iter().map(|o| lists_of(world, o)).collect();
    // Every subdivision's consumers (some straddle two parts).
    let mut by_subdivision: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &world.consumers {
        by_subdivision
            .entry(c.subdivision.to_string())
            .or_default()
            .push(c.account_no.to_string());
    }
    let defaulters = expected_lists[0][0].as_ref().map_or(0, Vec::len);
    assert!(defaulters > 0, "the subdivision has defaulters");
    let last_position = engine.store().last_position();
    drop(engine);

    for (code, accounts) in &by_subdivision {
        let view = ColdView::office(dir.path(), Policy::default(), code).unwrap();
        let read: Vec<String> = view
            .world()
            .consumers
            .iter()
            .filter(|c| c.subdivision.as_str() == code)
            .map(|c| c.account_no.to_string())
            .collect();
        assert_eq!(&read, accounts, "the consumers of {code}");
    }
    for (office, expected) in offices.iter().zip(&expected_lists) {
        let view = ColdView::office(dir.path(), Policy::default(), office).unwrap();
        assert!(
            !view.loaded_whole(),
            "read through the subdivision directory"
        );
        assert_eq!(&lists_of(view.world(), office), expected, "{office}");
        if office == &subdivision {
            let read = view.world().consumers.len();
            assert!(
                read < consumers / 2,
                "{read} consumers read for one subdivision"
            );
        }
    }

    for (account, expected) in accounts.iter().zip(&expected) {
        let view = ColdView::accounts(dir.path(), Policy::default(), &[account]).unwrap();
        assert!(!view.loaded_whole(), "read through the account directory");
        assert!(
            view.world().consumers.len() < CHECKPOINT_PART_CONSUMERS,
            "{account}: {} consumers read, not the whole world",
            view.world().consumers.len()
        );
        assert_eq!(&cold(&view, account), expected, "{account}");
    }

    // A checkpoint without an account directory (one written before it had one): the view
    // loads the whole world, and answers the same.
    let engine = Engine::open(dir.path(), Policy::default()).unwrap();
    assert_eq!(
        engine.store().last_position(),
        last_position,
        "the views wrote nothing"
    );
    let table = engine.projections_db().table();
    let buckets: Vec<Vec<u8>> = table
        .keys_with_prefix(b"world-layout-")
        .unwrap()
        .into_iter()
        .filter(|k| k.windows(4).any(|w| w == b"acct"))
        .collect();
    assert_eq!(buckets.len(), CHECKPOINT_ACCOUNT_BUCKETS as usize);
    for key in &buckets {
        table.remove(key).unwrap();
    }
    engine.projections_db().flush().unwrap();
    drop((table, engine));
    let view = ColdView::accounts(dir.path(), Policy::default(), &[&accounts[1]]).unwrap();
    assert!(view.loaded_whole());
    assert_eq!(view.world().consumers.len(), consumers + 1);
    assert_eq!(cold(&view, &accounts[1]), expected[1]);
}
