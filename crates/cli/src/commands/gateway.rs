//! `vasooli cluster gateway`: one HTTP API in front of every partition. See docs/CLUSTER.md
//! ("One API for every partition").
//!
//! The gateway holds no data. It checks the caller's token against the tokens every
//! partition keeps in the cluster, finds the partition a request concerns (an account's, an
//! office's division's, the one the commands of a batch route to), and hands the request to
//! that partition's owner through the cluster, on the subject routed imports use, with the
//! caller it authenticated. The owner answers it with its own API, so the answer (status,
//! body, checks and their order after the token) is the one the owner gives its own callers.
//! Rankings and awards are computed by the gateway from the figures every partition
//! published; a nightly run is run by every owner.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vasooli_cluster::{ClusterLog, PartitionMap, TokenBoard};
use vasooli_domain::import::CsvRows;
use vasooli_domain::partition::{KnownOffice, Lookup, Route, Router};
use vasooli_domain::types::Level;
use vasooli_domain::Command as DomainCommand;
use vasooli_domain::{Money, Policy};
use vasooli_projections::reports;
use vasooli_server::error::ApiError;
use vasooli_server::tokens::{hash_hex, TokenInfo};
use vasooli_server::{
    presented_token, unknown_token, Caller, ReportAsk, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX,
};

use crate::commands::cluster::{cluster_failure, config};
use crate::Failure;

/// What every request handed to an owner as HTTP starts with; the rest of the owner's
/// requests are JSON, which never does.
const HTTP_MAGIC: &[u8] = b"vasooli-http 1\n";
/// The largest request body the gateway takes: an import's, as the owners' API.
const BODY_MAX: usize = 8 << 20;
/// How long an owner may take to answer a request: past the owner's own deadline for reads
/// (120 s, then 408), and a write's, which has none, within reason.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(130);
/// How long a nightly run may take.
const NIGHTLY_TIMEOUT: Duration = Duration::from_secs(3600);
/// How often the partition's lease is looked at while a request waits for its owner: an
/// owner that died with the request never answers it, and the lease names its successor.
const OWNER_WATCH: Duration = Duration::from_millis(500);
/// How long a request waits for a partition that has no owner (a failover in progress).
const PATIENCE: Duration = Duration::from_secs(60);
/// What a request's head may take of a message through the cluster, beside its body.
const HEAD_BYTES_MAX: usize = 16 << 10;
/// How long the partition map and the office tree are used before they are read again.
const MAP_FOR: Duration = Duration::from_secs(2);
/// How long a token found is trusted before it is looked up again: a revocation reaches the
/// cluster within a second or two anyway (the owners copy their tables every second).
const TOKEN_FOR: Duration = Duration::from_secs(1);
/// How many tokens and accounts are kept at most; past that the cache starts again.
const KEPT_MAX: usize = 100_000;

/// A request as it travels to an owner: after [`HTTP_MAGIC`], this as one JSON line, then
/// the body's bytes.
#[derive(Serialize, Deserialize)]
struct Head {
    method: String,
    /// The path and query.
    uri: String,
    content_type: Option<String>,
    /// Who the gateway authenticated; the owner answers as to a caller with this token.
    caller: Option<TokenInfo>,
}

/// An owner's answer as it travels back: this as one JSON line, then the body's bytes.
#[derive(Serialize, Deserialize)]
struct AnswerHead {
    status: u16,
    /// Every header field of the answer but those of its transfer (length, encoding,
    /// connection), in order.
    headers: Vec<(String, String)>,
}

/// Header fields that describe a message's transfer, not its content: not carried.
fn is_transfer_field(name: &str) -> bool {
    matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "keep-alive"
    )
}

/// Whether a request to an owner is one the gateway handed on.
pub fn is_http(body: &[u8]) -> bool {
    body.starts_with(HTTP_MAGIC)
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

/// A response as it travels back to the gateway: its status, its header fields but those of
/// the transfer, and its body.
async fn encode_answer(response: Response) -> Vec<u8> {
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !is_transfer_field(name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let body = match axum::body::to_bytes(response.into_body(), usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            // An error's body is made in memory: this does not fail again.
            let failed = ApiError::internal(format!("reading the answer failed: {e}"));
            return Box::pin(encode_answer(failed.into_response())).await;
        }
    };
    let mut out = serde_json::to_vec(&AnswerHead {
        status: status.as_u16(),
        headers,
    })
    .unwrap_or_default();
    out.push(b'\n');
    out.extend_from_slice(&body);
    out
}

/// The owner's side: answers a request the gateway handed on with `app`, this process's
/// API, as if `caller` had called it. An answer larger than `max` bytes (what the cluster
/// carries) is refused in its stead, naming its size.
pub async fn answer(app: axum::Router, request: Vec<u8>, max: usize) -> Vec<u8> {
    use tower::ServiceExt;
    let Some((head, body)) = request
        .strip_prefix(HTTP_MAGIC)
        .and_then(split_line)
        .and_then(|(head, body)| Some((serde_json::from_slice::<Head>(head).ok()?, body)))
    else {
        let refused = ApiError::malformed("not a request the gateway hands on");
        return encode_answer(refused.into_response()).await;
    };
    let mut builder = axum::http::Request::builder()
        .method(head.method.as_str())
        .uri(head.uri.as_str());
    if let Some(content_type) = &head.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    let Ok(mut http) = builder.body(Body::from(body.to_vec())) else {
        let refused = ApiError::malformed("the request's method or path does not read");
        return encode_answer(refused.into_response()).await;
    };
    if let Some(caller) = head.caller {
        http.extensions_mut().insert(Caller(caller));
    }
    let response = match app.oneshot(http).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let answer = encode_answer(response).await;
    if answer.len() > max {
        let refused = ApiError::unprocessable(format!(
            "the answer takes {} bytes, more than the cluster carries ({max}): ask for fewer rows \
             (limit and offset)",
            answer.len()
        ));
        return encode_answer(refused.into_response()).await;
    }
    answer
}

/// The gateway: the cluster, and what it read of it lately.
struct Gateway {
    log: ClusterLog,
    map: PartitionMap,
    tokens: TokenBoard,
    leases: vasooli_cluster::Leases,
    policy: Policy,
    /// Division -> partition.
    assigned: Fresh<HashMap<String, String>>,
    /// The office tree.
    offices: Fresh<Vec<KnownOffice>>,
    /// Token hash -> its holder, the partition keeping it, and when it was looked up.
    callers: Mutex<HashMap<String, (Instant, TokenInfo, String)>>,
    /// Account -> the partition holding it. An account stays where it was registered until
    /// its division moves, so what was found stays true until the partition map changes
    /// (then this is emptied).
    accounts: Mutex<HashMap<String, String>>,
}

/// A value read from the cluster, and when it was read.
struct Fresh<T>(Mutex<Option<(Instant, T)>>);

impl<T: Clone> Fresh<T> {
    fn new() -> Fresh<T> {
        Fresh(Mutex::new(None))
    }

    /// The value, if it was read less than `within` ago.
    fn within(&self, within: Duration) -> Option<T> {
        let kept = self.0.lock().ok()?;
        let (at, value) = kept.as_ref()?;
        (at.elapsed() < within).then(|| value.clone())
    }

    /// Keeps `value`, read now; whether it differs from the value kept before.
    fn put(&self, value: &T) -> bool
    where
        T: PartialEq,
    {
        match self.0.lock() {
            Ok(mut kept) => {
                let changed = kept.as_ref().is_none_or(|(_, before)| before != value);
                *kept = Some((Instant::now(), value.clone()));
                changed
            }
            Err(_) => true,
        }
    }
}

/// Keeps `key -> value` in `map`, starting the map again once it holds [`KEPT_MAX`].
fn keep<V>(map: &Mutex<HashMap<String, V>>, key: &str, value: V) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= KEPT_MAX {
            map.clear();
        }
        map.insert(key.to_string(), value);
    }
}

/// Where a request goes.
enum Target {
    One(String),
    /// A nightly run: every partition.
    Every,
    /// Rankings or awards, from the partitions' published figures.
    Headquarters {
        awards: bool,
    },
    /// A list of an office whose divisions are in several partitions, in the order of the
    /// defaulter list: each partition's rows merged.
    Merged {
        partitions: Vec<String>,
    },
    /// A read the gateway refuses (an office in several partitions), once the owner of
    /// `check_on` answered it without an error of its own: the caller's scope and the query
    /// are checked first, as one process checks them.
    Refused {
        check_on: String,
        refusal: ApiError,
    },
}

impl Gateway {
    /// Division -> partition, read again once [`MAP_FOR`] passed.
    async fn assigned(&self) -> Result<HashMap<String, String>, ApiError> {
        if let Some(map) = self.assigned.within(MAP_FOR) {
            return Ok(map);
        }
        let map: HashMap<String, String> = self
            .map
            .assignments()
            .await
            .map_err(|e| unavailable(&e.to_string()))?
            .into_iter()
            .collect();
        if self.assigned.put(&map) {
            // A division moved: an account may be in another partition than found before.
            if let Ok(mut accounts) = self.accounts.lock() {
                accounts.clear();
            }
        }
        Ok(map)
    }

    /// Every partition, by name.
    async fn partitions(&self) -> Result<Vec<String>, ApiError> {
        let set: BTreeSet<String> = self.assigned().await?.into_values().collect();
        if set.is_empty() {
            return Err(unavailable(
                "no division is assigned to a partition yet (vasooli cluster assign)",
            ));
        }
        Ok(set.into_iter().collect())
    }

    /// The caller of `headers`' token and the first partition (by name) that keeps it.
    async fn authenticate(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<(TokenInfo, String), ApiError> {
        let hash = hash_hex(presented_token(headers)?);
        if let Ok(callers) = self.callers.lock() {
            if let Some((at, info, home)) = callers.get(&hash) {
                if at.elapsed() < TOKEN_FOR {
                    return Ok((info.clone(), home.clone()));
                }
            }
        }
        let partitions = self.partitions().await?;
        let lookups = partitions.iter().map(|p| self.tokens.token(p, &hash));
        let found = futures_util::future::join_all(lookups).await;
        for (partition, found) in partitions.iter().zip(found) {
            let found = found.map_err(|e| unavailable(&e.to_string()))?;
            if let Some(info) = found.and_then(|v| serde_json::from_slice::<TokenInfo>(&v).ok()) {
                keep(
                    &self.callers,
                    &hash,
                    (Instant::now(), info.clone(), partition.clone()),
                );
                return Ok((info, partition.clone()));
            }
        }
        Err(unknown_token())
    }

    /// What every partition holds of `lookup`'s names (and, from each, the office tree).
    async fn known(
        &self,
        partitions: &[String],
        lookup: &Lookup,
    ) -> Result<Vec<vasooli_domain::partition::Known>, ApiError> {
        let asks = partitions
            .iter()
            .map(|p| crate::commands::routed::known(&self.log, p, lookup.clone(), PATIENCE));
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .zip(partitions)
            .map(|(known, p)| known.map_err(|e| failure_error(p, e)))
            .collect()
    }

    /// The one partition `commands` route to (or `home` when none routes anywhere: the
    /// partition of the caller's token answers for them as one process would). `commands`
    /// are those of the request that read, each with its index; `values` the request's
    /// objects, all of them. Before refusing a request the owners could not take (one spanning
    /// partitions, an office's registration), the caller's role and an officer's office are
    /// checked, so that a caller who may not send the commands hears that first (403), as
    /// from one process.
    async fn route_commands(
        &self,
        caller: &TokenInfo,
        values: &[Value],
        commands: &[(usize, DomainCommand)],
        unreadable: bool,
        home: &str,
    ) -> Result<String, ApiError> {
        let partitions = self.partitions().await?;
        let assigned = self.assigned().await?;
        let mut lookup = Lookup::default();
        for (_, command) in commands {
            lookup.note(command);
        }
        let mut router = Router::new();
        for known in self.known(&partitions, &lookup).await? {
            router.learn(&known);
        }
        let mut targets = BTreeSet::new();
        let mut refusal: Option<ApiError> = None;
        // The division each command routes to, for an officer's office.
        let mut divisions: Vec<(usize, &DomainCommand, String)> = Vec::new();
        for (index, command) in commands {
            let refused = match router.route(command) {
                Ok(Route::Everywhere) => Some(ApiError::unprocessable(
                    "register_office goes to every partition: register offices with \
                     vasooli cluster import or vasooli cluster append",
                )),
                Ok(Route::Division(division)) => {
                    let refused = match assigned.get(&division) {
                        Some(partition) => {
                            targets.insert(partition.clone());
                            None
                        }
                        None => Some(ApiError::unprocessable(format!(
                            "division {division} is in no partition (vasooli cluster assign)"
                        ))),
                    };
                    divisions.push((*index, command, division));
                    refused
                }
                Err(unrouted) if unrouted.what.starts_with("grievance naming") => {
                    Some(ApiError::unprocessable(format!(
                        "grievance {} names an account or camp of another division than its \
                         subdivision's: no one partition can check it",
                        unrouted.key
                    )))
                }
                // Names no partition holds: the caller's partition refuses it.
                Err(_) => None,
            };
            if refusal.is_none() {
                refusal = refused;
            }
        }
        if refusal.is_none() && targets.len() > 1 {
            refusal = Some(ApiError::unprocessable(format!(
                "the request concerns partitions {}, and is all or nothing only within one: \
                 send each partition's part as a request of its own, or the whole with \
                 vasooli cluster import or vasooli cluster append",
                targets
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let Some(refusal) = refusal else {
            return Ok(targets
                .into_iter()
                .next()
                .unwrap_or_else(|| home.to_string()));
        };
        vasooli_server::access::check_command_roles(caller, values)?;
        if caller.role == vasooli_server::tokens::Role::Officer {
            let office = caller.office.as_deref().unwrap_or("");
            let within = divisions_of(&self.offices(home).await?, office).unwrap_or_default();
            if let Some((index, command, _)) =
                divisions.iter().find(|(_, _, d)| !within.contains(d))
            {
                return Err(ApiError::forbidden(format!(
                    "commands[{index}]: {} acts outside office {office}",
                    command.type_name()
                )));
            }
        }
        // Commands or rows that do not read come next (400): the partition of the token
        // answers them, writing nothing, since a request is all or nothing.
        if unreadable {
            return Ok(home.to_string());
        }
        Err(refusal)
    }

    /// The partition that holds office `code`'s lists: that of the division at or above
    /// it, or of every division below it when they are all in one partition. When they are
    /// in several, the refusal to give (`Err` within).
    async fn office_partition(
        &self,
        code: &str,
        home: &str,
    ) -> Result<Result<String, Vec<String>>, ApiError> {
        let assigned = self.assigned().await?;
        let offices = self.offices(home).await?;
        let Some(divisions) = divisions_of(&offices, code) else {
            return Ok(Ok(home.to_string()));
        };
        let partitions: BTreeSet<&String> = divisions
            .iter()
            .filter_map(|division| assigned.get(division))
            .collect();
        Ok(match partitions.len() {
            0 => Ok(home.to_string()),
            1 => Ok(partitions.into_iter().next().cloned().unwrap_or_default()),
            _ => Err(partitions.into_iter().cloned().collect()),
        })
    }

    /// The office tree as `home`'s owner holds it (every partition holds all of it), read
    /// again once [`MAP_FOR`] passed.
    async fn offices(&self, home: &str) -> Result<Vec<KnownOffice>, ApiError> {
        if let Some(offices) = self.offices.within(MAP_FOR) {
            return Ok(offices);
        }
        let offices = self
            .known(&[home.to_string()], &Lookup::default())
            .await?
            .pop()
            .unwrap_or_default()
            .offices;
        self.offices.put(&offices);
        Ok(offices)
    }

    /// The partition holding `account_no`, else `home`.
    async fn account_partition(&self, account_no: &str, home: &str) -> Result<String, ApiError> {
        if let Some(found) = self
            .accounts
            .lock()
            .ok()
            .and_then(|accounts| accounts.get(account_no).cloned())
        {
            return Ok(found);
        }
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let partitions = self.partitions().await?;
        let mut lookup = Lookup {
            without_offices: true,
            ..Lookup::default()
        };
        lookup.accounts.insert(account_no.to_string());
        // The first partition found holding it answers: a partition without an owner for
        // the moment holds up only the accounts no other partition holds.
        let mut asks: FuturesUnordered<_> = partitions
            .iter()
            .map(|partition| {
                let lookup = lookup.clone();
                async move {
                    let known =
                        crate::commands::routed::known(&self.log, partition, lookup, PATIENCE)
                            .await;
                    (partition, known)
                }
            })
            .collect();
        let mut failed = None;
        while let Some((partition, known)) = asks.next().await {
            match known {
                Ok(known) if known.accounts.contains_key(account_no) => {
                    keep(&self.accounts, account_no, partition.clone());
                    return Ok(partition.clone());
                }
                Ok(_) => {}
                Err(e) => failed = failed.or(Some(failure_error(partition, e))),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(home.to_string()),
        }
    }

    /// Where `method path` with `body` goes, for `caller`.
    async fn target(
        &self,
        caller: &TokenInfo,
        method: &Method,
        path: &str,
        body: &Bytes,
        home: &str,
    ) -> Result<Target, ApiError> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let home_target = || Ok(Target::One(home.to_string()));
        let read = method == Method::GET || method == Method::HEAD;
        match segments.as_slice() {
            ["api", "v1", "consumers", account] if read => {
                // A path that does not decode is the owner's to refuse.
                let Some(account) = percent_decode(account) else {
                    return home_target();
                };
                Ok(Target::One(self.account_partition(&account, home).await?))
            }
            ["api", "v1", "offices", code, rest @ ..] if read => {
                let Some(code) = percent_decode(code) else {
                    return home_target();
                };
                Ok(match self.office_partition(&code, home).await? {
                    Ok(partition) => Target::One(partition),
                    // Lists in the order of the defaulters' can be merged; the rest cannot.
                    Err(partitions) if matches!(rest, ["defaulters"] | ["worklists", _]) => {
                        Target::Merged { partitions }
                    }
                    Err(partitions) => Target::Refused {
                        check_on: home.to_string(),
                        refusal: ApiError::unprocessable(format!(
                            "office {code} has divisions in partitions {}: ask for each of its \
                             divisions",
                            partitions.join(", ")
                        )),
                    },
                })
            }
            ["api", "v1", "rankings"] if read => Ok(Target::Headquarters { awards: false }),
            ["api", "v1", "awards"] if read => Ok(Target::Headquarters { awards: true }),
            ["api", "v1", "nightly"] if method == Method::POST => Ok(Target::Every),
            ["api", "v1", "commands"] if method == Method::POST => {
                // A role that may not write is told so before any partition is asked.
                if vasooli_server::access::require_writer(caller).is_err() {
                    return home_target();
                }
                let Some((values, commands)) = commands_of(body) else {
                    return home_target();
                };
                let unreadable = commands.len() < values.len();
                let partition = self
                    .route_commands(caller, &values, &commands, unreadable, home)
                    .await?;
                Ok(Target::One(partition))
            }
            ["api", "v1", "import", kind] if method == Method::POST => {
                if vasooli_server::access::check_import(caller, kind).is_err() {
                    return home_target();
                }
                let Some((rows, commands)) = rows_of(kind, body) else {
                    return home_target();
                };
                let unreadable = commands.len() < rows;
                let values: Vec<Value> = commands
                    .iter()
                    .map(|(_, c)| serde_json::json!({"type": c.type_name()}))
                    .collect();
                let partition = self
                    .route_commands(caller, &values, &commands, unreadable, home)
                    .await?;
                Ok(Target::One(partition))
            }
            _ => home_target(),
        }
    }

    /// Hands the request to `partition`'s owner and gives back its answer.
    /// While the request waits, the partition's lease is watched: when another process
    /// takes the partition over, a read is asked again of it, and a write answers 503 at once
    /// (it may have been written; sent again, what was written is skipped as duplicates).
    async fn forward(
        &self,
        partition: &str,
        head: &Head,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Response, ApiError> {
        let mut request = HTTP_MAGIC.to_vec();
        request.extend(serde_json::to_vec(head).map_err(|e| ApiError::internal(e.to_string()))?);
        request.push(b'\n');
        request.extend_from_slice(body);
        let max = self.log.request_bytes_max();
        if request.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the request takes {} bytes, more than the cluster carries ({max}): send \
                     it in parts, or the file with vasooli cluster import",
                    request.len()
                ),
            ));
        }
        let read = head.method == "GET" || head.method == "HEAD";
        let answer = loop {
            tokio::select! {
                answer = self.log.ask_owner(partition, request.clone(), timeout, PATIENCE) => {
                    break answer.map_err(|e| unavailable(&format!("partition {partition}: {e}")))?;
                }
                () = self.owner_changes(partition) => {
                    if !read {
                        return Err(unavailable(&format!(
                            "partition {partition}: its owner changed while the write was in \
                             progress; it may have been written, and the same request again \
                             skips what was as duplicates"
                        )));
                    }
                }
            }
        };
        let (head, body) = split_line(&answer)
            .and_then(|(head, body)| Some((serde_json::from_slice::<AnswerHead>(head).ok()?, body)))
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "the owner of partition {partition} answered what is not an answer"
                ))
            })?;
        let status = StatusCode::from_u16(head.status)
            .map_err(|e| ApiError::internal(format!("partition {partition}: {e}")))?;
        let mut response = Response::new(Body::from(body.to_vec()));
        *response.status_mut() = status;
        for (name, value) in head.headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        Ok(response)
    }

    /// Completes once the lease of `partition` names another holder than it did when this
    /// was called (never, while no one holds it, or when the lease cannot be read). The lease
    /// is first read alongside the request, so that a request answered at once costs no more.
    async fn owner_changes(&self, partition: &str) {
        let Ok(holder) = self.leases.recorded_holder(partition).await else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(OWNER_WATCH).await;
            if let Ok(Some(now)) = self.leases.recorded_holder(partition).await {
                if Some(&now) != holder.as_ref() {
                    return;
                }
            }
        }
    }

    /// A nightly run on every partition, at once: the sum of their summaries, with each one's
    /// under `partitions`; the first refusal, by partition name, when one refuses.
    async fn nightly(&self, head: &Head, body: &[u8]) -> Result<Response, ApiError> {
        let partitions = self.partitions().await?;
        let runs = partitions
            .iter()
            .map(|p| self.forward(p, head, body, NIGHTLY_TIMEOUT));
        let answers = futures_util::future::join_all(runs).await;
        let mut summaries = serde_json::Map::new();
        let mut total: Option<Value> = None;
        let mut refused: Option<(String, StatusCode, Value)> = None;
        for (partition, answer) in partitions.iter().zip(answers) {
            // A partition that could not be reached is reported as one that refused.
            let response = answer.unwrap_or_else(IntoResponse::into_response);
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status != StatusCode::OK {
                if refused.is_none() {
                    refused = Some((partition.clone(), status, value));
                }
                continue;
            }
            total = Some(match total {
                None => value.clone(),
                Some(sum) => add(sum, &value),
            });
            summaries.insert(partition.clone(), value);
        }
        if let Some((partition, status, mut value)) = refused {
            let done: Vec<&str> = summaries.keys().map(String::as_str).collect();
            let done = if done.is_empty() {
                "none".to_string()
            } else {
                done.join(", ")
            };
            // The partition's own error body, its message saying whose it is.
            let message = format!(
                "partition {partition}: {} (the run finished on: {done}; the same request \
                 again finishes the rest)",
                value["error"]["message"].as_str().unwrap_or("")
            );
            if !value["error"].is_object() {
                value = serde_json::json!({"error": {"code": "internal"}});
            }
            value["error"]["message"] = Value::from(message);
            return Ok((status, axum::Json(value)).into_response());
        }
        let mut total = total.unwrap_or(Value::Null);
        if let Value::Object(map) = &mut total {
            map.insert("partitions".to_string(), Value::Object(summaries));
        }
        Ok(axum::Json(total).into_response())
    }

    /// A list of an office whose divisions are in `partitions`: each partition's first
    /// `offset + limit` rows, merged in the lists' order (overdue arrears, largest first,
    /// then account number) and paged. A query the gateway cannot read, and any refusal of a
    /// partition, is answered as the owner of `home` (or the partition refusing) answers it.
    async fn merged(
        &self,
        partitions: &[String],
        home: &str,
        uri: &axum::http::Uri,
        head: &Head,
        timeout: Duration,
    ) -> Result<Response, ApiError> {
        let as_one = || async { self.forward(home, head, &[], timeout).await };
        let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(uri) else {
            return as_one().await;
        };
        let value = |key: &str| {
            let mut found = pairs.iter().filter(|(k, _)| k == key);
            match (found.next(), found.next()) {
                (None, _) => Ok(None),
                (Some((_, v)), None) => Ok(Some(v.as_str())),
                _ => Err(()),
            }
        };
        let number = |key: &str, default: usize| match value(key) {
            Ok(None) => Some(default),
            Ok(Some(v)) => v.parse::<usize>().ok(),
            Err(()) => None,
        };
        let (Some(limit), Some(offset), Ok(format)) = (
            number("limit", LIST_LIMIT_DEFAULT),
            number("offset", 0),
            value("format"),
        ) else {
            return as_one().await;
        };
        let csv = match format {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => return as_one().await,
        };
        if limit > LIST_LIMIT_MAX {
            return as_one().await;
        }
        let rows = offset.saturating_add(limit);
        if rows > LIST_LIMIT_MAX {
            // Checked by one partition first: a query it refuses is refused as it says.
            let answer = as_one().await?;
            if !answer.status().is_success() {
                return Ok(answer);
            }
            return Err(ApiError::unprocessable(format!(
                "a list spanning partitions is merged from each one's first {LIST_LIMIT_MAX} \
                 rows: offset + limit may be {LIST_LIMIT_MAX} at most; ask for each division"
            )));
        }
        // Each partition's first `rows` rows, with the rest of the query as it was.
        let mut query: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .cloned()
            .collect();
        query.push(("limit".to_string(), rows.to_string()));
        let path = uri.path();
        let each = Head {
            uri: format!(
                "{path}?{}",
                query
                    .iter()
                    .map(|(k, v)| format!(
                        "{}={}",
                        vasooli_render::upi::percent_encode(k),
                        vasooli_render::upi::percent_encode(v)
                    ))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            // A HEAD is asked as a GET, to have rows to merge; the answer's body is dropped.
            method: "GET".to_string(),
            content_type: head.content_type.clone(),
            caller: head.caller.clone(),
        };
        // The partition of the caller's token first: its refusal is the one given.
        let mut order: Vec<&str> = vec![home];
        order.extend(partitions.iter().map(String::as_str).filter(|p| *p != home));
        let answers = futures_util::future::join_all(
            order.iter().map(|p| self.forward(p, &each, &[], timeout)),
        )
        .await;
        let mut bodies = Vec::new();
        let mut first: Option<Response> = None;
        for (index, answer) in answers.into_iter().enumerate() {
            let answer = answer?;
            if !answer.status().is_success() {
                return Ok(answer);
            }
            let (parts, body) = answer.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            // Only partitions that hold a division below the office give rows.
            if partitions.iter().any(|p| p == order[index]) {
                bodies.push(body);
            }
            if first.is_none() {
                first = Some(Response::from_parts(parts, Body::empty()));
            }
        }
        let merged = if csv {
            merge_csv(&bodies, offset, limit)
        } else {
            merge_json(&bodies, offset, limit)
        }
        .map_err(|e| ApiError::internal(format!("merging the partitions' lists: {e}")))?;
        let (mut parts, _) = first
            .ok_or_else(|| ApiError::internal("no partition answered"))?
            .into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        Ok(Response::from_parts(parts, Body::from(merged)))
    }

    /// Rankings or awards from every partition's published figures.
    async fn headquarters(
        &self,
        caller: &TokenInfo,
        uri: &axum::http::Uri,
        awards: bool,
    ) -> Result<Response, ApiError> {
        let query = Query::try_from_uri(uri);
        let ask = if awards {
            ReportAsk::awards(caller, query)?
        } else {
            ReportAsk::rankings(caller, query)?
        };
        let combined = crate::commands::hq::combined_in_cluster(&self.log, ask.period)
            .await
            .map_err(|f| match f {
                Failure::Rejected(lines) => ApiError::unprocessable(lines.join("; ")),
                Failure::Usage(line) => ApiError::unprocessable(line),
                Failure::Runtime(e) => unavailable(&format!("{e:#}")),
            })?;
        let figures = combined
            .period(ask.period)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        let listing = if awards {
            let prior = combined
                .period(ask.period.previous())
                .map_err(|e| ApiError::unprocessable(e.to_string()))?;
            let rows =
                reports::awards_from(&combined.offices, &self.policy, ask.period, figures, prior);
            ask.awarded(rows)
        } else {
            let rows = reports::rankings_from(
                &combined.offices,
                &self.policy,
                ask.period,
                ask.level,
                figures,
            );
            ask.ranked(rows)
        };
        Ok(listing.into_response())
    }

    async fn handle(&self, request: Request) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_string();
        let uri = parts
            .uri
            .path_and_query()
            .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
        if path == "/health" {
            self.partitions().await?;
            return Ok(axum::Json(serde_json::json!({"status": "ok"})).into_response());
        }
        let open_page = matches!(
            path.as_str(),
            "/" | "/page.js" | "/page.css" | "/api/openapi.json"
        );
        if !open_page && !path.starts_with("/api/v1/") {
            return Err(ApiError::not_found(format!("no route for {path}")));
        }
        let (caller, home) = if open_page {
            (None, self.partitions().await?.remove(0))
        } else {
            let (caller, home) = self.authenticate(&parts.headers).await?;
            (Some(caller), home)
        };
        // A body the cluster could not carry is refused before anything is looked up.
        let max = self
            .log
            .request_bytes_max()
            .saturating_sub(HEAD_BYTES_MAX)
            .min(BODY_MAX);
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the body is over {max} bytes, the most a request through the cluster \
                     carries: send it in parts, or a file with vasooli cluster import"
                ),
            )
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let body = axum::body::to_bytes(body, max).await.map_err(|e| {
            if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"))
                || e.to_string().contains("length limit")
            {
                too_large()
            } else {
                ApiError::malformed(format!("the body did not arrive whole: {e}"))
            }
        })?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let head = Head {
            method: parts.method.to_string(),
            uri,
            content_type: content_type.clone(),
            caller: caller.clone(),
        };
        let target = match &caller {
            None => Target::One(home.clone()),
            Some(caller) => {
                self.target(caller, &parts.method, &path, &body, &home)
                    .await?
            }
        };
        let timeout = REQUEST_TIMEOUT;
        match (target, caller) {
            (Target::One(partition), _) => self.forward(&partition, &head, &body, timeout).await,
            (Target::Merged { partitions }, _) => {
                self.merged(&partitions, &home, &parts.uri, &head, timeout)
                    .await
            }
            (Target::Refused { check_on, refusal }, _) => {
                let answer = self.forward(&check_on, &head, &body, timeout).await?;
                if answer.status().is_success() {
                    Err(refusal)
                } else {
                    Ok(answer)
                }
            }
            (Target::Every, _) => self.nightly(&head, &body).await,
            (Target::Headquarters { awards }, Some(caller)) => {
                self.headquarters(&caller, &parts.uri, awards).await
            }
            (Target::Headquarters { .. }, None) => {
                Err(ApiError::unauthorized("a token is required"))
            }
        }
    }
}

/// Adds the numbers and amounts of `b` to those of `a`, key by key, through nested
/// objects; `counted_from` is the earlier of the two (none when either has none); any other
/// value (the date) stays `a`'s.
fn add(a: Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_u64(), y.as_u64()) {
            (Some(x), Some(y)) => Value::from(x + y),
            _ => Value::Number(x),
        },
        (Value::String(x), Value::String(y)) => match (Money::parse(&x), Money::parse(y)) {
            (Ok(x), Ok(y)) => Value::String((x + y).to_string()),
            _ => Value::String(x),
        },
        (Value::Object(mut x), Value::Object(y)) => {
            for (key, value) in y {
                let sum = match (key.as_str(), x.remove(key)) {
                    ("counted_from", Some(mine)) => match (mine.as_str(), value.as_str()) {
                        (Some(m), Some(v)) => Value::from(m.min(v)),
                        _ => Value::Null,
                    },
                    (_, Some(mine)) => add(mine, value),
                    (_, None) => value.clone(),
                };
                x.insert(key.clone(), sum);
            }
            Value::Object(x)
        }
        (a, _) => a,
    }
}

/// A list's order: overdue arrears, largest first, then account number.
fn list_order(a: (&str, &str), b: (&str, &str)) -> std::cmp::Ordering {
    let arrears = |text: &str| Money::parse(text).unwrap_or(Money::ZERO);
    arrears(b.0).cmp(&arrears(a.0)).then_with(|| a.1.cmp(b.1))
}

/// JSON lists (arrays of objects) merged in the lists' order, then paged.
fn merge_json(bodies: &[Bytes], offset: usize, limit: usize) -> Result<Vec<u8>, String> {
    let mut rows: Vec<Value> = Vec::new();
    for body in bodies {
        let part: Vec<Value> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        rows.extend(part);
    }
    let key = |row: &Value| {
        (
            row["overdue_arrears"].as_str().unwrap_or("0").to_string(),
            row["account_no"].as_str().unwrap_or("").to_string(),
        )
    };
    rows.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        list_order((&a.0, &a.1), (&b.0, &b.1))
    });
    let page: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    serde_json::to_vec(&page).map_err(|e| e.to_string())
}

/// CSV lists (a header row, then rows) merged in the lists' order, then paged.
fn merge_csv(bodies: &[Bytes], offset: usize, limit: usize) -> Result<Vec<u8>, String> {
    let mut header: Option<csv::StringRecord> = None;
    let mut rows: Vec<csv::StringRecord> = Vec::new();
    for body in bodies {
        let mut reader = csv::Reader::from_reader(body.as_ref());
        let this = reader.headers().map_err(|e| e.to_string())?.clone();
        match &header {
            Some(h) if *h != this => return Err("the partitions' columns differ".to_string()),
            Some(_) => {}
            None => header = Some(this),
        }
        for record in reader.records() {
            rows.push(record.map_err(|e| e.to_string())?);
        }
    }
    let header = header.ok_or("no list")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no column {name}"))
    };
    let (arrears, account) = (column("overdue_arrears")?, column("account_no")?);
    rows.sort_by(|a, b| {
        list_order(
            (a.get(arrears).unwrap_or("0"), a.get(account).unwrap_or("")),
            (b.get(arrears).unwrap_or("0"), b.get(account).unwrap_or("")),
        )
    });
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).map_err(|e| e.to_string())?;
    for row in rows.into_iter().skip(offset).take(limit) {
        writer.write_record(&row).map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

/// The objects of a body of `POST /api/v1/commands`, and the commands of those that read,
/// each with its index (the owner answers for those that do not); `None` for a body that
/// is not JSON.
#[allow(clippy::type_complexity)]
fn commands_of(body: &Bytes) -> Option<(Vec<Value>, Vec<(usize, DomainCommand)>)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let values = match value {
        Value::Array(values) => values,
        one => vec![one],
    };
    let commands = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, DomainCommand::from_json(v).ok()?)))
        .collect();
    Some((values, commands))
}

/// How many rows a CSV body of kind `kind` has, and the commands of those that make one,
/// each with its row's index; `None` for a header that does not read.
#[allow(clippy::type_complexity)]
fn rows_of(kind: &str, body: &Bytes) -> Option<(usize, Vec<(usize, DomainCommand)>)> {
    let rows = CsvRows::open(kind, std::io::Cursor::new(body.as_ref())).ok()?;
    let mut count = 0;
    let mut commands = Vec::new();
    for (i, row) in rows.enumerate() {
        count += 1;
        if let Ok(command) = row.command {
            commands.push((i, command));
        }
    }
    Some((count, commands))
}

/// The divisions office `code` lists: the one at or above it, or every one below it; `None`
/// for an office the tree does not hold.
fn divisions_of(offices: &[KnownOffice], code: &str) -> Option<BTreeSet<String>> {
    let by_code: BTreeMap<&str, &KnownOffice> =
        offices.iter().map(|o| (o.code.as_str(), o)).collect();
    let office = by_code.get(code)?;
    // At or above: climb to the division.
    let mut current = *office;
    for _ in 0..=Level::ALL.len() {
        if current.level == Level::Division {
            return Some(BTreeSet::from([current.code.clone()]));
        }
        match current.parent.as_deref().and_then(|p| by_code.get(p)) {
            Some(parent) => current = parent,
            None => break,
        }
    }
    // Above a division: every division with `code` above it.
    let below = offices
        .iter()
        .filter(|o| o.level == Level::Division)
        .filter(|division| {
            let mut at = division.parent.as_deref();
            for _ in 0..=Level::ALL.len() {
                match at {
                    Some(p) if p == code => return true,
                    Some(p) => at = by_code.get(p).and_then(|o| o.parent.as_deref()),
                    None => return false,
                }
            }
            false
        })
        .map(|d| d.code.clone())
        .collect();
    Some(below)
}

/// A path segment with its `%XX` escapes decoded; `None` when an escape is not two hex
/// digits or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn unavailable(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        message.to_string(),
    )
}

fn failure_error(partition: &str, failure: Failure) -> ApiError {
    match failure {
        Failure::Runtime(e) => unavailable(&format!("partition {partition}: {e:#}")),
        Failure::Usage(line) => unavailable(&format!("partition {partition}: {line}")),
        Failure::Rejected(lines) => {
            unavailable(&format!("partition {partition}: {}", lines.join("; ")))
        }
    }
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    match gateway.handle(request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// `vasooli cluster gateway`: serves the API of every partition on `addr` until Ctrl-C.
pub fn run(servers: &[String], addr: &str, policy: Policy) -> Result<(), Failure> {
    crate::commands::cluster::check_servers(servers)?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| Failure::Usage(format!("--addr `{addr}`: {e}")))?;
    let runtime = crate::commands::cluster::runtime()?;
    let outcome = runtime.block_on(async {
        let log = ClusterLog::connect(config(servers, Duration::from_secs(30)))
            .await
            .map_err(cluster_failure)?;
        let gateway = Arc::new(Gateway {
            map: PartitionMap::open(&log).await.map_err(cluster_failure)?,
            tokens: TokenBoard::open(&log).await.map_err(cluster_failure)?,
            leases: vasooli_cluster::Leases::open(&log)
                .await
                .map_err(cluster_failure)?,
            log,
            policy,
            assigned: Fresh::new(),
            offices: Fresh::new(),
            callers: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::Usage(format!("--addr {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::Runtime(e.into()))?;
        outln!("gateway listening on http://{local}");
        let app = vasooli_server::guarded(axum::Router::new().fallback(handle)).with_state(gateway);
        vasooli_server::serve_app(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(Failure::Runtime)
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(code: &str, level: Level, parent: Option<&str>) -> KnownOffice {
        KnownOffice {
            code: code.to_string(),
            level,
            parent: parent.map(str::to_string),
        }
    }

    #[test]
    fn an_office_lists_the_division_above_it_or_the_divisions_below_it() {
        let tree = vec![
            office("Z", Level::Zone, None),
            office("C1", Level::Circle, Some("Z")),
            office("C2", Level::Circle, Some("Z")),
            office("D1", Level::Division, Some("C1")),
            office("D2", Level::Division, Some("C1")),
            office("D3", Level::Division, Some("C2")),
            office("S1", Level::Subdivision, Some("D1")),
        ];
        let set = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(divisions_of(&tree, "S1"), Some(set(&["D1"])));
        assert_eq!(divisions_of(&tree, "D2"), Some(set(&["D2"])));
        assert_eq!(divisions_of(&tree, "C1"), Some(set(&["D1", "D2"])));
        assert_eq!(divisions_of(&tree, "Z"), Some(set(&["D1", "D2", "D3"])));
        assert_eq!(divisions_of(&tree, "NOPE"), None);
    }

    #[test]
    fn summaries_add_up_number_by_number_and_keep_the_date() {
        let a = serde_json::json!({
            "as_of": "2026-05-31", "appended": 3, "stages": {"notice": 1},
            "billed": "100.50", "arrears_by_stage": {"clear": "10.00"},
            "counted_from": "2026-05-02",
        });
        let b = serde_json::json!({
            "as_of": "2026-05-31", "appended": 4, "stages": {"notice": 2, "final": 1},
            "billed": "0.75", "arrears_by_stage": {"clear": "5.25", "disconnected": "1.00"},
            "counted_from": "2026-05-01",
        });
        assert_eq!(
            add(a.clone(), &b),
            serde_json::json!({
                "as_of": "2026-05-31", "appended": 7, "stages": {"notice": 3, "final": 1},
                "billed": "101.25", "arrears_by_stage": {"clear": "15.25", "disconnected": "1.00"},
                "counted_from": "2026-05-01",
            })
        );
        // A first run on either side counts everything: no day counted from.
        let first = serde_json::json!({"counted_from": null});
        assert_eq!(add(a, &first)["counted_from"], Value::Null);
    }

    #[test]
    fn lists_merge_by_arrears_then_account_and_are_paged() {
        let a = Bytes::from(
            r#"[{"account_no":"A2","overdue_arrears":"900.00"},{"account_no":"A4","overdue_arrears":"50.00"}]"#,
        );
        let b = Bytes::from(
            r#"[{"account_no":"A1","overdue_arrears":"900.00"},{"account_no":"A3","overdue_arrears":"1000.00"}]"#,
        );
        let merged: Vec<Value> =
            serde_json::from_slice(&merge_json(&[a, b], 1, 2).unwrap()).unwrap();
        let accounts: Vec<&str> = merged
            .iter()
            .map(|r| r["account_no"].as_str().unwrap())
            .collect();
        assert_eq!(accounts, ["A1", "A2"]);
        let a = Bytes::from("account_no,overdue_arrears\nA2,900.00\nA4,50.00\n");
        let b = Bytes::from("account_no,overdue_arrears\nA1,900.00\nA3,\"1,000.00\"\n");
        let merged = merge_csv(&[a.clone(), b], 0, 10).unwrap();
        // "1,000.00" is no amount: it sorts as none, last.
        assert_eq!(
            String::from_utf8(merged).unwrap(),
            "account_no,overdue_arrears\nA1,900.00\nA2,900.00\nA4,50.00\nA3,\"1,000.00\"\n"
        );
        let other = Bytes::from("account_no,name\nA9,x\n");
        assert!(merge_csv(&[a, other], 0, 10).is_err());
    }

    #[test]
    fn a_request_handed_on_is_told_from_the_owners_json_requests() {
        assert!(is_http(b"vasooli-http 1\n{}\n"));
        assert!(!is_http(br#"{"op":"known"}"#));
        assert_eq!(percent_decode("UK%2057"), Some("UK 57".to_string()));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%+5"), None);
    }
}
