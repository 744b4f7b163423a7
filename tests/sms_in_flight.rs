//! The sender with many requests in flight, the real `vasooli sms send` against a loopback
//! gateway that records every post: SIGKILLed with requests in flight and started again,
//! no message whose success was recorded is posted again and every message reaches the
//! gateway exactly once by idempotency key; a storm of 429s slows it down and loses nothing;
//! a message that breaks the DLT rules is failed with the reason and never posted.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod common;
use common::{ok, parse_csv, sms_attempts, vasooli, write, Row};

/// Upper bound on any one wait.
const PATIENCE: Duration = Duration::from_secs(300);

/// Offices and `n` consumers with a mobile and a bill issued 2026-07-05 of `amount(i)`; the
/// nightly run of that day queues one bill SMS each.
fn seed(dir: &Path, data: &Path, n: usize, amount: impl Fn(usize) -> String) {
    let offices = write(
        dir,
        "offices.csv",
        "code,name,level,parent\nZ1,Zone,zone,\nC1,Circle,circle,Z1\n\
         D1,Dehradun,division,C1\nS1,Rishikesh,subdivision,D1\n",
    );
    let mut consumers =
        String::from("account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n");
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    for i in 1..=n {
        consumers.push_str(&format!(
            "A{i:04},Consumer {i},domestic,S1,2,2020-01-01,98765{i:05},en\n"
        ));
        bills.push_str(&format!(
            "B{i:04},A{i:04},2026-07,2026-07-05,2026-07-20,{}\n",
            amount(i)
        ));
    }
    let consumers = write(dir, "consumers.csv", &consumers);
    let bills = write(dir, "bills.csv", &bills);
    for (kind, file) in [
        ("offices", &offices),
        ("consumers", &consumers),
        ("bills", &bills),
    ] {
        ok(data, &["import", kind, file.to_str().unwrap()]);
    }
    ok(data, &["nightly", "--as-of", "2026-07-05"]);
}

fn outbox(data: &Path) -> Vec<Row> {
    parse_csv(&ok(data, &["--format", "csv", "sms", "outbox"])).1
}

/// What the gateway does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Accepts every request after `delay_ms`.
    Accept { delay_ms: u64 },
    /// Holds every request without answering once it has accepted this many distinct
    /// messages, until released.
    HoldAfter { accepted: usize },
    /// Answers 429 to any request that arrives while `max` others are being served; the
    /// rest are accepted after `delay_ms`.
    Throttle { max: usize, delay_ms: u64 },
}

#[derive(Default)]
struct Gateway {
    mode: Option<Mode>,
    /// Every post: (idempotency key, message id of the body, the phase it came in).
    posts: Vec<(String, String, u32)>,
    /// The test's phase: bumped after each kill.
    phase: u32,
    /// Distinct messages accepted with 2xx, in order.
    delivered: Vec<String>,
    delivered_set: HashSet<String>,
    /// 2xx answers per message id.
    accepted: HashMap<String, u32>,
    throttled: usize,
    serving: usize,
    serving_max: usize,
    held: usize,
    released: bool,
    strange: Vec<String>,
}

type Shared = Arc<(Mutex<Gateway>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Gateway> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads one request: its `Idempotency-Key` and its body's `message_id`; `None` for a
/// connection that ended before a whole request came (a killed sender).
fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let (mut length, mut key) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if lower.starts_with("idempotency-key:") {
            key = line["idempotency-key:".len()..].trim().to_string();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some((key, body.get("message_id")?.as_str()?.to_string()))
}

fn answer(stream: &mut TcpStream, status: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    );
}

/// Serves one connection: requests one after another while the client keeps it open.
fn serve(shared: Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    while let Some((key, id)) = read_request(&stream) {
        let (mode, throttle) = {
            let mut g = lock(&shared);
            let phase = g.phase;
            g.posts.push((key.clone(), id.clone(), phase));
            if key != id {
                g.strange.push(format!("key {key} for message {id}"));
            }
            let mode = g.mode.expect("a mode");
            let throttle = matches!(mode, Mode::Throttle { max, .. } if g.serving >= max);
            if throttle {
                g.throttled += 1;
            } else {
                g.serving += 1;
                g.serving_max = g.serving_max.max(g.serving);
            }
            (mode, throttle)
        };
        if throttle {
            answer(&mut stream, "429 Too Many Requests");
            continue;
        }
        match mode {
            Mode::Accept { delay_ms } | Mode::Throttle { delay_ms, .. } => {
                std::thread::sleep(Duration::from_millis(delay_ms))
            }
            Mode::HoldAfter { accepted } => {
                let mut g = lock(&shared);
                if g.delivered.len() >= accepted && !g.delivered_set.contains(&id) {
                    g.held += 1;
                    shared.1.notify_all();
                    let started = Instant::now();
                    while !g.released && started.elapsed() < PATIENCE {
                        g = shared
                            .1
                            .wait_timeout(g, Duration::from_millis(50))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    // The sender that posted it is gone: nothing is delivered or answered.
                    g.held -= 1;
                    g.serving -= 1;
                    return;
                }
            }
        }
        {
            let mut g = lock(&shared);
            g.serving -= 1;
            *g.accepted.entry(id.clone()).or_default() += 1;
            if g.delivered_set.insert(id.clone()) {
                g.delivered.push(id);
            }
        }
        answer(&mut stream, "200 OK");
    }
}

fn start_gateway(mode: Mode) -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/sms", listener.local_addr().unwrap());
    let shared: Shared = Arc::new((
        Mutex::new(Gateway {
            mode: Some(mode),
            ..Gateway::default()
        }),
        Condvar::new(),
    ));
    let gateway = shared.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let gateway = gateway.clone();
            std::thread::spawn(move || serve(gateway, stream));
        }
    });
    (url, shared)
}

fn sender(data: &Path, url: &str, in_flight: usize) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vasooli"));
    command
        .arg("--data")
        .arg(data)
        .args(["sms", "send", "--gateway", url, "--in-flight"])
        .arg(in_flight.to_string())
        .stdin(Stdio::null());
    command
}

#[test]
fn a_sender_killed_with_many_in_flight_reposts_only_what_it_never_recorded() {
    const MESSAGES: usize = 300;
    const IN_FLIGHT: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data, MESSAGES, |i| format!("{}.00", 500 + i));
    let ids: Vec<String> = outbox(&data)
        .iter()
        .map(|r| r["message_id"].clone())
        .collect();
    assert_eq!(ids.len(), MESSAGES);

    // The gateway accepts 120 messages, then holds every new one unanswered.
    let (url, gateway) = start_gateway(Mode::HoldAfter { accepted: 120 });
    let mut child = sender(&data, &url, IN_FLIGHT)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL once many requests are held in flight at once.
    let started = Instant::now();
    loop {
        let held = lock(&gateway).held;
        if held >= 16 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sender finished before it was killed"
        );
        assert!(started.elapsed() < PATIENCE, "only {held} requests held");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let held_at_kill = {
        let mut g = lock(&gateway);
        g.phase = 1;
        g.released = true;
        gateway.1.notify_all();
        g.held
    };
    assert_eq!(vasooli(&data, &["verify"]).code, 0);

    // What the killed sender recorded as sent: these must never be posted again.
    let log = sms_attempts(dir.path(), &data);
    let acknowledged: HashSet<String> = log
        .iter()
        .filter(|(_, a)| a.iter().any(|(_, o)| o == "sent"))
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        !acknowledged.is_empty() && acknowledged.len() <= 120,
        "{} recorded as sent before the kill",
        acknowledged.len()
    );

    // Started again, with the gateway accepting everything.
    lock(&gateway).mode = Some(Mode::Accept { delay_ms: 5 });
    let out = sender(&data, &url, IN_FLIGHT).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("sent {}, failed 0", MESSAGES - acknowledged.len())),
        "{stdout}"
    );

    let g = lock(&gateway);
    assert!(g.strange.is_empty(), "{:?}", g.strange);
    assert!(
        g.serving_max >= 16,
        "at most {} requests were in flight together",
        g.serving_max
    );
    // No acknowledged message was posted after the kill.
    let reposted: Vec<&String> = g
        .posts
        .iter()
        .filter(|(_, id, phase)| *phase == 1 && acknowledged.contains(id))
        .map(|(_, id, _)| id)
        .collect();
    assert!(
        reposted.is_empty(),
        "acknowledged yet posted again: {reposted:?}"
    );
    // Every message reached the gateway, each delivered once by its key.
    assert_eq!(g.delivered.len(), MESSAGES);
    let delivered: HashSet<&String> = g.delivered.iter().collect();
    assert!(ids.iter().all(|id| delivered.contains(id)));
    // Posted twice only if it was in flight at the kill, with the same key.
    let mut posts_per_id: HashMap<&str, usize> = HashMap::new();
    for (key, id, _) in &g.posts {
        assert_eq!(key, id);
        *posts_per_id.entry(id).or_default() += 1;
    }
    let twice = posts_per_id.values().filter(|n| **n > 1).count();
    assert!(posts_per_id.values().all(|n| *n <= 2), "{posts_per_id:?}");
    assert!(
        twice >= held_at_kill.min(1),
        "the held messages were posted again after the kill"
    );
    drop(g);

    // The log: one successful attempt per message, attempts numbered from 1.
    let log = sms_attempts(dir.path(), &data);
    assert_eq!(log.len(), MESSAGES);
    for (id, attempts) in &log {
        let sent = attempts.iter().filter(|(_, o)| o == "sent").count();
        assert_eq!(sent, 1, "{id}: {attempts:?}");
        let numbers: Vec<u32> = attempts.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    }
    assert!(outbox(&data).iter().all(|r| r["status"] == "sent"));
    assert_eq!(vasooli(&data, &["verify"]).code, 0);
}

#[test]
fn a_storm_of_429s_slows_the_sender_and_loses_nothing() {
    const MESSAGES: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data, MESSAGES, |i| format!("{}.00", 500 + i));
    // At most 4 served at once; the sender starts with 64 in flight.
    let (url, gateway) = start_gateway(Mode::Throttle {
        max: 4,
        delay_ms: 20,
    });
    let out = sender(&data, &url, 64).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("sent {MESSAGES}, failed 0")),
        "{stdout}"
    );
    assert!(stderr.contains("asked to slow down"), "{stderr}");

    let g = lock(&gateway);
    assert!(g.throttled > 0, "the gateway never throttled");
    // Slowed down: a sender that kept 64 in flight and re-posted each refused message at once
    // draws some 600 refusals here; one that halves its bound and pauses draws about 100.
    assert!(
        g.throttled < 3 * MESSAGES,
        "{} answers 429 for {MESSAGES} messages: the sender did not slow down",
        g.throttled
    );
    assert!(g.strange.is_empty(), "{:?}", g.strange);
    assert_eq!(g.delivered.len(), MESSAGES);
    assert!(g.accepted.values().all(|n| *n == 1), "{:?}", g.accepted);
    drop(g);
    // A 429 is not an attempt: each message was sent on its first.
    let log = sms_attempts(dir.path(), &data);
    assert_eq!(log.len(), MESSAGES);
    for (id, attempts) in &log {
        assert_eq!(attempts, &vec![(1, "sent".to_string())], "{id}");
    }
    assert!(outbox(&data)
        .iter()
        .all(|r| r["status"] == "sent" && r["attempts"] == "1"));
}

#[test]
fn a_template_variable_over_its_dlt_limit_is_failed_with_the_reason_and_not_posted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Every variable of the bill SMS fits in 10 characters but an amount of 12.
    let policy = write(
        dir.path(),
        "policy.toml",
        "[sms.dlt]\nvariable_max_chars = 10\n",
    );
    fs::create_dir_all(&data).unwrap();
    fs::copy(&policy, data.join("policy.toml")).unwrap();
    seed(dir.path(), &data, 3, |i| {
        if i == 2 {
            "123456789.00".into()
        } else {
            format!("{i}0.00")
        }
    });
    let (url, gateway) = start_gateway(Mode::Accept { delay_ms: 1 });
    let run = vasooli(&data, &["sms", "send", "--gateway", &url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("sent 2, failed 1"), "{}", run.stdout);

    let rows = outbox(&data);
    let refused = rows.iter().find(|r| r["account_no"] == "A0002").unwrap();
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["attempts"], "0");
    assert!(
        refused["detail"].contains("`amount`") && refused["detail"].contains("12 characters"),
        "{refused:?}"
    );
    let g = lock(&gateway);
    assert_eq!(g.posts.len(), 2, "{:?}", g.posts);
    assert!(g
        .posts
        .iter()
        .all(|(_, id, _)| *id != refused["message_id"]));
    drop(g);
    // The refusal is an event of its own, and sending again posts nothing.
    let export = dir.path().join("export.jsonl");
    ok(&data, &["export", "--out", export.to_str().unwrap()]);
    let text = fs::read_to_string(&export).unwrap();
    assert_eq!(text.matches("\"sms_rejected\"").count(), 1, "{text}");
    let run = vasooli(&data, &["sms", "send", "--gateway", &url]);
    assert!(run.stdout.contains("sent 0, failed 0"), "{}", run.stdout);
    assert_eq!(lock(&gateway).posts.len(), 2);
    let failed = parse_csv(&ok(
        &data,
        &["--format", "csv", "sms", "outbox", "--status", "failed"],
    ))
    .1;
    assert_eq!(failed.len(), 1);
}

#[test]
fn a_sender_header_that_breaks_the_dlt_rules_stops_the_send_before_anything_is_posted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("policy.toml"),
        "[sms]\nsender = \"UPCL\"\n[sms.dlt]\nrequire_entity_id = true\n",
    )
    .unwrap();
    seed(dir.path(), &data, 2, |i| format!("{i}0.00"));
    let (url, gateway) = start_gateway(Mode::Accept { delay_ms: 1 });
    let before = sms_attempts(dir.path(), &data);
    let run = vasooli(&data, &["sms", "send", "--gateway", &url]);
    assert_eq!(run.code, 3, "{} {}", run.stdout, run.stderr);
    assert!(run.stderr.contains("sms.sender"), "{}", run.stderr);
    assert!(lock(&gateway).posts.is_empty());
    assert_eq!(sms_attempts(dir.path(), &data), before);
    assert!(outbox(&data).iter().all(|r| r["status"] == "queued"));

    // With a proper header but no entity id, the entity id is named.
    fs::write(
        data.join("policy.toml"),
        "[sms.dlt]\nrequire_entity_id = true\n",
    )
    .unwrap();
    let run = vasooli(&data, &["sms", "send", "--gateway", &url]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("sms.entity_id"), "{}", run.stderr);
    assert!(lock(&gateway).posts.is_empty());
}
