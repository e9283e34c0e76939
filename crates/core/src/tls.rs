//! TLS configuration shared by every service, on rustls with the ring provider.
//!
//! Servers get a [`ServerTls`] from PEM files or from a self-signed certificate made at start
//! (rcgen); either way its SHA-256 fingerprint is known, so the operator can print it and a
//! client can pin it. Clients get a [`ClientTls`] that verifies against the system roots, a CA
//! file, or a pinned fingerprint, or (with a loud warning) verifies nothing.
//!
//! Fingerprints are written `SHA256:` followed by 64 lowercase hex digits; parsing also accepts
//! upper case and colon-separated bytes, as OpenSSL prints them.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::Error;

/// Install ring as the process-wide rustls provider. Idempotent; the binary calls it at start
/// and the constructors here call it too, so a library user cannot forget.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is exactly what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate's SHA-256 fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(cert: &CertificateDer<'_>) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHA256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = Error;

    /// Parse `SHA256:<hex>`; the prefix is optional, case is ignored, colons are skipped.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadFingerprint(s.to_owned());
        let body = s.trim();
        let body = match body.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &body[7..],
            _ => body,
        };
        let hex: Vec<u8> = body.bytes().filter(|&b| b != b':').collect();
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            bytes[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// The certificate a server presents right now. Swapped whole on reload, so a handshake sees
/// either the old certificate or the new one, never a mix.
#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    fingerprint: Fingerprint,
}

/// Hands rustls the current certificate; [`ServerTls::reload_from`] swaps it.
#[derive(Debug)]
struct SwappableCert(RwLock<Current>);

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock only means a panic elsewhere while swapping; the value is whole.
        let current = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(Arc::clone(&current.key))
    }
}

/// What a server presents: its rustls config and its certificate's fingerprint.
///
/// Clones share the certificate: [`ServerTls::reload_from`] on one (on SIGHUP, after a
/// certificate renewal) changes what every clone presents from the next handshake on, without
/// dropping connections.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    current: Arc<SwappableCert>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Load a certificate chain and private key from PEM files.
    ///
    /// # Errors
    /// [`Error::Tls`] when a file cannot be read, holds no certificate or key, or the key does
    /// not match.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, Error> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| Error::tls(format!("reading certificate {}: {e}", cert.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| Error::tls(format!("parsing certificate {}: {e}", cert.display())))?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::tls(format!("reading private key {}: {e}", key.display())))?;
        Self::from_der(chain, key)
    }

    /// Make a self-signed certificate for `names` (DNS names or IP addresses as text).
    ///
    /// # Errors
    /// [`Error::Tls`] when rcgen cannot build the certificate.
    pub fn self_signed(names: &[String]) -> Result<Self, Error> {
        let certified = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| Error::tls(format!("making a self-signed certificate: {e}")))?;
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .map_err(|e| Error::tls(format!("self-signed key: {e}")))?;
        Self::from_der(vec![cert], key)
    }

    /// The names a self-signed certificate should carry by default.
    pub fn default_self_signed_names() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
    }

    fn certified(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Current, Error> {
        let leaf = chain
            .first()
            .ok_or_else(|| Error::tls("the certificate file holds no certificate"))?;
        let fingerprint = Fingerprint::of(leaf);
        let key = CertifiedKey::from_der(chain, key, &provider())
            .map_err(|e| Error::tls(format!("certificate and key: {e}")))?;
        Ok(Current {
            key: Arc::new(key),
            fingerprint,
        })
    }

    fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, Error> {
        install_crypto_provider();
        let current = Arc::new(SwappableCert(RwLock::new(Self::certified(chain, key)?)));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        Ok(Self {
            config: Arc::new(config),
            current,
        })
    }

    /// Present `other`'s certificate from now on (the next handshakes; connections already
    /// established keep theirs).
    pub fn reload_from(&self, other: &ServerTls) {
        let (key, fingerprint) = {
            let theirs = other
                .current
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (Arc::clone(&theirs.key), theirs.fingerprint)
        };
        let mut ours = self
            .current
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *ours = Current { key, fingerprint };
    }

    /// The leaf certificate's fingerprint, for the operator to print and clients to pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.current
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fingerprint
    }

    /// The same certificate (reloads included), also asking clients for a certificate of their
    /// own, which they may or may not send. Any certificate is taken, self-signed ones
    /// included (no chain is checked), but the client must prove it holds the key: what it
    /// proves is that it is the same holder as before, by the certificate's fingerprint (IRC's
    /// CertFP and SASL EXTERNAL). Not for browsers' ports: a browser may ask its user to pick
    /// a certificate.
    #[must_use]
    pub fn asking_client_certificates(&self) -> Self {
        let verifier = Arc::new(AnyClientCert {
            provider: provider(),
        });
        let built = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.with_client_cert_verifier(verifier)
                    .with_cert_resolver(Arc::clone(&self.current) as Arc<dyn ResolvesServerCert>)
            });
        match built {
            Ok(mut config) => {
                config
                    .alpn_protocols
                    .clone_from(&self.config.alpn_protocols);
                Self {
                    config: Arc::new(config),
                    current: Arc::clone(&self.current),
                }
            }
            // The same versions were accepted when `self` was built.
            Err(_) => self.clone(),
        }
    }

    /// The same certificate (reloads included), offering `protocols` by ALPN, most preferred
    /// first (HTTP: `h2`, then `http/1.1`).
    #[must_use]
    pub fn with_alpn(&self, protocols: &[&[u8]]) -> Self {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        Self {
            config: Arc::new(config),
            current: Arc::clone(&self.current),
        }
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }

    /// An acceptor for incoming connections.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config())
    }
}

/// How a client decides whether to trust the server.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Verify {
    /// The operating system's trusted roots.
    #[default]
    SystemRoots,
    /// The certificates in a PEM file (a private CA or the server's own certificate).
    CaFile(std::path::PathBuf),
    /// Exactly the certificate with this fingerprint, whoever signed it.
    Pinned(Fingerprint),
    /// Nothing at all. Encrypts, but anyone in the middle can read along.
    Insecure,
}

/// A client's TLS settings: a rustls config built from a [`Verify`] policy.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    verify: Verify,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Build the client configuration for `verify`.
    ///
    /// # Errors
    /// [`Error::Tls`] when the CA file cannot be read or holds no certificate, or no system root
    /// could be loaded.
    pub fn new(verify: Verify) -> Result<Self, Error> {
        Self::build(verify, None)
    }

    /// As [`ClientTls::new`], presenting the certificate chain and key in the PEM files `cert`
    /// and `key` to servers that ask (IRC's CertFP and SASL EXTERNAL).
    ///
    /// # Errors
    /// As [`ClientTls::new`], and [`Error::Tls`] when a file cannot be read, holds no
    /// certificate or key, or the key does not fit the certificate.
    pub fn with_certificate(verify: Verify, cert: &Path, key: &Path) -> Result<Self, Error> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| Error::tls(format!("reading {}: {e}", cert.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| Error::tls(format!("parsing {}: {e}", cert.display())))?;
        if chain.is_empty() {
            return Err(Error::tls(format!(
                "{} holds no certificate",
                cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| Error::tls(format!("reading the key {}: {e}", key.display())))?;
        Self::build(verify, Some((chain, key)))
    }

    fn build(
        verify: Verify,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<Self, Error> {
        install_crypto_provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls(e.to_string()))?;
        let wants = match &verify {
            Verify::SystemRoots => {
                let mut roots = rustls::RootCertStore::empty();
                let loaded = rustls_native_certs::load_native_certs();
                for err in &loaded.errors {
                    tracing::debug!(cause = %err, "skipping a system root");
                }
                let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
                if added == 0 {
                    return Err(Error::tls(
                        "no trusted root certificates found on this system; use --ca FILE or --fingerprint",
                    ));
                }
                builder.with_root_certificates(roots)
            }
            Verify::CaFile(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| Error::tls(format!("reading CA file {}: {e}", path.display())))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| Error::tls(format!("parsing CA file {}: {e}", path.display())))?;
                let (added, _ignored) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(Error::tls(format!(
                        "CA file {} holds no usable certificate",
                        path.display()
                    )));
                }
                builder.with_root_certificates(roots)
            }
            Verify::Pinned(fingerprint) => {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                        expected: Some(*fingerprint),
                        provider: provider(),
                    }))
            }
            Verify::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                    expected: None,
                    provider: provider(),
                })),
        };
        let config = match identity {
            None => wants.with_no_client_auth(),
            Some((chain, key)) => wants
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::tls(format!("client certificate and key: {e}")))?,
        };
        Ok(Self {
            config: Arc::new(config),
            verify,
        })
    }

    /// The policy this config was built from.
    pub fn verify(&self) -> &Verify {
        &self.verify
    }

    /// The rustls configuration.
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.config)
    }

    /// A connector for outgoing connections.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config())
    }
}

/// The server's certificate is not the pinned one.
#[derive(Debug, thiserror::Error)]
#[error("certificate fingerprint mismatch: expected {expected}, server presented {got}")]
struct FingerprintMismatch {
    expected: Fingerprint,
    got: Fingerprint,
}

/// Check a handshake signature (TLS 1.2 when `tls12`, else 1.3) with `provider`'s algorithms:
/// the peer holds the key of the certificate it sent, whoever signed that certificate.
fn handshake_signature(
    provider: &CryptoProvider,
    tls12: bool,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let algorithms = &provider.signature_verification_algorithms;
    if tls12 {
        verify_tls12_signature(message, cert, dss, algorithms)
    } else {
        verify_tls13_signature(message, cert, dss, algorithms)
    }
}

/// Checks the leaf certificate's fingerprint instead of a chain (or nothing, when `expected` is
/// `None`), but still checks the handshake signatures, so the server must hold the key.
#[derive(Debug)]
struct PinnedVerifier {
    expected: Option<Fingerprint>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(expected) = self.expected else {
            return Ok(ServerCertVerified::assertion());
        };
        let got = Fingerprint::of(end_entity);
        if got == expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(
                    FingerprintMismatch { expected, got },
                ))),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(&self.provider, true, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(&self.provider, false, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Takes any client certificate (no chain is checked) but checks the handshake signatures, so
/// the client must hold the key; never insists on one ([`ServerTls::asking_client_certificates`]).
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(&self.provider, true, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(&self.provider, false, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn fingerprint_parses_every_common_spelling() {
        let tls = ServerTls::self_signed(&ServerTls::default_self_signed_names()).unwrap();
        let fp = tls.fingerprint();
        let text = fp.to_string();
        assert!(text.starts_with("SHA256:"));
        assert_eq!(text.len(), 7 + 64);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(text.to_uppercase().parse::<Fingerprint>().unwrap(), fp);
        let colons: Vec<String> = fp.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(colons.join(":").parse::<Fingerprint>().unwrap(), fp);
    }

    #[test]
    fn reload_swaps_the_certificate_for_every_clone() {
        let names = ServerTls::default_self_signed_names();
        let running = ServerTls::self_signed(&names).unwrap();
        let clone = running.clone();
        let renewed = ServerTls::self_signed(&names).unwrap();
        assert_ne!(running.fingerprint(), renewed.fingerprint());
        running.reload_from(&renewed);
        assert_eq!(clone.fingerprint(), renewed.fingerprint());
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        for bad in [
            "",
            "SHA256:",
            "SHA256:abcd",
            &format!("SHA256:{}", "zz".repeat(32)),
        ] {
            assert!(
                bad.parse::<Fingerprint>().is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn pem_files_load_and_keep_the_fingerprint() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, certified.cert.pem()).unwrap();
        std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
        let tls = ServerTls::from_pem_files(&cert_path, &key_path).unwrap();
        assert_eq!(tls.fingerprint(), Fingerprint::of(certified.cert.der()));
        // A CA file made of the same certificate builds a client config.
        ClientTls::new(Verify::CaFile(cert_path.clone())).unwrap();
        // A key file in place of the certificate is an error, not a panic.
        assert!(ServerTls::from_pem_files(&key_path, &key_path).is_err());
        assert!(ServerTls::from_pem_files(&dir.path().join("missing"), &key_path).is_err());
    }
}
