//! The covered sequence of a replicated log (cluster mode) is written in the same atomic
//! batch as the commit that applies it: after a crash at any moment, the store holds a
//! commit exactly when it holds its sequence.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vasooli_store::{
    decode_commit, encode_commit, CodecError, ExpectedVersion, NewCommit, NewEvent, Store,
};

/// Set in the child process this test re-runs itself as: the store directory it appends to.
const CHILD_DIR_ENV: &str = "VASOOLI_COVERED_CHILD_DIR";

/// A commit applying log sequence `seq`: two events naming it, the second with a natural key.
fn commit_for(seq: u64) -> NewCommit {
    NewCommit::new(vec![
        NewEvent::new("log", "Applied", format!("seq {seq}").into_bytes(), 0),
        NewEvent::new("keys", "Keyed", format!("key of {seq}").into_bytes(), 0).with_key(
            "k",
            format!("{seq}"),
            seq,
        ),
    ])
    .covering(seq)
}

/// The sequence the last event of stream `log` names (0 when there is none).
fn last_applied(store: &Store) -> u64 {
    let events = store.read_stream("log").expect("read");
    events.last().map_or(0, |e| {
        let text = String::from_utf8(e.payload.clone()).expect("utf8");
        text.strip_prefix("seq ")
            .and_then(|n| n.parse().ok())
            .expect("payload names its sequence")
    })
}

#[test]
fn the_covered_sequence_advances_with_each_commit_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.covered_sequence().expect("covered"), 0);
        // A commit without a sequence leaves it alone.
        store
            .append(NewCommit::new(vec![NewEvent::new(
                "other",
                "T",
                vec![1],
                0,
            )]))
            .expect("append");
        assert_eq!(store.covered_sequence().expect("covered"), 0);
        for seq in 1..=20 {
            store.append(commit_for(seq)).expect("append");
            assert_eq!(store.covered_sequence().expect("covered"), seq);
        }
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.covered_sequence().expect("covered"), 20);
    assert_eq!(last_applied(&store), 20);
}

#[test]
fn a_commit_whose_events_are_all_duplicates_still_covers_its_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let keyed = |seq: u64| {
        NewCommit::new(vec![
            NewEvent::new("keys", "Keyed", b"same".to_vec(), 0).with_key("k", "one", 7)
        ])
        .covering(seq)
    };
    let first = store.append(keyed(1)).expect("append");
    assert_eq!((first.appended, first.duplicates), (1, 0));
    let last = store.last_position();
    // The same event again, as a later log sequence: nothing appended, the sequence covered.
    let again = store.append(keyed(2)).expect("append");
    assert_eq!((again.appended, again.duplicates), (0, 1));
    assert_eq!(store.last_position(), last);
    assert_eq!(store.covered_sequence().expect("covered"), 2);
    // An empty commit covers a sequence too (how a refused log entry is passed over).
    store
        .append(NewCommit::new(Vec::new()).covering(3))
        .expect("append");
    assert_eq!(store.covered_sequence().expect("covered"), 3);
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.covered_sequence().expect("covered"), 3);
    assert_eq!(store.last_position(), last);
}

/// The child: appends commits covering 1, 2, 3, ... (continuing after what the store
/// covers) until killed, printing each acknowledged sequence.
fn run_child(dir: &str) {
    let store = Store::open(std::path::Path::new(dir)).expect("open");
    let mut seq = store.covered_sequence().expect("covered");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        seq += 1;
        store.append(commit_for(seq)).expect("append");
        println!("ack {seq}");
    }
}

#[test]
fn after_a_kill_at_any_moment_the_store_holds_a_commit_exactly_when_it_holds_its_sequence() {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut acked = 0u64;
    for round in 0..6u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "after_a_kill_at_any_moment_the_store_holds_a_commit_exactly_when_it_holds_its_sequence",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Let it acknowledge a few commits (more each round), then kill it mid-stream.
        let wanted = 5 + round * 7;
        let mut seen = 0;
        while seen < wanted {
            let Some(line) = lines.next() else { break };
            let line = line.expect("line");
            if let Some(n) = line.strip_prefix("ack ") {
                acked = acked.max(n.trim().parse().expect("sequence"));
                seen += 1;
            }
        }
        assert_eq!(seen, wanted, "the child stopped early");
        child.kill().expect("kill");
        let _ = child.wait();
        vasooli_store::wait_sled_closed(&dir.path().join("log"))
            .expect("the killed child let go of the log");
        let store = Store::open(dir.path()).expect("reopen after the kill");
        let covered = store.covered_sequence().expect("covered");
        assert!(
            covered >= acked,
            "acknowledged {acked}, covered only {covered}"
        );
        assert_eq!(
            last_applied(&store),
            covered,
            "the last commit applied and the sequence covered differ"
        );
        // Every sequence once, in order.
        let seqs: Vec<u64> = store
            .read_stream("log")
            .expect("read")
            .iter()
            .map(|e| {
                String::from_utf8(e.payload.clone()).expect("utf8")[4..]
                    .parse()
                    .expect("sequence")
            })
            .collect();
        assert_eq!(seqs, (1..=covered).collect::<Vec<_>>());
    }
}

#[test]
fn a_commit_carried_as_bytes_comes_back_whole_but_covering_nothing() {
    let commit = commit_for(12).expect("log", ExpectedVersion::Exact(11));
    let bytes = encode_commit(&commit).expect("encode");
    let back = decode_commit(&bytes).expect("decode");
    assert_eq!(back.events, commit.events);
    assert_eq!(back.expectations, commit.expectations);
    assert_eq!(back.covers, None);
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(decode_commit(&bad).is_err(), "byte {i} flipped");
    }
    assert!(matches!(
        decode_commit(&bytes[..4]),
        Err(CodecError::TooShort(4))
    ));
    assert!(matches!(decode_commit(&[]), Err(CodecError::TooShort(0))));
}
