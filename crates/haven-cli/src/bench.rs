//! `haven bench`: benchmarks that print their figures. Each figure that has
//! a target is measured as a ratio against a baseline in the same run, so a
//! noisy machine moves both sides alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use clap::Subcommand;
use haven_core::{ResourceId, ResourceType, VersionId};
use haven_crypto::{DataKey, LocalKeyring};
use haven_policy::Action;
use haven_server::accounts::{SessionCache, authenticate_cached};
use haven_server::authz::{Authz, DecisionFlag};
use haven_server::config::Config;
use haven_server::serve::{self, ServeOptions};
use haven_store::{Backend, SqliteBackend, Store, StoreError, VersionRow};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// PHI detection and de-identification throughput on notes (one thread),
    /// and on adversarial input to show linear time.
    Deid {
        /// The shared data folder (Synthea, MTS-Dialog and ACI-Bench notes).
        #[arg(long, value_name = "DIR", default_value = "../shared/data")]
        data: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Threat detection: events/s on one core through every rule with
    /// baselines and explanations, and access-to-alert lag under live load.
    Detect(crate::detect::BenchDetectArgs),
    /// Encrypted vs. plain store round trips on SQLite, and AES-GCM throughput.
    Store {
        /// Records written and read per side per round.
        #[arg(long, default_value_t = 500)]
        records: usize,
        /// Rounds (the two sides alternate each round).
        #[arg(long, default_value_t = 4)]
        rounds: usize,
        /// Record size in bytes.
        #[arg(long, default_value_t = 2048)]
        size: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import throughput, then reads and identifier searches over HTTPS
    /// against an in-process server, with `/healthz` as the baseline; then
    /// the cost of the security layers (reads against an unauthenticated
    /// baseline server) and of authentication + authorization per request.
    Fhir {
        /// FHIR data to import (bulk-export NDJSON, Bundles; file or directory).
        #[arg(long, value_name = "PATH", default_value = DEFAULT_FHIR_DATA)]
        data: PathBuf,
        /// Seconds each load phase is measured (after a 1 s warm-up).
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        duration: u64,
        /// Concurrent client tasks.
        #[arg(long, value_name = "N", default_value_t = 32)]
        concurrency: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The assistant: message round trips (p50/p99, messages/s) with one and
    /// with many conversations at once, and the process's memory.
    Agent {
        /// Knowledge to load (MedQuAD XML directory, Markdown...); its held-out
        /// questions are the messages. Without it, the demo knowledge base.
        #[arg(long, value_name = "PATH", default_value = crate::bench_agent::DEFAULT_KB)]
        kb: PathBuf,
        /// Conversations at once in the second phase.
        #[arg(long, value_name = "N", default_value_t = 100)]
        concurrency: usize,
        /// Seconds each phase is measured (after a 1 s warm-up).
        #[arg(long, value_name = "SECS", default_value_t = 10)]
        duration: u64,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Audit log: durable append rate (group commit), the wait a request
    /// adds for its record, and verification speed.
    Audit {
        /// Records appended in the throughput phase.
        #[arg(long, default_value_t = 300_000)]
        records: usize,
        /// Concurrent submitters in the throughput phases, comma-separated
        /// (each phase appends `--records`; a group commit takes at most one
        /// record per waiting submitter, so the rate grows with them).
        #[arg(long, value_delimiter = ',', default_value = "256,1024")]
        submitters: Vec<usize>,
        /// Request rates (records/s) for the latency phases, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,3000,10000")]
        rate: Vec<u64>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Where `haven bench fhir` looks for data when `--data` is not given.
const DEFAULT_FHIR_DATA: &str = "../shared/data/fhir/synthea-10";

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Deid { data, json } => crate::deid::bench(&data, json),
        BenchCommand::Detect(args) => crate::detect::bench_cmd(args).await,
        BenchCommand::Store { records, rounds, size, json } => store(records.max(1), rounds.max(1), size, json).await,
        BenchCommand::Audit { records, submitters, rate, json } => {
            let rates: Vec<u64> = rate.into_iter().map(|r| r.max(1)).collect();
            let submitters: Vec<usize> = submitters.into_iter().map(|s| s.max(1)).collect();
            crate::bench_audit::run(records.max(1), &submitters, &rates, json).await
        }
        BenchCommand::Agent { kb, concurrency, duration, json } => {
            crate::bench_agent::run(&kb, concurrency.max(1), Duration::from_secs(duration.max(1)), json).await
        }
        BenchCommand::Fhir { data, duration, concurrency, json } => {
            fhir(&data, Duration::from_secs(duration.max(1)), concurrency.max(1), json).await
        }
    }
}

/// A JSON document of about `size` bytes, shaped like a FHIR resource.
fn record(i: usize, size: usize) -> Vec<u8> {
    let mut v = serde_json::json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": format!("Patient/p{i}")},
        "valueQuantity": {"value": 60 + (i % 40), "unit": "beats/minute"},
        "note": [{"text": ""}]
    });
    let base = v.to_string().len();
    v["note"][0]["text"] = serde_json::Value::String("x".repeat(size.saturating_sub(base)));
    v.to_string().into_bytes()
}

fn aes_gcm_gbps(seconds: f64) -> Result<(f64, f64)> {
    let key = DataKey::generate()?;
    let data = vec![0x5a_u8; 64 * 1024];
    let sealed = haven_crypto::seal(&key, b"aad", &data)?;
    let measure = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let start = Instant::now();
        let mut bytes = 0usize;
        while start.elapsed().as_secs_f64() < seconds {
            for _ in 0..64 {
                f()?;
                bytes += data.len();
            }
        }
        Ok(bytes as f64 / start.elapsed().as_secs_f64() / 1e9)
    };
    let seal = measure(&mut || haven_crypto::seal(&key, b"aad", &data).map(|_| ()).map_err(Into::into))?;
    let open = measure(&mut || haven_crypto::open(&key, b"aad", &sealed).map(|_| ()).map_err(Into::into))?;
    Ok((seal, open))
}

#[derive(Default)]
struct Side {
    write: Duration,
    read: Duration,
    n: usize,
}

impl Side {
    fn per_sec(&self, d: Duration) -> f64 {
        self.n as f64 / d.as_secs_f64()
    }
}

async fn store(records: usize, rounds: usize, size: usize, json: bool) -> Result<()> {
    let dir = tempfile_dir()?;
    let keyring = Arc::new(LocalKeyring::create(&dir.join("keyring.json"))?);
    let backend = Arc::new(SqliteBackend::open(&dir.join("bench.db")).await?);
    let store = Store::new(backend.clone(), keyring).await?;
    let t_plain = ResourceType::parse("Plain")?;
    let t_enc = ResourceType::parse("Observation")?;
    let bodies: Vec<Vec<u8>> = (0..records).map(|i| record(i, size)).collect();
    let (mut plain, mut enc) = (Side::default(), Side::default());

    for round in 0..rounds {
        // Baseline: the same backend path, no encryption.
        let ids: Vec<ResourceId> =
            (0..records).map(|i| ResourceId::parse(&format!("r{round}-{i}"))).collect::<Result<_, _>>()?;
        let start = Instant::now();
        for (id, body) in ids.iter().zip(&bodies) {
            let row = VersionRow {
                rtype: t_plain.clone(),
                id: id.clone(),
                version: VersionId::FIRST,
                deleted: false,
                last_updated: 0,
                kek_version: 1,
                wrapped_key: vec![0; 65],
                payload: body.clone(),
            };
            backend.write(&row, None, &[]).await?;
        }
        plain.write += start.elapsed();
        let start = Instant::now();
        for id in &ids {
            if backend.head(&t_plain, id).await?.is_none() {
                anyhow::bail!("baseline row missing");
            }
            std::hint::black_box(backend.get(&t_plain, id, VersionId::FIRST).await?);
        }
        plain.read += start.elapsed();
        plain.n += records;

        // Encrypted path: seal + write, read + open.
        let start = Instant::now();
        for (id, body) in ids.iter().zip(&bodies) {
            store.create(&t_enc, Some(id.clone()), body, &[]).await?;
        }
        enc.write += start.elapsed();
        let start = Instant::now();
        for id in &ids {
            std::hint::black_box(store.read(&t_enc, id).await?);
        }
        enc.read += start.elapsed();
        enc.n += records;
    }
    let (seal_gbps, open_gbps) = aes_gcm_gbps(1.0)?;
    let write_overhead = enc.write.as_secs_f64() / plain.write.as_secs_f64() - 1.0;
    let read_overhead = enc.read.as_secs_f64() / plain.read.as_secs_f64() - 1.0;
    backend.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "record_bytes": size, "records": plain.n,
                "plain_write_per_sec": plain.per_sec(plain.write), "plain_read_per_sec": plain.per_sec(plain.read),
                "encrypted_write_per_sec": enc.per_sec(enc.write), "encrypted_read_per_sec": enc.per_sec(enc.read),
                "write_overhead": write_overhead, "read_overhead": read_overhead,
                "aes_gcm_seal_gb_per_sec": seal_gbps, "aes_gcm_open_gb_per_sec": open_gbps,
            })
        );
    } else {
        println!("store round trip on SQLite (WAL, synchronous=FULL), {size}-byte records, {} per side", plain.n);
        println!("{:<28}{:>14}{:>14}", "", "write/s", "read/s");
        println!(
            "{:<28}{:>14.0}{:>14.0}",
            "plain (no encryption)",
            plain.per_sec(plain.write),
            plain.per_sec(plain.read)
        );
        println!("{:<28}{:>14.0}{:>14.0}", "encrypted (envelope)", enc.per_sec(enc.write), enc.per_sec(enc.read));
        println!("{:<28}{:>13.1}%{:>13.1}%", "encryption overhead", write_overhead * 100.0, read_overhead * 100.0);
        println!("AES-256-GCM on one core: seal {seal_gbps:.2} GB/s, open {open_gbps:.2} GB/s (64 KiB messages)");
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut b = [0u8; 8];
    haven_crypto::random_bytes(&mut b)?;
    let dir =
        std::env::temp_dir().join(format!("haven-bench-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Load before this is not recorded: connections and TLS sessions are set
/// up and SQLite's page cache is warm by then.
const WARMUP: Duration = Duration::from_secs(1);

/// Builds the `i`-th request of a load phase.
type MakeRequest = Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// The figures of one load phase.
struct Load {
    requests: usize,
    errors: u64,
    secs: f64,
    /// Latencies in microseconds, sorted.
    latencies: Vec<u32>,
}

impl Load {
    /// The rounds of one side of an alternating comparison, as one phase.
    fn merge(rounds: Vec<Load>) -> Load {
        let mut all = Load { requests: 0, errors: 0, secs: 0.0, latencies: Vec::new() };
        for r in rounds {
            all.requests += r.requests;
            all.errors += r.errors;
            all.secs += r.secs;
            all.latencies.extend(r.latencies);
        }
        all.latencies.sort_unstable();
        all
    }

    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    /// Nearest-rank percentile in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies.len();
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n.max(1));
        self.latencies.get(rank - 1).map_or(0.0, |&us| f64::from(us) / 1000.0)
    }

    fn max_ms(&self) -> f64 {
        self.latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0)
    }

    fn to_json(&self) -> Value {
        json!({
            "requests": self.requests, "per_sec": self.per_sec(), "errors": self.errors,
            "p50_ms": self.percentile_ms(0.50), "p90_ms": self.percentile_ms(0.90),
            "p99_ms": self.percentile_ms(0.99), "max_ms": self.max_ms(),
        })
    }

    fn row(&self, label: &str) -> String {
        format!(
            "{label:<30}{:>10}{:>10.0}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>8}",
            self.requests,
            self.per_sec(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.90),
            self.percentile_ms(0.99),
            self.max_ms(),
            self.errors
        )
    }
}

/// Runs `concurrency` tasks that send requests back to back (round-robin
/// over `make`'s index) for the warm-up and then `duration`; records the
/// latency of every request started after the warm-up, body included.
async fn load(client: &reqwest::Client, concurrency: usize, duration: Duration, make: MakeRequest) -> Result<Load> {
    let next = Arc::new(AtomicUsize::new(0));
    let measure_from = Instant::now() + WARMUP;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            // Sized for a fast loopback server so pushes rarely reallocate mid-run.
            let mut latencies = Vec::with_capacity(duration.as_secs() as usize * 2048);
            let mut errors = 0u64;
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let ok = match make(&client, i).send().await {
                    // Read the whole body, errors too: that is part of the
                    // latency, and the connection cannot be reused before it.
                    Ok(r) => {
                        let status = r.status();
                        r.bytes().await.is_ok() && status == reqwest::StatusCode::OK
                    }
                    Err(_) => false,
                };
                if start >= measure_from {
                    latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
                    errors += u64::from(!ok);
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.context("a load task failed")?;
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    Ok(Load { requests: all.len(), errors, secs: duration.as_secs_f64(), latencies: all })
}

/// Removes the benchmark's data directory however the run ends.
pub(crate) struct RemoveOnDrop(pub(crate) PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Nearest-rank percentile of sorted samples; NaN when there are none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

/// The baseline for the cost of the security layers: `GET /fhir/{type}/{id}`
/// doing the same store read, decryption and serialisation as the server's
/// read, with no authentication, no authorization and no middleware, so the
/// difference between the two is what those layers cost.
///
/// Benchmark-only: this router exists only inside `haven bench`, listens on
/// loopback for the length of the run, and never ships as a route of the
/// server (it would hand any record to anyone).
fn baseline_router(store: Store) -> Router {
    Router::new().route("/fhir/{rtype}/{id}", get(baseline_read)).with_state(store)
}

async fn baseline_read(State(store): State<Store>, UrlPath((rtype, id)): UrlPath<(String, String)>) -> Response {
    let (Ok(rtype), Ok(id)) = (ResourceType::parse(&rtype), ResourceId::parse(&id)) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let record = match store.read(&rtype, &id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // Serialised as the server's read does it, so both sides pay for the same body.
    match haven_server::fhir::with_meta(&record).ok().and_then(|v| serde_json::to_vec(&v).ok()) {
        Some(body) => ([(header::CONTENT_TYPE, "application/fhir+json")], body).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The identity and policy layers alone: `GET /fhir/{type}/{id}` that
/// authenticates the bearer token (through the session cache) and takes the
/// Cedar decision (with its fact cache) exactly as the server's read does,
/// then reads, redacts and serialises, with none of the rest (middleware,
/// metrics, audit record). Between the baseline and the server, it shows what
/// authentication and authorization cost apart from the audit log.
///
/// Benchmark-only, like the baseline router.
fn policy_router(store: Store) -> Result<Router> {
    let authz = Arc::new(Authz::new(None, &haven_server::config::SecurityConfig::default())?);
    let state = PolicyState { store, authz, sessions: Arc::new(SessionCache::default()) };
    Ok(Router::new().route("/fhir/{rtype}/{id}", get(policy_read)).with_state(state))
}

#[derive(Clone)]
struct PolicyState {
    store: Store,
    authz: Arc<Authz>,
    sessions: Arc<SessionCache>,
}

async fn policy_read(
    State(s): State<PolicyState>,
    headers: axum::http::HeaderMap,
    UrlPath((rtype, id)): UrlPath<(String, String)>,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Ok(principal) = authenticate_cached(&s.store, &s.sessions, token).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let (Ok(rtype), Ok(id)) = (ResourceType::parse(&rtype), ResourceId::parse(&id)) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let record = match s.store.read(&rtype, &id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return StatusCode::NOT_FOUND.into_response(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let patient = haven_server::authz::record_patient(&record);
    let flag = DecisionFlag::default();
    let decision = s.authz.require(&s.store, &flag, &principal, Action::Read, rtype.as_str(), patient.as_deref()).await;
    let Ok(decision) = decision else { return StatusCode::NOT_FOUND.into_response() };
    let Ok(mut v) = haven_server::fhir::with_meta(&record) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    haven_server::authz::redact(&mut v, &decision);
    match serde_json::to_vec(&v) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/fhir+json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Rounds of the secure vs. baseline read comparison. The sides alternate
/// (secure, baseline, secure, ...) so a drift in the machine's load during
/// the run falls on both sides instead of on whichever ran second.
const SECURITY_ROUNDS: usize = 6;

/// Iterations of the in-process authentication + authorization timing.
const AUTH_AUTHZ_ITERATIONS: usize = 20_000;

/// Iterations of the Cedar-only timing.
const CEDAR_ITERATIONS: usize = 50_000;

/// Times, one request at a time, what the server does for every FHIR read
/// before touching the record: verify the bearer token (through the session
/// cache, as the server does) and take the Cedar decision with its fact
/// lookups for the patient's compartment. Returns (p50, p99) in microseconds.
async fn auth_authz_us(store: &Store, token: &str, patient: &str) -> Result<(f64, f64)> {
    let cache = SessionCache::default();
    let authz = Authz::new(None, &haven_server::config::SecurityConfig::default())?;
    let mut micros = Vec::with_capacity(AUTH_AUTHZ_ITERATIONS);
    for _ in 0..AUTH_AUTHZ_ITERATIONS {
        let start = Instant::now();
        let principal = authenticate_cached(store, &cache, token).await?;
        let decision =
            authz.decide(store, &DecisionFlag::default(), &principal, Action::Read, "Encounter", Some(patient)).await?;
        micros.push(start.elapsed().as_secs_f64() * 1e6);
        // A deny takes a different path through the policies: the figure
        // must be the one of the allowed reads the load phases made.
        if !decision.allow {
            bail!("the bench client was denied reading Encounters of Patient/{patient}");
        }
    }
    micros.sort_by(f64::total_cmp);
    Ok((percentile(&micros, 0.50), percentile(&micros, 0.99)))
}

/// GETs a JSON document with the bearer token.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Result<Value> {
    let r = client.get(url).bearer_auth(token).send().await.with_context(|| format!("GET {url}"))?;
    let status = r.status();
    if status != reqwest::StatusCode::OK {
        bail!("GET {url}: HTTP {status}");
    }
    r.json().await.with_context(|| format!("GET {url}: invalid JSON"))
}

/// The resources of a search Bundle.
fn bundle_resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"].as_array().into_iter().flatten().map(|e| &e["resource"])
}

/// `haven bench fhir`: import, then the three load phases, the secure vs.
/// baseline read rounds and the in-process timings, then the figures.
async fn fhir(data: &Path, duration: Duration, concurrency: usize, json_out: bool) -> Result<()> {
    if !data.exists() {
        bail!(
            "no FHIR data at {}: pass --data PATH (a FHIR bulk export as `Type.000.ndjson` files, or Bundles). \
             The default is the Synthea 10-patient bulk export of smart-on-fhir/sample-bulk-fhir-datasets \
             (branch 10-patients), kept in the shared data folder as {DEFAULT_FHIR_DATA} relative to the \
             working directory",
            data.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("haven-bench-{}", std::process::id()));
    // A directory left by an earlier, killed run that had the same pid.
    let _ = std::fs::remove_dir_all(&dir);
    // Declared before the server so it is dropped (and the directory removed) last.
    let _cleanup = RemoveOnDrop(dir.clone());
    crate::init::init(&dir, "admin").await.context("initialising the benchmark data directory")?;
    let config = Config::load(&dir).context("loading the benchmark configuration")?;

    // 1. Import into the encrypted store, before the server holds it.
    let store = haven_server::state::open_store(&dir, &config).await?;
    let started = Instant::now();
    let report = haven_server::import::import_paths(&store, &[data.to_path_buf()], &|_| {})
        .await
        .with_context(|| format!("importing {}", data.display()))?;
    let import_secs = started.elapsed().as_secs_f64();
    // The load runs as an EMR integration: a service client with system
    // scopes, through full authentication and Cedar authorization.
    haven_server::accounts::create_client(&store, "bench-emr", "system/*.cruds").await?;
    let (_, issued) =
        haven_server::accounts::operator_token(&store, "bench-emr", 3600, Some("system/*.cruds".into())).await?;
    let token: Arc<str> = issued.token.expose().as_str().into();
    drop(store);
    let imported = report.total();

    // The baseline server's own handle on the same database (SQLite takes
    // a second connection pool) and the same certificate as the server, so
    // the two sides differ only in the security layers. Both are taken
    // before `config` moves into the server; the server finds the same
    // certificate files when it starts.
    let baseline_store = haven_server::state::open_store(&dir, &config).await?;
    let (cert, key) = haven_server::tls::ensure_certificate(&dir, &config.tls)?;
    let baseline_tls = RustlsConfig::from_config(haven_server::tls::server_config(&cert, &key)?);

    // 2. The server, in this process.
    let server = serve_loopback(&dir, config).await?;
    let base = server.url();
    let client = loopback_client(&dir, concurrency)?.http1_only().build()?;

    let listener =
        std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).context("binding the baseline server")?;
    // axum-server drives the listener from tokio, which needs it non-blocking.
    listener.set_nonblocking(true)?;
    let baseline_base = format!("https://{}", listener.local_addr()?);
    let baseline_handle = Handle::new();
    let baseline_task = tokio::spawn(
        axum_server::from_tcp_rustls(listener, baseline_tls.clone())
            .handle(baseline_handle.clone())
            .serve(baseline_router(baseline_store.clone()).into_make_service()),
    );
    let listener =
        std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).context("binding the policy server")?;
    listener.set_nonblocking(true)?;
    let policy_base = format!("https://{}", listener.local_addr()?);
    let policy_task = tokio::spawn(
        axum_server::from_tcp_rustls(listener, baseline_tls)
            .handle(baseline_handle.clone())
            .serve(policy_router(baseline_store.clone())?.into_make_service()),
    );

    let patients = get_json(&client, &format!("{base}/fhir/Patient?_count=100"), &token).await?;
    let identifiers: Vec<(String, String)> = bundle_resources(&patients)
        .filter_map(|p| {
            let id = p["id"].as_str()?;
            let first = &p["identifier"][0];
            let value = first["value"].as_str()?;
            let token = match first["system"].as_str() {
                Some(system) => format!("{system}|{value}"),
                None => value.to_owned(),
            };
            Some((id.to_owned(), token))
        })
        .collect();
    let encounters = get_json(&client, &format!("{base}/fhir/Encounter?_count=1000"), &token).await?;
    let encounter_ids: Vec<&str> = bundle_resources(&encounters).filter_map(|e| e["id"].as_str()).collect();
    let encounter_urls: Vec<String> = encounter_ids.iter().map(|id| format!("{base}/fhir/Encounter/{id}")).collect();
    let baseline_urls: Vec<String> =
        encounter_ids.iter().map(|id| format!("{baseline_base}/fhir/Encounter/{id}")).collect();
    let policy_urls: Vec<String> =
        encounter_ids.iter().map(|id| format!("{policy_base}/fhir/Encounter/{id}")).collect();
    // The load phases index these round-robin, so neither may be empty.
    let Some((patient, identifier)) = identifiers.first() else {
        bail!("{} has no Patient with an identifier to search for", data.display());
    };
    if encounter_urls.is_empty() {
        bail!("{} has no Encounter to read", data.display());
    }
    // The compartment the in-process authorization timing decides about.
    let Some(encounter_patient) = bundle_resources(&encounters)
        .find_map(|e| e["subject"]["reference"].as_str()?.strip_prefix("Patient/").map(str::to_owned))
    else {
        bail!("{} has no Encounter whose subject is a Patient", data.display());
    };
    // An identifier search that matches nothing still answers 200: check it
    // finds its patient, or the search figures would measure empty results.
    let found = client
        .get(format!("{base}/fhir/Patient"))
        .query(&[("identifier", identifier)])
        .bearer_auth(&*token)
        .send()
        .await?
        .json::<Value>()
        .await?;
    if !bundle_resources(&found).any(|p| p["id"].as_str() == Some(patient)) {
        bail!("searching Patient?identifier={identifier} did not find Patient/{patient}");
    }
    // The baseline must return the resource the server returns, or the
    // comparison would measure a cheaper error path.
    let secure_one = &encounter_urls[0];
    for other in [&baseline_urls[0], &policy_urls[0]] {
        if get_json(&client, other, &token).await?["id"] != get_json(&client, secure_one, &token).await?["id"] {
            bail!("{other} differs from the server's {secure_one}");
        }
    }

    // Shared by the read phase and the secure side of the comparison.
    let encounter_urls = Arc::new(encounter_urls);

    // 3-5. Load phases, one after another on the same client.
    let read = {
        let (urls, token) = (encounter_urls.clone(), token.clone());
        let make: MakeRequest = Arc::new(move |c, i| c.get(&urls[i % urls.len()]).bearer_auth(&*token));
        load(&client, concurrency, duration, make).await?
    };
    let search = {
        let (url, token) = (format!("{base}/fhir/Patient"), token.clone());
        let identifiers = Arc::new(identifiers);
        let make: MakeRequest = Arc::new(move |c, i| {
            let (_, identifier) = &identifiers[i % identifiers.len()];
            c.get(&url).query(&[("identifier", identifier)]).bearer_auth(&*token)
        });
        load(&client, concurrency, duration, make).await?
    };
    let healthz = {
        let url = format!("{base}/healthz");
        let make: MakeRequest = Arc::new(move |c, _| c.get(&url));
        load(&client, concurrency, duration, make).await?
    };

    // 6. The same reads against the server and the baseline, alternating.
    // Both sides send the token, so the requests are the same on the wire
    // and only the server's handling differs.
    let (secure_read, policy_read, baseline_read) = {
        let make = |urls: Vec<String>| -> MakeRequest {
            let (urls, token) = (Arc::new(urls), token.clone());
            Arc::new(move |c, i| c.get(&urls[i % urls.len()]).bearer_auth(&*token))
        };
        let sides = [make(encounter_urls.to_vec()), make(policy_urls), make(baseline_urls)];
        let round = duration / 2;
        let mut results: [Vec<Load>; 3] = Default::default();
        for i in 0..SECURITY_ROUNDS {
            let side = i % 3;
            results[side].push(load(&client, concurrency, round, sides[side].clone()).await?);
        }
        let [s, p, b] = results;
        (Load::merge(s), Load::merge(p), Load::merge(b))
    };

    // Idle keep-alive connections would hold graceful shutdown open.
    drop(client);
    server.shutdown();
    baseline_handle.graceful_shutdown(Some(Duration::from_secs(5)));
    server.wait().await;
    for task in [baseline_task, policy_task] {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "a comparison server failed"),
            Err(e) => tracing::warn!(error = %e, "a comparison server task failed"),
        }
    }

    // 7. In-process timings, with no load running so they time the work
    // itself rather than waiting for a core.
    let (auth_p50, auth_p99) = auth_authz_us(&baseline_store, &token, &encounter_patient).await?;
    // Synchronous and CPU-bound: off the async worker threads.
    let (cedar_p50, cedar_p99) = tokio::task::spawn_blocking(|| haven_policy::measure(CEDAR_ITERATIONS))
        .await
        .context("the Cedar timing failed")?;
    drop(baseline_store);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let import_per_sec = imported as f64 / import_secs.max(1e-9);
    let read_ratio = read.per_sec() / healthz.per_sec().max(1e-9);
    let search_ratio = search.per_sec() / healthz.per_sec().max(1e-9);
    let secure_vs_baseline = secure_read.per_sec() / baseline_read.per_sec().max(1e-9);
    let security_cost_pct = (1.0 - secure_vs_baseline) * 100.0;
    let policy_vs_baseline = policy_read.per_sec() / baseline_read.per_sec().max(1e-9);
    let policy_cost_pct = (1.0 - policy_vs_baseline) * 100.0;
    if json_out {
        println!(
            "{}",
            json!({
                "data": data.display().to_string(), "concurrency": concurrency,
                "duration_secs": duration.as_secs(), "warmup_secs": WARMUP.as_secs(), "cores": cores,
                "import": {
                    "resources": imported, "seconds": import_secs, "per_sec": import_per_sec,
                    "files": report.files_imported, "skipped": report.skipped.len(),
                },
                "read": read.to_json(), "search": search.to_json(), "healthz": healthz.to_json(),
                "read_vs_healthz": read_ratio, "search_vs_healthz": search_ratio,
                "secure_read": secure_read.to_json(), "baseline_read": baseline_read.to_json(),
                "policy_read": policy_read.to_json(),
                "secure_vs_baseline": secure_vs_baseline, "security_cost_pct": security_cost_pct,
                "identity_policy_vs_baseline": policy_vs_baseline, "identity_policy_cost_pct": policy_cost_pct,
                "security_rounds": SECURITY_ROUNDS,
                "auth_authz_us": {"p50": auth_p50, "p99": auth_p99, "iterations": AUTH_AUTHZ_ITERATIONS},
                "cedar_us": {"p50": cedar_p50, "p99": cedar_p99, "iterations": CEDAR_ITERATIONS},
            })
        );
    } else {
        println!("FHIR API on SQLite with encryption, over HTTPS (HTTP/1.1 keep-alive), data: {}", data.display());
        println!(
            "import: {imported} resources in {import_secs:.2} s ({import_per_sec:.0}/s) from {} files, {} skipped",
            report.files_imported,
            report.skipped.len()
        );
        println!(
            "load: {concurrency} concurrent clients, {} s per phase after a {} s warm-up",
            duration.as_secs(),
            WARMUP.as_secs()
        );
        println!(
            "{:<30}{:>10}{:>10}{:>9}{:>9}{:>9}{:>9}{:>8}",
            "", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        println!("{}", read.row("GET Encounter/{id}"));
        println!("{}", search.row("GET Patient?identifier="));
        println!("{}", healthz.row("GET /healthz (baseline)"));
        println!("read vs. healthz: {read_ratio:.2}x   search vs. healthz: {search_ratio:.2}x");
        println!();
        println!(
            "security layers: {SECURITY_ROUNDS} alternating rounds (server, identity + policy, baseline, ...), {:.1} s each after a {} s warm-up",
            (duration / 2).as_secs_f64(),
            WARMUP.as_secs()
        );
        println!(
            "{:<30}{:>10}{:>10}{:>9}{:>9}{:>9}{:>9}{:>8}",
            "", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        println!("{}", secure_read.row("server GET Encounter/{id}"));
        println!("{}", policy_read.row("identity + policy only"));
        println!("{}", baseline_read.row("baseline (no auth, no authz)"));
        println!(
            "authentication + Cedar authorization cost {policy_cost_pct:.1}% of read throughput ({policy_vs_baseline:.2}x; target <= 20%)"
        );
        println!(
            "all layers with the durable audit record and middleware cost {security_cost_pct:.1}% ({secure_vs_baseline:.2}x)"
        );
        println!(
            "authentication + authorization, in process, warm session and decision caches (a cold decision is the Cedar line): p50 {auth_p50:.1} µs, p99 {auth_p99:.1} µs ({AUTH_AUTHZ_ITERATIONS} requests)"
        );
        println!(
            "Cedar decision alone: p50 {cedar_p50:.1} µs, p99 {cedar_p99:.1} µs (target p99 <= 100 µs, {CEDAR_ITERATIONS} decisions)"
        );
        println!("Client and server run in one process and share this machine's {cores} cores.");
    }
    Ok(())
}

/// Starts the server in this process on a random loopback port. Metrics are
/// off: a benchmark must not take (or collide on) the default metrics port.
pub(crate) async fn serve_loopback(dir: &Path, mut config: Config) -> Result<serve::RunningServer> {
    config.server.metrics_listen = None;
    let opts = ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        metrics_listen: None,
        insecure_http: false,
    };
    serve::start(dir, config, opts).await.context("starting the server")
}

/// An HTTPS client for [`serve_loopback`]'s server: it trusts the data
/// directory's certificate and keeps `concurrency` connections.
pub(crate) fn loopback_client(dir: &Path, concurrency: usize) -> Result<reqwest::ClientBuilder> {
    let pem = std::fs::read(dir.join("tls/cert.pem")).context("reading the server's certificate")?;
    Ok(reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .pool_max_idle_per_host(concurrency)
        // The server is on loopback: a proxy from the environment must not intercept it.
        .no_proxy()
        .timeout(Duration::from_secs(30)))
}
