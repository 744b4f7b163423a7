//! The guards a user meets: `vasooli demo` leaves alone a directory another process has open
//! or that holds data it did not write, and refuses absurd dates and a nightly run ahead of
//! today, writing nothing.

mod common;

use common::{ok, vasooli, write, Server};
use std::path::Path;
use std::process::Command;

/// A small demo into `data`.
fn demo(data: &Path) -> common::Run {
    vasooli(data, &["demo", "--consumers", "50", "--months", "2"])
}

fn exported(data: &Path, out: &Path) -> String {
    ok(data, &["export", "--out", out.to_str().unwrap()]);
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn a_demo_replaces_its_own_directory_but_not_one_a_server_has_open() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let first = demo(&data);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Its own, untouched directory: replaced.
    let again = demo(&data);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let before = exported(&data, &tmp.path().join("before.jsonl"));
    let server = Server::start(&data);
    let refused = demo(&data);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    // It names the server's process.
    let holder = format!("process {} (vasooli serve)", server.child.id());
    assert!(refused.stderr.contains(&holder), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(data.to_str().unwrap()),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
    assert_eq!(
        server.get("/health", None).map(|(status, _)| status),
        Some(200),
        "the server still serves"
    );
    drop(server);
    assert_eq!(exported(&data, &tmp.path().join("after.jsonl")), before);
}

#[test]
fn a_demo_leaves_alone_a_directory_holding_imported_or_foreign_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    assert_eq!(demo(&data).code, 0);
    // Something imported into the demo's directory: the demo no longer owns it.
    let offices = write(
        tmp.path(),
        "offices.csv",
        "code,name,level,parent\nZX,Zone X,zone,\n",
    );
    ok(&data, &["import", "offices", offices.to_str().unwrap()]);
    let before = exported(&data, &tmp.path().join("before.jsonl"));
    let refused = demo(&data);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("something else wrote"),
        "{}",
        refused.stderr
    );
    assert_eq!(exported(&data, &tmp.path().join("after.jsonl")), before);
    // An everyday data directory (no demo marker): left alone.
    let everyday = tmp.path().join("everyday");
    ok(&everyday, &["import", "offices", offices.to_str().unwrap()]);
    let refused = demo(&everyday);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("did not make"),
        "{}",
        refused.stderr
    );
    assert!(everyday.join("log").exists());
}

#[test]
fn absurd_dates_and_a_nightly_run_ahead_of_today_are_refused_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_vasooli"))
            .env("VASOOLI_TODAY", "2026-10-31")
            .arg("--data")
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let offices = write(
        tmp.path(),
        "offices.csv",
        "code,name,level,parent\nZ1,Z,zone,\nC1,C,circle,Z1\nD1,D,division,C1\nS1,S,subdivision,D1\n",
    );
    let consumers = write(
        tmp.path(),
        "consumers.csv",
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\nA1,Asha,domestic,S1,2,2020-01-01,,en\n",
    );
    assert_eq!(
        run(&["import", "offices", offices.to_str().unwrap()]).0,
        Some(0)
    );
    assert_eq!(
        run(&["import", "consumers", consumers.to_str().unwrap()]).0,
        Some(0)
    );
    let bills = write(
        tmp.path(),
        "bills.csv",
        "bill_no,account_no,period,issued_on,due_on,amount\nB1,A1,2026-09,2026-10-05,2026-10-20,100.00\nB2,A1,2062-09,2062-10-05,2062-10-20,100.00\nB3,A1,2016-09,2016-10-05,2016-10-20,100.00\n",
    );
    let (code, stderr) = run(&["import", "bills", bills.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("bills.csv:3: issued_on: 2062-10-05 is after today"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bills.csv:4: issued_on: 2016-10-05 is more than 10 years"),
        "{stderr}"
    );
    let (code, stderr) = run(&["nightly", "--as-of", "2026-11-01"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("as_of: 2026-11-01 is after today (2026-10-31"),
        "{stderr}"
    );
    let (code, stderr) = run(&["nightly", "--as-of", "2026-10-31"]);
    assert_eq!(code, Some(0), "{stderr}");
    // Nothing of the refused file was written.
    let (code, _) = run(&["statement", "--account", "A1"]);
    assert_eq!(code, Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .env("VASOOLI_TODAY", "2026-10-31")
        .arg("--data")
        .arg(&data)
        .args(["--format", "json", "statement", "--account", "A1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("\"B1\"") && !text.contains("B2"), "{text}");
}
