//! The traffic log behind `--trace-file`: every byte every service sends or receives.
//!
//! The tutorial's last section debugs a protocol by watching its traffic. prise does it for every
//! service at once: [`crate::stream::Stream`] reports each successful read and write here, so no
//! service logs by hand and none can forget. Bytes are logged as the application sees them, that
//! is after TLS decryption, which is what one wants when debugging a protocol.
//!
//! One line per read or write:
//!
//! ```text
//! 2026-11-24T23:16:40.123Z echo 127.0.0.1:50312 recv 6 "hello\n"
//! 2026-11-24T23:16:40.124Z ftp 127.0.0.1:50313 recv 16 "PASS ***\r\n"
//! 2026-11-24T23:16:40.125Z receive 127.0.0.1:50314 send 5 hex:00ff10a1b2
//! ```
//!
//! Fields: RFC 3339 UTC timestamp with milliseconds, service, peer address, `send` or `recv`
//! (from our side), byte count, then the bytes: as a quoted string with Rust-style escapes when
//! they are mostly printable text, otherwise `hex:` and lowercase hex. Lines are cut at
//! [`MAX_LOGGED_BYTES`] (the byte count still says how many moved).
//!
//! Writing happens on a dedicated thread fed by a bounded queue, so a slow disk never stalls a
//! network task. If the queue is full the entry is dropped and the next line written says how many
//! were lost; losing a debug line is better than stalling every connection.
//!
//! Secrets: each stream may carry a [`Redactor`] that rewrites bytes before they are logged (FTP
//! and IRC passwords, HTTP `Authorization`). [`redact_commands`] builds the common one.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::SystemTime;

use crate::Error;

/// At most this many bytes of one read or write are written out; a trace of a 1 GiB transfer
/// should stay readable and not be 2 GiB of hex.
pub const MAX_LOGGED_BYTES: usize = 4096;

/// Entries waiting for the writer thread; beyond this they are counted and dropped.
pub const QUEUE_LEN: usize = 8192;

/// Which way the bytes went, from this process's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We wrote them to the peer.
    Send,
    /// We read them from the peer.
    Recv,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
        }
    }
}

/// Rewrites bytes before they reach the log, to hide secrets. Returns `None` to log them as they
/// are.
pub type Redactor = Arc<dyn Fn(Direction, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// A redactor that hides the argument of line-based commands such as `PASS secret` (FTP, IRC) or
/// `Authorization: Basic ...` (HTTP): for every line that starts with one of `prefixes`
/// (compared without case, after any leading white space or Telnet control bytes, which FTP
/// servers skip too, and after IRC's leading `@tags` and `:source` words), everything after the
/// prefix up to the line end becomes `***`.
///
/// It follows lines across reads and writes (a command split over two TCP segments is still
/// hidden), so it keeps state: make one per stream (`Stream::set_redactor`), never share one.
pub fn redact_commands(prefixes: &[&str]) -> Redactor {
    let prefixes: Vec<Vec<u8>> = prefixes
        .iter()
        .map(|p| p.as_bytes().to_ascii_lowercase())
        .collect();
    // Per direction: the significant start of the current line, and what is decided about it.
    let lines = std::sync::Mutex::new([(Vec::new(), Line::Open), (Vec::new(), Line::Open)]);
    Arc::new(move |direction, bytes| {
        let mut lines = lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (head, line) = &mut lines[direction as usize];
        let mut out = Vec::with_capacity(bytes.len() + 3);
        let mut changed = false;
        for &b in bytes {
            if b == b'\n' {
                out.push(b);
                head.clear();
                *line = Line::Open;
                continue;
            }
            match line {
                Line::Hidden => {
                    // Keep the line ending; drop the secret.
                    if b == b'\r' {
                        out.push(b);
                    }
                    changed = true;
                }
                Line::Shown => out.push(b),
                Line::Word => {
                    out.push(b);
                    if b == b' ' {
                        *line = Line::Open;
                    }
                }
                Line::Open => {
                    out.push(b);
                    if head.is_empty() && (b.is_ascii_whitespace() || b >= 0xf0) {
                        continue;
                    }
                    if head.is_empty() && (b == b'@' || b == b':') {
                        // IRC: `@tags` or `:source` before the command.
                        *line = Line::Word;
                        continue;
                    }
                    head.push(b.to_ascii_lowercase());
                    if prefixes.iter().any(|p| p == head) {
                        *line = Line::Hidden;
                        out.extend_from_slice(b"***");
                        changed = true;
                    } else if !prefixes.iter().any(|p| p.starts_with(head)) {
                        *line = Line::Shown;
                    }
                }
            }
        }
        changed.then_some(out)
    })
}

/// A redactor that hides the string values of the JSON keys `keys` (`"password": "..."`
/// becomes `"password": "***"`), wherever they stand in a line and however the line is cut
/// across reads. For JSON-lines protocols (prise chat's native protocol).
///
/// It keeps state per direction, like [`redact_commands`]: make one per stream.
pub fn redact_json_values(keys: &[&str]) -> Redactor {
    let patterns: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| format!("\"{k}\"").into_bytes())
        .collect();
    let states = std::sync::Mutex::new([
        Json::Scan(vec![0; patterns.len()]),
        Json::Scan(vec![0; patterns.len()]),
    ]);
    Arc::new(move |direction, bytes| {
        let mut states = states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut states[direction as usize];
        let mut out = Vec::with_capacity(bytes.len() + 3);
        let mut changed = false;
        for &b in bytes {
            match state {
                Json::Scan(matched) => {
                    out.push(b);
                    let mut found = false;
                    for (m, p) in matched.iter_mut().zip(&patterns) {
                        if p[*m] == b {
                            *m += 1;
                        } else {
                            *m = usize::from(p[0] == b);
                        }
                        if *m == p.len() {
                            found = true;
                        }
                    }
                    if found {
                        *state = Json::Key;
                    }
                }
                Json::Key => {
                    out.push(b);
                    if b == b':' {
                        *state = Json::Colon;
                    } else if !b.is_ascii_whitespace() {
                        *state = Json::Scan(vec![0; patterns.len()]);
                    }
                }
                Json::Colon => {
                    out.push(b);
                    if b == b'"' {
                        out.extend_from_slice(b"***");
                        changed = true;
                        *state = Json::Value { escaped: false };
                    } else if !b.is_ascii_whitespace() {
                        *state = Json::Scan(vec![0; patterns.len()]);
                    }
                }
                Json::Value { escaped } => {
                    changed = true;
                    if b == b'\n' {
                        // A line never holds a raw newline inside a string: the line ended.
                        out.push(b);
                        *state = Json::Scan(vec![0; patterns.len()]);
                    } else if *escaped {
                        *escaped = false;
                    } else if b == b'\\' {
                        *escaped = true;
                    } else if b == b'"' {
                        out.push(b);
                        *state = Json::Scan(vec![0; patterns.len()]);
                    }
                }
            }
        }
        changed.then_some(out)
    })
}

/// Where [`redact_json_values`] is in a line.
enum Json {
    /// Looking for a key: how much of each pattern the last bytes matched.
    Scan(Vec<usize>),
    /// After a key: a `:` may follow.
    Key,
    /// After `key:`: a string value may start.
    Colon,
    /// Inside a hidden string value.
    Value {
        /// The last byte was a backslash.
        escaped: bool,
    },
}

/// Redactors applied one after the other, each to what the one before let through.
pub fn redact_all(redactors: Vec<Redactor>) -> Redactor {
    Arc::new(move |direction, bytes| {
        let mut current: Option<Vec<u8>> = None;
        for redactor in &redactors {
            let input = current.as_deref().unwrap_or(bytes);
            if let Some(changed) = redactor(direction, input) {
                current = Some(changed);
            }
        }
        current
    })
}

/// What a redactor knows of the line in progress.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Its start could still be a prefix.
    Open,
    /// In a leading `@tags` or `:source` word (IRC); the command follows it.
    Word,
    /// Not a secret line.
    Shown,
    /// A prefix matched: the rest is hidden.
    Hidden,
}

enum Message {
    Record(Entry),
    Flush(std::sync::mpsc::Sender<()>),
}

struct Entry {
    at: SystemTime,
    service: Arc<str>,
    peer: SocketAddr,
    direction: Direction,
    len: usize,
    bytes: Vec<u8>,
}

/// A handle on the traffic log. Cheap to clone; every clone writes to the same file.
#[derive(Clone)]
pub struct TrafficLog {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for TrafficLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrafficLog").finish_non_exhaustive()
    }
}

impl TrafficLog {
    /// Open `path` for appending and start the writer thread.
    ///
    /// The thread ends, after writing everything queued, when the last handle is dropped.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening trace file {}", path.display()), e))?;
        let (tx, rx) = sync_channel(QUEUE_LEN);
        let dropped = Arc::new(AtomicU64::new(0));
        let writer_dropped = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("prise-trace".into())
            .spawn(move || write_entries(file, rx, &writer_dropped))
            .map_err(|e| Error::io("starting the trace writer thread", e))?;
        Ok(Self { tx, dropped })
    }

    /// Record one read or write. Never blocks.
    pub fn record(
        &self,
        service: &Arc<str>,
        peer: SocketAddr,
        direction: Direction,
        bytes: &[u8],
        redactor: Option<&Redactor>,
    ) {
        let redacted = redactor.and_then(|r| r(direction, bytes));
        let shown: &[u8] = redacted.as_deref().unwrap_or(bytes);
        let entry = Entry {
            at: SystemTime::now(),
            service: Arc::clone(service),
            peer,
            direction,
            len: bytes.len(),
            bytes: shown[..shown.len().min(MAX_LOGGED_BYTES)].to_vec(),
        };
        match self.tx.try_send(Message::Record(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Wait until everything recorded so far is written to the file. Blocks the calling thread:
    /// call it at shutdown or from tests, not from a network task.
    pub fn flush(&self) {
        let (ack_tx, ack_rx) = std::sync::mpsc::channel();
        if self.tx.send(Message::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv();
        }
    }
}

fn write_entries(file: std::fs::File, rx: Receiver<Message>, dropped: &AtomicU64) {
    let mut out = std::io::BufWriter::new(file);
    let mut line = String::new();
    // Block for the first entry, then drain what else is queued before one flush.
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            let entry = match message {
                Message::Record(entry) => entry,
                Message::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.send(());
                    next = rx.try_recv().ok();
                    continue;
                }
            };
            line.clear();
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let _ = writeln!(
                    line,
                    "{} trace {lost} entries dropped: the writer fell behind",
                    humantime::format_rfc3339_millis(entry.at)
                );
            }
            format_entry(&entry, &mut line);
            if out.write_all(line.as_bytes()).is_err() {
                // A full disk or a removed file: keep draining so senders never block, but
                // there is nowhere to report this except the main log.
                tracing::warn!("trace file write failed; further entries may be lost");
            }
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

fn format_entry(entry: &Entry, line: &mut String) {
    let _ = write!(
        line,
        "{} {} {} {} {} ",
        humantime::format_rfc3339_millis(entry.at),
        entry.service,
        entry.peer,
        entry.direction.as_str(),
        entry.len
    );
    line.push_str(&render_bytes(&entry.bytes));
    if entry.bytes.len() < entry.len {
        line.push_str(" ...");
    }
    line.push('\n');
}

/// Render bytes for the log: escaped text when at least 90% of them are printable ASCII or
/// valid UTF-8 text, else hex.
pub fn render_bytes(bytes: &[u8]) -> Cow<'static, str> {
    if looks_like_text(bytes) {
        let text = String::from_utf8_lossy(bytes);
        Cow::Owned(format!("{text:?}"))
    } else {
        let mut hex = String::with_capacity(4 + bytes.len() * 2);
        hex.push_str("hex:");
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        Cow::Owned(hex)
    }
}

fn looks_like_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let total = text.chars().count();
    let odd = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .count();
    odd * 10 <= total
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn json_values_of_named_keys_are_hidden_even_when_cut_across_reads() {
        let line = br#"{"type":"login","account":"bob","password" : "s3c\"ret","ref":1}"#;
        for cut in 0..line.len() {
            let r = redact_json_values(&["password"]);
            let mut out = Vec::new();
            for part in [&line[..cut], &line[cut..]] {
                out.extend(r(Direction::Recv, part).unwrap_or_else(|| part.to_vec()));
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                r#"{"type":"login","account":"bob","password" : "***","ref":1}"#,
                "cut at {cut}"
            );
        }
        let r = redact_json_values(&["password"]);
        assert!(r(
            Direction::Recv,
            br#"{"type":"chat","text":"my password is x"}"#
        )
        .is_none());
        let both = redact_all(vec![
            redact_commands(&["PASS "]),
            redact_json_values(&["password"]),
        ]);
        assert_eq!(both(Direction::Recv, b"PASS x\n").unwrap(), b"PASS ***\n");
        assert_eq!(
            both(Direction::Recv, br#"{"password":"x"}"#).unwrap(),
            br#"{"password":"***"}"#
        );
    }

    #[test]
    fn text_is_quoted_and_binary_is_hex() {
        assert_eq!(render_bytes(b"hi\r\n"), "\"hi\\r\\n\"");
        assert_eq!(render_bytes(&[0, 1, 0xff]), "hex:0001ff");
        assert_eq!(render_bytes("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn redactor_hides_only_the_secret() {
        let redact = redact_commands(&["PASS ", "Authorization: "]);
        let out = redact(Direction::Recv, b"USER bob\r\npass hunter2\r\nNOOP\r\n").unwrap();
        assert_eq!(out, b"USER bob\r\npass ***\r\nNOOP\r\n");
        assert!(redact(Direction::Recv, b"hello\n").is_none());
        // Leading white space and Telnet bytes, as FTP servers accept them.
        let out = redact(Direction::Recv, b"  PASS a\r\n\xff\xf4PASS b\r\n").unwrap();
        assert_eq!(out, b"  PASS ***\r\n\xff\xf4PASS ***\r\n");
        // A command split over reads, and a secret split too.
        assert!(redact(Direction::Recv, b"USER x\r\nPA").is_none());
        assert_eq!(redact(Direction::Recv, b"SS hun").unwrap(), b"SS ***");
        assert_eq!(redact(Direction::Recv, b"ter2\r\n").unwrap(), b"\r\n");
        assert!(redact(Direction::Recv, b"NOOP\r\n").is_none());
        // Each direction on its own.
        assert!(redact(Direction::Send, b"PASSIVE mode\r\n").is_none());
        // IRC: tags and a source before the command.
        let irc = redact_commands(&["OPER "]);
        let out = irc(Direction::Recv, b"@label=1 :me OPER admin s3cret\r\n").unwrap();
        assert_eq!(out, b"@label=1 :me OPER ***\r\n");
        assert!(irc(Direction::Recv, b"@label=2 PRIVMSG #a :OPER x\r\n").is_none());
    }

    #[test]
    fn entries_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.log");
        let log = TrafficLog::open(&path).unwrap();
        let service: Arc<str> = Arc::from("test");
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        log.record(&service, peer, Direction::Recv, b"abc", None);
        log.record(&service, peer, Direction::Send, &[0u8; 2], None);
        log.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(" test 127.0.0.1:9 recv 3 \"abc\""),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(" test 127.0.0.1:9 send 2 hex:0000"),
            "{}",
            lines[1]
        );
        assert!(lines[0].contains('T') && lines[0].split(' ').next().unwrap().ends_with('Z'));
    }
}
