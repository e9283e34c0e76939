//! prise backup over real sockets on 127.0.0.1: only changed content travels, every snapshot
//! restores identical, hostile manifests and a wrong token are refused.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use prise_backup::client::{self, Config};
use prise_backup::server;
use prise_backup::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "backup-token";

struct Server {
    addr: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

async fn start(store: &Path) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut config = server::Config::new(store.to_owned());
    config.token = Some(TOKEN.into());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server::run(listener, config, shutdown.clone()));
    Server {
        addr,
        shutdown,
        task,
    }
}

impl Server {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn config() -> Config {
    let mut config = Config::new();
    config.token = Some(TOKEN.into());
    config
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Every file under `root` with its contents' hash and mode; every folder.
fn listing(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for item in std::fs::read_dir(dir).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            }
            out.push(path);
        }
    }
    let mut paths = Vec::new();
    walk(root, &mut paths);
    let mut out: Vec<String> = paths
        .iter()
        .map(|p| {
            use std::os::unix::fs::PermissionsExt;
            let relative = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::metadata(p).unwrap();
            if meta.is_dir() {
                format!("dir {relative}")
            } else {
                format!(
                    "file {relative} {} {:o} {:?}",
                    blake3::hash(&std::fs::read(p).unwrap()).to_hex(),
                    meta.permissions().mode() & 0o777,
                    meta.modified().unwrap()
                )
            }
        })
        .collect();
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.path().is_dir() {
            copy_tree(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
            let modified = std::fs::metadata(item.path()).unwrap().modified().unwrap();
            let file = std::fs::File::options().write(true).open(&target).unwrap();
            file.set_modified(modified).unwrap();
        }
    }
}

#[tokio::test]
async fn only_changed_content_travels_and_every_snapshot_restores_identical() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("docs/empty")).unwrap();
    std::fs::create_dir_all(tree.join("données")).unwrap();
    std::fs::write(tree.join("docs/a.txt"), b"alpha\n").unwrap();
    std::fs::write(tree.join("docs/b.bin"), pattern(3 * 1024 * 1024, 1)).unwrap();
    std::fs::write(tree.join("données/c.bin"), pattern(2 * 1024 * 1024, 2)).unwrap();
    std::fs::write(tree.join("gone.txt"), b"deleted later").unwrap();
    std::fs::write(tree.join("empty"), b"").unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;

    let first = client::push(&server.addr, &tree, "laptop", &config())
        .await
        .unwrap();
    assert_eq!(first.files, 5, "{first:?}");
    let total = 6 + 3 * 1024 * 1024 + 2 * 1024 * 1024 + 13;
    assert_eq!(first.bytes, total);
    assert_eq!(first.bytes_sent, total, "everything is new the first time");
    let before = work.path().join("before");
    copy_tree(&tree, &before);

    // Change two files (one byte in the middle of a large one), delete one, add one.
    let mut b = std::fs::read(tree.join("docs/b.bin")).unwrap();
    b[1_500_000] ^= 0xff;
    std::fs::write(tree.join("docs/b.bin"), &b).unwrap();
    std::fs::write(tree.join("docs/a.txt"), b"alpha, edited\n").unwrap();
    std::fs::remove_file(tree.join("gone.txt")).unwrap();
    std::fs::write(tree.join("new.txt"), b"a new file").unwrap();
    // A copy of an existing file under another name adds nothing to send.
    std::fs::copy(tree.join("données/c.bin"), tree.join("c-copy.bin")).unwrap();

    let second = client::push(&server.addr, &tree, "laptop", &config())
        .await
        .unwrap();
    assert_eq!(second.files, 6, "{second:?}");
    // One changed region of b.bin (a chunk or two, at most 2 x 64 KiB), the edited a.txt and
    // the new file; not the 2 MiB copy, not the unchanged 2 MiB file.
    assert!(second.bytes_sent > 0, "{second:?}");
    assert!(
        second.bytes_sent <= 2 * 64 * 1024 + 14 + 10,
        "only the changed content: {second:?}"
    );

    let snapshots = client::list(&server.addr, Some("laptop"), &config())
        .await
        .unwrap();
    assert_eq!(snapshots.len(), 2);
    assert_eq!(snapshots[0].id, first.id);
    assert_eq!(snapshots[1].id, second.id);
    assert_eq!(snapshots[1].files, 6);

    let old = work.path().join("restore-old");
    let restored = client::restore(&server.addr, "laptop", Some(&first.id), &old, &config())
        .await
        .unwrap();
    assert_eq!(restored.files, 5);
    assert_eq!(listing(&old), listing(&before));
    let new = work.path().join("restore-new");
    client::restore(&server.addr, "laptop", None, &new, &config())
        .await
        .unwrap();
    assert_eq!(listing(&new), listing(&tree));
    server.stop().await;
}

#[tokio::test]
async fn hostile_manifests_unknown_snapshots_and_wrong_tokens_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("x.txt"), b"x").unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;

    let mut wrong = config();
    wrong.token = Some("nope".into());
    let refused = client::push(&server.addr, &tree, "laptop", &wrong).await;
    assert!(
        matches!(&refused, Err(Error::Refused { code, .. }) if code == "bad_token"),
        "{refused:?}"
    );
    let bad_name = client::push(&server.addr, &tree, "../etc", &config()).await;
    assert!(
        matches!(&bad_name, Err(Error::Refused { code, .. }) if code == "bad_name"),
        "{bad_name:?}"
    );
    let none = client::restore(
        &server.addr,
        "laptop",
        None,
        &work.path().join("r"),
        &config(),
    )
    .await;
    assert!(
        matches!(&none, Err(Error::Refused { code, .. }) if code == "no_such_snapshot"),
        "{none:?}"
    );

    // A manifest planted in the store with a path that leaves the restore folder: refused,
    // and nothing is written outside the destination.
    let pushed = client::push(&server.addr, &tree, "laptop", &config())
        .await
        .unwrap();
    let manifest_path = store
        .join("snapshots/laptop")
        .join(format!("{}.json", pushed.id));
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(
        &manifest_path,
        text.replace("\"x.txt\"", "\"../escaped.txt\""),
    )
    .unwrap();
    let dest = work.path().join("dest");
    let hostile = client::restore(&server.addr, "laptop", None, &dest, &config()).await;
    assert!(
        matches!(&hostile, Err(Error::Refused { code, .. }) if code == "unsafe_path"),
        "{hostile:?}"
    );
    assert!(!work.path().join("escaped.txt").exists());
    server.stop().await;
}

#[tokio::test]
async fn an_interrupted_push_leaves_no_snapshot_and_the_next_push_reuses_its_chunks() {
    use prise_backup::proto::Msg;
    use prise_files::wire::Wire;
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    // Under the 4 KiB minimum chunk: the file is exactly one chunk.
    let data = pattern(4_000, 5);
    std::fs::write(tree.join("one.bin"), &data).unwrap();
    std::fs::write(tree.join("two.txt"), b"second file").unwrap();
    let server = start(&work.path().join("store")).await;

    // A client that sends one chunk and vanishes before its manifest.
    let stream = prise_core::net::connect(&server.addr, &prise_core::net::ConnectOptions::new("t"))
        .await
        .unwrap();
    let mut wire = Wire::new(stream);
    wire.send_json(&Msg::Hello {
        versions: vec![1],
        token: Some(TOKEN.into()),
        op: "push".into(),
        name: Some("cut".into()),
        parent: None,
    })
    .await
    .unwrap();
    assert!(matches!(
        wire.recv_json::<Msg>().await.unwrap(),
        Msg::Welcome { .. }
    ));
    let hash = blake3::hash(&data).to_hex().to_string();
    wire.send_json(&Msg::Want {
        hashes: vec![hash.clone()],
    })
    .await
    .unwrap();
    assert_eq!(
        wire.recv_json::<Msg>().await.unwrap(),
        Msg::Missing {
            hashes: vec![hash.clone()]
        }
    );
    wire.send_json(&Msg::Chunk {
        hash: hash.clone(),
        size: data.len() as u64,
    })
    .await
    .unwrap();
    wire.send_chunk(&data).await.unwrap();
    wire.flush().await.unwrap();
    drop(wire);
    // The server keeps what arrived when the session ends: the chunk appears under its name
    // (after a sync, which takes as long as the disk wants).
    let packs = work.path().join("store/packs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while files_ending(&packs, ".idx").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the cut push's chunk was not kept"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let listed = client::list(&server.addr, Some("cut"), &config())
        .await
        .unwrap();
    assert!(listed.is_empty(), "no snapshot from a cut push: {listed:?}");
    let report = client::push(&server.addr, &tree, "cut", &config())
        .await
        .unwrap();
    assert_eq!(report.files, 2);
    assert_eq!(
        report.bytes_sent, 11,
        "only two.txt travels; one.bin's chunk arrived before the cut: {report:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_tree_of_many_files_makes_a_manifest_over_the_files_line_limit() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..600 {
        std::fs::write(
            tree.join(format!("a-rather-long-file-name-number-{i:04}.txt")),
            format!("file {i}"),
        )
        .unwrap();
    }
    let server = start(&work.path().join("store")).await;
    let report = client::push(&server.addr, &tree, "many", &config())
        .await
        .unwrap();
    assert_eq!(report.files, 600);
    let dest = work.path().join("dest");
    let restored = client::restore(&server.addr, "many", None, &dest, &config())
        .await
        .unwrap();
    assert_eq!(restored.files, 600);
    assert_eq!(listing(&dest), listing(&tree));
    server.stop().await;
}

#[tokio::test]
async fn forget_keeps_the_last_snapshots_and_check_finds_damage() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;
    std::fs::write(tree.join("x.bin"), pattern(100_000, 7)).unwrap();
    client::push(&server.addr, &tree, "box", &config())
        .await
        .unwrap();
    std::fs::write(tree.join("x.bin"), pattern(100_000, 8)).unwrap();
    client::push(&server.addr, &tree, "box", &config())
        .await
        .unwrap();

    // Age every pack past the grace that protects pushes in progress.
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    for pack in files_ending(&store.join("packs"), ".pack") {
        std::fs::File::options()
            .write(true)
            .open(&pack)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let done = client::forget(&server.addr, "box", 1, &config())
        .await
        .unwrap();
    assert_eq!(done.snapshots, 1, "{done:?}");
    assert!(done.chunks >= 1 && done.bytes >= 16 * 1024, "{done:?}");
    assert_eq!(
        client::list(&server.addr, Some("box"), &config())
            .await
            .unwrap()
            .len(),
        1
    );
    let dest = work.path().join("dest");
    client::restore(&server.addr, "box", None, &dest, &config())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dest.join("x.bin")).unwrap(),
        pattern(100_000, 8)
    );

    let clean = client::check(&server.addr, &config()).await.unwrap();
    assert!(
        clean.bad.is_empty() && clean.missing.is_empty(),
        "{clean:?}"
    );
    assert!(clean.chunks >= 1);

    // Push another version (a pack of its own), then damage a byte of the first pack's first
    // chunk and lose the new pack: check names exactly the damaged chunk and the lost ones.
    let packs_before = files_ending(&store.join("packs"), ".pack");
    assert_eq!(packs_before.len(), 1, "forget left one pack");
    std::fs::write(tree.join("x.bin"), pattern(100_000, 10)).unwrap();
    let third = client::push(&server.addr, &tree, "box", &config())
        .await
        .unwrap();
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(packs_before[0].with_extension("idx")).unwrap())
            .unwrap();
    let first_chunk = idx["chunks"][0].clone();
    let damaged = first_chunk[0].as_str().unwrap().to_owned();
    let offset = usize::try_from(first_chunk[1].as_u64().unwrap()).unwrap();
    let mut bytes = std::fs::read(&packs_before[0]).unwrap();
    bytes[offset] ^= 1;
    std::fs::write(&packs_before[0], bytes).unwrap();
    let new_pack: Vec<PathBuf> = files_ending(&store.join("packs"), ".pack")
        .into_iter()
        .filter(|p| !packs_before.contains(p))
        .collect();
    assert_eq!(new_pack.len(), 1, "the third push wrote one pack");
    let lost: serde_json::Value =
        serde_json::from_slice(&std::fs::read(new_pack[0].with_extension("idx")).unwrap()).unwrap();
    let mut lost: Vec<String> = lost["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap().to_owned())
        .collect();
    lost.sort();
    std::fs::remove_file(&new_pack[0]).unwrap();
    let found = client::check(&server.addr, &config()).await.unwrap();
    assert_eq!(found.bad, [damaged]);
    assert_eq!(found.missing, lost, "third snapshot {}", third.id);
    let err = client::restore(
        &server.addr,
        "box",
        None,
        &work.path().join("r3"),
        &config(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("missing_chunk"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn the_index_skips_unchanged_files_and_a_lost_chunk_makes_a_full_push() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    for i in 0..20 {
        std::fs::write(tree.join(format!("d/f{i}.bin")), pattern(40_000, i)).unwrap();
    }
    let store = work.path().join("store");
    let server = start(&store).await;
    let mut config = config();
    config.index = Some(work.path().join("cache/index.json"));

    let first = client::push(&server.addr, &tree, "idx", &config)
        .await
        .unwrap();
    assert_eq!((first.files, first.files_read), (20, 20), "{first:?}");
    let second = client::push(&server.addr, &tree, "idx", &config)
        .await
        .unwrap();
    assert_eq!(
        (second.files, second.files_read, second.bytes_sent),
        (20, 0, 0),
        "nothing changed: nothing read, nothing sent: {second:?}"
    );
    std::fs::write(tree.join("d/f3.bin"), pattern(40_000, 99)).unwrap();
    let third = client::push(&server.addr, &tree, "idx", &config)
        .await
        .unwrap();
    assert_eq!(third.files_read, 1, "{third:?}");
    assert!(
        third.bytes_sent > 0 && third.bytes_sent <= 40_000,
        "{third:?}"
    );

    // The index's two files disagree (a crash between their writes): it is not trusted, and
    // that push reads everything.
    let head = work.path().join("cache/index.json.head");
    let text = std::fs::read_to_string(&head).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let other = value["generation"].as_u64().unwrap() ^ 1;
    std::fs::write(
        &head,
        text.replace(&value["generation"].to_string(), &other.to_string()),
    )
    .unwrap();
    let mismatched = client::push(&server.addr, &tree, "idx", &config)
        .await
        .unwrap();
    assert_eq!(
        (mismatched.files_read, mismatched.bytes_sent),
        (20, 0),
        "{mismatched:?}"
    );

    // The store loses every pack: the index's promise fails, the push reads everything again.
    for pack in files_ending(&store.join("packs"), ".pack") {
        std::fs::remove_file(pack).unwrap();
    }
    let fourth = client::push(&server.addr, &tree, "idx", &config)
        .await
        .unwrap();
    assert_eq!(fourth.files_read, 20, "{fourth:?}");
    let dest = work.path().join("dest");
    client::restore(&server.addr, "idx", None, &dest, &config)
        .await
        .unwrap();
    assert_eq!(listing(&dest), listing(&tree));
    server.stop().await;
}

#[tokio::test]
async fn the_manifest_travels_as_a_delta_and_a_lost_parent_gets_the_whole_one() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    for d in 0..10 {
        std::fs::create_dir_all(tree.join(format!("dir{d}"))).unwrap();
        for f in 0..20 {
            std::fs::write(
                tree.join(format!("dir{d}/file{f}.txt")),
                pattern(100 + f * 7, d * 100 + f as u64),
            )
            .unwrap();
        }
    }
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;
    let mut config = config();
    config.index = Some(work.path().join("cache/index.json"));

    let first = client::push(&server.addr, &tree, "delta", &config)
        .await
        .unwrap();
    assert_eq!(first.files, 200);
    let before = work.path().join("before");
    copy_tree(&tree, &before);

    let same = client::push(&server.addr, &tree, "delta", &config)
        .await
        .unwrap();
    assert_eq!((same.files, same.files_read, same.bytes_sent), (200, 0, 0));
    assert!(
        same.wire_sent < 1_000,
        "an unchanged tree of 200 files costs a few hundred bytes, not its file list: {same:?} (the first push wrote {})",
        first.wire_sent
    );

    // One file changed, one gone, one new in a new folder, the empty folder gone.
    std::fs::write(tree.join("dir3/file4.txt"), b"changed").unwrap();
    std::fs::remove_file(tree.join("dir5/file0.txt")).unwrap();
    std::fs::create_dir_all(tree.join("new")).unwrap();
    std::fs::write(tree.join("new/added.txt"), b"added").unwrap();
    std::fs::remove_dir(tree.join("empty")).unwrap();
    let changed = client::push(&server.addr, &tree, "delta", &config)
        .await
        .unwrap();
    assert_eq!((changed.files, changed.files_read), (200, 2), "{changed:?}");
    assert!(changed.wire_sent < 2_000, "{changed:?}");

    let dest = work.path().join("latest");
    client::restore(&server.addr, "delta", None, &dest, &config)
        .await
        .unwrap();
    assert_eq!(listing(&dest), listing(&tree));
    let dest = work.path().join("first");
    client::restore(&server.addr, "delta", Some(&first.id), &dest, &config)
        .await
        .unwrap();
    assert_eq!(listing(&dest), listing(&before));

    // The server lost the snapshot the index names: it asks for the whole manifest, and the
    // push still lands.
    let manifest = store.join(format!("snapshots/delta/{}.json", changed.id));
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(tree.join("dir0/file0.txt"), b"again").unwrap();
    let fallback = client::push(&server.addr, &tree, "delta", &config)
        .await
        .unwrap();
    assert_eq!(fallback.files_read, 1, "{fallback:?}");
    assert!(
        fallback.wire_sent > 200 * 64,
        "the whole manifest went, a hash per file: {fallback:?}"
    );
    let dest = work.path().join("after-fallback");
    client::restore(&server.addr, "delta", None, &dest, &config)
        .await
        .unwrap();
    assert_eq!(listing(&dest), listing(&tree));
    server.stop().await;
}

#[test]
fn opening_a_store_removes_what_a_crash_left_mid_write() {
    let work = tempfile::tempdir().unwrap();
    let packs = work.path().join("packs");
    std::fs::create_dir_all(&packs).unwrap();
    let partial = packs.join(".pack.x1y2.prise-partial");
    std::fs::write(&partial, b"half a pack").unwrap();
    let orphan = packs.join("0123.pack");
    std::fs::write(&orphan, b"a pack whose index never got written").unwrap();
    // A store from an earlier build: one file per chunk, still read.
    let data = b"loose chunk";
    let hash = blake3::hash(data).to_hex().to_string();
    let loose = work.path().join("chunks").join(&hash[..2]).join(&hash);
    std::fs::create_dir_all(loose.parent().unwrap()).unwrap();
    std::fs::write(&loose, data).unwrap();
    let store = prise_backup::store::Store::open(work.path()).unwrap();
    assert!(!partial.exists());
    assert!(!orphan.exists());
    assert!(store.has(&hash));
    assert_eq!(store.get(&hash).unwrap(), data);
}

/// The files in `dir` whose names end with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn forget_rewrites_a_pack_partly_in_use_with_only_what_is_used() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("kept.bin"), pattern(200_000, 20)).unwrap();
    std::fs::write(tree.join("dropped.bin"), pattern(300_000, 22)).unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;
    client::push(&server.addr, &tree, "mix", &config())
        .await
        .unwrap();
    std::fs::remove_file(tree.join("dropped.bin")).unwrap();
    client::push(&server.addr, &tree, "mix", &config())
        .await
        .unwrap();
    let packs = files_ending(&store.join("packs"), ".pack");
    assert_eq!(packs.len(), 1, "the second push sent nothing new");
    let old = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&packs[0])
        .unwrap()
        .set_modified(old)
        .unwrap();

    let done = client::forget(&server.addr, "mix", 1, &config())
        .await
        .unwrap();
    assert_eq!(done.snapshots, 1);
    assert_eq!(
        done.bytes, 300_000,
        "exactly dropped.bin's chunks: {done:?}"
    );
    let after = files_ending(&store.join("packs"), ".pack");
    assert_eq!(after.len(), 1);
    assert_ne!(after, packs, "the pack was rewritten");
    assert_eq!(std::fs::metadata(&after[0]).unwrap().len(), 200_000);

    let clean = client::check(&server.addr, &config()).await.unwrap();
    assert!(
        clean.bad.is_empty() && clean.missing.is_empty(),
        "{clean:?}"
    );
    let dest = work.path().join("dest");
    client::restore(&server.addr, "mix", None, &dest, &config())
        .await
        .unwrap();
    assert_eq!(listing(&dest), listing(&tree));
    // And after a restart, the rewritten pack is what the server reads.
    server.stop().await;
    let server = start(&store).await;
    let dest = work.path().join("dest2");
    client::restore(&server.addr, "mix", None, &dest, &config())
        .await
        .unwrap();
    assert_eq!(listing(&dest), listing(&tree));
    server.stop().await;
}

#[tokio::test]
async fn a_chunk_whose_bytes_do_not_match_its_hash_is_refused_and_not_stored() {
    use prise_backup::proto::Msg;
    use prise_files::wire::Wire;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;
    let stream = prise_core::net::connect(&server.addr, &prise_core::net::ConnectOptions::new("t"))
        .await
        .unwrap();
    let mut wire = Wire::new(stream);
    wire.send_json(&Msg::Hello {
        versions: vec![1, 2],
        token: Some(TOKEN.into()),
        op: "push".into(),
        name: Some("liar".into()),
        parent: None,
    })
    .await
    .unwrap();
    assert!(matches!(
        wire.recv_json::<Msg>().await.unwrap(),
        Msg::Welcome { version: 2, .. }
    ));
    let claimed = blake3::hash(b"what I say").to_hex().to_string();
    wire.send_json(&Msg::Chunk {
        hash: claimed.clone(),
        size: 9,
    })
    .await
    .unwrap();
    wire.send_chunk(b"what I do").await.unwrap();
    match wire.recv_json::<Msg>().await.unwrap() {
        Msg::Error { code, .. } => assert_eq!(code, "hash_mismatch"),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(matches!(
        wire.recv_json::<Msg>().await,
        Err(prise_files::Error::Closed)
    ));
    server.stop().await;
    let store = prise_backup::store::Store::open(&store).unwrap();
    assert!(!store.has(&claimed));
    assert!(files_ending(&work.path().join("store/packs"), "").is_empty());
}

#[tokio::test]
async fn excluded_paths_are_neither_walked_nor_stored() {
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    for dir in ["node_modules/pkg", "build", "src/build", "logs"] {
        std::fs::create_dir_all(tree.join(dir)).unwrap();
    }
    for file in [
        "a.txt",
        "b.tmp",
        "node_modules/pkg/index.js",
        "build/out.o",
        "build/keep.txt",
        "src/build/other.o",
        "src/c.tmp",
        "logs/today.log",
        "logs.txt",
    ] {
        std::fs::write(tree.join(file), file.as_bytes()).unwrap();
    }
    let store = work.path().join("store");
    let server = start(&store).await;
    let mut config = config();
    config.exclude = client::Exclude::new(&[
        "*.tmp".into(),
        "node_modules".into(),
        "build/*.o".into(),
        "logs/".into(),
    ])
    .unwrap();
    let pushed = client::push(&server.addr, &tree, "ex", &config)
        .await
        .unwrap();
    assert_eq!(pushed.files, 4, "{pushed:?}");
    let dest = work.path().join("dest");
    client::restore(&server.addr, "ex", None, &dest, &config)
        .await
        .unwrap();
    let mut files: Vec<String> = listing(&dest)
        .into_iter()
        .filter_map(|l| {
            l.strip_prefix("file ")
                .map(|r| r.split(' ').next().unwrap().to_owned())
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["a.txt", "build/keep.txt", "logs.txt", "src/build/other.o"],
        "names at any depth, anchored paths from the top, a trailing / for folders only"
    );
    assert!(!dest.join("node_modules").exists() && !dest.join("logs").exists());
    server.stop().await;

    let err = client::Exclude::new(&["a[".into()]).unwrap_err();
    assert!(err.to_string().contains("bad_pattern"), "{err}");
}

/// Every name of the shared hostile-path table (prise-test-support) planted in a stored
/// manifest: a restore of a name that leaves the folder is refused, any other is refused or
/// restored inside under exactly its name (a refusal is always `unsafe_path`), and nothing appears outside the
/// restore folder.
#[tokio::test]
async fn a_manifest_with_any_name_of_the_hostile_table_restores_nothing_outside() {
    use prise_test_support::hostile::{self, Outside};
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("x.txt"), b"x").unwrap();
    let store = work.path().join("store");
    let server = start(&store).await;
    let pushed = client::push(&server.addr, &tree, "laptop", &config())
        .await
        .unwrap();
    let manifest_path = store
        .join("snapshots/laptop")
        .join(format!("{}.json", pushed.id));
    let original = std::fs::read_to_string(&manifest_path).unwrap();
    let restores = work.path().join("restores");
    std::fs::create_dir(&restores).unwrap();
    let mut kept = 0;
    for (i, h) in hostile::names().into_iter().enumerate() {
        let quoted = serde_json::to_string(&h.name).unwrap();
        std::fs::write(&manifest_path, original.replace("\"x.txt\"", &quoted)).unwrap();
        let dest = restores.join(format!("dest-{i}"));
        let outside = Outside::watch(&restores, &dest);
        match client::restore(&server.addr, "laptop", None, &dest, &config()).await {
            Ok(_) => {
                assert!(!h.escapes(), "{h:?} was restored");
                assert_eq!(std::fs::read(dest.join(&h.name)).unwrap(), b"x", "{h:?}");
                kept += 1;
            }
            Err(Error::Refused { code, .. }) => assert_eq!(code, "unsafe_path", "{h:?}"),
            Err(e) => panic!("{h:?}: {e}"),
        }
        outside.assert_untouched();
    }
    assert!(
        kept > 0,
        "the harmless names (look-alikes, devices) are restored"
    );
    server.stop().await;
}

/// What is not a message of the protocol (not JSON, an unknown type, a hello's fields of the
/// wrong type) gets the documented `bad_request` error before the server hangs up.
#[tokio::test]
async fn a_malformed_message_is_told_bad_request() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let work = tempfile::tempdir().unwrap();
    let server = start(&work.path().join("store")).await;
    for junk in [
        "not json\n",
        "{}\n",
        "{\"type\":\"launch\"}\n",
        "{\"type\":\"hello\",\"versions\":\"1\"}\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
        stream.write_all(junk.as_bytes()).await.unwrap();
        let mut reply = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut reply)
            .await
            .unwrap();
        assert!(
            reply.contains("\"code\":\"bad_request\""),
            "{junk:?}: {reply:?}"
        );
    }
    server.stop().await;
}
