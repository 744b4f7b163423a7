//! A CSV record is read into a command without building a JSON object first
//! (`Command::from_record`); it must give exactly what the same cells give as a JSON object
//! of strings (`Command::from_fields`): the same command, or the same errors in the same
//! order, for every command kind and any cells.

use proptest::prelude::*;
use serde_json::{Map, Value};
use vasooli_domain::command::{import_columns, COMMAND_KINDS};
use vasooli_domain::Command;

/// Cells that pass or fail the checks of the commands' fields.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  ".to_string()),
        Just("UK0000001".to_string()),
        Just("SD-01".to_string()),
        Just("subdivision".to_string()),
        Just("2025-04-01".to_string()),
        Just("2025-02-30".to_string()),
        Just("2025-04".to_string()),
        Just("100.50".to_string()),
        Just("-5".to_string()),
        Just("0".to_string()),
        Just("1.2345".to_string()),
        Just("9876543210".to_string()),
        Just("domestic".to_string()),
        Just("cash".to_string()),
        Just("hi".to_string()),
        Just("SDO;EE".to_string()),
        Just("notice".to_string()),
        "[ -~]{0,12}",
    ]
}

/// A kind, a header (some of its keys in any order, perhaps one name it does not have) and
/// a record of cells under it.
fn case() -> impl Strategy<Value = (&'static str, Vec<String>, Vec<String>)> {
    (0..COMMAND_KINDS.len())
        .prop_flat_map(|k| {
            let kind = &COMMAND_KINDS[k];
            let keys: Vec<String> = kind
                .keys
                .iter()
                .map(|key| key.trim_end_matches('?').to_string())
                .collect();
            let n = keys.len();
            (
                Just(kind.name),
                proptest::sample::subsequence(keys, 0..=n).prop_shuffle(),
                proptest::option::of(Just("remarks".to_string())),
            )
        })
        .prop_flat_map(|(kind, mut headers, unknown)| {
            headers.extend(unknown);
            let n = headers.len();
            (
                Just(kind),
                Just(headers),
                proptest::collection::vec(cell(), n),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_record_reads_as_its_cells_as_json((kind, headers, cells) in case()) {
        let record = csv::StringRecord::from(cells.clone());
        let mut object = Map::new();
        for (header, cell) in headers.iter().zip(&cells) {
            object.insert(header.clone(), Value::String(cell.clone()));
        }
        prop_assert_eq!(
            Command::from_record(kind, &headers, &record),
            Command::from_fields(kind, &object)
        );
    }
}

/// A whole row of a bills file read both ways, with the command it makes spelled out.
#[test]
fn a_bill_row_reads_the_same_both_ways() {
    // The bills file's columns, in the order the import documents them.
    let headers: Vec<String> = import_columns("bills")
        .expect("bills is an import kind")
        .into_iter()
        .map(String::from)
        .collect();
    let record = csv::StringRecord::from(vec![
        "B-1",
        "UK0000001",
        "2025-04",
        "2025-04-05",
        "2025-04-20",
        "1000.00",
    ]);
    let command = Command::from_record("issue_bill", &headers, &record).expect("a bill");
    match &command {
        Command::IssueBill {
            bill_no,
            account_no,
            period,
            amount,
            ..
        } => {
            assert_eq!(
                (bill_no.as_str(), account_no.as_str(), period.as_str()),
                ("B-1", "UK0000001", "2025-04")
            );
            assert_eq!(amount.paise(), 100_000);
        }
        other => panic!("not a bill: {other:?}"),
    }
    // A due date before the issue date, read from the record, is refused on `due_on`.
    let late = csv::StringRecord::from(vec![
        "B-1",
        "UK0000001",
        "2025-04",
        "2025-04-05",
        "2025-04-01",
        "1000.00",
    ]);
    let errors = Command::from_record("issue_bill", &headers, &late).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "due_on");
}
