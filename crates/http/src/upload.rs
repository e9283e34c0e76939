//! Uploads. `PUT /path` (`curl -T FILE URL`) stores the body; `POST /folder/` with
//! `multipart/form-data` (the listing's form, `curl -F file=@a -F file=@b`) stores each file
//! part, with the folders a whole-folder upload names; `POST /folder/` with `mkdir=NAME`
//! creates a folder.
//!
//! Every file streams into a temporary file beside its target (prise-core's `AtomicFile`) on a
//! blocking thread, and appears under its name only once complete: a client that vanishes,
//! stalls or sends too much leaves nothing behind.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use prise_core::fs::AtomicFile;

use crate::app::{error, page, App};
use crate::path::{components, resolve};

/// Where an upload may go, checked before any byte is read.
enum Place {
    /// A new file.
    New(PathBuf),
    /// Replacing a file (`--overwrite`).
    Replace(PathBuf),
    /// Not there: this status, and why.
    Refused(StatusCode, &'static str),
}

/// One file being received.
struct Upload {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    writing: tokio::task::JoinHandle<std::io::Result<AtomicFile>>,
    target: PathBuf,
    replace: bool,
    bytes: u64,
}

impl Upload {
    /// Check where `parts` leads (creating the folders on the way when `make_dirs`) and start
    /// the file.
    async fn begin(app: &Arc<App>, parts: Vec<String>, make_dirs: bool) -> Result<Self, Response> {
        let place = {
            let app = Arc::clone(app);
            tokio::task::spawn_blocking(move || place(&app, &parts, make_dirs)).await
        };
        let (target, replace) = match place {
            Ok(Place::New(t)) => (t, false),
            Ok(Place::Replace(t)) => (t, true),
            Ok(Place::Refused(status, text)) => return Err(page(status, text)),
            Err(_) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR)),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
        let writing = {
            let target = target.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<AtomicFile> {
                let mut file = AtomicFile::create(&target).map_err(std::io::Error::other)?;
                while let Some(bytes) = rx.blocking_recv() {
                    file.write_all(&bytes)?;
                }
                Ok(file)
            })
        };
        Ok(Self {
            tx,
            writing,
            target,
            replace,
            bytes: 0,
        })
    }

    /// Hand bytes to the writer. `false` when it has failed (its error comes from `finish`).
    async fn push(&mut self, data: Bytes) -> bool {
        self.bytes += data.len() as u64;
        self.tx.send(data).await.is_ok()
    }

    /// Wait for the writer and put the file in place.
    async fn finish(self) -> Result<(bool, u64), Response> {
        let Self {
            tx,
            writing,
            target,
            replace,
            bytes,
        } = self;
        drop(tx);
        let file = match writing.await {
            Ok(Ok(file)) => file,
            Ok(Err(e)) => return Err(storage_error(&e)),
            Err(_) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR)),
        };
        match tokio::task::spawn_blocking(move || file.commit(replace)).await {
            Ok(Ok(())) => {}
            // Without --overwrite the rename refuses to replace: someone stored it meanwhile.
            Ok(Err(_)) if !replace && target.exists() => {
                return Err(page(
                    StatusCode::CONFLICT,
                    "A file with that name appeared meanwhile.",
                ));
            }
            Ok(Err(e)) => {
                tracing::warn!(cause = %e, "upload failed");
                return Err(page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The file could not be stored.",
                ));
            }
            Err(_) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR)),
        }
        tracing::debug!(path = %target.display(), bytes, "upload stored");
        Ok((replace, bytes))
    }
}

/// Where `parts` may be written. Blocking.
fn place(app: &App, parts: &[String], make_dirs: bool) -> Place {
    if parts.is_empty() {
        return Place::Refused(StatusCode::CONFLICT, "An upload needs a file name.");
    }
    if make_dirs {
        for end in 1..parts.len() {
            let Ok(dir) = resolve(&app.root, &parts[..end], false) else {
                return Place::Refused(StatusCode::NOT_FOUND, "Nothing here.");
            };
            if !dir.is_dir() && std::fs::create_dir(&dir).is_err() {
                return Place::Refused(StatusCode::CONFLICT, "A folder could not be made there.");
            }
        }
    }
    let Ok(target) = resolve(&app.root, parts, false) else {
        return Place::Refused(StatusCode::NOT_FOUND, "Nothing here.");
    };
    if !target.parent().is_some_and(std::path::Path::is_dir) {
        return Place::Refused(StatusCode::CONFLICT, "That folder does not exist.");
    }
    match std::fs::symlink_metadata(&target) {
        Err(_) => Place::New(target),
        Ok(meta) if meta.is_file() && app.config.overwrite => Place::Replace(target),
        Ok(meta) if meta.is_file() => Place::Refused(
            StatusCode::CONFLICT,
            "A file with that name exists (the server was not started with --overwrite).",
        ),
        Ok(_) => Place::Refused(StatusCode::CONFLICT, "That name is taken by a folder."),
    }
}

fn too_large(max: u64) -> Response {
    page(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("Uploads are limited to {max} bytes."),
    )
}

/// `PUT /path`.
pub(crate) async fn put(app: Arc<App>, req: Request, parts: Vec<String>) -> Response {
    let app = &app;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = app.config.max_upload;
    if declared.is_some_and(|n| n > max) {
        return too_large(max);
    }
    let mut upload = match Upload::begin(app, parts, false).await {
        Ok(upload) => upload,
        Err(response) => return response,
    };
    let mut body = req.into_body();
    loop {
        let frame = match tokio::time::timeout(app.config.body_timeout, body.frame()).await {
            Err(_) => return page(StatusCode::REQUEST_TIMEOUT, "The upload stalled."),
            Ok(None) => break,
            Ok(Some(Err(_))) => return page(StatusCode::BAD_REQUEST, "The upload was cut."),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if upload.bytes + data.len() as u64 > max {
            return too_large(max); // dropping `upload` removes its temporary file
        }
        if !upload.push(data).await {
            break; // the writer failed: `finish` says why
        }
    }
    if declared.is_some_and(|n| n != upload.bytes) {
        return page(StatusCode::BAD_REQUEST, "The upload was cut.");
    }
    match upload.finish().await {
        Ok((true, _)) => StatusCode::NO_CONTENT.into_response(),
        Ok((false, bytes)) => {
            (StatusCode::CREATED, format!("{bytes} bytes stored\n")).into_response()
        }
        Err(response) => response,
    }
}

/// `POST /folder/`: files from a form, or a new folder.
pub(crate) async fn post(app: Arc<App>, req: Request, folder: Vec<String>) -> Response {
    let app = &app;
    let kind = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let browser = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let back = req.uri().path().to_owned();
    let exists = {
        let app = Arc::clone(app);
        let folder = folder.clone();
        tokio::task::spawn_blocking(move || {
            resolve(&app.root, &folder, false).is_ok_and(|dir| dir.is_dir())
        })
        .await
    };
    if !matches!(exists, Ok(true)) {
        return page(StatusCode::NOT_FOUND, "Post to a folder that exists.");
    }
    let done = if kind.starts_with("application/x-www-form-urlencoded") {
        mkdir(app, req, folder).await
    } else if let Ok(boundary) = multer::parse_boundary(&kind) {
        files(app, req, folder, boundary).await
    } else {
        return page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send files as multipart/form-data, or mkdir=NAME as a form.",
        );
    };
    match done {
        // A browser goes back to the listing, which now shows what it sent.
        Ok(_) if browser => (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response(),
        Ok(text) => (StatusCode::CREATED, text).into_response(),
        Err(response) => response,
    }
}

async fn mkdir(app: &Arc<App>, req: Request, folder: Vec<String>) -> Result<String, Response> {
    let body = match tokio::time::timeout(
        app.config.body_timeout,
        http_body_util::Limited::new(req.into_body(), 4096).collect(),
    )
    .await
    {
        Ok(Ok(body)) => body.to_bytes(),
        _ => return Err(page(StatusCode::BAD_REQUEST, "A short form was expected.")),
    };
    let name = form_urlencoded::parse(&body)
        .find(|(key, _)| key == "mkdir")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let Ok(name) = components(&name, app.config.hidden) else {
        return Err(page(StatusCode::BAD_REQUEST, "That is not a folder name."));
    };
    if name.len() != 1 {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "One folder name, without '/'.",
        ));
    }
    let mut parts = folder;
    parts.extend(name);
    let made = {
        let app = Arc::clone(app);
        tokio::task::spawn_blocking(move || {
            let dir = resolve(&app.root, &parts, false).map_err(|_| StatusCode::NOT_FOUND)?;
            std::fs::create_dir(&dir).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => StatusCode::CONFLICT,
                std::io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            })?;
            Ok::<_, StatusCode>(parts.join("/"))
        })
        .await
    };
    match made {
        Ok(Ok(path)) => Ok(format!("folder {path} made\n")),
        Ok(Err(StatusCode::CONFLICT)) => Err(page(StatusCode::CONFLICT, "That name is taken.")),
        Ok(Err(status)) => Err(error(status)),
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR)),
    }
}

async fn files(
    app: &Arc<App>,
    req: Request,
    folder: Vec<String>,
    boundary: String,
) -> Result<String, Response> {
    let max = app.config.max_upload;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(max.saturating_add(64 * 1024)));
    let mut form = multer::Multipart::with_constraints(
        req.into_body().into_data_stream(),
        boundary,
        constraints,
    );
    let mut stored = Vec::new();
    let mut total = 0u64;
    let timeout = app.config.body_timeout;
    loop {
        let field = match tokio::time::timeout(timeout, form.next_field()).await {
            Err(_) => return Err(page(StatusCode::REQUEST_TIMEOUT, "The upload stalled.")),
            Ok(Ok(Some(field))) => field,
            Ok(Ok(None)) => break,
            Ok(Err(multer::Error::StreamSizeExceeded { .. })) => return Err(too_large(max)),
            Ok(Err(_)) => {
                return Err(page(
                    StatusCode::BAD_REQUEST,
                    "The form was cut or malformed.",
                ))
            }
        };
        // Only file parts: a folder upload names each file with its path in the folder.
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        if name.is_empty() {
            continue; // an empty file input
        }
        // Relative names only: an absolute one is a client that means harm.
        let relative = components(&name, app.config.hidden)
            .ok()
            .filter(|_| !name.starts_with('/'));
        let Some(relative) = relative else {
            return Err(page(
                StatusCode::BAD_REQUEST,
                "A file name is not acceptable.",
            ));
        };
        let mut parts = folder.clone();
        parts.extend(relative.iter().cloned());
        let mut upload = Upload::begin(app, parts, true).await?;
        let mut field = field;
        loop {
            let chunk = match tokio::time::timeout(timeout, field.chunk()).await {
                Err(_) => return Err(page(StatusCode::REQUEST_TIMEOUT, "The upload stalled.")),
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => break,
                Ok(Err(multer::Error::StreamSizeExceeded { .. })) => return Err(too_large(max)),
                Ok(Err(_)) => return Err(page(StatusCode::BAD_REQUEST, "The upload was cut.")),
            };
            total += chunk.len() as u64;
            if total > max {
                return Err(too_large(max));
            }
            if !upload.push(chunk).await {
                break;
            }
        }
        let (_, bytes) = upload.finish().await?;
        stored.push(format!("{} ({bytes} bytes)", relative.join("/")));
    }
    if stored.is_empty() {
        return Err(page(StatusCode::BAD_REQUEST, "The form held no file."));
    }
    Ok(format!("stored {}\n", stored.join(", ")))
}

fn storage_error(e: &std::io::Error) -> Response {
    if e.raw_os_error() == Some(28) {
        // ENOSPC
        return page(
            StatusCode::INSUFFICIENT_STORAGE,
            "The server's disk is full.",
        );
    }
    tracing::warn!(cause = %e, "upload failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The file could not be stored.",
    )
}
