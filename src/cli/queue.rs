//! `flux queue …`: enqueue, stats, list, pause/resume, and the dead-letter queue.

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::source::read_or_store;
use super::{print_json, CliError, DeadLetterCommand, ErrorKind, Format, GlobalArgs, QueueCommand};
use crate::api::{
    Cancelled, DeadLetters, EnqueuedJobs, Jobs, NewJob, Paused, QueueStats, Replayed,
};
use crate::client::{self, encode, Answer, Target};
use crate::clock::now_us;
use crate::output::{print_line, terminal_width};
use crate::project::FunctionTable;
use crate::record::{short_error, ExecId, JobState};
use crate::render::{escape, render_table, Column};
use crate::store::{DeadLetter, JobRow, StatsRow};
use crate::timefmt::{rfc3339, short_duration};

/// `--filter fn=NAME`: the only filter the queue commands take.
fn function_filter(filters: &[String]) -> Result<Option<String>, CliError> {
    let mut function = None;
    for filter in filters {
        match filter.split_once('=') {
            Some(("fn", name)) if !name.is_empty() => function = Some(name.to_string()),
            _ => {
                return Err(CliError::usage(format!(
                    "--filter {filter}: expected fn=NAME"
                ))
                .with_hint("NAME is a worker's file name: --filter fn=send_welcome_email for functions/send_welcome_email.ts"))
            }
        }
    }
    Ok(function)
}

/// Tables fit a terminal's width; piped, each row stays on one line.
fn table(columns: &[Column], rows: &[Vec<String>]) -> String {
    render_table(columns, rows, terminal_width())
}

/// The error a command that changes the queue gives when no server runs.
fn needs_server(target: &Target) -> CliError {
    super::source::needs_server(target, "the queue")
}

pub fn run(command: &QueueCommand, global: &GlobalArgs) -> Result<(), CliError> {
    let target = global.target();
    match command {
        QueueCommand::Enqueue {
            name,
            data,
            delay,
            idempotency_key,
        } => enqueue(&target, global, name, data, delay.as_deref(), idempotency_key.as_deref()),
        QueueCommand::Stats => stats(&target, global),
        QueueCommand::List { state, filter, limit } => list(&target, global, state.as_deref(), filter, *limit),
        QueueCommand::Cancel { id } => cancel(&target, global, id),
        QueueCommand::Pause => pause_or_resume(&target, global, "pause"),
        QueueCommand::Resume => pause_or_resume(&target, global, "resume"),
        QueueCommand::DeadLetter { command } => match command {
            DeadLetterCommand::List { filter } => dead_letter_list(&target, global, filter),
            DeadLetterCommand::Replay { id, all, filter } => match (id, all) {
                (Some(id), false) => replay_one(&target, global, id),
                (None, true) => replay_all(&target, global, filter),
                _ => Err(CliError::usage("give one id, or --all").with_hint(
                    "flux queue dead-letter replay d5e6f7a8, or flux queue dead-letter replay --all --filter fn=NAME",
                )),
            },
        },
    }
}

fn enqueue(
    target: &Target,
    global: &GlobalArgs,
    name: &str,
    data: &str,
    delay: Option<&str>,
    idempotency_key: Option<&str>,
) -> Result<(), CliError> {
    let data: Value = serde_json::from_str(data)
        .map_err(|e| CliError::usage(format!("--data is not JSON: {e}")))?;
    let mut opts = serde_json::Map::new();
    if let Some(delay) = delay {
        crate::timefmt::parse_delay(delay).map_err(|e| {
            CliError::usage(format!("--delay {e}"))
                .with_hint("for example: flux queue enqueue nightly_report --delay 10m")
        })?;
        opts.insert("delay".into(), Value::String(delay.to_string()));
    }
    if let Some(key) = idempotency_key {
        opts.insert("idempotencyKey".into(), Value::String(key.to_string()));
    }
    let body = NewJob {
        name: name.to_string(),
        data,
        opts: Some(opts),
    };
    match client::post_json::<_, EnqueuedJobs>(target, "/_flux/api/jobs", &body)? {
        Answer::Ok(answer) => {
            let Some(job) = answer.jobs.into_iter().next() else {
                return Err(CliError::failure(
                    "unexpected answer from the server: no job in it",
                ));
            };
            if global.format() == Format::Json {
                return print_json(&job);
            }
            let exec = job.exec_id.as_str();
            let verb = if job.duplicate {
                "Already enqueued"
            } else {
                "Enqueued"
            };
            Ok(print_line(&format!(
                "{verb} {} as job {} (first attempt: req:{})",
                escape(name),
                job.id.short(),
                &exec[..exec.len().min(8)]
            ))?)
        }
        Answer::Status(status, message, _) => Err(CliError::refused(status, message)),
        Answer::Unreachable => Err(needs_server(target)),
    }
}

fn stats(target: &Target, global: &GlobalArgs) -> Result<(), CliError> {
    let (paused, rows): (Option<bool>, Vec<StatsRow>) = read_or_store(
        target,
        "/_flux/api/queue/stats",
        |body: QueueStats<StatsRow>| (Some(body.paused), body.stats),
        |store| {
            let mut rows = store.job_stats(now_us())?;
            // With no server, the functions on disk say which workers exist.
            if let Some(project) = &target.project {
                let functions = FunctionTable::scan(&project.root);
                StatsRow::mark_missing_workers(&mut rows, |name| functions.get(name).is_some());
            }
            Ok((None, rows))
        },
    )?;
    if global.format() == Format::Json {
        return print_json(&json!({ "paused": paused, "stats": rows }));
    }
    if rows.is_empty() {
        eprintln!("no jobs yet");
        return Ok(());
    }
    let columns = [
        Column::shrink("FUNCTION"),
        Column::whole("PENDING"),
        Column::whole("SCHEDULED"),
        Column::whole("RUNNING"),
        Column::whole("DONE"),
        Column::whole("DEAD"),
        Column::whole("CANCELLED"),
        Column::whole("OLDEST PENDING"),
    ];
    let mut cells = Vec::new();
    for row in &rows {
        cells.push(vec![
            escape(&row.function).into_owned(),
            row.pending.to_string(),
            row.scheduled.to_string(),
            row.running.to_string(),
            row.done.to_string(),
            row.dead.to_string(),
            row.cancelled.to_string(),
            row.oldest_pending_age_us
                .map_or_else(|| "-".to_string(), |age| short_duration(age as u64)),
        ]);
    }
    print_line(&table(&columns, &cells))?;
    for row in rows.iter().filter(|row| row.missing_worker) {
        eprintln!(
            "{} job(s) wait for a missing worker: functions/{}.ts does not exist (removed or \
             renamed); they stay pending and run once it is back",
            row.pending + row.scheduled,
            escape(&row.function)
        );
    }
    match paused {
        Some(true) => eprintln!("the queue is paused: 'flux queue resume' starts attempts again"),
        None => eprintln!("(read from the store: this project's flux server is not running)"),
        Some(false) => {}
    }
    Ok(())
}

fn list(
    target: &Target,
    global: &GlobalArgs,
    state: Option<&str>,
    filter: &[String],
    limit: usize,
) -> Result<(), CliError> {
    let state = match state {
        Some(text) => Some(JobState::parse(text).ok_or_else(|| {
            CliError::usage(format!(
                "--state {text}: expected pending, scheduled, running, done or dead"
            ))
        })?),
        None => None,
    };
    let function = function_filter(filter)?;
    let mut path = format!("/_flux/api/jobs?limit={limit}");
    if let Some(state) = state {
        path.push_str(&format!("&state={}", state.as_str()));
    }
    if let Some(function) = &function {
        path.push_str(&format!("&fn={}", encode(function)));
    }
    let jobs: Vec<JobRow> = read_or_store(
        target,
        &path,
        |body: Jobs<JobRow>| body.jobs,
        |store| store.list_jobs(state, function.as_deref(), limit),
    )?;
    if global.format() == Format::Json {
        return print_json(&jobs);
    }
    if jobs.is_empty() {
        eprintln!("no jobs match");
        return Ok(());
    }
    let columns = [
        Column::whole("JOB"),
        Column::shrink("FUNCTION"),
        Column::whole("STATE"),
        Column::whole("ATTEMPTS"),
        Column::whole("RUN AT"),
        Column::shrink("LAST ERROR"),
    ];
    let mut cells = Vec::new();
    for job in &jobs {
        cells.push(vec![
            job.id.short(),
            escape(&job.name).into_owned(),
            job.state.as_str().to_string(),
            format!("{}/{}", job.attempts, job.max_attempts),
            rfc3339(job.run_at_us),
            job.last_error
                .as_deref()
                .map(|e| escape(&short_error(e)).into_owned())
                .unwrap_or_default(),
        ]);
    }
    Ok(print_line(&table(&columns, &cells))?)
}

/// `flux queue cancel ID`: answered once the job is cancelled (or, for an attempt that has
/// not stopped yet, once it was asked to).
fn cancel(target: &Target, global: &GlobalArgs, id: &str) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(id)?;
    match client::post::<Cancelled>(target, &format!("/_flux/api/jobs/{prefix}/cancel"))? {
        Answer::Ok(cancelled) => {
            if global.format() == Format::Json {
                return print_json(&cancelled);
            }
            let line = if cancelled.state == JobState::Cancelled.as_str() {
                format!("Cancelled job {}", cancelled.id.short())
            } else {
                format!(
                    "Asked job {} to stop: its attempt is still running",
                    cancelled.id.short()
                )
            };
            Ok(print_line(&line)?)
        }
        Answer::Status(status, message, _) => Err(CliError::refused(status, message).with_hint_if(
            ErrorKind::NotFound,
            "'flux queue list' shows the ids of jobs",
        )),
        Answer::Unreachable => Err(needs_server(target)),
    }
}

fn pause_or_resume(target: &Target, global: &GlobalArgs, action: &str) -> Result<(), CliError> {
    match client::post::<Paused>(target, &format!("/_flux/api/queue/{action}"))? {
        Answer::Ok(paused) => {
            if global.format() == Format::Json {
                return print_json(&paused);
            }
            let message = if action == "pause" {
                "Paused: running attempts finish, no new ones start until 'flux queue resume'"
            } else {
                "Resumed"
            };
            eprintln!("{message}");
            Ok(())
        }
        Answer::Status(status, message, _) => Err(CliError::refused(status, message)),
        Answer::Unreachable => Err(needs_server(target)),
    }
}

fn fetch_dead_letters(
    target: &Target,
    function: Option<&str>,
) -> Result<Vec<DeadLetter>, CliError> {
    let path = match function {
        Some(f) => format!("/_flux/api/dead-letter?fn={}", encode(f)),
        None => "/_flux/api/dead-letter".to_string(),
    };
    read_or_store(
        target,
        &path,
        |body: DeadLetters<DeadLetter>| body.dead,
        |store| store.dead_letters(function, None),
    )
}

fn dead_letter_list(
    target: &Target,
    global: &GlobalArgs,
    filter: &[String],
) -> Result<(), CliError> {
    let function = function_filter(filter)?;
    let dead = fetch_dead_letters(target, function.as_deref())?;
    if global.format() == Format::Json {
        return print_json(&dead);
    }
    if dead.is_empty() {
        eprintln!("the dead-letter queue is empty");
    }
    let style = global.style();
    for entry in &dead {
        print_line(&format!(
            "{} {} {} {}× last: {}",
            style.dim(&entry.id[..8]),
            escape(&entry.function),
            style.red("failed"),
            entry.attempts,
            escape(&entry.short_error)
        ))?;
    }
    Ok(())
}

/// Replays one dead job; the error says why it could not be.
fn replay(target: &Target, id: &str) -> Result<Replayed, CliError> {
    let prefix = ExecId::parse_prefix(id)?;
    match client::post(target, &format!("/_flux/api/dead-letter/{prefix}/replay"))? {
        Answer::Ok(replayed) => Ok(replayed),
        Answer::Status(status, message, _) => Err(CliError::refused(status, message).with_hint_if(
            ErrorKind::NotFound,
            "'flux queue dead-letter list' shows the ids of dead jobs",
        )),
        Answer::Unreachable => Err(needs_server(target)),
    }
}

fn replay_one(target: &Target, global: &GlobalArgs, id: &str) -> Result<(), CliError> {
    let replayed = replay(target, id)?;
    if global.format() == Format::Json {
        return print_json(&replayed);
    }
    let exec = replayed.exec_id.as_str();
    Ok(print_line(&format!(
        "Re-enqueued {} as req:{}",
        escape(&replayed.name),
        &exec[..exec.len().min(8)]
    ))?)
}

fn replay_all(target: &Target, global: &GlobalArgs, filter: &[String]) -> Result<(), CliError> {
    let function = function_filter(filter)?;
    let dead = fetch_dead_letters(target, function.as_deref())?;
    if dead.is_empty() {
        eprintln!("the dead-letter queue is empty: nothing to replay");
        return Ok(());
    }
    // A bar for a person at a terminal; one JSON line per job for a script.
    let interactive = std::io::stdout().is_terminal() && global.format() == Format::Pretty;
    let bar = interactive.then(|| {
        let bar = indicatif::ProgressBar::new(dead.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let mut failed = 0;
    for entry in &dead {
        let result = replay(target, &entry.job_id.to_string());
        match (&bar, &result) {
            (Some(bar), _) => {
                bar.set_message(escape(&entry.function).into_owned());
                bar.inc(1);
            }
            (None, Ok(replayed)) => print_line(
                &serde_json::to_string(replayed).map_err(|e| CliError::failure(e.to_string()))?,
            )?,
            (None, Err(e)) => print_line(
                &json!({ "job_id": entry.job_id, "name": entry.function, "error": e.message() })
                    .to_string(),
            )?,
        }
        if let Err(e) = result {
            failed += 1;
            if let Some(bar) = &bar {
                bar.println(format!(
                    "could not replay {} ({}): {}",
                    entry.job_id.short(),
                    escape(&entry.function),
                    escape(&e.message())
                ));
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
        eprintln!(
            "Re-enqueued {} of {} dead job(s)",
            dead.len() - failed,
            dead.len()
        );
    }
    if failed > 0 {
        return Err(CliError::failure(format!(
            "{failed} of {} job(s) could not be re-enqueued",
            dead.len()
        )));
    }
    Ok(())
}
