//! The operator's console commands: parsing a typed line and rendering the answers. Pure;
//! the console loop in `console.rs` does the reading and writing.

use std::fmt::Write as _;
use std::time::Duration;

use super::registry::{ClientId, ClientInfo};
use crate::text::{VALUE_WIDTH, ellipsis};

/// One console command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `clients`: the registry as a table.
    Clients,
    /// `send ID TEXT`: one client gets an `operator: TEXT` line.
    Send(ClientId, String),
    /// `broadcast TEXT`: every client gets it.
    Broadcast(String),
    /// `kick ID`: disconnect a client.
    Kick(ClientId),
    /// `help`.
    Help,
    /// An empty line.
    Nothing,
}

/// The console's help text.
pub const HELP: &str = "\
commands:
  clients              list connected clients (id, peer, name, state, times, counters)
  send ID TEXT         send TEXT to one client (it receives `operator: TEXT`)
  broadcast TEXT       send TEXT to every client
  kick ID              disconnect a client
  help                 this list";

/// Parses one typed line. The error says what was wrong and what to type.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    match word {
        "" => Ok(Command::Nothing),
        "clients" | "list" => Ok(Command::Clients),
        "help" | "?" => Ok(Command::Help),
        "broadcast" if !rest.is_empty() => Ok(Command::Broadcast(rest.to_owned())),
        "broadcast" => Err("usage: broadcast TEXT".into()),
        "kick" => Ok(Command::Kick(parse_id(rest, "kick ID")?)),
        "send" => {
            let (id, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let id = parse_id(id, "send ID TEXT")?;
            let text = text.trim_start();
            if text.is_empty() {
                return Err("usage: send ID TEXT".into());
            }
            Ok(Command::Send(id, text.to_owned()))
        }
        other => Err(format!("unknown command `{other}`; type `help` for the list")),
    }
}

fn parse_id(text: &str, usage: &str) -> Result<ClientId, String> {
    let text = text.trim();
    text.parse().map_err(|_| {
        if text.is_empty() {
            format!("usage: {usage}")
        } else {
            format!("`{text}` is not a client id; type `clients` to see the ids (usage: {usage})")
        }
    })
}

/// Renders the registry as a table, with the count on the last line.
pub fn render_clients(clients: &[ClientInfo]) -> String {
    let mut out = String::new();
    if !clients.is_empty() {
        let _ = writeln!(
            out,
            "{:>6}  {:<22} {:<16} {:<7} {:>9} {:>7} {:>9} {:>11} {:>9} {:>13}  LAST READING",
            "ID", "PEER", "NAME", "STATE", "CONNECTED", "IDLE", "MESSAGES", "BYTES IN", "READINGS", "HEALTH"
        );
    }
    for c in clients {
        let name = c.name.as_deref().unwrap_or("-");
        let last = c.last_reading.as_deref().map_or_else(|| "-".to_owned(), |l| ellipsis(l, VALUE_WIDTH));
        let _ = writeln!(
            out,
            "{:>6}  {:<22} {:<16} {:<7} {:>9} {:>7} {:>9} {:>11} {:>9} {:>13}  {last}",
            c.id,
            c.peer.to_string(),
            name,
            state(c),
            short(c.connected_for),
            short(c.idle_for),
            c.messages,
            c.bytes_in,
            c.readings,
            health(c),
        );
    }
    let plural = if clients.len() == 1 { "" } else { "s" };
    let _ = write!(out, "{} client{plural} connected", clients.len());
    out
}

/// A device's health in a few characters, from its `HEALTH` attributes: RSSI and free heap
/// (`-61dBm 30KiB`); `-` when it sent none. The full set is in `/api/devices`.
fn health(c: &ClientInfo) -> String {
    let int = |key: &str| c.attributes.get(key).and_then(serde_json::Value::as_i64);
    let parts: Vec<String> =
        [int("rssi").map(|r| format!("{r}dBm")), int("heap").map(|h| format!("{}KiB", h / 1024))]
            .into_iter()
            .flatten()
            .collect();
    if parts.is_empty() { "-".to_owned() } else { ellipsis(&parts.join(" "), 13) }
}

/// A device's state: `online`, or `offline` once silent for the device timeout (still
/// connected); `-` for a chat client, which is no device.
fn state(c: &ClientInfo) -> &'static str {
    match (c.device(), c.silent) {
        (None, _) => "-",
        (Some(_), false) => "online",
        (Some(_), true) => "offline",
    }
}

/// `42s`, `3m05s`, `2h10m`, `3d04h`: short enough for a table column.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_commands() {
        use Command::*;
        let ok: &[(&str, Command)] = &[
            ("", Nothing),
            ("   ", Nothing),
            ("clients", Clients),
            ("  clients  ", Clients),
            ("help", Help),
            ("send 3 hello there", Send(3, "hello there".into())),
            ("send\t3   spaced  out", Send(3, "spaced  out".into())),
            ("broadcast all hands", Broadcast("all hands".into())),
            ("kick 12", Kick(12)),
        ];
        for (line, want) in ok {
            assert_eq!(parse(line).as_ref(), Ok(want), "{line:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("frobnicate", "unknown command `frobnicate`"),
            ("send", "usage: send ID TEXT"),
            ("send 3", "usage: send ID TEXT"),
            ("send x hi", "`x` is not a client id"),
            ("kick", "usage: kick ID"),
            ("kick -1", "`-1` is not a client id"),
            ("broadcast", "usage: broadcast TEXT"),
        ];
        for (line, want) in bad {
            let err = parse(line).expect_err(line);
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }

    #[test]
    fn the_table_ends_with_the_count() {
        assert_eq!(render_clients(&[]), "0 clients connected");
        let one = ClientInfo {
            id: 7,
            peer: "127.0.0.1:5000".parse().expect("addr"),
            name: Some("esp-1".into()),
            connected_for: Duration::from_secs(125),
            idle_for: Duration::from_secs(3),
            messages: 4,
            bytes_in: 40,
            readings: 3,
            last_reading: Some("temp=21.5 hum=40 door=closed ts=1763900000000 and a long tail".into()),
            silent: false,
            attributes: std::sync::Arc::new(serde_json::Map::from_iter([
                ("rssi".to_owned(), serde_json::json!(-61)),
                ("heap".to_owned(), serde_json::json!(31240)),
            ])),
        };
        let silent = ClientInfo { id: 8, silent: true, ..one.clone() };
        let chat = ClientInfo {
            id: 9,
            name: None,
            readings: 0,
            last_reading: None,
            attributes: Default::default(),
            ..one.clone()
        };
        let table = render_clients(&[one, silent, chat]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].contains(" NAME             STATE   CONNECTED "), "{}", lines[0]);
        assert!(
            lines[1].contains("127.0.0.1:5000") && lines[1].contains("esp-1") && lines[1].contains("2m05s")
        );
        assert!(lines[1].contains(" esp-1            online  "), "{}", lines[1]);
        assert!(lines[1].ends_with("  temp=21.5 hum=40 door=closed ts=1763900000000 an…"), "{}", lines[1]);
        assert!(lines[1].contains(" -61dBm 30KiB  temp"), "{}", lines[1]);
        assert!(lines[2].contains(" esp-1            offline "), "silent, still connected: {}", lines[2]);
        assert!(lines[3].contains(" -                -       "), "a chat client has no state: {}", lines[3]);
        assert_eq!(lines[4], "3 clients connected");
    }
}
