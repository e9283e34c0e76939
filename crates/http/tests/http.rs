//! prise http over real sockets on 127.0.0.1, driven by curl (and a raw TCP client for what
//! curl will not send): the answers a user sees, and hostile paths that must not read outside
//! the folder.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use prise_http::server::{self, Config};
use tokio_util::sync::CancellationToken;

struct Server {
    addr: String,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(config: Config) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().to_string()).unwrap();
                server::run(listener, config, token).await.unwrap();
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Self {
            addr,
            shutdown,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// What curl saw: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn curl(args: &[&str]) -> Answer {
    let out = Command::new("curl")
        .args(["-s", "-S", "-i", "--path-as-is", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is needed (apt-get install curl; .ci/run does)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut raw = out.stdout;
    // Interim answers (100 Continue, for curl's Expect on uploads) come first: skip them.
    while raw.starts_with(b"HTTP/1.1 1") || raw.starts_with(b"HTTP/2 1") {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        raw.drain(..end + 4);
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head and a body");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A folder to serve, `www`, beside a secret it must never give away.
fn site() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let www = work.path().join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::create_dir_all(www.join("site")).unwrap();
    std::fs::create_dir_all(work.path().join("outside")).unwrap();
    std::fs::write(work.path().join("secret.txt"), "TOPSECRET").unwrap();
    std::fs::write(work.path().join("outside/also.txt"), "TOPSECRET too").unwrap();
    std::fs::write(www.join("a.txt"), "hello\n").unwrap();
    std::fs::write(www.join("<script>.txt"), "<b>x</b>").unwrap();
    std::fs::write(www.join("page.html"), "<p>page</p>").unwrap();
    std::fs::write(www.join("site/index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(www.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(www.join(".env"), "TOPSECRET=1").unwrap();
    std::os::unix::fs::symlink(work.path().join("secret.txt"), www.join("link-out")).unwrap();
    std::os::unix::fs::symlink(work.path().join("outside"), www.join("dir-out")).unwrap();
    std::os::unix::fs::symlink("a.txt", www.join("link-in")).unwrap();
    (work, www)
}

#[test]
fn files_folders_listings_ranges_and_conditional_requests() {
    let (_work, www) = site();
    let server = Server::start(Config::new(www));

    let file = curl(&[&server.url("/a.txt")]);
    assert_eq!(file.status, 200);
    assert_eq!(file.body, b"hello\n");
    assert_eq!(
        file.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(file.header("content-length"), Some("6"));
    let etag = file.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(file.header("last-modified").is_some());

    let head = curl(&["-I", &server.url("/a.txt")]);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("6"))
    );
    assert!(head.body.is_empty());

    let html = curl(&[&server.url("/page.html")]);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );

    let range = curl(&["-r", "1-3", &server.url("/a.txt")]);
    assert_eq!(range.status, 206);
    assert_eq!(range.body, b"ell");
    assert_eq!(range.header("content-range"), Some("bytes 1-3/6"));

    let big = curl(&["-r", "99990-", &server.url("/sub/b.bin")]);
    assert_eq!((big.status, big.body.len()), (206, 10));

    // Several ranges: one multipart answer; overlapping ones: the whole file.
    let multi = curl(&["-r", "0-1,3-4", &server.url("/a.txt")]);
    assert_eq!(multi.status, 206);
    let kind = multi.header("content-type").unwrap();
    let boundary = kind
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{kind}"));
    assert_eq!(
        multi.text(),
        format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/6\r\n\r\nhe\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 3-4/6\r\n\r\nlo\r\n\
             --{boundary}--\r\n"
        )
    );
    let length = multi.body.len().to_string();
    assert_eq!(multi.header("content-length"), Some(length.as_str()));
    let overlapping = curl(&["-r", "0-3,2-4", &server.url("/a.txt")]);
    assert_eq!(
        (overlapping.status, overlapping.body.as_slice()),
        (200, &b"hello\n"[..])
    );

    let unchanged = curl(&[
        "-H",
        &format!("If-None-Match: {etag}"),
        &server.url("/a.txt"),
    ]);
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_empty());
    let changed = curl(&["-H", "If-None-Match: \"other\"", &server.url("/a.txt")]);
    assert_eq!(changed.status, 200);

    // If-Range: the range only while the client's copy is current.
    let current = curl(&[
        "-r",
        "0-1",
        "-H",
        &format!("If-Range: {etag}"),
        &server.url("/a.txt"),
    ]);
    assert_eq!((current.status, current.body.as_slice()), (206, &b"he"[..]));
    let stale = curl(&[
        "-r",
        "0-1",
        "-H",
        "If-Range: \"old\"",
        &server.url("/a.txt"),
    ]);
    assert_eq!(
        (stale.status, stale.body.as_slice()),
        (200, &b"hello\n"[..])
    );

    let listing = curl(&[&server.url("/")]);
    assert_eq!(listing.status, 200);
    let text = listing.text();
    assert!(text.contains("<a href=\"a.txt\">a.txt</a>"), "{text}");
    assert!(text.contains("<a href=\"sub/\">sub/</a>"), "{text}");
    assert!(
        text.contains("&lt;script&gt;.txt") && !text.contains("<script>"),
        "names are shown as text: {text}"
    );
    assert!(
        text.contains("link-in"),
        "a symlink inside the folder is listed"
    );
    for hidden in [".env", "link-out", "dir-out"] {
        assert!(
            !text.contains(hidden),
            "{hidden} must not be listed: {text}"
        );
    }

    let json = curl(&["-H", "Accept: application/json", &server.url("/sub/")]);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let items: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(items[0]["name"], "b.bin");
    assert_eq!(items[0]["type"], "file");
    assert_eq!(items[0]["size"], 100_000);

    let by_size = curl(&[
        "-H",
        "Accept: application/json",
        &server.url("/?sort=size&order=desc"),
    ]);
    let items: serde_json::Value = serde_json::from_slice(&by_size.body).unwrap();
    let names: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(&names[..2], ["site", "sub"], "folders first: {names:?}");
    assert_eq!(names[2], "page.html", "then the largest file: {names:?}");

    let redirect = curl(&[&server.url("/sub?x=1")]);
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), Some("/sub/?x=1"));

    let index = curl(&[&server.url("/site/")]);
    assert_eq!(
        (index.status, index.body.as_slice()),
        (200, &b"<h1>home</h1>"[..])
    );

    let missing = curl(&[&server.url("/nope.txt")]);
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("404 Not Found"));

    let post = curl(&["-X", "POST", "-d", "x", &server.url("/a.txt")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn hostile_paths_never_read_outside_the_folder() {
    let (work, www) = site();
    // A relative link that climbs out, a precompressed "sibling" that is one, and an absolute
    // link that stays inside.
    std::os::unix::fs::symlink("../secret.txt", www.join("rel-out")).unwrap();
    std::os::unix::fs::symlink("../../secret.txt", www.join("sub/page.html.gz")).unwrap();
    std::fs::write(www.join("sub/page.html"), "<p>sub page</p>").unwrap();
    std::os::unix::fs::symlink(www.join("a.txt"), www.join("abs-in")).unwrap();
    let server = Server::start(Config::new(www.clone()));
    for path in [
        "/rel-out",
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "/sub%5c..%5c..%5csecret.txt",
        "/secret.txt%00",
        "/%00",
        "/link-out",
        "/dir-out/also.txt",
        "/dir-out/",
        "/.env",
        "/%2eenv",
        "//secret.txt",
        "/a.txt/../../secret.txt",
    ] {
        let answer = curl(&[&server.url(path)]);
        assert!(
            matches!(answer.status, 400 | 404),
            "{path}: {} {}",
            answer.status,
            answer.text()
        );
        assert!(!answer.text().contains("TOPSECRET"), "{path} leaked");
    }
    // The same paths as raw bytes, with what curl would not send as is.
    for raw in ["/..\\secret.txt", "/sub/..\\..\\secret.txt"] {
        let answer = raw_request(
            &server.addr,
            &format!("GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(!answer.contains("TOPSECRET"), "{raw} leaked: {answer}");
        assert!(
            answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 404"),
            "{raw}: {answer}"
        );
    }
    // An absolute-form target names this server's path, nothing else.
    let answer = raw_request(
        &server.addr,
        &format!(
            "GET http://x{}/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            work.path().display()
        ),
    );
    assert!(!answer.contains("TOPSECRET"), "{answer}");
    // The links inside the folder work, relative or absolute.
    assert_eq!(curl(&[&server.url("/link-in")]).body, b"hello\n");
    assert_eq!(curl(&[&server.url("/abs-in")]).body, b"hello\n");
    // The sibling that leads out is not taken for the page's compressed copy.
    let page = curl(&["-H", "Accept-Encoding: gzip", &server.url("/sub/page.html")]);
    assert!(!page.text().contains("TOPSECRET"), "{}", page.text());
    assert_eq!(page.header("content-encoding"), None);
    drop(server);

    // --hidden and --follow-symlinks are asked for explicitly.
    let mut config = Config::new(www);
    config.hidden = true;
    config.follow_symlinks = true;
    let server = Server::start(config);
    assert_eq!(curl(&[&server.url("/.env")]).body, b"TOPSECRET=1");
    assert_eq!(curl(&[&server.url("/link-out")]).body, b"TOPSECRET");
    assert_eq!(
        curl(&[&server.url("/../secret.txt")]).status,
        400,
        "never .."
    );
}

#[test]
fn preconditions_unsatisfiable_ranges_and_dates() {
    let (_work, www) = site();
    let server = Server::start(Config::new(www));
    let url = server.url("/a.txt");
    let file = curl(&[&url]);
    let etag = file.header("etag").unwrap().to_owned();
    let date = file.header("last-modified").unwrap().to_owned();

    let since = curl(&["-H", &format!("If-Modified-Since: {date}"), &url]);
    assert_eq!((since.status, since.body.len()), (304, 0));
    assert_eq!(since.header("etag"), Some(etag.as_str()));
    let old = curl(&[
        "-H",
        "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",
        &url,
    ]);
    assert_eq!(old.status, 200);
    // If-None-Match wins over If-Modified-Since (RFC 9110, 13.2.2).
    let both = curl(&[
        "-H",
        "If-None-Match: \"other\"",
        "-H",
        &format!("If-Modified-Since: {date}"),
        &url,
    ]);
    assert_eq!(both.status, 200);

    let matching = curl(&["-H", &format!("If-Match: {etag}"), &url]);
    assert_eq!(matching.status, 200);
    let stale = curl(&["-H", "If-Match: \"other\"", &url]);
    assert_eq!(stale.status, 412);
    let unmodified = curl(&[
        "-H",
        "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT",
        &url,
    ]);
    assert_eq!(unmodified.status, 412);

    let beyond = curl(&["-r", "100-200", &url]);
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */6"));
    let suffix = curl(&["-r", "-2", &url]);
    assert_eq!((suffix.status, suffix.body.as_slice()), (206, &b"o\n"[..]));
    // A Range header that does not parse is ignored: the whole file.
    let junk = curl(&["-H", "Range: bytes=x-y", &url]);
    assert_eq!((junk.status, junk.body.as_slice()), (200, &b"hello\n"[..]));
    // If-Range with the date the file was sent with.
    let by_date = curl(&["-r", "0-1", "-H", &format!("If-Range: {date}"), &url]);
    assert_eq!((by_date.status, by_date.body.as_slice()), (206, &b"he"[..]));
}

#[test]
fn large_files_stream_whole_and_a_file_cut_short_never_looks_complete() {
    let (_work, www) = site();
    // Larger than what is read at once: it streams in pieces.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let server = Server::start(Config::new(www.clone()));
    let whole = curl(&[&server.url("/big.bin")]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-length"), Some("3000000"));
    assert!(whole.body == big, "the same bytes");
    let part = curl(&["-r", "1000000-2999999", &server.url("/big.bin")]);
    assert_eq!(part.status, 206);
    assert!(part.body == big[1_000_000..], "the same bytes");
    let head = curl(&["-I", &server.url("/big.bin")]);
    assert_eq!(
        (head.header("content-length"), head.body.len()),
        (Some("3000000"), 0)
    );

    // A 64 MiB file cut to nothing while a slow client reads it: the connection ends before
    // Content-Length bytes came, so no client takes what it got for the whole file.
    let len = 64 * 1024 * 1024;
    let victim = www.join("victim.bin");
    std::fs::write(&victim, vec![1u8; len]).unwrap();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /victim.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = vec![0; 64 * 1024];
    let n = stream.read(&mut first).unwrap();
    let head = String::from_utf8_lossy(&first[..n]).to_lowercase();
    assert!(head.contains(&format!("content-length: {len}")), "{head}");
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let got = n + rest.len();
    assert!(got < len, "{got} bytes came for a {len}-byte answer");
}

#[test]
fn a_named_pipe_is_neither_served_nor_listed_nor_archived() {
    let (_work, www) = site();
    let status = Command::new("mkfifo")
        .arg(www.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let server = Server::start(Config::new(www));
    // Answered at once (an open that waited for a writer would hang the request).
    let answer = curl(&[&server.url("/pipe")]);
    assert_eq!(answer.status, 404);
    assert!(!curl(&[&server.url("/")]).text().contains("pipe"));
    let tar = curl(&[&server.url("/?download=tar")]);
    assert_eq!(tar.status, 200);
    assert!(tar.body.len() > 1024, "the archive of the rest came whole");
    // The server still answers.
    assert_eq!(curl(&[&server.url("/a.txt")]).body, b"hello\n");
}

fn raw_request(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn slow_and_oversized_request_heads_are_cut_off() {
    let (_work, www) = site();
    let mut config = Config::new(www);
    config.header_timeout = Duration::from_millis(500);
    let server = Server::start(config);

    // Headers that never end: the server gives up instead of waiting forever.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the server closed a silent client: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!String::from_utf8_lossy(&answer).contains("hello"));

    // 200 KB of headers: refused, and the server still answers the next client.
    let huge = format!(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(200_000)
    );
    let mut big = TcpStream::connect(&server.addr).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = big.write_all(huge.as_bytes());
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert_eq!(curl(&[&server.url("/a.txt")]).body, b"hello\n");
}

#[test]
fn a_missing_folder_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            server::run(
                listener,
                Config::new(work.path().join("nope")),
                CancellationToken::new(),
            )
            .await
        })
        .unwrap_err();
    assert!(err.to_string().contains("is not a folder"), "{err}");
}

fn curl_version(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-w", "|%{http_version}"])
        .args(args)
        .output()
        .expect("curl is needed (apt-get install curl; .ci/run does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn http2_in_the_clear_and_over_tls_and_http1_for_who_asks() {
    let (_work, www) = site();
    let server = Server::start(Config::new(www.clone()));
    let url = server.url("/a.txt");
    assert_eq!(
        curl_version(&["--http2-prior-knowledge", &url]),
        "hello\n|2"
    );
    assert_eq!(curl_version(&[&url]), "hello\n|1.1");
    drop(server);

    let mut config = Config::new(www);
    let names = prise_core::tls::ServerTls::default_self_signed_names();
    config.tls = Some(prise_core::tls::ServerTls::self_signed(&names).unwrap());
    let server = Server::start(config);
    let url = format!("https://{}/a.txt", server.addr);
    assert_eq!(curl_version(&["-k", &url]), "hello\n|2", "h2 by ALPN");
    assert_eq!(curl_version(&["-k", "--http1.1", &url]), "hello\n|1.1");
}

/// Every file name under `dir`, recursively, temporary ones included.
fn all_names(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(all_names(&path));
        }
        out.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    out.sort();
    out
}

#[test]
fn uploads_land_whole_or_not_at_all() {
    let (work, www) = site();
    let payload = work.path().join("payload.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&payload, &bytes).unwrap();
    let file = payload.to_str().unwrap();

    // Off by default.
    let server = Server::start(Config::new(www.clone()));
    assert_eq!(curl(&["-T", file, &server.url("/new.bin")]).status, 405);
    drop(server);

    let mut config = Config::new(www.clone());
    config.upload = true;
    config.max_upload = 400_000;
    let server = Server::start(config);
    let before = all_names(&www);
    let created = curl(&["-T", file, &server.url("/sub/new.bin")]);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        curl(&[&server.url("/sub/new.bin")]).body,
        bytes,
        "PUT then GET: same bytes"
    );
    assert_eq!(std::fs::read(www.join("sub/new.bin")).unwrap(), bytes);
    assert_eq!(
        curl(&["-T", file, &server.url("/sub/new.bin")]).status,
        409,
        "no --overwrite"
    );
    for (path, status) in [
        ("/nowhere/x.bin", 409),
        ("/sub", 409),
        ("/.hidden", 404),
        ("/../escaped.bin", 400),
        ("/%2e%2e/escaped.bin", 400),
        ("/dir-out/escaped.bin", 404),
    ] {
        let answer = curl(&["-T", file, &server.url(path)]);
        assert_eq!(answer.status, status, "PUT {path}: {}", answer.text());
    }
    assert!(!work.path().join("escaped.bin").exists());
    assert!(!work.path().join("outside/escaped.bin").exists());

    // Too large: refused by its Content-Length, and when it streams without one.
    let big = work.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 500_000]).unwrap();
    let answer = curl(&["-T", big.to_str().unwrap(), &server.url("/big.bin")]);
    assert_eq!(answer.status, 413);
    let answer = curl(&[
        "-T",
        big.to_str().unwrap(),
        "-H",
        "Transfer-Encoding: chunked",
        &server.url("/big.bin"),
    ]);
    assert_eq!(answer.status, 413);

    // A client that announces 100,000 bytes, sends 1,000 and vanishes: once its temporary
    // file exists (the upload is under way), it hangs up; then nothing of it may remain.
    let mut cut = TcpStream::connect(&server.addr).unwrap();
    cut.write_all(b"PUT /cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    cut.write_all(&[9u8; 1000]).unwrap();
    let partial = |names: &[String]| names.iter().any(|n| n.starts_with(".cut.bin."));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !partial(&all_names(&www)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(cut);
    let mut expected = before.clone();
    expected.push("new.bin".into());
    expected.sort();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = all_names(&www);
        if now == expected {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left behind: {now:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);

    let mut config = Config::new(www.clone());
    config.upload = true;
    config.overwrite = true;
    let server = Server::start(config);
    let replaced = curl(&["-T", big.to_str().unwrap(), &server.url("/sub/new.bin")]);
    assert_eq!(replaced.status, 204);
    assert_eq!(
        std::fs::read(www.join("sub/new.bin")).unwrap().len(),
        500_000
    );
}

#[test]
fn authentication_for_everything_or_for_uploads_only() {
    let (work, www) = site();
    let payload = work.path().join("p.txt");
    std::fs::write(&payload, "up").unwrap();
    let file = payload.to_str().unwrap();
    let mut config = Config::new(www.clone());
    config.upload = true;
    config.auth = vec!["alice:s3cret".into()];
    let server = Server::start(config.clone());
    let url = server.url("/a.txt");
    let anonymous = curl(&[&url]);
    assert_eq!(anonymous.status, 401);
    assert!(anonymous
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Basic realm=")));
    assert!(!anonymous.text().contains("hello"));
    assert_eq!(curl(&["-u", "alice:wrong", &url]).status, 401);
    assert_eq!(curl(&["-u", "mallory:s3cret", &url]).status, 401);
    assert_eq!(curl(&["-u", "alice:s3cret", &url]).body, b"hello\n");
    assert_eq!(curl(&["-T", file, &server.url("/x.txt")]).status, 401);
    assert_eq!(
        curl(&["-u", "alice:s3cret", "-T", file, &server.url("/x.txt")]).status,
        201
    );
    drop(server);

    config.auth_uploads_only = true;
    let server = Server::start(config);
    assert_eq!(
        curl(&[&server.url("/a.txt")]).body,
        b"hello\n",
        "public reads"
    );
    assert_eq!(curl(&["-T", file, &server.url("/y.txt")]).status, 401);
    assert_eq!(
        curl(&["-u", "alice:nope", "-T", file, &server.url("/y.txt")]).status,
        401
    );
    assert!(!www.join("y.txt").exists());
    assert_eq!(
        curl(&["-u", "alice:s3cret", "-T", file, &server.url("/y.txt")]).status,
        201
    );
    assert_eq!(std::fs::read(www.join("y.txt")).unwrap(), b"up");
}

#[test]
fn compression_is_negotiated_and_precompressed_siblings_are_served() {
    let (_work, www) = site();
    let text = "prise compresses text. ".repeat(200);
    std::fs::write(www.join("long.txt"), &text).unwrap();
    std::fs::write(www.join("styles.css"), "body{}").unwrap();
    // A precompressed sibling (made by gzip itself), served as is.
    std::fs::write(www.join("big.js"), "console.log('x');\n".repeat(100)).unwrap();
    let status = Command::new("gzip")
        .args(["-k", "-9"])
        .arg(www.join("big.js"))
        .status()
        .expect("gzip");
    assert!(status.success());
    let server = Server::start(Config::new(www.clone()));
    let url = server.url("/long.txt");
    let identity = curl(&[&url]);
    assert_eq!(identity.header("content-encoding"), None);
    let identity_tag = identity.header("etag").unwrap().to_owned();
    for encoding in ["gzip", "br", "zstd"] {
        let raw = curl(&["-H", &format!("Accept-Encoding: {encoding}"), &url]);
        assert_eq!(raw.header("content-encoding"), Some(encoding));
        assert!(
            raw.body.len() < text.len() / 4,
            "{encoding}: {} bytes",
            raw.body.len()
        );
        let tag = raw.header("etag").unwrap();
        assert_ne!(
            tag, identity_tag,
            "{encoding}: another representation, another ETag"
        );
        let again = curl(&[
            "-H",
            &format!("Accept-Encoding: {encoding}"),
            "-H",
            &format!("If-None-Match: {tag}"),
            &url,
        ]);
        assert_eq!(again.status, 304);
    }
    // curl decodes what it asked for: the same text comes back.
    let decoded = curl(&["--compressed", &url]);
    assert_eq!(decoded.text(), text);
    // No compression of a range.
    let part = curl(&["-H", "Accept-Encoding: gzip", "-r", "0-9", &url]);
    assert_eq!((part.status, part.header("content-encoding")), (206, None));
    assert_eq!(part.body, &text.as_bytes()[..10]);
    // Tiny bodies are not worth it.
    let tiny = curl(&["-H", "Accept-Encoding: gzip", &server.url("/styles.css")]);
    assert_eq!(tiny.header("content-encoding"), None);

    let pre = curl(&["-H", "Accept-Encoding: gzip", &server.url("/big.js")]);
    assert_eq!(pre.header("content-encoding"), Some("gzip"));
    assert_eq!(
        pre.body,
        std::fs::read(www.join("big.js.gz")).unwrap(),
        "the sibling's bytes"
    );
}

#[test]
fn htpasswd_users_made_by_htpasswd_log_in_and_old_hashes_are_refused_at_start() {
    let (work, www) = site();
    let file = work.path().join("users");
    let status = Command::new("htpasswd")
        .args(["-c", "-b", "-B"])
        .arg(&file)
        .args(["frank", "f-pass"])
        .status()
        .expect("htpasswd is needed (apt-get install apache2-utils; .ci/run does)");
    assert!(status.success());
    let mut config = Config::new(www.clone());
    config.htpasswd = Some(file.clone());
    let server = Server::start(config);
    assert_eq!(curl(&[&server.url("/a.txt")]).status, 401);
    assert_eq!(
        curl(&["-u", "frank:nope", &server.url("/a.txt")]).status,
        401
    );
    assert_eq!(
        curl(&["-u", "frank:f-pass", &server.url("/a.txt")]).body,
        b"hello\n"
    );
    drop(server);

    let status = Command::new("htpasswd")
        .args(["-b", "-m"])
        .arg(&file)
        .args(["grace", "g-pass"])
        .status()
        .unwrap();
    assert!(status.success());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::new(www);
    config.htpasswd = Some(file);
    let err = runtime
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            server::run(listener, config, CancellationToken::new()).await
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2: grace's password is hashed with MD5"),
        "{err}"
    );
}

#[test]
fn a_folder_downloads_as_a_tar_with_what_the_listing_shows() {
    let (work, www) = site();
    let server = Server::start(Config::new(www.clone()));
    let answer = curl(&[&server.url("/?download=tar")]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/x-tar"));
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"www.tar\"")
    );
    let archive = work.path().join("www.tar");
    std::fs::write(&archive, &answer.body).unwrap();
    let listed = Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(listed.status.success(), "tar reads it whole");
    let names = String::from_utf8(listed.stdout).unwrap();
    for present in [
        "www/a.txt",
        "www/sub/b.bin",
        "www/site/index.html",
        "www/link-in",
    ] {
        assert!(names.lines().any(|l| l == present), "{present} in {names}");
    }
    for absent in [".env", "link-out", "dir-out", "secret"] {
        assert!(!names.contains(absent), "{absent} in {names}");
    }
    let out = work.path().join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(out.join("www/sub/b.bin")).unwrap(),
        std::fs::read(www.join("sub/b.bin")).unwrap()
    );
    let sub = curl(&[&server.url("/sub/?download=tar")]);
    assert_eq!(
        sub.header("content-disposition"),
        Some("attachment; filename=\"sub.tar\"")
    );
}

#[test]
fn a_folder_downloads_as_a_zip_that_python_reads_whole() {
    let (work, www) = site();
    // Larger than one network chunk, so the archive crosses several.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(www.join("sub/big.bin"), &big).unwrap();
    let server = Server::start(Config::new(www.clone()));
    let answer = curl(&[&server.url("/?download=zip")]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/zip"));
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"www.zip\"")
    );
    let archive = work.path().join("www.zip");
    std::fs::write(&archive, &answer.body).unwrap();
    // Python's zipfile checks every CRC (testzip) and gives back each file's bytes.
    let script = r#"
import sys, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
assert bad is None, bad
for info in z.infolist():
    data = b"" if info.is_dir() else z.read(info)
    print(info.filename, len(data), hashlib.sha256(data).hexdigest(), info.date_time[0])
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&archive)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    let entry = |name: &str| {
        listed
            .lines()
            .find(|l| l.split(' ').next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in {listed}"))
            .to_owned()
    };
    assert!(entry("www/").starts_with("www/ 0 "));
    assert!(entry("www/sub/").starts_with("www/sub/ 0 "));
    let sha = |data: &[u8]| {
        let out = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(data)?;
                child.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_owned()
    };
    // Each file's own time, not zip's 1980 default (the last field: the year, in UTC).
    let dated = |line: String| {
        let (rest, year) = line.rsplit_once(' ').unwrap();
        assert!(year.parse::<u32>().unwrap() >= 2025, "{line}");
        rest.to_owned()
    };
    assert_eq!(
        dated(entry("www/sub/big.bin")),
        format!("www/sub/big.bin 1000000 {}", sha(&big))
    );
    assert_eq!(
        dated(entry("www/a.txt")),
        format!("www/a.txt 6 {}", sha(b"hello\n"))
    );
    for absent in [".env", "link-out", "dir-out", "secret"] {
        assert!(!listed.contains(absent), "{absent} in {listed}");
    }
    // The listing offers both.
    let page = curl(&[&server.url("/")]).text();
    assert!(
        page.contains("?download=zip") && page.contains("?download=tar"),
        "{page}"
    );
}

#[test]
fn cors_and_extra_headers_when_asked() {
    let (_work, www) = site();
    let server = Server::start(Config::new(www.clone()));
    let plain = curl(&[
        "-H",
        "Origin: http://elsewhere.example",
        &server.url("/a.txt"),
    ]);
    assert_eq!(
        plain.header("access-control-allow-origin"),
        None,
        "off by default"
    );
    drop(server);

    let mut config = Config::new(www);
    config.cors = true;
    config.headers = vec![
        "X-Frame-Options: DENY".into(),
        "Cache-Control: max-age=60".into(),
    ];
    let server = Server::start(config);
    let answer = curl(&[
        "-H",
        "Origin: http://elsewhere.example",
        &server.url("/a.txt"),
    ]);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    assert_eq!(answer.header("cache-control"), Some("max-age=60"));
    let preflight = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://elsewhere.example",
        "-H",
        "Access-Control-Request-Method: PUT",
        &server.url("/a.txt"),
    ]);
    assert_eq!(preflight.status, 200);
    assert!(preflight
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PUT")));
}

#[test]
fn the_upload_form_takes_several_files_a_folder_and_makes_folders() {
    let (work, www) = site();
    let a = work.path().join("one.txt");
    let b = work.path().join("two.txt");
    std::fs::write(&a, "first").unwrap();
    std::fs::write(&b, "second").unwrap();
    let file = |path: &PathBuf| format!("file=@{}", path.display());

    let server = Server::start(Config::new(www.clone()));
    assert_eq!(curl(&["-F", &file(&a), &server.url("/sub/")]).status, 405);
    assert!(!curl(&[&server.url("/")])
        .text()
        .contains("multipart/form-data"));
    drop(server);

    let mut config = Config::new(www.clone());
    config.upload = true;
    let server = Server::start(config);
    assert!(curl(&[&server.url("/")])
        .text()
        .contains("enctype=\"multipart/form-data\""));

    let several = curl(&["-F", &file(&a), "-F", &file(&b), &server.url("/sub/")]);
    assert_eq!(several.status, 201, "{}", several.text());
    assert_eq!(
        several.text(),
        "stored one.txt (5 bytes), two.txt (6 bytes)\n"
    );
    assert_eq!(std::fs::read(www.join("sub/one.txt")).unwrap(), b"first");
    assert_eq!(std::fs::read(www.join("sub/two.txt")).unwrap(), b"second");

    // A whole-folder upload names each file with its path inside the folder.
    let folder = curl(&[
        "-F",
        &format!("{};filename=album/2026/one.txt", file(&a)),
        &server.url("/"),
    ]);
    assert_eq!(folder.status, 201, "{}", folder.text());
    assert_eq!(
        std::fs::read(www.join("album/2026/one.txt")).unwrap(),
        b"first"
    );

    // A browser is sent back to the listing.
    let browser = curl(&[
        "-H",
        "Accept: text/html",
        "-F",
        &file(&b),
        &server.url("/site/"),
    ]);
    assert_eq!(browser.status, 303);
    assert_eq!(browser.header("location"), Some("/site/"));

    for hostile in [
        "../../evil.txt",
        "/etc/evil.txt",
        "a/../../evil.txt",
        ".hidden",
        "x\\\\..\\\\evil",
    ] {
        let answer = curl(&[
            "-F",
            &format!("{};filename={hostile}", file(&a)),
            &server.url("/sub/"),
        ]);
        assert!(
            matches!(answer.status, 400 | 404),
            "{hostile}: {}",
            answer.status
        );
    }
    assert!(!work.path().join("evil.txt").exists());
    assert!(
        !www.join("etc").exists(),
        "an absolute name is not taken from the root either"
    );
    assert_eq!(
        curl(&["-F", &file(&a), &server.url("/sub/")]).status,
        409,
        "one.txt is there"
    );
    assert_eq!(
        curl(&["-F", &file(&a), &server.url("/nowhere/")]).status,
        404
    );

    assert_eq!(
        curl(&["-d", "mkdir=fresh", &server.url("/sub/")]).status,
        201
    );
    assert!(www.join("sub/fresh").is_dir());
    assert_eq!(
        curl(&["-d", "mkdir=fresh", &server.url("/sub/")]).status,
        409
    );
    for bad in ["mkdir=..", "mkdir=a/b", "mkdir=", "mkdir=.git"] {
        let answer = curl(&["-d", bad, &server.url("/sub/")]);
        assert!(
            matches!(answer.status, 400 | 404),
            "{bad}: {}",
            answer.status
        );
    }
}

/// The shared hostile-path table (prise-test-support) sent as exact bytes: no GET shows what
/// lies outside, a PUT that climbs is refused and any other is refused or lands inside under
/// exactly its name (a leading `/` is the folder), and nothing appears
/// outside the folder. Planted specials (a FIFO, a link to /dev/zero, links out) get an answer
/// at once, never their contents from outside.
#[test]
fn every_name_of_the_hostile_table_and_every_special_is_refused_or_kept_inside() {
    use prise_test_support::hostile::{self, Outside};
    let work = tempfile::tempdir().unwrap();
    let www = work.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let specials = hostile::plant_specials(&www, &work.path().join("outside"));
    let outside = Outside::watch(work.path(), &www);
    let mut config = Config::new(www.clone());
    config.upload = true;
    let server = Server::start(config);
    let status = |answer: &str| -> u16 {
        answer
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
    };
    let mut kept = 0;
    for h in hostile::names() {
        let path = h.url_path();
        let got = raw_request(
            &server.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        // What a PUT of the table kept may be read back (and "/" is the listing, "/." a
        // redirect to it).
        match status(&got) {
            200..400 => assert!(!h.climbs(), "GET {h:?}: {got}"),
            400..500 => {}
            _ => panic!("GET {h:?}: {got}"),
        }
        assert!(!got.contains(specials.secret), "GET {h:?} leaked");

        let put = raw_request(
            &server.addr,
            &format!(
                "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
            ),
        );
        match status(&put) {
            201 => {
                assert!(!h.climbs(), "PUT {h:?} was taken");
                assert_eq!(
                    std::fs::read(www.join(h.inside())).unwrap(),
                    b"abc",
                    "{h:?}"
                );
                kept += 1;
            }
            400..500 => {}
            _ => panic!("PUT {h:?}: {put}"),
        }
        outside.assert_untouched();
    }
    assert!(
        kept > 0,
        "the harmless names (look-alikes, devices) are kept"
    );

    for name in &specials.names {
        let started = std::time::Instant::now();
        let got = raw_request(
            &server.addr,
            &format!("GET /{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "GET /{name} took {:?}",
            started.elapsed()
        );
        assert!((400..500).contains(&status(&got)), "GET /{name}: {got}");
        assert!(!got.contains(specials.secret), "GET /{name} leaked");
    }
    outside.assert_untouched();
}
