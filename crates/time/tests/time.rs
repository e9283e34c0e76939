//! `prise time`'s client against real servers on loopback: chronyd (installed by `.ci/run`),
//! and a fake server in the test for what no honest server sends (Kiss-o'-Death, unsynchronized
//! clocks, forged and broken replies, silence).

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use prise_time::client::{ask, Failure, Options};
use prise_time::packet::{Kiss, Packet, Refusal, Timestamp, MODE_SERVER};
use tokio::net::UdpSocket;

/// A fake server: for each request, `reply` gives the datagrams to send back (none: silence).
async fn fake(bind: &str, reply: impl Fn(&Packet) -> Vec<Vec<u8>> + Send + 'static) -> SocketAddr {
    let socket = UdpSocket::bind(bind).await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(request) = Packet::decode(&buf[..n]) else {
                continue;
            };
            for datagram in reply(&request) {
                let _ = socket.send_to(&datagram, from).await;
            }
        }
    });
    addr
}

/// An honest reply to `request` from a clock `ahead` seconds ahead of ours.
fn honest(request: &Packet, ahead: f64) -> Packet {
    let now = if ahead >= 0.0 {
        SystemTime::now() + Duration::from_secs_f64(ahead)
    } else {
        SystemTime::now() - Duration::from_secs_f64(-ahead)
    };
    Packet {
        version: 4,
        mode: MODE_SERVER,
        stratum: 3,
        precision: -20,
        root_delay: 0x0000_0800,
        root_dispersion: 0x0000_0400,
        reference_id: [192, 0, 2, 1],
        reference: Timestamp::from_system(now - Duration::from_secs(60)),
        origin: request.transmit,
        receive: Timestamp::from_system(now),
        transmit: Timestamp::from_system(now),
        ..Packet::default()
    }
}

fn quick(samples: u32) -> Options {
    Options {
        samples,
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
    }
}

#[tokio::test]
async fn an_honest_server_gives_its_offset_and_the_best_of_several_samples() {
    let addr = fake("127.0.0.1:0", |r| vec![honest(r, 2.5).encode().to_vec()]).await;
    let report = ask(addr, &quick(3)).await;
    let answer = report.outcome.unwrap();
    assert!((answer.offset - 2.5).abs() < 0.05, "{answer:?}");
    assert!(answer.delay >= 0.0 && answer.delay < 0.05, "{answer:?}");
    assert_eq!(answer.samples, 3);
    assert_eq!(answer.stratum, 3);
    assert_eq!(answer.refid, "192.0.2.1");
    assert_eq!(answer.precision, -20);
    assert!((answer.root_delay - 0x800 as f64 / 65536.0).abs() < 1e-9);
    assert!(answer.jitter < 0.05);
    assert!(report.kisses.is_empty());
}

#[tokio::test]
async fn ipv6_on_the_loopback() {
    let addr = fake("[::1]:0", |r| vec![honest(r, -1.0).encode().to_vec()]).await;
    let answer = ask(addr, &quick(1)).await.outcome.unwrap();
    assert!((answer.offset + 1.0).abs() < 0.05, "{answer:?}");
}

#[tokio::test]
async fn kiss_of_death_rate_slows_down_and_deny_stops() {
    // RATE on the first request, honest after: the answer comes from the later samples, and
    // the RATE is reported.
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&count);
    let addr = fake("127.0.0.1:0", move |r| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut p = honest(r, 0.0);
        if n == 0 {
            p.stratum = 0;
            p.reference_id = *b"RATE";
        }
        vec![p.encode().to_vec()]
    })
    .await;
    let started = std::time::Instant::now();
    let report = ask(addr, &quick(2)).await;
    assert_eq!(report.kisses, vec![Kiss::Rate]);
    assert_eq!(report.outcome.unwrap().samples, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "after RATE the next request waits at least 1 s"
    );

    // DENY: no more requests go to that server.
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&count);
    let addr = fake("127.0.0.1:0", move |r| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut p = honest(r, 0.0);
        p.stratum = 0;
        p.reference_id = *b"DENY";
        vec![p.encode().to_vec()]
    })
    .await;
    let report = ask(addr, &quick(4)).await;
    assert_eq!(report.outcome.unwrap_err(), Failure::Refused(Kiss::Deny));
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one request only"
    );
}

#[tokio::test]
async fn replies_that_fail_a_check_give_their_reason() {
    for (what, change, expected) in [
        (
            "LI=3",
            (|p: &mut Packet| p.leap = 3) as fn(&mut Packet),
            Refusal::Unsynchronized,
        ),
        ("stratum 16", |p| p.stratum = 16, Refusal::Stratum(16)),
        ("mode 5", |p| p.mode = 5, Refusal::Mode(5)),
        (
            "zero transmit time",
            |p| p.transmit = Timestamp(0),
            Refusal::NoTransmitTime,
        ),
    ] {
        let addr = fake("127.0.0.1:0", move |r| {
            let mut p = honest(r, 0.0);
            change(&mut p);
            vec![p.encode().to_vec()]
        })
        .await;
        let outcome = ask(addr, &quick(1)).await.outcome;
        assert_eq!(outcome.unwrap_err(), Failure::Bad(expected), "{what}");
    }
}

#[tokio::test]
async fn forged_short_and_missing_replies_are_never_taken() {
    // A forged reply (wrong origin, claiming +1000 s) comes first, then the real one: the
    // forged one is dropped and the real one used.
    let addr = fake("127.0.0.1:0", |r| {
        let mut forged = honest(r, 1000.0);
        forged.origin = Timestamp(r.transmit.0 ^ 1);
        vec![forged.encode().to_vec(), honest(r, 0.25).encode().to_vec()]
    })
    .await;
    let answer = ask(addr, &quick(1)).await.outcome.unwrap();
    assert!(
        (answer.offset - 0.25).abs() < 0.05,
        "the real reply: {answer:?}"
    );

    // Only forged replies: nothing usable, and the report says what was dropped.
    let addr = fake("127.0.0.1:0", |r| {
        let mut forged = honest(r, 1000.0);
        forged.origin = Timestamp(0);
        vec![forged.encode().to_vec()]
    })
    .await;
    match ask(addr, &quick(1)).await.outcome.unwrap_err() {
        Failure::Timeout { dropped, .. } => {
            assert!(dropped.unwrap().contains("origin timestamp"));
        }
        other => panic!("{other:?}"),
    }

    // A short datagram: dropped.
    let addr = fake("127.0.0.1:0", |r| {
        vec![honest(r, 0.0).encode()[..47].to_vec()]
    })
    .await;
    match ask(addr, &quick(1)).await.outcome.unwrap_err() {
        Failure::Timeout { dropped, .. } => assert!(dropped.unwrap().contains("47-byte")),
        other => panic!("{other:?}"),
    }

    // Silence: a timeout.
    let addr = fake("127.0.0.1:0", |_| Vec::new()).await;
    let started = std::time::Instant::now();
    let outcome = ask(addr, &quick(1)).await.outcome;
    assert_eq!(
        outcome.unwrap_err(),
        Failure::Timeout {
            after: Duration::from_millis(500),
            dropped: None
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// chronyd serving on loopback, its time shifted by `chronyc settime`; the system clock is
/// never touched (`-x`).
struct Chronyd {
    child: std::process::Child,
    socket: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Chronyd {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let socket = dir.path().join("chronyd.sock");
        let conf = dir.path().join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\nmanual\n\
                 cmdport 0\nbindcmdaddress {}\npidfile {}\ndriftfile {}\n",
                socket.display(),
                dir.path().join("chronyd.pid").display(),
                dir.path().join("drift").display()
            ),
        )
        .unwrap();
        let child = Command::new("chronyd")
            .args(["-x", "-d", "-u", "root", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chronyd is needed (apt-get install chrony; .ci/run does)");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            socket,
            port,
            _dir: dir,
        }
    }

    fn chronyc(&self, args: &[&str]) -> String {
        let out = Command::new("chronyc")
            .arg("-h")
            .arg(&self.socket)
            .args(args)
            .env("TZ", "UTC")
            .output()
            .expect("chronyc");
        assert!(out.status.success(), "chronyc {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn chronyd_shifted_by_settime_is_measured_within_50_ms() {
    let chronyd = Chronyd::start();
    chronyd.chronyc(&["manual", "reset"]);
    // Shift chronyd's time 40 s ahead: settime takes whole seconds, so aim at a whole second
    // and note when the command ran.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let target = now.as_secs() + 41;
    let text = Command::new("date")
        .args(["-u", "-d", &format!("@{target}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap()
        .stdout;
    let text = String::from_utf8(text).unwrap();
    let before = SystemTime::now();
    chronyd.chronyc(&["settime", text.trim()]);
    let after = SystemTime::now();
    let unix = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    #[allow(clippy::cast_precision_loss)]
    let shift = target as f64 - (unix(before) + unix(after)) / 2.0;
    let uncertainty = (unix(after) - unix(before)) / 2.0;

    let addr: SocketAddr = format!("127.0.0.1:{}", chronyd.port).parse().unwrap();
    let mut answer = None;
    // chronyd answers once it has taken the new time; a few tries at most.
    for _ in 0..20 {
        if let Ok(a) = ask(addr, &quick(3)).await.outcome {
            answer = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = answer.expect("chronyd answers");
    assert_eq!(answer.stratum, 8, "{answer:?}");
    assert!(
        (answer.offset - shift).abs() < 0.05 + uncertainty,
        "measured {:.4} s, shifted {shift:.4} s (±{uncertainty:.4})",
        answer.offset
    );
}
