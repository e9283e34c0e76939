//! `prise time`: an SNTP client (RFC 4330 / RFC 5905) that asks servers for the time and says
//! how far the local clock is from theirs. It never sets the clock.
//!
//! - [`packet`]: the 48-byte packet and the checks on a reply (pure, property-tested).
//! - [`client`]: one server asked over a connected UDP socket, samples, the best kept.
//! - [`ask_all`]: every server at once.
//!
//! The wire format and every check are in docs/PROTOCOL-time.md.

pub mod client;
pub mod packet;

use std::net::SocketAddr;

pub use client::{Answer, Failure, Options, Report};

/// The NTP port.
pub const PORT: u16 = 123;

/// Which addresses a name may resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// IPv4 and IPv6.
    #[default]
    Any,
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

/// `SERVER[:PORT]` (an IPv6 address in brackets when it has a port) as addresses of `family`.
///
/// # Errors
/// A message for a name that does not resolve, or has no address of that family.
pub async fn resolve(spec: &str, family: Family) -> Result<Vec<SocketAddr>, String> {
    let target = if let Ok(addr) = spec.parse::<SocketAddr>() {
        vec![addr]
    } else if let Ok(ip) = spec.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        vec![SocketAddr::new(ip, PORT)]
    } else {
        let with_port = match spec.rsplit_once(':') {
            Some((_, port)) if port.parse::<u16>().is_ok() => spec.to_owned(),
            _ => format!("{spec}:{PORT}"),
        };
        let found = tokio::net::lookup_host(with_port)
            .await
            .map_err(|e| format!("{spec}: {e}"))?;
        found.collect()
    };
    let mut kept: Vec<SocketAddr> = target
        .into_iter()
        .filter(|a| match family {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        })
        .collect();
    kept.dedup();
    if kept.is_empty() {
        return Err(format!(
            "{spec}: no {}address",
            match family {
                Family::Any => "",
                Family::V4 => "IPv4 ",
                Family::V6 => "IPv6 ",
            }
        ));
    }
    Ok(kept)
}

/// Ask every `(name, address)` at once; the reports in the same order.
pub async fn ask_all(
    targets: Vec<(String, SocketAddr)>,
    options: &Options,
) -> Vec<(String, Report)> {
    let asks = targets.into_iter().map(|(name, address)| async move {
        let report = client::ask(address, options).await;
        (name, report)
    });
    futures_util::future::join_all(asks).await
}
