//! `iotchat chat`: a full-duplex line client, like `nc` but protocol-aware.
//!
//! Lines typed (or piped) go to the server; whatever the server sends is printed as it
//! arrives. The rules live in the sans-IO [`ClientSession`]; this module moves the bytes.
//! The session ends well (Ok) when the `CLOSE SOCKET` message was answered, or when input
//! ended and every message was answered. Input after `CLOSE SOCKET` is not sent; a pipe or a
//! file is read on to its end (within bounds) to say exactly how much ([`super::unsent`]). It ends badly when the server is unreachable, speaks
//! another protocol, refuses the session with an `error: ` line, closes the connection, or
//! leaves messages unanswered past the reply timeout. An output whose reader has gone away
//! ends it with [`ChatError::Output`] holding [`OutputError::Closed`], which the command edge
//! treats as a quiet success.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::ChatOptions;
pub use super::unsent::Rest;
use super::unsent::{Leftover, Unsent, count_rest};
use crate::backoff::Backoff;
use crate::net::{self, ConnectError};
use crate::output::OutputError;
use crate::protocol::client_session::{ClientSession, End};
use crate::protocol::framing::{Frame, LineFramer};
use crate::protocol::sniff::Foreign;

/// Longest line read from the user.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// How a chat session failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The server could not be reached.
    #[error(
        "cannot connect to {server}: {}; {} (--retry keeps trying)",
        net::describe(cause),
        net::hint(cause)
    )]
    Unreachable {
        /// The server.
        server: String,
        /// Why.
        cause: io::Error,
    },
    /// The server's name did not resolve, or its TLS handshake did not finish.
    #[error("{0}")]
    Setup(ConnectError),
    /// The TLS handshake failed (certificate not trusted, server not speaking TLS...).
    #[error(
        "TLS handshake with {server} failed: {cause}; check --ca (the server's certificate or its CA) and that the server runs with --tls-cert"
    )]
    Tls {
        /// The server.
        server: String,
        /// Why.
        cause: io::Error,
    },
    /// The server answered with another protocol (TLS without `--tls`, SSH, HTTP, binary).
    #[error("{}", foreign(server, *protocol))]
    Foreign {
        /// The server.
        server: String,
        /// What it speaks.
        protocol: Foreign,
    },
    /// The server ended the session with an `error: ` line (authentication refused, server
    /// full...).
    #[error("the server at {server} closed the connection after: {line}")]
    Refused {
        /// The server.
        server: String,
        /// Its error line.
        line: String,
    },
    /// The server closed the connection before the session was over.
    #[error("the server at {server} closed the connection{}", unanswered(*.pending))]
    Closed {
        /// The server.
        server: String,
        /// Messages left unanswered.
        pending: u64,
    },
    /// The connection broke.
    #[error("connection to {server} failed: {cause}")]
    Broken {
        /// The server.
        server: String,
        /// Why.
        cause: io::Error,
    },
    /// Input ended but replies did not come.
    #[error("no reply from {server} within {timeout:?}{}; raise --reply-timeout if the server is slow", unanswered(*.pending))]
    NoReply {
        /// The server.
        server: String,
        /// How long we waited.
        timeout: Duration,
        /// Messages left unanswered.
        pending: u64,
    },
    /// Reading the user's input failed.
    #[error("cannot read the input: {0}")]
    Input(io::Error),
    /// Showing what the server sent failed, or its reader went away ([`OutputError::Closed`]).
    #[error("cannot show what the server sent")]
    Output(#[source] OutputError),
}

impl ChatError {
    /// Whether `--retry` goes on after this: the connection was lost or refused, not misused.
    fn is_retried(&self) -> bool {
        matches!(self, ChatError::Closed { .. } | ChatError::Broken { .. } | ChatError::Refused { .. })
    }
}

fn unanswered(pending: u64) -> String {
    match pending {
        0 => String::new(),
        1 => " (1 message unanswered)".into(),
        n => format!(" ({n} messages unanswered)"),
    }
}

fn foreign(server: &str, protocol: Foreign) -> String {
    let port = "check the port (`iotchat serve` listens on 12000 unless told otherwise by --bind)";
    match protocol {
        Foreign::Tls => {
            format!(
                "the server at {server} speaks TLS; add --tls (and --ca FILE if its certificate is self-signed)"
            )
        }
        Foreign::Binary => format!(
            "the server at {server} sent bytes that are not UTF-8 text: it does not speak iotchat's line protocol; {port}"
        ),
        // Likely `serve`'s own HTTP side (the dashboard's port, 12080 by default).
        Foreign::Http => format!(
            "the server at {server} speaks HTTP, not iotchat's line protocol: is that `iotchat serve`'s \
             dashboard port (12080 unless --http says otherwise)? Chat and devices use its first port; {port}"
        ),
        other => {
            format!("the server at {server} speaks {}, not iotchat's line protocol; {port}", other.name())
        }
    }
}

/// How a chat that ended well ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// The input after the `CLOSE SOCKET` message, which was not sent.
    pub unsent: Unsent,
}

impl Summary {
    /// What to tell the user about input that was not sent, if any was left.
    pub fn unsent_notice(&self) -> Option<String> {
        self.unsent.notice()
    }
}

/// News about the connection, for the user.
#[derive(Debug, Clone, Copy)]
pub enum News<'a> {
    /// Connected; `again` when it follows a failure that `--retry` went past.
    Connected {
        /// The server.
        server: &'a str,
        /// A reconnection.
        again: bool,
    },
    /// Connecting failed and `--retry` tries again: why, and when the next try is.
    Retrying {
        /// What failed.
        what: &'a str,
        /// The wait before the next try.
        delay: Duration,
    },
    /// The connection ended too early and `--retry` reconnects: why, and when.
    Reconnecting {
        /// How it ended.
        what: &'a str,
        /// The wait before reconnecting.
        delay: Duration,
    },
}

impl fmt::Display for News<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            News::Connected { server, .. } => write!(f, "connected to {server}"),
            News::Retrying { what, delay } => {
                write!(f, "{what}; retrying in {}", humantime::format_duration(*delay))
            }
            News::Reconnecting { what, delay } => {
                write!(f, "{what}; reconnecting in {}", humantime::format_duration(*delay))
            }
        }
    }
}

/// Runs a chat session: `input` is what the user types, `output` gets what the server says,
/// `rest` says whether to count the input left after `CLOSE SOCKET`, `news` gets connection
/// news for the user (connected, reconnecting).
pub async fn run(
    config: &ChatOptions,
    mut input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
    rest: Rest,
    news: &mut dyn FnMut(News<'_>),
) -> Result<Summary, ChatError> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut user = LineFramer::new(MAX_LINE, None);
    let mut again = false;
    loop {
        let mut stream = connect(config, &mut backoff, news, again).await?;
        match converse(config, &mut stream, &mut input, &mut output, &mut user).await {
            Err(e) if config.retry && e.is_retried() => {
                // A lost connection starts the backoff over; a refusal lets it grow, as a
                // server that refused once (full, wrong token) will not change its mind at once.
                if !matches!(e, ChatError::Refused { .. }) {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                news(News::Reconnecting { what: &e.to_string(), delay });
                tokio::time::sleep(delay).await;
                again = true;
            }
            Ok(None) => return Ok(Summary::default()),
            Ok(Some(left)) => return Ok(Summary { unsent: count_rest(&mut input, left, rest).await }),
            Err(e) => return Err(e),
        }
    }
}

/// The connection: plain TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn open(config: &ChatOptions) -> Result<Box<dyn Stream>, ConnectError> {
    let tcp = net::connect(&config.server, &config.server_setting).await?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &config.tls else { return Ok(Box::new(tcp)) };
    let failed = |cause| ConnectError::Tls { server: config.server.clone(), cause };
    let name = crate::tls::server_name(&config.server).map_err(failed)?;
    let connect = tls.connector.connect(name, tcp);
    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, connect).await {
        Ok(stream) => Ok(Box::new(stream.map_err(failed)?)),
        Err(_) => Err(failed(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))),
    }
}

async fn connect(
    config: &ChatOptions,
    backoff: &mut Backoff,
    news: &mut dyn FnMut(News<'_>),
    mut again: bool,
) -> Result<Box<dyn Stream>, ChatError> {
    loop {
        match open(config).await {
            Ok(stream) => {
                news(News::Connected { server: &config.server, again });
                return Ok(stream);
            }
            Err(ConnectError::Tls { server, cause }) if cause.kind() == io::ErrorKind::InvalidData => {
                return Err(ChatError::Tls { server, cause });
            }
            Err(ConnectError::Connect { server, cause }) if !config.retry => {
                return Err(ChatError::Unreachable { server, cause });
            }
            Err(e) if !config.retry => return Err(ChatError::Setup(e)),
            Err(e) => {
                let delay = backoff.next_delay();
                news(News::Retrying { what: &e.to_string(), delay });
                tokio::time::sleep(delay).await;
                again = true;
            }
        }
    }
}

/// One connection's worth of chat. Ended well: `None` when the input ended, or what was read
/// of it after `CLOSE SOCKET`.
async fn converse(
    config: &ChatOptions,
    stream: &mut Box<dyn Stream>,
    input: &mut (impl AsyncRead + Unpin),
    output: &mut (impl AsyncWrite + Unpin),
    user: &mut LineFramer,
) -> Result<Option<Leftover>, ChatError> {
    let server_err = |cause| ChatError::Broken { server: config.server.clone(), cause };
    let mut session = ClientSession::new(config.tls.is_none(), config.reply_timeout);
    if let Some((name, token)) = &config.hello {
        // The token goes on the wire only; the echo (`HELLO <NAME>`) leaves it out.
        let token = token.as_ref().map(|t| format!(" {}", t.expose())).unwrap_or_default();
        session.handle_input_line(format!("HELLO {name}{token}").as_bytes(), Instant::now().into_std());
    }
    let (mut in_buf, mut net_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    loop {
        write_out(output, &session.poll_output()).await?;
        let to_send = session.poll_transmit();
        if !to_send.is_empty() {
            stream.write_all(&to_send).await.map_err(server_err)?;
        }
        if let Some(end) = session.poll_end() {
            return ended(end, config, user, session.input_ended());
        }
        let deadline = session.poll_timeout().map(Instant::from_std);
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            n = input.read(&mut in_buf), if session.wants_input() => {
                let n = n.map_err(ChatError::Input)?;
                typed(&mut session, user, &in_buf[..n], Instant::now().into_std());
            }
            n = stream.read(&mut net_buf) => {
                let n = n.map_err(server_err)?;
                let now = Instant::now().into_std();
                if n == 0 {
                    session.handle_server_eof(now);
                } else {
                    session.handle_server_bytes(&net_buf[..n], now);
                }
            }
            () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                session.handle_timeout(Instant::now().into_std());
            }
        }
    }
}

/// Frames the user's input into messages for the session; no bytes: the input has ended.
fn typed(session: &mut ClientSession, user: &mut LineFramer, bytes: &[u8], now: std::time::Instant) {
    let mut emit = |f: Frame<'_>| {
        if let Frame::Line(line) = f {
            session.handle_input_line(line, now);
        }
        true
    };
    if bytes.is_empty() {
        user.finish(&mut emit);
        session.handle_input_end(now);
    } else {
        user.feed(bytes, now, &mut emit);
    }
}

/// The session's end as the chat's result.
fn ended(
    end: End,
    config: &ChatOptions,
    user: &mut LineFramer,
    input_ended: bool,
) -> Result<Option<Leftover>, ChatError> {
    let server = config.server.clone();
    Err(match end {
        End::Done { .. } if input_ended => return Ok(None),
        End::Done { unsent } => {
            // After the close message, an unfinished line of input is not sent either.
            let left = Leftover::new(unsent, user.buffered() > 0);
            user.finish(&mut |_| true);
            return Ok(Some(left));
        }
        End::Closed { pending } => ChatError::Closed { server, pending },
        End::Refused(line) => ChatError::Refused { server, line },
        End::Foreign(protocol) => ChatError::Foreign { server, protocol },
        End::NoReply { pending } => ChatError::NoReply { server, timeout: config.reply_timeout, pending },
    })
}

async fn write_out(output: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> Result<(), ChatError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let written = async {
        output.write_all(bytes).await?;
        output.flush().await
    };
    written.await.map_err(|e| ChatError::Output(e.into()))
}
