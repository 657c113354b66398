//! `setTimeout` and `setInterval`: the glue keeps the callbacks, the host their due times,
//! which the worker's event loop waits for.

use std::time::{Duration, Instant};

use rquickjs::{Ctx, Function, Object};

use super::{Bridge, ExecState, HostState, TimerSite, Token};

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let timers = Object::new(ctx.clone())?;
    let b = bridge.clone();
    timers.set(
        "set",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, delay_ms: f64, at: Option<String>| {
                let mut token = 0;
                b.run_quietly(&ctx, |state| {
                    token = state.set_timer(id as u64, delay_ms, at)
                });
                // The execution it belongs to, which the glue keeps with the callback.
                token as f64
            },
        )?,
    )?;
    let b = bridge.clone();
    timers.set(
        "clear",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, token: f64, id: f64| {
            b.run_quietly(&ctx, |state| state.clear_timer(token as Token, id as u64));
        })?,
    )?;
    Ok(timers)
}

impl HostState {
    /// Sets (or re-arms, for an interval) timer `id` for the execution whose code runs now;
    /// returns that execution's token (0 outside one: the timer never fires).
    fn set_timer(&mut self, id: u64, delay_ms: f64, at: Option<String>) -> Token {
        let token = self.current;
        match self.running(token) {
            Ok(exec) => {
                let delay = Duration::from_secs_f64((delay_ms.max(0.0) / 1000.0).min(1e9));
                exec.timers.insert(id, Instant::now() + delay);
                exec.timer_sites.insert(id, TimerSite { at, delay_ms });
                token
            }
            Err(_) => 0,
        }
    }

    fn clear_timer(&mut self, token: Token, id: u64) {
        if let Ok(exec) = self.running(token) {
            exec.timers.remove(&id);
            exec.timer_sites.remove(&id);
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
