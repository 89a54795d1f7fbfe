//! Accounts, sessions and bearer tokens, kept as encrypted internal records
//! (`HavenAccount`, `HavenSession`) in the same store as everything else.
//!
//! A token is 32 random bytes; only its SHA-256 is stored (it is the session
//! record's id), so a database copy yields no usable token. Usernames are
//! found through the blind index, never stored in the clear.
//!
//! Sign-in: a password opens a full session only for accounts that need no
//! second factor. Accounts with TOTP get a short `MfaPending` session that
//! can only submit a code; staff without TOTP get an `Enrolment` session that
//! can only enrol one. Full sign-in yields a short-lived access token and a
//! refresh token that rotates on use, with idle and absolute limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

use haven_core::{OnBehalfOf, Principal, ResourceId, ResourceType, Role, Secret, SessionStage};
use haven_crypto::totp::{self, TotpSecret};
use haven_crypto::{PasswordParams, hash_password, random_token, sha256, verify_password};
use haven_store::{IndexTerm, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::config::SecurityConfig;

/// Record type of accounts.
pub const ACCOUNT_TYPE: &str = "HavenAccount";
/// Record type of sessions.
pub const SESSION_TYPE: &str = "HavenSession";
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Lifetime of an `MfaPending` or `Enrolment` session.
const PARTIAL_SESSION_SECS: u64 = 10 * 60;
/// Issuer shown in authenticator apps.
const TOTP_ISSUER: &str = "Haven";

fn rtype(name: &str) -> ResourceType {
    // Both names are valid constants.
    ResourceType::parse(name).unwrap_or_else(|_| unreachable!("internal type name"))
}

/// Why an account operation failed. Messages never say whether a username exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password, disabled or locked account.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Missing, malformed, expired or revoked token.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A wrong, reused or malformed one-time code.
    #[error("invalid or already used code")]
    InvalidCode,
    /// The username is taken.
    #[error("username is already taken")]
    UsernameTaken,
    /// The username is not acceptable.
    #[error("username must be 3-64 characters of a-z, 0-9, '.', '_', '-' and '@'")]
    BadUsername,
    /// The password is too short.
    #[error("password must be at least 12 characters")]
    WeakPassword,
    /// The password is on the list of common or breached passwords.
    #[error("this password is on the list of common or breached passwords; choose another")]
    CommonPassword,
    /// The request does not fit the account (e.g. a link for the wrong role).
    #[error("{0}")]
    Invalid(String),
    /// No such account.
    #[error("no such account")]
    NoSuchAccount,
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

#[derive(Clone, Default, Serialize, Deserialize)]
struct MfaDoc {
    /// Base32 TOTP secret (the record is encrypted at rest).
    secret: String,
    active: bool,
    last_step: Option<i64>,
    /// SHA-256 of the unused recovery codes.
    recovery: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
struct ClientDoc {
    /// SHA-256 of the client secret (256 random bits: a fast hash suffices);
    /// empty for clients that authenticate with a signed JWT.
    secret_hash: String,
    /// SMART scopes the client may be granted.
    scopes: String,
    /// PEM public key for `private_key_jwt` authentication (ES384, ES256,
    /// RS384 or RS256), as SMART Backend Services use.
    #[serde(default)]
    public_key_pem: Option<String>,
}

#[derive(Clone, Serialize, Deserialize)]
struct AccountDoc {
    username: String,
    role: Role,
    password_hash: String,
    disabled: bool,
    created: i64,
    #[serde(default)]
    patient: Option<ResourceId>,
    #[serde(default)]
    practitioner: Option<ResourceId>,
    #[serde(default)]
    mfa: Option<MfaDoc>,
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    locked_until: i64,
    #[serde(default)]
    client: Option<ClientDoc>,
}

#[derive(Serialize, Deserialize)]
struct SessionDoc {
    account: ResourceId,
    role: Role,
    issued: i64,
    expires: i64,
    revoked: bool,
    #[serde(default)]
    stage: SessionStage,
    #[serde(default)]
    mfa: bool,
    #[serde(default)]
    refresh: bool,
    #[serde(default)]
    absolute: i64,
    #[serde(default)]
    patient: Option<ResourceId>,
    #[serde(default)]
    practitioner: Option<ResourceId>,
    #[serde(default)]
    scopes: Option<String>,
    /// Sessions born of one sign-in (the access and refresh tokens, their
    /// rotations, and tokens exchanged for them) share a family; signing
    /// out ends the whole family.
    #[serde(default)]
    family: Option<String>,
    /// The user a service client acts for (token exchange).
    #[serde(default)]
    on_behalf_of: Option<OnBehalfOf>,
    /// When the second factor was last presented (unix seconds).
    #[serde(default)]
    mfa_at: Option<i64>,
}

impl SessionDoc {
    /// When the second factor was presented; sessions written before this
    /// was recorded count from their issue time.
    fn mfa_time(&self) -> Option<i64> {
        if self.mfa { Some(self.mfa_at.unwrap_or(self.issued)) } else { None }
    }
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
    /// Linked Patient.
    pub patient: Option<ResourceId>,
    /// Linked Practitioner.
    pub practitioner: Option<ResourceId>,
    /// Whether TOTP is active.
    pub mfa_active: bool,
    /// Whether this is a service client (OAuth client credentials).
    pub is_client: bool,
}

impl Account {
    fn from_doc(id: ResourceId, d: &AccountDoc) -> Self {
        Account {
            id,
            username: d.username.clone(),
            role: d.role,
            disabled: d.disabled,
            patient: d.patient.clone(),
            practitioner: d.practitioner.clone(),
            mfa_active: d.mfa.as_ref().is_some_and(|m| m.active),
            is_client: d.client.is_some(),
        }
    }
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

/// An access token and the refresh token that renews it.
#[derive(Debug)]
pub struct TokenPair {
    /// Short-lived access token.
    pub access: IssuedToken,
    /// Refresh token (rotates on use).
    pub refresh: IssuedToken,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in.
    Tokens(TokenPair),
    /// A one-time code is due: submit it with this token.
    MfaRequired(IssuedToken),
    /// Staff without a second factor: enrol one with this token.
    EnrolmentRequired(IssuedToken),
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn secs(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Normalises and checks a username.
pub fn normalize_username(raw: &str) -> Result<String, AuthError> {
    let u = raw.trim().to_ascii_lowercase();
    let ok = (3..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok { Ok(u) } else { Err(AuthError::BadUsername) }
}

/// Checks a new password: length and the shipped list of common passwords.
pub fn check_new_password(password: &Secret<String>) -> Result<(), AuthError> {
    if password.expose().chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword);
    }
    if haven_crypto::common_passwords::is_common(password.expose()) {
        return Err(AuthError::CommonPassword);
    }
    Ok(())
}

fn session_id(token: &str) -> ResourceId {
    // 64 hex characters: a valid id by construction.
    ResourceId::parse(&hex::encode(sha256(token.as_bytes()))).unwrap_or_else(|_| unreachable!("hex id"))
}

/// What a new account is.
pub struct NewAccount<'a> {
    /// Username.
    pub username: &'a str,
    /// Role.
    pub role: Role,
    /// Password.
    pub password: &'a Secret<String>,
    /// Linked Patient (role patient).
    pub patient: Option<ResourceId>,
    /// Linked Practitioner (clinical staff).
    pub practitioner: Option<ResourceId>,
}

/// Creates an account with no links.
pub async fn create_account(
    store: &Store,
    username: &str,
    role: Role,
    password: &Secret<String>,
    params: PasswordParams,
) -> Result<Account, AuthError> {
    create(store, NewAccount { username, role, password, patient: None, practitioner: None }, params, None).await
}

/// Creates an account linked to its Patient or Practitioner.
pub async fn create_linked(store: &Store, new: NewAccount<'_>, params: PasswordParams) -> Result<Account, AuthError> {
    create(store, new, params, None).await
}

async fn create(
    store: &Store,
    new: NewAccount<'_>,
    params: PasswordParams,
    client: Option<ClientDoc>,
) -> Result<Account, AuthError> {
    let username = normalize_username(new.username)?;
    if client.is_none() {
        check_new_password(new.password)?;
    }
    if new.patient.is_some() && new.role != Role::Patient {
        return Err(AuthError::Invalid("only patient accounts link to a Patient".into()));
    }
    if new.practitioner.is_some() && !matches!(new.role, Role::Clinician | Role::Nurse | Role::Scheduler) {
        return Err(AuthError::Invalid("only clinician, nurse and scheduler accounts link to a Practitioner".into()));
    }
    if find_account(store, &username).await?.is_some() {
        return Err(AuthError::UsernameTaken);
    }
    let pw = new.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(pw.expose(), params))
        .await
        .map_err(|_| AuthError::Corrupt("password hash task"))??;
    let doc = AccountDoc {
        username: username.clone(),
        role: new.role,
        password_hash,
        disabled: false,
        created: now(),
        patient: new.patient,
        practitioner: new.practitioner,
        mfa: None,
        failures: 0,
        locked_until: 0,
        client,
    };
    let body = serde_json::to_vec(&doc).map_err(|_| AuthError::Corrupt("account"))?;
    let meta = store.create(&rtype(ACCOUNT_TYPE), None, &body, &[IndexTerm::new("username", &username)]).await?;
    Ok(Account::from_doc(meta.id, &doc))
}

/// Creates a service client; returns it with its secret (shown once).
pub async fn create_client(store: &Store, name: &str, scopes: &str) -> Result<(Account, Secret<String>), AuthError> {
    let secret = Secret::new(format!("hvs_{}", random_token(32)?));
    let client = ClientDoc {
        secret_hash: hex::encode(sha256(secret.expose().as_bytes())),
        scopes: scopes.to_owned(),
        public_key_pem: None,
    };
    create_client_doc(store, name, client).await.map(|a| (a, secret))
}

/// Creates a service client that authenticates with JWTs signed by the
/// private half of `public_key_pem` (no shared secret).
pub async fn create_key_client(
    store: &Store,
    name: &str,
    scopes: &str,
    public_key_pem: &str,
) -> Result<Account, AuthError> {
    let pem = public_key_pem.as_bytes();
    let ok =
        jsonwebtoken::DecodingKey::from_ec_pem(pem).is_ok() || jsonwebtoken::DecodingKey::from_rsa_pem(pem).is_ok();
    if !ok {
        return Err(AuthError::Invalid("the public key must be an EC (P-256, P-384) or RSA key in PEM".into()));
    }
    let client = ClientDoc {
        secret_hash: String::new(),
        scopes: scopes.to_owned(),
        public_key_pem: Some(public_key_pem.to_owned()),
    };
    create_client_doc(store, name, client).await
}

async fn create_client_doc(store: &Store, name: &str, client: ClientDoc) -> Result<Account, AuthError> {
    // Clients never sign in with a password; store an unusable one.
    let unusable = Secret::new(random_token(32)?);
    let new = NewAccount { username: name, role: Role::Agent, password: &unusable, patient: None, practitioner: None };
    create(store, new, PasswordParams::default(), Some(client)).await
}

async fn find_account(
    store: &Store,
    username: &str,
) -> Result<Option<(ResourceId, AccountDoc, haven_core::VersionId)>, AuthError> {
    let t = rtype(ACCOUNT_TYPE);
    let Some(id) = store.find(&t, "username", username).await?.into_iter().next() else { return Ok(None) };
    read_account(store, &id).await.map(Some)
}

async fn read_account(
    store: &Store,
    id: &ResourceId,
) -> Result<(ResourceId, AccountDoc, haven_core::VersionId), AuthError> {
    let rec = match store.read(&rtype(ACCOUNT_TYPE), id).await {
        Ok(r) => r,
        Err(StoreError::NotFound | StoreError::Gone { .. }) => return Err(AuthError::NoSuchAccount),
        Err(e) => return Err(e.into()),
    };
    let doc: AccountDoc = serde_json::from_slice(&rec.payload).map_err(|_| AuthError::Corrupt("account"))?;
    Ok((id.clone(), doc, rec.meta.version))
}

/// Read-modify-write of an account, retried when another writer got there first.
async fn modify_account<T>(
    store: &Store,
    id: &ResourceId,
    mut f: impl FnMut(&mut AccountDoc) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    for _ in 0..5 {
        let (_, mut doc, version) = read_account(store, id).await?;
        let out = f(&mut doc)?;
        let body = serde_json::to_vec(&doc).map_err(|_| AuthError::Corrupt("account"))?;
        let terms = [IndexTerm::new("username", &doc.username)];
        match store.update(&rtype(ACCOUNT_TYPE), id, Some(version), &body, &terms).await {
            Ok(_) => return Ok(out),
            Err(StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AuthError::Store(StoreError::Race))
}

/// Looks up an account by username.
pub async fn account_by_username(store: &Store, username: &str) -> Result<Option<Account>, AuthError> {
    let u = normalize_username(username)?;
    Ok(find_account(store, &u).await?.map(|(id, d, _)| Account::from_doc(id, &d)))
}

/// Looks up an account by id.
pub async fn account_by_id(store: &Store, id: &ResourceId) -> Result<Account, AuthError> {
    read_account(store, id).await.map(|(id, d, _)| Account::from_doc(id, &d))
}

/// Every account, in id order.
pub async fn list_accounts(store: &Store) -> Result<Vec<Account>, AuthError> {
    let t = rtype(ACCOUNT_TYPE);
    let mut out = Vec::new();
    let mut after: Option<ResourceId> = None;
    loop {
        let page = store.list(Some(&t), after.as_ref().map(|a| (&t, a)), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.1.clone());
        let ids: Vec<ResourceId> = page.into_iter().map(|(_, id, _)| id).collect();
        for rec in store.read_many(&t, &ids).await? {
            let doc: AccountDoc = serde_json::from_slice(&rec.payload).map_err(|_| AuthError::Corrupt("account"))?;
            out.push(Account::from_doc(rec.meta.id, &doc));
        }
    }
    Ok(out)
}

/// Disables (or re-enables) an account; disabling also revokes its sessions.
pub async fn set_disabled(store: &Store, id: &ResourceId, disabled: bool) -> Result<u64, AuthError> {
    modify_account(store, id, |d| {
        d.disabled = disabled;
        Ok(())
    })
    .await?;
    if disabled { revoke_all_sessions(store, id).await } else { Ok(0) }
}

/// Removes an account's second factor (it must enrol again) and revokes its sessions.
pub async fn reset_mfa(store: &Store, id: &ResourceId) -> Result<u64, AuthError> {
    modify_account(store, id, |d| {
        d.mfa = None;
        Ok(())
    })
    .await?;
    revoke_all_sessions(store, id).await
}

/// Revokes every session of an account; returns how many.
pub async fn revoke_all_sessions(store: &Store, account: &ResourceId) -> Result<u64, AuthError> {
    let t = rtype(SESSION_TYPE);
    let ids = store.find(&t, "account", account.as_str()).await?;
    let mut n = 0;
    for id in ids {
        match store.delete(&t, &id, None).await {
            Ok(_) => n += 1,
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// A hash to verify against when the user does not exist, so the response
/// time does not reveal which usernames exist.
fn dummy_hash(params: PasswordParams) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("haven-dummy-password", params).unwrap_or_default())
}

/// Failed sign-ins per source address, with exponential back-off. Kept in
/// memory: it protects this process; per-account counts are in the store.
#[derive(Default)]
pub struct Limiter {
    by_ip: Mutex<HashMap<IpAddr, (u32, i64)>>,
    /// `jti`s of client assertions seen, until they expire (replay defence).
    jtis: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

/// Seconds of back-off after `failures` failures.
fn backoff(failures: u32, sec: &SecurityConfig) -> i64 {
    if failures < sec.lockout_threshold {
        return 0;
    }
    let exp = (failures - sec.lockout_threshold).min(30);
    (1i64 << exp).min(secs(sec.lockout_max_secs))
}

impl Limiter {
    fn blocked(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return false };
        self.by_ip.lock().map(|m| m.get(&ip).is_some_and(|(_, until)| *until > now())).unwrap_or(false)
    }

    fn failed(&self, ip: Option<IpAddr>, sec: &SecurityConfig) {
        let Some(ip) = ip else { return };
        if let Ok(mut m) = self.by_ip.lock() {
            if m.len() > 100_000 {
                m.retain(|_, (_, until)| *until > now());
            }
            let e = m.entry(ip).or_insert((0, 0));
            e.0 = e.0.saturating_add(1);
            e.1 = now() + backoff(e.0, sec);
        }
    }

    /// Whether this assertion id is new; remembers it until `exp`.
    fn first_use(&self, jti: &str, exp: i64) -> bool {
        let Ok(mut m) = self.jtis.lock() else { return false };
        let now = now();
        if m.len() > 100_000 {
            m.retain(|_, e| *e > now);
        }
        match m.get(jti) {
            Some(e) if *e > now => false,
            _ => {
                m.insert(jti.to_owned(), exp.max(now + MAX_ASSERTION_SECS));
                true
            }
        }
    }

    fn succeeded(&self, ip: Option<IpAddr>) {
        if let (Some(ip), Ok(mut m)) = (ip, self.by_ip.lock()) {
            m.remove(&ip);
        }
    }
}

/// Checks a username and password. Unknown users, wrong passwords, disabled
/// and locked accounts all fail the same way, after the same work.
pub async fn login(
    store: &Store,
    limiter: &Limiter,
    ip: Option<IpAddr>,
    username: &str,
    password: &Secret<String>,
    sec: &SecurityConfig,
    trail: &crate::audit::AuditTrail,
) -> Result<(Account, LoginOutcome), AuthError> {
    let normalized = normalize_username(username);
    let found = match &normalized {
        Ok(u) => find_account(store, u).await?,
        Err(_) => None,
    };
    // Usernames may be PHI (a patient's e-mail): the audit record names an
    // unknown one by a keyed pseudonym, enough to count attempts per name.
    let pseudonym = {
        let name = normalized.as_deref().unwrap_or(username);
        let h = store.blind_value(&rtype(ACCOUNT_TYPE), "audit-username", name);
        format!("unknown-user:{}", hex::encode(&h[..8]))
    };
    let pw = password.clone(); // a Secret: wiped when the blocking task ends
    let hash =
        found.as_ref().map(|(_, d, _)| d.password_hash.clone()).unwrap_or_else(|| dummy_hash(sec.password).to_string());
    // Argon2 is deliberately slow: keep it off the async workers.
    let valid = tokio::task::spawn_blocking(move || verify_password(pw.expose(), &hash)).await.unwrap_or(false);
    let ip_blocked = limiter.blocked(ip);
    let Some((id, doc, _)) = found else {
        limiter.failed(ip, sec);
        tracing::info!(outcome = "unknown-user", "sign-in failed");
        trail.actor(haven_audit::Actor { id: "anonymous".into(), name: Some(pseudonym), ..Default::default() });
        trail.detail("unknown-user");
        return Err(AuthError::InvalidCredentials);
    };
    trail.actor(crate::audit::account_actor(&Account::from_doc(id.clone(), &doc)));
    let locked = doc.locked_until > now();
    if !valid || doc.disabled || locked || ip_blocked || doc.client.is_some() {
        limiter.failed(ip, sec);
        if !valid && !locked {
            // Counted off the response path: a failure for an existing
            // account must take as long as one for an unknown name.
            let (store, sec2, id) = (store.clone(), sec.clone(), id.clone());
            tokio::spawn(async move {
                let counted = modify_account(&store, &id, move |d| {
                    d.failures = d.failures.saturating_add(1);
                    d.locked_until = now() + backoff(d.failures, &sec2);
                    Ok(())
                })
                .await;
                if let Err(e) = counted {
                    tracing::error!(account = %id, error = %e, "could not count a failed sign-in");
                }
            });
        }
        let why = if locked || ip_blocked {
            "locked"
        } else if doc.disabled {
            "disabled"
        } else {
            "bad-password"
        };
        tracing::info!(account = %id, outcome = why, "sign-in failed");
        trail.detail(why);
        return Err(AuthError::InvalidCredentials);
    }
    limiter.succeeded(ip);
    if doc.failures > 0 {
        modify_account(store, &id, |d| {
            d.failures = 0;
            d.locked_until = 0;
            Ok(())
        })
        .await?;
    }
    let account = Account::from_doc(id, &doc);
    let needs_mfa = account.role.is_staff() || sec.mfa_required_for_patients;
    let outcome = if account.mfa_active {
        LoginOutcome::MfaRequired(issue(store, &account, Issue::partial(SessionStage::MfaPending)).await?)
    } else if needs_mfa {
        LoginOutcome::EnrolmentRequired(issue(store, &account, Issue::partial(SessionStage::Enrolment)).await?)
    } else {
        LoginOutcome::Tokens(issue_pair(store, &account, None, None, sec, None, None).await?)
    };
    Ok((account, outcome))
}

/// How to issue one session.
#[derive(Default)]
struct Issue {
    stage: SessionStage,
    /// When the second factor was presented, if it was.
    mfa_at: Option<i64>,
    refresh: bool,
    ttl: u64,
    absolute: Option<i64>,
    scopes: Option<String>,
    family: Option<String>,
    /// The user a client acts for; that user's Patient becomes the session's
    /// launch patient (for `patient/` scopes).
    on_behalf_of: Option<OnBehalfOf>,
}

impl Issue {
    fn partial(stage: SessionStage) -> Self {
        Issue { stage, ttl: PARTIAL_SESSION_SECS, ..Issue::default() }
    }

    /// A full access token of `ttl` seconds.
    fn access(ttl: u64, mfa_at: Option<i64>, scopes: Option<String>) -> Self {
        Issue { stage: SessionStage::Full, mfa_at, ttl, scopes, ..Issue::default() }
    }
}

async fn issue(store: &Store, account: &Account, how: Issue) -> Result<IssuedToken, AuthError> {
    let prefix = if how.refresh { "hvr_" } else { "hvn_" };
    let token = format!("{prefix}{}", random_token(32)?);
    let session = session_id(&token);
    let issued = now();
    let absolute = how.absolute.unwrap_or(i64::MAX);
    let expires = issued.saturating_add(secs(how.ttl)).min(absolute);
    let mut terms = vec![IndexTerm::new("account", account.id.as_str())];
    if let Some(f) = &how.family {
        terms.push(IndexTerm::new("family", f));
    }
    if let Some(u) = &how.on_behalf_of {
        // Revoking the user's sessions revokes what was exchanged for them.
        terms.push(IndexTerm::new("account", u.account.as_str()));
    }
    let doc = SessionDoc {
        account: account.id.clone(),
        role: account.role,
        issued,
        expires,
        revoked: false,
        stage: how.stage,
        mfa: how.mfa_at.is_some(),
        refresh: how.refresh,
        absolute,
        patient: how.on_behalf_of.as_ref().map_or_else(|| account.patient.clone(), |u| u.patient.clone()),
        practitioner: account.practitioner.clone(),
        scopes: how.scopes,
        family: how.family,
        on_behalf_of: how.on_behalf_of,
        mfa_at: how.mfa_at,
    };
    let body = serde_json::to_vec(&doc).map_err(|_| AuthError::Corrupt("session"))?;
    store.create(&rtype(SESSION_TYPE), Some(session.clone()), &body, &terms).await?;
    Ok(IssuedToken { token: Secret::new(token), session, expires_at: expires })
}

/// Issues an access and a refresh token; `family` continues a sign-in's
/// family (a refresh), `None` starts one.
async fn issue_pair(
    store: &Store,
    account: &Account,
    mfa_at: Option<i64>,
    absolute: Option<i64>,
    sec: &SecurityConfig,
    scopes: Option<String>,
    family: Option<String>,
) -> Result<TokenPair, AuthError> {
    let absolute = absolute.unwrap_or_else(|| now().saturating_add(secs(sec.session_absolute_secs)));
    let family = match family {
        Some(f) => f,
        None => random_token(16)?,
    };
    let access = Issue {
        absolute: Some(absolute),
        family: Some(family.clone()),
        ..Issue::access(sec.token_ttl_secs, mfa_at, scopes.clone())
    };
    let refresh = Issue {
        refresh: true,
        absolute: Some(absolute),
        family: Some(family),
        ..Issue::access(sec.refresh_idle_secs, mfa_at, scopes)
    };
    Ok(TokenPair { access: issue(store, account, access).await?, refresh: issue(store, account, refresh).await? })
}

/// Issues an access token for an account by an operator with local access
/// to the data directory (`haven token issue`). Such access is a stronger
/// factor than a password, so the session counts as multi-factor.
pub async fn operator_token(
    store: &Store,
    username: &str,
    ttl_secs: u64,
    scopes: Option<String>,
) -> Result<(Account, IssuedToken), AuthError> {
    let u = normalize_username(username)?;
    let (id, doc, _) = find_account(store, &u).await?.ok_or(AuthError::NoSuchAccount)?;
    if doc.disabled {
        return Err(AuthError::Invalid("the account is disabled".into()));
    }
    // A service client's token never exceeds what the client was granted.
    let scopes = match &doc.client {
        Some(c) => Some(narrow(&c.scopes, scopes.as_deref())),
        None => scopes,
    };
    let account = Account::from_doc(id, &doc);
    let token = issue(store, &account, Issue::access(ttl_secs, Some(now()), scopes)).await?;
    Ok((account, token))
}

/// Issues a plain access token (used by older callers and tests).
pub async fn issue_token(store: &Store, account: &Account, ttl_secs: u64) -> Result<IssuedToken, AuthError> {
    issue(store, account, Issue::access(ttl_secs, None, None)).await
}

/// The scopes of `granted` that `requested` asks for (all of them when it
/// asks for nothing): a request narrows a grant, never widens it.
fn narrow(granted: &str, requested: Option<&str>) -> String {
    match requested {
        Some(r) => {
            r.split_whitespace().filter(|s| granted.split_whitespace().any(|g| g == *s)).collect::<Vec<_>>().join(" ")
        }
        None => granted.to_owned(),
    }
}

/// Completes an `MfaPending` sign-in with a TOTP or recovery code.
pub async fn verify_mfa(
    store: &Store,
    p: &Principal,
    code: &str,
    sec: &SecurityConfig,
) -> Result<TokenPair, AuthError> {
    if p.stage != SessionStage::MfaPending {
        return Err(AuthError::InvalidToken);
    }
    if !spend_code(store, &p.account, code, sec).await? {
        tracing::info!(account = %p.account, "second factor rejected");
        return Err(AuthError::InvalidCode);
    }
    spend_partial_session(store, &p.session).await?;
    let account = account_by_id(store, &p.account).await?;
    issue_pair(store, &account, Some(now()), None, sec, None, None).await
}

/// Checks a TOTP or single-use recovery code of an account and spends it
/// (a TOTP step or recovery code works once). Wrong codes count like wrong
/// passwords: back-off, then lock-out, so a stolen password does not allow
/// guessing the 6-digit code.
async fn spend_code(store: &Store, account: &ResourceId, code: &str, sec: &SecurityConfig) -> Result<bool, AuthError> {
    let code = code.to_owned();
    let at = now();
    let sec2 = sec.clone();
    modify_account(store, account, move |d| {
        if d.locked_until > at {
            return Ok(false);
        }
        let mfa = d.mfa.as_mut().filter(|m| m.active).ok_or(AuthError::InvalidCode)?;
        let secret = TotpSecret::from_base32(&mfa.secret).map_err(|_| AuthError::Corrupt("mfa"))?;
        let ok = match totp::verify(&secret, &code, at, mfa.last_step) {
            Ok(step) => {
                mfa.last_step = Some(step);
                true
            }
            Err(_) => {
                // Not a TOTP code: perhaps one of the single-use recovery codes.
                let h = totp::hash_recovery_code(&code);
                let before = mfa.recovery.len();
                mfa.recovery.retain(|x| x != &h);
                mfa.recovery.len() < before
            }
        };
        if ok {
            d.failures = 0;
            d.locked_until = 0;
        } else {
            d.failures = d.failures.saturating_add(1);
            d.locked_until = at + backoff(d.failures, &sec2);
        }
        Ok(ok)
    })
    .await
}

/// Step-up: a signed-in user presents a current second factor again (for
/// break-the-glass). Returns when it was accepted.
pub async fn confirm_second_factor(
    store: &Store,
    p: &Principal,
    code: &str,
    sec: &SecurityConfig,
) -> Result<i64, AuthError> {
    if spend_code(store, &p.account, code, sec).await? {
        Ok(now())
    } else {
        tracing::info!(account = %p.account, "second factor rejected (step-up)");
        Err(AuthError::InvalidCode)
    }
}

/// Ends a partial session exactly once: two codes racing on one session
/// cannot both turn it into tokens.
async fn spend_partial_session(store: &Store, session: &ResourceId) -> Result<(), AuthError> {
    match store.delete(&rtype(SESSION_TYPE), session, Some(haven_core::VersionId::FIRST)).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound | StoreError::VersionConflict { .. }) => Err(AuthError::InvalidToken),
        Err(e) => Err(e.into()),
    }
}

/// What enrolment returns: the `otpauth://` URI and a QR code of it.
#[derive(Debug)]
pub struct Enrolment {
    /// For authenticator apps (contains the secret: show once).
    pub uri: Secret<String>,
    /// The same as an SVG QR code.
    pub qr_svg: Secret<String>,
}

/// Starts TOTP enrolment: a new (inactive) secret replaces any pending one.
/// An account with an active factor cannot enrol again (an admin resets it).
pub async fn enrol_mfa(store: &Store, p: &Principal) -> Result<Enrolment, AuthError> {
    // A scoped token (a service client, an operator-issued scoped token) must
    // not turn itself into an unscoped session by enrolling a factor.
    if !matches!(p.stage, SessionStage::Enrolment | SessionStage::Full) || p.scopes.is_some() {
        return Err(AuthError::InvalidToken);
    }
    let secret = TotpSecret::generate()?;
    let b32 = secret.to_base32();
    let stored = b32.expose().clone();
    let username = modify_account(store, &p.account, move |d| {
        if d.mfa.as_ref().is_some_and(|m| m.active) {
            return Err(AuthError::Invalid("a second factor is already active; an administrator can reset it".into()));
        }
        d.mfa = Some(MfaDoc { secret: stored.clone(), active: false, last_step: None, recovery: Vec::new() });
        Ok(d.username.clone())
    })
    .await?;
    let uri = totp::otpauth_uri(&secret, TOTP_ISSUER, &username);
    let qr = totp::qr_svg(uri.expose()).map_err(|_| AuthError::Corrupt("qr"))?;
    Ok(Enrolment { uri, qr_svg: Secret::new(qr) })
}

/// Activates the enrolled secret with one valid code; returns full tokens
/// and the ten recovery codes (shown once, stored hashed).
pub async fn activate_mfa(
    store: &Store,
    p: &Principal,
    code: &str,
    sec: &SecurityConfig,
) -> Result<(TokenPair, Vec<Secret<String>>), AuthError> {
    if !matches!(p.stage, SessionStage::Enrolment | SessionStage::Full) || p.scopes.is_some() {
        return Err(AuthError::InvalidToken);
    }
    let codes = totp::generate_recovery_codes(10)?;
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c.expose())).collect();
    let code = code.to_owned();
    let at = now();
    modify_account(store, &p.account, move |d| {
        let mfa = d.mfa.as_mut().filter(|m| !m.active).ok_or(AuthError::InvalidCode)?;
        let secret = TotpSecret::from_base32(&mfa.secret).map_err(|_| AuthError::Corrupt("mfa"))?;
        let step = totp::verify(&secret, &code, at, None).map_err(|_| AuthError::InvalidCode)?;
        mfa.active = true;
        mfa.last_step = Some(step);
        mfa.recovery = hashes.clone();
        Ok(())
    })
    .await?;
    if p.stage == SessionStage::Enrolment {
        spend_partial_session(store, &p.session).await?;
    } else {
        revoke(store, &p.session).await?;
    }
    let account = account_by_id(store, &p.account).await?;
    Ok((issue_pair(store, &account, Some(now()), None, sec, None, None).await?, codes))
}

/// Exchanges a refresh token for a new pair; the old refresh token is revoked
/// (rotation), and the absolute limit and family of the first sign-in carry
/// over. Returns the account too (for the audit record).
pub async fn refresh(store: &Store, token: &str, sec: &SecurityConfig) -> Result<(Account, TokenPair), AuthError> {
    if !token.starts_with("hvr_") || token.len() > 128 {
        return Err(AuthError::InvalidToken);
    }
    let session = session_id(token);
    let doc = read_session(store, &session).await?;
    if !doc.refresh || doc.revoked || doc.expires <= now() || doc.stage != SessionStage::Full {
        return Err(AuthError::InvalidToken);
    }
    let account = account_by_id(store, &doc.account).await.map_err(|_| AuthError::InvalidToken)?;
    if account.disabled {
        return Err(AuthError::InvalidToken);
    }
    // Only one refresh wins: deleting version 1 is the compare-and-set.
    match store.delete(&rtype(SESSION_TYPE), &session, Some(haven_core::VersionId::FIRST)).await {
        Ok(_) => {}
        Err(StoreError::NotFound | StoreError::VersionConflict { .. }) => return Err(AuthError::InvalidToken),
        Err(e) => return Err(e.into()),
    }
    let pair = issue_pair(store, &account, doc.mfa_time(), Some(doc.absolute), sec, doc.scopes, doc.family).await?;
    Ok((account, pair))
}

/// A service client that proved who it is, with its record.
pub struct AuthenticatedClient {
    id: ResourceId,
    doc: AccountDoc,
}

impl AuthenticatedClient {
    /// The client's account.
    pub fn account(&self) -> Account {
        Account::from_doc(self.id.clone(), &self.doc)
    }
}

/// A granted access token and the scopes it carries.
#[derive(Debug)]
pub struct ScopedToken {
    /// The token.
    pub token: IssuedToken,
    /// The scopes granted (space-separated).
    pub scopes: String,
}

/// Authenticates a service client by id and secret (`client_secret_post`).
pub async fn client_secret(
    store: &Store,
    limiter: &Limiter,
    ip: Option<IpAddr>,
    client_id: &str,
    secret: &Secret<String>,
    sec: &SecurityConfig,
) -> Result<AuthenticatedClient, AuthError> {
    let found = match normalize_username(client_id) {
        Ok(u) => find_account(store, &u).await?,
        Err(_) => None,
    };
    let given = hex::encode(sha256(secret.expose().as_bytes()));
    let ok = |d: &AccountDoc| {
        d.client
            .as_ref()
            .is_some_and(|c| !c.secret_hash.is_empty() && ring_eq(c.secret_hash.as_bytes(), given.as_bytes()))
            && !d.disabled
    };
    let Some((id, doc, _)) = found.filter(|(_, d, _)| ok(d) && !limiter.blocked(ip)) else {
        limiter.failed(ip, sec);
        tracing::info!("client authentication failed");
        return Err(AuthError::InvalidCredentials);
    };
    limiter.succeeded(ip);
    Ok(AuthenticatedClient { id, doc })
}

/// OAuth 2.0 client credentials: an access token bounded by the scopes the
/// client was granted (and those it asks for).
pub async fn client_token(
    store: &Store,
    client: &AuthenticatedClient,
    requested: Option<&str>,
    sec: &SecurityConfig,
) -> Result<ScopedToken, AuthError> {
    let granted = client.doc.client.as_ref().map(|c| c.scopes.as_str()).unwrap_or_default();
    let scopes = narrow(granted, requested);
    let token = issue(store, &client.account(), Issue::access(sec.token_ttl_secs, None, Some(scopes.clone()))).await?;
    Ok(ScopedToken { token, scopes })
}

/// OAuth 2.0 token exchange (RFC 8693): a service client presents a signed-in
/// user's access token and gets a token to act for that user. The client
/// may then do only what both its scopes and the user's rights allow; the
/// token lives no longer than the user's and dies with the user's sign-in.
pub async fn exchange(
    store: &Store,
    client: &AuthenticatedClient,
    subject_token: &str,
    requested: Option<&str>,
    sec: &SecurityConfig,
) -> Result<(OnBehalfOf, ScopedToken), AuthError> {
    if !subject_token.starts_with("hvn_") || subject_token.len() > 128 {
        return Err(AuthError::InvalidToken);
    }
    let subject = session_id(subject_token);
    let doc = read_session(store, &subject).await?;
    // Only a person's complete sign-in can be delegated: not a partial
    // session, not another client's token, not a delegated one.
    let user_is_client = matches!(doc.role, Role::Agent);
    if doc.revoked
        || doc.refresh
        || doc.expires <= now()
        || doc.stage != SessionStage::Full
        || doc.on_behalf_of.is_some()
        || user_is_client
    {
        return Err(AuthError::InvalidToken);
    }
    let user = OnBehalfOf {
        account: doc.account.clone(),
        role: doc.role,
        patient: doc.patient.clone(),
        practitioner: doc.practitioner.clone(),
        mfa: doc.mfa,
    };
    let granted = client.doc.client.as_ref().map(|c| c.scopes.as_str()).unwrap_or_default();
    let scopes = narrow(granted, requested);
    let how = Issue {
        absolute: Some(doc.expires),
        family: doc.family.clone(),
        on_behalf_of: Some(user.clone()),
        ..Issue::access(sec.token_ttl_secs, doc.mfa_time(), Some(scopes.clone()))
    };
    let token = issue(store, &client.account(), how).await?;
    Ok((user, ScopedToken { token, scopes }))
}

/// Signed-assertion algorithms accepted (SMART Backend Services: ES384, RS384).
const JWT_ALGS: [jsonwebtoken::Algorithm; 4] = [
    jsonwebtoken::Algorithm::ES384,
    jsonwebtoken::Algorithm::RS384,
    jsonwebtoken::Algorithm::ES256,
    jsonwebtoken::Algorithm::RS256,
];

/// Longest lifetime accepted for a client assertion.
const MAX_ASSERTION_SECS: i64 = 300;

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    jti: String,
}

/// OAuth 2.0 `private_key_jwt` (RFC 7523): a JWT signed with the client's
/// private key, `iss` = `sub` = client id, `aud` = this token endpoint,
/// expiring within five minutes, with a `jti` never seen before.
pub async fn client_assertion(
    store: &Store,
    limiter: &Limiter,
    ip: Option<IpAddr>,
    assertion: &str,
    audience: &str,
    sec: &SecurityConfig,
) -> Result<AuthenticatedClient, AuthError> {
    let fail = |why: &str| {
        limiter.failed(ip, sec);
        tracing::info!(reason = why, "client assertion refused");
        AuthError::InvalidCredentials
    };
    if limiter.blocked(ip) {
        return Err(fail("blocked"));
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| fail("malformed"))?;
    if !JWT_ALGS.contains(&header.alg) {
        return Err(fail("algorithm"));
    }
    // The issuer names the key to verify with; it is trusted only after that.
    let claimed = assertion
        .split('.')
        .nth(1)
        .and_then(|p| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("iss").and_then(|i| i.as_str()).map(str::to_owned))
        .ok_or_else(|| fail("no issuer"))?;
    let found = match normalize_username(&claimed) {
        Ok(u) => find_account(store, &u).await?,
        Err(_) => None,
    };
    let Some((id, doc, _)) = found else { return Err(fail("unknown client")) };
    let pem = doc.client.as_ref().and_then(|c| c.public_key_pem.clone()).ok_or_else(|| fail("no key"))?;
    let key = match header.alg {
        jsonwebtoken::Algorithm::ES384 | jsonwebtoken::Algorithm::ES256 => {
            jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes())
        }
        _ => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|_| fail("key"))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[claimed.as_str()]);
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    v.leeway = 30;
    let data = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v).map_err(|_| fail("signature or claims"))?;
    let c = data.claims;
    if c.sub != c.iss || c.exp > now() + MAX_ASSERTION_SECS || doc.disabled {
        return Err(fail("claims"));
    }
    if !limiter.first_use(&format!("{}\u{0}{}", c.iss, c.jti), c.exp) {
        return Err(fail("replayed"));
    }
    limiter.succeeded(ip);
    Ok(AuthenticatedClient { id, doc })
}

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_session(store: &Store, session: &ResourceId) -> Result<SessionDoc, AuthError> {
    let rec = match store.read(&rtype(SESSION_TYPE), session).await {
        Ok(r) => r,
        Err(StoreError::NotFound | StoreError::Gone { .. }) => return Err(AuthError::InvalidToken),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&rec.payload).map_err(|_| AuthError::Corrupt("session"))
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
    let doc = read_session(store, &session).await?;
    if doc.revoked || doc.refresh || doc.expires <= now() {
        return Err(AuthError::InvalidToken);
    }
    let mfa_at = doc.mfa_time();
    let p = Principal {
        account: doc.account,
        role: doc.role,
        session,
        stage: doc.stage,
        mfa: doc.mfa,
        mfa_at,
        patient: doc.patient,
        practitioner: doc.practitioner,
        scopes: doc.scopes,
        on_behalf_of: doc.on_behalf_of,
    };
    Ok((p, doc.expires))
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
    entries: Mutex<HashMap<ResourceId, (Principal, i64, std::time::Instant)>>,
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

    /// Forgets every session (after an administrative revocation).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
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
        Ok(_) | Err(StoreError::NotFound | StoreError::Gone { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Signs out: revokes a session and every session of its sign-in (the
/// refresh token, its rotations, and tokens exchanged for it). Returns the
/// ids revoked, for the caller to evict from its caches.
pub async fn sign_out(store: &Store, session: &ResourceId) -> Result<Vec<ResourceId>, AuthError> {
    let family = match read_session(store, session).await {
        Ok(doc) => doc.family,
        Err(AuthError::InvalidToken) => None,
        Err(e) => return Err(e),
    };
    let mut ids = vec![session.clone()];
    if let Some(f) = family {
        ids.extend(store.find(&rtype(SESSION_TYPE), "family", &f).await?.into_iter().filter(|i| i != session));
    }
    for id in &ids {
        revoke(store, id).await?;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let sec = SecurityConfig { lockout_threshold: 3, lockout_max_secs: 60, ..SecurityConfig::default() };
        let b: Vec<i64> = (0..12).map(|n| backoff(n, &sec)).collect();
        assert_eq!(b, vec![0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX, &sec), 60);
    }

    #[test]
    fn constant_time_compare() {
        assert!(ring_eq(b"abc", b"abc"));
        assert!(!ring_eq(b"abc", b"abd") && !ring_eq(b"abc", b"ab"));
    }
}
