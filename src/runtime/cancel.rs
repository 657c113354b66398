//! Cancellation of running job attempts (`POST /_flux/api/jobs/<id>/cancel`): the server asks
//! by execution id, the engine running it looks at every turn of its loop (so an attempt
//! awaiting something stops there) and in its interrupt handler (so one spinning in a loop is
//! stopped too). The attempt is then recorded as `cancelled`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::record::ExecId;

#[derive(Default)]
pub struct Cancels {
    asked: Mutex<HashSet<ExecId>>,
    /// How many are asked: read without the lock, since the interrupt handler asks often and
    /// almost always none is.
    count: AtomicUsize,
}

impl Cancels {
    /// Asks that execution `id` stop.
    pub fn ask(&self, id: ExecId) {
        let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
        asked.insert(id);
        self.count.store(asked.len(), Ordering::Release);
    }

    /// Whether execution `id` was asked to stop.
    pub fn asked(&self, id: &ExecId) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
        asked.contains(id)
    }

    /// Forgets the request for `id` (it ended, or the caller stopped waiting).
    pub fn forget(&self, id: &ExecId) {
        let mut asked = self.asked.lock().unwrap_or_else(|p| p.into_inner());
        if asked.remove(id) {
            self.count.store(asked.len(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asked_until_forgotten() {
        let cancels = Cancels::default();
        let (a, b) = (ExecId::random(), ExecId::random());
        assert!(!cancels.asked(&a));
        cancels.ask(a);
        assert!(cancels.asked(&a) && !cancels.asked(&b));
        cancels.forget(&a);
        assert!(!cancels.asked(&a));
    }
}
