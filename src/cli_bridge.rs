//! `serve`'s ThingsBoard bridge flags (clap types only), under their own heading in `--help`.

use std::path::PathBuf;

use clap::Args;
use iotchat::config::{Secret, TbFlagNames, TbOverrides};

/// The bridge's flags; the same settings as `[thingsboard]` in a profile.
#[derive(Debug, Args)]
#[command(next_help_heading = "ThingsBoard bridge (or [thingsboard] in the profile)")]
pub struct BridgeArgs {
    /// Forward every reading to ThingsBoard at this MQTT host, as a gateway device.
    #[arg(long, value_name = "HOST")]
    pub tb_host: Option<String>,
    /// ThingsBoard's MQTT port [default: 1883, 8883 with TLS].
    #[arg(long, value_name = "PORT")]
    pub tb_port: Option<u16>,
    /// Forward over MQTT with TLS, e.g. to ThingsBoard Cloud.
    #[arg(long)]
    pub tb_tls: bool,
    /// Trust the certificate(s) in this PEM file for ThingsBoard instead of the system's roots;
    /// implies --tb-tls.
    #[arg(long, value_name = "FILE")]
    pub tb_ca: Option<PathBuf>,
    /// The gateway device's access token. Prefer $IOTCHAT_TB_TOKEN or --tb-token-file (which
    /// wins over the variable): a flag shows in `ps`.
    #[arg(long, value_name = "TOKEN")]
    pub tb_token: Option<Secret>,
    /// Read the gateway device's access token from this file.
    #[arg(long, value_name = "FILE")]
    pub tb_token_file: Option<PathBuf>,
    /// Basic MQTT credentials of the gateway device: its client id.
    #[arg(long, value_name = "ID")]
    pub tb_client_id: Option<Secret>,
    /// Basic MQTT credentials: the username.
    #[arg(long, value_name = "NAME")]
    pub tb_username: Option<String>,
    /// Basic MQTT credentials: the password. Prefer $IOTCHAT_TB_PASSWORD or --tb-password-file
    /// (which wins over the variable): a flag shows in `ps`.
    #[arg(long, value_name = "PASSWORD")]
    pub tb_password: Option<Secret>,
    /// Read the basic MQTT credentials' password from this file (its first line).
    #[arg(long, value_name = "FILE")]
    pub tb_password_file: Option<PathBuf>,
    /// X.509 credentials of the gateway device: its client certificate (PEM, chain after it);
    /// implies --tb-tls. Needs --tb-key.
    #[arg(long, value_name = "FILE")]
    pub tb_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tb_key: Option<PathBuf>,
}

impl BridgeArgs {
    /// The flags, and the environment's token and password, as overrides for the profile's
    /// `[thingsboard]`.
    pub fn overrides(&self) -> TbOverrides {
        TbOverrides {
            names: TbFlagNames::SERVE,
            host: self.tb_host.clone(),
            port: self.tb_port,
            tls: self.tb_tls,
            ca: self.tb_ca.clone(),
            token: self.tb_token.clone(),
            token_file: self.tb_token_file.clone(),
            client_id: self.tb_client_id.clone(),
            username: self.tb_username.clone(),
            password: self.tb_password.clone(),
            password_file: self.tb_password_file.clone(),
            cert: self.tb_cert.clone(),
            key: self.tb_key.clone(),
            qos: Some(1),
            max_payload: None,
            ..TbOverrides::default()
        }
        .read_env()
    }
}
