//! `haven bench audit`: durable append rate with group commit, the latency
//! a request waits for its record, and verification speed, on a fresh
//! SQLite audit log (WAL, full sync) in a temporary directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use haven_audit::{Actor, AuditLog, AuditStore, CheckpointPolicy, Event, Outcome, Signer, SqliteAuditStore};
use serde_json::json;

/// A record shaped like a FHIR read's.
fn event(i: usize) -> Event {
    let actor = Actor {
        id: format!("account:0b6f0d3c-5a8e-4c1e-9a77-{:012x}", i % 50),
        role: Some("clinician".into()),
        fhir: Some(format!("Practitioner/pr-{}", i % 50)),
        ..Default::default()
    };
    let mut e = Event::new(actor, "fhir.read", Outcome::Success);
    e.status = Some(200);
    e.purpose = Some("TREAT".into());
    e.resources = vec![format!("Observation/obs-{i:08}")];
    e.patients = vec![format!("pat-{:06}", i % 5000)];
    e.source_ip = Some("10.1.2.3".into());
    e.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) HavenBench/1".into());
    e.request_id = Some(format!("6f1c2b7e-8d3a-4f5b-9c1d-{i:012x}"));
    e
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn open(dir: &std::path::Path, name: &str) -> Result<(Arc<dyn AuditStore>, AuditLog)> {
    let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open(&dir.join(name)).await?);
    let signer = Signer::from_seed(&[7u8; 32])?;
    let log = AuditLog::start(store.clone(), signer, CheckpointPolicy::default(), None);
    Ok((store, log))
}

/// Closed loop: `tasks` submitters as fast as the writer takes them.
async fn append_rate(log: &AuditLog, records: usize, tasks: usize) -> Result<f64> {
    let started = Instant::now();
    let per = records / tasks;
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per {
                log.record(event(t * per + i)).await?;
            }
            Ok::<_, haven_audit::AuditError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok((per * tasks) as f64 / started.elapsed().as_secs_f64())
}

/// Open loop at `rate` records/s: how long a request waits for its record.
async fn latency_at(log: &AuditLog, rate: u64, secs: u64) -> Result<Vec<f64>> {
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let n = (rate * secs) as usize;
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            log.record(event(i)).await.map(|_| t.elapsed().as_secs_f64() * 1e3)
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for h in handles {
        lat.push(h.await??);
    }
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}

/// Runs the audit benchmark.
pub async fn run(records: usize, submitters: &[usize], rates: &[u64], json_out: bool) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (store, log) = open(tmp.path(), "audit.db").await?;
    // Each phase appends to the same log, so later phases also pay for a
    // larger database.
    let mut appends = Vec::with_capacity(submitters.len());
    for &tasks in submitters {
        appends.push((tasks, append_rate(&log, records, tasks.max(1)).await?));
    }
    let appended_per_s = appends.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    // The search index is built behind the appends, a segment at a time:
    // time it over everything just appended.
    let t = Instant::now();
    store.index().await?;
    let index_rate = store.count().await? as f64 / t.elapsed().as_secs_f64();
    // Let the burst's WAL reach the database file before timing anything
    // else: a backlog being copied and synced would weigh on every later
    // phase, which measure the steady state.
    store.maintain().await?;
    let one = {
        // One submitter: every record its own commit (the cost group commit saves).
        let (_, single) = open(tmp.path(), "single.db").await?;
        let r = append_rate(&single, 2_000, 1).await?;
        single.close().await;
        r
    };
    // Request waits at steady rates, with the indexer and the WAL upkeep
    // keeping up with live traffic as they do in the server.
    let mut waits = Vec::new();
    for &rate in rates {
        // A second at the new rate first, untimed: the phase before it was a
        // different load.
        latency_at(&log, rate, 1).await?;
        let lat = latency_at(&log, rate, 5).await?;
        waits.push((rate, pct(&lat, 0.5), pct(&lat, 0.99), lat.last().copied().unwrap_or(0.0)));
    }
    log.checkpoint_now().await?;
    let keys = vec![log.public_key()];
    log.close().await;
    let total = store.count().await?;

    // The log is idle now: its WAL is copied into the database file, as the
    // server's upkeep does within a quarter of a second.
    store.maintain().await?;
    // Verification: the database, and an exported file.
    let t = Instant::now();
    let report = haven_audit::verify_store(store.as_ref(), keys.clone(), None, None).await?;
    let db_rate = report.records as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(report.ok(), "the benchmark log does not verify: {:?}", report.problem);
    let mut buf = Vec::with_capacity(total as usize * 420);
    haven_audit::export_jsonl(store.as_ref(), 1, &mut buf).await?;
    let bytes = buf.len();
    let t = Instant::now();
    let report = haven_audit::verify_jsonl(std::io::Cursor::new(buf), keys, None)?;
    let file_rate = report.records as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(report.ok(), "the exported log does not verify: {:?}", report.problem);

    if json_out {
        let waits: Vec<_> = waits
            .iter()
            .map(|(r, p50, p99, max)| json!({"rate_per_s": r, "p50": p50, "p99": p99, "max": max}))
            .collect();
        println!(
            "{}",
            json!({
                "append_records_per_s": appended_per_s,
                "append": appends.iter().map(|(s, r)| json!({"submitters": s, "records_per_s": r})).collect::<Vec<_>>(),
                "append_one_submitter_per_s": one, "group_commit_gain": appended_per_s / one.max(1e-9),
                "request_wait_ms": waits,
                "index_records_per_s": index_rate, "verify_db_records_per_s": db_rate, "verify_file_records_per_s": file_rate,
                "records": total, "export_bytes": bytes,
                "targets": {"append_records_per_s": 100_000, "request_wait_p99_ms": 1.0, "verify_records_per_s": 1_000_000},
            })
        );
        return Ok(());
    }
    println!("audit log on SQLite (WAL, synchronous=FULL), {total} records");
    for (tasks, rate) in &appends {
        println!("  durable append, {tasks:>4} submitters (group commit):{rate:>12.0} records/s  (target >= 100000)");
    }
    println!(
        "  durable append,    1 submitter (a commit each):  {one:>12.0} records/s  (best group commit: {:.0}x)",
        appended_per_s / one.max(1e-9)
    );
    println!("  search index, a segment at a time:               {index_rate:>12.0} records/s");
    for (rate, p50, p99, max) in &waits {
        println!(
            "  wait for the record at {rate:>6} requests/s:      p50 {p50:.3} ms  p99 {p99:.3} ms  max {max:.3} ms  (target p99 <= 1 ms)"
        );
    }
    println!("  verify from the database:                        {db_rate:>12.0} records/s  (target >= 1000000)");
    println!("  verify an exported file ({:.1} MB):               {file_rate:>12.0} records/s", bytes as f64 / 1e6);
    Ok(())
}
