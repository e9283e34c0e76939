//! The wire: JSON control lines and length-prefixed chunks on one stream
//! (docs/PROTOCOL-files.md).

use bytes::{Buf, BytesMut};
use prise_core::stream::Stream;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;

/// Protocol versions this build speaks.
pub const VERSIONS: &[u32] = &[1];

/// Longest control line, newline included.
pub const MAX_LINE: usize = 64 * 1024;

/// Largest chunk a peer may send.
pub const MAX_CHUNK: usize = 1024 * 1024;

/// Chunk size the sender uses.
pub const CHUNK: usize = 1024 * 1024;

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Sender's first message.
    Hello {
        /// Versions the sender speaks.
        versions: Vec<u32>,
        /// The receiver's token, if it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Entries in the session, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entries: Option<u64>,
        /// Bytes in the session, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
    },
    /// Receiver's answer to a good hello.
    Welcome {
        /// The version chosen.
        version: u32,
        /// The receiver's name and version.
        server: String,
    },
    /// A folder to create.
    Dir {
        /// Relative, `/`-separated.
        path: String,
        /// Unix permission bits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        /// Modification time, nanoseconds since the Unix epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtime_ns: Option<i64>,
    },
    /// A file to receive.
    File {
        /// Relative, `/`-separated.
        path: String,
        /// Exact length; `None` for a stream.
        size: Option<u64>,
        /// Unix permission bits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
        /// Modification time, nanoseconds since the Unix epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mtime_ns: Option<i64>,
    },
    /// Receiver: send from `offset`.
    Ready {
        /// The entry.
        path: String,
        /// Bytes the receiver already holds.
        offset: u64,
        /// BLAKE3 of those bytes, when `offset` > 0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix_blake3: Option<String>,
    },
    /// Receiver: already have this file.
    Have {
        /// The entry.
        path: String,
    },
    /// Sender: the contents follow, from `offset`.
    Data {
        /// First byte sent.
        offset: u64,
    },
    /// Sender: the whole file's hash.
    End {
        /// BLAKE3, hex.
        blake3: String,
    },
    /// Receiver: the entry is in place.
    Ok {
        /// The entry.
        path: String,
        /// Bytes written in this session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
    },
    /// Either side: something was refused or failed.
    Error {
        /// Machine-readable code.
        code: String,
        /// For people.
        text: String,
        /// The entry concerned, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// Sender: no more entries.
    Done,
    /// Receiver: the session's totals.
    Summary {
        /// Files received.
        files: u64,
        /// Folders created.
        dirs: u64,
        /// Bytes written.
        bytes: u64,
        /// Entries the receiver already had.
        skipped: u64,
        /// Entries refused or failed.
        failed: u64,
    },
}

/// One side of a session: the stream and what has been read but not used yet.
#[derive(Debug)]
pub struct Wire {
    stream: Stream,
    input: BytesMut,
    max_line: usize,
    sent: u64,
    received: u64,
}

impl Wire {
    /// Wrap a connected stream.
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            input: BytesMut::with_capacity(64 * 1024),
            max_line: MAX_LINE,
            sent: 0,
            received: 0,
        }
    }

    /// Accept control lines up to `max` bytes instead of [`MAX_LINE`] (prise backup's
    /// manifests list every file of a tree on one line).
    #[must_use]
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// Send one control message.
    ///
    /// # Errors
    /// [`Error::Io`] when the peer is gone.
    pub async fn send(&mut self, msg: &Msg) -> Result<(), Error> {
        self.send_json(msg).await
    }

    /// Send any serializable value as one control line (other protocols on this framing, such
    /// as prise backup's).
    ///
    /// # Errors
    /// [`Error::Io`] when the peer is gone.
    pub async fn send_json<T: Serialize>(&mut self, msg: &T) -> Result<(), Error> {
        let mut line = serde_json::to_vec(msg).map_err(|e| Error::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.stream
            .write_all(&line)
            .await
            .map_err(|e| Error::io("sending", e))?;
        self.sent += line.len() as u64;
        Ok(())
    }

    /// The next control line as any deserializable value.
    ///
    /// # Errors
    /// As [`Wire::recv`].
    pub async fn recv_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line = self.input.split_to(end + 1);
                return serde_json::from_slice(&line[..end])
                    .map_err(|e| Error::Protocol(format!("bad message: {e}")));
            }
            if self.input.len() >= self.max_line {
                return Err(Error::Protocol(format!(
                    "control line longer than {} bytes",
                    self.max_line
                )));
            }
            self.fill().await?;
        }
    }

    /// Send one chunk of contents (an empty slice ends them).
    ///
    /// # Errors
    /// [`Error::Io`] when the peer is gone.
    pub async fn send_chunk(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let len =
            u32::try_from(bytes.len()).map_err(|_| Error::Protocol("chunk over 4 GiB".into()))?;
        self.stream
            .write_all(&len.to_be_bytes())
            .await
            .map_err(|e| Error::io("sending", e))?;
        if !bytes.is_empty() {
            self.stream
                .write_all(bytes)
                .await
                .map_err(|e| Error::io("sending", e))?;
        }
        self.sent += 4 + bytes.len() as u64;
        Ok(())
    }

    /// Flush what is buffered (TLS).
    ///
    /// # Errors
    /// [`Error::Io`] when the peer is gone.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.stream
            .flush()
            .await
            .map_err(|e| Error::io("sending", e))
    }

    async fn fill(&mut self) -> Result<(), Error> {
        self.input.reserve(64 * 1024);
        let n = self
            .stream
            .read_buf(&mut self.input)
            .await
            .map_err(|e| Error::io("receiving", e))?;
        if n == 0 {
            return Err(Error::Closed);
        }
        self.received += n as u64;
        Ok(())
    }

    /// The next control message.
    ///
    /// # Errors
    /// [`Error::Closed`] at end of stream, [`Error::Protocol`] for a line that is too long or
    /// not a message.
    pub async fn recv(&mut self) -> Result<Msg, Error> {
        self.recv_json().await
    }

    /// The next chunk of contents, into `buf` (cleared first; its storage is reused, so a
    /// transfer does not allocate per chunk). `false` at the zero-length end marker.
    ///
    /// # Errors
    /// [`Error::Closed`] at end of stream, [`Error::Protocol`] for a chunk over [`MAX_CHUNK`].
    pub async fn recv_chunk_into(&mut self, buf: &mut BytesMut) -> Result<bool, Error> {
        buf.clear();
        while self.input.len() < 4 {
            self.fill().await?;
        }
        let len = u32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_CHUNK {
            return Err(Error::Protocol(format!(
                "chunk of {len} bytes (at most {MAX_CHUNK})"
            )));
        }
        self.input.advance(4);
        if len == 0 {
            return Ok(false);
        }
        // What is already buffered, then straight from the socket into `buf`.
        let buffered = len.min(self.input.len());
        buf.extend_from_slice(&self.input[..buffered]);
        self.input.advance(buffered);
        buf.reserve(len - buffered);
        while buf.len() < len {
            let want = (len - buf.len()) as u64;
            let n = (&mut self.stream)
                .take(want)
                .read_buf(buf)
                .await
                .map_err(|e| Error::io("receiving", e))?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.received += n as u64;
        }
        Ok(true)
    }

    /// Protocol bytes written so far: control lines and chunk frames (before TLS, like
    /// rsync's "Total bytes sent").
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Protocol bytes read from the peer so far (before TLS).
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The stream, for its peer address.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }
}
