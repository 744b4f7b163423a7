//! Cold reads (`ColdView`: the checkpoint's offices, the parts of consumers its directories
//! name for an account or an office, then the log after the checkpoint) against the whole
//! world, on a generated utility whose checkpoint has several parts and whose log goes on
//! after it.

use serde_json::{json, Value};
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::codec::{decode_value, encode_value};
use vasooli_domain::period::Period;
use vasooli_domain::state::StoredConsumer;
use vasooli_domain::types::{Level, WorklistKind};
use vasooli_domain::{Command, Policy};
use vasooli_engine::engine::CHECKPOINT_PART_CONSUMERS;
use vasooli_engine::{ColdView, Engine, Input, OfficeFigures};
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

/// `bytes` with the CRC-32 of them after them, as a checkpoint seals a part.
fn sealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// The parts of a checkpoint's file, cut where `ends` say, each checked, expanded and sealed
/// again: the parts as checkpoints held them before parts were compressed.
fn plain_parts(file: &[u8], ends: &[u64]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut start = 0;
    for &end in ends {
        let part = &file[start..end as usize];
        let (compressed, crc) = part.split_at(part.len() - 4);
        assert_eq!(crc32fast::hash(compressed).to_le_bytes(), crc, "sealed");
        let plain = zstd::stream::decode_all(compressed).expect("a zstd frame");
        assert!(plain.len() > part.len(), "the part was compressed");
        parts.push(sealed(plain));
        start = end as usize;
    }
    assert_eq!(start, file.len(), "the ends cover the file");
    parts
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
    // Every subdivision's consumers. The checkpoint was written before the last consumer
    // came, by subdivision: some subdivision straddles two parts.
    let mut by_subdivision: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &world.consumers {
        by_subdivision
            .entry(c.subdivision.to_string())
            .or_default()
            .push(c.account_no.to_string());
    }
    let mut place = 0;
    let straddling = by_subdivision
        .iter()
        .filter(|(_, accounts)| {
            let checkpointed = accounts.iter().filter(|a| *a != "UKNEW0000001").count();
            let (first, last) = (place, place + checkpointed - 1);
            place += checkpointed;
            first / CHECKPOINT_PART_CONSUMERS != last / CHECKPOINT_PART_CONSUMERS
        })
        .count();
    assert!(straddling > 0, "a subdivision straddles two parts");
    let defaulters = expected_lists[0][0].as_ref().map_or(0, Vec::len);
    assert!(defaulters > 0, "the subdivision has defaulters");
    let last_position = engine.store().last_position();
    // The figures of rankings and awards, for periods the checkpoint saved.
    let month = Period::month_of(end);
    let figure_periods = [month, month.previous(), Period::financial_year_of(end)];
    let expected_figures = OfficeFigures::of(engine.world(), engine.policy(), &figure_periods);
    assert!(expected_figures
        .periods
        .iter()
        .all(|figures| figures.values().any(|t| t.billed.is_positive())));
    drop(engine);
    let projections_before = projections(dir.path());

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

    let cold_figures =
        OfficeFigures::read(dir.path(), &Policy::default(), &figure_periods).unwrap();
    assert!(
        !cold_figures.whole,
        "read from the checkpoint's saved figures"
    );
    assert_eq!(cold_figures.periods, expected_figures.periods);
    assert_eq!(
        format!("{:?}", cold_figures.offices),
        format!("{:?}", expected_figures.offices)
    );

    assert_eq!(
        projections(dir.path()),
        projections_before,
        "the views wrote nothing"
    );

    // Checkpoints of the layouts before, their parts in the projections' database: 8 (the
    // same parts and directories as now) and 7 (consumers in the world's order, in parts of
    // 16,384, no directories). A whole open reads each without replaying the log; a view
    // loads the whole world, answers the same, and writes a checkpoint of this layout in its
    // place, which the next view reads through.
    // (7 first: the checkpoint it is made from is the one written before the last consumer
    // came.)
    for legacy in [7, 8] {
        let engine = Engine::open(dir.path(), Policy::default()).unwrap();
        assert_eq!(engine.store().last_position(), last_position);
        let lag = engine.checkpoint_lag();
        let table = engine.projections_db().table();
        let head = table.get(b"world-layout-9").unwrap().expect("a checkpoint");
        let head: (u64, u32, u64) = decode_value(&head).unwrap();
        let generation = head.0.to_be_bytes();
        // The checkpoint's parts, cut from its file where its ends say.
        let key = |layout: u32, name: &[u8]| {
            [
                format!("world-layout-{layout}/").as_bytes(),
                &generation,
                name,
            ]
            .concat()
        };
        let ends = table
            .get(&key(9, b"zstd-part-ends"))
            .unwrap()
            .expect("the ends");
        let ends: Vec<u64> = decode_value(&ends[..ends.len() - 4]).unwrap();
        assert_eq!(ends.len(), head.1 as usize);
        let file = dir
            .path()
            .join(vasooli_engine::engine::PROJECTIONS_DIR)
            .join(vasooli_store::PARTS_DIR)
            .join(format!("world-layout-9.{:016x}", head.0));
        let bytes = std::fs::read(&file).unwrap();
        // Compressed; the layouts before hold them plain.
        let mut parts = plain_parts(&bytes, &ends);
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if legacy == 8 {
            for name in table.keys_with_prefix(&key(9, b"")).unwrap() {
                let rest = &name[key(9, b"").len()..];
                if rest != b"zstd-part-ends" {
                    entries.push((key(8, rest), table.get(&name).unwrap().unwrap()));
                }
            }
        } else {
            let unsealed = |bytes: &[u8]| bytes[..bytes.len() - 4].to_vec();
            let mut stored: Vec<StoredConsumer> = Vec::new();
            for part in &parts[1..] {
                stored.extend(decode_value::<Vec<StoredConsumer>>(&unsealed(part)).unwrap());
            }
            assert_eq!(
                stored.len(),
                consumers,
                "the checkpoint holds those before the tail"
            );
            stored.sort_by_key(|c| c.position);
            parts.truncate(1);
            parts.extend(
                stored
                    .chunks(16_384)
                    .map(|block| sealed(encode_value(&block).unwrap())),
            );
        }
        let legacy_head = (head.0, parts.len() as u32, head.2);
        for (index, part) in parts.into_iter().enumerate() {
            entries.push((key(legacy, &(index as u32).to_be_bytes()), part));
        }
        for key in table.keys_with_prefix(b"world-layout-").unwrap() {
            table.remove(&key).unwrap();
        }
        for (key, value) in entries {
            table.insert(&key, value).unwrap();
        }
        table
            .insert(
                format!("world-layout-{legacy}").as_bytes(),
                encode_value(&legacy_head).unwrap(),
            )
            .unwrap();
        engine.projections_db().flush().unwrap();
        drop((table, engine));
        std::fs::remove_file(&file).unwrap();

        let engine = Engine::open(dir.path(), Policy::default()).unwrap();
        assert_eq!(
            engine.checkpoint_lag(),
            lag,
            "layout {legacy}: the old layout's checkpoint was read"
        );
        assert_eq!(warm(&engine, &accounts[1]), expected[1]);
        drop(engine);
        let view = ColdView::accounts(dir.path(), Policy::default(), &[&accounts[1]]).unwrap();
        assert!(view.loaded_whole());
        assert_eq!(view.world().consumers.len(), consumers + 1);
        assert_eq!(cold(&view, &accounts[1]), expected[1]);
        drop(view);
        let keys: Vec<Vec<u8>> = projections(dir.path())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let old = format!("world-layout-{legacy}");
        assert!(
            keys.iter().all(|k| !k.starts_with(old.as_bytes())),
            "layout {legacy}: the old one is gone"
        );
        assert_eq!(
            keys.iter()
                .filter(|k| k.starts_with(b"file:world-"))
                .count(),
            1,
            "layout {legacy}: one file of parts, the renewed checkpoint's"
        );
        let view = ColdView::accounts(dir.path(), Policy::default(), &[&accounts[1]]).unwrap();
        assert!(
            !view.loaded_whole(),
            "layout {legacy}: the renewed checkpoint has directories"
        );
        assert_eq!(cold(&view, &accounts[1]), expected[1]);
        drop(view);
    }

    // A checkpoint of this layout written before its parts were compressed: plain parts,
    // their ends under `part-ends`. It reads as it is, whole and through its directories.
    {
        let engine = Engine::open(dir.path(), Policy::default()).unwrap();
        let lag = engine.checkpoint_lag();
        let table = engine.projections_db().table();
        let head = table.get(b"world-layout-9").unwrap().expect("a checkpoint");
        let head: (u64, u32, u64) = decode_value(&head).unwrap();
        let prefix = [b"world-layout-9/".as_slice(), &head.0.to_be_bytes()].concat();
        let key = |name: &[u8]| [prefix.as_slice(), name].concat();
        let ends = table
            .get(&key(b"zstd-part-ends"))
            .unwrap()
            .expect("the ends");
        let ends: Vec<u64> = decode_value(&ends[..ends.len() - 4]).unwrap();
        let file = dir
            .path()
            .join(vasooli_engine::engine::PROJECTIONS_DIR)
            .join(vasooli_store::PARTS_DIR)
            .join(format!("world-layout-9.{:016x}", head.0));
        let compressed = std::fs::read(&file).unwrap();
        let (mut plain, mut plain_ends) = (Vec::new(), Vec::new());
        for part in plain_parts(&compressed, &ends) {
            plain.extend_from_slice(&part);
            plain_ends.push(plain.len() as u64);
        }
        assert!(plain.len() > compressed.len());
        table.remove(&key(b"zstd-part-ends")).unwrap();
        table
            .insert(
                &key(b"part-ends"),
                sealed(encode_value(&plain_ends).unwrap()),
            )
            .unwrap();
        engine.projections_db().flush().unwrap();
        drop((table, engine));
        std::fs::write(&file, &plain).unwrap();

        let engine = Engine::open(dir.path(), Policy::default()).unwrap();
        assert_eq!(
            engine.checkpoint_lag(),
            lag,
            "the plain checkpoint was read"
        );
        assert_eq!(engine.world().consumers.len(), consumers + 1);
        assert_eq!(warm(&engine, &accounts[1]), expected[1]);
        drop(engine);
        let view = ColdView::accounts(dir.path(), Policy::default(), &[&accounts[1]]).unwrap();
        assert!(
            !view.loaded_whole(),
            "read through the plain checkpoint's directories"
        );
        assert_eq!(cold(&view, &accounts[1]), expected[1]);
        drop(view);
    }

    // A checkpoint saved before checkpoints saved figures: rankings read the whole world,
    // with the same figures, and renew the checkpoint once; the next read uses its figures.
    let db = vasooli_store::SideDb::open(
        &dir.path().join(vasooli_engine::engine::PROJECTIONS_DIR),
        1 << 20,
    )
    .unwrap();
    let saved: Vec<Vec<u8>> = db
        .table()
        .keys_with_prefix(b"world-layout-9/")
        .unwrap()
        .into_iter()
        .filter(|k| k.ends_with(b"figures-v1"))
        .collect();
    assert_eq!(saved.len(), 1, "the checkpoint saved its figures");
    db.table().remove(&saved[0]).unwrap();
    db.flush().unwrap();
    drop(db);
    for whole in [true, false] {
        let read = OfficeFigures::read(dir.path(), &Policy::default(), &figure_periods).unwrap();
        assert_eq!(read.whole, whole);
        assert_eq!(read.periods, expected_figures.periods);
    }
    // The checkpoint renewed in place of the plain one is compressed, and the plain one's
    // keys are gone.
    let keys: Vec<Vec<u8>> = projections(dir.path())
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(b"world-layout-9/"))
        .collect();
    let ends = |name: &[u8]| keys.iter().filter(|k| k.ends_with(name)).count();
    assert_eq!(ends(b"zstd-part-ends"), 1, "{keys:?}");
    // The compressed parts' key ends so too: no other.
    assert_eq!(ends(b"part-ends"), 1, "only the compressed parts' ends");

    // A nightly run two months on, too small for a checkpoint: its month is read from the whole
    // world once, which replaces the checkpoint; then from the saved figures.
    let later = Period::month_of(end + chrono::Months::new(2));
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    engine.nightly(later.last_day()).expect("nightly");
    assert!(engine.checkpoint_lag() > 0, "no checkpoint after the run");
    let expected = OfficeFigures::of(engine.world(), engine.policy(), &[later]);
    drop(engine);
    for whole in [true, false] {
        let read = OfficeFigures::read(dir.path(), &Policy::default(), &[later]).unwrap();
        assert_eq!(read.whole, whole, "{later}");
        assert_eq!(read.periods, expected.periods);
    }

    // An office registered after the checkpoint: the whole world answers, the same.
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    let division = engine
        .world()
        .ancestor_at(&subdivision, Level::Division)
        .map(|o| o.code.clone())
        .unwrap();
    let office = json!({"type": "register_office", "code": "SD-NEW", "name": "New",
                        "level": "subdivision", "parent": division});
    engine
        .execute(vec![Input {
            location: "after".into(),
            command: Command::from_json(&office),
        }])
        .expect("the office");
    let expected = OfficeFigures::of(engine.world(), engine.policy(), &[later]);
    drop(engine);
    let read = OfficeFigures::read(dir.path(), &Policy::default(), &[later]).unwrap();
    assert!(read.whole, "an office after the checkpoint");
    assert_eq!(read.periods, expected.periods);
    assert!(read.offices.contains_key("SD-NEW"));
}

/// Every entry of the projections' database, then each file of parts beside it, as
/// `file:` and its name, with its bytes.
fn projections(dir: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let path = dir.join(vasooli_engine::engine::PROJECTIONS_DIR);
    let db = vasooli_store::SideDb::open(&path, 1 << 20).unwrap();
    let mut entries = db.table().entries().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(path.join(vasooli_store::PARTS_DIR))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    files.sort_by_key(|e| e.file_name());
    for file in files {
        let name = format!("file:{}", file.file_name().to_string_lossy());
        entries.push((name.into_bytes(), std::fs::read(file.path()).unwrap()));
    }
    entries
}
