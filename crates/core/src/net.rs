//! Connecting, binding and announcing, with the timeouts every prise client uses.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};

use crate::stream::Stream;
use crate::tls::ClientTls;
use crate::trace::TrafficLog;
use crate::Error;

/// Default time to establish a TCP connection (and its TLS handshake): long enough for a slow
/// link across the world, short enough that a black-holed address fails while the user waits.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time to wait for a reply to a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time a server gives a new connection to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Give up on TCP connect plus TLS handshake after this long.
    pub connect_timeout: Duration,
    /// TLS settings, or `None` for plain TCP.
    pub tls: Option<ClientTls>,
    /// Traffic log for `--trace-file`.
    pub trace: Option<TrafficLog>,
    /// Service name used in the traffic log.
    pub service: Arc<str>,
}

impl ConnectOptions {
    /// Plain TCP with the default timeout, no trace.
    pub fn new(service: &str) -> Self {
        Self {
            connect_timeout: CONNECT_TIMEOUT,
            tls: None,
            trace: None,
            service: Arc::from(service),
        }
    }
}

/// The host of `host:port` (or `[v6]:port`), as a TLS server name wants it.
pub fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host,
        None => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Connect to `addr` (`host:port`), trying each resolved address in turn, then do the TLS
/// handshake if asked, all within `options.connect_timeout`.
///
/// # Errors
/// [`Error::Resolve`], [`Error::Connect`] (refused, unreachable), [`Error::ConnectTimeout`], or
/// [`Error::TlsHandshake`] (certificate not trusted, fingerprint mismatch, not a TLS server).
///
/// # Cancel safety
/// Dropping the future abandons the attempt and closes any half-open socket.
pub async fn connect(addr: &str, options: &ConnectOptions) -> Result<Stream, Error> {
    let after = options.connect_timeout;
    match tokio::time::timeout(after, connect_inner(addr, options)).await {
        Ok(result) => result,
        Err(_) => Err(Error::ConnectTimeout {
            addr: addr.to_owned(),
            after,
        }),
    }
}

async fn connect_inner(addr: &str, options: &ConnectOptions) -> Result<Stream, Error> {
    let candidates: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| Error::Resolve {
            addr: addr.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last_err = None;
    let mut connected = None;
    for candidate in &candidates {
        match TcpStream::connect(candidate).await {
            Ok(tcp) => {
                connected = Some((tcp, *candidate));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let (tcp, peer) = match (connected, last_err) {
        (Some(ok), _) => ok,
        (None, Some(source)) => {
            return Err(Error::Connect {
                addr: addr.to_owned(),
                source,
            })
        }
        (None, None) => {
            return Err(Error::Resolve {
                addr: addr.to_owned(),
                reason: "no addresses found".into(),
            })
        }
    };
    // Protocols here batch their own writes; Nagle would only add latency to small replies.
    let _ = tcp.set_nodelay(true);
    let stream = match &options.tls {
        None => Stream::plain(tcp, peer),
        Some(tls) => {
            let name = ServerName::try_from(host_of(addr).to_owned())
                .map_err(|e| Error::tls(format!("{addr} is not a valid TLS server name: {e}")))?;
            let tls_stream =
                tls.connector()
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Error::TlsHandshake {
                        peer: addr.to_owned(),
                        reason: describe_tls_error(&e),
                    })?;
            Stream::client_tls(tls_stream, peer)
        }
    };
    Ok(stream.traced(options.trace.clone(), &options.service))
}

/// A one-line reason for a failed handshake. rustls prints some certificate errors with their
/// Debug form; the ones prise raises itself (fingerprint mismatch) read better with Display.
pub fn describe_tls_error(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            format!("invalid peer certificate: {}", other.0)
        }
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            "the server's certificate is not signed by a trusted authority \
             (for a self-signed server, pin it with --fingerprint or trust it with --ca)"
                .to_owned()
        }
        Some(tls) => tls.to_string(),
        None => e.to_string(),
    }
}

/// Bind a TCP listener.
///
/// # Errors
/// [`Error::Io`] naming the address (in use, not ours, permission denied).
pub async fn bind(addr: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {addr}"), e))
}

/// Print the `<name> listening on <ip>:<port>` line on stdout and flush it.
///
/// Scripts and tests wait for this line to know the server is ready and which port it got.
pub fn announce(name: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{name} listening on {addr}");
    let _ = out.flush();
}

/// Run `future` with a timeout, naming what timed out.
///
/// # Errors
/// [`Error::Timeout`] when `after` elapses first.
pub async fn with_timeout<T>(
    what: &str,
    after: Duration,
    future: impl std::future::Future<Output = T>,
) -> Result<T, Error> {
    tokio::time::timeout(after, future)
        .await
        .map_err(|_| Error::Timeout {
            what: what.to_owned(),
            after,
        })
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_is_split_from_port() {
        assert_eq!(host_of("example.org:443"), "example.org");
        assert_eq!(host_of("127.0.0.1:7"), "127.0.0.1");
        assert_eq!(host_of("[::1]:7"), "::1");
    }
}
