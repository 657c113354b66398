//! The job engines, as the runner of the attempts the queue's dispatcher claims.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Engine, ExecutionRequest, Shared};
use crate::project::FunctionFile;
use crate::queue::{Attempt, Ended, Runner};
use crate::record::{ExecId, Kind};

/// The pool of job engines (`queue.engines` threads running up to `queue.concurrency` attempts
/// at once), at a lower CPU priority than HTTP's.
pub struct JobEngines {
    shared: Arc<Shared>,
    engine: Option<Engine>,
    ended: Option<Ended>,
}

impl JobEngines {
    pub fn start(
        shared: Arc<Shared>,
        engines: usize,
        in_flight: usize,
    ) -> std::io::Result<JobEngines> {
        let engine = Engine::start(Arc::clone(&shared), engines, in_flight, "job")?;
        Ok(JobEngines {
            shared,
            engine: Some(engine),
            ended: None,
        })
    }

    /// The file serving jobs named `name` (a missing one makes the attempt fail, recorded).
    fn function(&self, name: &str) -> FunctionFile {
        self.shared.lookup(name).unwrap_or_else(|| FunctionFile {
            name: name.to_string(),
            module: format!("{name}.ts"),
            path: self
                .shared
                .layout
                .functions_dir()
                .join(format!("{name}.ts")),
            modified: None,
            len: 0,
        })
    }
}

impl Runner for JobEngines {
    fn run(&mut self, attempts: Vec<Attempt>) {
        let Some(engine) = &self.engine else {
            return;
        };
        // Once per name and round: a lookup looks at the file on disk.
        let mut functions: HashMap<String, FunctionFile> = HashMap::new();
        for attempt in attempts {
            let function = functions
                .entry(attempt.job.name.clone())
                .or_insert_with(|| self.function(&attempt.job.name))
                .clone();
            let request = ExecutionRequest {
                id: attempt.id,
                kind: Kind::Job,
                function,
                recorded_input: attempt.input.clone(),
                input: attempt.input,
                method: None,
                path: None,
                timeout: attempt.timeout,
                links: attempt.links,
                job: Some(attempt.job),
            };
            // Its record comes back to the store thread; the reply follows it.
            let id = attempt.id;
            let ended = self.ended.clone();
            let _ = engine.submit(
                request,
                Box::new(move |_| {
                    if let Some(ended) = ended {
                        ended(id);
                    }
                }),
            );
        }
    }

    fn on_ended(&mut self, ended: Ended) {
        self.ended = Some(ended);
    }

    fn has_worker(&self, name: &str) -> bool {
        self.shared.functions().get(name).is_some()
    }

    fn workers(&self) -> Vec<String> {
        // A BTreeMap's keys: sorted.
        self.shared.functions().functions.keys().cloned().collect()
    }

    /// Its engine stops it as it stops one cancelled here, and forgets the ask at its end.
    fn cancel(&self, id: ExecId) {
        self.shared.cancels.ask(id);
    }

    fn stop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.stop();
        }
    }
}
