//! Where a command's output goes: the process's stdout and stderr, or, for a command handed
//! to a running server over its local socket (see [`crate::attach`]), that command's
//! connection. Commands write through [`stdout`], `outln!` and `errln!`, never to the process's streams directly, and read `-` through
//! [`stdin`].

use std::cell::RefCell;
use std::io::{Read, Write};

/// The streams of a command run for a client of the local socket.
pub struct Redirect {
    pub stdout: Box<dyn Write>,
    pub stderr: Box<dyn Write>,
    pub stdin: Option<Vec<u8>>,
    /// The client's working directory: the paths the command was given are relative to it.
    pub cwd: std::path::PathBuf,
}

thread_local! {
    static REDIRECT: RefCell<Option<Redirect>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's command output going to `redirect`.
pub fn redirected<T>(redirect: Redirect, f: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            REDIRECT.with(|r| {
                if let Some(mut r) = r.borrow_mut().take() {
                    let _ = r.stdout.flush();
                    let _ = r.stderr.flush();
                }
            });
        }
    }
    REDIRECT.with(|r| *r.borrow_mut() = Some(redirect));
    let _restore = Restore;
    f()
}

/// Whether this thread's command runs for a client of the local socket.
pub fn is_redirected() -> bool {
    REDIRECT.with(|r| r.borrow().is_some())
}

/// The command's standard output.
pub fn stdout() -> Stdout {
    Stdout
}

/// The command's standard output (see [`stdout`]).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        REDIRECT.with(|r| match r.borrow_mut().as_mut() {
            Some(r) => r.stdout.write(buf),
            None => std::io::stdout().lock().write(buf),
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        REDIRECT.with(|r| match r.borrow_mut().as_mut() {
            Some(r) => r.stdout.flush(),
            None => std::io::stdout().lock().flush(),
        })
    }
}

/// Writes one line to the command's standard error.
pub fn error_line(line: &str) {
    REDIRECT.with(|r| match r.borrow_mut().as_mut() {
        Some(r) => {
            let _ = writeln!(r.stderr, "{line}");
        }
        None => eprintln!("{line}"),
    })
}

/// Where a path the command was given is: relative paths are relative to the client's
/// working directory. Messages keep naming the path as given.
pub fn resolve(path: &std::path::Path) -> std::path::PathBuf {
    REDIRECT.with(|r| match r.borrow().as_ref() {
        Some(r) if path.is_relative() => r.cwd.join(path),
        _ => path.to_path_buf(),
    })
}

/// The command's standard input (`-` as a file name).
pub fn stdin() -> Box<dyn Read> {
    let given = REDIRECT.with(|r| r.borrow_mut().as_mut().map(|r| r.stdin.take()));
    match given {
        Some(bytes) => Box::new(std::io::Cursor::new(bytes.unwrap_or_default())),
        None => Box::new(std::io::stdin()),
    }
}

/// `println!` to the command's standard output.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::out::stdout(), $($arg)*);
    }};
}

/// `print!` to the command's standard output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!($crate::out::stdout(), $($arg)*);
    }};
}

/// `eprintln!` to the command's standard error.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::error_line(&format!($($arg)*))
    };
}
