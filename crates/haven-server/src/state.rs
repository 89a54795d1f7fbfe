//! The application state every handler shares, and how it is opened from a
//! data directory and its configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use haven_crypto::{EnvKeyProvider, KeyProvider, LocalKeyring};
use haven_store::{Backend, PgBackend, SqliteBackend, Store, StoreError};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::{Config, KeyProviderKind, StorageLocation};

/// Why the data directory cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Keys are missing, unreadable or too widely readable.
    #[error(transparent)]
    Keys(#[from] haven_crypto::CryptoError),
    /// The store cannot be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The operator's policy file is unreadable or invalid.
    #[error("policy file {path}: {reason}")]
    Policy {
        /// The file.
        path: String,
        /// The Cedar error.
        reason: String,
    },
    /// The audit log cannot be opened.
    #[error("audit log: {0}")]
    Audit(#[from] haven_audit::AuditError),
    /// Threat detection cannot start (a malformed rule: its file, line and reason).
    #[error("threat detection: {0}")]
    Detect(String),
    /// The data directory is not usable.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The authorization engine: default policies plus the operator's file, if
/// configured. An invalid file stops start-up with the Cedar error.
pub fn open_authz(data_dir: &Path, config: &Config) -> Result<crate::authz::Authz, OpenError> {
    let extra = match &config.security.policy_file {
        Some(f) => {
            let path = data_dir.join(f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| OpenError::Policy { path: path.display().to_string(), reason: e.to_string() })?;
            Some((path, text))
        }
        None => None,
    };
    crate::authz::Authz::new(extra.as_ref().map(|(_, t)| t.as_str()), &config.security).map_err(|e| OpenError::Policy {
        path: extra.as_ref().map(|(p, _)| p.display().to_string()).unwrap_or_else(|| "(default policies)".into()),
        reason: e.to_string(),
    })
}

/// Checks the data directory exists and is private to its owner.
pub fn check_data_dir(dir: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |reason: String| OpenError::DataDir { path: dir.display().to_string(), reason };
    let meta = std::fs::metadata(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad("does not exist (run `haven init --data-dir DIR` first)".into()),
        _ => bad(e.to_string()),
    })?;
    if !meta.is_dir() {
        return Err(bad("is not a directory".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "is accessible by group or others (mode {mode:04o}); run `chmod 700 {}`",
            dir.display()
        )));
    }
    Ok(())
}

/// The configured key provider.
pub fn open_key_provider(data_dir: &Path, config: &Config) -> Result<Arc<dyn KeyProvider>, OpenError> {
    Ok(match config.keys.provider {
        KeyProviderKind::Local => Arc::new(LocalKeyring::open(&data_dir.join(&config.keys.keyring))?),
        KeyProviderKind::Env => Arc::new(EnvKeyProvider::from_env()?),
    })
}

/// The configured backend, migrated.
pub async fn open_backend(data_dir: &Path, config: &Config) -> Result<Arc<dyn Backend>, OpenError> {
    Ok(match config.storage_location(data_dir) {
        StorageLocation::Sqlite(path) => Arc::new(SqliteBackend::open(&path).await?),
        StorageLocation::Postgres(url) => Arc::new(
            PgBackend::connect(&url, config.storage.postgres_schema.as_deref(), config.storage.max_connections).await?,
        ),
    })
}

/// Where the knowledge base index lives: `DATA_DIR/kb`. It holds the
/// organisation's published content, not PHI, so it is not encrypted.
pub fn kb_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("kb")
}

/// Opens the store of a data directory: checks permissions, loads keys,
/// connects and migrates.
pub async fn open_store(data_dir: &Path, config: &Config) -> Result<Store, OpenError> {
    check_data_dir(data_dir)?;
    let keys = open_key_provider(data_dir, config)?;
    let backend = open_backend(data_dir, config).await?;
    Ok(Store::new(backend, keys).await?)
}

/// The audit signing key: the keyring's, or `HAVEN_AUDIT_SIGNING_KEY`
/// (base64 of a 32-byte Ed25519 seed) when keys come from the environment.
pub fn audit_signer(data_dir: &Path, config: &Config) -> Result<haven_audit::Signer, OpenError> {
    let seed = match config.keys.provider {
        KeyProviderKind::Local => LocalKeyring::open(&data_dir.join(&config.keys.keyring))?.signing_seed()?,
        KeyProviderKind::Env => {
            use base64::Engine;
            let bad = |reason: &str| OpenError::Audit(haven_audit::AuditError::Key(reason.into()));
            let v = zeroize::Zeroizing::new(
                std::env::var("HAVEN_AUDIT_SIGNING_KEY")
                    .map_err(|_| bad("HAVEN_AUDIT_SIGNING_KEY (base64 of a 32-byte seed) is not set"))?,
            );
            let bytes = zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map_err(|_| bad("HAVEN_AUDIT_SIGNING_KEY is not base64"))?,
            );
            let arr: [u8; 32] =
                bytes.as_slice().try_into().map_err(|_| bad("HAVEN_AUDIT_SIGNING_KEY must decode to 32 bytes"))?;
            zeroize::Zeroizing::new(arr)
        }
    };
    Ok(haven_audit::Signer::from_seed(&seed)?)
}

/// The audit store: `audit.db` beside the SQLite store (its own file, so
/// audit writes never queue behind record writes), or the same PostgreSQL
/// database as the records.
pub async fn open_audit_store(data_dir: &Path, config: &Config) -> Result<Arc<dyn haven_audit::AuditStore>, OpenError> {
    Ok(match config.storage_location(data_dir) {
        StorageLocation::Sqlite(path) => {
            let file = path.with_file_name("audit.db");
            Arc::new(haven_audit::SqliteAuditStore::open(&file).await?)
        }
        StorageLocation::Postgres(url) => Arc::new(
            haven_audit::PgAuditStore::connect(
                &url,
                config.storage.postgres_schema.as_deref(),
                config.storage.max_connections.clamp(1, 4),
            )
            .await?,
        ),
    })
}

/// Opens the audit log and starts its writer (needs a Tokio runtime).
pub async fn open_audit(data_dir: &Path, config: &Config) -> Result<haven_audit::AuditLog, OpenError> {
    let signer = audit_signer(data_dir, config)?;
    let store = open_audit_store(data_dir, config).await?;
    let policy = haven_audit::CheckpointPolicy {
        every_records: config.audit.checkpoint_every_records,
        every: std::time::Duration::from_secs(config.audit.checkpoint_every_secs),
    };
    let publish = config.audit.publish_checkpoints.as_ref().map(|p| data_dir.join(p));
    Ok(haven_audit::AuditLog::start(store, signer, policy, publish))
}

/// The running server's latest verification of its own audit log.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AuditStatus {
    /// Unix seconds of the last verification run.
    pub checked_at: Option<i64>,
    /// The last checkpoint verified (sequence number).
    pub verified_seq: Option<u64>,
    /// Its time (unix microseconds).
    pub verified_checkpoint_time: Option<i64>,
    /// Records verified so far.
    pub records_verified: u64,
    /// The first problem found, if any (the chain is then broken).
    pub problem: Option<String>,
}

struct Inner {
    audit: haven_audit::AuditLog,
    audit_status: std::sync::Mutex<AuditStatus>,
    store: Store,
    config: Config,
    data_dir: PathBuf,
    metrics: Option<PrometheusHandle>,
    scheme: &'static str,
    sessions: crate::accounts::SessionCache,
    limiter: crate::accounts::Limiter,
    authz: crate::authz::Authz,
    agent: Arc<crate::agent::AgentService>,
    deid: Arc<crate::deid::DeidService>,
    detect: std::sync::OnceLock<Arc<crate::detect::DetectService>>,
}

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Builds the state from an opened store.
    // One argument per part the state owns; `serve::open_state` is its one caller.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        config: Config,
        data_dir: PathBuf,
        metrics: Option<PrometheusHandle>,
        authz: crate::authz::Authz,
        audit: haven_audit::AuditLog,
        agent: Arc<crate::agent::AgentService>,
        deid: Arc<crate::deid::DeidService>,
    ) -> Self {
        AppState(Arc::new(Inner {
            audit,
            audit_status: Default::default(),
            store,
            config,
            data_dir,
            metrics,
            scheme: "https",
            sessions: Default::default(),
            limiter: Default::default(),
            authz,
            agent,
            deid,
            detect: std::sync::OnceLock::new(),
        }))
    }

    /// Live threat detection, when `haven serve` runs it.
    pub fn detect(&self) -> Option<&Arc<crate::detect::DetectService>> {
        self.0.detect.get()
    }

    /// Sets the live threat detection (once).
    pub fn set_detect(&self, detect: Arc<crate::detect::DetectService>) {
        let _ = self.0.detect.set(detect);
    }

    /// The same state, for a listener serving plain HTTP (links use `http`).
    pub fn plain_http(self) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => AppState(Arc::new(Inner { scheme: "http", ..inner })),
            Err(shared) => AppState(shared),
        }
    }

    /// The de-identification engine with the tenant key.
    pub fn deid(&self) -> &crate::deid::DeidService {
        &self.0.deid
    }

    /// The guard that tokenizes the assistant's model prompts.
    pub fn deid_guard(&self) -> crate::deid::PromptTokens {
        crate::deid::PromptTokens::new(self.0.deid.clone(), self.0.store.clone())
    }

    /// The audit log writer.
    pub fn audit(&self) -> &haven_audit::AuditLog {
        &self.0.audit
    }

    /// The latest self-verification of the audit log.
    pub fn audit_status(&self) -> AuditStatus {
        self.0.audit_status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Records the outcome of a self-verification run.
    pub fn set_audit_status(&self, status: AuditStatus) {
        if let Ok(mut s) = self.0.audit_status.lock() {
            *s = status;
        }
    }

    /// Recently verified sessions.
    pub fn sessions(&self) -> &crate::accounts::SessionCache {
        &self.0.sessions
    }

    /// The authorization engine.
    pub fn authz(&self) -> &crate::authz::Authz {
        &self.0.authz
    }

    /// The healthcare agent.
    pub fn agent(&self) -> &crate::agent::AgentService {
        &self.0.agent
    }

    /// Failed sign-ins per source address.
    pub fn limiter(&self) -> &crate::accounts::Limiter {
        &self.0.limiter
    }

    /// `https`, or `http` behind `--insecure-http`: the scheme of links the server builds.
    pub fn scheme(&self) -> &'static str {
        self.0.scheme
    }

    /// The record store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.0.data_dir
    }

    /// The Prometheus handle, when metrics are on.
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.0.metrics.as_ref()
    }
}
