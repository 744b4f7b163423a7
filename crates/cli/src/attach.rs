//! Commands handed to the running server. While `vasooli serve` has a data directory open,
//! no other process can open it; so the server listens on a Unix socket in the directory
//! (`serve.sock`, readable and writable by its owner alone, and every connection's peer
//! checked to be the same user), and a command run against that directory sends its
//! arguments there instead. The server runs the same command code on its own engine, alone
//! for the command's length, and streams back what the command prints and its exit code, so
//! the output and exit codes are those of the command run on its own.
//!
//! The wire format, both ways length-prefixed (`u32` little-endian):
//! - request: a JSON header (`args`, `cwd`, `stdin_len`), then `stdin_len` bytes of standard
//!   input (for `append -`);
//! - answer: frames of a tag byte and a payload: `o` standard output bytes, `e` standard
//!   error bytes, `x` the exit code (one byte), last.

use crate::out::Redirect;
use crate::{Cli, Command};
use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use vasooli_engine::SharedEngine;

/// The socket's name in the data directory.
pub const SOCKET_FILE: &str = "serve.sock";
/// Largest request header.
const HEADER_BYTES_MAX: u32 = 1 << 20;
/// Largest standard input a command may hand over.
const STDIN_BYTES_MAX: u64 = 256 << 20;
/// Standard output is sent in frames of up to this many bytes.
const OUT_FRAME_BYTES: usize = 64 << 10;

#[derive(Serialize, Deserialize)]
struct Request {
    /// The command line without the program name.
    args: Vec<String>,
    /// The client's working directory: relative paths in `args` are relative to it.
    cwd: PathBuf,
    stdin_len: u64,
}

/// Whether `command` may be handed to the server. Commands that replace the directory's data
/// or read its files directly (`demo`, `restore`, `rebuild`, `verify`, `export`) and `serve`
/// itself are not: they say which process holds the directory.
fn forwardable(command: &Command) -> bool {
    matches!(
        command,
        Command::Import { .. }
            | Command::Append { .. }
            | Command::Nightly { .. }
            | Command::Offices
            | Command::Defaulters { .. }
            | Command::Worklist { .. }
            | Command::Statement { .. }
            | Command::Rankings { .. }
            | Command::Awards { .. }
            | Command::Figures { .. }
            | Command::Campaign { .. }
            | Command::Camps { .. }
            | Command::Sms { .. }
            | Command::Tokens { .. }
    )
}

fn write_frame(stream: &mut impl Write, tag: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    stream.write_all(&[tag])?;
    stream.write_all(&len.to_le_bytes())?;
    stream.write_all(payload)
}

/// Hands the command to the server that has `cli.data` open, if one does and the command may
/// be handed over: the exit code, once the server has run it. `None`: run it here.
pub fn forward(cli: &Cli) -> Option<u8> {
    if !forwardable(&cli.command) {
        return None;
    }
    let socket = cli.data.join(SOCKET_FILE);
    // No server, or one that has stopped without removing its socket: the command runs
    // here (and says who holds the directory if someone does).
    let stream = UnixStream::connect(&socket).ok()?;
    Some(match send(cli, stream) {
        Ok(code) => code,
        Err(e) => {
            errln!(
                "error: the server holding {} did not finish the command: {e:#}",
                cli.data.display()
            );
            1
        }
    })
}

fn send(cli: &Cli, stream: UnixStream) -> anyhow::Result<u8> {
    let stdin = match &cli.command {
        Command::Append { file } if file == "-" => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(STDIN_BYTES_MAX + 1)
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            anyhow::ensure!(
                bytes.len() as u64 <= STDIN_BYTES_MAX,
                "stdin is longer than {STDIN_BYTES_MAX} bytes"
            );
            bytes
        }
        _ => Vec::new(),
    };
    let request = Request {
        args: std::env::args_os()
            .skip(1)
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect(),
        cwd: std::env::current_dir().context("the working directory")?,
        stdin_len: stdin.len() as u64,
    };
    let header = serde_json::to_vec(&request)?;
    let mut writer = BufWriter::new(stream.try_clone()?);
    writer.write_all(&(header.len() as u32).to_le_bytes())?;
    writer.write_all(&header)?;
    writer.write_all(&stdin)?;
    writer.flush()?;
    drop(writer);
    let mut reader = BufReader::new(stream);
    let mut stdout = std::io::stdout().lock();
    loop {
        let mut head = [0u8; 5];
        reader
            .read_exact(&mut head)
            .context("the connection closed")?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut payload = vec![0u8; len];
        reader.read_exact(&mut payload)?;
        match head[0] {
            b'o' => {
                // A closed pipe downstream ends the command's output here, quietly.
                if stdout.write_all(&payload).is_err() {
                    return Ok(0);
                }
            }
            b'e' => {
                let _ = std::io::stderr().write_all(&payload);
            }
            b'x' => {
                let _ = stdout.flush();
                return Ok(payload.first().copied().unwrap_or(1));
            }
            other => anyhow::bail!("unknown frame {other}"),
        }
    }
}

/// The server's end: listening until dropped.
pub struct Listening {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
    running: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread.
        let _ = UnixStream::connect(&self.path);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|e| e.into_inner()));
        for command in running {
            let _ = command.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `dir`'s socket for commands to run on `engine`. The caller holds `dir`'s lock,
/// so a socket file already there is a stopped server's and is replaced.
pub fn listen(dir: &Path, engine: &SharedEngine) -> anyhow::Result<Listening> {
    let path = dir.join(SOCKET_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(Mutex::new(Vec::new()));
    let accepting = {
        let (stop, running, engine, dir) = (
            stop.clone(),
            running.clone(),
            engine.clone(),
            dir.to_path_buf(),
        );
        std::thread::Builder::new()
            .name("vasooli-socket".into())
            .spawn(move || accept(listener, stop, running, engine, dir))?
    };
    Ok(Listening {
        path,
        stop,
        accepting: Some(accepting),
        running,
    })
}

fn accept(
    listener: UnixListener,
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Vec<JoinHandle<()>>>>,
    engine: SharedEngine,
    dir: PathBuf,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        if !same_user(&stream) {
            tracing::warn!("refused a local connection from another user");
            continue;
        }
        let (engine, dir) = (engine.clone(), dir.clone());
        let spawned = std::thread::Builder::new()
            .name("vasooli-command".into())
            .spawn(move || {
                if let Err(e) = serve_command(stream, engine, dir) {
                    tracing::warn!("a local command failed: {e:#}");
                }
            });
        if let Ok(handle) = spawned {
            let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
            running.retain(|h| !h.is_finished());
            running.push(handle);
        }
    }
}

/// Whether the peer runs as this process's user (the socket's mode already keeps others
/// out; this holds even where a directory's permissions do not).
fn same_user(stream: &UnixStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, and the descriptor
    // belongs to `stream` for the length of the call.
    let got = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    // SAFETY: geteuid has no preconditions.
    got == 0 && cred.uid == unsafe { libc::geteuid() }
}

/// Standard output or error of a command, sent as frames.
struct FrameWriter {
    stream: UnixStream,
    tag: u8,
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let take = buf.len().min(OUT_FRAME_BYTES);
        write_frame(&mut self.stream, self.tag, &buf[..take])?;
        Ok(take)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn serve_command(mut stream: UnixStream, engine: SharedEngine, dir: PathBuf) -> anyhow::Result<()> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    anyhow::ensure!(len <= HEADER_BYTES_MAX, "a header of {len} bytes");
    let mut header = vec![0u8; len as usize];
    stream.read_exact(&mut header)?;
    let request: Request = serde_json::from_slice(&header)?;
    anyhow::ensure!(
        request.stdin_len <= STDIN_BYTES_MAX,
        "stdin of {} bytes",
        request.stdin_len
    );
    let mut stdin = Vec::new();
    (&mut stream)
        .take(request.stdin_len)
        .read_to_end(&mut stdin)?;
    let code = match Cli::try_parse_from(std::iter::once("vasooli".to_string()).chain(request.args))
    {
        Err(e) => {
            write_frame(&mut stream, b'e', e.render().to_string().as_bytes())?;
            2
        }
        Ok(cli) if !forwardable(&cli.command) => {
            write_frame(
                &mut stream,
                b'e',
                b"error: this command cannot run through the server\n",
            )?;
            2
        }
        Ok(mut cli) => {
            cli.data = dir;
            cli.attached = Some(engine);
            let redirect = Redirect {
                stdout: Box::new(BufWriter::with_capacity(
                    OUT_FRAME_BYTES,
                    FrameWriter {
                        stream: stream.try_clone()?,
                        tag: b'o',
                    },
                )),
                stderr: Box::new(FrameWriter {
                    stream: stream.try_clone()?,
                    tag: b'e',
                }),
                stdin: Some(stdin),
                cwd: request.cwd,
            };
            crate::out::redirected(redirect, || crate::finish(crate::commands::run(cli)))
        }
    };
    write_frame(&mut stream, b'x', &[code])?;
    Ok(())
}
