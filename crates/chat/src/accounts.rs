//! Accounts: a name and a password kept by the server (docs/PROTOCOL-chat.md, "Accounts").
//!
//! [`Accounts`] holds the rules (names as nicks, password lengths, Argon2id hashes, checks that
//! cost the same whether the account exists or not); a [`Store`] keeps the records. The one
//! store built is [`SqliteStore`], a table of the history database (or an in-memory database
//! without one); the store is the seam for another (the cluster's Redis).
//!
//! Hashing is slow on purpose: the async methods run it on tokio's blocking threads.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use rusqlite::{params, Connection, OptionalExtension as _};

use crate::limits::{Attempt, Exhausted, Limits};
use crate::names::{check_nick, fold};
use crate::scram::{self, Credentials};
use crate::Error;

/// Shortest password, in bytes.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Longest email address, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Argon2id memory, in KiB (OWASP's first choice: 19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const ARGON2_PASSES: u32 = 2;
/// Argon2id lanes.
pub const ARGON2_LANES: u32 = 1;
/// How late a failed login is answered (on that connection only).
pub const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// Salt length, in bytes.
pub const SALT_LEN: usize = 16;
/// Most TLS client certificates bound to one account.
pub const MAX_CERTS: usize = 5;
/// How long a log-in session lasts (the browser's cookie, a native `session` token).
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// The stored form of a session token: its SHA-256, hex. A stolen database holds no live
/// token.
fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Who may register an account (`--registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Anyone.
    #[default]
    Open,
    /// Nobody: accounts come from `prise chat account add`.
    Closed,
    /// Server operators only.
    Opers,
}

/// How users register, besides who may ([`Registration`]); IRC's
/// `draft/account-registration` capability advertises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegisterRules {
    /// A user's registration must give an email address (`--register-email required`). It
    /// is stored only: prise sends no mail.
    pub email_required: bool,
    /// IRC clients may `REGISTER` before their connection registration ends
    /// (`--register-before-connect`).
    pub before_connect: bool,
}

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name as first written.
    pub name: String,
    /// When it was registered, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// The email given at registration, stored only.
    pub email: Option<String>,
    /// Set by an operator: the account is known to be who it says.
    pub verified: bool,
}

/// An account as stored: the account and its password hash (a PHC string).
#[derive(Debug, Clone)]
pub struct Record {
    /// The account.
    pub account: Account,
    /// `$argon2id$v=19$m=...,t=...,p=...$salt$hash`.
    pub hash: String,
    /// The SCRAM-SHA-256 keys (RFC 5803's form, [`crate::scram::Credentials`]); `None` for a
    /// password SASLprep refuses, or an account made before prise kept them (they are made
    /// at its next password login).
    pub scram: Option<String>,
}

/// Where accounts are kept, by case-folded name. Blocking calls.
pub trait Store: Send + Sync + 'static {
    /// Add a record; `false` when the name is taken.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn insert(&self, folded: &str, record: &Record) -> Result<bool, Error>;
    /// The record of a name.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn get(&self, folded: &str) -> Result<Option<Record>, Error>;
    /// Replace a record's hash and SCRAM keys; `false` when there is no such record.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn set_hash(&self, folded: &str, hash: &str, scram: Option<&str>) -> Result<bool, Error>;
    /// Remove a record; `false` when there is no such record.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn remove(&self, folded: &str) -> Result<bool, Error>;
    /// Every account, by name.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn list(&self) -> Result<Vec<Account>, Error>;
    /// Keep a log-in session: the SHA-256 of its token (hex), the account's folded name, and
    /// when it ends (milliseconds since the Unix epoch).
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn insert_session(&self, token_hash: &str, folded: &str, expires_ms: i64) -> Result<(), Error>;
    /// The folded account name of a session that has not ended by `now_ms`.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<String>, Error>;
    /// End a session; `false` when there was none.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn remove_session(&self, token_hash: &str) -> Result<bool, Error>;
    /// End every session of an account (a new password, a deleted account).
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn remove_sessions(&self, folded: &str) -> Result<(), Error>;
    /// Bind a TLS client certificate's fingerprint to an account; `false` when it is bound
    /// already (to this account or another).
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn add_cert(&self, fingerprint: &str, folded: &str) -> Result<bool, Error>;
    /// Unbind a fingerprint from an account; `false` when it was not bound to it.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn remove_cert(&self, fingerprint: &str, folded: &str) -> Result<bool, Error>;
    /// The fingerprints bound to an account, oldest first.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn certs(&self, folded: &str) -> Result<Vec<String>, Error>;
    /// The folded name of the account a fingerprint is bound to.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn cert_account(&self, fingerprint: &str) -> Result<Option<String>, Error>;
    /// Every registered room.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails (or a stored room cannot be read).
    fn rooms(&self) -> Result<Vec<RoomRecord>, Error>;
    /// Keep a registered room (replacing what was kept under its folded name).
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn put_room(&self, folded: &str, record: &RoomRecord) -> Result<(), Error>;
    /// Forget a registered room; `false` when it was not kept.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    fn remove_room(&self, folded: &str) -> Result<bool, Error>;
}

/// A registered room as kept across restarts and its last member leaving: who registered it,
/// the accounts that are its operators, and the state its operators set (topic, modes, the
/// ban, exception and invite-exception lists).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomRecord {
    /// `#name`, as first written.
    pub name: String,
    /// The account that registered it, as that account's name is written.
    pub founder: String,
    /// When it was registered, milliseconds since the Unix epoch.
    pub registered_ms: i64,
    /// Case-folded names of the accounts made operators on joining (the founder among them).
    pub ops: Vec<String>,
    /// The topic, possibly empty.
    pub topic: String,
    /// Who set the topic and when (milliseconds since the Unix epoch).
    #[serde(default)]
    pub topic_set: Option<(String, i64)>,
    /// The modes.
    pub modes: crate::modes::RoomModes,
    /// `+b`.
    #[serde(default)]
    pub bans: Vec<crate::masks::ListEntry>,
    /// `+e`.
    #[serde(default)]
    pub excepts: Vec<crate::masks::ListEntry>,
    /// `+I`.
    #[serde(default)]
    pub invex: Vec<crate::masks::ListEntry>,
}

/// Accounts in SQLite: the `accounts` table of the history database (WAL), or of an in-memory
/// database.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    file: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (or create) the table in the database at `path`.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the file cannot be opened or is not a database.
    pub fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| store_error(path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| store_error(path, e))?;
        Self::with(conn, path.display().to_string())
    }

    /// A store in memory, gone with the process (`--no-history`).
    ///
    /// # Errors
    /// [`Error::Accounts`] when SQLite fails.
    pub fn in_memory() -> Result<Self, Error> {
        let conn = Connection::open_in_memory().map_err(|e| store_error(":memory:", e))?;
        Self::with(conn, ":memory:".into())
    }

    fn with(conn: Connection, file: String) -> Result<Self, Error> {
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS accounts (
                 folded TEXT PRIMARY KEY,
                 name TEXT NOT NULL,
                 hash TEXT NOT NULL,
                 created_ms INTEGER NOT NULL,
                 email TEXT,
                 verified INTEGER NOT NULL DEFAULT 0
             );
             CREATE TABLE IF NOT EXISTS account_sessions (
                 token_sha256 TEXT PRIMARY KEY,
                 folded TEXT NOT NULL,
                 expires_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS account_sessions_folded
                 ON account_sessions (folded);
             CREATE TABLE IF NOT EXISTS account_certs (
                 fingerprint TEXT PRIMARY KEY,
                 folded TEXT NOT NULL,
                 added_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS account_certs_folded ON account_certs (folded);
             CREATE TABLE IF NOT EXISTS registered_rooms (
                 folded TEXT PRIMARY KEY,
                 founder TEXT NOT NULL,
                 record TEXT NOT NULL
             );",
        )
        .map_err(|e| store_error(&file, e))?;
        // The SCRAM keys came later: a database made before gets the column.
        let has_scram: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('accounts') WHERE name = 'scram'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| store_error(&file, e))?;
        if !has_scram {
            conn.execute_batch("ALTER TABLE accounts ADD COLUMN scram TEXT")
                .map_err(|e| store_error(&file, e))?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            file,
        })
    }

    fn run<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn).map_err(|e| store_error(&self.file, e))
    }
}

fn store_error(file: impl AsRef<Path>, e: impl std::fmt::Display) -> Error {
    Error::Accounts {
        file: file.as_ref().display().to_string(),
        reason: e.to_string(),
    }
}

impl Store for SqliteStore {
    fn insert(&self, folded: &str, record: &Record) -> Result<bool, Error> {
        let a = &record.account;
        self.run(|c| {
            c.execute(
                "INSERT OR IGNORE INTO accounts
                 (folded, name, hash, created_ms, email, verified, scram)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    folded,
                    a.name,
                    record.hash,
                    a.created_ms,
                    a.email,
                    a.verified,
                    record.scram
                ],
            )
        })
        .map(|n| n == 1)
    }

    fn get(&self, folded: &str) -> Result<Option<Record>, Error> {
        self.run(|c| {
            c.query_row(
                "SELECT name, hash, created_ms, email, verified, scram FROM accounts
                 WHERE folded = ?1",
                [folded],
                |row| {
                    Ok(Record {
                        account: Account {
                            name: row.get(0)?,
                            created_ms: row.get(2)?,
                            email: row.get(3)?,
                            verified: row.get(4)?,
                        },
                        hash: row.get(1)?,
                        scram: row.get(5)?,
                    })
                },
            )
            .optional()
        })
    }

    fn set_hash(&self, folded: &str, hash: &str, scram: Option<&str>) -> Result<bool, Error> {
        self.run(|c| {
            c.execute(
                "UPDATE accounts SET hash = ?2, scram = ?3 WHERE folded = ?1",
                params![folded, hash, scram],
            )
        })
        .map(|n| n == 1)
    }

    fn remove(&self, folded: &str) -> Result<bool, Error> {
        self.remove_sessions(folded)?;
        // A deleted account's rooms and certificates are free again.
        self.run(|c| c.execute("DELETE FROM registered_rooms WHERE founder = ?1", [folded]))?;
        self.run(|c| c.execute("DELETE FROM account_certs WHERE folded = ?1", [folded]))?;
        self.run(|c| c.execute("DELETE FROM accounts WHERE folded = ?1", [folded]))
            .map(|n| n == 1)
    }

    fn insert_session(&self, token_hash: &str, folded: &str, expires_ms: i64) -> Result<(), Error> {
        self.run(|c| {
            // Ended sessions go as new ones come: the table holds live ones only.
            c.execute(
                "DELETE FROM account_sessions WHERE expires_ms <= ?1",
                [now_ms()],
            )?;
            c.execute(
                "INSERT INTO account_sessions (token_sha256, folded, expires_ms)
                 VALUES (?1, ?2, ?3)",
                params![token_hash, folded, expires_ms],
            )
        })
        .map(|_| ())
    }

    fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<String>, Error> {
        self.run(|c| {
            c.query_row(
                "SELECT folded FROM account_sessions WHERE token_sha256 = ?1 AND expires_ms > ?2",
                params![token_hash, now_ms],
                |row| row.get(0),
            )
            .optional()
        })
    }

    fn remove_session(&self, token_hash: &str) -> Result<bool, Error> {
        self.run(|c| {
            c.execute(
                "DELETE FROM account_sessions WHERE token_sha256 = ?1",
                [token_hash],
            )
        })
        .map(|n| n == 1)
    }

    fn remove_sessions(&self, folded: &str) -> Result<(), Error> {
        self.run(|c| c.execute("DELETE FROM account_sessions WHERE folded = ?1", [folded]))
            .map(|_| ())
    }

    fn list(&self) -> Result<Vec<Account>, Error> {
        self.run(|c| {
            let mut stmt = c.prepare(
                "SELECT name, created_ms, email, verified FROM accounts ORDER BY folded",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(Account {
                    name: row.get(0)?,
                    created_ms: row.get(1)?,
                    email: row.get(2)?,
                    verified: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    fn add_cert(&self, fingerprint: &str, folded: &str) -> Result<bool, Error> {
        self.run(|c| {
            c.execute(
                "INSERT OR IGNORE INTO account_certs (fingerprint, folded, added_ms)
                 VALUES (?1, ?2, ?3)",
                params![fingerprint, folded, now_ms()],
            )
        })
        .map(|n| n == 1)
    }

    fn remove_cert(&self, fingerprint: &str, folded: &str) -> Result<bool, Error> {
        self.run(|c| {
            c.execute(
                "DELETE FROM account_certs WHERE fingerprint = ?1 AND folded = ?2",
                [fingerprint, folded],
            )
        })
        .map(|n| n == 1)
    }

    fn certs(&self, folded: &str) -> Result<Vec<String>, Error> {
        self.run(|c| {
            let mut stmt = c.prepare(
                "SELECT fingerprint FROM account_certs WHERE folded = ?1
                 ORDER BY added_ms, fingerprint",
            )?;
            let rows = stmt.query_map([folded], |row| row.get(0))?;
            rows.collect()
        })
    }

    fn cert_account(&self, fingerprint: &str) -> Result<Option<String>, Error> {
        self.run(|c| {
            c.query_row(
                "SELECT folded FROM account_certs WHERE fingerprint = ?1",
                [fingerprint],
                |row| row.get(0),
            )
            .optional()
        })
    }

    fn rooms(&self) -> Result<Vec<RoomRecord>, Error> {
        let texts: Vec<String> = self.run(|c| {
            let mut stmt = c.prepare("SELECT record FROM registered_rooms ORDER BY folded")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })?;
        // A record that cannot be read (edited by hand, from a newer prise) is skipped, not the
        // whole list.
        Ok(texts
            .iter()
            .filter_map(|t| match serde_json::from_str(t) {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::warn!(file = %self.file, error = %e, "a registered room could not be read: skipped");
                    None
                }
            })
            .collect())
    }

    fn put_room(&self, folded: &str, record: &RoomRecord) -> Result<(), Error> {
        let text = serde_json::to_string(record).map_err(|e| store_error(&self.file, e))?;
        self.run(|c| {
            c.execute(
                "INSERT INTO registered_rooms (folded, founder, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (folded) DO UPDATE SET founder = ?2, record = ?3",
                params![folded, fold(&record.founder), text],
            )
        })
        .map(|_| ())
    }

    fn remove_room(&self, folded: &str) -> Result<bool, Error> {
        self.run(|c| c.execute("DELETE FROM registered_rooms WHERE folded = ?1", [folded]))
            .map(|n| n == 1)
    }
}

/// The accounts of a server: the rules, over a [`Store`]. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    /// Checked when a name has no account, so that a check costs the same either way.
    dummy: Arc<str>,
    /// Makes the SCRAM salt shown for a name without an account (the same each time).
    secret: Arc<[u8; 32]>,
    registration: Registration,
    rules: RegisterRules,
    /// Attempts per address and for the server ([`crate::limits`]).
    limits: Arc<Mutex<Limits>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("registration", &self.registration)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

fn hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .unwrap_or_default();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// An Argon2id hash of `password` with a new random salt.
fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| store_error(":random:", "no random numbers"))?;
    Ok(bytes)
}

/// A password's SCRAM keys, in their stored form (`None` when SASLprep refuses it).
fn scram_keys(password: &str) -> Result<Option<String>, Error> {
    let salt: [u8; SALT_LEN] = random()?;
    Ok(Credentials::derive(password, &salt, scram::ITERATIONS).map(|c| c.to_text()))
}

fn hash(password: &str) -> Result<String, Error> {
    let salt: [u8; SALT_LEN] = random()?;
    hasher()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| store_error(":argon2:", e))
}

/// `local@domain`: one `@`, both sides non-empty, the domain with a dot inside, no spaces or
/// control characters, at most [`MAX_EMAIL_LEN`] bytes. Nothing is sent to it.
fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_LEN
        && !local.is_empty()
        && !domain.contains('@')
        && domain.trim_matches('.').contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `min`: [`MIN_PASSWORD_LEN`] for a user's own registration, 1 for the administrator's.
fn check_password(password: &str, min: usize) -> Result<(), Error> {
    if (min..=MAX_PASSWORD_LEN).contains(&password.len()) {
        Ok(())
    } else {
        Err(Error::PasswordInvalid {
            min,
            max: MAX_PASSWORD_LEN,
        })
    }
}

fn check_name(name: &str) -> Result<String, Error> {
    match check_nick(name) {
        Ok(()) => Ok(fold(name)),
        Err(reason) => Err(Error::AccountInvalid {
            name: name.chars().take(64).collect(),
            reason,
        }),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Accounts {
    /// Accounts over `store`, registration as `registration` says.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the dummy hash cannot be made (no random numbers).
    pub fn new(store: Arc<dyn Store>, registration: Registration) -> Result<Self, Error> {
        Ok(Self {
            store,
            dummy: hash("not a password: checked for names without an account")?.into(),
            secret: Arc::new(random()?),
            registration,
            rules: RegisterRules::default(),
            limits: Arc::new(Mutex::new(Limits::default())),
        })
    }

    /// These accounts with registration's `rules`.
    #[must_use]
    pub fn with_rules(mut self, rules: RegisterRules) -> Self {
        self.rules = rules;
        self
    }

    /// How users register.
    pub fn rules(&self) -> RegisterRules {
        self.rules
    }

    /// Take one attempt of `what` from `peer`'s allowance and the server's.
    ///
    /// # Errors
    /// [`Error::TooManyAttempts`] when either is used up (nothing is taken then).
    pub fn attempt(&self, what: Attempt, peer: IpAddr) -> Result<(), Error> {
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limits
            .take(what, peer, std::time::Instant::now())
            .map_err(|who| {
                Error::TooManyAttempts(match who {
                    Exhausted::Address => "from your address",
                    Exhausted::Server => "on this server",
                })
            })
    }

    /// Accounts in the database at `path` ([`SqliteStore::open`]), or in memory.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the database cannot be opened.
    pub fn open(path: Option<&Path>, registration: Registration) -> Result<Self, Error> {
        let store: Arc<dyn Store> = match path {
            Some(path) => Arc::new(SqliteStore::open(path)?),
            None => Arc::new(SqliteStore::in_memory()?),
        };
        Self::new(store, registration)
    }

    /// Who may register.
    pub fn registration(&self) -> Registration {
        self.registration
    }

    /// Register `name` (blocking: hashes). `oper` says whether the asker is a server operator,
    /// for [`Registration::Opers`]; `None` is the administrator (`prise chat account add`),
    /// who may always, with a password of any length from 1 byte (users choose at least
    /// [`MIN_PASSWORD_LEN`]).
    ///
    /// # Errors
    /// [`Error::RegistrationClosed`], [`Error::AccountInvalid`], [`Error::PasswordInvalid`],
    /// [`Error::EmailInvalid`], [`Error::AccountTaken`], [`Error::Accounts`].
    pub fn register_blocking(
        &self,
        name: &str,
        password: &str,
        email: Option<&str>,
        oper: Option<bool>,
    ) -> Result<Account, Error> {
        let folded = self.check_registration(name, password, email, oper)?;
        if self.store.get(&folded)?.is_some() {
            return Err(Error::AccountTaken(name.to_owned()));
        }
        let account = Account {
            name: name.to_owned(),
            created_ms: now_ms(),
            email: email.map(str::to_owned),
            verified: false,
        };
        let record = Record {
            account: account.clone(),
            hash: hash(password)?,
            scram: scram_keys(password)?,
        };
        if self.store.insert(&folded, &record)? {
            Ok(account)
        } else {
            Err(Error::AccountTaken(name.to_owned()))
        }
    }

    /// What [`Accounts::register_blocking`] checks before it looks at the store: who may,
    /// the name, the password's length, the email. Returns the folded name.
    fn check_registration(
        &self,
        name: &str,
        password: &str,
        email: Option<&str>,
        oper: Option<bool>,
    ) -> Result<String, Error> {
        match (self.registration, oper) {
            (_, None) | (Registration::Open, _) | (Registration::Opers, Some(true)) => {}
            (Registration::Closed, _) => return Err(Error::RegistrationClosed("closed")),
            (Registration::Opers, _) => {
                return Err(Error::RegistrationClosed("for server operators only"))
            }
        }
        let folded = check_name(name)?;
        check_password(password, if oper.is_some() { MIN_PASSWORD_LEN } else { 1 })?;
        match email {
            Some(email) if !looks_like_email(email) => {
                return Err(Error::EmailInvalid { max: MAX_EMAIL_LEN });
            }
            None if oper.is_some() && self.rules.email_required => {
                return Err(Error::EmailRequired);
            }
            _ => {}
        }
        Ok(folded)
    }

    /// The account of `name` if `password` is its password (blocking: hashes). Costs the
    /// same when there is no such account.
    ///
    /// # Errors
    /// [`Error::BadLogin`], [`Error::Accounts`].
    pub fn verify_blocking(&self, name: &str, password: &str) -> Result<Account, Error> {
        let record = match check_name(name) {
            Ok(folded) => self.store.get(&folded)?,
            Err(_) => None,
        };
        let stored = record.as_ref().map_or(&*self.dummy, |r| r.hash.as_str());
        let matches = password.len() <= MAX_PASSWORD_LEN
            && hasher()
                .verify_password(password.as_bytes(), stored)
                .is_ok();
        match record {
            Some(record) if matches => {
                if record.scram.is_none() {
                    // An account from before SCRAM keys were kept: this login makes them.
                    let folded = fold(&record.account.name);
                    if let Some(keys) = scram_keys(password)? {
                        self.store.set_hash(&folded, &record.hash, Some(&keys))?;
                    }
                }
                Ok(record.account)
            }
            _ => Err(Error::BadLogin),
        }
    }

    /// The SCRAM-SHA-256 keys to check a login to `name` with, and the account's name when
    /// those are its own. A name without an account (or without SCRAM keys) gets made-up
    /// keys that no proof matches, with a salt that is the same at each asking: the answer
    /// does not tell whether the account exists.
    ///
    /// # Errors
    /// [`Error::Accounts`] when the store fails.
    pub fn scram_blocking(&self, name: &str) -> Result<(Option<String>, Credentials), Error> {
        let record = match check_name(name) {
            Ok(folded) => self.store.get(&folded)?,
            Err(_) => None,
        };
        if let Some(record) = record {
            if let Some(creds) = record.scram.as_deref().and_then(Credentials::from_text) {
                return Ok((Some(record.account.name), creds));
            }
        }
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &*self.secret),
            fold(name).as_bytes(),
        );
        Ok((
            None,
            Credentials {
                iterations: scram::ITERATIONS,
                salt: tag.as_ref()[..SALT_LEN].to_vec(),
                stored_key: random()?,
                server_key: random()?,
            },
        ))
    }

    /// [`Accounts::scram_blocking`] on a blocking thread.
    ///
    /// # Errors
    /// As [`Accounts::scram_blocking`].
    /// One log-in attempt from `peer` ([`Accounts::attempt`]).
    ///
    /// # Errors
    /// As [`Accounts::scram_blocking`], and [`Error::TooManyAttempts`].
    pub async fn scram(
        &self,
        peer: IpAddr,
        name: &str,
    ) -> Result<(Option<String>, Credentials), Error> {
        self.attempt(Attempt::Login, peer)?;
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.scram_blocking(&name)).await
    }

    /// [`Accounts::register_blocking`] on a blocking thread: one registration attempt from
    /// `peer` ([`Accounts::attempt`]) once the name, password and email pass their checks.
    ///
    /// # Errors
    /// As [`Accounts::register_blocking`], and [`Error::TooManyAttempts`].
    pub async fn register(
        &self,
        peer: IpAddr,
        name: &str,
        password: &str,
        email: Option<&str>,
        oper: bool,
    ) -> Result<Account, Error> {
        // What is refused without hashing costs no attempt.
        self.check_registration(name, password, email, Some(oper))?;
        self.attempt(Attempt::Register, peer)?;
        let (this, name, password) = (self.clone(), name.to_owned(), password.to_owned());
        let email = email.map(str::to_owned);
        blocking(move || this.register_blocking(&name, &password, email.as_deref(), Some(oper)))
            .await
    }

    /// [`Accounts::verify_blocking`] on a blocking thread: one log-in attempt from `peer`
    /// ([`Accounts::attempt`]).
    ///
    /// # Errors
    /// As [`Accounts::verify_blocking`], and [`Error::TooManyAttempts`].
    pub async fn verify(&self, peer: IpAddr, name: &str, password: &str) -> Result<Account, Error> {
        self.attempt(Attempt::Login, peer)?;
        let (this, name, password) = (self.clone(), name.to_owned(), password.to_owned());
        blocking(move || this.verify_blocking(&name, &password)).await
    }

    /// The account called `name`.
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn get(&self, name: &str) -> Result<Option<Account>, Error> {
        match check_name(name) {
            Ok(folded) => Ok(self.store.get(&folded)?.map(|r| r.account)),
            Err(_) => Ok(None),
        }
    }

    /// [`Accounts::get`] on a blocking thread (a database read).
    ///
    /// # Errors
    /// As [`Accounts::get`].
    pub async fn lookup(&self, name: &str) -> Result<Option<Account>, Error> {
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.get(&name)).await
    }

    /// Every account, by name.
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn list(&self) -> Result<Vec<Account>, Error> {
        self.store.list()
    }

    /// Give `name` a new password (blocking: hashes); the administrator's command, so any
    /// length from 1 byte.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`], [`Error::PasswordInvalid`], [`Error::Accounts`].
    pub fn reset_password_blocking(&self, name: &str, password: &str) -> Result<(), Error> {
        let folded = check_name(name).map_err(|_| Error::NoSuchAccount(name.to_owned()))?;
        check_password(password, 1)?;
        if self
            .store
            .set_hash(&folded, &hash(password)?, scram_keys(password)?.as_deref())?
        {
            // A new password logs out the sessions opened with the old one.
            self.store.remove_sessions(&folded)?;
            Ok(())
        } else {
            Err(Error::NoSuchAccount(name.to_owned()))
        }
    }

    /// Open a log-in session for the account `name` (already checked: after a password
    /// login): a token of 32 random bytes (URL-safe base64) that logs in again for
    /// [`SESSION_TTL`] without the password. Only its SHA-256 is stored.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`], [`Error::Accounts`].
    pub fn open_session_blocking(&self, name: &str) -> Result<String, Error> {
        let folded = check_name(name).map_err(|_| Error::NoSuchAccount(name.to_owned()))?;
        if self.store.get(&folded)?.is_none() {
            return Err(Error::NoSuchAccount(name.to_owned()));
        }
        let bytes: [u8; 32] = random()?;
        let token = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&bytes);
        let ttl = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
        self.store
            .insert_session(&token_hash(&token), &folded, now_ms().saturating_add(ttl))?;
        Ok(token)
    }

    /// The account a session token logs in to, if the session is live (and the account
    /// still there).
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn session_blocking(&self, token: &str) -> Result<Option<Account>, Error> {
        if token.is_empty() || token.len() > 64 {
            return Ok(None);
        }
        let Some(folded) = self.store.session(&token_hash(token), now_ms())? else {
            return Ok(None);
        };
        Ok(self.store.get(&folded)?.map(|r| r.account))
    }

    /// End the session of `token` (a log-out); `false` when there was none.
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn close_session_blocking(&self, token: &str) -> Result<bool, Error> {
        self.store.remove_session(&token_hash(token))
    }

    /// [`Accounts::open_session_blocking`] on a blocking thread.
    ///
    /// # Errors
    /// As [`Accounts::open_session_blocking`].
    pub async fn open_session(&self, name: &str) -> Result<String, Error> {
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.open_session_blocking(&name)).await
    }

    /// Log in with a session token: one log-in attempt from `peer`. Returns the account.
    ///
    /// # Errors
    /// [`Error::BadLogin`] for a token that is not a live session's,
    /// [`Error::TooManyAttempts`], [`Error::Accounts`].
    pub async fn resume(&self, peer: IpAddr, token: &str) -> Result<Account, Error> {
        self.attempt(Attempt::Login, peer)?;
        let (this, token) = (self.clone(), token.to_owned());
        blocking(move || this.session_blocking(&token))
            .await?
            .ok_or(Error::BadLogin)
    }

    /// [`Accounts::close_session_blocking`] on a blocking thread.
    ///
    /// # Errors
    /// As [`Accounts::close_session_blocking`].
    pub async fn close_session(&self, token: &str) -> Result<bool, Error> {
        let (this, token) = (self.clone(), token.to_owned());
        blocking(move || this.close_session_blocking(&token)).await
    }

    /// [`Accounts::delete`] on a blocking thread.
    ///
    /// # Errors
    /// As [`Accounts::delete`].
    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.delete(&name)).await
    }

    /// Log in with a TLS client certificate (SASL EXTERNAL): the account `fingerprint` is
    /// bound to; one log-in attempt from `peer`.
    ///
    /// # Errors
    /// [`Error::BadLogin`] (bound to no account), [`Error::TooManyAttempts`],
    /// [`Error::Accounts`].
    pub async fn external(&self, peer: IpAddr, fingerprint: &str) -> Result<Account, Error> {
        self.attempt(Attempt::Login, peer)?;
        let (this, fingerprint) = (self.clone(), fingerprint.to_owned());
        blocking(move || {
            let folded = this
                .store
                .cert_account(&fingerprint)?
                .ok_or(Error::BadLogin)?;
            this.store
                .get(&folded)?
                .map(|r| r.account)
                .ok_or(Error::BadLogin)
        })
        .await
    }

    /// Bind `fingerprint` to the account `name` (at most [`MAX_CERTS`]).
    ///
    /// # Errors
    /// [`Error::CertTaken`] (bound already), [`Error::TooManyCerts`],
    /// [`Error::NoSuchAccount`], [`Error::Accounts`].
    pub async fn add_cert(&self, name: &str, fingerprint: &str) -> Result<(), Error> {
        let (this, name, fingerprint) = (self.clone(), name.to_owned(), fingerprint.to_owned());
        blocking(move || {
            let folded = check_name(&name).map_err(|_| Error::NoSuchAccount(name.clone()))?;
            if this.store.get(&folded)?.is_none() {
                return Err(Error::NoSuchAccount(name));
            }
            if this.store.certs(&folded)?.len() >= MAX_CERTS {
                return Err(Error::TooManyCerts(MAX_CERTS));
            }
            if this.store.add_cert(&fingerprint, &folded)? {
                Ok(())
            } else {
                Err(Error::CertTaken(fingerprint))
            }
        })
        .await
    }

    /// Unbind `fingerprint` from the account `name`; `false` when it was not bound to it.
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub async fn remove_cert(&self, name: &str, fingerprint: &str) -> Result<bool, Error> {
        let (this, folded, fingerprint) = (self.clone(), fold(name), fingerprint.to_owned());
        blocking(move || this.store.remove_cert(&fingerprint, &folded)).await
    }

    /// The fingerprints bound to the account `name`.
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub async fn certs(&self, name: &str) -> Result<Vec<String>, Error> {
        let (this, folded) = (self.clone(), fold(name));
        blocking(move || this.store.certs(&folded)).await
    }

    /// Every registered room (blocking).
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn rooms(&self) -> Result<Vec<RoomRecord>, Error> {
        self.store.rooms()
    }

    /// Keep a registered room (blocking).
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn put_room(&self, record: &RoomRecord) -> Result<(), Error> {
        self.store.put_room(&fold(&record.name), record)
    }

    /// Forget the registered room `name` (blocking); `false` when it was not registered.
    ///
    /// # Errors
    /// [`Error::Accounts`].
    pub fn remove_room(&self, name: &str) -> Result<bool, Error> {
        self.store.remove_room(&fold(name))
    }

    /// Delete the account `name`, and the registrations of the rooms it registered.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`], [`Error::Accounts`].
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        let folded = check_name(name).map_err(|_| Error::NoSuchAccount(name.to_owned()))?;
        if self.store.remove(&folded)? {
            Ok(())
        } else {
            Err(Error::NoSuchAccount(name.to_owned()))
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(store_error(PathBuf::from(":thread:"), e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn accounts(registration: Registration) -> Accounts {
        Accounts::open(None, registration).unwrap()
    }

    #[test]
    fn register_then_verify_folded_names_and_wrong_passwords() {
        let a = accounts(Registration::Open);
        let made = a
            .register_blocking(
                "Alice[1]",
                "correct horse",
                Some("a@example.org"),
                Some(false),
            )
            .unwrap();
        assert_eq!(made.name, "Alice[1]");
        assert_eq!(
            a.verify_blocking("alice{1}", "correct horse").unwrap().name,
            "Alice[1]"
        );
        assert_eq!(
            a.verify_blocking("alice[1]", "wrong horse"),
            Err(Error::BadLogin)
        );
        assert_eq!(
            a.verify_blocking("bob", "correct horse"),
            Err(Error::BadLogin)
        );
        assert_eq!(
            a.register_blocking("ALICE[1]", "another one", None, Some(false)),
            Err(Error::AccountTaken("ALICE[1]".into()))
        );
        let stored = a.store.get("alice{1}").unwrap().unwrap().hash;
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains("correct horse"));
    }

    #[test]
    fn hostile_names_passwords_and_emails_are_refused_and_nothing_is_stored() {
        let a = accounts(Registration::Open);
        for name in [
            "",
            "a b",
            "#room",
            "1abc",
            &"x".repeat(31),
            "'; DROP TABLE accounts;--",
        ] {
            assert!(
                matches!(
                    a.register_blocking(name, "long enough", None, Some(false)),
                    Err(Error::AccountInvalid { .. })
                ),
                "{name:?}"
            );
        }
        assert_eq!(
            a.register_blocking("bob", "short", None, Some(false)),
            Err(Error::PasswordInvalid { min: 8, max: 1024 })
        );
        assert_eq!(
            a.register_blocking("bob", &"p".repeat(MAX_PASSWORD_LEN + 1), None, Some(false)),
            Err(Error::PasswordInvalid { min: 8, max: 1024 })
        );
        assert_eq!(
            a.register_blocking("bob", "long enough", Some("a b@c"), Some(false)),
            Err(Error::EmailInvalid { max: 254 })
        );
        assert!(a.list().unwrap().is_empty());
        // A name that looks like SQL is only a name where it is allowed.
        a.register_blocking("x'or'1'='1", "long enough", None, Some(false))
            .unwrap_err();
        assert!(a.list().unwrap().is_empty());
    }

    #[test]
    fn registration_closed_or_for_operators_and_admin_commands() {
        let closed = accounts(Registration::Closed);
        assert_eq!(
            closed.register_blocking("bob", "long enough", None, Some(true)),
            Err(Error::RegistrationClosed("closed"))
        );
        closed
            .register_blocking("bob", "long enough", None, None)
            .unwrap();
        let opers = accounts(Registration::Opers);
        assert!(opers
            .register_blocking("bob", "long enough", None, Some(false))
            .is_err());
        opers
            .register_blocking("bob", "long enough", None, Some(true))
            .unwrap();
        opers
            .reset_password_blocking("BOB", "new password")
            .unwrap();
        assert_eq!(
            opers.verify_blocking("bob", "long enough"),
            Err(Error::BadLogin)
        );
        opers.verify_blocking("bob", "new password").unwrap();
        opers.delete("bob").unwrap();
        assert_eq!(opers.delete("bob"), Err(Error::NoSuchAccount("bob".into())));
        assert!(opers.list().unwrap().is_empty());
    }

    #[test]
    fn accounts_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite");
        let a = Accounts::open(Some(&path), Registration::Open).unwrap();
        a.register_blocking("carol", "long enough", None, Some(false))
            .unwrap();
        drop(a);
        let again = Accounts::open(Some(&path), Registration::Open).unwrap();
        again.verify_blocking("Carol", "long enough").unwrap();
    }

    #[test]
    fn registered_rooms_are_kept_replaced_and_go_with_their_founder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite");
        let a = Accounts::open(Some(&path), Registration::Open).unwrap();
        a.register_blocking("Carol", "long enough", None, None)
            .unwrap();
        let mut room = RoomRecord {
            name: "#Den".into(),
            founder: "Carol".into(),
            registered_ms: 1,
            ops: vec!["carol".into()],
            topic: "'; DROP TABLE registered_rooms;--".into(),
            topic_set: None,
            modes: crate::modes::RoomModes::default(),
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
        };
        a.put_room(&room).unwrap();
        room.topic = "second".into();
        a.put_room(&room).unwrap();
        let other = RoomRecord {
            name: "#attic".into(),
            founder: "dave".into(),
            ..room.clone()
        };
        a.put_room(&other).unwrap();
        drop(a);
        let again = Accounts::open(Some(&path), Registration::Open).unwrap();
        assert_eq!(again.rooms().unwrap(), [other.clone(), room]);
        // Deleting carol's account frees her room, not dave's.
        again.delete("CAROL").unwrap();
        assert_eq!(again.rooms().unwrap(), std::slice::from_ref(&other));
        assert!(again.remove_room("#ATTIC").unwrap());
        assert!(!again.remove_room("#attic").unwrap());
        // A record spoiled by hand is skipped; the others are read.
        again.put_room(&other).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO registered_rooms (folded, founder, record) VALUES ('#bad', 'x', '{not json')",
            [],
        )
        .unwrap();
        assert_eq!(again.rooms().unwrap(), [other]);
    }

    #[test]
    fn sessions_log_in_without_the_password_until_ended_reset_or_deleted() {
        let accounts = accounts(Registration::Open);
        accounts
            .register_blocking("alice", "alice-secret", None, None)
            .unwrap();
        let token = accounts.open_session_blocking("ALICE").unwrap();
        assert_eq!(token.len(), 43, "{token}");
        let again = accounts.open_session_blocking("alice").unwrap();
        assert_ne!(token, again);
        let found = accounts.session_blocking(&token).unwrap().unwrap();
        assert_eq!(found.name, "alice");
        // Only the hash is kept.
        assert!(accounts.store.session(&token, now_ms()).unwrap().is_none());
        for bad in ["", "x", &"y".repeat(65), "' OR 1=1 --"] {
            assert!(accounts.session_blocking(bad).unwrap().is_none(), "{bad}");
        }
        assert!(accounts.close_session_blocking(&token).unwrap());
        assert!(accounts.session_blocking(&token).unwrap().is_none());
        assert!(accounts.session_blocking(&again).unwrap().is_some());
        // A new password ends the others.
        accounts
            .reset_password_blocking("alice", "new-secret")
            .unwrap();
        assert!(accounts.session_blocking(&again).unwrap().is_none());
        // An ended session is not live, and a deleted account takes its sessions along.
        accounts
            .store
            .insert_session(&token_hash("old"), "alice", now_ms() - 1)
            .unwrap();
        assert!(accounts.session_blocking("old").unwrap().is_none());
        let last = accounts.open_session_blocking("alice").unwrap();
        accounts.delete("alice").unwrap();
        accounts
            .register_blocking("alice", "another-secret", None, None)
            .unwrap();
        assert!(accounts.session_blocking(&last).unwrap().is_none());
        assert!(matches!(
            accounts.open_session_blocking("nobody"),
            Err(Error::NoSuchAccount(_))
        ));
    }

    #[test]
    fn scram_keys_are_made_at_registration_or_at_the_next_password_login() {
        let a = accounts(Registration::Open);
        a.register_blocking("dave", "long enough", None, None)
            .unwrap();
        let (name, creds) = a.scram_blocking("DAVE").unwrap();
        assert_eq!(name.as_deref(), Some("dave"));
        assert_eq!(creds.iterations, scram::ITERATIONS);
        // What the keys are made of: the password, SASLprep'd, with the stored salt.
        assert_eq!(
            Credentials::derive("long enough", &creds.salt, creds.iterations),
            Some(creds.clone())
        );
        let stored = a.store.get("dave").unwrap().unwrap();
        assert!(!stored.scram.unwrap().contains("long enough"));

        // An account from before the keys were kept: no SCRAM until a password login.
        a.store.set_hash("dave", &stored.hash, None).unwrap();
        assert_eq!(a.scram_blocking("dave").unwrap().0, None);
        a.verify_blocking("dave", "long enough").unwrap();
        assert_eq!(a.scram_blocking("dave").unwrap().0.as_deref(), Some("dave"));

        // A name without an account: made-up keys, with the same salt at each asking.
        let (none, first) = a.scram_blocking("nobody").unwrap();
        let (_, again) = a.scram_blocking("NOBODY").unwrap();
        assert_eq!(none, None);
        assert_eq!(first.salt, again.salt);
        assert_ne!(first.salt, a.scram_blocking("somebody").unwrap().1.salt);
    }

    #[test]
    fn a_database_from_before_scram_gets_the_column_and_keeps_its_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE accounts (folded TEXT PRIMARY KEY, name TEXT NOT NULL,
             hash TEXT NOT NULL, created_ms INTEGER NOT NULL, email TEXT,
             verified INTEGER NOT NULL DEFAULT 0);",
        )
        .unwrap();
        let hash = hash("long enough").unwrap();
        old.execute(
            "INSERT INTO accounts (folded, name, hash, created_ms) VALUES ('erin', 'Erin', ?1, 0)",
            [&hash],
        )
        .unwrap();
        drop(old);
        let a = Accounts::open(Some(&path), Registration::Open).unwrap();
        assert_eq!(a.scram_blocking("erin").unwrap().0, None);
        a.verify_blocking("erin", "long enough").unwrap();
        assert_eq!(a.scram_blocking("erin").unwrap().0.as_deref(), Some("Erin"));
        drop(a);
        // Opening it again does not add the column twice.
        Accounts::open(Some(&path), Registration::Open).unwrap();
    }
}
