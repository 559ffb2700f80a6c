//! `iotchat chat`: a full-duplex line client, like `nc` but protocol-aware.
//!
//! Lines typed (or piped) go to the server; whatever the server sends is printed as it
//! arrives. The session ends well (Ok) when the `CLOSE SOCKET` message was answered, or when
//! input ended and every message was answered. It ends badly when the server is unreachable,
//! closes the connection, or leaves messages unanswered past the reply timeout.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::config::ChatConfig;
use crate::net::{self, ConnectError};
use crate::protocol::client::ReplyTracker;
use crate::protocol::framing::{Frame, LineFramer};

/// Longest line read from the user or the server.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// A server that answers without a newline (a textbook Python server) is printed after this.
const SERVER_IDLE_FLUSH: Duration = Duration::from_millis(200);

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
    /// Reading our input or writing our output failed.
    #[error("terminal input/output failed: {0}")]
    Local(io::Error),
}

fn unanswered(pending: u64) -> String {
    match pending {
        0 => String::new(),
        1 => " (1 message unanswered)".into(),
        n => format!(" ({n} messages unanswered)"),
    }
}

/// Runs a chat session: `input` is what the user types, `output` gets what the server says,
/// `status` gets connection news for the user (connected, reconnecting).
pub async fn run(
    config: &ChatConfig,
    mut input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
    status: &mut dyn FnMut(&str),
) -> Result<(), ChatError> {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let mut user = LineFramer::new(MAX_LINE, None);
    loop {
        let mut stream = connect(config, &mut backoff, status).await?;
        match converse(config, &mut stream, &mut input, &mut output, &mut user).await {
            Err(e @ (ChatError::Closed { .. } | ChatError::Broken { .. })) if config.retry => {
                status(&format!("{e}; reconnecting"));
            }
            result => return result,
        }
    }
}

/// The connection: plain TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn open(config: &ChatConfig) -> Result<Box<dyn Stream>, ConnectError> {
    let tcp = net::connect(&config.server, "--server (or chat.server in the profile)").await?;
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
    config: &ChatConfig,
    backoff: &mut Backoff,
    status: &mut dyn FnMut(&str),
) -> Result<Box<dyn Stream>, ChatError> {
    loop {
        match open(config).await {
            Ok(stream) => {
                backoff.reset();
                status(&format!("connected to {}", config.server));
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
                status(&format!("{e}; retrying in {delay:?}"));
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// One connection's worth of chat.
async fn converse(
    config: &ChatConfig,
    stream: &mut Box<dyn Stream>,
    input: &mut (impl AsyncRead + Unpin),
    output: &mut (impl AsyncWrite + Unpin),
    user: &mut LineFramer,
) -> Result<(), ChatError> {
    let server_err = |cause| ChatError::Broken { server: config.server.clone(), cause };
    let mut tracker = ReplyTracker::new();
    let mut from_server = LineFramer::new(MAX_LINE, Some(SERVER_IDLE_FLUSH));
    let (mut in_buf, mut net_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let (mut to_send, mut to_print) = (Vec::new(), Vec::new());
    let mut input_done = false;
    let mut waiting_since: Option<Instant> = None;
    if let Some((name, token)) = &config.hello {
        // The token goes on the wire only; the echo (`HELLO <NAME>`) leaves it out.
        to_send.extend_from_slice(format!("HELLO {name}").as_bytes());
        if let Some(token) = token {
            to_send.extend_from_slice(format!(" {}", token.expose()).as_bytes());
        }
        to_send.push(b'\n');
        tracker.on_sent(&format!("HELLO {name}"));
    }
    loop {
        let idle = from_server.deadline().map(Instant::from_std);
        let reply_deadline = waiting_since.map(|t| t + config.reply_timeout);
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            n = input.read(&mut in_buf), if !input_done && !tracker.close_requested() => {
                let n = n.map_err(ChatError::Local)?;
                let now = Instant::now().into_std();
                let mut emit = |f: Frame<'_>| queue_line(f, &mut to_send, &mut tracker);
                if n == 0 {
                    user.finish(&mut emit);
                    input_done = true;
                    tracker.on_input_end();
                    waiting_since = Some(Instant::now());
                } else {
                    user.feed(&in_buf[..n], now, &mut emit);
                }
            }
            n = stream.read(&mut net_buf) => {
                let n = n.map_err(server_err)?;
                if n == 0 {
                    from_server.finish(&mut |f| print_line(f, &mut to_print, &mut tracker));
                    write_out(output, &mut to_print).await?;
                    if tracker.close_requested() || tracker.is_finished() {
                        return Ok(());
                    }
                    return Err(ChatError::Closed { server: config.server.clone(), pending: tracker.pending() });
                }
                from_server.feed(&net_buf[..n], Instant::now().into_std(), &mut |f| print_line(f, &mut to_print, &mut tracker));
            }
            () = tokio::time::sleep_until(idle.unwrap_or(far)), if idle.is_some() => {
                from_server.handle_timeout(Instant::now().into_std(), &mut |f| print_line(f, &mut to_print, &mut tracker));
            }
            () = tokio::time::sleep_until(reply_deadline.unwrap_or(far)), if reply_deadline.is_some() => {
                return Err(ChatError::NoReply { server: config.server.clone(), timeout: config.reply_timeout, pending: tracker.pending() });
            }
        }
        write_out(output, &mut to_print).await?;
        if !to_send.is_empty() {
            stream.write_all(&to_send).await.map_err(server_err)?;
            to_send.clear();
        }
        if tracker.is_finished() {
            return Ok(());
        }
    }
}

fn queue_line(frame: Frame<'_>, to_send: &mut Vec<u8>, tracker: &mut ReplyTracker) -> bool {
    if tracker.close_requested() {
        return false; // nothing goes after CLOSE SOCKET
    }
    if let Frame::Line(line) = frame {
        to_send.extend_from_slice(line);
        to_send.push(b'\n');
        tracker.on_sent(&String::from_utf8_lossy(line));
    }
    true
}

fn print_line(frame: Frame<'_>, to_print: &mut Vec<u8>, tracker: &mut ReplyTracker) -> bool {
    if let Frame::Line(line) = frame {
        tracker.on_received(&String::from_utf8_lossy(line));
        to_print.extend_from_slice(line);
        to_print.push(b'\n');
    }
    true
}

async fn write_out(output: &mut (impl AsyncWrite + Unpin), buf: &mut Vec<u8>) -> Result<(), ChatError> {
    if buf.is_empty() {
        return Ok(());
    }
    output.write_all(buf).await.map_err(ChatError::Local)?;
    output.flush().await.map_err(ChatError::Local)?;
    buf.clear();
    Ok(())
}
