//! What each command calls its ThingsBoard settings ([`TbFlagNames`]: `--host` for
//! `tb-publish`, `--tb-host` for `serve`, `--broker` for `check`), and the advice that names
//! them. The `thingsboard` library reports structured causes ([`TbError`], [`TlsProblem`]) and
//! names no setting; these sentences are worded here, for the command that has the flags:
//! `tb-publish` and `check` call [`TbFlagNames::explain`] themselves, and `serve`'s bridge gets
//! it as its [`crate::bridge::Explain`] from [`super::bridge_config`].

use crate::thingsboard::TlsProblem;
use crate::thingsboard::session::TbError;

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

impl TbFlagNames {
    /// `error` in the command's own words: its text, then what to check, naming the command's
    /// flags (an error that needs no setting is its text alone).
    pub fn explain(&self, error: &TbError) -> String {
        match error {
            TbError::Unresolved { .. } => format!(
                "{error}; check {} (or thingsboard.host in the profile), or give an IP address",
                self.host
            ),
            TbError::Unreachable { .. } if self.host == self.port => format!("{error} check {}", self.host),
            TbError::Unreachable { .. } => format!("{error} check {}/{}", self.host, self.port),
            TbError::Tls { problem, .. } => format!("{error} ({})", self.tls_advice(*problem)),
            other => other.to_string(),
        }
    }

    /// What to do about a failed TLS handshake, naming the command's flags.
    pub fn tls_advice(&self, problem: TlsProblem) -> String {
        let (ca, cert, key) = (self.ca, self.cert, self.key);
        match problem {
            TlsProblem::CertificateRequired => format!(
                "the broker wants a client certificate (ThingsBoard's X.509 credentials): give {cert} FILE and \
                 {key} FILE instead of a token or basic credentials"
            ),
            TlsProblem::CertificateRefused => format!(
                "the broker refused our client certificate: it must be signed by a CA the broker trusts, with \
                 any intermediate certificates after it in the {cert} file"
            ),
            TlsProblem::HandshakeFailure => format!(
                "if the broker wants a client certificate, give {cert} FILE and {key} FILE; otherwise check \
                 that this port speaks TLS"
            ),
            TlsProblem::Other => format!(
                "does the broker speak TLS on this port? to trust its certificate, give its CA file with {ca} (or \
                 thingsboard.ca); its name must match the host"
            ),
        }
    }
}

impl crate::thingsboard::Advice for TbFlagNames {
    fn explain(&self, error: &TbError) -> String {
        TbFlagNames::explain(self, error)
    }

    fn tls_advice(&self, problem: TlsProblem) -> String {
        TbFlagNames::tls_advice(self, problem)
    }

    fn host_setting(&self) -> String {
        format!("{} (or [thingsboard] host in the profile)", self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_advice_says_what_to_do_in_the_commands_own_flags() {
        let cases = [
            (
                TbFlagNames::serve(),
                TlsProblem::CertificateRequired,
                "give --tb-cert FILE and --tb-key FILE instead",
            ),
            (TbFlagNames::serve(), TlsProblem::CertificateRefused, "signed by a CA the broker trusts"),
            (TbFlagNames::serve(), TlsProblem::HandshakeFailure, "if the broker wants a client certificate"),
            (TbFlagNames::serve(), TlsProblem::Other, "give its CA file with --tb-ca"),
            (TbFlagNames::tb_publish(), TlsProblem::Other, "give its CA file with --ca (or thingsboard.ca)"),
            (
                TbFlagNames::CHECK,
                TlsProblem::CertificateRequired,
                "give thingsboard.cert FILE and thingsboard.key",
            ),
        ];
        for (names, problem, want) in cases {
            let advice = names.tls_advice(problem);
            assert!(advice.contains(want), "{problem:?}: {advice}");
        }
    }

    #[test]
    fn connection_errors_end_with_what_to_check_in_the_commands_own_flags() {
        let unresolved = TbError::Unresolved { host: "tb.invalid".into(), cause: "not known".into() };
        let unreachable = TbError::Unreachable { addr: "127.0.0.1:1".into(), cause: "refused".into() };
        let tls =
            TbError::Tls { addr: "h:8883".into(), cause: "UnknownIssuer".into(), problem: TlsProblem::Other };
        let cases = [
            (
                TbFlagNames::tb_publish(),
                &unresolved,
                "cannot resolve the host name \"tb.invalid\" of ThingsBoard: not known; check --host (or thingsboard.host in the profile), or give an IP address",
            ),
            (
                TbFlagNames::serve(),
                &unreachable,
                "cannot connect to ThingsBoard at 127.0.0.1:1: refused; is ThingsBoard (or an MQTT broker) running there? check --tb-host/--tb-port",
            ),
            (
                TbFlagNames::CHECK,
                &unreachable,
                "cannot connect to ThingsBoard at 127.0.0.1:1: refused; is ThingsBoard (or an MQTT broker) running there? check --broker",
            ),
            (
                TbFlagNames::tb_publish(),
                &tls,
                "TLS with ThingsBoard at h:8883 failed: UnknownIssuer (does the broker speak TLS on this port? to trust its certificate, give its CA file with --ca (or thingsboard.ca); its name must match the host)",
            ),
        ];
        for (names, error, want) in cases {
            assert_eq!(names.explain(error), want);
            assert!(want.starts_with(&error.to_string()), "the library's text comes first: {error}");
        }
        let lost = TbError::Lost { addr: "h:1".into(), cause: "reset".into(), unacked: 0 };
        assert_eq!(TbFlagNames::serve().explain(&lost), lost.to_string());
    }
}
