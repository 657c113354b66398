//! Writing a command's output to stdout. A reader that went away (`flux … | head`) is an
//! `io::ErrorKind::BrokenPipe` error like any other here: `main` ends the command quietly.

use std::io::Write;

/// Prints `text` and a newline, at once (a reader following the output sees it).
pub fn print_line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}
