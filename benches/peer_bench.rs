//! vasooli beside its peer, DuckDB running SQL over the same billing CSVs (what a finance
//! analyst would do instead), figure for figure and timed in the same run.
//!
//! Generates `PEER_BENCH_CONSUMERS` consumers (default 100,000) with twelve months of bills
//! and payments, April 2025 to March 2026, and writes them as the CSV files `vasooli import`
//! reads (offices, consumers, bills, payments, mobiles). With the surcharge off (a policy with
//! `lps.monthly_rate_percent = "0"`) it then times, with the release binary:
//!
//! - ours: the five imports, the nightly run as of 2026-03-31, the defaulter list of each
//!   zone and the subdivision rankings of FY2025-26 and of its fourth quarter;
//! - the peer: `benches/peer/peer.py` (DuckDB from PyPI) loading the same CSVs and running
//!   `benches/peer/peer.sql`, the same lists written as SQL;
//!
//! and checks that both give the same defaulters (account, overdue arrears, oldest due date,
//! days overdue, aging bucket) and the same rankings (rank, billed, collected, opening and
//! closing arrears, and every percentage and score to 2 decimals).
//! Run with `pip install duckdb` and
//! `cargo bench -p vasooli-cli --bench peer_bench`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

#[path = "common/csvs.rs"]
mod csvs;
use csvs::{vasooli, Csvs};

const DEFAULT_CONSUMERS: usize = 100_000;
const AS_OF: &str = "2026-03-31";
/// The periods ranked, with their first and last days.
const PERIODS: [(&str, &str, &str); 2] = [
    ("FY2025-26", "2025-04-01", "2026-03-31"),
    ("FY2025-26-Q4", "2026-01-01", "2026-03-31"),
];

type Rows = Vec<BTreeMap<String, String>>;

fn read_csv(text: &str) -> Rows {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("a row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A figure of the peer's output written as ours is: 2 decimals, half away from zero.
fn two_places(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let value: f64 = text.parse().expect("a number");
    // The peer computes in binary floating point; a value within 1e-9 of a half rounds away
    // from zero as the decimal arithmetic of vasooli does.
    let scaled = value * 100.0;
    let nudged = scaled + scaled.signum() * 1e-7;
    format!("{:.2}", nudged.round() / 100.0)
}

/// Compares the named columns of two lists row by row; returns the mismatches, printing
/// the first few.
fn compare(what: &str, ours: &Rows, peer: &Rows, columns: &[(&str, &str, bool)]) -> usize {
    let mut mismatches = 0;
    if ours.len() != peer.len() {
        println!(
            "  {what}: {} rows here, {} in the peer",
            ours.len(),
            peer.len()
        );
        mismatches += 1;
    }
    for (i, (a, b)) in ours.iter().zip(peer).enumerate() {
        for (ours_key, peer_key, rounded) in columns {
            let mine = a.get(*ours_key).cloned().unwrap_or_default();
            let theirs = b.get(*peer_key).cloned().unwrap_or_default();
            let theirs = if *rounded {
                two_places(&theirs)
            } else {
                theirs
            };
            if mine != theirs {
                mismatches += 1;
                if mismatches <= 5 {
                    println!(
                        "  {what} row {}: {ours_key} {mine:?} here, {theirs:?} in the peer",
                        i + 1
                    );
                }
            }
        }
    }
    mismatches
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    let consumers: usize = std::env::var("PEER_BENCH_CONSUMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CONSUMERS);
    let work = std::env::temp_dir().join(format!("vasooli-peer-{}", std::process::id()));
    let (csv_dir, data, peer_out) = (work.join("csv"), work.join("data"), work.join("peer"));
    for dir in [&csv_dir, &data, &peer_out] {
        std::fs::create_dir_all(dir).expect("make a work directory");
    }
    std::fs::write(
        data.join("policy.toml"),
        "[lps]\nmonthly_rate_percent = \"0\"\n",
    )
    .expect("write the policy");

    let started = Instant::now();
    let (rows, zones) = Csvs::generate(&csv_dir, consumers);
    let total_rows: u64 = rows.values().sum();
    println!(
        "{consumers} consumers, 12 months: {total_rows} CSV rows {rows:?}, written in {:.1} s",
        secs(started.elapsed())
    );

    // Ours, the way an operator runs it.
    let mut import = Duration::ZERO;
    for kind in ["offices", "consumers", "mobiles", "bills", "payments"] {
        let file = csv_dir.join(format!("{kind}.csv"));
        let (_, took) = vasooli(&data, &["import", kind, &file.to_string_lossy()]);
        println!("  import {kind:<9} {:>8.2} s", secs(took));
        import += took;
    }
    let (_, nightly) = vasooli(&data, &["nightly", "--as-of", AS_OF]);
    let mut lists = Duration::ZERO;
    let mut defaulters = String::new();
    for zone in &zones {
        let (text, took) = vasooli(&data, &["--format", "csv", "defaulters", "--office", zone]);
        lists += took;
        let body = if defaulters.is_empty() {
            text.as_str()
        } else {
            text.split_once('\n').map_or("", |(_, rest)| rest)
        };
        defaulters.push_str(body);
    }
    let mut our_defaulters = read_csv(&defaulters);
    our_defaulters.sort_by(|a, b| {
        let amount =
            |r: &BTreeMap<String, String>| r["overdue_arrears"].parse::<f64>().expect("an amount");
        amount(b)
            .total_cmp(&amount(a))
            .then_with(|| a["account_no"].cmp(&b["account_no"]))
    });
    let mut rankings = Duration::ZERO;
    let mut our_rankings = Vec::new();
    for (period, _, _) in PERIODS {
        let args = [
            "--format",
            "csv",
            "rankings",
            "--period",
            period,
            "--level",
            "subdivision",
        ];
        let (text, took) = vasooli(&data, &args);
        rankings += took;
        our_rankings.push(read_csv(&text));
    }

    // The peer, on the same files: one load, the defaulter list, the rankings of each period.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/peer/peer.py");
    let output = Process::new("python3")
        .arg(&script)
        .args([&csv_dir, &peer_out])
        .arg(AS_OF)
        .args(PERIODS.map(|(_, start, end)| format!("{start}:{end}")))
        .output()
        .expect("run python3 (pip install duckdb)");
    assert!(
        output.status.success(),
        "the peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seconds: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the peer's JSON line");
    let peer: BTreeMap<&str, f64> = ["load", "defaulters", "rankings"]
        .into_iter()
        .map(|key| (key, seconds[key].as_f64().expect("seconds")))
        .collect();
    let read = |name: String| {
        read_csv(&std::fs::read_to_string(peer_out.join(name)).expect("the peer's output"))
    };
    let peer_defaulters = read("defaulters.csv".to_string());
    let peer_rankings: Vec<Rows> = (1..=PERIODS.len())
        .map(|i| read(format!("rankings-{i}.csv")))
        .collect();

    let mut mismatches = compare(
        "defaulters",
        &our_defaulters,
        &peer_defaulters,
        &[
            ("account_no", "account_no", false),
            ("overdue_arrears", "overdue_arrears", false),
            ("oldest_due_on", "oldest_due_on", false),
            ("days_overdue", "days_overdue", false),
            ("aging_bucket", "aging_bucket", false),
        ],
    );
    for ((period, _, _), (ours, theirs)) in
        PERIODS.iter().zip(our_rankings.iter().zip(&peer_rankings))
    {
        mismatches += compare(
            &format!("rankings {period}"),
            ours,
            theirs,
            &[
                ("rank", "rank", false),
                ("office_code", "office_code", false),
                ("billed", "billed", false),
                ("collected", "collected", false),
                ("opening_arrears", "opening_arrears", false),
                ("closing_arrears", "closing_arrears", false),
                (
                    "collection_efficiency_pct",
                    "collection_efficiency_pct",
                    true,
                ),
                ("arrears_reduction_pct", "arrears_reduction_pct", true),
                ("digital_share_pct", "digital_share_pct", true),
                ("mobile_coverage_pct", "mobile_coverage_pct", true),
                ("score", "score", true),
            ],
        );
    }

    let queries_ours = secs(nightly + lists + rankings);
    let queries_peer = peer["defaulters"] + peer["rankings"];
    let whole_ours = secs(import) + queries_ours;
    let whole_peer = peer["load"] + queries_peer;
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>8} {:>8}",
        "figure", "vasooli", "DuckDB", "ratio", "target"
    );
    let line = |what: &str, ours: f64, theirs: f64, target: &str| {
        println!(
            "{what:<44} {ours:>9.2}s {theirs:>9.2}s {:>7.2}x {target:>8}",
            ours / theirs
        );
    };
    line("load / import (5 files)", secs(import), peer["load"], "");
    line(
        "nightly + lists + rankings / queries",
        queries_ours,
        queries_peer,
        "<= 0.5x",
    );
    line("whole path", whole_ours, whole_peer, "<= 2x");
    let import_rate = total_rows as f64 / secs(import);
    let store_rate = store_append_rate(&work.join("raw-store"), total_rows as usize);
    println!(
        "import rate: {import_rate:.0} rows/s (target >= 1,000,000); the store's durable keyed \
         append in this run: {store_rate:.0} events/s; import / store = {:.2} (target >= 0.7)",
        import_rate / store_rate
    );
    println!(
        "defaulters {} rows, rankings {} + {} rows: {}",
        our_defaulters.len(),
        our_rankings[0].len(),
        our_rankings[1].len(),
        if mismatches == 0 {
            "every figure identical".to_string()
        } else {
            format!("{mismatches} figures differ")
        }
    );
    if std::env::var_os("PEER_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("kept {}", work.display());
    }
    assert_eq!(mismatches, 0, "vasooli and the peer disagree");
}

/// The store's own rate, in this run, for as many events as the import's rows: durable
/// commits of 10,000 events of 53 bytes (an event's average encoded size) over 100,000
/// consumer streams, each with its natural key, its content hash the payload's as the
/// engine makes it, as an import's bills and payments are. The events are made before the
/// clock starts: only the appends are timed.
fn store_append_rate(dir: &Path, events: usize) -> f64 {
    use vasooli_store::{payload_hash, NaturalKey, NewCommit, NewEvent, Store};
    let store = Store::open(dir).expect("open a raw store");
    let event = |i: usize| {
        let mut payload = format!("payment {i:012} of consumer {:08}", i % 100_000).into_bytes();
        payload.resize(53, b'.');
        NewEvent {
            stream: format!("consumer-{:08}", i % 100_000),
            event_type: "payment_received".into(),
            recorded_at_ms: 0,
            key: Some(NaturalKey {
                namespace: "receipt".into(),
                key: format!("R{i:012}"),
                content_hash: payload_hash(&payload),
            }),
            payload,
        }
    };
    let commits: Vec<NewCommit> = (0..events)
        .step_by(10_000)
        .map(|from| NewCommit::new((from..events.min(from + 10_000)).map(event).collect()))
        .collect();
    let started = Instant::now();
    for commit in commits {
        store.append(commit).expect("a durable append");
    }
    let rate = events as f64 / secs(started.elapsed());
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    rate
}
