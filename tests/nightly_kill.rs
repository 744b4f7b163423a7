//! A nightly run killed part-way (SIGKILL, several times, at different moments) and then run
//! to the end leaves the same events as one uninterrupted run on a copy of the same directory.
//! No timing is asserted: a kill that lands after the run finished is simply a finished run.

mod common;

use common::{events, ok, vasooli};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const AS_OF: &str = "2026-06-30";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_nightly_run_killed_part_way_and_completed_equals_one_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let killed = tmp.path().join("killed");
    let whole = tmp.path().join("whole");
    let made = vasooli(
        &killed,
        &[
            "demo",
            "--consumers",
            "3000",
            "--months",
            "6",
            "--seed",
            "7",
        ],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    copy_dir(&killed, &whole);

    let mut finished_early = 0;
    for sleep_ms in [40u64, 120, 250, 500, 900] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
            .arg("--data")
            .arg(&killed)
            .args(["nightly", "--as-of", AS_OF])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(sleep_ms));
        if child.try_wait().unwrap().is_some() {
            finished_early += 1;
        } else {
            child.kill().unwrap(); // SIGKILL on Unix
        }
        child.wait().unwrap();
        let verified = vasooli(&killed, &["verify"]);
        assert_eq!(
            verified.code, 0,
            "after a kill at {sleep_ms} ms: {}",
            verified.stderr
        );
    }
    eprintln!("runs that finished before their kill: {finished_early} of 5");
    ok(&killed, &["nightly", "--as-of", AS_OF]);
    ok(&whole, &["nightly", "--as-of", AS_OF]);

    let a = events(&killed, &tmp.path().join("killed.jsonl"));
    let b = events(&whole, &tmp.path().join("whole.jsonl"));
    assert_eq!(a.len(), b.len(), "event counts differ");
    assert!(a == b, "the events differ");
    let list = |data: &Path| {
        let run = vasooli(data, &["--format", "csv", "sms", "outbox"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    assert_eq!(list(&killed), list(&whole));
}
