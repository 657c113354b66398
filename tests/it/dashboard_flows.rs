//! The dashboard's flows on the API's newer endpoints (search, cancel, bulk replay, replay
//! with an edited payload, per-minute stats), in headless Chromium against a real `flux dev`.

use serde_json::json;

use crate::browser::Browser;
use crate::dashboard_ui::failing_worker_project;
use crate::support::{wait_for, Project, Server, DEADLINE};

/// `charge` fails unless its data say `ok`, dead after one attempt; `spin` waits forever.
fn project() -> Project {
    let project = failing_worker_project();
    project.write(
        "functions/spin.ts",
        "export default async function handler(job: FluxJob, ctx: FluxContext) {\n\
         \x20 for (;;) await new Promise((resolve) => setTimeout(resolve, 20))\n\
         }\n",
    );
    project.write(
        "flux.config.ts",
        "export default { workers: { charge: { maxAttempts: 1 }, spin: { maxAttempts: 1 } } }\n",
    );
    project
}

fn enqueue_charge(server: &Server, data: serde_json::Value) -> String {
    server
        .enqueue(&json!({ "name": "charge", "data": data }))
        .job_id()
}

/// A `charge` job that has failed into the dead-letter queue.
fn dead_charge(server: &Server, data: serde_json::Value) -> String {
    let job = enqueue_charge(server, data);
    server.wait_dead(&job);
    job
}

/// An HTTP request's run, beside the jobs' (the project's `/create_user`).
fn create_user(server: &Server, email: &str) {
    let body = json!({ "email": email }).to_string();
    assert_eq!(server.post_json("/create_user", &body).status, 201);
}

#[test]
fn a_text_search_finds_runs_by_their_input_in_the_list_and_live() {
    let project = project();
    let server = project.start();
    dead_charge(&server, json!({ "customer": "zed-1234" }));
    create_user(&server, "a@example.com");
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/runs?q=zed-1234", server.url));
    browser.wait_until(
        "the one run whose input has the text",
        "document.querySelectorAll('#runs tbody tr').length === 1 \
         && document.querySelector('#runs tbody tr').innerText.includes('charge') \
         && document.querySelector('#live').classList.contains('on')",
    );
    // Nothing said above the list: neither an error nor that nothing matched.
    let note = browser.eval("document.querySelector('.note').textContent");
    assert_eq!(note, json!(""));
    // A new matching run appears live; one that does not match stays out.
    let second = enqueue_charge(&server, json!({ "customer": "zed-1234", "ok": true }));
    create_user(&server, "b@example.com");
    let attempt = wait_for("the second charge's attempt", DEADLINE, || {
        let job = server.get(&format!("/_flux/api/jobs/{second}")).json();
        job["attempts"][0]["id"].as_str().map(String::from)
    });
    browser.wait_until(
        "the matching run, live",
        &format!("!!document.querySelector('#runs tr[data-id=\"{attempt}\"]')"),
    );
    let rows = browser.eval("document.querySelectorAll('#runs tbody tr').length");
    assert_eq!(rows, json!(2));
}

#[test]
fn a_search_of_two_characters_shows_the_runs_that_have_them() {
    let project = project();
    let server = project.start();
    dead_charge(&server, json!({ "customer": "zq" }));
    create_user(&server, "a@example.com");
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/runs?q=Zq", server.url));
    browser.wait_until(
        "the one run with the two characters, and no error",
        "document.querySelectorAll('#runs tbody tr').length === 1 \
         && document.querySelector('#runs tbody tr').innerText.includes('charge') \
         && document.querySelector('.note').textContent === ''",
    );
}

#[test]
fn a_dead_letter_replays_with_an_edited_payload_and_succeeds() {
    let project = project();
    let server = project.start();
    let job = dead_charge(&server, json!({ "amount": 5 }));
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/queue", server.url));
    browser.click(&format!("#dead-letter tr[data-job=\"{job}\"] button.edit"));
    browser.wait_until(
        "the payload in the editor",
        "document.querySelector('#replay-data')?.value.includes('\"amount\": 5')",
    );
    browser.eval(
        "document.querySelector('#replay-data').value = JSON.stringify({ amount: 5, ok: true })",
    );
    browser.click("#replay-edited");
    let attempt = browser.wait_until(
        "the replay's confirmation",
        "document.querySelector('#queue-message')?.innerText.startsWith('Replayed with the edited payload') \
         && document.querySelector('#queue-message .id a')?.title",
    );
    let attempt = attempt.as_str().expect("attempt id").to_string();
    browser.goto(&format!("{}/_flux/#/run/{attempt}", server.url));
    browser.wait_until(
        "the new attempt, ok, marked as an edited replay",
        "document.querySelector('.run-header .badge')?.textContent === 'ok' \
         && document.querySelector('.links')?.innerText.includes('edited payload')",
    );
}

#[test]
fn a_dead_attempt_is_replayed_from_its_run_page_as_it_was_and_edited() {
    let project = project();
    let server = project.start();
    let job = dead_charge(&server, json!({ "amount": 7 }));
    let dead = server.get(&format!("/_flux/api/jobs/{job}")).json()["attempts"][0]["id"]
        .as_str()
        .expect("the attempt's id")
        .to_string();
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/run/{dead}", server.url));
    browser.click("#run-replay");
    let replayed =
        "document.querySelector('#run-replay-message')?.innerText.startsWith('Replayed') \
         && document.querySelector('#run-replay-message .id a')?.title";
    let next = browser.wait_until("the replay's new attempt, linked", replayed);
    let next = next.as_str().expect("an id").to_string();
    assert_ne!(next, dead);
    // The link opens the new attempt, which says what it replays; it fails again.
    browser.click("#run-replay-message .id a");
    browser.wait_until(
        "the new attempt's page, a replay of the dead one",
        &format!(
            "location.hash === '#/run/{next}' \
             && document.querySelector('.links')?.innerText.includes('replay of the dead attempt') \
             && document.querySelector('.run-header .badge')?.textContent === 'error'"
        ),
    );
    wait_for("the job dead again", DEADLINE, || {
        let state = server.get(&format!("/_flux/api/jobs/{job}")).json()["job"]["state"].clone();
        (state == "dead").then_some(())
    });

    // From the new attempt's page, with an edited payload: that one succeeds.
    browser.goto(&format!("{}/_flux/#/runs", server.url));
    browser.goto(&format!("{}/_flux/#/run/{next}", server.url));
    browser.click("#run-replay-edit");
    browser.wait_until(
        "the payload in the editor",
        "document.querySelector('#replay-data')?.value.includes('\"amount\": 7')",
    );
    browser.eval(
        "document.querySelector('#replay-data').value = JSON.stringify({ amount: 7, ok: true })",
    );
    browser.click("#replay-edited");
    let third = browser.wait_until(
        "the edited replay's new attempt, linked",
        "document.querySelector('#run-replay-message')?.innerText.includes('edited payload') \
         && document.querySelector('#run-replay-message .id a')?.title",
    );
    let record = server.record(third.as_str().expect("an id"));
    assert_eq!(record["status"], "ok", "{record}");
    assert_eq!(record["links"]["edited_data"], true);
}

#[test]
fn selected_dead_letters_replay_together() {
    let project = project();
    let server = project.start();
    let jobs = [
        enqueue_charge(&server, json!({ "n": 1 })),
        enqueue_charge(&server, json!({ "n": 2 })),
    ];
    for job in &jobs {
        server.wait_dead(job);
    }
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/queue", server.url));
    for job in &jobs {
        browser.click(&format!(
            "#dead-letter tr[data-job=\"{job}\"] input[type=checkbox]"
        ));
    }
    browser.click("#replay-selected");
    browser.wait_until(
        "both replayed",
        "document.querySelector('#queue-message')?.innerText.startsWith('Replayed 2 jobs')",
    );
    for job in &jobs {
        wait_for("the replayed job's second attempt", DEADLINE, || {
            let detail = server.get(&format!("/_flux/api/jobs/{job}")).json();
            (detail["attempts"].as_array()?.len() == 2).then_some(())
        });
    }
}

#[test]
fn a_running_job_is_cancelled_from_the_queue_page() {
    let project = project();
    let server = project.start();
    let job = server
        .enqueue(&json!({ "name": "spin", "data": {} }))
        .job_id();
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/queue", server.url));
    browser.click(&format!("#running tr[data-job=\"{job}\"] button.danger"));
    browser.wait_until(
        "the cancellation's confirmation",
        "document.querySelector('#queue-message')?.innerText.includes('cancelled')",
    );
    wait_for("the attempt recorded as cancelled", DEADLINE, || {
        let detail = server.get(&format!("/_flux/api/jobs/{job}")).json();
        (detail["attempts"][0]["status"] == "cancelled").then_some(())
    });
}

#[test]
fn the_charts_draw_the_servers_minutes() {
    let project = project();
    let server = project.start();
    dead_charge(&server, json!({}));
    let mut browser = Browser::start();
    browser.goto(&format!("{}/_flux/#/charts", server.url));
    browser.wait_until(
        "a chart for charge with its failure",
        "document.querySelector('figure[data-fn=charge]')?.innerText.includes('1 failed') \
         && document.querySelectorAll('figure[data-fn=charge] rect.bar-failures').length === 1",
    );
}
