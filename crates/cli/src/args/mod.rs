//! The command line, as clap sees it. Nothing here does work: `main` turns these raw arguments
//! into each service's validated `Config` and runs it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueHint};

mod backup;
mod chat;
mod common;
mod echo;
mod files;
mod ftp;
mod http;
mod monitor;
mod time;

pub(crate) use backup::BackupCommand;
pub(crate) use chat::{
    AccountCommand, ChatCommand, ChatConnectArgs, ChatSendArgs, ChatServeArgs, RegisterEmailArg,
    RegistrationArg,
};
pub(crate) use common::{ClientTlsArgs, ServerTlsArgs, TimeoutArgs, TokenClientArgs};
pub(crate) use echo::{EchoCommand, EchoSendArgs, EchoServeArgs};
pub(crate) use files::{ReceiveArgs, SendArgs};
pub(crate) use ftp::{FtpClientArgs, FtpCommand, FtpServeArgs};
pub(crate) use http::HttpCommand;
pub(crate) use monitor::MonitorArgs;
pub(crate) use time::TimeArgs;

/// Everyday TCP/IP jobs in one binary: chat, file transfer, backup, HTTP, FTP, time,
/// monitoring, echo.
#[derive(Debug, Parser)]
#[command(
    name = "prise",
    version,
    about,
    long_about = None,
    propagate_version = true,
    // A flag given twice keeps its last value: that is how command-line flags override the
    // settings of a --config file (see config.rs).
    args_override_self = true
)]
pub(crate) struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// Less log output on stderr (-q errors only, -qq nothing).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: u8,

    /// Append every byte sent and received, by every service, to FILE (one line per read or
    /// write: time, service, peer, direction, byte count, bytes). Passwords are hidden.
    #[arg(long, value_name = "FILE", global = true, value_hint = ValueHint::FilePath)]
    pub(crate) trace_file: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Chat server and clients: rooms, private messages, history; nc, terminal and scripts.
    #[command(subcommand)]
    Chat(ChatCommand),
    /// Echo server and client: every byte sent comes back (or a fixed reply per line).
    #[command(subcommand)]
    Echo(EchoCommand),
    /// Send files and folders to a `prise receive`: verified with BLAKE3, resumable.
    Send(SendArgs),
    /// Receive files and folders from `prise send` into a folder, and nowhere else.
    Receive(ReceiveArgs),
    /// Backups: snapshots of folders on a server that stores content once; a push sends only
    /// what the server lacks.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Serve a folder over HTTP: files, listings, ranges, conditional requests; TLS too.
    #[command(subcommand)]
    Http(HttpCommand),
    /// FTP: a server that curl, lftp, FileZilla and ftplib use (passive and active, explicit
    /// TLS, resume).
    #[command(subcommand)]
    Ftp(FtpCommand),
    /// Ask NTP servers for the time (SNTP over UDP) and show how far this clock is from
    /// theirs. Never sets the clock. Exit 0 when a server answered, 1 when none did.
    Time(TimeArgs),
    /// Watch servers (tcp, http, https, tls, ntp, echo) as a TOML file says, and notify by
    /// webhook or command when one goes down and comes back.
    Monitor(MonitorArgs),
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (prise.1 and one per subcommand) into a folder, or prise.1 to stdout.
    Man {
        /// Folder to write the pages into; stdout (prise.1 only) when absent.
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        out_dir: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
