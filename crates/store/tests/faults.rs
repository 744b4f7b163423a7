//! Storage faults at the store's level: sled's interrupted or damaged snapshot files, and a
//! directory another holder has open.

use std::path::Path;
use vasooli_store::{NaturalKey, NewCommit, NewEvent, Store, StoreError};

fn keyed(i: u64) -> NewEvent {
    let mut e = NewEvent::new(
        format!("acct-{}", i % 7),
        "Billed",
        format!("bill {i}").into_bytes(),
        1_700_000_000_000,
    );
    e.key = Some(NaturalKey {
        namespace: "bill".into(),
        key: format!("B{i:05}"),
        content_hash: i,
    });
    e
}

fn snapshot_files(log: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    names.sort();
    names
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn interrupted_and_damaged_snapshots_do_not_stop_an_open() {
    let root = tempfile::tempdir().unwrap();
    let original = root.path().join("data");
    {
        let store = Store::open(&original).unwrap();
        for c in 0..20u64 {
            let events = (c * 50..(c + 1) * 50).map(keyed).collect();
            store.append(NewCommit::new(events)).unwrap();
        }
        assert_eq!(store.last_position(), 1000);
    }
    // What a full disk leaves: an empty `.generating` file newer than every snapshot; and,
    // as if damaged, every finished snapshot cut short plus a newer one of garbage.
    let plant = |dir: &Path| {
        let log = dir.join("log");
        for name in snapshot_files(&log) {
            let bytes = std::fs::read(log.join(&name)).unwrap();
            std::fs::write(log.join(&name), &bytes[..bytes.len() / 2]).unwrap();
        }
        std::fs::write(log.join("snap.FFFFFFFFFFFFFF00"), [7u8; 40]).unwrap();
        std::fs::write(log.join("snap.FFFFFFFFFFFFFFF0.generating"), b"").unwrap();
    };
    let raw = root.path().join("raw");
    copy_dir(&original, &raw);
    plant(&raw);
    // sled itself refuses such a directory (which is what the store must get around).
    assert!(
        sled::Config::new().path(raw.join("log")).open().is_err(),
        "sled 0.34.7 opened a directory with an empty snapshot file"
    );

    let planted = root.path().join("planted");
    copy_dir(&original, &planted);
    plant(&planted);
    {
        let store = Store::open(&planted).expect("open with interrupted snapshots");
        assert_eq!(store.last_position(), 1000);
        let events: Vec<_> = store.read_all(1).collect::<Result<_, _>>().unwrap();
        assert_eq!(events.len(), 1000);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.payload, format!("bill {i}").into_bytes());
        }
        for i in [0u64, 499, 999] {
            let entry = store.lookup_key("bill", &format!("B{i:05}")).unwrap();
            assert_eq!(entry.map(|e| e.position), Some(i + 1));
        }
        let report = store.verify().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        // Still writable, and the same again after another close.
        let r = store
            .append(NewCommit::new((1000..1010).map(keyed).collect()))
            .unwrap();
        assert_eq!(r.last_position, 1010);
    }
    let log = planted.join("log");
    assert!(
        !snapshot_files(&log)
            .iter()
            .any(|n| n.ends_with(".generating")),
        "{:?}",
        snapshot_files(&log)
    );
    assert!(
        std::fs::read_dir(&log).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("damaged-snap.")),
        "the damaged snapshot is kept aside"
    );
    let store = Store::open(&planted).unwrap();
    assert_eq!(store.last_position(), 1010);
    assert!(store.verify().unwrap().problems.is_empty());
}

#[test]
fn a_directory_open_elsewhere_is_named_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(NewCommit::new(vec![keyed(1)])).unwrap();
    let err = Store::open(dir.path()).expect_err("a second open of the same directory");
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("in use"), "{message}");
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().last_position(), 1);
}
