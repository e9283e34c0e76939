//! Several nodes on one Redis (docs/CLUSTER.md), against a real `redis-server` started on a
//! free port for each test: a message said on one node reaches the members of its room on
//! the others, once each and in order; Redis unreachable at start is a clear error.
//! `scripts/test` installs redis-server; without it these tests fail rather than pass unseen.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use serde_json::json;
use tokio::net::TcpListener;

mod support;

use support::{config, native_client, start, Raw};

use prise_test_support::redis::RedisServer as Redis;

async fn node(redis: &Redis, name: &str) -> support::Running {
    node_with(redis, name, prise_chat::cluster::NICK_TTL).await
}

/// A node whose heartbeat runs every third of `ttl`.
async fn node_with(redis: &Redis, name: &str, ttl: Duration) -> support::Running {
    let mut cfg = config(None);
    cfg.redis = Some(prise_chat::server::ClusterConfig {
        url: redis.url.clone(),
        node: name.to_owned(),
        ttl,
    });
    start(cfg).await
}

/// Say probes from `from` (IRC) until one reaches `to` (native), then drain the probes in
/// flight: the nodes subscribe as their first members join, and resubscribe after an outage.
async fn until_crossing(from: &mut Raw, to: &mut Raw, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let mut probes = 0;
    loop {
        probes += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing crossed within {within:?}"
        );
        from.send(&format!("PRIVMSG #general :probe {probes}\r"))
            .await;
        let got = tokio::time::timeout(Duration::from_millis(50), to.until_type("chat")).await;
        if got.is_ok() {
            break;
        }
    }
    from.send("PRIVMSG #general :end of probes\r").await;
    loop {
        let chat = to.until_type("chat").await;
        if chat["text"] == "end of probes" {
            break;
        }
    }
}

/// #general's NAMES as `c` (an IRC client) is told, sorted.
async fn names(c: &mut Raw) -> Vec<String> {
    c.send("NAMES #general\r").await;
    let line = c.until(|l| l.contains(" 353 ")).await;
    let mut listed: Vec<String> = line
        .rsplit_once(" :")
        .unwrap()
        .1
        .split(' ')
        .map(str::to_owned)
        .collect();
    listed.sort_unstable();
    listed
}

/// An IRC client on `addr` in #general.
async fn irc(addr: std::net::SocketAddr, nick: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    c.send(&format!(
        "NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #general\r"
    ))
    .await;
    c.until(|l| l.contains(" 366 ")).await;
    c
}

#[tokio::test]
async fn room_messages_cross_nodes_once_each_and_in_order() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let mut alice = irc(a.addr, "alice").await;
    let mut bob = native_client(b.addr, "bob").await;

    until_crossing(&mut alice, &mut bob, support::WAIT).await;

    // 100 messages from a, in order, each once; then one from b to a.
    for i in 0..100 {
        alice.send(&format!("PRIVMSG #general :n{i}\r")).await;
    }
    for i in 0..100 {
        let chat = bob.until_type("chat").await;
        assert_eq!(
            (
                chat["from"].as_str(),
                chat["text"].as_str(),
                chat["to"].as_str()
            ),
            (
                Some("alice"),
                Some(format!("n{i}").as_str()),
                Some("#general")
            ),
            "{chat}"
        );
    }
    bob.send_json(json!({"type": "chat", "to": "#general", "text": "hello from node b"}))
        .await;
    let said = alice.until(|l| l.contains("PRIVMSG #general")).await;
    assert_eq!(
        said,
        ":bob!native@prise PRIVMSG #general :hello from node b"
    );
    // Nothing came back twice: the next line on each side is what is said next.
    alice.send("PRIVMSG #general :last\r").await;
    let next = bob.until_type("chat").await;
    assert_eq!(next["text"], "last", "{next}");
    bob.send_json(json!({"type": "chat", "to": "#general", "text": "last too"}))
        .await;
    let next = alice.until(|l| l.contains("PRIVMSG #general")).await;
    assert!(next.ends_with(":last too"), "{next}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn redis_unreachable_at_start_is_a_clear_error() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut cfg = config(None);
    cfg.redis = Some(prise_chat::server::ClusterConfig {
        url: format!("redis://:secret@127.0.0.1:{port}/"),
        node: "lonely".into(),
        ttl: prise_chat::cluster::NICK_TTL,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let ended = tokio::time::timeout(
        support::WAIT,
        prise_chat::server::run(listener, cfg, shutdown),
    )
    .await
    .unwrap();
    let err = ended.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("redis://***@127.0.0.1:{port}/: cannot connect: ")),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
}

#[tokio::test]
async fn redis_lost_for_a_while_local_users_keep_talking_and_delivery_resumes() {
    let redis = Redis::start();
    let port = redis.port;
    let ttl = Duration::from_millis(1500);
    let a = node_with(&redis, "node-a", ttl).await;
    let b = node_with(&redis, "node-b", ttl).await;
    let mut alice = irc(a.addr, "alice").await;
    let mut carol = irc(a.addr, "carol").await;
    let mut bob = native_client(b.addr, "bob").await;
    until_crossing(&mut alice, &mut bob, support::WAIT).await;

    // Redis goes away: on node a, carol still hears alice at once.
    redis.stop();
    alice.send("PRIVMSG #general :while redis is down\r").await;
    let heard = carol.until(|l| l.ends_with(":while redis is down")).await;
    assert!(
        heard.starts_with(":alice!~alice@prise PRIVMSG #general"),
        "{heard}"
    );
    // ... and bob on node b does not, yet.
    let crossed = tokio::time::timeout(Duration::from_millis(500), bob.until_type("chat")).await;
    assert!(crossed.is_err(), "crossed without Redis: {crossed:?}");
    alice.send("PRIVMSG #general :still down\r").await;
    // Someone arrives on node b meanwhile.
    let _dave = native_client(b.addr, "dave").await;

    // Redis is back on its port: the nodes reconnect and resubscribe, node a publishes what
    // waited, node b reads the room's stream: bob gets both, once each, in order, then the
    // rest.
    let _redis = Redis::start_on(port);
    let first = bob.until_type("chat").await;
    let second = bob.until_type("chat").await;
    assert_eq!(
        (first["text"].as_str(), second["text"].as_str()),
        (Some("while redis is down"), Some("still down")),
        "{first} {second}"
    );
    alice.send("PRIVMSG #general :after the outage\r").await;
    let chat = bob.until_type("chat").await;
    assert_eq!(chat["text"], "after the outage", "{chat}");
    // Nothing came twice, even after the second reading of the streams.
    tokio::time::sleep(ttl).await;
    alice.send("PRIVMSG #general :the end\r").await;
    let chat = bob.until_type("chat").await;
    assert_eq!(chat["text"], "the end", "{chat}");
    // And alice heard of dave's arrival, once it could be told.
    let join = alice
        .until(|l| l.contains(" JOIN ") && l.starts_with(":dave!"))
        .await;
    assert_eq!(join, ":dave!native@prise JOIN #general");
    assert_eq!(names(&mut alice).await, ["@alice", "bob", "carol", "dave"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_nick_held_on_one_node_is_refused_on_the_others_until_it_is_let_go() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let mut alice = irc(a.addr, "alice").await;

    // IRC registration on b: 433, whatever the case.
    let mut twin = Raw::connect(b.addr).await;
    twin.send("NICK ALICE\r\nUSER t 0 * :t\r").await;
    let taken = twin.until(|l| l.contains(" 433 ")).await;
    assert!(
        taken.ends_with(" ALICE :Nickname is already in use"),
        "{taken}"
    );
    // A native hello on b gets a guest nick and says why.
    let mut native = Raw::connect(b.addr).await;
    native
        .send_json(json!({"type": "hello", "versions": [1], "nick": "alice"}))
        .await;
    let welcome = native.until_type("welcome").await;
    assert!(
        welcome["nick"].as_str().unwrap().starts_with("Invite"),
        "{welcome}"
    );
    assert_eq!(native.until_type("error").await["code"], "nick_taken");
    // A nick change on b, too.
    let mut bob = native_client(b.addr, "bob").await;
    bob.send_json(json!({"type": "nick", "nick": "Alice"}))
        .await;
    assert_eq!(bob.until_type("error").await["code"], "nick_taken");

    // alice changes nick on a: the old one is free on b at once, the new one taken.
    alice.send("NICK alicia\r").await;
    alice
        .until(|l| l.contains(" NICK :alicia") || l.contains(" NICK alicia"))
        .await;
    twin.send("NICK alicia\r").await;
    twin.until(|l| l.contains(" 433 ")).await;
    twin.send("NICK alice\r").await;
    twin.until(|l| l.contains(" 001 alice ")).await;
    // And the other way: a (alicia) may not take alice back.
    alice.send("NICK alice\r").await;
    alice.until(|l| l.contains(" 433 ")).await;
    // Leaving lets it go: alicia quits on a, bob takes the nick on b.
    alice.send("QUIT :bye\r").await;
    let _ = alice.rest().await;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        bob.send_json(json!({"type": "nick", "nick": "alicia"}))
            .await;
        let answer = bob.until_type_in(&["ack", "error"]).await;
        if answer["type"] == "ack" {
            assert_eq!(answer["nick"], "alicia");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "alicia never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn history_said_on_one_node_is_replayed_to_a_newcomer_on_a_third() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let _b = node(&redis, "node-b").await;
    let c = node(&redis, "node-c").await;
    let mut alice = Raw::connect(a.addr).await;
    alice
        .send("NICK alice\r\nUSER alice 0 * :alice\r\nJOIN #lab\r")
        .await;
    alice.until(|l| l.contains(" 366 ")).await;
    for i in 1..=3 {
        alice.send(&format!("PRIVMSG #lab :kept {i}\r")).await;
    }
    alice.send("NOTICE #lab :not kept\r").await;

    // Node c has nobody in #lab: a newcomer's join reads the room's stream.
    let mut carol = native_client(c.addr, "carol").await;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let texts = loop {
        carol
            .send_json(json!({"type": "join", "room": "#lab"}))
            .await;
        let joined = carol.until_type("joined").await;
        let texts: Vec<String> = joined["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    m["from"].as_str().unwrap(),
                    m["text"].as_str().unwrap()
                )
            })
            .collect();
        if texts.len() >= 3 || tokio::time::Instant::now() >= deadline {
            break texts;
        }
        // Not all written yet: leave (the room closes on c) and come again.
        carol
            .send_json(json!({"type": "part", "room": "#lab"}))
            .await;
        carol.until_type("ack").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(texts, ["alice: kept 1", "alice: kept 2", "alice: kept 3"]);
    a.stop().await;
    c.stop().await;
}

#[tokio::test]
async fn private_messages_cross_nodes_to_whoever_holds_the_nick() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let mut alice = irc(a.addr, "alice").await;
    let mut bob = native_client(b.addr, "bob").await;

    alice.send("PRIVMSG BOB :psst, bob\r").await;
    let private = bob.until_type("private").await;
    assert_eq!(
        (
            private["from"].as_str(),
            private["to"].as_str(),
            private["text"].as_str()
        ),
        (Some("alice"), Some("bob"), Some("psst, bob")),
        "{private}"
    );
    bob.send_json(json!({"type": "private", "to": "alice", "text": "hi alice", "ref": 7}))
        .await;
    assert_eq!(bob.until_type("ack").await["ref"], 7);
    let said = alice.until(|l| l.contains(" PRIVMSG alice ")).await;
    assert_eq!(said, ":bob!native@prise PRIVMSG alice :hi alice");
    // Nobody holds the nick, here or there: 401, as on one node.
    alice.send("PRIVMSG nobody :hello?\r").await;
    let none = alice.until(|l| l.contains(" 401 ")).await;
    assert!(none.ends_with(" nobody :No such nick/channel"), "{none}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn users_of_other_nodes_show_in_member_lists_and_their_comings_and_goings() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let mut alice = irc(a.addr, "alice").await;
    let mut bob = native_client(b.addr, "bob").await;
    // bob's node had opened #general before alice's join reached it, or after: either way
    // alice is listed there once the nodes have met.
    until_crossing(&mut alice, &mut bob, support::WAIT).await;

    // A newcomer on b sees alice in the member list of its join; alice sees it join.
    let mut carol = Raw::connect(b.addr).await;
    carol
        .send_json(json!({"type": "hello", "versions": [1], "nick": "carol"}))
        .await;
    let joined = carol.until_type("joined").await;
    let mut users: Vec<&str> = joined["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "bob", "carol"], "{joined}");
    // (bob's own join may come first, if it reached node a after alice was there.)
    let join = alice
        .until(|l| l.contains(" JOIN ") && !l.starts_with(":bob!"))
        .await;
    assert_eq!(join, ":carol!native@prise JOIN #general");
    assert_eq!(names(&mut alice).await, ["@alice", "bob", "carol"]);

    // A nick change, a part and a quit on b reach alice on a.
    carol
        .send_json(json!({"type": "nick", "nick": "caroline"}))
        .await;
    let nick = alice.until(|l| l.contains(" NICK ")).await;
    assert_eq!(nick, ":carol!native@prise NICK caroline");
    carol
        .send_json(json!({"type": "part", "room": "#general", "reason": "lunch"}))
        .await;
    let part = alice.until(|l| l.contains(" PART ")).await;
    assert_eq!(part, ":caroline!native@prise PART #general :lunch");
    drop(bob);
    let quit = alice.until(|l| l.contains(" QUIT ")).await;
    assert!(quit.starts_with(":bob!native@prise QUIT"), "{quit}");
    assert_eq!(names(&mut alice).await, ["@alice"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_client_that_reconnects_at_once_gets_its_nick_back() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let _b = node(&redis, "node-b").await;
    for round in 0..20 {
        let mut zed = Raw::connect(a.addr).await;
        zed.send_json(json!({"type": "hello", "versions": [1], "nick": "zed"}))
            .await;
        let welcome = zed.until_type("welcome").await;
        assert_eq!(welcome["nick"], "zed", "round {round}: {welcome}");
        drop(zed);
    }
    a.stop().await;
}

#[tokio::test]
async fn a_topic_set_on_one_node_is_shown_on_the_others_and_to_newcomers() {
    let redis = Redis::start();
    let a = node(&redis, "node-a").await;
    let b = node(&redis, "node-b").await;
    let c = node(&redis, "node-c").await;
    let mut alice = irc(a.addr, "alice").await;
    let mut bob = native_client(b.addr, "bob").await;
    until_crossing(&mut alice, &mut bob, support::WAIT).await;

    alice.send("TOPIC #general :Standup at ten\r").await;
    let topic = bob.until_type("topic").await;
    assert_eq!(
        (
            topic["room"].as_str(),
            topic["topic"].as_str(),
            topic["by"].as_str()
        ),
        (Some("#general"), Some("Standup at ten"), Some("alice")),
        "{topic}"
    );
    // Node c opens #general for a newcomer: the topic comes with the room's state.
    let mut carol = Raw::connect(c.addr).await;
    carol
        .send_json(json!({"type": "hello", "versions": [1], "nick": "carol"}))
        .await;
    let topic = carol.until_type("topic").await;
    assert_eq!(topic["topic"], "Standup at ten", "{topic}");
    carol
        .send_json(json!({"type": "topic", "room": "#general", "ref": 1}))
        .await;
    let read = carol.until_type("ack").await;
    assert_eq!(read["topic"], "Standup at ten", "{read}");
    a.stop().await;
    b.stop().await;
    c.stop().await;
}
