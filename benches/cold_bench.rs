//! Cold CLI queries at two sizes of utility: one process per query, as an officer or a cron
//! job runs them, each reading one consumer's statement or one subdivision's defaulter list
//! from a data directory nothing else has open.
//!
//! For each size in `COLD_BENCH_SIZES` (default `40000,160000` consumers, twelve months of
//! bills and payments from April 2025) it writes the CSV files, imports them and runs the
//! nightly run as of 2026-03-31 with the release binary, then times `COLD_BENCH_RUNS` (default
//! 15) runs of each query and prints the medians, beside the same binary opening the
//! directory and answering nothing (`statement` of an account nobody has: the store's and the
//! checkpoint's open alone), and the subdivision rankings and the awards of FY2025-26 (read
//! from the figures the checkpoint saved). The target, for the statement and the defaulters:
//! the largest size within 1.5 × the smallest.
//! `COLD_BENCH_KEEP=1` keeps the data. Run with `cargo bench -p vasooli-cli --bench cold_bench`.

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "common/csvs.rs"]
mod csvs;
use csvs::{run_vasooli, vasooli, Csvs};

const AS_OF: &str = "2026-03-31";
/// The financial year ranked and awarded.
const YEAR: &str = "FY2025-26";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

/// `runs` timings of the binary on `data` with `args`, whatever its exit code.
fn timed(data: &Path, args: &[&str], runs: usize) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let (output, took) = run_vasooli(data, args);
            assert!(!output.stdout.is_empty() || !output.stderr.is_empty());
            took
        })
        .collect()
}

/// Column `column` of `picks` evenly spaced rows of a CSV file.
fn sample(file: &Path, column: usize, picks: usize) -> Vec<String> {
    let mut reader = csv::Reader::from_path(file).expect("read a CSV");
    let values: Vec<String> = reader
        .records()
        .map(|r| r.expect("a row")[column].to_string())
        .collect();
    let step = (values.len() / picks).max(1);
    let mut out: Vec<String> = values.into_iter().step_by(step).take(picks).collect();
    out.dedup();
    out
}

struct Figures {
    consumers: usize,
    statement_ms: f64,
    defaulters_ms: f64,
    rankings_ms: f64,
    awards_ms: f64,
    open_ms: f64,
}

fn main() {
    let sizes: Vec<usize> = env_or("COLD_BENCH_SIZES", "40000,160000")
        .split(',')
        .map(|s| s.trim().parse().expect("COLD_BENCH_SIZES: numbers"))
        .collect();
    let runs: usize = env_or("COLD_BENCH_RUNS", "15").parse().expect("a number");
    let work = std::env::temp_dir().join(format!("vasooli-cold-{}", std::process::id()));
    let mut figures = Vec::new();
    for &consumers in &sizes {
        let (csv_dir, data) = (
            work.join(format!("csv-{consumers}")),
            work.join(format!("data-{consumers}")),
        );
        std::fs::create_dir_all(&csv_dir).expect("a work directory");
        let started = Instant::now();
        Csvs::generate(&csv_dir, consumers);
        for kind in ["offices", "consumers", "mobiles", "bills", "payments"] {
            let file = csv_dir.join(format!("{kind}.csv"));
            vasooli(&data, &["import", kind, &file.to_string_lossy()]);
        }
        vasooli(&data, &["nightly", "--as-of", AS_OF]);
        println!(
            "{consumers} consumers generated, imported and run to {AS_OF} in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        let consumers_csv = csv_dir.join("consumers.csv");
        let accounts = sample(&consumers_csv, 0, 5);
        let mut subdivisions = sample(&consumers_csv, 3, 50);
        subdivisions.sort();
        subdivisions.dedup();
        subdivisions.truncate(3);

        let mut statement = Vec::new();
        for account in &accounts {
            statement.extend(timed(&data, &["statement", "--account", account], runs));
        }
        let mut defaulters = Vec::new();
        for office in &subdivisions {
            let args = ["--format", "csv", "defaulters", "--office", office];
            defaulters.extend(timed(&data, &args, runs));
        }
        let rankings = ["rankings", "--level", "subdivision", "--period", YEAR];
        let rankings = timed(&data, &rankings, runs);
        let awards = timed(
            &data,
            &["--format", "csv", "awards", "--period", YEAR],
            runs,
        );
        let open = timed(&data, &["statement", "--account", "NOBODY"], runs);
        let row = Figures {
            consumers,
            statement_ms: median(statement),
            defaulters_ms: median(defaulters),
            rankings_ms: median(rankings),
            awards_ms: median(awards),
            open_ms: median(open),
        };
        println!(
            "  statement of one account {:>7.1} ms, defaulters of one subdivision {:>7.1} ms, \
             rankings {:>7.1} ms, awards {:>7.1} ms, open alone {:>7.1} ms (medians of {} runs)",
            row.statement_ms,
            row.defaulters_ms,
            row.rankings_ms,
            row.awards_ms,
            row.open_ms,
            runs * accounts.len()
        );
        figures.push(row);
    }
    if let (Some(small), Some(large)) = (figures.first(), figures.last()) {
        println!();
        println!(
            "{:<34} {:>10} {:>10} {:>8} {:>8}",
            "cold query (median)",
            format!("{}", small.consumers),
            format!("{}", large.consumers),
            "ratio",
            "target"
        );
        for (what, a, b) in [
            (
                "statement of one account",
                small.statement_ms,
                large.statement_ms,
            ),
            (
                "defaulters of one subdivision",
                small.defaulters_ms,
                large.defaulters_ms,
            ),
            (
                "subdivision rankings of the year",
                small.rankings_ms,
                large.rankings_ms,
            ),
            ("awards of the year", small.awards_ms, large.awards_ms),
            ("open alone (baseline)", small.open_ms, large.open_ms),
        ] {
            let target = if what.starts_with("statement") || what.starts_with("defaulters") {
                "<= 1.5x"
            } else {
                ""
            };
            println!(
                "{what:<34} {a:>8.1}ms {b:>8.1}ms {:>7.2}x {target:>8}",
                b / a
            );
        }
    }
    if std::env::var_os("COLD_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        println!("kept {}", work.display());
    }
}
