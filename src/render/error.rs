//! A command's error as the terminal shows it: `error: …`, then one `hint: …` per hint.

use super::{escaped_lines, Style};

/// An error message or hint for the terminal: its lines kept, anything else a terminal
/// would act on (it may quote input or recorded data) shown escaped.
pub fn escape_message(text: &str) -> String {
    escaped_lines(text).collect::<Vec<_>>().join("\n")
}

/// `error: <message>` and a `  hint: …` line per hint, for stderr.
pub fn error_report(message: &str, hints: &[String], style: Style) -> String {
    let mut out = format!("{} {}", style.error("error:"), escape_message(message));
    for hint in hints {
        out.push_str(&format!(
            "\n  {} {}",
            style.cyan("hint:"),
            escape_message(hint)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_with_hints_escapes_both() {
        let hints = ["start one\u{1b}[2J".to_string(), "or another".to_string()];
        assert_eq!(
            error_report("no server\nat x", &hints, Style::plain()),
            "error: no server\nat x\n  hint: start one\\u{1b}[2J\n  hint: or another"
        );
    }
}
