//! A command's standard output, where a reader that has gone away (`iotchat chat | head -2`)
//! ends the command quietly instead of failing it.
//!
//! Writes to standard output go through [`OutputError`], so the command edge can tell "the
//! reader of our output left" (EPIPE on standard output: a success, like `yes | head`) from
//! every other failure, a broken *socket* included: a socket's EPIPE never becomes an
//! `OutputError`, so it stays an error.
//!
//! A command's notes on standard error (progress, warnings, "retrying in 2s") go through
//! [`note`], which drops a note it cannot write: `eprintln!` would panic (exit 101) on a full
//! disk or a closed pipe (`2>&1 | head`), and a note is never worth failing the command for.

use std::io::{self, Write};

/// Writing a command's output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed standard output (`| head`). Not a failure: the command stops quietly.
    #[error("standard output was closed by its reader")]
    Closed,
    /// Any other failure (a full disk when redirected to a file...).
    #[error("cannot write to standard output: {0}")]
    Failed(io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe { OutputError::Closed } else { OutputError::Failed(e) }
    }
}

/// Whether `error` (one link of an error chain) says that standard output was closed by its
/// reader: `anyhow::Error::chain().any(is_closed)` at the command edge.
pub fn is_closed(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(error.downcast_ref::<OutputError>(), Some(OutputError::Closed))
}

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes a command's final report. A reader that has gone away does not care for it, and the
/// command's own verdict (a failed check still exits 1) decides the exit code: only other
/// failures are errors.
pub fn print_report(text: &str) -> Result<(), OutputError> {
    match print(text) {
        Err(OutputError::Closed) => Ok(()),
        other => other,
    }
}

/// Writes `text` and a newline to standard error, as one write (so that a log line from
/// another thread does not land inside it). A note that cannot be written (standard error
/// full, or closed by its reader) is dropped: it never panics, fails the command or changes
/// its exit code.
pub fn note(text: &str) {
    let line = format!("{text}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_on_the_output_counts_as_closed() {
        let closed = OutputError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_closed(&closed));
        let full = OutputError::from(io::Error::from(io::ErrorKind::StorageFull));
        assert!(!is_closed(&full));
        // The same errno on a socket is not an OutputError at all.
        let socket = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(!is_closed(&socket));
    }

    #[test]
    fn a_closed_output_is_found_under_context() {
        let err = anyhow::Error::from(OutputError::Closed).context("cannot write the report");
        assert!(err.chain().any(is_closed));
        let err = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("socket");
        assert!(!err.chain().any(is_closed));
    }
}
