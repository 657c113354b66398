//! What a new user meets around the commands: completion as the shell asks for it (the
//! `FLUX_COMPLETE` protocol), the completion scripts and man pages that `install.sh` puts
//! down, errors as JSON with `--format json`, help that pastes into a shell, and tables on a
//! terminal that reports no size.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{flux_bin, wait_for, Project, DEADLINE};

/// What `flux` answers when the shell asks it to complete the last of `words` (the command
/// line so far, `flux` first), as `shell`'s script asks: its stdout, after checking that it
/// succeeded and wrote nothing to stderr (which a shell would show in the prompt).
pub fn complete(dir: &Path, shell: &str, words: &[&str]) -> String {
    let output = Command::new(flux_bin())
        .arg("--")
        .args(words)
        .current_dir(dir)
        .env("FLUX_COMPLETE", shell)
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_IFS", "\n")
        .env_remove("FLUX_URL")
        .output()
        .expect("run flux");
    assert!(output.status.success(), "completing {words:?} failed");
    assert!(
        output.stderr.is_empty(),
        "completing {words:?} wrote to stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The candidates, one per line, without zsh's `:description` and without the flags that
/// clap offers beside a positional argument's values.
pub fn candidates(answer: &str) -> Vec<String> {
    answer
        .lines()
        .map(|line| line.split(':').next().unwrap_or("").to_string())
        .filter(|value| !value.starts_with("--") || value.starts_with("--filter="))
        .collect()
}

#[test]
fn tab_completes_ids_functions_tables_and_filter_keys_from_the_project() {
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE notes (id TEXT PRIMARY KEY);",
        ),
        ("functions/hello.ts", "export default () => 'hi'"),
        (
            "functions/boom.ts",
            "export default () => { throw new Error('boom') }",
        ),
    ]);
    let server = project.start();
    let ok = server.get("/hello").request_id();
    let failed = server.get("/boom").request_id();
    server.record(&ok);
    server.record(&failed);
    let dir = project.path();

    // Ids: the recent executions; `why` offers the failed ones.
    let traced = candidates(&complete(dir, "bash", &["flux", "trace", ""]));
    assert!(
        traced.contains(&ok[..8].to_string()) && traced.contains(&failed[..8].to_string()),
        "{traced:?}"
    );
    let why = candidates(&complete(dir, "bash", &["flux", "why", ""]));
    assert_eq!(why, [failed[..8].to_string()]);
    let prefixed = candidates(&complete(dir, "bash", &["flux", "trace", &ok[..3]]));
    assert!(prefixed.contains(&ok[..8].to_string()), "{prefixed:?}");
    assert!(prefixed.iter().all(|id| id.starts_with(&ok[..3])));

    // `--filter` completes its keys, then each key's values; never file names.
    assert_eq!(
        candidates(&complete(dir, "bash", &["flux", "tail", "--filter", ""])),
        ["type=", "fn=", "status=", "req=", "job="]
    );
    assert_eq!(
        candidates(&complete(dir, "bash", &["flux", "tail", "--filter", "fn="])),
        ["fn=boom", "fn=hello"]
    );
    assert_eq!(
        candidates(&complete(dir, "bash", &["flux", "tail", "--filter=st"])),
        ["--filter=status="]
    );
    assert_eq!(
        candidates(&complete(
            dir,
            "bash",
            &["flux", "queue", "list", "--filter", ""]
        )),
        ["fn="]
    );

    // Function names for a worker, the app's tables (not flux's own) for `state`.
    assert_eq!(
        candidates(&complete(dir, "bash", &["flux", "queue", "enqueue", "he"])),
        ["hello"]
    );
    assert_eq!(
        candidates(&complete(dir, "bash", &["flux", "state", "history", ""])),
        ["notes"]
    );

    // zsh gets a description beside each candidate.
    let zsh = complete(dir, "zsh", &["flux", "tail", "--filter", "ty"]);
    assert_eq!(zsh.trim(), "type=:job or http");
    let zsh = complete(dir, "zsh", &["flux", "why", ""]);
    assert_eq!(
        zsh.lines().next(),
        Some(format!("{}:boom error", &failed[..8]).as_str())
    );
    drop(server);

    // The store is read directly: completion works with the server stopped, and outside a
    // project it offers nothing, quietly.
    let traced = candidates(&complete(dir, "bash", &["flux", "trace", ""]));
    assert!(traced.contains(&ok[..8].to_string()), "{traced:?}");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let nothing = candidates(&complete(elsewhere.path(), "bash", &["flux", "trace", ""]));
    assert!(nothing.is_empty(), "{nothing:?}");
}

#[test]
fn completion_scripts_call_flux_at_each_tab_and_zsh_s_works_from_fpath() {
    let script = |shell: &str| {
        let output = Command::new(flux_bin())
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef flux\n"), "{zsh}");
    assert!(zsh.contains("FLUX_COMPLETE=\"zsh\""), "{zsh}");
    // Autoloaded from $fpath as _flux on the first Tab, it completes that Tab too.
    assert!(
        zsh.contains("if [[ ${funcstack[1]} == _flux ]]; then\n    _flux_dynamic_complete \"$@\""),
        "{zsh}"
    );
    let bash = script("bash");
    assert!(bash.contains("FLUX_COMPLETE=\"bash\""), "{bash}");
    for (shell, text) in [("bash", &bash), ("zsh", &zsh)] {
        let Ok(status) = Command::new(shell).args(["-n", "-c", text]).status() else {
            continue; // that shell is not installed here
        };
        assert!(status.success(), "{shell} -n rejects the script:\n{text}");
    }
}

/// bash splits `--filter fn=cr` at the `=` before its completion function sees it: the
/// script joins the word back for flux and offers what replaces `cr`.
#[test]
fn bash_completes_a_filter_value_after_the_equals_sign() {
    let project = Project::with_files(&[("functions/create_user.ts", "export default () => 1")]);
    let bin_dir = flux_bin().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // As readline calls it: the words split at `=`, the word being completed as $2.
    let script = r#"source <(flux completions bash)
COMP_WORDS=(flux tail --filter fn = cr); COMP_CWORD=5
_flux_dynamic_complete flux cr =; printf '[%s]' "${COMPREPLY[@]}"; echo
COMP_WORDS=(flux tail --filter fn =); COMP_CWORD=4
_flux_dynamic_complete flux "" fn; printf '[%s]' "${COMPREPLY[@]}"; echo
COMP_WORDS=(flux tail --filter st); COMP_CWORD=3
_flux_dynamic_complete flux st --filter; printf '[%s]' "${COMPREPLY[@]}"; echo"#;
    let Ok(output) = Command::new("bash")
        .args(["--norc", "-c", script])
        .current_dir(project.path())
        .env("PATH", path)
        .output()
    else {
        return; // no bash here
    };
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "[create_user]\n[create_user]\n[status=]\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn man_pages_read_like_man_pages_and_say_where_they_went() {
    let data = tempfile::tempdir().expect("tempdir");
    let output = Command::new(flux_bin())
        .arg("man")
        .env("XDG_DATA_HOME", data.path())
        .output()
        .expect("run");
    assert!(output.status.success());
    let dir = data.path().join("man/man1");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // One page per command and subcommand: as many as the man/ folder holds.
    let pages = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("man"))
        .expect("man/")
        .count();
    assert_eq!(
        stdout.trim(),
        format!("Wrote {pages} man pages to {}", dir.display())
    );
    let page = std::fs::read_to_string(dir.join("flux-tail.1")).expect("flux-tail.1");
    assert!(
        page.contains(".TH FLUX-TAIL 1 \"\" \"flux 0.1.0\""),
        "footer: {page}"
    );
    assert!(!page.contains(".SH EXTRA"), "{page}");
    assert!(!page.contains(".SH VERSION"), "{page}");
    // Examples are kept line for line (no filling), quoted as typed.
    assert!(
        page.contains(".SH EXAMPLES\n.nf\nflux tail \\-\\-filter type=job\n"),
        "{page}"
    );
    let root = std::fs::read_to_string(dir.join("flux.1")).expect("flux.1");
    assert!(
        root.contains(".SH \"EXIT STATUS\"") && root.contains(".SH ENVIRONMENT"),
        "{root}"
    );
}

#[test]
fn json_errors_with_format_json_keep_the_exit_code() {
    let project = Project::with_files(&[]);
    let json_error = |args: &[&str]| {
        let output = project.flux(args).output().expect("run");
        let code = output.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let value: Value = serde_json::from_str(stderr.trim())
            .unwrap_or_else(|e| panic!("flux {args:?}: stderr is not JSON ({e}): {stderr}"));
        assert!(output.stdout.is_empty());
        (code, value)
    };
    let (code, error) = json_error(&["trace", "abcd1234", "--url", "http://127.0.0.1:9", "--json"]);
    assert_eq!(code, 4);
    assert_eq!(error["code"], 4);
    assert_eq!(error["error"], "no flux server at http://127.0.0.1:9");
    assert!(
        error["hint"]
            .as_str()
            .is_some_and(|h| h.contains("flux dev")),
        "{error}"
    );

    let (code, error) = json_error(&["trace", "ab", "--format", "json"]);
    assert_eq!((code, error["code"].clone()), (2, Value::from(2)));

    // clap's own usage errors too.
    let (code, error) = json_error(&["tail", "--bogus", "--json"]);
    assert_eq!(code, 2);
    assert_eq!(error["error"], "unexpected argument '--bogus' found");

    // Without it, errors stay text.
    let (_, _, stderr) = project.run(&["trace", "ab"]);
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn tables_on_a_terminal_of_no_size_fit_80_columns_without_breaking_ids_or_times() {
    let project = Project::with_files(&[
        (
            "flux.config.ts",
            "export default { workers: { a_worker_with_a_rather_long_name: { maxAttempts: 1 } } }",
        ),
        (
            "functions/a_worker_with_a_rather_long_name.ts",
            "export default () => { throw new Error('this error message is much too long to fit beside everything else on one line') }",
        ),
    ]);
    let server = project.start();
    let reply = server
        .enqueue(&serde_json::json!({ "name": "a_worker_with_a_rather_long_name", "data": 1 }));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let job = reply.json()["jobs"][0]["id"]
        .as_str()
        .expect("job id")
        .to_string();
    wait_for("the job to die", DEADLINE, || {
        let value = server.get(&format!("/_flux/api/jobs/{job}")).json();
        (value["job"]["state"] == "dead").then_some(())
    });
    // `script` runs the command on a fresh pseudo-terminal, which reports 0×0 when script's
    // own input is not a terminal.
    let command = format!("'{}' queue list", flux_bin().display());
    let Ok(output) = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .env_remove("FLUX_URL")
        .stdin(std::process::Stdio::null())
        .output()
    else {
        return; // no `script` here (util-linux)
    };
    let shown = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one header and one row, nothing wrapped:\n{shown}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{shown}");
    let row = lines[1];
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").expect("regex");
    assert!(row.starts_with(&job[..8]), "{row}");
    assert!(time.is_match(row), "the time is whole: {row}");
    assert!(row.contains("dead") && row.contains("1/1"), "{row}");
    assert!(row.ends_with('…'), "the error is cut, not wrapped: {row}");
}
