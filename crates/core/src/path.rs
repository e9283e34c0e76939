//! Resolve a path that a peer sent inside a root folder, or refuse it.
//!
//! The tutorial's file receiver joins the peer's file name onto its folder, so `../../.bashrc`
//! writes anywhere. Every prise service that takes a path from the network (transfer, backup,
//! HTTP, FTP) goes through [`SafeRoot::resolve`] instead, which refuses:
//!
//! - empty paths, NUL and other control characters, backslashes (a Windows separator that would
//!   mean something else on the other side);
//! - absolute paths (`/etc/passwd`, `C:...`) and any `..` component;
//! - names reserved on Windows (`CON`, `NUL`, `COM1`...), so what we store can be restored there;
//! - components over 255 bytes and paths over 4096 bytes;
//! - any existing component that is a symlink leading outside the root.
//!
//! `.` components and repeated slashes are dropped. The check touches the file system (it reads
//! link targets), so it blocks: async callers run it in `spawn_blocking`.
//!
//! The symlink check is made when the path is resolved; a local user who can swap a folder for a
//! symlink afterwards could still race it. Writers therefore create files through
//! [`crate::fs::AtomicFile`], whose final `rename` replaces a symlink rather than following it.

use std::path::{Component, Path, PathBuf};

use crate::Error;

/// Longest accepted path, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Longest accepted path component, in bytes (the limit of ext4, XFS, NTFS and APFS).
pub const MAX_NAME_LEN: usize = 255;

/// A root folder that peer-supplied paths are resolved inside.
#[derive(Debug, Clone)]
pub struct SafeRoot {
    root: PathBuf,
}

fn refuse(path: &str, reason: &'static str) -> Error {
    Error::UnsafePath {
        path: path.to_owned(),
        reason,
    }
}

impl SafeRoot {
    /// Use `root` (which must exist) as the root; it is canonicalized once here.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder does not exist or cannot be read.
    pub fn new(root: &Path) -> Result<Self, Error> {
        let root = root
            .canonicalize()
            .map_err(|e| Error::io(format!("folder {}", root.display()), e))?;
        Ok(Self { root })
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Check `relative` without touching the file system and return its clean components.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] with the reason.
    pub fn check_relative(relative: &str) -> Result<Vec<&str>, Error> {
        if relative.is_empty() {
            return Err(refuse(relative, "empty path"));
        }
        if relative.len() > MAX_PATH_LEN {
            return Err(refuse(relative, "path too long"));
        }
        if relative.contains('\0') {
            return Err(refuse(relative, "NUL byte in path"));
        }
        if relative.chars().any(char::is_control) {
            return Err(refuse(relative, "control character in path"));
        }
        if relative.contains('\\') {
            return Err(refuse(relative, "backslash in path"));
        }
        if relative.starts_with('/') {
            return Err(refuse(relative, "absolute path"));
        }
        let bytes = relative.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err(refuse(relative, "absolute path (drive letter)"));
        }
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => continue,
                ".." => return Err(refuse(relative, "parent directory (..) in path")),
                _ => {}
            }
            if part.len() > MAX_NAME_LEN {
                return Err(refuse(relative, "file name too long"));
            }
            if is_reserved_name(part) {
                return Err(refuse(relative, "reserved file name"));
            }
            parts.push(part);
        }
        if parts.is_empty() {
            return Err(refuse(relative, "path names no file"));
        }
        Ok(parts)
    }

    /// Resolve `relative` inside the root.
    ///
    /// The result may not exist yet (a file about to be written); every component that does
    /// exist has been checked not to lead outside the root.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] with the reason, or [`Error::Io`] when a component cannot be read.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, Error> {
        let parts = Self::check_relative(relative)?;
        let mut path = self.root.clone();
        for part in parts {
            path.push(part);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = path
                        .canonicalize()
                        .map_err(|_| refuse(relative, "symlink to a missing target"))?;
                    if !target.starts_with(&self.root) {
                        return Err(refuse(relative, "symlink leads outside the folder"));
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Nothing further down can exist either.
                    break;
                }
                Err(e) => return Err(Error::io(format!("checking {}", path.display()), e)),
            }
        }
        // Rebuild from the checked parts: `path` stopped early if a component was missing.
        let mut full = self.root.clone();
        for part in Self::check_relative(relative)? {
            full.push(part);
        }
        debug_assert!(full.components().all(|c| c != Component::ParentDir));
        Ok(full)
    }
}

/// Windows device names, with or without an extension, compared without case.
fn is_reserved_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit()
            && upper.as_bytes()[3] != b'0')
}

/// Open `relative` (slash-separated, `.` for the folder itself) under the open folder `dir`,
/// the kernel refusing every step out of it: one `openat2` with `RESOLVE_BENEATH` and
/// `RESOLVE_NO_MAGICLINKS`, so `..`, absolute paths and symlinks that lead out fail, and
/// nothing can swap a component between a check and the open. `CLOEXEC` is added, and
/// `NOCTTY` unless `flags` has `PATH` (openat2 refuses it there).
///
/// The HTTP and FTP servers open every path they serve this way.
///
/// # Errors
/// The kernel's: `XDEV` for a step out of the folder (an absolute symlink too, even one that
/// leads back inside), `NOSYS` before Linux 5.6, `ENOENT` and the rest as usual.
pub fn open_beneath(
    dir: impl rustix::fd::AsFd,
    relative: &str,
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> rustix::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{OFlags, ResolveFlags};
    let flags = if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    };
    let relative = if relative.is_empty() { "." } else { relative };
    rustix::fs::openat2(
        dir,
        relative,
        flags,
        mode,
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn plain_relative_paths_resolve_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = SafeRoot::new(dir.path()).unwrap();
        let p = root.resolve("a/./b//c.txt").unwrap();
        assert_eq!(p, root.root().join("a/b/c.txt"));
    }

    #[test]
    fn hostile_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = SafeRoot::new(dir.path()).unwrap();
        for bad in [
            "",
            ".",
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "C:/Windows",
            "c:x",
            "a\\..\\b",
            "nul\0byte",
            "bell\x07",
            "CON",
            "com1.txt",
            "aux.tar.gz",
            &"x".repeat(256),
            &"a/".repeat(2100),
        ] {
            assert!(root.resolve(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(root.resolve("com10").is_ok());
        assert!(root.resolve("console").is_ok());
        assert!(
            root.resolve("..foo").is_ok(),
            "a name that starts with dots is fine"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_leading_outside_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("inside")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("inside"), dir.path().join("alias")).unwrap();
        let root = SafeRoot::new(dir.path()).unwrap();
        let err = root.resolve("escape/file").unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(root.resolve("escape").is_err());
        assert!(
            root.resolve("alias/file").is_ok(),
            "a link that stays inside is fine"
        );
    }
}
