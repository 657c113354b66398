//! The PostgreSQL store answers as the SQLite store does: the same records, jobs, row
//! changes, emails and app tables written into both, then every `Storage` read asked of
//! both must give the same answer (and the answer a user expects). And `flux tail`'s promise
//! across processes: records are read in commit order, so a reader resuming from its cursor
//! never skips one committed late.

use std::fmt::Debug;
use std::time::Duration;

use flux::project::Retention;
use flux::record::{ExecutionRecord, JobId, JobState, Transition};
use flux::store::postgres::{self as pg_store, PgStore};
use flux::store::search::{self, Query};
use flux::store::{
    prepare_writes, ChangeFilter, EnqueueOptions, JobLookup, JobWrites, RecordFilter, Storage,
    Store, StoreWrite, TailFilter,
};
use serde_json::{json, Value};

use crate::support::pg::fresh_database;
use crate::support::{wait_for, DEADLINE};

/// A base time: records start a little after it.
const T: i64 = 1_700_000_000_000_000;
const SECOND: i64 = 1_000_000;

const R1: &str = "abc10000000000000000000000000001";
const R2: &str = "abc10000000000000000000000000002";
const R3: &str = "def20000000000000000000000000003";
const R5: &str = "0d5f0000000000000000000000000005";
const E1: &str = "e1a00000000000000000000000000001";
const E2: &str = "e2b00000000000000000000000000002";
const JOB: &str = "cafe0000000000000000000000000001";
const OTHER_JOB: &str = "cafe1000000000000000000000000002";

/// The app's tables, in SQL both engines take.
const APP_SCHEMA: &str = "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL,
        CONSTRAINT email_present CHECK (length(email) > 0));
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id TEXT REFERENCES users (id),
        total INTEGER NOT NULL);
    INSERT INTO users VALUES ('u_1', 'ada@new.example');
    INSERT INTO orders VALUES (7, 'u_1', 40);";

struct Stores {
    _dir: tempfile::TempDir,
    sqlite: Store,
    pg: PgStore,
}

fn stores() -> Stores {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&dir.path().join("flux.db")).expect("open the SQLite store");
    let pg = PgStore::open(&fresh_database()).expect("open the PostgreSQL store");
    Stores {
        _dir: dir,
        sqlite,
        pg,
    }
}

impl Stores {
    /// Runs the same SQL (no parameters) on both.
    fn sql(&self, sql: &str) {
        self.sqlite
            .connect()
            .expect("connect")
            .execute_batch(sql)
            .expect("SQLite");
        self.pg
            .connect()
            .expect("connect")
            .batch_execute(sql)
            .expect("PostgreSQL");
    }

    /// Commits `writes` as the store thread would, in one transaction on each.
    fn commit(&self, writes: &[StoreWrite], now_us: i64) {
        let prepared = prepare_writes(writes).expect("prepare");
        let texts: Vec<String> = writes.iter().map(|w| search::text(&w.record)).collect();
        let conn = self.sqlite.connect().expect("connect");
        let tx = conn.unchecked_transaction().expect("begin");
        let seqs = flux::store::insert_writes(&tx, &prepared, now_us).expect("SQLite insert");
        for (seq, text) in seqs.iter().zip(&texts) {
            search::index(&tx, *seq, text).expect("index");
        }
        tx.commit().expect("commit");
        let mut client = self.pg.connect().expect("connect");
        let mut tx = client.transaction().expect("begin");
        let pg_seqs = pg_store::insert_writes_once(&mut tx, &prepared, &texts, None, now_us)
            .expect("PostgreSQL insert");
        tx.commit().expect("commit");
        assert_eq!(seqs, pg_seqs, "both number records in commit order from 1");
    }

    /// Asks both the same read: their answers must be the same. Returns SQLite's.
    fn same<R: Debug>(
        &self,
        what: &str,
        read: impl Fn(&dyn Storage) -> flux::store::Result<R>,
    ) -> R {
        let sqlite = read(&self.sqlite).unwrap_or_else(|e| panic!("SQLite, {what}: {e}"));
        let pg = read(&self.pg).unwrap_or_else(|e| panic!("PostgreSQL, {what}: {e}"));
        assert_eq!(
            format!("{sqlite:#?}"),
            format!("{pg:#?}"),
            "{what}: SQLite (left) and PostgreSQL (right) differ"
        );
        sqlite
    }
}

pub fn record(value: Value) -> ExecutionRecord {
    let mut value = value;
    let defaults = json!({ "code_version": "v1", "input": {}, "duration_us": 1500 });
    for (key, default) in defaults.as_object().expect("object") {
        value
            .as_object_mut()
            .expect("a record is an object")
            .entry(key.clone())
            .or_insert(default.clone());
    }
    serde_json::from_value(value).expect("a record")
}

pub fn http(id: &str, function: &str, status: &str, started: i64, extra: Value) -> StoreWrite {
    let mut value = json!({
        "id": id, "kind": "http", "function": function, "status": status,
        "started_at_us": started, "method": "POST", "path": format!("/{function}"),
    });
    for (key, v) in extra.as_object().expect("object") {
        value[key] = v.clone();
    }
    StoreWrite {
        record: record(value),
        job: None,
    }
}

fn attempt(
    id: &str,
    attempt: u32,
    previous: Option<&str>,
    started: i64,
    next: Transition,
) -> StoreWrite {
    let mut links =
        json!({ "job_id": JOB, "attempt": attempt, "max_attempts": 2, "enqueued_by": R3 });
    if let Some(previous) = previous {
        links["previous_attempt"] = json!(previous);
    }
    StoreWrite {
        record: record(json!({
            "id": id, "kind": "job", "function": "send", "status": "error",
            "started_at_us": started, "links": links,
            "input": { "id": JOB, "data": { "to": "ada@example.com" } },
            "error": { "name": "Error", "message": "smtp down (host: mx)" },
        })),
        job: Some((JOB.parse::<JobId>().expect("job id"), next)),
    }
}

fn change(op: &str, before: Value, after: Value, at_us: u64) -> Value {
    let mut m =
        json!({ "table": "users", "pk": "u_1", "op": op, "committed": true, "at_us": at_us });
    if !before.is_null() {
        m["before"] = before;
    }
    if !after.is_null() {
        m["after"] = after;
    }
    m
}

/// Writes the same history into both: requests (ok, failing, timed out; console lines,
/// row changes), a job whose two attempts fail into the dead letters, another job waiting,
/// and an email.
fn history(stores: &Stores) {
    stores.sql(APP_SCHEMA);
    stores.commit(
        &[
            http(R1, "create_user", "ok", T + SECOND, json!({
                "input": { "body": { "email": "ada@example.com" } },
                // Key order is the user's: kept as written.
                "output": { "zeta": 1, "alpha": 2 },
                "console": [{ "level": "log", "message": "creating Ada", "at_us": 5 }],
                "mutations": [change("insert", Value::Null,
                    json!({ "id": "u_1", "email": "ada@example.com" }), 10)],
            })),
            http(R2, "create_user", "error", T + 2 * SECOND, json!({
                "input": { "body": { "email": "Grace@Example.com" } },
                "error": { "name": "TypeError", "message": "Cannot read properties of undefined" },
            })),
        ],
        T + 3 * SECOND,
    );
    stores.commit(
        &[http(
            R3,
            "rename",
            "ok",
            T + 61 * SECOND,
            json!({
                "mutations": [change("update",
                    json!({ "id": "u_1", "email": "ada@example.com" }),
                    json!({ "id": "u_1", "email": "ada@new.example" }), 20)],
            }),
        )],
        T + 62 * SECOND,
    );
    stores.sql(&format!(
        "INSERT INTO _flux_jobs (id, name, data, state, run_at_us, attempts, max_attempts,
             enqueued_at_us, enqueued_by, next_exec_id, updated_at_us)
         VALUES ('{JOB}', 'send', '{{\"to\":\"ada@example.com\"}}', 'running', {t}, 1, 2, {t}, '{R3}', '{E1}', {t}),
                ('{OTHER_JOB}', 'send', '{{\"to\":\"bob@example.com\"}}', 'pending', {t}, 0, 2, {t}, '{R3}', 'f0000000000000000000000000000000', {t2});
         INSERT INTO _flux_emails (record_id, recipient, subject, template, html, created_at_us)
         VALUES ('{R1}', 'ada@example.com', 'Welcome', 'welcome', '<p>Hi Ada</p>', {t});",
        t = T + 62 * SECOND,
        t2 = T + 63 * SECOND,
    ));
    stores.commit(
        &[attempt(
            E1,
            1,
            None,
            T + 70 * SECOND,
            Transition::Retry {
                run_at_us: T + 80 * SECOND,
                next_exec_id: E2.parse().expect("id"),
            },
        )],
        T + 71 * SECOND,
    );
    stores.sql(&format!(
        "UPDATE _flux_jobs SET state = 'running', attempts = 2 WHERE id = '{JOB}'"
    ));
    stores.commit(
        &[
            // Started before R3, committed after it.
            http(
                R5,
                "slow",
                "timeout",
                T + 3 * SECOND,
                json!({
                    "console": [{ "level": "warn", "message": "disk 100% full", "at_us": 1 }],
                }),
            ),
            attempt(E2, 2, Some(E1), T + 80 * SECOND, Transition::Dead),
        ],
        T + 81 * SECOND,
    );
}

#[test]
fn postgres_answers_every_read_as_sqlite_does() {
    let stores = stores();
    history(&stores);

    // Records by id prefix: one, several, none; a job's id names its latest attempt.
    let found = stores.same("find R1", |s| s.find_record(R1));
    assert!(
        format!("{found:?}").contains("\"zeta\": Number(1), \"alpha\""),
        "{found:?}"
    );
    let ambiguous = stores.same("find abc1", |s| s.find_record("abc1"));
    assert!(format!("{ambiguous:?}").contains(R2), "{ambiguous:?}");
    stores.same("find nothing", |s| s.find_record("0000"));
    let named = stores.same("job prefix", |s| s.find_named_record("cafe0"));
    assert!(
        format!("{named:?}").contains(E2),
        "the job's latest attempt: {named:?}"
    );
    let both_jobs = stores.same("ambiguous job prefix", |s| s.resolve_id("cafe"));
    assert!(
        format!("{both_jobs:?}").contains(OTHER_JOB),
        "{both_jobs:?}"
    );
    stores.same("an attempt's id", |s| s.resolve_id(&E1[..8]));

    // Lists: newest first, paged by cursor, filtered, searched.
    let all = stores.same("all records", |s| s.record_page(&RecordFilter::default()));
    assert_eq!(all.records.len(), 6);
    assert_eq!(all.records[0].id.to_string(), E2, "newest first");
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let filter = RecordFilter {
            limit: Some(2),
            before: cursor,
            ..RecordFilter::default()
        };
        let page = stores.same("a page", |s| s.record_page(&filter));
        paged.extend(page.records.iter().map(|r| r.id.to_string()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ids: Vec<String> = all.records.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(paged, ids, "pages of 2 give the same records once each");
    for (filter, expect) in [
        (
            RecordFilter {
                status: Some("error".into()),
                ..Default::default()
            },
            3,
        ),
        (
            RecordFilter {
                kind: Some("job".into()),
                ..Default::default()
            },
            2,
        ),
        (
            RecordFilter {
                function: Some("create_user".into()),
                since_us: Some(T + 2 * SECOND),
                ..Default::default()
            },
            1,
        ),
        (
            RecordFilter {
                until_us: Some(T + 3 * SECOND),
                ..Default::default()
            },
            2,
        ),
    ] {
        let page = stores.same(&format!("{filter:?}"), |s| s.record_page(&filter));
        assert_eq!(page.records.len(), expect, "{filter:?}");
    }
    for (q, expect) in [
        ("grace@example", vec![R2]),
        ("SMTP DOWN", vec![E2, E1]),
        ("0% f", vec![R5]),
        // Too short for a trigram index: both look through the newest records instead.
        ("0%", vec![R5]),
        ("creating ada", vec![R1]),
        ("nowhere at all", vec![]),
    ] {
        let filter = RecordFilter {
            search: Some(Query::parse(q).expect("query")),
            ..RecordFilter::default()
        };
        let page = stores.same(&format!("search {q}"), |s| s.record_page(&filter));
        let found: Vec<String> = page.records.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(found, expect, "search {q:?}");
    }
    let minutes = stores.same("minute counts", |s| s.minute_counts(T, None));
    assert!(
        minutes
            .iter()
            .any(|m| m.function == "send" && m.failures == 2),
        "{minutes:?}"
    );
    stores.same("one function's minutes", |s| {
        s.minute_counts(T, Some("create_user"))
    });

    // The tail's history: commit order (R5 started before R3 and committed after it).
    let tail = stores.same("tail", |s| {
        s.tail_history(None, None, &TailFilter::default(), 100)
    });
    let order: Vec<String> = tail.iter().map(|e| e.record.id.to_string()).collect();
    assert_eq!(order, [R1, R2, R3, E1, R5, E2]);
    stores.same("tail after 3", |s| {
        s.tail_history(Some(3), None, &TailFilter::default(), 2)
    });
    let failing = TailFilter {
        statuses: vec!["error".into()],
        search: Some("smtp".into()),
        ..TailFilter::default()
    };
    stores.same("tail filtered", |s| {
        s.tail_history(None, Some(T), &failing, 100)
    });
    let caused = TailFilter {
        caused_by: vec![R3[..6].into()],
        ..TailFilter::default()
    };
    let jobs_of_r3 = stores.same("tail req=", |s| s.tail_history(None, None, &caused, 100));
    assert_eq!(jobs_of_r3.len(), 2);

    // A job's attempts, its row, the queue's counts and dead letters.
    let chain = stores.same("attempt chain", |s| s.attempt_chain(E2));
    assert_eq!(
        chain.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(),
        [E1, E2]
    );
    let job = stores.same("job with attempts", |s| s.job_with_attempts(&E1[..8]));
    let (row, attempts) = job.expect("the attempt's prefix names its job");
    assert_eq!(
        (row.state, row.attempts, attempts.len()),
        (JobState::Dead, 2, 2)
    );
    stores.same("find job", |s| s.find_job("cafe"));
    let stats = stores.same("stats", |s| s.job_stats(T + 100 * SECOND));
    assert_eq!((stats[0].dead, stats[0].pending), (1, 1), "{stats:?}");
    stores.same("jobs", |s| s.list_jobs(None, None, 10));
    stores.same("pending jobs", |s| {
        s.list_jobs(Some(JobState::Pending), Some("send"), 10)
    });
    let dead = stores.same("dead letters", |s| s.dead_letters(None, None));
    assert_eq!(dead[0].short_error, "smtp down");
    let smtp = Query::parse("smtp").expect("query");
    assert_eq!(
        stores
            .same("dead letters searched", |s| s
                .dead_letters(Some("send"), Some(&smtp)))
            .len(),
        1
    );
    let other = Query::parse("no such text").expect("query");
    stores.same("dead letters not found", |s| {
        s.dead_letters(None, Some(&other))
    });

    // Row changes, oldest or newest first, by row, execution, job and value.
    let history = ChangeFilter {
        table: "users".into(),
        row: Some("u_1".into()),
        limit: 10,
        oldest_first: true,
        ..Default::default()
    };
    let changes = stores.same("row history", |s| s.row_changes(&history));
    assert_eq!(
        changes
            .iter()
            .map(|c| c.record_id.as_str())
            .collect::<Vec<_>>(),
        [R1, R3]
    );
    let blame = flux::store::blame(&changes).expect("the row exists");
    assert!(
        blame
            .iter()
            .any(|b| b.column == "email" && b.record_id == R3),
        "{blame:?}"
    );
    stores.same("newest first", |s| {
        s.row_changes(&ChangeFilter {
            oldest_first: false,
            ..history.clone()
        })
    });
    stores.same("by execution", |s| {
        s.named_row_changes(&ChangeFilter {
            record_prefix: Some(R3[..6].into()),
            ..history.clone()
        })
    });
    let valued = ChangeFilter {
        column_value: Some(("email".into(), "\"ada@example.com\"".into())),
        ..history.clone()
    };
    assert_eq!(stores.same("by value", |s| s.row_changes(&valued)).len(), 1);
    stores.same("by job", |s| {
        s.named_row_changes(&ChangeFilter {
            record_prefix: Some("cafe0".into()),
            ..history.clone()
        })
    });

    // The app's tables, and whether rows exist.
    stores.same("app tables", |s| s.app_tables());
    let mut schema = stores.same("schema", |s| {
        s.schema().map(|tables| {
            tables
                .into_iter()
                .map(|mut t| {
                    t.sql.clear();
                    t
                })
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(schema.remove(0).foreign_keys[0].table, "users");
    let pg_users = stores.pg.schema().expect("schema").pop().expect("users");
    assert!(
        pg_users.sql.contains("CONSTRAINT email_present CHECK"),
        "{}",
        pg_users.sql
    );
    for (table, column, value, expect) in [
        ("users", "id", json!("u_1"), true),
        ("users", "id", json!("u_2"), false),
        ("orders", "id", json!(7), true),
        ("orders", "id", json!("seven"), false),
        ("orders", "user_id", json!("u_1"), true),
        ("nope", "id", json!(1), false),
        ("users", "nope", json!(1), false),
    ] {
        let exists = stores.same(&format!("{table}.{column} = {value}"), |s| {
            s.row_exists(table, column, &value)
        });
        assert_eq!(exists, expect, "{table}.{column} = {value}");
    }

    // Emails.
    let emails = stores.same("emails", |s| s.emails(10));
    stores.same("one email", |s| s.email(emails[0].id));
    stores.same("integrity", |s| {
        s.check_integrity(Some(Duration::from_secs(1)))
    });

    // Pruning by age: the two oldest records go (with R1's row change and the email of
    // their time), the rest stay; by size, what the limit says.
    let retention = Retention {
        max_age: Duration::from_secs(100),
        max_bytes: u64::MAX,
        min_age: Duration::ZERO,
    };
    let pruned = stores.same("prune", |s| {
        s.pruning()?.prune(&retention, T + 103 * SECOND)
    });
    assert_eq!(pruned, 2, "R1 and R2 started over 100 s before");
    stores.same("after pruning", |s| s.record_page(&RecordFilter::default()));
    stores.same("changes after pruning", |s| s.row_changes(&history));
    stores.same("size under the limit", |s| {
        s.pruning()?.prune_to_size(&retention, T + 103 * SECOND)
    });
    let tiny = Retention {
        max_bytes: 1,
        ..retention
    };
    let gone = stores.same("size over the limit", |s| {
        s.pruning()?.prune_to_size(&tiny, T + 103 * SECOND)
    });
    assert!(gone > 0, "over a 1-byte limit, records go");
    stores.same("after pruning to size", |s| {
        s.record_page(&RecordFilter::default())
    });
}

/// A job enqueued on PostgreSQL is what SQLite would have written: due now or scheduled,
/// and an idempotency key returns the first job.
#[test]
fn postgres_enqueues_as_sqlite_does() {
    let stores = stores();
    let conn = stores.sqlite.connect().expect("connect");
    let mut client = stores.pg.connect().expect("connect");
    let keyed: EnqueueOptions =
        serde_json::from_value(json!({ "idempotencyKey": "k1" })).expect("options");
    let later: EnqueueOptions = serde_json::from_value(json!({ "delay": "5s" })).expect("options");
    // Distinct times: lists are ordered by the last update.
    for (options, now) in [(&keyed, T), (&keyed, T + 1), (&later, T + 2)] {
        let sqlite =
            flux::store::jobs::enqueue(&conn, "w", &json!({ "n": 1 }), options, 3, None, now)
                .expect("SQLite");
        let pg = pg_store::enqueue(&mut client, "w", &json!({ "n": 1 }), options, 3, None, now)
            .expect("PostgreSQL");
        assert_eq!(
            (sqlite.run_at_us, sqlite.duplicate),
            (pg.run_at_us, pg.duplicate)
        );
    }
    let jobs = stores.same("jobs", |s| {
        s.list_jobs(None, None, 10).map(|jobs| {
            jobs.into_iter()
                .map(|j| (j.name, j.data, j.state, j.run_at_us, j.max_attempts))
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(
        jobs.len(),
        2,
        "the second keyed enqueue added nothing: {jobs:?}"
    );
    let bad: EnqueueOptions = serde_json::from_value(json!({ "delay": "soon" })).expect("options");
    let error =
        pg_store::enqueue(&mut client, "w", &json!(1), &bad, 3, None, T).expect_err("a bad delay");
    assert!(
        error.to_string().contains("'soon' is not a duration"),
        "{error}"
    );
}

/// `flux tail` across processes: two writers whose transactions overlap and commit in the
/// opposite order of their start, and a reader resuming from its cursor between their
/// commits, reads every record once, in commit order.
#[test]
fn the_tail_reads_records_in_commit_order_across_writers() {
    let url = fresh_database();
    let store = PgStore::open(&url).expect("open");
    let write = |id: &str| vec![http(id, "f", "ok", T, json!({}))];
    let (first, second) = (write(R1), write(R2));
    let (first, second) = (
        prepare_writes(&first).expect("prepare"),
        prepare_writes(&second).expect("prepare"),
    );
    let mut a = store.connect().expect("connect");
    let mut b = store.connect().expect("connect");
    let texts: [&str; 1] = [""];
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut read = |seen: &mut Vec<(i64, String)>| {
        for event in store
            .tail_history(cursor, None, &TailFilter::default(), 100)
            .expect("tail")
        {
            cursor = Some(event.seq);
            seen.push((event.seq, event.record.id.to_string()));
        }
    };

    // A starts first and writes; B starts, writes its record and commits; A commits last.
    let mut tx_a = a.transaction().expect("begin A");
    tx_a.execute("CREATE TABLE work (n int)", &[])
        .expect("A's own work");
    let mut tx_b = b.transaction().expect("begin B");
    pg_store::insert_writes_once(&mut tx_b, &second, &texts, None, T).expect("B's record");
    tx_b.commit().expect("commit B");
    read(&mut seen);
    pg_store::insert_writes_once(&mut tx_a, &first, &texts, None, T).expect("A's record");
    read(&mut seen);
    tx_a.commit().expect("commit A");
    read(&mut seen);
    assert_eq!(seen, [(1, R2.to_string()), (2, R1.to_string())]);

    // Both take their seqs at once: the second waits for the first's commit, so a reader
    // between them sees neither (none committed), then the first, then the second.
    let mut tx_a = a.transaction().expect("begin A");
    let seqs_a =
        pg_store::insert_writes_once(&mut tx_a, &first, &texts, None, T).expect("A's record");
    let seqs_b = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let mut tx_b = b.transaction().expect("begin B");
            let seqs = pg_store::insert_writes_once(&mut tx_b, &second, &texts, None, T)
                .expect("B's record");
            tx_b.commit().expect("commit B");
            seqs
        });
        let mut watch = store.connect().expect("connect");
        wait_for("B to wait for A's seqs", DEADLINE, || {
            let row = watch
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                     AND query LIKE 'SELECT %._flux_write_records(%' AND datname = current_database()",
                    &[],
                )
                .expect("activity");
            (row.get::<_, i64>(0) == 1).then_some(())
        });
        read(&mut seen);
        assert_eq!(seen.len(), 2, "nothing new is committed yet: {seen:?}");
        tx_a.commit().expect("commit A");
        waiting.join().expect("B")
    });
    read(&mut seen);
    assert_eq!(seqs_a, [3]);
    assert_eq!(seqs_b, [4]);
    assert_eq!(
        seen.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "every record once, in commit order"
    );
}

/// Reads from many threads at once open no more connections than the documented bound.
#[test]
fn reads_open_at_most_the_documented_connections() {
    let store = PgStore::open(&fresh_database()).expect("open");
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                for _ in 0..20 {
                    store.record_page(&RecordFilter::default()).expect("read");
                    store.job_stats(T).expect("read");
                }
            });
        }
    });
    let mut watch = store.connect().expect("connect");
    let open: i64 = watch
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
             AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("activity")
        .get(0);
    assert!(
        (1..=pg_store::READERS as i64).contains(&open),
        "{open} connections open for reads, at most {} expected",
        pg_store::READERS
    );
}

/// The job writes a caller makes (replay, cancel, finding dead jobs) do on PostgreSQL what
/// they do on SQLite, inside the caller's transaction.
#[test]
fn postgres_job_writes_match_sqlite() {
    let stores = stores();
    history(&stores);
    let conn = stores.sqlite.connect().expect("connect");
    let mut client = stores.pg.connect().expect("connect");
    let mut tx = client.transaction().expect("begin");
    let pg = pg_store::PgWrites::new(&mut tx);
    let writers: [(&str, &dyn JobWrites); 2] = [("SQLite", &conn), ("PostgreSQL", &pg)];
    // The cancel a microsecond after the replay: lists are in update order.
    let now = T + 200 * SECOND;
    let smtp = Query::parse("smtp").expect("query");
    for (name, writes) in writers {
        let dead = writes
            .dead_jobs(Some("send"), Some(&smtp))
            .expect("dead jobs");
        assert_eq!(dead.len(), 1, "{name}");
        let JobLookup::Found(waiting) = writes.find_job(&OTHER_JOB[..6]).expect("find") else {
            panic!("{name}: the waiting job is found by its prefix")
        };
        let refused = writes.replay(&waiting, 3, now, None).expect_err("not dead");
        assert!(
            refused
                .to_string()
                .contains("is pending, not dead-lettered"),
            "{name}: {refused}"
        );
        writes
            .replay(
                &dead[0],
                5,
                now,
                Some(&json!({ "to": "grace@example.com" })),
            )
            .expect("replay");
        let again = writes
            .replay(&dead[0], 5, now, None)
            .expect_err("replayed already");
        assert!(
            again.to_string().contains("no longer dead"),
            "{name}: {again}"
        );
        assert!(
            writes
                .cancel_waiting(&waiting, "not needed", now + 1)
                .expect("cancel"),
            "{name}"
        );
        assert!(
            !writes
                .cancel_waiting(&waiting, "not needed", now + 1)
                .expect("cancel"),
            "{name}"
        );
    }
    tx.commit().expect("commit");
    stores.same("jobs after replay and cancel", |s| {
        s.list_jobs(None, None, 10).map(|jobs| {
            jobs.into_iter()
                .map(|job| flux::store::JobRow {
                    // Random per store: the next attempt's id.
                    next_exec_id: String::new(),
                    ..job
                })
                .collect::<Vec<_>>()
        })
    });
    let replayed = stores
        .pg
        .list_jobs(Some(JobState::Pending), None, 10)
        .expect("jobs");
    assert_eq!(
        (
            replayed[0].attempts,
            replayed[0].max_attempts,
            replayed[0].data_edited
        ),
        (0, 5, true)
    );
}

/// Every outcome an attempt can have moves its job the same way on both.
#[test]
fn every_transition_moves_the_job_as_on_sqlite() {
    let stores = stores();
    let next: flux::record::ExecId = "ee000000000000000000000000000001".parse().expect("id");
    let transitions = [
        Transition::Done,
        Transition::Retry {
            run_at_us: T + 90 * SECOND,
            next_exec_id: next,
        },
        Transition::Dead,
        Transition::Requeue { next_exec_id: next },
        Transition::Cancelled,
    ];
    let mut writes = Vec::new();
    for (i, transition) in transitions.into_iter().enumerate() {
        let job = format!("b{i:031x}");
        let exec = format!("c{i:031x}");
        stores.sql(&format!(
            "INSERT INTO _flux_jobs (id, name, data, state, run_at_us, attempts, max_attempts,
                 enqueued_at_us, next_exec_id, last_error, updated_at_us)
             VALUES ('{job}', 'w{i}', '{{}}', 'running', {T}, 2, 3, {T}, '{exec}', 'before', {T})"
        ));
        writes.push(StoreWrite {
            record: record(json!({
                "id": exec, "kind": "job", "function": format!("w{i}"), "status": "error",
                "started_at_us": T + i as i64, "links": { "job_id": job, "attempt": 2 },
                "error": { "name": "Error", "message": format!("failure {i}") },
            })),
            job: Some((job.parse().expect("job id"), transition)),
        });
    }
    // One batch, as the store thread commits them.
    stores.commit(&writes, T + 100 * SECOND);
    // One batch, one update time: the list's order among them is not defined.
    let jobs = stores.same("jobs after each outcome", |s| {
        let mut jobs = s.list_jobs(None, None, 10)?;
        jobs.sort_by_key(|job| job.id.to_string());
        Ok(jobs)
    });
    let states: Vec<(String, JobState)> = jobs.into_iter().map(|j| (j.name, j.state)).collect();
    assert_eq!(states.len(), 5, "{states:?}");
    for (name, state) in [
        ("w0", JobState::Done),
        ("w1", JobState::Scheduled),
        ("w2", JobState::Dead),
        ("w3", JobState::Pending),
        ("w4", JobState::Cancelled),
    ] {
        assert!(
            states.contains(&(name.to_string(), state)),
            "{name}: {states:?}"
        );
    }
}

/// Scoped tokens are stored, found, revoked and noted as used the same way on both.
#[test]
fn postgres_keeps_tokens_as_sqlite_does() {
    use flux::store::tokens::{NewToken, TokenKey, TokenLookup, TokenRow};
    use flux::store::TokenWrites;
    use flux::token::{self, Scope};

    let stores = stores();
    let conn = stores.sqlite.connect().expect("connect");
    let mut client = stores.pg.connect().expect("connect");
    let mut tx = client.transaction().expect("begin");
    let pg = pg_store::PgWrites::new(&mut tx);
    let writers: [(&str, &dyn TokenWrites); 2] = [("SQLite", &conn), ("PostgreSQL", &pg)];
    let read = token::generate(Scope::Read);
    let deploy = token::generate(Scope::Deploy);
    let new = |secret: &str, name: &str, scope| NewToken {
        name: name.into(),
        scope,
        hash: token::hash(secret),
        session_hash: token::hash(&token::session_value(secret)),
    };
    for (name, writes) in writers {
        let ci = writes
            .create_token(&new(&read, "ci", Scope::Read), T)
            .expect("create");
        writes
            .create_token(&new(&deploy, "pipeline", Scope::Deploy), T + 1)
            .expect("create");
        let TokenLookup::Found(found) = writes.find_token(&ci.id[..6]).expect("find") else {
            panic!("{name}: the token is found by its prefix")
        };
        assert_eq!(found, ci, "{name}");
        assert_eq!(
            writes.find_token("zz").expect("find"),
            TokenLookup::NotFound
        );
        writes.revoke_token(&ci.id, T + 50).expect("revoke");
        // A later end never pushes an earlier one back.
        writes.revoke_token(&ci.id, T + 90).expect("revoke");
        writes.note_token_used(&ci.id, T + 10).expect("touch");
        writes.note_token_used(&ci.id, T + 5).expect("touch");
    }
    tx.commit().expect("commit");
    // Ids are random per store.
    let without_ids = |rows: Vec<TokenRow>| {
        rows.into_iter()
            .map(|row| TokenRow {
                id: String::new(),
                ..row
            })
            .collect::<Vec<_>>()
    };
    let tokens = stores.same("tokens", |s| s.tokens().map(without_ids));
    assert_eq!(
        tokens
            .iter()
            .map(|t| (t.name.as_str(), t.scope, t.last_used_at_us, t.revoked_at_us))
            .collect::<Vec<_>>(),
        [
            ("ci", Scope::Read, Some(T + 10), Some(T + 50)),
            ("pipeline", Scope::Deploy, None, None)
        ]
    );
    for (key, secret) in [
        (TokenKey::Token, read.clone()),
        (TokenKey::Session, token::session_value(&read)),
    ] {
        let found = stores.same(&format!("{key:?}"), |s| {
            s.token_by_hash(key, &token::hash(&secret))
                .map(|row| row.map(|row| row.name))
        });
        assert_eq!(found.as_deref(), Some("ci"));
    }
    let forged = token::generate(Scope::Read);
    stores.same("a forged token", |s| {
        s.token_by_hash(TokenKey::Token, &token::hash(&forged))
    });
}

/// Deployed versions and their blobs are kept, listed and activated the same way on both.
#[test]
fn postgres_keeps_versions_as_sqlite_does() {
    use flux::store::versions::{NewVersion, VersionLookup};
    use flux::store::VersionWrites;

    let stores = stores();
    let conn = stores.sqlite.connect().expect("connect");
    let mut client = stores.pg.connect().expect("connect");
    let mut tx = client.transaction().expect("begin");
    let pg = pg_store::PgWrites::new(&mut tx);
    let writers: [(&str, &dyn VersionWrites); 2] = [("SQLite", &conn), ("PostgreSQL", &pg)];
    let blob = b"export default () => 'hi'\n";
    let hash = flux::version::hash_bytes(blob);
    let new = |id: &str, message: Option<&str>| NewVersion {
        id: id.repeat(64),
        manifest: format!(
            "{{\"files\":[{{\"path\":\"functions/a.ts\",\"hash\":\"{hash}\",\"size\":26}}]}}"
        ),
        files: 1,
        size: 26,
        deployed_by: "ci".into(),
        message: message.map(String::from),
    };
    for (name, writes) in writers {
        writes.put_blob(&hash, blob).expect("blob");
        writes.put_blob(&hash, blob).expect("the same blob again");
        writes
            .create_version(&new("a", Some("first")), T)
            .expect("a");
        writes.create_version(&new("b", None), T + 1).expect("b");
        // A rollback, with a clock that stepped back: still the newest activation.
        writes
            .activate_version(&"a".repeat(64), T)
            .expect("rollback");
        let VersionLookup::Found(found) = writes.find_version("bbbb").expect("find") else {
            panic!("{name}: the version is found by its prefix")
        };
        assert_eq!(found.activated_at_us, T + 1, "{name}");
        assert_eq!(
            writes.find_version("cc").expect("find"),
            VersionLookup::NotFound
        );
    }
    tx.commit().expect("commit");
    let versions = stores.same("versions", |s| s.versions());
    assert_eq!(
        versions
            .iter()
            .map(|v| (&v.id[..1], v.active, v.message.as_deref()))
            .collect::<Vec<_>>(),
        [("a", true, Some("first")), ("b", false, None)]
    );
    stores.same("active version", |s| s.active_version());
    stores.same("manifest", |s| s.version_manifest(&"b".repeat(64)));
    let missing = stores.same("missing blobs", |s| {
        s.missing_blobs(&[hash.clone(), "0".repeat(64)])
    });
    assert_eq!(missing, ["0".repeat(64)]);
    let stored = stores.same("blob", |s| s.blob(&hash));
    assert_eq!(stored.as_deref(), Some(&blob[..]));
}
