//! How much memory the projected world takes per consumer, part by part.
//!
//! Generates `N` consumers (default 20,000) with twelve months of history, loads them through
//! the engine, and prints the bytes of each part of the world (each kind of journal record)
//! after the load, after the first nightly run and after a rebuild, beside the process's
//! resident memory.
//! Run with `N=20000 cargo run --release -p vasooli-projections --example world_size`.
//!
//! Sizes are counted from the structures' lengths and capacities (allocator rounding and
//! headers aside): a text longer than 24 bytes counts its heap bytes rounded up to 16.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::time::Instant;

use chrono::NaiveDate;
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::state::{StoredConsumer, Text, World};
use vasooli_domain::Policy;
use vasooli_engine::{Engine, Input};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Heap bytes of a text (none when it is held inline).
fn text_heap(text: &str) -> usize {
    if text.len() <= size_of::<Text>() {
        0
    } else {
        text.len().next_multiple_of(16)
    }
}

#[derive(Default)]
struct Tally(BTreeMap<&'static str, (usize, usize)>);

impl Tally {
    fn add(&mut self, part: &'static str, items: usize, bytes: usize) {
        let entry = self.0.entry(part).or_default();
        entry.0 += items;
        entry.1 += bytes;
    }

    fn consumer(&mut self, c: &StoredConsumer) {
        self.add("consumer record", 1, size_of::<StoredConsumer>());
        self.add(
            "consumer texts",
            2,
            text_heap(&c.account_no) + text_heap(&c.subdivision),
        );
        c.journal_record_sizes(|kind, bytes| self.add(kind, 1, bytes))
            .expect("a journal written by this process reads back");
        // What the allocator rounds the journal's block up to is not counted.
    }

    fn print(world: &World, when: &str) {
        let mut tally = Tally::default();
        for c in &world.consumers {
            tally.consumer(c);
        }
        let index = &world.account_index;
        tally.add("account index", index.len(), index.table_bytes());
        let consumers = world.consumers.len().max(1) as f64;
        println!("{when}:");
        let mut total = 0;
        for (part, (items, bytes)) in &tally.0 {
            total += bytes;
            println!(
                "  {part:<42} {items:>9} items {:>8.1} MiB {:>6.0} B/consumer",
                *bytes as f64 / 1048576.0,
                *bytes as f64 / consumers
            );
        }
        println!(
            "  {:<42} {:>15} {:>8.1} MiB {:>6.0} B/consumer   (process: rss {:.0} MiB, peak {:.0} MiB)",
            "world",
            "",
            total as f64 / 1048576.0,
            total as f64 / consumers,
            status_mib("VmRSS:"),
            status_mib("VmHWM:")
        );
    }
}

fn main() {
    let consumers: usize = std::env::var("N")
        .ok()
        .map(|v| v.replace('_', "").parse().expect("N: a whole number"))
        .unwrap_or(20_000);
    let generator = Generator::new(GeneratorConfig {
        consumers,
        months: 12,
        seed: 42,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date"),
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut engine = Engine::open_deferring_checkpoints(dir.path(), Policy::default())
        .expect("a new data directory");
    let started = Instant::now();
    generator
        .for_each_month(200_000, &mut |batch| {
            let inputs = Input::all_at("generated", batch.commands);
            engine
                .execute_with_progress(inputs, &mut |_, _| {})
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("the generated utility loads");
    let loaded = format!(
        "{consumers} consumers, {} events loaded in {:.1} s",
        engine.store().last_position(),
        started.elapsed().as_secs_f64()
    );
    Tally::print(engine.world(), &loaded);
    engine.nightly(generator.end_date()).expect("nightly");
    Tally::print(engine.world(), "after the first nightly run");
    // What reading every history back costs (the day's nightly run does it once).
    let started = Instant::now();
    let records: usize = engine
        .world()
        .consumers
        .iter()
        .map(|c| {
            let c = c.consumer();
            c.bills.len() + c.payments.len() + c.surcharges.len() + c.sms.len()
        })
        .sum();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "read back every consumer ({records} bills, payments, surcharges and messages): {:.2} µs a consumer",
        seconds * 1e6 / engine.world().consumers.len().max(1) as f64
    );
    engine.rebuild().expect("rebuild");
    Tally::print(engine.world(), "after a rebuild");
}
