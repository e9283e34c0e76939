//! The arguments of `prise monitor`.

use std::path::PathBuf;

use clap::{Args, ValueHint};

#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The checks and notifiers (`[[check]]` and `[[notify]]` tables; see the README). Not
    /// named `config`: that id means a `--config` file of flags (see config.rs).
    #[arg(value_name = "CONFIG", value_hint = ValueHint::FilePath)]
    pub(crate) checks: PathBuf,

    /// Run every check once, print the results, and exit 1 if any is down.
    #[arg(long)]
    pub(crate) once: bool,

    /// With --once: one JSON object per check and line.
    #[arg(long, requires = "once")]
    pub(crate) json: bool,

    /// Serve the status page, its JSON API (/api/checks, /api/incidents), /metrics and
    /// /badge/NAME.svg on ADDR (e.g. 127.0.0.1:8090).
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub(crate) status: Option<String>,

    /// Keep the history (every run, every incident) in this SQLite file
    /// [default: prise/monitor-history.sqlite in the user's data folder].
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, conflicts_with = "no_history")]
    pub(crate) history: Option<PathBuf>,

    /// Keep no history (the status page then shows no uptime).
    #[arg(long)]
    pub(crate) no_history: bool,
}
