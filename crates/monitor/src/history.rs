//! History in SQLite: every run (for uptime over 24 hours, 7 days and 30 days) and every
//! state change (the incidents). Runs older than 30 days are pruned.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};
use serde::Serialize;

/// Runs are kept this long, seconds.
pub const KEEP: u64 = 30 * 86_400;

/// The history database.
#[derive(Debug)]
pub struct History {
    db: Mutex<Connection>,
}

/// A state change.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// The check.
    pub check: String,
    /// `down` or `recovered`.
    pub event: String,
    /// When, Unix seconds.
    pub time: u64,
    /// Why it went down.
    pub error: String,
}

impl History {
    /// Open (or create) the database at `path`.
    ///
    /// # Errors
    /// When SQLite cannot open or set it up.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS runs (
                 check_name TEXT NOT NULL, time INTEGER NOT NULL, ok INTEGER NOT NULL,
                 millis REAL NOT NULL, error TEXT);
             CREATE INDEX IF NOT EXISTS runs_by_check ON runs (check_name, time);
             CREATE TABLE IF NOT EXISTS incidents (
                 check_name TEXT NOT NULL, time INTEGER NOT NULL, event TEXT NOT NULL,
                 error TEXT NOT NULL);",
        )?;
        Ok(Self { db: Mutex::new(db) })
    }

    /// Record one run. Blocking (briefly).
    pub fn run(&self, check: &str, time: u64, ok: bool, millis: f64, error: Option<&str>) {
        let Ok(db) = self.db.lock() else { return };
        let time = i64::try_from(time).unwrap_or(i64::MAX);
        if let Err(e) = db.execute(
            "INSERT INTO runs (check_name, time, ok, millis, error) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![check, time, ok, millis, error],
        ) {
            tracing::warn!("history: {e}");
        }
    }

    /// Record a state change. Blocking (briefly).
    pub fn incident(&self, check: &str, time: u64, event: &str, error: &str) {
        let Ok(db) = self.db.lock() else { return };
        let time = i64::try_from(time).unwrap_or(i64::MAX);
        if let Err(e) = db.execute(
            "INSERT INTO incidents (check_name, time, event, error) VALUES (?1, ?2, ?3, ?4)",
            params![check, time, event, error],
        ) {
            tracing::warn!("history: {e}");
        }
    }

    /// The share of successful runs of `check` since `since` (Unix seconds), from 0 to 1;
    /// `None` without runs.
    pub fn uptime(&self, check: &str, since: u64) -> Option<f64> {
        let db = self.db.lock().ok()?;
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        db.query_row(
            "SELECT AVG(ok) FROM runs WHERE check_name = ?1 AND time >= ?2",
            params![check, since],
            |row| row.get::<_, Option<f64>>(0),
        )
        .ok()
        .flatten()
    }

    /// The latest incidents, newest first.
    pub fn incidents(&self, limit: usize) -> Vec<Incident> {
        let Ok(db) = self.db.lock() else {
            return Vec::new();
        };
        let Ok(mut query) = db.prepare(
            "SELECT check_name, time, event, error FROM incidents ORDER BY time DESC, rowid DESC LIMIT ?1",
        ) else {
            return Vec::new();
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        query
            .query_map(params![limit], |row| {
                Ok(Incident {
                    check: row.get(0)?,
                    time: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    event: row.get(2)?,
                    error: row.get(3)?,
                })
            })
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// Drop runs older than [`KEEP`] before `now`.
    pub fn prune(&self, now: u64) {
        let Ok(db) = self.db.lock() else { return };
        let before = i64::try_from(now.saturating_sub(KEEP)).unwrap_or(0);
        if let Err(e) = db.execute("DELETE FROM runs WHERE time < ?1", params![before]) {
            tracing::warn!("history: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn uptime_over_a_window_and_incidents_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("h.sqlite")).unwrap();
        let now = 1_800_000_000;
        for i in 0..10 {
            history.run("web", now - 100 + i, i % 4 != 0, 12.0, None);
        }
        history.run("web", now - 10 * 86_400, false, 1.0, Some("old"));
        assert!((history.uptime("web", now - 3600).unwrap() - 0.7).abs() < 1e-9);
        let week = history.uptime("web", now - 7 * 86_400).unwrap();
        assert!((week - 0.7).abs() < 1e-9);
        let month = history.uptime("web", now - 30 * 86_400).unwrap();
        assert!((month - 7.0 / 11.0).abs() < 1e-9);
        assert_eq!(history.uptime("db", now - 3600), None);
        history.incident("web", now - 50, "down", "refused");
        history.incident("web", now - 20, "recovered", "");
        let incidents = history.incidents(10);
        assert_eq!(incidents.len(), 2);
        assert_eq!(incidents[0].event, "recovered");
        history.prune(now + 21 * 86_400);
        assert!(
            (history.uptime("web", 0).unwrap() - 0.7).abs() < 1e-9,
            "the 10-day-old run is gone"
        );
    }
}
