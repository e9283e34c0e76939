//! The browser client in a real browser: web/tests/chat.mjs and web/tests/accounts.mjs drive
//! Debian's Chromium with playwright-core against `prise chat serve --web` (pages, a native
//! client, an IRC client; see each script for every step). Needs `apt-get install chromium` and
//! `npm ci --prefix web`, which `.ci/run` does. Screenshots land in the test's temporary target
//! folder.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One browser at a time: two Chromiums on two cores make each test's waits a lottery.
static BROWSER: Mutex<()> = Mutex::new(());

/// Run `web/tests/<script>` and check that it printed "ok" last; returns its output folder.
fn run_script(script: &str, out: &str) -> PathBuf {
    let _one = BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web` (.ci/run does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Chromium is missing: run `apt-get install chromium` (.ci/run does)"
    );
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(out);
    // A fresh folder: the accounts script keeps its database there.
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = Command::new("node")
        .arg(web.join("tests").join(script))
        .env("PRISE_BIN", env!("CARGO_BIN_EXE_prise"))
        .env("OUT_DIR", &out_dir)
        .current_dir(&web)
        .output()
        .expect("node (apt-get install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("\nok"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_dir
}

fn assert_png(dir: &Path, shot: &str) {
    let png = std::fs::read(dir.join(shot)).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{shot}"
    );
}

#[test]
fn the_web_client_chats_in_chromium_and_reconnects_after_a_restart() {
    let out_dir = run_script("chat.mjs", "web-chat");
    for shot in ["web-chat.png", "web-chat-phone.png"] {
        assert_png(&out_dir, shot);
    }
    println!("screenshots in {}", out_dir.display());
}

#[test]
fn the_web_client_signs_up_logs_in_and_keeps_its_session_in_an_http_only_cookie() {
    let out_dir = run_script("accounts.mjs", "web-accounts");
    assert_png(&out_dir, "web-accounts.png");
}
