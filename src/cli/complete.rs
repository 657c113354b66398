//! Completion as you type, from clap_complete's engine: the script `flux completions <shell>`
//! prints calls `FLUX_COMPLETE=<shell> flux -- <words…>` at each Tab, and flux answers with
//! candidates taken from the command line's definition and, for ids, function names, table
//! names and `--filter` keys, from the project the shell stands in (its files and its store,
//! read directly: no server is asked, so a Tab never waits on the network).
//!
//! A completer never fails: whatever it cannot read gives no candidates, and nothing is ever
//! written to stderr, which some shells show in the middle of the prompt.

use std::ffi::OsStr;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Shells, Zsh};
use clap_complete::{CompleteEnv, Shell};

use super::Cli;
use crate::project::{find_root, FunctionTable, Layout};
use crate::record::{short_text, Status};
use crate::store::{RecordFilter, Storage, Store};

/// The environment variable that asks flux for completions instead of running a command.
pub const VAR: &str = "FLUX_COMPLETE";

/// How many recent executions, jobs or dead letters are offered.
const RECENT: usize = 50;

/// bash's and zsh's scripts are flux's own (see [`BashJoined`], [`ZshFpath`]); the other
/// shells' are clap_complete's.
const SHELLS: Shells<'static> = Shells(&[&BashJoined, &Elvish, &Fish, &Powershell, &ZshFpath]);

/// Answers a completion request when the shell made one (`FLUX_COMPLETE` set); returns
/// whether it did, and then the process has nothing else to do.
pub fn answer_if_asked() -> bool {
    let asked = std::env::var_os(VAR).is_some_and(|v| !v.is_empty() && v != "0");
    let current_dir = std::env::current_dir().ok();
    let env = CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .shells(SHELLS);
    // An error has no one to tell: the shell just offers nothing.
    env.try_complete(std::env::args_os(), current_dir.as_deref())
        .unwrap_or(asked)
}

/// The script that makes `shell` complete `flux`: it calls whichever `flux` is on the PATH.
pub fn registration(shell: Shell) -> std::io::Result<Vec<u8>> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &BashJoined,
        Shell::Elvish => &Elvish,
        Shell::Fish => &Fish,
        Shell::PowerShell => &Powershell,
        Shell::Zsh => &ZshFpath,
        _ => &BashJoined,
    };
    let mut out = Vec::new();
    completer.write_registration(VAR, "flux", "flux", "flux", &mut out)?;
    Ok(out)
}

/// bash. Readline splits words at `=` (`COMP_WORDBREAKS`), so `--filter fn=cr` reaches a
/// completion function as `fn`, `=`, `cr`, and whatever it offers replaces only `cr`.
/// clap_complete's script passes the pieces on as they are; this one joins them back into
/// `fn=cr` for flux, and takes `fn=` off the candidates it gets back.
struct BashJoined;

impl EnvCompleter for BashJoined {
    fn name(&self) -> &'static str {
        "bash"
    }

    fn is(&self, name: &str) -> bool {
        name == "bash"
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let function = format!("_{}_dynamic_complete", name.replace('-', "_"));
        let completer = shlex::try_quote(completer).unwrap_or(completer.into());
        let bin = shlex::try_quote(bin).unwrap_or(bin.into());
        write!(
            buf,
            r#"# Completion for {name}: each Tab asks {name} itself ({var}=bash {name} -- words...).
{function}() {{
    local IFS=$'\013'
    # Readline splits `fn=cr` into `fn`, `=`, `cr`: join them back for {name}.
    local -a words=()
    local i word last
    for ((i = 0; i <= COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        last=$((${{#words[@]}} - 1))
        if ((last >= 0)) && [[ $word == "=" || ${{words[last]}} == *= ]]; then
            words[last]+=$word
        else
            words+=("$word")
        fi
    done
    local current=${{words[${{#words[@]}} - 1]}} strip=
    # What readline replaces is only the part after the last `=`.
    [[ $current == *"$2" ]] && strip=${{current%"$2"}}
    COMPREPLY=($(
        _CLAP_IFS="$IFS"         _CLAP_COMPLETE_INDEX=$((${{#words[@]}} - 1))         {var}="bash"         {completer} -- "${{words[@]}}" 2>/dev/null
    ))
    if [[ $? != 0 ]]; then
        unset COMPREPLY
        return
    fi
    COMPREPLY=("${{COMPREPLY[@]#"$strip"}}")
    # A `key=` or a folder is completed without a space, so the rest can follow.
    [[ ${{#COMPREPLY[@]}} == 1 && ${{COMPREPLY[0]}} =~ [=/]$ ]] && compopt -o nospace 2>/dev/null
    return 0
}}
complete -o nosort -F {function} {bin} 2>/dev/null ||
    complete -F {function} {bin}
"#
        )
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<std::ffi::OsString>,
        current_dir: Option<&std::path::Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        Bash.write_complete(cmd, args, current_dir, buf)
    }
}

/// zsh, as a file on `$fpath` or sourced. clap_complete's zsh script only registers its
/// function when run, so autoloaded from `$fpath` (as `_flux`, on the first Tab) it would
/// complete nothing that first time; this one also completes then. And a `--filter` key
/// (`fn=`) is completed without a space after it, so its value can follow.
struct ZshFpath;

impl EnvCompleter for ZshFpath {
    fn name(&self) -> &'static str {
        "zsh"
    }

    fn is(&self, name: &str) -> bool {
        name == "zsh"
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let function = format!("_{}_dynamic_complete", name.replace('-', "_"));
        let autoload = format!("_{}", name.replace('-', "_"));
        let completer = shlex::try_quote(completer).unwrap_or(completer.into());
        let bin = shlex::try_quote(bin).unwrap_or(bin.into());
        write!(
            buf,
            r#"#compdef {bin}
# Completion for {name}: each Tab asks {name} itself ({var}=zsh {name} -- words...).
# Works from a folder on $fpath (as {autoload}) or sourced from ~/.zshrc.
function {function}() {{
    local -a completions=("${{(@f)$(
        _CLAP_IFS=$'\n' \
        _CLAP_COMPLETE_INDEX=$(( CURRENT - 1 )) \
        {var}="zsh" \
        {completer} -- "${{words[@]}}" 2>/dev/null
    )}}")
    [[ -n $completions ]] || return 1
    local -a dirs=() keys=() other=()
    local completion value
    for completion in $completions; do
        value="${{completion%%:*}}"
        if [[ $value == */ ]]; then
            dirs+=("${{value%/}}${{completion#$value}}")
        elif [[ $value == *= ]]; then
            keys+=("$completion")
        else
            other+=("$completion")
        fi
    done
    [[ -n $dirs ]] && _describe -V 'folders' dirs -S '/' -r '/'
    [[ -n $keys ]] && _describe -V 'keys' keys -S ''
    [[ -n $other ]] && _describe -V 'values' other
    return 0
}}
compdef {function} {bin}
if [[ ${{funcstack[1]}} == {autoload} ]]; then
    {function} "$@"
fi
"#
        )
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<std::ffi::OsString>,
        current_dir: Option<&std::path::Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        Zsh.write_complete(cmd, args, current_dir, buf)
    }
}

/// The project the shell stands in.
fn project() -> Option<Layout> {
    let cwd = std::env::current_dir().ok()?;
    find_root(&cwd).map(|root| Layout::new(&root))
}

/// The project's store, if it has one.
fn store() -> Option<Store> {
    let path = project()?.store_path();
    path.exists().then(|| Store::open_existing(&path).ok())?
}

/// Candidates among `values` that start with what was typed.
fn matching(
    current: &OsStr,
    values: impl IntoIterator<Item = (String, Option<String>)>,
) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    values
        .into_iter()
        .filter(|(value, _)| value.starts_with(current))
        .map(|(value, help)| CompletionCandidate::new(value).help(help.map(Into::into)))
        .collect()
}

/// Recent executions, newest first, as `4f9a3b2c` with `create_user error` beside; with
/// `failed`, only those that did not succeed (what `flux why` explains).
fn executions(failed: bool) -> Vec<(String, Option<String>)> {
    let Some(store) = store() else {
        return Vec::new();
    };
    let filter = RecordFilter {
        limit: Some(RECENT),
        ..RecordFilter::default()
    };
    store
        .list_records(&filter)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| !failed || r.status != Status::Ok)
        .map(|r| {
            let help = format!("{} {}", r.function, r.status.as_str());
            (r.id.short(), Some(help))
        })
        .collect()
}

/// Recently changed jobs, as `9445f838` with `send_welcome_email done` beside.
fn jobs() -> Vec<(String, Option<String>)> {
    let Some(store) = store() else {
        return Vec::new();
    };
    store
        .list_jobs(None, None, RECENT)
        .unwrap_or_default()
        .into_iter()
        .map(|j| {
            (
                j.id.short(),
                Some(format!("{} {}", j.name, j.state.as_str())),
            )
        })
        .collect()
}

/// The project's functions, by name.
fn functions() -> Vec<(String, Option<String>)> {
    let Some(layout) = project() else {
        return Vec::new();
    };
    FunctionTable::scan(&layout.root)
        .functions
        .into_values()
        .filter(|f| !f.name.is_empty())
        .map(|f| (f.name, Some(format!("functions/{}", f.module))))
        .collect()
}

pub fn execution_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    matching(current, executions(false))
}

pub fn failed_execution_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    matching(current, executions(true))
}

/// Jobs that can still be cancelled (waiting or running), by their own ids.
pub fn job_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let open = jobs().into_iter().filter(|(_, help)| {
        help.as_deref().is_some_and(|h| {
            ["pending", "scheduled", "running"]
                .iter()
                .any(|state| h.ends_with(state))
        })
    });
    matching(current, open)
}

/// Dead jobs, by the id `flux queue dead-letter list` shows (their last attempt's).
pub fn dead_letter_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let dead = store()
        .and_then(|s| s.dead_letters(None, None).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let help = format!("{} failed {}×", d.function, d.attempts);
            (short_text(&d.id).to_string(), Some(help))
        });
    matching(current, dead)
}

/// Tokens not yet revoked, by the id `flux token list` shows, with their name and scope.
pub fn token_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let now = crate::clock::now_us();
    let live = store()
        .and_then(|s| s.tokens().ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.is_live(now))
        .map(|t| {
            let help = format!("{} ({})", t.name, t.scope);
            (short_text(&t.id).to_string(), Some(help))
        });
    matching(current, live)
}

pub fn function_names(current: &OsStr) -> Vec<CompletionCandidate> {
    matching(current, functions())
}

pub fn table_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let tables = store()
        .and_then(|s| s.app_tables().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t, None));
    matching(current, tables)
}

/// `flux queue list --state`.
pub fn job_states() -> Vec<CompletionCandidate> {
    [
        "pending",
        "scheduled",
        "running",
        "done",
        "dead",
        "cancelled",
    ]
    .into_iter()
    .map(CompletionCandidate::new)
    .collect()
}

/// `flux config get|set|unset`.
pub fn setting_keys() -> Vec<CompletionCandidate> {
    [
        ("url", "the default server"),
        ("token", "the token sent to it"),
    ]
    .into_iter()
    .map(|(key, help)| CompletionCandidate::new(key).help(Some(help.into())))
    .collect()
}

/// `flux tail --filter`: a key first (`type=`, `fn=`, …), then that key's values.
pub fn tail_filter(current: &OsStr) -> Vec<CompletionCandidate> {
    filter(
        current,
        &[
            ("type=", "job or http"),
            ("fn=", "a function"),
            ("status=", "ok, error, timeout, interrupted (| for several)"),
            ("req=", "executions this one caused"),
            ("job=", "a job's attempts"),
        ],
    )
}

/// `--filter` of the queue commands: only `fn=`.
pub fn function_filter(current: &OsStr) -> Vec<CompletionCandidate> {
    filter(current, &[("fn=", "a worker")])
}

/// `flux state history --filter`: only `req=`.
pub fn request_filter(current: &OsStr) -> Vec<CompletionCandidate> {
    filter(current, &[("req=", "changes made by that execution")])
}

/// `key=value` filters: the keys until one is typed, then its values, as `key=value`.
fn filter(current: &OsStr, keys: &[(&str, &str)]) -> Vec<CompletionCandidate> {
    let Some(typed) = current.to_str() else {
        return Vec::new();
    };
    let Some((key, _)) = typed.split_once('=') else {
        let keys = keys
            .iter()
            .map(|(key, help)| (key.to_string(), Some(help.to_string())));
        return matching(current, keys);
    };
    if !keys.iter().any(|(k, _)| k.trim_end_matches('=') == key) {
        return Vec::new();
    }
    let values = match key {
        "type" => ["job", "http"].map(|v| (v.to_string(), None)).to_vec(),
        "status" => ["ok", "error", "timeout", "interrupted", "cancelled"]
            .map(|v| (v.to_string(), None))
            .to_vec(),
        "fn" => functions(),
        "req" => executions(false),
        "job" => jobs(),
        _ => Vec::new(),
    };
    let prefixed = values
        .into_iter()
        .map(|(value, help)| (format!("{key}={value}"), help));
    matching(current, prefixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(candidates: Vec<CompletionCandidate>) -> Vec<String> {
        candidates
            .iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn filter_keys_come_first_then_their_values() {
        assert_eq!(
            values(tail_filter(OsStr::new(""))),
            ["type=", "fn=", "status=", "req=", "job="]
        );
        assert_eq!(values(tail_filter(OsStr::new("st"))), ["status="]);
        assert_eq!(
            values(tail_filter(OsStr::new("status=e"))),
            ["status=error"]
        );
        assert_eq!(
            values(tail_filter(OsStr::new("type="))),
            ["type=job", "type=http"]
        );
        assert!(tail_filter(OsStr::new("colour=")).is_empty());
        assert_eq!(values(function_filter(OsStr::new(""))), ["fn="]);
        assert!(function_filter(OsStr::new("type=")).is_empty());
    }
}
