//! Storage faults met where a user meets them: a data directory on a disk that fills up (a
//! small tmpfs, mounted for the test; it needs root, as CI has, and is skipped with the
//! reason printed otherwise), and one on a read-only file system. Whatever the disk does,
//! commands fail with one line naming the directory and the cause, nothing is damaged, and
//! once space is back everything works again without a manual step.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{ok, vasooli, write, Server};

/// A tmpfs of its own, unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or says why it cannot.
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root, so no tmpfs can be mounted".into());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { _dir: dir, path })
    }

    /// Fills the disk with a filler file, leaving `room` bytes free.
    fn fill(&self, room: u64) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0xA5u8; 64 << 10];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        drop(file);
        let keep = written.saturating_sub(room);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(keep)
            .unwrap();
        filler
    }

    fn remount(&self, option: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{option}")])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {option}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

macro_rules! tmpfs_or_skip {
    ($size:expr) => {
        match Tmpfs::mount($size) {
            Ok(t) => t,
            Err(reason) => {
                println!("skipped: {reason}");
                return;
            }
        }
    };
}

const OFFICES: &str = "code,name,level,parent\nZ1,Zone,zone,\nC1,Circle,circle,Z1\nD1,Division,division,C1\nS1,Rishikesh,subdivision,D1\n";
const CONSUMERS: usize = 3000;
const BILLS_EACH: usize = 6;

fn consumers_csv() -> String {
    let mut text =
        String::from("account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n");
    for i in 0..CONSUMERS {
        text.push_str(&format!("A{i},Name {i},domestic,S1,2.5,2020-01-01,,en\n"));
    }
    text
}

fn bills_csv() -> String {
    let mut text = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    for i in 0..CONSUMERS {
        for m in 1..=BILLS_EACH {
            text.push_str(&format!(
                "B{i}-{m},A{i},2026-0{m},2026-0{m}-05,2026-0{m}-20,{}.00\n",
                100 + i % 50
            ));
        }
    }
    text
}

/// Offices and consumers, plus an admin token (returned).
fn seed(files: &Path, data: &Path) -> String {
    let offices = write(files, "offices.csv", OFFICES);
    let consumers = write(files, "consumers.csv", &consumers_csv());
    ok(data, &["import", "offices", offices.to_str().unwrap()]);
    ok(data, &["import", "consumers", consumers.to_str().unwrap()]);
    ok(
        data,
        &["tokens", "create", "--role", "admin", "--name", "admin"],
    )
    .trim()
    .to_string()
}

/// The events of the log by type, counted from an export.
fn count_events(data: &Path, scratch: &Path, event: &str) -> usize {
    let out = scratch.join("export.jsonl");
    let _ = std::fs::remove_file(&out);
    ok(data, &["export", "--out", out.to_str().unwrap()]);
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("\"{event}\"")))
        .count()
}

/// `verify` passes: the log holds whole commits only, positions gap-free, keys indexed.
fn verified(data: &Path) -> String {
    let out = ok(data, &["verify"]);
    assert!(out.starts_with("ok:"), "{out}");
    out
}

/// A failed run printed one line, naming the data directory and `cause`.
fn one_line_naming(run: &common::Run, data: &Path, cause: &str, what: &str) {
    assert_eq!(run.code, 1, "{what}: exit code; stderr: {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: one line of error: {:?}",
        run.stderr
    );
    let line = lines[0];
    assert!(line.starts_with("error: "), "{what}: {line}");
    assert!(
        line.contains(&data.display().to_string()),
        "{what}: names the directory: {line}"
    );
    assert!(
        line.to_lowercase().contains(cause),
        "{what}: says {cause}: {line}"
    );
}

#[test]
fn a_full_disk_loses_nothing_and_everything_works_once_space_is_back() {
    let disk = tmpfs_or_skip!("32m");
    let files = tempfile::tempdir().unwrap();
    let bills = write(files.path(), "bills.csv", &bills_csv());
    let bills = bills.to_str().unwrap();

    // The same imports on an ordinary disk, for the figures to match.
    let clean = files.path().join("clean");
    seed(files.path(), &clean);
    ok(&clean, &["import", "bills", bills]);
    let clean_bills = count_events(&clean, files.path(), "bill_issued");
    assert_eq!(clean_bills, CONSUMERS * BILLS_EACH);

    let data = disk.path.join("data");
    seed(files.path(), &data);
    for room in [256u64 << 10, 0] {
        let filler = disk.fill(room);
        let run = vasooli(&data, &["import", "bills", bills]);
        one_line_naming(&run, &data, "no space", "import on a full disk");

        // Opening while the disk is full, again and again: each succeeds or fails with
        // the one line, and never leaves the directory unreadable.
        for attempt in 0..2 {
            // Unique, so that a token the disk still had room for is no reason to refuse the
            // next.
            let token_name = format!("hq-{room}-{attempt}");
            for args in [
                &["verify"][..],
                &["nightly", "--as-of", "2026-01-31"][..],
                &["tokens", "list"][..],
                // A token the store cannot keep is a fault of the disk (exit 1), not of the
                // request.
                &["tokens", "create", "--role", "hq", "--name", &token_name][..],
            ] {
                let run = vasooli(&data, args);
                if run.code != 0 {
                    one_line_naming(&run, &data, "no space", &format!("{args:?} on a full disk"));
                }
            }
        }
        // What an open that ends while the disk is full leaves when sled's closing snapshot
        // cannot be written (whether one does depends on where sled's last segment ends, so
        // it is planted here too): an empty `snap.*.generating` file, newer than the last
        // snapshot, in each of the data directory's sled databases.
        let mut interrupted = 0;
        for db in ["log", "projections"] {
            let db = data.join(db);
            interrupted += std::fs::read_dir(&db)
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(".generating")
                })
                .count();
            std::fs::write(db.join("snap.FFFFFFFFFFFFFFF0.generating"), b"").unwrap();
        }
        println!("interrupted snapshots left by opens on the full disk: {interrupted}");
        std::fs::remove_file(filler).unwrap();
        // Space is back: no manual step.
        verified(&data);
        let listed = ok(&data, &["tokens", "list"]);
        assert!(listed.contains("admin"), "{listed}");
    }

    // The import completes, exactly once.
    let out = ok(&data, &["import", "bills", bills]);
    assert!(out.contains("read 18000"), "{out}");
    let again = ok(&data, &["import", "bills", bills]);
    assert!(again.contains("appended 0"), "{again}");
    verified(&data);
    assert_eq!(
        count_events(&data, files.path(), "bill_issued"),
        clean_bills
    );
    assert_eq!(
        count_events(&data, files.path(), "consumer_registered"),
        count_events(&clean, files.path(), "consumer_registered")
    );
}

#[test]
fn a_read_only_data_directory_serves_reads_or_names_the_path_and_reason() {
    let disk = tmpfs_or_skip!("32m");
    let files = tempfile::tempdir().unwrap();
    let data = disk.path.join("data");
    seed(files.path(), &data);
    let bills = write(files.path(), "bills.csv", &bills_csv());
    ok(&data, &["nightly", "--as-of", "2026-01-31"]);
    let before = verified(&data);

    disk.remount("ro");
    for args in [
        &["verify"][..],
        &["tokens", "list"][..],
        &["defaulters", "--office", "S1"][..],
    ] {
        let run = vasooli(&data, args);
        if run.code != 0 {
            one_line_naming(
                &run,
                &data,
                "read-only",
                &format!("{args:?} on a read-only disk"),
            );
        }
    }
    let run = vasooli(&data, &["import", "bills", bills.to_str().unwrap()]);
    one_line_naming(&run, &data, "read-only", "import on a read-only disk");

    disk.remount("rw");
    assert_eq!(verified(&data), before, "nothing changed");
    ok(&data, &["import", "bills", bills.to_str().unwrap()]);
    verified(&data);
}

/// The status and JSON body of a request to the server (`Null` for a body that is not JSON).
fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, text) =
        common::http(&server.addr, method, path, token, body).expect("the server answers");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    call(server, "GET", path, token, None)
}

fn import(server: &Server, token: &str, kind: &str, csv: &str) -> (u16, serde_json::Value) {
    call(
        server,
        "POST",
        &format!("/api/v1/import/{kind}"),
        Some(token),
        Some(csv),
    )
}

#[test]
fn the_server_answers_507_while_the_disk_is_full_and_recovers_by_itself() {
    let disk = tmpfs_or_skip!("32m");
    let files = tempfile::tempdir().unwrap();
    let data = disk.path.join("data");
    let token = seed(files.path(), &data);
    let server = Server::start(&data);
    assert_eq!(
        get(&server, "/health", None),
        (200, serde_json::json!({"status": "ok"}))
    );

    let bills = bills_csv();
    let filler = disk.fill(0);
    let (status, body) = import(&server, &token, "bills", &bills);
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_storage", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&data.display().to_string()), "{message}");
    assert!(message.contains("no space"), "{message}");

    // Writes go on failing, cleanly, and /health says why.
    let (status, body) = import(&server, &token, "bills", &bills);
    assert_eq!(status, 507, "{body}");
    let (status, body) = get(&server, "/health", None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["store"].as_str().unwrap().contains("no space"),
        "{body}"
    );

    // Space is back: no restart.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(
        get(&server, "/health", None),
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, body) = import(&server, &token, "bills", &bills);
    assert_eq!(status, 200, "{body}");
    let (status, body) = import(&server, &token, "bills", &bills);
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&server, "/api/v1/consumers/A7", Some(&token));
    assert_eq!(status, 200, "{body}");
    drop(server);

    verified(&data);
    assert_eq!(
        count_events(&data, files.path(), "bill_issued"),
        CONSUMERS * BILLS_EACH
    );
}
