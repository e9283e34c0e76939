//! Framing: turn a TCP byte stream into messages.
//!
//! TCP delivers bytes, not messages: one `read` may return half a line or three of them. Every
//! prise protocol therefore frames, with one of the two codecs here:
//!
//! - [`LineCodec`]: lines ended by `\n` (a preceding `\r` is stripped), for text protocols
//!   (echo's reply mode, chat text mode and JSON lines, IRC, FTP control).
//! - [`FrameCodec`]: a 4-byte big-endian length followed by that many bytes, for binary
//!   protocols (file transfer, backup).
//!
//! Both enforce a maximum size and report a broken limit as a typed [`CodecError`], so a server
//! can tell the peer what went wrong before it hangs up. Neither allocates more than the limit
//! allows, whatever length a peer claims.
//!
//! Why not `tokio_util::codec::{LinesCodec, LengthDelimitedCodec}`: both report a broken limit as
//! an opaque `io::Error`, and `LinesCodec` insists on UTF-8, which would turn one bad byte into a
//! dropped connection where chat wants an error reply. The decoders are pure functions over a
//! `BytesMut`, so they plug into `tokio_util::codec::Framed` all the same.
//!
//! Decoding follows tokio's contract: `Ok(None)` means "not enough bytes yet", and the partial
//! input stays in the caller's buffer, which keeps reads cancel-safe inside `select!`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Default maximum line length: 64 KiB is far above any human line and any IRC or FTP command,
/// small enough that a peer that never sends `\n` cannot make us buffer much.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Default maximum frame size: 16 MiB bounds the memory one binary frame can pin while leaving
/// room for large data chunks.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Size of the [`FrameCodec`] length prefix, in bytes.
pub const FRAME_HEADER_LEN: usize = 4;

/// A framing error: a limit was broken or the peer stopped mid-message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A line grew past the limit before its `\n` arrived.
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The limit in force.
        max: usize,
    },
    /// A frame header announced more bytes than the limit allows.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// The length the peer announced (or tried to send).
        len: u64,
        /// The limit in force.
        max: usize,
    },
    /// The stream ended in the middle of a line or frame.
    #[error("connection closed in the middle of a message ({pending} bytes pending)")]
    Truncated {
        /// Bytes received for the unfinished message.
        pending: usize,
    },
    /// The underlying stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Newline-delimited framing with a maximum line length.
///
/// Decoded items are the line's bytes without the `\n` (and without a `\r` before it). The bytes
/// are not required to be UTF-8: the protocol on top decides what to do with invalid text.
#[derive(Debug, Clone)]
pub struct LineCodec {
    max_len: usize,
    /// How far the buffer has already been searched for `\n`, so a long line arriving in many
    /// small reads is scanned once, not once per read.
    scanned: usize,
}

impl LineCodec {
    /// A codec that refuses lines longer than `max_len` bytes (not counting the line ending).
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            scanned: 0,
        }
    }

    /// The limit in force.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::new(MAX_LINE_LEN)
    }
}

impl Decoder for LineCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        // A line may be max_len bytes plus "\r\n": look that far and no further.
        let window = src.len().min(self.max_len.saturating_add(2));
        let start = self.scanned.min(window);
        match src[start..window].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let newline = start + offset;
                self.scanned = 0;
                let mut line = src.split_to(newline + 1);
                line.truncate(newline);
                if line.last() == Some(&b'\r') {
                    line.truncate(newline - 1);
                }
                if line.len() > self.max_len {
                    return Err(CodecError::LineTooLong { max: self.max_len });
                }
                Ok(Some(line.freeze()))
            }
            None if src.len() > self.max_len.saturating_add(1) => {
                // No newline within max_len + 2 bytes; the one exception is a line of exactly
                // max_len bytes followed by "\r" whose "\n" has not arrived, which the window
                // check above already allows for.
                self.scanned = 0;
                Err(CodecError::LineTooLong { max: self.max_len })
            }
            None => {
                self.scanned = window;
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match self.decode(src)? {
            Some(line) => Ok(Some(line)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated { pending: src.len() }),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LineCodec {
    type Error = CodecError;

    fn encode(&mut self, line: T, dst: &mut BytesMut) -> Result<(), CodecError> {
        let line = line.as_ref();
        if line.len() > self.max_len {
            return Err(CodecError::LineTooLong { max: self.max_len });
        }
        dst.reserve(line.len() + 1);
        dst.put_slice(line);
        dst.put_u8(b'\n');
        Ok(())
    }
}

/// Length-prefixed framing: a `u32` big-endian length, then the payload.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_len: usize,
}

impl FrameCodec {
    /// A codec that refuses frames whose payload exceeds `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self { max_len }
    }

    /// The limit in force.
    pub fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let Some(header) = src.get(..FRAME_HEADER_LEN) else {
            return Ok(None);
        };
        let mut len_bytes = [0u8; FRAME_HEADER_LEN];
        len_bytes.copy_from_slice(header);
        let announced = u32::from_be_bytes(len_bytes);
        // u32 always fits in u64; usize may be 32 bits, so compare in u64.
        if u64::from(announced) > self.max_len as u64 {
            return Err(CodecError::FrameTooLarge {
                len: u64::from(announced),
                max: self.max_len,
            });
        }
        // Checked above: announced <= max_len, which is a usize.
        let len = usize::try_from(announced).map_err(|_| CodecError::FrameTooLarge {
            len: u64::from(announced),
            max: self.max_len,
        })?;
        let Some(total) = len.checked_add(FRAME_HEADER_LEN) else {
            return Err(CodecError::FrameTooLarge {
                len: u64::from(announced),
                max: self.max_len,
            });
        };
        if src.len() < total {
            // Reserve only what the (already bounded) frame needs.
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(FRAME_HEADER_LEN);
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated { pending: src.len() }),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: T, dst: &mut BytesMut) -> Result<(), CodecError> {
        let frame = frame.as_ref();
        let too_large = || CodecError::FrameTooLarge {
            len: frame.len() as u64,
            max: self.max_len,
        };
        if frame.len() > self.max_len {
            return Err(too_large());
        }
        let len = u32::try_from(frame.len()).map_err(|_| too_large())?;
        dst.reserve(FRAME_HEADER_LEN + frame.len());
        dst.put_u32(len);
        dst.put_slice(frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn decode_all<D: Decoder<Item = Bytes, Error = CodecError>>(
        codec: &mut D,
        input: &[u8],
    ) -> Result<Vec<Bytes>, CodecError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(item) = codec.decode_eof(&mut buf)? {
            out.push(item);
        }
        Ok(out)
    }

    #[test]
    fn lines_split_on_newline_and_strip_cr() {
        let mut codec = LineCodec::new(16);
        let lines = decode_all(&mut codec, b"one\r\ntwo\n\nthree\n").unwrap();
        assert_eq!(lines, vec!["one", "two", "", "three"]);
    }

    #[test]
    fn partial_line_waits_for_more_bytes() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(&buf[..], b"hel", "partial input stays in the buffer");
        buf.extend_from_slice(b"lo\nrest");
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), "hello");
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn line_at_limit_passes_and_one_byte_more_fails() {
        let mut codec = LineCodec::new(4);
        assert_eq!(decode_all(&mut codec, b"abcd\r\n").unwrap(), vec!["abcd"]);
        let mut codec = LineCodec::new(4);
        assert!(matches!(
            decode_all(&mut codec, b"abcde\n"),
            Err(CodecError::LineTooLong { max: 4 })
        ));
    }

    #[test]
    fn endless_line_is_refused_without_waiting_for_newline() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&[b'x'; 11][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::LineTooLong { max: 8 })
        ));
    }

    #[test]
    fn unterminated_last_line_is_truncated() {
        let mut codec = LineCodec::new(8);
        assert!(matches!(
            decode_all(&mut codec, b"ok\nhalf"),
            Err(CodecError::Truncated { pending: 4 })
        ));
    }

    #[test]
    fn invalid_utf8_is_passed_through() {
        let mut codec = LineCodec::new(8);
        assert_eq!(
            decode_all(&mut codec, b"\xff\xfe\n").unwrap(),
            vec![Bytes::from_static(b"\xff\xfe")]
        );
    }

    #[test]
    fn encoder_refuses_long_lines() {
        let mut codec = LineCodec::new(3);
        let mut dst = BytesMut::new();
        assert!(codec.encode("abcd", &mut dst).is_err());
        codec.encode("abc", &mut dst).unwrap();
        assert_eq!(&dst[..], b"abc\n");
    }

    #[test]
    fn frames_round_trip() {
        let mut codec = FrameCodec::new(10);
        let mut buf = BytesMut::new();
        codec.encode(b"hello", &mut buf).unwrap();
        codec.encode(b"", &mut buf).unwrap();
        assert_eq!(&buf[..4], &[0, 0, 0, 5]);
        let frames = decode_all(&mut codec, &buf).unwrap();
        assert_eq!(frames, vec![Bytes::from_static(b"hello"), Bytes::new()]);
    }

    #[test]
    fn oversized_frame_header_is_refused_before_the_body_arrives() {
        let mut codec = FrameCodec::new(10);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        match codec.decode(&mut buf) {
            Err(CodecError::FrameTooLarge { len, max }) => {
                assert_eq!(len, u64::from(u32::MAX));
                assert_eq!(max, 10);
            }
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
        assert!(buf.capacity() < 1024, "no allocation for the claimed size");
    }

    #[test]
    fn frame_at_limit_passes_and_one_byte_more_fails() {
        let mut codec = FrameCodec::new(3);
        let mut dst = BytesMut::new();
        codec.encode(b"abc", &mut dst).unwrap();
        assert!(matches!(
            codec.encode(b"abcd", &mut dst),
            Err(CodecError::FrameTooLarge { len: 4, max: 3 })
        ));
        let mut wire = BytesMut::from(&[0, 0, 0, 4, 1, 2, 3, 4][..]);
        assert!(matches!(
            codec.decode(&mut wire),
            Err(CodecError::FrameTooLarge { len: 4, max: 3 })
        ));
    }

    #[test]
    fn truncated_frame_is_reported() {
        let mut codec = FrameCodec::new(10);
        assert!(matches!(
            decode_all(&mut codec, &[0, 0, 0, 5, b'a']),
            Err(CodecError::Truncated { pending: 5 })
        ));
    }

    proptest! {
        #[test]
        fn line_round_trip(lines in proptest::collection::vec("[^\r\n]{0,40}", 0..20)) {
            let mut codec = LineCodec::new(160);
            let mut buf = BytesMut::new();
            for line in &lines {
                codec.encode(line.as_bytes(), &mut buf).unwrap();
            }
            let decoded = decode_all(&mut codec, &buf).unwrap();
            let expected: Vec<Bytes> = lines.iter().map(|l| Bytes::copy_from_slice(l.as_bytes())).collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn line_round_trip_in_any_chunking(
            lines in proptest::collection::vec("[^\r\n]{0,40}", 1..10),
            chunk in 1usize..17,
        ) {
            let mut codec = LineCodec::new(160);
            let mut wire = BytesMut::new();
            for line in &lines {
                codec.encode(line.as_bytes(), &mut wire).unwrap();
            }
            let mut buf = BytesMut::new();
            let mut decoded = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(line) = codec.decode(&mut buf).unwrap() {
                    decoded.push(line);
                }
            }
            let expected: Vec<Bytes> = lines.iter().map(|l| Bytes::copy_from_slice(l.as_bytes())).collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn frame_round_trip(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..10)) {
            let mut codec = FrameCodec::new(300);
            let mut buf = BytesMut::new();
            for frame in &frames {
                codec.encode(frame, &mut buf).unwrap();
            }
            let decoded = decode_all(&mut codec, &buf).unwrap();
            let expected: Vec<Bytes> = frames.iter().map(|f| Bytes::copy_from_slice(f)).collect();
            prop_assert_eq!(decoded, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic_lines(input in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..64) {
            let mut codec = LineCodec::new(max);
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(line)) = codec.decode_eof(&mut buf) {
                prop_assert!(line.len() <= max);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_frames(input in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..64) {
            let mut codec = FrameCodec::new(max);
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
                prop_assert!(frame.len() <= max);
            }
        }
    }
}
