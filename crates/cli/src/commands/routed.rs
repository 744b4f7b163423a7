//! `vasooli cluster import` and `vasooli cluster append`: a file split among the partitions'
//! owners by division, and the owner's side of it. See docs/CLUSTER.md ("Routed imports").
//!
//! The client reads the whole file, asks every partition's owner what it holds of the names
//! the rows refer to (and its office tree), routes each row with
//! [`vasooli_domain::partition::Router`], has every owner check its part without writing,
//! and only when no part has a problem has each owner write its part. Requests travel through
//! the cluster ([`ClusterLog::ask_owner`]) as JSON.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vasooli_cluster::{ClusterLog, PartitionMap};
use vasooli_domain::command::import_command_type;
use vasooli_domain::import::CsvRows;
use vasooli_domain::partition::{Known, Lookup, Route, Router};
use vasooli_domain::Command as DomainCommand;
use vasooli_engine::{EngineError, Input, RowError, SharedEngine};

use crate::commands::cluster::{check_servers, cluster_failure, config, runtime};
use crate::Failure;

type Outcome = Result<(), Failure>;

/// Rows whose names are looked up in one request to each owner.
const LOOKUP_ROWS: usize = 20_000;
/// How long an owner may take to answer a lookup or a check before it is asked again.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an owner may take to write a part before it is asked again: its appends wait
/// out a leader's election. Asked again, it skips what it wrote as duplicates.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request is repeated while its partition has no owner (a failover in
/// progress) or no answer comes.
const PATIENCE: Duration = Duration::from_secs(150);

/// One row as it travels: where it came from, and the JSON object its command is read from.
#[derive(Clone, Serialize, Deserialize)]
struct WireRow {
    location: String,
    command: Value,
}

/// A request to a partition's owner.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Ask {
    /// What the partition holds of these names, and its office tree.
    Known { lookup: Lookup },
    /// Every problem these rows have, writing nothing.
    Check { rows: Vec<WireRow> },
    /// Writes these rows (all or nothing) and reads them in.
    Write { rows: Vec<WireRow> },
}

/// A problem with one row: where, and the line the user is shown.
#[derive(Serialize, Deserialize)]
struct WireError {
    location: String,
    text: String,
}

/// An owner's answer.
#[derive(Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    Known {
        known: Known,
    },
    Checked {
        errors: Vec<WireError>,
    },
    Written {
        read: usize,
        appended: usize,
        duplicates: usize,
    },
    /// The rows were refused and nothing of them written.
    Refused {
        errors: Vec<WireError>,
    },
    /// Anything else: the store failed, this process no longer owns the partition.
    Failed {
        message: String,
    },
}

fn wire_errors(errors: Vec<RowError>) -> Vec<WireError> {
    errors
        .into_iter()
        .map(|e| WireError {
            location: e.location.clone(),
            text: e.to_string(),
        })
        .collect()
}

fn inputs(rows: Vec<WireRow>) -> Vec<Input> {
    rows.into_iter()
        .map(|row| Input {
            command: DomainCommand::from_json(&row.command),
            location: row.location,
        })
        .collect()
}

/// The requests an owner answered, by kind and answer, for its metrics.
#[derive(Default)]
pub struct Answered {
    counts: std::sync::Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Answered {
    fn count(&self, ask: &'static str, answer: &Answer) {
        let answer = match answer {
            Answer::Known { .. } => "known",
            Answer::Checked { errors } if errors.is_empty() => "checked",
            Answer::Checked { .. } => "problems",
            Answer::Written { .. } => "written",
            Answer::Refused { .. } => "refused",
            Answer::Failed { .. } => "failed",
        };
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((ask, answer)).or_default() += 1;
        }
    }

    /// Prometheus lines: `vasooli_partition_requests_total{partition,ask,answer}`.
    pub fn render(&self, partition: &str) -> String {
        use std::fmt::Write;
        let mut out = String::from(
            "# HELP vasooli_partition_requests_total Requests to this partition's owner \
             through the cluster, by kind and answer.\n\
             # TYPE vasooli_partition_requests_total counter\n",
        );
        if let Ok(counts) = self.counts.lock() {
            for ((ask, answer), n) in counts.iter() {
                let _ = writeln!(
                    out,
                    "vasooli_partition_requests_total{{partition=\"{partition}\",ask=\"{ask}\",answer=\"{answer}\"}} {n}"
                );
            }
        }
        out
    }
}

/// The owner's answer to one request (blocking: it may wait for the engine's write slot).
pub fn answer(engine: &SharedEngine, body: &[u8], answered: &Answered) -> Vec<u8> {
    let (ask, answer) = decide(engine, body);
    answered.count(ask, &answer);
    serde_json::to_vec(&answer).unwrap_or_else(|e| {
        format!(r#"{{"answer":"failed","message":"encoding the answer: {e}"}}"#).into_bytes()
    })
}

/// The request's kind and its answer.
fn decide(engine: &SharedEngine, body: &[u8]) -> (&'static str, Answer) {
    let failed = |e: EngineError| Answer::Failed {
        message: e.to_string(),
    };
    match serde_json::from_slice::<Ask>(body) {
        Err(e) => (
            "unreadable",
            Answer::Failed {
                message: format!("not a request to an owner: {e}"),
            },
        ),
        Ok(Ask::Known { lookup }) => {
            let known = engine.read(|e| e.known(&lookup)).and_then(|k| k);
            (
                "known",
                known.map_or_else(failed, |known| Answer::Known { known }),
            )
        }
        Ok(Ask::Check { rows }) => {
            let checked = engine.read(|e| e.validate(inputs(rows))).and_then(|r| r);
            let answer = match checked {
                Ok(errors) | Err(EngineError::Rejected(errors)) => Answer::Checked {
                    errors: wire_errors(errors),
                },
                Err(e) => failed(e),
            };
            ("check", answer)
        }
        Ok(Ask::Write { rows }) => {
            let rows = inputs(rows);
            let answer = match engine.bulk(|e| e.write_checked(rows, &mut |_, _| {})) {
                Ok(report) => Answer::Written {
                    read: report.read,
                    appended: report.appended,
                    duplicates: report.duplicates,
                },
                Err(EngineError::Rejected(errors)) => Answer::Refused {
                    errors: wire_errors(errors),
                },
                Err(e) => failed(e),
            };
            ("write", answer)
        }
    }
}

/// One row of the file as read.
struct Row {
    location: String,
    command: Result<DomainCommand, Vec<vasooli_domain::command::FieldError>>,
    value: Value,
}

/// Sends `ask` to `partition`'s owner; an answer that does not decode is a failure.
async fn ask(
    log: &ClusterLog,
    partition: &str,
    ask: &Ask,
    timeout: Duration,
) -> Result<Answer, Failure> {
    ask_within(log, partition, ask, timeout, PATIENCE).await
}

/// What `partition`'s owner holds of `lookup`'s names, and its office tree; asked again for
/// as long as `patience` lasts while the partition has no owner.
pub(crate) async fn known(
    log: &ClusterLog,
    partition: &str,
    lookup: Lookup,
    patience: Duration,
) -> Result<Known, Failure> {
    let asked = Ask::Known { lookup };
    match ask_within(log, partition, &asked, READ_TIMEOUT, patience).await? {
        Answer::Known { known } => Ok(known),
        _ => Err(unexpected(partition)),
    }
}

/// [`ask`], repeated for as long as `patience` lasts.
async fn ask_within(
    log: &ClusterLog,
    partition: &str,
    ask: &Ask,
    timeout: Duration,
    patience: Duration,
) -> Result<Answer, Failure> {
    let body = serde_json::to_vec(ask).map_err(|e| Failure::Runtime(e.into()))?;
    let answer = log
        .ask_owner(partition, body, timeout, patience)
        .await
        .map_err(cluster_failure)?;
    if answer.is_empty() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the owner of partition {partition} could not send its answer (larger than the \
             servers' max_payload): send the file in smaller parts"
        )));
    }
    let answer: Answer = serde_json::from_slice(&answer).map_err(|e| {
        Failure::Runtime(anyhow::anyhow!(
            "the owner of partition {partition} answered what is not an answer: {e}"
        ))
    })?;
    match answer {
        Answer::Failed { message } => Err(Failure::Runtime(anyhow::anyhow!(
            "the owner of partition {partition}: {message}"
        ))),
        answer => Ok(answer),
    }
}

/// Runs `each` for every partition at once and waits for all of them (none is cut off by
/// another's failure): the outcomes in `partitions`' order.
async fn for_each_partition<T, F, Fut>(partitions: &[String], each: F) -> Vec<Result<T, Failure>>
where
    T: Send + 'static,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>> + Send + 'static,
{
    let tasks: Vec<_> = partitions
        .iter()
        .map(|p| tokio::spawn(each(p.clone())))
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(
            task.await
                .map_err(|e| Failure::Runtime(e.into()))
                .and_then(|outcome| outcome),
        );
    }
    outcomes
}

/// Every outcome, or the first failure.
fn all_ok<T>(outcomes: Vec<Result<T, Failure>>) -> Result<Vec<T>, Failure> {
    outcomes.into_iter().collect()
}

/// Splits rows into requests of at most `max` bytes each (a row larger than that alone).
fn chunks(rows: Vec<WireRow>, max: usize) -> Vec<Vec<WireRow>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 64;
    for row in rows {
        let size = serde_json::to_vec(&row).map_or(0, |b| b.len()) + 1;
        if !current.is_empty() && bytes + size > max {
            out.push(std::mem::take(&mut current));
            bytes = 64;
        }
        bytes += size;
        current.push(row);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The line of `FILE:LINE`, for putting problems in file order.
fn line_of(location: &str) -> u64 {
    location
        .rsplit_once(':')
        .and_then(|(_, line)| line.parse().ok())
        .unwrap_or(0)
}

fn reject(mut problems: Vec<(String, String)>) -> Failure {
    problems.sort_by_key(|(location, _)| line_of(location));
    Failure::Rejected(problems.into_iter().map(|(_, text)| text).collect())
}

pub fn import(servers: &[String], kind: &str, file: &Path) -> Outcome {
    check_servers(servers)?;
    let Some(command_type) = import_command_type(kind) else {
        return Err(Failure::Usage(format!(
            "`{kind}` is not one of offices, consumers, bills, payments, mobiles"
        )));
    };
    let name = file.display().to_string();
    let handle = std::fs::File::open(crate::out::resolve(file))
        .map_err(|e| Failure::Usage(format!("{name}: {e}")))?;
    let csv = CsvRows::open(kind, std::io::BufReader::new(handle))
        .map_err(|fault| crate::commands::header_failure(kind, &name, fault))?
        .keeping_fields();
    let mut rows = Vec::new();
    for row in csv {
        let mut value = row.fields;
        value.insert("type".to_string(), Value::String(command_type.to_string()));
        rows.push(Row {
            location: format!("{name}:{}", row.line),
            command: row.command,
            value: Value::Object(value),
        });
    }
    report(servers, rows, Vec::new(), kind == "offices")
}

/// `vasooli cluster append`: a JSON Lines file of commands, routed as [`import`] routes a
/// CSV file. Offices go to every partition, so a file registering offices holds nothing
/// else (the summary counts them once).
pub fn append(servers: &[String], file: &Path) -> Outcome {
    check_servers(servers)?;
    let name = file.display().to_string();
    let handle = std::fs::File::open(crate::out::resolve(file))
        .map_err(|e| Failure::Usage(format!("{name}: {e}")))?;
    let (commands, problems) = crate::commands::read_json_lines(&name, handle)?;
    let problems: Vec<(String, String)> = problems
        .iter()
        .map(|p| (format!("{name}:{}", p.line.unwrap_or(0)), p.to_string()))
        .collect();
    let rows: Vec<Row> = commands
        .into_iter()
        .map(|(location, _, value)| Row {
            location,
            command: DomainCommand::from_json(&value),
            value,
        })
        .collect();
    let offices = rows
        .iter()
        .filter(|r| matches!(r.command, Ok(DomainCommand::RegisterOffice { .. })))
        .count();
    let others = rows
        .iter()
        .filter(
            |r| matches!(&r.command, Ok(c) if !matches!(c, DomainCommand::RegisterOffice { .. })),
        )
        .count();
    if offices > 0 && others > 0 {
        return Err(Failure::Usage(format!(
            "{name}: register_office goes to every partition: put the {offices} offices in a \
             file of their own"
        )));
    }
    report(servers, rows, problems, offices > 0)
}

/// Routes and writes `rows`, then prints the summary; `everywhere`: every row went to every
/// partition, whose counts are each the file's.
fn report(
    servers: &[String],
    rows: Vec<Row>,
    problems: Vec<(String, String)>,
    everywhere: bool,
) -> Outcome {
    let read = rows.len() + problems.len();
    let runtime = runtime()?;
    let outcome = runtime.block_on(route_and_write(servers, rows, problems));
    runtime.shutdown_timeout(Duration::from_secs(1));
    let written = outcome?;
    // Offices go to every partition: each one's counts are the file's.
    let (appended, duplicates) = if everywhere {
        written
            .first()
            .map_or((0, 0), |(_, _, appended, duplicates)| {
                (*appended, *duplicates)
            })
    } else {
        written
            .iter()
            .fold((0, 0), |(a, d), (_, _, appended, duplicates)| {
                (a + appended, d + duplicates)
            })
    };
    for (partition, read, appended, duplicates) in &written {
        errln!("partition {partition}: read {read}, appended {appended}, duplicates skipped {duplicates}");
    }
    outln!("read {read}, appended {appended}, duplicates skipped {duplicates}");
    Ok(())
}

/// Routes the rows, has every part checked, then written: each partition's
/// `(name, read, appended, duplicates)`.
async fn route_and_write(
    servers: &[String],
    rows: Vec<Row>,
    mut problems: Vec<(String, String)>,
) -> Result<Vec<(String, usize, usize, usize)>, Failure> {
    let log = ClusterLog::connect(config(servers, Duration::from_secs(30)))
        .await
        .map_err(cluster_failure)?;
    let map = PartitionMap::open(&log).await.map_err(cluster_failure)?;
    let assigned: HashMap<String, String> = map
        .assignments()
        .await
        .map_err(cluster_failure)?
        .into_iter()
        .collect();
    let mut partitions: Vec<String> = assigned.values().cloned().collect();
    partitions.sort();
    partitions.dedup();
    if partitions.is_empty() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "no division is assigned to a partition yet (vasooli cluster assign)"
        )));
    }

    // What every partition holds of the names the rows refer to.
    let mut router = Router::new();
    for part in rows.chunks(LOOKUP_ROWS) {
        let mut lookup = Lookup::default();
        for row in part {
            if let Ok(command) = &row.command {
                lookup.note(command);
            }
        }
        let lookup = std::sync::Arc::new(lookup);
        let answers = for_each_partition(&partitions, |partition| {
            let (log, lookup) = (log.clone(), lookup.clone());
            async move {
                let asked = Ask::Known {
                    lookup: (*lookup).clone(),
                };
                match ask(&log, &partition, &asked, READ_TIMEOUT).await? {
                    Answer::Known { known } => Ok(known),
                    _ => Err(unexpected(&partition)),
                }
            }
        })
        .await;
        let answers = all_ok(answers)?;
        for known in &answers {
            router.learn(known);
        }
    }

    // Each row to its partition; a row that makes no command is reported here, one whose
    // names no partition holds goes to the first partition, which refuses it as one
    // process over every event would.
    let mut parts: BTreeMap<String, Vec<WireRow>> = BTreeMap::new();
    for row in rows {
        let command = match row.command {
            Ok(command) => command,
            Err(field_errors) => {
                for e in field_errors {
                    let text = RowError {
                        location: row.location.clone(),
                        field: e.field,
                        reason: e.reason,
                        kind: vasooli_engine::ErrorKind::Malformed,
                    }
                    .to_string();
                    problems.push((row.location.clone(), text));
                }
                continue;
            }
        };
        let wire = WireRow {
            location: row.location.clone(),
            command: row.value,
        };
        match router.route(&command) {
            Ok(Route::Everywhere) => {
                for partition in &partitions {
                    parts
                        .entry(partition.clone())
                        .or_default()
                        .push(wire.clone());
                }
            }
            Ok(Route::Division(division)) => match assigned.get(&division) {
                Some(partition) => parts.entry(partition.clone()).or_default().push(wire),
                None => problems.push((
                    row.location.clone(),
                    format!(
                        "{}: division {division} is in no partition (vasooli cluster assign)",
                        row.location
                    ),
                )),
            },
            // No partition could check a grievance of one division naming another's
            // account or camp.
            Err(unrouted) if unrouted.what.starts_with("grievance naming") => problems.push((
                row.location.clone(),
                format!(
                    "{}: grievance {} names an account or camp of another division than its \
                     subdivision's: no one partition can check it",
                    row.location, unrouted.key
                ),
            )),
            Err(_) => parts.entry(partitions[0].clone()).or_default().push(wire),
        }
    }
    let max = (log.request_bytes_max() / 2).max(1 << 10);
    let parts: Vec<(String, Vec<Vec<WireRow>>)> = parts
        .into_iter()
        .map(|(partition, rows)| (partition, chunks(rows, max)))
        .collect();
    let names: Vec<String> = parts.iter().map(|(p, _)| p.clone()).collect();
    let parts = std::sync::Arc::new(parts.into_iter().collect::<HashMap<_, _>>());

    // Every part checked before anything is written.
    let checked = for_each_partition(&names, |partition| {
        let (log, parts) = (log.clone(), parts.clone());
        async move {
            let mut errors = Vec::new();
            for chunk in &parts[&partition] {
                let asked = Ask::Check {
                    rows: chunk.clone(),
                };
                match ask(&log, &partition, &asked, READ_TIMEOUT).await? {
                    Answer::Checked { errors: found } => errors.extend(found),
                    _ => return Err(unexpected(&partition)),
                }
            }
            Ok(errors)
        }
    })
    .await;
    let checked = all_ok(checked)?;
    // An office's problem is found by every partition: said once.
    let mut seen = std::collections::HashSet::new();
    for e in checked.into_iter().flatten() {
        if seen.insert(e.text.clone()) {
            problems.push((e.location, e.text));
        }
    }
    if !problems.is_empty() {
        return Err(reject(problems));
    }

    // Then written, each partition's parts in file order.
    let written = for_each_partition(&names, |partition| {
        let (log, parts) = (log.clone(), parts.clone());
        async move {
            let rows: usize = parts[&partition].iter().map(Vec::len).sum();
            errln!(
                "partition {partition}: writing {rows} rows in {} requests",
                parts[&partition].len()
            );
            let (mut read, mut appended, mut duplicates) = (0, 0, 0);
            for chunk in &parts[&partition] {
                let asked = Ask::Write {
                    rows: chunk.clone(),
                };
                match ask(&log, &partition, &asked, WRITE_TIMEOUT).await {
                    Ok(Answer::Written {
                        read: r,
                        appended: a,
                        duplicates: d,
                    }) => {
                        read += r;
                        appended += a;
                        duplicates += d;
                    }
                    Ok(Answer::Refused { errors }) => {
                        let Failure::Rejected(mut lines) =
                            reject(errors.into_iter().map(|e| (e.location, e.text)).collect())
                        else {
                            return Err(unexpected(&partition));
                        };
                        lines.push(format!(
                            "partition {partition}: {appended} rows of this file were written \
                             before the refusal; run the import again once the file is mended: \
                             rows already written are skipped as duplicates"
                        ));
                        return Err(Failure::Rejected(lines));
                    }
                    Ok(_) => return Err(unexpected(&partition)),
                    Err(Failure::Runtime(e)) => {
                        return Err(Failure::Runtime(e.context(format!(
                            "{appended} rows were written to partition {partition}; run the \
                             import again: rows already written are skipped as duplicates"
                        ))))
                    }
                    Err(other) => return Err(other),
                }
            }
            Ok((partition, read, appended, duplicates))
        }
    })
    .await;
    // Each partition's outcome is told, also when another's failed.
    if written.iter().any(Result::is_err) {
        for (partition, read, appended, duplicates) in written.iter().flatten() {
            errln!(
                "partition {partition}: read {read}, appended {appended}, duplicates skipped \
                 {duplicates}"
            );
        }
    }
    all_ok(written)
}

fn unexpected(partition: &str) -> Failure {
    Failure::Runtime(anyhow::anyhow!(
        "the owner of partition {partition} answered another request's kind"
    ))
}
