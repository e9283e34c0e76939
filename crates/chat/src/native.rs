//! The native front door: one JSON object per line, versioned by a hello exchange.
//! The wire format is specified in docs/PROTOCOL-chat.md.

use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::conn::{ConnConfig, Flood};
use crate::door::{Door, End, Flow, Hello, Refusal};
use crate::event::Event;
use crate::hub::{Gone, Hub, Inbox, Joined, ModeChange, Session};
use crate::masks::ListKind;
use crate::Error;
use prise_core::tls::Fingerprint;

/// The protocol versions this server speaks.
pub(crate) const VERSIONS: &[u32] = &[1];

/// Most messages one `history` request returns.
pub(crate) const MAX_HISTORY_PAGE: usize = 200;

/// A client request. One flat shape for every type: fields a type does not use are ignored,
/// which keeps the protocol easy to extend and errors easy to word.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Request {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(rename = "ref")]
    pub(crate) reference: Option<Value>,
    pub(crate) versions: Vec<u32>,
    pub(crate) nick: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) action: bool,
    pub(crate) room: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) topic: Option<String>,
    pub(crate) before: Option<u64>,
    pub(crate) limit: Option<usize>,
    pub(crate) token: Option<Value>,
    pub(crate) key: Option<String>,
    /// A ban mask (`nick!ident@host`, short forms completed).
    pub(crate) mask: Option<String>,
    /// In a hello: a monitor's probe, answered with one `status` line and a close.
    pub(crate) probe: bool,
    /// `login`: the account (the nick when absent).
    pub(crate) account: Option<String>,
    /// `register`, `login`.
    pub(crate) password: Option<String>,
    /// `register`: stored only.
    pub(crate) email: Option<String>,
    /// `register`, `login`: also open a session, whose token the `ack` carries.
    pub(crate) session: bool,
    /// `login`: with the connection's TLS client certificate (SASL EXTERNAL's way).
    pub(crate) external: bool,
    /// `cert_add`, `cert_del`: a certificate's fingerprint (`SHA256:<hex>`).
    pub(crate) fingerprint: Option<String>,
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// One native-protocol conversation's state, whatever carries its lines (TCP or WebSocket).
pub(crate) struct NativeConn {
    /// Lines waiting to be written, each ending in `\n`.
    pub(crate) out: BytesMut,
    flood: Flood,
    /// Carried by the web door's WebSocket (the user's ident says `web`).
    web: bool,
    /// The client's address, for the limits on log-in and registration attempts.
    peer: std::net::IpAddr,
    /// The fingerprint of the TLS client certificate the client presented, if any.
    certfp: Option<Box<Fingerprint>>,
    /// The account the connection starts logged in to (the web door's session cookie).
    pub(crate) preauth: Option<Box<str>>,
}

impl NativeConn {
    pub(crate) fn new(
        config: &ConnConfig,
        web: bool,
        peer: std::net::IpAddr,
        certfp: Option<Fingerprint>,
    ) -> Self {
        Self {
            out: BytesMut::new(),
            flood: Flood::new(config.flood_rate, config.flood_burst),
            web,
            peer,
            preauth: None,
            certfp: certfp.map(Box::new),
        }
    }

    /// `cert_add`, `cert_del`, `certs`: the certificates that log in to this user's account.
    async fn cert_request(&mut self, session: &Session, req: &Request) {
        let r = req.reference.as_ref();
        let given = match req.fingerprint.as_deref().map(str::parse::<Fingerprint>) {
            Some(Ok(fp)) => Some(fp),
            Some(Err(_)) => {
                self.error("bad_request", "a fingerprint is SHA256:<64 hex digits>", r);
                return;
            }
            None if req.kind == "cert_add" => self.certfp.as_deref().copied(),
            None => None,
        };
        let done = match (req.kind.as_str(), given) {
            ("certs", _) => session.certs().await.map(
                |(account, certs)| json!({"type": "certs", "account": account, "certs": certs}),
            ),
            ("cert_add", Some(fp)) => session.add_cert(&fp.to_string()).await.map(
                |account| json!({"type": "ack", "account": account, "fingerprint": fp.to_string()}),
            ),
            ("cert_del", Some(fp)) => session.remove_cert(&fp.to_string()).await.map(
                |removed| json!({"type": "ack", "fingerprint": fp.to_string(), "removed": removed}),
            ),
            ("cert_add", None) => Err(Error::NoCertificate),
            _ => {
                self.error("bad_request", "cert_del needs \"fingerprint\"", r);
                return;
            }
        };
        match done {
            Ok(answer) => self.send(answer, r),
            Err(e) => self.chat_error(&e, r),
        }
    }

    fn send(&mut self, mut value: Value, reference: Option<&Value>) {
        if let (Some(reference), Some(object)) = (reference, value.as_object_mut()) {
            object.insert("ref".into(), reference.clone());
        }
        // Serializing a Value cannot fail.
        if let Ok(bytes) = serde_json::to_vec(&value) {
            self.out.extend_from_slice(&bytes);
            self.out.extend_from_slice(b"\n");
        }
    }

    /// Say why the hub let this client go (the last line before the close).
    fn farewell(&mut self, session: &Session, gone: Gone) {
        match gone {
            Gone::TooSlow => self.error(
                "too_slow",
                "you are not reading fast enough; disconnecting",
                None,
            ),
            Gone::Killed(why) => {
                session.set_quit_reason(&why);
                self.error(
                    "killed",
                    &format!("disconnected by a server operator: {why}"),
                    None,
                );
            }
            Gone::Shutdown => self.error("server_shutdown", "the server is shutting down", None),
            Gone::TimedOut => self.error("timeout", "no answer to ping; disconnecting", None),
        }
    }

    fn error(&mut self, code: &str, text: &str, reference: Option<&Value>) {
        self.send(
            json!({"type": "error", "code": code, "text": text}),
            reference,
        );
    }

    /// `register` (an account named as the nick, logged in to at once) and `login` (with a
    /// password or a session's token): `ack` with the account's name, and a session's token
    /// when `session` was asked with a password; or an error (`bad_login` a second late).
    async fn account_request(&mut self, session: &Session, req: &Request) {
        let r = req.reference.as_ref();
        if session.accounts().is_none() {
            self.error("unknown_type", "accounts are not enabled on this server", r);
            return;
        }
        if req.kind == "login" && req.external {
            let done = match self.certfp.as_deref().map(ToString::to_string) {
                Some(fingerprint) => session.log_in_external(self.peer, &fingerprint).await,
                None => Err(Error::NoCertificate),
            };
            match done {
                Ok(account) => self.send(json!({"type": "ack", "account": account}), r),
                Err(e) => self.chat_error(&e, r),
            }
            return;
        }
        let token = req.token.as_ref().and_then(Value::as_str);
        // A password, or for a login a session's token instead.
        let ((Some(password), _) | (None, Some(password))) = (
            req.password.as_deref(),
            token.filter(|_| req.kind == "login"),
        ) else {
            let needs = if req.kind == "login" {
                "\"password\" (or a session's \"token\")"
            } else {
                "\"password\""
            };
            self.error("bad_request", &format!("{} needs {needs}", req.kind), r);
            return;
        };
        let nick = session.nick();
        let done = if req.kind == "login" && req.password.is_none() {
            session.resume(self.peer, password).await
        } else if req.kind == "register" {
            if session.account().is_some() {
                self.error("bad_request", "already logged in to an account", r);
                return;
            }
            session
                .register_account(self.peer, password, req.email.as_deref())
                .await
        } else {
            let name = req.account.as_deref().unwrap_or(&nick);
            session.log_in(self.peer, name, password).await
        };
        match done {
            Ok(account) => {
                let mut ack = json!({"type": "ack", "account": account});
                // A session asked for with a password: its token goes in the ack.
                if req.session && req.password.is_some() {
                    match session.open_session(&account).await {
                        Ok(token) => ack["token"] = json!(token),
                        Err(e) => return self.chat_error(&e, r),
                    }
                }
                self.send(ack, r);
            }
            Err(e) => self.chat_error(&e, r),
        }
    }

    fn chat_error(&mut self, err: &Error, reference: Option<&Value>) {
        self.error(err.code(), &err.to_string(), reference);
    }

    fn joined(&mut self, joined: &Joined, reference: Option<&Value>) {
        let history: Vec<Value> = joined
            .history
            .iter()
            .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
            .collect();
        let users: Vec<&str> = joined.users.iter().map(|m| m.nick.as_str()).collect();
        let ops: Vec<&str> = joined
            .users
            .iter()
            .filter(|m| m.status.op)
            .map(|m| m.nick.as_str())
            .collect();
        self.send(
            json!({
                "type": "joined",
                "room": joined.room,
                "topic": joined.topic,
                "users": users,
                "ops": ops,
                "history": history,
            }),
            reference,
        );
    }

    /// Handle one line after the hello. Returns false when the client quits.
    async fn handle(&mut self, session: &Session, line: Bytes) -> bool {
        match parse(&line) {
            Ok(req) => self.request(session, req).await,
            Err((code, text)) => {
                self.error(code, &text, None);
                true
            }
        }
    }

    /// Handle one request after the hello. Returns false when the client quits.
    async fn request(&mut self, session: &Session, req: Request) -> bool {
        let r = req.reference.as_ref();
        match req.kind.as_str() {
            "chat" | "private" => {
                let (Some(to), Some(text)) = (req.to.as_deref(), req.text.as_deref()) else {
                    self.error(
                        "bad_request",
                        &format!("{} needs \"to\" and \"text\"", req.kind),
                        r,
                    );
                    return true;
                };
                if !self.flood.allow() {
                    self.error("flood", "too many messages; this one was not sent", r);
                    return true;
                }
                let sent = if req.kind == "chat" {
                    session.say(to, text, req.action).await
                } else {
                    session.private(to, text, req.action).await
                };
                match sent {
                    Ok(m) => self.send(json!({"type": "ack", "id": m.id, "ts": humantime::format_rfc3339_millis(m.ts).to_string()}), r),
                    Err(e) => self.chat_error(&e, r),
                }
            }
            "nick" => match req.nick.as_deref() {
                None => self.error("bad_request", "nick needs \"nick\"", r),
                Some(nick) => match session.set_nick(nick).await {
                    Ok(old) => self.send(
                        json!({"type": "ack", "old": old, "nick": session.nick()}),
                        r,
                    ),
                    Err(e) => self.chat_error(&e, r),
                },
            },
            "join" => match req.room.as_deref() {
                None => self.error("bad_request", "join needs \"room\"", r),
                Some(room) => match session.join(room, req.key.as_deref()).await {
                    Ok(joined) => self.joined(&joined, r),
                    Err(e) => self.chat_error(&e, r),
                },
            },
            "part" => match req.room.as_deref() {
                None => self.error("bad_request", "part needs \"room\"", r),
                Some(room) => match session.part(room, req.reason.as_deref().unwrap_or("")) {
                    Ok(room) => self.send(json!({"type": "ack", "room": room}), r),
                    Err(e) => self.chat_error(&e, r),
                },
            },
            "topic" => match req.room.as_deref() {
                None => self.error("bad_request", "topic needs \"room\"", r),
                Some(room) => match session.topic(room, req.topic.as_deref()) {
                    Ok((room, topic)) => {
                        self.send(json!({"type": "ack", "room": room, "topic": topic}), r)
                    }
                    Err(e) => self.chat_error(&e, r),
                },
            },
            "kick" => match (req.room.as_deref(), req.nick.as_deref()) {
                (Some(room), Some(nick)) => {
                    match session.kick(room, nick, req.reason.as_deref().unwrap_or("")) {
                        Ok((room, nick)) => {
                            self.send(json!({"type": "ack", "room": room, "nick": nick}), r);
                        }
                        Err(e) => self.chat_error(&e, r),
                    }
                }
                _ => self.error("bad_request", "kick needs \"room\" and \"nick\"", r),
            },
            "invite" => match (req.room.as_deref(), req.nick.as_deref()) {
                (Some(room), Some(nick)) => match session.invite(nick, room) {
                    Ok((nick, room)) => {
                        self.send(json!({"type": "ack", "room": room, "nick": nick}), r);
                    }
                    Err(e) => self.chat_error(&e, r),
                },
                _ => self.error("bad_request", "invite needs \"room\" and \"nick\"", r),
            },
            "ban" | "unban" => match (req.room.as_deref(), req.mask.as_deref()) {
                (Some(room), Some(mask)) => {
                    match session.set_list(room, ListKind::Ban, mask, req.kind == "ban") {
                        Ok((room, mask)) => {
                            self.send(json!({"type": "ack", "room": room, "mask": mask}), r);
                        }
                        Err(e) => self.chat_error(&e, r),
                    }
                }
                _ => self.error(
                    "bad_request",
                    &format!("{} needs \"room\" and \"mask\"", req.kind),
                    r,
                ),
            },
            "bans" => match req.room.as_deref() {
                None => self.error("bad_request", "bans needs \"room\"", r),
                Some(room) => match session.list(room, ListKind::Ban) {
                    Ok((room, bans)) => {
                        self.send(json!({"type": "bans", "room": room, "bans": bans}), r);
                    }
                    Err(e) => self.chat_error(&e, r),
                },
            },
            "users" => match session.users(req.room.as_deref()) {
                Ok((room, users)) => {
                    self.send(json!({"type": "users", "room": room, "users": users}), r)
                }
                Err(e) => self.chat_error(&e, r),
            },
            "rooms" => {
                let rooms = session.list_rooms();
                self.send(json!({"type": "rooms", "rooms": rooms}), r);
            }
            "history" => match req.room.as_deref() {
                None => self.error("bad_request", "history needs \"room\"", r),
                Some(room) => {
                    let limit = req
                        .limit
                        .unwrap_or(crate::hub::REPLAY)
                        .clamp(1, MAX_HISTORY_PAGE);
                    match session.history(room, req.before, limit).await {
                        Ok((room, messages, more)) => self.send(
                            json!({"type": "history", "room": room, "messages": messages, "more": more}),
                            r,
                        ),
                        Err(e) => self.chat_error(&e, r),
                    }
                }
            },
            "op" | "deop" => match (req.room.as_deref(), req.nick.as_deref()) {
                (Some(room), Some(nick)) => {
                    let change = ModeChange::Op(nick.to_owned(), req.kind == "op");
                    match session.set_modes(room, &[change]) {
                        Ok((_, errors)) if !errors.is_empty() => self.chat_error(&errors[0], r),
                        Ok((room, _)) => {
                            self.send(json!({"type": "ack", "room": room, "nick": nick}), r);
                        }
                        Err(e) => self.chat_error(&e, r),
                    }
                }
                _ => self.error(
                    "bad_request",
                    &format!("{} needs \"room\" and \"nick\"", req.kind),
                    r,
                ),
            },
            "register_room" | "unregister_room" | "room_info" => match req.room.as_deref() {
                None => self.error("bad_request", &format!("{} needs \"room\"", req.kind), r),
                Some(room) => {
                    let done = match req.kind.as_str() {
                        "register_room" => session.register_room(room).map(|room| json!({"type": "ack", "room": room})),
                        "unregister_room" => session.unregister_room(room).map(|room| json!({"type": "ack", "room": room})),
                        _ => session.room_registration(room).map(|reg| json!({
                            "type": "room_info",
                            "room": reg.room,
                            "founder": reg.founder,
                            "registered": humantime::format_rfc3339_millis(reg.registered).to_string(),
                            "ops": reg.ops,
                        })),
                    };
                    match done {
                        Ok(answer) => self.send(answer, r),
                        Err(e) => self.chat_error(&e, r),
                    }
                }
            },
            "register" | "login" => self.account_request(session, &req).await,
            "cert_add" | "cert_del" | "certs" => self.cert_request(session, &req).await,
            "logout" => {
                session.set_account(None);
                self.send(json!({"type": "ack", "account": null}), r);
            }
            "ping" => self.send(json!({"type": "pong", "token": req.token}), r),
            "pong" => {}
            "quit" => {
                session.set_quit_reason(req.reason.as_deref().unwrap_or(""));
                return false;
            }
            "hello" => self.error("bad_request", "hello was already received", r),
            "" => self.error("bad_request", "every message needs a \"type\"", r),
            other => self.error(
                "unknown_type",
                &format!("unknown message type {other:?}"),
                r,
            ),
        }
        true
    }
}

/// Parse one line into a request, or say why not.
fn parse(line: &[u8]) -> Result<Request, (&'static str, String)> {
    let text = std::str::from_utf8(line)
        .map_err(|_| ("bad_utf8", "the line is not valid UTF-8".to_owned()))?;
    serde_json::from_str::<Request>(text)
        .map_err(|e| ("bad_json", format!("not a JSON object: {e}")))
}

/// Answer a hello line (the first line of a native or WebSocket client): the welcome and the
/// default room, a probe's status, or an error. `None` when the client is not (or no longer)
/// welcome: what it is told waits in `conn.out`, and the caller closes once it is written.
async fn greet(
    hello: &[u8],
    conn: &mut NativeConn,
    hub: &Hub,
    ident: &str,
) -> Option<(Session, Inbox)> {
    let hello = match parse(hello) {
        Ok(req) if req.kind == "hello" => req,
        Ok(_) => {
            conn.error("bad_request", "the first message must be hello", None);
            return None;
        }
        Err((code, text)) => {
            conn.error(code, &text, None);
            return None;
        }
    };
    let Some(version) = hello
        .versions
        .iter()
        .copied()
        .filter(|v| VERSIONS.contains(v))
        .max()
    else {
        conn.error(
            "unsupported_version",
            &format!("this server speaks protocol versions {VERSIONS:?}"),
            hello.reference.as_ref(),
        );
        return None;
    };
    if hello.probe {
        // A monitor: answer without becoming a user, then close.
        let counts = hub.counts();
        conn.send(
            json!({
                "type": "status",
                "version": version,
                "server": concat!("prise ", env!("CARGO_PKG_VERSION")),
                "users": counts.users,
                "rooms": counts.rooms,
                "ts": now(),
            }),
            hello.reference.as_ref(),
        );
        return None;
    }
    // The server password (`--password`); a probe above needs none.
    if let Err(e) = hub
        .check_password(conn.peer, hello.password.as_deref())
        .await
    {
        conn.chat_error(&e, hello.reference.as_ref());
        return None;
    }
    let (session, rx, refused) = hub.connect(hello.nick.as_deref(), ident).await;
    let account = conn.preauth.take();
    session.start_account(account.as_deref());
    let nick = session.nick();
    let motd = format!(
        "Welcome to prise chat. Your name is \"{nick}\". To change it, send a nick message (/nick NewName).{}",
        hub.config().motd.as_deref().map(|m| format!("\n{m}")).unwrap_or_default()
    );
    let mut welcome = json!({
        "type": "welcome",
        "version": version,
        "nick": nick,
        "server": concat!("prise ", env!("CARGO_PKG_VERSION")),
        "motd": motd,
        "ts": now(),
    });
    if let Some(account) = account.as_deref() {
        welcome["account"] = json!(account);
    }
    conn.send(welcome, hello.reference.as_ref());
    if let Some(err) = refused {
        conn.chat_error(&err, None);
    }
    let default_room = hub.config().default_room.clone();
    match Box::pin(session.join(&default_room, None)).await {
        Ok(joined) => conn.joined(&joined, None),
        Err(e) => conn.chat_error(&e, None),
    }
    Some((session, rx))
}

/// The native protocol as a [`Door`]: over TCP with [`crate::door::Lines`], over a WebSocket
/// with the web door's wire.
impl Door for NativeConn {
    type Pending = ();

    fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    async fn hello(&mut self, _: &mut (), hub: &Hub, line: Bytes) -> Hello {
        let ident = if self.web { "web" } else { "native" };
        match Box::pin(greet(&line, self, hub, ident)).await {
            Some((session, inbox)) => Hello::Welcome(session, inbox),
            None => Hello::Refused,
        }
    }

    fn refused(&mut self, why: Refusal) {
        match why {
            Refusal::LineTooLong(max) => {
                self.error(
                    "line_too_long",
                    &format!("line longer than {max} bytes"),
                    None,
                );
            }
            Refusal::NotText => self.error(
                "bad_request",
                "the first message must be a hello, as text",
                None,
            ),
            // Silence gets silence.
            Refusal::TimedOut => {}
        }
    }

    fn welcomed(&mut self, session: &Session) {
        session.set_keepalive(true);
    }

    async fn line(&mut self, session: &Session, _: &Hub, line: Bytes) -> Flow {
        // Parsed inside the loop's boxed future: a request is a few hundred bytes that would
        // otherwise stay in every idle connection's state.
        if self.handle(session, line).await {
            Flow::Go
        } else {
            Flow::Quit(String::new())
        }
    }

    fn event(&mut self, _: &Session, event: &Event) {
        self.out.extend_from_slice(&event.json());
    }

    const SHARES_JSON: bool = true;

    fn not_text(&mut self) {
        self.error("bad_request", "send JSON objects as text messages", None);
    }

    fn end(&mut self, session: &Session, end: End) {
        match end {
            End::LineTooLong(max) => self.error(
                "line_too_long",
                &format!("line longer than {max} bytes; disconnecting"),
                None,
            ),
            End::Gone(gone) => self.farewell(session, gone),
            End::Quit(_) | End::Closed => {}
        }
    }
}
