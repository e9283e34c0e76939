//! `prise monitor`: uptime checks with notifications.
//!
//! Built so far: [`condition`], the typed conditions a check's result must meet (parsed when
//! the config is read, with the column of any mistake). The checks, the state machine, the
//! notifications, the history and the status page come next (issue 7).

pub mod condition;
