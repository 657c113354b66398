//! The user's SQL on PostgreSQL logs in as the sandbox role, so nothing in a statement gets
//! back to flux's role: not `set_config('role')`, `RESET ROLE` in a `DO` block, the user's own
//! functions, views or casts, nor flux's SECURITY DEFINER helpers called with forged
//! arguments — with flux's role a superuser and as a plain database owner. Migrations run as
//! that role too. A connection the server closed (a killed backend, a restart) costs at most
//! the statement in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flux::record::ExecId;
use flux::store::postgres::{PgStore, PgStoreThread, PgThreadOptions};
use flux::store::statement::Limits;
use flux::store::{
    writer_channel, EnqueueOptions, NewEmail, Storage, StoreError, TxControl, Writer,
};
use serde_json::{json, Value};

use crate::pg_sql::{open_at, Db};
use crate::support::pg::{cluster, fresh_database, owned_database};
use crate::support::{wait_for, Project, Server, DEADLINE};

/// What a hostile statement must meet: an error saying it may not.
fn denied(db: &mut Db, sql: &str) -> String {
    let error = db.refused(sql);
    assert!(
        [
            "permission denied",
            "must be superuser",
            "must be owner",
            "is not allowed",
            "are for flux",
            "privileges of",
            "within security-definer function",
        ]
        .iter()
        .any(|says| error.contains(says)),
        "{sql}: {error}"
    );
    error
}

/// Every way we know of from a statement to flux's role, its tables, the server's files and
/// programs: refused, on `url`'s database.
fn hostile_statements_are_refused(url: &str) {
    let mut db = open_at(url, "CREATE TABLE users (id text PRIMARY KEY)");
    for sql in [
        // The old gap: `set_config('role')` is checked against the session user, now the
        // sandbox role itself.
        "SELECT set_config('role', 'none', true), \
         query_to_xml('SELECT count(*) FROM _flux_records', true, false, '')",
        "DO $$ BEGIN RESET ROLE; PERFORM count(*) FROM _flux_records; END $$",
        "DO $$ BEGIN EXECUTE 'SET ROLE NONE'; PERFORM count(*) FROM _flux_tokens; END $$",
        "SELECT set_config('session_authorization', 'postgres', true)",
        "SET SESSION AUTHORIZATION postgres",
        // flux's tables, staged rows and secrets.
        "SELECT * FROM _flux_spilled",
        "SELECT * FROM _flux_jobs",
        "SELECT * FROM _flux_tokens",
        "SELECT * FROM _flux_sandbox",
        "INSERT INTO _flux_spilled (xid, changes) VALUES ('1', '[]')",
        // The server's files and programs.
        "SELECT pg_read_file('/etc/hostname')",
        "COPY users TO PROGRAM 'id'",
        "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''true'''; END $$",
        // flux's helpers with forged arguments, without flux's key.
        "SELECT * FROM _flux_enqueue('forged', 'j_1', 'send', '{}', 'pending', 0, 99, 0, \
         NULL, NULL, 'e_1', 0)",
        "SELECT _flux_store_email(NULL, 'r', 'a@b.c', 's', 't', '<p>', 0)",
        "SELECT _flux_migration('', 1, '999_forged.sql', 'x')",
        "SELECT _flux_check_key('x')",
    ] {
        denied(&mut db, sql);
    }
    // The user's own SECURITY INVOKER (and DEFINER: it owns it) functions run as the user.
    db.run(
        "CREATE FUNCTION peek() RETURNS bigint LANGUAGE sql \
         AS 'SELECT count(*) FROM _flux_records'",
        &[],
    )
    .expect("a function of the user's");
    denied(&mut db, "SELECT peek()");
    db.run(
        "CREATE FUNCTION climb() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS \
         $$ BEGIN RESET ROLE; RETURN (SELECT count(*) FROM _flux_jobs)::text; END $$",
        &[],
    )
    .expect("another");
    denied(&mut db, "SELECT climb()");
    db.run(
        "CREATE FUNCTION slip() RETURNS text LANGUAGE plpgsql AS \
         $$ BEGIN RESET ROLE; RETURN (SELECT count(*) FROM _flux_jobs)::text; END $$",
        &[],
    )
    .expect("and another");
    denied(&mut db, "SELECT slip()");

    // A cast to json of the user's own type runs inside the capture's trigger: as the user.
    db.run("CREATE TABLE seen (who text)", &[]).expect("seen");
    db.run("CREATE TYPE mood AS ENUM ('ok')", &[])
        .expect("type");
    db.run(
        "CREATE FUNCTION mood_json(mood) RETURNS json LANGUAGE sql AS \
         $$ INSERT INTO public.seen VALUES (current_user); SELECT to_json('ok'::text) $$",
        &[],
    )
    .expect("cast function");
    db.run(
        "CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood)",
        &[],
    )
    .expect("cast");
    db.run("CREATE TABLE moods (id int PRIMARY KEY, m mood)", &[])
        .expect("moods");
    db.run("INSERT INTO moods VALUES (1, 'ok')", &[])
        .expect("insert a mood");
    let role = db.rows("SELECT session_user::text AS me", &[])[0]["me"].clone();
    let seen = db.rows("SELECT DISTINCT who FROM seen", &[]);
    assert!(
        seen.iter().all(|row| row["who"] == role),
        "the cast ran as {seen:?}, not only as {role}"
    );

    // An unrelated transaction, older than the other one and still open (another process's long
    // statement), holds back the cluster's oldest snapshot; pruning is not held back by it.
    let mut long = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    long.batch_execute("BEGIN; SELECT pg_current_xact_id()")
        .expect("an open transaction with an xid");
    // `_flux_take_spilled` gives a statement its own transaction's spilled changes only;
    // calling it hides the caller's own changes (as `set_config('flux.capture', 'off')` does),
    // nobody else's.
    let mut other = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    other
        .batch_execute(
            "BEGIN; SET LOCAL flux.capture = 'on'; \
             INSERT INTO users SELECT 'u_other_' || g FROM generate_series(1, 500) g; \
             SET LOCAL flux.capture = 'off'",
        )
        .expect("spill changes in another transaction");
    let taken = db.rows("SELECT _flux_take_spilled() AS taken", &[]);
    assert_eq!(taken, [json!({"taken": null})]);
    let spilled: i64 = other
        .query_one("SELECT count(*) FROM _flux_spilled", &[])
        .expect("count")
        .get(0);
    assert!(
        spilled > 0,
        "another transaction's spilled changes are still there"
    );
    // Committed without being taken, they are left over, until pruning clears them.
    other.batch_execute("COMMIT").expect("commit");
    let store = flux::store::postgres::PgStore::open(url).expect("open");
    store
        .pruning()
        .expect("pruning")
        .prune(&flux::project::Retention::default(), flux::clock::now_us())
        .expect("prune");
    let left: i64 = other
        .query_one("SELECT count(*) FROM _flux_spilled", &[])
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "leftover spilled changes are pruned");
    long.batch_execute("ROLLBACK")
        .expect("end the long transaction");
    long.batch_execute("ROLLBACK")
        .expect("end the long transaction");

    // flux's functions stay flux's. The sandbox role may create functions in the schema, but
    // cannot replace flux's; one it made first under a flux name (as before an upgrade that
    // adds it) is flux's own, with flux's body, once flux starts; and an overload of its own
    // is never the one flux calls.
    let signature = "text[], text[], text[], bigint[], text[], text[], int[], text[], bigint, \
        boolean, text[], text[], text[], text[], bigint[], bigint[], text[], text[], text[], \
        text[], int[], int[], text[], text[], text[], text[], text[], boolean[], bigint[], boolean";
    denied(
        &mut db,
        &format!(
            "CREATE OR REPLACE FUNCTION _flux_write_records({signature}) RETURNS bigint \
             LANGUAGE sql AS 'SELECT 1::bigint'"
        ),
    );
    let sandbox_role: String = db
        .client
        .query_one("SELECT session_user::text", &[])
        .expect("the sandbox role")
        .get(0);
    db.flux
        .batch_execute(&format!(
            "ALTER FUNCTION _flux_write_records({signature}) OWNER TO \"{sandbox_role}\""
        ))
        .expect("the function as if the sandbox role had made it first");
    PgStore::open(url).expect("flux starts again");
    let owner: String = db
        .flux
        .query_one(
            "SELECT pg_get_userbyid(proowner)::text FROM pg_proc \
             WHERE proname = '_flux_write_records'",
            &[],
        )
        .expect("owner")
        .get(0);
    let flux_role: String = db
        .flux
        .query_one("SELECT current_user::text", &[])
        .expect("flux's role")
        .get(0);
    assert_eq!(owner, flux_role, "flux's function is flux's again");
    let overload = signature.replacen("text[]", "text", 1);
    db.client
        .batch_execute(&format!(
            "CREATE FUNCTION _flux_write_records({overload}) RETURNS bigint \
             LANGUAGE sql AS 'SELECT 1::bigint'"
        ))
        .expect("an overload of the sandbox role's own");
    let none: [flux::store::StoreWrite; 0] = [];
    let prepared = flux::store::prepare_writes(&none).expect("prepare");
    let texts: [&str; 0] = [];
    flux::store::postgres::insert_writes_once(&mut db.flux, &prepared, &texts, None, 1)
        .expect("flux's own function called, not the overload");

    // Refreshing by hand grants what flux would grant anyway.
    db.run("SELECT _flux_refresh()::text", &[])
        .expect("refresh");
}

#[test]
fn nothing_in_a_statement_reaches_flux_when_flux_is_a_superuser() {
    hostile_statements_are_refused(&fresh_database());
}

#[test]
fn nothing_in_a_statement_reaches_flux_when_flux_owns_the_database() {
    hostile_statements_are_refused(&owned_database());
}

/// flux's reads of the app's tables (`flux why`'s "does this row exist") run as the sandbox
/// role too: a view of the user's calls the user's functions.
#[test]
fn flux_reads_a_users_view_as_the_sandbox_role() {
    let url = fresh_database();
    let mut db = open_at(&url, "");
    db.run("CREATE TABLE seen (who text)", &[]).expect("seen");
    db.run(
        "CREATE FUNCTION who() RETURNS int LANGUAGE sql AS \
         $$ INSERT INTO seen VALUES (current_user); SELECT 1 $$",
        &[],
    )
    .expect("who");
    db.run("CREATE VIEW spy AS SELECT who() AS id", &[])
        .expect("view");
    let store = PgStore::open(&url).expect("open");
    assert!(store.row_exists("spy", "id", &json!(1)).expect("read"));
    let seen = db.rows("SELECT DISTINCT who FROM seen", &[]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0]["who"]
            .as_str()
            .is_some_and(|who| who.ends_with("_flux_sql")),
        "{seen:?}"
    );
}

#[test]
fn a_migration_touching_flux_tables_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("001_notes.sql"),
        "CREATE TABLE notes (id int PRIMARY KEY);\n\n  DELETE FROM _flux_records;\n",
    )
    .expect("write");
    let store = PgStore::open(&fresh_database()).expect("open");
    let error = store
        .apply_migrations(dir.path())
        .expect_err("a migration may not touch flux's tables");
    let StoreError::Migration { file, message, .. } = &error else {
        panic!("not a migration error: {error:?}")
    };
    assert_eq!(file, "migrations/001_notes.sql:3:15");
    assert!(
        message.contains("permission denied for table _flux_records"),
        "{message}"
    );
    // Nothing of it stays, and a good one then makes tables the sandbox role owns, captured.
    std::fs::write(
        dir.path().join("001_notes.sql"),
        "CREATE TABLE notes (id int PRIMARY KEY);\n",
    )
    .expect("write");
    store.apply_migrations(dir.path()).expect("migrate");
    let mut client = store.connect().expect("connect");
    let row = client
        .query_one(
            "SELECT pg_get_userbyid(c.relowner)::text, \
             EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid \
                 AND t.tgname = '_flux_capture') \
             FROM pg_class c WHERE c.relname = 'notes'",
            &[],
        )
        .expect("notes");
    let (owner, captured): (String, bool) = (row.get(0), row.get(1));
    assert!(owner.ends_with("_flux_sql"), "{owner}");
    assert!(captured);
    let deleted: i64 = client
        .query_one("SELECT count(*) FROM _flux_migrations", &[])
        .expect("noted")
        .get(0);
    assert_eq!(deleted, 1);
}

fn limits() -> Limits {
    Limits {
        stop: Arc::new(|| None),
        deadline_ns: 0,
        max_result_bytes: 1 << 20,
        flushed_by_record: false,
    }
}

fn statement(writer: &Writer, owner: ExecId, sql: &'static str) -> Result<Vec<Value>, String> {
    writer.call(owner, TxControl::None, true, move |session| {
        let (result, _) = session.statement(sql, &[], &limits(), None, 0);
        let rows = result.map_err(|e| e.to_string())?.rows;
        Ok(rows.into_iter().map(Value::Object).collect())
    })
}

fn control(writer: &Writer, owner: ExecId, control: TxControl) -> Result<(), String> {
    writer.call(owner, control, true, |_| Ok(()))
}

/// Ends every other connection to the database (as a restart would) and waits until those
/// backends are gone (flux may have opened new ones meanwhile); returns how many.
fn terminate_all(url: &str) -> usize {
    let mut admin = postgres::Client::connect(
        &cluster().url(url.rsplit('/').next().expect("a database")),
        postgres::NoTls,
    )
    .expect("connect as the cluster's superuser");
    let killed: Vec<i32> = admin
        .query(
            // Chosen first: a WHERE could call pg_terminate_backend before the other tests.
            "WITH chosen AS MATERIALIZED (SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()) \
             SELECT pid FROM chosen WHERE pg_terminate_backend(pid)",
            &[],
        )
        .expect("terminate")
        .iter()
        .map(|row| row.get(0))
        .collect();
    wait_for("the backends to end", DEADLINE, || {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&killed],
            )
            .expect("count")
            .get(0);
        (left == 0).then_some(())
    });
    killed.len()
}

#[test]
fn the_store_thread_opens_again_the_connections_the_server_closed() {
    let url = fresh_database();
    let store = PgStore::open(&url).expect("open");
    store
        .connect()
        .expect("connect")
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY)")
        .expect("schema");
    let (writer, calls) = writer_channel();
    let writer = writer.for_postgres();
    let (_records, records_rx) = crossbeam_channel::unbounded();
    let options = PgThreadOptions {
        statements: 2,
        transactions: 2,
        ..PgThreadOptions::default()
    };
    let thread =
        PgStoreThread::start(&store, options, calls, records_rx, Vec::new()).expect("store thread");
    let owner = ExecId::random();
    statement(&writer, owner, "INSERT INTO notes VALUES (1)").expect("before");
    // A transaction's connection goes back to the spares once it ends.
    let tx = ExecId::random();
    control(&writer, tx, TxControl::Begin).expect("begin");
    statement(&writer, tx, "INSERT INTO notes VALUES (2)").expect("in the transaction");
    control(&writer, tx, TxControl::Commit).expect("commit");
    // And flux's own connection beside the statements', for writes outside a transaction.
    enqueue_and_email(&writer, ExecId::random(), "before").expect("an enqueue alone");
    // And the readers' connections, flux's and the sandbox role's.
    store.app_tables().expect("a read");
    assert!(store
        .row_exists("notes", "id", &json!(1))
        .expect("a read as the sandbox"));

    assert!(
        terminate_all(&url) >= 4,
        "the statements', flux's, the spare's"
    );
    enqueue_and_email(&writer, ExecId::random(), "after").expect("an enqueue after");
    assert_eq!(store.app_tables().expect("a read after"), ["notes"]);
    assert!(store
        .row_exists("notes", "id", &json!(2))
        .expect("a read as the sandbox after"));
    // Every statement thread (two) and the spare connection work again at once.
    for n in 3..7 {
        let sql: &'static str = Box::leak(format!("INSERT INTO notes VALUES ({n})").into());
        statement(&writer, ExecId::random(), sql).expect("after the restart");
    }
    let tx = ExecId::random();
    control(&writer, tx, TxControl::Begin).expect("begin after");
    statement(&writer, tx, "INSERT INTO notes VALUES (7)").expect("in the transaction after");
    control(&writer, tx, TxControl::Commit).expect("commit after");

    // A statement in flight when its backend ends fails with the reason; the next one works.
    let sleeping = std::thread::spawn({
        let writer = writer.clone();
        move || statement(&writer, ExecId::random(), "SELECT pg_sleep(30)")
    });
    let mut admin = store.connect().expect("connect");
    wait_for("the sleep to run", DEADLINE, || {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'",
                &[],
            )
            .expect("count")
            .get(0);
        (n == 1).then_some(())
    });
    drop(admin);
    terminate_all(&url);
    let error = sleeping
        .join()
        .expect("the sleeping call")
        .expect_err("its backend ended");
    assert!(
        error.contains("terminating connection") || error.contains("closed"),
        "{error}"
    );
    let rows = statement(
        &writer,
        ExecId::random(),
        "SELECT count(*)::int AS n FROM notes",
    )
    .expect("the next statement");
    assert_eq!(rows, [json!({"n": 7})]);
    thread.stop();
}

#[test]
fn flux_dev_on_postgresql_survives_its_connections_being_killed_between_requests() {
    let project = Project::with_files(&[
        (
            "migrations/001_notes.sql",
            "CREATE TABLE notes (id TEXT PRIMARY KEY);",
        ),
        (
            "functions/note.ts",
            "export default async function handler(req, ctx) {
  if (req.query.sleep) await ctx.db.query('SELECT pg_sleep(30)')
  await ctx.db.transaction(async (tx) => {
    await tx.insert('notes', { id: req.query.id })
  })
  await ctx.db.insert('notes', { id: req.query.id + '-alone' })
  return (await ctx.db.query('SELECT count(*)::int AS n FROM notes'))[0]
}",
        ),
    ]);
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    let first = server.get("/note?id=a");
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json(), json!({"n": 2}));
    terminate_all(&url);
    let second = server.get("/note?id=b");
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json(), json!({"n": 4}));

    // A request in flight when its connection is killed fails, and its record says why.
    let slow = server.get_in_background("/note?id=c&sleep=1");
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    wait_for("the sleep to run", DEADLINE, || {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'",
                &[],
            )
            .expect("count")
            .get(0);
        (n == 1).then_some(())
    });
    drop(admin);
    terminate_all(&url);
    let failed = slow.join().expect("the slow request");
    assert_eq!(failed.status, 500, "{}", failed.body);
    let request = failed.request_id();
    let trace = wait_for("the failed request's record", DEADLINE, || {
        let (code, out, _) = project.run(&["trace", &request]);
        (code == 0).then_some(out)
    });
    assert!(
        trace.contains("terminating connection") || trace.contains("closed"),
        "{trace}"
    );
    let third = server.get("/note?id=d");
    assert_eq!(third.status, 200, "{}", third.body);
    assert_eq!(third.json(), json!({"n": 6}));
    server.stop();
}

/// The sandbox role's login refused by pg_hba.conf: a typed error at start, and `flux dev`
/// names the line to add.
#[test]
fn a_refused_sandbox_login_names_the_pg_hba_line_to_add() {
    let url = fresh_database();
    let database = url.rsplit('/').next().expect("a database").to_string();
    let role = format!("{database}_flux_sql");
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let hba: String = admin
        .query_one("SHOW hba_file", &[])
        .expect("hba_file")
        .get(0);
    let before = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    let _restore = Restore {
        path: hba.clone(),
        text: before.clone(),
        url: url.clone(),
    };
    // With a password asked for, flux logs in with the one it set.
    std::fs::write(
        &hba,
        format!("host {database} {role} all scram-sha-256\n{before}"),
    )
    .expect("write pg_hba.conf");
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .expect("reload");
    let mut db = open_at(&url, "CREATE TABLE notes (id int PRIMARY KEY)");
    db.run("INSERT INTO notes VALUES (1)", &[])
        .expect("a statement as the sandbox role, logged in with its password");
    let method: String = db
        .flux
        .query_one(
            "SELECT auth_method FROM pg_hba_file_rules WHERE $1 = ANY(user_name) LIMIT 1",
            &[&role],
        )
        .expect("the rule")
        .get(0);
    assert_eq!(method, "scram-sha-256");
    std::fs::write(
        &hba,
        format!("host {database} {role} all reject\nlocal {database} {role} reject\n{before}"),
    )
    .expect("write pg_hba.conf");
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .expect("reload");
    let started = Instant::now();
    let error = wait_for(
        "the reload to refuse the login",
        DEADLINE,
        || match PgStore::open(&url).expect("open").sandbox() {
            Err(error @ StoreError::PgSandboxLogin { .. }) => Some(error),
            _ => None,
        },
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(error.to_string().contains(&role), "{error}");
    let project = Project::example();
    let (code, _, stderr) = project.run(&["dev", "--port", "0", "--database", &url]);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("PostgreSQL refused the login of {role}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "host {database} {role} 127.0.0.1/32 scram-sha-256"
        )),
        "{stderr}"
    );
}

/// Puts pg_hba.conf back, however the test ends.
struct Restore {
    path: String,
    text: String,
    url: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, &self.text);
        if let Ok(mut admin) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = admin.batch_execute("SELECT pg_reload_conf()");
        }
    }
}

/// Round trips of a lone statement through the store thread: `nice -n 19 cargo test --test it
/// -- --ignored pg_sandbox::lone_statement_latency --nocapture` (figures in ARCHITECTURE.md).
#[test]
#[ignore = "a benchmark"]
fn lone_statement_latency() {
    const N: usize = 1_000;
    let store = PgStore::open(&fresh_database()).expect("open");
    let (writer, calls) = writer_channel();
    let writer = writer.for_postgres();
    let (_records, records_rx) = crossbeam_channel::unbounded();
    let options = PgThreadOptions {
        statements: 1,
        transactions: 1,
        ..PgThreadOptions::default()
    };
    let thread =
        PgStoreThread::start(&store, options, calls, records_rx, Vec::new()).expect("store thread");
    let run = |label: &str, in_tx: bool| {
        let owner = ExecId::random();
        if in_tx {
            control(&writer, owner, TxControl::Begin).expect("begin");
        }
        let _ = statement(&writer, owner, "SELECT 1 AS one").expect("warm");
        let mut times = Vec::with_capacity(N);
        for _ in 0..N {
            let started = Instant::now();
            statement(&writer, owner, "SELECT 1 AS one").expect("SELECT 1");
            times.push(started.elapsed());
        }
        if in_tx {
            control(&writer, owner, TxControl::Commit).expect("commit");
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / N as u32;
        println!(
            "{label}: {N} x SELECT 1, mean {mean:?}, p50 {:?}, p99 {:?}",
            times[N / 2],
            times[N * 99 / 100]
        );
    };
    run("alone", false);
    run("in a transaction", true);
    thread.stop();
}

/// Enqueues a job and stores an email on the call's session, as `ctx.queue.enqueue` and
/// `ctx.email.send` do.
fn enqueue_and_email(writer: &Writer, owner: ExecId, key: &'static str) -> Result<(), String> {
    writer.call(owner, TxControl::None, true, move |session| {
        let options = EnqueueOptions {
            idempotency_key: Some(key.into()),
            ..EnqueueOptions::default()
        };
        session
            .writes(|writes| writes.enqueue("send", &json!({ "k": key }), &options, 3, None, 1))?
            .map_err(|e| e.to_string())?;
        session.store_email(&NewEmail {
            record_id: key.into(),
            to: "a@example.com".into(),
            subject: key.into(),
            template: "welcome".into(),
            html: "<p>hi</p>".into(),
            created_at_us: 1,
        })?;
        Ok(())
    })
}

/// Inside a user's transaction, flux's writes (a job, an email) go through its SECURITY
/// DEFINER functions on the sandbox's connection: kept with a commit, undone with a
/// rollback; outside one, on flux's own connection. An idempotency key is honoured on both.
#[test]
fn jobs_and_emails_commit_and_roll_back_with_the_users_transaction() {
    let store = PgStore::open(&fresh_database()).expect("open");
    let (writer, calls) = writer_channel();
    let writer = writer.for_postgres();
    let (_records, records_rx) = crossbeam_channel::unbounded();
    let options = PgThreadOptions {
        statements: 1,
        transactions: 1,
        ..PgThreadOptions::default()
    };
    let thread =
        PgStoreThread::start(&store, options, calls, records_rx, Vec::new()).expect("store thread");
    let kept = ExecId::random();
    control(&writer, kept, TxControl::Begin).expect("begin");
    enqueue_and_email(&writer, kept, "kept").expect("in the transaction");
    enqueue_and_email(&writer, kept, "kept").expect("again: the same job");
    control(&writer, kept, TxControl::Commit).expect("commit");
    let undone = ExecId::random();
    control(&writer, undone, TxControl::Begin).expect("begin");
    enqueue_and_email(&writer, undone, "undone").expect("in the transaction");
    control(&writer, undone, TxControl::Rollback).expect("rollback");
    enqueue_and_email(&writer, ExecId::random(), "alone").expect("alone");
    thread.stop();
    let mut client = store.connect().expect("connect");
    let jobs: Vec<String> = client
        .query(
            "SELECT data FROM _flux_jobs ORDER BY enqueued_at_us, data",
            &[],
        )
        .expect("jobs")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(jobs, [r#"{"k":"alone"}"#, r#"{"k":"kept"}"#]);
    let emails: Vec<String> = client
        .query("SELECT subject FROM _flux_emails ORDER BY seq", &[])
        .expect("emails")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(emails, ["kept", "kept", "alone"]);
}

/// A statement connection serves one execution after another: what one left in the session
/// (a setting, a temporary table shadowing an app table, a session advisory lock) is gone
/// before the next execution's first statement.
#[test]
fn an_execution_finds_nothing_another_left_in_the_session() {
    let store = PgStore::open(&fresh_database()).expect("open");
    let mut admin = store.connect().expect("connect");
    admin
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes VALUES (1)")
        .expect("schema");
    let (writer, calls) = writer_channel();
    let writer = writer.for_postgres();
    let (_records, records_rx) = crossbeam_channel::unbounded();
    let options = PgThreadOptions {
        statements: 1,
        transactions: 1,
        ..PgThreadOptions::default()
    };
    let thread =
        PgStoreThread::start(&store, options, calls, records_rx, Vec::new()).expect("store thread");
    let left = ExecId::random();
    for sql in [
        "CREATE TEMP TABLE notes (id int)",
        "SELECT set_config('datestyle', 'SQL, DMY', false)",
        "SELECT pg_advisory_lock(42)::text",
    ] {
        statement(&writer, left, sql).expect(sql);
    }
    let next = ExecId::random();
    let rows = statement(
        &writer,
        next,
        "SELECT (SELECT count(*)::int FROM notes) AS n, current_setting('datestyle') AS style",
    )
    .expect("the next execution");
    assert_eq!(rows, [json!({"n": 1, "style": "ISO, MDY"})]);
    let free: bool = admin
        .query_one("SELECT pg_try_advisory_lock(42)", &[])
        .expect("lock")
        .get(0);
    assert!(free, "the session lock was let go");
    thread.stop();
}
