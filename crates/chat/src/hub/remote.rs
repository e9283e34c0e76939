//! The users of other nodes (docs/CLUSTER.md, "Presence"): what this node tells the others of
//! its users' joins, parts, quits and nick changes, and how it shows theirs to its own users.
//! A room keeps the other nodes' members beside its own; they show in its member lists and
//! their comings and goings reach its local members as events, as a local user's would.

use super::rooms::Member;
use super::state::*;
use crate::cluster::{Job, RemoteMember};

impl Room {
    /// The other nodes' members as listed.
    pub(super) fn remote_members(&self) -> impl Iterator<Item = Member> + '_ {
        self.remote.iter().map(|r| Member {
            nick: r.member.nick.clone(),
            ident: Arc::from(r.member.ident.as_str()),
            status: Status::default(),
        })
    }

    /// Take in a remote member (replacing what was known of it); whether it is new here.
    fn add_remote(&mut self, node: &str, member: RemoteMember) -> bool {
        match self
            .remote
            .iter_mut()
            .find(|r| &*r.node == node && r.member.id == member.id)
        {
            Some(known) => {
                known.member = member;
                false
            }
            None => {
                self.remote.push(RemoteEntry {
                    node: Arc::from(node),
                    member,
                });
                true
            }
        }
    }

    fn remove_remote(&mut self, node: &str, id: u64) -> Option<RemoteMember> {
        let at = self
            .remote
            .iter()
            .position(|r| &*r.node == node && r.member.id == id)?;
        Some(self.remote.remove(at).member)
    }
}

impl User {
    fn as_remote(&self) -> RemoteMember {
        RemoteMember {
            id: self.id,
            nick: self.nick(),
            ident: self.ident.to_string(),
            account: lock(&self.account).as_deref().map(str::to_owned),
        }
    }
}

/// An event done by a user of another node.
fn remote_event(member: &RemoteMember, kind: EventKind) -> Event {
    Event::by_user(
        kind,
        &Arc::from(member.ident.as_str()),
        member.account.as_deref().map(Arc::from),
        None,
    )
}

impl Hub {
    fn queue(&self, job: Job) {
        if let Some(cluster) = self.inner.cluster.get() {
            cluster.queue(job);
        }
    }

    /// `user` joined `room` here: the other nodes are told.
    pub(super) fn announce_join(&self, user: &User, room: &str) {
        if self.inner.cluster.get().is_some() {
            self.queue(Job::Joined {
                room: room.to_owned(),
                member: user.as_remote(),
            });
        }
    }

    /// The user `id` left `room` here (`quit`: left the server).
    pub(super) fn announce_left(&self, id: u64, room: &str, reason: &str, quit: bool) {
        self.queue(Job::Left {
            room: room.to_owned(),
            id,
            reason: reason.to_owned(),
            quit,
        });
    }

    /// `user` set `room`'s topic here: the other nodes are told.
    pub(super) fn announce_topic(&self, user: &User, room: &str, topic: &str) {
        if self.inner.cluster.get().is_some() {
            self.queue(Job::Topic {
                room: room.to_owned(),
                topic: crate::cluster::KeptTopic {
                    topic: topic.to_owned(),
                    by: user.nick(),
                    ident: user.ident.to_string(),
                },
            });
        }
    }

    /// `user` changed nick here: the rooms it is in are told.
    pub(super) fn announce_nick(&self, user: &User, rooms: &[String]) {
        if self.inner.cluster.get().is_some() {
            let member = user.as_remote();
            for room in rooms {
                self.queue(Job::Renamed {
                    room: room.clone(),
                    member: member.clone(),
                });
            }
        }
    }

    /// A user of `node` (every user of it, with `None`) left: out of every room here, and
    /// one quit each to this node's users who shared a room with them.
    fn remote_quit(&self, node: &str, id: Option<u64>, reason: &str) {
        let mut gone: Vec<(RemoteMember, Vec<Arc<User>>)> = Vec::new();
        {
            let mut state = lock(&self.inner.state);
            for room in state.rooms.values_mut() {
                let leaving: Vec<u64> = room
                    .remote
                    .iter()
                    .filter(|r| &*r.node == node && id.is_none_or(|id| r.member.id == id))
                    .map(|r| r.member.id)
                    .collect();
                for left in leaving {
                    let Some(member) = room.remove_remote(node, left) else {
                        continue;
                    };
                    let at = match gone.iter().position(|(m, _)| m.id == member.id) {
                        Some(at) => at,
                        None => {
                            gone.push((member, Vec::new()));
                            gone.len() - 1
                        }
                    };
                    let audience = &mut gone[at].1;
                    for local in room.members.iter() {
                        if !audience.iter().any(|a| a.id == local.id) {
                            audience.push(Arc::clone(local));
                        }
                    }
                }
            }
        }
        for (member, audience) in gone {
            let event = remote_event(
                &member,
                EventKind::Quit {
                    ts: SystemTime::now(),
                    nick: member.nick.clone(),
                    reason: one_line(reason),
                },
            );
            for local in &audience {
                local.send(&event);
            }
        }
    }
}

impl crate::cluster::Local for Hub {
    fn deliver_remote(&self, ident: &str, message: Message) {
        Hub::deliver_remote(self, ident, message);
    }

    fn deliver_private_remote(&self, id: u64, ident: &str, message: Message) {
        Hub::deliver_private_remote(self, id, ident, message);
    }

    fn local_nicks(&self) -> Vec<(String, u64)> {
        Hub::local_nicks(self)
    }

    fn remote_topic(&self, room: &str, kept: crate::cluster::KeptTopic) {
        let (name, members, registered) = {
            let mut state = lock(&self.inner.state);
            let Some(room) = state.rooms.get_mut(&fold(room)) else {
                return;
            };
            if room.topic == kept.topic {
                return;
            }
            room.topic = one_line(truncate(&kept.topic, MAX_TOPIC_LEN));
            room.topic_set = Some((kept.by.clone(), SystemTime::now()));
            (
                room.name.clone(),
                Arc::clone(&room.members),
                room.registered.is_some(),
            )
        };
        if registered {
            self.save_room(&name);
        }
        let event = Event::by_user(
            EventKind::Topic {
                ts: SystemTime::now(),
                room: name,
                topic: one_line(truncate(&kept.topic, MAX_TOPIC_LEN)),
                by: kept.by.clone(),
            },
            &Arc::from(kept.ident.as_str()),
            None,
            None,
        );
        for member in members.iter() {
            member.send(&event);
        }
    }

    /// Who of other nodes is in `room` now, read again after an outage: those who came
    /// meanwhile are shown joining, and (with `leavers`) those who left leaving.
    fn remote_resync(&self, room: &str, members: Vec<(String, RemoteMember)>, leavers: bool) {
        let key = fold(room);
        let (came, went) = {
            let mut state = lock(&self.inner.state);
            let Some(room) = state.rooms.get_mut(&key) else {
                return;
            };
            let went: Vec<RemoteEntry> = room
                .remote
                .iter()
                .filter(|_| leavers)
                .filter(|r| {
                    !members
                        .iter()
                        .any(|(n, m)| *n == *r.node && m.id == r.member.id)
                })
                .cloned()
                .collect();
            let came: Vec<(String, RemoteMember)> = members
                .iter()
                .filter(|(n, m)| {
                    !room
                        .remote
                        .iter()
                        .any(|r| *r.node == **n && r.member.id == m.id)
                })
                .cloned()
                .collect();
            (came, went)
        };
        for entry in went {
            self.remote_left(&entry.node, room, entry.member.id, "", false);
        }
        for (node, member) in came {
            self.remote_joined(&node, room, member);
        }
    }

    /// Who of other nodes is in `room`, as read when this node opened it.
    fn remote_snapshot(&self, room: &str, members: Vec<(String, RemoteMember)>) {
        let mut state = lock(&self.inner.state);
        if let Some(room) = state.rooms.get_mut(&fold(room)) {
            for (node, member) in members {
                room.add_remote(&node, member);
            }
        }
    }

    /// A user of `node` joined `room`.
    fn remote_joined(&self, node: &str, room: &str, member: RemoteMember) {
        let (name, audience) = {
            let mut state = lock(&self.inner.state);
            let Some(room) = state.rooms.get_mut(&fold(room)) else {
                return;
            };
            if !room.add_remote(node, member.clone()) {
                return;
            }
            (room.name.clone(), Arc::clone(&room.members))
        };
        let event = remote_event(
            &member,
            EventKind::Join {
                ts: SystemTime::now(),
                room: name,
                nick: member.nick.clone(),
            },
        );
        for local in audience.iter() {
            local.send(&event);
        }
    }

    /// A user of `node` left `room`, or the server (`quit`: it leaves every room here, and
    /// this node's users who shared one are told once).
    fn remote_left(&self, node: &str, room: &str, id: u64, reason: &str, quit: bool) {
        if quit {
            self.remote_quit(node, Some(id), reason);
            return;
        }
        let (name, member, audience) = {
            let mut state = lock(&self.inner.state);
            let Some(room) = state.rooms.get_mut(&fold(room)) else {
                return;
            };
            let Some(member) = room.remove_remote(node, id) else {
                return;
            };
            (room.name.clone(), member, Arc::clone(&room.members))
        };
        let event = remote_event(
            &member,
            EventKind::Part {
                ts: SystemTime::now(),
                room: name,
                nick: member.nick.clone(),
                reason: one_line(reason),
            },
        );
        for local in audience.iter() {
            local.send(&event);
        }
    }

    /// A user of `node` in `room` changed nick: updated in every room here, one nick change
    /// to this node's users who share a room with them.
    fn remote_renamed(&self, node: &str, room: &str, member: RemoteMember) {
        let _ = room;
        let mut old = None;
        let mut audience: Vec<Arc<User>> = Vec::new();
        {
            let mut state = lock(&self.inner.state);
            for room in state.rooms.values_mut() {
                let Some(known) = room
                    .remote
                    .iter_mut()
                    .find(|r| &*r.node == node && r.member.id == member.id)
                else {
                    continue;
                };
                if known.member.nick == member.nick {
                    continue;
                }
                old = Some(std::mem::replace(&mut known.member, member.clone()).nick);
                for local in room.members.iter() {
                    if !audience.iter().any(|a| a.id == local.id) {
                        audience.push(Arc::clone(local));
                    }
                }
            }
        }
        let Some(old) = old else {
            return;
        };
        let event = remote_event(
            &member,
            EventKind::Nick {
                ts: SystemTime::now(),
                old,
                new: member.nick.clone(),
            },
        );
        for local in &audience {
            local.send(&event);
        }
    }

    /// Every room membership of this node's users: the room (folded) and the user.
    fn local_memberships(&self) -> Vec<(String, RemoteMember)> {
        let state = lock(&self.inner.state);
        state
            .rooms
            .iter()
            .flat_map(|(key, room)| {
                room.members
                    .iter()
                    .map(move |user| (key.clone(), user.as_remote()))
            })
            .collect()
    }

    /// The rooms that have members on this node (folded names).
    fn local_rooms(&self) -> Vec<String> {
        lock(&self.inner.state)
            .rooms
            .iter()
            .filter(|(_, r)| !r.members.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The other nodes this node knows users of.
    fn remote_nodes(&self) -> Vec<String> {
        let state = lock(&self.inner.state);
        let mut nodes: Vec<String> = state
            .rooms
            .values()
            .flat_map(|r| r.remote.iter().map(|e| e.node.to_string()))
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }

    /// `node` stopped its heartbeat: its users leave, with a quit.
    fn remote_node_gone(&self, node: &str) {
        self.remote_quit(node, None, "Node lost");
    }
}
