//! htpasswd lines made by a real tool.

use std::process::Command;

/// `USER:HASH` with the password hashed by `openssl passwd -5` (SHA-256 crypt, as
/// `mkpasswd -m sha-256` writes it).
///
/// # Panics
/// When openssl is missing or fails.
pub fn line(user: &str, password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-5", password])
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl passwd failed");
    format!("{user}:{}", String::from_utf8(out.stdout).unwrap().trim())
}
