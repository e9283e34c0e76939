//! `prise chat serve`: one port for every kind of client.
//!
//! The accept loop is prise-core's (cap, TLS, trace, shutdown). Each connection is then sniffed:
//! the first bytes decide between the native protocol (`{`), IRC (a first command such as `CAP `
//! or `NICK ` in upper case) and text mode (anything else, or
//! silence for [`SNIFF_TIMEOUT`], so a telnet user who waits for the server still gets the
//! banner). With TLS configured, core tells a ClientHello from plain bytes first, so TLS and
//! plain clients share the port too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use prise_core::server::{serve, ServeOptions, MAX_CONNECTIONS, SHUTDOWN_GRACE};
use prise_core::tls::ServerTls;
use prise_core::trace::TrafficLog;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::conn::ConnConfig;
use crate::door::{self, Lines};
use crate::history::History;
use crate::hub::{Hub, HubConfig};
use crate::irc::{looks_like_irc, IrcConn};
use crate::native::NativeConn;
use crate::text::TextConn;
use crate::Error;

/// Default port of `prise chat serve`.
pub const DEFAULT_PORT: u16 = 7070;

/// How long a silent client waits before it is taken for a text client and greeted.
pub const SNIFF_TIMEOUT: Duration = Duration::from_secs(1);

/// Default longest line: a chat line of a few thousand characters, with room for JSON framing.
pub const MAX_LINE_LEN: usize = 8 * 1024;

/// The chat server's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rooms, motd, queues.
    pub hub: HubConfig,
    /// Per-connection limits.
    pub conn: ConnConfig,
    /// The SQLite history file; `None` keeps no history beyond memory.
    pub history: Option<PathBuf>,
    /// Most clients at once.
    pub max_connections: usize,
    /// TLS (plain clients are still served on the same port).
    pub tls: Option<ServerTls>,
    /// Time connections get to say goodbye on shutdown.
    pub grace: Duration,
    /// Traffic log.
    pub trace: Option<TrafficLog>,
    /// Who may register an account (the accounts live in the history database, or in memory).
    pub registration: crate::accounts::Registration,
    /// How users register (email required, IRC's before-connect).
    pub register_rules: crate::accounts::RegisterRules,
    /// Origins (`https://chat.example.org`) whose pages may open a WebSocket on the web door,
    /// besides the page's own; `*` for any.
    pub web_origins: Vec<String>,
    /// Other nodes on one Redis (`--redis`, docs/CLUSTER.md).
    pub redis: Option<ClusterConfig>,
}

/// How a node joins the others ([`Config::redis`]).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]` (a password as `redis://:PASSWORD@HOST`).
    pub url: String,
    /// This node's name, unique among the nodes.
    pub node: String,
    /// How long this node's nicks and liveness last without its heartbeat
    /// ([`crate::cluster::NICK_TTL`] by default).
    pub ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hub: HubConfig::default(),
            conn: ConnConfig {
                max_line_len: MAX_LINE_LEN,
                flood_rate: 5.0,
                flood_burst: 20,
                idle_timeout: Duration::from_secs(120),
                write_timeout: Duration::from_secs(30),
            },
            history: None,
            max_connections: MAX_CONNECTIONS,
            tls: None,
            grace: SHUTDOWN_GRACE,
            trace: None,
            registration: crate::accounts::Registration::Open,
            register_rules: crate::accounts::RegisterRules::default(),
            web_origins: Vec::new(),
            redis: None,
        }
    }
}

/// Open the history database named in `config` (blocking work, on a blocking thread).
async fn open_history(config: &Config) -> Result<Option<(History, u64)>, Error> {
    let Some(path) = config.history.clone() else {
        return Ok(None);
    };
    let opened = tokio::task::spawn_blocking(move || History::open(&path))
        .await
        .map_err(|e| Error::History {
            file: String::new(),
            reason: e.to_string(),
        })??;
    Ok(Some(opened))
}

/// Which clients a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Every kind, told apart by their first bytes (TLS too when a certificate is set).
    Any,
    /// IRC only (`--irc`), plain, or TLS when a client starts with a ClientHello.
    Irc,
    /// IRC over TLS only (`--irc-tls`, IRC's port 6697): needs a certificate.
    IrcTls,
    /// The browser client and its WebSocket (`--web`): HTTP, or HTTPS when a certificate is
    /// set and the browser starts with a ClientHello.
    Web,
}

/// Serve chat on `listener` until `shutdown` is cancelled; then tell every client, let the
/// connections close, and write all accepted messages to the history before returning.
///
/// # Errors
/// [`Error::History`] when the history file cannot be opened.
///
/// # Cancel safety
/// Dropping the future drops every connection at once and may lose the last messages; cancel
/// `shutdown` instead.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    run_doors(vec![(listener, Door::Any)], config, shutdown).await
}

/// [`run`] on several listeners that share one hub: the main port and IRC's own ports.
///
/// # Errors
/// [`Error::History`] when the history file cannot be opened; [`Error::Protocol`] for an
/// [`Door::IrcTls`] listener without a certificate, or a listener that fails.
///
/// # Cancel safety
/// As [`run`].
pub async fn run_doors(
    listeners: Vec<(TcpListener, Door)>,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    if config.tls.is_none() && listeners.iter().any(|(_, door)| *door == Door::IrcTls) {
        return Err(Error::Protocol(
            "an IRC TLS listener needs a certificate (--tls-cert and --tls-key, or --tls-self-signed)".into(),
        ));
    }
    let history = open_history(&config).await?;
    let mut hub_config = config.hub.clone();
    if hub_config.accounts.is_none() {
        let (path, registration) = (config.history.clone(), config.registration);
        let rules = config.register_rules;
        let accounts = tokio::task::spawn_blocking(move || {
            crate::accounts::Accounts::open(path.as_deref(), registration)
                .map(|accounts| accounts.with_rules(rules))
        })
        .await
        .map_err(|e| Error::Accounts {
            file: String::new(),
            reason: e.to_string(),
        })??;
        hub_config.accounts = Some(accounts);
    }
    let hub = Hub::new(hub_config, history);
    // The other nodes: Redis unreachable at start is an error, before any listener serves.
    let cluster = match &config.redis {
        Some(cluster) => {
            let link =
                crate::cluster::Cluster::connect(&cluster.url, &cluster.node, cluster.ttl).await?;
            tracing::info!(node = %cluster.node, "cluster node");
            hub.join_cluster(link.cluster);
            Some(tokio::spawn(crate::cluster::Cluster::run(
                link.runner,
                hub.clone(),
            )))
        }
        None => None,
    };
    let conn_config = Arc::new(config.conn.clone());
    let mut doors = tokio::task::JoinSet::new();
    for (listener, door) in listeners {
        doors.spawn(serve_door(
            listener,
            door,
            hub.clone(),
            &config,
            Arc::clone(&conn_config),
            shutdown.clone(),
        ));
    }
    // On shutdown every connection is told through its queue (hub::Gone::Shutdown); until
    // then the hub's keepalive pings the silent ones.
    let closer = {
        let hub = hub.clone();
        let shutdown = shutdown.clone();
        let period = config.conn.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = hub.keepalive(period) => {}
            }
            hub.shut_down();
        })
    };
    let mut result = Ok(());
    while let Some(done) = doors.join_next().await {
        let failure = match done {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        // One listener failing stops them all: a half-up server is worse than a clear stop.
        shutdown.cancel();
        result = Err(Error::Protocol(format!("chat listener: {failure}")));
    }
    closer.abort();
    hub.flush().await;
    if let Some(cluster) = cluster {
        cluster.abort();
    }
    result
}

fn serve_door(
    listener: TcpListener,
    door: Door,
    hub: Hub,
    config: &Config,
    conn_config: Arc<ConnConfig>,
    shutdown: CancellationToken,
) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static {
    let options = ServeOptions {
        max_connections: config.max_connections,
        // IRC clients may present a certificate of their own (SASL EXTERNAL); browsers are
        // not asked, since a browser may make its user pick one.
        tls: match door {
            Door::Web => config.tls.clone(),
            _ => config
                .tls
                .as_ref()
                .map(ServerTls::asking_client_certificates),
        },
        tls_optional: door != Door::IrcTls,
        grace: config.grace,
        trace: config.trace.clone(),
        ..ServeOptions::new(match door {
            Door::Any => "chat",
            Door::Web => "web",
            Door::Irc | Door::IrcTls => "irc",
        })
    };
    let tls_configured = config.tls.is_some();
    let local = listener
        .local_addr()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let web = (door == Door::Web).then(|| {
        crate::web::router(
            hub.clone(),
            Arc::clone(&conn_config),
            &config.web_origins,
            local,
            shutdown.clone(),
        )
    });
    serve(listener, options, shutdown, move |conn| {
        let web = web.clone();
        let hub = hub.clone();
        let config = Arc::clone(&conn_config);
        // Boxed before the connection's future is made: that future lives as long as the
        // client, and each async layer would otherwise keep its own copy of the stream's
        // slot (about 120 bytes a layer, a good part of an idle connection's memory).
        let mut stream = Box::new(conn.stream);
        let shutdown = conn.shutdown;
        let peer = conn.peer.ip();
        async move {
            if let Some(router) = web {
                // Boxed: an HTTP connection's state (about 1 KiB) would otherwise be the size
                // of every chat connection's task too.
                // The session cookie and tokens stay out of the traffic log (WebSocket frames
                // from the browser are masked and pass as they are: see docs/PROTOCOL-chat.md).
                stream.set_redactor(prise_core::trace::redact_all(vec![
                    prise_core::trace::redact_commands(&["Cookie: ", "Set-Cookie: "]),
                    prise_core::trace::redact_json_values(&["password", "token"]),
                ]));
                let tls = stream.is_tls();
                let router = router.layer(axum::Extension(crate::web::Peer { ip: peer, tls }));
                Box::pin(serve_web(*stream, router, shutdown)).await;
                return;
            }
            // Before the first read: IRC passwords (`OPER name password`, `PASS password`,
            // SASL's `AUTHENTICATE` payloads, whatever is said to NickServ, `REGISTER`, the text
            // door's `/login`, `/register` and `/pass`, native `password` and session `token` values) stay
            // out of the traffic log, even when they come in the bytes sniffed. On the main port
            // a text user's line starting with those words is hidden too.
            stream.set_redactor(prise_core::trace::redact_all(vec![
                prise_core::trace::redact_commands(&[
                    "OPER ",
                    "PASS ",
                    "AUTHENTICATE ",
                    "NS ",
                    "NICKSERV ",
                    "PRIVMSG NickServ ",
                    "REGISTER ",
                    // The text door's account commands.
                    "/login ",
                    "/identify ",
                    "/register ",
                    "/ghost ",
                    "/pass ",
                ]),
                // The native protocol's `register` and `login` (and a session's token).
                prise_core::trace::redact_json_values(&["password", "token"]),
            ]));
            // A TLS client certificate (IRC's CertFP): who holds its key, by its fingerprint.
            let certfp = stream
                .peer_certificate()
                .map(|cert| prise_core::tls::Fingerprint::of(&cert));
            if door != Door::Any {
                let conn = IrcConn::new(&hub, &config, peer, certfp);
                let wire = Lines::new(stream, BytesMut::new(), config.max_line_len);
                door::serve(wire, conn, hub, &config, shutdown).await;
                return;
            }
            let mut input = BytesMut::with_capacity(1024);
            // Sniffing reads into a small buffer; the front doors release it once used.
            // With TLS configured, a plain stream has already been sniffed by core: either its
            // first bytes are waiting, or it stayed silent for a whole SNIFF_TIMEOUT and gets the
            // banner now rather than after a second wait.
            let wait = if tls_configured && !stream.is_tls() {
                Duration::ZERO
            } else {
                SNIFF_TIMEOUT
            };
            match tokio::time::timeout(wait, stream.read_buf(&mut input)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                _ => {}
            }
            // The first bytes tell the protocol: `{` a native client, an IRC command, or text.
            let native = input.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            let irc = !native && looks_like_irc(&input);
            let wire = Lines::new(stream, input, config.max_line_len);
            if native {
                door::serve(
                    wire,
                    NativeConn::new(&config, false, peer, certfp),
                    hub,
                    &config,
                    shutdown,
                )
                .await;
            } else if irc {
                let conn = IrcConn::new(&hub, &config, peer, certfp);
                door::serve(wire, conn, hub, &config, shutdown).await;
            } else {
                let conn = TextConn::new(&config, peer);
                door::serve(wire, conn, hub, &config, shutdown).await;
            }
        }
    })
}

/// One HTTP connection of the web door, upgrades (WebSockets) included; on shutdown it stops
/// taking requests and ends once the one in hand is answered.
async fn serve_web(
    stream: prise_core::stream::Stream,
    router: axum::Router,
    shutdown: CancellationToken,
) {
    let service = hyper_util::service::TowerToHyperService::new(router);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
