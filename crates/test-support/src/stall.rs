//! Peers that stall: they connect and then send nothing, or a byte at a time, or stop reading.
//! A server must drop each on its timeout and keep serving everyone else.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Wait until the server closes `stream` (end of stream or a reset), reading and dropping
/// whatever it sends meanwhile: how long it took, or `None` when it is still open after
/// `limit`.
pub fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if started.elapsed() >= limit {
                    return None;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
}

/// Connect to `addr`, send nothing, and wait up to `limit` for the server to hang up: how long
/// it took (see [`closed_within`]).
///
/// # Panics
/// When the connection cannot be made.
pub fn silent(addr: impl ToSocketAddrs, limit: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    closed_within(&mut stream, limit)
}

/// What [`trickle`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Trickled {
    /// Bytes written before the server hung up (or all of them).
    pub sent: usize,
    /// How long after the first byte the server hung up, or `None` when it was still open
    /// once every byte was sent and `limit` had passed.
    pub closed_after: Option<Duration>,
}

/// Connect to `addr` and send `bytes` one at a time, one every `every` (the slowloris of a
/// protocol), until the server hangs up or `limit` passes.
///
/// # Panics
/// When the connection cannot be made.
pub fn trickle(
    addr: impl ToSocketAddrs,
    bytes: &[u8],
    every: Duration,
    limit: Duration,
) -> Trickled {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nonblocking(true).expect("nonblocking");
    let started = Instant::now();
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        // Whatever the server says is read and dropped; its end is the answer.
        match stream.read(&mut buf) {
            Ok(0) => {
                return Trickled {
                    sent,
                    closed_after: Some(started.elapsed()),
                }
            }
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                return Trickled {
                    sent,
                    closed_after: Some(started.elapsed()),
                }
            }
        }
        if sent < bytes.len() {
            match stream.write(&bytes[sent..=sent]) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    return Trickled {
                        sent,
                        closed_after: Some(started.elapsed()),
                    }
                }
            }
        }
        std::thread::sleep(every);
    }
    Trickled {
        sent,
        closed_after: None,
    }
}
