//! Haven's cryptography: AES-256-GCM envelope encryption with data keys
//! wrapped by versioned key-encryption keys (KEKs) from a [`KeyProvider`],
//! keyed blind indexes for exact-match search, password hashing, TOTP second factors and
//! recovery codes, and a check against a shipped list of common passwords.
//!
//! Nothing here logs, and no key material is ever printed: every key type
//! redacts its `Debug` and is zeroized on drop.

mod aead;
mod blind;
pub mod common_passwords;
mod envelope;
mod error;
mod keyring;
mod password;
mod provider;
pub mod totp;

pub use aead::{DataKey, open, seal};
pub use blind::{BlindIndexKey, BlindIndexValue};
pub use envelope::{Envelope, SealedRecord};
pub use error::CryptoError;
pub use keyring::{EnvKeyProvider, Kek, KekInfo, KekState, KekVersion, LocalKeyring};
pub use password::{PasswordParams, hash_password, verify_password};
pub use provider::{KeyProvider, WrappedKey};
pub use totp::{TotpError, TotpSecret};

/// Fills `buf` from the operating system's secure random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new().fill(buf).map_err(|_| CryptoError::Random)
}

/// A random token of `n` bytes, URL-safe base64 without padding.
pub fn random_token(n: usize) -> Result<String, CryptoError> {
    use base64::Engine;
    let mut buf = vec![0u8; n];
    random_bytes(&mut buf)?;
    let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf);
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(s)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}
