//! Following the store as it grows (`iotchat readings --follow`): the rows stored after the
//! last one seen, by id (ids only grow: no row is ever deleted). A poll costs a `stat` of the
//! file and one `PRAGMA data_version`, which SQLite changes when another connection commits;
//! rows are read only then, from the primary key onwards, so an idle store costs nothing and
//! a busy one only what is new. Works on the file alone: the server's HTTP side may be off.
//!
//! The server reopens its store when the file at its path is deleted, moved or replaced
//! (`identity.rs`). The follower notices another file at the path and follows that one from
//! its first row: a file the server made anew holds only readings stored since.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;

use super::identity::FileId;
use super::reader::{COLUMNS, decode_row};
use super::{Query, Reader, Row, StoreError};

/// Where rows go: an error (a closed pipe) stops the poll as [`StoreError::Output`].
pub type RowSink<'a> = &'a mut dyn FnMut(&Row) -> io::Result<()>;

/// What a poll found out about the file, besides its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileNews {
    /// The same file as before (or still none at the path).
    Same,
    /// No file at the path any more (deleted or moved): waiting for the server to make one.
    Gone,
    /// Another file at the path, followed from its first row on.
    Reopened,
}

/// Follows one data directory's store.
pub struct Follower {
    dir: PathBuf,
    device: Option<String>,
    key: Option<String>,
    reader: Reader,
    file: FileId,
    /// The newest row passed on (or skipped by the filter).
    last_id: i64,
    data_version: i64,
    /// Told [`FileNews::Gone`] already.
    gone: bool,
}

impl Follower {
    /// Opens `data_dir`'s store to follow the rows of `query`'s device and key stored from now
    /// on (its other fields are for [`Follower::first`]).
    pub fn open(data_dir: &Path, query: &Query) -> Result<Follower, StoreError> {
        let (reader, file) = open(data_dir)?;
        if reader.alone {
            return Err(StoreError::Unfollowable { path: reader.path.clone() });
        }
        let data_version = data_version(&reader)?;
        let last_id = reader.last_id()?;
        Ok(Follower {
            dir: data_dir.to_owned(),
            device: query.device.clone(),
            key: query.key.clone(),
            reader,
            file,
            last_id,
            data_version,
            gone: false,
        })
    }

    /// Passes the rows `query` selects now to `f`, then follows on from the newest row of
    /// that same snapshot: no row is shown twice or missed between the two.
    pub fn first(&mut self, query: &Query, f: RowSink<'_>) -> Result<(), StoreError> {
        self.last_id = self.reader.in_snapshot(|reader| {
            reader.for_each(query, f)?;
            reader.last_id()
        })?;
        Ok(())
    }

    /// The database file followed.
    pub fn path(&self) -> &Path {
        self.reader.path()
    }

    /// Passes each row stored since the last poll to `f`, oldest first.
    pub fn poll(&mut self, f: RowSink<'_>) -> Result<FileNews, StoreError> {
        let news = self.check_file();
        // Read before the rows: a commit after this read changes it again for the next poll.
        let version = data_version(&self.reader)?;
        if version == self.data_version && news != FileNews::Reopened {
            return Ok(news);
        }
        self.data_version = version;
        let after = self.last_id;
        let (device, key) = (self.device.as_deref(), self.key.as_deref());
        self.last_id = self.reader.in_snapshot(|reader| {
            let last = reader.last_id()?;
            // Fewer rows than seen: another file was copied over this one, in place.
            let after = if last < after { 0 } else { after };
            rows_between(reader, after, last, device, key, f)?;
            Ok(last)
        })?;
        Ok(news)
    }

    /// Opens the file at the path again when it is another one than followed. One that
    /// cannot be opened yet (the server is creating it) is tried again at the next poll.
    fn check_file(&mut self) -> FileNews {
        match FileId::of(self.reader.path()) {
            Ok(id) if id == self.file => FileNews::Same,
            Ok(_) => {
                match open(&self.dir).and_then(|(reader, file)| Ok((data_version(&reader)?, reader, file))) {
                    Ok((version, reader, file)) => {
                        (self.reader, self.file, self.last_id, self.gone) = (reader, file, 0, false);
                        // Not the old connection's: the rows are read at once whatever it is.
                        self.data_version = version;
                        FileNews::Reopened
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "another file is at the store's path; trying again");
                        FileNews::Same
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !self.gone => {
                self.gone = true;
                FileNews::Gone
            }
            Err(_) => FileNews::Same,
        }
    }
}

/// Opens the store and takes its file's identity, the same before and after the open (a file
/// replaced meanwhile is opened again, a few times at most).
fn open(data_dir: &Path) -> Result<(Reader, FileId), StoreError> {
    let path = data_dir.join(super::DB_FILE);
    let mut tries = 0;
    loop {
        let before = FileId::of(&path).ok();
        let reader = Reader::open(data_dir)?;
        match (before, FileId::of(&path).ok()) {
            (Some(before), Some(after)) if before == after || tries == 3 => return Ok((reader, after)),
            (_, None) => return Err(StoreError::Missing { dir: data_dir.to_owned() }),
            _ => tries += 1,
        }
    }
}

fn data_version(reader: &Reader) -> Result<i64, StoreError> {
    reader
        .conn
        .pragma_query_value(None, "data_version", |r| r.get(0))
        .map_err(|cause| StoreError::Query { path: reader.path.clone(), cause })
}

/// The rows with ids in `after+1..=last` of `device` and `key` (when given), oldest first.
fn rows_between(
    reader: &Reader,
    after: i64,
    last: i64,
    device: Option<&str>,
    key: Option<&str>,
    f: RowSink<'_>,
) -> Result<(), StoreError> {
    let query_err = |cause| StoreError::Query { path: reader.path.clone(), cause };
    let mut sql = format!("SELECT {COLUMNS} FROM readings r WHERE r.id > ? AND r.id <= ?");
    let mut params = vec![SqlValue::Integer(after), SqlValue::Integer(last)];
    for (column, value) in [("device", device), ("key", key)] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND r.{column} = ?"));
            params.push(SqlValue::Text(value.to_owned()));
        }
    }
    sql.push_str(" ORDER BY r.id");
    let mut stmt = reader.conn.prepare_cached(&sql).map_err(query_err)?;
    let mut rows = stmt.query(params_from_iter(params)).map_err(query_err)?;
    while let Some(row) = rows.next().map_err(query_err)? {
        let row = decode_row(&reader.path, row)?;
        f(&row).map_err(|cause| StoreError::Output { cause })?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
