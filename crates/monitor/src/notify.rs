//! Telling people: a webhook (HTTP POST of JSON), a command (`sh -c`, details in `PRISE_*`
//! environment variables) or an email (SMTP, through lettre). A notification that fails is logged and retried twice, a few seconds
//! apart; it never stops the checks.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use prise_core::net::{connect, ConnectOptions};
use prise_core::tls::{ClientTls, Verify};

use crate::config::{Email, Notifier, NotifierKind, Security, Target};
use crate::state::Event;

/// What a notification says.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The check's name.
    pub check: String,
    /// Its URL.
    pub url: String,
    /// Down or recovered.
    pub event: Event,
    /// Why it is down (the last error); empty on recovery.
    pub error: String,
    /// Failed runs in a row when it went down.
    pub failures: u32,
    /// When, Unix seconds.
    pub time: u64,
}

impl Notice {
    /// A notice stamped now.
    pub fn new(check: &str, url: &str, event: Event, error: &str, failures: u32) -> Self {
        Self {
            check: check.to_owned(),
            url: url.to_owned(),
            event,
            error: error.to_owned(),
            failures,
            time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// The default webhook body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "check": self.check,
            "url": self.url,
            "event": self.event.as_str(),
            "error": self.error,
            "failures": self.failures,
            "time": self.time,
        })
    }

    /// `template` with `{check}`, `{event}`, `{error}`, `{url}`, `{time}` replaced, each
    /// JSON-escaped (without quotes), so a template that is JSON stays JSON.
    pub fn fill(&self, template: &str) -> String {
        let escaped = |s: &str| {
            let quoted = serde_json::Value::from(s).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        };
        template
            .replace("{check}", &escaped(&self.check))
            .replace("{event}", self.event.as_str())
            .replace("{error}", &escaped(&self.error))
            .replace("{url}", &escaped(&self.url))
            .replace("{time}", &self.time.to_string())
    }
}

/// Send `notice` through `notifier`, retrying twice.
pub async fn send(notifier: &Notifier, notice: &Notice) {
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
        }
        match send_once(notifier, notice).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(
                notifier = %notifier.name,
                check = %notice.check,
                "notification failed (try {} of 3): {e}",
                attempt + 1
            ),
        }
    }
}

async fn send_once(notifier: &Notifier, notice: &Notice) -> Result<(), String> {
    match &notifier.kind {
        NotifierKind::Webhook {
            url,
            endpoint,
            body,
            ca,
        } => {
            let body = match body {
                Some(template) => notice.fill(template),
                None => notice.json().to_string(),
            };
            let verify = ca.clone().map_or(Verify::SystemRoots, Verify::CaFile);
            post(endpoint, url, body, verify).await
        }
        NotifierKind::Email(email) => send_email(email, notice).await,
        NotifierKind::Command { command } => {
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .env("PRISE_CHECK", &notice.check)
                .env("PRISE_URL", &notice.url)
                .env("PRISE_EVENT", notice.event.as_str())
                .env("PRISE_ERROR", &notice.error)
                .env("PRISE_FAILURES", notice.failures.to_string())
                .env("PRISE_TIME", notice.time.to_string())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting `{command}`: {e}"))?;
            match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(format!("`{command}` exited with {status}")),
                Ok(Err(e)) => Err(format!("`{command}`: {e}")),
                Err(_) => Err(format!("`{command}` ran over 30 s")),
            }
        }
    }
}

/// One email: the subject says which check and what happened, the body the details.
async fn send_email(email: &Email, notice: &Notice) -> Result<(), String> {
    use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
    let subject = match notice.event {
        Event::Down => format!("[prise monitor] {} is down", notice.check),
        Event::Recovered => format!("[prise monitor] {} is up again", notice.check),
        Event::Reminder => format!("[prise monitor] {} is still down", notice.check),
    };
    let when =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(notice.time));
    let mut text = format!(
        "Check: {}\nURL: {}\nEvent: {}\nTime: {when}\n",
        notice.check,
        notice.url,
        notice.event.as_str()
    );
    if !notice.error.is_empty() {
        text.push_str(&format!(
            "Error: {}\nFailed runs in a row: {}\n",
            notice.error, notice.failures
        ));
    }
    let mut message = Message::builder()
        .from(email.from.parse().map_err(|e| format!("from: {e}"))?)
        .subject(subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN);
    for to in &email.to {
        message = message.to(to.parse().map_err(|e| format!("to: {e}"))?);
    }
    let message = message.body(text).map_err(|e| e.to_string())?;
    let builder = match email.security {
        Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&email.host)
            .map_err(|e| e.to_string())?,
        Security::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&email.host).map_err(|e| e.to_string())?
        }
        Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host),
    };
    let mut builder = builder
        .port(email.port)
        .timeout(Some(Duration::from_secs(30)));
    if let Some((user, pass)) = &email.credentials {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.clone(),
            pass.clone(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{}:{}: {}",
                email.host,
                email.port,
                crate::check::describe(&e)
            )
        })
}

/// POST `body` as JSON to `endpoint` (`url` as written, for messages), trusting `verify`'s
/// certificates over https; a 2xx answer is success.
async fn post(endpoint: &Target, url: &str, body: String, verify: Verify) -> Result<(), String> {
    let Target::Http {
        address,
        host,
        path,
        tls,
    } = endpoint
    else {
        return Err(format!("{url}: not an http(s) URL"));
    };
    let tls = *tls;
    let client_tls = if tls {
        Some(ClientTls::new(verify).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let options = ConnectOptions {
        connect_timeout: Duration::from_secs(10),
        tls: client_tls,
        ..ConnectOptions::new("monitor")
    };
    let exchange = async {
        let stream = connect(address, &options)
            .await
            .map_err(|e| crate::check::describe(&e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = hyper::Request::post(path.as_str())
            .header(hyper::header::HOST, host.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("prise-monitor/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url} answered {}", response.status()))
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| format!("{url}: no answer within 30 s"))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn templates_stay_json() {
        let notice = Notice::new("web \"main\"", "http://x/", Event::Down, "line1\nline2", 3);
        let filled = notice.fill(r#"{"text": "{check} is {event}: {error}"}"#);
        let value: serde_json::Value = serde_json::from_str(&filled).unwrap();
        assert_eq!(value["text"], "web \"main\" is down: line1\nline2");
        assert_eq!(notice.json()["failures"], 3);
    }
}
