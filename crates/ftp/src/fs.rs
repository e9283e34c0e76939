//! The virtual root: file operations on paths a client sent, that cannot leave the folder.
//!
//! Paths come in as components ([`crate::codec::resolve`] has already handled `.`, `..` and
//! absolute paths). Each operation then opens what it needs with one
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` from the root folder's handle: the kernel
//! refuses any step (a `..` inside a symlink, an absolute symlink, a mount point escape) that
//! would leave the folder, at the moment of the open, so a tree changed by someone else while
//! we look cannot trick us. Operations on a name (create, delete, rename, make a folder) open
//! the parent folder that way and then act on the last component relative to that handle.
//!
//! Needs Linux 5.6 or later (`openat2`). A symlink that leads outside the folder is refused
//! (`EXDEV`); one that stays inside works, as long as it is relative.
//!
//! Uploads in progress (`.NAME.prise-XXXXXXXX.part`) are left out of listings.
//!
//! Everything here blocks: the server calls it from `spawn_blocking`.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::codec::Entry;

/// The served folder, held open.
#[derive(Debug, Clone)]
pub struct Root {
    dir: Arc<OwnedFd>,
    path: PathBuf,
}

/// A file being uploaded: written under a temporary name in its folder, renamed into place by
/// [`Upload::commit`], removed by [`Upload::abort`] (or when dropped uncommitted).
#[derive(Debug)]
pub struct Upload {
    /// The temporary file; write into it.
    pub file: File,
    parent: OwnedFd,
    temp: String,
    name: String,
    done: bool,
}

fn relative(parts: &[String]) -> String {
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

fn errno(e: rustix::io::Errno) -> io::Error {
    if e == rustix::io::Errno::XDEV {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the path leads outside the folder",
        )
    } else {
        io::Error::from(e)
    }
}

impl Root {
    /// Open `path` as the root.
    ///
    /// # Errors
    /// When the folder cannot be opened.
    pub fn open(path: &Path) -> io::Result<Self> {
        let dir = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            dir: Arc::new(dir),
            path: path.to_owned(),
        })
    }

    /// The folder as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_at(&self, parts: &[String], flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        prise_core::path::open_beneath(self.dir.as_fd(), &relative(parts), flags, mode)
            .map_err(errno)
    }

    /// What is at `parts`, following symlinks that stay inside.
    ///
    /// # Errors
    /// Not found, outside the folder, or the OS error.
    pub fn metadata(&self, parts: &[String]) -> io::Result<Metadata> {
        File::from(self.open_at(parts, OFlags::PATH, Mode::empty())?).metadata()
    }

    /// Open a regular file for reading, with its metadata. Folders, pipes and devices are
    /// refused (a pipe is opened without waiting for a writer).
    ///
    /// # Errors
    /// As [`Root::metadata`], and "not a plain file".
    pub fn open_read(&self, parts: &[String]) -> io::Result<(File, Metadata)> {
        let file =
            File::from(self.open_at(parts, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?);
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::other("not a plain file"));
        }
        Ok((file, meta))
    }

    /// Open a file to write in place: at its end (`APPE`, made when `create`), or where the
    /// caller seeks (`REST` then `STOR`: the rest of an interrupted upload, which must exist).
    ///
    /// # Errors
    /// As [`Root::metadata`], and "not a plain file".
    pub fn open_write(&self, parts: &[String], append: bool, create: bool) -> io::Result<File> {
        let mut flags = OFlags::WRONLY | OFlags::NONBLOCK;
        if append {
            flags |= OFlags::APPEND;
        }
        if create {
            flags |= OFlags::CREATE;
        }
        // openat2 refuses a mode without O_CREAT.
        let mode = if create {
            Mode::from_raw_mode(0o644)
        } else {
            Mode::empty()
        };
        let file = File::from(self.open_at(parts, flags, mode)?);
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a plain file"));
        }
        Ok(file)
    }

    /// The parent folder of `parts` (open) and the last component.
    fn parent(&self, parts: &[String]) -> io::Result<(OwnedFd, String)> {
        let Some((name, parent)) = parts.split_last() else {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "not allowed on the root folder",
            ));
        };
        let dir = self.open_at(parent, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())?;
        Ok((dir, name.clone()))
    }

    /// Start a new upload of `parts`: a temporary file beside it.
    ///
    /// # Errors
    /// The parent folder is missing or not writable.
    pub fn create(&self, parts: &[String]) -> io::Result<Upload> {
        let (parent, name) = self.parent(parts)?;
        // Refuse to replace a folder before writing anything.
        if let Ok(stat) = rustix::fs::statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory
            {
                return Err(io::Error::other("a folder has that name"));
            }
        }
        for _ in 0..16 {
            let temp = format!(".{name}.prise-{:08x}.part", fastrand::u32(..));
            let temp = if temp.len() > crate::codec::MAX_NAME_LEN {
                format!(".prise-{:08x}.part", fastrand::u32(..))
            } else {
                temp
            };
            match rustix::fs::openat(
                &parent,
                temp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o644),
            ) {
                Ok(fd) => {
                    return Ok(Upload {
                        file: File::from(fd),
                        parent,
                        temp,
                        name,
                        done: false,
                    })
                }
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::other("cannot make a temporary file"))
    }

    /// List a folder: its plain files and folders (symlinks that stay inside are shown as
    /// what they lead to; others, pipes, sockets and devices are left out), sorted by name.
    ///
    /// # Errors
    /// As [`Root::metadata`], and "not a folder".
    pub fn list(&self, parts: &[String]) -> io::Result<Vec<Entry>> {
        let dir = self.open_at(parts, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())?;
        let mut entries = Vec::new();
        let mut child = parts.to_vec();
        for item in rustix::fs::Dir::read_from(&dir)? {
            let item = item?;
            let name = OsStr::from_bytes(item.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            let Some(name) = name.to_str() else { continue };
            // Our uploads in progress, and names no client could ask for (a control
            // character: a line break would even split a listing line in two).
            if is_temporary(name) || name.chars().any(char::is_control) {
                continue;
            }
            child.push(name.to_owned());
            if let Ok(meta) = self.metadata(&child) {
                if meta.is_file() || meta.is_dir() {
                    entries.push(entry(name.to_owned(), &meta));
                }
            }
            child.pop();
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Make a folder.
    ///
    /// # Errors
    /// It exists, its parent does not, or the OS error.
    pub fn mkdir(&self, parts: &[String]) -> io::Result<()> {
        let (parent, name) = self.parent(parts)?;
        rustix::fs::mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o755)).map_err(errno)
    }

    /// Remove an empty folder.
    ///
    /// # Errors
    /// Not empty, missing, or the OS error.
    pub fn rmdir(&self, parts: &[String]) -> io::Result<()> {
        let (parent, name) = self.parent(parts)?;
        rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::REMOVEDIR).map_err(errno)
    }

    /// Delete a file (a symlink itself, never what it leads to).
    ///
    /// # Errors
    /// A folder, missing, or the OS error.
    pub fn delete(&self, parts: &[String]) -> io::Result<()> {
        let (parent, name) = self.parent(parts)?;
        let stat = rustix::fs::statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory {
            return Err(io::Error::other("a folder: use RMD"));
        }
        rustix::fs::unlinkat(&parent, name.as_str(), AtFlags::empty()).map_err(errno)
    }

    /// Rename `from` to `to` (replacing a file there, as `rename(2)` does).
    ///
    /// # Errors
    /// Either is missing or is the root, or the OS error.
    pub fn rename(&self, from: &[String], to: &[String]) -> io::Result<()> {
        let (from_dir, from_name) = self.parent(from)?;
        let (to_dir, to_name) = self.parent(to)?;
        rustix::fs::renameat(&from_dir, from_name.as_str(), &to_dir, to_name.as_str())
            .map_err(errno)
    }

    /// Set a file's modification time (`MFMT`).
    ///
    /// # Errors
    /// Missing, or the OS error.
    pub fn set_modified(&self, parts: &[String], when: SystemTime) -> io::Result<()> {
        // The file itself, opened beneath the root (a symlink out is refused at the open, and
        // nothing can be swapped in between: the times are set on what was opened).
        let file = self.open_at(parts, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty())?;
        let since = when
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| io::Error::other("a time before 1970"))?;
        let spec = rustix::fs::Timespec {
            tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        rustix::fs::futimens(
            &file,
            &rustix::fs::Timestamps {
                last_access: spec,
                last_modification: spec,
            },
        )
        .map_err(errno)
    }
}

/// Whether `name` is one of our uploads in progress (`.NAME.prise-XXXXXXXX.part`): not listed.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".part") && name.contains(".prise-")
}

/// A listing entry from metadata.
pub fn entry(name: String, meta: &Metadata) -> Entry {
    Entry {
        name,
        dir: meta.is_dir(),
        size: meta.size(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        mode: meta.permissions().mode(),
    }
}

impl Upload {
    /// Put the uploaded file in place (replacing an older one).
    ///
    /// # Errors
    /// The rename failed; the temporary file is removed.
    pub fn commit(mut self) -> io::Result<()> {
        self.done = true;
        let renamed = rustix::fs::renameat(
            &self.parent,
            self.temp.as_str(),
            &self.parent,
            self.name.as_str(),
        );
        if renamed.is_err() {
            let _ = rustix::fs::unlinkat(&self.parent, self.temp.as_str(), AtFlags::empty());
        }
        renamed.map_err(errno)
    }

    /// Give up: remove the temporary file.
    pub fn abort(mut self) {
        self.done = true;
        let _ = rustix::fs::unlinkat(&self.parent, self.temp.as_str(), AtFlags::empty());
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(&self.parent, self.temp.as_str(), AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::Write as _;

    fn parts(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn symlinks_out_are_refused_and_uploads_land_whole() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "no").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "hello").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink("../..", dir.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink("a.txt", dir.path().join("sub/link")).unwrap();
        std::fs::write(dir.path().join("sub/esc\x1b[2Jname"), "x").unwrap();
        std::fs::write(dir.path().join("sub/two\r\nlines"), "x").unwrap();
        let root = Root::open(dir.path()).unwrap();

        assert!(root.open_read(&parts("out/secret")).is_err());
        assert!(root.open_read(&parts("sub/up/etc/passwd")).is_err());
        assert!(root.open_write(&parts("out/new"), false, true).is_err());
        assert!(root.create(&parts("out/new")).is_err());
        assert!(!outside.path().join("new").exists());
        let (_, meta) = root.open_read(&parts("sub/link")).unwrap();
        assert_eq!(meta.len(), 5);
        let names: Vec<String> = root
            .list(&parts("sub"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(
            names,
            ["a.txt", "link"],
            "the link leading up and out is left out, and so are names with control characters"
        );

        let mut upload = root.create(&parts("sub/new.bin")).unwrap();
        upload.file.write_all(b"partial").unwrap();
        assert!(!dir.path().join("sub/new.bin").exists());
        assert_eq!(
            root.list(&parts("sub")).unwrap().len(),
            2,
            "an upload in progress is not listed"
        );
        drop(upload);
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            5,
            "a.txt, up, link and the two odd names: the temporary file is gone"
        );
        let mut upload = root.create(&parts("sub/new.bin")).unwrap();
        upload.file.write_all(b"whole").unwrap();
        upload.commit().unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("sub/new.bin")).unwrap(),
            b"whole"
        );

        root.rename(&parts("sub/new.bin"), &parts("moved.bin"))
            .unwrap();
        root.delete(&parts("moved.bin")).unwrap();
        root.delete(&parts("out")).unwrap();
        assert!(
            outside.path().join("secret").exists(),
            "a symlink is removed, not its target"
        );
        assert!(root.rmdir(&[]).is_err());
        root.mkdir(&parts("d")).unwrap();
        assert!(root.delete(&parts("d")).is_err());
        root.rmdir(&parts("d")).unwrap();
    }
}

#[cfg(test)]
mod mtime_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn set_modified_sets_the_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let root = Root::open(dir.path()).unwrap();
        let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_577_934_245);
        root.set_modified(&["f".to_owned()], when).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("f"))
                .unwrap()
                .modified()
                .unwrap(),
            when
        );
    }
}
