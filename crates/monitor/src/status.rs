//! The status server (`--status ADDR`): a page people read, a JSON API, Prometheus `/metrics`
//! and SVG badges, all from the [`Board`] and the [`History`].
//!
//! - `/`: each check's state, uptime over 24 h, 7 d and 30 d, last response time and error,
//!   a response-time chart drawn as SVG by the server (no script), and the last incidents.
//! - `/api/checks`, `/api/incidents`: the same as JSON.
//! - `/metrics`: `prise_monitor_up`, `prise_monitor_degraded`, `prise_monitor_response_seconds`,
//!   `prise_monitor_runs_total`, `prise_monitor_failed_runs_total`, per check.
//! - `/badge/NAME.svg`: a badge with the check's state.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use prise_core::server::{serve, ServeOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::board::{now, Board, Status};
use crate::history::History;

#[derive(Debug, Clone)]
struct App {
    board: Arc<Board>,
    history: Option<Arc<History>>,
}

/// Serve the status pages on `listener` until `shutdown`.
///
/// # Errors
/// When accepting fails.
pub async fn run(
    listener: TcpListener,
    board: Arc<Board>,
    history: Option<Arc<History>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/", get(page))
        .route("/api/checks", get(api_checks))
        .route("/api/incidents", get(api_incidents))
        .route("/metrics", get(metrics))
        .route("/badge/{name}", get(badge))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(App { board, history });
    serve(
        listener,
        ServeOptions::new("monitor"),
        shutdown,
        move |conn| {
            let service = TowerToHyperService::new(router.clone());
            async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let connection = builder.serve_connection(TokioIo::new(conn.stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    _ = connection.as_mut() => {}
                    () = conn.shutdown.cancelled() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            }
        },
    )
    .await
}

/// A check's status with its uptime.
#[derive(serde::Serialize)]
struct Row {
    #[serde(flatten)]
    status: Status,
    uptime_24h: Option<f64>,
    uptime_7d: Option<f64>,
    uptime_30d: Option<f64>,
}

async fn rows(app: &App) -> Vec<Row> {
    let statuses = app.board.snapshot();
    let history = app.history.clone();
    tokio::task::spawn_blocking(move || {
        let now = now();
        statuses
            .into_iter()
            .map(|status| {
                let uptime = |secs: u64| {
                    history
                        .as_ref()
                        .and_then(|h| h.uptime(&status.name, now.saturating_sub(secs)))
                };
                Row {
                    uptime_24h: uptime(86_400),
                    uptime_7d: uptime(7 * 86_400),
                    uptime_30d: uptime(30 * 86_400),
                    status,
                }
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn api_checks(State(app): State<App>) -> Response {
    json(&rows(&app).await)
}

async fn api_incidents(State(app): State<App>) -> Response {
    let history = app.history.clone();
    let incidents =
        tokio::task::spawn_blocking(move || history.map(|h| h.incidents(100)).unwrap_or_default())
            .await
            .unwrap_or_default();
    json(&incidents)
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(app): State<App>) -> Response {
    let mut out = String::new();
    let statuses = app.board.snapshot();
    let _ = writeln!(out, "# HELP prise_monitor_up Whether the check is up (1), down (0); absent before its first run.");
    let _ = writeln!(out, "# TYPE prise_monitor_up gauge");
    for s in statuses.iter().filter(|s| s.state != "pending") {
        let _ = writeln!(
            out,
            "prise_monitor_up{{check=\"{}\"}} {}",
            label(&s.name),
            u8::from(s.state != "down")
        );
    }
    let _ = writeln!(
        out,
        "# HELP prise_monitor_degraded Whether the check is up but failing a warning condition."
    );
    let _ = writeln!(out, "# TYPE prise_monitor_degraded gauge");
    for s in statuses.iter().filter(|s| s.state != "pending") {
        let _ = writeln!(
            out,
            "prise_monitor_degraded{{check=\"{}\"}} {}",
            label(&s.name),
            u8::from(s.state == "degraded")
        );
    }
    let _ = writeln!(
        out,
        "# HELP prise_monitor_response_seconds The last run's time to the answer."
    );
    let _ = writeln!(out, "# TYPE prise_monitor_response_seconds gauge");
    for s in &statuses {
        if let Some(run) = s.recent.back() {
            let _ = writeln!(
                out,
                "prise_monitor_response_seconds{{check=\"{}\"}} {}",
                label(&s.name),
                run.millis / 1000.0
            );
        }
    }
    let _ = writeln!(out, "# HELP prise_monitor_runs_total Runs of the check.");
    let _ = writeln!(out, "# TYPE prise_monitor_runs_total counter");
    for s in &statuses {
        let _ = writeln!(
            out,
            "prise_monitor_runs_total{{check=\"{}\"}} {}",
            label(&s.name),
            s.runs
        );
    }
    let _ = writeln!(
        out,
        "# HELP prise_monitor_failed_runs_total Failed runs of the check."
    );
    let _ = writeln!(out, "# TYPE prise_monitor_failed_runs_total counter");
    for s in &statuses {
        let _ = writeln!(
            out,
            "prise_monitor_failed_runs_total{{check=\"{}\"}} {}",
            label(&s.name),
            s.failed_runs
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

async fn badge(State(app): State<App>, Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".svg") else {
        return (StatusCode::NOT_FOUND, "badges end in .svg\n").into_response();
    };
    let Some(status) = app.board.snapshot().into_iter().find(|s| s.name == name) else {
        return (StatusCode::NOT_FOUND, "no such check\n").into_response();
    };
    let color = match status.state {
        "up" => "#2e7d32",
        "degraded" => "#ef6c00",
        "down" => "#c62828",
        _ => "#757575",
    };
    // Roughly 7 px per character of Verdana 11.
    let left = 10 + 7 * name.chars().count();
    let right = 10 + 7 * status.state.len();
    let total = left + right;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" \
         aria-label=\"{name}: {state}\"><title>{name}: {state}</title>\
         <rect width=\"{left}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{color}\"/>\
         <g fill=\"#fff\" font-family=\"Verdana,sans-serif\" font-size=\"11\">\
         <text x=\"5\" y=\"14\">{name}</text><text x=\"{x}\" y=\"14\">{state}</text></g></svg>",
        name = escape(name),
        state = status.state,
        x = left + 5,
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        svg,
    )
        .into_response()
}

/// Text for HTML and SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The last runs' response times as a small SVG line, failed runs as red marks.
fn chart(status: &Status) -> String {
    const W: f64 = 240.0;
    const H: f64 = 40.0;
    let runs: Vec<_> = status.recent.iter().collect();
    if runs.is_empty() {
        return String::new();
    }
    let top = runs.iter().map(|r| r.millis).fold(1.0_f64, f64::max);
    #[allow(clippy::cast_precision_loss)] // at most RECENT points
    let step = W / (crate::board::RECENT as f64 - 1.0);
    let mut points = String::new();
    let mut marks = String::new();
    for (i, run) in runs.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = i as f64 * step;
        let y = H - 2.0 - (run.millis / top) * (H - 4.0);
        let _ = write!(points, "{x:.1},{y:.1} ");
        if !run.ok {
            let _ = write!(
                marks,
                "<rect x=\"{:.1}\" y=\"0\" width=\"2\" height=\"{H}\" fill=\"#c62828\"/>",
                x - 1.0
            );
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-label=\"response times, highest {top:.0} ms\">{marks}\
         <polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        points.trim_end()
    )
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_owned(), |s| format!("{:.2}%", s * 100.0))
}

async fn page(State(app): State<App>) -> Response {
    let rows = rows(&app).await;
    let history = app.history.clone();
    let incidents =
        tokio::task::spawn_blocking(move || history.map(|h| h.incidents(20)).unwrap_or_default())
            .await
            .unwrap_or_default();
    let mut html = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"30\"><title>Status</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em auto;max-width:64em;padding:0 1em}\
         table{border-collapse:collapse;width:100%}td,th{padding:.4em .6em;text-align:left;\
         border-bottom:1px solid #ddd;vertical-align:middle}.up{color:#2e7d32}.down{color:#c62828}\
         .degraded{color:#ef6c00}.pending{color:#757575}.error{color:#555;font-size:.9em}</style></head><body>\
         <h1>Status</h1>\n<table><tr><th>Check</th><th>State</th><th>24 h</th><th>7 d</th>\
         <th>30 d</th><th>Last answer</th><th>Response times</th></tr>\n",
    );
    for row in &rows {
        let s = &row.status;
        let last = s
            .recent
            .back()
            .map_or_else(|| "–".to_owned(), |r| format!("{:.0} ms", r.millis));
        let _ = writeln!(
            html,
            "<tr><td>{name}<div class=\"error\">{error}</div></td><td class=\"{state}\">{state}</td>\
             <td>{d1}</td><td>{d7}</td><td>{d30}</td><td>{last}</td><td>{chart}</td></tr>",
            name = escape(&s.name),
            error = escape(s.error.as_deref().unwrap_or("")),
            state = s.state,
            d1 = percent(row.uptime_24h),
            d7 = percent(row.uptime_7d),
            d30 = percent(row.uptime_30d),
            chart = chart(s),
        );
    }
    html.push_str("</table>\n<h2>Incidents</h2>\n<ul>\n");
    if incidents.is_empty() {
        html.push_str("<li>None recorded.</li>\n");
    }
    for incident in &incidents {
        let when = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(incident.time),
        );
        let _ = writeln!(
            html,
            "<li>{when}: {} {}{}</li>",
            escape(&incident.check),
            escape(&incident.event),
            if incident.error.is_empty() {
                String::new()
            } else {
                format!(" ({})", escape(&incident.error))
            }
        );
    }
    html.push_str("</ul>\n</body></html>\n");
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if let Ok(value) = "default-src 'none'; style-src 'unsafe-inline'; img-src data:".parse() {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
