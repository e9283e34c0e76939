//! FTP's wire formats, without I/O: command lines, replies, the address forms of `PORT`,
//! `EPRT`, `PASV` and `EPSV`, virtual paths, and the listing formats (`LIST`, `MLSD`/`MLST`).
//! The server and the client both build on these; property tests and a fuzz target cover the
//! parsers.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, SystemTime};

/// Longest command line accepted, in bytes, `\r\n` included: a path of 4096 bytes and a verb.
pub const MAX_COMMAND_LEN: usize = 4096 + 16;

/// One command from a client: its verb in upper case and its argument as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// `RETR`, `USER`...: letters only, upper-cased.
    pub verb: String,
    /// Everything after the first space (may be empty; spaces inside are kept: file names).
    pub arg: String,
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Nothing but white space.
    #[error("empty command")]
    Empty,
    /// The verb has something else than letters, or is too long.
    #[error("not a command: {0:?}")]
    BadVerb(String),
    /// The argument is not UTF-8 (RFC 2640: paths are UTF-8).
    #[error("the argument is not UTF-8")]
    NotUtf8,
    /// A control character (NUL, a stray CR or LF...) inside the line.
    #[error("control character in the command")]
    Control,
}

/// Telnet's IAC and the bytes clients send before `ABOR` (Interrupt Process, Data Mark).
const IAC: u8 = 0xff;

impl Command {
    /// Parse one line (without its `\r\n`). Telnet `IAC` sequences in front, which clients
    /// send before `ABOR` (RFC 959, 4.1.3), are skipped.
    ///
    /// # Errors
    /// [`CommandError`] says what is wrong with the line.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        let mut line = line;
        while let [IAC, _, rest @ ..] = line {
            line = rest;
        }
        // A lone Data Mark byte may come inline after the IAC IP pair.
        while let [0xf2, rest @ ..] = line {
            line = rest;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
        if text.chars().any(char::is_control) {
            return Err(CommandError::Control);
        }
        let text = text.trim_start();
        if text.trim().is_empty() {
            return Err(CommandError::Empty);
        }
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        if verb.is_empty() || verb.len() > 8 || !verb.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(CommandError::BadVerb(verb.chars().take(16).collect()));
        }
        Ok(Self {
            verb: verb.to_ascii_uppercase(),
            arg: arg.to_owned(),
        })
    }
}

/// A reply, ready to send: `CODE text\r\n`, or the multi-line form (`CODE-first`, lines,
/// `CODE last`) when `text` has several lines. Lines of a multi-line reply that would look like
/// its end (`CODE ` at their start) are indented by a space.
pub fn reply(code: u16, text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    match lines.as_slice() {
        [] => format!("{code} \r\n"),
        [one] => format!("{code} {one}\r\n"),
        [first, middle @ .., last] => {
            let mut out = format!("{code}-{first}\r\n");
            for line in middle {
                if line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
                    out.push(' ');
                }
                out.push_str(line);
                out.push_str("\r\n");
            }
            let _ = write!(out, "{code} {last}\r\n");
            out
        }
    }
}

/// A reply as a client reads it: the code and the text of every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text, lines joined by `\n` (codes and dashes stripped from the first and last).
    pub text: String,
}

impl Reply {
    /// Whether the code is 1xx, 2xx or 3xx.
    pub fn is_ok(&self) -> bool {
        self.code < 400
    }
}

/// Longest multi-line reply a client takes: a hostile server could otherwise send one
/// without end.
pub const MAX_REPLY_TEXT: usize = 1024 * 1024;

/// Reads replies from lines: feed it each line as it comes; it returns a reply once one is
/// complete (a single line, or the last line of a multi-line one).
#[derive(Debug, Default)]
pub struct ReplyReader {
    open: Option<(u16, String)>,
}

/// Why a reply line makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an FTP reply: {0:?}")]
pub struct ReplyError(pub String);

impl ReplyReader {
    /// Take one line (without `\r\n`).
    ///
    /// # Errors
    /// [`ReplyError`] for a line that does not start with a code outside a multi-line reply.
    pub fn line(&mut self, line: &str) -> Result<Option<Reply>, ReplyError> {
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..600).contains(c));
        let sep = line.as_bytes().get(3).copied();
        match (&mut self.open, code) {
            (Some((open, text)), Some(c)) if c == *open && sep != Some(b'-') => {
                text.push('\n');
                text.push_str(line.get(4..).unwrap_or(""));
                let (code, text) = self.open.take().unwrap_or_default();
                Ok(Some(Reply { code, text }))
            }
            (Some((_, text)), _) => {
                if text.len() + line.len() > MAX_REPLY_TEXT {
                    return Err(ReplyError(format!(
                        "a reply of more than {MAX_REPLY_TEXT} bytes"
                    )));
                }
                text.push('\n');
                text.push_str(line.strip_prefix(' ').unwrap_or(line));
                Ok(None)
            }
            (None, Some(code)) if sep == Some(b'-') => {
                self.open = Some((code, line[4..].to_owned()));
                Ok(None)
            }
            (None, Some(code)) if sep.is_none() || sep == Some(b' ') => Ok(Some(Reply {
                code,
                text: line.get(4..).unwrap_or("").to_owned(),
            })),
            _ => Err(ReplyError(line.chars().take(80).collect())),
        }
    }
}

/// Why an address argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(pub &'static str);

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959).
///
/// # Errors
/// [`AddressError`] unless there are six numbers from 0 to 255.
pub fn parse_port(arg: &str) -> Result<SocketAddrV4, AddressError> {
    let numbers: Vec<u8> = arg
        .trim()
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| AddressError("PORT wants six numbers from 0 to 255: h1,h2,h3,h4,p1,p2"))?;
    let [a, b, c, d, p1, p2] = numbers[..] else {
        return Err(AddressError("PORT wants six numbers: h1,h2,h3,h4,p1,p2"));
    };
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(a, b, c, d),
        u16::from_be_bytes([p1, p2]),
    ))
}

/// `EPRT |1|192.0.2.1|6275|` or `EPRT |2|::1|6275|` (RFC 2428): any printable delimiter.
///
/// # Errors
/// [`AddressError`] for a malformed argument, an unknown protocol or a family mismatch.
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, AddressError> {
    let arg = arg.trim();
    let delimiter = arg
        .chars()
        .next()
        .filter(|c| c.is_ascii_graphic())
        .ok_or(AddressError("EPRT wants |protocol|address|port|"))?;
    let parts: Vec<&str> = arg.split(delimiter).collect();
    let ["", protocol, address, port, ""] = parts[..] else {
        return Err(AddressError("EPRT wants |protocol|address|port|"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| AddressError("EPRT: the port is not a number from 0 to 65535"))?;
    let ip: IpAddr = match protocol {
        "1" => address
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| AddressError("EPRT: not an IPv4 address"))?,
        "2" => address
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| AddressError("EPRT: not an IPv6 address"))?,
        _ => {
            return Err(AddressError(
                "EPRT: unknown protocol; use 1 (IPv4) or 2 (IPv6)",
            ))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// The `EPRT` argument for `addr`.
pub fn format_eprt(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("|1|{}|{}|", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("|2|{}|{}|", a.ip(), a.port()),
    }
}

/// The text of a `227` reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn format_pasv(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("Entering Passive Mode ({a},{b},{c},{d},{p1},{p2}).")
}

/// The address in a `227` reply's text: the first six comma-separated numbers.
///
/// # Errors
/// [`AddressError`] when the text has no such numbers.
pub fn parse_pasv(text: &str) -> Result<SocketAddrV4, AddressError> {
    // The first run of digits and commas that is a whole address (a reply code or other
    // numbers before it are skipped).
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
        .find_map(|start| {
            let run: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .collect();
            parse_port(&run).ok()
        })
        .ok_or(AddressError("no address in the PASV reply"))
}

/// The port in a `229` reply's text: `(|||6446|)`.
///
/// # Errors
/// [`AddressError`] when the text has no such port.
pub fn parse_epsv(text: &str) -> Result<u16, AddressError> {
    let inside = text
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside)
        .ok_or(AddressError("no (|||port|) in the EPSV reply"))?;
    let delimiter = inside
        .chars()
        .next()
        .ok_or(AddressError("no (|||port|) in the EPSV reply"))?;
    let parts: Vec<&str> = inside.split(delimiter).collect();
    match parts[..] {
        ["", "", "", port, ""] => port
            .parse()
            .map_err(|_| AddressError("EPSV reply: the port is not a number")),
        _ => Err(AddressError("no (|||port|) in the EPSV reply")),
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PathError(pub &'static str);

/// Longest path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// Longest file name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Resolve a path a client sent against the current folder `cwd` (components from the root):
/// absolute paths start from the virtual root, `.` is dropped and `..` goes up, but never
/// above the root (an error, not a silent stop at the root: a client that asks for
/// `../../etc/passwd` is told no). Components with control characters, backslashes or over
/// [`MAX_NAME_LEN`] bytes are refused.
///
/// # Errors
/// [`PathError`] with the reason.
pub fn resolve(cwd: &[String], arg: &str) -> Result<Vec<String>, PathError> {
    if arg.len() > MAX_PATH_LEN {
        return Err(PathError("path too long"));
    }
    let mut parts: Vec<String> = if arg.starts_with('/') {
        Vec::new()
    } else {
        cwd.to_vec()
    };
    for part in arg.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError("path leads above the root"));
                }
            }
            name => {
                if name.len() > MAX_NAME_LEN {
                    return Err(PathError("file name too long"));
                }
                if name.chars().any(|c| c.is_control() || c == '\\') {
                    return Err(PathError("control character or backslash in the path"));
                }
                parts.push(name.to_owned());
            }
        }
    }
    if parts.iter().map(|p| p.len() + 1).sum::<usize>() > MAX_PATH_LEN {
        return Err(PathError("path too long"));
    }
    Ok(parts)
}

/// The path as the client sees it: `/` and the components.
pub fn display(parts: &[String]) -> String {
    if parts.is_empty() {
        "/".to_owned()
    } else {
        parts.iter().fold(String::new(), |mut s, p| {
            s.push('/');
            s.push_str(p);
            s
        })
    }
}

/// A path inside a `257` reply: quoted, embedded quotes doubled (RFC 959, appendix II).
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

/// What a listing says about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name in its folder.
    pub name: String,
    /// A folder.
    pub dir: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub modified: SystemTime,
    /// Unix permission bits (`0o644`).
    pub mode: u32,
}

/// Broken-down UTC time: year, month (1-12), day, hour, minute, second.
fn civil(t: SystemTime) -> (u32, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text =
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .to_string();
    // 2026-12-02T03:55:00Z
    let n = |range: std::ops::Range<usize>| -> u32 {
        text.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    (n(0..4), n(5..7), n(8..10), n(11..13), n(14..16), n(17..19))
}

/// `YYYYMMDDHHMMSS` in UTC, as `MDTM` and `MLSD`'s `modify` fact want (RFC 3659).
pub fn timeval(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// Parse `YYYYMMDDHHMMSS` (an optional `.sss` fraction is ignored), as `MFMT` sends it.
///
/// # Errors
/// [`PathError`]-like message when it is not such a time.
pub fn parse_timeval(text: &str) -> Result<SystemTime, AddressError> {
    let digits = text.split('.').next().unwrap_or("");
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError("a time is YYYYMMDDHHMMSS"));
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &digits[0..4],
        &digits[4..6],
        &digits[6..8],
        &digits[8..10],
        &digits[10..12],
        &digits[12..14]
    );
    humantime::parse_rfc3339(&rfc).map_err(|_| AddressError("not a valid date and time"))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One `LIST` line, as `ls -l` prints it (the format every client parses), with `ftp ftp` as
/// owner and group (local user names are nobody's business): the time for entries of the last
/// six months, the year for older ones.
pub fn list_line(entry: &Entry, now: SystemTime) -> String {
    let mut perms = String::with_capacity(10);
    perms.push(if entry.dir { 'd' } else { '-' });
    for shift in [6, 3, 0] {
        let bits = (entry.mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let (y, mo, d, h, mi, _) = civil(entry.modified);
    let month = MONTHS[(mo.clamp(1, 12) - 1) as usize];
    let half_year = Duration::from_secs(183 * 86_400);
    let recent = entry.modified <= now + Duration::from_secs(3600)
        && now.duration_since(entry.modified).unwrap_or_default() < half_year;
    let when = if recent {
        format!("{month} {d:>2} {h:02}:{mi:02}")
    } else {
        format!("{month} {d:>2}  {y}")
    };
    format!(
        "{perms} 1 ftp ftp {:>12} {when} {}\r\n",
        entry.size, entry.name
    )
}

/// The facts of one `MLSD` line or `MLST` answer (RFC 3659), without the name: `type`, `size`
/// (files), `modify`, `perm` (what this user may do) and `UNIX.mode`.
pub fn facts(entry: &Entry, writable: bool) -> String {
    let perm = match (entry.dir, writable) {
        (true, true) => "elcmdfp",
        (true, false) => "el",
        (false, true) => "radfw",
        (false, false) => "r",
    };
    let mut out = String::with_capacity(96);
    if entry.dir {
        out.push_str("type=dir;");
    } else {
        let _ = write!(out, "type=file;size={};", entry.size);
    }
    let _ = write!(
        out,
        "modify={};perm={perm};UNIX.mode=0{:o};",
        timeval(entry.modified),
        entry.mode & 0o7777
    );
    out
}

/// Read one Unix-style `LIST` line (`drwxr-xr-x 2 user group 4096 Dec  2 03:55 name`), as
/// servers without `MLSD` send them: (name, folder, size). `None` for other formats and for
/// `total N` lines.
pub fn parse_list_line(line: &str) -> Option<(String, bool, u64)> {
    let mut rest = line.trim_end_matches(['\r', '\n']);
    let mut fields = Vec::with_capacity(8);
    for _ in 0..8 {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let name = rest.strip_prefix(' ')?.trim_start_matches(' ');
    let perms = fields[0];
    // By char: a hostile server's line need not be ASCII (found by the fuzz target).
    if perms.len() != 10 || !perms.starts_with(['-', 'd', 'l', 'b', 'c', 'p', 's']) {
        return None;
    }
    let size = fields[4].parse().ok()?;
    // A symlink shows `name -> target`.
    let name = if perms.starts_with('l') {
        name.split(" -> ").next().unwrap_or(name)
    } else {
        name
    };
    Some((name.to_owned(), perms.starts_with('d'), size))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_parse_with_their_argument_kept_whole() {
        let c = Command::parse(b"retr my file.txt").unwrap();
        assert_eq!((c.verb.as_str(), c.arg.as_str()), ("RETR", "my file.txt"));
        assert_eq!(Command::parse(b"PWD\r").unwrap().arg, "");
        assert_eq!(
            Command::parse(b"\xff\xf4\xff\xf2ABOR").unwrap().verb,
            "ABOR"
        );
        assert_eq!(Command::parse(b""), Err(CommandError::Empty));
        assert_eq!(Command::parse(b"RETR a\0b"), Err(CommandError::Control));
        assert_eq!(
            Command::parse(b"RETR \xe9t\xe9"),
            Err(CommandError::NotUtf8)
        );
        assert!(matches!(
            Command::parse(b"GET / HTTP/1.1"),
            Ok(Command { ref verb, .. }) if verb == "GET"
        ));
        assert!(matches!(
            Command::parse(b"{\"type\":1}"),
            Err(CommandError::BadVerb(_))
        ));
    }

    #[test]
    fn replies_one_line_and_many() {
        assert_eq!(reply(200, "OK"), "200 OK\r\n");
        assert_eq!(
            reply(211, "Features:\nUTF8\n211 looks like an end\nEnd"),
            "211-Features:\r\nUTF8\r\n 211 looks like an end\r\n211 End\r\n"
        );
        let mut reader = ReplyReader::default();
        let mut got = Vec::new();
        for line in reply(211, "Features:\nUTF8\n211 x\nEnd").lines() {
            if let Some(r) = reader.line(line).unwrap() {
                got.push(r);
            }
        }
        assert_eq!(
            got,
            [Reply {
                code: 211,
                text: "Features:\nUTF8\n211 x\nEnd".into()
            }]
        );
        assert!(reader.line("hello").is_err());
        assert_eq!(reader.line("220").unwrap().unwrap().code, 220);
    }

    #[test]
    fn addresses_both_ways() {
        let a = parse_port("127,0,0,1,19,137").unwrap();
        assert_eq!(a, "127.0.0.1:5001".parse().unwrap());
        assert_eq!(parse_pasv(&format_pasv(a)).unwrap(), a);
        assert_eq!(parse_pasv(&format!("227 {}", format_pasv(a))).unwrap(), a);
        assert_eq!(
            parse_pasv("Entering Passive Mode 10,0,0,1,4,1").unwrap(),
            "10.0.0.1:1025".parse().unwrap()
        );
        for bad in ["1,2,3,4,5", "1,2,3,4,5,256", "a,b,c,d,e,f", ""] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
        for addr in ["127.0.0.1:21", "[::1]:2121"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(parse_eprt(&format_eprt(addr)).unwrap(), addr);
        }
        assert_eq!(
            parse_eprt("!2!::1!70!").unwrap(),
            "[::1]:70".parse().unwrap()
        );
        for bad in [
            "|1|::1|70|",
            "|3|1.2.3.4|70|",
            "|1|1.2.3.4|70",
            "|1|1.2.3.4|x|",
        ] {
            assert!(parse_eprt(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_epsv("Entering Extended Passive Mode (|||6446|)").unwrap(),
            6446
        );
        assert!(parse_epsv("Entering Extended Passive Mode").is_err());
    }

    #[test]
    fn paths_stay_under_the_root() {
        let cwd = vec!["pub".to_owned()];
        assert_eq!(resolve(&cwd, "a/./b//c").unwrap(), ["pub", "a", "b", "c"]);
        assert_eq!(resolve(&cwd, "/x").unwrap(), ["x"]);
        assert_eq!(resolve(&cwd, "..").unwrap(), Vec::<String>::new());
        assert_eq!(resolve(&cwd, "").unwrap(), ["pub"]);
        for bad in ["../..", "../../etc/passwd", "/../x", "a\\b", "a\u{7}"] {
            assert!(resolve(&cwd, bad).is_err(), "{bad}");
        }
        assert!(resolve(&[], &"x".repeat(256)).is_err());
        assert_eq!(display(&resolve(&[], "a/b").unwrap()), "/a/b");
        assert_eq!(quote_path("/say \"hi\""), "\"/say \"\"hi\"\"\"");
    }

    #[test]
    fn listings_and_times() {
        let t = humantime::parse_rfc3339("2026-11-30T08:05:09Z").unwrap();
        let entry = Entry {
            name: "notes.txt".into(),
            dir: false,
            size: 1234,
            modified: t,
            mode: 0o644,
        };
        assert_eq!(
            list_line(&entry, t + Duration::from_secs(86_400)),
            "-rw-r--r-- 1 ftp ftp         1234 Nov 30 08:05 notes.txt\r\n"
        );
        assert_eq!(
            list_line(&entry, t + Duration::from_secs(400 * 86_400)),
            "-rw-r--r-- 1 ftp ftp         1234 Nov 30  2026 notes.txt\r\n"
        );
        assert_eq!(
            facts(&entry, false),
            "type=file;size=1234;modify=20261130080509;perm=r;UNIX.mode=0644;"
        );
        assert_eq!(timeval(t), "20261130080509");
        let line = list_line(&entry, t);
        assert_eq!(
            parse_list_line(&line),
            Some(("notes.txt".into(), false, 1234))
        );
        assert_eq!(
            parse_list_line("drwxr-xr-x    2 1000     1000         4096 Dec 02 03:58 my  dir"),
            Some(("my  dir".into(), true, 4096))
        );
        assert_eq!(
            parse_list_line("lrwxrwxrwx 1 0 0 7 Jan 01  2025 link -> target"),
            Some(("link".into(), false, 7))
        );
        assert_eq!(parse_list_line("total 12"), None);
        // Ten bytes that start with a two-byte character.
        assert_eq!(parse_list_line("\u{e9}rw-r--r- 1 a b 1 Jan 1 2025 x"), None);
        assert_eq!(parse_timeval("20261130080509").unwrap(), t);
        assert_eq!(parse_timeval("20261130080509.123").unwrap(), t);
        assert!(parse_timeval("2026113008050").is_err());
        assert!(parse_timeval("20261330080509").is_err());
    }

    proptest! {
        #[test]
        fn any_line_parses_or_is_refused(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Command::parse(&line);
        }

        #[test]
        fn any_list_line_reads_or_is_refused(line in "\\PC{0,80}") {
            let _ = parse_list_line(&line);
        }

        #[test]
        fn any_reply_line_is_taken_or_refused(lines in proptest::collection::vec(".{0,40}", 0..8)) {
            let mut reader = ReplyReader::default();
            for line in &lines {
                let _ = reader.line(line);
            }
        }

        #[test]
        fn replies_read_back_as_written(code in 100u16..600, lines in proptest::collection::vec("[!-~][ -~]{0,29}", 1..6)) {
            let text = lines.join("\n");
            let wire = reply(code, &text);
            let mut reader = ReplyReader::default();
            let mut got = None;
            for line in wire.split_terminator("\r\n") {
                if let Some(r) = reader.line(line).unwrap() {
                    got = Some(r);
                    break;
                }
            }
            let got = got.unwrap();
            prop_assert_eq!(got.code, code);
            prop_assert_eq!(got.text, text);
        }

        #[test]
        fn resolved_paths_never_climb(cwd in proptest::collection::vec("[a-z.]{1,3}", 0..4), arg in "[a-z./]{0,20}") {
            let cwd: Vec<String> = cwd.into_iter().filter(|p| p != "." && p != "..").collect();
            if let Ok(parts) = resolve(&cwd, &arg) {
                prop_assert!(parts.iter().all(|p| p != ".." && p != "." && !p.is_empty() && !p.contains('/')));
            }
        }

        #[test]
        fn addresses_round_trip(a in any::<[u8; 4]>(), port in any::<u16>()) {
            let addr = SocketAddrV4::new(Ipv4Addr::from(a), port);
            prop_assert_eq!(parse_pasv(&format_pasv(addr)).unwrap(), addr);
            prop_assert_eq!(parse_eprt(&format_eprt(SocketAddr::V4(addr))).unwrap(), SocketAddr::V4(addr));
        }
    }
}
