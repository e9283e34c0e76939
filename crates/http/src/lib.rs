//! `prise http`: serve a folder over HTTP.
//!
//! Built on hyper (HTTP/1.1 and HTTP/2, through hyper-util's automatic builder) with an axum
//! router, on prise-core's accept loop, so TLS, the connection cap, the traffic log and
//! graceful shutdown are the same as every other prise server. Files themselves are served by
//! tower-http's `ServeFile` (content type, `Last-Modified`, `If-Modified-Since`, `Range`);
//! what is ours is the part no crate does the way prise needs it:
//!
//! - [`path`]: the request path, decoded once and checked: `..`, NUL, backslashes, hidden
//!   names and symlinks that leave the folder never reach the file system;
//! - [`listing`]: folder listings in HTML (sortable, breadcrumbs) and JSON;
//! - a folder as a tar archive, streamed while it is built;
//! - strong `ETag`s from size and modification time, with `If-None-Match`;
//! - [`ranges`]: several ranges in one `multipart/byteranges` answer;
//! - [`auth`]: HTTP Basic users, compared in constant time, repeated failures slowed down;
//! - `PUT` uploads streamed into a temporary file and renamed into place only when complete;
//! - one access-log line per request.

mod app;
mod archive;
pub mod auth;
mod error;
pub mod htpasswd;
pub mod listing;
pub mod path;
pub mod ranges;
mod send;
pub mod server;
mod upload;

pub use error::Error;
