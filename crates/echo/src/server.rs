//! The echo server.
//!
//! Two modes:
//!
//! - **echo** (default): every byte read is written back; when the client half-closes, the
//!   server finishes writing and half-closes too, so `prise echo send` (or `nc -N`) sees the end.
//! - **reply**: the input is read as lines (at most [`Config::max_line_len`] bytes each) and each
//!   line is answered with [`Config::reply`] and `\n`. A line over the limit gets
//!   `error: line longer than N bytes` and the connection is closed.
//!
//! A connection that sends nothing for [`Config::idle_timeout`] is closed, and so is one that
//! does not read our replies for [`Config::write_timeout`] (a peer that only sends would
//! otherwise fill our socket buffer and hold its task forever).
//!
//! On shutdown the listener closes and connections in progress carry on until their client is
//! done or the grace period ends: an echo exchange is short, and cutting one off mid-way would
//! lose bytes the client is waiting for.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use prise_core::codec::{CodecError, LineCodec, MAX_LINE_LEN};
use prise_core::server::{serve, Connection, ServeOptions, MAX_CONNECTIONS, SHUTDOWN_GRACE};
use prise_core::stream::Stream;
use prise_core::tls::ServerTls;
use prise_core::trace::TrafficLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::Error;

/// Default port: 7 is echo's well-known port but needs root; 7007 is easy to remember.
pub const DEFAULT_PORT: u16 = 7007;

/// Default idle timeout: long enough for a person typing into `nc`, short enough that forgotten
/// connections do not pile up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Default write timeout: a client that has not read its replies for this long is gone or
/// hostile.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Read buffer per connection in echo mode: large enough that a bulk transfer moves in few
/// system calls, small enough for thousands of clients.
const ECHO_BUFFER: usize = 16 * 1024;

/// How the echo server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Serve at most this many clients at once; the rest wait in the backlog.
    pub max_connections: usize,
    /// TLS, or `None` for plain TCP.
    pub tls: Option<ServerTls>,
    /// Answer each line with this text instead of echoing.
    pub reply: Option<String>,
    /// Longest line in reply mode.
    pub max_line_len: usize,
    /// Close a connection that sends nothing for this long.
    pub idle_timeout: Duration,
    /// Close a connection that does not take our bytes for this long.
    pub write_timeout: Duration,
    /// Time connections get to finish after shutdown.
    pub grace: Duration,
    /// Traffic log for `--trace-file`.
    pub trace: Option<TrafficLog>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            tls: None,
            reply: None,
            max_line_len: MAX_LINE_LEN,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            grace: SHUTDOWN_GRACE,
            trace: None,
        }
    }
}

/// Serve echo on `listener` until `shutdown` is cancelled and the connections have finished.
///
/// # Errors
/// [`Error::Io`] if the listener is unusable.
///
/// # Cancel safety
/// Dropping the future drops every connection at once; cancel `shutdown` for a clean stop.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let options = ServeOptions {
        max_connections: config.max_connections,
        tls: config.tls.clone(),
        grace: config.grace,
        trace: config.trace.clone(),
        ..ServeOptions::new("echo")
    };
    let config = Arc::new(config);
    serve(listener, options, shutdown, move |conn| {
        let config = Arc::clone(&config);
        async move {
            let peer = conn.peer;
            let result = match &config.reply {
                None => echo(conn, &config).await,
                Some(reply) => answer(conn, reply.as_bytes(), &config).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, cause = %e, "echo connection ended");
            }
        }
    })
    .await
    .map_err(|e| Error::io("echo listener", e))
}

async fn echo(conn: Connection, config: &Config) -> Result<(), Error> {
    let mut stream: Stream = conn.stream;
    let mut buf = vec![0u8; ECHO_BUFFER];
    loop {
        let n = match tokio::time::timeout(config.idle_timeout, stream.read(&mut buf)).await {
            Err(_) => {
                tracing::debug!(peer = %conn.peer, "idle timeout");
                return Ok(());
            }
            Ok(result) => result.map_err(|e| Error::io("reading", e))?,
        };
        if n == 0 {
            break;
        }
        tokio::time::timeout(config.write_timeout, stream.write_all(&buf[..n]))
            .await
            .map_err(|_| Error::io("writing", std::io::ErrorKind::TimedOut.into()))?
            .map_err(|e| Error::io("writing", e))?;
    }
    // The client half-closed: everything is echoed, so close our side too.
    let _ = tokio::time::timeout(config.write_timeout, stream.shutdown()).await;
    Ok(())
}

async fn answer(conn: Connection, reply: &[u8], config: &Config) -> Result<(), Error> {
    let mut framed = Framed::new(conn.stream, LineCodec::new(config.max_line_len));
    // The operator's reply is not subject to the input line limit; it is written as is.
    let mut reply_line = Vec::with_capacity(reply.len() + 1);
    reply_line.extend_from_slice(reply);
    reply_line.push(b'\n');
    loop {
        let next = match tokio::time::timeout(config.idle_timeout, framed.next()).await {
            Err(_) => break,
            Ok(None) => break,
            Ok(Some(next)) => next,
        };
        match next {
            Ok(_line) => {
                tokio::time::timeout(
                    config.write_timeout,
                    framed.get_mut().write_all(&reply_line),
                )
                .await
                .map_err(|_| Error::io("writing", std::io::ErrorKind::TimedOut.into()))?
                .map_err(|e| Error::io("writing", e))?;
            }
            Err(CodecError::LineTooLong { max }) => {
                let message = format!("error: line longer than {max} bytes");
                let _ = tokio::time::timeout(config.write_timeout, async {
                    let stream = framed.get_mut();
                    stream.write_all(message.as_bytes()).await?;
                    stream.write_all(b"\n").await?;
                    stream.shutdown().await
                })
                .await;
                tracing::info!(peer = %conn.peer, max, "line too long; closing");
                return Ok(());
            }
            Err(CodecError::Truncated { .. }) => {
                // The client half-closed after a last line without "\n" (`printf hi | nc`):
                // that is still a message, and it gets its answer.
                let _ = tokio::time::timeout(
                    config.write_timeout,
                    framed.get_mut().write_all(&reply_line),
                )
                .await;
                break;
            }
            Err(e) => {
                return Err(Error::Codec {
                    peer: conn.peer.to_string(),
                    source: e,
                })
            }
        }
    }
    let _ = tokio::time::timeout(config.write_timeout, framed.get_mut().shutdown()).await;
    Ok(())
}
