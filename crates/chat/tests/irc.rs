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

/// The numeric's parameters after the nick it is addressed to, as one string.
fn after_code<'a>(line: &'a str, code: &str) -> &'a str {
    let at = line
        .find(&format!(" {code} "))
        .unwrap_or_else(|| panic!("no {code} in {line}"));
    let rest = &line[at + code.len() + 2..];
    rest.split_once(' ').map_or("", |(_, r)| r)
}

/// RFC 2812 / Modern IRC details that irctest checks, seen here by a raw client: the server's
/// configured name everywhere, PING tokens echoed, 005 lines of at most 13 tokens, 461 for an
/// empty real name, a bad `+l` value named in 696.
#[tokio::test]
async fn the_server_name_registration_and_isupport_follow_the_rfcs() {
    let mut config = config(None);
    config.hub.server_name = "irc.example.org".into();
    let server = start(config).await;

    // An empty real name is refused; a real one then registers.
    let mut c = Raw::connect(server.addr).await;
    c.send("NICK rita\r\nUSER rita 0 * :\r").await;
    let refused = c.until(|l| l.contains(" 461 ")).await;
    assert_eq!(
        refused,
        ":irc.example.org 461 * USER :Not enough parameters"
    );
    c.send("USER rita 0 * :Rita R\r").await;
    let welcome = c.until(|l| l.contains(" 001 ")).await;
    assert!(
        welcome.starts_with(":irc.example.org 001 rita :"),
        "{welcome}"
    );
    let mut isupport = Vec::new();
    loop {
        let line = c.line().await.unwrap();
        if line.contains(" 004 ") {
            assert!(
                line.starts_with(":irc.example.org 004 rita irc.example.org prise-"),
                "{line}"
            );
        }
        if line.contains(" 005 ") {
            let tokens: Vec<&str> = after_code(&line, "005")
                .split(" :")
                .next()
                .unwrap()
                .split(' ')
                .collect();
            assert!(tokens.len() <= 13, "{} tokens in {line}", tokens.len());
            isupport.extend(tokens.into_iter().map(str::to_owned));
        }
        if line.contains(" 422 ") || line.contains(" 376 ") {
            break;
        }
    }
    for token in [
        "CHANMODES=beI,k,l,imnst",
        "EXCEPTS",
        "INVEX",
        "WHOX",
        "MAXLIST=beI:100",
    ] {
        assert!(
            isupport.iter().any(|t| t == token),
            "{token} not in {isupport:?}"
        );
    }
    assert!(
        isupport.iter().any(|t| t.starts_with("TARGMAX=")),
        "{isupport:?}"
    );

    c.send("PING :token with spaces\r").await;
    let pong = c.until(|l| l.contains(" PONG ")).await;
    assert_eq!(
        pong,
        ":irc.example.org PONG irc.example.org :token with spaces"
    );
    c.send("PING\r").await;
    let none = c.until(|l| l.contains(" 409 ")).await;
    assert!(none.starts_with(":irc.example.org 409 rita "), "{none}");

    c.send("JOIN #limits\r").await;
    c.until(|l| l.contains(" 366 ")).await;
    c.send("MODE #limits +l :\r").await;
    let bad = c.until(|l| l.contains(" 696 ")).await;
    assert!(
        bad.starts_with(":irc.example.org 696 rita #limits l * :"),
        "{bad}"
    );
    c.send("MODE #limits +l -3\r").await;
    let bad = c.until(|l| l.contains(" 696 ")).await;
    assert!(
        after_code(&bad, "696").starts_with("#limits l -3 :"),
        "{bad}"
    );
    server.stop().await;
}

/// `MODE #room` gives 324 then 329 (creation time); a topic comes with 333 (who, when), on
/// join and on request.
#[tokio::test]
async fn channel_and_topic_times_are_given() {
    let server = start(config(None)).await;
    let mut ada = irc_client(server.addr, "ada", "").await;
    ada.send("JOIN #times\r").await;
    ada.until(|l| l.contains(" 366 ")).await;
    ada.send("MODE #times\r").await;
    let modes = ada.until(|l| l.contains(" 324 ")).await;
    assert_eq!(after_code(&modes, "324"), "#times +nt");
    let created = ada.line().await.unwrap();
    let fields: Vec<&str> = after_code(&created, "329").split(' ').collect();
    assert_eq!(fields[0], "#times", "{created}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at: u64 = fields[1].parse().unwrap();
    assert!(now.abs_diff(at) < 60, "{created}");

    ada.send("TOPIC #times :a topic\r").await;
    ada.until(|l| l.ends_with("TOPIC #times :a topic")).await;
    ada.send("TOPIC #times\r").await;
    ada.until(|l| l.contains(" 332 ")).await;
    let who_when = ada.line().await.unwrap();
    let fields: Vec<&str> = after_code(&who_when, "333").split(' ').collect();
    assert_eq!(&fields[..2], ["#times", "ada"], "{who_when}");

    let mut bea = irc_client(server.addr, "bea", "").await;
    bea.send("JOIN #times\r").await;
    let topic = bea.until(|l| l.contains(" 332 ")).await;
    assert_eq!(after_code(&topic, "332"), "#times :a topic");
    let who_when = bea.line().await.unwrap();
    assert!(
        after_code(&who_when, "333").starts_with("#times ada "),
        "{who_when}"
    );
    server.stop().await;
}

/// NOTICE arrives as NOTICE (IRC) and as a chat marked `notice` (native); it is not kept, so
/// a newcomer's replay has the PRIVMSG and not the NOTICE.
#[tokio::test]
async fn a_notice_is_delivered_as_one_and_not_replayed() {
    let server = start(config(None)).await;
    let mut nina = native_client(server.addr, "nina").await;
    let mut bot = irc_client(server.addr, "bot", "").await;
    let mut ivan = irc_client(server.addr, "ivan", "").await;
    for c in [&mut bot, &mut ivan] {
        c.send("JOIN #general\r").await;
        c.until(|l| l.contains(" 366 ")).await;
    }
    bot.send("NOTICE #general :build passed\r").await;
    bot.send("PRIVMSG #general :said aloud\r").await;
    let notice = ivan.until(|l| l.contains("build passed")).await;
    assert_eq!(notice, ":bot!~bot@prise NOTICE #general :build passed");
    let chat = nina.until_type("chat").await;
    assert_eq!(
        (chat["text"].as_str(), chat["notice"].as_bool()),
        (Some("build passed"), Some(true))
    );
    let chat = nina.until_type("chat").await;
    assert_eq!(chat["text"], "said aloud");
    assert!(chat.get("notice").is_none(), "{chat}");
    // A private notice too.
    bot.send("NOTICE ivan :just you\r").await;
    let private = ivan.until(|l| l.contains("just you")).await;
    assert_eq!(private, ":bot!~bot@prise NOTICE ivan :just you");

    let mut late = Raw::connect(server.addr).await;
    late.send_json(json!({"type": "hello", "versions": [1], "nick": "late"}))
        .await;
    let joined = late.until_type("joined").await;
    let texts: Vec<&str> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["said aloud"]);
    server.stop().await;
}

/// WHO: an invisible user is hidden from a wildcard search unless a room is shared, and
/// found by their exact nick; WHOX answers the fields asked, in the standard order, with the
/// token.
#[tokio::test]
async fn who_respects_invisibility_and_answers_whox() {
    let server = start(config(None)).await;
    let mut evan = irc_client(server.addr, "evan", "").await;
    evan.send("MODE evan +i\r").await;
    evan.until(|l| l.contains("MODE evan :+i")).await;
    let mut sam = irc_client(server.addr, "sam", "").await;
    sam.send("WHO eva*\r").await;
    let first = sam.line().await.unwrap();
    assert!(
        first.contains(" 315 sam eva* "),
        "a mask must not find evan: {first}"
    );
    sam.send("WHO evan\r").await;
    let reply = sam.line().await.unwrap();
    assert_eq!(
        after_code(&reply, "352"),
        "* ~evan prise prise evan H :0 evan"
    );
    sam.until(|l| l.contains(" 315 ")).await;

    evan.send("JOIN #w\r").await;
    evan.until(|l| l.contains(" 366 ")).await;
    sam.send("JOIN #w\r").await;
    sam.until(|l| l.contains(" 366 ")).await;
    sam.send("WHO eva*\r").await;
    let reply = sam.line().await.unwrap();
    assert!(reply.contains(" 352 sam #w ~evan "), "{reply}");
    sam.until(|l| l.contains(" 315 ")).await;

    sam.send("WHO #w %rnfct,42\r").await;
    let mut lines = [sam.line().await.unwrap(), sam.line().await.unwrap()];
    lines.sort();
    assert_eq!(after_code(&lines[0], "354"), "42 #w evan H@ :evan");
    assert_eq!(after_code(&lines[1], "354"), "42 #w sam H :sam");
    sam.until(|l| l.contains(" 315 ")).await;
    server.stop().await;
}

/// A client that closes and reconnects at once gets its nick, though its old connection's
/// close may not have been read yet (what bots and irctest do).
#[tokio::test]
async fn a_client_reconnecting_at_once_gets_its_nick_back() {
    let server = start(config(None)).await;
    for round in 0..20 {
        let mut c = Raw::connect(server.addr).await;
        c.send("NICK again\r\nUSER again 0 * :Again\r").await;
        let first = c.line().await.unwrap();
        assert!(first.contains(" 001 again "), "round {round}: {first}");
        c.until(|l| l.contains(" 422 ")).await;
        drop(c);
    }
    server.stop().await;
}

/// KICK of several users (one room, or rooms paired with users) sends one KICK per user;
/// NAMES of several rooms gives their lists and one 366.
#[tokio::test]
async fn kick_and_names_take_several_targets() {
    let server = start(config(None)).await;
    let mut op = irc_client(server.addr, "op", "").await;
    op.send("JOIN #k\r").await;
    op.until(|l| l.contains(" 366 ")).await;
    let mut others = Vec::new();
    for nick in ["u1", "u2", "u3"] {
        let mut c = irc_client(server.addr, nick, "").await;
        c.send("JOIN #k\r").await;
        c.until(|l| l.contains(" 366 ")).await;
        others.push(c);
    }
    op.send("KICK #k u1,u2 :out\r").await;
    let watcher = &mut others[2];
    let a = watcher.until(|l| l.contains(" KICK ")).await;
    let b = watcher.until(|l| l.contains(" KICK ")).await;
    assert_eq!(
        [
            a.split_once(" KICK ").unwrap().1,
            b.split_once(" KICK ").unwrap().1
        ],
        ["#k u1 :out", "#k u2 :out"]
    );
    op.send("KICK #k,#k u3 :wrong count\r").await;
    op.until(|l| l.contains(" 461 op KICK ")).await;

    op.send("JOIN #k2\r").await;
    op.until(|l| l.contains(" 366 ")).await;
    op.send("NAMES #k,#k2\r").await;
    let one = op.line().await.unwrap();
    let two = op.line().await.unwrap();
    let end = op.line().await.unwrap();
    assert_eq!(after_code(&one, "353"), "= #k :@op u3");
    assert_eq!(after_code(&two, "353"), "= #k2 :@op");
    assert_eq!(after_code(&end, "366"), "#k,#k2 :End of /NAMES list");
    server.stop().await;
}

/// Bans, exceptions and invite exceptions, set and listed from IRC and used by every door: a
/// banned user cannot join (IRC 474, native `banned`), a banned member cannot speak; an
/// exception lifts a ban; `+I` opens an invite-only room; native `ban`/`bans`/`unban` and the
/// text door's `/ban`, `/bans`, `/unban` do the same.
#[tokio::test]
async fn bans_exceptions_and_invite_exceptions_work_on_every_door() {
    let server = start(config(None)).await;
    let mut op = irc_client(server.addr, "Op", "").await;
    op.send("JOIN #den\r").await;
    op.until(|l| l.contains(" 366 ")).await;

    // Set with a short mask, shown completed; listed with who set it and when.
    op.send("MODE #den +b Mallory\r").await;
    op.until(|l| l == ":Op!~Op@prise MODE #den +b Mallory!*@*")
        .await;
    op.send("MODE #den +b *!native@*\r").await;
    op.until(|l| l.ends_with("MODE #den +b *!native@*")).await;
    op.send("MODE #den b\r").await;
    let first = op.line().await.unwrap();
    let second = op.line().await.unwrap();
    let end = op.line().await.unwrap();
    assert!(
        after_code(&first, "367").starts_with("#den Mallory!*@* Op "),
        "{first}"
    );
    assert!(
        after_code(&second, "367").starts_with("#den *!native@* Op "),
        "{second}"
    );
    assert_eq!(after_code(&end, "368"), "#den :End of channel ban list");

    // RFC 1459 case mapping: MALLORY[1] is mallory{1}... and Mallory is mallory.
    let mut mallory = irc_client(server.addr, "mallory", "").await;
    mallory.send("JOIN #den\r").await;
    let refused = mallory.until(|l| l.contains(" 474 ")).await;
    assert_eq!(
        after_code(&refused, "474"),
        "#den :Cannot join channel (+b)"
    );
    // Every native user's address is nick!native@prise: refused too.
    let mut nina = native_client(server.addr, "nina").await;
    nina.send_json(json!({"type": "join", "room": "#den"}))
        .await;
    let error = nina.until_type("error").await;
    assert_eq!(error["code"], "banned");

    // An exception lifts the ban for nina; she joins, then a ban on her nick mutes her.
    op.send("MODE #den +e nina!*@*\r").await;
    op.until(|l| l.ends_with("MODE #den +e nina!*@*")).await;
    op.send("MODE #den e\r").await;
    let listed = op.line().await.unwrap();
    assert!(
        after_code(&listed, "348").starts_with("#den nina!*@* Op "),
        "{listed}"
    );
    op.until(|l| l.contains(" 349 ")).await;
    nina.send_json(json!({"type": "join", "room": "#den"}))
        .await;
    nina.until_type("joined").await;
    op.send("MODE #den -e nina\r").await;
    op.until(|l| l.ends_with("MODE #den -e nina!*@*")).await;
    nina.send_json(json!({"type": "chat", "to": "#den", "text": "still here?"}))
        .await;
    let error = nina.until_type("error").await;
    assert_eq!(error["code"], "cannot_send");
    // Voice lets a banned member speak again, as on other IRC servers.
    op.send("MODE #den +v nina\r").await;
    op.until(|l| l.ends_with("MODE #den +v nina")).await;
    nina.send_json(json!({"type": "chat", "to": "#den", "text": "voiced"}))
        .await;
    nina.until_type("ack").await;
    op.until(|l| l.ends_with("PRIVMSG #den :voiced")).await;

    // The native door bans and unbans, and lists what is set.
    nina.send_json(json!({"type": "ban", "room": "#den", "mask": "x"}))
        .await;
    assert_eq!(nina.until_type("error").await["code"], "not_operator");
    op.send("MODE #den +o nina\r").await;
    op.until(|l| l.ends_with("MODE #den +o nina")).await;
    nina.send_json(json!({"type": "ban", "room": "#den", "mask": "troll"}))
        .await;
    let ack = nina.until_type("ack").await;
    assert_eq!(ack["mask"], "troll!*@*");
    op.until(|l| l.ends_with("MODE #den +b troll!*@*")).await;
    nina.send_json(json!({"type": "bans", "room": "#den"}))
        .await;
    let bans = nina.until_type("bans").await;
    let masks: Vec<&str> = bans["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["mask"].as_str().unwrap())
        .collect();
    assert_eq!(masks, ["Mallory!*@*", "*!native@*", "troll!*@*"]);
    assert_eq!(bans["bans"][2]["by"], "nina");
    nina.send_json(json!({"type": "unban", "room": "#den", "mask": "troll!*@*"}))
        .await;
    nina.until_type("ack").await;
    op.until(|l| l.ends_with("MODE #den -b troll!*@*")).await;
    nina.send_json(json!({"type": "ban", "room": "#den", "mask": "two words"}))
        .await;
    assert_eq!(nina.until_type("error").await["code"], "bad_request");

    // The text door: an operator of its own room bans, lists, unbans; the IRC user sees it.
    let mut tom = text_client(server.addr, "tom").await;
    tom.send("/join #attic").await;
    tom.until(|l| l.starts_with("* You are in #attic")).await;
    op.send("JOIN #attic\r").await;
    op.until(|l| l.contains(" 366 ")).await;
    tom.send("/ban Mallory").await;
    tom.until(|l| l == "* Mallory!*@* is banned from #attic")
        .await;
    op.until(|l| l.ends_with("MODE #attic +b Mallory!*@*"))
        .await;
    tom.send("/bans").await;
    tom.until(|l| l == "* Banned from #attic: Mallory!*@* (by tom)")
        .await;
    mallory.send("JOIN #attic\r").await;
    mallory.until(|l| l.contains(" 474 mallory #attic ")).await;
    tom.send("/unban mallory").await;
    tom.until(|l| l == "* Mallory!*@* is no longer banned from #attic")
        .await;
    mallory.send("JOIN #attic\r").await;
    mallory.until(|l| l.ends_with("JOIN #attic")).await;
    tom.send("/bans").await;
    tom.until(|l| l == "* Nobody is banned from #attic").await;

    // +I: an invite-only room lets in whoever matches, and nobody else.
    op.send("JOIN #club\r").await;
    op.until(|l| l.contains(" 366 ")).await;
    op.send("MODE #club +iI *!~mallory@*\r").await;
    op.until(|l| l.ends_with("MODE #club +iI *!~mallory@*"))
        .await;
    op.send("MODE #club I\r").await;
    let listed = op.line().await.unwrap();
    assert!(
        after_code(&listed, "346").starts_with("#club *!~mallory@* Op "),
        "{listed}"
    );
    op.until(|l| l.contains(" 347 ")).await;
    mallory.send("JOIN #club\r").await;
    mallory.until(|l| l.ends_with("JOIN #club")).await;
    let mut eve = irc_client(server.addr, "eve", "").await;
    eve.send("JOIN #club\r").await;
    eve.until(|l| l.contains(" 473 eve #club ")).await;
    server.stop().await;
}

/// IRCv3 message-tags: a sender's client-only tags reach the clients that took
/// `message-tags` (server tags it sent do not), never the others; TAGMSG reaches only them;
/// `server-time` alone gives `time` and nothing else; a tag section over 4094 bytes is 417.
#[tokio::test]
async fn client_tags_reach_only_clients_that_take_them() {
    let server = start(config(None)).await;
    let mut alice = irc_client(server.addr, "alice", "message-tags echo-message").await;
    let mut bob = irc_client(server.addr, "bob", "message-tags").await;
    let mut carol = irc_client(server.addr, "carol", "").await;
    let mut dave = irc_client(server.addr, "dave", "server-time").await;
    let mut nina = native_client(server.addr, "nina").await;
    for c in [&mut alice, &mut bob, &mut carol, &mut dave] {
        c.send("JOIN #general\r").await;
        c.until(|l| l.contains(" 366 ")).await;
    }
    alice
        .send("@+example.org/reply=7;fizz=buzz PRIVMSG #general :tagged\r")
        .await;
    let echo = alice
        .until(|l| l.contains("PRIVMSG #general :tagged"))
        .await;
    let relayed = bob.until(|l| l.contains("PRIVMSG #general :tagged")).await;
    let tags = |line: &str| line.split(' ').next().unwrap().to_owned();
    assert!(
        tags(&relayed).contains(";+example.org/reply=7"),
        "{relayed}"
    );
    assert!(!relayed.contains("fizz"), "{relayed}");
    let msgid = |line: &str| {
        line.split([';', ' '])
            .find_map(|t| t.strip_prefix("msgid="))
            .unwrap()
            .to_owned()
    };
    assert_eq!(msgid(&echo), msgid(&relayed));
    let plain = carol
        .until(|l| l.contains("PRIVMSG #general :tagged"))
        .await;
    assert_eq!(plain, ":alice!~alice@prise PRIVMSG #general :tagged");
    let timed = dave.until(|l| l.contains("PRIVMSG #general :tagged")).await;
    assert!(timed.starts_with("@time=20"), "{timed}");
    assert!(!timed.contains("msgid") && !timed.contains('+'), "{timed}");
    assert_eq!(nina.until_type("chat").await["text"], "tagged");

    alice.send("@+typing=active TAGMSG #general\r").await;
    alice.send("PRIVMSG #general :after\r").await;
    let tagmsg = bob.until(|l| l.contains(" TAGMSG ")).await;
    assert!(
        tagmsg.contains("+typing=active") && tagmsg.ends_with(" TAGMSG #general"),
        "{tagmsg}"
    );
    // The others' next line is the message after it: no TAGMSG for them.
    for c in [&mut carol, &mut dave] {
        let next = c.line().await.unwrap();
        assert!(next.ends_with("PRIVMSG #general :after"), "{next}");
    }
    assert_eq!(nina.until_type("chat").await["text"], "after");

    alice
        .send(&format!("@+big={} TAGMSG #general\r", "a".repeat(4090)))
        .await;
    alice.until(|l| l.contains(" 417 alice ")).await;
    server.stop().await;
}

/// IRCv3 labeled-response: one answer carries the label, several come in a
/// `labeled-response` batch, none is an `ACK`; an invalid UTF-8 line's FAIL is labeled too.
/// userhost-in-names gives whole addresses in NAMES; CAP LS lists what is offered.
#[tokio::test]
async fn labeled_responses_and_userhost_in_names() {
    let server = start(config(None)).await;
    let mut lab = irc_client(
        server.addr,
        "lab",
        "labeled-response batch echo-message userhost-in-names",
    )
    .await;
    lab.send("CAP LS 302\r").await;
    let ls = lab.until(|l| l.contains(" CAP lab LS ")).await;
    for cap in [
        "labeled-response",
        "standard-replies",
        "cap-notify",
        "userhost-in-names",
    ] {
        assert!(
            ls.split(' ').any(|c| c.trim_start_matches(':') == cap),
            "{cap}: {ls}"
        );
    }
    lab.send("@label=one PING :x\r").await;
    let pong = lab.until(|l| l.contains(" PONG ")).await;
    assert_eq!(pong, "@label=one :prise PONG prise :x");
    lab.send("@label=none PONG :x\r").await;
    let ack = lab.line().await.unwrap();
    assert_eq!(ack, "@label=none :prise ACK");
    lab.send("@label=many JOIN #lab\r").await;
    let open = lab.line().await.unwrap();
    let reference = open
        .strip_prefix("@label=many :prise BATCH +")
        .and_then(|r| r.strip_suffix(" labeled-response"))
        .unwrap_or_else(|| panic!("{open}"))
        .to_owned();
    let join = lab.line().await.unwrap();
    assert_eq!(
        join.split(' ').next().unwrap().split(';').next().unwrap(),
        format!("@batch={reference}")
    );
    assert!(join.ends_with(":lab!~lab@prise JOIN #lab"), "{join}");
    let names = lab.line().await.unwrap();
    assert!(
        names.ends_with("353 lab = #lab :@lab!~lab@prise"),
        "{names}"
    );
    lab.until(|l| l.contains(" 366 ")).await;
    let close = lab.line().await.unwrap();
    assert_eq!(close, format!(":prise BATCH -{reference}"));

    lab.writer
        .write_all(b"@label=bad PRIVMSG #lab :caf\xe9\r\n")
        .await
        .unwrap();
    let fail = lab.line().await.unwrap();
    assert!(
        fail.starts_with("@label=bad :prise FAIL * INVALID_UTF8 "),
        "{fail}"
    );
    server.stop().await;
}

/// SETNAME reaches the setter and room-mates with `setname` only, and WHOIS shows the new
/// name; invite-notify tells the room's other members who asked of an invitation.
#[tokio::test]
async fn setname_and_invite_notify_reach_those_who_asked() {
    let server = start(config(None)).await;
    let mut foo = irc_client(server.addr, "foo", "setname invite-notify").await;
    let mut bar = irc_client(server.addr, "bar", "setname").await;
    let mut baz = irc_client(server.addr, "baz", "").await;
    for c in [&mut foo, &mut bar, &mut baz] {
        c.send("JOIN #names\r").await;
        c.until(|l| l.contains(" 366 ")).await;
    }
    bar.send("SETNAME :Bar Barson\r").await;
    let own = bar.until(|l| l.contains(" SETNAME ")).await;
    assert_eq!(own, ":bar!~bar@prise SETNAME :Bar Barson");
    let seen = foo.until(|l| l.contains(" SETNAME ")).await;
    assert_eq!(seen, own);
    baz.send("WHOIS bar\r").await;
    let whois = baz.until(|l| l.contains(" 311 ")).await;
    assert!(
        whois.ends_with(" :Bar Barson"),
        "{whois} (and no SETNAME line before it)"
    );
    bar.send("SETNAME :\r").await;
    bar.until(|l| l.contains("FAIL SETNAME INVALID_REALNAME"))
        .await;

    let mut guest = irc_client(server.addr, "guest", "").await;
    bar.send("INVITE guest #names\r").await;
    bar.until(|l| l.contains(" 341 ")).await;
    guest
        .until(|l| l == ":bar!~bar@prise INVITE guest #names")
        .await;
    let notified = foo.until(|l| l.contains(" INVITE ")).await;
    assert_eq!(notified, ":bar!~bar@prise INVITE guest #names");
    // baz did not ask: its next line is the answer to its own PING.
    baz.send("PING :sync\r").await;
    let next = baz.until(|l| !l.contains(" 31")).await;
    assert!(next.ends_with("PONG prise :sync"), "{next}");
    server.stop().await;
}

/// MONITOR: online and offline at once, then as watched nicks come, change nick and go; the
/// list, its status and its cap; masks refused; with extended-monitor and away-notify, a
/// watched user's AWAY reaches a watcher who shares no room.
#[tokio::test]
async fn monitor_follows_nicks_and_extended_monitor_shows_away() {
    let server = start(config(None)).await;
    let mut mon = irc_client(server.addr, "mon", "extended-monitor away-notify").await;
    let mut bob = irc_client(server.addr, "bob", "").await;
    mon.send("MONITOR + bob,carol,*!x@y\r").await;
    let mut replies = vec![
        mon.line().await.unwrap(),
        mon.line().await.unwrap(),
        mon.line().await.unwrap(),
    ];
    replies.sort();
    assert_eq!(
        after_code(&replies[0], "432"),
        "*!x@y :Erroneous nickname",
        "{replies:?}"
    );
    assert_eq!(
        after_code(&replies[1], "730"),
        ":bob!~bob@prise",
        "{replies:?}"
    );
    assert_eq!(after_code(&replies[2], "731"), ":carol", "{replies:?}");

    let carol = irc_client(server.addr, "carol", "").await;
    let on = mon.line().await.unwrap();
    assert_eq!(after_code(&on, "730"), ":carol!~carol@prise");
    drop(carol);
    let off = mon.line().await.unwrap();
    assert_eq!(after_code(&off, "731"), ":carol");

    bob.send("AWAY :lunch\r").await;
    let away = mon.line().await.unwrap();
    assert_eq!(away, ":bob!~bob@prise AWAY :lunch");

    bob.send("NICK robert\r").await;
    let off = mon.line().await.unwrap();
    assert_eq!(after_code(&off, "731"), ":bob");
    mon.send("MONITOR L\r").await;
    let list = mon.line().await.unwrap();
    assert_eq!(after_code(&list, "732"), ":bob,carol");
    mon.until(|l| l.contains(" 733 ")).await;
    mon.send("MONITOR - carol\r").await;
    mon.send("MONITOR S\r").await;
    let status = mon.line().await.unwrap();
    assert_eq!(after_code(&status, "731"), ":bob");
    mon.send("MONITOR C\r").await;
    mon.send("MONITOR L\r").await;
    let end = mon.line().await.unwrap();
    assert!(end.contains(" 733 mon "), "{end}");

    let many: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    mon.send(&format!("MONITOR + {}\r", many[..60].join(",")))
        .await;
    mon.send(&format!("MONITOR + {}\r", many[60..].join(",")))
        .await;
    let full = mon.until(|l| l.contains(" 734 ")).await;
    assert_eq!(after_code(&full, "734"), "100 n100 :Monitor list is full.");
    server.stop().await;
}

/// A client's own changes (MODE, TOPIC) come back before the replies to the lines it sent
/// after them, even when it sends them all in one write.
#[tokio::test]
async fn a_clients_own_changes_come_before_replies_to_later_lines() {
    let server = start(config(None)).await;
    let mut op = irc_client(server.addr, "op", "").await;
    op.send("JOIN #order\r").await;
    op.until(|l| l.contains(" 366 ")).await;
    op.send("MODE #order +b x1\r\nMODE #order b\r\nTOPIC #order :t1\r\nPING :end\r")
        .await;
    let mut lines = Vec::new();
    loop {
        let line = op.line().await.unwrap();
        let done = line.ends_with("PONG prise :end");
        lines.push(line);
        if done {
            break;
        }
    }
    let at = |what: &str| {
        lines
            .iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} in {lines:#?}"))
    };
    assert!(at("MODE #order +b x1!*@*") < at(" 367 "), "{lines:#?}");
    assert!(at(" 368 ") < at("TOPIC #order :t1"), "{lines:#?}");
    assert!(at("TOPIC #order :t1") < at("PONG"), "{lines:#?}");
    server.stop().await;
}
