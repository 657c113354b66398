//! Integration tests: the real `flux` binary against temporary projects and real servers.

mod bad_input;
mod cli;
mod dev;
mod durability;
mod errors;
mod front_door;
mod init;
mod isolation;
mod queue;
mod reload;
mod sandbox_sql;
mod store_ops;
mod support;
mod tail;
mod terminal;
mod trace;
mod two_projects;
