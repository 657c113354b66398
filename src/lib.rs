//! flux: a local runtime for TypeScript backend functions that records every execution.

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod dev;
pub mod output;
pub mod project;
pub mod queue;
pub mod record;
pub mod render;
pub mod runtime;
pub mod server;
pub mod store;
pub mod timefmt;
pub mod token;
pub mod version;
pub mod why;
