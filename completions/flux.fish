# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_flux_global_optspecs
    string join \n url= format= json color= token= h/help V/version
end

function __fish_flux_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_flux_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_flux_using_subcommand
    set -l cmd (__fish_flux_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c flux -n "__fish_flux_needs_command" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_needs_command" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_needs_command" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_needs_command" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_needs_command" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c flux -n "__fish_flux_needs_command" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_needs_command" -f -a "init" -d 'Create a project from the bundled example'
complete -c flux -n "__fish_flux_needs_command" -f -a "dev" -d 'Run the project\'s functions locally and record every execution'
complete -c flux -n "__fish_flux_needs_command" -f -a "trace" -d 'Show one execution: its span tree, data changes, console output and error'
complete -c flux -n "__fish_flux_needs_command" -f -a "tail" -d 'Stream executions as they happen, one line each'
complete -c flux -n "__fish_flux_needs_command" -f -a "why" -d 'Explain a failed execution: root cause, location, input, data changes, suggestion'
complete -c flux -n "__fish_flux_needs_command" -f -a "state" -d 'Who changed a table or a row, and how'
complete -c flux -n "__fish_flux_needs_command" -f -a "queue" -d 'Inspect and manage the job queue'
complete -c flux -n "__fish_flux_needs_command" -f -a "config" -d 'Read and change user-level settings (default server URL, token)'
complete -c flux -n "__fish_flux_needs_command" -f -a "store" -d 'Check the project\'s store file (.flux/flux.db) for damage'
complete -c flux -n "__fish_flux_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c flux -n "__fish_flux_needs_command" -f -a "man" -d 'Write man pages, one per command and subcommand'
complete -c flux -n "__fish_flux_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand init" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand init" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand init" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand init" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand init" -l force -d 'Write into a folder that is not empty (files of the same name are replaced)'
complete -c flux -n "__fish_flux_using_subcommand init" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand init" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand init" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand dev" -s p -l port -d 'Port to listen on' -r
complete -c flux -n "__fish_flux_using_subcommand dev" -l host -d 'Address to listen on; beyond loopback the /_flux API requires a token (--token, or one generated and printed at start)' -r
complete -c flux -n "__fish_flux_using_subcommand dev" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand dev" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand dev" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand dev" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand dev" -s q -l quiet -d 'Do not print a line per request'
complete -c flux -n "__fish_flux_using_subcommand dev" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand dev" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand dev" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand trace" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand trace" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand trace" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand trace" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand trace" -s v -l verbose -d 'Also show each span\'s inputs and outputs, the stack and the record\'s input'
complete -c flux -n "__fish_flux_using_subcommand trace" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand trace" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand trace" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand tail" -l filter -d 'key=value, repeatable (all keys must match; `|` separates values that may): type=job|http, fn=NAME, status=ok|error|timeout, req=ID (executions it caused), job=ID' -r
complete -c flux -n "__fish_flux_using_subcommand tail" -l last -d 'Print this much history first: 1h, 30m …' -r
complete -c flux -n "__fish_flux_using_subcommand tail" -l since -d 'Print history since a duration ago or an RFC 3339 time first' -r
complete -c flux -n "__fish_flux_using_subcommand tail" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand tail" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand tail" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand tail" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand tail" -l no-follow -d 'Stop after the history instead of streaming'
complete -c flux -n "__fish_flux_using_subcommand tail" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand tail" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand tail" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand why" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand why" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand why" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand why" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand why" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand why" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand why" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -f -a "history" -d 'Every recorded change to a table (or one row), newest first, with old → new values'
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -f -a "blame" -d 'For each column of a row: the execution that set its current value, and when'
complete -c flux -n "__fish_flux_using_subcommand state; and not __fish_seen_subcommand_from history blame help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l id -d 'Only this row (its primary key)' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l filter -d 'req=ID: only changes made by that execution (a job\'s id: by its attempts)' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l last -d 'Only changes this recent: 1h, 30m, or an RFC 3339 time' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l limit -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from history" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -l id -d 'The row\'s primary key' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from blame" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "history" -d 'Every recorded change to a table (or one row), newest first, with old → new values'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "blame" -d 'For each column of a row: the execution that set its current value, and when'
complete -c flux -n "__fish_flux_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "enqueue" -d 'Add a job for functions/<NAME>.ts'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "stats" -d 'Jobs per function and state, and how long the oldest pending one has waited'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "list" -d 'Jobs, most recently changed first'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "pause" -d 'Start no new attempts until resumed (running ones finish)'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "resume" -d 'Start attempts again after a pause'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "dead-letter" -d 'Jobs that failed every attempt'
complete -c flux -n "__fish_flux_using_subcommand queue; and not __fish_seen_subcommand_from enqueue stats list pause resume dead-letter help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l data -d 'The job\'s data, as JSON' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l delay -d 'Run it later: 500ms, 5s, 10m …' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l idempotency-key -d 'A second enqueue with the same key within 24 h returns the first job' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from enqueue" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l state -d 'pending, scheduled, running, done or dead' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l filter -d 'fn=NAME: only jobs of that worker' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l limit -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from pause" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from resume" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -f -a "list" -d 'One line per dead job: last attempt\'s id, function, attempts, last error'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -f -a "replay" -d 'Put dead jobs back in the queue with a fresh attempt count'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from dead-letter" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "enqueue" -d 'Add a job for functions/<NAME>.ts'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Jobs per function and state, and how long the oldest pending one has waited'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "list" -d 'Jobs, most recently changed first'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Start no new attempts until resumed (running ones finish)'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "resume" -d 'Start attempts again after a pause'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "dead-letter" -d 'Jobs that failed every attempt'
complete -c flux -n "__fish_flux_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -f -a "get" -d 'Print one setting (secrets shortened)'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -f -a "set" -d 'Change one setting'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -f -a "unset" -d 'Remove one setting'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -f -a "list" -d 'Print every setting (secrets shortened)'
complete -c flux -n "__fish_flux_using_subcommand config; and not __fish_seen_subcommand_from get set unset list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from unset" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print one setting (secrets shortened)'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change one setting'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "unset" -d 'Remove one setting'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "list" -d 'Print every setting (secrets shortened)'
complete -c flux -n "__fish_flux_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Read every page of the store and check its structure (SQLite\'s quick_check); flux dev checks only for 2 s at start'
complete -c flux -n "__fish_flux_using_subcommand store; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "check" -d 'Read every page of the store and check its structure (SQLite\'s quick_check); flux dev checks only for 2 s at start'
complete -c flux -n "__fish_flux_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand completions" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand completions" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand completions" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand completions" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand completions" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand completions" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand completions" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand man" -l dir -d 'Folder to write the pages to' -r -F
complete -c flux -n "__fish_flux_using_subcommand man" -l url -d 'The flux server to talk to (default: the one recorded in the project\'s .flux/)' -r
complete -c flux -n "__fish_flux_using_subcommand man" -l format -d 'Output format' -r -f -a "pretty\t''
json\t''"
complete -c flux -n "__fish_flux_using_subcommand man" -l color -d 'When to use colour' -r -f -a "auto\t''
always\t''
never\t''"
complete -c flux -n "__fish_flux_using_subcommand man" -l token -d 'Token for a server that needs one; with `flux dev`, the token it requires' -r
complete -c flux -n "__fish_flux_using_subcommand man" -l json -d 'Same as --format json'
complete -c flux -n "__fish_flux_using_subcommand man" -s h -l help -d 'Print help'
complete -c flux -n "__fish_flux_using_subcommand man" -s V -l version -d 'Print version'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "init" -d 'Create a project from the bundled example'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "dev" -d 'Run the project\'s functions locally and record every execution'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "trace" -d 'Show one execution: its span tree, data changes, console output and error'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "tail" -d 'Stream executions as they happen, one line each'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "why" -d 'Explain a failed execution: root cause, location, input, data changes, suggestion'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "state" -d 'Who changed a table or a row, and how'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "queue" -d 'Inspect and manage the job queue'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "config" -d 'Read and change user-level settings (default server URL, token)'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "store" -d 'Check the project\'s store file (.flux/flux.db) for damage'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "man" -d 'Write man pages, one per command and subcommand'
complete -c flux -n "__fish_flux_using_subcommand help; and not __fish_seen_subcommand_from init dev trace tail why state queue config store completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "history" -d 'Every recorded change to a table (or one row), newest first, with old → new values'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "blame" -d 'For each column of a row: the execution that set its current value, and when'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "enqueue" -d 'Add a job for functions/<NAME>.ts'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "stats" -d 'Jobs per function and state, and how long the oldest pending one has waited'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "list" -d 'Jobs, most recently changed first'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "pause" -d 'Start no new attempts until resumed (running ones finish)'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "resume" -d 'Start attempts again after a pause'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "dead-letter" -d 'Jobs that failed every attempt'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print one setting (secrets shortened)'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Change one setting'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "unset" -d 'Remove one setting'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "list" -d 'Print every setting (secrets shortened)'
complete -c flux -n "__fish_flux_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "check" -d 'Read every page of the store and check its structure (SQLite\'s quick_check); flux dev checks only for 2 s at start'
