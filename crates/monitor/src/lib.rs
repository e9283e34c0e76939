//! `prise monitor`: uptime checks with notifications.
//!
//! - [`config`]: the TOML file, every mistake with its line and column.
//! - [`condition`]: the typed conditions a run must meet (`[STATUS] == 200`).
//! - [`check`]: one run of a check (tcp, http, https, tls, ntp, echo).
//! - [`state`]: up and down with thresholds.
//! - [`notify`]: webhooks and commands.
//! - [`run`]: every check on its interval, or once.
//!
//! Not built yet (issue 7): email, degraded state, reminders, maintenance windows,
//! dependencies, history in SQLite, the status page, metrics, badges, reload on SIGHUP.

pub mod check;
pub mod condition;
pub mod config;
pub mod notify;
pub mod run;
pub mod state;
