//! `--tls` and `--ca`: TLS to the server, for `chat` and `fake-device`.

use std::path::PathBuf;

use clap::Args;

/// TLS to the server.
#[derive(Debug, Args)]
pub struct ClientTlsArgs {
    /// Connect with TLS.
    #[arg(long)]
    pub tls: bool,
    /// Trust the certificate(s) in this PEM file (e.g. the server's self-signed one) instead of
    /// the system's roots; implies --tls.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

impl ClientTlsArgs {
    /// The TLS connector, when --tls or --ca is given.
    pub fn resolve(&self) -> Result<Option<iotchat::tls::ClientTls>, iotchat::config::ConfigError> {
        if !self.tls && self.ca.is_none() {
            return Ok(None);
        }
        let ca = self.ca.clone().map(|path| iotchat::tls::PemFile { path });
        let connector = iotchat::tls::connector(ca.as_ref(), None)
            .map_err(|e| iotchat::config::ConfigError::tls(e, |_| iotchat::config::Origin::Flag("--ca")))?;
        Ok(Some(iotchat::tls::ClientTls { connector }))
    }
}
