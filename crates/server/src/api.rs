//! The route handlers: each checks the caller, reads its input, and asks the engine.
//!
//! Checks run in the documented order (401, 403, 400, 422, 404, 409): the token is checked
//! by the `Caller` extractor, the role before the body is read, the office scope against the
//! world before the query or body is judged, and the engine last, which reports its own
//! rejections by kind.

use crate::access;
use crate::error::{ApiError, Detail};
use crate::openapi as doc;
use crate::tokens::{Role, TokenInfo};
use crate::{AppState, Caller};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, ToSchema};
use vasooli_domain::codec::parse_date;
use vasooli_domain::period::Period;
use vasooli_domain::types::{Level, WorklistKind};
use vasooli_domain::{Command, Money, World};
use vasooli_engine::{Engine, EngineError, ExecuteReport, Input};
use vasooli_projections::documents::{DocumentKind, NoDocuments};
use vasooli_projections::statement::{statement, Statement, StatementError};
use vasooli_projections::{lists, reports};
use vasooli_render::notices;
use vasooli_render::records::csv_cell;

/// Rows a list returns when the request names no `limit`.
pub const LIST_LIMIT_DEFAULT: usize = 1_000;
/// Most rows one list request may ask for.
pub const LIST_LIMIT_MAX: usize = 10_000;
/// Most days one nightly run over HTTP may move past the last one. A run levies every
/// month's surcharges up to its date under the engine's write lock, so a date centuries
/// ahead would stall every other request for as long as it takes.
pub const NIGHTLY_STEP_DAYS_MAX: i64 = 366;
/// Largest `offset` a list request may give.
pub const LIST_OFFSET_MAX: usize = u32::MAX as usize;
/// Most CSV row errors reported before an import stops reading.
const IMPORT_ERRORS_MAX: usize = 1_000;

type Record = Vec<(&'static str, Option<String>)>;

/// The answer of `GET /health`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` while the data directory cannot be written (then with 503).
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// Why the store is degraded (it names the directory and the cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    store: Option<String>,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "system",
    summary = "Liveness",
    description = "`ok` while the server answers and its data directory takes writes. After a \
                   write failed (a full disk, a read-only or failing file system) it answers \
                   503 with `degraded` and the cause until a small probe write succeeds \
                   again; writes resume by themselves once the disk has room.",
    responses(
        (status = 200, description = "The server is up", body = Health),
        (status = 503, description = "Writes to the data directory fail", body = Health),
    ),
)]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let store = state.store().clone();
    if !store.degraded() {
        return Json(Health {
            status: "ok",
            store: None,
        })
        .into_response();
    }
    let probed = tokio::task::spawn_blocking(move || store.probe()).await;
    match probed {
        Ok(Ok(())) => Json(Health {
            status: "ok",
            store: None,
        })
        .into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "degraded",
                store: Some(e.to_string()),
            }),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "degraded",
                store: Some(format!("the probe failed: {e}")),
            }),
        )
            .into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    summary = "Prometheus metrics",
    description = "Requests by method, route template and status, and the event log's last \
                   position, in the Prometheus text exposition format.",
    responses((
        status = 200,
        description = "The metrics",
        body = String,
        content_type = "text/plain; version=0.0.4",
    )),
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(state.log_position());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "system",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI document of this API", body = Object)),
)]
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(doc::document())
}

pub(crate) fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than this route accepts",
        )
    } else if timed_out(&e) {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body stopped arriving",
        )
    } else {
        ApiError::malformed(format!("the request body could not be read: {e}"))
    }
}

/// Whether reading the body failed because the client stopped sending it.
fn timed_out(e: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

async fn body(request: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, &()).await.map_err(body_error)
}

/// What a write did.
#[derive(Serialize, ToSchema)]
pub(crate) struct WriteReport {
    /// Records in the request.
    read: usize,
    /// Events appended to the log.
    appended: usize,
    /// Records already in the log with the same content, skipped.
    duplicates: usize,
    /// The log's last position after the write.
    last_position: u64,
}

fn execute_report(report: &ExecuteReport) -> Json<WriteReport> {
    Json(WriteReport {
        read: report.read,
        appended: report.appended,
        duplicates: report.duplicates,
        last_position: report.last_position,
    })
}

/// `POST /api/v1/commands`: one command object or an array of them, all or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/commands",
    tag = "writes",
    summary = "Apply one command or an array of commands atomically",
    description = "Every command is checked against the state it would change; if any is \
                   refused, nothing is written and `details` lists every refused command. A \
                   command already in the log with the same content is skipped and counted. \
                   Officers may send officer actions within their office; ingest tokens the \
                   data-feed commands. The answer comes once the events are durable.",
    request_body(
        content = doc::CommandBatch,
        description = "One command object, or an array of them",
        example = json!({"type": "receive_payment", "receipt_no": "R-0001", "account_no": "A1",
                         "amount": "700.00", "paid_on": "2026-08-10", "channel": "upi"}),
    ),
    responses(
        (status = 200, description = "The batch was applied", body = WriteReport),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::PayloadTooLarge,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn commands(
    State(state): State<AppState>,
    Caller(caller): Caller,
    request: Request,
) -> Result<Json<WriteReport>, ApiError> {
    access::require_writer(&caller)?;
    let who = caller.clone();
    commands_of(state, caller, request)
        .await
        .map_err(|e| access::for_ingest(&who, e))
}

async fn commands_of(
    state: AppState,
    caller: TokenInfo,
    request: Request,
) -> Result<Json<WriteReport>, ApiError> {
    let bytes = body(request).await?;
    let value: Value = vasooli_domain::command::parse_json(&bytes).map_err(|e| {
        ApiError::malformed(format!(
            "line {} column {}: not valid JSON: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let batch = match value {
        Value::Array(list) => list,
        object @ Value::Object(_) => vec![object],
        _ => {
            return Err(ApiError::malformed(
                "the body must be a command object or an array of them",
            ))
        }
    };
    let report = state
        .execute(move |engine| {
            // Scope is judged against the world the batch would change, under the same lock.
            access::check_commands(&caller, engine.world(), &batch)?;
            if let Some(index) = batch.iter().position(|c| !c.is_object()) {
                return Err(ApiError::malformed(format!(
                    "commands[{index}]: a command must be a JSON object"
                )));
            }
            Ok(batch
                .iter()
                .enumerate()
                .map(|(i, v)| Input {
                    location: format!("commands[{i}]"),
                    command: Command::from_json(v),
                })
                .collect())
        })
        .await?;
    Ok(execute_report(&report))
}

/// `POST /api/v1/import/{kind}`: a CSV file of one kind, all rows or none.
#[utoipa::path(
    post,
    path = "/api/v1/import/{kind}",
    tag = "writes",
    summary = "Import a CSV file (offices, consumers, bills, payments, mobiles)",
    description = "The whole file is checked first; any bad row rejects the whole file, with \
                   every bad row under `details`. A row already in the log with the same \
                   content is skipped and counted, so an import that was cut off can be sent \
                   again.",
    params(("kind" = doc::ImportKind, Path, description = "What the file holds")),
    request_body(
        content = String,
        content_type = "text/csv",
        description = "UTF-8 CSV with a header row; the columns of the kind, in any order",
    ),
    responses(
        (status = 200, description = "The file was imported", body = WriteReport),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Conflict,
        doc::PayloadTooLarge,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn import(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(kind): Path<String>,
    request: Request,
) -> Result<Json<WriteReport>, ApiError> {
    access::check_import(&caller, &kind)?;
    let answer = async move {
        let bytes = body(request).await?;
        let inputs = tokio::task::spawn_blocking(move || parse_csv(&kind, &bytes))
            .await
            .map_err(|e| ApiError::internal(format!("parsing failed: {e}")))??;
        let report = state.execute(move |_| Ok(inputs)).await?;
        Ok(execute_report(&report))
    };
    answer.await.map_err(|e| access::for_ingest(&caller, e))
}

/// Reads an import body as the CLI's `import` reads a file: header names checked, then
/// each row turned into the kind's command. Faults in the CSV itself are malformed (400).
fn parse_csv(kind: &str, bytes: &[u8]) -> Result<Vec<Input>, ApiError> {
    use vasooli_domain::import::{columns_of, csv_reason, CsvRows, HeaderFault};
    let rows = CsvRows::open(kind, bytes).map_err(|fault| match fault {
        HeaderFault::UnknownKind => ApiError::not_found(format!("no import kind {kind}")),
        HeaderFault::Unreadable(e) => ApiError::malformed(format!("line 1: {}", csv_reason(&e))),
        HeaderFault::Columns(problems) => {
            let errors: Vec<String> = problems
                .iter()
                .map(|problem| format!("line 1: {}: {}", problem.column(), problem.reason(kind)))
                .collect();
            let mut e = ApiError::malformed(format!(
                "{} (columns: {})",
                errors.join("; "),
                columns_of(kind)
            ));
            e.details = errors.into_iter().map(Detail::Text).collect();
            e
        }
    })?;
    let mut inputs = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for row in rows {
        match (row.malformed, row.command) {
            (true, Err(faults)) => {
                let reason = faults.first().map(|f| f.reason.as_str()).unwrap_or("");
                errors.push(format!("line {}: {reason}", row.line));
                if errors.len() >= IMPORT_ERRORS_MAX {
                    break;
                }
            }
            (_, command) => inputs.push(Input {
                location: format!("line {}", row.line),
                command,
            }),
        }
    }
    if !errors.is_empty() {
        let mut e = ApiError::malformed(format!(
            "{} rows are not valid CSV; first: {}",
            errors.len(),
            errors[0]
        ));
        e.details = errors.into_iter().map(Detail::Text).collect();
        return Err(e);
    }
    Ok(inputs)
}

/// The date to run the nightly finance run as of.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NightlyBody {
    /// `YYYY-MM-DD`; not before the last run's date.
    #[schema(format = Date, example = "2026-09-30")]
    as_of: String,
}

/// What a nightly run did.
#[derive(Serialize, ToSchema)]
pub(crate) struct NightlyReport {
    /// The date the run was made as of.
    #[schema(format = Date)]
    as_of: String,
    /// Events read from the log.
    events_read: u64,
    /// Events the run appended.
    appended: usize,
    /// Late payment surcharges levied.
    surcharges: usize,
    /// Notices issued.
    notices: usize,
    /// Recovery cases closed.
    cases_closed: usize,
    /// Installment plans recorded as broken.
    plans_broken: usize,
    /// SMS messages queued.
    sms_queued: usize,
    /// Counts by stage of the run.
    #[schema(value_type = BTreeMap<String, usize>)]
    stages: BTreeMap<&'static str, usize>,
    /// The first day whose bills and payments are counted below (the day after the previous
    /// run); null for a first run, which counts everything up to its date.
    #[schema(format = Date)]
    counted_from: Option<String>,
    /// Bills issued from `counted_from` to the run's date, in rupees.
    #[schema(example = "125000.00")]
    billed: String,
    /// Payments made from `counted_from` to the run's date and not reversed, in rupees.
    #[schema(example = "98000.50")]
    collected: String,
    /// Surcharges this run levied, in rupees.
    #[schema(example = "1250.00")]
    surcharge_levied: String,
    /// Overdue arrears of the consumers at each stage after the run, in rupees.
    #[schema(value_type = BTreeMap<String, String>)]
    arrears_by_stage: BTreeMap<&'static str, String>,
}

/// `POST /api/v1/nightly`: the finance run as of a date.
#[utoipa::path(
    post,
    path = "/api/v1/nightly",
    tag = "writes",
    summary = "Run the nightly finance run as of a date",
    description = "Levies surcharges, moves the recovery ladder, records broken plans, queues \
                   SMS and brings every list up to date as of the date. Running it again for \
                   the same date changes nothing; a date before the last run's, or more than \
                   366 days after it, is refused with 422.",
    request_body = NightlyBody,
    responses(
        (status = 200, description = "The run is done", body = NightlyReport),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::PayloadTooLarge,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn nightly(
    State(state): State<AppState>,
    Caller(caller): Caller,
    request: Request,
) -> Result<Json<NightlyReport>, ApiError> {
    access::require_nightly(&caller)?;
    let bytes = body(request).await?;
    let parsed: NightlyBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::malformed(format!("expected {{\"as_of\":\"YYYY-MM-DD\"}}: {e}")))?;
    let date = parse_date(&parsed.as_of).map_err(|e| ApiError::malformed(format!("as_of: {e}")))?;
    let summary = state
        .nightly(date, move |engine| {
            if let Some(last) = engine.world().last_nightly {
                if (date - last).num_days() > NIGHTLY_STEP_DAYS_MAX {
                    return Err(ApiError::unprocessable(format!(
                        "as_of: {date} is more than {NIGHTLY_STEP_DAYS_MAX} days after the last \
                         run on {last}; run the nightly run in steps"
                    )));
                }
            }
            Ok(())
        })
        .await?;
    Ok(Json(NightlyReport {
        as_of: date.to_string(),
        events_read: summary.events_read,
        appended: summary.appended,
        surcharges: summary.surcharges,
        notices: summary.notices,
        cases_closed: summary.cases_closed,
        plans_broken: summary.plans_broken,
        sms_queued: summary.sms_queued,
        stages: summary.stages,
        counted_from: summary.money.since.map(|d| d.to_string()),
        billed: summary.money.billed.to_string(),
        collected: summary.money.collected.to_string(),
        surcharge_levied: summary.money.surcharge_levied.to_string(),
        arrears_by_stage: summary
            .money
            .arrears_by_stage
            .iter()
            .map(|(stage, arrears)| (*stage, arrears.to_string()))
            .collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// How a list is answered.
#[derive(Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum Format {
    /// An array of objects keyed by column.
    Json,
    /// A header row, then a row per record.
    Csv,
}

// The query types below describe each route's query for the OpenAPI document. They are
// never built: `Params` reads the query, accepting exactly the keys they document.

/// The format and page of a list.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// `json` (the default) or `csv`.
    format: Option<Format>,
    /// Most rows to return: 1000 when absent, at most 10000.
    #[param(minimum = 0, maximum = 10000, default = 1000)]
    limit: Option<usize>,
    /// Rows to skip first.
    #[param(minimum = 0, maximum = 4294967295_u64, default = 0)]
    offset: Option<usize>,
}

/// Which campaign report.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReverifyFilter {
    /// `true`: instead of coverage, the active consumers whose number's last 3 or more SMS
    /// delivery reports all said undelivered.
    #[param(default = false)]
    reverify: Option<bool>,
}

/// The page of printable notices.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Most consumers to print: 1000 when absent, at most 10000.
    #[param(minimum = 0, maximum = 10000, default = 1000)]
    limit: Option<usize>,
    /// Consumers of the worklist to skip first.
    #[param(minimum = 0, maximum = 4294967295_u64, default = 0)]
    offset: Option<usize>,
}

/// The defaulter list's filters.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DefaulterFilter {
    /// Only consumers with at least this much overdue arrears, in rupees; the policy's
    /// `defaulters.min_overdue_arrears` when absent.
    #[param(example = "2000.00")]
    min_arrears: Option<String>,
    /// Only consumers at this stage of the recovery ladder.
    #[param(value_type = Option<doc::Stage>)]
    stage: Option<String>,
}

/// The period of a report.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PeriodFilter {
    /// A month (`2026-10`), a financial year (`FY2026-27`) or a quarter of one
    /// (`FY2026-27-Q2`).
    #[param(example = "2026-10")]
    period: String,
}

/// The period and office level of the rankings.
#[allow(dead_code)]
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RankingsFilter {
    /// A month (`2026-10`), a financial year (`FY2026-27`) or a quarter of one
    /// (`FY2026-27-Q2`).
    #[param(example = "2026-10")]
    period: String,
    /// The level of the offices ranked; `subdivision` when absent.
    #[param(value_type = Option<doc::RankingLevel>)]
    level: Option<String>,
}

/// The query keys an `IntoParams` type documents.
fn keys<Q: IntoParams>() -> Vec<String> {
    Q::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// A list request's query: only the keys the route names, each at most once.
struct Params {
    map: BTreeMap<String, String>,
}

pub type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

impl Params {
    /// A query that may hold only the keys the `known` query types document.
    fn parse(query: RawQuery, known: &[Vec<String>]) -> Result<Params, ApiError> {
        let known: Vec<&str> = known.iter().flatten().map(String::as_str).collect();
        let Query(pairs) =
            query.map_err(|e| ApiError::malformed(format!("the query is malformed: {e}")))?;
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            if !known.contains(&key.as_str()) {
                return Err(ApiError::malformed(format!(
                    "`{key}` is not a parameter of this route (parameters: {})",
                    known.join(", ")
                )));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::malformed(format!("`{key}` is given twice")));
            }
        }
        Ok(Params { map })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    fn format(&self) -> Result<Format, ApiError> {
        match self.get("format") {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(ApiError::malformed(format!(
                "format: `{other}` is not one of csv, json"
            ))),
        }
    }

    fn number(&self, key: &str) -> Result<Option<usize>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    ApiError::malformed(format!("{key}: `{v}` is not a non-negative integer"))
                })
            })
            .transpose()
    }

    /// The page asked for: (limit, offset). A limit above the maximum is well-formed but
    /// breaks the rule, so 422.
    fn page(&self) -> Result<(usize, usize), ApiError> {
        let limit = self.number("limit")?.unwrap_or(LIST_LIMIT_DEFAULT);
        let offset = self.number("offset")?.unwrap_or(0);
        if limit > LIST_LIMIT_MAX {
            return Err(ApiError::unprocessable(format!(
                "limit: at most {LIST_LIMIT_MAX} rows per request"
            )));
        }
        if offset > LIST_OFFSET_MAX {
            return Err(ApiError::unprocessable(format!(
                "offset: at most {LIST_OFFSET_MAX}"
            )));
        }
        Ok((limit, offset))
    }

    fn period(&self) -> Result<Period, ApiError> {
        let text = self
            .get("period")
            .ok_or_else(|| ApiError::malformed("period: is required"))?;
        Period::from_str(text).map_err(|e| ApiError::malformed(format!("period: {e}")))
    }
}

/// A list's answer: JSON objects keyed by column, or CSV with a header row.
pub struct Listing {
    format: Format,
    columns: Vec<&'static str>,
    records: Vec<Record>,
}

impl Listing {
    /// The answer's content type and body.
    fn body(&self) -> Result<(&'static str, Bytes), ApiError> {
        match self.format {
            Format::Json => {
                let mut out = Vec::with_capacity(128 * self.records.len() + 2);
                out.push(b'[');
                for (index, record) in self.records.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    let row: serde_json::Map<String, Value> = record
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                v.as_ref().map_or(Value::Null, |v| Value::String(v.clone())),
                            )
                        })
                        .collect();
                    serde_json::to_writer(&mut out, &row)
                        .map_err(|e| ApiError::internal(format!("writing JSON: {e}")))?;
                }
                out.push(b']');
                Ok(("application/json", Bytes::from(out)))
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(Vec::new());
                let csv_error = |e: csv::Error| ApiError::internal(format!("writing CSV: {e}"));
                writer.write_record(&self.columns).map_err(csv_error)?;
                for record in &self.records {
                    writer
                        .write_record(
                            record
                                .iter()
                                .map(|(_, v)| csv_cell(v.as_deref().unwrap_or(""))),
                        )
                        .map_err(csv_error)?;
                }
                let bytes = writer
                    .into_inner()
                    .map_err(|e| ApiError::internal(format!("writing CSV: {e}")))?;
                Ok(("text/csv; charset=utf-8", Bytes::from(bytes)))
            }
        }
    }
}

impl IntoResponse for Listing {
    fn into_response(self) -> Response {
        match self.body() {
            Ok((content_type, bytes)) => {
                ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
            }
            Err(e) => e.into_response(),
        }
    }
}

/// A list answer kept for repeated requests while the log does not change.
pub(crate) struct CachedList {
    content_type: &'static str,
    body: Bytes,
}

impl IntoResponse for CachedList {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

/// The key a list answer is kept under: the caller's role and office (whose scope check it
/// passed) and the route with its query.
fn list_key(caller: &TokenInfo, route: &str) -> String {
    format!(
        "{}:{}|{route}",
        caller.role.as_str(),
        caller.office.as_deref().unwrap_or("")
    )
}

/// A kept answer for `key` made at the world's current position, found without waiting for
/// the engine: the same role and office passed the same scope check at that position, and a
/// write moves the position before it is acknowledged, so no acknowledged write is missing
/// from it.
fn kept_list(state: &AppState, key: Option<&str>) -> Option<CachedList> {
    let (content_type, body) = state.lists.get(key?, state.log_position())?;
    Some(CachedList { content_type, body })
}

/// Answers a list request from the cache when the world is where it was when the answer was
/// made, else makes it with `make` and keeps it. The world's position, not the log's: while a
/// write is made durable the log is ahead of the world the answer is made from. `key` names the route and its query (none
/// for a query that does not parse: its error is made afresh).
fn cached_list(
    state: &AppState,
    engine: &Engine,
    key: Option<String>,
    make: impl FnOnce() -> Result<Listing, ApiError>,
) -> Result<CachedList, ApiError> {
    let position = engine.world().position;
    if let Some((content_type, body)) = key.as_ref().and_then(|k| state.lists.get(k, position)) {
        return Ok(CachedList { content_type, body });
    }
    let (content_type, body) = make()?.body()?;
    if let Some(key) = key {
        state.lists.put(key, position, content_type, body.clone());
    }
    Ok(CachedList { content_type, body })
}

/// The date lists are computed as of. Before the first nightly run there are no lists yet:
/// a well-formed request the data's state does not allow, hence 422.
fn as_of(engine: &Engine) -> Result<chrono::NaiveDate, ApiError> {
    engine.as_of().map_err(|e| match e {
        EngineError::Usage(m) => ApiError::unprocessable(m),
        other => ApiError::from(other),
    })
}

fn page<T>(rows: Vec<T>, (limit, offset): (usize, usize)) -> Vec<T> {
    rows.into_iter().skip(offset).take(limit).collect()
}

/// `GET /api/v1/offices/{code}/defaulters`.
#[utoipa::path(
    get,
    path = "/api/v1/offices/{code}/defaulters",
    tag = "reads",
    summary = "Defaulter list below an office",
    description = "The consumers below the office with overdue arrears as of the last nightly \
                   run, by overdue arrears descending, then account number.",
    params(
        ("code" = String, Path, description = "An office code"),
        ListQuery,
        DefaulterFilter,
    ),
    responses(
        (status = 200, description = "The list", content(
            (Vec<doc::DefaulterRow> = "application/json"),
            (String = "text/csv"),
        )),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn defaulters(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(code): Path<String>,
    query: RawQuery,
) -> Result<CachedList, ApiError> {
    access::require_reader(&caller)?;
    let key = query
        .as_ref()
        .ok()
        .map(|q| list_key(&caller, &format!("defaulters/{code}?{:?}", q.0)));
    if let Some(kept) = kept_list(&state, key.as_deref()) {
        return Ok(kept);
    }
    let cache = state.clone();
    state
        .read(move |engine| {
            access::check_office_scope(&caller, engine.world(), &code)?;
            cached_list(&cache, engine, key, || {
                let params =
                    Params::parse(query, &[keys::<ListQuery>(), keys::<DefaulterFilter>()])?;
                let format = params.format()?;
                let min_arrears = params
                    .get("min_arrears")
                    .map(Money::parse)
                    .transpose()
                    .map_err(|e| ApiError::malformed(format!("min_arrears: {e}")))?;
                let stage = params
                    .get("stage")
                    .map(lists::parse_stage)
                    .transpose()
                    .map_err(|e| ApiError::malformed(format!("stage: {e}")))?;
                let (limit, offset) = params.page()?;
                access::check_office_exists(engine.world(), &code)?;
                let date = as_of(engine)?;
                let filter = lists::DefaulterFilter {
                    min_arrears,
                    stage,
                    limit: Some(limit),
                    offset,
                };
                let rows = lists::defaulters(engine.world(), engine.policy(), &code, date, &filter)
                    .map_err(ApiError::not_found)?;
                Ok(Listing {
                    format,
                    columns: lists::DEFAULTER_COLUMNS.to_vec(),
                    records: rows.iter().map(|r| r.to_record()).collect(),
                })
            })
        })
        .await
}

/// `GET /api/v1/offices/{code}/worklists/{kind}`.
#[utoipa::path(
    get,
    path = "/api/v1/offices/{code}/worklists/{kind}",
    tag = "reads",
    summary = "A worklist below an office",
    description = "The consumers below the office due for one recovery action as of the last \
                   nightly run.",
    params(
        ("code" = String, Path, description = "An office code"),
        ("kind" = doc::WorklistKind, Path, description = "The worklist"),
        ListQuery,
    ),
    responses(
        (status = 200, description = "The worklist", content(
            (Vec<doc::WorklistRow> = "application/json"),
            (String = "text/csv"),
        )),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn worklist(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((code, kind)): Path<(String, String)>,
    query: RawQuery,
) -> Result<CachedList, ApiError> {
    access::require_reader(&caller)?;
    let key = query
        .as_ref()
        .ok()
        .map(|q| list_key(&caller, &format!("worklist/{code}/{kind}?{:?}", q.0)));
    if let Some(kept) = kept_list(&state, key.as_deref()) {
        return Ok(kept);
    }
    let cache = state.clone();
    state
        .read(move |engine| {
            access::check_office_scope(&caller, engine.world(), &code)?;
            cached_list(&cache, engine, key, || {
                let params = Params::parse(query, &[keys::<ListQuery>()])?;
                let format = params.format()?;
                let (limit, offset) = params.page()?;
                access::check_office_exists(engine.world(), &code)?;
                let kind = WorklistKind::from_str(&kind)
                    .map_err(|e| ApiError::not_found(format!("no worklist kind: {e}")))?;
                let date = as_of(engine)?;
                let rows = lists::worklist(
                    engine.world(),
                    engine.policy(),
                    &code,
                    kind,
                    date,
                    Some(limit),
                    offset,
                )
                .map_err(ApiError::not_found)?;
                Ok(Listing {
                    format,
                    columns: worklist_columns(),
                    records: rows
                        .iter()
                        .map(|r| lists::worklist_record(r, kind))
                        .collect(),
                })
            })
        })
        .await
}

/// A worklist's columns: the defaulter list's, then the worklist's kind.
pub(crate) fn worklist_columns() -> Vec<&'static str> {
    let mut columns = lists::DEFAULTER_COLUMNS.to_vec();
    columns.push("kind");
    columns
}

/// `GET /api/v1/offices/{code}/worklists/{kind}/notices`: the worklist's printable papers
/// (the s.56 notice, or the order or notice of the list's step) as one HTML document, one
/// page per consumer, under the same checks as the worklist itself. Only `limit` and
/// `offset` apply: the answer is always HTML. A list without papers is a 422.
#[utoipa::path(
    get,
    path = "/api/v1/offices/{code}/worklists/{kind}/notices",
    tag = "reads",
    summary = "Printable documents for a worklist (HTML, one page per consumer)",
    description = "The worklist's documents as one HTML document, a page per consumer with a \
                   sum above zero, in Hindi or English by the consumer's language: \
                   `serve_notice` prints s.56 notices, `disconnection` disconnection orders, \
                   `reconnection` reconnection orders, `permanent_disconnection` notices of \
                   permanent disconnection and `recovery_certificate` requisitions to the \
                   Collector. Each demand carries a UPI QR code for the sum when the policy \
                   names `utility.upi_vpa`. `hq_escalation` and `no_mobile` have no documents: \
                   422 with code `no_documents`.",
    params(
        ("code" = String, Path, description = "An office code"),
        ("kind" = doc::PaperWorklistKind, Path, description = "A worklist with papers"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The documents", body = String,
         content_type = "text/html"),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn notices(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((code, kind)): Path<(String, String)>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    access::require_reader(&caller)?;
    let html = state
        .read(move |engine| {
            access::check_office_scope(&caller, engine.world(), &code)?;
            let params = Params::parse(query, &[keys::<PageQuery>()])?;
            let (limit, offset) = params.page()?;
            // A list without papers (`hq_escalation`, `no_mobile`) is refused first.
            if let Ok(kind) = WorklistKind::from_str(&kind) {
                if DocumentKind::for_worklist(kind).is_none() {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "no_documents",
                        NoDocuments(kind).to_string(),
                    ));
                }
            }
            access::check_office_exists(engine.world(), &code)?;
            let kind = WorklistKind::from_str(&kind)
                .map_err(|e| ApiError::not_found(format!("no worklist kind: {e}")))?;
            let date = as_of(engine)?;
            let rows = lists::worklist(
                engine.world(),
                engine.policy(),
                &code,
                kind,
                date,
                Some(limit),
                offset,
            )
            .map_err(ApiError::not_found)?;
            notices::render_notices(engine.world(), engine.policy(), kind, &rows, date).map_err(
                |e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "no_documents",
                        e.to_string(),
                    )
                },
            )
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The notices carry their own inline style and nothing else; no script may run.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// An office a token may read.
#[derive(Serialize, ToSchema)]
pub(crate) struct Office {
    code: String,
    name: String,
    #[schema(value_type = doc::OfficeLevel)]
    level: &'static str,
    /// The office above; null for a zone.
    parent: Option<String>,
}

/// The answer of `GET /api/v1/me`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    /// The token's name.
    name: String,
    role: Role,
    /// The office an officer token was created for; null for the other roles.
    office: Option<String>,
    /// The offices the token may read, top down, each followed by the offices below it.
    offices: Vec<Office>,
    /// The date of the last nightly run; null before the first.
    #[schema(format = Date)]
    as_of: Option<String>,
    /// The worklist kinds.
    #[schema(value_type = Vec<doc::WorklistKind>)]
    worklists: Vec<&'static str>,
}

/// The offices a caller may read, top down, each followed by the offices below it.
fn visible_offices(world: &World, caller: &TokenInfo) -> Vec<Office> {
    let roots: Vec<String> = match caller.role {
        Role::Ingest => Vec::new(),
        Role::Officer => caller
            .office
            .iter()
            .filter(|code| world.offices.contains_key(code.as_str()))
            .cloned()
            .collect(),
        Role::Admin | Role::Finance | Role::Hq => world
            .offices
            .values()
            .filter(|o| o.parent.is_none())
            .map(|o| o.code.clone())
            .collect(),
    };
    let mut out = Vec::new();
    // Children are pushed in reverse so that they come off the stack in code order.
    let mut stack: Vec<String> = roots.into_iter().rev().collect();
    while let Some(code) = stack.pop() {
        let Some(office) = world.offices.get(&code) else {
            continue;
        };
        out.push(Office {
            code: office.code.clone(),
            name: office.name.clone(),
            level: office.level.as_str(),
            parent: office.parent.clone(),
        });
        let mut children = office.children.clone();
        children.sort();
        stack.extend(children.into_iter().rev());
    }
    out
}

/// `GET /api/v1/me`: who the token belongs to and which offices it may read, so that a
/// client can offer exactly those. Every valid token may ask, ingest included (its list of
/// offices is empty).
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "reads",
    summary = "The token's name, role, office and the offices it may read",
    responses(
        (status = 200, description = "Who the token belongs to", body = Me),
        doc::Unauthorized,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Me>, ApiError> {
    state
        .read(move |engine| {
            let world = engine.world();
            let offices = visible_offices(world, &caller);
            Ok(Json(Me {
                name: caller.name,
                role: caller.role,
                office: caller.office,
                offices,
                as_of: world.last_nightly.map(|d| d.to_string()),
                worklists: WorklistKind::ALL.iter().map(|k| k.as_str()).collect(),
            }))
        })
        .await
}

/// `GET /api/v1/consumers/{account_no}`: the statement as a JSON object.
#[utoipa::path(
    get,
    path = "/api/v1/consumers/{account_no}",
    tag = "reads",
    summary = "A consumer's statement",
    params(("account_no" = String, Path, description = "The consumer's account number")),
    responses(
        (status = 200, description = "The statement as of the last nightly run",
         body = doc::Statement),
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn consumer(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(account_no): Path<String>,
) -> Result<Json<Statement>, ApiError> {
    access::require_reader(&caller)?;
    state
        .read(move |engine| {
            access::check_consumer_read(&caller, engine.world(), &account_no)?;
            let date = engine.report_date();
            statement(
                engine.world(),
                &|m| engine.sms_text(m),
                engine.policy(),
                &account_no,
                date,
            )
            .map(Json)
            .map_err(|e| match e {
                StatementError::UnknownAccount(_) => ApiError::not_found(e.to_string()),
                StatementError::SmsText(_) => ApiError::internal(e.to_string()),
            })
        })
        .await
}

/// `GET /api/v1/rankings?period=&level=` (level defaults to subdivision).
#[utoipa::path(
    get,
    path = "/api/v1/rankings",
    tag = "reports",
    summary = "Office rankings for a period",
    description = "Every office of the level, ranked by its weighted score for the period. \
                   Answers whether or not a nightly run ever ran.",
    params(ListQuery, RankingsFilter),
    responses(
        (status = 200, description = "The rankings", content(
            (Vec<doc::RankingRow> = "application/json"),
            (String = "text/csv"),
        )),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn rankings(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: RawQuery,
) -> Result<Listing, ApiError> {
    let ask = ReportAsk::rankings(&caller, query)?;
    state
        .read(move |engine| {
            let rows = reports::rankings(engine.world(), engine.policy(), ask.period, ask.level);
            Ok(ask.ranked(rows))
        })
        .await
}

/// A rankings or awards request's query, read and checked as `GET /api/v1/rankings` and
/// `GET /api/v1/awards` read it, for an answer whose rows are made elsewhere than from this
/// process's world (headquarters over several partitions' figures).
pub struct ReportAsk {
    pub period: Period,
    /// The level ranked (subdivision for awards, which name their own levels).
    pub level: Level,
    format: Format,
    paging: (usize, usize),
}

impl ReportAsk {
    /// The query of `GET /api/v1/rankings` (level defaults to subdivision), for a caller who
    /// may read the utility's reports.
    pub fn rankings(caller: &TokenInfo, query: RawQuery) -> Result<ReportAsk, ApiError> {
        ReportAsk::read(
            caller,
            query,
            keys::<RankingsFilter>(),
            |params| match params.get("level").map(Level::from_str) {
                None => Ok(Level::Subdivision),
                Some(Ok(level)) if level != Level::Zone => Ok(level),
                Some(_) => Err(ApiError::malformed(
                    "level: not one of circle, division, subdivision",
                )),
            },
        )
    }

    /// The query of `GET /api/v1/awards`, for a caller who may read the utility's reports.
    pub fn awards(caller: &TokenInfo, query: RawQuery) -> Result<ReportAsk, ApiError> {
        ReportAsk::read(caller, query, keys::<PeriodFilter>(), |_| {
            Ok(Level::Subdivision)
        })
    }

    /// The caller's role, then the query: its keys (a list's and `filter`), format, period,
    /// level and page, checked in that order.
    fn read(
        caller: &TokenInfo,
        query: RawQuery,
        filter: Vec<String>,
        level: impl FnOnce(&Params) -> Result<Level, ApiError>,
    ) -> Result<ReportAsk, ApiError> {
        access::require_utility_reader(caller)?;
        let params = Params::parse(query, &[keys::<ListQuery>(), filter])?;
        let format = params.format()?;
        let period = params.period()?;
        let level = level(&params)?;
        let paging = params.page()?;
        Ok(ReportAsk {
            period,
            level,
            format,
            paging,
        })
    }

    /// The page of `rows` asked for, in the format asked for.
    pub fn ranked(&self, rows: Vec<reports::RankingRow>) -> Listing {
        self.listing(
            reports::RankingRow::COLUMNS,
            rows,
            reports::RankingRow::to_record,
        )
    }

    /// The page of `rows` asked for, in the format asked for.
    pub fn awarded(&self, rows: Vec<reports::AwardRow>) -> Listing {
        self.listing(
            reports::AwardRow::COLUMNS,
            rows,
            reports::AwardRow::to_record,
        )
    }

    fn listing<R>(
        &self,
        columns: &[&'static str],
        rows: Vec<R>,
        record: impl Fn(&R) -> Record,
    ) -> Listing {
        Listing {
            format: self.format,
            columns: columns.to_vec(),
            records: page(rows, self.paging).iter().map(record).collect(),
        }
    }
}

/// `GET /api/v1/awards?period=`.
#[utoipa::path(
    get,
    path = "/api/v1/awards",
    tag = "reports",
    summary = "Awards for a period",
    params(ListQuery, PeriodFilter),
    responses(
        (status = 200, description = "The awards", content(
            (Vec<doc::AwardRow> = "application/json"),
            (String = "text/csv"),
        )),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn awards(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: RawQuery,
) -> Result<Listing, ApiError> {
    let ask = ReportAsk::awards(&caller, query)?;
    state
        .read(move |engine| {
            let rows = reports::awards(engine.world(), engine.policy(), ask.period);
            Ok(ask.awarded(rows))
        })
        .await
}

/// `GET /api/v1/offices/{code}/campaign`: mobile coverage per subdivision.
#[utoipa::path(
    get,
    path = "/api/v1/offices/{code}/campaign",
    tag = "reports",
    summary = "Mobile coverage per subdivision",
    description = "Mobile registration coverage and shared mobiles, a row per subdivision \
                   below the office; with `reverify=true`, the consumers below it whose \
                   number keeps failing (3 or more undelivered SMS in a row).",
    params(("code" = String, Path, description = "An office code"), ListQuery, ReverifyFilter),
    responses(
        (status = 200, description = "The campaign report", content(
            (doc::CampaignAnswer = "application/json"),
            (String = "text/csv"),
        )),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn campaign(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(code): Path<String>,
    query: RawQuery,
) -> Result<Listing, ApiError> {
    access::require_reader(&caller)?;
    state
        .read(move |engine| {
            access::check_office_scope(&caller, engine.world(), &code)?;
            let params = Params::parse(query, &[keys::<ListQuery>(), keys::<ReverifyFilter>()])?;
            let format = params.format()?;
            let paging = params.page()?;
            let reverify = match params.get("reverify") {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ApiError::malformed(format!(
                        "reverify: `{other}` is not true or false"
                    )))
                }
            };
            access::check_office_exists(engine.world(), &code)?;
            let date = engine.report_date();
            if reverify {
                let rows = reports::mobiles_to_reverify(engine.world(), &code, date);
                return Ok(Listing {
                    format,
                    columns: reports::ReverifyRow::COLUMNS.to_vec(),
                    records: page(rows, paging).iter().map(|r| r.to_record()).collect(),
                });
            }
            let rows = reports::campaign(engine.world(), &code, date);
            Ok(Listing {
                format,
                columns: reports::CampaignRow::COLUMNS.to_vec(),
                records: page(rows, paging).iter().map(|r| r.to_record()).collect(),
            })
        })
        .await
}

/// `GET /api/v1/offices/{code}/camps?period=`.
#[utoipa::path(
    get,
    path = "/api/v1/offices/{code}/camps",
    tag = "reports",
    summary = "Camps and grievances per subdivision",
    description = "Camps scheduled and held, grievances and their resolution, a row per \
                   subdivision below the office.",
    params(
        ("code" = String, Path, description = "An office code"),
        ListQuery,
        PeriodFilter,
    ),
    responses(
        (status = 200, description = "The camp report", content(
            (Vec<doc::CampRow> = "application/json"),
            (String = "text/csv"),
        )),
        doc::Malformed,
        doc::Unauthorized,
        doc::Forbidden,
        doc::NotFound,
        doc::Unprocessable,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn camps(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(code): Path<String>,
    query: RawQuery,
) -> Result<Listing, ApiError> {
    access::require_reader(&caller)?;
    state
        .read(move |engine| {
            access::check_office_scope(&caller, engine.world(), &code)?;
            let params = Params::parse(query, &[keys::<ListQuery>(), keys::<PeriodFilter>()])?;
            let format = params.format()?;
            let period = params.period()?;
            let paging = params.page()?;
            access::check_office_exists(engine.world(), &code)?;
            let rows = reports::camps_report(engine.world(), engine.policy(), &code, period);
            Ok(Listing {
                format,
                columns: reports::CampRow::COLUMNS.to_vec(),
                records: page(rows, paging).iter().map(|r| r.to_record()).collect(),
            })
        })
        .await
}
