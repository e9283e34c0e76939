//! Registered rooms (docs/PROTOCOL-chat.md, "Registered rooms"): an account that operates a
//! room may register it. The room then outlives its last member and a restart, with its topic,
//! modes, lists and operators; its operators are accounts, made operators when they join (or
//! log in while inside), and nobody else becomes one by opening it empty.
//!
//! The rooms are kept in the accounts store ([`crate::accounts::Store`]) by one writer thread.
//! A change queues the room's key; the writer reads the room as it is then and writes it, so
//! the hub never waits on the database and the last write of a room is its latest state.

use std::sync::{mpsc, Weak};

use super::state::*;
use crate::accounts::{Accounts, RoomRecord};
use crate::masks::ListEntry;

/// Most rooms one account may register.
pub const MAX_ROOMS_PER_ACCOUNT: usize = 20;

/// Most operator accounts one registered room keeps.
pub const MAX_ROOM_OPS: usize = 100;

impl Registered {
    /// Whether `account` is one of the room's operators.
    pub(super) fn is_op(&self, account: &str) -> bool {
        self.ops.contains(&fold(account))
    }

    /// Make `account` an operator of the room, or no longer one (the founder always stays).
    pub(super) fn set_op(&mut self, account: &str, on: bool) {
        let folded = fold(account);
        if on {
            if !self.ops.contains(&folded) && self.ops.len() < MAX_ROOM_OPS {
                self.ops.push(folded);
            }
        } else if folded != fold(&self.founder) {
            self.ops.retain(|o| *o != folded);
        }
    }
}

/// A room's registration as shown (ChanServ's INFO, the native `room_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRegistration {
    /// The room's display name.
    pub room: String,
    /// The account that registered it.
    pub founder: String,
    /// When.
    pub registered: SystemTime,
    /// The accounts made operators on joining, folded, the founder first.
    pub ops: Vec<String>,
}

fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn from_ms(ms: i64) -> SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Room {
    /// The room as kept, when registered.
    fn record(&self) -> Option<RoomRecord> {
        let registered = self.registered.as_ref()?;
        let list = |kind| self.lists.get(kind).to_vec();
        Some(RoomRecord {
            name: self.name.clone(),
            founder: registered.founder.clone(),
            registered_ms: registered.registered_ms,
            ops: registered.ops.clone(),
            topic: self.topic.clone(),
            topic_set: self
                .topic_set
                .as_ref()
                .map(|(by, at)| (by.clone(), to_ms(*at))),
            modes: self.modes.clone(),
            bans: list(ListKind::Ban),
            excepts: list(ListKind::Except),
            invex: list(ListKind::Invex),
        })
    }

    /// A registered room as kept; its history is loaded when it is first joined.
    fn from_record(record: RoomRecord) -> Self {
        let mut room = Room::new(record.name, VecDeque::new());
        let founder = fold(&record.founder);
        let mut ops = record.ops;
        if !ops.contains(&founder) {
            ops.insert(0, founder);
        }
        ops.truncate(MAX_ROOM_OPS);
        room.topic = one_line(truncate(&record.topic, MAX_TOPIC_LEN));
        room.topic_set = record.topic_set.map(|(by, ms)| (by, from_ms(ms)));
        room.modes = record.modes;
        let bounded = |mut list: Vec<ListEntry>| {
            list.truncate(crate::masks::MAX_LIST_LEN);
            list
        };
        room.lists = Lists::from_parts(
            bounded(record.bans),
            bounded(record.excepts),
            bounded(record.invex),
        );
        room.created = from_ms(record.registered_ms);
        room.registered = Some(Box::new(Registered {
            founder: record.founder,
            registered_ms: record.registered_ms,
            ops,
        }));
        room.stale = true;
        room
    }
}

impl State {
    /// Put the registered rooms kept by `accounts` in this state (at start). A store that
    /// cannot be read is logged: the server starts without them rather than not at all.
    pub(super) fn load_registered(&mut self, accounts: &Accounts) {
        match accounts.rooms() {
            Ok(records) => {
                for record in records {
                    let Ok(name) = normalize_room(&record.name) else {
                        tracing::warn!(room = %record.name, "a kept room has an invalid name: skipped");
                        continue;
                    };
                    let mut room = Room::from_record(record);
                    room.name.clone_from(&name);
                    self.rooms.insert(fold(&name), room);
                }
            }
            Err(e) => tracing::error!(error = %e, "registered rooms could not be read"),
        }
    }
}

impl Writer {
    /// Start the writer; it reads rooms through `inner` and ends with the hub.
    pub(super) fn start(accounts: Accounts, inner: Weak<Inner>) -> Self {
        let (jobs, queue) = mpsc::channel::<RegistryJob>();
        let spawned = std::thread::Builder::new()
            .name("prise-rooms".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    match job {
                        RegistryJob::Save(key) => {
                            let Some(inner) = inner.upgrade() else {
                                break;
                            };
                            let record = lock(&inner.state).rooms.get(&key).and_then(Room::record);
                            drop(inner);
                            let written = match record {
                                Some(record) => accounts.put_room(&record),
                                None => accounts.remove_room(&key).map(|_| ()),
                            };
                            if let Err(e) = written {
                                tracing::error!(room = %key, error = %e, "a registered room was not saved");
                            }
                        }
                        RegistryJob::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "registered rooms will not be saved: no writer thread");
        }
        Self { jobs }
    }

    /// Wait until every change queued so far is written.
    pub(super) async fn flush(&self) {
        let (done, written) = tokio::sync::oneshot::channel();
        if self.jobs.send(RegistryJob::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

impl Hub {
    /// Queue the room `name` to be written as it is (or forgotten) by the writer.
    pub(super) fn save_room(&self, name: &str) {
        if let Some(registry) = &self.inner.registry {
            let _ = registry.jobs.send(RegistryJob::Save(fold(name)));
        }
    }

    /// Unregister every room the account `account` registered (the account is gone).
    pub(super) fn forget_rooms_of(&self, account: &str) {
        let folded = fold(account);
        let mut state = lock(&self.inner.state);
        let keys: Vec<String> = state
            .rooms
            .iter()
            .filter(|(_, r)| {
                r.registered
                    .as_ref()
                    .is_some_and(|g| fold(&g.founder) == folded)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            unregister(&mut state, key);
        }
        drop(state);
        for key in &keys {
            self.save_room(key);
        }
    }

    /// Make `user`, just logged in to `account`, an operator of the registered rooms it is in
    /// whose operators include that account (ChanServ gives the `+o`).
    pub(super) fn op_registered(&self, user: &Arc<User>, account: &str) {
        let keys: Vec<String> = lock(&user.rooms).clone();
        let mut opped: Vec<(String, Arc<Vec<Arc<User>>>)> = Vec::new();
        let mut state = lock(&self.inner.state);
        for key in keys {
            let Some(room) = state.rooms.get_mut(&key) else {
                continue;
            };
            let entitled = room.registered.as_ref().is_some_and(|r| r.is_op(account));
            if entitled && room.has(user.id) && !room.ops.contains(&user.id) {
                room.ops.push(user.id);
                opped.push((room.name.clone(), Arc::clone(&room.members)));
            }
        }
        drop(state);
        let source: Arc<str> = Arc::from(CHANSERV);
        for (room, members) in opped {
            let event = Event::with_source(
                EventKind::Mode {
                    ts: SystemTime::now(),
                    room,
                    by: CHANSERV.into(),
                    modes: "+o".into(),
                    args: vec![user.nick()],
                },
                &source,
            );
            for member in members.iter() {
                member.send(&event);
            }
        }
    }
}

/// The name room operator changes made by the server carry (IRC's ChanServ pseudo-user).
pub const CHANSERV: &str = "ChanServ";

/// Take the registration off the room `key`; a room left empty closes.
fn unregister(state: &mut State, key: &str) {
    if let Some(room) = state.rooms.get_mut(key) {
        room.registered = None;
        if room.members.is_empty() {
            state.rooms.remove(key);
        }
    }
}

impl Session {
    /// Register a room this user operates, to the account it is logged in to. Returns the
    /// room's display name.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::Accounts`] (the server keeps no accounts),
    /// [`Error::NotLoggedIn`], [`Error::NotInRoom`], [`Error::RoomRegistered`],
    /// [`Error::NotOperator`], [`Error::TooManyRegisteredRooms`].
    pub fn register_room(&self, room: &str) -> Result<String, Error> {
        let name = room_name(room)?;
        self.accounts_or_error()?;
        let account = self.account().ok_or(Error::NotLoggedIn)?;
        let folded = fold(&account);
        let mut state = lock(&self.hub.inner.state);
        let owned = state
            .rooms
            .values()
            .filter(|r| {
                r.registered
                    .as_ref()
                    .is_some_and(|g| fold(&g.founder) == folded)
            })
            .count();
        let Some(room) = state.rooms.get_mut(&fold(&name)) else {
            return Err(Error::NotInRoom(name));
        };
        if !room.has(self.user.id) {
            return Err(Error::NotInRoom(room.name.clone()));
        }
        if let Some(registered) = &room.registered {
            return Err(Error::RoomRegistered {
                room: room.name.clone(),
                founder: registered.founder.clone(),
            });
        }
        if !room.status(self.user.id).op {
            return Err(Error::NotOperator(room.name.clone()));
        }
        if owned >= MAX_ROOMS_PER_ACCOUNT {
            return Err(Error::TooManyRegisteredRooms(MAX_ROOMS_PER_ACCOUNT));
        }
        room.registered = Some(Box::new(Registered {
            founder: account.to_string(),
            registered_ms: to_ms(SystemTime::now()),
            ops: vec![folded],
        }));
        let shown = room.name.clone();
        drop(state);
        tracing::info!(room = %shown, account = %account, "room registered");
        self.hub.save_room(&shown);
        Ok(shown)
    }

    /// Unregister a room: its founder (logged in) or a server operator may. The room closes
    /// if it is empty. Returns its display name.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] (no such room),
    /// [`Error::RoomNotRegistered`], [`Error::NotFounder`].
    pub fn unregister_room(&self, room: &str) -> Result<String, Error> {
        let name = room_name(room)?;
        let key = fold(&name);
        let account = self.account();
        let oper = self.is_oper();
        let mut state = lock(&self.hub.inner.state);
        let Some(room) = state.rooms.get(&key).filter(|r| r.visible_to(self.user.id)) else {
            return Err(Error::NotInRoom(name));
        };
        let shown = room.name.clone();
        let Some(registered) = &room.registered else {
            return Err(Error::RoomNotRegistered(shown));
        };
        let founder = account
            .as_deref()
            .is_some_and(|a| fold(a) == fold(&registered.founder));
        if !founder && !oper {
            return Err(Error::NotFounder(shown));
        }
        unregister(&mut state, &key);
        drop(state);
        tracing::info!(room = %shown, by = %self.nick(), "room unregistered");
        self.hub.save_room(&shown);
        Ok(shown)
    }

    /// A room's registration, for a room this user may see.
    ///
    /// # Errors
    /// [`Error::RoomInvalid`], [`Error::NotInRoom`] (no such room),
    /// [`Error::RoomNotRegistered`].
    pub fn room_registration(&self, room: &str) -> Result<RoomRegistration, Error> {
        let name = room_name(room)?;
        let state = lock(&self.hub.inner.state);
        let Some(room) = state
            .rooms
            .get(&fold(&name))
            .filter(|r| r.visible_to(self.user.id))
        else {
            return Err(Error::NotInRoom(name));
        };
        let Some(registered) = &room.registered else {
            return Err(Error::RoomNotRegistered(room.name.clone()));
        };
        Ok(RoomRegistration {
            room: room.name.clone(),
            founder: registered.founder.clone(),
            registered: from_ms(registered.registered_ms),
            ops: registered.ops.clone(),
        })
    }
}
