//! `iotchat chat`.

use std::io::IsTerminal;

use iotchat::client::{self, chat::News, chat::Rest};
use std::path::PathBuf;

use clap::Args;
use iotchat::config::{self, ChatSection, LoadedProfile, Section};
use iotchat::output;

use super::client_tls::ClientTlsArgs;

pub(super) const EXAMPLES: &str = "\
Examples:
  iotchat chat                                   # the server at 127.0.0.1:12000
  iotchat chat --server 192.168.1.20:12000
  iotchat chat --profile config/m0.toml --retry  # keep trying until the server is up
  printf 'a\\nb\\n' | iotchat chat                 # send two lines, print both replies, exit 0
  IOTCHAT_DEVICE_TOKEN=... iotchat chat --hello esp-1 --tls --ca cert.pem

A message containing CLOSE SOCKET ends the chat after its reply (exit 0). When input ends,
chat waits for the outstanding replies (--reply-timeout) and exits 0. If the server closes
the connection or cannot be reached, chat says so and exits 1.";

/// `iotchat chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Read settings from this TOML profile (flags override it).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub chat: ChatSection,
    /// Say `HELLO NAME TOKEN` first, as device NAME (token from $IOTCHAT_DEVICE_TOKEN, else --token-file).
    #[arg(long, value_name = "NAME")]
    pub hello: Option<String>,
    /// The token for --hello: a file of `name token` lines (used when $IOTCHAT_DEVICE_TOKEN is unset).
    #[arg(long, value_name = "FILE", requires = "hello")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// Runs `iotchat chat`.
pub async fn run(args: ChatArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let p = &loaded.profile;
    let merged = ChatSection::merge(args.chat, p.chat.clone(), &loaded.at(Some(matches), "chat"));
    let mut config = config::chat_options(merged, loaded.serve_bind())?;
    config.tls = args.tls.resolve()?;
    if let Some(name) = args.hello.clone() {
        if !iotchat::protocol::reading::is_valid_name(&name) {
            let expected = "a device name is 1 to 64 letters, digits, '-', '_', '.' or ':'".to_owned();
            Err(config::ConfigError::Invalid {
                origin: config::Origin::Flag("--hello"),
                value: name.clone(),
                expected,
            })?;
        }
        // Secrets from the environment or a file, never a flag (a flag shows in `ps`).
        let env = std::env::var(config::DEVICE_TOKEN_ENV).ok();
        let auth = config::device_auth(env, args.token_file.as_deref(), [name.clone()])?;
        config.hello = Some((name.clone(), auth.and_then(|a| a.token(&name).cloned())));
    }
    let interactive = std::io::stdin().is_terminal();
    // The first "connected" is for a person at a terminal; in a pipe it would only be noise.
    // What `--retry` goes past (and the reconnection after it) is shown everywhere: a script's
    // log should say why its chat paused.
    let mut news = |news: News<'_>| match news {
        News::Connected { again: false, .. } if !interactive => {}
        news => output::note(&news.to_string()),
    };
    if interactive {
        output::note("type a message and press Enter; a message with CLOSE SOCKET ends the chat");
    }
    // A person at a terminal sees where the chat ended; a pipe or a file is read on, to say
    // exactly how much of it was not sent.
    let rest = if interactive { Rest::Leave } else { Rest::Count };
    let summary =
        client::chat::run(&config, tokio::io::stdin(), tokio::io::stdout(), rest, &mut news).await?;
    if let Some(notice) = summary.unsent_notice() {
        output::note(&notice);
    }
    Ok(())
}
