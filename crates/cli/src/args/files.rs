//! The arguments of `prise send` and `prise receive`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueHint};

use super::common::{duration, size, ServeArgs, ServerTlsArgs, TokenClientArgs};

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Files and folders to send (folders with everything under them); `-` sends stdin.
    #[arg(value_name = "PATH", required = true, value_hint = ValueHint::AnyPath)]
    pub(crate) paths: Vec<PathBuf>,

    /// The receiver, HOST:PORT (what `prise receive` printed).
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: String,

    /// The file name stdin (`-`) is received under.
    #[arg(long, value_name = "NAME", default_value = "stdin")]
    pub(crate) name: String,

    /// Print the outcome as JSON on stdout (no progress bars).
    #[arg(long)]
    pub(crate) json: bool,

    #[command(flatten)]
    pub(crate) client: TokenClientArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReceiveArgs {
    /// Address to listen on. Every address by default: a receiver is for other machines (the
    /// token keeps strangers out).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7171")]
    pub(crate) listen: String,

    /// Folder to receive into; nothing is written outside it.
    #[arg(long, value_name = "DIR", default_value = ".", value_hint = ValueHint::DirPath)]
    pub(crate) dir: PathBuf,

    /// Stop after one session.
    #[arg(long)]
    pub(crate) once: bool,

    /// Senders must give this token; when absent one is made up and printed.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRISE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Refuse files larger than SIZE (bytes, or with K, M, G, T: powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub(crate) max_size: Option<u64>,

    /// Replace a different file of the same name (once the new one is verified).
    #[arg(long, conflicts_with = "rename")]
    pub(crate) overwrite: bool,

    /// Keep a different file of the same name and write the new one as `name (1).ext`.
    #[arg(long)]
    pub(crate) rename: bool,

    /// Give up on a sender silent for this long.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub(crate) idle_timeout: Duration,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}
