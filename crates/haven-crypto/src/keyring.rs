//! Key-encryption keys: the local keyring file and the environment provider.
//!
//! The keyring file (JSON, mode 0600) holds several KEK versions, exactly one
//! active; older ones stay `decrypt-only` until nothing is wrapped under them,
//! then are `retired` (their key material erased). The file is rewritten
//! atomically (temp file, fsync, rename), and a running server notices a
//! rotation made by another process by watching the file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::{Zeroize, Zeroizing};

use crate::aead::{open, seal};
use crate::{BlindIndexKey, CryptoError, DataKey, KeyProvider, WrappedKey};

/// How often a running process looks at the keyring file for changes.
const RELOAD_CHECK: Duration = Duration::from_millis(200);

/// A KEK version number (1, 2, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct KekVersion(u32);

impl KekVersion {
    /// The first version.
    pub const FIRST: KekVersion = KekVersion(1);

    /// Builds a version; 0 is not one.
    pub fn new(n: u32) -> Result<Self, CryptoError> {
        if n == 0 { Err(CryptoError::Malformed("KEK version 0")) } else { Ok(KekVersion(n)) }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for KekVersion {
    type Error = CryptoError;
    fn try_from(n: u32) -> Result<Self, CryptoError> {
        KekVersion::new(n)
    }
}

impl From<KekVersion> for u32 {
    fn from(v: KekVersion) -> u32 {
        v.0
    }
}

impl std::fmt::Display for KekVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A key-encryption key (never printed, wiped on drop).
#[derive(Clone)]
pub struct Kek(DataKey);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek([REDACTED])")
    }
}

/// The life-cycle state of a KEK version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KekState {
    /// Wraps new data keys (exactly one version).
    Active,
    /// Still unwraps keys wrapped earlier; wraps nothing new.
    DecryptOnly,
    /// Key material erased: nothing wrapped under it can be read.
    Retired,
}

/// The versions a provider holds, and the wrap/unwrap both providers share.
#[derive(Clone)]
struct KekSet {
    active: KekVersion,
    keks: BTreeMap<KekVersion, Kek>,
    index_key: BlindIndexKey,
}

fn wrap_aad(version: KekVersion, aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + aad.len());
    v.extend_from_slice(b"haven-dek/v1");
    v.extend_from_slice(&version.get().to_be_bytes());
    v.extend_from_slice(aad);
    v
}

impl KekSet {
    fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
        let kek = self.keks.get(&self.active).ok_or(CryptoError::UnknownKeyVersion(self.active.get()))?;
        let body = seal(&kek.0, &wrap_aad(self.active, aad), key.expose())?;
        Ok(WrappedKey::new(self.active, &body))
    }

    fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, CryptoError> {
        let v = wrapped.version();
        let kek = self.keks.get(&v).ok_or(CryptoError::UnknownKeyVersion(v.get()))?;
        let raw = Zeroizing::new(open(&kek.0, &wrap_aad(v, aad), wrapped.body())?);
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::Malformed("data key length"))?;
        Ok(DataKey::from_bytes(bytes))
    }
}

fn decode_key(b64: &str, what: &str) -> Result<DataKey, String> {
    let mut raw = B64.decode(b64.trim()).map_err(|_| format!("{what} is not valid base64"))?;
    let r = <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| format!("{what} must be 32 bytes"));
    raw.zeroize();
    r.map(DataKey::from_bytes)
}

// ----- the keyring file -------------------------------------------------------

#[derive(serde::Serialize, serde::Deserialize)]
struct KeyringFile {
    format: u32,
    active: KekVersion,
    keks: Vec<KekEntry>,
    blind_index_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signing_key: Option<String>,
}

impl Drop for KeyringFile {
    fn drop(&mut self) {
        self.blind_index_key.zeroize();
        self.signing_key.zeroize();
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KekEntry {
    version: KekVersion,
    state: KekState,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl Drop for KekEntry {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// One row of [`LocalKeyring::status`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct KekInfo {
    /// The version.
    pub version: KekVersion,
    /// Its state.
    pub state: KekState,
    /// When it was created (RFC 3339).
    pub created: String,
}

struct Loaded {
    set: KekSet,
    infos: Vec<KekInfo>,
    stamp: (SystemTime, u64, u64),
    checked: Instant,
}

/// The local keyring: a 0600 JSON file in the data directory.
pub struct LocalKeyring {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyring").field("path", &self.path).finish_non_exhaustive()
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn random_key_b64() -> Result<String, CryptoError> {
    let mut k = Zeroizing::new([0u8; 32]);
    crate::random_bytes(k.as_mut())?;
    Ok(B64.encode(k.as_ref()))
}

impl LocalKeyring {
    fn err(&self, reason: impl Into<String>) -> CryptoError {
        keyring_err(&self.path, reason)
    }

    /// Creates a new keyring file with one active KEK, a blind-index key and
    /// a signing-key seed. Fails if the file exists.
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        let file = KeyringFile {
            format: 1,
            active: KekVersion::FIRST,
            keks: vec![KekEntry {
                version: KekVersion::FIRST,
                state: KekState::Active,
                created: now_rfc3339(),
                key: Some(random_key_b64()?),
            }],
            blind_index_key: random_key_b64()?,
            signing_key: Some(random_key_b64()?),
        };
        let json = Zeroizing::new(serde_json::to_vec_pretty(&file).map_err(|e| keyring_err(path, e.to_string()))?);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| keyring_err(path, format!("cannot create: {e}")))?;
        f.write_all(&json).and_then(|_| f.sync_all()).map_err(|e| keyring_err(path, format!("cannot write: {e}")))?;
        Self::open(path)
    }

    /// Opens an existing keyring, refusing one that group or others can read.
    pub fn open(path: &Path) -> Result<Self, CryptoError> {
        let loaded = load(path)?;
        Ok(LocalKeyring { path: path.to_owned(), loaded: RwLock::new(loaded) })
    }

    /// The keyring's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Loaded>, CryptoError> {
        self.loaded.read().map_err(|_| self.err("lock poisoned"))
    }

    /// Re-reads the file if another process changed it. Cheap when nothing
    /// changed: one `stat` at most every 200 ms.
    fn refresh(&self, force: bool) -> Result<(), CryptoError> {
        {
            let l = self.read()?;
            if !force && l.checked.elapsed() < RELOAD_CHECK {
                return Ok(());
            }
        }
        let stamp = stamp(&self.path)?;
        let mut l = self.loaded.write().map_err(|_| self.err("lock poisoned"))?;
        if stamp != l.stamp {
            *l = load(&self.path)?;
        } else {
            l.checked = Instant::now();
        }
        Ok(())
    }

    /// Versions and their states.
    pub fn status(&self) -> Result<Vec<KekInfo>, CryptoError> {
        self.refresh(true)?;
        Ok(self.read()?.infos.clone())
    }

    /// Adds a new active KEK version; the previous one becomes decrypt-only.
    pub fn rotate(&self) -> Result<KekVersion, CryptoError> {
        self.modify(|file| {
            let next = file.keks.iter().map(|k| k.version.get()).max().unwrap_or(0) + 1;
            let next = KekVersion::new(next)?;
            for k in &mut file.keks {
                if k.state == KekState::Active {
                    k.state = KekState::DecryptOnly;
                }
            }
            file.keks.push(KekEntry {
                version: next,
                state: KekState::Active,
                created: now_rfc3339(),
                key: Some(random_key_b64()?),
            });
            file.active = next;
            Ok(next)
        })
    }

    /// Erases the key material of a decrypt-only version. The caller must
    /// have checked that nothing is wrapped under it any more.
    pub fn retire(&self, version: KekVersion) -> Result<(), CryptoError> {
        self.modify(|file| {
            if version == file.active {
                return Err(keyring_err(Path::new("keyring"), "the active KEK cannot be retired"));
            }
            match file.keks.iter_mut().find(|k| k.version == version) {
                Some(k) => {
                    k.state = KekState::Retired;
                    k.key.zeroize();
                    k.key = None;
                    Ok(())
                }
                None => Err(CryptoError::UnknownKeyVersion(version.get())),
            }
        })
    }

    /// The Ed25519 signing-key seed (32 bytes) kept in the keyring.
    pub fn signing_seed(&self) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let file = read_file(&self.path)?;
        let s = file.signing_key.as_deref().ok_or_else(|| self.err("has no signing key"))?;
        let k = decode_key(s, "signing_key").map_err(|e| self.err(e))?;
        Ok(Zeroizing::new(*k.expose()))
    }

    fn modify<T>(&self, f: impl FnOnce(&mut KeyringFile) -> Result<T, CryptoError>) -> Result<T, CryptoError> {
        let mut file = read_file(&self.path)?;
        let out = f(&mut file)?;
        write_atomic(&self.path, &file)?;
        self.refresh(true)?;
        Ok(out)
    }
}

fn keyring_err(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::Keyring { path: path.display().to_string(), reason: reason.into() }
}

fn stamp(path: &Path) -> Result<(SystemTime, u64, u64), CryptoError> {
    let m = fs::metadata(path).map_err(|e| keyring_err(path, format!("cannot read: {e}")))?;
    Ok((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len(), m.ino()))
}

fn read_file(path: &Path) -> Result<KeyringFile, CryptoError> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => keyring_err(path, "not found (run `haven init` to create a data directory)"),
        _ => keyring_err(path, format!("cannot read: {e}")),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(keyring_err(
            path,
            format!("is accessible by group or others (mode {mode:04o}); run `chmod 600 {}`", path.display()),
        ));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| keyring_err(path, format!("cannot read: {e}")))?);
    let file: KeyringFile = serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's message names the line and column, never the value.
        keyring_err(path, format!("is not a valid keyring: {e}"))
    })?;
    if file.format != 1 {
        return Err(keyring_err(path, format!("unknown keyring format {}", file.format)));
    }
    Ok(file)
}

fn load(path: &Path) -> Result<Loaded, CryptoError> {
    let file = read_file(path)?;
    let stamp = stamp(path)?;
    let mut keks = BTreeMap::new();
    let mut infos = Vec::new();
    let mut actives = 0;
    for e in &file.keks {
        infos.push(KekInfo { version: e.version, state: e.state, created: e.created.clone() });
        match (e.state, &e.key) {
            (KekState::Retired, _) => {}
            (state, Some(k)) => {
                if state == KekState::Active {
                    actives += 1;
                }
                let key = decode_key(k, &format!("KEK version {}", e.version)).map_err(|r| keyring_err(path, r))?;
                keks.insert(e.version, Kek(key));
            }
            (_, None) => return Err(keyring_err(path, format!("KEK version {} has no key material", e.version))),
        }
    }
    let active_entry = file.keks.iter().find(|e| e.state == KekState::Active).map(|e| e.version);
    if actives != 1 || active_entry != Some(file.active) {
        return Err(keyring_err(path, "must have exactly one active KEK, named by `active`"));
    }
    let index_key = decode_key(&file.blind_index_key, "blind_index_key").map_err(|r| keyring_err(path, r))?;
    Ok(Loaded {
        set: KekSet { active: file.active, keks, index_key: BlindIndexKey::new(index_key) },
        infos,
        stamp,
        checked: Instant::now(),
    })
}

fn write_atomic(path: &Path, file: &KeyringFile) -> Result<(), CryptoError> {
    let json = Zeroizing::new(serde_json::to_vec_pretty(file).map_err(|e| keyring_err(path, e.to_string()))?);
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| keyring_err(&tmp, format!("cannot create: {e}")))?;
    f.write_all(&json).and_then(|_| f.sync_all()).map_err(|e| keyring_err(&tmp, format!("cannot write: {e}")))?;
    fs::rename(&tmp, path).map_err(|e| keyring_err(path, format!("cannot replace: {e}")))?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[async_trait]
impl KeyProvider for LocalKeyring {
    fn name(&self) -> &'static str {
        "local-keyring"
    }

    async fn active_version(&self) -> Result<KekVersion, CryptoError> {
        self.refresh(false)?;
        Ok(self.read()?.set.active)
    }

    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
        self.refresh(false)?;
        self.read()?.set.wrap(key, aad)
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, CryptoError> {
        let r = self.read()?.set.unwrap(wrapped, aad);
        match r {
            // Another process may have rotated the keyring since we loaded it.
            Err(CryptoError::UnknownKeyVersion(_)) => {
                self.refresh(true)?;
                self.read()?.set.unwrap(wrapped, aad)
            }
            other => other,
        }
    }

    async fn blind_index_key(&self) -> Result<BlindIndexKey, CryptoError> {
        Ok(self.read()?.set.index_key.clone())
    }

    async fn check(&self) -> Result<(), CryptoError> {
        self.refresh(true)
    }
}

// ----- environment provider -----------------------------------------------------

/// KEKs from environment variables, for deployments whose secret manager
/// injects them: `HAVEN_KEK_ACTIVE=N`, `HAVEN_KEK_<N>=<base64 32 bytes>` for
/// each version still needed, and `HAVEN_BLIND_INDEX_KEY=<base64 32 bytes>`.
/// Rotation is the secret manager's job: add a version, point
/// `HAVEN_KEK_ACTIVE` at it, restart, then run `haven keys rewrap`.
pub struct EnvKeyProvider {
    set: KekSet,
}

impl std::fmt::Debug for EnvKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvKeyProvider(active v{})", self.set.active)
    }
}

impl EnvKeyProvider {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, CryptoError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the given variables (for tests and embedding).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, CryptoError> {
        let bad = |r: String| CryptoError::Keyring { path: "environment".into(), reason: r };
        let mut active = None;
        let mut index_key = None;
        let mut keks = BTreeMap::new();
        for (name, mut value) in vars {
            if name == "HAVEN_KEK_ACTIVE" {
                let n: u32 =
                    value.trim().parse().map_err(|_| bad("HAVEN_KEK_ACTIVE must be a version number".into()))?;
                active = Some(KekVersion::new(n)?);
            } else if name == "HAVEN_BLIND_INDEX_KEY" {
                index_key = Some(decode_key(&value, &name).map_err(bad)?);
            } else if let Some(Ok(n)) = name.strip_prefix("HAVEN_KEK_").map(str::parse::<u32>) {
                keks.insert(KekVersion::new(n)?, Kek(decode_key(&value, &name).map_err(bad)?));
            }
            value.zeroize();
        }
        let active = active.ok_or_else(|| bad("HAVEN_KEK_ACTIVE is not set".into()))?;
        if !keks.contains_key(&active) {
            return Err(bad(format!("HAVEN_KEK_{active} (the active version) is not set")));
        }
        let index_key = index_key.ok_or_else(|| bad("HAVEN_BLIND_INDEX_KEY is not set".into()))?;
        Ok(EnvKeyProvider { set: KekSet { active, keks, index_key: BlindIndexKey::new(index_key) } })
    }
}

#[async_trait]
impl KeyProvider for EnvKeyProvider {
    fn name(&self) -> &'static str {
        "environment"
    }

    async fn active_version(&self) -> Result<KekVersion, CryptoError> {
        Ok(self.set.active)
    }

    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
        self.set.wrap(key, aad)
    }

    async fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, CryptoError> {
        self.set.unwrap(wrapped, aad)
    }

    async fn blind_index_key(&self) -> Result<BlindIndexKey, CryptoError> {
        Ok(self.set.index_key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dek() -> DataKey {
        DataKey::generate().unwrap()
    }

    #[tokio::test]
    async fn rotate_keeps_old_keys_readable_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let ring = LocalKeyring::create(&path).unwrap();
        let k = dek();
        let w1 = ring.wrap(&k, b"r1").await.unwrap();
        assert_eq!(w1.version().get(), 1);
        assert_eq!(ring.rotate().unwrap().get(), 2);
        let w2 = ring.wrap(&k, b"r1").await.unwrap();
        assert_eq!(w2.version().get(), 2);
        assert_eq!(ring.unwrap(&w1, b"r1").await.unwrap().expose(), k.expose());
        assert!(matches!(ring.unwrap(&w1, b"r2").await, Err(CryptoError::Decrypt)));
        ring.retire(KekVersion::FIRST).unwrap();
        assert!(matches!(ring.unwrap(&w1, b"r1").await, Err(CryptoError::UnknownKeyVersion(1))));
        assert!(ring.retire(KekVersion::new(2).unwrap()).is_err(), "active cannot be retired");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"retired\""));
    }

    #[tokio::test]
    async fn another_process_rotation_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let server = LocalKeyring::create(&path).unwrap();
        let cli = LocalKeyring::open(&path).unwrap();
        cli.rotate().unwrap();
        let w = cli.wrap(&dek(), b"x").await.unwrap();
        assert_eq!(w.version().get(), 2);
        // The server has not reloaded yet, but an unknown version forces it.
        assert!(server.unwrap(&w, b"x").await.is_ok());
    }

    #[test]
    fn refuses_loose_permissions_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let e = LocalKeyring::open(&path).unwrap_err().to_string();
        assert!(e.contains("not found"), "{e}");
        LocalKeyring::create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = LocalKeyring::open(&path).unwrap_err().to_string();
        assert!(e.contains("group or others") && e.contains("0644"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "{ not json").unwrap();
        let e = LocalKeyring::open(&path).unwrap_err().to_string();
        assert!(e.contains("not a valid keyring"), "{e}");
    }

    #[tokio::test]
    async fn env_provider() {
        let k1 = B64.encode([7u8; 32]);
        let vars = vec![
            ("HAVEN_KEK_ACTIVE".to_string(), "1".to_string()),
            ("HAVEN_KEK_1".to_string(), k1.clone()),
            ("HAVEN_BLIND_INDEX_KEY".to_string(), k1.clone()),
        ];
        let p = EnvKeyProvider::from_vars(vars).unwrap();
        let k = dek();
        let w = p.wrap(&k, b"a").await.unwrap();
        assert_eq!(p.unwrap(&w, b"a").await.unwrap().expose(), k.expose());
        assert!(!format!("{p:?}").contains(&k1));
        let e = EnvKeyProvider::from_vars(vec![("HAVEN_KEK_ACTIVE".into(), "2".into())]).unwrap_err().to_string();
        assert!(e.contains("HAVEN_KEK_2"), "{e}");
    }
}
