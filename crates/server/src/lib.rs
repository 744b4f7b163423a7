//! The HTTP API of vasooli (`vasooli serve`): token authentication, role and office checks,
//! the write routes that feed the engine, the read routes over its lists and reports, and
//! the officers' web page that uses them.
//!
//! The engine is shared ([`SharedEngine`]): reads share it, writes are grouped by its write
//! thread into durable commits, so a write answers only once its events are durable and
//! every later read sees them. Engine work runs on the blocking pool, since both list
//! computation and the disk flush would otherwise stall the async workers.

pub mod access;
mod api;
pub use api::{Listing, RawQuery, ReportAsk, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX};
pub mod dlr;
pub mod error;
pub mod guard;
pub mod metrics;
pub mod openapi;
pub mod sender;
pub mod tokens;
mod web;

use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokens::TokenInfo;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use vasooli_domain::Policy;
use vasooli_engine::{Engine, ExecuteReport, Input, SharedEngine};
use vasooli_store::SideTable;

/// Largest command batch body.
pub const COMMANDS_BODY_MAX: usize = 1 << 20;
/// Largest CSV import body.
pub const IMPORT_BODY_MAX: usize = 8 << 20;
/// Largest nightly request body; it holds one date.
pub const NIGHTLY_BODY_MAX: usize = 4 << 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    engine: SharedEngine,
    /// List answers kept while the log stays where it was.
    lists: Arc<ListCache>,
    tokens: SideTable,
    store: vasooli_store::Store,
    pub metrics: Arc<metrics::Metrics>,
    /// The SMS gateways' secrets for delivery reports.
    dlr_secrets: Arc<dlr::DlrSecrets>,
    /// Why writes are refused, while they are ([`AppState::close_writes`]).
    writes_closed: Arc<std::sync::RwLock<Option<String>>>,
}

impl AppState {
    /// Opens the data directory (blocking: it may replay the log's tail).
    pub fn open(data_dir: &Path, policy: Policy) -> anyhow::Result<AppState> {
        let engine = Engine::open(data_dir, policy)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", data_dir.display()))?;
        AppState::from_engine(engine)
    }

    pub fn from_engine(engine: Engine) -> anyhow::Result<AppState> {
        let tokens = engine.store().table(tokens::TOKENS_TREE)?;
        let store = engine.store().clone();
        Ok(AppState {
            store,
            engine: SharedEngine::start(engine),
            lists: Arc::new(ListCache::default()),
            tokens,
            metrics: Arc::new(metrics::Metrics::default()),
            dlr_secrets: Arc::new(dlr::DlrSecrets::default()),
            writes_closed: Arc::default(),
        })
    }

    /// Refuses every authenticated write request (commands, imports, nightly runs) with 503
    /// `storage_unavailable` saying `why`, until [`AppState::open_writes`]; reads go on. A
    /// cluster standby serving reads closes them, and opens them once it owns the partition.
    pub fn close_writes(&self, why: impl Into<String>) {
        *self
            .writes_closed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.into());
    }

    /// Takes write requests again (see [`AppState::close_writes`]).
    pub fn open_writes(&self) {
        *self
            .writes_closed
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn writes_closed(&self) -> Option<String> {
        self.writes_closed
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The engine every handler shares.
    pub fn engine(&self) -> &SharedEngine {
        &self.engine
    }

    /// The gateways that may send delivery reports, with their secrets.
    pub fn with_dlr_secrets(mut self, secrets: dlr::DlrSecrets) -> AppState {
        self.dlr_secrets = Arc::new(secrets);
        self
    }

    /// The event log (for its health).
    pub fn store(&self) -> &vasooli_store::Store {
        &self.store
    }

    /// The table of API tokens.
    pub fn tokens(&self) -> &SideTable {
        &self.tokens
    }

    /// The log's last position as of the last write.
    pub fn log_position(&self) -> u64 {
        self.engine.log_position()
    }

    /// Runs `f` with shared access to the engine on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.read(f)?)
            .await
            .map_err(|e| ApiError::internal(format!("a read task failed: {e}")))?
    }

    /// Runs `f` with sole access to the engine on the blocking pool.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.write(f)?)
            .await
            .map_err(|e| ApiError::internal(format!("a write task failed: {e}")))?
    }

    /// The nightly run for `as_of` once `check` has let it through; reads go on while it
    /// decides and appends (see `SharedEngine::nightly`).
    pub async fn nightly(
        &self,
        as_of: chrono::NaiveDate,
        check: impl FnOnce(&Engine) -> Result<(), ApiError> + Send + 'static,
    ) -> Result<vasooli_engine::nightly::NightlySummary, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.nightly(as_of, check))
            .await
            .map_err(|e| ApiError::internal(format!("a nightly task failed: {e}")))?
    }

    /// Executes the inputs `prepare` makes (holding the engine's one write slot; reads go on)
    /// together with whatever other writes are waiting: one durable commit serves them all,
    /// and each gets its own answer once it is durable.
    pub async fn execute(
        &self,
        prepare: impl FnOnce(&Engine) -> Result<Vec<Input>, ApiError> + Send + 'static,
    ) -> Result<ExecuteReport, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.execute(prepare))
            .await
            .map_err(|e| ApiError::internal(format!("a write task failed: {e}")))?
    }
}

/// List answers by route and query, each with the log position it was made at. Any write
/// moves the position, so an answer is never served for a log it was not made from.
#[derive(Default)]
pub(crate) struct ListCache {
    answers:
        std::sync::Mutex<std::collections::HashMap<String, (u64, &'static str, axum::body::Bytes)>>,
}

/// Most list answers kept; the cache starts over when full.
const LIST_CACHE_ANSWERS_MAX: usize = 256;

impl ListCache {
    fn get(&self, key: &str, position: u64) -> Option<(&'static str, axum::body::Bytes)> {
        let answers = self.answers.lock().ok()?;
        let (at, content_type, body) = answers.get(key)?;
        (*at == position).then(|| (*content_type, body.clone()))
    }

    fn put(&self, key: String, position: u64, content_type: &'static str, body: axum::body::Bytes) {
        if let Ok(mut answers) = self.answers.lock() {
            if answers.len() >= LIST_CACHE_ANSWERS_MAX && !answers.contains_key(&key) {
                answers.clear();
            }
            answers.insert(key, (position, content_type, body));
        }
    }
}

/// The authenticated caller of an `/api/v1/` route.
#[derive(Clone, Debug)]
pub struct Caller(pub TokenInfo);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        caller_of(parts, state).map(Caller)
    }
}

fn caller_of(parts: &Parts, state: &AppState) -> Result<TokenInfo, ApiError> {
    if let Some(known) = parts.extensions.get::<Caller>() {
        return Ok(known.0.clone());
    }
    authenticate(&parts.headers, state)
}

/// The token of an `Authorization` header: the `Bearer` scheme, in any letter case, then
/// the token.
pub fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let split = value.find(|c: char| c.is_ascii_whitespace())?;
    let (scheme, token) = value.split_at(split);
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token a request presents: 401 without an `Authorization` header; a header of another
/// scheme presents the empty token, which no token matches.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "an Authorization: Bearer TOKEN header is required",
        ));
    };
    Ok(value.to_str().ok().and_then(bearer_token).unwrap_or(""))
}

/// The answer to a token no table holds.
pub fn unknown_token() -> ApiError {
    ApiError::unauthorized("the token is unknown or revoked")
}

fn authenticate(headers: &axum::http::HeaderMap, state: &AppState) -> Result<TokenInfo, ApiError> {
    let token = presented_token(headers)?;
    match tokens::lookup(&state.tokens, token) {
        Ok(Some(info)) => Ok(info),
        Ok(None) => Err(unknown_token()),
        Err(e) => Err(error::storage(&e)
            .unwrap_or_else(|| ApiError::internal(format!("reading the tokens failed: {e}")))),
    }
}

async fn fallback(State(state): State<AppState>, uri: Uri, parts: Parts) -> ApiError {
    state.metrics.count("GET", "unmatched", 404);
    // Unknown routes under the API still answer 401 first, as the check order says.
    if uri.path().starts_with("/api/v1/") {
        if let Err(e) = caller_of(&parts, &state) {
            return e;
        }
    }
    ApiError::not_found(format!("no route for {}", uri.path()))
}

/// A known route asked with a method it does not take: 401 first under the API, as for any
/// other check, then 405.
async fn method_not_allowed(State(state): State<AppState>, uri: Uri, parts: Parts) -> ApiError {
    if uri.path().starts_with("/api/v1/") {
        if let Err(e) = caller_of(&parts, &state) {
            return e;
        }
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {}", uri.path(), parts.method),
    )
}

/// Answers a write request 503 while writes are closed ([`AppState::close_writes`]), once
/// its caller is known: an unknown one gets the route's own 401 first.
async fn writes_gate(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(why) = state.writes_closed() else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    if caller_of(&parts, &state).is_ok() {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", why)
            .into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let gate = || axum::middleware::from_fn_with_state(state.clone(), writes_gate);
    // Reads answer 408 past their deadline; writes are finished once started (see `guard`).
    let reads = Router::new()
        .route("/api/v1/offices/{code}/defaulters", get(api::defaulters))
        .route(
            "/api/v1/offices/{code}/worklists/{kind}",
            get(api::worklist),
        )
        .route("/api/v1/offices/{code}/campaign", get(api::campaign))
        .route("/api/v1/offices/{code}/camps", get(api::camps))
        .route(
            "/api/v1/offices/{code}/worklists/{kind}/notices",
            get(api::notices),
        )
        .route("/api/v1/me", get(api::me))
        .route("/api/v1/consumers/{account_no}", get(api::consumer))
        .route("/api/v1/rankings", get(api::rankings))
        .route("/api/v1/awards", get(api::awards))
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .route("/api/openapi.json", get(api::openapi))
        .route("/", get(web::index))
        .route("/page.js", get(web::script))
        .route("/page.css", get(web::style))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            guard::READ_TIMEOUT,
        ));
    let api = Router::new()
        .route(
            "/api/v1/commands",
            post(api::commands)
                .layer(DefaultBodyLimit::max(COMMANDS_BODY_MAX))
                .layer(gate()),
        )
        .route(
            "/api/v1/import/{kind}",
            post(api::import)
                .layer(DefaultBodyLimit::max(IMPORT_BODY_MAX))
                .layer(gate()),
        )
        .route(
            "/api/v1/nightly",
            post(api::nightly)
                .layer(DefaultBodyLimit::max(NIGHTLY_BODY_MAX))
                .layer(gate()),
        )
        .route(
            "/sms/dlr/{gateway}",
            post(dlr::delivery_report).layer(DefaultBodyLimit::max(dlr::DLR_BODY_MAX)),
        )
        .merge(reads)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ));
    guarded(api.fallback(fallback)).with_state(state)
}

/// `app` behind the server's guards: a body that stops arriving, request heads over the
/// caps, errors as the one JSON body, a trace span per request.
pub fn guarded<S: Clone + Send + Sync + 'static>(app: Router<S>) -> Router<S> {
    app.layer(RequestBodyTimeoutLayer::new(guard::BODY_IDLE_TIMEOUT))
        .layer(axum::middleware::from_fn(guard::header_limits))
        .layer(axum::middleware::from_fn(guard::json_errors))
        // The span holds the method and path only: no query, no headers, so no tokens.
        .layer(TraceLayer::new_for_http().make_span_with(guard::span))
}

/// Serves `listener` until `shutdown` completes, then lets requests in flight finish and
/// flushes the data directory. Each connection speaks HTTP/1.1 with the caps and deadline
/// of [`guard::http1`].
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_app(listener, router(state.clone()), shutdown).await?;
    // A checkpoint on the way out, so that the next start replays little.
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = engine.checkpoint_now() {
            tracing::error!("saving the checkpoint failed: {e}");
        }
    })
    .await?;
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight
/// finish. Each connection speaks HTTP/1.1 with the caps and deadline of [`guard::http1`].
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let http1 = guard::http1();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, then go on.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = http1.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// Serves a state the caller made from its own engine ([`AppState::from_engine`]; in
/// cluster mode, on a store whose appends go through the partition's replicated log): binds
/// `addr`, prints `listening on http://ADDR` on stdout once bound, and serves until
/// `shutdown` completes. The SMS sender does not run.
pub async fn serve_state(
    state: AppState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = bind_and_say(addr).await?;
    serve_listener(listener, state, shutdown).await
}

/// Binds `addr` and prints `listening on http://ADDR` on stdout (and in the log) once bound.
async fn bind_and_say(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
    }
    tracing::info!("listening on http://{local}");
    Ok(listener)
}

/// What `vasooli serve` is given beside the data directory and the policy.
#[derive(Clone, Default)]
pub struct ServeOptions {
    /// The SMS gateways that may send delivery reports, with their secrets.
    pub dlr_secrets: dlr::DlrSecrets,
    /// Called once the engine is open, before the API listens; what it returns is kept until
    /// the server stops (the CLI's local socket, which hands commands to this engine).
    pub on_open: Option<OnOpen>,
}

/// See [`ServeOptions::on_open`].
pub type OnOpen =
    Arc<dyn Fn(&SharedEngine) -> anyhow::Result<Box<dyn Send>> + Send + Sync + 'static>;

/// Opens `data_dir`, binds `addr` (port 0 picks a free port), prints
/// `listening on http://ADDR` on stdout once bound, and serves until `shutdown` completes.
pub async fn serve(
    data_dir: PathBuf,
    policy: Policy,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(data_dir, policy, addr, ServeOptions::default(), shutdown).await
}

/// [`serve`] with options.
pub async fn serve_with(
    data_dir: PathBuf,
    policy: Policy,
    addr: SocketAddr,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = tokio::task::spawn_blocking(move || AppState::open(&data_dir, policy))
        .await??
        .with_dlr_secrets(options.dlr_secrets);
    let opened = match &options.on_open {
        Some(on_open) => Some(on_open(&state.engine)?),
        None => None,
    };
    let listener = bind_and_say(addr).await?;
    let send = state
        .engine
        .read(|engine| engine.policy().sms.send.clone())?;
    let sender = send
        .serve
        .then(|| sender::SmsSender::start(state.engine.clone(), send));
    // The local socket closes first (waiting for a command in progress), so that the
    // checkpoint on the way out covers every write.
    let shutdown = async move {
        shutdown.await;
        if let Some(opened) = opened {
            let _ = tokio::task::spawn_blocking(move || drop(opened)).await;
        }
    };
    let served = serve_listener(listener, state, shutdown).await;
    if let Some(sender) = sender {
        tokio::task::spawn_blocking(move || sender.stop()).await?;
    }
    served
}
