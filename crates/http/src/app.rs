//! What every request of `prise http serve` shares: the settings ([`Config`]), the state built
//! from them at start ([`App`]), and the plain status pages every part answers with. Kept apart
//! from the accept loop so the request handlers (`send.rs`, `upload.rs`) and the server need
//! not import each other.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prise_core::path::SafeRoot;
use prise_core::tls::ServerTls;
use prise_core::trace::TrafficLog;

use crate::auth::Auth;
use crate::listing;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder served.
    pub root: PathBuf,
    /// Serve and list names starting with `.`.
    pub hidden: bool,
    /// Follow symlinks that lead outside the folder.
    pub follow_symlinks: bool,
    /// TLS for every connection.
    pub tls: Option<ServerTls>,
    /// Traffic log.
    pub trace: Option<TrafficLog>,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client gets to send a request's headers.
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// Time in-flight requests get to finish on shutdown.
    pub grace: Duration,
    /// Accept `PUT /path` uploads.
    pub upload: bool,
    /// An upload may replace an existing file (otherwise 409).
    pub overwrite: bool,
    /// Largest upload, bytes (413 beyond).
    pub max_upload: u64,
    /// Longest silence in the middle of an upload's body (408 beyond).
    pub body_timeout: Duration,
    /// `USER:PASS` pairs for HTTP Basic authentication; none: no authentication.
    pub auth: Vec<String>,
    /// An htpasswd file of more users (bcrypt, SHA-crypt or Argon2 hashes).
    pub htpasswd: Option<PathBuf>,
    /// With `auth`, reads stay public and only uploads need a user.
    pub auth_uploads_only: bool,
    /// Answer cross-origin requests from any origin (CORS), preflights included.
    pub cors: bool,
    /// Headers added to every answer, as `Name: value`.
    pub headers: Vec<String>,
    /// Each notification reads the htpasswd file again (the CLI notifies on SIGHUP).
    pub reload_users: Option<Arc<tokio::sync::Notify>>,
}

impl Config {
    /// Defaults for serving `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            hidden: false,
            follow_symlinks: false,
            tls: None,
            trace: None,
            max_connections: prise_core::server::MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            grace: Duration::from_secs(5),
            upload: false,
            overwrite: false,
            max_upload: 4 * 1024 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            auth: Vec::new(),
            htpasswd: None,
            auth_uploads_only: false,
            cors: false,
            headers: Vec::new(),
            reload_users: None,
        }
    }
}

/// What every request sees.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) root: SafeRoot,
    /// The served folder, open: paths are opened from it.
    pub(crate) root_dir: std::fs::File,
    /// Whether requests need users at all (fixed at start: a reload never turns it off).
    pub(crate) auth_enabled: bool,
    /// The users, swapped whole when the htpasswd file is reloaded.
    pub(crate) auth: std::sync::RwLock<Arc<Auth>>,
    pub(crate) config: Config,
}

/// A status page: the status as its title and `text`, escaped.
pub(crate) fn page(status: StatusCode, text: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{}</p></body></html>\n",
            listing::escape(text)
        ),
    )
        .into_response()
}

pub(crate) fn error(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::NOT_FOUND => "Nothing here.",
        StatusCode::BAD_REQUEST => "That path is not one this server accepts.",
        _ => "",
    };
    page(status, text)
}
