//! The echo server and client over real sockets on 127.0.0.1.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use prise_core::net::ConnectOptions;
use prise_core::tls::{ClientTls, ServerTls, Verify};
use prise_core::trace::TrafficLog;
use prise_echo::{client, server, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

async fn start(config: server::Config) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server::run(listener, config, shutdown.clone()));
    Running {
        addr,
        shutdown,
        task,
    }
}

/// The error and its causes on one line, as the binary prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn client_config() -> client::Config {
    client::Config {
        timeout: Duration::from_secs(5),
        ..client::Config::new()
    }
}

async fn send(addr: &str, input: &[u8], config: &client::Config) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let transfer = client::send(addr, input, &mut out, config).await?;
    assert_eq!(transfer.sent, input.len() as u64);
    assert_eq!(transfer.received, out.len() as u64);
    Ok(out)
}

#[tokio::test]
async fn plain_round_trip() {
    let server = start(server::Config::default()).await;
    let out = send(&server.addr.to_string(), b"hello\n", &client_config())
        .await
        .unwrap();
    assert_eq!(out, b"hello\n");
    server.stop().await;
}

#[tokio::test]
async fn large_input_does_not_deadlock() {
    // Far more than the socket buffers hold: the client must read while it writes.
    let server = start(server::Config::default()).await;
    let input: Vec<u8> = (0..8 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    let out = send(&server.addr.to_string(), &input, &client_config())
        .await
        .unwrap();
    assert!(out == input, "8 MiB came back intact");
    server.stop().await;
}

fn tls_server() -> ServerTls {
    ServerTls::self_signed(&ServerTls::default_self_signed_names()).unwrap()
}

fn tls_client(verify: Verify) -> client::Config {
    let mut config = client_config();
    config.connect.tls = Some(ClientTls::new(verify).unwrap());
    config
}

#[tokio::test]
async fn tls_round_trip_pinned_by_fingerprint() {
    let tls = tls_server();
    let fingerprint = tls.fingerprint();
    let server = start(server::Config {
        tls: Some(tls),
        ..server::Config::default()
    })
    .await;
    let config = tls_client(Verify::Pinned(fingerprint));
    // By name (the certificate says localhost) and by IP: pinning ignores the name.
    let by_name = format!("localhost:{}", server.addr.port());
    assert_eq!(
        send(&by_name, b"secret\n", &config).await.unwrap(),
        b"secret\n"
    );
    let out = send(&server.addr.to_string(), b"over tls", &config)
        .await
        .unwrap();
    assert_eq!(out, b"over tls");
    server.stop().await;
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let server = start(server::Config {
        tls: Some(tls_server()),
        ..server::Config::default()
    })
    .await;
    let other = tls_server().fingerprint();
    let err = send(
        &server.addr.to_string(),
        b"x",
        &tls_client(Verify::Pinned(other)),
    )
    .await
    .unwrap_err();
    let text = chain(&err);
    assert!(text.contains("fingerprint mismatch"), "{text}");
    assert!(
        text.contains(&other.to_string()),
        "names the expected fingerprint: {text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn insecure_accepts_any_certificate() {
    let server = start(server::Config {
        tls: Some(tls_server()),
        ..server::Config::default()
    })
    .await;
    let out = send(
        &server.addr.to_string(),
        b"hi",
        &tls_client(Verify::Insecure),
    )
    .await
    .unwrap();
    assert_eq!(out, b"hi");
    server.stop().await;
}

#[tokio::test]
async fn ca_file_verifies_the_server_by_name() {
    // A self-signed certificate used as its own CA: verification by chain and name.
    let dir = tempfile::tempdir().unwrap();
    prise_test_support::cert::write_localhost(dir.path());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let server = start(server::Config {
        tls: Some(ServerTls::from_pem_files(&cert, &key).unwrap()),
        ..server::Config::default()
    })
    .await;
    let config = tls_client(Verify::CaFile(cert.clone()));
    let by_name = format!("localhost:{}", server.addr.port());
    assert_eq!(send(&by_name, b"ca", &config).await.unwrap(), b"ca");
    // The certificate names only localhost, so the IP address does not match it.
    let err = send(&server.addr.to_string(), b"ca", &config)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS handshake"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn two_hundred_clients_get_their_own_bytes() {
    let server = start(server::Config::default()).await;
    let addr = server.addr.to_string();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let payload: Vec<u8> = format!("client {i} ")
                .into_bytes()
                .into_iter()
                .cycle()
                .take(20_000 + i as usize)
                .collect();
            let out = send(&addr, &payload, &client_config()).await.unwrap();
            assert!(out == payload, "client {i} got someone else's bytes");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn third_client_waits_for_a_free_slot() {
    let server = start(server::Config {
        max_connections: 2,
        ..server::Config::default()
    })
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    for c in [&mut first, &mut second] {
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }
    // The third connects (the kernel queues it) but is not served while both slots are taken.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    third.write_all(b"wait").await.unwrap();
    let mut buf = [0u8; 4];
    let held = tokio::time::timeout(Duration::from_millis(300), third.read_exact(&mut buf)).await;
    assert!(
        held.is_err(),
        "third client must not be served beyond the cap"
    );
    // Free a slot: the third is served, with the bytes it sent while waiting.
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
        .await
        .expect("served once a slot frees")
        .unwrap();
    assert_eq!(&buf, b"wait");
    drop((second, third));
    server.stop().await;
}

#[tokio::test]
async fn refused_port_is_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = send(&addr, b"x", &client_config()).await.unwrap_err();
    let text = chain(&err);
    assert!(
        text.starts_with(&format!("cannot connect to {addr}")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn peer_that_never_answers_times_out() {
    // Bound and listening, but never accepts: the kernel completes the handshake, nobody reads.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let config = client::Config {
        timeout: Duration::from_millis(300),
        ..client::Config::new()
    };
    let err = send(&addr, b"anyone?", &config).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("waiting for {addr}: no answer within 300ms")
    );
    let err = client::ping(&addr, "anyone?", 1, Duration::ZERO, &config, |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("waiting for {addr}: no answer within 300ms")
    );
    drop(listener);
}

#[tokio::test]
async fn peer_that_never_completes_the_handshake_times_out() {
    // A listener whose accept queue is full drops new SYNs: connect hangs like a black hole.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    let mut black_holed = false;
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => {
                black_holed = true;
                break;
            }
        }
    }
    assert!(black_holed, "the accept queue never filled up");
    let mut config = client_config();
    config.connect = ConnectOptions {
        connect_timeout: Duration::from_millis(400),
        ..ConnectOptions::new("echo")
    };
    let err = send(&addr.to_string(), b"x", &config).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot connect to {addr}: no answer within 400ms")
    );
}

#[tokio::test]
async fn trace_file_holds_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.log");
    let log = TrafficLog::open(&path).unwrap();
    let server = start(server::Config {
        trace: Some(log.clone()),
        ..server::Config::default()
    })
    .await;
    let out = send(&server.addr.to_string(), b"traced line\n", &client_config())
        .await
        .unwrap();
    assert_eq!(out, b"traced line\n");
    server.stop().await;
    log.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let recv: Vec<&&str> = lines.iter().filter(|l| l.contains(" recv ")).collect();
    let sent: Vec<&&str> = lines.iter().filter(|l| l.contains(" send ")).collect();
    assert_eq!(recv.len(), 1, "{text}");
    assert_eq!(sent.len(), 1, "{text}");
    assert!(recv[0].contains(" echo 127.0.0.1:"), "{text}");
    assert!(recv[0].ends_with(" recv 12 \"traced line\\n\""), "{text}");
    assert!(sent[0].ends_with(" send 12 \"traced line\\n\""), "{text}");
}

#[tokio::test]
async fn reply_mode_answers_each_line() {
    let server = start(server::Config {
        reply: Some("Message bien reçu!".into()),
        max_line_len: 16,
        ..server::Config::default()
    })
    .await;
    let addr = server.addr.to_string();
    let out = send(&addr, b"one\r\ntwo\nthree", &client_config())
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Message bien reçu!\nMessage bien reçu!\nMessage bien reçu!\n"
    );
    let mut rounds = Vec::new();
    let stats = client::ping(&addr, "bonjour", 3, Duration::ZERO, &client_config(), |r| {
        rounds.push(r.reply.clone())
    })
    .await
    .unwrap();
    assert_eq!((stats.sent, stats.received), (3, 3));
    assert!(stats.min <= stats.avg && stats.avg <= stats.max);
    assert!(rounds
        .iter()
        .all(|r| &r[..] == "Message bien reçu!".as_bytes()));
    // Over the limit: an error line, then the server hangs up on this client only.
    let mut raw = TcpStream::connect(server.addr).await.unwrap();
    raw.write_all(&[b'x'; 40]).await.unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "error: line longer than 16 bytes\n");
    let out = send(&addr, b"still here\n", &client_config())
        .await
        .unwrap();
    assert_eq!(out, "Message bien reçu!\n".as_bytes());
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_active_connections_finish_and_refuses_new_ones() {
    let server = start(server::Config::default()).await;
    let mut active = TcpStream::connect(server.addr).await.unwrap();
    active.write_all(b"before ").await.unwrap();
    let mut buf = [0u8; 7];
    active.read_exact(&mut buf).await.unwrap();
    server.shutdown.cancel();
    // New clients are refused once the listener is closed.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "listener still open after shutdown");
    // The active client is still served, to the end.
    active.write_all(b"after").await.unwrap();
    active.shutdown().await.unwrap();
    let mut rest = Vec::new();
    active.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"after");
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("run returns once the connection is done")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_drops_connections_after_the_grace_period() {
    let server = start(server::Config {
        grace: Duration::from_millis(200),
        ..server::Config::default()
    })
    .await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    idle.read_exact(&mut one).await.unwrap();
    server.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("run returns after the grace period")
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    let n = idle.read_to_end(&mut rest).await.unwrap_or(0);
    assert_eq!(n, 0, "the connection was closed");
}

#[tokio::test]
async fn idle_clients_are_disconnected() {
    let server = start(server::Config {
        idle_timeout: Duration::from_millis(200),
        ..server::Config::default()
    })
    .await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest))
        .await
        .expect("server closes an idle connection")
        .unwrap();
    assert!(rest.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn reloaded_certificate_is_presented_without_a_restart() {
    let names = ServerTls::default_self_signed_names();
    let tls = ServerTls::self_signed(&names).unwrap();
    let old = tls.fingerprint();
    let server = start(server::Config {
        tls: Some(tls.clone()),
        ..server::Config::default()
    })
    .await;
    let addr = server.addr.to_string();
    assert_eq!(
        send(&addr, b"a", &tls_client(Verify::Pinned(old)))
            .await
            .unwrap(),
        b"a"
    );
    let renewed = ServerTls::self_signed(&names).unwrap();
    tls.reload_from(&renewed);
    let new = renewed.fingerprint();
    assert_eq!(
        send(&addr, b"b", &tls_client(Verify::Pinned(new)))
            .await
            .unwrap(),
        b"b"
    );
    let err = send(&addr, b"c", &tls_client(Verify::Pinned(old)))
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("fingerprint mismatch"),
        "{}",
        chain(&err)
    );
    server.stop().await;
}
