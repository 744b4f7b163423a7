//! A streamed import answers and writes exactly what the same rows checked as one batch in
//! memory do: the same report or the same errors in the same order, and the same events in
//! the same order in the log.

mod common;

use common::log_events as log;

use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::{json, Value};
use vasooli_domain::{Command, Policy};
use vasooli_engine::{Clock, Engine, EngineError, Input};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date")
}

/// A data directory holding offices Z1 → C1 → DV1 → SD1, consumers A1 and A2, bill BL1 and
/// receipt R1 of A1, and A1's mobile. `strict`: a consumer's bills and payments may not be
/// dated before the connection.
fn seeded(strict: bool) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut policy = Policy::default();
    policy.dates.before_connection_allowed = !strict;
    let mut engine = Engine::open(dir.path(), policy).expect("opens");
    engine.set_clock(Clock::Fixed(today()));
    let mut commands = common::offices_and_consumers(&["A1", "A2"]);
    commands.push(json!({"type": "issue_bill", "bill_no": "BL1", "account_no": "A1",
        "period": "2025-05", "issued_on": "2025-05-05", "due_on": "2025-05-20", "amount": "100.00"}));
    commands.push(
        json!({"type": "receive_payment", "receipt_no": "R1", "account_no": "A1",
        "amount": "50.00", "paid_on": "2025-05-10", "channel": "upi"}),
    );
    commands.push(
        json!({"type": "register_mobile", "account_no": "A1", "mobile": "9876500001",
        "registered_on": "2025-05-01", "source": "online"}),
    );
    engine
        .execute(common::inputs_from("seed", &commands))
        .expect("the seed is accepted");
    (dir, engine)
}

/// A row drawn from small pools, so that keys repeat within a file and against the log, with
/// the same content or other content, and some rows break a rule.
#[derive(Clone, Debug)]
enum Row {
    Office {
        code: u8,
        parent: u8,
        /// Registered as a division rather than a subdivision (a conflict with another row of
        /// its code, or a level its parent does not take).
        division: bool,
    },
    Consumer {
        account: u8,
        subdivision: u8,
        connected: u8,
        name: u8,
    },
    Bill {
        bill: u8,
        account: u8,
        issued: u8,
        amount: u8,
    },
    Payment {
        receipt: u8,
        account: u8,
        paid: u8,
        amount: u8,
    },
    Mobile {
        account: u8,
        mobile: u8,
    },
    Malformed,
}

fn row() -> impl Strategy<Value = Row> {
    prop_oneof![
        1 => (0..3u8, 0..2u8, prop::bool::weighted(0.3))
            .prop_map(|(code, parent, division)| Row::Office { code, parent, division }),
        2 => (0..5u8, 0..3u8, 0..3u8, 0..2u8).prop_map(|(account, subdivision, connected, name)| {
            Row::Consumer {
                account,
                subdivision,
                connected,
                name,
            }
        }),
        4 => (0..3u8, 0..5u8, 0..4u8, 0..2u8).prop_map(|(bill, account, issued, amount)| Row::Bill {
            bill,
            account,
            issued,
            amount
        }),
        3 => (0..3u8, 0..5u8, 0..4u8, 0..2u8).prop_map(|(receipt, account, paid, amount)| {
            Row::Payment {
                receipt,
                account,
                paid,
                amount,
            }
        }),
        1 => (0..5u8, 0..2u8).prop_map(|(account, mobile)| Row::Mobile { account, mobile }),
        1 => Just(Row::Malformed),
    ]
}

const ACCOUNTS: [&str; 5] = ["A1", "A2", "B1", "B2", "Z9"];
/// Dates: before the consumers' connection, after it, after B1's late one, and far ahead of
/// today (out of the date window).
const DATES: [&str; 4] = ["2025-03-01", "2025-06-05", "2025-11-05", "2027-06-01"];
/// A bill's due date, a fortnight after each of [`DATES`].
const DUES: [&str; 4] = ["2025-03-16", "2025-06-20", "2025-11-20", "2027-06-16"];

fn command(row: &Row) -> Value {
    match row {
        Row::Office {
            code,
            parent,
            division,
        } => json!({"type": "register_office",
            "code": (["SD1", "SD2", "SD3"][*code as usize]), "name": "Subdivision",
            "level": (if *division { "division" } else { "subdivision" }),
            "parent": (["DV1", "DVX", "C1"][*parent as usize + usize::from(*division && *parent == 0) * 2])}),
        Row::Consumer {
            account,
            subdivision,
            connected,
            name,
        } => json!({"type": "register_consumer", "account_no": (ACCOUNTS[*account as usize]),
            "name": (["Asha", "Bina"][*name as usize]), "category": "domestic",
            "subdivision": (["SD1", "SD2", "SDX"][*subdivision as usize]), "load_kw": "2.5",
            "connected_on": (["2025-04-01", "2025-10-01", "2024-01-01"][*connected as usize])}),
        Row::Bill {
            bill,
            account,
            issued,
            amount,
        } => json!({"type": "issue_bill", "bill_no": format!("BL{}", bill + 1),
            "account_no": (ACCOUNTS[*account as usize]), "period": (&DATES[*issued as usize][..7]),
            "issued_on": (DATES[*issued as usize]), "due_on": (DUES[*issued as usize]),
            "amount": (["100.00", "250.00"][*amount as usize])}),
        Row::Payment {
            receipt,
            account,
            paid,
            amount,
        } => json!({"type": "receive_payment", "receipt_no": format!("R{}", receipt + 1),
            "account_no": (ACCOUNTS[*account as usize]), "paid_on": (DATES[*paid as usize]),
            "amount": (["50.00", "75.00"][*amount as usize]), "channel": "upi"}),
        Row::Mobile { account, mobile } => json!({"type": "register_mobile",
            "account_no": (ACCOUNTS[*account as usize]),
            "mobile": (["9876500001", "9876500002"][*mobile as usize]),
            "registered_on": "2025-12-01", "source": "online"}),
        Row::Malformed => json!({"type": "issue_bill", "bill_no": "BLX", "account_no": "A1"}),
    }
}

fn inputs(rows: &[Row]) -> Vec<Input> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| Input {
            location: format!("file.csv:{}", i + 2),
            command: Command::from_json(&command(row)),
        })
        .collect()
}

/// What an import answered, comparable across engines.
fn answer(result: Result<vasooli_engine::ExecuteReport, EngineError>) -> Result<String, String> {
    match result {
        Ok(report) => Ok(format!(
            "read {} appended {} duplicates {} at {}",
            report.read, report.appended, report.duplicates, report.last_position
        )),
        Err(EngineError::Rejected(errors)) => Err(errors
            .iter()
            .map(|e| format!("{e} [{:?}]", e.kind))
            .collect::<Vec<_>>()
            .join("\n")),
        Err(other) => Err(format!("failed: {other}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_streamed_import_equals_a_one_batch_import(
        rows in prop::collection::vec(row(), 1..24),
        shared in any::<bool>(),
        strict in any::<bool>(),
    ) {
        let (_one_dir, mut one) = seeded(strict);
        let (_streamed_dir, mut streamed) = seeded(strict);
        // A refused file writes nothing, so the same engines take the rows again without
        // those refused, until a file is accepted (or none is left).
        let mut rows = rows;
        let mut accepted = false;
        while !rows.is_empty() && !accepted {
            let expected = answer(one.execute_with_progress(inputs(&rows), &mut |_, _| {}));
            let got = if shared {
                let written = streamed.write_streamed(inputs(&rows), &mut |_, _| {});
                streamed.read_written().expect("read in");
                answer(written)
            } else {
                answer(streamed.import_streamed(inputs(&rows), &mut |_, _| {}))
            };
            prop_assert_eq!(&got, &expected, "rows: {:#?}", rows);
            prop_assert_eq!(log(&streamed), log(&one));
            prop_assert_eq!(streamed.world().position, one.world().position);
            accepted = expected.is_ok();
            if let Err(errors) = &expected {
                let refused: Vec<usize> = errors
                    .lines()
                    .filter_map(|line| line.strip_prefix("file.csv:")?.split(':').next()?.parse().ok())
                    .collect();
                prop_assert!(!refused.is_empty(), "{}", errors);
                rows = rows
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !refused.contains(&(i + 2)))
                    .map(|(_, row)| row)
                    .collect();
            }
        }
        if std::env::var_os("STREAMED_STATS").is_some() {
            eprintln!("accepted {accepted} with {} rows, {} events", rows.len(), log(&one).len());
        }
    }
}

#[test]
fn repeats_across_the_file_are_duplicates_or_conflicts_as_in_one_batch() {
    // A bill repeated exactly far down the file is skipped; the same number with another
    // amount is a conflict reported at its own line; a row refused by a rule that a one-batch
    // import would have called a conflict is called one.
    let rows = [
        Row::Bill {
            bill: 1,
            account: 0,
            issued: 1,
            amount: 0,
        },
        Row::Payment {
            receipt: 1,
            account: 1,
            paid: 1,
            amount: 0,
        },
        Row::Bill {
            bill: 1,
            account: 0,
            issued: 1,
            amount: 0,
        },
        Row::Bill {
            bill: 1,
            account: 0,
            issued: 1,
            amount: 1,
        },
        Row::Bill {
            bill: 1,
            account: 0,
            issued: 0,
            amount: 1,
        },
    ];
    let (_dir, mut engine) = seeded(true);
    let before = log(&engine);
    let Err(EngineError::Rejected(errors)) = engine.import_streamed(inputs(&rows), &mut |_, _| {})
    else {
        panic!("a conflicting repeat was accepted");
    };
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].starts_with("file.csv:5: bill_no"), "{lines:#?}");
    assert!(lines[1].starts_with("file.csv:6: bill_no"), "{lines:#?}");
    assert_eq!(log(&engine), before, "a refused file wrote nothing");

    let (_dir, mut engine) = seeded(true);
    let report = engine
        .import_streamed(inputs(&rows[..3]), &mut |_, _| {})
        .expect("an exact repeat is accepted");
    assert_eq!((report.read, report.appended, report.duplicates), (3, 2, 1));
    let spools = std::fs::read_dir(engine.store().dir())
        .expect("the data directory lists")
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".import-spool-")
            })
        })
        .count();
    assert_eq!(spools, 0, "the spool is removed once the import ends");
}

#[test]
fn the_first_registration_of_a_consumer_stands_for_the_rows_after_a_conflicting_one() {
    // B1 connected in October, then registered again (a conflict) as connected in 2024: a
    // June bill of B1 is still before its connection, as a one-batch import says.
    let rows = [
        Row::Consumer {
            account: 2,
            subdivision: 0,
            connected: 1,
            name: 0,
        },
        Row::Consumer {
            account: 2,
            subdivision: 0,
            connected: 2,
            name: 0,
        },
        Row::Bill {
            bill: 2,
            account: 2,
            issued: 1,
            amount: 0,
        },
    ];
    let (_dir, mut one) = seeded(true);
    let expected = answer(one.execute_with_progress(inputs(&rows), &mut |_, _| {}));
    let (_dir, mut streamed) = seeded(true);
    let got = answer(streamed.import_streamed(inputs(&rows), &mut |_, _| {}));
    assert_eq!(got, expected);
    let errors = got.expect_err("refused");
    assert!(errors.contains("file.csv:3: account_no"), "{errors}");
    assert!(errors.contains("file.csv:4: issued_on"), "{errors}");
}

#[test]
fn a_command_no_file_import_makes_is_refused_and_nothing_is_written() {
    let (_dir, mut engine) = seeded(true);
    let before = log(&engine);
    let inputs = common::inputs_from(
        "file.csv",
        &[
            json!({"type": "revise_bill", "bill_no": "BL1", "revised_on": "2025-06-01",
                 "new_amount": "90.00", "reason": "reading"}),
        ],
    );
    let Err(EngineError::Usage(message)) = engine.import_streamed(inputs, &mut |_, _| {}) else {
        panic!("a revision was taken by a file import");
    };
    assert!(message.contains("revise_bill"), "{message}");
    assert_eq!(log(&engine), before);
}

#[test]
fn repeats_across_commits_are_skipped_as_in_one_batch() {
    // More events than one commit holds, every fifth row repeating the row three before it:
    // the repeats are skipped wherever the commits fall, and the log is the one-batch's.
    let rows = vasooli_engine::engine::COMMIT_CHUNK_EVENTS * 2 + 500;
    let bills: Vec<Value> = (0..rows)
        .map(|i| {
            let n = if i % 5 == 4 { i - 3 } else { i };
            json!({"type": "issue_bill", "bill_no": format!("BL-{n:06}"),
                "account_no": (["A1", "A2"][n % 2]), "period": "2025-06",
                "issued_on": "2025-06-05", "due_on": "2025-06-20", "amount": "10.00"})
        })
        .collect();
    let (_one_dir, mut one) = seeded(false);
    let (_streamed_dir, mut streamed) = seeded(false);
    let expected = one
        .execute_with_progress(common::inputs_from("bills.csv", &bills), &mut |_, _| {})
        .expect("accepted as one batch");
    let got = streamed
        .import_streamed(common::inputs_from("bills.csv", &bills), &mut |_, _| {})
        .expect("accepted streamed");
    assert_eq!(got, expected);
    assert_eq!(got.duplicates, rows / 5);
    assert_eq!(log(&streamed), log(&one));
}
