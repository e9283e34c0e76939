//! Arbitrary bytes, split at an arbitrary point, through the line decoder: never a panic, never
//! a line over the limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use prise_core::codec::LineCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&max, rest)) = data.split_first() else { return };
    let split = rest.first().map_or(0, |&b| usize::from(b)).min(rest.len());
    let mut codec = LineCodec::new(usize::from(max));
    let mut buf = BytesMut::from(&rest[..split]);
    while let Ok(Some(line)) = codec.decode(&mut buf) {
        assert!(line.len() <= usize::from(max));
    }
    buf.extend_from_slice(&rest[split..]);
    while let Ok(Some(line)) = codec.decode_eof(&mut buf) {
        assert!(line.len() <= usize::from(max));
    }
});
