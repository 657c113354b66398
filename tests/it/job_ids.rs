//! Job ids everywhere: `flux trace`, `flux why`, `flux state history --filter req=` and the API
//! take the id `flux queue enqueue` prints (any unique prefix) as they take an execution's.

use serde_json::{json, Value};

use crate::support::{wait_for, Project, Server, BULK_DEADLINE, DEADLINE, SNAPSHOT_FILTERS};

/// A worker that fails its first two attempts, writing a row each time, and one that always
/// fails; both retry after 10 ms.
const RETRIES: &[(&str, &str)] = &[
    (
        "migrations/001.sql",
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, job TEXT NOT NULL, attempt INTEGER NOT NULL);",
    ),
    (
        "flux.config.ts",
        "export default { workers: {\n  flaky: { maxAttempts: 3, backoff: { type: 'linear', initialDelay: '10ms' } },\n  broken: { maxAttempts: 2, backoff: { type: 'linear', initialDelay: '10ms' } },\n} }\n",
    ),
    (
        "functions/flaky.ts",
        "export default async function handler(job, ctx) {\n  await ctx.db.insert('runs', { job: job.id, attempt: job.attempt })\n  if (job.attempt < 3) {\n    throw new Error(`the mail server refused the connection (attempt ${job.attempt})`)\n  }\n}\n",
    ),
    (
        "functions/broken.ts",
        "export default async function handler(job, ctx) {\n  throw new Error('no template named ' + job.data.template)\n}\n",
    ),
];

/// `flux queue enqueue`'s job id: `Enqueued flaky as job 4d5e1baa (first attempt: …)`.
fn enqueue(project: &Project, name: &str, data: &str) -> String {
    let (code, stdout, stderr) = project.run(&["queue", "enqueue", name, "--data", data]);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .strip_prefix(&format!("Enqueued {name} as job "))
        .and_then(|rest| rest.get(..8))
        .unwrap_or_else(|| panic!("no job id in {stdout:?}"))
        .to_string()
}

/// The job `id` names, once it reached `state`.
fn job_in_state(server: &Server, id: &str, state: &str) -> Value {
    wait_for(&format!("job {id} to be {state}"), DEADLINE, || {
        let reply = server.get(&format!("/_flux/api/jobs/{id}"));
        (reply.status == 200 && reply.json()["job"]["state"] == state).then(|| reply.json())
    })
}

/// Asserts an inline snapshot with ids, times and durations replaced.
macro_rules! assert_filtered {
    ($text:expr, @$snapshot:literal) => {
        insta::with_settings!({ filters => SNAPSHOT_FILTERS.to_vec() }, {
            insta::assert_snapshot!($text, @$snapshot);
        })
    };
}

#[test]
fn a_job_id_names_its_latest_attempt_and_why_explains_the_retries() {
    let project = Project::with_files(RETRIES);
    let server = project.start();

    // A job that has not run yet has no record: saying so beats "not found".
    server.post("/_flux/api/queue/pause");
    let job = enqueue(&project, "flaky", r#"{"to":"ada@example.com"}"#);
    let (code, _, stderr) = project.run(&["trace", &job]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!("job {job} (flaky) has not run yet: it is pending")),
        "{stderr}"
    );
    server.post("/_flux/api/queue/resume");
    let detail = job_in_state(&server, &job, "done");
    let attempts: Vec<String> = detail["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(attempts.len(), 3, "{detail}");
    let full_job = detail["job"]["id"].as_str().expect("job id").to_string();

    // trace: the job's latest attempt, with every attempt listed, as its own id shows it.
    let (code, trace, stderr) = project.run(&["trace", &job]);
    assert_eq!(code, 0, "{stderr}");
    assert_filtered!(trace, @r"
    JOB flaky done [DUR] req:[ID]  [TIME]  attempt 3/3
    flaky  flaky.ts [DUR]
    └─ db.insert(runs)  flaky.ts:2 [DUR]
    ATTEMPTS
      JOB flaky error [DUR] req:[ID] attempt 1/3  Error: the mail server refused the connection (attempt 1)
      JOB flaky error [DUR] req:[ID] attempt 2/3  Error: the mail server refused the connection (attempt 2)
      JOB flaky done [DUR] req:[ID] attempt 3/3  ← this one

    DATA CHANGES
      runs 3 insert
        id       ∅ → 3
        job      ∅ → '[ID]'
        attempt  ∅ → 3
    ");
    let (_, by_attempt, _) = project.run(&["trace", &attempts[2][..8]]);
    assert_eq!(
        by_attempt, trace,
        "the job id and its latest attempt's id show the same"
    );
    let (_, full, _) = project.run(&["trace", &format!("req:{full_job}")]);
    assert_eq!(full, trace, "a whole job id, req: prefix and all");

    // why: the job succeeded, but only after two failures: the last of them is explained.
    let (code, why, stderr) = project.run(&["why", &job]);
    assert_eq!(code, 0, "{stderr}");
    assert_filtered!(why, @r"
    OK JOB flaky done [DUR] req:[ID] attempt 3/3
    succeeded on attempt 3/3 after 2 failed attempts; attempt 2/3 (req:[ID]) failed:
    ROOT CAUSE Error: the mail server refused the connection (attempt 2)
    LOCATION flaky.ts:4
    JOB INPUT { to: 'ada@example.com' }
    ATTEMPTS
      req:[ID]  attempt 1/3  error [DUR]  Error: the mail server refused the connection (attempt 1)
      req:[ID]  attempt 2/3  error [DUR]  Error: the mail server refused the connection (attempt 2)  ← explained above
      req:[ID]  attempt 3/3  ok [DUR]  ← this one
    DATA CHANGES
      runs 2 insert
        id       ∅ → 2
        job      ∅ → '[ID]'
        attempt  ∅ → 2
    ");
    assert!(
        why.contains(&format!("(req:{}) failed:", &attempts[1][..8])),
        "{why}"
    );
    // The successful attempt's own id tells the same story.
    let (_, by_attempt, _) = project.run(&["why", &attempts[2][..8]]);
    assert_eq!(by_attempt, why);
    // A failed attempt's id explains that attempt; its siblings ended otherwise, so they are listed.
    let (_, first, _) = project.run(&["why", &attempts[0][..8]]);
    assert!(
        first.starts_with("ROOT CAUSE Error: the mail server refused the connection (attempt 1)\n"),
        "{first}"
    );
    assert!(first.contains("attempt 1/3  error"), "{first}");

    let (code, json, stderr) = project.run(&["why", &job, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["id"], attempts[2].as_str());
    assert_eq!(json["status"], "ok");
    assert_eq!(json["explains"], attempts[1].as_str());
    assert_eq!(json["finding"]["location"], "flaky.ts:4");
    let listed: Vec<&str> = json["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(listed, attempts);

    // state history: every attempt's change, each naming its execution.
    let (code, history, stderr) = project.run(&[
        "state",
        "history",
        "runs",
        "--filter",
        &format!("req={job}"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    for attempt in &attempts {
        assert!(
            history.contains(&format!("req:{}", &attempt[..8])),
            "{history}"
        );
    }
    assert_eq!(history.matches(" insert").count(), 3, "{history}");
    // An attempt's id keeps to that attempt.
    let (_, one, _) = project.run(&[
        "state",
        "history",
        "runs",
        "--filter",
        &format!("req={}", &attempts[0][..8]),
    ]);
    assert_eq!(one.matches(" insert").count(), 1, "{one}");

    // The API resolves job ids the same way.
    let record = server.get(&format!("/_flux/api/records/{job}"));
    assert_eq!(record.status, 200, "{}", record.body);
    assert_eq!(record.json()["id"], attempts[2].as_str());
    let changes = server
        .get(&format!("/_flux/api/state/runs?req={job}"))
        .json();
    assert_eq!(
        changes["changes"].as_array().map(Vec::len),
        Some(3),
        "{changes}"
    );

    // A job that failed every attempt alike: its attempt's id tells the story as before,
    // its job id lists the attempts.
    let broken = enqueue(&project, "broken", r#"{"template":"welcome"}"#);
    let detail = job_in_state(&server, &broken, "dead");
    let last = detail["job"]["last_record"]
        .as_str()
        .expect("last record")
        .to_string();
    let (_, by_attempt, _) = project.run(&["why", &last[..8]]);
    assert_eq!(
        by_attempt,
        "ROOT CAUSE Error: no template named welcome\nLOCATION broken.ts:2\nJOB INPUT { template: 'welcome' }\n"
    );
    let (_, by_job, _) = project.run(&["why", &broken]);
    assert_filtered!(by_job, @r"
    ROOT CAUSE Error: no template named welcome
    LOCATION broken.ts:2
    JOB INPUT { template: 'welcome' }
    ATTEMPTS
      req:[ID]  attempt 1/2  error [DUR]  Error: no template named welcome
      req:[ID]  attempt 2/2  error [DUR]  Error: no template named welcome  ← this one
    ");

    // With flux dev stopped, the store answers the same.
    server.stop();
    let (code, stopped, stderr) = project.run(&["why", &job]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stopped, why);
    let (_, history_stopped, _) = project.run(&[
        "state",
        "history",
        "runs",
        "--filter",
        &format!("req={job}"),
    ]);
    assert_eq!(history_stopped, history);
}

#[test]
fn a_prefix_shared_by_a_job_and_another_jobs_attempt_is_ambiguous() {
    let project = Project::with_files(&[
        (
            "migrations/001.sql",
            "CREATE TABLE t (id INTEGER PRIMARY KEY);",
        ),
        (
            "functions/noop.ts",
            "export default async function handler(job, ctx) {}\n",
        ),
    ]);
    let server = project.start();
    // A thousand jobs and their thousand attempts: among a million pairs, some job and some
    // other job's attempt share their first four characters (65,536 choices) but for a
    // chance of about 3e-7.
    server.post("/_flux/api/queue/pause");
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({ "name": "noop", "data": i }))
        .collect();
    server.enqueue(&Value::Array(batch));
    server.post("/_flux/api/queue/resume");
    let jobs = wait_for("a thousand jobs done", BULK_DEADLINE, || {
        let list = server.get("/_flux/api/jobs?state=done&limit=1000").json();
        let jobs = list["jobs"].as_array().cloned().unwrap_or_default();
        (jobs.len() == 1000).then_some(jobs)
    });
    let pairs: Vec<(String, String)> = jobs
        .iter()
        .map(|j| {
            let id = j["id"].as_str().expect("id").to_string();
            let attempt = j["last_record"].as_str().expect("attempt").to_string();
            (id, attempt)
        })
        .collect();
    let (job, execution) = pairs
        .iter()
        .find_map(|(job, _)| {
            pairs
                .iter()
                .find(|(other, attempt)| other != job && attempt[..4] == job[..4])
                .map(|(_, attempt)| (job.clone(), attempt.clone()))
        })
        .expect("a job and another job's attempt sharing a prefix");
    let prefix = &job[..4];

    for command in [vec!["trace", prefix], vec!["why", prefix]] {
        let (code, _, stderr) = project.run(&command);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&format!("{prefix} is ambiguous: it starts ")),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("job {}… (noop)", &job[..8])),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("execution {}… (noop)", &execution[..8])),
            "{stderr}"
        );
        assert!(stderr.contains("give more characters"), "{stderr}");
    }
    let (code, _, stderr) = project.run(&[
        "state",
        "history",
        "t",
        "--filter",
        &format!("req={prefix}"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is ambiguous"), "{stderr}");

    let reply = server.get(&format!("/_flux/api/records/{prefix}"));
    assert_eq!(reply.status, 409, "{}", reply.body);
    let candidates = reply.json()["candidates"].clone();
    let candidates: Vec<&str> = candidates
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(candidates.contains(&job.as_str()), "{candidates:?}");
    assert!(candidates.contains(&execution.as_str()), "{candidates:?}");
    assert_eq!(
        server
            .get(&format!("/_flux/api/state/t?req={prefix}"))
            .status,
        409
    );

    // The whole job id is no longer ambiguous: its latest attempt.
    let (code, trace, stderr) = project.run(&["trace", &job]);
    assert_eq!(code, 0, "{stderr}");
    let own = &pairs.iter().find(|(j, _)| *j == job).expect("the job").1;
    assert!(trace.contains(&format!("req:{}", &own[..8])), "{trace}");
}
