//! The store thread on PostgreSQL: a statement outside a transaction is committed when its
//! call answers, a `ctx.db.transaction` holds its own connection until it ends (and nothing
//! else sees its writes before), and finished records are stored in commit order and handed
//! to the subscribers (which feed `flux tail`).

use std::sync::Arc;
use std::time::Duration;

use flux::record::ExecId;
use flux::store::postgres::{PgStore, PgStoreThread, PgThreadOptions};
use flux::store::statement::Limits;
use flux::store::{writer_channel, OnCommitted, RecordLookup, Storage, TxControl, Writer};
use serde_json::{json, Value};

use crate::pg_store::http;
use crate::support::pg::fresh_database;
use crate::support::DEADLINE;

fn limits() -> Limits {
    Limits {
        stop: Arc::new(|| None),
        deadline_ns: 0,
        max_result_bytes: 1 << 20,
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
    let (records, records_rx) = crossbeam_channel::unbounded();
    let (committed_tx, committed) = crossbeam_channel::unbounded();
    let subscriber: OnCommitted = Box::new(move |writes, seqs, _| {
        let ids = writes.iter().map(|w| w.record.id.to_string()).collect();
        let _ = committed_tx.send((ids, seqs.to_vec()));
    });
    let options = PgThreadOptions {
        statements: 2,
        transactions: 2,
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
    // Not durable either: on PostgreSQL nothing waits for a group commit.
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
