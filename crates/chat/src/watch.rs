//! Who watches which nick (IRCv3 `MONITOR`): a user's list of nicks, and for each nick the
//! users told when it comes online or goes offline. Pure bookkeeping; the hub keeps one under
//! its lock and sends the notices.

use std::collections::HashMap;

use crate::names::fold;

/// Most nicks one user may watch (ISUPPORT `MONITOR=100`).
pub const MAX_WATCHED: usize = 100;

/// The watch lists of every user, by watcher and by watched nick.
#[derive(Debug)]
pub(crate) struct Watchers<T> {
    /// Folded nick: who watches it (user id and handle).
    by_nick: HashMap<String, Vec<(u64, T)>>,
    /// User id: the nicks they watch, as they wrote them.
    by_user: HashMap<u64, Vec<String>>,
}

impl<T> Default for Watchers<T> {
    fn default() -> Self {
        Self {
            by_nick: HashMap::new(),
            by_user: HashMap::new(),
        }
    }
}

impl<T: Clone> Watchers<T> {
    /// Watch `nick`. Returns false when the user's list is full (and the nick not in it).
    pub(crate) fn add(&mut self, id: u64, who: &T, nick: &str) -> bool {
        let key = fold(nick);
        let mine = self.by_user.entry(id).or_default();
        if mine.iter().any(|n| fold(n) == key) {
            return true;
        }
        if mine.len() >= MAX_WATCHED {
            return false;
        }
        mine.push(nick.to_owned());
        self.by_nick.entry(key).or_default().push((id, who.clone()));
        true
    }

    /// Stop watching `nick`.
    pub(crate) fn remove(&mut self, id: u64, nick: &str) {
        let key = fold(nick);
        if let Some(mine) = self.by_user.get_mut(&id) {
            mine.retain(|n| fold(n) != key);
            if mine.is_empty() {
                self.by_user.remove(&id);
            }
        }
        if let Some(watchers) = self.by_nick.get_mut(&key) {
            watchers.retain(|(w, _)| *w != id);
            if watchers.is_empty() {
                self.by_nick.remove(&key);
            }
        }
    }

    /// Stop watching anything (`MONITOR C`, or the user left).
    pub(crate) fn clear(&mut self, id: u64) {
        for nick in self.by_user.remove(&id).unwrap_or_default() {
            let key = fold(&nick);
            if let Some(watchers) = self.by_nick.get_mut(&key) {
                watchers.retain(|(w, _)| *w != id);
                if watchers.is_empty() {
                    self.by_nick.remove(&key);
                }
            }
        }
    }

    /// The nicks a user watches, as written, in the order added.
    pub(crate) fn list(&self, id: u64) -> Vec<String> {
        self.by_user.get(&id).cloned().unwrap_or_default()
    }

    /// Who watches `nick`.
    pub(crate) fn watching(&self, nick: &str) -> Vec<T> {
        self.by_nick
            .get(&fold(nick))
            .map(|w| w.iter().map(|(_, t)| t.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Watchers, MAX_WATCHED};

    #[test]
    fn lists_go_both_ways_fold_case_and_are_capped() {
        let mut w: Watchers<&str> = Watchers::default();
        assert!(w.add(1, &"one", "Bob"));
        assert!(w.add(1, &"one", "bob"), "already watched is not an error");
        assert!(w.add(2, &"two", "BOB"));
        assert_eq!(w.watching("bob"), ["one", "two"]);
        assert_eq!(w.list(1), ["Bob"]);
        w.remove(2, "Bob");
        assert_eq!(w.watching("bob"), ["one"]);
        w.clear(1);
        assert!(w.watching("bob").is_empty());
        assert!(w.list(1).is_empty());
        for i in 0..MAX_WATCHED {
            assert!(w.add(3, &"three", &format!("n{i}")));
        }
        assert!(!w.add(3, &"three", "one-more"));
        assert_eq!(w.list(3).len(), MAX_WATCHED);
    }
}
