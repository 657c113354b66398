//! What the user sees when a command fails, and the help of the main commands: snapshots, so
//! that a change to a message, a hint or an exit code shows up in review.

use std::process::Command;

use crate::support::{flux_bin, Project, Server};

/// Runs `command` with a settled environment (no user settings, no colour, a fixed width
/// for help); returns its exit code and what it wrote, stdout first.
fn shown(mut command: Command, config_home: &std::path::Path) -> String {
    let output = command
        .env("XDG_CONFIG_HOME", config_home)
        .env("COLUMNS", "100")
        .env_remove("FLUX_PORT")
        .output()
        .expect("run flux");
    let mut text = format!("exit {}\n", output.status.code().unwrap_or(-1));
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        if !bytes.is_empty() {
            text.push_str(&format!("--- {name}\n{}", String::from_utf8_lossy(bytes)));
        }
    }
    text
}

/// `flux <args>` in `project`, as [`shown`].
fn run(project: &Project, args: &[&str]) -> String {
    let config = tempfile::tempdir().expect("config home");
    shown(project.flux(args), config.path())
}

/// Temporary folders and the ports of test servers differ from run to run.
macro_rules! with_filters {
    ($body:block) => {
        insta::with_settings!({ filters => vec![
            (r"/[^\s']*/\.tmp[0-9A-Za-z]+", "[TMP]"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        ]}, $body)
    };
}

#[test]
fn an_unknown_id_says_where_ids_come_from() {
    let project = Project::with_files(&[("functions/ok.ts", "export default () => 1")]);
    let server = project.start();
    let id = server.get("/ok").request_id();
    server.record(&id);
    with_filters!({
        insta::assert_snapshot!(run(&project, &["trace", "ffff0000"]), @r#"
            exit 3
            --- stderr
            error: no execution or job has an id starting with ffff0000
              hint: ids are printed by 'flux dev' and 'flux queue list', and sent in the x-flux-request-id header
            "#);
        insta::assert_snapshot!(run(&project, &["why", "ffff0000"]), @r#"
            exit 3
            --- stderr
            error: no execution or job has an id starting with ffff0000
              hint: ids are printed by 'flux dev' and 'flux queue list', and sent in the x-flux-request-id header
            "#);
        insta::assert_snapshot!(run(&project, &["queue", "dead-letter", "replay", "ffff0000"]), @r#"
            exit 3
            --- stderr
            error: no job or job attempt has an id starting with ffff0000
              hint: 'flux queue dead-letter list' shows the ids of dead jobs
            "#);
    });
    drop(server);
    // With the server stopped, the store answers, and says so.
    with_filters!({
        insta::assert_snapshot!(run(&project, &["trace", "ffff0000"]), @r#"
            exit 3
            --- stderr
            error: no execution or job has an id starting with ffff0000
              hint: read from [TMP]/.flux/flux.db (this project's flux server is not running)
            "#);
    });
}

#[test]
fn no_server_running_says_how_to_start_one() {
    let outside = tempfile::tempdir().expect("tempdir");
    let config = tempfile::tempdir().expect("config home");
    let flux = |args: &[&str]| {
        let mut command = Command::new(flux_bin());
        command
            .args(args)
            .current_dir(outside.path())
            .env("NO_COLOR", "1")
            .env_remove("FLUX_URL")
            .env_remove("FLUX_TOKEN");
        shown(command, config.path())
    };
    // Port 9 (discard) on loopback: nothing listens there on a test machine.
    let url = "http://127.0.0.1:9";
    insta::assert_snapshot!(flux(&["trace", "4f9a3b2c", "--url", url]), @r#"
        exit 4
        --- stderr
        error: no flux server at http://127.0.0.1:9
          hint: start one with 'flux dev' in your project, or set FLUX_URL / --url
        "#);
    insta::assert_snapshot!(flux(&["queue", "pause", "--url", url]), @r#"
        exit 4
        --- stderr
        error: no flux server at http://127.0.0.1:9
          hint: this command changes the queue, which only a running server does: start 'flux dev' in your project
        "#);

    // In a project whose server is not running and has no store yet (the address given, as
    // the default one may be another project's on a shared machine).
    let project = Project::with_files(&[("functions/ok.ts", "export default () => 1")]);
    with_filters!({
        insta::assert_snapshot!(run(&project, &["queue", "stats", "--url", url]), @r#"
            exit 4
            --- stderr
            error: no flux server at http://127.0.0.1:[PORT]
              hint: start one with 'flux dev' in your project, or set FLUX_URL / --url
            "#);
        insta::assert_snapshot!(run(&project, &["tail", "--url", url]), @r#"
            exit 4
            --- stderr
            error: no flux server at http://127.0.0.1:[PORT]
              hint: start one with 'flux dev' in your project, or set FLUX_URL / --url
            "#);
    });
}

#[test]
fn a_server_that_wants_a_token_says_how_to_give_it() {
    let project = Project::with_files(&[("functions/ok.ts", "export default () => 1")]);
    let server = Server::start(&project, &["--token", "s3cret"]);
    // Named explicitly, the server does not get the project's token.
    let url = server.url.as_str();
    with_filters!({
        insta::assert_snapshot!(run(&project, &["queue", "stats", "--url", url]), @r#"
            exit 5
            --- stderr
            error: unauthorised: this flux server needs a token (Authorization: Bearer …)
              hint: pass the server's token with FLUX_TOKEN (flux dev --token)
              hint: or save it for every command: flux config set token TOKEN
            "#);
        insta::assert_snapshot!(run(&project, &["tail", "--url", url]), @r#"
            exit 5
            --- stderr
            error: the server wants a token
              hint: pass the server's token with FLUX_TOKEN (flux dev --token)
              hint: or save it for every command: flux config set token TOKEN
            "#);
    });
}

#[test]
fn bad_flags_and_arguments_are_usage_errors() {
    let project = Project::with_files(&[]);
    insta::assert_snapshot!(run(&project, &["trace", "--bogus"]), @r#"
        exit 2
        --- stderr
        error: unexpected argument '--bogus' found

          tip: to pass '--bogus' as a value, use '-- --bogus'

        Usage: flux trace [OPTIONS] <ID>

        For more information, try '--help'.
        "#);
    insta::assert_snapshot!(run(&project, &["trace", "ab"]), @r#"
        exit 2
        --- stderr
        error: 'ab' is too short: give at least 4 characters of the id
        "#);
    insta::assert_snapshot!(run(&project, &["trace", "xyz!"]), @r#"
        exit 2
        --- stderr
        error: 'xyz!' is not an execution id: ids are hexadecimal (0-9, a-f)
        "#);
    insta::assert_snapshot!(run(&project, &["tail", "--filter", "colour=red"]), @r#"
        exit 2
        --- stderr
        error: --filter colour=red: unknown key
          hint: filters: type=job|http, fn=NAME, status=ok|error|timeout|interrupted|cancelled, req=ID, job=ID
        "#);
    insta::assert_snapshot!(run(&project, &["tail", "--last", "1h", "--since", "10m"]), @r#"
        exit 2
        --- stderr
        error: give --last or --since, not both
        "#);
    insta::assert_snapshot!(run(&project, &["queue", "list", "--state", "lost"]), @r#"
        exit 2
        --- stderr
        error: --state lost: expected pending, scheduled, running, done or dead
        "#);
    insta::assert_snapshot!(run(&project, &["queue", "list", "--filter", "worker=x"]), @r#"
        exit 2
        --- stderr
        error: --filter worker=x: expected fn=NAME
          hint: NAME is a worker's file name: --filter fn=send_welcome_email for functions/send_welcome_email.ts
        "#);
    insta::assert_snapshot!(run(&project, &["state", "history", "users", "--filter", "fn=x"]), @r#"
        exit 2
        --- stderr
        error: --filter fn=x: expected req=ID
          hint: ID is an execution's id, as 'flux dev' and 'flux tail' print it, or a job's: --filter req=b3c4d5e6
        "#);
    insta::assert_snapshot!(run(&project, &["config", "get", "colour"]), @r#"
        exit 2
        --- stderr
        error: unknown setting 'colour'
          hint: settings: url, token
        "#);
    insta::assert_snapshot!(run(&project, &["frobnicate"]), @r#"
        exit 2
        --- stderr
        error: unrecognized subcommand 'frobnicate'

        Usage: flux [OPTIONS] <COMMAND>

        For more information, try '--help'.
        "#);
}

#[test]
fn help_of_the_main_commands() {
    let project = Project::with_files(&[]);
    insta::assert_snapshot!(run(&project, &["--help"]), @r#"
        exit 0
        --- stdout
        A local runtime for TypeScript backend functions that records every execution

        Usage: flux [OPTIONS] <COMMAND>

        Commands:
          init         Create a project from the bundled example
          dev          Run the project's functions locally and record every execution
          serve        Run the deployed project: its active version, switched on each flux deploy
          deploy       Upload the project as a new version and make it active; list versions; roll back
          trace        Show one execution: its span tree, data changes, console output and error
          tail         Stream executions as they happen, one line each
          why          Explain a failed execution: root cause, location, input, data changes, suggestion
          state        Who changed a table or a row, and how
          queue        Inspect and manage the job queue
          token        Create, list, revoke and rotate scoped tokens for the /_flux API (admin token needed)
          email        Read the emails ctx.email.send captured (flux sends none)
          config       Read and change user-level settings (default server URL, token)
          store        Check the project's store file (.flux/flux.db) for damage
          completions  Print a shell completion script
          man          Write man pages, one per command and subcommand
          help         Print this message or the help of the given subcommand(s)

        Options:
              --url <URL>
                  The flux server to talk to (default: the one recorded in the project's .flux/)
                  
                  [env: FLUX_URL]

              --format <FORMAT>
                  Output format
                  
                  [default: pretty]
                  [possible values: pretty, json]

              --json
                  Same as --format json

              --color <WHEN>
                  When to use colour
                  
                  [default: auto]
                  [possible values: auto, always, never]

              --token <TOKEN>
                  Token for a server that needs one; with `flux dev`, the token it requires
                  
                  [env: FLUX_TOKEN]

          -h, --help
                  Print help (see a summary with '-h')

          -V, --version
                  Print version

        Examples:
          flux init my-app && cd my-app     Create a project from the bundled example
          flux dev                          Serve ./functions at http://127.0.0.1:4000
          flux trace 4f9a3b2c               Show what one request or job did

        Exit codes:
          0  success
          1  failure (the server or the project reported an error)
          2  usage: a bad flag or argument, an ambiguous id
          3  not found: no execution, job or setting with that id or name
          4  no flux server answered
          5  unauthorised: the server wants a token

        Environment:
          FLUX_URL        the server to talk to (like --url)
          FLUX_TOKEN      the token for a server that needs one (like --token)
          NO_COLOR        no colour; CLICOLOR_FORCE: colour even when not a terminal
        "#);
    insta::assert_snapshot!(run(&project, &["dev", "--help"]), @r#"
        exit 0
        --- stdout
        Run the project's functions locally and record every execution

        Usage: flux dev [OPTIONS] [DIR]

        Arguments:
          [DIR]  The project folder [default: .]

        Options:
          -p, --port <PORT>      Port to listen on [env: FLUX_PORT] [default: 4000]
              --url <URL>        The flux server to talk to (default: the one recorded in the project's
                                 .flux/) [env: FLUX_URL]
              --format <FORMAT>  Output format [default: pretty] [possible values: pretty, json]
              --host <HOST>      Address to listen on; beyond loopback the /_flux API requires a token
                                 (--token, or one generated and printed at start) [default: 127.0.0.1]
              --json             Same as --format json
          -q, --quiet            Do not print a line per request
              --color <WHEN>     When to use colour [default: auto] [possible values: auto, always, never]
              --database <URL>   A PostgreSQL database (postgres://user:password@host:5432/db) instead of
                                 SQLite: the app's tables, the queue, the records (and for flux serve the
                                 versions and tokens), shared by every flux process given the same URL [env:
                                 FLUX_DATABASE_URL]
              --token <TOKEN>    Token for a server that needs one; with `flux dev`, the token it requires
                                 [env: FLUX_TOKEN]
          -h, --help             Print help
          -V, --version          Print version

        Examples:
          flux dev
          flux dev examples/welcome --port 4100
        "#);
    insta::assert_snapshot!(run(&project, &["trace", "--help"]), @r#"
        exit 0
        --- stdout
        Show one execution: its span tree, data changes, console output and error

        Usage: flux trace [OPTIONS] <ID>

        Arguments:
          <ID>  An execution id or a job id (its latest attempt), any unique prefix of 4+ characters

        Options:
              --url <URL>        The flux server to talk to (default: the one recorded in the project's
                                 .flux/) [env: FLUX_URL]
          -v, --verbose          Also show each span's inputs and outputs, the stack and the record's input
              --format <FORMAT>  Output format [default: pretty] [possible values: pretty, json]
              --json             Same as --format json
              --color <WHEN>     When to use colour [default: auto] [possible values: auto, always, never]
              --token <TOKEN>    Token for a server that needs one; with `flux dev`, the token it requires
                                 [env: FLUX_TOKEN]
          -h, --help             Print help
          -V, --version          Print version

        Examples:
          flux trace 4f9a3b2c
          flux trace 4f9a --verbose
          flux trace 4f9a3b2c --format json | jq .spans
        "#);
    insta::assert_snapshot!(run(&project, &["why", "--help"]), @r#"
        exit 0
        --- stdout
        Explain a failed execution: root cause, location, input, data changes, suggestion

        Usage: flux why [OPTIONS] <ID>

        Arguments:
          <ID>  An execution id or a job id (its latest attempt), any unique prefix of 4+ characters

        Options:
              --url <URL>        The flux server to talk to (default: the one recorded in the project's
                                 .flux/) [env: FLUX_URL]
              --format <FORMAT>  Output format [default: pretty] [possible values: pretty, json]
              --json             Same as --format json
              --color <WHEN>     When to use colour [default: auto] [possible values: auto, always, never]
              --token <TOKEN>    Token for a server that needs one; with `flux dev`, the token it requires
                                 [env: FLUX_TOKEN]
          -h, --help             Print help
          -V, --version          Print version

        Examples:
          flux why d5e6f7a8
          flux why d5e6 --format json | jq .finding
        "#);
    insta::assert_snapshot!(run(&project, &["tail", "--help"]), @r#"
        exit 0
        --- stdout
        Stream executions as they happen, one line each

        Usage: flux tail [OPTIONS]

        Options:
              --filter <KEY=VALUE>  key=value, repeatable (all keys must match; `|` separates values that
                                    may): type=job|http, fn=NAME,
                                    status=ok|error|timeout|interrupted|cancelled, req=ID (executions it
                                    caused), job=ID
              --url <URL>           The flux server to talk to (default: the one recorded in the project's
                                    .flux/) [env: FLUX_URL]
              --format <FORMAT>     Output format [default: pretty] [possible values: pretty, json]
              --last <DURATION>     Print this much history first: 1h, 30m …
              --json                Same as --format json
              --since <WHEN>        Print history since a duration ago or an RFC 3339 time first
              --color <WHEN>        When to use colour [default: auto] [possible values: auto, always,
                                    never]
              --no-follow           Stop after the history instead of streaming
              --token <TOKEN>       Token for a server that needs one; with `flux dev`, the token it
                                    requires [env: FLUX_TOKEN]
          -h, --help                Print help
          -V, --version             Print version

        Examples:
          flux tail --filter type=job
          flux tail --filter type=job --last 1h
          flux tail --filter 'status=error|timeout' --filter fn=send_welcome_email
          flux tail --since 10m --no-follow --format json | jq .record.id
        "#);
    insta::assert_snapshot!(run(&project, &["queue", "--help"]), @r#"
        exit 0
        --- stdout
        Inspect and manage the job queue

        Usage: flux queue [OPTIONS] <COMMAND>

        Commands:
          enqueue      Add a job for functions/<NAME>.ts
          stats        Jobs per function and state, and how long the oldest pending one has waited
          list         Jobs, most recently changed first
          cancel       Cancel a job: a waiting one at once, a running one at its next await (or interrupted
                       if it spins); it is not retried
          pause        Start no new attempts until resumed (running ones finish)
          resume       Start attempts again after a pause
          dead-letter  Jobs that failed every attempt
          help         Print this message or the help of the given subcommand(s)

        Options:
              --url <URL>        The flux server to talk to (default: the one recorded in the project's
                                 .flux/) [env: FLUX_URL]
              --format <FORMAT>  Output format [default: pretty] [possible values: pretty, json]
              --json             Same as --format json
              --color <WHEN>     When to use colour [default: auto] [possible values: auto, always, never]
              --token <TOKEN>    Token for a server that needs one; with `flux dev`, the token it requires
                                 [env: FLUX_TOKEN]
          -h, --help             Print help
          -V, --version          Print version

        Examples:
          flux queue stats
          flux queue enqueue send_welcome_email --data '{"userId":"u_1"}'
          flux queue dead-letter list
          flux queue dead-letter replay d5e6f7a8
        "#);
    insta::assert_snapshot!(run(&project, &["state", "history", "--help"]), @r#"
        exit 0
        --- stdout
        Every recorded change to a table (or one row), newest first, with old → new values

        Usage: flux state history [OPTIONS] <TABLE>

        Arguments:
          <TABLE>  The table

        Options:
              --id <ROW>         Only this row (its primary key)
              --url <URL>        The flux server to talk to (default: the one recorded in the project's
                                 .flux/) [env: FLUX_URL]
              --filter <req=ID>  req=ID: only changes made by that execution (a job's id: by its attempts)
              --format <FORMAT>  Output format [default: pretty] [possible values: pretty, json]
              --json             Same as --format json
              --last <DURATION>  Only changes this recent: 1h, 30m, or an RFC 3339 time
              --color <WHEN>     When to use colour [default: auto] [possible values: auto, always, never]
              --limit <LIMIT>    [default: 100]
              --token <TOKEN>    Token for a server that needs one; with `flux dev`, the token it requires
                                 [env: FLUX_TOKEN]
          -h, --help             Print help
          -V, --version          Print version

        Examples:
          flux state history users --id u_1
          flux state history users --filter req=b3c4d5e6 --last 1h
        "#);
}

#[test]
fn colour_is_decided_once_for_errors_too() {
    let project = Project::with_files(&[]);
    let stderr = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = project.flux(args);
        command.envs(env.iter().copied());
        let output = command.output().expect("run flux");
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // NO_COLOR is set for every test run: plain, unless --color or CLICOLOR_FORCE says otherwise.
    assert!(!stderr(&["trace", "ab"], &[]).contains('\u{1b}'));
    let forced = stderr(
        &["trace", "ab"],
        &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")],
    );
    assert!(
        forced.starts_with("\u{1b}[1m\u{1b}[31merror:\u{1b}[0m "),
        "{forced:?}"
    );
    let always = stderr(&["trace", "ab", "--color", "always"], &[]);
    assert!(
        always.starts_with("\u{1b}[1m\u{1b}[31merror:\u{1b}[0m "),
        "{always:?}"
    );
    assert!(!stderr(
        &["trace", "ab", "--color", "never"],
        &[("CLICOLOR_FORCE", "1")]
    )
    .contains('\u{1b}'));
}
