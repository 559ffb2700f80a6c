//! Which of ThingsBoard's three kinds of device credentials a command logs in with: an access
//! token, basic MQTT credentials (client id, username, password) or an X.509 client
//! certificate.
//!
//! **The kind** is the one named on the command line, else in the profile, else by a token in
//! the environment (`IOTCHAT_TB_TOKEN`): a variable exported for another device never changes
//! the kind a profile sets. Two kinds named in one of these places are refused, naming both.
//!
//! **The values** of that kind: a token from `--token`, `--token-file`, `IOTCHAT_TB_TOKEN`, then
//! `thingsboard.token_file`; a password from `--password`, `--password-file`,
//! `IOTCHAT_TB_PASSWORD`, then `thingsboard.password_file`. The client id and username come
//! from the place that named the kind only, so one login never mixes two devices' names; a
//! certificate and its key from the command line, else the profile (rustls checks they match).
//! A password given on purpose (a flag or the profile) to any other kind, or without a
//! username, is refused; one in the environment is then left alone. Settings of the places
//! below the one that named the kind are not read.

use std::path::{Path, PathBuf};

use super::tb_section::{CredentialsTable, TbGiven};
use super::{ConfigError, LoadedProfile, Origin, Profile, Secret, TbFlagNames};
use crate::thingsboard::{CredentialKind, Credentials};
use crate::tls::{ClientIdentity, PemFile};

/// The environment variable of the access token.
pub const TOKEN_ENV: &str = "IOTCHAT_TB_TOKEN";
/// The environment variable of the basic credentials' password.
pub const PASSWORD_ENV: &str = "IOTCHAT_TB_PASSWORD";

/// Where the kind was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    CommandLine,
    Profile,
    Environment,
}

/// The client certificate to present, and the settings that named its files (for errors).
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// The files.
    pub(super) files: ClientIdentity,
    /// The setting that named the certificate.
    pub(super) cert: Origin,
    /// The setting that named the key.
    pub(super) key: Origin,
}

/// The device's credentials, and the client certificate to present when they are X.509 ones.
pub(super) fn resolve(
    given: &TbGiven,
    loaded: &LoadedProfile,
) -> Result<(Credentials, Option<Identity>), ConfigError> {
    let names = given.names;
    let loaded = &with_flat_credentials(loaded)?;
    let (kind, place) = kind(given, names, loaded)?;
    if kind != CredentialKind::Basic {
        refuse_password(given, place, names, loaded)?;
    }
    match kind {
        CredentialKind::AccessToken => Ok((token(given, names, loaded)?, None)),
        CredentialKind::Certificate => Ok((
            Credentials::Certificate,
            Some(identity(given.flags.cert.clone(), given.flags.key.clone(), names, loaded)?),
        )),
        CredentialKind::Basic => Ok((basic(given, place == Place::Profile, names, loaded)?, None)),
    }
}

/// The kind, and where it was named (see the module's rules).
fn kind(
    given: &TbGiven,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<(CredentialKind, Place), ConfigError> {
    let p = &loaded.profile.thingsboard;
    let key = |key| profile_key(loaded, key);
    let flag = |set: bool, name| set.then_some(Origin::Flag(name));
    let command_line = [
        flag(given.flags.token.is_some(), names.token)
            .or(flag(given.flags.token_file.is_some(), names.token_file)),
        flag(given.flags.client_id.is_some(), names.client_id)
            .or(flag(given.flags.username.is_some(), names.username)),
        flag(given.flags.cert.is_some(), names.cert).or(flag(given.flags.key.is_some(), names.key)),
    ];
    let table = |kind| {
        p.credentials.as_ref().filter(|t| table_kind(t) == kind).map(|_| key("thingsboard.credentials"))
    };
    let in_profile = [
        p.token_file.as_ref().map(|_| key("thingsboard.token_file")).or(table(CredentialKind::AccessToken)),
        p.client_id
            .as_ref()
            .map(|_| key("thingsboard.client_id"))
            .or(p.username.as_ref().map(|_| key("thingsboard.username")))
            .or(table(CredentialKind::Basic)),
        p.cert.as_ref().map(|_| key("thingsboard.cert")).or(p.key.as_ref().map(|_| key("thingsboard.key"))),
    ];
    let environment = [given.env_token.as_ref().map(|_| Origin::Flag(TOKEN_ENV)), None, None];
    let kinds = [CredentialKind::AccessToken, CredentialKind::Basic, CredentialKind::Certificate];
    for (place, named) in
        [(Place::CommandLine, command_line), (Place::Profile, in_profile), (Place::Environment, environment)]
    {
        let mut named = kinds.into_iter().zip(named).filter_map(|(kind, origin)| Some((kind, origin?)));
        match (named.next(), named.next()) {
            (None, _) => continue,
            (Some((kind, _)), None) => return Ok((kind, place)),
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
    match (&given.flags.password, &given.flags.password_file) {
        (Some(_), _) => Err(password_alone(Origin::Flag(names.password), names)),
        (_, Some(_)) => Err(password_alone(Origin::Flag(names.password_file), names)),
        _ => Err(missing(names)),
    }
}

/// A password given on purpose where the kind takes none.
fn refuse_password(
    given: &TbGiven,
    place: Place,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<(), ConfigError> {
    let origin = if given.flags.password.is_some() {
        Origin::Flag(names.password)
    } else if given.flags.password_file.is_some() {
        Origin::Flag(names.password_file)
    } else if place == Place::Profile && loaded.profile.thingsboard.password_file.is_some() {
        profile_key(loaded, "thingsboard.password_file")
    } else {
        return Ok(());
    };
    Err(password_alone(origin, names))
}

/// The client certificate and its key: both, from the command line, else the profile.
fn identity(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Identity, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let pick = |flag: Option<PathBuf>, name, in_profile: &Option<PathBuf>, key| {
        flag.map(|v| (v, Origin::Flag(name)))
            .or_else(|| in_profile.clone().map(|v| (v, profile_key(loaded, key))))
    };
    let cert = pick(cert, names.cert, &p.cert, "thingsboard.cert");
    let key = pick(key, names.key, &p.key, "thingsboard.key");
    match (cert, key) {
        (Some((cert, cert_origin)), Some((key, key_origin))) => Ok(Identity {
            files: ClientIdentity { cert: PemFile { path: cert }, key: PemFile { path: key } },
            cert: cert_origin,
            key: key_origin,
        }),
        (Some((_, origin)), None) => Err(setting(
            origin,
            format!(
                "a client certificate needs its private key: {}",
                how(names.key, "thingsboard.key", "FILE")
            ),
        )),
        (None, Some((_, origin))) => Err(setting(
            origin,
            format!(
                "a private key needs its client certificate: {}",
                how(names.cert, "thingsboard.cert", "FILE")
            ),
        )),
        (None, None) => Err(missing(names)), // not reached: one of them named the kind
    }
}

/// `--token`, else `--token-file`, else `IOTCHAT_TB_TOKEN`, else `thingsboard.token_file`.
fn token(given: &TbGiven, names: TbFlagNames, loaded: &LoadedProfile) -> Result<Credentials, ConfigError> {
    let (token, origin) = if let Some(token) = given.flags.token.clone() {
        (token, Origin::Flag(names.token))
    } else if let Some(path) = &given.flags.token_file {
        let origin = Origin::Flag(names.token_file);
        (first_line(path, &origin, "token")?, origin)
    } else if let Some(token) = given.env_token.clone() {
        (token, Origin::Flag(TOKEN_ENV))
    } else if let Some(path) = &loaded.profile.thingsboard.token_file {
        let origin = profile_key(loaded, "thingsboard.token_file");
        (first_line(path, &origin, "token")?, origin)
    } else {
        // Only `kind = "token"` named the kind.
        let problem = format!(
            "kind = \"token\" takes the token from {}, ${TOKEN_ENV} or token_file; none is set",
            names.token_file
        );
        return Err(setting(profile_key(loaded, "thingsboard.credentials"), problem));
    };
    let text = token.expose().trim();
    if text.is_empty() {
        return Err(setting(
            origin,
            "the access token is empty: give the device's token (its first line, in a file)".into(),
        ));
    }
    Ok(Credentials::AccessToken(Secret::new(text)))
}

/// The first line of a secret file (a token or a password).
pub(super) fn first_line(path: &Path, origin: &Origin, what: &str) -> Result<Secret, ConfigError> {
    let text = crate::secret::read_secret_file(path).map_err(|e| ConfigError::Invalid {
        origin: origin.clone(),
        value: path.display().to_string(),
        expected: format!("cannot read the {what} file: {e}"),
    })?;
    Ok(Secret::new(text.lines().next().unwrap_or_default()))
}

/// How to give a setting: `add --key FILE (or thingsboard.key)`, or only the key when the
/// command has no such flag.
pub(super) fn how(flag: &str, key: &str, placeholder: &str) -> String {
    if flag.starts_with("--") { format!("add {flag} {placeholder} (or {key})") } else { format!("set {key}") }
}

/// A profile key as the profile wrote it: in `[thingsboard.credentials]` when it has that table.
pub(super) fn profile_key(loaded: &LoadedProfile, key: &'static str) -> Origin {
    let in_table = loaded.profile.thingsboard.credentials.is_some();
    let key = match key {
        "thingsboard.token_file" if in_table => "thingsboard.credentials.token_file",
        "thingsboard.client_id" if in_table => "thingsboard.credentials.client_id",
        "thingsboard.username" if in_table => "thingsboard.credentials.username",
        "thingsboard.password_file" if in_table => "thingsboard.credentials.password_file",
        "thingsboard.cert" if in_table => "thingsboard.credentials.cert",
        "thingsboard.key" if in_table => "thingsboard.credentials.key",
        key => key,
    };
    Origin::Profile(loaded.path.clone().unwrap_or_else(|| "profile".into()), key)
}

/// The profile with `[thingsboard.credentials]` read into the flat keys the rules here read.
fn with_flat_credentials(loaded: &LoadedProfile) -> Result<LoadedProfile, ConfigError> {
    let flat = loaded
        .profile
        .thingsboard
        .flat_credentials()
        .map_err(|problem| setting(profile_key(loaded, "thingsboard.credentials"), problem))?;
    let profile = Profile { thingsboard: flat, ..loaded.profile.clone() };
    Ok(LoadedProfile { path: loaded.path.clone(), profile })
}

fn table_kind(table: &CredentialsTable) -> CredentialKind {
    match table {
        CredentialsTable::Token { .. } => CredentialKind::AccessToken,
        CredentialsTable::Basic { .. } => CredentialKind::Basic,
        CredentialsTable::X509 { .. } => CredentialKind::Certificate,
    }
}

fn label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::AccessToken => "an access token",
        CredentialKind::Basic => "basic MQTT credentials",
        CredentialKind::Certificate => "a client certificate",
    }
}

pub(super) fn password_alone(origin: Origin, names: TbFlagNames) -> ConfigError {
    let problem = format!(
        "a password goes with basic MQTT credentials' username: {}, or drop the password",
        how(names.username, "thingsboard.username", "NAME")
    );
    setting(origin, problem)
}

fn missing(names: TbFlagNames) -> ConfigError {
    let flags = |flag: &str| flag.starts_with("--");
    let command_line = if flags(names.cert) {
        format!(
            ": an access token ({TOKEN_ENV}, or {} FILE; copy it from the device's page), basic MQTT credentials \
             ({}, or {} with a password from {PASSWORD_ENV} or {} FILE), or an X.509 client certificate ({} FILE \
             and {} FILE); or, in the profile, a [thingsboard.credentials] table",
            names.token_file, names.client_id, names.username, names.password_file, names.cert, names.key
        )
    } else {
        format!(
            ": an access token ({TOKEN_ENV}, or {} FILE); or, in the profile, a [thingsboard.credentials] table",
            names.token_file
        )
    };
    setting(
        Origin::Flag(TOKEN_ENV),
        format!(
            "ThingsBoard needs the device's credentials{command_line}: kind = \"token\" with token_file, \
             \"basic\" with client_id and/or username and password_file, or \"x509\" with cert and key"
        ),
    )
}

pub(super) fn setting(origin: Origin, problem: String) -> ConfigError {
    ConfigError::Setting { origin, problem }
}

/// The basic credentials named on the command line, or in the profile (`from_profile`).
pub(super) fn basic(
    given: &TbGiven,
    from_profile: bool,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Credentials, ConfigError> {
    let p = &loaded.profile.thingsboard;
    let (client_id, username) = if from_profile {
        let client_id = p.client_id.clone().map(|c| (c, profile_key(loaded, "thingsboard.client_id")));
        let username = p.username.clone().map(|u| (u, profile_key(loaded, "thingsboard.username")));
        (client_id, username)
    } else {
        let client_id = given.flags.client_id.clone().map(|c| (c, Origin::Flag(names.client_id)));
        (client_id, given.flags.username.clone().map(|u| (u, Origin::Flag(names.username))))
    };
    if from_profile && client_id.is_none() && username.is_none() {
        // Only `kind = "basic"` named the kind: nothing says who logs in.
        let problem = format!(
            "kind = \"basic\" needs client_id and/or username (the password from password_file or \
             ${PASSWORD_ENV}); or give {} or {}",
            names.client_id, names.username
        );
        return Err(setting(profile_key(loaded, "thingsboard.credentials"), problem));
    }
    if let Some((_, origin)) = client_id.as_ref().filter(|(c, _)| c.expose().trim().is_empty()) {
        return Err(blank(origin, "client id"));
    }
    if let Some((_, origin)) = username.as_ref().filter(|(u, _)| u.trim().is_empty()) {
        return Err(blank(origin, "username"));
    }
    let password = password(
        given.flags.password.clone(),
        given.flags.password_file.clone(),
        given.env_password.clone(),
        from_profile,
        names,
        loaded,
    )?;
    let password = match (password, &username) {
        (Some((_, Origin::Flag(PASSWORD_ENV))), None) => None, // exported for another device
        (Some((_, origin)), None) => return Err(password_alone(origin, names)),
        (password, _) => password.map(|(p, _)| p),
    };
    Ok(Credentials::Basic {
        client_id: client_id.map(|(c, _)| c),
        username: username.map(|(u, _)| u),
        password,
    })
}

/// `--password`, else `--password-file`, else `IOTCHAT_TB_PASSWORD`, else (when the profile
/// named the credentials) `thingsboard.password_file`. Given but empty is an error.
fn password(
    flag: Option<Secret>,
    file_flag: Option<PathBuf>,
    env: Option<Secret>,
    from_profile: bool,
    names: TbFlagNames,
    loaded: &LoadedProfile,
) -> Result<Option<(Secret, Origin)>, ConfigError> {
    let from_file = |path: PathBuf, origin: Origin| -> Result<(Secret, Origin), ConfigError> {
        Ok((first_line(&path, &origin, "password")?, origin))
    };
    let found = if let Some(password) = flag {
        (password, Origin::Flag(names.password))
    } else if let Some(path) = file_flag {
        from_file(path, Origin::Flag(names.password_file))?
    } else if let Some(password) = env {
        (password, Origin::Flag(PASSWORD_ENV))
    } else if let Some(path) = loaded.profile.thingsboard.password_file.clone().filter(|_| from_profile) {
        from_file(path, profile_key(loaded, "thingsboard.password_file"))?
    } else {
        return Ok(None);
    };
    if found.0.expose().is_empty() {
        return Err(setting(
            found.1,
            "the password is empty: give the one on the device's credentials page".into(),
        ));
    }
    Ok(Some(found))
}

fn blank(origin: &Origin, what: &str) -> ConfigError {
    setting(origin.clone(), format!("the {what} is empty: give the one on the device's credentials page"))
}

#[cfg(test)]
#[path = "tb_credentials_tests.rs"]
mod tests;
