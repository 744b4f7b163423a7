//! Rankings and awards against a raw read of the log (plain `main`, prints a table).
//!
//! Headquarters asks for a year's rankings at any time, whether or not a nightly run has
//! run, so their cost is measured against the floor any answer from the log has to pay:
//! reading every event and decoding it. The utility is generated for the twelve months of
//! FY2025-26 and loaded without nightly runs; the rankings at circle, division and
//! subdivision level plus the awards for the year should take at most three times the raw
//! read.
//!
//! Run with `cargo bench -p vasooli-projections --bench rankings_bench`; set
//! `RANKINGS_BENCH_CONSUMERS` to change the number of consumers (default 275,000) and
//! `RANKINGS_BENCH_REPEATS` the number of timed repetitions of each measurement (default 3;
//! the fastest is reported, the others only show the spread).

use std::hint::black_box;
use std::time::Instant;

use chrono::NaiveDate;
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::codec::decode_event;
use vasooli_domain::period::Period;
use vasooli_domain::types::Level;
use vasooli_domain::Policy;
use vasooli_engine::{Engine, Input};
use vasooli_projections::reports;

const DEFAULT_CONSUMERS: usize = 275_000;
const DEFAULT_REPEATS: usize = 3;
/// Most timed repetitions, so a typo in the environment cannot run for hours.
const REPEATS_MAX: usize = 20;
const MONTHS: u32 = 12;
/// Commands per engine batch while loading: large enough that commits are few.
const LOAD_BATCH_COMMANDS: usize = 200_000;
const SEED: u64 = 42;
/// The target: rankings and awards within this multiple of the raw read.
const RATIO_TARGET: f64 = 3.0;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}: `{text}` is not a whole number")),
        Err(_) => default,
    }
}

/// Peak resident memory of this process in MiB, from `/proc/self/status` (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs `work` `repeats` times; returns every duration in seconds and the last result.
fn timed<T>(repeats: usize, mut work: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut seconds = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats {
        let started = Instant::now();
        let result = black_box(work());
        seconds.push(started.elapsed().as_secs_f64());
        last = Some(result);
    }
    (seconds, last.expect("at least one repetition"))
}

fn fastest(seconds: &[f64]) -> f64 {
    seconds.iter().copied().fold(f64::INFINITY, f64::min)
}

fn spread(seconds: &[f64]) -> String {
    seconds
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let consumers = env_usize("RANKINGS_BENCH_CONSUMERS", DEFAULT_CONSUMERS);
    let repeats = env_usize("RANKINGS_BENCH_REPEATS", DEFAULT_REPEATS).clamp(1, REPEATS_MAX);
    let config = GeneratorConfig {
        consumers,
        months: MONTHS,
        seed: SEED,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a valid date"),
    };
    if let Err(reason) = config.validate() {
        eprintln!("RANKINGS_BENCH_CONSUMERS: {reason}");
        std::process::exit(2);
    }
    let period: Period = "FY2025-26".parse().expect("a financial year");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut engine = Engine::open(dir.path(), Policy::default()).expect("a new data directory");
    // A bulk load: the log is durable after every commit; the world is checkpointed once.
    engine.defer_checkpoints(true);
    let generator = Generator::new(config);
    let load_started = Instant::now();
    generator
        .for_each_month(LOAD_BATCH_COMMANDS, &mut |batch| {
            if batch.commands.is_empty() {
                return Ok(());
            }
            let inputs = Input::all_at("generated", batch.commands);
            engine
                .execute_with_progress(inputs, &mut |_, _| {})
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("the engine accepts the generated utility");
    let load_seconds = load_started.elapsed().as_secs_f64();
    let events = engine.store().last_position();

    let (raw_seconds, raw_events) = timed(repeats, || {
        let mut count = 0u64;
        for recorded in engine.store().read_all(1) {
            let recorded = recorded.expect("the log reads back");
            let event = decode_event(&recorded.payload).expect("every event decodes");
            black_box(&event);
            count += 1;
        }
        count
    });
    assert_eq!(raw_events, events, "the raw read sees every event");

    let world = engine.world();
    let policy = engine.policy();
    let levels = [Level::Circle, Level::Division, Level::Subdivision];
    let mut per_level_seconds = Vec::new();
    for level in levels {
        let (seconds, rows) = timed(repeats, || {
            reports::rankings(world, policy, period, level).len()
        });
        assert!(rows > 0, "{level:?}: offices are ranked");
        per_level_seconds.push((level, seconds));
    }
    let (awards_seconds, award_rows) =
        timed(repeats, || reports::awards(world, policy, period).len());
    assert!(award_rows > 0, "awards are given");
    let (report_seconds, _) = timed(repeats, || {
        let mut rows = 0;
        for level in levels {
            rows += reports::rankings(world, policy, period, level).len();
        }
        rows + reports::awards(world, policy, period).len()
    });

    let raw = fastest(&raw_seconds);
    let reports_total = fastest(&report_seconds);
    let ratio = reports_total / raw;
    println!(
        "rankings_bench: {consumers} consumers, {MONTHS} months from 2025-04, seed {SEED}, \
         period {period}, {} threads available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "events in the log: {events}; load without nightly runs: {load_seconds:.1} s \
         ({:.0} events/s)",
        events as f64 / load_seconds
    );
    println!();
    println!(
        "{:<44} {:>10}   every repetition (s)",
        "measurement", "fastest s"
    );
    println!(
        "{:<44} {:>10.3}   {}",
        "raw read: read_all(1) + decode_event",
        raw,
        spread(&raw_seconds)
    );
    for (level, seconds) in &per_level_seconds {
        println!(
            "{:<44} {:>10.3}   {}",
            format!("rankings {period} {}", level.as_str()),
            fastest(seconds),
            spread(seconds)
        );
    }
    println!(
        "{:<44} {:>10.3}   {}",
        format!("awards {period} (and the year before)"),
        fastest(&awards_seconds),
        spread(&awards_seconds)
    );
    println!(
        "{:<44} {:>10.3}   {}",
        "rankings x3 + awards, together",
        reports_total,
        spread(&report_seconds)
    );
    println!();
    println!(
        "ratio (rankings x3 + awards) / raw read: {ratio:.2} (target <= {RATIO_TARGET:.1}): {}",
        if ratio <= RATIO_TARGET {
            "met"
        } else {
            "NOT met"
        }
    );
    if let Some(peak) = peak_rss_mib() {
        println!("peak resident memory: {peak:.0} MiB");
    }
}
