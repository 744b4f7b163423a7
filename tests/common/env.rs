//! One test environment: a fresh temporary directory with a data directory in it, the binary
//! run on it with the clock fixed at `TEST_TODAY` (the cases run into 2029), input files
//! written beside it, and the lists read back as CSV or JSON. A test file adds the helpers
//! only it needs in its own `impl Env` block.

use super::{parse_csv, Row};
use serde_json::Value;
use std::cell::Cell;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vasooli");
/// Today for the binary in these tests: after every date the cases use.
pub const TEST_TODAY: &str = "2029-12-31";

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub policy: Option<PathBuf>,
    pub seq: Cell<u32>,
}

impl Env {
    pub fn new() -> Env {
        Env {
            tmp: tempfile::tempdir().expect("tempdir"),
            policy: None,
            seq: Cell::new(0),
        }
    }

    pub fn with_policy(toml: &str) -> Env {
        let mut env = Env::new();
        let p = env.tmp.path().join("policy-file.toml");
        fs::write(&p, toml).unwrap();
        env.policy = Some(p);
        env
    }

    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn next_path(&self, stem: &str, ext: &str) -> PathBuf {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        self.tmp.path().join(format!("{stem}-{n}.{ext}"))
    }

    pub fn run_full(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        // The cases run into 2029: the binary's clock is fixed after them.
        cmd.env("VASOOLI_TODAY", TEST_TODAY);
        cmd.env_remove("VASOOLI_DATA")
            .current_dir(self.tmp.path())
            .arg("--data")
            .arg(self.data());
        if let Some(p) = &self.policy {
            cmd.arg("--policy").arg(p);
        }
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn vasooli");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_full(args, None)
    }

    /// [`Env::run`], its output as text.
    pub fn go(&self, args: &[&str]) -> super::Run {
        let output = self.run(args);
        super::Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn code(&self, args: &[&str]) -> Option<i32> {
        self.run(args).status.code()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`vasooli {}` exited {:?}\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    pub fn write(&self, stem: &str, ext: &str, content: &str) -> PathBuf {
        let p = self.next_path(stem, ext);
        fs::write(&p, content).unwrap();
        p
    }

    pub fn import(&self, kind: &str, content: &str) -> (PathBuf, Output) {
        let p = self.write(kind, "csv", content);
        let out = self.run(&["import", kind, p.to_str().unwrap()]);
        (p, out)
    }

    pub fn import_ok(&self, kind: &str, content: &str) -> String {
        let (_, out) = self.import(kind, content);
        assert!(
            out.status.success(),
            "import {kind} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn append_text(&self, text: &str) -> (PathBuf, Output) {
        let p = self.write("commands", "jsonl", text);
        let out = self.run(&["append", p.to_str().unwrap()]);
        (p, out)
    }

    pub fn append(&self, cmds: &[Value]) -> (PathBuf, Output) {
        let mut text = String::new();
        for c in cmds {
            text.push_str(&c.to_string());
            text.push('\n');
        }
        self.append_text(&text)
    }

    pub fn append_ok(&self, cmds: &[Value]) {
        let (_, out) = self.append(cmds);
        assert!(
            out.status.success(),
            "append of {} failed ({:?}): {}",
            Value::Array(cmds.to_vec()),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Appends commands the rules say must be rejected: exit 3 and nothing written.
    pub fn append_rejected(&self, cmds: &[Value]) -> String {
        let before = self.export();
        let (_, out) = self.append(cmds);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(3),
            "append of {} should be rejected with exit 3; stderr: {stderr}",
            Value::Array(cmds.to_vec())
        );
        assert!(
            self.export() == before,
            "a rejected append wrote something: {}",
            Value::Array(cmds.to_vec())
        );
        stderr
    }

    pub fn nightly(&self, date: &str) -> String {
        self.ok(&["nightly", "--as-of", date])
    }

    pub fn export(&self) -> Vec<u8> {
        let p = self.next_path("export", "jsonl");
        self.ok(&["export", "--out", p.to_str().unwrap()]);
        fs::read(&p).unwrap()
    }

    pub fn csv(&self, args: &[&str]) -> (Vec<String>, Vec<Row>) {
        let mut full = vec!["--format", "csv"];
        full.extend_from_slice(args);
        parse_csv(&self.ok(&full))
    }

    pub fn rows(&self, args: &[&str]) -> Vec<Row> {
        self.csv(args).1
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["--format", "json"];
        full.extend_from_slice(args);
        let text = self.ok(&full);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    pub fn defaulters(&self, office: &str) -> Vec<Row> {
        self.rows(&["defaulters", "--office", office])
    }

    pub fn worklist(&self, office: &str, kind: &str) -> Vec<Row> {
        self.rows(&["worklist", "--office", office, "--kind", kind])
    }

    pub fn statement(&self, account: &str) -> Value {
        self.json(&["statement", "--account", account])
    }
}
