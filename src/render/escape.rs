//! The one place recorded text passes through before it reaches a terminal: control
//! characters and invisible format characters are shown as escapes, so a request body, an
//! error message or a row value cannot move the cursor, retitle the window, clear the screen
//! or reorder what is shown (bidi overrides).

use std::borrow::Cow;

/// `text` for one line of terminal output: every control character (newlines and tabs
/// included), and every invisible format character, written as an escape: `\n`, `\r`, `\t`,
/// `\0`, else `\u{1b}` as in Rust.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, false)
}

/// One line of a block the renderer lays out itself (console output, SQL, a stack): as
/// [`escape`], except that a tab stays a tab, as the program that wrote it meant it.
pub fn escape_block_line(text: &str) -> Cow<'_, str> {
    escape_with(text, true)
}

/// The lines of a multi-line text (`\n` or `\r\n` ends one), each escaped as a line of a block.
pub fn escaped_lines(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    text.lines().map(escape_block_line)
}

fn escape_with(text: &str, keep_tab: bool) -> Cow<'_, str> {
    let needs = |c: char| must_escape(c) && !(keep_tab && c == '\t');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            other => out.extend(other.escape_unicode()),
        }
    }
    Cow::Owned(out)
}

/// C0 and C1 controls, DEL, and the characters that are invisible yet change what a
/// terminal shows: Unicode's format characters (bidi embeddings, overrides and isolates,
/// marks, invisible operators, tags) and the line and paragraph separators. The zero-width
/// joiner and non-joiner stay: emoji sequences and some scripts need them.
fn must_escape(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_are_shown_not_run() {
        assert_eq!(
            escape("a\u{1b}]0;pwned\u{7}b\u{1b}[2J\r\u{202e}c"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{1b}[2J\\r\\u{202e}c"
        );
        assert_eq!(escape("line\nnext\ttab\0"), "line\\nnext\\ttab\\0");
        assert_eq!(escape("\u{9b}31m\u{7f}"), "\\u{9b}31m\\u{7f}");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        let text = "Ada Lovelace — 日本語 👨\u{200d}👩\u{200d}👧 café \\u{1b}";
        assert!(matches!(escape(text), Cow::Borrowed(_)));
        assert_eq!(escape(text), text);
    }

    #[test]
    fn blocks_keep_their_tabs_and_split_on_newlines() {
        let lines: Vec<_> = escaped_lines("SELECT\t1\r\nFROM x\u{1b}[A\rB").collect();
        assert_eq!(lines, ["SELECT\t1", "FROM x\\u{1b}[A\\rB"]);
    }
}
