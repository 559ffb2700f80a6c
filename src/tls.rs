//! TLS with rustls (the `ring` provider; TLS 1.2 and 1.3, so an ESP8266's BearSSL can connect):
//! the server's acceptor from PEM files, a client's connector from a CA file (or the system's
//! roots) and, for mutual TLS, a client certificate, and the handshakes, each bounded in time.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{ConfigError, Origin};
use crate::transport::Transport;

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A PEM file named by a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFile {
    /// The file.
    pub path: std::path::PathBuf,
    /// The flag or profile key that named it.
    pub origin: Origin,
}

fn bad(file: &PemFile, expected: String) -> ConfigError {
    ConfigError::Invalid { origin: file.origin.clone(), value: file.path.display().to_string(), expected }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(file: &PemFile) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let fix = "give a PEM file of certificates (-----BEGIN CERTIFICATE-----), e.g. from `openssl req -x509` (see docs/security.md)";
    let certs = CertificateDer::pem_file_iter(&file.path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| bad(file, format!("cannot read certificates from it ({e}); {fix}")))?;
    if certs.is_empty() {
        return Err(bad(file, format!("it holds no certificate; {fix}")));
    }
    Ok(certs)
}

/// A private key from a PEM file (warned about when everyone may read it).
fn private_key(key: &PemFile) -> Result<PrivateKeyDer<'static>, ConfigError> {
    if let Ok(meta) = std::fs::metadata(&key.path) {
        crate::secret::warn_if_world_readable(&key.path, &meta);
    }
    PrivateKeyDer::from_pem_file(&key.path).map_err(|e| {
        bad(key, format!("cannot read a private key from it ({e}); give the certificate's key in PEM (-----BEGIN PRIVATE KEY-----), unencrypted"))
    })
}

fn mismatch(cert: &PemFile, key: &PemFile, e: &rustls::Error) -> ConfigError {
    bad(
        key,
        format!(
            "it does not go with {} ({e}); give the key the certificate was made with",
            cert.path.display()
        ),
    )
}

/// The server side: certificate chain and private key from PEM files, checked to match.
pub fn acceptor(cert: &PemFile, key: &PemFile) -> Result<TlsAcceptor, ConfigError> {
    let chain = certificates(cert)?;
    let private = private_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| mismatch(cert, key, &e))?;
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
pub fn connector(
    ca: Option<&PemFile>,
    identity: Option<&ClientIdentity>,
) -> Result<TlsConnector, ConfigError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(file) => {
            for cert in certificates(file)? {
                roots.add(cert).map_err(|e| bad(file, format!("not a usable CA certificate: {e}")))?;
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
        .map_err(|e| ConfigError::Invalid {
            origin: Origin::Flag("--tls"),
            value: String::new(),
            expected: format!("TLS setup failed: {e}"),
        })?
        .with_root_certificates(roots);
    let config = match identity {
        None => config.with_no_client_auth(),
        Some(ClientIdentity { cert, key }) => {
            let chain = certificates(cert)?;
            let private = private_key(key)?;
            if let Err(e) = provider().key_provider.load_private_key(private.clone_key()) {
                let why = format!(
                    "cannot use this key ({e}); give an RSA (2048 bits or more), ECDSA P-256 or P-384, or Ed25519 key"
                );
                return Err(bad(key, why));
            }
            // rustls checks that the key is the certificate's own.
            config.with_client_auth_cert(chain, private).map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => mismatch(cert, key, &e),
                other => bad(cert, format!("not a usable client certificate ({other}); give an X.509 v3 certificate in PEM, the client's own first")),
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
