//! The dashboard at `/_flux/`, in a real headless Chromium (tests/it/browser.rs) against a
//! real `flux dev`: the live runs list, a run's waterfall, filters, replaying a dead letter,
//! the token form beyond loopback, and pages of other origins kept out.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::support::{wait_for, Project, Reply, Server, DEADLINE};

/// A worker that fails unless its data says `ok`, dead after one attempt.
pub(crate) fn failing_worker_project() -> Project {
    let project = Project::example();
    project.write(
        "functions/charge.ts",
        "export default async function handler(job: FluxJob<{ ok?: boolean }>, ctx: FluxContext) {\n\
         \x20 console.log('charging', JSON.stringify(job.data))\n\
         \x20 if (!job.data.ok) throw new Error('card declined')\n\
         }\n",
    );
    project.write(
        "flux.config.ts",
        "export default { workers: { charge: { maxAttempts: 1 }, send_welcome_email: { maxAttempts: 1 } } }\n",
    );
    project
}

/// Waits for the dashboard's runs page to show its table with the live feed connected.
fn open_runs(browser: &mut Browser, server: &Server, query: &str) {
    browser.goto(&format!("{}/_flux/#/runs{query}", server.url));
    browser.wait_until(
        "the runs list, live",
        "!!document.querySelector('#runs') && document.querySelector('#live').classList.contains('on')",
    );
}

fn row_selector(id: &str) -> String {
    format!("#runs tr[data-id=\"{id}\"]")
}

#[test]
fn the_data_page_shows_a_tables_history_and_a_rows_blame() {
    let project = Project::example();
    let server = project.start();
    let reply = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada","id":"u_ada"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let created = reply.request_id();
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/data/users", server.url));
    browser.wait_until(
        "the insert in the table's timeline, with what it wrote and the run that wrote it",
        &format!(
            "[...document.querySelectorAll('#timeline li[data-op=insert]')].some((li) => \
             li.innerText.includes('u_ada') && li.innerText.includes('ada@example.com') \
             && li.innerText.includes('create_user') && li.innerText.includes('{}'))",
            &created[..8]
        ),
    );
    // One row: its blame names the run that set each column.
    browser.goto(&format!("{}/_flux/#/data/users?id=u_ada", server.url));
    browser.wait_until(
        "the row's blame",
        &format!(
            "[...document.querySelectorAll('#blame tbody tr')].some((tr) => \
             tr.innerText.includes('email') && tr.innerText.includes('ada@example.com') \
             && tr.innerText.includes('{}'))",
            &created[..8]
        ),
    );
}

#[test]
fn a_new_run_appears_live_and_opens_as_a_waterfall() {
    let project = Project::example();
    let server = project.start();
    let mut browser = Browser::start();
    open_runs(&mut browser, &server, "");

    let reply = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.request_id();
    let row = row_selector(&id);
    browser.wait_until(
        "the new run in the list, without a reload",
        &format!("document.querySelector('{row}')?.innerText.includes('POST /create_user → 201')"),
    );
    // Ids as in the CLI: 8 hex shown, the full id on hover.
    let link = browser.eval(&format!(
        "(() => {{ const a = document.querySelector('{row} .id a'); return [a.textContent, a.title]; }})()"
    ));
    assert_eq!(link, json!([&id[..8], id]));

    browser.click(&format!("{row} .id a"));
    browser.wait_until(
        "the run's waterfall",
        "document.querySelector('#waterfall')?.innerText.includes('db.insert(users)')",
    );
    let page = browser.eval("document.querySelector('main').innerText");
    let page = page.as_str().unwrap_or_default();
    for expected in [
        "create_user.ts:3",                  // the insert's call site
        "queue.enqueue(send_welcome_email)", // the enqueue span
        "$1 = 'ada@example.com'",            // SQL with its parameters
        "Data changes",
        "'Ada'", // the row's after image
    ] {
        assert!(page.contains(expected), "no {expected:?} in:\n{page}");
    }
    // The enqueued job is a link to its run.
    let enqueued = browser.eval("document.querySelector('.links .pill a')?.getAttribute('href')");
    assert!(
        enqueued.as_str().is_some_and(|h| h.starts_with("#/run/")),
        "{enqueued}"
    );
    // Every bar is placed on the time axis (through the CSSOM: the CSP allows no inline style).
    let placed = browser.eval(
        "[...document.querySelectorAll('.span-bar')].every(b => b.style.width.endsWith('%') && b.offsetWidth > 0)",
    );
    assert_eq!(placed, json!(true));

    // The welcome email the job sent, in a sandboxed frame the page cannot reach into.
    wait_for("the welcome email", DEADLINE, || {
        server.get("/_flux/api/emails").json()["emails"][0]["id"].as_i64()
    });
    browser.goto(&format!("{}/_flux/#/emails", server.url));
    let frame = browser.wait_until(
        "the email's frame",
        "(() => { const f = document.querySelector('iframe.email-frame');          return f && f.hasAttribute('sandbox') && f.getAttribute('sandbox') === '' && f.getAttribute('src'); })()",
    );
    assert!(
        frame
            .as_str()
            .is_some_and(|src| src.starts_with("/_flux/email/")),
        "{frame}"
    );
    browser.wait_until(
        "the frame to load, as another origin",
        "(() => { const f = document.querySelector('iframe.email-frame');          try { return f.contentWindow.length === 0 && f.contentDocument === null; } catch (e) { return true; } })()",
    );
}

#[test]
fn filtering_to_errors_leaves_only_failed_runs() {
    let project = failing_worker_project();
    let server = project.start();
    server.enqueue(&json!({ "name": "charge", "data": { "amount": 3 } }));
    let ok = server.post_json("/create_user", r#"{"email":"b@example.com"}"#);
    assert_eq!(ok.status, 201);
    wait_for("the failed attempt's record", DEADLINE, || {
        let reply = server.get("/_flux/api/records?status=error");
        (reply.json()["records"].as_array()?.len() == 1).then_some(())
    });

    let mut browser = Browser::start();
    open_runs(&mut browser, &server, "");
    browser.wait_until(
        "both runs listed",
        &format!(
            "!!document.querySelector('{}') && document.querySelectorAll('#runs tr[data-status=error]').length === 1",
            row_selector(&ok.request_id())
        ),
    );
    browser.eval(
        "(() => { const s = document.querySelector('#run-filters [name=status]'); s.value = 'error'; \
         s.dispatchEvent(new Event('input', { bubbles: true })); })()",
    );
    browser.wait_until(
        "only the failed run",
        "location.hash.includes('status=error') && document.querySelectorAll('#runs tbody tr').length === 1 \
         && document.querySelector('#runs tbody tr').dataset.status === 'error'",
    );
    let text = browser.eval("document.querySelector('#runs tbody').innerText");
    assert!(
        text.as_str().is_some_and(|t| t.contains("card declined")),
        "{text}"
    );
    // The failed run shows its error with the lines around it in the function's source.
    browser.click("#runs tbody tr .id a");
    browser.wait_until(
        "the error's source line",
        "document.querySelector('#error .source .current')?.textContent.includes(\"throw new Error('card declined')\")",
    );
    // The filter is in the address: opening it again shows the same runs.
    open_runs(&mut browser, &server, "?status=error");
    browser.wait_until(
        "the failed run, from the address's filter",
        "document.querySelectorAll('#runs tbody tr').length === 1 && document.querySelector('#runs tbody tr').innerText.includes('charge')",
    );
}

#[test]
fn a_custom_time_range_is_filtered_by_the_server() {
    let project = Project::example();
    let server = project.start();
    let reply = server.post_json("/create_user", r#"{"email":"range@example.com"}"#);
    assert_eq!(reply.status, 201);
    let id = reply.request_id();
    server.record(&id);
    let mut browser = Browser::start();
    open_runs(&mut browser, &server, "");
    browser.wait_until(
        "the run in the list",
        &format!("!!document.querySelector('{}')", row_selector(&id)),
    );
    // The inputs take local times, as a person types them.
    let set_range = |browser: &mut Browser, from_ms: i64, to_ms: i64| {
        browser.eval(&format!(
            "(() => {{ const local = (ms) => {{ const d = new Date(Date.now() + ms); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 19); }}; \
               const form = document.querySelector('#run-filters'); \
               form.elements.range.value = 'custom'; \
               form.elements.from.value = local({from_ms}); form.elements.to.value = local({to_ms}); \
               form.dispatchEvent(new Event('input')); }})()"
        ));
    };
    // A range that ended a minute ago: the run is not in it.
    set_range(&mut browser, -86_400_000, -60_000);
    browser.wait_until(
        "no run in a range that ended before it",
        "document.querySelectorAll('#runs tbody tr').length === 0 \
         && document.querySelector('.note').textContent.startsWith('No runs match') \
         && !document.querySelector('.custom-range').hidden",
    );
    // One that reaches an hour ahead has it again, and the range is kept in the address.
    set_range(&mut browser, -86_400_000, 3_600_000);
    browser.wait_until(
        "the run in a range around it",
        &format!("!!document.querySelector('{}')", row_selector(&id)),
    );
    let hash = browser.eval("location.hash");
    assert!(
        hash.as_str()
            .is_some_and(|h| h.contains("range=custom") && h.contains("to=")),
        "{hash}"
    );
}

#[test]
fn a_replayed_dead_letter_shows_its_new_attempt() {
    let project = failing_worker_project();
    let server = project.start();
    let job_id = server
        .enqueue(&json!({ "name": "charge", "data": { "amount": 5 } }))
        .job_id();
    server.wait_dead(&job_id);

    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/queue", server.url));
    let row = format!("#dead-letter tr[data-job=\"{job_id}\"]");
    browser.wait_until(
        "the dead letter with its error",
        &format!("document.querySelector('{row}')?.innerText.includes('card declined')"),
    );
    browser.click(&format!("{row} button.replay"));
    let new_attempt = browser.wait_until(
        "the replay's confirmation",
        "document.querySelector('#queue-message')?.innerText.startsWith('Replayed 1 job') \
         && document.querySelector('#queue-message .id a')?.title",
    );
    let new_attempt = new_attempt
        .as_str()
        .expect("the new attempt's id")
        .to_string();

    // The new attempt shows up in the runs list, and on the job's page among its attempts.
    open_runs(&mut browser, &server, "?fn=charge");
    browser.wait_until(
        "the new attempt in the runs list",
        &format!("!!document.querySelector('{}')", row_selector(&new_attempt)),
    );
    browser.goto(&format!("{}/_flux/#/run/{new_attempt}", server.url));
    browser.wait_until(
        "both attempts on the run's page",
        "document.querySelectorAll('.links ol.attempts > li').length === 2",
    );
}

/// Logs in through the token form, as a person would.
pub fn log_in(browser: &mut Browser, server: &Server, token: &str) {
    browser.goto(&format!("{}/_flux/", server.url));
    browser.wait_until(
        "the token form",
        "!!document.querySelector('form[action=\"/_flux/login\"]')",
    );
    browser.eval(&format!(
        "(() => {{ document.querySelector('input[name=token]').value = {}; \
         document.querySelector('form').submit(); }})()",
        json!(token)
    ));
}

#[test]
fn beyond_loopback_the_token_form_sets_an_httponly_cookie_and_the_api_answers() {
    let project = Project::example();
    let server = Server::start(&project, &["--token", "s3cret"]);
    let mut browser = Browser::start();

    log_in(&mut browser, &server, "wrong");
    browser.wait_until(
        "the form again, saying the token is wrong",
        "document.body.innerText.includes(\"That is not this server's token\")",
    );
    log_in(&mut browser, &server, "s3cret");
    browser.wait_until("the runs list", "!!document.querySelector('#runs')");

    let cookies = browser.call(
        "Network.getCookies",
        json!({ "urls": [format!("{}/_flux/", server.url)] }),
    );
    let session = cookies["cookies"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == "flux_session"))
        .unwrap_or_else(|| panic!("no session cookie in {cookies}"))
        .clone();
    assert_eq!(session["httpOnly"], json!(true), "{session}");
    assert_eq!(session["sameSite"], json!("Strict"), "{session}");
    assert_eq!(session["path"], json!("/_flux"), "{session}");
    assert_ne!(
        session["value"],
        json!("s3cret"),
        "the cookie is not the token"
    );
    // Scripts cannot read it; the dashboard's own requests carry it.
    assert_eq!(
        browser.eval("document.cookie.includes('flux_session')"),
        json!(false)
    );
    assert_eq!(
        browser.eval("fetch('/_flux/api/queue/stats').then(r => r.status)"),
        json!(200)
    );
    // The live list's websocket is let in by the cookie too.
    browser.wait_until(
        "the live feed",
        "document.querySelector('#live').classList.contains('on')",
    );
    let created = server.post_json("/create_user", r#"{"email":"f@example.com"}"#);
    browser.wait_until(
        "the new run, live",
        &format!(
            "!!document.querySelector('{}')",
            row_selector(&created.request_id())
        ),
    );
    // Without the cookie (the CLI, a script) the token is still needed.
    assert_eq!(server.get("/_flux/api/queue/stats").status, 401);
}

/// Another origin on this machine (as a front-end dev server on another port would be): every
/// request gets the same small page.
fn other_origin() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let page = "<!doctype html><title>another site</title><p>hello";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    url
}

/// What a page at another origin gets from flux's API: whether it could read the records,
/// after trying to pause the queue with a request it cannot read the answer of.
fn attack_from(browser: &mut Browser, flux: &str) -> Value {
    browser.eval(&format!(
        "(async () => {{
            let read;
            try {{
                const r = await fetch('{flux}/_flux/api/records', {{ credentials: 'include' }});
                read = 'read ' + r.status;
            }} catch (e) {{ read = 'blocked'; }}
            await fetch('{flux}/_flux/api/queue/pause', {{ method: 'POST', mode: 'no-cors', credentials: 'include' }}).catch(() => {{}});
            return read;
        }})()"
    ))
}

fn paused(reply: Reply) -> bool {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["paused"] == json!(true)
}

#[test]
fn a_page_from_another_origin_cannot_use_the_api_with_or_without_the_cookie() {
    let open = Project::example();
    let open_server = open.start();
    let guarded = Project::example();
    let guarded_server = Server::start(&guarded, &["--token", "s3cret"]);
    let mut browser = Browser::start();
    // The browser holds the guarded server's session cookie, which a same-site page would
    // send along (SameSite does not look at ports).
    log_in(&mut browser, &guarded_server, "s3cret");
    browser.wait_until("the runs list", "!!document.querySelector('#runs')");

    browser.goto(&other_origin());
    for server in [&open_server, &guarded_server] {
        assert_eq!(attack_from(&mut browser, &server.url), json!("blocked"));
    }
    // The pause (a request the page could send, not read) was refused: both queues run.
    assert!(!paused(open_server.get("/_flux/api/queue/stats")));
    let stats = guarded_server.send(
        guarded_server
            .request(reqwest::Method::GET, "/_flux/api/queue/stats")
            .bearer_auth("s3cret"),
    );
    assert!(!paused(stats));

    // The same requests from the dashboard's own origin read the records and pause the queue.
    browser.goto(&format!("{}/_flux/", guarded_server.url));
    browser.wait_until("the runs list", "!!document.querySelector('#runs')");
    assert_eq!(
        attack_from(&mut browser, &guarded_server.url),
        json!("read 200")
    );
    let stats = guarded_server.send(
        guarded_server
            .request(reqwest::Method::GET, "/_flux/api/queue/stats")
            .bearer_auth("s3cret"),
    );
    assert!(paused(stats));
}

#[test]
fn the_live_list_resumes_after_flux_dev_restarts() {
    let project = Project::example();
    let first = project.start();
    let port = first.url.rsplit(':').next().expect("a port").to_string();
    let mut browser = Browser::start();
    open_runs(&mut browser, &first, "");
    let before = first.post_json("/create_user", r#"{"email":"d@example.com"}"#);
    browser.wait_until(
        "the first run",
        &format!(
            "!!document.querySelector('{}')",
            row_selector(&before.request_id())
        ),
    );
    first.stop();
    browser.wait_until(
        "the page to notice the server is gone",
        "document.querySelector('#live').classList.contains('off')",
    );
    let second = Server::start(&project, &["--port", &port]);
    let after = second.post_json("/create_user", r#"{"email":"e@example.com"}"#);
    assert_eq!(after.status, 201, "{}", after.body);
    browser.wait_until(
        "the run made after the restart, without a reload",
        &format!(
            "!!document.querySelector('{}')",
            row_selector(&after.request_id())
        ),
    );
}

/// The page and its files as plain HTTP answers: types, the CSP, ETags, the email's sandbox.
#[test]
fn the_dashboards_files_carry_their_type_csp_and_etag() {
    let project = Project::example();
    let server = project.start();
    let page = server.get("/_flux/");
    assert_eq!(page.status, 200);
    let header = |reply: &Reply, name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header(&page, "content-type").starts_with("text/html"));
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page.body.contains("/_flux/assets/app.js"));

    let script = server.get("/_flux/assets/app.js");
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    let etag = header(&script, "etag");
    assert!(!etag.is_empty());
    let again = server.send(
        server
            .request(reqwest::Method::GET, "/_flux/assets/app.js")
            .header("if-none-match", &etag),
    );
    assert_eq!(again.status, 304);
    assert_eq!(server.get("/_flux/assets/nope.js").status, 404);

    // A function's source, for the lines around an error; nothing outside functions/.
    let source = server.get("/_flux/source/create_user.ts");
    assert_eq!(source.status, 200);
    assert!(source.body.contains("ctx.db.insert"), "{}", source.body);
    for outside in [
        "/_flux/source/%2E%2E/flux.config.ts",
        "/_flux/source/..%2F..%2Fetc%2Fpasswd",
        "/_flux/source/%2Fetc%2Fpasswd",
        "/_flux/source/create_user.ts.map",
    ] {
        assert_eq!(server.get(outside).status, 404, "{outside}");
    }

    // An email's HTML is its own sandboxed document: no script runs in it.
    let created = server.post_json("/create_user", r#"{"email":"c@example.com","name":"C"}"#);
    assert_eq!(created.status, 201);
    let id = wait_for("the welcome email", DEADLINE, || {
        server.get("/_flux/api/emails").json()["emails"][0]["id"].as_i64()
    });
    let email = server.get(&format!("/_flux/email/{id}"));
    assert_eq!(email.status, 200);
    assert!(email.body.contains("Welcome"), "{}", email.body);
    assert!(header(&email, "content-security-policy").starts_with("sandbox"));
}

/// Posts the token form as a browser would, without following its redirect.
pub fn form_login(server: &Server, token: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DEADLINE)
        .build()
        .expect("client")
        .post(format!("{}/_flux/login", server.url))
        .form(&[("token", token)])
        .send()
        .expect("login")
}

/// The `Set-Cookie` header of a login's answer, attributes and all.
pub fn session_cookie(login: &reqwest::blocking::Response) -> String {
    login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string()
}

#[test]
fn the_login_answers_with_a_session_cookie_only_for_the_right_token() {
    let project = Project::example();
    let server = Server::start(&project, &["--token", "s3cret"]);
    let form = server.get("/_flux/");
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("action=\"/_flux/login\""),
        "{}",
        form.body
    );
    assert_eq!(server.get("/_flux/api/records").status, 401);

    assert_eq!(form_login(&server, "nope").status(), 401);
    let ok = form_login(&server, "s3cret");
    assert_eq!(ok.status(), 303);
    let cookie = session_cookie(&ok);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/_flux"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let with_cookie = |site: Option<&str>| {
        let mut request = server
            .request(reqwest::Method::GET, "/_flux/api/records")
            .header("cookie", &pair);
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        server.send(request).status
    };
    assert_eq!(with_cookie(Some("same-origin")), 200);
    assert_ne!(with_cookie(Some("same-site")), 200);
}

#[test]
fn a_burst_of_runs_keeps_the_list_bounded_current_and_usable() {
    let project = Project::with_files(&[(
        "functions/noop.ts",
        "export default async function handler(job: FluxJob, ctx: FluxContext) {}\n",
    )]);
    let server = project.start();
    let mut browser = Browser::start();
    open_runs(&mut browser, &server, "");
    let jobs: Vec<Value> = (0..3000)
        .map(|i| json!({ "name": "noop", "data": { "i": i } }))
        .collect();
    server.enqueue(&Value::Array(jobs));
    wait_for(
        "the 3,000 jobs to run",
        crate::support::BULK_DEADLINE,
        || {
            let stats = server.get("/_flux/api/queue/stats").json();
            (stats["stats"][0]["done"] == json!(3000)).then_some(())
        },
    );
    // However slowly the page drew the burst, it ends up holding its bound of rows, the
    // newest runs among them.
    let newest: Vec<Value> = server.get("/_flux/api/records?limit=20").json()["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    browser.wait_until(
        "the newest runs in a list of 300 rows",
        &format!(
            "(() => {{ const rows = [...document.querySelectorAll('#runs tbody tr')].map((tr) => tr.dataset.id); \
               return rows.length === 300 && {}.every((id) => rows.includes(id)); }})()",
            Value::Array(newest.clone())
        ),
    );
    // And it still answers: a click on the newest run opens it.
    let id = newest[0].as_str().expect("an id");
    browser.click(&row_selector(id));
    browser.wait_until(
        "the run's page",
        "document.querySelector('.run-header h1')?.innerText.includes('noop')",
    );
}
