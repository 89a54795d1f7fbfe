//! Starting and stopping the listeners: HTTPS (or plain HTTP behind an
//! explicit flag) for the API, and a loopback-only listener for metrics.
//! Shutdown is graceful: in-flight requests finish within the grace period.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use crate::config::{Config, LogConfig, LogFormat};
use crate::state::{OpenError, open_store};
use crate::{AppState, app, tls};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory, keys or store cannot be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// TLS cannot be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A listener cannot bind.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
}

/// Command-line choices that override the configuration.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides `server.metrics_listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS.
    pub insecure_http: bool,
}

/// A started server.
pub struct RunningServer {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where metrics are served, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// `https` or `http`.
    pub scheme: &'static str,
    handle: Handle,
    metrics_handle: Handle,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    grace: Duration,
    state: AppState,
    watcher: JoinHandle<()>,
    sweeper: JoinHandle<()>,
}

impl RunningServer {
    /// The base URL of the API.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The shared state (for tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections and lets in-flight requests finish.
    pub fn shutdown(&self) {
        self.handle.graceful_shutdown(Some(self.grace));
        self.metrics_handle.graceful_shutdown(Some(self.grace));
    }

    /// Waits until every listener has stopped, then flushes the audit log.
    pub async fn wait(self) {
        for t in self.tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "listener failed"),
                Err(e) => tracing::error!(error = %e, "listener task failed"),
            }
        }
        self.watcher.abort();
        self.sweeper.abort();
        if let Some(d) = self.state.detect() {
            d.stop().await;
        }
        // A final checkpoint covers everything written before the stop.
        if let Err(e) = self.state.audit().checkpoint_now().await {
            tracing::error!(error = %e, "final audit checkpoint failed");
        }
        self.state.audit().close().await;
    }
}

async fn spawn_listener(
    addr: SocketAddr,
    router: Router,
    tls: Option<RustlsConfig>,
    handle: Handle,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), ServeError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| ServeError::Bind { addr, reason: e.to_string() })?;
    listener.set_nonblocking(true).map_err(|e| ServeError::Bind { addr, reason: e.to_string() })?;
    let bound = listener.local_addr().map_err(|e| ServeError::Bind { addr, reason: e.to_string() })?;
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let task = match tls {
        Some(tls) => tokio::spawn(axum_server::from_tcp_rustls(listener, tls).handle(handle).serve(service)),
        None => tokio::spawn(axum_server::from_tcp(listener).handle(handle).serve(service)),
    };
    Ok((bound, task))
}

/// Opens everything a request needs (store, policies, audit log, the
/// assistant); no listener. `haven serve` and the in-process commands
/// (`haven ask`) share it.
pub async fn open_state(data_dir: &Path, config: Config) -> Result<AppState, ServeError> {
    let store = open_store(data_dir, &config).await?;
    let metrics = crate::metrics_layer::install();
    let authz = crate::state::open_authz(data_dir, &config)?;
    let audit = crate::state::open_audit(data_dir, &config).await?;
    let agent = crate::agent::AgentService::open(data_dir, &config)?;
    let deid = crate::deid::DeidService::open(data_dir, &config)?;
    Ok(AppState::new(store, config, data_dir.to_path_buf(), metrics, authz, audit, agent, deid))
}

/// Records what this process enforces, before it serves anything.
async fn record_start(state: &AppState) -> Result<(), ServeError> {
    let config = state.config();
    let data_dir = state.data_dir();
    // Policy and configuration changes take effect at start: record what this
    // process enforces before it serves anything.
    let mut started = haven_audit::Event::new(
        haven_audit::Actor { id: "system:haven".into(), ..Default::default() },
        "server.start",
        haven_audit::Outcome::Success,
    );
    // The policy file by name and content hash, so a changed policy shows.
    let policy = match &config.security.policy_file {
        Some(f) => {
            let sum = std::fs::read(data_dir.join(f)).map(|b| hex::encode(&haven_crypto::sha256(&b)[..8]));
            format!(" + {} (sha256 {})", f.display(), sum.unwrap_or_else(|_| "unreadable".into()))
        }
        None => String::new(),
    };
    started.detail = Some(format!(
        "haven {}; policies: default{policy}; KEK provider {}",
        env!("CARGO_PKG_VERSION"),
        state.store().key_provider().name()
    ));
    state.audit().record(started).await.map_err(crate::state::OpenError::Audit)?;
    Ok(())
}

/// Opens the data directory and starts the listeners.
pub async fn start(data_dir: &Path, config: Config, opts: ServeOptions) -> Result<RunningServer, ServeError> {
    let tls = if opts.insecure_http {
        tracing::warn!("serving plain HTTP (--insecure-http): credentials and PHI cross the network unencrypted");
        None
    } else {
        let (cert, key) = tls::ensure_certificate(data_dir, &config.tls)?;
        Some(RustlsConfig::from_config(tls::server_config(&cert, &key)?))
    };
    let listen = opts.listen.unwrap_or(config.server.listen);
    let metrics_listen = opts.metrics_listen.or(config.server.metrics_listen);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let mut state = open_state(data_dir, config).await?;
    record_start(&state).await?;
    if state.config().detect.enabled {
        let detect = crate::detect::DetectService::open(state.store(), data_dir, state.config()).await?;
        detect.start(state.audit());
        state.set_detect(detect);
    }
    let metrics = state.metrics().cloned();
    if opts.insecure_http {
        state = state.plain_http();
    }

    let handle = Handle::new();
    let (addr, api_task) = spawn_listener(listen, app(state.clone()), tls.clone(), handle.clone()).await?;
    let mut tasks = vec![api_task];
    let metrics_handle = Handle::new();
    let mut metrics_addr = None;
    if let (Some(m), Some(prom)) = (metrics_listen, metrics) {
        if !m.ip().is_loopback() {
            return Err(ServeError::Bind { addr: m, reason: "metrics must listen on a loopback address".into() });
        }
        let router = Router::new().route("/metrics", get(move || std::future::ready(prom.render())));
        let (bound, task) = spawn_listener(m, router, tls, metrics_handle.clone()).await?;
        metrics_addr = Some(bound);
        tasks.push(task);
    }
    let scheme = if opts.insecure_http { "http" } else { "https" };
    let watcher = tokio::spawn(watch_audit(state.clone()));
    let sweeper = tokio::spawn(sweep_conversations(state.clone()));
    tracing::info!(%addr, scheme, metrics = ?metrics_addr, "Haven is listening");
    Ok(RunningServer { addr, metrics_addr, scheme, handle, metrics_handle, tasks, grace, state, watcher, sweeper })
}

/// How often expired conversations are erased.
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Erases expired agent conversations (and forgets idle rate-limit keys)
/// every few minutes; a conversation is also refused the moment it expires.
async fn sweep_conversations(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        state.agent().shrink();
        match crate::agent::records::sweep_conversations(state.store(), state.agent().ttl_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(erased = n, "expired conversations erased"),
            Err(e) => tracing::warn!(error = %e, "could not erase expired conversations; will retry"),
        }
    }
}

/// Re-verifies the audit log continuously, each run starting from the last
/// verified checkpoint, and prunes it when retention is configured.
async fn watch_audit(state: AppState) {
    let cfg = state.config().audit.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.verify_every_secs));
    let mut from: Option<haven_audit::Checkpoint> = None;
    let mut total = 0u64;
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        if let Some(days) = cfg.retention_days
            && last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600))
        {
            last_prune = Some(std::time::Instant::now());
            let before = haven_audit::days_ago(days);
            match state.audit().store().prune(before).await {
                Ok(r) if r.removed > 0 => {
                    tracing::info!(removed = r.removed, "pruned expired audit records");
                    let mut e = haven_audit::Event::new(
                        haven_audit::Actor { id: "system:haven".into(), ..Default::default() },
                        "audit.prune",
                        haven_audit::Outcome::Success,
                    );
                    e.detail = Some(format!(
                        "retention {days} days: {} records removed up to checkpoint {}",
                        r.removed,
                        r.anchor.map_or(0, |a| a.seq)
                    ));
                    if let Err(e) = state.audit().record(e).await {
                        tracing::error!(error = %e, "could not record the audit pruning");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "audit pruning failed"),
            }
        }
        let keys = vec![state.audit().public_key()];
        let report = haven_audit::verify_store(state.audit().store().as_ref(), keys, from.clone(), None).await;
        let mut status = state.audit_status();
        status.checked_at = Some(time::OffsetDateTime::now_utc().unix_timestamp());
        match report {
            Ok(r) => {
                total += r.records;
                status.records_verified = total;
                if let Some(p) = &r.problem {
                    tracing::error!(problem = %p, "the audit log does not verify");
                    status.problem = Some(p.to_string());
                } else if let Some(cp) = r.last_checkpoint {
                    status.verified_seq = Some(cp.seq);
                    status.verified_checkpoint_time = Some(cp.time);
                    // Records after it are verified again next time, with their checkpoint.
                    total = total.saturating_sub(r.unsigned_tail);
                    status.records_verified = total;
                    from = Some(cp);
                }
            }
            Err(e) => tracing::error!(error = %e, "audit verification could not run"),
        }
        state.set_audit_status(status);
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Sets up logging: text or JSON lines on stderr.
pub fn init_logging(cfg: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HAVEN_LOG").unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
