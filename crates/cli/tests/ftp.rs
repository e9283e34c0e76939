//! `prise ftp` as a user runs it: our client against vsftpd (ls, get, put, resume, active
//! mode), and against our own server over TLS with a pinned certificate.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use prise_test_support::announce;

fn prise() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prise"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    prise().args(args).current_dir(dir).output().unwrap()
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// The local user vsftpd lets in: root is in /etc/ftpusers, so uploads need another one. Made
/// here when missing (the tests run as root in CI).
const USER: &str = "prise-ftp-test";
const PASSWORD: &str = "Pr1se-test";

fn ensure_user() {
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let made = Command::new("useradd")
            .args(["-M", "-s", "/bin/bash", USER])
            .status()
            .expect("useradd (the vsftpd test needs root to make its user)");
        assert!(
            made.success(),
            "useradd {USER} failed: run as root (CI does)"
        );
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    std::io::Write::write_all(
        chpasswd.stdin.as_mut().unwrap(),
        format!("{USER}:{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(chpasswd.wait().unwrap().success());
    // vsftpd changes to the user's home before the local_root.
    let home = Path::new("/home").join(USER);
    std::fs::create_dir_all(&home).unwrap();
    chown(&home);
}

fn chown(path: &Path) {
    let ok = Command::new("chown").arg(USER).arg(path).status().unwrap();
    assert!(ok.success());
}

struct Vsftpd {
    child: Child,
    port: u16,
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// vsftpd run standalone on a free port, with a config in `dir`, serving `dir/home`.
fn vsftpd(dir: &Path) -> Vsftpd {
    let binary = ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("vsftpd (apt-get install vsftpd; .ci/run does)");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    chown(&dir.join("home"));
    let config = dir.join("vsftpd.conf");
    std::fs::write(
        &config,
        format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             seccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\nsecure_chroot_dir={empty}\n\
             anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_root={home}\n\
             pam_service_name=vsftpd\nxferlog_enable=NO\nconnect_from_port_20=NO\n",
            empty = dir.join("empty").display(),
            home = dir.join("home").display()
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed and waited for on drop, whatever happens next.
    let server = Vsftpd { child, port };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("vsftpd did not start");
}

#[test]
fn our_client_against_vsftpd_lists_gets_puts_and_resumes() {
    ensure_user();
    let work = tempfile::tempdir().unwrap();
    // vsftpd refuses a world-writable chroot and needs to reach the home: keep 0755.
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let server = vsftpd(work.path());
    let local = work.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let body = noise(6_000_000, 1);
    std::fs::write(local.join("data.bin"), &body).unwrap();
    let base = format!("ftp://{USER}:{PASSWORD}@127.0.0.1:{}", server.port);

    // put, then ls sees it with its size.
    let out = run(&["ftp", "put", "data.bin", &format!("{base}/")], &local);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("uploaded data.bin: 6000000 bytes in "),
        "{out:?}"
    );
    assert!(std::fs::read(work.path().join("home/data.bin")).unwrap() == body);
    let out = run(&["ftp", "ls", "--json", &format!("{base}/")], &local);
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{"name": "data.bin", "type": "file", "size": 6_000_000, "modified": null}])
    );

    // get, passive and active.
    for mode in [&[][..], &["--active"]] {
        let mut args = vec!["ftp", "get", "-o", "copy.bin"];
        args.extend_from_slice(mode);
        let url = format!("{base}/data.bin");
        args.push(&url);
        let out = run(&args, &local);
        assert!(out.status.success(), "{mode:?}: {out:?}");
        assert!(
            std::fs::read(local.join("copy.bin")).unwrap() == body,
            "{mode:?}"
        );
        std::fs::remove_file(local.join("copy.bin")).unwrap();
    }

    // A download cut short left copy.bin.part: the next get resumes it.
    std::fs::write(local.join("copy.bin.part"), &body[..2_500_000]).unwrap();
    let out = run(
        &["ftp", "get", "-o", "copy.bin", &format!("{base}/data.bin")],
        &local,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resuming copy.bin.part at byte 2500000"),
        "{out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": 3500000 bytes in "),
        "{out:?}"
    );
    assert!(std::fs::read(local.join("copy.bin")).unwrap() == body);
    assert!(!local.join("copy.bin.part").exists());

    // An upload cut short: put -c sends only the rest.
    let part = work.path().join("home/half.bin");
    std::fs::write(&part, &body[..1_000_000]).unwrap();
    chown(&part);
    let out = run(
        &["ftp", "put", "-c", "data.bin", &format!("{base}/half.bin")],
        &local,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": 5000000 bytes in "),
        "{out:?}"
    );
    assert!(std::fs::read(&part).unwrap() == body);

    // A missing file and a wrong password: clear errors, non-zero exits, nothing written.
    let out = run(&["ftp", "get", &format!("{base}/nope.bin")], &local);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("550"),
        "{out:?}"
    );
    assert!(!local.join("nope.bin").exists());
    let out = run(
        &[
            "ftp",
            "ls",
            &format!("ftp://{USER}:wrong@127.0.0.1:{}/", server.port),
        ],
        &local,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("530"),
        "{out:?}"
    );
}

#[test]
fn our_client_and_server_over_tls_with_a_pinned_certificate() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut server = prise()
        .args([
            "ftp",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-self-signed",
        ])
        .args(["--user", "alice:wonder land"])
        .arg(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let (mut fingerprint, mut addr) = (String::new(), String::new());
    for _ in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if let Some(f) = line.trim().strip_prefix("ftp certificate ") {
            fingerprint = f.to_owned();
        } else if let Some(a) = line.trim().strip_prefix("ftp listening on ") {
            addr = a.to_owned();
        }
    }
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    let local = work.path().join("local");
    std::fs::create_dir(&local).unwrap();
    let body = noise(3_000_000, 2);
    std::fs::write(local.join("s e c.bin"), &body).unwrap();
    let base = format!("ftp://alice@{addr}");
    let pinned = |args: &[&str]| {
        prise()
            .args(args)
            .args(["--fingerprint", &fingerprint])
            // A loaded CI machine (every test binary at once, debug TLS) can take longer than
            // the default 10 s for 3 MB; the test is about the pinned certificate.
            .args(["--timeout", "60s"])
            .env("PRISE_FTP_PASSWORD", "wonder land")
            .current_dir(&local)
            .output()
            .unwrap()
    };
    let out = pinned(&["ftp", "put", "s e c.bin", &format!("{base}/")]);
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(root.join("s e c.bin")).unwrap() == body);
    let out = pinned(&["ftp", "ls", &format!("{base}/")]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("       3000000  20"),
        "size and date: {text}"
    );
    assert!(text.trim_end().ends_with("s e c.bin"), "{text}");
    let trace = work.path().join("trace.log");
    let out = pinned(&[
        "--trace-file",
        trace.to_str().unwrap(),
        "ftp",
        "get",
        "-o",
        "back.bin",
        &format!("{base}/s%20e%20c.bin"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read(local.join("back.bin")).unwrap() == body);
    // The traffic log shows the commands after TLS, with the password hidden.
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(log.contains("PASS ***"), "{log}");
    assert!(log.contains("RETR s e c.bin"), "{log}");
    assert!(
        !log.contains("wonder land"),
        "the password leaked into the trace"
    );

    // Without TLS the server refuses the login; a wrong fingerprint is refused by us.
    let out = prise()
        .args(["ftp", "ls", &format!("{base}/")])
        .env("PRISE_FTP_PASSWORD", "wonder land")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AUTH TLS"),
        "{out:?}"
    );
    let out = prise()
        .args(["ftp", "ls", &format!("{base}/"), "--fingerprint"])
        .arg(format!("SHA256:{}", "0".repeat(64)))
        .env("PRISE_FTP_PASSWORD", "wonder land")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate fingerprint mismatch"),
        "{out:?}"
    );
    // A URL that hides a command is refused before anything is sent.
    let out = pinned(&["ftp", "get", &format!("{base}/x%0d%0aDELE%20s%20e%20c.bin")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("control character"),
        "{out:?}"
    );
    assert!(root.join("s e c.bin").exists());
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn serve_takes_users_from_a_config_file_and_refuses_to_run_without_any() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "bonjour\n").unwrap();
    let config = work.path().join("ftp.toml");
    std::fs::write(
        &config,
        format!(
            "root = \"{}\"\nlisten = \"127.0.0.1:0\"\nuser = [\"carol:from file\"]\nread-only = true\n",
            root.display()
        ),
    )
    .unwrap();
    let mut server = prise()
        .args(["ftp", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = announce::read(&mut BufReader::new(server.stdout.take().unwrap()), "ftp");
    let out = prise()
        .args([
            "ftp",
            "get",
            "-o",
            "-",
            &format!("ftp://carol:from%20file@{addr}/hello.txt"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bonjour\n", "{out:?}");
    let out = prise()
        .args(["ftp", "put"])
        .arg(&config)
        .arg(format!("ftp://carol:from%20file@{addr}/"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "read-only = true");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("550"),
        "{out:?}"
    );
    // SIGTERM: a clean stop.
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(server.wait().unwrap().code(), Some(0));

    let work = tempfile::tempdir().unwrap();
    let out = prise()
        .args(["ftp", "serve", "--listen", "127.0.0.1:0"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nobody can log in: give --user NAME:PASS"),
        "{out:?}"
    );
}
