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
        mechs.ends_with(" PLAIN,SCRAM-SHA-256 :are available SASL mechanisms"),
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

/// A SCRAM-SHA-256 client's side (RFC 5802), for the tests: the client-final-message for a
/// server-first-message, and the server signature to expect.
fn scram_final(bare: &str, server_first: &str, password: &str) -> (String, String) {
    use ring::{digest, hmac, pbkdf2};
    let field = |name: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(name))
            .unwrap()
            .to_owned()
    };
    let (nonce, salt, iterations) = (field("r="), field("s="), field("i="));
    let salt = base64ct::Base64::decode_vec(&salt).unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations.parse().unwrap(),
        &salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored = digest::digest(&digest::SHA256, client_key.as_ref());
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("{bare},{server_first},{without_proof}");
    let signature = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, stored.as_ref()),
        auth.as_bytes(),
    );
    let proof: Vec<u8> = client_key
        .as_ref()
        .iter()
        .zip(signature.as_ref())
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac::sign(&key, b"Server Key");
    let server_signature = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, server_key.as_ref()),
        auth.as_bytes(),
    );
    (
        format!(
            "{without_proof},p={}",
            base64ct::Base64::encode_string(&proof)
        ),
        format!(
            "v={}",
            base64ct::Base64::encode_string(server_signature.as_ref())
        ),
    )
}

/// Starts `AUTHENTICATE SCRAM-SHA-256` with `bare` as the client-first-message's bare part;
/// the server-first-message.
async fn scram_start(c: &mut Raw, bare: &str) -> String {
    c.send("AUTHENTICATE SCRAM-SHA-256\r").await;
    c.until(|l| l == "AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}\r",
        base64ct::Base64::encode_string(format!("n,,{bare}").as_bytes())
    ))
    .await;
    let line = c.until(|l| l.starts_with("AUTHENTICATE ")).await;
    let first = base64ct::Base64::decode_vec(line.trim_start_matches("AUTHENTICATE ")).unwrap();
    String::from_utf8(first).unwrap()
}

/// SCRAM-SHA-256 over a raw socket: a right proof logs in and the server proves itself; a
/// wrong password, a proof replayed on another connection (its nonce is the other
/// exchange's), a name without an account and garbage each get 904 and log nobody in.
#[tokio::test]
async fn scram_sha_256_logs_in_and_refuses_bad_proofs_and_replays() {
    let mut config = config(None);
    let accounts = prise_chat::accounts::Accounts::open(None, Registration::Open).unwrap();
    accounts
        .register_blocking("scrammer", "sesame open", None, None)
        .unwrap();
    config.hub.accounts = Some(accounts);
    let server = start(config).await;
    let registered = |nick: &'static str| async move {
        let mut c = plain_client(server.addr, nick).await;
        c.send("CAP REQ :sasl\r").await;
        c.until(|l| l.contains(" ACK :sasl")).await;
        c
    };

    let mut good = registered("good").await;
    let bare = "n=scrammer,r=client-nonce-1";
    let server_first = scram_start(&mut good, bare).await;
    assert!(
        server_first.starts_with("r=client-nonce-1"),
        "{server_first}"
    );
    assert!(server_first.ends_with(",i=4096"), "{server_first}");
    let (client_final, expected) = scram_final(bare, &server_first, "sesame open");
    good.send(&format!(
        "AUTHENTICATE {}\r",
        base64ct::Base64::encode_string(client_final.as_bytes())
    ))
    .await;
    let line = good.until(|l| l.starts_with("AUTHENTICATE ")).await;
    let server_final =
        base64ct::Base64::decode_vec(line.trim_start_matches("AUTHENTICATE ")).unwrap();
    assert_eq!(String::from_utf8(server_final).unwrap(), expected);
    good.send("AUTHENTICATE +\r").await;
    let done = good.until(|l| l.contains(" 900 ")).await;
    assert!(
        done.contains(" scrammer :You are now logged in as scrammer"),
        "{done}"
    );
    good.until(|l| l.contains(" 903 ")).await;

    // The same client-first on another connection, answered with the first one's final
    // message: the server's nonce differs, so it is refused.
    let mut replay = registered("replay").await;
    let other_first = scram_start(&mut replay, bare).await;
    assert_ne!(other_first, server_first);
    replay
        .send(&format!(
            "AUTHENTICATE {}\r",
            base64ct::Base64::encode_string(client_final.as_bytes())
        ))
        .await;
    replay.until(|l| l.contains(" 904 ")).await;

    let mut wrong = registered("wrong").await;
    let first = scram_start(&mut wrong, "n=scrammer,r=abc").await;
    let (bad, _) = scram_final("n=scrammer,r=abc", &first, "not sesame");
    wrong
        .send(&format!(
            "AUTHENTICATE {}\r",
            base64ct::Base64::encode_string(bad.as_bytes())
        ))
        .await;
    wrong.until(|l| l.contains(" 904 ")).await;

    // No such account: the server answers as it would for one (a salt, 4096 rounds).
    let mut nobody = registered("nobody").await;
    let first = scram_start(&mut nobody, "n=nobody,r=abc").await;
    assert!(
        first.contains(",s=") && first.ends_with(",i=4096"),
        "{first}"
    );
    let (bad, _) = scram_final("n=nobody,r=abc", &first, "anything");
    nobody
        .send(&format!(
            "AUTHENTICATE {}\r",
            base64ct::Base64::encode_string(bad.as_bytes())
        ))
        .await;
    nobody.until(|l| l.contains(" 904 ")).await;

    let mut garbage = registered("garbage").await;
    garbage.send("AUTHENTICATE SCRAM-SHA-256\r").await;
    garbage.until(|l| l == "AUTHENTICATE +").await;
    garbage
        .send(&format!(
            "AUTHENTICATE {}\r",
            base64ct::Base64::encode_string(b"p=tls-unique,,n=scrammer,r=x")
        ))
        .await;
    garbage.until(|l| l.contains(" 904 ")).await;

    // Only the good one is logged in.
    good.send("WHOIS replay\r\nWHOIS wrong\r\nWHOIS good\r")
        .await;
    let whois = good.until(|l| l.contains(" 330 ")).await;
    assert!(whois.contains(" good scrammer :is logged in as"), "{whois}");
    server.stop().await;
}

/// The lines of a WHOIS, up to its 318.
async fn whois_lines(c: &mut Raw, nick: &str) -> Vec<String> {
    c.send(&format!("WHOIS {nick}\r")).await;
    let mut lines = Vec::new();
    loop {
        let line = c.line().await.unwrap();
        if line.contains(" 318 ") {
            return lines;
        }
        lines.push(line);
    }
}

#[tokio::test]
async fn irc_register_then_owned_nicks_are_renamed_ghosted_and_dropped_from_any_door() {
    let mut config = config(None);
    config.hub.nick_grace = Duration::from_millis(1500);
    let server = start(config).await;
    let addr = server.addr;

    // IRCv3 REGISTER, and its refusals.
    let mut alice = plain_client(addr, "alice").await;
    alice.send("REGISTER * * alice-secret\r").await;
    let done = alice.until(|l| l.contains(" REGISTER ")).await;
    assert_eq!(
        done,
        ":prise REGISTER SUCCESS alice :Account created; you are logged in to it"
    );
    let logged = alice.until(|l| l.contains(" 900 ")).await;
    assert!(
        logged.ends_with(" alice :You are now logged in as alice"),
        "{logged}"
    );
    alice.send("REGISTER * * another-secret\r").await;
    let again = alice.until(|l| l.contains(" FAIL ")).await;
    assert!(
        again.contains(" FAIL REGISTER ALREADY_AUTHENTICATED * "),
        "{again}"
    );
    let mut bob = plain_client(addr, "bob").await;
    for (line, code) in [
        (
            "REGISTER robert * bob-secret",
            "ACCOUNT_NAME_MUST_BE_NICK robert",
        ),
        (
            "REGISTER bob not-an-address bob-secret",
            "INVALID_EMAIL bob",
        ),
        ("REGISTER bob * short", "WEAK_PASSWORD bob"),
        ("REGISTER * * x' OR '1'='1", "WEAK_PASSWORD *"),
        ("VERIFY bob 123456", ""),
    ] {
        bob.send(&format!("{line}\r")).await;
        let fail = bob.until(|l| l.contains(" FAIL ")).await;
        if code.is_empty() {
            assert!(fail.contains(" FAIL VERIFY INVALID_CODE * "), "{fail}");
        } else {
            assert!(
                fail.contains(&format!(" FAIL REGISTER {code} :")),
                "{line}: {fail}"
            );
        }
    }
    assert!(
        !whois_lines(&mut bob, "bob")
            .await
            .iter()
            .any(|l| l.contains(" 330 ")),
        "nothing registered"
    );
    // Before connection registration: this server does not allow it.
    let mut early = Raw::connect(addr).await;
    early
        .send("NICK early\r\nREGISTER * * early-secret\r")
        .await;
    let fail = early.until(|l| l.contains(" FAIL ")).await;
    assert!(
        fail.contains(" FAIL REGISTER COMPLETE_CONNECTION_REQUIRED * :"),
        "{fail}"
    );
    drop((alice, early));

    // A guest on the owned nick is told, then renamed when the grace period ends.
    let mut guest = plain_client(addr, "alice").await;
    let told = guest.until(|l| l.contains("registered account")).await;
    assert!(
        told.ends_with(
            ":alice is a registered account: log in to it within 1s 500ms or you will be renamed."
        ),
        "{told}"
    );
    let renamed = guest.until(|l| l.contains(" NICK ")).await;
    assert!(
        renamed.starts_with(":alice!~alice@prise NICK "),
        "{renamed}"
    );
    let guest_nick = renamed.rsplit([' ', ':']).next().unwrap().to_owned();
    assert!(guest_nick.starts_with("Invite"), "{renamed}");
    // Its own numerics follow the new nick.
    guest.send("PING :x\r").await;
    guest.send("WHOIS alice\r").await;
    let missing = guest.until(|l| l.contains(" 401 ")).await;
    assert!(
        missing.contains(&format!(" 401 {guest_nick} alice ")),
        "{missing}"
    );

    // A text user who logs in within the grace period keeps the nick.
    let mut text = support::text_client(addr, "alice").await;
    text.until(|l| l.contains("registered account")).await;
    text.send("/login alice-secret").await;
    assert_eq!(
        text.until(|l| l.starts_with("* You are now")).await,
        "* You are now logged in as alice"
    );
    text.send("/login alice wrong-secret").await;
    assert_eq!(
        text.until(|l| l.starts_with('!')).await,
        "! wrong account name or password"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let whois = whois_lines(&mut bob, "alice").await;
    assert!(
        whois
            .iter()
            .any(|l| l.ends_with(" bob alice alice :is logged in as")),
        "{whois:?}"
    );

    // GHOST: only the account's owner (logged in, or with the password) frees its nick.
    let mut owner = plain_client(addr, "al").await;
    owner.send("NS GHOST alice\r").await;
    let refused = owner.until(|l| l.contains("NickServ")).await;
    assert!(
        refused.ends_with(":Log in to the account alice first, or give its password."),
        "{refused}"
    );
    owner.send("NS GHOST alice alice-secret\r").await;
    let freed = owner.until(|l| l.contains("NickServ")).await;
    assert!(freed.ends_with(":alice has been disconnected."), "{freed}");
    let rest = text.rest().await;
    assert!(
        rest.iter().any(|l| l.contains("GHOST command used by al")),
        "{rest:?}"
    );
    owner.send("NICK alice\r").await;
    owner
        .until(|l| l.starts_with(":al!") && l.contains(" NICK "))
        .await;
    owner.send("NS IDENTIFY alice-secret\r").await;
    owner.until(|l| l.contains(" 900 ")).await;
    owner.until(|l| l.contains("NickServ")).await;

    // DROP: with the password only; whoever was logged in to it is logged out.
    owner.send("NS DROP alice wrong-secret\r").await;
    let refused = owner.until(|l| l.contains("NickServ")).await;
    assert!(
        refused.ends_with(":Wrong account name or password."),
        "{refused}"
    );
    owner.send("NS DROP alice alice-secret\r").await;
    let dropped = owner.until(|l| l.contains("NickServ")).await;
    assert!(dropped.ends_with(":Account alice deleted."), "{dropped}");
    let whois = whois_lines(&mut bob, "alice").await;
    assert!(!whois.iter().any(|l| l.contains(" 330 ")), "{whois:?}");
    owner.send("NS INFO alice\r").await;
    let info = owner.until(|l| l.contains("NickServ")).await;
    assert!(info.ends_with(":alice is not registered."), "{info}");

    // The text door registers too.
    let mut tess = support::text_client(addr, "tess").await;
    tess.send("/register short").await;
    assert_eq!(
        tess.until(|l| l.starts_with('!')).await,
        "! a password is 8 to 1024 bytes"
    );
    tess.send("/register tess-secret tess@example.org").await;
    assert_eq!(
        tess.until(|l| l.starts_with("* Account")).await,
        "* Account tess registered; you are logged in to it"
    );
    tess.send("/logout").await;
    assert_eq!(
        tess.until(|l| l.starts_with("* You are no")).await,
        "* You are no longer logged in as tess"
    );
    server.stop().await;
}

/// A connection from another loopback address (Linux routes all of 127/8 to lo).
async fn raw_from(local: [u8; 4], addr: SocketAddr) -> Raw {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((local, 0))).unwrap();
    let (r, w) = socket.connect(addr).await.unwrap().into_split();
    Raw {
        reader: tokio::io::BufReader::new(r),
        writer: w,
        seen: Vec::new(),
    }
}

#[tokio::test]
async fn a_thousand_failed_logins_are_limited_per_address_and_others_log_in() {
    use serde_json::json;
    let server = start(config(None)).await;
    let addr = server.addr;
    let mut owner = support::native_client(addr, "owner").await;
    owner
        .send_json(json!({"type": "register", "password": "owner-secret"}))
        .await;
    owner.until_type("ack").await;

    // 200 connections from 127.0.0.1, five wrong passwords each.
    let started = Instant::now();
    let mut guessers = Vec::new();
    for i in 0..200 {
        guessers.push(tokio::spawn(async move {
            let mut c = support::native_client(addr, &format!("guess{i}")).await;
            let mut codes = Vec::new();
            for n in 0..5 {
                c.send_json(json!({"type": "login", "account": "owner", "password": format!("guess-{i}-{n}")}))
                    .await;
                let answer = c.until_type("error").await;
                codes.push(answer["code"].as_str().unwrap().to_owned());
            }
            codes
        }));
    }
    // Meanwhile the owner logs in from another address, at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut other = raw_from([127, 0, 0, 2], addr).await;
    other
        .send_json(json!({"type": "hello", "versions": [1], "nick": "elsewhere"}))
        .await;
    other.until_type("welcome").await;
    let asked = Instant::now();
    other
        .send_json(json!({"type": "login", "account": "owner", "password": "owner-secret"}))
        .await;
    let ack = other.until_type("ack").await;
    assert_eq!(ack["account"], "owner", "{ack}");
    let waited = asked.elapsed();
    let mut checked = 0;
    let mut limited = 0;
    for guesser in guessers {
        for code in guesser.await.unwrap() {
            match code.as_str() {
                "bad_login" => checked += 1,
                "too_many_attempts" => limited += 1,
                other => panic!("{other}"),
            }
        }
    }
    let elapsed = started.elapsed();
    // The address's 20, and one more per 3 s since.
    let allowed = 20 + usize::try_from(elapsed.as_secs() / 3 + 1).unwrap();
    assert_eq!(checked + limited, 1000);
    assert!(
        checked <= allowed,
        "{checked} passwords checked in {elapsed:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "the owner waited {waited:?} for a login during the flood"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_native_session_token_logs_in_again_without_the_password() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(Some(&file))).await;
    let mut nina = support::native_client(addr, "nina").await;
    // A token only logs in; registering needs the password.
    nina.send_json(json!({"type": "register", "token": "anything", "ref": 1}))
        .await;
    let refused = nina.until_type("error").await;
    assert_eq!(refused["code"], "bad_request", "{refused}");
    nina.send_json(
        json!({"type": "register", "password": "nina-secret", "session": true, "ref": 2}),
    )
    .await;
    let ack = nina.until_type("ack").await;
    let token = ack["token"].as_str().unwrap().to_owned();
    assert_eq!(
        (ack["account"].as_str(), token.len()),
        (Some("nina"), 43),
        "{ack}"
    );
    drop(nina);
    server.stop().await;

    // After a restart, the token logs in; a made-up one does not.
    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(Some(&file))).await;
    let mut again = support::native_client(addr, "nina2").await;
    again
        .send_json(json!({"type": "login", "token": "x".repeat(43), "ref": 3}))
        .await;
    let refused = again.until_type("error").await;
    assert_eq!(refused["code"], "bad_login", "{refused}");
    again
        .send_json(json!({"type": "login", "token": token, "ref": 4}))
        .await;
    let ack = again.until_type("ack").await;
    assert_eq!(ack["account"], "nina", "{ack}");
    assert!(ack.get("token").is_none(), "no new token unasked: {ack}");
    let mut irc = plain_client(addr, "watcher").await;
    let whois = whois_lines(&mut irc, "nina2").await;
    assert!(
        whois
            .iter()
            .any(|l| l.ends_with(" watcher nina2 nina :is logged in as")),
        "{whois:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn history_keeps_the_sender_s_account_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(Some(&file))).await;
    let mut alice = plain_client(addr, "alice").await;
    alice.send("REGISTER * * alice-secret\r").await;
    alice.until(|l| l.contains(" 900 ")).await;
    let mut guest = plain_client(addr, "guest").await;
    for (c, nick) in [(&mut alice, "alice"), (&mut guest, "guest")] {
        c.send("JOIN #den\r").await;
        c.until(|l| l.contains(" 366 ")).await;
        c.send(&format!("PRIVMSG #den :signed by {nick}?\r\nPING :sent\r"))
            .await;
        c.until(|l| l.ends_with(" :sent")).await;
    }
    drop((alice, guest));
    server.stop().await;

    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(Some(&file))).await;
    let mut native = support::native_client(addr, "reader").await;
    native
        .send_json(serde_json::json!({"type": "join", "room": "#den"}))
        .await;
    let joined = native.until_type("joined").await;
    let history = joined["history"].as_array().unwrap();
    let accounts: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|m| (m["from"].as_str().unwrap(), m["account"].as_str()))
        .collect();
    assert_eq!(
        accounts,
        [("alice", Some("alice")), ("guest", None)],
        "{joined}"
    );
    let mut irc = Raw::connect(addr).await;
    irc.send("CAP REQ :account-tag batch server-time\r\nNICK tagged\r\nUSER t 0 * :t\r\nCAP END\r")
        .await;
    irc.until(|l| l.contains(" 001 ")).await;
    irc.send("CHATHISTORY LATEST #den * 10\r").await;
    let first = irc.until(|l| l.contains("PRIVMSG #den")).await;
    let second = irc.until(|l| l.contains("PRIVMSG #den")).await;
    assert!(
        first.contains(";account=alice :alice!") && first.ends_with(":signed by alice?"),
        "{first}"
    );
    assert!(!second.contains("account="), "{second}");
    server.stop().await;
}

/// What ChanServ says next to `c`.
async fn chanserv(c: &mut Raw) -> String {
    let line = c
        .until(|l| l.starts_with(":ChanServ!ChanServ@prise NOTICE "))
        .await;
    line.split_once(" :").unwrap().1.to_owned()
}

/// The nicks of a room's NAMES reply, with their `@`.
async fn names(c: &mut Raw, room: &str) -> Vec<String> {
    c.send(&format!("NAMES {room}\r")).await;
    let line = c.until(|l| l.contains(" 353 ")).await;
    c.until(|l| l.contains(" 366 ")).await;
    let mut nicks: Vec<String> = line
        .rsplit_once(" :")
        .unwrap()
        .1
        .split(' ')
        .map(str::to_owned)
        .collect();
    nicks.sort();
    nicks
}

#[tokio::test]
async fn a_registered_room_keeps_its_operators_topic_modes_and_bans_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start_on(listener, config(Some(&file))).await;

    // A guest who opened a room may not register it: registration is by account.
    let mut carol = plain_client(addr, "carol").await;
    carol
        .send("JOIN #lobby\r\nPRIVMSG ChanServ :REGISTER #lobby\r")
        .await;
    assert_eq!(chanserv(&mut carol).await, "Log in to an account first.");

    let mut alice = plain_client(addr, "alice").await;
    alice.send("REGISTER * * alice-secret\r").await;
    alice.until(|l| l.contains(" 900 ")).await;
    alice
        .send("JOIN #team\r\nTOPIC #team :Ship it on Friday\r\nMODE #team +lb 10 spammer\r")
        .await;
    alice
        .until(|l| l.contains(" MODE #team +lb 10 spammer!*@*"))
        .await;
    // Only an operator of the room may register it.
    carol.send("JOIN #team\r\nCS REGISTER #team\r").await;
    assert_eq!(chanserv(&mut carol).await, "Log in to an account first.");
    alice.send("PRIVMSG ChanServ :REGISTER #team\r").await;
    assert_eq!(
        chanserv(&mut alice).await,
        "#team is registered to your account: its operators, topic, modes and bans are kept."
    );
    alice.send("CS REGISTER #team\r").await;
    assert_eq!(
        chanserv(&mut alice).await,
        "#team is already registered by alice."
    );

    // bob, an account from the native door, is made an operator: by account, so it lasts.
    let mut bob = support::native_client(addr, "bob").await;
    bob.send_json(serde_json::json!({"type": "register", "password": "bob-secret"}))
        .await;
    assert_eq!(bob.until_type("ack").await["account"], "bob");
    bob.send_json(serde_json::json!({"type": "join", "room": "#team"}))
        .await;
    bob.until_type("joined").await;
    alice.send("MODE #team +o bob\r").await;
    alice.until(|l| l.contains(" MODE #team +o bob")).await;
    // Everyone leaves; the room stays, and whoever comes first is not its operator.
    alice.send("PART #team\r").await;
    alice.until(|l| l.contains(" PART #team")).await;
    bob.send_json(serde_json::json!({"type": "part", "room": "#team"}))
        .await;
    bob.until_type("ack").await;
    carol.send("PART #team\r").await;
    carol.until(|l| l.contains(" PART #team")).await;
    carol.send("JOIN #team\r").await;
    carol.until(|l| l.contains(" 366 ")).await;
    assert_eq!(names(&mut carol, "#team").await, ["carol"]);
    drop((alice, bob, carol));
    server.stop().await;

    // After a restart: the ban, the modes, the topic, and the operators by account.
    let server = start_on(TcpListener::bind(addr).await.unwrap(), config(Some(&file))).await;
    let mut spammer = plain_client(addr, "spammer").await;
    spammer.send("JOIN #team\r").await;
    let banned = spammer.until(|l| l.contains(" 474 ")).await;
    assert!(
        banned.ends_with("#team :Cannot join channel (+b)"),
        "{banned}"
    );
    let mut eve = plain_client(addr, "eve").await;
    eve.send("JOIN #team\r").await;
    let topic = eve.until(|l| l.contains(" 332 ")).await;
    assert!(topic.ends_with(" #team :Ship it on Friday"), "{topic}");
    eve.until(|l| l.contains(" 366 ")).await;
    eve.send("MODE #team\r").await;
    let modes = eve.until(|l| l.contains(" 324 ")).await;
    assert!(modes.ends_with(" #team +lnt 10"), "{modes}");
    eve.send("MODE #team -b spammer\r").await;
    eve.until(|l| l.contains(" 482 ")).await;
    let (mut alice, answer) = sasl_client(addr, "alice", "alice", "alice-secret").await;
    assert!(answer.contains(" 900 "), "{answer}");
    alice.send("JOIN #team\r").await;
    alice.until(|l| l.contains(" 366 ")).await;
    assert_eq!(names(&mut alice, "#team").await, ["@alice", "eve"]);
    // bob joins before logging in: ChanServ makes him an operator once he has.
    let mut bob = support::native_client(addr, "bob").await;
    bob.send_json(serde_json::json!({"type": "join", "room": "#team"}))
        .await;
    bob.until_type("joined").await;
    assert_eq!(names(&mut alice, "#team").await, ["@alice", "bob", "eve"]);
    bob.send_json(serde_json::json!({"type": "login", "password": "bob-secret"}))
        .await;
    assert_eq!(bob.until_type("ack").await["account"], "bob");
    let opped = alice.until(|l| l.contains(" MODE #team ")).await;
    assert_eq!(opped, ":ChanServ!ChanServ@prise MODE #team +o bob");
    alice.send("CS INFO #team\r").await;
    let info = chanserv(&mut alice).await;
    assert!(
        info.starts_with("#team is registered by alice since ")
            && info.ends_with("; 2 operator account(s)."),
        "{info}"
    );
    // Only the founder (or a server operator) may unregister it; then it closes when empty.
    bob.send_json(serde_json::json!({"type": "unregister_room", "room": "#team"}))
        .await;
    assert_eq!(bob.until_type("error").await["code"], "not_founder");
    alice.send("CS UNREGISTER #team\r").await;
    assert_eq!(chanserv(&mut alice).await, "#team is no longer registered.");
    drop((alice, bob, eve, spammer));
    let mut last = plain_client(addr, "last").await;
    // The room closes once its members are gone (their quits are asynchronous).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        last.send("LIST #team\r").await;
        let mut listed = false;
        loop {
            let line = last.line().await.unwrap();
            if line.contains(" 322 ") {
                listed = true;
            }
            if line.contains(" 323 ") {
                break;
            }
        }
        if !listed {
            break;
        }
        assert!(Instant::now() < deadline, "#team stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_server_password_gates_every_door() {
    let mut cfg = config(None);
    cfg.hub.password = Some("door-key".into());
    let server = start(cfg).await;
    let addr = server.addr;

    // IRC: no PASS, or a wrong one: 464 and ERROR, a second late; the right one: 001.
    for pass in [None, Some("wrong-key")] {
        let mut c = Raw::connect(addr).await;
        if let Some(pass) = pass {
            c.send(&format!("PASS {pass}\r")).await;
        }
        let started = Instant::now();
        c.send("NICK intruder\r\nUSER i 0 * :i\r").await;
        let refused = c.until(|l| l.contains(" 464 ")).await;
        assert!(refused.ends_with(" :Password incorrect"), "{refused}");
        assert!(started.elapsed() >= Duration::from_millis(900));
        let rest = c.rest().await;
        assert_eq!(
            rest,
            ["ERROR :Closing link: Password incorrect"],
            "{pass:?}"
        );
    }
    let mut irc = Raw::connect(addr).await;
    irc.send("PASS door-key\r\nNICK member\r\nUSER m 0 * :m\r")
        .await;
    irc.until(|l| l.contains(" 001 member ")).await;
    irc.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;

    // Native: the hello carries it.
    let mut native = Raw::connect(addr).await;
    native
        .send_json(serde_json::json!({"type": "hello", "versions": [1], "nick": "nat"}))
        .await;
    let error = native.until_type("error").await;
    assert_eq!(error["code"], "bad_password", "{error}");
    assert!(native.rest().await.is_empty());
    let mut native = Raw::connect(addr).await;
    native
        .send_json(serde_json::json!({"type": "hello", "versions": [1], "nick": "nat", "password": "door-key"}))
        .await;
    assert_eq!(native.until_type("welcome").await["nick"], "nat");
    // A monitor's probe needs none: it only reads the counts.
    let mut probe = Raw::connect(addr).await;
    probe
        .send_json(serde_json::json!({"type": "hello", "versions": [1], "probe": true}))
        .await;
    assert_eq!(probe.until_type("status").await["users"], 2);

    // Text: asked for at once; anything else is refused until it is given.
    let mut text = Raw::connect(addr).await;
    text.until(|l| l == "* This server asks for a password: type /pass PASSWORD")
        .await;
    text.send("hello?").await;
    text.until(|l| l == "! Type /pass PASSWORD first").await;
    text.send("/pass wrong").await;
    assert_eq!(
        text.rest().await,
        ["! this server asks for a password, and that was not it"]
    );
    let mut text = Raw::connect(addr).await;
    text.until(|l| l.starts_with("* This server asks")).await;
    text.send("/pass door-key").await;
    text.until(|l| l.starts_with("* Welcome to prise chat. Your name is"))
        .await;
    text.until(|l| l.starts_with("* You are in #general")).await;
    // Nobody refused became a user.
    irc.send("LUSERS\r").await;
    let lusers = irc.until(|l| l.contains(" 251 ")).await;
    assert!(lusers.contains(":There are 3 users"), "{lusers}");
    server.stop().await;
}

/// An IRC line client over TLS, presenting the certificate `cert` (with its key) if given.
struct TlsIrc {
    reader: tokio::io::BufReader<tokio::io::ReadHalf<prise_core::stream::Stream>>,
    writer: tokio::io::WriteHalf<prise_core::stream::Stream>,
}

impl TlsIrc {
    async fn connect(
        addr: SocketAddr,
        cert: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Self {
        use prise_core::tls::{ClientTls, Verify};
        let tls = match cert {
            Some((cert, key)) => ClientTls::with_certificate(Verify::Insecure, cert, key).unwrap(),
            None => ClientTls::new(Verify::Insecure).unwrap(),
        };
        let options = prise_core::net::ConnectOptions {
            tls: Some(tls),
            ..prise_core::net::ConnectOptions::new("chat")
        };
        let stream = prise_core::net::connect(&addr.to_string(), &options)
            .await
            .unwrap();
        let (r, w) = tokio::io::split(stream);
        Self {
            reader: tokio::io::BufReader::new(r),
            writer: w,
        }
    }

    async fn send(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt as _;
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        use tokio::io::AsyncBufReadExt as _;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(support::WAIT, self.reader.read_line(&mut line))
                .await
                .expect("a line in time")
                .unwrap();
            assert!(n > 0, "closed");
            let line = line.trim_end().to_owned();
            if pred(&line) {
                return line;
            }
        }
    }
}

#[tokio::test]
async fn sasl_external_logs_in_with_a_tls_client_certificate_bound_by_nickserv_cert() {
    let dir = tempfile::tempdir().unwrap();
    let alice = prise_test_support::cert::openssl_client(dir.path(), "alice");
    let other = prise_test_support::cert::openssl_client(dir.path(), "other");
    // What NickServ shows: prise's form of the fingerprint openssl printed.
    let alice_fp = alice.fingerprint.clone();
    let (alice_cert, other_cert) = ((alice.cert, alice.key), (other.cert, other.key));
    let mut cfg = config(None);
    cfg.tls = Some(
        prise_core::tls::ServerTls::self_signed(
            &prise_core::tls::ServerTls::default_self_signed_names(),
        )
        .unwrap(),
    );
    let server = start(cfg).await;
    let addr = server.addr;

    // Over TLS with a certificate: EXTERNAL is offered. Register, bind the certificate.
    let mut first = TlsIrc::connect(addr, Some(&alice_cert)).await;
    first.send("CAP LS 302").await;
    let ls = first.until(|l| l.contains(" CAP * LS ")).await;
    assert!(ls.contains(" sasl=PLAIN,SCRAM-SHA-256,EXTERNAL"), "{ls}");
    first.send("CAP END\r\nNICK alice\r\nUSER a 0 * :a").await;
    first
        .until(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;
    first.send("NS CERT ADD").await;
    let refused = first.until(|l| l.contains("NickServ")).await;
    assert!(
        refused.ends_with(":Log in to an account first."),
        "{refused}"
    );
    first.send("REGISTER * * alice-secret").await;
    first.until(|l| l.contains(" 900 ")).await;
    first.send("NS CERT ADD").await;
    let bound = first.until(|l| l.contains("NickServ")).await;
    assert!(
        bound.ends_with(&format!(
            ":{alice_fp} is bound to alice: SASL EXTERNAL logs in with it."
        )),
        "{bound} (openssl says {alice_fp})"
    );

    // Plain TCP, or TLS without a certificate: not offered, and refused if asked for.
    let mut plain = Raw::connect(addr).await;
    plain.send("CAP LS 302\r").await;
    let ls = plain.until(|l| l.contains(" CAP * LS ")).await;
    assert!(ls.contains(" sasl=PLAIN,SCRAM-SHA-256 "), "{ls}");
    plain.send("AUTHENTICATE EXTERNAL\r").await;
    let mechanisms = plain.until(|l| l.contains(" 908 ")).await;
    assert!(
        mechanisms.ends_with(" PLAIN,SCRAM-SHA-256 :are available SASL mechanisms"),
        "{mechanisms}"
    );
    plain.until(|l| l.contains(" 904 ")).await;
    let mut bare = TlsIrc::connect(addr, None).await;
    bare.send("CAP LS 302").await;
    let ls = bare.until(|l| l.contains(" CAP * LS ")).await;
    assert!(!ls.contains("EXTERNAL"), "{ls}");

    // The bound certificate logs in, before registration ends.
    let mut again = TlsIrc::connect(addr, Some(&alice_cert)).await;
    again
        .send("CAP REQ :sasl\r\nNICK al2\r\nUSER a 0 * :a\r\nAUTHENTICATE EXTERNAL")
        .await;
    again.until(|l| l == "AUTHENTICATE +").await;
    again.send("AUTHENTICATE +").await;
    let logged = again.until(|l| l.contains(" 900 ")).await;
    assert!(
        logged.ends_with(" al2 al2!~a@prise alice :You are now logged in as alice"),
        "{logged}"
    );
    again.until(|l| l.contains(" 903 ")).await;
    again.send("CAP END").await;
    again.until(|l| l.contains(" 001 al2 ")).await;

    // Another certificate is no one's: 904, a second late; an authzid of someone else too.
    let mut stranger = TlsIrc::connect(addr, Some(&other_cert)).await;
    stranger
        .send("CAP REQ :sasl\r\nAUTHENTICATE EXTERNAL")
        .await;
    stranger.until(|l| l == "AUTHENTICATE +").await;
    let started = Instant::now();
    stranger.send("AUTHENTICATE +").await;
    stranger.until(|l| l.contains(" 904 ")).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    let mut wrong_authzid = TlsIrc::connect(addr, Some(&alice_cert)).await;
    wrong_authzid
        .send("CAP REQ :sasl\r\nAUTHENTICATE EXTERNAL")
        .await;
    wrong_authzid.until(|l| l == "AUTHENTICATE +").await;
    wrong_authzid
        .send(&format!(
            "AUTHENTICATE {}",
            base64ct::Base64::encode_string(b"mallory")
        ))
        .await;
    wrong_authzid.until(|l| l.contains(" 904 ")).await;

    // The certificate is listed, then unbound: it logs in no more.
    first.send("NS CERT LIST").await;
    let listed = first.until(|l| l.contains("NickServ")).await;
    assert!(
        listed.ends_with(&format!(":Bound to alice: {alice_fp}.")),
        "{listed}"
    );
    first
        .send(&format!(
            "NS CERT DEL {}",
            alice_fp.to_ascii_uppercase().replace("SHA256:", "")
        ))
        .await;
    let removed = first.until(|l| l.contains("NickServ")).await;
    assert!(
        removed.ends_with(&format!(":{alice_fp} is no longer bound to your account.")),
        "{removed}"
    );
    let mut after = TlsIrc::connect(addr, Some(&alice_cert)).await;
    after.send("CAP REQ :sasl\r\nAUTHENTICATE EXTERNAL").await;
    after.until(|l| l == "AUTHENTICATE +").await;
    after.send("AUTHENTICATE +").await;
    after.until(|l| l.contains(" 904 ")).await;
    server.stop().await;
}
