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

use std::path::PathBuf;

use super::layer::{Section, Sourced};
use super::tb_section::{CredentialsTable, TbGiven, ThingsboardMerged, ThingsboardSection};
use super::{ConfigError, LoadedProfile, Origin, Secret, TbFlagNames};
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

/// The credential settings as each place gave them, each value with its setting.
struct Places {
    names: TbFlagNames,
    /// The command line's flags alone.
    flags: ThingsboardMerged,
    /// The profile's keys alone, `[thingsboard.credentials]` read into the flat ones (and
    /// named as the table's keys).
    profile: ThingsboardMerged,
    /// `thingsboard.credentials`, and the kind it names if the profile has it.
    table: (Origin, Option<CredentialKind>),
    env_token: Option<Sourced<Secret>>,
    env_password: Option<Sourced<Secret>>,
}

impl Places {
    fn new(given: &TbGiven, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let p = &loaded.profile.thingsboard;
        let table = loaded.at(None, "thingsboard").key_of("credentials");
        let flat = p.flat_credentials().map_err(|problem| setting(table.clone(), problem))?;
        let key = if p.credentials.is_some() { "thingsboard.credentials" } else { "thingsboard" };
        let env = |secret: &Option<Secret>, name| {
            secret.clone().map(|value| Sourced { value, origin: Origin::Flag(name) })
        };
        Ok(Self {
            names: given.names,
            flags: given.merge_over(loaded, ThingsboardSection::default()),
            profile: ThingsboardSection::merge(ThingsboardSection::default(), flat, &loaded.at(None, key)),
            table: (table, p.credentials.as_ref().map(table_kind)),
            env_token: env(&given.env_token, TOKEN_ENV),
            env_password: env(&given.env_password, PASSWORD_ENV),
        })
    }
}

/// The device's credentials, and the client certificate to present when they are X.509 ones.
pub(super) fn resolve(
    given: &TbGiven,
    loaded: &LoadedProfile,
) -> Result<(Credentials, Option<Identity>), ConfigError> {
    let places = Places::new(given, loaded)?;
    let (kind, place) = kind(&places)?;
    if kind != CredentialKind::Basic {
        refuse_password(&places, place)?;
    }
    match kind {
        CredentialKind::AccessToken => Ok((token(&places)?, None)),
        CredentialKind::Certificate => Ok((Credentials::Certificate, Some(identity(&places)?))),
        CredentialKind::Basic => Ok((basic(&places, place == Place::Profile)?, None)),
    }
}

/// The kind, and where it was named (see the module's rules).
fn kind(places: &Places) -> Result<(CredentialKind, Place), ConfigError> {
    let (f, p) = (&places.flags, &places.profile);
    let table = |kind| places.table.1.filter(|k| *k == kind).map(|_| places.table.0.clone());
    let named = [
        (
            Place::CommandLine,
            [either(&f.token, &f.token_file), either(&f.client_id, &f.username), either(&f.cert, &f.key)],
        ),
        (
            Place::Profile,
            [
                origin(&p.token_file).or_else(|| table(CredentialKind::AccessToken)),
                either(&p.client_id, &p.username).or_else(|| table(CredentialKind::Basic)),
                either(&p.cert, &p.key),
            ],
        ),
        (Place::Environment, [origin(&places.env_token), None, None]),
    ];
    let kinds = [CredentialKind::AccessToken, CredentialKind::Basic, CredentialKind::Certificate];
    for (place, origins) in named {
        let mut named = kinds.into_iter().zip(origins).filter_map(|(kind, origin)| Some((kind, origin?)));
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
    Err(either(&f.password, &f.password_file)
        .map_or_else(|| missing(places.names), |origin| password_alone(origin, places.names)))
}

/// A password given on purpose where the kind takes none.
fn refuse_password(places: &Places, place: Place) -> Result<(), ConfigError> {
    let in_profile = origin(&places.profile.password_file).filter(|_| place == Place::Profile);
    match either(&places.flags.password, &places.flags.password_file).or(in_profile) {
        Some(origin) => Err(password_alone(origin, places.names)),
        None => Ok(()),
    }
}

/// The client certificate and its key: each from the command line, else the profile.
fn identity(places: &Places) -> Result<Identity, ConfigError> {
    let (f, p, names) = (&places.flags, &places.profile, places.names);
    match (f.cert.clone().or_else(|| p.cert.clone()), f.key.clone().or_else(|| p.key.clone())) {
        (Some(cert), Some(key)) => Ok(Identity {
            files: ClientIdentity { cert: PemFile { path: cert.value }, key: PemFile { path: key.value } },
            cert: cert.origin,
            key: key.origin,
        }),
        (Some(cert), None) => Err(setting(
            cert.origin,
            format!(
                "a client certificate needs its private key: {}",
                how(names.key, "thingsboard.key", "FILE")
            ),
        )),
        (None, Some(key)) => Err(setting(
            key.origin,
            format!(
                "a private key needs its client certificate: {}",
                how(names.cert, "thingsboard.cert", "FILE")
            ),
        )),
        (None, None) => Err(missing(names)), // not reached: one of them named the kind
    }
}

/// `--token`, else `--token-file`, else `IOTCHAT_TB_TOKEN`, else `thingsboard.token_file`.
fn token(places: &Places) -> Result<Credentials, ConfigError> {
    let token = (places.flags.token.clone().map(Ok))
        .or_else(|| places.flags.token_file.as_ref().map(|file| first_line(file, "token")))
        .or_else(|| places.env_token.clone().map(Ok))
        .or_else(|| places.profile.token_file.as_ref().map(|file| first_line(file, "token")))
        .transpose()?;
    let Some(Sourced { value: token, origin }) = token else {
        // Only `kind = "token"` named the kind.
        let problem = format!(
            "kind = \"token\" takes the token from {}, ${TOKEN_ENV} or token_file; none is set",
            places.names.token_file
        );
        return Err(setting(places.table.0.clone(), problem));
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

/// The basic credentials named on the command line, or in the profile (`from_profile`).
fn basic(places: &Places, from_profile: bool) -> Result<Credentials, ConfigError> {
    let (f, names) = (&places.flags, places.names);
    let named = if from_profile { &places.profile } else { f };
    let (client_id, username) = (named.client_id.clone(), named.username.clone());
    if from_profile && client_id.is_none() && username.is_none() {
        // Only `kind = "basic"` named the kind: nothing says who logs in.
        let problem = format!(
            "kind = \"basic\" needs client_id and/or username (the password from password_file or \
             ${PASSWORD_ENV}); or give {} or {}",
            names.client_id, names.username
        );
        return Err(setting(places.table.0.clone(), problem));
    }
    if let Some(s) = client_id.as_ref().filter(|s| s.value.expose().trim().is_empty()) {
        return Err(blank(&s.origin, "client id"));
    }
    if let Some(s) = username.as_ref().filter(|s| s.value.trim().is_empty()) {
        return Err(blank(&s.origin, "username"));
    }
    // `--password`, else `--password-file`, else `IOTCHAT_TB_PASSWORD`, else (when the profile
    // named the credentials) `thingsboard.password_file`.
    let password = (f.password.clone().map(Ok))
        .or_else(|| f.password_file.as_ref().map(|file| first_line(file, "password")))
        .or_else(|| places.env_password.clone().map(Ok))
        .or_else(|| {
            let in_profile = places.profile.password_file.as_ref().filter(|_| from_profile);
            in_profile.map(|file| first_line(file, "password"))
        })
        .transpose()?;
    if let Some(s) = password.as_ref().filter(|s| s.value.expose().is_empty()) {
        return Err(setting(
            s.origin.clone(),
            "the password is empty: give the one on the device's credentials page".into(),
        ));
    }
    let password = match (password, &username) {
        (Some(Sourced { origin: Origin::Flag(PASSWORD_ENV), .. }), None) => None, // exported for another device
        (Some(s), None) => return Err(password_alone(s.origin, names)),
        (password, _) => password.map(|s| s.value),
    };
    Ok(Credentials::Basic {
        client_id: client_id.map(|s| s.value),
        username: username.map(|s| s.value),
        password,
    })
}

/// The first line of a secret file (a token or a password), with the setting that named it.
fn first_line(file: &Sourced<PathBuf>, what: &str) -> Result<Sourced<Secret>, ConfigError> {
    let text = crate::secret::read_secret_file(&file.value).map_err(|e| ConfigError::Invalid {
        origin: file.origin.clone(),
        value: file.value.display().to_string(),
        expected: format!("cannot read the {what} file: {e}"),
    })?;
    Ok(Sourced { value: Secret::new(text.lines().next().unwrap_or_default()), origin: file.origin.clone() })
}

/// Where a setting came from, if it was given.
fn origin<T>(given: &Option<Sourced<T>>) -> Option<Origin> {
    given.as_ref().map(|s| s.origin.clone())
}

/// The first of two settings given.
fn either<A, B>(a: &Option<Sourced<A>>, b: &Option<Sourced<B>>) -> Option<Origin> {
    origin(a).or_else(|| origin(b))
}

/// How to give a setting: `add --key FILE (or thingsboard.key)`, or only the key when the
/// command has no such flag.
fn how(flag: &str, key: &str, placeholder: &str) -> String {
    if flag.starts_with("--") { format!("add {flag} {placeholder} (or {key})") } else { format!("set {key}") }
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

fn password_alone(origin: Origin, names: TbFlagNames) -> ConfigError {
    let problem = format!(
        "a password goes with basic MQTT credentials' username: {}, or drop the password",
        how(names.username, "thingsboard.username", "NAME")
    );
    setting(origin, problem)
}

fn missing(names: TbFlagNames) -> ConfigError {
    let command_line = if names.cert.starts_with("--") {
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

fn setting(origin: Origin, problem: String) -> ConfigError {
    ConfigError::Setting { origin, problem }
}

fn blank(origin: &Origin, what: &str) -> ConfigError {
    setting(origin.clone(), format!("the {what} is empty: give the one on the device's credentials page"))
}

#[cfg(test)]
#[path = "tb_credentials_tests.rs"]
mod tests;
