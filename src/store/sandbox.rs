//! What user SQL (functions' statements and the project's migrations) may do, enforced by
//! SQLite itself rather than by reading the statement's text: an authorizer that refuses
//! anything reaching past the app's own tables (ATTACH, flux's `_flux_*` tables, pragmas that
//! change the connection, transaction control, dangerous functions) and a progress handler
//! that stops a statement past its execution's deadline or flux dev's shutdown.
//!
//! Both are installed on every connection (`Store::connect`) and stay idle until the running
//! thread enters user SQL through [`run_as`]: flux's own statements on the same connections
//! are not affected. The state is per thread because a connection runs on one thread at a
//! time, and user SQL runs synchronously inside [`run_as`].

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{ffi, Connection};

/// What a function's `BEGIN`, `COMMIT` or `SAVEPOINT` is told, on either engine.
pub const TRANSACTION_REFUSED: &str =
    "transactions are not controlled with SQL here: use ctx.db.transaction(async (tx) => …)";

/// Why a running statement was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Its execution's deadline passed.
    Deadline,
    /// flux dev is stopping and its grace period is over.
    Shutdown,
}

/// Tells whether the statement running for an execution must stop now.
pub type StopCheck = Arc<dyn Fn() -> Option<Stop> + Send + Sync>;

/// Who wrote the SQL: both get the same limits, but different advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Function,
    Migration,
}

/// What happened while user SQL ran: why SQLite refused it or stopped it, if it did.
#[derive(Debug, Default)]
pub struct Verdict {
    pub refused: Option<String>,
    pub stopped: Option<Stop>,
}

struct Active {
    author: Author,
    stop: Option<StopCheck>,
    verdict: Verdict,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// VM instructions between two looks at the clock: well under a millisecond of work.
const PROGRESS_STEPS: i32 = 10_000;

/// Installs the authorizer and the progress handler on `conn`, turns on SQLite's defensive
/// mode (no writes to `sqlite_master` or raw pages, even with `writable_schema`) and allows no
/// attached database (`VACUUM INTO` attaches its target too).
pub fn install(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    // SAFETY: a plain setting on a valid connection handle.
    unsafe {
        ffi::sqlite3_limit(conn.handle(), ffi::SQLITE_LIMIT_ATTACHED, 0);
    }
    conn.authorizer(Some(authorize))?;
    conn.progress_handler(PROGRESS_STEPS, Some(must_stop))
}

/// Runs `work` (which prepares and runs user SQL on this thread) under the sandbox.
pub fn run_as<T>(
    author: Author,
    stop: Option<StopCheck>,
    work: impl FnOnce() -> T,
) -> (T, Verdict) {
    let previous = ACTIVE.with(|active| {
        active.borrow_mut().replace(Active {
            author,
            stop,
            verdict: Verdict::default(),
        })
    });
    // Restores the previous state even if `work` panics, so that flux's own statements on
    // this thread are never left sandboxed.
    let _restore = Restore(Some(previous));
    let result = work();
    let verdict = ACTIVE.with(|active| {
        active
            .borrow_mut()
            .as_mut()
            .map(|a| std::mem::take(&mut a.verdict))
            .unwrap_or_default()
    });
    (result, verdict)
}

struct Restore(Option<Option<Active>>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            ACTIVE.with(|active| *active.borrow_mut() = previous);
        }
    }
}

fn must_stop() -> bool {
    ACTIVE.with(|active| {
        let mut active = active.borrow_mut();
        let Some(active) = active.as_mut() else {
            return false;
        };
        let Some(stop) = active.stop.as_ref().and_then(|check| check()) else {
            return false;
        };
        active.verdict.stopped = Some(stop);
        true
    })
}

fn authorize(context: AuthContext<'_>) -> Authorization {
    ACTIVE.with(|active| {
        let mut active = active.borrow_mut();
        let Some(active) = active.as_mut() else {
            return Authorization::Allow;
        };
        match refusal(active.author, &context.action) {
            None => Authorization::Allow,
            Some(reason) => {
                // The first refusal is the one the user's statement met.
                active.verdict.refused.get_or_insert(reason);
                Authorization::Deny
            }
        }
    })
}

/// Pragmas that only describe the schema; any other could change how the store's connection
/// behaves (`query_only`, `foreign_keys`, `writable_schema`, `hard_heap_limit` …).
const SCHEMA_PRAGMAS: [&str; 7] = [
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
];

/// Functions that reach outside the database.
const REFUSED_FUNCTIONS: [&str; 5] = [
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

/// Tables and table modules that read the file's raw pages, whatever table they belong to.
const RAW_PAGE_TABLES: [&str; 2] = ["sqlite_dbpage", "dbstat"];

fn is_internal(table: &str) -> bool {
    table
        .get(..6)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("_flux_"))
}

fn is_raw_pages(table: &str) -> bool {
    RAW_PAGE_TABLES
        .iter()
        .any(|name| table.eq_ignore_ascii_case(name))
}

/// Why `action` is not allowed to SQL written by `author`, if it is not.
fn refusal(author: Author, action: &AuthAction<'_>) -> Option<String> {
    use AuthAction::*;
    let internal = |table: &str| {
        is_internal(table).then(|| {
            format!(
                "{table} is one of flux's own tables (_flux_*): SQL from the project cannot read \
                 or change them; flux trace, flux queue and the /_flux/api show what they hold"
            )
        })
    };
    match *action {
        Attach { .. } | Detach { .. } => Some(
            "ATTACH and DETACH are not allowed: SQL from the project reaches only the project's \
             database"
                .into(),
        ),
        Transaction { .. } | Savepoint { .. } => Some(match author {
            Author::Function => TRANSACTION_REFUSED.into(),
            Author::Migration => "each migration runs in a transaction of its own: remove \
                 BEGIN, COMMIT and SAVEPOINT from the file"
                .into(),
        }),
        Pragma { pragma_name, .. } => {
            let name = pragma_name.to_ascii_lowercase();
            (!SCHEMA_PRAGMAS.contains(&name.as_str())).then(|| {
                format!(
                    "PRAGMA {name} is not allowed: only schema pragmas (table_info, index_list, \
                     foreign_key_list, …) run here; the store's settings are flux's"
                )
            })
        }
        Function { function_name } => REFUSED_FUNCTIONS
            .iter()
            .any(|name| function_name.eq_ignore_ascii_case(name))
            .then(|| format!("{function_name}() is not allowed in SQL from the project")),
        Read { table_name, .. } if is_raw_pages(table_name) => Some(format!(
            "{table_name} reads the database's raw pages and is not allowed"
        )),
        CreateVtable { module_name, .. } | DropVtable { module_name, .. }
            if is_raw_pages(module_name) =>
        {
            Some(format!(
                "{module_name} reads the database's raw pages and is not allowed"
            ))
        }
        Read { table_name, .. }
        | Insert { table_name }
        | Update { table_name, .. }
        | Delete { table_name }
        | CreateTable { table_name }
        | CreateTempTable { table_name }
        | DropTable { table_name }
        | DropTempTable { table_name }
        | CreateIndex { table_name, .. }
        | CreateTempIndex { table_name, .. }
        | DropIndex { table_name, .. }
        | DropTempIndex { table_name, .. }
        | CreateTrigger { table_name, .. }
        | CreateTempTrigger { table_name, .. }
        | DropTrigger { table_name, .. }
        | DropTempTrigger { table_name, .. }
        | AlterTable { table_name, .. }
        | Analyze { table_name }
        | CreateVtable { table_name, .. }
        | DropVtable { table_name, .. } => internal(table_name),
        Reindex { index_name } => internal(index_name),
        CreateView { view_name } | CreateTempView { view_name } => internal(view_name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandboxed() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        install(&mut conn).expect("install");
        conn.execute_batch("CREATE TABLE _flux_records (id, body); CREATE TABLE app (x);")
            .expect("schema");
        conn
    }

    fn run(conn: &Connection, sql: &str) -> (rusqlite::Result<()>, Verdict) {
        run_as(Author::Function, None, || conn.execute_batch(sql))
    }

    #[test]
    fn flux_tables_are_out_of_reach_of_user_sql_only() {
        let conn = sandboxed();
        for sql in [
            "SELECT body FROM _flux_records",
            "SELECT count(*) FROM _FLUX_RECORDS",
            "DELETE FROM _flux_records",
            "UPDATE _flux_records SET body = 1",
            "INSERT INTO _flux_records VALUES (1, 2)",
            "DROP TABLE _flux_records",
            "CREATE INDEX i ON _flux_records (body)",
            "CREATE TEMP TRIGGER t AFTER INSERT ON _flux_records BEGIN SELECT 1; END",
            "CREATE TABLE _flux_mine (x)",
        ] {
            let (result, verdict) = run(&conn, sql);
            assert!(result.is_err(), "{sql}");
            let reason = verdict
                .refused
                .unwrap_or_else(|| panic!("{sql}: no reason"));
            assert!(reason.contains("flux's own tables"), "{sql}: {reason}");
        }
        conn.execute("INSERT INTO _flux_records VALUES (1, 2)", [])
            .expect("flux's own statements still run");
        let (result, _) = run(&conn, "INSERT INTO app VALUES (1); SELECT x FROM app");
        result.expect("the app's tables are the project's");
    }

    #[test]
    fn a_trigger_on_an_app_table_cannot_write_flux_tables() {
        let conn = sandboxed();
        let (created, _) = run(
            &conn,
            "CREATE TRIGGER sneaky AFTER INSERT ON app BEGIN DELETE FROM _flux_records; END",
        );
        created.expect("a trigger on the app's table is the project's");
        conn.execute("INSERT INTO _flux_records VALUES (1, 2)", [])
            .expect("record");
        let (fired, verdict) = run(&conn, "INSERT INTO app VALUES (1)");
        assert!(fired.is_err());
        assert!(verdict.refused.is_some_and(|r| r.contains("_flux_records")));
        let left: i64 = conn
            .query_row("SELECT count(*) FROM _flux_records", [], |row| row.get(0))
            .expect("count");
        assert_eq!(left, 1);
    }

    #[test]
    fn connection_settings_attach_and_transactions_are_refused() {
        let conn = sandboxed();
        for (sql, expected) in [
            ("PRAGMA query_only = 1", "PRAGMA query_only"),
            ("PRAGMA main.writable_schema = 1", "PRAGMA writable_schema"),
            ("SELECT * FROM pragma_database_list", "PRAGMA database_list"),
            ("ATTACH ':memory:' AS other", "ATTACH"),
            ("VACUUM INTO '/tmp/flux-sandbox-test.db'", "ATTACH"),
            ("BEGIN", "ctx.db.transaction"),
            ("SAVEPOINT a", "ctx.db.transaction"),
            ("SELECT load_extension('x')", "load_extension"),
        ] {
            let (result, verdict) = run(&conn, sql);
            assert!(result.is_err(), "{sql}");
            let reason = verdict.refused.unwrap_or_default();
            assert!(reason.contains(expected), "{sql}: {reason}");
        }
        assert!(!std::path::Path::new("/tmp/flux-sandbox-test.db").exists());
        let (result, _) = run(&conn, "PRAGMA table_info(app)");
        result.expect("schema pragmas run");
        let query_only: i64 = conn
            .query_row("PRAGMA query_only", [], |row| row.get(0))
            .expect("pragma");
        assert_eq!(query_only, 0);
    }

    #[test]
    fn a_panic_in_user_sql_leaves_the_thread_unsandboxed() {
        let conn = sandboxed();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_as(Author::Function, None, || panic!("inside user SQL"))
        }));
        assert!(panicked.is_err());
        conn.execute("DELETE FROM _flux_records", [])
            .expect("flux's own statements run unsandboxed");
    }

    #[test]
    fn a_statement_stops_when_told() {
        let conn = sandboxed();
        let stop: StopCheck = Arc::new(|| Some(Stop::Deadline));
        let (result, verdict) = run_as(Author::Function, Some(stop), || {
            conn.query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                 SELECT count(*) FROM c",
                [],
                |row| row.get::<_, i64>(0),
            )
        });
        assert!(result.is_err());
        assert_eq!(verdict.stopped, Some(Stop::Deadline));
    }
}
