//! `PUT /path` (`curl -T FILE URL`): the body streams into a temporary file beside the target
//! (prise-core's `AtomicFile`) on a blocking thread, and the file appears under its name only
//! once the whole body has arrived: a client that vanishes, stalls or sends too much leaves
//! nothing behind.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use prise_core::fs::AtomicFile;

use crate::path::resolve;
use crate::server::{error, page, App};

/// Where an upload may go, checked before any byte is read.
enum Place {
    /// A new file.
    New(PathBuf),
    /// Replacing a file (`--overwrite`).
    Replace(PathBuf),
    /// Not there: this status, and why.
    Refused(StatusCode, &'static str),
}

pub(crate) async fn put(app: &Arc<App>, req: Request, parts: Vec<String>) -> Response {
    if parts.is_empty() {
        return page(StatusCode::CONFLICT, "An upload needs a file name.");
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = app.config.max_upload;
    if declared.is_some_and(|n| n > max) {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Uploads are limited to {max} bytes."),
        );
    }
    let place = {
        let app = Arc::clone(app);
        tokio::task::spawn_blocking(move || {
            let Ok(target) = resolve(&app.root, &parts, false) else {
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
        })
        .await
    };
    let (target, replace) = match place {
        Ok(Place::New(t)) => (t, false),
        Ok(Place::Replace(t)) => (t, true),
        Ok(Place::Refused(status, text)) => return page(status, text),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR),
    };

    // The disk side: a blocking thread writes what the network side hands it.
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
    let mut body = req.into_body();
    let mut total = 0u64;
    let outcome: Result<(), Response> = loop {
        let frame = match tokio::time::timeout(app.config.body_timeout, body.frame()).await {
            Err(_) => break Err(page(StatusCode::REQUEST_TIMEOUT, "The upload stalled.")),
            Ok(None) => break Ok(()),
            Ok(Some(Err(_))) => break Err(page(StatusCode::BAD_REQUEST, "The upload was cut.")),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > max {
            break Err(page(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Uploads are limited to {max} bytes."),
            ));
        }
        if tx.send(data).await.is_err() {
            break Ok(()); // the writer failed: its error is below
        }
    };
    drop(tx);
    let written = writing.await;
    if let Err(response) = outcome {
        // Dropping the unfinished file removes it.
        drop(written);
        return response;
    }
    if declared.is_some_and(|n| n != total) {
        return page(StatusCode::BAD_REQUEST, "The upload was cut.");
    }
    let file = match written {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => return storage_error(&e),
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let committed = tokio::task::spawn_blocking(move || file.commit(replace)).await;
    match committed {
        Ok(Ok(())) => {}
        // Without --overwrite the rename refuses to replace: someone stored that name meanwhile.
        Ok(Err(_)) if !replace && target.exists() => {
            return page(
                StatusCode::CONFLICT,
                "A file with that name appeared meanwhile.",
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "upload failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The file could not be stored.",
            );
        }
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR),
    }
    tracing::debug!(path = %target.display(), bytes = total, "upload stored");
    if replace {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::CREATED, format!("{total} bytes stored\n")).into_response()
    }
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
