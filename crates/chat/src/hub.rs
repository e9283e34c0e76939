//! The hub: users, rooms, fan-out. Every front door talks to it through a [`Session`].
//!
//! Design, for many users and no stalls:
//!
//! - One `std::sync::Mutex` guards who is where (users, rooms, topics). It is held only for map
//!   updates and to clone a room's member list, never across an `.await` or a socket write.
//! - A room's member list is copy-on-write (`Arc<Vec<_>>`): joins and parts build a new list,
//!   and a message takes the current one and delivers outside the lock.
//! - Delivery is a push on each member's bounded queue (its [`Inbox`]). A member whose queue is
//!   full is marked evicted (its connection tells it why and hangs up); nobody waits for it.
//! - An [`Event`] is built once per message and shared, bytes included.
//! - History writes go to the SQLite thread ([`crate::history`]); the latest
//!   [`HubConfig::replay`] messages of each open room are also kept in memory for joins.
//!
//! The seam for a second implementation (Redis fan-out and presence, a later issue) is this
//! module's public surface: front doors only use [`Hub`] and [`Session`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use std::task::{Poll, Waker};

use crate::event::{Event, EventKind, Message};
use crate::history::History;
use crate::masks::{wildcard, ListEntry, ListKind, ListRefusal, Lists, USER_HOST};
use crate::names::{check_nick, fold, guest_nick, normalize_room, MAX_TOPIC_LEN};
use crate::watch::Watchers;
use crate::Error;

/// Events queued for one connection before it counts as too slow. At a few hundred bytes an
/// event this bounds a stalled client to about a megabyte.
pub const QUEUE_LEN: usize = 4096;

/// Default number of messages replayed on join.
pub const REPLAY: usize = 50;

/// Default most rooms one user may be in (IRC's CHANLIMIT).
pub const MAX_ROOMS_PER_USER: usize = 20;

/// Longest real name, in bytes.
pub const MAX_REALNAME_LEN: usize = 200;

/// Longest message text, in bytes; the line limit bounds it anyway, this keeps stored rows sane.
pub const MAX_TEXT_LEN: usize = 4000;

/// How the hub behaves.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Welcome text, shown after the line that tells the user their name.
    pub motd: Option<String>,
    /// Where newcomers are placed.
    pub default_room: String,
    /// Messages replayed on join.
    pub replay: usize,
    /// Most rooms per user.
    pub max_rooms_per_user: usize,
    /// Events queued per connection before it is dropped as too slow.
    pub queue_len: usize,
    /// Server operators: name and password, for IRC's OPER.
    pub opers: Vec<(String, String)>,
    /// The server's name in IRC prefixes and numerics (a host name).
    pub server_name: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            motd: None,
            default_room: "#general".into(),
            replay: REPLAY,
            max_rooms_per_user: MAX_ROOMS_PER_USER,
            queue_len: QUEUE_LEN,
            opers: Vec::new(),
            server_name: "prise".into(),
        }
    }
}

/// A room as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoomInfo {
    /// `#name`.
    pub name: String,
    /// Members.
    pub users: usize,
    /// Topic, possibly empty.
    pub topic: String,
}

/// What a join returns to the joiner.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room's display name.
    pub room: String,
    /// Its topic.
    pub topic: String,
    /// Who set the topic and when, if it was set.
    pub topic_set: Option<(String, SystemTime)>,
    /// Its members, sorted by nick.
    pub users: Vec<Member>,
    /// Its latest messages, oldest first.
    pub history: Vec<Message>,
}

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// A room operator (IRC `@`): may kick, invite and change modes.
    pub op: bool,
    /// Voiced (IRC `+`): may talk in a moderated room.
    pub voice: bool,
}

/// A room member as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The nick.
    pub nick: String,
    /// The user part of their address (`nick!ident@host`).
    pub ident: Arc<str>,
    /// Their standing in the room.
    pub status: Status,
}

/// A room's modes (IRC channel modes; see docs/PROTOCOL-chat.md, "Room modes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomModes {
    /// `n`: only members may send to the room.
    pub no_external: bool,
    /// `t`: only operators may set the topic.
    pub topic_ops: bool,
    /// `s`: hidden from room lists and from non-members.
    pub secret: bool,
    /// `i`: joining needs an invitation.
    pub invite_only: bool,
    /// `m`: only operators and voiced members may talk.
    pub moderated: bool,
    /// `k`: joining needs this key.
    pub key: Option<String>,
    /// `l`: at most this many members.
    pub limit: Option<usize>,
}

impl Default for RoomModes {
    /// A new room is `+nt`, as on most IRC servers.
    fn default() -> Self {
        Self {
            no_external: true,
            topic_ops: true,
            secret: false,
            invite_only: false,
            moderated: false,
            key: None,
            limit: None,
        }
    }
}

impl RoomModes {
    /// IRC style: `+klnt` and the values (`key`, `10`); the key is shown only when `show_key`.
    pub fn describe(&self, show_key: bool) -> (String, Vec<String>) {
        let mut flags = String::from("+");
        let mut args = Vec::new();
        if self.invite_only {
            flags.push('i');
        }
        if let Some(key) = &self.key {
            flags.push('k');
            args.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = self.limit {
            flags.push('l');
            args.push(limit.to_string());
        }
        for (on, c) in [
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_ops, 't'),
        ] {
            if on {
                flags.push(c);
            }
        }
        (flags, args)
    }
}

/// One change to a room's modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeChange {
    /// `n`.
    NoExternal(bool),
    /// `t`.
    TopicOps(bool),
    /// `s`.
    Secret(bool),
    /// `i`.
    InviteOnly(bool),
    /// `m`.
    Moderated(bool),
    /// `+k KEY` / `-k`.
    Key(Option<String>),
    /// `+l N` / `-l`.
    Limit(Option<usize>),
    /// `+o NICK` / `-o NICK`.
    Op(String, bool),
    /// `+v NICK` / `-v NICK`.
    Voice(String, bool),
    /// `+b MASK` / `-b MASK`, and the same for `e` and `I`.
    List(ListKind, String, bool),
}

/// Longest room key (IRC's KEYLEN).
pub const MAX_KEY_LEN: usize = 23;

/// Whether `key` can be a room key: 1 to [`MAX_KEY_LEN`] bytes, no spaces, commas or colons
/// at the start (they would not survive an IRC line).
pub fn check_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err("a key is 1 to 23 bytes");
    }
    if !crate::names::is_irc_word(key) {
        return Err("a key has no spaces or commas and does not start with ':'");
    }
    Ok(())
}

/// A user's own modes (IRC user modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserModes {
    /// `i`: not listed to users who share no room with them.
    pub invisible: bool,
    /// `w`: receives WALLOPS.
    pub wallops: bool,
    /// `o`: a server operator.
    pub oper: bool,
}

/// Bits of [`User::flags`].
const INVISIBLE: u16 = 1;
const WALLOPS: u16 = 2;
const OPER: u16 = 4;
const AWAY_NOTIFY: u16 = 8;
/// The connection is subject to the keepalive (it can answer a ping).
const KEEPALIVE: u16 = 16;
/// A ping has been sent since the user was last heard.
const PINGED: u16 = 32;
/// The connection takes client tags and TAGMSG (IRC's `message-tags`).
const TAGS: u16 = 64;
/// The connection wants [`EventKind::Setname`] events (IRC's `setname`).
const SETNAME: u16 = 128;
/// The connection wants to hear of invitations to its rooms (IRC's `invite-notify`).
const INVITE_NOTIFY: u16 = 256;
/// The connection hears of its watched nicks' away and real-name changes, as if it shared a
/// room with them (IRC's `extended-monitor`).
const EXTENDED_MONITOR: u16 = 512;

/// Which optional events a connection wants (IRC capabilities); see [`Session::set_wants`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct Wants {
    /// [`EventKind::Away`] for users sharing a room (and watched ones, with `extended_monitor`).
    pub away: bool,
    /// Client tags and tag-only messages.
    pub tags: bool,
    /// [`EventKind::Setname`].
    pub setname: bool,
    /// [`EventKind::Invite`] for others invited to this user's rooms.
    pub invite_notify: bool,
    /// Away and real-name changes of watched nicks too.
    pub extended_monitor: bool,
}

/// How a message is sent ([`Session::say_with`], [`Session::private_with`]).
#[derive(Debug, Clone, Default)]
pub struct Sending {
    /// A `/me` action.
    pub action: bool,
    /// A notice (IRC's NOTICE): not kept.
    pub notice: bool,
    /// The sender's client-only tags, escaped as received (`+a=b;+c`).
    pub tags: Option<Arc<str>>,
    /// Tags and no text (IRC's TAGMSG): not kept.
    pub tag_only: bool,
}

struct User {
    id: u64,
    /// [`INVISIBLE`], [`WALLOPS`], [`OPER`], [`AWAY_NOTIFY`], [`KEEPALIVE`], [`PINGED`].
    flags: std::sync::atomic::AtomicU16,
    /// When the connection last read something, in milliseconds since the hub started.
    heard: AtomicU64,
    nick: Mutex<String>,
    /// The user part of `nick!user@host` (IRC's USER name, or the front door's name).
    ident: Arc<str>,
    /// IRC's "real name"; empty for other front doors.
    realname: Mutex<Box<str>>,
    /// The away message, when away.
    away: Mutex<Option<String>>,
    /// Folded keys of the rooms this user is in, in join order.
    rooms: Mutex<Vec<String>>,
    /// Events on their way to this user's connection.
    outbox: Mutex<Outbox>,
    /// Most events the outbox holds before the user counts as too slow.
    queue_len: usize,
}

/// A user's queue: filled by the hub without ever waiting, drained by the connection.
///
/// A `VecDeque` under the user's own lock rather than a channel: an idle connection's queue
/// holds no allocation at all (a tokio channel keeps about 0.9 KiB of blocks per connection
/// once a burst has passed through it), and eviction is a flag in the same place.
#[derive(Default)]
struct Outbox {
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// Set when the connection must end: it says why and hangs up.
    gone: Option<Gone>,
}

impl User {
    fn nick(&self) -> String {
        lock(&self.nick).clone()
    }

    fn has(&self, flag: u16) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    fn set(&self, flag: u16, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    fn send(&self, event: &Event) {
        let mut outbox = lock(&self.outbox);
        if outbox.gone.is_some() {
            return;
        }
        if outbox.events.len() >= self.queue_len {
            // Too slow: drop what is queued (it will never be read) and let the connection
            // say why and hang up.
            outbox.gone = Some(Gone::TooSlow);
            outbox.events = VecDeque::new();
            tracing::info!(nick = %self.nick(), "client too slow; disconnecting it");
        } else {
            outbox.events.push_back(event.clone());
        }
        let waker = outbox.waker.take();
        drop(outbox);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// End this user's connection: it says `why` and hangs up.
    fn close(&self, why: Gone) {
        let mut outbox = lock(&self.outbox);
        if outbox.gone.is_none() {
            outbox.gone = Some(why);
            outbox.events = VecDeque::new();
        }
        let waker = outbox.waker.take();
        drop(outbox);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn new(id: u64, nick: &str, ident: &str, realname: &str, queue_len: usize) -> Self {
        Self {
            id,
            flags: std::sync::atomic::AtomicU16::new(0),
            heard: AtomicU64::new(0),
            nick: Mutex::new(nick.to_owned()),
            ident: Arc::from(ident),
            realname: Mutex::new(one_line(realname).into()),
            away: Mutex::new(None),
            rooms: Mutex::new(Vec::new()),
            outbox: Mutex::new(Outbox::default()),
            queue_len: queue_len.max(1),
        }
    }
}

/// Why the hub ended a user's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gone {
    /// Its queue overflowed: it does not read fast enough.
    TooSlow,
    /// A server operator disconnected it; the text is the quit reason others see.
    Killed(String),
    /// The server is shutting down.
    Shutdown,
    /// It stayed silent through a ping and as long again (see [`Hub::keepalive`]).
    TimedOut,
}

/// A connection's end of its user's queue.
pub struct Inbox {
    user: Arc<User>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    /// The next event; [`Gone`] once the hub has ended the connection.
    ///
    /// # Errors
    /// [`Gone`].
    ///
    /// # Cancel safety
    /// Cancel safe: an event is taken from the queue only when this returns it.
    pub async fn recv(&mut self) -> Result<Event, Gone> {
        std::future::poll_fn(|cx| {
            let mut outbox = lock(&self.user.outbox);
            if let Some(gone) = &outbox.gone {
                return Poll::Ready(Err(gone.clone()));
            }
            match outbox.events.pop_front() {
                Some(event) => {
                    release_if_drained(&mut outbox.events);
                    Poll::Ready(Ok(event))
                }
                None => {
                    outbox.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Up to `max` more events already queued, without waiting.
    pub fn try_recv_many(&mut self, max: usize) -> Vec<Event> {
        let mut outbox = lock(&self.user.outbox);
        let n = max.min(outbox.events.len());
        let taken: Vec<Event> = outbox.events.drain(..n).collect();
        release_if_drained(&mut outbox.events);
        taken
    }
}

/// Give back a drained queue's storage: an idle connection holds no queue memory.
fn release_if_drained(events: &mut VecDeque<Event>) {
    if events.is_empty() && events.capacity() > 0 {
        *events = VecDeque::new();
    }
}

struct Room {
    name: String,
    topic: String,
    members: Arc<Vec<Arc<User>>>,
    recent: VecDeque<Message>,
    modes: RoomModes,
    /// Ids of the members who are operators: the first member, and whoever an operator makes one.
    ops: Vec<u64>,
    /// Ids of the voiced members.
    voiced: Vec<u64>,
    /// Ids of users invited and not yet joined (bounded: the oldest go first).
    invited: VecDeque<u64>,
    /// Bans, ban exceptions, invite exceptions.
    lists: Lists,
    /// When the room was opened.
    created: SystemTime,
    /// Who set the topic and when.
    topic_set: Option<(String, SystemTime)>,
}

/// Most pending invitations a room keeps.
const MAX_INVITED: usize = 100;

impl Room {
    fn new(name: String, recent: VecDeque<Message>) -> Self {
        Self {
            name,
            topic: String::new(),
            members: Arc::new(Vec::new()),
            recent,
            modes: RoomModes::default(),
            ops: Vec::new(),
            voiced: Vec::new(),
            invited: VecDeque::new(),
            lists: Lists::default(),
            created: SystemTime::now(),
            topic_set: None,
        }
    }

    fn has(&self, id: u64) -> bool {
        self.members.iter().any(|m| m.id == id)
    }

    fn status(&self, id: u64) -> Status {
        Status {
            op: self.ops.contains(&id),
            voice: self.voiced.contains(&id),
        }
    }

    fn member(&self, user: &User) -> Member {
        Member {
            nick: user.nick(),
            ident: Arc::clone(&user.ident),
            status: self.status(user.id),
        }
    }

    /// Take a user out of the member list and its standing; returns who remains.
    fn remove(&mut self, id: u64) -> Arc<Vec<Arc<User>>> {
        let remaining: Vec<Arc<User>> = room_members_except(&self.members, id).cloned().collect();
        self.members = Arc::new(remaining);
        self.ops.retain(|&o| o != id);
        self.voiced.retain(|&v| v != id);
        Arc::clone(&self.members)
    }

    /// Whether `user` is banned here (a ban matches, no exception does).
    fn banned(&self, user: &User) -> bool {
        self.lists.banned(&user.nick(), &user.ident)
    }

    /// Whether a user who is not a member may see the room's members (not secret).
    fn visible_to(&self, id: u64) -> bool {
        !self.modes.secret || self.has(id)
    }
}

#[derive(Default)]
struct State {
    users: HashMap<String, Arc<User>>,
    /// MONITOR lists.
    watch: Watchers<Arc<User>>,
    rooms: HashMap<String, Room>,
    /// Set by [`Hub::shut_down`]: users who arrive later are told at once.
    closing: bool,
}

struct Inner {
    config: HubConfig,
    /// The clock of [`User::heard`].
    started: tokio::time::Instant,
    state: Mutex<State>,
    next_id: AtomicU64,
    next_user: AtomicU64,
    history: Option<History>,
}

/// What the hub knows about a user, for IRC's WHO and WHOIS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The nick.
    pub nick: String,
    /// The user part of the user's address.
    pub ident: Arc<str>,
    /// The "real name" (IRC), possibly empty.
    pub realname: String,
    /// The away message, when away.
    pub away: Option<String>,
    /// Rooms the user is in, in join order, with their standing there; secret rooms only
    /// when the asker is in them too.
    pub rooms: Vec<(String, Status)>,
    /// The user's modes.
    pub modes: UserModes,
    /// How long since the user's connection last sent anything.
    pub idle: std::time::Duration,
}

impl User {
    /// What `viewer` may know of this user.
    fn info(&self, state: &State, viewer: u64, now_ms: u64) -> UserInfo {
        UserInfo {
            nick: self.nick(),
            ident: Arc::clone(&self.ident),
            realname: lock(&self.realname).to_string(),
            away: lock(&self.away).clone(),
            rooms: lock(&self.rooms)
                .iter()
                .filter_map(|key| state.rooms.get(key))
                .filter(|r| r.visible_to(viewer))
                .map(|r| (r.name.clone(), r.status(self.id)))
                .collect(),
            modes: self.modes(),
            idle: std::time::Duration::from_millis(
                now_ms.saturating_sub(self.heard.load(Ordering::Relaxed)),
            ),
        }
    }

    fn modes(&self) -> UserModes {
        UserModes {
            invisible: self.has(INVISIBLE),
            wallops: self.has(WALLOPS),
            oper: self.has(OPER),
        }
    }

    /// Whether this user shares a room with the user `other`.
    fn shares_room(&self, state: &State, other: u64) -> bool {
        lock(&self.rooms)
            .iter()
            .filter_map(|key| state.rooms.get(key))
            .any(|r| r.has(other))
    }
}

/// Numbers for IRC's LUSERS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Users connected.
    pub users: usize,
    /// Of them, invisible (user mode `i`).
    pub invisible: usize,
    /// Of them, server operators.
    pub opers: usize,
    /// Rooms open.
    pub rooms: usize,
}

/// Lock a mutex, recovering from poisoning: our critical sections leave the data consistent at
/// every step, so a panic elsewhere does not make it unusable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The shared chat state. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub, with history in `history` when given. `last_id` is the highest message id already
    /// stored, so ids keep increasing across restarts.
    pub fn new(config: HubConfig, history: Option<(History, u64)>) -> Self {
        let (history, last_id) = match history {
            Some((h, last)) => (Some(h), last),
            None => (None, 0),
        };
        Self {
            inner: Arc::new(Inner {
                config,
                started: tokio::time::Instant::now(),
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(last_id + 1),
                next_user: AtomicU64::new(1),
                history,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Register a new user: with `nick` if given and free, else a guest nick. Returns the
    /// session, its event queue, and why the asked-for nick was refused, if it was. `ident`
    /// is the user part of its address as IRC users see it (the front door's name).
    pub fn connect(&self, nick: Option<&str>, ident: &str) -> (Session, Inbox, Option<Error>) {
        let mut refused = None;
        let state = lock(&self.inner.state);
        let chosen = match nick.map(|n| (n, check_nick(n))) {
            Some((n, Ok(()))) if !state.users.contains_key(&fold(n)) => n.to_owned(),
            Some((n, Ok(()))) => {
                refused = Some(Error::NickTaken(n.to_owned()));
                Self::free_guest(&state)
            }
            Some((n, Err(reason))) => {
                refused = Some(Error::NickInvalid {
                    nick: n.to_owned(),
                    reason,
                });
                Self::free_guest(&state)
            }
            None => Self::free_guest(&state),
        };
        let (session, inbox) = self.add_user(state, &chosen, ident, "");
        (session, inbox, refused)
    }

    /// Register a new user with exactly `nick` (IRC registration: a taken nick is an error to
    /// answer, not a reason to pick another).
    ///
    /// # Errors
    /// [`Error::NickInvalid`], [`Error::NickTaken`].
    pub fn register(
        &self,
        nick: &str,
        ident: &str,
        realname: &str,
    ) -> Result<(Session, Inbox), Error> {
        check_nick(nick).map_err(|reason| Error::NickInvalid {
            nick: nick.to_owned(),
            reason,
        })?;
        let state = lock(&self.inner.state);
        if state.users.contains_key(&fold(nick)) {
            return Err(Error::NickTaken(nick.to_owned()));
        }
        Ok(self.add_user(state, nick, ident, realname))
    }

    /// Create a user under `nick` (checked free by the caller, under the same lock) and its
    /// session and queue. A user arriving during shutdown is told at once.
    fn add_user(
        &self,
        mut state: MutexGuard<'_, State>,
        nick: &str,
        ident: &str,
        realname: &str,
    ) -> (Session, Inbox) {
        let user = Arc::new(User::new(
            self.inner.next_user.fetch_add(1, Ordering::Relaxed),
            nick,
            ident,
            realname,
            self.inner.config.queue_len,
        ));
        user.heard.store(self.now_ms(), Ordering::Relaxed);
        state.users.insert(fold(nick), Arc::clone(&user));
        if state.closing {
            user.close(Gone::Shutdown);
        }
        let watchers = state.watch.watching(nick);
        drop(state);
        monitor_notice(&watchers, true, &address(nick, &user.ident));
        let inbox = Inbox {
            user: Arc::clone(&user),
        };
        let session = Session {
            hub: self.clone(),
            user,
            quit_reason: Mutex::new(String::new()),
        };
        (session, inbox)
    }

    /// Users connected and rooms open.
    pub fn counts(&self) -> Counts {
        let state = lock(&self.inner.state);
        Counts {
            users: state.users.len(),
            invisible: state.users.values().filter(|u| u.has(INVISIBLE)).count(),
            opers: state.users.values().filter(|u| u.has(OPER)).count(),
            rooms: state.rooms.len(),
        }
    }

    fn free_guest(state: &State) -> String {
        let mut attempt = 0;
        loop {
            let nick = guest_nick(attempt);
            if !state.users.contains_key(&fold(&nick)) {
                return nick;
            }
            attempt += 1;
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The keepalive of every connection that asked for it ([`Session::set_keepalive`]): one
    /// task for the whole server instead of a timer in each connection. A connection silent
    /// for `period` gets a [`EventKind::Ping`]; silent for twice `period`, it is ended with
    /// [`Gone::TimedOut`]. Checks four times a period, so a ping comes between 1 and 1.25
    /// periods of silence. Runs until the returned future is dropped.
    pub async fn keepalive(&self, period: std::time::Duration) {
        let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut tick =
            tokio::time::interval((period / 4).max(std::time::Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = self.now_ms();
            let users: Vec<Arc<User>> = lock(&self.inner.state)
                .users
                .values()
                .filter(|u| u.has(KEEPALIVE))
                .cloned()
                .collect();
            let mut ping: Option<Event> = None;
            for user in users {
                let silent = now.saturating_sub(user.heard.load(Ordering::Relaxed));
                if silent >= period_ms.saturating_mul(2) {
                    user.close(Gone::TimedOut);
                } else if silent >= period_ms && !user.has(PINGED) {
                    user.set(PINGED, true);
                    let event = ping.get_or_insert_with(|| {
                        Event::new(EventKind::Ping {
                            token: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                        })
                    });
                    user.send(event);
                }
            }
        }
    }

    /// End every connection (and any that registers from now on) with [`Gone::Shutdown`]:
    /// each front door says goodbye in its own words and closes. One flag in each user's
    /// queue, rather than a shutdown future held by every connection.
    pub fn shut_down(&self) {
        let mut state = lock(&self.inner.state);
        state.closing = true;
        let users: Vec<Arc<User>> = state.users.values().cloned().collect();
        drop(state);
        for user in users {
            user.close(Gone::Shutdown);
        }
    }

    /// Tell every connected user something (shutdown notices).
    pub fn broadcast_system(&self, text: &str) {
        let event = Event::new(EventKind::System {
            ts: SystemTime::now(),
            text: one_line(text),
        });
        let users: Vec<Arc<User>> = lock(&self.inner.state).users.values().cloned().collect();
        for user in users {
            user.send(&event);
        }
    }

    /// Number of connected users.
    pub fn user_count(&self) -> usize {
        lock(&self.inner.state).users.len()
    }

    /// Wait until every message accepted so far is in the history database.
    pub async fn flush(&self) {
        if let Some(history) = &self.inner.history {
            history.flush().await;
        }
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// One user's handle on the hub. Dropping it is a quit: the user leaves every room and the
/// others are told.
pub struct Session {
    hub: Hub,
    user: Arc<User>,
    quit_reason: Mutex<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("nick", &self.user.nick())
            .finish_non_exhaustive()
    }
}

fn room_members_except(members: &[Arc<User>], id: u64) -> impl Iterator<Item = &Arc<User>> {
    members.iter().filter(move |m| m.id != id)
}

impl Session {
    /// The current nick.
    pub fn nick(&self) -> String {
        self.user.nick()
    }

    /// The user part of this user's address.
    pub fn ident(&self) -> Arc<str> {
        Arc::clone(&self.user.ident)
    }

    /// Set (`Some`) or clear (`None`) this user's away message. Users sharing a room who
    /// asked for it ([`Session::set_wants`]) are told.
    pub fn set_away(&self, message: Option<&str>) {
        let message = message.map(one_line);
        *lock(&self.user.away) = message.clone();
        let audience: Vec<Arc<User>> = {
            let state = lock(&self.hub.inner.state);
            self.notified(&state, AWAY_NOTIFY)
        };
        if audience.is_empty() {
            return;
        }
        self.tell(
            &audience,
            EventKind::Away {
                ts: SystemTime::now(),
                nick: self.nick(),
                message,
            },
        );
    }

    /// Send an event done by this user to `audience`.
    fn tell(&self, audience: &[Arc<User>], kind: EventKind) {
        let event = Event::with_source(kind, &self.user.ident);
        for member in audience {
            member.send(&event);
        }
    }

    /// Put this connection under the hub's keepalive ([`Hub::keepalive`]): for clients that
    /// answer pings (IRC, native), not for a person typing into nc.
    pub fn set_keepalive(&self, on: bool) {
        self.heard();
        self.user.set(KEEPALIVE, on);
    }

    /// The connection read something from its client: it is alive.
    pub fn heard(&self) {
        self.user.heard.store(self.hub.now_ms(), Ordering::Relaxed);
        if self.user.has(PINGED) {
            self.user.set(PINGED, false);
        }
    }

    /// Which optional events this user's connection wants (its IRC capabilities).
    pub fn set_wants(&self, wants: Wants) {
        self.user.set(AWAY_NOTIFY, wants.away);
        self.user.set(TAGS, wants.tags);
        self.user.set(SETNAME, wants.setname);
        self.user.set(INVITE_NOTIFY, wants.invite_notify);
        self.user.set(EXTENDED_MONITOR, wants.extended_monitor);
    }

    /// Who hears of a change of this user that goes to connections with `flag`: those who
    /// share a room and those who watch the nick with extended-monitor, each once, not this
    /// user.
    fn notified(&self, state: &State, flag: u16) -> Vec<Arc<User>> {
        let mut audience: Vec<Arc<User>> = self
            .co_members(state)
            .into_iter()
            .filter(|u| u.has(flag))
            .collect();
        for watcher in state.watch.watching(&self.user.nick()) {
            if watcher.has(EXTENDED_MONITOR)
                && watcher.has(flag)
                && watcher.id != self.user.id
                && !audience.iter().any(|u| u.id == watcher.id)
            {
                audience.push(watcher);
            }
        }
        audience
    }

    /// Change this user's real name (IRC's SETNAME). Everyone who hears of it (see
    /// [`Session::set_wants`]) gets [`EventKind::Setname`], this user's connection too.
    ///
    /// # Errors
    /// [`Error::RealnameInvalid`]: empty or over [`MAX_REALNAME_LEN`] bytes.
    pub fn set_realname(&self, realname: &str) -> Result<(), Error> {
        let realname = one_line(realname);
        if realname.trim().is_empty() || realname.len() > MAX_REALNAME_LEN {
            return Err(Error::RealnameInvalid(MAX_REALNAME_LEN));
        }
        *lock(&self.user.realname) = realname.clone().into();
        let mut audience = {
            let state = lock(&self.hub.inner.state);
            self.notified(&state, SETNAME)
        };
        if self.user.has(SETNAME) {
            audience.push(Arc::clone(&self.user));
        }
        self.tell(
            &audience,
            EventKind::Setname {
                ts: SystemTime::now(),
                nick: self.nick(),
                realname,
            },
        );
        Ok(())
    }

    /// Watch nicks (IRC's `MONITOR +`). Returns the addresses of those online, the nicks of
    /// those offline, and the nicks that did not fit in the list ([`crate::watch::MAX_WATCHED`]).
    pub fn monitor_add(&self, nicks: &[&str]) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut state = lock(&self.hub.inner.state);
        let (mut online, mut offline, mut full) = (Vec::new(), Vec::new(), Vec::new());
        for nick in nicks {
            if check_nick(nick).is_err() {
                continue;
            }
            if !state.watch.add(self.user.id, &self.user, nick) {
                full.push((*nick).to_owned());
                continue;
            }
            match state.users.get(&fold(nick)) {
                Some(user) => online.push(address(&user.nick(), &user.ident)),
                None => offline.push((*nick).to_owned()),
            }
        }
        (online, offline, full)
    }

    /// Stop watching nicks (`MONITOR -`).
    pub fn monitor_remove(&self, nicks: &[&str]) {
        let mut state = lock(&self.hub.inner.state);
        for nick in nicks {
            state.watch.remove(self.user.id, nick);
        }
    }

    /// Stop watching anyone (`MONITOR C`).
    pub fn monitor_clear(&self) {
        lock(&self.hub.inner.state).watch.clear(self.user.id);
    }

    /// The nicks watched (`MONITOR L`), and which are online now (`MONITOR S`): the addresses
    /// of those online, the nicks of the others.
    pub fn monitor_list(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let state = lock(&self.hub.inner.state);
        let list = state.watch.list(self.user.id);
        let (mut online, mut offline) = (Vec::new(), Vec::new());
        for nick in &list {
            match state.users.get(&fold(nick)) {
                Some(user) => online.push(address(&user.nick(), &user.ident)),
                None => offline.push(nick.clone()),
            }
        }
        (list, online, offline)
    }

    /// The away message of the user called `nick`, if there is one and they are away.
    pub fn away_message(&self, nick: &str) -> Option<String> {
        let user = lock(&self.hub.inner.state)
            .users
            .get(&fold(nick))
            .cloned()?;
        let away = lock(&user.away).clone();
        away
    }

    /// What the hub knows about the user called `nick`, as this user may see it.
    pub fn whois(&self, nick: &str) -> Option<UserInfo> {
        let state = lock(&self.hub.inner.state);
        state
            .users
            .get(&fold(nick))
            .map(|u| u.info(&state, self.user.id, self.hub.now_ms()))
    }

    /// The members of a room with their details and standing (IRC's WHO), and the room's
    /// display name. A non-member sees nothing of a secret room and no invisible members.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when no such room is open.
    pub fn who(&self, room: &str) -> Result<(String, Vec<(UserInfo, Status)>), Error> {
        let name = room_name(room)?;
        let state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        let inside = room.has(self.user.id);
        let members = if room.visible_to(self.user.id) {
            room.members
                .iter()
                .filter(|m| inside || !m.has(INVISIBLE))
                .map(|m| {
                    (
                        m.info(&state, self.user.id, self.hub.now_ms()),
                        room.status(m.id),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok((room.name.clone(), members))
    }

    /// Users whose nick matches `mask` (`*` and `?` wildcards, case-insensitive), as IRC's
    /// `WHO mask`: invisible users only when they share a room with this user, or when the
    /// mask is their exact nick (no wildcard). At most `max`.
    pub fn who_mask(&self, mask: &str, max: usize) -> Vec<UserInfo> {
        let pattern = fold(mask);
        let exact = !mask.contains(['*', '?']);
        let state = lock(&self.hub.inner.state);
        let mut found: Vec<UserInfo> = state
            .users
            .iter()
            .filter(|(key, _)| wildcard(&pattern, key))
            .filter(|(_, u)| {
                exact
                    || u.id == self.user.id
                    || !u.has(INVISIBLE)
                    || self.user.shares_room(&state, u.id)
            })
            .take(max)
            .map(|(_, u)| u.info(&state, self.user.id, self.hub.now_ms()))
            .collect();
        drop(state);
        found.sort_by_cached_key(|i| fold(&i.nick));
        found
    }

    /// This user's modes.
    pub fn user_modes(&self) -> UserModes {
        self.user.modes()
    }

    /// Set or clear one of this user's own modes: `i` and `w` freely, `o` only off (OPER sets
    /// it). Returns whether it changed.
    pub fn set_user_mode(&self, mode: char, on: bool) -> bool {
        let flag = match (mode, on) {
            ('i', _) => INVISIBLE,
            ('w', _) => WALLOPS,
            ('o', false) => OPER,
            _ => return false,
        };
        let before = self.user.has(flag);
        self.user.set(flag, on);
        before != on
    }

    /// Become a server operator with a name and password from [`HubConfig::opers`]. An
    /// operator also receives WALLOPS.
    ///
    /// # Errors
    /// [`Error::BadOperLogin`].
    pub fn oper(&self, name: &str, password: &str) -> Result<(), Error> {
        let known = self
            .hub
            .inner
            .config
            .opers
            .iter()
            .fold(false, |found, (n, p)| {
                // Every entry is compared in full: the time taken says nothing of which matched.
                found
                    | (prise_core::same_secret(n.as_bytes(), name.as_bytes())
                        & prise_core::same_secret(p.as_bytes(), password.as_bytes()))
            });
        if !known {
            tracing::warn!(nick = %self.nick(), name, "failed OPER attempt");
            return Err(Error::BadOperLogin);
        }
        tracing::info!(nick = %self.nick(), name, "server operator logged in");
        self.user.set(OPER | WALLOPS, true);
        Ok(())
    }

    /// Disconnect the user called `nick` (a server operator's KILL). Returns their nick.
    ///
    /// # Errors
    /// [`Error::NotServerOperator`], [`Error::NoSuchUser`].
    pub fn kill(&self, nick: &str, reason: &str) -> Result<String, Error> {
        if !self.user.has(OPER) {
            return Err(Error::NotServerOperator);
        }
        let target = lock(&self.hub.inner.state)
            .users
            .get(&fold(nick))
            .cloned()
            .ok_or_else(|| Error::NoSuchUser(nick.to_owned()))?;
        let reason = one_line(reason);
        let reason = if reason.is_empty() {
            "no reason"
        } else {
            &reason
        };
        tracing::info!(by = %self.nick(), target = %target.nick(), reason, "KILL");
        target.close(Gone::Killed(format!("Killed ({} ({reason}))", self.nick())));
        Ok(target.nick())
    }

    /// Send a message to every user who takes WALLOPS (server operators only).
    ///
    /// # Errors
    /// [`Error::NotServerOperator`], [`Error::EmptyMessage`].
    pub fn wallops(&self, text: &str) -> Result<(), Error> {
        if !self.user.has(OPER) {
            return Err(Error::NotServerOperator);
        }
        if text.trim().is_empty() {
            return Err(Error::EmptyMessage);
        }
        let audience: Vec<Arc<User>> = lock(&self.hub.inner.state)
            .users
            .values()
            .filter(|u| u.has(WALLOPS))
            .cloned()
            .collect();
        let event = Event::with_source(
            EventKind::Wallops {
                ts: SystemTime::now(),
                from: self.nick(),
                text: one_line(truncate(text, MAX_TEXT_LEN)),
            },
            &self.user.ident,
        );
        for user in &audience {
            user.send(&event);
        }
        Ok(())
    }

    /// Display names of the rooms this user is in, in join order.
    pub fn rooms(&self) -> Vec<String> {
        let state = lock(&self.hub.inner.state);
        lock(&self.user.rooms)
            .iter()
            .filter_map(|key| state.rooms.get(key).map(|r| r.name.clone()))
            .collect()
    }

    /// Set the reason given to others when this session ends.
    pub fn set_quit_reason(&self, reason: &str) {
        *lock(&self.quit_reason) = one_line(reason);
    }

    /// Change nick. Everyone sharing a room with this user is told.
    ///
    /// # Errors
    /// [`Error::NickInvalid`], [`Error::NickTaken`].
    pub fn set_nick(&self, new: &str) -> Result<String, Error> {
        check_nick(new).map_err(|reason| Error::NickInvalid {
            nick: new.to_owned(),
            reason,
        })?;
        let new_key = fold(new);
        let mut state = lock(&self.hub.inner.state);
        let old = self.user.nick();
        let old_key = fold(&old);
        if new_key != old_key && state.users.contains_key(&new_key) {
            return Err(Error::NickTaken(new.to_owned()));
        }
        if old == new {
            return Ok(old);
        }
        state.users.remove(&old_key);
        state.users.insert(new_key.clone(), Arc::clone(&self.user));
        *lock(&self.user.nick) = new.to_owned();
        let audience = self.co_members(&state);
        // A new nick (not a change of case) is a quit and an arrival to MONITOR.
        let (gone, come) = if new_key == old_key {
            (Vec::new(), Vec::new())
        } else {
            (state.watch.watching(&old), state.watch.watching(new))
        };
        drop(state);
        monitor_notice(&gone, false, &old);
        monitor_notice(&come, true, &address(new, &self.user.ident));
        let event = Event::with_source(
            EventKind::Nick {
                ts: SystemTime::now(),
                old: old.clone(),
                new: new.to_owned(),
            },
            &self.user.ident,
        );
        for member in &audience {
            member.send(&event);
        }
        Ok(old)
    }

    /// Everyone who shares a room with this user, once each, without the user.
    fn co_members(&self, state: &State) -> Vec<Arc<User>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for key in lock(&self.user.rooms).iter() {
            if let Some(room) = state.rooms.get(key) {
                for member in room_members_except(&room.members, self.user.id) {
                    if seen.insert(member.id) {
                        out.push(Arc::clone(member));
                    }
                }
            }
        }
        out
    }

    /// Join a room, creating it (and loading its history) if needed; whoever creates a room
    /// is its operator. `key` is for a room with a key (mode `k`). Joining a room one is
    /// already in just returns its state.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::TooManyRooms`], [`Error::InviteOnly`],
    /// [`Error::BadKey`], [`Error::RoomFull`], [`Error::History`].
    pub async fn join(&self, room: &str, key: Option<&str>) -> Result<Joined, Error> {
        let name = room_name(room)?;
        let key_folded = fold(&name);
        let exists = lock(&self.hub.inner.state).rooms.contains_key(&key_folded);
        let loaded = match (&self.hub.inner.history, exists) {
            (Some(history), false) => Some(
                history
                    .recent(&name, None, self.hub.inner.config.replay)
                    .await?
                    .0,
            ),
            _ => None,
        };
        let mut state = lock(&self.hub.inner.state);
        let already = lock(&self.user.rooms).contains(&key_folded);
        if !already && lock(&self.user.rooms).len() >= self.hub.inner.config.max_rooms_per_user {
            return Err(Error::TooManyRooms(
                self.hub.inner.config.max_rooms_per_user,
            ));
        }
        let room = state
            .rooms
            .entry(key_folded.clone())
            .or_insert_with(|| Room::new(name.clone(), loaded.unwrap_or_default().into()));
        if !already {
            // An invitation opens every lock: invite-only, key and limit.
            let invited = room.invited.iter().position(|&id| id == self.user.id);
            if invited.is_none() {
                if room.banned(&self.user) {
                    return Err(Error::Banned(room.name.clone()));
                }
                if room.modes.invite_only
                    && !room
                        .lists
                        .invited_by_mask(&self.user.nick(), &self.user.ident)
                {
                    return Err(Error::InviteOnly(room.name.clone()));
                }
                if room.modes.key.as_deref().is_some_and(|k| Some(k) != key) {
                    return Err(Error::BadKey(room.name.clone()));
                }
                if room.modes.limit.is_some_and(|l| room.members.len() >= l) {
                    return Err(Error::RoomFull(room.name.clone()));
                }
            }
            if let Some(at) = invited {
                room.invited.remove(at);
            }
            if room.members.is_empty() {
                room.ops.push(self.user.id);
            }
            let mut members: Vec<Arc<User>> = room.members.as_ref().clone();
            members.push(Arc::clone(&self.user));
            room.members = Arc::new(members);
            let mut rooms = lock(&self.user.rooms);
            // Exact: most users are in one or two rooms, and a default growth to four
            // entries would be most of an idle user's memory after its task.
            rooms.reserve_exact(1);
            rooms.push(key_folded.clone());
            drop(rooms);
        }
        let mut history: Vec<Message> = room.recent.iter().cloned().collect();
        for m in &mut history {
            m.to.clone_from(&room.name);
        }
        let mut users: Vec<Member> = room.members.iter().map(|m| room.member(m)).collect();
        users.sort_by_cached_key(|m| fold(&m.nick));
        let joined = Joined {
            room: room.name.clone(),
            topic: room.topic.clone(),
            topic_set: room.topic_set.clone(),
            users,
            history,
        };
        let members = Arc::clone(&room.members);
        drop(state);
        if !already {
            let nick = self.nick();
            let event = Event::with_source(
                EventKind::Join {
                    ts: SystemTime::now(),
                    room: joined.room.clone(),
                    nick: nick.clone(),
                },
                &self.user.ident,
            );
            for member in room_members_except(&members, self.user.id) {
                member.send(&event);
            }
            // away-notify: who joins while away is announced as away.
            let away = lock(&self.user.away).clone();
            if let Some(message) = away {
                let event = Event::with_source(
                    EventKind::Away {
                        ts: SystemTime::now(),
                        nick,
                        message: Some(message),
                    },
                    &self.user.ident,
                );
                for member in room_members_except(&members, self.user.id) {
                    if member.has(AWAY_NOTIFY) {
                        member.send(&event);
                    }
                }
            }
        }
        Ok(joined)
    }

    /// Leave a room. Returns its display name.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`].
    pub fn part(&self, room: &str, reason: &str) -> Result<String, Error> {
        let name = room_name(room)?;
        let key = fold(&name);
        let mut state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get_mut(&key) else {
            return Err(Error::NotInRoom(name));
        };
        if !room.has(self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        let remaining = room.remove(self.user.id);
        let display = room.name.clone();
        lock(&self.user.rooms).retain(|k| k != &key);
        if remaining.is_empty() {
            state.rooms.remove(&key);
        }
        drop(state);
        let event = Event::with_source(
            EventKind::Part {
                ts: SystemTime::now(),
                room: display.clone(),
                nick: self.nick(),
                reason: one_line(reason),
            },
            &self.user.ident,
        );
        for member in remaining.iter() {
            member.send(&event);
        }
        Ok(display)
    }

    /// Say something in a room. Returns the message (with its id); everyone else in the room
    /// gets it. Only members may (unless the room is `-n`), and only operators and voiced
    /// members in a moderated (`+m`) room.
    ///
    /// # Errors
    /// [`Error::EmptyMessage`], [`Error::RoomInvalid`], [`Error::NotInRoom`] (no such room),
    /// [`Error::CannotSend`].
    pub async fn say(&self, room: &str, text: &str, action: bool) -> Result<Message, Error> {
        let how = Sending {
            action,
            ..Sending::default()
        };
        self.say_with(room, text, how).await
    }

    /// Send a notice to a room: a message no program answers automatically (IRC's NOTICE).
    /// Delivered as [`Session::say`] delivers, but neither kept in history nor replayed.
    ///
    /// # Errors
    /// As [`Session::say`].
    pub async fn notice(&self, room: &str, text: &str) -> Result<Message, Error> {
        let how = Sending {
            notice: true,
            ..Sending::default()
        };
        self.say_with(room, text, how).await
    }

    /// Say something in a room as `how` says: an action, a notice, with client-only tags, or
    /// tags alone (IRC's TAGMSG: `text` is ignored, and only members whose connection takes
    /// tags get it). Notices and tag messages are not kept.
    ///
    /// # Errors
    /// As [`Session::say`].
    pub async fn say_with(&self, room: &str, text: &str, how: Sending) -> Result<Message, Error> {
        let Sending {
            action,
            notice,
            tags: client_tags,
            tag_only,
        } = how;
        let keep = !notice && !tag_only;
        if text.trim().is_empty() && !tag_only {
            return Err(Error::EmptyMessage);
        }
        let name = room_name(room)?;
        let key = fold(&name);
        let replay = self.hub.inner.config.replay;
        // The guard lives in this block only, so no lock is held across the history await.
        let (message, members) = {
            let mut state = lock(&self.hub.inner.state);
            let Some(room) = state.rooms.get_mut(&key) else {
                return Err(Error::NotInRoom(name));
            };
            let inside = room.has(self.user.id);
            if !inside && room.modes.no_external {
                return Err(Error::CannotSend(room.name.clone()));
            }
            let status = room.status(self.user.id);
            // A banned member is muted; operators and voiced members are not.
            if (room.modes.moderated || room.banned(&self.user)) && !status.op && !status.voice {
                return Err(Error::CannotSend(room.name.clone()));
            }
            let message = Message {
                id: self.hub.next_id(),
                ts: SystemTime::now(),
                from: self.nick(),
                to: room.name.clone(),
                text: if tag_only {
                    String::new()
                } else {
                    one_line(truncate(text, MAX_TEXT_LEN))
                },
                action,
                notice,
                client_tags,
                tag_only,
            };
            if replay > 0 && keep {
                if room.recent.len() >= replay {
                    room.recent.pop_front();
                }
                room.recent.push_back(message.clone());
            }
            (message, Arc::clone(&room.members))
        };
        let event = Event::with_source(EventKind::Chat(message.clone()), &self.user.ident);
        for member in room_members_except(&members, self.user.id) {
            if !tag_only || member.has(TAGS) {
                member.send(&event);
            }
        }
        if let (Some(history), true) = (&self.hub.inner.history, keep) {
            history.store(message.clone()).await;
        }
        Ok(message)
    }

    /// Send a private message.
    ///
    /// # Errors
    /// [`Error::EmptyMessage`], [`Error::NoSuchUser`].
    pub fn private(&self, to: &str, text: &str, action: bool) -> Result<Message, Error> {
        let how = Sending {
            action,
            ..Sending::default()
        };
        self.private_with(to, text, how)
    }

    /// Send a private notice (IRC's NOTICE to a nick).
    ///
    /// # Errors
    /// As [`Session::private`].
    pub fn private_notice(&self, to: &str, text: &str) -> Result<Message, Error> {
        let how = Sending {
            notice: true,
            ..Sending::default()
        };
        self.private_with(to, text, how)
    }

    /// Send a private message as `how` says (see [`Session::say_with`]); a tag message goes
    /// only to a connection that takes tags.
    ///
    /// # Errors
    /// As [`Session::private`].
    pub fn private_with(&self, to: &str, text: &str, how: Sending) -> Result<Message, Error> {
        let Sending {
            action,
            notice,
            tags: client_tags,
            tag_only,
        } = how;
        if text.trim().is_empty() && !tag_only {
            return Err(Error::EmptyMessage);
        }
        let target = lock(&self.hub.inner.state)
            .users
            .get(&fold(to))
            .cloned()
            .ok_or_else(|| Error::NoSuchUser(to.to_owned()))?;
        let message = Message {
            id: self.hub.next_id(),
            ts: SystemTime::now(),
            from: self.nick(),
            to: target.nick(),
            text: if tag_only {
                String::new()
            } else {
                one_line(truncate(text, MAX_TEXT_LEN))
            },
            action,
            notice,
            client_tags,
            tag_only,
        };
        if !tag_only || target.has(TAGS) {
            target.send(&Event::with_source(
                EventKind::Private(message.clone()),
                &self.user.ident,
            ));
        }
        Ok(message)
    }

    /// Read (with `None`) or set a room's topic. Setting tells every member, the setter too;
    /// in a `+t` room only operators may set it. Returns the room's display name and its topic.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`], [`Error::TopicTooLong`],
    /// [`Error::NotOperator`].
    pub fn topic(&self, room: &str, topic: Option<&str>) -> Result<(String, String), Error> {
        let name = room_name(room)?;
        if topic.is_some_and(|t| t.len() > MAX_TOPIC_LEN) {
            return Err(Error::TopicTooLong(MAX_TOPIC_LEN));
        }
        let mut state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get_mut(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        let Some(topic) = topic.map(one_line) else {
            if !room.visible_to(self.user.id) {
                return Err(Error::NotInRoom(room.name.clone()));
            }
            return Ok((room.name.clone(), room.topic.clone()));
        };
        if !room.has(self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        if room.modes.topic_ops && !room.status(self.user.id).op {
            return Err(Error::NotOperator(room.name.clone()));
        }
        room.topic.clone_from(&topic);
        room.topic_set = Some((self.nick(), SystemTime::now()));
        let members = Arc::clone(&room.members);
        let display = room.name.clone();
        drop(state);
        let event = Event::with_source(
            EventKind::Topic {
                ts: SystemTime::now(),
                room: display.clone(),
                topic: topic.clone(),
                by: self.nick(),
            },
            &self.user.ident,
        );
        for member in members.iter() {
            member.send(&event);
        }
        Ok((display, topic))
    }

    /// Nicks in a room, or everyone connected, sorted. A secret room's members are listed to
    /// its members only, and invisible users only to those who share a room with them.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when the room does not exist.
    pub fn users(&self, room: Option<&str>) -> Result<(Option<String>, Vec<String>), Error> {
        match room {
            None => {
                let state = lock(&self.hub.inner.state);
                let mut nicks: Vec<String> = state
                    .users
                    .values()
                    .filter(|u| {
                        u.id == self.user.id
                            || !u.has(INVISIBLE)
                            || self.user.shares_room(&state, u.id)
                    })
                    .map(|u| u.nick())
                    .collect();
                drop(state);
                nicks.sort_by_cached_key(|n| fold(n));
                Ok((None, nicks))
            }
            Some(room) => {
                let (name, members) = self.names(room)?;
                Ok((Some(name), members.into_iter().map(|m| m.nick).collect()))
            }
        }
    }

    /// A room's members with their standing, sorted (IRC's NAMES). A non-member sees nobody
    /// in a secret room, and no invisible members.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when the room does not exist.
    pub fn names(&self, room: &str) -> Result<(String, Vec<Member>), Error> {
        let name = room_name(room)?;
        let state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        let inside = room.has(self.user.id);
        let mut members: Vec<Member> = if room.visible_to(self.user.id) {
            room.members
                .iter()
                .filter(|m| inside || !m.has(INVISIBLE))
                .map(|m| room.member(m))
                .collect()
        } else {
            Vec::new()
        };
        let display = room.name.clone();
        drop(state);
        members.sort_by_cached_key(|m| fold(&m.nick));
        Ok((display, members))
    }

    /// Every room this user may see (secret rooms only when in them), sorted by name.
    pub fn list_rooms(&self) -> Vec<RoomInfo> {
        let state = lock(&self.hub.inner.state);
        let mut rooms: Vec<RoomInfo> = state
            .rooms
            .values()
            .filter(|r| r.visible_to(self.user.id))
            .map(|r| RoomInfo {
                name: r.name.clone(),
                users: r.members.len(),
                topic: r.topic.clone(),
            })
            .collect();
        drop(state);
        rooms.sort_by_key(|r| fold(&r.name));
        rooms
    }

    /// Whether this user is a member of the room called `room` (and the room exists).
    pub fn is_in(&self, room: &str) -> bool {
        let Ok(name) = normalize_room(room) else {
            return false;
        };
        lock(&self.user.rooms).contains(&fold(&name))
    }

    /// Whether a room called `room` is open (and this user may know it: secret rooms are
    /// known to their members only).
    pub fn room_exists(&self, room: &str) -> bool {
        let Ok(name) = normalize_room(room) else {
            return false;
        };
        lock(&self.hub.inner.state)
            .rooms
            .get(&fold(&name))
            .is_some_and(|r| r.visible_to(self.user.id))
    }

    /// Put `nick` out of a room (operators only). Every member is told, the kicked user and
    /// the operator too. Returns the room's display name and the nick as it is.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`], [`Error::NotOperator`],
    /// [`Error::NoSuchUser`], [`Error::TargetNotInRoom`].
    pub fn kick(&self, room: &str, nick: &str, reason: &str) -> Result<(String, String), Error> {
        let name = room_name(room)?;
        let key = fold(&name);
        let mut state = lock(&self.hub.inner.state);
        let target = state
            .users
            .get(&fold(nick))
            .cloned()
            .ok_or_else(|| Error::NoSuchUser(nick.to_owned()));
        let Some(room) = state.rooms.get_mut(&key) else {
            return Err(Error::NotInRoom(name));
        };
        if !room.has(self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        if !room.status(self.user.id).op {
            return Err(Error::NotOperator(room.name.clone()));
        }
        let target = target?;
        let target_nick = target.nick();
        if !room.has(target.id) {
            return Err(Error::TargetNotInRoom {
                nick: target_nick,
                room: room.name.clone(),
            });
        }
        let audience = Arc::clone(&room.members);
        let remaining = room.remove(target.id);
        let display = room.name.clone();
        lock(&target.rooms).retain(|k| k != &key);
        if remaining.is_empty() {
            state.rooms.remove(&key);
        }
        drop(state);
        let event = Event::with_source(
            EventKind::Kick {
                ts: SystemTime::now(),
                room: display.clone(),
                by: self.nick(),
                nick: target_nick.clone(),
                reason: one_line(truncate(reason, MAX_TOPIC_LEN)),
            },
            &self.user.ident,
        );
        for member in audience.iter() {
            member.send(&event);
        }
        Ok((display, target_nick))
    }

    /// Invite `nick` to a room this user is in (operators only when the room is invite-only).
    /// The invitation lets them in past `+i`, `+k` and `+l` once. Returns the nick as it is
    /// and the room's display name.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NoSuchUser`], [`Error::NotInRoom`],
    /// [`Error::NotOperator`], [`Error::AlreadyInRoom`].
    pub fn invite(&self, nick: &str, room: &str) -> Result<(String, String), Error> {
        let name = room_name(room)?;
        let mut state = lock(&self.hub.inner.state);
        let target = state
            .users
            .get(&fold(nick))
            .cloned()
            .ok_or_else(|| Error::NoSuchUser(nick.to_owned()))?;
        let Some(room) = state.rooms.get_mut(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        if !room.has(self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        if room.modes.invite_only && !room.status(self.user.id).op {
            return Err(Error::NotOperator(room.name.clone()));
        }
        let target_nick = target.nick();
        if room.has(target.id) {
            return Err(Error::AlreadyInRoom {
                nick: target_nick,
                room: room.name.clone(),
            });
        }
        if !room.invited.contains(&target.id) {
            if room.invited.len() >= MAX_INVITED {
                room.invited.pop_front();
            }
            room.invited.push_back(target.id);
        }
        let display = room.name.clone();
        let members = Arc::clone(&room.members);
        drop(state);
        let event = Event::with_source(
            EventKind::Invite {
                ts: SystemTime::now(),
                room: display.clone(),
                by: self.nick(),
                nick: target_nick.clone(),
            },
            &self.user.ident,
        );
        target.send(&event);
        // invite-notify: the room's other members who asked are told too.
        for member in room_members_except(&members, self.user.id) {
            if member.has(INVITE_NOTIFY) {
                member.send(&event);
            }
        }
        Ok((target_nick, display))
    }

    /// A room's modes and display name, and whether this user is a member (only members
    /// should be shown the key).
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when no such room is open (or it is
    /// secret and this user is not in it).
    pub fn modes(&self, room: &str) -> Result<(String, RoomModes, bool), Error> {
        let name = room_name(room)?;
        let state = lock(&self.hub.inner.state);
        match state.rooms.get(&fold(&name)) {
            Some(room) if room.visible_to(self.user.id) => Ok((
                room.name.clone(),
                room.modes.clone(),
                room.has(self.user.id),
            )),
            _ => Err(Error::NotInRoom(name)),
        }
    }

    /// One of a room's address lists (bans, exceptions, invite exceptions), oldest first,
    /// and the room's display name. Anyone who may see the room may read them.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when no such room is open (or it is
    /// secret and this user is not in it).
    pub fn list(&self, room: &str, kind: ListKind) -> Result<(String, Vec<ListEntry>), Error> {
        let name = room_name(room)?;
        let state = lock(&self.hub.inner.state);
        match state.rooms.get(&fold(&name)) {
            Some(room) if room.visible_to(self.user.id) => {
                Ok((room.name.clone(), room.lists.get(kind).to_vec()))
            }
            _ => Err(Error::NotInRoom(name)),
        }
    }

    /// Add (`on`) or remove a mask of one of a room's lists (operators only): the native and
    /// text doors' ban commands. Members see the change as a [`EventKind::Mode`]. Returns the
    /// room's display name and the mask, completed.
    ///
    /// # Errors
    /// [`Error::ModeInvalid`] (not a mask), [`Error::ListFull`], and those of
    /// [`Session::set_modes`].
    pub fn set_list(
        &self,
        room: &str,
        kind: ListKind,
        mask: &str,
        on: bool,
    ) -> Result<(String, String), Error> {
        let full = crate::masks::normalize_mask(mask).map_err(|reason| Error::ModeInvalid {
            room: room.to_owned(),
            mode: kind.letter(),
            reason,
        })?;
        // Removing: the mask as it was listed (its case), when it was.
        let full = if on {
            full
        } else {
            let folded = fold(&full);
            self.list(room, kind)?
                .1
                .into_iter()
                .find(|e| fold(&e.mask) == folded)
                .map_or(full, |e| e.mask)
        };
        let (room, errors) = self.set_modes(room, &[ModeChange::List(kind, full.clone(), on)])?;
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok((room, full)),
        }
    }

    /// When a room was opened, and who set its topic when (IRC's 329 and 333), for a room
    /// this user may see.
    pub fn room_times(&self, room: &str) -> Option<(SystemTime, Option<(String, SystemTime)>)> {
        let name = normalize_room(room).ok()?;
        let state = lock(&self.hub.inner.state);
        let room = state.rooms.get(&fold(&name))?;
        room.visible_to(self.user.id)
            .then(|| (room.created, room.topic_set.clone()))
    }

    /// Change a room's modes (operators only). Changes are applied in order; one that cannot
    /// be (a nick not in the room) is skipped and its error returned, the others still apply.
    /// Every member is told of what changed in one [`EventKind::Mode`]. Returns the room's
    /// display name and the errors of the skipped changes.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`], [`Error::NotOperator`].
    pub fn set_modes(
        &self,
        room: &str,
        changes: &[ModeChange],
    ) -> Result<(String, Vec<Error>), Error> {
        let name = room_name(room)?;
        let mut state = lock(&self.hub.inner.state);
        let users: Vec<Option<Arc<User>>> = changes
            .iter()
            .map(|c| match c {
                ModeChange::Op(nick, _) | ModeChange::Voice(nick, _) => {
                    state.users.get(&fold(nick)).cloned()
                }
                _ => None,
            })
            .collect();
        let Some(room) = state.rooms.get_mut(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        if !room.has(self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        if !room.status(self.user.id).op {
            return Err(Error::NotOperator(room.name.clone()));
        }
        let mut errors = Vec::new();
        let mut applied = ModeLine::default();
        let by = self.nick();
        for (change, user) in changes.iter().zip(users) {
            let modes = &mut room.modes;
            match change {
                ModeChange::List(kind, mask, true) => match room.lists.add(*kind, mask, &by) {
                    Ok(Some(mask)) => applied.push(true, kind.letter(), Some(mask)),
                    Ok(None) => {}
                    Err(ListRefusal::Invalid(reason)) => errors.push(Error::ModeInvalid {
                        room: room.name.clone(),
                        mode: kind.letter(),
                        reason,
                    }),
                    Err(ListRefusal::Full) => errors.push(Error::ListFull {
                        room: room.name.clone(),
                        mode: kind.letter(),
                    }),
                },
                ModeChange::List(kind, mask, false) => {
                    if let Some(mask) = room.lists.remove(*kind, mask) {
                        applied.push(false, kind.letter(), Some(mask));
                    }
                }
                ModeChange::NoExternal(on) => applied.flag(&mut modes.no_external, *on, 'n'),
                ModeChange::TopicOps(on) => applied.flag(&mut modes.topic_ops, *on, 't'),
                ModeChange::Secret(on) => applied.flag(&mut modes.secret, *on, 's'),
                ModeChange::InviteOnly(on) => applied.flag(&mut modes.invite_only, *on, 'i'),
                ModeChange::Moderated(on) => applied.flag(&mut modes.moderated, *on, 'm'),
                ModeChange::Key(Some(key)) => match check_key(key) {
                    Ok(()) => {
                        modes.key = Some(key.clone());
                        applied.push(true, 'k', Some(key.clone()));
                    }
                    Err(reason) => errors.push(Error::ModeInvalid {
                        room: room.name.clone(),
                        mode: 'k',
                        reason,
                    }),
                },
                ModeChange::Key(None) => {
                    if modes.key.take().is_some() {
                        applied.push(false, 'k', Some("*".into()));
                    }
                }
                ModeChange::Limit(Some(0)) => errors.push(Error::ModeInvalid {
                    room: room.name.clone(),
                    mode: 'l',
                    reason: "a limit is a number above 0",
                }),
                ModeChange::Limit(Some(limit)) => {
                    if modes.limit != Some(*limit) {
                        modes.limit = Some(*limit);
                        applied.push(true, 'l', Some(limit.to_string()));
                    }
                }
                ModeChange::Limit(None) => {
                    if modes.limit.take().is_some() {
                        applied.push(false, 'l', None);
                    }
                }
                ModeChange::Op(nick, on) | ModeChange::Voice(nick, on) => {
                    let Some(user) = user else {
                        errors.push(Error::NoSuchUser(nick.clone()));
                        continue;
                    };
                    if !room.has(user.id) {
                        errors.push(Error::TargetNotInRoom {
                            nick: user.nick(),
                            room: room.name.clone(),
                        });
                        continue;
                    }
                    let (list, letter) = if matches!(change, ModeChange::Op(..)) {
                        (&mut room.ops, 'o')
                    } else {
                        (&mut room.voiced, 'v')
                    };
                    let has = list.contains(&user.id);
                    if *on && !has {
                        list.push(user.id);
                    } else if !*on && has {
                        list.retain(|&id| id != user.id);
                    } else {
                        continue;
                    }
                    applied.push(*on, letter, Some(user.nick()));
                }
            }
        }
        let display = room.name.clone();
        let members = Arc::clone(&room.members);
        drop(state);
        if !applied.modes.is_empty() {
            let event = Event::with_source(
                EventKind::Mode {
                    ts: SystemTime::now(),
                    room: display.clone(),
                    by: self.nick(),
                    modes: applied.modes,
                    args: applied.args,
                },
                &self.user.ident,
            );
            for member in members.iter() {
                member.send(&event);
            }
        }
        Ok((display, errors))
    }

    /// Older messages of a room: the `limit` latest before message `before` (or the latest),
    /// oldest first, and whether there are older ones still.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::History`].
    pub async fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(String, Vec<Message>, bool), Error> {
        let name = room_name(room)?;
        let display = lock(&self.hub.inner.state)
            .rooms
            .get(&fold(&name))
            .map_or(name, |r| r.name.clone());
        let Some(history) = &self.hub.inner.history else {
            // No database: what is in memory is all there is.
            let state = lock(&self.hub.inner.state);
            let recent: Vec<Message> = state
                .rooms
                .get(&fold(&display))
                .map(|r| {
                    r.recent
                        .iter()
                        .filter(|m| before.is_none_or(|b| m.id < b))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let skip = recent.len().saturating_sub(limit);
            return Ok((display, recent[skip..].to_vec(), skip > 0));
        };
        let (mut messages, more) = history.recent(&display, before, limit).await?;
        for m in &mut messages {
            m.to.clone_from(&display);
        }
        Ok((display, messages, more))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut state = lock(&self.hub.inner.state);
        let nick = self.user.nick();
        if state
            .users
            .get(&fold(&nick))
            .is_some_and(|u| u.id == self.user.id)
        {
            state.users.remove(&fold(&nick));
        }
        let audience = self.co_members(&state);
        state.watch.clear(self.user.id);
        let watchers = state.watch.watching(&nick);
        let keys: Vec<String> = std::mem::take(&mut *lock(&self.user.rooms));
        for key in keys {
            let empty = match state.rooms.get_mut(&key) {
                Some(room) => room.remove(self.user.id).is_empty(),
                None => false,
            };
            if empty {
                state.rooms.remove(&key);
            }
        }
        drop(state);
        let event = Event::with_source(
            EventKind::Quit {
                ts: SystemTime::now(),
                nick: nick.clone(),
                reason: std::mem::take(&mut *lock(&self.quit_reason)),
            },
            &self.user.ident,
        );
        for member in &audience {
            member.send(&event);
        }
        monitor_notice(&watchers, false, &nick);
    }
}

/// `nick!ident@host`, a user's address.
fn address(nick: &str, ident: &str) -> String {
    format!("{nick}!{ident}@{USER_HOST}")
}

/// Tell watchers that a nick came online (`target` is its address) or went offline.
fn monitor_notice(watchers: &[Arc<User>], online: bool, target: &str) {
    if watchers.is_empty() {
        return;
    }
    let event = Event::new(EventKind::Monitor {
        ts: SystemTime::now(),
        online,
        target: target.to_owned(),
    });
    for watcher in watchers {
        watcher.send(&event);
    }
}

/// `text` as one line: CR, LF and NUL become spaces. Every front door is line-based; a native
/// client's `"a\nb"` must not become a second, forged line for text or IRC readers. The hub
/// applies it to every text it stores (messages, topics, reasons, away messages, real names),
/// so the front doors render what it gives them as it is.
pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n', '\0'], " ")
}

/// A room name as given, normalized (`salon` is `#salon`), or why it is invalid.
fn room_name(room: &str) -> Result<String, Error> {
    normalize_room(room).map_err(|reason| Error::RoomInvalid {
        room: room.to_owned(),
        reason,
    })
}

/// Mode changes as one IRC mode string: `+o-v` and their values.
#[derive(Default)]
struct ModeLine {
    modes: String,
    args: Vec<String>,
    sign: Option<bool>,
}

impl ModeLine {
    fn push(&mut self, on: bool, letter: char, arg: Option<String>) {
        if self.sign != Some(on) {
            self.modes.push(if on { '+' } else { '-' });
            self.sign = Some(on);
        }
        self.modes.push(letter);
        self.args.extend(arg);
    }

    /// Set a flag mode; recorded only when it changes.
    fn flag(&mut self, flag: &mut bool, on: bool, letter: char) {
        if *flag != on {
            *flag = on;
            self.push(on, letter, None);
        }
    }
}

/// Cut `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::{check_key, ModeLine, RoomModes};

    #[test]
    fn mode_changes_read_as_one_irc_mode_string() {
        let mut line = ModeLine::default();
        let mut moderated = false;
        line.flag(&mut moderated, false, 'm');
        line.push(false, 'k', Some("*".into()));
        line.push(true, 'o', Some("bob".into()));
        line.push(true, 'v', Some("bob".into()));
        line.flag(&mut moderated, true, 'm');
        assert_eq!(line.modes, "-k+ovm");
        assert_eq!(line.args, ["*", "bob", "bob"]);
        assert!(moderated);

        let modes = RoomModes {
            key: Some("sesame".into()),
            limit: Some(5),
            ..RoomModes::default()
        };
        assert_eq!(
            modes.describe(true),
            (
                "+klnt".to_owned(),
                vec!["sesame".to_owned(), "5".to_owned()]
            )
        );
        assert_eq!(modes.describe(false).1[0], "*");
        assert!(check_key("sesame").is_ok());
        for bad in ["", "two words", "a,b", ":colon", &"k".repeat(24)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
