//! Writing a command's output to stdout. A reader that went away (`flux … | head`) is an
//! `io::ErrorKind::BrokenPipe` error like any other here: `main` ends the command quietly.

use std::io::Write;

/// Prints `text` and a newline, at once (a reader following the output sees it).
pub fn print_line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// The width to fit tables to: the terminal's when stdout is one, `None` when piped (rows
/// then stay whole, one per line, for `grep` and `cut`).
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let reported = terminal_size::terminal_size_of(&stdout).map(|(w, _)| w.0);
    Some(columns(reported, std::env::var("COLUMNS").ok().as_deref()))
}

/// Columns from what the terminal reports, else `$COLUMNS`, else 80: a terminal that
/// reports 0×0 (a pseudo-terminal nobody sized, as under `script` or some CI runners) would
/// otherwise squeeze every cell to nothing.
fn columns(reported: Option<u16>, env: Option<&str>) -> usize {
    const FALLBACK: usize = 80;
    reported
        .map(usize::from)
        .filter(|&w| w > 0)
        .or_else(|| env?.trim().parse().ok().filter(|&w: &usize| w > 0))
        .unwrap_or(FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::columns;

    #[test]
    fn a_terminal_of_no_size_gets_80_columns() {
        assert_eq!(columns(Some(132), Some("60")), 132);
        assert_eq!(columns(Some(0), None), 80);
        assert_eq!(columns(Some(0), Some("100")), 100);
        assert_eq!(columns(None, Some("0")), 80);
        assert_eq!(columns(None, Some("wide")), 80);
    }
}
