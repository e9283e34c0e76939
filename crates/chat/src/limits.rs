//! Rate limits on account attempts (log-ins and registrations): a token bucket per client
//! address and one for the whole server (docs/PROTOCOL-chat.md, "Accounts").
//!
//! Checking a password costs an Argon2id hash (19 MiB, tens of milliseconds): the limits keep
//! a guesser, or many of them, from turning the server into a hashing farm. Pure apart from
//! the clock, which the caller passes in.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Log-in attempts one address may make at once, and then one per [`LOGIN_EVERY`].
pub const LOGIN_BURST: u32 = 20;
/// How often an address gets a log-in attempt back.
pub const LOGIN_EVERY: Duration = Duration::from_secs(3);
/// Log-in attempts the whole server takes at once, and then one per [`LOGIN_EVERY_GLOBAL`].
pub const LOGIN_BURST_GLOBAL: u32 = 200;
/// How often the server gets a log-in attempt back (20 a second).
pub const LOGIN_EVERY_GLOBAL: Duration = Duration::from_millis(50);
/// Registrations one address may make at once, and then one per [`REGISTER_EVERY`].
pub const REGISTER_BURST: u32 = 10;
/// How often an address gets a registration back.
pub const REGISTER_EVERY: Duration = Duration::from_secs(30);
/// Registrations the whole server takes at once, and then one per [`REGISTER_EVERY_GLOBAL`].
pub const REGISTER_BURST_GLOBAL: u32 = 50;
/// How often the server gets a registration back.
pub const REGISTER_EVERY_GLOBAL: Duration = Duration::from_secs(2);
/// Addresses remembered per kind; past this, the buckets that are full again are forgotten
/// (they hold nothing a new bucket would not), and if that is not enough, all of them.
const MAX_ADDRESSES: usize = 4096;

/// What is attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A log-in (SASL, NickServ IDENTIFY, native `login`, text `/login`).
    Login,
    /// A registration.
    Register,
}

/// Who ran out of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// This address.
    Address,
    /// The whole server.
    Server,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            at: now,
        }
    }

    /// The tokens now, refilled at one per `every` up to `burst`.
    fn refill(&mut self, burst: u32, every: Duration, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() / every.as_secs_f64();
        self.tokens = (self.tokens + gained).min(f64::from(burst));
        self.at = now;
    }
}

#[derive(Debug)]
struct Kind {
    burst: u32,
    every: Duration,
    global_burst: u32,
    global_every: Duration,
    global: Bucket,
    addresses: HashMap<IpAddr, Bucket>,
}

impl Kind {
    fn new(burst: u32, every: Duration, global_burst: u32, global_every: Duration) -> Self {
        let now = Instant::now();
        Self {
            burst,
            every,
            global_burst,
            global_every,
            global: Bucket::full(global_burst, now),
            addresses: HashMap::new(),
        }
    }

    fn take(&mut self, peer: IpAddr, now: Instant) -> Result<(), Exhausted> {
        let (burst, every) = (self.burst, self.every);
        if self.addresses.len() >= MAX_ADDRESSES && !self.addresses.contains_key(&peer) {
            self.addresses.retain(|_, b| {
                b.refill(burst, every, now);
                b.tokens < f64::from(burst)
            });
            if self.addresses.len() >= MAX_ADDRESSES {
                // Thousands of addresses busy at once: forget them all; the server's own
                // bucket still holds.
                self.addresses.clear();
            }
        }
        let bucket = self
            .addresses
            .entry(peer)
            .or_insert_with(|| Bucket::full(burst, now));
        bucket.refill(burst, every, now);
        if bucket.tokens < 1.0 {
            return Err(Exhausted::Address);
        }
        self.global
            .refill(self.global_burst, self.global_every, now);
        if self.global.tokens < 1.0 {
            return Err(Exhausted::Server);
        }
        bucket.tokens -= 1.0;
        self.global.tokens -= 1.0;
        Ok(())
    }
}

/// The buckets of both kinds of attempt.
#[derive(Debug)]
pub struct Limits {
    login: Kind,
    register: Kind,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login: Kind::new(
                LOGIN_BURST,
                LOGIN_EVERY,
                LOGIN_BURST_GLOBAL,
                LOGIN_EVERY_GLOBAL,
            ),
            register: Kind::new(
                REGISTER_BURST,
                REGISTER_EVERY,
                REGISTER_BURST_GLOBAL,
                REGISTER_EVERY_GLOBAL,
            ),
        }
    }
}

impl Limits {
    /// Take one attempt of `what` for `peer` at `now`, or say whose limit is reached (then
    /// nothing is taken).
    ///
    /// # Errors
    /// [`Exhausted`] when `peer`'s bucket or the server's is empty.
    pub fn take(&mut self, what: Attempt, peer: IpAddr, now: Instant) -> Result<(), Exhausted> {
        match what {
            Attempt::Login => self.login.take(peer, now),
            Attempt::Register => self.register.take(peer, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_address_gets_its_burst_then_one_per_period_and_others_are_not_held() {
        let mut limits = Limits::default();
        let t0 = Instant::now();
        for _ in 0..LOGIN_BURST {
            assert_eq!(limits.take(Attempt::Login, ip(1), t0), Ok(()));
        }
        assert_eq!(
            limits.take(Attempt::Login, ip(1), t0),
            Err(Exhausted::Address)
        );
        // Another address, and registrations, have their own buckets.
        assert_eq!(limits.take(Attempt::Login, ip(2), t0), Ok(()));
        assert_eq!(limits.take(Attempt::Register, ip(1), t0), Ok(()));
        // One period later, one more.
        let t1 = t0 + LOGIN_EVERY;
        assert_eq!(limits.take(Attempt::Login, ip(1), t1), Ok(()));
        assert_eq!(
            limits.take(Attempt::Login, ip(1), t1),
            Err(Exhausted::Address)
        );
    }

    #[test]
    fn the_server_limit_holds_across_addresses_and_many_addresses_stay_bounded() {
        let mut limits = Limits::default();
        let t0 = Instant::now();
        let mut refused = None;
        for i in 0..=REGISTER_BURST_GLOBAL {
            let [_, _, a, b] = i.to_be_bytes();
            let peer = IpAddr::from([10, 1, a, b]);
            if let Err(e) = limits.take(Attempt::Register, peer, t0) {
                refused = Some((i, e));
                break;
            }
        }
        assert_eq!(refused, Some((REGISTER_BURST_GLOBAL, Exhausted::Server)));
        // Ten thousand addresses, one attempt each, spread over time: the map stays bounded.
        let mut now = t0;
        for i in 0..10_000u32 {
            now += LOGIN_EVERY_GLOBAL;
            let [_, a, b, c] = i.to_be_bytes();
            let _ = limits.take(Attempt::Login, IpAddr::from([10, a, b, c]), now);
        }
        assert!(
            limits.login.addresses.len() <= MAX_ADDRESSES,
            "{}",
            limits.login.addresses.len()
        );
    }
}
