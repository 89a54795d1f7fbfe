//! De-identification inside the server: the tenant key (derived from the
//! keyring, the same key `haven deid --data-dir` uses, so pseudonyms match
//! between the API and the command line), one [`Deidentifier`] per shipped
//! policy, and the token vault as encrypted records in the store.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use haven_core::{ResourceId, ResourceType};
use haven_deid::{DeidOptions, Deidentified, Deidentifier, InMemoryVault, Policy, PseudonymKey, TokenVault};
use haven_store::{BatchItem, Precondition, Store};

use crate::config::Config;
use crate::state::OpenError;

/// The record type of a vault entry (token → original value), encrypted
/// like every record; never served through FHIR.
pub const TOKEN_TYPE: &str = "HavenDeidToken";

/// The purpose label of the tenant key, shared with `haven deid --data-dir`.
pub const KEY_PURPOSE: &str = "haven-deid/tenant-key/v1";

/// The shipped policies an API caller may name.
pub const POLICIES: [&str; 3] = ["safe-harbor", "limited-data-set", "llm-round-trip"];

/// Derives the tenant's de-identification key from the keyring: an HMAC
/// of the keyring's signing seed with a purpose label, so it is never the
/// signing key itself and is the same in every process of the installation.
pub fn tenant_key(data_dir: &Path, config: &Config) -> Result<PseudonymKey, String> {
    let ring = haven_crypto::LocalKeyring::open(&data_dir.join(&config.keys.keyring)).map_err(|e| e.to_string())?;
    let seed = ring.signing_seed().map_err(|e| e.to_string())?;
    let base = PseudonymKey::from_bytes(&seed[..]).map_err(|e| e.to_string())?;
    Ok(base.derive(KEY_PURPOSE))
}

/// The de-identifiers of the installation, one per shipped policy.
pub struct DeidService {
    by_policy: HashMap<&'static str, Deidentifier>,
}

impl std::fmt::Debug for DeidService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeidService").field("policies", &self.by_policy.len()).finish()
    }
}

impl DeidService {
    /// Builds the de-identifiers with the tenant key.
    pub fn open(data_dir: &Path, config: &Config) -> Result<Arc<Self>, OpenError> {
        let key = tenant_key(data_dir, config)
            .map_err(|reason| OpenError::DataDir { path: data_dir.display().to_string(), reason })?;
        let mut by_policy = HashMap::new();
        for name in POLICIES {
            if let Some(p) = Policy::builtin(name) {
                by_policy.insert(name, Deidentifier::new(p, &key));
            }
        }
        Ok(Arc::new(DeidService { by_policy }))
    }

    /// The de-identifier of a shipped policy.
    pub fn get(&self, policy: &str) -> Option<&Deidentifier> {
        self.by_policy.get(policy)
    }

    /// De-identifies `text`; tokens made by `tokenize` are written to the
    /// store's vault before the text is returned (no token without its entry).
    pub async fn apply(
        &self,
        store: &Store,
        policy: &str,
        text: &str,
        patient: Option<&str>,
    ) -> Result<Deidentified, DeidFailure> {
        let d = self.get(policy).ok_or(DeidFailure::UnknownPolicy)?;
        let vault = InMemoryVault::new();
        // The options borrow the vault as a trait object that is not Sync:
        // they must be gone before the first await.
        let out = {
            let opts = DeidOptions { patient_id: patient, vault: Some(&vault), offsets: None };
            d.deidentify(text, &opts).map_err(|_| DeidFailure::Engine)?
        };
        save_tokens(store, &vault).await?;
        Ok(out)
    }
}

/// The assistant's guard on model prompts: identifiers become reversible
/// tokens before a prompt leaves Haven, and come back in the reply.
pub struct PromptTokens {
    service: Arc<DeidService>,
    store: Store,
}

impl PromptTokens {
    /// A guard writing its tokens to `store`'s vault.
    pub fn new(service: Arc<DeidService>, store: Store) -> Self {
        PromptTokens { service, store }
    }
}

#[async_trait::async_trait]
impl haven_agent::turn::PromptGuard for PromptTokens {
    async fn protect(&self, text: &str) -> Result<String, String> {
        let out = self.service.apply(&self.store, "llm-round-trip", text, None).await.map_err(|e| e.to_string())?;
        Ok(out.text)
    }

    async fn restore(&self, text: &str) -> Result<String, String> {
        let vault = load_tokens(&self.store, text).await.map_err(|e| e.to_string())?;
        haven_deid::reidentify(text, &vault).map(|(t, _)| t).map_err(|e| e.to_string())
    }
}

/// Why a de-identification call failed (never with the text).
#[derive(Debug, thiserror::Error)]
pub enum DeidFailure {
    /// The policy name is not a shipped one.
    #[error("unknown policy")]
    UnknownPolicy,
    /// The engine refused the input.
    #[error("the text could not be de-identified")]
    Engine,
    /// The vault could not be written or read.
    #[error(transparent)]
    Store(#[from] haven_store::StoreError),
}

fn token_type() -> Result<ResourceType, haven_store::StoreError> {
    ResourceType::parse(TOKEN_TYPE).map_err(|_| haven_store::StoreError::NotFound)
}

/// A token (`NAME_0123456789`) as a record id (ids allow no `_`).
fn token_id(token: &str) -> Option<ResourceId> {
    ResourceId::parse(&token.to_ascii_lowercase().replace('_', "-")).ok()
}

async fn save_tokens(store: &Store, vault: &InMemoryVault) -> Result<(), DeidFailure> {
    let entries = vault.entries();
    if entries.is_empty() {
        return Ok(());
    }
    let rtype = token_type()?;
    let mut items = Vec::with_capacity(entries.len());
    for (token, _, value) in entries {
        let Some(id) = token_id(&token) else { continue };
        // A token is a keyed hash of its value: rewriting it is idempotent.
        let payload = serde_json::to_vec(&serde_json::json!({ "value": value })).map_err(|_| DeidFailure::Engine)?;
        items.push(BatchItem {
            rtype: rtype.clone(),
            id,
            precondition: Precondition::None,
            payload: Some(payload),
            terms: Vec::new(),
        });
    }
    store.write_batch(&items).await?;
    Ok(())
}

/// The vault entries the tokens in `text` name, read from the store, as a
/// vault [`haven_deid::reidentify`] can use.
pub async fn load_tokens(store: &Store, text: &str) -> Result<InMemoryVault, DeidFailure> {
    let vault = InMemoryVault::new();
    let rtype = token_type()?;
    let mut seen = std::collections::HashSet::new();
    for token in haven_deid::find_tokens(text) {
        if !seen.insert(token.to_string()) {
            continue;
        }
        let Some(id) = token_id(token) else { continue };
        // An unknown token stays as it is; a failing store is an error, not
        // a silently unrestored text.
        let record = match store.read(&rtype, &id).await {
            Ok(r) => r,
            Err(haven_store::StoreError::NotFound | haven_store::StoreError::Gone { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&record.payload) else { continue };
        if let (Some(value), Some((kind, _))) = (v["value"].as_str(), token.rsplit_once('_')) {
            let kind = kind.parse().map_err(|_| DeidFailure::Engine)?;
            vault.store(token, kind, value).map_err(|_| DeidFailure::Engine)?;
        }
    }
    Ok(vault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_valid_record_ids() {
        let id = token_id("HEALTH_PLAN_ID_0123456789").unwrap();
        assert_eq!(id.as_str(), "health-plan-id-0123456789");
        assert!(token_id("").is_none());
    }
}
