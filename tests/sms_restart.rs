//! Sending the SMS outbox to a real HTTP gateway on loopback that is slow, refuses some
//! requests and lets others time out, while the sender is SIGKILLed midway and started again:
//! every message ends `sent` exactly once or `failed` after its retries, and nothing is
//! recorded as sent twice.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Queued messages, one bill SMS per consumer.
const MESSAGES: usize = 40;
/// The sender's time-out of one attempt.
const TIMEOUT_MS: u64 = 500;
/// How long the gateway takes over an ordinary request.
const SLOW_MS: u64 = 100;
/// How long the gateway sits on a request it lets time out: well past `TIMEOUT_MS`.
const STALL_MS: u64 = 2_000;
/// Attempts after which the outbox counts a message as failed (docs/CLI.md, `sms send`).
const ATTEMPTS_MAX: u32 = 5;
/// Upper bound on any one wait for the sender or the gateway.
const PATIENCE: Duration = Duration::from_secs(300);
/// Most connections the gateway serves.
const CONNECTIONS_MAX: usize = 2_000;

mod common;
use common::{ok, sms_attempts, vasooli, write};

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn column_index(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// Offices and `MESSAGES` consumers with a mobile, each with one bill issued on 2026-07-05;
/// the nightly run of that day queues one bill SMS for each.
fn seed(dir: &Path, data: &Path) {
    let offices = write(
        dir,
        "offices.csv",
        "code,name,level,parent\nZ1,गढ़वाल,zone,\nC1,देहरादून वृत्त,circle,Z1\n\
         D1,Dehradun,division,C1\nS1,Rishikesh,subdivision,D1\n",
    );
    let mut consumers =
        String::from("account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n");
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    for i in 1..=MESSAGES {
        let language = if i % 2 == 0 { "hi" } else { "en" };
        consumers.push_str(&format!(
            "A{i:03},Consumer {i},domestic,S1,2,2020-01-01,+91 98765 {i:05},{language}\n"
        ));
        bills.push_str(&format!(
            "B{i:03},A{i:03},2026-07,2026-07-05,2026-07-20,{}.00\n",
            500 + i
        ));
    }
    let consumers = write(dir, "consumers.csv", &consumers);
    let bills = write(dir, "bills.csv", &bills);
    for (kind, file) in [
        ("offices", &offices),
        ("consumers", &consumers),
        ("bills", &bills),
    ] {
        let out = ok(data, &["import", kind, file.to_str().unwrap()]);
        assert!(out.contains("appended"), "{out}");
    }
    ok(data, &["nightly", "--as-of", "2026-07-05"]);
}

/// What the gateway does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// 200: the message is delivered (or, for a repeat of a delivered id, dropped as one).
    Accept,
    /// 500.
    Refuse,
    /// No answer until well past the sender's time-out, then the connection is dropped.
    Stall,
}

/// The gateway's answers to the 1st, 2nd, ... request for the message at `index` in the
/// outbox; the last answer repeats. Every script that accepts does so by the 4th request,
/// leaving one attempt to spare.
fn script(index: usize) -> Vec<Reply> {
    use Reply::*;
    match index % 10 {
        0..=3 => vec![Accept],
        4 => vec![Refuse, Accept],
        5 => vec![Stall, Accept],
        6 => vec![Refuse, Stall, Refuse, Accept],
        7 => vec![Refuse, Refuse, Refuse, Accept],
        8 if index % 20 == 8 => vec![Refuse],
        8 => vec![Refuse, Refuse, Accept],
        _ if index % 20 == 9 => vec![Stall],
        _ => vec![Stall, Stall, Accept],
    }
}

/// Where the gateway holds a request until the test has killed the sender.
#[derive(Clone, Copy, Debug)]
enum Trap {
    /// Right after delivering the n-th distinct message, before answering.
    AtDelivery(usize),
    /// On the next request it is going to let time out.
    AtStall,
}

#[derive(Default)]
struct Gateway {
    scripts: HashMap<String, Vec<Reply>>,
    /// Requests received per message id.
    requests: HashMap<String, u32>,
    /// 2xx answers per message id: the delivery and any repeats dropped as duplicates.
    accepted: HashMap<String, u32>,
    /// Distinct message ids delivered, in order.
    delivered: Vec<String>,
    total: usize,
    /// Requests the gateway could not make sense of.
    strange: Vec<String>,
    /// Connections that ended before a whole request came.
    cut: usize,
    trap: Option<Trap>,
    fired: Option<String>,
    released: bool,
}

type Shared = Arc<(Mutex<Gateway>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Gateway> {
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a connection carried no request the gateway could act on.
enum Unread {
    /// It ended before a whole request came: a sender killed while its requests were still
    /// being written (many are in flight at once), or a connection it opened and never used.
    Cut,
    /// A whole request came, but not one the gateway understands.
    Garbled(String),
}

/// Reads one HTTP request: its `Idempotency-Key` header and the `message_id` of its body.
fn read_request(stream: &TcpStream) -> Result<(String, String), Unread> {
    let mut reader = BufReader::new(stream.try_clone().map_err(|_| Unread::Cut)?);
    let mut length = 0usize;
    let mut key = String::new();
    let mut ended = false;
    for _ in 0..100 {
        let mut line = String::new();
        let read = reader.read_line(&mut line).map_err(|_| Unread::Cut)?;
        if read == 0 {
            return Err(Unread::Cut);
        }
        if line == "\r\n" {
            ended = true;
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v
                .trim()
                .parse()
                .map_err(|_| Unread::Garbled(format!("Content-Length {v}")))?;
        }
        if lower.starts_with("idempotency-key:") {
            key = line["idempotency-key:".len()..].trim().to_string();
        }
    }
    if !ended {
        return Err(Unread::Garbled("headers do not end".into()));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|_| Unread::Cut)?;
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Unread::Garbled(format!("body is not JSON: {e}")))?;
    let id = body
        .get("message_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Unread::Garbled(format!("no message_id in {body}")))?
        .to_string();
    Ok((key, id))
}

fn serve(shared: Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let (key, id) = match read_request(&stream) {
        Ok(request) => request,
        Err(Unread::Cut) => {
            lock(&shared).cut += 1;
            return;
        }
        Err(Unread::Garbled(why)) => {
            lock(&shared).strange.push(why);
            return;
        }
    };
    let (reply, fired) = {
        let mut g = lock(&shared);
        g.total += 1;
        if key != id {
            g.strange
                .push(format!("Idempotency-Key `{key}` for message `{id}`"));
        }
        let Some(script) = g.scripts.get(&id).cloned() else {
            g.strange.push(format!("unknown message `{id}`"));
            drop(g);
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        };
        let n = {
            let n = g.requests.entry(id.clone()).or_default();
            *n += 1;
            *n as usize
        };
        let repeat = g.accepted.contains_key(&id);
        let reply = if repeat {
            Reply::Accept
        } else {
            script[n.min(script.len()) - 1]
        };
        if reply == Reply::Accept {
            *g.accepted.entry(id.clone()).or_default() += 1;
            if !repeat {
                g.delivered.push(id.clone());
            }
        }
        let fire = match g.trap {
            Some(Trap::AtDelivery(k)) => {
                reply == Reply::Accept && !repeat && g.delivered.len() >= k
            }
            Some(Trap::AtStall) => reply == Reply::Stall,
            None => false,
        };
        if fire {
            g.trap = None;
            g.fired = Some(id.clone());
            g.released = false;
            shared.1.notify_all();
            let started = Instant::now();
            while !g.released && started.elapsed() < PATIENCE {
                g = shared
                    .1
                    .wait_timeout(g, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        (reply, fire)
    };
    if fired {
        // The sender is gone; whatever it was waiting for never reaches it.
        return;
    }
    match reply {
        Reply::Accept | Reply::Refuse => {
            std::thread::sleep(Duration::from_millis(SLOW_MS));
            let status = if reply == Reply::Accept {
                "200 OK"
            } else {
                "500 Internal Server Error"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
                 Connection: close\r\n\r\n{{}}"
            );
        }
        Reply::Stall => std::thread::sleep(Duration::from_millis(STALL_MS)),
    }
}

fn start_gateway(scripts: HashMap<String, Vec<Reply>>) -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/sms", listener.local_addr().unwrap());
    let shared: Shared = Arc::new((
        Mutex::new(Gateway {
            scripts,
            ..Gateway::default()
        }),
        Condvar::new(),
    ));
    let gateway = shared.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(CONNECTIONS_MAX) {
            let Ok(stream) = stream else { continue };
            let gateway = gateway.clone();
            std::thread::spawn(move || serve(gateway, stream));
        }
    });
    (url, shared)
}

struct Sender {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

fn start_sender(dir: &Path, data: &Path, url: &str, run: usize) -> Sender {
    let stdout = dir.join(format!("send-{run}.out"));
    let stderr = dir.join(format!("send-{run}.err"));
    let child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args(["sms", "send", "--gateway", url, "--timeout-ms"])
        .arg(TIMEOUT_MS.to_string())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).unwrap())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("the binary starts");
    Sender {
        child,
        stdout,
        stderr,
    }
}

impl Sender {
    fn kill(&mut self) {
        // SIGKILL; a sender that has just finished on its own is fine too.
        let _ = self.child.kill();
        self.child.wait().unwrap();
    }

    /// Waits for the sender to exit by itself; its exit code and output.
    fn finish(mut self) -> (i32, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = fs::read_to_string(&self.stdout).unwrap_or_default();
                let err = fs::read_to_string(&self.stderr).unwrap_or_default();
                return (status.code().unwrap_or(-1), format!("{out}{err}"));
            }
            if started.elapsed() > PATIENCE {
                self.kill();
                panic!("the sender did not finish within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Arms `trap`, starts a sender and SIGKILLs it while the gateway holds the trapped request.
/// The id of that request's message, or None when the sender finished before reaching it.
fn kill_at_trap(
    dir: &Path,
    data: &Path,
    url: &str,
    run: usize,
    gateway: &Shared,
    trap: Trap,
) -> Option<String> {
    {
        let mut g = lock(gateway);
        g.trap = Some(trap);
        g.fired = None;
    }
    let mut sender = start_sender(dir, data, url, run);
    let started = Instant::now();
    loop {
        let fired = {
            let mut g = lock(gateway);
            if g.fired.is_none() {
                g = gateway
                    .1
                    .wait_timeout(g, Duration::from_millis(50))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            g.fired.take()
        };
        if let Some(id) = fired {
            sender.kill();
            let mut g = lock(gateway);
            g.released = true;
            gateway.1.notify_all();
            return Some(id);
        }
        if sender.child.try_wait().unwrap().is_some() {
            lock(gateway).trap = None;
            return None;
        }
        if started.elapsed() > PATIENCE {
            sender.kill();
            panic!("run {run}: the gateway never saw {trap:?}");
        }
    }
}

/// Starts a sender and SIGKILLs it at whatever it is doing `delay_ms` after the gateway has
/// seen a few more requests. Whether it was still running when killed.
fn kill_after_requests(
    dir: &Path,
    data: &Path,
    url: &str,
    run: usize,
    gateway: &Shared,
    delay_ms: u64,
) -> bool {
    let start = lock(gateway).total;
    let mut sender = start_sender(dir, data, url, run);
    let started = Instant::now();
    while lock(gateway).total < start + 3 {
        if sender.child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "run {run}: the gateway saw no requests"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    let running = sender.child.try_wait().unwrap().is_none();
    sender.kill();
    running
}

#[test]
fn sms_end_sent_once_or_failed_across_sender_kills() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(dir.path(), &data);

    let outbox = csv_rows(&ok(&data, &["sms", "outbox", "--format", "csv"]));
    let (id_col, status_col, attempts_col) = (
        column_index(&outbox, "message_id"),
        column_index(&outbox, "status"),
        column_index(&outbox, "attempts"),
    );
    assert_eq!(outbox.len() - 1, MESSAGES, "one bill SMS each: {outbox:?}");
    assert!(outbox[1..].iter().all(|r| r[status_col] == "queued"));
    let ids: Vec<String> = outbox[1..].iter().map(|r| r[id_col].clone()).collect();
    let scripts: HashMap<String, Vec<Reply>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), script(i)))
        .collect();
    let (url, gateway) = start_gateway(scripts.clone());

    // 1. Killed after the gateway delivered a message but before the sender heard so.
    let unacknowledged = kill_at_trap(dir.path(), &data, &url, 1, &gateway, Trap::AtDelivery(6))
        .expect("the first sender is killed at the 6th delivery");
    let delivered = lock(&gateway).delivered.len();
    assert!(delivered < MESSAGES, "killed midway: {delivered} delivered");
    assert_eq!(vasooli(&data, &["verify"]).code, 0);

    // 2. Killed while waiting on a request the gateway lets time out.
    let stalled = kill_at_trap(dir.path(), &data, &url, 2, &gateway, Trap::AtStall)
        .expect("the second sender is killed on a stalled request");
    assert_eq!(vasooli(&data, &["verify"]).code, 0);

    // 3. Killed at whatever it is doing: a request, a backoff or recording an attempt.
    let mut arbitrary_kills = 0;
    for (run, delay_ms) in (3..).zip([170, 45, 320, 90]) {
        if !kill_after_requests(dir.path(), &data, &url, run, &gateway, delay_ms) {
            break;
        }
        arbitrary_kills += 1;
        assert_eq!(vasooli(&data, &["verify"]).code, 0);
    }

    // Started again until one run goes through.
    let mut finished = None;
    for run in 7..11 {
        let (code, out) = start_sender(dir.path(), &data, &url, run).finish();
        if code == 0 {
            finished = Some(out);
            break;
        }
        eprintln!("run {run} exited {code}: {out}");
    }
    let out = finished.expect("a sender started again finishes with exit 0");
    assert!(out.contains("sent ") && out.contains("failed "), "{out}");

    // Every message ended `sent` or `failed`, as its script says.
    let outbox = csv_rows(&ok(&data, &["sms", "outbox", "--format", "csv"]));
    assert_eq!(outbox.len() - 1, MESSAGES);
    let g = lock(&gateway);
    assert!(g.strange.is_empty(), "{:?}", g.strange);
    let mut statuses: HashMap<String, (String, u32)> = HashMap::new();
    for row in &outbox[1..] {
        let (id, status) = (&row[id_col], &row[status_col]);
        let attempts: u32 = row[attempts_col].parse().unwrap();
        let accepts = scripts[id].contains(&Reply::Accept);
        match status.as_str() {
            "sent" => {
                assert!(accepts, "{id} is sent though the gateway never accepts it");
                assert!(
                    g.accepted.get(id).copied().unwrap_or(0) >= 1,
                    "{id} is sent but the gateway never answered 2xx for it"
                );
                assert!(attempts <= ATTEMPTS_MAX, "{id}: {attempts} attempts");
            }
            "failed" => {
                assert!(!accepts, "{id} failed though the gateway accepts it");
                assert_eq!(
                    attempts, ATTEMPTS_MAX,
                    "{id} failed before its retries ran out"
                );
                assert!(
                    !g.accepted.contains_key(id),
                    "{id} failed but was delivered"
                );
                assert!(
                    g.requests[id] >= ATTEMPTS_MAX,
                    "{id} failed after {} requests",
                    g.requests[id]
                );
            }
            other => panic!("{id} is left `{other}`"),
        }
        statuses.insert(id.clone(), (status.clone(), attempts));
    }
    let sent = statuses.values().filter(|(s, _)| s == "sent").count();
    assert!(sent > 0 && sent < MESSAGES, "{sent} of {MESSAGES} sent");
    // The gateway delivered each sent message, and only those (it drops repeats by id).
    assert_eq!(g.delivered.len(), sent, "delivered: {:?}", g.delivered);
    assert!(g.delivered.iter().all(|id| statuses[id].0 == "sent"));

    // The message in flight at the first kill was sent again and dropped as a repeat.
    assert_eq!(statuses[&unacknowledged].0, "sent");
    assert!(
        g.requests[&unacknowledged] >= 2,
        "{unacknowledged} was not sent again after the lost answer"
    );
    assert!(g.accepted[&unacknowledged] >= 2);
    // The stalled message was taken up again after the second kill.
    assert!(
        g.requests[&stalled] >= 2,
        "{stalled} was not taken up again"
    );
    let total = g.total;
    let repeats: u32 = g.accepted.values().map(|n| n - 1).sum();
    eprintln!(
        "{sent} sent, {} failed, {total} requests, {repeats} repeats dropped by the gateway; \
         killed on the answer for {unacknowledged}, on the stalled {stalled}, and \
         {arbitrary_kills} times at an arbitrary moment",
        MESSAGES - sent,
    );
    drop(g);

    // The log records at most one successful attempt per message, attempts numbered from
    // 1 without gaps or repeats, ending with the status the outbox shows.
    let log = sms_attempts(dir.path(), &data);
    for (id, (status, attempts)) in &statuses {
        let recorded = log.get(id).cloned().unwrap_or_default();
        let numbers: Vec<u32> = recorded.iter().map(|(n, _)| *n).collect();
        let expected: Vec<u32> = (1..=*attempts).collect();
        assert_eq!(numbers, expected, "{id}: attempts recorded {recorded:?}");
        let successes = recorded.iter().filter(|(_, o)| o == "sent").count();
        match status.as_str() {
            "sent" => {
                assert_eq!(successes, 1, "{id}: {recorded:?}");
                assert_eq!(recorded.last().unwrap().1, "sent", "{id}: {recorded:?}");
            }
            _ => assert_eq!(successes, 0, "{id}: {recorded:?}"),
        }
    }
    assert!(
        log.keys().all(|id| statuses.contains_key(id)),
        "attempts for unknown messages: {:?}",
        log.keys().collect::<Vec<_>>()
    );

    // Sending again has nothing left to send and posts nothing.
    let (code, out) = start_sender(dir.path(), &data, &url, 11).finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("sent 0, failed 0"), "{out}");
    assert_eq!(
        lock(&gateway).total,
        total,
        "a finished outbox posted again"
    );
    assert_eq!(vasooli(&data, &["verify"]).code, 0);
}
