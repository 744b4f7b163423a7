//! The everyday CLI as a clerk meets it: the office tree, help that shows what each flag and
//! each command line takes, a statement as one passbook CSV, `-` for standard output, a quiet
//! end when the reader of a pipe stops, and a clear refusal of a period with nothing in it.

mod common;

use common::{ok, parse_csv, vasooli, write};
use std::path::Path;
use std::process::Command;
use vasooli_domain::command::COMMAND_KINDS;

fn seed(dir: &Path, data: &Path) {
    let files = [
        ("offices", "code,name,level,parent\nZ1,गढ़वाल,zone,\nC2,Haldwani,circle,Z1\nC1,देहरादून वृत्त,circle,Z1\nD1,Dehradun,division,C1\nS2,Doiwala,subdivision,D1\nS1,Rishikesh,subdivision,D1\n"),
        ("consumers", "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\nA1,राम सिंह,domestic,S1,2.5,2020-01-01,+91 98765 43210,hi\nA2,Sita Devi,domestic,S2,1,2020-01-01,,en\n"),
        ("bills", "bill_no,account_no,period,issued_on,due_on,amount\nB1,A1,2026-07,2026-07-05,2026-07-20,1200.00\nB2,A1,2026-08,2026-08-05,2026-08-20,1500.00\nB3,A2,2026-07,2026-07-05,2026-07-20,800.00\n"),
        ("payments", "receipt_no,account_no,amount,paid_on,channel\nP1,A1,700.00,2026-08-10,upi\nP2,A1,100.00,2026-07-20,counter_cash\n"),
    ];
    for (kind, text) in files {
        let file = write(dir, &format!("{kind}.csv"), text);
        ok(data, &["import", kind, file.to_str().unwrap()]);
    }
    ok(data, &["nightly", "--as-of", "2026-09-30"]);
}

/// Runs `vasooli --data DATA ARGS...` with its standard output sent to the file `out`, as
/// `> out` does (a workbook is not for a terminal), and asserts it succeeds.
fn ok_to_file(data: &Path, args: &[&str], out: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdout(std::fs::File::create(out).unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "vasooli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn offices_lists_the_tree_depth_first_with_codes_names_and_parents() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(tmp.path(), &data);
    let (header, rows) = parse_csv(&ok(&data, &["offices", "--format", "csv"]));
    assert_eq!(header, ["code", "name", "level", "parent"]);
    let listed: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["code"].as_str(),
                r["level"].as_str(),
                r["parent"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("Z1", "zone", ""),
            ("C1", "circle", "Z1"),
            ("D1", "division", "C1"),
            ("S1", "subdivision", "D1"),
            ("S2", "subdivision", "D1"),
            ("C2", "circle", "Z1"),
        ]
    );
    assert_eq!(rows[1]["name"], "देहरादून वृत्त");
    // The table shows the depth by indenting the code.
    let table = ok(&data, &["offices"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("Z1 "), "{table}");
    assert!(lines[4].starts_with("      S1 "), "{table}");
}

#[test]
fn append_help_shows_a_line_of_every_command_kind_and_each_line_is_understood() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(tmp.path(), &data);
    let help = ok(&data, &["append", "--help"]);
    let lines: Vec<&str> = help
        .lines()
        .filter(|l| l.starts_with("{\"type\":"))
        .collect();
    assert_eq!(lines.len(), COMMAND_KINDS.len(), "{help}");
    for kind in COMMAND_KINDS {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{{\"type\":\"{}\"", kind.name)))
            .unwrap_or_else(|| panic!("no line of {}: {help}", kind.name));
        // Fed to append, the line is parsed: whatever the rules then say of it (the example's
        // accounts are not in this data), no key is unknown and nothing is malformed.
        let file = write(tmp.path(), "one.jsonl", &format!("{line}\n"));
        let run = vasooli(&data, &["append", file.to_str().unwrap()]);
        assert!(run.code == 0 || run.code == 3, "{line}: {}", run.stderr);
        for malformed in [
            "is not a key of",
            "not valid JSON",
            "is required",
            "is not one of",
        ] {
            assert!(!run.stderr.contains(malformed), "{line}: {}", run.stderr);
        }
    }
}

#[test]
fn flags_name_their_values_with_an_example() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (command, flags) in [
        (vec!["nightly"], vec!["--as-of <YYYY-MM-DD>"]),
        (
            vec!["defaulters"],
            vec![
                "--office <CODE>",
                "--min-arrears <RUPEES>",
                "--stage <STAGE>",
                "--limit <N>",
            ],
        ),
        (
            vec!["worklist"],
            vec!["--kind <KIND>", "--notices <FILE|->"],
        ),
        (
            vec!["rankings"],
            vec!["--period <PERIOD>", "--level <LEVEL>"],
        ),
        (vec!["awards"], vec!["--out <FILE|->"]),
        (
            vec!["tokens", "create"],
            vec!["--role <ROLE>", "--name <NAME>"],
        ),
    ] {
        let mut args = command.clone();
        args.push("--help");
        let help = ok(&data, &args);
        let options = &help[help.find("Options:").expect("an options section")..];
        for flag in flags {
            let at = options
                .find(flag)
                .unwrap_or_else(|| panic!("{command:?}: no {flag}: {help}"));
            let described = options[at..].split("\n\n").next().unwrap();
            assert!(
                described.contains("e.g. "),
                "{command:?} {flag}: {described}"
            );
        }
    }
    // The stage filter names every stage.
    let help = ok(&data, &["defaulters", "--help"]);
    for stage in vasooli_domain::types::Stage::ALL {
        assert!(help.contains(stage.as_str()), "{stage:?}: {help}");
    }
}

#[test]
fn a_statement_as_csv_is_one_passbook_ending_at_the_outstanding_amount() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(tmp.path(), &data);
    let csv = ok(&data, &["statement", "--account", "A1", "--format", "csv"]);
    let (header, rows) = parse_csv(&csv);
    assert_eq!(
        header,
        [
            "date",
            "kind",
            "reference",
            "due_on",
            "debit",
            "credit",
            "balance"
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &data,
        &["statement", "--account", "A1", "--format", "json"],
    ))
    .unwrap();
    // Every charge and credit once, in date order, the balance running.
    let charges = json["charges"].as_array().unwrap().len();
    let credits = json["credits"].as_array().unwrap().len();
    assert_eq!(rows.len(), charges + credits);
    let dates: Vec<&str> = rows.iter().map(|r| r["date"].as_str()).collect();
    let mut sorted = dates.clone();
    sorted.sort_unstable();
    assert_eq!(dates, sorted);
    let cents = |text: &str| -> i64 {
        if text.is_empty() {
            return 0;
        }
        let (rupees, paise) = text.split_once('.').unwrap();
        rupees.parse::<i64>().unwrap() * 100 + paise.parse::<i64>().unwrap()
    };
    let mut balance = 0;
    for row in &rows {
        balance += cents(&row["debit"]) - cents(&row["credit"]);
        assert_eq!(balance, cents(&row["balance"]), "{row:?}");
    }
    assert_eq!(
        rows.last().unwrap()["balance"],
        json["outstanding"].as_str().unwrap()
    );
    // The first entry is the first bill, booked on 5 July.
    assert_eq!(rows[0]["reference"].split(' ').next(), Some("B1"));
    assert_eq!(rows[0]["date"], "2026-07-05");
}

#[test]
fn a_dash_means_standard_output_and_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = vasooli(&data, &["demo", "--consumers", "300", "--months", "3"]);
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    let file = tmp.path().join("log.jsonl");
    ok(&data, &["export", "--out", file.to_str().unwrap()]);
    let run = vasooli(&data, &["export", "--out", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, std::fs::read_to_string(&file).unwrap());
    assert!(run.stdout.len() > 1 << 20, "enough to fill a pipe");
    // The reader stops after one line: no error, no panic.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --data '{}' export --out - | head -n 1",
            env!("CARGO_BIN_EXE_vasooli"),
            data.display()
        ))
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert_eq!(String::from_utf8_lossy(&piped.stdout).lines().count(), 1);
    assert_eq!(String::from_utf8_lossy(&piped.stderr), "");
}

#[test]
fn a_period_with_nothing_billed_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(tmp.path(), &data);
    // Awards for nothing are refused: exit 2, one line, nothing printed.
    let run = vasooli(&data, &["awards", "--period", "2025-01"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no office was billed in 2025-01"),
        "{}",
        run.stderr
    );
    // Rankings answer with an empty list (a script still reads the header) and say why.
    let run = vasooli(
        &data,
        &[
            "rankings", "--period", "2025-01", "--level", "circle", "--format", "csv",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("no office was billed in 2025-01"),
        "{}",
        run.stderr
    );
    // A period with bills ranks, quietly.
    let run = vasooli(
        &data,
        &["rankings", "--period", "2026-07", "--level", "circle"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
}

#[test]
fn lists_as_excel_workbooks_hold_the_csv_figures_under_a_frozen_filtered_header() {
    use calamine::{Data, Reader, Xlsx};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(tmp.path(), &data);
    let (_, csv_rows) = parse_csv(&ok(
        &data,
        &["defaulters", "--office", "Z1", "--format", "csv"],
    ));
    let path = tmp.path().join("defaulters.xlsx");
    ok_to_file(
        &data,
        &["defaulters", "--office", "Z1", "--format", "xlsx"],
        &path,
    );
    let mut workbook: Xlsx<_> = calamine::open_workbook(&path).unwrap();
    assert_eq!(workbook.sheet_names(), ["defaulters"]);
    let range = workbook.worksheet_range("defaulters").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), csv_rows.len() + 1);
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (cells, expected) in rows[1..].iter().zip(&csv_rows) {
        assert_eq!(
            cells[column("account_no")].to_string(),
            expected["account_no"]
        );
        assert_eq!(cells[column("name")].to_string(), expected["name"]);
        // Amounts are numbers, equal to the CSV's figures.
        let Data::Float(arrears) = cells[column("overdue_arrears")] else {
            panic!("not a number: {:?}", cells[column("overdue_arrears")]);
        };
        assert_eq!(format!("{arrears:.2}"), expected["overdue_arrears"]);
        assert!(matches!(cells[column("days_overdue")], Data::Float(_)));
        assert!(matches!(cells[column("oldest_due_on")], Data::DateTime(_)));
    }
    assert!(rows[1..]
        .iter()
        .any(|r| r[column("name")] == Data::String("राम सिंह".into())));
    // The header is frozen and filterable, and amounts show ₹.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    assert!(sheet.contains("state=\"frozen\""), "{sheet}");
    assert!(sheet.contains("<autoFilter"), "{sheet}");
    let mut styles = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/styles.xml").unwrap(), &mut styles).unwrap();
    assert!(styles.contains("₹"), "{styles}");
}

#[test]
fn append_reports_every_bad_line_in_line_order_whoever_found_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(tmp.path(), &data);
    let before = ok(&data, &["verify"]);
    // Problems found while reading (not JSON, too long) and problems the rules find (an unknown
    // key, a disconnection without a notice) come interleaved; a file name with a colon and
    // digits in it does not confuse the order.
    let long = format!("{{\"type\":\"note\",\"text\":\"{}\"}}", "x".repeat(1 << 20));
    let text = [
        "{\"type\":\"receive_payment\",\"receipt_no\":\"R9\",\"account_no\":\"A1\",\"amount\":\"5.00\",\"paid_on\":\"2026-08-12\",\"channel\":\"upi\",\"colour\":\"red\"}",
        "{not json",
        "",
        "{\"type\":\"receive_payment\",\"receipt_no\":\"R10\",\"account_no\":\"A2\",\"amount\":\"5.00\",\"paid_on\":\"2026-08-12\",\"channel\":\"upi\"}",
        "{\"type\":\"disconnect\",\"account_no\":\"A1\",\"on\":\"2026-09-01\",\"order_no\":\"O1\"}",
        &long,
        "{\"a\":1,\"a\":2}",
    ]
    .join("\n");
    let file = write(tmp.path(), "day:12.jsonl", &text);
    let name = file.to_str().unwrap();
    let run = vasooli(&data, &["append", name]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stderr);
    let prefixes: Vec<String> = [1, 2, 5, 6, 7]
        .iter()
        .map(|line| format!("{name}:{line}: "))
        .collect();
    for (line, prefix) in lines.iter().zip(&prefixes) {
        assert!(
            line.starts_with(prefix.as_str()),
            "{prefix} in {}",
            run.stderr
        );
    }
    assert!(lines[0].contains("colour"), "{}", run.stderr);
    assert!(
        lines[1].starts_with(&format!("{name}:2: column 2: not valid JSON: ")),
        "{}",
        run.stderr
    );
    assert!(lines[2].contains("no open notice"), "{}", run.stderr);
    assert_eq!(
        lines[3],
        format!("{name}:6: the line is longer than 1048576 bytes")
    );
    assert!(lines[4].contains("not valid JSON"), "{}", run.stderr);
    assert_eq!(lines[5], "rejected: 5 problems; nothing was written");
    assert_eq!(ok(&data, &["verify"]), before, "nothing was written");
}

/// The data of [`seed`] plus a bill and a payment in October, ready for the October run.
fn seed_october(dir: &Path, data: &Path) {
    seed(dir, data);
    let bills = write(
        dir,
        "october-bills.csv",
        "bill_no,account_no,period,issued_on,due_on,amount\nB4,A2,2026-09,2026-10-05,2026-10-20,300.00\n",
    );
    ok(data, &["import", "bills", bills.to_str().unwrap()]);
    let payments = write(
        dir,
        "october-payments.csv",
        "receipt_no,account_no,amount,paid_on,channel\nP3,A2,200.00,2026-10-10,upi\n",
    );
    ok(data, &["import", "payments", payments.to_str().unwrap()]);
}

#[test]
fn nightly_summary_gives_the_rupees_in_every_format() {
    use calamine::{Data, Reader, Xlsx};
    use vasooli_domain::types::Stage;
    use vasooli_domain::Money;
    use vasooli_render::words::rupees;
    // The same run on four copies of the same data, once per format (a rerun of a date
    // counts nothing, so each format needs its own first run of 2026-10-31).
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<std::path::PathBuf> = (0..4).map(|i| tmp.path().join(format!("d{i}"))).collect();
    for dir in &dirs {
        std::fs::create_dir(dir).unwrap();
        seed_october(dir, &dir.join("data"));
    }
    let data = |i: usize| dirs[i].join("data");
    let as_of = ["nightly", "--as-of", "2026-10-31"];
    let json: serde_json::Value =
        serde_json::from_str(&ok(&data(0), &[&as_of[..], &["--format", "json"]].concat())).unwrap();
    let json = &json[0];
    let field = |name: &str| {
        json[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {json}"))
    };
    // The window is October: the bill and the payment made in it, nothing from before.
    assert_eq!(field("as_of"), "2026-10-31");
    assert_eq!(field("counted_from"), "2026-10-01");
    assert_eq!(field("billed"), "300.00");
    assert_eq!(field("collected"), "200.00");
    let levied = Money::parse(field("surcharge_levied")).unwrap();
    assert!(levied > Money::default(), "{json}");
    // Each stage's arrears are the defaulter list's arrears of the consumers at that stage.
    let (_, defaulters) = parse_csv(&ok(
        &data(0),
        &["defaulters", "--office", "Z1", "--format", "csv"],
    ));
    for stage in Stage::ALL {
        let at_stage: Vec<_> = defaulters
            .iter()
            .filter(|r| r["stage"] == stage.as_str())
            .collect();
        let sum = at_stage.iter().fold(Money::default(), |sum, r| {
            sum + Money::parse(&r["overdue_arrears"]).unwrap()
        });
        assert_eq!(
            field(&format!("{}_arrears", stage.as_str())),
            sum.to_string(),
            "{stage:?}"
        );
        assert_eq!(
            field(&format!("{}_consumers", stage.as_str())),
            at_stage.len().to_string()
        );
    }
    // CSV: the same figures under the same names.
    let (header, rows) = parse_csv(&ok(&data(1), &[&as_of[..], &["--format", "csv"]].concat()));
    assert_eq!(rows.len(), 1);
    for column in &header {
        if column == "elapsed_ms" {
            continue;
        }
        let expected = json[column.as_str()].as_str().unwrap_or("");
        assert_eq!(rows[0][column.as_str()], expected, "{column}");
    }
    assert_eq!(header.len(), json.as_object().unwrap().len());
    // The table: the same rupees, with ₹ and Indian grouping.
    let table = ok(&data(2), &as_of);
    assert!(
        table.contains(&format!(
            "billed 01-10-2026 to 31-10-2026: {}; collected: {}; surcharge levied: {}",
            rupees(Money::parse("300.00").unwrap()),
            rupees(Money::parse("200.00").unwrap()),
            rupees(levied)
        )),
        "{table}"
    );
    for stage in Stage::ALL {
        let count = field(&format!("{}_consumers", stage.as_str()));
        if count == "0" {
            continue;
        }
        let arrears = Money::parse(field(&format!("{}_arrears", stage.as_str()))).unwrap();
        let line = format!(
            "stage {}: {count}, overdue arrears {}",
            stage.as_str(),
            rupees(arrears)
        );
        assert!(table.contains(&line), "{line} in {table}");
    }
    // Excel: rupees and counts as numbers, the dates as dates.
    let path = tmp.path().join("nightly.xlsx");
    let mut args: Vec<&str> = as_of.to_vec();
    args.extend(["--format", "xlsx"]);
    ok_to_file(&data(3), &args, &path);
    let mut workbook: Xlsx<_> = calamine::open_workbook(&path).unwrap();
    assert_eq!(workbook.sheet_names(), ["nightly 2026-10-31"]);
    let range = workbook.worksheet_range("nightly 2026-10-31").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), 2);
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(header.len(), json.as_object().unwrap().len());
    for (name, cell) in header.iter().zip(rows[1]) {
        match name.as_str() {
            "as_of" | "counted_from" => assert!(matches!(cell, Data::DateTime(_)), "{name}"),
            "elapsed_ms" => assert!(matches!(cell, Data::Float(_)), "{name}"),
            _ => {
                let Data::Float(number) = cell else {
                    panic!("{name} is not a number: {cell:?}");
                };
                let expected = field(name);
                if expected.contains('.') {
                    assert_eq!(format!("{number:.2}"), expected, "{name}");
                } else {
                    assert_eq!(number.to_string(), expected, "{name}");
                }
            }
        }
    }
}
