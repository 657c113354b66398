
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'flux' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'flux'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'flux' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create a project from the bundled example')
            [CompletionResult]::new('dev', 'dev', [CompletionResultType]::ParameterValue, 'Run the project''s functions locally and record every execution')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Show one execution: its span tree, data changes, console output and error')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Stream executions as they happen, one line each')
            [CompletionResult]::new('why', 'why', [CompletionResultType]::ParameterValue, 'Explain a failed execution: root cause, location, input, data changes, suggestion')
            [CompletionResult]::new('state', 'state', [CompletionResultType]::ParameterValue, 'Who changed a table or a row, and how')
            [CompletionResult]::new('queue', 'queue', [CompletionResultType]::ParameterValue, 'Inspect and manage the job queue')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Read and change user-level settings (default server URL, token)')
            [CompletionResult]::new('store', 'store', [CompletionResultType]::ParameterValue, 'Check the project''s store file (.flux/flux.db) for damage')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages, one per command and subcommand')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;init' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Write into a folder that is not empty (files of the same name are replaced)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;dev' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Port to listen on')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Address to listen on; beyond loopback the /_flux API requires a token (--token, or one generated and printed at start)')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Do not print a line per request')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Do not print a line per request')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;trace' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also show each span''s inputs and outputs, the stack and the record''s input')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also show each span''s inputs and outputs, the stack and the record''s input')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;tail' {
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'key=value, repeatable (all keys must match; `|` separates values that may): type=job|http, fn=NAME, status=ok|error|timeout, req=ID (executions it caused), job=ID')
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'Print this much history first: 1h, 30m …')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Print history since a duration ago or an RFC 3339 time first')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--no-follow', '--no-follow', [CompletionResultType]::ParameterName, 'Stop after the history instead of streaming')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;why' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;state' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Every recorded change to a table (or one row), newest first, with old → new values')
            [CompletionResult]::new('blame', 'blame', [CompletionResultType]::ParameterValue, 'For each column of a row: the execution that set its current value, and when')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;state;history' {
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'Only this row (its primary key)')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'req=ID: only changes made by that execution (a job''s id: by its attempts)')
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'Only changes this recent: 1h, 30m, or an RFC 3339 time')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'limit')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;state;blame' {
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'The row''s primary key')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;state;help' {
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Every recorded change to a table (or one row), newest first, with old → new values')
            [CompletionResult]::new('blame', 'blame', [CompletionResultType]::ParameterValue, 'For each column of a row: the execution that set its current value, and when')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;state;help;history' {
            break
        }
        'flux;state;help;blame' {
            break
        }
        'flux;state;help;help' {
            break
        }
        'flux;queue' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('enqueue', 'enqueue', [CompletionResultType]::ParameterValue, 'Add a job for functions/<NAME>.ts')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Jobs per function and state, and how long the oldest pending one has waited')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Jobs, most recently changed first')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Start no new attempts until resumed (running ones finish)')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Start attempts again after a pause')
            [CompletionResult]::new('dead-letter', 'dead-letter', [CompletionResultType]::ParameterValue, 'Jobs that failed every attempt')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;queue;enqueue' {
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'The job''s data, as JSON')
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Run it later: 500ms, 5s, 10m …')
            [CompletionResult]::new('--idempotency-key', '--idempotency-key', [CompletionResultType]::ParameterName, 'A second enqueue with the same key within 24 h returns the first job')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;stats' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;list' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'pending, scheduled, running, done or dead')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'fn=NAME: only jobs of that worker')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'limit')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;pause' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;resume' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;dead-letter' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per dead job: last attempt''s id, function, attempts, last error')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Put dead jobs back in the queue with a fresh attempt count')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;queue;dead-letter;list' {
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'fn=NAME: only jobs of that worker')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;dead-letter;replay' {
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'fn=NAME: with --all, only jobs of that worker')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Replay every dead job (with --filter, those of one worker)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;queue;dead-letter;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per dead job: last attempt''s id, function, attempts, last error')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Put dead jobs back in the queue with a fresh attempt count')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;queue;dead-letter;help;list' {
            break
        }
        'flux;queue;dead-letter;help;replay' {
            break
        }
        'flux;queue;dead-letter;help;help' {
            break
        }
        'flux;queue;help' {
            [CompletionResult]::new('enqueue', 'enqueue', [CompletionResultType]::ParameterValue, 'Add a job for functions/<NAME>.ts')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Jobs per function and state, and how long the oldest pending one has waited')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Jobs, most recently changed first')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Start no new attempts until resumed (running ones finish)')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Start attempts again after a pause')
            [CompletionResult]::new('dead-letter', 'dead-letter', [CompletionResultType]::ParameterValue, 'Jobs that failed every attempt')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;queue;help;enqueue' {
            break
        }
        'flux;queue;help;stats' {
            break
        }
        'flux;queue;help;list' {
            break
        }
        'flux;queue;help;pause' {
            break
        }
        'flux;queue;help;resume' {
            break
        }
        'flux;queue;help;dead-letter' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per dead job: last attempt''s id, function, attempts, last error')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Put dead jobs back in the queue with a fresh attempt count')
            break
        }
        'flux;queue;help;dead-letter;list' {
            break
        }
        'flux;queue;help;dead-letter;replay' {
            break
        }
        'flux;queue;help;help' {
            break
        }
        'flux;config' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print one setting (secrets shortened)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Change one setting')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove one setting')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Print every setting (secrets shortened)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;config;get' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;config;set' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;config;unset' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;config;list' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;config;help' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print one setting (secrets shortened)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Change one setting')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove one setting')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Print every setting (secrets shortened)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;config;help;get' {
            break
        }
        'flux;config;help;set' {
            break
        }
        'flux;config;help;unset' {
            break
        }
        'flux;config;help;list' {
            break
        }
        'flux;config;help;help' {
            break
        }
        'flux;store' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read every page of the store and check its structure (SQLite''s quick_check); flux dev checks only for 2 s at start')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;store;check' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;store;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read every page of the store and check its structure (SQLite''s quick_check); flux dev checks only for 2 s at start')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;store;help;check' {
            break
        }
        'flux;store;help;help' {
            break
        }
        'flux;completions' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;man' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Folder to write the pages to')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The flux server to talk to (default: the one recorded in the project''s .flux/)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Token for a server that needs one; with `flux dev`, the token it requires')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'flux;help' {
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Create a project from the bundled example')
            [CompletionResult]::new('dev', 'dev', [CompletionResultType]::ParameterValue, 'Run the project''s functions locally and record every execution')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Show one execution: its span tree, data changes, console output and error')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Stream executions as they happen, one line each')
            [CompletionResult]::new('why', 'why', [CompletionResultType]::ParameterValue, 'Explain a failed execution: root cause, location, input, data changes, suggestion')
            [CompletionResult]::new('state', 'state', [CompletionResultType]::ParameterValue, 'Who changed a table or a row, and how')
            [CompletionResult]::new('queue', 'queue', [CompletionResultType]::ParameterValue, 'Inspect and manage the job queue')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Read and change user-level settings (default server URL, token)')
            [CompletionResult]::new('store', 'store', [CompletionResultType]::ParameterValue, 'Check the project''s store file (.flux/flux.db) for damage')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Write man pages, one per command and subcommand')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'flux;help;init' {
            break
        }
        'flux;help;dev' {
            break
        }
        'flux;help;trace' {
            break
        }
        'flux;help;tail' {
            break
        }
        'flux;help;why' {
            break
        }
        'flux;help;state' {
            [CompletionResult]::new('history', 'history', [CompletionResultType]::ParameterValue, 'Every recorded change to a table (or one row), newest first, with old → new values')
            [CompletionResult]::new('blame', 'blame', [CompletionResultType]::ParameterValue, 'For each column of a row: the execution that set its current value, and when')
            break
        }
        'flux;help;state;history' {
            break
        }
        'flux;help;state;blame' {
            break
        }
        'flux;help;queue' {
            [CompletionResult]::new('enqueue', 'enqueue', [CompletionResultType]::ParameterValue, 'Add a job for functions/<NAME>.ts')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Jobs per function and state, and how long the oldest pending one has waited')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Jobs, most recently changed first')
            [CompletionResult]::new('pause', 'pause', [CompletionResultType]::ParameterValue, 'Start no new attempts until resumed (running ones finish)')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Start attempts again after a pause')
            [CompletionResult]::new('dead-letter', 'dead-letter', [CompletionResultType]::ParameterValue, 'Jobs that failed every attempt')
            break
        }
        'flux;help;queue;enqueue' {
            break
        }
        'flux;help;queue;stats' {
            break
        }
        'flux;help;queue;list' {
            break
        }
        'flux;help;queue;pause' {
            break
        }
        'flux;help;queue;resume' {
            break
        }
        'flux;help;queue;dead-letter' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'One line per dead job: last attempt''s id, function, attempts, last error')
            [CompletionResult]::new('replay', 'replay', [CompletionResultType]::ParameterValue, 'Put dead jobs back in the queue with a fresh attempt count')
            break
        }
        'flux;help;queue;dead-letter;list' {
            break
        }
        'flux;help;queue;dead-letter;replay' {
            break
        }
        'flux;help;config' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print one setting (secrets shortened)')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Change one setting')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Remove one setting')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Print every setting (secrets shortened)')
            break
        }
        'flux;help;config;get' {
            break
        }
        'flux;help;config;set' {
            break
        }
        'flux;help;config;unset' {
            break
        }
        'flux;help;config;list' {
            break
        }
        'flux;help;store' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read every page of the store and check its structure (SQLite''s quick_check); flux dev checks only for 2 s at start')
            break
        }
        'flux;help;store;check' {
            break
        }
        'flux;help;completions' {
            break
        }
        'flux;help;man' {
            break
        }
        'flux;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
