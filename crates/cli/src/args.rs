//! The command line, as clap sees it. Nothing here does work: `main` turns these raw arguments
//! into each service's validated `Config` and runs it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueHint};
use prise_core::tls::Fingerprint;

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

#[derive(Debug, Subcommand)]
pub(crate) enum ChatCommand {
    /// Run the chat server: native, text (nc/telnet) and TLS clients on one port.
    Serve(ChatServeArgs),
    /// Chat from the terminal, reconnecting by itself.
    Connect(ChatConnectArgs),
    /// Send one message and exit (for scripts and cron).
    Send(ChatSendArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ChatServeArgs {
    /// Address to listen on (port 0 picks a free port; the announce line tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    pub(crate) listen: String,

    /// Keep room history in this SQLite file [default: prise/chat-history.sqlite in the user's
    /// data folder].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, conflicts_with = "no_history")]
    pub(crate) history: Option<PathBuf>,

    /// Keep no history on disk (the last messages of each open room stay in memory).
    #[arg(long)]
    pub(crate) no_history: bool,

    /// Messages replayed to someone joining a room.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) replay: usize,

    /// Extra welcome text, shown after the line that tells a newcomer their name.
    #[arg(long, value_name = "TEXT")]
    pub(crate) motd: Option<String>,

    /// Room newcomers are placed in.
    #[arg(long, value_name = "ROOM", default_value = "#general")]
    pub(crate) default_room: String,

    /// The server's name as IRC clients see it (prefixes, numerics, WHO and WHOIS): a host
    /// name such as `irc.example.org`.
    #[arg(long, value_name = "NAME", default_value = "prise", value_parser = parse_server_name)]
    pub(crate) server_name: String,

    /// Also listen for IRC clients only on ADDR (IRC's port is 6667). The main port
    /// recognises IRC clients too.
    #[arg(long, value_name = "ADDR")]
    pub(crate) irc: Option<String>,

    /// Also listen for IRC over TLS only on ADDR (IRC's port is 6697); needs the TLS flags.
    #[arg(long, value_name = "ADDR")]
    pub(crate) irc_tls: Option<String>,

    /// Also serve the browser client on ADDR (http://ADDR/, or https:// with the TLS flags),
    /// with its WebSocket at /ws.
    #[arg(long, value_name = "ADDR")]
    pub(crate) web: Option<String>,

    /// An origin whose pages may open the WebSocket besides the page's own
    /// (`https://chat.example.org`; repeatable; `*` allows any site, which lets any page a user
    /// visits chat in their name).
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) web_origin: Vec<String>,

    /// A server operator for IRC's OPER, as NAME:PASSWORD (repeatable). Prefer the config
    /// file (`oper = ["name:password"]`): command lines are visible to every local user.
    #[arg(long, value_name = "NAME:PASSWORD", value_parser = parse_oper)]
    pub(crate) oper: Vec<(String, String)>,

    /// Messages per second one client may send in the long run (0: no limit, for benchmarks).
    #[arg(long, value_name = "RATE", default_value_t = 5.0)]
    pub(crate) flood_rate: f64,

    /// Messages one client may send in a burst.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) flood_burst: u32,

    /// Ping a silent native client after this long; drop it after twice this long.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub(crate) idle_timeout: Duration,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ChatConnectArgs {
    /// Server address, HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// Nick to ask for (a guest name otherwise).
    #[arg(long, value_name = "NAME")]
    pub(crate) nick: Option<String>,

    /// Rooms to join besides the server's default room (repeatable).
    #[arg(long = "room", value_name = "ROOM")]
    pub(crate) rooms: Vec<String>,

    /// Line mode: read commands and messages from stdin, print events to stdout (the default
    /// when stdin or stdout is not a terminal).
    #[arg(long)]
    pub(crate) plain: bool,

    #[command(flatten)]
    pub(crate) timeouts: TimeoutArgs,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ChatSendArgs {
    /// Server address, HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// The message.
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: String,

    /// Nick to send as; refused (exit 1) if someone has it.
    #[arg(long, value_name = "NAME")]
    pub(crate) nick: String,

    /// Room to send to.
    #[arg(long, value_name = "ROOM", default_value = "#general")]
    pub(crate) room: String,

    #[command(flatten)]
    pub(crate) timeouts: TimeoutArgs,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EchoCommand {
    /// Serve echo: every client gets its bytes back, any number of clients at once.
    Serve(EchoServeArgs),
    /// Send MESSAGE (or stdin) to an echo server and print what comes back.
    Send(EchoSendArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EchoServeArgs {
    /// Address to listen on (port 0 picks a free port; the announce line tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7007")]
    pub(crate) listen: String,

    /// Answer every received line with TEXT instead of echoing (the tutorial's server says
    /// "Message bien reçu!").
    #[arg(long, value_name = "TEXT")]
    pub(crate) reply: Option<String>,

    /// Close a connection that sends nothing for this long.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub(crate) idle_timeout: Duration,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EchoSendArgs {
    /// Server address, HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// Text to send, followed by a newline; stdin is sent as is when absent.
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: Option<String>,

    /// Send MESSAGE N times over one connection, one line at a time, and print round-trip
    /// times like ping (MESSAGE defaults to "ping").
    #[arg(short = 'c', long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) count: Option<u32>,

    /// With --count, wait this long between messages.
    #[arg(short = 'i', long, value_name = "DURATION", default_value = "0", value_parser = duration, requires = "count")]
    pub(crate) interval: Duration,

    #[command(flatten)]
    pub(crate) timeouts: TimeoutArgs,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Files and folders to send (folders with everything under them); `-` sends stdin.
    #[arg(value_name = "PATH", required = true, value_hint = ValueHint::AnyPath)]
    pub(crate) paths: Vec<PathBuf>,

    /// The receiver, HOST:PORT (what `prise receive` printed).
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: String,

    /// The file name stdin (`-`) is received under.
    #[arg(long, value_name = "NAME", default_value = "stdin")]
    pub(crate) name: String,

    /// Print the outcome as JSON on stdout (no progress bars).
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReceiveArgs {
    /// Address to listen on. Every address by default: a receiver is for other machines (the
    /// token keeps strangers out).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7171")]
    pub(crate) listen: String,

    /// Folder to receive into; nothing is written outside it.
    #[arg(long, value_name = "DIR", default_value = ".", value_hint = ValueHint::DirPath)]
    pub(crate) dir: PathBuf,

    /// Stop after one session.
    #[arg(long)]
    pub(crate) once: bool,

    /// Senders must give this token; when absent one is made up and printed.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRISE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Refuse files larger than SIZE (bytes, or with K, M, G, T: powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub(crate) max_size: Option<u64>,

    /// Replace a different file of the same name (once the new one is verified).
    #[arg(long, conflicts_with = "rename")]
    pub(crate) overwrite: bool,

    /// Keep a different file of the same name and write the new one as `name (1).ext`.
    #[arg(long)]
    pub(crate) rename: bool,

    /// Give up on a sender silent for this long.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub(crate) idle_timeout: Duration,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Keep the snapshots that clients push, in a store folder.
    Serve(BackupServeArgs),
    /// Push a folder as a new snapshot.
    Push(BackupPushArgs),
    /// List the snapshots (each one's id, time, files and bytes).
    List(BackupListArgs),
    /// Restore a snapshot (the latest by default) into a folder.
    Restore(BackupRestoreArgs),
    /// Keep the last N snapshots of a backup; remove the others and the content only they used.
    Forget(BackupForgetArgs),
    /// Read every chunk in the store and check it; exit 1 if any is damaged or missing.
    Check(BackupCheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BackupForgetArgs {
    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// The backup's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,

    /// How many of the latest snapshots to keep.
    #[arg(long, value_name = "N")]
    pub(crate) keep_last: u64,

    /// Print the outcome as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupCheckArgs {
    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// Print the findings as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7272")]
    pub(crate) listen: String,

    /// The store folder (created if needed).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) store: PathBuf,

    /// Clients must give this token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRISE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HttpCommand {
    /// Serve DIR (the current folder by default) until Ctrl-C.
    Serve(HttpServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HttpServeArgs {
    /// The folder to serve (default: the current folder).
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) dir: Option<PathBuf>,

    /// The folder to serve, as a setting (`root = "/srv/www"` in a config file); DIR wins.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) root: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,

    /// Serve and list names starting with '.' (hidden otherwise: answered 404, not listed).
    #[arg(long)]
    pub(crate) hidden: bool,

    /// Follow symlinks that lead outside DIR (otherwise they are answered 404).
    #[arg(long)]
    pub(crate) follow_symlinks: bool,

    /// Accept uploads: `PUT /path` (`curl -T FILE URL`), stored only once complete.
    #[arg(long)]
    pub(crate) upload: bool,

    /// Let an upload replace an existing file (otherwise 409 Conflict).
    #[arg(long)]
    pub(crate) overwrite: bool,

    /// Largest upload (413 beyond): bytes, or with K, M, G (powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = size, default_value = "4G")]
    pub(crate) max_upload: u64,

    /// A user for HTTP Basic authentication (repeatable); better in the config file
    /// (`auth = ["name:password"]`), since command lines show in `ps`.
    #[arg(long, value_name = "USER:PASS")]
    pub(crate) auth: Vec<String>,

    /// More users, from an htpasswd file (bcrypt from `htpasswd -B`, SHA-crypt from
    /// `openssl passwd -5/-6`, or Argon2). SIGHUP reads it again.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) htpasswd: Option<PathBuf>,

    /// With --auth or --htpasswd, reads stay public and only uploads need a user.
    #[arg(long)]
    pub(crate) auth_uploads_only: bool,

    /// Let pages of any origin read (and, with --upload, write) through the browser (CORS).
    #[arg(long)]
    pub(crate) cors: bool,

    /// Add this header to every answer (repeatable): --header 'Cache-Control: max-age=60'.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub(crate) header: Vec<String>,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

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

#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The checks and notifiers (`[[check]]` and `[[notify]]` tables; see the README). Not
    /// named `config`: that id means a `--config` file of flags (see config.rs).
    #[arg(value_name = "CONFIG", value_hint = ValueHint::FilePath)]
    pub(crate) checks: PathBuf,

    /// Run every check once, print the results, and exit 1 if any is down.
    #[arg(long)]
    pub(crate) once: bool,

    /// With --once: one JSON object per check and line.
    #[arg(long, requires = "once")]
    pub(crate) json: bool,

    /// Serve the status page, its JSON API (/api/checks, /api/incidents), /metrics and
    /// /badge/NAME.svg on ADDR (e.g. 127.0.0.1:8090).
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub(crate) status: Option<String>,

    /// Keep the history (every run, every incident) in this SQLite file
    /// [default: prise/monitor-history.sqlite in the user's data folder].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, conflicts_with = "no_history")]
    pub(crate) history: Option<PathBuf>,

    /// Keep no history (the status page then shows no uptime).
    #[arg(long)]
    pub(crate) no_history: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TimeArgs {
    /// Servers to ask, as NAME, NAME:PORT, an address, or an IPv6 address in brackets with a
    /// port (`[::1]:123`); every address a name
    /// resolves to is asked. Default: pool.ntp.org.
    #[arg(value_name = "SERVER")]
    pub(crate) servers: Vec<String>,

    /// Requests per server; the one with the smallest round trip is the answer.
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) samples: u32,

    /// Time between two requests to one server (public servers refuse faster than 2 s).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    pub(crate) interval: Duration,

    /// How long to wait for each reply.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) timeout: Duration,

    /// IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub(crate) ipv4: bool,

    /// IPv6 addresses only.
    #[arg(short = '6')]
    pub(crate) ipv6: bool,

    /// One JSON object per server on stdout, for scripts.
    #[arg(long)]
    pub(crate) json: bool,
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

#[derive(Debug, Args)]
pub(crate) struct BackupPushArgs {
    /// The folder to back up.
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) dir: PathBuf,

    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: String,

    /// The backup's name (default: the folder's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Read every file, ignoring the index of the last push (files whose size, modification
    /// time and inode are unchanged are otherwise not read again).
    #[arg(long)]
    pub(crate) no_index: bool,

    /// Leave out what matches this glob (repeatable). Without '/', it matches a name at any
    /// depth ('*.tmp', 'node_modules'); with '/', the path from DIR ('build/*.o', '/cache');
    /// a trailing '/' matches folders only ('logs/').
    #[arg(long, value_name = "GLOB")]
    pub(crate) exclude: Vec<String>,

    /// Print the outcome as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupListArgs {
    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// Only this backup (default: all).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Print the snapshots as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupRestoreArgs {
    /// Where to restore (created if needed; files of the same names are replaced).
    #[arg(value_name = "DEST", value_hint = ValueHint::DirPath)]
    pub(crate) dest: PathBuf,

    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// The backup's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,

    /// The snapshot's id (see `prise backup list`); the latest when absent.
    #[arg(long, value_name = "ID")]
    pub(crate) snapshot: Option<String>,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
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
/// A server name: a host name (letters, digits, `-` and `.`), 1 to 63 bytes, as it must be
/// to stand in IRC prefixes.
fn parse_server_name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > 63 {
        return Err("a server name is 1 to 63 bytes".into());
    }
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok || name.starts_with(['.', '-']) || name.ends_with('.') {
        return Err("a server name is a host name: letters, digits, '-' and '.'".into());
    }
    Ok(name.to_owned())
}

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
    use super::{parse_server_name, Cli};
    use clap::CommandFactory;

    #[test]
    fn server_names_are_host_names() {
        for good in ["prise", "irc.example.org", "My.Little.Server", "a-1"] {
            assert_eq!(parse_server_name(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "two words",
            "a:b",
            ".lead",
            "trail.",
            "-x",
            "é.org",
            &"x".repeat(64),
        ] {
            assert!(parse_server_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
