//! Failover between processes in cluster mode, with the real binary and three real
//! JetStream servers on loopback: owner A imports a utility through its HTTP API and starts
//! a nightly run, A is SIGKILLed, standby B takes the partition over (catches up, fences A)
//! and finishes the run A left unfinished, which the cluster marks. A started again on its old directory comes up as a standby
//! and writes nothing. While standing by, B (`--standby-reads`) answers reads as A does and
//! refuses writes; once it owns the partition the same server takes writes. Then B stalls (SIGSTOP) past its lease: A takes over and fences it,
//! and B, woken up, writes nothing, answers no write with success and exits 1. Both
//! directories then hold the events of one uninterrupted run in an ordinary data directory
//! fed the same inputs, each once.
//!
//! Skipped (with a message) without a server binary unless `CI` is set, when it fails.

mod common;

use common::owner::Owner;
use common::{events, http, ok, vasooli};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITION: &str = "north";
const AS_OF: &str = "2026-06-30";
const CONSUMERS: usize = 1500;

/// The utility: one division of two subdivisions, consumers with three months of bills and
/// some payments.
fn inputs() -> Vec<(&'static str, String)> {
    let offices = "code,name,level,parent\n\
                   Z-T,Zone T,zone,\n\
                   C-T,Circle T,circle,Z-T\n\
                   D-T,Division T,division,C-T\n\
                   SD-T1,Subdivision T1,subdivision,D-T\n\
                   SD-T2,Subdivision T2,subdivision,D-T\n"
        .to_string();
    let mut consumers = String::from(
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n",
    );
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    let mut payments = String::from("receipt_no,account_no,amount,paid_on,channel\n");
    for i in 0..CONSUMERS {
        let account = format!("UK77{i:08}");
        let sub = if i % 2 == 0 { "SD-T1" } else { "SD-T2" };
        let category = ["domestic", "non_domestic", "government"][i % 3];
        consumers.push_str(&format!(
            "{account},Consumer {i},{category},{sub},{}.5,2025-01-01,,en,\n",
            1 + i % 7
        ));
        for (month, issued, due) in [
            ("2026-03", "2026-03-05", "2026-03-20"),
            ("2026-04", "2026-04-05", "2026-04-20"),
            ("2026-05", "2026-05-05", "2026-05-20"),
        ] {
            let amount = 400 + (i * 37) % 9000;
            bills.push_str(&format!(
                "B{}{account},{account},{month},{issued},{due},{amount}.00\n",
                month.replace('-', "")
            ));
        }
        if i % 4 == 0 {
            payments.push_str(&format!("R{account}1,{account},500.00,2026-03-10,upi\n"));
        }
    }
    vec![
        ("offices", offices),
        ("consumers", consumers),
        ("bills", bills),
        ("payments", payments),
    ]
}

fn admin_token(data: &Path) -> String {
    ok(
        data,
        &["tokens", "create", "--role", "admin", "--name", "admin"],
    )
    .trim()
    .to_string()
}

/// The partition's last sequence, as `vasooli cluster status --json` reports it.
fn last_sequence(servers: &str) -> u64 {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(
        tmp.path(),
        &["cluster", "status", "--servers", servers, "--json"],
    );
    let status: Value = serde_json::from_str(&out).expect("status is JSON");
    status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == PARTITION)
        .and_then(|p| p["last_sequence"].as_u64())
        .unwrap_or_else(|| panic!("no partition {PARTITION} in {out}"))
}

#[test]
fn a_killed_owner_is_replaced_by_its_standby_and_fenced() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(cluster) = runtime.block_on(vasooli_cluster::testing::TestCluster::start()) else {
        return;
    };
    let servers = cluster.urls().join(",");
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, whole) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("whole"),
    );
    // A's token, made before A first owns the partition, becomes the partition's; B's own,
    // made before B starts, is replaced by the partition's once B stands by.
    let a_token = admin_token(&a_dir);
    let b_token = admin_token(&b_dir);

    // The partition map: the division belongs to the partition.
    let tmp_cwd = tmp.path().join("cwd");
    let assigned = ok(
        &tmp_cwd,
        &["cluster", "assign", "--servers", &servers, "D-T", PARTITION],
    );
    assert_eq!(assigned.trim(), "division D-T assigned to partition north");
    let bad = vasooli(
        &tmp_cwd,
        &["cluster", "assign", "--servers", &servers, "D T", PARTITION],
    );
    assert_eq!(bad.code, 3, "{}", bad.stderr);

    let mut a = Owner::start(&a_dir, &servers, PARTITION);
    a.wait_line(
        &format!("owner of partition {PARTITION} at sequence "),
        Duration::from_secs(60),
    );
    a.wait_line("listening on http://", Duration::from_secs(30));
    // B serves reads while it stands by.
    let mut b = Owner::start_with(&b_dir, &servers, PARTITION, &["--standby-reads"]);
    let standby = b.wait_line(
        &format!("standby for partition {PARTITION}, owner "),
        Duration::from_secs(60),
    );
    assert!(!b.printed().iter().any(|l| l.starts_with("owner of")));

    // The inputs through A's API, and the same inputs into an ordinary data directory.
    for (kind, csv) in inputs() {
        let (status, body) = a.post(&format!("/api/v1/import/{kind}"), &a_token, &csv);
        assert_eq!(status, 200, "import {kind}: {body}");
        let file = tmp.path().join(format!("{kind}.csv"));
        std::fs::write(&file, &csv).unwrap();
        ok(&whole, &["import", kind, file.to_str().unwrap()]);
    }
    let imported = last_sequence(&servers);
    // The status names A's lease as the partition's owner, with the division, and every
    // server of the log.
    let a_holder = standby.rsplit(' ').next().unwrap();
    let table = ok(&tmp_cwd, &["cluster", "status", "--servers", &servers]);
    let row = table
        .lines()
        .find(|l| l.starts_with("north "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(a_holder) && row.contains("D-T"), "{table}");
    assert!(
        row.split_whitespace().any(|w| w == imported.to_string()),
        "{table}"
    );
    eprintln!("{table}");
    for node in cluster.nodes() {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(&format!("{} ", node.name))),
            "{table}"
        );
    }
    assert!(imported >= 5, "the imports reached the log: {imported}");

    // Each process reports how far it has read: A as owner, B as standby, B catching up to
    // the log's end within a few seconds. A's metrics say what its directory covers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let replicas = loop {
        let out = ok(
            &tmp_cwd,
            &["cluster", "status", "--servers", &servers, "--json"],
        );
        let status: Value = serde_json::from_str(&out).unwrap();
        let replicas = status["replicas"].as_array().cloned().unwrap_or_default();
        let current = replicas.len() == 2 && replicas.iter().all(|r| r["behind"] == 0);
        if current || Instant::now() > deadline {
            break replicas;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let roles: Vec<(&str, &str, u64)> = replicas
        .iter()
        .map(|r| {
            (
                r["holder"].as_str().unwrap(),
                r["role"].as_str().unwrap(),
                r["behind"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(roles.len(), 2, "{replicas:?}");
    assert!(roles.contains(&(a_holder, "owner", 0)), "{replicas:?}");
    assert!(
        roles
            .iter()
            .any(|(h, role, behind)| *h != a_holder && *role == "standby" && *behind == 0),
        "{replicas:?}"
    );
    let (status, metrics) = common::http_get(&a.addr, "/metrics", None).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!(
            "vasooli_partition_covered_sequence{{partition=\"north\"}} {imported}"
        )),
        "{metrics}"
    );
    // Each process's replica metrics, standby as well as owner, without a token.
    a.wait_line("metrics on http://", Duration::from_secs(5));
    b.wait_line("metrics on http://", Duration::from_secs(5));
    let replica = |process: &Owner| {
        let (status, metrics) =
            common::http_get(&process.metrics_addr, "/metrics", None).expect("the metrics answer");
        assert_eq!(status, 200, "{metrics}");
        metrics
    };
    for (process, role) in [(&a, 1), (&b, 0)] {
        let metrics = replica(process);
        for line in [
            format!("vasooli_replica_owner{{partition=\"north\"}} {role}"),
            format!("vasooli_replica_covered_sequence{{partition=\"north\"}} {imported}"),
            format!("vasooli_replica_last_sequence{{partition=\"north\"}} {imported}"),
            "vasooli_replica_behind_entries{partition=\"north\"} 0".to_string(),
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
        }
    }

    // B, standing by, answers reads from its copy as A does, with the partition's token,
    // and refuses writes (503, naming the partition) without appending anything.
    b.wait_line("serving reads on http://", Duration::from_secs(30));
    for path in [
        "/api/v1/consumers/UK7700000007".to_string(),
        "/api/v1/offices/SD-T1/campaign".to_string(),
    ] {
        let on_a = common::http_get(&a.addr, &path, Some(&a_token)).unwrap();
        assert_eq!(on_a.0, 200, "{path} on A: {}", on_a.1);
        // The standby reads what its catch-up applied a moment after applying it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let on_b = loop {
            let on_b = common::http_get(&b.addr, &path, Some(&a_token)).unwrap();
            if on_b == on_a || Instant::now() > deadline {
                break on_b;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(on_b, on_a, "{path} on the standby");
    }
    let refused = http(
        &b.addr,
        "POST",
        "/api/v1/import/payments",
        Some(&a_token),
        Some("receipt_no,account_no,amount,paid_on,channel\nRSTANDBY1,UK7700000007,100.00,2026-06-01,upi\n"),
    )
    .unwrap();
    assert_eq!(refused.0, 503, "a write on the standby: {}", refused.1);
    assert!(refused.1.contains("north"), "{}", refused.1);
    assert_eq!(
        last_sequence(&servers),
        imported,
        "the standby appended nothing"
    );

    // Tokens made and revoked through A while it owns the partition (handed to it over its
    // socket) reach the cluster's copy, and B's table within a few seconds.
    let later = ok(
        &a_dir,
        &["tokens", "create", "--role", "finance", "--name", "later"],
    )
    .trim()
    .to_string();
    let gone = ok(
        &a_dir,
        &["tokens", "create", "--role", "finance", "--name", "gone"],
    )
    .trim()
    .to_string();
    ok(&a_dir, &["tokens", "revoke", "gone"]);
    std::thread::sleep(Duration::from_secs(3));

    // A starts the nightly run and is SIGKILLed while it runs (or right after it ends).
    let nightly_body = format!(r#"{{"as_of":"{AS_OF}"}}"#);
    let a_addr = a.addr.clone();
    let (token, body) = (a_token.clone(), nightly_body.clone());
    let request = std::thread::spawn(move || {
        http(
            &a_addr,
            "POST",
            "/api/v1/nightly",
            Some(&token),
            Some(&body),
        )
    });
    std::thread::sleep(Duration::from_millis(150));
    a.child.kill().unwrap();
    let killed_at = Instant::now();
    a.child.wait().unwrap();
    let answered = request.join().unwrap();
    eprintln!(
        "the nightly run on A {}",
        match &answered {
            Some((status, _)) => format!("answered {status} before A was killed"),
            None => "was cut off by the kill".to_string(),
        }
    );

    // A run A started and did not finish is marked in the cluster. When the kill came after
    // the run ended (or before it started), the mark is put back, as if A had died right
    // after starting it: either way B must finish the run, once.
    let map = runtime.block_on(async {
        let log = vasooli_cluster::ClusterLog::connect(vasooli_cluster::ClusterConfig::new(
            cluster.urls(),
        ))
        .await
        .unwrap();
        vasooli_cluster::PartitionMap::open(&log).await.unwrap()
    });
    let marked = runtime.block_on(map.unfinished_nightly(PARTITION)).unwrap();
    if let (Some((200, _)), Some(date)) = (&answered, &marked) {
        panic!("A answered its run yet left {date} marked");
    }
    if marked.is_none() {
        runtime
            .block_on(map.mark_nightly(PARTITION, Some(AS_OF)))
            .unwrap();
    }
    eprintln!("the nightly mark after the kill: {marked:?}");

    // B takes over: it owns the partition, at a sequence past everything A appended.
    let owned = b.wait_line(
        &format!("owner of partition {PARTITION} at sequence "),
        Duration::from_secs(60),
    );
    let took_over = killed_at.elapsed();
    b.wait_line("listening on http://", Duration::from_secs(30));
    eprintln!("failover: B owned the partition {took_over:?} after A was killed ({standby})");
    let fenced_at: u64 = owned.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(fenced_at > imported, "{owned} after {imported} entries");
    let metrics = replica(&b);
    assert!(
        metrics
            .lines()
            .any(|l| l == "vasooli_replica_owner{partition=\"north\"} 1"),
        "B owns: {metrics}"
    );
    // The partition's tokens work on B; B's own and the revoked one do not.
    let me = |token: &str| {
        common::http_get(&b.addr, "/api/v1/me", Some(token))
            .unwrap()
            .0
    };
    assert_eq!(me(&a_token), 200, "A's token on B");
    assert_eq!(me(&later), 200, "a token made through A, on B");
    assert_eq!(me(&gone), 401, "a token revoked through A, on B");
    assert_eq!(
        me(&b_token),
        401,
        "B's own token, replaced by the partition's"
    );

    // B finished the run before taking writes, and the mark is gone.
    let finished = b.wait_line(
        &format!("finished the nightly run of {AS_OF} left unfinished: "),
        Duration::from_secs(30),
    );
    let printed = b.printed();
    let order: Vec<&String> = printed
        .iter()
        .filter(|l| l.starts_with("finished the nightly run") || l.starts_with("listening on"))
        .collect();
    assert!(
        order.len() == 2 && order[0].starts_with("finished"),
        "{order:?}"
    );
    eprintln!("{finished}");
    assert_eq!(
        runtime.block_on(map.unfinished_nightly(PARTITION)).unwrap(),
        None
    );
    ok(&whole, &["nightly", "--as-of", AS_OF]);
    // The server that served reads while B stood by now takes writes.
    let taken = "receipt_no,account_no,amount,paid_on,channel\n\
                 RTAKEN1,UK7700000003,250.00,2026-07-01,upi\n";
    let (status, body) = http(
        &b.addr,
        "POST",
        "/api/v1/import/payments",
        Some(&a_token),
        Some(taken),
    )
    .unwrap();
    assert_eq!(
        status, 200,
        "a write on B once it owns the partition: {body}"
    );
    let file = tmp.path().join("taken.csv");
    std::fs::write(&file, taken).unwrap();
    ok(&whole, &["import", "payments", file.to_str().unwrap()]);
    let after_nightly = last_sequence(&servers);
    assert!(after_nightly >= fenced_at);

    // A again, on its old directory: B holds the lease, so A is a standby and writes nothing.
    let mut again = Owner::start(&a_dir, &servers, PARTITION);
    again.wait_line(
        &format!("standby for partition {PARTITION}, owner "),
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !again.printed().iter().any(|l| l.starts_with("owner of")),
        "{:?}",
        again.printed()
    );
    assert_eq!(last_sequence(&servers), after_nightly, "the standby wrote");

    // B stalls (SIGSTOP) past its lease: A takes the partition over and fences B. Woken up,
    // B finds its lease lost or its append refused; it writes nothing, answers no write
    // with success, and exits 1 saying why.
    b.signal("-STOP");
    let stalled_at = Instant::now();
    let owned = again.wait_line(
        &format!("owner of partition {PARTITION} at sequence "),
        Duration::from_secs(60),
    );
    eprintln!(
        "failover: A took over {:?} after B stalled",
        stalled_at.elapsed()
    );
    again.wait_line("listening on http://", Duration::from_secs(30));
    let fenced_b: u64 = owned.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(fenced_b, after_nightly + 1, "{owned}");
    b.signal("-CONT");
    let late_payment = "receipt_no,account_no,amount,paid_on,channel\n\
                        RLATE,UK7700000001,100.00,2026-06-01,upi\n";
    let late = http(
        &b.addr,
        "POST",
        "/api/v1/import/payments",
        Some(&a_token),
        Some(late_payment),
    );
    if let Some((status, body)) = &late {
        assert_eq!(*status, 503, "B's late write: {body}");
        assert!(body.contains("partition north"), "{body}");
    }
    let (code, stderr) = b.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no longer owns partition north"),
        "{stderr}"
    );
    eprintln!(
        "B's late write: {:?}; B said: {}",
        late.map(|(s, _)| s),
        stderr.trim()
    );
    assert_eq!(
        last_sequence(&servers),
        fenced_b,
        "B wrote after it was fenced"
    );
    assert_eq!(again.interrupt(), Some(0), "A stops cleanly");
    // Stopped on purpose, A gave its lease up: the partition has no owner now.
    let status = ok(
        &tmp_cwd,
        &["cluster", "status", "--servers", &servers, "--json"],
    );
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["partitions"][0]["owner"], Value::Null, "{status}");

    let got = events(&a_dir, &tmp.path().join("a.jsonl"));
    let want = events(&whole, &tmp.path().join("whole.jsonl"));
    assert_eq!(got.len(), want.len(), "event counts differ");
    assert!(
        got == want,
        "the owner's events differ from one uninterrupted run"
    );
    assert!(
        events(&b_dir, &tmp.path().join("b.jsonl")) == want,
        "B's events differ"
    );
    eprintln!("{} events; log entries: {fenced_b}", want.len());
    let defaulters = |data: &Path| {
        let run = vasooli(data, &["--format", "csv", "defaulters", "--office", "D-T"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
    };
    assert_eq!(defaulters(&a_dir), defaulters(&whole));
    assert_eq!(defaulters(&b_dir), defaulters(&whole));
    drop(cluster);
}

#[test]
fn an_owner_refuses_an_address_it_cannot_read_before_it_reaches_the_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    for flag in ["--addr", "--metrics-addr"] {
        let run = vasooli(
            &data,
            &[
                "cluster",
                "owner",
                "--servers",
                "nats://127.0.0.1:9",
                "--partition",
                PARTITION,
                flag,
                "nowhere",
            ],
        );
        assert_eq!(run.code, 2, "{flag}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{flag}: `nowhere`")),
            "{}",
            run.stderr
        );
        assert!(!data.exists(), "{flag}: nothing written");
    }
}

#[test]
fn an_owner_that_fails_after_fencing_gives_its_lease_up_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(cluster) = runtime.block_on(vasooli_cluster::testing::TestCluster::start()) else {
        return;
    };
    let servers = cluster.urls().join(",");
    let tmp = tempfile::tempdir().unwrap();
    // The address is taken: the owner fences, then cannot listen.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = tmp.path().join("a");
    let mut a = std::process::Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(&data)
        .args([
            "cluster",
            "owner",
            "--servers",
            &servers,
            "--partition",
            PARTITION,
            "--addr",
            &addr,
            "--lease-seconds",
            "60",
        ])
        .env("VASOOLI_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = a.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the owner did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = a.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("owner of partition {PARTITION} at sequence")),
        "{stdout}"
    );
    // A lease of 60 s, given up: the partition has no owner now, and another process takes
    // it at once.
    let out = ok(
        tmp.path(),
        &["cluster", "status", "--servers", &servers, "--json"],
    );
    let status: Value = serde_json::from_str(&out).unwrap();
    let owner = status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == PARTITION)
        .map(|p| p["owner"].clone());
    assert!(owner.is_none_or(|o| o.is_null()), "{out}");
    let mut b = Owner::start(&tmp.path().join("b"), &servers, PARTITION);
    b.wait_line(
        &format!("owner of partition {PARTITION} at sequence"),
        Duration::from_secs(10),
    );
    drop(taken);
    drop(cluster);
}
