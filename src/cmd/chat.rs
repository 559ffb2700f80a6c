//! `iotchat chat`.

use std::io::IsTerminal;

use iotchat::client::{self, chat::News, chat::Rest};
use iotchat::config::{self, ChatConfig, LoadedProfile};
use iotchat::output;

use crate::cli::ChatArgs;

pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let mut config = ChatConfig::resolve(args.overrides(), &loaded)?;
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
