//! prise backup's messages, on prise send's framing (docs/PROTOCOL-backup.md).

use serde::{Deserialize, Serialize};

pub use crate::store::ChangedEntry;
use crate::store::{Checked, Forgotten, Manifest, SnapshotInfo};

/// Versions this build speaks. Version 2 adds `manifest_delta` and `need_full`.
pub const VERSIONS: &[u32] = &[1, 2];

/// Longest control line: a manifest lists every file and chunk of a tree on one line (64 MiB:
/// about 300,000 files; also what one client can make the server hold).
pub const MAX_MANIFEST: usize = 64 * 1024 * 1024;

/// Most hashes in one `want` or `get`.
pub const MAX_HASHES: usize = 1024;

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Client's first message.
    Hello {
        /// Versions the client speaks.
        versions: Vec<u32>,
        /// The server's token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// `push`, `list` or `restore`.
        op: String,
        /// The backup's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Push, version 2: the snapshot the client's `manifest_delta` will name as its
        /// parent, so the server reads it while the client walks its tree.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
    },
    /// Server's answer to a good hello.
    Welcome {
        /// The version chosen.
        version: u32,
        /// The server's name and version.
        server: String,
    },
    /// Client: which of these chunks does the store lack?
    Want {
        /// BLAKE3 hashes, hex.
        hashes: Vec<String>,
    },
    /// Server: these.
    Missing {
        /// BLAKE3 hashes, hex.
        hashes: Vec<String>,
    },
    /// One chunk's bytes follow as a frame.
    Chunk {
        /// Its BLAKE3, hex.
        hash: String,
        /// Its length.
        size: u64,
    },
    /// Client: the snapshot (push); server: a stored snapshot (restore).
    Manifest {
        /// The snapshot.
        manifest: Manifest,
    },
    /// Client (version 2): the snapshot as changes to an earlier one of the same name, so an
    /// unchanged tree costs a few bytes instead of its whole file list.
    ManifestDelta {
        /// The snapshot it changes (the client's last push).
        parent: String,
        /// Paths of the parent that are gone.
        removed: Vec<String>,
        /// Entries that are new or differ from the parent's.
        changed: Vec<ChangedEntry>,
        /// BLAKE3 (hex) of the whole new entry list as JSON, in canonical order: the server
        /// checks that its merge gives exactly what the client meant.
        entries_blake3: String,
    },
    /// Server (version 2): the parent is unknown or the merge differs: send the whole
    /// `manifest` instead.
    NeedFull {
        /// Why, for the log.
        text: String,
    },
    /// Server: the snapshot is stored.
    Snapshot {
        /// Its id.
        id: String,
        /// Files in it.
        files: u64,
        /// Bytes in its files.
        bytes: u64,
        /// Chunks this push added to the store.
        new_chunks: u64,
        /// Bytes this push added to the store.
        new_bytes: u64,
    },
    /// Server: the snapshots.
    Snapshots {
        /// Oldest first.
        snapshots: Vec<SnapshotInfo>,
    },
    /// Client: a snapshot's manifest, or the latest.
    GetManifest {
        /// Its id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// Client: send me these chunks.
    Get {
        /// BLAKE3 hashes, hex.
        hashes: Vec<String>,
    },
    /// Client: keep the last `keep_last` snapshots, remove the rest and the chunks nothing
    /// references.
    Forget {
        /// Snapshots kept.
        keep_last: u64,
    },
    /// Server: what a forget removed.
    Forgotten {
        /// The counts.
        #[serde(flatten)]
        done: Forgotten,
    },
    /// Server: what a check found.
    Checked {
        /// The findings.
        #[serde(flatten)]
        found: Checked,
    },
    /// Client: the session is over.
    Done,
    /// Refused or failed.
    Error {
        /// Machine-readable code.
        code: String,
        /// For people.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::{EntryKind, ManifestEntry};
    use proptest::prelude::*;

    fn file(chunks: Vec<String>) -> ManifestEntry {
        ManifestEntry {
            path: "f".into(),
            kind: EntryKind::File,
            size: Some(1),
            mode: None,
            mtime_ns: None,
            chunks,
        }
    }

    proptest! {
        /// Whatever the two chunk lists, the patch rebuilds the new one exactly.
        #[test]
        fn a_diff_applied_to_its_parent_gives_the_entry_back(
            old in proptest::collection::vec("[a-d]", 0..12),
            new in proptest::collection::vec("[a-d]", 0..12),
        ) {
            let (before, now) = (file(old), file(new));
            let change = ChangedEntry::diff(Some(&before), &now);
            prop_assert!(change.entry.chunks.len() <= now.chunks.len());
            prop_assert_eq!(change.apply(Some(&before)), Some(now));
        }
    }

    #[test]
    fn one_changed_chunk_in_a_long_list_travels_alone() {
        let old: Vec<String> = (0..640).map(|i| format!("{i}")).collect();
        let mut new = old.clone();
        new[300] = "changed".into();
        let change = ChangedEntry::diff(Some(&file(old.clone())), &file(new.clone()));
        assert_eq!((change.keep_head, change.keep_tail), (300, 339));
        assert_eq!(change.entry.chunks, ["changed"]);
        let json = serde_json::to_string(&change).unwrap();
        assert!(json.contains("\"keep_head\":300"), "{json}");
        let back: ChangedEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back.apply(Some(&file(old))), Some(file(new)));
    }

    #[test]
    fn kept_counts_beyond_the_parent_are_refused() {
        let change = ChangedEntry {
            entry: file(vec![]),
            keep_head: 2,
            keep_tail: 2,
        };
        assert_eq!(change.clone().apply(Some(&file(vec!["a".into(); 3]))), None);
        assert_eq!(change.apply(None), None);
    }
}
