//! `console`: lines kept in the record and printed by `flux dev`, under the same caps.

use rquickjs::{Ctx, Function, Object};

use super::{Bridge, HostState, Token};
use crate::runtime::recorder::{self, Logged};
use crate::runtime::Echo;

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let console = Object::new(ctx.clone())?;
    let b = bridge.clone();
    console.set(
        "log",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, level: String, message: String| {
                b.run_quietly(&ctx, |state| state.log(&level, message));
            },
        )?,
    )?;
    Ok(console)
}

impl HostState {
    /// Records a console line of the execution whose code runs now and echoes it to the
    /// terminal; outside an execution it goes nowhere.
    pub fn log(&mut self, level: &str, message: String) {
        let token = self.current;
        self.log_for(token, level, message);
    }

    /// Records a console line of execution `token`.
    pub fn log_for(&mut self, token: Token, level: &str, message: String) {
        if let Some(exec) = self.execs.get_mut(&token) {
            // The terminal shows what the record keeps, under the same caps.
            match exec.recorder.log(level, message) {
                Logged::Kept => {
                    let kept = exec.recorder.console.last().map(|l| l.message.clone());
                    (self.shared.echo)(Echo::Console {
                        function: exec.function.clone(),
                        level: level.to_string(),
                        message: kept.unwrap_or_default(),
                    });
                }
                Logged::Dropped { first: true } => (self.shared.echo)(Echo::ConsoleCapped {
                    function: exec.function.clone(),
                    exec: exec.id,
                    max_lines: recorder::MAX_CONSOLE_LINES,
                    max_bytes: recorder::MAX_CONSOLE_BYTES,
                }),
                Logged::Dropped { first: false } => {}
            }
        }
    }
}
