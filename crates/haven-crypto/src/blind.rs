//! Blind indexes: keyed HMAC-SHA-256 of a normalised value, so an exact-match
//! search finds records without storing or decrypting the plaintext.

use ring::hmac;

use crate::DataKey;

/// The key for blind indexes; separate from every KEK.
#[derive(Clone)]
pub struct BlindIndexKey(hmac::Key);

impl BlindIndexKey {
    /// Builds the HMAC key from raw key material.
    pub fn new(key: DataKey) -> Self {
        BlindIndexKey(hmac::Key::new(hmac::HMAC_SHA256, key.expose()))
    }

    /// The index value of `value` for the index `name` (e.g. `Patient.phone`).
    ///
    /// The name is part of the MAC input so equal values in different indexes
    /// do not match each other. Callers normalise `value` first.
    pub fn compute(&self, name: &str, value: &str) -> BlindIndexValue {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(&(name.len() as u32).to_be_bytes());
        ctx.update(name.as_bytes());
        ctx.update(value.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        BlindIndexValue(out)
    }
}

impl std::fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexKey([REDACTED])")
    }
}

/// A blind index value (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BlindIndexValue(pub [u8; 32]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_and_scoped() {
        let a = BlindIndexKey::new(DataKey::from_bytes([1; 32]));
        let b = BlindIndexKey::new(DataKey::from_bytes([2; 32]));
        assert_eq!(a.compute("phone", "6175550142"), a.compute("phone", "6175550142"));
        assert_ne!(a.compute("phone", "6175550142"), b.compute("phone", "6175550142"));
        assert_ne!(a.compute("phone", "6175550142"), a.compute("mrn", "6175550142"));
        // The length prefix keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(a.compute("ab", "c"), a.compute("a", "bc"));
    }
}
