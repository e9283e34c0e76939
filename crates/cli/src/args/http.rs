//! The arguments of `prise http serve`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueHint};

use super::common::{size, ServeArgs, ServerTlsArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum HttpCommand {
    /// Serve DIR (the current folder by default) until Ctrl-C.
    Serve(HttpServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct HttpServeArgs {
    /// The folder to serve (default: the current folder).
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) dir: Option<PathBuf>,

    /// The folder to serve, as a setting (`root = "/srv/www"` in a config file); DIR wins.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub(crate) root: Option<PathBuf>,

    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,

    /// Serve and list names starting with '.' (hidden otherwise: answered 404, not listed).
    #[arg(long)]
    pub(crate) hidden: bool,

    /// Follow symlinks that lead outside DIR (otherwise they are answered 404).
    #[arg(long)]
    pub(crate) follow_symlinks: bool,

    /// Accept uploads: `PUT /path` (`curl -T FILE URL`), stored only once complete.
    #[arg(long)]
    pub(crate) upload: bool,

    /// Let an upload replace an existing file (otherwise 409 Conflict).
    #[arg(long)]
    pub(crate) overwrite: bool,

    /// Largest upload (413 beyond): bytes, or with K, M, G (powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = size, default_value = "4G")]
    pub(crate) max_upload: u64,

    /// A user for HTTP Basic authentication (repeatable); better in the config file
    /// (`auth = ["name:password"]`), since command lines show in `ps`.
    #[arg(long, value_name = "USER:PASS")]
    pub(crate) auth: Vec<String>,

    /// More users, from an htpasswd file (bcrypt from `htpasswd -B`, SHA-crypt from
    /// `openssl passwd -5/-6`, or Argon2). SIGHUP reads it again.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) htpasswd: Option<PathBuf>,

    /// With --auth or --htpasswd, reads stay public and only uploads need a user.
    #[arg(long)]
    pub(crate) auth_uploads_only: bool,

    /// Let pages of any origin read (and, with --upload, write) through the browser (CORS).
    #[arg(long)]
    pub(crate) cors: bool,

    /// Add this header to every answer (repeatable): --header 'Cache-Control: max-age=60'.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub(crate) header: Vec<String>,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}
