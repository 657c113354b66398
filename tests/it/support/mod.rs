//! Test projects in temporary folders and real `flux dev` servers on free ports.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod pg;

/// How long a test waits for one thing to happen. Generous: on a loaded 2-core machine a
/// debug build can take seconds for what takes milliseconds alone, and a deadline only costs
/// time when the test fails anyway.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How long a test waits for hundreds of executions to run.
pub const BULK_DEADLINE: Duration = Duration::from_secs(180);

/// The `flux` under test: this build's, or `FLUX_BIN` (as in the bench scripts: the ignored
/// benchmark tests run against a release build).
pub fn flux_bin() -> PathBuf {
    std::env::var_os("FLUX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_flux")))
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A local HTTP endpoint that reports the path of every request it gets and answers it with
/// an empty 200 (a [`Beacon::holding`] one only once released): a function fetches it to tell
/// the test that it got to a point, and to wait there until the test lets it go on.
pub struct Beacon {
    pub url: String,
    paths: mpsc::Receiver<String>,
    open: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Beacon {
    pub fn start() -> Beacon {
        Beacon::with_open(true)
    }

    /// A beacon that holds its answers until [`Beacon::release`].
    pub fn holding() -> Beacon {
        Beacon::with_open(false)
    }

    fn with_open(open: bool) -> Beacon {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, paths) = mpsc::channel();
        let open = Arc::new((Mutex::new(open), std::sync::Condvar::new()));
        let gate = Arc::clone(&open);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (tx, gate) = (tx.clone(), Arc::clone(&gate));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut request_line = String::new();
                    let _ = reader.read_line(&mut request_line);
                    // The headers, up to the blank line.
                    let mut header = String::new();
                    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                        header.clear();
                    }
                    let path = request_line.split(' ').nth(1).unwrap_or_default();
                    let _ = tx.send(path.to_string());
                    let (lock, released) = &*gate;
                    let mut open = lock.lock().expect("lock");
                    while !*open {
                        open = released.wait(open).expect("lock");
                    }
                    let _ = std::io::Write::write_all(
                        &mut stream,
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                });
            }
        });
        Beacon { url, paths, open }
    }

    /// Waits (at most [`DEADLINE`]) for the next request; returns its path.
    pub fn next(&self, what: &str) -> String {
        self.paths
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
    }

    /// Answers the requests held so far, and from now on every request at once.
    pub fn release(&self) {
        let (lock, released) = &*self.open;
        *lock.lock().expect("lock") = true;
        released.notify_all();
    }
}

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// The bundled example, written by `flux init`.
    pub fn example() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new(flux_bin())
            .arg("init")
            .arg(dir.path())
            .arg("--force")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run flux init");
        assert!(status.success());
        Project { dir }
    }

    /// A project with only the given files (and an empty functions folder).
    pub fn with_files(files: &[(&str, &str)]) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("functions")).expect("functions dir");
        let project = Project { dir };
        for (path, contents) in files {
            project.write(path, contents);
        }
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    /// `flux <args>` run in the project folder, with a stable environment.
    pub fn flux(&self, args: &[&str]) -> Command {
        let mut command = Command::new(flux_bin());
        command
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("FLUX_URL")
            .env_remove("FLUX_TOKEN")
            // A developer's PostgreSQL must not replace the tests' SQLite.
            .env_remove("FLUX_DATABASE_URL")
            .env_remove("CLICOLOR_FORCE");
        command
    }

    /// Runs `flux <args>`; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_with_env(args, &[])
    }

    /// `run` with extra environment variables (`FLUX_TOKEN`).
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let output = self
            .flux(args)
            .envs(env.iter().copied())
            .output()
            .expect("run flux");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn start(&self) -> Server {
        Server::start(self, &[])
    }
}

pub struct Server {
    child: Child,
    pub url: String,
    output: Arc<Mutex<String>>,
    /// One message per output stream once it has been read to its end.
    output_closed: Mutex<mpsc::Receiver<()>>,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn request_id(&self) -> String {
        self.headers
            .get("x-flux-request-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .unwrap_or_else(|| panic!("no x-flux-request-id header; body: {}", self.body))
    }

    /// The id of the (first) job an enqueue answered with.
    pub fn job_id(&self) -> String {
        self.json()["jobs"][0]["id"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| panic!("no job id; body: {}", self.body))
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<String>>,
    closed: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = into.lock().expect("lock");
            text.push_str(&line);
            text.push('\n');
        }
        let _ = closed.send(());
    });
}

/// Waits until both of a process's output streams have been read to their end.
fn wait_output_closed(closed: &mpsc::Receiver<()>) {
    let until = Instant::now() + DEADLINE;
    for _ in 0..2 {
        closed
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .expect("flux dev's output to end after it exited");
    }
}

impl Server {
    pub fn start(project: &Project, extra: &[&str]) -> Server {
        Server::try_start(project, extra)
            .unwrap_or_else(|output| panic!("flux dev did not start:\n{output}"))
    }

    /// `start` with extra environment variables for `flux dev`.
    pub fn start_with_env(project: &Project, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::try_start_with_env(project, extra, env)
            .unwrap_or_else(|output| panic!("flux dev did not start:\n{output}"))
    }

    /// Starts `flux dev --port 0`; on failure returns what it printed.
    pub fn try_start(project: &Project, extra: &[&str]) -> Result<Server, String> {
        Server::try_start_with_env(project, extra, &[])
    }

    /// `start`, run from `subfolder` of the project instead of its root.
    pub fn start_in(project: &Project, subfolder: &str) -> Server {
        Server::try_start_in(project, subfolder, &[], &[])
            .unwrap_or_else(|output| panic!("flux dev did not start:\n{output}"))
    }

    fn try_start_with_env(
        project: &Project,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        Server::try_start_in(project, "", extra, env)
    }

    fn try_start_in(
        project: &Project,
        subfolder: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        let server_file = project.path().join(".flux/server.json");
        let mut args = vec!["dev"];
        args.extend_from_slice(extra);
        Server::spawn(project, &args, subfolder, &server_file, env)
    }

    /// Starts `flux serve --data <project>/.serve --port 0 <extra>` in the project's folder.
    pub fn serve(project: &Project, extra: &[&str]) -> Server {
        let data = project.path().join(".serve");
        let data_arg = data.display().to_string();
        let mut args = vec!["serve", "--data", &data_arg];
        args.extend_from_slice(extra);
        Server::spawn(project, &args, "", &data.join("server.json"), &[])
            .unwrap_or_else(|output| panic!("flux serve did not start:\n{output}"))
    }

    /// Starts `flux serve --data <project>/<data> --port 0 <extra>`: several of them, each
    /// with its own data folder, can share one `--database`.
    pub fn serve_in(project: &Project, data: &str, extra: &[&str]) -> Server {
        Server::try_serve_in(project, data, extra)
            .unwrap_or_else(|output| panic!("flux serve did not start:\n{output}"))
    }

    /// `serve_in`; on failure returns what it printed.
    pub fn try_serve_in(project: &Project, data: &str, extra: &[&str]) -> Result<Server, String> {
        let data = project.path().join(data);
        let data_arg = data.display().to_string();
        let mut args = vec!["serve", "--data", &data_arg];
        args.extend_from_slice(extra);
        Server::spawn(project, &args, "", &data.join("server.json"), &[])
    }

    /// Runs `flux <args> --port 0` and waits for its `server_file` and health.
    fn spawn(
        project: &Project,
        args: &[&str],
        subfolder: &str,
        server_file: &Path,
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        let _ = std::fs::remove_file(server_file);
        let mut args = args.to_vec();
        if !args.contains(&"--port") {
            args.extend(["--port", "0"]);
        }
        let mut child = project
            .flux(&args)
            .current_dir(project.path().join(subfolder))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn flux dev");
        let output = Arc::new(Mutex::new(String::new()));
        let (closed_tx, output_closed) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        collect(stdout, Arc::clone(&output), closed_tx.clone());
        collect(
            child.stderr.take().expect("stderr"),
            Arc::clone(&output),
            closed_tx,
        );
        let until = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                wait_output_closed(&output_closed);
                return Err(output.lock().expect("lock").clone());
            }
            let info = std::fs::read_to_string(server_file)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok());
            if let Some(url) = info.as_ref().and_then(|i| i["url"].as_str()) {
                let server = Server {
                    child,
                    url: url.to_string(),
                    output,
                    output_closed: Mutex::new(output_closed),
                };
                // 401: the server is up and wants its token (--token).
                if matches!(server.get("/_flux/api/health").status, 200 | 401) {
                    return Ok(server);
                }
                return Err("health check failed".into());
            }
            if Instant::now() > until {
                let _ = child.kill();
                return Err(format!(
                    "no server.json after {DEADLINE:?}\n{}",
                    output.lock().expect("lock")
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> String {
        self.output.lock().expect("lock").clone()
    }

    pub fn wait_for_output(&self, needle: &str) -> String {
        wait_for(
            &format!("'{needle}' in flux dev's output"),
            DEADLINE,
            || {
                let output = self.output();
                output.contains(needle).then_some(output)
            },
        )
    }

    fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(DEADLINE)
            .build()
            .expect("client")
    }

    pub fn send(&self, request: reqwest::blocking::RequestBuilder) -> Reply {
        let response = request.send().expect("request");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().expect("body"),
        }
    }

    /// Sends `GET path` from another thread; join the handle for the reply.
    pub fn get_in_background(&self, path: &str) -> std::thread::JoinHandle<Reply> {
        let request = self.request(reqwest::Method::GET, path);
        let path = path.to_string();
        std::thread::spawn(move || {
            let response = request.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.text().unwrap_or_default();
            Reply {
                status,
                headers,
                body,
            }
        })
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send(Server::client().get(format!("{}{path}", self.url)))
    }

    pub fn post_json(&self, path: &str, body: &str) -> Reply {
        self.send(
            Server::client()
                .post(format!("{}{path}", self.url))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    /// `POST /_flux/api/jobs` with one job or an array of them; they must be accepted.
    pub fn enqueue(&self, jobs: &Value) -> Reply {
        let reply = self.send(
            self.request(reqwest::Method::POST, "/_flux/api/jobs")
                .json(jobs),
        );
        assert_eq!(reply.status, 201, "enqueue refused: {}", reply.body);
        reply
    }

    /// Waits until job `job_id` is in the dead-letter queue.
    pub fn wait_dead(&self, job_id: &str) {
        wait_for("the job in the dead-letter queue", DEADLINE, || {
            let dead = self.get("/_flux/api/dead-letter").json();
            dead["dead"]
                .as_array()?
                .iter()
                .any(|d| d["job_id"] == job_id)
                .then_some(())
        });
    }

    /// A `POST` with no body, such as `/_flux/api/queue/pause`.
    pub fn post(&self, path: &str) -> Reply {
        self.send(self.request(reqwest::Method::POST, path))
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        Server::client().request(method, format!("{}{path}", self.url))
    }

    /// The stored record of execution `id`, once the writer has committed it.
    pub fn record(&self, id: &str) -> Value {
        wait_for(&format!("record {id}"), DEADLINE, || {
            let reply = self.get(&format!("/_flux/api/records/{id}"));
            (reply.status == 200).then(|| reply.json())
        })
    }

    /// Stops with SIGINT (Ctrl-C), waits (at most [`DEADLINE`]) for the process to exit and
    /// returns everything it printed.
    pub fn stop(self) -> String {
        self.interrupt();
        self.wait_exit()
    }

    /// Sends SIGINT (Ctrl-C), once.
    pub fn interrupt(&self) {
        // SAFETY: a signal to the child process this test started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    /// Waits (at most [`DEADLINE`]) for the process to exit; returns everything it printed.
    pub fn wait_exit(mut self) -> String {
        wait_for("flux dev to exit", DEADLINE, || {
            self.child.try_wait().ok().flatten()
        });
        wait_output_closed(&self.output_closed.lock().expect("lock"));
        self.output()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- flux dev's output ---\n{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The messages of a record's console lines, in order.
pub fn console_messages(record: &Value) -> Vec<String> {
    record["console"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|line| line["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A record's spans whose name starts with `name` (`db.insert` finds `db.insert(notes)`).
pub fn spans_named<'a>(record: &'a Value, name: &str) -> Vec<&'a Value> {
    record["spans"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
                .collect()
        })
        .unwrap_or_default()
}

/// Placeholders for what varies between runs (ids, times, durations, temporary paths, ports),
/// as insta filters, applied in order.
pub const SNAPSHOT_FILTERS: &[(&str, &str)] = &[
    (r"\b[0-9a-f]{32}\b", "[ID]"),
    (r"req:[0-9a-f]{8}", "req:[ID]"),
    (r"job [0-9a-f]{8}", "job [ID]"),
    (r"u_[0-9a-f]{16}", "u_[GENERATED]"),
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
    // A time of day (`flux why`'s CAUSED BY line).
    (r"\b\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
    (r"\b\d+(\.\d+)?(µs|ms|s)\b", "[DUR]"),
    // Durations are right-aligned: their padding varies with their width.
    (r" +\[DUR\]", " [DUR]"),
    (r"code version [0-9a-f]{12}", "code version [HASH]"),
    (r#"(/private)?/(tmp|var/folders)/[^\s:'"]*"#, "[TMP]"),
    (r"(127\.0\.0\.1|localhost|\[::1\]):\d+", "$1:[PORT]"),
];

/// `insta::assert_snapshot!` with [`SNAPSHOT_FILTERS`] applied.
macro_rules! assert_filtered_snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({ filters => $crate::support::SNAPSHOT_FILTERS.to_vec() }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}
pub(crate) use assert_filtered_snapshot;

/// Installs Debian's `package` with apt-get unless `present` says it is there, as `.ci/run`
/// does on a fresh machine. Test binaries of other checkouts may want it at the same time:
/// one installs, under a file lock, the others find it installed.
pub fn apt_install(package: &str, why: &str, present: impl Fn() -> bool) {
    use fs4::fs_std::FileExt;
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).expect("create the test folder");
    let guard = std::fs::File::create(base.join(format!(".{package}.lock")))
        .expect("create the install lock");
    guard.lock_exclusive().expect("lock the install");
    if !present() {
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .output()
                .unwrap_or_else(|e| panic!("run apt-get: {why} (apt-get install {package}): {e}"))
        };
        let _ = apt(&["update", "-q"]);
        let output = apt(&["install", "-y", "-q", package]);
        assert!(
            output.status.success(),
            "apt-get install {package} failed ({why}; run as root, or install it):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    FileExt::unlock(&guard).expect("unlock the install");
}
