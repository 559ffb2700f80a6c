//! One checked connection: a tokio TCP stream read through the protocol's bounded
//! [`LineFramer`], with a deadline on every wait. A reply without a newline is taken after the
//! idle window and marked, so the evaluation can warn about it instead of failing.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::eval::Heard;
use crate::protocol::framing::{Frame, LineFramer};
use crate::protocol::lines;

/// Longest reply line kept; longer ones are reported as such.
const MAX_LINE: usize = 64 * 1024;
/// How long bytes without a newline wait before they count as a reply.
pub const IDLE_WINDOW: Duration = Duration::from_millis(200);

/// A client connection under check.
pub struct Conn {
    stream: TcpStream,
    framer: LineFramer,
    heard: VecDeque<Heard>,
    ended: bool,
    /// The step timeout, as reported when nothing comes.
    timeout: Duration,
}

impl Conn {
    /// Connects to `server`, giving up after `timeout` (also each later wait's limit).
    pub async fn connect(server: &str, timeout: Duration) -> Result<Conn, String> {
        let stream = match timeout_at(Instant::now() + timeout, TcpStream::connect(server)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("cannot connect to {server}: {e}")),
            Err(_) => return Err(format!("no connection to {server} before the step's timeout")),
        };
        let _ = stream.set_nodelay(true);
        let framer = LineFramer::new(MAX_LINE, Some(IDLE_WINDOW));
        Ok(Conn { stream, framer, heard: VecDeque::new(), ended: false, timeout })
    }

    /// Sends `line` and a LF in one write.
    pub async fn send(&mut self, line: &str) -> Result<(), String> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match tokio::time::timeout(self.timeout, self.stream.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot send: {e}")),
            Err(_) => Err("cannot send: the server does not read (its receive buffer stayed full)".into()),
        }
    }

    /// The next thing the server says, skipping its own `notice:`/`operator:` lines, which
    /// answer nothing. `Silent` if nothing comes by `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Heard {
        loop {
            match self.next_raw(deadline).await {
                Heard::Line(l) if l.starts_with(lines::NOTICE) || l.starts_with(lines::OPERATOR) => {}
                other => return other,
            }
        }
    }

    async fn next_raw(&mut self, deadline: Instant) -> Heard {
        loop {
            if let Some(h) = self.heard.pop_front() {
                return h;
            }
            if self.ended {
                return Heard::Closed;
            }
            let idle = self.framer.deadline().map(Instant::from_std);
            let wake = idle.map_or(deadline, |i| i.min(deadline));
            let mut buf = [0u8; 8192];
            match timeout_at(wake, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) => self.on_eof(),
                Ok(Ok(n)) => self.on_bytes(&buf[..n]),
                Ok(Err(e)) => {
                    self.ended = true;
                    return Heard::Broken(e.to_string());
                }
                Err(_) if idle.is_some_and(|i| i <= Instant::now()) => self.on_idle(),
                Err(_) => return Heard::Silent(self.timeout),
            }
        }
    }

    fn on_bytes(&mut self, bytes: &[u8]) {
        let heard = &mut self.heard;
        self.framer.feed(bytes, std::time::Instant::now(), &mut |frame| {
            heard.push_back(frame_to_heard(frame, true));
            true
        });
    }

    fn on_idle(&mut self) {
        let heard = &mut self.heard;
        self.framer.handle_timeout(std::time::Instant::now(), &mut |frame| {
            heard.push_back(frame_to_heard(frame, false));
            true
        });
    }

    fn on_eof(&mut self) {
        let heard = &mut self.heard;
        self.framer.finish(&mut |frame| {
            heard.push_back(frame_to_heard(frame, false));
            true
        });
        self.ended = true;
    }
}

fn frame_to_heard(frame: Frame<'_>, terminated: bool) -> Heard {
    match frame {
        Frame::Line(bytes) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            if terminated { Heard::Line(text) } else { Heard::Unterminated(text) }
        }
        Frame::TooLong => Heard::Line(format!("<a line longer than {MAX_LINE} bytes>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connection to a peer that writes `bytes` and then closes.
    async fn peer_says(bytes: &'static [u8]) -> Conn {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let conn = Conn::connect(&addr, Duration::from_secs(5)).await.expect("connects");
        let (mut peer, _) = listener.accept().await.expect("accept");
        tokio::spawn(async move {
            let _ = peer.write_all(bytes).await;
        });
        conn
    }

    #[tokio::test]
    async fn lines_notices_unterminated_text_and_the_close_are_told_apart() {
        let mut conn = peer_says(b"notice: hi\nA\r\noperator: x\nB\nC").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(conn.next(deadline).await, Heard::Line("A".into()));
        assert_eq!(conn.next(deadline).await, Heard::Line("B".into()));
        assert_eq!(conn.next(deadline).await, Heard::Unterminated("C".into()));
        assert_eq!(conn.next(deadline).await, Heard::Closed);
    }

    #[tokio::test]
    async fn silence_is_reported_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let mut conn = Conn::connect(&addr, Duration::from_millis(50)).await.expect("connects");
        let _peer = listener.accept().await.expect("accept");
        let heard = conn.next(Instant::now() + Duration::from_millis(50)).await;
        assert_eq!(heard, Heard::Silent(Duration::from_millis(50)));
    }
}
