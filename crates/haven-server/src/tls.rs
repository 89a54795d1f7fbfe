//! TLS for every listener: rustls (TLS 1.2 and 1.3 only, ring provider)
//! with the operator's certificate, or a self-signed one generated on first
//! start and kept in `DATA_DIR/tls/`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing or unreadable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls rejected the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Certificate generation failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(String),
}

fn file_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File { path: path.display().to_string(), reason: reason.to_string() }
}

/// The certificate and key paths to use, generating a self-signed pair in
/// `data_dir/tls/` when none is configured.
pub fn ensure_certificate(data_dir: &Path, cfg: &TlsConfig) -> Result<(PathBuf, PathBuf), TlsError> {
    if let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) {
        return Ok((data_dir.join(cert), data_dir.join(key)));
    }
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
    let host = fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if !host.is_empty() && host != "localhost" {
        names.push(host);
    }
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(&key, ck.key_pair.serialize_pem().as_bytes())?;
    fs::write(&cert, ck.cert.pem()).map_err(|e| file_err(&cert, e))?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let mut f =
        fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| file_err(path, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| file_err(path, e))
}

/// A rustls server configuration for the given PEM files: TLS 1.2+, ALPN
/// h2 and http/1.1.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, e))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = ensure_certificate(dir.path(), &TlsConfig::default()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&k).unwrap().permissions().mode() & 0o777, 0o600);
        let before = fs::read(&c).unwrap();
        let (c2, _) = ensure_certificate(dir.path(), &TlsConfig::default()).unwrap();
        assert_eq!(fs::read(c2).unwrap(), before, "kept, not regenerated");
        assert!(server_config(&c, &k).is_ok());
        assert!(server_config(&k, &c).is_err(), "swapped files are rejected");
    }
}
