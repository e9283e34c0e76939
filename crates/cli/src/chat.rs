//! `prise chat serve`, `prise chat connect` and `prise chat send`.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use prise_chat::client::{Client, ClientConfig, Update};
use prise_chat::server;
use prise_core::net::{announce, ConnectOptions};
use prise_core::trace::TrafficLog;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::args::{
    AccountCommand, ChatCommand, ChatConnectArgs, ChatSendArgs, ChatServeArgs, ClientTlsArgs,
    RegisterEmailArg, RegistrationArg, TimeoutArgs,
};
use prise_chat_term::commands::{bans_line, request, room_info_line};

pub(crate) async fn run(
    command: ChatCommand,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ExitCode> {
    match command {
        ChatCommand::Serve(args) => serve(*args, trace).await,
        ChatCommand::Connect(args) => connect(args, trace).await,
        ChatCommand::Send(args) => send(args, trace).await,
        ChatCommand::Account(command) => {
            tokio::task::spawn_blocking(move || account(command)).await?
        }
    }
}

/// `prise chat account ...`, offline on the database: blocking work (hashing, SQLite).
fn account(command: AccountCommand) -> anyhow::Result<ExitCode> {
    use prise_chat::accounts::{Accounts, Registration};
    let db = match &command {
        AccountCommand::List(db) => db,
        AccountCommand::Add(a) | AccountCommand::ResetPassword(a) | AccountCommand::Delete(a) => {
            &a.db
        }
    };
    let path = match &db.history {
        Some(path) => path.clone(),
        None => default_history()?,
    };
    let accounts = Accounts::open(Some(&path), Registration::Closed)
        .with_context(|| format!("opening {}", path.display()))?;
    let password = || -> anyhow::Result<String> {
        if let Ok(password) = std::env::var("PRISE_CHAT_PASSWORD") {
            return Ok(password);
        }
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password: set $PRISE_CHAT_PASSWORD or give it on stdin's first line");
        }
        Ok(password)
    };
    match command {
        AccountCommand::List(_) => {
            let mut out = std::io::stdout().lock();
            for a in accounts.list()? {
                let created = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(
                            u64::try_from(a.created_ms).unwrap_or(0),
                        ),
                );
                let email = a.email.as_deref().unwrap_or("-");
                writeln!(out, "{}\t{created}\t{email}", a.name)?;
            }
        }
        AccountCommand::Add(a) => {
            let made = accounts.register_blocking(&a.name, &password()?, None, None)?;
            println!("account {} added", made.name);
        }
        AccountCommand::ResetPassword(a) => {
            accounts.reset_password_blocking(&a.name, &password()?)?;
            println!("account {}: password changed", a.name);
        }
        AccountCommand::Delete(a) => {
            accounts.delete(&a.name)?;
            println!("account {} deleted", a.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The default history file: `prise/chat-history.sqlite` in the user's data folder.
fn default_history() -> anyhow::Result<PathBuf> {
    let base = dirs::data_dir()
        .context("no data folder for this user; use --history FILE or --no-history")?;
    Ok(base.join("prise").join("chat-history.sqlite"))
}

async fn serve(args: ChatServeArgs, trace: Option<TrafficLog>) -> anyhow::Result<ExitCode> {
    // Redis unreachable: say so before announcing anything.
    if let Some(url) = args.redis.as_deref().filter(|u| !u.is_empty()) {
        prise_chat::cluster::Cluster::probe(url)
            .await
            .context("--redis")?;
    }
    let crate::server::Started {
        shutdown,
        listener,
        local,
        tls,
    } = crate::server::start("chat", &args.listen, &args.tls, |cli| match cli.command {
        crate::args::Command::Chat(ChatCommand::Serve(args)) => Some(args.tls),
        _ => None,
    })
    .await?;
    let default_room = prise_chat::names::normalize_room(&args.default_room)
        .map_err(|reason| anyhow::anyhow!("--default-room {:?}: {reason}", args.default_room))?;
    let history = match (args.no_history, args.history) {
        (true, _) => None,
        (false, Some(path)) => Some(path),
        (false, None) => Some(default_history()?),
    };
    if let Some(path) = &history {
        tracing::info!(file = %path.display(), "history");
    }
    let mut config = server::Config {
        history,
        max_connections: args.common.max_connections(),
        tls,
        grace: args.common.grace,
        trace,
        ..server::Config::default()
    };
    config.hub.motd = args.motd;
    config.hub.default_room = default_room;
    config.hub.replay = args.replay;
    config.hub.opers = args.oper;
    config.hub.server_name = args.server_name;
    config.conn.flood_rate = args.flood_rate.max(0.0);
    config.conn.flood_burst = args.flood_burst;
    config.conn.idle_timeout = args.idle_timeout;
    config.web_origins = args.web_origin;
    config.registration = match args.registration {
        RegistrationArg::Open => prise_chat::accounts::Registration::Open,
        RegistrationArg::Closed => prise_chat::accounts::Registration::Closed,
        RegistrationArg::Opers => prise_chat::accounts::Registration::Opers,
    };
    config.register_rules = prise_chat::accounts::RegisterRules {
        email_required: args.register_email == RegisterEmailArg::Required,
        before_connect: args.register_before_connect,
    };
    config.hub.nick_grace = args.nick_grace;
    config.hub.password = args.password.filter(|p| !p.is_empty());
    config.redis = args.redis.filter(|u| !u.is_empty()).map(|url| {
        let node = args.node_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "node".to_owned());
            format!("{host}-{}", std::process::id())
        });
        server::ClusterConfig {
            url,
            node,
            ttl: args.node_ttl,
        }
    });
    if args.irc_tls.is_some() && config.tls.is_none() {
        anyhow::bail!(
            "--irc-tls needs a certificate: --tls-cert and --tls-key, or --tls-self-signed"
        );
    }
    let mut doors = vec![(listener, server::Door::Any, "chat", local)];
    for (addr, door, name) in [
        (&args.irc, server::Door::Irc, "irc"),
        (&args.irc_tls, server::Door::IrcTls, "irc-tls"),
        (&args.web, server::Door::Web, "web"),
    ] {
        if let Some(addr) = addr {
            let listener = prise_core::net::bind(addr).await?;
            let local = listener.local_addr()?;
            doors.push((listener, door, name, local));
        }
    }
    for (_, _, name, local) in &doors {
        announce(name, *local);
    }
    let listeners = doors.into_iter().map(|(l, door, _, _)| (l, door)).collect();
    server::run_doors(listeners, config, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// The password of `--account`: `$PRISE_CHAT_PASSWORD`, or asked on the terminal (not
/// echoed).
fn login(account: Option<String>) -> anyhow::Result<Option<prise_chat::client::Login>> {
    let Some(account) = account else {
        return Ok(None);
    };
    let password = match std::env::var("PRISE_CHAT_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ if std::io::stdin().is_terminal() => {
            prise_chat_term::read_password(&format!("password for {account}: "))
                .context("reading the password")?
        }
        _ => bail!(
            "--account {account}: set $PRISE_CHAT_PASSWORD (stdin is not a terminal to ask on)"
        ),
    };
    Ok(Some(prise_chat::client::Login { account, password }))
}

fn client_config(
    nick: Option<String>,
    rooms: Vec<String>,
    timeouts: &TimeoutArgs,
    tls: &ClientTlsArgs,
    identity: Option<(&std::path::Path, &std::path::Path)>,
    trace: Option<TrafficLog>,
) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::new();
    config.connect = ConnectOptions {
        connect_timeout: timeouts.connect_timeout,
        tls: crate::tls::client_with(tls, identity)?,
        trace,
        ..ConnectOptions::new("chat")
    };
    config.nick = nick;
    config.rooms = rooms;
    // A server run with --password: the same variable as the server's.
    config.password = std::env::var("PRISE_CHAT_SERVER_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .map(prise_chat::client::Secret);
    Ok(config)
}

async fn send(args: ChatSendArgs, trace: Option<TrafficLog>) -> anyhow::Result<ExitCode> {
    let room = prise_chat::names::normalize_room(&args.room)
        .map_err(|reason| anyhow::anyhow!("--room {:?}: {reason}", args.room))?;
    let mut config = client_config(
        Some(args.nick.clone()),
        vec![room.clone()],
        &args.timeouts,
        &args.tls,
        args.identity.files(),
        trace,
    )?;
    config.login = login(args.account.clone())?;
    config.external_login = config.login.is_none() && args.identity.cert.is_some();
    let logging_in = config.login.is_some() || config.external_login;
    let work = async {
        let (mut client, nick) = Client::connect_once(&args.addr, config).await?;
        if !nick.eq_ignore_ascii_case(&args.nick) {
            bail!(
                "the nick {} is taken or invalid on {}",
                args.nick,
                args.addr
            );
        }
        // Logged in before anything is said, or not at all.
        if logging_in {
            loop {
                match client.next().await {
                    Some(Update::Message(v)) if v["ref"] == prise_chat::client::LOGIN_REF => {
                        if v["type"] != "ack" {
                            bail!(
                                "logging in {}: {}",
                                args.account
                                    .as_deref()
                                    .map_or("with --cert".to_owned(), |a| format!("to {a}")),
                                v["text"].as_str().unwrap_or("refused")
                            );
                        }
                        break;
                    }
                    Some(Update::Disconnected { reason, .. }) => bail!("{reason}"),
                    None => bail!("connection closed"),
                    _ => {}
                }
            }
        }
        // Wait until we are in the room, then send and wait for the server's ack.
        loop {
            match client.next().await {
                Some(Update::Message(v))
                    if v["type"] == "joined"
                        && v["room"]
                            .as_str()
                            .is_some_and(|r| r.eq_ignore_ascii_case(&room)) =>
                {
                    break
                }
                Some(Update::Message(v)) if v["type"] == "error" => {
                    bail!("{}", v["text"].as_str().unwrap_or("refused"))
                }
                Some(Update::Message(_)) | Some(Update::Connected { .. }) => {}
                Some(Update::Disconnected { reason, .. }) => bail!("{reason}"),
                None => bail!("connection closed"),
            }
        }
        client
            .send(json!({"type": "chat", "to": room, "text": args.message, "ref": "send"}))
            .await?;
        loop {
            match client.next().await {
                Some(Update::Message(v)) if v["ref"] == "send" && v["type"] == "ack" => break,
                Some(Update::Message(v)) if v["ref"] == "send" => {
                    bail!("{}", v["text"].as_str().unwrap_or("refused"))
                }
                Some(Update::Disconnected { reason, .. }) => bail!("{reason}"),
                None => bail!("connection closed"),
                _ => {}
            }
        }
        client.quit("").await;
        Ok(())
    };
    prise_core::net::with_timeout(
        &format!("sending to {}", args.addr),
        args.timeouts.timeout,
        work,
    )
    .await??;
    Ok(ExitCode::SUCCESS)
}

async fn connect(args: ChatConnectArgs, trace: Option<TrafficLog>) -> anyhow::Result<ExitCode> {
    let mut config = client_config(
        args.nick.clone(),
        args.rooms.clone(),
        &args.timeouts,
        &args.tls,
        args.identity.files(),
        trace,
    )?;
    config.login = login(args.account.clone())?;
    config.external_login = config.login.is_none() && args.identity.cert.is_some();
    let mut client = Client::start(&args.addr, config);
    if !args.plain && std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        prise_chat_term::screen::run(client, &args.addr).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut current: Option<String> = None;
    // Input waits until the first room is joined (or the server said why not), so a script's
    // first line does not race the welcome.
    let mut ready = false;
    loop {
        tokio::select! {
            update = client.next() => {
                let Some(update) = update else { break };
                match update {
                    Update::Connected { nick } => eprintln!("* connected to {} as {nick}", args.addr),
                    Update::Disconnected { reason, retry_in: Some(wait) } => {
                        eprintln!("* disconnected: {reason}; reconnecting in {:.1} s", wait.as_secs_f64());
                    }
                    Update::Disconnected { reason, retry_in: None } => bail!("{reason}"),
                    Update::Message(v) => {
                        if v["type"] == "joined" || v["type"] == "error" {
                            ready = true;
                        }
                        if v["type"] == "joined" {
                            current = v["room"].as_str().map(str::to_owned);
                        }
                        if let Some(line) = render(&v, current.as_deref()) {
                            let mut out = std::io::stdout().lock();
                            writeln!(out, "{line}")?;
                            out.flush()?;
                        }
                    }
                }
            }
            line = lines.next_line(), if ready => {
                match line? {
                    None => {
                        // End of input: leave, as `nc -N` does.
                        client.quit("").await;
                        return Ok(ExitCode::SUCCESS);
                    }
                    Some(line) => {
                        match request(&line, current.as_deref()) {
                            Ok(Some(req)) => {
                                let quitting = req["type"] == "quit";
                                client.send(req).await?;
                                if quitting {
                                    client.quit("").await;
                                    return Ok(ExitCode::SUCCESS);
                                }
                            }
                            Ok(None) => {}
                            Err(message) => eprintln!("! {message}"),
                        }
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A server message as a line, the way text mode shows it.
fn render(v: &Value, current: Option<&str>) -> Option<String> {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let time = |k: &str| {
        v[k].as_str()
            .and_then(|t| t.get(11..16))
            .unwrap_or_default()
            .to_owned()
    };
    let message = |m: &Value| {
        let from = m["from"].as_str().unwrap_or_default();
        let text = m["text"].as_str().unwrap_or_default();
        if m["action"] == true {
            format!("* {from} {text}")
        } else {
            format!("[{from}] {text}")
        }
    };
    Some(match v["type"].as_str()? {
        "chat" => {
            let room = s("to");
            let prefix = if current.is_some_and(|c| c.eq_ignore_ascii_case(&room)) {
                String::new()
            } else {
                format!("{room} ")
            };
            format!("{} {prefix}{}", time("ts"), message(v))
        }
        "private" => format!("{} [{} -> you] {}", time("ts"), s("from"), s("text")),
        "joined" => {
            let users: Vec<&str> = v["users"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let mut out = format!(
                "* You are in {} ({} here: {})",
                s("room"),
                users.len(),
                users.join(", ")
            );
            if !s("topic").is_empty() {
                out.push_str(&format!("\n* Topic: {}", s("topic")));
            }
            for m in v["history"].as_array()? {
                out.push_str(&format!(
                    "\n{} {}",
                    m["ts"]
                        .as_str()
                        .and_then(|t| t.get(11..16))
                        .unwrap_or_default(),
                    message(m)
                ));
            }
            out
        }
        "history" => v["messages"]
            .as_array()?
            .iter()
            .map(|m| {
                format!(
                    "{} {}",
                    m["ts"]
                        .as_str()
                        .and_then(|t| t.get(11..16))
                        .unwrap_or_default(),
                    message(m)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "join" => format!("* {} joined {}", s("nick"), s("room")),
        "part" => format!("* {} left {}", s("nick"), s("room")),
        "quit" => format!("* {} quit", s("nick")),
        "nick" => format!("* {} is now known as {}", s("old"), s("new")),
        "topic" => format!(
            "* {} set the topic of {}: {}",
            s("by"),
            s("room"),
            s("topic")
        ),
        "kick" => {
            let reason = match s("reason") {
                r if r.is_empty() => String::new(),
                r => format!(" ({r})"),
            };
            format!(
                "* {} put {} out of {}{reason}",
                s("by"),
                s("nick"),
                s("room")
            )
        }
        "mode" => {
            let args: Vec<&str> = v["args"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let args = if args.is_empty() {
                String::new()
            } else {
                format!(" {}", args.join(" "))
            };
            format!(
                "* {} set mode {}{args} on {}",
                s("by"),
                s("modes"),
                s("room")
            )
        }
        "invite" => format!(
            "* {} invites you to {}: /join {}",
            s("by"),
            s("room"),
            s("room")
        ),
        "system" => format!("* {}", s("text")),
        // register, login (also --account's), logout.
        "ack" if v.get("account").is_some() => match v["account"].as_str() {
            Some(account) => format!("* You are logged in as {account}"),
            None => "* You are logged out".to_owned(),
        },
        "welcome" => format!("* {}", s("motd")),
        "users" => {
            let users: Vec<&str> = v["users"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "* {} ({}): {}",
                v["room"].as_str().unwrap_or("Online"),
                users.len(),
                users.join(", ")
            )
        }
        "rooms" => v["rooms"]
            .as_array()?
            .iter()
            .map(|r| {
                format!(
                    "*   {} ({}) {}",
                    r["name"].as_str().unwrap_or_default(),
                    r["users"],
                    r["topic"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        "bans" => bans_line(v)?,
        "room_info" => room_info_line(v)?,
        "ack" if v.get("mask").is_some() => format!("* {} on {}: done", s("mask"), s("room")),
        "error" => format!("! {}", s("text")),
        "ack" if v.get("old").is_some() => format!("* You are now known as {}", s("nick")),
        _ => return None,
    })
}
