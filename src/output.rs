//! Writing to stdout where a closed pipe (`flux … | head`) ends the command quietly.

use std::io::Write;

use crate::cli::CliError;

/// Prints `text` and a newline; a reader that went away (`| head`) ends the process with 0.
pub fn print_line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let result = writeln!(out, "{text}").and_then(|()| out.flush());
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError::failure(format!("cannot write output: {e}"))),
    }
}
