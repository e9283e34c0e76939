//! The arguments of `prise chat`: the server, the terminal client and one-shot sends.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueHint};

use super::common::{duration, parse_oper, ClientTlsArgs, ServeArgs, ServerTlsArgs, TimeoutArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum ChatCommand {
    /// Run the chat server: native, text (nc/telnet) and TLS clients on one port.
    Serve(Box<ChatServeArgs>),
    /// Chat from the terminal, reconnecting by itself.
    Connect(ChatConnectArgs),
    /// Send one message and exit (for scripts and cron).
    Send(ChatSendArgs),
    /// Manage accounts in the server's database (offline; a running server sees the change).
    #[command(subcommand)]
    Account(AccountCommand),
}

/// `prise chat account ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// List the accounts.
    List(AccountDbArgs),
    /// Add an account; the password comes from $PRISE_CHAT_PASSWORD or stdin's first line.
    Add(AccountNameArgs),
    /// Give an account a new password ($PRISE_CHAT_PASSWORD or stdin's first line).
    ResetPassword(AccountNameArgs),
    /// Delete an account.
    Delete(AccountNameArgs),
}

/// The database of `prise chat account`.
#[derive(Debug, Args)]
pub(crate) struct AccountDbArgs {
    /// The server's history database, where accounts are kept [default: as for `chat serve`].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) history: Option<PathBuf>,
}

/// An account of `prise chat account`.
#[derive(Debug, Args)]
pub(crate) struct AccountNameArgs {
    /// The account name (the rules of nicks).
    #[arg(value_name = "NAME")]
    pub(crate) name: String,

    #[command(flatten)]
    pub(crate) db: AccountDbArgs,
}

/// `--register-email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RegisterEmailArg {
    /// An email address may be given.
    Optional,
    /// An email address must be given.
    Required,
}

/// `--registration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RegistrationArg {
    /// Anyone may register an account.
    Open,
    /// Nobody may: accounts come from `prise chat account add`.
    Closed,
    /// Server operators only.
    Opers,
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

    /// Who may register an account (IRC's NickServ REGISTER); accounts are kept in the
    /// history database, or in memory with --no-history.
    #[arg(long, value_name = "WHO", value_enum, default_value = "open")]
    pub(crate) registration: RegistrationArg,

    /// Whether a registration must give an email address (stored only: no mail is sent).
    #[arg(long, value_name = "WHEN", value_enum, default_value = "optional")]
    pub(crate) register_email: RegisterEmailArg,

    /// Let IRC clients REGISTER an account before their connection registration ends
    /// (IRCv3 draft/account-registration's before-connect).
    #[arg(long)]
    pub(crate) register_before_connect: bool,

    /// How long someone on a registered nick who is not logged in to its account keeps it
    /// before being renamed to a guest nick.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub(crate) nick_grace: Duration,

    /// A server password every client must give before it becomes a user: IRC's PASS, the
    /// native hello's "password", the text door's /pass, the browser's prompt. Prefer
    /// $PRISE_CHAT_SERVER_PASSWORD or the config file (`password = "..."`): command lines are
    /// visible to every local user.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "PRISE_CHAT_SERVER_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) password: Option<String>,

    /// Share rooms with the other nodes on this Redis (or Valkey): redis://HOST:PORT[/DB],
    /// a password as redis://:PASSWORD@HOST. See docs/CLUSTER.md for what is shared yet.
    #[arg(
        long,
        value_name = "URL",
        env = "PRISE_REDIS_URL",
        hide_env_values = true
    )]
    pub(crate) redis: Option<String>,

    /// This node's name among the others on --redis (default: the host name and the process
    /// id).
    #[arg(long, value_name = "NAME", requires = "redis")]
    pub(crate) node_name: Option<String>,

    /// How long this node's nicks and users outlive it on the other nodes if it dies (its
    /// heartbeat runs every third of it).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration, requires = "redis")]
    pub(crate) node_ttl: Duration,

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

    /// Log in to this account at each connect; the password comes from
    /// $PRISE_CHAT_PASSWORD, or is asked on the terminal.
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,

    #[command(flatten)]
    pub(crate) identity: ClientCertArgs,

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

    /// Log in to this account before sending (exit 1 if that fails); the password comes
    /// from $PRISE_CHAT_PASSWORD, or is asked on the terminal.
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,

    #[command(flatten)]
    pub(crate) identity: ClientCertArgs,

    #[command(flatten)]
    pub(crate) timeouts: TimeoutArgs,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

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

#[cfg(test)]
mod tests {
    use super::parse_server_name;

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
}

/// A chat client's own TLS certificate (`prise chat connect` and `send`).
#[derive(Debug, Args)]
pub(crate) struct ClientCertArgs {
    /// Present this TLS client certificate (PEM) and, without --account, log in to the account
    /// it is bound to (IRC's NickServ CERT ADD, or the native `cert_add`). Needs --tls, --ca,
    /// --fingerprint or --insecure.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,

    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
}

impl ClientCertArgs {
    /// The certificate and key files, when given.
    pub(crate) fn files(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        self.cert.as_deref().zip(self.key.as_deref())
    }
}
