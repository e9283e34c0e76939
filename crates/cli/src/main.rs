//! `prise`: the binary users install.
//!
//! This crate owns everything about the command line: clap types ([`args`]), logging setup,
//! signal handling, and turning raw arguments into each service's validated `Config`. Service
//! crates never see clap.
//!
//! Errors print as one line on stderr (`prise: cannot connect to ...: connection refused`) with
//! a non-zero exit; a closed stdout (`prise ... | head`) is not an error.

mod args;
mod backup;
mod chat;
mod config;
mod echo;
mod files;
mod ftp;
mod http;
mod logging;
mod monitor;
mod server;
mod signals;
mod time;
mod tls;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match parse_arguments() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "prise: {err:#}");
            return ExitCode::from(2);
        }
    };
    logging::init(cli.verbose, cli.quiet);
    prise_core::tls::install_crypto_provider();
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // One readable line: the context chain joined with ": ".
            let _ = writeln!(std::io::stderr(), "prise: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line with its `--config` file expanded. Called again on SIGHUP to reload.
fn parse_arguments() -> anyhow::Result<Cli> {
    let raw = config::expand(std::env::args_os().collect())?;
    Ok(Cli::parse_from(raw))
}

/// Parse again for a reload: like [`parse_arguments`], but an error is returned, not printed
/// and exited on, so a bad edit to the config file leaves the running server as it was.
pub(crate) fn reparse_arguments() -> anyhow::Result<Cli> {
    let raw = config::expand(std::env::args_os().collect())?;
    Cli::try_parse_from(raw).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let trace = match &cli.trace_file {
        Some(path) => Some(prise_core::trace::TrafficLog::open(path)?),
        None => None,
    };
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "prise", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { out_dir } => {
            write_man_pages(out_dir.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Echo(command) => {
            let result = runtime()?.block_on(echo::run(command, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
        Command::Chat(command) => {
            let result = runtime()?.block_on(chat::run(command, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
        Command::Send(args) => {
            let result = runtime()?.block_on(files::send(args, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
        Command::Backup(command) => {
            let result = runtime()?.block_on(backup::run(command, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
        Command::Http(command) => {
            let result = runtime()?.block_on(http::run(command, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
        Command::Ftp(command) => {
            let result = runtime()?.block_on(ftp::run(command, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
        Command::Time(args) => runtime()?.block_on(time::run(args)),
        Command::Monitor(args) => runtime()?.block_on(monitor::run(args)),
        Command::Receive(args) => {
            let result = runtime()?.block_on(files::receive(args, trace.clone()));
            flush_trace(trace.as_ref());
            result
        }
    }
}

/// Everything logged so far reaches the trace file before we exit.
fn flush_trace(trace: Option<&prise_core::trace::TrafficLog>) {
    if let Some(trace) = trace {
        trace.flush();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn write_man_pages(out_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cmd = Cli::command();
    let Some(dir) = out_dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fn render(cmd: clap::Command, name: String, dir: &std::path::Path) -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.clone())).render(&mut buf)?;
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            render(sub.clone(), format!("{name}-{}", sub.get_name()), dir)?;
        }
        Ok(())
    }
    let mut cmd = cmd;
    cmd.build();
    render(cmd, "prise".into(), dir)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
