//! The chat server over real sockets: text clients as `nc` would be, native JSON clients, the
//! client library, history on disk, slow consumers.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use prise_chat::client::{Client, ClientConfig, Update};
use prise_chat::server;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod support;

use support::{config, native_client, start, start_on, text_client, Raw, WAIT};

#[tokio::test]
async fn text_and_native_clients_talk_in_rooms() {
    let server = start(config(None)).await;
    let mut alice = text_client(server.addr, "alice").await;
    // The tutorial's French alias works too.
    let mut bob = Raw::connect(server.addr).await;
    bob.until(|l| l.starts_with("* You are in #general")).await;
    bob.send("/nom bob").await;
    bob.until(|l| l == "* You are now known as bob").await;
    let mut carol = native_client(server.addr, "carol").await;

    // A taken nick is refused, whatever its case.
    alice.send("/nick BOB").await;
    assert_eq!(
        alice.until(|l| l.starts_with('!')).await,
        "! the nick BOB is already taken"
    );

    alice.send("hello everyone").await;
    assert_eq!(
        bob.until(|l| l.starts_with('[')).await,
        "[alice] hello everyone"
    );
    let chat = carol.until_type("chat").await;
    assert_eq!(
        (
            chat["from"].as_str(),
            chat["to"].as_str(),
            chat["text"].as_str()
        ),
        (Some("alice"), Some("#general"), Some("hello everyone"))
    );
    assert!(chat["ts"].as_str().unwrap().ends_with('Z'));
    assert!(chat["id"].as_u64().unwrap() > 0);

    carol
        .send_json(json!({"type": "chat", "to": "#general", "text": "hi from json", "ref": 7}))
        .await;
    let ack = carol.until_type("ack").await;
    assert_eq!(ack["ref"], 7);
    assert_eq!(
        alice.until(|l| l.starts_with('[')).await,
        "[carol] hi from json"
    );
    assert_eq!(
        bob.until(|l| l.starts_with('[')).await,
        "[carol] hi from json"
    );

    // Send order per sender is kept.
    for i in 0..20 {
        bob.send(&format!("n{i}")).await;
    }
    for i in 0..20 {
        assert_eq!(
            alice.until(|l| l.starts_with('[')).await,
            format!("[bob] n{i}")
        );
    }

    // A private message reaches only its target.
    alice.send("/msg carol psst").await;
    assert_eq!(
        alice.until(|l| l.starts_with("[you")).await,
        "[you -> carol] psst"
    );
    let private = carol.until_type("private").await;
    assert_eq!(
        (private["from"].as_str(), private["text"].as_str()),
        (Some("alice"), Some("psst"))
    );
    // /me
    bob.send("/me waves").await;
    assert_eq!(alice.until(|l| l.starts_with("* bob")).await, "* bob waves");

    // Another room: only its members see its messages.
    bob.send("/join salon").await;
    bob.until(|l| l.starts_with("* You are in #salon")).await;
    carol
        .send_json(json!({"type": "join", "room": "salon", "ref": "j"}))
        .await;
    let joined = carol.until_type("joined").await;
    assert_eq!(joined["users"], json!(["bob", "carol"]));
    bob.send("only in salon").await;
    let chat = carol.until_type("chat").await;
    assert_eq!(
        (chat["to"].as_str(), chat["text"].as_str()),
        (Some("#salon"), Some("only in salon"))
    );
    alice.send("/who").await;
    assert_eq!(
        alice.until(|l| l.starts_with("* #general")).await,
        "* #general (3): alice, bob, carol"
    );
    // Alice saw nothing from #salon (the marker below arrives after anything that would have).
    alice.send("/rooms").await;
    let listing = alice.until(|l| l.starts_with("* 2 rooms")).await;
    assert_eq!(listing, "* 2 rooms:");
    assert_eq!(alice.line().await.unwrap(), "*   #general (3)");
    assert_eq!(alice.line().await.unwrap(), "*   #salon (2)");
    assert!(
        !alice.seen.iter().any(|l| l.contains("only in salon")),
        "{:#?}",
        alice.seen
    );

    // Parts and disconnects show in the lists.
    bob.send("/part").await;
    bob.until(|l| l == "* You left #salon").await;
    carol
        .send_json(json!({"type": "users", "room": "#salon"}))
        .await;
    assert_eq!(carol.until_type("users").await["users"], json!(["carol"]));
    drop(bob);
    alice.until(|l| l == "* bob quit").await;
    carol.send_json(json!({"type": "users"})).await;
    assert_eq!(
        carol.until_type("users").await["users"],
        json!(["alice", "carol"])
    );

    // Unknown commands get a clear error.
    alice.send("/frobnicate").await;
    assert_eq!(
        alice.until(|l| l.starts_with('!')).await,
        "! Unknown command /frobnicate. Type /help for the list."
    );
    server.stop().await;
}

#[tokio::test]
async fn history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(Some(&db))).await;
    let mut alice = text_client(server.addr, "alice").await;
    for i in 0..60 {
        alice.send(&format!("message {i}")).await;
    }
    // A round trip after the last message: everything before it has been accepted.
    alice.send("/who").await;
    alice.until(|l| l.starts_with("* #general")).await;
    drop(alice);
    server.stop().await;

    // Same file, same address: a newcomer gets the last 50, in order.
    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(Some(&db))).await;
    let mut dave = native_client_raw(server.addr).await;
    let joined = dave.until_type("joined").await;
    let history = joined["history"].as_array().unwrap();
    let texts: Vec<&str> = history
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (10..60).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, expected);
    // Older pages on request.
    let oldest = history[0]["id"].as_u64().unwrap();
    dave.send_json(json!({"type": "history", "room": "#general", "before": oldest, "limit": 5}))
        .await;
    let page = dave.until_type("history").await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "message 5",
            "message 6",
            "message 7",
            "message 8",
            "message 9"
        ]
    );
    assert_eq!(page["more"], true);
    // Text mode replays too, with times.
    let mut erin = Raw::connect(server.addr).await;
    let replayed = erin.until(|l| l.ends_with("[alice] message 59")).await;
    assert!(
        replayed.len() > "[alice] message 59".len(),
        "a time before the line: {replayed}"
    );
    server.stop().await;
}

async fn native_client_raw(addr: SocketAddr) -> Raw {
    let mut c = Raw::connect(addr).await;
    c.send_json(json!({"type": "hello", "versions": [1]})).await;
    c.until_type("welcome").await;
    c
}

#[tokio::test]
async fn bad_input_gets_errors_and_only_the_offender_is_dropped() {
    let server = start(config(None)).await;
    let mut alice = text_client(server.addr, "alice").await;
    let mut carol = native_client(server.addr, "carol").await;

    // Invalid UTF-8 in text mode: an error, the connection stays.
    alice.writer.write_all(b"\xff\xfe bad\n").await.unwrap();
    assert!(alice
        .until(|l| l.starts_with('!'))
        .await
        .contains("not valid UTF-8"));
    // Invalid JSON and unknown types in the native protocol: error replies.
    carol.send("{not json").await;
    assert_eq!(carol.until_type("error").await["code"], "bad_json");
    carol
        .writer
        .write_all(b"{\"type\":\"chat\",\"text\":\"\xff\"}\n")
        .await
        .unwrap();
    assert_eq!(carol.until_type("error").await["code"], "bad_utf8");
    carol.send_json(json!({"type": "dance"})).await;
    assert_eq!(carol.until_type("error").await["code"], "unknown_type");
    carol
        .send_json(json!({"type": "chat", "to": "#nowhere", "text": "x"}))
        .await;
    assert_eq!(carol.until_type("error").await["code"], "not_in_room");

    // A line over the limit: an error, then that client only is disconnected.
    let mut mallory = Raw::connect(server.addr).await;
    mallory.until(|l| l.starts_with("* You are in")).await;
    let long = "x".repeat(server::MAX_LINE_LEN + 10);
    mallory.writer.write_all(long.as_bytes()).await.unwrap();
    let rest = mallory.rest().await;
    assert_eq!(
        rest.last().map(String::as_str),
        Some(
            format!(
                "! Line longer than {} bytes; disconnecting.",
                server::MAX_LINE_LEN
            )
            .as_str()
        )
    );
    let mut big = Raw::connect(server.addr).await;
    big.send_json(json!({"type": "hello", "versions": [1]}))
        .await;
    big.until_type("joined").await;
    big.writer
        .write_all(format!("{{\"type\":\"chat\",\"text\":\"{long}\"}}\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(big.until_type("error").await["code"], "line_too_long");
    assert!(big.rest().await.is_empty(), "disconnected after the error");

    // A wrong protocol version is refused.
    let mut old = Raw::connect(server.addr).await;
    old.send_json(json!({"type": "hello", "versions": [99]}))
        .await;
    assert_eq!(old.until_type("error").await["code"], "unsupported_version");

    // Everyone else carries on.
    alice.send("still here").await;
    assert_eq!(carol.until_type("chat").await["text"], "still here");
    server.stop().await;
}

#[tokio::test]
async fn a_slow_reader_is_dropped_and_the_others_get_everything() {
    let mut cfg = config(None);
    cfg.conn.flood_rate = 0.0;
    cfg.hub.replay = 0;
    let server = start(cfg).await;
    // The slow one connects, then never reads again.
    let mut slow = native_client(server.addr, "slow").await;
    let mut readers = Vec::new();
    for i in 0..3 {
        readers.push(native_client(server.addr, &format!("reader{i}")).await);
    }
    let mut sender = native_client(server.addr, "sender").await;
    const N: usize = 100_000;
    // The healthy readers report their progress; the sender stays at most WINDOW messages ahead
    // of the slowest of them. That is a sender as fast as the readers can take (the test's
    // clients parse every line as JSON, in a debug build), while the client that never reads
    // falls behind without limit and must be cut off.
    const WINDOW: usize = 1000;
    let progress: Vec<std::sync::Arc<std::sync::atomic::AtomicUsize>> =
        (0..readers.len()).map(|_| Default::default()).collect();
    let counting: Vec<_> = readers
        .into_iter()
        .zip(progress.clone())
        .map(|(mut reader, progress)| {
            tokio::spawn(async move {
                let mut next = 0usize;
                while next < N {
                    let value = reader.until_type("chat").await;
                    assert_eq!(value["text"], format!("m{next}"), "every message, in order");
                    next += 1;
                    progress.store(next, std::sync::atomic::Ordering::Release);
                }
                next
            })
        })
        .collect();
    // Acks are read in the background so the sender itself is never the slow one.
    let (mut sender_reader, mut sender_writer) = (sender.reader, sender.writer);
    let drain = tokio::spawn(async move {
        let mut line = String::new();
        let mut acks = 0;
        while acks < N {
            line.clear();
            if sender_reader.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            if line.contains("\"ack\"") {
                acks += 1;
            }
        }
        acks
    });
    let mut batch = String::new();
    for i in 0..N {
        while progress
            .iter()
            .map(|p| p.load(std::sync::atomic::Ordering::Acquire))
            .min()
            .unwrap_or(0)
            + WINDOW
            <= i
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        batch.push_str(
            &json!({"type": "chat", "to": "#general", "text": format!("m{i}")}).to_string(),
        );
        batch.push('\n');
        if batch.len() > 16 * 1024 || i + 1 == N {
            sender_writer.write_all(batch.as_bytes()).await.unwrap();
            batch.clear();
        }
    }
    assert_eq!(drain.await.unwrap(), N);
    for task in counting {
        assert_eq!(task.await.unwrap(), N);
    }
    // The slow client was told why and let go: reading now finds the reason, then EOF.
    let rest = slow.rest().await;
    let reason: Value =
        serde_json::from_str(rest.iter().rev().find(|l| l.contains("too_slow")).unwrap()).unwrap();
    assert_eq!(reason["code"], "too_slow");
    // It is gone from the room.
    sender = Raw::connect(server.addr).await;
    sender
        .send_json(json!({"type": "hello", "versions": [1]}))
        .await;
    let joined = sender.until_type("joined").await;
    assert!(
        !joined["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == "slow"),
        "{joined}"
    );
    server.stop().await;
}

#[tokio::test]
async fn library_client_reconnects_and_rejoins() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(None)).await;
    let mut cfg = ClientConfig::new();
    cfg.nick = Some("robot".into());
    cfg.backoff.min = Duration::from_millis(50);
    cfg.backoff.max = Duration::from_millis(200);
    let mut client = Client::start(&addr.to_string(), cfg);
    let connected = next_update(&mut client, |u| matches!(u, Update::Connected { .. })).await;
    assert!(matches!(connected, Update::Connected { nick } if nick == "robot"));
    client.join("#lab").await.unwrap();
    next_message(&mut client, "joined", |v| v["room"] == "#lab").await;

    // Kill the server; the client notices and counts down.
    server.stop().await;
    let lost = next_update(&mut client, |u| matches!(u, Update::Disconnected { .. })).await;
    assert!(matches!(
        lost,
        Update::Disconnected {
            retry_in: Some(_),
            ..
        }
    ));

    // Restart on the same address: same nick, same rooms.
    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(None)).await;
    let again = next_update(&mut client, |u| matches!(u, Update::Connected { .. })).await;
    assert!(matches!(again, Update::Connected { nick } if nick == "robot"));
    next_message(&mut client, "joined", |v| v["room"] == "#lab").await;
    let mut watcher = native_client(server.addr, "watcher").await;
    watcher
        .send_json(json!({"type": "join", "room": "#lab"}))
        .await;
    let joined = watcher.until_type("joined").await;
    assert_eq!(joined["users"], json!(["robot", "watcher"]));
    client.say("#lab", "back again").await.unwrap();
    assert_eq!(watcher.until_type("chat").await["text"], "back again");
    server.stop().await;
}

async fn next_update(client: &mut Client, pred: impl Fn(&Update) -> bool) -> Update {
    loop {
        let update = tokio::time::timeout(WAIT, client.next())
            .await
            .unwrap()
            .unwrap();
        if pred(&update) {
            return update;
        }
    }
}

async fn next_message(client: &mut Client, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        if let Update::Message(v) = next_update(client, |u| matches!(u, Update::Message(_))).await {
            if v["type"] == kind && pred(&v) {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn native_client_over_tls_with_a_pinned_certificate() {
    let tls = prise_core::tls::ServerTls::self_signed(
        &prise_core::tls::ServerTls::default_self_signed_names(),
    )
    .unwrap();
    let fingerprint = tls.fingerprint();
    let mut cfg = config(None);
    cfg.tls = Some(tls);
    let server = start(cfg).await;
    let mut client_cfg = ClientConfig::new();
    client_cfg.nick = Some("secure".into());
    client_cfg.connect.tls = Some(
        prise_core::tls::ClientTls::new(prise_core::tls::Verify::Pinned(fingerprint)).unwrap(),
    );
    let (mut client, nick) = Client::connect_once(&server.addr.to_string(), client_cfg)
        .await
        .unwrap();
    assert_eq!(nick, "secure");
    // A plain text client shares the port.
    let mut plain = text_client(server.addr, "plain").await;
    client.say("#general", "over tls").await.unwrap();
    assert_eq!(
        plain.until(|l| l.starts_with('[')).await,
        "[secure] over tls"
    );
    plain.send("plain reply").await;
    let chat = next_message(&mut client, "chat", |_| true).await;
    assert_eq!(chat["text"], "plain reply");
    // The wrong pin is refused with the reason.
    let mut wrong = ClientConfig::new();
    wrong.connect.tls = Some(
        prise_core::tls::ClientTls::new(prise_core::tls::Verify::Pinned(fingerprint_other()))
            .unwrap(),
    );
    let err = Client::connect_once(&server.addr.to_string(), wrong)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fingerprint mismatch"), "{err}");
    server.stop().await;
}

fn fingerprint_other() -> prise_core::tls::Fingerprint {
    format!("SHA256:{}", "ab".repeat(32)).parse().unwrap()
}

#[tokio::test]
async fn flooding_is_refused_with_a_reason() {
    let mut cfg = config(None);
    cfg.conn.flood_rate = 0.5;
    cfg.conn.flood_burst = 3;
    let server = start(cfg).await;
    let mut alice = text_client(server.addr, "alice").await;
    let mut carol = native_client(server.addr, "carol").await;
    for i in 0..4 {
        alice.send(&format!("spam {i}")).await;
    }
    assert_eq!(
        alice.until(|l| l.starts_with('!')).await,
        "! Slow down: too many messages; that one was not sent."
    );
    for i in 0..3 {
        assert_eq!(carol.until_type("chat").await["text"], format!("spam {i}"));
    }
    for _ in 0..4 {
        carol
            .send_json(json!({"type": "chat", "to": "#general", "text": "x"}))
            .await;
    }
    assert_eq!(carol.until_type("error").await["code"], "flood");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_tells_clients_and_returns() {
    let server = start(config(None)).await;
    let mut alice = text_client(server.addr, "alice").await;
    let mut carol = native_client(server.addr, "carol").await;
    server.shutdown.cancel();
    alice
        .until(|l| l == "* The server is shutting down. Bye!")
        .await;
    assert_eq!(carol.until_type("error").await["code"], "server_shutdown");
    tokio::time::timeout(WAIT, server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn silent_native_clients_are_pinged_then_dropped() {
    let mut cfg = config(None);
    cfg.conn.idle_timeout = Duration::from_millis(300);
    let server = start(cfg).await;
    // A raw client that never answers the ping is dropped with a reason.
    let mut mute = native_client(server.addr, "mute").await;
    let ping = mute.until_type("ping").await;
    assert!(ping["token"].is_string());
    assert_eq!(mute.until_type("error").await["code"], "timeout");
    assert!(mute.rest().await.is_empty(), "disconnected");
    // The library client answers pings and stays, through several idle periods.
    let mut cfg = ClientConfig::new();
    cfg.nick = Some("alive".into());
    let (client, _) = Client::connect_once(&server.addr.to_string(), cfg)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut watcher = native_client(server.addr, "watcher").await;
    watcher.send_json(json!({"type": "users"})).await;
    assert_eq!(
        watcher.until_type("users").await["users"],
        json!(["alive", "watcher"])
    );
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_probe_is_answered_and_nobody_sees_it() {
    let server = start(config(None)).await;
    let mut alice = native_client(server.addr, "alice").await;
    let mut bob = native_client(server.addr, "bob").await;
    alice.until_type("join").await; // bob's join

    // By hand, as the protocol doc says: one status line, then the server closes.
    let mut raw = Raw::connect(server.addr).await;
    raw.send_json(json!({"type": "hello", "versions": [1], "probe": true, "ref": "p"}))
        .await;
    let status: Value = serde_json::from_str(&raw.line().await.unwrap()).unwrap();
    assert_eq!(status["type"], "status", "{status}");
    assert_eq!(status["version"], 1);
    assert_eq!(status["users"], 2, "the probe does not count itself");
    assert_eq!(status["rooms"], 1);
    assert_eq!(status["ref"], "p");
    assert!(status["server"].as_str().unwrap().starts_with("prise "));
    assert_eq!(
        raw.rest().await,
        Vec::<String>::new(),
        "closed after the status"
    );

    // Through the library, over TLS-less TCP, twice more.
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let status = prise_chat::client::probe(&mut stream).await.unwrap();
        assert_eq!((status.users, status.rooms, status.version), (2, 1, 1));
    }
    // A probe with no common version is refused like a hello.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"{\"type\":\"hello\",\"versions\":[99],\"probe\":true}\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.contains("unsupported_version"), "{answer}");

    // Nobody in the room saw any of it: the next thing alice gets is bob's message.
    bob.send_json(json!({"type": "chat", "to": "#general", "text": "still just us"}))
        .await;
    let next: Value = serde_json::from_str(&alice.line().await.unwrap()).unwrap();
    assert_eq!(
        (next["type"].as_str(), next["text"].as_str()),
        (Some("chat"), Some("still just us")),
        "{next}"
    );
    alice
        .send_json(json!({"type": "users", "room": "#general"}))
        .await;
    assert_eq!(
        alice.until_type("users").await["users"],
        json!(["alice", "bob"])
    );
}

#[tokio::test]
async fn a_probe_of_something_else_says_what_it_got() {
    // A server that is not prise chat: an HTTP-ish answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let other = tokio::spawn(async move {
        for answer in [
            &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
            b"",
            b"{\"type\":\"wel",
        ] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(answer).await.unwrap();
        }
    });
    let mut got = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        got.push(
            prise_chat::client::probe(&mut stream)
                .await
                .unwrap_err()
                .to_string(),
        );
    }
    other.await.unwrap();
    assert_eq!(
        got,
        [
            "not a prise chat server: it answered \"HTTP/1.1 400 Bad Request\"",
            "the server closed the connection without answering",
            "the server closed the connection mid-line",
        ]
    );
}
