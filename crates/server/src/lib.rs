//! The HTTP API of vasooli (`vasooli serve`): token authentication, role and office checks,
//! the write routes that feed the engine, the read routes over its lists and reports, and
//! the officers' web page that uses them.
//!
//! The engine sits behind one read-write lock: reads share it, a write holds it alone while
//! its commit is flushed to disk, so a write answers only once its events are durable and
//! every later read sees them. Engine work runs on the blocking pool, since both list
//! computation and the disk flush would otherwise stall the async workers.

pub mod access;
mod api;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod tokens;
mod web;

use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, Uri};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokens::TokenInfo;
use tower_http::trace::TraceLayer;
use vasooli_domain::Policy;
use vasooli_projections::engine::{ExecuteReport, Input};
use vasooli_projections::Engine;

/// Largest command batch body.
pub const COMMANDS_BODY_MAX: usize = 1 << 20;
/// Largest CSV import body.
pub const IMPORT_BODY_MAX: usize = 8 << 20;
/// Largest nightly request body; it holds one date.
pub const NIGHTLY_BODY_MAX: usize = 4 << 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<RwLock<Engine>>,
    /// Writes of commands and imports, executed in groups that share one durable commit.
    jobs: tokio::sync::mpsc::Sender<WriteJob>,
    /// List answers kept while the log stays where it was.
    lists: Arc<ListCache>,
    db: sled::Db,
    position: Arc<AtomicU64>,
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// Opens the data directory (blocking: it may replay the log's tail).
    pub fn open(data_dir: &Path, policy: Policy) -> anyhow::Result<AppState> {
        let engine = Engine::open(data_dir, policy)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", data_dir.display()))?;
        Ok(AppState::from_engine(engine))
    }

    pub fn from_engine(engine: Engine) -> AppState {
        let db = engine.store().db().clone();
        let position = Arc::new(AtomicU64::new(engine.store().last_position()));
        let engine = Arc::new(RwLock::new(engine));
        let (jobs, queue) = tokio::sync::mpsc::channel(WRITE_QUEUE_MAX);
        {
            let (engine, position) = (engine.clone(), position.clone());
            std::thread::Builder::new()
                .name("vasooli-writes".into())
                .spawn(move || run_writes(engine, position, queue))
                .expect("the write thread starts");
        }
        {
            let checkpoints = Arc::downgrade(&engine);
            std::thread::Builder::new()
                .name("vasooli-checkpoints".into())
                .spawn(move || run_checkpoints(checkpoints))
                .expect("the checkpoint thread starts");
        }
        AppState {
            engine,
            jobs,
            lists: Arc::new(ListCache::default()),
            db,
            position,
            metrics: Arc::new(metrics::Metrics::default()),
        }
    }

    /// The sled database of the data directory, for the token tree.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The log's last position as of the last write.
    pub fn log_position(&self) -> u64 {
        self.position.load(Ordering::Relaxed)
    }

    /// Runs `f` with shared access to the engine on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let guard = engine
                .read()
                .map_err(|_| ApiError::internal("the engine lock is poisoned"))?;
            f(&guard)
        })
        .await
        .map_err(|e| ApiError::internal(format!("a read task failed: {e}")))?
    }

    /// Runs `f` with sole access to the engine on the blocking pool; the log position gauge
    /// follows whatever `f` appended.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        let position = self.position.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = engine
                .write()
                .map_err(|_| ApiError::internal("the engine lock is poisoned"))?;
            let out = f(&mut guard);
            position.store(guard.store().last_position(), Ordering::Relaxed);
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("a write task failed: {e}")))?
    }

    /// Executes the inputs `prepare` makes (it runs under the engine's write lock, so it may
    /// judge them against the world) together with whatever other writes are waiting: one
    /// durable commit serves them all, and each gets its own answer once it is durable.
    pub async fn execute(
        &self,
        prepare: impl FnOnce(&Engine) -> Result<Vec<Input>, ApiError> + Send + 'static,
    ) -> Result<ExecuteReport, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = WriteJob {
            prepare: Box::new(prepare),
            reply,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| ApiError::internal("the write thread has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the write thread stopped before answering"))?
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

/// How far the world may run ahead of its checkpoint while writes never pause.
const CHECKPOINT_BUSY_LAG_EVENTS: u64 = 4_000_000;

/// Most writes waiting for the write thread; senders wait beyond it.
const WRITE_QUEUE_MAX: usize = 4096;
/// Most writes executed as one group.
const WRITE_GROUP_MAX: usize = 512;

type Prepare = Box<dyn FnOnce(&Engine) -> Result<Vec<Input>, ApiError> + Send>;

struct WriteJob {
    prepare: Prepare,
    reply: tokio::sync::oneshot::Sender<Result<ExecuteReport, ApiError>>,
}

/// The write thread: takes every write waiting (up to [`WRITE_GROUP_MAX`]), executes them as
/// one group under the write lock, answers each, and goes back for the writes that queued
/// meanwhile. Under load the groups grow, so concurrent writers share flushes.
fn run_writes(
    engine: Arc<RwLock<Engine>>,
    position: Arc<AtomicU64>,
    mut queue: tokio::sync::mpsc::Receiver<WriteJob>,
) {
    // Checkpoints are the checkpoint thread's, off the write path.
    if let Ok(mut guard) = engine.write() {
        guard.defer_checkpoints(true);
    }
    while let Some(first) = queue.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < WRITE_GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let Ok(mut guard) = engine.write() else {
            for job in jobs {
                let _ = job
                    .reply
                    .send(Err(ApiError::internal("the engine lock is poisoned")));
            }
            continue;
        };
        let mut batches = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            match (job.prepare)(&guard) {
                Ok(inputs) => {
                    batches.push(inputs);
                    replies.push(job.reply);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
        let results = guard.execute_group(batches);
        position.store(guard.store().last_position(), Ordering::Relaxed);
        drop(guard);
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result.map_err(ApiError::from));
        }
    }
}

/// The checkpoint thread. Encoding the world takes a read lock, so writes wait for it (about
/// a second for a world of 1.3 M events), and a checkpoint is therefore taken in a quiet
/// moment: once the world has run
/// [`CHECKPOINT_LAG_EVENTS_MAX`](vasooli_projections::engine::CHECKPOINT_LAG_EVENTS_MAX)
/// events ahead of its checkpoint and nothing was written for a second; under writes that
/// never pause, once it has run [`CHECKPOINT_BUSY_LAG_EVENTS`] ahead (a restart then replays
/// at most that many events). The encoded world is written holding no lock, into the
/// projections' own database, so the log's flushes are not held up. Ends with the server.
fn run_checkpoints(engine: std::sync::Weak<RwLock<Engine>>) {
    let lag_max = vasooli_projections::engine::CHECKPOINT_LAG_EVENTS_MAX;
    let mut last_seen = None;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let (lag, position) = match engine.read() {
            Ok(guard) => (guard.checkpoint_lag(), guard.store().last_position()),
            Err(_) => return,
        };
        let quiet = last_seen == Some(position);
        last_seen = Some(position);
        if !((quiet && lag >= lag_max) || lag >= CHECKPOINT_BUSY_LAG_EVENTS) {
            continue;
        }
        let started = std::time::Instant::now();
        let encoded = {
            let Ok(guard) = engine.read() else {
                return;
            };
            guard
                .encode_checkpoint()
                .map(|encoded| (encoded, guard.projections_db().clone()))
        };
        let encoded_in = started.elapsed();
        let saved = encoded.and_then(|(encoded, projections)| {
            let (position, size) = (encoded.position, encoded.len());
            vasooli_projections::engine::write_checkpoint(&projections, encoded)?;
            tracing::info!(
                position,
                bytes = size,
                encode_ms = encoded_in.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "checkpoint saved"
            );
            Ok(position)
        });
        match saved {
            Ok(position) => {
                if let Ok(mut guard) = engine.write() {
                    guard.checkpoint_written(position);
                }
            }
            Err(e) => tracing::error!("saving the checkpoint failed: {e}"),
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
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "an Authorization: Bearer TOKEN header is required",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    tokens::authenticate(&state.db, token)
        .ok_or_else(|| ApiError::unauthorized("the token is unknown or revoked"))
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

/// The whole API.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/commands",
            post(api::commands).layer(DefaultBodyLimit::max(COMMANDS_BODY_MAX)),
        )
        .route(
            "/api/v1/import/{kind}",
            post(api::import).layer(DefaultBodyLimit::max(IMPORT_BODY_MAX)),
        )
        .route(
            "/api/v1/nightly",
            post(api::nightly).layer(DefaultBodyLimit::max(NIGHTLY_BODY_MAX)),
        )
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
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ));
    api.fallback(fallback)
        // The default span holds the method and path only: no headers, so no tokens.
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves `listener` until `shutdown` completes, then lets requests in flight finish and
/// flushes the data directory.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await?;
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || db.flush()).await??;
    // A checkpoint on the way out, so that the next start replays little.
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        if let Ok(mut guard) = engine.write() {
            if guard.checkpoint_lag() > 0 {
                if let Err(e) = guard.save_checkpoint() {
                    tracing::error!("saving the checkpoint failed: {e}");
                }
            }
        }
    })
    .await?;
    Ok(())
}

/// Opens `data_dir`, binds `addr` (port 0 picks a free port), prints
/// `listening on http://ADDR` on stdout once bound, and serves until `shutdown` completes.
pub async fn serve(
    data_dir: PathBuf,
    policy: Policy,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = tokio::task::spawn_blocking(move || AppState::open(&data_dir, policy)).await??;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}")?;
        out.flush()?;
    }
    tracing::info!("listening on http://{local}");
    serve_listener(listener, state, shutdown).await
}
