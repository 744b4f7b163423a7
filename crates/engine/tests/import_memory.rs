//! A streamed import's memory is bounded by a window, not by the file: checking a file four
//! times as long takes the same heap at its peak, while a one-batch check of the same rows
//! grows with them (which shows the measure can see growth). The world is left as it was
//! (shared access), so what is measured is the import's own memory. Writing what was checked
//! reads one commit at a time back from the spool; the heap of that phase is not measured
//! here, because sled's own threads keep a share of what was written that varies from run to
//! run by more than the bound (`benches/import_bench.rs` measures the whole process instead).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use serde_json::json;
use vasooli_domain::{Command, Policy};
use vasooli_engine::{Clock, Engine, EngineError, ExecuteReport, Input};

/// The system allocator, counting the bytes in use and the most ever in use.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CONSUMERS: usize = 500;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date")
}

fn engine(dir: &std::path::Path) -> Engine {
    let mut engine = Engine::open(dir, Policy::default()).expect("opens");
    engine.set_clock(Clock::Fixed(today()));
    let mut commands = vec![
        json!({"type": "register_office", "code": "Z1", "name": "Zone", "level": "zone"}),
        json!({"type": "register_office", "code": "C1", "name": "Circle", "level": "circle", "parent": "Z1"}),
        json!({"type": "register_office", "code": "DV1", "name": "Division", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD1", "name": "Subdivision", "level": "subdivision", "parent": "DV1"}),
    ];
    for c in 0..CONSUMERS {
        commands.push(
            json!({"type": "register_consumer", "account_no": format!("UK{c:08}"),
            "name": "Consumer", "category": "domestic", "subdivision": "SD1",
            "load_kw": "2.5", "connected_on": "2020-04-01"}),
        );
    }
    let inputs = commands
        .iter()
        .map(|c| Input {
            location: "seed".into(),
            command: Command::from_json(c),
        })
        .collect();
    engine.execute(inputs).expect("the seed is accepted");
    engine
}

/// `rows` bills, made one at a time as they are read (as a file's rows are parsed).
fn bills(rows: usize) -> impl Iterator<Item = Input> {
    (0..rows).map(|i| {
        let command = json!({"type": "issue_bill", "bill_no": format!("B{i:09}"),
            "account_no": format!("UK{:08}", i % CONSUMERS), "period": "2026-02",
            "issued_on": "2026-02-05", "due_on": "2026-02-20", "amount": "1234.50"});
        Input {
            location: format!("bills.csv:{}", i + 2),
            command: Command::from_json(&command),
        }
    })
}

/// The most heap `import` took above what was in use when it started.
fn peak_of(import: impl FnOnce()) -> usize {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    import();
    PEAK.load(Ordering::Relaxed).saturating_sub(before)
}

/// A bill missing its fields, put last so that every row before it is checked and then
/// nothing is written.
fn refused_last() -> Input {
    Input {
        location: "bills.csv:end".into(),
        command: Command::from_json(&json!({"type": "issue_bill"})),
    }
}

const SHORT: usize = 40_000;
const LONG: usize = 160_000;
const MIB: usize = 1024 * 1024;

/// The check's peak heap for a file of each size, every row checked by `check` and the
/// last refused, so that nothing is written.
fn check_peaks(
    check: impl Fn(&Engine, Box<dyn Iterator<Item = Input>>) -> Result<ExecuteReport, EngineError>,
) -> Vec<usize> {
    [SHORT, LONG]
        .into_iter()
        .map(|rows| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let engine = engine(dir.path());
            peak_of(|| {
                let rows = Box::new(bills(rows).chain(std::iter::once(refused_last())));
                assert!(check(&engine, rows).is_err(), "the last row is refused");
            })
        })
        .collect()
}

/// The only test of this file, so that nothing else allocates while the heap is measured.
#[test]
fn checking_a_file_four_times_as_long_takes_the_same_memory() {
    // Every row checked, none written: the peak is the check's alone.
    let streamed = check_peaks(|engine, rows| engine.write_streamed(rows, &mut |_, _| {}));
    // The same rows checked as one batch in memory, which the measure sees grow.
    let held = check_peaks(|engine, rows| engine.write_checked(rows, &mut |_, _| {}));
    eprintln!(
        "peak heap of the check: streamed {} / {} KiB, one batch {} / {} KiB ({SHORT} / {LONG} rows)",
        streamed[0] / 1024,
        streamed[1] / 1024,
        held[0] / 1024,
        held[1] / 1024
    );
    assert!(
        held[1] > held[0] + 12 * MIB,
        "a one-batch check holds every row's event and key: {held:?}"
    );
    assert!(
        streamed[1] < streamed[0] + MIB,
        "a streamed check grew with the file: {streamed:?} bytes"
    );
}
