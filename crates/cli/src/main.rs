//! The `vasooli` binary: argument parsing and glue. The logic lives in the library crates.

#[macro_use]
mod out;
mod attach;
mod commands;
mod signals;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The data directory when none is given.
pub const DATA_DEFAULT: &str = "./vasooli-data";
/// The demo's data directory when none is given: never the everyday one.
pub const DEMO_DATA_DEFAULT: &str = "./vasooli-demo";

/// How records are printed (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// One self-contained HTML file; only `awards` writes it.
    Html,
    /// An Excel workbook (.xlsx) of one sheet, to a file: redirect standard output, or
    /// `awards --out FILE`.
    Xlsx,
}

impl From<Format> for vasooli_render::Format {
    fn from(format: Format) -> vasooli_render::Format {
        match format {
            Format::Table => vasooli_render::Format::Table,
            Format::Csv => vasooli_render::Format::Csv,
            Format::Json => vasooli_render::Format::Json,
            Format::Html => vasooli_render::Format::Html,
            Format::Xlsx => vasooli_render::Format::Xlsx,
        }
    }
}

/// mimalloc returns freed memory to the system more readily than the system allocator does
/// across the writer and worker threads, which keeps bulk imports and the nightly run small.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "vasooli",
    version,
    about = "Revenue recovery and arrears engine for an electricity distribution utility"
)]
pub struct Cli {
    /// The data directory (sled database and projections) [default: ./vasooli-data;
    /// for `demo`, ./vasooli-demo].
    #[arg(
        long = "data",
        global = true,
        env = "VASOOLI_DATA",
        value_name = "DATA"
    )]
    pub data_given: Option<PathBuf>,
    /// The data directory in use: `--data` (or `VASOOLI_DATA`), else the command's default.
    #[arg(skip)]
    pub data: PathBuf,
    /// The policy file (TOML); default DIR/policy.toml when present, else built-in defaults
    /// (`vasooli policy show` prints every key).
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// How records are printed (e.g. --format csv).
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub format: Format,
    /// Adds a UTF-8 byte order mark to CSV so Excel shows Hindi names.
    #[arg(long, global = true)]
    pub excel: bool,
    /// The running server's engine, when the command was handed to it over its socket.
    #[arg(skip)]
    pub attached: Option<vasooli_engine::SharedEngine>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Imports a CSV file of offices, consumers, bills, payments or mobiles.
    #[command(after_help = "Example: vasooli import bills bills-2026-10.csv")]
    Import {
        /// What the file holds: offices, consumers, bills, payments or mobiles.
        #[arg(value_name = "KIND")]
        kind: String,
        /// The CSV file, with a header row (see docs/FORMATS.md for each kind's columns).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Appends JSON Lines of commands (`-` reads stdin).
    #[command(after_help = append_examples())]
    Append {
        /// A file of JSON Lines, one command per line, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// The finance run as of a date.
    Nightly {
        /// The run's date, YYYY-MM-DD, not after today (e.g. --as-of 2026-10-31).
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: String,
    },
    /// The office tree: every office's code, name, level and parent, zones first, each
    /// office followed by the offices below it (indented in the table).
    Offices,
    /// The defaulter list below an office.
    Defaulters {
        /// The office whose consumers are listed, with every office below it (e.g. --office
        /// C-DDN); `vasooli offices` lists the codes.
        #[arg(long, value_name = "CODE")]
        office: String,
        /// Only overdue arrears of at least this many rupees (e.g. --min-arrears 10000).
        #[arg(long, value_name = "RUPEES")]
        min_arrears: Option<String>,
        #[arg(long, value_name = "STAGE", help = stage_help())]
        stage: Option<String>,
        /// At most this many rows, largest arrears first (e.g. --limit 50).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// An officer's worklist below an office.
    Worklist {
        /// The office whose consumers are listed, with every office below it (e.g. --office
        /// SD-RISHIKESH).
        #[arg(long, value_name = "CODE")]
        office: String,
        #[arg(long, value_name = "KIND", help = worklist_help())]
        kind: String,
        /// Also write the list's printable documents (HTML, one per page) to this file, or
        /// `-` for standard output (then the documents alone) (e.g. --notices notices.html).
        #[arg(long, value_name = "FILE|-")]
        notices: Option<PathBuf>,
    },
    /// One consumer's ledger.
    Statement {
        /// The consumer's account number (e.g. --account UK5701999669).
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },
    /// Office rankings for a period at a level.
    Rankings {
        /// A month, quarter or financial year (e.g. --period 2026-10, FY2026-27-Q3, FY2026-27).
        #[arg(long, value_name = "PERIOD")]
        period: String,
        /// Which offices are ranked: circle, division or subdivision (e.g. --level circle).
        #[arg(long, value_name = "LEVEL")]
        level: String,
    },
    /// Awards for a period (csv, json or html).
    Awards {
        /// A month, quarter or financial year (e.g. --period 2026-10, FY2026-27-Q3, FY2026-27).
        #[arg(long, value_name = "PERIOD")]
        period: String,
        /// Write to this file instead (`.html`: the report with its chart), or `-` for
        /// standard output (e.g. --out awards-2026-10.html).
        #[arg(long, value_name = "FILE|-")]
        out: Option<PathBuf>,
    },
    /// This data directory's figures for headquarters (JSON): each subdivision's billed,
    /// collected, arrears, consumers, mobiles and grievances for each period asked and the
    /// period before it, with the office tree and the log position they reflect.
    Figures {
        /// A month, quarter or financial year; repeat for more (e.g. --period FY2026-27-Q3).
        #[arg(long = "period", value_name = "PERIOD", required = true)]
        periods: Vec<String>,
        /// The partition's name in the figures (default: the data directory's name).
        #[arg(long, value_name = "NAME")]
        partition: Option<String>,
        /// Write to this file instead of standard output (e.g. --out north.json).
        #[arg(long, value_name = "FILE|-")]
        out: Option<PathBuf>,
    },
    /// Headquarters' rankings and awards from the figures every partition published.
    Hq {
        #[command(subcommand)]
        report: HqReport,
    },
    /// Mobile registration coverage below an office.
    Campaign {
        /// The office whose subdivisions are shown (e.g. --office Z-GRW).
        #[arg(long, value_name = "CODE")]
        office: String,
        /// Instead: the consumers whose number's last 3 or more SMS delivery reports all said
        /// undelivered, to verify the number again.
        #[arg(long)]
        reverify: bool,
    },
    /// The camp and grievance report below an office.
    Camps {
        /// The office whose subdivisions are shown (e.g. --office D-DDN-RURAL).
        #[arg(long, value_name = "CODE")]
        office: String,
        /// A month, quarter or financial year (e.g. --period 2026-10, FY2026-27-Q3, FY2026-27).
        #[arg(long, value_name = "PERIOD")]
        period: String,
    },
    /// The SMS outbox and sending it.
    Sms {
        #[command(subcommand)]
        action: SmsAction,
    },
    /// The HTTP API and the officers' web page.
    Serve {
        /// The address to listen on; port 0 picks a free one (e.g. --addr 127.0.0.1:8080).
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
        addr: String,
    },
    /// API tokens: create, list, revoke.
    Tokens {
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Checks the whole log.
    Verify,
    /// Drops and rebuilds every projection from the log.
    Rebuild,
    /// Writes the whole log as JSON Lines.
    Export {
        /// The JSON Lines file to write, or `-` for standard output (e.g. --out log.jsonl).
        #[arg(long, value_name = "FILE|-")]
        out: PathBuf,
    },
    /// Loads an export into an empty data directory.
    Restore {
        /// A file `vasooli export` wrote.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Generates a realistic utility, runs the nightly runs and shows the first lists.
    Demo {
        /// How many consumers (e.g. --consumers 100000).
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        consumers: usize,
        /// How many months of bills and payments, ending with last month (e.g. --months 24).
        #[arg(long, default_value_t = 12, value_name = "M")]
        months: u32,
        /// The random seed: the same seed makes the same utility.
        #[arg(long, default_value_t = 42, value_name = "S")]
        seed: u64,
    },
    /// The policy in force.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Cluster mode: a partition's owner, the cluster's state, the partition map (see
    /// docs/CLUSTER.md).
    Cluster {
        #[command(subcommand)]
        action: commands::cluster::ClusterAction,
    },
}

/// Where headquarters reads the partitions' figures: files, or the cluster.
#[derive(clap::Args, Debug)]
pub struct FiguresSources {
    /// Reads every partition's published figures from the cluster at these servers
    /// instead of files (comma-separated).
    #[arg(
        long,
        value_name = "URL[,URL..]",
        value_delimiter = ',',
        conflicts_with = "files"
    )]
    pub servers: Vec<String>,
    /// The figures files, one per partition (`vasooli figures --out FILE`).
    #[arg(value_name = "FIGURES", required_unless_present = "servers")]
    pub files: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum HqReport {
    /// Office rankings for a period at a level, from partitions' figures.
    Rankings {
        /// A month, quarter or financial year (e.g. --period FY2026-27-Q3).
        #[arg(long, value_name = "PERIOD")]
        period: String,
        /// Which offices are ranked: circle, division or subdivision (e.g. --level circle).
        #[arg(long, value_name = "LEVEL")]
        level: String,
        /// Also write what the report was computed from (partitions and positions) as JSON.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        sources: FiguresSources,
    },
    /// Awards for a period, from partitions' figures (csv, json or table).
    Awards {
        /// A month, quarter or financial year (e.g. --period FY2026-27-Q3).
        #[arg(long, value_name = "PERIOD")]
        period: String,
        /// Also write what the report was computed from (partitions and positions) as JSON.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        sources: FiguresSources,
    },
}

#[derive(Subcommand, Debug)]
pub enum SmsAction {
    /// Lists the outbox.
    Outbox {
        /// Only messages in this state: queued, sent or failed (e.g. --status failed).
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
    },
    /// Sends queued messages to an HTTP gateway, with retries and backoff.
    Send {
        /// The gateway's URL (e.g. --gateway http://127.0.0.1:9000/send).
        #[arg(long, value_name = "URL")]
        gateway: String,
        /// Time-out of one attempt, in milliseconds.
        #[arg(long, default_value_t = 5_000, value_name = "MS")]
        timeout_ms: u64,
        /// Most requests waiting on the gateway at once (default: policy sms.send.in_flight).
        #[arg(long, value_name = "N")]
        in_flight: Option<usize>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokensAction {
    /// Creates a token and prints it once on stdout; only its hash is kept.
    Create {
        /// admin, finance, hq, officer or ingest (e.g. --role officer).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// An officer token's office: it serves that office and every office below it (e.g.
        /// --office SD-RISHIKESH).
        #[arg(long, value_name = "CODE")]
        office: Option<String>,
        /// A name to list and revoke the token by (e.g. --name sdo-rishikesh).
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Lists tokens (never the tokens themselves).
    List,
    /// Revokes a token by name.
    Revoke {
        /// The name the token was created with.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// Prints every key with its value.
    Show,
}

/// `--stage`'s help, naming every stage.
fn stage_help() -> String {
    let stages: Vec<&str> = vasooli_domain::types::Stage::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    format!(
        "Only this stage of the recovery ladder: {} (e.g. --stage notice_served)",
        stages.join(", ")
    )
}

/// `--kind`'s help, naming every worklist.
fn worklist_help() -> String {
    let kinds: Vec<&str> = vasooli_domain::types::WorklistKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    format!("The list: {} (e.g. --kind serve_notice)", kinds.join(", "))
}

/// `append --help`'s list: one example line of every command kind.
fn append_examples() -> String {
    let mut text = String::from(
        "Every line is one JSON object; `type` names the command and the other keys are \
         exactly the command's own (see docs/FORMATS.md). One line of each kind:\n",
    );
    for kind in vasooli_domain::command::COMMAND_KINDS {
        text.push('\n');
        text.push_str(kind.example);
    }
    text
}

/// How a command failed, and so the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: I/O, a corrupt store.
    Runtime(anyhow::Error),
    /// Exit 2: bad flags, a nightly date before the last one.
    Usage(String),
    /// Exit 3: rejected input; each line says what, where and why.
    Rejected(Vec<String>),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Runtime(e)
    }
}

/// The error and its causes on one line, each cause once: errors that show their cause in
/// their own text (a store error inside an engine error) are not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line.replace('\n', " ")
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VASOOLI_LOG")
                // sled's own lines (it logs every failed write and open at length) are off
                // by default: a storage fault reaches the user as one line of ours.
                .unwrap_or_else(|_| "warn,sled=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(name) = matches.subcommand_name() {
        // Another process refused this one's directory says "process N (vasooli serve)".
        vasooli_store::describe_holder(format!("vasooli {name}"));
    }
    cli.data = cli.data_given.clone().unwrap_or_else(|| {
        PathBuf::from(match cli.command {
            // The demo deletes and remakes its directory: it never defaults to the everyday
            // one.
            Command::Demo { .. } => DEMO_DATA_DEFAULT,
            _ => DATA_DEFAULT,
        })
    });
    if !matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Cluster { .. }
            | Command::Sms {
                action: SmsAction::Send { .. }
            }
    ) {
        quiet_on_closed_pipe();
    }
    if let Some(message) = xlsx_to_terminal(&cli) {
        errln!("error: {message}");
        return ExitCode::from(2);
    }
    let code = match attach::forward(&cli) {
        Some(code) => code,
        None => finish(commands::run(cli)),
    };
    ExitCode::from(code)
}

/// A workbook is not for a terminal: `--format xlsx` needs standard output sent to a file
/// (or `awards --out FILE`).
fn xlsx_to_terminal(cli: &Cli) -> Option<String> {
    use std::io::IsTerminal;
    let to_file = match &cli.command {
        Command::Awards {
            out: Some(path), ..
        } => path != std::path::Path::new("-"),
        _ => false,
    };
    (cli.format == Format::Xlsx && !to_file && std::io::stdout().is_terminal()).then(|| {
        "--format xlsx writes a workbook: send standard output to a file (> list.xlsx)".to_string()
    })
}

/// A closed pipe downstream (`vasooli defaulters ... | head`) ends the process quietly, as
/// it ends `cat`, instead of an error for every line it could not print. Not for the server
/// and the SMS sender, whose sockets must not end the process.
fn quiet_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions; no other
    // thread runs yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Reports a command's failure on its standard error: the exit code.
pub fn finish(outcome: Result<(), Failure>) -> u8 {
    match outcome {
        Ok(()) => 0,
        Err(Failure::Runtime(e)) => {
            errln!("error: {}", printable(&one_line(&e)));
            1
        }
        Err(Failure::Usage(message)) => {
            errln!("error: {}", printable(&message));
            2
        }
        Err(Failure::Rejected(lines)) => {
            for line in &lines {
                errln!("{}", printable(line));
            }
            errln!(
                "rejected: {} problem{}; nothing was written",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" }
            );
            3
        }
    }
}

/// Longest quoted value (between backticks) an error line shows.
const QUOTED_MAX: usize = 60;
/// Longest run of characters without a space an error line shows.
const WORD_MAX: usize = 80;
/// Longest error line.
const LINE_MAX: usize = 1000;

/// An error message as one line a terminal shows as it is: control characters (newlines,
/// escape sequences) escaped, each quoted value and each overlong word cut with `…`, and
/// the whole line cut at `LINE_MAX` characters. Input files can hold anything, and their
/// values appear in the messages.
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(LINE_MAX + 8));
    let mut quoted = false;
    let mut run = 0usize;
    let mut skipping = false;
    let mut shown = 0usize;
    for c in message.chars() {
        if c == '`' {
            quoted = !quoted;
            run = 0;
            skipping = false;
        } else if c == ' ' && !quoted {
            run = 0;
            skipping = false;
        } else {
            run += 1;
            let max = if quoted { QUOTED_MAX } else { WORD_MAX };
            if run > max {
                if !skipping {
                    out.push('…');
                    skipping = true;
                }
                continue;
            }
        }
        if shown >= LINE_MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        shown += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn error_lines_are_one_line_with_escapes_and_cuts() {
        assert_eq!(
            printable("a.csv:2: name: `x\u{1b}[31my\nz` is bad"),
            "a.csv:2: name: `x\\u{1b}[31my\\nz` is bad"
        );
        let long = format!(
            "a.csv:2: name: `{}` is longer than 200 characters",
            "é".repeat(10_000)
        );
        let line = printable(&long);
        assert!(line.len() < 300, "{line}");
        assert!(line.ends_with("…` is longer than 200 characters"), "{line}");
        let word = printable(&format!("no consumer has account {}", "9".repeat(10_000)));
        assert!(word.chars().count() < 120, "{word}");
        let spaced = printable(&"ab ".repeat(10_000));
        assert!(spaced.chars().count() <= 1001, "{}", spaced.len());
        assert_eq!(printable("plain words stay"), "plain words stay");
    }
}
