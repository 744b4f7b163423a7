//! Files of parts beside a side database (`SideDb::write_parts`): what is written reads back
//! part by part, a failed write leaves no file, ends that do not fit the file are refused
//! without reading past it, and removing the other generations keeps the one named.

use vasooli_store::{SideDb, StoreError, PARTS_DIR};

fn parts(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
        .collect()
}

fn files(db_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(db_dir.join(PARTS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn parts_written_read_back_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = SideDb::open(dir.path(), 1 << 20).unwrap();
    let written = parts(&[10, 0, 3_000_000, 1]);
    let mut writer = db
        .write_parts::<StoreError>("world", 7, written.clone().into_iter().map(Ok))
        .unwrap();
    writer.keep();
    let ends = writer.ends().to_vec();
    drop(writer);
    assert_eq!(ends, vec![10, 10, 3_000_010, 3_000_011]);
    let file = db.read_parts("world", 7).unwrap();
    for (index, part) in written.iter().enumerate() {
        assert_eq!(&file.part(&ends, index).unwrap(), part, "part {index}");
    }
    // Past the last part, or ends beyond the file: refused, nothing read.
    assert!(matches!(
        file.part(&ends, 4),
        Err(StoreError::Corrupt { .. })
    ));
    let beyond = [10, 1 << 40];
    let refused = file.part(&beyond, 1).unwrap_err().to_string();
    assert!(refused.contains("of 3000011"), "{refused}");
    // An end before its start.
    assert!(file.part(&[10, 5], 1).is_err());
    // A generation never written.
    assert!(db.read_parts("world", 8).is_err());
}

#[test]
fn a_failed_write_leaves_no_file_and_removal_keeps_the_one_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = SideDb::open(dir.path(), 1 << 20).unwrap();
    for generation in [1, 2] {
        db.write_parts::<StoreError>("world", generation, parts(&[5, 5]).into_iter().map(Ok))
            .unwrap()
            .keep();
    }
    db.write_parts::<StoreError>("agenda", 3, parts(&[5]).into_iter().map(Ok))
        .unwrap()
        .keep();
    // Written and made durable, but given up before it was named: its file goes.
    let given_up = db
        .write_parts::<StoreError>("world", 9, parts(&[5]).into_iter().map(Ok))
        .unwrap();
    assert_eq!(given_up.ends(), [5]);
    drop(given_up);
    let failing = parts(&[100])
        .into_iter()
        .map(Ok)
        .chain(std::iter::once(Err(StoreError::Closed)));
    let failed = db.write_parts("world", 4, failing).unwrap_err();
    assert!(matches!(failed, StoreError::Closed), "{failed}");
    assert_eq!(
        files(dir.path()),
        [
            "agenda.0000000000000003",
            "world.0000000000000001",
            "world.0000000000000002"
        ],
        "the failed write's file and the one given up are gone"
    );
    // A file another program left: not one of ours, so kept.
    std::fs::write(dir.path().join(PARTS_DIR).join("world.notes"), b"x").unwrap();
    db.remove_parts("world", Some(2)).unwrap();
    assert_eq!(
        files(dir.path()),
        [
            "agenda.0000000000000003",
            "world.0000000000000002",
            "world.notes"
        ]
    );
    let file = db.read_parts("world", 2).unwrap();
    assert_eq!(file.part(&[5, 10], 1).unwrap(), parts(&[5, 5])[1]);
    db.remove_parts("world", None).unwrap();
    assert_eq!(
        files(dir.path()),
        ["agenda.0000000000000003", "world.notes"]
    );
    // Reopened: the database and the files beside it read as before.
    drop(db);
    let db = SideDb::open(dir.path(), 1 << 20).unwrap();
    let file = db.read_parts("agenda", 3).unwrap();
    assert_eq!(file.part(&[5], 0).unwrap(), parts(&[5])[0]);
}

#[test]
fn a_file_being_written_is_not_removed_and_an_unfinished_one_goes_with_its_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = SideDb::open(dir.path(), 1 << 20).unwrap();
    let mut early = db.begin_parts("world", 5).unwrap();
    early.push(b"abc").unwrap();
    let mut late = db.begin_parts("world", 6).unwrap();
    late.push(b"de").unwrap();
    late.push(b"fgh").unwrap();
    assert_eq!((late.len(), late.bytes()), (2, 5));
    // Generation 6 is written and named first; removing the others leaves 5, in progress.
    assert_eq!(late.finish().unwrap(), vec![2, 5]);
    late.keep();
    db.remove_parts("world", Some(6)).unwrap();
    drop(late);
    assert_eq!(
        files(dir.path()),
        ["world.0000000000000005", "world.0000000000000006"]
    );
    // Generation 5 is given up: its file goes when its writer does.
    drop(early);
    assert_eq!(files(dir.path()), ["world.0000000000000006"]);
    let file = db.read_parts("world", 6).unwrap();
    assert_eq!(file.part(&[2, 5], 1).unwrap(), b"fgh");
    // Kept and dropped, a file stays until removed.
    let mut kept = db.begin_parts("world", 7).unwrap();
    kept.push(b"x").unwrap();
    kept.finish().unwrap();
    kept.keep();
    drop(kept);
    assert_eq!(
        files(dir.path()),
        ["world.0000000000000006", "world.0000000000000007"]
    );
    db.remove_parts("world", Some(6)).unwrap();
    assert_eq!(files(dir.path()), ["world.0000000000000006"]);
    // After the database is cleared every file goes, but one being written.
    let mut writing = db.begin_parts("agenda", 8).unwrap();
    db.clear_parts().unwrap();
    assert_eq!(files(dir.path()), ["agenda.0000000000000008"]);
    writing.keep();
}
