//! What each command calls its ThingsBoard settings ([`TbFlagNames`]: `--host` for
//! `tb-publish`, `--tb-host` for `serve`, `--broker` for `check`), for the errors of the
//! settings and, in the binary (`cmd/tb_advice.rs`), for the advice after a connection error.

/// What the command calls its ThingsBoard flags, for errors that name the flag the user typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TbFlagNames {
    /// What the command puts before the section's flag names (`tb-` for `serve`).
    pub prefix: &'static str,
    /// The host flag.
    pub host: &'static str,
    /// The port flag.
    pub port: &'static str,
    /// The TLS switch.
    pub tls: &'static str,
    /// The CA file flag.
    pub ca: &'static str,
    /// The token flag (`IOTCHAT_TB_TOKEN` is read by the command).
    pub token: &'static str,
    /// The token file flag.
    pub token_file: &'static str,
    /// The client id flag (basic MQTT credentials).
    pub client_id: &'static str,
    /// The username flag.
    pub username: &'static str,
    /// The password flag (`IOTCHAT_TB_PASSWORD` is read by the command).
    pub password: &'static str,
    /// The password file flag.
    pub password_file: &'static str,
    /// The client certificate flag (X.509).
    pub cert: &'static str,
    /// Its key's flag.
    pub key: &'static str,
}

impl TbFlagNames {
    /// `tb-publish`'s: the section's own names (`--host`).
    pub fn tb_publish() -> Self {
        Self::prefixed("")
    }

    /// `serve`'s, for the bridge: `--tb-host`.
    pub fn serve() -> Self {
        Self::prefixed("tb-")
    }

    /// The section's flags with `prefix` before their names.
    fn prefixed(prefix: &'static str) -> Self {
        let flag = |field: &str| super::layer::flag_name(prefix, field);
        Self {
            prefix,
            host: flag("host"),
            port: flag("port"),
            tls: flag("tls"),
            ca: flag("ca"),
            token: flag("token"),
            token_file: flag("token_file"),
            client_id: flag("client_id"),
            username: flag("username"),
            password: flag("password"),
            password_file: flag("password_file"),
            cert: flag("cert"),
            key: flag("key"),
        }
    }

    /// The name of `field`'s flag (`None`: a field these names do not cover).
    pub fn flag_of(&self, field: &str) -> Option<&'static str> {
        Some(match field {
            "host" => self.host,
            "port" => self.port,
            "tls" => self.tls,
            "ca" => self.ca,
            "token" => self.token,
            "token_file" => self.token_file,
            "client_id" => self.client_id,
            "username" => self.username,
            "password" => self.password,
            "password_file" => self.password_file,
            "cert" => self.cert,
            "key" => self.key,
            _ => return None,
        })
    }

    /// `check`'s, for m3.
    pub const CHECK: Self = Self {
        prefix: "",
        host: "--broker",
        port: "--broker",
        tls: "--broker-tls",
        ca: "--broker-ca",
        token: "IOTCHAT_TB_TOKEN",
        token_file: "--token-file",
        // m3 takes basic credentials and certificates from the profile only.
        client_id: "thingsboard.client_id",
        username: "thingsboard.username",
        password: "IOTCHAT_TB_PASSWORD",
        password_file: "thingsboard.password_file",
        cert: "thingsboard.cert",
        key: "thingsboard.key",
    };
}

impl Default for TbFlagNames {
    fn default() -> Self {
        Self::tb_publish()
    }
}
