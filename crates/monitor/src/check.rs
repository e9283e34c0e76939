//! One run of a check: connect, measure, and judge by the conditions.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use prise_core::net::{connect, ConnectOptions};
use prise_core::tls::{ClientTls, Verify};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::condition::Observation;
use crate::config::{Check, Target};

/// Most body bytes read from an HTTP check.
const MAX_BODY: usize = 1024 * 1024;

/// What one run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What was measured.
    pub seen: Observation,
    /// Why the run failed: the connection's error or the first condition that did not hold.
    pub error: Option<String>,
    /// For a run that succeeded: the first warning condition that did not hold.
    pub warning: Option<String>,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// `up`, `degraded` (succeeded, but a warning condition failed) or `down`, for one run.
    pub fn state(&self) -> &'static str {
        match (&self.error, &self.warning) {
            (Some(_), _) => "down",
            (None, Some(_)) => "degraded",
            (None, None) => "up",
        }
    }
}

/// Run `check` once, within its timeout.
pub async fn run(check: &Check) -> Outcome {
    let started = Instant::now();
    let verify = check.ca.clone().map_or(Verify::SystemRoots, Verify::CaFile);
    let measured =
        tokio::time::timeout(check.timeout, measure(&check.target, check.timeout, verify)).await;
    let (mut seen, failure) = match measured {
        Ok(Ok(seen)) => (seen, None),
        Ok(Err(failed)) => (failed.0, Some(failed.1)),
        Err(_) => (
            Observation::default(),
            Some(format!(
                "no answer within {}",
                humantime::format_duration(check.timeout)
            )),
        ),
    };
    if seen.response_time.is_none() {
        seen.response_time = Some(started.elapsed());
    }
    let error = failure.or_else(|| {
        check
            .conditions
            .iter()
            .find_map(|c| c.check(&seen).err())
            .map(|reason| format!("condition failed: {reason}"))
    });
    let warning = if error.is_none() {
        check
            .warnings
            .iter()
            .find_map(|c| c.check(&seen).err())
            .map(|reason| format!("warning: {reason}"))
    } else {
        None
    };
    Outcome {
        seen,
        error,
        warning,
    }
}

type Measured = Result<Observation, Box<(Observation, String)>>;

async fn measure(target: &Target, timeout: Duration, verify: Verify) -> Measured {
    let started = Instant::now();
    let options = |tls: Option<ClientTls>| ConnectOptions {
        connect_timeout: timeout,
        tls,
        ..ConnectOptions::new("monitor")
    };
    let failed = |e: String| Err(Box::new((Observation::default(), e)));
    match target {
        Target::Tcp {
            address,
            send,
            expect,
        } => {
            let mut stream = match connect(address, &options(None)).await {
                Ok(s) => s,
                Err(e) => return failed(describe(&e)),
            };
            let mut seen = Observation {
                connected: true,
                ..Observation::default()
            };
            if let Some(send) = send {
                if let Err(e) = stream.write_all(send.as_bytes()).await {
                    return Err(Box::new((seen, format!("sending: {e}"))));
                }
            }
            if let Some(expect) = expect {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    if String::from_utf8_lossy(&got).contains(expect.as_str()) {
                        break;
                    }
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            let shown = String::from_utf8_lossy(&got)
                                .chars()
                                .take(80)
                                .collect::<String>();
                            return Err(Box::new((
                                seen,
                                format!("expected {expect:?}, got {shown:?}"),
                            )));
                        }
                        Ok(n) if got.len() < 64 * 1024 => got.extend_from_slice(&buf[..n]),
                        Ok(_) => {
                            return Err(Box::new((
                                seen,
                                format!("expected {expect:?} in the first 64 KiB"),
                            )))
                        }
                    }
                }
            }
            seen.response_time = Some(started.elapsed());
            Ok(seen)
        }
        Target::Echo { address } => {
            let mut stream = match connect(address, &options(None)).await {
                Ok(s) => s,
                Err(e) => return failed(describe(&e)),
            };
            let seen = Observation {
                connected: true,
                ..Observation::default()
            };
            let line = format!("prise monitor {:016x}\n", fastrand::u64(..));
            if let Err(e) = stream.write_all(line.as_bytes()).await {
                return Err(Box::new((seen, format!("sending: {e}"))));
            }
            let mut got = vec![0u8; line.len()];
            match stream.read_exact(&mut got).await {
                Ok(_) if got == line.as_bytes() => Ok(Observation {
                    response_time: Some(started.elapsed()),
                    ..seen
                }),
                Ok(_) => Err(Box::new((seen, "the echo came back different".into()))),
                Err(e) => Err(Box::new((seen, format!("no echo: {e}")))),
            }
        }
        Target::Tls { address } => {
            let tls = match ClientTls::new(verify) {
                Ok(tls) => tls,
                Err(e) => return failed(e.to_string()),
            };
            match connect(address, &options(Some(tls))).await {
                Ok(stream) => Ok(Observation {
                    connected: true,
                    response_time: Some(started.elapsed()),
                    certificate_expiration: expiry(&stream),
                    ..Observation::default()
                }),
                Err(e) => failed(describe(&e)),
            }
        }
        Target::Http {
            address,
            host,
            path,
            tls,
        } => {
            http(
                address,
                host,
                path,
                tls.then_some(verify),
                &options,
                started,
            )
            .await
        }
        Target::Chat { address, tls } => {
            let client_tls = match tls.then(|| ClientTls::new(verify)) {
                Some(Ok(t)) => Some(t),
                Some(Err(e)) => return failed(e.to_string()),
                None => None,
            };
            let mut stream = match connect(address, &options(client_tls)).await {
                Ok(s) => s,
                Err(e) => return failed(describe(&e)),
            };
            let connected = Observation {
                connected: true,
                certificate_expiration: if *tls { expiry(&stream) } else { None },
                ..Observation::default()
            };
            match prise_chat::client::probe(&mut stream).await {
                Ok(status) => Ok(Observation {
                    response_time: Some(started.elapsed()),
                    body: Some(status.line),
                    ..connected
                }),
                Err(e) => Err(Box::new((connected, e.to_string()))),
            }
        }
        Target::Ntp { server } => {
            let addresses = match prise_time::resolve(server, prise_time::Family::Any).await {
                Ok(a) => a,
                Err(e) => return failed(e),
            };
            let options = prise_time::Options {
                samples: 1,
                interval: Duration::from_secs(2),
                timeout,
            };
            let report = prise_time::client::ask(addresses[0], &options).await;
            match report.outcome {
                Ok(answer) => Ok(Observation {
                    connected: true,
                    response_time: Some(started.elapsed()),
                    ntp_offset: Some(Duration::from_secs_f64(answer.offset.abs())),
                    ntp_stratum: Some(answer.stratum),
                    ..Observation::default()
                }),
                Err(e) => failed(e.to_string()),
            }
        }
    }
}

async fn http(
    address: &str,
    host: &str,
    path: &str,
    tls: Option<Verify>,
    options: &(dyn Fn(Option<ClientTls>) -> ConnectOptions + Sync),
    started: Instant,
) -> Measured {
    let failed = |e: String| Err(Box::new((Observation::default(), e)));
    let secure = tls.is_some();
    let client_tls = match tls.map(ClientTls::new) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return failed(e.to_string()),
        None => None,
    };
    let stream = match connect(address, &options(client_tls)).await {
        Ok(s) => s,
        Err(e) => return failed(describe(&e)),
    };
    let certificate_expiration = if secure { expiry(&stream) } else { None };
    let connected = Observation {
        connected: true,
        certificate_expiration,
        ..Observation::default()
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return Err(Box::new((connected, format!("HTTP: {e}")))),
        };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(
            hyper::header::USER_AGENT,
            concat!("prise-monitor/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new());
    let request = match request {
        Ok(r) => r,
        Err(e) => return Err(Box::new((connected, format!("HTTP request: {e}")))),
    };
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => return Err(Box::new((connected, format!("HTTP: {e}")))),
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut incoming = response.into_body();
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    let room = MAX_BODY.saturating_sub(body.len());
                    body.extend_from_slice(&data[..data.len().min(room)]);
                    if body.len() >= MAX_BODY {
                        break;
                    }
                }
            }
            Err(e) => return Err(Box::new((connected, format!("HTTP body: {e}")))),
        }
    }
    Ok(Observation {
        status: Some(status),
        response_time: Some(started.elapsed()),
        body: Some(String::from_utf8_lossy(&body).into_owned()),
        headers,
        ..connected
    })
}

/// Time left on the peer's certificate (zero once expired).
fn expiry(stream: &prise_core::stream::Stream) -> Option<Duration> {
    let der = stream.peer_certificate()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let not_after = u64::try_from(cert.validity().not_after.timestamp()).ok()?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(not_after.saturating_sub(now)))
}

/// An error and its causes, on one line: `cannot connect to host:1: Connection refused`.
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}
