//! The server runs the SMS sender itself (policy `sms.send.serve`): the real `vasooli serve`
//! with a loopback gateway; a nightly run asked for over the API queues bill SMS, and they
//! reach the gateway, once each, without anyone running `vasooli sms send`.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{ok, parse_csv, write};

const MESSAGES: usize = 25;
const PATIENCE: Duration = Duration::from_secs(120);

/// Message id to the requests the gateway got for it.
type Seen = Arc<Mutex<HashMap<String, u32>>>;

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some(body.get("message_id")?.as_str()?.to_string())
}

fn start_gateway() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/sms", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let gateway = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = gateway.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                while let Some(id) = read_request(&mut reader) {
                    *seen.lock().unwrap().entry(id).or_default() += 1;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: 2\r\n\r\n{{}}"
                    );
                }
            });
        }
    });
    (url, seen)
}

#[test]
fn the_server_sends_what_the_nightly_run_queues() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let (url, seen) = start_gateway();
    fs::write(
        data.join("policy.toml"),
        format!(
            "[sms.send]\nserve = true\ngateway = \"{url}\"\ninterval_seconds = 1\n\
             in_flight = 8\n"
        ),
    )
    .unwrap();
    let offices = write(
        dir.path(),
        "offices.csv",
        "code,name,level,parent\nZ1,Zone,zone,\nC1,Circle,circle,Z1\n\
         D1,Dehradun,division,C1\nS1,Rishikesh,subdivision,D1\n",
    );
    let mut consumers =
        String::from("account_no,name,category,subdivision,load_kw,connected_on,mobile,language\n");
    let mut bills = String::from("bill_no,account_no,period,issued_on,due_on,amount\n");
    for i in 1..=MESSAGES {
        consumers.push_str(&format!(
            "A{i:03},Consumer {i},domestic,S1,2,2020-01-01,98765{i:05},hi\n"
        ));
        bills.push_str(&format!(
            "B{i:03},A{i:03},2026-07,2026-07-05,2026-07-20,{}.00\n",
            300 + i
        ));
    }
    let consumers = write(dir.path(), "consumers.csv", &consumers);
    let bills = write(dir.path(), "bills.csv", &bills);
    for (kind, file) in [
        ("offices", &offices),
        ("consumers", &consumers),
        ("bills", &bills),
    ] {
        ok(&data, &["import", kind, file.to_str().unwrap()]);
    }
    let token = ok(
        &data,
        &["tokens", "create", "--role", "admin", "--name", "ops"],
    );
    let token = token.trim().to_string();

    let mut server = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("listening on ") {
            break rest.trim().to_string();
        }
    };
    // Nothing is queued yet, so nothing is posted.
    assert!(seen.lock().unwrap().is_empty());

    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let response = http
        .post(format!("{base}/api/v1/nightly"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"as_of": "2026-07-05"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().unwrap();
    assert_eq!(report["sms_queued"], MESSAGES);

    // The server's own sender delivers them.
    let started = Instant::now();
    while seen.lock().unwrap().len() < MESSAGES {
        assert!(
            started.elapsed() < PATIENCE,
            "the server sent {} of {MESSAGES}",
            seen.lock().unwrap().len()
        );
        assert!(server.try_wait().unwrap().is_none(), "the server stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    // While it runs, the API still answers, and the statement shows the messages sent.
    let started = Instant::now();
    loop {
        let statement: serde_json::Value = http
            .get(format!("{base}/api/v1/consumers/A001"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if statement["sms"][0]["status"] == "sent" {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "{statement}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Stopped with ^C, as an operator would.
    Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while server.try_wait().unwrap().is_none() {
        if started.elapsed() > PATIENCE {
            server.kill().unwrap();
            panic!("the server did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), MESSAGES);
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    let (_, rows) = parse_csv(&ok(&data, &["--format", "csv", "sms", "outbox"]));
    assert_eq!(rows.len(), MESSAGES);
    for row in &rows {
        assert_eq!(row["status"], "sent", "{row:?}");
        assert_eq!(row["attempts"], "1", "{row:?}");
        assert!(seen.contains_key(&row["message_id"]));
    }
    // Nothing left for `vasooli sms send`.
    let out = ok(&data, &["sms", "send", "--gateway", &url]);
    assert!(out.contains("sent 0, failed 0"), "{out}");
}
