//! Conditions on a check's result, in the spirit of Gatus: `[STATUS] == 200`,
//! `[RESPONSE_TIME] < 300`, `[CERTIFICATE_EXPIRATION] > 48h`, `[NTP_OFFSET] < 50ms`,
//! `[BODY] contains "ok"`, `[BODY].status == "up"`, joined with `and` / `or`.
//!
//! Typed: each placeholder has a type, and a value that does not fit it is an error with its
//! column, found when the config is read, never a silent 0 at check time.
//!
//! ```text
//! condition   := conjunction ("or" conjunction)*           `||` is `or`
//! conjunction := comparison ("and" comparison)*            `&&` is `and`
//! comparison  := placeholder operator value
//! placeholder := [STATUS] | [RESPONSE_TIME] | [CONNECTED] | [BODY] | [BODY].a.b.0
//!              | [HEADER:Name] | [CERTIFICATE_EXPIRATION] | [NTP_OFFSET] | [NTP_STRATUM]
//! operator    := == | != | < | <= | > | >= | contains | matches
//! value       := 123 | 1.5 | 300ms | 2s | 48h | 7d | "text" | true | false
//! ```
//!
//! Durations: a bare number is milliseconds (`[RESPONSE_TIME] < 300`), or give a unit
//! (`ms`, `s`, `m`, `h`, `d`). `[NTP_OFFSET]` is the offset's size, whichever its sign.

use std::fmt;
use std::time::Duration;

/// A parsed condition.
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
    any: Vec<Vec<Comparison>>,
}

/// A condition that does not parse: what is wrong, at which column (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// Where, counting characters from 1.
    pub column: usize,
    /// What.
    pub message: String,
}

/// What a condition can look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// The HTTP status code.
    Status,
    /// The time to the answer.
    ResponseTime,
    /// Whether the connection (and handshake) succeeded.
    Connected,
    /// The body (empty path) or a field of it as JSON.
    Body(Vec<String>),
    /// A response header.
    Header(String),
    /// Time left on the server's certificate.
    CertificateExpiration,
    /// The size of the NTP offset.
    NtpOffset,
    /// The NTP server's stratum.
    NtpStratum,
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status => f.write_str("[STATUS]"),
            Self::ResponseTime => f.write_str("[RESPONSE_TIME]"),
            Self::Connected => f.write_str("[CONNECTED]"),
            Self::Body(path) if path.is_empty() => f.write_str("[BODY]"),
            Self::Body(path) => write!(f, "[BODY].{}", path.join(".")),
            Self::Header(name) => write!(f, "[HEADER:{name}]"),
            Self::CertificateExpiration => f.write_str("[CERTIFICATE_EXPIRATION]"),
            Self::NtpOffset => f.write_str("[NTP_OFFSET]"),
            Self::NtpStratum => f.write_str("[NTP_STRATUM]"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Duration,
    Bool,
    Text,
}

impl Placeholder {
    fn kind(&self) -> Kind {
        match self {
            Self::Status | Self::NtpStratum => Kind::Integer,
            Self::ResponseTime | Self::CertificateExpiration | Self::NtpOffset => Kind::Duration,
            Self::Connected => Kind::Bool,
            Self::Body(_) | Self::Header(_) => Kind::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
}

#[derive(Debug, Clone)]
enum Value {
    Integer(i64),
    Duration(Duration),
    Bool(bool),
    Text(String),
    /// A JSON field compared with a number.
    Number(f64),
    Regex(regex::Regex),
}

#[derive(Debug, Clone)]
struct Comparison {
    placeholder: Placeholder,
    operator: Operator,
    value: Value,
}

/// What one run of a check saw; `None` for what the check does not measure.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The HTTP status code.
    pub status: Option<u16>,
    /// Time to the answer.
    pub response_time: Option<Duration>,
    /// Whether the connection (and handshake) succeeded.
    pub connected: bool,
    /// The body, as text.
    pub body: Option<String>,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Time left on the certificate (zero once expired).
    pub certificate_expiration: Option<Duration>,
    /// The NTP offset's size.
    pub ntp_offset: Option<Duration>,
    /// The NTP stratum.
    pub ntp_stratum: Option<u8>,
}

impl Condition {
    /// Parse a condition.
    ///
    /// # Errors
    /// [`ParseError`] with the column of the first problem.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, at: 0 };
        let mut any = vec![vec![parser.comparison()?]];
        while let Some(token) = parser.next() {
            let new_group = match token.text.as_str() {
                "and" | "&&" => false,
                "or" | "||" => true,
                other => {
                    return Err(ParseError {
                        column: token.column,
                        message: format!("expected `and` or `or`, found `{other}`"),
                    })
                }
            };
            let comparison = parser.comparison()?;
            match any.last_mut() {
                Some(all) if !new_group => all.push(comparison),
                _ => any.push(vec![comparison]),
            }
        }
        Ok(Self {
            text: text.to_owned(),
            any,
        })
    }

    /// Every placeholder the condition looks at.
    pub fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.any.iter().flatten().map(|c| &c.placeholder)
    }

    /// Whether `seen` meets the condition; `Err` says which comparison failed and with what
    /// value, for the notification.
    ///
    /// # Errors
    /// The first failed comparison, as text (`[STATUS] (503) == 200`).
    pub fn check(&self, seen: &Observation) -> Result<(), String> {
        let mut first_failure = None;
        for all in &self.any {
            let failed = all.iter().find_map(|c| c.check(seen).err());
            match failed {
                None => return Ok(()),
                Some(reason) => {
                    first_failure.get_or_insert(reason);
                }
            }
        }
        Err(first_failure.unwrap_or_else(|| self.text.clone()))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Comparison {
    fn check(&self, seen: &Observation) -> Result<(), String> {
        let fail = |actual: String| {
            Err(format!(
                "{} ({actual}) {} {}",
                self.placeholder, self.operator, self.value
            ))
        };
        let missing = || Err(format!("{} was not measured", self.placeholder));
        match (&self.placeholder, &self.value) {
            (Placeholder::Status, Value::Integer(want)) => match seen.status {
                Some(got) if self.operator.holds(i64::from(got).cmp(want)) => Ok(()),
                Some(got) => fail(got.to_string()),
                None => missing(),
            },
            (Placeholder::NtpStratum, Value::Integer(want)) => match seen.ntp_stratum {
                Some(got) if self.operator.holds(i64::from(got).cmp(want)) => Ok(()),
                Some(got) => fail(got.to_string()),
                None => missing(),
            },
            (placeholder, Value::Duration(want)) => {
                let got = match placeholder {
                    Placeholder::ResponseTime => seen.response_time,
                    Placeholder::CertificateExpiration => seen.certificate_expiration,
                    Placeholder::NtpOffset => seen.ntp_offset,
                    _ => None,
                };
                match got {
                    Some(got) if self.operator.holds(got.cmp(want)) => Ok(()),
                    Some(got) => fail(format_duration(got)),
                    None => missing(),
                }
            }
            (Placeholder::Connected, Value::Bool(want)) => {
                if self.operator.holds(seen.connected.cmp(want)) {
                    Ok(())
                } else {
                    fail(seen.connected.to_string())
                }
            }
            (placeholder, value) => {
                let Some(text) = text_of(placeholder, seen) else {
                    return missing();
                };
                let holds = match (self.operator, value) {
                    (Operator::Contains, Value::Text(want)) => text.contains(want.as_str()),
                    (Operator::Matches, Value::Regex(re)) => re.is_match(&text),
                    (op, Value::Number(want)) => match text.trim().parse::<f64>() {
                        Ok(got) => got.partial_cmp(want).is_some_and(|o| op.holds(o)),
                        Err(_) => false,
                    },
                    (op, Value::Bool(want)) => {
                        op.holds(text.trim().cmp(if *want { "true" } else { "false" }))
                    }
                    (op, Value::Text(want)) => op.holds(text.as_str().cmp(want.as_str())),
                    _ => false,
                };
                if holds {
                    Ok(())
                } else if match value {
                    Value::Number(_) => text.trim().parse::<f64>().is_ok(),
                    Value::Bool(_) => matches!(text.trim(), "true" | "false"),
                    _ => false,
                } {
                    // Compared as a number or a truth value: shown as one.
                    fail(text.trim().to_owned())
                } else {
                    let mut shown: String = text.chars().take(80).collect();
                    if shown.len() < text.len() {
                        shown.push('…');
                    }
                    fail(format!("{shown:?}"))
                }
            }
        }
    }
}

/// The text a placeholder names: the body, a JSON field of it, or a header.
fn text_of(placeholder: &Placeholder, seen: &Observation) -> Option<String> {
    match placeholder {
        Placeholder::Body(path) if path.is_empty() => seen.body.clone(),
        Placeholder::Body(path) => {
            let json: serde_json::Value = serde_json::from_str(seen.body.as_deref()?).ok()?;
            let mut at = &json;
            for part in path {
                at = match at {
                    serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                    other => other.get(part)?,
                };
            }
            Some(match at {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }
        Placeholder::Header(name) => seen
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

impl Operator {
    fn holds(self, order: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => order == Equal,
            Self::Ne => order != Equal,
            Self::Lt => order == Less,
            Self::Le => order != Greater,
            Self::Gt => order == Greater,
            Self::Ge => order != Less,
            Self::Contains | Self::Matches => false,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Contains => "contains",
            Self::Matches => "matches",
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(n) => write!(f, "{n}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::Duration(d) => f.write_str(&format_duration(*d)),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Text(t) => write!(f, "{t:?}"),
            Self::Regex(re) => write!(f, "{:?}", re.as_str()),
        }
    }
}

fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{}ms", d.as_millis())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    column: usize,
    quoted: bool,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ParseError {
                            column,
                            message: "this quoted text never ends".into(),
                        })
                    }
                    Some('"') => break,
                    Some('\\') => {
                        if let Some(&next) = chars.get(i + 1) {
                            value.push(next);
                        }
                        i += 2;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push(Token {
                text: value,
                column,
                quoted: true,
            });
        } else if "=!<>&|".contains(c) {
            let mut op = String::from(c);
            if let Some(&next) = chars.get(i + 1) {
                if "=&|".contains(next) {
                    op.push(next);
                }
            }
            i += op.chars().count();
            tokens.push(Token {
                text: op,
                column,
                quoted: false,
            });
        } else {
            let start = i;
            let mut depth = 0;
            while i < chars.len() {
                let c = chars[i];
                if c == '[' {
                    depth += 1;
                } else if c == ']' {
                    depth -= 1;
                } else if depth == 0 && (c.is_whitespace() || "=!<>&|\"".contains(c)) {
                    break;
                }
                i += 1;
            }
            tokens.push(Token {
                text: chars[start..i].iter().collect(),
                column,
                quoted: false,
            });
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn end_column(&self) -> usize {
        self.tokens.last().map_or(1, |t| {
            t.column + t.text.chars().count() + if t.quoted { 2 } else { 0 }
        })
    }

    fn expect(&mut self, what: &str) -> Result<Token, ParseError> {
        let column = self.end_column();
        self.next().ok_or_else(|| ParseError {
            column,
            message: format!("expected {what}, found the end"),
        })
    }

    fn comparison(&mut self) -> Result<Comparison, ParseError> {
        let token = self.expect("a placeholder such as [STATUS]")?;
        let placeholder = placeholder(&token)?;
        let token = self.expect("an operator (==, !=, <, <=, >, >=, contains, matches)")?;
        let operator = match token.text.as_str() {
            "==" => Operator::Eq,
            "!=" => Operator::Ne,
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "contains" => Operator::Contains,
            "matches" => Operator::Matches,
            other => {
                return Err(ParseError {
                    column: token.column,
                    message: format!(
                        "expected an operator (==, !=, <, <=, >, >=, contains, matches), found `{other}`"
                    ),
                })
            }
        };
        let operator_column = token.column;
        let token = self.expect("a value")?;
        let value = value(&placeholder, operator, operator_column, &token)?;
        Ok(Comparison {
            placeholder,
            operator,
            value,
        })
    }
}

fn placeholder(token: &Token) -> Result<Placeholder, ParseError> {
    let err = |message: String| ParseError {
        column: token.column,
        message,
    };
    let text = token.text.as_str();
    if token.quoted || !text.starts_with('[') {
        return Err(err(format!(
            "expected a placeholder such as [STATUS], found `{text}`"
        )));
    }
    let close = text
        .find(']')
        .ok_or_else(|| err(format!("`{text}` has no closing `]`")))?;
    let name = &text[1..close];
    let rest = &text[close + 1..];
    let simple = |p: Placeholder| {
        if rest.is_empty() {
            Ok(p)
        } else {
            Err(err(format!("nothing may follow [{name}], found `{rest}`")))
        }
    };
    match name {
        "STATUS" => simple(Placeholder::Status),
        "RESPONSE_TIME" => simple(Placeholder::ResponseTime),
        "CONNECTED" => simple(Placeholder::Connected),
        "CERTIFICATE_EXPIRATION" => simple(Placeholder::CertificateExpiration),
        "NTP_OFFSET" => simple(Placeholder::NtpOffset),
        "NTP_STRATUM" => simple(Placeholder::NtpStratum),
        "BODY" => {
            if rest.is_empty() {
                return Ok(Placeholder::Body(Vec::new()));
            }
            let path = rest
                .strip_prefix('.')
                .filter(|p| !p.is_empty() && p.split('.').all(|s| !s.is_empty()))
                .ok_or_else(|| {
                    err(format!(
                        "a JSON field is written [BODY].name.inner, found `{text}`"
                    ))
                })?;
            Ok(Placeholder::Body(
                path.split('.').map(str::to_owned).collect(),
            ))
        }
        header if header.starts_with("HEADER:") && header.len() > "HEADER:".len() => {
            simple(Placeholder::Header(header["HEADER:".len()..].to_owned()))
        }
        other => Err(err(format!(
            "unknown placeholder [{other}]; known: [STATUS], [RESPONSE_TIME], [CONNECTED], [BODY], \
             [BODY].field, [HEADER:Name], [CERTIFICATE_EXPIRATION], [NTP_OFFSET], [NTP_STRATUM]"
        ))),
    }
}

fn value(
    placeholder: &Placeholder,
    operator: Operator,
    operator_column: usize,
    token: &Token,
) -> Result<Value, ParseError> {
    let err = |message: String| ParseError {
        column: token.column,
        message,
    };
    // What is wrong with the operator itself points at the operator.
    let operator_err = |message: String| ParseError {
        column: operator_column,
        message,
    };
    let text = token.text.as_str();
    let kind = placeholder.kind();
    let ordering = matches!(
        operator,
        Operator::Lt | Operator::Le | Operator::Gt | Operator::Ge
    );
    if matches!(operator, Operator::Contains | Operator::Matches) {
        if kind != Kind::Text {
            return Err(operator_err(format!(
                "{operator} works on text; {placeholder} is not text"
            )));
        }
        if !token.quoted {
            return Err(err(format!("{operator} takes quoted text, found `{text}`")));
        }
        return if operator == Operator::Matches {
            regex::Regex::new(text)
                .map(Value::Regex)
                .map_err(|e| err(format!("not a regular expression: {e}")))
        } else {
            Ok(Value::Text(text.to_owned()))
        };
    }
    match kind {
        Kind::Integer => {
            if token.quoted {
                return Err(err(format!(
                    "{placeholder} is a number, found text \"{text}\""
                )));
            }
            text.parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| err(format!("{placeholder} is a whole number, found `{text}`")))
        }
        Kind::Duration => {
            if token.quoted {
                return Err(err(format!(
                    "{placeholder} is a duration, found text \"{text}\""
                )));
            }
            parse_duration(text).map(Value::Duration).ok_or_else(|| {
                err(format!(
                    "{placeholder} is a duration (300, meaning milliseconds, or 300ms, 2s, 48h, 7d), found `{text}`"
                ))
            })
        }
        Kind::Bool => {
            if ordering {
                return Err(operator_err(format!(
                    "{placeholder} is true or false: only == and != apply"
                )));
            }
            match (token.quoted, text) {
                (false, "true") => Ok(Value::Bool(true)),
                (false, "false") => Ok(Value::Bool(false)),
                _ => Err(err(format!(
                    "{placeholder} is true or false, found `{text}`"
                ))),
            }
        }
        Kind::Text => {
            if token.quoted {
                Ok(Value::Text(text.to_owned()))
            } else if let Ok(n) = text.parse::<f64>() {
                Ok(Value::Number(n))
            } else if !ordering && (text == "true" || text == "false") {
                Ok(Value::Bool(text == "true"))
            } else {
                Err(err(format!(
                    "text is quoted (\"{text}\"); unquoted values are numbers, true or false"
                )))
            }
        }
    }
}

/// `300` (milliseconds), `300ms`, `2s`, `1.5s`, `5m`, `48h`, `7d`.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn http(status: u16, ms: u64, body: &str) -> Observation {
        Observation {
            status: Some(status),
            response_time: Some(Duration::from_millis(ms)),
            connected: true,
            body: Some(body.to_owned()),
            headers: vec![("content-type".into(), "application/json".into())],
            ..Observation::default()
        }
    }

    #[test]
    fn comparisons_hold_or_say_what_was_seen() {
        let ok = http(200, 120, r#"{"status":"up","items":[{"n":3}],"load":0.5}"#);
        for text in [
            "[STATUS] == 200",
            "[STATUS] < 300 and [RESPONSE_TIME] < 500",
            "[RESPONSE_TIME] <= 120ms",
            "[RESPONSE_TIME] < 1s",
            "[STATUS] == 500 or [STATUS] == 200",
            "[STATUS] == 500 || [CONNECTED] == true",
            "[BODY] contains \"up\"",
            "[BODY] matches \"\\\"status\\\":\\s*\\\"up\\\"\"",
            "[BODY].status == \"up\"",
            "[BODY].items.0.n == 3",
            "[BODY].load < 0.75",
            "[HEADER:Content-Type] == \"application/json\"",
            "[HEADER:content-type] contains \"json\"",
        ] {
            let condition = Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(condition.check(&ok), Ok(()), "{text}");
        }
        let slow = http(503, 900, "down");
        let condition = Condition::parse("[STATUS] == 200 and [RESPONSE_TIME] < 500").unwrap();
        assert_eq!(condition.check(&slow).unwrap_err(), "[STATUS] (503) == 200");
        let condition = Condition::parse("[RESPONSE_TIME] < 500").unwrap();
        assert_eq!(
            condition.check(&slow).unwrap_err(),
            "[RESPONSE_TIME] (900ms) < 500ms"
        );
        // A JSON number compared as one is shown as one; text stays quoted.
        let condition = Condition::parse("[BODY].load > 0.75").unwrap();
        assert_eq!(
            condition.check(&ok).unwrap_err(),
            "[BODY].load (0.5) > 0.75"
        );
        let condition = Condition::parse("[BODY].status == \"down\"").unwrap();
        assert_eq!(
            condition.check(&ok).unwrap_err(),
            "[BODY].status (\"up\") == \"down\""
        );
        let condition = Condition::parse("[BODY].status == \"up\"").unwrap();
        assert_eq!(
            condition.check(&slow).unwrap_err(),
            "[BODY].status was not measured",
            "not JSON"
        );
        let condition = Condition::parse("[CERTIFICATE_EXPIRATION] > 48h").unwrap();
        assert_eq!(
            condition.check(&ok).unwrap_err(),
            "[CERTIFICATE_EXPIRATION] was not measured"
        );
        let ntp = Observation {
            ntp_offset: Some(Duration::from_millis(80)),
            ntp_stratum: Some(2),
            connected: true,
            ..Observation::default()
        };
        assert!(Condition::parse("[NTP_OFFSET] < 50ms")
            .unwrap()
            .check(&ntp)
            .is_err());
        assert!(
            Condition::parse("[NTP_OFFSET] < 0.1s and [NTP_STRATUM] <= 3")
                .unwrap()
                .check(&ntp)
                .is_ok()
        );
    }

    #[test]
    fn broken_conditions_say_where() {
        for (text, column, contains) in [
            ("[STATUS] == abc", 13, "whole number"),
            ("[STATUS] == \"200\"", 13, "is a number"),
            ("[RESPONSE_TIME] < fast", 19, "duration"),
            ("[RESPONSE_TIME] < 5 parsecs", 21, "expected `and` or `or`"),
            ("[STATUS] = 200", 10, "expected an operator"),
            ("[STATUS] ==", 12, "expected a value, found the end"),
            ("[STATSU] == 200", 1, "unknown placeholder [STATSU]"),
            ("STATUS == 200", 1, "expected a placeholder"),
            ("[STATUS] == 200 and", 20, "found the end"),
            (
                "[STATUS] == 200 also [STATUS] < 300",
                17,
                "expected `and` or `or`",
            ),
            ("[BODY] contains up", 17, "quoted text"),
            ("[BODY] == up", 11, "text is quoted"),
            ("[BODY] matches \"(\"", 16, "regular expression"),
            ("[STATUS] contains \"2\"", 10, "works on text"),
            ("[CONNECTED] < true", 13, "only == and !="),
            ("[BODY] == \"never ends", 11, "never ends"),
            ("[BODY]. == 1", 1, "JSON field"),
            ("", 1, "found the end"),
        ] {
            let error = Condition::parse(text).unwrap_err();
            assert_eq!(error.column, column, "{text}: {error}");
            assert!(error.message.contains(contains), "{text}: {error}");
        }
    }

    #[test]
    fn placeholders_are_listed() {
        let c = Condition::parse("[STATUS] == 200 and [BODY].a == 1 or [NTP_OFFSET] < 5").unwrap();
        let names: Vec<String> = c.placeholders().map(ToString::to_string).collect();
        assert_eq!(names, ["[STATUS]", "[BODY].a", "[NTP_OFFSET]"]);
    }
}
