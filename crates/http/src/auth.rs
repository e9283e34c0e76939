//! HTTP Basic authentication: users from `--auth USER:PASS` (compared in constant time) and
//! from an htpasswd file (verified by their hash's own algorithm), and clients that keep
//! failing slowed down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use crate::htpasswd::Hash;

/// Failures an address may make before answers to it are delayed.
const FREE_FAILURES: u32 = 3;
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// An address's count is forgotten after this long without a failure.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most (the oldest are dropped first).
const MAX_TRACKED: usize = 10_000;

/// How long a verified htpasswd login is remembered.
const REMEMBER_FOR: Duration = Duration::from_secs(10 * 60);
/// Verified logins remembered at most.
const MAX_REMEMBERED: usize = 1024;

/// The users, the failures seen per address, and recent htpasswd logins.
///
/// An htpasswd hash takes tens of milliseconds to check on purpose, and a browser sends the
/// same credentials with every request: a page with twenty images would cost twenty checks.
/// A login that checked out is remembered for 10 minutes, as an HMAC of the credentials
/// under a key made at start (never the password itself), so the next requests are answered
/// at once.
pub struct Auth {
    users: Vec<(String, String)>,
    hashed: Vec<(String, Hash)>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    remembered: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    key: ring::hmac::Key,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("users", &self.users.len())
            .field("hashed", &self.hashed.len())
            .finish_non_exhaustive()
    }
}

/// What a request's credentials are worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A known user with the right password.
    User(String),
    /// No `Authorization` header.
    Anonymous,
    /// Credentials that are wrong or malformed.
    Wrong,
}

/// The user and password of a Basic `Authorization` header; `None` when there is none or it
/// is malformed.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(bytes).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

impl Auth {
    /// Users from `USER:PASS` strings, and users with hashed passwords (from an htpasswd
    /// file, [`crate::htpasswd::parse`]).
    ///
    /// # Errors
    /// A string without `:` or with an empty user name.
    pub fn new(pairs: &[String], hashed: Vec<(String, Hash)>) -> Result<Self, String> {
        let users = pairs
            .iter()
            .map(|pair| match pair.split_once(':') {
                Some((user, pass)) if !user.is_empty() => Ok((user.to_owned(), pass.to_owned())),
                _ => Err(format!("--auth wants USER:PASS, got {pair:?}")),
            })
            .collect::<Result<_, _>>()?;
        let key =
            ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
                .map_err(|_| "no randomness for the login cache".to_owned())?;
        Ok(Self {
            users,
            hashed,
            failures: Mutex::default(),
            remembered: Mutex::default(),
            key,
        })
    }

    /// Whether any user is configured.
    pub fn enabled(&self) -> bool {
        !self.users.is_empty() || !self.hashed.is_empty()
    }

    /// The verdict when it comes cheap: no credentials, a `--auth` user, malformed
    /// credentials, or an htpasswd login remembered. `None`: a hash must be checked, with
    /// [`Auth::check`], off the async runtime.
    pub fn quick(&self, headers: &HeaderMap) -> Option<Verdict> {
        let Some((user, pass)) = credentials(headers) else {
            return Some(if headers.contains_key(header::AUTHORIZATION) {
                Verdict::Wrong
            } else {
                Verdict::Anonymous
            });
        };
        if let Some(name) = self.plain_user(&user, &pass) {
            return Some(Verdict::User(name));
        }
        if self.hashed.is_empty() {
            return Some(Verdict::Wrong);
        }
        let tag = self.tag(&user, &pass);
        let remembered = self.remembered.lock().ok()?;
        match remembered.get(&tag) {
            Some((name, when)) if when.elapsed() < REMEMBER_FOR => {
                Some(Verdict::User(name.clone()))
            }
            _ => None,
        }
    }

    /// Check the `Authorization` header. With htpasswd users this takes milliseconds (their
    /// hashes are slow on purpose): call it off the async runtime.
    pub fn check(&self, headers: &HeaderMap) -> Verdict {
        let Some((user, pass)) = credentials(headers) else {
            return if headers.contains_key(header::AUTHORIZATION) {
                Verdict::Wrong
            } else {
                Verdict::Anonymous
            };
        };
        if let Some(name) = self.plain_user(&user, &pass) {
            return Verdict::User(name);
        }
        let verdict = self.hashed_user(&user, &pass);
        if let Verdict::User(name) = &verdict {
            let tag = self.tag(&user, &pass);
            if let Ok(mut remembered) = self.remembered.lock() {
                if remembered.len() >= MAX_REMEMBERED {
                    remembered.retain(|_, (_, when)| when.elapsed() < REMEMBER_FOR);
                    if remembered.len() >= MAX_REMEMBERED {
                        remembered.clear();
                    }
                }
                remembered.insert(tag, (name.clone(), Instant::now()));
            }
        }
        verdict
    }

    fn tag(&self, user: &str, pass: &str) -> [u8; 32] {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(user.as_bytes());
        context.update(b":");
        context.update(pass.as_bytes());
        let mut tag = [0; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }

    /// A `--auth` user with this password. Every user is compared, so the time taken does not
    /// tell which names exist.
    fn plain_user(&self, user: &str, pass: &str) -> Option<String> {
        let mut found = None;
        for (name, secret) in &self.users {
            let name_ok = prise_core::same_secret(name.as_bytes(), user.as_bytes());
            let pass_ok = prise_core::same_secret(secret.as_bytes(), pass.as_bytes());
            if name_ok && pass_ok {
                found = Some(name.clone());
            }
        }
        found
    }

    fn hashed_user(&self, user: &str, pass: &str) -> Verdict {
        // Every name is compared (the last match wins), so the time does not tell which exist.
        let named = self.hashed.iter().fold(None, |found, entry| {
            if prise_core::same_secret(entry.0.as_bytes(), user.as_bytes()) {
                Some(entry)
            } else {
                found
            }
        });
        match (named, self.hashed.first()) {
            (Some((name, hash)), _) if hash.verify(pass) => Verdict::User(name.clone()),
            (Some(_), _) => Verdict::Wrong,
            (None, Some((_, any))) => {
                // An unknown name costs as much as a wrong password.
                let _ = any.verify(pass);
                Verdict::Wrong
            }
            (None, None) => Verdict::Wrong,
        }
    }

    /// Count a failure from `ip`; how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return MAX_DELAY;
        };
        let now = Instant::now();
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
            if failures.len() >= MAX_TRACKED {
                failures.clear();
            }
        }
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = now;
        let over = entry.0.saturating_sub(FREE_FAILURES);
        if over == 0 {
            return Duration::ZERO;
        }
        (Duration::from_millis(100) * 2u32.saturating_pow(over.min(16) - 1)).min(MAX_DELAY)
    }

    /// A success from `ip` clears its count.
    pub fn succeeded(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        );
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn users_passwords_and_malformed_headers() {
        let auth = Auth::new(&["alice:s3cret".into(), "bob:pa:ss".into()], Vec::new()).unwrap();
        assert_eq!(
            auth.check(&basic("alice:s3cret")),
            Verdict::User("alice".into())
        );
        assert_eq!(auth.check(&basic("bob:pa:ss")), Verdict::User("bob".into()));
        assert_eq!(auth.check(&basic("alice:wrong")), Verdict::Wrong);
        assert_eq!(auth.check(&basic("carol:s3cret")), Verdict::Wrong);
        assert_eq!(auth.check(&HeaderMap::new()), Verdict::Anonymous);
        let mut bad = HeaderMap::new();
        bad.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(auth.check(&bad), Verdict::Wrong);
        assert!(Auth::new(&["nocolon".into()], Vec::new()).is_err());
        assert!(Auth::new(&[":pass".into()], Vec::new()).is_err());
    }

    /// Hashes made by the real tools: Debian's apache2-utils `htpasswd -B`, `openssl passwd -5`
    /// and `-6`, and the `argon2` command.
    #[test]
    fn htpasswd_hashes_made_by_real_tools_are_accepted() {
        let run = |program: &str, args: &[&str], input: Option<&str>| -> String {
            let mut child = std::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("{program} is needed (apt-get install apache2-utils openssl argon2; .ci/run does): {e}")
                });
            if let Some(input) = input {
                use std::io::Write as _;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{program} {args:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let file = format!(
            "{}\ncarol:{}\ndave:{}\nerin:{}\n",
            run("htpasswd", &["-nbB", "bob", "b-pass"], None),
            run("openssl", &["passwd", "-5", "c-pass"], None),
            run("openssl", &["passwd", "-6", "d-pass"], None),
            run("argon2", &["somesaltvalue", "-id", "-e"], Some("e-pass")),
        );
        let users = crate::htpasswd::parse(&file).unwrap();
        assert_eq!(users.len(), 4, "{file}");
        let auth = Auth::new(&[], users).unwrap();
        for (user, pass) in [
            ("bob", "b-pass"),
            ("carol", "c-pass"),
            ("dave", "d-pass"),
            ("erin", "e-pass"),
        ] {
            assert_eq!(
                auth.check(&basic(&format!("{user}:{pass}"))),
                Verdict::User(user.into())
            );
            assert_eq!(
                auth.check(&basic(&format!("{user}:wrong"))),
                Verdict::Wrong,
                "{user}"
            );
        }
        assert_eq!(auth.check(&basic("mallory:b-pass")), Verdict::Wrong);
    }

    #[test]
    fn a_checked_htpasswd_login_is_remembered_and_nothing_else_is() {
        let hash = bcrypt::hash("b-pass", 4).unwrap();
        let users = crate::htpasswd::parse(&format!("bob:{hash}\n")).unwrap();
        let auth = Auth::new(&["ann:a-pass".into()], users).unwrap();
        // Cheap verdicts come at once.
        assert_eq!(auth.quick(&HeaderMap::new()), Some(Verdict::Anonymous));
        assert_eq!(
            auth.quick(&basic("ann:a-pass")),
            Some(Verdict::User("ann".into()))
        );
        let mut junk = HeaderMap::new();
        junk.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(auth.quick(&junk), Some(Verdict::Wrong));
        // A hashed user needs the slow check once.
        assert_eq!(auth.quick(&basic("bob:b-pass")), None);
        assert_eq!(auth.check(&basic("bob:wrong")), Verdict::Wrong);
        assert_eq!(
            auth.quick(&basic("bob:wrong")),
            None,
            "failures are not remembered"
        );
        assert_eq!(
            auth.check(&basic("bob:b-pass")),
            Verdict::User("bob".into())
        );
        assert_eq!(
            auth.quick(&basic("bob:b-pass")),
            Some(Verdict::User("bob".into()))
        );
        assert_eq!(
            auth.quick(&basic("bob:b-pasS")),
            None,
            "another password is checked"
        );
    }

    #[test]
    fn repeated_failures_are_slowed_down_and_a_success_forgives() {
        let auth = Auth::new(&["a:b".into()], Vec::new()).unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let delays: Vec<Duration> = (0..6).map(|_| auth.failed(ip)).collect();
        assert_eq!(delays[..3], [Duration::ZERO; 3]);
        assert_eq!(delays[3], Duration::from_millis(100));
        assert_eq!(delays[5], Duration::from_millis(400));
        assert_eq!((0..20).map(|_| auth.failed(ip)).max().unwrap(), MAX_DELAY);
        assert_eq!(auth.failed("192.0.2.2".parse().unwrap()), Duration::ZERO);
        auth.succeeded(ip);
        assert_eq!(auth.failed(ip), Duration::ZERO);
    }
}
