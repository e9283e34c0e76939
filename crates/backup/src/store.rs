//! The server's store: chunks by BLAKE3 hash, written back to back into pack files, and one
//! manifest per snapshot (docs/PROTOCOL-backup.md, "Store layout"). Blocking calls: the server
//! runs them on blocking threads.
//!
//! Why packs: one file per chunk made a first push of 10,000 small files cost 20,000 file
//! creations and renames, and ext4's inode allocation dominated (5x rsync's time). A pack holds
//! up to [`PACK_BYTES`] of chunks; an index file beside it lists each chunk's place. The whole
//! index is kept in memory (about 100 bytes per chunk), so looking a chunk up costs no system
//! call.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

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
    let order =
        |a: &ManifestEntry, b: &ManifestEntry| a.path.bytes().map(key).cmp(b.path.bytes().map(key));
    // Mostly already in order (a stored snapshot, a sorted walk): one pass to find out.
    if !entries.is_sorted_by(|a, b| order(a, b).is_le()) {
        entries.sort_by(order);
    }
}

/// BLAKE3 (hex) of `entries` as JSON: what `manifest_delta`'s `entries_blake3` names.
///
/// # Errors
/// [`Error::Protocol`] if they cannot be serialized.
pub fn entries_digest(entries: &[ManifestEntry]) -> Result<String, Error> {
    let json = serde_json::to_vec(entries).map_err(|e| Error::Protocol(e.to_string()))?;
    Ok(blake3::hash(&json).to_hex().to_string())
}

/// Whether `hash` is 64 lowercase hex digits.
pub fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A chunk's BLAKE3, as bytes.
type Hash = [u8; 32];

fn parse_hash(hex: &str) -> Option<Hash> {
    if !is_hash(hex) {
        return None;
    }
    blake3::Hash::from_hex(hex).ok().map(|h| *h.as_bytes())
}

fn to_hex(hash: &Hash) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// A push commits its pack when it reaches this size (and at its end).
pub const PACK_BYTES: u64 = 64 * 1024 * 1024;

/// Where a chunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// In pack number `pack` of [`Index::packs`].
    Packed { pack: u32, offset: u64, len: u32 },
    /// A file of its own under `chunks/` (stores written by earlier builds).
    Loose,
}

/// The chunk index, in memory.
#[derive(Debug, Default)]
struct Index {
    chunks: HashMap<Hash, Loc>,
    /// Pack ids by number; a removed pack's slot is empty.
    packs: Vec<String>,
}

/// A new pack: its id and its chunks (hash, offset, length).
type PackWritten = (String, Vec<(Hash, u64, u32)>);

/// A pack's index file, `packs/ID.idx`.
#[derive(Debug, Serialize, Deserialize)]
struct PackIndex {
    version: u32,
    /// Hash (hex), offset, length.
    chunks: Vec<(String, u64, u32)>,
}

/// The chunks a push has written into its pack so far, waiting for [`Store::commit`].
/// Dropped uncommitted, its temporary file is removed.
#[derive(Debug, Default)]
pub struct Pending {
    file: Option<tempfile::NamedTempFile>,
    written: Vec<(Hash, u64, u32)>,
    hashes: HashSet<Hash>,
    bytes: u64,
}

impl Pending {
    /// Bytes staged.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// The store folder.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    index: RwLock<Index>,
}

impl Store {
    /// Open (creating its folders) the store at `root`: read every pack index, and remove what
    /// a crash left (temporary files, a pack whose index was never written).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Protocol`] for an index file that does not parse.
    pub fn open(root: &Path) -> Result<Self, Error> {
        for sub in ["packs", "snapshots"] {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|e| Error::io(format!("creating {}", root.join(sub).display()), e))?;
        }
        let store = Self {
            root: root.to_owned(),
            index: RwLock::new(Index::default()),
        };
        let mut index = Index::default();
        let packs = root.join("packs");
        let mut names = read_names_all(&packs)?;
        names.sort();
        for name in &names {
            if name.starts_with('.') && name.ends_with(prise_core::fs::PARTIAL_SUFFIX) {
                let _ = std::fs::remove_file(packs.join(name));
            } else if let Some(id) = name.strip_suffix(".pack") {
                if !names.contains(&format!("{id}.idx")) {
                    // Renamed into place, but the crash came before its index: nothing names it.
                    let _ = std::fs::remove_file(packs.join(name));
                }
            } else if let Some(id) = name.strip_suffix(".idx") {
                if names.contains(&format!("{id}.pack")) {
                    let chunks = store.read_pack_index(id)?;
                    index.add_pack(id, &chunks);
                }
            }
        }
        // Stores written by earlier builds: one file per chunk.
        let loose = root.join("chunks");
        for prefix in read_names(&loose)? {
            let dir = loose.join(prefix);
            for name in read_names_all(&dir)? {
                if let Some(hash) = parse_hash(&name) {
                    index.chunks.entry(hash).or_insert(Loc::Loose);
                } else if name.ends_with(prise_core::fs::PARTIAL_SUFFIX) {
                    let _ = std::fs::remove_file(dir.join(name));
                }
            }
        }
        *store.index.write().map_err(|_| poisoned())? = index;
        Ok(store)
    }

    fn pack_path(&self, id: &str, ext: &str) -> PathBuf {
        self.root.join("packs").join(format!("{id}.{ext}"))
    }

    fn loose_path(&self, hash: &str) -> PathBuf {
        self.root.join("chunks").join(&hash[..2]).join(hash)
    }

    fn read_pack_index(&self, id: &str) -> Result<Vec<(Hash, u64, u32)>, Error> {
        let path = self.pack_path(id, "idx");
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let index: PackIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("pack index {}: {e}", path.display())))?;
        index
            .chunks
            .into_iter()
            .map(|(hash, offset, len)| {
                parse_hash(&hash).map(|h| (h, offset, len)).ok_or_else(|| {
                    Error::Protocol(format!("pack index {}: bad hash", path.display()))
                })
            })
            .collect()
    }

    /// Whether the chunk is stored (and its pack or file is there).
    pub fn has(&self, hash: &str) -> bool {
        self.lacking([hash]).is_empty()
    }

    /// The hashes of `hashes` the store lacks: not indexed, or in a pack or file that is gone.
    /// Each pack's file is looked at once per call, so a manifest naming 20,000 chunks costs a
    /// few system calls.
    pub fn lacking<'a>(&self, hashes: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let Ok(index) = self.index.read() else {
            return hashes.into_iter().collect();
        };
        let mut packs: HashMap<u32, bool> = HashMap::new();
        hashes
            .into_iter()
            .filter(|hex| {
                let present = match parse_hash(hex).and_then(|h| index.chunks.get(&h)) {
                    None => false,
                    Some(Loc::Packed { pack, .. }) => *packs.entry(*pack).or_insert_with(|| {
                        index
                            .packs
                            .get(*pack as usize)
                            .is_some_and(|id| self.pack_path(id, "pack").is_file())
                    }),
                    Some(Loc::Loose) => self.loose_path(hex).is_file(),
                };
                !present
            })
            .collect()
    }

    /// Check that `bytes` hash to `hash` and, unless the store or `pending` has the chunk
    /// already, append it to the push's pack (a temporary file, not synced). It is stored
    /// only at [`Store::commit`]. Returns whether it was new.
    ///
    /// # Errors
    /// [`Error::Refused`] `hash_mismatch`, [`Error::Io`].
    pub fn stage(&self, hash: &str, bytes: &[u8], pending: &mut Pending) -> Result<bool, Error> {
        let computed = blake3::hash(bytes);
        let Some(key) = parse_hash(hash).filter(|h| h == computed.as_bytes()) else {
            return Err(Error::refused(
                "hash_mismatch",
                "a chunk's bytes do not match its hash",
            ));
        };
        if pending.hashes.contains(&key) || self.has(hash) {
            return Ok(false);
        }
        self.append(key, bytes, pending)?;
        Ok(true)
    }

    /// Append a chunk (its hash checked already) to `pending`'s pack.
    fn append(&self, key: Hash, bytes: &[u8], pending: &mut Pending) -> Result<(), Error> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| Error::refused("bad_request", "chunk over 4 GiB"))?;
        let file = match &mut pending.file {
            Some(file) => file,
            None => {
                let dir = self.root.join("packs");
                let file = tempfile::Builder::new()
                    .prefix(".pack.")
                    .suffix(prise_core::fs::PARTIAL_SUFFIX)
                    .tempfile_in(&dir)
                    .map_err(|e| {
                        Error::io(format!("creating a temporary file in {}", dir.display()), e)
                    })?;
                pending.file.insert(file)
            }
        };
        std::io::Write::write_all(file, bytes)
            .map_err(|e| Error::io(format!("writing {}", file.path().display()), e))?;
        pending.written.push((key, pending.bytes, len));
        pending.hashes.insert(key);
        pending.bytes += u64::from(len);
        Ok(())
    }

    /// Make the push's pack durable and index it: sync it, rename it into place, write its
    /// index file (synced, with the folder). A chunk the index names is always on disk; a
    /// crash before this leaves a temporary file, or a pack without an index, which
    /// [`Store::open`] removes.
    ///
    /// # Errors
    /// [`Error::Io`] (the pack is removed).
    pub fn commit(&self, pending: &mut Pending) -> Result<(), Error> {
        if let Some((id, written)) = self.write_pack(pending)? {
            self.index
                .write()
                .map_err(|_| poisoned())?
                .add_pack(&id, &written);
        }
        Ok(())
    }

    /// The file work of [`Store::commit`]: the new pack's id and chunks, if it has any.
    fn write_pack(&self, pending: &mut Pending) -> Result<Option<PackWritten>, Error> {
        let written = std::mem::take(&mut pending.written);
        pending.hashes.clear();
        pending.bytes = 0;
        let Some(file) = pending.file.take() else {
            return Ok(None);
        };
        if written.is_empty() {
            return Ok(None);
        }
        let id = format!("{:032x}", fastrand::u128(..));
        let pack = self.pack_path(&id, "pack");
        file.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("syncing {}", file.path().display()), e))?;
        file.persist_noclobber(&pack)
            .map_err(|e| Error::io(format!("renaming into {}", pack.display()), e.error))?;
        let listed = PackIndex {
            version: 1,
            chunks: written
                .iter()
                .map(|(h, offset, len)| (to_hex(h), *offset, *len))
                .collect(),
        };
        let json = serde_json::to_vec(&listed).map_err(|e| Error::Protocol(e.to_string()))?;
        // Synced, and so is the folder: both renames are durable past this line.
        if let Err(e) = prise_core::fs::write_atomic(&self.pack_path(&id, "idx"), &json) {
            let _ = std::fs::remove_file(&pack);
            return Err(e.into());
        }
        Ok(Some((id, written)))
    }

    /// A chunk's bytes, checked against its hash.
    ///
    /// # Errors
    /// [`Error::Refused`] `missing_chunk` or `bad_chunk`, [`Error::Io`].
    pub fn get(&self, hash: &str) -> Result<Vec<u8>, Error> {
        let Some(key) = parse_hash(hash) else {
            return Err(Error::refused("bad_request", "not a chunk hash"));
        };
        let missing =
            || Error::refused("missing_chunk", format!("chunk {hash} is not in the store"));
        let place = {
            let index = self.index.read().map_err(|_| poisoned())?;
            match index.chunks.get(&key) {
                None => return Err(missing()),
                Some(Loc::Loose) => None,
                Some(Loc::Packed { pack, offset, len }) => Some((
                    index.packs.get(*pack as usize).cloned().unwrap_or_default(),
                    *offset,
                    *len,
                )),
            }
        };
        let read = match &place {
            None => std::fs::read(self.loose_path(hash)),
            Some((id, offset, len)) => read_at(&self.pack_path(id, "pack"), *offset, *len),
        };
        let bytes = read.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                missing()
            } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::refused(
                    "bad_chunk",
                    format!("chunk {hash} is cut short in the store (prise backup check)"),
                )
            } else {
                Error::io(format!("reading chunk {hash}"), e)
            }
        })?;
        if blake3::hash(&bytes).as_bytes() != &key {
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
        changed: Vec<ChangedEntry>,
        digest: &str,
    ) -> Result<Option<Vec<ManifestEntry>>, Error> {
        let mut entries = base.entries;
        if !removed.is_empty() || !changed.is_empty() {
            // Replacements in place, additions at the end; a lookup table only for the paths
            // that change (an unchanged tree of 10,000 files costs no map at all).
            let at: HashMap<&str, usize> = entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.path.as_str(), i))
                .collect();
            let gone: HashSet<usize> = removed
                .iter()
                .filter_map(|p| at.get(p.as_str()).copied())
                .collect();
            let mut updates = Vec::with_capacity(changed.len());
            for change in changed {
                let slot = at.get(change.entry.path.as_str()).copied();
                let Some(entry) = change.apply(slot.map(|i| &entries[i])) else {
                    return Ok(None);
                };
                updates.push((slot, entry));
            }
            drop(at);
            let mut added = Vec::new();
            for (slot, entry) in updates {
                match slot {
                    Some(i) => entries[i] = entry,
                    None => added.push(entry),
                }
            }
            let mut i = 0;
            entries.retain(|_| {
                i += 1;
                !gone.contains(&(i - 1))
            });
            entries.extend(added);
        }
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
    fn referenced(&self) -> Result<HashSet<String>, Error> {
        let mut used = HashSet::new();
        for info in self.list(None)? {
            for entry in self.load(&info.name, Some(&info.id))?.entries {
                used.extend(entry.chunks);
            }
        }
        Ok(used)
    }

    /// Keep the last `keep_last` snapshots of `name`, remove the others, then every chunk no
    /// snapshot references: a pack with nothing left in use is removed, a pack partly in use is
    /// rewritten with only what is used. Packs younger than [`PRUNE_GRACE`] are left alone (a
    /// push in progress may count on their chunks), and so is a pack with a damaged chunk in
    /// use (`check` reports it).
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
        let used: HashSet<Hash> = self
            .referenced()?
            .iter()
            .filter_map(|h| parse_hash(h))
            .collect();
        let now = std::time::SystemTime::now();
        let young = |path: &Path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age < PRUNE_GRACE)
        };
        // Pushes wait while the index changes under them.
        let mut index = self.index.write().map_err(|_| poisoned())?;
        for number in 0..index.packs.len() {
            let id = index.packs[number].clone();
            let pack = self.pack_path(&id, "pack");
            if id.is_empty() || young(&pack) {
                continue;
            }
            let number32 = u32::try_from(number).unwrap_or(u32::MAX);
            // Whether the index points at this copy (another pack may hold the live one).
            let (keep, unused): (Vec<_>, Vec<_>) = self
                .read_pack_index(&id)?
                .into_iter()
                .map(|(hash, offset, len)| {
                    let here = index.chunks.get(&hash)
                        == Some(&Loc::Packed {
                            pack: number32,
                            offset,
                            len,
                        });
                    (hash, offset, len, here)
                })
                .partition(|(hash, _, _, here)| *here && used.contains(hash));
            if unused.is_empty() {
                continue;
            }
            let mut pending = Pending::default();
            let mut damaged = false;
            for (hash, offset, len, _) in &keep {
                let bytes = read_at(&pack, *offset, *len)
                    .map_err(|e| Error::io(format!("reading {}", pack.display()), e))?;
                if blake3::hash(&bytes).as_bytes() != hash {
                    damaged = true;
                    break;
                }
                self.append(*hash, &bytes, &mut pending)?;
            }
            if damaged {
                tracing::warn!(pack = %id, "a chunk in use is damaged: pack left as it is");
                continue;
            }
            if let Some((new_id, written)) = self.write_pack(&mut pending)? {
                index.add_pack(&new_id, &written);
            }
            for (hash, _, len, here) in &unused {
                if *here {
                    index.chunks.remove(hash);
                }
                done.chunks += 1;
                done.bytes += u64::from(*len);
            }
            index.packs[number].clear();
            // The index first: a pack without one is removed at the next start.
            for ext in ["idx", "pack"] {
                let path = self.pack_path(&id, ext);
                std::fs::remove_file(&path)
                    .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            }
        }
        let loose: Vec<Hash> = index
            .chunks
            .iter()
            .filter(|(h, loc)| **loc == Loc::Loose && !used.contains(*h))
            .map(|(h, _)| *h)
            .collect();
        for hash in loose {
            let path = self.loose_path(&to_hex(&hash));
            if young(&path) {
                continue;
            }
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            index.chunks.remove(&hash);
            done.chunks += 1;
            done.bytes += size;
        }
        Ok(done)
    }

    /// Read every chunk and compare its bytes with its hash; find chunks snapshots reference
    /// and the store lacks.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn check(&self) -> Result<Checked, Error> {
        let (packs, loose): (Vec<String>, Vec<Hash>) = {
            let index = self.index.read().map_err(|_| poisoned())?;
            (
                index
                    .packs
                    .iter()
                    .filter(|id| !id.is_empty())
                    .cloned()
                    .collect(),
                index
                    .chunks
                    .iter()
                    .filter(|(_, loc)| **loc == Loc::Loose)
                    .map(|(h, _)| *h)
                    .collect(),
            )
        };
        let mut checked = Checked::default();
        for id in packs {
            let pack = self.pack_path(&id, "pack");
            if !pack.is_file() {
                continue; // its chunks show as missing below
            }
            for (hash, offset, len) in self.read_pack_index(&id)? {
                checked.chunks += 1;
                let good = read_at(&pack, offset, len)
                    .is_ok_and(|bytes| blake3::hash(&bytes).as_bytes() == &hash);
                if !good {
                    checked.bad.push(to_hex(&hash));
                }
            }
        }
        for hash in loose {
            let hex = to_hex(&hash);
            let Ok(bytes) = std::fs::read(self.loose_path(&hex)) else {
                continue;
            };
            checked.chunks += 1;
            if blake3::hash(&bytes).as_bytes() != &hash {
                checked.bad.push(hex);
            }
        }
        let referenced = self.referenced()?;
        let mut missing: Vec<String> = self
            .lacking(referenced.iter().map(String::as_str))
            .into_iter()
            .map(str::to_owned)
            .collect();
        missing.sort();
        checked.bad.sort();
        checked.missing = missing;
        Ok(checked)
    }
}

impl Index {
    /// Index pack `id`'s chunks (a chunk already indexed elsewhere now points here: the newest
    /// copy is known to be on disk).
    fn add_pack(&mut self, id: &str, chunks: &[(Hash, u64, u32)]) {
        let pack = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
        self.packs.push(id.to_owned());
        for (hash, offset, len) in chunks {
            self.chunks.insert(
                *hash,
                Loc::Packed {
                    pack,
                    offset: *offset,
                    len: *len,
                },
            );
        }
    }
}

fn poisoned() -> Error {
    Error::Protocol("a store thread failed while holding the index".into())
}

/// `len` bytes at `offset` of the file at `path`.
fn read_at(path: &Path, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut bytes = vec![0; len as usize];
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Every name in `dir`, hidden ones included; none if it does not exist.
fn read_names_all(dir: &Path) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let items = match std::fs::read_dir(dir) {
        Ok(items) => items,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    for item in items {
        let item = item.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        if let Some(name) = item.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The names in `dir` not starting with `.`; none if it does not exist.
fn read_names(dir: &Path) -> Result<Vec<String>, Error> {
    let mut names = read_names_all(dir)?;
    names.retain(|name| !name.starts_with('.'));
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

/// An entry of a `manifest_delta`. A file whose path the parent has may give only the middle of
/// its chunk list: its chunks are the parent's first `keep_head`, then `chunks`, then the
/// parent's last `keep_tail`. A 10 MiB file changed in one place costs a hash or two, not
/// hundreds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedEntry {
    /// The entry (with only the middle of its chunk list when `keep_head` or `keep_tail`).
    #[serde(flatten)]
    pub entry: ManifestEntry,
    /// Chunks kept from the start of the parent's list for this path.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_head: u64,
    /// Chunks kept from the end of the parent's list for this path.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keep_tail: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ChangedEntry {
    /// `now` as a change to `before` (the parent's entry of the same path, if any): the chunks
    /// both lists start and end with are left out.
    pub fn diff(before: Option<&ManifestEntry>, now: &ManifestEntry) -> Self {
        let mut entry = now.clone();
        let (mut head, mut tail) = (0, 0);
        if let Some(before) = before.filter(|b| b.kind == now.kind) {
            let (old, new) = (&before.chunks, &now.chunks);
            head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
            let most = old.len().min(new.len()) - head;
            tail = old[head..]
                .iter()
                .rev()
                .zip(new[head..].iter().rev())
                .take(most)
                .take_while(|(a, b)| a == b)
                .count();
            entry.chunks = new[head..new.len() - tail].to_vec();
        }
        Self {
            entry,
            keep_head: head as u64,
            keep_tail: tail as u64,
        }
    }

    /// The whole entry, given the parent's entry of the same path. `None` if the kept counts
    /// do not fit the parent's list.
    pub fn apply(self, before: Option<&ManifestEntry>) -> Option<ManifestEntry> {
        let mut entry = self.entry;
        if self.keep_head == 0 && self.keep_tail == 0 {
            return Some(entry);
        }
        let old = &before?.chunks;
        let head = usize::try_from(self.keep_head).ok()?;
        let tail = usize::try_from(self.keep_tail).ok()?;
        if head.checked_add(tail)? > old.len() {
            return None;
        }
        let middle = std::mem::take(&mut entry.chunks);
        entry.chunks = old[..head]
            .iter()
            .cloned()
            .chain(middle)
            .chain(old[old.len() - tail..].iter().cloned())
            .collect();
        Some(entry)
    }
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
