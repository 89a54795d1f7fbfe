//! Accounts and bearer tokens, kept as encrypted internal records
//! (`HavenAccount`, `HavenSession`) in the same store as everything else.
//!
//! A token is 32 random bytes; only its SHA-256 is stored (it is the session
//! record's id), so a database copy yields no usable token. Usernames are
//! found through the blind index, never stored in the clear.

use std::sync::OnceLock;

use haven_core::{Principal, ResourceId, ResourceType, Role, Secret};
use haven_crypto::{PasswordParams, hash_password, random_token, sha256, verify_password};
use haven_store::{IndexTerm, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Record type of accounts.
pub const ACCOUNT_TYPE: &str = "HavenAccount";
/// Record type of sessions.
pub const SESSION_TYPE: &str = "HavenSession";

fn rtype(name: &str) -> ResourceType {
    // Both names are valid constants.
    ResourceType::parse(name).unwrap_or_else(|_| unreachable!("internal type name"))
}

/// Why an account operation failed. Messages never say whether a username exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password, or disabled account.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Missing, malformed, expired or revoked token.
    #[error("invalid or expired token")]
    InvalidToken,
    /// The username is taken.
    #[error("username is already taken")]
    UsernameTaken,
    /// The username is not acceptable.
    #[error("username must be 3-64 characters of a-z, 0-9, '.', '_', '-' and '@'")]
    BadUsername,
    /// The password is not acceptable.
    #[error("password must be at least 12 characters")]
    WeakPassword,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing or randomness failed.
    #[error(transparent)]
    Crypto(#[from] haven_crypto::CryptoError),
    /// A stored account or session is unreadable.
    #[error("corrupt {0} record")]
    Corrupt(&'static str),
}

#[derive(Serialize, Deserialize)]
struct AccountDoc {
    username: String,
    role: Role,
    password_hash: String,
    disabled: bool,
    created: i64,
}

#[derive(Serialize, Deserialize)]
struct SessionDoc {
    account: ResourceId,
    role: Role,
    issued: i64,
    expires: i64,
    revoked: bool,
}

/// An account, without its secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: ResourceId,
    /// Normalised username (may be PHI for patients: do not log).
    pub username: String,
    /// Role.
    pub role: Role,
    /// Whether sign-in is refused.
    pub disabled: bool,
}

/// A freshly issued bearer token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token; shown once, never stored.
    pub token: Secret<String>,
    /// The session id (SHA-256 of the token).
    pub session: ResourceId,
    /// Expiry, unix seconds.
    pub expires_at: i64,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Normalises and checks a username.
pub fn normalize_username(raw: &str) -> Result<String, AuthError> {
    let u = raw.trim().to_ascii_lowercase();
    let ok = (3..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok { Ok(u) } else { Err(AuthError::BadUsername) }
}

fn session_id(token: &str) -> ResourceId {
    // 64 hex characters: a valid id by construction.
    ResourceId::parse(&hex::encode(sha256(token.as_bytes()))).unwrap_or_else(|_| unreachable!("hex id"))
}

/// Creates an account.
pub async fn create_account(
    store: &Store,
    username: &str,
    role: Role,
    password: &Secret<String>,
    params: PasswordParams,
) -> Result<Account, AuthError> {
    let username = normalize_username(username)?;
    if password.expose().chars().count() < 12 {
        return Err(AuthError::WeakPassword);
    }
    if find_account(store, &username).await?.is_some() {
        return Err(AuthError::UsernameTaken);
    }
    let doc = AccountDoc {
        username: username.clone(),
        role,
        password_hash: hash_password(password.expose(), params)?,
        disabled: false,
        created: now(),
    };
    let body = serde_json::to_vec(&doc).map_err(|_| AuthError::Corrupt("account"))?;
    let meta = store.create(&rtype(ACCOUNT_TYPE), None, &body, &[IndexTerm::new("username", &username)]).await?;
    Ok(Account { id: meta.id, username, role, disabled: false })
}

async fn find_account(store: &Store, username: &str) -> Result<Option<(Account, String)>, AuthError> {
    let t = rtype(ACCOUNT_TYPE);
    let Some(id) = store.find(&t, "username", username).await?.into_iter().next() else { return Ok(None) };
    let rec = store.read(&t, &id).await?;
    let doc: AccountDoc = serde_json::from_slice(&rec.payload).map_err(|_| AuthError::Corrupt("account"))?;
    Ok(Some((Account { id, username: doc.username, role: doc.role, disabled: doc.disabled }, doc.password_hash)))
}

/// Looks up an account by username.
pub async fn account_by_username(store: &Store, username: &str) -> Result<Option<Account>, AuthError> {
    let u = normalize_username(username)?;
    Ok(find_account(store, &u).await?.map(|(a, _)| a))
}

/// A hash to verify against when the user does not exist, so the response
/// time does not reveal which usernames exist.
fn dummy_hash(params: PasswordParams) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("haven-dummy-password", params).unwrap_or_default())
}

/// Checks a username and password and issues a token.
pub async fn login(
    store: &Store,
    username: &str,
    password: &Secret<String>,
    params: PasswordParams,
    ttl_secs: u64,
) -> Result<(Account, IssuedToken), AuthError> {
    let found = match normalize_username(username) {
        Ok(u) => find_account(store, &u).await?,
        Err(_) => None,
    };
    let pw = password.clone(); // a Secret: wiped when the blocking task ends
    let hash = found.as_ref().map(|(_, h)| h.clone()).unwrap_or_else(|| dummy_hash(params).to_string());
    // Argon2 is deliberately slow: keep it off the async workers.
    let valid = tokio::task::spawn_blocking(move || verify_password(pw.expose(), &hash)).await.unwrap_or(false);
    match found {
        Some((account, _)) if valid && !account.disabled => {
            let token = issue_token(store, &account, ttl_secs).await?;
            Ok((account, token))
        }
        _ => Err(AuthError::InvalidCredentials),
    }
}

/// Issues a bearer token for an account.
pub async fn issue_token(store: &Store, account: &Account, ttl_secs: u64) -> Result<IssuedToken, AuthError> {
    let token = format!("hvn_{}", random_token(32)?);
    let session = session_id(&token);
    let issued = now();
    let expires = issued.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    let doc = SessionDoc { account: account.id.clone(), role: account.role, issued, expires, revoked: false };
    let body = serde_json::to_vec(&doc).map_err(|_| AuthError::Corrupt("session"))?;
    store.create(&rtype(SESSION_TYPE), Some(session.clone()), &body, &[]).await?;
    Ok(IssuedToken { token: Secret::new(token), session, expires_at: expires })
}

/// Resolves a bearer token to its principal.
pub async fn authenticate(store: &Store, token: &str) -> Result<Principal, AuthError> {
    authenticate_inner(store, token).await.map(|(p, _)| p)
}

async fn authenticate_inner(store: &Store, token: &str) -> Result<(Principal, i64), AuthError> {
    if !token.starts_with("hvn_") || token.len() > 128 {
        return Err(AuthError::InvalidToken);
    }
    let session = session_id(token);
    let rec = match store.read(&rtype(SESSION_TYPE), &session).await {
        Ok(r) => r,
        Err(StoreError::NotFound | StoreError::Gone { .. }) => return Err(AuthError::InvalidToken),
        Err(e) => return Err(e.into()),
    };
    let doc: SessionDoc = serde_json::from_slice(&rec.payload).map_err(|_| AuthError::Corrupt("session"))?;
    if doc.revoked || doc.expires <= now() {
        return Err(AuthError::InvalidToken);
    }
    Ok((Principal { account: doc.account, role: doc.role, session }, doc.expires))
}

/// How long a verified session is trusted without reading the store again.
/// A session revoked by another process stops working within this time; a
/// logout through this server evicts it at once.
pub const SESSION_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// At most this many sessions are cached (the cache is cleared when full).
const SESSION_CACHE_MAX: usize = 50_000;

/// Recently verified sessions, keyed by session id (the token's hash), so a
/// request usually costs no store read for its token.
#[derive(Default)]
pub struct SessionCache {
    entries: std::sync::Mutex<std::collections::HashMap<ResourceId, (Principal, i64, std::time::Instant)>>,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCache")
    }
}

impl SessionCache {
    fn get(&self, id: &ResourceId) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        let (p, expires, at) = entries.get(id)?;
        (at.elapsed() < SESSION_CACHE_TTL && *expires > now()).then(|| p.clone())
    }

    fn put(&self, p: &Principal, expires: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= SESSION_CACHE_MAX {
                entries.clear();
            }
            entries.insert(p.session.clone(), (p.clone(), expires, std::time::Instant::now()));
        }
    }

    /// Forgets a session (on logout or revocation).
    pub fn evict(&self, id: &ResourceId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(id);
        }
    }
}

/// [`authenticate`] through a cache of recently verified sessions.
pub async fn authenticate_cached(store: &Store, cache: &SessionCache, token: &str) -> Result<Principal, AuthError> {
    if !token.starts_with("hvn_") || token.len() > 128 {
        return Err(AuthError::InvalidToken);
    }
    if let Some(p) = cache.get(&session_id(token)) {
        return Ok(p);
    }
    let (p, expires) = authenticate_inner(store, token).await?;
    cache.put(&p, expires);
    Ok(p)
}

/// Revokes a session (logout).
pub async fn revoke(store: &Store, session: &ResourceId) -> Result<(), AuthError> {
    match store.delete(&rtype(SESSION_TYPE), session, None).await {
        Ok(_) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
