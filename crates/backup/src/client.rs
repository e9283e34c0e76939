//! The client side: push a folder, list snapshots, restore one.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prise_core::fs::AtomicFile;
use prise_core::net::{connect, ConnectOptions};
use prise_core::path::SafeRoot;
use prise_files::send::{plan_with, Kind, Source};
use prise_files::wire::Wire;

use crate::proto::{ChangedEntry, Msg, MAX_HASHES, MAX_MANIFEST, VERSIONS};
use crate::store::{
    canonical_order, check_entries, entries_digest, EntryKind, Manifest, ManifestEntry,
    SnapshotInfo,
};
use crate::{Error, CHUNK_AVG, CHUNK_MAX, CHUNK_MIN};

/// How the client connects.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connection and TLS.
    pub connect: ConnectOptions,
    /// The server's token.
    pub token: Option<String>,
    /// Wait this long for an answer.
    pub reply_timeout: Duration,
    /// Where [`push`] keeps its index (docs/PROTOCOL-backup.md, "Client index"): files whose
    /// size, mtime and inode are unchanged since the last push are not read again. `None`: no
    /// index, every file is read.
    pub index: Option<PathBuf>,
    /// What [`push`] leaves out: see [`Exclude`].
    pub exclude: Exclude,
}

/// Paths a push leaves out, by glob (`*`, `?`, `[abc]`, `**`), rsync style: a pattern without
/// `/` matches a file or folder name at any depth (`*.tmp`, `node_modules`); a pattern with `/`
/// matches the path from the folder pushed (`build/*.o`, `/cache`); a trailing `/` matches
/// folders only (`logs/`). What a folder excluded holds is not walked.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    names: Option<globset::GlobSet>,
    paths: Option<globset::GlobSet>,
    dir_names: Option<globset::GlobSet>,
    dir_paths: Option<globset::GlobSet>,
}

impl Exclude {
    /// Compile `patterns`.
    ///
    /// # Errors
    /// [`Error::Refused`] `bad_pattern` for a pattern that is not a glob.
    pub fn new(patterns: &[String]) -> Result<Self, Error> {
        let mut sets: [globset::GlobSetBuilder; 4] =
            std::array::from_fn(|_| globset::GlobSetBuilder::new());
        let mut used = [false; 4];
        for pattern in patterns {
            let (body, dirs_only) = match pattern.strip_suffix('/') {
                Some(body) => (body, true),
                None => (pattern.as_str(), false),
            };
            let anchored = body.contains('/');
            let body = body.trim_start_matches('/');
            let glob = globset::GlobBuilder::new(body)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    Error::refused("bad_pattern", format!("--exclude {pattern:?}: {e}"))
                })?;
            let slot = usize::from(anchored) + 2 * usize::from(dirs_only);
            sets[slot].add(glob);
            used[slot] = true;
        }
        let mut built = sets.into_iter().zip(used).map(|(set, used)| {
            used.then(|| set.build())
                .transpose()
                .map_err(|e| Error::refused("bad_pattern", e.to_string()))
        });
        let mut next = || built.next().unwrap_or(Ok(None));
        Ok(Self {
            names: next()?,
            paths: next()?,
            dir_names: next()?,
            dir_paths: next()?,
        })
    }

    /// Whether `relative` (from the folder pushed, `/`-separated) is left out.
    pub fn excludes(&self, relative: &str, is_dir: bool) -> bool {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let hit = |set: &Option<globset::GlobSet>, what: &str| {
            set.as_ref().is_some_and(|s| s.is_match(what))
        };
        hit(&self.names, name)
            || hit(&self.paths, relative)
            || (is_dir && (hit(&self.dir_names, name) || hit(&self.dir_paths, relative)))
    }
}

impl Config {
    /// Defaults: plain TCP, no token.
    pub fn new() -> Self {
        Self {
            connect: ConnectOptions::new("backup"),
            token: None,
            reply_timeout: Duration::from_secs(120),
            index: None,
            exclude: Exclude::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Connect and say hello: the wire and the protocol version the server chose.
async fn open(
    addr: &str,
    config: &Config,
    op: &str,
    name: Option<&str>,
    parent: Option<&str>,
) -> Result<(Wire, u32), Error> {
    let stream = connect(addr, &config.connect)
        .await
        .map_err(|e| Error::refused("connect", e.to_string()))?;
    let mut wire = Wire::new(stream).with_max_line(MAX_MANIFEST);
    wire.send_json(&Msg::Hello {
        versions: VERSIONS.to_vec(),
        token: config.token.clone(),
        op: op.into(),
        name: name.map(str::to_owned),
        parent: parent.map(str::to_owned),
    })
    .await?;
    match reply(&mut wire, config).await? {
        Msg::Welcome { version, .. } => Ok((wire, version)),
        other => Err(unexpected(other, "welcome")),
    }
}

async fn reply(wire: &mut Wire, config: &Config) -> Result<Msg, Error> {
    match tokio::time::timeout(config.reply_timeout, wire.recv_json()).await {
        Ok(msg) => Ok(msg?),
        Err(_) => Err(Error::Protocol("the server did not answer".into())),
    }
}

fn unexpected(msg: Msg, wanted: &str) -> Error {
    match msg {
        Msg::Error { code, text } => Error::Refused { code, text },
        other => Error::Protocol(format!("expected {wanted}, got {other:?}")),
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// The new snapshot's id.
    pub id: String,
    /// Files in the snapshot.
    pub files: u64,
    /// Bytes in its files.
    pub bytes: u64,
    /// Chunks sent (the store lacked them).
    pub chunks_sent: u64,
    /// Bytes of chunk contents sent.
    pub bytes_sent: u64,
    /// Bytes the store added (less than `bytes_sent` when another push stored the same
    /// chunks meanwhile).
    pub new_bytes: u64,
    /// Files read and cut into chunks (the others were unchanged since the last push, by the
    /// index).
    pub files_read: u64,
    /// Protocol bytes the client wrote: chunks, the manifest and every control line (before
    /// TLS).
    pub wire_sent: u64,
    /// Protocol bytes the client read from the server (before TLS).
    pub wire_received: u64,
    /// Milliseconds.
    pub millis: u64,
    /// What was left out (symlinks, non-UTF-8 names), with why.
    pub skipped: Vec<String>,
}

/// The client's index (docs/PROTOCOL-backup.md, "Client index"): the last push's snapshot,
/// its entries, and each file's inode. Kept in two files: the entries and inodes in one (large,
/// rewritten only when they change) and the snapshot id in a small `.head` beside it; both
/// carry the same `generation`, so a pair from different pushes is not mistaken for one.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Index {
    /// The snapshot the last push made: what the next push's `manifest_delta` changes.
    #[serde(skip)]
    snapshot: String,
    /// Ties the two files together.
    generation: u64,
    /// Its entries, in canonical order.
    entries: Vec<ManifestEntry>,
    /// Each file's inode, by path.
    inodes: HashMap<String, u64>,
}

/// The index's small file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct IndexHead {
    generation: u64,
    snapshot: String,
}

fn head_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

fn load_index(path: Option<&Path>) -> Index {
    // A missing, damaged or mismatched pair (or an index from an older build) is ignored: that
    // push reads every file.
    let Some(path) = path else {
        return Index::default();
    };
    let head: Option<IndexHead> = std::fs::read(head_path(path))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let body: Option<Index> = std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    match (head, body) {
        (Some(head), Some(mut body)) if head.generation == body.generation => {
            body.snapshot = head.snapshot;
            body
        }
        _ => Index::default(),
    }
}

/// Write `next` at `path`; the large file only if its contents differ from `before`'s. A
/// cache: not synced. Lost or cut short by a crash, it does not parse (or the generations
/// differ) and the next push reads every file.
fn save_index(path: &Path, before: &Index, mut next: Index) -> Result<(), Error> {
    let write = |path: &Path, bytes: &[u8]| -> Result<(), Error> {
        let mut file = AtomicFile::create(path)?;
        file.write_all(bytes)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        file.commit_unsynced(true)?;
        Ok(())
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    let unchanged =
        before.generation != 0 && before.entries == next.entries && before.inodes == next.inodes;
    if unchanged {
        next.generation = before.generation;
    } else {
        next.generation = fastrand::u64(1..);
        let body = serde_json::to_vec(&next).map_err(|e| Error::Protocol(e.to_string()))?;
        write(path, &body)?;
    }
    let head = IndexHead {
        generation: next.generation,
        snapshot: next.snapshot,
    };
    let head = serde_json::to_vec(&head).map_err(|e| Error::Protocol(e.to_string()))?;
    write(&head_path(path), &head)
}

/// What the chunking thread produces.
enum Piece {
    /// A chunk of the current file.
    Chunk(String, Bytes),
    /// Every entry, in order, with each file's chunk list: the manifest's body.
    Done(Vec<ManifestEntry>),
}

/// What the chunking thread ends with: what it skipped, each file's inode, files read.
type Chunked = (Vec<String>, HashMap<String, u64>, u64);

/// Cut every file under `dir` that changed since `index` into chunks and send them through
/// `out`, then the entries in canonical order.
fn chunker(
    (entries, skipped): &Planned,
    index: &Index,
    out: &tokio::sync::mpsc::Sender<Result<Piece, Error>>,
) -> Result<Chunked, Error> {
    let skipped = skipped.clone();
    let known: HashMap<&str, &ManifestEntry> = index
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| (e.path.as_str(), e))
        .collect();
    let mut manifest = Vec::new();
    let mut inodes = HashMap::new();
    let mut read = 0u64;
    // Paths are relative to `dir` itself: drop its own entry and its name.
    for entry in entries.iter().skip(1) {
        let path = entry
            .path
            .split_once('/')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default();
        let mut item = ManifestEntry {
            path,
            kind: EntryKind::Dir,
            size: None,
            mode: entry.mode,
            mtime_ns: entry.mtime_ns,
            chunks: Vec::new(),
        };
        if let Kind::File(local) = &entry.kind {
            item.kind = EntryKind::File;
            // The walk's metadata: an unchanged file is not even opened.
            let size = entry.size.unwrap_or(0);
            inodes.insert(item.path.clone(), entry.inode);
            let unchanged = known.get(item.path.as_str()).filter(|k| {
                k.size == Some(size)
                    && k.mtime_ns == entry.mtime_ns
                    && index.inodes.get(&item.path) == Some(&entry.inode)
            });
            if let Some(known) = unchanged {
                // Unchanged since the last push: its chunks are known, nothing is read.
                item.size = Some(size);
                item.chunks.clone_from(&known.chunks);
                manifest.push(item);
                continue;
            }
            let file = std::fs::File::open(local)
                .map_err(|e| Error::io(format!("reading {}", local.display()), e))?;
            read += 1;
            let mut size = 0u64;
            for chunk in fastcdc::v2020::StreamCDC::new(file, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX) {
                let chunk = chunk.map_err(|e| {
                    Error::io(
                        format!("reading {}", local.display()),
                        std::io::Error::other(e),
                    )
                })?;
                let hash = blake3::hash(&chunk.data).to_hex().to_string();
                size += chunk.length as u64;
                item.chunks.push(hash.clone());
                if out
                    .blocking_send(Ok(Piece::Chunk(hash, Bytes::from(chunk.data))))
                    .is_err()
                {
                    return Ok((skipped, inodes, read));
                }
            }
            item.size = Some(size);
        }
        manifest.push(item);
    }
    canonical_order(&mut manifest);
    let _ = out.blocking_send(Ok(Piece::Done(manifest)));
    Ok((skipped, inodes, read))
}

/// Push `dir` as a new snapshot of `name`: only chunks the store lacks travel, and with an
/// index ([`Config::index`]) only files changed since the last push are read. Should the store
/// lack a chunk the index promised (the server lost or pruned it), the push is done again
/// reading every file.
///
/// # Errors
/// [`Error::Refused`] (token, name, a chunk the server rejects), [`Error::Io`] for local
/// files, [`Error::Wire`] when the connection fails.
pub async fn push(
    addr: &str,
    dir: &Path,
    name: &str,
    config: &Config,
) -> Result<PushReport, Error> {
    // The walk and the index load at once: neither needs the other.
    let started = Instant::now();
    let walking = {
        let dir = dir.to_owned();
        let exclude = config.exclude.clone();
        tokio::task::spawn_blocking(move || {
            plan_with(&[Source::Path(dir)], &|path, is_dir| {
                exclude.excludes(path, is_dir)
            })
        })
    };
    let index = {
        let path = config.index.clone();
        tokio::task::spawn_blocking(move || load_index(path.as_deref()))
    };
    let planned = walking
        .await
        .map_err(|e| Error::Protocol(format!("walking the tree: {e}")))??;
    let index = Arc::new(
        index
            .await
            .map_err(|e| Error::Protocol(format!("loading the index: {e}")))?,
    );
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        "tree walked, index loaded"
    );
    let planned = Arc::new(planned);
    let indexed = !index.entries.is_empty();
    let once = push_once(addr, name, config, &index, &planned).await;
    let (report, next) = match once {
        Err(Error::Refused { code, .. }) if indexed && code == "missing_chunk" => {
            tracing::info!(
                "the store lacks chunks the index knew; pushing again, reading every file"
            );
            push_once(addr, name, config, &Arc::new(Index::default()), &planned).await?
        }
        other => other?,
    };
    if let Some(path) = &config.index {
        save_index(path, &index, next)?;
        tracing::debug!(ms = started.elapsed().as_millis(), "index written");
    }
    Ok(report)
}

/// The walk's result: entries and what was skipped.
type Planned = (Vec<prise_files::send::Entry>, Vec<String>);

async fn push_once(
    addr: &str,
    name: &str,
    config: &Config,
    index: &Arc<Index>,
    planned: &Arc<Planned>,
) -> Result<(PushReport, Index), Error> {
    let started = Instant::now();
    let (mut wire, version) = open(
        addr,
        config,
        "push",
        Some(name),
        Some(index.snapshot.as_str()).filter(|s| !s.is_empty()),
    )
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Piece, Error>>(64);
    let chunking = {
        let index = Arc::clone(index);
        let planned = Arc::clone(planned);
        tokio::task::spawn_blocking(move || {
            let result = chunker(&planned, &index, &tx);
            if let Err(e) = &result {
                let _ = tx.blocking_send(Err(Error::Protocol(e.to_string())));
            }
            result
        })
    };
    let mut report = PushReport::default();
    let mut batch: Vec<(String, Bytes)> = Vec::new();
    // A chunk seen earlier in this push is offered once at most, and one the last snapshot
    // has is not offered at all: the store keeps what its snapshots name. (Should it have lost
    // one, the manifest is refused with missing_chunk and the push starts over without the
    // index.)
    let known: HashSet<&str> = index
        .entries
        .iter()
        .flat_map(|e| e.chunks.iter().map(String::as_str))
        .collect();
    let mut queued: HashSet<String> = HashSet::new();
    let entries = loop {
        let piece = rx.recv().await;
        let done = match piece {
            Some(Ok(Piece::Chunk(hash, bytes))) => {
                if !known.contains(hash.as_str()) && queued.insert(hash.clone()) {
                    batch.push((hash, bytes));
                }
                None
            }
            Some(Ok(Piece::Done(entries))) => Some(entries),
            Some(Err(_)) | None => {
                let why = chunking
                    .await
                    .map_err(|e| Error::Protocol(e.to_string()))?
                    .err()
                    .unwrap_or_else(|| Error::Protocol("the chunking thread stopped".into()));
                return Err(why);
            }
        };
        if batch.len() >= 64 || (done.is_some() && !batch.is_empty()) {
            send_batch(&mut wire, config, &mut batch, &mut report).await?;
        }
        if let Some(entries) = done {
            break entries;
        }
    };
    let (skipped, inodes, read) = chunking
        .await
        .map_err(|e| Error::Protocol(e.to_string()))??;
    report.skipped = skipped;
    report.files_read = read;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        "tree walked and chunks sent"
    );
    let answer = if version >= 2 && !index.snapshot.is_empty() {
        // Only what differs from the last push: a few bytes for an unchanged tree.
        wire.send_json(&delta(index, &entries)?).await?;
        match reply(&mut wire, config).await? {
            Msg::NeedFull { text } => {
                tracing::info!("the server needs the whole manifest: {text}");
                wire.send_json(&full_manifest(name, &entries)).await?;
                reply(&mut wire, config).await?
            }
            other => other,
        }
    } else {
        wire.send_json(&full_manifest(name, &entries)).await?;
        reply(&mut wire, config).await?
    };
    tracing::debug!(ms = started.elapsed().as_millis(), "snapshot stored");
    match answer {
        Msg::Snapshot {
            id,
            files,
            bytes,
            new_bytes,
            ..
        } => {
            report.id = id;
            report.files = files;
            report.bytes = bytes;
            report.new_bytes = new_bytes;
        }
        other => return Err(unexpected(other, "snapshot")),
    }
    report.wire_sent = wire.bytes_sent();
    report.wire_received = wire.bytes_received();
    report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let next = Index {
        snapshot: report.id.clone(),
        generation: 0,
        entries,
        inodes,
    };
    Ok((report, next))
}

/// The `manifest` message: every entry.
fn full_manifest(name: &str, entries: &[ManifestEntry]) -> Msg {
    Msg::Manifest {
        manifest: Manifest {
            version: crate::store::MANIFEST_VERSION,
            name: name.into(),
            id: String::new(),
            time: String::new(),
            entries: entries.to_vec(),
            files: 0,
            bytes: 0,
        },
    }
}

/// The `manifest_delta` that turns the last push's entries into `entries` (both in canonical
/// order).
fn delta(index: &Index, entries: &[ManifestEntry]) -> Result<Msg, Error> {
    let before: HashMap<&str, &ManifestEntry> =
        index.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let now: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    Ok(Msg::ManifestDelta {
        parent: index.snapshot.clone(),
        removed: index
            .entries
            .iter()
            .filter(|e| !now.contains(e.path.as_str()))
            .map(|e| e.path.clone())
            .collect(),
        changed: entries
            .iter()
            .filter(|e| before.get(e.path.as_str()) != Some(e))
            .map(|e| ChangedEntry::diff(before.get(e.path.as_str()).copied(), e))
            .collect(),
        entries_blake3: entries_digest(entries)?,
    })
}

async fn send_batch(
    wire: &mut Wire,
    config: &Config,
    batch: &mut Vec<(String, Bytes)>,
    report: &mut PushReport,
) -> Result<(), Error> {
    let hashes: Vec<String> = batch.iter().map(|(h, _)| h.clone()).collect();
    wire.send_json(&Msg::Want { hashes }).await?;
    let missing: HashSet<String> = match reply(wire, config).await? {
        Msg::Missing { hashes } => hashes.into_iter().collect(),
        other => return Err(unexpected(other, "missing")),
    };
    for (hash, bytes) in batch.drain(..) {
        if missing.contains(&hash) {
            wire.send_json(&Msg::Chunk {
                hash,
                size: bytes.len() as u64,
            })
            .await?;
            wire.send_chunk(&bytes).await?;
            report.chunks_sent += 1;
            report.bytes_sent += bytes.len() as u64;
        }
    }
    Ok(())
}

/// The snapshots of `name` (or of every backup), oldest first.
///
/// # Errors
/// As [`push`].
pub async fn list(
    addr: &str,
    name: Option<&str>,
    config: &Config,
) -> Result<Vec<SnapshotInfo>, Error> {
    let (mut wire, _) = open(addr, config, "list", name, None).await?;
    match reply(&mut wire, config).await? {
        Msg::Snapshots { snapshots } => Ok(snapshots),
        other => Err(unexpected(other, "snapshots")),
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub id: String,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Restore snapshot `id` (or the latest) of `name` into `dest` (created if needed). Every path
/// is checked again here; every chunk's hash is checked as it arrives; each file appears under
/// its name only once complete. Existing files of the same names are replaced.
///
/// # Errors
/// [`Error::Refused`] (`no_such_snapshot`, `unsafe_path`, `bad_chunk`), [`Error::Io`],
/// [`Error::Wire`].
pub async fn restore(
    addr: &str,
    name: &str,
    id: Option<&str>,
    dest: &Path,
    config: &Config,
) -> Result<RestoreReport, Error> {
    std::fs::create_dir_all(dest)
        .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
    let root = SafeRoot::new(dest)?;
    let (mut wire, _) = open(addr, config, "restore", Some(name), None).await?;
    wire.send_json(&Msg::GetManifest {
        id: id.map(str::to_owned),
    })
    .await?;
    let manifest = match reply(&mut wire, config).await? {
        Msg::Manifest { manifest } => manifest,
        other => return Err(unexpected(other, "manifest")),
    };
    check_entries(&manifest.entries)?;
    let mut report = RestoreReport {
        id: manifest.id.clone(),
        ..RestoreReport::default()
    };
    let mut buf = BytesMut::new();
    for entry in &manifest.entries {
        let target = resolve(&root, &entry.path)?;
        if entry.kind == EntryKind::Dir {
            std::fs::create_dir_all(&target)
                .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
        }
        // The folders exist now: check the whole path once more.
        let target = resolve(&root, &entry.path)?;
        let mut file = AtomicFile::create(&target)?;
        let mut written = 0u64;
        for hashes in entry.chunks.chunks(MAX_HASHES) {
            wire.send_json(&Msg::Get {
                hashes: hashes.to_vec(),
            })
            .await?;
            for hash in hashes {
                match reply(&mut wire, config).await? {
                    Msg::Chunk { hash: got, .. } if &got == hash => {}
                    other => return Err(unexpected(other, "chunk")),
                }
                if !wire.recv_chunk_into(&mut buf).await? {
                    return Err(Error::Protocol("empty chunk frame".into()));
                }
                if blake3::hash(&buf).to_hex().as_str() != hash {
                    return Err(Error::refused(
                        "bad_chunk",
                        format!("{}: a chunk does not match its hash", entry.path),
                    ));
                }
                file.write_all(&buf)
                    .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
                written += buf.len() as u64;
            }
        }
        if entry.size.is_some_and(|s| s != written) {
            return Err(Error::refused(
                "bad_request",
                format!("{}: the chunks do not add up to its size", entry.path),
            ));
        }
        file.commit(true)?;
        prise_files::receive::apply_meta_path(&target, entry.mode, entry.mtime_ns);
        report.files += 1;
        report.bytes += written;
    }
    // Folder times last: writing into a folder changes its time.
    for entry in manifest.entries.iter().rev() {
        if entry.kind == EntryKind::Dir {
            let target = resolve(&root, &entry.path)?;
            prise_files::receive::apply_meta_path(&target, entry.mode, entry.mtime_ns);
        }
    }
    wire.send_json(&Msg::Done).await?;
    Ok(report)
}

fn resolve(root: &SafeRoot, path: &str) -> Result<PathBuf, Error> {
    root.resolve(path)
        .map_err(|e| Error::refused("unsafe_path", e.to_string()))
}

/// Keep the last `keep_last` snapshots of `name`; the server removes the others and then the
/// chunks no snapshot references.
///
/// # Errors
/// As [`push`].
pub async fn forget(
    addr: &str,
    name: &str,
    keep_last: u64,
    config: &Config,
) -> Result<crate::store::Forgotten, Error> {
    let (mut wire, _) = open(addr, config, "forget", Some(name), None).await?;
    wire.send_json(&Msg::Forget { keep_last }).await?;
    match reply(&mut wire, config).await? {
        Msg::Forgotten { done } => Ok(done),
        other => Err(unexpected(other, "forgotten")),
    }
}

/// Have the server read every chunk and check it, and look for chunks snapshots lack.
///
/// # Errors
/// As [`push`].
pub async fn check(addr: &str, config: &Config) -> Result<crate::store::Checked, Error> {
    let (mut wire, _) = open(addr, config, "check", None, None).await?;
    match reply(&mut wire, config).await? {
        Msg::Checked { found } => Ok(found),
        other => Err(unexpected(other, "checked")),
    }
}
