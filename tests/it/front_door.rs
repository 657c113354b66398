//! The front door of `flux dev`: who may use `/_flux/`, what a body becomes, who may read
//! `.flux/`, and what slow, idle or non-reading clients may hold.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Reply, Server, BULK_DEADLINE, DEADLINE};

const HELLO: (&str, &str) = ("functions/hello.ts", "export default () => 'hi'");

/// `host:port` of a server URL.
fn address(server: &Server) -> String {
    server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = server.request(reqwest::Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    server.send(request)
}

fn post_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = server.request(reqwest::Method::POST, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    server.send(request)
}

/// Runs `flux dev` that is expected to refuse to start; returns its exit code and output.
fn refused_start(project: &Project, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = project.flux(&[&["dev", "--port", "0"], args].concat());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn flux dev");
    let server_file = project.path().join(".flux/server.json");
    let status = wait_for("flux dev to exit", DEADLINE, || {
        if server_file.exists() {
            let _ = child.kill();
            panic!("flux dev started with {args:?} {env:?}");
        }
        child.try_wait().ok().flatten()
    });
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn an_empty_token_is_refused_at_start_not_taken_as_no_token() {
    let project = Project::with_files(&[HELLO]);
    for (args, env) in [
        (vec!["--host", "0.0.0.0"], vec![("FLUX_TOKEN", "")]),
        (vec!["--host", "0.0.0.0", "--token", ""], vec![]),
        (vec!["--token", " "], vec![]),
    ] {
        let (code, stderr) = refused_start(&project, &args, &env);
        assert_eq!(code, 2, "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains("the token is empty"), "{stderr}");
        assert!(stderr.contains("unset FLUX_TOKEN"), "{stderr}");
    }
}

#[test]
fn the_token_is_checked_whatever_the_case_of_its_scheme() {
    let project = Project::with_files(&[HELLO]);
    let server = Server::start(&project, &["--host", "0.0.0.0", "--token", "s3cret"]);
    for accepted in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret"] {
        let reply = get_with(
            &server,
            "/_flux/api/records",
            &[("authorization", accepted)],
        );
        assert_eq!(reply.status, 200, "{accepted}: {}", reply.body);
    }
    for refused in [
        "Bearer s3cre7",
        "Bearer s3cret2",
        "Bearer ",
        "Basic s3cret",
        "s3cret",
    ] {
        let reply = get_with(&server, "/_flux/api/records", &[("authorization", refused)]);
        assert_eq!(reply.status, 401, "{refused}: {}", reply.body);
        assert!(!reply.body.contains("records\""), "{}", reply.body);
    }
    let empty = get_with(&server, "/_flux/api/records", &[("x-flux-token", "")]);
    assert_eq!(empty.status, 401, "{}", empty.body);
}

/// A websocket handshake for `/_flux/api/tail` with extra headers; returns the status code.
fn tail_handshake(server: &Server, headers: &[(&str, &str)]) -> u16 {
    let mut request = server
        .request(reqwest::Method::GET, "/_flux/api/tail")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().expect("handshake").status().as_u16()
}

#[test]
fn a_foreign_host_name_is_refused_on_the_api_and_the_tail() {
    let project = Project::with_files(&[HELLO]);
    project.write(
        "flux.config.ts",
        "export default { server: { allowedHosts: ['myapp.test'] } }",
    );
    let server = project.start();
    let port = address(&server)
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    let rebinding = format!("evil.example:{port}");
    let refused = get_with(&server, "/_flux/api/records", &[("host", &rebinding)]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!refused.body.contains("records\""), "{}", refused.body);
    assert!(
        refused.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("server.allowedHosts")),
        "{}",
        refused.body
    );
    assert_eq!(tail_handshake(&server, &[("host", &rebinding)]), 403);
    // The names it answers to: loopback ones, its address, and the configured ones.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("myapp.test:{port}"),
    ] {
        let reply = get_with(&server, "/_flux/api/records", &[("host", &host)]);
        assert_eq!(reply.status, 200, "{host}: {}", reply.body);
    }
    assert_eq!(tail_handshake(&server, &[]), 101);
    // Functions are the app's own: any host reaches them.
    assert_eq!(
        get_with(&server, "/hello", &[("host", &rebinding)]).status,
        200
    );
}

#[test]
fn another_web_page_can_neither_read_records_nor_pause_the_queue() {
    let project = Project::with_files(&[HELLO]);
    let server = project.start();
    let evil = [("origin", "http://evil.example")];
    let read = get_with(&server, "/_flux/api/records", &evil);
    assert_eq!(read.status, 403, "{}", read.body);
    assert!(!read.body.contains("records\""), "{}", read.body);
    assert_eq!(tail_handshake(&server, &evil), 403);
    let pause = post_with(&server, "/_flux/api/queue/pause", &evil);
    assert_eq!(pause.status, 403, "{}", pause.body);
    // A form posted from another site may carry no Origin, but says where it comes from.
    let form = post_with(
        &server,
        "/_flux/api/queue/pause",
        &[("sec-fetch-site", "cross-site")],
    );
    assert_eq!(form.status, 403, "{}", form.body);
    // A front-end on another port of this machine is another origin.
    let other_port = post_with(
        &server,
        "/_flux/api/queue/pause",
        &[("origin", "http://localhost:1")],
    );
    assert_eq!(other_port.status, 403, "{}", other_port.body);
    let stats = server.get("/_flux/api/queue/stats").json();
    assert_eq!(stats["paused"], false, "{stats}");

    let own = format!("http://{}", address(&server));
    let same_origin = post_with(&server, "/_flux/api/queue/pause", &[("origin", &own)]);
    assert_eq!(same_origin.status, 200, "{}", same_origin.body);
    assert_eq!(server.get("/_flux/api/queue/stats").json()["paused"], true);
    let read = get_with(&server, "/_flux/api/records", &[("origin", &own)]);
    assert_eq!(read.status, 200, "{}", read.body);
}

#[test]
fn only_json_content_types_are_parsed_as_json() {
    let project = Project::with_files(&[(
        "functions/echo.ts",
        "export default (req) => ({ type: typeof req.body, body: req.body })",
    )]);
    let server = project.start();
    let post = |content_type: &str| {
        server.send(
            server
                .request(reqwest::Method::POST, "/echo")
                .header("content-type", content_type)
                .body(r#"{"a":1}"#),
        )
    };
    for text in ["text/plain; charset=json", "text/plain", "text/json-ish"] {
        let reply = post(text);
        assert_eq!(reply.status, 200, "{text}: {}", reply.body);
        assert_eq!(
            reply.json(),
            json!({ "type": "string", "body": r#"{"a":1}"# }),
            "{text}"
        );
        // The record shows what the function got.
        let record = server.record(&reply.request_id());
        assert_eq!(record["input"]["body"], json!(r#"{"a":1}"#), "{text}");
    }
    for json_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/problem+json",
    ] {
        let reply = post(json_type);
        assert_eq!(
            reply.json(),
            json!({ "type": "object", "body": { "a": 1 } }),
            "{json_type}"
        );
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn the_state_folder_and_its_files_are_the_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let project = Project::with_files(&[(
        "functions/note.ts",
        "export default async (req, ctx) => ctx.db.query('CREATE TABLE IF NOT EXISTS notes (body TEXT)')",
    )]);
    let server = Server::start(&project, &["--token", "s3cret"]);
    let reply = get_with(&server, "/note", &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let state = project.path().join(".flux");
    assert_eq!(mode(&state), 0o700);
    for file in [
        "flux.db",
        "flux.db-wal",
        "flux.db-shm",
        "server.json",
        "dev.lock",
    ] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    assert!(!server.output().contains("readable by other users"));
    server.stop();

    // A folder left readable (an older flux, a copy) is tightened at start, and said so once.
    for (path, wide) in [
        (state.clone(), 0o755),
        (state.join("flux.db"), 0o644),
        (state.join("dev.lock"), 0o664),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wide)).expect("chmod");
    }
    let server = project.start();
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("flux.db")), 0o600);
    assert_eq!(mode(&state.join("dev.lock")), 0o600);
    // Start-up notices follow the banner.
    let output = server.wait_for_output("readable by other users");
    assert_eq!(
        output.matches("readable by other users").count(),
        1,
        "{output}"
    );
}

/// Resident and peak memory of a process, in bytes, from /proc.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Opens a tail websocket asking for all history and returns the socket and the status of
/// the answer; the socket is not read any further.
fn stalled_tail(address: &str) -> (TcpStream, u16) {
    let mut socket = TcpStream::connect(address).expect("connect");
    let request = format!(
        "GET /_flux/api/tail?since=1h HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).expect("handshake");
    // Only the status line: "HTTP/1.1 101 …".
    let mut head = [0u8; 12];
    socket.read_exact(&mut head).expect("status line");
    let status = String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("status code");
    (socket, status)
}

#[test]
fn tail_clients_that_do_not_read_cost_bounded_memory_and_are_dropped() {
    const RECORDS: usize = 1_500;
    const CLIENTS: usize = 200;
    const MAX_TAIL_CLIENTS: usize = 16;
    let project = Project::with_files(&[
        HELLO,
        // Each record carries a 16 kB error message: the history is ~24 MB per client.
        (
            "functions/big.ts",
            "export default () => { throw new Error('x'.repeat(16000)) }",
        ),
    ]);
    let config = |max_tail_clients: usize, stall: &str| {
        project.write(
            "flux.config.ts",
            &format!(
                "export default {{ workers: {{ big: {{ maxAttempts: 1 }} }}, \
                 server: {{ maxTailClients: {max_tail_clients}, tailStallTimeout: '{stall}' }} }}"
            ),
        )
    };
    config(MAX_TAIL_CLIENTS, "60s");
    let server = Server::start(&project, &["--quiet"]);
    let jobs: Vec<Value> = (0..RECORDS).map(|_| json!({ "name": "big" })).collect();
    server.enqueue(&Value::Array(jobs));
    wait_for("every job to die", BULK_DEADLINE, || {
        let stats = server.get("/_flux/api/queue/stats").json();
        (stats["stats"][0]["dead"] == json!(RECORDS)).then_some(())
    });
    let (before, _) = memory(server.pid());

    let address = address(&server);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for _ in 0..CLIENTS {
        match stalled_tail(&address) {
            (socket, 101) => accepted.push(socket),
            (_, 503) => refused += 1,
            (_, other) => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(accepted.len(), MAX_TAIL_CLIENTS);
    assert_eq!(refused, CLIENTS - MAX_TAIL_CLIENTS);
    // Every accepted client has been sent history it does not read.
    let mut buffer = vec![0u8; 32 * 1024];
    for socket in &accepted {
        wait_for("history sent to a tail client", DEADLINE, || {
            (socket.peek(&mut buffer).ok()? == buffer.len()).then_some(())
        });
    }
    assert_eq!(
        server.get("/hello").status,
        200,
        "requests are still served"
    );
    let (_, peak) = memory(server.pid());
    let growth = peak.saturating_sub(before);
    eprintln!("peak memory growth with {CLIENTS} stalled tail clients: {growth} bytes");
    assert!(
        growth < 150 * 1024 * 1024,
        "{CLIENTS} tail clients that do not read took {} MB",
        growth / 1024 / 1024
    );
    // flux tail beyond the cap says why instead of waiting for a server that is there.
    let (code, _, stderr) = project.run(&["tail"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("too many tail clients"), "{stderr}");
    drop(accepted);
    server.stop();

    // A client that reads nothing for tailStallTimeout is dropped, freeing its place.
    config(1, "1s");
    let server = Server::start(&project, &["--quiet"]);
    let address = self::address(&server);
    let (_stalled, status) = stalled_tail(&address);
    assert_eq!(status, 101);
    wait_for(
        "the stalled client's place to be free again",
        DEADLINE,
        || (stalled_tail(&address).1 == 101).then_some(()),
    );
}

/// Reads from `socket` until it is closed; returns how long after `started` that was.
fn time_until_closed(socket: &mut TcpStream, started: Instant) -> Duration {
    socket
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    let mut buffer = [0u8; 1024];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

#[test]
fn a_slow_or_idle_connection_is_closed_after_the_header_timeout() {
    let project = Project::with_files(&[HELLO]);
    project.write(
        "flux.config.ts",
        "export default { server: { headerTimeout: '1s' } }",
    );
    let server = project.start();
    let address = address(&server);
    // Half a request head, then nothing. Timed from before connecting, so that a slow test
    // thread can only make the wait look longer, never shorter.
    let connecting = Instant::now();
    let mut slow = TcpStream::connect(&address).expect("connect");
    slow.write_all(format!("GET /hello HTTP/1.1\r\nHost: {address}\r\n").as_bytes())
        .expect("write");
    let waited = time_until_closed(&mut slow, connecting);
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}, before the timeout"
    );
    // A kept-alive connection that goes idle is closed too; one in use is not.
    let mut idle = TcpStream::connect(&address).expect("connect");
    idle.write_all(format!("GET /hello HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .expect("write");
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 200");
    time_until_closed(&mut idle, Instant::now());
    assert_eq!(server.get("/hello").status, 200);
}

#[test]
fn connections_beyond_the_cap_wait_and_are_served_once_others_close() {
    let project = Project::with_files(&[HELLO]);
    project.write(
        "flux.config.ts",
        "export default { server: { maxConnections: 4, headerTimeout: '30s' } }",
    );
    let server = project.start();
    let address = address(&server);
    // Four connections that send half a head hold every place.
    let holders: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut socket = TcpStream::connect(&address).expect("connect");
            socket.write_all(b"GET /hello HTTP/1.1\r\n").expect("write");
            socket
        })
        .collect();
    let mut waiting = TcpStream::connect(&address).expect("the kernel queues it");
    waiting
        .write_all(
            format!("GET /hello HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
    waiting
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    let mut answer = [0u8; 12];
    let early = waiting.read(&mut answer);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a connection beyond the cap was served at once: {early:?}"
    );
    drop(holders);
    waiting
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    waiting
        .read_exact(&mut answer)
        .expect("answer once places are free");
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert_eq!(server.get("/hello").status, 200);
}
