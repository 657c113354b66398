//! A throwaway PostgreSQL cluster for the tests: one per test process, started on first use
//! (initdb in a temporary folder, a free port on 127.0.0.1, trust authentication, fsync on),
//! and a fresh database per test, so tests run in parallel. The server binaries are `PG_BIN`'s,
//! else `pg_config --bindir`'s, else the newest `/usr/lib/postgresql/*/bin`; when there are
//! none, Debian's `postgresql` is installed with apt-get, as `.ci/run` does.
//!
//! initdb refuses to run as root, so as root the cluster runs as the `postgres` user (which
//! Debian's package creates). A reaper process holds a pipe whose other end only this process
//! has: however this process ends (tests done, a failed test, a kill), the pipe closes and the
//! reaper stops the server by its PID (SIGINT, a fast shutdown) and removes its folder.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

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
        .output()
        .expect("run initdb");
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
    let reaper = reaper(server.id(), &dir);
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

/// Starts the process that stops the server (by `pid`) and removes `dir` once this process
/// ends: it waits for end of file on its stdin, whose write end only this process holds (Rust
/// opens pipes close-on-exec, so no child inherits it). Its own process group, so a Ctrl-C
/// that ends the tests does not end it before it cleaned up.
// Never waited for: it outlives this process, which is the point.
#[allow(clippy::zombie_processes)]
fn reaper(pid: u32, dir: &Path) -> ChildStdin {
    let script = r#"read -r _; kill -INT "$1" 2>/dev/null
        while kill -0 "$1" 2>/dev/null; do sleep 0.05; done
        rm -rf "$2""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("flux-pg-reaper")
        .arg(pid.to_string())
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
