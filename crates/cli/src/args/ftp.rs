//! The arguments of `prise ftp`: the server and the client commands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueHint};

use super::common::{duration, parse_oper, ClientTlsArgs, ServeArgs, ServerTlsArgs, TimeoutArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum FtpCommand {
    /// Serve DIR (the current folder by default) over FTP until Ctrl-C.
    Serve(FtpServeArgs),
    /// List a folder on an FTP server.
    Ls(FtpLsArgs),
    /// Download a file, resuming a `.part` left by an earlier try.
    Get(FtpGetArgs),
    /// Upload a file.
    Put(FtpPutArgs),
}

/// What every FTP client command takes.
#[derive(Debug, Args)]
pub(crate) struct FtpClientArgs {
    /// The server connects to us for data (PORT/EPRT) instead of the default passive mode.
    #[arg(long)]
    pub(crate) active: bool,

    #[command(flatten)]
    pub(crate) timeouts: TimeoutArgs,

    /// TLS (explicit, AUTH TLS) for commands and data.
    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FtpLsArgs {
    /// `ftp://[USER[:PASSWORD]@]HOST[:PORT]/FOLDER/` (the password may come from
    /// $PRISE_FTP_PASSWORD instead; no user: anonymous).
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// One JSON array of entries (name, type, size, modified).
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: FtpClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FtpGetArgs {
    /// `ftp://[USER[:PASSWORD]@]HOST[:PORT]/PATH` (the password may come from
    /// $PRISE_FTP_PASSWORD instead).
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// Where to save it (default: its name, in the current folder; `-` for stdout). It is
    /// written as FILE.part and renamed once whole.
    #[arg(short, long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) output: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) client: FtpClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FtpPutArgs {
    /// The file to send.
    #[arg(value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) file: PathBuf,

    /// `ftp://[USER[:PASSWORD]@]HOST[:PORT]/PATH` (ending in / for the file's own name; the
    /// password may come from $PRISE_FTP_PASSWORD instead).
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// Send only what the server lacks: append to the part it already has (SIZE, then APPE).
    #[arg(short = 'c', long = "continue")]
    pub(crate) resume: bool,

    #[command(flatten)]
    pub(crate) client: FtpClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FtpServeArgs {
    /// The folder to serve; clients see it as / (default: the current folder).
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) dir: Option<PathBuf>,

    /// The folder to serve, as a setting (`root = "/srv/ftp"` in a config file); DIR wins.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) root: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2121")]
    pub(crate) listen: String,

    /// A user who may read and write (repeatable); better in the config file
    /// (`user = ["name:password"]`), since command lines show in `ps`.
    #[arg(long, value_name = "NAME:PASS", value_parser = parse_oper)]
    pub(crate) user: Vec<(String, String)>,

    /// Let `anonymous` (and `ftp`) in with any password, to read only.
    #[arg(long)]
    pub(crate) anonymous: bool,

    /// Nobody writes, named users included.
    #[arg(long)]
    pub(crate) read_only: bool,

    /// Ports for passive data connections, as LOW-HIGH (for a firewall); any free port
    /// otherwise.
    #[arg(long, value_name = "LOW-HIGH", value_parser = port_range)]
    pub(crate) passive_ports: Option<std::ops::RangeInclusive<u16>>,

    /// The IPv4 address PASV tells clients to connect to (the server's public address behind
    /// NAT); the address the client reached otherwise.
    #[arg(long, value_name = "IP")]
    pub(crate) public_ip: Option<std::net::Ipv4Addr>,

    /// Close a control connection silent for this long (transfers do not count).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub(crate) idle_timeout: Duration,

    /// Time for a data connection to be made, and the longest stall inside a transfer.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub(crate) data_timeout: Duration,

    /// Most transfers at once, over all clients; more get "425 try again" until one ends.
    #[arg(long, value_name = "N", default_value_t = prise_ftp::server::MAX_TRANSFERS,
          value_parser = clap::value_parser!(usize))]
    pub(crate) max_transfers: usize,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

/// `LOW-HIGH` for `--passive-ports`.
fn port_range(text: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| "expected LOW-HIGH, such as 50000-50100".to_owned())?;
    let low: u16 = low
        .trim()
        .parse()
        .map_err(|_| format!("{low:?} is not a port"))?;
    let high: u16 = high
        .trim()
        .parse()
        .map_err(|_| format!("{high:?} is not a port"))?;
    if low == 0 || low > high {
        return Err("expected 1 <= LOW <= HIGH".into());
    }
    Ok(low..=high)
}
