//! The hostile-path table: names a peer may send to make a server write or read outside its
//! folder, shared by the tests of every service that takes a path from the network (send and
//! receive, backup restore, HTTP, FTP), so that each tries the same attacks.
//!
//! The rule each test checks is the same: a name that leaves the folder once joined to it
//! ([`Hostile::escapes`], or [`Hostile::climbs`] where a leading `/` means the folder) is
//! refused; any other name is refused or kept inside the folder under exactly that name; and
//! nothing appears outside the folder ([`Outside`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What a hostile name tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// `..` components that climb above the folder.
    Climb,
    /// An absolute path.
    Absolute,
    /// `..` written percent-encoded, once or twice: harmless as a file name, a climb for a
    /// server that decodes too often.
    Encoded,
    /// Windows separators, which climb on a server that treats `\` as `/`.
    Backslash,
    /// A Windows drive letter or UNC prefix.
    Drive,
    /// A NUL byte, which cuts the name short in C APIs.
    Nul,
    /// Another control character (newline, escape, DEL).
    Control,
    /// Empty, `.` or only slashes: no name at all.
    Empty,
    /// A component longer than any file system allows, or a path longer than `PATH_MAX`.
    Overlong,
    /// Unicode characters that look like `.` or `/` (fullwidth, one-dot leader, division
    /// slash).
    LookAlike,
    /// Names that are devices on Windows (`CON`, `NUL`, `COM1`).
    Device,
}

/// One hostile name and what it tries.
#[derive(Debug, Clone)]
pub struct Hostile {
    /// The name as the peer sends it, `/`-separated.
    pub name: String,
    /// What it tries.
    pub attack: Attack,
}

impl Hostile {
    /// Whether the name leaves the folder when a server joins it to the folder as it is (with
    /// `/` as the only separator and no decoding): such a name must be refused.
    pub fn escapes(&self) -> bool {
        matches!(self.attack, Attack::Climb | Attack::Absolute)
    }

    /// Whether the name climbs above the folder with `..`: refused everywhere, also where a
    /// leading `/` means the folder itself (a URL path, an FTP path).
    pub fn climbs(&self) -> bool {
        self.attack == Attack::Climb
    }

    /// The name as a path inside the folder where a leading `/` means the folder (a URL path,
    /// an FTP path): where a server that keeps it must have put it.
    pub fn inside(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// The name percent-encoded for a URL path: every byte but unreserved ones and `/`, so
    /// that a server sees exactly these bytes once it decodes the path.
    pub fn url_path(&self) -> String {
        let mut out = String::from("/");
        for &b in self.name.as_bytes() {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

/// Every hostile name, each leading to a file called `escaped` (so a test can look for it).
pub fn names() -> Vec<Hostile> {
    use Attack::*;
    let long = "a".repeat(300);
    let deep = "d/".repeat(2100) + "escaped";
    let table: Vec<(String, Attack)> = vec![
        ("../escaped".into(), Climb),
        ("../../escaped".into(), Climb),
        ("a/../../escaped".into(), Climb),
        ("a/./../../escaped".into(), Climb),
        ("..".into(), Climb),
        ("/escaped".into(), Absolute),
        ("//escaped".into(), Absolute),
        ("/tmp/escaped".into(), Absolute),
        ("%2e%2e/escaped".into(), Encoded),
        ("%2E%2E%2Fescaped".into(), Encoded),
        ("%252e%252e/escaped".into(), Encoded),
        ("..%2fescaped".into(), Encoded),
        ("..\\escaped".into(), Backslash),
        ("a\\..\\..\\escaped".into(), Backslash),
        ("C:/escaped".into(), Drive),
        ("C:\\escaped".into(), Drive),
        ("\\\\host\\share\\escaped".into(), Drive),
        ("escaped\0.txt".into(), Nul),
        ("\0".into(), Nul),
        ("esc\naped".into(), Control),
        ("esc\x1b[2Japed".into(), Control),
        ("esc\x7faped".into(), Control),
        ("".into(), Empty),
        (".".into(), Empty),
        ("/".into(), Absolute),
        (format!("{long}/escaped"), Overlong),
        (deep, Overlong),
        ("\u{ff0e}\u{ff0e}/escaped".into(), LookAlike),
        ("\u{2024}\u{2024}/escaped".into(), LookAlike),
        ("..\u{2215}escaped".into(), LookAlike),
        ("..\u{ff0f}escaped".into(), LookAlike),
        ("CON".into(), Device),
        ("nul.txt".into(), Device),
        ("COM1".into(), Device),
    ];
    table
        .into_iter()
        .map(|(name, attack)| Hostile { name, attack })
        .collect()
}

/// Specials planted in a served folder, which a server must refuse or serve without hanging
/// or leaving the folder: a FIFO, a link to a device, links that lead outside.
#[derive(Debug, Clone)]
pub struct Specials {
    /// The names planted, relative to the folder.
    pub names: Vec<&'static str>,
    /// The contents of the file outside that the links point to: a server that shows it leaked.
    pub secret: &'static str,
}

/// Plant [`Specials`] in `folder`, with their targets in `outside` (a folder next to it):
/// `fifo` (a named pipe nobody writes to), `zero` (a link to `/dev/zero`), `out-file` (a link
/// to a file outside), `out-dir` (a link to the folder outside) and `out-dir/secret.txt`
/// through it.
///
/// # Panics
/// When `mkfifo` is missing or a file cannot be made.
pub fn plant_specials(folder: &Path, outside: &Path) -> Specials {
    let secret = "TOPSECRET-OUTSIDE";
    std::fs::create_dir_all(outside).unwrap();
    std::fs::write(outside.join("secret.txt"), secret).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(folder.join("fifo"))
        .status()
        .expect("mkfifo (coreutils)");
    assert!(status.success(), "mkfifo failed");
    std::os::unix::fs::symlink("/dev/zero", folder.join("zero")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), folder.join("out-file")).unwrap();
    std::os::unix::fs::symlink(outside, folder.join("out-dir")).unwrap();
    Specials {
        names: vec!["fifo", "zero", "out-file", "out-dir", "out-dir/secret.txt"],
        secret,
    }
}

/// What lies outside a served folder, to show that a test changed nothing there.
#[derive(Debug)]
pub struct Outside {
    top: PathBuf,
    folder: PathBuf,
    before: BTreeSet<PathBuf>,
}

impl Outside {
    /// Remember every path under `top` (a test's temporary folder) that is not under `folder`
    /// (the served folder, inside `top`), and every path under `/tmp` named `escaped`.
    pub fn watch(top: &Path, folder: &Path) -> Outside {
        let mut outside = Outside {
            top: top.to_owned(),
            folder: folder.to_owned(),
            before: BTreeSet::new(),
        };
        outside.before = outside.list();
        outside
    }

    fn list(&self) -> BTreeSet<PathBuf> {
        let mut found = BTreeSet::new();
        let mut todo = vec![self.top.clone()];
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.starts_with(&self.folder) {
                    continue;
                }
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(path.clone());
                }
                found.insert(path);
            }
        }
        if Path::new("/tmp/escaped").exists() {
            found.insert("/tmp/escaped".into());
        }
        found
    }

    /// # Panics
    /// When a path appeared or vanished outside the folder since [`Outside::watch`].
    pub fn assert_untouched(&self) {
        let now = self.list();
        let added: Vec<_> = now.difference(&self.before).collect();
        let removed: Vec<_> = self.before.difference(&now).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "outside the folder, appeared: {added:?}, vanished: {removed:?}"
        );
    }
}
