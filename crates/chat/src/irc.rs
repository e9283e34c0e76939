//! The IRC front door: IRC clients (weechat, irssi, HexChat, bots) are prise clients.
//!
//! Rooms are IRC channels one to one (`#name`, RFC 1459 case mapping), users are shared with
//! the other front doors: an IRC user sees native and text users in NAMES and WHO, and talks
//! with them in the same rooms. What is supported, and what is not yet, is listed in
//! docs/PROTOCOL-chat.md ("IRC").
//!
//! The line parser ([`parse`]) is pure and fuzzed; the connection loop has the same shape as
//! the other doors (bounded event queue, one write per batch, idle ping).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};

use crate::conn::{ConnConfig, Flood};
use crate::door::{Door, End, Flow, Hello, Refusal};
use crate::event::{Event, EventKind, IrcForm, IrcTags, Message};
use crate::hub::{
    Gone, Hub, Member, ModeChange, Sending, Session, Status, UserInfo, Wants, CHANSERV, MAX_KEY_LEN,
};
use crate::masks::{ListKind, MAX_LIST_LEN};
use crate::names::{MAX_NICK_LEN, MAX_ROOM_LEN, MAX_TOPIC_LEN};
use crate::scram;
use crate::watch::MAX_WATCHED;
use crate::Error;
use prise_core::tls::Fingerprint;

pub use crate::masks::USER_HOST;

/// Longest IRC line without its tags, CRLF included (RFC 1459).
pub const MAX_BODY_LEN: usize = 512;

/// Most users one `WHO mask` lists.
pub const WHO_MAX: usize = 200;

/// Most rooms one NAMES lists.
pub const NAMES_MAX: usize = 10;

/// Most messages one CHATHISTORY request returns.
pub const CHATHISTORY_MAX: usize = 200;

/// How long registration waits before it looks again at a nick that is taken.
const NICK_RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The pseudo-user that handles accounts (`PRIVMSG NickServ :REGISTER ...`).
const NICKSERV: &str = "NickServ";

/// Longest SASL chunk (IRCv3 `sasl`): a chunk this long says that more follow.
const SASL_CHUNK: usize = 400;

/// Longest SASL response, all chunks together (base64).
const MAX_SASL_RESPONSE: usize = 2048;

use crate::accounts::FAILED_LOGIN_DELAY;

/// IRCv3 `draft/account-registration`: offered while registration is open; its value (CAP LS
/// 302) says `before-connect` and `email-required` as the server does.
const ACCOUNT_REGISTRATION: &str = "draft/account-registration";

/// The `draft/account-registration` capability with its value, when registration is open.
fn registration_cap(hub: &Hub) -> Option<String> {
    let accounts = hub.config().accounts.as_ref()?;
    if accounts.registration() != crate::accounts::Registration::Open {
        return None;
    }
    let rules = accounts.rules();
    let values: Vec<&str> = [
        (rules.before_connect, "before-connect"),
        (rules.email_required, "email-required"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    Some(if values.is_empty() {
        ACCOUNT_REGISTRATION.to_owned()
    } else {
        format!("{ACCOUNT_REGISTRATION}={}", values.join(","))
    })
}

/// Capabilities we offer (IRCv3), in the order CAP LS lists them.
const CAPS: &[&str] = &[
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "cap-notify",
    ACCOUNT_REGISTRATION,
    "draft/chathistory",
    "echo-message",
    "extended-join",
    "extended-monitor",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "setname",
    "standard-replies",
    "userhost-in-names",
];

/// Whether the first bytes of a connection look like an IRC client's first command.
pub(crate) fn looks_like_irc(first: &[u8]) -> bool {
    let start = first
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(first.len());
    let first = &first[start..];
    // IRC clients send commands in upper case; a person typing into nc rarely does.
    [b"CAP ".as_slice(), b"NICK ", b"USER ", b"PASS "]
        .iter()
        .any(|word| first.starts_with(word))
}

/// A parsed client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// The raw tags (without `@`), if any.
    pub tags: Option<&'a str>,
    /// The command, upper-cased.
    pub command: String,
    /// The parameters; the last one may contain spaces (it was the trailing one).
    pub params: Vec<&'a str>,
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but tags, a prefix or spaces.
    NoCommand,
    /// The part after the tags is longer than [`MAX_BODY_LEN`].
    TooLong,
    /// The tags are longer than [`MAX_CLIENT_TAGS_LEN`].
    TagsTooLong,
}

/// The `label` tag's value (IRCv3 labeled-response), if the line has one: at most 64 bytes
/// of letters, digits and `-_.:` (anything else is not echoed back).
fn label_of(tags: Option<&str>) -> Option<String> {
    let label = tags?
        .split(';')
        .find_map(|tag| tag.strip_prefix("label="))?;
    let ok = !label.is_empty()
        && label.len() <= 64
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| label.to_owned())
}

/// Longest tag section a client may send, without its `@` and the space after it (IRCv3
/// message-tags).
pub const MAX_CLIENT_TAGS_LEN: usize = 4094;

/// The client-only tags (`+name[=value]`) of a line's tags, as received; the others are
/// dropped (a client may not set server tags).
fn client_tags(tags: Option<&str>) -> Option<Arc<str>> {
    let kept: Vec<&str> = tags?
        .split(';')
        .filter(|tag| {
            let key = tag.split_once('=').map_or(*tag, |(k, _)| k);
            key.len() > 1
                && key.starts_with('+')
                && key[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'.'))
        })
        .collect();
    (!kept.is_empty()).then(|| Arc::from(kept.join(";")))
}

/// Parse one line (without its line ending) as the Modern IRC client protocol describes:
/// `[@tags ][:source ]COMMAND[ params][ :trailing]`.
///
/// # Errors
/// [`ParseError`] when there is no command or the body is too long.
pub fn parse(line: &str) -> Result<Line<'_>, ParseError> {
    let mut rest = line.trim_start_matches(' ');
    let mut tags = None;
    if let Some(after) = rest.strip_prefix('@') {
        let (t, r) = after.split_once(' ').unwrap_or((after, ""));
        if t.len() > MAX_CLIENT_TAGS_LEN {
            return Err(ParseError::TagsTooLong);
        }
        tags = Some(t);
        rest = r.trim_start_matches(' ');
    }
    // The body limit counts the CRLF we no longer see.
    if rest.len() + 2 > MAX_BODY_LEN {
        return Err(ParseError::TooLong);
    }
    if rest.starts_with(':') {
        rest = rest
            .split_once(' ')
            .map_or("", |(_, r)| r)
            .trim_start_matches(' ');
    }
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return Err(ParseError::NoCommand);
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        match rest.split_once(' ') {
            Some((param, r)) => {
                params.push(param);
                rest = r;
            }
            None => {
                params.push(rest);
                break;
            }
        }
    }
    Ok(Line {
        tags,
        command: command.to_ascii_uppercase(),
        params,
    })
}

/// Seconds since 1970, as IRC numerics give times.
fn unix(ts: SystemTime) -> u64 {
    ts.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rfc3339(ts: SystemTime) -> String {
    humantime::format_rfc3339_millis(ts).to_string()
}

/// `nick!user@host`.
fn mask(nick: &str, ident: Option<&str>) -> String {
    format!("{nick}!{}@{USER_HOST}", ident.unwrap_or("user"))
}

/// The tags of an event (`@time=..;msgid=..;+client=..;account=..`, as `form` allows), with
/// the trailing space.
fn tags_for(event: &Event, form: IrcForm) -> String {
    let mut tags: Vec<String> = Vec::new();
    let stamp = match event.kind() {
        EventKind::Chat(m) | EventKind::Private(m) => {
            Some((m.ts, m.id.to_string(), m.client_tags.as_deref()))
        }
        EventKind::Join { ts, .. }
        | EventKind::Part { ts, .. }
        | EventKind::Quit { ts, .. }
        | EventKind::Nick { ts, .. }
        | EventKind::Topic { ts, .. }
        | EventKind::Kick { ts, .. }
        | EventKind::Mode { ts, .. }
        | EventKind::Invite { ts, .. }
        | EventKind::Away { ts, .. }
        | EventKind::Wallops { ts, .. }
        | EventKind::Setname { ts, .. }
        | EventKind::Account { ts, .. }
        | EventKind::System { ts, .. } => Some((*ts, format!("e{}", event.serial()), None)),
        // A numeric, made per connection (IrcConn::event).
        EventKind::Monitor { .. } | EventKind::Ping { .. } => None,
    };
    let Some((ts, msgid, client)) = stamp else {
        return String::new();
    };
    match form.tags {
        IrcTags::None => {}
        IrcTags::Time => tags.push(format!("time={}", rfc3339(ts))),
        IrcTags::All => {
            tags.push(format!("time={};msgid={msgid}", rfc3339(ts)));
            if let Some(client) = client {
                tags.push(client.to_owned());
            }
        }
    }
    if form.account_tag {
        if let Some(account) = event.account() {
            tags.push(format!("account={account}"));
        }
    }
    if tags.is_empty() {
        String::new()
    } else {
        format!("@{} ", tags.join(";"))
    }
}

fn message_line(m: &Message, source: Option<&str>) -> String {
    // Texts come from the hub already on one line (`hub::one_line`).
    let text = &m.text;
    let body = if m.action {
        format!("\u{1}ACTION {text}\u{1}")
    } else {
        text.clone()
    };
    if m.tag_only {
        return format!(":{} TAGMSG {}\r\n", mask(&m.from, source), m.to);
    }
    let command = if m.notice { "NOTICE" } else { "PRIVMSG" };
    format!(":{} {command} {} :{body}\r\n", mask(&m.from, source), m.to)
}

/// An extended-join JOIN's parameters after the room: the account (`*`: none) and the real
/// name.
fn extended_join(account: Option<&str>, realname: &str) -> String {
    format!(" {} :{realname}", account.unwrap_or("*"))
}

/// The IRC line of an event, with `\r\n`, in the recipient's `form`.
fn render(event: &Event, form: IrcForm, server: &str) -> String {
    let source = event.source();
    let body = match event.kind() {
        EventKind::Chat(m) | EventKind::Private(m) => message_line(m, source),
        EventKind::Join { room, nick, .. } => {
            let more = if form.extended_join {
                extended_join(event.account(), event.realname().unwrap_or(""))
            } else {
                String::new()
            };
            format!(":{} JOIN {room}{more}\r\n", mask(nick, source))
        }
        EventKind::Part {
            room, nick, reason, ..
        } => {
            if reason.is_empty() {
                format!(":{} PART {room}\r\n", mask(nick, source))
            } else {
                format!(":{} PART {room} :{reason}\r\n", mask(nick, source))
            }
        }
        // The reason as given: the user's own words, or the server's ("Ping timeout").
        EventKind::Quit { nick, reason, .. } => {
            let reason = if reason.is_empty() {
                "Client Quit"
            } else {
                reason
            };
            format!(":{} QUIT :{reason}\r\n", mask(nick, source))
        }
        EventKind::Nick { old, new, .. } => format!(":{} NICK {new}\r\n", mask(old, source)),
        EventKind::Topic {
            room, topic, by, ..
        } => format!(":{} TOPIC {room} :{topic}\r\n", mask(by, source)),
        EventKind::Kick {
            room,
            by,
            nick,
            reason,
            ..
        } => {
            // RFC 2812: without a comment, the kicker's nick is the comment.
            let reason = if reason.is_empty() { by } else { reason };
            format!(":{} KICK {room} {nick} :{reason}\r\n", mask(by, source))
        }
        EventKind::Mode {
            room,
            by,
            modes,
            args,
            ..
        } => {
            let mut line = format!(":{} MODE {room} {modes}", mask(by, source));
            for arg in args {
                line.push(' ');
                line.push_str(arg);
            }
            line + "\r\n"
        }
        EventKind::Invite { room, by, nick, .. } => {
            format!(":{} INVITE {nick} {room}\r\n", mask(by, source))
        }
        EventKind::Away { nick, message, .. } => match message {
            Some(message) => format!(":{} AWAY :{message}\r\n", mask(nick, source)),
            None => format!(":{} AWAY\r\n", mask(nick, source)),
        },
        EventKind::Setname { nick, realname, .. } => {
            format!(":{} SETNAME :{realname}\r\n", mask(nick, source))
        }
        EventKind::Account { nick, account, .. } => format!(
            ":{} ACCOUNT {}\r\n",
            mask(nick, source),
            account.as_deref().unwrap_or("*")
        ),
        // Made per connection, with its nick (IrcConn::event).
        EventKind::Monitor { .. } => String::new(),
        EventKind::Wallops { from, text, .. } => {
            format!(":{} WALLOPS :{text}\r\n", mask(from, source))
        }
        EventKind::System { text, .. } => {
            format!(":{server} NOTICE * :{text}\r\n")
        }
        EventKind::Ping { .. } => format!("PING :{server}\r\n"),
    };
    tags_for(event, form) + &body
}

/// When this process started, for numeric 003.
fn started() -> &'static str {
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(|| humantime::format_rfc3339_seconds(SystemTime::now()).to_string())
}

/// The capabilities a client has enabled.
#[derive(Debug, Default, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)]
struct Caps {
    account_notify: bool,
    account_tag: bool,
    away_notify: bool,
    batch: bool,
    cap_notify: bool,
    /// Requested or not, REGISTER works (the spec says so); kept for CAP LIST.
    account_registration: bool,
    chathistory: bool,
    echo_message: bool,
    extended_join: bool,
    extended_monitor: bool,
    invite_notify: bool,
    labeled_response: bool,
    message_tags: bool,
    multi_prefix: bool,
    sasl: bool,
    server_time: bool,
    setname: bool,
    standard_replies: bool,
    userhost_in_names: bool,
}

impl Caps {
    fn set(&mut self, name: &str, on: bool) -> bool {
        match name {
            "account-notify" => self.account_notify = on,
            "account-tag" => self.account_tag = on,
            "away-notify" => self.away_notify = on,
            "batch" => self.batch = on,
            "cap-notify" => self.cap_notify = on,
            ACCOUNT_REGISTRATION => self.account_registration = on,
            "draft/chathistory" => self.chathistory = on,
            "echo-message" => self.echo_message = on,
            "extended-join" => self.extended_join = on,
            "extended-monitor" => self.extended_monitor = on,
            "invite-notify" => self.invite_notify = on,
            "labeled-response" => self.labeled_response = on,
            "message-tags" => self.message_tags = on,
            "multi-prefix" => self.multi_prefix = on,
            "sasl" => self.sasl = on,
            "server-time" => self.server_time = on,
            "setname" => self.setname = on,
            "standard-replies" => self.standard_replies = on,
            "userhost-in-names" => self.userhost_in_names = on,
            _ => return false,
        }
        true
    }

    fn list(self) -> String {
        let on = [
            self.account_notify,
            self.account_tag,
            self.away_notify,
            self.batch,
            self.cap_notify,
            self.account_registration,
            self.chathistory,
            self.echo_message,
            self.extended_join,
            self.extended_monitor,
            self.invite_notify,
            self.labeled_response,
            self.message_tags,
            self.multi_prefix,
            self.sasl,
            self.server_time,
            self.setname,
            self.standard_replies,
            self.userhost_in_names,
        ];
        CAPS.iter()
            .zip(on)
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether lines to this client carry tags.
    fn tagged(self) -> bool {
        self.server_time || self.message_tags
    }

    /// The optional events the hub should send this client.
    fn wants(self) -> Wants {
        Wants {
            away: self.away_notify,
            tags: self.message_tags,
            setname: self.setname,
            invite_notify: self.invite_notify,
            extended_monitor: self.extended_monitor,
            account_notify: self.account_notify,
        }
    }

    /// Which tags lines to this client carry.
    fn level(self) -> IrcTags {
        match (self.message_tags, self.server_time) {
            (true, _) => IrcTags::All,
            (false, true) => IrcTags::Time,
            (false, false) => IrcTags::None,
        }
    }

    /// How lines to this client look.
    fn form(self) -> IrcForm {
        IrcForm {
            tags: self.level(),
            account_tag: self.account_tag,
            extended_join: self.extended_join,
        }
    }

    /// A member's prefix in NAMES and WHO: the highest one, or all with `multi-prefix`.
    fn prefix(self, status: Status) -> &'static str {
        match (status.op, status.voice, self.multi_prefix) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            (false, false, _) => "",
        }
    }
}

/// The fields a WHOX request asks for (`WHO mask %cnf,42`).
struct Whox {
    fields: String,
    /// The `t` field's value: digits, at most 3 of them.
    token: String,
}

impl Whox {
    /// `%fields[,token]`, or `None` for a plain WHO's second parameter (`o`).
    fn parse(param: &str) -> Option<Self> {
        let spec = param.strip_prefix('%')?;
        let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
        let token: String = token.chars().take(3).collect();
        let token = if !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()) {
            token
        } else {
            "0".to_owned()
        };
        Some(Self {
            fields: fields.to_owned(),
            token,
        })
    }
}

/// One IRC connection's state.
pub(crate) struct IrcConn {
    out: BytesMut,
    /// The server's name in prefixes and numerics ([`crate::hub::HubConfig::server_name`]).
    server: Arc<str>,
    flood: Flood,
    caps: Caps,
    /// Nick shown in numerics: `*` until one is chosen.
    nick: String,
    /// Batches opened so far, for unique batch references.
    batches: u64,
    /// A SASL exchange under way. Boxed: one pointer in every idle connection, for a state
    /// that is rarely there.
    sasl: Option<Box<Sasl>>,
    /// The client's address, for the limits on log-in and registration attempts.
    peer: IpAddr,
    /// The fingerprint of the TLS client certificate the client presented, if any (SASL
    /// EXTERNAL, NickServ CERT). Boxed: one pointer in every idle connection.
    certfp: Option<Box<Fingerprint>>,
}

/// A SASL exchange under way.
struct Sasl {
    /// The client's response so far (base64 chunks).
    response: String,
    step: SaslStep,
}

/// Where a SASL exchange is.
enum SaslStep {
    /// PLAIN: the one response, `authzid\0authcid\0password`.
    Plain,
    /// SCRAM-SHA-256: the client-first-message is next.
    ScramFirst,
    /// SCRAM-SHA-256: the server has answered; the client's final message is next. The
    /// account is `None` for a name without one (no proof will do).
    ScramFinal(Box<(scram::Exchange, Option<String>)>),
    /// SCRAM-SHA-256: the proof was right and the server has proved itself; the client's
    /// empty answer ends it.
    ScramDone(String),
    /// EXTERNAL: the one response, an authzid or nothing; the TLS client certificate says who.
    External,
}

/// The SASL mechanisms offered (CAP LS 302's `sasl=` value and numeric 908).
const SASL_MECHANISMS: &str = "PLAIN,SCRAM-SHA-256";
/// The `sasl` capability with its mechanisms.
const SASL_CAP: &str = "sasl=PLAIN,SCRAM-SHA-256";
/// The same, to a client that presented a TLS certificate.
const SASL_MECHANISMS_CERT: &str = "PLAIN,SCRAM-SHA-256,EXTERNAL";
/// The `sasl` capability to a client that presented a TLS certificate.
const SASL_CAP_CERT: &str = "sasl=PLAIN,SCRAM-SHA-256,EXTERNAL";

/// The server's part of a SCRAM nonce: 18 random bytes, base64.
fn server_nonce() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 18];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)?;
    Ok(<base64ct::Base64 as base64ct::Encoding>::encode_string(
        &bytes,
    ))
}

/// `text` with its first letter in upper case (an error message as a sentence).
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// What to do after a line.
enum Next {
    Go,
    Quit(String),
}

impl IrcConn {
    pub(crate) fn new(
        hub: &Hub,
        config: &ConnConfig,
        peer: IpAddr,
        certfp: Option<Fingerprint>,
    ) -> Self {
        Self {
            out: BytesMut::new(),
            server: Arc::from(hub.config().server_name.as_str()),
            flood: Flood::new(config.flood_rate, config.flood_burst),
            caps: Caps::default(),
            nick: "*".to_owned(),
            batches: 0,
            peer,
            sasl: None,
            certfp: certfp.map(Box::new),
        }
    }

    /// The SASL mechanisms this connection may use.
    fn mechanisms(&self) -> &'static str {
        if self.certfp.is_some() {
            SASL_MECHANISMS_CERT
        } else {
            SASL_MECHANISMS
        }
    }

    fn raw(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        if !line.ends_with("\r\n") {
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// `:prise NNN nick <rest>`.
    fn numeric(&mut self, code: &str, rest: &str) {
        let server = Arc::clone(&self.server);
        let line = format!(":{server} {code} {} {rest}\r\n", self.nick);
        self.raw(&line);
    }

    fn need_more_params(&mut self, command: &str) {
        self.numeric("461", &format!("{command} :Not enough parameters"));
    }

    fn show(&mut self, event: &Event) {
        match event.kind() {
            EventKind::Monitor { online, target, .. } => {
                let code = if *online { "730" } else { "731" };
                self.numeric(code, &format!(":{target}"));
                return;
            }
            // Only this user's own rename by the server (an owned nick's grace ran out)
            // comes here with this user's nick as the old one.
            EventKind::Nick { old, new, .. }
                if crate::names::fold(old) == crate::names::fold(&self.nick) =>
            {
                self.nick.clone_from(new);
            }
            _ => {}
        }
        let bytes = event.irc(self.caps.form(), |e, form| render(e, form, &self.server));
        self.out.extend_from_slice(&bytes);
    }

    /// A hub error as the numeric IRC clients expect for it.
    fn chat_error(&mut self, err: &Error, target: &str) {
        let server = Arc::clone(&self.server);
        match err {
            Error::NickInvalid { nick, reason } => {
                self.numeric("432", &format!("{nick} :Erroneous nickname ({reason})"));
            }
            Error::NickTaken(nick) => {
                self.numeric("433", &format!("{nick} :Nickname is already in use"));
            }
            Error::RoomInvalid { room, reason } => {
                self.numeric("403", &format!("{room} :No such channel ({reason})"));
            }
            Error::NotInRoom(room) => {
                self.numeric("442", &format!("{room} :You're not on that channel"));
            }
            Error::TooManyRooms(_) => {
                self.numeric(
                    "405",
                    &format!("{target} :You have joined too many channels"),
                );
            }
            Error::NoSuchUser(nick) => {
                self.numeric("401", &format!("{nick} :No such nick/channel"));
            }
            Error::EmptyMessage => self.numeric("412", ":No text to send"),
            Error::NotOperator(room) => {
                self.numeric("482", &format!("{room} :You're not channel operator"));
            }
            Error::TargetNotInRoom { nick, room } => {
                self.numeric(
                    "441",
                    &format!("{nick} {room} :They aren't on that channel"),
                );
            }
            Error::AlreadyInRoom { nick, room } => {
                self.numeric("443", &format!("{nick} {room} :is already on channel"));
            }
            Error::RoomFull(room) => {
                self.numeric("471", &format!("{room} :Cannot join channel (+l)"));
            }
            Error::Banned(room) => {
                self.numeric("474", &format!("{room} :Cannot join channel (+b)"));
            }
            Error::ListFull { room, mode } => {
                self.numeric("478", &format!("{room} {mode} :Channel list is full"));
            }
            Error::InviteOnly(room) => {
                self.numeric("473", &format!("{room} :Cannot join channel (+i)"));
            }
            Error::BadKey(room) => {
                self.numeric("475", &format!("{room} :Cannot join channel (+k)"));
            }
            Error::CannotSend(room) => {
                self.numeric("404", &format!("{room} :Cannot send to channel"));
            }
            Error::ModeInvalid { room, mode, reason } => {
                self.numeric("696", &format!("{room} {mode} * :{reason}"));
            }
            Error::NotServerOperator => {
                self.numeric("481", ":Permission Denied- You're not an IRC operator");
            }
            Error::BadOperLogin => self.numeric("464", ":Password incorrect"),
            other => self.raw(&format!(
                ":{server} FAIL * INTERNAL_ERROR :{}",
                crate::hub::one_line(&other.to_string())
            )),
        }
    }

    /// A hub error about a room: "not in it" is 442 when the room exists, 403 when it does not.
    fn room_error(&mut self, session: &Session, err: &Error, target: &str) {
        match err {
            Error::NotInRoom(room) if !session.room_exists(room) => {
                self.numeric("403", &format!("{room} :No such channel"));
            }
            other => self.chat_error(other, target),
        }
    }

    fn welcome(&mut self, hub: &Hub) {
        let server = Arc::clone(&self.server);
        let nick = self.nick.clone();
        let version = concat!("prise-", env!("CARGO_PKG_VERSION"));
        self.numeric(
            "001",
            &format!(
                ":Welcome to prise chat, {nick}. Rooms here are shared with prise's other clients."
            ),
        );
        self.numeric(
            "002",
            &format!(":Your host is {server}, running version {version}"),
        );
        self.numeric(
            "003",
            &format!(":This server has been running since {}", started()),
        );
        self.numeric("004", &format!("{server} {version} iow iklmnostv"));
        let tokens = [
            "CASEMAPPING=rfc1459".to_owned(),
            "CHANTYPES=#".to_owned(),
            format!("NICKLEN={MAX_NICK_LEN}"),
            format!("CHANNELLEN={MAX_ROOM_LEN}"),
            format!("TOPICLEN={MAX_TOPIC_LEN}"),
            "NETWORK=prise".to_owned(),
            "PREFIX=(ov)@+".to_owned(),
            "CHANMODES=beI,k,l,imnst".to_owned(),
            format!("KEYLEN={MAX_KEY_LEN}"),
            "MODES=4".to_owned(),
            format!("CHANLIMIT=#:{}", hub.config().max_rooms_per_user),
            "EXCEPTS".to_owned(),
            "INVEX".to_owned(),
            format!("MAXLIST=beI:{MAX_LIST_LEN}"),
            "MAXTARGETS=4".to_owned(),
            "TARGMAX=PRIVMSG:4,NOTICE:4,KICK:4,WHOIS:4,NAMES:10,JOIN:,PART:".to_owned(),
            "WHOX".to_owned(),
            "UTF8ONLY".to_owned(),
            format!("MONITOR={MAX_WATCHED}"),
            format!("CHATHISTORY={CHATHISTORY_MAX}"),
            "MSGREFTYPES=msgid".to_owned(),
        ];
        // At most 13 tokens a line: with the nick and the trailing text, 15 parameters.
        for chunk in tokens.chunks(13) {
            self.numeric(
                "005",
                &format!("{} :are supported by this server", chunk.join(" ")),
            );
        }
        self.lusers(hub);
        self.motd(hub);
    }

    fn lusers(&mut self, hub: &Hub) {
        let counts = hub.counts();
        self.numeric(
            "251",
            &format!(
                ":There are {} users and {} invisible on 1 servers",
                counts.users - counts.invisible,
                counts.invisible
            ),
        );
        if counts.opers > 0 {
            self.numeric("252", &format!("{} :operator(s) online", counts.opers));
        }
        self.numeric("254", &format!("{} :channels formed", counts.rooms));
        self.numeric(
            "255",
            &format!(":I have {} clients and 0 servers", counts.users),
        );
    }

    fn motd(&mut self, hub: &Hub) {
        let server = Arc::clone(&self.server);
        let Some(motd) = hub.config().motd.clone() else {
            self.numeric("422", ":MOTD File is missing");
            return;
        };
        self.numeric("375", &format!(":- {server} Message of the day - "));
        for line in motd.lines() {
            self.numeric("372", &format!(":- {}", crate::hub::one_line(line)));
        }
        self.numeric("376", ":End of /MOTD command.");
    }

    /// CAP, before or after registration.
    fn cap(&mut self, hub: &Hub, params: &[&str]) {
        let server = Arc::clone(&self.server);
        let sub = params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let nick = self.nick.clone();
        match sub.as_str() {
            "LS" => {
                // CAP LS 302 gives capabilities their values: SASL's mechanisms.
                let v302 = params.get(1).and_then(|v| v.parse::<u32>().ok()) >= Some(302);
                let registering = registration_cap(hub);
                let caps: Vec<&str> = CAPS
                    .iter()
                    .filter_map(|&c| match c {
                        "sasl" if v302 && self.certfp.is_some() => Some(SASL_CAP_CERT),
                        "sasl" if v302 => Some(SASL_CAP),
                        ACCOUNT_REGISTRATION => match &registering {
                            Some(value) if v302 => Some(value.as_str()),
                            Some(_) => Some(c),
                            None => None,
                        },
                        _ => Some(c),
                    })
                    .collect();
                self.raw(&format!(":{server} CAP {nick} LS :{}", caps.join(" ")));
            }
            "LIST" => {
                let list = self.caps.list();
                self.raw(&format!(":{server} CAP {nick} LIST :{list}"));
            }
            "REQ" => {
                let wanted = params.get(1).copied().unwrap_or("");
                let mut caps = self.caps;
                let all_known = wanted.split(' ').filter(|c| !c.is_empty()).all(|c| {
                    let (name, on) = match c.strip_prefix('-') {
                        Some(name) => (name, false),
                        None => (c, true),
                    };
                    caps.set(name, on)
                });
                if all_known {
                    self.caps = caps;
                    self.raw(&format!(":{server} CAP {nick} ACK :{wanted}"));
                } else {
                    self.raw(&format!(":{server} CAP {nick} NAK :{wanted}"));
                }
            }
            "END" => {}
            _ => self.numeric("410", &format!("{sub} :Invalid CAP command")),
        }
    }

    /// One `AUTHENTICATE` line (IRCv3 SASL, PLAIN only): the account logged in to, once the
    /// exchange succeeds.
    async fn authenticate(
        &mut self,
        hub: &Hub,
        logged_in: bool,
        ident: Option<&str>,
        p: &[&str],
    ) -> Option<String> {
        let Some(&arg) = p.first().filter(|a| !a.is_empty()) else {
            self.need_more_params("AUTHENTICATE");
            return None;
        };
        if logged_in {
            self.numeric("907", ":You have already authenticated using SASL");
            return None;
        }
        let Some(mut sasl) = self.sasl.take() else {
            let accounts = hub.config().accounts.is_some();
            let step = match arg.to_ascii_uppercase().as_str() {
                "*" => {
                    self.numeric("906", ":SASL authentication aborted");
                    return None;
                }
                "PLAIN" if accounts => SaslStep::Plain,
                "SCRAM-SHA-256" if accounts => SaslStep::ScramFirst,
                "EXTERNAL" if accounts && self.certfp.is_some() => SaslStep::External,
                _ => {
                    let mechanisms = self.mechanisms();
                    self.numeric(
                        "908",
                        &format!("{mechanisms} :are available SASL mechanisms"),
                    );
                    self.numeric("904", ":SASL authentication failed");
                    return None;
                }
            };
            self.sasl = Some(Box::new(Sasl {
                response: String::new(),
                step,
            }));
            self.raw("AUTHENTICATE +");
            return None;
        };
        if arg == "*" {
            self.numeric("906", ":SASL authentication aborted");
            return None;
        }
        if arg.len() > SASL_CHUNK {
            self.numeric("905", ":SASL message too long");
            return None;
        }
        if sasl.response.len() + arg.len() > MAX_SASL_RESPONSE {
            self.numeric("904", ":SASL authentication failed: response too long");
            return None;
        }
        if arg != "+" {
            sasl.response.push_str(arg);
        }
        if arg.len() == SASL_CHUNK {
            // A whole chunk: more may follow (`AUTHENTICATE +` when nothing does).
            self.sasl = Some(sasl);
            return None;
        }
        let decoded = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&sasl.response).ok();
        let Some(accounts) = hub.config().accounts.clone() else {
            self.numeric("904", ":SASL authentication failed");
            return None;
        };
        let verified = match (sasl.step, decoded) {
            (SaslStep::Plain, decoded) => {
                let plain = decoded.and_then(|bytes| String::from_utf8(bytes).ok());
                let mut parts = plain.as_deref().unwrap_or("").splitn(3, '\0');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(authzid), Some(authcid), Some(password))
                        if authzid.is_empty()
                            || crate::names::fold(authzid) == crate::names::fold(authcid) =>
                    {
                        accounts
                            .verify(self.peer, authcid, password)
                            .await
                            .ok()
                            .map(|a| a.name)
                    }
                    _ => None,
                }
            }
            (SaslStep::ScramFirst, Some(message)) => {
                let Ok(first) = scram::ClientFirst::parse(&message) else {
                    return self.sasl_failed().await;
                };
                let Ok((account, credentials)) = accounts.scram(self.peer, &first.user).await
                else {
                    return self.sasl_failed().await;
                };
                let Ok(nonce) = server_nonce() else {
                    return self.sasl_failed().await;
                };
                let exchange = scram::Exchange::start(first, credentials, &nonce);
                self.authenticate_reply(exchange.server_first().as_bytes());
                self.sasl = Some(Box::new(Sasl {
                    response: String::new(),
                    step: SaslStep::ScramFinal(Box::new((exchange, account))),
                }));
                return None;
            }
            (SaslStep::ScramFinal(state), Some(message)) => {
                let (exchange, account) = *state;
                match (exchange.finish(&message), account) {
                    (Ok(server_final), Some(account)) => {
                        self.authenticate_reply(server_final.as_bytes());
                        self.sasl = Some(Box::new(Sasl {
                            response: String::new(),
                            step: SaslStep::ScramDone(account),
                        }));
                        return None;
                    }
                    _ => None,
                }
            }
            // The client's empty answer to the server's final message.
            (SaslStep::ScramDone(account), Some(empty)) if empty.is_empty() => Some(account),
            (SaslStep::External, Some(authzid)) => {
                let authzid = String::from_utf8(authzid).unwrap_or_else(|_| "\0".into());
                let fingerprint = self.certfp.as_deref().map(ToString::to_string);
                match fingerprint {
                    Some(fingerprint) => accounts
                        .external(self.peer, &fingerprint)
                        .await
                        .ok()
                        .filter(|a| {
                            authzid.is_empty()
                                || crate::names::fold(&authzid) == crate::names::fold(&a.name)
                        })
                        .map(|a| a.name),
                    None => None,
                }
            }
            _ => None,
        };
        match verified {
            Some(account) => {
                self.logged_in(ident, &account);
                self.numeric("903", ":SASL authentication successful");
                Some(account)
            }
            None => self.sasl_failed().await,
        }
    }

    /// `AUTHENTICATE` with a server message, base64, in 400-byte chunks (`+` after a last
    /// whole one).
    fn authenticate_reply(&mut self, message: &[u8]) {
        let encoded = <base64ct::Base64 as base64ct::Encoding>::encode_string(message);
        for chunk in encoded.as_bytes().chunks(SASL_CHUNK) {
            self.raw(&format!("AUTHENTICATE {}", String::from_utf8_lossy(chunk)));
        }
        if encoded.len() % SASL_CHUNK == 0 {
            self.raw("AUTHENTICATE +");
        }
    }

    /// A failed SASL login: `904`, a second late (a guesser waits on every try).
    async fn sasl_failed(&mut self) -> Option<String> {
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        self.numeric("904", ":SASL authentication failed");
        None
    }

    /// A line to the NickServ pseudo-user: `REGISTER password [email]`, `IDENTIFY [account]
    /// password`, `INFO [account]`, `HELP`. Answered with NOTICEs from NickServ.
    async fn nickserv(&mut self, session: &Session, hub: &Hub, text: &str) {
        let mut words = text.split_whitespace();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        let Some(accounts) = hub.config().accounts.clone() else {
            self.nickserv_notice("Accounts are not enabled on this server.");
            return;
        };
        let nick = session.nick();
        match (command.as_str(), args.as_slice()) {
            ("REGISTER", [password, rest @ ..]) if rest.len() <= 1 => {
                if session.account().is_some() {
                    self.nickserv_notice("You are already logged in to an account.");
                    return;
                }
                match session
                    .register_account(self.peer, password, rest.first().copied())
                    .await
                {
                    Ok(name) => {
                        self.logged_in(Some(&session.ident()), &name);
                        self.nickserv_notice(&format!(
                            "Account {name} registered; you are logged in to it."
                        ));
                    }
                    Err(e) => self.nickserv_notice(&format!("Not registered: {e}.")),
                }
            }
            ("IDENTIFY", [password]) | ("IDENTIFY", [_, password]) => {
                let name = if args.len() == 2 {
                    args[0]
                } else {
                    nick.as_str()
                };
                match session.log_in(self.peer, name, password).await {
                    Ok(name) => {
                        self.logged_in(Some(&session.ident()), &name);
                        self.nickserv_notice(&format!("You are now logged in as {name}."));
                    }
                    Err(Error::TooManyAttempts(who)) => self.nickserv_notice(&format!(
                        "Too many attempts {who}; try again in a minute."
                    )),
                    Err(_) => self.nickserv_notice("Wrong account name or password."),
                }
            }
            ("GHOST", [target] | [target, _]) => {
                match session.ghost(self.peer, target, args.get(1).copied()).await {
                    Ok(freed) => self.nickserv_notice(&format!("{freed} has been disconnected.")),
                    Err(Error::NoSuchUser(_)) => {
                        self.nickserv_notice(&format!("Nobody else is using {target}."));
                    }
                    Err(Error::BadLogin) => self.nickserv_notice(&format!(
                        "Log in to the account {target} first, or give its password."
                    )),
                    Err(e) => self.nickserv_notice(&format!("{}.", capitalized(&e.to_string()))),
                }
            }
            ("DROP", [account, password]) => {
                match session.drop_account(self.peer, account, password).await {
                    Ok(name) => self.nickserv_notice(&format!("Account {name} deleted.")),
                    Err(Error::BadLogin) => self.nickserv_notice("Wrong account name or password."),
                    Err(e) => self.nickserv_notice(&format!("{}.", capitalized(&e.to_string()))),
                }
            }
            ("INFO", [] | [_]) => {
                let name = args.first().copied().unwrap_or(nick.as_str());
                match accounts.lookup(name).await {
                    Ok(Some(account)) => {
                        let since = humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::from_millis(
                                    u64::try_from(account.created_ms).unwrap_or(0),
                                ),
                        );
                        self.nickserv_notice(&format!(
                            "Account {} registered {since}.",
                            account.name
                        ));
                    }
                    Ok(None) => self.nickserv_notice(&format!("{name} is not registered.")),
                    Err(e) => self.nickserv_notice(&format!("{e}.")),
                }
            }
            ("CERT", [sub, rest @ ..]) if rest.len() <= 1 => {
                let given = match rest.first() {
                    Some(text) => match text.parse::<Fingerprint>() {
                        Ok(fp) => Some(fp),
                        Err(_) => {
                            self.nickserv_notice(&format!(
                                "{text} is not a fingerprint (SHA256:<64 hex digits>)."
                            ));
                            return;
                        }
                    },
                    None => self.certfp.as_deref().copied(),
                };
                let said = match (sub.to_ascii_uppercase().as_str(), given) {
                    ("LIST", _) => session.certs().await.map(|(account, certs)| {
                        if certs.is_empty() {
                            format!("No certificate is bound to {account}.")
                        } else {
                            format!("Bound to {account}: {}.", certs.join(", "))
                        }
                    }),
                    ("ADD", Some(fp)) => session.add_cert(&fp.to_string()).await.map(|account| {
                        format!("{fp} is bound to {account}: SASL EXTERNAL logs in with it.")
                    }),
                    ("DEL", Some(fp)) => session
                        .remove_cert(&fp.to_string())
                        .await
                        .map(|removed| {
                            if removed {
                                format!("{fp} is no longer bound to your account.")
                            } else {
                                format!("{fp} was not bound to your account.")
                            }
                        }),
                    ("ADD" | "DEL", None) => Err(Error::NoCertificate),
                    _ => Ok("CERT ADD [fingerprint], CERT DEL <fingerprint>, CERT LIST.".into()),
                };
                let text = said.unwrap_or_else(|e| format!("{}.", capitalized(&e.to_string())));
                self.nickserv_notice(&text);
            }
            ("HELP", _) => {
                for line in [
                    "REGISTER <password> [email]: register your nick as an account.",
                    "IDENTIFY [account] <password>: log in.",
                    "GHOST <nick> [password]: disconnect whoever uses your account's nick.",
                    "DROP <account> <password>: delete an account.",
                    "INFO [account]: when an account was registered.",
                    "CERT ADD [fingerprint], CERT DEL <fingerprint>, CERT LIST: the TLS client certificates that log in with SASL EXTERNAL (ADD alone: this connection's).",
                ] {
                    self.nickserv_notice(line);
                }
            }
            _ => self.nickserv_notice(&format!(
                "Unknown or incomplete command {command:?}; try HELP."
            )),
        }
    }

    /// `REGISTER <account|*> <email|*> <password>` (IRCv3 draft/account-registration), from a
    /// connection registered as `session`, or still registering under `nick` (if it gave one)
    /// when `session` is `None`. Returns the account, logged in to; a refusal is a `FAIL
    /// REGISTER <code> <account> :why`.
    async fn register(
        &mut self,
        hub: &Hub,
        session: Option<&Session>,
        nick: Option<&str>,
        logged_in: bool,
        p: &[&str],
    ) -> Option<String> {
        let server = Arc::clone(&self.server);
        let [name, email, password, ..] = p else {
            self.need_more_params("REGISTER");
            return None;
        };
        let shown = if name.is_empty() { "*" } else { name };
        let fail = |this: &mut Self, code: &str, why: &str| {
            this.raw(&format!(":{server} FAIL REGISTER {code} {shown} :{why}"));
        };
        let Some(accounts) = hub.config().accounts.clone() else {
            fail(
                self,
                "TEMPORARILY_UNAVAILABLE",
                "This server keeps no accounts",
            );
            return None;
        };
        if session.is_none() && !accounts.rules().before_connect {
            fail(
                self,
                "COMPLETE_CONNECTION_REQUIRED",
                "Register once your connection is registered",
            );
            return None;
        }
        let Some(nick) = nick else {
            fail(
                self,
                "NEED_NICK",
                "Choose a nick first: the account is named after it",
            );
            return None;
        };
        if *name != "*" && crate::names::fold(name) != crate::names::fold(nick) {
            fail(
                self,
                "ACCOUNT_NAME_MUST_BE_NICK",
                "An account is named after your current nick",
            );
            return None;
        }
        if logged_in {
            fail(self, "ALREADY_AUTHENTICATED", "You are already logged in");
            return None;
        }
        // Nobody registers the nick of someone else who is connected.
        if session.is_none() && hub.nick_in_use(nick) {
            fail(self, "ACCOUNT_EXISTS", "That nick is in use");
            return None;
        }
        let email = Some(*email).filter(|e| *e != "*");
        let oper = session.is_some_and(Session::is_oper);
        match accounts
            .register(self.peer, nick, password, email, oper)
            .await
        {
            Ok(account) => {
                let name = account.name;
                self.raw(&format!(
                    ":{server} REGISTER SUCCESS {name} :Account created; you are logged in to it"
                ));
                Some(name)
            }
            Err(e) => {
                let code = match &e {
                    Error::AccountTaken(_) => "ACCOUNT_EXISTS",
                    Error::AccountInvalid { .. } => "BAD_ACCOUNT_NAME",
                    Error::PasswordInvalid { min, .. } if password.len() < *min => "WEAK_PASSWORD",
                    Error::PasswordInvalid { .. } => "UNACCEPTABLE_PASSWORD",
                    Error::EmailInvalid { .. } | Error::EmailRequired => "INVALID_EMAIL",
                    _ => "TEMPORARILY_UNAVAILABLE",
                };
                let why = capitalized(&e.to_string());
                fail(self, code, &why);
                None
            }
        }
    }

    /// `VERIFY`: prise sends no verification codes (an email is stored only), so there is
    /// never one to check.
    fn verify(&mut self) {
        let server = Arc::clone(&self.server);
        self.raw(&format!(
            ":{server} FAIL VERIFY INVALID_CODE * :This server sends no verification codes; accounts need none"
        ));
    }

    /// `900`: this connection is logged in to `account` now.
    fn logged_in(&mut self, ident: Option<&str>, account: &str) {
        let me = mask(&self.nick, ident);
        self.numeric(
            "900",
            &format!("{me} {account} :You are now logged in as {account}"),
        );
    }

    fn nickserv_notice(&mut self, text: &str) {
        self.service_notice(NICKSERV, text);
    }

    fn service_notice(&mut self, service: &str, text: &str) {
        let nick = self.nick.clone();
        self.raw(&format!(
            ":{service}!{service}@{USER_HOST} NOTICE {nick} :{text}"
        ));
    }

    /// A line to the ChanServ pseudo-user: `REGISTER #room`, `UNREGISTER #room`,
    /// `INFO #room`, `HELP` (registered rooms, docs/PROTOCOL-chat.md). Answered with NOTICEs
    /// from ChanServ.
    fn chanserv(&mut self, session: &Session, text: &str) {
        let mut words = text.split_whitespace();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        let said = match (command.as_str(), args.as_slice()) {
            ("REGISTER", [room]) => session.register_room(room).map(|room| {
                format!("{room} is registered to your account: its operators, topic, modes and bans are kept.")
            }),
            ("UNREGISTER" | "DROP", [room]) => session
                .unregister_room(room)
                .map(|room| format!("{room} is no longer registered.")),
            ("INFO", [room]) => session.room_registration(room).map(|r| {
                let since = humantime::format_rfc3339_seconds(r.registered);
                format!(
                    "{} is registered by {} since {since}; {} operator account(s).",
                    r.room,
                    r.founder,
                    r.ops.len()
                )
            }),
            ("HELP", _) => {
                for line in [
                    "REGISTER <#room>: register a room you operate to your account.",
                    "UNREGISTER <#room>: unregister it (its founder or a server operator).",
                    "INFO <#room>: who registered a room, and when.",
                    "Operators given +o while logged in stay operators, by account.",
                ] {
                    self.service_notice(CHANSERV, line);
                }
                return;
            }
            _ => Ok(format!(
                "Unknown or incomplete command {command:?}; try HELP."
            )),
        };
        let text = said.unwrap_or_else(|e| format!("{}.", capitalized(&e.to_string())));
        self.service_notice(CHANSERV, &text);
    }

    /// JOIN's replies to the joiner: its own JOIN, the topic, the names.
    async fn join(&mut self, session: &Session, room: &str, key: Option<&str>) {
        match session.join(room, key).await {
            Ok(joined) => {
                let me = mask(&self.nick, Some(&session.ident()));
                let more = if self.caps.extended_join {
                    extended_join(session.account().as_deref(), &session.realname())
                } else {
                    String::new()
                };
                let line = format!(":{me} JOIN {}{more}", joined.room);
                self.raw_tagged(&line);
                if !joined.topic.is_empty() {
                    self.numeric("332", &format!("{} :{}", joined.room, joined.topic));
                    if let Some((by, at)) = &joined.topic_set {
                        self.numeric("333", &format!("{} {by} {}", joined.room, unix(*at)));
                    }
                }
                let secret = session
                    .modes(&joined.room)
                    .is_ok_and(|(_, modes, _)| modes.secret);
                self.names_reply(&joined.room, &joined.users, secret);
            }
            Err(e) => self.chat_error(&e, room),
        }
    }

    /// A line about this client's own action, with tags when the client takes them.
    fn raw_tagged(&mut self, line: &str) {
        if self.caps.tagged() {
            let tagged = format!("@time={} {line}", rfc3339(SystemTime::now()));
            self.raw(&tagged);
        } else {
            self.raw(line);
        }
    }

    /// 353 lines under the length limit, then 366.
    fn names_reply(&mut self, room: &str, members: &[Member], secret: bool) {
        self.names_lines(room, members, secret);
        self.numeric("366", &format!("{room} :End of /NAMES list"));
    }

    /// 353 lines under the length limit.
    fn names_lines(&mut self, room: &str, members: &[Member], secret: bool) {
        let server = Arc::clone(&self.server);
        let kind = if secret { '@' } else { '=' };
        let head = format!(":{server} 353 {} {kind} {room} :", self.nick);
        let mut line = String::new();
        for member in members {
            let prefix = self.caps.prefix(member.status);
            // userhost-in-names: the whole address.
            let name = if self.caps.userhost_in_names {
                mask(&member.nick, Some(&member.ident))
            } else {
                member.nick.clone()
            };
            let len = prefix.len() + name.len();
            if !line.is_empty() && head.len() + line.len() + len + 3 > MAX_BODY_LEN {
                self.raw(&format!("{head}{line}"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(prefix);
            line.push_str(&name);
        }
        if !line.is_empty() {
            self.raw(&format!("{head}{line}"));
        }
    }

    /// One WHO reply: 352, or with WHOX fields (`%tcuihsnfdlaor[,token]`) 354.
    fn who_line(&mut self, channel: &str, info: &UserInfo, status: Status, whox: Option<&Whox>) {
        let server = Arc::clone(&self.server);
        let here = if info.away.is_some() { "G" } else { "H" };
        let oper = if info.modes.oper { "*" } else { "" };
        let prefix = self.caps.prefix(status);
        let flags = format!("{here}{oper}{prefix}");
        let Some(whox) = whox else {
            self.numeric(
                "352",
                &format!(
                    "{channel} {} {USER_HOST} {server} {} {flags} :0 {}",
                    info.ident, info.nick, info.realname
                ),
            );
            return;
        };
        // The fields come in this order whatever the order asked; the real name is last.
        let mut line = String::new();
        for field in "tcuihsnfdlaor".chars().filter(|c| whox.fields.contains(*c)) {
            let value = match field {
                't' => whox.token.clone(),
                'c' => channel.to_owned(),
                'u' => info.ident.to_string(),
                // Addresses are cloaked: the IP is not told.
                'i' => "255.255.255.255".to_owned(),
                'h' => USER_HOST.to_owned(),
                's' => server.to_string(),
                'n' => info.nick.clone(),
                'f' => flags.clone(),
                'd' => "0".to_owned(),
                'l' => info.idle.as_secs().to_string(),
                // 0 is "not logged in".
                'a' => info.account.as_deref().unwrap_or("0").to_owned(),
                'o' => "n/a".to_owned(),
                _ => format!(":{}", info.realname),
            };
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&value);
        }
        self.numeric("354", &line);
    }

    async fn privmsg(&mut self, session: &Session, line: &Line<'_>, notice: bool) {
        let server = Arc::clone(&self.server);
        let command = line.command.as_str();
        let Some(targets) = line.params.first().filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric("411", &format!(":No recipient given ({command})"));
            }
            return;
        };
        let tag_only = command == "TAGMSG";
        let Some(text) = line
            .params
            .get(1)
            .copied()
            .filter(|t| !t.is_empty())
            .or(tag_only.then_some(""))
        else {
            if !notice {
                self.numeric("412", ":No text to send");
            }
            return;
        };
        let (text, action) = match text
            .strip_prefix("\u{1}ACTION ")
            .filter(|_| !notice)
            .map(|t| t.strip_suffix('\u{1}').unwrap_or(t))
        {
            Some(action) => (action, true),
            None => (text, false),
        };
        for target in targets.split(',').filter(|t| !t.is_empty()).take(4) {
            if !self.flood.allow() {
                self.raw(&format!(
                    ":{server} NOTICE {} :Slow down: too many messages; that one was not sent.",
                    self.nick
                ));
                return;
            }
            let how = Sending {
                action,
                notice,
                tags: client_tags(line.tags),
                tag_only,
            };
            let sent = if target.starts_with('#') {
                session
                    .say_with(target, text, how)
                    .await
                    .map(|m| (EventKind::Chat(m), None))
            } else {
                let away = session.away_message(target).filter(|_| !tag_only);
                session
                    .private_with(target, text, how)
                    .await
                    .map(|m| (EventKind::Private(m), away))
            };
            match sent {
                Ok((kind, away)) => {
                    if let (Some(away), false) = (away, notice) {
                        self.numeric("301", &format!("{target} :{}", away));
                    }
                    if self.caps.echo_message {
                        let echo = Event::by_user(kind, &session.ident(), session.account(), None);
                        self.show(&echo);
                    }
                }
                // RFC 2812: a NOTICE never gets an automatic reply.
                Err(_) if notice => {}
                Err(Error::RoomInvalid { room, .. }) => {
                    self.numeric("403", &format!("{room} :No such channel"));
                }
                Err(e) => self.room_error(session, &e, target),
            }
        }
    }

    /// `MODE #room [changes [values]]`: show the modes, the (empty) ban list, or change them.
    fn channel_mode(&mut self, session: &Session, target: &str, args: &[&str]) {
        let (room, modes, inside) = match session.modes(target) {
            Ok(found) => found,
            Err(_) => {
                self.numeric("403", &format!("{target} :No such channel"));
                return;
            }
        };
        let Some(changes) = args.first() else {
            let (flags, values) = modes.describe(inside);
            let mut line = format!("{room} {flags}");
            for value in values {
                line.push(' ');
                line.push_str(&value);
            }
            self.numeric("324", &line);
            if let Some((created, _)) = session.room_times(&room) {
                self.numeric("329", &format!("{room} {}", unix(created)));
            }
            return;
        };
        // `MODE #room b` (or `+b`, `e`, `I`) with no mask: show the list.
        let letters = changes.trim_start_matches(['+', '-']);
        if args.len() == 1 && letters.chars().count() == 1 {
            if let Some(kind) = letters.chars().next().and_then(ListKind::from_letter) {
                self.show_list(session, &room, kind);
                return;
            }
        }
        let mut values = args[1..].iter().copied();
        let mut parsed = Vec::new();
        let mut on = true;
        for c in changes.chars() {
            let change = match c {
                '+' | '-' => {
                    on = c == '+';
                    continue;
                }
                'n' => ModeChange::NoExternal(on),
                't' => ModeChange::TopicOps(on),
                's' => ModeChange::Secret(on),
                'i' => ModeChange::InviteOnly(on),
                'm' => ModeChange::Moderated(on),
                'k' if on => match values.next() {
                    Some(key) => ModeChange::Key(Some(key.to_owned())),
                    None => {
                        self.need_more_params("MODE");
                        continue;
                    }
                },
                'k' => {
                    // The key is a value of -k too; it is not checked.
                    values.next();
                    ModeChange::Key(None)
                }
                'l' if on => match values.next().map(|v| (v, v.parse::<usize>())) {
                    Some((_, Ok(limit))) => ModeChange::Limit(Some(limit)),
                    Some((value, Err(_))) => {
                        let value = if value.is_empty() { "*" } else { value };
                        self.numeric(
                            "696",
                            &format!("{room} l {value} :A limit is a number above 0"),
                        );
                        continue;
                    }
                    None => {
                        self.need_more_params("MODE");
                        continue;
                    }
                },
                'l' => ModeChange::Limit(None),
                'b' | 'e' | 'I' => {
                    let kind = ListKind::from_letter(c).unwrap_or(ListKind::Ban);
                    match values.next() {
                        Some(mask) => ModeChange::List(kind, mask.to_owned(), on),
                        // A list letter among others, without its mask: show the list.
                        None => {
                            self.show_list(session, &room, kind);
                            continue;
                        }
                    }
                }
                'o' | 'v' => match values.next() {
                    Some(nick) if c == 'o' => ModeChange::Op(nick.to_owned(), on),
                    Some(nick) => ModeChange::Voice(nick.to_owned(), on),
                    None => {
                        self.need_more_params("MODE");
                        continue;
                    }
                },
                other => {
                    self.numeric("472", &format!("{other} :is unknown mode char to me"));
                    continue;
                }
            };
            parsed.push(change);
        }
        if parsed.is_empty() {
            return;
        }
        match session.set_modes(&room, &parsed) {
            Ok((_, errors)) => {
                for e in &errors {
                    self.chat_error(e, &room);
                }
            }
            Err(e) => self.room_error(session, &e, &room),
        }
    }

    /// `MONITOR + nicks`, `- nicks`, `C`, `L`, `S` (IRCv3 MONITOR): 730/731 for who is on or
    /// off, 732/733 for the list, 734 when it is full.
    fn monitor(&mut self, session: &Session, p: &[&str]) {
        let sub = p.first().copied().unwrap_or("");
        let targets: Vec<&str> = p
            .get(1)
            .map(|t| t.split(',').filter(|n| !n.is_empty()).collect())
            .unwrap_or_default();
        match sub {
            "+" => {
                let (valid, invalid): (Vec<&str>, Vec<&str>) = targets
                    .into_iter()
                    .partition(|n| crate::names::check_nick(n).is_ok());
                for nick in invalid {
                    self.numeric("432", &format!("{nick} :Erroneous nickname"));
                }
                let (online, offline, full) = session.monitor_add(&valid);
                self.monitor_replies(&online, &offline);
                if !full.is_empty() {
                    self.numeric(
                        "734",
                        &format!("{MAX_WATCHED} {} :Monitor list is full.", full.join(",")),
                    );
                }
            }
            "-" => session.monitor_remove(&targets),
            "C" | "c" => session.monitor_clear(),
            "L" | "l" => {
                let (list, _, _) = session.monitor_list();
                for chunk in list.chunks(20) {
                    self.numeric("732", &format!(":{}", chunk.join(",")));
                }
                self.numeric("733", ":End of MONITOR list");
            }
            "S" | "s" => {
                let (_, online, offline) = session.monitor_list();
                self.monitor_replies(&online, &offline);
            }
            _ => self.need_more_params("MONITOR"),
        }
    }

    /// 730 and 731 lines, a few targets each.
    fn monitor_replies(&mut self, online: &[String], offline: &[String]) {
        for chunk in online.chunks(10) {
            self.numeric("730", &format!(":{}", chunk.join(",")));
        }
        for chunk in offline.chunks(20) {
            self.numeric("731", &format!(":{}", chunk.join(",")));
        }
    }

    /// A room's ban (367/368), exception (348/349) or invite-exception (346/347) list.
    fn show_list(&mut self, session: &Session, room: &str, kind: ListKind) {
        let (item, end, what) = match kind {
            ListKind::Ban => ("367", "368", "channel ban list"),
            ListKind::Except => ("348", "349", "channel exception list"),
            ListKind::Invex => ("346", "347", "channel invite list"),
        };
        let (room, entries) = match session.list(room, kind) {
            Ok(found) => found,
            Err(e) => {
                self.room_error(session, &e, room);
                return;
            }
        };
        for entry in entries {
            self.numeric(
                item,
                &format!("{room} {} {} {}", entry.mask, entry.by, unix(entry.at)),
            );
        }
        self.numeric(end, &format!("{room} :End of {what}"));
    }

    /// `MODE nick [changes]`: `i` and `w` on and off, `o` off.
    fn user_mode(&mut self, session: &Session, changes: Option<&str>) {
        let Some(changes) = changes else {
            let modes = session.user_modes();
            let mut flags = String::from("+");
            for (on, c) in [
                (modes.invisible, 'i'),
                (modes.oper, 'o'),
                (modes.wallops, 'w'),
            ] {
                if on {
                    flags.push(c);
                }
            }
            self.numeric("221", &flags);
            return;
        };
        let mut on = true;
        let mut applied = String::new();
        let mut sign = None;
        let mut unknown = false;
        for c in changes.chars() {
            match c {
                '+' | '-' => on = c == '+',
                'i' | 'w' | 'o' => {
                    if session.set_user_mode(c, on) {
                        if sign != Some(on) {
                            applied.push(if on { '+' } else { '-' });
                            sign = Some(on);
                        }
                        applied.push(c);
                    }
                }
                _ => unknown = true,
            }
        }
        if unknown {
            self.numeric("501", ":Unknown MODE flag");
        }
        if !applied.is_empty() {
            let nick = self.nick.clone();
            self.raw_tagged(&format!(":{nick} MODE {nick} :{applied}"));
        }
    }

    async fn chathistory(&mut self, session: &Session, params: &[&str]) {
        let server = Arc::clone(&self.server);
        let sub = params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let (Some(room), Some(reference), Some(limit)) =
            (params.get(1), params.get(2), params.get(3))
        else {
            self.raw(&format!(
                ":{server} FAIL CHATHISTORY NEED_MORE_PARAMS {sub} :Missing parameters"
            ));
            return;
        };
        let limit = limit
            .parse::<usize>()
            .unwrap_or(50)
            .clamp(1, CHATHISTORY_MAX);
        let before = match (sub.as_str(), *reference) {
            ("LATEST", "*") => None,
            ("BEFORE", r) => match r.strip_prefix("msgid=").and_then(|id| id.parse().ok()) {
                Some(id) => Some(id),
                None => {
                    self.raw(&format!(
                        ":{server} FAIL CHATHISTORY INVALID_PARAMS {sub} {r} :Only msgid= references are supported"
                    ));
                    return;
                }
            },
            _ => {
                self.raw(&format!(
                    ":{server} FAIL CHATHISTORY INVALID_PARAMS {sub} :Supported: LATEST <target> * <n>, BEFORE <target> msgid=<id> <n>"
                ));
                return;
            }
        };
        match session.history(room, before, limit).await {
            Ok((room, messages, _)) => {
                self.batches += 1;
                let reference = format!("h{}", self.batches);
                if self.caps.batch {
                    self.raw(&format!(":{server} BATCH +{reference} chathistory {room}"));
                }
                for m in messages {
                    // Tags only for a client that takes them.
                    let mut tags = match (self.caps.batch, self.caps.tagged()) {
                        (true, _) => {
                            format!("batch={reference};time={};msgid={}", rfc3339(m.ts), m.id)
                        }
                        (false, true) => format!("time={};msgid={}", rfc3339(m.ts), m.id),
                        (false, false) => String::new(),
                    };
                    // The account the sender had then (IRCv3 account-tag), from the history.
                    if let (true, Some(account)) = (self.caps.account_tag, &m.account) {
                        if !tags.is_empty() {
                            tags.push(';');
                        }
                        tags.push_str("account=");
                        tags.push_str(account);
                    }
                    let tags = if tags.is_empty() {
                        tags
                    } else {
                        format!("@{tags} ")
                    };
                    let line = tags + &message_line(&m, None);
                    self.raw(&line);
                }
                if self.caps.batch {
                    self.raw(&format!(":{server} BATCH -{reference}"));
                }
            }
            Err(e) => self.raw(&format!(
                ":{server} FAIL CHATHISTORY INVALID_TARGET {sub} {room} :{}",
                crate::hub::one_line(&e.to_string())
            )),
        }
    }

    /// Handle one raw line from a registered client: checked and parsed here, inside the boxed
    /// future, so none of it stays in the connection's state.
    async fn handle(&mut self, session: &Session, hub: &Hub, raw: Bytes) -> Next {
        let server = Arc::clone(&self.server);
        let Ok(text) = std::str::from_utf8(&raw) else {
            // The refusal answers the line: labeled if its tags (UTF-8 themselves) say so.
            let tags = raw
                .strip_prefix(b"@")
                .and_then(|t| t.split(|&b| b == b' ').next())
                .and_then(|t| std::str::from_utf8(t).ok());
            let label = label_of(tags).filter(|_| self.caps.labeled_response);
            let start = self.out.len();
            self.raw(&format!(
                ":{server} FAIL * INVALID_UTF8 :Lines must be UTF-8; that one was dropped"
            ));
            if let Some(label) = label {
                self.label_since(start, &label);
            }
            return Next::Go;
        };
        match parse(text) {
            Ok(line) => {
                let label = label_of(line.tags).filter(|_| self.caps.labeled_response);
                let start = self.out.len();
                let next = self.command(session, hub, line).await;
                if let Some(label) = label {
                    self.label_since(start, &label);
                }
                next
            }
            Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                self.numeric("417", ":Input line was too long");
                Next::Go
            }
            Err(ParseError::NoCommand) => Next::Go,
        }
    }

    /// IRCv3 labeled-response: the lines written since `start` answer a labeled command. None
    /// is an `ACK`, one carries the label, several go in a `labeled-response` batch (or each
    /// carries the label, for a client without `batch`).
    fn label_since(&mut self, start: usize, label: &str) {
        let server = Arc::clone(&self.server);
        let produced = self.out.split_off(start);
        let text = String::from_utf8_lossy(&produced);
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        let tagged = |tag: &str, line: &str| match line.strip_prefix('@') {
            Some(rest) => format!("@{tag};{rest}"),
            None => format!("@{tag} {line}"),
        };
        match lines.as_slice() {
            [] => self.raw(&format!("@label={label} :{server} ACK")),
            [one] => self.raw(&tagged(&format!("label={label}"), one)),
            _ if self.caps.batch => {
                self.batches += 1;
                let reference = format!("l{}", self.batches);
                self.raw(&format!(
                    "@label={label} :{server} BATCH +{reference} labeled-response"
                ));
                for line in &lines {
                    self.raw(&tagged(&format!("batch={reference}"), line));
                }
                self.raw(&format!(":{server} BATCH -{reference}"));
            }
            _ => {
                for line in &lines {
                    self.raw(&tagged(&format!("label={label}"), line));
                }
            }
        }
    }

    /// Handle one line from a registered client.
    #[allow(clippy::too_many_lines)]
    async fn command(&mut self, session: &Session, hub: &Hub, line: Line<'_>) -> Next {
        let server = Arc::clone(&self.server);
        let p = &line.params;
        match line.command.as_str() {
            "PRIVMSG" if p.first().is_some_and(|t| t.eq_ignore_ascii_case(NICKSERV)) => {
                let text = p.get(1).copied().unwrap_or("");
                self.nickserv(session, hub, text).await;
            }
            "NICKSERV" | "NS" => {
                let text = p.join(" ");
                self.nickserv(session, hub, &text).await;
            }
            "PRIVMSG" if p.first().is_some_and(|t| t.eq_ignore_ascii_case(CHANSERV)) => {
                let text = p.get(1).copied().unwrap_or("");
                self.chanserv(session, text);
            }
            "CHANSERV" | "CS" => {
                let text = p.join(" ");
                self.chanserv(session, &text);
            }
            "AUTHENTICATE" => {
                let ident = session.ident();
                let logged_in = session.account().is_some();
                if let Some(account) = self.authenticate(hub, logged_in, Some(&ident), p).await {
                    session.set_account(Some(&account));
                }
            }
            "PRIVMSG" => self.privmsg(session, &line, false).await,
            "NOTICE" => self.privmsg(session, &line, true).await,
            // Tags alone: relayed when there are client tags to relay.
            "TAGMSG" if client_tags(line.tags).is_some() => {
                self.privmsg(session, &line, true).await;
            }
            "TAGMSG" => {}
            "JOIN" => match p.first() {
                None => self.need_more_params("JOIN"),
                Some(&"0") => {
                    for room in session.rooms() {
                        if session.part(&room, "").is_ok() {
                            let me = mask(&self.nick, Some(&session.ident()));
                            self.raw_tagged(&format!(":{me} PART {room}"));
                        }
                    }
                }
                Some(rooms) => {
                    let mut keys = p.get(1).copied().unwrap_or("").split(',');
                    for room in rooms.split(',').filter(|r| !r.is_empty()) {
                        let key = keys.next().filter(|k| !k.is_empty());
                        if room.starts_with('#') {
                            Box::pin(self.join(session, room, key)).await;
                        } else {
                            self.numeric("403", &format!("{room} :No such channel"));
                        }
                    }
                }
            },
            "PART" => match p.first() {
                None => self.need_more_params("PART"),
                Some(rooms) => {
                    let reason = p.get(1).copied().unwrap_or("");
                    for room in rooms.split(',').filter(|r| !r.is_empty()) {
                        match session.part(room, reason) {
                            Ok(room) => {
                                let me = mask(&self.nick, Some(&session.ident()));
                                let line = if reason.is_empty() {
                                    format!(":{me} PART {room}")
                                } else {
                                    format!(":{me} PART {room} :{reason}")
                                };
                                self.raw_tagged(&line);
                            }
                            Err(e) => self.room_error(session, &e, room),
                        }
                    }
                }
            },
            "NICK" => match p.first().filter(|n| !n.is_empty()) {
                None => self.numeric("431", ":No nickname given"),
                Some(new) => match session.set_nick(new).await {
                    Ok(old) if old != *new => {
                        let me = mask(&old, Some(&session.ident()));
                        self.raw_tagged(&format!(":{me} NICK {new}"));
                        self.nick = (*new).to_owned();
                    }
                    Ok(_) => {}
                    Err(e) => self.chat_error(&e, new),
                },
            },
            "TOPIC" => match p.first() {
                None => self.need_more_params("TOPIC"),
                Some(room) => match session.topic(room, p.get(1).copied()) {
                    Ok((room, topic)) if p.len() < 2 => {
                        if topic.is_empty() {
                            self.numeric("331", &format!("{room} :No topic is set"));
                        } else {
                            self.numeric("332", &format!("{room} :{}", topic));
                            if let Some((_, Some((by, at)))) = session.room_times(&room) {
                                self.numeric("333", &format!("{room} {by} {}", unix(at)));
                            }
                        }
                    }
                    // The hub tells every member, this client too: no echo here.
                    Ok(_) => {}
                    Err(Error::TopicTooLong(max)) => self.raw(&format!(
                        ":{server} FAIL TOPIC TOPIC_TOO_LONG {room} :A topic is at most {max} bytes"
                    )),
                    Err(e) => self.room_error(session, &e, room),
                },
            },
            "NAMES" => match p.first() {
                None => self.numeric("366", "* :End of /NAMES list"),
                Some(rooms) => {
                    // Several rooms: their 353 lines, then one 366 naming the list as given.
                    let several = rooms.split(',').filter(|r| !r.is_empty()).count() > 1;
                    for room in rooms.split(',').filter(|r| !r.is_empty()).take(NAMES_MAX) {
                        match (session.names(room), session.modes(room)) {
                            (Ok((room, members)), Ok((_, modes, _))) if !members.is_empty() => {
                                self.names_lines(&room, &members, modes.secret);
                                if !several {
                                    self.numeric("366", &format!("{room} :End of /NAMES list"));
                                }
                            }
                            _ if several => {}
                            _ => self.numeric("366", &format!("{room} :End of /NAMES list")),
                        }
                    }
                    if several {
                        self.numeric("366", &format!("{rooms} :End of /NAMES list"));
                    }
                }
            },
            "WHO" => {
                let mask_param = p.first().copied().unwrap_or("*");
                let whox = p.get(1).and_then(|f| Whox::parse(f));
                if mask_param.starts_with('#') {
                    if let Ok((room, members)) = session.who(mask_param) {
                        for (info, status) in &members {
                            self.who_line(&room, info, *status, whox.as_ref());
                        }
                    }
                } else {
                    for info in session.who_mask(mask_param, WHO_MAX) {
                        // The channel field: the first room of theirs this user may see.
                        let (room, status) = info
                            .rooms
                            .first()
                            .map_or(("*", Status::default()), |(r, s)| (r.as_str(), *s));
                        let room = room.to_owned();
                        self.who_line(&room, &info, status, whox.as_ref());
                    }
                }
                self.numeric("315", &format!("{mask_param} :End of /WHO list"));
            }
            "WHOIS" => {
                // WHOIS [server] nick: the nick is the last parameter.
                match p.last().filter(|n| !n.is_empty()) {
                    None => self.numeric("431", ":No nickname given"),
                    Some(target) => {
                        for nick in target.split(',').filter(|n| !n.is_empty()).take(4) {
                            match session.whois(nick) {
                                Some(info) => {
                                    self.numeric(
                                        "311",
                                        &format!(
                                            "{} {} {USER_HOST} * :{}",
                                            info.nick, info.ident, info.realname
                                        ),
                                    );
                                    if !info.rooms.is_empty() {
                                        let rooms: Vec<String> = info
                                            .rooms
                                            .iter()
                                            .map(|(room, status)| {
                                                format!("{}{room}", self.caps.prefix(*status))
                                            })
                                            .collect();
                                        self.numeric(
                                            "319",
                                            &format!("{} :{}", info.nick, rooms.join(" ")),
                                        );
                                    }
                                    if let Some(account) = &info.account {
                                        self.numeric(
                                            "330",
                                            &format!("{} {account} :is logged in as", info.nick),
                                        );
                                    }
                                    if info.modes.oper {
                                        self.numeric(
                                            "313",
                                            &format!("{} :is an IRC operator", info.nick),
                                        );
                                    }
                                    self.numeric(
                                        "312",
                                        &format!("{} {server} :prise chat", info.nick),
                                    );
                                    if let Some(away) = &info.away {
                                        self.numeric("301", &format!("{} :{}", info.nick, away));
                                    }
                                    self.numeric(
                                        "318",
                                        &format!("{} :End of /WHOIS list", info.nick),
                                    );
                                }
                                None => {
                                    self.numeric("401", &format!("{nick} :No such nick/channel"));
                                    self.numeric("318", &format!("{nick} :End of /WHOIS list"));
                                }
                            }
                        }
                    }
                }
            }
            "LIST" => {
                self.numeric("321", "Channel :Users  Name");
                for room in session.list_rooms() {
                    self.numeric(
                        "322",
                        &format!("{} {} :{}", room.name, room.users, room.topic),
                    );
                }
                self.numeric("323", ":End of /LIST");
            }
            "LUSERS" => self.lusers(hub),
            "MOTD" => self.motd(hub),
            "AWAY" => match p.first().filter(|m| !m.is_empty()) {
                Some(message) => {
                    session.set_away(Some(message));
                    self.numeric("306", ":You have been marked as being away");
                }
                None => {
                    session.set_away(None);
                    self.numeric("305", ":You are no longer marked as being away");
                }
            },
            "ISON" => {
                let online: Vec<String> = p
                    .iter()
                    .flat_map(|n| n.split(' '))
                    .filter_map(|n| session.whois(n).map(|i| i.nick))
                    .collect();
                self.numeric("303", &format!(":{}", online.join(" ")));
            }
            "USERHOST" => {
                let found: Vec<String> = p
                    .iter()
                    .take(5)
                    .filter_map(|n| session.whois(n))
                    .map(|i| {
                        let here = if i.away.is_some() { '-' } else { '+' };
                        format!("{}={here}{}@{USER_HOST}", i.nick, i.ident)
                    })
                    .collect();
                self.numeric("302", &format!(":{}", found.join(" ")));
            }
            "MODE" => match p.first() {
                None => self.need_more_params("MODE"),
                Some(target) if target.starts_with('#') => {
                    self.channel_mode(session, target, &p[1..])
                }
                Some(target) if target.eq_ignore_ascii_case(&self.nick) => {
                    self.user_mode(session, p.get(1).copied());
                }
                Some(target) if session.whois(target).is_some() => {
                    self.numeric("502", ":Can't change mode for other users");
                }
                Some(target) => self.numeric("401", &format!("{target} :No such nick/channel")),
            },
            "KICK" => match (p.first(), p.get(1)) {
                (Some(rooms), Some(nicks)) => {
                    let reason = p.get(2).copied().unwrap_or("");
                    let rooms: Vec<&str> = rooms.split(',').filter(|r| !r.is_empty()).collect();
                    let nicks: Vec<&str> = nicks.split(',').filter(|n| !n.is_empty()).collect();
                    // RFC 2812: one room and several users, or as many rooms as users, paired.
                    let pairs: Vec<(&str, &str)> = match rooms.as_slice() {
                        [room] => nicks.iter().map(|n| (*room, *n)).collect(),
                        _ if rooms.len() == nicks.len() => {
                            rooms.iter().copied().zip(nicks.iter().copied()).collect()
                        }
                        _ => Vec::new(),
                    };
                    if pairs.is_empty() {
                        self.need_more_params("KICK");
                    }
                    for (room, nick) in pairs.into_iter().take(4) {
                        if let Err(e) = session.kick(room, nick, reason) {
                            self.room_error(session, &e, room);
                        }
                    }
                }
                _ => self.need_more_params("KICK"),
            },
            "INVITE" => match (p.first(), p.get(1)) {
                (Some(nick), Some(room)) => match session.invite(nick, room) {
                    Ok((nick, room)) => self.numeric("341", &format!("{nick} {room}")),
                    Err(e) => self.room_error(session, &e, room),
                },
                (None, _) => self.numeric("337", ":End of /INVITE list"),
                (Some(_), None) => self.need_more_params("INVITE"),
            },
            "OPER" => match (p.first(), p.get(1)) {
                (Some(name), Some(password)) => match session.oper(name, password) {
                    Ok(()) => {
                        self.numeric("381", ":You are now an IRC operator");
                        let nick = self.nick.clone();
                        self.raw(&format!(":{nick} MODE {nick} :+ow"));
                    }
                    Err(e) => self.chat_error(&e, name),
                },
                _ => self.need_more_params("OPER"),
            },
            "KILL" => match p.first() {
                Some(nick) => {
                    let reason = p.get(1).copied().unwrap_or("");
                    match session.kill(nick, reason) {
                        Ok(nick) => {
                            self.raw(&format!(":{server} NOTICE {} :Killed {nick}", self.nick))
                        }
                        Err(e) => self.chat_error(&e, nick),
                    }
                }
                None => self.need_more_params("KILL"),
            },
            "WALLOPS" => match p.first().filter(|t| !t.is_empty()) {
                Some(text) => {
                    if let Err(e) = session.wallops(text) {
                        self.chat_error(&e, "WALLOPS");
                    }
                }
                None => self.need_more_params("WALLOPS"),
            },
            "CHATHISTORY" => Box::pin(self.chathistory(session, p)).await,
            "SETNAME" => match p.first() {
                None => self.need_more_params("SETNAME"),
                Some(name) => {
                    if let Err(e) = session.set_realname(name) {
                        self.raw(&format!(
                            ":{server} FAIL SETNAME INVALID_REALNAME :{}",
                            crate::hub::one_line(&e.to_string())
                        ));
                    }
                }
            },
            "MONITOR" => self.monitor(session, p),
            "REGISTER" => {
                let nick = session.nick();
                let logged_in = session.account().is_some();
                if let Some(account) = self
                    .register(hub, Some(session), Some(&nick), logged_in, p)
                    .await
                {
                    session.set_account(Some(&account));
                    self.logged_in(Some(&session.ident()), &account);
                }
            }
            "VERIFY" => self.verify(),
            "PING" => match p.first() {
                Some(token) => self.raw(&format!(":{server} PONG {server} :{token}")),
                None => self.numeric("409", ":No origin specified"),
            },
            "PONG" => {}
            "CAP" => {
                self.cap(hub, p);
                session.set_wants(self.caps.wants());
            }
            "USER" | "PASS" => self.numeric("462", ":You may not reregister"),
            "QUIT" => {
                let reason = p.first().copied().unwrap_or("");
                session.set_quit_reason(reason);
                return Next::Quit(if reason.is_empty() {
                    "Client Quit".to_owned()
                } else {
                    format!("Quit: {reason}")
                });
            }
            other => self.numeric("421", &format!("{other} :Unknown command")),
        }
        Next::Go
    }
}

/// What registration remembers between lines: NICK and USER, and whether a capability
/// negotiation holds registration until `CAP END`.
#[derive(Default)]
pub(crate) struct Registering {
    negotiating: bool,
    /// The account logged in to with SASL before registration ended.
    account: Option<String>,
    nick: Option<String>,
    user: Option<(String, String)>,
    /// What `PASS` gave (the server password, `--password`).
    pass: Option<String>,
    /// The server password has been checked and was right.
    passed: bool,
}

/// IRC as a [`Door`]: registration (CAP, NICK, USER) is the hello.
impl Door for IrcConn {
    type Pending = Registering;

    fn out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    async fn hello(&mut self, reg: &mut Registering, hub: &Hub, raw: Bytes) -> Hello {
        let server = Arc::clone(&self.server);
        let Ok(text) = std::str::from_utf8(&raw) else {
            self.raw(&format!(
                ":{server} FAIL * INVALID_UTF8 :Lines must be UTF-8"
            ));
            return Hello::More;
        };
        let line = match parse(text) {
            Ok(line) => line,
            Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                self.numeric("417", ":Input line was too long");
                return Hello::More;
            }
            Err(ParseError::NoCommand) => return Hello::More,
        };
        let p = &line.params;
        match line.command.as_str() {
            "CAP" => {
                // LS and REQ hold registration until END (IRCv3 capability negotiation).
                match p.first().map(|s| s.to_ascii_uppercase()).as_deref() {
                    Some("LS" | "REQ") => reg.negotiating = true,
                    Some("END") => reg.negotiating = false,
                    _ => {}
                }
                self.cap(hub, p);
            }
            "PASS" => match p.first() {
                Some(pass) if !pass.is_empty() => reg.pass = Some((*pass).to_owned()),
                _ => self.need_more_params("PASS"),
            },
            "REGISTER" => {
                let before = std::mem::replace(
                    &mut self.nick,
                    reg.nick.clone().unwrap_or_else(|| "*".to_owned()),
                );
                let nick = reg.nick.clone();
                let account = self
                    .register(hub, None, nick.as_deref(), reg.account.is_some(), p)
                    .await;
                if let Some(account) = account {
                    let ident = reg.user.as_ref().map(|(ident, _)| ident.clone());
                    self.logged_in(ident.as_deref(), &account);
                    reg.account = Some(account);
                }
                self.nick = before;
            }
            "VERIFY" => self.verify(),
            "AUTHENTICATE" => {
                let ident = reg.user.as_ref().map(|(ident, _)| ident.clone());
                let logged_in = reg.account.is_some();
                // SASL's numerics name the nick given so far, if any.
                let shown = reg.nick.clone().unwrap_or_else(|| "*".to_owned());
                let before = std::mem::replace(&mut self.nick, shown);
                let account = self.authenticate(hub, logged_in, ident.as_deref(), p).await;
                self.nick = before;
                if account.is_some() {
                    reg.account = account;
                }
            }
            "NICK" => match p.first().filter(|n| !n.is_empty()) {
                None => self.numeric("431", ":No nickname given"),
                Some(n) => match crate::names::check_nick(n) {
                    Err(reason) => {
                        self.numeric("432", &format!("{n} :Erroneous nickname ({reason})"));
                    }
                    Ok(()) => reg.nick = Some((*n).to_owned()),
                },
            },
            "USER" => {
                if p.len() < 4 || p[0].is_empty() || p[3].is_empty() {
                    self.need_more_params("USER");
                } else {
                    let ident: String = p[0]
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                        .take(10)
                        .collect();
                    let ident = if ident.is_empty() {
                        "user".to_owned()
                    } else {
                        ident
                    };
                    reg.user = Some((format!("~{ident}"), p[3].to_owned()));
                }
            }
            "PING" => match p.first() {
                Some(token) => self.raw(&format!(":{server} PONG {server} :{token}")),
                None => self.numeric("409", ":No origin specified"),
            },
            "PONG" => {}
            "QUIT" => {
                self.raw("ERROR :Closing link: Client Quit");
                return Hello::Refused;
            }
            other => self.numeric("451", &format!("{other} :You have not registered")),
        }
        let (Some(n), Some((ident, realname)), false) = (&reg.nick, &reg.user, reg.negotiating)
        else {
            return Hello::More;
        };
        // The server password, checked once registration would end (RFC 1459 4.1.1, and
        // Modern IRC: 464 then ERROR).
        match if reg.passed {
            Ok(())
        } else {
            hub.check_password(self.peer, reg.pass.take().as_deref())
                .await
        } {
            Ok(()) => reg.passed = true,
            Err(Error::TooManyAttempts(who)) => {
                self.raw(&format!(
                    "ERROR :Closing link: too many attempts {who}; try again in a minute"
                ));
                return Hello::Refused;
            }
            Err(_) => {
                self.numeric("464", ":Password incorrect");
                self.raw("ERROR :Closing link: Password incorrect");
                return Hello::Refused;
            }
        }
        let mut registered = hub.register(n, ident, realname).await;
        if matches!(registered, Err(Error::NickTaken(_))) {
            // A client that reconnects at once often races its own old connection, whose
            // close is in flight but not yet read: look again after a moment rather than
            // refuse a nick that is about to be free.
            tokio::time::sleep(NICK_RECHECK).await;
            registered = hub.register(n, ident, realname).await;
        }
        match registered {
            Ok((session, inbox)) => {
                session.start_account(reg.account.as_deref());
                self.nick.clone_from(n);
                self.welcome(hub);
                Hello::Welcome(session, inbox)
            }
            Err(e) => {
                let n = n.clone();
                self.chat_error(&e, &n);
                reg.nick = None;
                Hello::More
            }
        }
    }

    fn refused(&mut self, why: Refusal) {
        match why {
            Refusal::LineTooLong(max) => {
                self.raw(&format!(
                    "ERROR :Closing link: line longer than {max} bytes"
                ));
            }
            Refusal::NotText => {}
            Refusal::TimedOut => self.raw("ERROR :Closing link: registration timed out"),
        }
    }

    fn welcomed(&mut self, session: &Session) {
        session.set_wants(self.caps.wants());
        session.set_keepalive(true);
    }

    async fn line(&mut self, session: &Session, hub: &Hub, raw: Bytes) -> Flow {
        match self.handle(session, hub, raw).await {
            Next::Go => Flow::Go,
            Next::Quit(reason) => Flow::Quit(reason),
        }
    }

    fn event(&mut self, _: &Session, event: &Event) {
        self.show(event);
    }

    fn end(&mut self, session: &Session, end: End) {
        // Why the connection ends, and whether the server decided it (then that is the quit
        // reason the others see; a client's QUIT has already given its own).
        let (goodbye, by_server) = match end {
            End::Quit(reason) => (reason, false),
            End::LineTooLong(max) => (format!("Line longer than {max} bytes"), true),
            End::Gone(Gone::TooSlow) => (
                "SendQ exceeded (you are not reading fast enough)".to_owned(),
                true,
            ),
            End::Gone(Gone::Killed(why)) => (why, true),
            End::Gone(Gone::Shutdown) => ("Server shutting down".to_owned(), true),
            End::Gone(Gone::TimedOut) => ("Ping timeout".to_owned(), true),
            // The client is gone: nobody to tell.
            End::Closed => return,
        };
        if by_server {
            session.set_quit_reason(&goodbye);
        }
        self.raw(&format!("ERROR :Closing link: {goodbye}"));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{client_tags, label_of, looks_like_irc, parse, ParseError, Whox};

    proptest! {
        /// Any tag section: the client-only tags kept are a subset of what was sent, each
        /// starting with `+`, and a label is echoed only when it is a safe word.
        #[test]
        fn tags_keep_only_client_tags_and_safe_labels(tags in "[-+a-z=;:./ ]{0,60}") {
            if let Some(kept) = client_tags(Some(&tags)) {
                for tag in kept.split(';') {
                    prop_assert!(tag.starts_with('+'), "{tag}");
                    prop_assert!(tags.split(';').any(|t| t == tag), "{tag}");
                }
            }
            if let Some(label) = label_of(Some(&tags)) {
                prop_assert!(!label.contains([' ', ';', '=']), "{label}");
            }
        }

        #[test]
        fn any_whox_spec_parses_to_a_numeric_token(spec in "%?[a-z]{0,14}(,[0-9a-z]{0,5})?") {
            if let Some(whox) = Whox::parse(&spec) {
                prop_assert!(!whox.token.is_empty() && whox.token.len() <= 3);
                prop_assert!(whox.token.chars().all(|c| c.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn labels_and_client_tags_are_picked_from_the_tags() {
        assert_eq!(label_of(Some("label=abc;+x=1")).as_deref(), Some("abc"));
        assert_eq!(label_of(Some("label=a b")), None);
        assert_eq!(label_of(Some("+x=1")), None);
        assert_eq!(
            client_tags(Some("time=now;+a=1;msgid=2;+vendor.org/b")).as_deref(),
            Some("+a=1;+vendor.org/b")
        );
        assert_eq!(client_tags(Some("+;+=x;server=1")), None);
        assert_eq!(
            parse(&format!("@{} PING x", "t".repeat(4095))),
            Err(ParseError::TagsTooLong)
        );
    }

    #[test]
    fn parses_tags_prefix_params_and_trailing() {
        let line = parse("@a=b;c :nick!u@h PRIVMSG #room :hello  world")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(line.tags, Some("a=b;c"));
        assert_eq!(line.command, "PRIVMSG");
        assert_eq!(line.params, vec!["#room", "hello  world"]);
        let line = parse("join   #a,#b  key").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(line.command, "JOIN");
        assert_eq!(line.params, vec!["#a,#b", "key"]);
        let line = parse("TOPIC #a :").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(line.params, vec!["#a", ""]);
        assert_eq!(parse(":only-a-prefix"), Err(ParseError::NoCommand));
        assert_eq!(parse("   "), Err(ParseError::NoCommand));
        let long = format!("PRIVMSG #a :{}", "x".repeat(600));
        assert_eq!(parse(&long), Err(ParseError::TooLong));
        // Tags do not count toward the 512 bytes.
        let tagged = format!("@{} PRIVMSG #a :hi", "t".repeat(1000));
        assert!(parse(&tagged).is_ok());
    }

    #[test]
    fn sniffs_irc_clients_not_people() {
        assert!(looks_like_irc(b"CAP LS 302\r\nNICK a\r\n"));
        assert!(looks_like_irc(b"NICK alice\r\nUSER a 0 * :A\r\n"));
        assert!(looks_like_irc(b"PASS secret\r\n"));
        assert!(!looks_like_irc(b"nick is my name\n"));
        assert!(!looks_like_irc(b"hello everyone\n"));
        assert!(!looks_like_irc(b"{\"type\":\"hello\"}\n"));
    }
}
