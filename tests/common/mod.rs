//! Helpers shared by the end-to-end tests that run the `vasooli` binary.
#![allow(dead_code)]

pub mod divisions;
pub mod env;
pub mod owner;
pub mod spec;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One run of the binary: its exit code and what it printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `vasooli --data DATA ARGS...` and waits for it.
pub fn vasooli(data: &Path, args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_vasooli"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the binary, asserts it exits 0 and returns its standard output.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let run = vasooli(data, args);
    assert_eq!(run.code, 0, "vasooli {args:?} failed: {}", run.stderr);
    run.stdout
}

/// The events of `data`'s log (exported to `out`) without their recorded times, which differ
/// between runs: stream and event, one a line, sorted.
pub fn events(data: &Path, out: &Path) -> Vec<String> {
    ok(data, &["export", "--out", out.to_str().unwrap()]);
    let mut lines: Vec<String> = fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            format!("{} {}", v["stream"], v["event"])
        })
        .collect();
    lines.sort();
    lines
}

/// Writes a file into `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// One CSV row by column name.
pub type Row = std::collections::BTreeMap<String, String>;

/// The header and the rows of a CSV text (a leading BOM is skipped).
pub fn parse_csv(text: &str) -> (Vec<String>, Vec<Row>) {
    let text = text.trim_start_matches('\u{feff}');
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .expect("csv header")
        .iter()
        .map(String::from)
        .collect();
    let rows = rdr
        .records()
        .map(|r| {
            let r = r.expect("csv record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

/// The `account_no` of each row, in order.
pub fn accounts(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| r["account_no"].clone()).collect()
}

/// The row of an account, if listed.
pub fn find<'a>(rows: &'a [Row], account: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r["account_no"] == account)
}

/// The row of an account, which must be listed.
pub fn row<'a>(rows: &'a [Row], account: &str) -> &'a Row {
    find(rows, account).unwrap_or_else(|| panic!("{account} not listed in {rows:#?}"))
}

/// The `sms_attempted` events of the log, exported through `vasooli export` into `dir`:
/// message id to (attempt, outcome), in log order.
pub fn sms_attempts(
    dir: &Path,
    data: &Path,
) -> std::collections::BTreeMap<String, Vec<(u32, String)>> {
    let file = dir.join("export.jsonl");
    ok(data, &["export", "--out", file.to_str().unwrap()]);
    let mut attempts: std::collections::BTreeMap<String, Vec<(u32, String)>> = Default::default();
    for line in fs::read_to_string(&file).unwrap().lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(a) = value["event"].get("sms_attempted") {
            let attempt = a["attempt"].as_u64().unwrap();
            attempts
                .entry(a["message_id"].as_str().unwrap().to_string())
                .or_default()
                .push((
                    u32::try_from(attempt).expect("an attempt number fits u32"),
                    a["outcome"].as_str().unwrap().to_string(),
                ));
        }
    }
    attempts
}

/// `127.0.0.1:PORT` with a port free a moment ago, for a server the test starts.
pub fn free_loopback_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `vasooli serve` on a free loopback port, until stopped or dropped (dropping kills it).
pub struct Server {
    pub child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    /// Starts the server on `data` and waits until `/health` answers.
    pub fn start(data: &Path) -> Server {
        let addr = free_loopback_addr();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
            .arg("--data")
            .arg(data)
            .args(["serve", "--addr", &addr])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            assert!(child.try_wait().unwrap().is_none(), "the server exited");
            if http_get(&addr, "/health", None).is_some() {
                return Server { child, addr };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("the server did not come up");
    }

    /// `http://ADDR`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The status and body of `GET PATH`, with a bearer token when given; `None` when the
    /// server does not answer.
    pub fn get(&self, path: &str, token: Option<&str>) -> Option<(u16, String)> {
        http_get(&self.addr, path, token)
    }

    /// Stops the server as Ctrl-C does and waits for it to exit.
    pub fn stop(self) {
        self.stop_with("-INT");
    }

    /// Stops the server with `signal` (`-INT`, `-TERM`) and waits: it must exit 0.
    pub fn stop_with(mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            // Drop kills it.
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the server did not stop on {signal}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(status.success(), "the server exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status and body of a plain HTTP/1.1 `GET` to a loopback server.
pub fn http_get(addr: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    http(addr, "GET", path, token, None)
}

/// The status and body of a plain HTTP/1.1 request to a loopback server (one connection,
/// closed after the answer; a chunked body is joined). `None` when the server does not
/// answer.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((
        status,
        if chunked {
            unchunk(body)
        } else {
            body.to_string()
        },
    ))
}

/// A chunked HTTP body joined.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
