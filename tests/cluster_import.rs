//! Routed imports in cluster mode, with the real binary and three real JetStream servers on
//! loopback: two partition owners (north: division D-N, south: division D-S), every file
//! imported with `vasooli cluster import`, and the same files imported into an ordinary
//! data directory. A file with bad rows is refused with the very lines the ordinary import
//! prints, and writes nothing; the bills are imported while the stream's leader is
//! SIGKILLed, and imported again; the owners' events together are the ordinary directory's,
//! each once, and headquarters' rankings and awards over both partitions, from files and
//! from the figures the owners publish in the cluster after their nightly runs, equal its
//! own.
//!
//! Skipped (with a message) without a server binary unless `CI` is set, when it fails.

mod common;

use common::divisions;
use common::owner::Owner;
use common::{events, ok, vasooli};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use vasooli_cluster::{ClusterConfig, ClusterLog};

const CONSUMERS: usize = 6000;
const AS_OF: &str = "2026-05-31";

/// Every partition's last sequence, by name, as `vasooli cluster status --json` reports it.
fn last_sequences(cwd: &Path, servers: &str) -> Vec<(String, u64)> {
    let out = ok(cwd, &["cluster", "status", "--servers", servers, "--json"]);
    let status: Value = serde_json::from_str(&out).expect("status is JSON");
    status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["partition"].as_str().unwrap().to_string(),
                p["last_sequence"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_routed_import_splits_files_by_division_and_survives_the_stream_leaders_death() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(mut cluster) = runtime.block_on(vasooli_cluster::testing::TestCluster::start()) else {
        return;
    };
    let servers = cluster.urls().join(",");
    let tmp = tempfile::tempdir().unwrap();
    let (north_dir, south_dir, whole) = (
        tmp.path().join("north"),
        tmp.path().join("south"),
        tmp.path().join("whole"),
    );
    let cwd = tmp.path().join("cwd");
    let (north, south) = divisions::two_owners(&cwd, &servers, &north_dir, &south_dir);

    let file = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let routed = |kind: &str, path: &str| {
        vasooli(
            &cwd,
            &["cluster", "import", "--servers", &servers, kind, path],
        )
    };
    let local = |kind: &str, path: &str| vasooli(&whole, &["import", kind, path]);

    // Offices go to both partitions; the summary is the file's, as one directory's import.
    let offices = file("offices.csv", divisions::offices());
    let got = routed("offices", &offices);
    assert_eq!(got.code, 0, "{}", got.stderr);
    let want = local("offices", &offices);
    assert_eq!(got.stdout, want.stdout);
    assert_eq!(
        got.stdout.trim(),
        "read 7, appended 7, duplicates skipped 0"
    );
    assert!(
        got.stderr.contains("partition north: read 7, appended 7")
            && got.stderr.contains("partition south: read 7, appended 7"),
        "{}",
        got.stderr
    );

    // A file with bad rows: refused with the same lines as one directory's import, and
    // nothing written anywhere.
    let before = last_sequences(&cwd, &servers);
    let bad = file(
        "bad-consumers.csv",
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n\
         UK9900000001,Good,domestic,SD-N1,2,2025-01-01,,hi,\n\
         UK9900000002,Bad load,domestic,SD-S1,-2,2025-01-01,,hi,\n\
         UK9900000003,Nowhere,domestic,SD-X,2,2025-01-01,,hi,\n\
         UK9900000004,Short row,domestic\n\
         UK9900000005,Good,domestic,SD-S1,2,2025-01-01,,hi,\n",
    );
    let got = routed("consumers", &bad);
    let want = local("consumers", &bad);
    assert_eq!(want.code, 3, "{}", want.stderr);
    assert_eq!(got.code, 3, "{}", got.stderr);
    assert_eq!(
        got.stderr, want.stderr,
        "the same problems, in the same words"
    );
    assert!(got.stderr.contains("bad-consumers.csv:4"), "{}", got.stderr);
    assert_eq!(
        last_sequences(&cwd, &servers),
        before,
        "nothing was written"
    );

    let [(_, consumers), (_, bills), (_, payments)] = divisions::utility("UK66", CONSUMERS);
    let consumers = file("consumers.csv", &consumers);
    let got = routed("consumers", &consumers);
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(got.stdout, local("consumers", &consumers).stdout);
    assert!(
        got.stderr
            .contains(&format!("partition north: read {}", CONSUMERS / 3 * 2))
            && got
                .stderr
                .contains(&format!("partition south: read {}", CONSUMERS / 3)),
        "{}",
        got.stderr
    );

    // A south consumer handed to north's owner (its directory's socket) is refused: each
    // partition records its own divisions only.
    let before = last_sequences(&cwd, &servers);
    let stray = file(
        "stray.csv",
        "account_no,name,category,subdivision,load_kw,connected_on\n\
         UK9900000009,Stray,domestic,SD-S1,2,2025-01-01\n",
    );
    let refused = vasooli(&north_dir, &["import", "consumers", &stray]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("stray.csv:2: subdivision: division D-S is in partition south, not north"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        last_sequences(&cwd, &servers),
        before,
        "nothing was written"
    );

    // The bills, while the stream's leader is SIGKILLed: the import asks through the other
    // two servers; the owners' appends wait out the election.
    let leader = runtime.block_on(async {
        let log = ClusterLog::connect(ClusterConfig::new(cluster.urls()))
            .await
            .unwrap();
        log.leader().await.unwrap()
    });
    let leader = cluster
        .index_of(&leader)
        .expect("the leader is a test server");
    let others: Vec<String> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| cluster.url(i))
        .collect();
    let bills = file("bills.csv", &bills);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(&cwd)
        .args([
            "cluster",
            "import",
            "--servers",
            &others.join(","),
            "bills",
            &bills,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    let mut killed_at = std::time::Instant::now();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        said.push(line.clone());
        let writing = line.contains(": writing ");
        line.clear();
        if writing {
            cluster.kill(leader);
            killed_at = std::time::Instant::now();
            break;
        }
    }
    assert!(cluster.nodes().len() == 3 && !cluster.is_running(leader));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}{rest}", said.concat());
    let rows = CONSUMERS * 3;
    assert_eq!(
        stdout.trim(),
        format!("read {rows}, appended {rows}, duplicates skipped 0"),
        "{}{rest}",
        said.concat()
    );
    eprintln!(
        "bills imported {:?} after the leader was killed: {}{rest}",
        killed_at.elapsed(),
        said.concat()
    );
    runtime.block_on(cluster.restart(leader));
    assert_eq!(local("bills", &bills).code, 0);

    // The same file again: every row is skipped by the owners' natural-key index.
    let again = routed("bills", &bills);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout.trim(),
        format!("read {rows}, appended 0, duplicates skipped {rows}")
    );

    let payments = file("payments.csv", &payments);
    let got = routed("payments", &payments);
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(got.stdout, local("payments", &payments).stdout);

    // JSON commands, routed the same way: a file with a line that is not JSON and a command
    // for an account no partition holds is refused in the words of one directory's append.
    let camp = r#"{"type":"schedule_camp","camp_id":"CAMP-S1","subdivision":"SD-S1","on":"2026-05-10","venue":"Panchayat bhawan"}"#;
    let grievance = r#"{"type":"register_grievance","grievance_id":"G-N2-1","subdivision":"SD-N2","category":"billing","registered_on":"2026-05-11","account_no":"UK6600000001"}"#;
    let stranger = r#"{"type":"post_adjustment","adjustment_no":"ADJ-X","account_no":"UK6699999999","posted_on":"2026-05-12","amount":"-50.00","reason":"meter"}"#;
    let bad = file(
        "bad-commands.jsonl",
        &format!("{camp}\n{{not json\n{grievance}\n{stranger}\n"),
    );
    let routed_append =
        |path: &str| vasooli(&cwd, &["cluster", "append", "--servers", &servers, path]);
    let got = routed_append(&bad);
    let want = vasooli(&whole, &["append", &bad]);
    assert_eq!(want.code, 3, "{}", want.stderr);
    assert_eq!(got.code, 3, "{}", got.stderr);
    assert_eq!(
        got.stderr, want.stderr,
        "the same problems, in the same words"
    );
    let good = file("commands.jsonl", &format!("{camp}\n{grievance}\n"));
    let got = routed_append(&good);
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(got.stdout, ok(&whole, &["append", &good]));
    assert!(
        got.stderr.contains("partition north: read 1, appended 1")
            && got.stderr.contains("partition south: read 1, appended 1"),
        "{}",
        got.stderr
    );
    // A revision and a reversal name only a bill and a receipt: they follow them to south.
    let follow = file(
        "follow.jsonl",
        concat!(
            r#"{"type":"revise_bill","bill_no":"B202603UK6600000002","revised_on":"2026-05-15","new_amount":"100.00","reason":"meter"}"#,
            "\n",
            r#"{"type":"reverse_payment","receipt_no":"RUK6600000002","reversed_on":"2026-05-16","reason":"cheque bounced"}"#,
            "\n"
        ),
    );
    let got = routed_append(&follow);
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(got.stdout, ok(&whole, &["append", &follow]));
    assert!(
        got.stderr.contains("partition south: read 2, appended 2")
            && !got.stderr.contains("partition north"),
        "{}",
        got.stderr
    );
    let mixed = file(
        "mixed.jsonl",
        &format!(
            "{}\n{camp}\n",
            r#"{"type":"register_office","code":"SD-N3","name":"N3","level":"subdivision","parent":"D-N"}"#
        ),
    );
    let refused = routed_append(&mixed);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("a file of their own"),
        "{}",
        refused.stderr
    );

    // The nightly run and the figures through each owner (handed to it over its socket),
    // and headquarters' rankings over both: those of one directory.
    ok(&whole, &["nightly", "--as-of", AS_OF]);
    let mut files = Vec::new();
    for (dir, name) in [(&north_dir, "north"), (&south_dir, "south")] {
        ok(dir, &["nightly", "--as-of", AS_OF]);
        let out = tmp.path().join(format!("{name}.json"));
        ok(
            dir,
            &[
                "figures",
                "--period",
                "2026-05",
                "--partition",
                name,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        files.push(out.to_str().unwrap().to_string());
    }
    for level in ["subdivision", "division"] {
        let one = ok(
            &whole,
            &[
                "--format", "csv", "rankings", "--period", "2026-05", "--level", level,
            ],
        );
        let mut args = vec![
            "--format", "csv", "hq", "rankings", "--period", "2026-05", "--level", level,
        ];
        args.extend(files.iter().map(String::as_str));
        assert_eq!(ok(&whole, &args), one, "{level}");
        assert!(one.lines().count() > 2, "{one}");
    }

    // The owners published the figures of their runs in the cluster: headquarters reads
    // them from there, with the same result, once both have published.
    let hq = |args: &[&str]| {
        let mut all = vec!["--format", "csv", "hq"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--servers", &servers]);
        vasooli(&cwd, &all)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let published = loop {
        let run = hq(&["rankings", "--period", "2026-05", "--level", "subdivision"]);
        if run.code == 0 || std::time::Instant::now() > deadline {
            break run;
        }
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(
            run.stderr.contains("has published no figures"),
            "{}",
            run.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(published.code, 0, "{}", published.stderr);
    for (period, level) in [
        ("2026-05", "subdivision"),
        ("FY2026-27-Q1", "division"),
        ("FY2026-27", "circle"),
    ] {
        let one = ok(
            &whole,
            &[
                "--format", "csv", "rankings", "--period", period, "--level", level,
            ],
        );
        let run = hq(&["rankings", "--period", period, "--level", level]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, one, "{period} {level}");
        assert!(
            run.stderr
                .contains("computed from 2 partitions: north at position")
                && run.stderr.contains("south at position"),
            "{}",
            run.stderr
        );
    }
    let awards = hq(&["awards", "--period", "2026-05"]);
    assert_eq!(awards.code, 0, "{}", awards.stderr);
    assert!(awards.stdout.lines().count() > 1, "{}", awards.stdout);
    assert_eq!(
        awards.stdout,
        ok(
            &whole,
            &["--format", "csv", "awards", "--period", "2026-05"]
        )
    );
    // A period no run fell in: refused, naming each partition.
    let unpublished = hq(&["rankings", "--period", "2026-01", "--level", "division"]);
    assert_eq!(unpublished.code, 3, "{}", unpublished.stderr);
    for name in ["north", "south"] {
        assert!(
            unpublished.stderr.contains(&format!(
                "partition {name} has published no figures for 2026-01"
            )),
            "{}",
            unpublished.stderr
        );
    }

    // North uploaded a snapshot after its nightly run: a standby started on an empty
    // directory loads it and replays only the log after it, ending with north's events.
    let snapshots = runtime.block_on(async {
        let log = ClusterLog::connect(ClusterConfig::new(cluster.urls()))
            .await
            .unwrap();
        vasooli_cluster::Snapshots::open(&log).await.unwrap()
    });
    let north_last = last_sequences(&cwd, &servers)
        .into_iter()
        .find(|(p, _)| p == "north")
        .unwrap()
        .1;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let snapshot = loop {
        let latest = runtime.block_on(snapshots.latest("north")).unwrap();
        match latest {
            Some(info) if info.covered == north_last => break info,
            _ if std::time::Instant::now() > deadline => panic!("no snapshot: {latest:?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let fresh_dir = tmp.path().join("north-fresh");
    let mut fresh = Owner::start(&fresh_dir, &servers, "north");
    let loaded = fresh.wait_line(
        "loaded the snapshot of partition north at sequence ",
        Duration::from_secs(60),
    );
    assert_eq!(
        loaded,
        format!(
            "loaded the snapshot of partition north at sequence {} ({} events)",
            snapshot.covered, snapshot.position
        )
    );
    fresh.wait_line(
        "standby for partition north, owner ",
        Duration::from_secs(30),
    );
    // A write after the snapshot reaches the new standby through the log.
    let late = file(
        "late-payments.csv",
        "receipt_no,account_no,amount,paid_on,channel\n\
         RLATE1,UK6600000000,150.00,2026-05-30,upi\n",
    );
    assert_eq!(vasooli(&north_dir, &["import", "payments", &late]).code, 0);
    assert_eq!(local("payments", &late).code, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = ok(
            &cwd,
            &["cluster", "status", "--servers", &servers, "--json"],
        );
        let status: Value = serde_json::from_str(&out).unwrap();
        let caught_up = status["replicas"].as_array().unwrap().iter().any(|r| {
            r["partition"] == "north"
                && r["role"] == "standby"
                && r["covered"].as_u64() > Some(snapshot.covered)
                && r["behind"] == 0
        });
        if caught_up {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // North's metrics count the requests it answered through the cluster.
    let (status, metrics) = common::http_get(&north.addr, "/metrics", None).unwrap();
    assert_eq!(status, 200);
    for line in [
        "vasooli_partition_requests_total{partition=\"north\",ask=\"check\",answer=\"problems\"} 2",
        "vasooli_partition_requests_total{partition=\"north\",ask=\"write\",answer=\"written\"}",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // The owners stopped, their events together are the ordinary directory's: offices in
    // both, everything else in one, nothing twice.
    assert_eq!(fresh.interrupt(), Some(0));
    assert_eq!(north.interrupt(), Some(0));
    assert_eq!(south.interrupt(), Some(0));
    let north_events = events(&north_dir, &tmp.path().join("north.jsonl"));
    assert!(
        events(&fresh_dir, &tmp.path().join("fresh.jsonl")) == north_events,
        "the standby started from the snapshot holds other events than north"
    );
    let south_events = events(&south_dir, &tmp.path().join("south.jsonl"));
    let want = events(&whole, &tmp.path().join("whole.jsonl"));
    for (name, got) in [("north", &north_events), ("south", &south_events)] {
        let once: BTreeSet<&String> = got.iter().collect();
        assert_eq!(once.len(), got.len(), "{name} holds an event twice");
    }
    let together: BTreeSet<&String> = north_events.iter().chain(&south_events).collect();
    let want_set: BTreeSet<&String> = want.iter().collect();
    assert!(
        together == want_set,
        "the partitions' events differ from one directory's"
    );
    // In both: the offices, and the mark of the nightly run each partition ran.
    let north_set: BTreeSet<&String> = north_events.iter().collect();
    let in_both: Vec<&String> = south_events
        .iter()
        .filter(|e| north_set.contains(e))
        .collect();
    assert_eq!(in_both.len(), 8, "{in_both:?}");
    assert_eq!(
        in_both
            .iter()
            .filter(|e| e.contains("\"office_registered\""))
            .count(),
        7,
        "{in_both:?}"
    );
    assert!(
        in_both
            .iter()
            .any(|e| e.contains("\"nightly_run_completed\"")),
        "{in_both:?}"
    );
    let registered_in = |events: &[String], sub: &str| {
        events
            .iter()
            .filter(|e| e.contains("\"consumer_registered\"") && e.contains(sub))
            .count()
    };
    assert_eq!(
        registered_in(&south_events, "SD-N"),
        0,
        "north consumers in south"
    );
    assert_eq!(
        registered_in(&north_events, "SD-S"),
        0,
        "south consumers in north"
    );
    assert_eq!(registered_in(&north_events, "SD-N"), CONSUMERS / 3 * 2);
    drop(cluster);
}
