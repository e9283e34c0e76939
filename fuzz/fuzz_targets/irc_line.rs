//! Arbitrary text through the IRC line parser: never a panic; a parsed line has a non-empty
//! command, and its parameters are pieces of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prise_chat::irc::{parse, MAX_BODY_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(line) = parse(text) {
        assert!(!line.command.is_empty());
        assert!(!line.command.contains(' '));
        for param in &line.params {
            assert!(text.contains(param));
        }
        if line.tags.is_none() {
            assert!(text.trim_start_matches(' ').len() + 2 <= MAX_BODY_LEN);
        }
    }
});
