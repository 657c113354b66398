//! `flux init`: writes the bundled example project.

use std::path::Path;

use super::{CliError, InitArgs};

/// The example project, compiled in: `examples/welcome` is its source.
pub const TEMPLATE: &[(&str, &str)] = &[
    (
        ".gitignore",
        include_str!("../../examples/welcome/.gitignore"),
    ),
    (
        "README.md",
        include_str!("../../examples/welcome/README.md"),
    ),
    (
        "flux.config.ts",
        include_str!("../../examples/welcome/flux.config.ts"),
    ),
    (
        "flux.d.ts",
        include_str!("../../examples/welcome/flux.d.ts"),
    ),
    (
        "functions/create_user.ts",
        include_str!("../../examples/welcome/functions/create_user.ts"),
    ),
    (
        "functions/send_welcome_email.ts",
        include_str!("../../examples/welcome/functions/send_welcome_email.ts"),
    ),
    (
        "migrations/001_users.sql",
        include_str!("../../examples/welcome/migrations/001_users.sql"),
    ),
    (
        "emails/welcome.html",
        include_str!("../../examples/welcome/emails/welcome.html"),
    ),
];

pub fn run(args: &InitArgs) -> Result<(), CliError> {
    let dir = &args.dir;
    let not_empty = std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if not_empty && !args.force {
        return Err(CliError::failure(format!("{} is not empty", dir.display()))
            .with_hint("choose a new folder, or pass --force to write the example files into it (files of the same name are replaced)"));
    }
    for (relative, contents) in TEMPLATE {
        write(&dir.join(relative), contents)?;
    }
    let shown = dir.display();
    Ok(crate::output::print_line(&format!(
        "Created a flux project in {shown}\n\nNext:\n  cd {shown}\n  flux dev"
    ))?)
}

fn write(path: &Path, contents: &str) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::failure(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, contents).map_err(fail)
}
