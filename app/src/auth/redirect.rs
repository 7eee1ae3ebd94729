//! Where to send an operator after signing in: only a path on this site.

/// `raw` if it is a relative path on this site (`/items/wi-1?x=y`), else `/`. Refuses
/// `//host`, `/\host` (browsers read both as another site), schemes and control
/// characters, so `?next=` can never send anyone elsewhere.
pub fn safe_next(raw: Option<&str>) -> String {
    let Some(path) = raw.map(str::trim) else {
        return "/".into();
    };
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && !path.starts_with("/login");
    if safe { path.to_owned() } else { "/".into() }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_same_site_paths_are_kept() {
        let cases = [
            // A path on this site is kept.
            (None, "/"),
            (Some("/"), "/"),
            (Some("/items/wi-BF-302"), "/items/wi-BF-302"),
            (Some("/?lane=review"), "/?lane=review"),
            // Another site, however it is spelled, leads to the board.
            (Some("https://evil.example/"), "/"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example/"), "/"),
            (Some("javascript:alert(1)"), "/"),
            // So does what is no plain path, and the sign-in page itself.
            (Some("/items\\..\\x"), "/"),
            (Some("items"), "/"),
            (Some("/a\nb"), "/"),
            (Some("/login?next=/login"), "/"),
            (Some(""), "/"),
        ];
        for (raw, expected) in cases {
            assert_eq!(safe_next(raw), expected, "{raw:?}");
        }
    }
}
