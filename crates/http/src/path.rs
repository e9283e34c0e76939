//! The path of a request, from the URL to a file inside the served folder, or a refusal.
//!
//! The URL path is percent-decoded exactly once (so `%252e%252e` is the literal name `%2e%2e`,
//! never `..`), must be UTF-8, and must not hold NUL or backslashes. Then each component goes
//! through [`prise_core::path::SafeRoot`], which refuses `..`, absolute paths and symlinks that
//! lead out of the folder. Hidden names (starting with `.`) are refused unless asked for.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;
use prise_core::path::SafeRoot;

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a path we accept at all (bad encoding, NUL, backslash, `..`): 400.
    BadRequest,
    /// A hidden name, or outside the folder: answered as 404, saying nothing about what exists.
    NotFound,
}

/// The request path decoded: `/`-separated components, none empty.
///
/// # Errors
/// [`Refused::BadRequest`] for bad percent-encoding, non-UTF-8, NUL, backslashes or `..`;
/// [`Refused::NotFound`] for a hidden component when `hidden` is false.
pub fn decode(url_path: &str, hidden: bool) -> Result<Vec<String>, Refused> {
    let decoded = percent_decode_str(url_path)
        .decode_utf8()
        .map_err(|_| Refused::BadRequest)?;
    components(&decoded, hidden)
}

/// A `/`-separated relative name that is not URL-encoded (an uploaded file's name, which a
/// browser sends with its folder path when a whole folder is uploaded), checked as
/// [`decode`] checks a URL path.
///
/// # Errors
/// As [`decode`].
pub fn components(decoded: &str, hidden: bool) -> Result<Vec<String>, Refused> {
    if decoded.contains(['\0', '\\']) || decoded.chars().any(char::is_control) {
        return Err(Refused::BadRequest);
    }
    let mut parts = Vec::new();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(Refused::BadRequest),
            name if name.starts_with('.') && !hidden => return Err(Refused::NotFound),
            name => parts.push(name.to_owned()),
        }
    }
    Ok(parts)
}

/// The file or folder `parts` names under `root`. Blocking (it reads link targets).
///
/// With `follow_symlinks`, a symlink may lead anywhere; without, one leading outside the folder
/// is refused.
///
/// # Errors
/// [`Refused::NotFound`] when the path is refused by [`SafeRoot`].
pub fn resolve(
    root: &SafeRoot,
    parts: &[String],
    follow_symlinks: bool,
) -> Result<PathBuf, Refused> {
    if parts.is_empty() {
        return Ok(root.root().to_owned());
    }
    let relative = parts.join("/");
    if follow_symlinks {
        SafeRoot::check_relative(&relative).map_err(|_| Refused::NotFound)?;
        return Ok(root.root().join(relative));
    }
    root.resolve(&relative).map_err(|_| Refused::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused_before_any_file_is_touched() {
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a%5c..%5c..%5cx",
            "/a\\b",
            "/x%00.txt",
            "/%ff%fe",
            "/a%0a",
        ] {
            assert_eq!(decode(bad, false), Err(Refused::BadRequest), "{bad}");
        }
        assert_eq!(decode("/.git/config", false), Err(Refused::NotFound));
        assert_eq!(
            decode("/.git/config", true),
            Ok(vec![".git".to_owned(), "config".to_owned()])
        );
        // Decoded once: a doubly encoded dot-dot is a literal (and harmless) name.
        assert_eq!(decode("/%252e%252e", false), Ok(vec!["%2e%2e".to_owned()]));
        assert_eq!(
            decode("/docs//a%20b/./c.txt", false),
            Ok(vec![
                "docs".to_owned(),
                "a b".to_owned(),
                "c.txt".to_owned()
            ])
        );
    }
}
