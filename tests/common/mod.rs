//! Helpers shared by the end-to-end tests that run the `vasooli` binary.
#![allow(dead_code)]

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

/// Writes a file into `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}
