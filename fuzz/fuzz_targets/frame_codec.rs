//! Arbitrary bytes through the length-prefixed decoder: never a panic, never a frame over the
//! limit, never an allocation sized by a hostile header.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use prise_core::codec::FrameCodec;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&max, rest)) = data.split_first() else { return };
    let max = usize::from(max) * 16;
    let mut codec = FrameCodec::new(max);
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        assert!(frame.len() <= max);
    }
    // Memory follows what arrived and the limit, never the length a header claims (BytesMut
    // may double its capacity when it grows, hence the factor 2).
    assert!(buf.capacity() <= 2 * (rest.len() + max + 4) + 64);
});
