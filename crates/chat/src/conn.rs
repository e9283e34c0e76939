//! What the text and native front doors share: the outgoing buffer, flood control, limits.

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use prise_core::stream::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Limits and timeouts of one connection.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Longest line a client may send.
    pub max_line_len: usize,
    /// Messages per second allowed in the long run; 0 turns flood control off.
    pub flood_rate: f64,
    /// Messages allowed in a burst.
    pub flood_burst: u32,
    /// Native clients silent this long are pinged; twice this long, disconnected.
    pub idle_timeout: Duration,
    /// A client that does not take our bytes for this long is disconnected.
    pub write_timeout: Duration,
}

/// Most events taken from the queue for one write: bounds the buffer a burst builds.
pub(crate) const MAX_BATCH: usize = 256;

/// Token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub(crate) struct Flood {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Flood {
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Take a token; false means the client is flooding.
    pub(crate) fn allow(&mut self) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.last = now;
        self.tokens = (self.tokens + earned).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The keepalive of a connection that pings: after `period` of silence the client is pinged,
/// after as long again without a word it is given up. The timer is the caller's, pinned for
/// the connection's life and moved only when the client speaks or is pinged, never once per
/// delivered event.
#[derive(Debug)]
pub(crate) struct Keepalive {
    period: Duration,
    pinged: bool,
}

/// What an expired keepalive timer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Ping the client now.
    Ping,
    /// It did not answer the ping: disconnect it.
    TimedOut,
}

impl Keepalive {
    /// A keepalive and its timer, first due `period` from now.
    pub(crate) fn new(period: Duration) -> (Self, tokio::time::Sleep) {
        let timer = tokio::time::sleep(period);
        (
            Self {
                period,
                pinged: false,
            },
            timer,
        )
    }

    /// The client said something.
    pub(crate) fn heard(&mut self, timer: Pin<&mut tokio::time::Sleep>) {
        self.pinged = false;
        timer.reset(tokio::time::Instant::now() + self.period);
    }

    /// The timer expired.
    pub(crate) fn expired(&mut self, timer: Pin<&mut tokio::time::Sleep>) -> Idle {
        if self.pinged {
            return Idle::TimedOut;
        }
        self.pinged = true;
        timer.reset(tokio::time::Instant::now() + self.period);
        Idle::Ping
    }
}

/// The end of each turn of a connection loop: drop a used-up read buffer, then write what the
/// turn produced.
pub(crate) async fn release_and_flush(
    stream: &mut Stream,
    input: &mut BytesMut,
    out: &mut BytesMut,
    timeout: Duration,
) -> std::io::Result<()> {
    release_if_empty(input);
    flush(stream, out, timeout).await
}

/// Write everything in `out` within the write timeout, then clear it.
pub(crate) async fn flush(
    stream: &mut Stream,
    out: &mut BytesMut,
    timeout: Duration,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(timeout, stream.write_all(out)).await {
        Ok(result) => result?,
        Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
    }
    // Give the buffer back: an idle connection holds no write buffer. The next burst
    // allocates again, once per batch, not once per event.
    *out = BytesMut::new();
    Ok(())
}

/// Write bytes shared with other connections (an event's serialized form) within the timeout.
pub(crate) async fn write_shared(
    stream: &mut Stream,
    bytes: &[u8],
    timeout: Duration,
) -> std::io::Result<()> {
    match tokio::time::timeout(timeout, stream.write_all(bytes)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Bytes read at a time.
const READ_CHUNK: usize = 4096;

/// Read more input. While `input` is empty, wait for the socket to be readable before taking a
/// buffer, so an idle connection holds no read buffer.
///
/// # Cancel safety
/// Cancel safe: bytes are only ever added to `input`.
pub(crate) async fn read_more(stream: &mut Stream, input: &mut BytesMut) -> std::io::Result<usize> {
    if input.is_empty() {
        stream.readable().await?;
    }
    input.reserve(READ_CHUNK);
    stream.read_buf(input).await
}

/// Drop the read buffer's storage once every byte in it has been used.
pub(crate) fn release_if_empty(input: &mut BytesMut) {
    if input.is_empty() && input.capacity() > 0 {
        *input = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use super::Flood;

    #[test]
    fn flood_allows_the_burst_then_refuses() {
        let mut flood = Flood::new(1.0, 3);
        assert!((0..3).all(|_| flood.allow()));
        assert!(!flood.allow());
        let mut off = Flood::new(0.0, 0);
        assert!((0..1000).all(|_| off.allow()));
    }
}
