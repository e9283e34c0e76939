//! `prise backup serve|push|list|restore`.

use std::process::ExitCode;

use prise_backup::{client, server};
use prise_core::net::{announce, ConnectOptions};
use prise_core::trace::TrafficLog;

use crate::args::{BackupCommand, TokenClientArgs};

pub(crate) async fn run(
    command: BackupCommand,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    match command {
        BackupCommand::Serve(args) => {
            let crate::server::Started {
                shutdown,
                listener,
                local,
                tls,
            } = crate::server::start("backup", &args.listen, &args.tls, |cli| match cli.command {
                crate::args::Command::Backup(BackupCommand::Serve(args)) => Some(args.tls),
                _ => None,
            })
            .await?;
            let mut config = server::Config::new(args.store);
            config.token = args.token;
            config.tls = tls;
            config.trace = trace;
            config.grace = args.common.grace;
            announce("backup", local);
            server::run(listener, config, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Push(args) => {
            let name = match args.name {
                Some(name) => name,
                None => std::fs::canonicalize(&args.dir)?
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow::anyhow!("give the backup a --name"))?,
            };
            let mut config = client_config(&args.client, trace)?;
            config.exclude = client::Exclude::new(&args.exclude)?;
            if !args.no_index {
                config.index = index_path(&args.to, &args.dir, &name);
            }
            let report = client::push(&args.to, &args.dir, &name, &config).await?;
            for line in &report.skipped {
                eprintln!("prise backup: skipped {line}");
            }
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "snapshot {} of {name}: {} files, {} bytes; read {} files, sent {} chunks, {} bytes ({} on the wire), in {} ms",
                    report.id,
                    report.files,
                    report.bytes,
                    report.files_read,
                    report.chunks_sent,
                    report.bytes_sent,
                    report.wire_sent,
                    report.millis
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::List(args) => {
            let config = client_config(&args.client, trace)?;
            let snapshots = client::list(&args.from, args.name.as_deref(), &config).await?;
            if args.json {
                println!("{}", serde_json::to_string(&snapshots)?);
            } else {
                for s in &snapshots {
                    println!(
                        "{}  {}  {}  {} files  {} bytes",
                        s.name, s.id, s.time, s.files, s.bytes
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Forget(args) => {
            let config = client_config(&args.client, trace)?;
            let done = client::forget(&args.from, &args.name, args.keep_last, &config).await?;
            if args.json {
                println!("{}", serde_json::to_string(&done)?);
            } else {
                println!(
                    "forgot {} snapshot(s) of {}; removed {} chunks, {} bytes",
                    done.snapshots, args.name, done.chunks, done.bytes
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Check(args) => {
            let config = client_config(&args.client, trace)?;
            let found = client::check(&args.from, &config).await?;
            if args.json {
                println!("{}", serde_json::to_string(&found)?);
            } else {
                println!(
                    "checked {} chunks: {} damaged, {} missing",
                    found.chunks,
                    found.bad.len(),
                    found.missing.len()
                );
                for hash in &found.bad {
                    println!("damaged {hash}");
                }
                for hash in &found.missing {
                    println!("missing {hash}");
                }
            }
            Ok(if found.bad.is_empty() && found.missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BackupCommand::Restore(args) => {
            let config = client_config(&args.client, trace)?;
            let report = client::restore(
                &args.from,
                &args.name,
                args.snapshot.as_deref(),
                &args.dest,
                &config,
            )
            .await?;
            println!(
                "restored snapshot {} of {}: {} files, {} bytes into {}",
                report.id,
                args.name,
                report.files,
                report.bytes,
                args.dest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The index of pushes of `dir` as `name` to `server`, in the user's cache folder.
fn index_path(server: &str, dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let key = format!("{server}\n{}\n{name}", dir.display());
    let digest = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    Some(
        dirs::cache_dir()?
            .join("prise")
            .join(format!("backup-index-{name}-{digest:016x}.json")),
    )
}

fn client_config(
    args: &TokenClientArgs,
    trace: Option<TrafficLog>,
) -> anyhow::Result<client::Config> {
    Ok(client::Config {
        connect: ConnectOptions {
            connect_timeout: args.connect_timeout,
            tls: crate::tls::client(&args.tls)?,
            trace,
            ..ConnectOptions::new("backup")
        },
        token: args.token.clone(),
        reply_timeout: args.timeout,
        index: None,
        exclude: client::Exclude::default(),
    })
}
