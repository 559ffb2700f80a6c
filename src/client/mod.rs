//! Clients of the chat server. `chat` is the interactive (and pipe-friendly) client.

pub mod chat;
