//! ThingsBoard's basic MQTT credentials: a client id, a username and password, or all three.
//! Where each comes from is in `tb_credentials`'s rules.

use std::path::PathBuf;

use super::tb_credentials::{PASSWORD_ENV, first_line, password_alone, profile_key, setting};
use super::thingsboard::TbGiven;
use super::{ConfigError, LoadedProfile, Origin, Secret, TbFlagNames};
use crate::thingsboard::Credentials;

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
