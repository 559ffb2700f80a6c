//! Reaching a server at `HOST:PORT`: the name is looked up first, then connected to, so an
//! error says which of the two failed and its hint matches the cause. A name that does not
//! resolve is not "is the server running?", and nothing listening on the port is not "check
//! the host name". Used by every client command (chat, fake-device, bench, check).

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Why a server could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host name did not resolve to any address.
    #[error(
        "cannot resolve the host name {host:?} (of {server}): {cause}; check the name in {setting}, or give an IP address such as 127.0.0.1"
    )]
    Resolve {
        /// The host part of `server`.
        host: String,
        /// `HOST:PORT` as given.
        server: String,
        /// Where it was set, to fix it: `--server (or chat.server in the profile)`.
        setting: String,
        /// The resolver's reason.
        cause: io::Error,
    },
    /// The TLS handshake failed (certificate not trusted, the server not speaking TLS...).
    #[error(
        "TLS handshake with {server} failed: {cause}; check --ca (the server's certificate or its CA) and that the server runs with --tls-cert"
    )]
    Tls {
        /// `HOST:PORT` as given.
        server: String,
        /// Why.
        cause: io::Error,
    },
    /// The name resolved, but the TCP connection failed.
    #[error("cannot connect to {server}: {}; {}", describe(cause), hint(cause))]
    Connect {
        /// `HOST:PORT` as given.
        server: String,
        /// Why.
        cause: io::Error,
    },
}

/// Looks `server` (`HOST:PORT`) up. `setting` names where it was set, for the error.
pub async fn resolve(server: &str, setting: &str) -> Result<Vec<SocketAddr>, ConnectError> {
    let failed = |cause| ConnectError::Resolve {
        host: host_of(server).to_owned(),
        server: server.to_owned(),
        setting: setting.to_owned(),
        cause,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(server).await.map_err(failed)?.collect();
    if addrs.is_empty() {
        return Err(failed(io::Error::new(io::ErrorKind::NotFound, "no address for this name")));
    }
    Ok(addrs)
}

/// Looks `server` up and connects to the first of its addresses that answers.
pub async fn connect(server: &str, setting: &str) -> Result<TcpStream, ConnectError> {
    let addrs = resolve(server, setting).await?;
    TcpStream::connect(&addrs[..])
        .await
        .map_err(|cause| ConnectError::Connect { server: server.to_owned(), cause })
}

/// The host of `HOST:PORT` (an IPv6 host without its brackets).
pub fn host_of(server: &str) -> &str {
    let host = server.rsplit_once(':').map_or(server, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A connection failure in a few words: `connection refused` rather than the system's
/// `Connection refused (os error 111)`.
pub fn describe(cause: &io::Error) -> String {
    use io::ErrorKind::*;
    match cause.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut => "timed out".into(),
        HostUnreachable => "no route to the host".into(),
        NetworkUnreachable => "the network is unreachable".into(),
        _ => cause.to_string(),
    }
}

/// What to do about a failed connection to one of our servers, by its cause.
pub fn hint(cause: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match cause.kind() {
        TimedOut => "the host did not answer: is it up, and does no firewall drop that port?",
        HostUnreachable | NetworkUnreachable => "check the address and this machine's network",
        PermissionDenied => "a firewall on this machine refuses it",
        // Refused: the host is up but nothing listens on that port.
        _ => "is `iotchat serve` running there?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_cause() {
        let cases = [
            (io::ErrorKind::ConnectionRefused, "connection refused", "is `iotchat serve` running there?"),
            (io::ErrorKind::TimedOut, "timed out", "is it up"),
            (io::ErrorKind::HostUnreachable, "no route", "network"),
            (io::ErrorKind::NetworkUnreachable, "unreachable", "network"),
        ];
        for (kind, said, hinted) in cases {
            let cause = io::Error::from(kind);
            let text = ConnectError::Connect { server: "h:1".into(), cause }.to_string();
            assert!(text.starts_with("cannot connect to h:1: ") && text.contains(said), "{kind:?}: {text}");
            assert!(text.contains(hinted), "{kind:?}: {text}");
        }
    }

    #[test]
    fn the_host_is_the_part_before_the_port() {
        assert_eq!(host_of("esp-server.local:12000"), "esp-server.local");
        assert_eq!(host_of("[::1]:12000"), "::1");
        assert_eq!(host_of("nohost"), "nohost");
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_says_so_not_is_serve_running() {
        let error = resolve("nosuchhost.invalid:12000", "--server").await.expect_err("no such host");
        let text = error.to_string();
        assert!(text.contains("cannot resolve the host name \"nosuchhost.invalid\""), "{text}");
        assert!(text.contains("--server") && !text.contains("running"), "{text}");
    }
}
