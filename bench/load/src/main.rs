//! `prise-load`: load generators for `bench/`, speaking plain TCP so that prise and the anchor
//! tools (socat, ncat) are measured by the same client.
//!
//! `prise-load echo rtt`: C clients each send a message of S bytes and wait for all S bytes back,
//! over and over for D seconds; prints round trips per second.
//! `prise-load echo stream`: C clients each write as fast as they can while reading the echo
//! back; prints echoed bytes per second.
//!
//! Output is one line of `key=value` pairs, for `bench/echo/run.sh` to read.

mod chat;

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(name = "prise-load", about = "Load generators for prise benchmarks")]
struct Cli {
    /// Worker threads of the generator's runtime (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a chat server (prise's native protocol, or IRC): fan-out to N clients in one room.
    Chat(chat::Plan),
    /// Load an echo server.
    Echo {
        /// rtt (request/response round trips) or stream (bulk throughput).
        #[arg(value_parser = ["rtt", "stream"])]
        mode: String,
        /// Server address.
        #[arg(long)]
        addr: String,
        /// Concurrent connections.
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Message size in bytes (rtt) or write size (stream).
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// How long to run, in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder.enable_all().build()?;
    match cli.command {
        Command::Chat(plan) => runtime.block_on(chat::run(plan)),
        Command::Echo {
            mode,
            addr,
            clients,
            size,
            seconds,
        } => runtime.block_on(echo(&mode, &addr, clients, size, seconds)),
    }
}

async fn echo(
    mode: &str,
    addr: &str,
    clients: usize,
    size: usize,
    seconds: f64,
) -> anyhow::Result<()> {
    if size == 0 || clients == 0 {
        bail!("--size and --clients must be at least 1");
    }
    let duration = Duration::try_from_secs_f64(seconds).context("--seconds")?;
    let mut streams = Vec::with_capacity(clients);
    for _ in 0..clients {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        streams.push(stream);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for stream in streams {
        let task = match mode {
            "rtt" => tokio::spawn(rtt_client(stream, size, deadline)),
            _ => tokio::spawn(stream_client(stream, size, deadline)),
        };
        tasks.push(task);
    }
    let mut total = 0u64;
    for task in tasks {
        total += task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    match mode {
        "rtt" => println!(
            "mode=rtt clients={clients} size={size} seconds={elapsed:.3} round_trips={total} per_second={:.0}",
            total as f64 / elapsed
        ),
        _ => println!(
            "mode=stream clients={clients} size={size} seconds={elapsed:.3} bytes={total} per_second={:.0}",
            total as f64 / elapsed
        ),
    }
    Ok(())
}

/// Round trips completed before the deadline.
async fn rtt_client(mut stream: TcpStream, size: usize, deadline: Instant) -> anyhow::Result<u64> {
    let message: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz"
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect();
    let mut reply = vec![0u8; size];
    let mut done = 0u64;
    while Instant::now() < deadline {
        stream.write_all(&message).await?;
        stream.read_exact(&mut reply).await?;
        if reply != message {
            bail!("the server echoed different bytes");
        }
        done += 1;
    }
    Ok(done)
}

/// Bytes echoed back before the deadline.
async fn stream_client(stream: TcpStream, size: usize, deadline: Instant) -> anyhow::Result<u64> {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; size];
        while Instant::now() < deadline {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    // Count what arrives before the deadline; some servers (ncat --exec) never pass the
    // half-close on, so stop reading at the deadline instead of waiting for EOF.
    let stop = tokio::time::Instant::from_std(deadline);
    while let Ok(read) = tokio::time::timeout_at(stop, rd.read(&mut buf)).await {
        let n = read?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    writer.abort();
    Ok(received)
}
