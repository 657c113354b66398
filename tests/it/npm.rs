//! Real npm packages for the tests that run them inside `flux dev` (and `tsc` for the editor
//! set-up): `npm ci` of `tests/fixtures/npm` once per lockfile into the test target folder,
//! then hard-linked into each test project's own `node_modules`, since imports may not leave
//! the project. npm's own cache (`~/.npm`) makes a second machine-wide install offline.

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use fs4::fs_std::FileExt;

use crate::support::Project;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/npm");

/// The installed `node_modules` of the fixture, installing it the first time.
pub fn node_modules() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(install)
}

fn install() -> PathBuf {
    let lock =
        fs::read(Path::new(FIXTURE).join("package-lock.json")).expect("read package-lock.json");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    lock.hash(&mut hasher);
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("npm");
    let dir = base.join(format!("{:016x}", hasher.finish()));
    let modules = dir.join("node_modules");
    if modules.join(".flux-complete").exists() {
        return modules;
    }
    fs::create_dir_all(&base).expect("create the npm folder");
    // Test binaries of other checkouts (or a second `cargo test`) may install at once.
    let guard = File::create(base.join(".lock")).expect("create the npm lock");
    guard.lock_exclusive().expect("lock the npm folder");
    if !modules.join(".flux-complete").exists() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the install folder");
        for file in ["package.json", "package-lock.json"] {
            fs::copy(Path::new(FIXTURE).join(file), dir.join(file)).expect("copy the fixture");
        }
        let output = Command::new("npm")
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
            ])
            .current_dir(&dir)
            .output()
            .expect("run npm: the npm tests need Node.js and npm on PATH");
        assert!(
            output.status.success(),
            "npm ci in {} failed (the npm registry must be reachable the first time):\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        fs::write(modules.join(".flux-complete"), "").expect("mark the install complete");
    }
    FileExt::unlock(&guard).expect("unlock the npm folder");
    modules
}

impl Project {
    /// A project with the given files and the fixture's packages in its `node_modules`.
    pub fn with_npm(files: &[(&str, &str)]) -> Project {
        let project = Project::with_files(files);
        link_tree(node_modules(), &project.path().join("node_modules"));
        project
    }
}

/// Recreates `from` at `to` with hard links (same file system) or copies, and symlinks as they
/// are (npm's `.bin` entries point inside `node_modules`).
fn link_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read node_modules") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let link = fs::read_link(entry.path()).expect("read link");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
        } else if kind.is_dir() {
            link_tree(&entry.path(), &target);
        } else if fs::hard_link(entry.path(), &target).is_err() {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn the_fixture_packages_install_and_link_into_a_project() {
    let project = Project::with_npm(&[]);
    for package in ["zod", "lodash", "@faker-js/faker", "typescript"] {
        let manifest = project
            .path()
            .join("node_modules")
            .join(package)
            .join("package.json");
        assert!(manifest.exists(), "{} is missing", manifest.display());
    }
}
