//! `prise http serve`: the accept loop, the request handler and the access log.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prise_core::path::SafeRoot;
use prise_core::server::{serve, ServeOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::compression::CompressionLayer;

pub use crate::app::Config;
use crate::app::{error, page, App};
use crate::auth::{Auth, Verdict};
use crate::listing::{self, Order};
use crate::path::{decode, resolve, Refused};
use crate::send::{Open, Wants};
use crate::Error;

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
    let auth = users(&config).map_err(Error::Setup)?;
    if config.auth_uploads_only && !auth.enabled() {
        return Err(Error::Setup(
            "--auth-uploads-only needs users (--auth or --htpasswd)".into(),
        ));
    }
    let root_dir = std::fs::File::open(root.root())
        .map_err(|e| Error::Setup(format!("opening {}: {e}", root.root().display())))?;
    let app = Arc::new(App {
        root,
        root_dir,
        auth_enabled: auth.enabled(),
        auth: std::sync::RwLock::new(Arc::new(auth)),
        config,
    });
    if let (Some(reload), Some(_)) = (&app.config.reload_users, &app.config.htpasswd) {
        let app = Arc::clone(&app);
        let reload = Arc::clone(reload);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = reload.notified() => reload_users(&app),
                }
            }
        });
    }
    // Inside out: the handler, compression (not for partial content), then the ETag of a
    // compressed answer made its own and the extra headers, then CORS, then the access log,
    // which sees what is sent.
    let compress = DefaultPredicate::new().and(
        |status: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| {
            status != StatusCode::PARTIAL_CONTENT && !headers.contains_key(header::CONTENT_RANGE)
        },
    );
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
    let extra = Arc::new(extra_headers(&app.config.headers)?);
    let compression = CompressionLayer::new().compress_when(compress);
    serve(listener, options, shutdown, move |conn| {
        let peer = conn.peer;
        let app = Arc::clone(&app);
        let extra = Arc::clone(&extra);
        // One stack per connection, plain tower services (no router, nothing boxed): the
        // client's address is captured, not looked up per request.
        let service = tower::ServiceBuilder::new()
            .layer_fn(move |inner| AccessLog { inner, peer })
            .option_layer(cors.clone())
            .map_response(move |response| finish(response, &extra))
            .layer_fn(|inner| Negotiate::new(inner, &compression))
            .service_fn(move |req: Request<hyper::body::Incoming>| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(answer(&app, peer, req.map(Body::new)).await) }
            });
        let mut stream = conn.stream;
        // Credentials stay out of the traffic log (HTTP/1 header lines).
        stream.set_redactor(prise_core::trace::redact_commands(&[
            "Authorization: ",
            "Proxy-Authorization: ",
        ]));
        async move {
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(max_header.max(8192));
            builder.http2().timer(TokioTimer::new());
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
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
/// With the log off (`-q`), requests pass through untouched.
#[derive(Debug, Clone)]
struct AccessLog<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, In, Out> tower::Service<Request<In>> for AccessLog<S>
where
    S: tower::Service<Request<In>, Response = Response<Out>, Error = Infallible>,
    S::Future: Send + 'static,
    Out: axum::body::HttpBody,
{
    type Response = Response<Out>;
    type Error = Infallible;
    type Future = futures_util::future::Either<
        S::Future,
        std::pin::Pin<Box<dyn Future<Output = Result<Response<Out>, Infallible>> + Send>>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<In>) -> Self::Future {
        if !tracing::enabled!(target: "prise::access", tracing::Level::INFO) {
            return futures_util::future::Either::Left(self.inner.call(req));
        }
        let started = Instant::now();
        let peer = self.peer;
        let method = req.method().clone();
        let target = req.uri().to_string();
        let answer = self.inner.call(req);
        futures_util::future::Either::Right(Box::pin(async move {
            let Ok(response) = answer.await;
            let bytes = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| response.body().size_hint().exact().map(|n| n.to_string()))
                .unwrap_or_else(|| "-".to_owned());
            tracing::info!(
                target: "prise::access",
                "{peer} {method} {target} {} {bytes} {:.1}ms",
                response.status().as_u16(),
                started.elapsed().as_secs_f64() * 1000.0
            );
            Ok(response)
        }))
    }
}

/// Compression only for requests that accept one of our encodings; the others go straight to
/// the handler.
///
/// Why not the compression layer for every request: its body type holds every encoder's state
/// inline, hundreds of bytes that each layer moves again, measured as the largest user-space
/// cost of a 1 KiB answer. A compressed answer's body is boxed once, right after the layer.
#[derive(Clone)]
struct Negotiate<S, P> {
    plain: S,
    compressed: tower_http::compression::Compression<S, P>,
}

impl<S: Clone, P: Clone> Negotiate<S, P> {
    fn new(inner: S, layer: &CompressionLayer<P>) -> Self
    where
        CompressionLayer<P>: tower::Layer<S, Service = tower_http::compression::Compression<S, P>>,
    {
        Self {
            compressed: tower::Layer::layer(layer, inner.clone()),
            plain: inner,
        }
    }
}

impl<S, P, B> tower::Service<Request<B>> for Negotiate<S, P>
where
    S: tower::Service<Request<B>, Response = Response, Error = Infallible>,
    tower_http::compression::Compression<S, P>: tower::Service<
        Request<B>,
        Response = Response<tower_http::compression::CompressionBody<Body>>,
        Error = Infallible,
    >,
    <tower_http::compression::Compression<S, P> as tower::Service<Request<B>>>::Future:
        Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<
        S::Future,
        std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.plain.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if accepted_encodings(req.headers()).is_empty() {
            return futures_util::future::Either::Left(self.plain.call(req));
        }
        // Both paths end in the same handler, which is always ready: `poll_ready` above
        // stands for both.
        let answer = self.compressed.call(req);
        futures_util::future::Either::Right(Box::pin(async move {
            let Ok(response) = answer.await;
            Ok(response.map(Body::new))
        }))
    }
}

/// What every answer gets last: the `--header` headers, and a compressed answer's ETag made its
/// own.
fn finish<B>(response: Response<B>, extra: &[(header::HeaderName, HeaderValue)]) -> Response<B> {
    let mut response = etag_per_encoding(response);
    for (name, value) in extra {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// A compressed answer is another representation: its ETag gets the encoding's name, so a
/// cache never takes one for the other.
fn etag_per_encoding<B>(mut response: Response<B>) -> Response<B> {
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

/// The users of `config`: `--auth` pairs and the htpasswd file, read now.
fn users(config: &Config) -> Result<Auth, String> {
    let hashed = match &config.htpasswd {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            crate::htpasswd::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    Auth::new(&config.auth, hashed)
}

/// Read the htpasswd file again (on SIGHUP). A file that cannot be read or parsed, or that
/// leaves no user at all, is refused: the users in place stay, and the log says why.
fn reload_users(app: &App) {
    match users(&app.config) {
        Ok(auth) if auth.enabled() => {
            if let Ok(mut current) = app.auth.write() {
                *current = Arc::new(auth);
                // A warning, like the certificate's reload: it shows at the default level.
                tracing::warn!("users reloaded from the htpasswd file");
            }
        }
        Ok(_) => tracing::error!("users not reloaded: the new file has no user; the old ones stay"),
        Err(e) => tracing::error!("users not reloaded: {e}; the old ones stay"),
    }
}

/// An answer: ready at once (files, errors), or a boxed future for what waits (password
/// checks, uploads, listings). The ready path has no async state to build and move.
type Answer = futures_util::future::Either<
    std::future::Ready<Response>,
    std::pin::Pin<Box<dyn Future<Output = Response> + Send>>,
>;

fn ready(response: Response) -> Answer {
    futures_util::future::Either::Left(std::future::ready(response))
}

fn later(future: std::pin::Pin<Box<dyn Future<Output = Response> + Send>>) -> Answer {
    futures_util::future::Either::Right(future)
}

/// Every request: the method, then the user if one is needed, then [`answer_checked`].
fn answer(app: &Arc<App>, peer: SocketAddr, req: Request) -> Answer {
    let write = req.method() == Method::PUT || req.method() == Method::POST;
    let read = req.method() == Method::GET || req.method() == Method::HEAD;
    let allowed = read || (write && app.config.upload);
    if !allowed {
        let allow = if app.config.upload {
            "GET, HEAD, PUT, POST"
        } else {
            "GET, HEAD"
        };
        return ready(
            (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, allow)],
                page(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("This server answers {allow}."),
                ),
            )
                .into_response(),
        );
    }
    if !(app.auth_enabled && (write || !app.config.auth_uploads_only)) {
        return answer_checked(app, req);
    }
    let app = Arc::clone(app);
    later(Box::pin(async move {
        let ip = peer.ip();
        let Ok(auth) = app.auth.read().map(|auth| Arc::clone(&auth)) else {
            return error(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let verdict = match auth.quick(req.headers()) {
            Some(verdict) => verdict,
            None => {
                // Hashed passwords take milliseconds to check: off the runtime.
                let auth = Arc::clone(&auth);
                let headers = req.headers().clone();
                tokio::task::spawn_blocking(move || auth.check(&headers))
                    .await
                    .unwrap_or(Verdict::Wrong)
            }
        };
        match verdict {
            Verdict::User(_) => {
                auth.succeeded(ip);
                let next = answer_checked(&app, req);
                next.await
            }
            verdict => {
                if verdict == Verdict::Wrong {
                    tokio::time::sleep(auth.failed(ip)).await;
                }
                (
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
                    .into_response()
            }
        }
    }))
}

/// A request allowed through: decode and check the path, then an upload, a file, a folder's
/// `index.html`, a listing or an error page.
fn answer_checked(app: &Arc<App>, req: Request) -> Answer {
    let parts = match decode(req.uri().path(), app.config.hidden) {
        Ok(parts) => parts,
        Err(Refused::BadRequest) => return ready(error(StatusCode::BAD_REQUEST)),
        Err(Refused::NotFound) => return ready(error(StatusCode::NOT_FOUND)),
    };
    if req.method() == Method::PUT {
        let app = Arc::clone(app);
        return later(Box::pin(crate::upload::put(app, req, parts)));
    }
    if req.method() == Method::POST {
        let app = Arc::clone(app);
        return later(Box::pin(crate::upload::post(app, req, parts)));
    }
    // Found on the spot, without a trip to the blocking pool (see `send`): the path, what it
    // is, the file to send (a folder's index.html) and a precompressed sibling the client takes.
    let Some((path, found)) = open_in(app, &parts) else {
        return ready(error(StatusCode::NOT_FOUND));
    };
    let is_dir = found.meta.is_dir();
    if is_dir && !req.uri().path().ends_with('/') {
        let mut location = format!("{}/", req.uri().path());
        if let Some(query) = req.uri().query() {
            location.push('?');
            location.push_str(query);
        }
        return ready(
            (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response(),
        );
    }
    let (name, file) = if is_dir {
        let mut index = parts.clone();
        index.push("index.html".to_owned());
        match open_in(app, &index) {
            Some((path, open)) if open.meta.is_file() => (path, open),
            _ => {
                let app = Arc::clone(app);
                return later(Box::pin(folder_owned(app, req, path, parts)));
            }
        }
    } else if found.meta.is_file() {
        (path, found)
    } else {
        return ready(error(StatusCode::NOT_FOUND));
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
    ready(crate::send::answer(&wants, &name, file, sibling))
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
    // Which of ours the header names, without copying it (this runs for every request).
    let mut accepted = [false; 3];
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|item| !refused(item))
    {
        let name = item.split(';').next().unwrap_or_default().trim();
        if let Some(i) = OURS.iter().position(|e| name.eq_ignore_ascii_case(e)) {
            accepted[i] = true;
        }
    }
    OURS.into_iter()
        .zip(accepted)
        .filter_map(|(e, yes)| yes.then_some(e))
        .collect()
}

/// The encodings of precompressed siblings, in our order of preference.
const OURS: [&str; 3] = ["br", "zstd", "gzip"];

/// Open what `parts` names under the served folder, and its path.
///
/// Without `--follow-symlinks`, one `openat2` with `RESOLVE_BENEATH` from the folder's open
/// handle does what [`resolve`] does with a `lstat` per component: the kernel refuses any step
/// out of the folder, and nothing can swap a component between the check and the open. The
/// kernel also refuses absolute symlinks, even ones that lead back inside; for those (and on
/// kernels older than 5.6) the path is checked by [`resolve`] and opened after.
fn open_in(app: &App, parts: &[String]) -> Option<(PathBuf, Open)> {
    use rustix::fs::OFlags;
    let joined = parts.join("/");
    let path = app.root.root().join(&joined);
    if app.config.follow_symlinks {
        return Some((path.clone(), Open::new(&path)?));
    }
    match prise_core::path::open_beneath(
        &app.root_dir,
        &joined,
        // Non-blocking: a named pipe opens at once (and is then refused as not a file).
        OFlags::RDONLY | OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => Some((path, Open::from_file(std::fs::File::from(fd))?)),
        Err(e) if e == rustix::io::Errno::XDEV || e == rustix::io::Errno::NOSYS => {
            let path = resolve(&app.root, parts, false).ok()?;
            Some((path.clone(), Open::new(&path)?))
        }
        Err(_) => None,
    }
}

/// The first precompressed sibling of `path` (`app.js.br`, `.zst`, `.gz`) in one of
/// `encodings`, checked as the file itself is (a symlink out of the folder is not followed).
fn sibling(app: &App, path: &Path, encodings: &[&'static str]) -> Option<(Open, &'static str)> {
    if encodings.is_empty() {
        return None;
    }
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
        let (_, open) = open_in(app, &parts)?;
        open.meta.is_file().then_some((open, encoding))
    })
}

async fn folder_owned(app: Arc<App>, req: Request, path: PathBuf, parts: Vec<String>) -> Response {
    folder(&app, req, path, &parts).await
}

async fn folder(app: &Arc<App>, req: Request, path: PathBuf, parts: &[String]) -> Response {
    if let Some(format) = crate::archive::Format::from_query(req.uri().query()) {
        let name = parts.last().cloned().unwrap_or_else(|| {
            path.file_name()
                .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned())
        });
        let rx = crate::archive::archive(
            format,
            crate::archive::Source {
                dir: path,
                name: name.clone(),
                root: app.root.root().to_owned(),
                hidden: app.config.hidden,
                follow_symlinks: app.config.follow_symlinks,
            },
        );
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
        });
        let disposition = format!(
            "attachment; filename=\"{}.{}\"",
            name.replace(['"', '\\', '\r', '\n'], "_"),
            format.extension()
        );
        return (
            [
                (header::CONTENT_TYPE, format.mime().to_owned()),
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
