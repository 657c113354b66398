//! `flux dev`: the local runtime ([`crate::dev::DevServer`]) until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::dev_output::{print_banner, print_notice, ExecutionPrinter};
use super::{CliError, DevArgs, ListenArgs, ServeArgs};
use crate::dev::{DevError, DevOptions, DevServer, Notice};
use crate::project::find_root;
use crate::store::StoreError;

pub fn run(args: &DevArgs, global: &super::GlobalArgs) -> Result<(), CliError> {
    let mut options = DevOptions::new(project_dir(&args.dir));
    options.database = checked_database(&args.database)?;
    run_server(options, &args.listen, global, "flux dev")
}

/// `flux serve`: the same server, running the active version deployed to `--data`.
pub fn serve(args: &ServeArgs, global: &super::GlobalArgs) -> Result<(), CliError> {
    let mut options = DevOptions::new(&args.data);
    options.data = Some(args.data.clone());
    options.database = checked_database(&args.database)?;
    run_server(options, &args.listen, global, "flux serve")
}

/// `--database`'s URL, refused at once when it is not a PostgreSQL connection string.
fn checked_database(args: &super::DatabaseArgs) -> Result<Option<String>, CliError> {
    if let Some(url) = &args.url {
        check_database_url(url)?;
    }
    Ok(args.url.clone())
}

fn run_server(
    mut options: DevOptions,
    args: &ListenArgs,
    global: &super::GlobalArgs,
    command: &str,
) -> Result<(), CliError> {
    // Listening before the server starts: a Ctrl-C from then on stops it gracefully.
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    let mut stop_signals = {
        let _entered = signals.enter();
        StopSignals::listen()
    };
    // Printing has its own thread: a stdout nobody reads must not hold the store thread.
    let printer = ExecutionPrinter::start(args.quiet);
    options.host = args.host.clone();
    options.port = args.port;
    options.token = global.token.clone();
    options.on_written = Box::new(printer.sender());
    // What start-up has to tell comes under the banner, which needs the server started.
    let held: Arc<Mutex<Option<Vec<Notice>>>> = Arc::new(Mutex::new(Some(Vec::new())));
    let release = || {
        let notices = held.lock().unwrap_or_else(|p| p.into_inner()).take();
        notices.into_iter().flatten().for_each(print_notice);
    };
    options.notices = {
        let held = Arc::clone(&held);
        Arc::new(move |notice| {
            let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
            match held.as_mut() {
                Some(waiting) => waiting.push(notice),
                None => print_notice(notice),
            }
        })
    };
    let server = match DevServer::start(options) {
        Ok(server) => server,
        Err(e) => {
            release();
            return Err(dev_error(e));
        }
    };
    print_banner(command, &server);
    release();

    signals.block_on(stop_signals.recv());
    let grace = server.shutdown_grace();
    eprintln!(
        "\nstopping: in-flight executions get {} to finish",
        humantime::format_duration(grace)
    );
    let store = server
        .database()
        .unwrap_or_else(|| server.layout().store_path().display().to_string());
    server.shutdown(grace);
    printer.finish();
    eprintln!("{command} stopped; records are kept in {store}");
    Ok(())
}

/// `--database` (or FLUX_DATABASE_URL) must be a PostgreSQL URL.
fn check_database_url(url: &str) -> Result<(), CliError> {
    // The value is never echoed: it may hold a password.
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(());
    }
    Err(
        CliError::usage("--database (or FLUX_DATABASE_URL) takes a postgres:// URL")
            .with_hint(DATABASE_URL_FORM),
    )
}

const DATABASE_URL_FORM: &str = "a URL like postgres://user:password@host:5432/database";

/// The project `dir` is in: `dir` itself, or (from a subfolder) the nearest folder above it
/// that looks like a project, as every other command finds it.
fn project_dir(dir: &Path) -> PathBuf {
    if dir.join("functions").is_dir() {
        return dir.to_path_buf();
    }
    dir.canonicalize()
        .ok()
        .and_then(|dir| find_root(&dir))
        .unwrap_or_else(|| dir.to_path_buf())
}

/// Ctrl-C and SIGTERM, listened for from when they are made.
struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Must run inside a runtime; a signal that cannot be listened for is left to its default.
    fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = next(&mut self.interrupt) => {}
                () = next(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The command's error for a dev server that did not start, with what to do about it.
fn dev_error(error: DevError) -> CliError {
    let message = error.to_string();
    match error {
        DevError::ProjectFolder { .. } => {
            CliError::failure(message).with_hint("create a project with 'flux init my-app'")
        }
        DevError::NoFunctions { .. } => CliError::failure(message).with_hint(
            "run flux dev in a project folder, or create one with 'flux init my-app'",
        ),
        DevError::EmptyToken => CliError::usage(message).with_hint(
            "pass a real token, or unset FLUX_TOKEN (beyond loopback flux dev then makes one up and prints it)",
        ),
        DevError::Locked { holder, .. } => {
            let hint = holder.map_or_else(
                || "stop the other flux dev first".to_string(),
                |holder| {
                    format!(
                        "stop it with Ctrl-C in its terminal, or 'kill {}'",
                        holder.pid
                    )
                },
            );
            CliError::failure(message).with_hint(hint)
        }
        DevError::Config(_) => {
            CliError::failure(message).with_hint("fix flux.config.ts and start flux dev again")
        }
        DevError::Store { path, source } => store_error(source, &path),
        DevError::Listen { source, port, .. } => {
            let hint = if source.kind() == std::io::ErrorKind::AddrInUse {
                format!("another program uses port {port}: pass --port N")
            } else {
                "check --host and --port".to_string()
            };
            CliError::failure(message).with_hint(hint)
        }
        DevError::StateDir(_)
        | DevError::LockFile(_)
        | DevError::AsyncRuntime(_)
        | DevError::Engines(_)
        | DevError::Follower(_)
        | DevError::Queue(_)
        | DevError::LocalAddr(_)
        | DevError::ServerFile(_)
        | DevError::Deployed(_) => CliError::failure(message),
    }
}

fn store_error(error: StoreError, store: &std::path::Path) -> CliError {
    match error {
        StoreError::Corrupt { .. } => CliError::failure(error.to_string()).with_hint(format!(
            "flux will not overwrite it: move it aside (mv {0} {0}.bad) to start with an empty store",
            store.display()
        )),
        StoreError::Damaged { .. } => CliError::failure(error.to_string()).with_hint(format!(
            "flux will not write to it: move it aside (mv {0} {0}.bad) to start with an empty store, \
             or put a backup in its place; sqlite3's .recover can still read what is left in it",
            store.display()
        )),
        StoreError::Empty { .. } => CliError::failure(error.to_string()).with_hint(format!(
            "flux will not start over on it silently: put a backup in its place, or remove it \
             (rm {}) to start with an empty store",
            store.display()
        )),
        StoreError::Migration { hint, .. } => hint
            .into_iter()
            .fold(CliError::failure(error.to_string()), CliError::with_hint)
            .with_hint("fix the migration and start flux dev again"),
        StoreError::BadDatabaseUrl { .. } => {
            CliError::usage(error.to_string()).with_hint(DATABASE_URL_FORM)
        }
        StoreError::PgUnreachable { .. } => CliError::unreachable(error.to_string())
            .with_hint("check the host and port in the URL, and that PostgreSQL is running there"),
        StoreError::PgRefused { ref code, .. } => {
            let hint = match code.as_str() {
                "28P01" | "28000" => Some("check the user and password in the URL"),
                "3D000" => Some("create the database (createdb NAME), or name another in the URL"),
                _ => None,
            };
            hint.into_iter()
                .fold(CliError::failure(error.to_string()), CliError::with_hint)
        }
        StoreError::NewerSchema { .. } => CliError::failure(error.to_string()).with_hint(
            "run the flux that made them (every process sharing a database runs one version), \
             or give --database another database",
        ),
        StoreError::PgSandboxLogin {
            ref role,
            ref database,
            ..
        } => CliError::failure(error.to_string()).with_hint(format!(
            "flux logs in as {role} with its own URL's host, port and database and a password \
             it sets; let it in pg_hba.conf, above the lines that refuse it, e.g. \
             `host {database} {role} 127.0.0.1/32 scram-sha-256`, then reload PostgreSQL \
             (SELECT pg_reload_conf())"
        )),
        other => CliError::failure(other.to_string()),
    }
}
