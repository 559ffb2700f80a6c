//! What each command calls its ThingsBoard settings ([`TbFlagNames`]: `--host` for
//! `tb-publish`, `--tb-host` for `serve`, `--broker` for `check`), for the errors of the
//! settings and, in the binary (`cmd/tb_advice.rs`), for the advice after a connection error.

/// Writes [`TbFlagNames`] with one name per field of `[thingsboard]` listed, its
/// `prefixed` constructor and its `flag_of`, so a field is listed once.
macro_rules! flag_names {
    ($($field:ident),* $(,)?) => {
        /// What the command calls its ThingsBoard flags, for errors that name the flag the user
        /// typed (for `check`, some are a profile key or a variable: it has no such flag).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct TbFlagNames {
            /// What the command puts before the section's flag names (`tb-` for `serve`).
            pub prefix: &'static str,
            $(
                #[doc = concat!("What the command calls `", stringify!($field), "`.")]
                pub $field: &'static str,
            )*
        }

        impl TbFlagNames {
            /// The section's flags with `prefix` before their names.
            fn prefixed(prefix: &'static str) -> Self {
                Self { prefix, $($field: super::layer::flag_name(prefix, stringify!($field)),)* }
            }

            /// The name of `field`'s flag (`None`: a field these names do not cover).
            pub fn flag_of(&self, field: &str) -> Option<&'static str> {
                match field {
                    $(stringify!($field) => Some(self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

flag_names!(host, port, tls, ca, token, token_file, client_id, username, password, password_file, cert, key);

impl TbFlagNames {
    /// `tb-publish`'s: the section's own names (`--host`).
    pub fn tb_publish() -> Self {
        Self::prefixed("")
    }

    /// `serve`'s, for the bridge: `--tb-host`.
    pub fn serve() -> Self {
        Self::prefixed("tb-")
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
