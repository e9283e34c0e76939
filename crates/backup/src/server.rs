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
use crate::store::{check_name, Manifest, Pending, Store, PACK_BYTES};
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

/// The client's next message. One that is not a message of the protocol (not JSON, an unknown
/// type, a line too long) ends the session with `bad_request`, which the client is told.
async fn recv(wire: &mut Wire, config: &Config) -> Result<Msg, Error> {
    match tokio::time::timeout(config.idle_timeout, wire.recv_json()).await {
        Ok(Err(prise_files::Error::Protocol(text))) => Err(Error::Refused {
            code: "bad_request".into(),
            text,
        }),
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

/// What the push's writer thread is asked to do.
enum Job {
    /// Check and stage a chunk.
    Chunk(String, bytes::Bytes),
    /// Commit what is staged and say how much was new.
    Commit(tokio::sync::oneshot::Sender<Result<(u64, u64), Error>>),
}

/// A push's writer: a thread that checks and packs the chunks while the session goes on
/// reading, so the network and the disk work at once.
struct Writer {
    jobs: tokio::sync::mpsc::Sender<Job>,
    /// Cancelled when the writer fails; `failure` then says why.
    failed: CancellationToken,
    failure: Arc<std::sync::Mutex<Option<Error>>>,
    thread: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Writer {
    fn start(store: &Arc<Store>) -> Self {
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<Job>(64);
        let failed = CancellationToken::new();
        let failure = Arc::new(std::sync::Mutex::new(None));
        let store = Arc::clone(store);
        let (signal, slot) = (failed.clone(), Arc::clone(&failure));
        let thread = tokio::task::spawn_blocking(move || {
            let mut pending = Pending::default();
            let (mut chunks, mut bytes) = (0u64, 0u64);
            let mut step = |job: Job, pending: &mut Pending| -> Result<(), Error> {
                match job {
                    Job::Chunk(hash, data) => {
                        if store.stage(&hash, &data, pending)? {
                            chunks += 1;
                            bytes += data.len() as u64;
                        }
                        if pending.bytes() >= PACK_BYTES {
                            store.commit(pending)?;
                        }
                    }
                    Job::Commit(reply) => {
                        let result = store.commit(pending).map(|()| (chunks, bytes));
                        let failed = result.is_err();
                        let _ = reply.send(result);
                        if failed {
                            return Err(Error::Protocol("commit failed".into()));
                        }
                    }
                }
                Ok(())
            };
            while let Some(job) = queue.blocking_recv() {
                if let Err(e) = step(job, &mut pending) {
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(e);
                    }
                    signal.cancel();
                    // What was staged before the failure is still good: keep it.
                    break;
                }
            }
            // The session is over (or failed): whatever arrived is kept, so the next push does
            // not send it again (docs/PROTOCOL-backup.md, "Store layout").
            store.commit(&mut pending)
        });
        Self {
            jobs,
            failed,
            failure,
            thread,
        }
    }

    /// Why the writer stopped.
    fn failure(&self) -> Error {
        self.failure
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| Error::Protocol("the store writer stopped".into()))
    }

    async fn send(&self, job: Job) -> Result<(), Error> {
        if self.jobs.send(job).await.is_err() {
            return Err(self.failure());
        }
        Ok(())
    }

    /// Commit everything staged; how many chunks and bytes this push added.
    async fn commit(&self) -> Result<(u64, u64), Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Commit(reply)).await?;
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.failure()),
        }
    }

    /// Stop and wait: what is staged is committed.
    async fn close(self) -> Result<(), Error> {
        drop(self.jobs);
        self.thread
            .await
            .map_err(|e| Error::Protocol(format!("store writer: {e}")))?
    }
}

async fn push(
    wire: &mut Wire,
    store: &Arc<Store>,
    config: &Config,
    name: String,
    parent: Option<String>,
) -> Result<(), Error> {
    // The parent the client's `manifest_delta` will name: read it while the client walks its
    // tree.
    let latest = {
        let store = Arc::clone(store);
        let name = name.clone();
        tokio::task::spawn_blocking(move || store.load(&name, Some(parent.as_deref()?)).ok())
    };
    let writer = Writer::start(store);
    let result = push_chunks(wire, store, config, name, &writer, latest).await;
    let closed = writer.close().await;
    result.and(closed)
}

async fn push_chunks(
    wire: &mut Wire,
    store: &Arc<Store>,
    config: &Config,
    name: String,
    writer: &Writer,
    latest: tokio::task::JoinHandle<Option<Manifest>>,
) -> Result<(), Error> {
    let mut latest = Some(latest);
    let mut buf = BytesMut::new();
    loop {
        let msg = tokio::select! {
            biased;
            () = writer.failed.cancelled() => return Err(writer.failure()),
            msg = recv(wire, config) => msg?,
        };
        match msg {
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
                writer.send(Job::Chunk(hash, buf.split().freeze())).await?;
            }
            Msg::Manifest { mut manifest } => {
                manifest.name.clone_from(&name);
                return finish(wire, store, writer, manifest).await;
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
                let merging = std::time::Instant::now();
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
                tracing::debug!(ms = merging.elapsed().as_millis(), "delta merged");
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
                return finish(wire, store, writer, manifest).await;
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
    writer: &Writer,
    manifest: Manifest,
) -> Result<(), Error> {
    // The chunks first, the manifest that names them last.
    let started = std::time::Instant::now();
    let (new_chunks, new_bytes) = writer.commit().await?;
    let store = Arc::clone(store);
    let saved = blocking(move || store.save(manifest)).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis(),
        "chunks committed, manifest saved"
    );
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
