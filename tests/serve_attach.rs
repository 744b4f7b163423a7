//! The CLI while `vasooli serve` has the data directory open: every everyday command is handed
//! to the server over its local socket and prints exactly what it prints on a directory no
//! server holds, with the same exit code; a revoked token stops working at once; commands
//! that cannot be handed over name the process that holds the directory.

mod common;

use common::{write, Run, Server};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `vasooli --data DATA ARGS...` in `cwd`, with `stdin` on its standard input.
fn run_in(cwd: &Path, data: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .current_dir(cwd)
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The input files, in `dir`, named relative to it in the steps.
fn inputs(dir: &Path) {
    write(dir, "offices.csv", "code,name,level,parent\nZ1,गढ़वाल,zone,\nC1,देहरादून वृत्त,circle,Z1\nD1,Dehradun,division,C1\nS1,Rishikesh,subdivision,D1\nS2,Doiwala,subdivision,D1\n");
    write(dir, "consumers.csv", "account_no,name,category,subdivision,load_kw,connected_on,mobile,language\nA1,राम सिंह,domestic,S1,2.5,2020-01-01,+91 98765 43210,hi\nA2,Sita Devi,domestic,S2,1,2020-01-01,,en\nA3,Mohan Lal,non_domestic,S2,4,2021-03-01,9837012345,en\n");
    write(dir, "bills.csv", "bill_no,account_no,period,issued_on,due_on,amount\nB1,A1,2026-07,2026-07-05,2026-07-20,1200.00\nB2,A1,2026-08,2026-08-05,2026-08-20,1500.00\nB3,A2,2026-07,2026-07-05,2026-07-20,800.00\nB4,A3,2026-07,2026-07-05,2026-07-20,5000.00\n");
    write(
        dir,
        "payments.csv",
        "receipt_no,account_no,amount,paid_on,channel\nP1,A1,700.00,2026-08-10,upi\n",
    );
    write(
        dir,
        "bad-bills.csv",
        "bill_no,account_no,period,issued_on,due_on,amount\nB9,A9,2026-07,2026-07-05,2026-07-20,100.00\nB10,A1,2026-13,2026-07-05,2026-07-20,abc\n",
    );
}

/// What a finance clerk and an officer run in a day, in order: (arguments, standard input).
fn steps() -> Vec<(Vec<&'static str>, &'static str)> {
    vec![
        (vec!["import", "offices", "offices.csv"], ""),
        (vec!["import", "consumers", "consumers.csv"], ""),
        (vec!["import", "bills", "bills.csv"], ""),
        (vec!["import", "payments", "payments.csv"], ""),
        // Run again: every row is a duplicate.
        (vec!["import", "bills", "bills.csv"], ""),
        (vec!["import", "bills", "bad-bills.csv"], ""),
        (
            vec!["append", "-"],
            "{\"type\":\"receive_payment\",\"receipt_no\":\"P2\",\"account_no\":\"A2\",\"amount\":\"300.00\",\"paid_on\":\"2026-08-12\",\"channel\":\"upi\"}\n",
        ),
        (vec!["append", "-"], "{\"type\":\"receive_payment\"}\n"),
        (vec!["nightly", "--as-of", "2026-09-30"], ""),
        (vec!["nightly", "--as-of", "2026-09-01"], ""),
        (vec!["defaulters", "--office", "Z1", "--format", "csv"], ""),
        (vec!["defaulters", "--office", "NOPE"], ""),
        (
            vec![
                "worklist",
                "--office",
                "Z1",
                "--kind",
                "serve_notice",
                "--format",
                "csv",
                "--notices",
                "notices.html",
            ],
            "",
        ),
        (vec!["statement", "--account", "A1", "--format", "json"], ""),
        (vec!["statement", "--account", "A1"], ""),
        (
            vec![
                "rankings",
                "--period",
                "2026-07",
                "--level",
                "subdivision",
                "--format",
                "csv",
            ],
            "",
        ),
        (vec!["campaign", "--office", "Z1", "--format", "csv"], ""),
        (
            vec!["camps", "--office", "Z1", "--period", "2026-07", "--format", "csv"],
            "",
        ),
        (vec!["sms", "outbox", "--format", "csv"], ""),
    ]
}

/// The events of an export, without the times they were recorded at.
fn events(cwd: &Path, data: &Path) -> Vec<serde_json::Value> {
    let out = cwd.join("export.jsonl");
    let run = run_in(cwd, data, &["export", "--out", out.to_str().unwrap()], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("recorded_at_ms");
            value
        })
        .collect()
}

#[test]
fn every_everyday_command_runs_through_the_server_with_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (alone, served) = (tmp.path().join("alone"), tmp.path().join("served"));
    let (alone_cwd, served_cwd) = (tmp.path().join("a"), tmp.path().join("b"));
    for dir in [&alone_cwd, &served_cwd] {
        std::fs::create_dir_all(dir).unwrap();
        inputs(dir);
    }
    let server = Server::start(&served);
    assert!(served.join("serve.sock").exists());
    let mut differing_codes = std::collections::BTreeSet::new();
    for (args, stdin) in steps() {
        let expected = run_in(&alone_cwd, &alone, &args, stdin);
        let got = run_in(&served_cwd, &served, &args, stdin);
        assert_eq!(got.code, expected.code, "{args:?}: {}", got.stderr);
        // The nightly run's elapsed time is the one line that may differ.
        let timeless = |text: &str| -> String {
            text.lines()
                .filter(|line| !line.starts_with("elapsed: "))
                .map(|line| format!("{line}\n"))
                .collect()
        };
        assert_eq!(
            timeless(&got.stdout),
            timeless(&expected.stdout),
            "{args:?}"
        );
        assert_eq!(got.stderr, expected.stderr, "{args:?}");
        differing_codes.insert(got.code);
    }
    // The steps cover success, usage errors and rejected input.
    assert_eq!(
        differing_codes.into_iter().collect::<Vec<_>>(),
        vec![0, 2, 3]
    );
    // The printable notices were written where the client asked, relative to its directory.
    let notices = std::fs::read_to_string(served_cwd.join("notices.html")).unwrap();
    assert_eq!(
        notices,
        std::fs::read_to_string(alone_cwd.join("notices.html")).unwrap()
    );
    assert!(notices.starts_with("<!DOCTYPE html>"), "{notices}");

    // The API sees what the CLI wrote through it.
    let token = run_in(
        &served_cwd,
        &served,
        &["tokens", "create", "--role", "admin", "--name", "clerk"],
        "",
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token = token.stdout.trim().to_string();
    let (status, body) = server
        .get("/api/v1/offices/Z1/defaulters?format=csv", Some(&token))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let listed = run_in(
        &alone_cwd,
        &alone,
        &["defaulters", "--office", "Z1", "--format", "csv"],
        "",
    );
    for account in ["A1", "A3"] {
        assert!(listed.stdout.contains(account), "{}", listed.stdout);
        assert!(body.contains(account), "{body}");
    }
    let list = run_in(&served_cwd, &served, &["tokens", "list"], "");
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("clerk"), "{}", list.stdout);
    // A revoked token is refused by the very next request.
    let revoked = run_in(&served_cwd, &served, &["tokens", "revoke", "clerk"], "");
    assert_eq!(
        (revoked.code, revoked.stdout.as_str()),
        (0, "revoked clerk\n")
    );
    let (status, _) = server
        .get("/api/v1/offices/Z1/defaulters", Some(&token))
        .unwrap();
    assert_eq!(status, 401);

    // What cannot be handed over names the server's process.
    let holder = format!("process {} (vasooli serve)", server.child.id());
    for args in [vec!["verify"], vec!["rebuild"]] {
        let run = run_in(&served_cwd, &served, &args, "");
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(&holder), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }

    server.stop();
    assert!(!served.join("serve.sock").exists());
    let verified = run_in(&served_cwd, &served, &["verify"], "");
    assert_eq!(verified.code, 0, "{}", verified.stderr);
    assert_eq!(events(&served_cwd, &served), events(&alone_cwd, &alone));
}

#[test]
fn a_stale_socket_of_a_killed_server_is_not_in_the_way() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    inputs(tmp.path());
    let server = Server::start(&data);
    drop(server); // SIGKILL: the socket file stays behind.
    assert!(data.join("serve.sock").exists());
    let run = run_in(tmp.path(), &data, &["import", "offices", "offices.csv"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("appended"), "{}", run.stdout);
    // The next server replaces it and takes commands again.
    let server = Server::start(&data);
    let run = run_in(tmp.path(), &data, &["import", "offices", "offices.csv"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("duplicates"), "{}", run.stdout);
    server.stop();
}

/// A service manager stops the server with SIGTERM (systemd's `stop`, `docker stop`): it
/// stops as on Ctrl-C, exiting 0 with its socket removed and a checkpoint of everything it
/// wrote saved, so the next open replays nothing.
#[test]
fn sigterm_stops_the_server_as_ctrl_c_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    inputs(tmp.path());
    let server = Server::start(&data);
    let run = run_in(tmp.path(), &data, &["import", "offices", "offices.csv"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    server.stop_with("-TERM");
    assert!(!data.join("serve.sock").exists());
    let engine = vasooli_engine::Engine::open(&data, vasooli_domain::Policy::default()).unwrap();
    assert!(engine.store().last_position() > 0);
    assert_eq!(engine.checkpoint_lag(), 0, "the stop saved a checkpoint");
}
