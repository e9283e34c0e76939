//! Apache's `htpasswd` files: `user:hash` per line. Hashes made by the usual tools are taken:
//! bcrypt (`htpasswd -B`: `$2y$`, `$2b$`, `$2a$`), SHA-256-crypt and SHA-512-crypt
//! (`openssl passwd -5` / `-6`: `$5$`, `$6$`) and Argon2 (`$argon2id$`, `$argon2i$`,
//! `$argon2d$`). Older schemes (`$apr1$` MD5, `{SHA}`, crypt(3) DES, plain text) are refused when
//! the file is read, with the line: they are too weak to keep. Verification is by the
//! RustCrypto and `bcrypt` crates, each comparing in constant time.

use argon2::password_hash::PasswordVerifier as _;

/// A stored password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hash {
    /// `$2y$...`
    Bcrypt(String),
    /// `$5$...` or `$6$...`
    ShaCrypt(String),
    /// `$argon2id$...`
    Argon2(String),
}

impl Hash {
    /// Whether `password` matches. Slow on purpose (that is the point of these hashes): call it
    /// off the async runtime.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            Hash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            Hash::ShaCrypt(hash) => sha_crypt::ShaCrypt::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok(),
            Hash::Argon2(hash) => argon2::Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok(),
        }
    }
}

/// The users of an htpasswd file's text.
///
/// # Errors
/// The first line that is not `user:hash` with a supported hash, by number.
pub fn parse(text: &str) -> Result<Vec<(String, Hash)>, String> {
    let mut users = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = number + 1;
        let Some((user, hash)) = line.split_once(':').filter(|(u, _)| !u.is_empty()) else {
            return Err(format!("line {number}: not user:hash"));
        };
        let hash = hash.to_owned();
        let parsed = if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
            Hash::Bcrypt(hash)
        } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
            Hash::ShaCrypt(hash)
        } else if ["$argon2id$", "$argon2i$", "$argon2d$"]
            .iter()
            .any(|p| hash.starts_with(p))
        {
            Hash::Argon2(hash)
        } else {
            let scheme = if hash.starts_with("$apr1$") {
                "MD5 ($apr1$)"
            } else if hash.starts_with("{SHA}") {
                "SHA-1 ({SHA})"
            } else {
                "crypt(3) DES or plain text"
            };
            return Err(format!(
                "line {number}: {user}'s password is hashed with {scheme}, which prise does not \
                 take; make it again with htpasswd -B (bcrypt), openssl passwd -6 (SHA-512-crypt) \
                 or argon2"
            ));
        };
        users.push((user.to_owned(), parsed));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn old_schemes_and_broken_lines_are_refused_by_line() {
        let err = parse("# users\nalice:$apr1$abc$def\n").unwrap_err();
        assert!(
            err.starts_with("line 2: alice's password is hashed with MD5"),
            "{err}"
        );
        assert!(parse("bob:{SHA}abc=").unwrap_err().contains("SHA-1"));
        assert!(parse("carol:plaintext").unwrap_err().contains("plain text"));
        assert!(parse("nocolon").unwrap_err().contains("not user:hash"));
        assert_eq!(parse("\n# only comments\n").unwrap(), vec![]);
    }
}
