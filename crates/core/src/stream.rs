//! One stream type for plain TCP and TLS, with the traffic log built in.
//!
//! Services read and write a [`Stream`] and never care whether TLS is on: the accept loop in
//! [`crate::server`] and the connector in [`crate::net`] build it. When a traffic log is attached,
//! every successful read and write is recorded there (after decryption), which is how
//! `--trace-file` covers every service without any service doing a thing.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::trace::{Direction, Redactor, TrafficLog};

enum Inner {
    Plain(TcpStream),
    // Boxed: a TLS session is a few KiB, which a plain stream should not pay for.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

struct Tap {
    log: TrafficLog,
    service: Arc<str>,
    redactor: Option<Redactor>,
}

/// A connected byte stream, plain or TLS, optionally traced.
pub struct Stream {
    inner: Inner,
    peer: SocketAddr,
    tap: Option<Tap>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("peer", &self.peer)
            .field("tls", &self.is_tls())
            .field("traced", &self.tap.is_some())
            .finish()
    }
}

impl Stream {
    /// A plain TCP stream.
    pub fn plain(tcp: TcpStream, peer: SocketAddr) -> Self {
        Self {
            inner: Inner::Plain(tcp),
            peer,
            tap: None,
        }
    }

    /// A TLS stream accepted by a server.
    pub fn server_tls(tls: tokio_rustls::server::TlsStream<TcpStream>, peer: SocketAddr) -> Self {
        Self {
            inner: Inner::ServerTls(Box::new(tls)),
            peer,
            tap: None,
        }
    }

    /// A TLS stream opened by a client.
    pub fn client_tls(tls: tokio_rustls::client::TlsStream<TcpStream>, peer: SocketAddr) -> Self {
        Self {
            inner: Inner::ClientTls(Box::new(tls)),
            peer,
            tap: None,
        }
    }

    /// Upgrade a plain stream to TLS as the server (FTP's `AUTH TLS`, STARTTLS): the traffic
    /// log stays attached. A stream that is already TLS is refused.
    ///
    /// # Errors
    /// The handshake's error; the connection is then unusable.
    pub async fn accept_tls(self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<Self> {
        let Inner::Plain(tcp) = self.inner else {
            return Err(io::Error::other("the connection already uses TLS"));
        };
        let tls = acceptor.accept(tcp).await?;
        Ok(Self {
            inner: Inner::ServerTls(Box::new(tls)),
            peer: self.peer,
            tap: self.tap,
        })
    }

    /// Upgrade a plain stream to TLS as the client, checking the server as `name`: the traffic
    /// log stays attached. A stream that is already TLS is refused.
    ///
    /// # Errors
    /// The handshake's error (a certificate that does not check out among them).
    pub async fn connect_tls(
        self,
        connector: &tokio_rustls::TlsConnector,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<Self> {
        let Inner::Plain(tcp) = self.inner else {
            return Err(io::Error::other("the connection already uses TLS"));
        };
        let tls = connector.connect(name, tcp).await?;
        Ok(Self {
            inner: Inner::ClientTls(Box::new(tls)),
            peer: self.peer,
            tap: self.tap,
        })
    }

    /// Take the plain TCP socket back out (for a transfer that bypasses the stream, such as
    /// `sendfile`); `None` for TLS.
    pub fn into_plain(self) -> Option<TcpStream> {
        match self.inner {
            Inner::Plain(tcp) => Some(tcp),
            Inner::ServerTls(_) | Inner::ClientTls(_) => None,
        }
    }

    /// Whether a traffic log is attached.
    pub fn is_traced(&self) -> bool {
        self.tap.is_some()
    }

    /// Record this stream's traffic in `log` under the service name `service`.
    pub fn traced(mut self, log: Option<TrafficLog>, service: &Arc<str>) -> Self {
        self.tap = log.map(|log| Tap {
            log,
            service: Arc::clone(service),
            redactor: None,
        });
        self
    }

    /// Hide secrets from the traffic log (no effect when the stream is not traced).
    pub fn set_redactor(&mut self, redactor: Redactor) {
        if let Some(tap) = &mut self.tap {
            tap.redactor = Some(redactor);
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Our end's address.
    ///
    /// # Errors
    /// The OS error if the socket is gone.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// The certificate the peer showed in the TLS handshake (its own, first of the chain);
    /// `None` on plain TCP or when it showed none.
    pub fn peer_certificate(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        let certs = match &self.inner {
            Inner::Plain(_) => None,
            Inner::ServerTls(tls) => tls.get_ref().1.peer_certificates(),
            Inner::ClientTls(tls) => tls.get_ref().1.peer_certificates(),
        }?;
        certs.first().map(|c| c.clone().into_owned())
    }

    /// Whether the bytes are encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self.inner, Inner::Plain(_))
    }

    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(tcp) => tcp,
            Inner::ServerTls(tls) => tls.get_ref().0,
            Inner::ClientTls(tls) => tls.get_ref().0,
        }
    }

    /// Wait until a read would make progress, without holding a buffer while waiting: servers
    /// with many idle connections call this before allocating their read buffer. For TLS it
    /// returns at once (decrypted bytes may already wait inside rustls); the read then waits.
    ///
    /// # Errors
    /// The socket's error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn readable(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Plain(tcp) => tcp.readable().await,
            Inner::ServerTls(_) | Inner::ClientTls(_) => Ok(()),
        }
    }

    /// Poll form of [`Stream::readable`]: registers the task's waker with the socket instead
    /// of keeping a waiting future, so a connection loop that waits on it stays small. Only
    /// the last task to poll is woken: one task per connection.
    ///
    /// # Errors
    /// The socket's error.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.inner {
            Inner::Plain(tcp) => tcp.poll_read_ready(cx),
            Inner::ServerTls(_) | Inner::ClientTls(_) => Poll::Ready(Ok(())),
        }
    }

    fn record(&self, direction: Direction, bytes: &[u8]) {
        if let Some(tap) = &self.tap {
            if !bytes.is_empty() {
                tap.log.record(
                    &tap.service,
                    self.peer,
                    direction,
                    bytes,
                    tap.redactor.as_ref(),
                );
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::ServerTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Inner::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if let Poll::Ready(Ok(())) = poll {
            this.record(Direction::Recv, &buf.filled()[before..]);
        }
        poll
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = poll {
            this.record(Direction::Send, &buf[..n]);
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Inner::ServerTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Inner::ClientTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        if let Poll::Ready(Ok(mut n)) = poll {
            if this.tap.is_some() {
                let mut written = Vec::with_capacity(n);
                for slice in bufs {
                    let take = n.min(slice.len());
                    written.extend_from_slice(&slice[..take]);
                    n -= take;
                    if n == 0 {
                        break;
                    }
                }
                this.record(Direction::Send, &written);
            }
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Inner::Plain(s) => s.is_write_vectored(),
            Inner::ServerTls(s) => s.is_write_vectored(),
            Inner::ClientTls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
