
use builtin;
use str;

set edit:completion:arg-completer[flux] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'flux'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'flux'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Create a project from the bundled example'
            cand dev 'Run the project''s functions locally and record every execution'
            cand trace 'Show one execution: its span tree, data changes, console output and error'
            cand tail 'Stream executions as they happen, one line each'
            cand why 'Explain a failed execution: root cause, location, input, data changes, suggestion'
            cand state 'Who changed a table or a row, and how'
            cand queue 'Inspect and manage the job queue'
            cand config 'Read and change user-level settings (default server URL, token)'
            cand store 'Check the project''s store file (.flux/flux.db) for damage'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages, one per command and subcommand'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;init'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --force 'Write into a folder that is not empty (files of the same name are replaced)'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;dev'= {
            cand -p 'Port to listen on'
            cand --port 'Port to listen on'
            cand --host 'Address to listen on; beyond loopback the /_flux API requires a token (--token, or one generated and printed at start)'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand -q 'Do not print a line per request'
            cand --quiet 'Do not print a line per request'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;trace'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand -v 'Also show each span''s inputs and outputs, the stack and the record''s input'
            cand --verbose 'Also show each span''s inputs and outputs, the stack and the record''s input'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;tail'= {
            cand --filter 'key=value, repeatable (all keys must match; `|` separates values that may): type=job|http, fn=NAME, status=ok|error|timeout, req=ID (executions it caused), job=ID'
            cand --last 'Print this much history first: 1h, 30m …'
            cand --since 'Print history since a duration ago or an RFC 3339 time first'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --no-follow 'Stop after the history instead of streaming'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;why'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;state'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand history 'Every recorded change to a table (or one row), newest first, with old → new values'
            cand blame 'For each column of a row: the execution that set its current value, and when'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;state;history'= {
            cand --id 'Only this row (its primary key)'
            cand --filter 'req=ID: only changes made by that execution (a job''s id: by its attempts)'
            cand --last 'Only changes this recent: 1h, 30m, or an RFC 3339 time'
            cand --limit 'limit'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;state;blame'= {
            cand --id 'The row''s primary key'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;state;help'= {
            cand history 'Every recorded change to a table (or one row), newest first, with old → new values'
            cand blame 'For each column of a row: the execution that set its current value, and when'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;state;help;history'= {
        }
        &'flux;state;help;blame'= {
        }
        &'flux;state;help;help'= {
        }
        &'flux;queue'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand enqueue 'Add a job for functions/<NAME>.ts'
            cand stats 'Jobs per function and state, and how long the oldest pending one has waited'
            cand list 'Jobs, most recently changed first'
            cand pause 'Start no new attempts until resumed (running ones finish)'
            cand resume 'Start attempts again after a pause'
            cand dead-letter 'Jobs that failed every attempt'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;queue;enqueue'= {
            cand --data 'The job''s data, as JSON'
            cand --delay 'Run it later: 500ms, 5s, 10m …'
            cand --idempotency-key 'A second enqueue with the same key within 24 h returns the first job'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;stats'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;list'= {
            cand --state 'pending, scheduled, running, done or dead'
            cand --filter 'fn=NAME: only jobs of that worker'
            cand --limit 'limit'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;pause'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;resume'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;dead-letter'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'One line per dead job: last attempt''s id, function, attempts, last error'
            cand replay 'Put dead jobs back in the queue with a fresh attempt count'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;queue;dead-letter;list'= {
            cand --filter 'fn=NAME: only jobs of that worker'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;dead-letter;replay'= {
            cand --filter 'fn=NAME: with --all, only jobs of that worker'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --all 'Replay every dead job (with --filter, those of one worker)'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;queue;dead-letter;help'= {
            cand list 'One line per dead job: last attempt''s id, function, attempts, last error'
            cand replay 'Put dead jobs back in the queue with a fresh attempt count'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;queue;dead-letter;help;list'= {
        }
        &'flux;queue;dead-letter;help;replay'= {
        }
        &'flux;queue;dead-letter;help;help'= {
        }
        &'flux;queue;help'= {
            cand enqueue 'Add a job for functions/<NAME>.ts'
            cand stats 'Jobs per function and state, and how long the oldest pending one has waited'
            cand list 'Jobs, most recently changed first'
            cand pause 'Start no new attempts until resumed (running ones finish)'
            cand resume 'Start attempts again after a pause'
            cand dead-letter 'Jobs that failed every attempt'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;queue;help;enqueue'= {
        }
        &'flux;queue;help;stats'= {
        }
        &'flux;queue;help;list'= {
        }
        &'flux;queue;help;pause'= {
        }
        &'flux;queue;help;resume'= {
        }
        &'flux;queue;help;dead-letter'= {
            cand list 'One line per dead job: last attempt''s id, function, attempts, last error'
            cand replay 'Put dead jobs back in the queue with a fresh attempt count'
        }
        &'flux;queue;help;dead-letter;list'= {
        }
        &'flux;queue;help;dead-letter;replay'= {
        }
        &'flux;queue;help;help'= {
        }
        &'flux;config'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand get 'Print one setting (secrets shortened)'
            cand set 'Change one setting'
            cand unset 'Remove one setting'
            cand list 'Print every setting (secrets shortened)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;config;get'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;config;set'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;config;unset'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;config;list'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;config;help'= {
            cand get 'Print one setting (secrets shortened)'
            cand set 'Change one setting'
            cand unset 'Remove one setting'
            cand list 'Print every setting (secrets shortened)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;config;help;get'= {
        }
        &'flux;config;help;set'= {
        }
        &'flux;config;help;unset'= {
        }
        &'flux;config;help;list'= {
        }
        &'flux;config;help;help'= {
        }
        &'flux;store'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand check 'Read every page of the store and check its structure (SQLite''s quick_check); flux dev checks only for 2 s at start'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;store;check'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;store;help'= {
            cand check 'Read every page of the store and check its structure (SQLite''s quick_check); flux dev checks only for 2 s at start'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;store;help;check'= {
        }
        &'flux;store;help;help'= {
        }
        &'flux;completions'= {
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;man'= {
            cand --dir 'Folder to write the pages to'
            cand --url 'The flux server to talk to (default: the one recorded in the project''s .flux/)'
            cand --format 'Output format'
            cand --color 'When to use colour'
            cand --token 'Token for a server that needs one; with `flux dev`, the token it requires'
            cand --json 'Same as --format json'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'flux;help'= {
            cand init 'Create a project from the bundled example'
            cand dev 'Run the project''s functions locally and record every execution'
            cand trace 'Show one execution: its span tree, data changes, console output and error'
            cand tail 'Stream executions as they happen, one line each'
            cand why 'Explain a failed execution: root cause, location, input, data changes, suggestion'
            cand state 'Who changed a table or a row, and how'
            cand queue 'Inspect and manage the job queue'
            cand config 'Read and change user-level settings (default server URL, token)'
            cand store 'Check the project''s store file (.flux/flux.db) for damage'
            cand completions 'Print a shell completion script'
            cand man 'Write man pages, one per command and subcommand'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'flux;help;init'= {
        }
        &'flux;help;dev'= {
        }
        &'flux;help;trace'= {
        }
        &'flux;help;tail'= {
        }
        &'flux;help;why'= {
        }
        &'flux;help;state'= {
            cand history 'Every recorded change to a table (or one row), newest first, with old → new values'
            cand blame 'For each column of a row: the execution that set its current value, and when'
        }
        &'flux;help;state;history'= {
        }
        &'flux;help;state;blame'= {
        }
        &'flux;help;queue'= {
            cand enqueue 'Add a job for functions/<NAME>.ts'
            cand stats 'Jobs per function and state, and how long the oldest pending one has waited'
            cand list 'Jobs, most recently changed first'
            cand pause 'Start no new attempts until resumed (running ones finish)'
            cand resume 'Start attempts again after a pause'
            cand dead-letter 'Jobs that failed every attempt'
        }
        &'flux;help;queue;enqueue'= {
        }
        &'flux;help;queue;stats'= {
        }
        &'flux;help;queue;list'= {
        }
        &'flux;help;queue;pause'= {
        }
        &'flux;help;queue;resume'= {
        }
        &'flux;help;queue;dead-letter'= {
            cand list 'One line per dead job: last attempt''s id, function, attempts, last error'
            cand replay 'Put dead jobs back in the queue with a fresh attempt count'
        }
        &'flux;help;queue;dead-letter;list'= {
        }
        &'flux;help;queue;dead-letter;replay'= {
        }
        &'flux;help;config'= {
            cand get 'Print one setting (secrets shortened)'
            cand set 'Change one setting'
            cand unset 'Remove one setting'
            cand list 'Print every setting (secrets shortened)'
        }
        &'flux;help;config;get'= {
        }
        &'flux;help;config;set'= {
        }
        &'flux;help;config;unset'= {
        }
        &'flux;help;config;list'= {
        }
        &'flux;help;store'= {
            cand check 'Read every page of the store and check its structure (SQLite''s quick_check); flux dev checks only for 2 s at start'
        }
        &'flux;help;store;check'= {
        }
        &'flux;help;completions'= {
        }
        &'flux;help;man'= {
        }
        &'flux;help;help'= {
        }
    ]
    $completions[$command]
}
