//! Any datagram as an NTP reply: it decodes or is too short, never panics, and what decodes
//! encodes back to the same 48 bytes; the checks and the arithmetic never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prise_time::packet::{offset_and_delay, Packet, Timestamp};

fuzz_target!(|data: &[u8]| {
    match Packet::decode(data) {
        Ok(packet) => {
            assert_eq!(&packet.encode()[..], &data[..48]);
            let cookie = Timestamp(u64::from_be_bytes(data[..8].try_into().unwrap()));
            let _ = packet.check_reply(cookie);
            let _ = packet.check_reply(packet.origin);
            let _ = packet.refid();
            let (_, delay) = offset_and_delay(cookie, &packet, packet.transmit);
            assert!(delay >= 0.0 || delay.is_nan());
            let _ = packet.reference.to_system_near(std::time::SystemTime::now());
        }
        Err(short) => assert!(short.0 < 48 && short.0 == data.len()),
    }
});
