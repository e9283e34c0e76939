//! `prise send` and `prise receive`.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use prise_core::net::{announce, ConnectOptions};
use prise_core::trace::TrafficLog;
use prise_files::receive::{self, Clash};
use prise_files::send::{self, Outcome, Progress, Source};

use crate::args::{ReceiveArgs, SendArgs};

/// `prise send`.
pub(crate) async fn send(args: SendArgs, trace: Option<TrafficLog>) -> anyhow::Result<ExitCode> {
    let sources: Vec<Source> = args
        .paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                Source::Stdin(args.name.clone())
            } else {
                Source::Path(p.clone())
            }
        })
        .collect();
    let (entries, skipped) = tokio::task::spawn_blocking(move || send::plan(&sources))
        .await
        .context("listing the files")??;
    for line in &skipped {
        eprintln!("prise send: skipped {line}");
    }
    let config = send::Config {
        connect: ConnectOptions {
            connect_timeout: args.client.connect_timeout,
            tls: crate::tls::client(&args.client.tls)?,
            trace,
            ..ConnectOptions::new("send")
        },
        token: args.client.token.clone(),
        reply_timeout: args.client.timeout,
    };
    let show = !args.json && std::io::stderr().is_terminal();
    let mut bars = Bars::new(show);
    let report = send::send(&args.to, entries, &config, &mut |p| bars.update(&p)).await?;
    bars.finish();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for (path, outcome) in &report.entries {
            if let Outcome::Failed { code, text } = outcome {
                eprintln!("prise send: {path}: {text} ({code})");
            }
        }
        let rate = report.bytes_sent as f64 / report.seconds.max(1e-6);
        let mut line = format!(
            "sent {} file{} ({}) in {:.1}s, {}/s",
            report.files,
            if report.files == 1 { "" } else { "s" },
            human_bytes(report.bytes_sent),
            report.seconds,
            human(rate),
        );
        if report.dirs > 0 {
            line.push_str(&format!(", {} folder(s)", report.dirs));
        }
        if report.bytes_resumed > 0 {
            line.push_str(&format!(
                "; resumed: {} were already there",
                human_bytes(report.bytes_resumed)
            ));
        }
        if report.skipped > 0 {
            line.push_str(&format!("; {} already there", report.skipped));
        }
        if report.failed > 0 {
            line.push_str(&format!("; {} FAILED", report.failed));
        }
        println!("{line}");
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Progress bars on a terminal: the current file and the whole session.
struct Bars {
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    file: Option<ProgressBar>,
}

impl Bars {
    fn new(show: bool) -> Self {
        Self {
            multi: show.then(MultiProgress::new),
            total: None,
            file: None,
        }
    }

    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }

    fn update(&mut self, progress: &Progress<'_>) {
        let Some(multi) = &self.multi else {
            return;
        };
        match progress {
            Progress::Started { bytes, .. } => {
                let bar = multi.add(ProgressBar::new(*bytes));
                bar.set_style(Self::style(
                    "total {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                ));
                self.total = Some(bar);
            }
            Progress::FileStarted { path, size, offset } => {
                let bar = match size {
                    Some(size) => {
                        let bar = multi.insert(0, ProgressBar::new(*size));
                        bar.set_style(Self::style(
                            "{msg:30!} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                        ));
                        bar.set_position(*offset);
                        bar
                    }
                    None => {
                        let bar = multi.insert(0, ProgressBar::new_spinner());
                        bar.set_style(Self::style("{msg:30!} {spinner} {bytes} {bytes_per_sec}"));
                        bar
                    }
                };
                bar.set_message((*path).to_owned());
                if let Some(total) = &self.total {
                    total.inc(*offset);
                }
                if let Some(old) = self.file.replace(bar) {
                    old.finish_and_clear();
                }
            }
            Progress::Bytes { sent } => {
                if let Some(file) = &self.file {
                    file.inc(*sent);
                }
                if let Some(total) = &self.total {
                    total.inc(*sent);
                }
            }
            Progress::Finished { size, outcome, .. } => {
                if let Some(file) = self.file.take() {
                    file.finish_and_clear();
                }
                // A file the receiver already had, or refused before any byte moved, counts
                // as done for the total.
                if let (Outcome::Had | Outcome::Failed { .. }, Some(total), Some(size)) =
                    (outcome, &self.total, size)
                {
                    total.inc(*size);
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(file) = self.file.take() {
            file.finish_and_clear();
        }
        if let Some(total) = self.total.take() {
            total.finish_and_clear();
        }
    }
}

/// `1.5 MiB`.
fn human_bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        human(n as f64)
    }
}

/// A byte amount (or rate) in binary units with one decimal.
fn human(mut value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `prise receive`.
pub(crate) async fn receive(
    args: ReceiveArgs,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    let crate::server::Started {
        shutdown,
        listener,
        local,
        tls,
    } = crate::server::start("receive", &args.listen, &args.tls, |cli| {
        match cli.command {
            crate::args::Command::Receive(args) => Some(args.tls),
            _ => None,
        }
    })
    .await?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let (token, made_up) = match args.token {
        Some(token) => (token, false),
        None => (prise_files::new_token()?, true),
    };
    let mut config = receive::Config::new(args.dir.clone());
    config.token = Some(token.clone());
    config.max_size = args.max_size;
    config.clash = match (args.overwrite, args.rename) {
        (true, _) => Clash::Overwrite,
        (_, true) => Clash::Rename,
        _ => Clash::Keep,
    };
    config.once = args.once;
    config.tls = tls;
    config.trace = trace;
    config.idle_timeout = args.idle_timeout;
    config.grace = args.common.grace;
    // One line per file: on stdout what arrived, on stderr what was refused and why.
    config.on_entry = Some(receive::EntryHook(Arc::new(|peer, event| match event {
        receive::EntryEvent::Received { path, bytes } => {
            println!("received {path} ({}) from {peer}", human_bytes(bytes));
        }
        receive::EntryEvent::Had { .. } => {}
        receive::EntryEvent::Refused { path, code, text } => {
            eprintln!("prise receive: refused {path} from {peer}: {text} ({code})");
        }
    })));
    announce("receive", local);
    if made_up {
        let host = if local.ip().is_unspecified() {
            format!("THIS-HOST:{}", local.port())
        } else {
            local.to_string()
        };
        println!("send with: prise send PATH... --to {host} --token {token}");
    }
    let outcome: Arc<Mutex<Option<bool>>> = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&outcome);
    receive::run(listener, config, shutdown, move |peer, result| {
        let ok = match result {
            Ok(s) => {
                println!(
                    "received from {peer}: {} file(s), {} folder(s), {}; {} already there, {} failed",
                    s.files,
                    s.dirs,
                    human_bytes(s.bytes),
                    s.skipped,
                    s.failed
                );
                s.failed == 0
            }
            Err(e) => {
                eprintln!("prise receive: session from {peer}: {e}");
                false
            }
        };
        if let Ok(mut slot) = seen.lock() {
            *slot = Some(ok);
        }
    })
    .await?;
    let last = outcome.lock().ok().and_then(|o| *o);
    Ok(match (args.once, last) {
        (true, Some(false)) => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}
