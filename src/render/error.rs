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

/// The same error for `--format json`: one line, `{"error": …, "hint": …, "code": …}`, with
/// the hints joined by newlines (`null` when there are none) and `code` the exit code. The
/// text is kept exact, as all JSON output is: serde escapes control characters.
pub fn error_json(message: &str, hints: &[String], code: i32) -> String {
    let hint = (!hints.is_empty()).then(|| hints.join("\n"));
    serde_json::json!({ "error": message, "hint": hint, "code": code }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_error_keeps_its_text_exact() {
        assert_eq!(
            error_json("no server\u{1b}", &[], 4),
            r#"{"error":"no server\u001b","hint":null,"code":4}"#
        );
        let hints = ["start one".to_string(), "or another".to_string()];
        assert_eq!(
            error_json("x", &hints, 1),
            r#"{"error":"x","hint":"start one\nor another","code":1}"#
        );
    }

    #[test]
    fn an_error_with_hints_escapes_both() {
        let hints = ["start one\u{1b}[2J".to_string(), "or another".to_string()];
        assert_eq!(
            error_report("no server\nat x", &hints, Style::plain()),
            "error: no server\nat x\n  hint: start one\\u{1b}[2J\n  hint: or another"
        );
    }
}
