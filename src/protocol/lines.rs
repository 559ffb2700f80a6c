//! Lines the server sends on its own, rather than as an echo: errors, notices and operator
//! messages.
//!
//! Each starts with a lower-case ASCII word and a colon (`error: `, `notice: `,
//! `operator: `). An echo is upper-cased, so it never contains lower-case ASCII: a client can
//! always tell the server's own lines from the answer to its message.

/// Prefix of an error line: the message it answers was not accepted.
pub const ERROR: &str = "error: ";
/// Prefix of a notice: something about the connection itself (shutdown, kick).
pub const NOTICE: &str = "notice: ";
/// Prefix of a message typed by the server's operator.
pub const OPERATOR: &str = "operator: ";
/// Prefix of a server-side RPC request to a device: `rpc: <id> <method> <params-json>`.
pub const RPC: &str = "rpc: ";
/// Prefix of a shared-attribute update from ThingsBoard (bridge): `attr: {"interval":5000}`.
pub const ATTRIBUTES: &str = "attr: ";
/// Prefix of an update the server tells a device of: `ota: <version> <url>`.
pub const OTA: &str = "ota: ";

/// Error text for a message that is not valid UTF-8.
pub const INVALID_UTF8: &str = "message is not valid UTF-8; send UTF-8 text ending in a newline";
/// Notice sent to every client when the server stops.
pub const SHUTTING_DOWN: &str = "server shutting down";
/// Notice sent to a client the operator disconnects.
pub const KICKED: &str = "disconnected by the server operator";
/// Notice sent to a connection whose device name a newer connection claimed.
pub const REPLACED: &str = "a newer connection took this device name; closing this one";

/// A named device's reading to a server that keeps no store: not acknowledged, and why.
pub const NO_STORE: &str = "readings not stored: this server keeps no readings store (it runs without \
                            --data-dir); the operator can start it with --data-dir DIR";
/// Error to a first message that is not `HELLO <name> <token>` when the server authenticates.
pub const AUTH_REQUIRED: &str = "authentication required: reconnect and send HELLO <name> <token> first";
/// Error to a HELLO without a token when the server authenticates.
pub const AUTH_NO_TOKEN: &str =
    "authentication required: reconnect and send HELLO <name> <token> with this device's token";
/// Error to a HELLO whose name is unknown or whose token is wrong.
pub const AUTH_FAILED: &str =
    "authentication failed: unknown device name or wrong token; check both and reconnect";

/// Appends `error: <text>\n` to `out`.
pub fn error(out: &mut Vec<u8>, text: &str) {
    push(out, ERROR, text);
}

/// Appends `notice: <text>\n` to `out`.
pub fn notice(out: &mut Vec<u8>, text: &str) {
    push(out, NOTICE, text);
}

/// Appends `operator: <text>\n` to `out`.
pub fn operator(out: &mut Vec<u8>, text: &str) {
    push(out, OPERATOR, text);
}

/// Appends `rpc: <id> <method> <params-json>\n` to `out`. `method` is one token (white space
/// becomes `_`), `params` compact JSON, so the line splits on its first two spaces.
pub fn rpc(out: &mut Vec<u8>, id: u64, method: &str, params: &serde_json::Value) {
    let method: String = method.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
    push(out, RPC, &format!("{id} {method} {params}"));
}

/// Appends one `attr: {"<key>":<value>}\n` line per attribute to `out`: compact JSON, one
/// line each (JSON escapes line breaks inside strings), so a long attribute never hides a
/// short one from a device with a small line buffer.
pub fn attributes(out: &mut Vec<u8>, values: &serde_json::Map<String, serde_json::Value>) {
    for (key, value) in values {
        let one = serde_json::Map::from_iter([(key.clone(), value.clone())]);
        push(out, ATTRIBUTES, &serde_json::Value::Object(one).to_string());
    }
}

/// Appends `ota: <version> <url>\n` to `out`: the device is to fetch the image of `version`
/// at `url` (see `docs/protocol.md`).
pub fn ota(out: &mut Vec<u8>, version: &str, url: &str) {
    push(out, OTA, &format!("{version} {url}"));
}

/// Error text for a line over the limit.
pub fn too_long(max_line_bytes: usize) -> String {
    format!("line longer than {max_line_bytes} bytes; the rest of it was discarded; send shorter messages")
}

/// Notice for a client closed because it sent nothing for `timeout`.
pub fn idle_timeout(timeout: std::time::Duration) -> String {
    format!("nothing received for {}; closing (reconnect to go on)", humantime::format_duration(timeout))
}

/// Start of the error text for a client turned away because the server is full.
const SERVER_FULL: &str = "server full (limit: ";
/// Start of the error text for readings the store failed to keep.
const NOT_STORED: &str = "readings not stored (";

/// Error text for a client turned away because the server is full.
pub fn server_full(max_clients: usize) -> String {
    format!("{SERVER_FULL}{max_clients} clients); try again later")
}

/// Error text for a write whose readings the store failed to keep (the server then closes).
pub fn not_stored(why: impl std::fmt::Display) -> String {
    format!("{NOT_STORED}{why}); resend them after reconnecting")
}

/// The same for readings a resend cannot help (the device must change something first).
pub fn not_stored_as_sent(why: impl std::fmt::Display) -> String {
    format!("{NOT_STORED}{why})")
}

/// Whether a received line (without LF) is one of the `error: ` lines after which the server
/// closes the connection: authentication refused, server full, readings not stored. The
/// other errors (invalid UTF-8, a line too long, a refused reading) leave it open.
pub fn is_final_error(line: &str) -> bool {
    let Some(text) = line.strip_prefix(ERROR) else { return false };
    [AUTH_REQUIRED, AUTH_NO_TOKEN, AUTH_FAILED].contains(&text)
        || text.starts_with(SERVER_FULL)
        || text.starts_with(NOT_STORED)
}

/// Whether a received line (without LF) is one of the server's own lines, not an echo.
pub fn is_server_line(line: &str) -> bool {
    [ERROR, NOTICE, OPERATOR, RPC, ATTRIBUTES].iter().any(|p| line.starts_with(p))
}

fn push(out: &mut Vec<u8>, prefix: &str, text: &str) {
    out.extend_from_slice(prefix.as_bytes());
    // One line, whatever the text holds: a newline in it would read as a second message.
    out.extend(text.bytes().map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_line_is_always_one_line() {
        let mut out = Vec::new();
        operator(&mut out, "two\nlines\r");
        assert_eq!(out, b"operator: two lines \n");
    }

    #[test]
    fn attributes_are_written_one_line_each() {
        let mut out = Vec::new();
        let values = serde_json::json!({"interval": 5000, "note": "a\nb"});
        attributes(&mut out, values.as_object().expect("an object"));
        assert_eq!(String::from_utf8_lossy(&out), "attr: {\"interval\":5000}\nattr: {\"note\":\"a\\nb\"}\n");
    }

    #[test]
    fn server_lines_are_recognised() {
        assert!(is_server_line("error: x"));
        assert!(is_server_line("notice: server shutting down"));
        assert!(is_server_line("operator: hi"));
        assert!(is_server_line("rpc: 1 getInterval null"));
        assert!(is_server_line("attr: {\"interval\":5000}"));
        assert!(!is_server_line("ERROR: X"));
        assert!(!is_server_line("HELLO"));
    }

    #[test]
    fn the_errors_the_server_closes_after_are_told_from_the_others() {
        let line = |text: &str| format!("{ERROR}{text}");
        for last in [AUTH_REQUIRED, AUTH_NO_TOKEN, AUTH_FAILED, &server_full(3), &not_stored("disk full")] {
            assert!(is_final_error(&line(last)), "{last}");
        }
        for not_last in [INVALID_UTF8, &too_long(16), "key `t` given twice"] {
            assert!(!is_final_error(&line(not_last)), "{not_last}");
        }
        assert!(!is_final_error(&format!("ERROR: {}", AUTH_FAILED.to_uppercase())), "an echo");
        assert!(!is_final_error(&format!("{NOTICE}{SHUTTING_DOWN}")));
    }
}
