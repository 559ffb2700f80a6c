//! `[chat]` and `iotchat chat`'s flags ([`ChatSection`]), resolved into [`ChatOptions`].

use std::time::Duration;

use super::layer::{Dur, Sourced};
use super::serve::DEFAULT_BIND;
use super::{ConfigError, Origin, check_host_port, server_from_bind};
use crate::client::ChatOptions;

const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

crate::section! {
    /// `[chat]` in a profile, and the same settings as `iotchat chat`'s flags.
    pub struct ChatSection => ChatMerged {
        /// Server to connect to [default: the profile's chat.server, else its serve.bind, else
        /// 127.0.0.1:12000].
        #[arg(long, short = 's', value_name = "HOST:PORT")]
        pub server: Option<String>,
        /// Keep trying to connect, and reconnect when the server goes away.
        #[arg(long, num_args = 0, default_missing_value = "true")]
        pub retry: Option<bool>,
        /// How long to wait for outstanding replies once input has ended [default: 5s].
        #[arg(long, value_name = "DURATION")]
        pub reply_timeout: Option<Dur>,
    }
}

/// Checks the merged settings; without a server, the one at the profile's `serve.bind`.
pub fn chat_options(m: ChatMerged, serve_bind: Option<(&str, Origin)>) -> Result<ChatOptions, ConfigError> {
    let (server, server_setting) = match m.server {
        Some(s) => (check_host_port(s.value, s.origin.clone())?, s.origin.to_string()),
        None => match serve_bind {
            Some((bind, origin)) => (server_from_bind(bind), format!("{origin} (or --server)")),
            None => (server_from_bind(DEFAULT_BIND), "--server (or chat.server in the profile)".into()),
        },
    };
    let reply_timeout = match m.reply_timeout {
        // Zero would give up on every reply the moment input ends.
        Some(Sourced { value, origin }) if value.0.is_zero() => {
            let expected = "must be more than 0, such as 5s".into();
            return Err(ConfigError::Invalid { origin, value: value.to_string(), expected });
        }
        Some(s) => s.value.0,
        None => DEFAULT_REPLY_TIMEOUT,
    };
    let retry = m.retry.is_some_and(|s| s.value);
    Ok(ChatOptions { server, server_setting, retry, reply_timeout, tls: None, hello: None })
}
