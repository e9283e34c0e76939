//! The FTP server against real clients over loopback: Python's ftplib (plain and TLS), curl,
//! lftp, and a raw socket for hostile and broken input.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use prise_ftp::server::{self, Config, User};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Running {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Running {
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
}

async fn start(tune: impl FnOnce(&mut Config)) -> Running {
    prise_core::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut config = Config::new(root);
    config.users = vec![User {
        name: "bob".into(),
        password: "s3cret".into(),
    }];
    config.login_delay = Duration::from_millis(300);
    tune(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(server::run(listener, config, stop.clone()));
    Running { addr, dir, stop }
}

async fn ftplib(addr: SocketAddr, cafile: Option<&Path>, work: &Path) -> serde_json::Value {
    let out = work.join("ftplib.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ftplib_client.py");
    let status = tokio::process::Command::new("python3")
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args(["bob", "s3cret"])
        .arg(cafile.map_or_else(|| "-".into(), |p| p.display().to_string()))
        .arg(&out)
        .status()
        .await
        .expect("python3");
    assert!(status.success(), "the ftplib script failed");
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn check_session(s: &serde_json::Value) {
    assert_eq!(s["pwd"], "/");
    assert_eq!(s["mkd"], "/work dir");
    assert_eq!(s["pwd_after_cwd"], "/work dir");
    assert_eq!(s["stor"], "226 Transfer complete.");
    assert_eq!(s["size"], 3 * 1024 * 1024 + 17);
    for same in [
        "retr_same",
        "rest_same",
        "appe_same",
        "rest_stor_same",
        "epsv_same",
        "port_same",
    ] {
        assert_eq!(s[same], true, "{same}");
    }
    let list: Vec<&str> = s["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(
        list[0].starts_with("-rw-r--r-- 1 ftp ftp      3145745 ") && list[0].ends_with(" data.bin"),
        "{list:?}"
    );
    assert_eq!(
        s["nlst"],
        serde_json::json!(["data.bin", "part.bin", "rest.bin"])
    );
    let mlsd = &s["mlsd"]["data.bin"];
    assert_eq!(mlsd["type"], "file");
    assert_eq!(mlsd["size"], "3145745");
    assert_eq!(mlsd["perm"], "radfw");
    assert!(s["mdtm"].as_str().unwrap().starts_with("213 20"));
    assert_eq!(s["mfmt"], "213 Modify=20200102030405; data.bin");
    assert_eq!(s["mdtm_after_mfmt"], "213 20200102030405");
    let mlst = s["mlst"].as_str().unwrap();
    assert!(
        mlst.contains(" type=file;size=3145745;modify=20200102030405;perm=radfw;UNIX.mode=0644; /work dir/data.bin"),
        "{mlst}"
    );
    assert_eq!(s["rnfr"], "350 Ready for RNTO.");
    assert_eq!(s["rnto"], "250 Rename successful.");
    assert_eq!(
        s["after_rename"],
        serde_json::json!(["data.bin", "renamed.bin", "rest.bin"])
    );
    assert_eq!(s["rmd"], "250 Remove folder operation successful.");
    let feat = s["feat"].as_str().unwrap();
    for f in [
        "EPSV",
        "EPRT",
        "MLST type*;",
        "REST STREAM",
        "SIZE",
        "MDTM",
        "UTF8",
    ] {
        assert!(feat.contains(f), "{feat}");
    }
    assert_eq!(s["syst"], "215 UNIX Type: L8");
    assert_eq!(
        s["SITE CHMOD 777 x"],
        "504 SITE commands are not supported."
    );
    assert_eq!(s["XYZZY"], "500 Unknown command.");
    assert_eq!(s["RETR ../../etc/passwd"], "550 path leads above the root.");
    assert_eq!(s["CWD ../.."], "550 path leads above the root.");
    assert_eq!(s["MODE B"], "504 Only MODE S (stream) is supported.");
    assert_eq!(s["quit"], "221 Goodbye.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_does_everything_plain_and_over_tls() {
    let plain = start(|_| {}).await;
    let seen = ftplib(plain.addr, None, plain.dir.path()).await;
    assert!(seen["welcome"]
        .as_str()
        .unwrap()
        .starts_with("220 prise ftp "));
    check_session(&seen["plain"]);
    // Nothing left behind: no temporary files.
    assert_eq!(std::fs::read_dir(plain.root()).unwrap().count(), 0);

    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    let tls = prise_core::tls::ServerTls::from_pem_files(&cert, &key).unwrap();
    let secure = start(move |c| c.tls = Some(tls)).await;
    let seen = ftplib(secure.addr, Some(&cert), work.path()).await;
    assert_eq!(
        seen["plain_login"],
        "530 Use AUTH TLS first: passwords are not sent in the clear here."
    );
    check_session(&seen["tls"]);
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-s", "-S", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl")
}

/// Random bytes of `len`.
fn noise(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(len as u64);
    (0..len).map(|_| rng.u8(..)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_downloads_uploads_and_resumes_every_way() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    let tls = prise_core::tls::ServerTls::from_pem_files(&cert, &key).unwrap();
    let server = start(move |c| {
        c.tls = Some(tls);
        c.anonymous = true;
    })
    .await;
    let body = noise(5_000_000);
    std::fs::create_dir(server.root().join("pub")).unwrap();
    std::fs::write(server.root().join("pub/file.bin"), &body).unwrap();
    let base = format!("ftp://127.0.0.1:{}", server.addr.port());
    let secure = [
        "--ssl-reqd",
        "--cacert",
        cert.to_str().unwrap(),
        "-u",
        "bob:s3cret",
    ];
    let got = work.path().join("got.bin");
    let got_s = got.to_str().unwrap();
    let url = format!("{base}/pub/file.bin");
    // Active mode over TLS is broken in curl 7.87 and 7.88 (curl/curl#10666; ftplib covers
    // it): curl's active mode runs as an anonymous user, in the clear.
    for mode in [&[][..], &["--disable-epsv"], &["--ftp-port", "127.0.0.1"]] {
        let mut args = if mode.len() == 2 {
            vec![]
        } else {
            secure.to_vec()
        };
        args.extend_from_slice(mode);
        args.extend_from_slice(&["-o", got_s, &url]);
        let out = curl(&args);
        assert!(out.status.success(), "{mode:?}: {out:?}");
        assert!(
            std::fs::read(&got).unwrap() == body,
            "{mode:?}: bytes differ"
        );
    }
    // Resume a download: the first 1,000,000 bytes are already here.
    std::fs::write(&got, &body[..1_000_000]).unwrap();
    let mut args = secure.to_vec();
    args.extend_from_slice(&["-C", "-", "-o", got_s, &url]);
    let out = curl(&args);
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::read(&got).unwrap() == body,
        "resumed download differs"
    );

    // Upload into a new folder, then resume an upload of which the server has a part.
    let local = work.path().join("up.bin");
    std::fs::write(&local, &body).unwrap();
    let up = format!("{base}/new/dir/up.bin");
    let mut args = secure.to_vec();
    args.extend_from_slice(&["--ftp-create-dirs", "-T", local.to_str().unwrap(), &up]);
    let out = curl(&args);
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(server.root().join("new/dir/up.bin")).unwrap() == body);
    std::fs::write(server.root().join("new/dir/part.bin"), &body[..777_777]).unwrap();
    let mut args = secure.to_vec();
    let part = format!("{base}/new/dir/part.bin");
    args.extend_from_slice(&["-C", "-", "-T", local.to_str().unwrap(), &part]);
    let out = curl(&args);
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::read(server.root().join("new/dir/part.bin")).unwrap() == body,
        "resumed upload differs"
    );

    // Listings: LIST and NLST.
    let mut args = secure.to_vec();
    let dir = format!("{base}/new/dir/");
    args.push(&dir);
    let listing = String::from_utf8(curl(&args).stdout).unwrap();
    let lines: Vec<&str> = listing.lines().map(str::trim_end).collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(
        lines[0].starts_with("-rw-r--r-- 1 ftp ftp      5000000 ")
            && lines[0].ends_with(" part.bin"),
        "{listing}"
    );
    assert!(lines[1].ends_with(" up.bin"), "{listing}");
    args.insert(0, "--list-only");
    let names = String::from_utf8(curl(&args).stdout).unwrap();
    assert_eq!(
        names.lines().map(str::trim_end).collect::<Vec<_>>(),
        ["part.bin", "up.bin"]
    );

    // Without TLS a named user is refused; anonymous users read but never write.
    let out = curl(&["-u", "bob:s3cret", &url, "-o", "/dev/null"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Access denied: 530"), "{stderr}");
    let out = curl(&["-T", local.to_str().unwrap(), &format!("{base}/anon.bin")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("550"),
        "{out:?}"
    );
    assert!(!server.root().join("anon.bin").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_mirrors_a_tree() {
    let server = start(|c| c.anonymous = true).await;
    let root = server.root();
    let mut files = Vec::new();
    for (i, path) in [
        "a.txt",
        "docs/b.md",
        "docs/deep/c.bin",
        "docs/deep/er/d e.bin",
        "empty/",
    ]
    .iter()
    .enumerate()
    {
        let full = root.join(path);
        if path.ends_with('/') {
            std::fs::create_dir_all(&full).unwrap();
            continue;
        }
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        let body = noise(1000 * i * i + 3);
        std::fs::write(&full, &body).unwrap();
        files.push((path.to_string(), body));
    }
    let out_dir = server.dir.path().join("mirror");
    let script = format!(
        "set ftp:ssl-allow no; set net:max-retries 1; open -u anonymous,me@example.org ftp://127.0.0.1:{}; mirror / {}",
        server.addr.port(),
        out_dir.display()
    );
    let out = tokio::process::Command::new("lftp")
        .args(["-c", &script])
        .output()
        .await
        .expect("lftp (apt-get install lftp)");
    assert!(out.status.success(), "{out:?}");
    for (path, body) in &files {
        assert!(
            std::fs::read(out_dir.join(path)).unwrap() == *body,
            "{path} differs"
        );
    }
    assert!(out_dir.join("empty").is_dir());
}

/// A control connection driven by hand.
struct Ctrl {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Ctrl {
    async fn connect(addr: SocketAddr) -> Self {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut c = Self {
            reader: BufReader::new(r),
            writer: w,
        };
        assert!(c.reply().await.starts_with("220 "));
        c
    }

    /// One whole reply (lines joined by `\n`), or "" when the server closed.
    async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("no reply within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return text;
            }
            let line = line.trim_end();
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line);
            let b = line.as_bytes();
            if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && b.get(3) != Some(&b'-') {
                return text;
            }
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    async fn login(&mut self, user: &str, password: &str) {
        assert!(self.cmd(&format!("USER {user}")).await.starts_with("331 "));
        assert_eq!(
            self.cmd(&format!("PASS {password}")).await,
            "230 Login successful."
        );
    }

    /// PASV and a connection to the port it names.
    async fn pasv(&mut self) -> TcpStream {
        let reply = self.cmd("PASV").await;
        let addr = prise_ftp::codec::parse_pasv(&reply).unwrap();
        TcpStream::connect(addr).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_and_commands_get_5xx_and_touch_nothing() {
    let server = start(|c| c.anonymous = true).await;
    let root = server.root();
    std::fs::create_dir(root.join("pub")).unwrap();
    std::fs::write(root.join("pub/file.txt"), "inside").unwrap();
    let outside = server.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "outside").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret", root.join("pub/rel")).unwrap();

    let mut c = Ctrl::connect(server.addr).await;
    assert_eq!(
        c.cmd("RETR pub/file.txt").await,
        "530 Please log in with USER and PASS."
    );
    // Wrong passwords are slowed down; the third ends the connection.
    for attempt in 1..=3 {
        assert!(c.cmd("USER bob").await.starts_with("331"));
        let started = Instant::now();
        let reply = c.cmd("PASS wrong").await;
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "answered at once"
        );
        if attempt < 3 {
            assert_eq!(reply, "530 Login incorrect.");
        } else {
            assert_eq!(reply, "421 Too many failed logins; closing.");
            assert_eq!(c.reply().await, "", "closed");
        }
    }

    let mut c = Ctrl::connect(server.addr).await;
    c.login("bob", "s3cret").await;
    for (line, want) in [
        ("RETR ../../etc/passwd", "550 path leads above the root."),
        ("RETR /etc/passwd", "550 No such file or folder."),
        (
            "RETR %2e%2e/%2e%2e/etc/passwd",
            "550 No such file or folder.",
        ),
        (
            "RETR ..\\..\\etc\\passwd",
            "550 control character or backslash in the path.",
        ),
        (
            "RETR out/secret",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "RETR pub/rel",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "SIZE out/secret",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "CWD out",
            "550 Permission denied: the path leads outside the folder.",
        ),
        ("CWD ../..", "550 path leads above the root."),
        ("STOR ../evil", "550 path leads above the root."),
        (
            "STOR out/evil",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "APPE out/secret",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "DELE out/secret",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "MKD out/evil",
            "550 Permission denied: the path leads outside the folder.",
        ),
        (
            "MFMT 20200101000000 out/secret",
            "550 Permission denied: the path leads outside the folder.",
        ),
        ("RMD /", "550 Not allowed on the root folder."),
        (
            "PORT 10,0,0,1,19,137",
            "501 The data address must be your own (no FTP bounce).",
        ),
        (
            "PORT 127,0,0,1,0,25",
            "501 The data port must be 1024 or above.",
        ),
        (
            "EPRT |1|192.0.2.7|5000|",
            "501 The data address must be your own (no FTP bounce).",
        ),
        (
            "EPRT |7|x|5000|",
            "522 Network protocol not supported, use (1,2)",
        ),
        (
            "PORT 1,2,3",
            "501 PORT wants six numbers: h1,h2,h3,h4,p1,p2.",
        ),
        (
            "RETR pub/file.txt",
            "425 Use PORT, EPRT, PASV or EPSV first.",
        ),
        ("REST abc", "501 REST wants a byte offset."),
        ("SITE EXEC /bin/sh", "504 SITE commands are not supported."),
        ("STOU", "502 STOU is not implemented."),
        ("FOO", "500 Unknown command."),
        ("TYPE E", "504 TYPE is I or A."),
        ("RNTO x", "503 RNFR first."),
        ("AUTH TLS", "502 TLS is not configured on this server."),
    ] {
        assert_eq!(c.cmd(line).await, want, "{line}");
    }
    c.send_raw(b"RETR a\0b\r\n").await;
    assert_eq!(c.reply().await, "500 control character in the command");
    c.send_raw(b"RETR \xff\xfe\r\n").await;
    assert_eq!(c.reply().await, "500 the argument is not UTF-8");
    // RNFR then a hostile RNTO: nothing moves.
    assert_eq!(c.cmd("RNFR pub/file.txt").await, "350 Ready for RNTO.");
    assert_eq!(
        c.cmd("RNTO ../../tmp/stolen").await,
        "550 path leads above the root."
    );
    // REST past the end.
    let _data = c.pasv().await;
    assert_eq!(
        c.cmd("REST 99").await,
        "350 Restarting at 99. Send STOR or RETR."
    );
    assert_eq!(
        c.cmd("RETR pub/file.txt").await,
        "554 REST 99 is past the end (6 bytes)."
    );
    // An oversized line: told, then closed.
    c.send_raw(&vec![b'A'; 10_000]).await;
    c.send_raw(b"\r\n").await;
    assert_eq!(c.reply().await, "500 Command line too long; closing.");
    assert_eq!(c.reply().await, "");

    // Anonymous users read and never write.
    let mut a = Ctrl::connect(server.addr).await;
    a.login("anonymous", "me@example.org").await;
    let mut data = a.pasv().await;
    assert!(a.cmd("RETR pub/file.txt").await.starts_with("150 "));
    let mut got = String::new();
    data.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "inside");
    assert_eq!(a.reply().await, "226 Transfer complete.");
    for line in [
        "STOR x",
        "APPE pub/file.txt",
        "DELE pub/file.txt",
        "MKD d",
        "RNFR pub/file.txt",
    ] {
        assert_eq!(a.cmd(line).await, "550 Permission denied.", "{line}");
    }

    // The tree is as it was: nothing written, moved or removed, inside or out.
    let mut names: Vec<String> = walk(&server.dir.path().to_path_buf());
    names.sort();
    assert_eq!(
        names,
        [
            "outside",
            "outside/secret",
            "root",
            "root/out",
            "root/pub",
            "root/pub/file.txt",
            "root/pub/rel"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).unwrap(),
        "outside"
    );
}

/// Every path under `dir`, relative, without following symlinks.
fn walk(dir: &PathBuf) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

/// Files under the server's root (temporary upload files included).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names = walk(&dir.to_path_buf());
    names.sort();
    names
}

/// Wait up to 5 s for `dir` to hold exactly `want`.
async fn settle(dir: &Path, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = files_in(dir);
        if now == want || Instant::now() > deadline {
            assert_eq!(now, want);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_vanishing_and_aborting_peers_leave_nothing_half_done() {
    let server = start(|c| {
        c.idle_timeout = Duration::from_millis(400);
        c.data_timeout = Duration::from_millis(500);
    })
    .await;
    let root = server.root();
    let big = noise(64 * 1024 * 1024);
    std::fs::write(root.join("big.bin"), &big).unwrap();

    // Silent on the control connection: told and closed.
    let mut c = Ctrl::connect(server.addr).await;
    assert_eq!(
        c.reply().await,
        "421 Timeout: closing the control connection."
    );
    assert_eq!(c.reply().await, "");

    // Nobody connects to the passive port.
    let mut c = Ctrl::connect(server.addr).await;
    c.login("bob", "s3cret").await;
    let reply = c.cmd("PASV").await;
    assert!(reply.starts_with("227 "), "{reply}");
    assert_eq!(
        c.cmd("RETR big.bin").await,
        "425 Nobody connected to the passive port."
    );

    // Someone else connects to the passive port first (another local address): refused, and
    // the client's own connection still gets the data.
    let reply = c.cmd("PASV").await;
    let port_addr = prise_ftp::codec::parse_pasv(&reply).unwrap();
    let thief = tokio::net::TcpSocket::new_v4().unwrap();
    thief.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut thief = thief.connect(port_addr.into()).await.unwrap();
    let mut data = TcpStream::connect(port_addr).await.unwrap();
    c.send_raw(b"RETR big.bin\r\n").await;
    assert!(c.reply().await.starts_with("150 "));
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen).await;
    assert!(stolen.is_empty(), "the other address got data");
    let mut got = Vec::with_capacity(big.len());
    data.read_to_end(&mut got).await.unwrap();
    assert!(got == big, "download differs");
    assert_eq!(c.reply().await, "226 Transfer complete.");

    // ABOR in the middle of a download: 426 then 226, and the session goes on.
    let mut data = c.pasv().await;
    c.send_raw(b"RETR big.bin\r\n").await;
    assert!(c.reply().await.starts_with("150 "));
    let mut some = vec![0u8; 1 << 20];
    data.read_exact(&mut some).await.unwrap();
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n").await;
    assert_eq!(c.reply().await, "426 Transfer aborted.");
    assert_eq!(c.reply().await, "226 ABOR successful.");
    assert_eq!(c.cmd("NOOP").await, "200 NOOP ok.");

    // ABOR in the middle of an upload: nothing is kept.
    let mut data = c.pasv().await;
    c.send_raw(b"STOR up.bin\r\n").await;
    assert!(c.reply().await.starts_with("150 "));
    data.write_all(&big[..4 << 20]).await.unwrap();
    c.send_raw(b"ABOR\r\n").await;
    assert_eq!(c.reply().await, "426 Transfer aborted.");
    assert_eq!(c.reply().await, "226 ABOR successful.");
    drop(data);
    settle(&root, &["big.bin"]).await;

    // An upload that stalls: 426 after the data timeout, nothing kept.
    let mut data = c.pasv().await;
    c.send_raw(b"STOR stalled.bin\r\n").await;
    assert!(c.reply().await.starts_with("150 "));
    data.write_all(&big[..100_000]).await.unwrap();
    let reply = c.reply().await;
    assert_eq!(
        reply,
        "426 Data connection broken: the peer stalled; transfer aborted."
    );
    settle(&root, &["big.bin"]).await;

    // The client vanishes mid-upload (control first, then data): nothing is kept, though the
    // data connection ends with a plain close that would otherwise mean "end of file".
    let mut data = c.pasv().await;
    c.send_raw(b"STOR vanished.bin\r\n").await;
    assert!(c.reply().await.starts_with("150 "));
    data.write_all(&big[..2 << 20]).await.unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(data);
    settle(&root, &["big.bin"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_ports_public_address_and_ipv6() {
    // A server behind NAT: PASV names the public address and a port from the range.
    let server = start(|c| {
        c.public_ip = Some("203.0.113.5".parse().unwrap());
        c.passive_ports = Some(50_100..=50_120);
    })
    .await;
    std::fs::write(server.root().join("f.txt"), "natted").unwrap();
    let mut c = Ctrl::connect(server.addr).await;
    c.login("bob", "s3cret").await;
    for _ in 0..5 {
        let reply = c.cmd("PASV").await;
        let named = prise_ftp::codec::parse_pasv(&reply).unwrap();
        assert_eq!(named.ip().to_string(), "203.0.113.5", "{reply}");
        assert!((50_100..=50_120).contains(&named.port()), "{reply}");
        let reply = c.cmd("EPSV").await;
        let port = prise_ftp::codec::parse_epsv(&reply).unwrap();
        assert!((50_100..=50_120).contains(&port), "{reply}");
    }
    // A client that (like ours and curl) connects to the control address still gets the data.
    let reply = c.cmd("PASV").await;
    let port = prise_ftp::codec::parse_pasv(&reply).unwrap().port();
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.send_raw(b"RETR f.txt\r\n").await;
    assert!(c.reply().await.starts_with("150 "));
    let mut got = String::new();
    data.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "natted");
    assert_eq!(c.reply().await, "226 Transfer complete.");

    // IPv6: ftplib switches to EPSV and EPRT on its own.
    prise_core::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().to_owned());
    config.users = vec![User {
        name: "bob".into(),
        password: "s3cret".into(),
    }];
    let listener = match TcpListener::bind("[::1]:0").await {
        Ok(l) => l,
        Err(e) => panic!("IPv6 loopback is needed for this test: {e}"),
    };
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(server::run(listener, config, stop.clone()));
    let script = r#"
import ftplib, io, sys
ftp = ftplib.FTP()
ftp.connect("::1", int(sys.argv[1]), timeout=10)
ftp.login("bob", "s3cret")
ftp.storbinary("STOR six.txt", io.BytesIO(b"over ipv6"))
out = []
for passive in (True, False):
    ftp.set_pasv(passive)
    buf = io.BytesIO()
    ftp.retrbinary("RETR six.txt", buf.write)
    out.append(buf.getvalue().decode())
print(" ".join(out))
try:
    print(ftp.sendcmd("PASV"))
except ftplib.Error as e:
    print(e)
ftp.quit()
"#;
    let out = tokio::process::Command::new("python3")
        .args(["-c", script, &addr.port().to_string()])
        .output()
        .await
        .unwrap();
    stop.cancel();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("over ipv6 over ipv6"), "{out:?}");
    assert_eq!(
        lines.next(),
        Some("425 PASV is for IPv4; use EPSV."),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_over_explicit_tls_mirrors_and_uploads() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    let tls = prise_core::tls::ServerTls::from_pem_files(&cert, &key).unwrap();
    let server = start(move |c| c.tls = Some(tls)).await;
    let body = noise(2_000_003);
    std::fs::create_dir(server.root().join("tree")).unwrap();
    std::fs::write(server.root().join("tree/a.bin"), &body).unwrap();
    let local = work.path().join("local.bin");
    std::fs::write(&local, &body[..777_777]).unwrap();
    let out_dir = work.path().join("mirror");
    let script = format!(
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file {}; \
         set net:max-retries 1; open -u bob,s3cret ftp://127.0.0.1:{}; \
         mirror /tree {}; put {local} -o /tree/up1.bin; put {local} -o /tree/up2.bin; \
         put {local} -o /tree/up.bin",
        cert.display(),
        server.addr.port(),
        out_dir.display(),
        local = local.display()
    );
    let out = tokio::process::Command::new("lftp")
        .args(["-d", "-c", &script])
        .output()
        .await
        .expect("lftp (apt-get install lftp)");
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(out_dir.join("a.bin")).unwrap() == body);
    assert!(std::fs::read(server.root().join("tree/up.bin")).unwrap() == body[..777_777]);
    // Every transfer went through the first time, and every TLS session ended properly: lftp
    // retries a failed upload by itself, which would hide a data connection cut short.
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches("<--- 226 Transfer complete.").count(),
        4,
        "{log}"
    );
    assert!(!log.contains("<--- 426"), "{log}");
    assert!(!log.contains("non-properly terminated"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_quit_auth_and_transfer_limits() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = prise_test_support::cert::openssl(work.path());
    let tls = prise_core::tls::ServerTls::from_pem_files(&cert, &key).unwrap();
    let server = start(move |c| {
        c.tls = Some(tls);
        c.anonymous = true;
        c.max_transfers = 1;
        c.data_timeout = Duration::from_millis(800);
    })
    .await;
    let root = server.root();
    std::fs::write(root.join("keep.txt"), "0123456789").unwrap();
    let big = noise(32 << 20);
    std::fs::write(root.join("big.bin"), &big).unwrap();

    // Named users need TLS here; anonymous reads in the clear.
    let mut a = Ctrl::connect(server.addr).await;
    a.login("anonymous", "x").await;
    // REST + STOR by anonymous: refused before anything is opened; nothing is made.
    assert_eq!(
        a.cmd("REST 5").await,
        "350 Restarting at 5. Send STOR or RETR."
    );
    assert_eq!(a.cmd("STOR new.txt").await, "550 Permission denied.");
    assert!(!root.join("new.txt").exists());

    // Only one transfer at a time on this server: a second gets 425 while the first runs.
    let mut data = a.pasv().await;
    a.send_raw(b"RETR big.bin\r\n").await;
    assert!(a.reply().await.starts_with("150 "));
    let mut b = Ctrl::connect(server.addr).await;
    b.login("anonymous", "x").await;
    let _b_data = b.pasv().await;
    assert_eq!(
        b.cmd("RETR keep.txt").await,
        "425 Too many transfers at once; try again shortly."
    );
    // QUIT while the download runs: it ends first (226), then the goodbye.
    a.send_raw(b"QUIT\r\n").await;
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert!(got == big, "the download was cut by QUIT");
    assert_eq!(a.reply().await, "226 Transfer complete.");
    assert_eq!(a.reply().await, "221 Goodbye.");
    // The slot is free again.
    let mut data = b.pasv().await;
    assert!(b.cmd("RETR keep.txt").await.starts_with("150 "));
    let mut text = String::new();
    data.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "0123456789");
    assert_eq!(b.reply().await, "226 Transfer complete.");

    // Commands sent after AUTH TLS but before the handshake (an injection: they would run
    // inside TLS as if protected) end the session instead of the handshake.
    let mut c = Ctrl::connect(server.addr).await;
    c.send_raw(b"NOOP\r\nAUTH TLS\r\nUSER anonymous\r\n").await;
    assert_eq!(c.reply().await, "200 NOOP ok.");
    assert_eq!(c.reply().await, "234 Proceed with negotiation.");
    assert_eq!(c.reply().await, "", "closed, no TLS");
}

/// The shared hostile-path table (prise-test-support): a STOR that climbs is refused, any
/// other is refused or lands inside under exactly its name (a leading `/` is the root), and
/// nothing appears outside the folder. Planted specials (a FIFO, a link to /dev/zero, links
/// out) are refused at once by RETR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_name_of_the_hostile_table_and_every_special_is_refused_or_kept_inside() {
    use prise_test_support::hostile::{self, Outside};
    let server = start(|_| {}).await;
    let root = server.root();
    let specials = hostile::plant_specials(&root, &server.dir.path().join("outside"));
    let outside = Outside::watch(server.dir.path(), &root);
    let mut kept = 0;
    for h in hostile::names() {
        // A line end ends an FTP command, so a name cannot hold one: what follows it is
        // another command (tested with the other hostile commands).
        if h.name.contains(['\r', '\n']) {
            continue;
        }
        let mut c = Ctrl::connect(server.addr).await;
        c.login("bob", "s3cret").await;
        let mut data = c.pasv().await;
        let mut line = b"STOR ".to_vec();
        line.extend_from_slice(h.name.as_bytes());
        line.extend_from_slice(b"\r\n");
        c.send_raw(&line).await;
        let reply = c.reply().await;
        if reply.starts_with("150 ") {
            assert!(!h.climbs(), "STOR {h:?} was taken");
            data.write_all(b"abc").await.unwrap();
            drop(data);
            let done = c.reply().await;
            if done.starts_with("226 ") {
                assert_eq!(
                    std::fs::read(root.join(h.inside())).unwrap(),
                    b"abc",
                    "{h:?}"
                );
                kept += 1;
            } else {
                assert!(
                    done.starts_with('4') || done.starts_with('5'),
                    "{h:?}: {done}"
                );
            }
        } else {
            assert!(reply.starts_with('5'), "STOR {h:?}: {reply}");
        }
        outside.assert_untouched();
    }
    assert!(
        kept > 0,
        "the harmless names (look-alikes, devices) are kept"
    );

    let mut c = Ctrl::connect(server.addr).await;
    c.login("bob", "s3cret").await;
    for name in &specials.names {
        let mut data = c.pasv().await;
        let started = Instant::now();
        let reply = c.cmd(&format!("RETR {name}")).await;
        assert!(reply.starts_with("550 "), "RETR {name}: {reply}");
        assert!(started.elapsed() < Duration::from_secs(5), "RETR {name}");
        // After a 550 nothing comes on the data connection (it stays open for the next
        // command, so a short look).
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_millis(200), data.read_to_end(&mut got)).await;
        assert!(got.is_empty(), "RETR {name} sent data");
    }
    outside.assert_untouched();
}
