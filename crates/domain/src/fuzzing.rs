//! Properties checked on arbitrary input, shared by the fuzz targets in `fuzz/` and by the
//! replay test that runs every committed corpus file under `cargo test`. Each function takes
//! raw bytes, never panics on a correct implementation, and panics (an assertion) when a
//! property of the reader breaks.

use crate::codec::{decode_event, encode_event};
use crate::command::{parse_json, Command};
use crate::import::CsvRows;
use crate::journal::{self, Base};
use crate::policy::Policy;
use chrono::NaiveDate;
use serde_json::Value;

/// The five import kinds.
pub const IMPORT_KINDS: [&str; 5] = ["offices", "consumers", "bills", "payments", "mobiles"];

/// Number of physical lines of `bytes` (a line ends at `\n`, `\r\n` or a bare `\r`; a last
/// line without a line break counts).
fn physical_lines(bytes: &[u8]) -> u64 {
    let bare_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    let breaks = (0..bytes.len())
        .filter(|&i| bytes[i] == b'\n' || bare_cr(i))
        .count() as u64;
    breaks + u64::from(!(bytes.ends_with(b"\n") || bytes.ends_with(b"\r")))
}

/// An import file of `kind`: every row's line is after the header, within the file, and
/// rows come in file order; a refused row names at least one field.
pub fn import_csv(kind: &str, bytes: &[u8]) {
    let Ok(rows) = CsvRows::open(kind, bytes) else {
        return;
    };
    let lines = physical_lines(bytes).max(1);
    let mut previous = 1;
    for row in rows {
        assert!(
            row.line >= 2,
            "row on line {} (the header is line 1)",
            row.line
        );
        assert!(
            row.line <= lines,
            "row on line {} of a file of {lines} lines",
            row.line
        );
        assert!(
            row.line >= previous,
            "row on line {} after one on line {previous}",
            row.line
        );
        previous = row.line;
        match row.command {
            Ok(_) => assert!(!row.malformed, "a malformed record made a command"),
            Err(errors) => assert!(!errors.is_empty(), "a refused row names no field"),
        }
    }
}

/// The first byte picks the import kind, the rest is the file.
pub fn import_csv_any(bytes: &[u8]) {
    let Some((&pick, file)) = bytes.split_first() else {
        return;
    };
    import_csv(IMPORT_KINDS[usize::from(pick) % IMPORT_KINDS.len()], file);
}

/// A JSON text of commands (one object or an array of them, as `append` reads): a syntax
/// error carries a line ≥ 1; a command parsed is of the type it names, and refusals name a
/// field.
pub fn json_commands(bytes: &[u8]) {
    let value = match parse_json(bytes) {
        Ok(value) => value,
        Err(e) => {
            assert!(e.line() >= 1, "JSON error without a line: {e}");
            return;
        }
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    for item in &items {
        match Command::from_json(item) {
            Ok(command) => {
                assert_eq!(
                    item.get("type").and_then(Value::as_str),
                    Some(command.type_name()),
                    "a command parsed as another type"
                );
            }
            Err(errors) => assert!(!errors.is_empty(), "a refused command names no field"),
        }
    }
}

/// An encoded event: whatever decodes re-encodes to bytes that decode to the same event.
pub fn event_codec(bytes: &[u8]) {
    let Ok(event) = decode_event(bytes) else {
        return;
    };
    let again = encode_event(&event).expect("a decoded event encodes");
    let back = decode_event(&again).expect("a re-encoded event decodes");
    assert_eq!(event, back, "decode(encode(event)) differs");
    assert_eq!(
        again,
        encode_event(&back).expect("encodes"),
        "encoding is not stable"
    );
}

fn fuzz_base() -> Base<'static> {
    Base {
        account_no: "ACC-0001",
        position: 1,
        connected_on: NaiveDate::from_ymd_opt(2020, 1, 1).expect("a date"),
    }
}

/// A consumer's journal: a journal that checks is read whole by `record_sizes`, whose sizes
/// add up to its length; a refusal points inside the journal. Input that decodes as an
/// event is also written as a journal record, which must read back.
pub fn journal_bytes(bytes: &[u8]) {
    let base = fuzz_base();
    match journal::check(base, bytes) {
        Ok(()) => {
            let mut total = 0;
            journal::record_sizes(base, bytes, |_, size| {
                assert!(size > 0, "an empty record");
                total += size;
            })
            .expect("a journal that checks is measured");
            assert_eq!(total, bytes.len(), "record sizes do not cover the journal");
        }
        Err(e) => assert!(
            e.at <= bytes.len(),
            "error at {} past the end {}",
            e.at,
            bytes.len()
        ),
    }
    if let Ok(event) = decode_event(bytes) {
        let mut record = Vec::new();
        journal::encode(base, base.position + 1, &event, &mut record);
        if !record.is_empty() {
            journal::check(base, &record).expect("a record just written reads back");
        }
    }
}

/// A policy file: a policy read writes out as TOML that reads back the same; a refusal's
/// line, when it has one, is a line of the file.
pub fn policy_toml(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match Policy::from_toml(text) {
        Ok(policy) => {
            let written = policy.to_toml();
            let back = Policy::from_toml(&written).unwrap_or_else(|e| {
                panic!("a policy written does not read back: {e:?}\n{written}")
            });
            assert_eq!(policy, back, "to_toml then from_toml changed the policy");
        }
        Err(e) => {
            if let Some(line) = e.line {
                assert!(line >= 1, "policy error on line 0: {e:?}");
                assert!(
                    line as u64 <= bytes.iter().filter(|b| **b == b'\n').count() as u64 + 1,
                    "policy error on line {line} past the end: {e:?}"
                );
            }
            assert!(!e.reason.is_empty(), "policy error without a reason: {e:?}");
        }
    }
}
