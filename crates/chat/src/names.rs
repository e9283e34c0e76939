//! Nicknames and room names: validation, case folding, guest names.
//!
//! The rules are IRC's (RFC 2812 nick characters, `#` rooms, RFC 1459 case mapping), so every
//! name that works here also works for an IRC client on the same hub.

/// Longest nick, in characters (all ASCII). 30 is what modern IRC networks allow.
pub const MAX_NICK_LEN: usize = 30;

/// Longest room name including the `#`, as IRC's CHANNELLEN.
pub const MAX_ROOM_LEN: usize = 50;

/// Longest topic, in bytes, as IRC's TOPICLEN.
pub const MAX_TOPIC_LEN: usize = 300;

fn is_special(c: char) -> bool {
    matches!(
        c,
        '_' | '-' | '[' | ']' | '\\' | '^' | '{' | '}' | '|' | '`'
    )
}

/// Why a name was refused.
pub fn check_nick(nick: &str) -> Result<(), &'static str> {
    let mut chars = nick.chars();
    let Some(first) = chars.next() else {
        return Err("a nick cannot be empty");
    };
    if nick.len() > MAX_NICK_LEN {
        return Err("a nick is at most 30 characters");
    }
    if first.is_ascii_digit() || first == '-' {
        return Err("a nick cannot start with a digit or '-'");
    }
    if !nick
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || is_special(c))
    {
        return Err("a nick may use only letters, digits and _ - [ ] \\ ^ { } | `");
    }
    Ok(())
}

/// Normalise a room name: `salon` becomes `#salon`. Returns the reason when it is invalid.
pub fn normalize_room(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    let full = if name.starts_with('#') {
        name.to_owned()
    } else {
        format!("#{name}")
    };
    if full.len() < 2 {
        return Err("a room name cannot be empty");
    }
    if full.len() > MAX_ROOM_LEN {
        return Err("a room name is at most 50 characters");
    }
    if !full[1..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || is_special(c) || matches!(c, '.' | '#'))
    {
        return Err("a room name may use only letters, digits and _ - . [ ] \\ ^ { } |");
    }
    Ok(full)
}

/// Whether `word` can travel as one middle parameter of an IRC line: no spaces, commas or
/// control characters, and no `:` at the start (room keys, masks).
pub fn is_irc_word(word: &str) -> bool {
    !word.starts_with(':')
        && !word
            .chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
}

/// The key under which a name is unique: ASCII lower case with RFC 1459's `[]\~` = `{}|^`.
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            other => other,
        })
        .collect()
}

/// A guest nick: the tutorial's "Invité" and a number, in ASCII.
pub fn guest_nick(attempt: u32) -> String {
    // Three digits as in the tutorial; widen when the server is crowded with guests.
    let digits = 3 + attempt / 20;
    let low = 10u64.pow(digits - 1);
    let high = 10u64.pow(digits);
    format!("Invite{}", fastrand::u64(low..high))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn nicks() {
        for good in ["alice", "Bob_2", "[x]", "a-b", "z`"] {
            assert!(check_nick(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "-x", "a b", "é", "a!b", &"x".repeat(31)] {
            assert!(check_nick(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rooms() {
        assert_eq!(normalize_room("salon").unwrap(), "#salon");
        assert_eq!(normalize_room("#Dev").unwrap(), "#Dev");
        for bad in ["", "#", "a b", "#x,y", &"x".repeat(50)] {
            assert!(normalize_room(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn folding_follows_rfc1459() {
        assert_eq!(fold("Alice[1]"), fold("alice{1}"));
        assert_ne!(fold("alice"), fold("alice_"));
    }

    #[test]
    fn guests_are_valid_nicks() {
        for attempt in 0..100 {
            let nick = guest_nick(attempt);
            assert!(check_nick(&nick).is_ok(), "{nick}");
            assert!(nick.starts_with("Invite"));
        }
    }
}
