//! The key-provider seam: Haven asks a provider to wrap and unwrap data keys
//! and never needs the KEK itself, so a remote service (HashiCorp Vault
//! transit, a cloud KMS) fits behind the same trait as the local keyring.

use async_trait::async_trait;

use crate::{CryptoError, DataKey, KekVersion};

/// A data key encrypted under a KEK version.
///
/// Wire format: `[format=1][kek version: u32 BE][aead message]`, so the
/// version needed to unwrap travels with the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    const HEADER: usize = 5;

    /// Builds a wrapped key from its parts.
    pub fn new(version: KekVersion, body: &[u8]) -> Self {
        let mut v = Vec::with_capacity(Self::HEADER + body.len());
        v.push(1);
        v.extend_from_slice(&version.get().to_be_bytes());
        v.extend_from_slice(body);
        WrappedKey(v)
    }

    /// Parses stored bytes; checks the header only.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CryptoError> {
        if bytes.len() < Self::HEADER || bytes[0] != 1 {
            return Err(CryptoError::Malformed("wrapped key header"));
        }
        let w = WrappedKey(bytes);
        KekVersion::new(w.raw_version()).map_err(|_| CryptoError::Malformed("wrapped key version"))?;
        Ok(w)
    }

    fn raw_version(&self) -> u32 {
        u32::from_be_bytes([self.0[1], self.0[2], self.0[3], self.0[4]])
    }

    /// The KEK version this key is wrapped under.
    pub fn version(&self) -> KekVersion {
        // The constructor and `from_bytes` both guarantee a valid version.
        KekVersion::new(self.raw_version()).unwrap_or(KekVersion::FIRST)
    }

    /// The encrypted key without the header.
    pub fn body(&self) -> &[u8] {
        &self.0[Self::HEADER..]
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey(kek v{}, {} bytes)", self.raw_version(), self.0.len())
    }
}

/// A source of key-encryption keys. Implementations must be cheap to call
/// concurrently; remote ones should cache unwrapped data keys.
#[async_trait]
pub trait KeyProvider: Send + Sync + 'static {
    /// A short name for logs and `/readyz` (e.g. `local-keyring`).
    fn name(&self) -> &'static str;

    /// The version new data keys are wrapped under.
    async fn active_version(&self) -> Result<KekVersion, CryptoError>;

    /// Wraps `key` under the active KEK, bound to `aad`.
    async fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError>;

    /// Unwraps a key made by [`KeyProvider::wrap`] with the same `aad`.
    async fn unwrap(&self, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, CryptoError>;

    /// The 32-byte key for blind indexes (separate from every KEK).
    async fn blind_index_key(&self) -> Result<crate::BlindIndexKey, CryptoError>;

    /// Checks that the provider can serve keys right now (for `/readyz`).
    async fn check(&self) -> Result<(), CryptoError> {
        self.active_version().await.map(|_| ())
    }
}
