//! `flux dev`'s output: the banner and the dev server's notices on stderr, and the execution
//! lines on stdout, printed by their own thread.
//!
//! The store thread hands each finished execution over without waiting: a reader of stdout
//! that stops reading (`flux dev | less`, a full pipe) must never stall the store, so when the
//! queue is full lines are dropped and counted, and one line later says how many were not
//! shown. A closed stdout ends the printing, not `flux dev`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::dev::{DevServer, Notice};
use crate::project::CONFIG_FILE;
use crate::record::{RecordSummary, Transition};
use crate::render::{self, Style};
use crate::runtime::Echo;
use crate::store::{StoreError, StoreWrite};

/// Lines that may wait for a slow reader before further ones are dropped.
const PRINT_BACKLOG: usize = 1024;

/// How soon a count of dropped lines is printed when no new line comes to carry it.
const DROPPED_NOTE_AFTER: Duration = Duration::from_millis(200);

/// How long stopping `flux dev` waits for the last lines to be printed.
const FINISH_WAIT: Duration = Duration::from_secs(2);

type Line = (RecordSummary, Option<Transition>);

/// The store thread's side: queue lines without ever blocking.
pub struct ExecutionPrinter {
    lines: Option<Sender<Line>>,
    dropped: Arc<AtomicU64>,
    /// Closed by the printing thread when it ends.
    done: Option<Receiver<()>>,
}

impl ExecutionPrinter {
    /// Starts the printing thread; `quiet` prints nothing and starts none.
    pub fn start(quiet: bool) -> ExecutionPrinter {
        let dropped = Arc::new(AtomicU64::new(0));
        if quiet {
            return ExecutionPrinter {
                lines: None,
                dropped,
                done: None,
            };
        }
        let (tx, rx) = crossbeam_channel::bounded(PRINT_BACKLOG);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let counter = Arc::clone(&dropped);
        let started = std::thread::Builder::new()
            .name("flux-printer".into())
            .spawn(move || {
                print_lines(&rx, &counter, std::io::stdout());
                drop(done_tx);
            })
            .is_ok();
        ExecutionPrinter {
            // Without its thread nothing would read the queue: print nothing.
            lines: started.then_some(tx),
            dropped,
            done: started.then_some(done),
        }
    }

    /// A callback for the store thread: it only copies summaries into the queue.
    pub fn sender(&self) -> impl Fn(&[StoreWrite]) + Send + 'static {
        let lines = self.lines.clone();
        let dropped = Arc::clone(&self.dropped);
        move |writes: &[StoreWrite]| {
            let Some(lines) = &lines else { return };
            for write in writes {
                let line = (
                    RecordSummary::from(&write.record),
                    write.job.as_ref().map(|(_, t)| t.clone()),
                );
                match lines.try_send(line) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    // The printer stopped (stdout closed): nobody will see lines any more.
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
        }
    }

    /// Lets the thread print what is queued, once the store thread has stopped; waits at most
    /// [`FINISH_WAIT`], since a reader that stopped reading would hold it forever.
    pub fn finish(mut self) {
        self.lines = None;
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(FINISH_WAIT);
        }
    }
}

/// Writes queued lines to `out` until every sender is gone or `out` fails (closed pipe).
fn print_lines(lines: &Receiver<Line>, dropped: &AtomicU64, out: impl anstream::stream::RawStream) {
    let style = Style::for_stream(&out);
    let mut out = std::io::BufWriter::new(out);
    loop {
        let next = match lines.recv_timeout(DROPPED_NOTE_AFTER) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut text = String::new();
        let missed = dropped.swap(0, Ordering::Relaxed);
        if missed > 0 {
            text.push_str(&dropped_note(missed));
            text.push('\n');
        }
        if let Some((summary, next)) = next {
            text.push_str(&render::execution_lines(&summary, next.as_ref(), style));
            text.push('\n');
        }
        if text.is_empty() {
            continue;
        }
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
        // Flush when caught up, so a reader sees lines at once but a burst is one write.
        if lines.is_empty() && out.flush().is_err() {
            return;
        }
    }
    let missed = dropped.swap(0, Ordering::Relaxed);
    if missed > 0 {
        let _ = writeln!(out, "{}", dropped_note(missed));
    }
    let _ = out.flush();
}

fn dropped_note(missed: u64) -> String {
    let noun = if missed == 1 { "line" } else { "lines" };
    format!(
        "… {missed} execution {noun} not shown: the output was not read fast enough \
         (they are stored: flux tail --last 10m shows them)"
    )
}

/// What `flux dev` (or `flux serve`: `command`) shows once it listens: where, the dashboard,
/// what it serves, where it keeps records.
pub fn print_banner(command: &str, server: &DevServer) {
    let layout = server.layout();
    let url = server.url();
    let functions = server.functions();
    eprintln!("{command} {}", env!("CARGO_PKG_VERSION"));
    eprintln!("  project    {}", layout.root.display());
    eprintln!("  listening  {url}");
    eprintln!("  dashboard  {url}/_flux/");
    if functions.functions.is_empty() {
        eprintln!("  functions  none yet: add functions/<name>.ts");
    }
    let (workers, routes): (Vec<_>, Vec<_>) = functions
        .functions
        .iter()
        .partition(|(name, _)| server.is_private_worker(name));
    for (i, (name, file)) in routes.iter().enumerate() {
        let label = if i == 0 { "functions" } else { "" };
        eprintln!("  {label:<9}  /{name:<24} functions/{}", file.module);
    }
    // Workers run for jobs only: no leading slash, they are not routes.
    for (i, (name, file)) in workers.iter().enumerate() {
        let label = if i == 0 { "workers" } else { "" };
        eprintln!("  {label:<9}  {name:<25} functions/{}", file.module);
    }
    for name in server.applied_migrations() {
        eprintln!("  migrated   migrations/{name}");
    }
    let store = layout.store_path();
    let state = match server.database() {
        Some(database) => format!("{database} (PostgreSQL; "),
        None => format!(
            "{} (",
            store.strip_prefix(&layout.root).unwrap_or(&store).display()
        ),
    };
    let retention = server.retention();
    eprintln!(
        "  state      {state}records kept {} / {}, the last {} always)",
        humantime::format_duration(retention.max_age),
        bytesize::ByteSize::b(retention.max_bytes),
        humantime::format_duration(retention.min_age)
    );
    eprintln!();
}

/// One of the dev server's notices, on stderr.
pub fn print_notice(notice: Notice) {
    match notice {
        Notice::AttemptsRecovered(recovered) => {
            if recovered.partial > 0 {
                eprintln!(
                    "↻ {} job attempt(s) had committed some of their writes when the last \
                     stop cut them short: each has a record saying so, and runs again",
                    recovered.partial
                );
            }
            if recovered.running > 0 {
                eprintln!(
                    "↻ {} job attempt(s) cut short by the last stop will run again",
                    recovered.running
                );
            }
        }
        Notice::Echo(Echo::Console {
            function,
            level,
            message,
        }) => {
            for line in render::console_lines(&function, &level, &message) {
                eprintln!("{line}");
            }
        }
        Notice::Echo(Echo::ConsoleCapped {
            function,
            exec,
            max_lines,
            max_bytes,
        }) => eprintln!(
            "{}",
            render::console_capped_line(&function, &exec, max_lines, max_bytes)
        ),
        Notice::Echo(Echo::Email {
            to,
            template,
            subject,
        }) => eprintln!("{}", render::email_line(&to, &template, &subject)),
        Notice::TokenMadeUp { token } => {
            eprintln!("listening beyond loopback: the /_flux API requires this token (Authorization: Bearer …):");
            eprintln!("  {token}");
            eprintln!("it is the admin token, new at each start; 'flux token create --scope read' makes lasting ones that may do less");
        }
        Notice::StateDirTightened { dir } => eprintln!(
            "note: {} was readable by other users; it and its files are now yours alone (0700/0600)",
            dir.display()
        ),
        Notice::NoIdentity(e) => {
            eprintln!("warning: {e}: commands cannot tell this project's server from another's")
        }
        Notice::StorePartlyChecked { store } => eprintln!(
            "note: {} is too large to check fully at every start; 'flux store check' checks all of it",
            store.display()
        ),
        Notice::Maintenance(e) => eprintln!("warning: {e}"),
        Notice::CannotWatch { root, error } => eprintln!(
            "warning: cannot watch {} for changes ({error}); restart flux dev after edits",
            root.display()
        ),
        Notice::Syntax { file, error } => eprintln!(
            "✗ {file}:{}:{}: {} — requests to it fail until it is fixed",
            error.line, error.column, error.message
        ),
        Notice::FunctionAdded { name } => eprintln!("+ /{name} added"),
        Notice::FunctionRemoved { name } => eprintln!("- /{name} removed"),
        Notice::Reloaded { code_version } => {
            eprintln!("↻ reloaded (code version {code_version})")
        }
        Notice::ConfigReloaded => eprintln!("↻ {CONFIG_FILE} reloaded"),
        Notice::ConfigNeedsRestart { keys } => eprintln!(
            "! {} changed: applies after restart (Ctrl-C, then flux dev); until then the value read at start stays",
            keys.join(", ")
        ),
        Notice::WorkerConfigUnknown { name, closest } => {
            let mean = closest.map_or_else(
                || format!(" (create functions/{name}.ts)"),
                |closest| format!(" (did you mean {closest}?)"),
            );
            eprintln!("! workers.{name}: no function of that name{mean}")
        }
        Notice::WorkerMissing { name, waiting } => eprintln!(
            "! {waiting} job(s) wait for {name}, which has no function now: they stay pending \
             and run once functions/{name}.ts is back (flux queue stats)"
        ),
        Notice::ConfigRejected(e) => eprintln!("✗ {e} — keeping the previous config"),
        Notice::MigrationApplied { name } => eprintln!("✓ applied migrations/{name}"),
        Notice::MigrationChanged { name } => eprintln!(
            "! migrations/{name} changed after it was applied; it is not run again (add a new migration instead)"
        ),
        Notice::MigrationFailed(e) => {
            eprintln!("✗ {e}");
            if let StoreError::Migration {
                hint: Some(hint), ..
            } = e
            {
                eprintln!("  hint: {hint}");
            }
        }
        Notice::DeployFailed(e) => eprintln!("✗ the deployed version was not switched to: {e}"),
        Notice::ReloadFailed => {
            eprintln!("✗ reloading after a change failed; keeping what was loaded before")
        }
    }
}
