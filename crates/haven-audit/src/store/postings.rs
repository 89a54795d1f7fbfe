//! Posting lists for the SQLite log's search index, written once per
//! segment of records.
//!
//! Searches by patient or actor go through an index; its cost is what every
//! record pays. A row per (key, record) in a B-tree keyed by random ids
//! dirtied a page per row and held the indexer to ~33k records/s of CPU and
//! I/O. Here the log is cut into segments of 2^bits consecutive sequence
//! numbers; when a segment is complete its records are read back once and
//! each distinct key of the segment gets one row: the offsets (within the
//! segment, u16) of the records that name it. The last, incomplete segment
//! is not indexed; a search reads it directly.

use serde::Deserialize;

use super::{AuditQuery, StoredRecord};
use crate::AuditError;
use crate::record::Outcome;

/// Posting kind of patient ids.
pub(crate) const PATIENT: i64 = 0;
/// Posting kind of actor ids and the FHIR resources actors are linked to.
pub(crate) const ACTOR: i64 = 1;

/// The fields of a record that searches filter on.
#[derive(Deserialize)]
pub(crate) struct Keys {
    time: i64,
    actor: KeyActor,
    action: String,
    outcome: Outcome,
    #[serde(default)]
    patients: Vec<String>,
}

#[derive(Deserialize)]
struct KeyActor {
    id: String,
    #[serde(default)]
    fhir: Option<String>,
}

impl Keys {
    /// Reads the searchable fields of a stored record.
    pub fn of(r: &StoredRecord) -> Result<Keys, AuditError> {
        serde_json::from_slice(&r.bytes)
            .map_err(|e| AuditError::Corrupt(format!("record {} cannot be searched: {e}", r.seq)))
    }

    /// Whether the record satisfies every filter of `q` but the sequence bounds.
    pub fn matches(&self, q: &AuditQuery) -> bool {
        q.patient.as_ref().is_none_or(|p| self.patients.contains(p))
            && q.actor.as_ref().is_none_or(|a| *a == self.actor.id || self.actor.fhir.as_ref() == Some(a))
            && q.action.as_ref().is_none_or(|a| match a.strip_suffix('.') {
                Some(_) => self.action.starts_with(a.as_str()),
                None => self.action == *a,
            })
            && q.outcome.is_none_or(|o| o == self.outcome)
            && q.since.is_none_or(|t| self.time >= t)
            && q.until.is_none_or(|t| self.time < t)
    }
}

/// The segment a sequence number falls in (segment 0 holds 1..=2^bits).
pub(crate) fn segment_of(seq: u64, bits: u32) -> u64 {
    seq.saturating_sub(1) >> bits
}

/// One row of postings: kind, key, segment, offsets (u16 LE, ascending).
pub(crate) type Posting = (i64, String, i64, Vec<u8>);

/// Records parsed between rests when building is paced.
const SLICE: usize = 1024;

/// The postings of one segment's records (all of them in `segment`). Paced,
/// it sleeps after each slice of records as long as the slice took (call it
/// on a blocking thread).
pub(crate) fn build(segment: u64, bits: u32, records: &[StoredRecord], pace: bool) -> Result<Vec<Posting>, AuditError> {
    use std::collections::BTreeMap;
    let base = (segment << bits) + 1;
    let seg = i64::try_from(segment).map_err(|_| AuditError::Corrupt("segment out of range".into()))?;
    let mut lists: BTreeMap<(i64, String), Vec<u16>> = BTreeMap::new();
    let mut started = std::time::Instant::now();
    for (i, r) in records.iter().enumerate() {
        if pace && i > 0 && i % SLICE == 0 {
            std::thread::sleep(started.elapsed());
            started = std::time::Instant::now();
        }
        let offset = r
            .seq
            .checked_sub(base)
            .and_then(|o| u16::try_from(o).ok())
            .filter(|o| u64::from(*o) < 1u64 << bits)
            .ok_or_else(|| AuditError::Corrupt(format!("record {} is not in segment {segment}", r.seq)))?;
        let k = Keys::of(r)?;
        let mut push = |kind: i64, key: String| {
            let l = lists.entry((kind, key)).or_default();
            if l.last() != Some(&offset) {
                l.push(offset);
            }
        };
        for p in k.patients {
            push(PATIENT, p);
        }
        if let Some(f) = k.actor.fhir {
            push(ACTOR, f);
        }
        push(ACTOR, k.actor.id);
    }
    // Records arrive in seq order, so each list is already ascending.
    Ok(lists
        .into_iter()
        .map(|((kind, key), offs)| (kind, key, seg, offs.iter().flat_map(|o| o.to_le_bytes()).collect()))
        .collect())
}

/// The sequence numbers a posting row lists.
pub(crate) fn decode(segment: i64, bits: u32, offsets: &[u8]) -> Result<Vec<u64>, AuditError> {
    let base = u64::try_from(segment).map_err(|_| AuditError::Corrupt("negative segment".into()))? << bits;
    if !offsets.len().is_multiple_of(2) {
        return Err(AuditError::Corrupt(format!("postings of segment {segment} are damaged")));
    }
    Ok(offsets.chunks_exact(2).map(|c| base + 1 + u64::from(u16::from_le_bytes([c[0], c[1]]))).collect())
}

/// Sorted intersection of two ascending lists.
pub(crate) fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::record::{Actor, Event, RECORD_VERSION, Record};

    fn rec(seq: u64, actor: &str, fhir: Option<&str>, patients: &[&str], action: &str) -> StoredRecord {
        let mut e = Event::new(
            Actor { id: actor.into(), fhir: fhir.map(str::to_owned), ..Default::default() },
            action,
            Outcome::Success,
        );
        e.time = seq as i64 * 10;
        e.patients = patients.iter().map(|p| (*p).to_owned()).collect();
        StoredRecord { seq, bytes: Record { v: RECORD_VERSION, seq, prev: "0".repeat(64), event: e }.encode() }
    }

    #[test]
    fn postings_list_each_key_once_per_record_and_decode_back() {
        let bits = 3; // segments of 8
        let rs = vec![
            rec(9, "account:a", Some("Practitioner/x"), &["p1", "p2"], "fhir.read"),
            rec(10, "account:a", Some("Practitioner/x"), &["p1"], "fhir.search"),
            rec(16, "account:b", None, &["p2"], "auth.login"),
        ];
        assert_eq!((segment_of(9, bits), segment_of(16, bits), segment_of(8, bits)), (1, 1, 0));
        let p = build(1, bits, &rs, false).unwrap();
        let find = |kind, key: &str| {
            let (_, _, seg, offs) = p.iter().find(|(k, n, _, _)| *k == kind && n == key).unwrap();
            decode(*seg, bits, offs).unwrap()
        };
        assert_eq!(find(PATIENT, "p1"), [9, 10]);
        assert_eq!(find(PATIENT, "p2"), [9, 16]);
        assert_eq!(find(ACTOR, "account:a"), [9, 10]);
        assert_eq!(find(ACTOR, "Practitioner/x"), [9, 10]);
        assert_eq!(find(ACTOR, "account:b"), [16]);
        assert_eq!(p.len(), 5);
        // A record outside the segment is refused, not misfiled.
        assert!(build(1, bits, &[rec(17, "a", None, &[], "x")], false).is_err());
        assert!(build(1, bits, &[rec(8, "a", None, &[], "x")], true).is_err());
        assert!(decode(1, bits, &[1]).is_err());
    }

    #[test]
    fn filters_and_intersections() {
        let k = Keys::of(&rec(9, "account:a", Some("Practitioner/x"), &["p1"], "fhir.read")).unwrap();
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            k.matches(&q)
        };
        assert!(q(|_| {}));
        assert!(q(|q| q.patient = Some("p1".into())) && !q(|q| q.patient = Some("p2".into())));
        assert!(q(|q| q.actor = Some("Practitioner/x".into())) && q(|q| q.actor = Some("account:a".into())));
        assert!(!q(|q| q.actor = Some("account:b".into())));
        assert!(q(|q| q.action = Some("fhir.".into())) && q(|q| q.action = Some("fhir.read".into())));
        assert!(!q(|q| q.action = Some("fhir.rea".into())) && !q(|q| q.action = Some("auth.".into())));
        assert!(q(|q| q.outcome = Some(Outcome::Success)) && !q(|q| q.outcome = Some(Outcome::Denied)));
        assert!(q(|q| q.since = Some(90)) && !q(|q| q.since = Some(91)));
        assert!(q(|q| q.until = Some(91)) && !q(|q| q.until = Some(90)));
        assert_eq!(intersect(&[1, 3, 5, 7], &[3, 4, 5, 8]), [3, 5]);
        assert!(intersect(&[], &[1]).is_empty());
    }
}
