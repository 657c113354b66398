//! What `flux why` gathers around a record before explaining it: the execution that enqueued
//! it, the writer of a conflicting value, the app's schema, and the existence and recorded
//! changes of the rows the failure involves (as `why::lookups` asks). From the server when it
//! runs, else from the project's store. What cannot be read (a pruned record, an older server
//! without an endpoint) is left out: it only makes the answer plainer.

use serde_json::Value;

use super::source::read_or_store;
use super::trace::fetch_record;
use crate::api::{RowExists, Schema};
use crate::client::{encode, Target};
use crate::record::{ExecutionRecord, TableSchema};
use crate::store::ChangeFilter;
use crate::why::{lookups, unique_conflict, Related, RowPresence, Writer};

/// The most recorded changes read per row.
const HISTORY_PER_ROW: usize = 50;

pub fn gather(record: &ExecutionRecord, target: &Target) -> Related {
    let mut related = Related {
        enqueued_by: record
            .links
            .enqueued_by
            .and_then(|id| fetch_record(&id.to_string(), target).ok()),
        conflicting_writer: conflicting_writer(record, target),
        schema: schema(target),
        ..Default::default()
    };
    let wanted = lookups(record, &related);
    related.rows = wanted
        .presence
        .into_iter()
        .filter_map(|(table, column, value)| {
            let exists = row_exists(target, &table, &column, &value)?;
            Some(RowPresence {
                table,
                column,
                value,
                exists,
            })
        })
        .collect();
    related.row_history = wanted
        .history
        .into_iter()
        .flat_map(|(table, key)| {
            let filter = ChangeFilter {
                table,
                row: Some(match key {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
                limit: HISTORY_PER_ROW,
                ..Default::default()
            };
            super::state::fetch(target, &filter).unwrap_or_default()
        })
        .collect();
    related
}

/// For a uniqueness violation: the other execution that wrote the value already there.
fn conflicting_writer(record: &ExecutionRecord, target: &Target) -> Option<Writer> {
    let (table, column, value) = unique_conflict(record)?;
    let filter = ChangeFilter {
        table,
        column_value: Some((column, value.to_string())),
        limit: 10,
        ..Default::default()
    };
    let changes = super::state::fetch(target, &filter).ok()?;
    let change = changes
        .into_iter()
        .find(|c| c.record_id != record.id.to_string())?;
    let writer = fetch_record(&change.record_id, target).ok();
    Some(Writer {
        id: change.record_id,
        function: change.function,
        at_us: change.at_us,
        op: change.op,
        job_id: writer.as_ref().and_then(|w| w.links.job_id.clone()),
        attempt: writer.as_ref().and_then(|w| w.links.attempt),
    })
}

fn schema(target: &Target) -> Vec<TableSchema> {
    read_or_store(
        target,
        "/_flux/api/schema",
        |body: Schema<TableSchema>| body.tables,
        |store| store.schema(),
    )
    .unwrap_or_default()
}

fn row_exists(target: &Target, table: &str, column: &str, value: &Value) -> Option<bool> {
    let path = format!(
        "/_flux/api/rows/{}?column={}&value={}",
        encode(table),
        encode(column),
        encode(&value.to_string())
    );
    read_or_store(
        target,
        &path,
        |body: RowExists| body.exists,
        |store| store.row_exists(table, column, value),
    )
    .ok()
}
