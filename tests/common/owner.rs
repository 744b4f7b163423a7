//! A `vasooli cluster owner` process run by a test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// A `vasooli cluster owner` process and the lines it prints.
pub struct Owner {
    pub child: Child,
    /// Where its standard error goes.
    stderr: std::path::PathBuf,
    lines: Receiver<String>,
    seen: Vec<String>,
    pub addr: String,
    /// Where it serves its replica metrics (`--metrics-addr`), from the start.
    pub metrics_addr: String,
}

impl Owner {
    /// Starts `vasooli cluster owner` for `partition` on `data`, with a lease of 3 s.
    pub fn start(data: &Path, servers: &str, partition: &str) -> Owner {
        Owner::start_with(data, servers, partition, &[])
    }

    /// [`Owner::start`] with more arguments (e.g. `--standby-reads`).
    pub fn start_with(data: &Path, servers: &str, partition: &str, more: &[&str]) -> Owner {
        // DIR.stderr0, DIR.stderr1...: one file per process started on DIR.
        let stderr = (0..)
            .map(|n| data.with_extension(format!("stderr{n}")))
            .find(|path| !path.exists())
            .unwrap();
        let addr = super::free_loopback_addr();
        let metrics_addr = super::free_loopback_addr();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vasooli"))
            .arg("--data")
            .arg(data)
            .args([
                "cluster",
                "owner",
                "--servers",
                servers,
                "--partition",
                partition,
                "--addr",
                &addr,
                "--lease-seconds",
                "3",
                "--metrics-addr",
                &metrics_addr,
            ])
            .args(more)
            .env("VASOOLI_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("the binary runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Owner {
            child,
            stderr,
            lines,
            seen: Vec::new(),
            addr,
            metrics_addr,
        }
    }

    /// Waits (at most `within`) for a line starting with `prefix`; returns it.
    pub fn wait_line(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        if let Some(line) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line `{prefix}...` within {within:?}; printed: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Every line printed so far.
    pub fn printed(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> (u16, String) {
        super::http(&self.addr, "POST", path, Some(token), Some(body))
            .unwrap_or_else(|| panic!("POST {path} got no answer"))
    }

    /// Waits (at most `within`) for the process to exit by itself: its exit code and what
    /// it printed on standard error.
    pub fn wait_exit(&mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (
                    status.code(),
                    std::fs::read_to_string(&self.stderr).unwrap_or_default(),
                );
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Stops the process as Ctrl-C does; its exit code.
    pub fn interrupt(mut self) -> Option<i32> {
        self.signal("-INT");
        self.wait_exit(Duration::from_secs(20)).0
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
