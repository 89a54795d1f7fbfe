//! Password hashing with Argon2id (PHC string format).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::CryptoError;

/// Argon2id cost parameters. The default is OWASP's recommendation
/// (19 MiB memory, 2 iterations, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

fn argon(p: PasswordParams) -> Result<Argon2<'static>, CryptoError> {
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
        .map_err(|e| CryptoError::Password(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password into a PHC string with a random salt.
pub fn hash_password(password: &str, params: PasswordParams) -> Result<String, CryptoError> {
    let mut salt = [0u8; 16];
    crate::random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| CryptoError::Password(e.to_string()))?;
    argon(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Password(e.to_string()))
}

/// Checks a password against a PHC string (constant-time comparison inside).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let p = PasswordParams { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let h = hash_password("correct horse", p).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
