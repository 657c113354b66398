//! Errors nobody caught: a timer callback's throw (reported by the glue) and a promise
//! rejected with no handler (QuickJS's rejection tracker). A rejection is held until the
//! end of the entry into JS, since a handler attached later in the same turn (an `await` of
//! an already rejected promise) makes it handled, as in Node; what is left then is recorded
//! on the execution it belongs to, also after its function returned.

use std::cell::RefCell;
use std::rc::Rc;

use rquickjs::runtime::RejectionTracker;
use rquickjs::{Ctx, Function, Object, Value};

use super::super::stack;
use super::{tag, Bridge, HostState, Token};
use crate::record::{ErrorInfo, Uncaught, UncaughtOrigin};

/// A rejection with no handler yet, in this entry.
pub struct Unhandled {
    /// The promise's identity (its address), to forget it when a handler comes.
    promise: usize,
    token: Token,
    error: ErrorInfo,
}

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Function<'js>> {
    let b = bridge.clone();
    // `origin` is "microtask" for a queueMicrotask callback, else a timer's.
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, error: Value<'js>, origin: rquickjs::function::Opt<String>| {
            let info = describe(&ctx, &error);
            let origin = match origin.0.as_deref() {
                Some("microtask") => UncaughtOrigin::Microtask,
                _ => UncaughtOrigin::Timer,
            };
            b.run_quietly(&ctx, |state| {
                let token = state.current;
                state.record_uncaught(token, origin, info);
            });
        },
    )
}

/// The tracker QuickJS calls when a promise is rejected with no handler (`handled` false),
/// and when one is attached to it later (`handled` true).
pub fn tracker(state: Rc<RefCell<HostState>>) -> RejectionTracker {
    Box::new(move |ctx, promise, reason, handled| {
        // SAFETY: a promise is an object: its value holds a pointer, used only as an identity.
        let address = unsafe { promise.as_raw().u.ptr } as usize;
        if handled {
            if let Ok(mut state) = state.try_borrow_mut() {
                state.unhandled.retain(|u| u.promise != address);
            }
            return;
        }
        // Described before the state is borrowed: reading the error may run its getters.
        let error = describe(&ctx, &reason);
        let Ok(mut state) = state.try_borrow_mut() else {
            return;
        };
        // Code resumed for an ended execution runs as nobody: the entry's execution then.
        let token = match tag::current(&ctx) {
            0 => state.entering,
            token => token,
        };
        if token != 0 {
            state.unhandled.push(Unhandled {
                promise: address,
                token,
                error,
            });
        }
    })
}

impl HostState {
    /// Records an error nobody caught on execution `token` (running or ending).
    pub fn record_uncaught(&mut self, token: Token, origin: UncaughtOrigin, error: ErrorInfo) {
        if let Some(exec) = self.execs.get_mut(&token) {
            let at_us = exec.recorder.elapsed_us();
            exec.recorder.uncaught.push(Uncaught {
                origin,
                error,
                at_us,
                after_end: exec.ended,
            });
        }
    }

    /// The end of an entry into JS: the rejections still without a handler are uncaught.
    pub fn settle_unhandled(&mut self) {
        for unhandled in std::mem::take(&mut self.unhandled) {
            self.record_uncaught(unhandled.token, UncaughtOrigin::Rejection, unhandled.error);
        }
    }
}

/// What the record keeps of a thrown or rejected value, as the glue's `describe` does.
fn describe<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> ErrorInfo {
    let text = |object: &Object<'js>, key: &str| {
        object
            .get::<_, Option<String>>(key)
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
    };
    if let Some(error) = value.as_exception() {
        let stack = text(error, "stack");
        let frames = stack.as_deref().map(stack::frames).unwrap_or_default();
        return ErrorInfo {
            name: text(error, "name").unwrap_or_else(|| "Error".into()),
            message: text(error, "message").unwrap_or_default(),
            location: text(error, "__fluxSite").or_else(|| stack::location(&frames)),
            stack,
            frames,
            source: Vec::new(),
        };
    }
    let shown = ctx
        .json_stringify(value.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("{value:?}"));
    let stack = stack::throw_site(ctx, value.clone());
    let frames = stack.as_deref().map(stack::frames).unwrap_or_default();
    ErrorInfo {
        name: "Error".into(),
        message: format!("a non-Error value was thrown: {shown}"),
        location: stack::location(&frames),
        stack,
        frames,
        source: Vec::new(),
    }
}
