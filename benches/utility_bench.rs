//! A whole utility run the way it is operated, through the release binary: a year of CSV
//! files imported, cold queries, then the server with officers reading lists while finance
//! hands it the nightly runs. Every figure is printed as soon as it is measured, with its
//! target, so that a run stopped part-way still reports what it reached.
//!
//! Generates `UTILITY_BENCH_CONSUMERS` consumers (default 2,750,000, UPCL's size) with twelve
//! months of bills and payments from April 2025 (seed 42) as the five CSV files, and measures:
//!
//! 1. the five imports (`vasooli import`, which streams each file): time, rows/s and each
//!    one's peak memory, then the data directory's bytes per event;
//! 2. cold commands on the loaded directory: the statement of one account, the subdivision
//!    rankings and the awards of FY2025-26; then the first nightly run (2026-03-31, a year of
//!    anniversaries) by `vasooli nightly` on its own, and the defaulters of one subdivision;
//! 3. `vasooli serve`: the time until it listens; then a reader fetching one subdivision's
//!    defaulter list over HTTP in a loop (one request at a time, bounded), while
//!    `vasooli nightly` hands the server every day of April in turn: each run's time and
//!    events, and the reads' latencies (p50, p99, max) while the server is idle and during
//!    the runs;
//! 4. after the server stops: the data directory's bytes per event again, the server's peak
//!    memory, and the cold commands once more.
//!
//! The work directory (CSV files and data) is deleted at the end unless
//! `UTILITY_BENCH_KEEP=1`; at full size it takes about 40 GB, so check `df` first.
//! `UTILITY_BENCH_WORK=DIR` goes on from a work directory an earlier run kept, after its first
//! nightly run (the cold commands, the server and the days), and keeps it. Run with
//! `cargo bench -p vasooli-cli --bench utility_bench`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/csvs.rs"]
mod csvs;
#[path = "common/measured.rs"]
mod measured;
use csvs::{vasooli, Csvs};
use measured::{peak_kib, run_measured};

const DEFAULT_CONSUMERS: usize = 2_750_000;
const FIRST_RUN: &str = "2026-03-31";
const YEAR: &str = "FY2025-26";
/// At most this many list requests in all: the reader's loop is bounded.
const MAX_READS: usize = 5_000_000;

fn run(data: &Path, args: &[&str]) -> (String, Duration, f64) {
    run_measured(data, args, &[])
}

/// The total size of the files under `dir`, in bytes.
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.file_type() {
                    Ok(t) if t.is_dir() => size_of(&entry.path()),
                    _ => entry.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The number after `label` in a command's output (`appended 12,` or `events appended: 12`).
fn number_after(output: &str, label: &str) -> u64 {
    let at = output
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {output}"));
    output[at + label.len()..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a count")
}

/// The first `count` distinct values in `column` of a CSV file.
fn first_values(file: &Path, column: usize, count: usize) -> Vec<String> {
    let mut reader = csv::Reader::from_path(file).expect("read a CSV");
    let mut values: Vec<String> = Vec::new();
    for record in reader.records() {
        let value = record.expect("a row")[column].to_string();
        if !values.contains(&value) {
            values.push(value);
        }
        if values.len() == count {
            break;
        }
    }
    values
}

/// Latencies of the reads made in one phase.
#[derive(Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn summary(&self) -> String {
        let mut sorted = self.0.clone();
        sorted.sort();
        if sorted.is_empty() {
            return "no reads".into();
        }
        let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} reads, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            sorted.len(),
            ms(at(0.50)),
            ms(at(0.99)),
            ms(*sorted.last().expect("one read"))
        )
    }
}

/// Phases the reader files its latencies under.
const IDLE: u8 = 0;
const DAYS: u8 = 1;

fn say(text: String) {
    println!("{text}");
}

/// Writes the year's CSV files and imports them into `data`; returns the events appended.
fn load(csv_dir: &Path, data: &Path, consumers: usize) -> u64 {
    let started = Instant::now();
    let (rows, _) = Csvs::generate(csv_dir, consumers);
    let total_rows: u64 = rows.values().sum();
    say(format!(
        "CSV files written: {total_rows} rows {rows:?} in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    let (mut import, mut events, mut import_peak) = (Duration::ZERO, 0u64, 0f64);
    for kind in ["offices", "consumers", "mobiles", "bills", "payments"] {
        let file = csv_dir.join(format!("{kind}.csv"));
        let (out, took, peak) = run(data, &["import", kind, &file.to_string_lossy()]);
        events += number_after(&out, "appended");
        import += took;
        import_peak = import_peak.max(peak);
        say(format!(
            "import {kind:<9} {:>8.1} s, peak {peak:>6.0} MiB",
            took.as_secs_f64()
        ));
    }
    let rate = total_rows as f64 / import.as_secs_f64();
    say(format!(
        "import of the year: {total_rows} rows in {:.0} s = {rate:.0} rows/s, peak {import_peak:.0} MiB \
         (targets: the year's load <= 120 s, >= 1,000,000 rows/s, peak <= 4096 MiB)",
        import.as_secs_f64()
    ));
    let bytes = size_of(data);
    say(format!(
        "data directory after the import: {:.2} GB for {events} events = {:.0} bytes an event \
         (target <= 100)",
        bytes as f64 / 1e9,
        bytes as f64 / events as f64
    ));

    events
}

fn main() {
    let consumers: usize = std::env::var("UTILITY_BENCH_CONSUMERS")
        .ok()
        .map(|v| v.replace('_', "").parse().expect("a whole number"))
        .unwrap_or(DEFAULT_CONSUMERS);
    let resumed = std::env::var_os("UTILITY_BENCH_WORK").map(std::path::PathBuf::from);
    let keep = resumed.is_some() || std::env::var_os("UTILITY_BENCH_KEEP").is_some();
    let work = resumed.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vasooli-utility-{}", std::process::id()))
    });
    let (csv_dir, data) = (work.join("csv"), work.join("data"));
    std::fs::create_dir_all(&csv_dir).expect("a work directory");
    say(format!(
        "utility_bench: {consumers} consumers, 12 months from 2025-04, seed 42, in {}",
        work.display()
    ));

    // 1. The year's files, imported (or the kept directory's events counted).
    let mut events = match &resumed {
        None => load(&csv_dir, &data, consumers),
        Some(_) => {
            let log = vasooli_store::LogReader::open(&data).expect("the kept data directory");
            say(format!(
                "going on from the kept directory: {} events",
                log.last_position()
            ));
            log.last_position()
        }
    };

    // 2. Cold commands on the loaded directory, and the first nightly run on its own.
    let consumers_csv = csv_dir.join("consumers.csv");
    let account = first_values(&consumers_csv, 0, 1).remove(0);
    let subdivision = first_values(&consumers_csv, 3, 1).remove(0);
    let statement = ["statement", "--account", account.as_str()];
    let defaulters = [
        "--format",
        "csv",
        "defaulters",
        "--office",
        subdivision.as_str(),
    ];
    let rankings = ["rankings", "--level", "subdivision", "--period", YEAR];
    let awards = ["awards", "--period", YEAR];
    let cold = |label: &str, commands: &[(&str, &[&str])]| {
        for (what, args) in commands {
            let (_, took, peak) = run(&data, args);
            say(format!(
                "cold, {label}: {what}: {:.2} s, peak {peak:.0} MiB",
                took.as_secs_f64()
            ));
        }
    };
    let everyday: [(&str, &[&str]); 2] = [
        ("statement of one account (target <= 2 s)", &statement),
        ("defaulters of one subdivision (target <= 2 s)", &defaulters),
    ];
    let headquarters: [(&str, &[&str]); 2] = [
        ("subdivision rankings of the year", &rankings),
        ("awards of the year", &awards),
    ];
    if resumed.is_none() {
        cold("after the import", &everyday[..1]);
        cold("after the import", &headquarters);
        let (out, took, peak) = run(&data, &["nightly", "--as-of", FIRST_RUN]);
        let appended = number_after(&out, "events appended:");
        events += appended;
        say(format!(
            "first nightly run {FIRST_RUN} (vasooli nightly on its own): {:.1} s, {appended} \
             events appended, peak {peak:.0} MiB (target <= 60 s)",
            took.as_secs_f64()
        ));
    }
    cold("after the first run", &everyday);

    // 3. The server, read while it runs the nights.
    let (token, _) = vasooli(
        &data,
        &[
            "tokens",
            "create",
            "--role",
            "officer",
            "--office",
            subdivision.as_str(),
            "--name",
            "bench-reader",
        ],
    );
    let token = token.trim().to_string();
    let started = Instant::now();
    let mut server = Process::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(server.stdout.take().expect("its output")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server prints where it listens")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.trim().to_string();
        }
    };
    say(format!(
        "serve: listening after {:.1} s, peak {:.0} MiB",
        started.elapsed().as_secs_f64(),
        peak_kib(server.id()).unwrap_or(0) as f64 / 1024.0
    ));

    let phase = Arc::new(AtomicU8::new(IDLE));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies: Arc<Mutex<[Latencies; 2]>> = Arc::default();
    let reader = {
        let (phase, stop, latencies) = (phase.clone(), stop.clone(), latencies.clone());
        let url = format!("http://{addr}/api/v1/offices/{subdivision}/defaulters");
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            for _ in 0..MAX_READS {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let started = Instant::now();
                let response = http.get(&url).bearer_auth(&token).send().expect("a reply");
                let status = response.status();
                let body = response.bytes().expect("a body");
                let took = started.elapsed();
                assert!(status.is_success(), "{status}: {body:?}");
                let at = usize::from(phase.load(Ordering::Relaxed));
                latencies.lock().expect("the latencies")[at].0.push(took);
            }
        })
    };
    std::thread::sleep(Duration::from_secs(10));

    let nightly = |date: &str| {
        let (out, took, _) = run(&data, &["nightly", "--as-of", date]);
        (number_after(&out, "events appended:"), took.as_secs_f64())
    };
    phase.store(DAYS, Ordering::Relaxed);
    let mut days = Vec::new();
    let mut date = chrono::NaiveDate::parse_from_str(FIRST_RUN, "%Y-%m-%d").expect("a date");
    for _ in 0..30 {
        date = date.succ_opt().expect("a date");
        let (appended, seconds) = nightly(&date.to_string());
        events += appended;
        if days.is_empty() {
            say(format!(
                "one more day {date} (handed to the server): {seconds:.2} s, {appended} events \
                 appended (target <= 1 s)"
            ));
        }
        days.push((date, seconds, appended));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader");
    let total: f64 = days.iter().map(|(_, s, _)| s).sum();
    let busiest = days
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a day");
    let mut sorted: Vec<f64> = days.iter().map(|(_, s, _)| *s).collect();
    sorted.sort_by(f64::total_cmp);
    say(format!(
        "the days of April: {total:.1} s in all, median {:.2} s, busiest {} {:.2} s ({} events)",
        sorted[sorted.len() / 2],
        busiest.0,
        busiest.1,
        busiest.2
    ));
    let latencies = latencies.lock().expect("the latencies");
    say(format!(
        "list reads, server idle:           {}",
        latencies[usize::from(IDLE)].summary()
    ));
    say(format!(
        "list reads, during the days' runs: {} (target p99 <= 20 ms)",
        latencies[usize::from(DAYS)].summary()
    ));

    // 4. After the server stops.
    let server_peak = peak_kib(server.id()).unwrap_or(0) as f64 / 1024.0;
    Process::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("signal the server");
    let stopped = server.wait().expect("the server stops");
    say(format!(
        "serve: peak {server_peak:.0} MiB (target <= 4096 MiB); stopped: {stopped}"
    ));
    let bytes = size_of(&data);
    say(format!(
        "data directory after the nights: {:.2} GB for {events} events = {:.0} bytes an event \
         (target <= 100)",
        bytes as f64 / 1e9,
        bytes as f64 / events as f64
    ));
    cold("after the nights", &everyday);
    cold("after the nights", &headquarters);

    if keep {
        say(format!("kept {}", work.display()));
    } else {
        std::fs::remove_dir_all(&work).expect("remove the work directory");
    }
}
