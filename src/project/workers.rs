//! Which functions are workers: named under `workers` in the config, or the target of an
//! enqueue. A worker is not served over HTTP unless its config says `http: true`.

use std::collections::BTreeSet;
use std::sync::RwLock;

use super::Config;

/// The names jobs were enqueued for: those in the store at start, then every enqueue.
#[derive(Debug, Default)]
pub struct EnqueuedNames(RwLock<BTreeSet<String>>);

impl EnqueuedNames {
    pub fn note(&self, name: &str) {
        if !self.contains(name) {
            let mut names = self.0.write().unwrap_or_else(|p| p.into_inner());
            names.insert(name.to_string());
        }
    }

    pub fn extend(&self, names: impl IntoIterator<Item = String>) {
        let mut set = self.0.write().unwrap_or_else(|p| p.into_inner());
        set.extend(names);
    }

    pub fn contains(&self, name: &str) -> bool {
        let names = self.0.read().unwrap_or_else(|p| p.into_inner());
        names.contains(name)
    }
}

/// Whether the function `name` is a worker that HTTP must not reach.
pub fn is_private_worker(config: &Config, enqueued: &EnqueuedNames, name: &str) -> bool {
    match config.workers.get(name) {
        Some(worker) => !worker.http,
        None => enqueued.contains(name),
    }
}

/// What a request for a worker is told.
pub fn worker_not_served(name: &str) -> String {
    format!(
        "{name} is a worker: enqueue it with ctx.queue.enqueue or flux queue enqueue; \
         set workers.{name}.http = true to also serve it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::WorkerConfig;

    #[test]
    fn a_worker_is_private_unless_its_config_serves_it() {
        let mut config = Config::default();
        let enqueued = EnqueuedNames::default();
        assert!(!is_private_worker(&config, &enqueued, "create_user"));
        enqueued.note("send_email");
        assert!(is_private_worker(&config, &enqueued, "send_email"));
        config.workers.insert(
            "send_email".into(),
            WorkerConfig {
                http: true,
                ..WorkerConfig::default()
            },
        );
        assert!(!is_private_worker(&config, &enqueued, "send_email"));
        config
            .workers
            .insert("resize".into(), WorkerConfig::default());
        assert!(is_private_worker(&config, &enqueued, "resize"));
    }
}
