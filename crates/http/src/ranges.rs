//! The `Range` header (RFC 9110, 14.2): one range gets a `206` with that part, several get one
//! `206` with a `multipart/byteranges` body (14.6), which download managers and PDF viewers
//! ask for.
//!
//! Limits, as RFC 9110 allows a server: at most [`MAX_RANGES`] ranges and [`MAX_BYTES`] in
//! all; beyond either, or for overlapping ranges, the whole file is sent (200) instead.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

/// Most ranges answered in one multipart body.
pub const MAX_RANGES: usize = 32;
/// Most bytes answered in one multipart body (it is built in memory).
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// No range header, or one that does not parse (which RFC 9110 says to ignore): the whole
    /// file.
    None,
    /// One satisfiable range: first and last byte.
    One(u64, u64),
    /// Several satisfiable ranges (inclusive ends), none overlapping, within the limits.
    Several(Vec<(u64, u64)>),
    /// Several, but too many, too large or overlapping: send the whole file.
    Whole,
    /// Well-formed, but no range overlaps the file: 416.
    Unsatisfiable,
}

/// Read the `Range` header value.
pub fn ask(value: Option<&str>, len: u64) -> Ask {
    let Some(specs) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ask::None;
    };
    let specs: Vec<&str> = specs.split(',').map(str::trim).collect();
    if specs.len() > MAX_RANGES {
        return Ask::Whole;
    }
    let mut ranges = Vec::new();
    for spec in specs {
        let Some((first, last)) = spec.split_once('-') else {
            return Ask::None;
        };
        let range = match (first.trim(), last.trim()) {
            ("", suffix) => match suffix.parse::<u64>() {
                Ok(0) => None,
                Ok(n) => Some((len.saturating_sub(n), len.saturating_sub(1))),
                Err(_) => return Ask::None,
            },
            (start, "") => match start.parse::<u64>() {
                Ok(s) => Some((s, len.saturating_sub(1))),
                Err(_) => return Ask::None,
            },
            (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
                (Ok(s), Ok(e)) if s <= e => Some((s, e.min(len.saturating_sub(1)))),
                _ => return Ask::None,
            },
        };
        if let Some((start, end)) = range.filter(|(s, _)| *s < len) {
            ranges.push((start, end));
        }
    }
    match ranges[..] {
        [] => return Ask::Unsatisfiable,
        [(first, last)] => return Ask::One(first, last),
        _ => {}
    }
    let mut sorted = ranges.clone();
    sorted.sort_unstable();
    let overlapping = sorted.windows(2).any(|w| w[1].0 <= w[0].1);
    let total: u64 = ranges.iter().map(|(s, e)| e - s + 1).sum();
    if overlapping || total > MAX_BYTES {
        return Ask::Whole;
    }
    Ask::Several(ranges)
}

/// The multipart body for `ranges` of `file` (`len` bytes, type `mime`), and its boundary.
///
/// # Errors
/// When the file cannot be read, or has shrunk.
pub fn body(
    file: &File,
    len: u64,
    mime: &str,
    ranges: &[(u64, u64)],
) -> std::io::Result<(Vec<u8>, String)> {
    let boundary = format!("prise-{:016x}", fastrand_boundary());
    let mut out = Vec::new();
    for (start, end) in ranges {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {mime}\r\nContent-Range: bytes {start}-{end}/{len}\r\n\r\n"
            )
            .as_bytes(),
        );
        let at = out.len();
        let count = usize::try_from(end - start + 1).map_err(std::io::Error::other)?;
        out.resize(at + count, 0);
        file.read_exact_at(&mut out[at..], *start)?;
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((out, boundary))
}

/// A boundary that no file is likely to contain: from the clock and the address of a local.
fn fastrand_boundary() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    #[allow(clippy::cast_possible_truncation)] // mixing bits, not a length
    let mixed = (nanos as u64) ^ ((nanos >> 64) as u64);
    mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_and_limited() {
        assert_eq!(ask(None, 100), Ask::None);
        assert_eq!(ask(Some("items=0-9"), 100), Ask::None);
        assert_eq!(ask(Some("bytes=0-9"), 100), Ask::One(0, 9));
        assert_eq!(ask(Some("bytes=90-200"), 100), Ask::One(90, 99));
        assert_eq!(ask(Some("bytes=-10"), 100), Ask::One(90, 99));
        assert_eq!(ask(Some("bytes=-500"), 100), Ask::One(0, 99));
        assert_eq!(ask(Some("bytes=100-"), 100), Ask::Unsatisfiable);
        assert_eq!(ask(Some("bytes=-0"), 100), Ask::Unsatisfiable);
        assert_eq!(ask(Some("bytes=0-0"), 0), Ask::Unsatisfiable);
        assert_eq!(ask(Some("bytes=9-0"), 100), Ask::None, "malformed");
        assert_eq!(ask(Some("bytes=x-1"), 100), Ask::None, "malformed");
        assert_eq!(
            ask(Some("bytes=0-9, 20-29,-5"), 100),
            Ask::Several(vec![(0, 9), (20, 29), (95, 99)])
        );
        assert_eq!(
            ask(Some("bytes=90-,0-0"), 100),
            Ask::Several(vec![(90, 99), (0, 0)])
        );
        assert_eq!(ask(Some("bytes=0-9,5-15"), 100), Ask::Whole, "overlapping");
        assert_eq!(
            ask(Some("bytes=0-9,200-300"), 100),
            Ask::One(0, 9),
            "one satisfiable"
        );
        assert_eq!(ask(Some("bytes=9-0,1-2"), 100), Ask::None, "malformed");
        let many = (0..40)
            .map(|i| format!("{}-{}", i * 2, i * 2))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(ask(Some(&format!("bytes={many}")), 100), Ask::Whole);
        assert_eq!(
            ask(Some("bytes=0-0,1-99999999999"), 1 << 40),
            Ask::Whole,
            "too large"
        );
    }
}
