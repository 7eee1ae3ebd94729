//! The stylesheet, the script and `public/`, served from the binary with cache headers.

use app::assets::{PUBLIC_FILES, PublicFile, SCRIPT, SCRIPT_PATH, STYLESHEET, STYLESHEET_PATH};
use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::response::IntoResponse;
use axum::routing::get;
use std::io::Write;
use std::sync::LazyLock;

/// The stylesheet's and the script's URLs change with their content, so browsers may keep
/// them for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Icons and the manifest keep their URLs; a day keeps them fresh enough.
const ONE_DAY: &str = "public, max-age=86400";

/// A content coding a client may accept, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
            Coding::Identity => "identity",
        }
    }
}

/// The coding to send for an `Accept-Encoding` header (RFC 9110 §12.5.3): brotli, then
/// gzip, whichever the client accepts with a weight above zero (`*` counts for both);
/// otherwise the bytes as they are. Weights only rule a coding out: the two compressed
/// forms are made once, so the smaller one is always the better answer.
pub fn preferred_coding(accept_encoding: Option<&str>) -> Coding {
    let Some(header) = accept_encoding else {
        return Coding::Identity;
    };
    let weight_of = |wanted: &str| -> Option<bool> {
        let mut star = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let accepted = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .next()
                .is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
            if name.eq_ignore_ascii_case(wanted) {
                return Some(accepted);
            }
            if name == "*" {
                star = Some(accepted);
            }
        }
        star
    };
    [Coding::Brotli, Coding::Gzip]
        .into_iter()
        .find(|coding| weight_of(coding.token()) == Some(true))
        .unwrap_or(Coding::Identity)
}

/// A file at a hashed URL, compressed once, at start: compressing the stylesheet per
/// request cost a third of a page view's time (docs/benchmarks.md).
struct HashedFile {
    content_type: &'static str,
    bytes: &'static [u8],
    brotli: Vec<u8>,
    gzip: Vec<u8>,
}

impl HashedFile {
    fn new(content_type: &'static str, bytes: &'static [u8]) -> HashedFile {
        HashedFile { content_type, bytes, brotli: brotli_of(bytes), gzip: gzip_of(bytes) }
    }
}

static COMPRESSED_STYLESHEET: LazyLock<HashedFile> =
    LazyLock::new(|| HashedFile::new("text/css; charset=utf-8", STYLESHEET.as_bytes()));

static COMPRESSED_SCRIPT: LazyLock<HashedFile> =
    LazyLock::new(|| HashedFile::new("text/javascript; charset=utf-8", SCRIPT.as_bytes()));

fn brotli_of(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        // Quality 11: the best brotli makes, once per start. The window just holds the
        // whole input (a larger one compresses no better): brotli's quality-11 matcher
        // takes memory in proportion to the window, 32 MiB at the default 4 MiB.
        let mut writer =
            brotli::CompressorWriter::new(&mut out, 4096, 11, window_bits(bytes.len()));
        // Writing into a Vec cannot fail.
        let _ = writer.write_all(bytes);
    }
    out
}

/// The smallest brotli window (`lgwin`, 10 to 24) that holds `len` bytes: a window is
/// 2^lgwin − 16 bytes.
fn window_bits(len: usize) -> u32 {
    (10..24).find(|bits| (1usize << bits) - 16 >= len).unwrap_or(24)
}

fn gzip_of(bytes: &[u8]) -> Vec<u8> {
    let mut writer = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = writer.write_all(bytes);
    writer.finish().unwrap_or_default()
}

/// Compresses the stylesheet and the script now, so the first page view after start does
/// not pay for it.
pub fn prepare() {
    LazyLock::force(&COMPRESSED_STYLESHEET);
    LazyLock::force(&COMPRESSED_SCRIPT);
}

fn hashed_file(file: &'static HashedFile, headers: &HeaderMap) -> axum::response::Response {
    let accepted = headers.get(ACCEPT_ENCODING).and_then(|value| value.to_str().ok());
    let (coding, body): (Coding, &'static [u8]) = match preferred_coding(accepted) {
        Coding::Brotli => (Coding::Brotli, &file.brotli),
        Coding::Gzip => (Coding::Gzip, &file.gzip),
        Coding::Identity => (Coding::Identity, file.bytes),
    };
    let mut response = (
        [(CONTENT_TYPE, file.content_type), (CACHE_CONTROL, IMMUTABLE), (VARY, "accept-encoding")],
        body,
    )
        .into_response();
    if coding != Coding::Identity {
        // With its Content-Encoding set, the compression layer leaves the body alone.
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, axum::http::HeaderValue::from_static(coding.token()));
    }
    response
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    PUBLIC_FILES.iter().fold(
        Router::new()
            .route(
                STYLESHEET_PATH.as_str(),
                get(|headers: HeaderMap| async move {
                    hashed_file(&COMPRESSED_STYLESHEET, &headers)
                }),
            )
            .route(
                SCRIPT_PATH.as_str(),
                get(|headers: HeaderMap| async move { hashed_file(&COMPRESSED_SCRIPT, &headers) }),
            ),
        |router, file: &'static PublicFile| {
            router.route(
                file.path,
                get(move || async move {
                    ([(CONTENT_TYPE, file.content_type), (CACHE_CONTROL, ONE_DAY)], file.bytes)
                        .into_response()
                }),
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{Coding, preferred_coding, window_bits};

    #[test]
    fn the_brotli_window_just_holds_its_input() {
        // (input bytes, lgwin): a window is 2^lgwin − 16 bytes, from 10 to 24 bits.
        let cases = [
            (0, 10),
            (1008, 10),
            (1009, 11),
            (17_471, 15),
            (32_752, 15),
            (32_753, 16),
            (16_777_200, 24),
            (usize::MAX, 24),
        ];
        for (len, bits) in cases {
            assert_eq!(window_bits(len), bits, "{len} bytes");
        }
    }

    #[test]
    fn the_coding_follows_accept_encoding() {
        let cases = [
            // Nothing asked, or nothing this server has: the file as it is.
            (None, Coding::Identity),
            (Some(""), Coding::Identity),
            (Some("deflate"), Coding::Identity),
            (Some("identity"), Coding::Identity),
            // The best coding asked for, however it is spelled.
            (Some("gzip, deflate, br, zstd"), Coding::Brotli),
            (Some("gzip"), Coding::Gzip),
            (Some("GZIP"), Coding::Gzip),
            (Some("gzip ; q=1.0"), Coding::Gzip),
            // A quality of zero refuses a coding; one that does not parse counts as 1.
            (Some("br;q=0, gzip;q=0.5"), Coding::Gzip),
            (Some("br;q=0.0, gzip;q=0"), Coding::Identity),
            (Some("br;q=nonsense, gzip"), Coding::Gzip),
            // The wildcard stands for every coding not named.
            (Some("*"), Coding::Brotli),
            (Some("*;q=0"), Coding::Identity),
            (Some("br;q=0, *"), Coding::Gzip),
        ];
        for (header, expected) in cases {
            assert_eq!(preferred_coding(header), expected, "{header:?}");
        }
    }
}
