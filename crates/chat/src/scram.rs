//! SCRAM-SHA-256 (RFC 5802, RFC 7677), the server's side: the SASL mechanism that logs a client
//! in without the password crossing the wire, and proves the server knew the account.
//!
//! Pure: the messages in, the messages out, the keys from [`Credentials`]. What is kept per
//! account is RFC 5803's form, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (base64): enough to check a client's proof, not enough to log in as it.
//!
//! Not supported, and refused: channel binding (`p=`, `-PLUS`), mandatory extensions (`m=`).
//! Passwords are prepared with SASLprep (RFC 4013) as the RFC asks; one that SASLprep refuses
//! gets no SCRAM keys (PLAIN still works for it).

use base64ct::{Base64, Encoding as _};
use ring::{digest, hmac, pbkdf2};

/// PBKDF2 iterations for new keys (RFC 7677's minimum, what clients expect).
pub const ITERATIONS: u32 = 4096;

/// Most iterations a stored key may ask for (a corrupt record must not stall a thread).
const MAX_ITERATIONS: u32 = 1_000_000;

/// Length of a key and of a digest (SHA-256).
const KEY_LEN: usize = 32;

/// What the server keeps of a password for SCRAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// The salt.
    pub salt: Vec<u8>,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: [u8; KEY_LEN],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; KEY_LEN],
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0; KEY_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0; KEY_LEN];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equal without a timing that tells where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Credentials {
    /// The keys of `password` with `salt`; `None` when SASLprep refuses the password.
    #[must_use]
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Option<Self> {
        let prepared = stringprep::saslprep(password).ok()?;
        let mut salted = [0u8; KEY_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(iterations)?,
            salt,
            prepared.as_bytes(),
            &mut salted,
        );
        Some(Self {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&hmac_sha256(&salted, b"Client Key")),
            server_key: hmac_sha256(&salted, b"Server Key"),
        })
    }

    /// RFC 5803's text form.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            Base64::encode_string(&self.salt),
            Base64::encode_string(&self.stored_key),
            Base64::encode_string(&self.server_key)
        )
    }

    /// Read RFC 5803's text form; `None` when it is not one.
    #[must_use]
    pub fn from_text(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return None;
        }
        Some(Self {
            iterations,
            salt: Base64::decode_vec(salt).ok()?,
            stored_key: Base64::decode_vec(stored).ok()?.try_into().ok()?,
            server_key: Base64::decode_vec(server).ok()?.try_into().ok()?,
        })
    }
}

/// Why an exchange failed: each ends it with a plain failure (the client is told no more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A message that is not what RFC 5802 describes.
    Malformed,
    /// Channel binding, an extension, or an authorization identity other than the user.
    Unsupported,
    /// The final message's nonce is not the one of this exchange (a replay).
    WrongNonce,
    /// The proof is wrong: wrong password, or no such account.
    BadProof,
}

/// The client's first message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The user name (`n=`), with `=2C` and `=3D` decoded.
    pub user: String,
    gs2_header: String,
    bare: String,
    nonce: String,
}

/// A SCRAM attribute value's name decoding (`=2C` is `,`, `=3D` is `=`).
fn decode_name(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A nonce: printable ASCII but `,`.
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

impl ClientFirst {
    /// Read `gs2-header client-first-message-bare`.
    ///
    /// # Errors
    /// [`Failure::Malformed`], [`Failure::Unsupported`].
    pub fn parse(message: &[u8]) -> Result<Self, Failure> {
        let message = std::str::from_utf8(message).map_err(|_| Failure::Malformed)?;
        let mut parts = message.splitn(3, ',');
        let (flag, raw_authzid, bare) = match (parts.next(), parts.next(), parts.next()) {
            (Some(f), Some(a), Some(b)) => (f, a, b),
            _ => return Err(Failure::Malformed),
        };
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(Failure::Unsupported),
            _ => return Err(Failure::Malformed),
        }
        let authzid = match raw_authzid {
            "" => None,
            a => Some(
                decode_name(a.strip_prefix("a=").ok_or(Failure::Malformed)?)
                    .ok_or(Failure::Malformed)?,
            ),
        };
        let mut attrs = bare.split(',');
        let user = attrs
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .ok_or_else(|| {
                if bare.starts_with("m=") {
                    Failure::Unsupported
                } else {
                    Failure::Malformed
                }
            })?;
        let user = decode_name(user).ok_or(Failure::Malformed)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| valid_nonce(n))
            .ok_or(Failure::Malformed)?;
        // Further attributes are optional extensions: ignored, as RFC 5802 says.
        if user.is_empty() {
            return Err(Failure::Malformed);
        }
        if let Some(authzid) = authzid {
            if crate::names::fold(&authzid) != crate::names::fold(&user) {
                return Err(Failure::Unsupported);
            }
        }
        Ok(Self {
            user,
            gs2_header: format!("{flag},{raw_authzid},"),
            bare: bare.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

/// The server's side once it has answered the first message.
#[derive(Debug, Clone)]
pub struct Exchange {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    credentials: Credentials,
}

impl Exchange {
    /// Answer `first` with `credentials` (those of the account, or made-up ones for a name
    /// without an account, so the answer does not tell) and the server's part of the nonce.
    #[must_use]
    pub fn start(first: ClientFirst, credentials: Credentials, server_nonce: &str) -> Self {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            Base64::encode_string(&credentials.salt),
            credentials.iterations
        );
        Self {
            first,
            server_first,
            nonce,
            credentials,
        }
    }

    /// The server-first-message.
    #[must_use]
    pub fn server_first(&self) -> &str {
        &self.server_first
    }

    /// Check the client's final message; the server-final-message (`v=...`) when the proof
    /// is right.
    ///
    /// # Errors
    /// [`Failure::Malformed`], [`Failure::Unsupported`], [`Failure::WrongNonce`],
    /// [`Failure::BadProof`].
    pub fn finish(&self, message: &[u8]) -> Result<String, Failure> {
        let message = std::str::from_utf8(message).map_err(|_| Failure::Malformed)?;
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or(Failure::Malformed)?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(Failure::Malformed)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(Failure::Malformed)?;
        let binding = Base64::decode_vec(binding).map_err(|_| Failure::Malformed)?;
        if binding != self.first.gs2_header.as_bytes() {
            // Channel binding data, or a header other than the first message's.
            return Err(Failure::Unsupported);
        }
        if !same(nonce.as_bytes(), self.nonce.as_bytes()) {
            return Err(Failure::WrongNonce);
        }
        let proof = Base64::decode_vec(proof).map_err(|_| Failure::Malformed)?;
        if proof.len() != KEY_LEN {
            return Err(Failure::Malformed);
        }
        let auth_message = format!("{},{},{without_proof}", self.first.bare, self.server_first);
        let signature = hmac_sha256(&self.credentials.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if !same(&sha256(&client_key), &self.credentials.stored_key) {
            return Err(Failure::BadProof);
        }
        let server_signature = hmac_sha256(&self.credentials.server_key, auth_message.as_bytes());
        Ok(format!("v={}", Base64::encode_string(&server_signature)))
    }

    /// The user named in the first message.
    #[must_use]
    pub fn user(&self) -> &str {
        &self.first.user
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 7677's example exchange, section 3: user "user", password "pencil".
    #[test]
    fn rfc_7677_example_exchange() {
        let salt = Base64::decode_vec("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let creds = Credentials::derive("pencil", &salt, 4096).unwrap();
        let first = ClientFirst::parse(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(first.user, "user");
        let exchange = Exchange::start(first, creds, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        assert_eq!(
            exchange.server_first(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let answer = exchange
            .finish(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(answer, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    #[test]
    fn wrong_proof_replayed_nonce_binding_and_garbage_are_refused() {
        let salt = Base64::decode_vec("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let creds = Credentials::derive("pencil", &salt, 4096).unwrap();
        let first = ClientFirst::parse(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let exchange = Exchange::start(first, creds, "server-part");
        let nonce = "rOprNGfwEbeRWgbNEkqOserver-part";
        let bad_proof = format!("c=biws,r={nonce},p={}", Base64::encode_string(&[7u8; 32]));
        assert_eq!(
            exchange.finish(bad_proof.as_bytes()),
            Err(Failure::BadProof)
        );
        // The RFC's proof, made for another server nonce: a replay.
        assert_eq!(
            exchange.finish(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
            ),
            Err(Failure::WrongNonce)
        );
        let other_header = format!("c={},r={nonce},p=AAAA", Base64::encode_string(b"y,,"));
        assert_eq!(
            exchange.finish(other_header.as_bytes()),
            Err(Failure::Unsupported)
        );
        for garbage in [&b""[..], b"p=", b"c=biws", b"\xff\xfe", b"c=!!,r=x,p=y"] {
            assert!(exchange.finish(garbage).is_err(), "{garbage:?}");
        }
        for first in [
            &b""[..],
            b"n,,",
            b"n,,r=abc",
            b"n,,n=,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=us=ZZer,r=abc",
            b"x,,n=user,r=abc",
            b"\xff,,n=user,r=abc",
        ] {
            assert_eq!(
                ClientFirst::parse(first),
                Err(Failure::Malformed),
                "{first:?}"
            );
        }
        for first in [
            &b"p=tls-unique,,n=user,r=abc"[..],
            b"n,,m=ext,n=user,r=abc",
            b"n,a=admin,n=user,r=abc",
        ] {
            assert_eq!(
                ClientFirst::parse(first),
                Err(Failure::Unsupported),
                "{first:?}"
            );
        }
        let with_authzid = ClientFirst::parse(b"n,a=User,n=user,r=abc").unwrap();
        assert_eq!(with_authzid.gs2_header, "n,a=User,");
        assert_eq!(
            ClientFirst::parse(b"n,,n=a=2Cb=3Dc,r=abc").unwrap().user,
            "a,b=c"
        );
    }

    #[test]
    fn stored_form_round_trips_and_bad_forms_are_none() {
        let creds = Credentials::derive("pencil", b"0123456789abcdef", 4096).unwrap();
        let text = creds.to_text();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
        assert_eq!(Credentials::from_text(&text), Some(creds));
        for bad in [
            "",
            "SCRAM-SHA-1$4096:AA==$AA==:AA==",
            "SCRAM-SHA-256$0:AA==$AA==:AA==",
            "SCRAM-SHA-256$99999999:AA==$AA==:AA==",
            "SCRAM-SHA-256$4096:AA==$AA==:AA==",
        ] {
            assert_eq!(Credentials::from_text(bad), None, "{bad}");
        }
        // SASLprep: a space-like character maps to a space, a control character is refused.
        assert_eq!(
            Credentials::derive("a\u{00A0}b", b"salt", 1),
            Credentials::derive("a b", b"salt", 1)
        );
        assert_eq!(Credentials::derive("a\u{0007}b", b"salt", 1), None);
    }
}
