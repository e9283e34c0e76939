//! What prise's test crates share, so that each test file says only what it tests:
//!
//! - [`cert`]: server certificates, made by the real `openssl` command or by rcgen;
//! - [`announce`]: the address a server prints on its announce line (`SERVICE listening on
//!   ADDR`, the rule of every prise server), read from a child's stdout;
//! - [`hostile`]: the hostile-path table every service that takes a path from the network is
//!   tested with, specials to plant in a served folder, and a watch on what lies outside it;
//! - [`stall`]: peers that connect and send nothing, or a byte at a time;
//! - [`htpasswd`]: password lines hashed by openssl;
//! - [`redis`]: a real redis-server of a test's own.
//!
//! Test code: a failure here is a test's failure, so these panic with what they saw.

#![allow(clippy::unwrap_used)]

pub mod announce;
pub mod cert;
pub mod hostile;
pub mod htpasswd;
pub mod redis;
pub mod stall;
