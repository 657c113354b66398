//! What running executions show on `flux dev`'s terminal: their console lines and captured
//! emails, prefixed with the function's name and escaped like every recorded string.

use super::{escape, escaped_lines};
use crate::record::ExecId;

/// `[create_user] line` for each line of a console message; `warn` and `error` say so.
pub fn console_lines(function: &str, level: &str, message: &str) -> Vec<String> {
    let prefix = if level == "error" || level == "warn" {
        format!("[{function}] {level}:")
    } else {
        format!("[{function}]")
    };
    let prefix = escape(&prefix);
    escaped_lines(message)
        .map(|line| format!("{prefix} {line}"))
        .collect()
}

/// The line saying one execution's console output went past the record's caps.
pub fn console_capped_line(
    function: &str,
    exec: &ExecId,
    max_lines: usize,
    max_bytes: usize,
) -> String {
    format!(
        "[{}] … console output capped: one execution keeps at most {max_lines} lines and {} KiB; \
         the rest is not printed nor recorded (flux trace {} counts it)",
        escape(function),
        max_bytes / 1024,
        exec.short(),
    )
}

/// `✉ captured email to a@b.com (welcome): Welcome!`
pub fn email_line(to: &str, template: &str, subject: &str) -> String {
    escape(&format!("✉ captured email to {to} ({template}): {subject}")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_carry_the_function_and_escape_what_they_show() {
        assert_eq!(
            console_lines("hello", "log", "one\ntwo"),
            ["[hello] one", "[hello] two"]
        );
        assert_eq!(
            console_lines("hello", "warn", "careful\u{1b}[2J"),
            ["[hello] warn: careful\\u{1b}[2J"]
        );
    }
}
