//! `iotchat chat`.

use std::io::IsTerminal;

use iotchat::client;
use iotchat::config::{ChatConfig, LoadedProfile};

use crate::cli::ChatArgs;

pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let mut config = ChatConfig::resolve(args.overrides(), &loaded)?;
    config.tls = args.tls.resolve()?;
    let interactive = std::io::stdin().is_terminal();
    // Connection news is for a person at a terminal; in a pipe only errors are shown.
    let mut status = |msg: &str| {
        if interactive {
            eprintln!("{msg}");
        }
    };
    if interactive {
        eprintln!("type a message and press Enter; a message with CLOSE SOCKET ends the chat");
    }
    client::chat::run(&config, tokio::io::stdin(), tokio::io::stdout(), &mut status).await?;
    Ok(())
}
