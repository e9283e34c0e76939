//! The hub's rooms: joining and leaving, topics, names and who, kicks and invitations, channel modes and the ban, exception and invite lists.

use super::state::*;
use super::users::UserInfo;

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

impl Room {
    pub(super) fn new(name: String, recent: VecDeque<Message>) -> Self {
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
            registered: None,
            stale: false,
            remote: Vec::new(),
        }
    }

    pub(super) fn has(&self, id: u64) -> bool {
        self.members.iter().any(|m| m.id == id)
    }

    pub(super) fn status(&self, id: u64) -> Status {
        Status {
            op: self.ops.contains(&id),
            voice: self.voiced.contains(&id),
        }
    }

    pub(super) fn member(&self, user: &User) -> Member {
        Member {
            nick: user.nick(),
            ident: Arc::clone(&user.ident),
            status: self.status(user.id),
        }
    }

    /// Take a user out of the member list and its standing; returns who remains.
    pub(super) fn remove(&mut self, id: u64) -> Arc<Vec<Arc<User>>> {
        let remaining: Vec<Arc<User>> = room_members_except(&self.members, id).cloned().collect();
        self.members = Arc::new(remaining);
        self.ops.retain(|&o| o != id);
        self.voiced.retain(|&v| v != id);
        Arc::clone(&self.members)
    }

    /// Take in the history loaded for a room that was registered and unjoined: `loaded`, then
    /// what arrived since (not in `loaded`), the newest `replay` of them.
    fn catch_up(&mut self, loaded: Vec<Message>, replay: usize) {
        let last = loaded.last().map(|m| m.id);
        let mut recent: VecDeque<Message> = loaded.into();
        recent.extend(
            self.recent
                .drain(..)
                .filter(|m| last.is_none_or(|l| m.id > l)),
        );
        while recent.len() > replay {
            recent.pop_front();
        }
        self.recent = recent;
    }

    /// Whether `user` is banned here (a ban matches, no exception does).
    pub(super) fn banned(&self, user: &User) -> bool {
        self.lists.banned(&user.nick(), &user.ident)
    }

    /// Whether a user who is not a member may see the room's members (not secret).
    pub(super) fn visible_to(&self, id: u64) -> bool {
        !self.modes.secret || self.has(id)
    }
}

/// Mode changes as one IRC mode string: `+o-v` and their values.
#[derive(Default)]
pub(super) struct ModeLine {
    modes: String,
    args: Vec<String>,
    sign: Option<bool>,
}

impl ModeLine {
    pub(super) fn push(&mut self, on: bool, letter: char, arg: Option<String>) {
        if self.sign != Some(on) {
            self.modes.push(if on { '+' } else { '-' });
            self.sign = Some(on);
        }
        self.modes.push(letter);
        self.args.extend(arg);
    }

    /// Set a flag mode; recorded only when it changes.
    pub(super) fn flag(&mut self, flag: &mut bool, on: bool, letter: char) {
        if *flag != on {
            *flag = on;
            self.push(on, letter, None);
        }
    }
}

impl Session {
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

    /// Display names of the rooms this user is in, in join order.
    pub fn rooms(&self) -> Vec<String> {
        let state = lock(&self.hub.inner.state);
        lock(&self.user.rooms)
            .iter()
            .filter_map(|key| state.rooms.get(key).map(|r| r.name.clone()))
            .collect()
    }

    /// Everyone who shares a room with this user, once each, without the user.
    pub(super) fn co_members(&self, state: &State) -> Vec<Arc<User>> {
        co_members(&self.user, state)
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
        // A room opened now, or registered and not yet joined since the start, loads its
        // history.
        let load = lock(&self.hub.inner.state)
            .rooms
            .get(&key_folded)
            .is_none_or(|r| r.stale);
        // On several nodes the room's stream holds every node's messages; the local database
        // is the fallback when Redis does not answer.
        let from_cluster = match (self.hub.inner.cluster.get(), load) {
            (Some(cluster), true) => cluster.recent(&name, self.hub.inner.config.replay).await,
            _ => None,
        };
        let mut loaded = match (&self.hub.inner.history, load) {
            _ if from_cluster.is_some() => from_cluster,
            (Some(history), true) => Some(
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
            .or_insert_with(|| Room::new(name.clone(), loaded.take().unwrap_or_default().into()));
        if room.stale {
            if let Some(loaded) = loaded.take() {
                room.catch_up(loaded, self.hub.inner.config.replay);
            }
            room.stale = false;
        }
        // An operator of a registered room (by account) is let in past every lock.
        let account = lock(&self.user.account).clone();
        let registered_op = room
            .registered
            .as_ref()
            .is_some_and(|r| account.as_deref().is_some_and(|a| r.is_op(a)));
        if !already {
            // An invitation opens every lock: invite-only, key and limit.
            let invited = room.invited.iter().position(|&id| id == self.user.id);
            if invited.is_none() && !registered_op {
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
            // Whoever opens an unregistered room runs it; a registered one has its operators.
            if registered_op || (room.members.is_empty() && room.registered.is_none()) {
                room.ops.push(self.user.id);
            }
            if room.members.is_empty() {
                self.hub.room_entered(&room.name);
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
            self.hub.announce_join(&self.user, &room.name);
        }
        let mut history: Vec<Message> = room.recent.iter().cloned().collect();
        for m in &mut history {
            m.to.clone_from(&room.name);
        }
        let mut users: Vec<Member> = room.members.iter().map(|m| room.member(m)).collect();
        users.extend(room.remote_members());
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
            let event = self.user.event(EventKind::Join {
                ts: SystemTime::now(),
                room: joined.room.clone(),
                nick: nick.clone(),
            });
            for member in room_members_except(&members, self.user.id) {
                member.send(&event);
            }
            // away-notify: who joins while away is announced as away.
            let away = lock(&self.user.away).clone();
            if let Some(message) = away {
                let event = self.user.event(EventKind::Away {
                    ts: SystemTime::now(),
                    nick,
                    message: Some(message),
                });
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
        self.hub.announce_left(self.user.id, &key, reason, false);
        if remaining.is_empty() {
            self.hub.room_left(&key);
        }
        if remaining.is_empty() && room.registered.is_none() {
            state.rooms.remove(&key);
        }
        drop(state);
        let event = self.user.event(EventKind::Part {
            ts: SystemTime::now(),
            room: display.clone(),
            nick: self.nick(),
            reason: one_line(reason),
        });
        for member in remaining.iter() {
            member.send(&event);
        }
        Ok(display)
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
        let registered = room.registered.is_some();
        drop(state);
        if registered {
            self.hub.save_room(&display);
        }
        self.hub.announce_topic(&self.user, &display, &topic);
        let event = self.user.event(EventKind::Topic {
            ts: SystemTime::now(),
            room: display.clone(),
            topic: topic.clone(),
            by: self.nick(),
        });
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
                .chain(room.remote_members())
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
        self.hub.announce_left(
            target.id,
            &key,
            &format!("Kicked by {}", self.nick()),
            false,
        );
        if remaining.is_empty() {
            self.hub.room_left(&key);
        }
        if remaining.is_empty() && room.registered.is_none() {
            state.rooms.remove(&key);
        }
        drop(state);
        let event = self.user.event(EventKind::Kick {
            ts: SystemTime::now(),
            room: display.clone(),
            by: self.nick(),
            nick: target_nick.clone(),
            reason: one_line(truncate(reason, MAX_TOPIC_LEN)),
        });
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
        let event = self.user.event(EventKind::Invite {
            ts: SystemTime::now(),
            room: display.clone(),
            by: self.nick(),
            nick: target_nick.clone(),
        });
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
                    // In a registered room, operator status given to (or taken from) someone
                    // logged in is their account's, and lasts.
                    if letter == 'o' {
                        if let (Some(registered), Some(account)) =
                            (room.registered.as_mut(), lock(&user.account).as_deref())
                        {
                            registered.set_op(account, *on);
                        }
                    }
                    applied.push(*on, letter, Some(user.nick()));
                }
            }
        }
        let display = room.name.clone();
        let members = Arc::clone(&room.members);
        let registered = room.registered.is_some();
        drop(state);
        if registered && !applied.modes.is_empty() {
            self.hub.save_room(&display);
        }
        if !applied.modes.is_empty() {
            let event = self.user.event(EventKind::Mode {
                ts: SystemTime::now(),
                room: display.clone(),
                by: self.nick(),
                modes: applied.modes,
                args: applied.args,
            });
            for member in members.iter() {
                member.send(&event);
            }
        }
        Ok((display, errors))
    }
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
