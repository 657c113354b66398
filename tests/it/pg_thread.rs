//! The store thread on PostgreSQL: a statement outside a transaction is committed when its
//! call answers, a `ctx.db.transaction` holds its own connection until it ends (and nothing
//! else sees its writes before), and finished records are stored in commit order and handed
//! to the subscribers (which feed `flux tail`). And `flux dev --database` runs the project's
//! HTTP functions on it, with their records and row changes there.

use std::sync::Arc;
use std::time::Duration;

use flux::record::ExecId;
use flux::store::postgres::{PgStore, PgStoreThread, PgThreadOptions};
use flux::store::statement::Limits;
use flux::store::{writer_channel, Call, OnCommitted, RecordLookup, Storage, TxControl, Writer};
use serde_json::{json, Value};

use crate::pg_store::http;
use crate::support::pg::{fresh_database, owned_database};
use crate::support::{wait_for, Project, Server, DEADLINE};

fn limits() -> Limits {
    Limits {
        stop: Arc::new(|| None),
        deadline_ns: 0,
        max_result_bytes: 1 << 20,
        flushed_by_record: false,
    }
}

struct Running {
    store: PgStore,
    writer: Writer,
    records: crossbeam_channel::Sender<flux::store::StoreWrite>,
    committed: crossbeam_channel::Receiver<(Vec<String>, Vec<i64>)>,
    thread: PgStoreThread,
}

fn start() -> Running {
    let store = PgStore::open(&fresh_database()).expect("open");
    store
        .connect()
        .expect("connect")
        .batch_execute("CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL)")
        .expect("schema");
    let (writer, calls) = writer_channel();
    let writer = writer.for_postgres();
    let (records, records_rx) = crossbeam_channel::unbounded();
    let (committed_tx, committed) = crossbeam_channel::unbounded();
    let subscriber: OnCommitted = Box::new(move |writes, seqs, _| {
        let ids = writes.iter().map(|w| w.record.id.to_string()).collect();
        let _ = committed_tx.send((ids, seqs.to_vec()));
    });
    let options = PgThreadOptions {
        statements: 2,
        transactions: 2,
        ..PgThreadOptions::default()
    };
    let thread = PgStoreThread::start(&store, options, calls, records_rx, vec![subscriber])
        .expect("store thread");
    Running {
        store,
        writer,
        records,
        committed,
        thread,
    }
}

/// Runs one statement through the store thread for `owner`.
fn statement(
    writer: &Writer,
    owner: ExecId,
    durable: bool,
    sql: &'static str,
    params: Vec<Value>,
) -> Result<usize, String> {
    writer.call(owner, TxControl::None, durable, move |session| {
        let (result, changes) = session.statement(sql, &params, &limits(), Some(1), 7);
        result.map_err(|e| e.to_string())?;
        Ok(changes.len())
    })
}

/// Begins, commits or rolls back `owner`'s transaction, as `ctx.db.transaction` does (its
/// end answers once committed).
fn control(writer: &Writer, owner: ExecId, control: TxControl) -> Result<(), String> {
    writer.call(owner, control, control != TxControl::Begin, |_| Ok(()))
}

/// Notes as another connection sees them.
fn notes(store: &PgStore) -> Vec<i32> {
    store
        .connect()
        .expect("connect")
        .query("SELECT id FROM notes ORDER BY id", &[])
        .expect("notes")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

const INSERT: &str = "INSERT INTO notes (id, body) VALUES ($1, $2)";

#[test]
fn a_statement_alone_is_committed_when_its_call_answers_with_its_row_change() {
    let running = start();
    let owner = ExecId::random();
    let changes = statement(
        &running.writer,
        owner,
        true,
        INSERT,
        vec![json!(1), json!("a")],
    );
    assert_eq!(changes, Ok(1), "one row change captured");
    assert_eq!(notes(&running.store), [1], "committed before the answer");
    // Asked for without durability, its answer still waits for the commit: the next
    // statement may run on another connection.
    let changes = statement(
        &running.writer,
        owner,
        false,
        INSERT,
        vec![json!(2), json!("b")],
    );
    assert_eq!(changes, Ok(1));
    assert_eq!(notes(&running.store), [1, 2]);
    let failed = statement(
        &running.writer,
        owner,
        true,
        INSERT,
        vec![json!(1), json!("c")],
    );
    assert!(
        failed.as_ref().is_err_and(|e| e.contains("duplicate key")),
        "PostgreSQL's own message: {failed:?}"
    );
    running.thread.stop();
}

#[test]
fn a_transaction_holds_its_writes_until_it_commits_and_a_rollback_undoes_them() {
    let running = start();
    let (writer, store) = (&running.writer, &running.store);
    let owner = ExecId::random();
    assert_eq!(control(writer, owner, TxControl::Begin), Ok(()));
    assert_eq!(
        statement(writer, owner, false, INSERT, vec![json!(1), json!("a")]),
        Ok(1)
    );
    // Another execution's statement runs meanwhile, on its own connection.
    let other = ExecId::random();
    assert_eq!(
        statement(writer, other, true, INSERT, vec![json!(2), json!("b")]),
        Ok(1)
    );
    assert_eq!(
        notes(store),
        [2],
        "the open transaction's row is not seen yet"
    );
    assert_eq!(control(writer, owner, TxControl::Commit), Ok(()));
    assert_eq!(notes(store), [1, 2], "committed when the commit answers");

    assert_eq!(control(writer, owner, TxControl::Begin), Ok(()));
    assert_eq!(
        statement(writer, owner, false, INSERT, vec![json!(3), json!("c")]),
        Ok(1)
    );
    assert_eq!(control(writer, owner, TxControl::Rollback), Ok(()));
    assert_eq!(notes(store), [1, 2], "rolled back");
    running.thread.stop();
}

#[test]
fn a_transaction_still_open_at_its_deadline_is_rolled_back_and_cannot_commit() {
    let running = start();
    let (writer, store) = (&running.writer, &running.store);
    let owner = ExecId::random();
    let (begun_tx, begun) = crossbeam_channel::bounded(1);
    let call = Call {
        owner,
        control: TxControl::Begin,
        durable: false,
        deadline: Some(std::time::Instant::now() + Duration::from_millis(300)),
        alone: false,
    };
    writer.submit(call, |_| Ok(()), move |r| drop(begun_tx.send(r)));
    assert_eq!(begun.recv_timeout(DEADLINE).expect("begun"), Ok(()));
    assert_eq!(
        statement(writer, owner, false, INSERT, vec![json!(5), json!("held")]),
        Ok(1)
    );
    // Another execution's insert of the same key waits on the row lock until the rollback.
    let other = ExecId::random();
    assert_eq!(
        statement(writer, other, true, INSERT, vec![json!(5), json!("free")]),
        Ok(1),
        "the held row was let go at the deadline"
    );
    let late = control(writer, owner, TxControl::Commit);
    assert!(
        late.as_ref().is_err_and(|e| e.contains("deadline")),
        "{late:?}"
    );
    assert_eq!(notes(store), [5]);
    running.thread.stop();
}

#[test]
fn records_are_stored_in_commit_order_told_to_subscribers_and_kept_at_a_stop() {
    let running = start();
    let first = http(
        "a0000000000000000000000000000001",
        "hello",
        "ok",
        1,
        json!({}),
    );
    let second = http(
        "a0000000000000000000000000000002",
        "hello",
        "ok",
        2,
        json!({}),
    );
    running.records.send(first).expect("send");
    let (ids, seqs) = running.committed.recv_timeout(DEADLINE).expect("committed");
    assert_eq!(ids, ["a0000000000000000000000000000001"]);
    assert!(matches!(
        running
            .store
            .find_record("a0000000000000000000000000000001"),
        Ok(RecordLookup::Found(_))
    ));
    // Sent just before the stop: stored before the stop returns.
    running.records.send(second).expect("send");
    running.thread.stop();
    let (later, later_seqs) = running
        .committed
        .recv_timeout(Duration::ZERO)
        .expect("stored at the stop");
    assert_eq!(later, ["a0000000000000000000000000000002"]);
    assert!(later_seqs[0] > seqs[0], "commit order");
    let tail = running
        .store
        .tail_history(None, None, &Default::default(), 10)
        .expect("tail");
    assert_eq!(tail.len(), 2, "both in the tail's history");
}

#[test]
fn flux_dev_on_postgresql_runs_a_function_whose_row_and_record_are_read_back() {
    let project = Project::example();
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    let reply = server.post_json(
        "/create_user",
        r#"{"email": "ada@example.com", "name": "Ada", "id": "u_ada"}"#,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["id"], "u_ada");
    let request = reply.request_id();

    // The row is in PostgreSQL when the response has left.
    let store = PgStore::open(&url).expect("open");
    let rows = store
        .connect()
        .expect("connect")
        .query("SELECT email FROM users WHERE id = 'u_ada'", &[])
        .expect("users");
    assert_eq!(rows.len(), 1, "the user's row is committed");

    // The record, and the row change it made, read back through the server.
    let trace = wait_for("the request's record", DEADLINE, || {
        let (code, out, _) = project.run(&["trace", &request]);
        (code == 0).then_some(out)
    });
    assert!(trace.contains("create_user"), "{trace}");
    assert!(trace.contains("users"), "the insert's span: {trace}");
    let (code, history, stderr) = project.run(&["state", "history", "users"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(history.contains("ada@example.com"), "{history}");
    assert!(
        history.contains(&request[..8]),
        "the change names its request: {history}"
    );
    assert!(
        matches!(store.find_record(&request), Ok(RecordLookup::Found(_))),
        "the record is in PostgreSQL"
    );
    let output = server.stop();
    assert!(
        !output.contains("not pruned") && !output.contains("queue does not run"),
        "nothing is left out on PostgreSQL now: {output}"
    );
}

#[test]
fn flux_dev_on_postgresql_commits_a_transaction_and_rolls_back_one_that_throws() {
    let project = Project::with_files(&[
        (
            "migrations/001_notes.sql",
            "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL);",
        ),
        (
            "functions/note.ts",
            "export default async function handler(req, ctx) {
  try {
    await ctx.db.transaction(async (tx) => {
      await tx.insert('notes', { id: req.query.id, body: 'in tx' })
      if (req.query.id === 'no') throw new Error('changed my mind')
    })
  } catch (e) { return { caught: e.message } }
  return (await ctx.db.query('SELECT id FROM notes ORDER BY id')).map((r) => r.id)
}",
        ),
    ]);
    let url = owned_database();
    let server = Server::start(&project, &["--database", &url]);
    let kept = server.get("/note?id=yes");
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(kept.json(), json!(["yes"]), "committed, then read");
    let undone = server.get("/note?id=no");
    assert_eq!(undone.json(), json!({ "caught": "changed my mind" }));
    let store = PgStore::open(&url).expect("open");
    let ids: Vec<String> = store
        .connect()
        .expect("connect")
        .query("SELECT id FROM notes ORDER BY id", &[])
        .expect("notes")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids, ["yes"], "the thrown transaction left nothing");
    server.stop();
}

#[test]
fn flux_tail_on_one_of_two_processes_sharing_a_database_shows_both_processes_records() {
    let (first, second) = (Project::example(), Project::example());
    let url = owned_database();
    let one = Server::start(&first, &["--database", &url]);
    let two = Server::start(&second, &["--database", &url]);
    let a = one.post_json("/create_user", r#"{"email": "a@example.com", "id": "u_a"}"#);
    assert_eq!(a.status, 201, "{}", a.body);
    let a = a.request_id();
    // Records are stored after the response: the second request waits for the first's.
    wait_for("the first record", DEADLINE, || {
        (second.run(&["trace", &a]).0 == 0).then_some(())
    });
    let b = two.post_json("/create_user", r#"{"email": "b@example.com", "id": "u_b"}"#);
    assert_eq!(b.status, 201, "{}", b.body);
    let b = b.request_id();
    // The history in commit order, from either process.
    let tail = wait_for("both records in the tail", DEADLINE, || {
        let (_, out, _) = first.run(&["tail", "--no-follow", "--last", "1h"]);
        (out.contains(&a[..8]) && out.contains(&b[..8])).then_some(out)
    });
    let (at, bt) = (tail.find(&a[..8]), tail.find(&b[..8]));
    assert!(at < bt, "in commit order: {tail}");
    one.stop();
    two.stop();
}

/// `ctx.db.transaction` inside an atomic attempt (whose own transaction the first `Begin`
/// opened): a savepoint, whose rollback undoes its statements only and whose commit does not
/// end the attempt's transaction.
#[test]
fn a_transaction_begun_inside_another_is_a_savepoint_of_it() {
    let running = start();
    let (writer, store) = (&running.writer, &running.store);
    let owner = ExecId::random();
    let insert = |id: i32| statement(writer, owner, false, INSERT, vec![json!(id), json!("x")]);
    assert_eq!(control(writer, owner, TxControl::Begin), Ok(()));
    assert_eq!(insert(1), Ok(1));
    assert_eq!(control(writer, owner, TxControl::Begin), Ok(()));
    assert_eq!(insert(2), Ok(1));
    assert_eq!(control(writer, owner, TxControl::Rollback), Ok(()));
    assert_eq!(insert(3), Ok(1));
    assert_eq!(control(writer, owner, TxControl::Begin), Ok(()));
    assert_eq!(insert(4), Ok(1));
    assert_eq!(control(writer, owner, TxControl::Commit), Ok(()));
    assert_eq!(notes(store), Vec::<i32>::new(), "nothing committed yet");
    assert_eq!(control(writer, owner, TxControl::Commit), Ok(()));
    assert_eq!(notes(store), [1, 3, 4]);
    running.thread.stop();
}
