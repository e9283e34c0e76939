//! One connection loop for every chat door.
//!
//! A [`Door`] is a protocol: how a client's lines become hub calls and how the hub's events
//! become bytes (native JSON lines in [`crate::native`], text lines in [`crate::text`], IRC in
//! [`crate::irc`]). A [`Wire`] is how lines come in and bytes go out: a TCP or TLS stream cut
//! into lines ([`Lines`]), or a WebSocket's text messages (in [`crate::web`]). [`serve`] is the
//! one loop they share:
//!
//! 1. the hello: lines go to [`Door::hello`] until the client is a user, within the idle timeout
//!    from the first byte, the shutdown token watched (the user is not in the hub yet);
//! 2. the session: every whole line already read goes to [`Door::line`], then what the line made
//!    the hub say to this client is rendered at once, so a client sees its own changes before the
//!    replies to its next lines; then the output is written and the loop waits for the next event
//!    or more input, events first;
//! 3. the end: [`Door::end`] says why ([`End`]) in the door's words and the last bytes are written
//!    within a short timeout. Dropping the session is the quit the others see.
//!
//! The state kept here lives as long as an idle connection: the one-time parts (the hello, a
//! line's handling) are boxed futures that are gone once done.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use prise_core::codec::{CodecError, LineCodec};
use prise_core::stream::Stream;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::conn::{flush, read_more, release_if_empty, write_shared, ConnConfig, MAX_BATCH};
use crate::event::Event;
use crate::hub::{Gone, Hub, Inbox, Session};

/// What a line of the hello phase led to.
pub(crate) enum Hello {
    /// Not a user yet: more lines are needed.
    More,
    /// A user now, with the queue of what the hub says to it.
    Welcome(Session, Inbox),
    /// Not welcome: what it was told waits in the door's output; the connection closes.
    Refused,
}

/// What to do after a line.
pub(crate) enum Flow {
    /// Go on.
    Go,
    /// The client asked to leave, with its reason (IRC's `QUIT :reason`; empty elsewhere).
    Quit(String),
}

/// Why a hello phase ends without a user.
pub(crate) enum Refusal {
    /// A line longer than the limit.
    LineTooLong(usize),
    /// Something other than text where a line was expected (a binary WebSocket message).
    NotText,
    /// No hello within the idle timeout.
    TimedOut,
}

/// Why a session ends.
pub(crate) enum End {
    /// The client asked (IRC `QUIT`, `/quit`, a `bye` request), with its reason.
    Quit(String),
    /// A line longer than the limit.
    LineTooLong(usize),
    /// The hub ended it (too slow, killed, shutdown, ping timeout).
    Gone(Gone),
    /// The client closed the connection, or the input could not be read.
    Closed,
}

/// A wrong piece of input, as the wire saw it.
pub(crate) enum Bad {
    /// A line longer than the limit: the connection ends.
    TooLong(usize),
    /// A message that is not text (WebSocket binary): answered, then the loop goes on.
    NotText,
    /// Input that cannot be read on: the connection ends.
    Broken,
}

/// A chat protocol: lines in, hub calls, events out. Every method writes into [`Door::out`],
/// which the loop writes to the wire.
pub(crate) trait Door: Send {
    /// What the hello phase remembers between lines (IRC's NICK and USER until both came).
    type Pending: Default + Send;

    /// The bytes waiting to be written.
    fn out(&mut self) -> &mut BytesMut;

    /// A door whose client is a user from the first moment (text: no hello) connects here;
    /// `None` (the default) asks for hello lines.
    fn open(&mut self, hub: &Hub) -> impl Future<Output = Option<(Session, Inbox)>> + Send {
        let _ = hub;
        std::future::ready(None)
    }

    /// One line of the hello phase.
    fn hello(
        &mut self,
        pending: &mut Self::Pending,
        hub: &Hub,
        line: Bytes,
    ) -> impl Future<Output = Hello> + Send;

    /// The hello phase failed: say why (or nothing).
    fn refused(&mut self, why: Refusal);

    /// The client is now a user: set the session up (keepalive, the events it wants).
    fn welcomed(&mut self, session: &Session) {
        let _ = session;
    }

    /// One line from a user.
    fn line(
        &mut self,
        session: &Session,
        hub: &Hub,
        line: Bytes,
    ) -> impl Future<Output = Flow> + Send;

    /// One event from the hub, rendered into [`Door::out`].
    fn event(&mut self, session: &Session, event: &Event);

    /// True when this door's rendering of every event is the event's shared native JSON line
    /// ([`Event::json`]): the wire may then write those shared bytes as they are. A constant,
    /// so that the other doors' loops do not even hold that write's state.
    const SHARES_JSON: bool = false;

    /// A message that is not text came after the hello (WebSocket binary).
    fn not_text(&mut self) {}

    /// True when a last line without its line end, at the close, is still a line (text: `nc`
    /// sends one after `printf`). Elsewhere it is a message cut short, never delivered.
    fn takes_unended_line(&self) -> bool {
        false
    }

    /// The session ends: say why, in this door's words.
    fn end(&mut self, session: &Session, end: End);
}

/// How lines come in and bytes go out.
pub(crate) trait Wire: Send {
    /// The next whole line already received, without waiting.
    fn next_line(&mut self) -> Result<Option<Bytes>, Bad>;

    /// Wait for more input; false once the client has closed (or the read failed).
    ///
    /// # Cancel safety
    /// Cancel safe: it is raced against the hub's queue.
    fn fill(&mut self) -> impl Future<Output = bool> + Send;

    /// At the close: what is left, a last line without its line end (see
    /// [`Door::takes_unended_line`]).
    fn rest(&mut self) -> Option<Bytes>;

    /// Write `out` within `timeout`, and clear it.
    fn flush(
        &mut self,
        out: &mut BytesMut,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ()>> + Send;

    /// Write one event's shared JSON line (for a door that [shares](Door::SHARES_JSON) them)
    /// as it is, within `timeout`: nothing else is waiting to be written.
    fn write_shared(
        &mut self,
        line: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), ()>> + Send;

    /// The last write before the connection is dropped.
    fn close(&mut self, out: &mut BytesMut, timeout: Duration) -> impl Future<Output = ()> + Send {
        async move {
            let _ = self.flush(out, timeout).await;
        }
    }
}

/// A TCP or TLS stream cut into lines (native, text and IRC doors).
pub(crate) struct Lines {
    stream: Box<Stream>,
    input: BytesMut,
    codec: LineCodec,
}

impl Lines {
    /// `input` holds the bytes already read while sniffing.
    pub(crate) fn new(stream: Box<Stream>, input: BytesMut, max_line_len: usize) -> Self {
        Self {
            stream,
            input,
            codec: LineCodec::new(max_line_len),
        }
    }
}

impl Wire for Lines {
    fn next_line(&mut self) -> Result<Option<Bytes>, Bad> {
        match self.codec.decode(&mut self.input) {
            Ok(line) => Ok(line),
            Err(CodecError::LineTooLong { max }) => Err(Bad::TooLong(max)),
            Err(_) => Err(Bad::Broken),
        }
    }

    async fn fill(&mut self) -> bool {
        matches!(read_more(&mut self.stream, &mut self.input).await, Ok(n) if n > 0)
    }

    fn rest(&mut self) -> Option<Bytes> {
        (!self.input.is_empty()).then(|| self.input.split().freeze())
    }

    async fn flush(&mut self, out: &mut BytesMut, timeout: Duration) -> Result<(), ()> {
        // The read buffer's storage goes while waiting: an idle connection holds none.
        release_if_empty(&mut self.input);
        flush(&mut self.stream, out, timeout).await.map_err(|_| ())
    }

    async fn write_shared(&mut self, line: Bytes, timeout: Duration) -> Result<(), ()> {
        write_shared(&mut self.stream, &line, timeout)
            .await
            .map_err(|_| ())
    }
}

/// Serve one client of `door` over `wire`, from its first line to its last.
#[allow(clippy::manual_async_fn)] // see the comment on the block: the size is the point
pub(crate) fn serve<'a, D: Door + 'a, W: Wire + 'a>(
    mut wire: W,
    mut door: D,
    hub: Hub,
    config: &'a ConnConfig,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'a {
    // An async block rather than an async fn: the block works on what it captured, where an
    // async fn would keep its arguments twice in the connection's long-lived state.
    async move {
        // Until the hello is done the user is not in the hub, so the shutdown token is watched
        // here; afterwards the hub's queue says it (Gone::Shutdown).
        let Some((session, mut inbox)) = (tokio::select! {
            done = Box::pin(hello(&mut wire, &mut door, &hub, config)) => done,
            () = shutdown.cancelled() => None,
        }) else {
            return;
        };
        door.welcomed(&session);
        let end = 'serve: loop {
            // Lines already received first: a client may send many in one packet.
            loop {
                match wire.next_line() {
                    Ok(Some(line)) => {
                        // Handled inside a boxed future: a line's parsed form would otherwise stay
                        // in every idle connection's state.
                        if let Flow::Quit(reason) = Box::pin(door.line(&session, &hub, line)).await
                        {
                            break 'serve End::Quit(reason);
                        }
                        // What the line made the hub tell this client (its own MODE, TOPIC, KICK)
                        // is queued already: render it before the replies to the next lines.
                        for event in inbox.try_recv_many(MAX_BATCH) {
                            door.event(&session, &event);
                        }
                    }
                    Ok(None) => break,
                    Err(Bad::TooLong(max)) => break 'serve End::LineTooLong(max),
                    Err(Bad::NotText) => door.not_text(),
                    Err(Bad::Broken) => break 'serve End::Closed,
                }
            }
            if wire.flush(door.out(), config.write_timeout).await.is_err() {
                return;
            }
            tokio::select! {
                biased;
                event = inbox.recv() => {
                    let event = match event {
                        Ok(event) => event,
                        Err(gone) => break End::Gone(gone),
                    };
                    let more = inbox.try_recv_many(MAX_BATCH - 1);
                if D::SHARES_JSON && more.is_empty() && door.out().is_empty() {
                    // The common case at chat rates: one event and nothing else to say. Its
                    // bytes are shared by every recipient: write them as they are, without a
                    // buffer or a copy.
                    if wire.write_shared(event.json(), config.write_timeout).await.is_err() {
                        return;
                    }
                } else {
                    door.event(&session, &event);
                    for event in more {
                        door.event(&session, &event);
                    }
                }
            }
            open = wire.fill() => {
                    if !open {
                        // A last line without its line end counts where the door says so.
                        if let Some(rest) = door.takes_unended_line().then(|| wire.rest()).flatten() {
                            let _ = Box::pin(door.line(&session, &hub, rest)).await;
                        }
                        break End::Closed;
                    }
                    session.heard();
                }
            }
        };
        door.end(&session, end);
        // Best effort: the goodbye may not fit if the client stopped reading.
        let short = config.write_timeout.min(Duration::from_secs(1));
        wire.close(door.out(), short).await;
        drop(session);
    }
}

/// The hello phase: lines to [`Door::hello`] until the client is a user, within the idle
/// timeout counted from the start.
async fn hello<D: Door, W: Wire>(
    wire: &mut W,
    door: &mut D,
    hub: &Hub,
    config: &ConnConfig,
) -> Option<(Session, Inbox)> {
    if let Some(user) = door.open(hub).await {
        return Some(user);
    }
    let deadline = tokio::time::Instant::now() + config.idle_timeout;
    let mut pending = D::Pending::default();
    loop {
        loop {
            let refusal = match wire.next_line() {
                Ok(Some(line)) => match door.hello(&mut pending, hub, line).await {
                    Hello::More => continue,
                    // What it was told is written by the session loop, first thing.
                    Hello::Welcome(session, inbox) => return Some((session, inbox)),
                    Hello::Refused => None,
                },
                Ok(None) => break,
                Err(Bad::TooLong(max)) => Some(Refusal::LineTooLong(max)),
                Err(Bad::NotText) => Some(Refusal::NotText),
                Err(Bad::Broken) => return None,
            };
            if let Some(why) = refusal {
                door.refused(why);
            }
            wire.close(door.out(), config.write_timeout).await;
            return None;
        }
        if wire.flush(door.out(), config.write_timeout).await.is_err() {
            return None;
        }
        match tokio::time::timeout_at(deadline, wire.fill()).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(_) => {
                door.refused(Refusal::TimedOut);
                wire.close(door.out(), config.write_timeout).await;
                return None;
            }
        }
    }
}
