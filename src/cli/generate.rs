//! `flux completions <shell>` and `flux man`: generated from the one clap definition, so that
//! they never disagree with the parser. `completions/` and `man/` hold copies, checked for
//! staleness by the tests; regenerate them with `scripts/generate.sh`.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, CliError};

pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "flux", &mut out);
    Ok(crate::output::print_line(
        String::from_utf8_lossy(&out).trim_end(),
    )?)
}

/// Writes one page per command and subcommand: `flux.1`, `flux-queue-dead-letter-replay.1`, …
pub fn man(dir: &Path) -> Result<(), CliError> {
    let fail = |e: std::io::Error| {
        CliError::failure(format!("cannot write man pages to {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let command = Cli::command();
    clap_mangen::generate_to(command, dir).map_err(fail)?;
    eprintln!("wrote man pages to {}", dir.display());
    Ok(())
}
