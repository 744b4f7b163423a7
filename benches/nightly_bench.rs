//! The nightly run and rebuild at utility scale.
//!
//! Generates a utility (`NIGHTLY_BENCH_CONSUMERS`, default 275,000; 12 months), loads it,
//! and prints in one run: events generated, full rebuild throughput beside a raw replay of
//! the same log (read and decode every event, nothing applied), the first nightly run (which
//! assesses a year of anniversaries), one more day's nightly run and thirty more by the
//! agenda, then a day over every consumer (the baseline), and peak memory.

use std::time::Instant;
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::codec::decode_event;
use vasooli_domain::Policy;
use vasooli_engine::{Engine, Input};

// The allocator of the `vasooli` binary, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let consumers: usize = std::env::var("NIGHTLY_BENCH_CONSUMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(275_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = GeneratorConfig {
        consumers,
        months: 12,
        ..GeneratorConfig::default()
    };
    let generator = Generator::new(config);
    let mut engine = Engine::open(dir.path(), Policy::default()).expect("open");
    engine.defer_checkpoints(true);

    let started = Instant::now();
    generator
        .for_each_batch(250_000, &mut |commands| {
            let inputs: Vec<Input> = commands
                .into_iter()
                .map(|c| Input {
                    location: "bench".into(),
                    command: Ok(c),
                })
                .collect();
            engine
                .execute_with_progress(inputs, &mut |_, _| {})
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("load");
    let generated = engine.store().last_position();
    let load_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let first = engine.nightly(generator.end_date()).expect("nightly");
    let first_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let next_day = generator.end_date().succ_opt().expect("date");
    let one_day = engine.nightly(next_day).expect("nightly");
    let day_seconds = started.elapsed().as_secs_f64();
    // A month of days by the agenda, then a day over every consumer, for the baseline of the
    // same work done by visiting everyone.
    let mut month = Vec::new();
    let mut date = next_day;
    for _ in 0..30 {
        date = date.succ_opt().expect("date");
        let started = Instant::now();
        let day = engine.nightly(date).expect("nightly");
        month.push((
            date,
            started.elapsed().as_secs_f64(),
            day.visited,
            day.appended,
        ));
    }
    engine.set_nightly_agenda(false);
    date = date.succ_opt().expect("date");
    let started = Instant::now();
    let everyone = engine.nightly(date).expect("nightly");
    let everyone_seconds = started.elapsed().as_secs_f64();
    engine.set_nightly_agenda(true);
    let total_events = engine.store().last_position();

    // Raw replay before and after the rebuild; the faster of the two is the baseline, so
    // whatever the machine was doing around one of them does not flatter the rebuild.
    let raw_replay = |engine: &Engine| {
        let started = Instant::now();
        let mut raw = 0u64;
        for recorded in engine.store().read_all(1) {
            let recorded = recorded.expect("read");
            decode_event(&recorded.payload).expect("decode");
            raw += 1;
        }
        (raw, started.elapsed().as_secs_f64())
    };
    let (raw, raw_before) = raw_replay(&engine);

    let started = Instant::now();
    let rebuilt = engine.rebuild().expect("rebuild");
    let rebuild_seconds = started.elapsed().as_secs_f64();
    let (_, raw_after) = raw_replay(&engine);
    let raw_seconds = raw_before.min(raw_after);

    println!("consumers                         {consumers}");
    println!("events generated                  {generated} (loaded in {load_seconds:.1} s, {:.0} events/s)", generated as f64 / load_seconds);
    println!(
        "first nightly run                 {first_seconds:.2} s, {} events appended",
        first.appended
    );
    println!(
        "one more day's nightly run        {day_seconds:.2} s, {} events appended, {} of {consumers} consumers decided (by agenda)",
        one_day.appended, one_day.visited
    );
    let total: f64 = month.iter().map(|(_, s, _, _)| s).sum();
    let (busiest, most, busiest_visited, busiest_appended) = month
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a month of runs");
    let visited: usize = month.iter().map(|(_, _, v, _)| v).sum();
    println!(
        "30 more days by agenda            {total:.2} s in all ({:.3} s a day), {:.0} consumers decided a day; the longest {busiest}: {most:.2} s, {busiest_visited} decided, {busiest_appended} events appended",
        total / 30.0,
        visited as f64 / 30.0
    );
    println!(
        "  {date} over everyone         {everyone_seconds:.2} s, {} events appended, {} consumers decided (baseline)",
        everyone.appended, everyone.visited
    );
    println!("events in the log                 {total_events}");
    println!(
        "raw replay (read + decode)        {raw} events in {raw_seconds:.2} s = {:.0} events/s (before the rebuild {raw_before:.2} s, after {raw_after:.2} s)",
        raw as f64 / raw_seconds
    );
    println!("full rebuild (replay + apply)     {rebuilt} events in {rebuild_seconds:.2} s = {:.0} events/s", rebuilt as f64 / rebuild_seconds);
    println!(
        "rebuild / raw replay speed        {:.2}",
        (rebuilt as f64 / rebuild_seconds) / (raw as f64 / raw_seconds)
    );
    println!(
        "peak memory                       {:.0} MiB",
        peak_memory_mib()
    );
}
