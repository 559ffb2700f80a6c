//! The I/O edge of the bench: one tokio task per connection, a reusable read buffer fed to
//! the bounded [`LineFramer`], and each batch of requests written with one write.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use super::progress::Live;
use super::report::{ConnStats, Report};
use super::request::{Generator, Id, next_ts};
use super::{Options, Stop};
use crate::net::{self, ConnectError};
use crate::protocol::framing::{Frame, LineFramer};

/// Bytes read at a time per connection.
const READ_BUF: usize = 16 * 1024;
/// Longest reply line accepted; anything longer is a mismatch (and is not buffered).
const MAX_REPLY: usize = 64 * 1024;
/// Open loop: requests one connection may have outstanding before it stops sending.
const MAX_IN_FLIGHT: usize = 4096;

/// Runs the bench against `addr` (`server` as the user wrote it, for messages) and returns
/// its report. When no connection could be opened at all there is nothing to report: the
/// error says why (nothing listening, a timeout...) instead of a table of zeros. `live`, when
/// given, gets the counters as they grow, for a progress bar.
pub async fn run(
    addr: SocketAddr,
    server: &str,
    options: Options,
    live: Option<Arc<Live>>,
) -> Result<Report, ConnectError> {
    let generator = Generator::new(options.size, options.readings);
    let generator = Arc::new(if options.redis { generator.redis_set() } else { generator });
    let options = Arc::new(options);
    let barrier = Arc::new(Barrier::new(options.connections + 1));
    let mut tasks = Vec::with_capacity(options.connections);
    let connecting = Instant::now();
    for conn in 0..options.connections {
        let (options, generator, barrier) = (options.clone(), generator.clone(), barrier.clone());
        let live = live.clone();
        tasks.push(tokio::spawn(async move {
            let connected = connect(addr, conn, &generator, &options, live).await;
            barrier.wait().await;
            match connected {
                Ok(c) => Ok(c.drive(&options).await),
                Err(Failed::Greeting(stats)) => Ok(stats),
                Err(Failed::Connect(cause)) => Err(cause),
            }
        }));
    }
    barrier.wait().await; // every connection is open and greeted (or failed): start the clock
    let start = Instant::now();
    if let Some(live) = &live {
        live.start(start);
    }
    let connect_time = start - connecting;
    let mut total = ConnStats::default();
    let (mut opened, mut refused) = (0, None);
    for (conn, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(stats)) => {
                opened += 1;
                total.merge(&stats);
            }
            Ok(Err(cause)) => {
                total.error(format!(
                    "connection {conn}: cannot connect to {server}: {}",
                    net::describe(&cause)
                ));
                refused.get_or_insert(cause);
            }
            Err(e) => total.error(format!("connection task failed: {e}")),
        }
    }
    if let (0, Some(cause)) = (opened, refused) {
        return Err(ConnectError::Connect { server: server.to_owned(), cause });
    }
    Ok(Report::new(&options, server.to_owned(), &total, start.elapsed()).with_connect_time(connect_time))
}

/// Why a connection did not get to the load.
enum Failed {
    /// It could not connect.
    Connect(std::io::Error),
    /// It connected, but the greeting went wrong (counted in these stats).
    Greeting(ConnStats),
}

/// One open connection and its state.
struct Conn {
    conn: usize,
    stream: TcpStream,
    generator: Arc<Generator>,
    framer: LineFramer,
    buf: Box<[u8]>,
    out: Vec<u8>,
    scratch: Vec<u8>,
    /// Requests sent and not answered yet, and when each was (meant to be) sent.
    in_flight: VecDeque<(Id, Instant)>,
    /// The `ts` of the last reading sent.
    last_ts: u64,
    stats: ConnStats,
    /// Where the counters are published for a progress bar, when one is shown.
    live: Option<Arc<Live>>,
}

/// Opens connection `conn` (within the reply timeout) and greets the server.
async fn connect(
    addr: SocketAddr,
    conn: usize,
    generator: &Arc<Generator>,
    options: &Options,
    live: Option<Arc<Live>>,
) -> Result<Conn, Failed> {
    let stream = match tokio::time::timeout(options.reply_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(Failed::Connect(e)),
        Err(_) => return Err(Failed::Connect(std::io::ErrorKind::TimedOut.into())),
    };
    let _ = stream.set_nodelay(true);
    let mut c = Conn {
        conn,
        stream,
        generator: generator.clone(),
        framer: LineFramer::new(MAX_REPLY, None),
        buf: vec![0; READ_BUF].into_boxed_slice(),
        out: Vec::with_capacity(options.pipeline * (options.size + 32)),
        scratch: Vec::new(),
        in_flight: VecDeque::with_capacity(options.pipeline),
        last_ts: 0,
        stats: ConnStats::default(),
        live,
    };
    let answer = generator.greeting_answer(conn);
    if let Err(e) = c.greet(&generator.greeting(conn), &answer, options.reply_timeout).await {
        c.stats.error(format!("connection {conn}: {e}"));
        return Err(Failed::Greeting(c.stats));
    }
    if let Some(live) = &c.live {
        live.opened();
    }
    Ok(c)
}

impl Conn {
    /// Sends the greeting and checks its echo; not counted as a request (a wrong echo is
    /// still a mismatch).
    async fn greet(&mut self, hello: &str, answer: &[u8], timeout: Duration) -> Result<(), String> {
        self.stream
            .write_all(format!("{hello}\n").as_bytes())
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        let mut line = Vec::new();
        while line.is_empty() {
            let n = tokio::time::timeout(timeout, self.stream.read(&mut self.buf))
                .await
                .map_err(|_| format!("no answer to {hello:?} within {timeout:?}"))?
                .map_err(|e| format!("read failed: {e}"))?;
            if n == 0 {
                return Err(format!("server closed the connection after {hello:?}"));
            }
            self.framer.feed(&self.buf[..n], Instant::now(), &mut |frame| {
                if let Frame::Line(l) = frame {
                    line = l.to_vec();
                }
                false // one line only: the greeting is answered before anything else is sent
            });
        }
        if line != answer {
            self.stats.mismatch(answer, &line);
        }
        Ok(())
    }

    async fn drive(mut self, options: &Options) -> ConnStats {
        let result = match options.rate {
            None => self.closed_loop(options).await,
            Some(rate) => self.open_loop(options, rate).await,
        };
        if let Err(e) = result {
            let lost = self.in_flight.len();
            self.stats.error(format!("connection {}: {e} ({lost} requests unanswered)", self.conn));
        }
        self.publish();
        self.stats
    }

    /// Writes `pipeline` requests at once, waits for all their replies, repeats.
    async fn closed_loop(&mut self, options: &Options) -> Result<(), String> {
        let mut left = options.quota(self.conn).unwrap_or(u64::MAX);
        let deadline = stop_at(options);
        let mut seq = 0;
        while left > 0 && deadline.is_none_or(|d| Instant::now() < d) {
            let batch = (options.pipeline as u64).min(left);
            let now = Instant::now();
            self.out.clear();
            for _ in 0..batch {
                self.send(seq, now);
                seq += 1;
            }
            self.write_out(batch).await?;
            left -= batch;
            while !self.in_flight.is_empty() {
                let n = tokio::time::timeout(options.reply_timeout, self.stream.read(&mut self.buf))
                    .await
                    .map_err(|_| {
                        format!("no reply within {}", humantime::format_duration(options.reply_timeout))
                    })?;
                self.on_read(n)?;
            }
        }
        Ok(())
    }

    /// Sends at `rate` per second on schedule whatever the replies do; latency counts from
    /// the scheduled time, so a stalled server shows up in it.
    async fn open_loop(&mut self, options: &Options, rate: f64) -> Result<(), String> {
        let mut left = options.quota(self.conn).unwrap_or(u64::MAX);
        let deadline = stop_at(options);
        let interval = Duration::from_secs_f64(1.0 / rate);
        // Spread the connections' schedules over one interval.
        let mut next = Instant::now() + interval.mul_f64(self.conn as f64 / options.connections as f64 % 1.0);
        let mut seq = 0;
        loop {
            let sending = left > 0 && deadline.is_none_or(|d| next < d);
            if !sending && self.in_flight.is_empty() {
                return Ok(());
            }
            let can_send = sending && self.in_flight.len() < MAX_IN_FLIGHT;
            let oldest = self.in_flight.front().map(|&(_, at)| at + options.reply_timeout);
            tokio::select! {
                n = self.stream.read(&mut self.buf) => self.on_read(n)?,
                () = tokio::time::sleep_until(next.into()), if can_send => {
                    let now = Instant::now();
                    self.out.clear();
                    let room = (MAX_IN_FLIGHT - self.in_flight.len()) as u64;
                    let count = due(next, now, interval, deadline, left.min(room));
                    for _ in 0..count {
                        self.send(seq, next);
                        seq += 1;
                        next += interval;
                    }
                    left -= count;
                    self.write_out(count).await?;
                }
                () = tokio::time::sleep_until(oldest.unwrap_or(next).into()), if oldest.is_some() => {
                    return Err(format!("no reply within {}", humantime::format_duration(options.reply_timeout)));
                }
            }
        }
    }

    /// Appends request `seq` to `out` and records it as in flight since `at`.
    fn send(&mut self, seq: u64, at: Instant) {
        let ts = if self.generator.readings() {
            let wall = u64::try_from(crate::clock::unix_ms()).unwrap_or(0);
            self.last_ts = next_ts(self.last_ts, wall);
            self.last_ts
        } else {
            0
        };
        let id = Id { seq, ts };
        self.generator.request(self.conn, id, &mut self.out);
        self.in_flight.push_back((id, at));
    }

    /// Writes the `count` requests in `out` with one write.
    async fn write_out(&mut self, count: u64) -> Result<(), String> {
        self.stream.write_all(&self.out).await.map_err(|e| format!("write failed: {e}"))?;
        self.stats.sent += count;
        Ok(())
    }

    /// Feeds what one read returned to the framer and checks each reply.
    fn on_read(&mut self, n: std::io::Result<usize>) -> Result<(), String> {
        let n = n.map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".to_owned());
        }
        let now = Instant::now();
        let Self { conn, generator, framer, buf, scratch, in_flight, stats, .. } = self;
        framer.feed(&buf[..n], now, &mut |frame| {
            let Some((id, sent_at)) = in_flight.pop_front() else {
                let got = if let Frame::Line(l) = frame { l } else { b"<over-long line>" };
                stats.mismatch(b"<no reply due>", got);
                return true;
            };
            stats.replies += 1;
            stats.latency.record(now.duration_since(sent_at).as_nanos() as u64);
            match frame {
                Frame::Line(reply) if generator.check(*conn, id, reply, scratch) => {}
                Frame::Line(reply) => stats.mismatch(scratch, reply),
                Frame::TooLong => stats.mismatch(b"<a short reply>", b"<over-long line>"),
            }
            true
        });
        self.publish();
        Ok(())
    }

    /// Hands the counters to the progress bar, if there is one.
    fn publish(&self) {
        if let Some(live) = &self.live {
            live.publish(self.conn, self.stats.replies, self.stats.errors);
        }
    }
}

/// Open loop: how many requests, scheduled every `interval` from `next`, are due at `now`,
/// at most `limit`. None is scheduled at or after `deadline`: a bench woken late (a busy
/// machine) catches up on the requests it owes, but never sends more than the run's share.
fn due(next: Instant, now: Instant, interval: Duration, deadline: Option<Instant>, limit: u64) -> u64 {
    let (mut count, mut at) = (0, next);
    while count < limit && at <= now && deadline.is_none_or(|d| at < d) {
        count += 1;
        at += interval;
    }
    count
}

fn stop_at(options: &Options) -> Option<Instant> {
    match options.stop {
        Stop::Duration(d) => Some(Instant::now() + d),
        Stop::Requests(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_wake_up_catches_up_but_not_past_the_deadline() {
        let (t0, ms) = (Instant::now(), Duration::from_millis(1));
        let late = t0 + 10 * ms;
        assert_eq!(due(t0, late, ms, None, u64::MAX), 11, "every request due by then");
        assert_eq!(due(t0, late, ms, Some(t0 + 3 * ms), u64::MAX), 3, "none at or after the deadline");
        assert_eq!(due(t0, late, ms, None, 4), 4, "no more than the limit");
        assert_eq!(due(t0 + ms, t0, ms, None, u64::MAX), 0, "nothing due yet");
    }
}
