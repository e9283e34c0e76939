//! Accounts over real sockets: NickServ REGISTER and IDENTIFY, SASL PLAIN before and after
//! registration, WHOIS 330, accounts kept across a restart, registration closed, and hostile
//! SASL input.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64ct::Encoding as _;
use prise_chat::accounts::Registration;
use tokio::net::TcpListener;

mod support;

use support::{config, start, start_on, Raw};

/// `AUTHENTICATE` payload for PLAIN.
fn plain(authzid: &str, authcid: &str, password: &str) -> String {
    base64ct::Base64::encode_string(format!("{authzid}\0{authcid}\0{password}").as_bytes())
}

/// A client that asks for `sasl`, logs in with PLAIN as `account`, then registers as `nick`:
/// the numeric that answered the login (`900` line, or the failure).
async fn sasl_client(addr: SocketAddr, nick: &str, account: &str, password: &str) -> (Raw, String) {
    let mut c = Raw::connect(addr).await;
    c.send("CAP LS 302\r").await;
    let ls = c.until(|l| l.contains(" CAP * LS ")).await;
    assert!(ls.contains("sasl=PLAIN"), "{ls}");
    c.send("CAP REQ :sasl\r").await;
    c.until(|l| l.contains(" ACK :sasl")).await;
    c.send(&format!(
        "NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nAUTHENTICATE PLAIN\r"
    ))
    .await;
    c.until(|l| l == "AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}\r",
        plain(account, account, password)
    ))
    .await;
    let answer = c
        .until(|l| [" 900 ", " 904 ", " 905 "].iter().any(|n| l.contains(n)))
        .await;
    if answer.contains(" 900 ") {
        c.until(|l| l.contains(" 903 ")).await;
    }
    c.send("CAP END\r").await;
    c.until(|l| l.contains(" 001 ")).await;
    (c, answer)
}

async fn plain_client(addr: SocketAddr, nick: &str) -> Raw {
    let mut c = Raw::connect(addr).await;
    c.send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r"))
        .await;
    c.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;
    c
}

#[tokio::test]
async fn register_with_nickserv_then_log_in_with_sasl_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(Some(&file))).await;

    let mut alice = plain_client(addr, "Alice").await;
    alice.send("PRIVMSG NickServ :REGISTER short\r").await;
    let refused = alice.until(|l| l.contains("NickServ")).await;
    assert!(
        refused.ends_with(":Not registered: a password is 8 to 1024 bytes."),
        "{refused}"
    );
    alice
        .send("PRIVMSG NickServ :REGISTER correct-horse alice@example.org\r")
        .await;
    let logged = alice.until(|l| l.contains(" 900 ")).await;
    assert!(
        logged.ends_with(" Alice :You are now logged in as Alice"),
        "{logged}"
    );
    let told = alice.until(|l| l.contains("NickServ")).await;
    assert_eq!(
        told,
        ":NickServ!NickServ@prise NOTICE Alice :Account Alice registered; you are logged in to it."
    );
    // The account shows in WHOIS, to anyone.
    let mut bob = plain_client(addr, "bob").await;
    bob.send("WHOIS alice\r").await;
    let whois = bob.until(|l| l.contains(" 330 ")).await;
    assert!(
        whois.ends_with(" bob Alice Alice :is logged in as"),
        "{whois}"
    );
    bob.send("WHOIS bob\r").await;
    let mut own = Vec::new();
    loop {
        let line = bob.line().await.unwrap();
        if line.contains(" 318 ") {
            break;
        }
        own.push(line);
    }
    assert!(!own.iter().any(|l| l.contains(" 330 ")), "a guest: {own:?}");
    // Taken, whatever the case.
    bob.send("NS REGISTER another-pass\r").await;
    bob.send("PRIVMSG NickServ :IDENTIFY ALICE correct-horse\r")
        .await;
    let _ = bob.until(|l| l.contains("NickServ")).await;
    let identified = bob.until(|l| l.contains("NickServ")).await;
    assert!(
        identified.ends_with(":You are now logged in as Alice."),
        "{identified}"
    );
    drop((alice, bob));

    // SASL: a wrong password is answered late with 904; the right one with 900 and 903.
    let started = Instant::now();
    let (_wrong, answer) = sasl_client(addr, "carol", "alice", "wrong-horse").await;
    assert!(
        answer.ends_with(" 904 carol :SASL authentication failed"),
        "{answer}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let (_right, answer) = sasl_client(addr, "dave", "alice", "correct-horse").await;
    assert!(
        answer.ends_with(" 900 dave dave!~dave@prise Alice :You are now logged in as Alice"),
        "{answer}"
    );
    drop((_wrong, _right));
    server.stop().await;

    // The account is in the database: it survives a restart.
    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(Some(&file))).await;
    let (mut eve, answer) = sasl_client(addr, "eve", "ALICE", "correct-horse").await;
    assert!(answer.contains(" 900 "), "{answer}");
    // SASL once logged in: 907.
    eve.send("AUTHENTICATE PLAIN\r").await;
    let again = eve.until(|l| l.contains(" 907 ")).await;
    assert!(
        again.ends_with(":You have already authenticated using SASL"),
        "{again}"
    );
    server.stop().await;
}

#[tokio::test]
async fn closed_registration_and_hostile_sasl_input_get_clear_answers_and_others_are_served() {
    let mut config = config(None);
    config.registration = Registration::Closed;
    let server = start(config).await;
    let addr = server.addr;

    let mut mallory = plain_client(addr, "mallory").await;
    mallory
        .send("PRIVMSG NickServ :REGISTER long-enough-pass\r")
        .await;
    let refused = mallory.until(|l| l.contains("NickServ")).await;
    assert!(
        refused.ends_with(":Not registered: registration is closed."),
        "{refused}"
    );

    // An unknown mechanism: the list, then 904.
    mallory.send("AUTHENTICATE SCRAM-SHA-1\r").await;
    let mechs = mallory.until(|l| l.contains(" 908 ")).await;
    assert!(
        mechs.ends_with(" PLAIN :are available SASL mechanisms"),
        "{mechs}"
    );
    mallory.until(|l| l.contains(" 904 ")).await;
    // A chunk over 400 bytes: 905.
    mallory.send("AUTHENTICATE PLAIN\r").await;
    mallory.until(|l| l == "AUTHENTICATE +").await;
    mallory
        .send(&format!("AUTHENTICATE {}\r", "A".repeat(401)))
        .await;
    mallory.until(|l| l.contains(" 905 ")).await;
    // Chunks of 400 without end: 904 past 2 KiB, nothing kept.
    mallory.send("AUTHENTICATE PLAIN\r").await;
    mallory.until(|l| l == "AUTHENTICATE +").await;
    for _ in 0..6 {
        mallory
            .send(&format!("AUTHENTICATE {}\r", "A".repeat(400)))
            .await;
    }
    let long = mallory.until(|l| l.contains(" 904 ")).await;
    assert!(long.ends_with("response too long"), "{long}");
    // Not base64, then an abort.
    mallory.send("AUTHENTICATE PLAIN\r").await;
    mallory.until(|l| l == "AUTHENTICATE +").await;
    mallory.send("AUTHENTICATE !!!not-base64!!!\r").await;
    mallory.until(|l| l.contains(" 904 ")).await;
    mallory.send("AUTHENTICATE PLAIN\r").await;
    mallory.until(|l| l == "AUTHENTICATE +").await;
    mallory.send("AUTHENTICATE *\r").await;
    mallory.until(|l| l.contains(" 906 ")).await;
    // A name like SQL, logging in as another account: plain failures.
    mallory.send("AUTHENTICATE PLAIN\r").await;
    mallory.until(|l| l == "AUTHENTICATE +").await;
    mallory
        .send(&format!(
            "AUTHENTICATE {}\r",
            plain("admin", "x' OR '1'='1", "anything")
        ))
        .await;
    // While mallory's failure waits its second, someone else is served at once.
    let started = Instant::now();
    let mut other = plain_client(addr, "other").await;
    other.send("PING :here\r").await;
    other.until(|l| l.ends_with(" :here")).await;
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    mallory.until(|l| l.contains(" 904 ")).await;
    mallory.send("WHOIS mallory\r").await;
    let mut lines = Vec::new();
    loop {
        let line = mallory.line().await.unwrap();
        if line.contains(" 318 ") {
            break;
        }
        lines.push(line);
    }
    assert!(
        !lines.iter().any(|l| l.contains(" 330 ")),
        "not logged in: {lines:?}"
    );
    server.stop().await;
}

/// The native protocol (and so the browser's WebSocket) registers, logs in and out with the
/// same accounts as IRC: WHOIS on IRC shows what a native user is logged in as.
#[tokio::test]
async fn native_clients_register_log_in_and_out_with_the_same_accounts() {
    use serde_json::json;
    let server = start(config(None)).await;
    let addr = server.addr;
    let mut alice = plain_client(addr, "alice").await;
    alice
        .send("PRIVMSG NickServ :REGISTER alice-secret\r")
        .await;
    alice.until(|l| l.contains(" 900 ")).await;

    let mut nina = support::native_client(addr, "nina").await;
    nina.send_json(json!({"type": "register", "password": "short", "ref": 1}))
        .await;
    let refused = nina.until_type("error").await;
    assert_eq!(refused["code"], "password_invalid", "{refused}");
    assert_eq!(refused["ref"], 1);
    let started = Instant::now();
    nina.send_json(json!({"type": "login", "account": "alice", "password": "wrong-one", "ref": 2}))
        .await;
    let refused = nina.until_type("error").await;
    assert_eq!(refused["code"], "bad_login", "{refused}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    nina.send_json(
        json!({"type": "register", "password": "nina-secret", "email": "n@example.org", "ref": 3}),
    )
    .await;
    let ack = nina.until_type("ack").await;
    assert_eq!(
        (&ack["account"], &ack["ref"]),
        (&json!("nina"), &json!(3)),
        "{ack}"
    );

    alice.send("WHOIS nina\r").await;
    let whois = alice.until(|l| l.contains(" 330 ")).await;
    assert!(
        whois.ends_with(" alice nina nina :is logged in as"),
        "{whois}"
    );

    nina.send_json(
        json!({"type": "login", "account": "ALICE", "password": "alice-secret", "ref": 4}),
    )
    .await;
    let ack = nina.until_type("ack").await;
    assert_eq!(ack["account"], "alice", "{ack}");
    nina.send_json(json!({"type": "logout", "ref": 5})).await;
    let ack = nina.until_type("ack").await;
    assert_eq!(ack["account"], json!(null), "{ack}");
    alice.send("WHOIS nina\r").await;
    let mut lines = Vec::new();
    loop {
        let line = alice.line().await.unwrap();
        if line.contains(" 318 ") {
            break;
        }
        lines.push(line);
    }
    assert!(
        !lines.iter().any(|l| l.contains(" 330 ")),
        "logged out: {lines:?}"
    );
    server.stop().await;
}
