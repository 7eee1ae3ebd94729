//! Files embedded in the binary so that it runs as one file on the host.

use std::sync::LazyLock;

/// The one stylesheet, from `style/factory.css`.
pub const STYLESHEET: &str = include_str!("../../style/factory.css");

/// The stylesheet's URL carries a hash of its content, so it can be cached for a year and
/// still change with each release.
pub static STYLESHEET_PATH: LazyLock<String> =
    LazyLock::new(|| format!("/static/factory.{:016x}.css", fnv1a(STYLESHEET.as_bytes())));

/// The one script, from `public/live.js`: a live page follows `/events` and swaps in its
/// changed part. Served only at [`SCRIPT_PATH`]; pages work without it.
pub const SCRIPT: &str = include_str!("../../public/live.js");

/// The script's URL, hashed like the stylesheet's.
pub static SCRIPT_PATH: LazyLock<String> =
    LazyLock::new(|| format!("/static/live.{:016x}.js", fnv1a(SCRIPT.as_bytes())));

/// A public file served from the site root, with its content type.
pub struct PublicFile {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// A file of `public/`, served at its path there.
macro_rules! public_file {
    ($path:literal, $content_type:literal) => {
        PublicFile {
            path: concat!("/", $path),
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../public/", $path)),
        }
    };
}

/// Everything in `public/`.
pub const PUBLIC_FILES: &[PublicFile] = &[
    public_file!("favicon.ico", "image/x-icon"),
    public_file!("favicon.svg", "image/svg+xml"),
    public_file!("manifest.webmanifest", "application/manifest+json"),
    public_file!("robots.txt", "text/plain; charset=utf-8"),
    public_file!("icons/icon-192.png", "image/png"),
    public_file!("icons/icon-512.png", "image/png"),
    public_file!("icons/apple-touch-icon.png", "image/png"),
];

/// 64-bit FNV-1a: a stable content fingerprint, not a security hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn stylesheet_path_changes_with_content() {
        assert_ne!(super::fnv1a(b"a{}"), super::fnv1a(b"b{}"));
        assert!(super::STYLESHEET_PATH.starts_with("/static/factory."));
        assert!(super::STYLESHEET_PATH.ends_with(".css"));
    }
}
