//! AES-256-GCM with a random 96-bit nonce: `seal` and `open`.
//!
//! Wire format: `[format=1][nonce: 12][ciphertext][tag: 16]`.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, random_bytes};

const FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;
/// Bytes a sealed message adds to its plaintext.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// A 256-bit AES key, wiped on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut k = [0u8; 32];
        random_bytes(&mut k)?;
        Ok(DataKey(k))
    }

    /// Takes ownership of raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    /// Raw key bytes, for wrapping only.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn aead_key(&self) -> Result<LessSafeKey, CryptoError> {
        // ring keeps its own expanded key schedule; it is dropped with the call.
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Malformed("bad key length"))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// Encrypts `plaintext` under `key`, binding it to `aad`.
pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .aead_key()?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[1 + NONCE_LEN..])
        .map_err(|_| CryptoError::Decrypt)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Decrypts a message made by [`seal`] with the same key and `aad`.
pub fn open(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::Malformed("ciphertext too short"));
    }
    if sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Malformed("unknown ciphertext format"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let mut buf = sealed[1 + NONCE_LEN..].to_vec();
    let len = key
        .aead_key()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_binding() {
        let k = DataKey::generate().unwrap();
        let c = seal(&k, b"Patient/1/1", b"hello").unwrap();
        assert_eq!(c.len(), 5 + OVERHEAD);
        assert_eq!(open(&k, b"Patient/1/1", &c).unwrap(), b"hello");
        assert!(matches!(open(&k, b"Patient/2/1", &c), Err(CryptoError::Decrypt)));
        let other = DataKey::generate().unwrap();
        assert!(matches!(open(&other, b"Patient/1/1", &c), Err(CryptoError::Decrypt)));
        assert!(matches!(open(&k, b"", &c[..10]), Err(CryptoError::Malformed(_))));
        assert_eq!(format!("{k:?}"), "DataKey([REDACTED])");
    }

    #[test]
    fn nonces_differ() {
        let k = DataKey::generate().unwrap();
        assert_ne!(seal(&k, b"", b"x").unwrap(), seal(&k, b"", b"x").unwrap());
    }

    proptest! {
        #[test]
        fn any_bit_flip_is_detected(msg in proptest::collection::vec(any::<u8>(), 0..256), pos in any::<usize>(), bit in 0u8..8) {
            let k = DataKey::generate().unwrap();
            let mut c = seal(&k, b"aad", &msg).unwrap();
            let i = pos % c.len();
            c[i] ^= 1 << bit;
            prop_assert!(open(&k, b"aad", &c).is_err());
        }

        #[test]
        fn open_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..128)) {
            let k = DataKey::generate().unwrap();
            let _ = open(&k, b"aad", &junk);
        }
    }
}
