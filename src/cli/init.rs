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
        "package.json",
        include_str!("../../examples/welcome/package.json"),
    ),
    (
        "tsconfig.json",
        include_str!("../../examples/welcome/tsconfig.json"),
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

/// The editor set-up a project may have already (from `npm init`, or its own): never replaced,
/// so `flux init .` in an npm project keeps its dependencies and compiler options.
const KEPT: &[&str] = &["package.json", "tsconfig.json"];

/// What an npm project has before `flux init .`: a folder holding only these is not refused.
const NPM_PROJECT: &[&str] = &[
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "node_modules",
    ".git",
];

pub fn run(args: &InitArgs) -> Result<(), CliError> {
    let dir = &args.dir;
    let not_empty = std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                !NPM_PROJECT.iter().any(|kept| name == *kept)
            })
        })
        .unwrap_or(false);
    if not_empty && !args.force {
        return Err(CliError::failure(format!("{} is not empty", dir.display()))
            .with_hint("choose a new folder, or pass --force to write the example files into it (files of the same name are replaced, except package.json and tsconfig.json)"));
    }
    let mut kept = Vec::new();
    for (relative, contents) in TEMPLATE {
        let path = dir.join(relative);
        if KEPT.contains(relative) && path.exists() {
            kept.push(*relative);
            continue;
        }
        write(&path, contents)?;
    }
    for file in kept {
        eprintln!("note: kept the existing {file}: {}", what_flux_needs(file));
    }
    let shown = dir.display();
    Ok(crate::output::print_line(&format!(
        "Created a flux project in {shown}\n\nNext:\n  cd {shown}\n  flux dev"
    ))?)
}

/// What flux's own version of a kept file would have given, for the user to merge by hand.
fn what_flux_needs(file: &str) -> &'static str {
    if file == "package.json" {
        "flux's sets \"type\": \"module\", a dev dependency on typescript and \"typecheck\": \"tsc --noEmit\""
    } else {
        "flux's sets lib [\"ESNext\"] (no DOM), types [], module and moduleResolution NodeNext, \
         allowImportingTsExtensions, verbatimModuleSyntax, noEmit, and includes flux.d.ts"
    }
}

fn write(path: &Path, contents: &str) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::failure(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, contents).map_err(fail)
}
