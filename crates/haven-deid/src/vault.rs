//! Keys and stores the operators need: the tenant's pseudonym key, the
//! token vault behind reversible tokens, and per-patient date offsets.

use std::collections::HashMap;
use std::sync::Mutex;

use haven_core::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::types::PhiType;

/// The tenant secret behind pseudonyms, surrogates, tokens and default date
/// offsets. At least 32 bytes; `Debug` never shows it; wiped on drop.
#[derive(Clone)]
pub struct PseudonymKey(Secret<Vec<u8>>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey([REDACTED])")
    }
}

/// A failure of a key, a token vault or a date-offset store. Never carries
/// a PHI value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key material is too short or malformed.
    #[error("de-identification key: {0}")]
    BadKey(&'static str),
    /// The backing store failed (its own message, which must hold no PHI).
    #[error("token vault: {0}")]
    Store(String),
}

impl PseudonymKey {
    /// A key from raw secret bytes (32 or more).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() < 32 {
            return Err(VaultError::BadKey("needs at least 32 bytes"));
        }
        Ok(PseudonymKey(Secret::new(bytes.to_vec())))
    }

    /// A key from a key file's contents: hex text (64+ hex digits) or 32+ raw bytes.
    pub fn from_key_file(contents: &[u8]) -> Result<Self, VaultError> {
        let trimmed = contents.trim_ascii();
        if trimmed.len() >= 64 && trimmed.len().is_multiple_of(2) && trimmed.iter().all(u8::is_ascii_hexdigit) {
            let bytes = hex::decode(trimmed).map_err(|_| VaultError::BadKey("invalid hex"))?;
            return Self::from_bytes(&bytes);
        }
        Self::from_bytes(contents)
    }

    /// A sub-key for one purpose, so pseudonyms, tokens and offsets never
    /// share key material (HMAC-SHA-256 of the purpose label).
    pub fn derive(&self, purpose: &str) -> PseudonymKey {
        PseudonymKey(Secret::new(self.mac(purpose.as_bytes(), &[]).to_vec()))
    }

    /// HMAC-SHA-256 of `parts` (length-prefixed, so part boundaries count).
    pub fn mac(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose()) {
            Ok(m) => m,
            // HMAC accepts keys of any length; this arm is unreachable.
            Err(_) => return [0; 32],
        };
        m.update(&(label.len() as u64).to_be_bytes());
        m.update(label);
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

/// Where reversible tokens are kept: token → (type, value). The server backs
/// it with its encrypted store; [`InMemoryVault`] serves the CLI and tests.
/// Methods take `&self` so one vault can be shared across requests.
pub trait TokenVault {
    /// Records that `token` stands for `value`.
    fn store(&self, token: &str, kind: PhiType, value: &str) -> Result<(), VaultError>;
    /// The value a token stands for, if the vault knows it.
    fn lookup(&self, token: &str) -> Result<Option<String>, VaultError>;
}

/// A token vault in memory (the CLI writes it to a file only on request).
#[derive(Default)]
pub struct InMemoryVault {
    map: Mutex<HashMap<String, (PhiType, String)>>,
}

impl std::fmt::Debug for InMemoryVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "InMemoryVault({n} tokens)")
    }
}

impl InMemoryVault {
    /// An empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tokens held.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the vault holds no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry as (token, type, value), sorted by token (for saving).
    pub fn entries(&self) -> Vec<(String, PhiType, String)> {
        let mut v: Vec<_> = self
            .map
            .lock()
            .map(|m| m.iter().map(|(k, (t, v))| (k.clone(), *t, v.clone())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl TokenVault for InMemoryVault {
    fn store(&self, token: &str, kind: PhiType, value: &str) -> Result<(), VaultError> {
        let mut m = self.map.lock().map_err(|_| VaultError::Store("vault lock poisoned".into()))?;
        m.insert(token.to_string(), (kind, value.to_string()));
        Ok(())
    }

    fn lookup(&self, token: &str) -> Result<Option<String>, VaultError> {
        let m = self.map.lock().map_err(|_| VaultError::Store("vault lock poisoned".into()))?;
        Ok(m.get(token).map(|(_, v)| v.clone()))
    }
}

/// Per-patient date shifts in days. The same patient must always get the
/// same offset so intervals hold across all of their documents.
pub trait DateOffsets {
    /// The offset for `patient_id`, never 0.
    fn offset_days(&self, patient_id: &str) -> Result<i32, VaultError>;
}

/// Offsets derived from the key and the patient id: stable across runs and
/// machines without a store, unguessable without the key.
#[derive(Clone, Debug)]
pub struct KeyedDateOffsets {
    key: PseudonymKey,
    max_days: u32,
}

impl KeyedDateOffsets {
    /// Offsets in `-max_days..=-1` and `1..=max_days` (365 when 0 is given).
    pub fn new(key: &PseudonymKey, max_days: u32) -> Self {
        KeyedDateOffsets {
            key: key.derive("haven-deid/dateshift/v1"),
            max_days: if max_days == 0 { 365 } else { max_days.min(3650) },
        }
    }
}

impl DateOffsets for KeyedDateOffsets {
    fn offset_days(&self, patient_id: &str) -> Result<i32, VaultError> {
        let h = self.key.mac(b"offset", &[patient_id.as_bytes()]);
        let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let magnitude = (n % self.max_days) as i32 + 1;
        Ok(if h[4] & 1 == 0 { -magnitude } else { magnitude })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_need_32_bytes_and_never_print() {
        assert!(PseudonymKey::from_bytes(&[1; 31]).is_err());
        let k = PseudonymKey::from_key_file(b"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
        let k = match k {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(format!("{k:?}"), "PseudonymKey([REDACTED])");
        assert_ne!(k.derive("a").mac(b"x", &[]), k.derive("b").mac(b"x", &[]));
    }

    #[test]
    fn offsets_are_stable_and_nonzero() {
        let k = PseudonymKey::from_bytes(&[7; 32]).map_err(|e| e.to_string());
        let Ok(k) = k else { panic!("key") };
        let o = KeyedDateOffsets::new(&k, 365);
        for p in ["a", "b", "patient-1", ""] {
            let d = o.offset_days(p).unwrap_or(0);
            assert!(d != 0 && d.abs() <= 365);
            assert_eq!(Some(d), o.offset_days(p).ok());
        }
    }

    #[test]
    fn vault_round_trip() {
        let v = InMemoryVault::new();
        assert!(v.store("T1", PhiType::Name, "Jane").is_ok());
        assert_eq!(v.lookup("T1").ok().flatten().as_deref(), Some("Jane"));
        assert_eq!(v.lookup("T2").ok().flatten(), None);
        assert_eq!(format!("{v:?}"), "InMemoryVault(1 tokens)");
    }
}
