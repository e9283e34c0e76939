//! `prise monitor`: uptime checks with notifications.
//!
//! - [`config`]: the TOML file, every mistake with its line and column.
//! - [`condition`]: the typed conditions a run must meet (`[STATUS] == 200`).
//! - [`check`]: one run of a check (tcp, http, https, tls, ntp, echo, chat).
//! - [`state`]: up and down with thresholds.
//! - [`notify`]: webhooks, commands and email.
//! - [`run`]: every check on its interval, or once.
//! - [`board`], [`history`], [`status`]: the live state, the SQLite history, and the status
//!   server (page, JSON API, `/metrics`, badges).
//!
//! - [`maintenance`]: weekly windows that hold notices back.

pub mod board;
pub mod check;
pub mod condition;
pub mod config;
pub mod history;
pub mod maintenance;
pub mod notify;
pub mod run;
pub mod state;
pub mod status;
