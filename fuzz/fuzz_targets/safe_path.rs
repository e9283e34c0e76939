//! Arbitrary text as a peer-supplied path: whatever is accepted stays inside the root and has no
//! `..` component.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prise_core::path::SafeRoot;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parts) = SafeRoot::check_relative(text) {
        for part in parts {
            assert!(!part.is_empty() && part != "." && part != "..");
            assert!(!part.contains('/') && !part.contains('\\') && !part.contains('\0'));
        }
    }
});
