//! Which execution any JS code belongs to. QuickJS is patched (vendor/rquickjs-sys,
//! FLUX-PATCH.md) to keep a tag per runtime that each queued job and promise reaction carries
//! from where it was registered: the engine sets the tag to the execution's token when it
//! enters JS for it, and code resumed later (an `await` continuation, a `then` callback) runs
//! under the token of the execution that awaited, whoever settled the promise.

use rquickjs::{qjs, Context, Ctx};

use super::host::Token;

extern "C" {
    fn JS_SetCurrentTag(rt: *mut qjs::JSRuntime, tag: i64);
    fn JS_GetCurrentTag(rt: *mut qjs::JSRuntime) -> i64;
}

fn runtime_of(ctx: *mut qjs::JSContext) -> *mut qjs::JSRuntime {
    // SAFETY: `ctx` is a live context (borrowed from a `Ctx` or `Context`).
    unsafe { qjs::JS_GetRuntime(ctx) }
}

/// The execution whose code runs now (0: none).
pub fn current(ctx: &Ctx<'_>) -> Token {
    // SAFETY: the runtime outlives the `Ctx` borrowed from it.
    unsafe { JS_GetCurrentTag(runtime_of(ctx.as_raw().as_ptr())) as Token }
}

/// Runs what follows as execution `token` (0: none).
pub fn set(ctx: &Ctx<'_>, token: Token) {
    // SAFETY: as above.
    unsafe { JS_SetCurrentTag(runtime_of(ctx.as_raw().as_ptr()), token as i64) }
}

/// The tag of a runtime, read where no `Ctx` is at hand (its interrupt handler).
pub struct RuntimeTag(*mut qjs::JSRuntime);

impl RuntimeTag {
    pub fn of(context: &Context) -> RuntimeTag {
        RuntimeTag(runtime_of(context.as_raw().as_ptr()))
    }

    /// Valid while the runtime lives: the interrupt handler holding it is dropped with it.
    pub fn current(&self) -> Token {
        // SAFETY: see above.
        unsafe { JS_GetCurrentTag(self.0) as Token }
    }
}
