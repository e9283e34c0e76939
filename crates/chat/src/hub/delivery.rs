//! Delivery: a message to a room or a user, built once as an [`Event`] and pushed on each recipient's bounded queue outside the lock.

use super::state::*;

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

impl User {
    pub(super) fn send(&self, event: &Event) {
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
    pub(super) fn close(&self, why: Gone) {
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
}

impl Hub {
    /// Link this hub to the other nodes ([`crate::cluster`]); once, before anyone connects.
    pub fn join_cluster(&self, cluster: crate::cluster::Cluster) {
        let _ = self.inner.cluster.set(cluster);
    }

    /// A room (folded or not) has its first member on this node: hear the other nodes' messages.
    pub(super) fn room_entered(&self, room: &str) {
        if let Some(cluster) = self.inner.cluster.get() {
            cluster.queue(crate::cluster::Job::Subscribe(fold(room)));
        }
    }

    /// A room has no member left on this node.
    pub(super) fn room_left(&self, room: &str) {
        if let Some(cluster) = self.inner.cluster.get() {
            cluster.queue(crate::cluster::Job::Unsubscribe(fold(room)));
        }
    }

    /// A message said on another node: to this node's members of its room (kept for replay
    /// like a local one, unless a notice).
    pub(crate) fn deliver_remote(&self, ident: &str, message: Message) {
        let key = fold(&message.to);
        let replay = self.inner.config.replay;
        let members = {
            let mut state = lock(&self.inner.state);
            let Some(room) = state.rooms.get_mut(&key) else {
                return;
            };
            if replay > 0 && !message.notice {
                if room.recent.len() >= replay {
                    room.recent.pop_front();
                }
                room.recent.push_back(message.clone());
            }
            Arc::clone(&room.members)
        };
        let account = message.account.as_deref().map(Arc::from);
        let event = Event::by_user(EventKind::Chat(message), &Arc::from(ident), account, None);
        for member in members.iter() {
            member.send(&event);
        }
    }

    /// A private message from another node to this node's user `id` (if still on the nick
    /// the message names).
    pub(crate) fn deliver_private_remote(&self, id: u64, ident: &str, mut message: Message) {
        let target = lock(&self.inner.state)
            .users
            .get(&fold(&message.to))
            .filter(|u| u.id == id)
            .cloned();
        let Some(target) = target else {
            return;
        };
        message.to = target.nick();
        let account = message.account.as_deref().map(Arc::from);
        let event = Event::by_user(
            EventKind::Private(message),
            &Arc::from(ident),
            account,
            None,
        );
        target.send(&event);
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
}

impl Session {
    /// Send an event done by this user to `audience`.
    pub(super) fn tell(&self, audience: &[Arc<User>], kind: EventKind) {
        tell(&self.user, audience, kind);
    }

    /// Who hears of a change of this user that goes to connections with `flag`: those who
    /// share a room and those who watch the nick with extended-monitor, each once, not this
    /// user.
    pub(super) fn notified(&self, state: &State, flag: u16) -> Vec<Arc<User>> {
        notified(&self.user, state, flag)
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
                account: self.account().map(|a| a.to_string()),
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
        let event = self.user.event(EventKind::Chat(message.clone()));
        for member in room_members_except(&members, self.user.id) {
            if !tag_only || member.has(TAGS) {
                member.send(&event);
            }
        }
        if let (Some(cluster), false) = (self.hub.inner.cluster.get(), tag_only) {
            cluster.queue(crate::cluster::Job::Publish {
                ident: self.user.ident.to_string(),
                message: message.clone(),
            });
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
    pub async fn private(&self, to: &str, text: &str, action: bool) -> Result<Message, Error> {
        let how = Sending {
            action,
            ..Sending::default()
        };
        self.private_with(to, text, how).await
    }

    /// Send a private notice (IRC's NOTICE to a nick).
    ///
    /// # Errors
    /// As [`Session::private`].
    pub async fn private_notice(&self, to: &str, text: &str) -> Result<Message, Error> {
        let how = Sending {
            notice: true,
            ..Sending::default()
        };
        self.private_with(to, text, how).await
    }

    /// Send a private message as `how` says (see [`Session::say_with`]); a tag message goes
    /// only to a connection that takes tags.
    ///
    /// # Errors
    /// As [`Session::private`].
    pub async fn private_with(&self, to: &str, text: &str, how: Sending) -> Result<Message, Error> {
        let Sending {
            action,
            notice,
            tags: client_tags,
            tag_only,
        } = how;
        if text.trim().is_empty() && !tag_only {
            return Err(Error::EmptyMessage);
        }
        let local = lock(&self.hub.inner.state).users.get(&fold(to)).cloned();
        let message = |to: String, client_tags: Option<Arc<str>>| Message {
            id: self.hub.next_id(),
            ts: SystemTime::now(),
            from: self.nick(),
            account: self.account().map(|a| a.to_string()),
            to,
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
        let Some(target) = local else {
            // On another node, if one holds the nick (tags alone are not carried there).
            let cluster = self.hub.inner.cluster.get().filter(|_| !tag_only);
            let holder = match cluster {
                Some(cluster) => cluster.holder_of(to).await,
                None => None,
            };
            let (Some(cluster), Some((node, id))) = (cluster, holder) else {
                return Err(Error::NoSuchUser(to.to_owned()));
            };
            let message = message(to.to_owned(), None);
            cluster.queue(crate::cluster::Job::Private {
                node,
                id,
                ident: self.user.ident.to_string(),
                message: message.clone(),
            });
            return Ok(message);
        };
        let message = message(target.nick(), client_tags);
        if !tag_only || target.has(TAGS) {
            target.send(&self.user.event(EventKind::Private(message.clone())));
        }
        Ok(message)
    }
}
