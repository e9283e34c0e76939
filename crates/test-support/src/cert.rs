//! Server certificates for tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A self-signed server certificate for `localhost` and 127.0.0.1, valid 30 days, made by the
/// `openssl` command in `dir` (a real tool's certificate, not only ours): the paths of the
/// certificate and of its key, both PEM. It is a server certificate, not a CA's (webpki refuses
/// a CA certificate used by a server), so a client can trust it as its own CA file.
///
/// # Panics
/// When openssl is missing or fails.
pub fn openssl(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "30", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

/// A TLS client certificate made by openssl, as an IRC user makes one for CertFP.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// Its SHA-256 fingerprint as openssl prints it (`AB:CD:...`).
    pub openssl_fingerprint: String,
    /// The same as prise writes it (`SHA256:abcd...`).
    pub fingerprint: String,
}

/// A self-signed client certificate for `name` (its CN), made by the `openssl` command in
/// `dir` as `name.crt` and `name.key`, and its fingerprint as openssl prints it.
///
/// # Panics
/// When openssl is missing or fails.
pub fn openssl_client(dir: &Path, name: &str) -> ClientCert {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is needed (scripts/test installs it)");
    assert!(status.success(), "openssl req failed");
    let printed = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl");
    let printed = String::from_utf8_lossy(&printed.stdout).into_owned();
    let openssl_fingerprint = printed
        .trim()
        .rsplit_once('=')
        .map(|(_, fp)| fp.to_owned())
        .expect("openssl prints sha256 Fingerprint=...");
    let fingerprint = format!(
        "SHA256:{}",
        openssl_fingerprint.replace(':', "").to_ascii_lowercase()
    );
    ClientCert {
        cert,
        key,
        openssl_fingerprint,
        fingerprint,
    }
}

/// A self-signed certificate for `localhost` only, made by rcgen.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
    /// Its SHA-256 fingerprint as prise prints it (`SHA256:…`), for `--fingerprint`.
    pub fingerprint: String,
}

/// A new [`SelfSigned`] certificate for `localhost`.
///
/// # Panics
/// When rcgen fails (it does not for these names).
pub fn localhost() -> SelfSigned {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    SelfSigned {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        fingerprint: prise_core::tls::Fingerprint::of(certified.cert.der()).to_string(),
    }
}

/// A [`localhost`] certificate written to `dir` as `cert.pem` and `key.pem`; returns its
/// fingerprint.
///
/// # Panics
/// When the files cannot be written.
pub fn write_localhost(dir: &Path) -> String {
    let cert = localhost();
    std::fs::write(dir.join("cert.pem"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
    cert.fingerprint
}
