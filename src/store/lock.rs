//! One writer per data directory: the writer holds an exclusive lock on `DATA_DIR/iotchat.lock`
//! (`flock`, released by the kernel when the process ends, however it ends), with its process
//! id inside for the error that a second server gets, and on the directory itself, so that
//! deleting the lock file (a tidy-up script, a user who thinks it stale) does not let a second
//! server in.
//!
//! Without it, two servers on one directory both write the file. SQLite keeps each
//! transaction whole, but the dedup, the `latest` rows and the forwarding cursor assume one
//! writer, and each server's `readings stored in` line tells its operator a story only half true.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::StoreError;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "iotchat.lock";

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(super) struct DirLock {
    _file: File,
    _dir: File,
}

impl DirLock {
    /// Takes the lock of `dir`, or says which process holds it.
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let lock_err = |cause| StoreError::Lock { path: path.clone(), cause };
        let directory = File::open(dir).map_err(|cause| StoreError::Lock { path: dir.to_owned(), cause })?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        let dir_locked = directory.try_lock();
        let locked = dir_locked.and_then(|()| file.try_lock());
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse { dir: dir.to_owned(), pid: holder(&mut file) });
            }
            Err(TryLockError::Error(cause)) => return Err(lock_err(cause)),
        }
        // Ours now: say who holds it. Failing to write the pid only makes a later error vaguer.
        let _ = file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DirLock { _file: file, _dir: directory })
    }
}

/// The process id the holder wrote, if it is readable.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DirLock::acquire(dir.path()).expect("first");
        let error = DirLock::acquire(dir.path()).expect_err("second");
        match &error {
            StoreError::InUse { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
        let text = error.to_string();
        assert!(
            text.contains("in use by another iotchat serve") && text.contains("another data directory"),
            "{text}"
        );
        drop(first);
        DirLock::acquire(dir.path()).expect("free again once released");
    }

    #[test]
    fn deleting_the_lock_file_does_not_let_a_second_writer_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = DirLock::acquire(dir.path()).expect("first");
        std::fs::remove_file(dir.path().join(LOCK_FILE)).expect("deleted");
        let error = DirLock::acquire(dir.path()).expect_err("the directory is still locked");
        assert!(matches!(error, StoreError::InUse { .. }), "{error:?}");
    }
}
