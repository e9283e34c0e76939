//! `prise http serve`: the accept loop, the request handler and the access log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prise_core::path::SafeRoot;
use prise_core::server::{serve, ServeOptions};
use prise_core::tls::ServerTls;
use prise_core::trace::TrafficLog;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::util::MapResponseLayer;
use tower::ServiceExt as _;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::compression::CompressionLayer;

use crate::auth::{Auth, Verdict};
use crate::listing::{self, Order};
use crate::path::{decode, resolve, Refused};
use crate::send::{Open, Wants};
use crate::Error;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder served.
    pub root: PathBuf,
    /// Serve and list names starting with `.`.
    pub hidden: bool,
    /// Follow symlinks that lead outside the folder.
    pub follow_symlinks: bool,
    /// TLS for every connection.
    pub tls: Option<ServerTls>,
    /// Traffic log.
    pub trace: Option<TrafficLog>,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time a client gets to send a request's headers.
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// Time in-flight requests get to finish on shutdown.
    pub grace: Duration,
    /// Accept `PUT /path` uploads.
    pub upload: bool,
    /// An upload may replace an existing file (otherwise 409).
    pub overwrite: bool,
    /// Largest upload, bytes (413 beyond).
    pub max_upload: u64,
    /// Longest silence in the middle of an upload's body (408 beyond).
    pub body_timeout: Duration,
    /// `USER:PASS` pairs for HTTP Basic authentication; none: no authentication.
    pub auth: Vec<String>,
    /// An htpasswd file of more users (bcrypt, SHA-crypt or Argon2 hashes).
    pub htpasswd: Option<PathBuf>,
    /// With `auth`, reads stay public and only uploads need a user.
    pub auth_uploads_only: bool,
    /// Answer cross-origin requests from any origin (CORS), preflights included.
    pub cors: bool,
    /// Headers added to every answer, as `Name: value`.
    pub headers: Vec<String>,
}

impl Config {
    /// Defaults for serving `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            hidden: false,
            follow_symlinks: false,
            tls: None,
            trace: None,
            max_connections: prise_core::server::MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            grace: Duration::from_secs(5),
            upload: false,
            overwrite: false,
            max_upload: 4 * 1024 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            auth: Vec::new(),
            htpasswd: None,
            auth_uploads_only: false,
            cors: false,
            headers: Vec::new(),
        }
    }
}

/// What every request sees.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) root: SafeRoot,
    pub(crate) auth: Auth,
    pub(crate) config: Config,
}

/// The client's address, put on each request.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Serve `config.root` on `listener` until `shutdown` is cancelled.
///
/// # Errors
/// [`Error::Core`] when the folder cannot be used, [`Error::Io`] when accepting fails.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    if !config.root.is_dir() {
        return Err(Error::Setup(format!(
            "{} is not a folder",
            config.root.display()
        )));
    }
    let root = SafeRoot::new(&config.root)?;
    let options = ServeOptions {
        // HTTP/2 when the client offers it, HTTP/1.1 otherwise.
        tls: config
            .tls
            .as_ref()
            .map(|tls| tls.with_alpn(&[b"h2", b"http/1.1"])),
        grace: config.grace,
        trace: config.trace.clone(),
        max_connections: config.max_connections,
        ..ServeOptions::new("http")
    };
    let header_timeout = config.header_timeout;
    let max_header = config.max_header_bytes;
    let hashed = match &config.htpasswd {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Setup(format!("reading {}: {e}", path.display())))?;
            crate::htpasswd::parse(&text)
                .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?
        }
        None => Vec::new(),
    };
    let auth = Auth::new(&config.auth, hashed).map_err(Error::Setup)?;
    if config.auth_uploads_only && !auth.enabled() {
        return Err(Error::Setup(
            "--auth-uploads-only needs users (--auth or --htpasswd)".into(),
        ));
    }
    let app = Arc::new(App { root, auth, config });
    // Inside out: the handler, compression (not for partial content), then the ETag of a
    // compressed answer made its own, then the access log, which sees what is sent.
    let compress = DefaultPredicate::new().and(
        |status: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| {
            status != StatusCode::PARTIAL_CONTENT && !headers.contains_key(header::CONTENT_RANGE)
        },
    );
    let extra = extra_headers(&app.config.headers)?;
    let cors = app.config.cors.then(|| {
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::POST,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::RANGE,
                header::IF_NONE_MATCH,
                header::IF_RANGE,
            ])
            .expose_headers([header::CONTENT_RANGE, header::ETAG, header::CONTENT_LENGTH])
    });
    let router = Router::new()
        .fallback(answer_request)
        .with_state(app)
        .layer(CompressionLayer::new().compress_when(compress))
        .layer(MapResponseLayer::new(etag_per_encoding))
        .layer(MapResponseLayer::new(move |mut response: Response| {
            for (name, value) in &extra {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            response
        }))
        .layer(tower::util::option_layer(cors))
        .layer(axum::middleware::from_fn(access_log));
    serve(listener, options, shutdown, move |conn| {
        let peer = conn.peer;
        let service = router
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req
            });
        async move {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(max_header.max(8192));
            builder.http2().timer(TokioTimer::new());
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(conn.stream),
                TowerToHyperService::new(service),
            );
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, cause = %e, "http connection ended");
                    }
                }
                () = conn.shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        }
    })
    .await?;
    Ok(())
}

/// `Name: value` strings as headers.
fn extra_headers(lines: &[String]) -> Result<Vec<(header::HeaderName, HeaderValue)>, Error> {
    lines
        .iter()
        .map(|line| {
            let parsed = line.split_once(':').and_then(|(name, value)| {
                Some((
                    header::HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
                    HeaderValue::from_str(value.trim()).ok()?,
                ))
            });
            parsed
                .ok_or_else(|| Error::Setup(format!("--header wants 'Name: value', got {line:?}")))
        })
        .collect()
}

/// One access-log line per request: client, method, target, status, bytes sent (`-` when the
/// body streams without a known length, as compressed bodies do), time to the answer's head.
async fn access_log(req: Request, next: axum::middleware::Next) -> Response {
    let started = Instant::now();
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let method = req.method().clone();
    let target = req.uri().to_string();
    let response = next.run(req).await;
    let bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            axum::body::HttpBody::size_hint(response.body())
                .exact()
                .map(|n| n.to_string())
        })
        .unwrap_or_else(|| "-".to_owned());
    tracing::info!(
        target: "prise::access",
        "{} {method} {target} {} {bytes} {:.1}ms",
        peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// A compressed answer is another representation: its ETag gets the encoding's name, so a
/// cache never takes one for the other.
fn etag_per_encoding(mut response: Response) -> Response {
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(encoding) = encoding {
        let tagged = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_suffix('"'))
            .map(|t| format!("{t}-{encoding}\""));
        if let Some(value) = tagged.and_then(|t| HeaderValue::from_str(&t).ok()) {
            response.headers_mut().insert(header::ETAG, value);
        }
    }
    response
}

/// Every request: decode and check the path, then a file, a folder's `index.html`, a listing or
/// an error page.
async fn answer_request(State(app): State<Arc<App>>, req: Request) -> Response {
    answer(&app, req).await
}

async fn answer(app: &Arc<App>, req: Request) -> Response {
    let write = req.method() == Method::PUT || req.method() == Method::POST;
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    let allowed = read || (write && app.config.upload);
    if !allowed {
        let allow = if app.config.upload {
            "GET, HEAD, PUT, POST"
        } else {
            "GET, HEAD"
        };
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, allow)],
            page(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("This server answers {allow}."),
            ),
        )
            .into_response();
    }
    if app.auth.enabled() && (write || !app.config.auth_uploads_only) {
        let ip = req.extensions().get::<Peer>().map(|p| p.0.ip());
        let verdict = {
            // Hashed passwords take milliseconds to check: off the runtime.
            let app = Arc::clone(app);
            let headers = req.headers().clone();
            tokio::task::spawn_blocking(move || app.auth.check(&headers))
                .await
                .unwrap_or(Verdict::Wrong)
        };
        match verdict {
            Verdict::User(_) => {
                if let Some(ip) = ip {
                    app.auth.succeeded(ip);
                }
            }
            verdict => {
                if verdict == Verdict::Wrong {
                    if let Some(ip) = ip {
                        tokio::time::sleep(app.auth.failed(ip)).await;
                    }
                }
                return (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        "Basic realm=\"prise\", charset=\"UTF-8\"",
                    )],
                    page(
                        StatusCode::UNAUTHORIZED,
                        "A user name and password are needed.",
                    ),
                )
                    .into_response();
            }
        }
    }
    let parts = match decode(req.uri().path(), app.config.hidden) {
        Ok(parts) => parts,
        Err(Refused::BadRequest) => return error(StatusCode::BAD_REQUEST),
        Err(Refused::NotFound) => return error(StatusCode::NOT_FOUND),
    };
    if req.method() == Method::PUT {
        return crate::upload::put(app, req, parts).await;
    }
    if write {
        return crate::upload::post(app, req, parts).await;
    }
    // Found on the spot, without a trip to the blocking pool (see `send`): the path, what it
    // is, the file to send (a folder's index.html) and a precompressed sibling the client takes.
    let Ok(path) = resolve(&app.root, &parts, app.config.follow_symlinks) else {
        return error(StatusCode::NOT_FOUND);
    };
    let Some(found) = Open::new(&path) else {
        return error(StatusCode::NOT_FOUND);
    };
    let is_dir = found.meta.is_dir();
    if is_dir && !req.uri().path().ends_with('/') {
        let mut location = format!("{}/", req.uri().path());
        if let Some(query) = req.uri().query() {
            location.push('?');
            location.push_str(query);
        }
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    let (name, file) = if is_dir {
        let mut index = parts.clone();
        index.push("index.html".to_owned());
        let index = resolve(&app.root, &index, app.config.follow_symlinks)
            .ok()
            .and_then(|path| Some((Open::new(&path)?, path)));
        match index {
            Some((open, path)) if open.meta.is_file() => (path, open),
            _ => return folder(app, req, path, &parts).await,
        }
    } else if found.meta.is_file() {
        (path, found)
    } else {
        return error(StatusCode::NOT_FOUND);
    };
    // A sibling only for a whole-file answer: a range is of the file itself.
    let sibling = if req.headers().contains_key(header::RANGE) {
        None
    } else {
        sibling(app, &name, &accepted_encodings(req.headers()))
    };
    let wants = Wants {
        head: req.method() == Method::HEAD,
        headers: req.headers(),
    };
    crate::send::answer(&wants, &name, file, sibling)
}

/// The encodings of precompressed siblings (`br`, `zstd`, `gzip`) that `Accept-Encoding`
/// allows, in our order of preference.
fn accepted_encodings(headers: &HeaderMap) -> Vec<&'static str> {
    let refused = |item: &str| {
        // `gzip;q=0` refuses gzip.
        item.split(';')
            .nth(1)
            .and_then(|q| q.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            == Some(0.0)
    };
    let accepted: Vec<String> = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|item| !refused(item))
        .map(|item| {
            item.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    ["br", "zstd", "gzip"]
        .into_iter()
        .filter(|e| accepted.iter().any(|a| a == e))
        .collect()
}

/// The first precompressed sibling of `path` (`app.js.br`, `.zst`, `.gz`) in one of
/// `encodings`, checked as the file itself is (a symlink out of the folder is not followed).
fn sibling(app: &App, path: &Path, encodings: &[&'static str]) -> Option<(Open, &'static str)> {
    let relative = path.strip_prefix(app.root.root()).ok()?.to_str()?;
    encodings.iter().find_map(|&encoding| {
        let extension = match encoding {
            "br" => "br",
            "zstd" => "zst",
            _ => "gz",
        };
        let parts: Vec<String> = format!("{relative}.{extension}")
            .split('/')
            .map(str::to_owned)
            .collect();
        let candidate = resolve(&app.root, &parts, app.config.follow_symlinks).ok()?;
        let open = Open::new(&candidate)?;
        open.meta.is_file().then_some((open, encoding))
    })
}

async fn folder(app: &Arc<App>, req: Request, path: PathBuf, parts: &[String]) -> Response {
    if req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "download=tar"))
    {
        let name = parts.last().cloned().unwrap_or_else(|| {
            path.file_name()
                .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned())
        });
        let rx = crate::archive::tar(
            path,
            name.clone(),
            app.root.root().to_owned(),
            app.config.hidden,
            app.config.follow_symlinks,
        );
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
        });
        let disposition = format!(
            "attachment; filename=\"{}.tar\"",
            name.replace(['"', '\\', '\r', '\n'], "_")
        );
        return (
            [
                (header::CONTENT_TYPE, "application/x-tar".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            Body::from_stream(stream),
        )
            .into_response();
    }
    let listed = {
        let app = Arc::clone(app);
        tokio::task::spawn_blocking(move || {
            let config = &app.config;
            listing::read(
                &path,
                app.root.root(),
                config.hidden,
                config.follow_symlinks,
            )
        })
        .await
    };
    let Ok(Ok(mut items)) = listed else {
        return error(StatusCode::FORBIDDEN);
    };
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let order = Order::from_query(req.uri().query());
    listing::sort(&mut items, order);
    let (kind, body) = if wants_json {
        ("application/json", listing::json(&items))
    } else {
        (
            "text/html; charset=utf-8",
            listing::html(parts, &items, order, app.config.upload),
        )
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::VARY, "Accept"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn page(status: StatusCode, text: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{}</p></body></html>\n",
            listing::escape(text)
        ),
    )
        .into_response()
}

pub(crate) fn error(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::NOT_FOUND => "Nothing here.",
        StatusCode::BAD_REQUEST => "That path is not one this server accepts.",
        _ => "",
    };
    page(status, text)
}
