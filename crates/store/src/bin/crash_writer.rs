//! Crash-test helper: appends commits of varying size to a store until killed, printing
//! one `ack` line per durable commit. The `store_crash` test SIGKILLs it at random moments
//! and checks that every acknowledged commit survived and no partial commit is visible.
//!
//! Usage: `vasooli-store-crash-writer <dir> <run-id> <seed>`
//! Payload of each event: `run R thread T commit C event I of N`.
//! Ack line: `ack R T C FIRST LAST`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use vasooli_store::{NewCommit, NewEvent, Store};

/// Concurrent appenders, so kills also land in the middle of group commits.
const WRITER_THREADS: u64 = 2;
/// Size of the occasional big commit; larger than one chunk so it spans several values.
const BIG_COMMIT_EVENTS: u64 = 4200;

/// Tiny deterministic generator; the binary needs no randomness crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} <dir> <run-id> <seed>", args[0]);
        return ExitCode::from(2);
    }
    let dir = PathBuf::from(&args[1]);
    let (Ok(run), Ok(seed)) = (args[2].parse::<u64>(), args[3].parse::<u64>()) else {
        eprintln!("run-id and seed must be integers");
        return ExitCode::from(2);
    };
    let store = match Store::open(&dir) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("open failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let threads: Vec<_> = (0..WRITER_THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || append_until_stopped(&store, run, seed, thread))
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    ExitCode::FAILURE
}

/// One appender: commits of varying size, each acknowledged once durable, until an append
/// or the acknowledgement fails (or the process is killed).
fn append_until_stopped(store: &Store, run: u64, seed: u64, thread: u64) {
    let mut rng = XorShift(seed.wrapping_mul(31).wrapping_add(thread) | 1);
    for commit in 0u64.. {
        let n = match rng.next() % 40 {
            0 => BIG_COMMIT_EVENTS,
            1..=6 => 50 + rng.next() % 200,
            _ => 1 + rng.next() % 8,
        };
        match store.append(NewCommit::new(commit_events(run, thread, commit, n))) {
            Ok(r) => {
                let mut out = std::io::stdout().lock();
                let line = format!(
                    "ack {run} {thread} {commit} {} {}\n",
                    r.first_position, r.last_position
                );
                if out
                    .write_all(line.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                eprintln!("append failed: {e}");
                return;
            }
        }
    }
}

/// The `n` events of one commit; the first carries the commit's natural key.
fn commit_events(run: u64, thread: u64, commit: u64, n: u64) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            let e = NewEvent::new(
                format!("t{thread}-s{}", (commit + i) % 5),
                "CrashTest",
                format!("run {run} thread {thread} commit {commit} event {i} of {n}").into_bytes(),
                commit as i64,
            );
            if i == 0 {
                e.with_key("crash", format!("{run}-{thread}-{commit}"), n)
            } else {
                e
            }
        })
        .collect()
}
