//! The server's store: chunks by BLAKE3 hash, one manifest per snapshot
//! (docs/PROTOCOL-backup.md, "Store layout"). Blocking calls: the server runs them on
//! blocking threads.

use std::path::{Path, PathBuf};

use prise_core::path::SafeRoot;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative, `/`-separated.
    pub path: String,
    /// `dir` or `file`.
    pub kind: EntryKind,
    /// File size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Unix permission bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Modification time, nanoseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
    /// The file's chunks, in order (BLAKE3, hex).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A folder.
    Dir,
    /// A file.
    File,
}

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The backup's name.
    pub name: String,
    /// The snapshot's id (set by the server).
    #[serde(default)]
    pub id: String,
    /// When the server stored it, RFC 3339.
    #[serde(default)]
    pub time: String,
    /// Folders and files.
    pub entries: Vec<ManifestEntry>,
    /// Files in it.
    #[serde(default)]
    pub files: u64,
    /// Bytes in its files.
    #[serde(default)]
    pub bytes: u64,
}

/// A snapshot as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The backup's name.
    pub name: String,
    /// What `--snapshot` takes.
    pub id: String,
    /// When it was stored.
    pub time: String,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Whether `name` can name a backup: 1 to 64 bytes of letters, digits, `.`, `_`, `-`, not
/// starting with `.`.
///
/// # Errors
/// [`Error::Refused`] with code `bad_name`.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::refused(
            "bad_name",
            "a backup name is 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'",
        ))
    }
}

/// Put entries in the canonical order: by path, component by component, so a folder comes
/// right before what it holds. Client and server both use it for `manifest_delta`.
pub fn canonical_order(entries: &mut [ManifestEntry]) {
    // Byte order with '/' below every other byte is the same order, without splitting.
    let key = |b: u8| if b == b'/' { 0 } else { u16::from(b) + 1 };
    entries.sort_by(|a, b| a.path.bytes().map(key).cmp(b.path.bytes().map(key)));
}

/// BLAKE3 (hex) of `entries` as JSON: what `manifest_delta`'s `entries_blake3` names.
///
/// # Errors
/// [`Error::Protocol`] if they cannot be serialized.
pub fn entries_digest(entries: &[ManifestEntry]) -> Result<String, Error> {
    let json = serde_json::to_vec(entries).map_err(|e| Error::Protocol(e.to_string()))?;
    Ok(blake3::hash(&json).to_hex().to_string())
}

/// The chunks folder, open, to look chunks up by a short relative path.
struct ChunkDir {
    #[cfg(unix)]
    dir: Option<std::fs::File>,
    path: PathBuf,
}

impl ChunkDir {
    fn open(path: &Path) -> Self {
        Self {
            #[cfg(unix)]
            dir: std::fs::File::open(path).ok(),
            path: path.to_owned(),
        }
    }

    /// Whether `hash` (already checked to be a hash) is a regular file in the folder.
    fn has(&self, hash: &str) -> bool {
        let relative = format!("{}/{hash}", &hash[..2]);
        #[cfg(unix)]
        if let Some(dir) = &self.dir {
            return rustix::fs::statat(dir, relative.as_str(), rustix::fs::AtFlags::empty())
                .is_ok_and(|st| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode)
                        == rustix::fs::FileType::RegularFile
                });
        }
        self.path.join(relative).is_file()
    }
}

/// Whether `hash` is 64 lowercase hex digits.
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Chunks a push has written to temporary files, waiting for [`Store::commit`]. Dropped
/// uncommitted, its temporary files are removed.
#[derive(Debug, Default)]
pub struct Pending {
    items: Vec<(tempfile::TempPath, PathBuf)>,
    hashes: std::collections::HashSet<String>,
    bytes: u64,
}

impl Pending {
    /// Chunks staged.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes staged.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// The store folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating its folders) the store at `root`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn open(root: &Path) -> Result<Self, Error> {
        for sub in ["chunks", "snapshots"] {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|e| Error::io(format!("creating {}", root.join(sub).display()), e))?;
        }
        let store = Self {
            root: root.to_owned(),
        };
        store.remove_partials()?;
        Ok(store)
    }

    /// Remove the temporary chunk files a crash left (no session runs yet when the store is
    /// opened).
    fn remove_partials(&self) -> Result<(), Error> {
        let chunks = self.root.join("chunks");
        for prefix in read_names(&chunks)? {
            let dir = chunks.join(prefix);
            let Ok(items) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in items.flatten() {
                let name = item.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(prise_core::fs::PARTIAL_SUFFIX) {
                    let _ = std::fs::remove_file(item.path());
                }
            }
        }
        Ok(())
    }

    fn chunk_path(&self, hash: &str) -> PathBuf {
        self.root.join("chunks").join(&hash[..2]).join(hash)
    }

    /// Whether the chunk is stored.
    pub fn has(&self, hash: &str) -> bool {
        is_hash(hash) && self.chunk_path(hash).is_file()
    }

    /// The hashes of `hashes` the store lacks. For many hashes at once: the chunks folder is
    /// opened once and each chunk looked up from it, which is about half the cost of
    /// [`Store::has`] per hash (a manifest of 10,000 files names 10,000 chunks or more).
    pub fn lacking<'a>(&self, hashes: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let chunks = ChunkDir::open(&self.root.join("chunks"));
        hashes
            .into_iter()
            .filter(|h| !is_hash(h) || !chunks.has(h))
            .collect()
    }

    /// Check that `bytes` hash to `hash` and, unless the store or `pending` has the chunk
    /// already, write it to a temporary file beside its place, without syncing. It appears
    /// under its name only at [`Store::commit`]. Returns whether it was new.
    ///
    /// # Errors
    /// [`Error::Refused`] `hash_mismatch`, [`Error::Io`].
    pub fn stage(&self, hash: &str, bytes: &[u8], pending: &mut Pending) -> Result<bool, Error> {
        if !is_hash(hash) || blake3::hash(bytes).to_hex().as_str() != hash {
            return Err(Error::refused(
                "hash_mismatch",
                "a chunk's bytes do not match its hash",
            ));
        }
        if pending.hashes.contains(hash) || self.has(hash) {
            return Ok(false);
        }
        let path = self.chunk_path(hash);
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{hash}."))
            .suffix(prise_core::fs::PARTIAL_SUFFIX)
            .tempfile_in(dir)
            .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
        std::io::Write::write_all(&mut file, bytes)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        // Closed now (a batch may hold thousands); the path still removes itself if dropped.
        pending.items.push((file.into_temp_path(), path));
        pending.hashes.insert(hash.to_owned());
        pending.bytes += bytes.len() as u64;
        Ok(true)
    }

    /// Make every staged chunk durable and put it under its name: one sync of the file system
    /// for the whole batch, the renames, then one more sync for the folders. A chunk under its
    /// name is always complete and on disk; a crash before this leaves only temporary files,
    /// which [`Store::open`] removes.
    ///
    /// # Errors
    /// [`Error::Io`] (the batch's temporary files are removed).
    pub fn commit(&self, pending: &mut Pending) -> Result<(), Error> {
        if pending.items.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut pending.items);
        pending.hashes.clear();
        pending.bytes = 0;
        self.sync(items.iter().map(|(temp, _)| temp.as_ref()))?;
        for (temp, path) in items {
            if let Err(e) = temp.persist_noclobber(&path) {
                // Another push stored the same chunk meanwhile: same bytes, keep theirs.
                if !path.is_file() {
                    return Err(Error::io(
                        format!("renaming into {}", path.display()),
                        e.error,
                    ));
                }
            }
        }
        self.sync(std::iter::empty())
    }

    /// Flush the store's file system (Linux: `syncfs`), or else each of `files` and the
    /// chunk folders.
    #[cfg(target_os = "linux")]
    fn sync<'a>(&self, _files: impl Iterator<Item = &'a Path>) -> Result<(), Error> {
        let root = std::fs::File::open(&self.root)
            .map_err(|e| Error::io(format!("opening {}", self.root.display()), e))?;
        rustix::fs::syncfs(&root)
            .map_err(|e| Error::io(format!("syncing {}", self.root.display()), e.into()))
    }

    /// See the Linux version.
    #[cfg(not(target_os = "linux"))]
    fn sync<'a>(&self, files: impl Iterator<Item = &'a Path>) -> Result<(), Error> {
        for file in files {
            std::fs::File::open(file)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("syncing {}", file.display()), e))?;
        }
        let chunks = self.root.join("chunks");
        for prefix in read_names(&chunks)? {
            if let Ok(dir) = std::fs::File::open(chunks.join(prefix)) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }

    /// Store one chunk at once: [`Store::stage`] then [`Store::commit`].
    ///
    /// # Errors
    /// As those.
    pub fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, Error> {
        let mut pending = Pending::default();
        let added = self.stage(hash, bytes, &mut pending)?;
        self.commit(&mut pending)?;
        Ok(added)
    }

    /// A chunk's bytes, checked against its hash.
    ///
    /// # Errors
    /// [`Error::Refused`] `missing_chunk` or `bad_chunk`, [`Error::Io`].
    pub fn get(&self, hash: &str) -> Result<Vec<u8>, Error> {
        if !is_hash(hash) {
            return Err(Error::refused("bad_request", "not a chunk hash"));
        }
        let bytes = std::fs::read(self.chunk_path(hash)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::refused("missing_chunk", format!("chunk {hash} is not in the store"))
            } else {
                Error::io(format!("reading chunk {hash}"), e)
            }
        })?;
        if blake3::hash(&bytes).to_hex().as_str() != hash {
            return Err(Error::refused(
                "bad_chunk",
                format!("chunk {hash} is damaged in the store (prise backup check)"),
            ));
        }
        Ok(bytes)
    }

    fn snapshots_dir(&self, name: &str) -> PathBuf {
        self.root.join("snapshots").join(name)
    }

    /// Check a manifest from a client (paths, chunks present), give it an id and a time, and
    /// store it. Returns it as stored.
    ///
    /// # Errors
    /// [`Error::Refused`] (`bad_name`, `unsafe_path`, `missing_chunk`), [`Error::Io`].
    pub fn save(&self, mut manifest: Manifest) -> Result<Manifest, Error> {
        check_name(&manifest.name)?;
        check_entries(&manifest.entries)?;
        let named = manifest
            .entries
            .iter()
            .flat_map(|e| e.chunks.iter().map(String::as_str));
        if let Some(hash) = self.lacking(named).first() {
            let path = manifest
                .entries
                .iter()
                .find(|e| e.chunks.iter().any(|h| h == hash))
                .map_or("", |e| e.path.as_str());
            return Err(Error::refused(
                "missing_chunk",
                format!("{path}: chunk {hash} was never sent"),
            ));
        }
        let now = std::time::SystemTime::now();
        // Milliseconds in the id, so ids sort by time even for pushes in the same second.
        let stamp = humantime::format_rfc3339_millis(now).to_string();
        let compact: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
        manifest.version = MANIFEST_VERSION;
        manifest.id = format!("{compact}-{:04x}", fastrand::u16(..));
        manifest.time = humantime::format_rfc3339_millis(now).to_string();
        let files: Vec<&ManifestEntry> = manifest
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .collect();
        manifest.files = files.len() as u64;
        manifest.bytes = files.iter().filter_map(|e| e.size).sum();
        let dir = self.snapshots_dir(&manifest.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Protocol(e.to_string()))?;
        prise_core::fs::write_atomic(&dir.join(format!("{}.json", manifest.id)), &bytes)?;
        Ok(manifest)
    }

    /// The entries of `base` (the snapshot a `manifest_delta` names as its parent) with
    /// `removed` taken out and `changed` put in, in canonical order, if they hash to `digest`.
    /// `Ok(None)`: the result differs from what the client meant (it sends the whole manifest
    /// then).
    ///
    /// # Errors
    /// [`Error::Protocol`] if the entries cannot be serialized.
    pub fn apply_delta(
        base: Manifest,
        removed: &[String],
        changed: Vec<crate::proto::ChangedEntry>,
        digest: &str,
    ) -> Result<Option<Vec<ManifestEntry>>, Error> {
        let mut merged: std::collections::HashMap<String, ManifestEntry> = base
            .entries
            .into_iter()
            .map(|e| (e.path.clone(), e))
            .collect();
        for path in removed {
            merged.remove(path);
        }
        for change in changed {
            let before = merged.get(&change.entry.path);
            let Some(entry) = change.apply(before) else {
                return Ok(None);
            };
            merged.insert(entry.path.clone(), entry);
        }
        let mut entries: Vec<ManifestEntry> = merged.into_values().collect();
        canonical_order(&mut entries);
        Ok((entries_digest(&entries)? == digest).then_some(entries))
    }

    /// The snapshots of `name` (or of every name), oldest first.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Refused`] `bad_name`.
    pub fn list(&self, name: Option<&str>) -> Result<Vec<SnapshotInfo>, Error> {
        let names: Vec<String> = match name {
            Some(name) => {
                check_name(name)?;
                vec![name.to_owned()]
            }
            None => {
                let mut names: Vec<String> = read_names(&self.root.join("snapshots"))?;
                names.sort();
                names
            }
        };
        let mut out: Vec<SnapshotInfo> = Vec::new();
        for name in names {
            let mut ids = read_names(&self.snapshots_dir(&name)).unwrap_or_default();
            ids.retain(|f| f.ends_with(".json"));
            ids.sort();
            for file in ids {
                // Only the counts: the entries are skipped, not built.
                let path = self.snapshots_dir(&name).join(&file);
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                let head: SnapshotInfo = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Protocol(format!("manifest {}: {e}", path.display())))?;
                out.push(head);
            }
        }
        // Oldest first: by stored time (RFC 3339 in UTC sorts as text), then id.
        out.sort_by(|a, b| (&a.name, &a.time, &a.id).cmp(&(&b.name, &b.time, &b.id)));
        Ok(out)
    }

    /// A snapshot of `name`: `id`, or the latest.
    ///
    /// # Errors
    /// [`Error::Refused`] `no_such_snapshot` or `bad_name`, [`Error::Io`].
    pub fn load(&self, name: &str, id: Option<&str>) -> Result<Manifest, Error> {
        check_name(name)?;
        let id = match id {
            Some(id) => {
                if id.starts_with('.')
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    return Err(Error::refused(
                        "no_such_snapshot",
                        "no snapshot has that id",
                    ));
                }
                id.to_owned()
            }
            None => self.list(Some(name))?.pop().map(|s| s.id).ok_or_else(|| {
                Error::refused("no_such_snapshot", format!("{name} has no snapshot"))
            })?,
        };
        let path = self.snapshots_dir(name).join(format!("{id}.json"));
        if !path.is_file() {
            return Err(Error::refused(
                "no_such_snapshot",
                format!("{name} has no snapshot {id}"),
            ));
        }
        self.load_file(&path)
    }

    fn load_file(&self, path: &Path) -> Result<Manifest, Error> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("manifest {}: {e}", path.display())))
    }
}

/// What a forget removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    /// Snapshots removed.
    pub snapshots: u64,
    /// Chunks removed (no snapshot referenced them).
    pub chunks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// Chunks read.
    pub chunks: u64,
    /// Chunks whose bytes do not match their name.
    pub bad: Vec<String>,
    /// Chunks a snapshot references that the store lacks.
    pub missing: Vec<String>,
}

/// Chunks younger than this are never pruned: a push in progress has sent them and not yet
/// its manifest.
pub const PRUNE_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

impl Store {
    /// Every chunk hash some snapshot (of any name) references.
    fn referenced(&self) -> Result<std::collections::HashSet<String>, Error> {
        let mut used = std::collections::HashSet::new();
        for info in self.list(None)? {
            for entry in self.load(&info.name, Some(&info.id))?.entries {
                used.extend(entry.chunks);
            }
        }
        Ok(used)
    }

    /// Every chunk file in the store: hash and path.
    fn chunk_files(&self) -> Result<Vec<(String, PathBuf)>, Error> {
        let mut out = Vec::new();
        let chunks = self.root.join("chunks");
        for prefix in read_names(&chunks)? {
            for name in read_names(&chunks.join(&prefix))? {
                if is_hash(&name) {
                    out.push((name.clone(), chunks.join(&prefix).join(name)));
                }
            }
        }
        Ok(out)
    }

    /// Keep the last `keep_last` snapshots of `name`, remove the others, then remove every
    /// chunk no snapshot references (except chunks younger than [`PRUNE_GRACE`]).
    ///
    /// # Errors
    /// [`Error::Refused`] `bad_name`, [`Error::Io`].
    pub fn forget(&self, name: &str, keep_last: usize) -> Result<Forgotten, Error> {
        let snapshots = self.list(Some(name))?;
        let mut done = Forgotten::default();
        let cut = snapshots.len().saturating_sub(keep_last);
        for info in &snapshots[..cut] {
            let path = self.snapshots_dir(name).join(format!("{}.json", info.id));
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            done.snapshots += 1;
        }
        let used = self.referenced()?;
        let now = std::time::SystemTime::now();
        for (hash, path) in self.chunk_files()? {
            if used.contains(&hash) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let young = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age < PRUNE_GRACE);
            if young {
                continue;
            }
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            done.chunks += 1;
            done.bytes += meta.len();
        }
        Ok(done)
    }

    /// Read every chunk and compare its bytes with its name; find chunks snapshots reference
    /// and the store lacks.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn check(&self) -> Result<Checked, Error> {
        let mut checked = Checked::default();
        for (hash, path) in self.chunk_files()? {
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            checked.chunks += 1;
            if blake3::hash(&bytes).to_hex().as_str() != hash {
                checked.bad.push(hash);
            }
        }
        let mut missing: Vec<String> = self
            .referenced()?
            .into_iter()
            .filter(|h| !self.has(h))
            .collect();
        missing.sort();
        checked.missing = missing;
        Ok(checked)
    }
}

fn read_names(dir: &Path) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let items = match std::fs::read_dir(dir) {
        Ok(items) => items,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    for item in items {
        let item = item.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        if let Some(name) = item.file_name().to_str() {
            if !name.starts_with('.') {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// Every path is a safe relative path, and every file's chunks are hashes.
///
/// # Errors
/// [`Error::Refused`] `unsafe_path` or `bad_request`.
pub fn check_entries(entries: &[ManifestEntry]) -> Result<(), Error> {
    for entry in entries {
        SafeRoot::check_relative(&entry.path)
            .map_err(|e| Error::refused("unsafe_path", e.to_string()))?;
        if entry.chunks.iter().any(|h| !is_hash(h)) {
            return Err(Error::refused(
                "bad_request",
                format!("{}: a chunk is not a hash", entry.path),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_puts_a_folder_right_before_what_it_holds() {
        let mut entries: Vec<ManifestEntry> = ["ab", "a-c", "a/b-c", "a/b/d", "a", "a/b/c", "a/b"]
            .iter()
            .map(|p| ManifestEntry {
                path: (*p).to_owned(),
                kind: EntryKind::File,
                size: None,
                mode: None,
                mtime_ns: None,
                chunks: Vec::new(),
            })
            .collect();
        canonical_order(&mut entries);
        let order: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(order, ["a", "a/b", "a/b/c", "a/b/d", "a/b-c", "a-c", "ab"]);
    }
}
