//! Configuration: a TOML file in the data directory, overridden by `HAVEN_*`
//! environment variables (`HAVEN_SERVER__LISTEN=0.0.0.0:8443` sets
//! `server.listen`), overridden by command-line flags. Loaded once, typed,
//! and passed explicitly. Errors name the key and the problem.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use haven_crypto::PasswordParams;
use serde::{Deserialize, Serialize};

/// The configuration file's name inside the data directory.
pub const CONFIG_FILE: &str = "haven.toml";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The file is not valid TOML.
    #[error("{path}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// Parser message with line and column.
        reason: String,
    },
    /// A key has a value of the wrong type or an unknown key is present.
    #[error("{source_name}: key `{key}`: {reason}")]
    Key {
        /// The file or environment variable.
        source_name: String,
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listeners and limits.
    pub server: ServerConfig,
    /// TLS certificate.
    pub tls: TlsConfig,
    /// Where records live.
    pub storage: StorageConfig,
    /// Where keys come from.
    pub keys: KeysConfig,
    /// Logging.
    pub log: LogConfig,
    /// Account security.
    pub security: SecurityConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// The healthcare agent.
    pub agent: AgentConfig,
    /// Threat detection on the live audit stream.
    pub detect: DetectConfig,
    /// The browser front-end (chat widget, staff console).
    pub web: WebConfig,
}

/// Whether the authority at the start of `rest` (after `http://`) is a loopback host.
fn is_loopback_host(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Threat detection on the live audit stream.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Run detection inside `haven serve`.
    pub enabled: bool,
    /// A directory of rule files (relative to the data directory) used
    /// instead of the shipped rules.
    pub rules_dir: Option<PathBuf>,
    /// Records queued for detection; beyond this they are read back from the
    /// audit store (never dropped).
    pub queue: usize,
    /// Alerts within this many minutes of an open incident's latest alert join it.
    pub correlation_window_minutes: u64,
    /// Audit records replayed at start to rebuild the baselines (their
    /// alerts are not raised again).
    pub warmup_records: u64,
    /// A URL that receives each new alert and incident as JSON (HTTPS, or
    /// HTTP to a loopback address).
    pub webhook_url: Option<String>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            enabled: true,
            rules_dir: None,
            queue: 10_000,
            correlation_window_minutes: 240,
            warmup_records: 200_000,
            webhook_url: None,
        }
    }
}

/// The browser front-end: which sites may embed the chat widget.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Origins (`https://clinic.example`, scheme, host and port only) whose
    /// pages may embed the chat widget; every other page is refused the
    /// widget's frame. From the environment: space- or comma-separated.
    #[serde(deserialize_with = "origin_list")]
    pub embed_origins: Vec<String>,
}

/// A list of origins, as a TOML array or one space/comma-separated string.
fn origin_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::List(l) => l,
        Raw::Text(t) => t.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
    })
}

/// Whether `o` is a bare origin: `http(s)://host[:port]`, no path, no wildcard.
fn is_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else { return false };
    (scheme == "https" || scheme == "http")
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The healthcare agent: conversations, knowledge, scenarios, a model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Shown before a user's first conversation (and accepted before
    /// anything else), and attached to every reply with clinical content.
    pub disclaimer: String,
    /// Visitors without an account may ask general questions (no personal data).
    pub allow_anonymous: bool,
    /// A conversation is erased this many hours after its last message.
    pub conversation_ttl_hours: u32,
    /// Messages per minute per account, and per address for visitors.
    pub messages_per_minute: u32,
    /// Longest message accepted, in characters.
    pub max_message_chars: usize,
    /// Extra scenarios (`*.yaml`) from this directory, relative to the data dir.
    pub scenarios_dir: Option<PathBuf>,
    /// SMART scopes of Haven's own assistant; its rights are these scopes
    /// intersected with the signed-in user's.
    pub scopes: String,
    /// A language model behind an OpenAI-compatible endpoint; unset: the
    /// offline answerer alone.
    pub llm: Option<LlmConfig>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            disclaimer: "Haven is not a medical device and cannot diagnose or treat. Its answers come from this \
                         organisation's health information and may not fit your situation; ask your care team. \
                         In an emergency, call 911."
                .into(),
            allow_anonymous: false,
            conversation_ttl_hours: 24,
            messages_per_minute: 20,
            max_message_chars: 4000,
            scenarios_dir: None,
            scopes: "user/Patient.rs user/Practitioner.rs user/PractitionerRole.rs user/Schedule.rs user/Slot.rs \
                     user/Appointment.cruds user/Condition.rs user/MedicationRequest.rs \
                     user/MedicationStatement.rs user/AllergyIntolerance.rs user/Encounter.rs \
                     user/Observation.rs user/Immunization.rs user/Procedure.rs user/CareTeam.rs"
                .into(),
            llm: None,
        }
    }
}

/// An OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server,
/// Ollama, Azure OpenAI). Prompts leave Haven de-identified.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// Base URL, e.g. `http://127.0.0.1:8000/v1`; the only address Haven
    /// will send prompts to (together with `allowed_endpoints`).
    pub endpoint: String,
    /// The model name sent with each request.
    pub model: String,
    /// Environment variable holding the API key, if the endpoint needs one.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds before a request is abandoned.
    #[serde(default = "default_llm_timeout")]
    pub timeout_secs: u64,
    /// Retries after a failed request (with back-off).
    #[serde(default = "default_llm_retries")]
    pub max_retries: u32,
    /// Further base URLs prompts may go to (the egress allow-list).
    #[serde(default)]
    pub allowed_endpoints: Vec<String>,
}

fn default_llm_timeout() -> u64 {
    30
}

fn default_llm_retries() -> u32 {
    2
}

/// The tamper-evident audit log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A signed checkpoint after this many records...
    pub checkpoint_every_records: u64,
    /// ... or after this many seconds, whichever comes first.
    pub checkpoint_every_secs: u64,
    /// Also append each checkpoint as a JSON line to this file (relative to
    /// the data directory), for shipping outside Haven.
    pub publish_checkpoints: Option<PathBuf>,
    /// Keep records this many days, then prune them back to a signed
    /// checkpoint (the chain stays verifiable); unset keeps everything.
    pub retention_days: Option<u32>,
    /// The running server re-verifies new records this often (seconds).
    pub verify_every_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_every_records: 1000,
            checkpoint_every_secs: 10,
            publish_checkpoints: None,
            retention_days: None,
            verify_every_secs: 30,
        }
    }
}

/// Listeners and request limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The API listener (HTTPS unless started with `--insecure-http`).
    pub listen: SocketAddr,
    /// Prometheus metrics listener; must be a loopback address.
    pub metrics_listen: Option<SocketAddr>,
    /// Per-request timeout in seconds.
    pub request_timeout_secs: u64,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// How long graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            request_timeout_secs: 30,
            max_body_bytes: 8 * 1024 * 1024,
            shutdown_grace_secs: 30,
        }
    }
}

/// TLS certificate and key. Both unset: a self-signed certificate is made
/// on first start and kept in the data directory.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

/// The record store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite:FILE` (relative to the data directory) or `postgres://...`.
    pub url: String,
    /// PostgreSQL schema to use (created if missing).
    pub postgres_schema: Option<String>,
    /// PostgreSQL pool size.
    pub max_connections: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { url: "sqlite:haven.db".into(), postgres_schema: None, max_connections: 16 }
    }
}

/// Which key provider holds the key-encryption keys.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyProviderKind {
    /// The keyring file in the data directory.
    Local,
    /// `HAVEN_KEK_*` environment variables.
    Env,
}

/// Keys.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// The provider.
    pub provider: KeyProviderKind,
    /// The keyring file (local provider), relative to the data directory.
    pub keyring: PathBuf,
    /// Seconds `haven keys rotate` waits after adding a KEK before it
    /// re-wraps, so running servers pick up the new version first.
    pub rotation_grace_secs: u64,
    /// The key-rotation policy: the active KEK should be at most this many
    /// days old (the console's compliance report checks it).
    pub rotation_policy_days: u32,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            provider: KeyProviderKind::Local,
            keyring: "keyring.json".into(),
            rotation_grace_secs: 2,
            rotation_policy_days: 365,
        }
    }
}

/// Log format.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `haven_server=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info".into() }
    }
}

/// Account security.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Argon2id parameters for new password hashes.
    pub password: PasswordParams,
    /// Lifetime of an access token in seconds.
    pub token_ttl_secs: u64,
    /// A refresh token expires after this many seconds without use.
    pub refresh_idle_secs: u64,
    /// No session outlives this many seconds after sign-in, refreshed or not.
    pub session_absolute_secs: u64,
    /// Require a second factor from patients too (always required of staff).
    pub mfa_required_for_patients: bool,
    /// Failed sign-ins (per account and per source address) before back-off starts.
    pub lockout_threshold: u32,
    /// The longest back-off after repeated failures, in seconds.
    pub lockout_max_secs: u64,
    /// How long a break-the-glass grant lasts, in minutes.
    pub break_glass_minutes: u64,
    /// How many days after an Encounter or Appointment ends it still counts
    /// as a care relationship with the patient.
    pub care_relationship_days: u64,
    /// Break-the-glass needs a second factor presented at most this many
    /// seconds ago (else a current code in the request; 0: always a code).
    pub break_glass_fresh_mfa_secs: u64,
    /// An operator's Cedar policy file, added to the default policies
    /// (relative to the data directory); invalid policies stop start-up.
    pub policy_file: Option<PathBuf>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            password: PasswordParams::default(),
            token_ttl_secs: 15 * 60,
            refresh_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            mfa_required_for_patients: false,
            lockout_threshold: 5,
            lockout_max_secs: 15 * 60,
            break_glass_minutes: 60,
            break_glass_fresh_mfa_secs: 15 * 60,
            care_relationship_days: 365,
            policy_file: None,
        }
    }
}

/// Where the store lives, parsed from `storage.url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (may hold a password: never print it).
    Postgres(String),
}

impl Config {
    /// Loads `DIR/haven.toml` (defaults if absent) and applies `HAVEN_*` overrides.
    pub fn load(data_dir: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(data_dir, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        data_dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(ConfigError::Read { path: path.display().to_string(), reason: e.to_string() }),
        };
        Self::parse(&path.display().to_string(), &text, env)
    }

    /// Parses TOML text and applies overrides.
    pub fn parse(
        source_name: &str,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax { path: source_name.into(), reason: e.to_string() })?;
        let mut from_env = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("HAVEN_") else { continue };
            if !rest.contains("__") {
                continue; // HAVEN_KEK_* and friends are not configuration keys
            }
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            set_path(&mut table, &path, env_value(&value));
            from_env.push((name, path.join(".")));
        }
        let de = toml::Value::Table(table);
        serde_path_to_error::deserialize::<_, Config>(de)
            .map_err(|e| {
                let key = e.path().to_string();
                let source = from_env
                    .iter()
                    .find(|(_, k)| key.starts_with(k.as_str()) || k.starts_with(&key))
                    .map(|(n, _)| format!("environment variable {n}"))
                    .unwrap_or_else(|| source_name.to_string());
                ConfigError::Key { source_name: source, key, reason: e.into_inner().to_string() }
            })?
            .validated(source_name)
    }

    fn validated(self, source_name: &str) -> Result<Config, ConfigError> {
        let bad = |key: &str, reason: &str| ConfigError::Key {
            source_name: source_name.into(),
            key: key.into(),
            reason: reason.into(),
        };
        if let Some(m) = self.server.metrics_listen
            && !m.ip().is_loopback()
        {
            return Err(bad("server.metrics_listen", "must be a loopback address (metrics are not public)"));
        }
        if self.detect.queue == 0 {
            return Err(bad("detect.queue", "must be at least 1"));
        }
        if let Some(url) = &self.detect.webhook_url
            && let Err(e) = haven_detect::export::WebhookSender::new(url)
        {
            return Err(bad("detect.webhook_url", &e.to_string()));
        }
        if let Some(url) = &self.detect.webhook_url
            && let Some(rest) = url.strip_prefix("http://")
            && !is_loopback_host(rest)
        {
            return Err(bad("detect.webhook_url", "plain http:// only to a loopback address; use https://"));
        }
        if self.server.request_timeout_secs == 0 {
            return Err(bad("server.request_timeout_secs", "must be at least 1"));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(bad("server.max_body_bytes", "must be at least 1024"));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(bad("tls", "set both `cert` and `key`, or neither"));
        }
        if self.storage_location_unchecked().is_none() {
            return Err(bad("storage.url", "must start with `sqlite:` or `postgres://`"));
        }
        if self.security.password.memory_kib < 8 * 1024 {
            return Err(bad("security.password.memory_kib", "must be at least 8192 (OWASP minimum is 19456)"));
        }
        if self.audit.checkpoint_every_records == 0 {
            return Err(bad("audit.checkpoint_every_records", "must be at least 1"));
        }
        if self.audit.checkpoint_every_secs == 0 {
            return Err(bad("audit.checkpoint_every_secs", "must be at least 1"));
        }
        if self.audit.verify_every_secs == 0 {
            return Err(bad("audit.verify_every_secs", "must be at least 1"));
        }
        if let Some(o) = self.web.embed_origins.iter().find(|o| !is_origin(o)) {
            let reason = format!("`{o}` is not an origin (scheme://host[:port], no path or wildcard)");
            return Err(bad("web.embed_origins", &reason));
        }
        if self.agent.conversation_ttl_hours == 0 {
            return Err(bad("agent.conversation_ttl_hours", "must be at least 1"));
        }
        if self.agent.messages_per_minute == 0 {
            return Err(bad("agent.messages_per_minute", "must be at least 1"));
        }
        if !(16..=100_000).contains(&self.agent.max_message_chars) {
            return Err(bad("agent.max_message_chars", "must be between 16 and 100000"));
        }
        if haven_policy::parse_scopes(&self.agent.scopes).is_err() {
            return Err(bad("agent.scopes", "is not a list of SMART scopes (e.g. `user/Slot.rs`)"));
        }
        if let Some(llm) = &self.agent.llm {
            for url in std::iter::once(&llm.endpoint).chain(&llm.allowed_endpoints) {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(bad("agent.llm.endpoint", "must be an http:// or https:// URL"));
                }
            }
            if llm.model.trim().is_empty() {
                return Err(bad("agent.llm.model", "must name a model"));
            }
        }
        if self.audit.retention_days == Some(0) {
            return Err(bad("audit.retention_days", "must be at least 1 (leave it unset to keep everything)"));
        }
        Ok(self)
    }

    fn storage_location_unchecked(&self) -> Option<StorageLocation> {
        let url = self.storage.url.trim();
        if let Some(file) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            (!file.is_empty()).then(|| StorageLocation::Sqlite(PathBuf::from(file)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(StorageLocation::Postgres(url.to_string()))
        } else {
            None
        }
    }

    /// The store location, with a relative SQLite path resolved against `data_dir`.
    pub fn storage_location(&self, data_dir: &Path) -> StorageLocation {
        match self.storage_location_unchecked() {
            Some(StorageLocation::Sqlite(p)) => StorageLocation::Sqlite(data_dir.join(p)),
            Some(other) => other,
            None => StorageLocation::Sqlite(data_dir.join("haven.db")),
        }
    }

    /// The config file a fresh `haven init` writes: every key, documented.
    pub fn default_file_text() -> &'static str {
        DEFAULT_CONFIG
    }
}

/// The documented default configuration; a test keeps it equal to `Config::default()`.
const DEFAULT_CONFIG: &str = include_str!("../haven.default.toml");

fn env_value(raw: &str) -> toml::Value {
    // Numbers and booleans keep their type; everything else is a string.
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { return };
        t = next;
    }
    t.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse("haven.toml", text, Vec::new())
    }

    #[test]
    fn default_file_matches_defaults() {
        assert_eq!(parse(Config::default_file_text()).unwrap(), Config::default());
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("[server]\nlisten = 42\n").unwrap_err().to_string();
        assert!(e.contains("server.listen"), "{e}");
        let e = parse("[server]\nlisen = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");
        let e = parse("[server]\nlisten = \"nonsense\"\n").unwrap_err().to_string();
        assert!(e.contains("server.listen") && e.contains("invalid"), "{e}");
        let e = parse("[server\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("[server]\nmetrics_listen = \"0.0.0.0:9464\"\n").unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
        let e = parse("[storage]\nurl = \"mysql://x\"\n").unwrap_err().to_string();
        assert!(e.contains("storage.url"), "{e}");
    }

    #[test]
    fn environment_overrides_file() {
        let env = vec![
            ("HAVEN_SERVER__LISTEN".to_string(), "0.0.0.0:9000".to_string()),
            ("HAVEN_LOG__FORMAT".to_string(), "json".to_string()),
            ("HAVEN_KEK_1".to_string(), "ignored".to_string()),
        ];
        let c = Config::parse("haven.toml", "[server]\nlisten = \"127.0.0.1:1\"\n", env).unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.log.format, LogFormat::Json);
        let env = vec![("HAVEN_SERVER__REQUEST_TIMEOUT_SECS".to_string(), "soon".to_string())];
        let e = Config::parse("haven.toml", "", env).unwrap_err().to_string();
        assert!(e.contains("HAVEN_SERVER__REQUEST_TIMEOUT_SECS") && e.contains("request_timeout_secs"), "{e}");
    }

    #[test]
    fn webhooks_go_over_https_or_stay_on_this_machine() {
        for ok in ["https://siem.example.org/x", "http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]:8/x"] {
            parse(&format!("[detect]\nwebhook_url = \"{ok}\"\n")).unwrap();
        }
        for bad in ["http://siem.example.org/x", "http://127.0.0.1.evil.org/", "ftp://x", "http://u@10.0.0.1/"] {
            let e = parse(&format!("[detect]\nwebhook_url = \"{bad}\"\n")).unwrap_err().to_string();
            assert!(e.contains("detect.webhook_url"), "{bad}: {e}");
        }
        assert!(parse("[detect]\nqueue = 0\n").unwrap_err().to_string().contains("detect.queue"));
    }

    #[test]
    fn embed_origins_are_bare_origins_from_the_file_or_the_environment() {
        let c = parse("[web]\nembed_origins = [\"https://clinic.example\", \"http://127.0.0.1:8080\"]\n").unwrap();
        assert_eq!(c.web.embed_origins, ["https://clinic.example", "http://127.0.0.1:8080"]);
        let env = vec![("HAVEN_WEB__EMBED_ORIGINS".to_string(), "https://a.example, https://b.example".to_string())];
        let c = Config::parse("haven.toml", "", env).unwrap();
        assert_eq!(c.web.embed_origins, ["https://a.example", "https://b.example"]);
        for bad in ["*", "https://a.example/path", "clinic.example", "ftp://x"] {
            let e = parse(&format!("[web]\nembed_origins = [\"{bad}\"]\n")).unwrap_err().to_string();
            assert!(e.contains("web.embed_origins"), "{e}");
        }
    }

    #[test]
    fn storage_urls() {
        let c = parse("[storage]\nurl = \"postgres://u@h/db\"\n").unwrap();
        assert_eq!(c.storage_location(Path::new("/d")), StorageLocation::Postgres("postgres://u@h/db".into()));
        let c = parse("").unwrap();
        assert_eq!(c.storage_location(Path::new("/d")), StorageLocation::Sqlite("/d/haven.db".into()));
    }
}
