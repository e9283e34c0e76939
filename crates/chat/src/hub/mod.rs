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
//! - An [`Event`](crate::event::Event) is built once per message and shared, bytes included.
//! - History writes go to the SQLite thread ([`crate::history`]); the latest
//!   [`HubConfig::replay`] messages of each open room are also kept in memory for joins.
//!
//! The code is split by concern, each part adding to the same [`Hub`] and [`Session`]: `users`
//! (connecting, nicks, modes, operators, WHOIS, MONITOR, the [`Inbox`]), `rooms` (join and part,
//! topics, kicks, invitations, modes and lists), `delivery` (messages to rooms and users),
//! `identity` (logging in, registering, owned nicks, GHOST and DROP) and `history` (replay). The state they share (users, rooms, the lock) and `Hub` and `Session`
//! themselves are in `state`, which uses none of the others; this file only names what is public.
//!
//! The seam for a second implementation (Redis fan-out and presence, a later issue) is this
//! module's public surface: front doors only use [`Hub`] and [`Session`].

mod delivery;
mod history;
mod identity;
mod registry;
mod remote;
mod rooms;
mod state;
mod users;

pub use delivery::Sending;
pub use registry::{RoomRegistration, CHANSERV, MAX_ROOMS_PER_ACCOUNT, MAX_ROOM_OPS};
pub use rooms::{check_key, Joined, Member, ModeChange, RoomInfo, MAX_KEY_LEN};
pub(crate) use state::one_line;
pub use state::{
    Counts, Gone, Hub, HubConfig, RoomModes, Session, Status, MAX_REALNAME_LEN, MAX_ROOMS_PER_USER,
    MAX_TEXT_LEN, NICK_GRACE, QUEUE_LEN, REPLAY,
};
pub use users::{Inbox, UserInfo, UserModes, Wants};
