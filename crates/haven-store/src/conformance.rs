//! The behaviour every backend must show, as one suite both backends run
//! (`tests/conformance.rs`). Each check panics with a message on failure.

use std::fmt::Debug;

use haven_core::{ResourceId, ResourceType, VersionId};
use haven_crypto::{CryptoError, LocalKeyring};

use crate::{BatchItem, IndexTerm, Precondition, Store, StoreError, VersionRow};

fn ok<T, E: Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

fn t(s: &str) -> ResourceType {
    ok(ResourceType::parse(s), "type")
}

fn v(n: u64) -> VersionId {
    ok(VersionId::new(n), "version")
}

/// Runs every check against `store`, whose keys come from `keyring`.
/// The store must be empty.
pub async fn run_all(store: &Store, keyring: &LocalKeyring) {
    create_read_versions(store).await;
    optimistic_concurrency(store).await;
    soft_delete(store).await;
    purge(store).await;
    blind_index(store).await;
    concurrent_writers(store).await;
    tampering_is_detected(store).await;
    listing_pages(store).await;
    atomic_batches(store).await;
    index_search(store).await;
    key_rotation(store, keyring).await;
}

fn item(rtype: &str, id: &str, pre: Precondition, payload: Option<&[u8]>, terms: &[(&str, &str)]) -> BatchItem {
    BatchItem {
        rtype: t(rtype),
        id: ok(ResourceId::parse(id), "id"),
        precondition: pre,
        payload: payload.map(<[u8]>::to_vec),
        terms: terms.iter().map(|(n, v)| IndexTerm::new(*n, *v)).collect(),
    }
}

/// A batch is all or nothing, checks every precondition, and many-record
/// reads return what the batch wrote.
pub async fn atomic_batches(store: &Store) {
    let items: Vec<BatchItem> = (0..1200)
        .map(|i| {
            item("Encounter", &format!("batch-{i}"), Precondition::MustNotExist, Some(b"{}"), &[("status", "done")])
        })
        .collect();
    let out = ok(store.write_batch(&items).await, "batch create");
    assert_eq!(out.len(), 1200);
    assert!(out.iter().all(|o| o.created && o.meta.version == VersionId::FIRST));
    // One failing precondition: nothing of the batch is written.
    let mixed = vec![
        item("Encounter", "batch-new", Precondition::None, Some(b"{\"new\":1}"), &[]),
        item("Encounter", "batch-1", Precondition::Version(v(7)), Some(b"{}"), &[]),
    ];
    assert!(matches!(store.write_batch(&mixed).await, Err(StoreError::VersionConflict { .. })));
    let new_id = ok(ResourceId::parse("batch-new"), "id");
    assert!(matches!(store.read(&t("Encounter"), &new_id).await, Err(StoreError::NotFound)));
    let twice = vec![item("Encounter", "batch-2", Precondition::None, Some(b"{}"), &[]); 2];
    assert!(matches!(store.write_batch(&twice).await, Err(StoreError::Invalid(_))));
    // Update, delete and create together.
    let mixed = vec![
        item("Encounter", "batch-new", Precondition::None, Some(b"{\"new\":1}"), &[]),
        item("Encounter", "batch-1", Precondition::Version(v(1)), Some(b"{\"v\":2}"), &[]),
        item("Encounter", "batch-3", Precondition::None, None, &[]),
    ];
    let out = ok(store.write_batch(&mixed).await, "mixed batch");
    assert!(out[0].created && !out[1].created && out[2].meta.deleted);
    let ids: Vec<ResourceId> =
        ["batch-1", "batch-3", "batch-new", "nope"].iter().map(|i| ok(ResourceId::parse(i), "id")).collect();
    let read = ok(store.read_many(&t("Encounter"), &ids).await, "read_many");
    let got: Vec<(&str, u64)> = read.iter().map(|r| (r.meta.id.as_str(), r.meta.version.get())).collect();
    assert_eq!(got, vec![("batch-1", 2), ("batch-new", 1)], "deleted and missing records are left out");
    assert_eq!(read[0].payload, b"{\"v\":2}");
}

/// Index searches intersect clauses, match any value of a clause, and
/// forget deleted records and replaced values.
pub async fn index_search(store: &Store) {
    let obs = t("Observation");
    let ids: Vec<ResourceId> = ["s1", "s2", "s3"].iter().map(|i| ok(ResourceId::parse(i), "id")).collect();
    for (id, code, status) in [(&ids[0], "a", "final"), (&ids[1], "b", "final"), (&ids[2], "a", "draft")] {
        let terms = [IndexTerm::new("code", code), IndexTerm::new("status", status)];
        ok(store.create(&obs, Some(id.clone()), b"{}", &terms).await, "create");
    }
    let q = |c: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        c.iter().map(|(n, vs)| ((*n).to_owned(), vs.iter().map(|v| (*v).to_owned()).collect())).collect()
    };
    let found = ok(store.search(&obs, &q(&[("code", &["a"]), ("status", &["final"])])).await, "search");
    assert_eq!(found, vec![ids[0].clone()]);
    let found = ok(store.search(&obs, &q(&[("code", &["a", "b"])])).await, "search");
    assert_eq!(found, ids);
    assert!(ok(store.search(&obs, &q(&[("code", &["zzz"])])).await, "search").is_empty());
    assert!(ok(store.search(&t("Patient"), &q(&[("code", &["a"])])).await, "search").is_empty());
    ok(store.delete(&obs, &ids[0], None).await, "delete");
    ok(store.update(&obs, &ids[2], None, b"{}", &[IndexTerm::new("code", "c")]).await, "update");
    let found = ok(store.search(&obs, &q(&[("code", &["a", "b"])])).await, "search");
    assert_eq!(found, vec![ids[1].clone()]);
}

/// Create, read, update, vread and history.
pub async fn create_read_versions(store: &Store) {
    let p = t("Patient");
    let m = ok(store.create(&p, None, br#"{"n":1}"#, &[]).await, "create");
    assert_eq!(m.version, VersionId::FIRST);
    let r = ok(store.read(&p, &m.id).await, "read");
    assert_eq!(r.payload, br#"{"n":1}"#);
    let (m2, created) = ok(store.update(&p, &m.id, None, br#"{"n":2}"#, &[]).await, "update");
    assert!(!created);
    assert_eq!(m2.version, v(2));
    assert!(m2.last_updated >= m.last_updated);
    assert_eq!(ok(store.read(&p, &m.id).await, "read").payload, br#"{"n":2}"#);
    assert_eq!(ok(store.vread(&p, &m.id, v(1)).await, "vread").payload, br#"{"n":1}"#);
    let h = ok(store.history(&p, &m.id).await, "history");
    assert_eq!(h.iter().map(|r| r.meta.version.get()).collect::<Vec<_>>(), vec![2, 1]);
    assert!(matches!(store.vread(&p, &m.id, v(3)).await, Err(StoreError::NotFound)));
    let missing = ok(ResourceId::parse("does-not-exist"), "id");
    assert!(matches!(store.read(&p, &missing).await, Err(StoreError::NotFound)));
    // The same id under another type is another record.
    assert!(matches!(store.read(&t("Observation"), &m.id).await, Err(StoreError::NotFound)));
    // Creating an existing id fails; updating an absent id creates it.
    assert!(matches!(store.create(&p, Some(m.id.clone()), b"{}", &[]).await, Err(StoreError::AlreadyExists)));
    let fresh = ok(ResourceId::parse("client-chosen-1"), "id");
    let (m3, created) = ok(store.update(&p, &fresh, None, b"{}", &[]).await, "update-as-create");
    assert!(created);
    assert_eq!(m3.version, VersionId::FIRST);
}

/// If-Match style version checks.
pub async fn optimistic_concurrency(store: &Store) {
    let p = t("Encounter");
    let m = ok(store.create(&p, None, b"{}", &[]).await, "create");
    let e = store.update(&p, &m.id, Some(v(7)), b"{}", &[]).await;
    assert!(
        matches!(e, Err(StoreError::VersionConflict { expected, current }) if expected == v(7) && current == v(1)),
        "{e:?}"
    );
    ok(store.update(&p, &m.id, Some(v(1)), b"{\"a\":1}", &[]).await, "matching update");
    assert!(matches!(store.delete(&p, &m.id, Some(v(1))).await, Err(StoreError::VersionConflict { .. })));
    let absent = ok(ResourceId::parse("absent"), "id");
    assert!(matches!(store.update(&p, &absent, Some(v(1)), b"{}", &[]).await, Err(StoreError::NotFound)));
}

/// Deletion keeps history and answers `Gone`; a later update revives.
pub async fn soft_delete(store: &Store) {
    let p = t("Condition");
    let m = ok(store.create(&p, None, b"{\"c\":1}", &[IndexTerm::new("code", "x")]).await, "create");
    let d = ok(store.delete(&p, &m.id, None).await, "delete");
    assert!(d.deleted);
    assert_eq!(d.version, v(2));
    assert!(matches!(store.read(&p, &m.id).await, Err(StoreError::Gone { version }) if version == v(2)));
    let again = ok(store.delete(&p, &m.id, None).await, "delete again");
    assert_eq!(again.version, v(2), "deleting twice writes nothing new");
    assert_eq!(ok(store.vread(&p, &m.id, v(1)).await, "old version").payload, b"{\"c\":1}");
    assert!(ok(store.find(&p, "code", "x").await, "find").is_empty(), "deleted records leave the index");
    let (m3, _) = ok(store.update(&p, &m.id, None, b"{\"c\":3}", &[]).await, "revive");
    assert_eq!(m3.version, v(3));
    assert_eq!(ok(store.history(&p, &m.id).await, "history").len(), 3);
}

/// Purging erases every version and index entry; other records are untouched.
pub async fn purge(store: &Store) {
    let c = t("HavenConversation");
    let m = ok(store.create(&c, None, b"{\"m\":1}", &[IndexTerm::new("owner", "a1")]).await, "create");
    ok(store.update(&c, &m.id, None, b"{\"m\":2}", &[IndexTerm::new("owner", "a1")]).await, "update");
    let other = ok(store.create(&c, None, b"{}", &[IndexTerm::new("owner", "a1")]).await, "create other");
    assert!(ok(store.purge(&c, &m.id).await, "purge"));
    assert!(matches!(store.read(&c, &m.id).await, Err(StoreError::NotFound)), "gone, not deleted");
    assert!(matches!(store.history(&c, &m.id).await, Err(StoreError::NotFound)), "no history left");
    assert_eq!(ok(store.find(&c, "owner", "a1").await, "find"), vec![other.id.clone()]);
    assert!(!ok(store.purge(&c, &m.id).await, "purge again"), "nothing left to erase");
    ok(store.read(&c, &other.id).await, "the other record stays");
}

/// Exact-match search through HMAC values.
pub async fn blind_index(store: &Store) {
    let p = t("Patient");
    let terms = [IndexTerm::new("phone", "6175550142"), IndexTerm::new("family", "quixote-marchetti")];
    let a = ok(store.create(&p, None, b"{}", &terms).await, "create a");
    let b = ok(store.create(&p, None, b"{}", &terms[..1]).await, "create b");
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    assert_eq!(ok(store.find(&p, "phone", "6175550142").await, "find"), both);
    assert_eq!(ok(store.find(&p, "family", "quixote-marchetti").await, "find"), vec![a.id.clone()]);
    assert!(ok(store.find(&p, "family", "6175550142").await, "find").is_empty(), "indexes are separate");
    assert!(ok(store.find(&t("Practitioner"), "phone", "6175550142").await, "find").is_empty(), "types are separate");
    ok(store.update(&p, &a.id, None, b"{}", &[IndexTerm::new("phone", "6175550199")]).await, "update");
    assert_eq!(ok(store.find(&p, "phone", "6175550142").await, "find"), vec![b.id.clone()]);
    assert_eq!(ok(store.find(&p, "phone", "6175550199").await, "find"), vec![a.id.clone()]);
}

/// Writers racing on one record all land, each on its own version.
pub async fn concurrent_writers(store: &Store) {
    let p = t("Observation");
    let m = ok(store.create(&p, None, b"{}", &[]).await, "create");
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let (p, id) = (p.clone(), m.id.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let body = format!("{{\"w\":{w},\"i\":{i}}}");
                ok(store.update(&p, &id, None, body.as_bytes(), &[]).await, "racing update");
            }
        }));
    }
    for task in tasks {
        ok(task.await, "join");
    }
    let h = ok(store.history(&p, &m.id).await, "history");
    assert_eq!(h.len(), 21);
    assert_eq!(h[0].meta.version, v(21));
}

/// A corrupted ciphertext, or one copied onto another record, never
/// decrypts: the caller gets a typed error, not wrong plaintext.
pub async fn tampering_is_detected(store: &Store) {
    let p = t("Patient");
    let a = ok(store.create(&p, None, b"{\"who\":\"a\"}", &[]).await, "create a");
    let b = ok(store.create(&p, None, b"{\"who\":\"b\"}", &[]).await, "create b");
    let row_a = ok(store.backend().get(&p, &a.id, v(1)).await, "get").unwrap_or_else(|| panic!("row a missing"));
    // Copy a's ciphertext and key onto b's next version.
    let copied = VersionRow { id: b.id.clone(), version: v(2), ..row_a.clone() };
    ok(store.backend().write(&copied, Some(v(1)), &[]).await, "raw write");
    let e = store.read(&p, &b.id).await;
    assert!(matches!(e, Err(StoreError::Crypto(CryptoError::Decrypt))), "{e:?}");
    // Flip one byte of a's payload.
    let mut flipped = row_a.clone();
    let last = flipped.payload.len() - 1;
    flipped.payload[last] ^= 0x01;
    flipped.version = v(2);
    ok(store.backend().write(&flipped, Some(v(1)), &[]).await, "raw write");
    let e = store.read(&p, &a.id).await;
    assert!(matches!(e, Err(StoreError::Crypto(CryptoError::Decrypt))), "{e:?}");
    // A key wrapped under a version the keyring never had.
    let mut unknown = row_a;
    unknown.wrapped_key[1..5].copy_from_slice(&999u32.to_be_bytes());
    unknown.version = v(3);
    ok(store.backend().write(&unknown, Some(v(2)), &[]).await, "raw write");
    let e = store.read(&p, &a.id).await;
    assert!(matches!(e, Err(StoreError::Crypto(CryptoError::UnknownKeyVersion(999)))), "{e:?}");
}

/// Paging through live records in (type, id) order.
pub async fn listing_pages(store: &Store) {
    let s = t("Slot");
    for i in 0..5 {
        let id = ok(ResourceId::parse(&format!("slot-{i}")), "id");
        ok(store.create(&s, Some(id), b"{}", &[]).await, "create");
    }
    ok(store.delete(&s, &ok(ResourceId::parse("slot-2"), "id"), None).await, "delete");
    let first = ok(store.list(Some(&s), None, 2).await, "list");
    assert_eq!(first.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["slot-0", "slot-1"]);
    let last = &first[1];
    let rest = ok(store.list(Some(&s), Some((&last.0, &last.1)), 10).await, "list");
    assert_eq!(rest.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["slot-3", "slot-4"]);
}

/// Rotating the KEK, re-wrapping every data key, retiring the old version.
pub async fn key_rotation(store: &Store, keyring: &LocalKeyring) {
    let p = t("MedicationRequest");
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(ok(store.create(&p, None, format!("{{\"i\":{i}}}").as_bytes(), &[]).await, "create").id);
    }
    let old = ok(store.key_provider().active_version().await, "active").get();
    let new = ok(keyring.rotate(), "rotate").get();
    assert_eq!(new, old + 1);
    let report = ok(store.rewrap_all(10).await, "rewrap");
    // Rows the tampering check broke cannot be unwrapped: reported, not fatal.
    let usage = ok(store.kek_usage().await, "usage");
    assert_eq!(usage.get(&old).copied().unwrap_or(0), report.failed.len() as u64, "{usage:?} {report:?}");
    assert!(report.rewrapped >= 25, "{report:?}");
    assert!(ok(store.rewrap_all(10).await, "second pass").rewrapped == 0);
    ok(keyring.retire(ok(haven_crypto::KekVersion::new(old), "kek")), "retire");
    for (i, id) in ids.iter().enumerate() {
        let r = ok(store.read(&p, id).await, "read after rotation");
        assert_eq!(r.payload, format!("{{\"i\":{i}}}").as_bytes());
    }
}
