//! Room history in SQLite, written on a dedicated thread in batches.
//!
//! The async threads never touch the database: they send [`Message`]s down a bounded channel, and
//! one thread writes whatever has queued in one transaction. Queries go the same way and answer
//! through a oneshot. [`History::flush`] waits until everything queued before it is committed;
//! the server calls it on shutdown, so a message it acknowledged survives Ctrl-C and restart.
//! When the last handle is dropped the thread writes what is left and stops.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a crash of prise loses nothing that
//! was committed; a power cut may lose the last transaction.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use crate::event::Message;
use crate::Error;

/// Messages waiting to be written. When the disk falls this far behind, senders wait: a burst
/// slows the people sending it rather than losing history.
pub const QUEUE_LEN: usize = 16 * 1024;

/// Most messages written in one transaction.
const BATCH: usize = 2048;

enum Job {
    Store(Message),
    Recent {
        room: String,
        before: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<Result<(Vec<Message>, bool), Error>>,
    },
    Flush(oneshot::Sender<()>),
}

/// A handle on the history thread.
#[derive(Debug, Clone)]
pub struct History {
    tx: mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl History {
    /// Open (or create) the database at `path` and start the writer thread. Returns the store
    /// and the highest message id already in it.
    ///
    /// # Errors
    /// [`Error::History`] when the file cannot be opened or is not a prise history database.
    pub fn open(path: &Path) -> Result<(Self, u64), Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::history(path, format!("creating its folder: {e}")))?;
        }
        let conn = Connection::open(path).map_err(|e| Error::history(path, e.to_string()))?;
        // busy_timeout: `prise chat account` writes the same file (the accounts table) while the
        // server runs; a batch of history waits for it rather than failing and being lost.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS messages (
                 id INTEGER PRIMARY KEY,
                 ts_ms INTEGER NOT NULL,
                 room TEXT NOT NULL,
                 sender TEXT NOT NULL,
                 text TEXT NOT NULL,
                 action INTEGER NOT NULL DEFAULT 0
             );
             CREATE INDEX IF NOT EXISTS messages_room ON messages(room, id);",
        )
        .map_err(|e| Error::history(path, e.to_string()))?;
        // The sender's account came later: a database made before gets the column.
        let has_account: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('messages') WHERE name = 'account'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| Error::history(path, e.to_string()))?;
        if !has_account {
            conn.execute_batch("ALTER TABLE messages ADD COLUMN account TEXT")
                .map_err(|e| Error::history(path, e.to_string()))?;
        }
        let max_id: u64 = conn
            .query_row("SELECT MAX(id) FROM messages", [], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .optional()
            .map_err(|e| Error::history(path, e.to_string()))?
            .flatten()
            .and_then(|id| u64::try_from(id).ok())
            .unwrap_or(0);
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        let thread_path = path.to_owned();
        std::thread::Builder::new()
            .name("prise-history".into())
            .spawn(move || run(conn, rx, &thread_path))
            .map_err(|e| Error::history(path, format!("starting its thread: {e}")))?;
        Ok((
            Self {
                tx,
                path: path.to_owned(),
            },
            max_id,
        ))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue a room message for writing. Waits only when [`QUEUE_LEN`] messages are already
    /// waiting.
    ///
    /// # Cancel safety
    /// If dropped while waiting, the message is not stored.
    pub async fn store(&self, message: Message) {
        if self.tx.send(Job::Store(message)).await.is_err() {
            tracing::error!("history thread has stopped; message not stored");
        }
    }

    /// The `limit` latest messages of `room` older than `before` (oldest first), and whether
    /// older ones exist.
    ///
    /// # Errors
    /// [`Error::History`] on a database error.
    pub async fn recent(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<Message>, bool), Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Recent {
            room: crate::names::fold(room),
            before,
            limit,
            reply,
        };
        if self.tx.send(job).await.is_err() {
            return Err(Error::history(
                &self.path,
                "history thread has stopped".into(),
            ));
        }
        answer
            .await
            .map_err(|_| Error::history(&self.path, "history thread has stopped".into()))?
    }

    /// Wait until everything queued so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn millis(t: SystemTime) -> i64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, path: &Path) {
    let mut pending: Vec<Message> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut waiting: Vec<Job> = Vec::new();
        // Take what is already queued, up to a batch, so one transaction covers a burst.
        while let Some(job) = next {
            match job {
                Job::Store(message) => pending.push(message),
                other => waiting.push(other),
            }
            next = if pending.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !pending.is_empty() {
            if let Err(e) = write(&mut conn, &pending) {
                tracing::error!(file = %path.display(), cause = %e, lost = pending.len(), "writing history failed");
            }
            pending.clear();
        }
        // Queries and flushes run after the writes queued before them, so they see them.
        for job in waiting {
            match job {
                Job::Recent {
                    room,
                    before,
                    limit,
                    reply,
                } => {
                    let result = query(&conn, &room, before, limit)
                        .map_err(|e| Error::history(path, e.to_string()));
                    let _ = reply.send(result);
                }
                Job::Flush(done) => {
                    let _ = done.send(());
                }
                Job::Store(_) => {}
            }
        }
    }
    // All senders are gone: everything has been written. Checkpoint so the WAL stays small.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
}

fn write(conn: &mut Connection, messages: &[Message]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO messages (id, ts_ms, room, sender, text, action, account)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for m in messages {
            let id = i64::try_from(m.id).unwrap_or(i64::MAX);
            insert.execute(params![
                id,
                millis(m.ts),
                crate::names::fold(&m.to),
                m.from,
                m.text,
                m.action,
                m.account
            ])?;
        }
    }
    tx.commit()
}

fn query(
    conn: &Connection,
    room: &str,
    before: Option<u64>,
    limit: usize,
) -> rusqlite::Result<(Vec<Message>, bool)> {
    let before = before
        .and_then(|b| i64::try_from(b).ok())
        .unwrap_or(i64::MAX);
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT id, ts_ms, sender, text, action, account FROM messages
         WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let room_name: String = room.to_owned();
    let mut rows: Vec<Message> = stmt
        .query_map(params![room, before, fetch], |row| {
            let id: i64 = row.get(0)?;
            let ts_ms: i64 = row.get(1)?;
            Ok(Message {
                id: u64::try_from(id).unwrap_or(0),
                ts: UNIX_EPOCH + Duration::from_millis(u64::try_from(ts_ms).unwrap_or(0)),
                from: row.get(2)?,
                account: row.get(5)?,
                to: room_name.clone(),
                text: row.get(3)?,
                action: row.get(4)?,
                notice: false,
                client_tags: None,
                tag_only: false,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    rows.reverse();
    Ok((rows, more))
}
