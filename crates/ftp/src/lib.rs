//! `prise ftp`: an FTP server that real clients use (curl, lftp, FileZilla, Python's ftplib),
//! and a client.
//!
//! # Why our own protocol code, not `libunftp`
//!
//! The FTP server is the product here, and the crate that would give it to us does not fit:
//! `libunftp` is pre-1.0 and has broken its API between releases; it lacks `EPRT` and `MFMT`;
//! and its stock file back end ran about seven times slower than vsftpd on this machine until
//! its read and write paths were replaced. What the server needs beyond the protocol (TLS,
//! the traffic log, connection caps, shutdown, safe paths) already lives in `prise-core`, so the
//! part left to write is the command set itself: about 40 commands over a line protocol, whose
//! parsing is pure ([`codec`]) and tested on its own.
//!
//! - [`codec`]: commands, replies, addresses, paths and listings, without I/O.
//! - [`fs`]: the virtual root: every file operation opens its path with `openat2`
//!   (`RESOLVE_BENEATH`) from the folder's handle, so no `..`, absolute path or symlink leads
//!   outside, even if the tree changes while we look.
//! - [`server`]: the control connection, logins, data connections (passive, extended passive,
//!   active), explicit TLS (RFC 4217) and transfers.
//! - [`client`]: log in (explicit TLS when asked), list, download and upload with resume; the
//!   protocol is ours already ([`codec`]), so the client is a few hundred lines on top of it
//!   rather than a second FTP implementation (`suppaftp`) beside ours.

mod error;

pub mod client;
pub mod codec;
pub mod fs;
pub mod server;

pub use error::Error;
