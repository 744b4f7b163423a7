//! Moving a division between partitions (`vasooli cluster move`), with the real binary and
//! three real JetStream servers on loopback. Two owners (north: D-N, south: D-S) are fed with
//! `vasooli cluster import` and run the nightly run; the same files go into an ordinary data
//! directory. The move is refused while an owner holds its partition. With the owners
//! stopped, D-S moves to north: a directory following the old log is refused; owners started
//! on empty directories hold, north every event of the ordinary directory and south only the
//! offices and the run's mark; north's defaulter list of the circle and headquarters'
//! rankings over both partitions equal the ordinary directory's; a payment for a D-S account
//! is routed to north. D-S then moves back, the move cut off once and run again (no owner
//! takes a partition over meanwhile): each partition's log is, event for event and position
//! for position, what it was before the first move. A move the plan refuses leaves nothing
//! behind, and one cut off before it switched over is given up with `--abandon`. Last, D-N
//! moves to a partition that never existed, whose owner lists it as one directory does.
//!
//! Skipped (with a message) without a server binary unless `CI` is set, when it fails.

mod common;

use common::divisions;
use common::owner::Owner;
use common::{ok, vasooli};
use std::path::Path;
use std::time::{Duration, Instant};

const CONSUMERS: usize = 300;
const AS_OF: &str = "2026-05-31";

/// The lines of `dir`'s export, as written (position, stream, version, time, event).
fn exported(dir: &Path, out: &Path) -> Vec<String> {
    ok(dir, &["export", "--out", out.to_str().unwrap()]);
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Export lines without their positions and recorded times (a run's time differs between
/// directories), sorted: what a log holds, whatever its order.
fn held(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = lines
        .iter()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let fields = v.as_object_mut().unwrap();
            fields.remove("position");
            fields.remove("recorded_at_ms");
            v.to_string()
        })
        .collect();
    out.sort();
    out
}

fn start_both(servers: &str, north_dir: &Path, south_dir: &Path) -> (Owner, Owner) {
    let mut north = Owner::start(north_dir, servers, "north");
    let mut south = Owner::start(south_dir, servers, "south");
    for owner in [&mut north, &mut south] {
        owner.wait_line("listening on http://", Duration::from_secs(60));
    }
    (north, south)
}

#[test]
fn a_division_moves_with_its_events_and_back() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(cluster) = runtime.block_on(vasooli_cluster::testing::TestCluster::start()) else {
        return;
    };
    let servers = cluster.urls().join(",");
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let (cwd, whole) = (dir("cwd"), dir("whole"));
    let (north, south) = divisions::two_owners(&cwd, &servers, &dir("north1"), &dir("south1"));
    let mut inputs = vec![("offices", divisions::offices().to_string())];
    inputs.extend(divisions::utility("UK71", CONSUMERS));
    for (kind, text) in &inputs {
        let path = dir(&format!("{kind}.csv"));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        ok(
            &cwd,
            &["cluster", "import", "--servers", &servers, kind, path],
        );
        ok(&whole, &["import", kind, path]);
    }
    ok(&whole, &["nightly", "--as-of", AS_OF]);
    for name in ["north1", "south1"] {
        ok(&dir(name), &["nightly", "--as-of", AS_OF]);
    }
    // `vasooli cluster move` of a division to a partition, with more arguments.
    let move_division = |division: &str, to: &str, more: &[&str]| {
        let mut args = vec![
            "cluster",
            "move",
            "--servers",
            servers.as_str(),
            division,
            "--to",
            to,
        ];
        args.extend_from_slice(more);
        vasooli(&cwd, &args)
    };
    let move_to = |to: &str| move_division("D-S", to, &[]);

    // Refused while the owners hold their partitions: nothing changes.
    let refused = move_to("north");
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("partition south is owned by process-")
            && refused.stderr.contains("stop its owner"),
        "{}",
        refused.stderr
    );
    let status = |cwd: &Path| -> serde_json::Value {
        let out = ok(cwd, &["cluster", "status", "--servers", &servers, "--json"]);
        serde_json::from_str(&out).unwrap()
    };
    // Headquarters' rankings (CSV) of a period and level over the partitions' published
    // figures, and those of the ordinary directory.
    let hq_rankings = |period: &str, level: &str| {
        vasooli(
            &cwd,
            &[
                "--format",
                "csv",
                "hq",
                "rankings",
                "--period",
                period,
                "--level",
                level,
                "--servers",
                &servers,
            ],
        )
    };
    let one_directory = |period: &str, level: &str| {
        ok(
            &whole,
            &[
                "--format", "csv", "rankings", "--period", period, "--level", level,
            ],
        )
    };
    let before = status(&cwd);
    assert_eq!(before["partitions"][1]["divisions"][0], "D-S");
    // Both owners have published their run's figures before they stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while hq_rankings("2026-05", "division").code != 0 {
        assert!(Instant::now() < deadline, "the owners published no figures");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(north.interrupt(), Some(0));
    assert_eq!(south.interrupt(), Some(0));
    let north_before = exported(&dir("north1"), &dir("north1.jsonl"));
    let south_before = exported(&dir("south1"), &dir("south1.jsonl"));
    let whole_events = exported(&whole, &dir("whole.jsonl"));

    // D-S moves to north.
    let moved = move_to("north");
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    let consumers_s = CONSUMERS / 3;
    assert!(
        moved.stdout.starts_with(&format!(
            "division D-S moved from partition south to north: {} events of {consumers_s} consumers",
            south_before.len() - 8
        )),
        "{}",
        moved.stdout
    );
    let after = status(&cwd);
    for (p, name) in [(0, "north"), (1, "south")] {
        assert_eq!(after["partitions"][p]["partition"], name, "{after}");
        assert_eq!(after["partitions"][p]["generation"], 1, "{after}");
    }
    assert_eq!(after["partitions"][0]["divisions"][1], "D-S", "{after}");

    // The figures the owners published before the move were moved with the division: with
    // no owner running, headquarters' rankings over the partitions are one directory's.
    for (period, level) in [("2026-05", "subdivision"), ("FY2026-27-Q1", "division")] {
        let run = hq_rankings(period, level);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout, one_directory(period, level), "{period} {level}");
    }

    // A directory following the former log is refused, and says what to do.
    let mut stale = Owner::start(&dir("north1"), &servers, "north");
    let (code, stderr) = stale.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("partition north's log is at generation 1")
            && stderr.contains("start this process again on an empty directory"),
        "{stderr}"
    );

    // Owners on empty directories: north holds every event of one directory, south the
    // offices and its run's mark.
    let (north, south) = start_both(&servers, &dir("north2"), &dir("south2"));
    let defaulters = |data: &Path| ok(data, &["--format", "csv", "defaulters", "--office", "C-R"]);
    let circle = defaulters(&whole);
    assert!(circle.lines().count() > 10, "{circle}");
    assert_eq!(defaulters(&dir("north2")), circle);
    // Headquarters over both, from the figures each new owner published as it took over.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ranked = loop {
        let run = hq_rankings("2026-05", "subdivision");
        if run.code == 0 || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(ranked.code, 0, "{}", ranked.stderr);
    assert_eq!(ranked.stdout, one_directory("2026-05", "subdivision"));
    // A payment for a D-S account is routed to north now.
    let payment = dir("late-payment.csv");
    std::fs::write(
        &payment,
        "receipt_no,account_no,amount,paid_on,channel\nRLATE,UK7100000002,150.00,2026-06-02,upi\n",
    )
    .unwrap();
    let routed = ok(
        &cwd,
        &[
            "cluster",
            "import",
            "--servers",
            &servers,
            "payments",
            payment.to_str().unwrap(),
        ],
    );
    assert!(routed.contains("appended 1"), "{routed}");
    assert_eq!(north.interrupt(), Some(0));
    assert_eq!(south.interrupt(), Some(0));
    let north_now = exported(&dir("north2"), &dir("north2.jsonl"));
    let south_now = exported(&dir("south2"), &dir("south2.jsonl"));
    let late: Vec<&String> = north_now
        .iter()
        .filter(|line| line.contains("RLATE"))
        .collect();
    assert_eq!(late.len(), 1, "the late payment is in north");
    let north_held: Vec<String> = north_now
        .iter()
        .filter(|line| !line.contains("RLATE"))
        .cloned()
        .collect();
    assert!(
        held(&north_held) == held(&whole_events),
        "north after the move holds other events than one directory"
    );
    assert_eq!(
        south_now.len(),
        8,
        "south keeps its offices and its run's mark"
    );
    assert!(south_now
        .iter()
        .all(|l| l.contains("office_registered") || l.contains("nightly_run_completed")));

    // And back: the late payment goes with its account; each partition's log is what it
    // was, position for position.
    // A move back cut off before it switched over: its record left in the cluster, the
    // next generation of south's log begun. No process takes north over meanwhile; the move
    // run again writes south's log as the generation after the one begun, and finishes; the
    // process waiting then finds its directory behind.
    runtime.block_on(async {
        use vasooli_cluster::{envelope, ClusterConfig, ClusterLog, PartitionMap};
        let log = ClusterLog::connect(ClusterConfig::new(cluster.urls()))
            .await
            .unwrap();
        assert!(PartitionMap::open(&log)
            .await
            .unwrap()
            .begin_move("D-S north south 2 2 cutoff1")
            .await
            .unwrap());
        let begun = vasooli_store::NewCommit::new(vec![vasooli_store::NewEvent::new(
            "office-X",
            "office_registered",
            b"not an event".to_vec(),
            0,
        )]);
        let id = envelope::new_commit_id();
        let entry = envelope::encode(&id, &begun).unwrap();
        log.append("south~2", &id, entry.into(), 0).await.unwrap();
    });
    let mut waiting = Owner::start(&dir("north2"), &servers, "north");
    waiting.wait_line(
        "waiting for the move of division D-S from north to south to end",
        Duration::from_secs(30),
    );
    // Headquarters does not add figures up while they move.
    let moving = hq_rankings("2026-05", "division");
    assert_eq!(moving.code, 3, "{}", moving.stderr);
    assert!(
        moving.stderr.contains("a division is moving"),
        "{}",
        moving.stderr
    );
    let back = move_to("south");
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert!(
        back.stdout.starts_with(&format!(
            "division D-S moved from partition north to south: {} events",
            south_before.len() - 8 + 1
        )),
        "{}",
        back.stdout
    );
    let (code, stderr) = waiting.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("generation 2"), "{stderr}");
    let (north, south) = start_both(&servers, &dir("north3"), &dir("south3"));
    assert_eq!(north.interrupt(), Some(0));
    assert_eq!(south.interrupt(), Some(0));
    assert_eq!(exported(&dir("north3"), &dir("north3.jsonl")), north_before);
    let south_back = exported(&dir("south3"), &dir("south3.jsonl"));
    assert_eq!(south_back.len(), south_before.len() + 1);
    assert_eq!(south_back[..south_before.len()], south_before[..]);
    assert!(south_back[south_before.len()].contains("RLATE"));
    let after = status(&cwd);
    assert_eq!(after["partitions"][0]["generation"], 2, "{after}");
    assert_eq!(after["partitions"][1]["generation"], 3, "{after}");
    assert_eq!(after["partitions"][1]["divisions"][0], "D-S", "{after}");

    // A move the plan refuses (north ran once more, south did not) changes nothing and leaves
    // no record: north's owner takes its partition again on the same directory.
    let mut north = Owner::start(&dir("north3"), &servers, "north");
    north.wait_line("listening on http://", Duration::from_secs(60));
    ok(&dir("north3"), &["nightly", "--as-of", "2026-06-30"]);
    assert_eq!(north.interrupt(), Some(0));
    let refused = move_division("D-N", "south", &[]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("partition north has 2 runs, 2026-05-31 to 2026-06-30 and south has one run"),
        "{}",
        refused.stderr
    );
    let now = status(&cwd);
    for p in 0..2 {
        for field in ["partition", "generation", "divisions"] {
            assert_eq!(
                now["partitions"][p][field], after["partitions"][p][field],
                "{now}"
            );
        }
    }
    let mut north = Owner::start(&dir("north3"), &servers, "north");
    north.wait_line("listening on http://", Duration::from_secs(60));
    assert_eq!(north.interrupt(), Some(0));

    // A move cut off before it switched over, given up: the waiting owner then takes north.
    runtime.block_on(async {
        use vasooli_cluster::{ClusterConfig, ClusterLog, PartitionMap};
        let log = ClusterLog::connect(ClusterConfig::new(cluster.urls()))
            .await
            .unwrap();
        let map = PartitionMap::open(&log).await.unwrap();
        assert!(map.begin_move("D-N north south 3 4 cutoff2").await.unwrap());
    });
    let mut waiting = Owner::start(&dir("north3"), &servers, "north");
    waiting.wait_line(
        "waiting for the move of division D-N from north to south to end",
        Duration::from_secs(30),
    );
    let other = move_to("north");
    assert_eq!(other.code, 3, "{}", other.stderr);
    assert!(
        other.stderr.contains(
            "the move of division D-N from partition north to south is under way: run \
             `vasooli cluster move --servers URL[,URL..] D-N --to south` again"
        ),
        "{}",
        other.stderr
    );
    let abandoned = move_division("D-N", "south", &["--abandon"]);
    assert_eq!(abandoned.code, 0, "{}", abandoned.stderr);
    assert_eq!(
        abandoned.stdout.trim(),
        "gave up the move of division D-N from partition north to south: nothing was switched over"
    );
    waiting.wait_line("listening on http://", Duration::from_secs(60));
    assert_eq!(waiting.interrupt(), Some(0));

    // Into a partition that never existed: it takes north's runs with the division, and
    // its owner's lists are one directory's.
    ok(&whole, &["nightly", "--as-of", "2026-06-30"]);
    let fresh = move_division("D-N", "east", &[]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert!(
        fresh.stdout.contains("partition east: log generation 1"),
        "{}",
        fresh.stdout
    );
    let mut east = Owner::start(&dir("east1"), &servers, "east");
    east.wait_line("listening on http://", Duration::from_secs(60));
    let division_n = |data: &Path| ok(data, &["--format", "csv", "defaulters", "--office", "D-N"]);
    let whole_n = division_n(&whole);
    assert!(whole_n.lines().count() > 10, "{whole_n}");
    assert_eq!(division_n(&dir("east1")), whole_n);
    assert_eq!(east.interrupt(), Some(0));
    drop(cluster);
}
