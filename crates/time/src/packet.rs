//! The NTP packet (RFC 5905, 7.3): 48 bytes, big-endian, and the checks a client makes on a
//! reply. Pure: no clock, no socket. See docs/PROTOCOL-time.md.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes in a packet without extension fields.
pub const LEN: usize = 48;
/// Seconds from 1900-01-01 (NTP's epoch) to 1970-01-01.
const UNIX_OFFSET: u64 = 2_208_988_800;
/// Seconds in one NTP era (2^32).
const ERA: u64 = 1 << 32;

/// Mode 3: a client's request.
pub const MODE_CLIENT: u8 = 3;
/// Mode 4: a server's reply.
pub const MODE_SERVER: u8 = 4;
/// Leap indicator 3: the server's clock is not synchronized.
pub const LEAP_UNSYNCHRONIZED: u8 = 3;

/// A 64-bit NTP timestamp: seconds since 1900 in the high 32 bits (modulo 2^32: the era is not
/// carried), and a binary fraction in the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp of a moment of the local clock.
    pub fn from_system(time: SystemTime) -> Self {
        let (secs, nanos) = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() + UNIX_OFFSET, d.subsec_nanos()),
            Err(before) => {
                // Before 1970: count back from the epoch.
                let d = before.duration();
                let total = u128::from(UNIX_OFFSET) * 1_000_000_000 - d.as_nanos();
                (
                    u64::try_from(total / 1_000_000_000).unwrap_or(0),
                    u32::try_from(total % 1_000_000_000).unwrap_or(0),
                )
            }
        };
        let fraction = (u64::from(nanos) << 32) / 1_000_000_000;
        Self(((secs % ERA) << 32) | fraction)
    }

    /// `self - earlier`, in seconds, as a signed difference: right across the 2036 wrap as long
    /// as the two are within 68 years of each other (RFC 5905, 6).
    pub fn since(self, earlier: Self) -> f64 {
        #[allow(clippy::cast_possible_wrap)] // the wrap is the point: a signed difference
        let diff = self.0.wrapping_sub(earlier.0) as i64;
        #[allow(clippy::cast_precision_loss)] // 2^-32 s steps; f64 keeps 2^-20 s at 68 years
        let seconds = diff as f64 / 4_294_967_296.0;
        seconds
    }

    /// The moment this timestamp names, in the era that puts it closest to `near`.
    pub fn to_system_near(self, near: SystemTime) -> SystemTime {
        let offset = self.since(Self::from_system(near));
        if offset >= 0.0 {
            near + Duration::from_secs_f64(offset)
        } else {
            near - Duration::from_secs_f64(-offset)
        }
    }

    /// Whether all 64 bits are zero ("no time").
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// One NTP packet's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Packet {
    /// Leap indicator: 0 none, 1 a 61-second minute, 2 a 59-second minute, 3 unsynchronized.
    pub leap: u8,
    /// Version number (1 to 4).
    pub version: u8,
    /// Association mode (3 client, 4 server, 5 broadcast, ...).
    pub mode: u8,
    /// Stratum: 0 a Kiss-o'-Death, 1 a reference clock, 2 to 15 hops from one, 16 unsynchronized.
    pub stratum: u8,
    /// Poll interval, log2 seconds.
    pub poll: i8,
    /// Precision of the server's clock, log2 seconds.
    pub precision: i8,
    /// Round trip to the reference clock, 16.16 fixed-point seconds.
    pub root_delay: u32,
    /// Dispersion to the reference clock, 16.16 fixed-point seconds.
    pub root_dispersion: u32,
    /// Reference ID (or the Kiss code at stratum 0).
    pub reference_id: [u8; 4],
    /// When the server's clock was last set.
    pub reference: Timestamp,
    /// The client's transmit timestamp, echoed.
    pub origin: Timestamp,
    /// When the request reached the server (T2).
    pub receive: Timestamp,
    /// When the reply left the server (T3).
    pub transmit: Timestamp,
}

/// A datagram that is not an NTP packet at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {0}-byte datagram is too short for NTP (48 bytes)")]
pub struct TooShort(pub usize);

impl Packet {
    /// A client's request (version 4, mode 3) carrying `cookie` as its transmit timestamp:
    /// every other field zero, so the request says nothing about the client's clock.
    pub fn request(cookie: Timestamp) -> Self {
        Self {
            version: 4,
            mode: MODE_CLIENT,
            transmit: cookie,
            ..Self::default()
        }
    }

    /// The 48 bytes on the wire.
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = [0; LEN];
        out[0] = (self.leap & 0b11) << 6 | (self.version & 0b111) << 3 | (self.mode & 0b111);
        out[1] = self.stratum;
        out[2] = self.poll.to_be_bytes()[0];
        out[3] = self.precision.to_be_bytes()[0];
        out[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        out[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        out[12..16].copy_from_slice(&self.reference_id);
        out[16..24].copy_from_slice(&self.reference.0.to_be_bytes());
        out[24..32].copy_from_slice(&self.origin.0.to_be_bytes());
        out[32..40].copy_from_slice(&self.receive.0.to_be_bytes());
        out[40..48].copy_from_slice(&self.transmit.0.to_be_bytes());
        out
    }

    /// Read a packet from a datagram: its first 48 bytes (extension fields and a MAC after
    /// them are ignored).
    ///
    /// # Errors
    /// [`TooShort`] for fewer than 48 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, TooShort> {
        let Some(b) = bytes.get(..LEN) else {
            return Err(TooShort(bytes.len()));
        };
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        Ok(Self {
            leap: b[0] >> 6,
            version: (b[0] >> 3) & 0b111,
            mode: b[0] & 0b111,
            stratum: b[1],
            poll: i8::from_be_bytes([b[2]]),
            precision: i8::from_be_bytes([b[3]]),
            root_delay: u32_at(4),
            root_dispersion: u32_at(8),
            reference_id: [b[12], b[13], b[14], b[15]],
            reference: Timestamp(u64_at(16)),
            origin: Timestamp(u64_at(24)),
            receive: Timestamp(u64_at(32)),
            transmit: Timestamp(u64_at(40)),
        })
    }

    /// Root delay in seconds.
    pub fn root_delay_secs(&self) -> f64 {
        short_secs(self.root_delay)
    }

    /// Root dispersion in seconds.
    pub fn root_dispersion_secs(&self) -> f64 {
        short_secs(self.root_dispersion)
    }

    /// The reference ID as people read it: the Kiss code or the reference clock's name at
    /// strata 0 and 1, an IPv4 address (or an IPv6 address's hash) above.
    pub fn refid(&self) -> String {
        if self.stratum <= 1 {
            ascii_code(self.reference_id)
        } else {
            let [a, b, c, d] = self.reference_id;
            format!("{a}.{b}.{c}.{d}")
        }
    }

    /// Check a reply to the request whose transmit timestamp was `cookie`.
    ///
    /// # Errors
    /// Why the reply cannot be used; see [`Refusal`].
    pub fn check_reply(&self, cookie: Timestamp) -> Result<(), Refusal> {
        // First: is it the answer to our request at all?
        if self.origin != cookie {
            return Err(Refusal::NotOurs);
        }
        if self.mode != MODE_SERVER {
            return Err(Refusal::Mode(self.mode));
        }
        if !(1..=4).contains(&self.version) {
            return Err(Refusal::Version(self.version));
        }
        if self.stratum == 0 {
            return Err(Refusal::Kiss(Kiss::from_code(self.reference_id)));
        }
        if self.leap == LEAP_UNSYNCHRONIZED {
            return Err(Refusal::Unsynchronized);
        }
        if self.stratum >= 16 {
            return Err(Refusal::Stratum(self.stratum));
        }
        if self.transmit.is_zero() {
            return Err(Refusal::NoTransmitTime);
        }
        Ok(())
    }
}

/// Four bytes of a reference ID as the letters they hold (a Kiss code, a clock's name), up to
/// the first NUL; anything not printable shows as `?`.
fn ascii_code(code: [u8; 4]) -> String {
    code.iter()
        .take_while(|&&c| c != 0)
        .map(|&c| {
            if c.is_ascii_graphic() {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect()
}

fn short_secs(value: u32) -> f64 {
    f64::from(value) / 65_536.0
}

/// Why a reply is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its origin timestamp is not what we sent: not an answer to our request (late,
    /// duplicated or forged). Dropped; the client goes on waiting.
    #[error(
        "the reply's origin timestamp is not the one we sent (a late, duplicated or forged reply)"
    )]
    NotOurs,
    /// Not mode 4 (server).
    #[error("mode {0} is not a server's reply (mode 4)")]
    Mode(u8),
    /// A version we do not speak.
    #[error("NTP version {0}")]
    Version(u8),
    /// Stratum 0: the server sent a Kiss-o'-Death.
    #[error("Kiss-o'-Death {0}")]
    Kiss(Kiss),
    /// Leap indicator 3: the server's clock is not synchronized.
    #[error("the server says its clock is not synchronized (leap indicator 3)")]
    Unsynchronized,
    /// Stratum 16 or more: unsynchronized.
    #[error("stratum {0}: the server is not synchronized")]
    Stratum(u8),
    /// A zero transmit timestamp.
    #[error("the reply has no transmit time")]
    NoTransmitTime,
}

/// A Kiss-o'-Death code (RFC 5905, 7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kiss {
    /// `RATE`: slow down.
    Rate,
    /// `DENY`: access denied, stop.
    Deny,
    /// `RSTR`: access restricted, stop.
    Restricted,
    /// Any other code.
    Other(String),
}

impl Kiss {
    /// The code in a reference ID.
    pub fn from_code(code: [u8; 4]) -> Self {
        match &code {
            b"RATE" => Self::Rate,
            b"DENY" => Self::Deny,
            b"RSTR" => Self::Restricted,
            other => Self::Other(ascii_code(*other)),
        }
    }

    /// Whether the server tells us to stop asking it.
    pub fn stops(&self) -> bool {
        matches!(self, Self::Deny | Self::Restricted)
    }
}

impl std::fmt::Display for Kiss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rate => f.write_str("RATE (slow down)"),
            Self::Deny => f.write_str("DENY (access denied)"),
            Self::Restricted => f.write_str("RSTR (access restricted)"),
            Self::Other(code) => write!(f, "{code}"),
        }
    }
}

/// Offset and delay of one exchange: T1 and T4 from the local clock, T2 and T3 from the reply.
/// The offset is how far the server's clock is ahead; the delay never goes below zero.
pub fn offset_and_delay(t1: Timestamp, reply: &Packet, t4: Timestamp) -> (f64, f64) {
    let (t2, t3) = (reply.receive, reply.transmit);
    let offset = (t2.since(t1) + t3.since(t4)) / 2.0;
    let delay = (t4.since(t1) - t3.since(t2)).max(0.0);
    (offset, delay)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packets_round_trip(bytes in proptest::collection::vec(any::<u8>(), 48..64)) {
            let packet = Packet::decode(&bytes).unwrap();
            prop_assert_eq!(&packet.encode()[..], &bytes[..48]);
        }

        #[test]
        fn any_datagram_decodes_or_is_too_short(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            match Packet::decode(&bytes) {
                Ok(packet) => {
                    prop_assert!(bytes.len() >= 48);
                    let _ = packet.check_reply(Timestamp(1));
                    let _ = packet.refid();
                }
                Err(TooShort(n)) => prop_assert!(n < 48),
            }
        }

        #[test]
        fn differences_survive_the_era_wrap(base in any::<u64>(), delta in -(1i64 << 60)..(1i64 << 60)) {
            let later = Timestamp(base.wrapping_add_signed(delta));
            #[allow(clippy::cast_precision_loss)]
            let expected = delta as f64 / 4_294_967_296.0;
            prop_assert!((later.since(Timestamp(base)) - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn the_2036_wrap_gives_the_right_date() {
        // 2036-02-07 06:28:16 UTC is NTP second 2^32, stored as 0 in era 1.
        let wrap = UNIX_EPOCH + Duration::from_secs(ERA - UNIX_OFFSET);
        assert_eq!(Timestamp::from_system(wrap).0 >> 32, 0);
        let just_after = Timestamp::from_system(wrap + Duration::from_secs(10));
        let just_before = Timestamp::from_system(wrap - Duration::from_secs(10));
        assert!((just_after.since(just_before) - 20.0).abs() < 1e-6);
        // Read near the wrap, era 1's small numbers land after it, not in 1900.
        let back = just_after.to_system_near(wrap);
        assert_eq!(back.duration_since(wrap).unwrap().as_secs(), 10);
        // And a 2026 timestamp read in 2026 is in 2026.
        let now = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let there = Timestamp::from_system(now).to_system_near(now);
        let gap = there.duration_since(now).unwrap_or_else(|e| e.duration());
        assert!(gap < Duration::from_millis(1), "{gap:?}");
    }

    #[test]
    fn replies_are_checked_in_order() {
        let cookie = Timestamp(0xdead_beef_0000_0001);
        let good = Packet {
            version: 4,
            mode: MODE_SERVER,
            stratum: 2,
            origin: cookie,
            receive: Timestamp(5 << 32),
            transmit: Timestamp(5 << 32),
            ..Packet::default()
        };
        assert_eq!(good.check_reply(cookie), Ok(()));
        assert_eq!(good.check_reply(Timestamp(7)), Err(Refusal::NotOurs));
        let with = |f: fn(&mut Packet)| {
            let mut p = good;
            f(&mut p);
            p.check_reply(cookie)
        };
        assert_eq!(with(|p| p.mode = 5), Err(Refusal::Mode(5)));
        assert_eq!(with(|p| p.version = 0), Err(Refusal::Version(0)));
        assert_eq!(with(|p| p.leap = 3), Err(Refusal::Unsynchronized));
        assert_eq!(with(|p| p.stratum = 16), Err(Refusal::Stratum(16)));
        assert_eq!(
            with(|p| p.transmit = Timestamp(0)),
            Err(Refusal::NoTransmitTime)
        );
        assert_eq!(
            with(|p| {
                p.stratum = 0;
                p.reference_id = *b"RATE";
            }),
            Err(Refusal::Kiss(Kiss::Rate))
        );
        assert!(Kiss::from_code(*b"DENY").stops());
        assert!(Kiss::from_code(*b"RSTR").stops());
        assert!(!Kiss::from_code(*b"RATE").stops());
        assert_eq!(Kiss::from_code(*b"AB\0\0"), Kiss::Other("AB".into()));
    }

    #[test]
    fn offset_and_delay_from_the_four_times() {
        let at = |s: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let raw = (s * 4_294_967_296.0) as u64;
            Timestamp(raw)
        };
        // The server is 10 s ahead; 20 ms each way; it holds the request 1 ms.
        let reply = Packet {
            receive: at(1_000.020 + 10.0),
            transmit: at(1_000.021 + 10.0),
            ..Packet::default()
        };
        let (offset, delay) = offset_and_delay(at(1_000.0), &reply, at(1_000.041));
        assert!((offset - 10.0).abs() < 1e-6, "{offset}");
        assert!((delay - 0.040).abs() < 1e-6, "{delay}");
    }

    #[test]
    fn reference_ids_read_as_people_read_them() {
        let mut p = Packet {
            stratum: 1,
            reference_id: *b"GPS\0",
            ..Packet::default()
        };
        assert_eq!(p.refid(), "GPS");
        p.stratum = 3;
        p.reference_id = [192, 0, 2, 7];
        assert_eq!(p.refid(), "192.0.2.7");
    }
}
