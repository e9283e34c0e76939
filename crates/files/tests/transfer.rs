//! Transfers over real sockets on 127.0.0.1: a tree arrives identical; hostile paths and
//! corrupted contents are refused and nothing is written outside the folder.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use prise_core::net::{connect, ConnectOptions};
use prise_files::receive::{self, Clash, Summary};
use prise_files::send::{self, Outcome, Source};
use prise_files::wire::{Msg, Wire};
use prise_files::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "test-token";

struct Receiver {
    addr: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

async fn receiver(dir: &Path, clash: Clash, max_size: Option<u64>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut config = receive::Config::new(dir.to_owned());
    config.token = Some(TOKEN.into());
    config.clash = clash;
    config.max_size = max_size;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(receive::run(
        listener,
        config,
        shutdown.clone(),
        |_, _: &Result<Summary, Error>| {},
    ));
    Receiver {
        addr,
        shutdown,
        task,
    }
}

impl Receiver {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn config() -> send::Config {
    let mut config = send::Config::new();
    config.token = Some(TOKEN.into());
    config
}

async fn send_paths(addr: &str, paths: &[&Path]) -> send::Report {
    let sources: Vec<Source> = paths
        .iter()
        .map(|p| Source::Path(p.to_path_buf()))
        .collect();
    let (entries, skipped) = send::plan(&sources).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    send::send(addr, entries, &config(), &mut |_| {})
        .await
        .unwrap()
}

/// Bytes that differ from one position to the next (no run compresses or dedups).
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

/// Every file under `root` with its contents' hash, mode and mtime; every folder.
fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for item in walk(root) {
        let relative = item
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&item).unwrap();
        if meta.is_dir() {
            out.push(format!("dir {relative}"));
        } else {
            use std::os::unix::fs::PermissionsExt;
            let bytes = std::fs::read(&item).unwrap();
            out.push(format!(
                "file {relative} {} {:o} {:?}",
                blake3::hash(&bytes).to_hex(),
                meta.permissions().mode() & 0o777,
                meta.modified().unwrap()
            ));
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[tokio::test]
async fn a_folder_tree_arrives_identical() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    std::fs::create_dir_all(tree.join("a/b/c")).unwrap();
    std::fs::create_dir_all(tree.join("empty folder")).unwrap();
    std::fs::create_dir_all(tree.join("été")).unwrap();
    std::fs::write(tree.join("a/b/c/deep.txt"), b"deep\n").unwrap();
    std::fs::write(tree.join("empty"), b"").unwrap();
    std::fs::write(tree.join("été/naïve ☃.txt"), "bonjour".as_bytes()).unwrap();
    std::fs::write(tree.join("large.bin"), pattern(12 * 1024 * 1024 + 7, 1)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tree.join("a/b/c/deep.txt"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
    }
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(dst.path(), Clash::Keep, None).await;
    let report = send_paths(&rx.addr, &[&tree]).await;
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.files, 4);
    assert_eq!(report.dirs, 6, "tree, a, a/b, a/b/c, empty folder, été");
    assert_eq!(listing(&tree), listing(&dst.path().join("tree")));

    // Sent again: the receiver has every file (same size and mtime) and nothing moves.
    let again = send_paths(&rx.addr, &[&tree]).await;
    assert_eq!(
        (again.files, again.skipped, again.bytes_sent),
        (0, 4, 0),
        "{again:?}"
    );
    rx.stop().await;
}

#[tokio::test]
async fn a_different_file_of_the_same_name_follows_the_clash_policy() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("notes.txt");
    std::fs::write(&file, b"new contents").unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(dst.path().join("notes.txt"), b"old").unwrap();

    let keep = receiver(dst.path(), Clash::Keep, None).await;
    let report = send_paths(&keep.addr, &[&file]).await;
    assert!(
        matches!(&report.entries[0].1, Outcome::Failed { code, .. } if code == "exists"),
        "{report:?}"
    );
    assert_eq!(std::fs::read(dst.path().join("notes.txt")).unwrap(), b"old");
    keep.stop().await;

    let rename = receiver(dst.path(), Clash::Rename, None).await;
    send_paths(&rename.addr, &[&file]).await;
    assert_eq!(std::fs::read(dst.path().join("notes.txt")).unwrap(), b"old");
    assert_eq!(
        std::fs::read(dst.path().join("notes (1).txt")).unwrap(),
        b"new contents"
    );
    rename.stop().await;

    let overwrite = receiver(dst.path(), Clash::Overwrite, None).await;
    send_paths(&overwrite.addr, &[&file]).await;
    assert_eq!(
        std::fs::read(dst.path().join("notes.txt")).unwrap(),
        b"new contents"
    );
    overwrite.stop().await;
}

#[tokio::test]
async fn a_wrong_token_or_an_oversized_file_is_refused() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big");
    std::fs::write(&file, vec![7u8; 5000]).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(dst.path(), Clash::Keep, Some(4096)).await;

    let (entries, _) = send::plan(&[Source::Path(file.clone())]).unwrap();
    let mut wrong = config();
    wrong.token = Some("nope".into());
    let refused = send::send(&rx.addr, entries.clone(), &wrong, &mut |_| {}).await;
    assert!(
        matches!(&refused, Err(Error::Refused { code, .. }) if code == "bad_token"),
        "{refused:?}"
    );

    let report = send::send(&rx.addr, entries, &config(), &mut |_| {})
        .await
        .unwrap();
    assert!(
        matches!(&report.entries[0].1, Outcome::Failed { code, .. } if code == "too_large"),
        "{report:?}"
    );
    assert!(std::fs::read_dir(dst.path()).unwrap().next().is_none());
    rx.stop().await;
}

/// A peer that speaks the protocol by hand.
async fn raw_session(addr: &str) -> Wire {
    let stream = connect(addr, &ConnectOptions::new("test")).await.unwrap();
    let mut wire = Wire::new(stream);
    wire.send(&Msg::Hello {
        versions: vec![1],
        token: Some(TOKEN.into()),
        entries: None,
        bytes: None,
    })
    .await
    .unwrap();
    assert!(matches!(wire.recv().await.unwrap(), Msg::Welcome { .. }));
    wire
}

#[tokio::test]
async fn hostile_paths_and_corrupted_contents_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("inbox");
    std::fs::create_dir(&dir).unwrap();
    let rx = receiver(&dir, Clash::Keep, None).await;
    let mut wire = raw_session(&rx.addr).await;
    for path in [
        "../x",
        "/etc/x",
        "a/../../x",
        "a\0b",
        "",
        "CON",
        "a\\..\\x",
        "C:/x",
    ] {
        wire.send(&Msg::File {
            path: path.into(),
            size: Some(3),
            mode: None,
            mtime_ns: None,
        })
        .await
        .unwrap();
        match wire.recv().await.unwrap() {
            Msg::Error { code, .. } => assert_eq!(code, "unsafe_path", "{path:?}"),
            other => panic!("{path:?} was not refused: {other:?}"),
        }
    }
    wire.send(&Msg::Dir {
        path: "../escape".into(),
        mode: None,
        mtime_ns: None,
    })
    .await
    .unwrap();
    assert!(matches!(wire.recv().await.unwrap(), Msg::Error { code, .. } if code == "unsafe_path"));

    // A symlink inside the folder that leads out of it is not followed.
    std::os::unix::fs::symlink(outer.path(), dir.join("link")).unwrap();
    wire.send(&Msg::File {
        path: "link/x".into(),
        size: Some(3),
        mode: None,
        mtime_ns: None,
    })
    .await
    .unwrap();
    assert!(matches!(wire.recv().await.unwrap(), Msg::Error { code, .. } if code == "unsafe_path"));

    // Contents whose hash does not match: rejected, and no file appears under the name.
    let good = b"the real contents";
    wire.send(&Msg::File {
        path: "doc.txt".into(),
        size: Some(good.len() as u64),
        mode: None,
        mtime_ns: None,
    })
    .await
    .unwrap();
    assert!(matches!(
        wire.recv().await.unwrap(),
        Msg::Ready { offset: 0, .. }
    ));
    wire.send(&Msg::Data { offset: 0 }).await.unwrap();
    let mut corrupted = good.to_vec();
    corrupted[3] ^= 1;
    wire.send_chunk(&corrupted).await.unwrap();
    wire.send_chunk(&[]).await.unwrap();
    wire.send(&Msg::End {
        blake3: blake3::hash(good).to_hex().to_string(),
    })
    .await
    .unwrap();
    assert!(
        matches!(wire.recv().await.unwrap(), Msg::Error { code, .. } if code == "hash_mismatch")
    );

    // More bytes than announced: the connection is closed, nothing is kept.
    wire.send(&Msg::File {
        path: "short.txt".into(),
        size: Some(2),
        mode: None,
        mtime_ns: None,
    })
    .await
    .unwrap();
    assert!(matches!(wire.recv().await.unwrap(), Msg::Ready { .. }));
    wire.send(&Msg::Data { offset: 0 }).await.unwrap();
    wire.send_chunk(b"four").await.unwrap();
    wire.send_chunk(&[]).await.unwrap();
    let closed = wire.recv().await;
    assert!(
        closed.is_err() || matches!(closed, Ok(Msg::Error { .. })),
        "{closed:?}"
    );

    let mut inside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    inside.sort();
    assert_eq!(
        inside,
        ["link"],
        "nothing but the planted link in the folder"
    );
    let mut outside: Vec<String> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outside.sort();
    assert_eq!(outside, ["inbox"], "nothing written outside the folder");
    rx.stop().await;
}

#[tokio::test]
async fn a_sender_that_vanishes_leaves_a_partial_file_that_the_next_send_resumes() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("data.bin");
    let contents = pattern(3 * 1024 * 1024, 9);
    std::fs::write(&file, &contents).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(dst.path(), Clash::Keep, None).await;

    // A sender that sends the first megabyte and vanishes.
    let mut wire = raw_session(&rx.addr).await;
    wire.send(&Msg::File {
        path: "data.bin".into(),
        size: Some(contents.len() as u64),
        mode: None,
        mtime_ns: None,
    })
    .await
    .unwrap();
    assert!(matches!(
        wire.recv().await.unwrap(),
        Msg::Ready { offset: 0, .. }
    ));
    wire.send(&Msg::Data { offset: 0 }).await.unwrap();
    for chunk in contents[..1024 * 1024].chunks(256 * 1024) {
        wire.send_chunk(chunk).await.unwrap();
    }
    wire.flush().await.unwrap();
    drop(wire);
    let partial = dst.path().join(".data.bin.prise-resume");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "partial file not kept"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!dst.path().join("data.bin").exists());

    let report = send_paths(&rx.addr, &[&file]).await;
    assert_eq!(
        report.entries[0].1,
        Outcome::Sent {
            bytes: contents.len() as u64 - 1024 * 1024,
            resumed_from: 1024 * 1024
        }
    );
    assert_eq!(
        std::fs::read(dst.path().join("data.bin")).unwrap(),
        contents
    );
    assert!(!partial.exists());

    // A partial file that is not a prefix of the sender's file is started over.
    let other = src.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("data.bin"), &contents).unwrap();
    let dst2 = tempfile::tempdir().unwrap();
    std::fs::write(dst2.path().join(".data.bin.prise-resume"), b"garbage").unwrap();
    let rx2 = receiver(dst2.path(), Clash::Keep, None).await;
    let report = send_paths(&rx2.addr, &[&other.join("data.bin")]).await;
    assert_eq!(
        report.entries[0].1,
        Outcome::Sent {
            bytes: contents.len() as u64,
            resumed_from: 0
        }
    );
    assert_eq!(
        std::fs::read(dst2.path().join("data.bin")).unwrap(),
        contents
    );
    rx2.stop().await;
    rx.stop().await;
}

#[tokio::test]
async fn a_silent_sender_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut config = receive::Config::new(dir.path().to_owned());
    config.idle_timeout = Duration::from_millis(300);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(receive::run(listener, config, shutdown.clone(), |_, _| {}));
    let stream = connect(&addr, &ConnectOptions::new("test")).await.unwrap();
    let mut wire = Wire::new(stream);
    // Half a hello, then nothing.
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), wire.recv()).await;
    assert!(matches!(closed, Ok(Err(Error::Closed))), "{closed:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

/// The shared hostile-path table (prise-test-support): every name that climbs out is refused
/// as `unsafe_path`; any other is refused or kept inside under exactly its name; nothing
/// appears outside the folder.
#[tokio::test]
async fn every_name_of_the_hostile_table_is_refused_or_kept_inside() {
    use prise_test_support::hostile::{self, Outside};
    let outer = tempfile::tempdir().unwrap();
    let dir = outer.path().join("inbox");
    std::fs::create_dir(&dir).unwrap();
    let outside = Outside::watch(outer.path(), &dir);
    let rx = receiver(&dir, Clash::Keep, None).await;
    let mut kept = 0;
    for h in hostile::names() {
        let mut wire = raw_session(&rx.addr).await;
        wire.send(&Msg::File {
            path: h.name.clone(),
            size: Some(3),
            mode: None,
            mtime_ns: None,
        })
        .await
        .unwrap();
        match wire.recv().await {
            Ok(Msg::Error { code, .. }) => {
                if h.escapes() {
                    assert_eq!(code, "unsafe_path", "{h:?}");
                }
            }
            Ok(Msg::Ready { offset: 0, .. }) => {
                assert!(!h.escapes(), "{h:?} was taken");
                wire.send(&Msg::Data { offset: 0 }).await.unwrap();
                wire.send_chunk(b"abc").await.unwrap();
                wire.send_chunk(&[]).await.unwrap();
                wire.send(&Msg::End {
                    blake3: blake3::hash(b"abc").to_hex().to_string(),
                })
                .await
                .unwrap();
                let answer = wire.recv().await;
                if matches!(answer, Ok(Msg::Ok { .. })) {
                    assert_eq!(std::fs::read(dir.join(&h.name)).unwrap(), b"abc", "{h:?}");
                    kept += 1;
                }
            }
            other => panic!("{h:?}: {other:?}"),
        }
        outside.assert_untouched();
    }
    assert!(
        kept > 0,
        "the harmless names (look-alikes, devices) are kept"
    );
    rx.stop().await;
}

/// What is not a message of the protocol (not JSON, an unknown type, a hello's fields of the
/// wrong type) gets the documented `bad_request` error before the receiver hangs up.
#[tokio::test]
async fn a_malformed_message_is_told_bad_request() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(dir.path(), Clash::Keep, None).await;
    for junk in [
        "not json\n",
        "{}\n",
        "{\"type\":\"launch\"}\n",
        "{\"type\":\"hello\",\"versions\":\"1\"}\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&rx.addr).await.unwrap();
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
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    rx.stop().await;
}
