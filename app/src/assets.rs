//! Files embedded in the binary so that it runs as one file on the host.

use std::sync::LazyLock;

/// The one stylesheet, from `style/factory.css`.
pub const STYLESHEET: &str = include_str!("../../style/factory.css");

/// The stylesheet's URL carries a hash of its content, so it can be cached for a year and
/// still change with each release.
pub static STYLESHEET_PATH: LazyLock<String> =
    LazyLock::new(|| format!("/static/factory.{:016x}.css", fnv1a(STYLESHEET.as_bytes())));

/// A public file served from the site root, with its content type.
pub struct PublicFile {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// Everything in `public/`.
pub const PUBLIC_FILES: &[PublicFile] = &[
    PublicFile {
        path: "/favicon.ico",
        content_type: "image/x-icon",
        bytes: include_bytes!("../../public/favicon.ico"),
    },
    PublicFile {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../public/favicon.svg"),
    },
    PublicFile {
        path: "/manifest.webmanifest",
        content_type: "application/manifest+json",
        bytes: include_bytes!("../../public/manifest.webmanifest"),
    },
    PublicFile {
        path: "/robots.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../../public/robots.txt"),
    },
    PublicFile {
        path: "/icons/icon-192.png",
        content_type: "image/png",
        bytes: include_bytes!("../../public/icons/icon-192.png"),
    },
    PublicFile {
        path: "/icons/icon-512.png",
        content_type: "image/png",
        bytes: include_bytes!("../../public/icons/icon-512.png"),
    },
    PublicFile {
        path: "/icons/apple-touch-icon.png",
        content_type: "image/png",
        bytes: include_bytes!("../../public/icons/apple-touch-icon.png"),
    },
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
