//! End-to-end tests of the `prise` binary: real processes, real sockets on 127.0.0.1, port 0,
//! readiness read from the `listening on` line.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn prise() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("prise"))
}

/// A server process and what it announced on stdout.
struct Server {
    child: Child,
    addr: SocketAddr,
    fingerprint: Option<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = prise()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut fingerprint = None;
        let announced = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                break Err("server exited before announcing".to_owned());
            }
            let line = line.trim_end();
            if let Some(fp) = line.strip_prefix("echo certificate ") {
                fingerprint = Some(fp.to_owned());
            } else if let Some(addr) = line.strip_prefix("echo listening on ") {
                break Ok(addr.parse().unwrap());
            } else {
                break Err(format!("unexpected stdout line {line:?}"));
            }
        };
        match announced {
            Ok(addr) => Server {
                child,
                addr,
                fingerprint,
            },
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{why}");
            }
        }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }

    fn terminate(mut self) -> (i32, String) {
        signal(&self.child, "TERM");
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code().unwrap_or(-1), stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn run(args: &[&str]) -> Output {
    prise().args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_help_completions_and_man_pages() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        format!("prise {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["--help"]);
    assert!(text(&out.stdout).contains("echo"), "{}", text(&out.stdout));
    let out = run(&["completions", "bash"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("_prise()"),
        "a bash completion function"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "prise.1",
        "prise-echo.1",
        "prise-echo-serve.1",
        "prise-echo-send.1",
    ] {
        let body = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(body.contains(".TH"), "{page} is a man page");
    }
}

#[test]
fn echo_round_trip_and_clean_exit_on_sigterm() {
    let server = Server::start(&["echo", "serve", "--listen", "127.0.0.1:0"]);
    let out = run(&["echo", "send", &server.addr(), "bonjour"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "bonjour\n");
    // stdin is sent as is when no message is given.
    let mut child = prise()
        .args(["echo", "send", &server.addr()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "line one\nline two");
    let (code, _stderr) = server.terminate();
    assert_eq!(code, 0);
}

#[test]
fn ping_mode_prints_round_trips() {
    let server = Server::start(&[
        "echo",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--reply",
        "Message bien reçu!",
    ]);
    let out = run(&["echo", "send", &server.addr(), "salut", "--count", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    for (i, line) in lines[..3].iter().enumerate() {
        assert!(
            line.starts_with(&format!(
                "reply from {}: seq={} time=",
                server.addr(),
                i + 1
            )),
            "{line}"
        );
        assert!(line.ends_with(" ms \"Message bien reçu!\""), "{line}");
    }
    assert!(
        lines[3].starts_with("3 sent, 3 received, rtt min/avg/max = "),
        "{}",
        lines[3]
    );
}

#[test]
fn tls_pinned_wrong_pin_and_insecure() {
    let server = Server::start(&[
        "echo",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-self-signed",
    ]);
    let fingerprint = server.fingerprint.clone().expect("fingerprint announced");
    assert!(
        fingerprint.starts_with("SHA256:") && fingerprint.len() == 71,
        "{fingerprint}"
    );

    let out = run(&[
        "echo",
        "send",
        &server.addr(),
        "chiffré",
        "--fingerprint",
        &fingerprint,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "chiffré\n");

    let wrong = format!("SHA256:{}", "ab".repeat(32));
    let out = run(&["echo", "send", &server.addr(), "x", "--fingerprint", &wrong]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("prise: TLS handshake with "), "{stderr}");
    assert!(stderr.contains("fingerprint mismatch"), "{stderr}");
    assert!(out.stdout.is_empty());

    // Verified against system roots, a self-signed certificate is refused with a hint.
    let out = run(&["echo", "send", &server.addr(), "x", "--tls"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--fingerprint"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&["echo", "send", &server.addr(), "hi", "--insecure"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(
        text(&out.stderr).contains("warning: --insecure"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn refused_and_silent_peers_fail_with_one_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let out = run(&["echo", "send", &addr, "x"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("prise: cannot connect to {addr}: ")),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);

    // Listening but never accepting or answering.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = run(&["echo", "send", &addr, "x", "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("prise: waiting for {addr}: no answer within 300ms\n")
    );
}

#[test]
fn sigterm_stops_accepting_and_lets_active_clients_finish() {
    let server = Server::start(&["echo", "serve", "--listen", "127.0.0.1:0", "--grace", "30s"]);
    let mut active = TcpStream::connect(server.addr).unwrap();
    active
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    active.write_all(b"first ").unwrap();
    let mut buf = [0u8; 6];
    active.read_exact(&mut buf).unwrap();
    signal(&server.child, "TERM");
    // New connections are refused once the server has stopped listening.
    let mut refused = false;
    for _ in 0..200 {
        match TcpStream::connect(server.addr) {
            Err(_) => {
                refused = true;
                break;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(refused, "still accepting after SIGTERM");
    // The client in progress is served to the end.
    active.write_all(b"second").unwrap();
    active.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    active.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"second");
    let (code, stderr) = server.terminate_after_signal();
    assert_eq!(code, 0, "{stderr}");
}

impl Server {
    fn terminate_after_signal(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code().unwrap_or(-1), stderr)
    }
}

#[test]
fn trace_file_records_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.log");
    let trace_arg = trace.to_str().unwrap();
    let server = Server::start(&[
        "--trace-file",
        trace_arg,
        "echo",
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let client_trace = dir.path().join("client.log");
    let out = run(&[
        "echo",
        "send",
        &server.addr(),
        "trace me",
        "--trace-file",
        client_trace.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let addr = server.addr;
    let (code, _) = server.terminate();
    assert_eq!(code, 0);

    let server_log = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = server_log.lines().collect();
    assert_eq!(lines.len(), 2, "{server_log}");
    assert!(
        lines[0].contains(" echo 127.0.0.1:") && lines[0].ends_with(" recv 9 \"trace me\\n\""),
        "{server_log}"
    );
    assert!(
        lines[1].ends_with(" send 9 \"trace me\\n\""),
        "{server_log}"
    );
    let client_log = std::fs::read_to_string(&client_trace).unwrap();
    let peer = format!(" echo {addr} ");
    assert!(
        client_log
            .lines()
            .any(|l| l.contains(&peer) && l.ends_with(" send 9 \"trace me\\n\"")),
        "{client_log}"
    );
    assert!(
        client_log
            .lines()
            .any(|l| l.contains(&peer) && l.ends_with(" recv 9 \"trace me\\n\"")),
        "{client_log}"
    );
}

#[test]
fn config_file_settings_and_certificate_reload_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = prise_test_support::cert::write_localhost(dir.path());
    let config = dir.path().join("echo.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nreply = \"from the file\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            dir.path().join("cert.pem"),
            dir.path().join("key.pem"),
        ),
    )
    .unwrap();
    let mut server = Server::start(&["echo", "serve", "--config", config.to_str().unwrap()]);
    assert_eq!(server.fingerprint.as_deref(), Some(first.as_str()));
    let out = run(&[
        "echo",
        "send",
        &server.addr(),
        "hi",
        "--fingerprint",
        &first,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from the file\n");

    // Renew the certificate in place and tell the server.
    let second = prise_test_support::cert::write_localhost(dir.path());
    signal(&server.child, "HUP");
    let mut stderr = BufReader::new(server.child.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "server exited");
        if line.contains("reloaded the TLS certificate") {
            break;
        }
    }
    let out = run(&[
        "echo",
        "send",
        &server.addr(),
        "hi",
        "--fingerprint",
        &second,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&[
        "echo",
        "send",
        &server.addr(),
        "hi",
        "--fingerprint",
        &first,
    ]);
    assert_eq!(out.status.code(), Some(1), "the old certificate is gone");
    signal(&server.child, "TERM");
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
}

#[test]
fn bad_config_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("echo.toml");
    std::fs::write(&config, "max_conections = 3\n").unwrap();
    let out = run(&["echo", "serve", "--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`max_conections` is not a setting of `prise echo serve`"),
        "{stderr}"
    );
}

/// Start `prise chat serve` and return it with its address (the fingerprint line is not used).
fn start_chat(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = prise()
        .args(["chat", "serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    // With TLS, the certificate's fingerprint is announced first.
    if line.starts_with("chat certificate ") {
        line.clear();
        let _ = stdout.read_line(&mut line);
    }
    match line.trim_end().strip_prefix("chat listening on ") {
        Some(addr) => (child, addr.parse().unwrap()),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first line {line:?}");
        }
    }
}

fn read_until(reader: &mut BufReader<TcpStream>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "closed before {want:?}; seen {seen:#?}");
        let line = line.trim_end().to_owned();
        let done = line.contains(want);
        seen.push(line);
        if done {
            return seen;
        }
    }
}

#[test]
fn chat_server_nc_client_send_and_history_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("chat.sqlite");
    let history_arg = history.to_str().unwrap();
    let (mut server, addr) = start_chat(&["--history", history_arg, "--motd", "Bonne journée"]);

    // A text client, as nc would be.
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut nc = BufReader::new(tcp.try_clone().unwrap());
    let seen = read_until(&mut nc, "* You are in #general");
    assert!(
        seen[0].starts_with("* Welcome to prise chat. Your name is \"Invite"),
        "{seen:#?}"
    );
    assert!(seen.contains(&"* Bonne journée".to_owned()), "{seen:#?}");
    (&tcp).write_all(b"/nom alice\n").unwrap();
    read_until(&mut nc, "* You are now known as alice");

    let out = run(&[
        "chat",
        "send",
        &addr.to_string(),
        "from a script",
        "--nick",
        "bot",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    read_until(&mut nc, "[bot] from a script");
    // A nick that is taken makes `chat send` fail rather than send under another name.
    let out = run(&["chat", "send", &addr.to_string(), "x", "--nick", "ALICE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("taken"), "{}", text(&out.stderr));

    signal(&server, "TERM");
    read_until(&mut nc, "* The server is shutting down. Bye!");
    assert_eq!(server.wait().unwrap().code(), Some(0));

    // Same history file: a newcomer sees the message again.
    let (mut server, addr) = start_chat(&["--history", history_arg]);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut nc = BufReader::new(tcp);
    let seen = read_until(&mut nc, "[bot] from a script");
    assert!(
        seen.iter().any(|l| l.starts_with("* You are in #general")),
        "{seen:#?}"
    );
    signal(&server, "TERM");
    assert_eq!(server.wait().unwrap().code(), Some(0));
}

#[test]
fn chat_connect_line_mode_sends_piped_input() {
    let (mut server, addr) = start_chat(&["--no-history"]);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut nc = BufReader::new(tcp);
    read_until(&mut nc, "* You are in #general");
    // The first line goes out as soon as the client is in its room, not before.
    let mut child = prise()
        .args([
            "chat",
            "connect",
            &addr.to_string(),
            "--nick",
            "piper",
            "--plain",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from a pipe\n/me waves\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("* You are in #general"),
        "{}",
        text(&out.stdout)
    );
    read_until(&mut nc, "[piper] hello from a pipe");
    read_until(&mut nc, "* piper waves");
    signal(&server, "TERM");
    assert_eq!(server.wait().unwrap().code(), Some(0));
}

#[test]
fn chat_serve_reads_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chat.toml");
    std::fs::write(
        &config,
        "no_history = true\nmotd = \"from the config file\"\ndefault_room = \"salon\"\n",
    )
    .unwrap();
    let (mut server, addr) = start_chat(&["--config", config.to_str().unwrap()]);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut nc = BufReader::new(tcp);
    let seen = read_until(&mut nc, "* You are in #salon");
    assert!(
        seen.contains(&"* from the config file".to_owned()),
        "{seen:#?}"
    );
    signal(&server, "TERM");
    assert_eq!(server.wait().unwrap().code(), Some(0));
}

#[test]
fn chat_serve_opens_irc_and_irc_tls_ports() {
    let mut child = prise()
        .args(["chat", "serve", "--listen", "127.0.0.1:0", "--no-history"])
        .args([
            "--irc",
            "127.0.0.1:0",
            "--irc-tls",
            "127.0.0.1:0",
            "--tls-self-signed",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut announced = std::collections::HashMap::new();
    for _ in 0..4 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if let Some((name, addr)) = line.split_once(" listening on ") {
            announced.insert(name.to_owned(), addr.parse::<SocketAddr>().unwrap());
        } else {
            assert!(line.starts_with("chat certificate SHA256:"), "{line}");
        }
    }
    let mut names: Vec<&String> = announced.keys().collect();
    names.sort();
    assert_eq!(names, ["chat", "irc", "irc-tls"]);

    // The IRC-only port: a client that sends PRIVMSG before registering gets 451 (a text
    // client on the main port would have said it), then registers.
    let tcp = TcpStream::connect(announced["irc"]).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut irc = BufReader::new(tcp.try_clone().unwrap());
    (&tcp)
        .write_all(b"PRIVMSG #general :too early\r\nNICK plain\r\nUSER plain 0 * :P\r\n")
        .unwrap();
    let seen = read_until(&mut irc, " 001 plain ");
    assert!(seen.iter().any(|l| l.contains(" 451 ")), "{seen:#?}");

    // The TLS-only port, with Python's ssl module as the client.
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
    with ctx.wrap_socket(raw) as s:
        s.sendall(b"NICK secure\r\nUSER secure 0 * :S\r\n")
        data = b""
        while b" 001 secure " not in data:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("closed: " + data.decode())
            data += chunk
        print("registered over", s.version())
"#;
    let out = Command::new("python3")
        .args(["-c", script, &announced["irc-tls"].port().to_string()])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).starts_with("registered over TLS"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    signal(&child, "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // Without a certificate, --irc-tls is refused in one line.
    let out = run(&[
        "chat",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-history",
        "--irc-tls",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--irc-tls needs a certificate"),
        "{}",
        text(&out.stderr)
    );
}

/// A tiny NTP server for `prise time`: answers as a stratum-2 server 3 s ahead.
fn fake_ntp() -> String {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 128];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n < 48 {
                continue;
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                + std::time::Duration::from_secs(3);
            let secs = (now.as_secs() + 2_208_988_800) & 0xffff_ffff;
            let fraction = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
            let stamp = ((secs << 32) | fraction).to_be_bytes();
            let mut reply = [0u8; 48];
            reply[0] = 0b00_100_100; // LI 0, version 4, mode 4
            reply[1] = 2;
            reply[12..16].copy_from_slice(&[192, 0, 2, 9]);
            reply[24..32].copy_from_slice(&buf[40..48]); // origin = our transmit
            reply[32..40].copy_from_slice(&stamp);
            reply[40..48].copy_from_slice(&stamp);
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

#[test]
fn time_reports_each_server_and_exits_by_what_answered() {
    let server = fake_ntp();
    let out = run(&["time", &server, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["ok"], true);
    assert_eq!(line["stratum"], 2);
    assert_eq!(line["refid"], "192.0.2.9");
    let offset = line["offset"].as_f64().unwrap();
    assert!((offset - 3.0).abs() < 0.1, "{line}");

    // One server answers, one is silent: exit 0, a line each, the best named.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let out = run(&["time", &server, &silent_addr, "--timeout", "300ms"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // "{server}: offset +3.000123 s ...": about 3 s (a loaded machine adds some delay).
    let shown: f64 = text
        .split(&format!("{server}: offset "))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset for {server}: {text}"));
    assert!((shown - 3.0).abs() < 0.1, "{text}");
    assert!(
        text.contains(&format!(
            "{silent_addr}: no answer: no usable reply within 300ms"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("best: {server}")), "{text}");

    // Nobody answers: exit 1. A name that does not resolve: exit 2.
    let out = run(&["time", &silent_addr, "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = run(&["time", "no-such-host.invalid"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-host.invalid"));
}

/// IRC passwords (OPER, PASS) never reach the traffic log, even in the first bytes (read while
/// the server tells IRC from text and native clients) or after tags.
#[test]
fn trace_file_hides_irc_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.log");
    let (mut server, addr) = start_chat(&[
        "--no-history",
        "--oper",
        "admin:s3cret-oper",
        "--trace-file",
        trace.to_str().unwrap(),
    ]);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut irc = BufReader::new(tcp);
    irc.get_mut()
        .write_all(b"PASS s3cret-pass\r\nNICK op\r\nUSER op 0 * :Op\r\n")
        .unwrap();
    read_until(&mut irc, " 001 op ");
    irc.get_mut()
        .write_all(b"@label=x OPER admin s3cret-oper\r\n")
        .unwrap();
    read_until(&mut irc, " 381 op ");
    signal(&server, "TERM");
    assert_eq!(server.wait().unwrap().code(), Some(0));
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(!log.contains("s3cret"), "{log}");
    assert!(
        log.contains("PASS ***") && log.contains("OPER ***"),
        "{log}"
    );
}

/// Account passwords never reach the traffic log either: NickServ REGISTER and IDENTIFY (as
/// PRIVMSG and as NS), SASL's AUTHENTICATE payload, the native protocol's `password`.
#[test]
fn trace_file_hides_account_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.log");
    let (mut server, addr) = start_chat(&["--no-history", "--trace-file", trace.to_str().unwrap()]);
    let connect = || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        BufReader::new(tcp)
    };
    let mut irc = connect();
    irc.get_mut()
        .write_all(b"NICK reg\r\nUSER reg 0 * :Reg\r\n")
        .unwrap();
    read_until(&mut irc, " 001 reg ");
    irc.get_mut()
        .write_all(b"PRIVMSG NickServ :REGISTER s3cret-account\r\n")
        .unwrap();
    read_until(&mut irc, " 900 reg ");
    irc.get_mut()
        .write_all(b"NS IDENTIFY reg s3cret-account\r\n")
        .unwrap();
    read_until(&mut irc, " 900 reg ");
    let mut sasl = connect();
    sasl.get_mut()
        .write_all(b"CAP REQ :sasl\r\nNICK other\r\nUSER o 0 * :O\r\nAUTHENTICATE PLAIN\r\n")
        .unwrap();
    read_until(&mut sasl, "AUTHENTICATE +");
    // base64 of "reg NUL reg NUL s3cret-account"
    sasl.get_mut()
        .write_all(b"AUTHENTICATE cmVnAHJlZwBzM2NyZXQtYWNjb3VudA==\r\nCAP END\r\n")
        .unwrap();
    read_until(&mut sasl, " 903 ");
    // The native protocol's login: its password value.
    let mut native = connect();
    native
        .get_mut()
        .write_all(b"{\"type\":\"hello\",\"versions\":[1],\"nick\":\"nat\"}\n")
        .unwrap();
    read_until(&mut native, "\"welcome\"");
    native
        .get_mut()
        .write_all(b"{\"type\":\"login\",\"account\":\"reg\",\"password\":\"s3cret-account\",\"session\":true}\n")
        .unwrap();
    let seen = read_until(&mut native, "\"account\":\"reg\"");
    // The session token it got back is a credential too.
    let ack: serde_json::Value = serde_json::from_str(seen.last().unwrap()).unwrap();
    let token = ack["token"].as_str().unwrap().to_owned();
    // The text door's /login.
    let mut text = connect();
    read_until(&mut text, "* You are in #general");
    text.get_mut()
        .write_all(b"/login reg s3cret-account\n")
        .unwrap();
    read_until(&mut text, "* You are now logged in as reg");
    signal(&server, "TERM");
    assert_eq!(server.wait().unwrap().code(), Some(0));
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(
        !log.contains("s3cret") && !log.contains("cmVnAHJlZw") && !log.contains(&token),
        "{log}"
    );
    assert!(
        log.contains("AUTHENTICATE ***") && log.contains("NS ***"),
        "{log}"
    );
}

/// Peers that stall (prise-test-support): each server started by the binary with a one-second
/// idle timeout drops a peer that sends nothing, the chat server also one that sends a byte at
/// a time and never ends its line, and meanwhile answers another client at once.
#[test]
fn every_server_drops_silent_peers_on_its_idle_timeout_and_serves_others_meanwhile() {
    use prise_test_support::{announce, stall};
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("inbox")).unwrap();
    std::fs::create_dir(work.path().join("ftp")).unwrap();
    let inbox = work.path().join("inbox");
    let ftp_root = work.path().join("ftp");
    let servers = [
        ("echo", vec!["echo", "serve"]),
        ("chat", vec!["chat", "serve", "--irc", "127.0.0.1:0"]),
        ("receive", vec!["receive", "--dir", inbox.to_str().unwrap()]),
        (
            "ftp",
            vec!["ftp", "serve", "--anonymous", ftp_root.to_str().unwrap()],
        ),
    ];
    for (service, args) in servers {
        let mut child = prise()
            .arg("-q")
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--idle-timeout", "1s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let addr = announce::read(&mut stdout, service);
        // A silent peer on the chat's main port is a text (telnet) user after a moment, and
        // may read without a word as long as it likes (a terminal cannot answer a ping): the
        // stalled peers go to its IRC port, where a hello is due within the idle timeout.
        let stalled_at = if service == "chat" {
            announce::read(&mut stdout, "irc")
        } else {
            addr.clone()
        };
        let silent = {
            let addr = stalled_at.clone();
            std::thread::spawn(move || stall::silent(addr, Duration::from_secs(10)))
        };
        let trickle = (service == "chat").then(|| {
            let addr = stalled_at.clone();
            std::thread::spawn(move || {
                stall::trickle(
                    addr,
                    &[b'x'; 100],
                    Duration::from_millis(100),
                    Duration::from_secs(10),
                )
            })
        });
        // Another client, while the stalled ones are connected: served at once.
        std::thread::sleep(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let mut other = TcpStream::connect(&addr).unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // What each says first: echo and chat wait for the client, the receiver answers a
        // message that is not a hello with an error, the FTP server greets.
        let first_words: &[u8] = match service {
            "echo" => b"ping\n",
            "chat" => b"NICK other\r\nUSER other 0 * :Other\r\n",
            "receive" => b"{}\n",
            _ => b"",
        };
        other.write_all(first_words).unwrap();
        let mut first = [0u8; 4];
        other.read_exact(&mut first).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{service}: the other client waited {:?}",
            started.elapsed()
        );
        let closed = silent.join().unwrap();
        assert!(
            closed.is_some_and(|t| t >= Duration::from_millis(900) && t < Duration::from_secs(8)),
            "{service}: a silent peer was closed after {closed:?}"
        );
        if let Some(trickle) = trickle {
            let seen = trickle.join().unwrap();
            assert!(
                seen.closed_after.is_some() && seen.sent < 100,
                "{service}: a byte-a-time peer {seen:?}"
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `prise chat account`, offline on the database: add (password from the environment or
/// stdin), list, reset-password, delete; clear errors for a taken or unknown name, and nothing
/// but a hash in the file.
#[test]
fn chat_account_commands_work_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.sqlite");
    let db = db.to_str().unwrap();
    let run = |args: &[&str], password: Option<&str>, stdin: &str| {
        let mut cmd = prise();
        cmd.args(["chat", "account"])
            .args(args)
            .args(["--history", db]);
        cmd.env_remove("PRISE_CHAT_PASSWORD");
        if let Some(p) = password {
            cmd.env("PRISE_CHAT_PASSWORD", p);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let text = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let err = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let added = run(&["add", "Alice"], Some("from-the-env"), "");
    assert!(added.status.success(), "{}", err(&added));
    assert_eq!(text(&added), "account Alice added\n");
    let added = run(&["add", "bob"], None, "from-stdin\n");
    assert!(added.status.success(), "{}", err(&added));
    let taken = run(&["add", "ALICE"], Some("whatever"), "");
    assert!(!taken.status.success());
    assert_eq!(err(&taken), "prise: the account ALICE already exists\n");
    let bad = run(&["add", "no spaces"], Some("whatever"), "");
    assert!(
        err(&bad).starts_with("prise: invalid account name \"no spaces\""),
        "{}",
        err(&bad)
    );
    let nothing = run(&["add", "carol"], None, "");
    assert!(err(&nothing).contains("no password"), "{}", err(&nothing));

    let list = text(&run(&["list"], None, ""));
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["Alice", "bob"], "{list}");

    assert!(run(&["reset-password", "alice"], Some("new-one"), "")
        .status
        .success());
    let unknown = run(&["reset-password", "zed"], Some("new-one"), "");
    assert_eq!(err(&unknown), "prise: no account called zed\n");
    assert!(run(&["delete", "BOB"], None, "").status.success());
    let list = text(&run(&["list"], None, ""));
    assert_eq!(list.lines().count(), 1, "{list}");

    let bytes = std::fs::read(dir.path().join("chat.sqlite")).unwrap();
    let contents = String::from_utf8_lossy(&bytes);
    assert!(!contents.contains("from-the-env") && !contents.contains("new-one"));
}

/// `prise chat send --account`: logged in before the message goes out (an IRC client with
/// account-tag sees the account on it), and a clear failure, with nothing sent, for a wrong
/// password or none.
#[test]
fn chat_send_logs_in_with_account_or_fails_without_sending() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chat.sqlite");
    let db = db.to_str().unwrap();
    let added = prise()
        .args(["chat", "account", "add", "alice", "--history", db])
        .env("PRISE_CHAT_PASSWORD", "alice-secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added.stderr));
    let (mut server, addr) = start_chat(&["--history", db]);

    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut irc = BufReader::new(tcp.try_clone().unwrap());
    (&tcp)
        .write_all(b"CAP REQ :account-tag\r\nNICK watcher\r\nUSER w 0 * :w\r\nCAP END\r\nJOIN #general\r\n")
        .unwrap();
    read_until(&mut irc, " 366 ");

    let send = |text: &str, password: Option<&str>| {
        let mut cmd = prise();
        cmd.args(["chat", "send", &addr.to_string(), text])
            .args(["--nick", "alice", "--account", "alice"])
            .env_remove("PRISE_CHAT_PASSWORD")
            .stdin(Stdio::null());
        if let Some(password) = password {
            cmd.env("PRISE_CHAT_PASSWORD", password);
        }
        cmd.output().unwrap()
    };
    let out = send("not sent", None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "prise: --account alice: set $PRISE_CHAT_PASSWORD (stdin is not a terminal to ask on)\n"
    );
    let out = send("not sent either", Some("wrong-secret"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "prise: logging in to alice: wrong account name or password\n"
    );
    let out = send("signed", Some("alice-secret"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = read_until(&mut irc, "PRIVMSG #general :");
    let said = seen.last().unwrap();
    assert!(
        said.starts_with("@account=alice :alice!") && said.ends_with(" PRIVMSG #general :signed"),
        "only the logged-in message is said: {seen:#?}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn chat_send_gives_the_server_password_from_the_environment() {
    let (mut server, addr) = start_chat(&["--no-history", "--password", "door-key"]);
    let send = |password: Option<&str>| {
        let mut cmd = prise();
        cmd.args(["chat", "send", &addr.to_string(), "hi", "--nick", "sender"])
            .env_remove("PRISE_CHAT_SERVER_PASSWORD")
            .stdin(Stdio::null());
        if let Some(password) = password {
            cmd.env("PRISE_CHAT_SERVER_PASSWORD", password);
        }
        cmd.output().unwrap()
    };
    for password in [None, Some("wrong-key")] {
        let out = send(password);
        assert_eq!(out.status.code(), Some(1), "{password:?}");
        assert_eq!(
            text(&out.stderr),
            "prise: this server asks for a password, and that was not it\n"
        );
    }
    let out = send(Some("door-key"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn chat_send_logs_in_with_a_tls_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let made = prise_test_support::cert::openssl_client(dir.path(), "alice");
    let (cert, key, fingerprint) = (made.cert, made.key, made.openssl_fingerprint);
    let (mut server, addr) = start_chat(&["--no-history", "--tls-self-signed"]);

    // alice registers over plain TCP (native) and binds the certificate by its fingerprint,
    // as openssl prints it.
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut native = BufReader::new(tcp.try_clone().unwrap());
    (&tcp)
        .write_all(
            format!(
                "{{\"type\":\"hello\",\"versions\":[1],\"nick\":\"alice\"}}\n\
                 {{\"type\":\"register\",\"password\":\"alice-secret\"}}\n\
                 {{\"type\":\"cert_add\",\"fingerprint\":\"{fingerprint}\",\"ref\":1}}\n"
            )
            .as_bytes(),
        )
        .unwrap();
    let bound = read_until(&mut native, "\"ref\":1");
    let bound = bound.last().unwrap();
    assert!(
        bound.contains("\"type\":\"ack\"") && bound.contains("\"account\":\"alice\""),
        "{bound}"
    );
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut irc = BufReader::new(tcp.try_clone().unwrap());
    (&tcp)
        .write_all(b"CAP REQ :account-tag\r\nNICK watcher\r\nUSER w 0 * :w\r\nCAP END\r\nJOIN #general\r\n")
        .unwrap();
    read_until(&mut irc, " 366 ");

    let send = |nick: &str, with_cert: bool| {
        let mut cmd = prise();
        cmd.args([
            "chat",
            "send",
            &addr.to_string(),
            "by certificate",
            "--nick",
            nick,
            "--insecure",
        ])
        .stdin(Stdio::null());
        if with_cert {
            cmd.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        cmd.output().unwrap()
    };
    let out = send("al2", true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = read_until(&mut irc, "PRIVMSG #general :");
    let said = seen.last().unwrap();
    assert!(
        said.starts_with("@account=alice :al2!")
            && said.ends_with(" PRIVMSG #general :by certificate"),
        "{seen:#?}"
    );
    // Without the --tls flags, --cert is refused before connecting.
    let mut cmd = prise();
    let out = cmd
        .args([
            "chat",
            "send",
            &addr.to_string(),
            "x",
            "--nick",
            "al3",
            "--cert",
        ])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--cert is a TLS client certificate"),
        "{}",
        text(&out.stderr)
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn chat_node_killed_its_users_leave_the_other_nodes_and_their_nicks_free_up() {
    let redis = prise_test_support::redis::RedisServer::start();
    let node = |name: &str| {
        start_chat(&[
            "--no-history",
            "--redis",
            &redis.url,
            "--node-name",
            name,
            "--node-ttl",
            "2s",
        ])
    };
    let (mut doomed, doomed_addr) = node("doomed");
    let (mut kept, kept_addr) = node("kept");
    let irc = |addr: SocketAddr, nick: &str| {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(tcp.try_clone().unwrap());
        (&tcp)
            .write_all(
                format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nJOIN #general\r\n").as_bytes(),
            )
            .unwrap();
        read_until(&mut reader, " 366 ");
        (tcp, reader)
    };
    let (watcher, mut watching) = irc(kept_addr, "watcher");
    let (_victim, _) = irc(doomed_addr, "victim");
    // The watcher sees the victim arrive (or finds it in NAMES, had it been there first).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        (&watcher).write_all(b"NAMES #general\r\n").unwrap();
        let names = read_until(&mut watching, " 366 ");
        if names
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("victim"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "victim never listed: {names:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // kill -9: no goodbye reaches anyone; within the TTL the others let the victim go.
    let killed = Instant::now();
    doomed.kill().unwrap();
    let _ = doomed.wait();
    let quit = read_until(&mut watching, " QUIT ");
    assert!(
        quit.last()
            .unwrap()
            .starts_with(":victim!~victim@prise QUIT :Node lost"),
        "{quit:#?}"
    );
    assert!(
        killed.elapsed() < Duration::from_secs(8),
        "{:?}",
        killed.elapsed()
    );
    // Its nick's claim runs out within the TTL too (claimed a moment apart from liveness).
    loop {
        (&watcher).write_all(b"NICK victim\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            watching.read_line(&mut line).unwrap();
            if line.contains(" NICK ") || line.contains(" 433 ") {
                break;
            }
        }
        if line.contains(" NICK ") {
            assert!(line.trim_end().ends_with("NICK victim"), "{line}");
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(8),
            "victim's nick never freed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = kept.kill();
    let _ = kept.wait();
}
