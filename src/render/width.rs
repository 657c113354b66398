//! Column widths as a terminal shows them: `日本` takes four columns, a combining accent none.

use unicode_width::UnicodeWidthStr;

/// How many terminal columns `text` takes (text without escape sequences).
pub fn width(text: &str) -> usize {
    text.width()
}

/// `text` followed by spaces up to `columns` display columns.
pub fn pad_right(text: &str, columns: usize) -> String {
    let pad = columns.saturating_sub(width(text));
    format!("{text}{}", " ".repeat(pad))
}

/// Spaces, then `text`, up to `columns` display columns.
pub fn pad_left(text: &str, columns: usize) -> String {
    let pad = columns.saturating_sub(width(text));
    format!("{}{text}", " ".repeat(pad))
}

/// The widest of `texts`, in display columns.
pub fn max_width<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    texts.into_iter().map(width).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_and_combining_characters_are_measured_as_shown() {
        assert_eq!(width("日本"), 4);
        assert_eq!(width("cafe\u{301}"), 4);
        assert_eq!(pad_right("日本", 6), "日本  ");
        assert_eq!(pad_right("e\u{301}", 3), "e\u{301}  ");
        assert_eq!(pad_left("1ms", 5), "  1ms");
        assert_eq!(pad_right("toolong", 3), "toolong");
        assert_eq!(max_width(["a", "日本", "abc"]), 4);
    }
}
