//! `console`: lines kept in the record and printed by `flux dev`, under the same caps.

use rquickjs::{Ctx, Function, Object};

use super::{Bridge, HostState};
use crate::runtime::recorder::{self, Logged};

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let console = Object::new(ctx.clone())?;
    let b = bridge.clone();
    console.set(
        "log",
        Function::new(ctx.clone(), move |level: String, message: String| {
            b.run_quietly(|state| state.log(&level, message));
        })?,
    )?;
    Ok(console)
}

impl HostState {
    /// Records a console line of the running execution and prints it; outside an execution
    /// it goes nowhere.
    pub fn log(&mut self, level: &str, message: String) {
        if let Some(exec) = self.exec.as_mut() {
            let prefix = if level == "error" || level == "warn" {
                format!("[{}] {level}:", exec.function)
            } else {
                format!("[{}]", exec.function)
            };
            // The terminal shows what the record keeps, under the same caps.
            match exec.recorder.log(level, message) {
                Logged::Kept => {
                    let kept = exec.recorder.console.last().map(|l| l.message.as_str());
                    for line in crate::render::escaped_lines(kept.unwrap_or_default()) {
                        eprintln!("{} {line}", crate::render::escape(&prefix));
                    }
                }
                Logged::Dropped { first: true } => eprintln!(
                    "[{}] … console output capped: one execution keeps at most {} lines and {} KiB; \
                     the rest is not printed nor recorded (flux trace {} counts it)",
                    crate::render::escape(&exec.function),
                    recorder::MAX_CONSOLE_LINES,
                    recorder::MAX_CONSOLE_BYTES / 1024,
                    exec.id.short(),
                ),
                Logged::Dropped { first: false } => {}
            }
        }
    }
}
