//! The user's SQL (`ctx.db`) on PostgreSQL: one statement per call with `$n` parameters, rows
//! as JSON, PostgreSQL's errors with their SQLSTATE and position, the execution's deadline and
//! result cap, a sandbox around flux's tables and the server, and the rows each statement
//! changed, the same as SQLite's capture reports for the same statements.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flux::clock::monotonic_ns;
use flux::record::{Mutation, MutationOp};
use flux::store::capture::Capture;
use flux::store::postgres::user_sql::{Outcome, PgSession, SessionTx};
use flux::store::postgres::{PgStore, Sandbox, UserSql};
use flux::store::sandbox::Stop;
use flux::store::statement::{Limits, SqlError, UserStatements};
use serde_json::{json, Value};

use crate::support::pg::{fresh_database, owned_database};

/// No deadline and a 64 MiB result cap.
fn limits() -> Limits {
    Limits {
        stop: Arc::new(|| None),
        deadline_ns: 0,
        max_result_bytes: 64 << 20,
        flushed_by_record: false,
    }
}

/// A deadline `left` from now.
fn deadline_in(left: Duration) -> Limits {
    Limits {
        deadline_ns: monotonic_ns() + left.as_nanos() as u64,
        ..limits()
    }
}

/// A fresh database with flux's tables, the app's `schema`, a connection running user SQL
/// (logged in as the sandbox role) and one of flux's own role.
pub struct Db {
    pub client: postgres::Client,
    pub sandbox: Arc<Sandbox>,
    pub flux: postgres::Client,
    pub sql: UserSql,
}

fn open(schema: &str) -> Db {
    open_at(&fresh_database(), schema)
}

/// [`open`] on the database at `url`.
pub fn open_at(url: &str, schema: &str) -> Db {
    let store = PgStore::open(url).expect("open the PostgreSQL store");
    let mut flux = store.connect().expect("connect");
    flux.batch_execute(schema).expect("the app's schema");
    let sandbox = store
        .sandbox()
        .expect("install the sandbox and the capture");
    Db {
        client: sandbox.connect().expect("log in as the sandbox role"),
        flux,
        sql: UserSql::new(&sandbox),
        sandbox,
    }
}

impl Db {
    /// Runs `work` on a session of one transaction, as `ctx.db` runs statements inside
    /// `ctx.db.transaction` (the seam SQLite's session implements too), then commits it.
    pub fn in_transaction<T>(&mut self, work: impl FnOnce(&mut PgSession<'_, '_>) -> T) -> T {
        let mut tx = self.client.transaction().expect("begin");
        let due = std::cell::RefCell::new(Vec::new());
        let done = work(&mut PgSession {
            tx: SessionTx::Open(&mut tx),
            sql: &mut self.sql,
            flux: None,
            made_due: &due,
        });
        tx.commit().expect("commit");
        done
    }

    pub fn run(&mut self, sql: &str, params: &[Value]) -> Result<Outcome, SqlError> {
        let sandbox = &self.sandbox;
        let reconnect = || sandbox.connect();
        self.sql
            .run_alone(&mut self.client, &reconnect, sql, params, &limits())
    }

    pub fn rows(&mut self, sql: &str, params: &[Value]) -> Vec<Value> {
        let outcome = self
            .run(sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        outcome.result.rows.into_iter().map(Value::Object).collect()
    }

    pub fn refused(&mut self, sql: &str) -> String {
        self.refused_with(sql, &[])
    }

    pub fn refused_with(&mut self, sql: &str, params: &[Value]) -> String {
        match self.run(sql, params) {
            Ok(_) => panic!("{sql} ran"),
            Err(error) => error.to_string(),
        }
    }

    /// How many spilled captures are left in `_flux_spilled`, read outside the sandbox.
    pub fn staged(&mut self) -> i64 {
        self.flux
            .query_one("SELECT count(*) FROM _flux_spilled", &[])
            .expect("count")
            .get(0)
    }
}

#[test]
fn postgres_types_come_back_as_json() {
    let mut db = open(
        "CREATE TYPE mood AS ENUM ('calm', 'busy');
        CREATE TABLE everything (i2 int2, i4 int4, i8 int8, n numeric(12, 3), f4 float4,
            f8 float8, b bool, t text, vc varchar(10), j json, jb jsonb, ts timestamp,
            tz timestamptz, d date, tm time, by bytea, u uuid, ints int[], texts text[],
            m mood, nothing text);
        INSERT INTO everything VALUES (-2, 4, 9007199254740993, 12345678.125, 1.5, 2.25, true,
            'text', 'vc', '{\"b\": 1, \"a\": [2]}', '{\"k\": null}', '2026-12-01 04:51:12.5',
            '2026-12-01 06:51:12.25+02', '2026-12-01', '04:05:06.5', '\\x01ff',
            'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{\"a b\",\"c\"}', 'busy', NULL)",
    );
    let rows = db.rows("SELECT * FROM everything", &[]);
    assert_eq!(
        rows,
        [json!({
            "i2": -2, "i4": 4, "i8": 9007199254740993_i64, "n": "12345678.125", "f4": 1.5,
            "f8": 2.25, "b": true, "t": "text", "vc": "vc", "j": {"b": 1, "a": [2]},
            "jb": {"k": null}, "ts": "2026-12-01T04:51:12.5", "tz": "2026-12-01T04:51:12.25Z",
            "d": "2026-12-01", "tm": "04:05:06.5", "by": {"$blob": "01ff"},
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "ints": [1, null, 3],
            "texts": ["a b", "c"], "m": "busy", "nothing": null
        })]
    );
    let numbers = db.rows(
        "SELECT 0::numeric AS zero, -0.05::numeric AS small, 100000000::numeric AS big, \
         'NaN'::numeric AS nan, 1e-20::numeric AS tiny",
        &[],
    );
    assert_eq!(
        numbers,
        [
            json!({"zero": "0", "small": "-0.05", "big": "100000000", "nan": "NaN",
                "tiny": "0.00000000000000000001"})
        ]
    );
    let error = db.refused("SELECT '1 day'::interval AS span");
    assert!(error.contains("span::text"), "{error}");
}

#[test]
fn parameters_are_positional_json_values_parsed_as_the_inferred_type() {
    let mut db = open(
        "CREATE TABLE items (id int PRIMARY KEY, price numeric, tags text[],
        data jsonb, at timestamptz, raw bytea, ok bool)",
    );
    let inserted = db
        .run(
            "INSERT INTO items VALUES ($2, $1, $3, $4, $5, $6, $7) RETURNING id, price, ok",
            &[
                json!(19.99),
                json!(7),
                json!(["a", "b\"c"]),
                json!({"x": [1]}),
                json!("2026-12-01T04:00:00Z"),
                json!({"$blob": "00ff"}),
                json!(true),
            ],
        )
        .expect("insert");
    assert_eq!(inserted.result.changes, 1);
    assert_eq!(
        Value::Object(inserted.result.rows[0].clone()),
        json!({"id": 7, "price": "19.99", "ok": true})
    );
    let rows = db.rows(
        "SELECT tags, data, raw FROM items WHERE id = $1 AND at < $2",
        &[json!(7), json!("2026-12-02")],
    );
    assert_eq!(
        rows,
        [json!({"tags": ["a", "b\"c"], "data": {"x": [1]}, "raw": {"$blob": "00ff"}})]
    );
    let missing = db.refused("SELECT $1::int + $2::int");
    assert!(missing.contains("uses parameter $2"), "{missing}");
    let extra = db.run("SELECT $1::int AS one", &[json!(1), json!(2)]);
    assert!(
        matches!(&extra, Err(e) if e.to_string().contains("2 values were given")),
        "{:?}",
        extra.err()
    );
}

#[test]
fn one_statement_per_call_and_engine_errors_name_sqlstate_and_place() {
    let mut db = open("CREATE TABLE users (id text PRIMARY KEY)");
    let error = db.refused("SELECT 1; DROP TABLE users");
    assert!(error.contains("one SQL statement"), "{error}");
    assert_eq!(
        db.rows("SELECT count(*) AS n FROM users", &[]),
        [json!({"n": 0})]
    );
    assert_eq!(db.rows("SELECT 1 AS one;", &[]), [json!({"one": 1})]);

    match db.run("SELECT id,\n  FROM users", &[]) {
        Err(SqlError::Postgres(e)) => {
            assert_eq!(e.sqlstate, "42601");
            assert!(
                e.message.contains("syntax error at or near \"FROM\""),
                "{e}"
            );
            assert_eq!(e.position, Some((2, 3)));
            assert!(e.to_string().contains("(line 2, column 3)"), "{e}");
        }
        other => panic!("{:?}", other.err()),
    }
    match db.run("SELECT * FROM nowhere", &[]) {
        Err(SqlError::Postgres(e)) => assert_eq!(e.sqlstate, "42P01", "{e}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn a_failed_statement_leaves_the_transaction_usable() {
    let mut db = open("CREATE TABLE users (id text PRIMARY KEY)");
    db.in_transaction(|session| {
        let (first, changes) = session.statement(
            "INSERT INTO users VALUES ('u_1')",
            &[],
            &limits(),
            Some(3),
            250,
        );
        assert_eq!(first.expect("first insert").changes, 1);
        assert_eq!((changes[0].span, changes[0].at_us), (Some(3), 250));
        let (duplicate, undone) =
            session.statement("INSERT INTO users VALUES ('u_1')", &[], &limits(), None, 0);
        assert!(
            matches!(&duplicate, Err(SqlError::Postgres(e)) if e.sqlstate == "23505"),
            "{:?}",
            duplicate.err()
        );
        assert!(undone.is_empty());
        let (next, _) =
            session.statement("INSERT INTO users VALUES ('u_2')", &[], &limits(), None, 0);
        next.expect("the transaction goes on");
    });
    assert_eq!(
        db.rows("SELECT id FROM users ORDER BY id", &[]),
        [json!({"id": "u_1"}), json!({"id": "u_2"})]
    );
}

#[test]
fn the_deadline_stops_a_statement_and_the_cap_bounds_a_result() {
    let mut db = open("");
    let short = deadline_in(Duration::from_millis(200));
    let started = Instant::now();
    let slept = db.sql.run_alone(
        &mut db.client,
        &|| db.sandbox.connect(),
        "SELECT pg_sleep(10)",
        &[],
        &short,
    );
    let took = started.elapsed();
    assert!(
        matches!(slept, Err(SqlError::Stopped(Stop::Deadline))),
        "{:?}",
        slept.err()
    );
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The connection serves the next statement, without the deadline.
    assert_eq!(db.rows("SELECT 2 AS two", &[]), [json!({"two": 2})]);

    let small = Limits {
        max_result_bytes: 4096,
        ..limits()
    };
    let many = db.sql.run_alone(
        &mut db.client,
        &|| db.sandbox.connect(),
        "SELECT g AS x, 'some text' AS label FROM generate_series(1, 100000) g",
        &[],
        &small,
    );
    let error = many.err().map(|e| e.to_string());
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("db.maxResultSize (4.0 KiB)") && e.contains("LIMIT")),
        "{error:?}"
    );
}

#[test]
fn user_sql_cannot_reach_flux_tables_the_server_or_other_roles() {
    let mut db = open("CREATE TABLE users (id text PRIMARY KEY)");
    for sql in [
        "SELECT * FROM _flux_records",
        "DELETE FROM _flux_jobs",
        "SELECT * FROM _flux_spilled",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_import('/etc/passwd')",
        "CREATE EXTENSION dblink",
        "DROP TABLE _flux_records",
    ] {
        let error = db.refused(sql);
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{sql}: {error}"
        );
    }
    for (sql, says) in [
        ("COPY users TO PROGRAM 'id'", "COPY is not allowed"),
        ("SET ROLE postgres", "SET is not allowed"),
        ("  reset role", "RESET is not allowed"),
        ("SET LOCAL statement_timeout = 0", "SET is not allowed"),
        ("SET SESSION AUTHORIZATION postgres", "SET is not allowed"),
        ("BEGIN", "ctx.db.transaction"),
        ("/* hidden */ COMMIT", "ctx.db.transaction"),
    ] {
        let error = db.refused(sql);
        assert!(error.contains(says), "{sql}: {error}");
    }
    // The app's own tables are the role's to use and change.
    db.run("INSERT INTO users VALUES ('u_1')", &[])
        .expect("insert");
    db.run("CREATE TABLE notes (id int PRIMARY KEY, body text)", &[])
        .expect("create");
    db.run("ALTER TABLE notes ADD COLUMN at text", &[])
        .expect("alter");
    // Logged in as the sandbox role: its session user, not flux's.
    assert_eq!(
        db.rows(
            "SELECT current_user = session_user AND session_user LIKE '%\\_flux\\_sql' AS sandboxed",
            &[]
        ),
        [json!({"sandboxed": true})]
    );
    // And the deadline holds after a statement tried to lift it.
    let _ = db.run("SET LOCAL statement_timeout = 0", &[]);
    let short = deadline_in(Duration::from_millis(100));
    let slept = db.sql.run_alone(
        &mut db.client,
        &|| db.sandbox.connect(),
        "SELECT pg_sleep(5)",
        &[],
        &short,
    );
    assert!(matches!(slept, Err(SqlError::Stopped(Stop::Deadline))));
}

/// What a user reads of a change: table, operation, key, images.
fn seen(mutations: &[Mutation]) -> Vec<(String, MutationOp, Value, Value, Value)> {
    let image =
        |i: &Option<serde_json::Map<String, Value>>| i.clone().map_or(Value::Null, Value::Object);
    let mut seen: Vec<_> = mutations
        .iter()
        .map(|m| {
            assert!(m.committed);
            (
                m.table.clone(),
                m.op,
                m.pk.clone(),
                image(&m.before),
                image(&m.after),
            )
        })
        .collect();
    // Engines visit a multi-row statement's rows in their own order.
    seen.sort_by_key(|(_, _, pk, _, _)| pk.to_string());
    seen
}

const CAPTURED: &str =
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL, visits INTEGER);
    CREATE TABLE memberships (user_id TEXT, team TEXT, role TEXT, PRIMARY KEY (user_id, team));";

const STATEMENTS: [&str; 7] = [
    "INSERT INTO users VALUES ('u_1', 'ada@example.com', 1)",
    "INSERT INTO users VALUES ('u_2', 'bob@example.com', 0), ('u_3', 'cy@example.com', NULL)",
    "UPDATE users SET visits = coalesce(visits, 0) + 1 WHERE id <> 'u_1'",
    "UPDATE users SET id = 'u_9' WHERE id = 'u_2'",
    "INSERT INTO memberships VALUES ('u_1', 'core', 'owner'), ('u_9', 'core', 'member')",
    "DELETE FROM users WHERE id IN ('u_3', 'u_9')",
    "SELECT * FROM users",
];

#[test]
fn row_changes_are_captured_as_sqlite_captures_them() {
    let mut db = open(CAPTURED);
    let mut sqlite = rusqlite::Connection::open_in_memory().expect("open");
    sqlite.execute_batch(CAPTURED).expect("schema");
    let mut capture = Capture::install(&mut sqlite);
    for sql in STATEMENTS {
        let pg = db.run(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
        capture.begin_statement();
        let changed = sqlite.execute(sql, []).or_else(|_| {
            sqlite
                .prepare(sql)
                .and_then(|mut s| s.query([])?.next().map(|_| 0))
        });
        changed.unwrap_or_else(|e| panic!("SQLite {sql}: {e}"));
        let lite = capture.finish_statement(&sqlite, None, 0, true);
        assert_eq!(seen(&pg.mutations), seen(&lite), "{sql}");
    }
    capture.uninstall(&mut sqlite);

    // What a user reads in DATA CHANGES, spelled out for two of them.
    let mut db = open(CAPTURED);
    db.run(STATEMENTS[0], &[]).expect("insert");
    let renamed = db
        .run("UPDATE users SET id = 'u_5' WHERE id = 'u_1'", &[])
        .expect("update");
    assert_eq!(renamed.result.changes, 1);
    assert_eq!(
        seen(&renamed.mutations),
        [(
            "users".to_string(),
            MutationOp::Update,
            json!("u_5"),
            json!({"id": "u_1", "email": "ada@example.com", "visits": 1}),
            json!({"id": "u_5", "email": "ada@example.com", "visits": 1}),
        )]
    );
    let team = db
        .run(
            "INSERT INTO memberships VALUES ('u_5', 'core', 'owner')",
            &[],
        )
        .expect("insert");
    assert_eq!(team.mutations[0].pk, json!(["u_5", "core"]));
}

#[test]
fn only_flux_statements_are_captured_and_new_tables_are_too() {
    let mut db = open(CAPTURED);
    // Another tool's write (no flux.capture) stages nothing.
    db.flux
        .batch_execute("INSERT INTO users VALUES ('u_0', 'psql@example.com', 0)")
        .expect("psql's insert");
    assert_eq!(db.staged(), 0);
    db.run("CREATE TABLE notes (id serial PRIMARY KEY, body text)", &[])
        .expect("create");
    let noted = db
        .run(
            "INSERT INTO notes (body) VALUES ('hello') RETURNING id",
            &[],
        )
        .expect("insert");
    assert_eq!(
        seen(&noted.mutations),
        [(
            "notes".to_string(),
            MutationOp::Insert,
            json!(1),
            Value::Null,
            json!({"id": 1, "body": "hello"}),
        )]
    );
    // A failed statement's changes are undone with it, and none is left staged.
    let failed = db.run(
        "INSERT INTO notes (id, body) VALUES (2, 'a'), (2, 'b')",
        &[],
    );
    assert!(failed.is_err());
    assert_eq!(db.staged(), 0);
}

#[test]
fn a_write_run_again_is_prepared_and_keeps_its_values_outcome_and_deadline() {
    let mut db = open(
        "CREATE TABLE kinds (id int PRIMARY KEY, label text, blob bytea, tags text[],
            doc jsonb, n numeric, at timestamptz)",
    );
    let insert = "INSERT INTO kinds VALUES ($1, $2, $3, $4, $5, $6, $7)";
    // Quotes, backslashes, comments, a second statement and flux's own placeholders.
    let awkward = "it's a \\ back'slash\\' and ünïcødé \n -- not a comment; DROP TABLE kinds \
                   @SL@); DELETE FROM kinds; -- @S@ @TAKE@ @SETTLE@";
    let values = |id: i64| {
        [
            json!(id),
            json!(awkward),
            json!({"$blob": "00ff27"}),
            json!(["a'b", "c\\d", null]),
            json!({"q": "'", "b": "\\"}),
            json!("12.50"),
            Value::Null,
        ]
    };
    for id in 1..=3 {
        let outcome = db.run(insert, &values(id)).expect("insert");
        assert_eq!(outcome.result.changes, 1);
        assert_eq!(outcome.mutations.len(), 1, "run {id}");
        assert_eq!(outcome.mutations[0].pk, json!(id));
    }
    // Runs after the first went as a statement prepared on the connection.
    assert_eq!(
        db.rows(
            "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'flux\\_%'",
            &[]
        ),
        [json!({"n": 1})]
    );
    let rows = db.rows(
        "SELECT id, label, blob, tags, doc, n, at FROM kinds ORDER BY id",
        &[],
    );
    assert_eq!(rows.len(), 3);
    for (id, row) in (1..=3).zip(&rows) {
        assert_eq!(
            row,
            &json!({"id": id, "label": awkward, "blob": {"$blob": "00ff27"},
                "tags": ["a'b", "c\\d", null], "doc": {"b": "\\", "q": "'"}, "n": "12.50",
                "at": null})
        );
    }
    // A count of many rows, and the changes of each.
    let update = "UPDATE kinds SET n = n + 1 WHERE id <= $1";
    for _ in 0..2 {
        let outcome = db.run(update, &[json!(2)]).expect("update");
        assert_eq!(outcome.result.changes, 2);
        assert_eq!(outcome.mutations.len(), 2);
    }
    // Its error is its own, and the connection goes on.
    let error = db.refused_with(insert, &values(1));
    assert!(error.contains("duplicate key"), "{error}");
    // Deallocated by the user's SQL: it runs the long way, as well.
    db.run("DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$", &[])
        .expect("deallocate");
    let outcome = db.run(insert, &values(4)).expect("insert after DEALLOCATE");
    assert_eq!(outcome.mutations.len(), 1);
    // The deadline stops it as it stops any statement.
    let slow = "UPDATE kinds SET n = n + 1 WHERE id = $1 AND pg_sleep($2) IS NOT NULL";
    for _ in 0..2 {
        db.run(slow, &[json!(1), json!(0)]).expect("quick");
    }
    let started = Instant::now();
    let stopped = db.sql.run_alone(
        &mut db.client,
        &|| db.sandbox.connect(),
        slow,
        &[json!(1), json!(30)],
        &deadline_in(Duration::from_millis(300)),
    );
    assert!(
        matches!(stopped, Err(SqlError::Stopped(Stop::Deadline))),
        "{:?}",
        stopped.err()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        db.rows("SELECT n FROM kinds WHERE id = 1", &[]),
        [json!({"n": "16.50"})]
    );
}

/// What an earlier execution leaves in the connection's session does not change how a later
/// one's statement or values are read, nor which table its changes are keyed by.
#[test]
fn an_earlier_statement_s_session_settings_reach_no_later_one() {
    let mut db = open(
        "CREATE TABLE notes (id int PRIMARY KEY, body text);
        INSERT INTO notes VALUES (0, 'sentinel');",
    );
    // Under standard_conforming_strings = off, '\' opens an escape: this one statement would
    // read as two, the second deleting every note.
    let insert = "INSERT INTO notes VALUES ($1, concat('\\', ')); DELETE FROM notes; --'))";
    db.run(insert, &[json!(1)]).expect("described and run once");
    db.run(
        "SELECT set_config('standard_conforming_strings', 'off', false)::text AS s",
        &[],
    )
    .expect("an execution changes its session");
    db.run(insert, &[json!(2)]).expect("run again, prepared");
    assert_eq!(
        db.rows("SELECT id, body FROM notes ORDER BY id", &[]),
        [
            json!({"id": 0, "body": "sentinel"}),
            json!({"id": 1, "body": "\\)); DELETE FROM notes; --"}),
            json!({"id": 2, "body": "\\)); DELETE FROM notes; --"}),
        ]
    );
    // A temporary table of the same name, made by the statement that wrote: its changes are
    // still keyed by the app table's primary key, for this execution and the later ones.
    db.run(
        "CREATE FUNCTION shadow() RETURNS int LANGUAGE plpgsql AS $$ BEGIN \
         CREATE TEMP TABLE IF NOT EXISTS notes (body text PRIMARY KEY, id int); RETURN 3; END $$",
        &[],
    )
    .expect("create");
    db.run("CREATE TABLE other (n int PRIMARY KEY)", &[])
        .expect("a DDL statement forgets the keys seen");
    let shadowed = db
        .run("INSERT INTO notes (id, body) SELECT shadow(), 'three'", &[])
        .expect("insert");
    assert_eq!(shadowed.mutations.len(), 1);
    assert_eq!(shadowed.mutations[0].pk, json!(3));
    let next = db
        .run("UPDATE notes SET body = 'four' WHERE id = 3", &[])
        .expect("update");
    assert_eq!(next.mutations[0].pk, json!(3));
}

#[test]
fn a_lone_statement_commits_only_when_it_succeeds_to_the_end() {
    let mut db = open(
        "CREATE TABLE teams (id int PRIMARY KEY);
        CREATE TABLE members (id int PRIMARY KEY,
            team int REFERENCES teams DEFERRABLE INITIALLY DEFERRED);",
    );
    // Its rows came back past the cap: the rows it wrote are undone with it.
    let small = Limits {
        max_result_bytes: 4096,
        ..limits()
    };
    let reconnect = || db.sandbox.connect();
    let capped = db.sql.run_alone(
        &mut db.client,
        &reconnect,
        "INSERT INTO teams SELECT g FROM generate_series(1, 1000) g RETURNING id",
        &[],
        &small,
    );
    assert!(
        matches!(capped, Err(SqlError::TooLarge { .. })),
        "{:?}",
        capped.err()
    );
    // A constraint checked only at COMMIT fails the statement, with nothing captured.
    let deferred = db.run("INSERT INTO members VALUES (1, 99)", &[]);
    match deferred {
        Err(SqlError::Postgres(e)) => assert_eq!(e.sqlstate, "23503", "{e}"),
        other => panic!("{:?}", other.err()),
    }
    assert_eq!(
        db.rows(
            "SELECT (SELECT count(*) FROM teams)::int AS teams, \
             (SELECT count(*) FROM members)::int AS members",
            &[]
        ),
        [json!({"teams": 0, "members": 0})]
    );
    // The connection goes on, in a transaction of the next statement's own.
    let added = db.run("INSERT INTO teams VALUES (1)", &[]).expect("insert");
    assert_eq!(added.mutations.len(), 1);
}

#[test]
fn a_statement_changing_many_rows_is_captured_whole_and_in_order() {
    let mut db = open("CREATE TABLE notes (id int PRIMARY KEY, body text)");
    db.in_transaction(|session| {
        let mut run = |sql: &str| session.statement(sql, &[], &limits(), None, 0);
        // Far more than the staged setting holds: the changes spill into rows, in order.
        let (inserted, changes) =
            run("INSERT INTO notes SELECT g, repeat('x', g % 50) FROM generate_series(1, 3000) g");
        assert_eq!(inserted.expect("insert").changes, 3000);
        let ids: Vec<Value> = changes.iter().map(|m| m.pk.clone()).collect();
        assert_eq!(ids, (1..=3000).map(|i| json!(i)).collect::<Vec<_>>());
        assert_eq!(
            changes[2999].after,
            json!({"id": 3000, "body": ""}).as_object().cloned()
        );
        // A failed statement that had spilled leaves nothing behind for the next one.
        let (failed, undone) =
            run("UPDATE notes SET body = 'z', id = CASE WHEN id = 3000 THEN 1 ELSE id END");
        assert!(failed.is_err(), "a duplicate key is refused");
        assert!(undone.is_empty());
        let (updated, changes) = run("UPDATE notes SET body = 'y' WHERE id <= 2");
        assert_eq!(updated.expect("update").changes, 2);
        let seen: Vec<(Value, Option<Value>)> = changes
            .iter()
            .map(|m| (m.pk.clone(), m.after.as_ref().map(|a| a["body"].clone())))
            .collect();
        assert_eq!(
            seen.len(),
            2,
            "only the second statement's changes: {seen:?}"
        );
        assert!(seen.iter().all(|(_, body)| body == &Some(json!("y"))));
        // User SQL that forges the staged setting misleads only its own record.
        let (forged, changes) = run("SELECT set_config('flux.staged', '[\"a\", not json', true)");
        forged.expect("the statement itself runs");
        assert!(changes.is_empty(), "{changes:?}");
    });
    assert_eq!(db.staged(), 0, "nothing left spilled");
}

/// What capture costs per row: `nice -n 19 cargo test --test it -- --ignored
/// pg_sql::capture_cost --nocapture` (figures in ARCHITECTURE.md): each statement on a table
/// without the trigger, with it as the server runs it (staging only), and through
/// [`UserSql::run`] (staging, reading the staged rows back and building the mutations).
#[test]
#[ignore = "a benchmark"]
fn capture_cost() {
    const ROWS: i64 = 100_000;
    let mut db = open(
        "CREATE TABLE plain (id int PRIMARY KEY, body text, n int);
        CREATE TABLE staged (id int PRIMARY KEY, body text, n int);
        CREATE TABLE captured (id int PRIMARY KEY, body text, n int);",
    );
    db.client
        .batch_execute("DROP TRIGGER _flux_capture ON plain")
        .expect("no trigger on plain");
    let per_row = |started: Instant| started.elapsed().as_secs_f64() * 1e6 / ROWS as f64;
    let mut figures = Vec::new();
    for (verb, statement) in [
        (
            "INSERT",
            "INSERT INTO {} SELECT g, 'row ' || g, 0 FROM generate_series(1, 100000) g",
        ),
        ("UPDATE", "UPDATE {} SET n = n + 1"),
    ] {
        let started = Instant::now();
        db.run(&statement.replace("{}", "plain"), &[])
            .expect("plain");
        let plain = per_row(started);
        let mut tx = db.flux.transaction().expect("begin");
        tx.batch_execute("SET LOCAL flux.capture = 'on'")
            .expect("set");
        let started = Instant::now();
        tx.batch_execute(&statement.replace("{}", "staged"))
            .expect("staged");
        let staged = per_row(started);
        tx.commit().expect("commit");
        db.flux
            .batch_execute("TRUNCATE _flux_spilled")
            .expect("truncate");
        let started = Instant::now();
        let outcome = db
            .run(&statement.replace("{}", "captured"), &[])
            .expect("captured");
        let captured = per_row(started);
        assert_eq!(outcome.mutations.len(), ROWS as usize);
        figures.push(format!(
            "{verb} {plain:.1} without the trigger, {staged:.1} staged, {captured:.1} captured"
        ));
    }
    println!("{ROWS} rows per statement, µs/row: {}", figures.join("; "));
}

/// As in production: flux connects as the database's owner, not a superuser (with CREATEROLE
/// to make the sandbox role once). Its tables stay out of reach, and the sandbox's own tables
/// are captured.
#[test]
fn a_database_owner_without_superuser_runs_the_sandbox_too() {
    let mut db = open_at(&owned_database(), "");
    let superuser: bool = db
        .flux
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .expect("role")
        .get(0);
    assert!(!superuser);
    for sql in [
        "SELECT count(*) FROM _flux_records",
        "SELECT * FROM _flux_spilled",
    ] {
        assert!(db.refused(sql).contains("permission denied"), "{sql}");
    }
    db.run("CREATE TABLE notes (id int PRIMARY KEY, body text)", &[])
        .expect("create");
    let noted = db
        .run("INSERT INTO notes VALUES (1, 'hi')", &[])
        .expect("insert");
    assert_eq!(noted.mutations.len(), 1);
    assert_eq!(
        noted.mutations[0].after,
        json!({"id": 1, "body": "hi"}).as_object().cloned()
    );
}

#[test]
fn a_statement_run_again_after_its_columns_changed_type_is_described_again() {
    let mut db = open("CREATE TABLE items (id int PRIMARY KEY, tag int, flag int)");
    let insert = "INSERT INTO items (id, tag, flag) VALUES ($1, $2, $3)";
    // Its parameters' types are kept from this first run: int, int, int; the second runs
    // it prepared by name, with those types.
    db.run(insert, &[json!(1), json!(7), json!(true)])
        .expect("first insert");
    db.run(insert, &[json!(0), json!(8), json!(false)])
        .expect("second insert");
    // Another connection (a migration) changes the columns under it.
    db.flux
        .batch_execute(
            "ALTER TABLE items ALTER COLUMN tag TYPE uuid USING NULL; \
             ALTER TABLE items ALTER COLUMN flag TYPE boolean USING flag <> 0",
        )
        .expect("alter");
    let uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let outcome = db
        .run(insert, &[json!(2), json!(uuid), json!(true)])
        .expect("run with the new types, not the kept ones");
    assert_eq!(outcome.result.changes, 1);
    assert_eq!(
        outcome.mutations.len(),
        1,
        "captured once: {:?}",
        outcome.mutations
    );
    assert_eq!(
        db.rows(
            "SELECT id, tag::text AS tag, flag FROM items ORDER BY id",
            &[]
        ),
        [
            json!({"id": 0, "tag": null, "flag": false}),
            json!({"id": 1, "tag": null, "flag": true}),
            json!({"id": 2, "tag": uuid, "flag": true}),
        ]
    );
    // A value wrong for the new type is the statement's own error, said once.
    let error = db.refused_with(insert, &[json!(3), json!(7), json!(false)]);
    assert!(error.contains("uuid"), "{error}");
    assert_eq!(db.staged(), 0, "nothing left staged");
    assert_eq!(
        db.rows("SELECT count(*)::int AS n FROM items", &[]),
        [json!({"n": 3})]
    );
}
