//! `prise echo`: the tutorial's first two systems, done properly.
//!
//! The server ([`server::run`]) sends back every byte a client sends, for any number of clients
//! at once, one task each; or, with [`server::Config::reply`], answers every line with a fixed
//! text, as the tutorial's server answers "Message bien reçu!". The client ([`client`]) sends a
//! message or standard input, half-closes, and prints what comes back; or measures round trips
//! like `ping`.
//!
//! Everything interesting (TLS, the connection cap, timeouts, the traffic log, shutdown) comes
//! from `prise-core`; this crate is the pattern the other services copy: a `Config`, a
//! `run(listener, config, shutdown)`, a client, one error type.

mod error;

pub mod client;
pub mod server;

pub use error::Error;
