//! Sending a file: validators, conditional requests (RFC 9110, 13), ranges (14) and the body.
//!
//! Why not tower-http's `ServeFile`: it does every `open`, `stat` and 64 KiB `read` through
//! `tokio::fs`, a trip to the blocking pool each. Measured with `bench/http` (wrk, 1 KiB file,
//! 64 connections), prise made 0.10x nginx's requests per second, and half of its CPU time was
//! the kernel switching between runtime and pool threads.
//!
//! What this module does instead, decided from that measurement:
//! - The `open` and `fstat` run on the runtime thread, as nginx's worker does them: for a path in
//!   the dentry cache they take microseconds, less than the hand-off to another thread.
//! - A body up to [`INLINE`] bytes is read at once, on the runtime thread, and sent as one buffer.
//! - A larger body streams in [`CHUNK`]-byte reads. Each read first asks the page cache only
//!   (`preadv2` with `RWF_NOWAIT`, which never waits for the disk); only when the data is not
//!   in memory does the read go to the blocking pool. A hot file streams without a thread
//!   switch, a cold one never stalls the runtime.
//!
//! The file is opened once and every length, date and byte comes from that open file, so a file
//! replaced while it is sent is sent whole as it was (the rename leaves the old inode readable),
//! and a file cut shorter while it is sent ends the connection early, never a short body under a
//! full `Content-Length`.

use std::fs::{File, Metadata};
use std::future::Future as _;
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Stream;
use tokio::task::JoinHandle;

use crate::ranges::{self, Ask};

/// `O_NONBLOCK`, for opening what may turn out to be a named pipe.
#[allow(clippy::cast_possible_wrap)] // a flag bit, well below i32's sign bit
pub(crate) const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;

/// Bodies up to this size are read whole before the answer starts.
pub(crate) const INLINE: u64 = 256 * 1024;
/// The size of each read of a larger body.
pub(crate) const CHUNK: usize = 256 * 1024;

/// An open file (or folder) and what `fstat` said of it.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) file: File,
    pub(crate) meta: Metadata,
}

impl Open {
    /// Open `path` if it is a regular file (or a folder: the caller decides). Blocking, briefly.
    pub(crate) fn new(path: &Path) -> Option<Self> {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Non-blocking, so that opening a named pipe returns at once instead of waiting for a
        // writer (it is then refused as not a regular file); no effect on files and folders.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(NONBLOCK)
            .open(path)
            .ok()?;
        Self::from_file(file)
    }

    /// What `fstat` says of an open file.
    pub(crate) fn from_file(file: File) -> Option<Self> {
        let meta = file.metadata().ok()?;
        Some(Self { file, meta })
    }
}

/// What the request asks besides the file.
pub(crate) struct Wants<'a> {
    pub(crate) head: bool,
    pub(crate) headers: &'a HeaderMap,
}

/// `Last-Modified`'s value, formatted on the stack.
fn http_date(time: SystemTime) -> Option<HeaderValue> {
    use std::io::Write as _;
    let mut buf = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    write!(cursor, "{}", httpdate::HttpDate::from(time)).ok()?;
    let len = usize::try_from(cursor.position()).ok()?;
    HeaderValue::from_bytes(&buf[..len]).ok()
}

/// A strong validator from size and modification time (nanoseconds).
pub(crate) fn etag(meta: &Metadata) -> String {
    let ns = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{ns:x}-{:x}\"", meta.len())
}

/// The answer for `file` (named `name`, for its type). `sibling` is a precompressed copy the
/// client accepts, sent instead for a whole-file answer.
pub(crate) fn answer(
    ask: &Wants<'_>,
    name: &Path,
    file: Open,
    sibling: Option<(Open, &'static str)>,
) -> Response {
    let headers = ask.headers;
    let tag = etag(&file.meta);
    let modified = file.meta.modified().ok();
    let validators = |status: StatusCode| {
        let mut response = status.into_response();
        let out = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&tag) {
            out.insert(header::ETAG, value);
        }
        if let Some(date) = modified.and_then(http_date) {
            out.insert(header::LAST_MODIFIED, date);
        }
        response
    };
    // RFC 9110, 13.2.2: If-Match, else If-Unmodified-Since; then If-None-Match, else
    // If-Modified-Since; then Range with If-Range.
    if let Some(wanted) = header_text(headers, &header::IF_MATCH) {
        if !list_has(&wanted, &tag, false) {
            return validators(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(since) = header_date(headers, &header::IF_UNMODIFIED_SINCE) {
        if modified.is_some_and(|m| seconds(m) > seconds(since)) {
            return validators(StatusCode::PRECONDITION_FAILED);
        }
    }
    if let Some(tags) = header_text(headers, &header::IF_NONE_MATCH) {
        if list_has(&tags, &tag, true) {
            return validators(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(since) = header_date(headers, &header::IF_MODIFIED_SINCE) {
        if modified.is_some_and(|m| seconds(m) <= seconds(since)) {
            return validators(StatusCode::NOT_MODIFIED);
        }
    }
    let len = file.meta.len();
    let mut range = header_text(headers, &header::RANGE);
    if let Some(condition) = header_text(headers, &header::IF_RANGE) {
        // The range only if the client's copy is still this one; else the whole file.
        let current = condition == tag
            || (!condition.starts_with('"') && !condition.starts_with("W/"))
                && httpdate::parse_http_date(&condition)
                    .is_ok_and(|date| modified.is_some_and(|m| seconds(m) == seconds(date)));
        if !current {
            range = None;
        }
    }
    let mime = mime(name);
    let (status, start, count, file) = match ranges::ask(range.as_deref(), len) {
        Ask::None | Ask::Whole => match sibling {
            Some((sibling, encoding)) => {
                let mut response = body(
                    ask.head,
                    StatusCode::OK,
                    sibling.file,
                    0,
                    sibling.meta.len(),
                );
                let out = response.headers_mut();
                out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                return finish(response, &mime, &tag, modified);
            }
            None => (StatusCode::OK, 0, len, file.file),
        },
        Ask::One(first, last) => (
            StatusCode::PARTIAL_CONTENT,
            first,
            last - first + 1,
            file.file,
        ),
        Ask::Unsatisfiable => {
            let mut response = validators(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
        Ask::Several(parts) => {
            return finish(
                several(ask.head, &file.file, len, &mime, &parts),
                &mime,
                &tag,
                modified,
            );
        }
    };
    let mut response = body(ask.head, status, file, start, count);
    if status == StatusCode::PARTIAL_CONTENT {
        let end = start + count - 1;
        if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    finish(response, &mime, &tag, modified)
}

/// Add the representation's headers (the type unless already set).
#[allow(clippy::ptr_arg)] // a borrowed type becomes a static header value, with no copy
fn finish(
    mut response: Response,
    mime: &std::borrow::Cow<'static, str>,
    tag: &str,
    modified: Option<SystemTime>,
) -> Response {
    let out = response.headers_mut();
    if !out.contains_key(header::CONTENT_TYPE) {
        let value = match mime {
            std::borrow::Cow::Borrowed(name) => Ok(HeaderValue::from_static(name)),
            std::borrow::Cow::Owned(name) => HeaderValue::from_str(name),
        };
        if let Ok(value) = value {
            out.insert(header::CONTENT_TYPE, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(tag) {
        out.insert(header::ETAG, value);
    }
    if let Some(date) = modified.and_then(http_date) {
        out.insert(header::LAST_MODIFIED, date);
    }
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

/// The content type for a name: text types say UTF-8, which browsers would not assume.
pub(crate) fn mime(name: &Path) -> std::borrow::Cow<'static, str> {
    let guess = mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream");
    if guess.starts_with("text/") && !guess.contains("charset") {
        std::borrow::Cow::Owned(format!("{guess}; charset=utf-8"))
    } else {
        std::borrow::Cow::Borrowed(guess)
    }
}

/// `count` bytes of `file` from `start`: read now when small, streamed otherwise.
fn body(head: bool, status: StatusCode, file: File, start: u64, count: u64) -> Response {
    let body = if head || count == 0 {
        Body::empty()
    } else if count <= INLINE {
        match read_exact_at(&file, start, count) {
            Ok(bytes) => Body::from(bytes),
            Err(e) => {
                tracing::warn!(cause = %e, "reading a file to send");
                return crate::app::error(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    } else {
        Body::from_stream(Chunks {
            file: Arc::new(file),
            offset: start,
            remaining: count,
            pending: None,
        })
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    response
}

/// `count` bytes from `start`, read into fresh memory without zeroing it first.
fn read_exact_at(file: &File, start: u64, count: u64) -> io::Result<Vec<u8>> {
    let count = usize::try_from(count).map_err(io::Error::other)?;
    let mut buffer = Vec::with_capacity(count);
    while buffer.len() < count {
        let at = start + buffer.len() as u64;
        if rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buffer), at)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being read",
            ));
        }
    }
    buffer.truncate(count);
    Ok(buffer)
}

/// Several ranges in one `multipart/byteranges` answer. The parts are at most
/// [`ranges::MAX_BYTES`] in all; they are read now.
fn several(head: bool, file: &File, len: u64, mime: &str, parts: &[(u64, u64)]) -> Response {
    let Ok((body, boundary)) = ranges::body(file, len, mime, parts) else {
        return crate::app::error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let length = body.len();
    let mut response = (
        StatusCode::PARTIAL_CONTENT,
        [(
            header::CONTENT_TYPE,
            format!("multipart/byteranges; boundary={boundary}"),
        )],
        if head { Vec::new() } else { body },
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// A large body, read [`CHUNK`] bytes at a time: from the page cache on the spot, from the
/// disk in the blocking pool.
struct Chunks {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    pending: Option<JoinHandle<io::Result<Vec<u8>>>>,
}

impl Chunks {
    fn advance(&mut self, data: Vec<u8>) -> Poll<Option<io::Result<Bytes>>> {
        if data.is_empty() {
            self.remaining = 0;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while being sent",
            ))));
        }
        let n = data.len() as u64;
        self.offset += n;
        self.remaining = self.remaining.saturating_sub(n);
        Poll::Ready(Some(Ok(Bytes::from(data))))
    }
}

impl Stream for Chunks {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(pending) = self.pending.as_mut() {
            let done = match Pin::new(pending).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(done) => done,
            };
            self.pending = None;
            return match done {
                Ok(Ok(data)) => self.advance(data),
                Ok(Err(e)) => {
                    self.remaining = 0;
                    Poll::Ready(Some(Err(e)))
                }
                Err(e) => {
                    self.remaining = 0;
                    Poll::Ready(Some(Err(io::Error::other(e))))
                }
            };
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.remaining).unwrap_or(CHUNK).min(CHUNK);
        let mut data = vec![0; want];
        // The page cache first: never waits for the disk.
        match rustix::io::preadv2(
            &*self.file,
            &mut [io::IoSliceMut::new(&mut data)],
            self.offset,
            rustix::io::ReadWriteFlags::NOWAIT,
        ) {
            Ok(n) if n > 0 => {
                data.truncate(n);
                return self.advance(data);
            }
            // 0 may mean the end of the file or "nothing cached": the pool tells which.
            Ok(_) | Err(_) => {}
        }
        let file = Arc::clone(&self.file);
        let offset = self.offset;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let n = file.read_at(&mut data, offset)?;
            data.truncate(n);
            Ok(data)
        }));
        self.poll_next(cx)
    }
}

fn header_text(headers: &HeaderMap, name: &header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn header_date(headers: &HeaderMap, name: &header::HeaderName) -> Option<SystemTime> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a comma-separated list of entity tags names `tag` (or is `*`). `weak`: the weak
/// comparison of If-None-Match (`W/` ignored); a tag with a compression's name added (see
/// `etag_per_encoding` in the server) names the same file.
fn list_has(list: &str, tag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|given| {
        let given = if weak {
            given.trim_start_matches("W/")
        } else {
            given
        };
        given == "*" || given == tag || same_but_encoded(given, tag)
    })
}

/// Whether `given` is `tag` with an encoding's name added.
fn same_but_encoded(given: &str, tag: &str) -> bool {
    let (Some(given), Some(tag)) = (given.strip_suffix('"'), tag.strip_suffix('"')) else {
        return false;
    };
    given
        .strip_prefix(tag)
        .is_some_and(|rest| matches!(rest, "-gzip" | "-br" | "-zstd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tag_lists() {
        let tag = "\"1a-6\"";
        assert!(list_has("\"x\", \"1a-6\"", tag, false));
        assert!(list_has("*", tag, false));
        assert!(list_has("W/\"1a-6\"", tag, true));
        assert!(
            !list_has("W/\"1a-6\"", tag, false),
            "If-Match compares strongly"
        );
        assert!(list_has("\"1a-6-gzip\"", tag, true));
        assert!(!list_has("\"1a-6-deflate\"", tag, true));
        assert!(!list_has("\"1a\"", tag, true));
    }

    #[test]
    fn text_types_say_utf8() {
        assert_eq!(mime(Path::new("a.txt")), "text/plain; charset=utf-8");
        assert_eq!(mime(Path::new("a.html")), "text/html; charset=utf-8");
        assert_eq!(mime(Path::new("a.png")), "image/png");
        assert_eq!(mime(Path::new("a")), "application/octet-stream");
    }
}
