//! `serve`'s SIGHUP: reads the profile, the tokens file and the certificate again and replaces
//! the device tokens and the TLS acceptor, like mosquitto; anything else that changed is said
//! to take effect at the next restart.

use std::io;
use std::path::PathBuf;

use iotchat::config::{
    self, HttpSection, LoadedProfile, Section, ServeConfig, ServeSection, ThingsboardSection,
};
use iotchat::live::Live;
use iotchat::protocol::auth::Tokens;
use iotchat::server::ServeOptions;
use tokio::signal::unix::Signal;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info, warn};

/// What SIGHUP replaces, when it is on: the device tokens and the TLS certificate.
#[derive(Clone)]
pub(super) struct Reloadable {
    /// The settings at start, to tell what a reload cannot apply.
    started: ServeConfig,
    /// The profile's `[thingsboard]` at start, when the bridge is on: it is not reloaded.
    bridge: Option<ThingsboardSection>,
    /// The profile's `[http]` at start: the HTTP side is not reloaded.
    http: HttpSection,
    profile: Option<PathBuf>,
    flags: ServeSection,
    auth: Option<Live<Tokens>>,
    tls: Option<Live<TlsAcceptor>>,
}

impl Reloadable {
    pub(super) fn new(
        profile: &Option<PathBuf>,
        flags: &ServeSection,
        started: &ServeConfig,
        bridge: Option<&ThingsboardSection>,
        tls: Option<Live<TlsAcceptor>>,
    ) -> Self {
        Self {
            started: started.clone(),
            bridge: bridge.cloned(),
            http: HttpSection::default(),
            profile: profile.clone(),
            flags: flags.clone(),
            auth: started.server.auth.clone(),
            tls,
        }
    }

    /// The profile's `[http]` at start, to tell a reload that changed it.
    pub(super) fn with_http(self, http: HttpSection) -> Self {
        Self { http, ..self }
    }
}

/// Each SIGHUP reads the profile, the tokens file and the certificate and key again, like
/// mosquitto: connections accepted from then on use the new ones, those already in keep
/// theirs. If anything does not load, it is logged and nothing is replaced. Turning
/// authentication or TLS on or off takes a restart.
pub(super) async fn watch_reload(hup: io::Result<Signal>, what: Reloadable) {
    let Ok(mut hup) = hup else {
        warn!("cannot watch SIGHUP; restart the server to reload the device tokens or the TLS certificate");
        return;
    };
    while hup.recv().await.is_some() {
        if what.auth.is_none() && what.tls.is_none() {
            info!(
                "SIGHUP: device tokens and TLS are off, nothing to reload (turning them on takes a restart)"
            );
            continue;
        }
        // Reads files: off the async workers.
        let job = what.clone();
        match tokio::task::spawn_blocking(move || reload(&job)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!("SIGHUP: cannot reload: {e}; keeping the previous device tokens and TLS certificate")
            }
            Err(e) => error!(
                "SIGHUP: the reload failed ({e}); keeping the previous device tokens and TLS certificate"
            ),
        }
    }
}

/// Loads everything first, then replaces: a bad certificate leaves the tokens as they were too.
fn reload(what: &Reloadable) -> Result<(), config::ConfigError> {
    let loaded = LoadedProfile::load(what.profile.as_deref())?;
    let config = resolve(what.flags.clone(), &loaded, None)?;
    if what.bridge.as_ref().is_some_and(|started| *started != loaded.profile.thingsboard) {
        warn!("SIGHUP: [thingsboard] changed; the ThingsBoard bridge takes its settings at the next restart");
    }
    if what.http != loaded.profile.http {
        warn!("SIGHUP: [http] changed; the HTTP side takes its settings at the next restart");
    }
    let acceptor = match (&what.tls, &config.tls) {
        (Some(_), Some(files)) => Some(files.acceptor()?),
        _ => None,
    };
    let others = |c: &ServeConfig| {
        let server = ServeOptions { auth: None, ..c.server.clone() };
        ServeConfig { tls: None, server, ..c.clone() }
    };
    if others(&config) != others(&what.started) {
        warn!(
            "SIGHUP: settings other than the device tokens and the TLS certificate changed; they take effect at the next restart"
        );
    }
    reload_tokens(what.auth.as_ref(), config.server.auth);
    reload_tls(what.tls.as_ref(), acceptor, config.tls.is_some());
    Ok(())
}

fn reload_tokens(live: Option<&Live<Tokens>>, loaded: Option<Live<Tokens>>) {
    match (live, loaded) {
        (Some(live), Some(tokens)) => {
            let tokens = tokens.current();
            let devices = tokens.len();
            // Replaced before it is logged: whoever reads the log line sees the new table.
            live.replace(tokens);
            info!(devices, "SIGHUP: device tokens reloaded; every HELLO from now on is checked against them");
        }
        (Some(_), None) => warn!(
            "SIGHUP: device tokens are no longer set; keeping the previous ones (restart to turn authentication off)"
        ),
        (None, Some(_)) => warn!(
            "SIGHUP: device tokens are now set, but authentication was off at start; restart to turn it on"
        ),
        (None, None) => {}
    }
}

fn reload_tls(live: Option<&Live<TlsAcceptor>>, loaded: Option<TlsAcceptor>, set: bool) {
    match (live, loaded) {
        (Some(live), Some(acceptor)) => {
            live.replace(acceptor);
            info!("SIGHUP: TLS certificate reloaded; new connections use it");
        }
        (Some(_), None) => {
            warn!("SIGHUP: TLS is no longer set; keeping the previous certificate (restart to turn TLS off)")
        }
        (None, _) if set => warn!("SIGHUP: TLS is now set, but it was off at start; restart to turn it on"),
        (None, _) => {}
    }
}

/// The `[serve]` settings: flags (`matches`: typed or from the environment) over the profile.
pub(super) fn resolve(
    flags: ServeSection,
    loaded: &LoadedProfile,
    matches: Option<&clap::ArgMatches>,
) -> Result<ServeConfig, config::ConfigError> {
    ServeConfig::resolve(ServeSection::merge(
        flags,
        loaded.profile.serve.clone(),
        &loaded.at(matches, "serve"),
    ))
}
