//! Which of ThingsBoard's three kinds of device credentials a command logs in with: an access
//! token, basic MQTT credentials (client id, username, password) or an X.509 client
//! certificate.
//!
//! Settings come in three layers: the command line, then the environment (`IOTCHAT_TB_TOKEN`,
//! `IOTCHAT_TB_PASSWORD`), then the profile. The kind is the one the highest layer names, so a
//! flag wins over the profile even across kinds (`--username` over `thingsboard.token_file`),
//! and a variable left in the environment for another device never gets in the way. Two kinds
//! in one layer are refused, naming both. A password names no kind: it goes with a username.

use std::path::{Path, PathBuf};

use super::{ConfigError, LoadedProfile, Origin, Secret, TbFlagNames};
use crate::thingsboard::{CredentialKind, Credentials};
use crate::tls::{ClientIdentity, PemFile};

/// The environment variable of the access token.
pub const TOKEN_ENV: &str = "IOTCHAT_TB_TOKEN";
/// The environment variable of the basic credentials' password.
pub const PASSWORD_ENV: &str = "IOTCHAT_TB_PASSWORD";

/// The credential settings of the command line and the environment.
#[derive(Debug, Default)]
pub(super) struct Given {
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub client_id: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub env_token: Option<Secret>,
    pub env_password: Option<Secret>,
}

/// The client certificate and its key (`--cert`/`--key`, `thingsboard.cert`/`key`): both or
/// neither.
pub(super) fn identity(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Option<ClientIdentity>, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let cert = loaded.pick(cert, names.cert, p.cert.as_ref().map(PathBuf::from), "thingsboard.cert");
    let key = loaded.pick(key, names.key, p.key.as_ref().map(PathBuf::from), "thingsboard.key");
    match (cert, key) {
        (None, None) => Ok(None),
        (Some((_, origin)), None) => Err(setting(
            origin,
            format!(
                "a client certificate needs its private key: add {} FILE (or thingsboard.key)",
                names.key
            ),
        )),
        (None, Some((_, origin))) => Err(setting(
            origin,
            format!(
                "a private key needs its client certificate: add {} FILE (or thingsboard.cert)",
                names.cert
            ),
        )),
        (Some((cert, cert_origin)), Some((key, key_origin))) => Ok(Some(ClientIdentity {
            cert: PemFile { path: cert, origin: cert_origin },
            key: PemFile { path: key, origin: key_origin },
        })),
    }
}

/// The kind of credentials chosen (see the module's rules) and where it was named.
/// `certificate` is where the client certificate came from, if there is one.
pub(super) fn kind(
    given: &Given,
    certificate: Option<&Origin>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<CredentialKind, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let profile = |key| Origin::Profile(loaded.path.clone().unwrap_or_else(|| "profile".into()), key);
    let is_flag = |o: &&Origin| matches!(o, Origin::Flag(_));
    let command_line = [
        given.token.as_ref().map(|_| Origin::Flag(names.token)),
        given.token_file.as_ref().map(|_| Origin::Flag(names.token_file)),
        given.client_id.as_ref().map(|_| Origin::Flag(names.client_id)),
        given.username.as_ref().map(|_| Origin::Flag(names.username)),
        certificate.filter(is_flag).cloned(),
    ];
    let environment = [given.env_token.as_ref().map(|_| Origin::Flag(TOKEN_ENV)), None, None, None, None];
    let in_profile = [
        p.token_file.as_ref().map(|_| profile("thingsboard.token_file")),
        None,
        p.client_id.as_ref().map(|_| profile("thingsboard.client_id")),
        p.username.as_ref().map(|_| profile("thingsboard.username")),
        certificate.filter(|o| !is_flag(o)).cloned(),
    ];
    for layer in [command_line, environment, in_profile] {
        let [token, token_file, client_id, username, cert] = layer;
        let kinds = [
            token.or(token_file).map(|o| (CredentialKind::AccessToken, o)),
            client_id.or(username).map(|o| (CredentialKind::Basic, o)),
            cert.map(|o| (CredentialKind::Certificate, o)),
        ];
        let mut named = kinds.into_iter().flatten();
        match (named.next(), named.next()) {
            (None, _) => continue,
            (Some((kind, _)), None) => return Ok(kind),
            (Some((first, first_origin)), Some((second, origin))) => {
                let problem = format!(
                    "{} ({first_origin}) and {} ({origin}) are both given; ThingsBoard logs a device in with \
                     one kind of credentials: drop one",
                    label(first),
                    label(second)
                );
                return Err(setting(origin, problem));
            }
        }
    }
    Err(missing(names))
}

/// The credentials of `kind`, each field from the highest layer that gives it.
pub(super) fn credentials(
    kind: CredentialKind,
    given: Given,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Credentials, ConfigError> {
    match kind {
        CredentialKind::AccessToken => {
            let token = token(given, names, loaded)?;
            if token.expose().trim().is_empty() {
                return Err(missing(names));
            }
            Ok(Credentials::AccessToken(Secret::new(token.expose().trim())))
        }
        CredentialKind::Certificate => Ok(Credentials::Certificate),
        CredentialKind::Basic => basic(given, names, loaded),
    }
}

fn basic(given: Given, names: TbFlagNames, loaded: &LoadedProfile) -> Result<Credentials, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let client_id = p.client_id.clone().map(Secret::new);
    let client_id = loaded.pick(given.client_id, names.client_id, client_id, "thingsboard.client_id");
    let username = loaded.pick(given.username, names.username, p.username.clone(), "thingsboard.username");
    if let Some((_, origin)) = client_id.as_ref().filter(|(c, _)| c.expose().trim().is_empty()) {
        return Err(setting(
            origin.clone(),
            "must not be empty: give the client id from the device's credentials page".into(),
        ));
    }
    if let Some((_, origin)) = username.as_ref().filter(|(u, _)| u.trim().is_empty()) {
        return Err(setting(
            origin.clone(),
            "must not be empty: give the username from the device's credentials page".into(),
        ));
    }
    let password = password(&given.password, given.password_file, given.env_password, names, loaded)?;
    let password = match (password, &username) {
        (Some((_, Origin::Flag(PASSWORD_ENV))), None) => None, // set for another device
        (Some((_, origin)), None) => {
            let problem = format!(
                "a password goes with a username: add {} NAME (or thingsboard.username)",
                names.username
            );
            return Err(setting(origin, problem));
        }
        (password, _) => password.map(|(p, _)| p),
    };
    Ok(Credentials::Basic {
        client_id: client_id.map(|(c, _)| c),
        username: username.map(|(u, _)| u),
        password,
    })
}

/// `--token`, else `--token-file`, else `IOTCHAT_TB_TOKEN`, else `thingsboard.token_file`.
fn token(given: Given, names: TbFlagNames, loaded: &LoadedProfile) -> Result<Secret, ConfigError> {
    if let Some(token) = given.token {
        return Ok(token);
    }
    if let Some(path) = given.token_file {
        return first_line(&path, &Origin::Flag(names.token_file), "token");
    }
    if let Some(token) = given.env_token {
        return Ok(token);
    }
    let from_profile = loaded.profile.thingsboard.token_file.as_ref().map(PathBuf::from);
    match loaded.pick(None, names.token_file, from_profile, "thingsboard.token_file") {
        Some((path, origin)) => first_line(&path, &origin, "token"),
        None => Err(missing(names)),
    }
}

/// `--password`, else `--password-file`, else `IOTCHAT_TB_PASSWORD`, else
/// `thingsboard.password_file`; an empty one counts as none.
fn password(
    flag: &Option<Secret>,
    file_flag: Option<PathBuf>,
    env: Option<Secret>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Option<(Secret, Origin)>, ConfigError> {
    let from_profile = loaded.profile.thingsboard.password_file.as_ref().map(PathBuf::from);
    let found = if let Some(password) = flag {
        Some((password.clone(), Origin::Flag(names.password)))
    } else if let Some(path) = file_flag {
        let origin = Origin::Flag(names.password_file);
        Some((first_line(&path, &origin, "password")?, origin))
    } else if let Some(password) = env {
        Some((password, Origin::Flag(PASSWORD_ENV)))
    } else if let Some((path, origin)) =
        loaded.pick(None, names.password_file, from_profile, "thingsboard.password_file")
    {
        Some((first_line(&path, &origin, "password")?, origin))
    } else {
        None
    };
    Ok(found.filter(|(p, _)| !p.expose().is_empty()))
}

fn first_line(path: &Path, origin: &Origin, what: &str) -> Result<Secret, ConfigError> {
    let text = super::read_secret_file(path).map_err(|e| ConfigError::Invalid {
        origin: origin.clone(),
        value: path.display().to_string(),
        expected: format!("cannot read the {what} file: {e}"),
    })?;
    Ok(Secret::new(text.lines().next().unwrap_or_default()))
}

fn label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AccessToken => "an access token",
        CredentialKind::Basic => "basic MQTT credentials",
        CredentialKind::Certificate => "a client certificate",
    }
}

fn missing(names: TbFlagNames) -> ConfigError {
    setting(
        Origin::Flag(TOKEN_ENV),
        format!(
            "ThingsBoard needs the device's credentials: an access token (set {TOKEN_ENV}, or {} FILE; copy it \
             from the device's page), basic MQTT credentials ({}, or {} with a password from {PASSWORD_ENV} or \
             {} FILE), or an X.509 client certificate ({} FILE and {} FILE); or the same in the profile's \
             [thingsboard]: token_file, client_id, username, password_file, cert and key",
            names.token_file, names.client_id, names.username, names.password_file, names.cert, names.key
        ),
    )
}

fn setting(origin: Origin, problem: String) -> ConfigError {
    ConfigError::Setting { origin, problem }
}

#[cfg(test)]
#[path = "tb_credentials_tests.rs"]
mod tests;
