//! `prise http serve` as a user runs it: the announce line, files for curl, one access-log line
//! per request on stderr, and a clean exit on SIGTERM.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufReader, Read};
use std::process::{Command, Stdio};

use prise_test_support::{announce, htpasswd};

fn prise() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prise"))
}

#[test]
fn http_serve_answers_curl_and_logs_each_request() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hello.txt"), "bonjour\n").unwrap();
    let mut server = prise()
        .args(["http", "serve", "--listen", "127.0.0.1:0"])
        .arg(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = announce::read(&mut BufReader::new(server.stdout.take().unwrap()), "http");
    let get = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--max-time", "10"])
            .arg(format!("http://{addr}{path}"))
            .output()
            .expect("curl is needed (apt-get install curl; .ci/run does)");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(get("/hello.txt"), "bonjour\n\n200");
    assert!(get("/nope").ends_with("\n404"));
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.wait().unwrap().success(), "SIGTERM: exit 0");
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("GET /")).collect();
    assert_eq!(lines.len(), 2, "one line per request: {log}");
    assert!(
        lines[0].contains("127.0.0.1:") && lines[0].contains("GET /hello.txt 200 8"),
        "{log}"
    );
    assert!(lines[1].contains("GET /nope 404"), "{log}");
}

#[test]
fn http_serve_takes_every_setting_from_a_config_file() {
    let work = tempfile::tempdir().unwrap();
    let www = work.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "bonjour\n").unwrap();
    let config = work.path().join("http.toml");
    std::fs::write(
        &config,
        format!(
            "root = {:?}\nlisten = \"127.0.0.1:0\"\nupload = true\nauth = [\"ann:s3cret\"]\n\
             auth_uploads_only = true\nheader = [\"X-Served-By: prise\"]\nmax-upload = \"1K\"\n",
            www.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut server = prise()
        .args(["-q", "http", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = announce::read(&mut BufReader::new(server.stdout.take().unwrap()), "http");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-i", "--max-time", "10"])
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = |path: &str| format!("http://{addr}{path}");
    let read = curl(&[&url("/hello.txt")]);
    assert!(read.starts_with("HTTP/1.1 200"), "public reads: {read}");
    assert!(read.to_lowercase().contains("x-served-by: prise"), "{read}");
    let upload = work.path().join("up.txt");
    std::fs::write(&upload, "new").unwrap();
    let anonymous = curl(&["-T", upload.to_str().unwrap(), &url("/up.txt")]);
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let user = curl(&[
        "-u",
        "ann:s3cret",
        "-T",
        upload.to_str().unwrap(),
        &url("/up.txt"),
    ]);
    assert!(user.contains("HTTP/1.1 201"), "{user}");
    assert_eq!(std::fs::read_to_string(www.join("up.txt")).unwrap(), "new");
    std::fs::write(&upload, vec![b'x'; 2048]).unwrap();
    let big = curl(&[
        "-u",
        "ann:s3cret",
        "-T",
        upload.to_str().unwrap(),
        &url("/big.txt"),
    ]);
    assert!(
        big.contains("HTTP/1.1 413"),
        "max-upload from the file: {big}"
    );
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn sighup_reads_the_htpasswd_file_again_and_a_broken_one_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hello.txt"), "bonjour\n").unwrap();
    let users = work.path().join("users");
    std::fs::write(&users, format!("{}\n", htpasswd::line("bob", "b-pass"))).unwrap();
    let mut server = prise()
        .args(["http", "serve", "--listen", "127.0.0.1:0", "--htpasswd"])
        .arg(&users)
        .arg(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = announce::read(&mut BufReader::new(server.stdout.take().unwrap()), "http");
    let status = |user: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
                "-u",
                user,
            ])
            .arg(format!("http://{addr}/hello.txt"))
            .output()
            .expect("curl");
        String::from_utf8(out.stdout).unwrap()
    };
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let settles = |user: &str, want: &str| {
        for _ in 0..50 {
            if status(user) == want {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    assert_eq!(status("bob:b-pass"), "200");
    assert_eq!(status("carol:c-pass"), "401");
    std::fs::write(&users, format!("{}\n", htpasswd::line("carol", "c-pass"))).unwrap();
    hup();
    assert!(settles("carol:c-pass", "200"), "carol is in after SIGHUP");
    assert_eq!(status("bob:b-pass"), "401", "bob is out");
    // A broken file is refused: carol stays.
    std::fs::write(&users, "carol:$apr1$old$md5hash\n").unwrap();
    hup();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(status("carol:c-pass"), "200");
    server.kill().unwrap();
    let _ = server.wait();
    let mut log = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("users reloaded"), "{log}");
    assert!(log.contains("users not reloaded"), "{log}");
}

/// Credentials (HTTP Basic) never reach the traffic log; the rest of the request does.
#[test]
fn trace_file_hides_authorization() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("hello.txt"), "bonjour\n").unwrap();
    let users = work.path().join("users");
    std::fs::write(&users, format!("{}\n", htpasswd::line("bob", "b-pass"))).unwrap();
    let trace = work.path().join("trace.log");
    let mut server = prise()
        .arg("--trace-file")
        .arg(&trace)
        .args(["http", "serve", "--listen", "127.0.0.1:0", "--htpasswd"])
        .arg(&users)
        .arg(work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = announce::read(&mut BufReader::new(server.stdout.take().unwrap()), "http");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-u", "bob:b-pass"])
        .arg(format!("http://{addr}/hello.txt"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bonjour\n");
    let ok = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert_eq!(server.wait().unwrap().code(), Some(0));
    let log = std::fs::read_to_string(&trace).unwrap();
    // curl sends `Authorization: Basic Ym9iOmItcGFzcw==` (bob:b-pass).
    assert!(!log.contains("Ym9iOmItcGFzcw"), "{log}");
    assert!(log.contains("Authorization: ***"), "{log}");
    assert!(log.contains("GET /hello.txt HTTP/1.1"), "{log}");
}
