//! The arguments of `prise backup`: the server and its clients.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueHint};

use super::common::{ServeArgs, ServerTlsArgs, TokenClientArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Keep the snapshots that clients push, in a store folder.
    Serve(BackupServeArgs),
    /// Push a folder as a new snapshot.
    Push(BackupPushArgs),
    /// List the snapshots (each one's id, time, files and bytes).
    List(BackupListArgs),
    /// Restore a snapshot (the latest by default) into a folder.
    Restore(BackupRestoreArgs),
    /// Keep the last N snapshots of a backup; remove the others and the content only they used.
    Forget(BackupForgetArgs),
    /// Read every chunk in the store and check it; exit 1 if any is damaged or missing.
    Check(BackupCheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BackupForgetArgs {
    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// The backup's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,

    /// How many of the latest snapshots to keep.
    #[arg(long, value_name = "N")]
    pub(crate) keep_last: u64,

    /// Print the outcome as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupCheckArgs {
    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// Print the findings as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7272")]
    pub(crate) listen: String,

    /// The store folder (created if needed).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) store: PathBuf,

    /// Clients must give this token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRISE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupPushArgs {
    /// The folder to back up.
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) dir: PathBuf,

    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: String,

    /// The backup's name (default: the folder's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Read every file, ignoring the index of the last push (files whose size, modification
    /// time and inode are unchanged are otherwise not read again).
    #[arg(long)]
    pub(crate) no_index: bool,

    /// Leave out what matches this glob (repeatable). Without '/', it matches a name at any
    /// depth ('*.tmp', 'node_modules'); with '/', the path from DIR ('build/*.o', '/cache');
    /// a trailing '/' matches folders only ('logs/').
    #[arg(long, value_name = "GLOB")]
    pub(crate) exclude: Vec<String>,

    /// Print the outcome as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupListArgs {
    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// Only this backup (default: all).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Print the snapshots as JSON.
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BackupRestoreArgs {
    /// Where to restore (created if needed; files of the same names are replaced).
    #[arg(value_name = "DEST", value_hint = ValueHint::DirPath)]
    pub(crate) dest: PathBuf,

    /// The server, HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// The backup's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) name: String,

    /// The snapshot's id (see `prise backup list`); the latest when absent.
    #[arg(long, value_name = "ID")]
    pub(crate) snapshot: Option<String>,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}
