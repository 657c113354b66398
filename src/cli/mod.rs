//! The command line: clap definitions here, one module per command.

pub mod complete;
pub mod config;
pub mod deploy;
pub mod dev;
mod dev_output;
pub mod email;
pub mod exit;
pub mod generate;
pub mod init;
pub mod queue;
mod related;
mod source;
pub mod state;
pub mod store;
pub mod tail;
pub mod token;
pub mod trace;
pub mod why;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use clap_complete::{ArgValueCandidates, ArgValueCompleter};

pub use exit::{CliError, ErrorKind};

use crate::client::{ServerChoice, Target};
use crate::render::Style;

const EXAMPLES: &str = "\
Examples:
  flux init my-app && cd my-app     Create a project from the bundled example
  flux dev                          Serve ./functions at http://127.0.0.1:4000
  flux trace 4f9a3b2c               Show what one request or job did";

/// `--help` shows the examples; the long help and the man page add exit codes and environment.
const LONG_HELP: &str = "\
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
  NO_COLOR        no colour; CLICOLOR_FORCE: colour even when not a terminal";

#[derive(Debug, Parser)]
#[command(
    name = "flux",
    version,
    about = "A local runtime for TypeScript backend functions that records every execution",
    after_help = EXAMPLES,
    after_long_help = LONG_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The flux server to talk to (default: the one recorded in the project's .flux/)
    #[arg(
        long,
        global = true,
        env = "FLUX_URL",
        hide_env_values = true,
        value_name = "URL",
        value_hint = ValueHint::Url
    )]
    pub url: Option<String>,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = Format::Pretty)]
    pub format: Format,
    /// Same as --format json
    #[arg(long, global = true)]
    pub json: bool,
    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Token for a server that needs one; with `flux dev`, the token it requires
    #[arg(
        long,
        global = true,
        env = "FLUX_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

/// `value` as pretty JSON on stdout: what `--format json` prints.
fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    Ok(crate::output::print_line(&serde_json::to_string_pretty(
        value,
    )?)?)
}

/// A list as `--format json` (the items) or a table (one row per item, `hint` on stderr when
/// there are none).
fn print_list<T: serde::Serialize>(
    global: &GlobalArgs,
    items: &[T],
    hint: &str,
    columns: &[crate::render::Column],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<(), CliError> {
    if global.format() == Format::Json {
        return print_json(&items);
    }
    if items.is_empty() {
        eprintln!("{hint}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    Ok(crate::output::print_line(&crate::render::render_table(
        columns,
        &rows,
        crate::output::terminal_width(),
    ))?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl GlobalArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format
        }
    }

    /// Colour for stdout, as decided for every stream (see `GlobalArgs::decide_color`);
    /// never in JSON.
    pub fn style(&self) -> Style {
        if self.format() == Format::Json {
            Style::plain()
        } else {
            Style::stdout()
        }
    }

    /// Decides colour once for the whole process: `--color` overrides, `auto` leaves it to
    /// `NO_COLOR`, `CLICOLOR_FORCE` and whether each stream is a terminal.
    fn decide_color(&self) {
        anstream::ColorChoice::write_global(match self.color {
            ColorChoice::Auto => anstream::ColorChoice::Auto,
            ColorChoice::Always => anstream::ColorChoice::Always,
            ColorChoice::Never => anstream::ColorChoice::Never,
        });
    }

    /// The server a command talks to: `--url`/`--token`, else the project's, else the user's
    /// settings. A broken user config is ignored here (`flux config` reports it).
    pub fn target(&self) -> Target {
        self.target_at(self.url.clone())
    }

    /// As [`GlobalArgs::target`], at `url` when one is given (`flux deploy --to`).
    pub fn target_at(&self, url: Option<String>) -> Target {
        let user = config::UserConfig::load().unwrap_or_default();
        Target::resolve(&ServerChoice {
            url,
            token: self.token.clone(),
            default_url: user.url,
            default_token: user.token,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project from the bundled example
    #[command(
        after_help = "Examples:\n  flux init my-app\n  flux init . --force     Write the example files into a non-empty folder"
    )]
    Init(InitArgs),
    /// Run the project's functions locally and record every execution
    #[command(after_help = "Examples:\n  flux dev\n  flux dev examples/welcome --port 4100")]
    Dev(DevArgs),
    /// Run the deployed project: its active version, switched on each flux deploy
    ///
    /// Keeps its store and the deployed versions in --data, or with --database in
    /// PostgreSQL, where any number of flux serve processes share them: a deploy to one is
    /// run by all within a second, and flux tail on any shows every process's executions.
    /// Before the first deploy, function requests answer 503. Beyond loopback the /_flux API
    /// (deploy included) needs a token, as with flux dev.
    #[command(
        after_help = "Examples:\n  flux serve --data /var/lib/flux --host 0.0.0.0 --port 8080 --token \"$FLUX_TOKEN\"\n  flux serve --database postgres://flux@db:5432/app --host 0.0.0.0 --port 8080 --token \"$FLUX_TOKEN\"\n  flux deploy --to http://server:8080"
    )]
    Serve(ServeArgs),
    /// Upload the project as a new version and make it active; list versions; roll back
    ///
    /// The version holds the files that make the project run: functions/, the project
    /// modules they import, migrations/*.sql, emails/, flux.config.ts, package.json,
    /// tsconfig.json and the node_modules packages the code imports. Each file is kept once
    /// by its SHA-256, so a deploy uploads only what the server lacks.
    #[command(
        after_help = "Examples:\n  flux deploy --dry-run\n  flux deploy --to https://flux.example.com -m 'fix the invoice total'\n  flux deploy --list\n  flux deploy --rollback\n  flux deploy --rollback 1a2b3c4d"
    )]
    Deploy(DeployArgs),
    /// Show one execution: its span tree, data changes, console output and error
    #[command(
        after_help = "Examples:\n  flux trace 4f9a3b2c\n  flux trace 4f9a --verbose\n  flux trace 4f9a3b2c --format json | jq .spans"
    )]
    Trace(TraceArgs),
    /// Stream executions as they happen, one line each
    #[command(
        after_help = "Examples:\n  flux tail --filter type=job\n  flux tail --filter type=job --last 1h\n  flux tail --filter 'status=error|timeout' --filter fn=send_welcome_email\n  flux tail --since 10m --no-follow --format json | jq .record.id"
    )]
    Tail(TailArgs),
    /// Explain a failed execution: root cause, location, input, data changes, suggestion
    #[command(
        after_help = "Examples:\n  flux why d5e6f7a8\n  flux why d5e6 --format json | jq .finding"
    )]
    Why(WhyArgs),
    /// Who changed a table or a row, and how
    #[command(
        after_help = "Examples:\n  flux state history users\n  flux state history users --id u_1\n  flux state history users --filter req=b3c4d5e6\n  flux state blame users --id u_1"
    )]
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Inspect and manage the job queue
    #[command(
        after_help = "Examples:\n  flux queue stats\n  flux queue enqueue send_welcome_email --data '{\"userId\":\"u_1\"}'\n  flux queue dead-letter list\n  flux queue dead-letter replay d5e6f7a8"
    )]
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Create, list, revoke and rotate scoped tokens for the /_flux API (admin token needed)
    ///
    /// The server's own token (flux dev --token, FLUX_TOKEN, or the one it made up) is the
    /// admin token. Scoped tokens are for tools and people who need less: read (records,
    /// tail, why/trace, state, queue stats and lists, emails), operate (read, plus enqueue,
    /// cancel, replay, pause, resume), deploy (read, plus flux deploy), admin (everything,
    /// tokens included). A server that listens on loopback without --token checks none.
    #[command(
        after_help = "Examples:\n  flux token create --scope read --name grafana\n  flux token list\n  flux token rotate 0a1b2c3d --grace 10m\n  flux token revoke 0a1b2c3d"
    )]
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Read the emails ctx.email.send captured (flux sends none)
    #[command(
        after_help = "Examples:\n  flux email list\n  flux email show 3\n  flux email show 3 --open"
    )]
    Email {
        #[command(subcommand)]
        command: EmailCommand,
    },
    /// Read and change user-level settings (default server URL, token)
    #[command(
        after_help = "Examples:\n  flux config set url http://127.0.0.1:4100\n  flux config get url\n  flux config list"
    )]
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Check the project's store file (.flux/flux.db) for damage
    #[command(after_help = "Examples:\n  flux store check\n  flux store check my-app")]
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Print a shell completion script
    ///
    /// At each Tab the script asks the `flux` on your PATH what fits: commands and flags, and
    /// from the project you stand in, execution and job ids, function and table names and
    /// `--filter` keys. For zsh, put the file in a folder on $fpath, e.g. ~/.zfunc with
    /// `fpath=(~/.zfunc $fpath)` in ~/.zshrc before `compinit` (./install.sh says what to add).
    #[command(
        after_help = "Examples:\n  flux completions bash > ~/.local/share/bash-completion/completions/flux\n  flux completions zsh > ~/.zfunc/_flux\n  flux completions fish > ~/.config/fish/completions/flux.fish"
    )]
    Completions {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
    /// Write man pages, one per command and subcommand
    #[command(
        after_help = "Examples:\n  flux man\n  man flux-queue-dead-letter-replay\n  flux man --dir /usr/local/share/man/man1"
    )]
    Man {
        /// Folder to write the pages to [default: ~/.local/share/man/man1, or
        /// $XDG_DATA_HOME/man/man1]
        #[arg(long, value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The project folder [default: the project you stand in]
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
    /// Print the version's id, file count, size and largest files; upload nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The server to deploy to [default: as other commands find it: --url, the project's
    /// flux dev]
    #[arg(long, value_name = "URL", value_hint = ValueHint::Url)]
    pub to: Option<String>,
    /// A note kept with the version
    #[arg(short, long)]
    pub message: Option<String>,
    /// List the deployed versions, the active one marked
    #[arg(long, conflicts_with_all = ["dry_run", "rollback", "message"])]
    pub list: bool,
    /// Make the version active before this one (or VERSION, an id prefix) active again
    #[arg(long, value_name = "VERSION", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["dry_run", "message"])]
    pub rollback: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Every recorded change to a table (or one row), newest first, with old → new values
    #[command(
        after_help = "Examples:\n  flux state history users --id u_1\n  flux state history users --filter req=b3c4d5e6 --last 1h"
    )]
    History {
        /// The table
        #[arg(add = ArgValueCompleter::new(complete::table_names))]
        table: String,
        /// Only this row (its primary key)
        #[arg(long, value_name = "ROW")]
        id: Option<String>,
        /// req=ID: only changes made by that execution (a job's id: by its attempts)
        #[arg(long, value_name = "req=ID", add = ArgValueCompleter::new(complete::request_filter))]
        filter: Vec<String>,
        /// Only changes this recent: 1h, 30m, or an RFC 3339 time
        #[arg(long, value_name = "DURATION")]
        last: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// For each column of a row: the execution that set its current value, and when
    #[command(after_help = "Examples:\n  flux state blame users --id u_1")]
    Blame {
        /// The table
        #[arg(add = ArgValueCompleter::new(complete::table_names))]
        table: String,
        /// The row's primary key
        #[arg(long, value_name = "ROW")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print one setting (secrets shortened)
    #[command(after_help = "Examples:\n  flux config get url")]
    Get {
        /// url or token
        #[arg(add = ArgValueCandidates::new(complete::setting_keys))]
        key: String,
    },
    /// Change one setting
    #[command(
        after_help = "Examples:\n  flux config set url http://127.0.0.1:4100\n  flux config set token s3cret"
    )]
    Set {
        /// url or token
        #[arg(add = ArgValueCandidates::new(complete::setting_keys))]
        key: String,
        value: String,
    },
    /// Remove one setting
    #[command(after_help = "Examples:\n  flux config unset token")]
    Unset {
        /// url or token
        #[arg(add = ArgValueCandidates::new(complete::setting_keys))]
        key: String,
    },
    /// Print every setting (secrets shortened)
    #[command(after_help = "Examples:\n  flux config list\n  flux config list --json")]
    List,
}

#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// The newest captured emails: number, time, recipient, subject, the execution that sent it
    #[command(after_help = "Examples:\n  flux email list\n  flux email list --limit 100")]
    List {
        /// How many, newest first
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One email: its headers and its text, or its HTML
    #[command(
        after_help = "Examples:\n  flux email show 3\n  flux email show 3 --html > welcome.html\n  flux email show 3 --open"
    )]
    Show {
        /// The email's number, as flux email list and flux trace show it
        id: i64,
        /// Print the HTML as sent instead of its text
        #[arg(long, conflicts_with = "open")]
        html: bool,
        /// Open the HTML in the browser ($BROWSER or the system's default)
        #[arg(long)]
        open: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Add a job for functions/<NAME>.ts
    #[command(
        after_help = "Examples:\n  flux queue enqueue send_welcome_email --data '{\"userId\":\"u_1\",\"email\":\"a@b.c\"}'\n  flux queue enqueue nightly_report --delay 10m --idempotency-key report-2026-11-28"
    )]
    Enqueue {
        /// The worker: functions/<NAME>.ts
        #[arg(add = ArgValueCompleter::new(complete::function_names))]
        name: String,
        /// The job's data, as JSON
        #[arg(long, default_value = "null")]
        data: String,
        /// Run it later: 500ms, 5s, 10m …
        #[arg(long)]
        delay: Option<String>,
        /// A second enqueue with the same key within 24 h returns the first job
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Jobs per function and state, and how long the oldest pending one has waited
    #[command(after_help = "Examples:\n  flux queue stats\n  flux queue stats --json")]
    Stats,
    /// Jobs, most recently changed first
    #[command(
        after_help = "Examples:\n  flux queue list --state dead\n  flux queue list --filter fn=send_welcome_email --limit 20"
    )]
    List {
        /// pending, scheduled, running, done, dead or cancelled
        #[arg(long, add = ArgValueCandidates::new(complete::job_states))]
        state: Option<String>,
        /// fn=NAME: only jobs of that worker
        #[arg(long, value_name = "fn=NAME", add = ArgValueCompleter::new(complete::function_filter))]
        filter: Vec<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Cancel a job: a waiting one at once, a running one at its next await (or interrupted if
    /// it spins); it is not retried
    #[command(after_help = "Examples:\n  flux queue cancel 9445f838")]
    Cancel {
        /// The job's id, or any of its attempts' (a prefix of 4 or more hex characters)
        #[arg(add = ArgValueCompleter::new(complete::job_ids))]
        id: String,
    },
    /// Start no new attempts until resumed (running ones finish)
    #[command(after_help = "Examples:\n  flux queue pause")]
    Pause,
    /// Start attempts again after a pause
    #[command(after_help = "Examples:\n  flux queue resume")]
    Resume,
    /// Jobs that failed every attempt
    #[command(
        after_help = "Examples:\n  flux queue dead-letter list\n  flux queue dead-letter replay d5e6f7a8\n  flux queue dead-letter replay --all --filter fn=send_invoice"
    )]
    DeadLetter {
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token of a scope and print it, once (flux keeps only its hash)
    #[command(
        after_help = "Examples:\n  flux token create --scope read --name grafana\n  flux token create --scope operate --name ci > ci-token     The token alone on stdout"
    )]
    Create {
        /// read, operate, deploy or admin
        #[arg(long, value_parser = ["read", "operate", "deploy", "admin"])]
        scope: String,
        /// What it is for [default: its scope]
        #[arg(long)]
        name: Option<String>,
    },
    /// Every scoped token: id, name, scope, created, last used, revoked (never the secret)
    #[command(after_help = "Examples:\n  flux token list\n  flux token list --json")]
    List,
    /// Refuse a token from now on
    #[command(after_help = "Examples:\n  flux token revoke 0a1b2c3d")]
    Revoke {
        /// The token's id from flux token list (a prefix of 4 or more hex characters)
        #[arg(add = ArgValueCompleter::new(complete::token_ids))]
        id: String,
    },
    /// Replace a token by a new one of the same scope and name, printed once; the old one is
    /// refused at once, or after --grace
    #[command(
        after_help = "Examples:\n  flux token rotate 0a1b2c3d\n  flux token rotate 0a1b2c3d --grace 10m     The old token works 10 more minutes"
    )]
    Rotate {
        /// The token's id from flux token list (a prefix of 4 or more hex characters)
        #[arg(add = ArgValueCompleter::new(complete::token_ids))]
        id: String,
        /// How long the old token keeps working: 30s, 10m, 1h …
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Read every page of the store and check its structure (SQLite's quick_check); flux dev
    /// checks only for 2 s at start
    #[command(
        after_help = "Examples:\n  flux store check\n  flux store check my-app --format json"
    )]
    Check {
        /// Project folder
        #[arg(default_value = ".", value_hint = ValueHint::DirPath)]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// One line per dead job: last attempt's id, function, attempts, last error
    #[command(
        after_help = "Examples:\n  flux queue dead-letter list\n  flux queue dead-letter list --format json | jq '.[].id'"
    )]
    List {
        /// fn=NAME: only jobs of that worker
        #[arg(long, value_name = "fn=NAME", add = ArgValueCompleter::new(complete::function_filter))]
        filter: Vec<String>,
    },
    /// Put dead jobs back in the queue with a fresh attempt count
    #[command(
        after_help = "Examples:\n  flux queue dead-letter replay d5e6f7a8\n  flux queue dead-letter replay --all --filter fn=send_welcome_email"
    )]
    Replay {
        /// The id from the list, the job's id, or any of its attempts' ids
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            add = ArgValueCompleter::new(complete::dead_letter_ids)
        )]
        id: Option<String>,
        /// Replay every dead job (with --filter, those of one worker)
        #[arg(long)]
        all: bool,
        /// fn=NAME: with --all, only jobs of that worker
        #[arg(
            long,
            value_name = "fn=NAME",
            requires = "all",
            add = ArgValueCompleter::new(complete::function_filter)
        )]
        filter: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create the project in
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,
    /// Write into a folder that is not empty (files of the same name are replaced, except package.json and tsconfig.json)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The project folder
    #[arg(default_value = ".", value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Where `flux dev` and `flux serve` keep their state when not in SQLite.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// A PostgreSQL database (postgres://user:password@host:5432/db) instead of SQLite: the
    /// app's tables, the queue, the records (and for flux serve the versions and tokens),
    /// shared by every flux process given the same URL
    #[arg(
        id = "database",
        long = "database",
        env = "FLUX_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub url: Option<String>,
}

/// Where `flux dev` and `flux serve` listen.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Port to listen on
    #[arg(
        long,
        short,
        default_value_t = 4000,
        env = "FLUX_PORT",
        hide_env_values = true
    )]
    pub port: u16,
    /// Address to listen on; beyond loopback the /_flux API requires a token (--token, or one
    /// generated and printed at start)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Do not print a line per request
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The folder of the server's store and deployed versions; with --database, only where
    /// this process writes out the versions it runs (its own, not shared with other processes)
    #[arg(long, default_value = "flux-data", value_hint = ValueHint::DirPath)]
    pub data: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// key=value, repeatable (all keys must match; `|` separates values that may):
    /// type=job|http, fn=NAME, status=ok|error|timeout|interrupted|cancelled, req=ID (executions it caused), job=ID
    #[arg(long, value_name = "KEY=VALUE", add = ArgValueCompleter::new(complete::tail_filter))]
    pub filter: Vec<String>,
    /// Print this much history first: 1h, 30m …
    #[arg(long, value_name = "DURATION")]
    pub last: Option<String>,
    /// Print history since a duration ago or an RFC 3339 time first
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Stop after the history instead of streaming
    #[arg(long)]
    pub no_follow: bool,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// An execution id or a job id (its latest attempt), any unique prefix of 4+ characters
    #[arg(add = ArgValueCompleter::new(complete::failed_execution_ids))]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// An execution id or a job id (its latest attempt), any unique prefix of 4+ characters
    #[arg(add = ArgValueCompleter::new(complete::execution_ids))]
    pub id: String,
    /// Also show each span's inputs and outputs, the stack and the record's input
    #[arg(long, short)]
    pub verbose: bool,
}

/// Whether a command line that clap refused asked for JSON (`--json`, `--format json`), so
/// that its usage error is JSON too. Read from the words themselves: clap stops at the first
/// error, before a `--json` that comes after it.
pub fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<std::ffi::OsString> = args.into_iter().skip(1).collect();
    let words = args.iter().take_while(|a| *a != "--");
    let mut previous: Option<&std::ffi::OsString> = None;
    for word in words {
        if word == "--json"
            || word == "--format=json"
            || (word == "json" && previous.is_some_and(|p| p == "--format"))
        {
            return true;
        }
        previous = Some(word);
    }
    false
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    cli.global.decide_color();
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Dev(args) => dev::run(&args, &cli.global),
        Command::Deploy(args) => deploy::run(&args, &cli.global),
        Command::Serve(args) => dev::serve(&args, &cli.global),
        Command::Trace(args) => trace::run(&args, &cli.global),
        Command::Why(args) => why::run(&args, &cli.global),
        Command::Tail(args) => tail::run(&args, &cli.global),
        Command::State { command } => state::run(&command, &cli.global),
        Command::Queue { command } => queue::run(&command, &cli.global),
        Command::Token { command } => token::run(&command, &cli.global),
        Command::Email { command } => email::run(&command, &cli.global),
        Command::Config { command } => config::run(&command, &cli.global),
        Command::Store { command } => store::run(&command, &cli.global),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(dir.as_deref()),
    }
}
