//! The browser client in a real browser: web/tests/chat.mjs drives Debian's Chromium with
//! playwright-core against `prise chat serve --web` (two pages and a native client; see the
//! script for every step). Needs `apt-get install chromium` and `npm ci --prefix web`, which
//! `.ci/run` does. Screenshots land in the test's temporary target folder.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;

#[test]
fn the_web_client_chats_in_chromium_and_reconnects_after_a_restart() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web` (.ci/run does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Chromium is missing: run `apt-get install chromium` (.ci/run does)"
    );
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-chat");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = Command::new("node")
        .arg(web.join("tests/chat.mjs"))
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
    for shot in ["web-chat.png", "web-chat-phone.png"] {
        let png = std::fs::read(out_dir.join(shot)).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{shot}"
        );
    }
    println!("screenshots in {}", out_dir.display());
}
