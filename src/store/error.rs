//! The store's one error type. Each message says what failed, on which file or value, and
//! what to do about it; it names no flag: the command says which setting named the data
//! directory (`--data-dir`, `$IOTCHAT_DATA_DIR` or a profile key).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the readings store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory does not exist and could not be created.
    #[error(
        "cannot create the data directory {}: {cause}; create it or choose another data directory",
        dir.display()
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// Another process (another `iotchat serve`) writes this data directory.
    #[error(
        "the data directory {} is in use by another iotchat serve{}; stop that one, or give this one another data directory",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// The process holding it, as its lock file says.
        pid: Option<u32>,
    },
    /// The data directory's lock file could not be opened or locked.
    #[error(
        "cannot open or lock {}: {cause}; run the server as the user that owns the data directory, or choose \
         another data directory",
        path.display()
    )]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        cause: io::Error,
    },
    /// The file is not a database, or a database whose pages are damaged.
    #[error(
        "the readings store at {} is damaged ({detail}). Restore it from a backup, or move it aside to start a \
         new store (`sqlite3 FILE .recover` may save what it holds)",
        path.display()
    )]
    Damaged {
        /// The `.db` file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
    },
    /// The database file at the path is not the one the writer has open any more, and the
    /// one at the path could not be opened in its place: nothing can be stored for now.
    #[error(
        "the readings store {change}{}",
        match cause {
            Some(cause) => format!(", and the file at its path cannot be used: {cause}"),
            None => "; it changed again as it was opened, the next readings try again".to_owned(),
        }
    )]
    FileChanged {
        /// What happened to the file.
        change: super::identity::FileChange,
        /// Why reopening failed (it says what to do); `None` if it changed again at once.
        cause: Option<Arc<StoreError>>,
    },
    /// The data directory is a regular file, or lies under one.
    #[error("{}", not_a_directory(dir, file))]
    NotADirectory {
        /// The data directory as given.
        dir: PathBuf,
        /// The file in its way: `dir` itself or a directory above it.
        file: PathBuf,
    },
    /// The database file can be read but not written by this user.
    #[error(
        "the readings store {} is not writable by this user; run the server as the file's owner, make it \
         writable (chmod/chown), or choose another data directory",
        path.display()
    )]
    NotWritable {
        /// The `.db` file.
        path: PathBuf,
    },
    /// The database could not be opened or set up for writing.
    #[error(
        "cannot open the readings store at {}: {cause}; make the directory writable or choose another data directory",
        path.display()
    )]
    Open {
        /// The `.db` file.
        path: PathBuf,
        /// SQLite's reason.
        cause: rusqlite::Error,
    },
    /// There is no `readings.db` in the directory.
    #[error(
        "no readings store in {} (readings.db not found); is this the server's data directory?",
        dir.display()
    )]
    Missing {
        /// The directory that was searched.
        dir: PathBuf,
    },
    /// The file was written by a newer iotchat.
    #[error(
        "the readings store at {} has schema version {found}, newer than the {supported} this iotchat knows; upgrade iotchat or choose another data directory",
        path.display()
    )]
    NewerSchema {
        /// The `.db` file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The file is an SQLite database, but not one the server created.
    #[error(
        "{} is not an iotchat readings store (schema version {found}); choose the server's data directory",
        path.display()
    )]
    NotAStore {
        /// The `.db` file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// The writer thread could not be started.
    #[error(
        "cannot start the writer thread of the readings store: {cause}; the system is out of threads or memory"
    )]
    Spawn {
        /// Why.
        cause: io::Error,
    },
    /// A value that cannot be stored faithfully (a NaN or infinite float).
    #[error(
        "cannot store {key} = {value} from {device}: only finite numbers can be stored; the device sent a bad value"
    )]
    InvalidValue {
        /// The device.
        device: String,
        /// The key.
        key: String,
        /// The value as text.
        value: String,
    },
    /// A reading whose (device, key, ts) already holds another value: a device clock that did
    /// not move between two readings. Its other values were stored; this one was not.
    #[error(
        "{device} already sent another value of {key} with ts {ts}; one ts is one reading, so the device's \
         clock is not moving (stuck, or reset): set its clock (NTP) or leave ts out"
    )]
    Conflict {
        /// The device.
        device: String,
        /// The key.
        key: String,
        /// The timestamp both readings carry.
        ts: i64,
    },
    /// The transaction holding these rows failed, so none of them were stored.
    #[error(
        "cannot write readings to {}: {cause}; they were not stored (check free disk space and permissions)",
        path.display()
    )]
    Write {
        /// The `.db` file.
        path: PathBuf,
        /// SQLite's reason, shared by every request of the failed transaction.
        cause: Arc<rusqlite::Error>,
    },
    /// The store was closed (the server is shutting down) before the rows were stored.
    #[error("the readings store at {} is closed; the readings were not stored", path.display())]
    Closed {
        /// The `.db` file.
        path: PathBuf,
    },
    /// Closing the database failed.
    #[error("cannot close the readings store at {}: {cause}; committed readings are safe", path.display())]
    Close {
        /// The `.db` file.
        path: PathBuf,
        /// SQLite's reason.
        cause: rusqlite::Error,
    },
    /// The writer thread panicked.
    #[error("the writer thread of {} panicked; readings not yet acknowledged were not stored", path.display())]
    WriterPanicked {
        /// The `.db` file.
        path: PathBuf,
    },
    /// The store's data is all in its WAL, which cannot be read without write access.
    #[error(
        "cannot read {} without write access to its directory: what the server stored is still in its WAL \
         ({bytes} bytes), which SQLite reads only with write access; read it as the server's user, or from a \
         writable copy of the directory",
        path.display()
    )]
    UnreadableWal {
        /// The `.db` file.
        path: PathBuf,
        /// The WAL's size.
        bytes: u64,
    },
    /// Following a store needs its WAL index, which SQLite shares only with write access.
    #[error(
        "cannot follow {} without write access to its directory: new readings reach a reader through the WAL \
         index beside it (-shm), which SQLite shares only with write access; follow it as the server's user",
        path.display()
    )]
    Unfollowable {
        /// The `.db` file.
        path: PathBuf,
    },
    /// A query failed.
    #[error("cannot read readings from {}: {cause}; check the file's permissions, or retry if it is busy", path.display())]
    Query {
        /// The `.db` file.
        path: PathBuf,
        /// SQLite's reason.
        cause: rusqlite::Error,
    },
    /// A stored row does not decode as a reading.
    #[error("reading #{id} in {} is damaged: {detail}; the file was changed by another program", path.display())]
    Corrupt {
        /// The `.db` file.
        path: PathBuf,
        /// The row's id.
        id: i64,
        /// What is wrong with it.
        detail: String,
    },
    /// The caller's sink refused a row (e.g. standard output is a closed pipe).
    #[error("cannot write the readings out: {cause}")]
    Output {
        /// Why.
        cause: io::Error,
    },
}

fn not_a_directory(dir: &Path, file: &Path) -> String {
    if dir != file {
        return format!(
            "the data directory {} cannot be created: {} is a file, not a directory; choose another data directory",
            dir.display(),
            file.display()
        );
    }
    // `iotchat-data/readings.db`: the store's file instead of its directory.
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let hint = if dir.file_name() == Some(super::DB_FILE.as_ref()) {
        format!("it is the store itself; give its directory, {}", parent.display())
    } else {
        format!("give the directory that holds {}", super::DB_FILE)
    };
    format!("the data directory {} is a file, not a directory; {hint}", dir.display())
}

impl StoreError {
    /// SQLite's error on `path`: [`StoreError::Damaged`] when SQLite says the file is damaged
    /// or not a database at all (no permission or disk space can fix that), else `other`'s.
    pub(super) fn sqlite(
        path: &std::path::Path,
        cause: rusqlite::Error,
        other: impl FnOnce(PathBuf, rusqlite::Error) -> StoreError,
    ) -> StoreError {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match cause.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => {
                StoreError::Damaged { path: path.to_owned(), detail: cause.to_string() }
            }
            _ => other(path.to_owned(), cause),
        }
    }

    /// Whether this is an [`StoreError::Output`] caused by a closed pipe (`| head`), which a
    /// command should treat as a normal end.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, StoreError::Output { cause } if cause.kind() == io::ErrorKind::BrokenPipe)
    }
}
