//! The FTP server: one task per control connection, a transfer task beside it while data moves.
//!
//! - **Commands.** RFC 959's set that clients use, with RFC 2389 (`FEAT`, `OPTS`), RFC 2428
//!   (`EPSV`, `EPRT`), RFC 3659 (`SIZE`, `MDTM`, `REST STREAM`, `MLSD`, `MLST`), `MFMT`, and
//!   RFC 4217's explicit TLS (`AUTH TLS`, `PBSZ`, `PROT`). `SITE` and unknown commands get 5xx.
//! - **Logins.** Named users (`--user NAME:PASS`) and, when allowed, `anonymous`/`ftp` with any
//!   password. Anonymous users never write. A wrong password is answered after
//!   [`Config::login_delay`], and the connection is closed after [`MAX_LOGIN_FAILURES`]. With
//!   TLS configured, a named user must say `AUTH TLS` first: passwords never cross in clear.
//! - **Data connections.** Passive (`PASV`, `EPSV`) listeners take only a connection from the
//!   control connection's own address; active ones (`PORT`, `EPRT`) connect only back to it,
//!   on a port from 1024 up (no FTP bounce).
//! - **Transfers.** Over plain TCP a download is `sendfile` and an upload reads 1 MiB at a
//!   time, each in one blocking-pool task for the whole transfer (no per-chunk round trips);
//!   over TLS (`PROT P`) or with a traffic log the bytes go through the stream, 1 MiB at a
//!   time. An upload (`STOR`) is written to a temporary file and renamed into place when it
//!   ends well; a failed or aborted one leaves nothing. `REST` + `STOR` and `APPE` write in
//!   place, as resuming needs. `TYPE A` is accepted and sends bytes as they are, as vsftpd does
//!   by default.
//! - **While data moves** the control connection still reads: `ABOR` stops the transfer
//!   (`426`, then `226`), `QUIT` stops it and leaves, other commands wait for the end.

use std::collections::VecDeque;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use prise_core::codec::LineCodec;
use prise_core::server::{serve, Connection, ServeOptions, MAX_CONNECTIONS, SHUTDOWN_GRACE};
use prise_core::stream::Stream;
use prise_core::tls::ServerTls;
use prise_core::trace::{redact_commands, TrafficLog};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::codec::{self, Command, CommandError, Entry};
use crate::fs::{Root, Upload};
use crate::Error;

/// Default port: 21 needs root; 2121 is the usual unprivileged choice.
pub const DEFAULT_PORT: u16 = 2121;

/// Wrong passwords before the connection is closed.
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// Bytes moved per read or write in a transfer.
pub const CHUNK: usize = 1024 * 1024;

/// Default most transfers at once: well under tokio's 512 blocking threads, so file commands
/// (CWD, SIZE, LIST...) always find one.
pub const MAX_TRANSFERS: usize = 256;

/// Commands a client may queue while a transfer runs.
const MAX_QUEUED: usize = 16;

/// A named user.
#[derive(Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Password, compared in constant time.
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("name", &self.name).finish()
    }
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder served; clients see it as `/`.
    pub root: PathBuf,
    /// Named users.
    pub users: Vec<User>,
    /// Let `anonymous` (and `ftp`) in with any password, read-only.
    pub anonymous: bool,
    /// Nobody writes.
    pub read_only: bool,
    /// Ports for passive data connections (any free port when `None`).
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// The IPv4 address `PASV` tells clients (behind NAT); the control connection's own
    /// address when `None`.
    pub public_ip: Option<std::net::Ipv4Addr>,
    /// TLS for `AUTH TLS`; with it, named users must use it before logging in.
    pub tls: Option<ServerTls>,
    /// At most this many clients at once.
    pub max_connections: usize,
    /// Close a control connection silent for this long (not counting transfers).
    pub idle_timeout: Duration,
    /// Time for a data connection to be made, and longest stall within a transfer.
    pub data_timeout: Duration,
    /// Wait before answering a wrong password.
    pub login_delay: Duration,
    /// Most transfers at once, over all clients (each holds a thread of the blocking pool
    /// while it runs); more get 425 until one ends.
    pub max_transfers: usize,
    /// Time transfers get to finish after shutdown.
    pub grace: Duration,
    /// Traffic log for `--trace-file` (control and data connections).
    pub trace: Option<TrafficLog>,
}

impl Config {
    /// Defaults for serving `root`: no users, no anonymous access (add some).
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            users: Vec::new(),
            anonymous: false,
            read_only: false,
            passive_ports: None,
            public_ip: None,
            tls: None,
            max_connections: MAX_CONNECTIONS,
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            login_delay: Duration::from_secs(1),
            max_transfers: MAX_TRANSFERS,
            grace: SHUTDOWN_GRACE,
            trace: None,
        }
    }
}

/// Serve FTP on `listener` until `shutdown` is cancelled.
///
/// # Errors
/// The folder cannot be opened, or the listener's address cannot be read.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let root = Root::open(&config.root)
        .map_err(|e| Error::io(format!("opening {}", config.root.display()), e))?;
    let options = ServeOptions {
        max_connections: config.max_connections,
        grace: config.grace,
        trace: config.trace.clone(),
        ..ServeOptions::new("ftp")
    };
    let transfers = Arc::new(tokio::sync::Semaphore::new(config.max_transfers.max(1)));
    let config = Arc::new(config);
    serve(listener, options, shutdown, move |conn: Connection| {
        let config = Arc::clone(&config);
        let root = root.clone();
        let transfers = Arc::clone(&transfers);
        async move {
            let peer = conn.peer;
            if let Err(e) = Box::pin(session(conn, config, root, transfers)).await {
                tracing::debug!(%peer, "ftp session ended: {e}");
            }
        }
    })
    .await
    .map_err(|e| Error::io("serving ftp", e))
}

/// Who is logged in.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    writable: bool,
}

/// Where the next data connection comes from.
enum DataPlan {
    None,
    Passive(TcpListener),
    Active(SocketAddr),
}

/// What a finished transfer says.
struct Finished {
    outcome: Result<u64, Failure>,
    success: &'static str,
}

enum Failure {
    /// The data connection broke or stalled (426).
    Connection(String),
    /// The local file failed (451).
    Local(String),
    /// Stopped by ABOR.
    Aborted,
}

/// A transfer in progress. Dropped before it ends (ABOR, QUIT, the client gone), it is
/// stopped: an upload is then thrown away, since its client never heard that it arrived.
struct Transfer {
    task: JoinHandle<Finished>,
    aborted: Arc<AtomicBool>,
    /// For the plain path: a handle on the socket, to cut it on ABOR.
    socket: Option<std::net::TcpStream>,
}

impl Transfer {
    /// Stop it: mark it aborted, cut its socket (the blocking path notices), cancel its task
    /// (the stream path; a cancelled upload drops its temporary file).
    fn stop(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        if let Some(socket) = &self.socket {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        self.task.abort();
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if !self.task.is_finished() {
            self.stop();
        }
    }
}

struct Session {
    config: Arc<Config>,
    root: Root,
    stream: Option<Stream>,
    input: BytesMut,
    codec: LineCodec,
    peer: SocketAddr,
    local: SocketAddr,
    user: Option<String>,
    account: Option<Account>,
    failures: u32,
    cwd: Vec<String>,
    rest: u64,
    rename_from: Option<Vec<String>>,
    plan: DataPlan,
    epsv_all: bool,
    protect: bool,
    pbsz: bool,
    binary: bool,
    transfers: Arc<tokio::sync::Semaphore>,
}

/// Why a session ends.
enum End {
    Quit,
    Closed,
}

async fn session(
    conn: Connection,
    config: Arc<Config>,
    root: Root,
    transfers: Arc<tokio::sync::Semaphore>,
) -> Result<(), Error> {
    let mut stream = conn.stream;
    stream.set_redactor(redact_commands(&["PASS "]));
    let local = stream
        .local_addr()
        .map_err(|e| Error::io("local address", e))?;
    let mut s = Session {
        config,
        root,
        stream: Some(stream),
        input: BytesMut::with_capacity(512),
        codec: LineCodec::new(codec::MAX_COMMAND_LEN),
        peer: conn.peer,
        local,
        user: None,
        account: None,
        failures: 0,
        cwd: Vec::new(),
        rest: 0,
        rename_from: None,
        plan: DataPlan::None,
        epsv_all: false,
        protect: false,
        pbsz: false,
        binary: true,
        transfers,
    };
    s.send(
        220,
        concat!("prise ftp ", env!("CARGO_PKG_VERSION"), " ready"),
    )
    .await?;
    let mut queued: VecDeque<Command> = VecDeque::new();
    let mut transfer: Option<Transfer> = None;
    let shutdown = conn.shutdown;
    loop {
        // A finished transfer is told before anything else.
        if let Some(t) = transfer.as_mut() {
            tokio::select! {
                biased;
                done = &mut t.task => {
                    transfer = None;
                    s.finish(done).await?;
                    continue;
                }
                line = s.next_line(None) => {
                    let Some(line) = line? else { return Ok(()) };
                    match Command::parse(&line) {
                        Ok(cmd) if cmd.verb == "ABOR" => {
                            if let Some(t) = transfer.take() {
                                s.abort(t).await?;
                            }
                        }
                        Ok(cmd) if cmd.verb == "QUIT" => {
                            // RFC 959: the transfer ends (its stall timeout bounds the wait)
                            // and is told, then the goodbye.
                            if let Some(mut t) = transfer.take() {
                                let done = (&mut t.task).await;
                                s.finish(done).await?;
                            }
                            s.send(221, "Goodbye.").await?;
                            return Ok(());
                        }
                        Ok(cmd) if queued.len() < MAX_QUEUED => queued.push_back(cmd),
                        Ok(_) => s.send(421, "Too many commands during a transfer.").await?,
                        Err(e) => s.send(500, &e.to_string()).await?,
                    }
                    continue;
                }
            }
        }
        let cmd = if let Some(cmd) = queued.pop_front() {
            cmd
        } else {
            let line = tokio::select! {
                line = s.next_line(Some(s.config.idle_timeout)) => line?,
                () = shutdown.cancelled() => {
                    let _ = s.send(421, "The server is shutting down.").await;
                    return Ok(());
                }
            };
            let Some(line) = line else { return Ok(()) };
            match Command::parse(&line) {
                Ok(cmd) => cmd,
                Err(CommandError::Empty) => continue,
                Err(e) => {
                    s.send(500, &e.to_string()).await?;
                    continue;
                }
            }
        };
        if cmd.verb == "AUTH" && !queued.is_empty() {
            // Lines sent after AUTH but before the handshake would run inside TLS as if they
            // were protected: an injection. Refused outright.
            s.send(
                503,
                "Commands followed AUTH before the TLS handshake; closing.",
            )
            .await?;
            return Ok(());
        }
        match Box::pin(s.command(cmd)).await? {
            Step::Go => {}
            Step::Start(t) => transfer = Some(t),
            Step::End(End::Quit | End::Closed) => return Ok(()),
        }
    }
}

/// What a command leads to.
enum Step {
    Go,
    Start(Transfer),
    End(End),
}

/// The reply for a failed file operation.
fn fs_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "No such file or folder.".into(),
        io::ErrorKind::PermissionDenied => format!("Permission denied: {e}."),
        io::ErrorKind::AlreadyExists => "It already exists.".into(),
        io::ErrorKind::DirectoryNotEmpty => "The folder is not empty.".into(),
        io::ErrorKind::NotADirectory => "Not a folder.".into(),
        _ => format!("{e}."),
    }
}

/// Run blocking file work off the runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
}

fn feat(tls: bool) -> String {
    let mut text = String::from("Features:\n");
    if tls {
        text.push_str(" AUTH TLS\n PBSZ\n PROT\n");
    }
    text.push_str(
        " EPRT\n EPSV\n MDTM\n MFMT\n MLST type*;size*;modify*;perm*;UNIX.mode*;\n PASV\n REST STREAM\n SIZE\n TVFS\n UTF8\nEnd",
    );
    text
}

const HELP: &str = "The following commands are recognized:\n ABOR APPE AUTH CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD RNFR RNTO SIZE STAT STOR STRU SYST TYPE USER\nHelp OK.";

impl Session {
    fn stream(&mut self) -> io::Result<&mut Stream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::other("the control connection is gone"))
    }

    fn tls_on(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_tls)
    }

    async fn send(&mut self, code: u16, text: &str) -> Result<(), Error> {
        let line = codec::reply(code, text);
        let timeout = self.config.data_timeout;
        let stream = self.stream().map_err(|e| Error::io("control", e))?;
        match tokio::time::timeout(timeout, stream.write_all(line.as_bytes())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::io("writing a reply", e)),
            Err(_) => Err(Error::Protocol(
                "the client does not read its replies".into(),
            )),
        }
    }

    /// The next command line; `None` when the client has gone (or was told to).
    async fn next_line(&mut self, idle: Option<Duration>) -> Result<Option<bytes::Bytes>, Error> {
        loop {
            match self.codec.decode(&mut self.input) {
                Ok(Some(line)) => return Ok(Some(line)),
                Ok(None) => {}
                Err(_) => {
                    self.input.clear();
                    let _ = self.send(500, "Command line too long; closing.").await;
                    self.linger().await;
                    return Ok(None);
                }
            }
            let stream = self
                .stream
                .as_mut()
                .ok_or_else(|| Error::Protocol("gone".into()))?;
            let read = stream.read_buf(&mut self.input);
            let n = match idle {
                Some(idle) => match tokio::time::timeout(idle, read).await {
                    Ok(n) => n,
                    Err(_) => {
                        let _ = self
                            .send(421, "Timeout: closing the control connection.")
                            .await;
                        return Ok(None);
                    }
                },
                None => read.await,
            };
            match n {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }

    /// Close gently after a last reply while the client may still be sending: end our side,
    /// then read and drop what comes for a moment. Closing with unread bytes would make the
    /// kernel send a reset, and a reset can destroy the reply before the client reads it.
    async fn linger(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
        let mut scratch = [0u8; 8192];
        let mut dropped = 0usize;
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        while dropped < 1024 * 1024 {
            match tokio::time::timeout_at(until, stream.read(&mut scratch)).await {
                Ok(Ok(n)) if n > 0 => dropped += n,
                _ => break,
            }
        }
    }

    fn writable(&self) -> bool {
        self.account.as_ref().is_some_and(|a| a.writable) && !self.config.read_only
    }

    fn path(&self, arg: &str) -> Result<Vec<String>, String> {
        codec::resolve(&self.cwd, arg).map_err(|e| format!("{e}."))
    }

    async fn command(&mut self, cmd: Command) -> Result<Step, Error> {
        let arg = cmd.arg.as_str();
        // Before login, only these.
        if self.account.is_none()
            && !matches!(
                cmd.verb.as_str(),
                "USER"
                    | "PASS"
                    | "AUTH"
                    | "PBSZ"
                    | "PROT"
                    | "FEAT"
                    | "SYST"
                    | "QUIT"
                    | "NOOP"
                    | "HELP"
                    | "OPTS"
                    | "ABOR"
            )
        {
            self.send(530, "Please log in with USER and PASS.").await?;
            return Ok(Step::Go);
        }
        // A REST holds for the next transfer command only.
        if !matches!(cmd.verb.as_str(), "RETR" | "STOR" | "REST") {
            self.rest = 0;
        }
        if cmd.verb != "RNTO" && cmd.verb != "RNFR" {
            self.rename_from = None;
        }
        match cmd.verb.as_str() {
            "USER" => self.user(arg).await?,
            "PASS" => return self.pass(arg).await,
            "QUIT" => {
                self.send(221, "Goodbye.").await?;
                // Over TLS, a proper end (close_notify) rather than a bare close.
                if let Some(stream) = self.stream.as_mut() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
                }
                return Ok(Step::End(End::Quit));
            }
            "AUTH" => return self.auth(arg).await,
            "PBSZ" => {
                if self.tls_on() {
                    self.pbsz = true;
                    self.send(200, "PBSZ=0").await?;
                } else {
                    self.send(503, "PBSZ comes after AUTH TLS.").await?;
                }
            }
            "PROT" => self.prot(arg).await?,
            "FEAT" => {
                let text = feat(self.config.tls.is_some());
                self.send(211, &text).await?;
            }
            "OPTS" => {
                let upper = arg.to_ascii_uppercase();
                if upper.starts_with("UTF8") {
                    self.send(200, "Always in UTF8 mode.").await?;
                } else if upper.starts_with("MLST") {
                    self.send(200, "MLST OPTS accepted; all facts are always sent.")
                        .await?;
                } else {
                    self.send(501, "Option not understood.").await?;
                }
            }
            "SYST" => self.send(215, "UNIX Type: L8").await?,
            "NOOP" => self.send(200, "NOOP ok.").await?,
            "HELP" => self.send(214, HELP).await?,
            "ABOR" => self.send(225, "No transfer to abort.").await?,
            "TYPE" => match arg.to_ascii_uppercase().as_str() {
                "I" | "L 8" | "L8" => {
                    self.binary = true;
                    self.send(200, "Switching to Binary mode.").await?;
                }
                "A" | "A N" => {
                    self.binary = false;
                    self.send(200, "Switching to ASCII mode (bytes are sent as they are).")
                        .await?;
                }
                _ => self.send(504, "TYPE is I or A.").await?,
            },
            "MODE" => match arg.to_ascii_uppercase().as_str() {
                "S" => self.send(200, "Mode set to S.").await?,
                _ => self.send(504, "Only MODE S (stream) is supported.").await?,
            },
            "STRU" => match arg.to_ascii_uppercase().as_str() {
                "F" => self.send(200, "Structure set to F.").await?,
                _ => self.send(504, "Only STRU F (file) is supported.").await?,
            },
            "ALLO" => self.send(202, "ALLO is not needed here.").await?,
            "PWD" | "XPWD" => {
                let text = format!(
                    "{} is the current folder.",
                    codec::quote_path(&codec::display(&self.cwd))
                );
                self.send(257, &text).await?;
            }
            "CWD" | "XCWD" => self.cwd(arg).await?,
            "CDUP" | "XCUP" => {
                self.cwd.pop();
                self.send(250, "Folder changed.").await?;
            }
            "PASV" => self.pasv().await?,
            "EPSV" => self.epsv(arg).await?,
            "PORT" | "EPRT" => self.port(&cmd).await?,
            "REST" => match arg.trim().parse::<u64>() {
                Ok(n) => {
                    self.rest = n;
                    self.send(350, &format!("Restarting at {n}. Send STOR or RETR."))
                        .await?;
                }
                Err(_) => self.send(501, "REST wants a byte offset.").await?,
            },
            "SIZE" | "MDTM" => self.size_or_time(&cmd).await?,
            "MFMT" => self.mfmt(arg).await?,
            "MLST" => self.mlst(arg).await?,
            "STAT" => self.stat(arg).await?,
            "DELE" | "RMD" | "XRMD" | "MKD" | "XMKD" | "RNFR" | "RNTO" => {
                self.change(&cmd).await?;
            }
            "RETR" | "STOR" | "APPE" | "LIST" | "NLST" | "MLSD" => {
                return self.transfer(&cmd).await
            }
            "SITE" => {
                self.send(504, "SITE commands are not supported.").await?;
            }
            "ACCT" | "SMNT" | "REIN" | "STOU" | "CCC" => {
                self.send(502, &format!("{} is not implemented.", cmd.verb))
                    .await?;
            }
            _ => self.send(500, "Unknown command.").await?,
        }
        Ok(Step::Go)
    }

    async fn user(&mut self, name: &str) -> Result<(), Error> {
        if self.account.is_some() {
            return self.send(503, "Already logged in.").await;
        }
        let anonymous = matches!(name, "anonymous" | "ftp");
        let tls_needed = self.config.tls.is_some() && !anonymous && !self.tls_on();
        if tls_needed {
            return self
                .send(
                    530,
                    "Use AUTH TLS first: passwords are not sent in the clear here.",
                )
                .await;
        }
        self.user = Some(name.to_owned());
        if anonymous && self.config.anonymous {
            self.send(331, "Anonymous login: any password will do.")
                .await
        } else {
            self.send(331, "Please give the password.").await
        }
    }

    async fn pass(&mut self, password: &str) -> Result<Step, Error> {
        if self.account.is_some() {
            self.send(230, "Already logged in.").await?;
            return Ok(Step::Go);
        }
        let Some(name) = self.user.take() else {
            self.send(503, "Send USER first.").await?;
            return Ok(Step::Go);
        };
        let anonymous = matches!(name.as_str(), "anonymous" | "ftp");
        let account = if anonymous && self.config.anonymous {
            Some(Account {
                name: "anonymous".into(),
                writable: false,
            })
        } else {
            // Every user's password is compared, so timing does not tell which names exist.
            let mut found = false;
            for user in &self.config.users {
                found |= prise_core::same_secret(user.name.as_bytes(), name.as_bytes())
                    & prise_core::same_secret(user.password.as_bytes(), password.as_bytes());
            }
            found.then(|| Account {
                name: name.clone(),
                writable: true,
            })
        };
        match account {
            Some(account) => {
                tracing::info!(peer = %self.peer, user = %account.name, "ftp login");
                self.account = Some(account);
                self.failures = 0;
                self.send(230, "Login successful.").await?;
                Ok(Step::Go)
            }
            None => {
                self.failures += 1;
                tracing::warn!(peer = %self.peer, user = %name, "ftp login failed");
                tokio::time::sleep(self.config.login_delay).await;
                if self.failures >= MAX_LOGIN_FAILURES {
                    self.send(421, "Too many failed logins; closing.").await?;
                    return Ok(Step::End(End::Closed));
                }
                self.send(530, "Login incorrect.").await?;
                Ok(Step::Go)
            }
        }
    }

    async fn auth(&mut self, arg: &str) -> Result<Step, Error> {
        let Some(tls) = self.config.tls.clone() else {
            self.send(502, "TLS is not configured on this server.")
                .await?;
            return Ok(Step::Go);
        };
        if !matches!(
            arg.trim().to_ascii_uppercase().as_str(),
            "TLS" | "SSL" | "TLS-C"
        ) {
            self.send(504, "AUTH TLS is the one supported.").await?;
            return Ok(Step::Go);
        }
        if self.tls_on() {
            self.send(503, "TLS is already on.").await?;
            return Ok(Step::Go);
        }
        self.send(234, "Proceed with negotiation.").await?;
        if !self.input.is_empty() {
            // Bytes after AUTH TLS and before the handshake: a client confused or an attack
            // (plaintext injected into the TLS session).
            return Ok(Step::End(End::Closed));
        }
        let Some(stream) = self.stream.take() else {
            return Ok(Step::End(End::Closed));
        };
        let acceptor = tls.acceptor();
        match tokio::time::timeout(self.config.data_timeout, stream.accept_tls(&acceptor)).await {
            Ok(Ok(stream)) => {
                self.stream = Some(stream);
                // RFC 4217: a new security state. Nothing set in the clear carries over (a
                // man in the middle could have set it): log in again, from the root.
                self.user = None;
                self.account = None;
                self.cwd.clear();
                self.rest = 0;
                self.rename_from = None;
                self.plan = DataPlan::None;
                self.epsv_all = false;
                self.protect = false;
                self.pbsz = false;
                self.binary = true;
                Ok(Step::Go)
            }
            _ => Ok(Step::End(End::Closed)),
        }
    }

    async fn prot(&mut self, arg: &str) -> Result<(), Error> {
        if !self.tls_on() {
            return self.send(503, "PROT comes after AUTH TLS.").await;
        }
        if !self.pbsz {
            return self.send(503, "PBSZ comes before PROT.").await;
        }
        match arg.trim().to_ascii_uppercase().as_str() {
            "P" => {
                self.protect = true;
                self.send(200, "PROT now Private.").await
            }
            "C" => {
                self.protect = false;
                self.send(200, "PROT now Clear.").await
            }
            "S" | "E" => self.send(536, "Only PROT P and C are supported.").await,
            _ => self.send(504, "PROT is P or C.").await,
        }
    }

    async fn cwd(&mut self, arg: &str) -> Result<(), Error> {
        let parts = match self.path(arg) {
            Ok(p) => p,
            Err(e) => return self.send(550, &e).await,
        };
        let root = self.root.clone();
        let check = parts.clone();
        match blocking(move || root.metadata(&check)).await {
            Ok(meta) if meta.is_dir() => {
                self.cwd = parts;
                self.send(250, "Folder changed.").await
            }
            Ok(_) => self.send(550, "Not a folder.").await,
            Err(e) => self.send(550, &fs_error(&e)).await,
        }
    }

    /// A listener for the next data connection: on the control connection's address, in the
    /// passive port range.
    async fn listen(&mut self) -> io::Result<TcpListener> {
        let ip = self.local.ip();
        match &self.config.passive_ports {
            None => TcpListener::bind(SocketAddr::new(ip, 0)).await,
            Some(range) => {
                let (low, high) = (*range.start(), *range.end());
                let span = u32::from(high - low) + 1;
                let start = fastrand::u32(..span);
                for i in 0..span.min(200) {
                    let port = low + u16::try_from((start + i) % span).unwrap_or(0);
                    if let Ok(listener) = TcpListener::bind(SocketAddr::new(ip, port)).await {
                        return Ok(listener);
                    }
                }
                Err(io::Error::other("no free port in the passive range"))
            }
        }
    }

    async fn pasv(&mut self) -> Result<(), Error> {
        if self.epsv_all {
            return self.send(503, "EPSV ALL was sent: use EPSV.").await;
        }
        let ip = match (self.config.public_ip, self.local.ip()) {
            (Some(ip), _) => ip,
            (None, IpAddr::V4(ip)) => ip,
            (None, IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(ip) => ip,
                None => return self.send(425, "PASV is for IPv4; use EPSV.").await,
            },
        };
        match self.listen().await {
            Ok(listener) => {
                let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
                self.plan = DataPlan::Passive(listener);
                let text = codec::format_pasv(SocketAddrV4::new(ip, port));
                self.send(227, &text).await
            }
            Err(e) => {
                self.send(425, &format!("Cannot open a passive port: {e}."))
                    .await
            }
        }
    }

    async fn epsv(&mut self, arg: &str) -> Result<(), Error> {
        match arg.trim().to_ascii_uppercase().as_str() {
            "ALL" => {
                self.epsv_all = true;
                return self.send(200, "EPSV ALL ok.").await;
            }
            "" | "1" | "2" => {}
            _ => {
                return self
                    .send(522, "Network protocol not supported, use (1,2)")
                    .await
            }
        }
        match self.listen().await {
            Ok(listener) => {
                let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
                self.plan = DataPlan::Passive(listener);
                let text = format!("Entering Extended Passive Mode (|||{port}|)");
                self.send(229, &text).await
            }
            Err(e) => {
                self.send(425, &format!("Cannot open a passive port: {e}."))
                    .await
            }
        }
    }

    async fn port(&mut self, cmd: &Command) -> Result<(), Error> {
        if self.epsv_all {
            return self.send(503, "EPSV ALL was sent: use EPSV.").await;
        }
        let parsed = if cmd.verb == "PORT" {
            codec::parse_port(&cmd.arg).map(SocketAddr::V4)
        } else {
            codec::parse_eprt(&cmd.arg)
        };
        let addr = match parsed {
            Ok(a) => a,
            Err(e) if e.0.contains("protocol") => {
                return self
                    .send(522, "Network protocol not supported, use (1,2)")
                    .await
            }
            Err(e) => return self.send(501, &format!("{e}.")).await,
        };
        let canonical = |ip: IpAddr| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        if canonical(addr.ip()) != canonical(self.peer.ip()) {
            tracing::warn!(peer = %self.peer, target = %addr, "ftp bounce refused");
            return self
                .send(501, "The data address must be your own (no FTP bounce).")
                .await;
        }
        if addr.port() < 1024 {
            return self.send(501, "The data port must be 1024 or above.").await;
        }
        self.plan = DataPlan::Active(addr);
        self.send(200, &format!("{} command successful.", cmd.verb))
            .await
    }

    async fn size_or_time(&mut self, cmd: &Command) -> Result<(), Error> {
        let parts = match self.path(&cmd.arg) {
            Ok(p) => p,
            Err(e) => return self.send(550, &e).await,
        };
        let root = self.root.clone();
        match blocking(move || root.metadata(&parts)).await {
            Ok(meta) if meta.is_file() => {
                let text = if cmd.verb == "SIZE" {
                    meta.len().to_string()
                } else {
                    codec::timeval(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH))
                };
                self.send(213, &text).await
            }
            Ok(_) => self.send(550, "Not a plain file.").await,
            Err(e) => self.send(550, &fs_error(&e)).await,
        }
    }

    async fn mfmt(&mut self, arg: &str) -> Result<(), Error> {
        if !self.writable() {
            return self.send(550, "Permission denied.").await;
        }
        let Some((time, path)) = arg.split_once(' ') else {
            return self
                .send(501, "MFMT wants YYYYMMDDHHMMSS and a path.")
                .await;
        };
        let when = match codec::parse_timeval(time) {
            Ok(t) => t,
            Err(e) => return self.send(501, &format!("{e}.")).await,
        };
        let parts = match self.path(path) {
            Ok(p) => p,
            Err(e) => return self.send(550, &e).await,
        };
        let root = self.root.clone();
        match blocking(move || root.set_modified(&parts, when)).await {
            Ok(()) => {
                self.send(213, &format!("Modify={}; {path}", codec::timeval(when)))
                    .await
            }
            Err(e) => self.send(550, &fs_error(&e)).await,
        }
    }

    async fn mlst(&mut self, arg: &str) -> Result<(), Error> {
        let parts = match self.path(arg) {
            Ok(p) => p,
            Err(e) => return self.send(550, &e).await,
        };
        let root = self.root.clone();
        let shown = codec::display(&parts);
        let looked = parts.clone();
        match blocking(move || root.metadata(&looked)).await {
            Ok(meta) => {
                let entry = crate::fs::entry(shown.clone(), &meta);
                let text = format!(
                    "Listing {shown}\n {} {shown}\nEnd",
                    codec::facts(&entry, self.writable())
                );
                self.send(250, &text).await
            }
            Err(e) => self.send(550, &fs_error(&e)).await,
        }
    }

    async fn stat(&mut self, arg: &str) -> Result<(), Error> {
        if arg.trim().is_empty() {
            let text = format!(
                "prise ftp status:\n Connected to {}\n Logged in as {}\n TYPE: {}\n Control connection: {}\nEnd of status",
                self.peer,
                self.account.as_ref().map_or("nobody", |a| a.name.as_str()),
                if self.binary { "BINARY" } else { "ASCII" },
                if self.tls_on() { "TLS" } else { "plain" },
            );
            return self.send(211, &text).await;
        }
        let parts = match self.path(arg) {
            Ok(p) => p,
            Err(e) => return self.send(550, &e).await,
        };
        let root = self.root.clone();
        match blocking(move || list(&root, &parts)).await {
            Ok(entries) => {
                let now = SystemTime::now();
                let mut text = String::from("Status follows:\n");
                for e in &entries {
                    text.push_str(codec::list_line(e, now).trim_end());
                    text.push('\n');
                }
                text.push_str("End of status");
                self.send(213, &text).await
            }
            Err(e) => self.send(550, &fs_error(&e)).await,
        }
    }

    async fn change(&mut self, cmd: &Command) -> Result<(), Error> {
        if !self.writable() {
            return self.send(550, "Permission denied.").await;
        }
        let parts = match self.path(&cmd.arg) {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return self.send(550, "Not allowed on the root folder.").await,
            Err(e) => return self.send(550, &e).await,
        };
        let root = self.root.clone();
        match cmd.verb.as_str() {
            "DELE" => match blocking(move || root.delete(&parts)).await {
                Ok(()) => self.send(250, "Delete operation successful.").await,
                Err(e) => self.send(550, &fs_error(&e)).await,
            },
            "RMD" | "XRMD" => match blocking(move || root.rmdir(&parts)).await {
                Ok(()) => self.send(250, "Remove folder operation successful.").await,
                Err(e) => self.send(550, &fs_error(&e)).await,
            },
            "MKD" | "XMKD" => {
                let shown = codec::quote_path(&codec::display(&parts));
                match blocking(move || root.mkdir(&parts)).await {
                    Ok(()) => self.send(257, &format!("{shown} created.")).await,
                    Err(e) => self.send(550, &fs_error(&e)).await,
                }
            }
            "RNFR" => {
                let check = parts.clone();
                match blocking(move || root.metadata(&check)).await {
                    Ok(_) => {
                        self.rename_from = Some(parts);
                        self.send(350, "Ready for RNTO.").await
                    }
                    Err(e) => self.send(550, &fs_error(&e)).await,
                }
            }
            _ => {
                let Some(from) = self.rename_from.take() else {
                    return self.send(503, "RNFR first.").await;
                };
                match blocking(move || root.rename(&from, &parts)).await {
                    Ok(()) => self.send(250, "Rename successful.").await,
                    Err(e) => self.send(550, &fs_error(&e)).await,
                }
            }
        }
    }

    /// Make the data connection the plan says, within the data timeout.
    async fn connect_data(&mut self) -> Result<(TcpStream, SocketAddr), String> {
        let timeout = self.config.data_timeout;
        match std::mem::replace(&mut self.plan, DataPlan::None) {
            DataPlan::None => Err("Use PORT, EPRT, PASV or EPSV first.".into()),
            DataPlan::Active(addr) => {
                match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(tcp)) => Ok((tcp, addr)),
                    Ok(Err(e)) => Err(format!("Cannot connect to {addr}: {e}.")),
                    Err(_) => Err(format!("No answer from {addr}.")),
                }
            }
            DataPlan::Passive(listener) => {
                let deadline = tokio::time::Instant::now() + timeout;
                loop {
                    match tokio::time::timeout_at(deadline, listener.accept()).await {
                        Ok(Ok((tcp, from))) if from.ip() == self.peer.ip() => {
                            return Ok((tcp, from))
                        }
                        Ok(Ok((_, from))) => {
                            tracing::warn!(peer = %self.peer, %from, "ftp data connection from another address refused");
                        }
                        Ok(Err(e)) => {
                            return Err(format!("Failed to accept the data connection: {e}."))
                        }
                        Err(_) => return Err("Nobody connected to the passive port.".into()),
                    }
                }
            }
        }
    }

    /// The data connection as a stream: TLS after `PROT P`, traced with the traffic log.
    async fn data_stream(&self, tcp: TcpStream, peer: SocketAddr) -> Result<Stream, String> {
        let stream =
            Stream::plain(tcp, peer).traced(self.config.trace.clone(), &Arc::from("ftp-data"));
        if !self.protect {
            return Ok(stream);
        }
        let Some(tls) = &self.config.tls else {
            return Err("TLS is not configured.".into());
        };
        // No TLS 1.3 session tickets on data connections: a client that only sends (an
        // upload) never reads them, and closing with them unread makes its kernel answer with
        // a reset, which can cut the end of the upload (seen with lftp, 1 upload in 5).
        let mut data_config = (*tls.config()).clone();
        data_config.send_tls13_tickets = 0;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(data_config));
        match tokio::time::timeout(self.config.data_timeout, stream.accept_tls(&acceptor)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(format!("TLS on the data connection failed: {e}.")),
            Err(_) => Err("TLS on the data connection timed out.".into()),
        }
    }

    async fn transfer(&mut self, cmd: &Command) -> Result<Step, Error> {
        let verb = cmd.verb.as_str();
        let upload = matches!(verb, "STOR" | "APPE");
        if upload && !self.writable() {
            self.send(550, "Permission denied.").await?;
            return Ok(Step::Go);
        }
        // LIST and NLST take ls-style options first (`LIST -la`): skipped.
        let mut arg = cmd.arg.trim_start();
        if matches!(verb, "LIST" | "NLST") {
            while arg.starts_with('-') {
                arg = arg
                    .split_once(' ')
                    .map_or("", |(_, rest)| rest)
                    .trim_start();
            }
        }
        if upload && arg.is_empty() {
            self.send(501, &format!("{verb} needs a file name."))
                .await?;
            return Ok(Step::Go);
        }
        let parts = match self.path(arg) {
            Ok(p) => p,
            Err(e) => {
                self.send(550, &e).await?;
                return Ok(Step::Go);
            }
        };
        let rest = std::mem::take(&mut self.rest);
        let Ok(permit) = Arc::clone(&self.transfers).try_acquire_owned() else {
            self.send(425, "Too many transfers at once; try again shortly.")
                .await?;
            return Ok(Step::Go);
        };
        let root = self.root.clone();
        // The local side first: an error is told without a data connection.
        let source = match verb {
            "RETR" => {
                let opened = blocking(move || root.open_read(&parts)).await;
                match opened {
                    Ok((file, meta)) if rest > meta.len() => {
                        drop(file);
                        self.send(
                            554,
                            &format!("REST {rest} is past the end ({} bytes).", meta.len()),
                        )
                        .await?;
                        return Ok(Step::Go);
                    }
                    Ok((file, meta)) => Source::File(file, meta.len() - rest, rest),
                    Err(e) => {
                        self.send(550, &fs_error(&e)).await?;
                        return Ok(Step::Go);
                    }
                }
            }
            "STOR" | "APPE" => {
                let append = verb == "APPE";
                let opened = blocking(move || -> io::Result<Sink> {
                    if append {
                        Ok(Sink::InPlace(root.open_write(&parts, true, true)?, None))
                    } else if rest > 0 {
                        // The rest of an existing file: nothing is changed until data comes,
                        // and what lies past the new end is cut only once it has all come.
                        let mut file = root.open_write(&parts, false, false)?;
                        let len = file.metadata()?.len();
                        if rest > len {
                            return Err(io::Error::other(format!(
                                "REST {rest} is past the end ({len} bytes)"
                            )));
                        }
                        file.seek(SeekFrom::Start(rest))?;
                        Ok(Sink::InPlace(file, Some(rest)))
                    } else {
                        Ok(Sink::Upload(root.create(&parts)?))
                    }
                })
                .await;
                match opened {
                    Ok(sink) => Source::Upload(sink),
                    Err(e) => {
                        self.send(550, &fs_error(&e)).await?;
                        return Ok(Step::Go);
                    }
                }
            }
            _ => {
                let writable = self.writable();
                let kind = verb.to_owned();
                let listed = blocking(move || listing(&root, &parts, &kind, writable)).await;
                match listed {
                    Ok(bytes) => Source::Bytes(bytes),
                    Err(e) => {
                        self.send(550, &fs_error(&e)).await?;
                        return Ok(Step::Go);
                    }
                }
            }
        };
        let (tcp, data_peer) = match self.connect_data().await {
            Ok(c) => c,
            Err(e) => {
                self.send(425, &e).await?;
                return Ok(Step::Go);
            }
        };
        let mode = if self.binary { "BINARY" } else { "ASCII" };
        let opening = match &source {
            Source::File(_, len, _) => {
                format!(
                    "Opening {mode} mode data connection for {} ({len} bytes).",
                    cmd.arg.trim()
                )
            }
            Source::Upload(_) => format!("Ok to send data ({mode} mode)."),
            Source::Bytes(_) => "Here comes the listing.".to_owned(),
        };
        self.send(150, &opening).await?;
        let success = match source {
            Source::Bytes(_) => "Listing sent.",
            _ => "Transfer complete.",
        };
        let aborted = Arc::new(AtomicBool::new(false));
        let stall = self.config.data_timeout;
        // The fast path: plain TCP, no traffic log.
        if !self.protect && self.config.trace.is_none() {
            let std_tcp = tcp
                .into_std()
                .and_then(|s| s.set_nonblocking(false).map(|()| s));
            let std_tcp = match std_tcp {
                Ok(s) => s,
                Err(e) => {
                    self.send(425, &format!("Data connection: {e}.")).await?;
                    return Ok(Step::Go);
                }
            };
            let socket = std_tcp.try_clone().ok();
            let flag = Arc::clone(&aborted);
            let task = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let outcome = plain_transfer(std_tcp, source, stall, &flag);
                Finished { outcome, success }
            });
            return Ok(Step::Start(Transfer {
                task,
                aborted,
                socket,
            }));
        }
        let stream = match self.data_stream(tcp, data_peer).await {
            Ok(s) => s,
            Err(e) => {
                self.send(425, &e).await?;
                return Ok(Step::Go);
            }
        };
        let flag = Arc::clone(&aborted);
        let task = tokio::spawn(async move {
            let _permit = permit;
            let outcome = stream_transfer(stream, source, stall, &flag).await;
            Finished { outcome, success }
        });
        Ok(Step::Start(Transfer {
            task,
            aborted,
            socket: None,
        }))
    }

    async fn finish(
        &mut self,
        done: Result<Finished, tokio::task::JoinError>,
    ) -> Result<(), Error> {
        match done {
            Ok(Finished {
                outcome: Ok(bytes),
                success,
            }) => {
                tracing::debug!(peer = %self.peer, bytes, "ftp transfer done");
                self.send(226, success).await
            }
            Ok(Finished {
                outcome: Err(Failure::Connection(e)),
                ..
            }) => {
                self.send(
                    426,
                    &format!("Data connection broken: {e}; transfer aborted."),
                )
                .await
            }
            Ok(Finished {
                outcome: Err(Failure::Local(e)),
                ..
            }) => {
                self.send(451, &format!("Local error: {e}; transfer aborted."))
                    .await
            }
            Ok(Finished {
                outcome: Err(Failure::Aborted),
                ..
            })
            | Err(_) => self.send(426, "Transfer aborted.").await,
        }
    }

    async fn abort(&mut self, mut t: Transfer) -> Result<(), Error> {
        t.stop();
        match (&mut t.task).await {
            // It had finished (an upload already in place): RFC 959 wants 226 alone.
            Ok(Finished {
                outcome: Ok(_),
                success,
            }) => self.send(226, success).await,
            _ => {
                self.send(426, "Transfer aborted.").await?;
                self.send(226, "ABOR successful.").await
            }
        }
    }
}

/// What a transfer moves.
enum Source {
    /// A file to send: the file, the bytes to send, the offset to start at.
    File(std::fs::File, u64, u64),
    /// Where an upload goes.
    Upload(Sink),
    /// A listing, already made.
    Bytes(Vec<u8>),
}

enum Sink {
    Upload(Upload),
    /// Written in place: APPE (`None`), or REST + STOR from an offset, whose file is cut at
    /// the end of what came.
    InPlace(std::fs::File, Option<u64>),
}

impl Sink {
    fn file(&mut self) -> &mut std::fs::File {
        match self {
            Sink::Upload(u) => &mut u.file,
            Sink::InPlace(f, _) => f,
        }
    }

    /// Keep what came (`total` bytes).
    fn finish(self, total: u64) -> io::Result<()> {
        match self {
            Sink::Upload(u) => u.commit(),
            Sink::InPlace(f, Some(start)) => f.set_len(start + total),
            Sink::InPlace(_, None) => Ok(()),
        }
    }

    fn fail(self) {
        if let Sink::Upload(u) = self {
            u.abort();
        }
    }
}

/// A folder's entries, or a file's own entry.
fn list(root: &Root, parts: &[String]) -> io::Result<Vec<Entry>> {
    let meta = root.metadata(parts)?;
    if meta.is_dir() {
        root.list(parts)
    } else {
        let name = parts.last().cloned().unwrap_or_default();
        Ok(vec![crate::fs::entry(name, &meta)])
    }
}

/// The bytes of a LIST, NLST or MLSD answer.
fn listing(root: &Root, parts: &[String], kind: &str, writable: bool) -> io::Result<Vec<u8>> {
    let now = SystemTime::now();
    let mut out = String::new();
    match kind {
        "MLSD" => {
            if !root.metadata(parts)?.is_dir() {
                return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
            }
            for e in root.list(parts)? {
                out.push_str(&codec::facts(&e, writable));
                out.push(' ');
                out.push_str(&e.name);
                out.push_str("\r\n");
            }
        }
        "NLST" => {
            for e in list(root, parts)? {
                out.push_str(&e.name);
                out.push_str("\r\n");
            }
        }
        _ => {
            for e in list(root, parts)? {
                out.push_str(&codec::list_line(&e, now));
            }
        }
    }
    Ok(out.into_bytes())
}

fn stalled(e: &io::Error) -> String {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        "the peer stalled".into()
    } else {
        e.to_string()
    }
}

/// A transfer on a plain blocking socket: `sendfile` down, 1 MiB reads up.
fn plain_transfer(
    mut tcp: std::net::TcpStream,
    source: Source,
    stall: Duration,
    aborted: &AtomicBool,
) -> Result<u64, Failure> {
    let _ = tcp.set_write_timeout(Some(stall));
    let _ = tcp.set_read_timeout(Some(stall));
    let check = |r: Result<u64, Failure>| {
        if aborted.load(Ordering::SeqCst) {
            Err(Failure::Aborted)
        } else {
            r
        }
    };
    match source {
        Source::Bytes(bytes) => check(
            tcp.write_all(&bytes)
                .map(|()| bytes.len() as u64)
                .map_err(|e| Failure::Connection(stalled(&e))),
        ),
        Source::File(file, len, mut offset) => {
            let mut left = len;
            while left > 0 {
                let want = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
                match rustix::fs::sendfile(&tcp, &file, Some(&mut offset), want) {
                    Ok(0) => {
                        return check(Err(Failure::Local(
                            "the file got shorter while it was sent".into(),
                        )))
                    }
                    Ok(n) => left -= n as u64,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return check(Err(Failure::Connection(stalled(&e.into())))),
                }
            }
            check(Ok(len))
        }
        Source::Upload(mut sink) => {
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                let n = match tcp.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        sink.fail();
                        return check(Err(Failure::Connection(stalled(&e))));
                    }
                };
                if let Err(e) = sink.file().write_all(&buf[..n]) {
                    sink.fail();
                    return check(Err(Failure::Local(e.to_string())));
                }
                total += n as u64;
            }
            // EOF after ABOR is not the end of the file: check before keeping it.
            if aborted.load(Ordering::SeqCst) {
                sink.fail();
                return Err(Failure::Aborted);
            }
            sink.finish(total)
                .map(|()| total)
                .map_err(|e| Failure::Local(e.to_string()))
        }
    }
}

/// A transfer through a [`Stream`] (TLS, traced): 1 MiB at a time, file work in the blocking
/// pool.
async fn stream_transfer(
    mut stream: Stream,
    source: Source,
    stall: Duration,
    aborted: &AtomicBool,
) -> Result<u64, Failure> {
    let timed =
        |what: &'static str| move |_| Failure::Connection(format!("the peer stalled ({what})"));
    match source {
        Source::Bytes(bytes) => {
            tokio::time::timeout(stall, stream.write_all(&bytes))
                .await
                .map_err(timed("listing"))?
                .map_err(|e| Failure::Connection(e.to_string()))?;
            let _ = tokio::time::timeout(stall, stream.shutdown()).await;
            Ok(bytes.len() as u64)
        }
        Source::File(mut file, len, offset) => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(2);
            let reader = tokio::task::spawn_blocking(move || {
                if let Err(e) = file.seek(SeekFrom::Start(offset)) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                let mut left = len;
                while left > 0 {
                    let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                    let mut chunk = vec![0u8; want];
                    let got = match file.read(&mut chunk) {
                        Ok(0) => Err(io::Error::other("the file got shorter while it was sent")),
                        Ok(n) => {
                            chunk.truncate(n);
                            Ok(chunk)
                        }
                        Err(e) => Err(e),
                    };
                    let failed = got.is_err();
                    if let Ok(c) = &got {
                        left -= c.len() as u64;
                    }
                    if tx.blocking_send(got).is_err() || failed {
                        return;
                    }
                }
            });
            let sent = AtomicU64::new(0);
            // The disk side is under the stall timeout too: a blocking thread never waits on a
            // task that is gone, nor the other way round.
            loop {
                let chunk = match tokio::time::timeout(stall, rx.recv()).await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(_) => return Err(Failure::Local("reading the file stalled".into())),
                };
                let chunk = chunk.map_err(|e| Failure::Local(e.to_string()))?;
                tokio::time::timeout(stall, stream.write_all(&chunk))
                    .await
                    .map_err(timed("download"))?
                    .map_err(|e| Failure::Connection(e.to_string()))?;
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            let _ = reader.await;
            let sent = sent.load(Ordering::Relaxed);
            if sent != len {
                return Err(Failure::Local(
                    "the file could not be read to its end".into(),
                ));
            }
            tokio::time::timeout(stall, stream.shutdown())
                .await
                .map_err(timed("closing"))?
                .map_err(|e| Failure::Connection(e.to_string()))?;
            Ok(len)
        }
        Source::Upload(sink) => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
            let writer = tokio::task::spawn_blocking(move || {
                let mut sink = sink;
                while let Some(chunk) = rx.blocking_recv() {
                    if let Err(e) = sink.file().write_all(&chunk) {
                        sink.fail();
                        return Err(e);
                    }
                }
                Ok(sink)
            });
            let mut total = 0u64;
            let mut buf = BytesMut::with_capacity(CHUNK);
            let outcome = loop {
                match tokio::time::timeout(stall, stream.read_buf(&mut buf)).await {
                    Err(_) => break Err(Failure::Connection("the peer stalled (upload)".into())),
                    Ok(Err(e)) => break Err(Failure::Connection(e.to_string())),
                    Ok(Ok(0)) => {
                        if !buf.is_empty()
                            && !matches!(
                                tokio::time::timeout(stall, tx.send(buf.split().freeze())).await,
                                Ok(Ok(()))
                            )
                        {
                            break Err(Failure::Local("writing the file failed".into()));
                        }
                        // Our close_notify back: TLS clients wait for it.
                        let _ = tokio::time::timeout(stall, stream.shutdown()).await;
                        break Ok(());
                    }
                    Ok(Ok(n)) => {
                        total += n as u64;
                        if buf.len() >= CHUNK / 2 {
                            // Handed over whole, not copied.
                            let chunk = buf.split().freeze();
                            buf.reserve(CHUNK);
                            if !matches!(
                                tokio::time::timeout(stall, tx.send(chunk)).await,
                                Ok(Ok(()))
                            ) {
                                break Err(Failure::Local("writing the file failed".into()));
                            }
                        }
                    }
                }
            };
            drop(tx);
            let sink = writer
                .await
                .map_err(|e| Failure::Local(e.to_string()))?
                .map_err(|e| Failure::Local(e.to_string()));
            match (outcome, sink) {
                (Ok(()), Ok(sink)) if !aborted.load(Ordering::SeqCst) => sink
                    .finish(total)
                    .map(|()| total)
                    .map_err(|e| Failure::Local(e.to_string())),
                (Err(e), Ok(sink)) => {
                    sink.fail();
                    Err(e)
                }
                (_, Err(e)) => Err(e),
                (Ok(()), Ok(sink)) => {
                    sink.fail();
                    Err(Failure::Aborted)
                }
            }
        }
    }
}
