//! prise chat in a terminal, on the client library of `prise-chat` ([`prise_chat::client`]):
//!
//! - [`screen`]: the full-screen client of `prise chat connect` (ratatui): rooms and private
//!   chats, messages, members, the input line and the connection's state;
//! - [`commands`]: the slash commands (`/join`, `/nick` or `/nom`, `/msg`, …) turned into
//!   protocol requests, shared with the line client that `prise chat connect` runs when its
//!   output is not a terminal.
//!
//! The binary crate only wires these to its arguments and output.

pub mod commands;
pub mod screen;
