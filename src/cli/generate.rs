//! `flux completions <shell>` and `flux man`: generated from the one clap definition, so that
//! they never disagree with the parser. `completions/` and `man/` hold copies, checked for
//! staleness by the tests; regenerate them with `scripts/generate.sh`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{roman, Roff};

use super::{complete, Cli, CliError};
use crate::output::print_line;

pub fn completions(shell: Shell) -> Result<(), CliError> {
    let script = complete::registration(shell)
        .map_err(|e| CliError::failure(format!("cannot write the {shell} script: {e}")))?;
    Ok(print_line(String::from_utf8_lossy(&script).trim_end())?)
}

/// Where `flux man` writes without `--dir`: `$XDG_DATA_HOME/man/man1`, else
/// `~/.local/share/man/man1`, which man-db finds for anyone with `~/.local/bin` on the PATH.
fn default_man_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| dirs::home_dir().map(|home| home.join(".local/share")))?;
    Some(data.join("man/man1"))
}

/// Writes one page per command and subcommand: `flux.1`, `flux-queue-dead-letter-replay.1`, …
pub fn man(dir: Option<&Path>) -> Result<(), CliError> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => default_man_dir().ok_or_else(|| {
            CliError::failure("cannot tell where your home folder is")
                .with_hint("name the folder: flux man --dir DIR")
        })?,
    };
    let fail = |e: std::io::Error| {
        CliError::failure(format!("cannot write man pages to {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = 0;
    write_pages(&command, &dir, &mut written).map_err(fail)?;
    Ok(print_line(&format!(
        "Wrote {written} man pages to {}",
        dir.display()
    ))?)
}

fn write_pages(command: &clap::Command, dir: &Path, written: &mut usize) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name());
    std::fs::write(dir.join(format!("{name}.1")), page(command)?)?;
    *written += 1;
    Ok(())
}

/// One command's page: clap_mangen's NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS,
/// then the help's own sections (examples, exit codes, environment) kept line for line, and
/// `flux 0.1.0` in the footer.
fn page(command: &clap::Command) -> std::io::Result<Vec<u8>> {
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_string();
    let extra = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
        .map(|text| text.to_string());
    // Without these, clap_mangen writes no EXTRA and VERSION sections: ours replace them.
    let bare = command
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>)
        .version(None::<&str>);
    let man = clap_mangen::Man::new(bare)
        .title(name.to_uppercase())
        // An empty date must still be an argument, or the source would be taken for it.
        .date("\"\"")
        .source(format!("flux {}", env!("CARGO_PKG_VERSION")))
        .manual("flux manual");
    let mut out = Vec::new();
    man.render(&mut out)?;
    if let Some(extra) = extra {
        out.extend(help_sections(&extra).to_roff().into_bytes());
    }
    Ok(out)
}

/// The help's `Examples:`, `Exit codes:` and `Environment:` blocks as man sections, their lines
/// kept as written (no filling: an example is a command line, not prose).
fn help_sections(text: &str) -> Roff {
    let mut roff = Roff::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let Some(heading) = lines.next() else {
            continue;
        };
        let heading = heading.trim().trim_end_matches(':');
        let heading = match heading {
            "Exit codes" => "EXIT STATUS".to_string(),
            other => other.to_uppercase(),
        };
        let body: Vec<&str> = lines.collect();
        let indent = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        roff.control("SH", [heading.as_str()]);
        roff.control("nf", []);
        for line in body {
            roff.text([roman(line.get(indent..).unwrap_or("").trim_end())]);
        }
        roff.control("fi", []);
    }
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_sections_become_man_sections_kept_line_for_line() {
        let roff = help_sections(
            "Examples:\n  flux dev             Serve it\n  flux trace 4f9a | jq .spans\n\nExit codes:\n  0  success",
        )
        .to_roff();
        assert_eq!(
            roff,
            ".SH EXAMPLES\n.nf\nflux dev             Serve it\nflux trace 4f9a | jq .spans\n.fi\n.SH \"EXIT STATUS\"\n.nf\n0  success\n.fi\n"
        );
    }
}
