//! TLS with rustls (the `ring` provider; TLS 1.2 and 1.3, so an ESP8266's BearSSL can connect):
//! the server's acceptor from PEM files, a client's connector from a CA file (or the system's
//! roots) and, for mutual TLS, a client certificate, and the handshakes, each bounded in time.
//!
//! Its errors ([`TlsError`]) name the file at fault and its [`PemRole`], never a setting: the
//! settings layer (`config`) knows which flag or profile key gave the file, and says so.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::transport::Transport;

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A PEM file: a certificate chain, a CA's certificates or a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    /// The file.
    pub path: PathBuf,
}

/// What a PEM file is for, so that the caller can name the setting that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemRole {
    /// Certificates to trust (a client's `ca`).
    Ca,
    /// The certificate chain presented (the server's, or a client's for mutual TLS).
    Certificate,
    /// The certificate's private key.
    Key,
}

impl std::fmt::Display for PemRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PemRole::Ca => "CA file",
            PemRole::Certificate => "certificate file",
            PemRole::Key => "private key file",
        })
    }
}

/// What to give instead of a file that holds no usable certificate.
const CERT_FIX: &str = "give a PEM file of certificates (-----BEGIN CERTIFICATE-----), e.g. from `openssl req -x509` (see docs/security.md)";

/// What is wrong with a PEM file; the text says what to give instead.
#[derive(Debug, thiserror::Error)]
pub enum PemProblem {
    /// Unreadable, or not PEM.
    #[error("cannot read certificates from it ({0}); {CERT_FIX}")]
    Unreadable(pem::Error),
    /// PEM, but with no certificate in it.
    #[error("it holds no certificate; {CERT_FIX}")]
    NoCertificate,
    /// No private key could be read from it.
    #[error(
        "cannot read a private key from it ({0}); give the certificate's key in PEM (-----BEGIN PRIVATE KEY-----), unencrypted"
    )]
    NoPrivateKey(pem::Error),
    /// A key of a kind rustls (ring) cannot sign with.
    #[error(
        "cannot use this key ({0}); give an RSA (2048 bits or more), ECDSA P-256 or P-384, or Ed25519 key"
    )]
    UnsupportedKey(rustls::Error),
    /// The key is not the one of the certificate at `cert`.
    #[error("it does not go with {} ({cause}); give the key the certificate was made with", cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// rustls's reason.
        cause: rustls::Error,
    },
    /// A certificate that cannot be a trust anchor.
    #[error("not a usable CA certificate: {0}")]
    NotCa(rustls::Error),
    /// A client certificate that rustls refuses.
    #[error(
        "not a usable client certificate ({0}); give an X.509 v3 certificate in PEM, the client's own first"
    )]
    NotClientCertificate(rustls::Error),
}

/// Why no acceptor or connector could be built. Knows files, not settings: the settings layer
/// names the flag or profile key of the file's [`PemRole`].
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be used.
    #[error("the {role} {}: {problem}", path.display())]
    File {
        /// What the file is for.
        role: PemRole,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: PemProblem,
    },
    /// rustls refused the protocol versions (not expected with the ring provider).
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
}

fn bad(role: PemRole, file: &PemFile, problem: PemProblem) -> TlsError {
    TlsError::File { role, path: file.path.clone(), problem }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(role: PemRole, file: &PemFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(&file.path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| bad(role, file, PemProblem::Unreadable(e)))?;
    if certs.is_empty() {
        return Err(bad(role, file, PemProblem::NoCertificate));
    }
    Ok(certs)
}

/// A private key from a PEM file (warned about when everyone may read it).
fn private_key(key: &PemFile) -> Result<PrivateKeyDer<'static>, TlsError> {
    if let Ok(meta) = std::fs::metadata(&key.path) {
        crate::secret::warn_if_world_readable(&key.path, &meta);
    }
    PrivateKeyDer::from_pem_file(&key.path).map_err(|e| bad(PemRole::Key, key, PemProblem::NoPrivateKey(e)))
}

fn mismatch(cert: &PemFile, key: &PemFile, cause: rustls::Error) -> TlsError {
    bad(PemRole::Key, key, PemProblem::KeyMismatch { cert: cert.path.clone(), cause })
}

/// The server side: certificate chain and private key from PEM files, checked to match.
pub fn acceptor(cert: &PemFile, key: &PemFile) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(PemRole::Certificate, cert)?;
    let private = private_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| mismatch(cert, key, e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A client certificate (its chain first) and its private key, for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, the client's own certificate first.
    pub cert: PemFile,
    /// Its private key.
    pub key: PemFile,
}

/// The client side: trusts the certificates in `ca` (a self-signed server certificate works),
/// or the system's roots when `ca` is `None`; presents `identity` when the server asks.
pub fn connector(ca: Option<&PemFile>, identity: Option<&ClientIdentity>) -> Result<TlsConnector, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(file) => {
            for cert in certificates(PemRole::Ca, file)? {
                roots.add(cert).map_err(|e| bad(PemRole::Ca, file, PemProblem::NotCa(e)))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert); // a broken system certificate is skipped, as curl does
            }
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots);
    let config = match identity {
        None => config.with_no_client_auth(),
        Some(ClientIdentity { cert, key }) => {
            let chain = certificates(PemRole::Certificate, cert)?;
            let private = private_key(key)?;
            if let Err(e) = provider().key_provider.load_private_key(private.clone_key()) {
                return Err(bad(PemRole::Key, key, PemProblem::UnsupportedKey(e)));
            }
            // rustls checks that the key is the certificate's own.
            config.with_client_auth_cert(chain, private).map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => mismatch(cert, key, e),
                other => bad(PemRole::Certificate, cert, PemProblem::NotClientCertificate(other)),
            })?
        }
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A client's TLS settings, ready to connect.
#[derive(Clone)]
pub struct ClientTls {
    /// The connector (trusted roots, protocol versions).
    pub connector: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.connector.config(), other.connector.config())
    }
}

impl Eq for ClientTls {}

/// The TLS server name of `HOST:PORT`: an IP address or a DNS name.
pub fn server_name(server: &str) -> io::Result<ServerName<'static>> {
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?} is not a TLS server name: {e}"))
    })
}

/// The server's handshake on an accepted socket, bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn accept(acceptor: &TlsAcceptor, tcp: TcpStream) -> io::Result<Transport> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(stream) => Ok(tokio_rustls::TlsStream::from(stream?).into()),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
    }
}

/// A client's handshake with `server` (`HOST:PORT`), bounded by [`HANDSHAKE_TIMEOUT`].
pub async fn connect(connector: &TlsConnector, server: &str, tcp: TcpStream) -> io::Result<Transport> {
    let name = server_name(server)?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(stream) => Ok(tokio_rustls::TlsStream::from(stream?).into()),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_its_role_and_say_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = PemFile { path: dir.path().join("junk.pem") };
        std::fs::write(&junk.path, "not a PEM file\n").expect("junk");
        let missing = PemFile { path: dir.path().join("missing.pem") };
        let err = connector(Some(&missing), None).err().expect("no such file");
        assert!(
            matches!(&err, TlsError::File { role: PemRole::Ca, problem: PemProblem::Unreadable(_), path } if *path == missing.path),
            "{err:?}"
        );
        let err = connector(Some(&junk), None).err().expect("no certificate");
        assert!(matches!(err, TlsError::File { role: PemRole::Ca, problem: PemProblem::NoCertificate, .. }));
        assert!(err.to_string().starts_with("the CA file "), "{err}");
        assert!(err.to_string().contains("junk.pem: it holds no certificate; give a PEM file"), "{err}");
        let err = acceptor(&junk, &junk).err().expect("no certificate");
        assert!(matches!(err, TlsError::File { role: PemRole::Certificate, .. }), "{err:?}");
    }
}
