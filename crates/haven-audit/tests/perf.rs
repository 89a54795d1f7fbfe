//! Throughput and latency checks; ignored by default. Run with
//! `cargo test -p haven-audit --release --test perf -- --ignored --nocapture --test-threads 1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{event, keys, signer};
use haven_audit::{
    AuditLog, AuditStore, CheckpointPolicy, GENESIS, RECORD_VERSION, Record, SqliteAuditStore, export_jsonl,
    hash_record, verify_jsonl, verify_store,
};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

async fn append_run(tasks: u64, per_task: u64) {
    let dir = tempfile::tempdir_in(std::env::var("AUDIT_BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open(&dir.path().join("audit.db")).await.unwrap());
    let log = AuditLog::start(store.clone(), signer(), CheckpointPolicy::default(), None);
    let t0 = Instant::now();
    let mut hs = Vec::new();
    for t in 0..tasks {
        let log = log.clone();
        hs.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task as usize);
            for i in 0..per_task {
                let s = Instant::now();
                log.record(event(t * per_task + i)).await.unwrap();
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for h in hs {
        lat.extend(h.await.unwrap());
    }
    let el = t0.elapsed();
    log.close().await;
    let n = tasks * per_task;
    println!(
        "append: {tasks} tasks x {per_task} = {n} records in {:.2}s: {:.0} records/s; latency p50 {:?} p99 {:?}",
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64(),
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    let t0 = Instant::now();
    let rep = verify_store(store.as_ref(), keys(), None, None).await.unwrap();
    assert!(rep.ok());
    println!("verify_store: {} records in {:.2}s", rep.records, t0.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn append_throughput() {
    append_run(64, 2_000).await;
    append_run(1024, 200).await;
    append_run(4096, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn latency_at_moderate_load() {
    // About 2,000 records/s from 20 callers.
    let dir = tempfile::tempdir_in(std::env::var("AUDIT_BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open(&dir.path().join("audit.db")).await.unwrap());
    let log = AuditLog::start(store, signer(), CheckpointPolicy::default(), None);
    let mut hs = Vec::new();
    for t in 0..20u64 {
        let log = log.clone();
        hs.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            // Staggered callers, as independent requests would be.
            let start = tokio::time::Instant::now() + Duration::from_micros(t * 500);
            let mut tick = tokio::time::interval_at(start, Duration::from_millis(10));
            for i in 0..300 {
                tick.tick().await;
                let e = event(t * 1000 + i);
                let s = Instant::now();
                log.record(e).await.unwrap();
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for h in hs {
        lat.extend(h.await.unwrap());
    }
    log.close().await;
    println!(
        "moderate load: {} records, latency p50 {:?} p99 {:?} max {:?}",
        lat.len(),
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99),
        pct(&mut lat, 1.0)
    );
}

#[test]
#[ignore]
fn verify_a_million_records_from_a_file() {
    let n = 1_000_000u64;
    let s = signer();
    let mut file = Vec::with_capacity(n as usize * 400);
    let mut prev = GENESIS;
    for seq in 1..=n {
        let mut e = event(seq);
        e.normalise();
        let b = Record { v: RECORD_VERSION, seq, prev: hex::encode(prev), event: e }.encode();
        prev = hash_record(&b);
        file.extend_from_slice(&b);
        file.push(b'\n');
        if seq % 1000 == 0 {
            let cp = s.sign(seq, &prev, 0);
            file.extend_from_slice(format!("{{\"checkpoint\":{}}}\n", serde_json::to_string(&cp).unwrap()).as_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, &file).unwrap();
    let t0 = Instant::now();
    let rep = verify_jsonl(std::io::BufReader::new(std::fs::File::open(&path).unwrap()), keys(), None).unwrap();
    let el = t0.elapsed();
    assert!(rep.ok(), "{:?}", rep.problem);
    assert_eq!((rep.records, rep.checkpoints), (n, 1000));
    println!(
        "verify_jsonl: {n} records ({} MB) in {:.2}s: {:.0} records/s",
        file.len() / 1_000_000,
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn store_verify_and_export_rate() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteAuditStore::open(&dir.path().join("audit.db")).await.unwrap();
    let n = 300_000u64;
    let t0 = Instant::now();
    let mut i = 1;
    while i <= n {
        store.append((i..i + 2000).map(event).collect(), &signer(), &CheckpointPolicy::default(), false).await.unwrap();
        i += 2000;
    }
    println!("bulk append: {n} records in batches of 2000: {:.0} records/s", n as f64 / t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    let rep = verify_store(&store, keys(), None, None).await.unwrap();
    assert!(rep.ok());
    println!("verify_store: {:.0} records/s", n as f64 / t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    let mut out = Vec::new();
    export_jsonl(&store, 1, &mut out).await.unwrap();
    println!("export_jsonl: {:.0} records/s", n as f64 / t0.elapsed().as_secs_f64());
    store.close().await;
}
