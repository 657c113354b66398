//! The npm packages vendored under vendor/npm (the `node:` built-ins flux embeds) are the
//! published packages, unchanged: each file is compared with the same file of the same
//! version installed from the npm registry (tests/fixtures/npm pins the versions).

use std::fs;
use std::path::Path;

use crate::npm::node_modules;

#[test]
fn vendored_npm_packages_are_the_published_files_unchanged() {
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor/npm");
    let installed = node_modules();
    let mut compared = 0;
    let mut pending = vec![vendor.clone()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read vendor/npm") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.file_name().is_some_and(|n| n == "README.md")
                && path.parent() == Some(vendor.as_path())
            {
                continue;
            }
            let relative = path.strip_prefix(&vendor).expect("inside vendor/npm");
            let published = installed.join(relative);
            let ours = fs::read(&path).expect("read the vendored file");
            let theirs = fs::read(&published).unwrap_or_else(|e| {
                panic!(
                    "{} has no published counterpart {}: {e}",
                    path.display(),
                    published.display()
                )
            });
            assert!(
                ours == theirs,
                "{} differs from the published {}",
                path.display(),
                published.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 18, "only {compared} vendored files compared");
}
