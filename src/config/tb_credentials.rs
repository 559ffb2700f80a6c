//! Which of ThingsBoard's three kinds of device credentials a command logs in with: an access
//! token, basic MQTT credentials (client id, username, password) or an X.509 client
//! certificate. They come from flags, the environment and the profile; an error names the
//! setting when none is given, when one is half given, or when two kinds are mixed.

use std::path::{Path, PathBuf};

use super::{ConfigError, LoadedProfile, Origin, TbFlagNames};
use crate::thingsboard::{CredentialKind, Credentials};
use crate::tls::{ClientIdentity, PemFile};

/// The credential settings given on the command line (or through the environment).
#[derive(Debug, Default)]
pub(super) struct Given {
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
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
        (Some((path, origin)), None) => Err(invalid(
            origin,
            path.display().to_string(),
            &format!(
                "a client certificate needs its private key: add {} FILE (or thingsboard.key)",
                names.key
            ),
        )),
        (None, Some((path, origin))) => Err(invalid(
            origin,
            path.display().to_string(),
            &format!(
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

/// The one kind of credentials given. `certificate` is where the client certificate came
/// from, if there is one (see [`identity`]).
pub(super) fn credentials(
    given: Given,
    certificate: Option<Origin>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Credentials, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let token = token(given.token, given.token_file, names, loaded)?;
    let client_id =
        loaded.pick(given.client_id, names.client_id, p.client_id.clone(), "thingsboard.client_id");
    let username = loaded.pick(given.username, names.username, p.username.clone(), "thingsboard.username");
    let password = password(given.password, given.password_file, names, loaded)?;
    let client_id = non_empty(client_id)?;
    let username = non_empty(username)?;
    if let (Some((_, origin)), None) = (&password, &username) {
        let why = format!(
            "a password goes with a username: add {} NAME (or thingsboard.username), or drop the password \
             (it may come from IOTCHAT_TB_PASSWORD)",
            names.username
        );
        return Err(invalid(origin.clone(), String::new(), &why));
    }
    let basic = [&client_id, &username].into_iter().flatten().map(|(_, o)| o.clone()).next();
    let kinds = [
        token.as_ref().map(|(_, o)| (CredentialKind::AccessToken, o.clone())),
        basic.map(|o| (CredentialKind::Basic, o)),
        certificate.map(|o| (CredentialKind::Certificate, o)),
    ];
    let mut given_kinds = kinds.into_iter().flatten();
    match (given_kinds.next(), given_kinds.next()) {
        (None, _) => Err(missing(names)),
        (Some((first, first_origin)), Some((second, origin))) => {
            let why = format!(
                "{} ({first_origin}) and {} ({origin}) are both given; ThingsBoard logs a device in with one \
                 kind of credentials: drop one (an unwanted token may come from IOTCHAT_TB_TOKEN)",
                label(first),
                label(second)
            );
            Err(invalid(origin, String::new(), &why))
        }
        (Some((CredentialKind::AccessToken, _)), None) => {
            Ok(Credentials::AccessToken(token.map(|(t, _)| t).unwrap_or_default()))
        }
        (Some((CredentialKind::Certificate, _)), None) => Ok(Credentials::Certificate),
        (Some((CredentialKind::Basic, _)), None) => Ok(Credentials::Basic {
            client_id: client_id.map(|(c, _)| c),
            username: username.map(|(u, _)| u),
            password: password.map(|(p, _)| p),
        }),
    }
}

fn label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AccessToken => "an access token",
        CredentialKind::Basic => "basic MQTT credentials",
        CredentialKind::Certificate => "a client certificate",
    }
}

/// `--token`/`IOTCHAT_TB_TOKEN`, else `--token-file`, else `thingsboard.token_file`; an empty
/// token counts as none.
fn token(
    flag: Option<String>,
    file_flag: Option<PathBuf>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Option<(String, Origin)>, ConfigError> {
    let from_profile = loaded.profile.thingsboard.token_file.as_ref().map(PathBuf::from);
    let token = match (flag, loaded.pick(file_flag, names.token_file, from_profile, "thingsboard.token_file"))
    {
        (Some(token), _) => (token, Origin::Flag(names.token)),
        (None, Some((path, origin))) => (first_line(&path, &origin, "token")?, origin),
        (None, None) => return Ok(None),
    };
    let text = token.0.trim();
    Ok((!text.is_empty()).then(|| (text.to_owned(), token.1)))
}

/// `--password`/`IOTCHAT_TB_PASSWORD`, else `--password-file`, else `thingsboard.password_file`.
fn password(
    flag: Option<String>,
    file_flag: Option<PathBuf>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Option<(String, Origin)>, ConfigError> {
    if let Some(password) = flag {
        return Ok(Some((password, Origin::Flag(names.password))));
    }
    let from_profile = loaded.profile.thingsboard.password_file.as_ref().map(PathBuf::from);
    match loaded.pick(file_flag, names.password_file, from_profile, "thingsboard.password_file") {
        Some((path, origin)) => Ok(Some((first_line(&path, &origin, "password")?, origin))),
        None => Ok(None),
    }
}

fn first_line(path: &Path, origin: &Origin, what: &str) -> Result<String, ConfigError> {
    let text = super::read_secret_file(path).map_err(|e| {
        invalid(origin.clone(), path.display().to_string(), &format!("cannot read the {what} file: {e}"))
    })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// A client id or username given empty is a mistake, not "none".
fn non_empty(setting: Option<(String, Origin)>) -> Result<Option<(String, Origin)>, ConfigError> {
    match setting {
        Some((text, origin)) if text.trim().is_empty() => {
            Err(invalid(origin, text, "must not be empty: give the value from the device's credentials page"))
        }
        other => Ok(other),
    }
}

fn missing(names: TbFlagNames) -> ConfigError {
    ConfigError::Invalid {
        origin: Origin::Flag(names.token),
        value: String::new(),
        expected: format!(
            "ThingsBoard needs the device's credentials: an access token (set IOTCHAT_TB_TOKEN, or {} FILE, or \
             thingsboard.token_file in the profile; copy it from the device's page), basic MQTT credentials \
             ({} and/or {} with {}), or an X.509 client certificate ({} and {})",
            names.token_file, names.client_id, names.username, names.password_file, names.cert, names.key
        ),
    }
}

fn invalid(origin: Origin, value: String, expected: &str) -> ConfigError {
    ConfigError::Invalid { origin, value, expected: expected.to_owned() }
}

#[cfg(test)]
#[path = "tb_credentials_tests.rs"]
mod tests;
