//! The store writer: one thread that commits finished records in batches, so that recording
//! costs a request a channel send and not a transaction.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::{write_records, Store, StoreWrite};

const MAX_BATCH: usize = 1_000;

/// Called with each batch once it is committed.
pub type OnWritten = Box<dyn Fn(&[StoreWrite]) + Send>;

/// Starts the writer; it drains `records` until every sender is gone, then returns.
pub fn spawn_writer(
    store: Store,
    records: Receiver<StoreWrite>,
    on_written: OnWritten,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("flux-store-writer".into())
        .spawn(move || {
            let mut conn = match store.connect() {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("error: the record writer cannot open the store: {e}");
                    return;
                }
            };
            while let Ok(first) = records.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match records.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                let mut delay = Duration::from_millis(5);
                // A busy store (a long user transaction) delays records; it must not drop them.
                while let Err(e) = write_records(&mut conn, &batch, store.write_lock()) {
                    if delay > Duration::from_secs(5) {
                        eprintln!(
                            "error: {} execution records could not be stored: {e}",
                            batch.len()
                        );
                        break;
                    }
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                on_written(&batch);
            }
        })
}
