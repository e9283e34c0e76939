//! `prise backup`: snapshots of folders on a server that stores content once, by hash.
//! Files are cut with content-defined chunking, so a push sends only chunks the store lacks.
//! Protocol and store: docs/PROTOCOL-backup.md.
//!
//! - [`store`]: chunks and manifests on the server's disk.
//! - [`server`]: `prise backup serve`.
//! - [`client`]: push, list, restore.

pub mod client;
mod error;
pub mod proto;
pub mod server;
pub mod store;

pub use error::Error;

/// FastCDC sizes: 4 KiB minimum, 16 KiB average, 64 KiB maximum. Small enough that a change
/// in one place of a large file sends about 20 KiB, as rsync's delta would; large enough that
/// the hashes (64 hex digits per chunk) cost under 0.5 % of the data.
pub const CHUNK_MIN: u32 = 4 * 1024;
/// See [`CHUNK_MIN`].
pub const CHUNK_AVG: u32 = 16 * 1024;
/// See [`CHUNK_MIN`].
pub const CHUNK_MAX: u32 = 64 * 1024;
