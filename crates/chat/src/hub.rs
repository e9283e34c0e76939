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
use crate::names::{check_nick, fold, guest_nick, normalize_room, MAX_TOPIC_LEN};
use crate::Error;

/// Events queued for one connection before it counts as too slow. At a few hundred bytes an
/// event this bounds a stalled client to about a megabyte.
pub const QUEUE_LEN: usize = 4096;

/// Default number of messages replayed on join.
pub const REPLAY: usize = 50;

/// Default most rooms one user may be in (IRC's CHANLIMIT).
pub const MAX_ROOMS_PER_USER: usize = 20;

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
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            motd: None,
            default_room: "#general".into(),
            replay: REPLAY,
            max_rooms_per_user: MAX_ROOMS_PER_USER,
            queue_len: QUEUE_LEN,
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
    /// Its members, sorted.
    pub users: Vec<String>,
    /// Its latest messages, oldest first.
    pub history: Vec<Message>,
}

struct User {
    id: u64,
    nick: Mutex<String>,
    /// The user part of `nick!user@host` (IRC's USER name, or the front door's name).
    ident: Arc<str>,
    /// IRC's "real name"; empty for other front doors.
    realname: Box<str>,
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
    evicted: bool,
}

impl User {
    fn nick(&self) -> String {
        lock(&self.nick).clone()
    }

    fn send(&self, event: &Event) {
        let mut outbox = lock(&self.outbox);
        if outbox.evicted {
            return;
        }
        if outbox.events.len() >= self.queue_len {
            // Too slow: drop what is queued (it will never be read) and let the connection
            // say why and hang up.
            outbox.evicted = true;
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

    fn new(id: u64, nick: &str, ident: &str, realname: &str, queue_len: usize) -> Self {
        Self {
            id,
            nick: Mutex::new(nick.to_owned()),
            ident: Arc::from(ident),
            realname: one_line(realname).into(),
            away: Mutex::new(None),
            rooms: Mutex::new(Vec::new()),
            outbox: Mutex::new(Outbox::default()),
            queue_len: queue_len.max(1),
        }
    }
}

/// The hub dropped this user for not reading fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evicted;

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
    /// The next event; [`Evicted`] once the user has been dropped as too slow.
    ///
    /// # Errors
    /// [`Evicted`].
    ///
    /// # Cancel safety
    /// Cancel safe: an event is taken from the queue only when this returns it.
    pub async fn recv(&mut self) -> Result<Event, Evicted> {
        std::future::poll_fn(|cx| {
            let mut outbox = lock(&self.user.outbox);
            if outbox.evicted {
                return Poll::Ready(Err(Evicted));
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
}

#[derive(Default)]
struct State {
    users: HashMap<String, Arc<User>>,
    rooms: HashMap<String, Room>,
}

struct Inner {
    config: HubConfig,
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
    /// Rooms the user is in, in join order.
    pub rooms: Vec<String>,
}

impl User {
    fn info(&self, state: &State) -> UserInfo {
        UserInfo {
            nick: self.nick(),
            ident: Arc::clone(&self.ident),
            realname: self.realname.to_string(),
            away: lock(&self.away).clone(),
            rooms: lock(&self.rooms)
                .iter()
                .filter_map(|key| state.rooms.get(key).map(|r| r.name.clone()))
                .collect(),
        }
    }
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
        let mut state = lock(&self.inner.state);
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
        let user = Arc::new(User::new(
            self.inner.next_user.fetch_add(1, Ordering::Relaxed),
            &chosen,
            ident,
            "",
            self.inner.config.queue_len,
        ));
        state.users.insert(fold(&chosen), Arc::clone(&user));
        drop(state);
        let inbox = Inbox {
            user: Arc::clone(&user),
        };
        let session = Session {
            hub: self.clone(),
            user,
            quit_reason: Mutex::new(String::new()),
        };
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
        let mut state = lock(&self.inner.state);
        if state.users.contains_key(&fold(nick)) {
            return Err(Error::NickTaken(nick.to_owned()));
        }
        let user = Arc::new(User::new(
            self.inner.next_user.fetch_add(1, Ordering::Relaxed),
            nick,
            ident,
            realname,
            self.inner.config.queue_len,
        ));
        state.users.insert(fold(nick), Arc::clone(&user));
        drop(state);
        let inbox = Inbox {
            user: Arc::clone(&user),
        };
        let session = Session {
            hub: self.clone(),
            user,
            quit_reason: Mutex::new(String::new()),
        };
        Ok((session, inbox))
    }

    /// Users connected and rooms open.
    pub fn counts(&self) -> (usize, usize) {
        let state = lock(&self.inner.state);
        (state.users.len(), state.rooms.len())
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

    /// Set (`Some`) or clear (`None`) this user's away message.
    pub fn set_away(&self, message: Option<&str>) {
        *lock(&self.user.away) = message.map(one_line);
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

    /// What the hub knows about the user called `nick`.
    pub fn whois(&self, nick: &str) -> Option<UserInfo> {
        let state = lock(&self.hub.inner.state);
        state.users.get(&fold(nick)).map(|u| u.info(&state))
    }

    /// The members of a room with their details (IRC's WHO), and the room's display name.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when no such room is open.
    pub fn who(&self, room: &str) -> Result<(String, Vec<UserInfo>), Error> {
        let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
            room: room.to_owned(),
            reason,
        })?;
        let state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        let members = room.members.iter().map(|m| m.info(&state)).collect();
        Ok((room.name.clone(), members))
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
        state.users.insert(new_key, Arc::clone(&self.user));
        *lock(&self.user.nick) = new.to_owned();
        let audience = self.co_members(&state);
        drop(state);
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

    /// Join a room, creating it (and loading its history) if needed. Joining a room one is
    /// already in just returns its state.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::TooManyRooms`], [`Error::History`].
    pub async fn join(&self, room: &str) -> Result<Joined, Error> {
        let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
            room: room.to_owned(),
            reason,
        })?;
        let key = fold(&name);
        let exists = lock(&self.hub.inner.state).rooms.contains_key(&key);
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
        let already = lock(&self.user.rooms).contains(&key);
        if !already && lock(&self.user.rooms).len() >= self.hub.inner.config.max_rooms_per_user {
            return Err(Error::TooManyRooms(
                self.hub.inner.config.max_rooms_per_user,
            ));
        }
        let room = state.rooms.entry(key.clone()).or_insert_with(|| Room {
            name: name.clone(),
            topic: String::new(),
            members: Arc::new(Vec::new()),
            recent: loaded.unwrap_or_default().into(),
        });
        if !already {
            let mut members: Vec<Arc<User>> = room.members.as_ref().clone();
            members.push(Arc::clone(&self.user));
            room.members = Arc::new(members);
            lock(&self.user.rooms).push(key.clone());
        }
        let mut history: Vec<Message> = room.recent.iter().cloned().collect();
        for m in &mut history {
            m.to.clone_from(&room.name);
        }
        let mut users: Vec<String> = room.members.iter().map(|m| m.nick()).collect();
        users.sort_by_cached_key(|n| fold(n));
        let joined = Joined {
            room: room.name.clone(),
            topic: room.topic.clone(),
            users,
            history,
        };
        let members = Arc::clone(&room.members);
        drop(state);
        if !already {
            let event = Event::with_source(
                EventKind::Join {
                    ts: SystemTime::now(),
                    room: joined.room.clone(),
                    nick: self.nick(),
                },
                &self.user.ident,
            );
            for member in room_members_except(&members, self.user.id) {
                member.send(&event);
            }
        }
        Ok(joined)
    }

    /// Leave a room. Returns its display name.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`].
    pub fn part(&self, room: &str, reason: &str) -> Result<String, Error> {
        let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
            room: room.to_owned(),
            reason,
        })?;
        let key = fold(&name);
        let mut state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get_mut(&key) else {
            return Err(Error::NotInRoom(name));
        };
        if !room.members.iter().any(|m| m.id == self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        let remaining: Vec<Arc<User>> = room_members_except(&room.members, self.user.id)
            .cloned()
            .collect();
        let display = room.name.clone();
        lock(&self.user.rooms).retain(|k| k != &key);
        if remaining.is_empty() {
            state.rooms.remove(&key);
        } else {
            room.members = Arc::new(remaining.clone());
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
        for member in &remaining {
            member.send(&event);
        }
        Ok(display)
    }

    /// Say something in a room. Returns the message (with its id); everyone else in the room
    /// gets it.
    ///
    /// # Errors
    /// [`Error::EmptyMessage`], [`Error::RoomInvalid`], [`Error::NotInRoom`].
    pub async fn say(&self, room: &str, text: &str, action: bool) -> Result<Message, Error> {
        if text.trim().is_empty() {
            return Err(Error::EmptyMessage);
        }
        let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
            room: room.to_owned(),
            reason,
        })?;
        let key = fold(&name);
        let replay = self.hub.inner.config.replay;
        // The guard lives in this block only, so no lock is held across the history await.
        let (message, members) = {
            let mut state = lock(&self.hub.inner.state);
            let Some(room) = state.rooms.get_mut(&key) else {
                return Err(Error::NotInRoom(name));
            };
            if !room.members.iter().any(|m| m.id == self.user.id) {
                return Err(Error::NotInRoom(room.name.clone()));
            }
            let message = Message {
                id: self.hub.next_id(),
                ts: SystemTime::now(),
                from: self.nick(),
                to: room.name.clone(),
                text: one_line(truncate(text, MAX_TEXT_LEN)),
                action,
            };
            if replay > 0 {
                if room.recent.len() >= replay {
                    room.recent.pop_front();
                }
                room.recent.push_back(message.clone());
            }
            (message, Arc::clone(&room.members))
        };
        let event = Event::with_source(EventKind::Chat(message.clone()), &self.user.ident);
        for member in room_members_except(&members, self.user.id) {
            member.send(&event);
        }
        if let Some(history) = &self.hub.inner.history {
            history.store(message.clone()).await;
        }
        Ok(message)
    }

    /// Send a private message.
    ///
    /// # Errors
    /// [`Error::EmptyMessage`], [`Error::NoSuchUser`].
    pub fn private(&self, to: &str, text: &str, action: bool) -> Result<Message, Error> {
        if text.trim().is_empty() {
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
            text: one_line(truncate(text, MAX_TEXT_LEN)),
            action,
        };
        target.send(&Event::with_source(
            EventKind::Private(message.clone()),
            &self.user.ident,
        ));
        Ok(message)
    }

    /// Read (with `None`) or set a room's topic. Setting tells every member, the setter too.
    /// Returns the room's display name and its topic.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`], [`Error::TopicTooLong`].
    pub fn topic(&self, room: &str, topic: Option<&str>) -> Result<(String, String), Error> {
        let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
            room: room.to_owned(),
            reason,
        })?;
        if topic.is_some_and(|t| t.len() > MAX_TOPIC_LEN) {
            return Err(Error::TopicTooLong(MAX_TOPIC_LEN));
        }
        let mut state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get_mut(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        let Some(topic) = topic.map(one_line) else {
            return Ok((room.name.clone(), room.topic.clone()));
        };
        if !room.members.iter().any(|m| m.id == self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        room.topic.clone_from(&topic);
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

    /// Nicks in a room, or everyone connected, sorted.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] when the room does not exist.
    pub fn users(&self, room: Option<&str>) -> Result<(Option<String>, Vec<String>), Error> {
        let state = lock(&self.hub.inner.state);
        let (display, mut nicks) = match room {
            None => (
                None,
                state.users.values().map(|u| u.nick()).collect::<Vec<_>>(),
            ),
            Some(room) => {
                let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
                    room: room.to_owned(),
                    reason,
                })?;
                let Some(room) = state.rooms.get(&fold(&name)) else {
                    return Err(Error::NotInRoom(name));
                };
                (
                    Some(room.name.clone()),
                    room.members.iter().map(|m| m.nick()).collect(),
                )
            }
        };
        drop(state);
        nicks.sort_by_cached_key(|n| fold(n));
        Ok((display, nicks))
    }

    /// Every room, sorted by name.
    pub fn list_rooms(&self) -> Vec<RoomInfo> {
        let state = lock(&self.hub.inner.state);
        let mut rooms: Vec<RoomInfo> = state
            .rooms
            .values()
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
        let name = normalize_room(room).map_err(|reason| Error::RoomInvalid {
            room: room.to_owned(),
            reason,
        })?;
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
        let keys: Vec<String> = std::mem::take(&mut *lock(&self.user.rooms));
        for key in keys {
            let empty = match state.rooms.get_mut(&key) {
                Some(room) => {
                    let remaining: Vec<Arc<User>> =
                        room_members_except(&room.members, self.user.id)
                            .cloned()
                            .collect();
                    let empty = remaining.is_empty();
                    room.members = Arc::new(remaining);
                    empty
                }
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
                nick,
                reason: std::mem::take(&mut *lock(&self.quit_reason)),
            },
            &self.user.ident,
        );
        for member in &audience {
            member.send(&event);
        }
    }
}

/// `text` as one line: CR, LF and NUL become spaces. Every front door is line-based; a native
/// client's `"a\nb"` must not become a second, forged line for text or IRC readers. The hub
/// applies it to every text it stores (messages, topics, reasons, away messages, real names),
/// so the front doors render what it gives them as it is.
pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n', '\0'], " ")
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
