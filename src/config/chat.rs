//! Validated settings of `iotchat chat`.

use std::time::Duration;

use super::{ConfigError, DEFAULT_BIND, LoadedProfile, check_host_port, parse_duration, server_from_bind};

const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings given on the command line; each overrides the profile.
#[derive(Debug, Clone, Default)]
pub struct ChatOverrides {
    /// `--server`
    pub server: Option<String>,
    /// `--retry`
    pub retry: bool,
    /// `--reply-timeout`
    pub reply_timeout: Option<String>,
}

/// Everything `chat` needs, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    /// `HOST:PORT` of the server.
    pub server: String,
    /// Keep trying to connect, and reconnect when the server goes away.
    pub retry: bool,
    /// How long to wait for outstanding replies once input has ended.
    pub reply_timeout: Duration,
    /// TLS to the server (set by the command from --tls/--ca).
    pub tls: Option<crate::tls::ClientTls>,
    /// Say `HELLO <name> [<token>]` first on every connection (set by the command from
    /// --hello, the token from the environment or a file).
    pub hello: Option<(String, Option<crate::protocol::auth::Token>)>,
}

impl ChatConfig {
    /// Merges flags over the profile and validates the result.
    pub fn resolve(flags: ChatOverrides, loaded: &LoadedProfile) -> Result<Self, ConfigError> {
        let p = &loaded.profile;
        let server = match loaded.pick(flags.server, "--server", p.chat.server.clone(), "chat.server") {
            Some((text, origin)) => check_host_port(text, origin)?,
            None => server_from_bind(p.serve.bind.as_deref().unwrap_or(DEFAULT_BIND)),
        };
        let reply_timeout = match loaded.pick(
            flags.reply_timeout,
            "--reply-timeout",
            p.chat.reply_timeout.clone(),
            "chat.reply_timeout",
        ) {
            Some((text, origin)) => match parse_duration(&text) {
                // Zero would give up on every reply the moment input ends.
                Ok(d) if d.is_zero() => {
                    let expected = "must be more than 0, such as 5s".into();
                    return Err(ConfigError::Invalid { origin, value: text, expected });
                }
                Ok(d) => d,
                Err(expected) => return Err(ConfigError::Invalid { origin, value: text, expected }),
            },
            None => DEFAULT_REPLY_TIMEOUT,
        };
        Ok(Self {
            server,
            retry: flags.retry || p.chat.retry.unwrap_or(false),
            reply_timeout,
            tls: None,
            hello: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    #[test]
    fn the_server_defaults_to_the_profiles_bind_address() {
        let loaded = LoadedProfile {
            path: None,
            profile: Profile::parse("[serve]\nbind = \"0.0.0.0:4000\"\n").expect("valid"),
        };
        let c = ChatConfig::resolve(ChatOverrides::default(), &loaded).expect("valid");
        assert_eq!(c.server, "127.0.0.1:4000");
        assert_eq!(c.reply_timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_are_named() {
        for (flags, needle) in [
            (ChatOverrides { server: Some("localhost".into()), ..Default::default() }, "--server"),
            (ChatOverrides { server: Some("h:99999".into()), ..Default::default() }, "--server"),
            (ChatOverrides { reply_timeout: Some("soon".into()), ..Default::default() }, "--reply-timeout"),
            (ChatOverrides { reply_timeout: Some("0s".into()), ..Default::default() }, "more than 0"),
        ] {
            let err = ChatConfig::resolve(flags, &LoadedProfile::default()).expect_err(needle).to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
