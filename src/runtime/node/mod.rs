//! Node's built-in modules (`node:buffer`, `node:events`, …): the node-builtins part builds
//! them; this is the interface the loader calls, provided by none yet.

use rquickjs::{Ctx, Object};

/// The exports object of built-in `name` (`events` or `node:events`), built on first use in
/// this context; `None` when flux does not provide it.
pub fn builtin_exports<'js>(_ctx: &Ctx<'js>, _name: &str) -> rquickjs::Result<Option<Object<'js>>> {
    Ok(None)
}
