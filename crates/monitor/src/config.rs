//! The config file (TOML): `[[check]]` tables and `[[notify]]` tables. Every mistake is
//! reported with the file's line and column, conditions included; `${NAME}` in a string is the
//! environment variable NAME (for secrets), and a missing one is an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::condition::{Condition, Placeholder};
use crate::maintenance::Window;

/// Gatus's defaults: a check goes down after 3 failures in a row, up after 2 successes.
pub const FAILURE_THRESHOLD: u32 = 3;
/// See [`FAILURE_THRESHOLD`].
pub const SUCCESS_THRESHOLD: u32 = 2;

/// A config that cannot be used: where and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Check {
    /// Its name, in notifications and reports.
    pub name: String,
    /// What the URL names.
    pub target: Target,
    /// The URL as written.
    pub url: String,
    /// Time between two runs.
    pub interval: Duration,
    /// How long one run may take.
    pub timeout: Duration,
    /// All must hold for the run to succeed.
    pub conditions: Vec<Condition>,
    /// Conditions that, failing while `conditions` hold, make the check degraded (shown, not
    /// notified).
    pub warnings: Vec<Condition>,
    /// Failures in a row before the check is down.
    pub failure_threshold: u32,
    /// Successes in a row before a down check is up again.
    pub success_threshold: u32,
    /// The notifiers to tell (by name); empty: all of them.
    pub notify: Vec<String>,
    /// While down, tell again this often.
    pub reminder: Option<Duration>,
    /// The check this one depends on (its index): while that one is down, this one's
    /// notifications are held back (its runs go on).
    pub depends_on: Option<usize>,
    /// Maintenance windows (this check's and the file's): notices held back during them.
    pub maintenance: Vec<Window>,
    /// For https, tls and chats checks: trust the certificates in this PEM file (a private CA, or a
    /// self-signed server's own certificate) instead of the system's roots.
    pub ca: Option<PathBuf>,
}

/// What a check connects to, from its URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `tcp://host:port`: connect; with `send`, write it; with `expect`, read until it shows.
    Tcp {
        /// `host:port`.
        address: String,
        /// Bytes to write once connected.
        send: Option<String>,
        /// Text the answer must contain.
        expect: Option<String>,
    },
    /// `http://` or `https://`: a GET, its status, headers and body (the first MiB).
    Http {
        /// `host:port`.
        address: String,
        /// The `Host` header: the URL's host, and its port if it names one.
        host: String,
        /// Path and query.
        path: String,
        /// Over TLS.
        tls: bool,
    },
    /// `tls://host:port`: a TLS handshake and the certificate's expiry.
    Tls {
        /// `host:port`.
        address: String,
    },
    /// `ntp://host[:port]`: an SNTP exchange through `prise time`'s client.
    Ntp {
        /// `host` or `host:port`.
        server: String,
    },
    /// `echo://host:port`: a line sent to an echo server must come back.
    Echo {
        /// `host:port`.
        address: String,
    },
    /// `chat://host[:port]` or `chats://` (TLS): a prise chat server answers a probe hello
    /// (docs/PROTOCOL-chat.md, "Probe") without anyone in a room seeing it.
    Chat {
        /// `host:port` (7070 when the URL names none).
        address: String,
        /// Over TLS.
        tls: bool,
    },
}

/// How to tell someone.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// Its name, for checks' `notify` lists.
    pub name: String,
    /// What it does.
    pub kind: NotifierKind,
}

/// The kinds of notifiers.
#[derive(Debug, Clone)]
pub enum NotifierKind {
    /// An HTTP POST of a JSON body.
    Webhook {
        /// Where to, as written.
        url: String,
        /// The same, parsed once (always [`Target::Http`]).
        endpoint: Target,
        /// The body, with `{check}`, `{event}`, `{error}`, `{url}` and `{time}` replaced
        /// (JSON-escaped); none: a JSON object of them all.
        body: Option<String>,
        /// For an https URL: trust the certificates in this PEM file instead of the system's
        /// roots (a receiver on a private network).
        ca: Option<PathBuf>,
    },
    /// A command run by `sh -c`, with the details in `PRISE_*` environment variables.
    Command {
        /// The command line.
        command: String,
    },
    /// An email through an SMTP server.
    Email(Email),
}

/// How an email notifier sends.
#[derive(Debug, Clone)]
pub struct Email {
    /// The SMTP server's host.
    pub host: String,
    /// Its port (587 with STARTTLS, 465 with TLS, 25 plain, unless given).
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, String)>,
    /// The sender.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

/// SMTP connection security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// STARTTLS, required (the default).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// None: only for a relay on this machine or a private network.
    None,
}

/// The whole file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The checks.
    pub checks: Vec<Check>,
    /// The notifiers.
    pub notifiers: Vec<Notifier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    maintenance: Vec<Spanned<String>>,
    #[serde(default)]
    check: Vec<Spanned<RawCheck>>,
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Spanned<String>,
    url: Spanned<String>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    conditions: Vec<Spanned<String>>,
    #[serde(default)]
    warnings: Vec<Spanned<String>>,
    failure_threshold: Option<Spanned<u32>>,
    success_threshold: Option<Spanned<u32>>,
    #[serde(default)]
    notify: Vec<Spanned<String>>,
    send: Option<Spanned<String>>,
    expect: Option<Spanned<String>>,
    reminder: Option<Spanned<String>>,
    depends_on: Option<Spanned<String>>,
    #[serde(default)]
    maintenance: Vec<Spanned<String>>,
    ca: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    ca: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    smtp: Option<Spanned<String>>,
    security: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    #[serde(default)]
    to: Vec<Spanned<String>>,
}

/// Read and check a config file.
///
/// # Errors
/// [`ConfigError`] with the line and column of the first mistake.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: 1,
        column: 1,
        message: format!("cannot read it: {e}"),
    })?;
    parse(&text, path)
}

/// Parse config text (read from `path`, named in errors).
///
/// # Errors
/// [`ConfigError`] with the line and column of the first mistake.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let at = |offset: usize, message: String| {
        let (line, column) = line_column(text, offset);
        ConfigError {
            file: path.to_owned(),
            line,
            column,
            message,
        }
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        at(offset, e.message().trim().to_owned())
    })?;
    let env = |value: &Spanned<String>| {
        expand_env(value.get_ref()).map_err(|message| at(value.span().start, message))
    };
    let mut notifiers = Vec::new();
    for (n, raw) in raw.notify.iter().enumerate() {
        let start = raw.span().start;
        let raw = raw.get_ref();
        let name = raw
            .name
            .as_ref()
            .map_or_else(|| format!("notify{}", n + 1), |s| s.get_ref().clone());
        fn need(
            field: &Option<Spanned<String>>,
            missing: impl FnOnce() -> ConfigError,
        ) -> Result<&Spanned<String>, ConfigError> {
            field.as_ref().ok_or_else(missing)
        }
        let missing = |what: &str| {
            at(
                start,
                format!("a {} notifier needs `{what}`", raw.kind.get_ref()),
            )
        };
        let kind = match raw.kind.get_ref().as_str() {
            "webhook" => {
                let url_field = need(&raw.url, || missing("url"))?;
                let url = env(url_field)?;
                let endpoint = match target(&url, None, None) {
                    Ok(endpoint @ Target::Http { .. }) => endpoint,
                    _ => {
                        return Err(at(
                            url_field.span().start,
                            format!("a webhook URL starts with http:// or https://, found {url:?}"),
                        ))
                    }
                };
                let ca = match &raw.ca {
                    None => None,
                    Some(ca) if !secure(&endpoint) => {
                        return Err(at(
                            ca.span().start,
                            "`ca` is for an https:// webhook".into(),
                        ))
                    }
                    Some(ca) => Some(PathBuf::from(env(ca)?)),
                };
                NotifierKind::Webhook {
                    url,
                    endpoint,
                    body: raw.body.as_ref().map(env).transpose()?,
                    ca,
                }
            }
            "command" => NotifierKind::Command {
                command: env(need(&raw.command, || missing("command"))?)?,
            },
            "email" => {
                let smtp = need(&raw.smtp, || missing("smtp"))?;
                let security = match raw.security.as_ref().map(|s| s.get_ref().as_str()) {
                    None | Some("starttls") => Security::StartTls,
                    Some("tls") => Security::Tls,
                    Some("none") => Security::None,
                    Some(other) => {
                        return Err(at(
                            raw.security.as_ref().map_or(start, |s| s.span().start),
                            format!(
                                "security is \"starttls\", \"tls\" or \"none\", found {other:?}"
                            ),
                        ))
                    }
                };
                let address = env(smtp)?;
                let (host, port) = match address.rsplit_once(':') {
                    Some((host, port)) => (
                        host.to_owned(),
                        port.parse().map_err(|_| {
                            at(smtp.span().start, format!("{port:?} is not a port"))
                        })?,
                    ),
                    None => (
                        address.clone(),
                        match security {
                            Security::StartTls => 587,
                            Security::Tls => 465,
                            Security::None => 25,
                        },
                    ),
                };
                let credentials = match (&raw.username, &raw.password) {
                    (Some(user), Some(pass)) => Some((env(user)?, env(pass)?)),
                    (None, None) => None,
                    _ => return Err(at(start, "username and password go together".into())),
                };
                let from_field = need(&raw.from, || missing("from"))?;
                let from = env(from_field)?;
                if raw.to.is_empty() {
                    return Err(missing("to"));
                }
                let to = raw.to.iter().map(&env).collect::<Result<Vec<_>, _>>()?;
                let addresses = std::iter::once((&from, from_field.span()))
                    .chain(to.iter().zip(raw.to.iter().map(Spanned::span)));
                for (text, span) in addresses {
                    if text.parse::<lettre::message::Mailbox>().is_err() {
                        return Err(at(span.start, format!("{text:?} is not an email address")));
                    }
                }
                NotifierKind::Email(Email {
                    host,
                    port,
                    security,
                    credentials,
                    from,
                    to,
                })
            }
            other => {
                return Err(at(
                    raw.kind.span().start,
                    format!(
                    "unknown notifier type {other:?}; known: \"webhook\", \"command\", \"email\""
                ),
                ))
            }
        };
        notifiers.push(Notifier { name, kind });
    }
    let windows = |texts: &[Spanned<String>]| -> Result<Vec<Window>, ConfigError> {
        texts
            .iter()
            .map(|t| Window::parse(t.get_ref()).map_err(|m| at(t.span().start, m)))
            .collect()
    };
    let everywhere = windows(&raw.maintenance)?;
    let mut checks = Vec::new();
    for raw in &raw.check {
        let raw = raw.get_ref();
        let name = raw.name.get_ref().clone();
        if checks.iter().any(|c: &Check| c.name == name) {
            return Err(at(
                raw.name.span().start,
                format!("two checks are named {name:?}"),
            ));
        }
        let url = env(&raw.url)?;
        let target = target(
            &url,
            raw.send.as_ref().map(|s| s.get_ref().as_str()),
            raw.expect.as_ref().map(|s| s.get_ref().as_str()),
        )
        .map_err(|m| at(raw.url.span().start, m))?;
        let duration = |field: &Option<Spanned<String>>, default: Duration| match field {
            None => Ok(default),
            Some(value) => humantime::parse_duration(value.get_ref()).map_err(|e| {
                at(
                    value.span().start,
                    format!("not a duration ({e}): write 10s, 1m, 500ms"),
                )
            }),
        };
        let interval = duration(&raw.interval, Duration::from_secs(60))?;
        let timeout = duration(&raw.timeout, Duration::from_secs(10))?;
        let parse_all = |texts: &[Spanned<String>]| -> Result<Vec<Condition>, ConfigError> {
            let mut parsed = Vec::new();
            for text_value in texts {
                let condition = Condition::parse(text_value.get_ref()).map_err(|e| {
                    // The column inside the string, after its opening quote.
                    let inside: usize = text_value
                        .get_ref()
                        .chars()
                        .take(e.column.saturating_sub(1))
                        .map(char::len_utf8)
                        .sum();
                    at(text_value.span().start + 1 + inside, e.message)
                })?;
                for placeholder in condition.placeholders() {
                    if !measures(&target, placeholder) {
                        return Err(at(
                            text_value.span().start + 1,
                            format!("a {} check has no {placeholder}", scheme(&target)),
                        ));
                    }
                }
                parsed.push(condition);
            }
            Ok(parsed)
        };
        let mut conditions = parse_all(&raw.conditions)?;
        let warnings = parse_all(&raw.warnings)?;
        if conditions.is_empty() {
            conditions = default_conditions(&target);
        }
        let threshold = |field: &Option<Spanned<u32>>, default: u32| match field {
            Some(v) if *v.get_ref() == 0 => {
                Err(at(v.span().start, "a threshold is at least 1".into()))
            }
            Some(v) => Ok(*v.get_ref()),
            None => Ok(default),
        };
        let ca = match &raw.ca {
            None => None,
            Some(ca) if !secure(&target) => {
                return Err(at(
                    ca.span().start,
                    "`ca` is for https://, tls:// and chats:// checks".into(),
                ))
            }
            Some(ca) => Some(PathBuf::from(env(ca)?)),
        };
        let mut notify = Vec::new();
        for wanted in &raw.notify {
            if !notifiers.iter().any(|n| &n.name == wanted.get_ref()) {
                return Err(at(
                    wanted.span().start,
                    format!("no notifier is named {:?}", wanted.get_ref()),
                ));
            }
            notify.push(wanted.get_ref().clone());
        }
        checks.push(Check {
            name,
            target,
            url,
            interval,
            timeout,
            conditions,
            warnings,
            failure_threshold: threshold(&raw.failure_threshold, FAILURE_THRESHOLD)?,
            success_threshold: threshold(&raw.success_threshold, SUCCESS_THRESHOLD)?,
            notify,
            reminder: match &raw.reminder {
                Some(_) => Some(duration(&raw.reminder, Duration::ZERO)?),
                None => None,
            },
            depends_on: None,
            ca,
            maintenance: windows(&raw.maintenance)?
                .into_iter()
                .chain(everywhere.iter().cloned())
                .collect(),
        });
    }
    // Dependencies name checks anywhere in the file.
    for (index, raw) in raw.check.iter().enumerate() {
        let Some(parent) = &raw.get_ref().depends_on else {
            continue;
        };
        let found = checks.iter().position(|c| &c.name == parent.get_ref());
        match found {
            Some(p) if p == index => {
                return Err(at(
                    parent.span().start,
                    "a check cannot depend on itself".into(),
                ))
            }
            Some(p) => checks[index].depends_on = Some(p),
            None => {
                return Err(at(
                    parent.span().start,
                    format!("no check is named {:?}", parent.get_ref()),
                ))
            }
        }
    }
    if checks.is_empty() {
        return Err(at(0, "no [[check]]: nothing to monitor".into()));
    }
    Ok(Config { checks, notifiers })
}

/// What a URL names. `send` and `expect` belong to tcp:// only.
fn target(url: &str, send: Option<&str>, expect: Option<&str>) -> Result<Target, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("{url:?} has no scheme; write tcp://, http://, https://, tls://, ntp://, echo://, chat:// or chats://")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let with_port = |default: u16| {
        let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        });
        if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{default}")
        }
    };
    let needs_port = || {
        if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            Ok(authority.to_owned())
        } else {
            Err(format!("{url:?} needs a port (host:port)"))
        }
    };
    let send_expect_only_tcp = |what: &str| {
        if send.is_some() || expect.is_some() {
            Err(format!(
                "`send` and `expect` are for tcp:// checks, not {what}"
            ))
        } else {
            Ok(())
        }
    };
    match scheme {
        "tcp" => Ok(Target::Tcp {
            address: needs_port()?,
            send: send.map(str::to_owned),
            expect: expect.map(str::to_owned),
        }),
        "http" | "https" => {
            send_expect_only_tcp(scheme)?;
            Ok(Target::Http {
                address: with_port(if scheme == "https" { 443 } else { 80 }),
                // As written in the URL: with its port when it has one, as `Host` wants.
                host: authority.to_owned(),
                path: path.to_owned(),
                tls: scheme == "https",
            })
        }
        "tls" => {
            send_expect_only_tcp(scheme)?;
            Ok(Target::Tls {
                address: with_port(443),
            })
        }
        "ntp" => {
            send_expect_only_tcp(scheme)?;
            Ok(Target::Ntp {
                server: authority.to_owned(),
            })
        }
        "echo" => {
            send_expect_only_tcp(scheme)?;
            Ok(Target::Echo {
                address: needs_port()?,
            })
        }
        "chat" | "chats" => {
            send_expect_only_tcp(scheme)?;
            if path != "/" {
                return Err(format!(
                    "{url:?}: a chat check names a server, not a path (chat://host:port)"
                ));
            }
            Ok(Target::Chat {
                address: with_port(prise_chat::server::DEFAULT_PORT),
                tls: scheme == "chats",
            })
        }
        other => Err(format!(
            "unknown scheme {other}://; known: tcp://, http://, https://, tls://, ntp://, echo://, chat://, chats://"
        )),
    }
}

fn scheme(target: &Target) -> &'static str {
    match target {
        Target::Tcp { .. } => "tcp",
        Target::Http { tls: false, .. } => "http",
        Target::Http { tls: true, .. } => "https",
        Target::Tls { .. } => "tls",
        Target::Ntp { .. } => "ntp",
        Target::Echo { .. } => "echo",
        Target::Chat { tls: false, .. } => "chat",
        Target::Chat { tls: true, .. } => "chats",
    }
}

/// Whether a check of `target` speaks TLS (and reads a certificate).
fn secure(target: &Target) -> bool {
    matches!(
        target,
        Target::Tls { .. } | Target::Http { tls: true, .. } | Target::Chat { tls: true, .. }
    )
}

/// Whether a check of `target` measures `placeholder`.
fn measures(target: &Target, placeholder: &Placeholder) -> bool {
    use Placeholder as P;
    match placeholder {
        P::Connected | P::ResponseTime => true,
        P::Status | P::Header(_) => matches!(target, Target::Http { .. }),
        // A chat check's body is the server's status line.
        P::Body(_) => matches!(target, Target::Http { .. } | Target::Chat { .. }),
        P::CertificateExpiration => secure(target),
        P::NtpOffset | P::NtpStratum => matches!(target, Target::Ntp { .. }),
    }
}

/// Without conditions: connected, and for HTTP a status below 400.
fn default_conditions(target: &Target) -> Vec<Condition> {
    let mut texts = vec!["[CONNECTED] == true"];
    if matches!(target, Target::Http { .. }) {
        texts.push("[STATUS] < 400");
    }
    texts
        .into_iter()
        .filter_map(|t| Condition::parse(t).ok())
        .collect()
}

/// `${NAME}` replaced by the environment variable NAME.
fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without its `}}` in {text:?}"))?;
        let name = &after[..end];
        let value = std::env::var(name)
            .map_err(|_| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn error(text: &str) -> ConfigError {
        parse(text, Path::new("m.toml")).unwrap_err()
    }

    #[test]
    fn a_full_config_reads() {
        let config = parse(
            r#"
[[check]]
name = "web"
url = "http://127.0.0.1:8080/health?x=1"
interval = "10s"
conditions = ["[STATUS] == 200", "[RESPONSE_TIME] < 500"]
notify = ["ops"]

[[check]]
name = "db"
url = "tcp://127.0.0.1:5432"
failure_threshold = 1

[[check]]
name = "clock"
url = "ntp://127.0.0.1:11123"
conditions = ["[NTP_OFFSET] < 50ms"]

[[notify]]
name = "ops"
type = "webhook"
url = "http://127.0.0.1:9000/hook"
"#,
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(config.checks.len(), 3);
        let web = &config.checks[0];
        assert_eq!(
            web.target,
            Target::Http {
                address: "127.0.0.1:8080".into(),
                host: "127.0.0.1:8080".into(),
                path: "/health?x=1".into(),
                tls: false
            }
        );
        assert_eq!(web.interval, Duration::from_secs(10));
        assert_eq!((web.failure_threshold, web.success_threshold), (3, 2));
        assert_eq!(web.notify, ["ops"]);
        let db = &config.checks[1];
        assert_eq!(db.failure_threshold, 1);
        assert_eq!(db.conditions.len(), 1, "connected, by default");
        assert_eq!(db.interval, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_have_a_line_and_a_column() {
        let e = error(
            "[[check]]\nname = \"web\"\nurl = \"http://x/\"\nconditions = [\"[STATUS] == abc\"]\n",
        );
        assert_eq!((e.line, e.column), (4, 28), "{e}");
        assert!(e.message.contains("whole number"), "{e}");
        assert!(e.to_string().starts_with("m.toml:4:28: "), "{e}");

        let e = error("[[check]]\nname = \"web\"\nurl = \"ftp://x:21\"\n");
        assert_eq!((e.line, e.column), (3, 7), "{e}");
        assert!(e.message.contains("unknown scheme"), "{e}");

        let e = error("[[check]]\nname = \"web\"\nurl = \"tcp://x:1\"\nintervall = \"5s\"\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("intervall"), "{e}");

        let e = error("[[check]]\nname = \"web\"\nurl = \"tcp://x:1\"\ninterval = \"soon\"\n");
        assert_eq!((e.line, e.column), (4, 12), "{e}");

        let e = error(
            "[[check]]\nname = \"web\"\nurl = \"tcp://x:1\"\nconditions = [\"[STATUS] == 200\"]\n",
        );
        assert!(e.message.contains("a tcp check has no [STATUS]"), "{e}");

        let e = error("[[check]]\nname = \"web\"\nurl = \"tcp://x\"\n");
        assert!(e.message.contains("needs a port"), "{e}");

        let e = error("[[check]]\nname = \"web\"\nurl = \"tcp://x:1\"\nnotify = [\"nobody\"]\n");
        assert!(e.message.contains("no notifier is named \"nobody\""), "{e}");

        let e = error("[[check]]\nname = \"a\"\nurl = \"tcp://x:1\"\n[[check]]\nname = \"a\"\nurl = \"tcp://x:2\"\n");
        assert_eq!(e.line, 5, "{e}");

        let e = error("[[check]\n");
        assert_eq!(e.line, 1, "{e}");

        let e = error("");
        assert!(e.message.contains("nothing to monitor"), "{e}");

        let e =
            error("[[check]]\nname = \"a\"\nurl = \"tcp://x:1\"\n[[notify]]\ntype = \"pager\"\n");
        assert_eq!((e.line, e.column), (5, 8), "{e}");
    }

    #[test]
    fn reminders_and_dependencies() {
        let config = parse(
            "[[check]]\nname = \"app\"\nurl = \"tcp://x:1\"\ndepends_on = \"net\"\nreminder = \"1h\"\n\
             [[check]]\nname = \"net\"\nurl = \"tcp://x:2\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(config.checks[0].depends_on, Some(1));
        assert_eq!(config.checks[0].reminder, Some(Duration::from_secs(3600)));
        assert_eq!(config.checks[1].depends_on, None);
        let config = parse(
            "maintenance = [\"Sun 02:00-04:00\"]\n[[check]]\nname = \"a\"\nurl = \"tcp://x:1\"\n\
             maintenance = [\"daily 03:00-03:30\"]\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(config.checks[0].maintenance.len(), 2);
        let e = error("maintenance = [\"Someday 02:00-04:00\"]\n[[check]]\nname = \"a\"\nurl = \"tcp://x:1\"\n");
        assert_eq!((e.line, e.column), (1, 16), "{e}");
        let e = error("[[check]]\nname = \"app\"\nurl = \"tcp://x:1\"\ndepends_on = \"nope\"\n");
        assert_eq!((e.line, e.column), (4, 14), "{e}");
        let e = error("[[check]]\nname = \"app\"\nurl = \"tcp://x:1\"\ndepends_on = \"app\"\n");
        assert!(e.message.contains("itself"), "{e}");
    }

    #[test]
    fn secrets_come_from_the_environment() {
        assert_eq!(
            expand_env("a${PATH}b").unwrap(),
            format!("a{}b", std::env::var("PATH").unwrap())
        );
        assert!(expand_env("${PRISE_SURELY_UNSET_VARIABLE}")
            .unwrap_err()
            .contains("PRISE_SURELY_UNSET_VARIABLE"));
        let e = error("[[check]]\nname = \"a\"\nurl = \"tcp://x:1\"\n[[notify]]\ntype = \"webhook\"\nurl = \"http://h/${PRISE_SURELY_UNSET_VARIABLE}\"\n");
        assert_eq!(e.line, 6, "{e}");
    }
}
