//! The dashboard's runs page on a big store and under a burst, in headless Chromium: how soon
//! the first page of runs is drawn with N records stored (default 100,000), then whether the
//! page stays responsive and keeps up while RATE runs a second (default 1,000) are committed
//! for DURATION seconds (default 10); and what using the dashboard adds to `flux dev`'s resident
//! memory. Benchmarks, not tests of behaviour: ignored, run by
//! bench/dashboard_browser.sh (against a release build, `FLUX_BIN`), which prints its
//! `RESULT …` lines.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::support::{wait_for, Project, Server, BULK_DEADLINE};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Installed before the page's own scripts on every navigation: when the first run row is in
/// the DOM (and the frame after, when it is painted), and every long task (> 50 ms). The page
/// is loaded (its modules too) at DOMContentLoaded, when it asks for the records.
const PROBES: &str = r#"
window.__bench = { rowsAt: null, paintedAt: null, longtasks: [] };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__bench.longtasks.push([e.startTime, e.duration]);
}).observe({ type: 'longtask', buffered: true });
const rows = new MutationObserver(() => {
  if (window.__bench.rowsAt === null && document.querySelector('#runs tbody tr')) {
    window.__bench.rowsAt = performance.now();
    requestAnimationFrame(() => { window.__bench.paintedAt = performance.now(); });
    rows.disconnect();
  }
});
rows.observe(document, { childList: true, subtree: true });
"#;

/// Jobs that log a line each, a tenth failing (as bench/dashboard_api.sh fills its store).
fn project() -> Project {
    Project::with_files(&[
        (
            "functions/work.ts",
            "export default (job: FluxJob<{ order: number, email: string }>) => {\n\
             \x20 console.log(`handling order ${job.data.order} for ${job.data.email}`)\n\
             \x20 if (job.data.order % 10 === 0) throw new Error(`card declined for order ${job.data.order}`)\n\
             }\n",
        ),
        (
            "flux.config.ts",
            "export default { workers: { work: { maxAttempts: 1 } } }\n",
        ),
    ])
}

fn jobs(from: u64, to: u64) -> Value {
    Value::Array(
        (from..to)
            .map(|i| json!({ "name": "work", "data": { "order": i, "email": format!("user{i}@example.com") } }))
            .collect(),
    )
}

/// How many `work` jobs have finished (done or dead).
fn finished(server: &Server) -> u64 {
    let stats = server.get("/_flux/api/queue/stats").json();
    let s = &stats["stats"][0];
    s["done"].as_u64().unwrap_or(0) + s["dead"].as_u64().unwrap_or(0)
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
#[ignore = "a benchmark: bench/dashboard_browser.sh"]
fn dashboard_runs_page_with_many_records_and_a_burst() {
    let n = setting("N", 100_000);
    let rate = setting("RATE", 1_000);
    let seconds = setting("DURATION", 10);
    let project = project();
    let server = project.start();

    // Fill: enqueued while the queue is paused, a thousand per call, then drained.
    let filling = Instant::now();
    server.post("/_flux/api/queue/pause");
    for from in (0..n).step_by(1000) {
        server.enqueue(&jobs(from, (from + 1000).min(n)));
    }
    server.post("/_flux/api/queue/resume");
    wait_for("the store to fill", Duration::from_secs(900), || {
        (finished(&server) >= n).then_some(())
    });
    println!(
        "RESULT records={n} filled_in_s={:.1}",
        filling.elapsed().as_secs_f64()
    );

    // The first page of runs: from navigation to the rows in the DOM and painted, five loads
    // (the first one cold); and the records call's own time, as the page measured it.
    let mut browser = Browser::start();
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": PROBES }),
    );
    let url = format!("{}/_flux/#/runs", server.url);
    let mut painted = Vec::new();
    let mut api = Vec::new();
    let mut after_api = Vec::new();
    let mut modules = Vec::new();
    for load in 0..5 {
        browser.goto("about:blank");
        browser.goto(&url);
        let figures = browser.wait_until(
            "the first page of runs, painted",
            "window.__bench.paintedAt !== null && (() => { \
               const call = performance.getEntriesByType('resource').find((e) => e.name.includes('/_flux/api/records')); \
               const nav = performance.getEntriesByType('navigation')[0]; \
               return call && [window.__bench.paintedAt, call.duration, window.__bench.rowsAt - call.responseEnd, nav.domContentLoadedEventEnd]; })()",
        );
        if load == 0 {
            println!(
                "RESULT first_load_painted_ms={:.0} (cold: navigation to the first page of runs painted)",
                number(&figures[0])
            );
        }
        painted.push(number(&figures[0]));
        api.push(number(&figures[1]));
        after_api.push(number(&figures[2]));
        modules.push(number(&figures[3]));
    }
    println!(
        "RESULT first_page_painted_ms={:.0} page_loaded_ms={:.0} records_call_ms={:.0} drawn_after_answer_ms={:.0} (median of 5 loads, from navigation)",
        median(painted),
        median(modules),
        median(api),
        median(after_api)
    );

    // The burst, with the page open and following the tail.
    browser.wait_until(
        "the live feed",
        "document.querySelector('#live').classList.contains('on')",
    );
    browser.eval(
        "(() => { const b = window.__bench; b.longtasks = []; b.frameGap = 0; b.timerLag = 0; \
           let last = performance.now(); \
           const frame = (now) => { b.frameGap = Math.max(b.frameGap, now - last); last = now; if (!b.stop) requestAnimationFrame(frame); }; \
           requestAnimationFrame(frame); \
           let expected = performance.now() + 50; \
           b.timer = setInterval(() => { const now = performance.now(); b.timerLag = Math.max(b.timerLag, now - expected); expected = now + 50; }, 50); \
         })()",
    );
    let before = finished(&server);
    let per_tick = (rate / 10).max(1);
    let ticks = seconds * 10;
    let started = Instant::now();
    for tick in 0..ticks {
        // Paced, not synchronised: a tenth of the second's jobs every 100 ms.
        let at = started + Duration::from_millis(100 * tick);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let from = n + tick * per_tick;
        server.enqueue(&jobs(from, from + per_tick));
    }
    let sent_in = started.elapsed().as_secs_f64();
    let burst = per_tick * ticks;
    wait_for("the burst's jobs to run", BULK_DEADLINE, || {
        (finished(&server) >= before + burst).then_some(())
    });
    let ran_in = started.elapsed().as_secs_f64();
    println!(
        "RESULT burst_runs={burst} enqueued_in_s={sent_in:.1} ran_in_s={ran_in:.1} ({:.0} runs/s)",
        burst as f64 / ran_in
    );

    // Kept up: the newest runs (as the API lists them) are all in the list, soon.
    let newest: Vec<String> = server.get("/_flux/api/records?limit=50").json()["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect();
    let all_shown = format!(
        "(() => {{ const shown = new Set([...document.querySelectorAll('#runs tbody tr')].map((tr) => tr.dataset.id)); \
           return {}.every((id) => shown.has(id)); }})()",
        json!(newest)
    );
    let caught_up = Instant::now();
    browser.wait_until("the newest 50 runs in the list", &all_shown);
    let caught_up_ms = caught_up.elapsed().as_secs_f64() * 1000.0;
    let page = browser.eval(
        "(() => { const b = window.__bench; b.stop = true; clearInterval(b.timer); \
           const during = b.longtasks; \
           return { rows: document.querySelectorAll('#runs tbody tr').length, \
                    note: document.querySelector('.note').textContent, \
                    longest: Math.max(0, ...during.map((t) => t[1])), \
                    longtasks: during.length, \
                    busy: during.reduce((s, t) => s + t[1], 0), \
                    frameGap: b.frameGap, timerLag: b.timerLag }; })()",
    );
    println!(
        "RESULT burst_longest_task_ms={:.0} long_tasks={} long_tasks_total_ms={:.0} longest_frame_gap_ms={:.0} timer_lag_max_ms={:.0}",
        number(&page["longest"]),
        page["longtasks"],
        number(&page["busy"]),
        number(&page["frameGap"]),
        number(&page["timerLag"]),
    );
    println!(
        "RESULT burst_rows_shown={} newest_shown_after_ms={caught_up_ms:.0} (after the last job finished) note={:?}",
        page["rows"], page["note"]
    );
    assert!(
        !page["note"].as_str().unwrap_or_default().contains("faster"),
        "the page fell behind the live feed: {}",
        page["note"]
    );
}

/// `flux dev`'s resident memory (VmRSS) in kB.
fn resident_kb(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("the server's /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// What the dashboard adds to `flux dev`'s resident memory on the example project: idle after
/// twenty sign-ups, then after each main page was opened (and the runs list followed a few
/// more sign-ups live), then once the browser is gone.
#[test]
#[ignore = "a benchmark: bench/dashboard_browser.sh"]
fn dashboard_memory_on_the_example() {
    let project = Project::example();
    let server = project.start();
    let sign_up = |n: usize| {
        let reply = server.post_json(
            "/create_user",
            &json!({ "email": format!("user{n}@example.com"), "name": format!("User {n}") })
                .to_string(),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.request_id()
    };
    let mut last = String::new();
    for n in 0..20 {
        last = sign_up(n);
    }
    server.record(&last);
    let idle = resident_kb(&server);

    let mut browser = Browser::start();
    let open = |browser: &mut Browser, page: &str, ready: &str| {
        browser.goto(&format!("{}/_flux/#/{page}", server.url));
        browser.wait_until(page, ready);
    };
    open(
        &mut browser,
        "runs",
        "document.querySelector('#live')?.classList.contains('on') && document.querySelectorAll('#runs tbody tr').length > 0",
    );
    for n in 20..30 {
        last = sign_up(n);
    }
    browser.wait_until(
        "the last sign-up, live",
        &format!("!!document.querySelector('#runs tr[data-id=\"{last}\"]')"),
    );
    open(
        &mut browser,
        &format!("run/{last}"),
        "!!document.querySelector('#waterfall')",
    );
    open(
        &mut browser,
        "queue",
        "!!document.querySelector('#queue-stats table')",
    );
    open(
        &mut browser,
        "charts",
        "!!document.querySelector('figure.chart svg')",
    );
    open(
        &mut browser,
        "data/users",
        "document.querySelector('main')?.innerText.includes('user29@example.com')",
    );
    open(
        &mut browser,
        "emails",
        "document.querySelector('.email-list')?.children.length > 0",
    );
    open(
        &mut browser,
        "runs?q=user2",
        "document.querySelectorAll('#runs tbody tr').length > 0",
    );
    let used = resident_kb(&server);
    drop(browser);
    let closed = resident_kb(&server);
    println!(
        "RESULT flux_dev_rss_idle_mb={:.1} after_dashboard_used_mb={:.1} after_browser_closed_mb={:.1} (grew {:.1} MB)",
        idle as f64 / 1024.0,
        used as f64 / 1024.0,
        closed as f64 / 1024.0,
        (used as f64 - idle as f64) / 1024.0
    );
}
