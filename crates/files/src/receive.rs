//! The receiver: one session per connection, files written under one folder only.
//!
//! Every path from the peer goes through [`SafeRoot`]; contents go to `.<name>.prise-resume`
//! beside the target, hashed as they are written, and are renamed into place only once the
//! sender's BLAKE3 matches. An interrupted transfer leaves that partial file for the next
//! attempt; a refused or corrupt one removes it. File writes run on a blocking thread fed
//! through a bounded channel, so the network and the disk work at the same time.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use prise_core::path::SafeRoot;
use prise_core::server::{serve, ServeOptions};
use prise_core::stream::Stream;
use prise_core::tls::ServerTls;
use prise_core::trace::TrafficLog;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::wire::{Msg, Wire, VERSIONS};
use crate::Error;

/// How long a new session waits for another one to let go of a partial file.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Suffix of a partial file kept for resuming.
pub const RESUME_SUFFIX: &str = ".prise-resume";

/// What to do when a different file already has the name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clash {
    /// Refuse the entry (`exists`).
    #[default]
    Keep,
    /// Replace the file once the new one is verified.
    Overwrite,
    /// Write `name (1).ext`, `name (2).ext`, ...
    Rename,
}

/// What happened to one file entry of a session, for the receiver's own output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryEvent<'a> {
    /// A file is in place, verified; `bytes` arrived in this session.
    Received {
        /// The entry.
        path: &'a str,
        /// Bytes received now (a resumed file had the rest already).
        bytes: u64,
    },
    /// The receiver already had this file.
    Had {
        /// The entry.
        path: &'a str,
    },
    /// The entry was refused or failed.
    Refused {
        /// The entry.
        path: &'a str,
        /// The protocol error code.
        code: &'a str,
        /// Why.
        text: &'a str,
    },
}

/// Called for every file entry of every session, with the sender's address.
#[derive(Clone)]
pub struct EntryHook(pub Arc<dyn Fn(std::net::SocketAddr, EntryEvent<'_>) + Send + Sync>);

impl std::fmt::Debug for EntryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryHook")
    }
}

/// How the receiver behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where files go; nothing is written outside it.
    pub dir: PathBuf,
    /// Senders must give this token.
    pub token: Option<String>,
    /// Largest file accepted.
    pub max_size: Option<u64>,
    /// Name clash policy.
    pub clash: Clash,
    /// Stop after one session.
    pub once: bool,
    /// TLS for every connection.
    pub tls: Option<ServerTls>,
    /// Traffic log.
    pub trace: Option<TrafficLog>,
    /// Wait for a message this long before giving up on a silent sender.
    pub idle_timeout: Duration,
    /// Time allowed for sessions to finish on shutdown.
    pub grace: Duration,
    /// Told of every file entry as it ends.
    pub on_entry: Option<EntryHook>,
}

impl Config {
    /// Defaults for receiving into `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            token: None,
            max_size: None,
            clash: Clash::Keep,
            once: false,
            tls: None,
            trace: None,
            idle_timeout: Duration::from_secs(120),
            grace: Duration::from_secs(10),
            on_entry: None,
        }
    }
}

/// A session's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Files received.
    pub files: u64,
    /// Folders created.
    pub dirs: u64,
    /// Bytes written in this session.
    pub bytes: u64,
    /// Entries already there.
    pub skipped: u64,
    /// Entries refused or failed.
    pub failed: u64,
}

/// Receive on `listener` until `shutdown` is cancelled (or after one session with
/// [`Config::once`]). `report` is called at the end of each session with the sender's address
/// and the outcome.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be used.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
    report: impl Fn(std::net::SocketAddr, &Result<Summary, Error>) + Send + Sync + 'static,
) -> Result<(), Error> {
    let root = Arc::new(SafeRoot::new(&config.dir)?);
    let options = ServeOptions {
        tls: config.tls.clone(),
        grace: config.grace,
        trace: config.trace.clone(),
        ..ServeOptions::new("receive")
    };
    let config = Arc::new(config);
    let report = Arc::new(report);
    let stop = shutdown.clone();
    serve(listener, options, shutdown, move |conn| {
        let root = Arc::clone(&root);
        let config = Arc::clone(&config);
        let report = Arc::clone(&report);
        let stop = stop.clone();
        async move {
            let peer = conn.peer;
            let result = session(conn.stream, peer, &root, &config).await;
            let counted = !matches!(&result, Err(Error::Refused { .. }));
            report(peer, &result);
            if config.once && counted {
                stop.cancel();
            }
        }
    })
    .await
    .map_err(|e| Error::io("listening", e))
}

/// One session, from hello to summary.
async fn session(
    stream: Stream,
    peer: std::net::SocketAddr,
    root: &SafeRoot,
    config: &Config,
) -> Result<Summary, Error> {
    let mut wire = Wire::new(stream);
    let hello = recv(&mut wire, config).await?;
    let Msg::Hello {
        versions, token, ..
    } = hello
    else {
        return refuse(&mut wire, "bad_request", "the first message must be hello").await;
    };
    let Some(version) = versions
        .iter()
        .copied()
        .filter(|v| VERSIONS.contains(v))
        .max()
    else {
        return refuse(
            &mut wire,
            "unsupported_version",
            &format!("this receiver speaks versions {VERSIONS:?}"),
        )
        .await;
    };
    if let Some(expected) = &config.token {
        let given = token.unwrap_or_default();
        if !prise_core::same_secret(given.as_bytes(), expected.as_bytes()) {
            return refuse(&mut wire, "bad_token", "wrong or missing token (--token)").await;
        }
    }
    wire.send(&Msg::Welcome {
        version,
        server: concat!("prise ", env!("CARGO_PKG_VERSION")).into(),
    })
    .await?;
    let mut summary = Summary::default();
    let mut dirs: Vec<(PathBuf, Option<u32>, Option<i64>)> = Vec::new();
    loop {
        match recv(&mut wire, config).await? {
            Msg::Dir {
                path,
                mode,
                mtime_ns,
            } => {
                let made = {
                    let root = root.clone();
                    let relative = path.clone();
                    tokio::task::spawn_blocking(move || make_dir(&root, &relative))
                        .await
                        .map_err(|e| Error::Setup(e.to_string()))?
                };
                match made {
                    Ok(dir) => {
                        dirs.push((dir, mode, mtime_ns));
                        summary.dirs += 1;
                        wire.send(&Msg::Ok { path, bytes: None }).await?;
                    }
                    Err(refusal) => {
                        summary.failed += 1;
                        wire.send(&refusal.into_msg(path)).await?;
                    }
                }
            }
            Msg::File {
                path,
                size,
                mode,
                mtime_ns,
            } => {
                let outcome =
                    receive_file(&mut wire, root, config, &path, size, mode, mtime_ns).await?;
                let event = match &outcome {
                    Outcome::Received(bytes) => {
                        summary.files += 1;
                        summary.bytes += bytes;
                        EntryEvent::Received {
                            path: &path,
                            bytes: *bytes,
                        }
                    }
                    Outcome::Had => {
                        summary.skipped += 1;
                        EntryEvent::Had { path: &path }
                    }
                    Outcome::Failed(code, text) => {
                        summary.failed += 1;
                        EntryEvent::Refused {
                            path: &path,
                            code,
                            text,
                        }
                    }
                };
                if let Some(hook) = &config.on_entry {
                    (hook.0)(peer, event);
                }
            }
            Msg::Done => break,
            other => {
                let text = format!("unexpected message {other:?}");
                let _ = wire
                    .send(&Msg::Error {
                        code: "protocol".into(),
                        text: text.clone(),
                        path: None,
                    })
                    .await;
                return Err(Error::Protocol(text));
            }
        }
    }
    // Folder times last: writing files into a folder changes its mtime.
    tokio::task::spawn_blocking(move || {
        for (dir, mode, mtime_ns) in dirs.iter().rev() {
            apply_meta_path(dir, *mode, *mtime_ns);
        }
    })
    .await
    .map_err(|e| Error::Setup(e.to_string()))?;
    wire.send(&Msg::Summary {
        files: summary.files,
        dirs: summary.dirs,
        bytes: summary.bytes,
        skipped: summary.skipped,
        failed: summary.failed,
    })
    .await?;
    wire.flush().await?;
    Ok(summary)
}

async fn timed<T>(
    config: &Config,
    future: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(config.idle_timeout, future)
        .await
        .map_err(|_| Error::Protocol("the sender went silent".into()))?
}

/// The sender's next message, within the idle timeout. One that is not a message of the
/// protocol (not JSON, an unknown type, a line too long) ends the session with `bad_request`,
/// which the sender is told.
async fn recv(wire: &mut Wire, config: &Config) -> Result<Msg, Error> {
    match tokio::time::timeout(config.idle_timeout, wire.recv()).await {
        Ok(Err(Error::Protocol(text))) => refuse(wire, "bad_request", &text).await,
        Ok(msg) => msg,
        Err(_) => Err(Error::Protocol("the sender went silent".into())),
    }
}

async fn refuse<T>(wire: &mut Wire, code: &str, text: &str) -> Result<T, Error> {
    let _ = wire
        .send(&Msg::Error {
            code: code.into(),
            text: text.into(),
            path: None,
        })
        .await;
    let _ = wire.flush().await;
    Err(Error::Refused {
        code: code.into(),
        text: text.into(),
    })
}

/// An entry refused, with the code the sender sees.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    text: String,
}

impl Refusal {
    fn new(code: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    fn into_msg(self, path: String) -> Msg {
        Msg::Error {
            code: self.code.into(),
            text: self.text,
            path: Some(path),
        }
    }
}

impl From<prise_core::Error> for Refusal {
    fn from(e: prise_core::Error) -> Self {
        match e {
            prise_core::Error::UnsafePath { .. } => Refusal::new("unsafe_path", e.to_string()),
            other => Refusal::new("io", other.to_string()),
        }
    }
}

fn io_refusal(what: &str, e: &std::io::Error) -> Refusal {
    Refusal::new("io", format!("{what}: {e}"))
}

fn make_dir(root: &SafeRoot, relative: &str) -> Result<PathBuf, Refusal> {
    let dir = root.resolve(relative)?;
    std::fs::create_dir_all(&dir).map_err(|e| io_refusal("creating the folder", &e))?;
    // Created through a path checked component by component; check again that it is a folder
    // inside the root now that it exists.
    let dir = root.resolve(relative)?;
    if !dir.is_dir() {
        return Err(Refusal::new("exists", "a file has that name"));
    }
    Ok(dir)
}

enum Outcome {
    Received(u64),
    Had,
    /// Code and reason.
    Failed(&'static str, String),
}

/// A file about to be received.
struct Incoming {
    target: PathBuf,
    partial: PathBuf,
    file: File,
    hasher: blake3::Hasher,
    offset: u64,
    overwrite: bool,
}

fn mtime_of(ns: i64) -> SystemTime {
    let ns = i128::from(ns);
    let secs = u64::try_from(ns.div_euclid(1_000_000_000)).unwrap_or(0);
    let sub = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::new(secs, sub)
}

fn same_file(meta: &std::fs::Metadata, size: Option<u64>, mtime_ns: Option<i64>) -> bool {
    match (size, mtime_ns, meta.modified()) {
        (Some(size), Some(ns), Ok(modified)) => meta.len() == size && modified == mtime_of(ns),
        _ => false,
    }
}

/// `name (n).ext` beside `target`, the first that does not exist.
fn free_name(target: &Path) -> Result<PathBuf, Refusal> {
    let stem = target
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = target
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    for n in 1..=1000 {
        let candidate = target.with_file_name(format!("{stem} ({n}){ext}"));
        if std::fs::symlink_metadata(&candidate).is_err() {
            return Ok(candidate);
        }
    }
    Err(Refusal::new(
        "exists",
        "no free name left for a renamed copy",
    ))
}

/// Decide what to do with a file header, open its partial file and hash what it holds.
fn prepare(
    root: &SafeRoot,
    config: &Config,
    relative: &str,
    size: Option<u64>,
    mtime_ns: Option<i64>,
) -> Result<Option<Incoming>, Refusal> {
    if let (Some(size), Some(max)) = (size, config.max_size) {
        if size > max {
            return Err(Refusal::new(
                "too_large",
                format!("{size} bytes is over this receiver's limit of {max}"),
            ));
        }
    }
    let mut target = root.resolve(relative)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Refusal::new("unsafe_path", "path names no file"))?;
    let parent = target
        .parent()
        .ok_or_else(|| Refusal::new("unsafe_path", "path names no file"))?
        .to_owned();
    if parent != root.root() {
        std::fs::create_dir_all(&parent).map_err(|e| io_refusal("creating the folder", &e))?;
        // The folders now exist: check the whole path again (symlinks included).
        target = root.resolve(relative)?;
    }
    let mut overwrite = false;
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_file() && same_file(&meta, size, mtime_ns) => return Ok(None),
        Ok(meta) if meta.is_dir() => {
            return Err(Refusal::new("exists", "a folder has that name"));
        }
        Ok(_) => match config.clash {
            Clash::Keep => {
                return Err(Refusal::new(
                    "exists",
                    "a different file has that name (the receiver keeps existing files; see --overwrite, --rename)",
                ))
            }
            Clash::Overwrite => overwrite = true,
            Clash::Rename => target = free_name(&target)?,
        },
        Err(_) => {}
    }
    let partial = parent.join(format!(".{name}{RESUME_SUFFIX}"));
    if let Ok(meta) = std::fs::symlink_metadata(&partial) {
        if !meta.is_file() {
            return Err(Refusal::new(
                "unsafe_path",
                "the partial file's name is taken by something that is not a file",
            ));
        }
    }
    let file = open_nofollow(&partial).map_err(|e| io_refusal("opening the partial file", &e))?;
    // A sender that reconnects right after a cut may find its old session still closing:
    // wait a little for it before calling the file busy.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    while file.try_lock().is_err() {
        if std::time::Instant::now() >= deadline {
            return Err(Refusal::new(
                "busy",
                "another transfer is writing this file right now; try again later",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let held = file
        .metadata()
        .map_err(|e| io_refusal("reading the partial file", &e))?
        .len();
    let mut hasher = blake3::Hasher::new();
    let offset = match size {
        Some(size) if held > 0 && held <= size => {
            hasher
                .update_reader(&file)
                .map_err(|e| io_refusal("reading the partial file", &e))?;
            held
        }
        _ => {
            file.set_len(0)
                .map_err(|e| io_refusal("truncating the partial file", &e))?;
            0
        }
    };
    Ok(Some(Incoming {
        target,
        partial,
        file,
        hasher,
        offset,
        overwrite,
    }))
}

#[cfg(unix)]
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn apply_meta(file: &File, mode: Option<u32>, mtime_ns: Option<i64>) {
    if let Some(ns) = mtime_ns {
        let _ = file.set_times(std::fs::FileTimes::new().set_modified(mtime_of(ns)));
    }
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777));
    }
    #[cfg(not(unix))]
    let _ = mode;
}

/// Give `path` these Unix permission bits and modification time (best effort: a file system
/// that refuses keeps its own).
pub fn apply_meta_path(path: &Path, mode: Option<u32>, mtime_ns: Option<i64>) {
    if let Ok(file) = File::open(path) {
        apply_meta(&file, mode, mtime_ns);
    }
}

/// Starts writing a large file's data to disk while it is still arriving: every
/// [`Flusher::EVERY`] bytes, a helper thread syncs what is written so far (at most one at a
/// time). The sync before the rename then has only the tail left, instead of the whole file at
/// once: the disk works while the network does. (A/B on loopback, 2 GiB, 7 alternating runs:
/// median 621 MB/s with it, 581 without, within this machine's noise; bench/README.md.)
#[derive(Default)]
struct Flusher {
    since: usize,
    running: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    const EVERY: usize = 64 * 1024 * 1024;

    fn wrote(&mut self, file: &File, len: usize) {
        self.since += len;
        if self.since < Self::EVERY || self.running.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        self.since = 0;
        let Ok(file) = file.try_clone() else {
            return;
        };
        self.running = std::thread::Builder::new()
            .name("prise-flush".into())
            .spawn(move || {
                let _ = file.sync_data();
            })
            .ok();
    }

    fn finish(self) {
        if let Some(thread) = self.running {
            let _ = thread.join();
        }
    }
}

/// What the writer thread ends with.
struct Written {
    incoming: Incoming,
    bytes: u64,
    error: Option<std::io::Error>,
}

/// Write chunks to the partial file and hash them, until the channel closes; each buffer goes
/// back through `spent` to be filled again. After a write error the rest is only counted, so
/// the stream stays in step and the sender hears why.
fn writer(
    mut incoming: Incoming,
    mut chunks: tokio::sync::mpsc::Receiver<BytesMut>,
    spent: &tokio::sync::mpsc::UnboundedSender<BytesMut>,
) -> Written {
    let mut bytes = 0;
    let mut error = None;
    if let Err(e) = incoming.file.seek(SeekFrom::Start(incoming.offset)) {
        error = Some(e);
    }
    let mut flusher = Flusher::default();
    while let Some(chunk) = chunks.blocking_recv() {
        bytes += chunk.len() as u64;
        if error.is_none() {
            incoming.hasher.update(&chunk);
            if let Err(e) = incoming.file.write_all(&chunk) {
                error = Some(e);
            }
            flusher.wrote(&incoming.file, chunk.len());
        }
        let _ = spent.send(chunk);
    }
    flusher.finish();
    Written {
        incoming,
        bytes,
        error,
    }
}

/// One file entry, from header to `ok` or `error`. `Err` only when the session cannot go on.
#[allow(clippy::too_many_arguments)]
async fn receive_file(
    wire: &mut Wire,
    root: &SafeRoot,
    config: &Config,
    path: &str,
    size: Option<u64>,
    mode: Option<u32>,
    mtime_ns: Option<i64>,
) -> Result<Outcome, Error> {
    let prepared = {
        let root = root.clone();
        let config = config.clone();
        let relative = path.to_owned();
        tokio::task::spawn_blocking(move || prepare(&root, &config, &relative, size, mtime_ns))
            .await
            .map_err(|e| Error::Setup(e.to_string()))?
    };
    let mut incoming = match prepared {
        Ok(Some(incoming)) => incoming,
        Ok(None) => {
            wire.send(&Msg::Have { path: path.into() }).await?;
            return Ok(Outcome::Had);
        }
        Err(refusal) => {
            tracing::info!(path, code = refusal.code, reason = %refusal.text, "entry refused");
            let failed = Outcome::Failed(refusal.code, refusal.text.clone());
            wire.send(&refusal.into_msg(path.into())).await?;
            return Ok(failed);
        }
    };
    let prefix_blake3 =
        (incoming.offset > 0).then(|| incoming.hasher.finalize().to_hex().to_string());
    wire.send(&Msg::Ready {
        path: path.into(),
        offset: incoming.offset,
        prefix_blake3,
    })
    .await?;
    let offset = match recv(wire, config).await? {
        Msg::Data { offset } if offset == incoming.offset => offset,
        Msg::Data { offset: 0 } => {
            // The sender's file is not what the partial file holds: start over.
            incoming
                .file
                .set_len(0)
                .map_err(|e| Error::io("truncating the partial file", e))?;
            incoming.hasher = blake3::Hasher::new();
            incoming.offset = 0;
            0
        }
        other => {
            return Err(Error::Protocol(format!(
                "expected data from byte {}, got {other:?}",
                incoming.offset
            )))
        }
    };
    let partial = incoming.partial.clone();
    // Buffers go round: filled from the socket here, written and hashed on the blocking
    // thread, sent back empty. At most the channel's capacity plus two exist at a time.
    let (tx, rx) = tokio::sync::mpsc::channel::<BytesMut>(8);
    let (spent_tx, mut spent_rx) = tokio::sync::mpsc::unbounded_channel::<BytesMut>();
    let writing = tokio::task::spawn_blocking(move || writer(incoming, rx, &spent_tx));
    let mut received = 0u64;
    let limit = match (size, config.max_size) {
        (Some(size), _) => Some(size),
        (None, max) => max,
    };
    let streamed: Result<(), Error> = async {
        loop {
            let mut chunk = spent_rx
                .try_recv()
                .unwrap_or_else(|_| BytesMut::with_capacity(crate::wire::CHUNK));
            if !timed(config, wire.recv_chunk_into(&mut chunk)).await? {
                break;
            }
            received += chunk.len() as u64;
            if let Some(l) = limit.filter(|&l| offset + received > l) {
                // A stream over --max-size is refused; more bytes than a file announced is a
                // broken sender.
                let (code, text) = if size.is_some() {
                    ("protocol", format!("more bytes than the {l} announced"))
                } else {
                    (
                        "too_large",
                        format!("over this receiver's limit of {l} bytes"),
                    )
                };
                return Err(Error::Refused {
                    code: code.into(),
                    text,
                });
            }
            if tx.send(chunk).await.is_err() {
                return Err(Error::Setup("the writer thread stopped".into()));
            }
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writing.await.map_err(|e| Error::Setup(e.to_string()))?;
    if let Err(e) = streamed {
        // Cut mid-file: keep what was written for a resume, unless the file is refused.
        let keep = matches!(e, Error::Closed | Error::Io { .. } | Error::Protocol(_))
            && size.is_some()
            && written.error.is_none();
        finish_partial(written.incoming, keep).await;
        if let Error::Refused { code, text } = &e {
            let _ = wire
                .send(&Msg::Error {
                    code: code.clone(),
                    text: text.clone(),
                    path: Some(path.into()),
                })
                .await;
        }
        return Err(e);
    }
    let blake3 = match recv(wire, config).await {
        Ok(Msg::End { blake3 }) => blake3,
        Ok(other) => {
            finish_partial(written.incoming, false).await;
            return Err(Error::Protocol(format!("expected end, got {other:?}")));
        }
        Err(e) => {
            // Cut before the trailer: the bytes are all there, keep them for a resume.
            finish_partial(written.incoming, size.is_some()).await;
            return Err(e);
        }
    };
    let Written {
        incoming,
        bytes,
        error,
    } = written;
    let total = offset + bytes;
    let failure = if let Some(e) = error {
        Some(Refusal::new("io", format!("writing {path}: {e}")))
    } else if size.is_some_and(|s| s != total) {
        Some(Refusal::new(
            "protocol",
            format!("{total} bytes sent for a {}-byte file", size.unwrap_or(0)),
        ))
    } else if incoming.hasher.finalize().to_hex().as_str() != blake3 {
        Some(Refusal::new(
            "hash_mismatch",
            "the contents do not match the sender's BLAKE3: the file was rejected",
        ))
    } else {
        None
    };
    if let Some(refusal) = failure {
        tracing::warn!(path, code = refusal.code, reason = %refusal.text, "file rejected");
        finish_partial(incoming, false).await;
        let failed = Outcome::Failed(refusal.code, refusal.text.clone());
        wire.send(&refusal.into_msg(path.into())).await?;
        return Ok(failed);
    }
    let committed = tokio::task::spawn_blocking(move || commit(incoming, mode, mtime_ns))
        .await
        .map_err(|e| Error::Setup(e.to_string()))?;
    match committed {
        Ok(()) => {
            tracing::info!(path, bytes = total, "received");
            wire.send(&Msg::Ok {
                path: path.into(),
                bytes: Some(bytes),
            })
            .await?;
            Ok(Outcome::Received(bytes))
        }
        Err(refusal) => {
            let _ = std::fs::remove_file(&partial);
            let failed = Outcome::Failed(refusal.code, refusal.text.clone());
            wire.send(&refusal.into_msg(path.into())).await?;
            Ok(failed)
        }
    }
}

/// Keep the partial file (synced, for a resume) or remove it.
async fn finish_partial(incoming: Incoming, keep: bool) {
    let _ = tokio::task::spawn_blocking(move || {
        if keep {
            let _ = incoming.file.sync_data();
        } else {
            let _ = std::fs::remove_file(&incoming.partial);
        }
    })
    .await;
}

/// Sync, set times and permissions, and move the verified file to its name.
fn commit(incoming: Incoming, mode: Option<u32>, mtime_ns: Option<i64>) -> Result<(), Refusal> {
    let Incoming {
        target,
        partial,
        file,
        overwrite,
        ..
    } = incoming;
    file.sync_all()
        .map_err(|e| io_refusal("syncing the file", &e))?;
    apply_meta(&file, mode, mtime_ns);
    if overwrite {
        std::fs::rename(&partial, &target).map_err(|e| io_refusal("renaming into place", &e))?;
    } else {
        // A hard link fails if the name exists: no clobbering a file that appeared meanwhile.
        std::fs::hard_link(&partial, &target).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Refusal::new(
                    "exists",
                    "a file with that name appeared during the transfer",
                )
            } else {
                io_refusal("linking into place", &e)
            }
        })?;
        std::fs::remove_file(&partial).map_err(|e| io_refusal("removing the partial file", &e))?;
    }
    drop(file);
    if let Some(dir) = target.parent() {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
