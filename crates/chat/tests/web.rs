//! The web door over real sockets: the page and its headers, the Origin check on the
//! WebSocket upgrade, and a WebSocket client talking with a native client in one room.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prise_chat::server::{self, Door};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

mod support;

use support::{config, native_client, WAIT};

struct Doors {
    chat: std::net::SocketAddr,
    web: std::net::SocketAddr,
    shutdown: CancellationToken,
}

impl Drop for Doors {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(origins: &[&str]) -> Doors {
    let chat = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (chat_addr, web_addr) = (chat.local_addr().unwrap(), web.local_addr().unwrap());
    let mut cfg = config(None);
    cfg.web_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    let shutdown = CancellationToken::new();
    tokio::spawn(server::run_doors(
        vec![(chat, Door::Any), (web, Door::Web)],
        cfg,
        shutdown.clone(),
    ));
    Doors {
        chat: chat_addr,
        web: web_addr,
        shutdown,
    }
}

/// A raw HTTP exchange: the whole answer head.
async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.extend_from_slice(&buf[..n]);
        if n == 0 || got.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn upgrade(addr: std::net::SocketAddr, origin: Option<&str>) -> String {
    let mut req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(o) = origin {
        req.push_str(&format!("Origin: {o}\r\n"));
    }
    req.push_str("\r\n");
    req
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy_and_other_origins_are_refused() {
    let doors = start(&["https://app.example.org"]).await;
    let head = http(
        doors.web,
        &format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            doors.web
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self';"),
        "{head}"
    );
    assert!(lower.contains("x-content-type-options: nosniff"), "{head}");
    for path in ["/app.js", "/style.css"] {
        let head = http(
            doors.web,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                doors.web
            ),
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {head}");
    }

    // Another site's page may not open a session; the page's own origin, a named one and a
    // client without Origin (not a browser) may.
    let refused = http(doors.web, &upgrade(doors.web, Some("http://evil.example"))).await;
    assert!(
        refused.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{refused}"
    );
    // DNS rebinding: evil.example resolved to 127.0.0.1, so the browser sends its own name as
    // Host and Origin alike. The door listens on loopback: a name is not its own origin.
    let rebound = upgrade(
        doors.web,
        Some(&format!("http://evil.example:{}", doors.web.port())),
    )
    .replace(
        &format!("Host: {}", doors.web),
        &format!("Host: evil.example:{}", doors.web.port()),
    );
    assert!(rebound.contains("Host: evil.example:"), "{rebound}");
    let refused = http(doors.web, &rebound).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let other_port = format!("http://127.0.0.1:{}", doors.web.port() ^ 1);
    let refused = http(doors.web, &upgrade(doors.web, Some(&other_port))).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    for origin in [
        Some(format!("http://{}", doors.web)),
        Some("https://app.example.org".to_owned()),
        None,
    ] {
        let head = http(doors.web, &upgrade(doors.web, origin.as_deref())).await;
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{origin:?}: {head}"
        );
    }
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    kind: &str,
) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no message in time")
            .expect("closed")
            .unwrap();
        if let Message::Text(text) = msg {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind {
                return value;
            }
        }
    }
}

#[tokio::test]
async fn a_websocket_client_talks_with_a_native_client() {
    let doors = start(&[]).await;
    let mut request = format!("ws://{}/ws", doors.web)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", format!("http://{}", doors.web).parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(
        r#"{"type":"hello","versions":[1],"nick":"webby"}"#,
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws, "welcome").await["nick"], "webby");
    let joined = next_json(&mut ws, "joined").await;
    assert_eq!(joined["room"], "#general");

    let mut native = native_client(doors.chat, "carol").await;
    assert_eq!(next_json(&mut ws, "join").await["nick"], "carol");
    native
        .send_json(json!({"type": "chat", "to": "#general", "text": "<b>hi</b> from tcp"}))
        .await;
    let chat = next_json(&mut ws, "chat").await;
    assert_eq!(
        (chat["from"].as_str(), chat["text"].as_str()),
        (Some("carol"), Some("<b>hi</b> from tcp"))
    );
    ws.send(Message::text(
        json!({"type": "chat", "to": "#general", "text": "hello from the browser", "ref": 1})
            .to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws, "ack").await["ref"], 1);
    let got = native.until_type("chat").await;
    assert_eq!(got["text"], "hello from the browser");
    assert_eq!(got["from"], "webby");
    ws.send(Message::text(
        r#"{"type":"private","to":"carol","text":"psst"}"#,
    ))
    .await
    .unwrap();
    let private = native.until_type("private").await;
    assert_eq!(
        (private["from"].as_str(), private["text"].as_str()),
        (Some("webby"), Some("psst"))
    );

    // Binary frames and bad JSON get errors; the session goes on.
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next_json(&mut ws, "error").await["code"], "bad_request");
    ws.send(Message::text("{nope")).await.unwrap();
    assert_eq!(next_json(&mut ws, "error").await["code"], "bad_json");
    // A message over the line limit ends the connection; the native client hears the quit.
    ws.send(Message::text(
        json!({"type": "chat", "to": "#general", "text": "x".repeat(20_000)}).to_string(),
    ))
    .await
    .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(end, Ok(true), "the oversized message closed the socket");
    assert_eq!(native.until_type("quit").await["nick"], "webby");
}

#[tokio::test]
async fn with_tls_the_page_and_the_websocket_are_served_over_https() {
    prise_core::tls::install_crypto_provider();
    let tls = prise_core::tls::ServerTls::self_signed(&["127.0.0.1".to_owned()]).unwrap();
    let chat = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_addr = web.local_addr().unwrap();
    let mut cfg = config(None);
    cfg.tls = Some(tls);
    let shutdown = CancellationToken::new();
    tokio::spawn(server::run_doors(
        vec![(chat, Door::Any), (web, Door::Web)],
        cfg,
        shutdown.clone(),
    ));
    let page = tokio::process::Command::new("curl")
        .args(["-s", "-k", "-i", "--max-time", "5"])
        .arg(format!("https://{web_addr}/"))
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8_lossy(&page.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("<title>prise chat</title>"), "{text}");
    // The upgrade over TLS (wss://): curl shows the 101 and waits; it is stopped after 2 s.
    let upgrade = tokio::process::Command::new("curl")
        .args(["-s", "-k", "-i", "-N", "--http1.1", "--max-time", "2"])
        .args(["-H", "Upgrade: websocket", "-H", "Connection: Upgrade"])
        .args([
            "-H",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "-H",
            "Sec-WebSocket-Version: 13",
        ])
        .args(["-H", &format!("Origin: https://{web_addr}")])
        .arg(format!("https://{web_addr}/ws"))
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8_lossy(&upgrade.stdout);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols"),
        "{text}"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn the_websocket_door_has_the_same_flood_control() {
    let chat = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_addr = web.local_addr().unwrap();
    let mut cfg = config(None);
    cfg.conn.flood_rate = 0.5;
    cfg.conn.flood_burst = 3;
    let shutdown = CancellationToken::new();
    tokio::spawn(server::run_doors(
        vec![(chat, Door::Any), (web, Door::Web)],
        cfg,
        shutdown.clone(),
    ));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{web_addr}/ws"))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"hello","versions":[1]}"#))
        .await
        .unwrap();
    next_json(&mut ws, "joined").await;
    for i in 0..5 {
        ws.send(Message::text(
            json!({"type": "chat", "to": "#general", "text": format!("spam {i}"), "ref": i})
                .to_string(),
        ))
        .await
        .unwrap();
    }
    let mut answers = Vec::new();
    while answers.len() < 5 {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "ack" || v["type"] == "error" {
                answers.push((
                    v["ref"].as_u64().unwrap(),
                    v["code"].as_str().unwrap_or("ack").to_owned(),
                ));
            }
        }
    }
    assert_eq!(
        answers,
        [
            (0, "ack".to_owned()),
            (1, "ack".to_owned()),
            (2, "ack".to_owned()),
            (3, "flood".to_owned()),
            (4, "flood".to_owned())
        ]
    );
    shutdown.cancel();
}
