//! `prise backup serve`: one session per connection, a push, a list or a restore.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use prise_core::server::{serve, ServeOptions};
use prise_core::tls::ServerTls;
use prise_core::trace::TrafficLog;
use prise_files::wire::Wire;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::proto::{Msg, MAX_HASHES, VERSIONS};
use crate::store::{check_name, Manifest, Pending, Store};
use crate::{Error, CHUNK_MAX};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store folder.
    pub store: PathBuf,
    /// Clients must give this token.
    pub token: Option<String>,
    /// TLS for every connection.
    pub tls: Option<ServerTls>,
    /// Traffic log.
    pub trace: Option<TrafficLog>,
    /// Give up on a client silent this long.
    pub idle_timeout: Duration,
    /// Time allowed for sessions to finish on shutdown.
    pub grace: Duration,
}

impl Config {
    /// Defaults for a store at `store`.
    pub fn new(store: PathBuf) -> Self {
        Self {
            store,
            token: None,
            tls: None,
            trace: None,
            idle_timeout: Duration::from_secs(120),
            grace: Duration::from_secs(10),
        }
    }
}

/// Serve backups on `listener` until `shutdown` is cancelled.
///
/// # Errors
/// [`Error::Io`] when the store cannot be opened.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let store = Arc::new(Store::open(&config.store)?);
    let options = ServeOptions {
        tls: config.tls.clone(),
        grace: config.grace,
        trace: config.trace.clone(),
        ..ServeOptions::new("backup")
    };
    let config = Arc::new(config);
    serve(listener, options, shutdown, move |conn| {
        let store = Arc::clone(&store);
        let config = Arc::clone(&config);
        async move {
            let peer = conn.peer;
            let mut wire = Wire::new(conn.stream).with_max_line(crate::proto::MAX_MANIFEST);
            match session(&mut wire, &store, &config).await {
                Ok(()) => tracing::info!(%peer, "backup session done"),
                Err(e) => {
                    tracing::info!(%peer, cause = %e, "backup session failed");
                    if let Error::Refused { code, text } = &e {
                        let _ = wire
                            .send_json(&Msg::Error {
                                code: code.clone(),
                                text: text.clone(),
                            })
                            .await;
                        let _ = wire.flush().await;
                    }
                }
            }
        }
    })
    .await
    .map_err(|e| Error::io("listening", e))
}

async fn recv(wire: &mut Wire, config: &Config) -> Result<Msg, Error> {
    match tokio::time::timeout(config.idle_timeout, wire.recv_json()).await {
        Ok(msg) => Ok(msg?),
        Err(_) => Err(Error::Protocol("the client went silent".into())),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Protocol(format!("store thread: {e}")))?
}

async fn session(wire: &mut Wire, store: &Arc<Store>, config: &Config) -> Result<(), Error> {
    let Msg::Hello {
        versions,
        token,
        op,
        name,
        parent,
    } = recv(wire, config).await?
    else {
        return Err(Error::refused(
            "bad_request",
            "the first message must be hello",
        ));
    };
    let Some(version) = versions
        .iter()
        .copied()
        .filter(|v| VERSIONS.contains(v))
        .max()
    else {
        return Err(Error::refused(
            "unsupported_version",
            format!("this server speaks versions {VERSIONS:?}"),
        ));
    };
    if let Some(expected) = &config.token {
        let given = token.unwrap_or_default();
        if !prise_core::same_secret(given.as_bytes(), expected.as_bytes()) {
            return Err(Error::refused(
                "bad_token",
                "wrong or missing token (--token)",
            ));
        }
    }
    if let Some(name) = &name {
        check_name(name)?;
    }
    wire.send_json(&Msg::Welcome {
        version,
        server: concat!("prise ", env!("CARGO_PKG_VERSION")).into(),
    })
    .await?;
    match (op.as_str(), name) {
        ("list", name) => {
            let store = Arc::clone(store);
            let snapshots = blocking(move || store.list(name.as_deref())).await?;
            wire.send_json(&Msg::Snapshots { snapshots }).await?;
        }
        ("push", Some(name)) => push(wire, store, config, name, parent).await?,
        ("forget", Some(name)) => match recv(wire, config).await? {
            Msg::Forget { keep_last } => {
                let store = Arc::clone(store);
                let keep = usize::try_from(keep_last).unwrap_or(usize::MAX);
                let done = blocking(move || store.forget(&name, keep)).await?;
                tracing::info!(snapshots = done.snapshots, chunks = done.chunks, "forgot");
                wire.send_json(&Msg::Forgotten { done }).await?;
            }
            other => {
                return Err(Error::refused(
                    "bad_request",
                    format!("expected forget, got {other:?}"),
                ))
            }
        },
        ("check", _) => {
            let store = Arc::clone(store);
            let found = blocking(move || store.check()).await?;
            wire.send_json(&Msg::Checked { found }).await?;
        }
        ("restore", Some(name)) => restore(wire, store, config, name).await?,
        (op, _) => {
            return Err(Error::refused(
                "bad_request",
                format!("unknown op {op:?} (or no name)"),
            ))
        }
    }
    wire.flush().await?;
    Ok(())
}

/// A push commits its chunks (one file-system sync, then the renames) at least this often, so a
/// server crash costs at most this much to send again.
const COMMIT_CHUNKS: usize = 4096;
/// See [`COMMIT_CHUNKS`].
const COMMIT_BYTES: u64 = 256 * 1024 * 1024;

async fn push(
    wire: &mut Wire,
    store: &Arc<Store>,
    config: &Config,
    name: String,
    parent: Option<String>,
) -> Result<(), Error> {
    let pending = Arc::new(std::sync::Mutex::new(Pending::default()));
    // The parent the client's `manifest_delta` will name: read it while the client walks its
    // tree.
    let latest = {
        let store = Arc::clone(store);
        let name = name.clone();
        tokio::task::spawn_blocking(move || store.load(&name, Some(parent.as_deref()?)).ok())
    };
    let result = push_chunks(wire, store, config, name, &pending, latest).await;
    // Whatever arrived is kept, even when the client vanished: the next push will not send it
    // again (docs/PROTOCOL-backup.md, "Store layout").
    let store = Arc::clone(store);
    let committed = blocking(move || store.commit(&mut *lock(&pending)?)).await;
    result.and(committed)
}

fn lock(pending: &std::sync::Mutex<Pending>) -> Result<std::sync::MutexGuard<'_, Pending>, Error> {
    pending
        .lock()
        .map_err(|_| Error::Protocol("a store thread failed".into()))
}

async fn push_chunks(
    wire: &mut Wire,
    store: &Arc<Store>,
    config: &Config,
    name: String,
    pending: &Arc<std::sync::Mutex<Pending>>,
    latest: tokio::task::JoinHandle<Option<Manifest>>,
) -> Result<(), Error> {
    let mut latest = Some(latest);
    let mut new_chunks = 0u64;
    let mut new_bytes = 0u64;
    let mut buf = BytesMut::new();
    loop {
        match recv(wire, config).await? {
            Msg::Want { hashes } => {
                if hashes.len() > MAX_HASHES {
                    return Err(Error::refused("bad_request", "too many hashes in one want"));
                }
                let store = Arc::clone(store);
                let missing = blocking(move || {
                    let mut seen = HashSet::new();
                    let unique = hashes
                        .iter()
                        .map(String::as_str)
                        .filter(|h| seen.insert(*h));
                    Ok(store
                        .lacking(unique)
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>())
                })
                .await?;
                wire.send_json(&Msg::Missing { hashes: missing }).await?;
            }
            Msg::Chunk { hash, size } => {
                if size > u64::from(CHUNK_MAX) {
                    return Err(Error::refused(
                        "bad_request",
                        format!("chunk larger than {CHUNK_MAX} bytes"),
                    ));
                }
                if !wire.recv_chunk_into(&mut buf).await? || buf.len() as u64 != size {
                    return Err(Error::Protocol(
                        "chunk frame does not match its size".into(),
                    ));
                }
                let store = Arc::clone(store);
                let pending = Arc::clone(pending);
                let bytes = std::mem::take(&mut buf);
                let (added, bytes) = blocking(move || {
                    let mut pending = lock(&pending)?;
                    let added = store.stage(&hash, &bytes, &mut pending)?;
                    if pending.len() >= COMMIT_CHUNKS || pending.bytes() >= COMMIT_BYTES {
                        store.commit(&mut pending)?;
                    }
                    Ok((added, bytes))
                })
                .await?;
                buf = bytes;
                if added {
                    new_chunks += 1;
                    new_bytes += size;
                }
            }
            Msg::Manifest { mut manifest } => {
                manifest.name.clone_from(&name);
                return finish(wire, store, pending, manifest, new_chunks, new_bytes).await;
            }
            Msg::ManifestDelta {
                parent,
                removed,
                changed,
                entries_blake3,
            } => {
                let preloaded = match latest.take() {
                    Some(handle) => handle.await.ok().flatten(),
                    None => None,
                };
                let merged = {
                    let store = Arc::clone(store);
                    let name = name.clone();
                    let parent = parent.clone();
                    blocking(move || {
                        let base = match preloaded.filter(|m| m.id == parent) {
                            Some(base) => base,
                            None => match store.load(&name, Some(&parent)) {
                                Ok(base) => base,
                                Err(Error::Refused { .. }) => return Ok(None),
                                Err(e) => return Err(e),
                            },
                        };
                        Store::apply_delta(base, &removed, changed, &entries_blake3)
                    })
                    .await?
                };
                let Some(entries) = merged else {
                    tracing::info!(%name, %parent, "delta refused, asking for the whole manifest");
                    wire.send_json(&Msg::NeedFull {
                        text: format!("snapshot {parent} of {name} is not here or differs"),
                    })
                    .await?;
                    continue;
                };
                let manifest = Manifest {
                    version: crate::store::MANIFEST_VERSION,
                    name: name.clone(),
                    id: String::new(),
                    time: String::new(),
                    entries,
                    files: 0,
                    bytes: 0,
                };
                return finish(wire, store, pending, manifest, new_chunks, new_bytes).await;
            }
            other => {
                return Err(Error::refused(
                    "bad_request",
                    format!("unexpected message in a push: {other:?}"),
                ))
            }
        }
    }
}

/// Commit the push's chunks, then store its manifest and tell the client.
async fn finish(
    wire: &mut Wire,
    store: &Arc<Store>,
    pending: &Arc<std::sync::Mutex<Pending>>,
    manifest: Manifest,
    new_chunks: u64,
    new_bytes: u64,
) -> Result<(), Error> {
    let store = Arc::clone(store);
    let pending = Arc::clone(pending);
    let saved = blocking(move || {
        // The chunks first, the manifest that names them last.
        store.commit(&mut *lock(&pending)?)?;
        store.save(manifest)
    })
    .await?;
    tracing::info!(name = %saved.name, id = %saved.id, files = saved.files, new_chunks, "snapshot stored");
    wire.send_json(&Msg::Snapshot {
        id: saved.id,
        files: saved.files,
        bytes: saved.bytes,
        new_chunks,
        new_bytes,
    })
    .await
    .map_err(Error::from)
}

async fn restore(
    wire: &mut Wire,
    store: &Arc<Store>,
    config: &Config,
    name: String,
) -> Result<(), Error> {
    loop {
        match recv(wire, config).await? {
            Msg::GetManifest { id } => {
                let store = Arc::clone(store);
                let name = name.clone();
                let manifest = blocking(move || store.load(&name, id.as_deref())).await?;
                wire.send_json(&Msg::Manifest { manifest }).await?;
            }
            Msg::Get { hashes } => {
                if hashes.len() > MAX_HASHES {
                    return Err(Error::refused("bad_request", "too many hashes in one get"));
                }
                for hash in hashes {
                    let store = Arc::clone(store);
                    let key = hash.clone();
                    let bytes = blocking(move || store.get(&key)).await?;
                    wire.send_json(&Msg::Chunk {
                        hash,
                        size: bytes.len() as u64,
                    })
                    .await?;
                    wire.send_chunk(&bytes).await?;
                }
            }
            Msg::Done => return Ok(()),
            other => {
                return Err(Error::refused(
                    "bad_request",
                    format!("unexpected message in a restore: {other:?}"),
                ))
            }
        }
    }
}
