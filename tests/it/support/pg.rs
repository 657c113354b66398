//! A throwaway PostgreSQL cluster for the tests: one per test process, started on first use
//! (initdb in a temporary folder, a free port on 127.0.0.1, trust authentication, fsync on),
//! and a fresh database per test, so tests run in parallel. The server binaries are `PG_BIN`'s,
//! else `pg_config --bindir`'s, else the newest `/usr/lib/postgresql/*/bin`; when there are
//! none, Debian's `postgresql` is installed with apt-get, as `.ci/run` does.
//!
//! initdb refuses to run as root, so as root the cluster runs as the `postgres` user (which
//! Debian's package creates). At a normal exit (tests passed or failed) an `atexit` hook
//! stops the server by its PID (SIGINT, a fast shutdown) and waits for it; a reaper process
//! holds a pipe whose other end only this process has, so however this process ends (a kill
//! too) the pipe closes and the reaper stops what is left by PID and removes the folder.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::{wait_for, DEADLINE};

/// The running cluster.
pub struct Cluster {
    pub port: u16,
    /// Its server's log, named when something fails.
    log: PathBuf,
    /// Kept open for the life of this process: its closing tells the reaper to stop the server.
    _reaper: Mutex<ChildStdin>,
}

/// The cluster, started the first time it is asked for.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start)
}

/// A new empty database on the cluster, as a connection URL.
pub fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to the test cluster: {e} (log: {:?})", cluster.log));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    cluster.url(&name)
}

/// A new empty database owned by a new role that is not a superuser (with CREATEROLE, to make
/// the sandbox's role once), as flux should connect in production: its connection URL.
pub fn owned_database() -> String {
    let url = fresh_database();
    let (base, database) = url.rsplit_once('/').expect("a database in the URL");
    let owner = format!("owner_{}", &database[2..14]);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    admin
        .batch_execute(&format!(
            "CREATE ROLE {owner} LOGIN CREATEROLE; ALTER DATABASE {database} OWNER TO {owner}; \
             ALTER SCHEMA public OWNER TO {owner};"
        ))
        .expect("an owner role");
    format!(
        "{}/{database}",
        base.replace("postgres@", &format!("{owner}@"))
    )
}

impl Cluster {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

/// The folder of PostgreSQL's server binaries, if this machine has them.
fn find_bin() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_config.filter(|d| has_server(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn start() -> Cluster {
    let bin = find_bin().unwrap_or_else(|| {
        crate::support::apt_install(
            "postgresql",
            "the PostgreSQL store's tests need a PostgreSQL server",
            || find_bin().is_some(),
        );
        find_bin().expect("PostgreSQL's server binaries after installing postgresql")
    });
    let as_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let dir = tempfile::Builder::new()
        .prefix("flux-pg-")
        .tempdir()
        .expect("a folder for the test cluster")
        .keep();
    // Run as `postgres` when root: initdb and postgres refuse root.
    let command = |program: &str| {
        let mut command = Command::new("nice");
        command.arg("-n").arg("19");
        if as_root {
            command.args([
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ]);
        }
        command.arg(bin.join(program));
        command
    };
    if as_root {
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(
            chown.success(),
            "chown the test cluster's folder to postgres"
        );
    }
    // From here on, however this process ends, the reaper cleans up.
    let reaper = reaper(&dir);
    let data = dir.join("data");
    let initdb = command("initdb")
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run initdb");
    note_pid(&dir, initdb.id());
    let initdb = initdb.wait_with_output().expect("run initdb");
    assert!(
        initdb.status.success(),
        "initdb failed:\n{}{}",
        String::from_utf8_lossy(&initdb.stdout),
        String::from_utf8_lossy(&initdb.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = dir.join("postgres.log");
    let log_file = std::fs::File::create(&log).expect("the server's log");
    // nice and setpriv exec what they run, so the child's PID is the postmaster's.
    let server: Child = command("postgres")
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args([
            "-c",
            "fsync=on",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=32MB",
        ])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("start postgres");
    note_pid(&dir, server.id());
    SERVER_PID.store(server.id(), Ordering::SeqCst);
    // SAFETY: registers a plain function with no captured state; libc runs it at exit.
    unsafe { libc::atexit(stop_at_exit) };
    let cluster = Cluster {
        port,
        log: log.clone(),
        _reaper: Mutex::new(reaper),
    };
    let url = cluster.url("postgres");
    let mut server = server;
    wait_for("the test cluster to accept connections", DEADLINE, || {
        if let Ok(Some(status)) = server.try_wait() {
            panic!(
                "postgres exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        postgres::Client::connect(&url, postgres::NoTls)
            .ok()
            .map(drop)
    });
    cluster
}

/// The server's PID, for [`stop_at_exit`].
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// At a normal exit (tests done, or some failed): stops the server and waits until it has
/// ended (a fast shutdown writes a checkpoint: seconds, when many databases were made), so
/// that no server outlives `cargo test`. After a kill, the reaper does it instead.
extern "C" fn stop_at_exit() {
    let Ok(pid) = libc::pid_t::try_from(SERVER_PID.load(Ordering::SeqCst)) else {
        return;
    };
    if pid == 0 {
        return;
    }
    let deadline = Instant::now() + DEADLINE;
    // SAFETY: `pid` is this process's child (nice and setpriv exec postgres), not yet waited
    // for, so the signal and the wait reach that server and nothing else.
    unsafe {
        libc::kill(pid, libc::SIGINT);
        let mut status = 0;
        while libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 {
            if Instant::now() > deadline {
                // A shutdown that hangs: an immediate one.
                libc::kill(pid, libc::SIGQUIT);
                libc::waitpid(pid, &mut status, 0);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts the process that stops what this process starts in `dir` and removes `dir` once
/// this process ends: it waits for end of file on its stdin, whose write end only this
/// process holds (Rust opens pipes close-on-exec, so no child inherits it), then interrupts
/// each process listed in `dir/pids` (SIGINT: initdb gives up, postgres shuts down fast),
/// waits for them to end, and removes the folder. A PID is signalled only while its command
/// line names `dir`, so a PID reused by another program is left alone. Its own process
/// group, so a Ctrl-C that ends the tests does not end it before it cleaned up.
// Never waited for: it outlives this process, which is the point.
#[allow(clippy::zombie_processes)]
fn reaper(dir: &Path) -> ChildStdin {
    let script = r#"read -r _
        ours() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$dir"; }
        dir="$1"
        for pid in $(cat "$dir/pids" 2>/dev/null); do ours "$pid" && kill -INT "$pid"; done
        for pid in $(cat "$dir/pids" 2>/dev/null); do
            while ours "$pid"; do sleep 0.05; done
        done
        rm -rf "$dir""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("flux-pg-reaper")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start the test cluster's reaper");
    let mut stdin = child.stdin.take().expect("the reaper's stdin");
    // Nothing is written until the end (a line would stop the server early); flushing an
    // empty buffer checks the pipe is open.
    stdin.flush().expect("the reaper's pipe");
    stdin
}

/// Notes a process the reaper must stop (see [`reaper`]).
fn note_pid(dir: &Path, pid: u32) {
    let mut pids = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("pids"))
        .expect("the test cluster's pid list");
    writeln!(pids, "{pid}").expect("note a pid");
}
