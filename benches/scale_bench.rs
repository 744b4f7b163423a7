//! The whole engine on one generated utility at full size (plain `main`, prints as it goes).
//!
//! Generates `SCALE_BENCH_CONSUMERS` consumers (default 2,750,000, UPCL's size) with twelve
//! months of bills and payments from April 2025 (so FY2025-26 is the whole history), loads
//! them through the engine without nightly runs, and then measures, each beside its baseline
//! from the same run:
//!
//! 1. rankings at circle, division and subdivision level plus the awards for FY2025-26,
//!    beside reading and decoding every event of the log raw;
//! 2. the first nightly run (a year of anniversaries, the ladder, SMS), then one more day's;
//! 3. a full rebuild (replay + apply) beside a raw replay of the same log.
//!
//! Every figure is printed as soon as it is measured, with the peak memory so far, so that a
//! run stopped part-way still reports what it reached. Run with
//! `cargo bench -p vasooli-projections --bench scale_bench`.

use std::io::Write;
use std::time::Instant;

use chrono::NaiveDate;
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::codec::decode_event;
use vasooli_domain::period::Period;
use vasooli_domain::types::Level;
use vasooli_domain::Policy;
use vasooli_engine::{Engine, Input};
use vasooli_projections::reports;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_CONSUMERS: usize = 2_750_000;
const MONTHS: u32 = 12;
const LOAD_BATCH_COMMANDS: usize = 200_000;
const SEED: u64 = 42;

/// A figure of /proc/self/status in MiB: `VmHWM` (peak) or `VmRSS` (now).
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn say(text: String) {
    println!(
        "{text:<72} rss {:>7.0} MiB, peak {:>7.0} MiB",
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );
    let _ = std::io::stdout().flush();
}

/// Reads and decodes every event of the log; returns the count and the seconds taken.
fn raw_read(engine: &Engine) -> (u64, f64) {
    let started = Instant::now();
    let mut count = 0u64;
    for recorded in engine.store().read_all(1) {
        let recorded = recorded.expect("the log reads back");
        std::hint::black_box(decode_event(&recorded.payload).expect("every event decodes"));
        count += 1;
    }
    (count, started.elapsed().as_secs_f64())
}

fn main() {
    let consumers: usize = std::env::var("SCALE_BENCH_CONSUMERS")
        .ok()
        .map(|v| v.replace('_', "").parse().expect("a whole number"))
        .unwrap_or(DEFAULT_CONSUMERS);
    let config = GeneratorConfig {
        consumers,
        months: MONTHS,
        seed: SEED,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a valid date"),
    };
    if let Err(reason) = config.validate() {
        eprintln!("SCALE_BENCH_CONSUMERS: {reason}");
        std::process::exit(2);
    }
    let period: Period = "FY2025-26".parse().expect("a financial year");
    let generator = Generator::new(config);
    say(format!(
        "scale_bench: {consumers} consumers, {MONTHS} months from 2025-04, seed {SEED}"
    ));
    // `SCALE_BENCH_DATA=DIR`: the utility is already loaded in DIR (by an earlier run with the
    // same settings with `SCALE_BENCH_KEEP=DIR`); it is opened, which replays its log into the
    // world, and the run goes on from the nightly runs.
    if let Ok(data) = std::env::var("SCALE_BENCH_DATA") {
        // The log alone first: what opening the store costs (sled's page table, the stream
        // index), before the world is built.
        let started = Instant::now();
        let store = vasooli_store::Store::open(std::path::Path::new(&data))
            .expect("the data directory opens");
        say(format!(
            "opened the log alone: {} events, {:.0} s",
            store.last_position(),
            started.elapsed().as_secs_f64()
        ));
        let keys = store.key_index_stats();
        say(format!(
            "key index: {} runs, {} keys in runs, {} in memory, filters {:.0} MiB",
            keys.runs,
            keys.run_entries,
            keys.memtable_entries,
            keys.filter_bytes as f64 / 1048576.0
        ));
        drop(store);
        let started = Instant::now();
        let mut engine =
            Engine::open_deferring_checkpoints(std::path::Path::new(&data), Policy::default())
                .expect("the data directory opens");
        say(format!(
            "opened {data}: {} events replayed in {:.0} s",
            engine.world().position,
            started.elapsed().as_secs_f64()
        ));
        nightly_and_rebuild(&mut engine, &generator);
        return;
    }
    // `SCALE_BENCH_KEEP=DIR`: load into DIR, keep it, and stop after the load (for a later
    // run with `SCALE_BENCH_DATA=DIR`).
    let keep = std::env::var("SCALE_BENCH_KEEP").ok();
    let temporary = tempfile::tempdir().expect("a temporary directory");
    let dir = keep.as_ref().map_or(temporary.path(), std::path::Path::new);
    let mut engine =
        Engine::open_deferring_checkpoints(dir, Policy::default()).expect("a new data directory");

    let started = Instant::now();
    let mut batches = 0u64;
    generator
        .for_each_month(LOAD_BATCH_COMMANDS, &mut |batch| {
            if batch.commands.is_empty() {
                return Ok(());
            }
            let inputs = Input::all_at("generated", batch.commands);
            engine
                .execute_with_progress(inputs, &mut |_, _| {})
                .map_err(|e| e.to_string())?;
            batches += 1;
            if batches.is_multiple_of(25) {
                eprintln!(
                    "  loading: {} events, {:.0} s",
                    engine.store().last_position(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        })
        .expect("the engine accepts the generated utility");
    let load_seconds = started.elapsed().as_secs_f64();
    let generated = engine.store().last_position();
    say(format!(
        "events generated and loaded       {generated} in {load_seconds:.0} s ({:.0} events/s)",
        generated as f64 / load_seconds
    ));

    if let Some(keep) = keep {
        engine.store().flush().expect("the log flushes");
        say(format!("kept the loaded utility in {keep}"));
        return;
    }

    // 1. Rankings and awards for the year beside a raw read of the same log.
    let (raw_events, raw_seconds) = raw_read(&engine);
    say(format!(
        "raw read (read_all + decode)      {raw_events} events in {raw_seconds:.2} s"
    ));
    let started = Instant::now();
    let mut rows = 0;
    for level in [Level::Circle, Level::Division, Level::Subdivision] {
        rows += reports::rankings(engine.world(), engine.policy(), period, level).len();
    }
    rows += reports::awards(engine.world(), engine.policy(), period).len();
    let reports_seconds = started.elapsed().as_secs_f64();
    say(format!(
        "rankings x3 levels + awards {period} {reports_seconds:.2} s ({rows} rows) = {:.2} x raw read",
        reports_seconds / raw_seconds
    ));

    nightly_and_rebuild(&mut engine, &generator);
}

fn nightly_and_rebuild(engine: &mut Engine, generator: &Generator) {
    // 2. The first nightly run, then one more day.
    let started = Instant::now();
    let first = engine.nightly(generator.end_date()).expect("nightly");
    say(format!(
        "first nightly run {}            {:.1} s, {} events appended",
        generator.end_date(),
        started.elapsed().as_secs_f64(),
        first.appended
    ));
    let next_day = generator.end_date().succ_opt().expect("a date");
    let started = Instant::now();
    let day = engine.nightly(next_day).expect("nightly");
    say(format!(
        "one more day's nightly run {next_day}   {:.2} s, {} events appended",
        started.elapsed().as_secs_f64(),
        day.appended
    ));

    // 3. A full rebuild beside a raw replay of the same log.
    let (raw_events, raw_seconds) = raw_read(engine);
    say(format!(
        "raw replay (read_all + decode)    {raw_events} events in {raw_seconds:.2} s = {:.0} events/s",
        raw_events as f64 / raw_seconds
    ));
    let started = Instant::now();
    let rebuilt = engine.rebuild().expect("rebuild");
    let rebuild_seconds = started.elapsed().as_secs_f64();
    say(format!(
        "full rebuild (replay + apply)     {rebuilt} events in {rebuild_seconds:.2} s = {:.0} events/s",
        rebuilt as f64 / rebuild_seconds
    ));
    say(format!(
        "rebuild / raw replay speed        {:.2}",
        (rebuilt as f64 / rebuild_seconds) / (raw_events as f64 / raw_seconds)
    ));
}
