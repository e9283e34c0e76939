//! The command line, as clap sees it. Nothing here does work: `main` turns these raw arguments
//! into each service's validated `Config` and runs it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueHint};
use prise_core::tls::Fingerprint;

mod backup;
mod chat;
mod echo;
mod files;
mod ftp;
mod http;
mod monitor;
mod time;

pub(crate) use backup::BackupCommand;
pub(crate) use chat::{ChatCommand, ChatConnectArgs, ChatSendArgs, ChatServeArgs};
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

/// What every client of a token-protected server takes (`prise send`, the backup commands).
#[derive(Debug, Args)]
pub(crate) struct TokenClientArgs {
    /// The server's token (for `prise send`, what `prise receive` printed).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRISE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Give up connecting (TCP and TLS) after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) connect_timeout: Duration,

    /// Give up when the server has not answered for this long.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub(crate) timeout: Duration,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

/// A byte count: digits, optionally followed by K, M, G or T (powers of 1024) and an optional
/// `B` or `iB`.
fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 500M, 2G, 1048576)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Options every server has besides TLS.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Read settings from a TOML file (the same names as the flags; flags win). On SIGHUP the
    /// TLS certificate and key are read again.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) config: Option<PathBuf>,

    /// Serve at most N clients at once on each listening port; others wait until a slot frees.
    #[arg(long, value_name = "N", default_value_t = prise_core::server::MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,

    /// On Ctrl-C or SIGTERM, give connections this long to finish.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) grace: Duration,
}

impl ServeArgs {
    /// The connection cap as the services take it.
    pub(crate) fn max_connections(&self) -> usize {
        // Bounded to 1..=1_000_000 by the parser, so it fits any usize.
        usize::try_from(self.max_connections).unwrap_or(usize::MAX)
    }
}

/// TLS options of every server.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(crate) struct ServerTlsArgs {
    /// Serve TLS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key", value_hint = ValueHint::FilePath)]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key for --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert", value_hint = ValueHint::FilePath)]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate made at start; its fingerprint is printed for clients to
    /// pin with --fingerprint.
    #[arg(long, conflicts_with = "tls_cert")]
    pub(crate) tls_self_signed: bool,
}

/// TLS options of every client.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(crate) struct ClientTlsArgs {
    /// Connect with TLS, verifying the server against the system's trusted roots.
    #[arg(long)]
    pub(crate) tls: bool,

    /// Trust the certificates in FILE (PEM) instead of the system roots. Implies --tls.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) ca: Option<PathBuf>,

    /// Trust exactly the certificate with this SHA-256 fingerprint ("SHA256:" and 64 hex digits,
    /// as the server prints it). Implies --tls.
    #[arg(long, value_name = "SHA256:HEX", conflicts_with = "ca")]
    pub(crate) fingerprint: Option<Fingerprint>,

    /// Do not verify the server at all (encrypted, but anyone in between can read). Implies
    /// --tls. Prints a warning.
    #[arg(long, conflicts_with_all = ["ca", "fingerprint"])]
    pub(crate) insecure: bool,
}

/// Timeouts of every client.
#[derive(Debug, Args)]
pub(crate) struct TimeoutArgs {
    /// Give up connecting (TCP and TLS) after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) connect_timeout: Duration,

    /// Give up when the server has not answered for this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub(crate) timeout: Duration,
}

fn duration(text: &str) -> Result<Duration, String> {
    prise_core::duration::parse_duration(text).map_err(|e| e.to_string())
}

/// `NAME:PASSWORD` for `--oper`.
fn parse_oper(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            if name.contains(char::is_whitespace) {
                return Err("the operator name has no spaces".into());
            }
            Ok((name.to_owned(), password.to_owned()))
        }
        _ => Err("expected NAME:PASSWORD, both non-empty".into()),
    }
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
