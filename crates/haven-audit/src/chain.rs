//! The hash chain and signed checkpoints.
//!
//! Record n carries the hex SHA-256 of record n-1's canonical bytes (record 1
//! carries 64 zeros), so changing, removing or reordering any record breaks
//! every link after it. A checkpoint is an Ed25519 signature over a record's
//! sequence number and hash: it vouches for that record and, through the
//! chain, for every record before it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::AuditError;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev` of the first record.
pub const GENESIS: Hash = [0; 32];

/// SHA-256 of a record's canonical bytes.
pub fn hash_record(bytes: &[u8]) -> Hash {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A signed statement that record `seq` hashes to `hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The record vouched for.
    pub seq: u64,
    /// Hex SHA-256 of that record's canonical bytes.
    pub hash: String,
    /// When it was signed, unix microseconds.
    pub time: i64,
    /// [`PublicKey::key_id`] of the signing key.
    pub key_id: String,
    /// Ed25519 signature over [`Checkpoint::signed_bytes`], standard base64.
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!("haven-audit-checkpoint/v1\n{}\n{}\n{}\n", self.seq, self.hash, self.time).into_bytes()
    }
}

/// The checkpoint signing key (an Ed25519 key pair).
pub struct Signer {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl Signer {
    /// The key pair for a 32-byte seed (the keyring's signing seed).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Signer, AuditError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| AuditError::Key("not a valid Ed25519 seed".into()))?;
        let mut pk = [0u8; 32];
        pk.copy_from_slice(pair.public_key().as_ref());
        Ok(Signer { pair, public: PublicKey(pk) })
    }

    /// The public half, for verifiers.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs "record `seq` hashes to `hash`" at `time` (unix microseconds).
    pub fn sign(&self, seq: u64, hash: &Hash, time: i64) -> Checkpoint {
        let mut cp =
            Checkpoint { seq, hash: hex::encode(hash), time, key_id: self.public.key_id(), signature: String::new() };
        let sig = self.pair.sign(&cp.signed_bytes());
        cp.signature = STANDARD.encode(sig.as_ref());
        cp
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private half never leaves the process, not even in logs.
        f.debug_struct("Signer").field("public", &self.public).field("private", &"<redacted>").finish()
    }
}

/// An Ed25519 public key that verifies checkpoints.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A short name for the key: the first 16 hex characters of its SHA-256.
    pub fn key_id(&self) -> String {
        let mut id = hex::encode(hash_record(&self.0));
        id.truncate(16);
        id
    }

    /// Parses `ed25519:<base64>` (the [`Display`](fmt::Display) form) or bare base64.
    pub fn parse(s: &str) -> Result<PublicKey, AuditError> {
        let s = s.trim();
        let b64 = s.strip_prefix("ed25519:").unwrap_or(s);
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| AuditError::Key("public key is not ed25519:<base64 of 32 bytes>".into()))?;
        let key: [u8; 32] =
            bytes.try_into().map_err(|_| AuditError::Key("an Ed25519 public key is 32 bytes".into()))?;
        Ok(PublicKey(key))
    }

    /// Checks that `cp` is signed by this key.
    pub fn verify(&self, cp: &Checkpoint) -> Result<(), AuditError> {
        let id = self.key_id();
        if cp.key_id != id {
            return Err(AuditError::Signature(format!(
                "checkpoint at seq {} names key {:?}, not {id}",
                cp.seq, cp.key_id
            )));
        }
        let sig = STANDARD
            .decode(&cp.signature)
            .map_err(|_| AuditError::Signature(format!("checkpoint at seq {} has an unreadable signature", cp.seq)))?;
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&cp.signed_bytes(), &sig)
            .map_err(|_| AuditError::Signature(format!("checkpoint at seq {} has a bad signature", cp.seq)))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn signer(b: u8) -> Signer {
        Signer::from_seed(&[b; 32]).unwrap()
    }

    #[test]
    fn sign_and_verify() {
        let s = signer(7);
        let cp = s.sign(42, &hash_record(b"x"), 1_700_000_000_000_000);
        assert_eq!(cp.hash, hex::encode(hash_record(b"x")));
        assert_eq!(cp.key_id.len(), 16);
        s.public_key().verify(&cp).unwrap();
        // Any signed field changed: rejected.
        for f in [
            |c: &mut Checkpoint| c.seq += 1,
            |c: &mut Checkpoint| c.time += 1,
            |c: &mut Checkpoint| c.hash = hex::encode(GENESIS),
        ] {
            let mut bad = cp.clone();
            f(&mut bad);
            assert!(matches!(s.public_key().verify(&bad), Err(AuditError::Signature(_))));
        }
        // Another key: rejected, even with the key id forged.
        let other = signer(8).public_key();
        assert!(other.verify(&cp).is_err());
        let mut forged = cp.clone();
        forged.key_id = other.key_id();
        assert!(other.verify(&forged).is_err());
    }

    #[test]
    fn signed_bytes_format() {
        let cp = Checkpoint { seq: 3, hash: "ab".into(), time: -5, key_id: "k".into(), signature: String::new() };
        assert_eq!(cp.signed_bytes(), b"haven-audit-checkpoint/v1\n3\nab\n-5\n");
    }

    #[test]
    fn public_key_text_round_trips() {
        let pk = signer(1).public_key();
        let s = pk.to_string();
        assert!(s.starts_with("ed25519:"));
        assert_eq!(PublicKey::parse(&s).unwrap(), pk);
        assert_eq!(PublicKey::parse(s.trim_start_matches("ed25519:")).unwrap(), pk);
        assert_eq!(format!("{pk:?}"), s);
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(PublicKey::parse("ed25519:!!").is_err());
    }

    #[test]
    fn signer_debug_redacts() {
        let s = signer(9);
        let d = format!("{s:?}");
        assert!(d.contains("redacted"));
        assert!(!d.contains(&hex::encode([9u8; 32])));
    }

    #[test]
    fn hash_is_sha256() {
        assert_eq!(
            hex::encode(hash_record(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
