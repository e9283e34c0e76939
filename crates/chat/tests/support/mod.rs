//! What the chat test files share: a server on a loopback port, a raw line client, clients
//! of each front door set up and ready.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use prise_chat::server::{self, Config};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), prise_chat::Error>>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Flood control off: these tests send fast on purpose (flood control has its own test).
pub fn config(history: Option<&Path>) -> Config {
    let mut config = Config {
        history: history.map(Path::to_owned),
        ..Config::default()
    };
    config.conn.flood_rate = 0.0;
    config
}

pub async fn start_on(listener: TcpListener, config: Config) -> Running {
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server::run(listener, config, shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
    }
}

pub async fn start(config: Config) -> Running {
    start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), config).await
}

/// A raw line client: `nc` for text mode, or hand-written JSON for the native protocol.
pub struct Raw {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub seen: Vec<String>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw {
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        }
    }

    pub async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send(&value.to_string()).await;
    }

    /// The next line, or None at EOF.
    pub async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("no line within {WAIT:?}; seen so far: {:#?}", self.seen))
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        // Keep the last lines only: enough to explain a failure, small enough to print.
        if self.seen.len() >= 40 {
            self.seen.remove(0);
        }
        self.seen.push(line.clone());
        Some(line)
    }

    /// Read lines until one satisfies `pred`; return it.
    pub async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.line().await {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => panic!("connection closed; seen: {:#?}", self.seen),
            }
        }
    }

    /// Read JSON lines until one has `type` == `kind`.
    pub async fn until_type(&mut self, kind: &str) -> Value {
        self.until_type_in(&[kind]).await
    }

    /// Read JSON lines until one's `type` is one of `kinds`.
    pub async fn until_type_in(&mut self, kinds: &[&str]) -> Value {
        loop {
            let line = self
                .line()
                .await
                .unwrap_or_else(|| panic!("closed; seen: {:#?}", self.seen));
            let value: Value = serde_json::from_str(&line).unwrap();
            if kinds.iter().any(|k| value["type"] == *k) {
                return value;
            }
        }
    }

    /// Everything until EOF.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.line().await {
            lines.push(line);
        }
        lines
    }
}

pub async fn text_client(addr: SocketAddr, nick: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    c.until(|l| l.starts_with("* Welcome to prise chat. Your name is \"Invite"))
        .await;
    c.until(|l| l.starts_with("* You are in #general")).await;
    c.send(&format!("/nick {nick}")).await;
    c.until(|l| l == format!("* You are now known as {nick}"))
        .await;
    c
}

pub async fn native_client(addr: SocketAddr, nick: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    c.send_json(json!({"type": "hello", "versions": [1], "nick": nick}))
        .await;
    let welcome = c.until_type("welcome").await;
    assert_eq!(welcome["nick"], nick);
    assert_eq!(welcome["version"], 1);
    let joined = c.until_type("joined").await;
    assert_eq!(joined["room"], "#general");
    c
}
