//! `prise-load chat`: N clients in one room, S of them sending, for D seconds, over prise's
//! native protocol or over IRC (so prise and IRC servers face the same load).
//!
//! Each message carries its send time (nanoseconds since the run's start; one process, one
//! clock). Every client counts what it receives and records the latency. After the senders stop,
//! the receivers get a grace period to drain, then the run reports delivered messages per second,
//! latency p50/p99/max, messages lost (expected deliveries minus received), clients the server
//! dropped, and, given the server's pid, its resident memory per connected client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Messages allowed in flight beyond what the observer client has received, in max-rate mode.
const WINDOW: u64 = 1024;

/// The wire protocol the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Proto {
    /// prise's JSON lines.
    Native,
    /// IRC (RFC 1459/2812 registration, JOIN, PRIVMSG).
    Irc,
}

/// The room every fan-out client joins (the native default room).
const ROOM: &str = "#general";

impl Proto {
    /// What a client sends on connecting: registration, and a join for `room` (IRC clients
    /// always join, since IRC has no default room).
    fn hello(self, nick: &str, room: Option<&str>) -> String {
        match self {
            Self::Native => {
                let mut hello =
                    format!("{{\"type\":\"hello\",\"versions\":[1],\"nick\":\"{nick}\"}}\n");
                if let Some(room) = room {
                    hello.push_str(&format!("{{\"type\":\"join\",\"room\":\"{room}\"}}\n"));
                }
                hello
            }
            // The JOIN waits for the welcome: some servers finish registering asynchronously
            // and refuse commands until then (InspIRCd answers 451).
            Self::Irc => format!("NICK {nick}\r\nUSER {nick} 0 * :prise-load\r\n"),
        }
    }

    /// What to send when a setup line arrives: the IRC JOIN once the server welcomes us.
    fn on_setup_line(self, line: &str, room: Option<&str>) -> Option<String> {
        match self {
            Self::Native => None,
            Self::Irc => {
                (irc_command(line).0 == "001").then(|| format!("JOIN {}\r\n", room.unwrap_or(ROOM)))
            }
        }
    }

    /// Joins to wait for before the client counts as set up.
    fn joins_expected(self, room: Option<&str>) -> usize {
        match (self, room) {
            // The default room, and the extra one if asked.
            (Self::Native, Some(_)) => 2,
            (Self::Native, None) | (Self::Irc, _) => 1,
        }
    }

    /// Whether a setup line completes a join (IRC: the end of the NAMES list).
    fn is_joined(self, line: &str) -> bool {
        match self {
            Self::Native => line.contains("\"type\":\"joined\""),
            Self::Irc => irc_command(line).0 == "366",
        }
    }

    /// Whether a setup line is a refusal.
    fn is_error(self, line: &str) -> bool {
        match self {
            Self::Native => line.contains("\"type\":\"error\""),
            // The refusals that stop a registration or a join (not, say, 422 "no MOTD").
            Self::Irc => matches!(
                irc_command(line).0,
                "ERROR"
                    | "403"
                    | "405"
                    | "432"
                    | "433"
                    | "436"
                    | "451"
                    | "461"
                    | "471"
                    | "473"
                    | "474"
                    | "475"
                    | "477"
            ),
        }
    }

    /// One chat line to the room.
    fn chat(self, text: &str) -> String {
        match self {
            Self::Native => {
                format!("{{\"type\":\"chat\",\"to\":\"{ROOM}\",\"text\":\"{text}\"}}\n")
            }
            Self::Irc => format!("PRIVMSG {ROOM} :{text}\r\n"),
        }
    }

    /// The send time stamped in a received chat line, without a full parse.
    fn sent_at(self, line: &str) -> Option<u64> {
        let text = match self {
            Self::Native => {
                if !line.starts_with("{\"type\":\"chat\"") {
                    return None;
                }
                let at = line.find("\"text\":\"")? + 8;
                let rest = &line[at..];
                &rest[..rest.find('"')?]
            }
            Self::Irc => {
                let (command, rest) = irc_command(line);
                if command != "PRIVMSG" {
                    return None;
                }
                rest.split_once(" :")?.1.trim_end()
            }
        };
        text.split(' ').nth(1)?.parse().ok()
    }

    /// Whether a line says the server is dropping this client.
    fn is_dropped(self, line: &str) -> bool {
        match self {
            Self::Native => line.contains("\"too_slow\""),
            Self::Irc => irc_command(line).0 == "ERROR",
        }
    }

    /// The answer to a server's keepalive, if `line` is one.
    fn pong(self, line: &str) -> Option<String> {
        match self {
            Self::Native => line
                .starts_with("{\"type\":\"ping\"")
                .then(|| "{\"type\":\"pong\"}\n".to_owned()),
            Self::Irc => {
                let (command, rest) = irc_command(line);
                (command == "PING").then(|| format!("PONG {}\r\n", rest.trim_end()))
            }
        }
    }
}

/// An IRC line's command and what follows it, skipping tags and the prefix.
fn irc_command(line: &str) -> (&str, &str) {
    let mut rest = line;
    if rest.starts_with('@') {
        rest = rest.split_once(' ').map_or("", |(_, r)| r);
    }
    if rest.starts_with(':') {
        rest = rest.split_once(' ').map_or("", |(_, r)| r);
    }
    let rest = rest.trim_start();
    match rest.split_once(' ') {
        Some((command, params)) => (command, params),
        None => (rest.trim_end(), ""),
    }
}

/// Clients connecting at once.
const CONNECT_WAVE: usize = 100;

/// What to run: the options of `prise-load chat`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Plan {
    /// Server address; several, comma-separated, spread the clients over them in turn (the
    /// nodes of one cluster: client i goes to address i mod n).
    #[arg(long)]
    pub(crate) addr: String,
    /// Protocol: native (prise's JSON lines) or irc (any IRC server, prise's IRC door too).
    #[arg(long, value_enum, default_value_t = Proto::Native)]
    pub(crate) proto: Proto,
    /// Clients, all in #general.
    #[arg(long, default_value_t = 100)]
    pub(crate) clients: usize,
    /// How many of them send.
    #[arg(long, default_value_t = 10)]
    pub(crate) senders: usize,
    /// Messages per second over all senders; 0 sends as fast as possible.
    #[arg(long, default_value_t = 100.0)]
    pub(crate) rate: f64,
    /// How long the senders send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// The server's pid, to report its memory per client.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Only connect (spread over --rooms rooms), report memory, and stop.
    #[arg(long)]
    pub(crate) idle: bool,
    /// Rooms for --idle.
    #[arg(long, default_value_t = 1)]
    pub(crate) rooms: usize,
    /// With --idle: seconds to keep the clients connected after measuring (for profilers).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) hold: f64,
    /// A raw line each sender sends after joining (repeatable; `{nick}` is its nick), for
    /// example `OPER bench bench` to lift an IRC server's flood limits for the senders.
    #[arg(long = "sender-line")]
    pub(crate) sender_lines: Vec<String>,
}

/// Nanoseconds since `start`; a u64 holds 584 years of them.
fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

async fn connect(addr: &str, proto: Proto, nick: &str, room: Option<&str>) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    w.write_all(proto.hello(nick, room).as_bytes()).await?;
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    let mut joins = proto.joins_expected(room);
    while joins > 0 {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            bail!("{nick}: server closed during setup");
        }
        if proto.is_joined(&line) {
            joins -= 1;
        } else if proto.is_error(&line) {
            bail!("{nick}: {}", line.trim_end());
        } else if let Some(pong) = proto.pong(&line) {
            w.write_all(pong.as_bytes()).await?;
        } else if let Some(next) = proto.on_setup_line(&line, room) {
            w.write_all(next.as_bytes()).await?;
        }
    }
    Ok(Conn { reader, writer: w })
}

pub(crate) async fn run(plan: Plan) -> anyhow::Result<()> {
    if plan.clients < 2 || plan.senders == 0 || plan.senders > plan.clients {
        bail!("need at least 2 clients and 1..=clients senders");
    }
    let rss_before = plan.server_pid.and_then(rss_kib);
    // Connect in waves: some servers make each registration wait (ngircd about a second), so
    // one at a time would take minutes; all at once would overflow the listen backlog.
    let addrs: Vec<String> = plan.addr.split(',').map(str::to_owned).collect();
    let mut conns = Vec::with_capacity(plan.clients);
    for wave in (0..plan.clients).collect::<Vec<_>>().chunks(CONNECT_WAVE) {
        let mut set = tokio::task::JoinSet::new();
        for &i in wave {
            let room = (plan.idle && plan.rooms > 1).then(|| format!("#room{}", i % plan.rooms));
            let addr = addrs[i % addrs.len()].clone();
            let proto = plan.proto;
            set.spawn(async move {
                (
                    i,
                    connect(&addr, proto, &format!("load{i}"), room.as_deref()).await,
                )
            });
        }
        let mut done = Vec::with_capacity(wave.len());
        while let Some(joined) = set.join_next().await {
            let (i, conn) = joined?;
            done.push((i, conn?));
        }
        done.sort_by_key(|(i, _)| *i);
        conns.extend(done.into_iter().map(|(_, conn)| conn));
    }
    // Lines each sender sends before it starts (for example OPER and a mode that relaxes an
    // IRC server's flood limits); the server handles them before the first message, in order.
    for (s, conn) in conns.iter_mut().take(plan.senders).enumerate() {
        for line in &plan.sender_lines {
            let line = line.replace("{nick}", &format!("load{s}"));
            conn.writer
                .write_all(format!("{line}\r\n").as_bytes())
                .await?;
        }
        // An IRC server may make them wait (a penalty): a PING behind them, answered, says
        // they are done, so that wait does not count as message latency.
        if plan.proto == Proto::Irc && !plan.sender_lines.is_empty() {
            conn.writer.write_all(b"PING :prise-load-ready\r\n").await?;
            let mut line = String::new();
            while !(line.contains("PONG") && line.contains("prise-load-ready")) {
                line.clear();
                if conn.reader.read_line(&mut line).await? == 0 {
                    bail!("load{s}: server closed after the sender lines");
                }
            }
        }
    }
    let rss_after = plan.server_pid.and_then(rss_kib);
    let per_client = match (rss_before, rss_after) {
        (Some(b), Some(a)) => format!("{:.2}", (a.saturating_sub(b)) as f64 / plan.clients as f64),
        _ => "na".into(),
    };
    if plan.idle {
        println!(
            "mode=idle clients={} rooms={} server_rss_kib={} server_rss_per_client_kib={per_client}",
            plan.clients,
            plan.rooms.max(1),
            rss_after.map_or("na".into(), |r| r.to_string()),
        );
        // Keep the clients connected a while, for a heap profiler to see the server idle.
        tokio::time::sleep(Duration::from_secs_f64(plan.hold)).await;
        drop(conns);
        return Ok(());
    }

    let start = Instant::now();
    let duration = Duration::try_from_secs_f64(plan.seconds).context("--seconds")?;
    let received = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    // Set before the generator hangs up, so the server closing those connections is not
    // counted as dropping clients. Readers wait on their socket alone: a shared stop signal
    // polled with every read would cost a lock per message.
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // As fast as possible still means "as fast as the server delivers": the last client is an
    // observer, and senders keep at most WINDOW messages beyond what it has received. Without
    // it senders would outrun delivery and the server would (rightly) drop every reader.
    let observed = Arc::new(AtomicU64::new(0));
    let queued = Arc::new(AtomicU64::new(0));
    let observer = plan.clients - 1;
    let proto = plan.proto;
    let mut readers = Vec::new();
    // Senders' write halves go to the sender tasks; the others stay shared between this task
    // (which hangs up at the end) and their reader (which answers the server's pings).
    let mut sender_writers = Vec::new();
    let mut writers = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        let Conn { mut reader, writer } = conn;
        let pong_to = if index < plan.senders {
            sender_writers.push(writer);
            None
        } else {
            let writer = Arc::new(tokio::sync::Mutex::new(writer));
            writers.push(Arc::clone(&writer));
            Some(writer)
        };
        let observed = (index == observer).then(|| Arc::clone(&observed));
        let received = Arc::clone(&received);
        let dropped = Arc::clone(&dropped);
        let stopping = Arc::clone(&stopping);
        readers.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => {
                        if !stopping.load(Ordering::Acquire) {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    Ok(_) => {
                        if let Some(t) = proto.sent_at(&line) {
                            let now = nanos_since(start);
                            latencies.push(
                                u32::try_from(now.saturating_sub(t) / 1000).unwrap_or(u32::MAX),
                            );
                            received.fetch_add(1, Ordering::Relaxed);
                            if let Some(observed) = &observed {
                                observed.fetch_add(1, Ordering::Release);
                            }
                        } else if proto.is_dropped(&line) {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            break;
                        } else if let (Some(pong), Some(writer)) = (proto.pong(&line), &pong_to) {
                            let _ = writer.lock().await.write_all(pong.as_bytes()).await;
                        }
                    }
                }
            }
            latencies
        }));
    }
    // Senders: the first S clients. Their own acks are read by their reader tasks.
    let per_sender_interval =
        (plan.rate > 0.0).then(|| Duration::from_secs_f64(plan.senders as f64 / plan.rate));
    let mut send_tasks = Vec::new();
    for (s, mut writer) in sender_writers.into_iter().enumerate() {
        let sent = Arc::clone(&sent);
        let observed = Arc::clone(&observed);
        let queued = Arc::clone(&queued);
        send_tasks.push(tokio::spawn(async move {
            let mut seq = 0u64;
            let mut next = tokio::time::Instant::now();
            let mut batch = String::new();
            while start.elapsed() < duration {
                match per_sender_interval {
                    Some(interval) => {
                        tokio::time::sleep_until(next).await;
                        next += interval;
                        let t = nanos_since(start);
                        let line = proto.chat(&format!("{s}.{seq} {t}"));
                        if writer.write_all(line.as_bytes()).await.is_err() {
                            break;
                        }
                        seq += 1;
                    }
                    None => {
                        while queued
                            .load(Ordering::Acquire)
                            .saturating_sub(observed.load(Ordering::Acquire))
                            >= WINDOW
                        {
                            if start.elapsed() >= duration {
                                break;
                            }
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        }
                        queued.fetch_add(16, Ordering::AcqRel);
                        batch.clear();
                        for _ in 0..16 {
                            let t = nanos_since(start);
                            batch.push_str(&proto.chat(&format!("{s}.{seq} {t}")));
                            seq += 1;
                        }
                        if writer.write_all(batch.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                }
            }
            sent.fetch_add(seq, Ordering::Relaxed);
            writer
        }));
    }
    let mut keep = Vec::new();
    for task in send_tasks {
        keep.push(task.await?);
    }
    let send_time = start.elapsed();
    // Let deliveries drain: stop when nothing arrived for 2 s.
    let mut last = received.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = received.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    // Hang up: the server closes each connection, and each reader ends on end of file.
    stopping.store(true, Ordering::Release);
    drop(keep);
    for writer in writers {
        let _ = writer.lock().await.shutdown().await;
    }
    let mut all: Vec<u32> = Vec::new();
    for reader in readers {
        all.extend(reader.await?);
    }
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            // Nearest rank: p in 0..=1, so the index stays within the vector.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = ((all.len() - 1) as f64 * p).round() as usize;
            f64::from(all[i]) / 1000.0
        }
    };
    let sent = sent.load(Ordering::Relaxed);
    let got = received.load(Ordering::Relaxed);
    let expected = sent * (plan.clients as u64 - 1);
    println!(
        "mode=fanout clients={} senders={} rate={} seconds={:.2} sent={sent} delivered={got} expected={expected} lost={} dropped_clients={} delivered_per_second={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} server_rss_per_client_kib={per_client}",
        plan.clients,
        plan.senders,
        if plan.rate > 0.0 { plan.rate.to_string() } else { "max".into() },
        send_time.as_secs_f64(),
        expected.saturating_sub(got),
        dropped.load(Ordering::Relaxed),
        got as f64 / send_time.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        all.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
    );
    Ok(())
}
