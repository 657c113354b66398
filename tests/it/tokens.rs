//! Scoped tokens: each `/_flux/` route against a token of each scope (from the server's own
//! table), revocation and rotation, the CLI, the dashboard's session, and hostile
//! credentials.

use flux::server::ROUTES;
use flux::token::Scope;
use serde_json::{json, Value};

use crate::support::{wait_for, Project, Reply, Server, DEADLINE};

const ADMIN: &str = "s3cret";

fn project() -> Project {
    Project::with_files(&[
        ("functions/hello.ts", "export default () => 'hi'"),
        (
            "functions/work.ts",
            "export default async function handler(job: FluxJob, ctx: FluxContext) {}\n",
        ),
    ])
}

fn start(project: &Project) -> Server {
    Server::start(project, &["--host", "0.0.0.0", "--token", ADMIN])
}

/// A request with `Authorization: Bearer <token>`, and a JSON body for a POST.
fn call(server: &Server, method: &str, path: &str, token: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = server
        .request(method.clone(), path)
        .header("authorization", format!("Bearer {token}"));
    if method == reqwest::Method::POST {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    server.send(request)
}

/// `POST /_flux/api/tokens` with the admin token: the new token's text and id.
fn create(server: &Server, scope: &str, name: &str) -> (String, String) {
    let reply = server.send(
        server
            .request(reqwest::Method::POST, "/_flux/api/tokens")
            .header("authorization", format!("Bearer {ADMIN}"))
            .json(&json!({ "scope": scope, "name": name })),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let body = reply.json();
    (
        body["token"].as_str().expect("token").to_string(),
        body["id"].as_str().expect("id").to_string(),
    )
}

/// A route's path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{prefix}", "ffff")
        .replace("{table}", "users")
        .replace("{id}", "1")
        .replace("{file}", "app.js")
        .replace("{*file}", "hello.ts")
        .replace("{*rest}", "nothing-here")
}

#[test]
fn every_route_answers_each_scope_as_the_servers_table_says() {
    let project = project();
    let server = start(&project);
    let mut callers: Vec<(Scope, String)> = Scope::ALL
        .iter()
        .map(|scope| (*scope, create(&server, scope.as_str(), "table").0))
        .collect();
    callers.push((Scope::Admin, ADMIN.to_string()));
    for route in ROUTES {
        let method = if route.method == "*" {
            "GET"
        } else {
            route.method
        };
        let path = concrete(route.path);
        for (scope, token) in &callers {
            let reply = call(&server, method, &path, token);
            let what = format!(
                "{method} {path} as {scope}: {} {}",
                reply.status, reply.body
            );
            match route.scope {
                Some(needed) if !scope.allows(needed) => {
                    assert_eq!(reply.status, 403, "{what}");
                    assert!(reply.body.contains(&format!("'{needed}'")), "{what}");
                }
                _ => assert!(![401, 403].contains(&reply.status), "{what}"),
            }
        }
        if route.scope.is_some() {
            let anonymous = server.send(server.request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                &path,
            ));
            assert_eq!(anonymous.status, 401, "{method} {path} without a token");
        }
    }
}

#[test]
fn revocation_is_immediate_and_a_rotation_keeps_the_old_token_for_its_grace() {
    let project = project();
    let server = start(&project);
    let flux = |args: &[&str]| project.run_with_env(args, &[("FLUX_TOKEN", ADMIN)]);
    let (code, old, stderr) = flux(&["token", "create", "--scope", "operate", "--name", "ci"]);
    assert_eq!(code, 0, "{stderr}");
    let old = old.trim().to_string();
    assert!(old.starts_with("flux_operate_"), "{old}");
    assert!(stderr.contains("shown this once"), "{stderr}");
    assert_eq!(
        call(&server, "POST", "/_flux/api/queue/pause", &old).status,
        200
    );

    let (_, listed, _) = flux(&["token", "list", "--json"]);
    let id = serde_json::from_str::<Value>(&listed).expect("json")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (code, new, stderr) = flux(&["token", "rotate", &id[..8], "--grace", "1h"]);
    assert_eq!(code, 0, "{stderr}");
    let new = new.trim().to_string();
    assert!(new.starts_with("flux_operate_") && new != old, "{new}");
    assert!(stderr.contains("keeps working until"), "{stderr}");
    for token in [&old, &new] {
        assert_eq!(
            call(&server, "POST", "/_flux/api/queue/resume", token).status,
            200
        );
    }

    let (code, said, stderr) = flux(&["token", "revoke", &id[..8]]);
    assert_eq!(code, 0, "{stderr}");
    assert!(said.contains("Revoked token"), "{said}");
    // No wait: this server revoked it, so its cache forgot it at once.
    let refused = call(&server, "GET", "/_flux/api/records", &old);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("revoked"), "{}", refused.body);
    assert_eq!(call(&server, "GET", "/_flux/api/records", &new).status, 200);

    // The list names both, with the new one's use noted, and never a secret.
    let (code, table, _) = flux(&["token", "list"]);
    assert_eq!(code, 0);
    assert!(!table.contains("flux_operate_"), "{table}");
    assert!(
        table.contains(&id[..8]) && table.contains("operate"),
        "{table}"
    );
    wait_for("the new token's use to be noted", DEADLINE, || {
        let (_, listed, _) = flux(&["token", "list", "--json"]);
        let tokens: Vec<Value> = serde_json::from_str(&listed).ok()?;
        let used = tokens.iter().find(|t| t["id"] != id.as_str())?;
        (!used["last_used_at_us"].is_null()).then_some(())
    });

    // With the server stopped, the list reads the store, which holds no token text; changes
    // need a server.
    drop(server);
    let store = std::fs::read(project.path().join(".flux/flux.db")).expect("store");
    let wal = std::fs::read(project.path().join(".flux/flux.db-wal")).unwrap_or_default();
    for token in [&old, &new] {
        let needle = token.as_bytes();
        for bytes in [&store, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{token} stored"
            );
        }
    }
    let (code, table, _) = flux(&["token", "list"]);
    assert_eq!(code, 0);
    assert!(table.contains(&id[..8]), "{table}");
    let (code, _, stderr) = flux(&["token", "create", "--scope", "read"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("only a running server does"), "{stderr}");
}

#[test]
fn a_read_token_can_neither_write_nor_manage_tokens() {
    let project = project();
    let server = start(&project);
    let (read, _) = create(&server, "read", "viewer");
    assert_eq!(
        call(&server, "GET", "/_flux/api/queue/stats", &read).status,
        200
    );
    let denied = call(&server, "POST", "/_flux/api/tokens", &read);
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.body.contains("'admin'"), "{}", denied.body);
    let (code, stdout, stderr) = project.run_with_env(
        &["token", "create", "--scope", "admin"],
        &[("FLUX_TOKEN", &read)],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("scope 'admin'"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let enqueue = server.send(
        server
            .request(reqwest::Method::POST, "/_flux/api/jobs")
            .header("authorization", format!("Bearer {read}"))
            .json(&json!({ "name": "work" })),
    );
    assert_eq!(enqueue.status, 403, "{}", enqueue.body);
    assert!(enqueue.body.contains("'operate'"), "{}", enqueue.body);
    let health = call(&server, "GET", "/_flux/api/health", &read).json();
    assert_eq!(health["scope"], "read");
}

#[test]
fn hostile_credentials_are_refused_with_401_and_the_server_goes_on() {
    let project = project();
    let server = start(&project);
    let (read, _) = create(&server, "read", "real");
    // The right prefix and length, the wrong secret.
    let forged = format!("flux_admin_{}", "A".repeat(43));
    let swapped = read.replacen("flux_read_", "flux_admin_", 1);
    let long = format!("flux_read_{}", "x".repeat(16 * 1024));
    for token in [
        "wrong",
        "",
        " ",
        forged.as_str(),
        swapped.as_str(),
        &read[..read.len() - 1],
        long.as_str(),
        "flux_read_",
        "flux__",
    ] {
        let reply = call(&server, "GET", "/_flux/api/records", token);
        assert_eq!(reply.status, 401, "{token:.40}: {}", reply.body);
        let reply = server.send(
            server
                .request(reqwest::Method::GET, "/_flux/api/records")
                .header("x-flux-token", token),
        );
        assert_eq!(reply.status, 401, "x-flux-token {token:.40}");
    }
    let odd = server.send(
        server
            .request(reqwest::Method::GET, "/_flux/api/records")
            .header("authorization", b"Bearer \xff\xfe".as_slice()),
    );
    assert_eq!(odd.status, 401, "{}", odd.body);
    assert_eq!(
        call(&server, "GET", "/_flux/api/records", &read).status,
        200
    );
    assert_eq!(server.get("/hello").status, 200);
}

#[test]
fn on_loopback_without_a_token_a_token_sent_anyway_is_harmless() {
    let project = project();
    let server = project.start();
    for token in ["wrong", "flux_read_AAAA", ""] {
        let reply = call(&server, "POST", "/_flux/api/queue/pause", token);
        assert_eq!(reply.status, 200, "{token}: {}", reply.body);
    }
    let health = call(&server, "GET", "/_flux/api/health", "wrong").json();
    assert_eq!(health["scope"], "admin");
}

#[test]
fn the_dashboard_takes_a_scoped_token_and_its_session_has_that_scope() {
    let project = project();
    let server = start(&project);
    let (read, id) = create(&server, "read", "viewer");
    let login = |token: &str| crate::dashboard_ui::form_login(&server, token);
    let ok = login(&read);
    assert_eq!(ok.status(), 303);
    let cookie = crate::dashboard_ui::session_cookie(&ok)
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    assert!(
        !cookie.contains(&read),
        "the cookie is derived, not the token"
    );
    let with_session = |method: reqwest::Method, path: &str| {
        server.send(
            server
                .request(method, path)
                .header("cookie", &cookie)
                .header("sec-fetch-site", "same-origin"),
        )
    };
    let page = with_session(reqwest::Method::GET, "/_flux/");
    assert!(
        !page.body.contains("/_flux/login"),
        "the dashboard, not the form"
    );
    assert_eq!(
        with_session(reqwest::Method::GET, "/_flux/api/records").status,
        200
    );
    let pause = with_session(reqwest::Method::POST, "/_flux/api/queue/pause");
    assert_eq!(pause.status, 403, "{}", pause.body);
    assert!(pause.body.contains("'operate'"), "{}", pause.body);

    // Revoked: the session goes with the token, and the form refuses it.
    let revoked = call(
        &server,
        "POST",
        &format!("/_flux/api/tokens/{id}/revoke"),
        ADMIN,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(
        with_session(reqwest::Method::GET, "/_flux/api/records").status,
        401
    );
    assert_eq!(login(&read).status(), 401);
}

#[test]
fn a_read_only_session_sees_the_queue_without_its_actions() {
    let project = project();
    let server = start(&project);
    let (read, _) = create(&server, "read", "viewer");
    let mut browser = crate::browser::Browser::start();
    crate::dashboard_ui::log_in(&mut browser, &server, &read);
    browser.wait_until(
        "the dashboard, with the session's scope",
        "document.getElementById('scope')?.textContent === 'token scope: read'",
    );
    browser.goto(&format!("{}/_flux/#/queue", server.url));
    browser.wait_until(
        "the queue page's workers and the enqueue form",
        "!!document.getElementById('pause') && !!document.getElementById('enqueue-form')",
    );
    let hidden = browser.eval(
        "['pause', 'enqueue-form', 'replay-selected'].map((id) => \
         getComputedStyle(document.getElementById(id)).display === 'none' \
         || getComputedStyle(document.getElementById(id).parentElement).display === 'none')",
    );
    assert_eq!(hidden, json!([true, true, true]));
    // What the page cannot hide, the API refuses, saying which scope it needs.
    let refusal = browser.wait_until(
        "the API's refusal",
        "window.refusal || (fetch('/_flux/api/queue/pause', { method: 'POST' }) \
         .then((r) => r.json()).then((b) => { window.refusal = b.error; }), false)",
    );
    assert!(
        refusal.as_str().is_some_and(|r| r.contains("'operate'")),
        "{refusal}"
    );
}

#[test]
fn a_revocation_written_by_another_process_is_seen_within_the_cache_ttl() {
    let project = project();
    let server = start(&project);
    let (read, id) = create(&server, "read", "elsewhere");
    // Used once: the server has it cached now.
    assert_eq!(
        call(&server, "GET", "/_flux/api/records", &read).status,
        200
    );
    // This test process stands for another flux process sharing the store.
    let store = flux::store::Store::open_existing(&project.path().join(".flux/flux.db"))
        .expect("open the store");
    let revoked_at = std::time::Instant::now();
    store
        .connect()
        .expect("connect")
        .execute(
            "UPDATE _flux_tokens SET revoked_at_us = 1 WHERE id = ?1",
            [&id],
        )
        .expect("revoke from outside");
    wait_for("the revocation to be seen", DEADLINE, || {
        (call(&server, "GET", "/_flux/api/records", &read).status == 401).then_some(())
    });
    let seen_after = revoked_at.elapsed();
    let bound = flux::server::TOKEN_CACHE_TTL + std::time::Duration::from_secs(2);
    assert!(
        seen_after <= bound,
        "seen after {seen_after:?}, more than {bound:?}"
    );
}

#[test]
fn tab_offers_the_ids_of_live_tokens_with_their_name_and_scope() {
    use crate::conventions::{candidates, complete};
    let project = project();
    let server = start(&project);
    let (_, live) = create(&server, "operate", "ci");
    let (_, gone) = create(&server, "read", "old");
    let revoked = call(
        &server,
        "POST",
        &format!("/_flux/api/tokens/{gone}/revoke"),
        ADMIN,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let dir = project.path();
    for command in ["revoke", "rotate"] {
        let offered = candidates(&complete(dir, "bash", &["flux", "token", command, ""]));
        assert_eq!(offered, [live[..8].to_string()], "{command}");
    }
    let zsh = complete(dir, "zsh", &["flux", "token", "revoke", ""]);
    assert_eq!(
        zsh.lines().next(),
        Some(format!("{}:ci (operate)", &live[..8]).as_str())
    );
}

#[test]
fn a_read_token_is_enough_for_tail_trace_why_and_queue_stats() {
    let project = Project::with_files(&[(
        "functions/boom.ts",
        "export default () => { throw new Error('boom') }",
    )]);
    let server = start(&project);
    let (read, _) = create(&server, "read", "oncall");
    let failed = server
        .send(
            server
                .request(reqwest::Method::GET, "/boom")
                .header("authorization", "Bearer ignored-by-functions"),
        )
        .request_id();
    let env = [("FLUX_TOKEN", read.as_str())];
    wait_for("the failed run in the tail", DEADLINE, || {
        let (code, out, _) = project.run_with_env(&["tail", "--last", "1h", "--no-follow"], &env);
        (code == 0 && out.contains(&failed[..8])).then_some(())
    });
    for args in [
        vec!["trace", &failed[..8]],
        vec!["why", &failed[..8]],
        vec!["queue", "stats"],
    ] {
        let (code, _, stderr) = project.run_with_env(&args, &env);
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let (code, _, stderr) = project.run_with_env(&["queue", "pause"], &env);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("scope 'operate'"), "{stderr}");
}
