//! `prise ftp serve`, `ls`, `get` and `put`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use prise_core::net::{announce, ConnectOptions};
use prise_core::trace::TrafficLog;
use prise_ftp::client::{parse_url, Client, ClientConfig, Url};
use prise_ftp::server;
use tokio::io::AsyncSeekExt as _;

use crate::args::{FtpClientArgs, FtpCommand};

pub(crate) async fn run(
    command: FtpCommand,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    match command {
        FtpCommand::Serve(args) => serve(args, trace).await,
        FtpCommand::Ls(args) => {
            let url = url(&args.url)?;
            let mut client = login(&url, &args.client, trace).await?;
            let entries = client.list(&url.path).await?;
            client.quit().await;
            if args.json {
                let list: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "name": e.name,
                            "type": if e.dir { "dir" } else { "file" },
                            "size": e.size,
                            "modified": e.modified,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for e in &entries {
                    let size = e.size.map_or_else(|| "-".to_owned(), |s| s.to_string());
                    let when = e
                        .modified
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), shown_time);
                    let slash = if e.dir { "/" } else { "" };
                    // A server's names reach a terminal: control characters (escape
                    // sequences) are shown as `?`, as ls does.
                    let name: String = e
                        .name
                        .chars()
                        .map(|c| if c.is_control() { '?' } else { c })
                        .collect();
                    println!("{size:>14}  {when:<19}  {name}{slash}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FtpCommand::Get(args) => {
            let url = url(&args.url)?;
            let name = url
                .path
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .context("the URL names a folder, not a file")?
                .to_owned();
            let mut client = login(&url, &args.client, trace).await?;
            let size = client.size(&url.path).await?;
            let started = Instant::now();
            if args.output.as_deref() == Some(Path::new("-")) {
                let mut out = tokio::io::stdout();
                client.get(&url.path, 0, &mut out, |_| {}).await?;
                client.quit().await;
                return Ok(ExitCode::SUCCESS);
            }
            let target = args.output.unwrap_or_else(|| PathBuf::from(&name));
            let part = part_path(&target);
            // A .part from an earlier try is resumed when it is not longer than the file.
            let have = tokio::fs::metadata(&part).await.map_or(0, |m| m.len());
            let offset = match size {
                Some(size) if have <= size => have,
                _ => 0,
            };
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(offset == 0)
                .open(&part)
                .await
                .with_context(|| format!("creating {}", part.display()))?;
            file.set_len(offset).await?;
            file.seek(std::io::SeekFrom::Start(offset)).await?;
            if offset > 0 {
                eprintln!("prise: resuming {} at byte {offset}", part.display());
            }
            let bar = bar(size, offset, &name);
            let got = client
                .get(&url.path, offset, &mut file, |n| {
                    if let Some(bar) = &bar {
                        bar.set_position(offset + n);
                    }
                })
                .await;
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let got = got?;
            file.sync_all().await.ok();
            drop(file);
            let total = offset + got;
            if let Some(size) = size {
                anyhow::ensure!(
                    total == size,
                    "the server sent {total} bytes of {size}; kept as {} for the next try",
                    part.display()
                );
            }
            tokio::fs::rename(&part, &target)
                .await
                .with_context(|| format!("renaming {} to {}", part.display(), target.display()))?;
            client.quit().await;
            println!(
                "{}",
                summary("downloaded", &target.display().to_string(), got, started)
            );
            Ok(ExitCode::SUCCESS)
        }
        FtpCommand::Put(args) => {
            let mut url = url(&args.url)?;
            let local_name = args
                .file
                .file_name()
                .and_then(|n| n.to_str())
                .context("the file has no name")?
                .to_owned();
            if url.path.is_empty() || url.path.ends_with('/') {
                url.path.push_str(&local_name);
            }
            let mut file = tokio::fs::File::open(&args.file)
                .await
                .with_context(|| format!("opening {}", args.file.display()))?;
            let len = file.metadata().await?.len();
            let mut client = login(&url, &args.client, trace).await?;
            let offset = if args.resume {
                match client.size(&url.path).await? {
                    Some(have) if have <= len => have,
                    Some(have) => anyhow::bail!(
                        "the server's {} has {have} bytes, more than the {len} here: not resuming",
                        url.path
                    ),
                    None => 0,
                }
            } else {
                0
            };
            if offset > 0 {
                eprintln!("prise: the server has {offset} bytes; sending the rest");
            }
            file.seek(std::io::SeekFrom::Start(offset)).await?;
            let started = Instant::now();
            let bar = bar(Some(len), offset, &local_name);
            let sent = client
                .put(&mut file, &url.path, offset > 0, |n| {
                    if let Some(bar) = &bar {
                        bar.set_position(offset + n);
                    }
                })
                .await;
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            let sent = sent?;
            if let Some(size) = client.size(&url.path).await? {
                anyhow::ensure!(
                    size == len,
                    "the server has {size} bytes of {len} after the upload"
                );
            }
            client.quit().await;
            println!("{}", summary("uploaded", &url.path, sent, started));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(
    args: crate::args::FtpServeArgs,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    let crate::server::Started {
        shutdown,
        listener,
        local,
        tls,
    } = crate::server::start("ftp", &args.listen, &args.tls, |cli| match cli.command {
        crate::args::Command::Ftp(FtpCommand::Serve(args)) => Some(args.tls),
        _ => None,
    })
    .await?;
    let dir = args.dir.or(args.root).unwrap_or_else(|| ".".into());
    if args.user.is_empty() && !args.anonymous {
        anyhow::bail!(
            "nobody can log in: give --user NAME:PASS (or `user = [\"name:pass\"]` in a config file), or --anonymous"
        );
    }
    if !dir.is_dir() {
        anyhow::bail!("{} is not a folder", dir.display());
    }
    let mut config = server::Config::new(dir);
    config.users = args
        .user
        .into_iter()
        .map(|(name, password)| server::User { name, password })
        .collect();
    config.anonymous = args.anonymous;
    config.read_only = args.read_only;
    config.passive_ports = args.passive_ports;
    config.public_ip = args.public_ip;
    config.idle_timeout = args.idle_timeout;
    config.data_timeout = args.data_timeout;
    config.max_transfers = args.max_transfers.max(1);
    config.tls = tls;
    config.trace = trace;
    config.grace = args.common.grace;
    config.max_connections = args.common.max_connections();
    announce("ftp", local);
    server::run(listener, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

fn url(text: &str) -> anyhow::Result<Url> {
    parse_url(text).map_err(anyhow::Error::msg)
}

async fn login(
    url: &Url,
    args: &FtpClientArgs,
    trace: Option<TrafficLog>,
) -> anyhow::Result<Client> {
    let mut config = ClientConfig::new();
    config.connect = ConnectOptions {
        connect_timeout: args.timeouts.connect_timeout,
        trace,
        ..ConnectOptions::new("ftp")
    };
    config.timeout = args.timeouts.timeout;
    config.tls = crate::tls::client(&args.tls)?;
    config.active = args.active;
    if let Some(user) = &url.user {
        config.user.clone_from(user);
        config.password = match (&url.password, std::env::var("PRISE_FTP_PASSWORD")) {
            (Some(p), _) => p.clone(),
            (None, Ok(p)) => p,
            (None, Err(_)) => String::new(),
        };
    }
    Client::connect(&url.address, config)
        .await
        .with_context(|| format!("ftp://{}", url.address))
}

/// `file.part` beside `file`.
fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    target.with_file_name(name)
}

fn bar(size: Option<u64>, offset: u64, name: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match size {
        Some(size) => (
            ProgressBar::new(size),
            "{msg:30!} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{msg:30!} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(name.to_owned());
    bar.set_position(offset);
    Some(bar)
}

fn summary(what: &str, name: &str, bytes: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    #[allow(clippy::cast_precision_loss)]
    let rate = bytes as f64 / secs / 1e6;
    format!("{what} {name}: {bytes} bytes in {secs:.2} s ({rate:.1} MB/s)")
}

/// `20261202035500` as `2026-12-02 03:55:00`.
fn shown_time(t: &str) -> String {
    if t.len() >= 14 && t.bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}-{}-{} {}:{}:{}",
            &t[0..4],
            &t[4..6],
            &t[6..8],
            &t[8..10],
            &t[10..12],
            &t[12..14]
        )
    } else {
        t.to_owned()
    }
}
