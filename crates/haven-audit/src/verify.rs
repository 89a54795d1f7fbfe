//! Offline verification of a log: from the database or an exported file,
//! with nothing but the public key(s).
//!
//! The hot path does not parse records: canonical records always begin
//! `{"v":1,"seq":N,"prev":"<64 hex>",` and the verifier reads only that
//! prefix, then hashes the whole record. Every field after the prefix is
//! protected by the hash chain (the next record's `prev`, or a signed
//! checkpoint), so changing any byte is detected without decoding it.
//! Records are decoded only to explain a problem.
//!
//! Feed order: records ascending; each checkpoint either before the record
//! it covers (the database feed) or after it, within [`Verifier::WINDOW`]
//! records (the export puts it on the line right after).

use std::collections::VecDeque;
use std::fmt;

use crate::chain::{GENESIS, Hash, PublicKey, hash_record};
use crate::record::Record;
use crate::store::AuditStore;
use crate::{AuditError, Checkpoint};

/// The first thing wrong with a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The first sequence number that is (or may be) bad.
    pub seq: u64,
    /// What is wrong, in words.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.what)
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// The first record checked.
    pub first_seq: Option<u64>,
    /// The last good record (or the start checkpoint's seq if there were none).
    pub last_seq: u64,
    /// Hex hash of that record.
    pub last_hash: String,
    /// Checkpoints whose signature and hash were verified.
    pub checkpoints: u64,
    /// The newest verified checkpoint: start the next incremental verification after it.
    pub last_checkpoint: Option<Checkpoint>,
    /// Records after the last checkpoint: chained, but vouched for by no signature yet.
    pub unsigned_tail: u64,
    /// The first problem found, if any.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// Whether the log verified.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// What the prefix of a canonical record must be.
const PREFIX: &[u8] = br#"{"v":1,"seq":"#;
const PREV: &[u8] = br#","prev":""#;

/// Reads `seq` and `prev` from a canonical record's fixed prefix.
pub(crate) fn parse_prefix(b: &[u8]) -> Option<(u64, Hash)> {
    let rest = b.strip_prefix(PREFIX)?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    // Canonical numbers: 1 to 20 digits, no leading zero; seq starts at 1.
    if digits == 0 || digits > 20 || rest[0] == b'0' {
        return None;
    }
    let mut seq: u64 = 0;
    for &c in &rest[..digits] {
        seq = seq.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    let rest = rest[digits..].strip_prefix(PREV)?;
    if rest.len() < 66 || rest[64] != b'"' || rest[65] != b',' || b.last() != Some(&b'}') {
        return None;
    }
    let mut prev = [0u8; 32];
    for (i, out) in prev.iter_mut().enumerate() {
        *out = (nibble(rest[2 * i])? << 4) | nibble(rest[2 * i + 1])?;
    }
    Some((seq, prev))
}

/// A lowercase hex digit's value.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn parse_hex_hash(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    for (i, out) in h.iter_mut().enumerate() {
        *out = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
    }
    Some(h)
}

/// Why a record's prefix could not be read, in words.
fn explain_malformed(bytes: &[u8]) -> String {
    match Record::decode(bytes) {
        Err(AuditError::Malformed(why)) => why,
        Err(e) => e.to_string(),
        Ok(_) => "not in canonical form (v, seq and prev must come first, prev as 64 lowercase hex digits)".into(),
    }
}

/// A break in the chain whose explanation depends on what comes next.
#[derive(Clone, Copy, Debug)]
enum Suspect {
    /// Record `seq` (hash `hash`) came in order but does not link to the record before it.
    Unlinked { seq: u64, hash: Hash },
    /// Record `got` (hash `hash`) came where record `expected` belongs.
    Jump { expected: u64, got: u64 },
}

/// Checks a stream of records and checkpoints.
pub struct Verifier {
    keys: Vec<(String, PublicKey)>,
    /// Whether a record or a start checkpoint has fixed the start.
    started: bool,
    /// The seq the log starts after (0: genesis), and its hash.
    start_seq: u64,
    start_hash: Hash,
    /// The seq the next record must have.
    next: u64,
    /// The hash of record `next - 1` (or of the start).
    last_hash: Hash,
    /// The highest seq vouched for by a signature (or the start).
    signed_seq: u64,
    /// Hashes of the last `WINDOW` records, by seq modulo `WINDOW`.
    recent: Vec<Hash>,
    /// Checkpoints for records not reached yet, ascending.
    pending: VecDeque<(Checkpoint, Hash)>,
    last_pushed_checkpoint: u64,
    trusted: Option<(Checkpoint, Hash)>,
    suspect: Option<Suspect>,
    problem: Option<Problem>,
    records: u64,
    first_seq: Option<u64>,
    checkpoints: u64,
    last_checkpoint: Option<Checkpoint>,
}

impl Verifier {
    /// How many records after the one it covers a checkpoint may still arrive.
    pub const WINDOW: usize = 4096;

    /// A verifier that accepts checkpoints signed by any of `keys`, starting at genesis.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        Verifier {
            keys: keys.into_iter().map(|k| (k.key_id(), k)).collect(),
            started: false,
            start_seq: 0,
            start_hash: GENESIS,
            next: 1,
            last_hash: GENESIS,
            signed_seq: 0,
            recent: vec![[0u8; 32]; Self::WINDOW],
            pending: VecDeque::new(),
            last_pushed_checkpoint: 0,
            trusted: None,
            suspect: None,
            problem: None,
            records: 0,
            first_seq: None,
            checkpoints: 0,
            last_checkpoint: None,
        }
    }

    /// The first problem found so far.
    pub fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }

    /// The seq the next record must have.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Records a problem found outside the verifier (e.g. an unreadable line);
    /// only the first problem is kept.
    pub fn fail(&mut self, p: Problem) -> Problem {
        self.problem.get_or_insert(p).clone()
    }

    /// Checks the signature of `cp` and returns its hash.
    fn check_signature(&self, cp: &Checkpoint) -> Result<Hash, Problem> {
        let Some((_, key)) = self.keys.iter().find(|(id, _)| *id == cp.key_id) else {
            return Err(Problem {
                seq: cp.seq,
                what: format!("checkpoint {} is signed by unknown key {:?}", cp.seq, cp.key_id),
            });
        };
        key.verify(cp)
            .map_err(|_| Problem { seq: cp.seq, what: format!("checkpoint {} has a bad signature", cp.seq) })?;
        parse_hex_hash(&cp.hash)
            .ok_or_else(|| Problem { seq: cp.seq, what: format!("checkpoint {} has a malformed hash", cp.seq) })
    }

    /// Starts verification after the signed checkpoint `cp`: the next record
    /// must be `cp.seq + 1` and link to `cp.hash`. For pruned logs (the
    /// anchor), exports that start mid-log, and incremental verification.
    /// Must come before any record.
    pub fn start_after(&mut self, cp: Checkpoint) -> Result<(), Problem> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        if self.started {
            return Err(
                self.fail(Problem { seq: cp.seq, what: "the start checkpoint must come before any record".into() })
            );
        }
        let hash = self.check_signature(&cp).map_err(|p| self.fail(p))?;
        self.started = true;
        self.start_seq = cp.seq;
        self.start_hash = hash;
        self.next = cp.seq.saturating_add(1);
        self.last_hash = hash;
        self.signed_seq = cp.seq;
        self.last_pushed_checkpoint = cp.seq;
        self.checkpoints += 1;
        self.last_checkpoint = Some(cp);
        Ok(())
    }

    /// A checkpoint the user kept from earlier: the log must still reach it,
    /// and the record there must still hash to it (detects truncation and
    /// rewriting since). Call before pushing records.
    pub fn trust(&mut self, cp: Checkpoint) {
        if self.problem.is_some() {
            return;
        }
        let hash = match self.check_signature(&cp) {
            Ok(h) => h,
            Err(p) => {
                self.fail(Problem { seq: p.seq, what: format!("the trusted {}", p.what) });
                return;
            }
        };
        if cp.seq < self.next {
            // Already passed (or before the start): check what we still know.
            let known = if cp.seq == self.next - 1 {
                Some(self.last_hash)
            } else if cp.seq > self.start_seq && self.next - cp.seq <= Self::WINDOW as u64 {
                Some(self.recent[cp.seq as usize % Self::WINDOW])
            } else {
                None
            };
            match known {
                Some(h) if h != hash => {
                    self.fail(Problem {
                        seq: cp.seq,
                        what: format!("record {} differs from the trusted checkpoint", cp.seq),
                    });
                }
                _ => {}
            }
            return;
        }
        self.trusted = Some((cp, hash));
    }

    /// A checkpoint from the log. Checkpoints must come in ascending order;
    /// see the module docs for their order relative to records.
    pub fn push_checkpoint(&mut self, cp: Checkpoint) {
        if self.problem.is_some() {
            return;
        }
        let hash = match self.check_signature(&cp) {
            Ok(h) => h,
            Err(p) => {
                self.fail(p);
                return;
            }
        };
        if let Some(Suspect::Unlinked { seq, hash: h }) = self.suspect
            && cp.seq == seq
        {
            // The checkpoint settles which side of the broken link is authentic.
            self.suspect = None;
            let p = if h == hash { modified_before(seq) } else { modified_checkpoint(seq) };
            self.fail(p);
            return;
        }
        if self.suspect.is_some() {
            return;
        }
        if cp.seq <= self.start_seq && self.started {
            if cp.seq == self.start_seq && hash != self.start_hash {
                self.fail(Problem {
                    seq: cp.seq,
                    what: format!("checkpoint {} contradicts the start checkpoint", cp.seq),
                });
            }
            return;
        }
        if cp.seq <= self.last_pushed_checkpoint {
            self.fail(Problem {
                seq: cp.seq,
                what: format!(
                    "checkpoint {} comes after checkpoint {}: checkpoints out of order",
                    cp.seq, self.last_pushed_checkpoint
                ),
            });
            return;
        }
        self.last_pushed_checkpoint = cp.seq;
        if cp.seq >= self.next {
            self.pending.push_back((cp, hash));
            return;
        }
        // The record it covers has passed: use the recent hashes.
        if self.next - cp.seq > Self::WINDOW as u64 {
            self.fail(Problem {
                seq: cp.seq,
                what: format!(
                    "checkpoint {} came more than {} records after the record it covers and cannot be checked",
                    cp.seq,
                    Self::WINDOW
                ),
            });
            return;
        }
        let h = self.recent[cp.seq as usize % Self::WINDOW];
        self.check_checkpoint(cp, hash, h);
    }

    /// Compares a (signature-checked) checkpoint with the hash of its record.
    fn check_checkpoint(&mut self, cp: Checkpoint, cp_hash: Hash, record_hash: Hash) {
        if cp_hash != record_hash {
            self.fail(modified_checkpoint(cp.seq));
            return;
        }
        self.checkpoints += 1;
        self.signed_seq = self.signed_seq.max(cp.seq);
        self.last_checkpoint = Some(cp);
    }

    /// The next record: `stored_seq` is the seq the database keeps it under
    /// (None for a file), `bytes` its canonical encoding. Returns the first
    /// problem once one is known (a break may be reported one record late,
    /// when the next record tells what happened).
    pub fn push_record(&mut self, stored_seq: Option<u64>, bytes: &[u8]) -> Result<(), Problem> {
        if let Some(p) = &self.problem {
            return Err(p.clone());
        }
        let parsed = parse_prefix(bytes);
        if let Some(s) = self.suspect.take() {
            let p = resolve(s, parsed);
            return Err(self.fail(p));
        }
        let Some((seq, prev)) = parsed else {
            let at = stored_seq.unwrap_or(self.next);
            return Err(
                self.fail(Problem { seq: at, what: format!("record {at} is malformed: {}", explain_malformed(bytes)) })
            );
        };
        self.started = true;
        if seq < self.next {
            let place = match stored_seq {
                Some(st) if st != seq => format!(" (in the row stored as record {st})"),
                _ => String::new(),
            };
            let what = if seq + 1 == self.next && hash_record(bytes) == self.last_hash {
                format!("record {seq} appears twice{place}")
            } else {
                format!("a second record {seq} appears after record {}{place}: inserted or out of order", self.next - 1)
            };
            return Err(self.fail(Problem { seq, what }));
        }
        if let Some(st) = stored_seq
            && st != seq
        {
            return Err(self.fail(Problem {
                seq: st.min(seq),
                what: format!("the row stored as record {st} holds record {seq}: records moved or out of order"),
            }));
        }
        let hash = hash_record(bytes);
        if seq > self.next {
            if prev == self.last_hash {
                // It links to the record before: its own seq field was changed.
                return Err(self.fail(Problem {
                    seq: self.next,
                    what: format!("record {} says it is record {seq}: modified", self.next),
                }));
            }
            self.suspect = Some(Suspect::Jump { expected: self.next, got: seq });
            return Ok(());
        }
        if prev != self.last_hash {
            if seq - 1 <= self.signed_seq {
                let what = if seq - 1 == self.start_seq {
                    let start =
                        if self.start_seq == 0 { "the start of the log" } else { "the checkpoint it starts after" };
                    format!("record {seq} does not link to {start}: modified, replaced or inserted")
                } else {
                    format!(
                        "record {seq} does not link to record {}, which a signed checkpoint vouches for: modified, replaced or inserted",
                        seq - 1
                    )
                };
                return Err(self.fail(Problem { seq, what }));
            }
            self.suspect = Some(Suspect::Unlinked { seq, hash });
            return Ok(());
        }
        // In order and linked.
        self.recent[seq as usize % Self::WINDOW] = hash;
        self.last_hash = hash;
        self.next = seq + 1;
        self.records += 1;
        self.first_seq.get_or_insert(seq);
        while self.pending.front().is_some_and(|(c, _)| c.seq == seq) {
            if let Some((cp, h)) = self.pending.pop_front() {
                self.check_checkpoint(cp, h, hash);
            }
        }
        if let Some((cp, h)) = self.trusted.take_if(|(c, _)| c.seq == seq) {
            if h != hash {
                return Err(
                    self.fail(Problem { seq, what: format!("record {seq} differs from the trusted checkpoint") })
                );
            }
            self.signed_seq = self.signed_seq.max(cp.seq);
        }
        match &self.problem {
            Some(p) => Err(p.clone()),
            None => Ok(()),
        }
    }

    /// Ends the stream and reports. Checkpoints (or a trusted checkpoint)
    /// for records beyond the last one mean the log was truncated.
    pub fn finish(mut self) -> VerifyReport {
        if self.problem.is_none()
            && let Some(s) = self.suspect.take()
        {
            let p = resolve(s, None);
            self.fail(p);
        }
        let last_seq = self.next - 1;
        if self.problem.is_none()
            && let Some((cp, _)) = self.pending.front()
        {
            let what = format!(
                "the log ends at record {last_seq} but checkpoint {} vouches for record {}: records were removed from the end",
                cp.seq, cp.seq
            );
            self.fail(Problem { seq: self.next, what });
        }
        if self.problem.is_none()
            && let Some((cp, _)) = &self.trusted
        {
            let what =
                format!("log truncated before trusted checkpoint at seq {} (it ends at record {last_seq})", cp.seq);
            self.fail(Problem { seq: self.next, what });
        }
        VerifyReport {
            records: self.records,
            first_seq: self.first_seq,
            last_seq,
            last_hash: hex::encode(self.last_hash),
            checkpoints: self.checkpoints,
            last_checkpoint: self.last_checkpoint,
            unsigned_tail: last_seq.saturating_sub(self.signed_seq),
            problem: self.problem,
        }
    }
}

/// Record `seq - 1` changed after record `seq` committed to it.
fn modified_before(seq: u64) -> Problem {
    Problem {
        seq: seq - 1,
        what: format!("record {} does not match the hash that record {seq} commits to: modified or replaced", seq - 1),
    }
}

/// Record `seq` changed after its checkpoint was signed.
fn modified_checkpoint(seq: u64) -> Problem {
    Problem {
        seq,
        what: format!("record {seq} does not match the hash that checkpoint {seq} commits to: modified or replaced"),
    }
}

/// Explains a break, given the record after it (None: end of the log, or unreadable).
fn resolve(s: Suspect, next: Option<(u64, Hash)>) -> Problem {
    match s {
        Suspect::Unlinked { seq, hash } => match next {
            Some((n, _)) if n == seq => {
                Problem { seq, what: format!("record {seq} appears twice: a record was inserted") }
            }
            // The next record vouches for this one, so the one before changed.
            Some((n, prev)) if n == seq + 1 && prev == hash => modified_before(seq),
            Some(_) => Problem {
                seq,
                what: format!(
                    "record {seq} was modified, replaced or inserted: it does not link to record {}, and record {} does not commit to it",
                    seq - 1,
                    seq + 1
                ),
            },
            None => Problem {
                seq: seq - 1,
                what: format!(
                    "record {} does not match the hash that record {seq} commits to: record {} modified or replaced, or record {seq} inserted",
                    seq - 1,
                    seq - 1
                ),
            },
        },
        Suspect::Jump { expected, got } => match next {
            Some((n, _)) if n < got => Problem {
                seq: expected,
                what: if n == expected && got == expected + 1 {
                    format!("records {expected} and {got} are swapped: out of order")
                } else {
                    format!("record {got} appears where record {expected} belongs: records out of order")
                },
            },
            _ if got == expected + 1 => Problem { seq: expected, what: format!("record {expected} is missing") },
            _ => Problem { seq: expected, what: format!("records {expected} to {} are missing", got - 1) },
        },
    }
}

/// Records per database page when streaming.
const PAGE: usize = 10_000;

/// Streams checkpoints in seq order, a page at a time.
pub(crate) struct CheckpointFeed<'a> {
    store: &'a dyn AuditStore,
    after: u64,
    end: u64,
    buf: VecDeque<Checkpoint>,
    done: bool,
}

impl<'a> CheckpointFeed<'a> {
    pub(crate) fn new(store: &'a dyn AuditStore, after: u64, end: u64) -> Self {
        CheckpointFeed { store, after, end, buf: VecDeque::new(), done: false }
    }

    /// The next checkpoint at or before `upto`, if any.
    pub(crate) async fn next_upto(&mut self, upto: u64) -> Result<Option<Checkpoint>, AuditError> {
        if self.buf.is_empty() && !self.done {
            let page = self.store.checkpoints(self.after, 1000).await?;
            self.done = page.len() < 1000;
            if let Some(last) = page.last() {
                self.after = last.seq;
            }
            self.buf.extend(page.into_iter().filter(|c| c.seq <= self.end));
            if self.after >= self.end {
                self.done = true;
            }
        }
        Ok(if self.buf.front().is_some_and(|c| c.seq <= upto) { self.buf.pop_front() } else { None })
    }
}

/// Fixes the end of a stream: the head or the newest checkpoint, whichever is
/// later (a checkpoint past the head is evidence of truncation).
pub(crate) async fn stream_end(store: &dyn AuditStore) -> Result<u64, AuditError> {
    let head = store.head().await?.map_or(0, |r| r.seq);
    let cp = store.latest_checkpoint().await?.map_or(0, |c| c.seq);
    Ok(head.max(cp))
}

/// Reads a page of records after `after`, up to `end`.
pub(crate) async fn page(store: &dyn AuditStore, after: u64, end: u64) -> Result<Vec<crate::StoredRecord>, AuditError> {
    if after >= end {
        return Ok(Vec::new());
    }
    let mut v = store.records(after, PAGE).await?;
    v.retain(|r| r.seq <= end);
    Ok(v)
}

/// Verifies the log in `store`: after `from` (incremental) if given, else
/// after the store's anchor if pruned, else from genesis. `trusted` is a
/// checkpoint kept from earlier that the log must still reach and match.
/// Database errors are `Err`; problems with the log are in the report.
pub async fn verify_store(
    store: &dyn AuditStore,
    keys: Vec<PublicKey>,
    from: Option<Checkpoint>,
    trusted: Option<Checkpoint>,
) -> Result<VerifyReport, AuditError> {
    let mut v = Verifier::new(keys);
    let anchor = store.anchor().await?;
    // After pruning, records before the anchor are gone by design; the
    // anchor is signed, so starting after the later of the two is safe.
    let start = match (from, anchor) {
        (Some(f), Some(a)) => Some(if a.seq > f.seq { a } else { f }),
        (f, a) => f.or(a),
    };
    let end = stream_end(store).await?;
    let mut after = 0;
    if let Some(cp) = start {
        after = cp.seq;
        if v.start_after(cp).is_err() {
            return Ok(v.finish());
        }
    }
    if let Some(t) = trusted {
        v.trust(t);
    }
    let mut cps = CheckpointFeed::new(store, after, end);
    let mut current = page(store, after, end).await?;
    while !current.is_empty() {
        let last = current.last().map_or(after, |r| r.seq);
        while let Some(cp) = cps.next_upto(last).await? {
            v.push_checkpoint(cp);
        }
        // Check this page on a blocking thread while the next one is fetched:
        // hashing is CPU work that must neither wait for the database nor
        // hold up an async worker (the server verifies while it serves).
        let check = tokio::task::spawn_blocking(move || {
            let stop = current.iter().any(|r| v.push_record(Some(r.seq), &r.bytes).is_err());
            (v, stop)
        });
        let (next, checked) = tokio::join!(page(store, last, end), check);
        let stop;
        (v, stop) = checked.map_err(|e| AuditError::Io(format!("the verification task failed: {e}")))?;
        if stop {
            return Ok(v.finish());
        }
        current = next?;
    }
    while let Some(cp) = cps.next_upto(u64::MAX).await? {
        v.push_checkpoint(cp);
    }
    Ok(v.finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chain::Signer;
    use crate::record::{Actor, Event, Outcome, RECORD_VERSION};

    fn chain(n: u64) -> Vec<Vec<u8>> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let mut e = Event::new(
                    Actor { id: format!("account:{seq}"), ..Default::default() },
                    "fhir.read",
                    Outcome::Success,
                );
                e.time = 1_700_000_000_000_000 + seq as i64;
                let b = Record { v: RECORD_VERSION, seq, prev: hex::encode(prev), event: e }.encode();
                prev = hash_record(&b);
                b
            })
            .collect()
    }

    fn signer() -> Signer {
        Signer::from_seed(&[3; 32]).unwrap()
    }

    fn run(records: &[Vec<u8>], cps: &[Checkpoint]) -> VerifyReport {
        let mut v = Verifier::new(vec![signer().public_key()]);
        for (i, r) in records.iter().enumerate() {
            let _ = v.push_record(None, r);
            let seq = parse_prefix(r).map(|p| p.0).unwrap_or(i as u64 + 1);
            for cp in cps.iter().filter(|c| c.seq == seq) {
                v.push_checkpoint(cp.clone());
            }
        }
        v.finish()
    }

    #[test]
    fn prefix_parsing() {
        let r = &chain(1)[0];
        assert_eq!(parse_prefix(r), Some((1, GENESIS)));
        assert_eq!(parse_prefix(br#"{"v":1,"seq":01,"prev":""#), None);
        let upper = String::from_utf8(r.clone()).unwrap().replace(&"0".repeat(64), &"A".repeat(64));
        assert_eq!(parse_prefix(upper.as_bytes()), None);
        assert_eq!(parse_prefix(b"{}"), None);
        assert_eq!(parse_prefix(br#"{"v":1,"seq":99999999999999999999,"prev":""#), None);
    }

    #[test]
    fn good_chain_verifies() {
        let rs = chain(10);
        let s = signer();
        let cp = s.sign(10, &hash_record(&rs[9]), 1);
        let rep = run(&rs, &[cp]);
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!((rep.records, rep.last_seq, rep.checkpoints, rep.unsigned_tail), (10, 10, 1, 0));
        let rep = run(&rs[..9], &[]);
        assert!(rep.ok());
        assert_eq!(rep.unsigned_tail, 9);
    }

    #[test]
    fn tampering_is_located() {
        let rs = chain(10);
        let p = |rs: &[Vec<u8>]| run(rs, &[]).problem.unwrap();
        // Modified record 4.
        let mut m = rs.clone();
        m[3] = String::from_utf8(m[3].clone()).unwrap().replace("account:4", "account:X").into_bytes();
        let pr = p(&m);
        assert_eq!(pr.seq, 4, "{pr}");
        assert!(pr.what.contains("modified"), "{pr}");
        // Deleted record 5.
        let mut d = rs.clone();
        d.remove(4);
        let pr = p(&d);
        assert_eq!((pr.seq, pr.what.as_str()), (5, "record 5 is missing"));
        // Swapped 6 and 7.
        let mut s = rs.clone();
        s.swap(5, 6);
        let pr = p(&s);
        assert_eq!(pr.seq, 6, "{pr}");
        assert!(pr.what.contains("swapped"), "{pr}");
        // Duplicated 3.
        let mut dup = rs.clone();
        dup.insert(3, rs[2].clone());
        let pr = p(&dup);
        assert_eq!(pr.seq, 3, "{pr}");
        // The seq field of record 2 changed.
        let mut sq = rs.clone();
        sq[1] = String::from_utf8(sq[1].clone()).unwrap().replacen("\"seq\":2", "\"seq\":9", 1).into_bytes();
        assert_eq!(p(&sq).seq, 2);
        // The prev field of record 8 changed: record 8 is the bad one.
        let mut pv = rs.clone();
        let mut b = pv[7].clone();
        b[30] = if b[30] == b'a' { b'b' } else { b'a' };
        pv[7] = b;
        let pr = p(&pv);
        assert_eq!(pr.seq, 8, "{pr}");
    }

    #[test]
    fn checkpoints_cover_the_tail_and_truncation() {
        let rs = chain(10);
        let s = signer();
        let cps = [s.sign(5, &hash_record(&rs[4]), 1), s.sign(10, &hash_record(&rs[9]), 2)];
        // The last record modified: only its checkpoint can tell.
        let mut m = rs.clone();
        m[9] = String::from_utf8(m[9].clone()).unwrap().replace("account:10", "account:11").into_bytes();
        let pr = run(&m, &cps).problem.unwrap();
        assert_eq!(pr.seq, 10, "{pr}");
        // Truncated after 7: checkpoint 10 is beyond the end.
        let mut v = Verifier::new(vec![s.public_key()]);
        v.push_checkpoint(cps[0].clone());
        v.push_checkpoint(cps[1].clone());
        for r in &rs[..7] {
            v.push_record(None, r).unwrap();
        }
        let rep = v.finish();
        assert_eq!(rep.problem.unwrap().seq, 8);
        assert_eq!(rep.checkpoints, 1);
        // A trusted checkpoint past the end.
        let mut v = Verifier::new(vec![s.public_key()]);
        v.trust(cps[1].clone());
        for r in &rs[..7] {
            v.push_record(None, r).unwrap();
        }
        let pr = v.finish().problem.unwrap();
        assert_eq!(pr.seq, 8);
        assert!(pr.what.contains("truncated before trusted checkpoint at seq 10"), "{pr}");
        // A bad signature.
        let mut bad = cps[0].clone();
        bad.time += 1;
        let pr = run(&rs, &[bad]).problem.unwrap();
        assert_eq!(pr.seq, 5);
        assert!(pr.what.contains("bad signature"));
        // An unknown key.
        let other = Signer::from_seed(&[4; 32]).unwrap().sign(5, &hash_record(&rs[4]), 1);
        assert!(run(&rs, &[other]).problem.unwrap().what.contains("unknown key"));
    }

    #[test]
    fn start_after_a_checkpoint() {
        let rs = chain(10);
        let s = signer();
        let mut v = Verifier::new(vec![s.public_key()]);
        v.start_after(s.sign(4, &hash_record(&rs[3]), 1)).unwrap();
        for r in &rs[4..] {
            v.push_record(None, r).unwrap();
        }
        let rep = v.finish();
        assert!(rep.ok());
        assert_eq!((rep.first_seq, rep.records), (Some(5), 6));
        // A start that does not match the next record.
        let mut v = Verifier::new(vec![s.public_key()]);
        v.start_after(s.sign(4, &hash_record(&rs[2]), 1)).unwrap();
        assert_eq!(v.push_record(None, &rs[4]).unwrap_err().seq, 5);
    }
}
