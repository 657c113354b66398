//! `setTimeout` and `setInterval`: the glue keeps the callbacks, the host their due times,
//! which the worker's event loop waits for.

use std::time::{Duration, Instant};

use rquickjs::{Ctx, Function, Object};

use super::{Bridge, ExecState, HostState};

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let timers = Object::new(ctx.clone())?;
    let b = bridge.clone();
    timers.set(
        "set",
        Function::new(ctx.clone(), move |id: f64, delay_ms: f64| {
            b.run_quietly(|state| state.set_timer(id as u64, delay_ms));
        })?,
    )?;
    let b = bridge.clone();
    timers.set(
        "clear",
        Function::new(ctx.clone(), move |id: f64| {
            b.run_quietly(|state| state.clear_timer(id as u64));
        })?,
    )?;
    Ok(timers)
}

impl HostState {
    fn set_timer(&mut self, id: u64, delay_ms: f64) {
        if let Some(exec) = self.exec.as_mut() {
            let delay = Duration::from_secs_f64((delay_ms.max(0.0) / 1000.0).min(1e9));
            exec.timers.insert(id, Instant::now() + delay);
        }
    }

    fn clear_timer(&mut self, id: u64) {
        if let Some(exec) = self.exec.as_mut() {
            exec.timers.remove(&id);
        }
    }
}

impl ExecState {
    /// The timer due first, and when.
    pub fn next_timer_due(&self) -> Option<(u64, Instant)> {
        self.timers
            .iter()
            .min_by_key(|(_, due)| **due)
            .map(|(id, due)| (*id, *due))
    }
}
