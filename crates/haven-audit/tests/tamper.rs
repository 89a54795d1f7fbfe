//! Tampering is detected and located: on the database (triggers dropped
//! first, as an attacker with database access would) and in exported files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::OnceLock;

use common::{Fixture, Raw, Val, event, events, fill, keys, manual, record_bytes, signer};
use haven_audit::{
    Checkpoint, GENESIS, RECORD_VERSION, Record, VerifyReport, export_jsonl, hash_record, verify_jsonl, verify_store,
};
use proptest::prelude::*;

/// The ways a log is tampered with in these tests.
#[derive(Clone, Copy, Debug)]
enum Tamper {
    Modify,
    Delete,
    Insert,
    Swap,
    Truncate,
    TruncateRecordsOnly,
    BadSignature,
}

const ALL: [Tamper; 7] = [
    Tamper::Modify,
    Tamper::Delete,
    Tamper::Insert,
    Tamper::Swap,
    Tamper::Truncate,
    Tamper::TruncateRecordsOnly,
    Tamper::BadSignature,
];

/// Changes a field's value without breaking the record's syntax.
fn modify(bytes: &[u8]) -> Vec<u8> {
    let s = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(s.contains(r#""request_id":"req-"#));
    s.replacen(r#""request_id":"req-"#, r#""request_id":"reX-"#, 1).into_bytes()
}

/// Expected (first bad seq, words in the description), and the trusted
/// checkpoint the user holds, for a log of 20 records checkpointed at 10 and 20.
fn expectation(t: Tamper, cps: &[Checkpoint]) -> (u64, &'static str, Option<Checkpoint>) {
    match t {
        Tamper::Modify => (5, "record 5 does not match the hash that record 6 commits to: modified", None),
        Tamper::Delete => (7, "record 7 is missing", None),
        Tamper::Insert => (12, "record 12", None),
        Tamper::Swap => (14, "out of order", None),
        Tamper::Truncate => (16, "truncated before trusted checkpoint at seq 20", Some(cps[1].clone())),
        Tamper::TruncateRecordsOnly => (16, "records were removed from the end", None),
        Tamper::BadSignature => (10, "bad signature", None),
    }
}

async fn tamper_db(t: Tamper, f: &Fixture, raw: &Raw) {
    let store = f.store.as_ref();
    match t {
        Tamper::Modify => raw.set_record(5, &modify(&record_bytes(store, 5).await)).await,
        Tamper::Delete => assert_eq!(raw.run("DELETE FROM audit_log WHERE seq = 7").await, 1),
        Tamper::Insert => {
            // Make room at 12 and slip in a well-formed record that links to 11.
            raw.run("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 12").await;
            raw.run("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1012").await;
            let prev = hash_record(&record_bytes(store, 11).await);
            let forged = Record { v: RECORD_VERSION, seq: 12, prev: hex::encode(prev), event: event(999) }.encode();
            let n = raw
                .exec(
                    "INSERT INTO audit_log (seq, time, actor, fhir_actor, action, outcome, record) \
                     VALUES (12, 0, 'account:9', NULL, 'fhir.read', 'success', $1)",
                    vec![Val::B(forged)],
                )
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        Tamper::Swap => {
            let (a, b) = (record_bytes(store, 14).await, record_bytes(store, 15).await);
            raw.set_record(14, &b).await;
            raw.set_record(15, &a).await;
        }
        Tamper::Truncate => {
            assert_eq!(raw.run("DELETE FROM audit_log WHERE seq > 15").await, 5);
            assert_eq!(raw.run("DELETE FROM audit_checkpoint WHERE seq > 15").await, 1);
        }
        Tamper::TruncateRecordsOnly => assert_eq!(raw.run("DELETE FROM audit_log WHERE seq > 15").await, 5),
        Tamper::BadSignature => {
            let cp = f.store.checkpoint_at_or_before(10).await.unwrap().unwrap();
            let sql = "UPDATE audit_checkpoint SET signature = $1 WHERE seq = 10";
            assert_eq!(raw.exec(sql, vec![Val::T(forged_text_signature(&cp))]).await.unwrap(), 1);
        }
    }
}

fn forged_text_signature(cp: &Checkpoint) -> String {
    signer().sign(cp.seq, &hash_record(b"something else"), cp.time).signature
}

fn assert_problem(rep: &VerifyReport, seq: u64, words: &str, ctx: &str) {
    let p = rep.problem.as_ref().unwrap_or_else(|| panic!("{ctx}: tampering not detected: {rep:?}"));
    assert_eq!(p.seq, seq, "{ctx}: {p}");
    assert!(p.what.contains(words), "{ctx}: {p}");
    assert_eq!(p.to_string(), format!("seq {}: {}", p.seq, p.what));
}

#[tokio::test]
async fn tampering_in_the_database_is_detected() {
    let mut fixtures = Vec::new();
    for t in ALL {
        fixtures.push((t, Fixture::sqlite().await));
        if let Some(f) = Fixture::pg().await {
            fixtures.push((t, f));
        }
    }
    for (t, f) in fixtures {
        let cps = fill(f.store.as_ref(), 20, 10).await;
        let before = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(before.ok());
        let raw = f.raw().await;
        raw.drop_triggers().await;
        tamper_db(t, &f, &raw).await;
        raw.close().await;
        let (seq, words, trusted) = expectation(t, &cps);
        let ctx = format!("{} {t:?}", f.name);
        let rep = verify_store(f.store.as_ref(), keys(), None, trusted.clone()).await.unwrap();
        assert_problem(&rep, seq, words, &ctx);
        // The same database exported: the file tells the same story.
        let mut out = Vec::new();
        export_jsonl(f.store.as_ref(), 1, &mut out).await.unwrap();
        let rep = verify_jsonl(&out[..], keys(), trusted).unwrap();
        let words = if matches!(t, Tamper::Swap) { "swapped" } else { words };
        assert_problem(&rep, seq, words, &format!("{ctx} (export)"));
        f.cleanup().await;
    }
}

#[tokio::test]
async fn truncation_without_a_trusted_checkpoint_is_invisible_but_reported_unsigned() {
    // Removing the tail and its checkpoints leaves a consistent shorter log:
    // only a checkpoint kept elsewhere (or published) can reveal it.
    let f = Fixture::sqlite().await;
    fill(f.store.as_ref(), 20, 10).await;
    let raw = f.raw().await;
    raw.drop_triggers().await;
    tamper_db(Tamper::Truncate, &f, &raw).await;
    raw.close().await;
    let rep = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
    assert!(rep.ok());
    assert_eq!((rep.last_seq, rep.unsigned_tail, rep.last_checkpoint.map(|c| c.seq)), (15, 5, Some(10)));
}

/// The clean export of a 20-record log (checkpoints at 10 and 20), as lines.
async fn clean_export() -> (Vec<Vec<u8>>, Vec<Checkpoint>) {
    let f = Fixture::sqlite().await;
    let cps = fill(f.store.as_ref(), 20, 10).await;
    let mut out = Vec::new();
    export_jsonl(f.store.as_ref(), 1, &mut out).await.unwrap();
    let lines: Vec<Vec<u8>> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    assert_eq!(lines.len(), 22);
    (lines, cps)
}

/// The line index of record `seq` in the clean export (a checkpoint line follows record 10).
fn line_of(seq: u64) -> usize {
    (seq as usize - 1) + usize::from(seq > 10)
}

fn verify_lines(lines: &[Vec<u8>], trusted: Option<Checkpoint>) -> VerifyReport {
    let mut file = lines.join(&b'\n');
    file.push(b'\n');
    verify_jsonl(&file[..], keys(), trusted).unwrap()
}

#[tokio::test]
async fn tampering_in_an_exported_file_is_detected() {
    let (clean, cps) = clean_export().await;
    assert!(verify_lines(&clean, None).ok());
    assert!(verify_lines(&clean, Some(cps[1].clone())).ok());
    for t in ALL {
        let mut l = clean.clone();
        match t {
            Tamper::Modify => l[line_of(5)] = modify(&l[line_of(5)]),
            Tamper::Delete => {
                l.remove(line_of(7));
            }
            Tamper::Insert => {
                let prev = hash_record(&l[line_of(11)]);
                let forged = Record { v: RECORD_VERSION, seq: 12, prev: hex::encode(prev), event: event(999) }.encode();
                l.insert(line_of(12), forged);
            }
            Tamper::Swap => l.swap(line_of(14), line_of(15)),
            Tamper::Truncate => {
                l.truncate(line_of(15) + 1);
            }
            Tamper::TruncateRecordsOnly => {
                let last = l.pop().unwrap();
                l.truncate(line_of(15) + 1);
                l.push(last);
            }
            Tamper::BadSignature => {
                let cp = &cps[0];
                let line = String::from_utf8(l[line_of(10) + 1].clone()).unwrap();
                assert!(line.starts_with(r#"{"checkpoint":{"seq":10,"#), "{line}");
                l[line_of(10) + 1] = line.replace(&cp.signature, &forged_text_signature(cp)).into_bytes();
            }
        }
        let (seq, words, trusted) = expectation(t, &cps);
        let words = if matches!(t, Tamper::Swap) { "swapped" } else { words };
        assert_problem(&verify_lines(&l, trusted), seq, words, &format!("file {t:?}"));
    }
    // Other damage: a checkpoint line that is not JSON, a stray line, an anchor in the middle.
    let mut l = clean.clone();
    l[line_of(10) + 1] = b"{\"checkpoint\":{".to_vec();
    assert_problem(&verify_lines(&l, None), 11, "not a valid checkpoint line", "bad checkpoint line");
    let mut l = clean.clone();
    l.insert(3, b"hello".to_vec());
    assert_problem(&verify_lines(&l, None), 4, "malformed", "stray line");
    let mut l = clean.clone();
    let anchor = format!("{{\"anchor\":{}}}", serde_json::to_string(&cps[0]).unwrap());
    l.insert(3, anchor.into_bytes());
    assert_problem(&verify_lines(&l, None), 4, "anchor line may only be the first", "late anchor");
    // An anchor that is not signed by the key.
    let mut forged = cps[0].clone();
    forged.time += 1;
    let mut l = vec![format!("{{\"anchor\":{}}}", serde_json::to_string(&forged).unwrap()).into_bytes()];
    l.extend(clean[line_of(11)..].iter().cloned());
    assert_problem(&verify_lines(&l, None), 10, "bad signature", "forged anchor");
    // A read error is an error, not a report.
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    assert!(verify_jsonl(std::io::BufReader::new(Failing), keys(), None).is_err());
}

#[tokio::test]
async fn incremental_verification_starts_after_a_checkpoint() {
    for f in Fixture::all().await {
        fill(f.store.as_ref(), 20, 10).await;
        let first = verify_store(f.store.as_ref(), keys(), None, None).await.unwrap();
        assert!(first.ok());
        let from = first.last_checkpoint.clone().unwrap();
        assert_eq!(from.seq, 20);
        let s = signer();
        f.store.append(events(21, 10), &s, &manual(), true).await.unwrap();
        f.store.append(events(31, 2), &s, &manual(), false).await.unwrap();
        let rep = verify_store(f.store.as_ref(), keys(), Some(from.clone()), None).await.unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!((rep.first_seq, rep.records, rep.last_seq, rep.unsigned_tail), (Some(21), 12, 32, 2));
        assert_eq!(rep.last_checkpoint.map(|c| c.seq), Some(30));

        let raw = f.raw().await;
        raw.drop_triggers().await;
        // Tampering before the start point is out of scope of an incremental run...
        raw.set_record(3, &modify(&record_bytes(f.store.as_ref(), 3).await)).await;
        assert!(verify_store(f.store.as_ref(), keys(), Some(from.clone()), None).await.unwrap().ok());
        assert_eq!(verify_store(f.store.as_ref(), keys(), None, None).await.unwrap().problem.unwrap().seq, 3);
        // The record the start checkpoint covers: before the start, and record
        // 21 still links to the signed hash, so an incremental run passes.
        raw.set_record(20, &modify(&record_bytes(f.store.as_ref(), 20).await)).await;
        assert!(verify_store(f.store.as_ref(), keys(), Some(from.clone()), None).await.unwrap().ok());
        // ...tampering after it is found.
        raw.set_record(25, &modify(&record_bytes(f.store.as_ref(), 25).await)).await;
        raw.close().await;
        let rep = verify_store(f.store.as_ref(), keys(), Some(from.clone()), None).await.unwrap();
        assert_eq!(rep.problem.unwrap().seq, 25);
        // A start checkpoint with a bad signature is refused.
        let mut bad = from;
        bad.time += 1;
        let rep = verify_store(f.store.as_ref(), keys(), Some(bad), None).await.unwrap();
        assert!(rep.problem.unwrap().what.contains("bad signature"));
        f.cleanup().await;
    }
}

/// The clean export of a log with an anchor line: records 6..=20 after
/// checkpoint 5, with checkpoints 10, 15, 20.
fn flip_target() -> &'static Vec<Vec<u8>> {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let f = Fixture::sqlite().await;
            fill(f.store.as_ref(), 20, 5).await;
            let mut out = Vec::new();
            export_jsonl(f.store.as_ref(), 8, &mut out).await.unwrap();
            let lines: Vec<Vec<u8>> =
                out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
            assert!(lines[0].starts_with(br#"{"anchor":{"seq":5,"#));
            assert_eq!(lines.len(), 1 + 15 + 3);
            assert!(verify_lines(&lines, None).ok());
            lines
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any single byte changed anywhere in any line (record, checkpoint or
    /// anchor) is reported.
    #[test]
    fn any_byte_flip_is_detected(line in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let mut lines = flip_target().clone();
        let l = line.index(lines.len());
        let p = pos.index(lines[l].len());
        lines[l][p] ^= x;
        let rep = verify_lines(&lines, None);
        prop_assert!(!rep.ok(), "line {} byte {} ^ {:#x} not detected", l, p, x);
    }
}

#[test]
fn genesis_is_zero() {
    assert_eq!(hex::encode(GENESIS), "0".repeat(64));
}
