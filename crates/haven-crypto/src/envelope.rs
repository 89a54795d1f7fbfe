//! Envelope encryption of records: a fresh data key per record version,
//! wrapped by the provider's active KEK; both bound to the record's
//! associated data so a ciphertext copied onto another record fails.

use std::sync::Arc;

use crate::{CryptoError, DataKey, KeyProvider, WrappedKey, open, seal};

/// A sealed payload and its wrapped data key, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    /// The data key, wrapped under a KEK version.
    pub wrapped_key: WrappedKey,
    /// The payload, sealed under the data key.
    pub ciphertext: Vec<u8>,
}

/// Seals and opens records through a [`KeyProvider`].
#[derive(Clone)]
pub struct Envelope {
    provider: Arc<dyn KeyProvider>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Envelope({})", self.provider.name())
    }
}

impl Envelope {
    /// Uses `provider` for data-key wrapping.
    pub fn new(provider: Arc<dyn KeyProvider>) -> Self {
        Envelope { provider }
    }

    /// The provider behind this envelope.
    pub fn provider(&self) -> &Arc<dyn KeyProvider> {
        &self.provider
    }

    /// Encrypts `plaintext` for the record identified by `aad`.
    pub async fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<SealedRecord, CryptoError> {
        let key = DataKey::generate()?;
        let ciphertext = seal(&key, aad, plaintext)?;
        let wrapped_key = self.provider.wrap(&key, aad).await?;
        Ok(SealedRecord { wrapped_key, ciphertext })
    }

    /// Decrypts a record sealed for the same `aad`.
    pub async fn open(&self, aad: &[u8], sealed: &SealedRecord) -> Result<Vec<u8>, CryptoError> {
        let key = self.provider.unwrap(&sealed.wrapped_key, aad).await?;
        open(&key, aad, &sealed.ciphertext)
    }

    /// Re-wraps a data key under the active KEK; the payload is untouched.
    pub async fn rewrap(&self, aad: &[u8], wrapped: &WrappedKey) -> Result<WrappedKey, CryptoError> {
        let key = self.provider.unwrap(wrapped, aad).await?;
        self.provider.wrap(&key, aad).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalKeyring;

    #[tokio::test]
    async fn seal_open_rewrap() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(LocalKeyring::create(&dir.path().join("k.json")).unwrap());
        let env = Envelope::new(ring.clone());
        let s = env.seal(b"Patient/1/1", b"{\"name\":\"Zebulon\"}").await.unwrap();
        assert!(!s.ciphertext.windows(7).any(|w| w == b"Zebulon"));
        assert_eq!(env.open(b"Patient/1/1", &s).await.unwrap(), b"{\"name\":\"Zebulon\"}");
        assert!(matches!(env.open(b"Patient/2/1", &s).await, Err(CryptoError::Decrypt)));
        ring.rotate().unwrap();
        let w = env.rewrap(b"Patient/1/1", &s.wrapped_key).await.unwrap();
        assert_eq!(w.version().get(), 2);
        let moved = SealedRecord { wrapped_key: w, ciphertext: s.ciphertext.clone() };
        assert_eq!(env.open(b"Patient/1/1", &moved).await.unwrap(), b"{\"name\":\"Zebulon\"}");
    }
}
