use std::process::ExitCode;

use clap::Parser;

use flux::cli::{self, complete, exit, Cli, Format};
use flux::render::{error_json, error_report, Style};

// Records are built on engine threads and freed on the store thread; glibc's allocator makes
// such cross-thread frees contend on its arena locks, mimalloc does not. Built without
// transparent huge pages, which raised an idle `flux dev` from 28 to 40 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A Tab in a shell whose completion script calls `FLUX_COMPLETE=<shell> flux -- …`.
    if complete::answer_if_asked() {
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            if cli::wants_json(std::env::args_os()) {
                let (message, hints) = usage_parts(&e.render().to_string());
                eprintln!("{}", error_json(&message, &hints, exit::USAGE));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    let json = cli.global.format() == Format::Json;
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`flux … | head`): nothing to say, and nobody to say it to.
        Err(error) if error.kind() == exit::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) if json => {
            let (message, hints, code) = (error.message(), error.hints(), error.exit_code());
            eprintln!("{}", error_json(&message, hints, code));
            ExitCode::from(code as u8)
        }
        Err(error) => {
            // Messages quote input and recorded data: shown, never run by the terminal.
            eprintln!(
                "{}",
                error_report(&error.message(), error.hints(), Style::stderr())
            );
            ExitCode::from(error.exit_code() as u8)
        }
    }
}

/// clap's usage error as message and hints: its `error: …` line, then its tips and usage.
fn usage_parts(rendered: &str) -> (String, Vec<String>) {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = lines
        .next()
        .map(|first| first.strip_prefix("error: ").unwrap_or(first).to_string())
        .unwrap_or_default();
    (message, lines.map(String::from).collect())
}
