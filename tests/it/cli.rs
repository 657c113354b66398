use std::path::Path;
use std::process::Command;

use clap::CommandFactory;

use crate::support::{flux_bin, Project};

#[test]
fn committed_completions_and_man_pages_match_the_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stale = "stale: run scripts/generate.sh and commit the result";
    for (shell, file) in [
        ("bash", "flux.bash"),
        ("zsh", "_flux"),
        ("fish", "flux.fish"),
        ("powershell", "_flux.ps1"),
        ("elvish", "flux.elv"),
    ] {
        let output = Command::new(flux_bin())
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(output.status.success());
        let committed =
            std::fs::read(root.join("completions").join(file)).expect("committed completion");
        assert!(output.stdout == committed, "completions/{file} is {stale}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new(flux_bin())
        .args(["man", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run");
    assert!(status.success());
    let list = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let generated = list(dir.path());
    assert_eq!(generated, list(&root.join("man")), "man/ is {stale}");
    assert!(generated.contains(&"flux-queue-dead-letter-replay.1".to_string()));
    for name in generated {
        let fresh = std::fs::read(dir.path().join(&name)).expect("generated");
        assert!(
            fresh == std::fs::read(root.join("man").join(&name)).expect("committed"),
            "man/{name} is {stale}"
        );
    }
}

#[test]
fn every_command_has_examples_in_its_help() {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            let examples = sub
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Examples:"));
            if !examples && sub.get_subcommands().next().is_none() {
                missing.push(path.clone());
            }
            walk(sub, &path, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&flux::cli::Cli::command(), "flux", &mut missing);
    assert!(missing.is_empty(), "no examples in --help of: {missing:?}");
    let long = Command::new(flux_bin())
        .arg("--help")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&long.stdout);
    assert!(
        text.contains("Exit codes:") && text.contains("4  no flux server answered"),
        "{text}"
    );
}

/// An example is copied into a shell: a `|` inside an argument must be quoted (else it is a
/// pipe), and a real pipe stands between spaces; no parentheses or `;` slip in unquoted.
#[test]
fn help_examples_paste_into_a_shell() {
    fn unquoted_trouble(line: &str) -> Option<String> {
        let (mut single, mut double) = (false, false);
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                _ if single || double => {}
                '|' if chars.get(i.wrapping_sub(1)) != Some(&' ')
                    || chars.get(i + 1) != Some(&' ') =>
                {
                    return Some(format!("unquoted | at {i}"))
                }
                '(' | ')' | ';' => return Some(format!("unquoted {c} at {i}")),
                _ => {}
            }
        }
        (single || double).then(|| "unclosed quote".to_string())
    }
    fn walk(command: &clap::Command, bad: &mut Vec<String>) {
        for help in [command.get_after_help(), command.get_after_long_help()]
            .into_iter()
            .flatten()
        {
            let text = help.to_string();
            let Some((_, examples)) = text.split_once("Examples:\n") else {
                continue;
            };
            for line in examples.lines().take_while(|l| l.starts_with("  ")) {
                if let Some(trouble) = unquoted_trouble(line.trim()) {
                    bad.push(format!("{}: {trouble}: {line}", command.get_name()));
                }
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, bad);
        }
    }
    let mut bad = Vec::new();
    walk(&flux::cli::Cli::command(), &mut bad);
    assert!(bad.is_empty(), "examples that do not paste: {bad:#?}");
}

#[test]
fn user_settings_are_read_written_and_secrets_are_masked() {
    let home = tempfile::tempdir().expect("tempdir");
    let project = Project::with_files(&[]);
    let run = |args: &[&str]| {
        let output = project
            .flux(args)
            .env("XDG_CONFIG_HOME", home.path())
            .output()
            .expect("run");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["config", "get", "url"]).0, 3);
    assert_eq!(run(&["config", "set", "url", "http://127.0.0.1:4100"]).0, 0);
    assert_eq!(run(&["config", "get", "url"]).1, "http://127.0.0.1:4100\n");
    assert_eq!(run(&["config", "set", "token", "supersecret"]).0, 0);
    let (_, listed, _) = run(&["config", "list"]);
    assert_eq!(
        listed,
        "url = http://127.0.0.1:4100\ntoken = supe… (11 characters)\n"
    );
    assert!(!run(&["config", "get", "token"]).1.contains("supersecret"));
    let (code, _, stderr) = run(&["config", "set", "colour", "red"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("settings: url, token"), "{stderr}");
    // The configured URL is where commands look for a server.
    let (code, _, stderr) = run(&["trace", "abcd1234"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("no flux server at http://127.0.0.1:4100"),
        "{stderr}"
    );
    assert_eq!(run(&["config", "unset", "url"]).0, 0);
    assert_eq!(run(&["config", "get", "url"]).0, 3);
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let script = format!(
        "'{}' completions bash | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}",
        flux_bin().display()
    );
    let output = Command::new("bash")
        .args(["-c", &script])
        .output()
        .expect("bash");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let project = Project::with_files(&[(
        "functions/boom.ts",
        "export default () => { throw new Error('x') }",
    )]);
    let server = project.start();
    let id = server.get("/boom").request_id();
    server.record(&id);
    let (_, plain, _) = project.run(&["trace", &id[..8]]);
    assert!(!plain.contains('\u{1b}'), "piped output has no colour");
    let (_, coloured, _) = project.run(&["trace", &id[..8], "--color", "always"]);
    assert!(coloured.contains('\u{1b}'));
    let (_, json, _) = project.run(&["trace", &id[..8], "--color", "always", "--json"]);
    assert!(!json.contains('\u{1b}'), "never colour in JSON");
}
