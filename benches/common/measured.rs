//! A run of the release binary timed, with its peak resident memory sampled while it runs.

// Each benchmark uses some of these.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

/// The peak resident memory of process `pid` so far, in KiB (`VmHWM`).
pub fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the binary on `data` with `args` and the environment `env` (it must succeed): its
/// standard output, the time it took and its peak resident memory in MiB, sampled every
/// 20 ms while it runs. Its output is read as it comes, so a long list never fills the pipe.
pub fn run_measured(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, Duration, f64) {
    let (stdout, took, peak, _) = run_measured_with_stderr(data, args, env);
    (stdout, took, peak)
}

/// [`run_measured`], with the standard error too.
pub fn run_measured_with_stderr(
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (String, Duration, f64, String) {
    let started = Instant::now();
    let mut child = Process::new(env!("CARGO_BIN_EXE_vasooli"))
        .envs(env.iter().copied())
        .arg("--data")
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vasooli");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).expect("the output");
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let (stdout, stderr) = (
        stdout.join().expect("stdout"),
        stderr.join().expect("stderr"),
    );
    assert!(
        status.success(),
        "vasooli {args:?}: {}",
        String::from_utf8_lossy(&stderr)
    );
    (
        String::from_utf8(stdout).expect("UTF-8"),
        took,
        peak as f64 / 1024.0,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
