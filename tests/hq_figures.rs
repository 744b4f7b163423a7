//! Headquarters' rankings and awards from partitions' figures (`vasooli figures`, `vasooli hq`)
//! equal, byte for byte, those of one data directory holding every event.

mod common;

use common::env::Env;

const OFFICES: &str = "code,name,level,parent\n\
Z1,Zone One,zone,\n\
C1,Dehradun Circle,circle,Z1\n\
D1,Rishikesh Division,division,C1\n\
S1,Rishikesh,subdivision,D1\n\
S2,Muni Ki Reti,subdivision,D1\n\
C2,Haldwani Circle,circle,Z1\n\
D2,Haldwani Division,division,C2\n\
S3,Kathgodam,subdivision,D2\n";

/// (account, subdivision, bill of April, bill of May, paid in May, channel, mobile)
const CONSUMERS: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    (
        "UK1",
        "S1",
        "1000.00",
        "1100.00",
        "2100.00",
        "upi",
        "9412000001",
    ),
    (
        "UK2",
        "S1",
        "800.00",
        "900.00",
        "400.00",
        "counter_cash",
        "",
    ),
    (
        "UK3",
        "S2",
        "500.00",
        "450.00",
        "950.00",
        "counter_cheque",
        "9412000003",
    ),
    ("UK4", "S3", "1200.00", "1300.00", "1250.00", "upi", ""),
    ("UK5", "S3", "300.00", "350.00", "0", "upi", "9412000005"),
];

/// Imports the offices and the consumers of `subdivisions` with their bills and payments.
fn load(env: &Env, subdivisions: &[&str]) {
    env.import_ok("offices", OFFICES);
    let ours: Vec<_> = CONSUMERS
        .iter()
        .filter(|c| subdivisions.contains(&c.1))
        .collect();
    let mut consumers = String::from(
        "account_no,name,category,subdivision,load_kw,connected_on,mobile,language,address\n",
    );
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    let mut payments = String::from("receipt_no,account_no,amount,paid_on,channel\n");
    for (account, sd, april, may, paid, channel, mobile) in ours {
        consumers.push_str(&format!(
            "{account},N {account},domestic,{sd},2,2026-01-01,{mobile},hi,\n"
        ));
        bills.push_str(&format!(
            "B4{account},{account},2026-04,2026-04-05,2026-04-20,{april}\n"
        ));
        bills.push_str(&format!(
            "B5{account},{account},2026-05,2026-05-05,2026-05-20,{may}\n"
        ));
        if *paid != "0" {
            payments.push_str(&format!(
                "R5{account},{account},{paid},2026-05-10,{channel}\n"
            ));
        }
    }
    env.import_ok("consumers", &consumers);
    env.import_ok("bills", &bills);
    env.import_ok("payments", &payments);
    env.nightly("2026-05-31");
}

/// Writes the partition's figures for May 2026 and FY2026-27 (and the periods before them)
/// to `NAME.json` beside its data, and returns the file.
fn publish(env: &Env, name: &str) -> std::path::PathBuf {
    let file = env.tmp.path().join(format!("{name}.json"));
    let said = env.ok(&[
        "figures",
        "--period",
        "2026-05",
        "--period",
        "FY2026-27",
        "--partition",
        name,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        said.contains(&format!("figures of partition {name} at position")),
        "{said}"
    );
    file
}

#[test]
fn partitions_figures_rank_and_award_as_one_data_directory() {
    let whole = Env::new();
    load(&whole, &["S1", "S2", "S3"]);
    let north = Env::new();
    load(&north, &["S1", "S2"]);
    let south = Env::new();
    load(&south, &["S3"]);

    let north_file = publish(&north, "north");
    // A partition whose server runs publishes through it.
    let server = common::Server::start(&south.data());
    let south_file = publish(&south, "south");
    server.stop();
    let files = [north_file.to_str().unwrap(), south_file.to_str().unwrap()];

    for (period, level) in [
        ("2026-05", "subdivision"),
        ("2026-05", "division"),
        ("FY2026-27", "division"),
        ("FY2026-27", "circle"),
    ] {
        let one = whole.ok(&[
            "--format", "csv", "rankings", "--period", period, "--level", level,
        ]);
        let mut args = vec![
            "--format", "csv", "hq", "rankings", "--period", period, "--level", level,
        ];
        args.extend(files);
        let summed = whole.go(&args);
        assert_eq!(summed.code, 0, "{}", summed.stderr);
        assert_eq!(summed.stdout, one, "{period} {level}");
        assert!(one.lines().count() > 1, "{one}");
        assert!(
            summed
                .stderr
                .contains("computed from 2 partitions: north at position")
                && summed.stderr.contains("south at position"),
            "{}",
            summed.stderr
        );
    }
    let one = whole.ok(&["--format", "json", "awards", "--period", "2026-05"]);
    let manifest = whole.tmp.path().join("manifest.json");
    let mut args = vec![
        "--format",
        "json",
        "hq",
        "awards",
        "--period",
        "2026-05",
        "--manifest",
        manifest.to_str().unwrap(),
    ];
    args.extend(files);
    let summed = whole.go(&args);
    assert_eq!(summed.code, 0, "{}", summed.stderr);
    assert_eq!(summed.stdout, one);
    assert!(one.contains("gold"), "{one}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let parts: Vec<&str> = manifest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["partition"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["north", "south"]);
    assert!(manifest[0]["position"].as_u64().unwrap() > 0);

    // HTML is for one data directory's awards: refused before anything is written.
    let html_manifest = whole.tmp.path().join("html-manifest.json");
    let mut args = vec![
        "--format",
        "html",
        "hq",
        "awards",
        "--period",
        "2026-05",
        "--manifest",
        html_manifest.to_str().unwrap(),
    ];
    args.extend(files);
    let html = whole.go(&args);
    assert_eq!(html.code, 2, "{}", html.stderr);
    assert!(
        html.stderr.contains("`hq awards` prints rows"),
        "{}",
        html.stderr
    );
    assert!(!html_manifest.exists());

    // The same partition twice, a file that is not figures, a period not published.
    let twice = whole.go(&[
        "hq", "rankings", "--period", "2026-05", "--level", "circle", files[0], files[0],
    ]);
    assert_eq!(twice.code, 3, "{}", twice.stderr);
    assert!(
        twice.stderr.contains("partition north is given twice"),
        "{}",
        twice.stderr
    );
    let junk = whole.write("junk", "json", "{\n  \"format\": 1,\n  oops\n}\n");
    let bad = whole.go(&[
        "hq",
        "awards",
        "--period",
        "2026-05",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("junk-") && bad.stderr.contains(":3:3:"),
        "{}",
        bad.stderr
    );
    let mut args = vec!["hq", "rankings", "--period", "2026-02", "--level", "circle"];
    args.extend(files);
    let missing = whole.go(&args);
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("published no figures for 2026-02"),
        "{}",
        missing.stderr
    );
}
