//! Call chains read from QuickJS-ng stacks (`    at sendMail (helper.ts:4:10)`), and where a
//! value that is not an `Error` was thrown (QuickJS is patched to remember it:
//! vendor/rquickjs-sys/FLUX-PATCH.md).

use std::sync::OnceLock;

use regex::Regex;
use rquickjs::{qjs, Ctx, Value};

use crate::record::Frame;

extern "C" {
    fn JS_GetThrowSite(ctx: *mut qjs::JSContext, value: qjs::JSValue) -> qjs::JSValue;
}

/// The stack where `value`, not an `Error`, was thrown by a `throw` statement, when it is the
/// last such value thrown in this context.
pub fn throw_site<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Option<String> {
    // SAFETY: `ctx` is live and `value` belongs to it; the returned value is owned (a
    // duplicated reference or undefined) and handed to `Value::from_raw`, which frees it.
    let site = unsafe {
        let raw = JS_GetThrowSite(ctx.as_raw().as_ptr(), value.as_raw());
        Value::from_raw(ctx.clone(), raw)
    };
    site.as_string().and_then(|s| s.to_string().ok())
}

/// The frames of a stack, innermost first: project files as the loader names them (relative
/// to `functions/`), a package's files from `node_modules/` on and marked as such; flux's own
/// frames (`flux:*`) and native ones left out.
pub fn frames(stack: &str) -> Vec<Frame> {
    static LINE: OnceLock<Regex> = OnceLock::new();
    let line = LINE.get_or_init(|| {
        Regex::new(r"^\s*at (?:(.*?) \()?([^()\s]+):(\d+):(\d+)\)?\s*$").expect("a valid regex")
    });
    stack
        .lines()
        .filter_map(|text| {
            let captures = line.captures(text)?;
            let file = &captures[2];
            if file.starts_with("flux:") || file.starts_with('<') {
                return None;
            }
            let function = captures
                .get(1)
                .map(|m| m.as_str())
                .filter(|name| !name.is_empty() && *name != "<anonymous>")
                .map(String::from);
            let (file, package) = match file.find("node_modules/") {
                Some(at) => (file[at..].to_string(), true),
                None => (file.to_string(), false),
            };
            Some(Frame {
                function,
                file,
                line: captures[3].parse().ok()?,
                column: captures[4].parse().ok(),
                package,
            })
        })
        .collect()
}

/// `file.ts:line` of the first frame in the project's own code.
pub fn location(frames: &[Frame]) -> Option<String> {
    frames
        .iter()
        .find(|frame| !frame.package)
        .map(|frame| format!("{}:{}", frame.file, frame.line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_the_project_and_packages_and_drop_flux() {
        let stack = "    at parse (../node_modules/zod/lib/index.js:12:5)\n    at sendMail (helper.ts:4:10)\n    at <anonymous> (lib/x.ts:2:1)\n    at <anonymous> (flux:host.js:385:18)\n    at forEach (native)\n";
        let frames = frames(stack);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].file, "node_modules/zod/lib/index.js");
        assert!(frames[0].package);
        assert_eq!(frames[0].function.as_deref(), Some("parse"));
        assert_eq!(frames[1].file, "helper.ts");
        assert_eq!((frames[1].line, frames[1].column), (4, Some(10)));
        assert_eq!(frames[2].function, None);
        assert_eq!(location(&frames).as_deref(), Some("helper.ts:4"));
    }
}
