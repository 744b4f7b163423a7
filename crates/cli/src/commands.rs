//! One function per subcommand: read input, call the engine, print.

use crate::{Cli, Command, Failure, Format, HqReport, PolicyAction, SmsAction, TokensAction};
use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::str::FromStr;
use vasooli_domain::codec::parse_date;
use vasooli_domain::command::{import_command_type, HeaderProblem};
use vasooli_domain::types::{Level, SmsStatus, Stage, WorklistKind};
use vasooli_domain::{Command as DomainCommand, Money, Policy};
use vasooli_engine::{Engine, EngineError, Input};
use vasooli_projections::documents::{DocumentKind, NoDocuments};
use vasooli_projections::lists;
use vasooli_render::{write_records, Record};

/// Most bytes of one JSON Lines command.
const COMMAND_LINE_BYTES_MAX: usize = 1 << 20;

type Outcome = Result<(), Failure>;

pub(crate) fn load_policy(cli: &Cli) -> Result<Policy, Failure> {
    let path = match &cli.policy {
        Some(p) => Some(p.clone()),
        None => Some(cli.data.join("policy.toml")).filter(|p| p.exists()),
    };
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    Policy::from_toml(&text).map_err(|e| Failure::Usage(e.in_file(&path.display().to_string())))
}

/// The engine a command works on: its own, opened from the data directory, or the running
/// server's, held alone for the command's length (a command handed over the server's socket).
enum EngineRef {
    Own(Box<Engine>),
    Server(vasooli_engine::Exclusive),
}

impl std::ops::Deref for EngineRef {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        match self {
            EngineRef::Own(engine) => engine,
            EngineRef::Server(engine) => engine,
        }
    }
}

impl std::ops::DerefMut for EngineRef {
    fn deref_mut(&mut self) -> &mut Engine {
        match self {
            EngineRef::Own(engine) => engine,
            EngineRef::Server(engine) => engine,
        }
    }
}

fn open(cli: &Cli) -> Result<EngineRef, Failure> {
    if let Some(shared) = &cli.attached {
        return Ok(EngineRef::Server(
            shared.exclusive().map_err(engine_failure)?,
        ));
    }
    open_own(cli).map(|engine| EngineRef::Own(Box::new(engine)))
}

/// What a read of one account or one office's consumers is answered from: the server's world
/// when a server has the directory open, else only those consumers as the checkpoint's
/// directories find them ([`vasooli_engine::ColdView`]), not the whole world.
enum ReadView {
    Server(vasooli_engine::Exclusive),
    Cold(Box<vasooli_engine::ColdView>),
}

impl ReadView {
    fn world(&self) -> &vasooli_domain::World {
        match self {
            ReadView::Server(engine) => engine.world(),
            ReadView::Cold(view) => view.world(),
        }
    }

    fn policy(&self) -> &vasooli_domain::Policy {
        match self {
            ReadView::Server(engine) => engine.policy(),
            ReadView::Cold(view) => view.policy(),
        }
    }

    fn as_of(&self) -> Result<chrono::NaiveDate, EngineError> {
        match self {
            ReadView::Server(engine) => engine.as_of(),
            ReadView::Cold(view) => view.as_of(),
        }
    }

    fn report_date(&self) -> chrono::NaiveDate {
        match self {
            ReadView::Server(engine) => engine.report_date(),
            ReadView::Cold(view) => view.report_date(),
        }
    }

    fn sms_text(
        &self,
        message: &vasooli_domain::state::SmsMessage,
    ) -> Result<String, vasooli_engine::engine::SmsTextError> {
        match self {
            ReadView::Server(engine) => engine.sms_text(message),
            ReadView::Cold(view) => view.sms_text(message),
        }
    }
}

/// The server's world, or the consumers `cold` reads from the data directory.
fn open_read(
    cli: &Cli,
    cold: impl FnOnce(&Path, vasooli_domain::Policy) -> Result<vasooli_engine::ColdView, EngineError>,
) -> Result<ReadView, Failure> {
    if let Some(shared) = &cli.attached {
        return Ok(ReadView::Server(
            shared.exclusive().map_err(engine_failure)?,
        ));
    }
    let view = cold(&cli.data, load_policy(cli)?).map_err(engine_failure)?;
    Ok(ReadView::Cold(Box::new(view)))
}

/// [`open_read`] for the consumers below `office`.
fn open_office(cli: &Cli, office: &str) -> Result<ReadView, Failure> {
    open_read(cli, |dir, policy| {
        vasooli_engine::ColdView::office(dir, policy, office)
    })
}

/// Every subdivision's figures for `periods`, which rankings and awards are computed from,
/// with the policy and today's date: from the server's world when a server has the directory
/// open, else read cold ([`vasooli_engine::OfficeFigures::read`]: the checkpoint's saved
/// figures where they serve, not the whole world).
fn open_figures(
    cli: &Cli,
    periods: &[vasooli_domain::period::Period],
) -> Result<(vasooli_engine::OfficeFigures, Policy, chrono::NaiveDate), Failure> {
    if let Some(shared) = &cli.attached {
        let engine = shared.exclusive().map_err(engine_failure)?;
        let figures = vasooli_engine::OfficeFigures::of(engine.world(), engine.policy(), periods);
        return Ok((figures, engine.policy().clone(), engine.today()));
    }
    let policy = load_policy(cli)?;
    let figures =
        vasooli_engine::OfficeFigures::read(&cli.data, &policy, periods).map_err(engine_failure)?;
    Ok((
        figures,
        policy,
        vasooli_engine::Clock::from_env_or_system().today(),
    ))
}

/// The engine of this process (not the server's), for a command that writes on its own.
fn open_own(cli: &Cli) -> Result<Engine, Failure> {
    let policy = load_policy(cli)?;
    Engine::open(&cli.data, policy).map_err(engine_failure)
}

fn engine_failure(e: EngineError) -> Failure {
    match e {
        EngineError::Rejected(errors) => {
            Failure::Rejected(errors.iter().map(|e| e.to_string()).collect())
        }
        EngineError::Usage(m) => Failure::Usage(m),
        other => Failure::Runtime(anyhow::anyhow!(other)),
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

fn print(cli: &Cli, columns: &[&str], records: &[Record]) -> Outcome {
    if cli.format == Format::Html {
        return Err(usage("--format html is only for `awards`"));
    }
    let mut out = BufWriter::new(crate::out::stdout());
    match cli.format {
        Format::Xlsx => vasooli_render::write_sheet(&mut out, &sheet_name(cli), columns, records),
        format => write_records(&mut out, format.into(), cli.excel, columns, records),
    }
    .context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(())
}

/// The name of a workbook's sheet: the list it holds.
pub(crate) fn sheet_name(cli: &Cli) -> String {
    match &cli.command {
        Command::Worklist { kind, .. } => format!("worklist {kind}"),
        Command::Statement { account } => format!("passbook {account}"),
        Command::Rankings { period, level } => format!("rankings {period} {level}"),
        Command::Awards { period, .. } => format!("awards {period}"),
        Command::Hq {
            report: HqReport::Rankings { period, level, .. },
        } => format!("rankings {period} {level}"),
        Command::Hq {
            report: HqReport::Awards { period, .. },
        } => format!("awards {period}"),
        Command::Camps { period, .. } => format!("camps {period}"),
        Command::Nightly { as_of } => format!("nightly {as_of}"),
        Command::Sms { .. } => "sms outbox".to_string(),
        Command::Tokens { .. } => "tokens".to_string(),
        Command::Campaign { .. } => "campaign".to_string(),
        Command::Offices => "offices".to_string(),
        _ => "defaulters".to_string(),
    }
}

fn progress_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A bar over the bytes of an input file (drawn only on a terminal).
fn progress(len: u64, what: &str) -> ProgressBar {
    // A command run for a client of the server's socket draws nothing on the server's
    // terminal.
    let bar = match crate::out::is_redirected() {
        true => ProgressBar::hidden(),
        false => ProgressBar::new(len),
    };
    bar.set_style(progress_style(
        "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ));
    bar.set_message(what.to_string());
    bar
}

pub fn run(cli: Cli) -> Outcome {
    // A clock fixed to something that is not a date is refused before anything runs.
    vasooli_engine::Clock::from_env().map_err(usage)?;
    match &cli.command {
        Command::Import { kind, file } => import(&cli, kind, file),
        Command::Append { file } => append(&cli, file),
        Command::Nightly { as_of } => nightly(&cli, as_of),
        Command::Offices => offices(&cli),
        Command::Defaulters {
            office,
            min_arrears,
            stage,
            limit,
        } => defaulters(
            &cli,
            office,
            min_arrears.as_deref(),
            stage.as_deref(),
            *limit,
        ),
        Command::Worklist {
            office,
            kind,
            notices,
        } => worklist(&cli, office, kind, notices.as_deref()),
        Command::Statement { account } => statement(&cli, account),
        Command::Rankings { period, level } => {
            crate::commands::reports::rankings(&cli, period, level)
        }
        Command::Awards { period, out } => {
            crate::commands::reports::awards(&cli, period, out.as_deref())
        }
        Command::Figures {
            periods,
            partition,
            out,
        } => hq::figures(&cli, periods, partition.as_deref(), out.as_deref()),
        Command::Hq {
            report:
                HqReport::Rankings {
                    period,
                    level,
                    manifest,
                    sources,
                },
        } => hq::rankings(
            &cli,
            period,
            level,
            (&sources.servers, &sources.files),
            manifest.as_deref(),
        ),
        Command::Hq {
            report:
                HqReport::Awards {
                    period,
                    manifest,
                    sources,
                },
        } => hq::awards(
            &cli,
            period,
            (&sources.servers, &sources.files),
            manifest.as_deref(),
        ),
        Command::Campaign { office, reverify } => {
            crate::commands::reports::campaign(&cli, office, *reverify)
        }
        Command::Camps { office, period } => crate::commands::reports::camps(&cli, office, period),
        Command::Sms {
            action: SmsAction::Outbox { status },
        } => sms_outbox(&cli, status.as_deref()),
        Command::Sms {
            action:
                SmsAction::Send {
                    gateway,
                    timeout_ms,
                    in_flight,
                },
        } => sms::send(&cli, gateway, *timeout_ms, *in_flight),
        Command::Serve { addr } => serve(&cli, addr),
        Command::Tokens { action } => tokens(&cli, action),
        Command::Cluster { action } => crate::commands::cluster::run(&cli, action),
        Command::Verify => verify(&cli),
        Command::Rebuild => rebuild(&cli),
        Command::Export { out } => export(&cli, out),
        Command::Restore { file } => restore(&cli, file),
        Command::Demo {
            consumers,
            months,
            seed,
        } => crate::commands::demo::run(&cli, *consumers, *months, *seed),
        Command::Policy {
            action: PolicyAction::Show,
        } => {
            let policy = load_policy(&cli)?;
            out!("{}", policy.to_toml());
            Ok(())
        }
    }
}

pub mod cluster;
pub mod demo;
pub mod gateway;
pub mod hq;
pub mod moving;
pub mod reports;
pub mod routed;
pub mod sms;
pub mod snapshot;
pub mod token_copies;

fn import(cli: &Cli, kind: &str, file: &Path) -> Outcome {
    use vasooli_domain::import::CsvRows;
    if import_command_type(kind).is_none() {
        return Err(usage(format!(
            "`{kind}` is not one of offices, consumers, bills, payments, mobiles"
        )));
    }
    let name = file.display().to_string();
    let handle =
        File::open(crate::out::resolve(file)).map_err(|e| usage(format!("{name}: {e}")))?;
    let total = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(total, "reading");
    let rows = CsvRows::open(kind, bar.wrap_read(handle))
        .map_err(|fault| header_failure(kind, &name, fault))?;
    // Rows are parsed as the engine validates them, and the events they become wait in a
    // spool on disk until every row has passed, so memory is bounded by a window rather than
    // by the file. A malformed record (wrong field count, invalid UTF-8) is a row error like
    // any other, so one pass reports every bad row.
    let location = name.clone();
    // Parsed on a thread of its own while the engine checks the rows already parsed.
    let rows = vasooli_engine::read_ahead::ReadAhead::new(rows.map(move |row| Input {
        location: format!("{location}:{}", row.line),
        command: row.command,
    }));
    let writing = bar.clone();
    let mut progress = |done: usize, total: usize| {
        if done == 0 {
            show_writing(&writing, total as u64);
        }
        writing.set_position(done as u64);
    };
    let report = match &cli.attached {
        // Handed to the running server: its readers go on while the file is checked and
        // written, and see all of it once it is.
        Some(shared) => shared.bulk(|engine| engine.write_streamed(rows, &mut progress)),
        None => open_own(cli)?.import_streamed(rows, &mut progress),
    }
    .map_err(engine_failure);
    bar.finish_and_clear();
    let report = report?;
    outln!(
        "read {}, appended {}, duplicates skipped {}",
        report.read,
        report.appended,
        report.duplicates
    );
    Ok(())
}

/// What is wrong with an import file's header line, as the user is told it.
pub(crate) fn header_failure(
    kind: &str,
    name: &str,
    fault: vasooli_domain::import::HeaderFault,
) -> Failure {
    use vasooli_domain::import::HeaderFault;
    match fault {
        HeaderFault::UnknownKind => usage(format!("`{kind}` is not an import kind")),
        HeaderFault::Unreadable(e) => Failure::Rejected(vec![format!("{name}:1: {e}")]),
        HeaderFault::Columns(problems) => Failure::Rejected(
            problems
                .iter()
                .map(|problem| {
                    let listed = match problem {
                        HeaderProblem::Twice(_) => String::new(),
                        _ => format!(" (columns: {})", vasooli_domain::import::columns_of(kind)),
                    };
                    format!(
                        "{name}:1: {}: {}{listed}",
                        problem.column(),
                        problem.reason(kind)
                    )
                })
                .collect(),
        ),
    }
}

/// Turns the reading bar into the writing bar, over `total` events.
fn show_writing(bar: &indicatif::ProgressBar, total: u64) {
    bar.set_length(total);
    bar.reset();
    bar.set_style(
        progress_style("{msg} [{bar:40}] {human_pos}/{human_len} events ({rate}, {eta})").with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        ),
    );
    bar.set_message("writing");
}

/// A command line of a JSON Lines file: its location (`FILE:LINE`), line and object.
pub(crate) type JsonLine = (String, usize, serde_json::Value);

/// The JSON lines of `reader` (`name` for the messages): each command's location, line and
/// object, and the problems of lines that are not JSON or too long. An unreadable line
/// stops the reading with that problem.
pub(crate) fn read_json_lines(
    name: &str,
    reader: impl Read,
) -> Result<(Vec<JsonLine>, Vec<LineProblem>), Failure> {
    let mut commands = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| {
            Failure::Rejected(vec![LineProblem::unreadable(name, line_no, &e).to_string()])
        })?;
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > COMMAND_LINE_BYTES_MAX {
            problems.push(LineProblem::too_long(name, line_no));
            continue;
        }
        match vasooli_domain::command::parse_json(line.as_bytes()) {
            Ok(value) => commands.push((format!("{name}:{line_no}"), line_no, value)),
            Err(e) => problems.push(LineProblem::not_json(name, line_no, &e)),
        }
    }
    Ok((commands, problems))
}

fn append(cli: &Cli, file: &str) -> Outcome {
    let (name, reader): (String, Box<dyn Read>) = if file == "-" {
        ("-".to_string(), crate::out::stdin())
    } else {
        let handle = File::open(crate::out::resolve(Path::new(file)))
            .map_err(|e| usage(format!("{file}: {e}")))?;
        (file.to_string(), Box::new(handle))
    };
    let (commands, mut problems) = read_json_lines(&name, reader)?;
    // The line each input came from, by the location it is reported at.
    let mut input_lines = std::collections::HashMap::new();
    let mut inputs = Vec::new();
    for (location, line_no, value) in commands {
        input_lines.insert(location.clone(), line_no);
        inputs.push(Input {
            location,
            command: DomainCommand::from_json(&value),
        });
    }
    if !problems.is_empty() {
        // Lines that are not JSON reject the file; the others are still checked so that every
        // bad line is reported at once, in line order.
        let refused = open(cli)?.validate(inputs).map_err(engine_failure)?;
        problems.extend(refused.into_iter().map(|error| LineProblem {
            line: input_lines.get(&error.location).copied(),
            what: LineFault::Refused(error),
        }));
        // Problems without a line (none are expected) come first, as before any line.
        problems.sort_by_key(|problem| problem.line.unwrap_or(0));
        return Err(Failure::Rejected(
            problems.iter().map(ToString::to_string).collect(),
        ));
    }
    let report = match &cli.attached {
        Some(shared) => shared.bulk(|engine| engine.write_checked(inputs, &mut |_, _| {})),
        None => open_own(cli)?.execute(inputs),
    }
    .map_err(engine_failure)?;
    outln!(
        "read {}, appended {}, duplicates skipped {}",
        report.read,
        report.appended,
        report.duplicates
    );
    Ok(())
}

/// A problem with one line of a JSON Lines file, with the line (and column) it is at as
/// numbers, so that problems found before the engine and by it can be put in line order.
#[derive(Debug)]
pub(crate) struct LineProblem {
    /// The line, counted from 1; `None` for a problem the engine placed at no line.
    pub(crate) line: Option<usize>,
    what: LineFault,
}

#[derive(Debug)]
enum LineFault {
    /// The line could not be read (not UTF-8, an I/O error).
    Unreadable { file: String, error: String },
    /// The line is longer than [`COMMAND_LINE_BYTES_MAX`].
    TooLong { file: String },
    /// The line is not JSON (or repeats a key); `column` counts from 1.
    NotJson {
        file: String,
        column: usize,
        error: String,
    },
    /// The engine refused the command on the line; the error names its location and key.
    Refused(vasooli_engine::RowError),
}

impl LineProblem {
    fn unreadable(file: &str, line: usize, error: &std::io::Error) -> LineProblem {
        LineProblem {
            line: Some(line),
            what: LineFault::Unreadable {
                file: file.to_string(),
                error: error.to_string(),
            },
        }
    }

    fn too_long(file: &str, line: usize) -> LineProblem {
        LineProblem {
            line: Some(line),
            what: LineFault::TooLong {
                file: file.to_string(),
            },
        }
    }

    fn not_json(file: &str, line: usize, error: &serde_json::Error) -> LineProblem {
        LineProblem {
            line: Some(line),
            what: LineFault::NotJson {
                file: file.to_string(),
                column: error.column(),
                error: error.to_string(),
            },
        }
    }
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = self.line.unwrap_or(0);
        match &self.what {
            LineFault::Unreadable { file, error } => write!(f, "{file}:{line}: {error}"),
            LineFault::TooLong { file } => write!(
                f,
                "{file}:{line}: the line is longer than {COMMAND_LINE_BYTES_MAX} bytes"
            ),
            LineFault::NotJson {
                file,
                column,
                error,
            } => write!(f, "{file}:{line}: column {column}: not valid JSON: {error}"),
            LineFault::Refused(error) => write!(f, "{error}"),
        }
    }
}

fn nightly(cli: &Cli, as_of: &str) -> Outcome {
    let date = parse_date(as_of).map_err(|e| usage(format!("--as-of: {e}")))?;
    let summary = match &cli.attached {
        // Handed to the running server: its readers go on while the run decides and appends.
        Some(shared) => shared.nightly(date, |_| Ok::<(), EngineError>(())),
        None => open_own(cli)?.nightly(date),
    }
    .map_err(engine_failure)?;
    if cli.format == Format::Table {
        print_nightly_summary(&summary, date);
        return Ok(());
    }
    print(cli, &nightly_columns(), &[nightly_record(&summary, date)])
}

/// The nightly summary for people: counts, then the rupees behind them.
fn print_nightly_summary(summary: &vasooli_engine::nightly::NightlySummary, as_of: NaiveDate) {
    use vasooli_render::words::{date, rupees};
    let money = &summary.money;
    outln!("nightly run as of {as_of}");
    outln!("events read: {}", summary.events_read);
    outln!("events appended: {}", summary.appended);
    outln!(
        "surcharges: {}, notices: {}, cases closed: {}, plans broken: {}, sms queued: {}",
        summary.surcharges,
        summary.notices,
        summary.cases_closed,
        summary.plans_broken,
        summary.sms_queued
    );
    for (stage, count) in &summary.stages {
        let arrears = money
            .arrears_by_stage
            .get(stage)
            .copied()
            .unwrap_or_default();
        outln!(
            "stage {stage}: {count}, overdue arrears {}",
            rupees(arrears)
        );
    }
    let window = match money.since {
        None => format!("up to {}", date(as_of)),
        Some(since) if since > as_of => "since the last run of the same date".to_string(),
        Some(since) => format!("{} to {}", date(since), date(as_of)),
    };
    outln!(
        "billed {window}: {}; collected: {}; surcharge levied: {}",
        rupees(money.billed),
        rupees(money.collected),
        rupees(money.surcharge_levied)
    );
    // The others had nothing due by the date and nothing recorded since the last run.
    outln!("consumers decided: {}", summary.visited);
    outln!("elapsed: {} ms", summary.elapsed_ms);
}

/// Columns of the nightly summary as CSV or JSON: the counts, the rupees, and a count and the
/// overdue arrears for every stage (each stage always present, so the columns never change).
fn nightly_columns() -> Vec<&'static str> {
    let mut columns = vec![
        "as_of",
        "events_read",
        "events_appended",
        "surcharges",
        "notices",
        "cases_closed",
        "plans_broken",
        "sms_queued",
        "counted_from",
        "billed",
        "collected",
        "surcharge_levied",
    ];
    for stage in Stage::ALL {
        columns.push(stage_column(*stage, "consumers"));
        columns.push(stage_column(*stage, "arrears"));
    }
    columns.push("elapsed_ms");
    columns
}

/// The per-stage columns of the nightly summary, in the order of [`Stage::ALL`] (a test
/// checks that they match it).
const STAGE_COLUMNS: &[(&str, &str)] = &[
    ("clear_consumers", "clear_arrears"),
    ("notice_due_consumers", "notice_due_arrears"),
    ("notice_issued_consumers", "notice_issued_arrears"),
    ("notice_served_consumers", "notice_served_arrears"),
    ("disconnection_due_consumers", "disconnection_due_arrears"),
    ("disconnected_consumers", "disconnected_arrears"),
    ("reconnection_due_consumers", "reconnection_due_arrears"),
    ("pd_due_consumers", "pd_due_arrears"),
    (
        "permanently_disconnected_consumers",
        "permanently_disconnected_arrears",
    ),
    ("rc_due_consumers", "rc_due_arrears"),
    ("rc_issued_consumers", "rc_issued_arrears"),
];

/// `notice_served_consumers` (`what` "consumers") or `notice_served_arrears`.
fn stage_column(stage: Stage, what: &str) -> &'static str {
    let (consumers, arrears) = STAGE_COLUMNS[usize::from(stage.index())];
    if what == "consumers" {
        consumers
    } else {
        arrears
    }
}

fn nightly_record(summary: &vasooli_engine::nightly::NightlySummary, date: NaiveDate) -> Record {
    let money = &summary.money;
    let mut record: Record = vec![
        ("as_of", Some(date.to_string())),
        ("events_read", Some(summary.events_read.to_string())),
        ("events_appended", Some(summary.appended.to_string())),
        ("surcharges", Some(summary.surcharges.to_string())),
        ("notices", Some(summary.notices.to_string())),
        ("cases_closed", Some(summary.cases_closed.to_string())),
        ("plans_broken", Some(summary.plans_broken.to_string())),
        ("sms_queued", Some(summary.sms_queued.to_string())),
        ("counted_from", money.since.map(|d| d.to_string())),
        ("billed", Some(money.billed.to_string())),
        ("collected", Some(money.collected.to_string())),
        ("surcharge_levied", Some(money.surcharge_levied.to_string())),
    ];
    for stage in Stage::ALL {
        let count = summary.stages.get(stage.as_str()).copied().unwrap_or(0);
        let arrears = money
            .arrears_by_stage
            .get(stage.as_str())
            .copied()
            .unwrap_or_default();
        record.push((stage_column(*stage, "consumers"), Some(count.to_string())));
        record.push((stage_column(*stage, "arrears"), Some(arrears.to_string())));
    }
    record.push(("elapsed_ms", Some(summary.elapsed_ms.to_string())));
    record
}

fn defaulters(
    cli: &Cli,
    office: &str,
    min_arrears: Option<&str>,
    stage: Option<&str>,
    limit: Option<usize>,
) -> Outcome {
    let min_arrears = min_arrears
        .map(Money::parse)
        .transpose()
        .map_err(|e| usage(format!("--min-arrears: {e}")))?;
    let stage = stage
        .map(lists::parse_stage)
        .transpose()
        .map_err(|e| usage(format!("--stage: {e}")))?;
    let filter = lists::DefaulterFilter {
        min_arrears,
        stage,
        limit,
        offset: 0,
    };
    let view = open_office(cli, office)?;
    let date = view.as_of().map_err(engine_failure)?;
    let rows =
        lists::defaulters(view.world(), view.policy(), office, date, &filter).map_err(usage)?;
    let records: Vec<Record> = rows.iter().map(|r| r.to_record()).collect();
    print(cli, lists::DEFAULTER_COLUMNS, &records)
}

fn worklist(cli: &Cli, office: &str, kind: &str, notices: Option<&Path>) -> Outcome {
    let kind = WorklistKind::from_str(kind).map_err(|e| usage(format!("--kind: {e}")))?;
    // A list without papers is refused before anything is read or written.
    if notices.is_some() && DocumentKind::for_worklist(kind).is_none() {
        return Err(usage(format!("--notices: {}", NoDocuments(kind))));
    }
    let view = open_office(cli, office)?;
    let date = view.as_of().map_err(engine_failure)?;
    let rows =
        lists::worklist(view.world(), view.policy(), office, kind, date, None, 0).map_err(usage)?;
    if let Some(path) = notices {
        let html =
            vasooli_render::notices::render_notices(view.world(), view.policy(), kind, &rows, date)
                .map_err(|e| usage(format!("--notices: {e}")))?;
        if reports::is_stdout(path) {
            // The documents alone: the list would spoil the HTML.
            out!("{html}");
            return Ok(());
        }
        std::fs::write(crate::out::resolve(path), html)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let records: Vec<Record> = rows
        .iter()
        .map(|r| lists::worklist_record(r, kind))
        .collect();
    let mut columns = lists::DEFAULTER_COLUMNS.to_vec();
    columns.push("kind");
    print(cli, &columns, &records)
}

fn offices(cli: &Cli) -> Outcome {
    let engine = open(cli)?;
    let offices = &engine.world().offices;
    let mut records = Vec::with_capacity(offices.len());
    // Depth first from the zones, children in code order.
    let mut zones: Vec<&str> = offices
        .values()
        .filter(|o| o.parent.is_none())
        .map(|o| o.code.as_str())
        .collect();
    zones.sort_unstable();
    let mut stack: Vec<(&str, usize)> = zones.into_iter().rev().map(|c| (c, 0)).collect();
    let indent = cli.format == Format::Table;
    while let Some((code, depth)) = stack.pop() {
        let Some(office) = offices.get(code) else {
            continue;
        };
        let shown = match indent {
            true => format!("{}{code}", "  ".repeat(depth)),
            false => code.to_string(),
        };
        records.push(vec![
            ("code", Some(shown)),
            ("name", Some(office.name.clone())),
            ("level", Some(office.level.as_str().to_string())),
            ("parent", office.parent.clone()),
        ]);
        let mut children: Vec<&str> = office.children.iter().map(String::as_str).collect();
        children.sort_unstable();
        stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
    }
    print(cli, &["code", "name", "level", "parent"], &records)
}

fn statement(cli: &Cli, account: &str) -> Outcome {
    use vasooli_projections::statement::{statement, StatementError};
    let view = open_read(cli, |dir, policy| {
        vasooli_engine::ColdView::accounts(dir, policy, &[account])
    })?;
    let made = statement(
        view.world(),
        &|m| view.sms_text(m),
        view.policy(),
        account,
        view.report_date(),
    );
    let statement = made.map_err(|e| match e {
        StatementError::UnknownAccount(_) => usage(e.to_string()),
        StatementError::SmsText(_) => Failure::Runtime(e.into()),
    })?;
    if cli.format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&statement).context("printing")?
        );
        return Ok(());
    }
    if matches!(cli.format, Format::Csv | Format::Xlsx) {
        return print(cli, PASSBOOK_COLUMNS, &passbook(&statement));
    }
    print_statement_head(&statement);
    print_statement_lines(cli, &statement)
}

/// The statement's account, totals and ladder stage, as lines of text.
fn print_statement_head(statement: &vasooli_projections::statement::Statement) {
    let row = &statement.row;
    outln!(
        "Statement of {} ({}) as of {}",
        row.account_no,
        row.name,
        statement.as_of
    );
    outln!(
        "category {}, subdivision {}, division {}, circle {}",
        row.category,
        row.subdivision,
        row.division,
        row.circle
    );
    outln!(
        "charges {}  credits {}  outstanding {}  overdue arrears {}  days overdue {}  bucket {}",
        statement.total_charges,
        statement.total_credits,
        statement.outstanding,
        row.overdue_arrears,
        row.days_overdue,
        row.aging_bucket
    );
    outln!(
        "stage {}  notice {}  hold {}",
        row.stage,
        row.notice_no.as_deref().unwrap_or(""),
        row.hold
    );
}

/// The statement's charges, then its credits, as tables.
fn print_statement_lines(
    cli: &Cli,
    statement: &vasooli_projections::statement::Statement,
) -> Outcome {
    let charges: Vec<Record> = statement
        .charges
        .iter()
        .map(|c| {
            vec![
                ("kind", Some(c.kind.to_string())),
                ("reference", Some(c.reference.clone())),
                ("due_on", Some(c.due_on.to_string())),
                ("amount", Some(c.amount.to_string())),
                ("unpaid", Some(c.unpaid.to_string())),
                ("over_two_years", Some(c.over_two_years.to_string())),
            ]
        })
        .collect();
    outln!();
    print(
        cli,
        &[
            "kind",
            "reference",
            "due_on",
            "amount",
            "unpaid",
            "over_two_years",
        ],
        &charges,
    )?;
    let credits: Vec<Record> = statement
        .credits
        .iter()
        .map(|c| {
            vec![
                ("kind", Some(c.kind.to_string())),
                ("reference", Some(c.reference.clone())),
                ("on", Some(c.on.to_string())),
                ("amount", Some(c.amount.to_string())),
            ]
        })
        .collect();
    outln!();
    print(cli, &["kind", "reference", "on", "amount"], &credits)
}

/// The columns of `statement --format csv`.
const PASSBOOK_COLUMNS: &[&str] = &[
    "date",
    "kind",
    "reference",
    "due_on",
    "debit",
    "credit",
    "balance",
];

/// A statement as a passbook: every charge (on the date it was booked) and every credit (on
/// the date it counts from) in date order, charges before credits on the same day, with the
/// balance after each; the last balance is the amount outstanding.
fn passbook(statement: &vasooli_projections::statement::Statement) -> Vec<Record> {
    struct Entry<'a> {
        date: NaiveDate,
        credit: bool,
        kind: &'a str,
        reference: &'a str,
        due_on: Option<NaiveDate>,
        amount: Money,
    }
    let mut entries: Vec<Entry> = statement
        .charges
        .iter()
        .map(|c| Entry {
            date: c.booked_on,
            credit: false,
            kind: c.kind,
            reference: &c.reference,
            due_on: Some(c.due_on),
            amount: c.amount,
        })
        .chain(statement.credits.iter().map(|c| Entry {
            date: c.on,
            credit: true,
            kind: c.kind,
            reference: &c.reference,
            due_on: None,
            amount: c.amount,
        }))
        .collect();
    entries.sort_by_key(|e| (e.date, e.credit));
    let mut balance = Money::ZERO;
    entries
        .into_iter()
        .map(|e| {
            let (debit, credit) = match e.credit {
                false => {
                    balance += e.amount;
                    (Some(e.amount.to_string()), None)
                }
                true => {
                    balance -= e.amount;
                    (None, Some(e.amount.to_string()))
                }
            };
            vec![
                ("date", Some(e.date.to_string())),
                ("kind", Some(e.kind.to_string())),
                ("reference", Some(e.reference.to_string())),
                ("due_on", e.due_on.map(|d| d.to_string())),
                ("debit", debit),
                ("credit", credit),
                ("balance", Some(balance.to_string())),
            ]
        })
        .collect()
}

/// The columns of `sms outbox`.
const OUTBOX_COLUMNS: &[&str] = &[
    "message_id",
    "account_no",
    "mobile",
    "template",
    "dlt_template_id",
    "language",
    "queued_on",
    "status",
    "attempts",
    "encoding",
    "parts",
    "text",
    "detail",
    "delivery",
    "delivery_reason",
];

fn sms_outbox(cli: &Cli, status: Option<&str>) -> Outcome {
    let status = status
        .map(|s| {
            SmsStatus::from_str(s).map_err(|_| {
                usage(format!(
                    "--status: `{s}` is not one of {}",
                    SmsStatus::expected()
                ))
            })
        })
        .transpose()?;
    let engine = open(cli)?;
    let mut records: Vec<Record> = Vec::new();
    for stored in &engine.world().consumers {
        let consumer = stored.consumer();
        for m in &consumer.sms {
            let state = lists::sms_status(m);
            if status.is_some_and(|s| s != state) {
                continue;
            }
            let text = engine
                .sms_text(m)
                .map_err(|e| Failure::Runtime(anyhow::anyhow!(e)))?;
            records.push(outbox_record(
                m,
                consumer.account_no.to_string(),
                state,
                text,
            ));
        }
    }
    print(cli, OUTBOX_COLUMNS, &records)
}

/// One message of the outbox, in [`OUTBOX_COLUMNS`].
fn outbox_record(
    m: &vasooli_domain::state::SmsMessage,
    account_no: String,
    state: SmsStatus,
    text: String,
) -> Record {
    let (encoding, parts) = vasooli_domain::sms::encoding_and_parts(&text);
    vec![
        ("message_id", Some(m.message_id.to_string())),
        ("account_no", Some(account_no)),
        (
            "mobile",
            Some(vasooli_domain::mobile::mask_mobile(&m.mobile)),
        ),
        ("template", Some(m.template.to_string())),
        ("dlt_template_id", Some(m.dlt_template_id.to_string())),
        ("language", Some(m.language.to_string())),
        ("queued_on", Some(m.queued_on.to_string())),
        ("status", Some(state.to_string())),
        ("attempts", Some(m.attempts.to_string())),
        ("encoding", Some(encoding.as_str().to_string())),
        ("parts", Some(parts.to_string())),
        ("text", Some(text)),
        ("detail", Some(m.last_detail.clone())),
        (
            "delivery",
            Some(
                lists::sms_delivery(m)
                    .map_or("", |d| d.as_str())
                    .to_string(),
            ),
        ),
        (
            "delivery_reason",
            Some(
                m.delivery
                    .as_ref()
                    .map(|d| d.reason.clone())
                    .unwrap_or_default(),
            ),
        ),
    ]
}

fn verify(cli: &Cli) -> Outcome {
    let checked = vasooli_engine::log::verify_log(&cli.data).map_err(engine_failure)?;
    match checked {
        Ok(figures) => {
            outln!(
                "ok: {} events in {} commits, last position {}",
                figures.events,
                figures.commits,
                figures.last_position
            );
            Ok(())
        }
        Err(unsound) => {
            for (position, reason) in &unsound.problems {
                errln!("position {position}: {reason}");
            }
            let (position, reason) = &unsound.problems[0];
            Err(Failure::Runtime(anyhow::anyhow!(
                "the log is not sound: first bad position {position}: {reason}"
            )))
        }
    }
}

fn rebuild(cli: &Cli) -> Outcome {
    let mut engine = open(cli)?;
    let count = engine.rebuild().map_err(engine_failure)?;
    outln!("rebuilt projections from {count} events");
    Ok(())
}

fn export(cli: &Cli, out: &Path) -> Outcome {
    if reports::is_stdout(out) {
        let mut writer = BufWriter::new(crate::out::stdout());
        let count =
            vasooli_engine::log::export_log(&cli.data, &mut writer).map_err(engine_failure)?;
        writer.flush().context("writing to stdout")?;
        errln!("exported {count} events");
        return Ok(());
    }
    let file = File::create(crate::out::resolve(out))
        .with_context(|| format!("creating {}", out.display()))?;
    let mut writer = BufWriter::new(file);
    let count = vasooli_engine::log::export_log(&cli.data, &mut writer).map_err(engine_failure)?;
    outln!("exported {count} events to {}", out.display());
    Ok(())
}

fn restore(cli: &Cli, file: &Path) -> Outcome {
    let name = file.display().to_string();
    let handle = File::open(file).map_err(|e| usage(format!("{name}: {e}")))?;
    let events = vasooli_engine::log::parse_export(&name, BufReader::new(handle))
        .map_err(Failure::Rejected)?;
    let count = events.len();
    vasooli_engine::log::restore_log(&cli.data, load_policy(cli)?, events)
        .map_err(engine_failure)?;
    outln!("restored {count} events");
    Ok(())
}

/// Parses `--level`.
pub fn parse_level(text: &str) -> Result<Level, Failure> {
    match Level::from_str(text) {
        Ok(Level::Zone) | Err(_) => Err(usage(format!(
            "--level: `{text}` is not one of circle, division, subdivision"
        ))),
        Ok(level) => Ok(level),
    }
}

fn serve(cli: &Cli, addr: &str) -> Outcome {
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| usage(format!("--addr: `{addr}`: {e}")))?;
    let policy = load_policy(cli)?;
    use vasooli_server::dlr::{DlrSecrets, SECRETS_ENV};
    let secrets = match std::env::var(SECRETS_ENV) {
        Ok(text) => DlrSecrets::parse(&text).map_err(|e| Failure::Rejected(vec![e]))?,
        Err(std::env::VarError::NotPresent) => DlrSecrets::default(),
        Err(e) => return Err(Failure::Rejected(vec![format!("{SECRETS_ENV}: {e}")])),
    };
    let dir = cli.data.clone();
    let on_open: vasooli_server::OnOpen = std::sync::Arc::new(move |engine| {
        // Without the socket the server still serves; other commands then say it holds the
        // directory.
        Ok(match crate::attach::listen(&dir, engine) {
            Ok(listening) => Box::new(listening) as Box<dyn Send>,
            Err(e) => {
                tracing::warn!("commands cannot be handed to this server: {e:#}");
                Box::new(())
            }
        })
    });
    let options = vasooli_server::ServeOptions {
        dlr_secrets: secrets,
        on_open: Some(on_open),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let mut stop = crate::signals::StopSignals::listen().context("listening for signals")?;
        let shutdown = async move { stop.recv().await };
        vasooli_server::serve_with(cli.data.clone(), policy, addr, options, shutdown).await
    })?;
    Ok(())
}

fn tokens(cli: &Cli, action: &TokensAction) -> Outcome {
    use vasooli_server::tokens::{self, Role};
    let engine = open(cli)?;
    let db = &engine
        .store()
        .table(tokens::TOKENS_TREE)
        .map_err(|e| Failure::Runtime(e.into()))?;
    match action {
        TokensAction::Create { role, office, name } => {
            let role = Role::from_str(role).map_err(|e| usage(format!("--role: {e}")))?;
            if let Some(code) = office {
                lists::check_office(engine.world(), code)
                    .map_err(|e| usage(format!("--office: {e}")))?;
            }
            let token = tokens::create(db, role, office.clone(), name).map_err(token_failure)?;
            outln!("{token}");
        }
        TokensAction::List => {
            let records: Vec<Record> = tokens::list(db)
                .into_iter()
                .map(|t| {
                    vec![
                        ("name", Some(t.name)),
                        ("role", Some(t.role.to_string())),
                        ("office", t.office),
                        ("created_at", Some(t.created_at)),
                    ]
                })
                .collect();
            print(cli, &["name", "role", "office", "created_at"], &records)?;
        }
        TokensAction::Revoke { name } => {
            tokens::revoke(db, name).map_err(token_failure)?;
            outln!("revoked {name}");
        }
    }
    Ok(())
}

/// A token refused for what was asked is a usage error (exit 2); one the store could not
/// keep is a runtime failure (exit 1).
fn token_failure(e: vasooli_server::tokens::TokenError) -> Failure {
    if e.is_request() {
        usage(e.to_string())
    } else {
        Failure::Runtime(e.into())
    }
}

#[cfg(test)]
mod nightly_columns_tests {
    use super::*;

    #[test]
    fn every_stage_has_its_two_columns_in_order() {
        assert_eq!(STAGE_COLUMNS.len(), Stage::ALL.len());
        for stage in Stage::ALL {
            assert_eq!(
                stage_column(*stage, "consumers"),
                format!("{}_consumers", stage.as_str())
            );
            assert_eq!(
                stage_column(*stage, "arrears"),
                format!("{}_arrears", stage.as_str())
            );
        }
    }
}
