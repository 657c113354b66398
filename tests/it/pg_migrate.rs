//! The project's migrations on PostgreSQL: applied in name order, each once (across
//! processes starting together too), a failing file rolled back whole and named at its line
//! with PostgreSQL's message; and SQL written for the other engine gets the portable form as
//! a hint, on either engine.

use std::path::Path;
use std::sync::{Arc, Barrier};

use flux::store::postgres::PgStore;
use flux::store::{apply_migrations, Storage, Store, StoreError};

use crate::support::pg::{fresh_database, owned_database};
use crate::support::{Project, Server};

fn write(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("migrations folder");
    for (name, sql) in files {
        std::fs::write(dir.join(name), sql).expect("write a migration");
    }
}

fn count(store: &PgStore, sql: &str) -> i64 {
    let mut client = store.connect().expect("connect");
    client.query_one(sql, &[]).expect(sql).get(0)
}

#[test]
fn migrations_apply_in_name_order_once_and_an_edited_one_is_reported_not_rerun() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 002 needs 001's table: name order, not the order the files were written in.
    write(
        dir.path(),
        &[
            (
                "002_seed.sql",
                "INSERT INTO items (label) VALUES ('first');",
            ),
            (
                "001_items.sql",
                "CREATE TABLE items (id SERIAL PRIMARY KEY, label TEXT);",
            ),
        ],
    );
    let store = PgStore::open(&fresh_database()).expect("open");
    let first = store.apply_migrations(dir.path()).expect("migrate");
    assert_eq!(first.applied, ["001_items.sql", "002_seed.sql"]);
    assert_eq!(count(&store, "SELECT count(*) FROM items"), 1);
    let mut client = store.connect().expect("connect");
    let stamped: Vec<(String, String)> = client
        .query(
            "SELECT name, applied_at FROM _flux_migrations ORDER BY name",
            &[],
        )
        .expect("bookkeeping")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(stamped.len(), 2);
    assert!(stamped[0].1.ends_with('Z'), "{stamped:?}");

    let again = store.apply_migrations(dir.path()).expect("migrate again");
    assert!(again.applied.is_empty() && again.changed.is_empty());
    assert_eq!(count(&store, "SELECT count(*) FROM items"), 1);

    // An applied file edited since: reported, not run again, as on SQLite.
    write(
        dir.path(),
        &[(
            "002_seed.sql",
            "INSERT INTO items (label) VALUES ('second');",
        )],
    );
    let edited = store
        .apply_migrations(dir.path())
        .expect("migrate after an edit");
    assert_eq!(edited.changed, ["002_seed.sql"]);
    assert_eq!(count(&store, "SELECT count(*) FROM items"), 1);
    let sqlite_dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&sqlite_dir.path().join("flux.db")).expect("sqlite");
    let mut conn = sqlite.connect().expect("connect");
    write(
        dir.path(),
        &[(
            "002_seed.sql",
            "INSERT INTO items (label) VALUES ('first');",
        )],
    );
    apply_migrations(&mut conn, dir.path()).expect("sqlite migrate");
    write(
        dir.path(),
        &[(
            "002_seed.sql",
            "INSERT INTO items (label) VALUES ('second');",
        )],
    );
    let on_sqlite = apply_migrations(&mut conn, dir.path()).expect("sqlite after an edit");
    assert_eq!(on_sqlite.changed, edited.changed);
}

#[test]
fn a_failing_migration_names_its_line_keeps_earlier_files_and_applies_none_of_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            ("001_users.sql", "CREATE TABLE users (id TEXT PRIMARY KEY);"),
            (
                "002_counters.sql",
                "CREATE TABLE half (x TEXT);\nCREATE TABLE counters (\n  id INTEGER PRIMARY KEY AUTOINCREMENT\n);",
            ),
        ],
    );
    let store = PgStore::open(&fresh_database()).expect("open");
    let error = store
        .apply_migrations(dir.path())
        .expect_err("002 is SQLite's SQL");
    let StoreError::Migration {
        file,
        message,
        hint,
    } = &error
    else {
        panic!("not a migration error: {error:?}")
    };
    // AUTOINCREMENT is on line 3, column 26.
    assert_eq!(file, "migrations/002_counters.sql:3:26");
    assert!(
        message.contains("syntax error at or near \"AUTOINCREMENT\""),
        "{message}"
    );
    assert!(message.contains("SQLSTATE 42601"), "{message}");
    assert!(
        hint.is_some_and(|h| h.contains("TEXT PRIMARY KEY")),
        "{hint:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("migration migrations/002_counters.sql:3:26 failed:"),
        "{error}"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM _flux_migrations"), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM users"), 0);
    let tables = count(
        &store,
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('half', 'counters')",
    );
    assert_eq!(tables, 0, "nothing of the failing file stays");
}

#[test]
fn processes_migrating_together_apply_each_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            ("001_runs.sql", "CREATE TABLE runs (file TEXT NOT NULL);"),
            ("002_a.sql", "INSERT INTO runs VALUES ('002');"),
            ("003_b.sql", "INSERT INTO runs VALUES ('003');"),
            // Its own transaction, as other tools' migrations often have.
            (
                "004_c.sql",
                "BEGIN;\nINSERT INTO runs VALUES ('004');\nCOMMIT;",
            ),
        ],
    );
    let url = fresh_database();
    // Tables first, so that the race is the migrations' own.
    drop(PgStore::open(&url).expect("open"));
    const PROCESSES: usize = 6;
    let start = Arc::new(Barrier::new(PROCESSES));
    let workers: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let (url, dir, start) = (url.clone(), dir.path().to_path_buf(), start.clone());
            std::thread::spawn(move || {
                let store = PgStore::open(&url).expect("open");
                start.wait();
                store.apply_migrations(&dir).expect("migrate").applied
            })
        })
        .collect();
    let mut applied: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a migrating thread"))
        .collect();
    applied.sort();
    assert_eq!(
        applied,
        ["001_runs.sql", "002_a.sql", "003_b.sql", "004_c.sql"]
    );
    let store = PgStore::open(&url).expect("open");
    assert_eq!(count(&store, "SELECT count(*) FROM runs"), 3);
}

#[test]
fn postgres_sql_in_a_migration_on_sqlite_names_its_line_and_the_portable_form() {
    let project = Project::with_files(&[
        ("functions/ok.ts", "export default () => ({ ok: true })"),
        (
            "migrations/001_notes.sql",
            "CREATE TABLE notes (\n  body TEXT,\n  at TEXT DEFAULT now()\n);",
        ),
    ]);
    let output = Server::try_start(&project, &[])
        .err()
        .expect("start-up must fail");
    assert!(output.contains("migrations/001_notes.sql:3:"), "{output}");
    assert!(output.contains("CURRENT_TIMESTAMP"), "{output}");
}

/// The tables as a user sees them, without the engine's own spelling of the SQL.
fn shape(store: &dyn Storage) -> Vec<(String, Vec<String>, Vec<String>)> {
    store
        .schema()
        .expect("schema")
        .into_iter()
        .map(|t| (t.name, t.columns, t.primary_key))
        .collect()
}

#[test]
fn the_examples_migrations_make_the_same_tables_on_sqlite_and_postgresql() {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/welcome/migrations");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open(&dir.path().join("flux.db")).expect("sqlite");
    let mut conn = sqlite.connect().expect("connect");
    let on_sqlite = apply_migrations(&mut conn, &migrations).expect("the example on SQLite");
    let pg = PgStore::open(&fresh_database()).expect("open");
    let on_pg = pg
        .apply_migrations(&migrations)
        .expect("the example on PostgreSQL");
    assert_eq!(on_sqlite.applied, on_pg.applied);
    assert_eq!(shape(&sqlite), shape(&pg));
    assert_eq!(
        shape(&pg),
        [(
            "users".to_string(),
            vec!["id", "email", "name", "created_at"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            vec!["id".to_string()],
        )]
    );
    // A row inserted by hand (as the README's story may) gets a time on both.
    let by_hand = "INSERT INTO users (id, email, name) VALUES ('u_99', 'a@b.com', 'Bea')";
    conn.execute(by_hand, []).expect("insert on SQLite");
    pg.connect()
        .expect("connect")
        .execute(by_hand, &[])
        .expect("insert on PostgreSQL");
    assert_eq!(
        count(&pg, "SELECT count(*) FROM users WHERE created_at <> ''"),
        1
    );
}

#[test]
fn the_examples_users_get_ids_like_the_readmes_and_iso_times() {
    let project = Project::example();
    let server = project.start();
    let reply = server.post_json(
        "/create_user",
        r#"{"email":"ada@example.com","name":"Ada"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.json()["id"].as_str().expect("id").to_string();
    let like_readme = regex::Regex::new("^u_[0-9a-f]{16}$").expect("regex");
    assert!(like_readme.is_match(&id), "{id}");
    let record = server.record(&reply.request_id());
    let after = &record["mutations"][0]["after"];
    assert_eq!(after["id"], id.as_str());
    let created = after["created_at"].as_str().expect("created_at");
    let iso = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").expect("regex");
    assert!(iso.is_match(created), "{created}");
}

#[test]
fn sqlite_sql_on_postgresql_names_its_line_and_the_portable_form() {
    // (the second line of a migration, what the hint must name)
    let cases = [
        (
            "  id INTEGER PRIMARY KEY AUTOINCREMENT,",
            "TEXT PRIMARY KEY",
        ),
        (
            "  at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),",
            "toISOString",
        ),
        ("  at TEXT DEFAULT (datetime('now')),", "CURRENT_TIMESTAMP"),
        (
            "  id TEXT DEFAULT (lower(hex(randomblob(8)))),",
            "crypto.randomUUID",
        ),
        ("  at DATETIME,", "TEXT"),
    ];
    let store = PgStore::open(&fresh_database()).expect("open");
    for (n, (line, portable)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = format!("CREATE TABLE t{n} (\n{line}\n  x TEXT\n);");
        write(dir.path(), &[("001.sql", &sql)]);
        let error = store.apply_migrations(dir.path()).expect_err(line);
        let StoreError::Migration { file, hint, .. } = &error else {
            panic!("not a migration error: {error:?}")
        };
        assert!(file.starts_with("migrations/001.sql:2:"), "{line}: {error}");
        assert!(
            hint.is_some_and(|h| h.contains(portable)),
            "{line}: {hint:?}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = "CREATE TABLE seen (k TEXT PRIMARY KEY);\nINSERT OR IGNORE INTO seen VALUES ('a');";
    write(dir.path(), &[("001.sql", sql)]);
    let error = store
        .apply_migrations(dir.path())
        .expect_err("INSERT OR IGNORE");
    let StoreError::Migration { file, hint, .. } = &error else {
        panic!("not a migration error: {error:?}")
    };
    assert!(file.starts_with("migrations/001.sql:2:"), "{error}");
    assert!(hint.is_some_and(|h| h.contains("ON CONFLICT")), "{hint:?}");
}

#[test]
fn flux_dev_on_a_postgresql_url_applies_the_migrations_once() {
    let project = Project::example();
    let url = owned_database();
    let server = Server::start_with_env(&project, &[], &[("FLUX_DATABASE_URL", &url)]);
    let stderr = server.stop();
    assert!(
        stderr.contains("migrated   migrations/001_users.sql"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not pruned"),
        "pruning runs there: {stderr}"
    );
    let store = PgStore::open(&url).expect("open");
    assert_eq!(
        count(&store, "SELECT count(*) FROM users"),
        0,
        "the example's table is there"
    );
    // A second start applies nothing again.
    let again = Server::start(&project, &["--database", &url]).stop();
    assert!(!again.contains("migrated "), "{again}");

    // SQLite's SQL stops it with PostgreSQL's message, the line and the portable form.
    project.write(
        "migrations/002_counters.sql",
        "CREATE TABLE counters (\n  id INTEGER PRIMARY KEY AUTOINCREMENT\n);",
    );
    let (code, _, failed) = project.run(&["dev", "--database", &url]);
    assert_ne!(code, 0);
    assert!(
        failed.contains(
            "migration migrations/002_counters.sql:2:26 failed: syntax error at or near \"AUTOINCREMENT\" (SQLSTATE 42601)"
        ),
        "{failed}"
    );
    assert!(
        failed.contains("hint: AUTOINCREMENT is SQLite's"),
        "{failed}"
    );
}

#[test]
fn flux_dev_names_a_bad_url_an_unreachable_server_and_a_refused_login() {
    let project = Project::example();
    let (code, _, stderr) = project.run(&["dev", "--database", "mysql://root:secret@db/app"]);
    assert_eq!(code, 2, "a usage error: {stderr}");
    assert!(stderr.contains("takes a postgres:// URL"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is never echoed: {stderr}"
    );
    let (code, _, stderr) = project.run(&["dev", "--database", "postgres://u@127.0.0.1:x/db"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("invalid value for option `port`"),
        "{stderr}"
    );

    // A port nobody listens on: taken, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let closed = format!("postgres://u:secret@127.0.0.1:{port}/app");
    let (code, _, stderr) = project.run(&["dev", "--database", &closed]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!(
            "cannot reach PostgreSQL at postgres://127.0.0.1:{port}/app"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");

    let cluster = crate::support::pg::cluster();
    let stranger = format!("postgres://nobody@127.0.0.1:{}/postgres", cluster.port);
    let (code, _, stderr) = project.run(&["dev", "--database", &stranger]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("refused the connection: role \"nobody\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("check the user and password"), "{stderr}");
}

/// Functions' SQL logs in as the sandbox role, so flux's own role may be a superuser; a
/// sandbox role someone made a superuser is refused, and nothing is served.
#[test]
fn flux_dev_runs_functions_as_the_sandbox_role_and_refuses_a_privileged_one() {
    let project = Project::example();
    let url = fresh_database();
    let server = Server::start(&project, &["--database", &url]);
    let reply = server.post_json(
        "/create_user",
        r#"{"email": "ada@example.com", "name": "Ada", "id": "u_ada"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    server.stop();
    let database = url.rsplit('/').next().expect("a database");
    let role = format!("{database}_flux_sql");
    let store = PgStore::open(&url).expect("open");
    store
        .connect()
        .expect("connect")
        .batch_execute(&format!("ALTER ROLE {role} SUPERUSER"))
        .expect("make the sandbox a superuser");
    let (code, _, stderr) = project.run(&["dev", "--port", "0", "--database", &url]);
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "flux will not run functions on PostgreSQL as {role}, which is a superuser"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("ALTER ROLE {role} NOSUPERUSER")),
        "{stderr}"
    );
}
