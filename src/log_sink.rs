//! Where the log goes: standard error, written by a thread of its own from a bounded queue.
//!
//! A server must not stop because its log cannot be written. Written straight from the async
//! workers, a closed pipe (`serve 2>&1 | head`, a log shipper restarting) or a full disk
//! (`2>/dev/full`) fails every write, and tracing-subscriber reports a failed write with
//! `eprintln!`, which panics on that same standard error: the process aborts. A reader that
//! stalls blocks the writing worker, and soon every worker. Here a log line is only queued;
//! the thread writes it. A line that finds the queue full (the writer is blocked) or that
//! cannot be written (EPIPE, ENOSPC, EIO...) is dropped and counted, and once a write works
//! again, one line says how many were lost and why. Nothing here panics or exits.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use tracing_subscriber::fmt::MakeWriter;

/// Log lines that may wait for the writer thread; more are dropped (and counted).
const QUEUE_LINES: usize = 4096;

/// How long [`LogSink::flush`] waits for the queue to be written.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it was written (or dropped).
    Flush(mpsc::Sender<()>),
}

/// The log's writer, for `tracing_subscriber::fmt().with_writer(..)`. Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    tx: SyncSender<Message>,
    /// Lines dropped because the queue was full, not yet told.
    overflow: Arc<AtomicU64>,
}

impl LogSink {
    /// Starts the thread that writes to standard error.
    pub fn stderr() -> io::Result<LogSink> {
        Self::spawn(io::stderr())
    }

    /// Starts the thread that writes to `out`.
    pub fn spawn(out: impl Write + Send + 'static) -> io::Result<LogSink> {
        let (tx, rx) = mpsc::sync_channel(QUEUE_LINES);
        let overflow = Arc::new(AtomicU64::new(0));
        let writer = Writer { out, lost: Lost::default(), overflow: Arc::clone(&overflow) };
        std::thread::Builder::new().name("log-writer".into()).spawn(move || writer.run(rx))?;
        Ok(LogSink { tx, overflow })
    }

    /// Waits (at most a second) until what was logged so far is written: before the process
    /// prints its last words and exits.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.try_send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }

    fn queue(&self, line: &[u8]) {
        match self.tx.try_send(Message::Line(line.to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One event's writer: tracing-subscriber formats an event, then writes it in one call.
pub struct LineWriter<'a>(&'a LogSink);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.queue(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

/// Lines lost since the sink last worked, and the last reason.
#[derive(Default)]
struct Lost {
    lines: u64,
    cause: Option<String>,
    /// The last failed write had written part of its line: the notice starts a new one.
    cut: bool,
}

struct Writer<W> {
    out: W,
    lost: Lost,
    overflow: Arc<AtomicU64>,
}

impl<W: Write> Writer<W> {
    fn run(mut self, rx: Receiver<Message>) {
        for message in rx {
            match message {
                Message::Line(line) => self.write(&line),
                Message::Flush(done) => {
                    let _ = self.out.flush();
                    let _ = done.send(());
                }
            }
        }
    }

    /// Writes one line, after the notice of what was lost before it if any.
    fn write(&mut self, line: &[u8]) {
        let overflow = self.overflow.swap(0, Ordering::Relaxed);
        if overflow > 0 {
            self.lost.lines += overflow;
            self.lost.cause.get_or_insert_with(|| "the log was written more slowly than it grew".into());
        }
        if self.lost.lines > 0 {
            let notice = lost_notice(&self.lost, SystemTime::now());
            let notice = if self.lost.cut { format!("\n{notice}") } else { notice };
            if let Err((e, cut)) = write_line(&mut self.out, notice.as_bytes()) {
                self.lose(&e, cut);
                return;
            }
            self.lost = Lost::default();
        }
        if let Err((e, cut)) = write_line(&mut self.out, line) {
            self.lose(&e, cut);
        }
    }

    /// Counts the line that could not be written; keeps the first reason.
    fn lose(&mut self, e: &io::Error, cut: bool) {
        self.lost.lines += 1;
        self.lost.cut |= cut;
        self.lost.cause.get_or_insert_with(|| format!("cannot write the log: {e}"));
    }
}

/// Writes all of `line`; on failure, the error and whether part of the line was written.
fn write_line(out: &mut impl Write, line: &[u8]) -> Result<(), (io::Error, bool)> {
    let mut written = 0;
    while written < line.len() {
        match out.write(&line[written..]) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), written > 0)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, written > 0)),
        }
    }
    Ok(())
}

/// The line that tells, in the log's own format, how many lines were lost and why.
fn lost_notice(lost: &Lost, now: SystemTime) -> String {
    let plural = if lost.lines == 1 { "" } else { "s" };
    format!(
        "{}  WARN {} log line{plural} lost ({})\n",
        humantime::format_rfc3339_micros(now),
        lost.lines,
        lost.cause.as_deref().unwrap_or("unknown cause"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A sink that fails while `broken` is set and records what it was given otherwise.
    #[derive(Clone, Default)]
    struct Flaky {
        broken: Arc<std::sync::atomic::AtomicBool>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.written.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Flaky {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().expect("lock").clone()).expect("utf-8")
        }
        fn set_broken(&self, broken: bool) {
            self.broken.store(broken, Ordering::SeqCst);
        }
    }

    fn log(sink: &LogSink, line: &str) {
        sink.make_writer().write_all(line.as_bytes()).expect("queueing never fails");
    }

    #[test]
    fn lines_that_cannot_be_written_are_counted_and_told_once_when_the_sink_works_again() {
        let out = Flaky::default();
        let sink = LogSink::spawn(out.clone()).expect("thread");
        log(&sink, "one\n");
        sink.flush();
        out.set_broken(true);
        log(&sink, "two\n");
        log(&sink, "three\n");
        sink.flush();
        assert_eq!(out.text(), "one\n");
        out.set_broken(false);
        log(&sink, "four\n");
        log(&sink, "five\n");
        sink.flush();
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "one");
        assert!(lines[1].contains("WARN 2 log lines lost (cannot write the log: No space left"), "{text}");
        assert_eq!(&lines[2..], ["four", "five"], "the notice is said once");
    }

    #[test]
    fn a_notice_that_cannot_be_written_counts_its_line_too() {
        let mut writer = Writer { out: Flaky::default(), lost: Lost::default(), overflow: Arc::default() };
        writer.out.set_broken(true);
        writer.write(b"a\n");
        writer.write(b"b\n");
        assert_eq!(writer.lost.lines, 2);
        writer.out.set_broken(false);
        writer.write(b"c\n");
        assert!(writer.out.text().contains(" 2 log lines lost"), "{}", writer.out.text());
        assert!(writer.out.text().ends_with("c\n"));
    }

    #[test]
    fn lines_dropped_because_the_queue_was_full_are_told_with_the_next_one() {
        let mut writer = Writer { out: Flaky::default(), lost: Lost::default(), overflow: Arc::default() };
        writer.overflow.store(5, Ordering::Relaxed);
        writer.write(b"next\n");
        let text = writer.out.text();
        assert!(text.contains("WARN 5 log lines lost (the log was written more slowly"), "{text}");
        assert!(text.ends_with("next\n"));
        writer.write(b"again\n");
        assert!(writer.out.text().ends_with("next\nagain\n"), "told once");
    }

    /// Takes `room` bytes, then fails as a full disk does.
    struct Room {
        room: usize,
        written: Vec<u8>,
    }

    impl Write for Room {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn after_a_line_cut_by_a_full_disk_the_notice_starts_a_line_of_its_own() {
        let mut writer = Writer {
            out: Room { room: 5, written: Vec::new() },
            lost: Lost::default(),
            overflow: Arc::default(),
        };
        writer.write(b"first line\n");
        writer.out.room = 1000;
        writer.write(b"next\n");
        let text = String::from_utf8(writer.out.written).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "first", "the cut line");
        assert!(lines[1].contains("WARN 1 log line lost"), "{text:?}");
        assert_eq!(lines[2], "next");
    }

    #[test]
    fn the_notice_speaks_of_one_line_in_the_singular() {
        let lost = Lost { lines: 1, cause: Some("x".into()), cut: false };
        let text = lost_notice(&lost, SystemTime::UNIX_EPOCH);
        assert_eq!(text, "1970-01-01T00:00:00.000000Z  WARN 1 log line lost (x)\n");
    }
}
