//! One HTTP API for every partition (`vasooli cluster gateway`), with the real binary and
//! three real JetStream servers on loopback: two partition owners (north: division D-N,
//! south: division D-S) fed with `vasooli cluster import`, the same files imported into an
//! ordinary data directory, and a gateway in front of the owners. Through the gateway, with
//! a token made on north only: the nightly run runs on both partitions; a south account's
//! statement, a south subdivision's defaulters and the rankings and awards over both
//! partitions equal the ordinary directory's; commands and an import of one partition are
//! written there, while a request spanning both is refused and writes nothing; an officer's
//! scope, unknown tokens, unknown accounts and revoked tokens answer as one process does.
//!
//! Skipped (with a message) without a server binary unless `CI` is set, when it fails.

mod common;

use common::divisions;
use common::owner::Owner;
use common::{http, http_get, ok};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONSUMERS: usize = 600;
const AS_OF: &str = "2026-05-31";

/// A `vasooli cluster gateway` process; killed when dropped.
struct Gateway {
    child: Child,
    addr: String,
}

impl Gateway {
    fn start(cwd: &Path, servers: &str) -> Gateway {
        let addr = common::free_loopback_addr();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
            .arg("--data")
            .arg(cwd)
            .args(["cluster", "gateway", "--servers", servers, "--addr", &addr])
            .env("VASOOLI_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), format!("gateway listening on http://{addr}"));
        Gateway { child, addr }
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        http_get(&self.addr, path, token).unwrap_or_else(|| panic!("GET {path}: no answer"))
    }

    fn post(&self, path: &str, token: &str, body: &str) -> (u16, String) {
        http(&self.addr, "POST", path, Some(token), Some(body))
            .unwrap_or_else(|| panic!("POST {path}: no answer"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status line and header fields of a `GET` of `path`.
fn raw_head(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.split("\r\n\r\n").next().unwrap_or("").to_string()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn a_gateway_serves_every_partition_as_one_api() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(cluster) = runtime.block_on(vasooli_cluster::testing::TestCluster::start()) else {
        return;
    };
    let servers = cluster.urls().join(",");
    let tmp = tempfile::tempdir().unwrap();
    let (north_dir, south_dir, whole) = (
        tmp.path().join("north"),
        tmp.path().join("south"),
        tmp.path().join("whole"),
    );
    let cwd = tmp.path().join("cwd");
    let (north, south) = divisions::two_owners(&cwd, &servers, &north_dir, &south_dir);
    let file = |name: &str, text: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let mut inputs = vec![("offices", divisions::offices().to_string())];
    inputs.extend(divisions::utility("UK68", CONSUMERS));
    for (kind, text) in &inputs {
        let path = file(&format!("{kind}.csv"), text);
        ok(
            &cwd,
            &["cluster", "import", "--servers", &servers, kind, &path],
        );
        ok(&whole, &["import", kind, &path]);
    }

    // Tokens made on north only, handed to the running owner.
    let token = |args: &[&str]| {
        let mut all = vec!["tokens", "create"];
        all.extend_from_slice(args);
        ok(&north_dir, &all).trim().to_string()
    };
    let finance = token(&["--role", "finance", "--name", "fin"]);
    let officer = token(&["--role", "officer", "--office", "SD-N1", "--name", "off-n1"]);
    let officer_s1 = token(&["--role", "officer", "--office", "SD-S1", "--name", "off-s1"]);
    let hq = token(&["--role", "hq", "--name", "hq"]);
    let doomed = token(&["--role", "hq", "--name", "doomed"]);

    let gateway = Gateway::start(&cwd, &servers);
    assert_eq!(
        gateway.get("/health", None),
        (200, r#"{"status":"ok"}"#.to_string())
    );
    // The owner copies its tokens into the cluster every second.
    let deadline = Instant::now() + Duration::from_secs(30);
    while gateway.get("/api/v1/me", Some(&finance)).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the token never reached the cluster"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = gateway.get("/api/v1/me", None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(json(&body)["error"]["code"], "unauthorized");
    let (status, _) = gateway.get("/api/v1/consumers/UK6800000002", Some("vso_not-a-token"));
    assert_eq!(status, 401);

    // The nightly run, on both partitions at once: each one's summary and their sum.
    let (status, body) = gateway.post(
        "/api/v1/nightly",
        &finance,
        &format!(r#"{{"as_of":"{AS_OF}"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let summary = json(&body);
    let one = json(&ok(
        &whole,
        &["--format", "json", "nightly", "--as-of", AS_OF],
    ));
    let one = if one.is_array() { one[0].clone() } else { one };
    // The rupees are the ordinary directory's: the partitions' amounts added up.
    for key in ["billed", "collected", "surcharge_levied"] {
        assert_eq!(summary[key], one[key], "{key}: {body}");
    }
    let stages = summary["arrears_by_stage"].as_object().unwrap();
    assert!(!stages.is_empty(), "{body}");
    for (stage, arrears) in stages {
        assert_eq!(arrears, &one[format!("{stage}_arrears")], "{stage}: {body}");
    }
    assert_eq!(
        summary["surcharges"].to_string(),
        one["surcharges"].to_string().trim_matches('"')
    );
    let (n, s) = (
        &summary["partitions"]["north"],
        &summary["partitions"]["south"],
    );
    assert!(n["appended"].as_u64().unwrap() > 0, "{body}");
    assert!(s["appended"].as_u64().unwrap() > 0, "{body}");
    for key in [
        "appended",
        "surcharges",
        "notices",
        "sms_queued",
        "events_read",
    ] {
        assert_eq!(
            summary[key].as_u64(),
            Some(n[key].as_u64().unwrap() + s[key].as_u64().unwrap()),
            "{key}: {body}"
        );
    }
    assert_eq!(summary["as_of"], AS_OF);
    // A date before the last run's: every partition refuses it, and the answer names the
    // first.
    let (status, body) = gateway.post("/api/v1/nightly", &finance, r#"{"as_of":"2026-05-01"}"#);
    assert_eq!(status, 422, "{body}");
    let message = json(&body)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("partition north: ") && message.contains("the run finished on: none"),
        "{message}"
    );
    let (status, _) = gateway.post("/api/v1/nightly", &officer, r#"{"as_of":"2026-05-31"}"#);
    assert_eq!(status, 403);

    // A south account's statement and a south subdivision's defaulters, with north's token:
    // the ordinary directory's.
    // A CSV answer of the gateway to the finance token equals the ordinary directory's to the
    // same command, and lists something.
    let as_whole = |path: &str, args: &[&str]| -> String {
        let (status, body) = gateway.get(path, Some(&finance));
        assert_eq!(status, 200, "{path}: {body}");
        let mut all = vec!["--format", "csv"];
        all.extend_from_slice(args);
        assert_eq!(body, ok(&whole, &all), "{path}");
        assert!(body.lines().count() > 1, "{path}: {body}");
        body
    };
    let south_account = "UK6800000002";
    let (status, body) = gateway.get(
        &format!("/api/v1/consumers/{south_account}"),
        Some(&finance),
    );
    assert_eq!(status, 200, "{body}");
    let want = ok(
        &whole,
        &["--format", "json", "statement", "--account", south_account],
    );
    assert_eq!(json(&body), json(&want));
    let body = as_whole(
        "/api/v1/offices/SD-S1/defaulters?format=csv&limit=10000",
        &["defaulters", "--office", "SD-S1"],
    );
    assert!(body.lines().count() > 10, "{body}");
    as_whole(
        "/api/v1/offices/D-N/defaulters?format=csv&limit=10000",
        &["defaulters", "--office", "D-N"],
    );
    // The circle above both divisions is in two partitions: its lists are both partitions'
    // rows merged, as one directory lists them, a page at a time too.
    let (status, body) = gateway.get(
        "/api/v1/offices/C-R/defaulters?format=csv&limit=10000",
        Some(&finance),
    );
    assert_eq!(status, 200, "{body}");
    let whole_list = ok(
        &whole,
        &["--format", "csv", "defaulters", "--office", "C-R"],
    );
    assert_eq!(body, whole_list);
    let lines: Vec<&str> = whole_list.lines().collect();
    assert!(lines.len() > 100, "{whole_list}");
    let (status, body) = gateway.get(
        "/api/v1/offices/C-R/defaulters?format=csv&offset=40&limit=25",
        Some(&finance),
    );
    assert_eq!(status, 200, "{body}");
    let mut want = vec![lines[0]];
    want.extend(&lines[41..66]);
    assert_eq!(body.lines().collect::<Vec<_>>(), want);
    let (status, body) = gateway.get(
        "/api/v1/offices/C-R/defaulters?offset=40&limit=25",
        Some(&finance),
    );
    assert_eq!(status, 200, "{body}");
    let accounts: Vec<String> = json(&body)
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["account_no"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = lines[41..66]
        .iter()
        .map(|line| line.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(accounts, want);
    let body = as_whole(
        "/api/v1/offices/Z-R/worklists/serve_notice?format=csv&limit=10000",
        &["worklist", "--office", "Z-R", "--kind", "serve_notice"],
    );
    assert!(body.lines().count() > 10, "{body}");
    let (status, _) = http(
        &gateway.addr,
        "HEAD",
        "/api/v1/offices/C-R/defaulters?offset=40&limit=25",
        Some(&finance),
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    // Past the first 10,000 rows, and the reports that cannot be merged: refused, naming
    // the partitions.
    let (status, body) = gateway.get(
        "/api/v1/offices/C-R/defaulters?offset=9995&limit=10",
        Some(&finance),
    );
    assert_eq!(status, 422, "{body}");
    let (status, body) = gateway.get("/api/v1/offices/C-R/campaign", Some(&finance));
    assert_eq!(status, 422, "{body}");
    assert!(
        json(&body)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("partitions north, south"),
        "{body}"
    );
    // A query one process refuses is refused alike.
    let (status, _) = gateway.get("/api/v1/offices/C-R/defaulters?limit=x", Some(&finance));
    assert_eq!(status, 400);
    let (status, _) = gateway.get("/api/v1/offices/C-R/defaulters?stage=nope", Some(&finance));
    assert_eq!(status, 400);

    // An officer of SD-N1 reads its own office, and nothing of south's, existing or not.
    let (status, _) = gateway.get("/api/v1/offices/SD-N1/defaulters", Some(&officer));
    assert_eq!(status, 200);
    for path in [
        "/api/v1/consumers/UK6800000002",
        "/api/v1/consumers/UK6899999999",
        "/api/v1/offices/SD-S1/defaulters",
    ] {
        let (status, body) = gateway.get(path, Some(&officer));
        assert_eq!(status, 403, "{path}: {body}");
    }
    // The circle above both: outside the officer's office comes first (403), as on one
    // process, rather than the refusal of an office in two partitions.
    let (status, body) = gateway.get("/api/v1/offices/C-R/defaulters", Some(&officer));
    assert_eq!(status, 403, "{body}");
    // An officer of south's subdivision, with a token made on north, reads south's account
    // (answered by south, which holds it) and not north's.
    let (status, body) = gateway.get(
        &format!("/api/v1/consumers/{south_account}"),
        Some(&officer_s1),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["account_no"], south_account, "{body}");
    let (status, _) = gateway.get("/api/v1/consumers/UK6800000000", Some(&officer_s1));
    assert_eq!(status, 403);
    let (status, body) = gateway.get("/api/v1/consumers/UK6899999999", Some(&finance));
    assert_eq!(status, 404, "{body}");
    // The owner's answer comes with its header fields: the page's content security policy.
    let head = raw_head(&gateway.addr, "/");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy:"),
        "{head}"
    );
    // Rankings are for the utility's readers only.
    let (status, _) = gateway.get("/api/v1/rankings?period=2026-05", Some(&officer));
    assert_eq!(status, 403);

    // Rankings and awards over both partitions, once both published their figures: the
    // ordinary directory's.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rankings = loop {
        let (status, body) = gateway.get(
            "/api/v1/rankings?period=2026-05&level=subdivision&format=csv",
            Some(&finance),
        );
        if status == 200 {
            break body;
        }
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("has published no figures"), "{body}");
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let want = ok(
        &whole,
        &[
            "--format",
            "csv",
            "rankings",
            "--period",
            "2026-05",
            "--level",
            "subdivision",
        ],
    );
    assert_eq!(rankings, want);
    assert_eq!(rankings.lines().count(), 4, "{rankings}");
    as_whole(
        "/api/v1/rankings?period=FY2026-27&level=division&format=csv",
        &["rankings", "--period", "FY2026-27", "--level", "division"],
    );
    as_whole(
        "/api/v1/awards?period=2026-05&format=csv",
        &["awards", "--period", "2026-05"],
    );
    let (status, body) = gateway.get("/api/v1/rankings?period=2026-05&level=zone", Some(&finance));
    assert_eq!(status, 400, "{body}");

    // Commands of one partition are written there; a batch spanning both is refused whole.
    let payment = |receipt: &str, account: &str| {
        format!(
            r#"{{"type":"receive_payment","receipt_no":"{receipt}","account_no":"{account}","amount":"150.00","paid_on":"2026-05-30","channel":"upi"}}"#
        )
    };
    let last_positions = || {
        let out = ok(
            &cwd,
            &["cluster", "status", "--servers", &servers, "--json"],
        );
        let status = json(&out);
        status["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["partition"].to_string(),
                    p["last_sequence"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = last_positions();
    let both = format!(
        "[{},{}]",
        payment("RG-1", "UK6800000000"),
        payment("RG-2", south_account)
    );
    let (status, body) = gateway.post("/api/v1/commands", &finance, &both);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("partitions north, south"), "{body}");
    // A command that does not read comes before the refusal, as on one process: 400.
    let unreadable = format!(
        "[{},{},{{\"type\":\"no_such_command\"}}]",
        payment("RG-1", "UK6800000000"),
        payment("RG-2", south_account)
    );
    let (status, body) = gateway.post("/api/v1/commands", &finance, &unreadable);
    assert_eq!(status, 400, "{body}");
    assert_eq!(last_positions(), before, "nothing was written");
    // A token that may not write hears that first.
    let (status, body) = gateway.post("/api/v1/commands", &hq, &both);
    assert_eq!(status, 403, "{body}");
    let (status, body) = gateway.post("/api/v1/commands", &officer, &both);
    assert_eq!(status, 403, "{body}");
    assert_eq!(last_positions(), before, "nothing was written");
    let (status, body) = gateway.post(
        "/api/v1/commands",
        &finance,
        &payment("RG-2", south_account),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["appended"], 1, "{body}");
    let (status, body) = gateway.post(
        "/api/v1/commands",
        &finance,
        &payment("RG-2", south_account),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["duplicates"], 1, "{body}");
    // Written on south, and only there.
    let statement = ok(
        &south_dir,
        &["--format", "json", "statement", "--account", south_account],
    );
    assert!(statement.contains("RG-2"), "{statement}");
    // The owner answers for what no partition holds: the account is unknown.
    let (status, body) = gateway.post(
        "/api/v1/commands",
        &finance,
        &payment("RG-3", "UK6899999999"),
    );
    assert_eq!(status, 404, "{body}");
    // An import whose rows are all north's goes to north.
    let (status, body) = gateway.post(
        "/api/v1/import/payments",
        &finance,
        "receipt_no,account_no,amount,paid_on,channel\n\
         RG-4,UK6800000000,100.00,2026-05-30,upi\n\
         RG-5,UK6800000001,100.00,2026-05-30,upi\n",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["appended"], 2, "{body}");
    let statement = ok(
        &north_dir,
        &["--format", "json", "statement", "--account", "UK6800000001"],
    );
    assert!(statement.contains("RG-5"), "{statement}");
    // An officer's command outside its office: 403, as on one process.
    let (status, body) = gateway.post(
        "/api/v1/commands",
        &officer,
        &payment("RG-6", south_account),
    );
    assert_eq!(status, 403, "{body}");

    // South's owner dies: the gateway's requests reach its standby once it took over,
    // with no address to change.
    let mut south_b = Owner::start(&tmp.path().join("south-b"), &servers, "south");
    south_b.wait_line("standby for partition south", Duration::from_secs(60));
    let (_, before_kill) = gateway.get(
        &format!("/api/v1/consumers/{south_account}"),
        Some(&finance),
    );
    south.signal("-KILL");
    let (status, body) = gateway.get(
        &format!("/api/v1/consumers/{south_account}"),
        Some(&finance),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), json(&before_kill));
    south_b.wait_line("listening on http://", Duration::from_secs(60));
    let (status, body) = gateway.post(
        "/api/v1/commands",
        &finance,
        &payment("RG-7", south_account),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["appended"], 1, "{body}");

    // A token revoked on north stops working through the gateway once the owner copied its
    // table into the cluster.
    assert_eq!(gateway.get("/api/v1/me", Some(&doomed)).0, 200);
    ok(&north_dir, &["tokens", "revoke", "doomed"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while gateway.get("/api/v1/me", Some(&doomed)).0 != 401 {
        assert!(Instant::now() < deadline, "the revoked token still works");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The owners stop cleanly.
    drop(gateway);
    assert_eq!(north.interrupt(), Some(0));
    assert_eq!(south_b.interrupt(), Some(0));
    let statement = ok(
        &tmp.path().join("south-b"),
        &["--format", "json", "statement", "--account", south_account],
    );
    assert!(
        statement.contains("RG-7") && statement.contains("RG-2"),
        "{statement}"
    );
    drop(cluster);
}
