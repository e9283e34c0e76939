//! What every chat connection uses: limits and timeouts, flood control, and writing to and reading
//! from a stream without holding buffers while idle (the TCP wire of [`crate::door`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use prise_core::stream::Stream;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

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

/// Write everything in `out` within the write timeout, then clear it.
///
/// The socket almost always takes the whole buffer at once: that is tried first, without a
/// timer. Only a client that is not reading gets the timed, boxed wait ([`write_rest`]), so
/// the timer's state is not part of every connection's future. (These are plain functions
/// returning `async move` blocks: an `async fn` would keep a second copy of its arguments in
/// the state of every connection that awaits it.)
#[allow(clippy::manual_async_fn)] // see `flush`: keeps one copy of the arguments
pub(crate) fn flush<'a>(
    stream: &'a mut Stream,
    out: &'a mut BytesMut,
    timeout: Duration,
) -> impl Future<Output = std::io::Result<()>> + 'a {
    async move {
        if out.is_empty() {
            return Ok(());
        }
        let sent = std::future::poll_fn(|cx| Poll::Ready(write_now(stream, cx, out))).await?;
        if sent < out.len() {
            Box::pin(write_rest(stream, &out[sent..], timeout)).await?;
        }
        // Give the buffer back: an idle connection holds no write buffer. The next burst
        // allocates again, once per batch, not once per event.
        *out = BytesMut::new();
        Ok(())
    }
}

/// Write bytes shared with other connections (an event's serialized form) within the timeout.
#[allow(clippy::manual_async_fn)] // see `flush`: keeps one copy of the arguments
pub(crate) fn write_shared<'a>(
    stream: &'a mut Stream,
    bytes: &'a [u8],
    timeout: Duration,
) -> impl Future<Output = std::io::Result<()>> + 'a {
    async move {
        let sent = std::future::poll_fn(|cx| Poll::Ready(write_now(stream, cx, bytes))).await?;
        if sent < bytes.len() {
            Box::pin(write_rest(stream, &bytes[sent..], timeout)).await?;
        }
        Ok(())
    }
}

/// Write what the socket takes without waiting; returns how many bytes that was.
fn write_now(stream: &mut Stream, cx: &mut Context<'_>, bytes: &[u8]) -> std::io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        match Pin::new(&mut *stream).poll_write(cx, &bytes[sent..]) {
            Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => sent += n,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => break,
        }
    }
    Ok(sent)
}

/// Write the rest once the socket takes it, within the timeout.
async fn write_rest(stream: &mut Stream, bytes: &[u8], timeout: Duration) -> std::io::Result<()> {
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
        // A poll, not `Stream::readable`'s future: this wait is part of every idle
        // connection's state, and the poll form keeps no waiter of its own.
        std::future::poll_fn(|cx| stream.poll_read_ready(cx)).await?;
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
