//! The device's side of an update told with `ota: <version> <url>` (see `docs/protocol.md`):
//! its failure report `OTA FAILED <why>`, an upper-case keyword like `RPC`, so that no echo of
//! the server's lower-case `ota: ` line can be one, and "OTA failed" in chat stays chat.

/// The keyword and its second word.
const OTA: &str = "OTA";
const FAILED: &str = "FAILED";
/// The longest reason kept, in characters; a longer one is cut.
pub const MAX_REASON: usize = 200;

/// `Some(why)` when `text` (trimmed) is `OTA FAILED` then white space and a reason, or nothing.
pub fn failure(text: &str) -> Option<String> {
    let rest = text.strip_prefix(OTA)?;
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start().strip_prefix(FAILED)?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let why: String = rest.trim().chars().filter(|c| !c.is_control()).take(MAX_REASON).collect();
    Some(if why.is_empty() { "no reason given".to_owned() } else { why })
}

#[cfg(test)]
mod tests {
    use super::failure;

    #[test]
    fn failure_lines_byte_by_byte() {
        let cases = [
            ("OTA FAILED HTTP error: 404", Some("HTTP error: 404")),
            ("OTA\tFAILED  Update error: MD5 check failed ", Some("Update error: MD5 check failed")),
            ("OTA FAILED", Some("no reason given")),
            ("OTA  FAILED x", Some("x")),
            ("OTA FAILEDX", None),
            ("ota failed x", None),
            ("OTA failed x", None),
            ("OTAFAILED x", None),
            ("OTA", None),
            ("OTA FAILED a\u{1b}[31mb", Some("a[31mb")),
        ];
        for (line, want) in cases {
            assert_eq!(failure(line).as_deref(), want, "{line:?}");
        }
        assert_eq!(failure(&format!("OTA FAILED {}", "é".repeat(300))).map(|w| w.chars().count()), Some(200));
    }
}
