//! `iotchat readings --follow`: prints readings as they are stored, like `tail -f` or
//! `mosquitto_sub`, until Ctrl-C (the default SIGINT: exit 130, as tail) or until its reader
//! goes away (`| head`: exit 0, quietly). Polls the store itself (`store::Follower`), so it
//! works whether or not the server's HTTP side is on.
//!
//! Output that never ends cannot align columns on its widest cell, nor close a JSON array:
//! the table has fixed widths (a wider cell pushes the rest of its line), and JSON is one
//! object per line (JSON Lines). CSV is the same as without `--follow`.

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use iotchat::config::Origin;
use iotchat::output::note;
use iotchat::store::{ExportFormat, Exporter, FileNews, Follower, Query, Row, StoreError};

use super::{Format, HEADER, table_cells, write_line};

/// How often the store is looked at: a `stat` and a `PRAGMA data_version` each time.
const POLL: Duration = Duration::from_millis(200);

/// The table's column widths while following (DEVICE, KEY, VALUE, TS; RECEIVED_AT is last):
/// what usual names, keys and values take, and a time's 24 characters.
const WIDTHS: [usize; 5] = [16, 12, 12, 24, 24];

/// Follows the store in `dir` (named by `origin`) for the rows `query`'s device and key
/// select, first printing what `--all`, `--since` or `--limit` select, if given.
pub(super) fn run(dir: &Path, origin: &Origin, query: Query, format: Format) -> anyhow::Result<()> {
    let first = query.all || query.since_ms.is_some() || query.limit.is_some();
    // --limit N: the last N readings, not the latest N values.
    let query = Query { all: true, ..query };
    let mut follower = Follower::open(dir, &query).map_err(|e| crate::cmd::store_error(e, origin))?;
    let begun =
        Lines::start(format, BufWriter::new(io::stdout().lock())).map_err(output).and_then(|mut out| {
            if first {
                follower.first(&query, &mut |row| out.row(row))?;
            }
            // Flushed only now: the header on the screen means following has begun (scripts wait on it).
            out.flush().map_err(output)?;
            Ok(out)
        });
    let mut out = match begun {
        Ok(out) => out,
        Err(e) if e.is_broken_pipe() => return Ok(()),
        Err(e) => return Err(crate::cmd::store_error(e, origin)),
    };
    loop {
        if reader_gone(POLL) {
            return Ok(());
        }
        let polled = follower.poll(&mut |row| out.row(row)).and_then(|news| {
            out.flush().map_err(output)?;
            Ok(news)
        });
        match polled {
            Ok(FileNews::Same) => {}
            Ok(FileNews::Gone) => note(&format!(
                "note: {} was deleted or moved; waiting for the server to store readings in a new one",
                follower.path().display()
            )),
            Ok(FileNews::Reopened) => note(&format!(
                "note: {} is a new file; following it from its first reading",
                follower.path().display()
            )),
            Err(e) if e.is_broken_pipe() => return Ok(()),
            Err(e) => return Err(e).context("cannot follow the readings store"),
        }
    }
}

fn output(cause: io::Error) -> StoreError {
    StoreError::Output { cause }
}

/// Waits up to `timeout` for standard output's reader to go away; true if it did. A pipe
/// whose reader closed reports POLLERR at once (as GNU tail -f uses), so `| head` ends the
/// command even while no reading arrives; a terminal or a file never does.
fn reader_gone(timeout: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    let timespec = Timespec::try_from(timeout).unwrap_or(Timespec { tv_sec: 1, tv_nsec: 0 });
    match poll(&mut fds, Some(&timespec)) {
        Ok(0) => false,
        Ok(_) if fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP) => true,
        // Interrupted, or nothing to poll: wait all the same, so that the loop never spins.
        _ => {
            std::thread::sleep(timeout);
            false
        }
    }
}

/// Rows written as they come, in one of the forms that need no end.
enum Lines<W: Write> {
    Export(Exporter<W>),
    Table(W),
}

impl<W: Write> Lines<W> {
    fn start(format: Format, mut out: W) -> io::Result<Self> {
        Ok(match format {
            Format::Table => {
                write_line(&mut out, &HEADER, &WIDTHS)?;
                Lines::Table(out)
            }
            Format::Csv => Lines::Export(Exporter::start(ExportFormat::Csv, out)?),
            Format::Json => Lines::Export(Exporter::start(ExportFormat::JsonLines, out)?),
        })
    }

    fn row(&mut self, row: &Row) -> io::Result<()> {
        match self {
            Lines::Export(exporter) => exporter.row(row),
            Lines::Table(out) => write_line(out, &table_cells(row), &WIDTHS),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Lines::Export(exporter) => exporter.flush(),
            Lines::Table(out) => out.flush(),
        }
    }
}
