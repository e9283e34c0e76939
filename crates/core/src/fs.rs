//! Atomic file writes: a file under its real name is always complete.
//!
//! [`AtomicFile`] writes into a temporary file next to the target (same folder, so the final
//! `rename` never crosses a file system), and [`AtomicFile::commit`] syncs it, renames it into
//! place and syncs the folder. If the writer fails or is dropped before `commit`, the temporary
//! file is removed: a transfer cut mid-way leaves nothing that looks like the real file.
//!
//! Temporary files are named `.<name>.<random>.prise-partial` so an operator can recognise (and a
//! listing can hide) them. The temporary file is created with `O_EXCL` (via `tempfile`), so it
//! can never be a pre-planted symlink.
//!
//! These are blocking calls: async services run them in `spawn_blocking` or a writer thread.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Suffix of every temporary file prise writes.
pub const PARTIAL_SUFFIX: &str = ".prise-partial";

/// A file being written; it appears under its real name only on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Start writing `target`. Its folder must exist.
    ///
    /// # Errors
    /// [`Error::Io`] when the temporary file cannot be created.
    pub fn create(target: &Path) -> Result<Self, Error> {
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(PARTIAL_SUFFIX)
            .tempfile_in(dir)
            .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
        Ok(Self {
            temp,
            target: target.to_owned(),
        })
    }

    /// The open temporary file, to write into (it also implements [`Write`] directly).
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Sync the data, rename it into place and sync the folder.
    ///
    /// With `overwrite` false an existing target is left alone and the call fails.
    ///
    /// # Errors
    /// [`Error::Io`] on a failed sync or rename (the temporary file is removed), including
    /// `AlreadyExists` when `overwrite` is false and the target exists.
    pub fn commit(self, overwrite: bool) -> Result<(), Error> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("syncing {}", self.target.display()), e))?;
        self.rename(overwrite, true)
    }

    /// Rename into place without syncing first: for caches, which may be lost or cut short by
    /// a crash and are then rebuilt. Readers never see a half-written file while the system
    /// runs.
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn commit_unsynced(self, overwrite: bool) -> Result<(), Error> {
        self.rename(overwrite, false)
    }

    fn rename(self, overwrite: bool, sync_dir: bool) -> Result<(), Error> {
        let target = self.target;
        let persisted = if overwrite {
            self.temp.persist(&target)
        } else {
            self.temp.persist_noclobber(&target)
        };
        // On failure the PersistError holds the temp file; dropping it deletes the file.
        persisted.map_err(|e| Error::io(format!("renaming into {}", target.display()), e.error))?;
        if !sync_dir {
            return Ok(());
        }
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable. Failing to open a folder is not fatal on every
            // platform (some do not allow it), so this is best effort.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

/// Write `bytes` to `target` atomically, replacing it if it exists.
///
/// # Errors
/// [`Error::Io`] as for [`AtomicFile::create`] and [`AtomicFile::commit`].
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(bytes)
        .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
    file.commit(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn file_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data.bin");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"hello").unwrap();
        assert!(!target.exists());
        let partial = names(dir.path());
        assert_eq!(partial.len(), 1);
        assert!(partial[0].starts_with(".data.bin.") && partial[0].ends_with(PARTIAL_SUFFIX));
        file.commit(false).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        assert_eq!(names(dir.path()), vec!["data.bin"]);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AtomicFile::create(&dir.path().join("x")).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn no_clobber_keeps_the_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x");
        write_atomic(&target, b"first").unwrap();
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"second").unwrap();
        let err = file.commit(false).unwrap_err();
        assert!(err.to_string().contains("renaming"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        assert_eq!(names(dir.path()), vec!["x"], "the temporary file is gone");
        write_atomic(&target, b"third").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"third");
    }
}
