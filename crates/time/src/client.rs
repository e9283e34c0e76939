//! Asking one server: samples over a connected UDP socket, the replies checked, the best
//! sample kept. See docs/PROTOCOL-time.md.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::net::UdpSocket;

use crate::packet::{offset_and_delay, Kiss, Packet, Refusal, Timestamp};

/// How to ask.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per server.
    pub samples: u32,
    /// Time between two requests to one server.
    pub interval: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            samples: 1,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What one server said, from its best sample.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// How far the server's clock is ahead of ours, seconds.
    pub offset: f64,
    /// Round trip less the server's own time, seconds.
    pub delay: f64,
    /// Root mean square of the other samples' offsets from the best one, seconds (0 with one
    /// sample).
    pub jitter: f64,
    /// The server's stratum.
    pub stratum: u8,
    /// Its reference ID, as people read it.
    pub refid: String,
    /// Leap indicator: 0 none, 1 a 61-second minute ahead, 2 a 59-second one.
    pub leap: u8,
    /// The server clock's precision, log2 seconds.
    pub precision: i8,
    /// Root delay, seconds.
    pub root_delay: f64,
    /// Root dispersion, seconds.
    pub root_dispersion: f64,
    /// When the server's clock was last set, Unix seconds.
    pub reference_time: f64,
    /// Usable samples.
    pub samples: u32,
}

/// Why a server gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No usable reply came in time; what was dropped while waiting, if anything.
    #[error("no usable reply within {}{}", humantime::format_duration(*after), dropped.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Timeout {
        /// The wait.
        after: Duration,
        /// The last datagram dropped, and why.
        dropped: Option<String>,
    },
    /// The server sent a Kiss-o'-Death that tells us to stop.
    #[error("the server refuses us: Kiss-o'-Death {0}")]
    Refused(Kiss),
    /// Every reply failed a check; the last reason.
    #[error("{0}")]
    Bad(Refusal),
    /// The socket failed.
    #[error("{0}")]
    Io(String),
}

/// One server's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// The address asked.
    pub address: SocketAddr,
    /// The answer, or why there is none.
    pub outcome: Result<Answer, Failure>,
    /// Kiss-o'-Death codes received, in order.
    pub kisses: Vec<Kiss>,
}

struct Sample {
    offset: f64,
    delay: f64,
    packet: Packet,
}

/// Ask `address` as `options` say.
pub async fn ask(address: SocketAddr, options: &Options) -> Report {
    let mut kisses = Vec::new();
    let outcome = ask_inner(address, options, &mut kisses).await;
    Report {
        address,
        outcome,
        kisses,
    }
}

async fn ask_inner(
    address: SocketAddr,
    options: &Options,
    kisses: &mut Vec<Kiss>,
) -> Result<Answer, Failure> {
    let local: SocketAddr = if address.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    // A fresh socket on a random port, connected: the kernel drops datagrams from any other
    // address or port.
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| Failure::Io(format!("opening a UDP socket: {e}")))?;
    socket
        .connect(address)
        .await
        .map_err(|e| Failure::Io(format!("{address}: {e}")))?;
    let mut samples = Vec::new();
    let mut last_refusal = None;
    let mut interval = options.interval;
    for n in 0..options.samples.max(1) {
        if n > 0 {
            tokio::time::sleep(interval).await;
        }
        match exchange(&socket, options.timeout).await {
            Ok(sample) => samples.push(sample),
            Err(Step::Refused(Refusal::Kiss(kiss))) => {
                let stops = kiss.stops();
                if kiss == Kiss::Rate {
                    interval = (interval * 2).max(Duration::from_secs(1));
                }
                kisses.push(kiss.clone());
                if stops {
                    return Err(Failure::Refused(kiss));
                }
                last_refusal = Some(Failure::Bad(Refusal::Kiss(kiss)));
            }
            Err(Step::Refused(refusal)) => last_refusal = Some(Failure::Bad(refusal)),
            Err(Step::Timeout(dropped)) => {
                last_refusal.get_or_insert(Failure::Timeout {
                    after: options.timeout,
                    dropped,
                });
            }
            Err(Step::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                // The ICMP "port unreachable" of a previous send.
                last_refusal = Some(Failure::Io(format!(
                    "nothing listens on {address} (port unreachable)"
                )));
            }
            Err(Step::Io(e)) => last_refusal = Some(Failure::Io(format!("{address}: {e}"))),
        }
    }
    let Some(best) = samples.iter().min_by(|a, b| a.delay.total_cmp(&b.delay)) else {
        return Err(last_refusal.unwrap_or(Failure::Timeout {
            after: options.timeout,
            dropped: None,
        }));
    };
    let others: Vec<f64> = samples
        .iter()
        .filter(|s| !std::ptr::eq(*s, best))
        .map(|s| (s.offset - best.offset).powi(2))
        .collect();
    #[allow(clippy::cast_precision_loss)] // a handful of samples
    let jitter = if others.is_empty() {
        0.0
    } else {
        (others.iter().sum::<f64>() / others.len() as f64).sqrt()
    };
    let p = &best.packet;
    let reference_time = p
        .reference
        .to_system_near(SystemTime::now())
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(Answer {
        offset: best.offset,
        delay: best.delay,
        jitter,
        stratum: p.stratum,
        refid: p.refid(),
        leap: p.leap,
        precision: p.precision,
        root_delay: p.root_delay_secs(),
        root_dispersion: p.root_dispersion_secs(),
        reference_time: if p.reference.is_zero() {
            0.0
        } else {
            reference_time
        },
        samples: u32::try_from(samples.len()).unwrap_or(u32::MAX),
    })
}

enum Step {
    Timeout(Option<String>),
    Refused(Refusal),
    Io(std::io::Error),
}

/// One request and its reply. Replies that are not ours (origin mismatch) or not NTP at all
/// (too short) are dropped, and the wait goes on until the timeout.
async fn exchange(socket: &UdpSocket, timeout: Duration) -> Result<Sample, Step> {
    // A random transmit timestamp: the request tells nothing about our clock, and a forger
    // off the path cannot guess what a reply must echo. T1 stays here.
    let cookie = Timestamp(fastrand::u64(1..));
    let request = Packet::request(cookie).encode();
    let t1 = Timestamp::from_system(SystemTime::now());
    socket.send(&request).await.map_err(Step::Io)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 1024];
    let mut dropped = None;
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
        let t4 = Timestamp::from_system(SystemTime::now());
        let n = match received {
            Err(_) => return Err(Step::Timeout(dropped)),
            Ok(Ok(n)) => n,
            // An ICMP "port unreachable" from a previous send shows here: nobody listens.
            Ok(Err(e)) => return Err(Step::Io(e)),
        };
        let packet = match Packet::decode(&buf[..n]) {
            Ok(packet) => packet,
            Err(short) => {
                tracing::debug!("dropped: {short}");
                dropped = Some(format!("dropped {short}"));
                continue;
            }
        };
        match packet.check_reply(cookie) {
            Ok(()) => {
                let (offset, delay) = offset_and_delay(t1, &packet, t4);
                return Ok(Sample {
                    offset,
                    delay,
                    packet,
                });
            }
            Err(Refusal::NotOurs) => {
                tracing::debug!("dropped: {}", Refusal::NotOurs);
                dropped = Some(format!("dropped a reply: {}", Refusal::NotOurs));
            }
            Err(refusal) => return Err(Step::Refused(refusal)),
        }
    }
}
