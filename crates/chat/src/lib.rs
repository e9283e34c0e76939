//! `prise chat`: the hub and its front doors.
//!
//! - [`accounts`]: accounts (names, Argon2id password hashes) in the history database.
//! - [`hub`]: users, rooms, topics, private messages, fan-out without waiting on anyone.
//! - [`history`]: room history in SQLite on its own thread.
//! - [`event`]: events built once and serialized once per wire format.
//! - [`server`]: `run(listener, config, shutdown)`, one port for native, text and IRC clients.
//! - [`irc`]: the IRC front door.
//! - [`client`]: the native protocol client library, with reconnect.
//! - [`web`]: the browser client and its WebSocket door (the native protocol, one JSON object
//!   per message).
//!
//! The native protocol and text mode are specified in docs/PROTOCOL-chat.md.

mod conn;
mod door;
mod error;
mod native;
mod text;

pub mod accounts;
pub mod client;
pub mod cluster;
pub mod event;
pub mod history;
pub mod hub;
pub mod irc;
pub mod limits;
pub mod masks;
pub mod modes;
pub mod names;
pub mod scram;
pub mod server;
pub mod watch;
pub mod web;

pub use conn::ConnConfig;
pub use error::Error;
