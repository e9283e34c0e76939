//! `prise-load chat`: N native clients in one room, S of them sending, for D seconds.
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

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) addr: String,
    pub(crate) clients: usize,
    pub(crate) senders: usize,
    /// Messages per second over all senders; 0 is as fast as possible.
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
    pub(crate) server_pid: Option<u32>,
    /// Connect, measure memory, and stop (idle clients).
    pub(crate) idle: bool,
    /// Rooms to spread idle clients over.
    pub(crate) rooms: usize,
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

async fn connect(addr: &str, nick: &str, room: Option<&str>) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut hello = format!("{{\"type\":\"hello\",\"versions\":[1],\"nick\":\"{nick}\"}}\n");
    if let Some(room) = room {
        hello.push_str(&format!("{{\"type\":\"join\",\"room\":\"{room}\"}}\n"));
    }
    w.write_all(hello.as_bytes()).await?;
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    // Wait for the joins: the default room, and the extra one if asked.
    let mut joins = if room.is_some() { 2 } else { 1 };
    while joins > 0 {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            bail!("{nick}: server closed during setup");
        }
        if line.contains("\"type\":\"joined\"") {
            joins -= 1;
        } else if line.contains("\"type\":\"error\"") {
            bail!("{nick}: {line}");
        }
    }
    Ok(Conn { reader, writer: w })
}

/// `"text":"<seq> <nanos>"` out of a chat line, without a JSON parse.
fn sent_at(line: &str) -> Option<u64> {
    if !line.starts_with("{\"type\":\"chat\"") {
        return None;
    }
    let at = line.find("\"text\":\"")? + 8;
    let rest = &line[at..];
    let end = rest.find('"')?;
    rest[..end].split(' ').nth(1)?.parse().ok()
}

pub(crate) async fn run(plan: Plan) -> anyhow::Result<()> {
    if plan.clients < 2 || plan.senders == 0 || plan.senders > plan.clients {
        bail!("need at least 2 clients and 1..=clients senders");
    }
    let rss_before = plan.server_pid.and_then(rss_kib);
    let mut conns = Vec::with_capacity(plan.clients);
    for i in 0..plan.clients {
        let room = if plan.idle && plan.rooms > 1 {
            Some(format!("#room{}", i % plan.rooms))
        } else {
            None
        };
        conns.push(connect(&plan.addr, &format!("load{i}"), room.as_deref()).await?);
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
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (index, conn) in conns.into_iter().enumerate() {
        let Conn { mut reader, writer } = conn;
        writers.push(writer);
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
                        if let Some(t) = sent_at(&line) {
                            let now = nanos_since(start);
                            latencies.push(
                                u32::try_from(now.saturating_sub(t) / 1000).unwrap_or(u32::MAX),
                            );
                            received.fetch_add(1, Ordering::Relaxed);
                            if let Some(observed) = &observed {
                                observed.fetch_add(1, Ordering::Release);
                            }
                        } else if line.contains("\"too_slow\"") {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            break;
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
    for (s, mut writer) in writers.drain(..plan.senders).enumerate() {
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
                        let line = format!("{{\"type\":\"chat\",\"to\":\"#general\",\"text\":\"{s}.{seq} {t}\"}}\n");
                        if writer.write_all(line.as_bytes()).await.is_err() {
                            break;
                        }
                        seq += 1;
                    }
                    None => {
                        while queued.load(Ordering::Acquire).saturating_sub(observed.load(Ordering::Acquire)) >= WINDOW {
                            if start.elapsed() >= duration {
                                break;
                            }
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        }
                        queued.fetch_add(16, Ordering::AcqRel);
                        batch.clear();
                        for _ in 0..16 {
                            let t = nanos_since(start);
                            batch.push_str(&format!("{{\"type\":\"chat\",\"to\":\"#general\",\"text\":\"{s}.{seq} {t}\"}}\n"));
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
    drop(writers);
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
