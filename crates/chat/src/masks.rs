//! Address masks and the room lists built on them: bans (`+b`), ban exceptions (`+e`) and
//! invite exceptions (`+I`), as IRC servers keep them.
//!
//! Every user, whatever their front door, has an address `nick!ident@host` (the host is
//! cloaked: [`USER_HOST`]). A mask is such an address with `*` (any run) and `?` (any one
//! character) wildcards, matched without regard to case as nicks are (RFC 1459 case mapping).
//! A short mask is completed the way IRC servers do: `alice` is `alice!*@*`, `~bob@*` is
//! `*!~bob@*`, `alice!*` is `alice!*@*`. Pure code, no I/O.

use std::time::SystemTime;

use crate::names::{fold, is_irc_word};

/// The host part of every user's address (`nick!ident@prise`): addresses are cloaked, so no
/// user learns another's IP address.
pub const USER_HOST: &str = "prise";

/// Most entries one list of one room holds (IRC's `MAXLIST`).
pub const MAX_LIST_LEN: usize = 100;

/// Longest mask, in bytes.
pub const MAX_MASK_LEN: usize = 200;

/// Which of a room's address lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `b`: who may not join or speak.
    Ban,
    /// `e`: exceptions to the bans.
    Except,
    /// `I`: who may join an invite-only room without an invitation.
    Invex,
}

impl ListKind {
    /// The IRC mode letter.
    pub fn letter(self) -> char {
        match self {
            ListKind::Ban => 'b',
            ListKind::Except => 'e',
            ListKind::Invex => 'I',
        }
    }

    /// The list for an IRC mode letter.
    pub fn from_letter(c: char) -> Option<Self> {
        match c {
            'b' => Some(ListKind::Ban),
            'e' => Some(ListKind::Except),
            'I' => Some(ListKind::Invex),
            _ => None,
        }
    }

    /// The list's name in the native protocol and in text messages.
    pub fn name(self) -> &'static str {
        match self {
            ListKind::Ban => "bans",
            ListKind::Except => "exceptions",
            ListKind::Invex => "invite exceptions",
        }
    }
}

/// One entry of a room list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListEntry {
    /// The mask, completed (`nick!ident@host`).
    pub mask: String,
    /// The nick of the operator who set it.
    pub by: String,
    /// When.
    #[serde(rename = "ts", with = "crate::event::rfc3339")]
    pub at: SystemTime,
}

/// A mask completed to `nick!ident@host`, or why it cannot be one.
///
/// # Errors
/// An empty or overlong mask, or one with spaces, commas, control characters or a leading `:`
/// (it could not travel in an IRC line).
pub fn normalize_mask(mask: &str) -> Result<String, &'static str> {
    if mask.is_empty() || mask.len() > MAX_MASK_LEN {
        return Err("a mask is 1 to 200 bytes");
    }
    if !is_irc_word(mask) {
        return Err("a mask has no spaces or commas and does not start with ':'");
    }
    let (nick_user, host) = match mask.rsplit_once('@') {
        Some((left, host)) => (left, if host.is_empty() { "*" } else { host }),
        None => (mask, "*"),
    };
    let (nick, user) = match nick_user.split_once('!') {
        Some((nick, user)) => (nick, user),
        // `~bob@host`: a user part alone.
        None if mask.contains('@') => ("*", nick_user),
        None => (nick_user, "*"),
    };
    let nick = if nick.is_empty() { "*" } else { nick };
    let user = if user.is_empty() { "*" } else { user };
    Ok(format!("{nick}!{user}@{host}"))
}

/// Whether a completed mask matches a user's address.
pub fn matches(mask: &str, nick: &str, ident: &str) -> bool {
    let address = fold(&format!("{nick}!{ident}@{USER_HOST}"));
    wildcard(&fold(mask), &address)
}

/// Whether `text` matches `pattern` with `*` (any run) and `?` (any one character).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A room's three lists.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lists {
    bans: Vec<ListEntry>,
    excepts: Vec<ListEntry>,
    invex: Vec<ListEntry>,
}

/// Why a list change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListRefusal {
    /// The mask is not one.
    Invalid(&'static str),
    /// The list holds [`MAX_LIST_LEN`] entries already.
    Full,
}

impl Lists {
    /// Lists holding these entries (as kept for a registered room).
    pub(crate) fn from_parts(
        bans: Vec<ListEntry>,
        excepts: Vec<ListEntry>,
        invex: Vec<ListEntry>,
    ) -> Self {
        Self {
            bans,
            excepts,
            invex,
        }
    }

    /// The entries of one list, oldest first.
    pub(crate) fn get(&self, kind: ListKind) -> &[ListEntry] {
        match kind {
            ListKind::Ban => &self.bans,
            ListKind::Except => &self.excepts,
            ListKind::Invex => &self.invex,
        }
    }

    fn get_mut(&mut self, kind: ListKind) -> &mut Vec<ListEntry> {
        match kind {
            ListKind::Ban => &mut self.bans,
            ListKind::Except => &mut self.excepts,
            ListKind::Invex => &mut self.invex,
        }
    }

    /// Add a mask. Returns the completed mask when it was added, `None` when it was there
    /// already (nothing changed).
    pub(crate) fn add(
        &mut self,
        kind: ListKind,
        mask: &str,
        by: &str,
    ) -> Result<Option<String>, ListRefusal> {
        let mask = normalize_mask(mask).map_err(ListRefusal::Invalid)?;
        let list = self.get_mut(kind);
        let folded = fold(&mask);
        if list.iter().any(|e| fold(&e.mask) == folded) {
            return Ok(None);
        }
        if list.len() >= MAX_LIST_LEN {
            return Err(ListRefusal::Full);
        }
        list.push(ListEntry {
            mask: mask.clone(),
            by: by.to_owned(),
            at: SystemTime::now(),
        });
        Ok(Some(mask))
    }

    /// Remove a mask (given as set, or completed). Returns the mask as it was listed, `None`
    /// when it was not listed.
    pub(crate) fn remove(&mut self, kind: ListKind, mask: &str) -> Option<String> {
        let folded = normalize_mask(mask).map(|m| fold(&m)).ok()?;
        let list = self.get_mut(kind);
        let at = list.iter().position(|e| fold(&e.mask) == folded)?;
        Some(list.remove(at).mask)
    }

    /// Whether the user is banned: a ban matches and no exception does.
    pub(crate) fn banned(&self, nick: &str, ident: &str) -> bool {
        self.bans.iter().any(|e| matches(&e.mask, nick, ident))
            && !self.excepts.iter().any(|e| matches(&e.mask, nick, ident))
    }

    /// Whether an invite exception lets the user into an invite-only room.
    pub(crate) fn invited_by_mask(&self, nick: &str, ident: &str) -> bool {
        self.invex.iter().any(|e| matches(&e.mask, nick, ident))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{matches, normalize_mask, wildcard, ListKind, ListRefusal, Lists, MAX_LIST_LEN};

    proptest! {
        /// Any text is a mask or refused, never a panic; a mask is completed once and for
        /// all (completing it again changes nothing), and matches the address it spells.
        #[test]
        fn masks_complete_once_and_match_what_they_spell(text in "\\PC{0,60}") {
            if let Ok(full) = normalize_mask(&text) {
                let again = normalize_mask(&full);
                prop_assert_eq!(again.as_deref(), Ok(full.as_str()));
                prop_assert!(full.contains('!') && full.contains('@'));
            }
        }

        #[test]
        fn a_literal_address_matches_itself(nick in "[a-zA-Z][a-zA-Z0-9]{0,12}", ident in "~?[a-z]{1,8}") {
            let mask = normalize_mask(&format!("{nick}!{ident}@prise")).unwrap_or_default();
            prop_assert!(matches(&mask, &nick, &ident));
            prop_assert!(matches(&mask, &nick.to_uppercase(), &ident));
        }
    }

    #[test]
    fn wildcards_match_like_irc_masks() {
        assert!(wildcard("*", "alice"));
        assert!(wildcard("al*", "alice"));
        assert!(wildcard("a?ice", "alice"));
        assert!(wildcard("*c*", "alice"));
        assert!(wildcard("a**e", "alice"));
        assert!(!wildcard("al", "alice"));
        assert!(!wildcard("b*", "alice"));
        assert!(!wildcard("alice?", "alice"));
        assert!(wildcard("", ""));
        assert!(!wildcard("", "a"));
    }

    #[test]
    fn short_masks_are_completed_as_irc_servers_do() {
        for (given, full) in [
            ("alice", "alice!*@*"),
            ("alice!*", "alice!*@*"),
            ("~bob@*", "*!~bob@*"),
            ("*!*@prise", "*!*@prise"),
            ("a!b@", "a!b@*"),
            ("@host", "*!*@host"),
        ] {
            assert_eq!(normalize_mask(given).as_deref(), Ok(full), "{given}");
        }
        for bad in ["", "two words", "a,b", ":x", &"m".repeat(201)] {
            assert!(normalize_mask(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masks_match_addresses_with_rfc1459_case_mapping() {
        assert!(matches("alice!*@*", "Alice", "~a"));
        assert!(matches("ALICE[1]!*@*", "alice{1}", "~a"));
        assert!(matches("*!~bob@prise", "whoever", "~bob"));
        assert!(!matches("*!~bob@elsewhere", "whoever", "~bob"));
        assert!(!matches("alice!*@*", "alice_", "~a"));
    }

    #[test]
    fn lists_add_once_remove_by_either_form_and_cap_their_length() {
        let mut lists = Lists::default();
        assert_eq!(
            lists.add(ListKind::Ban, "bad", "op"),
            Ok(Some("bad!*@*".into()))
        );
        assert_eq!(lists.add(ListKind::Ban, "BAD!*@*", "op"), Ok(None));
        assert!(lists.banned("Bad", "~x"));
        assert_eq!(
            lists.add(ListKind::Except, "*!~good@*", "op"),
            Ok(Some("*!~good@*".into()))
        );
        assert!(!lists.banned("bad", "~good"), "an exception beats a ban");
        assert_eq!(lists.remove(ListKind::Ban, "bad"), Some("bad!*@*".into()));
        assert_eq!(lists.remove(ListKind::Ban, "bad"), None);
        assert!(!lists.banned("bad", "~x"));
        for i in 0..MAX_LIST_LEN {
            assert!(lists.add(ListKind::Invex, &format!("n{i}"), "op").is_ok());
        }
        assert_eq!(
            lists.add(ListKind::Invex, "one-more", "op"),
            Err(ListRefusal::Full)
        );
        assert!(lists.invited_by_mask("n7", "~x"));
        assert_eq!(
            lists.add(ListKind::Ban, "a b", "op"),
            Err(ListRefusal::Invalid(
                "a mask has no spaces or commas and does not start with ':'"
            ))
        );
    }
}
