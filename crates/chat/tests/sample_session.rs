//! Replays the sample session of docs/PROTOCOL-chat.md against a real server, line by line.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use prise_chat::server::{self, Config};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const DOC: &str = include_str!("../../../docs/PROTOCOL-chat.md");

/// The `C:`/`S:` lines of the fenced block after the `sample-session` marker.
fn sample() -> Vec<(char, String)> {
    let after = DOC
        .split("<!-- sample-session -->")
        .nth(1)
        .expect("marker in the doc");
    let block = after
        .split("```")
        .nth(1)
        .expect("a fenced block after the marker");
    block
        .lines()
        .filter_map(|line| {
            let (side, text) = line.split_once(": ")?;
            let side = match side {
                "C" => 'C',
                "S" => 'S',
                _ => return None,
            };
            Some((side, text.to_owned()))
        })
        .collect()
}

/// Timestamps differ per run: give every `"ts":"..."` the doc's fixed value.
fn normalize(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("\"ts\":\"") {
        let (head, tail) = rest.split_at(at + 6);
        out.push_str(head);
        out.push_str("2026-11-24T12:00:00.000Z");
        let end = tail.find('"').unwrap();
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn the_documented_session_replays_exactly() {
    let steps = sample();
    assert!(steps.len() > 10, "the sample session is in the doc");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    config.conn.flood_rate = 0.0;
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(server::run(listener, config, shutdown.clone()));

    let (read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut read = BufReader::new(read);
    for (side, text) in &steps {
        match side {
            'C' => {
                write.write_all(text.as_bytes()).await.unwrap();
                write.write_all(b"\n").await.unwrap();
            }
            _ => {
                let mut line = String::new();
                tokio::time::timeout(Duration::from_secs(10), read.read_line(&mut line))
                    .await
                    .expect("the server answers")
                    .unwrap();
                let line = line.strip_suffix('\n').expect("a whole line");
                assert_eq!(normalize(line), *text);
            }
        }
    }
    let mut rest = String::new();
    let n = tokio::time::timeout(Duration::from_secs(10), read.read_line(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the server closes after quit, got {rest:?}");
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
