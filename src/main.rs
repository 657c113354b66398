use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use owo_colors::OwoColorize;

use flux::cli::{self, exit, Cli};

// Records are built on engine threads and freed on the store thread; glibc's allocator makes
// such cross-thread frees contend on its arena locks, mimalloc does not. Built without
// transparent huge pages, which raised an idle `flux dev` from 28 to 40 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let label = if color {
                "error:".red().bold().to_string()
            } else {
                "error:".to_string()
            };
            // Messages quote input and recorded data: shown, never run by the terminal.
            eprintln!("{label} {}", cli::escape_message(&error.message));
            if let Some(hint) = &error.hint {
                let label = if color {
                    "hint:".cyan().to_string()
                } else {
                    "hint:".to_string()
                };
                eprintln!("  {label} {}", cli::escape_message(hint));
            }
            ExitCode::from(error.code as u8)
        }
    }
}
