//! Which file the writer writes: the database and its WAL as the server opened them, told
//! apart by device and inode, so that the writer notices when the file at the configured
//! path is no longer the one it has open.
//!
//! SQLite keeps its file descriptors. If the operator deletes `readings.db`, moves it or puts
//! another file in its place, commits still succeed, into a file that the next start will not
//! open: acknowledged readings would be lost with nothing said. The writer checks, after each
//! commit and before acknowledging it, that both files at the path are still the ones open
//! (two `stat` calls; a commit costs an fsync, a hundred times more).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(super) fn of(path: &Path) -> std::io::Result<FileId> {
        let meta = std::fs::metadata(path)?;
        Ok(FileId { dev: meta.dev(), ino: meta.ino() })
    }
}

/// The identity of the database, its WAL and its WAL index, taken right after opening them.
#[derive(Debug)]
pub(super) struct Identity {
    db: (PathBuf, FileId),
    /// The database itself, read to notice it overwritten in place (`cp` onto it, `: >`):
    /// same inode, other bytes.
    file: std::fs::File,
    /// Its size at the last check: the writer never shrinks it (no VACUUM).
    len: u64,
    /// `None` when the file system keeps no WAL (the database is then the only file).
    wal: Option<(PathBuf, FileId)>,
    /// The WAL index (`-shm`), shared by every connection to the database.
    shm: Option<(PathBuf, FileId)>,
}

/// What happened to a file the writer has open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Nothing is at the path any more; `now_at` is where the open file is, if it still has
    /// a name (it was moved), as the kernel tells.
    Gone {
        /// The path the writer opened.
        path: PathBuf,
        /// Where that file is now, if it was moved rather than deleted.
        now_at: Option<PathBuf>,
    },
    /// Another file is at the path.
    Replaced {
        /// The path.
        path: PathBuf,
    },
    /// The file at the path is the one open, but something else wrote it: truncated, or
    /// another file copied over it (`cp` keeps the inode). Noticed when it shrinks or stops
    /// starting as an SQLite file; a larger copy of another store is not noticed.
    Overwritten {
        /// The path.
        path: PathBuf,
    },
}

impl fmt::Display for FileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileChange::Gone { path, now_at: Some(to) } => {
                write!(f, "{} was moved to {} while the server ran", path.display(), to.display())
            }
            FileChange::Gone { path, now_at: None } => {
                write!(f, "{} was deleted while the server ran", path.display())
            }
            FileChange::Replaced { path } => {
                write!(f, "{} was replaced by another file while the server ran", path.display())
            }
            FileChange::Overwritten { path } => write!(
                f,
                "{} was overwritten in place (truncated, or another file copied over it) while the server ran",
                path.display()
            ),
        }
    }
}

impl Identity {
    /// Takes the identity of `db` and of its WAL as they are now: call it right after the
    /// connection opened them.
    pub(super) fn take(db: &Path) -> std::io::Result<Identity> {
        let beside = |suffix| -> std::io::Result<Option<(PathBuf, FileId)>> {
            let path = with_suffix(db, suffix);
            match FileId::of(&path) {
                Ok(id) => Ok(Some((path, id))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        };
        let file = std::fs::File::open(db)?;
        let len = file.metadata()?.len();
        Ok(Identity {
            db: (db.to_owned(), FileId::of(db)?),
            file,
            len,
            wal: beside("-wal")?,
            shm: beside("-shm")?,
        })
    }

    /// Whether the database file at the path is still this one (only its WAL changed). Ask
    /// while the file is open: once closed, its inode number may be given to a new file.
    pub(super) fn db_unchanged(&self) -> bool {
        FileId::of(&self.db.0).ok() == Some(self.db.1)
    }

    /// Removes this database's WAL and WAL index where they are still at their paths, once
    /// the database itself changed: a database opened at the path next would otherwise take
    /// them for its own (and replay another file's pages). Connections that have them open
    /// keep them.
    pub(super) fn remove_leftovers(&self) {
        for (path, id) in self.wal.iter().chain(&self.shm) {
            if FileId::of(path).ok() == Some(*id)
                && let Err(e) = std::fs::remove_file(path)
            {
                tracing::warn!(path = %path.display(), "cannot remove what the changed store left: {e}");
            }
        }
    }

    /// Whether the files at the paths are still the ones taken, as the writer left them; the
    /// first change if not.
    pub(super) fn check(&mut self) -> Result<(), FileChange> {
        for (path, id) in std::iter::once(&self.db).chain(&self.wal) {
            match FileId::of(path) {
                Ok(now) if now == *id => {}
                Ok(_) => return Err(FileChange::Replaced { path: path.clone() }),
                Err(_) => return Err(FileChange::Gone { path: path.clone(), now_at: find_open(*id) }),
            }
        }
        let overwritten = || FileChange::Overwritten { path: self.db.0.clone() };
        let len = self.file.metadata().map_err(|_| overwritten())?.len();
        if len < self.len || !starts_as_sqlite(&self.file, len) {
            return Err(overwritten());
        }
        self.len = len;
        Ok(())
    }
}

/// Whether `file` (of `len` bytes) begins as every SQLite database does, or is still empty
/// (a new store's pages may all be in its WAL).
fn starts_as_sqlite(file: &std::fs::File, len: u64) -> bool {
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    if len == 0 {
        return true;
    }
    let mut head = [0; 16];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut head, 0).is_ok() && &head == MAGIC
}

/// A file beside `db`, such as its WAL: `readings.db-wal`.
fn with_suffix(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where a file this process has open now lives, if it still has a name: Linux shows each
/// open descriptor in /proc/self/fd as a link to its file's path (with ` (deleted)` once
/// unlinked). `None` elsewhere, or when it has no name.
fn find_open(id: FileId) -> Option<PathBuf> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    for entry in entries.flatten() {
        let link = entry.path();
        if FileId::of(&link).ok() != Some(id) {
            continue;
        }
        let target = std::fs::read_link(&link).ok()?;
        let deleted = target.as_os_str().as_encoded_bytes().ends_with(b" (deleted)");
        return (!deleted).then_some(target);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    #[test]
    fn a_file_deleted_moved_or_replaced_is_noticed_and_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("readings.db");
        let _open = File::create(&db).expect("create"); // held open, as SQLite holds it
        let mut identity = Identity::take(&db).expect("identity");
        assert_eq!(identity.check(), Ok(()));

        let moved = dir.path().join("moved.db");
        std::fs::rename(&db, &moved).expect("move");
        assert_eq!(identity.check(), Err(FileChange::Gone { path: db.clone(), now_at: Some(moved.clone()) }));

        File::create(&db).expect("a new file in its place");
        assert_eq!(identity.check(), Err(FileChange::Replaced { path: db.clone() }));

        std::fs::remove_file(&db).expect("remove the new one");
        std::fs::remove_file(&moved).expect("delete the open one");
        assert_eq!(identity.check(), Err(FileChange::Gone { path: db.clone(), now_at: None }));
    }

    #[test]
    fn the_wal_counts_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("readings.db");
        let _db = File::create(&db).expect("db");
        let _wal = File::create(with_suffix(&db, "-wal")).expect("wal");
        let mut identity = Identity::take(&db).expect("identity");
        std::fs::remove_file(with_suffix(&db, "-wal")).expect("delete the WAL");
        let change = identity.check().expect_err("noticed");
        assert_eq!(change, FileChange::Gone { path: with_suffix(&db, "-wal"), now_at: None });
        assert!(change.to_string().ends_with("readings.db-wal was deleted while the server ran"), "{change}");
    }

    #[test]
    fn a_file_truncated_or_copied_over_in_place_is_noticed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("readings.db");
        let mut page = b"SQLite format 3\0".to_vec();
        page.resize(8192, 0);
        std::fs::write(&db, &page).expect("a database's first bytes");
        let mut identity = Identity::take(&db).expect("identity");
        assert_eq!(identity.check(), Ok(()));
        page.resize(12288, 0); // grown by a checkpoint: fine
        std::fs::write(&db, &page).expect("grow");
        assert_eq!(identity.check(), Ok(()));
        let overwritten = Err(FileChange::Overwritten { path: db.clone() });
        std::fs::write(&db, &page[..4096]).expect("a smaller store copied over it");
        assert_eq!(identity.check(), overwritten, "shrunk");
        let mut identity = Identity::take(&db).expect("identity");
        std::fs::write(&db, vec![b'x'; 8192]).expect("garbage copied over it");
        assert_eq!(identity.check(), overwritten, "no longer an SQLite file");
        let mut identity = Identity::take(&db).expect("identity");
        std::fs::write(&db, b"").expect("truncated: `: > readings.db`");
        assert_eq!(identity.check(), overwritten);
    }

    #[test]
    fn only_the_changed_databases_own_files_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("readings.db");
        // Held open, as SQLite holds them: an inode still open is never handed out again.
        let _open: Vec<File> =
            ["", "-wal", "-shm"].iter().map(|s| File::create(with_suffix(&db, s)).expect("create")).collect();
        let identity = Identity::take(&db).expect("identity");
        std::fs::remove_file(with_suffix(&db, "-shm")).expect("remove");
        File::create(with_suffix(&db, "-shm")).expect("someone else's");
        identity.remove_leftovers();
        assert!(!with_suffix(&db, "-wal").exists(), "its own WAL is removed");
        assert!(with_suffix(&db, "-shm").exists(), "a file that is not its own is kept");
        assert!(db.exists(), "the database itself is never removed");
    }
}
