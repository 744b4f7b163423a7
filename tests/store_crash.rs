//! Crash safety of the store: a child process appends commits until it is SIGKILLed at a
//! random moment; after each kill the store must hold every acknowledged commit, no
//! partial commit, and pass `verify`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use vasooli_store::Store;

/// Number of kill-and-recover rounds, all on the same growing directory.
const ROUNDS: u64 = 22;
const SLEEP_MS_MIN: u64 = 20;
const SLEEP_MS_MAX: u64 = 300;

/// (run, thread, commit) identifies a commit written by the child.
type CommitId = (u64, u64, u64);

struct Ack {
    id: CommitId,
    first: u64,
    last: u64,
}

fn parse_acks(stdout: &str) -> Vec<Ack> {
    stdout
        .lines()
        .filter_map(|line| {
            let f: Vec<u64> = line
                .strip_prefix("ack ")?
                .split(' ')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            // A line cut short by the kill has fewer fields; ignore it.
            (f.len() == 5).then(|| Ack {
                id: (f[0], f[1], f[2]),
                first: f[3],
                last: f[4],
            })
        })
        .collect()
}

/// Parses `run R thread T commit C event I of N`.
fn parse_payload(payload: &[u8]) -> (CommitId, u64, u64) {
    let text = std::str::from_utf8(payload).expect("utf8 payload");
    let f: Vec<&str> = text.split(' ').collect();
    assert_eq!(f.len(), 10, "payload {text:?}");
    let n = |i: usize| f[i].parse::<u64>().expect("number");
    ((n(1), n(3), n(5)), n(7), n(9))
}

#[test]
fn sigkill_never_loses_acknowledged_or_exposes_partial_commits() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_cafe);
    let mut acked: Vec<Ack> = Vec::new();
    let mut kills = 0;
    let mut commits: HashMap<CommitId, (u64, u64, u64)> = HashMap::new(); // first, last, n
    let mut expect_next: BTreeMap<CommitId, u64> = BTreeMap::new();
    let mut position = 0;
    for run in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli-store-crash-writer"))
            .arg(dir.path())
            .arg(run.to_string())
            .arg(rng.gen::<u32>().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let mut stdout = child.stdout.take().expect("stdout");
        // Drain stdout concurrently so a full pipe never stalls the writer.
        let reader = std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = stdout.read_to_string(&mut buf);
            buf
        });
        std::thread::sleep(Duration::from_millis(
            rng.gen_range(SLEEP_MS_MIN..=SLEEP_MS_MAX),
        ));
        child.kill().expect("SIGKILL writer");
        child.wait().expect("reap writer");
        kills += 1;
        acked.extend(parse_acks(&reader.join().expect("reader")));

        let store = Store::open(dir.path()).expect("reopen after kill");
        let report = store.verify().expect("verify");
        assert!(report.is_ok(), "round {run}: {:?}", report.problems);

        // Group the log by commit and check each is whole. Earlier rounds already checked
        // everything up to their last position, so only the new tail is read.
        let new_from = position + 1;
        for event in store.read_all(new_from) {
            let event = event.expect("read_all after kill");
            position += 1;
            assert_eq!(event.position, position, "gap-free positions");
            let (id, i, n) = parse_payload(&event.payload);
            let next = expect_next.entry(id).or_insert(0);
            assert_eq!(i, *next, "commit {id:?} events out of order");
            *next += 1;
            let entry = commits
                .entry(id)
                .or_insert((event.position, event.position, n));
            assert_eq!(
                entry.1 + u64::from(i > 0),
                event.position,
                "commit {id:?} not contiguous"
            );
            entry.1 = event.position;
        }
        assert_eq!(position, store.last_position());
        for (id, (first, last, n)) in commits.iter().filter(|(_, c)| c.1 >= new_from) {
            assert_eq!(last - first + 1, *n, "partial commit {id:?} visible");
        }
        for ack in &acked {
            let (first, last, _) = commits
                .get(&ack.id)
                .unwrap_or_else(|| panic!("acknowledged commit {:?} lost", ack.id));
            assert_eq!(
                (*first, *last),
                (ack.first, ack.last),
                "commit {:?} moved",
                ack.id
            );
            let key = format!("{}-{}-{}", ack.id.0, ack.id.1, ack.id.2);
            let entry = store
                .lookup_key("crash", &key)
                .expect("lookup")
                .expect("acknowledged key indexed");
            assert_eq!(entry.position, ack.first);
        }
    }
    assert!(kills >= 20);
    assert!(
        acked.len() > ROUNDS as usize,
        "writer acknowledged too little to test anything ({})",
        acked.len()
    );
    eprintln!(
        "{kills} kills, {} acknowledged commits, {position} events, {:?}",
        acked.len(),
        started.elapsed()
    );
}
