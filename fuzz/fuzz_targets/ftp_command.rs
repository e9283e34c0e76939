//! Any bytes as what an FTP peer sends: a command line, a reply line, the argument of PORT,
//! EPRT, a PASV or EPSV reply, a path, a LIST line, a URL. Nothing panics; a parsed command's
//! verb is upper-case letters; a resolved path never holds `.`, `..` or a slash in a component;
//! an address that parses prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prise_ftp::client::parse_url;
use prise_ftp::codec::{
    format_eprt, format_pasv, parse_epsv, parse_eprt, parse_list_line, parse_pasv, parse_port,
    resolve, Command, ReplyReader,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = Command::parse(data) {
        assert!(!cmd.verb.is_empty() && cmd.verb.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(!cmd.arg.contains(['\r', '\n', '\0']));
    }
    let text = String::from_utf8_lossy(data);
    let mut replies = ReplyReader::default();
    for line in text.split('\n') {
        let _ = replies.line(line);
    }
    if let Ok(addr) = parse_port(&text) {
        assert_eq!(parse_pasv(&format_pasv(addr)).unwrap(), addr);
    }
    if let Ok(addr) = parse_eprt(&text) {
        assert_eq!(parse_eprt(&format_eprt(addr)).unwrap(), addr);
    }
    let _ = parse_pasv(&text);
    let _ = parse_epsv(&text);
    let _ = parse_list_line(&text);
    let _ = parse_url(&text);
    let cwd = vec!["a".to_owned(), "b".to_owned()];
    if let Ok(parts) = resolve(&cwd, &text) {
        for p in &parts {
            assert!(!p.is_empty() && p != "." && p != ".." && !p.contains('/'));
        }
    }
});
