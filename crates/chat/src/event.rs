//! What the hub tells connections: [`Event`]s, built once and shared by every recipient.
//!
//! An event is an `Arc`; each wire format's bytes are made the first time a connection of that
//! format needs them and then shared ([`Event::json`], [`Event::text`]). A message to a room of
//! a thousand native clients is serialized once, not a thousand times.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;

/// A chat message as stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    /// Unique, increasing across restarts.
    pub id: u64,
    /// When the server accepted it.
    #[serde(with = "rfc3339")]
    pub ts: SystemTime,
    /// Sender's nick.
    pub from: String,
    /// The account the sender was logged in to, if any (kept in history too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Room (`#name`) or, for a private message, the recipient's nick.
    pub to: String,
    /// The text.
    pub text: String,
    /// A `/me` action.
    #[serde(default)]
    pub action: bool,
    /// A notice (IRC's NOTICE): never answered automatically, never kept in history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
    /// The sender's client-only tags (IRCv3 message-tags: `+name=value;...`, escaped as
    /// received), relayed to IRC clients that take tags; neither stored nor sent elsewhere.
    #[serde(skip)]
    pub client_tags: Option<Arc<str>>,
    /// Tags and no text (IRC's TAGMSG): delivered only to connections that take tags.
    #[serde(skip)]
    pub tag_only: bool,
}

/// How an IRC recipient wants a line: its tag level and the capabilities that change a
/// line's shape (`account-tag`, `extended-join`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrcForm {
    /// Which tags.
    pub tags: IrcTags,
    /// The `account` tag on what a logged-in user does.
    pub account_tag: bool,
    /// JOIN with the account and real name.
    pub extended_join: bool,
}

impl IrcForm {
    /// Where this form's line is kept: the 3 plain forms first, then the 9 others.
    fn slot(self) -> usize {
        let tags = match self.tags {
            IrcTags::None => 0,
            IrcTags::Time => 1,
            IrcTags::All => 2,
        };
        tags + 3 * (usize::from(self.account_tag) + 2 * usize::from(self.extended_join))
    }
}

/// Which tags an IRC line carries: what the recipient's capabilities allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrcTags {
    /// None (no tag capability).
    None,
    /// `time` only (`server-time` without `message-tags`).
    Time,
    /// `time`, `msgid` and the sender's client-only tags (`message-tags`).
    All,
}

/// RFC 3339 UTC with milliseconds, as every timestamp on our wires.
pub mod rfc3339 {
    use std::time::SystemTime;

    /// Serialize a time.
    ///
    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(*t))
    }

    /// Deserialize a time.
    ///
    /// # Errors
    /// When the text is not RFC 3339.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A message in a room.
    Chat(Message),
    /// A private message.
    Private(Message),
    /// Someone joined a room.
    Join {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The room.
        room: String,
        /// Who.
        nick: String,
    },
    /// Someone left a room.
    Part {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The room.
        room: String,
        /// Who.
        nick: String,
        /// Why, if they said.
        #[serde(skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// Someone disconnected.
    Quit {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// Who.
        nick: String,
        /// Why.
        #[serde(skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// Someone changed nick.
    Nick {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// Before.
        old: String,
        /// After.
        new: String,
    },
    /// A room's topic changed.
    Topic {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The room.
        room: String,
        /// The new topic.
        topic: String,
        /// Who set it.
        by: String,
    },
    /// A room operator put someone out of a room.
    Kick {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The room.
        room: String,
        /// The operator.
        by: String,
        /// Who was put out.
        nick: String,
        /// Why, if they said.
        #[serde(skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// A room operator changed the room's modes (see docs/PROTOCOL-chat.md, "Room modes").
    Mode {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The room.
        room: String,
        /// The operator.
        by: String,
        /// The changes, IRC style: `+o-v`, `+k`, `-l`.
        modes: String,
        /// The values of the changes that take one, in order (nicks, the key, the limit).
        args: Vec<String>,
    },
    /// Someone invited this user to a room.
    Invite {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The room.
        room: String,
        /// Who invited.
        by: String,
        /// Who is invited (the recipient).
        nick: String,
    },
    /// A user sharing a room went away or came back (only to clients that asked: IRC's
    /// `away-notify`).
    Away {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// Who.
        nick: String,
        /// The away message; absent when they are back.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Someone changed their real name (IRC's SETNAME).
    Setname {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// Who.
        nick: String,
        /// The new real name.
        realname: String,
    },
    /// Someone logged in to an account or out of one (IRC's `account-notify`).
    Account {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// Who.
        nick: String,
        /// The account now logged in to; `None`: logged out.
        account: Option<String>,
    },
    /// A watched nick came online or went offline (IRC's MONITOR).
    Monitor {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// Online (true) or offline.
        online: bool,
        /// The address (`nick!user@host`) when online, the nick when offline.
        target: String,
    },
    /// A message from a server operator to every user who takes them (IRC's WALLOPS).
    Wallops {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// The operator.
        from: String,
        /// What.
        text: String,
    },
    /// Are you there? Sent by the hub's keepalive to a connection silent for a while; the
    /// client answers (native `pong` with the token, IRC `PONG`).
    Ping {
        /// Echoed in the answer.
        token: String,
    },
    /// A notice from the server.
    System {
        /// When.
        #[serde(with = "rfc3339")]
        ts: SystemTime,
        /// What.
        text: String,
    },
}

/// A shared, lazily serialized event.
#[derive(Debug, Clone)]
pub struct Event(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    kind: EventKind,
    /// The acting user's ident (the user part of `nick!user@host`), for IRC prefixes.
    source: Option<Arc<str>>,
    /// The acting user's account when they acted, if logged in (IRC's `account-tag` and
    /// `extended-join`).
    account: Option<Arc<str>>,
    /// The joining user's real name, on [`EventKind::Join`] (IRC's `extended-join`).
    realname: Option<Box<str>>,
    /// Unique per event: IRC's `msgid` tag for events that are not messages.
    serial: u64,
    json: OnceLock<Bytes>,
    text: OnceLock<Bytes>,
    /// The IRC lines of the three plain forms (by tag level).
    irc: [OnceLock<Bytes>; 3],
    /// The IRC lines of the other forms, allocated the first time one is needed.
    irc_more: OnceLock<Box<[OnceLock<Bytes>; 9]>>,
}

/// Numbers events that carry no message id of their own.
static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Event {
    /// Wrap an event for sharing.
    pub fn new(kind: EventKind) -> Self {
        Self::build(kind, None, None, None)
    }

    /// Wrap an event done by a user whose ident is `source`.
    pub fn with_source(kind: EventKind, source: &Arc<str>) -> Self {
        Self::build(kind, Some(Arc::clone(source)), None, None)
    }

    /// Wrap an event done by a user whose ident is `source`, logged in to `account`;
    /// `realname` goes with a join.
    pub fn by_user(
        kind: EventKind,
        source: &Arc<str>,
        account: Option<Arc<str>>,
        realname: Option<Box<str>>,
    ) -> Self {
        Self::build(kind, Some(Arc::clone(source)), account, realname)
    }

    fn build(
        kind: EventKind,
        source: Option<Arc<str>>,
        account: Option<Arc<str>>,
        realname: Option<Box<str>>,
    ) -> Self {
        Self(Arc::new(Inner {
            kind,
            source,
            account,
            realname,
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            json: OnceLock::new(),
            text: OnceLock::new(),
            irc: Default::default(),
            irc_more: OnceLock::new(),
        }))
    }

    /// The acting user's ident, if a user acted.
    pub fn source(&self) -> Option<&str> {
        self.0.source.as_deref()
    }

    /// The acting user's account, if they were logged in.
    pub fn account(&self) -> Option<&str> {
        self.0.account.as_deref()
    }

    /// The joining user's real name ([`EventKind::Join`] only).
    pub fn realname(&self) -> Option<&str> {
        self.0.realname.as_deref()
    }

    /// A number unique to this event within the server's run.
    pub fn serial(&self) -> u64 {
        self.0.serial
    }

    /// The IRC line (with `\r\n`) for recipients that take `form`: made by `render` for the
    /// first of them, then shared. The IRC door passes its renderer, so this module depends
    /// on no front door. Forms that make no difference to this event share one line.
    pub fn irc(&self, form: IrcForm, render: impl FnOnce(&Event, IrcForm) -> String) -> Bytes {
        let form = IrcForm {
            account_tag: form.account_tag && self.0.account.is_some(),
            extended_join: form.extended_join && matches!(self.0.kind, EventKind::Join { .. }),
            ..form
        };
        let slot = form.slot();
        let cell = match slot.checked_sub(3) {
            None => &self.0.irc[slot],
            Some(more) => &self.0.irc_more.get_or_init(Default::default)[more],
        };
        cell.get_or_init(|| Bytes::from(render(self, form))).clone()
    }

    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.0.kind
    }

    /// The native protocol line (with `\n`), made once for all recipients.
    pub fn json(&self) -> Bytes {
        self.0
            .json
            .get_or_init(|| {
                // Serializing our own plain structs cannot fail; an empty object keeps the
                // stream valid if it ever did.
                let mut line = serde_json::to_vec(&self.0.kind).unwrap_or_else(|_| b"{}".to_vec());
                line.push(b'\n');
                Bytes::from(line)
            })
            .clone()
    }

    /// The text-mode line (with `\n`): made by `render` (the text door's) for the first
    /// recipient, then shared. Room messages carry no room prefix here: the text front door
    /// adds it for readers whose current room differs.
    pub fn text(&self, render: impl FnOnce(&EventKind) -> String) -> Bytes {
        self.0
            .text
            .get_or_init(|| Bytes::from(render(&self.0.kind)))
            .clone()
    }

    /// The room this event belongs to, if any.
    pub fn room(&self) -> Option<&str> {
        match &self.0.kind {
            EventKind::Chat(m) => Some(&m.to),
            EventKind::Join { room, .. }
            | EventKind::Part { room, .. }
            | EventKind::Topic { room, .. }
            | EventKind::Kick { room, .. }
            | EventKind::Mode { room, .. } => Some(room),
            _ => None,
        }
    }
}
