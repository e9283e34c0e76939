//! The text front door: `nc HOST PORT` or telnet is a usable chat client.
//!
//! Lines in, lines out, as in the tutorial: `[alice] hello`, `/nick` (and `/nom`), a welcome
//! banner that tells the user their name and how to change it. See docs/PROTOCOL-chat.md.

use std::fmt::Write as _;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::conn::{ConnConfig, Flood};
use crate::door::{Door, End, Flow, Hello, Refusal};
use crate::event::{EventKind, Message};
use crate::hub::{Gone, Hub, Inbox, ModeChange, Session};
use crate::masks::ListKind;
use crate::Error;

/// The line an event becomes in text mode (without room prefix), with `\n`.
fn render(kind: &EventKind) -> String {
    match kind {
        EventKind::Chat(m) => message_line(m, false),
        EventKind::Private(m) => message_line(m, true),
        EventKind::Join { room, nick, .. } => format!("* {nick} joined {room}\n"),
        EventKind::Part {
            room, nick, reason, ..
        } => with_reason(format!("* {nick} left {room}"), reason),
        EventKind::Quit { nick, reason, .. } => with_reason(format!("* {nick} quit"), reason),
        EventKind::Nick { old, new, .. } => format!("* {old} is now known as {new}\n"),
        EventKind::Topic {
            room, topic, by, ..
        } => format!("* {by} set the topic of {room}: {topic}\n"),
        EventKind::Kick {
            room,
            by,
            nick,
            reason,
            ..
        } => with_reason(format!("* {by} put {nick} out of {room}"), reason),
        EventKind::Mode {
            room,
            by,
            modes,
            args,
            ..
        } => {
            let mut line = format!("* {by} set mode {modes}");
            for arg in args {
                line.push(' ');
                line.push_str(arg);
            }
            let _ = writeln!(line, " on {room}");
            line
        }
        EventKind::Invite { room, by, .. } => {
            format!("* {by} invites you to {room}: /join {room}\n")
        }
        EventKind::Away { nick, message, .. } => match message {
            Some(message) => format!("* {nick} is away: {message}\n"),
            None => format!("* {nick} is back\n"),
        },
        EventKind::Wallops { from, text, .. } => format!("* [wallops from {from}] {text}\n"),
        // IRC capabilities: the text door never asks for them.
        EventKind::Setname { .. } | EventKind::Monitor { .. } | EventKind::Account { .. } => {
            String::new()
        }
        EventKind::System { text, .. } => format!("* {text}\n"),
        // Text clients are not pinged: a person at nc cannot answer.
        EventKind::Ping { .. } => String::new(),
    }
}

fn with_reason(mut line: String, reason: &str) -> String {
    if !reason.is_empty() {
        let _ = write!(line, " ({reason})");
    }
    line.push('\n');
    line
}

fn message_line(m: &Message, private: bool) -> String {
    match (private, m.action) {
        (false, false) => format!("[{}] {}\n", m.from, m.text),
        (false, true) => format!("* {} {}\n", m.from, m.text),
        (true, false) => format!("[{} -> you] {}\n", m.from, m.text),
        (true, true) => format!("[{} -> you] * {} {}\n", m.from, m.from, m.text),
    }
}

/// `HH:MM` UTC of a message, for history lines.
fn clock(ts: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(ts).to_string();
    text.get(11..16).unwrap_or("").to_owned() + "Z"
}

const HELP: &str = "\
* Commands:
*   /nick NAME (or /nom NAME)   change your name
*   /join ROOM [KEY]            join a room (created if new: you are its operator)
*   /part [ROOM]                leave a room (the current one by default)
*   /msg NICK TEXT              private message
*   /me TEXT                    action: * you TEXT
*   /topic [TEXT]               show or set the current room's topic
*   /kick NICK [REASON]         put someone out of the current room (operators, marked @)
*   /invite NICK [ROOM]         invite someone to the current room (or ROOM)
*   /ban MASK, /unban MASK      ban nick!user@host (wildcards; a bare nick is nick!*@*)
*   /bans                       the current room's bans
*   /op NICK, /deop NICK        make someone an operator of the current room, or not
*   /who [ROOM]                 who is in the room (or * for everyone)
*   /rooms                      list rooms
*   /history [N]                the last N messages of the current room
*   /register PASSWORD [EMAIL]  make your nick an account (and log in to it)
*   /login [ACCOUNT] PASSWORD   log in; /logout to stop
*   /ghost NICK [PASSWORD]      disconnect whoever uses your account's nick
*   /register-room [ROOM]       keep a room you operate (its operators, topic, modes, bans)
*   /unregister-room [ROOM]     stop keeping it; /room-info [ROOM] says who registered it
*   /quit [REASON]              leave
* Any other line is said in the current room.
";

pub(crate) struct TextConn {
    /// The room plain lines go to: the last one joined.
    current: Option<String>,
    out: BytesMut,
    flood: Flood,
    /// The client's address, for the limits on log-in and registration attempts.
    peer: std::net::IpAddr,
}

impl TextConn {
    pub(crate) fn new(config: &ConnConfig, peer: std::net::IpAddr) -> Self {
        Self {
            current: None,
            out: BytesMut::new(),
            flood: Flood::new(config.flood_rate, config.flood_burst),
            peer,
        }
    }

    fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        if !text.ends_with('\n') {
            self.out.extend_from_slice(b"\n");
        }
    }

    fn error(&mut self, err: &Error) {
        self.line(&format!("! {err}"));
    }

    fn show(&mut self, session: &Session, event: &crate::event::Event) {
        if let (EventKind::Chat(m), Some(current)) = (event.kind(), &self.current) {
            if !m.to.eq_ignore_ascii_case(current) {
                self.out.extend_from_slice(m.to.as_bytes());
                self.out.extend_from_slice(b" ");
            }
        }
        let bytes: Bytes = event.text(render);
        self.out.extend_from_slice(&bytes);
        if let EventKind::Kick { room, .. } = event.kind() {
            // Put out of the room talked in: talk in another one.
            if self.current.as_deref() == Some(room.as_str()) && !session.is_in(room) {
                self.current = session.rooms().pop();
                self.where_now();
            }
        }
    }

    fn where_now(&mut self) {
        match &self.current {
            Some(room) => self.line(&format!("* You are talking in {room}")),
            None => self.line("* You are in no room; /join ROOM to talk"),
        }
    }

    async fn join(&mut self, session: &Session, room: &str, key: Option<&str>) {
        match session.join(room, key).await {
            Ok(joined) => {
                self.current = Some(joined.room.clone());
                let users = joined
                    .users
                    .iter()
                    .map(|m| {
                        if m.status.op {
                            format!("@{}", m.nick)
                        } else {
                            m.nick.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                self.line(&format!(
                    "* You are in {} ({} here: {users}). Type /help for commands.",
                    joined.room,
                    joined.users.len()
                ));
                if !joined.topic.is_empty() {
                    self.line(&format!("* Topic: {}", joined.topic));
                }
                self.replay(&joined.history);
            }
            Err(e) => self.error(&e),
        }
    }

    fn replay(&mut self, history: &[Message]) {
        for m in history {
            let line = format!("{} {}", clock(m.ts), message_line(m, false));
            self.out.extend_from_slice(line.as_bytes());
        }
    }

    /// Handle one input line. Returns false when the user quits.
    async fn input(&mut self, session: &Session, raw: &[u8]) -> bool {
        let Ok(line) = std::str::from_utf8(raw) else {
            self.line("! That line is not valid UTF-8 text; it was not sent.");
            return true;
        };
        let line = line.trim_end();
        if line.is_empty() {
            return true;
        }
        let Some(command) = line.strip_prefix('/') else {
            self.say(session, line, false).await;
            return true;
        };
        let (name, rest) = match command.split_once(' ') {
            Some((name, rest)) => (name, rest.trim()),
            None => (command, ""),
        };
        let command = name.to_ascii_lowercase();
        match command.as_str() {
            "nick" | "nom" if rest.is_empty() => self.line("! Usage: /nick NewName"),
            "nick" | "nom" => match session.set_nick(rest).await {
                Ok(_) => self.line(&format!("* You are now known as {rest}")),
                Err(e) => self.error(&e),
            },
            "join" if rest.is_empty() => self.line("! Usage: /join ROOM [KEY]"),
            "join" => {
                let (room, key) = match rest.split_once(' ') {
                    Some((room, key)) => (room, Some(key.trim())),
                    None => (rest, None),
                };
                self.join(session, room, key).await;
            }
            "kick" => match rest.split_once(' ').unwrap_or((rest, "")) {
                ("", _) => self.line("! Usage: /kick NICK [REASON]"),
                (nick, reason) => {
                    let room = self.current.clone().unwrap_or_default();
                    if let Err(e) = session.kick(&room, nick, reason.trim()) {
                        self.error(&e);
                    }
                }
            },
            "ban" | "unban" if rest.is_empty() => {
                self.line(&format!(
                    "! Usage: /{command} MASK (nick!user@host, or a nick)"
                ));
            }
            "ban" | "unban" => {
                let room = self.current.clone().unwrap_or_default();
                match session.set_list(&room, ListKind::Ban, rest, command == "ban") {
                    Ok((room, mask)) if command == "ban" => {
                        self.line(&format!("* {mask} is banned from {room}"));
                    }
                    Ok((room, mask)) => {
                        self.line(&format!("* {mask} is no longer banned from {room}"))
                    }
                    Err(e) => self.error(&e),
                }
            }
            "bans" => {
                let room = self.current.clone().unwrap_or_default();
                match session.list(&room, ListKind::Ban) {
                    Ok((room, bans)) if bans.is_empty() => {
                        self.line(&format!("* Nobody is banned from {room}"));
                    }
                    Ok((room, bans)) => {
                        let masks: Vec<String> = bans
                            .iter()
                            .map(|b| format!("{} (by {})", b.mask, b.by))
                            .collect();
                        self.line(&format!("* Banned from {room}: {}", masks.join(", ")));
                    }
                    Err(e) => self.error(&e),
                }
            }
            "invite" => match rest.split_once(' ').unwrap_or((rest, "")) {
                ("", _) => self.line("! Usage: /invite NICK [ROOM]"),
                (nick, room) => {
                    let room = match room.trim() {
                        "" => self.current.clone().unwrap_or_default(),
                        room => room.to_owned(),
                    };
                    match session.invite(nick, &room) {
                        Ok((nick, room)) => self.line(&format!("* You invited {nick} to {room}")),
                        Err(e) => self.error(&e),
                    }
                }
            },
            "part" | "leave" => {
                let room = if rest.is_empty() {
                    self.current.clone().unwrap_or_default()
                } else {
                    rest.split(' ').next().unwrap_or_default().to_owned()
                };
                match session.part(&room, "") {
                    Ok(left) => {
                        self.line(&format!("* You left {left}"));
                        if self.current.as_deref() == Some(left.as_str()) {
                            self.current = session.rooms().pop();
                        }
                        self.where_now();
                    }
                    Err(e) => self.error(&e),
                }
            }
            "msg" | "query" | "tell" => match rest.split_once(' ') {
                Some((to, text)) if !text.trim().is_empty() => {
                    if self.flood.allow() {
                        match session.private(to, text.trim(), false).await {
                            Ok(m) => self.line(&format!("[you -> {}] {}", m.to, m.text)),
                            Err(e) => self.error(&e),
                        }
                    } else {
                        self.line("! Slow down: too many messages; that one was not sent.");
                    }
                }
                _ => self.line("! Usage: /msg NICK TEXT"),
            },
            "me" if rest.is_empty() => self.line("! Usage: /me TEXT"),
            "me" => self.say(session, rest, true).await,
            "topic" => {
                let room = self.current.clone().unwrap_or_default();
                let new = (!rest.is_empty()).then_some(rest);
                match session.topic(&room, new) {
                    Ok((room, topic)) if new.is_none() => {
                        if topic.is_empty() {
                            self.line(&format!("* {room} has no topic"));
                        } else {
                            self.line(&format!("* Topic of {room}: {topic}"));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => self.error(&e),
                }
            }
            "who" | "users" | "names" => {
                let room = match rest {
                    "*" => None,
                    "" => self.current.clone(),
                    room => Some(room.to_owned()),
                };
                match session.users(room.as_deref()) {
                    Ok((Some(room), users)) => {
                        self.line(&format!("* {room} ({}): {}", users.len(), users.join(", ")));
                    }
                    Ok((None, users)) => {
                        self.line(&format!("* Online ({}): {}", users.len(), users.join(", ")));
                    }
                    Err(e) => self.error(&e),
                }
            }
            "rooms" | "list" => {
                let rooms = session.list_rooms();
                let plural = if rooms.len() == 1 { "" } else { "s" };
                self.line(&format!("* {} room{plural}:", rooms.len()));
                for r in rooms {
                    let topic = if r.topic.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", r.topic)
                    };
                    self.line(&format!("*   {} ({}){topic}", r.name, r.users));
                }
            }
            "history" => {
                let limit = rest.parse::<usize>().unwrap_or(20).clamp(1, 200);
                let room = self.current.clone().unwrap_or_default();
                match session.history(&room, None, limit).await {
                    Ok((room, messages, _)) => {
                        self.line(&format!("* Last {} messages of {room}:", messages.len()));
                        self.replay(&messages);
                    }
                    Err(e) => self.error(&e),
                }
            }
            "register" => match rest.split_once(' ').unwrap_or((rest, "")) {
                ("", _) => self.line("! Usage: /register PASSWORD [EMAIL]"),
                (password, email) => {
                    let email = Some(email.trim()).filter(|e| !e.is_empty());
                    match session.register_account(self.peer, password, email).await {
                        Ok(name) => self.line(&format!(
                            "* Account {name} registered; you are logged in to it"
                        )),
                        Err(e) => self.error(&e),
                    }
                }
            },
            "login" | "identify" => {
                let (name, password) = match rest.split_once(' ') {
                    Some((name, password)) => (name.to_owned(), password.trim()),
                    None => (session.nick(), rest),
                };
                if password.is_empty() {
                    self.line("! Usage: /login [ACCOUNT] PASSWORD");
                } else {
                    match session.log_in(self.peer, &name, password).await {
                        Ok(name) => self.line(&format!("* You are now logged in as {name}")),
                        Err(e) => self.error(&e),
                    }
                }
            }
            "logout" => match session.account() {
                Some(name) => {
                    session.set_account(None);
                    self.line(&format!("* You are no longer logged in as {name}"));
                }
                None => self.line("! You are not logged in"),
            },
            "ghost" => match rest.split_once(' ').unwrap_or((rest, "")) {
                ("", _) => self.line("! Usage: /ghost NICK [PASSWORD]"),
                (nick, password) => {
                    let password = Some(password.trim()).filter(|p| !p.is_empty());
                    match session.ghost(self.peer, nick, password).await {
                        Ok(freed) => self.line(&format!("* {freed} has been disconnected")),
                        Err(e) => self.error(&e),
                    }
                }
            },
            "op" | "deop" if rest.is_empty() => self.line(&format!("! Usage: /{command} NICK")),
            "op" | "deop" => match self.current.clone() {
                None => self.line("! You are in no room; /join ROOM first"),
                Some(room) => {
                    let change = ModeChange::Op(rest.to_owned(), command == "op");
                    match session.set_modes(&room, &[change]) {
                        Ok((_, errors)) if !errors.is_empty() => self.error(&errors[0]),
                        Ok((room, _)) => self.line(&format!(
                            "* {rest} is {} in {room}",
                            if command == "op" {
                                "now an operator"
                            } else {
                                "no longer an operator"
                            }
                        )),
                        Err(e) => self.error(&e),
                    }
                }
            },
            "register-room" | "unregister-room" | "room-info" => {
                let room = match rest {
                    "" => self.current.clone(),
                    room => Some(room.to_owned()),
                };
                let Some(room) = room else {
                    self.line(&format!("! Usage: /{command} ROOM"));
                    return true;
                };
                let done = match command.as_str() {
                    "register-room" => session.register_room(&room).map(|room| {
                        format!("* {room} is registered to your account: its operators, topic, modes and bans are kept")
                    }),
                    "unregister-room" => session
                        .unregister_room(&room)
                        .map(|room| format!("* {room} is no longer registered")),
                    _ => session.room_registration(&room).map(|r| {
                        format!(
                            "* {} is registered by {} since {}; operators: {}",
                            r.room,
                            r.founder,
                            humantime::format_rfc3339_seconds(r.registered),
                            r.ops.join(", ")
                        )
                    }),
                };
                match done {
                    Ok(line) => self.line(&line),
                    Err(e) => self.error(&e),
                }
            }
            "help" | "aide" | "?" => self.line(HELP),
            "quit" | "exit" => {
                session.set_quit_reason(rest);
                self.line("* Bye!");
                return false;
            }
            other => self.line(&format!(
                "! Unknown command /{other}. Type /help for the list."
            )),
        }
        true
    }

    async fn say(&mut self, session: &Session, text: &str, action: bool) {
        let Some(room) = self.current.clone() else {
            self.line("! You are in no room: /join ROOM first, or /msg NICK TEXT.");
            return;
        };
        if !self.flood.allow() {
            self.line("! Slow down: too many messages; that one was not sent.");
            return;
        }
        if let Err(e) = session.say(&room, text, action).await {
            self.error(&e);
        }
    }

    /// The user arrives: welcome, the default room.
    async fn enter(&mut self, hub: &Hub) -> (Session, Inbox) {
        let (session, inbox, _) = hub.connect(None, "text").await;
        let nick = session.nick();
        self.line(&format!(
            "* Welcome to prise chat. Your name is \"{nick}\". To change it, type /nick NewName (or /nom NewName)."
        ));
        if let Some(motd) = hub.config().motd.clone() {
            for line in motd.lines() {
                self.line(&format!("* {line}"));
            }
        }
        let default_room = hub.config().default_room.clone();
        Box::pin(self.join(&session, &default_room, None)).await;
        (session, inbox)
    }
}

/// The text protocol as a [`Door`]: a user from the first moment, or once `/pass PASSWORD`
/// has given the server password.
impl Door for TextConn {
    type Pending = ();

    fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    async fn open(&mut self, hub: &Hub) -> Option<(Session, Inbox)> {
        if hub.asks_password() {
            self.line("* This server asks for a password: type /pass PASSWORD");
            return None;
        }
        Some(self.enter(hub).await)
    }

    /// The server password, when it asks for one: `/pass PASSWORD`.
    async fn hello(&mut self, _: &mut (), hub: &Hub, line: Bytes) -> Hello {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        if line.is_empty() {
            return Hello::More;
        }
        let Some(given) = line
            .split_once(' ')
            .filter(|(command, _)| command.eq_ignore_ascii_case("/pass"))
            .map(|(_, given)| given.trim().to_owned())
        else {
            self.line("! Type /pass PASSWORD first");
            return Hello::More;
        };
        match hub.check_password(self.peer, Some(&given)).await {
            Ok(()) => {
                let (session, inbox) = self.enter(hub).await;
                Hello::Welcome(session, inbox)
            }
            Err(e) => {
                self.error(&e);
                Hello::Refused
            }
        }
    }

    fn refused(&mut self, _: Refusal) {}

    async fn line(&mut self, session: &Session, _: &Hub, line: Bytes) -> Flow {
        if self.input(session, &line).await {
            Flow::Go
        } else {
            Flow::Quit(String::new())
        }
    }

    fn event(&mut self, session: &Session, event: &crate::event::Event) {
        self.show(session, event);
    }

    fn takes_unended_line(&self) -> bool {
        true
    }

    fn end(&mut self, session: &Session, end: End) {
        match end {
            End::LineTooLong(max) => {
                self.line(&format!("! Line longer than {max} bytes; disconnecting."));
            }
            End::Gone(Gone::TooSlow) => {
                self.line("! You are not reading fast enough; disconnecting.");
            }
            End::Gone(Gone::Killed(why)) => {
                session.set_quit_reason(&why);
                self.line(&format!("! Disconnected by a server operator: {why}"));
            }
            End::Gone(Gone::Shutdown) => self.line("* The server is shutting down. Bye!"),
            // Text users are not under the keepalive; should it ever end one, say so.
            End::Gone(Gone::TimedOut) => self.line("! Disconnected: idle too long."),
            End::Quit(_) | End::Closed => {}
        }
    }
}
