//! The TOML profile format. Every key is optional; unknown keys are rejected so that a typo
//! never goes unnoticed. `config/m0.toml` and `config/m1.toml` document each key.

use serde::Deserialize;

/// A whole profile file: one section per command.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Settings of `iotchat serve`.
    #[serde(default)]
    pub serve: super::serve::ServeSection,
    /// The server's HTTP side (`serve --http`).
    #[serde(default)]
    pub http: super::http::HttpSection,
    /// Settings of `iotchat chat`.
    #[serde(default)]
    pub chat: super::chat::ChatSection,
    /// Where readings are kept (`serve` writes, `readings` reads).
    #[serde(default)]
    pub store: super::store::StoreSection,
    /// Settings of `iotchat fake-device`.
    #[serde(default)]
    pub fake_device: super::fake_device::FakeDeviceSection,
    /// Settings of `iotchat check`.
    #[serde(default)]
    pub check: super::check::CheckSection,
    /// The firmware's settings, rendered into `config.h` by `iotchat flash`.
    #[serde(default)]
    pub firmware: super::firmware::FirmwareSection,
    /// The ThingsBoard connection (`tb-publish`, and the bridge in `serve`).
    #[serde(default)]
    pub thingsboard: super::tb_section::ThingsboardSection,
}

impl Profile {
    /// Parses profile text. The error carries the line, the key and what is allowed, but
    /// never the offending line itself: it may hold a secret under a misspelled key.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let message = &without_value(e.message().trim_end());
            match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                    let column = before.len() - line_start + 1;
                    // The key, from the text before `=` on that line, under the table the
                    // last `[header]` above it opened; the value is not shown.
                    let this_line = text[line_start..].lines().next().unwrap_or_default();
                    let key = match this_line.split_once('=') {
                        Some((k, _)) => Some(dotted(table_above(before), k.trim())),
                        // An error in a whole table (one of the wrong shape) points at its header.
                        None => table_above(&text[..line_start + this_line.len()]).map(str::to_owned),
                    };
                    match key.as_deref() {
                        Some(key)
                            if !key.is_empty()
                                && !message.contains(key.rsplit('.').next().unwrap_or(key)) =>
                        {
                            format!("at line {line}, column {column}, key `{key}`: {message}")
                        }
                        _ => format!("at line {line}, column {column}: {message}"),
                    }
                }
                None => message.to_owned(),
            }
        })
    }
}

/// The table the last `[header]` (or `[[header]]`) in `before` opened, if any.
fn table_above(before: &str) -> Option<&str> {
    before.lines().rev().map(str::trim).find_map(|line| {
        line.strip_prefix('[').and_then(|l| l.strip_suffix(']')).map(|h| h.trim_matches(['[', ']']).trim())
    })
}

fn dotted(table: Option<&str>, key: &str) -> String {
    table.map_or_else(|| key.to_owned(), |table| format!("{table}.{key}"))
}

/// serde's "invalid type: integer `12345`, expected a string" without the value, which may be
/// a secret (an inline token written as a number) and is on the line the error names anyway.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(rest) = message.strip_prefix(prefix) else { continue };
        let Some((found, expected)) = rest.split_once(", expected ") else { continue };
        let kind = found.split(['`', '"']).next().unwrap_or(found).trim_end();
        return format!("{prefix}{kind}, expected {expected}");
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_of_the_wrong_type_is_not_echoed() {
        for (value, kind) in [("31337", "integer"), ("3.25", "floating point"), ("true", "boolean")] {
            let err =
                Profile::parse(&format!("[serve.auth.tokens]\nesp-1 = {value}\n")).expect_err("not a string");
            assert!(!err.contains(value), "{err}");
            assert!(
                err.contains(&format!("invalid type: {kind}, expected a string")) && err.contains("line 2"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_misspelled_secret_is_not_echoed() {
        let err = Profile::parse("[firmware]\nwifi_pasword = \"hunter22\"\n").expect_err("unknown key");
        assert!(!err.contains("hunter22"), "{err}");
        assert!(err.contains("wifi_pasword") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn an_empty_profile_is_all_defaults() {
        assert_eq!(Profile::parse("").expect("parses"), Profile::default());
    }

    #[test]
    fn malformed_profiles_name_the_key_and_the_choices() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("unknown section", "[srve]\n", &["srve", "serve", "chat", "store", "fake_device"]),
            ("unknown key", "[serve]\nbnd = \"x\"\n", &["bnd", "bind", "max_clients"]),
            (
                "wrong type",
                "[serve]\nmax_clients = \"ten\"\n",
                &["expected u64", "line 2", "serve.max_clients"],
            ),
            (
                "bad duration",
                "[serve.tls]\n\n[fake_device]\ninterval = \"often\"\n",
                &["fake_device.interval", "line 4", "500ms"],
            ),
            ("negative", "[serve]\nmax_clients = -1\n", &["max_clients"]),
            ("not toml", "[serve\n", &["line 1"]),
        ];
        for (name, text, needles) in cases {
            let err = Profile::parse(text).expect_err(name);
            for needle in *needles {
                assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
            }
        }
    }
}
