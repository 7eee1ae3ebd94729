//! Text from files shown to people. A work-item file's author can write characters that
//! are invisible (zero-width spaces) or that reorder what follows (bidirectional
//! overrides, "Trojan Source"): a title or a name could then read as something else. Pages
//! show such characters escaped, as `\u{202E}`, so what is shown is what is there.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` would be invisible or change the order of the text around it: control
/// characters, Unicode format characters (category Cf: bidirectional marks, embeddings,
/// overrides and isolates, zero-width characters, the byte-order mark, tags) and the
/// separators that break a line.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// `text` with every [hidden](is_hidden) character written as `\u{XXXX}`; borrowed when
/// there is none (the usual case).
pub fn shown(text: &str) -> Cow<'_, str> {
    escaped(text, |_| false)
}

/// [`shown`], but keeping the line breaks and tabs of a command's output.
pub fn shown_keeping_lines(text: &str) -> Cow<'_, str> {
    escaped(text, |c| matches!(c, '\n' | '\r' | '\t'))
}

/// `text` with its hidden characters but those `kept` escaped.
fn escaped(text: &str, kept: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escape = |c: char| is_hidden(c) && !kept(c);
    if !text.chars().any(escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escape(c) {
            let _ = write!(escaped, "\\u{{{:04X}}}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// `text` in double quotes for a message, its hidden characters escaped and at most 80
/// characters of it: the value a message quotes may be long and hostile.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", shown(&bounded(text, 80)))
}

/// At most the first `most` characters of `text`, with `…` when it had more.
pub fn bounded(text: &str, most: usize) -> String {
    let mut kept: String = text.chars().take(most).collect();
    if text.chars().nth(most).is_some() {
        kept.push('…');
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_shown_escaped_and_the_rest_is_kept() {
        let cases: &[(&str, &str)] = &[
            ("Plain title", "Plain title"),
            ("Émile's café — ünïcode ✓", "Émile's café — ünïcode ✓"),
            ("مرحبا بالعالم", "مرحبا بالعالم"),
            ("admin\u{202E}txt.exe", "admin\\u{202E}txt.exe"),
            ("a\u{200B}b", "a\\u{200B}b"),
            ("\u{2066}isolate\u{2069}", "\\u{2066}isolate\\u{2069}"),
            ("\u{FEFF}bom", "\\u{FEFF}bom"),
            ("tag\u{E0041}", "tag\\u{E0041}"),
            ("bell\u{7}esc\u{1B}[31m", "bell\\u{0007}esc\\u{001B}[31m"),
            ("line\u{2028}break", "line\\u{2028}break"),
            ("soft\u{AD}hyphen", "soft\\u{00AD}hyphen"),
        ];
        for (text, expected) in cases {
            assert_eq!(shown(text), *expected, "{text:?}");
        }
        assert!(matches!(shown("nothing hidden"), Cow::Borrowed(_)));
    }

    #[test]
    fn quoted_values_are_escaped_and_bounded() {
        assert_eq!(quoted("sh -c 'id'"), "\"sh -c 'id'\"");
        assert_eq!(quoted("x\u{202E}y"), "\"x\\u{202E}y\"");
        let long = "a".repeat(500);
        let quoted_long = quoted(&long);
        assert_eq!(quoted_long.chars().count(), 80 + 3, "{quoted_long}");
        assert!(quoted_long.ends_with("…\""));
    }
}
