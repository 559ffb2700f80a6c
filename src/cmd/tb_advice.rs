//! The advice after a ThingsBoard connection error, in the words of the command at hand: the
//! `thingsboard` library reports structured causes ([`TbError`], [`TlsProblem`]) and names no
//! setting; these sentences name the command's flags ([`TbFlagNames`]). `tb-publish` words its
//! own error, `check` its report, and `serve`'s bridge its log lines through [`Advice`].

use iotchat::config::TbFlagNames;
use iotchat::thingsboard::session::TbError;
use iotchat::thingsboard::{Advice, TlsProblem};

/// A command's ThingsBoard flag names, as the advice that names them.
#[derive(Debug, Clone, Copy)]
pub struct Words(pub TbFlagNames);

impl Advice for Words {
    /// `error` in the command's own words: its text, then what to check, naming the command's
    /// flags (an error that needs no setting is its text alone).
    fn explain(&self, error: &TbError) -> String {
        match error {
            TbError::Unresolved { .. } => format!(
                "{error}; check {} (or thingsboard.host in the profile), or give an IP address",
                self.0.host
            ),
            TbError::Unreachable { .. } if self.0.host == self.0.port => {
                format!("{error} check {}", self.0.host)
            }
            TbError::Unreachable { .. } => format!("{error} check {}/{}", self.0.host, self.0.port),
            TbError::Tls { problem, .. } => format!("{error} ({})", self.tls_advice(*problem)),
            other => other.to_string(),
        }
    }

    /// What to do about a failed TLS handshake, naming the command's flags.
    fn tls_advice(&self, problem: TlsProblem) -> String {
        let (ca, cert, key) = (self.0.ca, self.0.cert, self.0.key);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_advice_says_what_to_do_in_the_commands_own_flags() {
        let cases = [
            (
                Words(TbFlagNames::serve()),
                TlsProblem::CertificateRequired,
                "give --tb-cert FILE and --tb-key FILE instead",
            ),
            (Words(TbFlagNames::serve()), TlsProblem::CertificateRefused, "signed by a CA the broker trusts"),
            (
                Words(TbFlagNames::serve()),
                TlsProblem::HandshakeFailure,
                "if the broker wants a client certificate",
            ),
            (Words(TbFlagNames::serve()), TlsProblem::Other, "give its CA file with --tb-ca"),
            (
                Words(TbFlagNames::tb_publish()),
                TlsProblem::Other,
                "give its CA file with --ca (or thingsboard.ca)",
            ),
            (
                Words(TbFlagNames::CHECK),
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
                Words(TbFlagNames::tb_publish()),
                &unresolved,
                "cannot resolve the host name \"tb.invalid\" of ThingsBoard: not known; check --host (or thingsboard.host in the profile), or give an IP address",
            ),
            (
                Words(TbFlagNames::serve()),
                &unreachable,
                "cannot connect to ThingsBoard at 127.0.0.1:1: refused; is ThingsBoard (or an MQTT broker) running there? check --tb-host/--tb-port",
            ),
            (
                Words(TbFlagNames::CHECK),
                &unreachable,
                "cannot connect to ThingsBoard at 127.0.0.1:1: refused; is ThingsBoard (or an MQTT broker) running there? check --broker",
            ),
            (
                Words(TbFlagNames::tb_publish()),
                &tls,
                "TLS with ThingsBoard at h:8883 failed: UnknownIssuer (does the broker speak TLS on this port? to trust its certificate, give its CA file with --ca (or thingsboard.ca); its name must match the host)",
            ),
        ];
        for (names, error, want) in cases {
            assert_eq!(names.explain(error), want);
            assert!(want.starts_with(&error.to_string()), "the library's text comes first: {error}");
        }
        let lost = TbError::Lost { addr: "h:1".into(), cause: "reset".into(), unacked: 0 };
        assert_eq!(Words(TbFlagNames::serve()).explain(&lost), lost.to_string());
    }
}
