//! The native protocol client: connect (plain or TLS), hello, requests, an event stream, and
//! reconnection with backoff that restores the nick and rooms.
//!
//! [`Client::start`] spawns one task that owns the connection. Requests go in through
//! [`Client::send`] (and its helpers); everything the server says comes out of
//! [`Client::next`] as JSON objects, with [`Update::Connected`] and [`Update::Disconnected`]
//! in between so a UI can show the state and the countdown to the next attempt. Requests made
//! while disconnected wait (up to [`COMMAND_QUEUE`]) and go out after the reconnect.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::BytesMut;
use prise_core::codec::LineCodec;
use prise_core::net::{connect, ConnectOptions};
use prise_core::retry::Backoff;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::names::fold;
use crate::Error;

/// Requests waiting to be sent.
pub const COMMAND_QUEUE: usize = 256;

/// Updates waiting to be read by the application.
pub const UPDATE_QUEUE: usize = 4096;

/// How the client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Timeouts, TLS, trace.
    pub connect: ConnectOptions,
    /// The nick to ask for (and to ask for again after a reconnect).
    pub nick: Option<String>,
    /// Rooms to join after connecting, besides the server's default room.
    pub rooms: Vec<String>,
    /// Waits between reconnection attempts; `max_retries: Some(0)` never reconnects.
    pub backoff: Backoff,
    /// An account to log in to after each connect (the answer is an `ack` or `error` with
    /// `ref` [`LOGIN_REF`]).
    pub login: Option<Login>,
    /// Without [`ClientConfig::login`]: log in with the TLS client certificate (the account it
    /// is bound to) after each connect, answered like a login (`ref` [`LOGIN_REF`]).
    pub external_login: bool,
    /// The server password (a server run with `--password`), sent in the hello.
    pub password: Option<Secret>,
}

/// A password that `Debug` does not show.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The `ref` of the `login` request a [`ClientConfig::login`] sends.
pub const LOGIN_REF: &str = "login";

/// An account name and its password. Its `Debug` hides the password.
#[derive(Clone)]
pub struct Login {
    /// The account.
    pub account: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("account", &self.account)
            .field("password", &"***")
            .finish()
    }
}

impl ClientConfig {
    /// Defaults: plain TCP, server-chosen nick, reconnect forever.
    pub fn new() -> Self {
        Self {
            connect: ConnectOptions::new("chat"),
            nick: None,
            rooms: Vec::new(),
            backoff: Backoff::default(),
            login: None,
            external_login: false,
            password: None,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// What the client task reports.
#[derive(Debug, Clone)]
pub enum Update {
    /// Connected (again); the server calls us `nick`.
    Connected {
        /// Our nick on the server.
        nick: String,
    },
    /// A message from the server (`type` tells which), as specified in docs/PROTOCOL-chat.md.
    Message(Value),
    /// The connection is gone; the next attempt is in `retry_in` (`None`: no more attempts).
    Disconnected {
        /// Why.
        reason: String,
        /// Wait before the next attempt.
        retry_in: Option<Duration>,
    },
}

/// A running client. Dropping it closes the connection.
#[derive(Debug)]
pub struct Client {
    commands: mpsc::Sender<Value>,
    updates: mpsc::Receiver<Update>,
    stop: CancellationToken,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Client {
    /// Start a client for the server at `addr` (`host:port`). It connects in the background;
    /// the first update says whether that worked.
    pub fn start(addr: &str, config: ClientConfig) -> Self {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (update_tx, updates) = mpsc::channel(UPDATE_QUEUE);
        let stop = CancellationToken::new();
        tokio::spawn(run(
            addr.to_owned(),
            config,
            command_rx,
            update_tx,
            stop.clone(),
        ));
        Self {
            commands,
            updates,
            stop,
        }
    }

    /// Connect once and wait for the welcome: for scripts that want an error, not retries.
    ///
    /// # Errors
    /// [`Error::Connect`] with the reason when the first attempt fails.
    pub async fn connect_once(
        addr: &str,
        mut config: ClientConfig,
    ) -> Result<(Self, String), Error> {
        config.backoff.max_retries = Some(0);
        let mut client = Self::start(addr, config);
        loop {
            match client.next().await {
                Some(Update::Connected { nick }) => return Ok((client, nick)),
                Some(Update::Disconnected { reason, .. }) => return Err(Error::Connect(reason)),
                Some(Update::Message(_)) => {}
                None => return Err(Error::Connect("client stopped".into())),
            }
        }
    }

    /// The next update; `None` once the client has stopped for good.
    ///
    /// # Cancel safety
    /// Cancel safe: no update is lost if the future is dropped.
    pub async fn next(&mut self) -> Option<Update> {
        self.updates.recv().await
    }

    /// Send a raw request object.
    ///
    /// # Errors
    /// [`Error::Protocol`] when the client task has stopped.
    pub async fn send(&self, request: Value) -> Result<(), Error> {
        self.commands
            .send(request)
            .await
            .map_err(|_| Error::Protocol("the client has stopped".into()))
    }

    /// Say `text` in `room`.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn say(&self, room: &str, text: &str) -> Result<(), Error> {
        self.send(json!({"type": "chat", "to": room, "text": text}))
            .await
    }

    /// Join `room`.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub async fn join(&self, room: &str) -> Result<(), Error> {
        self.send(json!({"type": "join", "room": room})).await
    }

    /// Stop: say goodbye and close.
    pub async fn quit(self, reason: &str) {
        let _ = self.send(json!({"type": "quit", "reason": reason})).await;
        // Give the task a moment to send it; dropping self cancels the task.
        let _ = tokio::time::timeout(Duration::from_millis(500), self.commands.closed()).await;
    }
}

/// A server's answer to a probe (docs/PROTOCOL-chat.md, "Probe").
#[derive(Debug, Clone)]
pub struct Status {
    /// The protocol version the server picked.
    pub version: u64,
    /// The server's name and version (`prise 0.1.0`).
    pub server: String,
    /// Users connected.
    pub users: u64,
    /// Rooms open.
    pub rooms: u64,
    /// The status line as the server sent it (JSON).
    pub line: String,
}

/// Probe a chat server on an open connection (plain or TLS): send a probe hello and read the
/// one-line `status` answer, without joining anything. Reads at most 64 KiB; the caller sets
/// the time limit.
///
/// # Errors
/// [`Error::Connect`] when the connection fails, [`Error::Protocol`] when the server answers
/// something else than a status line (an `error` line's text is given).
pub async fn probe<S>(stream: &mut S) -> Result<Status, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    const MAX: usize = 64 * 1024;
    stream
        .write_all(b"{\"type\":\"hello\",\"versions\":[1],\"probe\":true}\n")
        .await
        .map_err(|e| Error::Connect(format!("sending the probe: {e}")))?;
    let mut input = Vec::with_capacity(512);
    let end = loop {
        if let Some(end) = input.iter().position(|&b| b == b'\n') {
            break end;
        }
        if input.len() >= MAX {
            return Err(Error::Protocol(format!("no line in the first {MAX} bytes")));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return Err(Error::Protocol(if input.is_empty() {
                    "the server closed the connection without answering".into()
                } else {
                    "the server closed the connection mid-line".into()
                }))
            }
            Ok(n) => input.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(Error::Connect(format!("reading the answer: {e}"))),
        }
    };
    let line = String::from_utf8_lossy(&input[..end]).trim_end().to_owned();
    let value: Value = serde_json::from_str(&line).map_err(|_| {
        let shown: String = line.chars().take(80).collect();
        Error::Protocol(format!("not a prise chat server: it answered {shown:?}"))
    })?;
    match value["type"].as_str() {
        Some("status") => Ok(Status {
            version: value["version"].as_u64().unwrap_or(0),
            server: value["server"].as_str().unwrap_or_default().to_owned(),
            users: value["users"].as_u64().unwrap_or(0),
            rooms: value["rooms"].as_u64().unwrap_or(0),
            line,
        }),
        Some("error") => Err(Error::Protocol(format!(
            "the server refused the probe: {}",
            value["text"].as_str().unwrap_or("no reason given")
        ))),
        Some("welcome") => Err(Error::Protocol(
            "the server does not know probes (it welcomed us as a user)".into(),
        )),
        _ => Err(Error::Protocol(format!(
            "unexpected answer to the probe: {}",
            line.chars().take(80).collect::<String>()
        ))),
    }
}

/// What one connection learned that the next one must restore.
struct Memory {
    nick: Option<String>,
    /// Folded name -> display name, for rooms joined beyond the default.
    rooms: BTreeMap<String, String>,
}

async fn run(
    addr: String,
    config: ClientConfig,
    mut commands: mpsc::Receiver<Value>,
    updates: mpsc::Sender<Update>,
    stop: CancellationToken,
) {
    let mut memory = Memory {
        nick: config.nick.clone(),
        rooms: config.rooms.iter().map(|r| (fold(r), r.clone())).collect(),
    };
    let mut delays = config.backoff.delays();
    loop {
        let reason =
            match session(&addr, &config, &mut memory, &mut commands, &updates, &stop).await {
                Ok(Ended::Quit) => return,
                Ok(Ended::Lost(reason)) => {
                    // A session that got as far as the welcome resets the backoff.
                    delays = config.backoff.delays();
                    reason
                }
                Err(reason) => reason,
            };
        if stop.is_cancelled() {
            return;
        }
        let retry_in = delays.next();
        let _ = updates
            .send(Update::Disconnected { reason, retry_in })
            .await;
        let Some(wait) = retry_in else { return };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

enum Ended {
    Quit,
    Lost(String),
}

async fn session(
    addr: &str,
    config: &ClientConfig,
    memory: &mut Memory,
    commands: &mut mpsc::Receiver<Value>,
    updates: &mpsc::Sender<Update>,
    stop: &CancellationToken,
) -> Result<Ended, String> {
    let mut stream = connect(addr, &config.connect).await.map_err(|e| {
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        text
    })?;
    let mut codec = LineCodec::new(crate::server::MAX_LINE_LEN * 64);
    let mut input = BytesMut::with_capacity(4096);
    let mut hello = json!({"type": "hello", "versions": [1]});
    if let Some(nick) = &memory.nick {
        hello["nick"] = json!(nick);
    }
    if let Some(password) = &config.password {
        hello["password"] = json!(password.0);
    }
    let mut out = serde_json::to_vec(&hello).unwrap_or_default();
    out.push(b'\n');
    // Logged in before the joins: the rooms see the account from the start.
    let request = match &config.login {
        Some(login) => Some(json!({
            "type": "login",
            "account": login.account,
            "password": login.password,
            "ref": LOGIN_REF,
        })),
        None if config.external_login => {
            Some(json!({"type": "login", "external": true, "ref": LOGIN_REF}))
        }
        None => None,
    };
    if let Some(request) = request {
        out.extend_from_slice(&serde_json::to_vec(&request).unwrap_or_default());
        out.push(b'\n');
    }
    for room in memory.rooms.values() {
        if let Ok(line) = serde_json::to_vec(&json!({"type": "join", "room": room})) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
    }
    stream
        .write_all(&out)
        .await
        .map_err(|e| format!("sending hello: {e}"))?;
    let mut welcomed = false;
    loop {
        while let Some(line) = codec.decode(&mut input).map_err(|e| e.to_string())? {
            let value: Value = serde_json::from_slice(&line)
                .map_err(|e| format!("bad message from server: {e}"))?;
            match value["type"].as_str() {
                Some("welcome") => {
                    welcomed = true;
                    let nick = value["nick"].as_str().unwrap_or_default().to_owned();
                    memory.nick = Some(nick.clone());
                    let _ = updates.send(Update::Connected { nick }).await;
                    continue;
                }
                Some("ping") => {
                    let mut pong =
                        serde_json::to_vec(&json!({"type": "pong", "token": value["token"]}))
                            .unwrap_or_default();
                    pong.push(b'\n');
                    stream.write_all(&pong).await.map_err(|e| e.to_string())?;
                    continue;
                }
                Some("joined") => {
                    if let Some(room) = value["room"].as_str() {
                        memory.rooms.insert(fold(room), room.to_owned());
                    }
                }
                Some("ack") => {
                    if let (Some(nick), Some(_)) = (value["nick"].as_str(), value.get("old")) {
                        memory.nick = Some(nick.to_owned());
                    }
                    if let (Some(room), None) = (value["room"].as_str(), value.get("topic")) {
                        memory.rooms.remove(&fold(room));
                    }
                }
                Some("error") if !welcomed => {
                    return Err(value["text"].as_str().unwrap_or("refused").to_owned());
                }
                _ => {}
            }
            if updates.send(Update::Message(value)).await.is_err() {
                return Ok(Ended::Quit);
            }
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(Ended::Quit),
            command = commands.recv(), if welcomed => {
                let Some(command) = command else { return Ok(Ended::Quit) };
                let quitting = command["type"] == "quit";
                let mut line = serde_json::to_vec(&command).unwrap_or_default();
                line.push(b'\n');
                stream.write_all(&line).await.map_err(|e| e.to_string())?;
                if quitting {
                    let _ = stream.shutdown().await;
                    return Ok(Ended::Quit);
                }
            }
            read = stream.read_buf(&mut input) => match read {
                Ok(0) => return if welcomed { Ok(Ended::Lost("the server closed the connection".into())) } else { Err("the server closed the connection".into()) },
                Ok(_) => {}
                Err(e) => return if welcomed { Ok(Ended::Lost(e.to_string())) } else { Err(e.to_string()) },
            },
        }
    }
}
