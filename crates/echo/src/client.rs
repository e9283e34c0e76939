//! The echo client: send and print what comes back, or measure round trips.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use prise_core::codec::{LineCodec, MAX_LINE_LEN};
use prise_core::net::{connect, with_timeout, ConnectOptions, REQUEST_TIMEOUT};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Framed;

use crate::Error;

/// Copy buffer size for [`send`].
const COPY_BUFFER: usize = 16 * 1024;

/// How the client connects and how long it waits.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connect timeout, TLS and tracing.
    pub connect: ConnectOptions,
    /// Longest wait for the server: for each reply in [`ping`], and for more bytes after the
    /// input is all sent in [`send`].
    pub timeout: Duration,
}

impl Config {
    /// Defaults: plain TCP, 5 s to connect, 10 s to answer.
    pub fn new() -> Self {
        Self {
            connect: ConnectOptions::new("echo"),
            timeout: REQUEST_TIMEOUT,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`send`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes sent to the server.
    pub sent: u64,
    /// Bytes received and written to the output.
    pub received: u64,
}

/// Connect to `addr`, send all of `input`, half-close, and copy everything the server sends
/// to `output` until it closes.
///
/// Sending and receiving run at once, so an input larger than the socket buffers cannot
/// deadlock against a server that echoes. While input is still being sent the client waits for
/// the server as long as it takes (a person may be typing); once the input is done, each read
/// must arrive within `config.timeout`.
///
/// # Errors
/// Connect and TLS errors, [`prise_core::Error::Timeout`] when the server stops answering, and
/// I/O errors on either side.
///
/// # Cancel safety
/// Dropping the future closes the connection; bytes already written to `output` stay there.
pub async fn send<R, W>(
    addr: &str,
    mut input: R,
    mut output: W,
    config: &Config,
) -> Result<Transfer, Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let stream = connect(addr, &config.connect).await?;
    let (mut rd, mut wr) = tokio::io::split(stream);
    // Flips to true once all input is sent: from then on the server must keep answering.
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);

    let sending = async {
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut sent = 0u64;
        loop {
            let n = input
                .read(&mut buf)
                .await
                .map_err(|e| Error::io("reading input", e))?;
            if n == 0 {
                break;
            }
            with_timeout(
                &format!("sending to {addr}"),
                config.timeout,
                wr.write_all(&buf[..n]),
            )
            .await?
            .map_err(|e| Error::io(format!("sending to {addr}"), e))?;
            sent += n as u64;
        }
        // Half-close: tells the server we are done, and lets it finish and close.
        wr.shutdown()
            .await
            .map_err(|e| Error::io(format!("closing the sending side to {addr}"), e))?;
        let _ = done_tx.send(true);
        Ok::<u64, Error>(sent)
    };

    let receiving = async {
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut received = 0u64;
        let waiting = format!("waiting for {addr}");
        loop {
            let read = rd.read(&mut buf);
            tokio::pin!(read);
            let input_done = *done_rx.borrow();
            let n = if input_done {
                with_timeout(&waiting, config.timeout, read).await?
            } else {
                tokio::select! {
                    n = read.as_mut() => n,
                    // Input finished while this read was pending: bound the rest of the wait.
                    () = async { let _ = done_rx.wait_for(|done| *done).await; } => {
                        with_timeout(&waiting, config.timeout, read.as_mut()).await?
                    }
                }
            }
            .map_err(|e| Error::io(format!("reading from {addr}"), e))?;
            if n == 0 {
                break;
            }
            output
                .write_all(&buf[..n])
                .await
                .map_err(|e| Error::io("writing output", e))?;
            received += n as u64;
        }
        output
            .flush()
            .await
            .map_err(|e| Error::io("writing output", e))?;
        Ok::<u64, Error>(received)
    };

    let (sent, received) = tokio::try_join!(sending, receiving)?;
    Ok(Transfer { sent, received })
}

/// One round trip measured by [`ping`].
#[derive(Debug, Clone)]
pub struct Round {
    /// 1-based sequence number.
    pub seq: u32,
    /// The line the server sent back (without `\n`).
    pub reply: Bytes,
    /// Time from sending the line to receiving the reply.
    pub rtt: Duration,
}

/// Round-trip statistics, as `ping` prints them.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Lines sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    /// Fastest round trip.
    pub min: Duration,
    /// Mean round trip.
    pub avg: Duration,
    /// Slowest round trip.
    pub max: Duration,
}

/// Send `message` as a line `count` times over one connection, waiting for one reply line each
/// time, `interval` apart; `on_round` is called after each reply.
///
/// # Errors
/// Connect and TLS errors, [`Error::MultiLineMessage`], [`prise_core::Error::Timeout`] when a
/// reply does not come within `config.timeout`, [`Error::Closed`] when the server hangs up.
///
/// # Cancel safety
/// Dropping the future closes the connection.
pub async fn ping(
    addr: &str,
    message: &str,
    count: u32,
    interval: Duration,
    config: &Config,
    mut on_round: impl FnMut(&Round),
) -> Result<Stats, Error> {
    if message.contains(['\n', '\r']) {
        return Err(Error::MultiLineMessage);
    }
    let stream = connect(addr, &config.connect).await?;
    let mut framed = Framed::new(stream, LineCodec::new(MAX_LINE_LEN));
    let mut stats = Stats::default();
    let mut total = Duration::ZERO;
    for seq in 1..=count {
        if seq > 1 && !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
        let started = Instant::now();
        framed
            .send(message.as_bytes())
            .await
            .map_err(|e| Error::Codec {
                peer: addr.to_owned(),
                source: e,
            })?;
        stats.sent += 1;
        let reply = with_timeout(
            &format!("waiting for {addr}"),
            config.timeout,
            framed.next(),
        )
        .await?;
        let reply = match reply {
            None => {
                return Err(Error::Closed {
                    peer: addr.to_owned(),
                })
            }
            Some(Err(e)) => {
                return Err(Error::Codec {
                    peer: addr.to_owned(),
                    source: e,
                })
            }
            Some(Ok(line)) => line,
        };
        let rtt = started.elapsed();
        stats.received += 1;
        stats.min = if seq == 1 { rtt } else { stats.min.min(rtt) };
        stats.max = stats.max.max(rtt);
        total += rtt;
        on_round(&Round { seq, reply, rtt });
    }
    if stats.received > 0 {
        stats.avg = total / stats.received;
    }
    let _ = framed.get_mut().shutdown().await;
    Ok(stats)
}
