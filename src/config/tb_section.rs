//! `[thingsboard]` as a profile writes it and `tb-publish` takes it as flags (`serve` as
//! `--tb-*`): [`ThingsboardSection`], one declaration per setting; and [`TbGiven`], what a
//! command hands the resolvers (its flags, its names for them, the secrets in its environment).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::layer::{Dur, ProfileOnly, Section};
use super::{LoadedProfile, Secret, TbFlagNames};

crate::section! {
    // One kind of credentials per login: clap refuses flags of two kinds together.
    #[command(group(clap::ArgGroup::new("tb_token_login").multiple(true).args(["token", "token_file"])
        .conflicts_with_all(["tb_basic_login", "tb_x509_login"])))]
    #[command(group(clap::ArgGroup::new("tb_basic_login").multiple(true)
        .args(["client_id", "username", "password", "password_file"]).conflicts_with("tb_x509_login")))]
    #[command(group(clap::ArgGroup::new("tb_x509_login").multiple(true).args(["cert", "key"])))]
    /// `[thingsboard]` in a profile, and the same settings as `tb-publish`'s flags (`serve`'s
    /// as `--tb-*`, for its bridge). The token and the password are flags only, never keys: a
    /// profile names files holding them.
    pub struct ThingsboardSection => ThingsboardMerged {
        /// ThingsBoard's MQTT host (tb-publish: [default: localhost]; serve: its bridge forwards
        /// every reading there as a gateway device, and is off without it).
        #[arg(long, value_name = "HOST")]
        pub host: Option<String>,
        /// Its MQTT port [default: 1883, 8883 with TLS].
        #[arg(long, value_name = "PORT")]
        pub port: Option<u16>,
        /// MQTT over TLS, e.g. to ThingsBoard Cloud.
        #[arg(long, num_args = 0, default_missing_value = "true")]
        pub tls: Option<bool>,
        /// Trust the certificate(s) in this PEM file instead of the system's roots; implies TLS.
        #[arg(long, value_name = "FILE")]
        pub ca: Option<PathBuf>,
        /// The device's access token (for the bridge, its gateway device's). Prefer
        /// $IOTCHAT_TB_TOKEN or a token file (which wins over the variable): a flag shows in `ps`.
        #[arg(long, value_name = "TOKEN")]
        #[serde(skip)]
        pub token: Option<Secret>,
        /// Read the device's access token from this file (its first line).
        #[arg(long, value_name = "FILE")]
        pub token_file: Option<PathBuf>,
        /// Basic MQTT credentials: the client id (alone, or with the username). Alone, it is a
        /// secret: a flag shows in `ps`, so prefer thingsboard.client_id in a private profile.
        #[arg(long, value_name = "ID")]
        pub client_id: Option<Secret>,
        /// Basic MQTT credentials: the username.
        #[arg(long, value_name = "NAME")]
        pub username: Option<String>,
        /// Basic MQTT credentials: the password. Prefer $IOTCHAT_TB_PASSWORD or a password file
        /// (which wins over the variable): a flag shows in `ps`.
        #[arg(long, value_name = "PASSWORD")]
        #[serde(skip)]
        pub password: Option<Secret>,
        /// Read the basic MQTT credentials' password from this file (its first line).
        #[arg(long, value_name = "FILE")]
        pub password_file: Option<PathBuf>,
        /// X.509 credentials: the client certificate (PEM, its chain after it); implies TLS.
        /// Needs the key.
        #[arg(long, value_name = "FILE")]
        pub cert: Option<PathBuf>,
        /// The client certificate's private key (PEM).
        #[arg(long, value_name = "FILE")]
        pub key: Option<PathBuf>,
        /// How the device logs in, as one table of one kind: `kind = "token"` (`token_file`),
        /// `"basic"` (`client_id`, `username`, `password_file`) or `"x509"` (`cert`, `key`).
        /// The older keys of the same names directly in `[thingsboard]` are still read.
        #[arg(skip)]
        pub credentials: ProfileOnly<CredentialsTable>,
        /// QoS of tb-publish's publishes: 0 or 1 [default: 1].
        #[arg(long, value_name = "0|1")]
        pub qos: Option<u8>,
        /// Largest payload in bytes, as ThingsBoard's transport is set up [default: 65536].
        #[arg(long, value_name = "BYTES")]
        pub max_payload: Option<u64>,
        /// Replies to server-side RPC methods for `tb-publish --rpc`, e.g.
        /// `getInterval = { interval = 1000 }`.
        #[arg(skip)]
        pub rpc: ProfileOnly<BTreeMap<String, toml::Value>>,
        /// `serve` forwards every reading to ThingsBoard as a gateway device (token: the gateway's).
        #[arg(skip)]
        pub bridge: ProfileOnly<bool>,
        /// Most readings waiting for ThingsBoard before the oldest are skipped.
        #[arg(skip)]
        pub max_pending: ProfileOnly<u64>,
        /// How long a bridged device may take to answer an RPC, e.g. `"10s"`.
        #[arg(skip)]
        pub rpc_timeout: ProfileOnly<Dur>,
        /// Shared attributes the bridge asks ThingsBoard for when a device says HELLO (and when
        /// the bridge reconnects), so a device gets values set while it was away (default
        /// `["interval"]`; `[]`: none).
        #[arg(skip)]
        pub shared_attributes: ProfileOnly<Vec<String>>,
        /// The bridge's pace: ThingsBoard's message limit for the gateway, `capacity:seconds`
        /// windows (e.g. `"10:1,300:60"`), kept at 80% until ThingsBoard's `getSessionLimits`
        /// answer replaces it (default: none).
        #[arg(skip)]
        pub rate_limits: ProfileOnly<String>,
        /// The same for the gateway's data points (one key's value each).
        #[arg(skip)]
        pub data_point_limits: ProfileOnly<String>,
        /// Messages per device behind the gateway, as `rate_limits`.
        #[arg(skip)]
        pub device_rate_limits: ProfileOnly<String>,
        /// Data points per device behind the gateway, as `rate_limits`.
        #[arg(skip)]
        pub device_data_point_limits: ProfileOnly<String>,
        /// Most bridge publishes awaiting ThingsBoard's PUBACK (default: 64).
        #[arg(skip)]
        pub max_in_flight: ProfileOnly<u64>,
    }
}

/// `[thingsboard.credentials]`: one kind of credentials, named by `kind`; a key of another
/// kind in the table is refused when the profile is read, so two kinds cannot be written.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum CredentialsTable {
    /// An access token: from `token_file`, else `$IOTCHAT_TB_TOKEN`.
    Token {
        /// A file holding the token (its first line).
        token_file: Option<PathBuf>,
    },
    /// Basic MQTT credentials.
    Basic {
        /// The client id.
        client_id: Option<Secret>,
        /// The username.
        username: Option<String>,
        /// A file holding the password (its first line); else `$IOTCHAT_TB_PASSWORD`.
        password_file: Option<PathBuf>,
    },
    /// An X.509 client certificate and its key (mutual TLS).
    X509 {
        /// The certificate (PEM, its chain after it).
        cert: PathBuf,
        /// Its private key (PEM).
        key: PathBuf,
    },
}

impl ThingsboardSection {
    /// The credentials of `[thingsboard.credentials]` written into the older flat keys, which
    /// the credential rules read (`credentials` stays, so errors name the table's keys). Both
    /// forms at once are refused: which one would count is not clear.
    pub(super) fn flat_credentials(&self) -> Result<Self, String> {
        let Some(table) = &self.credentials else { return Ok(self.clone()) };
        let flat = [
            (self.token_file.is_some(), "token_file"),
            (self.client_id.is_some(), "client_id"),
            (self.username.is_some(), "username"),
            (self.password_file.is_some(), "password_file"),
            (self.cert.is_some(), "cert"),
            (self.key.is_some(), "key"),
        ];
        if let Some((_, key)) = flat.into_iter().find(|(set, _)| *set) {
            return Err(format!(
                "the credentials are given twice, in [thingsboard.credentials] and as the older key \
                 thingsboard.{key}: keep the table"
            ));
        }
        let mut flat = self.clone();
        match table.clone() {
            CredentialsTable::Token { token_file } => flat.token_file = token_file,
            CredentialsTable::Basic { client_id, username, password_file } => {
                (flat.client_id, flat.username, flat.password_file) = (client_id, username, password_file);
            }
            CredentialsTable::X509 { cert, key } => (flat.cert, flat.key) = (Some(cert), Some(key)),
        }
        Ok(flat)
    }
}

/// What a command gives for `[thingsboard]`: its flags, what it calls them, and the secrets in
/// the environment.
#[derive(Debug, Clone, Default)]
pub struct TbGiven {
    /// The flags as typed (the section's type; `None`: not given).
    pub flags: ThingsboardSection,
    /// What the command calls them, for errors.
    pub names: TbFlagNames,
    /// The command line as parsed (`None` in tests): tells a flag typed from the environment.
    pub matches: Option<clap::ArgMatches>,
    /// `$IOTCHAT_TB_TOKEN`, when set and not empty.
    pub env_token: Option<Secret>,
    /// `$IOTCHAT_TB_PASSWORD`, when set and not empty.
    pub env_password: Option<Secret>,
}

impl TbGiven {
    /// The command's flags, with `IOTCHAT_TB_TOKEN` and `IOTCHAT_TB_PASSWORD` read from the
    /// environment (an empty one counts as unset).
    pub fn new(flags: ThingsboardSection, names: TbFlagNames, matches: Option<&clap::ArgMatches>) -> Self {
        Self {
            flags,
            names,
            matches: matches.cloned(),
            env_token: super::env_secret(super::TB_TOKEN_ENV),
            env_password: super::env_secret(super::TB_PASSWORD_ENV),
        }
    }

    /// The flags merged over the profile's `[thingsboard]`, each value with its origin.
    pub(super) fn merge(&self, loaded: &LoadedProfile) -> ThingsboardMerged {
        self.merge_over(loaded, loaded.profile.thingsboard.clone())
    }

    /// The flags merged over `profile` (an empty one: the flags alone).
    pub(super) fn merge_over(
        &self,
        loaded: &LoadedProfile,
        profile: ThingsboardSection,
    ) -> ThingsboardMerged {
        let names = self.names;
        let at = loaded.at(self.matches.as_ref(), "thingsboard").with_prefix(names.prefix).with_names(names);
        ThingsboardSection::merge(self.flags.clone(), profile, &at)
    }
}
