//! `prise monitor` as a user runs it: `--once` against real servers (Python's http.server, a
//! TCP listener), the long-running mode with a target stopped and restarted and a webhook
//! receiver counting notices, and a broken config.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn prise() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prise"))
}

/// Python's http.server on a free port, serving `dir`.
struct PythonHttp {
    child: Child,
    port: u16,
}

impl PythonHttp {
    fn start(dir: &std::path::Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for PythonHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `prise monitor --once --json CONFIG`: the whole output, and its lines as JSON.
fn once_json(config: &std::path::Path) -> (std::process::Output, Vec<serde_json::Value>) {
    let out = prise()
        .args(["monitor", "--once", "--json"])
        .arg(config)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, lines)
}

fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET with curl: the body.
fn get(addr: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn once_reports_every_check_and_exits_by_what_is_down() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("health.json"),
        r#"{"status":"up","db":{"ok":true}}"#,
    )
    .unwrap();
    let web = PythonHttp::start(work.path());
    let down = closed_port();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "web"
url = "http://127.0.0.1:{web}/health.json"
conditions = ["[STATUS] == 200 and [RESPONSE_TIME] < 5s", "[BODY].status == \"up\"", "[BODY].db.ok == true"]

[[check]]
name = "missing"
url = "http://127.0.0.1:{web}/nope"
conditions = ["[STATUS] == 200"]

[[check]]
name = "db"
url = "tcp://127.0.0.1:{down}"
timeout = "2s"
"#,
            web = web.port
        ),
    )
    .unwrap();
    let (out, lines) = once_json(&config);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (lines[0]["name"].as_str(), lines[0]["state"].as_str()),
        (Some("web"), Some("up"))
    );
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[1]["state"], "down");
    assert_eq!(lines[1]["error"], "condition failed: [STATUS] (404) == 200");
    assert_eq!(lines[2]["state"], "down");
    assert!(
        lines[2]["error"].as_str().unwrap().contains("refused"),
        "{}",
        lines[2]
    );

    // Only the healthy check: exit 0, and the table for people.
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"web\"\nurl = \"http://127.0.0.1:{}/\"\n",
            web.port
        ),
    )
    .unwrap();
    let out = prise()
        .args(["monitor", "--once"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("web  up "), "{text}");

    // A warning condition that fails: degraded, which is not down (exit 0).
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"web\"\nurl = \"http://127.0.0.1:{}/\"\nwarnings = [\"[RESPONSE_TIME] < 0\"]\n",
            web.port
        ),
    )
    .unwrap();
    let out = prise()
        .args(["monitor", "--once", "--json"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["state"], "degraded");
    assert!(
        line["warning"]
            .as_str()
            .unwrap()
            .starts_with("warning: [RESPONSE_TIME] ("),
        "{line}"
    );
}

#[test]
fn a_broken_config_names_its_line_and_column() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        "[[check]]\nname = \"web\"\nurl = \"http://127.0.0.1:1/\"\nconditions = [\"[STATUS] == OK\"]\n",
    )
    .unwrap();
    let out = prise()
        .args(["monitor", "--once"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("monitor.toml:4:28: [STATUS] is a whole number, found `OK`"),
        "{err}"
    );
}

/// A webhook receiver: every POST body, answered 200.
fn webhook() -> (u16, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, got)
}

#[test]
fn a_target_that_stops_and_restarts_gives_one_down_and_one_recovery_notice() {
    let work = tempfile::tempdir().unwrap();
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    let (hook, notices) = webhook();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "db"
url = "tcp://127.0.0.1:{port}"
interval = "100ms"
timeout = "500ms"
notify = ["ops"]

[[notify]]
name = "ops"
type = "webhook"
url = "http://127.0.0.1:{hook}/hook"
"#
        ),
    )
    .unwrap();
    let mut monitor = prise()
        .args(["monitor", "--status", "127.0.0.1:0", "--history"])
        .arg(work.path().join("history.sqlite"))
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(monitor.stdout.take().unwrap());
    let status = prise_test_support::announce::read(&mut stdout, "monitor");
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "monitor watching 1 checks");
    let get = |path: &str| get(&status, path);
    let state = || {
        let checks: serde_json::Value = serde_json::from_str(&get("/api/checks")).unwrap();
        checks[0]["state"].as_str().unwrap().to_owned()
    };
    let wait_for = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if notices.lock().unwrap().len() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    // Up for a while: no notice.
    std::thread::sleep(Duration::from_millis(600));
    assert!(notices.lock().unwrap().is_empty());
    assert_eq!(state(), "up");
    assert!(get("/metrics").contains("prise_monitor_up{check=\"db\"} 1"));
    // Stopped: one down notice, after three failed runs.
    let stopped = Instant::now();
    drop(target);
    assert!(wait_for(1), "a down notice");
    assert!(
        stopped.elapsed() >= Duration::from_millis(200),
        "not before the third failure"
    );
    // The status server says so too.
    assert_eq!(state(), "down");
    let metrics = get("/metrics");
    assert!(
        metrics.contains("prise_monitor_up{check=\"db\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prise_monitor_failed_runs_total{check=\"db\"} "),
        "{metrics}"
    );
    let badge = get("/badge/db.svg");
    assert!(
        badge.starts_with("<svg") && badge.contains(">down</text>"),
        "{badge}"
    );
    let page = get("/");
    assert!(page.contains("<td class=\"down\">down</td>"), "{page}");
    assert!(
        page.contains("<polyline"),
        "the response-time chart: {page}"
    );
    // Restarted: one recovery notice.
    std::thread::sleep(Duration::from_millis(500));
    let _target = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert!(wait_for(2), "a recovery notice");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(state(), "up");
    let checks: serde_json::Value = serde_json::from_str(&get("/api/checks")).unwrap();
    let uptime = checks[0]["uptime_24h"].as_f64().unwrap();
    assert!(uptime > 0.0 && uptime < 1.0, "some runs failed: {uptime}");
    let incidents: serde_json::Value = serde_json::from_str(&get("/api/incidents")).unwrap();
    let events: Vec<&str> = incidents
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["recovered", "down"], "newest first");
    let _ = monitor.kill();
    let _ = monitor.wait();
    let got = notices.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "exactly one of each: {got:?}");
    assert_eq!(got[0]["check"], "db");
    assert_eq!(got[0]["event"], "down");
    assert_eq!(got[0]["failures"], 3);
    assert!(
        got[0]["error"].as_str().unwrap().contains("refused"),
        "{}",
        got[0]
    );
    assert_eq!(got[1]["check"], "db");
    assert_eq!(got[1]["event"], "recovered");
}

#[test]
fn a_down_parent_holds_back_its_childs_notices_and_reminders_repeat() {
    let work = tempfile::tempdir().unwrap();
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    let closed = closed_port();
    let (hook, notices) = webhook();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "app"
url = "tcp://127.0.0.1:{port}"
interval = "100ms"
timeout = "500ms"
depends_on = "net"

[[check]]
name = "net"
url = "tcp://127.0.0.1:{port}"
interval = "100ms"
timeout = "500ms"
failure_threshold = 1

[[check]]
name = "gone"
url = "tcp://127.0.0.1:{closed}"
interval = "100ms"
failure_threshold = 1
reminder = "300ms"

[[notify]]
type = "webhook"
url = "http://127.0.0.1:{hook}/"
"#
        ),
    )
    .unwrap();
    let mut monitor = prise()
        .args(["monitor", "--no-history"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(target);
    std::thread::sleep(Duration::from_millis(1500));
    let _target = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let got = notices.lock().unwrap().clone();
    let of = |name: &str| -> Vec<String> {
        got.iter()
            .filter(|n| n["check"] == name)
            .map(|n| n["event"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of("net"), ["down", "recovered"], "{got:?}");
    assert!(
        of("app").is_empty(),
        "held back while net was down: {got:?}"
    );
    let gone = of("gone");
    assert_eq!(gone[0], "down", "{got:?}");
    let reminders = gone.iter().filter(|e| *e == "reminder").count();
    assert!(
        (4..=15).contains(&reminders),
        "a reminder every 300 ms over about 3.5 s: {got:?}"
    );
}

#[test]
fn sighup_reloads_the_config_without_a_second_notice_for_the_same_outage() {
    let work = tempfile::tempdir().unwrap();
    let closed = closed_port();
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let (hook, notices) = webhook();
    let config = work.path().join("monitor.toml");
    let db = format!(
        "[[check]]\nname = \"db\"\nurl = \"tcp://127.0.0.1:{closed}\"\ninterval = \"100ms\"\n\
         failure_threshold = 1\n\n[[notify]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/\"\n"
    );
    std::fs::write(&config, &db).unwrap();
    let mut monitor = prise()
        .args(["monitor", "--no-history", "--status", "127.0.0.1:0"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open: the monitor writes more lines, and a closed pipe would end it.
    let mut stdout = BufReader::new(monitor.stdout.take().unwrap());
    let status = prise_test_support::announce::read(&mut stdout, "monitor");
    let checks = || -> Vec<(String, String)> {
        let value: serde_json::Value = serde_json::from_str(&get(&status, "/api/checks")).unwrap();
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &monitor.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let settle = |want: &[(&str, &str)]| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let got = checks();
            if got
                .iter()
                .map(|(n, s)| (n.as_str(), s.as_str()))
                .collect::<Vec<_>>()
                == want
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("wanted {want:?}, have {:?}", checks());
    };
    settle(&[("db", "down")]);
    // A second check; db stays down, and its outage is not told twice.
    std::fs::write(
        &config,
        format!("{db}\n[[check]]\nname = \"web\"\nurl = \"tcp://127.0.0.1:{open_port}\"\ninterval = \"100ms\"\n"),
    )
    .unwrap();
    hup();
    settle(&[("db", "down"), ("web", "up")]);
    std::thread::sleep(Duration::from_millis(500));
    // A broken file changes nothing.
    std::fs::write(&config, "[[check]]\nname = \"db\"\nurl = \"smtp://x\"\n").unwrap();
    hup();
    std::thread::sleep(Duration::from_millis(500));
    settle(&[("db", "down"), ("web", "up")]);
    let _ = monitor.kill();
    let _ = monitor.wait();
    let mut log = String::new();
    monitor
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("config reloaded: 2 checks"), "{log}");
    assert!(
        log.contains("config not reloaded: ") && log.contains("unknown scheme"),
        "{log}"
    );
    let got = notices.lock().unwrap().clone();
    let downs = got.iter().filter(|n| n["event"] == "down").count();
    assert_eq!(downs, 1, "one down notice for db's one outage: {got:?}");
    drop(open);
}

#[test]
fn a_maintenance_window_holds_notices_back() {
    let work = tempfile::tempdir().unwrap();
    let closed = closed_port();
    let (hook, notices) = webhook();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"resting\"\nurl = \"tcp://127.0.0.1:{closed}\"\ninterval = \"100ms\"\n\
             failure_threshold = 1\nmaintenance = [\"daily 00:00-24:00\"]\n\n\
             [[check]]\nname = \"working\"\nurl = \"tcp://127.0.0.1:{closed}\"\ninterval = \"100ms\"\n\
             failure_threshold = 1\n\n\
             [[notify]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/\"\n"
        ),
    )
    .unwrap();
    let mut monitor = prise()
        .args(["monitor", "--no-history"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let got = notices.lock().unwrap().clone();
    let checks: Vec<&str> = got.iter().map(|n| n["check"].as_str().unwrap()).collect();
    assert_eq!(checks, ["working"], "{got:?}");
}

#[test]
fn an_email_notice_reaches_an_smtp_server() {
    let work = tempfile::tempdir().unwrap();
    let smtp_port = closed_port();
    // Python's own SMTP server (the smtpd module of Python 3.11), printing what it receives.
    let mut smtp = Command::new("python3")
        .args([
            "-u",
            "-W",
            "ignore",
            "-m",
            "smtpd",
            "-n",
            "-c",
            "DebuggingServer",
        ])
        .arg(format!("127.0.0.1:{smtp_port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with smtpd (Python 3.11)");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", smtp_port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let closed = closed_port();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"gone\"\nurl = \"tcp://127.0.0.1:{closed}\"\ninterval = \"100ms\"\n\
             failure_threshold = 1\n\n\
             [[notify]]\ntype = \"email\"\nsmtp = \"127.0.0.1:{smtp_port}\"\nsecurity = \"none\"\n\
             from = \"monitor@example.org\"\nto = [\"ops@example.org\"]\n"
        ),
    )
    .unwrap();
    let mut monitor = prise()
        .args(["monitor", "--no-history"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = smtp.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
            if seen.iter().any(|l| l.contains("Error: ")) {
                break;
            }
        }
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
    let _ = smtp.kill();
    let _ = smtp.wait();
    let text = seen.join("\n");
    assert!(
        text.contains("Subject: [prise monitor] gone is down"),
        "{text}"
    );
    assert!(text.contains("To: ops@example.org"), "{text}");
    assert!(text.contains("Check: gone"), "{text}");
    assert!(
        text.contains("Error: ") && text.contains("refused"),
        "{text}"
    );
}

#[test]
fn https_and_tls_checks_read_the_certificate_and_refuse_an_untrusted_one() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    std::fs::write(work.path().join("index.html"), "<p>ok</p>").unwrap();
    let mut server = prise()
        .args([
            "-q",
            "http",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
        ])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut addr = String::new();
    for line in BufReader::new(server.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("http listening on ") {
            addr = a.to_owned();
            break;
        }
    }
    let ca = cert.display();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "site"
url = "https://{addr}/"
ca = "{ca}"
conditions = ["[STATUS] == 200", "[BODY] contains \"ok\"", "[CERTIFICATE_EXPIRATION] > 29d"]
warnings = ["[CERTIFICATE_EXPIRATION] > 60d"]

[[check]]
name = "cert"
url = "tls://{addr}"
ca = "{ca}"
conditions = ["[CERTIFICATE_EXPIRATION] > 29d and [CERTIFICATE_EXPIRATION] < 31d"]

[[check]]
name = "untrusted"
url = "https://{addr}/"
"#
        ),
    )
    .unwrap();
    let (out, lines) = once_json(&config);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0]["state"], "degraded",
        "expires within 60 days: {}",
        lines[0]
    );
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[1]["state"], "up", "{}", lines[1]);
    assert_eq!(lines[2]["state"], "down", "{}", lines[2]);
    let error = lines[2]["error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_chat_check_probes_the_server_without_anyone_seeing_it() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    let mut server = prise()
        .args([
            "-q",
            "chat",
            "serve",
            "--no-history",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server_out = BufReader::new(server.stdout.take().unwrap());
    // The certificate's fingerprint comes first, then the announce line.
    let addr = loop {
        let mut line = String::new();
        assert!(
            server_out.read_line(&mut line).unwrap() > 0,
            "no announce line"
        );
        if let Some(addr) = line.trim().strip_prefix("chat listening on ") {
            break addr.to_owned();
        }
    };

    // Someone in the default room, who must not see the monitor come and go.
    let alice = TcpStream::connect(&addr).unwrap();
    alice
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut alice_in = BufReader::new(alice.try_clone().unwrap());
    let mut alice_out = alice;
    alice_out
        .write_all(b"{\"type\":\"hello\",\"versions\":[1],\"nick\":\"alice\"}\n")
        .unwrap();
    for expected in ["welcome", "joined"] {
        let mut line = String::new();
        alice_in.read_line(&mut line).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["type"], expected, "{line}");
    }

    // Not a chat server: something that greets with another protocol's banner.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in other.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
        }
    });
    let down = closed_port();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "chat"
url = "chat://{addr}"
conditions = ["[CONNECTED] == true", "[BODY].users == 1", "[BODY].server contains \"prise\""]

[[check]]
name = "chat-tls"
url = "chats://{addr}"
ca = "{ca}"
conditions = ["[BODY].rooms == 1", "[CERTIFICATE_EXPIRATION] > 29d"]

[[check]]
name = "crowded"
url = "chat://{addr}"
conditions = ["[BODY].users > 100"]

[[check]]
name = "ssh"
url = "chat://127.0.0.1:{other_port}"

[[check]]
name = "gone"
url = "chat://127.0.0.1:{down}"
"#,
            ca = cert.display()
        ),
    )
    .unwrap();
    let (out, lines) = once_json(&config);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let states: Vec<&str> = lines.iter().map(|l| l["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["up", "up", "down", "down", "down"], "{lines:?}");
    assert_eq!(
        lines[2]["error"],
        "condition failed: [BODY].users (1) > 100"
    );
    assert_eq!(
        lines[3]["error"],
        "not a prise chat server: it answered \"SSH-2.0-OpenSSH_9.2\""
    );
    assert!(
        lines[4]["error"].as_str().unwrap().contains("refused"),
        "{}",
        lines[4]
    );
    assert_eq!(out.status.code(), Some(1));

    // Four probes later alice has seen nothing: her next line answers her own ping.
    alice_out
        .write_all(b"{\"type\":\"ping\",\"token\":\"after\"}\n")
        .unwrap();
    let mut line = String::new();
    alice_in.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), r#"{"type":"pong","token":"after"}"#);

    // A config that gives a chat check a path or a send is refused.
    std::fs::write(
        &config,
        format!("[[check]]\nname = \"c\"\nurl = \"chat://{addr}/room\"\n"),
    )
    .unwrap();
    let out = prise()
        .args(["monitor", "--once"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let _ = server.kill();
    let _ = server.wait();
}

/// An https receiver in Python (http.server wrapped in TLS with `cert` and `key`): its port,
/// and each POSTed body as a line of its stdout.
fn https_receiver(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (Child, u16, BufReader<std::process::ChildStdout>) {
    const SCRIPT: &str = r#"
import http.server, ssl, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        print(body.decode(), flush=True)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("port", server.server_address[1], flush=True)
server.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(cert)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    (child, port, out)
}

#[test]
fn a_webhook_over_https_trusts_its_ca_and_refuses_an_unknown_certificate() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    let (mut receiver, hook, mut bodies) = https_receiver(&cert, &key);
    let closed = closed_port();
    let config = work.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[check]]
name = "gone"
url = "tcp://127.0.0.1:{closed}"
interval = "100ms"
failure_threshold = 1

[[notify]]
name = "trusted"
type = "webhook"
url = "https://127.0.0.1:{hook}/hook"
ca = "{ca}"
body = '{{"via": "trusted", "check": "{{check}}", "event": "{{event}}"}}'

[[notify]]
name = "untrusted"
type = "webhook"
url = "https://127.0.0.1:{hook}/hook"
body = '{{"via": "untrusted"}}'
"#,
            ca = cert.display()
        ),
    )
    .unwrap();
    let mut monitor = prise()
        .args(["monitor", "--no-history"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    bodies.read_line(&mut line).unwrap();
    let body: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"via": "trusted", "check": "gone", "event": "down"})
    );
    // The untrusted notifier's tries fail, each logged with its name and the certificate.
    std::thread::sleep(Duration::from_secs(4));
    let _ = monitor.kill();
    let out = monitor.wait_with_output().unwrap();
    let _ = receiver.kill();
    let _ = receiver.wait();
    let log = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        log.contains("untrusted") && log.contains("certificate"),
        "{log}"
    );
    // `ca` on an http:// webhook is a config error.
    std::fs::write(
        &config,
        format!(
            "[[check]]\nname = \"c\"\nurl = \"tcp://127.0.0.1:{closed}\"\n\n[[notify]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/\"\nca = \"{}\"\n",
            cert.display()
        ),
    )
    .unwrap();
    let out = prise()
        .args(["monitor", "--once"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`ca` is for an https:// webhook"),
        "{out:?}"
    );
}
