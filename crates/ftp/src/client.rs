//! The FTP client: log in (explicit TLS when asked), list, download and upload, with resume.
//!
//! - **Data connections** are passive by default: `EPSV`, falling back to `PASV`. The address
//!   in a `227` reply is ignored and the control connection's peer is used instead, as curl
//!   does: a server behind NAT often names a private address, and a hostile one could name any
//!   (the same bounce FTP servers guard against). `active` uses `EPRT`/`PORT` and takes only a
//!   connection from the server's address.
//! - **TLS** is explicit (`AUTH TLS`, RFC 4217), then `PBSZ 0` and `PROT P`: the data is
//!   encrypted too. Implicit FTPS (port 990) is not supported.
//! - **Transfers** move 1 MiB at a time; a progress callback gets the byte count as it grows.
//!   The caller chooses where bytes land ([`Client::get`] writes to any `AsyncWrite`), so the
//!   command line can download to a `.part` file and rename it only once complete.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use prise_core::codec::LineCodec;
use prise_core::net::{connect, ConnectOptions};
use prise_core::stream::Stream;
use prise_core::tls::ClientTls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::codec::Decoder;

use crate::codec::{self, Reply, ReplyReader};
use crate::server::CHUNK;
use crate::Error;

/// Largest listing accepted.
const MAX_LISTING: usize = 256 * 1024 * 1024;

/// Longest reply line accepted.
const MAX_REPLY_LINE: usize = 64 * 1024;

/// How to connect and log in.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Connect timeout and traffic log.
    pub connect: ConnectOptions,
    /// Explicit TLS (`AUTH TLS`) with this verification, for control and data.
    pub tls: Option<ClientTls>,
    /// User name (`anonymous` by default).
    pub user: String,
    /// Password.
    pub password: String,
    /// Active data connections (the server connects to us) instead of passive.
    pub active: bool,
    /// Longest wait for a reply or for data to move.
    pub timeout: Duration,
}

impl ClientConfig {
    /// Anonymous, plain, passive, 30 s timeout.
    pub fn new() -> Self {
        Self {
            connect: ConnectOptions::new("ftp"),
            tls: None,
            user: "anonymous".into(),
            password: "prise@".into(),
            active: false,
            timeout: Duration::from_secs(30),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Name in its folder.
    pub name: String,
    /// A folder.
    pub dir: bool,
    /// Size in bytes, when the server said.
    pub size: Option<u64>,
    /// `YYYYMMDDHHMMSS` (UTC), when the server said.
    pub modified: Option<String>,
}

/// A logged-in session.
#[derive(Debug)]
pub struct Client {
    control: Stream,
    input: BytesMut,
    codec: LineCodec,
    replies: ReplyReader,
    config: ClientConfig,
    /// For TLS on data connections.
    name: Option<ServerName<'static>>,
    peer: SocketAddr,
    epsv: bool,
}

impl Client {
    /// Connect to `addr` (`host:port`), secure it if asked, log in, and switch to binary.
    ///
    /// # Errors
    /// [`Error::Core`] for connection and TLS failures, [`Error::Refused`] when the server
    /// refuses the login.
    pub async fn connect(addr: &str, config: ClientConfig) -> Result<Self, Error> {
        let mut control = connect(addr, &config.connect).await?;
        control.set_redactor(prise_core::trace::redact_commands(&["PASS "]));
        let peer = control.peer_addr();
        let mut client = Self {
            control,
            input: BytesMut::with_capacity(4096),
            codec: LineCodec::new(MAX_REPLY_LINE),
            replies: ReplyReader::default(),
            name: None,
            peer,
            epsv: true,
            config,
        };
        let hello = client.reply().await?;
        if hello.code != 220 {
            return Err(Error::Refused {
                code: hello.code,
                text: hello.text,
            });
        }
        if let Some(tls) = client.config.tls.clone() {
            client.expect("AUTH TLS", |c| c == 234).await?;
            let name = ServerName::try_from(prise_core::net::host_of(addr).to_owned())
                .map_err(|e| Error::Protocol(format!("{addr} is not a TLS server name: {e}")))?;
            // The handshake consumes the plain stream: take the client apart around it.
            let Self {
                control,
                input,
                codec,
                replies,
                config,
                peer,
                epsv,
                ..
            } = client;
            if !input.is_empty() {
                return Err(Error::Protocol(
                    "the server spoke out of turn after AUTH TLS".into(),
                ));
            }
            let control = tokio::time::timeout(
                config.timeout,
                control.connect_tls(&tls.connector(), name.clone()),
            )
            .await
            .map_err(|_| Error::Protocol(format!("TLS with {addr} timed out")))?
            .map_err(|e| {
                Error::Protocol(format!(
                    "TLS with {addr}: {}",
                    prise_core::net::describe_tls_error(&e)
                ))
            })?;
            client = Self {
                control,
                input,
                codec,
                replies,
                config,
                name: Some(name),
                peer,
                epsv,
            };
            client.expect("PBSZ 0", |c| c == 200).await?;
            client.expect("PROT P", |c| c == 200).await?;
        }
        let user = format!("USER {}", client.config.user);
        let reply = client.expect(&user, |c| c == 230 || c == 331).await?;
        if reply.code == 331 {
            let pass = format!("PASS {}", client.config.password);
            client.expect(&pass, |c| c == 230 || c == 202).await?;
        }
        client.expect("TYPE I", |c| c == 200).await?;
        Ok(client)
    }

    async fn reply(&mut self) -> Result<Reply, Error> {
        loop {
            while let Some(line) = self
                .codec
                .decode(&mut self.input)
                .map_err(|e| Error::Protocol(format!("reply: {e}")))?
            {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches('\r');
                if let Some(reply) = self
                    .replies
                    .line(text)
                    .map_err(|e| Error::Protocol(e.to_string()))?
                {
                    return Ok(reply);
                }
            }
            let read =
                tokio::time::timeout(self.config.timeout, self.control.read_buf(&mut self.input))
                    .await
                    .map_err(|_| Error::Protocol("the server did not answer in time".into()))?
                    .map_err(|e| Error::io("reading a reply", e))?;
            if read == 0 {
                return Err(Error::Protocol("the server closed the connection".into()));
            }
        }
    }

    /// Send one command and read its reply, whatever it is.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn command(&mut self, line: &str) -> Result<Reply, Error> {
        self.control
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| Error::io("sending a command", e))?;
        self.reply().await
    }

    async fn expect(&mut self, line: &str, ok: impl Fn(u16) -> bool) -> Result<Reply, Error> {
        let reply = self.command(line).await?;
        if ok(reply.code) {
            Ok(reply)
        } else {
            Err(Error::Refused {
                code: reply.code,
                text: reply.text,
            })
        }
    }

    /// The size of a file, or `None` when the server does not say (missing, or no `SIZE`).
    ///
    /// # Errors
    /// The connection failed.
    pub async fn size(&mut self, path: &str) -> Result<Option<u64>, Error> {
        let reply = self.command(&format!("SIZE {path}")).await?;
        Ok((reply.code == 213)
            .then(|| reply.text.trim().parse().ok())
            .flatten())
    }

    /// Prepare a data connection; the transfer command must follow.
    async fn data(&mut self) -> Result<DataPlan, Error> {
        if self.config.active {
            let local = self
                .control
                .local_addr()
                .map_err(|e| Error::io("local address", e))?;
            let listener = TcpListener::bind(SocketAddr::new(local.ip(), 0))
                .await
                .map_err(|e| Error::io("listening for the data connection", e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::io("local address", e))?;
            let line = match addr {
                SocketAddr::V4(v4) => {
                    let [a, b, c, d] = v4.ip().octets();
                    let [p1, p2] = v4.port().to_be_bytes();
                    format!("PORT {a},{b},{c},{d},{p1},{p2}")
                }
                SocketAddr::V6(_) => format!("EPRT {}", codec::format_eprt(addr)),
            };
            self.expect(&line, |c| c == 200).await?;
            return Ok(DataPlan::Active(listener));
        }
        if self.epsv {
            let reply = self.command("EPSV").await?;
            if reply.code == 229 {
                let port =
                    codec::parse_epsv(&reply.text).map_err(|e| Error::Protocol(e.to_string()))?;
                return Ok(DataPlan::Passive(SocketAddr::new(self.peer.ip(), port)));
            }
            self.epsv = false;
        }
        let reply = self.expect("PASV", |c| c == 227).await?;
        let named = codec::parse_pasv(&reply.text).map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(DataPlan::Passive(SocketAddr::new(
            self.peer.ip(),
            named.port(),
        )))
    }

    /// Open the planned data connection after the transfer command was sent and answered 1xx.
    async fn open(&mut self, plan: DataPlan) -> Result<Stream, Error> {
        let timeout = self.config.timeout;
        let tcp = match plan {
            DataPlan::Passive(addr) => {
                let connected = tokio::time::timeout(timeout, TcpStream::connect(addr))
                    .await
                    .map_err(|_| Error::Protocol(format!("no data connection to {addr}")))?;
                connected.map_err(|e| Error::io(format!("data connection to {addr}"), e))?
            }
            DataPlan::Active(listener) => loop {
                let accepted = tokio::time::timeout(timeout, listener.accept())
                    .await
                    .map_err(|_| Error::Protocol("the server did not connect back".into()))?
                    .map_err(|e| Error::io("accepting the data connection", e))?;
                if accepted.1.ip() == self.peer.ip() {
                    break accepted.0;
                }
            },
        };
        let peer = tcp.peer_addr().unwrap_or(self.peer);
        let stream = Stream::plain(tcp, peer).traced(
            self.config.connect.trace.clone(),
            &self.config.connect.service,
        );
        match (&self.config.tls, &self.name) {
            (Some(tls), Some(name)) => {
                tokio::time::timeout(timeout, stream.connect_tls(&tls.connector(), name.clone()))
                    .await
                    .map_err(|_| Error::Protocol("TLS on the data connection timed out".into()))?
                    .map_err(|e| Error::Protocol(format!("TLS on the data connection: {e}")))
            }
            _ => Ok(stream),
        }
    }

    /// Send `line` (a transfer command) with a data connection; returns it once the server
    /// said 1xx.
    async fn start(&mut self, line: &str) -> Result<Stream, Error> {
        let plan = self.data().await?;
        // Passive: connect first (some servers wait for it before answering 150).
        match plan {
            DataPlan::Passive(_) => {
                self.control
                    .write_all(format!("{line}\r\n").as_bytes())
                    .await
                    .map_err(|e| Error::io("sending a command", e))?;
                let data = self.open(plan).await;
                let reply = self.reply().await?;
                if reply.code >= 300 {
                    return Err(Error::Refused {
                        code: reply.code,
                        text: reply.text,
                    });
                }
                data
            }
            DataPlan::Active(_) => {
                self.expect(line, |c| c < 200).await?;
                self.open(plan).await
            }
        }
    }

    /// The final reply of a transfer.
    async fn done(&mut self) -> Result<(), Error> {
        let reply = self.reply().await?;
        if reply.code == 226 || reply.code == 250 {
            Ok(())
        } else {
            Err(Error::Refused {
                code: reply.code,
                text: reply.text,
            })
        }
    }

    /// List a folder: `MLSD` when the server has it, else `LIST` read as `ls -l` lines.
    ///
    /// # Errors
    /// Refused, or the connection failed.
    pub async fn list(&mut self, path: &str) -> Result<Vec<Listed>, Error> {
        let line = if path.is_empty() {
            "MLSD".to_owned()
        } else {
            format!("MLSD {path}")
        };
        let (text, mlsd) = match self.start(&line).await {
            Ok(mut data) => (self.read_all(&mut data).await?, true),
            Err(Error::Refused {
                code: 500..=502, ..
            }) => {
                let line = if path.is_empty() {
                    "LIST".to_owned()
                } else {
                    format!("LIST {path}")
                };
                let mut data = self.start(&line).await?;
                (self.read_all(&mut data).await?, false)
            }
            Err(e) => return Err(e),
        };
        self.done().await?;
        let text = String::from_utf8_lossy(&text);
        let mut out = Vec::new();
        for line in text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
        {
            if !mlsd {
                // LIST: Unix `ls -l` lines; anything else is shown as a bare name.
                let (name, dir, size) = match codec::parse_list_line(line) {
                    Some((name, dir, size)) => (name, dir, (!dir).then_some(size)),
                    None if line.starts_with("total ") => continue,
                    None => (line.to_owned(), false, None),
                };
                out.push(Listed {
                    name,
                    dir,
                    size,
                    modified: None,
                });
                continue;
            }
            let Some((facts, name)) = line.split_once(' ') else {
                continue;
            };
            let mut entry = Listed {
                name: name.to_owned(),
                dir: false,
                size: None,
                modified: None,
            };
            let mut skip = false;
            for fact in facts.split(';').filter(|f| !f.is_empty()) {
                let (key, value) = fact.split_once('=').unwrap_or((fact, ""));
                match key.to_ascii_lowercase().as_str() {
                    "type" => match value.to_ascii_lowercase().as_str() {
                        "dir" => entry.dir = true,
                        "cdir" | "pdir" => skip = true,
                        _ => {}
                    },
                    "size" => entry.size = value.parse().ok(),
                    "modify" => entry.modified = Some(value.get(..14).unwrap_or(value).to_owned()),
                    _ => {}
                }
            }
            if !skip {
                out.push(entry);
            }
        }
        Ok(out)
    }

    async fn read_all(&self, data: &mut Stream) -> Result<Vec<u8>, Error> {
        // A stall timeout per read (a long listing on a slow link is fine), and a size limit
        // (a hostile server could send one without end).
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::time::timeout(self.config.timeout, data.read(&mut buf))
                .await
                .map_err(|_| Error::Protocol("the listing stalled".into()))?
                .map_err(|e| Error::io("reading the listing", e))?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > MAX_LISTING {
                return Err(Error::Protocol(format!(
                    "a listing of more than {} MiB",
                    MAX_LISTING >> 20
                )));
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Download `path` from byte `offset` into `out`; `progress` gets the bytes received so
    /// far (from `offset`). Returns the bytes received.
    ///
    /// # Errors
    /// Refused (a missing file), the connection failed or stalled, or `out` failed.
    pub async fn get<W: AsyncWrite + Unpin>(
        &mut self,
        path: &str,
        offset: u64,
        out: &mut W,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        if offset > 0 {
            self.expect(&format!("REST {offset}"), |c| c == 350).await?;
        }
        let mut data = self.start(&format!("RETR {path}")).await?;
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = tokio::time::timeout(self.config.timeout, data.read(&mut buf))
                .await
                .map_err(|_| Error::Protocol("the download stalled".into()))?
                .map_err(|e| Error::io("downloading", e))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .await
                .map_err(|e| Error::io("writing the download", e))?;
            total += n as u64;
            progress(total);
        }
        out.flush()
            .await
            .map_err(|e| Error::io("writing the download", e))?;
        self.done().await?;
        Ok(total)
    }

    /// Upload from `input` to `path`: a new file (`STOR`), or with `append` the rest of one
    /// (`APPE`). `progress` gets the bytes sent so far. Returns the bytes sent.
    ///
    /// # Errors
    /// Refused (no permission), the connection failed or stalled, or `input` failed.
    pub async fn put<R: AsyncRead + Unpin>(
        &mut self,
        input: &mut R,
        path: &str,
        append: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        let verb = if append { "APPE" } else { "STOR" };
        let mut data = self.start(&format!("{verb} {path}")).await?;
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = input
                .read(&mut buf)
                .await
                .map_err(|e| Error::io("reading the file to upload", e))?;
            if n == 0 {
                break;
            }
            tokio::time::timeout(self.config.timeout, data.write_all(&buf[..n]))
                .await
                .map_err(|_| Error::Protocol("the upload stalled".into()))?
                .map_err(|e| Error::io("uploading", e))?;
            total += n as u64;
            progress(total);
        }
        tokio::time::timeout(self.config.timeout, data.shutdown())
            .await
            .map_err(|_| Error::Protocol("the upload stalled at its end".into()))?
            .map_err(|e| Error::io("ending the upload", e))?;
        // For TLS: wait for the server's close_notify, so the last bytes are known to be in
        // (whatever else comes is dropped, not kept).
        let mut sink = [0u8; 4096];
        let mut extra = 0usize;
        while let Ok(Ok(n)) = tokio::time::timeout(self.config.timeout, data.read(&mut sink)).await
        {
            extra += n;
            if n == 0 || extra > 1024 * 1024 {
                break;
            }
        }
        drop(data);
        self.done().await?;
        Ok(total)
    }

    /// Say goodbye.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.command("QUIT")).await;
    }
}

enum DataPlan {
    Passive(SocketAddr),
    Active(TcpListener),
}

/// What an `ftp://` URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host:port` (port 21 when the URL names none).
    pub address: String,
    /// The user, percent-decoded (none: anonymous).
    pub user: Option<String>,
    /// The password, percent-decoded.
    pub password: Option<String>,
    /// The path on the server, percent-decoded, without the leading `/` (RFC 1738: relative to
    /// the login folder); empty for the login folder itself.
    pub path: String,
}

/// Parse `ftp://[USER[:PASSWORD]@]HOST[:PORT][/PATH]`.
///
/// # Errors
/// A message saying what is wrong (another scheme, no host, bad percent escapes, a bad port).
pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = match url.split_once("://") {
        Some(("ftp", rest)) => rest,
        Some(("ftps", _)) => {
            return Err(
                "implicit FTPS (ftps://) is not supported: use ftp:// with --tls (AUTH TLS)".into(),
            )
        }
        Some((other, _)) => return Err(format!("{other}:// is not FTP: use ftp://HOST/PATH")),
        None => return Err(format!("{url:?} is not a URL: use ftp://HOST/PATH")),
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (login, host) = match authority.rsplit_once('@') {
        Some((login, host)) => (Some(login), host),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(h, _)| !h.contains(':') || h.ends_with(']'));
    let address = if has_port {
        let (_, port) = host.rsplit_once(':').unwrap_or_default();
        port.parse::<u16>()
            .map_err(|_| format!("{port:?} is not a port"))?;
        host.to_owned()
    } else {
        format!("{host}:21")
    };
    let (user, password) = match login {
        None => (None, None),
        Some(login) => match login.split_once(':') {
            Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
            None => (Some(decode(login)?), None),
        },
    };
    Ok(Url {
        address,
        user,
        password,
        path: decode(path)?,
    })
}

/// `%XX` escapes decoded; the result must be UTF-8 without control characters.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded =
        String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))?;
    if decoded.chars().any(char::is_control) {
        return Err(format!("{text:?} hides a control character"));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_parse_with_their_parts_decoded() {
        assert_eq!(
            parse_url("ftp://bob:p%40ss@127.0.0.1:2121/pub/my%20file.bin").unwrap(),
            Url {
                address: "127.0.0.1:2121".into(),
                user: Some("bob".into()),
                password: Some("p@ss".into()),
                path: "pub/my file.bin".into(),
            }
        );
        let u = parse_url("ftp://example.org").unwrap();
        assert_eq!(
            (u.address.as_str(), u.path.as_str(), u.user),
            ("example.org:21", "", None)
        );
        assert_eq!(parse_url("ftp://[::1]:21/x").unwrap().address, "[::1]:21");
        assert_eq!(parse_url("ftp://[::1]/x").unwrap().address, "[::1]:21");
        for bad in [
            "http://x/",
            "ftps://x/",
            "x/y",
            "ftp:///x",
            "ftp://h:99999/",
            "ftp://h/%zz",
            "ftp://h/a%0d%0aDELE%20x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
