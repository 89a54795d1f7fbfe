//! The stores on SQLite (and PostgreSQL when configured): appends, the
//! append-only triggers, search, pruning, concurrent writers, and the
//! group-commit writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Fixture, Val, event, events, fill, keys, manual, signer};
use haven_audit::{
    AppendObserver, AuditError, AuditLog, AuditQuery, AuditStore, CheckpointPolicy, Outcome, Record, export_jsonl,
    hash_record, now_micros, verify_jsonl, verify_store,
};

#[tokio::test]
async fn append_chains_and_verifies() {
    for f in Fixture::all().await {
        let s = signer();
        assert!(f.store.head().await.unwrap().is_none());
        assert_eq!(f.store.count().await.unwrap(), 0);
        // An empty log: a forced checkpoint has nothing to sign.
        let r = f.store.append(vec![], &s, &manual(), true).await.unwrap();
        assert_eq!((r.first_seq, r.last_seq, r.checkpoint), (0, 0, None));

        let r = f.store.append(events(1, 5), &s, &manual(), false).await.unwrap();
        assert_eq!((r.first_seq, r.last_seq), (1, 5));
        // The first checkpoint is due at once under the time rule (none yet).
        let cp = r.checkpoint.expect("first checkpoint");
        assert_eq!(cp.seq, 5);
        let r = f.store.append(events(6, 5), &s, &manual(), false).await.unwrap();
        assert_eq!((r.first_seq, r.last_seq, r.checkpoint.is_none()), (6, 10, true));
        // Count rule.
        let every3 = CheckpointPolicy { every_records: 3, every: Duration::from_secs(3600) };
        let r = f.store.append(events(11, 1), &s, &every3, false).await.unwrap();
        assert_eq!(r.checkpoint.map(|c| c.seq), Some(11));
        let r = f.store.append(events(12, 2), &s, &every3, false).await.unwrap();
        assert!(r.checkpoint.is_none());
        // Forced with no events: signs the head once.
        let r = f.store.append(vec![], &s, &manual(), true).await.unwrap();
        assert_eq!((r.first_seq, r.last_seq, r.checkpoint.as_ref().map(|c| c.seq)), (13, 13, Some(13)));
        let r = f.store.append(vec![], &s, &manual(), true).await.unwrap();
        assert!(r.checkpoint.is_none());

        let head = f.store.head().await.unwrap().unwrap();
        assert_eq!(head.seq, 13);
        let rec = Record::decode(&head.bytes).unwrap();
        assert_eq!(rec.seq, 13);
        assert_eq!(rec.event, {
            let mut e = event(13);
            e.normalise();
            e
        });
        assert_eq!(f.store.count().await.unwrap(), 13);
        let all = f.store.records(0, 100).await.unwrap();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=13).collect::<Vec<_>>());
        assert_eq!(f.store.records(10, 2).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), [11, 12]);
        for w in all.windows(2) {
            let next = Record::decode(&w[1].bytes).unwrap();
            assert_eq!(next.prev, hex::encode(hash_record(&w[0].bytes)));
        }
        let cps = f.store.checkpoints(0, 10).await.unwrap();
        assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), [5, 11, 13]);
        assert_eq!(f.store.checkpoints(5, 1).await.unwrap()[0].seq, 11);
        assert_eq!(f.store.checkpoint_at_or_before(12).await.unwrap().unwrap().seq, 11);
        assert!(f.store.checkpoint_at_or_before(4).await.unwrap().is_none());
        assert_eq!(f.store.latest_checkpoint().await.unwrap().unwrap().seq, 13);
        assert!(f.store.anchor().await.unwrap().is_none());

        let rep = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(rep.ok(), "{}: {:?}", f.name, rep.problem);
        assert_eq!(
            (rep.records, rep.first_seq, rep.last_seq, rep.checkpoints, rep.unsigned_tail),
            (13, Some(1), 13, 3, 0)
        );
        assert_eq!(rep.last_hash, hex::encode(hash_record(&head.bytes)));

        // The export verifies on its own.
        let mut out = Vec::new();
        let ex = export_jsonl(f.store.as_ref(), 1, &mut out).await.unwrap();
        assert_eq!((ex.records, ex.checkpoints, ex.first_seq, ex.last_seq), (13, 3, Some(1), Some(13)));
        let rep = verify_jsonl(&out[..], keys(), None).unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!(rep.records, 13);
        // A partial export starts after the newest checkpoint before `since`.
        let mut out = Vec::new();
        let ex = export_jsonl(f.store.as_ref(), 12, &mut out).await.unwrap();
        assert_eq!((ex.records, ex.first_seq), (2, Some(12)));
        assert!(out.starts_with(br#"{"anchor":{"seq":11,"#), "{}", String::from_utf8_lossy(&out));
        let rep = verify_jsonl(&out[..], keys(), None).unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        // Without the key, the checkpoints do not verify.
        let other = haven_audit::Signer::from_seed(&[1; 32]).unwrap().public_key();
        assert!(!verify_jsonl(&out[..], vec![other], None).unwrap().ok());
        f.cleanup().await;
    }
}

#[tokio::test]
async fn triggers_make_the_tables_append_only() {
    for f in Fixture::all().await {
        fill(f.store.as_ref(), 6, 3).await;
        // The search indexes are filled lazily: fill them so there are rows to protect.
        f.store.index().await.unwrap();
        let raw = f.raw().await;
        // The search index: per-row tables in PostgreSQL, segment postings in SQLite.
        let index: &[&str] = if f.name == "postgres" {
            &[
                "UPDATE audit_actor SET actor = 'x'",
                "DELETE FROM audit_actor",
                "UPDATE audit_patient SET patient = 'x'",
                "DELETE FROM audit_patient",
            ]
        } else {
            &["UPDATE audit_postings SET key = 'x'", "DELETE FROM audit_postings"]
        };
        for sql in index.iter().copied().chain([
            "UPDATE audit_log SET action = 'x' WHERE seq = 2",
            "UPDATE audit_log SET record = record WHERE seq = 6",
            "DELETE FROM audit_log WHERE seq = 1",
            "DELETE FROM audit_log",
            "UPDATE audit_checkpoint SET time = 0",
            "DELETE FROM audit_checkpoint WHERE seq = 3",
            "INSERT INTO audit_anchor (seq, time, hash, key_id, signature) VALUES (2, 0, 'x', 'y', 'z')",
        ]) {
            let e = raw.exec(sql, vec![]).await.expect_err(sql);
            let msg = e.to_string();
            assert!(msg.contains("append-only") || msg.contains("anchor"), "{}: {sql}: {msg}", f.name);
        }
        if f.name == "postgres" {
            for t in ["audit_log", "audit_patient", "audit_actor", "audit_checkpoint", "audit_anchor"] {
                raw.exec(&format!("TRUNCATE {t}"), vec![]).await.expect_err("truncate");
            }
        }
        // An anchor copied from a checkpoint with a changed hash is refused too.
        let e = raw
            .exec(
                "INSERT INTO audit_anchor (seq, time, hash, key_id, signature) \
                 SELECT seq, time, 'f' || hash, key_id, signature FROM audit_checkpoint WHERE seq = 3",
                vec![],
            )
            .await;
        assert!(e.is_err());
        assert_eq!(f.store.count().await.unwrap(), 6);
        assert!(verify_store(f.store.as_ref(), keys(), None, None).await.unwrap().ok());
        raw.close().await;
        f.cleanup().await;
    }
}

#[tokio::test]
async fn search_filters() {
    for f in Fixture::all().await {
        fill(f.store.as_ref(), 40, 40).await;
        let seqs = |v: Vec<haven_audit::StoredRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
        let q = |q: AuditQuery| {
            let store = f.store.clone();
            async move { seqs(store.search(&AuditQuery { limit: 1000, ..q }).await.unwrap()) }
        };
        let expect = |p: &dyn Fn(u64) -> bool| (1..=40).filter(|i| p(*i)).collect::<Vec<u64>>();
        assert_eq!(q(AuditQuery { patient: Some("pat1".into()), ..Default::default() }).await, expect(&|i| i % 4 == 1));
        assert_eq!(
            q(AuditQuery { actor: Some("account:2".into()), ..Default::default() }).await,
            expect(&|i| i % 3 == 2)
        );
        assert_eq!(
            q(AuditQuery { actor: Some("Practitioner/p1".into()), ..Default::default() }).await,
            expect(&|i| i.is_multiple_of(2) && i % 3 == 1)
        );
        assert_eq!(
            q(AuditQuery { action: Some("auth.login".into()), ..Default::default() }).await,
            expect(&|i| i.is_multiple_of(4))
        );
        assert_eq!(q(AuditQuery { action: Some("fhir.".into()), ..Default::default() }).await, expect(&|i| i % 4 != 0));
        assert!(q(AuditQuery { action: Some("fhir".into()), ..Default::default() }).await.is_empty());
        assert_eq!(
            q(AuditQuery { outcome: Some(Outcome::Denied), ..Default::default() }).await,
            expect(&|i| i.is_multiple_of(5))
        );
        let t = |i: i64| common::BASE_TIME + i * 1000;
        assert_eq!(q(AuditQuery { since: Some(t(10)), until: Some(t(13)), ..Default::default() }).await, [10, 11, 12]);
        assert_eq!(q(AuditQuery { after_seq: Some(37), ..Default::default() }).await, [38, 39, 40]);
        assert_eq!(q(AuditQuery { before_seq: Some(3), ..Default::default() }).await, [1, 2]);
        // Combined, newest first, limited.
        let got = seqs(
            f.store
                .search(&AuditQuery {
                    patient: Some("pat0".into()),
                    action: Some("auth.".into()),
                    newest_first: true,
                    limit: 3,
                    before_seq: Some(40),
                    ..Default::default()
                })
                .await
                .unwrap(),
        );
        assert_eq!(got, [36, 32, 28]);
        let got = seqs(
            f.store
                .search(&AuditQuery {
                    actor: Some("account:0".into()),
                    outcome: Some(Outcome::Denied),
                    ..Default::default()
                })
                .await
                .unwrap(),
        );
        assert_eq!(got, [15, 30]);
        // Default limit.
        let many = AuditQuery { limit: 0, ..Default::default() };
        assert_eq!(f.store.search(&many).await.unwrap().len(), 40);
        // Patient and actor together (an intersection), and results that span
        // indexed records and newer ones not indexed yet, in both orders.
        let both = AuditQuery { patient: Some("pat1".into()), actor: Some("account:1".into()), ..Default::default() };
        assert_eq!(q(both).await, expect(&|i| i % 12 == 1));
        f.store.append(events(41, 2), &signer(), &manual(), false).await.unwrap();
        let pat1 = |newest_first, after_seq| AuditQuery {
            patient: Some("pat1".into()),
            newest_first,
            after_seq,
            limit: 3,
            ..Default::default()
        };
        assert_eq!(seqs(f.store.search(&pat1(true, None)).await.unwrap()), [41, 37, 33]);
        assert_eq!(seqs(f.store.search(&pat1(false, Some(30))).await.unwrap()), [33, 37, 41]);
        f.cleanup().await;
    }
}

#[tokio::test]
async fn pruning_keeps_the_log_verifiable() {
    for f in Fixture::all().await {
        let s = signer();
        let cps = fill(f.store.as_ref(), 10, 10).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let cut = now_micros();
        tokio::time::sleep(Duration::from_millis(5)).await;
        f.store.append(events(11, 10), &s, &manual(), true).await.unwrap();
        // Nothing signed before the start of time: nothing pruned.
        let r = f.store.prune(0).await.unwrap();
        assert_eq!((r.removed, r.anchor), (0, None));

        let r = f.store.prune(cut).await.unwrap();
        assert_eq!(r.removed, 10);
        assert_eq!(r.anchor.as_ref(), Some(&cps[0]));
        assert_eq!(f.store.anchor().await.unwrap().as_ref(), Some(&cps[0]));
        assert_eq!(f.store.count().await.unwrap(), 10);
        assert!(
            f.store
                .search(&AuditQuery { patient: Some("pat1".into()), ..Default::default() })
                .await
                .unwrap()
                .iter()
                .all(|r| r.seq > 10)
        );
        // Again with the same cut: nothing more.
        let r = f.store.prune(cut).await.unwrap();
        assert_eq!((r.removed, r.anchor.map(|a| a.seq)), (0, Some(10)));

        let rep = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!((rep.first_seq, rep.records, rep.last_seq), (Some(11), 10, 20));
        let mut out = Vec::new();
        export_jsonl(f.store.as_ref(), 0, &mut out).await.unwrap();
        assert!(out.starts_with(br#"{"anchor":{"seq":10,"#));
        assert!(verify_jsonl(&out[..], keys(), None).unwrap().ok());

        // The triggers still protect records after the anchor.
        let raw = f.raw().await;
        assert!(raw.exec("DELETE FROM audit_log WHERE seq = 11", vec![]).await.is_err());
        assert!(raw.exec("DELETE FROM audit_log WHERE seq > 0", vec![]).await.is_err());
        let protected = if f.name == "postgres" {
            "DELETE FROM audit_patient WHERE seq = 12"
        } else {
            "DELETE FROM audit_postings WHERE segment = 3" // records 13-16, after the anchor
        };
        assert!(raw.exec(protected, vec![]).await.is_err(), "{}", f.name);
        assert_eq!(f.store.count().await.unwrap(), 10);
        raw.close().await;

        // Prune everything: appends continue the chain from the anchor.
        let r = f.store.prune(now_micros() + 1).await.unwrap();
        assert_eq!((r.removed, r.anchor.map(|a| a.seq)), (10, Some(20)));
        assert!(f.store.head().await.unwrap().is_none());
        let r = f.store.append(events(21, 2), &s, &manual(), false).await.unwrap();
        assert_eq!((r.first_seq, r.last_seq), (21, 22));
        let rep = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!((rep.first_seq, rep.last_seq, rep.unsigned_tail), (Some(21), 22, 2));
        f.cleanup().await;
    }
}

#[tokio::test]
async fn a_clock_that_goes_backwards_breaks_neither_order_nor_retention() {
    for f in Fixture::all().await {
        // Records stamped ever earlier: the sequence number orders the log,
        // and it verifies and searches as usual.
        let mut evs = events(1, 6);
        for (i, e) in evs.iter_mut().enumerate() {
            e.time = common::BASE_TIME - i as i64 * 1_000_000;
        }
        let s = signer();
        f.store.append(evs, &s, &manual(), true).await.unwrap();
        f.store.append(events(7, 3), &s, &manual(), true).await.unwrap();
        f.store.append(events(10, 3), &s, &manual(), true).await.unwrap();
        let rep = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(rep.ok(), "{}: {:?}", f.name, rep.problem);
        let all = f.store.search(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
        let q = AuditQuery { until: Some(common::BASE_TIME - 2_500_000), ..Default::default() };
        let early: Vec<u64> = f.store.search(&q).await.unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(early, [4, 5, 6], "{}: times are searched as stamped", f.name);

        // The clock ran ahead when checkpoint 9 was signed and then went
        // back: retention must not prune past a checkpoint signed after the
        // cut-off, even though a later one looks older.
        let cps = f.store.checkpoints(0, 10).await.unwrap();
        assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), [6, 9, 12]);
        let raw = f.raw().await;
        raw.drop_triggers().await;
        let ahead = cps[2].time + 3_600_000_000;
        raw.exec("UPDATE audit_checkpoint SET time = $1 WHERE seq = 9", vec![Val::I(ahead)]).await.unwrap();
        raw.close().await;
        let r = f.store.prune(cps[2].time + 1).await.unwrap();
        assert_eq!(r.anchor.map(|a| a.seq), Some(6), "{}: only up to the checkpoint before the recent one", f.name);
        assert_eq!(r.removed, 6);
        f.cleanup().await;
    }
}

#[tokio::test]
async fn prune_refuses_a_tampered_anchor() {
    let f = Fixture::sqlite().await;
    fill(f.store.as_ref(), 10, 5).await;
    let raw = f.raw().await;
    raw.drop_triggers().await;
    let mut b = common::record_bytes(f.store.as_ref(), 5).await;
    let n = b.len();
    b[n - 3] ^= 1;
    raw.set_record(5, &b).await;
    raw.close().await;
    // Record 5 changed: pruning through 10 would destroy the evidence.
    let e = f.store.prune(now_micros() + 1).await.unwrap_err();
    assert!(matches!(e, AuditError::Corrupt(ref m) if m.contains("breaks at record 6")), "{e}");
    assert_eq!(f.store.count().await.unwrap(), 10);
    assert!(f.store.anchor().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_database_keep_one_chain() {
    for f in Fixture::all().await {
        let other = f.reopen().await;
        let policy = CheckpointPolicy { every_records: 50, every: Duration::from_secs(3600) };
        let a = AuditLog::start(f.store.clone(), signer(), policy.clone(), None);
        let b = AuditLog::start(other, signer(), policy, None);
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let log = if t.is_multiple_of(2) { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..100 {
                    seqs.push(log.record(event(t * 1000 + i)).await.unwrap());
                }
                seqs.extend(log.record_all(events(t * 1000 + 500, 5)).await.unwrap());
                seqs
            }));
        }
        let mut all = BTreeSet::new();
        for t in tasks {
            for s in t.await.unwrap() {
                assert!(all.insert(s), "seq {s} given twice");
            }
        }
        a.close().await;
        b.close().await;
        assert_eq!(all.len(), 840);
        assert_eq!(all.iter().copied().collect::<Vec<_>>(), (1..=840).collect::<Vec<u64>>());
        assert_eq!(f.store.count().await.unwrap(), 840);
        let rep = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(rep.ok(), "{}: {:?}", f.name, rep.problem);
        assert_eq!((rep.records, rep.unsigned_tail), (840, 0));
        f.cleanup().await;
    }
}

#[tokio::test]
async fn writer_records_checkpoints_publishes_and_closes() {
    for f in Fixture::all().await {
        let dir = tempfile::tempdir().unwrap();
        let publish = dir.path().join("checkpoints.jsonl");
        let policy = CheckpointPolicy { every_records: 1000, every: Duration::from_millis(100) };
        let log = AuditLog::start(f.store.clone(), signer(), policy, Some(publish.clone()));
        assert_eq!(log.public_key(), signer().public_key());
        assert_eq!(log.checkpoint_now().await.unwrap(), None, "empty log");
        assert_eq!(log.record(event(1)).await.unwrap(), 1);
        assert_eq!(log.record_all(events(2, 3)).await.unwrap(), [2, 3, 4]);
        assert_eq!(log.record_all(vec![]).await.unwrap(), Vec::<u64>::new());
        let cp = log.checkpoint_now().await.unwrap().unwrap();
        assert_eq!(cp.seq, 4);
        // Already signed: the same checkpoint again.
        assert_eq!(log.checkpoint_now().await.unwrap(), Some(cp.clone()));
        // Time-based: the tick signs a head that moved.
        assert_eq!(log.record(event(5)).await.unwrap(), 5);
        let mut signed = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if log.store().latest_checkpoint().await.unwrap().map(|c| c.seq) == Some(5) {
                signed = true;
                break;
            }
        }
        assert!(signed, "no time-based checkpoint");
        // Closing signs the tail and stops the writer.
        assert_eq!(log.record(event(6)).await.unwrap(), 6);
        log.close().await;
        assert!(matches!(log.record(event(7)).await, Err(AuditError::Closed)));
        assert!(matches!(log.checkpoint_now().await, Err(AuditError::Closed)));
        log.close().await;
        assert_eq!(log.store().latest_checkpoint().await.unwrap().map(|c| c.seq), Some(6));
        let published = std::fs::read_to_string(&publish).unwrap();
        let lines: Vec<serde_json::Value> = published.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(lines.len() >= 3, "{published}");
        assert_eq!(lines[0]["checkpoint"]["seq"], 1);
        assert_eq!(lines.last().unwrap()["checkpoint"]["seq"], 6);
        let last: haven_audit::Checkpoint =
            serde_json::from_value(lines.last().unwrap()["checkpoint"].clone()).unwrap();
        signer().public_key().verify(&last).unwrap();
        // A published checkpoint is a trusted checkpoint for later verification.
        let rep = verify_store(f.store.as_ref(), keys(), None, Some(last)).await.unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        f.cleanup().await;
    }
}

/// A store whose appends fail: the writer must fail every waiter (fail closed).
struct Broken(Arc<dyn AuditStore>);

#[async_trait::async_trait]
impl AuditStore for Broken {
    async fn append(
        &self,
        _: Vec<haven_audit::Event>,
        _: &haven_audit::Signer,
        _: &CheckpointPolicy,
        _: bool,
    ) -> Result<haven_audit::AppendResult, AuditError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(AuditError::Database("disk full".into()))
    }
    async fn head(&self) -> Result<Option<haven_audit::StoredRecord>, AuditError> {
        self.0.head().await
    }
    async fn records(&self, a: u64, l: usize) -> Result<Vec<haven_audit::StoredRecord>, AuditError> {
        self.0.records(a, l).await
    }
    async fn checkpoints(&self, a: u64, l: usize) -> Result<Vec<haven_audit::Checkpoint>, AuditError> {
        self.0.checkpoints(a, l).await
    }
    async fn checkpoint_at_or_before(&self, s: u64) -> Result<Option<haven_audit::Checkpoint>, AuditError> {
        self.0.checkpoint_at_or_before(s).await
    }
    async fn latest_checkpoint(&self) -> Result<Option<haven_audit::Checkpoint>, AuditError> {
        self.0.latest_checkpoint().await
    }
    async fn search(&self, q: &AuditQuery) -> Result<Vec<haven_audit::StoredRecord>, AuditError> {
        self.0.search(q).await
    }
    async fn anchor(&self) -> Result<Option<haven_audit::Checkpoint>, AuditError> {
        self.0.anchor().await
    }
    async fn prune(&self, t: i64) -> Result<haven_audit::PruneReport, AuditError> {
        self.0.prune(t).await
    }
    async fn count(&self) -> Result<u64, AuditError> {
        self.0.count().await
    }
    async fn index(&self) -> Result<(), AuditError> {
        self.0.index().await
    }
}

#[tokio::test]
async fn a_failed_append_fails_every_waiter() {
    let f = Fixture::sqlite().await;
    let log = AuditLog::start(Arc::new(Broken(f.store.clone())), signer(), manual(), None);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.record(event(i)).await }));
    }
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, AuditError::Database(ref m) if m == "disk full"), "{e}");
    }
    assert!(log.record_all(events(1, 3)).await.is_err());
    log.close().await;
}

#[tokio::test]
async fn sqlite_file_is_private_and_reopens() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let store = haven_audit::SqliteAuditStore::open(&path).await.unwrap();
    fill(&store, 3, 3).await;
    store.close().await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Reopening applies no migration twice and keeps the chain.
    let store = haven_audit::SqliteAuditStore::open(&path).await.unwrap();
    let r = store.append(events(4, 1), &signer(), &manual(), false).await.unwrap();
    assert_eq!(r.first_seq, 4);
    assert!(verify_store(&store, keys(), None, None).await.unwrap().ok());
    // Raw access to the migration history: one row per migration.
    let raw = sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path)).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_migrations").fetch_one(&raw).await.unwrap();
    assert_eq!(n, 3);
    raw.close().await;
    // The search index file beside it is private too.
    let idx = haven_audit::sqlite_index_path(&path);
    assert_eq!(idx.file_name().unwrap(), "audit-index.db");
    store.index().await.unwrap();
    store.close().await;
    assert_eq!(std::fs::metadata(&idx).unwrap().permissions().mode() & 0o777, 0o600);

    // Another log put in its place (a restore): the old index must not
    // answer for it; it is rebuilt from the new log's records.
    let other = tempfile::tempdir().unwrap();
    let other_path = other.path().join("audit.db");
    let o = haven_audit::SqliteAuditStore::open(&other_path).await.unwrap();
    // Longer than the old log, so only the log's identity tells them apart.
    o.append(events(10, 6), &signer(), &manual(), false).await.unwrap();
    o.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(&other_path, &path).unwrap();
    let store = haven_audit::SqliteAuditStore::open(&path).await.unwrap();
    // Event 13 (the new log's record 4) is the only one for pat1; the old
    // index would have answered record 1.
    let q = haven_audit::AuditQuery { patient: Some("pat1".into()), ..Default::default() };
    assert_eq!(store.search(&q).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), [4]);
    store.close().await;
}

/// Collects what the writer reports.
#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<Record>>);

impl AppendObserver for Collect {
    fn appended(&self, records: Vec<Record>) {
        self.0.lock().unwrap().extend(records);
    }
}

#[tokio::test]
async fn the_observer_sees_every_durable_record_in_order() {
    for f in Fixture::all().await {
        let log = AuditLog::start(f.store.clone(), signer(), CheckpointPolicy::default(), None);
        assert_eq!(log.record(event(1)).await.unwrap(), 1, "before the observer: not seen");
        let seen = Arc::new(Collect::default());
        assert!(log.observe(seen.clone()));
        assert!(!log.observe(Arc::new(Collect::default())), "one observer per log");
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                log.record(event(100 + t)).await.unwrap();
                log.record_all(events(200 + t * 10, 3)).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        log.checkpoint_now().await.unwrap();
        log.close().await;
        let seen = seen.0.lock().unwrap().clone();
        let seqs: Vec<u64> = seen.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (2..=17).collect::<Vec<u64>>(), "{}", f.name);
        // Each is the stored record's event.
        for r in seen.iter() {
            let stored = f.store.records(r.seq - 1, 1).await.unwrap();
            assert_eq!(Record::decode(&stored[0].bytes).unwrap().event, r.event, "{}", f.name);
        }
        f.cleanup().await;
    }
}
