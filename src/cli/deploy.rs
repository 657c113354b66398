//! `flux deploy`: the project as a content-addressed version (`--dry-run` shows it), uploaded
//! to a server (only the blobs it lacks) and made active; `--list` and `--rollback`.

use std::path::PathBuf;

use bytesize::ByteSize;

use super::{print_json, print_list, CliError, DeployArgs, ErrorKind, Format, GlobalArgs};
use crate::api::{Activated, BlobHashes, MissingBlobs, NewDeploy, Rollback, StoredBlob, Versions};
use crate::client::{self, Answer, Target};
use crate::output::print_line;
use crate::project::find_root;
use crate::render::{escape, Column};
use crate::store::versions::VersionRow;
use crate::timefmt::rfc3339;
use crate::version::{self, Snapshot, VersionError};

/// How many of the largest files `--dry-run` names.
const LARGEST_SHOWN: usize = 5;

pub fn run(args: &DeployArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let target = || {
        global
            .target_at(args.to.clone().or_else(|| global.url.clone()))
            .any_project()
    };
    if args.list {
        return list(&target(), global);
    }
    if let Some(version) = &args.rollback {
        let version = Some(version.clone()).filter(|v| !v.is_empty());
        return rollback(&target(), global, version);
    }
    let snapshot = collect(args.dir.clone())?;
    if args.dry_run {
        return dry_run(&snapshot, global);
    }
    deploy(&target(), global, &snapshot, args.message.clone())
}

fn collect(dir: Option<PathBuf>) -> Result<Snapshot, CliError> {
    let dir = match dir {
        Some(dir) => dir,
        None => {
            let cwd = std::env::current_dir()?;
            find_root(&cwd).ok_or_else(|| {
                CliError::usage("not in a flux project (no functions/ folder here or above)")
                    .with_hint(
                        "run flux deploy in the project, or name its folder: flux deploy DIR",
                    )
            })?
        }
    };
    version::collect(&dir).map_err(|e| {
        let hint = match &e {
            VersionError::SymlinkOutside { .. } => {
                "a deployed project holds its own files: copy it in, or remove the link"
            }
            VersionError::TooLarge { .. } => {
                "keep data out of the project's folders (functions/, emails/, migrations/)"
            }
            VersionError::Import(_) => "fix the import: the deployed version would fail on it",
            _ => "name the project folder: flux deploy DIR",
        };
        CliError::with_source(ErrorKind::Failure, e).with_hint(hint)
    })
}

fn size(bytes: u64) -> String {
    ByteSize::b(bytes).display().iec().to_string()
}

fn dry_run(snapshot: &Snapshot, global: &GlobalArgs) -> Result<(), CliError> {
    let manifest = &snapshot.manifest;
    if global.format() == Format::Json {
        return print_json(&serde_json::json!({
            "version": snapshot.id(),
            "files": manifest.files,
            "size": manifest.total_size(),
        }));
    }
    print_line(&format!(
        "version {}: {} files, {}",
        version::short(&snapshot.id()),
        manifest.files.len(),
        size(manifest.total_size())
    ))?;
    let mut largest: Vec<_> = manifest.files.iter().collect();
    largest.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    print_line("largest files:")?;
    for file in largest.into_iter().take(LARGEST_SHOWN) {
        print_line(&format!(
            "  {:>10}  {}",
            size(file.size),
            escape(&file.path)
        ))?;
    }
    Ok(())
}

/// The server's answer, or why there is none, with what to do about the usual refusals.
fn answered<T>(target: &Target, answer: Answer<T>) -> Result<T, CliError> {
    match answer {
        Answer::Ok(body) => Ok(body),
        Answer::Status(status, message, _) => {
            let error = CliError::refused(status, message);
            Err(if status == 403 {
                error.with_hint(
                    "deploying needs a token of scope deploy: flux token create --scope deploy",
                )
            } else if status == 422 {
                error.with_hint(
                    "the server keeps running the version before: fix it and deploy again",
                )
            } else {
                error.with_hint_if(ErrorKind::NotFound, "flux deploy --list shows the versions")
            })
        }
        Answer::Unreachable => Err(CliError::unreachable(format!(
            "no flux server answered at {}",
            target.url
        ))
        .with_hint("start one (flux serve, or flux dev), or name it: flux deploy --to URL")),
    }
}

fn deploy(
    target: &Target,
    global: &GlobalArgs,
    snapshot: &Snapshot,
    message: Option<String>,
) -> Result<(), CliError> {
    let hashes: Vec<String> = snapshot.blobs.keys().cloned().collect();
    let missing: MissingBlobs = answered(
        target,
        client::post_json(target, "/_flux/api/deploy/missing", &BlobHashes { hashes })?,
    )?;
    let mut uploaded = 0u64;
    for hash in &missing.missing {
        let Some(path) = snapshot.blobs.get(hash) else {
            continue;
        };
        let bytes = std::fs::read(path)?;
        // The file may have changed since it was hashed: the server would refuse it.
        if version::hash_bytes(&bytes) != *hash {
            return Err(CliError::failure(format!(
                "{} changed while it was being deployed",
                path.display()
            ))
            .with_hint("run flux deploy again"));
        }
        let _: StoredBlob = answered(
            target,
            client::put_bytes(target, &format!("/_flux/api/deploy/blobs/{hash}"), &bytes)?,
        )?;
        uploaded += bytes.len() as u64;
    }
    let body = NewDeploy {
        manifest: snapshot.manifest.clone(),
        message,
    };
    let activated: Activated<VersionRow> = answered(
        target,
        client::post_json(target, "/_flux/api/deploy", &body)?,
    )?;
    if global.format() == Format::Json {
        return print_json(&serde_json::json!({
            "version": activated.version,
            "uploaded": { "files": missing.missing.len(), "bytes": uploaded },
        }));
    }
    print_line(&format!(
        "Deployed version {} to {} ({} files, {}; uploaded {} files, {})",
        version::short(&activated.version.id),
        target.url,
        activated.version.files,
        size(activated.version.size.max(0) as u64),
        missing.missing.len(),
        size(uploaded)
    ))?;
    Ok(())
}

fn list(target: &Target, global: &GlobalArgs) -> Result<(), CliError> {
    let versions: Versions<VersionRow> =
        answered(target, client::get(target, "/_flux/api/deploy/versions")?)?;
    let columns = [
        Column::whole(" "),
        Column::whole("VERSION"),
        Column::whole("DEPLOYED"),
        Column::whole("FILES"),
        Column::whole("SIZE"),
        Column::whole("BY"),
        Column::shrink("MESSAGE"),
    ];
    print_list(
        global,
        &versions.versions,
        "no version deployed yet: flux deploy",
        &columns,
        |v| {
            vec![
                if v.active { "*" } else { " " }.to_string(),
                version::short(&v.id).to_string(),
                rfc3339(v.created_at_us),
                v.files.to_string(),
                size(v.size.max(0) as u64),
                escape(&v.deployed_by).into_owned(),
                v.message
                    .as_deref()
                    .map(|m| escape(m).into_owned())
                    .unwrap_or_default(),
            ]
        },
    )
}

fn rollback(target: &Target, global: &GlobalArgs, version: Option<String>) -> Result<(), CliError> {
    let activated: Activated<VersionRow> = answered(
        target,
        client::post_json(target, "/_flux/api/deploy/rollback", &Rollback { version })?,
    )?;
    if global.format() == Format::Json {
        return print_json(&activated.version);
    }
    print_line(&format!(
        "Version {} is active again",
        version::short(&activated.version.id)
    ))?;
    Ok(())
}
