//! The browser front door (`prise chat serve --web ADDR`): the web client's three files, embedded
//! in the binary, and a WebSocket at `/ws` that carries the native protocol, one JSON object per
//! text message, to the same hub as every other door.
//!
//! - The page is HTML, CSS and JavaScript from `web/`, served as they are (no build step, no
//!   CDN, nothing fetched at run time), with a Content-Security-Policy that allows only them:
//!   no inline script, no other origin. The script renders every message as text.
//! - The upgrade checks `Origin`: a page of another site must not open a chat session in the
//!   name of a user who visits it (cross-site WebSocket hijacking). Same-origin pages are
//!   allowed, and so are the origins given with `--web-origin`; clients that send no `Origin`
//!   (not browsers) are allowed too.
//! - Limits are the native door's: a message is at most the line limit, flood control, the
//!   keepalive ping, and the slow-reader rule.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt as _;
use tokio_util::sync::CancellationToken;

use crate::conn::ConnConfig;
use crate::door::{Bad, Wire};
use crate::hub::Hub;
use crate::native::NativeConn;

const INDEX: &str = include_str!("../../../web/index.html");
const APP: &str = include_str!("../../../web/app.js");
const STYLE: &str = include_str!("../../../web/style.css");

/// What the page may load and talk to: itself only.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                       img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Clone)]
struct Web {
    hub: Hub,
    conn: Arc<ConnConfig>,
    origins: Arc<[String]>,
    /// The door listens on a loopback or private address: see [`origin_allowed`].
    guard_names: bool,
    shutdown: CancellationToken,
}

/// The routes of the web door.
pub(crate) fn router(
    hub: Hub,
    conn: Arc<ConnConfig>,
    origins: &[String],
    local: std::net::IpAddr,
    shutdown: CancellationToken,
) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(APP, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/ws", get(upgrade))
        .route(
            "/session",
            get(session_get).post(session_post).delete(session_delete),
        )
        .with_state(Web {
            hub,
            conn,
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_owned())
                .collect(),
            guard_names: is_local(local),
            shutdown,
        })
}

fn page(body: &'static str, kind: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Loopback and private addresses: what DNS rebinding aims at.
fn is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local()
        }
    }
}

/// Whether a WebSocket upgrade with these headers may go on: no `Origin` (not a browser), the
/// page's own origin (its host and port are the `Host` the browser asked), or one allowed by
/// name (`*` allows all).
///
/// With `guard_names` (a door on a loopback or private address), the page's own origin counts
/// only when the browser reached it by address or as `localhost`: a page of `evil.example`
/// whose name was rebound to 127.0.0.1 has `Host: evil.example`, which would otherwise look
/// like its own origin (DNS rebinding). A name such a server is really reached by is given
/// with `--web-origin`.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String], guard_names: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same = match origin.split_once("://") {
        Some(("http" | "https", rest)) => !host.is_empty() && rest.eq_ignore_ascii_case(host),
        _ => false,
    };
    if !same || !guard_names {
        return same;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.parse::<std::net::IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost")
}

/// A web door's client (an extension of its requests): its address, and whether it came over
/// TLS (then the session cookie is `Secure`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    pub(crate) ip: std::net::IpAddr,
    pub(crate) tls: bool,
}

/// The session cookie's name.
const COOKIE: &str = "prise_session";

/// Longest `POST /session` body.
const MAX_SESSION_BODY: usize = 1024;

/// The session token in the request's cookies, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

/// A JSON answer of the session endpoints, never cached.
fn session_answer(
    status: StatusCode,
    body: &serde_json::Value,
    cookie: Option<String>,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `Set-Cookie` for a session token (`None`: the cookie is removed). HttpOnly: the page's
/// script never reads it; SameSite=Strict: no other site's page sends it.
fn set_cookie(token: Option<&str>, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    match token {
        Some(token) => format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            crate::accounts::SESSION_TTL.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// `GET /session`: the account the session cookie logs in to, or `null`.
async fn session_get(State(web): State<Web>, headers: HeaderMap) -> Response {
    let account = match (session_cookie(&headers), web.hub.config().accounts.clone()) {
        (Some(token), Some(accounts)) => {
            tokio::task::spawn_blocking(move || accounts.session_blocking(&token).ok().flatten())
                .await
                .ok()
                .flatten()
                .map(|a| a.name)
        }
        _ => None,
    };
    session_answer(
        StatusCode::OK,
        &serde_json::json!({ "account": account }),
        None,
    )
}

/// `POST /session` with `{"token": ...}`, a token from a native `login` or `register` with
/// `session`: the token becomes the HttpOnly cookie, so the page keeps no secret of its own.
async fn session_post(
    State(web): State<Web>,
    axum::Extension(peer): axum::Extension<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |status, code: &str, text: &str| {
        session_answer(
            status,
            &serde_json::json!({ "code": code, "text": text }),
            None,
        )
    };
    if !origin_allowed(&headers, &web.origins, web.guard_names) {
        return refuse(
            StatusCode::FORBIDDEN,
            "bad_origin",
            "another site's page may not log in here",
        );
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json || body.len() > MAX_SESSION_BODY {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"token\": ...} as JSON, at most 1 KiB",
        );
    }
    let token = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned));
    let (Some(token), Some(accounts)) = (token, web.hub.config().accounts.clone()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"token\": ...} as JSON",
        );
    };
    match accounts.resume(peer.ip, &token).await {
        Ok(account) => session_answer(
            StatusCode::OK,
            &serde_json::json!({ "account": account.name }),
            Some(set_cookie(Some(&token), peer.tls)),
        ),
        Err(e) => {
            tokio::time::sleep(crate::accounts::FAILED_LOGIN_DELAY).await;
            refuse(StatusCode::UNAUTHORIZED, e.code(), &e.to_string())
        }
    }
}

/// `DELETE /session`: log out; the session ends and the cookie goes.
async fn session_delete(
    State(web): State<Web>,
    axum::Extension(peer): axum::Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    if !origin_allowed(&headers, &web.origins, web.guard_names) {
        return session_answer(
            StatusCode::FORBIDDEN,
            &serde_json::json!({ "code": "bad_origin", "text": "another site's page may not log out here" }),
            None,
        );
    }
    if let (Some(token), Some(accounts)) =
        (session_cookie(&headers), web.hub.config().accounts.clone())
    {
        let _ = accounts.close_session(&token).await;
    }
    session_answer(
        StatusCode::OK,
        &serde_json::json!({ "account": null }),
        Some(set_cookie(None, peer.tls)),
    )
}

async fn upgrade(
    State(web): State<Web>,
    axum::Extension(peer): axum::Extension<Peer>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &web.origins, web.guard_names) {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .unwrap_or("?");
        tracing::warn!(%origin, "web chat: WebSocket from another origin refused");
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open a chat session here (see --web-origin)\n",
        )
            .into_response();
    }
    // The session cookie logs the connection in from its first line.
    let account = match (session_cookie(&headers), web.hub.config().accounts.clone()) {
        (Some(token), Some(accounts)) => {
            accounts.resume(peer.ip, &token).await.ok().map(|a| a.name)
        }
        _ => None,
    };
    let limit = web.conn.max_line_len;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(socket, web, peer.ip, account))
}

/// A WebSocket as a [`Wire`]: each text message is one line of the native protocol.
struct Socket {
    socket: WebSocket,
    /// The message received and not yet taken as a line.
    received: Option<Result<Bytes, Bad>>,
}

impl Wire for Socket {
    fn next_line(&mut self) -> Result<Option<Bytes>, Bad> {
        self.received.take().transpose()
    }

    async fn fill(&mut self) -> bool {
        match self.socket.recv().await {
            Some(Ok(Message::Text(text))) => self.received = Some(Ok(Bytes::from(text))),
            Some(Ok(Message::Binary(_))) => self.received = Some(Err(Bad::NotText)),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_)) | Err(_)) | None => return false,
        }
        true
    }

    fn rest(&mut self) -> Option<Bytes> {
        None
    }

    /// Every line waiting in `out` as one text message each.
    async fn flush(&mut self, out: &mut BytesMut, timeout: Duration) -> Result<(), ()> {
        if out.is_empty() {
            return Ok(());
        }
        let all = out.split().freeze();
        let socket = &mut self.socket;
        let sending = async {
            for line in all.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let text = Utf8Bytes::try_from(all.slice_ref(line)).map_err(|_| ())?;
                socket.feed(Message::Text(text)).await.map_err(|_| ())?;
            }
            socket.flush().await.map_err(|_| ())
        };
        tokio::time::timeout(timeout, sending)
            .await
            .map_err(|_| ())?
    }

    /// The event's shared line as a text message, without a copy.
    async fn write_shared(&mut self, line: Bytes, timeout: Duration) -> Result<(), ()> {
        let Some(message) = event_message(line) else {
            return Ok(());
        };
        match tokio::time::timeout(timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    async fn close(&mut self, out: &mut BytesMut, timeout: Duration) {
        let _ = self.flush(out, timeout).await;
        let _ = tokio::time::timeout(timeout, self.socket.send(Message::Close(None))).await;
    }
}

/// One shared event line (with its `\n`) as a text message, without a copy.
fn event_message(line: Bytes) -> Option<Message> {
    let text = line
        .strip_suffix(b"\n")
        .map_or(line.clone(), |t| line.slice_ref(t));
    Utf8Bytes::try_from(text).ok().map(Message::Text)
}

/// Serve one WebSocket: the native protocol, as over TCP.
async fn serve(socket: WebSocket, web: Web, peer: std::net::IpAddr, account: Option<String>) {
    let wire = Socket {
        socket,
        received: None,
    };
    let mut conn = NativeConn::new(&web.conn, true, peer, None);
    conn.preauth = account.map(String::into_boxed_str);
    crate::door::serve(wire, conn, web.hub, &web.conn, web.shutdown).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn dns_rebinding_is_refused_on_a_local_door() {
        let none: Vec<String> = Vec::new();
        let rebound = headers(Some("http://evil.example:8080"), "evil.example:8080");
        assert!(origin_allowed(&rebound, &none, false));
        assert!(!origin_allowed(&rebound, &none, true));
        for (origin, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://localhost:8080", "localhost:8080"),
            ("http://[::1]:8080", "[::1]:8080"),
        ] {
            assert!(
                origin_allowed(&headers(Some(origin), host), &none, true),
                "{origin}"
            );
        }
        let named = vec!["http://chat.lan:8080".to_owned()];
        assert!(origin_allowed(
            &headers(Some("http://chat.lan:8080"), "chat.lan:8080"),
            &named,
            true
        ));
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(is_local("192.168.1.4".parse().unwrap()));
        assert!(!is_local("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn origins_same_named_or_absent_pass() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed(
            &headers(None, "127.0.0.1:8080"),
            &none,
            false
        ));
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &none,
            false
        ));
        assert!(origin_allowed(
            &headers(Some("https://Chat.Example.org"), "chat.example.org"),
            &none,
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "127.0.0.1:8080"),
            &none,
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("http://127.0.0.1:9999"), "127.0.0.1:8080"),
            &none,
            false
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "127.0.0.1:8080"),
            &none,
            false
        ));
        let named = vec!["https://app.example.org".to_owned()];
        assert!(origin_allowed(
            &headers(Some("https://app.example.org"), "127.0.0.1:8080"),
            &named,
            false
        ));
        assert!(origin_allowed(
            &headers(Some("http://anything"), "x"),
            &["*".to_owned()],
            false
        ));
    }
}
