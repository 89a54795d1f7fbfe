//! The one error type of this crate.

/// What went wrong in a cryptographic operation. Messages never carry key
/// material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong associated data, or tampering.
    #[error("decryption failed: the ciphertext is corrupt, was moved to another record, or the key is wrong")]
    Decrypt,
    /// The ciphertext is shorter than its header or of an unknown format.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// The ciphertext names a KEK version the provider does not hold.
    #[error("key-encryption key version {0} is not available (retired or never created)")]
    UnknownKeyVersion(u32),
    /// The keyring cannot be used; the message says why.
    #[error("keyring {path}: {reason}")]
    Keyring {
        /// Where the keyring is.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key provider failed (e.g. a remote key service is unreachable).
    #[error("key provider: {0}")]
    Provider(String),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Password hashing failed (bad parameters).
    #[error("password hashing: {0}")]
    Password(String),
}
