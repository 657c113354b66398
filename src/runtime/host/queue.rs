//! `ctx.queue.enqueue`: a job for one of the project's workers, committed before the call
//! returns or, inside a transaction, with it.

use rquickjs::{Ctx, Function, Object};
use serde_json::{json, Map, Value};

use super::{site, Answer, Bridge, HostError, HostState, JsonArg, Token};
use crate::clock::now_us;
use crate::record::{attr, SpanKind, SpanStatus};
use crate::store::EnqueueOptions;
use crate::store::TxControl;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("ctx.queue.enqueue(name, data, opts): missing field `name`")]
    MissingName,
    #[error(
        "ctx.queue.enqueue(name, data): name must be the worker's name, e.g. 'send_welcome_email'"
    )]
    NameNotText,
    #[error("no worker named '{0}': create functions/{0}.ts to handle these jobs")]
    NoWorker(String),
    #[error("ctx.queue.enqueue options: {0}")]
    Options(serde_json::Error),
    #[error("{0}")]
    Enqueue(String),
}

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let queue = Object::new(ctx.clone())?;
    let b = bridge.clone();
    queue.set(
        "enqueue",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  token: f64,
                  name: JsonArg,
                  data: JsonArg,
                  opts: JsonArg,
                  at: Option<String>| {
                let token = token as Token;
                b.run(&ctx, |state| {
                    state.enqueue(token, name, data, opts, site(at))
                })
            },
        )?,
    )?;
    Ok(queue)
}

impl HostState {
    fn enqueue(
        &mut self,
        token: Token,
        name: JsonArg,
        data: JsonArg,
        opts: JsonArg,
        site: Option<String>,
    ) -> Result<Answer, HostError> {
        self.running(token)?;
        let name = match name.0 {
            None => return Err(QueueError::MissingName.into()),
            Some(Value::String(name)) => name,
            Some(_) => return Err(QueueError::NameNotText.into()),
        };
        if self.shared.lookup(&name).is_none() {
            return Err(QueueError::NoWorker(name).into());
        }
        let options: EnqueueOptions = match opts.0 {
            None | Some(Value::Null) => EnqueueOptions::default(),
            Some(opts) => serde_json::from_value(opts).map_err(QueueError::Options)?,
        };
        self.shared.enqueued.note(&name);
        let data = data.0.unwrap_or(Value::Null);
        let max_attempts = self.shared.config().worker(&name).max_attempts;
        let exec = self.running(token)?;
        let exec_id = exec.id;
        let mut attrs = Map::new();
        attrs.insert(attr::JOB.into(), Value::String(name.clone()));
        attrs.insert(attr::DATA.into(), data.clone());
        let span = exec
            .recorder
            .open(SpanKind::QueueEnqueue { job: name.clone() }, site, attrs);
        // Outside a transaction the job is committed before the call answers; inside one, with it.
        let durable = !exec.in_transaction && !exec.atomic;
        self.later(
            token,
            TxControl::None,
            durable,
            move |session| {
                session
                    .writes(|writes| {
                        writes.enqueue(
                            &name,
                            &data,
                            &options,
                            max_attempts,
                            Some(exec_id),
                            now_us(),
                        )
                    })?
                    .map_err(|e| e.to_string())
            },
            move |state, token, enqueued| {
                let recorder = &mut state.exec_mut(token)?.recorder;
                match enqueued {
                    Ok(job) => {
                        let mut done = Map::new();
                        done.insert(attr::JOB_ID.into(), Value::String(job.id.to_string()));
                        if job.duplicate {
                            done.insert(attr::DUPLICATE.into(), Value::Bool(true));
                        }
                        if let Some(tx) = recorder.transaction {
                            done.insert(attr::TRANSACTION.into(), Value::from(tx));
                        }
                        recorder.close(span, SpanStatus::Ok, None, done);
                        Ok(json!({ "id": job.id }))
                    }
                    Err(message) => {
                        recorder.close(span, SpanStatus::Error, Some(message.clone()), Map::new());
                        Err(QueueError::Enqueue(message).into())
                    }
                }
            },
        )
    }
}
