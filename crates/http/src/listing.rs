//! Folder listings: an HTML page (sortable by name, size or date, with breadcrumbs) and JSON
//! for `Accept: application/json`. Names are escaped for HTML and percent-encoded in links:
//! a file called `<script>` is shown as text.

use std::path::Path;
use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;

/// What a link's path component must encode.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\'')
    .add(b'/')
    .add(b'\\')
    .add(b'&');

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its name.
    pub name: String,
    /// Whether it is a folder.
    pub dir: bool,
    /// Bytes (0 for a folder).
    pub size: u64,
    /// Last modification.
    pub modified: Option<SystemTime>,
}

/// The order of a listing, from the query string (`?sort=size&order=desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Order {
    /// By what.
    pub key: Key,
    /// Largest, newest or last name first.
    pub descending: bool,
}

/// What a listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Key {
    /// Folders first, then by name.
    #[default]
    Name,
    /// By size.
    Size,
    /// By modification time.
    Date,
}

impl Order {
    /// From the query string's `sort` and `order`; anything else is the default.
    pub fn from_query(query: Option<&str>) -> Self {
        let mut order = Self::default();
        for pair in query.unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some(("sort", "size")) => order.key = Key::Size,
                Some(("sort", "date")) => order.key = Key::Date,
                Some(("order", "desc")) => order.descending = true,
                _ => {}
            }
        }
        order
    }
}

/// The entries of `dir`, folders first then by name; hidden ones only with `hidden`. Entries
/// whose name is not UTF-8, that cannot be read (a dangling symlink), or that are symlinks
/// leading outside `root` (unless `follow_symlinks`) are left out. Blocking.
///
/// # Errors
/// When the folder cannot be read.
pub fn read(
    dir: &Path,
    root: &Path,
    hidden: bool,
    follow_symlinks: bool,
) -> std::io::Result<Vec<Item>> {
    let mut items = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') && !hidden {
            continue;
        }
        let link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if link && !follow_symlinks {
            let inside = std::fs::canonicalize(entry.path()).is_ok_and(|t| t.starts_with(root));
            if !inside {
                continue;
            }
        }
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        // Pipes, sockets and devices are not files to download (and a pipe's open would wait
        // for a writer).
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        items.push(Item {
            name,
            dir: meta.is_dir(),
            size: if meta.is_dir() { 0 } else { meta.len() },
            modified: meta.modified().ok(),
        });
    }
    sort(&mut items, Order::default());
    Ok(items)
}

/// Sort `items` by `order`; folders always come first.
pub fn sort(items: &mut [Item], order: Order) {
    // Folders first; then the key, reversed if asked; ties by name, A to Z.
    items.sort_by(|a, b| {
        let by = match order.key {
            Key::Name => a.name.cmp(&b.name),
            Key::Size => a.size.cmp(&b.size),
            Key::Date => a.modified.cmp(&b.modified),
        };
        b.dir
            .cmp(&a.dir)
            .then(if order.descending { by.reverse() } else { by })
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// Escape text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn link(name: &str) -> String {
    utf8_percent_encode(name, COMPONENT).to_string()
}

fn rfc3339(time: Option<SystemTime>) -> Option<String> {
    time.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The forms a listing shows when uploads are on: files, a whole folder, a new folder.
const UPLOAD_FORMS: &str = "<form method=\"post\" enctype=\"multipart/form-data\">\
<label>Files <input type=\"file\" name=\"file\" multiple></label> \
<label>A folder <input type=\"file\" name=\"file\" webkitdirectory></label> \
<button>Upload</button></form>\n\
<form method=\"post\"><label>New folder <input name=\"mkdir\" required></label> \
<button>Create</button></form>\n";

/// The HTML page for the folder at URL path `parts` (decoded components), with the upload
/// forms when `upload`.
pub fn html(parts: &[String], items: &[Item], order: Order, upload: bool) -> String {
    let title = format!("/{}", parts.join("/"));
    let mut crumbs = String::from("<a href=\"/\">/</a>");
    let mut href = String::from("/");
    for part in parts {
        href.push_str(&link(part));
        href.push('/');
        crumbs.push_str(&format!(" <a href=\"{href}\">{}</a> /", escape(part)));
    }
    let header = |key: Key, label: &str| {
        let key_name = match key {
            Key::Name => "name",
            Key::Size => "size",
            Key::Date => "date",
        };
        let next = if order.key == key && !order.descending {
            "desc"
        } else {
            "asc"
        };
        format!("<th><a href=\"?sort={key_name}&amp;order={next}\">{label}</a></th>")
    };
    let mut rows = String::new();
    if !parts.is_empty() {
        rows.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for item in items {
        let slash = if item.dir { "/" } else { "" };
        let size = if item.dir {
            String::new()
        } else {
            human_size(item.size)
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"{}{slash}\">{}{slash}</a></td><td data-bytes=\"{}\">{size}</td><td>{}</td></tr>\n",
            link(&item.name),
            escape(&item.name),
            item.size,
            rfc3339(item.modified).unwrap_or_default(),
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Index of {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:.2em 1em;text-align:left}}td:nth-child(2){{text-align:right}}</style>\
         </head><body>\n<h1>Index of {crumbs}</h1>\n<p>Download this folder: <a href=\"?download=zip\">zip</a> · <a href=\"?download=tar\">tar</a></p>\n<table>\n<tr>{}{}{}</tr>\n{rows}</table>\n\
         {forms}<p><small>prise http</small></p></body></html>\n",
        header(Key::Name, "Name"),
        header(Key::Size, "Size"),
        header(Key::Date, "Modified"),
        crumbs = crumbs,
        title = escape(&title),
        forms = if upload { UPLOAD_FORMS } else { "" },
    )
}

#[derive(Serialize)]
struct JsonItem<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modified: Option<String>,
}

/// The JSON listing: `[{"name":..., "type":"dir"|"file", "size":..., "modified":RFC 3339}]`.
pub fn json(items: &[Item]) -> String {
    let list: Vec<JsonItem<'_>> = items
        .iter()
        .map(|i| JsonItem {
            name: &i.name,
            kind: if i.dir { "dir" } else { "file" },
            size: (!i.dir).then_some(i.size),
            modified: rfc3339(i.modified),
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}
