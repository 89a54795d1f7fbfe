//! Threat detection from the command line: `haven simulate` (a labelled
//! hospital log and the evaluation of detection on it), offline
//! `haven alerts` / `haven incidents` over an exported audit log, and
//! `haven bench detect`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use haven_audit::{AuditLog, AuditStore, CheckpointPolicy, Record, Signer, SqliteAuditStore};
use haven_detect::sim::{ATTACK_TYPES, Evaluation, SimConfig, evaluate, simulate};
use haven_detect::{Alert, AlertStatus, Detector, Explainer, IncidentBook, NoExplainer, RelationshipIndex, RuleSet};

/// `haven simulate`.
#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Days of hospital activity.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Staff members.
    #[arg(long, default_value_t = 300)]
    staff: u32,
    /// Patients.
    #[arg(long, default_value_t = 5000)]
    patients: u32,
    /// Seed of every random choice (the same seed gives the same log).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Attacks of each type per day after the warm-up (at least 3 of each).
    #[arg(long, default_value_t = 0.5)]
    attack_rate: f64,
    /// Days of history before attacks start (not measured).
    #[arg(long, default_value_t = 4)]
    warmup_days: u32,
    /// A directory of rule files to use instead of the shipped rules.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Write the log through the audit store into this (new) directory:
    /// `audit.db`, its JSON Lines export and the attack labels.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// `haven alerts` and `haven incidents`: detection over an exported audit log.
#[derive(clap::Args)]
pub struct OfflineArgs {
    /// An audit export (`haven audit export`, JSON Lines).
    #[arg(long, value_name = "EXPORT.jsonl")]
    from: PathBuf,
    /// A directory of rule files to use instead of the shipped rules.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// FHIR resources (NDJSON files or a directory of them) to find explanations in:
    /// Patient, Practitioner, PractitionerRole, Appointment, Encounter, CareTeam...
    #[arg(long, value_name = "PATH")]
    fhir: Option<PathBuf>,
    /// Include alerts explained away (auto-resolved as benign).
    #[arg(long)]
    all: bool,
    /// Print OCSF objects as JSON Lines (for a SIEM) instead of a table.
    #[arg(long)]
    ocsf: bool,
}

/// `haven bench detect`.
#[derive(clap::Args)]
pub struct BenchDetectArgs {
    /// Days of simulated log to run through the detector.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Seconds of live load for the lag measurement.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn load_rules(dir: Option<&Path>) -> Result<RuleSet> {
    Ok(match dir {
        Some(d) => RuleSet::load_dir(d)?,
        None => RuleSet::defaults()?,
    })
}

/// Runs `haven simulate`.
pub async fn simulate_cmd(args: SimulateArgs) -> Result<()> {
    if args.days < 3 {
        bail!("--days must be at least 3 (a warm-up, attacks, and a day for absences to show)");
    }
    if !(args.attack_rate.is_finite() && args.attack_rate >= 0.0) {
        bail!("--attack-rate must be a number of attacks per type per day, 0 or more");
    }
    let rules = load_rules(args.rules.as_deref())?;
    let config = SimConfig {
        days: args.days,
        staff: args.staff,
        patients: args.patients,
        seed: args.seed,
        attack_rate: args.attack_rate,
        warmup_days: args.warmup_days.min(args.days - 2),
    };
    let started = Instant::now();
    let sim = tokio::task::spawn_blocking(move || simulate(&config)).await?;
    let generated = started.elapsed();
    if let Some(dir) = &args.data_dir {
        write_data_dir(dir, &sim).await?;
        if !args.json {
            println!(
                "Wrote {} audit records through the audit store to {} (audit.db, audit-export.jsonl, attacks.jsonl).",
                sim.log.len(),
                dir.display()
            );
        }
    }
    let eval = tokio::task::spawn_blocking(move || evaluate(&sim, rules)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&eval)?);
    } else {
        print_evaluation(&eval, generated);
    }
    Ok(())
}

fn print_evaluation(e: &Evaluation, generated: Duration) {
    let c = &e.config;
    println!(
        "Simulated {} days, {} staff, {} patients (seed {}, {} warm-up days) in {:.1} s: {} audit records, {} measured.",
        c.days,
        c.staff,
        c.patients,
        c.seed,
        c.warmup_days,
        generated.as_secs_f64(),
        e.records,
        e.measured_records
    );
    println!();
    println!("{:<26} {:>8} {:>8}", "attack type", "injected", "recall");
    for kind in ATTACK_TYPES {
        let n = e.attacks_by_type.get(*kind).copied().unwrap_or(0);
        let r = e.recall_by_type.get(*kind).copied().unwrap_or(0.0);
        println!("{kind:<26} {n:>8} {r:>8.3}");
    }
    println!();
    let target = |ok: bool| if ok { "ok" } else { "MISSED" };
    let min_recall = e.recall_by_type.values().copied().fold(1.0, f64::min);
    println!("{:<40} {:>12}  target", "measure", "value");
    println!("{:<40} {:>12.3}  >= 0.95 every type: {}", "recall (all attacks)", e.recall, target(min_recall >= 0.95));
    println!("{:<40} {:>12}", "alerts raised (open)", e.alerts);
    println!("{:<40} {:>12.3}", "precision of raised alerts", e.precision);
    println!("{:<40} {:>12.2}", "alerts per 1,000 records", e.alerts_per_1k_accesses);
    println!("{:<40} {:>12}", "benign patient accesses", e.benign_accesses);
    println!(
        "{:<40} {:>12.2}  <= 1: {}",
        "false alerts per 10,000 benign",
        e.false_alerts_per_10k_benign,
        target(e.false_alerts_per_10k_benign <= 1.0)
    );
    println!(
        "{:<40} {:>12.3}  >= 0.90: {}",
        "benign accesses explained",
        e.explained_benign_rate,
        target(e.explained_benign_rate >= 0.90)
    );
    println!("{:<40} {:>12}", "alerts auto-resolved by explanation", e.explained_alerts);
    println!("{:<40} {:>12}", "incidents", e.incidents);
    println!("{:<40} {:>12.2}", "incidents per detected attack", e.incidents_per_true_attack);
    for ex in &e.false_alert_examples {
        println!("false alert: {ex}");
    }
}

/// Writes the simulated log through the audit store, its export and the labels.
async fn write_data_dir(dir: &Path, sim: &haven_detect::sim::Simulation) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("audit.db");
    if db.exists() {
        bail!("{} already exists: simulate into a new directory", db.display());
    }
    let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open(&db).await?);
    let mut seed = [0u8; 32];
    haven_crypto::random_bytes(&mut seed)?;
    let signer = Signer::from_seed(&seed)?;
    std::fs::write(dir.join("audit-public-key.txt"), format!("{}\n", signer.public_key()))?;
    let log = AuditLog::start(store.clone(), signer, CheckpointPolicy::default(), None);
    for chunk in sim.log.chunks(2000) {
        log.record_all(chunk.to_vec()).await?;
    }
    log.close().await;
    let mut out = std::fs::File::create(dir.join("audit-export.jsonl"))?;
    haven_audit::export_jsonl(store.as_ref(), 0, &mut out).await?;
    let mut labels = std::io::BufWriter::new(std::fs::File::create(dir.join("attacks.jsonl"))?);
    for a in &sim.attacks {
        serde_json::to_writer(&mut labels, a)?;
        labels.write_all(b"\n")?;
    }
    labels.flush()?;
    Ok(())
}

/// Reads the records of an audit export, skipping checkpoint and anchor lines.
fn read_export(path: &Path) -> Result<Vec<Record>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with(r#"{"checkpoint":"#) || line.starts_with(r#"{"anchor":"#) {
            continue;
        }
        let r: Record =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not an audit record", path.display(), i + 1))?;
        out.push(r);
    }
    Ok(out)
}

/// Builds a relationship index from FHIR NDJSON (a file or a directory of `*.ndjson`).
fn read_fhir(path: &Path) -> Result<RelationshipIndex> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ndjson" || x == "json"))
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut idx = RelationshipIndex::new();
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // Lines that are not JSON are skipped: the index takes what it can use.
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                idx.add_fhir(&v);
            }
        }
    }
    Ok(idx)
}

fn offline_alerts(args: &OfflineArgs) -> Result<Vec<Alert>> {
    let rules = load_rules(args.rules.as_deref())?;
    let explainer: Arc<dyn Explainer> = match &args.fhir {
        Some(p) => Arc::new(read_fhir(p)?),
        None => Arc::new(NoExplainer),
    };
    let records = read_export(&args.from)?;
    let mut detector = Detector::new(rules, explainer);
    let mut alerts = Vec::new();
    let mut last = 0;
    for r in &records {
        last = last.max(r.event.time);
        alerts.extend(detector.observe_record(r));
    }
    alerts.extend(detector.flush(last));
    Ok(alerts)
}

fn time_text(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(micros / 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Runs `haven alerts`.
pub fn alerts_cmd(args: OfflineArgs) -> Result<()> {
    let alerts = offline_alerts(&args)?;
    let shown: Vec<&Alert> = alerts.iter().filter(|a| args.all || a.status == AlertStatus::Open).collect();
    let mut out = std::io::stdout().lock();
    if args.ocsf {
        haven_detect::export::write_jsonl(&mut out, shown, [])?;
        return Ok(());
    }
    writeln!(out, "{:<6} {:<21} {:<9} {:<34} summary", "alert", "time", "level", "rule")?;
    for a in &shown {
        let status = if a.status == AlertStatus::Explained { " [explained]" } else { "" };
        writeln!(
            out,
            "{:<6} {:<21} {:<9} {:<34} {}{status}",
            a.id,
            time_text(a.time),
            a.level.as_str(),
            a.rule,
            a.summary
        )?;
    }
    let open = alerts.iter().filter(|a| a.status == AlertStatus::Open).count();
    writeln!(out, "{open} open alerts, {} explained away.", alerts.len() - open)?;
    Ok(())
}

/// Runs `haven incidents`.
pub fn incidents_cmd(args: OfflineArgs) -> Result<()> {
    let alerts = offline_alerts(&args)?;
    let mut book = IncidentBook::default();
    for a in alerts {
        book.add(a);
    }
    let mut out = std::io::stdout().lock();
    if args.ocsf {
        haven_detect::export::write_jsonl(&mut out, [], book.incidents())?;
        return Ok(());
    }
    for i in book.incidents() {
        writeln!(
            out,
            "incident {} [{}] {:?} {} .. {}\n  {}\n  evidence: audit records {:?}",
            i.id,
            i.severity.as_str(),
            i.state,
            time_text(i.opened),
            time_text(i.updated),
            i.summary,
            i.evidence().iter().take(20).collect::<Vec<_>>()
        )?;
    }
    writeln!(out, "{} incidents.", book.incidents().len())?;
    Ok(())
}

/// Runs `haven bench detect`: throughput on one core, then lag under live load.
pub async fn bench_cmd(args: BenchDetectArgs) -> Result<()> {
    let config = SimConfig { days: args.days.max(3), ..SimConfig::default() };
    let (events, index) = tokio::task::spawn_blocking(move || {
        let sim = simulate(&config);
        (sim.events(), sim.index)
    })
    .await?;
    let index: Arc<dyn Explainer> = Arc::new(index);
    let rules = RuleSet::defaults()?;
    let rule_count = rules.rules.len();
    // Throughput: one thread, the full rule set with baselines and explanations.
    let (eps, alerts) = {
        let rules = rules.clone();
        let index = index.clone();
        let events = events.clone();
        tokio::task::spawn_blocking(move || {
            let mut best = 0.0f64;
            let mut alerts = 0;
            for _ in 0..3 {
                let mut d = Detector::new(rules.clone(), index.clone());
                let t = Instant::now();
                let mut n = 0;
                for e in &events {
                    n += d.observe(e).len();
                }
                best = best.max(events.len() as f64 / t.elapsed().as_secs_f64());
                alerts = n;
            }
            (best, alerts)
        })
        .await?
    };
    let lag = live_lag(&events, rules, index, Duration::from_secs(args.duration.max(1))).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "events": events.len(), "rules": rule_count, "alerts": alerts,
                "events_per_second_one_core": eps,
                "live": lag,
            })
        );
    } else {
        println!("{:<52} {:>14}", "measure", "value");
        println!("{:<52} {:>14}", "events (simulated log)", events.len());
        println!("{:<52} {:>14}", "rules (with baselines and explanations)", rule_count);
        println!("{:<52} {:>14.0}", "events/s through the detector, one core", eps);
        println!(
            "{:<52} {:>14.0}",
            "live: audit records appended/s",
            lag["appended_per_second"].as_f64().unwrap_or(0.0)
        );
        println!("{:<52} {:>14}", "live: alerts", lag["alerts"]);
        println!(
            "{:<52} {:>14.1}",
            "live: access to alert, median ms",
            lag["alert_lag_ms_p50"].as_f64().unwrap_or(0.0)
        );
        println!("{:<52} {:>14.1}", "live: access to alert, p99 ms", lag["alert_lag_ms_p99"].as_f64().unwrap_or(0.0));
        println!("{:<52} {:>14.1}", "live: access to alert, max ms", lag["alert_lag_ms_max"].as_f64().unwrap_or(0.0));
        println!("{:<52} {:>14}", "live: queue overflows read back from the store", lag["overflows"]);
        println!(
            "{:<52} {:>14}",
            "live: records detected / appended",
            format!("{}/{}", lag["processed"], lag["appended"])
        );
    }
    Ok(())
}

/// Appends the simulated log (re-timed to now) through a real audit log as
/// fast as it takes it, offering each record to the live consumer, and
/// measures the time from each alert's deciding access to the alert.
async fn live_lag(
    events: &[haven_detect::Event],
    rules: RuleSet,
    index: Arc<dyn Explainer>,
    duration: Duration,
) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open(&dir.path().join("audit.db")).await?);
    let signer = Signer::from_seed(&[9; 32])?;
    let log = AuditLog::start(store.clone(), signer, CheckpointPolicy::default(), None);
    let lags: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let sink_lags = lags.clone();
    let detector = Detector::new(rules, index);
    let (feed, task) =
        haven_detect::spawn_consumer(detector, store.clone(), 0, 10_000, haven_audit::now_micros, move |alerts| {
            let now = haven_audit::now_micros();
            if let Ok(mut l) = sink_lags.lock() {
                l.extend(alerts.iter().filter(|a| a.status == AlertStatus::Open).map(|a| now - a.time));
            }
        });
    let started = Instant::now();
    let mut appended = 0u64;
    'outer: loop {
        for chunk in events.chunks(500) {
            if started.elapsed() >= duration {
                break 'outer;
            }
            let now = haven_audit::now_micros();
            let batch: Vec<haven_audit::Event> = chunk
                .iter()
                .map(|e| {
                    let mut a = e.to_audit_event(e.resource_types.clone());
                    a.time = now;
                    a
                })
                .collect();
            let seqs = log.record_all(batch.clone()).await?;
            for (seq, event) in seqs.into_iter().zip(batch) {
                feed.offer(Record { v: haven_audit::RECORD_VERSION, seq, prev: String::new(), event });
            }
            appended += chunk.len() as u64;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = feed.lag();
    drop(feed);
    let detector = task.await?;
    log.close().await;
    let mut l = lags.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let pct = |q: f64| -> f64 {
        if l.is_empty() {
            return 0.0;
        }
        let i = ((l.len() - 1) as f64 * q).round() as usize;
        l[i.min(l.len() - 1)] as f64 / 1000.0
    };
    Ok(serde_json::json!({
        "appended": appended,
        "appended_per_second": appended as f64 / elapsed,
        "processed": detector.stats().events,
        "alerts": l.len(),
        "alert_lag_ms_p50": pct(0.5),
        "alert_lag_ms_p99": pct(0.99),
        "alert_lag_ms_max": pct(1.0),
        "overflows": report.overflows,
        "catch_ups": report.catch_ups,
        "max_record_lag_ms": report.max_lag_micros as f64 / 1000.0,
    }))
}
