//! The hub's core: its configuration and limits, the shared state (users, rooms, the lock),
//! [`Hub`] and [`Session`] themselves, and what every part of the hub uses.

pub(super) use std::collections::{HashMap, VecDeque};
pub(super) use std::sync::atomic::{AtomicU64, Ordering};
pub(super) use std::sync::{Arc, Mutex, MutexGuard};
pub(super) use std::time::SystemTime;

pub(super) use std::task::{Poll, Waker};

pub(super) use crate::event::{Event, EventKind, Message};
pub(super) use crate::history::History;
pub(super) use crate::masks::{wildcard, ListEntry, ListKind, ListRefusal, Lists, USER_HOST};
pub use crate::modes::RoomModes;
pub(super) use crate::names::{check_nick, fold, guest_nick, normalize_room, MAX_TOPIC_LEN};
pub(super) use crate::watch::Watchers;
pub(super) use crate::Error;

/// Events queued for one connection before it counts as too slow. At a few hundred bytes an
/// event this bounds a stalled client to about a megabyte.
pub const QUEUE_LEN: usize = 4096;

/// Default [`HubConfig::nick_grace`].
pub const NICK_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// The accounts users may log in to; `None`: nobody logs in (SASL is not offered).
    pub accounts: Option<crate::accounts::Accounts>,
    /// How long someone on a registered nick who is not logged in to its account keeps it
    /// before being renamed (`--nick-grace`).
    pub nick_grace: std::time::Duration,
    /// The server password (`--password`): every door's hello must give it.
    pub password: Option<String>,
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
            accounts: None,
            nick_grace: NICK_GRACE,
            password: None,
        }
    }
}

/// Bits of [`User::flags`].
pub(super) const INVISIBLE: u16 = 1;
pub(super) const WALLOPS: u16 = 2;
pub(super) const OPER: u16 = 4;
pub(super) const AWAY_NOTIFY: u16 = 8;
/// The connection is subject to the keepalive (it can answer a ping).
pub(super) const KEEPALIVE: u16 = 16;
/// A ping has been sent since the user was last heard.
pub(super) const PINGED: u16 = 32;
/// The connection takes client tags and TAGMSG (IRC's `message-tags`).
pub(super) const TAGS: u16 = 64;
/// The connection wants [`EventKind::Setname`] events (IRC's `setname`).
pub(super) const SETNAME: u16 = 128;
/// The connection wants to hear of invitations to its rooms (IRC's `invite-notify`).
pub(super) const INVITE_NOTIFY: u16 = 256;
/// The connection hears of its watched nicks' away and real-name changes, as if it shared a
/// room with them (IRC's `extended-monitor`).
pub(super) const EXTENDED_MONITOR: u16 = 512;
/// The connection wants to hear of log-ins and log-outs (IRC's `account-notify`).
pub(super) const ACCOUNT_NOTIFY: u16 = 1024;

pub(super) struct User {
    pub(super) id: u64,
    /// [`INVISIBLE`], [`WALLOPS`], [`OPER`], [`AWAY_NOTIFY`], [`KEEPALIVE`], [`PINGED`].
    pub(super) flags: std::sync::atomic::AtomicU16,
    /// When the connection last read something, in milliseconds since the hub started.
    pub(super) heard: AtomicU64,
    pub(super) nick: Mutex<String>,
    /// The user part of `nick!user@host` (IRC's USER name, or the front door's name).
    pub(super) ident: Arc<str>,
    /// IRC's "real name"; for other front doors, the first nick.
    pub(super) realname: Mutex<Box<str>>,
    /// The away message, when away.
    pub(super) away: Mutex<Option<String>>,
    /// The account logged in to, if any.
    pub(super) account: Mutex<Option<Arc<str>>>,
    /// Folded keys of the rooms this user is in, in join order.
    pub(super) rooms: Mutex<Vec<String>>,
    /// Events on their way to this user's connection.
    pub(super) outbox: Mutex<Outbox>,
    /// Most events the outbox holds before the user counts as too slow.
    pub(super) queue_len: usize,
}

/// A user's queue: filled by the hub without ever waiting, drained by the connection.
///
/// A `VecDeque` under the user's own lock rather than a channel: an idle connection's queue
/// holds no allocation at all (a tokio channel keeps about 0.9 KiB of blocks per connection
/// once a burst has passed through it), and eviction is a flag in the same place.
#[derive(Default)]
pub(super) struct Outbox {
    pub(super) events: VecDeque<Event>,
    pub(super) waker: Option<Waker>,
    /// Set when the connection must end: it says why and hangs up.
    pub(super) gone: Option<Gone>,
}

pub(super) struct Room {
    pub(super) name: String,
    pub(super) topic: String,
    pub(super) members: Arc<Vec<Arc<User>>>,
    pub(super) recent: VecDeque<Message>,
    pub(super) modes: RoomModes,
    /// Ids of the members who are operators: the first member, and whoever an operator makes one.
    pub(super) ops: Vec<u64>,
    /// Ids of the voiced members.
    pub(super) voiced: Vec<u64>,
    /// Ids of users invited and not yet joined (bounded: the oldest go first).
    pub(super) invited: VecDeque<u64>,
    /// Bans, ban exceptions, invite exceptions.
    pub(super) lists: Lists,
    /// When the room was opened.
    pub(super) created: SystemTime,
    /// Who set the topic and when.
    pub(super) topic_set: Option<(String, SystemTime)>,
    /// Set for a registered room: it outlives its last member ([`super::registry`]).
    pub(super) registered: Option<Box<Registered>>,
    /// Its history is not loaded yet (a registered room read from the store at start).
    pub(super) stale: bool,
    /// Its members on the other nodes ([`super::remote`]).
    pub(super) remote: Vec<RemoteEntry>,
}

/// What makes a room registered.
pub(crate) struct Registered {
    /// The account that registered it, as written.
    pub(super) founder: String,
    pub(super) registered_ms: i64,
    /// Folded account names; the founder is always among them.
    pub(super) ops: Vec<String>,
}

/// What the registered rooms' writer does ([`super::registry`]).
pub(super) enum RegistryJob {
    /// Write the room of this folded name as it is now (or forget it, if not registered).
    Save(String),
    /// Answer once every job before is done.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The thread that writes registered rooms to the store, in the order of their changes.
pub(crate) struct Writer {
    pub(super) jobs: std::sync::mpsc::Sender<RegistryJob>,
}

/// A member of a room on another node.
#[derive(Debug, Clone)]
pub(crate) struct RemoteEntry {
    pub(super) node: Arc<str>,
    pub(super) member: crate::cluster::RemoteMember,
}

/// Most pending invitations a room keeps.
pub(super) const MAX_INVITED: usize = 100;

#[derive(Default)]
pub(super) struct State {
    pub(super) users: HashMap<String, Arc<User>>,
    /// MONITOR lists.
    pub(super) watch: Watchers<Arc<User>>,
    pub(super) rooms: HashMap<String, Room>,
    /// Set by [`Hub::shut_down`]: users who arrive later are told at once.
    pub(super) closing: bool,
}

pub(super) struct Inner {
    pub(super) config: HubConfig,
    /// The clock of [`User::heard`].
    pub(super) started: tokio::time::Instant,
    pub(super) state: Mutex<State>,
    pub(super) next_id: AtomicU64,
    pub(super) next_user: AtomicU64,
    pub(super) history: Option<History>,
    /// Saves registered rooms; `None` without accounts.
    pub(super) registry: Option<Writer>,
    /// The other nodes, with `--redis` ([`Hub::join_cluster`]).
    pub(super) cluster: std::sync::OnceLock<crate::cluster::Cluster>,
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
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The shared chat state. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    pub(super) inner: Arc<Inner>,
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
        let mut state = State::default();
        if let Some(accounts) = &config.accounts {
            state.load_registered(accounts);
        }
        Self {
            inner: Arc::new_cyclic(|inner| Inner {
                registry: config
                    .accounts
                    .clone()
                    .map(|accounts| Writer::start(accounts, inner.clone())),
                config,
                started: tokio::time::Instant::now(),
                state: Mutex::new(state),
                next_id: AtomicU64::new(last_id + 1),
                next_user: AtomicU64::new(1),
                history,
                cluster: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
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

    pub(super) fn now_ms(&self) -> u64 {
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

    /// Number of connected users.
    pub fn user_count(&self) -> usize {
        lock(&self.inner.state).users.len()
    }

    /// Wait until every message accepted so far is in the history database.
    pub async fn flush(&self) {
        if let Some(history) = &self.inner.history {
            history.flush().await;
        }
        if let Some(registry) = &self.inner.registry {
            registry.flush().await;
        }
    }

    pub(super) fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// One user's handle on the hub. Dropping it is a quit: the user leaves every room and the
/// others are told.
pub struct Session {
    pub(super) hub: Hub,
    pub(super) user: Arc<User>,
    pub(super) quit_reason: Mutex<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("nick", &self.user.nick())
            .finish_non_exhaustive()
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
        self.hub.release_nick(&nick, self.user.id);
        let audience = self.co_members(&state);
        state.watch.clear(self.user.id);
        let watchers = state.watch.watching(&nick);
        let keys: Vec<String> = std::mem::take(&mut *lock(&self.user.rooms));
        let reason = lock(&self.quit_reason).clone();
        for key in keys {
            self.hub.announce_left(self.user.id, &key, &reason, true);
            let (left, closed) = match state.rooms.get_mut(&key) {
                Some(room) => {
                    let left = room.remove(self.user.id).is_empty();
                    (left, left && room.registered.is_none())
                }
                None => (false, false),
            };
            if left {
                self.hub.room_left(&key);
            }
            if closed {
                state.rooms.remove(&key);
            }
        }
        drop(state);
        let event = self.user.event(EventKind::Quit {
            ts: SystemTime::now(),
            nick: nick.clone(),
            reason: std::mem::take(&mut *lock(&self.quit_reason)),
        });
        for member in &audience {
            member.send(&event);
        }
        monitor_notice(&watchers, false, &nick);
    }
}

/// `nick!ident@host`, a user's address.
pub(super) fn address(nick: &str, ident: &str) -> String {
    format!("{nick}!{ident}@{USER_HOST}")
}

/// `text` as one line: CR, LF and NUL become spaces. Every front door is line-based; a native
/// client's `"a\nb"` must not become a second, forged line for text or IRC readers. The hub
/// applies it to every text it stores (messages, topics, reasons, away messages, real names),
/// so the front doors render what it gives them as it is.
pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n', '\0'], " ")
}

/// A room name as given, normalized (`salon` is `#salon`), or why it is invalid.
pub(super) fn room_name(room: &str) -> Result<String, Error> {
    normalize_room(room).map_err(|reason| Error::RoomInvalid {
        room: room.to_owned(),
        reason,
    })
}

/// Cut `text` to at most `max` bytes on a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Tell watchers that a nick came online (`target` is its address) or went offline.
pub(super) fn monitor_notice(watchers: &[Arc<User>], online: bool, target: &str) {
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

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// A room operator (IRC `@`): may kick, invite and change modes.
    pub op: bool,
    /// Voiced (IRC `+`): may talk in a moderated room.
    pub voice: bool,
}

pub(super) fn room_members_except(
    members: &[Arc<User>],
    id: u64,
) -> impl Iterator<Item = &Arc<User>> {
    members.iter().filter(move |m| m.id != id)
}

/// Everyone who shares a room with `user`, once each, without the user.
pub(super) fn co_members(user: &User, state: &State) -> Vec<Arc<User>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for key in lock(&user.rooms).iter() {
        if let Some(room) = state.rooms.get(key) {
            for member in room_members_except(&room.members, user.id) {
                if seen.insert(member.id) {
                    out.push(Arc::clone(member));
                }
            }
        }
    }
    out
}

/// Send an event done by `user` to `audience`.
pub(super) fn tell(user: &User, audience: &[Arc<User>], kind: EventKind) {
    let event = user.event(kind);
    for member in audience {
        member.send(&event);
    }
}

/// Who hears of a change of `user` that goes to connections with `flag`: those who share a
/// room and those who watch the nick with extended-monitor, each once, not the user.
pub(super) fn notified(user: &User, state: &State, flag: u16) -> Vec<Arc<User>> {
    let mut audience: Vec<Arc<User>> = co_members(user, state)
        .into_iter()
        .filter(|u| u.has(flag))
        .collect();
    for watcher in state.watch.watching(&user.nick()) {
        if watcher.has(EXTENDED_MONITOR)
            && watcher.has(flag)
            && watcher.id != user.id
            && !audience.iter().any(|u| u.id == watcher.id)
        {
            audience.push(watcher);
        }
    }
    audience
}
