//! Real IRC clients against the server, checked by what their users see: weechat (headless,
//! driven through its FIFO) and irssi (in tmux, driven by keystrokes) each register, join a
//! room, talk with a native client, ask WHO and WHOIS, set and list a ban, and are refused a
//! room they are banned from; weechat also logs in with SASL PLAIN and SCRAM-SHA-256, irssi with
//! SASL EXTERNAL over TLS (a certificate made by openssl). `scripts/test` installs
//! weechat-headless, irssi, tmux and openssl; without them these tests fail rather than pass
//! unseen.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

mod support;

use support::{config, native_client, start, Raw};

/// How long a client gets to show what it was sent.
const DEADLINE: Duration = Duration::from_secs(20);

/// Poll the log at `path` until one of its lines satisfies `pred`, and return that line; after
/// [`DEADLINE`], fail showing what the log holds.
async fn shown(path: &Path, what: &str, pred: impl Fn(&str) -> bool) -> String {
    shown_times(path, what, 1, pred).await
}

/// [`shown`], for the `times`th line that satisfies `pred`.
async fn shown_times(path: &Path, what: &str, times: usize, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().filter(|l| pred(l)).nth(times - 1) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not shown {times} time(s) within {DEADLINE:?}; {} holds:\n{text}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait for a file to appear (a FIFO, a log), failing after [`DEADLINE`].
async fn appears(path: &Path) {
    let deadline = Instant::now() + DEADLINE;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear within {DEADLINE:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A weechat log line (`date\tprefix\tmessage`) as (prefix, message).
fn weechat_line(line: &str) -> (&str, &str) {
    let mut fields = line.splitn(3, '\t').skip(1);
    let prefix = fields.next().unwrap_or("");
    (prefix, fields.next().unwrap_or("").trim_end())
}

/// Whether a weechat log line shows `message` (any prefix).
fn weechat_says(line: &str, message: &str) -> bool {
    weechat_line(line).1 == message
}

/// A line into weechat's FIFO: `buffer *text` is text typed in that buffer, commands included.
async fn weechat_types(fifo: &mut tokio::fs::File, line: &str) {
    fifo.write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    fifo.flush().await.unwrap();
}

/// The words of an irssi log line after its time stamp.
fn irssi_words(line: &str) -> Vec<&str> {
    line.split_whitespace().skip(1).collect()
}

/// A native user who joins `room` and is refused: the server says it is a ban.
async fn refused_as_banned(addr: std::net::SocketAddr, nick: &str, room: &str) {
    let mut troll = native_client(addr, nick).await;
    troll.send_json(json!({"type": "join", "room": room})).await;
    let error = troll.until_type("error").await;
    assert_eq!(error["code"], "banned", "{error}");
}

/// `nina` makes a room of her own and bans `nick` from it, for the IRC client to be refused.
async fn ban_from_own_room(nina: &mut Raw, room: &str, nick: &str) {
    nina.send_json(json!({"type": "join", "room": room})).await;
    let joined = nina.until_type("joined").await;
    assert_eq!(joined["ops"], json!(["nina"]), "{joined}");
    nina.send_json(json!({"type": "ban", "room": room, "mask": nick}))
        .await;
    let mode = nina.until_type("mode").await;
    assert_eq!(
        (&mode["modes"], &mode["args"]),
        (&json!("+b"), &json!([format!("{nick}!*@*")])),
        "{mode}"
    );
}

/// weechat-headless, driven through its FIFO: what it logs in its server and channel buffers
/// is what its user would read there.
#[tokio::test]
async fn weechat_joins_talks_asks_who_and_whois_and_bans() {
    let server = start(config(None)).await;
    let mut nina = native_client(server.addr, "nina").await;
    // A room of nina's that weechat's user is banned from.
    ban_from_own_room(&mut nina, "#den", "wee").await;

    let dir = tempfile::tempdir().unwrap();
    let port = server.addr.port();
    let commands = [
        "/set logger.file.flush_delay 0".to_owned(),
        "/set irc.server_default.autoreconnect off".to_owned(),
        // weechat 3.x waits 2 s between queued lines; 4.x names it anti_flood (one of the two
        // is unknown, and weechat just says so).
        "/set irc.server_default.anti_flood_prio_high 0".to_owned(),
        "/set irc.server_default.anti_flood_prio_low 0".to_owned(),
        "/set irc.server_default.anti_flood 0".to_owned(),
        format!(
            "/server add prise 127.0.0.1/{port} -notls -nicks=wee -username=wee -autojoin=#lab"
        ),
        "/connect prise".to_owned(),
    ]
    .join(";");
    let mut weechat = tokio::process::Command::new("weechat-headless")
        .arg("--dir")
        .arg(dir.path())
        .args(["--plugins", "irc,logger,fifo"])
        .arg("-r")
        .arg(&commands)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("weechat-headless is needed (apt-get install weechat-headless; scripts/test does)");

    let fifo = dir
        .path()
        .join(format!("weechat_fifo_{}", weechat.id().unwrap()));
    appears(&fifo).await;
    // One writer for the whole test: weechat reopens its FIFO whenever a writer closes it.
    let mut fifo = tokio::time::timeout(
        DEADLINE,
        tokio::fs::OpenOptions::new().write(true).open(&fifo),
    )
    .await
    .expect("weechat reads its FIFO")
    .unwrap();
    let logs = dir.path().join("logs");
    let server_log = logs.join("irc.server.prise.weechatlog");
    let lab_log = logs.join("irc.prise.#lab.weechatlog");

    // Registered, and joined (autojoin): the first in #lab, so its operator. weechat asks for
    // extended-join, so joins show the real name too.
    shown(&server_log, "the welcome", |l| {
        weechat_says(
            l,
            "Welcome to prise chat, wee. Rooms here are shared with prise's other clients.",
        )
    })
    .await;
    shown(&lab_log, "weechat's join", |l| {
        weechat_line(l) == ("-->", "wee (wee) (~wee@prise) has joined #lab")
    })
    .await;
    nina.send_json(json!({"type": "join", "room": "#lab"}))
        .await;
    let joined = nina.until_type("joined").await;
    assert_eq!(joined["ops"], json!(["wee"]), "{joined}");
    shown(&lab_log, "nina's join", |l| {
        weechat_line(l) == ("-->", "nina (nina) (native@prise) has joined #lab")
    })
    .await;

    // Talk both ways.
    weechat_types(&mut fifo, "irc.prise.#lab *hello from weechat").await;
    let chat = nina.until_type("chat").await;
    assert_eq!(
        (&chat["from"], &chat["to"], &chat["text"]),
        (&json!("wee"), &json!("#lab"), &json!("hello from weechat")),
        "{chat}"
    );
    nina.send_json(json!({"type": "chat", "to": "#lab", "text": "hello back, weechat"}))
        .await;
    shown(&lab_log, "nina's answer", |l| {
        weechat_line(l) == ("nina", "hello back, weechat")
    })
    .await;

    // WHO: one 352 line each, the operator flagged, then the end.
    weechat_types(&mut fifo, "irc.server.prise */who #lab").await;
    shown(&server_log, "WHO's line for nina", |l| {
        weechat_says(l, "[#lab] nina (native@prise) H 0 (nina)")
    })
    .await;
    shown(&server_log, "WHO's line for wee", |l| {
        weechat_says(l, "[#lab] wee (~wee@prise) H@ 0 (wee)")
    })
    .await;
    shown(&server_log, "WHO's end", |l| {
        weechat_says(l, "[#lab] End of /WHO list")
    })
    .await;

    // WHOIS: 311 (address; a native user's real name is its first nick), 319 (rooms), 312 (server), 318.
    weechat_types(&mut fifo, "irc.server.prise */whois nina").await;
    shown(&server_log, "WHOIS's 311", |l| {
        weechat_says(l, "[nina] (native@prise): nina")
    })
    .await;
    shown(&server_log, "WHOIS's 319", |l| {
        let (_, message) = weechat_line(l);
        let mut rooms: Vec<&str> = message
            .strip_prefix("[nina] ")
            .unwrap_or("")
            .split(' ')
            .collect();
        rooms.sort_unstable();
        rooms == ["#lab", "@#den", "@#general"]
    })
    .await;
    shown(&server_log, "WHOIS's 312", |l| {
        weechat_says(l, "[nina] prise (prise chat)")
    })
    .await;
    shown(&server_log, "WHOIS's 318", |l| {
        weechat_says(l, "[nina] End of /WHOIS list")
    })
    .await;

    // A ban set by weechat's user: nina is told, weechat shows the change and the list.
    weechat_types(&mut fifo, "irc.prise.#lab */mode #lab +b troll").await;
    let mode = nina.until_type("mode").await;
    assert_eq!(
        (&mode["room"], &mode["by"], &mode["modes"], &mode["args"]),
        (
            &json!("#lab"),
            &json!("wee"),
            &json!("+b"),
            &json!(["troll!*@*"])
        ),
        "{mode}"
    );
    shown(&lab_log, "the MODE +b", |l| {
        weechat_says(l, "Mode #lab [+b troll!*@*] by wee")
    })
    .await;
    weechat_types(&mut fifo, "irc.prise.#lab */mode #lab b").await;
    shown(&lab_log, "the ban list's entry (367)", |l| {
        weechat_line(l)
            .1
            .starts_with("[#lab] [1] troll!*@* banned by wee on ")
    })
    .await;
    shown(&lab_log, "the ban list's end (368)", |l| {
        weechat_says(l, "[#lab] End of channel ban list")
    })
    .await;
    refused_as_banned(server.addr, "troll", "#lab").await;

    // Banned itself: the 474 in the server buffer.
    weechat_types(&mut fifo, "irc.server.prise */join #den").await;
    shown(&server_log, "the 474", |l| {
        weechat_says(l, "#den: Cannot join channel (+b)")
    })
    .await;

    weechat.kill().await.unwrap();
    server.stop().await;
}

/// A tmux server on its own socket, holding irssi's terminal; killed with the test.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// irssi with its home in `home` and `config` as its configuration, in a new tmux.
    async fn irssi(home: &Path, config: &str) -> Self {
        std::fs::write(home.join("config"), config).unwrap();
        let tmux = Tmux {
            socket: home.join("tmux.sock"),
        };
        let status = tmux
            .command()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "irssi"])
            .args(["-x", "200", "-y", "50", "irssi"])
            .arg(format!("--home={}", home.display()))
            .status()
            .await
            .expect("tmux is needed (apt-get install tmux; scripts/test does)");
        assert!(status.success(), "tmux new-session: {status}");
        tmux
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("tmux");
        command.arg("-S").arg(&self.socket);
        command
    }

    /// Type `text` and Enter, as irssi's user would.
    async fn type_line(&self, text: &str) {
        for keys in [["-l", text], ["Enter", ""]] {
            let status = self
                .command()
                .args(["send-keys", "-t", "irssi"])
                .args(keys.iter().filter(|k| !k.is_empty()))
                .status()
                .await
                .unwrap();
            assert!(status.success(), "tmux send-keys {keys:?}: {status}");
        }
    }

    /// What irssi's terminal shows now (for failure messages).
    async fn screen(&self) -> String {
        let out = self
            .command()
            .args(["capture-pane", "-p", "-t", "irssi"])
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// irssi in a tmux terminal, driven by keystrokes: its window logs (autolog, and one log of
/// everything for the status window) are what its user would read.
#[tokio::test]
async fn irssi_joins_talks_asks_who_and_whois_and_bans() {
    let server = start(config(None)).await;
    let mut nina = native_client(server.addr, "nina").await;
    ban_from_own_room(&mut nina, "#den", "irs").await;

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let port = server.addr.port();
    let all_log = home.join("all.log");
    let logs = home.join("logs");
    // Flood control off (irssi sends 5 lines, then one each 2.2 s), a log of every window, and
    // each room's own log.
    let config = format!(
        r##"servers = (
  {{ address = "127.0.0.1"; chatnet = "prise"; port = "{port}"; use_tls = "no"; autoconnect = "yes"; }}
);
chatnets = {{ prise = {{ type = "IRC"; }}; }};
channels = ( {{ name = "#lab"; chatnet = "prise"; autojoin = "yes"; }} );
logs = {{ "{all}" = {{ auto_open = "yes"; level = "ALL"; }}; }};
settings = {{
  core = {{ real_name = "irs"; user_name = "irs"; nick = "irs"; }};
  "irc/core" = {{ cmd_queue_speed = "0"; cmds_max_at_once = "1000"; }};
  "fe-common/core" = {{ autolog = "yes"; autolog_path = "{logs}/$tag/$0.log"; }};
}};
"##,
        all = all_log.display(),
        logs = logs.display(),
    );
    let tmux = Tmux::irssi(home, &config).await;
    let lab_log = logs.join("prise").join("#lab.log");

    // Registered, joined (autojoin: the first in #lab, so its operator) and synced: irssi hides
    // the replies to its own WHO and MODE queries until then.
    shown(&all_log, "the welcome", |l| {
        l.ends_with(
            "-!- Welcome to prise chat, irs. Rooms here are shared with prise's other clients.",
        )
    })
    .await;
    shown(&lab_log, "irssi's join", |l| {
        irssi_words(l) == ["-!-", "irs", "[~irs@prise]", "has", "joined", "#lab"]
    })
    .await;
    shown(&all_log, "the join's sync", |l| {
        l.contains("-!- Irssi: Join to #lab was synced in ")
    })
    .await;
    nina.send_json(json!({"type": "join", "room": "#lab"}))
        .await;
    let joined = nina.until_type("joined").await;
    assert_eq!(joined["ops"], json!(["irs"]), "{joined}");
    shown(&lab_log, "nina's join", |l| {
        irssi_words(l) == ["-!-", "nina", "[native@prise]", "has", "joined", "#lab"]
    })
    .await;

    // Talk both ways, typing in #lab's window.
    tmux.type_line("/window goto #lab").await;
    tmux.type_line("hello from irssi").await;
    let chat = nina.until_type("chat").await;
    assert_eq!(
        (&chat["from"], &chat["to"], &chat["text"]),
        (&json!("irs"), &json!("#lab"), &json!("hello from irssi")),
        "{chat}\nirssi shows:\n{}",
        tmux.screen().await
    );
    nina.send_json(json!({"type": "chat", "to": "#lab", "text": "hello back, irssi"}))
        .await;
    shown(&lab_log, "nina's answer", |l| {
        l.ends_with("< nina> hello back, irssi")
    })
    .await;

    // WHO: one 352 line each, the operator flagged, then the end (in the status window).
    tmux.type_line("/who #lab").await;
    shown(&all_log, "WHO's line for nina", |l| {
        irssi_words(l) == ["-!-", "#lab", "nina", "H", "0", "native@prise", "[nina]"]
    })
    .await;
    shown(&all_log, "WHO's line for irs", |l| {
        irssi_words(l) == ["-!-", "#lab", "irs", "H@", "0", "~irs@prise", "[irs]"]
    })
    .await;
    shown(&all_log, "WHO's end", |l| {
        l.ends_with("-!- End of /WHO list")
    })
    .await;

    // WHOIS: 311, 319, 312, 318.
    tmux.type_line("/whois nina").await;
    shown(&all_log, "WHOIS's 311", |l| {
        irssi_words(l) == ["-!-", "nina", "[native@prise]"]
    })
    .await;
    shown(&all_log, "WHOIS's real name (311)", |l| {
        irssi_words(l) == ["-!-", "ircname", ":", "nina"]
    })
    .await;
    shown(&all_log, "WHOIS's 319", |l| {
        let words = irssi_words(l);
        let Some(rooms) = words.strip_prefix(&["-!-", "channels", ":"]) else {
            return false;
        };
        let mut rooms = rooms.to_vec();
        rooms.sort_unstable();
        rooms == ["#lab", "@#den", "@#general"]
    })
    .await;
    shown(&all_log, "WHOIS's 312", |l| {
        irssi_words(l) == ["-!-", "server", ":", "prise", "[prise", "chat]"]
    })
    .await;
    shown(&all_log, "WHOIS's 318", |l| l.ends_with("-!- End of WHOIS")).await;

    // A ban set by irssi's user: nina is told, irssi shows the change, the server's list
    // (`/mode #lab b`: 367 and 368) and its own (`/ban` with no mask, in #lab's window).
    tmux.type_line("/mode #lab +b troll").await;
    let mode = nina.until_type("mode").await;
    assert_eq!(
        (&mode["room"], &mode["by"], &mode["modes"], &mode["args"]),
        (
            &json!("#lab"),
            &json!("irs"),
            &json!("+b"),
            &json!(["troll!*@*"])
        ),
        "{mode}"
    );
    shown(&lab_log, "the MODE +b", |l| {
        irssi_words(l) == ["-!-", "mode/#lab", "[+b", "troll!*@*]", "by", "irs"]
    })
    .await;
    // The entry's number is its place in irssi's own list of the room's bans: 1, as irssi
    // took in the MODE above.
    let entry = |l: &str| {
        irssi_words(l).starts_with(&["-!-", "1", "-", "#lab:", "ban", "troll!*@*", "[by", "irs,"])
    };
    tmux.type_line("/mode #lab b").await;
    shown(&all_log, "the server's ban list (367)", entry).await;
    shown(&all_log, "the ban list's end (368)", |l| {
        l.ends_with("-!- #lab End of channel ban list")
    })
    .await;
    // `/ban` with no mask, in #lab's window: irssi's own list, the same entry again.
    tmux.type_line("/ban").await;
    shown_times(&all_log, "irssi's own ban list", 2, entry).await;
    refused_as_banned(server.addr, "troll", "#lab").await;

    // Banned itself: the 474.
    tmux.type_line("/join #den").await;
    shown(&all_log, "the 474", |l| {
        l.ends_with("-!- Cannot join to channel #den (You are banned)")
    })
    .await;

    drop(tmux);
    server.stop().await;
}

/// weechat logs in to an account with SASL PLAIN as it connects (its `sasl_*` server options),
/// as its users do: it shows the login, and WHOIS shows the account to others.
#[tokio::test]
async fn weechat_logs_in_with_sasl_plain() {
    weechat_logs_in_with("plain").await;
}

/// The same with SCRAM-SHA-256: weechat checks the server's proof too (it fails the login if
/// the server's final message is wrong), so the login shows both sides right.
#[tokio::test]
async fn weechat_logs_in_with_sasl_scram_sha_256() {
    weechat_logs_in_with("scram_sha_256").await;
}

async fn weechat_logs_in_with(mechanism: &str) {
    let accounts =
        prise_chat::accounts::Accounts::open(None, prise_chat::accounts::Registration::Open)
            .unwrap();
    accounts
        .register_blocking("WeeAccount", "weechat-secret", None, None)
        .unwrap();
    let mut config = config(None);
    config.hub.accounts = Some(accounts);
    let server = start(config).await;

    let dir = tempfile::tempdir().unwrap();
    let port = server.addr.port();
    let commands = [
        "/set logger.file.flush_delay 0".to_owned(),
        "/set irc.server_default.autoreconnect off".to_owned(),
        format!(
            "/server add prise 127.0.0.1/{port} -notls -nicks=wee -username=wee \
             -sasl_mechanism={mechanism} -sasl_username=weeaccount -sasl_password=weechat-secret"
        ),
        "/connect prise".to_owned(),
    ]
    .join(";");
    let _weechat = tokio::process::Command::new("weechat-headless")
        .arg("--dir")
        .arg(dir.path())
        .args(["--plugins", "irc,logger"])
        .arg("-r")
        .arg(&commands)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("weechat-headless is needed (apt-get install weechat-headless; scripts/test does)");
    let server_log = dir.path().join("logs").join("irc.server.prise.weechatlog");
    shown(&server_log, "the login", |l| {
        weechat_line(l)
            .1
            .contains("You are now logged in as WeeAccount")
    })
    .await;
    shown(&server_log, "SASL's success", |l| {
        weechat_line(l).1.contains("SASL authentication successful")
    })
    .await;
    shown(&server_log, "the welcome", |l| {
        weechat_says(
            l,
            "Welcome to prise chat, wee. Rooms here are shared with prise's other clients.",
        )
    })
    .await;

    let mut other = Raw::connect(server.addr).await;
    other.send("NICK other\r\nUSER other 0 * :other\r").await;
    other.until(|l| l.contains(" 001 ")).await;
    other.send("WHOIS wee\r").await;
    let whois = other.until(|l| l.contains(" 330 ")).await;
    assert!(
        whois.ends_with(" other wee WeeAccount :is logged in as"),
        "{whois}"
    );
}

/// irssi logs in with SASL EXTERNAL over TLS, presenting a certificate (made by openssl) that
/// is bound to an account, as a CertFP user sets it up: `tls_cert` and `tls_pkey` on the
/// server, `sasl_mechanism = "EXTERNAL"` on the network. WHOIS shows the account to others.
#[tokio::test]
async fn irssi_logs_in_with_sasl_external_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let made = prise_test_support::cert::openssl_client(home, "irssi");
    let (cert, key) = (made.cert, made.key);
    let fingerprint: prise_core::tls::Fingerprint = made.openssl_fingerprint.parse().unwrap();

    let accounts =
        prise_chat::accounts::Accounts::open(None, prise_chat::accounts::Registration::Open)
            .unwrap();
    accounts
        .register_blocking("IrsAccount", "irssi-secret", None, None)
        .unwrap();
    accounts
        .add_cert("IrsAccount", &fingerprint.to_string())
        .await
        .unwrap();
    let mut config = config(None);
    config.hub.accounts = Some(accounts);
    config.tls = Some(
        prise_core::tls::ServerTls::self_signed(
            &prise_core::tls::ServerTls::default_self_signed_names(),
        )
        .unwrap(),
    );
    let server = start(config).await;

    let port = server.addr.port();
    let all_log = home.join("all.log");
    let irssi_config = format!(
        r##"servers = (
  {{ address = "127.0.0.1"; chatnet = "prise"; port = "{port}"; use_tls = "yes"; tls_verify = "no";
    tls_cert = "{cert}"; tls_pkey = "{key}"; autoconnect = "yes"; }}
);
chatnets = {{ prise = {{ type = "IRC"; sasl_mechanism = "EXTERNAL"; }}; }};
logs = {{ "{all}" = {{ auto_open = "yes"; level = "ALL"; }}; }};
settings = {{
  core = {{ real_name = "irs"; user_name = "irs"; nick = "irs"; }};
}};
"##,
        cert = cert.display(),
        key = key.display(),
        all = all_log.display(),
    );
    let tmux = Tmux::irssi(home, &irssi_config).await;
    let deadline = Instant::now() + DEADLINE;
    let login = loop {
        let text = std::fs::read_to_string(&all_log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("logged in as IrsAccount")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "irssi shows no login; its log:\n{text}\nits screen:\n{}",
            tmux.screen().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // irssi asks for SASL before it sends NICK: the 900 names `*`, as the specification says.
    assert!(
        login.ends_with("-!- *!user@prise IrsAccount You are now logged in as IrsAccount"),
        "{login}"
    );

    let mut other = Raw::connect(server.addr).await;
    other.send("NICK other\r\nUSER other 0 * :other\r").await;
    other.until(|l| l.contains(" 001 ")).await;
    other.send("WHOIS irs\r").await;
    let whois = other.until(|l| l.contains(" 330 ")).await;
    assert!(
        whois.ends_with(" other irs IrsAccount :is logged in as"),
        "{whois}"
    );
    server.stop().await;
}
