use std::path::Path;

use crate::support::Project;

fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if entry.file_name() != ".flux" {
                    stack.push(path);
                }
            } else {
                out.push(
                    path.strip_prefix(root)
                        .expect("prefix")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_writes_exactly_the_bundled_example() {
    let project = Project::example();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/welcome");
    let written = files_under(project.path());
    assert_eq!(
        written,
        files_under(&example),
        "flux init and examples/welcome list different files"
    );
    for file in &written {
        let ours = std::fs::read(project.path().join(file)).expect("read written");
        let theirs = std::fs::read(example.join(file)).expect("read example");
        assert!(
            ours == theirs,
            "{file} differs between flux init and examples/welcome"
        );
    }
    let gitignore = std::fs::read_to_string(project.path().join(".gitignore")).expect("gitignore");
    assert!(gitignore.lines().any(|l| l.trim() == ".flux/"));
}

#[test]
fn init_refuses_a_folder_that_is_not_empty_unless_forced() {
    let project = Project::with_files(&[("notes.txt", "mine")]);
    let (code, _, stderr) = project.run(&["init", "."]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(!project.path().join("flux.config.ts").exists());

    let (code, stdout, stderr) = project.run(&["init", ".", "--force"]);
    assert_eq!(code, 0, "{stderr}");
    // Success is output, not a diagnostic: it goes to stdout, and stderr stays empty.
    assert!(
        stdout.starts_with("Created a flux project in .") && stdout.contains("  flux dev"),
        "{stdout}"
    );
    assert_eq!(stderr, "");
    assert!(project.path().join("functions/create_user.ts").exists());
    assert_eq!(
        std::fs::read_to_string(project.path().join("notes.txt")).expect("kept"),
        "mine"
    );
}
