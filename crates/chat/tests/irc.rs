//! The IRC front door over real sockets: Python's standard-library IRC client, IRC users with
//! native and text users in one room, history through CHATHISTORY after a restart.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod support;

use support::{config, native_client, start, start_on, text_client, Raw, WAIT};

/// Register an IRC client (raw lines, as a bot would write them) and wait for the welcome.
async fn irc_client(addr: SocketAddr, nick: &str, caps: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    if !caps.is_empty() {
        c.send(&format!("CAP LS 302\r\nCAP REQ :{caps}\r")).await;
        c.until(|l| l.contains(" CAP ") && l.contains(" ACK "))
            .await;
    }
    c.send(&format!(
        "NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END\r"
    ))
    .await;
    c.until(|l| l.contains(" 001 ")).await;
    c.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;
    c
}

#[tokio::test]
async fn python_irc_client_gets_the_right_numerics() {
    let mut config = config(None);
    config.hub.opers = vec![("admin".into(), "s3cret".into())];
    let server = start(config).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/irc_client.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let output = tokio::time::timeout(WAIT * 6, run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "python IRC client failed:\n{stdout}\n{stderr}"
    );
    server.stop().await;
}

#[tokio::test]
async fn irc_native_and_text_users_share_a_room() {
    let server = start(config(None)).await;
    let mut carol = text_client(server.addr, "carol").await;
    let mut nina = native_client(server.addr, "nina").await;
    let mut ivan = irc_client(server.addr, "ivan", "").await;

    // The text and native users are in #general by default; the IRC user joins it and sees
    // them in NAMES.
    ivan.send("JOIN #general\r").await;
    let names = ivan.until(|l| l.contains(" 353 ")).await;
    for nick in ["carol", "nina", "ivan"] {
        assert!(
            names
                .split(':')
                .next_back()
                .unwrap()
                .split(' ')
                .any(|n| n.trim_start_matches(['@', '+']) == nick),
            "{names}"
        );
    }
    ivan.until(|l| l.contains(" 366 ")).await;
    carol.until(|l| l == "* ivan joined #general").await;
    let join = nina.until_type("join").await;
    assert_eq!(join["nick"], "ivan");

    // IRC to the others.
    ivan.send("PRIVMSG #general :hello from irc\r").await;
    carol.until(|l| l == "[ivan] hello from irc").await;
    let chat = nina.until_type("chat").await;
    assert_eq!(
        (chat["from"].as_str(), chat["text"].as_str()),
        (Some("ivan"), Some("hello from irc"))
    );

    // The others to IRC, with their door in the user part of the prefix.
    carol.send("hi ivan, from nc").await;
    ivan.until(|l| l == ":carol!text@prise PRIVMSG #general :hi ivan, from nc")
        .await;
    nina.send_json(json!({"type": "chat", "to": "#general", "text": "and from json"}))
        .await;
    ivan.until(|l| l == ":nina!native@prise PRIVMSG #general :and from json")
        .await;
    // A native client's newline cannot forge a line for IRC or text readers.
    nina.send_json(
        json!({"type": "chat", "to": "#general", "text": "one\r\nPRIVMSG #general :forged"}),
    )
    .await;
    ivan.until(|l| l.starts_with(":nina!native@prise PRIVMSG #general :one"))
        .await;
    carol.until(|l| l.starts_with("[nina] one")).await;
    nina.send_json(json!({"type": "private", "to": "ivan", "text": "just you", "action": true}))
        .await;
    let private = ivan.until(|l| l.contains(" PRIVMSG ivan ")).await;
    assert_eq!(
        private,
        ":nina!native@prise PRIVMSG ivan :\u{1}ACTION just you\u{1}"
    );

    // WHO lists everyone with their door; a nick change and a quit reach IRC.
    ivan.send("WHO #general\r").await;
    let mut idents = Vec::new();
    loop {
        let line = ivan.line().await.unwrap();
        if line.contains(" 315 ") {
            break;
        }
        if line.contains(" 352 ") {
            let words: Vec<&str> = line.split(' ').collect();
            idents.push(format!("{}:{}", words[7], words[4]));
        }
    }
    idents.sort();
    assert_eq!(idents, ["carol:text", "ivan:~ivan", "nina:native"]);
    carol.send("/nick caroline").await;
    ivan.until(|l| l == ":carol!text@prise NICK caroline").await;
    drop(nina);
    ivan.until(|l| l.starts_with(":nina!native@prise QUIT"))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn irc_client_reads_history_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.sqlite3");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(Some(&file))).await;
    let mut nina = native_client(addr, "nina").await;
    for i in 0..5 {
        nina.send_json(
            json!({"type": "chat", "to": "#general", "text": format!("before restart {i}")}),
        )
        .await;
        nina.until_type("ack").await;
    }
    drop(nina);
    server.stop().await;

    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(Some(&file))).await;
    let mut ivan = irc_client(addr, "ivan", "batch draft/chathistory server-time").await;
    ivan.send("CHATHISTORY LATEST #general * 3\r").await;
    let open = ivan.until(|l| l.contains(" BATCH +")).await;
    assert!(open.ends_with(" chathistory #general"), "{open}");
    let mut texts = Vec::new();
    loop {
        let line = ivan.line().await.unwrap();
        if line.contains(" BATCH -") {
            break;
        }
        assert!(line.starts_with("@batch="), "{line}");
        assert!(line.contains(";time=20"), "{line}");
        texts.push(line.rsplit(" :").next().unwrap().to_owned());
    }
    assert_eq!(
        texts,
        ["before restart 2", "before restart 3", "before restart 4"]
    );
    ivan.send("CHATHISTORY AROUND #general * 3\r").await;
    ivan.until(|l| l.contains("FAIL CHATHISTORY INVALID_PARAMS"))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_silent_or_oversized_irc_client_is_closed_with_error() {
    let server = start(config(None)).await;
    let mut big = irc_client(server.addr, "big", "").await;
    big.send(&format!("PRIVMSG #general :{}\r", "y".repeat(9000)))
        .await;
    let rest = big.rest().await;
    assert!(
        rest.iter()
            .any(|l| l.starts_with("ERROR :Closing link: Line longer than")),
        "{rest:?}"
    );
    // The server goes on serving others.
    let mut ok = irc_client(server.addr, "ok", "").await;
    ok.send("PING :x\r").await;
    ok.until(|l| l.ends_with("PONG prise :x")).await;
    server.stop().await;
}

/// Debian's `weechat-headless`, driven by `-r` commands, talks with a native client.
/// `.ci/run` installs it; without it this test fails rather than pass unseen.
#[tokio::test]
async fn weechat_talks_with_a_native_client() {
    let server = start(config(None)).await;
    // In the room before weechat comes, to see it join.
    let mut nina = native_client(server.addr, "nina").await;
    let dir = tempfile::tempdir().unwrap();
    let port = server.addr.port();
    let commands = [
        "/set logger.file.flush_delay 0".to_owned(),
        "/set irc.server_default.autoreconnect off".to_owned(),
        format!("/server add prise 127.0.0.1/{port} -notls -nicks=wee -username=wee"),
        "/connect prise".to_owned(),
        "/wait 1 /join -server prise #general".to_owned(),
        "/wait 2 /msg -server prise #general hello from weechat".to_owned(),
    ]
    .join(";");
    let mut weechat = tokio::process::Command::new("weechat-headless")
        .arg("--dir")
        .arg(dir.path())
        .arg("--no-plugin=python,perl,ruby,lua,tcl,guile,javascript,php,spell,fifo,relay,script,exec,trigger")
        .arg("-r")
        .arg(&commands)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("weechat-headless is needed (apt-get install weechat-headless; .ci/run does)");

    let join = nina.until_type("join").await;
    assert_eq!(join["nick"], "wee");
    let chat = nina.until_type("chat").await;
    assert_eq!(
        (chat["from"].as_str(), chat["text"].as_str()),
        (Some("wee"), Some("hello from weechat"))
    );
    nina.send_json(json!({"type": "chat", "to": "#general", "text": "hello back, weechat"}))
        .await;

    // weechat's logger writes what it shows in the channel buffer.
    let log = dir
        .path()
        .join("logs")
        .join("irc.prise.#general.weechatlog");
    let deadline = tokio::time::Instant::now() + WAIT;
    let shown = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("hello back, weechat") || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        shown
            .lines()
            .any(|l| l.contains("nina") && l.ends_with("hello back, weechat")),
        "weechat's #general log:\n{shown}"
    );
    weechat.kill().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn silent_irc_clients_are_pinged_then_closed_and_half_registered_ones_time_out() {
    let mut cfg = config(None);
    cfg.conn.idle_timeout = std::time::Duration::from_millis(300);
    let server = start(cfg).await;
    // The watcher is a text client: text mode has no keepalive, so it stays.
    let mut watcher = text_client(server.addr, "watcher").await;
    // Registered and silent: a PING, then ERROR and the others see a QUIT.
    let mut mute = irc_client(server.addr, "mute", "").await;
    mute.send("JOIN #general\r").await;
    mute.until(|l| l.contains(" 366 ")).await;
    mute.until(|l| l == "PING :prise").await;
    let rest = mute.rest().await;
    assert!(
        rest.iter()
            .any(|l| l == "ERROR :Closing link: Ping timeout"),
        "{rest:?}"
    );
    watcher.until(|l| l == "* mute quit (Ping timeout)").await;
    // Half a registration (a NICK, never a USER) is closed after the same time.
    let mut half = Raw::connect(server.addr).await;
    half.send("NICK halfway\r").await;
    let rest = half.rest().await;
    assert_eq!(rest, ["ERROR :Closing link: registration timed out"]);
    // The nick it asked for was never taken.
    let _again = irc_client(server.addr, "halfway", "").await;
    server.stop().await;
}

#[tokio::test]
async fn an_irc_peer_that_vanishes_mid_line_sends_nothing_and_quits() {
    let server = start(config(None)).await;
    let mut watcher = irc_client(server.addr, "watcher", "").await;
    watcher.send("JOIN #room\r").await;
    watcher.until(|l| l.contains(" 366 ")).await;
    let mut gone = irc_client(server.addr, "gone", "").await;
    gone.send("JOIN #room\r").await;
    gone.until(|l| l.contains(" 366 ")).await;
    watcher
        .until(|l| l.starts_with(":gone!") && l.contains(" JOIN "))
        .await;
    // Half a line, then the connection drops.
    gone.writer
        .write_all(b"PRIVMSG #room :this line never ends")
        .await
        .unwrap();
    drop(gone);
    let quit = watcher.until(|l| !l.contains(" PING ")).await;
    assert_eq!(quit, ":gone!~gone@prise QUIT :Client Quit");
    server.stop().await;
}

#[tokio::test]
async fn an_irc_client_that_stops_reading_is_closed_and_others_get_everything() {
    let mut cfg = config(None);
    cfg.hub.queue_len = 64;
    let server = start(cfg).await;
    let mut slow = irc_client(server.addr, "slow", "").await;
    slow.send("JOIN #busy\r").await;
    slow.until(|l| l.contains(" 366 ")).await;
    let mut reader = irc_client(server.addr, "reader", "").await;
    reader.send("JOIN #busy\r").await;
    reader.until(|l| l.contains(" 366 ")).await;
    let mut sender = irc_client(server.addr, "sender", "").await;
    sender.send("JOIN #busy\r").await;
    sender.until(|l| l.contains(" 366 ")).await;
    // 40,000 lines of 400 bytes (16 MB): far more than the slow client's socket buffers (a few
    // MB on loopback) and queue hold.
    // The sender goes in steps of 32 that the reader takes in, so only the client that does
    // not read at all falls behind.
    const N: usize = 40_000;
    let body = "z".repeat(400);
    for step in (0..N).step_by(32) {
        for i in step..step + 32 {
            sender.send(&format!("PRIVMSG #busy :{i} {body}\r")).await;
        }
        for i in step..step + 32 {
            let line = reader.until(|l| l.contains(" PRIVMSG #busy :")).await;
            let text = line.rsplit(" :").next().unwrap();
            assert!(
                text.starts_with(&format!("{i} ")),
                "message {i} in order: {text:.20}"
            );
        }
    }
    // The slow client's socket holds what was written before the queue overflowed; past it,
    // the server's goodbye.
    let mut last = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, slow.reader.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        last = line;
    }
    assert!(
        last.starts_with("ERROR :Closing link: SendQ exceeded"),
        "{last}"
    );
    reader
        .until(|l| l == ":slow!~slow@prise QUIT :SendQ exceeded (you are not reading fast enough)")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn room_operators_and_server_operators_act_across_front_doors() {
    let mut config = config(None);
    config.hub.opers = vec![("root".into(), "hunter2".into())];
    let server = start(config).await;
    let mut nina = native_client(server.addr, "nina").await;
    let mut ivan = irc_client(server.addr, "ivan", "").await;
    let mut carol = text_client(server.addr, "carol").await;

    // A native user creates #club and is its operator.
    nina.send_json(json!({"type": "join", "room": "club", "ref": 1}))
        .await;
    let joined = nina.until_type("joined").await;
    assert_eq!(joined["ops"], json!(["nina"]));
    ivan.send("JOIN #club\r").await;
    let names = ivan.until(|l| l.contains(" 353 ")).await;
    assert!(names.ends_with(":ivan @nina"), "{names}");
    carol.send("/join club").await;
    carol
        .until(|l| l.starts_with("* You are in #club (3 here: carol, ivan, @nina)"))
        .await;

    // Only operators kick, whatever their door.
    ivan.send("KICK #club carol\r").await;
    ivan.until(|l| l.contains(" 482 ivan #club ")).await;
    carol.send("/kick ivan").await;
    carol
        .until(|l| l == "! only operators of #club may do that")
        .await;
    nina.send_json(
        json!({"type": "kick", "room": "#club", "nick": "carol", "reason": "test", "ref": 2}),
    )
    .await;
    let ack = nina.until_type("ack").await;
    assert_eq!(
        (ack["room"].as_str(), ack["nick"].as_str()),
        (Some("#club"), Some("carol"))
    );
    ivan.until(|l| l == ":nina!native@prise KICK #club carol :test")
        .await;
    carol
        .until(|l| l == "* nina put carol out of #club (test)")
        .await;
    carol.until(|l| l == "* You are talking in #general").await;

    // An operator's mode change reaches every door.
    ivan.send("MODE #club +i\r").await;
    ivan.until(|l| l.contains(" 482 ")).await;
    nina.send_json(json!({"type": "invite", "room": "#club", "nick": "carol", "ref": 3}))
        .await;
    nina.until_type("ack").await;
    carol
        .until(|l| l == "* nina invites you to #club: /join #club")
        .await;

    // A server operator on IRC disconnects a native user; the others see why.
    ivan.send("KILL nina :enough\r").await;
    ivan.until(|l| l.contains(" 481 ")).await;
    ivan.send("OPER root hunter2\r").await;
    ivan.until(|l| l.contains(" 381 ")).await;
    ivan.send("KILL nina :enough\r").await;
    let error = nina.until_type("error").await;
    assert_eq!(error["code"], "killed");
    assert!(nina.rest().await.is_empty());
    carol
        .until(|l| l == "* nina quit (Killed (ivan (enough)))")
        .await;
    ivan.until(|l| l == ":nina!native@prise QUIT :Killed (ivan (enough))")
        .await;
    server.stop().await;
}
