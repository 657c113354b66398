//! A small bounded pool of PostgreSQL connections: the readers' calls take one for the call
//! and give it back. At most `max` are open at once (a caller past that waits for one to be
//! given back, up to [`WAIT`]); a connection that broke is dropped rather than given back, and
//! a read that found its connection closed by the server runs again on a new one.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use super::super::{Result, StoreError};

/// How long a call waits for a connection when all are in use.
pub const WAIT: Duration = Duration::from_secs(30);

pub(super) struct Pool {
    config: postgres::Config,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    idle: Vec<Client>,
    /// Connections open, idle or lent out.
    open: usize,
}

/// A connection lent out; it goes back to the pool when dropped.
pub(super) struct Pooled<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Pool {
    pub(super) fn new(config: postgres::Config, max: usize) -> Pool {
        Pool {
            config,
            max: max.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// An idle connection, a new one while fewer than `max` are open, or the next one given
    /// back.
    pub(super) fn get(&self) -> Result<Pooled<'_>> {
        let until = Instant::now() + WAIT;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(client) = state.idle.pop() {
                return Ok(self.lend(client));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(self.lend(client)),
                    Err(error) => {
                        self.forget_one();
                        Err(StoreError::Postgres(error))
                    }
                };
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::PoolExhausted {
                    max: self.max,
                    waited: WAIT,
                });
            }
            state = self
                .returned
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Runs the read `work` on a connection; when the server had closed it since it was last
    /// used (a restart, a killed backend), on a new one once more. Only for reads, which may
    /// run twice.
    pub(super) fn read<T>(&self, mut work: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        let mut client = self.get()?;
        match work(&mut client) {
            Err(StoreError::Postgres(e)) if lost(&e) => {
                drop(client);
                work(&mut *self.get()?)
            }
            other => other,
        }
    }

    fn lend(&self, client: Client) -> Pooled<'_> {
        Pooled {
            pool: self,
            client: Some(client),
        }
    }

    fn forget_one(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open -= 1;
        drop(state);
        self.returned.notify_one();
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if client.is_closed() {
            self.pool.forget_one();
            return;
        }
        let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        state.idle.push(client);
        drop(state);
        self.pool.returned.notify_one();
    }
}

impl Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a lent connection is there until dropped")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a lent connection is there until dropped")
    }
}

/// Whether `error` says the connection is gone rather than answering: a closed socket, or the
/// server ending the session (administrator command, crash, shutdown) or the connection
/// (class 08).
pub(super) fn lost(error: &postgres::Error) -> bool {
    error.as_db_error().is_none_or(|db| {
        let code = db.code().code();
        code.starts_with("57P0") || code.starts_with("08")
    })
}
