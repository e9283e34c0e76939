//! The hub's users: connecting and registering, nicks, user modes and away, operators, who is online (WHOIS, WHO masks, MONITOR), and the queue each user reads ([`Inbox`]).

use super::state::*;

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
    /// [`EventKind::Account`] for users sharing a room (and watched ones, with
    /// `extended_monitor`).
    pub account_notify: bool,
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
pub(super) fn release_if_drained(events: &mut VecDeque<Event>) {
    if events.is_empty() && events.capacity() > 0 {
        *events = VecDeque::new();
    }
}

/// What the hub knows about a user, for IRC's WHO and WHOIS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The nick.
    pub nick: String,
    /// The user part of the user's address.
    pub ident: Arc<str>,
    /// The "real name" (IRC's; the first nick for doors without real names).
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
    /// The account the user is logged in to.
    pub account: Option<Arc<str>>,
}

impl User {
    /// An event done by this user: with its ident, its account, and its real name on a join.
    pub(super) fn event(&self, kind: EventKind) -> Event {
        let realname = matches!(kind, EventKind::Join { .. }).then(|| lock(&self.realname).clone());
        Event::by_user(kind, &self.ident, lock(&self.account).clone(), realname)
    }

    pub(super) fn nick(&self) -> String {
        lock(&self.nick).clone()
    }

    pub(super) fn has(&self, flag: u16) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    pub(super) fn set(&self, flag: u16, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    pub(super) fn new(id: u64, nick: &str, ident: &str, realname: &str, queue_len: usize) -> Self {
        // A door without real names (native, text, web): the first nick stands in, as IRC
        // clients show a real name beside every user (WHOIS, WHO, extended-join).
        let realname = if realname.trim().is_empty() {
            nick
        } else {
            realname
        };
        Self {
            id,
            flags: std::sync::atomic::AtomicU16::new(0),
            heard: AtomicU64::new(0),
            nick: Mutex::new(nick.to_owned()),
            ident: Arc::from(ident),
            realname: Mutex::new(one_line(realname).into()),
            away: Mutex::new(None),
            account: Mutex::new(None),
            rooms: Mutex::new(Vec::new()),
            outbox: Mutex::new(Outbox::default()),
            queue_len: queue_len.max(1),
        }
    }

    /// What `viewer` may know of this user.
    pub(super) fn info(&self, state: &State, viewer: u64, now_ms: u64) -> UserInfo {
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
            account: lock(&self.account).clone(),
        }
    }

    pub(super) fn modes(&self) -> UserModes {
        UserModes {
            invisible: self.has(INVISIBLE),
            wallops: self.has(WALLOPS),
            oper: self.has(OPER),
        }
    }

    /// Whether this user shares a room with the user `other`.
    pub(super) fn shares_room(&self, state: &State, other: u64) -> bool {
        lock(&self.rooms)
            .iter()
            .filter_map(|key| state.rooms.get(key))
            .any(|r| r.has(other))
    }
}

impl Hub {
    /// Register a new user: with `nick` if given and free, else a guest nick. Returns the
    /// session, its event queue, and why the asked-for nick was refused, if it was. `ident`
    /// is the user part of its address as IRC users see it (the front door's name).
    pub async fn connect(
        &self,
        nick: Option<&str>,
        ident: &str,
    ) -> (Session, Inbox, Option<Error>) {
        let id = self.inner.next_user.fetch_add(1, Ordering::Relaxed);
        let mut refused = None;
        match nick.map(|n| (n, check_nick(n))) {
            Some((n, Ok(()))) => match self.take_nick(n, id).await {
                Ok(state) => {
                    let (session, inbox) = self.add_user(state, id, n, ident, "");
                    return (session, inbox, None);
                }
                Err(e) => refused = Some(e),
            },
            Some((n, Err(reason))) => {
                refused = Some(Error::NickInvalid {
                    nick: n.to_owned(),
                    reason,
                });
            }
            None => {}
        }
        let (state, guest) = self.take_guest(id).await;
        let (session, inbox) = self.add_user(state, id, &guest, ident, "");
        (session, inbox, refused)
    }

    /// Register a new user with exactly `nick` (IRC registration: a taken nick is an error to
    /// answer, not a reason to pick another).
    ///
    /// # Errors
    /// [`Error::NickInvalid`], [`Error::NickTaken`].
    pub async fn register(
        &self,
        nick: &str,
        ident: &str,
        realname: &str,
    ) -> Result<(Session, Inbox), Error> {
        check_nick(nick).map_err(|reason| Error::NickInvalid {
            nick: nick.to_owned(),
            reason,
        })?;
        let id = self.inner.next_user.fetch_add(1, Ordering::Relaxed);
        let state = self.take_nick(nick, id).await?;
        Ok(self.add_user(state, id, nick, ident, realname))
    }

    /// Take `nick` (valid) for the user `id`: free here, and claimed across the nodes. Returns
    /// the lock under which it is free, for the caller to put the user in.
    ///
    /// # Errors
    /// [`Error::NickTaken`].
    pub(super) async fn take_nick(
        &self,
        nick: &str,
        id: u64,
    ) -> Result<MutexGuard<'_, State>, Error> {
        let taken = || Error::NickTaken(nick.to_owned());
        if self.nick_in_use(nick) || !self.claim_nick(nick, id).await {
            return Err(taken());
        }
        let state = lock(&self.inner.state);
        if state.users.contains_key(&fold(nick)) {
            drop(state);
            self.release_nick(nick, id);
            return Err(taken());
        }
        Ok(state)
    }

    /// A guest nick for the user `id`, free here and claimed across the nodes, and the lock
    /// under which it is free.
    pub(super) async fn take_guest(&self, id: u64) -> (MutexGuard<'_, State>, String) {
        let mut attempt = 0;
        loop {
            let guest = Self::free_guest(&lock(&self.inner.state), &mut attempt);
            if let Ok(state) = self.take_nick(&guest, id).await {
                return (state, guest);
            }
            attempt += 1;
        }
    }

    /// Whether `nick` may be the user `id`'s across the nodes (always, on a single node).
    async fn claim_nick(&self, nick: &str, id: u64) -> bool {
        match self.inner.cluster.get() {
            Some(cluster) => {
                let gone = |old: u64| !lock(&self.inner.state).users.values().any(|u| u.id == old);
                cluster.claim(nick, id, gone).await
            }
            None => true,
        }
    }

    /// The user `id` no longer holds `nick`.
    pub(super) fn release_nick(&self, nick: &str, id: u64) {
        if let Some(cluster) = self.inner.cluster.get() {
            cluster.release(nick, id);
        }
    }

    /// The nicks of this node's users and their ids (the cluster's heartbeat keeps them
    /// claimed).
    pub(crate) fn local_nicks(&self) -> Vec<(String, u64)> {
        lock(&self.inner.state)
            .users
            .values()
            .map(|u| (u.nick(), u.id))
            .collect()
    }

    /// Create a user under `nick` (checked free by the caller, under the same lock) and its
    /// session and queue. A user arriving during shutdown is told at once.
    pub(super) fn add_user(
        &self,
        mut state: MutexGuard<'_, State>,
        id: u64,
        nick: &str,
        ident: &str,
        realname: &str,
    ) -> (Session, Inbox) {
        let user = Arc::new(User::new(
            id,
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
        self.guard_nick(&user);
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

    /// The first guest nick free here from `attempt` on (which it leaves at that nick's).
    pub(super) fn free_guest(state: &State, attempt: &mut u32) -> String {
        loop {
            let nick = guest_nick(*attempt);
            if !state.users.contains_key(&fold(&nick)) {
                return nick;
            }
            *attempt += 1;
        }
    }
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
        self.user.set(ACCOUNT_NOTIFY, wants.account_notify);
    }

    /// This user's real name (IRC's; the first nick for doors without real names).
    pub fn realname(&self) -> String {
        lock(&self.user.realname).to_string()
    }

    /// The account this user is logged in to.
    pub fn account(&self) -> Option<Arc<str>> {
        lock(&self.user.account).clone()
    }

    /// Tie this connection to an account (after a successful login), or to none. Those who
    /// share a room with the user (and watch it with extended-monitor) and take
    /// `account-notify` are told of a change.
    pub fn set_account(&self, account: Option<&str>) {
        self.hub.set_user_account(&self.user, account);
    }

    /// Tie a connection that is just arriving to the account it logged in to before: nobody
    /// is told (they hear of the arrival itself).
    pub fn start_account(&self, account: Option<&str>) {
        *lock(&self.user.account) = account.map(Arc::from);
    }

    /// The server's accounts, when users may log in.
    pub fn accounts(&self) -> Option<crate::accounts::Accounts> {
        self.hub.inner.config.accounts.clone()
    }

    /// Whether this user is a server operator.
    pub fn is_oper(&self) -> bool {
        self.user.has(OPER)
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
        let event = self.user.event(EventKind::Wallops {
            ts: SystemTime::now(),
            from: self.nick(),
            text: one_line(truncate(text, MAX_TEXT_LEN)),
        });
        for user in &audience {
            user.send(&event);
        }
        Ok(())
    }

    /// Set the reason given to others when this session ends.
    pub fn set_quit_reason(&self, reason: &str) {
        *lock(&self.quit_reason) = one_line(reason);
    }

    /// Change nick. Everyone sharing a room with this user is told.
    ///
    /// # Errors
    /// [`Error::NickInvalid`], [`Error::NickTaken`].
    pub async fn set_nick(&self, new: &str) -> Result<String, Error> {
        check_nick(new).map_err(|reason| Error::NickInvalid {
            nick: new.to_owned(),
            reason,
        })?;
        let id = self.user.id;
        let old = if fold(new) == fold(&self.nick()) {
            // A change of case: the same nick, already this user's.
            self.hub
                .rename(lock(&self.hub.inner.state), &self.user, new, false)?
        } else {
            let state = self.hub.take_nick(new, id).await?;
            let old = self.hub.rename(state, &self.user, new, false)?;
            self.hub.release_nick(&old, id);
            old
        };
        self.hub.guard_nick(&self.user);
        Ok(old)
    }
}

impl Hub {
    /// Rename `user` to `new` (a valid nick) under the lock held in `state`. Everyone sharing
    /// a room with the user is told, and the user too when `tell_user` (the server renamed
    /// it). Returns the old nick.
    ///
    /// # Errors
    /// [`Error::NickTaken`].
    pub(super) fn rename(
        &self,
        mut state: MutexGuard<'_, State>,
        user: &Arc<User>,
        new: &str,
        tell_user: bool,
    ) -> Result<String, Error> {
        let new_key = fold(new);
        let old = user.nick();
        let old_key = fold(&old);
        if new_key != old_key && state.users.contains_key(&new_key) {
            return Err(Error::NickTaken(new.to_owned()));
        }
        if old == new {
            return Ok(old);
        }
        state.users.remove(&old_key);
        state.users.insert(new_key.clone(), Arc::clone(user));
        *lock(&user.nick) = new.to_owned();
        self.announce_nick(user, &lock(&user.rooms));
        let mut audience = co_members(user, &state);
        if tell_user {
            audience.push(Arc::clone(user));
        }
        // A new nick (not a change of case) is a quit and an arrival to MONITOR.
        let (gone, come) = if new_key == old_key {
            (Vec::new(), Vec::new())
        } else {
            (state.watch.watching(&old), state.watch.watching(new))
        };
        drop(state);
        monitor_notice(&gone, false, &old);
        monitor_notice(&come, true, &address(new, &user.ident));
        let event = user.event(EventKind::Nick {
            ts: SystemTime::now(),
            old: old.clone(),
            new: new.to_owned(),
        });
        for member in &audience {
            member.send(&event);
        }
        Ok(old)
    }

    /// Tie `user` to an account, or to none ([`Session::set_account`]).
    pub(super) fn set_user_account(&self, user: &Arc<User>, account: Option<&str>) {
        let new = account.map(Arc::from);
        let old = std::mem::replace(&mut *lock(&user.account), new);
        if old.as_deref() == account {
            return;
        }
        let audience: Vec<Arc<User>> = {
            let state = lock(&self.inner.state);
            notified(user, &state, ACCOUNT_NOTIFY)
        };
        if !audience.is_empty() {
            tell(
                user,
                &audience,
                EventKind::Account {
                    ts: SystemTime::now(),
                    nick: user.nick(),
                    account: account.map(str::to_owned),
                },
            );
        }
        if let Some(account) = account {
            self.op_registered(user, account);
        }
        // Logged out, or in to another account, while on a registered nick.
        self.guard_nick(user);
    }
}
