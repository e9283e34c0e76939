//! The accept loop every prise server runs.
//!
//! [`serve`] takes an already-bound listener (so tests bind port 0) and does, once for all
//! services, what each would otherwise get subtly wrong:
//!
//! - **Connection cap.** A semaphore permit is taken *before* `accept`, and moved into the
//!   connection's task. At the cap, new clients wait in the kernel's backlog and are served as
//!   soon as a slot frees; nothing is accepted and then dropped.
//! - **Accept failures.** Per-connection errors (the peer reset before we accepted) are skipped;
//!   resource errors (EMFILE, ENFILE, ENOBUFS) back off from 5 ms up to 1 s instead of spinning.
//! - **TLS.** The handshake runs in the connection's task under a timeout, so a client that
//!   connects and says nothing never holds up the loop.
//! - **Traffic log.** Each stream is wrapped once, here.
//! - **Shutdown.** When `shutdown` is cancelled the listener closes at once (new clients are
//!   refused), handlers are told through [`Connection::shutdown`], and `serve` waits up to
//!   [`ServeOptions::grace`] for them to finish; whatever is still running then is dropped,
//!   which closes its socket.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::net::HANDSHAKE_TIMEOUT;
use crate::stream::Stream;
use crate::tls::ServerTls;
use crate::trace::TrafficLog;

/// Default connection cap: well above what a small deployment sees, and low enough that the
/// process stays within a raised `ulimit -n` (each connection is one descriptor) and a bounded
/// amount of memory. Services and users lower or raise it with `--max-connections`.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Default time in-flight connections get to finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// First wait after a failed `accept`; doubles up to [`ACCEPT_BACKOFF_MAX`].
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);

/// How long [`ServeOptions::tls_optional`] waits for a first byte before taking a silent client
/// for a plain one (a person on telnet waits for a banner).
pub const SNIFF_TIMEOUT: Duration = Duration::from_secs(1);

/// First byte of a TLS handshake record (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// Longest wait after failed `accept`s.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How a server accepts connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Service name for logs and the traffic log.
    pub service: Arc<str>,
    /// At most this many connections are served at once.
    pub max_connections: usize,
    /// TLS, or `None` for plain TCP.
    pub tls: Option<ServerTls>,
    /// With `tls` set, also serve plain clients on the same port: a connection whose first
    /// byte is a TLS handshake record gets TLS, any other (or none within [`SNIFF_TIMEOUT`])
    /// stays plain.
    pub tls_optional: bool,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time in-flight connections get after shutdown.
    pub grace: Duration,
    /// Traffic log for `--trace-file`.
    pub trace: Option<TrafficLog>,
}

impl ServeOptions {
    /// Defaults for a plain-TCP service called `service`.
    pub fn new(service: &str) -> Self {
        Self {
            service: Arc::from(service),
            max_connections: MAX_CONNECTIONS,
            tls: None,
            tls_optional: false,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            grace: SHUTDOWN_GRACE,
            trace: None,
        }
    }
}

/// One accepted connection, handed to the service's handler.
#[derive(Debug)]
pub struct Connection {
    /// The stream, TLS already negotiated, traced if asked.
    pub stream: Stream,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Cancelled when the server starts shutting down: a handler should stop taking new
    /// requests, finish the one in hand and return. Handlers that ignore it are dropped when the
    /// grace period ends.
    pub shutdown: CancellationToken,
}

/// An accepted connection on its way to its handler.
struct Accepted<H> {
    tcp: TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
    handler: Arc<H>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    options: Arc<ServeOptions>,
    shutdown: CancellationToken,
    abort: CancellationToken,
}

/// One connection's task: TLS if it asks for it, then the handler, until it returns or the
/// grace period ends.
async fn run_connection<H, F>(accepted: Box<Accepted<H>>)
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let Accepted {
        tcp,
        peer,
        permit,
        handler,
        acceptor,
        options,
        shutdown,
        abort,
    } = *accepted;
    let _permit = permit;
    // Boxed: a TLS handshake's state is over a KiB, needed for a moment, and would otherwise
    // be part of the task for the connection's whole life.
    let Some(stream) = Box::pin(open_stream(tcp, peer, acceptor, &options)).await else {
        return;
    };
    let work = handler(Connection {
        stream,
        peer,
        shutdown,
    });
    drop(handler);
    tokio::select! {
        () = abort.cancelled() => {
            tracing::info!(service = %options.service, %peer, "grace period over; closing connection");
        }
        () = work => {}
    }
    tracing::debug!(service = %options.service, %peer, "closed");
}

/// The connection as a [`Stream`]: TLS when the server has a certificate and the client's
/// first byte asks for it (or always, unless `tls_optional`), plain otherwise.
async fn open_stream(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    options: &ServeOptions,
) -> Option<Stream> {
    let acceptor = match acceptor {
        Some(acceptor) if options.tls_optional => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(SNIFF_TIMEOUT, tcp.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => Some(acceptor),
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                _ => None,
            }
        }
        other => other,
    };
    let stream = match acceptor {
        None => Stream::plain(tcp, peer),
        Some(acceptor) => {
            let handshake = acceptor.accept(tcp);
            match tokio::time::timeout(options.handshake_timeout, handshake).await {
                Ok(Ok(tls)) => Stream::server_tls(tls, peer),
                Ok(Err(e)) => {
                    tracing::info!(service = %options.service, %peer, cause = %e, "TLS handshake failed");
                    return None;
                }
                Err(_) => {
                    tracing::info!(service = %options.service, %peer, "TLS handshake timed out");
                    return None;
                }
            }
        }
    };
    Some(stream.traced(options.trace.clone(), &options.service))
}

/// Accept connections on `listener` and run `handler` on each, until `shutdown` is cancelled and
/// the connections have finished (or the grace period has run out).
///
/// # Errors
/// Only if the listener's own address cannot be read; accept failures are logged and retried.
///
/// # Cancel safety
/// Dropping the returned future stops accepting and drops every connection at once, without the
/// grace period; cancel `shutdown` instead for a clean stop.
pub async fn serve<H, F>(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: CancellationToken,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let local = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let tracker = TaskTracker::new();
    // Cancelled when the grace period ends: every connection task selects on it.
    let abort = CancellationToken::new();
    let handler = Arc::new(handler);
    let acceptor = options.tls.as_ref().map(ServerTls::acceptor);
    let shared = Arc::new(options.clone());
    let mut backoff = ACCEPT_BACKOFF_MIN;

    loop {
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; treat it as shutdown if it ever is.
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    pair
                }
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(service = %options.service, cause = %e, "accept: peer gone");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(
                        service = %options.service,
                        cause = %e,
                        wait = ?backoff,
                        "accept failed; backing off"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        tracing::debug!(service = %options.service, %peer, "accepted");

        // One box for what the connection task needs: its future then holds a pointer, not
        // a copy of each of these for the connection's whole life.
        let accepted = Box::new(Accepted {
            tcp,
            peer,
            permit,
            handler: Arc::clone(&handler),
            acceptor: acceptor.clone(),
            options: Arc::clone(&shared),
            shutdown: shutdown.clone(),
            abort: abort.clone(),
        });
        tracker.spawn(run_connection(accepted));
    }

    // Stop listening at once so new clients are refused rather than left in the backlog.
    drop(listener);
    tracker.close();
    let active = tracker.len();
    if active > 0 {
        tracing::info!(service = %options.service, %local, active, "draining connections");
    }
    if tokio::time::timeout(options.grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(service = %options.service, remaining = tracker.len(), "grace period over");
        abort.cancel();
        tracker.wait().await;
    }
    Ok(())
}

/// Errors that concern one would-be connection, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
