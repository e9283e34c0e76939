//! `prise echo serve` and `prise echo send`.

use std::io::Write as _;
use std::process::ExitCode;

use prise_core::net::{announce, ConnectOptions};
use prise_core::trace::TrafficLog;
use prise_echo::{client, server};

use crate::args::{EchoCommand, EchoSendArgs, EchoServeArgs};

pub(crate) async fn run(
    command: EchoCommand,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    match command {
        EchoCommand::Serve(args) => serve(args, trace).await,
        EchoCommand::Send(args) => send(args, trace).await,
    }
}

async fn serve(args: EchoServeArgs, trace: Option<TrafficLog>) -> anyhow::Result<ExitCode> {
    let crate::server::Started {
        shutdown,
        listener,
        local,
        tls,
    } = crate::server::start("echo", &args.listen, &args.tls, |cli| match cli.command {
        crate::args::Command::Echo(EchoCommand::Serve(args)) => Some(args.tls),
        _ => None,
    })
    .await?;
    let config = server::Config {
        max_connections: args.common.max_connections(),
        tls,
        reply: args.reply,
        idle_timeout: args.idle_timeout,
        grace: args.common.grace,
        trace,
        ..server::Config::default()
    };
    announce("echo", local);
    server::run(listener, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

async fn send(args: EchoSendArgs, trace: Option<TrafficLog>) -> anyhow::Result<ExitCode> {
    let config = client::Config {
        connect: ConnectOptions {
            connect_timeout: args.timeouts.connect_timeout,
            tls: crate::tls::client(&args.tls)?,
            trace,
            ..ConnectOptions::new("echo")
        },
        timeout: args.timeouts.timeout,
    };
    if let Some(count) = args.count {
        let message = args.message.as_deref().unwrap_or("ping");
        let addr = args.addr.clone();
        let stats = client::ping(
            &args.addr,
            message,
            count,
            args.interval,
            &config,
            |round| {
                let reply = String::from_utf8_lossy(&round.reply);
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "reply from {addr}: seq={} time={:.3} ms {reply:?}",
                    round.seq,
                    round.rtt.as_secs_f64() * 1000.0
                );
            },
        )
        .await?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} sent, {} received, rtt min/avg/max = {:.3}/{:.3}/{:.3} ms",
            stats.sent,
            stats.received,
            ms(stats.min),
            ms(stats.avg),
            ms(stats.max)
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let stdout = tokio::io::stdout();
    match args.message {
        Some(message) => {
            let line = format!("{message}\n");
            client::send(&args.addr, line.as_bytes(), stdout, &config).await?;
        }
        None => {
            client::send(&args.addr, tokio::io::stdin(), stdout, &config).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
