//! The store conformance suite against SQLite (always) and PostgreSQL (when
//! `HAVEN_TEST_POSTGRES_URL` is set, as `.ci/run` does), plus the
//! plaintext-at-rest acceptance check on both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use haven_core::ResourceType;
use haven_crypto::LocalKeyring;
use haven_store::{IndexTerm, PgBackend, SqliteBackend, Store};

const NAME: &str = "Zebulon Quixote-Marchetti";
const PHONE: &str = "617-555-0142";

async fn sqlite_store(dir: &Path) -> (Store, Arc<LocalKeyring>) {
    let keyring = Arc::new(LocalKeyring::create(&dir.join("keyring.json")).unwrap());
    let backend = Arc::new(SqliteBackend::open(&dir.join("haven.db")).await.unwrap());
    (Store::new(backend, keyring.clone()).await.unwrap(), keyring)
}

fn postgres_url() -> Option<String> {
    match std::env::var("HAVEN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: PostgreSQL backend tests (set HAVEN_TEST_POSTGRES_URL to run them)");
            None
        }
    }
}

fn unique_schema() -> String {
    format!("haven_test_{}", uuid_like())
}

fn uuid_like() -> String {
    let mut b = [0u8; 8];
    haven_crypto::random_bytes(&mut b).unwrap();
    hex::encode(b)
}

async fn store_phi(store: &Store) {
    let body = serde_json::json!({
        "resourceType": "Patient",
        "name": [{"text": NAME}],
        "telecom": [{"system": "phone", "value": PHONE}],
    });
    let terms = [IndexTerm::new("name", NAME.to_lowercase()), IndexTerm::new("phone", "6175550142")];
    let p = ResourceType::parse("Patient").unwrap();
    let m = store.create(&p, None, body.to_string().as_bytes(), &terms).await.unwrap();
    // Several versions, so history is on disk too.
    store.update(&p, &m.id, None, body.to_string().as_bytes(), &terms).await.unwrap();
    assert_eq!(store.find(&p, "phone", "6175550142").await.unwrap(), vec![m.id]);
}

/// Every encoding of a needle an attacker might grep a disk for.
fn encodings(needle: &str) -> Vec<Vec<u8>> {
    let mut out = vec![needle.as_bytes().to_vec(), needle.to_lowercase().into_bytes()];
    out.push(needle.encode_utf16().flat_map(|u| u.to_le_bytes()).collect());
    out.push(needle.encode_utf16().flat_map(|u| u.to_be_bytes()).collect());
    out.push(hex::encode(needle).into_bytes());
    // Base64 at each of the three alignments, minus the edge characters
    // that depend on neighbouring bytes.
    for pad in 0..3 {
        let mut s = vec![b'.'; pad];
        s.extend_from_slice(needle.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&s);
        let skip = if pad == 0 { 0 } else { 4 };
        out.push(b64.as_bytes()[skip..b64.len() - 4].to_vec());
    }
    out
}

fn assert_absent(haystack: &[u8], what: &str) {
    for needle in [NAME, PHONE, "6175550142"] {
        for enc in encodings(needle) {
            assert!(!haystack.windows(enc.len()).any(|w| w == enc.as_slice()), "{what} contains a form of {needle:?}");
        }
    }
}

#[tokio::test]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let (store, keyring) = sqlite_store(dir.path()).await;
    haven_store::conformance::run_all(&store, &keyring).await;
}

#[tokio::test]
async fn sqlite_holds_no_plaintext_phi() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _keyring) = sqlite_store(dir.path()).await;
    store_phi(&store).await;
    // Check while the WAL still holds the writes, then after a checkpoint.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("haven.db") {
            assert_absent(&std::fs::read(&path).unwrap(), &path.display().to_string());
        }
    }
    let backend = SqliteBackend::open(&dir.path().join("haven.db")).await.unwrap();
    backend.close().await;
    let wal_gone_or_checked = dir.path().join("haven.db");
    assert_absent(&std::fs::read(&wal_gone_or_checked).unwrap(), "haven.db after checkpoint");
}

#[tokio::test]
async fn postgres_conformance() {
    let Some(url) = postgres_url() else { return };
    let schema = unique_schema();
    let dir = tempfile::tempdir().unwrap();
    let keyring = Arc::new(LocalKeyring::create(&dir.path().join("keyring.json")).unwrap());
    let backend = Arc::new(PgBackend::connect(&url, Some(&schema), 8).await.unwrap());
    let store = Store::new(backend, keyring.clone()).await.unwrap();
    haven_store::conformance::run_all(&store, &keyring).await;
    PgBackend::drop_schema(&url, &schema).await.unwrap();
}

#[tokio::test]
async fn postgres_holds_no_plaintext_phi() {
    let Some(url) = postgres_url() else { return };
    let schema = unique_schema();
    let dir = tempfile::tempdir().unwrap();
    let keyring = Arc::new(LocalKeyring::create(&dir.path().join("keyring.json")).unwrap());
    let backend = Arc::new(PgBackend::connect(&url, Some(&schema), 4).await.unwrap());
    let store = Store::new(backend.clone(), keyring).await.unwrap();
    store_phi(&store).await;
    // A dump of every table in the schema, as text (bytea comes out as hex).
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1")
            .bind(&schema)
            .fetch_all(backend.pool())
            .await
            .unwrap();
    assert!(tables.len() >= 3, "{tables:?}");
    let mut dump = Vec::new();
    for (t,) in tables {
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT t::text FROM {t} t")).fetch_all(backend.pool()).await.unwrap();
        for (r,) in rows {
            dump.extend_from_slice(r.as_bytes());
            dump.push(b'\n');
        }
    }
    assert!(!dump.is_empty());
    assert_absent(&dump, "PostgreSQL tables");
    PgBackend::drop_schema(&url, &schema).await.unwrap();
}

/// Writes told to the observer: type, id and payload.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<(String, String, Vec<u8>)>>);

impl haven_store::WriteObserver for Seen {
    fn written(&self, rtype: &ResourceType, id: &haven_core::ResourceId, payload: &[u8]) {
        self.0.lock().unwrap().push((rtype.as_str().into(), id.as_str().into(), payload.to_vec()));
    }
}

#[tokio::test]
async fn the_write_observer_sees_every_successful_write() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sqlite_store(dir.path()).await;
    let seen = Arc::new(Seen::default());
    assert!(store.observe_writes(seen.clone()));
    assert!(!store.clone().observe_writes(Arc::new(Seen::default())), "clones share the one observer");
    let p = ResourceType::parse("Patient").unwrap();
    let m = store.create(&p, None, b"{\"v\":1}", &[]).await.unwrap();
    store.update(&p, &m.id, None, b"{\"v\":2}", &[]).await.unwrap();
    // A failed write is not told.
    assert!(store.create(&p, Some(m.id.clone()), b"{\"v\":3}", &[]).await.is_err());
    let id2 = haven_core::ResourceId::parse("b2").unwrap();
    let items = [haven_store::BatchItem {
        rtype: p.clone(),
        id: id2,
        precondition: haven_store::Precondition::None,
        payload: Some(b"{\"v\":4}".to_vec()),
        terms: Vec::new(),
    }];
    store.write_batch(&items).await.unwrap();
    let seen = seen.0.lock().unwrap();
    let payloads: Vec<&[u8]> = seen.iter().map(|s| s.2.as_slice()).collect();
    assert_eq!(payloads, [&b"{\"v\":1}"[..], b"{\"v\":2}", b"{\"v\":4}"]);
    assert_eq!((seen[2].0.as_str(), seen[2].1.as_str()), ("Patient", "b2"));
}
