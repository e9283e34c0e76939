//! The sender: walks what it is given, then streams each file with its BLAKE3 computed on the
//! way (no hashing pass before the bytes move). Files are read on a blocking thread feeding a
//! bounded channel, so the disk and the network work at the same time.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use prise_core::net::{connect, ConnectOptions};

use crate::wire::{Msg, Wire, CHUNK, VERSIONS};
use crate::Error;

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file or a folder (sent with its name, and everything under it).
    Path(PathBuf),
    /// Standard input, as one file called by this name.
    Stdin(String),
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A folder.
    Dir,
    /// A file on disk.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

/// One entry of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// Its path on the receiver's side: relative, `/`-separated.
    pub path: String,
    /// Its size, when known.
    pub size: Option<u64>,
    /// Unix permission bits.
    pub mode: Option<u32>,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: Option<i64>,
    /// Inode number (Unix; 0 elsewhere and for stdin): with size and mtime, how prise backup
    /// tells an unchanged file without reading it.
    pub inode: u64,
}

/// The entries for `sources` (folders walked, symlinks inside them skipped), and what was
/// skipped, with why. Blocking: it reads the file system.
///
/// # Errors
/// [`Error::Io`] when a source does not exist or cannot be read.
pub fn plan(sources: &[Source]) -> Result<(Vec<Entry>, Vec<String>), Error> {
    plan_with(sources, &|_, _| false)
}

/// As [`plan`], leaving out (and not walking into) what `exclude` picks. It is asked with each
/// path relative to the folder given as a source (`/`-separated, without the folder's own name)
/// and whether it is a folder.
///
/// # Errors
/// As [`plan`].
pub fn plan_with(
    sources: &[Source],
    exclude: &dyn Fn(&str, bool) -> bool,
) -> Result<(Vec<Entry>, Vec<String>), Error> {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for source in sources {
        let path = match source {
            Source::Stdin(name) => {
                entries.push(Entry {
                    kind: Kind::Stdin,
                    path: name.clone(),
                    size: None,
                    mode: None,
                    mtime_ns: None,
                    inode: 0,
                });
                continue;
            }
            Source::Path(path) => path,
        };
        // A symlink named on the command line is followed.
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let base = path
            .canonicalize()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let name = base
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::Setup(format!(
                    "{}: the name must be UTF-8 and not a root folder",
                    path.display()
                ))
            })?
            .to_owned();
        if !meta.is_dir() {
            entries.push(file_entry(path.clone(), name, &meta));
            continue;
        }
        entries.push(dir_entry(name.clone(), &meta));
        walk(&base, &name, exclude, &mut entries, &mut skipped)?;
    }
    Ok((entries, skipped))
}

/// Every entry under `base` (named `name` on the wire), each folder right before its contents,
/// names sorted. Hand-written rather than walkdir: `DirEntry::metadata` here asks the kernel
/// relative to the open folder (one path component), where walkdir passes the whole path; for a
/// tree of 10,000 files that is a third of the walk, and `prise backup` walks the whole tree on
/// every push. An explicit stack, so a deep tree cannot overflow ours.
fn walk(
    base: &Path,
    name: &str,
    exclude: &dyn Fn(&str, bool) -> bool,
    entries: &mut Vec<Entry>,
    skipped: &mut Vec<String>,
) -> Result<(), Error> {
    let children = |dir: &Path, wire: &str| -> Result<Vec<(std::fs::DirEntry, String)>, Error> {
        let failed = |e| Error::io(format!("reading {}", dir.display()), e);
        let mut items = std::fs::read_dir(dir)
            .map_err(failed)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        items.sort_by_cached_key(std::fs::DirEntry::file_name);
        // Reversed: the stack pops them in order.
        Ok(items
            .into_iter()
            .rev()
            .map(|item| (item, wire.to_owned()))
            .collect())
    };
    let mut stack = children(base, name)?;
    while let Some((item, parent)) = stack.pop() {
        let path = item.path();
        let Some(file_name) = item.file_name().to_str().map(str::to_owned) else {
            skipped.push(format!("{}: name is not UTF-8", path.display()));
            continue;
        };
        let wire_path = format!("{parent}/{file_name}");
        let file_type = item
            .file_type()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if file_type.is_symlink() {
            skipped.push(format!("{}: symlink (not followed)", path.display()));
            continue;
        }
        let relative = &wire_path[name.len() + 1..];
        if exclude(relative, file_type.is_dir()) {
            continue;
        }
        let meta = item
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if file_type.is_dir() {
            entries.push(dir_entry(wire_path.clone(), &meta));
            stack.extend(children(&path, &wire_path)?);
        } else if file_type.is_file() {
            entries.push(file_entry(path, wire_path, &meta));
        } else {
            skipped.push(format!("{}: not a regular file", path.display()));
        }
    }
    Ok(())
}

fn mtime_ns(meta: &std::fs::Metadata) -> Option<i64> {
    let modified = meta.modified().ok()?;
    let since = modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_nanos()).ok()
}

#[cfg(unix)]
fn mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
}

fn dir_entry(path: String, meta: &std::fs::Metadata) -> Entry {
    Entry {
        kind: Kind::Dir,
        path,
        size: None,
        mode: mode(meta),
        mtime_ns: mtime_ns(meta),
        inode: inode(meta),
    }
}

fn file_entry(local: PathBuf, path: String, meta: &std::fs::Metadata) -> Entry {
    Entry {
        kind: Kind::File(local),
        path,
        size: Some(meta.len()),
        mode: mode(meta),
        mtime_ns: mtime_ns(meta),
        inode: inode(meta),
    }
}

/// How the sender connects.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connection and TLS.
    pub connect: ConnectOptions,
    /// The receiver's token.
    pub token: Option<String>,
    /// Wait this long for a receiver's answer.
    pub reply_timeout: Duration,
}

impl Config {
    /// Defaults: plain TCP, no token.
    pub fn new() -> Self {
        Self {
            connect: ConnectOptions::new("send"),
            token: None,
            reply_timeout: Duration::from_secs(120),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// What happened to one entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Sent and verified by the receiver; `resumed_from` bytes were already there.
    Sent {
        /// Bytes sent now.
        bytes: u64,
        /// Bytes the receiver already held from an interrupted attempt.
        resumed_from: u64,
    },
    /// A folder, created.
    Created,
    /// The receiver already had it.
    Had,
    /// Refused or failed.
    Failed {
        /// The protocol error code.
        code: String,
        /// Why.
        text: String,
    },
}

/// Progress, for bars and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Connected; the session's size.
    Started {
        /// Entries.
        entries: u64,
        /// Bytes in files of known size.
        bytes: u64,
    },
    /// A file's bytes begin to move (from `offset`).
    FileStarted {
        /// The entry.
        path: &'a str,
        /// Its size, when known.
        size: Option<u64>,
        /// Bytes the receiver already had.
        offset: u64,
    },
    /// More bytes of the current file went out.
    Bytes {
        /// How many, just now.
        sent: u64,
    },
    /// An entry is done.
    Finished {
        /// The entry.
        path: &'a str,
        /// Its size, when known.
        size: Option<u64>,
        /// How it ended.
        outcome: &'a Outcome,
    },
}

/// A session's result.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// Files sent and verified.
    pub files: u64,
    /// Folders created.
    pub dirs: u64,
    /// Entries the receiver already had.
    pub skipped: u64,
    /// Entries refused or failed.
    pub failed: u64,
    /// File bytes sent in this session.
    pub bytes_sent: u64,
    /// File bytes not sent because the receiver had them (resumed files).
    pub bytes_resumed: u64,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Every entry with its outcome.
    pub entries: Vec<(String, Outcome)>,
}

/// Send `entries` to the receiver at `addr`.
///
/// # Errors
/// [`Error::Refused`] when the receiver refuses the session (token, version), [`Error::Io`] /
/// [`Error::Closed`] when the connection fails, [`Error::Protocol`] when the receiver breaks
/// the protocol. Refused or failed entries are in the [`Report`], not errors.
pub async fn send(
    addr: &str,
    entries: Vec<Entry>,
    config: &Config,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Report, Error> {
    let started = Instant::now();
    let stream = connect(addr, &config.connect)
        .await
        .map_err(|e| Error::Setup(e.to_string()))?;
    let mut wire = Wire::new(stream);
    let known: u64 = entries.iter().filter_map(|e| e.size).sum();
    let streams = entries.iter().any(|e| e.kind == Kind::Stdin);
    wire.send(&Msg::Hello {
        versions: VERSIONS.to_vec(),
        token: config.token.clone(),
        entries: Some(entries.len() as u64),
        bytes: (!streams).then_some(known),
    })
    .await?;
    match reply(&mut wire, config).await? {
        Msg::Welcome { .. } => {}
        Msg::Error { code, text, .. } => return Err(Error::Refused { code, text }),
        other => return Err(Error::Protocol(format!("expected welcome, got {other:?}"))),
    }
    progress(Progress::Started {
        entries: entries.len() as u64,
        bytes: known,
    });
    let mut report = Report::default();
    for entry in entries {
        let outcome = match &entry.kind {
            Kind::Dir => {
                wire.send(&Msg::Dir {
                    path: entry.path.clone(),
                    mode: entry.mode,
                    mtime_ns: entry.mtime_ns,
                })
                .await?;
                match reply(&mut wire, config).await? {
                    Msg::Ok { .. } => Outcome::Created,
                    Msg::Error { code, text, .. } => Outcome::Failed { code, text },
                    other => return Err(Error::Protocol(format!("expected ok, got {other:?}"))),
                }
            }
            Kind::File(_) | Kind::Stdin => send_file(&mut wire, &entry, config, progress).await?,
        };
        match &outcome {
            Outcome::Sent {
                bytes,
                resumed_from,
            } => {
                report.files += 1;
                report.bytes_sent += bytes;
                report.bytes_resumed += resumed_from;
            }
            Outcome::Created => report.dirs += 1,
            Outcome::Had => report.skipped += 1,
            Outcome::Failed { .. } => report.failed += 1,
        }
        progress(Progress::Finished {
            path: &entry.path,
            size: entry.size,
            outcome: &outcome,
        });
        report.entries.push((entry.path, outcome));
    }
    wire.send(&Msg::Done).await?;
    match reply(&mut wire, config).await? {
        Msg::Summary { .. } => {}
        other => return Err(Error::Protocol(format!("expected summary, got {other:?}"))),
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn reply(wire: &mut Wire, config: &Config) -> Result<Msg, Error> {
    tokio::time::timeout(config.reply_timeout, wire.recv())
        .await
        .map_err(|_| Error::Protocol("the receiver did not answer".into()))?
}

/// A file's bytes, read on a blocking thread: chunks through the channel, then the hash.
/// Buffers come back through `spent` once sent, so a transfer does not allocate per chunk.
fn reader(
    entry: &Entry,
    start: u64,
    mut hasher: blake3::Hasher,
    chunks: &tokio::sync::mpsc::Sender<BytesMut>,
    spent: &mut tokio::sync::mpsc::UnboundedReceiver<BytesMut>,
) -> Result<(blake3::Hasher, u64), Error> {
    let (mut input, limit): (Box<dyn Read>, Option<u64>) = match &entry.kind {
        Kind::File(local) => {
            let mut file = File::open(local)
                .map_err(|e| Error::io(format!("opening {}", local.display()), e))?;
            file.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io(format!("reading {}", local.display()), e))?;
            // Never more than announced: a file that grew is cut at its announced size (and
            // one that shrank is refused by the receiver).
            let left = entry.size.map(|s| s.saturating_sub(start));
            (Box::new(file), left)
        }
        Kind::Stdin => (Box::new(std::io::stdin().lock()), None),
        Kind::Dir => return Ok((hasher, 0)),
    };
    let mut total = 0u64;
    loop {
        let want = match limit {
            Some(limit) => usize::try_from((limit - total).min(CHUNK as u64)).unwrap_or(CHUNK),
            None => CHUNK,
        };
        if want == 0 {
            break;
        }
        let mut buf = spent
            .try_recv()
            .unwrap_or_else(|_| BytesMut::with_capacity(CHUNK));
        buf.resize(want, 0);
        let n = read_full(&mut input, &mut buf)
            .map_err(|e| Error::io(format!("reading {}", entry.path), e))?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        hasher.update(&buf);
        total += n as u64;
        if chunks.blocking_send(buf).is_err() {
            // The connection side stopped; it reports why.
            break;
        }
    }
    Ok((hasher, total))
}

/// Read until `buf` is full or the input ends.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Hash the first `len` bytes of `path`; `None` when the file is shorter.
fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Option<blake3::Hasher>> {
    let file = File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let read = std::io::copy(&mut file.take(len), &mut hasher)?;
    Ok((read == len).then_some(hasher))
}

async fn send_file(
    wire: &mut Wire,
    entry: &Entry,
    config: &Config,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Outcome, Error> {
    wire.send(&Msg::File {
        path: entry.path.clone(),
        size: entry.size,
        mode: entry.mode,
        mtime_ns: entry.mtime_ns,
    })
    .await?;
    let (offset, prefix) = match reply(wire, config).await? {
        Msg::Ready {
            offset,
            prefix_blake3,
            ..
        } => (offset, prefix_blake3),
        Msg::Have { .. } => return Ok(Outcome::Had),
        Msg::Error { code, text, .. } => return Ok(Outcome::Failed { code, text }),
        other => return Err(Error::Protocol(format!("expected ready, got {other:?}"))),
    };
    // Resume only when the receiver's bytes are exactly our first bytes.
    let mut start = 0;
    let mut hasher = blake3::Hasher::new();
    if let (Kind::File(local), true, Some(prefix)) = (&entry.kind, offset > 0, prefix) {
        let local = local.clone();
        let hashed = tokio::task::spawn_blocking(move || hash_prefix(&local, offset))
            .await
            .map_err(|e| Error::Setup(e.to_string()))?
            .map_err(|e| Error::io(format!("reading {}", entry.path), e))?;
        if let Some(prefix_hasher) = hashed {
            if prefix_hasher.finalize().to_hex().as_str() == prefix {
                start = offset;
                hasher = prefix_hasher;
            }
        }
    }
    wire.send(&Msg::Data { offset: start }).await?;
    progress(Progress::FileStarted {
        path: &entry.path,
        size: entry.size,
        offset: start,
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel::<BytesMut>(8);
    let (spent_tx, mut spent_rx) = tokio::sync::mpsc::unbounded_channel::<BytesMut>();
    let reading = {
        let entry = entry.clone();
        tokio::task::spawn_blocking(move || reader(&entry, start, hasher, &tx, &mut spent_rx))
    };
    let mut sent = 0u64;
    while let Some(chunk) = rx.recv().await {
        wire.send_chunk(&chunk).await?;
        sent += chunk.len() as u64;
        progress(Progress::Bytes {
            sent: chunk.len() as u64,
        });
        let _ = spent_tx.send(chunk);
    }
    wire.send_chunk(&[]).await?;
    let (hasher, _) = match reading.await.map_err(|e| Error::Setup(e.to_string()))? {
        Ok(done) => done,
        Err(e) => {
            // The contents end here, short: the receiver refuses the file; say why locally.
            wire.send(&Msg::End {
                blake3: String::new(),
            })
            .await?;
            let _ = reply(wire, config).await?;
            return Ok(Outcome::Failed {
                code: "io".into(),
                text: e.to_string(),
            });
        }
    };
    wire.send(&Msg::End {
        blake3: hasher.finalize().to_hex().to_string(),
    })
    .await?;
    match reply(wire, config).await? {
        Msg::Ok { .. } => Ok(Outcome::Sent {
            bytes: sent,
            resumed_from: start,
        }),
        Msg::Error { code, text, .. } => Ok(Outcome::Failed { code, text }),
        other => Err(Error::Protocol(format!("expected ok, got {other:?}"))),
    }
}
