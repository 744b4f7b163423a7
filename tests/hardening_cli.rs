//! The CLI against hostile input files: spreadsheet formulas in CSV exports, error lines
//! that stay one escaped line, and commands that name a key twice.

mod common;
use common::{ok, vasooli, write};

fn seed(dir: &std::path::Path, data: &std::path::Path, name: &str) {
    let offices = write(
        dir,
        "offices.csv",
        "code,name,level,parent\nZ1,Zone,zone,\nC1,Circle,circle,Z1\nD1,Div,division,C1\nS1,Sub,subdivision,D1\n",
    );
    let consumers = write(
        dir,
        "consumers.csv",
        &format!(
            "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
             A1,\"{name}\",domestic,S1,2,2020-01-01,,en\nA2,Plain Name,domestic,S1,2,2020-01-01,,en\n"
        ),
    );
    let bills = write(
        dir,
        "bills.csv",
        "bill_no,account_no,period,issued_on,due_on,amount\n\
         B1,A1,2026-07,2026-07-05,2026-07-20,2000.00\nB2,A2,2026-07,2026-07-05,2026-07-20,1500.00\n",
    );
    for (kind, file) in [
        ("offices", &offices),
        ("consumers", &consumers),
        ("bills", &bills),
    ] {
        ok(data, &["import", kind, file.to_str().unwrap()]);
    }
    ok(data, &["nightly", "--as-of", "2026-09-30"]);
}

#[test]
fn csv_exports_quote_formula_text_and_leave_numbers_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data, "=HYPERLINK(\"\"http://x\"\",\"\"y\"\")");
    let csv = ok(
        &data,
        &["defaulters", "--office", "S1", "--format", "csv", "--excel"],
    );
    let (columns, rows) = common::parse_csv(csv.trim_start_matches('\u{feff}'));
    assert!(columns.contains(&"name".to_string()));
    let a1 = common::row(&rows, "A1");
    assert_eq!(a1["name"], "'=HYPERLINK(\"http://x\",\"y\")");
    assert!(
        a1["overdue_arrears"].starts_with("20"),
        "{}",
        a1["overdue_arrears"]
    );
    assert_eq!(common::row(&rows, "A2")["name"], "Plain Name");
    // JSON is not a spreadsheet: the name is as it was given.
    let json = ok(&data, &["defaulters", "--office", "S1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let a1 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account_no"] == "A1")
        .unwrap();
    assert_eq!(a1["name"], "=HYPERLINK(\"http://x\",\"y\")");
}

#[test]
fn error_lines_escape_control_characters_and_cut_long_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let category = format!("\u{1b}[31mred\u{1b}[0m\nsecond line{}", "x".repeat(10_000));
    let consumers = write(
        dir.path(),
        "consumers.csv",
        &format!(
            "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n\
             A1,Asha,\"{category}\",S1,2,2020-01-01,,en\n"
        ),
    );
    let run = vasooli(&data, &["import", "consumers", consumers.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines.iter().all(|l| l.chars().count() <= 1001), "{lines:?}");
    assert!(run.stderr.len() < 4_000, "{} bytes", run.stderr.len());
    let name_line = lines
        .iter()
        .find(|l| l.contains("category"))
        .unwrap_or_else(|| panic!("no line names the column: {lines:?}"));
    assert!(name_line.contains("consumers.csv:2"), "{name_line}");
    assert!(name_line.contains("\\u{1b}[31mred"), "{name_line}");
    assert!(name_line.contains('…'), "{name_line}");
    assert!(lines.last().unwrap().starts_with("rejected:"), "{lines:?}");
}

#[test]
fn a_command_naming_a_key_twice_is_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data, "Asha");
    let file = write(
        dir.path(),
        "commands.jsonl",
        "{\"type\":\"receive_payment\",\"receipt_no\":\"R1\",\"account_no\":\"A1\",\
         \"amount\":\"1.00\",\"paid_on\":\"2026-09-01\",\"channel\":\"upi\",\"amount\":\"900.00\"}\n",
    );
    let run = vasooli(&data, &["append", file.to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("commands.jsonl:1"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`amount` is given twice"),
        "{}",
        run.stderr
    );
    let statement = ok(&data, &["statement", "--account", "A1", "--format", "json"]);
    assert!(!statement.contains("R1"), "{statement}");
}
